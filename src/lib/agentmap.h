/*
 * What the mappings of agents' own records share (hooks.c for Claude Code
 * and Codex notify, codex.c for Codex rollouts): the event list, derived
 * and fresh event ids, header strings cut to the log's limits, and the
 * last step of every event — bound its detail, check it as the log will,
 * append it.
 */
#ifndef ATR_AGENTMAP_H
#define ATR_AGENTMAP_H

#include <stddef.h>

#include <jansson.h>

#include <agentrail/agents.h>

struct atr_agent_events {
	char **text;
	size_t *len;
	size_t n, cap;
};

/* An empty list; ATR_ENOMEM. */
int atr__agents_new(atr_agent_events **out);

/*
 * Finish event 'ev' (taken, whatever happens) and append its text to 'l':
 * NUL characters in detail strings become U+FFFD, values nested too deep
 * for the log become their JSON text, and a detail that makes the event too
 * large has its long strings cut (detail.truncated: true) or, as a last
 * resort, is replaced by {truncated, detail_bytes}. ATR_EINVALID when the
 * event is still one the log would refuse (a mapping bug: the message
 * names the field); ATR_ENOMEM.
 */
int atr__agents_push(atr_agent_events *l, json_t *ev);

/*
 * A version 8 UUID made of SHA-256 over 'domain' and the 'n' strings of
 * 'parts' (each followed by a NUL; a NULL part counts as ""), so the same
 * source always gets the same event id.
 */
void atr__agents_uuid(char out[37], const char *domain, const char *const *parts, size_t n);

/* A fresh UUIDv7; ATR_EBACKEND when there is no randomness. */
int atr__agents_uuid7(char out[37]);

/*
 * Set member 'key' of 'obj' to the string 's' cut to at most 'max' bytes
 * at a UTF-8 character boundary; nothing when 's' is NULL or empty. -1 when
 * out of memory.
 */
int atr__agents_set_str(json_t *obj, const char *key, const char *s, size_t max);

/* Set member 'key' of 'obj' to 'v' (taken); -1 when out of memory or 'v' is NULL. */
int atr__agents_set(json_t *obj, const char *key, json_t *v);

/* The string member 'key' of 'obj', or NULL when absent or not a string. */
const char *atr__agents_str(json_t *obj, const char *key);

/* 's' cut to at most 'max' bytes at a UTF-8 boundary: the byte count to keep. */
size_t atr__agents_utf8_cut(const char *s, size_t len, size_t max);

#endif

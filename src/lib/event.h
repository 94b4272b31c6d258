/*
 * Events in, records out: parse and validate one event (DESIGN.md §2), then
 * build its canonical record bytes once the log has given it a seq.
 */
#ifndef ATR_EVENT_H
#define ATR_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <agentrail/redact.h>

/* Limits on what one event may be. */
#define ATR_MAX_EVENT_INPUT (16u << 20) /* raw JSON text accepted for parsing at all */
#define ATR_MAX_EVENT_BYTES (1u << 20)  /* canonical record + detail */
#define ATR_MAX_DEPTH       32          /* nesting depth of any value */
#define ATR_MAX_ID_LEN      256         /* ids, actor, type, model, hashes */
#define ATR_MAX_TARGET_LEN  4096
#define ATR_MAX_TEXT_LEN    16384 /* reason, comment, other free text in the header */

/*
 * A validated event, ready to be sequenced. Everything lives in one
 * allocation ('mem'); the string pointers point into it.
 */
struct atr__event {
	uint8_t id[16];           /* the event_id as bytes */
	char id_text[37];         /* and as canonical lower-case text */
	int id_given;             /* 1 if the input carried event_id */
	uint8_t content_hash[32]; /* SHA-256 of the canonical input event: the idempotency check */
	/*
	 * The canonical record is head + ',"seq":' + <seq> + tail, where head
	 * starts with '{' and holds every member sorting before "seq", and tail
	 * starts with ',' or '}'.
	 */
	const char *head;
	size_t head_len;
	const char *tail;
	size_t tail_len;
	const char *detail; /* canonical detail JSON ("{}" when the input had none) */
	size_t detail_len;
	uint8_t salt[32];
	/* Index columns (NULL when absent). */
	const char *type, *level, *actor, *trace_id, *session_id, *run_id, *job_id, *target;
	int64_t ts_us;
	char *mem;
};

/*
 * Parse and validate the JSON text 'json' (not necessarily NUL-terminated).
 * 'received_us' is the receive time (also the default ts). On failure the
 * thread's message names the field and what is wrong and 'ev' holds nothing
 * to release. Returns 0, ATR_EINVALID, ATR_ETOOBIG or ATR_ENOMEM.
 */
int atr__event_prepare(struct atr__event *ev, const char *json, size_t len, int64_t received_us);

/*
 * The same after masking the secrets 'r' finds in 'json' (NULL or an idle
 * redactor: none), so the record, the detail, the idempotency hash and any
 * error message see only the masked text; the record then carries
 * "redactions":N when N > 0. Text the redactor cannot read is refused.
 */
int atr__event_prepare_redacted(struct atr__event *ev, const atr_redactor *r, const char *json,
                                size_t len, int64_t received_us);

/* Bytes needed for the record of 'ev' with any seq. */
size_t atr__event_record_cap(const struct atr__event *ev);

/*
 * Write the canonical record with 'seq' into 'buf' (at least record_cap
 * bytes); returns its length.
 */
size_t atr__event_record(const struct atr__event *ev, uint64_t seq, char *buf);

void atr__event_release(struct atr__event *ev);

/* The level of a known type ("pipeline", "agent", "decision"), or NULL for unknown/custom. */
const char *atr__type_level(const char *type);

/*
 * Fill 'out' with 'n' cryptographically random bytes drawn from a per-thread
 * pool that is refilled from atr__random() (and discarded in a forked
 * child). For the small per-event draws: event ids and detail salts.
 */
int atr__random_pool(void *out, size_t n);

/* Generate a UUIDv7 (RFC 9562) for 'now_us'; ids from one process strictly increase. */
int atr__uuid7(uint8_t out[16], int64_t now_us);
void atr__uuid_format(const uint8_t id[16], char out[37]);

#endif

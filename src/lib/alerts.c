/*
 * The alert engine (include/agentrail/alerts.h, docs/alerts.md): rules over
 * record headers fed in seq order, with state in small hash maps bounded in
 * entries and expired by event time, alert events built with an id derived
 * from the trigger (so evaluating a record twice appends nothing twice), and
 * the reads that list alerts and restart the engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/alerts.h>
#include <agentrail/query.h>
#include <agentrail/record.h>
#include <agentrail/report.h>

#include "event.h"
#include "internal.h"
#include "jscan.h"

#define WINDOW_US ((int64_t)ATR_ALERTS_WINDOW_S * 1000000)

/* Bounds of the state (documented in alerts.h and docs/alerts.md). */
#define MAX_JOBS           100000u
#define MAX_SESSIONS       100000u
#define MAX_AGENTS         10000u
#define MAX_AGENT_SESSIONS 1000u
#define MAX_TOKEN_SESSIONS 100000u /* token totals kept over all agents */
#define MAX_BURSTS         100000u
#define SWEEP_EVERY        4096u /* feeds between expiry sweeps */
#define LOOKBACK_EVENTS    256u  /* a session's events read back for its last hashes */
#define REASON_TEXT_MAX    300u  /* bytes of a quoted value in a reason */
#define STEP_DEFAULT       512u

/* ------------------------------------------------------------- maps */

/* A string-keyed hash map whose entries remember when they were last used. */
struct entry {
	struct entry *next;
	char *key;
	int64_t used_us;
	void *val;
};

struct map {
	struct entry **b;
	size_t nb, n, cap;
	void (*free_val)(void *);
	uint64_t (*last_seq)(const void *); /* NULL, or the last seq an entry took in */
	uint64_t evicted_to; /* with last_seq: past the last seq of every entry dropped */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void map_init(struct map *m, size_t cap, void (*free_val)(void *))
{
	memset(m, 0, sizeof(*m));
	m->cap = cap;
	m->free_val = free_val;
}

static void entry_free(struct map *m, struct entry *e)
{
	if (m->last_seq && e->val && m->last_seq(e->val) + 1 > m->evicted_to)
		m->evicted_to = m->last_seq(e->val) + 1;
	if (m->free_val)
		m->free_val(e->val);
	free(e->key);
	free(e);
}

static void map_release(struct map *m)
{
	for (size_t i = 0; i < m->nb; i++)
		for (struct entry *e = m->b[i], *nx; e; e = nx) {
			nx = e->next;
			entry_free(m, e);
		}
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}

static struct entry *map_get(const struct map *m, const char *key)
{
	if (!m->nb)
		return NULL;
	for (struct entry *e = m->b[hash_str(key) & (m->nb - 1)]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Drop entries last used before 'cut'. */
static void map_expire(struct map *m, int64_t cut)
{
	for (size_t i = 0; i < m->nb; i++)
		for (struct entry **p = &m->b[i]; *p;) {
			struct entry *e = *p;

			if (e->used_us < cut) {
				*p = e->next;
				entry_free(m, e);
				m->n--;
			} else {
				p = &e->next;
			}
		}
}

/* Full: drop the least recently used half (or, out of memory, everything). */
static void map_shrink(struct map *m)
{
	int64_t *t = malloc(m->n * sizeof(*t));
	size_t k = 0;

	if (!t) {
		map_release(m);
		m->evicted_to = UINT64_MAX; /* what was dropped is not known */
		return;
	}
	for (size_t i = 0; i < m->nb; i++)
		for (struct entry *e = m->b[i]; e; e = e->next)
			t[k++] = e->used_us;
	qsort(t, k, sizeof(*t), cmp_i64);
	map_expire(m, t[k / 2] + 1);
	free(t);
}

static int map_grow(struct map *m)
{
	size_t nb = m->nb ? m->nb * 2 : 64;
	struct entry **b = calloc(nb, sizeof(*b));

	if (!b)
		return -1;
	for (size_t i = 0; i < m->nb; i++)
		for (struct entry *e = m->b[i], *nx; e; e = nx) {
			size_t h = hash_str(e->key) & (nb - 1);

			nx = e->next;
			e->next = b[h];
			b[h] = e;
		}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

/* The entry of 'key', made (with 'val' from 'make') when absent; NULL out of memory. */
static struct entry *map_put(struct map *m, const char *key, int64_t now,
                             void *(*make)(const void *), const void *ctx)
{
	struct entry *e = map_get(m, key);
	size_t h;

	if (e) {
		if (now > e->used_us)
			e->used_us = now;
		return e;
	}
	if (m->n >= m->cap)
		map_shrink(m);
	if (m->n + 1 > m->nb * 2 && map_grow(m) != 0)
		return NULL;
	if (!(e = calloc(1, sizeof(*e))) || !(e->key = strdup(key)) || !(e->val = make(ctx))) {
		if (e)
			free(e->key);
		free(e);
		return NULL;
	}
	e->used_us = now;
	h = hash_str(key) & (m->nb - 1);
	e->next = m->b[h];
	m->b[h] = e;
	m->n++;
	return e;
}

/* ------------------------------------------------------------- state */

struct deny {
	uint64_t seq;
	char event_id[37];
	char rule[257];
	int pending; /* no command of the job has run since this DENY */
};

struct hashes {
	char *rules, *prompt;
	uint64_t rules_seq, prompt_seq;
};

/*
 * An agent's sessions with their token totals, in one array (the median
 * scans it on every llm_call) indexed by an open-addressing table.
 */
struct tok {
	int64_t total;
	int64_t used_us; /* the session's last usage */
	uint64_t hash;
	char *key;
	int fired;
};

struct agent {
	struct tok *s;
	size_t n, cap;
	uint32_t *ix; /* slot -> index into 's' + 1; 0: empty */
	size_t nix;   /* a power of two, at least twice 'cap' */
};

struct burst {
	unsigned head, n;
	int64_t *ts;   /* a ring of the last N failures' times */
	uint64_t *seq; /* and their seqs */
};

struct atr_alerts {
	atr_alert_rules rules;
	char **globs; /* the defaults, then the extra ones */
	size_t nglobs;
	atr_log *log;
	struct map denies, hashes, agents, bursts;
	size_t ntok; /* token sessions over all agents (at least: recounted when full) */
	int64_t now_us;
	uint64_t feeds;
	/*
	 * Every record from 'known_from' to 'expect' (the seq after the last
	 * one fed) went through the engine: a session's hashes in there are in
	 * the state unless dropped (hashes.evicted_to), so the look back for a
	 * session seen first only reads the log before that.
	 */
	uint64_t known_from, expect;
	char *scratch; /* the strings of the record being fed */
	size_t scratch_cap;
	json_t *out; /* alerts of atr_alerts_step's batch, waiting for the read to end */
};

static void *make_deny(const void *ctx)
{
	return calloc(1, sizeof(struct deny));
}

static void *make_hashes(const void *ctx)
{
	return calloc(1, sizeof(struct hashes));
}

static uint64_t hashes_last_seq(const void *p)
{
	const struct hashes *h = p;

	return h->rules_seq > h->prompt_seq ? h->rules_seq : h->prompt_seq;
}

static void free_hashes(void *p)
{
	struct hashes *h = p;

	if (h) {
		free(h->rules);
		free(h->prompt);
		free(h);
	}
}

static void *make_agent(const void *ctx)
{
	return calloc(1, sizeof(struct agent));
}

static void free_agent(void *p)
{
	struct agent *a = p;

	if (a) {
		for (size_t i = 0; i < a->n; i++)
			free(a->s[i].key);
		free(a->s);
		free(a->ix);
		free(a);
	}
}

/* Index the sessions of 'ag' in a table of 'nix' slots; -1 out of memory. */
static int agent_index(struct agent *ag, size_t nix)
{
	uint32_t *ix = calloc(nix, sizeof(*ix));

	if (!ix)
		return -1;
	for (size_t i = 0; i < ag->n; i++) {
		size_t k = ag->s[i].hash & (nix - 1);

		while (ix[k])
			k = (k + 1) & (nix - 1);
		ix[k] = (uint32_t)(i + 1);
	}
	free(ag->ix);
	ag->ix = ix;
	ag->nix = nix;
	return 0;
}

/* Drop the sessions last used before 'cut'; how many went. */
static size_t agent_expire(struct agent *ag, int64_t cut)
{
	size_t k = 0, gone;

	for (size_t i = 0; i < ag->n; i++) {
		if (ag->s[i].used_us < cut)
			free(ag->s[i].key);
		else
			ag->s[k++] = ag->s[i];
	}
	gone = ag->n - k;
	ag->n = k;
	/* A smaller table of the same size never fails: only a new one is allocated. */
	if (gone && agent_index(ag, ag->nix) != 0) {
		for (size_t i = 0; i < ag->n; i++)
			free(ag->s[i].key);
		ag->n = 0;
		memset(ag->ix, 0, ag->nix * sizeof(*ag->ix));
	}
	return gone;
}

/* The last-used time below which half of 'n' times are; 'INT64_MAX' out of memory. */
static int64_t lru_cut(int64_t *t, size_t n)
{
	if (!t)
		return INT64_MAX;
	qsort(t, n, sizeof(*t), cmp_i64);
	return n ? t[n / 2] + 1 : INT64_MIN;
}

/* The session 'key' of 'ag', made when absent; NULL out of memory. '*made' says which. */
static struct tok *agent_session(struct agent *ag, const char *key, int64_t now, int *made)
{
	uint64_t h = hash_str(key);
	struct tok *t;
	size_t k;

	*made = 0;
	if (ag->nix)
		for (k = h & (ag->nix - 1); ag->ix[k]; k = (k + 1) & (ag->nix - 1)) {
			t = &ag->s[ag->ix[k] - 1];
			if (t->hash == h && !strcmp(t->key, key)) {
				if (now > t->used_us)
					t->used_us = now;
				return t;
			}
		}
	if (ag->n >= MAX_AGENT_SESSIONS) {
		/* Full: the least recently used half goes. */
		int64_t *u = malloc(ag->n * sizeof(*u));

		for (size_t i = 0; u && i < ag->n; i++)
			u[i] = ag->s[i].used_us;
		agent_expire(ag, lru_cut(u, ag->n));
		free(u);
	}
	if (ag->n == ag->cap) {
		size_t cap = ag->cap ? ag->cap * 2 : 8;
		struct tok *s = realloc(ag->s, cap * sizeof(*s));

		if (!s)
			return NULL;
		ag->s = s;
		ag->cap = cap;
	}
	if (ag->nix < 2 * ag->cap && agent_index(ag, 4 * ag->cap) != 0)
		return NULL;
	t = &ag->s[ag->n];
	memset(t, 0, sizeof(*t));
	if (!(t->key = strdup(key)))
		return NULL;
	t->hash = h;
	t->used_us = now;
	for (k = h & (ag->nix - 1); ag->ix[k]; k = (k + 1) & (ag->nix - 1))
		;
	ag->ix[k] = (uint32_t)(++ag->n);
	*made = 1;
	return t;
}

/* 'ctx' points at the engine's N, the ring's size. */
static void *make_burst(const void *ctx)
{
	unsigned n = *(const unsigned *)ctx;
	struct burst *b = calloc(1, sizeof(*b));

	if (b && (!(b->ts = calloc(n, sizeof(*b->ts))) || !(b->seq = calloc(n, sizeof(*b->seq))))) {
		free(b->ts);
		free(b);
		b = NULL;
	}
	return b;
}

static void free_burst(void *p)
{
	struct burst *b = p;

	if (b) {
		free(b->ts);
		free(b->seq);
		free(b);
	}
}

/* ------------------------------------------------------------- engine */

static const char *const default_globs[] = {".env",         "id_rsa*", "*.pem",
                                            "credentials*", ".aws/",   ".ssh/"};
#define NDEFAULT (sizeof(default_globs) / sizeof(default_globs[0]))

int atr_alerts_new(atr_alerts **out, const atr_alert_rules *rules)
{
	atr_alert_rules r = {0};
	atr_alerts *a;

	*out = NULL;
	if (rules)
		r = *rules;
	if (!r.token_spike_k)
		r.token_spike_k = ATR_ALERTS_TOKEN_SPIKE_K;
	if (!r.token_min_sessions)
		r.token_min_sessions = ATR_ALERTS_TOKEN_MIN_HIST;
	if (!r.fail_burst_n)
		r.fail_burst_n = ATR_ALERTS_FAIL_BURST_N;
	if (!r.fail_burst_seconds)
		r.fail_burst_seconds = ATR_ALERTS_FAIL_BURST_S;
	if (r.fail_burst_n > ATR_ALERTS_MAX_FAIL_BURST_N)
		return atr__err(ATR_EINVALID, "a failure burst is 1 to %u failed commands, not %u",
		                ATR_ALERTS_MAX_FAIL_BURST_N, r.fail_burst_n);
	if (r.fail_burst_seconds > ATR_ALERTS_WINDOW_S)
		return atr__err(ATR_EINVALID, "a failure burst's window is 1 to %u seconds, not %u",
		                (unsigned)ATR_ALERTS_WINDOW_S, r.fail_burst_seconds);
	for (size_t i = 0; i < r.nsensitive; i++)
		if (!r.sensitive[i] || !*r.sensitive[i] || strlen(r.sensitive[i]) > 255)
			return atr__err(ATR_EINVALID,
			                "a sensitive-path glob is 1 to 255 bytes, not '%.64s'",
			                r.sensitive[i] ? r.sensitive[i] : "");
	if (!(a = calloc(1, sizeof(*a))) ||
	    !(a->globs = calloc(NDEFAULT + r.nsensitive, sizeof(*a->globs)))) {
		free(a);
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < NDEFAULT + r.nsensitive; i++) {
		const char *g = i < NDEFAULT ? default_globs[i] : r.sensitive[i - NDEFAULT];

		if (!(a->globs[a->nglobs++] = strdup(g))) {
			atr_alerts_free(a);
			return atr__err(ATR_ENOMEM, "out of memory");
		}
	}
	r.sensitive = NULL;
	r.nsensitive = 0;
	a->rules = r;
	map_init(&a->denies, MAX_JOBS, free);
	map_init(&a->hashes, MAX_SESSIONS, free_hashes);
	a->hashes.last_seq = hashes_last_seq;
	map_init(&a->agents, MAX_AGENTS, free_agent);
	map_init(&a->bursts, MAX_BURSTS, free_burst);
	*out = a;
	return 0;
}

void atr_alerts_free(atr_alerts *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nglobs; i++)
		free(a->globs[i]);
	free(a->globs);
	map_release(&a->denies);
	map_release(&a->hashes);
	map_release(&a->agents);
	map_release(&a->bursts);
	free(a->scratch);
	json_decref(a->out);
	free(a);
}

void atr_alerts_set_log(atr_alerts *a, atr_log *log)
{
	a->log = log;
}

/* Copy 's' into 'out', cut at a UTF-8 boundary with "…" when longer than the room. */
static void clip(char *out, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n < size) {
		memcpy(out, s, n + 1);
		return;
	}
	n = size - 4; /* room for "…" (3 bytes) and the NUL */
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	memcpy(out, s, n);
	memcpy(out + n, "\xe2\x80\xa6", 4);
}

/*
 * The fields the rules look at, read from the record's canonical bytes by
 * the allocation-free scanner (no JSON tree for the records that fire
 * nothing). A string is NULL when absent or not a string, as
 * atr_record_str() answers.
 */
struct hdr {
	const atr_record *rec;
	uint64_t seq;
	const char *type, *actor, *agent_id, *ts, *session, *job, *target, *rules_hash,
	    *prompt_hash, *decision;
	int has_exit;
	int64_t exit_code, in, out; /* exit_code when has_exit; usage's tokens, 0 when absent */
};

/* A JSON integer (as jansson reads one: no fraction, no exponent); -1 otherwise. */
static int scan_int(const char *v, size_t n, int64_t *out)
{
	size_t i = v && n && v[0] == '-';
	uint64_t x = 0, lim = i ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

	if (!v || i >= n)
		return -1;
	for (; i < n; i++) {
		unsigned d = (unsigned)(v[i] - '0');

		if (d > 9 || x > (lim - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = v[0] == '-' ? (int64_t)(0 - x) : (int64_t)x;
	return 0;
}

static int hex4(const char *s, unsigned *out)
{
	unsigned x = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];

		x <<= 4;
		if (c >= '0' && c <= '9')
			x |= (unsigned)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			x |= (unsigned)((c | 0x20) - 'a' + 10);
		else
			return -1;
	}
	*out = x;
	return 0;
}

/*
 * Decode the JSON string body [s, e) into 'd' (never longer than the body)
 * and NUL-terminate it; -1 for what jansson would not load (a bad escape,
 * \u0000), which then decides.
 */
static int unescape(const char *s, const char *e, char *d)
{
	while (s < e) {
		unsigned u, lo;

		if (*s != '\\') {
			*d++ = *s++;
			continue;
		}
		if (e - s < 2)
			return -1;
		switch (s[1]) {
		case '"':
		case '\\':
		case '/':
			*d++ = s[1];
			s += 2;
			continue;
		case 'b':
			*d++ = '\b';
			s += 2;
			continue;
		case 'f':
			*d++ = '\f';
			s += 2;
			continue;
		case 'n':
			*d++ = '\n';
			s += 2;
			continue;
		case 'r':
			*d++ = '\r';
			s += 2;
			continue;
		case 't':
			*d++ = '\t';
			s += 2;
			continue;
		case 'u':
			break;
		default:
			return -1;
		}
		if (e - s < 6 || hex4(s + 2, &u) != 0 || u == 0)
			return -1;
		s += 6;
		if (u >= 0xDC00 && u <= 0xDFFF)
			return -1;
		if (u >= 0xD800 && u <= 0xDBFF) {
			if (e - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &lo) != 0 ||
			    lo < 0xDC00 || lo > 0xDFFF)
				return -1;
			s += 6;
			u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
		}
		if (u < 0x80) {
			*d++ = (char)u;
		} else if (u < 0x800) {
			*d++ = (char)(0xC0 | (u >> 6));
			*d++ = (char)(0x80 | (u & 0x3F));
		} else if (u < 0x10000) {
			*d++ = (char)(0xE0 | (u >> 12));
			*d++ = (char)(0x80 | ((u >> 6) & 0x3F));
			*d++ = (char)(0x80 | (u & 0x3F));
		} else {
			*d++ = (char)(0xF0 | (u >> 18));
			*d++ = (char)(0x80 | ((u >> 12) & 0x3F));
			*d++ = (char)(0x80 | ((u >> 6) & 0x3F));
			*d++ = (char)(0x80 | (u & 0x3F));
		}
	}
	*d = '\0';
	return 0;
}

/*
 * The string value [v, v+n) (raw JSON) of field 'name' as a C string,
 * decoded into the scratch at '*pos'; what the decoder refuses is read
 * through the record's tree, as atr_record_str() answers it.
 */
static const char *scan_str(atr_alerts *a, size_t *pos, const struct hdr *h, const char *name,
                            const char *v, size_t n)
{
	char *d = a->scratch + *pos;

	if (n < 2 || v[0] != '"')
		return NULL;
	if (!memchr(v + 1, '\\', n - 2)) {
		memcpy(d, v + 1, n - 2);
		d[n - 2] = '\0';
	} else if (unescape(v + 1, v + n - 1, d) != 0) {
		return atr_record_str(h->rec, name);
	}
	*pos += strlen(d) + 1;
	return d;
}

/* The member 'key' of the object [v, v+n), or NULL. */
static const char *sub(const char *v, size_t n, const char *key, size_t *len)
{
	const char *m;

	if (!v || atr__json_member(v, n, key, &m, len) != 0)
		return NULL;
	return m;
}

/* Read the fields of 'rec' into 'h' (borrowed from 'rec' and the engine's scratch). */
static int scan(atr_alerts *a, const atr_record *rec, struct hdr *h)
{
	size_t len, pos = 0, n, pn = 0, un = 0, vl;
	const char *p = atr_record_bytes(rec, &len), *end = p + len, *policy = NULL, *usage = NULL,
	           *v;

	memset(h, 0, sizeof(*h));
	h->rec = rec;
	h->seq = atr_record_seq(rec);
	if (len + 1 > a->scratch_cap) {
		char *s = realloc(a->scratch, len + 1);

		if (!s)
			return atr__err(ATR_ENOMEM, "out of memory");
		a->scratch = s;
		a->scratch_cap = len + 1;
	}
	/* Canonical bytes: one compact object, keys without escapes. */
	if (len < 2 || *p != '{')
		goto slow;
	for (p++; p < end && *p != '}';) {
		const char *k = p + 1, *ke;

		if (*p != '"' || !(ke = memchr(k, '"', (size_t)(end - k))) || ke + 1 >= end ||
		    ke[1] != ':' || !(p = atr__json_skip(v = ke + 2, end)))
			goto slow;
		n = (size_t)(p - v);
		if (p < end && *p == ',')
			p++;
#define IS(name) ((size_t)(ke - k) == sizeof(name) - 1 && !memcmp(k, name, sizeof(name) - 1))
		if (IS("type"))
			h->type = scan_str(a, &pos, h, "type", v, n);
		else if (IS("actor"))
			h->actor = scan_str(a, &pos, h, "actor", v, n);
		else if (IS("agent_id"))
			h->agent_id = scan_str(a, &pos, h, "agent_id", v, n);
		else if (IS("ts"))
			h->ts = scan_str(a, &pos, h, "ts", v, n);
		else if (IS("session_id"))
			h->session = scan_str(a, &pos, h, "session_id", v, n);
		else if (IS("job_id"))
			h->job = scan_str(a, &pos, h, "job_id", v, n);
		else if (IS("target"))
			h->target = scan_str(a, &pos, h, "target", v, n);
		else if (IS("rules_hash"))
			h->rules_hash = scan_str(a, &pos, h, "rules_hash", v, n);
		else if (IS("system_prompt_hash"))
			h->prompt_hash = scan_str(a, &pos, h, "system_prompt_hash", v, n);
		else if (IS("exit_code"))
			h->has_exit = scan_int(v, n, &h->exit_code) == 0;
		else if (IS("policy") && *v == '{')
			policy = v, pn = n;
		else if (IS("usage") && *v == '{')
			usage = v, un = n;
#undef IS
	}
	if (p >= end)
		goto slow;
	if ((v = sub(policy, pn, "decision", &vl)))
		h->decision = scan_str(a, &pos, h, "policy.decision", v, vl);
	if ((v = sub(usage, un, "input_tokens", &vl)) && scan_int(v, vl, &h->in) != 0)
		h->in = 0;
	if ((v = sub(usage, un, "output_tokens", &vl)) && scan_int(v, vl, &h->out) != 0)
		h->out = 0;
	return 0;
slow:
	/* Not the canonical form: read it through the tree like any record. */
	memset(h, 0, sizeof(*h));
	h->rec = rec;
	h->seq = atr_record_seq(rec);
	h->type = atr_record_str(rec, "type");
	h->actor = atr_record_str(rec, "actor");
	h->agent_id = atr_record_str(rec, "agent_id");
	h->ts = atr_record_str(rec, "ts");
	h->session = atr_record_str(rec, "session_id");
	h->job = atr_record_str(rec, "job_id");
	h->target = atr_record_str(rec, "target");
	h->rules_hash = atr_record_str(rec, "rules_hash");
	h->prompt_hash = atr_record_str(rec, "system_prompt_hash");
	h->decision = atr_record_str(rec, "policy.decision");
	h->has_exit = atr_record_int(rec, "exit_code", &h->exit_code) == 0;
	atr_record_int(rec, "usage.input_tokens", &h->in);
	atr_record_int(rec, "usage.output_tokens", &h->out);
	return 0;
}

/* What acted: the agent_id, else the actor. */
static const char *who(const struct hdr *h)
{
	return h->agent_id ? h->agent_id : h->actor;
}

/* The alert's event_id: a UUID (version 8) from the trigger's id and the rule. */
static void alert_id(const char *trigger_id, const char *rule, char out[37])
{
	uint8_t h[32];

	/* The id is 36 bytes: ':' cannot be part of it, so the two never run together. */
	atr__sha256(h, "agentrail-alert:", 16, trigger_id, strlen(trigger_id), rule, strlen(rule));
	h[6] = (uint8_t)((h[6] & 0x0F) | 0x80);
	h[8] = (uint8_t)((h[8] & 0x3F) | 0x80);
	atr__uuid_format(h, out);
}

static int set_str(json_t *o, const char *k, const char *v)
{
	return v ? json_object_set_new(o, k, json_string(v)) : 0;
}

/*
 * Build and hand over one alert fired by 'rec'. 'facts' (stolen, may be
 * NULL) becomes the detail, with the rule, severity and trigger added.
 */
static int fire(atr_alerts *a, const atr_record *rec, unsigned flags, const char *rule,
                const char *severity, const char *reason, json_t *facts, atr_alert_fn fn, void *ctx)
{
	const char *trig = atr_record_str(rec, "event_id");
	json_t *ev = NULL, *d = facts ? facts : json_object();
	char id[37], *text = NULL;
	uint64_t seq = atr_record_seq(rec);
	atr_alert al;
	int rc;

	if ((flags & ATR_ALERTS_WARMUP) || !trig) {
		json_decref(d);
		return 0;
	}
	alert_id(trig, rule, id);
	if (!d || set_str(d, "rule", rule) || set_str(d, "severity", severity) ||
	    json_object_set_new(d, "trigger_seq", json_integer((json_int_t)seq)) ||
	    set_str(d, "trigger_event_id", trig) ||
	    set_str(d, "trigger_type", atr_record_str(rec, "type")) ||
	    set_str(d, "trigger_target", atr_record_str(rec, "target")) ||
	    !(ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "alert", "actor",
	                     ATR_ALERTS_ACTOR, "event_id", id, "reason", reason, "target", rule,
	                     "parent_event_id", trig, "ts", atr_record_str(rec, "ts"))) ||
	    set_str(ev, "job_id", atr_record_str(rec, "job_id")) ||
	    set_str(ev, "session_id", atr_record_str(rec, "session_id")) ||
	    set_str(ev, "run_id", atr_record_str(rec, "run_id")) ||
	    set_str(ev, "trace_id", atr_record_str(rec, "trace_id")) ||
	    json_object_set(ev, "detail", d) ||
	    !(text = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS))) {
		json_decref(d);
		json_decref(ev);
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	json_decref(d);
	json_decref(ev);
	al = (atr_alert){rule, severity, seq, id, text, strlen(text)};
	rc = fn ? fn(ctx, &al) : 0;
	free(text);
	return rc;
}

/* ----------------------------------------------------------- the rules */

static int rule_sensitive(atr_alerts *a, const struct hdr *h, unsigned flags, atr_alert_fn fn,
                          void *ctx)
{
	const char *path = h->target, *type = h->type, *verb, *glob = NULL;
	char p[REASON_TEXT_MAX], reason[REASON_TEXT_MAX * 2 + 600];

	if (!path)
		return 0;
	if (!strcmp(type, "file_read"))
		verb = "read";
	else if (!strcmp(type, "file_write"))
		verb = "wrote";
	else if (!strcmp(type, "file_delete"))
		verb = "deleted";
	else
		return 0;
	for (size_t i = 0; i < a->nglobs && !glob; i++)
		if (atr_report_sensitive_match(path, (const char *const *)&a->globs[i], 1))
			glob = a->globs[i];
	if (!glob)
		return 0;
	clip(p, sizeof(p), path);
	snprintf(reason, sizeof(reason), "'%.256s' %s a sensitive path '%s' (matches '%s')",
	         who(h) ? who(h) : "?", verb, p, glob);
	return fire(a, h->rec, flags, "sensitive_path", *verb == 'r' ? "medium" : "high", reason,
	            json_pack("{s:s, s:s, s:s}", "path", path, "glob", glob, "access", type + 5),
	            fn, ctx);
}

static int rule_deny(atr_alerts *a, const struct hdr *h, int64_t ts, unsigned flags,
                     atr_alert_fn fn, void *ctx)
{
	const atr_record *rec = h->rec;
	const char *job = h->job;
	const char *rule = atr_record_str(rec, "policy.rule_id");
	const char *why = atr_record_str(rec, "policy.reason");
	const char *id = atr_record_str(rec, "event_id");
	char w[REASON_TEXT_MAX], reason[REASON_TEXT_MAX + 900];
	json_t *facts;

	if (!why)
		why = atr_record_str(rec, "reason");
	clip(w, sizeof(w), why ? why : "no reason given");
	snprintf(reason, sizeof(reason), "policy rule '%.256s' denied an action%s%.256s%s: %s",
	         rule ? rule : "?", job ? " in job '" : "", job ? job : "", job ? "'" : "", w);
	if (job && id) {
		struct entry *e = map_put(&a->denies, job, ts, make_deny, NULL);
		struct deny *d;

		if (!e)
			return atr__err(ATR_ENOMEM, "out of memory");
		d = e->val;
		d->seq = atr_record_seq(rec);
		snprintf(d->event_id, sizeof(d->event_id), "%s", id);
		snprintf(d->rule, sizeof(d->rule), "%s", rule ? rule : "");
		d->pending = 1;
	}
	facts = json_pack("{s:s}", "decision", "DENY");
	if (facts && (set_str(facts, "policy_rule_id", rule) ||
	              set_str(facts, "policy_snapshot", atr_record_str(rec, "policy.snapshot")))) {
		json_decref(facts);
		facts = NULL;
	}
	if (!facts)
		return atr__err(ATR_ENOMEM, "out of memory");
	return fire(a, rec, flags, "deny", "medium", reason, facts, fn, ctx);
}

static int rule_after_deny(atr_alerts *a, const struct hdr *h, unsigned flags, atr_alert_fn fn,
                           void *ctx)
{
	const char *job = h->job, *cmd = h->target;
	struct entry *e = job ? map_get(&a->denies, job) : NULL;
	char c[REASON_TEXT_MAX], reason[REASON_TEXT_MAX + 900];
	struct deny *d;

	if (!e || !(d = e->val)->pending || d->seq >= h->seq)
		return 0;
	d->pending = 0;
	clip(c, sizeof(c), cmd ? cmd : "?");
	snprintf(reason, sizeof(reason),
	         "command '%s' ran in job '%.256s' after policy rule '%.256s' denied an action "
	         "there (seq %llu)",
	         c, job, d->rule[0] ? d->rule : "?", (unsigned long long)d->seq);
	return fire(a, h->rec, flags, "command_after_deny", "high", reason,
	            json_pack("{s:I, s:s, s:s}", "deny_seq", (json_int_t)d->seq, "deny_event_id",
	                      d->event_id, "deny_rule_id", d->rule),
	            fn, ctx);
}

/*
 * Whether 'total' is more than K times the median of the agent's other
 * sessions active within the window; '*med' and '*count' then say which.
 * One pass counts the others and those below total / K: while the lower
 * median is not below that, the median is not either and nothing fires
 * (nearly always); only then are the values sorted for the exact median.
 */
static int spike(const atr_alerts *a, const struct agent *ag, const struct tok *self, int64_t ts,
                 int64_t total, int64_t *med, size_t *count)
{
	int64_t k = a->rules.token_spike_k, c = total / k + (total % k != 0), *v;
	int64_t from = ts - WINDOW_US;
	size_t n = 0, below = 0, lower;

	*count = 0;
	for (size_t i = 0; i < ag->n; i++) {
		const struct tok *t = &ag->s[i];

		if (t != self && t->total > 0 && t->used_us >= from) {
			n++;
			below += t->total < c;
		}
	}
	*count = n;
	if (n < a->rules.token_min_sessions)
		return 0;
	lower = n % 2 ? n / 2 : n / 2 - 1;
	if (below <= lower)
		return 0;
	if (!(v = malloc(n * sizeof(*v))))
		return 0;
	n = 0;
	for (size_t i = 0; i < ag->n; i++) {
		const struct tok *t = &ag->s[i];

		if (t != self && t->total > 0 && t->used_us >= from)
			v[n++] = t->total;
	}
	qsort(v, n, sizeof(*v), cmp_i64);
	*med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	free(v);
	return *med > 0 && total > k * *med;
}

/* Over MAX_TOKEN_SESSIONS in all: the least recently used half of all sessions goes. */
static void token_shrink(atr_alerts *a)
{
	int64_t *u, cut;
	size_t k = 0;

	a->ntok = 0;
	for (size_t i = 0; i < a->agents.nb; i++)
		for (struct entry *e = a->agents.b[i]; e; e = e->next)
			a->ntok += ((struct agent *)e->val)->n;
	if (a->ntok <= MAX_TOKEN_SESSIONS)
		return;
	u = malloc(a->ntok * sizeof(*u));
	for (size_t i = 0; u && i < a->agents.nb; i++)
		for (struct entry *e = a->agents.b[i]; e; e = e->next)
			for (size_t j = 0; j < ((struct agent *)e->val)->n; j++)
				u[k++] = ((struct agent *)e->val)->s[j].used_us;
	cut = lru_cut(u, k);
	free(u);
	for (size_t i = 0; i < a->agents.nb; i++)
		for (struct entry *e = a->agents.b[i]; e; e = e->next)
			a->ntok -= agent_expire(e->val, cut);
}

static int rule_tokens(atr_alerts *a, const struct hdr *h, int64_t ts, unsigned flags,
                       atr_alert_fn fn, void *ctx)
{
	const char *session = h->session, *agent = who(h);
	int64_t med = 0;
	struct entry *ae;
	struct tok *t;
	size_t hist;
	int made;
	char reason[1200];

	if (!session || !agent || h->in + h->out <= 0)
		return 0;
	if (!(ae = map_put(&a->agents, agent, ts, make_agent, NULL)) ||
	    !(t = agent_session(ae->val, session, ts, &made)))
		return atr__err(ATR_ENOMEM, "out of memory");
	t->total += h->in + h->out;
	if (made && ++a->ntok > MAX_TOKEN_SESSIONS) {
		struct tok keep = *t;

		/* This session is the most recent: it stays (made again if all went). */
		token_shrink(a);
		if (!(t = agent_session(ae->val, session, keep.used_us, &made)))
			return atr__err(ATR_ENOMEM, "out of memory");
		if (made) {
			t->total = keep.total;
			a->ntok++;
		}
	}
	if (t->fired || !spike(a, ae->val, t, ts, t->total, &med, &hist))
		return 0;
	t->fired = 1;
	snprintf(reason, sizeof(reason),
	         "session '%.256s' of agent '%.256s' used %lld tokens, more than %u times the "
	         "agent's 7-day median of %lld tokens per session (%zu sessions)",
	         session, agent, (long long)t->total, a->rules.token_spike_k, (long long)med, hist);
	return fire(a, h->rec, flags, "token_spike", "medium", reason,
	            json_pack("{s:s, s:I, s:I, s:i, s:I}", "agent", agent, "session_tokens",
	                      (json_int_t)t->total, "median_tokens", (json_int_t)med, "k",
	                      (int)a->rules.token_spike_k, "sessions", (json_int_t)hist),
	            fn, ctx);
}

static int rule_failures(atr_alerts *a, const struct hdr *h, int64_t ts, unsigned flags,
                         atr_alert_fn fn, void *ctx)
{
	const char *session = h->session, *agent = who(h);
	unsigned n = a->rules.fail_burst_n, i;
	int64_t lo, hi, w = (int64_t)a->rules.fail_burst_seconds * 1000000;
	uint64_t first;
	struct entry *e;
	struct burst *b;
	char key[300], reason[900];

	if (!h->has_exit || h->exit_code == 0 || (!session && !agent))
		return 0;
	snprintf(key, sizeof(key), "%s:%.256s", session ? "s" : "a", session ? session : agent);
	if (!(e = map_put(&a->bursts, key, ts, make_burst, &n)))
		return atr__err(ATR_ENOMEM, "out of memory");
	b = e->val;
	i = (b->head + b->n) % n;
	if (b->n == n) {
		b->head = (b->head + 1) % n;
		b->n--;
	}
	b->ts[i] = ts;
	b->seq[i] = h->seq;
	b->n++;
	if (b->n < n)
		return 0;
	lo = hi = b->ts[b->head];
	first = b->seq[b->head];
	for (unsigned k = 0; k < n; k++) {
		int64_t t = b->ts[(b->head + k) % n];

		lo = t < lo ? t : lo;
		hi = t > hi ? t : hi;
	}
	if (hi - lo > w)
		return 0;
	b->n = 0; /* the next alert needs N more failures */
	snprintf(reason, sizeof(reason), "%u commands failed within %u seconds in %s '%.256s'", n,
	         a->rules.fail_burst_seconds, session ? "session" : "the work of agent",
	         session ? session : agent);
	return fire(a, h->rec, flags, "command_failure_burst", "medium", reason,
	            json_pack("{s:i, s:i, s:I, s:I}", "failures", (int)n, "window_seconds",
	                      (int)a->rules.fail_burst_seconds, "first_seq", (json_int_t)first,
	                      "span_ms", (json_int_t)((hi - lo) / 1000)),
	            fn, ctx);
}

/*
 * A session seen first: its latest hashes before seq 'to', read back from the
 * log (the session's last LOOKBACK_EVENTS records there). The engine saw
 * every record from 'to' on, so only those before can hold what it lacks.
 */
static int look_back(atr_alerts *a, const char *session, uint64_t to, struct hashes *h)
{
	atr_query q = {
	    .session_id = session, .seq_to = to, .descending = 1, .limit = LOOKBACK_EVENTS};
	const atr_record *r;
	atr_cursor *cur = NULL;
	int rc;

	if (!a->log || to == 0)
		return 0;
	if ((rc = atr_log_query(a->log, &q, &cur)) != 0)
		return rc;
	while ((!h->rules || !h->prompt) && (rc = atr_cursor_next(cur, &r)) == 1) {
		const char *rh = atr_record_str(r, "rules_hash");
		const char *ph = atr_record_str(r, "system_prompt_hash");
		const char *t = atr_record_str(r, "type");

		if (t && !strcmp(t, "alert"))
			continue;
		if (rh && !h->rules) {
			if (!(h->rules = strdup(rh)))
				rc = -1;
			h->rules_seq = atr_record_seq(r);
		}
		if (ph && !h->prompt) {
			if (!(h->prompt = strdup(ph)))
				rc = -1;
			h->prompt_seq = atr_record_seq(r);
		}
		if (rc == -1)
			break;
	}
	atr_cursor_free(cur);
	if (rc == -1)
		return atr__err(ATR_ENOMEM, "out of memory");
	return rc < 0 ? rc : 0;
}

static int one_hash(atr_alerts *a, const atr_record *rec, const char *session, const char *now,
                    char **last, uint64_t *last_seq, const char *field, const char *rule,
                    const char *severity, unsigned flags, atr_alert_fn fn, void *ctx)
{
	char reason[1200];
	char *prev;
	uint64_t prev_seq = *last_seq;
	int rc;

	if (!now)
		return 0;
	if (*last && !strcmp(*last, now)) {
		*last_seq = atr_record_seq(rec);
		return 0;
	}
	if (!(prev = *last)) {
		if (!(*last = strdup(now)))
			return atr__err(ATR_ENOMEM, "out of memory");
		*last_seq = atr_record_seq(rec);
		return 0;
	}
	if (!(*last = strdup(now))) {
		*last = prev;
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	*last_seq = atr_record_seq(rec);
	snprintf(reason, sizeof(reason),
	         "%s changed within session '%.256s' from '%.256s' (seq %llu) to '%.256s'", field,
	         session, prev, (unsigned long long)prev_seq, now);
	rc = fire(a, rec, flags, rule, severity, reason,
	          json_pack("{s:s, s:s, s:I}", "previous", prev, "current", now, "previous_seq",
	                    (json_int_t)prev_seq),
	          fn, ctx);
	free(prev);
	return rc;
}

static int rule_hashes(atr_alerts *a, const struct hdr *hd, int64_t ts, unsigned flags,
                       atr_alert_fn fn, void *ctx)
{
	const char *session = hd->session, *rh = hd->rules_hash, *ph = hd->prompt_hash;
	uint64_t to;
	struct entry *e;
	struct hashes *h;
	int fresh, rc;

	if (!session || (!rh && !ph))
		return 0;
	fresh = map_get(&a->hashes, session) == NULL;
	if (!(e = map_put(&a->hashes, session, ts, make_hashes, NULL)))
		return atr__err(ATR_ENOMEM, "out of memory");
	h = e->val;
	/* Before what the engine saw without a gap, or what it dropped since. */
	to = a->known_from > a->hashes.evicted_to ? a->known_from : a->hashes.evicted_to;
	if (fresh && (rc = look_back(a, session, to < hd->seq ? to : hd->seq, h)) != 0)
		return rc;
	if ((rc = one_hash(a, hd->rec, session, rh, &h->rules, &h->rules_seq, "rules_hash",
	                   "rules_changed", "medium", flags, fn, ctx)) != 0)
		return rc;
	return one_hash(a, hd->rec, session, ph, &h->prompt, &h->prompt_seq, "system_prompt_hash",
	                "system_prompt_changed", "high", flags, fn, ctx);
}

static void sweep(atr_alerts *a)
{
	int64_t cut = a->now_us - WINDOW_US;

	map_expire(&a->denies, cut);
	map_expire(&a->hashes, cut);
	map_expire(&a->agents, cut);
	a->ntok = 0;
	for (size_t i = 0; i < a->agents.nb; i++)
		for (struct entry *e = a->agents.b[i]; e; e = e->next) {
			agent_expire(e->val, cut);
			a->ntok += ((struct agent *)e->val)->n;
		}
	map_expire(&a->bursts, a->now_us - (int64_t)a->rules.fail_burst_seconds * 1000000);
}

int atr_alerts_feed(atr_alerts *a, const atr_record *rec, unsigned flags, atr_alert_fn fn,
                    void *ctx)
{
	struct hdr h;
	int64_t ts = 0;
	int rc;

	if ((rc = scan(a, rec, &h)) != 0)
		return rc;
	if (!(flags & ATR_ALERTS_WARMUP)) {
		/* A gap (or a start): what is before this record was not all seen. */
		if (h.seq != a->expect && h.seq > a->known_from)
			a->known_from = h.seq;
		a->expect = h.seq + 1;
	}
	if (!h.type || !strcmp(h.type, "alert") || (h.actor && !strcmp(h.actor, ATR_ALERTS_ACTOR)))
		return 0;
	if (h.ts)
		atr_time_parse(h.ts, &ts);
	if (ts > a->now_us)
		a->now_us = ts;
	if (++a->feeds % SWEEP_EVERY == 0)
		sweep(a);
	if (!strncmp(h.type, "file_", 5))
		rc = rule_sensitive(a, &h, flags, fn, ctx);
	if (rc == 0 && h.decision && !strcmp(h.decision, "DENY"))
		rc = rule_deny(a, &h, ts, flags, fn, ctx);
	if (rc == 0 && !strcmp(h.type, "command") &&
	    (rc = rule_after_deny(a, &h, flags, fn, ctx)) == 0)
		rc = rule_failures(a, &h, ts, flags, fn, ctx);
	if (rc == 0 && !strcmp(h.type, "llm_call"))
		rc = rule_tokens(a, &h, ts, flags, fn, ctx);
	if (rc == 0 && !(flags & ATR_ALERTS_WARMUP))
		rc = rule_hashes(a, &h, ts, flags, fn, ctx);
	return rc;
}

/* ------------------------------------------------------------- driving */

/* atr_alerts_step's collector: alerts wait in a->out until the batch's read is over. */
static int collect(void *ctx, const atr_alert *al)
{
	atr_alerts *a = ctx;
	json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s%}", "rule", al->rule, "severity",
	                      al->severity, "seq", (json_int_t)al->trigger_seq, "id", al->event_id,
	                      "json", al->json, al->len);

	if (!o || json_array_append_new(a->out, o) != 0)
		return atr__err(ATR_ENOMEM, "out of memory");
	return 0;
}

int atr_alerts_step(atr_alerts *a, atr_log *log, uint64_t from, uint64_t max, atr_alert_fn fn,
                    void *ctx, uint64_t *next)
{
	atr_query q = {.seq_from = from, .limit = max ? max : STEP_DEFAULT};
	const atr_record *rec;
	atr_cursor *cur = NULL;
	uint64_t after = from;
	size_t i;
	json_t *o;
	int rc;

	*next = from;
	if (!a->out && !(a->out = json_array()))
		return atr__err(ATR_ENOMEM, "out of memory");
	json_array_clear(a->out);
	if ((rc = atr_log_query(log, &q, &cur)) != 0)
		return rc;
	while ((rc = atr_cursor_next(cur, &rec)) == 1) {
		if ((rc = atr_alerts_feed(a, rec, 0, collect, a)) != 0)
			break;
		after = atr_record_seq(rec) + 1;
	}
	atr_cursor_free(cur);
	if (rc < 0)
		return rc;
	json_array_foreach(a->out, i, o)
	{
		const char *text = json_string_value(json_object_get(o, "json"));
		atr_alert al = {json_string_value(json_object_get(o, "rule")),
		                json_string_value(json_object_get(o, "severity")),
		                (uint64_t)json_integer_value(json_object_get(o, "seq")),
		                json_string_value(json_object_get(o, "id")),
		                text,
		                strlen(text)};

		if ((rc = fn ? fn(ctx, &al) : 0) != 0)
			break;
	}
	json_array_clear(a->out);
	/* A failed batch is read again: its alerts that did go in are duplicates then. */
	if (rc == 0)
		*next = after;
	return rc;
}

/* The seq of the trigger of the newest alert made by the engine; 0 and '*found' 0 when none. */
static int newest_trigger(atr_log *log, uint64_t *seq, int *found)
{
	atr_query q = {.type = "alert", .actor = ATR_ALERTS_ACTOR, .descending = 1, .limit = 16};
	const atr_record *rec;
	atr_cursor *cur = NULL;
	int rc;

	*found = 0;
	*seq = 0;
	if ((rc = atr_log_query(log, &q, &cur)) != 0)
		return rc;
	/* The trigger by parent_event_id: the header outlives an erased payload. */
	while (!*found && (rc = atr_cursor_next(cur, &rec)) == 1) {
		const char *parent = atr_record_str(rec, "parent_event_id");
		atr_record *t = NULL;

		if (parent && atr_log_get_by_id(log, parent, &t) == 0) {
			*seq = atr_record_seq(t);
			*found = 1;
		}
		atr_record_free(t);
	}
	atr_cursor_free(cur);
	return rc < 0 ? rc : 0;
}

int atr_alerts_resume_seq(atr_log *log, int64_t now_us, uint64_t *start)
{
	atr_query q = {.limit = 1};
	const atr_record *rec;
	atr_cursor *cur = NULL;
	uint64_t trig, size, first;
	int found, rc;

	*start = 0;
	if (!now_us)
		now_us = atr__now_us();
	if ((rc = atr_log_size(log, &size)) != 0 || (rc = newest_trigger(log, &trig, &found)) != 0)
		return rc;
	q.since_us = now_us - WINDOW_US;
	if ((rc = atr_log_query(log, &q, &cur)) != 0)
		return rc;
	rc = atr_cursor_next(cur, &rec);
	first = rc == 1 ? atr_record_seq(rec) : size;
	atr_cursor_free(cur);
	if (rc < 0)
		return rc;
	*start = found && trig + 1 > first ? trig + 1 : first;
	return 0;
}

int atr_alerts_warm(atr_alerts *a, atr_log *log, uint64_t start, int64_t now_us)
{
	static const char *const types[3] = {"llm_call", "decision", "command"};
	atr_cursor *cur[3] = {NULL, NULL, NULL};
	const atr_record *rec[3] = {NULL, NULL, NULL};
	int rc = 0;

	if (!start)
		return 0;
	if (!now_us)
		now_us = atr__now_us();
	for (int i = 0; i < 3 && rc == 0; i++) {
		atr_query q = {.type = types[i], .since_us = now_us - WINDOW_US, .seq_to = start};

		if ((rc = atr_log_query(log, &q, &cur[i])) == 0 &&
		    (rc = atr_cursor_next(cur[i], &rec[i])) == 0)
			rec[i] = NULL;
		rc = rc < 0 ? rc : 0;
	}
	/* The three lists come in seq order: merge them. */
	while (rc == 0) {
		int k = -1;

		for (int i = 0; i < 3; i++)
			if (rec[i] && (k < 0 || atr_record_seq(rec[i]) < atr_record_seq(rec[k])))
				k = i;
		if (k < 0)
			break;
		if ((rc = atr_alerts_feed(a, rec[k], ATR_ALERTS_WARMUP, NULL, NULL)) != 0)
			break;
		if ((rc = atr_cursor_next(cur[k], &rec[k])) == 0)
			rec[k] = NULL;
		rc = rc < 0 ? rc : 0;
	}
	for (int i = 0; i < 3; i++)
		atr_cursor_free(cur[i]);
	return rc;
}

/* ------------------------------------------------------------- listing */

static int item_of(const atr_record *rec, json_t **out)
{
	size_t dlen = 0;
	const char *dtext = atr_record_detail(rec, &dlen);
	json_t *d = dtext ? json_loadb(dtext, dlen, 0, NULL) : NULL, *o;
	const char *rule = json_string_value(json_object_get(d, "rule"));
	int bad;

	if (!rule)
		rule = atr_record_str(rec, "target");
	o = json_pack("{s:I, s:s?, s:s?, s:s?, s:O?, s:O?, s:s?, s:s?, s:O?, s:s?}", "seq",
	              (json_int_t)atr_record_seq(rec), "event_id", atr_record_str(rec, "event_id"),
	              "ts", atr_record_str(rec, "ts"), "rule", rule, "severity",
	              json_object_get(d, "severity"), "target",
	              json_object_get(d, "trigger_target"), "job_id", atr_record_str(rec, "job_id"),
	              "session_id", atr_record_str(rec, "session_id"), "trigger_seq",
	              json_object_get(d, "trigger_seq"), "reason", atr_record_str(rec, "reason"));
	json_decref(d);
	bad = !o;
	if (bad) {
		json_decref(o);
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	*out = o;
	return 0;
}

int atr_alerts_list(atr_log *log, const atr_alerts_filter *f, uint64_t from, uint64_t limit,
                    char **out, int *more, uint64_t *next)
{
	atr_alerts_filter none = {0};
	atr_query q = {.type = "alert", .descending = 1};
	const atr_record *rec;
	atr_cursor *cur = NULL;
	json_t *items = json_array(), *it = NULL;
	uint64_t got = 0;
	int rc;

	*out = NULL;
	*more = 0;
	*next = 0;
	if (!f)
		f = &none;
	if (!limit)
		limit = 100;
	if (!items)
		return atr__err(ATR_ENOMEM, "out of memory");
	q.session_id = f->session_id;
	q.job_id = f->job_id;
	q.target_prefix = f->rule;
	if (from != UINT64_MAX)
		q.seq_to = from + 1;
	if ((rc = atr_log_query(log, &q, &cur)) != 0)
		goto out;
	while ((rc = atr_cursor_next(cur, &rec)) == 1) {
		const char *t = atr_record_str(rec, "target");

		if (f->rule && (!t || strcmp(t, f->rule) != 0))
			continue;
		if (got == limit) {
			*more = 1;
			*next = atr_record_seq(rec);
			break;
		}
		if ((rc = item_of(rec, &it)) != 0)
			break;
		if (json_array_append_new(items, it) != 0) {
			rc = atr__err(ATR_ENOMEM, "out of memory");
			break;
		}
		got++;
	}
	if (rc >= 0 && !(*out = json_dumps(items, JSON_COMPACT)))
		rc = atr__err(ATR_ENOMEM, "out of memory");
	rc = rc < 0 ? rc : 0;
out:
	atr_cursor_free(cur);
	json_decref(items);
	return rc;
}

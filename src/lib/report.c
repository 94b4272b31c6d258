/*
 * Reports over one UTC day or ISO week, folded from the records in one pass
 * over the period (the store's batch time ranges bound the scan) plus the
 * approval requests and resolutions before its end. Records are read with an
 * allocation-free member walk over their canonical bytes, never parsed into
 * trees: a week of a million events must report in well under 5 s. The
 * figures become one JSON document, which the renderers read. docs/reports.md
 * defines each figure.
 */
#include <fnmatch.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/checkpoint.h>
#include <agentrail/query.h>
#include <agentrail/record.h>
#include <agentrail/report.h>

#include "internal.h"
#include "jscan.h"
#include "logpriv.h"
#include "reportpriv.h"

#define REPORT_VERSION 1
#define TOP_DEFAULT    20

/* ---------------------------------------------------------------- calendar */

int atr__weekday(int64_t days)
{
	/* 1970-01-01 was a Thursday (3, counting Monday as 0). */
	int64_t w = (days + 3) % 7;

	return (int)(w < 0 ? w + 7 : w);
}

void atr__iso_week(int64_t days, int64_t *iso_year, int *week)
{
	/* A week belongs to the year of its Thursday; week 1 holds the year's first Thursday. */
	int64_t thursday = days - atr__weekday(days) + 3, y;
	int m, d;

	atr__civil_from_days(thursday, &y, &m, &d);
	*iso_year = y;
	*week = (int)((thursday - atr__days_from_civil(y, 1, 1)) / 7 + 1);
}

int64_t atr__percentile(const int64_t *sorted, size_t n, unsigned p)
{
	size_t rank = ((size_t)p * n + 99) / 100;

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

void atr__duration_text(int64_t us, char *out, size_t cap)
{
	int64_t s = us < 0 ? 0 : us / 1000000;

	if (us > 0 && us < 1000000)
		snprintf(out, cap, "%.2fs", (double)us / 1e6);
	else if (s < 60)
		snprintf(out, cap, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, cap, "%lldm %02llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(out, cap, "%lldh %02lldm", (long long)(s / 3600),
		         (long long)(s / 60 % 60));
	else
		snprintf(out, cap, "%lldd %02lldh", (long long)(s / 86400),
		         (long long)(s / 3600 % 24));
}

const int64_t atr__latency_upper_us[ATR__LATENCY_BUCKETS - 1] = {
    INT64_C(60000000),   INT64_C(300000000),   INT64_C(900000000),
    INT64_C(3600000000), INT64_C(14400000000), INT64_C(86400000000),
};
const char *const atr__latency_label[ATR__LATENCY_BUCKETS] = {
    "< 1m", "1-5m", "5-15m", "15m-1h", "1-4h", "4-24h", ">= 24h",
};

static int two(const char *s)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* "YYYY-MM-DD" to days since the epoch, with a precise complaint. */
static int parse_date(const char *date, int64_t *days)
{
	int y = 0, m, d;

	if (strlen(date) != 10 || date[4] != '-' || date[7] != '-')
		return atr__err(ATR_EINVALID, "date '%.40s' is not YYYY-MM-DD", date);
	for (int i = 0; i < 4; i++) {
		if (date[i] < '0' || date[i] > '9')
			return atr__err(ATR_EINVALID, "date '%s' is not YYYY-MM-DD", date);
		y = y * 10 + (date[i] - '0');
	}
	if ((m = two(date + 5)) < 0 || (d = two(date + 8)) < 0)
		return atr__err(ATR_EINVALID, "date '%s' is not YYYY-MM-DD", date);
	if (y < 1970)
		return atr__err(ATR_EINVALID, "date '%s': the year must be 1970 or later", date);
	if (m < 1 || m > 12)
		return atr__err(ATR_EINVALID, "date '%s': month %02d is not 01 to 12", date, m);
	if (d < 1 || d > atr__days_in_month(y, m))
		return atr__err(ATR_EINVALID, "date '%s': %04d-%02d has no day %02d", date, y, m,
		                d);
	*days = atr__days_from_civil(y, m, d);
	return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int atr_report_period_bounds(atr_report_period p, const char *date, int64_t now_us,
                             int64_t *start_us, int64_t *end_us)
{
	int64_t days = 0;
	int rc;

	if (p != ATR_REPORT_DAY && p != ATR_REPORT_WEEK)
		return atr__err(ATR_EINVALID, "unknown report period %d", (int)p);
	if (date) {
		if ((rc = parse_date(date, &days)) != 0)
			return rc;
	} else {
		days = floor_div(now_us, ATR__US_PER_DAY) - (p == ATR_REPORT_DAY ? 1 : 7);
	}
	if (p == ATR_REPORT_WEEK)
		days -= atr__weekday(days);
	*start_us = days * ATR__US_PER_DAY;
	*end_us = *start_us + (p == ATR_REPORT_WEEK ? 7 : 1) * ATR__US_PER_DAY;
	return 0;
}

/* ---------------------------------------------------------------- sensitive paths */

static const char *const default_sensitive[] = {".env",         "id_rsa*", "*.pem",
                                                "credentials*", ".aws/",   ".ssh/"};

int atr_report_sensitive_match(const char *path, const char *const *globs, size_t n)
{
	const char *base = strrchr(path, '/');

	if (!globs) {
		globs = default_sensitive;
		n = sizeof(default_sensitive) / sizeof(default_sensitive[0]);
	}
	base = base ? base + 1 : path;
	for (size_t i = 0; i < n; i++) {
		const char *g = globs[i];
		size_t glen = strlen(g);

		if (glen == 0)
			continue;
		if (g[glen - 1] != '/') {
			if (fnmatch(g, base, 0) == 0)
				return 1;
			continue;
		}
		/* A directory glob: any component but the last, matched on its own. */
		char dir[256];

		if (glen > sizeof(dir))
			continue;
		memcpy(dir, g, glen - 1);
		dir[glen - 1] = '\0';
		for (const char *c = path; *c;) {
			const char *slash = strchr(c, '/');
			char comp[256];
			size_t clen;

			if (!slash)
				break; /* the last component is the file itself */
			clen = (size_t)(slash - c);
			if (clen < sizeof(comp)) {
				memcpy(comp, c, clen);
				comp[clen] = '\0';
				if (fnmatch(dir, comp, 0) == 0)
					return 1;
			}
			c = slash + 1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- record fields */

/* A string field: the text (decoded when it had escapes) and its length. */
struct span {
	const char *s;
	size_t n;
};

struct fields {
	struct span type, session, job, actor, agent, model, target, outcome;
	struct span rule, decision, approval_id, resolution;
	int64_t ts, exit_code, in_tok, out_tok, cost, redactions;
	unsigned has_exit : 1, has_cost : 1, has_ts : 1;
};

struct scratch {
	char *buf;
	size_t cap, len;
};

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/*
 * The next member of an object: 'p' is after the '{' or a member. Returns
 * 1 with key and value spans, 0 after the closing '}', -1 when malformed.
 */
static int next_member(const char **pp, const char *end, struct span *key, struct span *val)
{
	const char *p = skip_ws(*pp, end), *k, *v;

	if (p < end && *p == ',')
		p = skip_ws(p + 1, end);
	if (p < end && *p == '}') {
		*pp = p + 1;
		return 0;
	}
	if (p >= end || *p != '"')
		return -1;
	k = p;
	if (!(p = atr__json_skip(p, end)))
		return -1;
	key->s = k + 1;
	key->n = (size_t)(p - k - 2);
	p = skip_ws(p, end);
	if (p >= end || *p != ':')
		return -1;
	v = p = skip_ws(p + 1, end);
	if (!(p = atr__json_skip(p, end)))
		return -1;
	val->s = v;
	val->n = (size_t)(p - v);
	*pp = p;
	return 1;
}

static int key_is(const struct span *k, const char *name)
{
	size_t n = strlen(name);

	return k->n == n && memcmp(k->s, name, n) == 0;
}

static void put_utf8(char **o, uint32_t c)
{
	char *p = *o;

	if (c < 0x80) {
		*p++ = (char)c;
	} else if (c < 0x800) {
		*p++ = (char)(0xc0 | c >> 6);
		*p++ = (char)(0x80 | (c & 0x3f));
	} else if (c < 0x10000) {
		*p++ = (char)(0xe0 | c >> 12);
		*p++ = (char)(0x80 | (c >> 6 & 0x3f));
		*p++ = (char)(0x80 | (c & 0x3f));
	} else {
		*p++ = (char)(0xf0 | c >> 18);
		*p++ = (char)(0x80 | (c >> 12 & 0x3f));
		*p++ = (char)(0x80 | (c >> 6 & 0x3f));
		*p++ = (char)(0x80 | (c & 0x3f));
	}
	*o = p;
}

static uint32_t hex4(const char *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 4 | (uint32_t)atr__hexval(p[i]);
	return v;
}

/*
 * A JSON string value to its text: borrowed when it has no escape, else
 * decoded into 'sc' (which the record's bytes bound: decoding never grows).
 * A value that is not a string leaves 'out' empty.
 */
static void get_str(const struct span *v, struct scratch *sc, struct span *out)
{
	const char *p = v->s + 1, *end = v->s + v->n - 1;
	char *o;

	out->s = NULL;
	out->n = 0;
	if (v->n < 2 || v->s[0] != '"')
		return;
	if (!memchr(p, '\\', (size_t)(end - p))) {
		out->s = p;
		out->n = (size_t)(end - p);
		return;
	}
	if (sc->len + (size_t)(end - p) + 1 > sc->cap)
		return; /* cannot happen: the scratch holds the whole record */
	o = sc->buf + sc->len;
	out->s = o;
	while (p < end) {
		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		p++;
		switch (*p) {
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u': {
			uint32_t c = hex4(p + 1);

			p += 4;
			if (c >= 0xd800 && c < 0xdc00 && end - p >= 7 && p[1] == '\\' &&
			    p[2] == 'u') {
				uint32_t lo = hex4(p + 3);

				if (lo >= 0xdc00 && lo < 0xe000) {
					c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			put_utf8(&o, c);
			break;
		}
		default: /* '"', '\\', '/' */
			*o++ = *p;
		}
		p++;
	}
	out->n = (size_t)(o - out->s);
	*o++ = '\0';
	sc->len = (size_t)(o - sc->buf);
}

/* A JSON integer value; 0 when it is one. */
static int get_int(const struct span *v, int64_t *out)
{
	const char *p = v->s, *end = v->s + v->n;
	int neg = 0;
	uint64_t x = 0;

	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	if (p >= end)
		return -1;
	for (; p < end; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (d > 9 || x > (UINT64_C(1) << 62))
			return -1;
		x = x * 10 + d;
	}
	*out = neg ? -(int64_t)x : (int64_t)x;
	return 0;
}

/* "2026-04-01T14:10:32.123456Z", as the log stores every ts. */
static int get_ts(const struct span *v, int64_t *out)
{
	char text[40];

	if (v->n < 3 || v->n - 2 >= sizeof(text) || v->s[0] != '"')
		return -1;
	memcpy(text, v->s + 1, v->n - 2);
	text[v->n - 2] = '\0';
	return atr_time_parse(text, out) == 0 ? 0 : -1;
}

/* Walk a nested object's members for the fields we keep from it. */
static int walk_sub(const struct span *obj, int which, struct fields *f, struct scratch *sc)
{
	const char *p = obj->s + 1, *end = obj->s + obj->n;
	struct span k, v;
	int rc;

	if (obj->n < 2 || obj->s[0] != '{')
		return 0;
	while ((rc = next_member(&p, end, &k, &v)) > 0) {
		if (which == 'u') {
			if (key_is(&k, "input_tokens"))
				get_int(&v, &f->in_tok);
			else if (key_is(&k, "output_tokens"))
				get_int(&v, &f->out_tok);
			else if (key_is(&k, "cost_micro_usd"))
				f->has_cost = get_int(&v, &f->cost) == 0;
		} else if (which == 'p') {
			if (key_is(&k, "rule_id"))
				get_str(&v, sc, &f->rule);
			else if (key_is(&k, "decision"))
				get_str(&v, sc, &f->decision);
		} else {
			if (key_is(&k, "id"))
				get_str(&v, sc, &f->approval_id);
			else if (key_is(&k, "resolution"))
				get_str(&v, sc, &f->resolution);
		}
	}
	return rc;
}

/* Read the fields a report needs from a record's canonical bytes, in one pass. */
static int read_fields(const char *rec, size_t len, struct fields *f, struct scratch *sc)
{
	const char *p = rec, *end = rec + len;
	struct span k, v;
	int rc;

	memset(f, 0, sizeof(*f));
	sc->len = 0;
	if (sc->cap < len + 1) {
		char *b = realloc(sc->buf, len + 1);

		if (!b)
			return atr__err(ATR_ENOMEM, "out of memory");
		sc->buf = b;
		sc->cap = len + 1;
	}
	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return -1;
	p++;
	while ((rc = next_member(&p, end, &k, &v)) > 0) {
		/* Keys come sorted; dispatch on the first letter. */
		switch (k.s[0]) {
		case 'a':
			if (key_is(&k, "actor"))
				get_str(&v, sc, &f->actor);
			else if (key_is(&k, "agent_id"))
				get_str(&v, sc, &f->agent);
			else if (key_is(&k, "approval") && walk_sub(&v, 'a', f, sc) < 0)
				return -1;
			break;
		case 'e':
			if (key_is(&k, "exit_code"))
				f->has_exit = get_int(&v, &f->exit_code) == 0;
			break;
		case 'j':
			if (key_is(&k, "job_id"))
				get_str(&v, sc, &f->job);
			break;
		case 'm':
			if (key_is(&k, "model"))
				get_str(&v, sc, &f->model);
			break;
		case 'o':
			if (key_is(&k, "outcome"))
				get_str(&v, sc, &f->outcome);
			break;
		case 'p':
			if (key_is(&k, "policy") && walk_sub(&v, 'p', f, sc) < 0)
				return -1;
			break;
		case 'r':
			if (key_is(&k, "redactions"))
				get_int(&v, &f->redactions);
			break;
		case 's':
			if (key_is(&k, "session_id"))
				get_str(&v, sc, &f->session);
			break;
		case 't':
			if (key_is(&k, "type"))
				get_str(&v, sc, &f->type);
			else if (key_is(&k, "target"))
				get_str(&v, sc, &f->target);
			else if (key_is(&k, "ts"))
				f->has_ts = get_ts(&v, &f->ts) == 0;
			break;
		case 'u':
			if (key_is(&k, "usage") && walk_sub(&v, 'u', f, sc) < 0)
				return -1;
			break;
		default:
			break;
		}
	}
	return rc < 0 || !f->type.s || !f->has_ts ? -1 : 0;
}

static int span_is(const struct span *s, const char *lit)
{
	size_t n = strlen(lit);

	return s->s && s->n == n && memcmp(s->s, lit, n) == 0;
}

/* ---------------------------------------------------------------- tallies */

enum { NCOUNT = 8 };

/* One distinct key (a path, a model, a session id) and its counters. */
struct entry {
	char *key; /* NULL: the "none" entry of a table that has one */
	size_t klen;
	int64_t n[NCOUNT];
	int64_t *series; /* models: tokens per chart bucket */
};

/* A hash table of entries by key, open addressing; entry 0 is the "none" key. */
struct table {
	struct entry *e;
	size_t count, cap;
	uint32_t *slot; /* entry index + 1, 0 free */
	size_t nslots;
	size_t none; /* the "none" entry's index + 1, 0 while there is none */
};

static uint64_t hash_key(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

static void table_release(struct table *t)
{
	for (size_t i = 0; i < t->count; i++) {
		free(t->e[i].key);
		free(t->e[i].series);
	}
	free(t->e);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

static int table_grow(struct table *t)
{
	size_t ns = t->nslots ? t->nslots * 2 : 64;
	uint32_t *slot = calloc(ns, sizeof(*slot));

	if (!slot)
		return atr__err(ATR_ENOMEM, "out of memory");
	for (size_t i = 0; i < t->count; i++) {
		const char *k = t->e[i].key;
		size_t j;

		if (!k)
			continue;
		j = hash_key(k, t->e[i].klen) & (ns - 1);
		while (slot[j])
			j = (j + 1) & (ns - 1);
		slot[j] = (uint32_t)(i + 1);
	}
	free(t->slot);
	t->slot = slot;
	t->nslots = ns;
	return 0;
}

/* The entry of 'key', or NULL when the table has none. */
static const struct entry *table_find(const struct table *t, const struct span *s)
{
	if (!t->nslots)
		return NULL;
	for (size_t j = hash_key(s->s, s->n) & (t->nslots - 1); t->slot[j];
	     j = (j + 1) & (t->nslots - 1)) {
		const struct entry *e = &t->e[t->slot[j] - 1];

		if (e->key && e->klen == s->n && memcmp(e->key, s->s, s->n) == 0)
			return e;
	}
	return NULL;
}

/*
 * The entry of 'key' ('s' NULL: the table's "none" entry), added with zero
 * counters when new. NULL when out of memory (the message is set).
 */
static struct entry *table_get(struct table *t, const struct span *s)
{
	struct entry *e;
	size_t j = 0;

	if (s && s->s) {
		if ((t->count + 1) * 2 > t->nslots && table_grow(t) != 0)
			return NULL;
		j = hash_key(s->s, s->n) & (t->nslots - 1);
		for (; t->slot[j]; j = (j + 1) & (t->nslots - 1)) {
			e = &t->e[t->slot[j] - 1];
			if (e->key && e->klen == s->n && memcmp(e->key, s->s, s->n) == 0)
				return e;
		}
	} else if (t->none) {
		return &t->e[t->none - 1];
	}
	if (t->count == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 16;
		struct entry *ne = realloc(t->e, nc * sizeof(*ne));

		if (!ne) {
			atr__err(ATR_ENOMEM, "out of memory");
			return NULL;
		}
		t->e = ne;
		t->cap = nc;
	}
	e = &t->e[t->count];
	memset(e, 0, sizeof(*e));
	if (s && s->s) {
		if (!(e->key = malloc(s->n + 1))) {
			atr__err(ATR_ENOMEM, "out of memory");
			return NULL;
		}
		memcpy(e->key, s->s, s->n);
		e->key[s->n] = '\0';
		e->klen = s->n;
		t->slot[j] = (uint32_t)(t->count + 1);
	} else {
		t->none = t->count + 1;
	}
	t->count++;
	return e;
}

/* ---------------------------------------------------------------- the fold */

enum outcome { OUT_NONE, OUT_SUCCESS, OUT_PARTIAL, OUT_FAILURE, OUT_OTHER, OUT_COUNT };
static const char *const outcome_name[OUT_COUNT] = {"none", "success", "partial", "failure",
                                                    "other"};

/* Session entry counters. */
enum { S_START, S_END, S_END_OUTCOME, S_TASK_OUTCOME };
/* Job entry counters. */
enum { J_SUBMITTED, J_OUTCOME };
/* Token entry counters (models and agents). */
enum { T_CALLS, T_IN, T_OUT, T_COST_REC, T_COST_CALC, T_NREC, T_NCALC };
/* File entry counters. */
enum { F_READ, F_WRITE, F_DELETE };
/* Command entry counters. */
enum { C_RUNS, C_FAIL };
/* Rule entry counters. */
enum { R_TOTAL, R_ALLOW, R_DENY, R_APPROVAL, R_OTHER };
/* Approval entry counters. */
enum { A_HAS_REQ, A_REQ_TS, A_HAS_RES, A_RES_TS, A_RES_KIND };

struct price {
	int64_t in, out;
};

struct fold {
	const atr_report_opts *opts;
	int64_t start, end;
	unsigned nbuckets; /* token chart buckets: 7 days or 24 hours */
	int64_t bucket_us;
	unsigned nhours;
	int64_t *per_hour;
	uint64_t events;
	int has_seq;
	uint64_t first_seq, last_seq;
	struct table types, sessions, jobs, models, agents, files, commands, rules, alerts;
	struct table approvals, prices;
	int64_t tasks_no_job;
	int64_t cmd_runs, cmd_fail;
	int64_t file_ev[3];
	int64_t dec_total, dec[4]; /* ALLOW, DENY, REQUIRE_APPROVAL, other */
	int64_t escalations, retries, aborts;
	int64_t redactions, redacted_records;
	int64_t alerts_total;
	struct scratch sc, dsc;
};

static enum outcome outcome_of(const struct span *s)
{
	if (!s->s)
		return OUT_NONE;
	if (span_is(s, "success"))
		return OUT_SUCCESS;
	if (span_is(s, "partial"))
		return OUT_PARTIAL;
	if (span_is(s, "failure") || span_is(s, "error"))
		return OUT_FAILURE;
	return OUT_OTHER;
}

#define GET(t, k)                                                                                  \
	do {                                                                                       \
		if (!(e = table_get((t), (k))))                                                    \
			return ATR_ENOMEM;                                                         \
	} while (0)

static int fold_tokens(struct fold *fo, const struct fields *f)
{
	struct entry *e, *m;
	const struct span *agent = f->agent.s ? &f->agent : &f->actor;
	int64_t cost = 0;
	int kind = 0; /* 0 unknown, 1 recorded, 2 computed */

	if (f->has_cost) {
		cost = f->cost;
		kind = 1;
	} else if (f->model.s) {
		const struct entry *pe = table_find(&fo->prices, &f->model);

		if (pe) {
			unsigned __int128 x =
			    (unsigned __int128)(uint64_t)f->in_tok * (uint64_t)pe->n[0] +
			    (unsigned __int128)(uint64_t)f->out_tok * (uint64_t)pe->n[1] + 500000u;

			x /= 1000000u;
			cost = x > INT64_MAX ? INT64_MAX : (int64_t)x;
			kind = 2;
		}
	}
	for (int i = 0; i < 2; i++) {
		GET(i ? &fo->agents : &fo->models, i ? agent : &f->model);
		e->n[T_CALLS]++;
		e->n[T_IN] += f->in_tok;
		e->n[T_OUT] += f->out_tok;
		if (kind == 1) {
			e->n[T_COST_REC] += cost;
			e->n[T_NREC]++;
		} else if (kind == 2) {
			e->n[T_COST_CALC] += cost;
			e->n[T_NCALC]++;
		}
		if (i == 0) {
			m = e;
			if (!m->series && !(m->series = calloc(fo->nbuckets, sizeof(int64_t))))
				return atr__err(ATR_ENOMEM, "out of memory");
			m->series[(f->ts - fo->start) / fo->bucket_us] += f->in_tok + f->out_tok;
		}
	}
	return 0;
}

static int fold_record(struct fold *fo, uint64_t seq, const struct fields *f, const char *detail,
                       size_t dlen)
{
	const struct span *t = &f->type;
	struct entry *e;

	fo->events++;
	if (!fo->has_seq || seq < fo->first_seq)
		fo->first_seq = seq;
	if (!fo->has_seq || seq > fo->last_seq)
		fo->last_seq = seq;
	fo->has_seq = 1;
	fo->per_hour[(f->ts - fo->start) / ATR__US_PER_HOUR]++;
	GET(&fo->types, t);
	e->n[0]++;
	if (f->redactions > 0) {
		fo->redactions += f->redactions;
		fo->redacted_records++;
	}
	if (f->decision.s) {
		int d = span_is(&f->decision, "ALLOW")              ? 0
		        : span_is(&f->decision, "DENY")             ? 1
		        : span_is(&f->decision, "REQUIRE_APPROVAL") ? 2
		                                                    : 3;

		fo->dec_total++;
		fo->dec[d]++;
		GET(&fo->rules, f->rule.s ? &f->rule : NULL);
		e->n[R_TOTAL]++;
		e->n[R_ALLOW + d]++;
	}
	switch (t->n ? t->s[0] : 0) {
	case 'a':
		if (span_is(t, "abort")) {
			fo->aborts++;
			if (f->job.s) {
				GET(&fo->jobs, &f->job);
				e->n[J_OUTCOME] = OUT_FAILURE;
			}
		} else if (span_is(t, "alert")) {
			struct span key = f->target;

			if (!key.s && detail) {
				/* The rule that fired, from the payload (kept apart from the
				 * record). */
				const char *p = detail, *end = detail + dlen;
				struct span k, v;

				fo->dsc.len = 0;
				if (fo->dsc.cap < dlen + 1) {
					char *b = realloc(fo->dsc.buf, dlen + 1);

					if (!b)
						return atr__err(ATR_ENOMEM, "out of memory");
					fo->dsc.buf = b;
					fo->dsc.cap = dlen + 1;
				}
				p = skip_ws(p, end);
				if (p < end && *p == '{')
					for (p++; next_member(&p, end, &k, &v) > 0;)
						if (key_is(&k, "rule"))
							get_str(&v, &fo->dsc, &key);
			}
			fo->alerts_total++;
			GET(&fo->alerts, key.s ? &key : NULL);
			e->n[0]++;
		}
		break;
	case 'c':
		if (span_is(t, "command")) {
			fo->cmd_runs++;
			GET(&fo->commands, f->target.s ? &f->target : NULL);
			e->n[C_RUNS]++;
			if (f->has_exit && f->exit_code != 0) {
				fo->cmd_fail++;
				e->n[C_FAIL]++;
			}
		} else if (span_is(t, "complete") && f->job.s) {
			GET(&fo->jobs, &f->job);
			e->n[J_OUTCOME] = f->outcome.s ? outcome_of(&f->outcome) : OUT_SUCCESS;
		}
		break;
	case 'e':
		if (span_is(t, "escalation"))
			fo->escalations++;
		break;
	case 'f':
		if (span_is(t, "file_read") || span_is(t, "file_write") ||
		    span_is(t, "file_delete")) {
			int k = t->s[5] == 'r' ? F_READ : t->s[5] == 'w' ? F_WRITE : F_DELETE;

			fo->file_ev[k]++;
			if (f->target.s) {
				GET(&fo->files, &f->target);
				e->n[k]++;
			}
		}
		break;
	case 'l':
		if (span_is(t, "llm_call"))
			return fold_tokens(fo, f);
		break;
	case 'r':
		if (span_is(t, "retry"))
			fo->retries++;
		break;
	case 's':
		if ((span_is(t, "session_start") || span_is(t, "session_end")) && f->session.s) {
			GET(&fo->sessions, &f->session);
			if (t->s[8] == 's') {
				e->n[S_START] = 1;
			} else {
				e->n[S_END] = 1;
				if (f->outcome.s)
					e->n[S_END_OUTCOME] = outcome_of(&f->outcome);
			}
		}
		break;
	case 't':
		if (span_is(t, "task_submit")) {
			if (f->job.s) {
				GET(&fo->jobs, &f->job);
				e->n[J_SUBMITTED] = 1;
			} else {
				fo->tasks_no_job++;
			}
		} else if (span_is(t, "task_outcome")) {
			if (f->job.s) {
				GET(&fo->jobs, &f->job);
				e->n[J_OUTCOME] =
				    f->outcome.s ? outcome_of(&f->outcome) : OUT_OTHER;
			}
			if (f->session.s && f->outcome.s) {
				GET(&fo->sessions, &f->session);
				e->n[S_TASK_OUTCOME] = outcome_of(&f->outcome);
			}
		}
		break;
	default:
		break;
	}
	return 0;
}

/*
 * Every record with ts in the period, in seq order, read on a second thread:
 * SQLite's row decoding and the member walk of the fold each take about
 * half the time, so they overlap. The reader copies rows into one of two
 * chunks while the fold works through the other.
 */
enum { CHUNK_ROWS = 2048, CHUNK_BYTES = 1 << 20 };

struct chunk_row {
	uint64_t seq;
	size_t rec, rec_len, det, det_len; /* offsets into the chunk's buffer */
	int has_det;
};

struct chunk {
	char *buf;
	size_t used, cap, n;
	struct chunk_row rows[CHUNK_ROWS];
};

struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct chunk ch[2];
	int full[2];
	int done; /* the reader published its last chunk */
	int stop; /* the fold failed: the reader gives up */
	int rc;   /* the reader's failure, with its message */
	char msg[512];
	atr_store *st;
	atr_query q;
};

/* Reader: hand chunk 'i' over and wait until the other one is free; 0, or 1 to stop. */
static int publish(struct pipe *p, int *i)
{
	int stop;

	pthread_mutex_lock(&p->mu);
	p->full[*i] = 1;
	pthread_cond_broadcast(&p->cv);
	*i ^= 1;
	while (p->full[*i] && !p->stop)
		pthread_cond_wait(&p->cv, &p->mu);
	stop = p->stop;
	pthread_mutex_unlock(&p->mu);
	p->ch[*i].n = 0;
	p->ch[*i].used = 0;
	return stop;
}

static int chunk_add(struct chunk *c, const atr_store_row *row)
{
	size_t need = row->record_len + (row->detail ? row->detail_len : 0);
	struct chunk_row *r = &c->rows[c->n++];

	if (c->used + need > c->cap) {
		size_t nc = c->cap ? c->cap : CHUNK_BYTES;
		char *b;

		while (nc < c->used + need)
			nc *= 2;
		if (!(b = realloc(c->buf, nc)))
			return atr__err(ATR_ENOMEM, "out of memory");
		c->buf = b;
		c->cap = nc;
	}
	r->seq = row->seq;
	r->rec = c->used;
	r->rec_len = row->record_len;
	memcpy(c->buf + c->used, row->record, row->record_len);
	c->used += row->record_len;
	r->has_det = row->detail != NULL;
	r->det = c->used;
	r->det_len = row->detail ? row->detail_len : 0;
	if (row->detail) {
		memcpy(c->buf + c->used, row->detail, row->detail_len);
		c->used += row->detail_len;
	}
	return 0;
}

static void *reader(void *arg)
{
	struct pipe *p = arg;
	atr_store_cursor *cur = NULL;
	atr_store_row row;
	int i = 0, rc;

	if ((rc = p->st->query_open(p->st, &p->q, &cur)) == 0) {
		while ((rc = p->st->query_next(cur, &row)) > 0) {
			struct chunk *c = &p->ch[i];
			size_t need = row.record_len + (row.detail ? row.detail_len : 0);

			/* A full chunk goes first; an empty one grows for a big row. */
			if (c->n && (c->n == CHUNK_ROWS || c->used + need > c->cap)) {
				if (publish(p, &i)) {
					rc = 0;
					break;
				}
				c = &p->ch[i];
			}
			if ((rc = chunk_add(c, &row)) != 0)
				break;
		}
		p->st->query_close(cur);
	}
	pthread_mutex_lock(&p->mu);
	if (rc < 0) {
		p->rc = rc;
		snprintf(p->msg, sizeof(p->msg), "%s", atr_errmsg());
	} else if (p->ch[i].n) {
		p->full[i] = 1;
	}
	p->done = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int fold_chunk(struct fold *fo, const struct chunk *c)
{
	struct fields f;
	int rc;

	for (size_t k = 0; k < c->n; k++) {
		const struct chunk_row *r = &c->rows[k];

		if ((rc = read_fields(c->buf + r->rec, r->rec_len, &f, &fo->sc)) != 0)
			return rc == -1 ? atr__err(ATR_ETAMPER,
			                           "record %llu is not a well-formed record",
			                           (unsigned long long)r->seq)
			                : rc;
		if (f.ts < fo->start || f.ts >= fo->end)
			continue; /* the store filters on its ts column; trust only the record */
		if ((rc = fold_record(fo, r->seq, &f, r->has_det ? c->buf + r->det : NULL,
		                      r->det_len)) != 0)
			return rc;
	}
	return 0;
}

/* The same on this thread alone (when no thread can be started). */
static int scan_direct(struct fold *fo, atr_log *log)
{
	atr_query q = {.since_us = fo->start, .until_us = fo->end};
	atr_store *st = log->st;
	atr_store_cursor *cur;
	atr_store_row row;
	struct chunk c = {0};
	int rc;

	if ((rc = st->query_open(st, &q, &cur)) != 0)
		return rc;
	while ((rc = st->query_next(cur, &row)) > 0) {
		c.n = c.used = 0;
		if ((rc = chunk_add(&c, &row)) != 0 || (rc = fold_chunk(fo, &c)) != 0)
			break;
	}
	st->query_close(cur);
	free(c.buf);
	return rc < 0 ? rc : 0;
}

static int scan_period(struct fold *fo, atr_log *log)
{
	struct pipe p = {.st = log->st, .q = {.since_us = fo->start, .until_us = fo->end}};
	pthread_t th;
	int i = 0, rc = 0;

	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	if (pthread_create(&th, NULL, reader, &p) != 0) {
		rc = scan_direct(fo, log);
		goto out;
	}
	for (;;) {
		pthread_mutex_lock(&p.mu);
		while (!p.full[i] && !p.done)
			pthread_cond_wait(&p.cv, &p.mu);
		if (!p.full[i]) {
			pthread_mutex_unlock(&p.mu);
			break;
		}
		pthread_mutex_unlock(&p.mu);
		rc = fold_chunk(fo, &p.ch[i]);
		pthread_mutex_lock(&p.mu);
		p.full[i] = 0;
		if (rc != 0)
			p.stop = 1;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		if (rc != 0)
			break;
		i ^= 1;
	}
	pthread_join(th, NULL);
out:
	if (rc == 0 && p.rc)
		rc = atr__err(p.rc, "%s", p.msg);
	free(p.ch[0].buf);
	free(p.ch[1].buf);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	return rc;
}

/*
 * Every approval request and resolution before the period's end: the first
 * of each kind by seq for each approval id. Pending-at-end and the latency
 * of a resolution need requests made before the period.
 */
static int scan_approvals(struct fold *fo, atr_log *log, const char *type)
{
	atr_query q = {.type = type, .until_us = fo->end};
	int resolved = strcmp(type, "approval_resolved") == 0;
	atr_store *st = log->st;
	atr_store_cursor *cur;
	atr_store_row row;
	struct fields f;
	struct entry *e;
	int rc;

	if ((rc = st->query_open(st, &q, &cur)) != 0)
		return rc;
	while ((rc = st->query_next(cur, &row)) > 0) {
		if ((rc = read_fields(row.record, row.record_len, &f, &fo->sc)) != 0) {
			if (rc == -1)
				rc =
				    atr__err(ATR_ETAMPER, "record %llu is not a well-formed record",
				             (unsigned long long)row.seq);
			break;
		}
		if (f.ts >= fo->end || !f.approval_id.s || !span_is(&f.type, type))
			continue;
		if (!(e = table_get(&fo->approvals, &f.approval_id))) {
			rc = ATR_ENOMEM;
			break;
		}
		if (!resolved && !e->n[A_HAS_REQ]) {
			e->n[A_HAS_REQ] = 1;
			e->n[A_REQ_TS] = f.ts;
		} else if (resolved && !e->n[A_HAS_RES]) {
			e->n[A_HAS_RES] = 1;
			e->n[A_RES_TS] = f.ts;
			e->n[A_RES_KIND] = span_is(&f.resolution, "approved")   ? 1
			                   : span_is(&f.resolution, "rejected") ? 2
			                                                        : 3;
		}
	}
	st->query_close(cur);
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- prices */

static int load_prices(struct fold *fo, const char *text)
{
	json_error_t jerr;
	json_t *doc, *v;
	const char *model;
	int rc = 0;

	if (!text)
		return 0;
	if (!(doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr)))
		return atr__err(ATR_EINVALID,
		                "price table: malformed JSON at line %d column %d: %s", jerr.line,
		                jerr.column, jerr.text);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return atr__err(ATR_EINVALID, "price table: expected an object of models");
	}
	json_object_foreach(doc, model, v)
	{
		static const char *const keys[2] = {"input_per_mtok_micro_usd",
		                                    "output_per_mtok_micro_usd"};
		struct span s = {model, strlen(model)};
		const char *k;
		json_t *x;
		struct entry *e;

		if (!json_is_object(v)) {
			rc = atr__err(ATR_EINVALID,
			              "price table: model '%.200s' must map to an object", model);
			break;
		}
		json_object_foreach(v, k, x)
		{
			if (strcmp(k, keys[0]) != 0 && strcmp(k, keys[1]) != 0) {
				rc = atr__err(
				    ATR_EINVALID,
				    "price table: model '%.200s': unknown key '%.100s' (expected "
				    "'%s' and '%s')",
				    model, k, keys[0], keys[1]);
				break;
			}
		}
		if (rc)
			break;
		if (!(e = table_get(&fo->prices, &s))) {
			rc = ATR_ENOMEM;
			break;
		}
		for (int i = 0; i < 2; i++) {
			x = json_object_get(v, keys[i]);
			if (!json_is_integer(x) || json_integer_value(x) < 0) {
				rc = atr__err(
				    ATR_EINVALID,
				    "price table: model '%.200s': '%s' must be a non-negative "
				    "integer",
				    model, keys[i]);
				break;
			}
			e->n[i] = json_integer_value(x);
		}
		if (rc)
			break;
	}
	json_decref(doc);
	return rc;
}

/* ---------------------------------------------------------------- the document */

static json_t *ts_json(int64_t us)
{
	char text[28];

	atr_time_format(us, text);
	return json_string(text);
}

static json_t *key_json(const struct entry *e)
{
	return e->key ? json_string(e->key) : json_null();
}

/* Entry pointers of a table, sorted by 'cmp'. */
static const struct entry **sorted(const struct table *t, int (*cmp)(const void *, const void *))
{
	const struct entry **v = malloc((t->count ? t->count : 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < t->count; i++)
		v[i] = &t->e[i];
	qsort(v, t->count, sizeof(*v), cmp);
	return v;
}

static int cmp_key(const struct entry *a, const struct entry *b)
{
	/* The "none" entry last. */
	if (!a->key || !b->key)
		return !a->key - !b->key;
	return strcmp(a->key, b->key);
}

static int by_key(const void *x, const void *y)
{
	return cmp_key(*(const struct entry *const *)x, *(const struct entry *const *)y);
}

static int64_t file_total(const struct entry *e)
{
	return e->n[F_READ] + e->n[F_WRITE] + e->n[F_DELETE];
}

static int by_file_count(const void *x, const void *y)
{
	const struct entry *a = *(const struct entry *const *)x,
	                   *b = *(const struct entry *const *)y;
	int64_t ta = file_total(a), tb = file_total(b);

	return ta != tb ? (ta < tb ? 1 : -1) : cmp_key(a, b);
}

static int by_failures(const void *x, const void *y)
{
	const struct entry *a = *(const struct entry *const *)x,
	                   *b = *(const struct entry *const *)y;

	if (a->n[C_FAIL] != b->n[C_FAIL])
		return a->n[C_FAIL] < b->n[C_FAIL] ? 1 : -1;
	if (a->n[C_RUNS] != b->n[C_RUNS])
		return a->n[C_RUNS] < b->n[C_RUNS] ? 1 : -1;
	return cmp_key(a, b);
}

/* Set 'key' of 'o' to 'v' (stolen); a NULL 'v' is out of memory. */
static int set(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

static int seti(json_t *o, const char *key, int64_t v)
{
	return set(o, key, json_integer((json_int_t)v));
}

static json_t *outcomes_json(const int64_t c[OUT_COUNT])
{
	json_t *o = json_object();

	for (int i = OUT_SUCCESS; i < OUT_COUNT; i++)
		if (o && seti(o, outcome_name[i], c[i]) != 0)
			goto fail;
	if (o && seti(o, outcome_name[OUT_NONE], c[OUT_NONE]) != 0)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

static int cost_fields(json_t *o, const struct entry *e)
{
	int64_t unknown = e->n[T_CALLS] - e->n[T_NREC] - e->n[T_NCALC];

	return seti(o, "calls", e->n[T_CALLS]) || seti(o, "input_tokens", e->n[T_IN]) ||
	       seti(o, "output_tokens", e->n[T_OUT]) ||
	       seti(o, "total_tokens", e->n[T_IN] + e->n[T_OUT]) ||
	       set(o, "cost_micro_usd",
	           e->n[T_NREC] + e->n[T_NCALC]
	               ? json_integer((json_int_t)(e->n[T_COST_REC] + e->n[T_COST_CALC]))
	               : json_null()) ||
	       seti(o, "cost_recorded_micro_usd", e->n[T_COST_REC]) ||
	       seti(o, "cost_computed_micro_usd", e->n[T_COST_CALC]) ||
	       seti(o, "calls_cost_recorded", e->n[T_NREC]) ||
	       seti(o, "calls_cost_computed", e->n[T_NCALC]) ||
	       seti(o, "calls_cost_unknown", unknown) ||
	       set(o, "cost_complete", json_boolean(unknown == 0));
}

static json_t *tokens_list(const struct table *t, const char *name, struct entry *total)
{
	const struct entry **v = sorted(t, by_key);
	json_t *a = json_array();

	if (!v || !a)
		goto fail;
	for (size_t i = 0; i < t->count; i++) {
		json_t *o = json_object();

		if (!o || json_array_append_new(a, o) != 0 || set(o, name, key_json(v[i])) != 0 ||
		    cost_fields(o, v[i]) != 0)
			goto fail;
		if (total)
			for (int k = 0; k < NCOUNT; k++)
				total->n[k] += v[i]->n[k];
	}
	free(v);
	return a;
fail:
	free(v);
	json_decref(a);
	return NULL;
}

static int build_tokens(struct fold *fo, json_t *doc)
{
	struct entry total = {0};
	json_t *tok = json_object(), *series = json_object(), *labels = json_array(),
	       *bym = json_object(), *tot = json_object();
	const struct entry **v = sorted(&fo->models, by_key);
	int rc = -1;

	if (!tok || !series || !labels || !bym || !tot || !v)
		goto out;
	if (set(tok, "by_model", tokens_list(&fo->models, "model", &total)) != 0 ||
	    set(tok, "by_agent", tokens_list(&fo->agents, "agent", NULL)) != 0 ||
	    cost_fields(tot, &total) != 0)
		goto out;
	for (unsigned b = 0; b < fo->nbuckets; b++) {
		int64_t y, at = fo->start + (int64_t)b * fo->bucket_us;
		int m, d;
		char text[32];

		atr__civil_from_days(at / ATR__US_PER_DAY, &y, &m, &d);
		if (fo->nbuckets == 7)
			snprintf(text, sizeof(text), "%04lld-%02d-%02d", (long long)y, m, d);
		else
			snprintf(text, sizeof(text), "%02u:00", b);
		if (json_array_append_new(labels, json_string(text)) != 0)
			goto out;
	}
	for (size_t i = 0; i < fo->models.count; i++) {
		json_t *a = json_array();

		if (!a || json_object_set_new(bym, v[i]->key ? v[i]->key : "", a) != 0)
			goto out;
		for (unsigned b = 0; b < fo->nbuckets; b++)
			if (json_array_append_new(a,
			                          json_integer(v[i]->series ? v[i]->series[b] : 0)))
				goto out;
	}
	if (set(series, "bucket", json_string(fo->nbuckets == 7 ? "day" : "hour")) ||
	    set(series, "labels", labels) || set(series, "by_model", bym))
		goto out;
	labels = bym = NULL;
	if (set(tok, "series", series))
		goto out;
	series = NULL;
	if (set(tok, "totals", tot))
		goto out;
	tot = NULL;
	rc = set(doc, "tokens", tok);
	tok = NULL;
out:
	free(v);
	json_decref(tok);
	json_decref(series);
	json_decref(labels);
	json_decref(bym);
	json_decref(tot);
	return rc;
}

static json_t *file_json(const struct entry *e)
{
	return json_pack("{s:o, s:I, s:I, s:I, s:I}", "path", key_json(e), "read",
	                 (json_int_t)e->n[F_READ], "write", (json_int_t)e->n[F_WRITE], "delete",
	                 (json_int_t)e->n[F_DELETE], "total", (json_int_t)file_total(e));
}

static int build_files(struct fold *fo, json_t *doc, size_t top)
{
	const struct entry **v = sorted(&fo->files, by_file_count);
	const struct entry **k = sorted(&fo->files, by_key);
	json_t *o = json_object(), *ta = json_array(), *sa = json_array(), *globs = json_array();
	int64_t read = 0, modified = 0;
	const char *const *g = fo->opts->sensitive;
	size_t ng = fo->opts->nsensitive;
	int rc = -1;

	if (!g) {
		g = default_sensitive;
		ng = sizeof(default_sensitive) / sizeof(default_sensitive[0]);
	}
	if (!v || !k || !o || !ta || !sa || !globs)
		goto out;
	for (size_t i = 0; i < ng; i++)
		if (json_array_append_new(globs, json_string(g[i])) != 0)
			goto out;
	for (size_t i = 0; i < fo->files.count; i++) {
		read += v[i]->n[F_READ] > 0;
		modified += v[i]->n[F_WRITE] + v[i]->n[F_DELETE] > 0;
		if (i < top && json_array_append_new(ta, file_json(v[i])) != 0)
			goto out;
		if (atr_report_sensitive_match(k[i]->key, g, ng) &&
		    json_array_append_new(sa, file_json(k[i])) != 0)
			goto out;
	}
	if (seti(o, "file_read", fo->file_ev[F_READ]) ||
	    seti(o, "file_write", fo->file_ev[F_WRITE]) ||
	    seti(o, "file_delete", fo->file_ev[F_DELETE]) ||
	    seti(o, "distinct_paths", (int64_t)fo->files.count) || seti(o, "paths_read", read) ||
	    seti(o, "paths_modified", modified))
		goto out;
	rc = set(o, "top", ta) || set(o, "sensitive_globs", globs) || set(o, "sensitive", sa);
	ta = sa = globs = NULL;
	if (rc == 0)
		rc = set(doc, "files", o);
	o = NULL;
out:
	free(v);
	free(k);
	json_decref(o);
	json_decref(ta);
	json_decref(sa);
	json_decref(globs);
	return rc;
}

static int build_commands(struct fold *fo, json_t *doc, size_t top)
{
	const struct entry **v = sorted(&fo->commands, by_failures);
	json_t *o = json_object(), *a = json_array();
	int64_t failing = 0;
	int rc = -1;

	if (!v || !o || !a)
		goto out;
	for (size_t i = 0; i < fo->commands.count; i++) {
		if (v[i]->n[C_FAIL] == 0)
			continue;
		if ((size_t)failing++ < top &&
		    json_array_append_new(a, json_pack("{s:o, s:I, s:I}", "command", key_json(v[i]),
		                                       "runs", (json_int_t)v[i]->n[C_RUNS],
		                                       "failures", (json_int_t)v[i]->n[C_FAIL])) !=
		        0)
			goto out;
	}
	if (seti(o, "runs", fo->cmd_runs) || seti(o, "failures", fo->cmd_fail) ||
	    seti(o, "distinct", (int64_t)fo->commands.count) ||
	    seti(o, "distinct_failing", failing))
		goto out;
	rc = set(o, "top_failing", a);
	a = NULL;
	if (rc == 0)
		rc = set(doc, "commands", o);
	o = NULL;
out:
	free(v);
	json_decref(o);
	json_decref(a);
	return rc;
}

static int build_decisions(struct fold *fo, json_t *doc)
{
	const struct entry **v = sorted(&fo->rules, by_key);
	json_t *o = json_object(), *a = json_array();
	int rc = -1;

	if (!v || !o || !a)
		goto out;
	for (size_t i = 0; i < fo->rules.count; i++)
		if (json_array_append_new(
		        a,
		        json_pack("{s:o, s:I, s:I, s:I, s:I, s:I}", "rule_id", key_json(v[i]),
		                  "total", (json_int_t)v[i]->n[R_TOTAL], "ALLOW",
		                  (json_int_t)v[i]->n[R_ALLOW], "DENY", (json_int_t)v[i]->n[R_DENY],
		                  "REQUIRE_APPROVAL", (json_int_t)v[i]->n[R_APPROVAL], "other",
		                  (json_int_t)v[i]->n[R_OTHER])) != 0)
			goto out;
	if (seti(o, "total", fo->dec_total) ||
	    set(o, "by_decision",
	        json_pack("{s:I, s:I, s:I, s:I}", "ALLOW", (json_int_t)fo->dec[0], "DENY",
	                  (json_int_t)fo->dec[1], "REQUIRE_APPROVAL", (json_int_t)fo->dec[2],
	                  "other", (json_int_t)fo->dec[3])))
		goto out;
	rc = set(o, "by_rule", a);
	a = NULL;
	if (rc == 0)
		rc = set(doc, "decisions", o);
	o = NULL;
out:
	free(v);
	json_decref(o);
	json_decref(a);
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int build_approvals(struct fold *fo, json_t *doc)
{
	int64_t opened = 0, resolved = 0, approved = 0, rejected = 0, pending = 0;
	int64_t hist[ATR__LATENCY_BUCKETS] = {0};
	int64_t *lat = malloc((fo->approvals.count ? fo->approvals.count : 1) * sizeof(*lat));
	size_t nlat = 0;
	json_t *o = json_object(), *l = json_object(), *h = json_array();
	int rc = -1;

	if (!lat || !o || !l || !h)
		goto out;
	for (size_t i = 0; i < fo->approvals.count; i++) {
		const int64_t *n = fo->approvals.e[i].n;
		int in_res = n[A_HAS_RES] && n[A_RES_TS] >= fo->start;

		opened += n[A_HAS_REQ] && n[A_REQ_TS] >= fo->start;
		pending += n[A_HAS_REQ] && !n[A_HAS_RES];
		if (!in_res)
			continue;
		resolved++;
		approved += n[A_RES_KIND] == 1;
		rejected += n[A_RES_KIND] == 2;
		if (n[A_HAS_REQ]) {
			int64_t d = n[A_RES_TS] - n[A_REQ_TS];
			int b = 0;

			lat[nlat++] = d < 0 ? 0 : d;
			while (b < ATR__LATENCY_BUCKETS - 1 &&
			       lat[nlat - 1] >= atr__latency_upper_us[b])
				b++;
			hist[b]++;
		}
	}
	qsort(lat, nlat, sizeof(*lat), cmp_i64);
	if (seti(l, "count", (int64_t)nlat) ||
	    set(l, "median_us",
	        nlat ? json_integer(atr__percentile(lat, nlat, 50)) : json_null()) ||
	    set(l, "p90_us", nlat ? json_integer(atr__percentile(lat, nlat, 90)) : json_null()) ||
	    set(l, "max_us", nlat ? json_integer(lat[nlat - 1]) : json_null()))
		goto out;
	for (int b = 0; b < ATR__LATENCY_BUCKETS; b++)
		if (json_array_append_new(h, json_pack("{s:s, s:o, s:I}", "label",
		                                       atr__latency_label[b], "upper_us",
		                                       b < ATR__LATENCY_BUCKETS - 1
		                                           ? json_integer(atr__latency_upper_us[b])
		                                           : json_null(),
		                                       "count", (json_int_t)hist[b])) != 0)
			goto out;
	if (seti(o, "opened", opened) || seti(o, "resolved", resolved) ||
	    seti(o, "approved", approved) || seti(o, "rejected", rejected) ||
	    seti(o, "pending_at_end", pending))
		goto out;
	rc = set(o, "latency", l) || set(o, "latency_histogram", h);
	l = h = NULL;
	if (rc == 0)
		rc = set(doc, "approvals", o);
	o = NULL;
out:
	free(lat);
	json_decref(o);
	json_decref(l);
	json_decref(h);
	return rc;
}

static int build_sessions_tasks(struct fold *fo, json_t *doc)
{
	int64_t s[OUT_COUNT] = {0}, t[OUT_COUNT] = {0}, ns = 0, nt = fo->tasks_no_job;

	t[OUT_NONE] = fo->tasks_no_job;
	for (size_t i = 0; i < fo->sessions.count; i++) {
		const int64_t *n = fo->sessions.e[i].n;

		if (!n[S_START] && !n[S_END])
			continue;
		ns++;
		s[n[S_END_OUTCOME] ? n[S_END_OUTCOME] : n[S_TASK_OUTCOME]]++;
	}
	for (size_t i = 0; i < fo->jobs.count; i++) {
		const int64_t *n = fo->jobs.e[i].n;

		if (!n[J_SUBMITTED])
			continue;
		nt++;
		t[n[J_OUTCOME]]++;
	}
	return set(doc, "sessions",
	           json_pack("{s:I, s:o}", "total", (json_int_t)ns, "outcomes",
	                     outcomes_json(s))) ||
	       set(doc, "tasks",
	           json_pack("{s:I, s:o}", "total", (json_int_t)nt, "outcomes", outcomes_json(t)));
}

static int build_events(struct fold *fo, json_t *doc)
{
	const struct entry **v = sorted(&fo->types, by_key);
	json_t *o = json_object(), *bt = json_object(), *ph = json_array();
	int rc = -1;

	if (!v || !o || !bt || !ph)
		goto out;
	for (size_t i = 0; i < fo->types.count; i++)
		if (seti(bt, v[i]->key ? v[i]->key : "", v[i]->n[0]) != 0)
			goto out;
	for (unsigned h = 0; h < fo->nhours; h++)
		if (json_array_append_new(ph, json_integer(fo->per_hour[h])) != 0)
			goto out;
	if (seti(o, "total", (int64_t)fo->events) ||
	    set(o, "first_seq",
	        fo->has_seq ? json_integer((json_int_t)fo->first_seq) : json_null()) ||
	    set(o, "last_seq", fo->has_seq ? json_integer((json_int_t)fo->last_seq) : json_null()))
		goto out;
	rc = set(o, "by_type", bt) || set(o, "per_hour", ph);
	bt = ph = NULL;
	if (rc == 0)
		rc = set(doc, "events", o);
	o = NULL;
out:
	free(v);
	json_decref(o);
	json_decref(bt);
	json_decref(ph);
	return rc;
}

static int build_alerts(struct fold *fo, json_t *doc)
{
	const struct entry **v = sorted(&fo->alerts, by_key);
	json_t *a = json_array();
	int rc = -1;

	if (!v || !a)
		goto out;
	for (size_t i = 0; i < fo->alerts.count; i++)
		if (json_array_append_new(a, json_pack("{s:o, s:I}", "rule", key_json(v[i]),
		                                       "count", (json_int_t)v[i]->n[0])) != 0)
			goto out;
	rc = set(doc, "alerts",
	         json_pack("{s:I, s:o}", "total", (json_int_t)fo->alerts_total, "by_rule", a));
	a = NULL;
out:
	free(v);
	json_decref(a);
	return rc;
}

/* The smallest stored checkpoint that covers the period's last record. */
static int build_checkpoint(struct fold *fo, atr_log *log, json_t *doc)
{
	atr_checkpoint cp;
	char *note = NULL, root[65];
	size_t len = 0;
	int rc;

	if (!fo->has_seq)
		return set(doc, "checkpoint", json_null()) ? ATR_ENOMEM : 0;
	rc = atr_log_checkpoint_get(log, fo->last_seq + 1, &note, &len);
	if (rc == ATR_ENOTFOUND)
		return set(doc, "checkpoint", json_null()) ? ATR_ENOMEM : 0;
	if (rc != 0)
		return rc;
	if ((rc = atr_checkpoint_parse(note, len, &cp)) != 0) {
		atr_free(note);
		return rc;
	}
	atr_hash_hex(&cp.root, root);
	rc = set(doc, "checkpoint",
	         json_pack("{s:I, s:s, s:s, s:s}", "size", (json_int_t)cp.size, "root_hash", root,
	                   "origin", cp.origin, "note", note))
	         ? ATR_ENOMEM
	         : 0;
	atr_free(note);
	return rc;
}

static int build_verify(const atr_report_opts *opts, atr_log *log, json_t *doc)
{
	atr_verify_result res;
	int rc;

	if (!opts->verify)
		return set(doc, "verify", json_pack("{s:b}", "run", 0)) ? ATR_ENOMEM : 0;
	if ((rc = atr_log_verify(log, opts->verify_opts, NULL, NULL, &res)) != 0)
		return atr__err_prefix(rc, "verify");
	return set(doc, "verify",
	           json_pack("{s:b, s:s, s:b, s:b, s:I, s:I, s:I, s:I}", "run", 1, "status",
	                     atr_verify_status_name(res.status), "passed",
	                     res.status == ATR_VERIFY_OK, "consistent",
	                     res.status == ATR_VERIFY_OK || res.status == ATR_VERIFY_UNANCHORED,
	                     "records", (json_int_t)res.records, "size", (json_int_t)res.size,
	                     "checkpoints", (json_int_t)res.checkpoints, "anchored_size",
	                     (json_int_t)res.anchored_size))
	           ? ATR_ENOMEM
	           : 0;
}

static void fold_release(struct fold *fo)
{
	struct table *t[] = {&fo->types,  &fo->sessions,  &fo->jobs,     &fo->models,
	                     &fo->agents, &fo->files,     &fo->commands, &fo->rules,
	                     &fo->alerts, &fo->approvals, &fo->prices};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		table_release(t[i]);
	free(fo->per_hour);
	free(fo->sc.buf);
	free(fo->dsc.buf);
}

int atr_report_build(atr_log *log, const atr_report_opts *opts, atr_report **out)
{
	struct fold fo = {0};
	atr_report *r = NULL;
	json_t *doc = NULL, *period;
	int64_t now = opts->now_us ? opts->now_us : atr__now_us(), y, day;
	size_t top = opts->top ? opts->top : TOP_DEFAULT;
	int m, d, week, rc;

	*out = NULL;
	fo.opts = opts;
	if ((rc = atr_report_period_bounds(opts->period, opts->date, now, &fo.start, &fo.end)) != 0)
		return rc;
	for (size_t i = 0; i < opts->nsensitive; i++)
		if (!opts->sensitive[i][0] || strlen(opts->sensitive[i]) > 255)
			return atr__err(ATR_EINVALID,
			                "sensitive glob '%.40s' must be 1 to 255 bytes",
			                opts->sensitive[i]);
	if ((rc = load_prices(&fo, opts->prices_json)) != 0)
		goto out;
	fo.nhours = (unsigned)((fo.end - fo.start) / ATR__US_PER_HOUR);
	fo.nbuckets = opts->period == ATR_REPORT_WEEK ? 7 : 24;
	fo.bucket_us = opts->period == ATR_REPORT_WEEK ? ATR__US_PER_DAY : ATR__US_PER_HOUR;
	if (!(fo.per_hour = calloc(fo.nhours, sizeof(*fo.per_hour))) ||
	    !(r = calloc(1, sizeof(*r))) || !(doc = json_object())) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = scan_period(&fo, log)) != 0 ||
	    (rc = scan_approvals(&fo, log, "approval_request")) != 0 ||
	    (rc = scan_approvals(&fo, log, "approval_resolved")) != 0)
		goto out;

	day = fo.start / ATR__US_PER_DAY;
	if (opts->period == ATR_REPORT_WEEK) {
		atr__iso_week(day, &y, &week);
		snprintf(r->label, sizeof(r->label), "%04lld-W%02d", (long long)y, week);
	} else {
		atr__civil_from_days(day, &y, &m, &d);
		snprintf(r->label, sizeof(r->label), "%04lld-%02d-%02d", (long long)y, m, d);
	}
	r->start_us = fo.start;
	r->end_us = fo.end;
	period = json_pack("{s:s, s:s, s:o, s:o}", "kind",
	                   opts->period == ATR_REPORT_WEEK ? "week" : "day", "label", r->label,
	                   "start", ts_json(fo.start), "end", ts_json(fo.end));
	rc = ATR_ENOMEM;
	if (seti(doc, "report_version", REPORT_VERSION) || set(doc, "period", period) ||
	    set(doc, "generated_at", ts_json(now)) || build_events(&fo, doc) ||
	    build_sessions_tasks(&fo, doc) || build_tokens(&fo, doc) ||
	    build_files(&fo, doc, top) || build_commands(&fo, doc, top) ||
	    build_decisions(&fo, doc) || build_approvals(&fo, doc) ||
	    set(doc, "interventions",
	        json_pack("{s:I, s:I, s:I}", "escalation", (json_int_t)fo.escalations, "retry",
	                  (json_int_t)fo.retries, "abort", (json_int_t)fo.aborts)) ||
	    set(doc, "redactions",
	        json_pack("{s:I, s:I}", "total", (json_int_t)fo.redactions, "records",
	                  (json_int_t)fo.redacted_records)) ||
	    build_alerts(&fo, doc)) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = build_checkpoint(&fo, log, doc)) != 0 || (rc = build_verify(opts, log, doc)) != 0)
		goto out;
	r->doc = doc;
	doc = NULL;
	*out = r;
	r = NULL;
	rc = 0;
out:
	json_decref(doc);
	free(r);
	fold_release(&fo);
	return rc;
}

void atr_report_free(atr_report *r)
{
	if (!r)
		return;
	json_decref(r->doc);
	free(r);
}

const char *atr_report_label(const atr_report *r)
{
	return r->label;
}

void atr_report_bounds(const atr_report *r, int64_t *start_us, int64_t *end_us)
{
	*start_us = r->start_us;
	*end_us = r->end_us;
}

int atr_report_json(const atr_report *r, char **out)
{
	char *text = json_dumps(r->doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	size_t n;

	*out = NULL;
	if (!text)
		return atr__err(ATR_ENOMEM, "out of memory");
	n = strlen(text);
	if (!(*out = malloc(n + 2))) {
		free(text);
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	memcpy(*out, text, n);
	memcpy(*out + n, "\n", 2);
	free(text);
	return 0;
}

/* ---------------------------------------------------------------- rendering helpers */

void atr__sb_add(struct atr__sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 4096;
		char *p;

		while (nc < b->len + n + 1)
			nc *= 2;
		if (!(p = realloc(b->p, nc))) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void atr__sb_puts(struct atr__sbuf *b, const char *s)
{
	atr__sb_add(b, s, strlen(s));
}

void atr__sb_printf(struct atr__sbuf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		atr__sb_add(b, small, (size_t)n);
		return;
	}
	{
		char *big = malloc((size_t)n + 1);

		if (!big) {
			b->oom = 1;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		atr__sb_add(b, big, (size_t)n);
		free(big);
	}
}

int atr__sb_finish(struct atr__sbuf *b, char **out)
{
	*out = NULL;
	if (!b->oom && !b->p)
		atr__sb_add(b, "", 0);
	if (b->oom) {
		free(b->p);
		memset(b, 0, sizeof(*b));
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	*out = b->p;
	memset(b, 0, sizeof(*b));
	return 0;
}

const json_t *atr__doc_get(const json_t *doc, const char *path)
{
	const json_t *v = doc;

	while (v && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		v = json_is_object(v) ? json_object_getn(v, path, n) : NULL;
		path += n + (dot ? 1 : 0);
	}
	return v;
}

int64_t atr__doc_int(const json_t *doc, const char *path)
{
	return (int64_t)json_integer_value(atr__doc_get(doc, path));
}

void atr__money_text(int64_t micro_usd, char *out, size_t cap)
{
	snprintf(out, cap, "$%lld.%06lld", (long long)(micro_usd / 1000000),
	         (long long)(micro_usd % 1000000));
}

void atr__cost_source(const json_t *row, char *out, size_t cap)
{
	int64_t rec = atr__doc_int(row, "calls_cost_recorded");
	int64_t calc = atr__doc_int(row, "calls_cost_computed");
	int64_t unknown = atr__doc_int(row, "calls_cost_unknown");
	const char *what = rec && calc ? "recorded + computed"
	                   : rec       ? "recorded"
	                   : calc      ? "computed from prices"
	                               : "unknown";

	if ((rec || calc) && unknown)
		snprintf(out, cap, "%s; %lld call%s without a cost", what, (long long)unknown,
		         unknown == 1 ? "" : "s");
	else
		snprintf(out, cap, "%s", what);
}

/* ---------------------------------------------------------------- Markdown */

/* Event-derived text in a table cell: Markdown punctuation escaped, line breaks as spaces. */
static void md_text(struct atr__sbuf *b, const char *s)
{
	if (!s) {
		atr__sb_puts(b, "*(none)*");
		return;
	}
	if (!*s) {
		atr__sb_puts(b, "*(empty)*");
		return;
	}
	for (; *s; s++) {
		if (strchr("\\`*_{}[]()<>#|!~&", *s)) {
			char e[2] = {'\\', *s};

			atr__sb_add(b, e, 2);
		} else if (*s == '\n' || *s == '\r' || *s == '\t') {
			atr__sb_add(b, " ", 1);
		} else {
			atr__sb_add(b, s, 1);
		}
	}
}

static void md_count(struct atr__sbuf *b, const char *what, int64_t n)
{
	atr__sb_printf(b, "| %s | %lld |\n", what, (long long)n);
}

static void md_tokens(struct atr__sbuf *b, const json_t *list, const char *name, const char *head)
{
	size_t i;
	const json_t *row;

	if (json_array_size(list) == 0) {
		atr__sb_printf(b, "No model calls.\n\n");
		return;
	}
	atr__sb_printf(b,
	               "| %s | calls | input tokens | output tokens | cost | cost source |\n"
	               "|---|---:|---:|---:|---:|---|\n",
	               head);
	json_array_foreach(list, i, row)
	{
		char money[40], src[96];

		atr__sb_puts(b, "| ");
		md_text(b, json_string_value(json_object_get(row, name)));
		atr__cost_source(row, src, sizeof(src));
		atr__money_text(atr__doc_int(row, "cost_micro_usd"), money, sizeof(money));
		atr__sb_printf(b, " | %lld | %lld | %lld | %s | %s |\n",
		               (long long)atr__doc_int(row, "calls"),
		               (long long)atr__doc_int(row, "input_tokens"),
		               (long long)atr__doc_int(row, "output_tokens"),
		               strcmp(src, "unknown") ? money : "unknown", src);
	}
	atr__sb_puts(b, "\n");
}

static void md_files(struct atr__sbuf *b, const json_t *list, const char *none)
{
	size_t i;
	const json_t *row;

	if (json_array_size(list) == 0) {
		atr__sb_printf(b, "%s\n\n", none);
		return;
	}
	atr__sb_puts(b, "| path | read | write | delete | total |\n|---|---:|---:|---:|---:|\n");
	json_array_foreach(list, i, row)
	{
		atr__sb_puts(b, "| ");
		md_text(b, json_string_value(json_object_get(row, "path")));
		atr__sb_printf(
		    b, " | %lld | %lld | %lld | %lld |\n", (long long)atr__doc_int(row, "read"),
		    (long long)atr__doc_int(row, "write"), (long long)atr__doc_int(row, "delete"),
		    (long long)atr__doc_int(row, "total"));
	}
	atr__sb_puts(b, "\n");
}

static void md_outcomes(struct atr__sbuf *b, const char *what, const json_t *o)
{
	atr__sb_printf(b, "| %s | %lld | %lld | %lld | %lld | %lld | %lld |\n", what,
	               (long long)atr__doc_int(o, "total"),
	               (long long)atr__doc_int(o, "outcomes.success"),
	               (long long)atr__doc_int(o, "outcomes.partial"),
	               (long long)atr__doc_int(o, "outcomes.failure"),
	               (long long)atr__doc_int(o, "outcomes.other"),
	               (long long)atr__doc_int(o, "outcomes.none"));
}

static void md_latency(struct atr__sbuf *b, const json_t *lat)
{
	static const char *const keys[3] = {"median_us", "p90_us", "max_us"};
	char text[48];

	if (atr__doc_int(lat, "count") == 0) {
		atr__sb_puts(b, "Time to resolve: no resolutions with a known request.\n\n");
		return;
	}
	atr__sb_printf(b, "Time to resolve (%lld):", (long long)atr__doc_int(lat, "count"));
	for (int i = 0; i < 3; i++) {
		atr__duration_text(atr__doc_int(lat, keys[i]), text, sizeof(text));
		atr__sb_printf(b, "%s %s %s", i ? "," : "",
		               i == 0   ? "median"
		               : i == 1 ? "p90"
		                        : "max",
		               text);
	}
	atr__sb_puts(b, ".\n\n");
}

int atr_report_markdown(const atr_report *r, char **out)
{
	const json_t *d = r->doc, *row, *v;
	struct atr__sbuf b = {0};
	const char *key;
	char money[40];
	size_t i;

	atr__sb_printf(&b, "# agentrail report: %s %s\n\n",
	               json_string_value(atr__doc_get(d, "period.kind")), r->label);
	atr__sb_printf(&b, "Period (UTC): %s to %s. Generated %s. Computed from the log alone.\n\n",
	               json_string_value(atr__doc_get(d, "period.start")),
	               json_string_value(atr__doc_get(d, "period.end")),
	               json_string_value(atr__doc_get(d, "generated_at")));

	atr__sb_puts(&b, "## Summary\n\n| figure | value |\n|---|---:|\n");
	md_count(&b, "events", atr__doc_int(d, "events.total"));
	md_count(&b, "sessions", atr__doc_int(d, "sessions.total"));
	md_count(&b, "tasks", atr__doc_int(d, "tasks.total"));
	md_count(&b, "model calls", atr__doc_int(d, "tokens.totals.calls"));
	md_count(&b, "tokens (input + output)", atr__doc_int(d, "tokens.totals.total_tokens"));
	md_count(&b, "commands run", atr__doc_int(d, "commands.runs"));
	md_count(&b, "commands failed", atr__doc_int(d, "commands.failures"));
	md_count(&b, "policy decisions", atr__doc_int(d, "decisions.total"));
	md_count(&b, "approvals opened", atr__doc_int(d, "approvals.opened"));
	md_count(&b, "approvals pending at the end", atr__doc_int(d, "approvals.pending_at_end"));
	md_count(&b, "alerts", atr__doc_int(d, "alerts.total"));
	md_count(&b, "redactions", atr__doc_int(d, "redactions.total"));
	atr__sb_puts(&b, "\n");

	atr__sb_puts(&b, "## Sessions and tasks\n\n"
	                 "| | total | success | partial | failure | other | no outcome |\n"
	                 "|---|---:|---:|---:|---:|---:|---:|\n");
	md_outcomes(&b, "sessions", atr__doc_get(d, "sessions"));
	md_outcomes(&b, "tasks", atr__doc_get(d, "tasks"));
	atr__sb_puts(&b, "\n");

	atr__sb_puts(&b, "## Tokens and cost\n\n");
	{
		const json_t *t = atr__doc_get(d, "tokens.totals");
		char src[96];

		atr__cost_source(t, src, sizeof(src));
		atr__money_text(atr__doc_int(t, "cost_micro_usd"), money, sizeof(money));
		atr__sb_printf(
		    &b, "%lld model calls, %lld input and %lld output tokens; cost %s (%s).\n\n",
		    (long long)atr__doc_int(t, "calls"), (long long)atr__doc_int(t, "input_tokens"),
		    (long long)atr__doc_int(t, "output_tokens"),
		    strcmp(src, "unknown") ? money : "unknown", src);
	}
	atr__sb_puts(&b, "### By model\n\n");
	md_tokens(&b, atr__doc_get(d, "tokens.by_model"), "model", "model");
	atr__sb_puts(&b, "### By agent\n\n");
	md_tokens(&b, atr__doc_get(d, "tokens.by_agent"), "agent", "agent");

	atr__sb_printf(
	    &b,
	    "## Files\n\n%lld reads, %lld writes, %lld deletes over %lld paths (%lld read, "
	    "%lld modified).\n\n### Top paths\n\n",
	    (long long)atr__doc_int(d, "files.file_read"),
	    (long long)atr__doc_int(d, "files.file_write"),
	    (long long)atr__doc_int(d, "files.file_delete"),
	    (long long)atr__doc_int(d, "files.distinct_paths"),
	    (long long)atr__doc_int(d, "files.paths_read"),
	    (long long)atr__doc_int(d, "files.paths_modified"));
	md_files(&b, atr__doc_get(d, "files.top"), "No file events.");
	atr__sb_puts(&b, "### Sensitive paths\n\nGlobs:");
	json_array_foreach(atr__doc_get(d, "files.sensitive_globs"), i, row)
	{
		atr__sb_puts(&b, i ? ", " : " ");
		md_text(&b, json_string_value(row));
	}
	atr__sb_puts(&b, ".\n\n");
	md_files(&b, atr__doc_get(d, "files.sensitive"), "No sensitive path was touched.");

	atr__sb_printf(&b, "## Commands\n\n%lld run, %lld failed (exit code not 0).\n\n",
	               (long long)atr__doc_int(d, "commands.runs"),
	               (long long)atr__doc_int(d, "commands.failures"));
	if (json_array_size(atr__doc_get(d, "commands.top_failing"))) {
		atr__sb_puts(&b, "| failing command | runs | failures |\n|---|---:|---:|\n");
		json_array_foreach(atr__doc_get(d, "commands.top_failing"), i, row)
		{
			atr__sb_puts(&b, "| ");
			md_text(&b, json_string_value(json_object_get(row, "command")));
			atr__sb_printf(&b, " | %lld | %lld |\n",
			               (long long)atr__doc_int(row, "runs"),
			               (long long)atr__doc_int(row, "failures"));
		}
		atr__sb_puts(&b, "\n");
	}

	atr__sb_puts(&b, "## Policy decisions\n\n| decision | count |\n|---|---:|\n");
	json_object_foreach((json_t *)atr__doc_get(d, "decisions.by_decision"), key, v)
	    md_count(&b, key, (int64_t)json_integer_value(v));
	atr__sb_puts(&b, "\n");
	if (json_array_size(atr__doc_get(d, "decisions.by_rule"))) {
		atr__sb_puts(&b, "| rule | total | ALLOW | DENY | REQUIRE_APPROVAL | other |\n"
		                 "|---|---:|---:|---:|---:|---:|\n");
		json_array_foreach(atr__doc_get(d, "decisions.by_rule"), i, row)
		{
			atr__sb_puts(&b, "| ");
			md_text(&b, json_string_value(json_object_get(row, "rule_id")));
			atr__sb_printf(&b, " | %lld | %lld | %lld | %lld | %lld |\n",
			               (long long)atr__doc_int(row, "total"),
			               (long long)atr__doc_int(row, "ALLOW"),
			               (long long)atr__doc_int(row, "DENY"),
			               (long long)atr__doc_int(row, "REQUIRE_APPROVAL"),
			               (long long)atr__doc_int(row, "other"));
		}
		atr__sb_puts(&b, "\n");
	}

	atr__sb_printf(&b,
	               "## Approvals\n\n%lld opened, %lld resolved (%lld approved, %lld rejected), "
	               "%lld pending at the end of the period.\n\n",
	               (long long)atr__doc_int(d, "approvals.opened"),
	               (long long)atr__doc_int(d, "approvals.resolved"),
	               (long long)atr__doc_int(d, "approvals.approved"),
	               (long long)atr__doc_int(d, "approvals.rejected"),
	               (long long)atr__doc_int(d, "approvals.pending_at_end"));
	md_latency(&b, atr__doc_get(d, "approvals.latency"));

	atr__sb_puts(&b, "## Escalations, retries, aborts, redactions, alerts\n\n"
	                 "| figure | count |\n|---|---:|\n");
	md_count(&b, "escalations", atr__doc_int(d, "interventions.escalation"));
	md_count(&b, "retries", atr__doc_int(d, "interventions.retry"));
	md_count(&b, "aborts", atr__doc_int(d, "interventions.abort"));
	md_count(&b, "redactions", atr__doc_int(d, "redactions.total"));
	md_count(&b, "records with redactions", atr__doc_int(d, "redactions.records"));
	md_count(&b, "alerts", atr__doc_int(d, "alerts.total"));
	atr__sb_puts(&b, "\n");
	if (json_array_size(atr__doc_get(d, "alerts.by_rule"))) {
		atr__sb_puts(&b, "| alert | count |\n|---|---:|\n");
		json_array_foreach(atr__doc_get(d, "alerts.by_rule"), i, row)
		{
			atr__sb_puts(&b, "| ");
			md_text(&b, json_string_value(json_object_get(row, "rule")));
			atr__sb_printf(&b, " | %lld |\n", (long long)atr__doc_int(row, "count"));
		}
		atr__sb_puts(&b, "\n");
	}

	atr__sb_puts(&b, "## Integrity\n\n");
	v = atr__doc_get(d, "checkpoint");
	if (json_is_object(v)) {
		atr__sb_printf(&b, "Checkpoint covering the period: size %lld, root `%s`, origin ",
		               (long long)atr__doc_int(v, "size"),
		               json_string_value(json_object_get(v, "root_hash")));
		md_text(&b, json_string_value(json_object_get(v, "origin")));
		atr__sb_puts(&b, ".\n\n");
	} else if (atr__doc_int(d, "events.total") == 0) {
		atr__sb_puts(&b, "Checkpoint: none needed (no events in the period).\n\n");
	} else {
		atr__sb_printf(&b, "Checkpoint: none stored yet covers seq %lld.\n\n",
		               (long long)atr__doc_int(d, "events.last_seq"));
	}
	v = atr__doc_get(d, "verify");
	if (json_is_true(json_object_get(v, "run")))
		atr__sb_printf(&b, "Verify: %s (%lld records checked).\n",
		               json_string_value(json_object_get(v, "status")),
		               (long long)atr__doc_int(v, "records"));
	else
		atr__sb_puts(&b, "Verify: not run (use --verify).\n");
	return atr__sb_finish(&b, out);
}

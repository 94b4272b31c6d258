/*
 * One event in, one record out (DESIGN.md §2). A strict single-pass parser
 * checks the JSON and writes its canonical form at the same time (Jansson's
 * load alone costs about twice our whole per-event budget); then the header
 * rules run over that canonical text and the record is spliced from it.
 */
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <agentrail/query.h>

#include "event.h"
#include "internal.h"
#include "jscan.h"
#include "redactpriv.h"

/* ------------------------------------------------------------------ */
/* Fields and types                                                    */
/* ------------------------------------------------------------------ */

/* How a field is checked. */
enum kind {
	K_ID,         /* non-empty string, at most ATR_MAX_ID_LEN bytes */
	K_UUID,       /* a UUID, normalized to lower case */
	K_TS,         /* RFC 3339, normalized to UTC with microseconds */
	K_TYPE,       /* a known type or x_[a-z0-9_]+ */
	K_LEVEL,      /* pipeline | agent | decision */
	K_TARGET,     /* non-empty string, at most ATR_MAX_TARGET_LEN */
	K_TEXT,       /* string, at most ATR_MAX_TEXT_LEN, may be empty */
	K_TOKEN,      /* lower-case token [a-z][a-z0-9_]* */
	K_COUNT,      /* integer >= 0 */
	K_INT,        /* integer */
	K_BOOL,       /* true or false */
	K_DECISION,   /* ALLOW | DENY | REQUIRE_APPROVAL */
	K_RESOLUTION, /* pending | approved | rejected */
	K_USAGE,      /* the objects with fixed members */
	K_POLICY,
	K_APPROVAL,
	K_DETAIL, /* any JSON object */
	K_LOG     /* set by the log, never by the producer */
};

/* Every top-level name of an event or a record, sorted bytewise: the record's key order. */
enum field {
	F_ACTOR,
	F_AGENT_ID,
	F_AGENT_VERSION,
	F_APPROVAL,
	F_DETAIL,
	F_DETAIL_COMMIT,
	F_EVENT_ID,
	F_EXIT_CODE,
	F_JOB_ID,
	F_LEVEL,
	F_MODEL,
	F_OUTCOME,
	F_PARENT_EVENT_ID,
	F_POLICY,
	F_REASON,
	F_RECEIVED_AT,
	F_REDACTIONS,
	F_RULES_HASH,
	F_RUN_ID,
	F_SEQ,
	F_SESSION_ID,
	F_STEP,
	F_SYSTEM_PROMPT_HASH,
	F_TARGET,
	F_TRACE_ID,
	F_TS,
	F_TYPE,
	F_USAGE,
	F_USER_ID,
	F_WORKFLOW_STEP_ID,
	NFIELDS
};

struct field_def {
	const char *name;
	enum kind kind;
	size_t len;
};

#define FD(n, k)                                                                                   \
	{                                                                                          \
		n, k, sizeof(n) - 1                                                                \
	}

static const struct field_def fields[NFIELDS] = {
    [F_ACTOR] = FD("actor", K_ID),
    [F_AGENT_ID] = FD("agent_id", K_ID),
    [F_AGENT_VERSION] = FD("agent_version", K_ID),
    [F_APPROVAL] = FD("approval", K_APPROVAL),
    [F_DETAIL] = FD("detail", K_DETAIL),
    [F_DETAIL_COMMIT] = FD("detail_commit", K_LOG),
    [F_EVENT_ID] = FD("event_id", K_UUID),
    [F_EXIT_CODE] = FD("exit_code", K_INT),
    [F_JOB_ID] = FD("job_id", K_ID),
    [F_LEVEL] = FD("level", K_LEVEL),
    [F_MODEL] = FD("model", K_ID),
    [F_OUTCOME] = FD("outcome", K_TOKEN),
    [F_PARENT_EVENT_ID] = FD("parent_event_id", K_UUID),
    [F_POLICY] = FD("policy", K_POLICY),
    [F_REASON] = FD("reason", K_TEXT),
    [F_RECEIVED_AT] = FD("received_at", K_LOG),
    [F_REDACTIONS] = FD("redactions", K_LOG),
    [F_RULES_HASH] = FD("rules_hash", K_ID),
    [F_RUN_ID] = FD("run_id", K_ID),
    [F_SEQ] = FD("seq", K_LOG),
    [F_SESSION_ID] = FD("session_id", K_ID),
    [F_STEP] = FD("step", K_COUNT),
    [F_SYSTEM_PROMPT_HASH] = FD("system_prompt_hash", K_ID),
    [F_TARGET] = FD("target", K_TARGET),
    [F_TRACE_ID] = FD("trace_id", K_ID),
    [F_TS] = FD("ts", K_TS),
    [F_TYPE] = FD("type", K_TYPE),
    [F_USAGE] = FD("usage", K_USAGE),
    [F_USER_ID] = FD("user_id", K_ID),
    [F_WORKFLOW_STEP_ID] = FD("workflow_step_id", K_ID),
};

/* The members of the header objects; any other key is rejected. */
struct sub_def {
	const char *name;
	enum kind kind;
};

static const struct sub_def usage_defs[] = {
    {"input_tokens", K_COUNT},
    {"output_tokens", K_COUNT},
    {"cost_micro_usd", K_COUNT},
    {NULL, K_LOG},
};

static const struct sub_def policy_defs[] = {
    {"rule_id", K_ID},  {"snapshot", K_ID}, {"decision", K_DECISION},
    {"reason", K_TEXT}, {NULL, K_LOG},
};

static const struct sub_def approval_defs[] = {
    {"id", K_ID},          {"required", K_BOOL}, {"resolution", K_RESOLUTION},
    {"resolved_by", K_ID}, {"comment", K_TEXT},  {"job_hash", K_ID},
    {NULL, K_LOG},
};

static const char LV_PIPELINE[] = "pipeline", LV_AGENT[] = "agent", LV_DECISION[] = "decision";

/* Known types, sorted bytewise for binary search. */
#define TY(t, l)                                                                                   \
	{                                                                                          \
		t, l, sizeof(t) - 1                                                                \
	}

static const struct {
	const char *type;
	const char *level;
	size_t len;
} types[] = {
    TY("abort", LV_DECISION),
    TY("alert", LV_DECISION),
    TY("approval_request", LV_DECISION),
    TY("approval_resolved", LV_DECISION),
    TY("command", LV_AGENT),
    TY("complete", LV_DECISION),
    TY("decision", LV_DECISION),
    TY("decomposition", LV_DECISION),
    TY("erasure", LV_DECISION),
    TY("error", LV_AGENT),
    TY("escalation", LV_DECISION),
    TY("file_delete", LV_AGENT),
    TY("file_read", LV_AGENT),
    TY("file_write", LV_AGENT),
    TY("human_intervention", LV_DECISION),
    TY("llm_call", LV_AGENT),
    TY("output", LV_AGENT),
    TY("output_safety", LV_DECISION),
    TY("policy_publish", LV_DECISION),
    TY("policy_rollback", LV_DECISION),
    TY("retry", LV_DECISION),
    TY("session_end", LV_PIPELINE),
    TY("session_start", LV_PIPELINE),
    TY("task_outcome", LV_PIPELINE),
    TY("task_submit", LV_PIPELINE),
    TY("token_change", LV_DECISION),
    TY("tool_call", LV_AGENT),
    TY("tool_result", LV_AGENT),
};

/*
 * What each known type needs beyond 'type' and 'actor' (which every event
 * needs). Besides this table, every decision-level type needs a non-empty
 * 'reason', and approval_resolved needs approval.resolution to be approved
 * or rejected (not pending).
 *
 *   type                               required fields
 *   llm_call                           model
 *   command                            target, exit_code
 *   tool_call                          target (the tool name)
 *   file_read, file_write, file_delete target
 *   approval_request                   approval.id
 *   approval_resolved                  approval.id, approval.resolution, approval.resolved_by
 *   decision                           policy.decision
 */
static const struct {
	const char *type;
	const char *need[3];
} requirements[] = {
    {"llm_call", {"model"}},
    {"command", {"target", "exit_code"}},
    {"tool_call", {"target"}},
    {"file_read", {"target"}},
    {"file_write", {"target"}},
    {"file_delete", {"target"}},
    {"approval_request", {"approval.id"}},
    {"approval_resolved", {"approval.id", "approval.resolution", "approval.resolved_by"}},
    {"decision", {"policy.decision"}},
};

static int span_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static int span_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	return c ? c : (an > bn) - (an < bn);
}

static const char *level_of(const char *s, size_t n)
{
	size_t lo = 0, hi = sizeof(types) / sizeof(types[0]);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = span_cmp(s, n, types[mid].type, types[mid].len);

		if (c == 0)
			return types[mid].level;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const char *atr__type_level(const char *type)
{
	return type ? level_of(type, strlen(type)) : NULL;
}

/* For each letter, the first field name starting with it, or -1. */
static signed char field_first[26];
static pthread_once_t field_first_once = PTHREAD_ONCE_INIT;

static void field_first_init(void)
{
	memset(field_first, -1, sizeof(field_first));
	for (int i = NFIELDS - 1; i >= 0; i--)
		field_first[fields[i].name[0] - 'a'] = (signed char)i;
}

/*
 * Runs for every key of every event: the names sharing a first letter are
 * neighbours in the sorted table, so the letter picks a handful to compare.
 */
static int field_index(const char *s, size_t n)
{
	unsigned c;

	pthread_once(&field_first_once, field_first_init);
	if (n == 0 || (c = (unsigned)((unsigned char)s[0] - 'a')) >= 26)
		return -1;
	for (int i = field_first[c]; i >= 0 && i < NFIELDS && fields[i].name[0] == s[0]; i++)
		if (fields[i].len == n && memcmp(fields[i].name, s, n) == 0)
			return i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* Growable buffers that start on the caller's stack                   */
/* ------------------------------------------------------------------ */

/*
 * Nothing canonical can usefully grow past this: record plus detail is
 * capped at ATR_MAX_EVENT_BYTES and the header cannot make up the rest.
 */
#define BUF_HARD_CAP (2 * (size_t)ATR_MAX_EVENT_BYTES)

struct buf {
	char *p;
	size_t len, cap;
	char *heap; /* == p once the stack array is outgrown */
};

static int buf_grow(struct buf *b, size_t need)
{
	size_t cap = b->cap;
	char *np;

	if (b->len + need > BUF_HARD_CAP)
		return atr__err(ATR_ETOOBIG,
		                "the event is over %zu bytes as canonical JSON; the limit is %u",
		                BUF_HARD_CAP, ATR_MAX_EVENT_BYTES);
	while (cap < b->len + need)
		cap *= 2;
	if (cap > BUF_HARD_CAP)
		cap = BUF_HARD_CAP;
	if (b->heap) {
		np = realloc(b->heap, cap);
	} else {
		np = malloc(cap);
		if (np)
			memcpy(np, b->p, b->len);
	}
	if (!np)
		return atr__err(ATR_ENOMEM, "out of memory for a %zu-byte event", cap);
	b->p = b->heap = np;
	b->cap = cap;
	return 0;
}

static inline int reserve(struct buf *b, size_t n)
{
	return b->cap - b->len >= n ? 0 : buf_grow(b, n);
}

/* Callers reserve first. */
static inline void put(struct buf *b, const void *s, size_t n)
{
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static inline void putc_(struct buf *b, char c)
{
	b->p[b->len++] = c;
}

static int put_checked(struct buf *b, const void *s, size_t n)
{
	int rc = reserve(b, n);

	if (rc == 0)
		put(b, s, n);
	return rc;
}

/* Decimal text of 'v' into 'out' (21 bytes); returns the length. */
static size_t fmt_i64(char *out, int64_t v)
{
	char tmp[21];
	size_t n = 0, len = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		out[len++] = '-';
	while (n)
		out[len++] = tmp[--n];
	return len;
}

/* ------------------------------------------------------------------ */
/* The canonicalizing parser                                           */
/* ------------------------------------------------------------------ */

enum vtype { V_STR, V_INT, V_REAL, V_TRUE, V_FALSE, V_NULL, V_OBJ, V_ARR };

/* A step of the path to the value being parsed: an object key or an array index. */
struct seg {
	size_t off, len; /* the key's canonical text (between the quotes) in 'out' */
	long idx;        /* >= 0 for an array element */
};

/* One object member as written to 'out': "key":value from 'start' to 'end'. */
struct member {
	size_t start, kend, end;
	int esc; /* the key's canonical text holds an escape */
};

struct parser {
	const char *in, *s, *end;
	struct buf *out, *tmp;
	struct member *mem;
	size_t nmem, capmem;
	struct member *mem_heap;
	struct seg path[ATR_MAX_DEPTH];
	int depth;       /* containers open, the event object included */
	size_t strlimit; /* the longest string (decoded bytes) the current field may hold */
	int last_esc;    /* the last string's canonical text holds an escape */
};

#define ONES  UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/*
 * The first byte at or after 's' that is not plain printable ASCII (a quote,
 * a backslash, a control character or a byte >= 0x80), or 'end'. Strings
 * are most of an event's bytes, so this is the parser's inner loop: 16
 * bytes a step with SSE2, else 8 with word tricks, else one.
 */
static inline const char *scan_plain(const char *s, const char *end)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i space = _mm_set1_epi8(0x20);

	while (end - s >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
		/* Signed compare: bytes >= 0x80 are negative, so below 0x20 too. */
		__m128i m =
		    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
		                 _mm_cmplt_epi8(v, space));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);

		if (mask)
			return s + __builtin_ctz(mask);
		s += 16;
	}
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (end - s >= 8) {
		uint64_t v, m;

		memcpy(&v, s, 8);
		/* Exact for the lowest flagged byte, which is all we use. */
		m = (((v ^ (ONES * '"')) - ONES) & ~(v ^ (ONES * '"'))) |
		    (((v ^ (ONES * '\\')) - ONES) & ~(v ^ (ONES * '\\'))) |
		    ((v - ONES * 0x20) & ~v) | v;
		m &= HIGHS;
		if (m)
			return s + (__builtin_ctzll(m) >> 3);
		s += 8;
	}
#endif
	while (s < end) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
			break;
		s++;
	}
	return s;
}

/* The dotted path of the first 'n' steps, e.g. "detail.items[2].name". */
static const char *path_text(const struct parser *p, int n, char *dst, size_t size)
{
	size_t len = 0;

	dst[0] = '\0';
	for (int i = 0; i < n && len + 1 < size; i++) {
		const struct seg *g = &p->path[i];
		int w;

		if (g->idx >= 0)
			w = snprintf(dst + len, size - len, "[%ld]", g->idx);
		else
			w = snprintf(dst + len, size - len, "%s%.*s", i ? "." : "",
			             (int)(g->len > 64 ? 64 : g->len), p->out->p + g->off);
		if (w < 0)
			break;
		len += (size_t)w;
	}
	return dst;
}

static int syntax(const struct parser *p, const char *at, const char *what)
{
	long line = 1, col = 1;

	for (const char *q = p->in; q < at && q < p->end; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	return atr__err(ATR_EINVALID, "malformed JSON at line %ld column %ld: %s", line, col, what);
}

/* An error about the value being parsed (is_key: about a key of the current object). */
static int value_err(const struct parser *p, int code, int is_key, const char *what)
{
	char path[512];
	int n = is_key ? p->depth - 1 : p->depth;

	path_text(p, n, path, sizeof(path));
	if (is_key && n == 0)
		return atr__err(code, "a key of the event %s", what);
	if (is_key)
		return atr__err(code, "a key of '%s' %s", path, what);
	return atr__err(code, "field '%s' %s", path, what);
}

static int bad_utf8(const struct parser *p, int is_key, size_t at)
{
	char path[512];
	int n = is_key ? p->depth - 1 : p->depth;

	path_text(p, n, path, sizeof(path));
	if (!is_key)
		return atr__err(ATR_EINVALID, "invalid UTF-8 at byte %zu in field '%s'", at, path);
	if (n == 0)
		return atr__err(ATR_EINVALID, "invalid UTF-8 at byte %zu in a key of the event",
		                at);
	return atr__err(ATR_EINVALID, "invalid UTF-8 at byte %zu in a key of '%s'", at, path);
}

/* Length of the valid UTF-8 sequence of 2-4 bytes at 's', or 0 (RFC 3629: no overlongs, no
 * surrogates). */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
	unsigned c = s[0];
	size_t n = (size_t)(end - s);

	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

		return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

		return n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 &&
		               (s[3] & 0xc0) == 0x80
		           ? 4
		           : 0;
	}
	return 0;
}

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/*
 * Write code point 'cp' the canonical way (Jansson's, so tools that
 * re-serialize with json_dumpb agree): the two-character escapes, \u00XX
 * with upper-case hex for other control characters, UTF-8 for the rest.
 * Returns the bytes written.
 */
static size_t put_codepoint(char *o, unsigned cp)
{
	static const char hex[] = "0123456789ABCDEF";

	switch (cp) {
	case '"':
		memcpy(o, "\\\"", 2);
		return 2;
	case '\\':
		memcpy(o, "\\\\", 2);
		return 2;
	case '\b':
		memcpy(o, "\\b", 2);
		return 2;
	case '\f':
		memcpy(o, "\\f", 2);
		return 2;
	case '\n':
		memcpy(o, "\\n", 2);
		return 2;
	case '\r':
		memcpy(o, "\\r", 2);
		return 2;
	case '\t':
		memcpy(o, "\\t", 2);
		return 2;
	default:
		break;
	}
	if (cp < 0x20) {
		memcpy(o, "\\u00", 4);
		o[4] = hex[cp >> 4];
		o[5] = hex[cp & 15];
		return 6;
	}
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static size_t utf8_size(unsigned cp)
{
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* Decode the escape at 's' (just after the backslash); returns the code point or -1. */
static long parse_escape(const struct parser *p, const char **sp)
{
	const char *s = *sp;
	unsigned cp, lo;

	if (s >= p->end)
		return -1;
	switch (*s) {
	case '"':
		*sp = s + 1;
		return '"';
	case '\\':
		*sp = s + 1;
		return '\\';
	case '/':
		*sp = s + 1;
		return '/';
	case 'b':
		*sp = s + 1;
		return '\b';
	case 'f':
		*sp = s + 1;
		return '\f';
	case 'n':
		*sp = s + 1;
		return '\n';
	case 'r':
		*sp = s + 1;
		return '\r';
	case 't':
		*sp = s + 1;
		return '\t';
	case 'u':
		break;
	default:
		return -1;
	}
	if (p->end - s < 5 || hex4(s + 1, &cp) != 0)
		return -1;
	s += 5;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return -2;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		/* A high surrogate must be followed by an escaped low one. */
		if (p->end - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &lo) != 0 ||
		    lo < 0xdc00 || lo > 0xdfff)
			return -2;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		s += 6;
	}
	*sp = s;
	return (long)cp;
}

/*
 * 'p->s' is at the opening quote. Writes the canonical string, quotes
 * included. Past 'p->strlimit' decoded bytes it stops writing but keeps
 * checking and counting, so the error can say how long the string was.
 */
static int parse_string(struct parser *p, int is_key)
{
	struct buf *o = p->out;
	const char *s = p->s + 1, *end = p->end;
	size_t start = o->len, decoded = 0;
	int over = 0, esc = 0, rc;

	if ((rc = reserve(o, 1)) != 0)
		return rc;
	putc_(o, '"');
	for (;;) {
		const char *run = s;
		size_t n;

		/* Plain ASCII in blocks, then valid multi-byte sequences. */
		for (;;) {
			s = scan_plain(s, end);
			if (s >= end || (unsigned char)*s < 0x80)
				break;
			size_t k = utf8_len((const unsigned char *)s, (const unsigned char *)end);

			if (!k)
				break;
			s += k;
		}
		n = (size_t)(s - run);
		decoded += n;
		if (!over && decoded > p->strlimit) {
			over = 1;
			o->len = start;
		}
		if (!over) {
			if ((rc = reserve(o, n + 6)) != 0)
				return rc;
			put(o, run, n);
		}
		if (s >= end)
			return syntax(p, p->s, "unterminated string");
		unsigned char c = (unsigned char)*s;

		if (c == '"') {
			s++;
			break;
		}
		if (c >= 0x80)
			return bad_utf8(p, is_key, (size_t)(s - p->in));
		if (c < 0x20) {
			char what[80];

			snprintf(what, sizeof(what),
			         "unescaped control character 0x%02x in a string", c);
			return syntax(p, s, what);
		}
		/* A backslash. */
		const char *at = s;
		long cp;

		s++;
		cp = parse_escape(p, &s);
		if (cp == -1)
			return syntax(p, at, "invalid escape in a string");
		if (cp == -2)
			return value_err(p, ATR_EINVALID, is_key,
			                 "holds an unpaired UTF-16 surrogate escape");
		if (cp == 0)
			return value_err(p, ATR_EINVALID, is_key, "contains \\u0000");
		decoded += utf8_size((unsigned)cp);
		if (!over && decoded > p->strlimit) {
			over = 1;
			o->len = start;
		}
		if (!over) {
			size_t w = put_codepoint(o->p + o->len, (unsigned)cp);

			esc |= w > 1 && o->p[o->len] == '\\';
			o->len += w;
		}
	}
	if (over) {
		char what[96];

		snprintf(what, sizeof(what), "is %zu bytes; the limit is %zu", decoded,
		         p->strlimit);
		return value_err(p, ATR_ETOOBIG, is_key, what);
	}
	if ((rc = reserve(o, 1)) != 0)
		return rc;
	putc_(o, '"');
	p->s = s;
	p->last_esc = esc;
	return V_STR;
}

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/*
 * A real, written as Jansson writes it: %.17g, ".0" appended when the text
 * would read back as an integer, the exponent without '+' or leading zeros.
 */
static int put_real(struct parser *p, const char *tok, size_t n)
{
	char small[64], *num = small, text[40], *e;
	double d;
	int len, rc;
	locale_t old;

	if (n >= sizeof(small) && !(num = malloc(n + 1)))
		return atr__err(ATR_ENOMEM, "out of memory");
	memcpy(num, tok, n);
	num[n] = '\0';
	pthread_once(&c_locale_once, c_locale_init);
	/* Both directions in the C locale: a decimal comma would change the bytes. */
	old = c_locale ? uselocale(c_locale) : (locale_t)0;
	d = strtod(num, NULL);
	len = snprintf(text, sizeof(text), "%.17g", d);
	if (old)
		uselocale(old);
	if (num != small)
		free(num);
	if (isinf(d) || len < 0 || (size_t)len >= sizeof(text) - 3)
		return value_err(p, ATR_EINVALID, 0, "is a number outside the range of a double");
	if (!strchr(text, '.') && !strchr(text, 'e')) {
		memcpy(text + len, ".0", 3);
		len += 2;
	}
	if ((e = strchr(text, 'e')) != NULL) {
		char *src = e + 1, *dst = e + 1;

		if (*src == '-')
			*dst++ = *src++;
		else if (*src == '+')
			src++;
		while (*src == '0' && src[1])
			src++;
		memmove(dst, src, strlen(src) + 1);
		len = (int)strlen(text);
	}
	if ((rc = put_checked(p->out, text, (size_t)len)) != 0)
		return rc;
	return V_REAL;
}

static int parse_number(struct parser *p)
{
	const char *s = p->s, *start = s, *end = p->end;
	int real = 0, neg = 0, rc;
	uint64_t u = 0;
	int overflow = 0;

	if (*s == '-') {
		neg = 1;
		s++;
	}
	if (s >= end || *s < '0' || *s > '9')
		return syntax(p, start, "invalid number");
	if (*s == '0') {
		s++;
		if (s < end && *s >= '0' && *s <= '9')
			return syntax(p, start, "invalid number (leading zero)");
	} else {
		while (s < end && *s >= '0' && *s <= '9') {
			unsigned dgt = (unsigned)(*s - '0');

			if (u > (UINT64_MAX - dgt) / 10)
				overflow = 1;
			else
				u = u * 10 + dgt;
			s++;
		}
	}
	if (s < end && *s == '.') {
		real = 1;
		s++;
		if (s >= end || *s < '0' || *s > '9')
			return syntax(p, start, "invalid number (no digit after '.')");
		while (s < end && *s >= '0' && *s <= '9')
			s++;
	}
	if (s < end && (*s == 'e' || *s == 'E')) {
		real = 1;
		s++;
		if (s < end && (*s == '+' || *s == '-'))
			s++;
		if (s >= end || *s < '0' || *s > '9')
			return syntax(p, start, "invalid number (no digit in the exponent)");
		while (s < end && *s >= '0' && *s <= '9')
			s++;
	}
	p->s = s;
	if (real)
		return put_real(p, start, (size_t)(s - start));
	if (overflow || u > (uint64_t)INT64_MAX + (uint64_t)neg)
		return value_err(p, ATR_EINVALID, 0, "is an integer outside the 64-bit range");
	{
		char text[21];
		int64_t v = neg ? (int64_t)(0 - u) : (int64_t)u;

		if ((rc = put_checked(p->out, text, fmt_i64(text, v))) != 0)
			return rc;
	}
	return V_INT;
}

static int parse_value(struct parser *p);

/* Write the closing bracket; returns the container's type or a negative status. */
static int close_with(struct parser *p, char c, int type)
{
	int rc = put_checked(p->out, &c, 1);

	return rc ? rc : type;
}

static inline void skip_ws(struct parser *p)
{
	const char *s = p->s;

	while (s < p->end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
		s++;
	p->s = s;
}

static int enter(struct parser *p)
{
	if (p->depth >= ATR_MAX_DEPTH) {
		char what[64];

		snprintf(what, sizeof(what), "nests deeper than %d levels", ATR_MAX_DEPTH);
		return value_err(p, ATR_ETOOBIG, 0, what);
	}
	p->depth++;
	return 0;
}

/*
 * Compare two canonical key texts by their decoded bytes, as Jansson's
 * JSON_SORT_KEYS does. Only keys holding escapes take the slow path.
 */
static int next_decoded(const char **s, const char *e)
{
	unsigned v;
	int c;

	if (*s >= e)
		return -1;
	c = (unsigned char)*(*s)++;
	if (c != '\\')
		return c;
	c = (unsigned char)*(*s)++;
	switch (c) {
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case 'u':
		/* Canonical text only escapes control characters: \u00XX. */
		v = hex4(*s, &v) == 0 ? v : 0;
		*s += 4;
		return (int)v;
	default:
		return c;
	}
}

static int key_cmp(const char *base, const struct member *a, const struct member *b)
{
	const char *as = base + a->start + 1, *ae = base + a->kend - 1;
	const char *bs = base + b->start + 1, *be = base + b->kend - 1;

	if (!a->esc && !b->esc)
		return span_cmp(as, (size_t)(ae - as), bs, (size_t)(be - bs));
	for (;;) {
		int x = next_decoded(&as, ae), y = next_decoded(&bs, be);

		if (x != y || x < 0)
			return x - y;
	}
}

static int member_cmp(const void *a, const void *b, void *base)
{
	return key_cmp(base, a, b);
}

static int push_member(struct parser *p, const struct member *m)
{
	if (p->nmem == p->capmem) {
		size_t cap = p->capmem * 2;
		struct member *nm = malloc(cap * sizeof(*nm));

		if (!nm)
			return atr__err(ATR_ENOMEM, "out of memory");
		memcpy(nm, p->mem, p->nmem * sizeof(*nm));
		free(p->mem_heap);
		p->mem = p->mem_heap = nm;
		p->capmem = cap;
	}
	p->mem[p->nmem++] = *m;
	return 0;
}

static int dup_key(struct parser *p, const struct member *m)
{
	char path[512];

	p->path[p->depth - 1] =
	    (struct seg){.off = m->start + 1, .len = m->kend - m->start - 2, .idx = -1};
	return atr__err(ATR_EINVALID, "duplicate key '%s'",
	                path_text(p, p->depth, path, sizeof(path)));
}

/* Put the members [base, nmem) of the object into key order, in place. */
static int sort_members(struct parser *p, size_t base)
{
	struct member *m = p->mem + base;
	size_t n = p->nmem - base, from = m[0].start, to = p->mem[p->nmem - 1].end, w;
	struct buf *t = p->tmp;
	int rc;

	qsort_r(m, n, sizeof(*m), member_cmp, p->out->p);
	for (size_t i = 1; i < n; i++)
		if (key_cmp(p->out->p, &m[i - 1], &m[i]) == 0)
			return dup_key(p, &m[i]);
	t->len = 0;
	if ((rc = put_checked(t, p->out->p + from, to - from)) != 0)
		return rc;
	w = from;
	for (size_t i = 0; i < n; i++) {
		size_t len = m[i].end - m[i].start;

		if (i)
			p->out->p[w++] = ',';
		memcpy(p->out->p + w, t->p + (m[i].start - from), len);
		w += len;
	}
	return 0;
}

/* After '{' or ',' in an object: "key": value, written as "key":value. */
static int parse_member(struct parser *p, struct member *m)
{
	int rc;

	if (p->s >= p->end || *p->s != '"')
		return syntax(p, p->s, "expected a string key");
	m->start = p->out->len;
	if ((rc = parse_string(p, 1)) < 0)
		return rc;
	m->kend = p->out->len;
	m->esc = p->last_esc;
	skip_ws(p);
	if (p->s >= p->end || *p->s != ':')
		return syntax(p, p->s, "expected ':' after a key");
	p->s++;
	skip_ws(p);
	if ((rc = put_checked(p->out, ":", 1)) != 0)
		return rc;
	p->path[p->depth - 1] =
	    (struct seg){.off = m->start + 1, .len = m->kend - m->start - 2, .idx = -1};
	return 0;
}

static int parse_object(struct parser *p)
{
	size_t base = p->nmem;
	int rc, sorted = 1;

	if ((rc = enter(p)) != 0 || (rc = put_checked(p->out, "{", 1)) != 0)
		return rc;
	p->s++;
	skip_ws(p);
	if (p->s < p->end && *p->s == '}') {
		p->s++;
		p->depth--;
		return close_with(p, '}', V_OBJ);
	}
	for (;;) {
		struct member m;

		if ((rc = parse_member(p, &m)) != 0 || (rc = parse_value(p)) < 0)
			return rc;
		m.end = p->out->len;
		if (p->nmem > base) {
			int c = key_cmp(p->out->p, &p->mem[p->nmem - 1], &m);

			if (c == 0)
				return dup_key(p, &m);
			sorted &= c < 0;
		}
		if ((rc = push_member(p, &m)) != 0)
			return rc;
		skip_ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			skip_ws(p);
			if ((rc = put_checked(p->out, ",", 1)) != 0)
				return rc;
			continue;
		}
		if (p->s < p->end && *p->s == '}')
			break;
		return syntax(p, p->s, "expected ',' or '}' in an object");
	}
	p->s++;
	if (!sorted && (rc = sort_members(p, base)) != 0)
		return rc;
	p->nmem = base;
	p->depth--;
	return close_with(p, '}', V_OBJ);
}

static int parse_array(struct parser *p)
{
	long idx = 0;
	int rc;

	if ((rc = enter(p)) != 0 || (rc = put_checked(p->out, "[", 1)) != 0)
		return rc;
	p->s++;
	skip_ws(p);
	if (p->s < p->end && *p->s == ']') {
		p->s++;
		p->depth--;
		return close_with(p, ']', V_ARR);
	}
	for (;;) {
		p->path[p->depth - 1] = (struct seg){.idx = idx++};
		if ((rc = parse_value(p)) < 0)
			return rc;
		skip_ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			skip_ws(p);
			if ((rc = put_checked(p->out, ",", 1)) != 0)
				return rc;
			continue;
		}
		if (p->s < p->end && *p->s == ']')
			break;
		return syntax(p, p->s, "expected ',' or ']' in an array");
	}
	p->s++;
	p->depth--;
	return close_with(p, ']', V_ARR);
}

static int parse_literal(struct parser *p, const char *lit, size_t n, int type)
{
	int rc;

	if ((size_t)(p->end - p->s) < n || memcmp(p->s, lit, n) != 0)
		return syntax(p, p->s, "invalid literal");
	p->s += n;
	if ((rc = put_checked(p->out, lit, n)) != 0)
		return rc;
	return type;
}

/* Returns the value's enum vtype, or a negative status. */
static int parse_value(struct parser *p)
{
	char what[48];
	unsigned char c;

	if (p->s >= p->end)
		return syntax(p, p->s, "unexpected end of input");
	c = (unsigned char)*p->s;
	switch (c) {
	case '"':
		return parse_string(p, 0);
	case '{':
		return parse_object(p);
	case '[':
		return parse_array(p);
	case 't':
		return parse_literal(p, "true", 4, V_TRUE);
	case 'f':
		return parse_literal(p, "false", 5, V_FALSE);
	case 'n':
		return parse_literal(p, "null", 4, V_NULL);
	default:
		break;
	}
	if (c == '-' || (c >= '0' && c <= '9'))
		return parse_number(p);
	if (c >= 0x20 && c < 0x7f)
		snprintf(what, sizeof(what), "unexpected character '%c'", c);
	else
		snprintf(what, sizeof(what), "unexpected byte 0x%02x", c);
	return syntax(p, p->s, what);
}

/* ------------------------------------------------------------------ */
/* The event object and its header rules                               */
/* ------------------------------------------------------------------ */

/* A value's canonical text, read back for the checks. */
struct val {
	enum vtype type;
	const char *text; /* the whole canonical value */
	size_t len;
	const char *str; /* for strings: the text between the quotes */
	size_t slen;     /* ... its length, and its decoded length in bytes */
	size_t dlen;
	int64_t ival;
};

static void val_read(struct val *v, const char *text, size_t len)
{
	v->text = text;
	v->len = len;
	v->str = NULL;
	v->slen = v->dlen = 0;
	v->ival = 0;
	switch (text[0]) {
	case '"': {
		const char *s = text + 1, *e = text + len - 1, *q;

		v->type = V_STR;
		v->str = s;
		v->slen = v->dlen = (size_t)(e - s);
		/* Canonical escapes: \uXXXX stands for one byte, the others too. */
		while ((q = memchr(s, '\\', (size_t)(e - s))) != NULL) {
			size_t w = q[1] == 'u' ? 6 : 2;

			v->dlen -= w - 1;
			s = q + w;
		}
		return;
	}
	case '{':
		v->type = V_OBJ;
		return;
	case '[':
		v->type = V_ARR;
		return;
	case 't':
		v->type = V_TRUE;
		return;
	case 'f':
		v->type = V_FALSE;
		return;
	case 'n':
		v->type = V_NULL;
		return;
	default:
		break;
	}
	if (memchr(text, '.', len) || memchr(text, 'e', len)) {
		v->type = V_REAL;
		return;
	}
	v->type = V_INT;
	{
		uint64_t u = 0;
		size_t i = text[0] == '-';

		for (; i < len; i++)
			u = u * 10 + (uint64_t)(text[i] - '0');
		v->ival = text[0] == '-' ? (int64_t)(0 - u) : (int64_t)u;
	}
}

/* printf arguments for "%.*s": a string value, at most 64 bytes of it. */
#define SHOW(v) (int)((v)->slen > 64 ? 64 : (v)->slen), (v)->str

static const char *describe(const struct val *v, char *buf, size_t size)
{
	switch (v->type) {
	case V_STR:
		return "a string";
	case V_OBJ:
		return "an object";
	case V_ARR:
		return "an array";
	default:
		snprintf(buf, size, "%.*s", (int)(v->len > 40 ? 40 : v->len), v->text);
		return buf;
	}
}

static int wrong_type(const char *name, const char *want, const struct val *v)
{
	char b[48];

	return atr__err(ATR_EINVALID, "field '%s' must be %s, not %s", name, want,
	                describe(v, b, sizeof(b)));
}

static int check_len(const char *name, const struct val *v, size_t limit, int nonempty)
{
	if (nonempty && v->dlen == 0)
		return atr__err(ATR_EINVALID, "field '%s' must not be empty", name);
	if (v->dlen > limit)
		return atr__err(ATR_ETOOBIG, "field '%s' is %zu bytes; the limit is %zu", name,
		                v->dlen, limit);
	return 0;
}

static int is_token(const char *s, size_t n, size_t from)
{
	if (n <= from || n > ATR_MAX_ID_LEN)
		return 0;
	for (size_t i = from; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

static int one_of(const struct val *v, const char *const *opts)
{
	for (; *opts; opts++)
		if (span_eq(v->str, v->slen, *opts))
			return 1;
	return 0;
}

static int check_members(const char *name, const struct val *v, const struct sub_def *defs);

/* Check 'v' against what 'kind' allows; 'name' is its dotted path. */
static int check_value(const char *name, enum kind kind, const struct val *v)
{
	static const char *const levels[] = {LV_PIPELINE, LV_AGENT, LV_DECISION, NULL};
	static const char *const decisions[] = {"ALLOW", "DENY", "REQUIRE_APPROVAL", NULL};
	static const char *const resolutions[] = {"pending", "approved", "rejected", NULL};
	uint8_t id[16];
	char text[40];

	switch (kind) {
	case K_ID:
	case K_UUID:
	case K_TS:
	case K_TYPE:
	case K_LEVEL:
	case K_TARGET:
	case K_TEXT:
	case K_TOKEN:
	case K_DECISION:
	case K_RESOLUTION:
		if (v->type != V_STR)
			return wrong_type(name, "a string", v);
		break;
	case K_COUNT:
	case K_INT:
		if (v->type != V_INT)
			return wrong_type(name, "an integer", v);
		if (kind == K_COUNT && v->ival < 0)
			return atr__err(ATR_EINVALID,
			                "field '%s' must be a non-negative integer, not %" PRId64,
			                name, v->ival);
		return 0;
	case K_BOOL:
		return v->type == V_TRUE || v->type == V_FALSE
		           ? 0
		           : wrong_type(name, "true or false", v);
	case K_USAGE:
	case K_POLICY:
	case K_APPROVAL:
		if (v->type != V_OBJ)
			return wrong_type(name, "an object", v);
		return check_members(name, v,
		                     kind == K_USAGE    ? usage_defs
		                     : kind == K_POLICY ? policy_defs
		                                        : approval_defs);
	case K_DETAIL:
		return v->type == V_OBJ ? 0 : wrong_type(name, "an object", v);
	case K_LOG:
		return atr__err(ATR_EINVALID, "field '%s' is set by the log and cannot be given",
		                name);
	}

	switch (kind) {
	case K_ID:
		return check_len(name, v, ATR_MAX_ID_LEN, 1);
	case K_TARGET:
		return check_len(name, v, ATR_MAX_TARGET_LEN, 1);
	case K_TEXT:
		return check_len(name, v, ATR_MAX_TEXT_LEN, 0);
	case K_UUID:
		if (v->slen == 36) {
			memcpy(text, v->str, 36);
			text[36] = '\0';
			if (atr__uuid_parse(id, text) == 0)
				return 0;
		}
		return atr__err(ATR_EINVALID,
		                "field '%s' must be a UUID like "
		                "'0190a5d2-ac96-7c4b-bcce-b302099a8057', not '%.*s'",
		                name, SHOW(v));
	case K_TS: {
		int64_t us;
		int rc;

		if (v->slen >= sizeof(text))
			return atr__err(
			    ATR_EINVALID,
			    "field '%s' must be an RFC 3339 timestamp, not a %zu-byte string", name,
			    v->slen);
		memcpy(text, v->str, v->slen);
		text[v->slen] = '\0';
		if ((rc = atr_time_parse(text, &us)) != 0)
			return atr__err_prefix(rc, "field '%s'", name);
		return 0;
	}
	case K_TYPE:
		if (level_of(v->str, v->slen))
			return 0;
		if (v->slen >= 2 && memcmp(v->str, "x_", 2) == 0 && is_token(v->str, v->slen, 2))
			return 0;
		return atr__err(ATR_EINVALID,
		                "field '%s' is '%.*s', not a known type; custom types must "
		                "match x_[a-z0-9_]+",
		                name, SHOW(v));
	case K_LEVEL:
		return one_of(v, levels) ? 0
		                         : atr__err(ATR_EINVALID,
		                                    "field '%s' must be 'pipeline', 'agent' or "
		                                    "'decision', not '%.*s'",
		                                    name, SHOW(v));
	case K_TOKEN:
		if (v->slen && v->str[0] >= 'a' && v->str[0] <= 'z' && is_token(v->str, v->slen, 0))
			return 0;
		return atr__err(ATR_EINVALID,
		                "field '%s' must be a lower-case token like 'success', not '%.*s'",
		                name, SHOW(v));
	case K_DECISION:
		return one_of(v, decisions) ? 0
		                            : atr__err(ATR_EINVALID,
		                                       "field '%s' must be 'ALLOW', 'DENY' or "
		                                       "'REQUIRE_APPROVAL', not '%.*s'",
		                                       name, SHOW(v));
	case K_RESOLUTION:
		return one_of(v, resolutions) ? 0
		                              : atr__err(ATR_EINVALID,
		                                         "field '%s' must be 'pending', 'approved' "
		                                         "or 'rejected', not '%.*s'",
		                                         name, SHOW(v));
	default:
		return 0;
	}
}

/* The members of a header object, in canonical text: known names, right kinds. */
static int check_members(const char *name, const struct val *v, const struct sub_def *defs)
{
	const char *s = v->text + 1, *end = v->text + v->len;
	char path[96];
	int rc;

	while (*s == '"') {
		const char *k = s + 1, *ke = atr__json_skip(s, end), *ve;
		const struct sub_def *d;
		struct val sub;

		ke--; /* at the closing quote */
		ve = atr__json_skip(ke + 2, end);
		for (d = defs; d->name; d++)
			if (span_eq(k, (size_t)(ke - k), d->name))
				break;
		snprintf(path, sizeof(path), "%s.%.*s", name, (int)((ke - k) > 64 ? 64 : ke - k),
		         k);
		if (!d->name)
			return atr__err(ATR_EINVALID, "unknown field '%s'", path);
		val_read(&sub, ke + 2, (size_t)(ve - (ke + 2)));
		if ((rc = check_value(path, d->kind, &sub)) != 0)
			return rc;
		s = *ve == ',' ? ve + 1 : ve;
	}
	return 0;
}

/* Where each top-level member sits in 'out': "name":value is [start, end), the value from 'vstart'.
 */
struct slot {
	size_t start, vstart, end;
	int given;
};

struct event_parse {
	struct slot slot[NFIELDS];
	char unknown[72]; /* the first unknown key, if any */
	int has_unknown;
};

static int parse_event(struct parser *p, struct event_parse *ep)
{
	int rc;

	skip_ws(p);
	if (p->s >= p->end)
		return atr__err(ATR_EINVALID, "empty input: an event is a JSON object");
	if (*p->s != '{') {
		static const char *const names[] = {
		    [V_STR] = "a string", [V_INT] = "a number",  [V_REAL] = "a number",
		    [V_TRUE] = "true",    [V_FALSE] = "false",   [V_NULL] = "null",
		    [V_ARR] = "an array", [V_OBJ] = "an object",
		};
		int t;

		p->strlimit = ATR_MAX_EVENT_BYTES;
		if ((t = parse_value(p)) < 0)
			return t;
		return atr__err(ATR_EINVALID, "an event must be a JSON object, not %s", names[t]);
	}
	p->depth = 1;
	p->s++;
	skip_ws(p);
	if (p->s < p->end && *p->s == '}') {
		p->s++;
	} else {
		for (;;) {
			struct member m;
			int f;

			p->strlimit = ATR_MAX_ID_LEN;
			if ((rc = parse_member(p, &m)) != 0)
				return rc;
			f = m.esc ? -1 : field_index(p->out->p + m.start + 1, m.kend - m.start - 2);
			if (f >= 0 && ep->slot[f].given)
				return atr__err(ATR_EINVALID, "duplicate field '%s'",
				                fields[f].name);
			switch (f < 0 ? K_DETAIL : fields[f].kind) {
			case K_TARGET:
				p->strlimit = ATR_MAX_TARGET_LEN;
				break;
			case K_TEXT:
			case K_USAGE:
			case K_POLICY:
			case K_APPROVAL:
				p->strlimit = ATR_MAX_TEXT_LEN;
				break;
			case K_DETAIL:
			case K_LOG:
				p->strlimit = ATR_MAX_EVENT_BYTES;
				break;
			default:
				p->strlimit = ATR_MAX_ID_LEN;
				break;
			}
			if ((rc = parse_value(p)) < 0)
				return rc;
			if (f >= 0) {
				ep->slot[f] = (struct slot){.start = m.start,
				                            .vstart = m.kend + 1,
				                            .end = p->out->len,
				                            .given = 1};
			} else {
				if (!ep->has_unknown) {
					size_t n = m.kend - m.start - 2;

					snprintf(ep->unknown, sizeof(ep->unknown), "%.*s",
					         (int)(n > 64 ? 64 : n), p->out->p + m.start + 1);
					ep->has_unknown = 1;
				}
				p->out->len = m.start;
			}
			skip_ws(p);
			if (p->s < p->end && *p->s == ',') {
				p->s++;
				skip_ws(p);
				continue;
			}
			if (p->s < p->end && *p->s == '}') {
				p->s++;
				break;
			}
			return syntax(p, p->s, "expected ',' or '}' in an object");
		}
	}
	skip_ws(p);
	if (p->s != p->end)
		return syntax(p, p->s, "unexpected text after the event");
	return 0;
}

static void slot_val(const struct parser *p, const struct slot *s, struct val *v)
{
	val_read(v, p->out->p + s->vstart, s->end - s->vstart);
}

/* A field by dotted name ("model", "approval.id"); 0 if present. */
static int find_field(const struct parser *p, const struct event_parse *ep, const char *name,
                      struct val *v)
{
	const char *dot = strchr(name, '.');
	int f = field_index(name, dot ? (size_t)(dot - name) : strlen(name));
	const char *sub;
	size_t sublen;

	if (f < 0 || !ep->slot[f].given)
		return -1;
	slot_val(p, &ep->slot[f], v);
	if (!dot)
		return 0;
	if (atr__json_member(v->text, v->len, dot + 1, &sub, &sublen) != 0)
		return -1;
	val_read(v, sub, sublen);
	return 0;
}

/* The header rules of DESIGN.md §2; on success '*level' is the event's level. */
static int validate(const struct parser *p, const struct event_parse *ep, const char **level)
{
	struct val type, v;
	const char *known;
	int rc;

	if (ep->has_unknown)
		return atr__err(ATR_EINVALID, "unknown field '%s'; put free-form data in 'detail'",
		                ep->unknown);
	if (!ep->slot[F_TYPE].given)
		return atr__err(ATR_EINVALID, "missing required field 'type'");
	slot_val(p, &ep->slot[F_TYPE], &type);
	if ((rc = check_value("type", K_TYPE, &type)) != 0)
		return rc;
	for (int f = 0; f < NFIELDS; f++) {
		if (f == F_TYPE || !ep->slot[f].given)
			continue;
		slot_val(p, &ep->slot[f], &v);
		if ((rc = check_value(fields[f].name, fields[f].kind, &v)) != 0)
			return rc;
	}

	known = level_of(type.str, type.slen);
	if (ep->slot[F_LEVEL].given) {
		slot_val(p, &ep->slot[F_LEVEL], &v);
		*level = span_eq(v.str, v.slen, LV_PIPELINE) ? LV_PIPELINE
		         : span_eq(v.str, v.slen, LV_AGENT)  ? LV_AGENT
		                                             : LV_DECISION;
		if (known && known != *level)
			return atr__err(ATR_EINVALID,
			                "field 'level' is '%s' but type '%.*s' has level '%s'",
			                *level, (int)type.slen, type.str, known);
	} else if (known) {
		*level = known;
	} else {
		return atr__err(ATR_EINVALID,
		                "custom type '%.*s' needs field 'level' ('pipeline', 'agent' or "
		                "'decision')",
		                (int)type.slen, type.str);
	}

	if (!ep->slot[F_ACTOR].given)
		return atr__err(ATR_EINVALID, "missing required field 'actor'");
	if (*level == LV_DECISION && (find_field(p, ep, "reason", &v) != 0 || v.dlen == 0))
		return atr__err(ATR_EINVALID,
		                "type '%.*s' is a decision and needs a non-empty 'reason'",
		                (int)type.slen, type.str);
	if (!known)
		return 0;
	for (size_t i = 0; i < sizeof(requirements) / sizeof(requirements[0]); i++) {
		if (!span_eq(type.str, type.slen, requirements[i].type))
			continue;
		for (int j = 0; j < 3 && requirements[i].need[j]; j++)
			if (find_field(p, ep, requirements[i].need[j], &v) != 0)
				return atr__err(ATR_EINVALID, "type '%s' requires field '%s'",
				                requirements[i].type, requirements[i].need[j]);
	}
	if (span_eq(type.str, type.slen, "approval_resolved") &&
	    find_field(p, ep, "approval.resolution", &v) == 0 && span_eq(v.str, v.slen, "pending"))
		return atr__err(ATR_EINVALID,
		                "type 'approval_resolved' requires field 'approval.resolution' to "
		                "be 'approved' or 'rejected', not 'pending'");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Building the record                                                 */
/* ------------------------------------------------------------------ */

/* Decode canonical string text into 'dst' (NUL-terminated); returns bytes written with the NUL. */
static size_t decode_into(char *dst, const char *s, size_t n)
{
	const char *e = s + n;
	size_t w = 0;
	int c;

	if (!memchr(s, '\\', n)) {
		memcpy(dst, s, n);
		dst[n] = '\0';
		return n + 1;
	}
	while ((c = next_decoded(&s, e)) >= 0)
		dst[w++] = (char)c;
	dst[w] = '\0';
	return w + 1;
}

/* Append "name":"text" to 'out'; 'sl' gets its span. */
static int put_generated(struct buf *o, struct slot *sl, const char *name, const char *text,
                         size_t n)
{
	size_t nl = strlen(name);
	int rc = reserve(o, nl + n + 5);

	if (rc)
		return rc;
	sl->start = o->len;
	putc_(o, '"');
	put(o, name, nl);
	put(o, "\":\"", 3);
	sl->vstart = o->len - 1;
	put(o, text, n);
	putc_(o, '"');
	sl->end = o->len;
	return 0;
}

/* Append "name":<n> to 'out'; 'sl' gets its span. */
static int put_count(struct buf *o, struct slot *sl, const char *name, int64_t n)
{
	size_t nl = strlen(name);
	int rc = reserve(o, nl + 24);

	if (rc)
		return rc;
	sl->start = o->len;
	putc_(o, '"');
	put(o, name, nl);
	put(o, "\":", 2);
	sl->vstart = o->len;
	o->len += fmt_i64(o->p + o->len, n);
	sl->end = o->len;
	return 0;
}

static const enum field index_fields[] = {F_TYPE,   F_ACTOR,  F_TRACE_ID, F_SESSION_ID,
                                          F_RUN_ID, F_JOB_ID, F_TARGET};

static int build(struct atr__event *ev, struct parser *p, const struct event_parse *ep,
                 const char *level, int64_t received_us, size_t redactions)
{
	struct buf *o = p->out, *t = p->tmp;
	struct slot rec[NFIELDS]; /* what goes into the record, the log's fields included */
	struct val v;
	char ts[28], rcv[28], commit[65];
	const char *detail = "{}";
	size_t detail_len = 2, head_len = 1, tail_len = 1, total, idx_len = 0;
	int rc, first;
	char *mem, *w;

	memcpy(rec, ep->slot, sizeof(rec));
	rec[F_DETAIL].given = 0;

	/* event_id: given (normalized) or a fresh UUIDv7. */
	if (ep->slot[F_EVENT_ID].given) {
		char text[37];

		slot_val(p, &ep->slot[F_EVENT_ID], &v);
		memcpy(text, v.str, 36);
		text[36] = '\0';
		atr__uuid_parse(ev->id, text); /* validated: cannot fail */
		ev->id_given = 1;
	} else if ((rc = atr__uuid7(ev->id, received_us)) != 0) {
		return rc;
	}
	atr__uuid_format(ev->id, ev->id_text);

	/* ts: given, normalized to UTC microseconds, or the receive time. */
	ev->ts_us = received_us;
	if (ep->slot[F_TS].given) {
		char text[40];

		slot_val(p, &ep->slot[F_TS], &v);
		memcpy(text, v.str, v.slen);
		text[v.slen] = '\0';
		atr_time_parse(text, &ev->ts_us); /* validated: cannot fail */
	}
	atr_time_format(ev->ts_us, ts);
	atr_time_format(received_us, rcv);
	if ((rc = put_generated(o, &rec[F_EVENT_ID], "event_id", ev->id_text, 36)) != 0 ||
	    (rc = put_generated(o, &rec[F_TS], "ts", ts, 27)) != 0 ||
	    (rc = put_generated(o, &rec[F_LEVEL], "level", level, strlen(level))) != 0)
		return rc;

	/*
	 * The idempotency hash covers the members the producer gave, in
	 * canonical form, with event_id and ts normalized and no defaults.
	 */
	t->len = 0;
	first = 1;
	for (int f = 0; f < NFIELDS; f++) {
		const struct slot *s = f == F_EVENT_ID || f == F_TS ? &rec[f] : &ep->slot[f];

		if (!ep->slot[f].given)
			continue;
		if ((rc = reserve(t, s->end - s->start + 2)) != 0)
			return rc;
		putc_(t, first ? '{' : ',');
		put(t, o->p + s->start, s->end - s->start);
		first = 0;
	}
	if ((rc = put_checked(t, first ? "{}" : "}", first ? 2 : 1)) != 0)
		return rc;
	atr__sha256(ev->content_hash, t->p, t->len, NULL, 0, NULL, 0);

	if (ep->slot[F_DETAIL].given) {
		detail = o->p + ep->slot[F_DETAIL].vstart;
		detail_len = ep->slot[F_DETAIL].end - ep->slot[F_DETAIL].vstart;
	}
	if ((rc = atr__random_pool(ev->salt, sizeof(ev->salt))) != 0)
		return rc;
	{
		uint8_t h[32];

		atr__sha256(h, ev->salt, sizeof(ev->salt), detail, detail_len, NULL, 0);
		atr__hex(commit, h, sizeof(h));
	}
	/* 'detail' may move as 'out' grows: keep its offset. */
	{
		size_t doff = ep->slot[F_DETAIL].given ? ep->slot[F_DETAIL].vstart : 0;

		if ((rc = put_generated(o, &rec[F_DETAIL_COMMIT], "detail_commit", commit, 64)) !=
		        0 ||
		    (rc = put_generated(o, &rec[F_RECEIVED_AT], "received_at", rcv, 27)) != 0)
			return rc;
		if (redactions &&
		    (rc = put_count(o, &rec[F_REDACTIONS], "redactions", (int64_t)redactions)) != 0)
			return rc;
		if (ep->slot[F_DETAIL].given)
			detail = o->p + doff;
	}
	rec[F_EVENT_ID].given = rec[F_TS].given = rec[F_LEVEL].given = 1;
	rec[F_DETAIL_COMMIT].given = rec[F_RECEIVED_AT].given = 1;
	rec[F_REDACTIONS].given = redactions > 0;

	for (int f = 0; f < NFIELDS; f++) {
		if (!rec[f].given)
			continue;
		if (f < F_SEQ)
			head_len += rec[f].end - rec[f].start + (head_len > 1);
		else
			tail_len += rec[f].end - rec[f].start + 1;
	}
	total = head_len + tail_len + detail_len + sizeof(",\"seq\":") - 1 + 20;
	if (total > ATR_MAX_EVENT_BYTES)
		return atr__err(ATR_ETOOBIG,
		                "the event is %zu bytes as a record and detail; the limit is %u",
		                total, ATR_MAX_EVENT_BYTES);
	for (size_t i = 0; i < sizeof(index_fields) / sizeof(index_fields[0]); i++)
		if (ep->slot[index_fields[i]].given)
			idx_len += ep->slot[index_fields[i]].end - ep->slot[index_fields[i]].vstart;

	if (!(mem = malloc(head_len + tail_len + detail_len + idx_len)))
		return atr__err(ATR_ENOMEM, "out of memory");
	w = mem;
	ev->head = w;
	*w++ = '{';
	for (int f = 0; f < F_SEQ; f++) {
		if (!rec[f].given)
			continue;
		if (w > ev->head + 1)
			*w++ = ',';
		memcpy(w, o->p + rec[f].start, rec[f].end - rec[f].start);
		w += rec[f].end - rec[f].start;
	}
	ev->head_len = head_len;
	ev->tail = w;
	for (int f = F_SEQ + 1; f < NFIELDS; f++) {
		if (!rec[f].given)
			continue;
		*w++ = ',';
		memcpy(w, o->p + rec[f].start, rec[f].end - rec[f].start);
		w += rec[f].end - rec[f].start;
	}
	*w++ = '}';
	ev->tail_len = tail_len;
	ev->detail = w;
	memcpy(w, detail, detail_len);
	w += detail_len;
	ev->detail_len = detail_len;

	/* Index columns, decoded and NUL-terminated; the quotes' room holds the NUL. */
	ev->type = ev->actor = ev->trace_id = ev->session_id = ev->run_id = ev->job_id =
	    ev->target = NULL;
	for (size_t i = 0; i < sizeof(index_fields) / sizeof(index_fields[0]); i++) {
		const struct slot *s = &ep->slot[index_fields[i]];
		const char **dst;

		if (!s->given)
			continue;
		switch (index_fields[i]) {
		case F_TYPE:
			dst = &ev->type;
			break;
		case F_ACTOR:
			dst = &ev->actor;
			break;
		case F_TRACE_ID:
			dst = &ev->trace_id;
			break;
		case F_SESSION_ID:
			dst = &ev->session_id;
			break;
		case F_RUN_ID:
			dst = &ev->run_id;
			break;
		case F_JOB_ID:
			dst = &ev->job_id;
			break;
		default:
			dst = &ev->target;
			break;
		}
		*dst = w;
		w += decode_into(w, o->p + s->vstart + 1, s->end - s->vstart - 2);
	}
	ev->level = level;
	ev->mem = mem;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The entry points                                                    */
/* ------------------------------------------------------------------ */

#define STACK_OUT     8192
#define STACK_TMP     4096
#define STACK_MEMBERS 64

static int prepare(struct atr__event *ev, const char *json, size_t len, int64_t received_us,
                   size_t redactions)
{
	char out_stack[STACK_OUT], tmp_stack[STACK_TMP];
	struct member members[STACK_MEMBERS];
	struct buf out = {.p = out_stack, .cap = sizeof(out_stack)};
	struct buf tmp = {.p = tmp_stack, .cap = sizeof(tmp_stack)};
	struct parser p = {.in = json,
	                   .s = json,
	                   .end = json + len,
	                   .out = &out,
	                   .tmp = &tmp,
	                   .mem = members,
	                   .capmem = STACK_MEMBERS};
	struct event_parse ep;
	const char *level = NULL;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (len > ATR_MAX_EVENT_INPUT)
		return atr__err(ATR_ETOOBIG, "the event is %zu bytes of JSON; the limit is %u", len,
		                ATR_MAX_EVENT_INPUT);
	if (!json)
		return atr__err(ATR_EINVALID, "empty input: an event is a JSON object");
	memset(&ep, 0, sizeof(ep));
	if ((rc = parse_event(&p, &ep)) == 0 && (rc = validate(&p, &ep, &level)) == 0)
		rc = build(ev, &p, &ep, level, received_us, redactions);
	free(out.heap);
	free(tmp.heap);
	free(p.mem_heap);
	if (rc != 0)
		memset(ev, 0, sizeof(*ev));
	return rc;
}

int atr__event_prepare(struct atr__event *ev, const char *json, size_t len, int64_t received_us)
{
	return prepare(ev, json, len, received_us, 0);
}

int atr__event_prepare_redacted(struct atr__event *ev, const atr_redactor *r, const char *json,
                                size_t len, int64_t received_us)
{
	char *red = NULL, msg[512];
	size_t redlen, count = 0;
	int rc, vrc;

	if (!r || !json || len > ATR_MAX_EVENT_INPUT || atr__redactor_idle(r))
		return prepare(ev, json, len, received_us, 0);
	rc = atr__redact_json_lazy(r, json, len, &red, &redlen, &count);
	if (rc == ATR_ENOMEM) {
		memset(ev, 0, sizeof(*ev));
		return rc;
	}
	if (rc < 0) {
		/*
		 * Not JSON to the redactor: the event parser says what is wrong
		 * in its own words. Should it accept what the redactor could not
		 * read, the event is refused all the same: nothing unscanned is
		 * stored.
		 */
		snprintf(msg, sizeof(msg), "%s", atr_errmsg());
		if ((vrc = prepare(ev, json, len, received_us, 0)) < 0)
			return vrc;
		atr__event_release(ev);
		return atr__err(rc, "%s", msg);
	}
	if (red) {
		json = red;
		len = redlen;
	}
	rc = prepare(ev, json, len, received_us, count);
	free(red);
	return rc;
}

size_t atr__event_record_cap(const struct atr__event *ev)
{
	return ev->head_len + ev->tail_len + sizeof(",\"seq\":") - 1 + 20;
}

size_t atr__event_record(const struct atr__event *ev, uint64_t seq, char *buf)
{
	char *w = buf, digits[20];
	size_t n = 0;

	memcpy(w, ev->head, ev->head_len);
	w += ev->head_len;
	if (ev->head_len > 1)
		*w++ = ',';
	memcpy(w, "\"seq\":", 6);
	w += 6;
	do {
		digits[n++] = (char)('0' + seq % 10);
		seq /= 10;
	} while (seq);
	while (n)
		*w++ = digits[--n];
	memcpy(w, ev->tail, ev->tail_len);
	w += ev->tail_len;
	return (size_t)(w - buf);
}

void atr__event_release(struct atr__event *ev)
{
	if (!ev)
		return;
	free(ev->mem);
	memset(ev, 0, sizeof(*ev));
}

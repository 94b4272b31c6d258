/*
 * OTLP JSON in, agentrail events out: one export request (traces or logs)
 * decoded member by member as the OTLP JSON encoding defines it, each span
 * or log record mapped onto events by the GenAI semantic conventions
 * (docs/otel.md has the table), and each event validated as the log would,
 * so that an item the log would refuse is refused alone (OTLP's partial
 * success) instead of failing the whole request later.
 */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/otlp.h>
#include <agentrail/query.h>

#include "event.h"
#include "internal.h"

#define KEPT_ERRORS   100 /* refusals that keep their text */
#define SUMMARY_MAX   3   /* reasons quoted in the summary */
#define PATH_MAX_LEN  256
#define CONTENT_DEPTH 24 /* GenAI content parsed from JSON text at most this deep */

/* Generic event types for what the GenAI conventions do not name (docs/otel.md). */
#define TYPE_SPAN         "x_otel_span"
#define TYPE_LOG          "x_otel_log"
#define TYPE_AGENT_CREATE "x_agent_create"
#define UNKNOWN_SERVICE   "unknown_service"

struct ev {
	char *text;
	size_t len;
	size_t item;
};

struct rej {
	size_t item;
	char *msg;
};

struct atr_otlp_batch {
	atr_otlp_signal signal;
	size_t items, rejected;
	struct ev *ev;
	size_t nev, evcap;
	struct rej *rej; /* the first KEPT_ERRORS refusals */
	size_t nrej;
	char **paths; /* by item: its JSON path, for items with events (else NULL) */
	size_t pathcap;
	char *summary;
};

static _Thread_local char error_path[PATH_MAX_LEN];

const char *atr_otlp_error_path(void)
{
	return error_path;
}

/* ------------------------------------------------------------------ */
/* Decoding: paths, members and their types                           */
/* ------------------------------------------------------------------ */

/* Where the decoder is, as a JSON path ("resourceSpans[0].scopeSpans[1]"). */
struct ctx {
	atr_otlp_batch *b;
	size_t max_events;
	int64_t now_us;
	char path[PATH_MAX_LEN];
	size_t plen;
};

/* Append ".name" or "[i]" to the path; answers the old length for path_pop. */
static size_t path_push(struct ctx *c, const char *name, size_t index, int is_index)
{
	size_t old = c->plen;
	int n;

	if (is_index)
		n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%zu]", index);
	else
		n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s",
		             c->plen ? "." : "", name);
	if (n > 0)
		c->plen += (size_t)n < sizeof(c->path) - c->plen ? (size_t)n
		                                                 : sizeof(c->path) - c->plen - 1;
	return old;
}

static void path_pop(struct ctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

/* A decoding failure at the current path plus 'member' (may be NULL). */
static int bad(struct ctx *c, const char *member, const char *what)
{
	size_t old = member ? path_push(c, member, 0, 0) : c->plen;

	snprintf(error_path, sizeof(error_path), "%s", c->path);
	path_pop(c, old);
	return atr__err(ATR_EINVALID, "'%s' %s", error_path[0] ? error_path : "the body", what);
}

/* The member 'key' of 'obj', NULL when absent or null (proto3 JSON: the default). */
static json_t *member(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

static int get_array(struct ctx *c, json_t *obj, const char *key, json_t **out)
{
	*out = member(obj, key);
	if (*out && !json_is_array(*out))
		return bad(c, key, "must be an array");
	return 0;
}

static int get_object(struct ctx *c, json_t *obj, const char *key, json_t **out)
{
	*out = member(obj, key);
	if (*out && !json_is_object(*out))
		return bad(c, key, "must be an object");
	return 0;
}

static int get_string(struct ctx *c, json_t *obj, const char *key, const char **out)
{
	json_t *v = member(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return bad(c, key, "must be a string");
	*out = json_string_value(v);
	return 0;
}

/* Decimal digits with an optional '-': the proto3 JSON string form of a 64-bit integer. */
static int parse_dec(const char *s, int allow_neg, uint64_t *mag, int *neg)
{
	uint64_t v = 0;

	*neg = 0;
	if (allow_neg && *s == '-') {
		*neg = 1;
		s++;
	}
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*mag = v;
	return 0;
}

/*
 * An unsigned integer member (times, counts, enums, flags): a JSON integer,
 * a whole JSON number or a decimal string, at most 'max'. '*has' says
 * whether it was there.
 */
static int get_uint(struct ctx *c, json_t *obj, const char *key, uint64_t max, uint64_t *out,
                    int *has)
{
	json_t *v = member(obj, key);
	uint64_t u = 0;
	int neg = 0;

	*out = 0;
	if (has)
		*has = 0;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return bad(c, key, "must not be negative");
		u = (uint64_t)json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);

		if (!(d >= 0 && d < 18446744073709551616.0) || d != floor(d))
			return bad(c, key, "must be a non-negative integer");
		u = (uint64_t)d;
	} else if (json_is_string(v)) {
		if (parse_dec(json_string_value(v), 0, &u, &neg) != 0)
			return bad(c, key, "must be a non-negative integer or a decimal string");
	} else {
		return bad(c, key, "must be a non-negative integer or a decimal string");
	}
	if (u > max)
		return bad(c, key, "is out of range");
	*out = u;
	if (has)
		*has = 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Ids                                                                 */
/* ------------------------------------------------------------------ */

static int b64val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

/* Base64, standard or URL alphabet, padded or not, of exactly 'n' bytes. */
static int unbase64(uint8_t *out, size_t n, const char *s)
{
	size_t len = strlen(s), k = 0;
	uint32_t acc = 0;
	int bits = 0;

	while (len && s[len - 1] == '=')
		len--;
	if ((len * 6) / 8 != n || len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64val(s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (k == n)
				return -1;
			out[k++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return k == n && acc == 0 ? 0 : -1;
}

/*
 * A trace or span id of 'n' bytes: hex (either case), as OTLP JSON has
 * them, or base64, as the plain protobuf JSON mapping would. 1 when absent
 * or empty, 0 when valid (all zero counts as absent: OTLP's "invalid id"),
 * -1 when malformed.
 */
static int parse_id(const char *s, uint8_t *out, size_t n)
{
	int zero = 1;

	if (!s || !*s)
		return 1;
	if (strlen(s) == 2 * n) {
		for (size_t i = 0; i < n; i++) {
			int hi = atr__hexval(s[2 * i]), lo = atr__hexval(s[2 * i + 1]);

			if (hi < 0 || lo < 0)
				return -1;
			out[i] = (uint8_t)(hi << 4 | lo);
		}
	} else if (unbase64(out, n, s) != 0) {
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		zero &= out[i] == 0;
	return zero ? 1 : 0;
}

/*
 * The event id of span 'span' of trace 'trace': a version 8 UUID made of
 * SHA-256 over both and 'suffix', so a span sent again maps to the same id
 * (the log answers it as a duplicate) and a child finds its parent's id
 * from the parent span id alone.
 */
static void span_uuid(const uint8_t trace[16], const uint8_t span[8], const char *suffix,
                      char out[37])
{
	static const char domain[] = "agentrail otlp span";
	uint8_t ids[24], h[32];

	memcpy(ids, trace, 16);
	memcpy(ids + 16, span, 8);
	atr__sha256(h, domain, sizeof(domain), ids, sizeof(ids), suffix, strlen(suffix));
	h[6] = (uint8_t)((h[6] & 0x0f) | 0x80);
	h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
	atr__uuid_format(h, out);
}

/* The same over any bytes (a log record's event without its id). */
static void bytes_uuid(const char *text, size_t len, char out[37])
{
	static const char domain[] = "agentrail otlp log";
	uint8_t h[32];

	atr__sha256(h, domain, sizeof(domain), text, len, NULL, 0);
	h[6] = (uint8_t)((h[6] & 0x0f) | 0x80);
	h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
	atr__uuid_format(h, out);
}

/* ------------------------------------------------------------------ */
/* Values and attributes                                               */
/* ------------------------------------------------------------------ */

/* Set 'key' to 'v' (taking it); -1 when out of memory. NULL 'v' is out of memory too. */
static int set(json_t *obj, const char *key, json_t *v)
{
	return v ? json_object_set_new(obj, key, v) : -1;
}

static int set_str(json_t *obj, const char *key, const char *s)
{
	return s ? set(obj, key, json_string(s)) : 0;
}

static int oom(void)
{
	return atr__err(ATR_ENOMEM, "out of memory");
}

static int attributes(struct ctx *c, json_t *list, json_t **out);

/* Decimal points are '.' whatever locale the program set. */
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* A double: a JSON number, or the strings proto3 JSON uses (also "NaN", "Infinity"). */
static int double_value(struct ctx *c, json_t *v, json_t **out)
{
	if (json_is_number(v)) {
		*out = json_real(json_number_value(v));
		return *out ? 0 : oom();
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end = NULL;
		double d = 0;

		pthread_once(&c_locale_once, c_locale_init);
		if (c_locale)
			d = strtod_l(s, &end, c_locale);

		if (strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 ||
		    strcmp(s, "-Infinity") == 0) {
			*out = json_string(s); /* JSON has no such number: kept as the text */
			return *out ? 0 : oom();
		}
		if (*s && end && !*end && isfinite(d)) {
			*out = json_real(d);
			return *out ? 0 : oom();
		}
	}
	return bad(c, "doubleValue", "must be a number");
}

/*
 * An AnyValue as plain JSON: strings, booleans, integers and doubles as
 * themselves, arrays as arrays, key-value lists as objects, bytes as their
 * base64 text, an empty value as null.
 */
static int any_value(struct ctx *c, json_t *v, json_t **out)
{
	json_t *m, *list;
	size_t old;
	int rc;

	*out = NULL;
	if (!v) {
		*out = json_null();
		return 0;
	}
	if (!json_is_object(v))
		return bad(c, NULL, "must be an object (an AnyValue)");
	if ((m = member(v, "stringValue"))) {
		if (!json_is_string(m))
			return bad(c, "stringValue", "must be a string");
		*out = json_incref(m);
	} else if ((m = member(v, "boolValue"))) {
		if (!json_is_boolean(m))
			return bad(c, "boolValue", "must be true or false");
		*out = json_incref(m);
	} else if ((m = member(v, "intValue"))) {
		uint64_t mag;
		int neg;

		if (json_is_integer(m)) {
			*out = json_incref(m);
		} else if (json_is_string(m) &&
		           parse_dec(json_string_value(m), 1, &mag, &neg) == 0 &&
		           mag <= (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
			*out = json_integer(neg ? (json_int_t)(0 - mag) : (json_int_t)mag);
		} else {
			return bad(c, "intValue", "must be a 64-bit integer or its decimal string");
		}
	} else if ((m = member(v, "doubleValue"))) {
		return double_value(c, m, out);
	} else if ((m = member(v, "bytesValue"))) {
		if (!json_is_string(m))
			return bad(c, "bytesValue", "must be a base64 string");
		*out = json_incref(m);
	} else if ((m = member(v, "arrayValue"))) {
		json_t *arr = NULL;

		if (!json_is_object(m))
			return bad(c, "arrayValue", "must be an object");
		old = path_push(c, "arrayValue", 0, 0);
		rc = get_array(c, m, "values", &list);
		if (rc == 0 && !(arr = json_array()))
			rc = oom();
		for (size_t i = 0; rc == 0 && list && i < json_array_size(list); i++) {
			size_t o2 = path_push(c, "values", 0, 0);
			json_t *e;

			path_push(c, NULL, i, 1);
			rc = any_value(c, json_array_get(list, i), &e);
			if (rc == 0 && json_array_append_new(arr, e) != 0)
				rc = oom();
			path_pop(c, o2);
		}
		path_pop(c, old);
		if (rc != 0) {
			json_decref(arr);
			return rc;
		}
		*out = arr;
		return 0;
	} else if ((m = member(v, "kvlistValue"))) {
		if (!json_is_object(m))
			return bad(c, "kvlistValue", "must be an object");
		old = path_push(c, "kvlistValue", 0, 0);
		rc = get_array(c, m, "values", &list);
		if (rc == 0) {
			path_push(c, "values", 0, 0);
			rc = attributes(c, list, out);
		}
		path_pop(c, old);
		return rc;
	} else {
		*out = json_null(); /* no value set */
	}
	return *out ? 0 : oom();
}

/*
 * A list of KeyValue as one flat object ("gen_ai.request.model": "gpt-4o").
 * A key given twice keeps its last value. '*out' is an empty object for an
 * absent list.
 */
static int attributes(struct ctx *c, json_t *list, json_t **out)
{
	json_t *obj = json_object();
	int rc = 0;

	*out = NULL;
	if (!obj)
		return oom();
	for (size_t i = 0; rc == 0 && list && i < json_array_size(list); i++) {
		json_t *kv = json_array_get(list, i), *val;
		const char *key;
		size_t old = c->plen;

		path_push(c, NULL, i, 1);
		if (!json_is_object(kv)) {
			rc = bad(c, NULL, "must be an object (a KeyValue)");
		} else if ((rc = get_string(c, kv, "key", &key)) == 0) {
			size_t o2 = path_push(c, "value", 0, 0);

			rc = any_value(c, member(kv, "value"), &val);
			path_pop(c, o2);
			if (rc == 0 && json_object_set_new(obj, key ? key : "", val) != 0)
				rc = oom();
		}
		path_pop(c, old);
	}
	if (rc != 0) {
		json_decref(obj);
		return rc;
	}
	*out = obj;
	return 0;
}

/* The attributes member of 'obj' ("attributes": [KeyValue]) as a flat object. */
static int attributes_of(struct ctx *c, json_t *obj, json_t **out)
{
	json_t *list;
	size_t old;
	int rc;

	*out = NULL;
	if ((rc = get_array(c, obj, "attributes", &list)) != 0)
		return rc;
	old = path_push(c, "attributes", 0, 0);
	rc = attributes(c, list, out);
	path_pop(c, old);
	return rc;
}

/* A string attribute, NULL when absent, empty or not a string. */
static const char *attr_str(json_t *attrs, const char *key)
{
	json_t *v = attrs ? json_object_get(attrs, key) : NULL;
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	return s && *s ? s : NULL;
}

/* A token count attribute: a non-negative whole number, else -1. */
static json_int_t attr_count(json_t *attrs, const char *key)
{
	json_t *v = attrs ? json_object_get(attrs, key) : NULL;

	if (json_is_integer(v))
		return json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
	if (json_is_real(v)) {
		double d = json_real_value(v);

		return d >= 0 && d < 9e15 && d == floor(d) ? (json_int_t)d : -1;
	}
	return -1;
}

static int depth_of(json_t *v)
{
	int d = 0;

	if (json_is_object(v)) {
		const char *k;
		json_t *e;

		json_object_foreach(v, k, e)
		{
			int de = depth_of(e);

			if (de > d)
				d = de;
			if (d > CONTENT_DEPTH)
				break;
		}
		return d + 1;
	}
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v) && d <= CONTENT_DEPTH; i++) {
			int de = depth_of(json_array_get(v, i));

			if (de > d)
				d = de;
		}
		return d + 1;
	}
	return 0;
}

/*
 * Move the content attribute 'key' (prompts, tool arguments, results) out
 * of 'attrs' into 'detail' as 'to': parsed when it is JSON text of an
 * object or an array (as the conventions record them), else as it was.
 */
static int lift_content(json_t *attrs, const char *key, json_t *detail, const char *to)
{
	json_t *v = json_object_get(attrs, key), *parsed = NULL;

	if (!v)
		return 0;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		if (*s == '{' || *s == '[') {
			parsed = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
			if (parsed && depth_of(parsed) > CONTENT_DEPTH) {
				json_decref(parsed);
				parsed = NULL;
			}
		}
	}
	if (json_object_set_new(detail, to, parsed ? parsed : json_incref(v)) != 0)
		return oom();
	return json_object_del(attrs, key) == 0 ? 0 : oom();
}

/* ------------------------------------------------------------------ */
/* The batch                                                           */
/* ------------------------------------------------------------------ */

static void batch_summary_reset(atr_otlp_batch *b)
{
	free(b->summary);
	b->summary = NULL;
}

/* Record that item 'item' was refused for 'why'. */
static int refuse(atr_otlp_batch *b, size_t item, const char *why)
{
	b->rejected++;
	batch_summary_reset(b);
	if (b->nrej == KEPT_ERRORS)
		return 0;
	if (!b->rej && !(b->rej = calloc(KEPT_ERRORS, sizeof(*b->rej))))
		return oom();
	if (!(b->rej[b->nrej].msg = strdup(why)))
		return oom();
	b->rej[b->nrej++].item = item;
	return 0;
}

static int push_event(atr_otlp_batch *b, char *text, size_t item)
{
	if (b->nev == b->evcap) {
		size_t cap = b->evcap ? 2 * b->evcap : 16;
		struct ev *e = realloc(b->ev, cap * sizeof(*e));

		if (!e)
			return oom();
		b->ev = e;
		b->evcap = cap;
	}
	b->ev[b->nev].text = text;
	b->ev[b->nev].len = strlen(text);
	b->ev[b->nev++].item = item;
	return 0;
}

/*
 * Finish one item: validate each of its 'n' events as the log will, then
 * either keep them all or refuse the item with the first reason. Takes
 * the events' references.
 */
static int finish_item(struct ctx *c, json_t **evs, size_t n, const char *const *names)
{
	atr_otlp_batch *b = c->b;
	char *texts[2] = {NULL, NULL};
	char why[1024];
	size_t item = b->items++;
	int rc = 0, refused = 0;

	if (c->max_events && b->nev + n > c->max_events) {
		rc = atr__err(ATR_ETOOBIG, "more than %zu events in one request", c->max_events);
		goto out;
	}
	for (size_t i = 0; i < n && !refused; i++) {
		struct atr__event ev;
		int vr;

		if (!(texts[i] = json_dumps(evs[i], JSON_COMPACT))) {
			rc = oom();
			goto out;
		}
		vr = atr__event_prepare(&ev, texts[i], strlen(texts[i]), c->now_us);
		if (vr == 0) {
			atr__event_release(&ev);
		} else if (vr == ATR_ENOMEM) {
			rc = vr;
			goto out;
		} else {
			snprintf(why, sizeof(why), "%s: %s%s%s", c->path, names[i] ? names[i] : "",
			         names[i] ? " event: " : "", atr_errmsg());
			refused = 1;
		}
	}
	if (refused) {
		rc = refuse(b, item, why);
		goto out;
	}
	if (item >= b->pathcap) {
		size_t cap = b->pathcap ? 2 * b->pathcap : 16;
		char **p = realloc(b->paths, cap * sizeof(*p));

		if (!p) {
			rc = oom();
			goto out;
		}
		memset(p + b->pathcap, 0, (cap - b->pathcap) * sizeof(*p));
		b->paths = p;
		b->pathcap = cap;
	}
	if (!(b->paths[item] = strdup(c->path))) {
		rc = oom();
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if ((rc = push_event(b, texts[i], item)) != 0)
			goto out;
		texts[i] = NULL;
	}
out:
	for (size_t i = 0; i < n; i++) {
		free(texts[i]);
		json_decref(evs[i]);
	}
	return rc;
}

/* Refuse the current item before any event was made for it. */
static int refuse_item(struct ctx *c, const char *what)
{
	char why[512];

	snprintf(why, sizeof(why), "%s: %s", c->path, what);
	return refuse(c->b, c->b->items++, why);
}

/* ------------------------------------------------------------------ */
/* What every event of a resource and scope shares                     */
/* ------------------------------------------------------------------ */

struct envelope {
	json_t *resource;           /* flat attributes */
	json_t *scope;              /* {name, version, attributes} or NULL */
	const char *res_schema_url; /* the resource's */
	const char *schema_url;     /* the scope's, else the resource's */
	const char *service;        /* service.name, else UNKNOWN_SERVICE */
};

static void envelope_release(struct envelope *e)
{
	json_decref(e->resource);
	json_decref(e->scope);
	memset(e, 0, sizeof(*e));
}

static int resource_of(struct ctx *c, json_t *rs, struct envelope *env)
{
	json_t *res;
	size_t old;
	int rc;

	if ((rc = get_object(c, rs, "resource", &res)) != 0)
		return rc;
	old = path_push(c, "resource", 0, 0);
	rc = res ? attributes_of(c, res, &env->resource) : attributes(c, NULL, &env->resource);
	path_pop(c, old);
	if (rc != 0)
		return rc;
	env->service = attr_str(env->resource, "service.name");
	if (!env->service)
		env->service = UNKNOWN_SERVICE;
	return get_string(c, rs, "schemaUrl", &env->res_schema_url);
}

static int scope_of(struct ctx *c, json_t *ss, struct envelope *env)
{
	json_t *sc, *attrs = NULL;
	const char *name, *version, *url;
	size_t old;
	int rc;

	json_decref(env->scope);
	env->scope = NULL;
	if ((rc = get_object(c, ss, "scope", &sc)) != 0)
		return rc;
	if ((rc = get_string(c, ss, "schemaUrl", &url)) != 0)
		return rc;
	env->schema_url = url && *url ? url : env->res_schema_url;
	if (!sc)
		return 0;
	old = path_push(c, "scope", 0, 0);
	if ((rc = get_string(c, sc, "name", &name)) == 0 &&
	    (rc = get_string(c, sc, "version", &version)) == 0)
		rc = attributes_of(c, sc, &attrs);
	path_pop(c, old);
	if (rc != 0)
		return rc;
	if (!(env->scope = json_object()) || set_str(env->scope, "name", name) ||
	    set_str(env->scope, "version", version) ||
	    (json_object_size(attrs) && set(env->scope, "attributes", json_incref(attrs)))) {
		json_decref(attrs);
		return oom();
	}
	json_decref(attrs);
	return 0;
}

/* resource, scope and schema_url into the 'otel' object of a detail. */
static int put_envelope(json_t *otel, const struct envelope *env)
{
	if (set(otel, "resource", json_incref(env->resource)) ||
	    (env->scope && set(otel, "scope", json_incref(env->scope))) ||
	    (env->schema_url && *env->schema_url && set_str(otel, "schema_url", env->schema_url)))
		return oom();
	return 0;
}

/* A 64-bit count or time as the decimal string OTLP JSON uses. */
static json_t *u64_text(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return json_string(buf);
}

static int set_ts(json_t *ev, uint64_t ns)
{
	char ts[28];

	if (!ns)
		return 0;
	atr_time_format((int64_t)(ns / 1000), ts);
	return set_str(ev, "ts", ts);
}

static int set_count(json_t *obj, const char *key, uint64_t v)
{
	return v ? set(obj, key, json_integer((json_int_t)v)) : 0;
}

/* ------------------------------------------------------------------ */
/* Spans                                                               */
/* ------------------------------------------------------------------ */

struct span {
	uint8_t trace[16], id[8], parent[8];
	int has_parent;
	char trace_hex[33], id_hex[17], parent_hex[17];
	const char *name, *trace_state;
	uint64_t kind, flags, start, end, status_code;
	int has_flags;
	const char *status_message;
	json_t *attrs; /* flat; GenAI content moved out to the detail */
	json_t *events, *links;
	uint64_t dropped_attrs, dropped_events, dropped_links;
};

static const char *kind_name(uint64_t k)
{
	static const char *const names[] = {"unspecified", "internal", "server",
	                                    "client",      "producer", "consumer"};

	return k < sizeof(names) / sizeof(names[0]) ? names[k] : NULL;
}

static const char *status_name(uint64_t code)
{
	return code == 0 ? "unset" : code == 1 ? "ok" : code == 2 ? "error" : NULL;
}

/* The events of a span: [{name, time_unix_nano, attributes}]. */
static int span_events(struct ctx *c, json_t *span, json_t **out)
{
	json_t *list, *arr;
	size_t old;
	int rc;

	*out = NULL;
	if ((rc = get_array(c, span, "events", &list)) != 0 || !list || !json_array_size(list))
		return rc;
	if (!(arr = json_array()))
		return oom();
	old = path_push(c, "events", 0, 0);
	for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
		json_t *e = json_array_get(list, i), *o = NULL, *attrs = NULL;
		const char *name;
		uint64_t t, dropped;
		size_t o2 = path_push(c, NULL, i, 1);

		if (!json_is_object(e))
			rc = bad(c, NULL, "must be an object (a Span.Event)");
		else if ((rc = get_string(c, e, "name", &name)) == 0 &&
		         (rc = get_uint(c, e, "timeUnixNano", UINT64_MAX, &t, NULL)) == 0 &&
		         (rc = get_uint(c, e, "droppedAttributesCount", UINT32_MAX, &dropped,
		                        NULL)) == 0 &&
		         (rc = attributes_of(c, e, &attrs)) == 0) {
			if (!(o = json_object()) || set_str(o, "name", name) ||
			    (t && set(o, "time_unix_nano", u64_text(t))) ||
			    (json_object_size(attrs) && set(o, "attributes", json_incref(attrs))) ||
			    set_count(o, "dropped_attributes_count", dropped) ||
			    json_array_append(arr, o) != 0)
				rc = oom();
		}
		json_decref(o);
		json_decref(attrs);
		path_pop(c, o2);
	}
	path_pop(c, old);
	if (rc != 0) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

/* An id member kept in a detail: its hex when it is a valid id, else as sent. */
static int set_id_text(json_t *o, const char *key, const char *s, size_t n)
{
	uint8_t id[16];
	char hex[33];

	if (!s || !*s)
		return 0;
	if (parse_id(s, id, n) == 0) {
		atr__hex(hex, id, n);
		return set_str(o, key, hex);
	}
	return set_str(o, key, s);
}

/* The links of a span: [{trace_id, span_id, trace_state, flags, attributes}]. */
static int span_links(struct ctx *c, json_t *span, json_t **out)
{
	json_t *list, *arr;
	size_t old;
	int rc;

	*out = NULL;
	if ((rc = get_array(c, span, "links", &list)) != 0 || !list || !json_array_size(list))
		return rc;
	if (!(arr = json_array()))
		return oom();
	old = path_push(c, "links", 0, 0);
	for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
		json_t *l = json_array_get(list, i), *o = NULL, *attrs = NULL;
		const char *tid, *sid, *state;
		uint64_t flags, dropped;
		int has_flags;
		size_t o2 = path_push(c, NULL, i, 1);

		if (!json_is_object(l))
			rc = bad(c, NULL, "must be an object (a Span.Link)");
		else if ((rc = get_string(c, l, "traceId", &tid)) == 0 &&
		         (rc = get_string(c, l, "spanId", &sid)) == 0 &&
		         (rc = get_string(c, l, "traceState", &state)) == 0 &&
		         (rc = get_uint(c, l, "flags", UINT32_MAX, &flags, &has_flags)) == 0 &&
		         (rc = get_uint(c, l, "droppedAttributesCount", UINT32_MAX, &dropped,
		                        NULL)) == 0 &&
		         (rc = attributes_of(c, l, &attrs)) == 0) {
			if (!(o = json_object()) || set_id_text(o, "trace_id", tid, 16) ||
			    set_id_text(o, "span_id", sid, 8) ||
			    (state && *state && set_str(o, "trace_state", state)) ||
			    (has_flags && set(o, "flags", json_integer((json_int_t)flags))) ||
			    (json_object_size(attrs) && set(o, "attributes", json_incref(attrs))) ||
			    set_count(o, "dropped_attributes_count", dropped) ||
			    json_array_append(arr, o) != 0)
				rc = oom();
		}
		json_decref(o);
		json_decref(attrs);
		path_pop(c, o2);
	}
	path_pop(c, old);
	if (rc != 0) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

/*
 * Decode one span's members. 0 decoded (ids checked: '*why' set when they
 * make the span unusable), or a decoding failure.
 */
static int span_decode(struct ctx *c, json_t *js, struct span *s, const char **why)
{
	const char *tid, *sid, *pid;
	json_t *status;
	int rc;

	*why = NULL;
	if ((rc = get_string(c, js, "traceId", &tid)) || (rc = get_string(c, js, "spanId", &sid)) ||
	    (rc = get_string(c, js, "parentSpanId", &pid)) ||
	    (rc = get_string(c, js, "traceState", &s->trace_state)) ||
	    (rc = get_string(c, js, "name", &s->name)) ||
	    (rc = get_uint(c, js, "kind", INT32_MAX, &s->kind, NULL)) ||
	    (rc = get_uint(c, js, "flags", UINT32_MAX, &s->flags, &s->has_flags)) ||
	    (rc = get_uint(c, js, "startTimeUnixNano", UINT64_MAX, &s->start, NULL)) ||
	    (rc = get_uint(c, js, "endTimeUnixNano", UINT64_MAX, &s->end, NULL)) ||
	    (rc = get_uint(c, js, "droppedAttributesCount", UINT32_MAX, &s->dropped_attrs, NULL)) ||
	    (rc = get_uint(c, js, "droppedEventsCount", UINT32_MAX, &s->dropped_events, NULL)) ||
	    (rc = get_uint(c, js, "droppedLinksCount", UINT32_MAX, &s->dropped_links, NULL)) ||
	    (rc = get_object(c, js, "status", &status)))
		return rc;
	if (status) {
		size_t old = path_push(c, "status", 0, 0);

		rc = get_string(c, status, "message", &s->status_message);
		if (rc == 0)
			rc = get_uint(c, status, "code", INT32_MAX, &s->status_code, NULL);
		path_pop(c, old);
		if (rc)
			return rc;
	}
	if ((rc = attributes_of(c, js, &s->attrs)) || (rc = span_events(c, js, &s->events)) ||
	    (rc = span_links(c, js, &s->links)))
		return rc;
	switch (parse_id(tid, s->trace, 16)) {
	case 1:
		*why = "'traceId' is missing or all zero";
		return 0;
	case -1:
		*why = "'traceId' must be 32 hex digits (or base64 of 16 bytes)";
		return 0;
	}
	switch (parse_id(sid, s->id, 8)) {
	case 1:
		*why = "'spanId' is missing or all zero";
		return 0;
	case -1:
		*why = "'spanId' must be 16 hex digits (or base64 of 8 bytes)";
		return 0;
	}
	switch (parse_id(pid, s->parent, 8)) {
	case 0:
		s->has_parent = 1;
		atr__hex(s->parent_hex, s->parent, 8);
		break;
	case -1:
		*why = "'parentSpanId' must be 16 hex digits (or base64 of 8 bytes)";
		return 0;
	}
	atr__hex(s->trace_hex, s->trace, 16);
	atr__hex(s->id_hex, s->id, 8);
	return 0;
}

static void span_release(struct span *s)
{
	json_decref(s->attrs);
	json_decref(s->events);
	json_decref(s->links);
}

/* The 'otel' object of a span's detail: the span as sent, attributes flattened. */
static json_t *span_otel(const struct span *s, const struct envelope *env)
{
	json_t *o = json_object(), *st;
	const char *kn = kind_name(s->kind), *sn = status_name(s->status_code);

	if (!o)
		return NULL;
	if (set_str(o, "name", s->name ? s->name : "") || set_str(o, "span_id", s->id_hex) ||
	    (s->has_parent && set_str(o, "parent_span_id", s->parent_hex)) ||
	    (s->trace_state && *s->trace_state && set_str(o, "trace_state", s->trace_state)) ||
	    (s->has_flags && set(o, "flags", json_integer((json_int_t)s->flags))) ||
	    set(o, "kind", kn ? json_string(kn) : json_integer((json_int_t)s->kind)) ||
	    (s->start && set(o, "start_time_unix_nano", u64_text(s->start))) ||
	    (s->end && set(o, "end_time_unix_nano", u64_text(s->end))) ||
	    set(o, "attributes", json_incref(s->attrs)) ||
	    (s->events && set(o, "events", json_incref(s->events))) ||
	    (s->links && set(o, "links", json_incref(s->links))) ||
	    set_count(o, "dropped_attributes_count", s->dropped_attrs) ||
	    set_count(o, "dropped_events_count", s->dropped_events) ||
	    set_count(o, "dropped_links_count", s->dropped_links) || put_envelope(o, env))
		goto fail;
	if (s->status_code || (s->status_message && *s->status_message)) {
		if (!(st = json_object()) || set(o, "status", st) ||
		    set(st, "code",
		        sn ? json_string(sn) : json_integer((json_int_t)s->status_code)) ||
		    (s->status_message && *s->status_message &&
		     set_str(st, "message", s->status_message)))
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* duration_ns (exact) and latency_ms (rounded), when the span has both times. */
static int set_duration(json_t *detail, const struct span *s)
{
	uint64_t ns;

	if (!s->start || !s->end || s->end < s->start)
		return 0;
	ns = s->end - s->start;
	if (ns > (uint64_t)INT64_MAX)
		return 0;
	return set(detail, "duration_ns", json_integer((json_int_t)ns)) ||
	       set(detail, "latency_ms", json_integer((json_int_t)((ns + 500000) / 1000000)));
}

/* What the attributes say about who acted and in which session. */
struct who {
	const char *actor, *agent_name, *agent_id, *agent_version, *model, *provider;
	const char *session_id, *user_id, *op;
	json_int_t in_tokens, out_tokens;
};

static void who_of(json_t *attrs, const struct envelope *env, struct who *w)
{
	memset(w, 0, sizeof(*w));
	w->agent_name = attr_str(attrs, "gen_ai.agent.name");
	w->actor = w->agent_name ? w->agent_name : env->service;
	w->agent_id = attr_str(attrs, "gen_ai.agent.id");
	w->agent_version = attr_str(attrs, "gen_ai.agent.version");
	/* The model that answered names what acted exactly; the one asked for is next best. */
	w->model = attr_str(attrs, "gen_ai.response.model");
	if (!w->model)
		w->model = attr_str(attrs, "gen_ai.request.model");
	w->provider = attr_str(attrs, "gen_ai.provider.name");
	if (!w->provider)
		w->provider = attr_str(attrs, "gen_ai.system");
	w->session_id = attr_str(attrs, "gen_ai.conversation.id");
	if (!w->session_id)
		w->session_id = attr_str(attrs, "session.id");
	w->user_id = attr_str(attrs, "user.id");
	if (!w->user_id)
		w->user_id = attr_str(attrs, "enduser.id");
	w->op = attr_str(attrs, "gen_ai.operation.name");
	w->in_tokens = attr_count(attrs, "gen_ai.usage.input_tokens");
	if (w->in_tokens < 0)
		w->in_tokens = attr_count(attrs, "gen_ai.usage.prompt_tokens");
	w->out_tokens = attr_count(attrs, "gen_ai.usage.output_tokens");
	if (w->out_tokens < 0)
		w->out_tokens = attr_count(attrs, "gen_ai.usage.completion_tokens");
}

static int set_usage(json_t *ev, const struct who *w)
{
	json_t *u;

	if (w->in_tokens < 0 && w->out_tokens < 0)
		return 0;
	if (!(u = json_object()) || set(ev, "usage", u) ||
	    (w->in_tokens >= 0 && set(u, "input_tokens", json_integer(w->in_tokens))) ||
	    (w->out_tokens >= 0 && set(u, "output_tokens", json_integer(w->out_tokens))))
		return -1;
	return 0;
}

/* The header members every span event has. */
static json_t *span_header(const struct span *s, const struct who *w, const char *type,
                           const char *level, const char *actor, const char *suffix)
{
	json_t *ev = json_object();
	char id[37], parent[37];

	if (!ev)
		return NULL;
	span_uuid(s->trace, s->id, suffix, id);
	if (set_str(ev, "event_id", id) || set_str(ev, "type", type) ||
	    (level && set_str(ev, "level", level)) || set_str(ev, "actor", actor) ||
	    set_str(ev, "trace_id", s->trace_hex) || set_str(ev, "session_id", w->session_id) ||
	    set_str(ev, "user_id", w->user_id)) {
		json_decref(ev);
		return NULL;
	}
	if (*suffix) {
		/* A closing event (session_end) hangs under its span's first event. */
		span_uuid(s->trace, s->id, "", parent);
		if (set_str(ev, "parent_event_id", parent)) {
			json_decref(ev);
			return NULL;
		}
	} else if (s->has_parent) {
		span_uuid(s->trace, s->parent, "", parent);
		if (set_str(ev, "parent_event_id", parent)) {
			json_decref(ev);
			return NULL;
		}
	}
	return ev;
}

static const char *outcome_of(const struct span *s)
{
	return s->status_code == 2 ? "error" : s->status_code == 1 ? "success" : NULL;
}

/* Map one decoded span onto one or two events. */
static int span_map(struct ctx *c, struct span *s, const struct envelope *env)
{
	json_t *evs[2] = {NULL, NULL}, *detail = NULL, *otel = NULL;
	const char *names[2] = {NULL, NULL};
	const char *type = TYPE_SPAN, *level = "agent", *target = NULL, *actor;
	struct who w;
	size_t n = 1;
	int agent = 0, creates = 0, usage_here = 1, rc;

	who_of(s->attrs, env, &w);
	actor = w.actor;
	if (w.op &&
	    (strcmp(w.op, "chat") == 0 || strcmp(w.op, "text_completion") == 0 ||
	     strcmp(w.op, "generate_content") == 0) &&
	    w.model) {
		type = "llm_call";
		level = NULL;
	} else if (w.op && strcmp(w.op, "execute_tool") == 0 &&
	           attr_str(s->attrs, "gen_ai.tool.name")) {
		type = "tool_call";
		level = NULL;
		target = attr_str(s->attrs, "gen_ai.tool.name");
	} else if (w.op &&
	           (strcmp(w.op, "invoke_agent") == 0 || strcmp(w.op, "invoke_workflow") == 0)) {
		type = "session_start";
		level = NULL;
		agent = 1;
		usage_here = 0;
		n = 2;
		names[0] = "session_start";
		names[1] = "session_end";
	} else if (w.op && strcmp(w.op, "create_agent") == 0) {
		/* The service creates the agent: the agent is what it acted on. */
		type = TYPE_AGENT_CREATE;
		level = "pipeline";
		creates = 1;
		actor = env->service;
		target = w.agent_name ? w.agent_name : w.agent_id;
	} else if (s->name && *s->name && strlen(s->name) <= ATR_MAX_TARGET_LEN) {
		target = s->name;
	}

	if (!(detail = json_object()))
		goto oom;
	/* Content moves out of the attributes into the detail, parsed (docs/otel.md). */
	if (lift_content(s->attrs, "gen_ai.tool.call.arguments", detail, "arguments") ||
	    lift_content(s->attrs, "gen_ai.tool.call.result", detail, "result") ||
	    lift_content(s->attrs, "gen_ai.input.messages", detail, "input_messages") ||
	    lift_content(s->attrs, "gen_ai.output.messages", detail, "output_messages") ||
	    lift_content(s->attrs, "gen_ai.system_instructions", detail, "system_instructions"))
		goto oom;
	if (!(otel = span_otel(s, env)) || set(detail, "otel", otel) || set_duration(detail, s) ||
	    set_str(detail, "provider", w.provider) ||
	    set_str(detail, "tool_call_id", attr_str(s->attrs, "gen_ai.tool.call.id")))
		goto oom;

	if (!(evs[0] = span_header(s, &w, type, level, actor, "")) ||
	    set_str(evs[0], "target", target) || set_ts(evs[0], s->start) ||
	    set_str(evs[0], "model", w.model) ||
	    (!creates && (set_str(evs[0], "agent_id", w.agent_id) ||
	                  set_str(evs[0], "agent_version", w.agent_version))) ||
	    (!agent && set_str(evs[0], "outcome", outcome_of(s))) ||
	    (usage_here && set_usage(evs[0], &w)) || set(evs[0], "detail", json_incref(detail)))
		goto oom;
	if (agent) {
		json_t *end = json_object(), *eo = json_object();
		json_t *status = json_object_get(otel, "status");

		/* session_end: when the span ended, how, and what it cost. */
		if (!end || !eo || set(end, "otel", json_incref(eo)) ||
		    set_str(eo, "span_id", s->id_hex) ||
		    set_str(eo, "name", s->name ? s->name : "") ||
		    (s->end && set(eo, "end_time_unix_nano", u64_text(s->end))) ||
		    (status && set(eo, "status", json_incref(status))) || set_duration(end, s) ||
		    !(evs[1] = span_header(s, &w, "session_end", NULL, actor, "end")) ||
		    set_ts(evs[1], s->end) || set_str(evs[1], "model", w.model) ||
		    set_str(evs[1], "agent_id", w.agent_id) ||
		    set_str(evs[1], "agent_version", w.agent_version) ||
		    set_str(evs[1], "outcome", outcome_of(s)) || set_usage(evs[1], &w) ||
		    set(evs[1], "detail", json_incref(end))) {
			json_decref(end);
			json_decref(eo);
			goto oom;
		}
		json_decref(end);
		json_decref(eo);
	}
	json_decref(detail);
	return finish_item(c, evs, n, names);
oom:
	json_decref(detail);
	json_decref(evs[0]);
	json_decref(evs[1]);
	rc = oom();
	c->b->items++;
	return rc;
}

static int one_span(struct ctx *c, json_t *js, const struct envelope *env)
{
	struct span s;
	const char *why;
	int rc;

	memset(&s, 0, sizeof(s));
	if (!json_is_object(js))
		return bad(c, NULL, "must be an object (a Span)");
	rc = span_decode(c, js, &s, &why);
	if (rc == 0)
		rc = why ? refuse_item(c, why) : span_map(c, &s, env);
	span_release(&s);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Log records                                                         */
/* ------------------------------------------------------------------ */

/* Severity numbers 17 to 24 are ERROR and FATAL (the logs data model). */
#define SEVERITY_ERROR 17

static int one_log(struct ctx *c, json_t *lr, const struct envelope *env)
{
	json_t *ev = NULL, *detail = NULL, *otel = NULL, *attrs = NULL, *body = NULL;
	const char *tid, *sid, *sev_text, *event_name, *names[1] = {NULL};
	uint8_t trace[16], span[8];
	uint64_t t, observed, sev, flags, dropped;
	int has_flags, has_sev, tr, sr, rc;
	struct who w;
	char hex[33], id[37];
	char *text;

	if (!json_is_object(lr))
		return bad(c, NULL, "must be an object (a LogRecord)");
	if ((rc = get_uint(c, lr, "timeUnixNano", UINT64_MAX, &t, NULL)) ||
	    (rc = get_uint(c, lr, "observedTimeUnixNano", UINT64_MAX, &observed, NULL)) ||
	    (rc = get_uint(c, lr, "severityNumber", INT32_MAX, &sev, &has_sev)) ||
	    (rc = get_string(c, lr, "severityText", &sev_text)) ||
	    (rc = get_string(c, lr, "eventName", &event_name)) ||
	    (rc = get_uint(c, lr, "flags", UINT32_MAX, &flags, &has_flags)) ||
	    (rc = get_uint(c, lr, "droppedAttributesCount", UINT32_MAX, &dropped, NULL)) ||
	    (rc = get_string(c, lr, "traceId", &tid)) || (rc = get_string(c, lr, "spanId", &sid)))
		return rc;
	if (member(lr, "body")) {
		size_t old = path_push(c, "body", 0, 0);

		rc = any_value(c, member(lr, "body"), &body);
		path_pop(c, old);
		if (rc)
			return rc;
	}
	if ((rc = attributes_of(c, lr, &attrs)) != 0)
		goto out;
	tr = parse_id(tid, trace, 16);
	sr = parse_id(sid, span, 8);
	if (tr < 0 || sr < 0) {
		rc = refuse_item(c, tr < 0
		                        ? "'traceId' must be 32 hex digits (or base64 of 16 bytes)"
		                        : "'spanId' must be 16 hex digits (or base64 of 8 bytes)");
		goto out;
	}
	who_of(attrs, env, &w);
	if (!(ev = json_object()) || !(detail = json_object()) || !(otel = json_object()))
		goto oom;
	if (set_str(ev, "type", has_sev && sev >= SEVERITY_ERROR ? "error" : TYPE_LOG) ||
	    (!(has_sev && sev >= SEVERITY_ERROR) && set_str(ev, "level", "agent")) ||
	    set_str(ev, "actor", w.actor) || set_ts(ev, t ? t : observed) ||
	    set_str(ev, "agent_id", w.agent_id) || set_str(ev, "agent_version", w.agent_version) ||
	    set_str(ev, "model", w.model) || set_str(ev, "session_id", w.session_id) ||
	    set_str(ev, "user_id", w.user_id) ||
	    (has_sev && sev >= SEVERITY_ERROR && set_str(ev, "outcome", "error")))
		goto oom;
	if (tr == 0) {
		atr__hex(hex, trace, 16);
		if (set_str(ev, "trace_id", hex))
			goto oom;
		if (sr == 0) {
			/* The span's event: the record is about what that span did. */
			span_uuid(trace, span, "", id);
			if (set_str(ev, "parent_event_id", id))
				goto oom;
		}
	}
	if (sr == 0) {
		atr__hex(hex, span, 8);
		if (set_str(otel, "span_id", hex))
			goto oom;
	}
	if ((body && set(detail, "body", json_incref(body))) ||
	    (has_sev && set(otel, "severity_number", json_integer((json_int_t)sev))) ||
	    (sev_text && *sev_text && set_str(otel, "severity_text", sev_text)) ||
	    (event_name && *event_name && set_str(otel, "event_name", event_name)) ||
	    (has_flags && set(otel, "flags", json_integer((json_int_t)flags))) ||
	    (t && set(otel, "time_unix_nano", u64_text(t))) ||
	    (observed && set(otel, "observed_time_unix_nano", u64_text(observed))) ||
	    set(otel, "attributes", json_incref(attrs)) ||
	    set_count(otel, "dropped_attributes_count", dropped) || put_envelope(otel, env) ||
	    set(detail, "otel", json_incref(otel)) || set(ev, "detail", json_incref(detail)))
		goto oom;
	/*
	 * A log record has no id of its own: its event id hashes its content,
	 * so a record sent again is answered as a duplicate.
	 */
	if (!(text = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS)))
		goto oom;
	bytes_uuid(text, strlen(text), id);
	free(text);
	if (set_str(ev, "event_id", id))
		goto oom;
	rc = finish_item(c, &ev, 1, names);
	ev = NULL;
	goto out;
oom:
	rc = oom();
	c->b->items++;
out:
	json_decref(ev);
	json_decref(detail);
	json_decref(otel);
	json_decref(attrs);
	json_decref(body);
	return rc;
}

/*
 * The nesting both signals share: resources, each with scopes, each with
 * items (spans or log records), every item mapped with its envelope.
 */
struct shape {
	const char *resources, *resource; /* "resourceSpans", and what a non-object one is told */
	const char *scopes, *scope;       /* "scopeSpans", and the same */
	const char *items;                /* "spans" */
	int (*one)(struct ctx *c, json_t *item, const struct envelope *env);
};

static const struct shape traces_shape = {"resourceSpans", "must be an object (a ResourceSpans)",
                                          "scopeSpans",    "must be an object (a ScopeSpans)",
                                          "spans",         one_span};
static const struct shape logs_shape = {"resourceLogs", "must be an object (a ResourceLogs)",
                                        "scopeLogs",    "must be an object (a ScopeLogs)",
                                        "logRecords",   one_log};

static int map_request(struct ctx *c, json_t *root, const struct shape *sh)
{
	json_t *rs_all;
	int rc;

	if ((rc = get_array(c, root, sh->resources, &rs_all)) != 0 || !rs_all)
		return rc;
	for (size_t r = 0; r < json_array_size(rs_all); r++) {
		json_t *rs = json_array_get(rs_all, r), *scopes = NULL;
		struct envelope env = {0};
		size_t o1 = path_push(c, sh->resources, 0, 0);

		path_push(c, NULL, r, 1);
		if (!json_is_object(rs))
			rc = bad(c, NULL, sh->resource);
		else if ((rc = resource_of(c, rs, &env)) == 0)
			rc = get_array(c, rs, sh->scopes, &scopes);
		for (size_t s = 0; rc == 0 && scopes && s < json_array_size(scopes); s++) {
			json_t *ss = json_array_get(scopes, s), *items = NULL;
			size_t o2 = path_push(c, sh->scopes, 0, 0);

			path_push(c, NULL, s, 1);
			if (!json_is_object(ss))
				rc = bad(c, NULL, sh->scope);
			else if ((rc = scope_of(c, ss, &env)) == 0)
				rc = get_array(c, ss, sh->items, &items);
			for (size_t i = 0; rc == 0 && items && i < json_array_size(items); i++) {
				size_t o3 = path_push(c, sh->items, 0, 0);

				path_push(c, NULL, i, 1);
				rc = sh->one(c, json_array_get(items, i), &env);
				path_pop(c, o3);
			}
			path_pop(c, o2);
		}
		envelope_release(&env);
		path_pop(c, o1);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The public functions                                                */
/* ------------------------------------------------------------------ */

int atr_otlp_map(atr_otlp_batch **out, atr_otlp_signal signal, const char *json, size_t len,
                 size_t max_events)
{
	struct ctx c;
	json_error_t jerr;
	json_t *root;
	int rc;

	*out = NULL;
	error_path[0] = '\0';
	if (signal != ATR_OTLP_TRACES && signal != ATR_OTLP_LOGS)
		return atr__err(ATR_EINVALID, "unknown OTLP signal %d", (int)signal);
	if (len > ATR_OTLP_MAX_BODY)
		return atr__err(ATR_ETOOBIG, "the request is %zu bytes; the limit is %u", len,
		                ATR_OTLP_MAX_BODY);
	root = json_loadb(json ? json : "", len, JSON_DECODE_ANY, &jerr);
	if (!root)
		return atr__err(ATR_EINVALID, "malformed JSON at line %d column %d (byte %d): %s",
		                jerr.line, jerr.column, jerr.position, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return atr__err(ATR_EINVALID, "the body must be a JSON object (an %s)",
		                signal == ATR_OTLP_TRACES ? "ExportTraceServiceRequest"
		                                          : "ExportLogsServiceRequest");
	}
	memset(&c, 0, sizeof(c));
	c.max_events = max_events;
	c.now_us = atr__now_us();
	if (!(c.b = calloc(1, sizeof(*c.b)))) {
		json_decref(root);
		return oom();
	}
	c.b->signal = signal;
	rc = map_request(&c, root, signal == ATR_OTLP_TRACES ? &traces_shape : &logs_shape);
	json_decref(root);
	if (rc != 0) {
		atr_otlp_batch_free(c.b);
		return rc;
	}
	*out = c.b;
	return 0;
}

size_t atr_otlp_batch_items(const atr_otlp_batch *b)
{
	return b->items;
}

size_t atr_otlp_batch_rejected(const atr_otlp_batch *b)
{
	return b->rejected;
}

size_t atr_otlp_batch_events(const atr_otlp_batch *b)
{
	return b->nev;
}

const char *atr_otlp_batch_event(const atr_otlp_batch *b, size_t i, size_t *len, size_t *item)
{
	if (i >= b->nev)
		return NULL;
	if (len)
		*len = b->ev[i].len;
	if (item)
		*item = b->ev[i].item;
	return b->ev[i].text;
}

int atr_otlp_batch_reject(atr_otlp_batch *b, size_t item, const char *why)
{
	size_t k = 0, found = 0;
	char *msg;
	int rc;

	for (size_t i = 0; i < b->nev; i++) {
		if (b->ev[i].item == item) {
			free(b->ev[i].text);
			found++;
		} else {
			b->ev[k++] = b->ev[i];
		}
	}
	if (!found)
		return atr__err(ATR_ENOTFOUND, "item %zu has no events in the batch", item);
	b->nev = k;
	/* Named as the mapping names its refusals: the item's path first. */
	if (asprintf(&msg, "%s: %s", b->paths[item], why) < 0)
		return oom();
	rc = refuse(b, item, msg);
	free(msg);
	return rc;
}

const char *atr_otlp_batch_error(const atr_otlp_batch *b, size_t k, size_t *item)
{
	if (k >= b->nrej)
		return NULL;
	if (item)
		*item = b->rej[k].item;
	return b->rej[k].msg;
}

const char *atr_otlp_batch_summary(atr_otlp_batch *b)
{
	const char *what = b->signal == ATR_OTLP_TRACES ? "span" : "log record";
	size_t cap = 256, used;
	char *s;

	if (!b->rejected)
		return "";
	if (b->summary)
		return b->summary;
	for (size_t k = 0; k < b->nrej && k < SUMMARY_MAX; k++)
		cap += strlen(b->rej[k].msg) + 2;
	if (!(s = malloc(cap)))
		return "some items were refused (out of memory describing them)";
	used = (size_t)snprintf(s, cap, "%zu of %zu %ss refused", b->rejected, b->items, what);
	for (size_t k = 0; k < b->nrej && k < SUMMARY_MAX; k++)
		used +=
		    (size_t)snprintf(s + used, cap - used, "%s%s", k ? "; " : ": ", b->rej[k].msg);
	if (b->rejected > SUMMARY_MAX)
		snprintf(s + used, cap - used, "; and %zu more", b->rejected - SUMMARY_MAX);
	b->summary = s;
	return s;
}

void atr_otlp_batch_free(atr_otlp_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nev; i++)
		free(b->ev[i].text);
	free(b->ev);
	for (size_t k = 0; k < b->nrej; k++)
		free(b->rej[k].msg);
	free(b->rej);
	for (size_t i = 0; i < b->pathcap; i++)
		free(b->paths[i]);
	free(b->paths);
	free(b->summary);
	free(b);
}

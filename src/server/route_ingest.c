/*
 * POST /api/v1/events: inflate a gzip body under the size cap, split a JSON
 * array or NDJSON into the event texts as they were sent (the library
 * validates and canonicalizes each), submit them as one atomic request and
 * answer each event's seq, id and leaf hash once they are durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include "lib/jscan.h"
#include "server/server.h"

struct items {
	const char **text;
	size_t *len;
	size_t *off; /* where each starts in the body, for byte offsets in errors */
	size_t n, cap;
};

static void items_release(struct items *it)
{
	free(it->text);
	free(it->len);
	free(it->off);
}

/* Add one item; -1 out of memory, -2 over SRV_MAX_EVENTS. */
static int items_add(struct items *it, const char *body, size_t off, size_t len)
{
	if (it->n == SRV_MAX_EVENTS)
		return -2;
	if (it->n == it->cap) {
		size_t cap = it->cap ? 2 * it->cap : 16;
		const char **t = realloc(it->text, cap * sizeof(*t));
		size_t *l, *o;

		if (!t)
			return -1;
		it->text = t;
		l = realloc(it->len, cap * sizeof(*l));
		if (!l)
			return -1;
		it->len = l;
		o = realloc(it->off, cap * sizeof(*o));
		if (!o)
			return -1;
		it->off = o;
		it->cap = cap;
	}
	it->text[it->n] = body + off;
	it->len[it->n] = len;
	it->off[it->n] = off;
	it->n++;
	return 0;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

struct split_error {
	int code;
	size_t at; /* byte offset */
	char msg[160];
};

static int split_fail(struct split_error *e, int code, size_t at, const char *msg)
{
	e->code = code;
	e->at = at;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	return -1;
}

static int add_or_fail(struct items *it, const char *b, size_t start, size_t end,
                       struct split_error *e)
{
	int rc = items_add(it, b, start, end - start);

	if (rc == -2) {
		char msg[100];

		snprintf(msg, sizeof(msg), "more than %u events in one request", SRV_MAX_EVENTS);
		return split_fail(e, SRV_ETOOMANY, start, msg);
	}
	if (rc)
		return split_fail(e, ATR_ENOMEM, start, "out of memory");
	return 0;
}

/*
 * The elements of the array that starts at 'b[i]' ('['). Only the structure
 * between elements is checked here: each element's own syntax is the
 * library's to judge, and its error names the element.
 */
static int split_array(const char *b, size_t len, size_t i, struct items *it, struct split_error *e)
{
	i++; /* '[' */
	while (i < len && is_ws(b[i]))
		i++;
	if (i < len && b[i] == ']') {
		i++;
		goto tail;
	}
	for (;;) {
		size_t start = i, end;
		int depth = 0, in_str = 0;

		for (; i < len; i++) {
			char c = b[i];

			if (in_str) {
				if (c == '\\')
					i++;
				else if (c == '"')
					in_str = 0;
			} else if (c == '"') {
				in_str = 1;
			} else if (c == '{' || c == '[') {
				depth++;
			} else if (c == '}' || c == ']') {
				if (depth == 0)
					break;
				depth--;
			} else if (c == ',' && depth == 0) {
				break;
			}
		}
		if (i >= len)
			return split_fail(e, SRV_EBADJSON, len,
			                  "malformed JSON: the array is not closed");
		end = i;
		while (end > start && is_ws(b[end - 1]))
			end--;
		if (end == start)
			return split_fail(e, SRV_EBADJSON, i, "malformed JSON: expected a value");
		if (b[i] == '}')
			return split_fail(e, SRV_EBADJSON, i, "malformed JSON: unexpected '}'");
		if (add_or_fail(it, b, start, end, e))
			return -1;
		if (b[i++] == ']')
			break;
		while (i < len && is_ws(b[i]))
			i++;
	}
tail:
	while (i < len && is_ws(b[i]))
		i++;
	if (i < len)
		return split_fail(e, SRV_EBADJSON, i,
		                  "malformed JSON: unexpected text after the array");
	return 0;
}

/* One event per non-blank line. */
static int split_ndjson(const char *b, size_t len, struct items *it, struct split_error *e)
{
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(b + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - b) : len, start = i;

		while (start < end && is_ws(b[start]))
			start++;
		i = end + 1;
		while (end > start && is_ws(b[end - 1]))
			end--;
		if (end > start && add_or_fail(it, b, start, end, e))
			return -1;
	}
	return 0;
}

static int split_body(const char *b, size_t len, int ndjson, struct items *it,
                      struct split_error *e)
{
	size_t i = 0, end = len;

	if (ndjson) {
		if (split_ndjson(b, len, it, e))
			return -1;
	} else {
		while (i < len && is_ws(b[i]))
			i++;
		if (i < len && b[i] == '[') {
			if (split_array(b, len, i, it, e))
				return -1;
		} else {
			while (end > i && is_ws(b[end - 1]))
				end--;
			if (end > i && add_or_fail(it, b, i, end, e))
				return -1;
		}
	}
	if (it->n == 0)
		return split_fail(e, ATR_EINVALID, 0, "the body holds no events");
	return 0;
}

/* Inflate a gzip body (one or more members) into 'out', at most 'max' bytes. */
static int gunzip(const char *in, size_t len, size_t max, struct util_buf *out,
                  struct split_error *e)
{
	z_stream z;
	int zr = Z_OK;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return split_fail(e, ATR_ENOMEM, 0, "cannot start inflating the body");
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	/* Bodies are capped below 4 GiB by --max-body, so avail_in fits. */
	while (z.avail_in > 0 || zr != Z_STREAM_END) {
		char chunk[16384];

		z.next_out = (Bytef *)chunk;
		z.avail_out = sizeof(chunk);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && !(zr == Z_BUF_ERROR && z.avail_in)) {
			char msg[160];

			snprintf(msg, sizeof(msg), "the gzip body is corrupt or cut short%s%s",
			         z.msg ? ": " : "", z.msg ? z.msg : "");
			inflateEnd(&z);
			return split_fail(e, SRV_EBADJSON, z.total_in, msg);
		}
		if (sizeof(chunk) - z.avail_out > max - out->len) {
			char msg[120];

			snprintf(msg, sizeof(msg), "the inflated body exceeds %zu bytes", max);
			inflateEnd(&z);
			return split_fail(e, SRV_EBODYBIG, 0, msg);
		}
		if (util_buf_add(out, chunk, sizeof(chunk) - z.avail_out)) {
			inflateEnd(&z);
			return split_fail(e, ATR_ENOMEM, 0, "out of memory inflating the body");
		}
		if (zr == Z_STREAM_END && z.avail_in > 0)
			inflateReset(&z); /* concatenated members, as gzip(1) makes them */
		else if (zr == Z_STREAM_END)
			break;
	}
	inflateEnd(&z);
	return 0;
}

int srv_gunzip(const char *in, size_t len, size_t max, struct util_buf *out, char *msg,
               size_t msgsize)
{
	struct split_error e = {0};

	if (gunzip(in, len, max, out, &e) == 0)
		return 0;
	snprintf(msg, msgsize, "%s", e.msg);
	return e.code;
}

/*
 * Where a failed submission went wrong, from the library's message: the
 * item ("event 3: ...", batches only), and either the byte offset of
 * malformed JSON in the body or the field the message names.
 */
static int locate(const struct items *it, int code, const char *msg, char *at, size_t atsize)
{
	size_t item = 0, used = 0;
	const char *p;
	int bad_json = 0;

	at[0] = '\0';
	if (it->n > 1 && strncmp(msg, "event ", 6) == 0) {
		char *endp;
		unsigned long long v = strtoull(msg + 6, &endp, 10);

		if (endp != msg + 6 && *endp == ':' && v < it->n) {
			item = (size_t)v;
			used = (size_t)snprintf(at, atsize, "event %zu", item);
		}
	}
	p = strstr(msg, "malformed JSON at line ");
	if (code == ATR_EINVALID && p) {
		long line = 0, col = 0;
		size_t off = 0;

		bad_json = 1;
		/* The library counts lines and byte columns from 1; 'at' is a 0-based body offset.
		 */
		if (sscanf(p, "malformed JSON at line %ld column %ld", &line, &col) == 2 &&
		    line > 0 && col > 0) {
			for (long l = 1; l < line && off < it->len[item]; off++)
				if (it->text[item][off] == '\n')
					l++;
			off += (size_t)col - 1;
			if (used < atsize)
				snprintf(at + used, atsize - used, "%sbyte %zu", used ? ", " : "",
				         it->off[item] + off);
		}
		return bad_json;
	}
	p = strstr(msg, "field '");
	if (p && used < atsize) {
		size_t n;

		p += 7;
		n = strcspn(p, "'");
		snprintf(at + used, atsize - used, "%s%.*s", used ? ", " : "", (int)n, p);
	}
	return bad_json;
}

static void answer(struct srv_req *req, const struct items *it, const atr_append_result *res)
{
	struct util_buf b;

	util_buf_init(&b);
	if (util_buf_adds(&b, "{\"results\":["))
		goto oom;
	for (size_t i = 0; i < it->n; i++) {
		if (srv_bufprintf(&b, "%s{\"seq\":%llu,\"event_id\":\"%s\",\"hash\":", i ? "," : "",
		                  (unsigned long long)res[i].seq, res[i].event_id) ||
		    srv_json_hash(&b, &res[i].leaf_hash) ||
		    srv_bufprintf(&b, ",\"duplicate\":%s}", res[i].duplicate ? "true" : "false"))
			goto oom;
	}
	if (util_buf_adds(&b, "]}"))
		goto oom;
	srv_reply_json(req, 201, &b);
	util_buf_release(&b);
	return;
oom:
	util_buf_release(&b);
	srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
}

/* One ingest request between its parse and its answer. */
struct srv_ingest {
	struct util_buf plain; /* the inflated body of a gzip request */
	struct items it;       /* the event texts, pointing into the body */
	atr_append_result *res;
	/* Places held in the server's ingest queue (srv_queue_admit). */
	size_t admitted;
	int rc;         /* what the submission returned */
	char msg[1024]; /* its message, copied: the submitting thread's atr_errmsg() */
};

void srv_ingest_release(struct srv_req *req)
{
	struct srv_ingest *in = req->ingest;

	if (!in)
		return;
	if (in->admitted)
		srv_queue_done(req->srv, in->admitted);
	free(in->res);
	items_release(&in->it);
	util_buf_release(&in->plain);
	free(in);
	req->ingest = NULL;
}

/*
 * Events only the server's own routes and the operator's CLI write: tokens
 * (`agentrail token`), policies (POST /api/v1/policies), erasure records
 * (`agentrail prune`, `erase`), and anything signed by one of the server's
 * own threads (actor "agentrail-…": alerts, reports). Taken through the
 * ingest routes they would let a writer grant itself a role, publish a
 * policy or hide a report. The type and actor are read as the event parser
 * will read them: a value with an escape is decoded first.
 */
static const char *const reserved_types[] = {"token_change", "policy_publish", "policy_rollback",
                                             "erasure", NULL};

/* Member 'key' of one event as a C string in 'out' ("" when absent or not a string). */
static void member_text(const char *ev, size_t len, const char *key, char *out, size_t cap)
{
	const char *v;
	size_t n;
	json_t *j;

	out[0] = '\0';
	if (atr__json_member(ev, len, key, &v, &n) != 0 || n < 2 || v[0] != '"')
		return;
	if (!memchr(v, '\\', n)) {
		snprintf(out, cap, "%.*s", (int)(n - 2), v + 1);
		return;
	}
	if ((j = json_loadb(v, n, JSON_DECODE_ANY, NULL)) != NULL) {
		snprintf(out, cap, "%s", json_string_value(j) ? json_string_value(j) : "");
		json_decref(j);
	}
}

/* 0, or the index of the first event the ingest routes do not take ('*why' says why). */
static int reserved_event(const struct items *it, size_t *index, char *why, size_t cap)
{
	char type[64], actor[64];

	for (size_t i = 0; i < it->n; i++) {
		member_text(it->text[i], it->len[i], "type", type, sizeof(type));
		member_text(it->text[i], it->len[i], "actor", actor, sizeof(actor));
		for (const char *const *t = reserved_types; *t; t++)
			if (!strcmp(type, *t)) {
				snprintf(why, cap,
				         "event %zu: type '%s' is written only by the server's own "
				         "routes "
				         "and the operator's CLI (see docs/server.md), not through "
				         "ingest",
				         i, type);
				*index = i;
				return 1;
			}
		if (!strncmp(actor, SRV_OWN_ACTOR_PREFIX, strlen(SRV_OWN_ACTOR_PREFIX))) {
			snprintf(why, cap,
			         "event %zu: actor '%s' is reserved for the server's own threads "
			         "(names starting '%s')",
			         i, actor, SRV_OWN_ACTOR_PREFIX);
			*index = i;
			return 1;
		}
	}
	return 0;
}

int srv_ingest_parse(struct srv_req *req)
{
	struct srv_ingest *in;
	struct split_error e = {0};
	const char *body = req->body.data ? req->body.data : "";
	size_t len = req->body.len;
	char at[128];

	in = calloc(1, sizeof(*in));
	if (!in) {
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		return -1;
	}
	req->ingest = in;
	util_buf_init(&in->plain);
	if (req->gzip) {
		if (gunzip(body, len, srv_max_body(req->srv), &in->plain, &e) != 0)
			goto split_error;
		body = in->plain.data ? in->plain.data : "";
		len = in->plain.len;
	}
	if (split_body(body, len, req->ndjson, &in->it, &e) != 0)
		goto split_error;
	{
		char why[300];
		size_t idx;

		if (reserved_event(&in->it, &idx, why, sizeof(why))) {
			snprintf(at, sizeof(at), "event %zu", idx);
			srv_reply_error(req, SRV_ERESERVED, why, at);
			srv_ingest_release(req);
			return -1;
		}
	}
	/* Bigger than the whole queue: it would never fit, so retrying cannot help. */
	if (in->it.n > srv_queue_max(req->srv)) {
		char msg[200];

		snprintf(msg, sizeof(msg),
		         "%zu events in one request; the ingest queue holds at most %zu "
		         "(--queue-max): send them in smaller requests",
		         in->it.n, srv_queue_max(req->srv));
		srv_reply_error(req, SRV_ETOOMANY, msg, NULL);
		srv_ingest_release(req);
		return -1;
	}
	if (srv_queue_admit(req->srv, in->it.n) != 0) {
		srv_reply_queue_full(req);
		srv_ingest_release(req);
		return -1;
	}
	in->admitted = in->it.n;
	in->res = calloc(in->it.n, sizeof(*in->res));
	if (!in->res) {
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		srv_ingest_release(req);
		return -1;
	}
	return 0;
split_error:
	if (e.code == SRV_EBADJSON || e.code == SRV_ETOOMANY)
		snprintf(at, sizeof(at), "byte %zu", e.at);
	srv_reply_error(req, e.code, e.msg,
	                e.code == SRV_EBADJSON || e.code == SRV_ETOOMANY ? at : NULL);
	srv_ingest_release(req);
	return -1;
}

void srv_ingest_submit(struct srv_req *req)
{
	struct srv_ingest *in = req->ingest;

	in->rc = srv_submit(req->srv, in->it.text, in->it.len, in->it.n, in->res);
	/* Written (or refused): the places go back before the answer is sent. */
	srv_queue_done(req->srv, in->admitted);
	in->admitted = 0;
	/* Keep the message: it is this thread's, and later calls replace it. */
	if (in->rc != 0)
		snprintf(in->msg, sizeof(in->msg), "%s", atr_errmsg());
}

void srv_ingest_answer(struct srv_req *req)
{
	struct srv_ingest *in = req->ingest;
	char at[128];
	int rc = in->rc;

	if (rc != 0) {
		if (locate(&in->it, rc, in->msg, at, sizeof(at)))
			rc = SRV_EBADJSON;
		srv_reply_error(req, rc, in->msg, at[0] ? at : NULL);
	} else {
		answer(req, &in->it, in->res);
	}
	srv_ingest_release(req);
}

void srv_reply_queue_full(struct srv_req *req)
{
	char msg[200];

	snprintf(msg, sizeof(msg),
	         "the ingest queue is full (%zu of %zu events waiting to be written); retry "
	         "after the seconds in Retry-After",
	         srv_queue_pending(req->srv), srv_queue_max(req->srv));
	srv_reply_error(req, SRV_EQUEUEFULL, msg, NULL);
}

void srv_h_ingest(struct srv_req *req)
{
	if (srv_ingest_parse(req) != 0)
		return;
	srv_ingest_submit(req);
	srv_ingest_answer(req);
}

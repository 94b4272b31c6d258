/*
 * Answers derived from the log: a job's state, its decisions and the
 * approval queue (the library's jobs.h), a session's or trace's events as
 * a tree by parent_event_id, a workflow run's timeline and the policy
 * audit trail. Every list is paged with 'limit' and an opaque cursor (the
 * seq where the next page starts, as for /api/v1/events), and every answer
 * is bounded in events and bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "server/server.h"

/* ------------------------------------------------------- helpers */

/* Events per page of a derived list (trail, trace, policy audit, decisions, approvals). */
#define DER_MAX_LIMIT        10000u
#define DER_MAX_BYTES        ((size_t)64 << 20) /* records in one page, about */
#define DER_TIMELINE_DEFAULT 200u

/* One page asked for: 'from' is 0 without a cursor. */
struct page {
	uint64_t limit;
	uint64_t from;
	int cursor; /* a cursor was given: an empty page is no 404 */
};

/* Read 'limit' (1 to 'max', default 'def') and 'cursor'; -1 with 400 answered. */
static int page_args(struct srv_req *req, uint64_t def, uint64_t max, struct page *pg)
{
	const char *v = srv_arg_str(req, "limit"), *c = srv_arg_str(req, "cursor");
	char msg[200];

	pg->limit = def;
	pg->from = 0;
	pg->cursor = c != NULL;
	if (v && (util_parse_u64(v, &pg->limit) != 0 || pg->limit == 0 || pg->limit > max)) {
		snprintf(msg, sizeof(msg), "parameter 'limit' must be 1 to %llu, got '%.64s'",
		         (unsigned long long)max, v);
		srv_reply_error(req, SRV_EBADREQ, msg, "limit");
		return -1;
	}
	if (c && srv_cursor_decode(c, &pg->from) != 0) {
		srv_reply_error(req, SRV_EBADREQ,
		                "parameter 'cursor' is not a cursor this server made", "cursor");
		return -1;
	}
	return 0;
}

/* Percent-encode 's' for a path segment or a query value. */
static int url_encode(struct util_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			if (util_buf_add(b, s, 1))
				return -1;
		} else {
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

			if (util_buf_add(b, esc, 3))
				return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------- jobs */

/*
 * The job's state, plus "links" to where its capped lists go on in full:
 * the paged decisions and the job's approval requests.
 */
void srv_h_job(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	const char *id = req->captures[0];
	char *json = NULL;
	struct util_buf b;
	atr_log *log;
	size_t end;
	int rc;

	if (srv_only_args(req, allowed) || !(log = srv_reader(req)))
		return;
	rc = atr_job_json(log, id, &json);
	if (rc != 0) {
		srv_reply_wrapped(req, rc, "job_id", "", json, "");
		return;
	}
	end = strlen(json);
	while (end > 0 && json[end - 1] != '}')
		end--;
	util_buf_init(&b);
	if (end < 2 || util_buf_add(&b, json, end - 1) ||
	    util_buf_adds(&b, ",\"links\":{\"decisions\":\"/api/v1/jobs/") || url_encode(&b, id) ||
	    util_buf_adds(&b, "/decisions\",\"approvals\":") ||
	    util_buf_adds(&b, "\"/api/v1/events?type=approval_request&job_id=") ||
	    url_encode(&b, id) || util_buf_adds(&b, "\"}}")) {
		atr_free(json);
		srv_reply_oom(req, &b);
		return;
	}
	atr_free(json);
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
}

void srv_h_job_decisions(struct srv_req *req)
{
	static const char *const allowed[] = {"limit", "cursor", NULL};
	struct page pg;
	uint64_t next = 0;
	char *json = NULL, post[48];
	atr_log *log;
	int rc;

	if (srv_only_args(req, allowed) || page_args(req, DER_MAX_LIMIT, DER_MAX_LIMIT, &pg) ||
	    !(log = srv_reader(req)))
		return;
	rc = atr_job_decisions_page(log, req->captures[0], pg.from, pg.limit, &json, &next);
	srv_next_cursor(next != 0, next, post);
	srv_reply_wrapped(req, rc, "job_id", "{\"decisions\":", json, post);
}

void srv_h_approvals(struct srv_req *req)
{
	static const char *const allowed[] = {"include_resolved", "limit", "cursor", NULL};
	const char *v;
	char *json = NULL, post[48];
	struct page pg;
	uint64_t next = 0;
	int all = 0, rc;
	atr_log *log;

	if (srv_only_args(req, allowed))
		return;
	v = srv_arg_str(req, "include_resolved");
	if (v && strcmp(v, "true") == 0) {
		all = 1;
	} else if (v && strcmp(v, "false") != 0) {
		char msg[160];

		snprintf(msg, sizeof(msg),
		         "parameter 'include_resolved' must be 'true' or 'false', got '%.64s'", v);
		srv_reply_error(req, SRV_EBADREQ, msg, "include_resolved");
		return;
	}
	if (page_args(req, DER_MAX_LIMIT, DER_MAX_LIMIT, &pg) || !(log = srv_reader(req)))
		return;
	rc = atr_approvals_page(srv_approvals(req->srv), log, all, pg.from, pg.limit, &json, &next);
	srv_next_cursor(next != 0, next, post);
	srv_reply_wrapped(req, rc, NULL, "{\"approvals\":", json, post);
}

/* ------------------------------------------------------- trails */

/* One event of a trail: its JSON text and its place in the tree. */
struct node {
	char *json;
	size_t len;
	char *id;     /* event_id, NULL if absent */
	char *parent; /* parent_event_id, NULL if absent */
	long up;      /* the parent's index, -1 at the top level */
	long first, last, next;
};

struct trail {
	struct node *v;
	size_t n, cap, bytes;
};

static void trail_free(struct trail *t)
{
	for (size_t i = 0; i < t->n; i++) {
		atr_free(t->v[i].json);
		free(t->v[i].id);
		free(t->v[i].parent);
	}
	free(t->v);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/*
 * Read one page of 'q' into 't': at most 'limit' events and, beyond the
 * first, at most DER_MAX_BYTES of records. '*next' is the seq where the next
 * page starts, 0 when this one is the last.
 */
static int trail_read(atr_log *log, atr_query *q, uint64_t limit, struct trail *t, uint64_t *next)
{
	const atr_record *rec;
	atr_cursor *cur = NULL;
	int rc;

	*next = 0;
	q->limit = limit + 1; /* one more tells whether there is a next page */
	if ((rc = atr_log_query(log, q, &cur)) != 0)
		return rc;
	while ((rc = atr_cursor_next(cur, &rec)) == 1) {
		struct node *nd;
		const char *id = atr_record_str(rec, "event_id");
		const char *parent = atr_record_str(rec, "parent_event_id");
		char *json = NULL;
		size_t len;

		if (t->n == limit) {
			*next = atr_record_seq(rec);
			rc = 0;
			break;
		}
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 64;
			struct node *v = realloc(t->v, cap * sizeof(*v));

			if (!v) {
				rc = ATR_ENOMEM;
				break;
			}
			t->v = v;
			t->cap = cap;
		}
		if ((rc = atr_record_to_json(rec, &json)) != 0)
			break;
		len = strlen(json);
		if (t->n > 0 && t->bytes + len + 16 > DER_MAX_BYTES) {
			atr_free(json);
			*next = atr_record_seq(rec);
			rc = 0;
			break;
		}
		nd = &t->v[t->n++];
		memset(nd, 0, sizeof(*nd));
		nd->json = json;
		nd->len = len;
		nd->id = dup_or_null(id);
		nd->parent = dup_or_null(parent);
		nd->up = nd->first = nd->last = nd->next = -1;
		if ((id && !nd->id) || (parent && !nd->parent)) {
			rc = ATR_ENOMEM;
			break;
		}
		t->bytes += nd->len + 16;
	}
	atr_cursor_free(cur);
	return rc;
}

/*
 * Link each event under the event its parent_event_id names, when that is
 * in the set; the rest are roots. Client-chosen ids can make a cycle; it is
 * broken at the first of its events met, which stays at the top level.
 */
static int trail_link(struct trail *t, long *roots_first)
{
	json_t *ids = json_object();
	unsigned char *state;
	long roots_last = -1;

	*roots_first = -1;
	state = calloc(t->n ? t->n : 1, 1);
	if (!ids || !state) {
		json_decref(ids);
		free(state);
		return ATR_ENOMEM;
	}
	for (size_t i = 0; i < t->n; i++) {
		const char *id = t->v[i].id;

		if (!id || json_object_get(ids, id))
			continue;
		if (json_object_set_new(ids, id, json_integer((json_int_t)i)) != 0) {
			json_decref(ids);
			free(state);
			return ATR_ENOMEM;
		}
	}
	for (size_t i = 0; i < t->n; i++) {
		json_t *p = t->v[i].parent ? json_object_get(ids, t->v[i].parent) : NULL;

		t->v[i].up = p ? (long)json_integer_value(p) : -1;
	}
	json_decref(ids);
	/* state: 0 unseen, 1 on the walk from the current event, 2 done. */
	for (size_t i = 0; i < t->n; i++) {
		long j = (long)i, cycle;

		while (j >= 0 && state[j] == 0) {
			state[j] = 1;
			j = t->v[j].up;
		}
		cycle = j >= 0 && state[j] == 1 ? j : -1; /* the walk came back to j */
		for (j = (long)i; j >= 0 && state[j] == 1; j = t->v[j].up)
			state[j] = 2;
		if (cycle >= 0)
			t->v[cycle].up = -1;
	}
	free(state);
	for (size_t i = 0; i < t->n; i++) {
		long up = t->v[i].up;

		if (up < 0) {
			if (roots_last < 0)
				*roots_first = (long)i;
			else
				t->v[roots_last].next = (long)i;
			roots_last = (long)i;
		} else {
			if (t->v[up].last < 0)
				t->v[up].first = (long)i;
			else
				t->v[t->v[up].last].next = (long)i;
			t->v[up].last = (long)i;
		}
	}
	return 0;
}

/* The record object without its closing brace, then "children":[ */
static int open_node(struct util_buf *b, const struct node *nd)
{
	size_t end = nd->len;

	while (end > 0 && nd->json[end - 1] != '}')
		end--;
	if (end < 2)
		return -1;
	end--;
	if (util_buf_add(b, nd->json, end))
		return -1;
	/* Skip the comma only for an empty object "{}". */
	while (end > 0 && (nd->json[end - 1] == ' ' || nd->json[end - 1] == '\n'))
		end--;
	if (nd->json[end - 1] != '{' && util_buf_add(b, ",", 1))
		return -1;
	return util_buf_adds(b, "\"children\":[");
}

/* Write the forest without recursion: nesting can be as deep as the trail is long. */
static int trail_write(struct util_buf *b, const struct trail *t, long root)
{
	int first = 1;

	for (long r = root; r >= 0; r = t->v[r].next) {
		long i = r;

		if (!first && util_buf_add(b, ",", 1))
			return -1;
		first = 0;
		for (;;) {
			if (open_node(b, &t->v[i]))
				return -1;
			if (t->v[i].first >= 0) {
				i = t->v[i].first;
				continue;
			}
			if (util_buf_adds(b, "]}"))
				return -1;
			while (i != r && t->v[i].next < 0) {
				i = t->v[i].up;
				if (util_buf_adds(b, "]}"))
					return -1;
			}
			if (i == r)
				break;
			i = t->v[i].next;
			if (util_buf_add(b, ",", 1))
				return -1;
		}
	}
	return 0;
}

/*
 * GET /api/v1/sessions/{id}/trail and /api/v1/traces/{id}; 'field' says
 * which. A page is the next 'limit' events in seq order, as a tree: an
 * event sits under its parent when the parent is on the same page, else at
 * the page's top level.
 */
static void trail(struct srv_req *req, const char *field)
{
	static const char *const allowed[] = {"limit", "cursor", NULL};
	const char *id = req->captures[0];
	const int session = strcmp(field, "session_id") == 0;
	atr_query q = {0};
	struct trail t = {0};
	struct util_buf b;
	struct page pg;
	uint64_t next = 0;
	atr_log *log;
	long root = -1;
	char msg[400], post[48];
	int rc;

	if (srv_only_args(req, allowed) || page_args(req, DER_MAX_LIMIT, DER_MAX_LIMIT, &pg) ||
	    !(log = srv_reader(req)))
		return;
	if (session)
		q.session_id = id;
	else
		q.trace_id = id;
	q.seq_from = pg.from;
	rc = trail_read(log, &q, pg.limit, &t, &next);
	if (rc == 0 && t.n == 0 && !pg.cursor) {
		snprintf(msg, sizeof(msg), "no events for %s '%.100s'",
		         session ? "session" : "trace", id);
		trail_free(&t);
		srv_reply_error(req, ATR_ENOTFOUND, msg, field);
		return;
	}
	if (rc == 0)
		rc = trail_link(&t, &root);
	if (rc != 0) {
		trail_free(&t);
		srv_reply_error(req, rc, rc == ATR_ENOMEM ? "out of memory" : NULL, NULL);
		return;
	}
	srv_next_cursor(next != 0, next, post);
	util_buf_init(&b);
	if (srv_bufprintf(&b, "{\"%s\":", field) || srv_json_str(&b, id, strlen(id)) ||
	    util_buf_adds(&b, ",\"events\":[") || trail_write(&b, &t, root) ||
	    util_buf_adds(&b, "]") || util_buf_adds(&b, post)) {
		trail_free(&t);
		srv_reply_oom(req, &b);
		return;
	}
	trail_free(&t);
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
}

void srv_h_session_trail(struct srv_req *req)
{
	trail(req, "session_id");
}

void srv_h_trace(struct srv_req *req)
{
	trail(req, "trace_id");
}

/* ------------------------------------------------------- timeline */

void srv_h_timeline(struct srv_req *req)
{
	static const char *const allowed[] = {"limit", "cursor", NULL};
	const char *id = req->captures[0];
	uint64_t got = 0, next = 0;
	atr_query q = {0};
	atr_cursor *cur = NULL;
	const atr_record *rec;
	struct util_buf b;
	struct page pg;
	atr_log *log;
	char msg[200], post[48];
	int rc;

	if (srv_only_args(req, allowed) ||
	    page_args(req, DER_TIMELINE_DEFAULT, SRV_MAX_LIMIT, &pg) || !(log = srv_reader(req)))
		return;
	q.run_id = id;
	q.seq_from = pg.from;
	q.limit = pg.limit + 1; /* one more tells whether there is a next page */
	if ((rc = atr_log_query(log, &q, &cur)) != 0) {
		srv_reply_error(req, rc, NULL, NULL);
		return;
	}
	util_buf_init(&b);
	if (util_buf_adds(&b, "{\"run_id\":") || srv_json_str(&b, id, strlen(id)) ||
	    util_buf_adds(&b, ",\"events\":["))
		goto oom;
	while ((rc = atr_cursor_next(cur, &rec)) == 1) {
		char *json = NULL;

		/* The page ends at 'limit' events, or early past DER_MAX_BYTES. */
		if (got == pg.limit || (got && b.len > DER_MAX_BYTES)) {
			next = atr_record_seq(rec);
			rc = 0;
			break;
		}
		if ((rc = atr_record_to_json(rec, &json)) != 0)
			break;
		rc = (got ? util_buf_add(&b, ",", 1) : 0) || util_buf_adds(&b, json);
		atr_free(json);
		if (rc)
			goto oom;
		got++;
	}
	atr_cursor_free(cur);
	cur = NULL;
	if (rc < 0) {
		util_buf_release(&b);
		srv_reply_error(req, rc, NULL, NULL);
		return;
	}
	/* A first page with nothing: no such run. A later page may be empty. */
	if (got == 0 && !pg.cursor) {
		util_buf_release(&b);
		snprintf(msg, sizeof(msg), "no events for workflow run '%.100s'", id);
		srv_reply_error(req, ATR_ENOTFOUND, msg, "run_id");
		return;
	}
	srv_next_cursor(next != 0, next, post);
	if (util_buf_adds(&b, "]") || util_buf_adds(&b, post))
		goto oom;
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
	return;
oom:
	atr_cursor_free(cur);
	srv_reply_oom(req, &b);
}

/* ------------------------------------------------------- policy audit */

/* Advance one of the merged cursors: 1 with '*rec' set, 0 at its end, <0 an error. */
static int advance(atr_cursor *cur, const atr_record **rec)
{
	int rc = atr_cursor_next(cur, rec);

	if (rc != 1)
		*rec = NULL;
	return rc;
}

/*
 * Every policy_publish and policy_rollback in seq order (two index-backed
 * queries merged), one page at a time: 'limit' events, or fewer past
 * DER_MAX_BYTES.
 */
void srv_h_policy_audit(struct srv_req *req)
{
	static const char *const allowed[] = {"limit", "cursor", NULL};
	atr_query qp = {.type = "policy_publish"}, qr = {.type = "policy_rollback"};
	atr_cursor *cp = NULL, *cr = NULL;
	const atr_record *rp = NULL, *rr = NULL;
	struct util_buf b;
	struct page pg;
	uint64_t got = 0, next = 0;
	char post[48];
	atr_log *log;
	int rc;

	if (srv_only_args(req, allowed) || page_args(req, DER_MAX_LIMIT, DER_MAX_LIMIT, &pg) ||
	    !(log = srv_reader(req)))
		return;
	qp.seq_from = qr.seq_from = pg.from;
	qp.limit = qr.limit = pg.limit + 1;
	util_buf_init(&b);
	if ((rc = atr_log_query(log, &qp, &cp)) != 0 || (rc = atr_log_query(log, &qr, &cr)) != 0 ||
	    (rc = advance(cp, &rp)) < 0 || (rc = advance(cr, &rr)) < 0)
		goto fail;
	if (util_buf_adds(&b, "{\"events\":["))
		goto oom;
	/* Both lists come in seq order: merge them. */
	while (rp || rr) {
		int take_p = rp && (!rr || atr_record_seq(rp) < atr_record_seq(rr));
		const atr_record *rec = take_p ? rp : rr;
		char *json = NULL;

		if (got == pg.limit || (got && b.len > DER_MAX_BYTES)) {
			next = atr_record_seq(rec);
			break;
		}
		if ((rc = atr_record_to_json(rec, &json)) != 0)
			goto fail;
		rc = (got ? util_buf_add(&b, ",", 1) : 0) || util_buf_adds(&b, json);
		atr_free(json);
		if (rc)
			goto oom;
		got++;
		if ((rc = take_p ? advance(cp, &rp) : advance(cr, &rr)) < 0)
			goto fail;
	}
	atr_cursor_free(cp);
	atr_cursor_free(cr);
	srv_next_cursor(next != 0, next, post);
	if (util_buf_adds(&b, "]") || util_buf_adds(&b, post)) {
		srv_reply_oom(req, &b);
		return;
	}
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
	return;
oom:
	rc = ATR_ENOMEM;
fail:
	atr_cursor_free(cp);
	atr_cursor_free(cr);
	util_buf_release(&b);
	srv_reply_error(req, rc, rc == ATR_ENOMEM ? "out of memory" : NULL, NULL);
}

/*
 * The web console (docs/console.md): its files, compiled into the binary
 * (console.h), served at / and /console/NAME without a token, with a strict
 * Content-Security-Policy; and the two small API answers it needs that no
 * other route gives: who the caller is (GET /api/v1/whoami) and the recent
 * sessions and workflow runs (GET /api/v1/activity). Every datum the console
 * shows comes from the JSON API with the token the user typed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "server/console.h"
#include "server/server.h"

/* ------------------------------------------------------- the files */

/*
 * Scripts and styles only from this server, no inline script, never framed.
 * Inline styles are allowed because a report (HTML with inline SVG charts and
 * a <style>) is shown from a blob: URL in a sandboxed frame, and such a frame
 * inherits this policy; the console itself writes every datum as text.
 */
#define CONSOLE_CSP                                                                                \
	"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' " \
	"data: blob:; frame-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action "    \
	"'self'; frame-ancestors 'none'"

static const char *content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

static const struct srv_asset *find_asset(const char *name)
{
	for (size_t i = 0; i < srv_console_nassets; i++)
		if (strcmp(srv_console_assets[i].name, name) == 0)
			return &srv_console_assets[i];
	return NULL;
}

/* Does If-None-Match name 'etag' (or "*")? A list of tags, weak ones compared weakly. */
static int etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);

	while (inm && *inm) {
		size_t len;

		inm += strspn(inm, " \t,");
		if (strncmp(inm, "W/", 2) == 0)
			inm += 2;
		len = strcspn(inm, " \t,");
		if ((len == 1 && inm[0] == '*') || (len == n && strncmp(inm, etag, n) == 0))
			return 1;
		inm += len;
	}
	return 0;
}

/* Answer one file: 200 with its bytes, or 304 when the client holds this version. */
static void reply_asset(struct srv_req *req, const struct srv_asset *a)
{
	const char *inm =
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	unsigned status = etag_matches(inm, a->etag) ? 304 : 200;
	struct MHD_Response *resp;

	/* The bytes live in the binary: nothing to copy or free. */
	resp = MHD_create_response_from_buffer(status == 200 ? a->len : 0, (void *)a->data,
	                                       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return; /* MHD closes the connection */
	if (status == 200)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(a->name));
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
	/* File names carry no version: revalidate every time (a 304 is cheap). */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "Content-Security-Policy", CONSOLE_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	req->answered = 1;
	req->status = status;
}

void srv_h_console(struct srv_req *req)
{
	const struct srv_asset *a = find_asset("index.html");

	if (!a) {
		srv_reply_error(req, ATR_ENOTFOUND, "this build has no console", NULL);
		return;
	}
	reply_asset(req, a);
}

void srv_h_console_file(struct srv_req *req)
{
	const struct srv_asset *a = find_asset(req->captures[0]);
	char msg[320];

	if (!a) {
		snprintf(msg, sizeof(msg), "no console file '%.256s'", req->captures[0]);
		srv_reply_error(req, ATR_ENOTFOUND, msg, "file");
		return;
	}
	reply_asset(req, a);
}

/* ------------------------------------------------------ who am I */

void srv_h_whoami(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	struct util_buf b;
	const char *role = req->role ? atr_role_name(req->role) : NULL;

	if (srv_only_args(req, allowed))
		return;
	util_buf_init(&b);
	/* No role: the server asks for no token (loopback only), so nobody can be named. */
	if (role ? util_buf_adds(&b, "{\"name\":") ||
	               srv_json_str(&b, req->caller, strlen(req->caller)) ||
	               util_buf_adds(&b, ",\"role\":") || srv_json_str(&b, role, strlen(role)) ||
	               util_buf_adds(&b, ",\"tokens_required\":true}")
	         : util_buf_adds(&b, "{\"name\":null,\"role\":null,\"tokens_required\":false}")) {
		srv_reply_oom(req, &b);
		return;
	}
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
}

/* ------------------------------------------------------- activity */

#define ACT_WINDOW_DEFAULT 2000u
#define ACT_WINDOW_MAX     10000u
#define ACT_LIMIT_DEFAULT  50u
#define ACT_LIMIT_MAX      200u
#define ACT_RECENT         25u

/* A session or a workflow run, as seen in the newest events. */
struct group {
	char *id, *actor, *last_type, *outcome, *job_id, *first_ts, *last_ts;
	uint64_t first_seq, last_seq, events;
	int started, ended; /* a session_start / session_end (or task_outcome) was seen */
};

struct groups {
	struct group *g;
	size_t n, max;
};

static void groups_release(struct groups *gs)
{
	for (size_t i = 0; i < gs->n; i++) {
		struct group *g = &gs->g[i];

		free(g->id);
		free(g->actor);
		free(g->last_type);
		free(g->outcome);
		free(g->job_id);
		free(g->first_ts);
		free(g->last_ts);
	}
	free(gs->g);
}

static char *dup0(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Replace '*slot' with a copy of 's'; -1 out of memory. */
static int set_str(char **slot, const char *s)
{
	char *c = dup0(s);

	if (s && !c)
		return -1;
	free(*slot);
	*slot = c;
	return 0;
}

/*
 * Count 'rec' (events come newest first) in the group named by its 'field'.
 * Only the 'max' newest groups are kept: any other id first seen later is
 * older than all of them. -1 out of memory.
 */
static int groups_add(struct groups *gs, const char *field, const atr_record *rec)
{
	const char *id = atr_record_str(rec, field), *type = atr_record_str(rec, "type");
	const char *outcome = atr_record_str(rec, "outcome");
	uint64_t seq = atr_record_seq(rec);
	struct group *g = NULL;

	if (!id)
		return 0;
	for (size_t i = 0; i < gs->n && !g; i++)
		if (strcmp(gs->g[i].id, id) == 0)
			g = &gs->g[i];
	if (!g) {
		if (gs->n == gs->max)
			return 0;
		g = &gs->g[gs->n];
		memset(g, 0, sizeof(*g));
		if (!(g->id = strdup(id)))
			return -1;
		gs->n++;
		g->last_seq = seq;
		if (set_str(&g->last_ts, atr_record_str(rec, "ts")) ||
		    set_str(&g->last_type, type) ||
		    set_str(&g->actor, atr_record_str(rec, "actor")))
			return -1;
	}
	g->events++;
	g->first_seq = seq;
	if (set_str(&g->first_ts, atr_record_str(rec, "ts")))
		return -1;
	if (!g->job_id && set_str(&g->job_id, atr_record_str(rec, "job_id")))
		return -1;
	if (type && strcmp(type, "session_start") == 0)
		g->started = 1;
	/* The newest closing event says how it went. */
	if (type && !g->ended &&
	    (strcmp(type, "session_end") == 0 || strcmp(type, "task_outcome") == 0)) {
		g->ended = 1;
		if (set_str(&g->outcome, outcome))
			return -1;
	}
	return 0;
}

static int json_opt(struct util_buf *b, const char *key, const char *v)
{
	if (srv_bufprintf(b, ",\"%s\":", key))
		return -1;
	return v ? srv_json_str(b, v, strlen(v)) : util_buf_adds(b, "null");
}

static int groups_write(struct util_buf *b, const char *name, const char *idkey,
                        const struct groups *gs)
{
	if (srv_bufprintf(b, ",\"%s\":[", name))
		return -1;
	for (size_t i = 0; i < gs->n; i++) {
		const struct group *g = &gs->g[i];

		if ((i && util_buf_add(b, ",", 1)) || srv_bufprintf(b, "{\"%s\":", idkey) ||
		    srv_json_str(b, g->id, strlen(g->id)) ||
		    srv_bufprintf(b, ",\"events\":%llu,\"first_seq\":%llu,\"last_seq\":%llu",
		                  (unsigned long long)g->events, (unsigned long long)g->first_seq,
		                  (unsigned long long)g->last_seq) ||
		    json_opt(b, "first_ts", g->first_ts) || json_opt(b, "last_ts", g->last_ts) ||
		    json_opt(b, "last_type", g->last_type) || json_opt(b, "actor", g->actor) ||
		    json_opt(b, "job_id", g->job_id) || json_opt(b, "outcome", g->outcome) ||
		    srv_bufprintf(b, ",\"started\":%s,\"ended\":%s}", g->started ? "true" : "false",
		                  g->ended ? "true" : "false"))
			return -1;
	}
	return util_buf_add(b, "]", 1);
}

/* One line of the recent events: the header fields a list shows. */
static int recent_write(struct util_buf *b, int first, const atr_record *rec)
{
	static const char *const keys[] = {"event_id", "ts",      "type",   "actor",
	                                   "target",   "outcome", "job_id", "session_id",
	                                   "run_id",   "trace_id"};

	if ((!first && util_buf_add(b, ",", 1)) ||
	    srv_bufprintf(b, "{\"seq\":%llu", (unsigned long long)atr_record_seq(rec)))
		return -1;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = atr_record_str(rec, keys[i]);

		if (v && json_opt(b, keys[i], v))
			return -1;
	}
	return util_buf_add(b, "}", 1);
}

/* A parameter 1..max (default 'def'); -1 with 400 answered. */
static int arg_range(struct srv_req *req, const char *name, uint64_t def, uint64_t max,
                     uint64_t *out)
{
	const char *v = srv_arg_str(req, name);
	char msg[200];

	*out = def;
	if (v && (util_parse_u64(v, out) != 0 || *out == 0 || *out > max)) {
		snprintf(msg, sizeof(msg), "parameter '%s' must be 1 to %llu, got '%.64s'", name,
		         (unsigned long long)max, v);
		srv_reply_error(req, SRV_EBADREQ, msg, name);
		return -1;
	}
	return 0;
}

void srv_h_activity(struct srv_req *req)
{
	static const char *const allowed[] = {"window", "limit", NULL};
	uint64_t window, limit, size, nrecent = 0;
	struct groups sessions = {0}, runs = {0};
	struct util_buf b, recent;
	atr_query q = {0};
	atr_cursor *cur = NULL;
	const atr_record *rec;
	atr_log *log;
	int rc;

	if (srv_only_args(req, allowed) ||
	    arg_range(req, "window", ACT_WINDOW_DEFAULT, ACT_WINDOW_MAX, &window) ||
	    arg_range(req, "limit", ACT_LIMIT_DEFAULT, ACT_LIMIT_MAX, &limit) ||
	    !(log = srv_reader(req)))
		return;
	if ((rc = atr_log_size(log, &size)) != 0) {
		srv_reply_error(req, rc, NULL, NULL);
		return;
	}
	util_buf_init(&b);
	util_buf_init(&recent);
	sessions.max = runs.max = (size_t)limit;
	sessions.g = calloc(limit, sizeof(*sessions.g));
	runs.g = calloc(limit, sizeof(*runs.g));
	if (!sessions.g || !runs.g)
		goto oom;
	/* The newest 'window' events of one snapshot, newest first. */
	q.seq_from = size > window ? size - window : 0;
	q.seq_to = size;
	q.descending = 1;
	if (size && (rc = atr_log_query(log, &q, &cur)) != 0)
		goto fail;
	while (cur && (rc = atr_cursor_next(cur, &rec)) == 1) {
		if (groups_add(&sessions, "session_id", rec) || groups_add(&runs, "run_id", rec))
			goto oom;
		if (nrecent < ACT_RECENT && recent_write(&recent, nrecent == 0, rec))
			goto oom;
		nrecent += nrecent < ACT_RECENT;
	}
	if (cur && rc < 0)
		goto fail;
	if (srv_bufprintf(&b, "{\"size\":%llu,\"from_seq\":%llu", (unsigned long long)size,
	                  (unsigned long long)q.seq_from) ||
	    groups_write(&b, "sessions", "session_id", &sessions) ||
	    groups_write(&b, "runs", "run_id", &runs) || util_buf_adds(&b, ",\"recent\":[") ||
	    (recent.len && util_buf_add(&b, recent.data, recent.len)) || util_buf_adds(&b, "]}"))
		goto oom;
	srv_reply_json(req, 200, &b);
	goto out;
oom:
	srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
	goto out;
fail:
	srv_reply_error(req, rc, NULL, NULL);
out:
	atr_cursor_free(cur);
	groups_release(&sessions);
	groups_release(&runs);
	util_buf_release(&b);
	util_buf_release(&recent);
}

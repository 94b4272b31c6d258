/*
 * The read side of the API: filtered event listings with opaque cursors,
 * single events and stored record bytes, the tree root and RFC 6962
 * proofs, /healthz and the Prometheus /metrics text. Every handler reads
 * through its thread's read-only log handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "server/server.h"

/* ------------------------------------------------------- parameters */

struct arg_check {
	const char *const *allowed;
	const char *unknown;
};

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
	struct arg_check *c = cls;

	for (size_t i = 0; c->allowed[i]; i++)
		if (strcmp(c->allowed[i], key) == 0)
			return MHD_YES;
	c->unknown = key;
	return MHD_NO;
}

/* Unknown parameters are an error, as unknown event fields are: a typo must not widen a query. */
int srv_only_args(struct srv_req *req, const char *const *allowed)
{
	struct arg_check c = {allowed, NULL};
	char msg[160];

	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, check_arg, &c);
	if (!c.unknown)
		return 0;
	snprintf(msg, sizeof(msg), "unknown query parameter '%.100s'", c.unknown);
	srv_reply_error(req, SRV_EBADREQ, msg, c.unknown);
	return -1;
}

/* A non-negative integer parameter: 1 present, 0 absent, -1 answered 400. */
static int arg_u64(struct srv_req *req, const char *name, uint64_t *out)
{
	const char *v = srv_arg(req, name);
	char msg[200];

	if (!v || !*v)
		return 0;
	if (util_parse_u64(v, out) == 0)
		return 1;
	snprintf(msg, sizeof(msg), "parameter '%s' must be a non-negative integer, got '%.64s'",
	         name, v);
	srv_reply_error(req, SRV_EBADREQ, msg, name);
	return -1;
}

/* A string parameter, NULL when absent or empty ("?type=" means any type). */
const char *srv_arg_str(struct srv_req *req, const char *name)
{
	const char *v = srv_arg(req, name);

	return v && *v ? v : NULL;
}

static int arg_time(struct srv_req *req, const char *name, int64_t *out)
{
	const char *v = srv_arg_str(req, name);
	char msg[200];

	if (!v)
		return 0;
	if (atr_time_parse(v, out) == 0)
		return 1;
	snprintf(msg, sizeof(msg), "parameter '%s' must be an RFC 3339 time, got '%.64s'", name, v);
	srv_reply_error(req, SRV_EBADREQ, msg, name);
	return -1;
}

/*
 * Cursors are opaque to clients ("c" and the hex of the next seq), so the
 * encoding can change, e.g. to carry a snapshot size, without breaking them.
 */
void srv_cursor_encode(uint64_t seq, char out[20])
{
	snprintf(out, 20, "c%016llx", (unsigned long long)seq);
}

void srv_next_cursor(int more, uint64_t next, char out[48])
{
	char c[20];

	if (!more) {
		snprintf(out, 48, ",\"next_cursor\":null}");
		return;
	}
	srv_cursor_encode(next, c);
	snprintf(out, 48, ",\"next_cursor\":\"%s\"}", c);
}

int srv_cursor_decode(const char *text, uint64_t *seq)
{
	char *end;

	if (text[0] != 'c' || strlen(text) != 17 || strspn(text + 1, "0123456789abcdef") != 16)
		return -1;
	*seq = strtoull(text + 1, &end, 16);
	return *end ? -1 : 0;
}

/* ------------------------------------------------------- handlers */

void srv_reply_oom(struct srv_req *req, struct util_buf *b)
{
	util_buf_release(b);
	srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
}

void srv_h_events(struct srv_req *req)
{
	static const char *const allowed[] = {
	    "type",  "actor", "level",         "trace_id", "session_id", "run_id", "job_id",
	    "since", "until", "target_prefix", "limit",    "cursor",     NULL};
	atr_query q = {0};
	uint64_t limit = SRV_DEFAULT_LIMIT, got = 0, next = 0;
	const char *cur_text;
	atr_cursor *cur = NULL;
	const atr_record *rec;
	struct util_buf b;
	char tail[48];
	atr_log *log;
	int rc, more = 0;

	if (srv_only_args(req, allowed))
		return;
	q.type = srv_arg_str(req, "type");
	q.actor = srv_arg_str(req, "actor");
	q.level = srv_arg_str(req, "level");
	q.trace_id = srv_arg_str(req, "trace_id");
	q.session_id = srv_arg_str(req, "session_id");
	q.run_id = srv_arg_str(req, "run_id");
	q.job_id = srv_arg_str(req, "job_id");
	q.target_prefix = srv_arg_str(req, "target_prefix");
	if (arg_time(req, "since", &q.since_us) < 0 || arg_time(req, "until", &q.until_us) < 0 ||
	    arg_u64(req, "limit", &limit) < 0)
		return;
	if (limit == 0 || limit > SRV_MAX_LIMIT) {
		char msg[120];

		snprintf(msg, sizeof(msg), "parameter 'limit' must be 1 to %u", SRV_MAX_LIMIT);
		srv_reply_error(req, SRV_EBADREQ, msg, "limit");
		return;
	}
	cur_text = srv_arg_str(req, "cursor");
	if (cur_text && srv_cursor_decode(cur_text, &q.seq_from) != 0) {
		srv_reply_error(req, SRV_EBADREQ,
		                "parameter 'cursor' is not a cursor this server made", "cursor");
		return;
	}
	if (!(log = srv_reader(req)))
		return;
	q.limit = limit + 1; /* one more tells whether there is a next page */
	rc = atr_log_query(log, &q, &cur);
	if (rc != 0) {
		srv_reply_error(req, rc, NULL, NULL);
		return;
	}
	util_buf_init(&b);
	if (util_buf_adds(&b, "{\"events\":["))
		goto oom;
	while ((rc = atr_cursor_next(cur, &rec)) == 1) {
		char *json = NULL;

		if (got == limit) {
			more = 1;
			next = atr_record_seq(rec);
			break;
		}
		rc = atr_record_to_json(rec, &json);
		if (rc != 0)
			break;
		rc = (got ? util_buf_add(&b, ",", 1) : 0) || util_buf_adds(&b, json);
		atr_free(json);
		if (rc)
			goto oom;
		got++;
	}
	if (rc < 0) {
		atr_cursor_free(cur);
		util_buf_release(&b);
		srv_reply_error(req, rc, NULL, NULL);
		return;
	}
	atr_cursor_free(cur);
	cur = NULL;
	srv_next_cursor(more, next, tail);
	if (util_buf_adds(&b, "]") || util_buf_adds(&b, tail))
		goto oom;
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
	return;
oom:
	atr_cursor_free(cur);
	srv_reply_oom(req, &b);
}

static void reply_record_json(struct srv_req *req, const atr_record *rec)
{
	char *json = NULL;
	int rc = atr_record_to_json(rec, &json);

	srv_reply_wrapped(req, rc, NULL, "", json, "");
}

void srv_h_event(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	atr_record *rec = NULL;
	atr_log *log;
	int rc;

	if (srv_only_args(req, allowed) || !(log = srv_reader(req)))
		return;
	rc = atr_log_get_by_id(log, req->captures[0], &rec);
	if (rc != 0) {
		srv_reply_error(req, rc, NULL, "event_id");
		return;
	}
	reply_record_json(req, rec);
	atr_record_free(rec);
}

void srv_h_record(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	atr_record *rec = NULL;
	atr_log *log;
	uint64_t seq;
	atr_hash h;
	char hex[65], msg[160];
	const char *bytes;
	size_t len;
	int rc;

	if (srv_only_args(req, allowed))
		return;
	if (util_parse_u64(req->captures[0], &seq) != 0) {
		snprintf(msg, sizeof(msg), "seq must be a non-negative integer, got '%.64s'",
		         req->captures[0]);
		srv_reply_error(req, SRV_EBADREQ, msg, "seq");
		return;
	}
	if (!(log = srv_reader(req)))
		return;
	if ((rc = atr_log_get(log, seq, &rec)) != 0 ||
	    (rc = atr_log_leaf_hash(log, seq, &h)) != 0) {
		atr_record_free(rec);
		srv_reply_error(req, rc, NULL, "seq");
		return;
	}
	atr_hash_hex(&h, hex);
	bytes = atr_record_bytes(rec, &len);
	/* The stored bytes verbatim: they are the Merkle leaf, so no newline is added. */
	srv_reply(req, 200, "application/json", bytes, len, "X-Agentrail-Leaf-Hash", hex);
	atr_record_free(rec);
}

/* The current tree size, or -1 with the error answered. */
static int current_size(struct srv_req *req, atr_log *log, uint64_t *size)
{
	int rc = atr_log_size(log, size);

	if (rc != 0) {
		srv_reply_error(req, rc, NULL, NULL);
		return -1;
	}
	return 0;
}

void srv_h_root(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	struct util_buf b;
	uint64_t size;
	atr_hash root;
	atr_log *log;
	int rc;

	if (srv_only_args(req, allowed) || !(log = srv_reader(req)) ||
	    current_size(req, log, &size))
		return;
	if ((rc = atr_log_root(log, size, &root)) != 0) {
		srv_reply_error(req, rc, NULL, NULL);
		return;
	}
	util_buf_init(&b);
	if (srv_bufprintf(&b, "{\"size\":%llu,\"root_hash\":", (unsigned long long)size) ||
	    srv_json_hash(&b, &root) || util_buf_adds(&b, "}")) {
		srv_reply_oom(req, &b);
		return;
	}
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
}

static int add_path(struct util_buf *b, const atr_hash *path, size_t n)
{
	if (util_buf_adds(b, ",\"path\":["))
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((i && util_buf_add(b, ",", 1)) || srv_json_hash(b, &path[i]))
			return -1;
	return util_buf_adds(b, "]}");
}

/* Reject a tree size past the log with 400 naming the parameter. */
static int check_size(struct srv_req *req, const char *name, uint64_t v, uint64_t cur)
{
	char msg[160];

	if (v <= cur)
		return 0;
	snprintf(msg, sizeof(msg), "parameter '%s' is %llu; the log has %llu records", name,
	         (unsigned long long)v, (unsigned long long)cur);
	srv_reply_error(req, SRV_EBADREQ, msg, name);
	return -1;
}

/*
 * A proof answer: {"<k1>":v1,"<k2>":v2,"<h1>":"<hex>","<h2>":"<hex>","path":[…]}.
 * Takes 'path' (freed here).
 */
static void reply_proof(struct srv_req *req, const char *k1, uint64_t v1, const char *k2,
                        uint64_t v2, const char *h1, const atr_hash *a, const char *h2,
                        const atr_hash *b2, atr_hash *path, size_t n)
{
	struct util_buf b;

	util_buf_init(&b);
	if (srv_bufprintf(&b, "{\"%s\":%llu,\"%s\":%llu,\"%s\":", k1, (unsigned long long)v1, k2,
	                  (unsigned long long)v2, h1) ||
	    srv_json_hash(&b, a) || srv_bufprintf(&b, ",\"%s\":", h2) || srv_json_hash(&b, b2) ||
	    add_path(&b, path, n)) {
		atr_free(path);
		srv_reply_oom(req, &b);
		return;
	}
	atr_free(path);
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
}

void srv_h_inclusion(struct srv_req *req)
{
	static const char *const allowed[] = {"seq", "size", NULL};
	uint64_t seq = 0, size = 0, cur;
	atr_hash leaf, root, *path = NULL;
	atr_log *log;
	size_t n = 0;
	int has_seq, has_size, rc;
	char msg[160];

	if (srv_only_args(req, allowed) || (has_seq = arg_u64(req, "seq", &seq)) < 0 ||
	    (has_size = arg_u64(req, "size", &size)) < 0)
		return;
	if (!has_seq) {
		srv_reply_error(req, SRV_EBADREQ, "parameter 'seq' is required", "seq");
		return;
	}
	if (!(log = srv_reader(req)) || current_size(req, log, &cur))
		return;
	if (!has_size)
		size = cur;
	else if (check_size(req, "size", size, cur))
		return;
	if (seq >= size) {
		snprintf(msg, sizeof(msg), "seq %llu is not in a tree of size %llu",
		         (unsigned long long)seq, (unsigned long long)size);
		srv_reply_error(req, SRV_EBADREQ, msg, "seq");
		return;
	}
	if ((rc = atr_log_leaf_hash(log, seq, &leaf)) != 0 ||
	    (rc = atr_log_root(log, size, &root)) != 0 ||
	    (rc = atr_log_inclusion_proof(log, seq, size, &path, &n)) != 0) {
		srv_reply_error(req, rc, NULL, NULL);
		return;
	}
	reply_proof(req, "seq", seq, "size", size, "leaf_hash", &leaf, "root_hash", &root, path, n);
}

void srv_h_consistency(struct srv_req *req)
{
	static const char *const allowed[] = {"from", "to", NULL};
	uint64_t from = 0, to = 0, cur;
	atr_hash old_root, new_root, *path = NULL;
	atr_log *log;
	size_t n = 0;
	int has_from, has_to, rc;
	char msg[160];

	if (srv_only_args(req, allowed) || (has_from = arg_u64(req, "from", &from)) < 0 ||
	    (has_to = arg_u64(req, "to", &to)) < 0)
		return;
	if (!has_from) {
		srv_reply_error(req, SRV_EBADREQ, "parameter 'from' is required", "from");
		return;
	}
	if (!(log = srv_reader(req)) || current_size(req, log, &cur))
		return;
	if (!has_to)
		to = cur;
	else if (check_size(req, "to", to, cur))
		return;
	if (from > to) {
		snprintf(msg, sizeof(msg), "from %llu is larger than to %llu",
		         (unsigned long long)from, (unsigned long long)to);
		srv_reply_error(req, SRV_EBADREQ, msg, "from");
		return;
	}
	if ((rc = atr_log_root(log, from, &old_root)) != 0 ||
	    (rc = atr_log_root(log, to, &new_root)) != 0 ||
	    (rc = atr_log_consistency_proof(log, from, to, &path, &n)) != 0) {
		srv_reply_error(req, rc, NULL, NULL);
		return;
	}
	reply_proof(req, "from", from, "to", to, "old_root", &old_root, "new_root", &new_root, path,
	            n);
}

void srv_h_healthz(struct srv_req *req)
{
	struct util_buf b;
	uint64_t size;
	atr_log *log;

	if (!(log = srv_reader(req)) || current_size(req, log, &size))
		return;
	util_buf_init(&b);
	if (srv_bufprintf(&b, "{\"status\":\"ok\",\"size\":%llu}", (unsigned long long)size)) {
		srv_reply_oom(req, &b);
		return;
	}
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
}

void srv_h_metrics(struct srv_req *req)
{
	static const char *const le[] = {"0.001", "0.002", "0.005", "0.01",
	                                 "0.025", "0.05",  "0.1",   "+Inf"};
	atr_ingest_stats st;
	struct util_buf b;
	uint64_t cum = 0;
	int rc;

	srv_ingest_stats(req->srv, &st);
	util_buf_init(&b);
	rc = srv_bufprintf(&b,
	                   "# HELP agentrail_events_appended_total Events appended to the log.\n"
	                   "# TYPE agentrail_events_appended_total counter\n"
	                   "agentrail_events_appended_total %llu\n"
	                   "# HELP agentrail_ingest_requests_total Ingest requests answered.\n"
	                   "# TYPE agentrail_ingest_requests_total counter\n"
	                   "agentrail_ingest_requests_total %llu\n"
	                   "# HELP agentrail_commits_total Group commits (transactions, fsyncs).\n"
	                   "# TYPE agentrail_commits_total counter\n"
	                   "agentrail_commits_total %llu\n"
	                   "# HELP agentrail_ingest_queue_events Events waiting to be written.\n"
	                   "# TYPE agentrail_ingest_queue_events gauge\n"
	                   "agentrail_ingest_queue_events %llu\n"
	                   "# HELP agentrail_commit_seconds Time to write and fsync one group.\n"
	                   "# TYPE agentrail_commit_seconds histogram\n",
	                   (unsigned long long)st.events, (unsigned long long)st.requests,
	                   (unsigned long long)st.commits, (unsigned long long)st.queued);
	/* The library counts per bucket; Prometheus buckets are cumulative. */
	for (size_t i = 0; !rc && i < 8; i++) {
		cum += st.commit_us_le[i];
		rc = srv_bufprintf(&b, "agentrail_commit_seconds_bucket{le=\"%s\"} %llu\n", le[i],
		                   (unsigned long long)cum);
	}
	if (rc ||
	    srv_bufprintf(&b,
	                  "agentrail_commit_seconds_sum %.6f\n"
	                  "agentrail_commit_seconds_count %llu\n",
	                  (double)st.commit_us_sum / 1e6, (unsigned long long)cum) ||
	    srv_metrics_requests(req->srv, &b) || srv_signer_metrics(srv_signer_of(req->srv), &b) ||
	    srv_alerter_metrics(srv_alerter_of(req->srv), &b)) {
		srv_reply_oom(req, &b);
		return;
	}
	srv_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL, NULL);
	util_buf_release(&b);
}

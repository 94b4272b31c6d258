/*
 * POST /api/v1/approvals/{approval_id}/resolve: an approver approves or
 * rejects a pending approval request. The body is
 * {"resolution":"approved"|"rejected","job_hash":"…","comment":"…"}; the
 * resolver is the caller's token (its name, else its id), never the body,
 * which may not name one. The answer is one approval_resolved event,
 * submitted through the group commit like POST /api/v1/events, so the
 * approval queue, kept from the log alone, picks it up as any other event.
 *
 * The check (the request exists, is pending, carries the same job_hash and
 * was not raised by the caller) and the append run under one server-wide
 * mutex on the submitter thread: two resolutions of the same approval can
 * never both pass the check, since the second checks only once the first
 * is durable and so sees it. Resolutions are rare and human-paced, and
 * the mutex holds no MHD thread, so serializing them all costs nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/jobs.h>

#include "server/server.h"

#define RES_MAX_ID      256u
#define RES_MAX_COMMENT 16384u

/* One resolution between its parse and its answer. */
struct srv_resolve {
	char id[RES_MAX_ID + 1];
	char resolution[16];
	char *job_hash;
	char *comment; /* NULL when none was given */
	int admitted;  /* the one place held in the ingest queue */
	/* Filled by the submit step. */
	int rc;
	char msg[1024];
	const char *at;
	char *job_id;
	atr_append_result res;
};

static void resolve_release(struct srv_req *req)
{
	struct srv_resolve *in = req->resolve_in;

	if (!in)
		return;
	if (in->admitted)
		srv_queue_done(req->srv, 1);
	free(in->job_hash);
	free(in->comment);
	free(in->job_id);
	free(in);
	req->resolve_in = NULL;
}

static int resolve_headers(struct srv_req *req)
{
	/* Without tokens nobody can be named as the resolver. */
	if (!req->caller[0]) {
		srv_reply_error(req, SRV_EUNAUTH,
		                "resolving an approval needs an approver's token: the resolver is "
		                "the token's name",
		                "Authorization");
		return -1;
	}
	return srv_check_json_headers(req, "a resolution");
}

static int resolve_parse(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	/* resolved_by is taken only to be refused by name. */
	static const char *const fields[] = {"resolution", "job_hash", "comment", "resolved_by",
	                                     NULL};
	const char *id = req->captures[0], *resolution, *job_hash, *comment;
	struct srv_resolve *in;
	json_t *o;
	char msg[300];

	if (srv_only_args(req, allowed) != 0)
		return -1;
	if (strlen(id) > RES_MAX_ID) {
		srv_reply_error(req, SRV_EBADREQ, "the approval id is longer than 256 bytes",
		                "approval_id");
		return -1;
	}
	if (srv_body_object(req, fields, "a resolution",
	                    "a resolution has resolution, job_hash and comment", &o) != 0)
		return -1;
	if (json_object_get(o, "resolved_by")) {
		json_decref(o);
		srv_reply_error(req, ATR_EINVALID,
		                "field 'resolved_by' may not be set: the resolver is the "
		                "caller's token",
		                "resolved_by");
		return -1;
	}
	if (srv_body_str(req, o, "resolution", 16, 1, &resolution) != 0 ||
	    srv_body_str(req, o, "job_hash", 256, 1, &job_hash) != 0 ||
	    srv_body_str(req, o, "comment", RES_MAX_COMMENT, 0, &comment) != 0) {
		json_decref(o);
		return -1;
	}
	if (strcmp(resolution, "approved") != 0 && strcmp(resolution, "rejected") != 0) {
		snprintf(msg, sizeof(msg),
		         "field 'resolution' must be 'approved' or 'rejected', got '%.32s'",
		         resolution);
		json_decref(o);
		srv_reply_error(req, ATR_EINVALID, msg, "resolution");
		return -1;
	}
	if (!(in = calloc(1, sizeof(*in)))) {
		json_decref(o);
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		return -1;
	}
	req->resolve_in = in;
	snprintf(in->id, sizeof(in->id), "%s", id);
	snprintf(in->resolution, sizeof(in->resolution), "%s", resolution);
	in->job_hash = strdup(job_hash);
	in->comment = comment ? strdup(comment) : NULL;
	json_decref(o);
	if (!in->job_hash || (comment && !in->comment)) {
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		resolve_release(req);
		return -1;
	}
	if (srv_queue_admit(req->srv, 1) != 0) {
		srv_reply_queue_full(req);
		resolve_release(req);
		return -1;
	}
	in->admitted = 1;
	return 0;
}

static const char *jstr(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

static int fail(struct srv_resolve *in, int rc, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct srv_resolve *in, int rc, const char *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(in->msg, sizeof(in->msg), fmt, ap);
	va_end(ap);
	in->rc = rc;
	in->at = at;
	return rc;
}

/* The job's submitter (atr_job_json), malloc'd; NULL when none or unknown. */
static char *job_submitter(atr_log *log, const char *job_id)
{
	char *json = NULL, *who = NULL;
	json_t *job;

	if (atr_job_json(log, job_id, &json) != 0)
		return NULL;
	job = json_loads(json, 0, NULL);
	atr_free(json);
	if (job && jstr(job, "submitter"))
		who = strdup(jstr(job, "submitter"));
	json_decref(job);
	return who;
}

/* Check the request against the queue and build the event; 0 with '*event' set. */
static int check_and_build(struct srv_req *req, atr_log *log, void *ctx, char **event)
{
	struct srv_resolve *in = req->resolve_in;
	const char *who = req->caller;
	json_t *list = NULL, *ap = NULL, *ev = NULL, *a;
	char *json = NULL, *submitter = NULL;
	const char *s;
	size_t i;
	int rc;

	(void)ctx;
	*event = NULL;
	if ((rc = atr_approvals_query(srv_approvals(req->srv), log, 1, &json)) != 0)
		return fail(in, rc, NULL, "%s", atr_errmsg());
	list = json_loads(json, 0, NULL);
	atr_free(json);
	if (!list)
		return fail(in, ATR_ENOMEM, NULL, "out of memory");
	json_array_foreach(list, i, a)
	{
		if ((s = jstr(a, "approval_id")) && strcmp(s, in->id) == 0) {
			ap = a;
			break;
		}
	}
	if (!ap) {
		rc = fail(in, ATR_ENOTFOUND, "approval_id", "no approval request '%.256s'", in->id);
		goto out;
	}
	s = jstr(ap, "resolution");
	if (s && strcmp(s, "pending") != 0) {
		rc = fail(in, SRV_ERESOLVED, "approval_id",
		          "approval '%.256s' was already %s by '%.129s' at %.40s (seq %lld)",
		          in->id, s, jstr(ap, "resolved_by") ? jstr(ap, "resolved_by") : "?",
		          jstr(ap, "resolved_at") ? jstr(ap, "resolved_at") : "?",
		          (long long)json_integer_value(json_object_get(ap, "resolved_seq")));
		goto out;
	}
	s = jstr(ap, "job_hash");
	if (!s || strcmp(s, in->job_hash) != 0) {
		rc = fail(in, SRV_EJOBHASH, "job_hash",
		          s ? "job_hash '%.256s' does not match the request's '%.256s'"
		            : "job_hash '%.256s' does not match: the request carries no job_hash%s",
		          in->job_hash, s ? s : "");
		goto out;
	}
	s = jstr(ap, "requested_by");
	if (s && strcmp(s, who) == 0) {
		rc = fail(in, SRV_ESELF, NULL,
		          "'%.129s' raised approval request '%.256s' and may not resolve it", who,
		          in->id);
		goto out;
	}
	if (jstr(ap, "job_id")) {
		if (!(in->job_id = strdup(jstr(ap, "job_id")))) {
			rc = fail(in, ATR_ENOMEM, NULL, "out of memory");
			goto out;
		}
		submitter = job_submitter(log, in->job_id);
		if (submitter && strcmp(submitter, who) == 0) {
			rc =
			    fail(in, SRV_ESELF, NULL,
			         "'%.129s' submitted job '%.256s' and may not resolve its approval "
			         "request '%.256s'",
			         who, in->job_id, in->id);
			goto out;
		}
	}
	a = json_pack("{s:s, s:s, s:s, s:s}", "id", in->id, "job_hash", in->job_hash, "resolution",
	              in->resolution, "resolved_by", who);
	ev =
	    json_pack("{s:s, s:s, s:o*}", "type", "approval_resolved", "actor", who, "approval", a);
	if (!ev || (in->comment && json_object_set_new(a, "comment", json_string(in->comment))) ||
	    (in->job_id && json_object_set_new(ev, "job_id", json_string(in->job_id))) ||
	    ((s = jstr(ap, "event_id")) &&
	     json_object_set_new(ev, "parent_event_id", json_string(s)))) {
		rc = fail(in, ATR_ENOMEM, NULL, "out of memory");
		goto out;
	}
	if (in->comment) {
		rc = json_object_set_new(ev, "reason", json_string(in->comment));
	} else {
		char reason[400];

		snprintf(reason, sizeof(reason), "%s by %.129s", in->resolution, who);
		rc = json_object_set_new(ev, "reason", json_string(reason));
	}
	if (rc) {
		rc = fail(in, ATR_ENOMEM, NULL, "out of memory");
		goto out;
	}
	*event = json_dumps(ev, JSON_COMPACT);
	rc = *event ? 0 : fail(in, ATR_ENOMEM, NULL, "out of memory");
out:
	free(submitter);
	json_decref(ev);
	json_decref(list);
	return rc;
}

static void resolve_submit(struct srv_req *req)
{
	struct srv_resolve *in = req->resolve_in;
	int rc = srv_checked_submit(req, check_and_build, NULL, &in->res, in->msg, sizeof(in->msg));

	/* check_and_build's refusals set in->rc; the helper's own leave it to us. */
	if (rc != 0 && in->rc == 0) {
		in->rc = rc;
		in->at = NULL;
	}
	srv_queue_done(req->srv, 1);
	in->admitted = 0;
}

static void resolve_answer(struct srv_req *req)
{
	struct srv_resolve *in = req->resolve_in;
	struct util_buf b;

	if (in->rc != 0) {
		srv_reply_error(req, in->rc, in->msg, in->at);
		resolve_release(req);
		return;
	}
	util_buf_init(&b);
	if (util_buf_adds(&b, "{\"approval_id\":") || srv_json_str(&b, in->id, strlen(in->id)) ||
	    util_buf_adds(&b, ",\"job_id\":") ||
	    (in->job_id ? srv_json_str(&b, in->job_id, strlen(in->job_id))
	                : util_buf_adds(&b, "null")) ||
	    srv_bufprintf(&b, ",\"resolution\":\"%s\",\"resolved_by\":", in->resolution) ||
	    srv_json_str(&b, req->caller, strlen(req->caller)) ||
	    srv_bufprintf(&b, ",\"event_id\":\"%s\",\"seq\":%llu}", in->res.event_id,
	                  (unsigned long long)in->res.seq)) {
		resolve_release(req);
		srv_reply_oom(req, &b);
		return;
	}
	srv_reply_json(req, 201, &b);
	util_buf_release(&b);
	resolve_release(req);
}

const struct srv_ingest_ops srv_resolve_ops = {resolve_headers, resolve_parse, resolve_submit,
                                               resolve_answer, resolve_release};

/* All steps on the calling thread (the server suspends between them instead). */
void srv_h_resolve(struct srv_req *req)
{
	if (resolve_headers(req) != 0 || resolve_parse(req) != 0)
		return;
	resolve_submit(req);
	resolve_answer(req);
}

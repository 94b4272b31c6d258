/*
 * Policies over HTTP (docs/policies.md). POST /api/v1/policies publishes a
 * document and POST /api/v1/policies/{name}/rollback rolls one back: admins
 * only, the actor is the caller's token, and the event (policy_publish or
 * policy_rollback, built by the library's policy.h) goes through the group
 * commit like any other, checked against the log and appended under the
 * server's one checked-append mutex (append.c), so two publishes can never
 * both see the same version in force. The GET routes read the policies,
 * folded from the log on each call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/policy.h>

#include "server/server.h"

#define POL_MAX_REASON      16384u
#define POL_HISTORY_DEFAULT 100u
#define POL_HISTORY_MAX     1000u

/* One publish or rollback between its parse and its answer. */
struct srv_policy {
	int rollback;
	char name[ATR_POLICY_NAME_MAX + 1];
	char *document; /* a publish's */
	unsigned flags;
	char *to;     /* a rollback's target snapshot; NULL: the version before */
	char *reason; /* NULL when none was given */
	int admitted; /* the one place held in the ingest queue */
	/* Filled by the submit step. */
	int rc;
	char msg[1024];
	const char *at;
	atr_policy_change *change;
	atr_append_result res;
};

static void policy_release(struct srv_req *req)
{
	struct srv_policy *in = req->policy_in;

	if (!in)
		return;
	if (in->admitted)
		srv_queue_done(req->srv, 1);
	free(in->document);
	free(in->to);
	free(in->reason);
	atr_policy_change_free(in->change);
	free(in);
	req->policy_in = NULL;
}

static int policy_headers(struct srv_req *req)
{
	/* Without tokens nobody can be named as the publisher. */
	if (!req->caller[0]) {
		srv_reply_error(req, SRV_EUNAUTH,
		                "changing a policy needs an admin's token: the actor is the "
		                "token's name",
		                "Authorization");
		return -1;
	}
	return srv_check_json_headers(req, "a policy change");
}

/* Copy what both changes share into a new 'req->policy_in'; -1 with the error answered. */
static int policy_start(struct srv_req *req, int rollback, const char *name, const char *reason)
{
	struct srv_policy *in = calloc(1, sizeof(*in));

	if (in) {
		req->policy_in = in;
		in->rollback = rollback;
		snprintf(in->name, sizeof(in->name), "%s", name);
		in->reason = reason ? strdup(reason) : NULL;
	}
	if (!in || (reason && !in->reason)) {
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		policy_release(req);
		return -1;
	}
	return 0;
}

/* Hold the place in the ingest queue; -1 with 429 answered. */
static int policy_admit(struct srv_req *req)
{
	if (srv_queue_admit(req->srv, 1) != 0) {
		srv_reply_queue_full(req);
		policy_release(req);
		return -1;
	}
	req->policy_in->admitted = 1;
	return 0;
}

/* A policy name (from the body or the path); -1 with 400 answered. */
static int check_name(struct srv_req *req, const char *name, int code)
{
	if (atr_policy_name_check(name) != 0) {
		srv_reply_error(req, code, NULL, "name");
		return -1;
	}
	return 0;
}

static int publish_parse(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	static const char *const fields[] = {"name", "document", "reason", NULL};
	const char *name, *reason;
	json_t *o, *doc;
	char *text;
	unsigned flags = 0;

	if (srv_only_args(req, allowed) != 0 ||
	    srv_body_object(req, fields, "a policy", "a policy has name, document and reason",
	                    &o) != 0)
		return -1;
	if (srv_body_str(req, o, "name", ATR_POLICY_NAME_MAX, 1, &name) != 0 ||
	    check_name(req, name, ATR_EINVALID) != 0 ||
	    srv_body_str(req, o, "reason", POL_MAX_REASON, 0, &reason) != 0) {
		json_decref(o);
		return -1;
	}
	doc = json_object_get(o, "document");
	if (!doc || (json_is_string(doc) && json_string_length(doc) == 0)) {
		json_decref(o);
		srv_reply_error(req, ATR_EINVALID,
		                doc ? "field 'document' is empty"
		                    : "field 'document' is required: the policy's text (a string) "
		                      "or JSON (an object or an array)",
		                "document");
		return -1;
	}
	if (json_is_string(doc)) {
		text = strdup(json_string_value(doc));
	} else if (json_is_object(doc) || json_is_array(doc)) {
		/* The library canonicalizes it: any serialization will do. */
		text = json_dumps(doc, JSON_COMPACT);
		flags = ATR_POLICY_JSON;
	} else {
		json_decref(o);
		srv_reply_error(req, ATR_EINVALID,
		                "field 'document' must be a string (text) or an object or array "
		                "(JSON)",
		                "document");
		return -1;
	}
	if (policy_start(req, 0, name, reason) != 0) {
		free(text);
		json_decref(o);
		return -1;
	}
	json_decref(o);
	req->policy_in->document = text;
	req->policy_in->flags = flags;
	if (!text) {
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		policy_release(req);
		return -1;
	}
	return policy_admit(req);
}

static int rollback_parse(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	static const char *const fields[] = {"snapshot", "reason", NULL};
	const char *name = req->captures[0], *to = NULL, *reason = NULL;
	json_t *o = NULL;

	if (srv_only_args(req, allowed) != 0 || check_name(req, name, SRV_EBADREQ) != 0)
		return -1;
	/* The body is optional: none rolls back to the version before. */
	if (req->body.len &&
	    (srv_body_object(req, fields, "a rollback", "a rollback has snapshot and reason", &o) !=
	         0 ||
	     srv_body_str(req, o, "snapshot", ATR_POLICY_SNAPSHOT_SIZE, 0, &to) != 0 ||
	     srv_body_str(req, o, "reason", POL_MAX_REASON, 0, &reason) != 0)) {
		json_decref(o);
		return -1;
	}
	if (policy_start(req, 1, name, reason) != 0) {
		json_decref(o);
		return -1;
	}
	req->policy_in->to = to ? strdup(to) : NULL;
	json_decref(o);
	if (to && !req->policy_in->to) {
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		policy_release(req);
		return -1;
	}
	return policy_admit(req);
}

/* Check the change against the log and build its event (srv_build_fn). */
static int policy_build(struct srv_req *req, atr_log *log, void *ctx, char **event)
{
	struct srv_policy *in = ctx;
	const char *text;
	int rc;

	*event = NULL;
	rc = in->rollback ? atr_policy_rollback_prepare(&in->change, log, in->name, in->to,
	                                                req->caller, in->reason)
	                  : atr_policy_publish_prepare(&in->change, log, in->name, in->document,
	                                               in->flags, req->caller, in->reason);
	if (rc != 0) {
		snprintf(in->msg, sizeof(in->msg), "%s", atr_errmsg());
		in->at = rc == ATR_EINVALID && in->rollback        ? "snapshot"
		         : rc == ATR_EINVALID || rc == ATR_ETOOBIG ? "document"
		                                                   : NULL;
		return in->rc = rc;
	}
	if ((text = atr_policy_change_event(in->change)) && !(*event = strdup(text))) {
		snprintf(in->msg, sizeof(in->msg), "out of memory");
		return in->rc = ATR_ENOMEM;
	}
	return 0;
}

static void policy_submit(struct srv_req *req)
{
	struct srv_policy *in = req->policy_in;
	int rc = srv_checked_submit(req, policy_build, in, &in->res, in->msg, sizeof(in->msg));

	if (rc != 0 && in->rc == 0) {
		in->rc = rc;
		in->at = NULL;
	}
	srv_queue_done(req->srv, 1);
	in->admitted = 0;
}

static void policy_answer(struct srv_req *req)
{
	struct srv_policy *in = req->policy_in;
	struct util_buf b;
	char *json = NULL;
	int rc;

	if (in->rc != 0) {
		srv_reply_error(req, in->rc, in->msg, in->at);
		policy_release(req);
		return;
	}
	if ((rc = atr_policy_change_answer(in->change, &in->res, &json)) != 0) {
		srv_reply_error(req, rc, NULL, NULL);
		policy_release(req);
		return;
	}
	util_buf_init(&b);
	if (util_buf_adds(&b, json)) {
		atr_free(json);
		policy_release(req);
		srv_reply_oom(req, &b);
		return;
	}
	/* An unchanged publish appended nothing: 200, not 201. */
	srv_reply_json(req, atr_policy_change_event(in->change) ? 201 : 200, &b);
	atr_free(json);
	util_buf_release(&b);
	policy_release(req);
}

const struct srv_ingest_ops srv_policy_publish_ops = {policy_headers, publish_parse, policy_submit,
                                                      policy_answer, policy_release};
const struct srv_ingest_ops srv_policy_rollback_ops = {
    policy_headers, rollback_parse, policy_submit, policy_answer, policy_release};

/* All steps on the calling thread (the server suspends between them instead). */
void srv_h_policy_publish(struct srv_req *req)
{
	if (policy_headers(req) != 0 || publish_parse(req) != 0)
		return;
	policy_submit(req);
	policy_answer(req);
}

void srv_h_policy_rollback(struct srv_req *req)
{
	if (policy_headers(req) != 0 || rollback_parse(req) != 0)
		return;
	policy_submit(req);
	policy_answer(req);
}

/* ------------------------------------------------------- reads */

void srv_h_policies(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	char *json = NULL;
	atr_log *log;
	int rc;

	if (srv_only_args(req, allowed) != 0 || !(log = srv_reader(req)))
		return;
	rc = atr_policy_list_json(log, &json);
	srv_reply_wrapped(req, rc, NULL, "{\"policies\":", json, "}");
}

/* GET /api/v1/policies/{name}: the version in force and a page of the history. */
void srv_h_policy(struct srv_req *req)
{
	static const char *const allowed[] = {"limit", "cursor", NULL};
	const char *name = req->captures[0], *v;
	uint64_t limit = POL_HISTORY_DEFAULT, from = 0, next = 0;
	char *json = NULL, post[48], msg[200];
	size_t n;
	atr_log *log;
	int rc;

	if (srv_only_args(req, allowed) != 0 || check_name(req, name, SRV_EBADREQ) != 0)
		return;
	if ((v = srv_arg_str(req, "limit")) &&
	    (util_parse_u64(v, &limit) != 0 || limit == 0 || limit > POL_HISTORY_MAX)) {
		snprintf(msg, sizeof(msg), "parameter 'limit' must be 1 to %u, got '%.64s'",
		         POL_HISTORY_MAX, v);
		srv_reply_error(req, SRV_EBADREQ, msg, "limit");
		return;
	}
	if ((v = srv_arg_str(req, "cursor")) && srv_cursor_decode(v, &from) != 0) {
		srv_reply_error(req, SRV_EBADREQ,
		                "parameter 'cursor' is not a cursor this server made", "cursor");
		return;
	}
	if (!(log = srv_reader(req)))
		return;
	rc = atr_policy_get(log, name, from, limit, &json, &next);
	/* The answer is an object: its closing brace gives way to next_cursor. */
	if (rc == 0 && (n = strlen(json)) > 1)
		json[n - 1] = '\0';
	srv_next_cursor(next != 0, next, post);
	srv_reply_wrapped(req, rc, rc == ATR_EINVALID ? "name" : NULL, "", json, post);
}

void srv_h_policy_snapshot(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	char *json = NULL;
	atr_log *log;
	int rc;

	if (srv_only_args(req, allowed) != 0 || !(log = srv_reader(req)))
		return;
	rc = atr_policy_snapshot_json(log, req->captures[0], &json);
	srv_reply_wrapped(req, rc, "snapshot", "", json, "");
}

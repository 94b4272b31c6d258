/*
 * Derived answers: a job's state, its decisions joined with approvals, and
 * the approval queue, each folded from the events on every call. Nothing
 * here is stored, so nothing here can drift from the log.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/jobs.h>
#include <agentrail/query.h>
#include <agentrail/record.h>

#include "internal.h"

/* Every record matching 'q', parsed (header only), in seq order, with "seq" set. */
static int collect(atr_log *log, const atr_query *q, json_t **out)
{
	json_t *arr = json_array();
	const atr_record *rec;
	atr_cursor *cur;
	int rc;

	*out = NULL;
	if (!arr)
		return atr__err(ATR_ENOMEM, "out of memory");
	if ((rc = atr_log_query(log, q, &cur)) < 0) {
		json_decref(arr);
		return rc;
	}
	while ((rc = atr_cursor_next(cur, &rec)) > 0) {
		size_t len;
		const char *bytes = atr_record_bytes(rec, &len);
		json_t *o = json_loadb(bytes, len, 0, NULL);

		if (!o) {
			rc = atr__err(ATR_ETAMPER, "record %llu is not valid JSON",
			              (unsigned long long)atr_record_seq(rec));
			break;
		}
		json_array_append_new(arr, o);
	}
	atr_cursor_free(cur);
	if (rc < 0) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static const char *sub(json_t *o, const char *obj, const char *k)
{
	return json_string_value(json_object_get(json_object_get(o, obj), k));
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static int is_type(json_t *o, const char *t)
{
	const char *v = str(o, "type");

	return v && !strcmp(v, t);
}

static int dump(json_t *v, char **out)
{
	*out = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(v);
	return *out ? 0 : atr__err(ATR_ENOMEM, "out of memory");
}

/* The approval_resolved event for approval 'id' among 'evs', or NULL. */
static json_t *resolution_of(json_t *evs, const char *id)
{
	size_t i;
	json_t *e;

	json_array_foreach(evs, i, e) if (is_type(e, "approval_resolved") && id &&
	                                  sub(e, "approval", "id") &&
	                                  !strcmp(sub(e, "approval", "id"), id)) return e;
	return NULL;
}

/* The job's input (task_submit) and result (task_outcome, else the last output). */
static void pointers(json_t *evs, const char **context, const char **result)
{
	size_t i;
	json_t *e;

	*context = *result = NULL;
	json_array_foreach(evs, i, e)
	{
		if (!*context && is_type(e, "task_submit"))
			*context = str(e, "event_id");
		if (is_type(e, "task_outcome") || (is_type(e, "output") && !*result) ||
		    is_type(e, "complete"))
			*result = str(e, "event_id");
	}
}

static json_t *output_safety(json_t *evs)
{
	json_t *e, *last = NULL;
	size_t i;

	json_array_foreach(evs, i, e) if (is_type(e, "output_safety")) last = e;
	if (!last)
		return json_null();
	return json_pack("{s:o, s:o}", "decision", str_or_null(sub(last, "policy", "decision")),
	                 "rule_id", str_or_null(sub(last, "policy", "rule_id")));
}

static int job_events(atr_log *log, const char *job_id, json_t **evs)
{
	atr_query q = {.job_id = job_id};
	int rc;

	if (!job_id || !*job_id)
		return atr__err(ATR_EINVALID, "a job id is required");
	if ((rc = collect(log, &q, evs)) < 0)
		return rc;
	if (json_array_size(*evs) == 0) {
		json_decref(*evs);
		*evs = NULL;
		return atr__err(ATR_ENOTFOUND, "no events for job '%s'", job_id);
	}
	return 0;
}

int atr_job_json(atr_log *log, const char *job_id, char **out)
{
	json_t *evs, *e, *decisions, *approvals, *job, *last;
	const char *submitter = NULL, *snapshot = NULL, *context, *result;
	const char *outcome = NULL, *status;
	int aborted = 0, pending = 0;
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = job_events(log, job_id, &evs)) < 0)
		return rc;
	decisions = json_array();
	approvals = json_array();
	json_array_foreach(evs, i, e)
	{
		if (is_type(e, "task_submit") && !submitter)
			submitter = str(e, "user_id") ? str(e, "user_id") : str(e, "actor");
		if (is_type(e, "abort"))
			aborted = 1;
		if (is_type(e, "task_outcome"))
			outcome = str(e, "outcome");
		if (is_type(e, "decision")) {
			if (sub(e, "policy", "snapshot"))
				snapshot = sub(e, "policy", "snapshot");
			json_array_append_new(
			    decisions,
			    json_pack("{s:o, s:O, s:o, s:o, s:o, s:o, s:o}", "event_id",
			              str_or_null(str(e, "event_id")), "seq",
			              json_object_get(e, "seq"), "decision",
			              str_or_null(sub(e, "policy", "decision")), "rule_id",
			              str_or_null(sub(e, "policy", "rule_id")), "reason",
			              str_or_null(str(e, "reason")), "snapshot",
			              str_or_null(sub(e, "policy", "snapshot")), "timestamp",
			              str_or_null(str(e, "ts"))));
		}
		if (is_type(e, "approval_request")) {
			const char *id = sub(e, "approval", "id");
			json_t *res = resolution_of(evs, id);

			pending += !res;
			json_array_append_new(
			    approvals,
			    json_pack(
			        "{s:o, s:o, s:O, s:o, s:o, s:o, s:o, s:o, s:o}", "approval_id",
			        str_or_null(id), "event_id", str_or_null(str(e, "event_id")), "seq",
			        json_object_get(e, "seq"), "requested_by",
			        str_or_null(str(e, "actor")), "rule_id",
			        str_or_null(sub(e, "policy", "rule_id")), "job_hash",
			        str_or_null(sub(e, "approval", "job_hash")), "resolution",
			        json_string(res ? sub(res, "approval", "resolution") : "pending"),
			        "resolved_by",
			        str_or_null(res ? sub(res, "approval", "resolved_by") : NULL),
			        "comment",
			        str_or_null(res ? sub(res, "approval", "comment") : NULL)));
		}
	}
	if (!submitter)
		submitter = str(json_array_get(evs, 0), "user_id")
		                ? str(json_array_get(evs, 0), "user_id")
		                : str(json_array_get(evs, 0), "actor");
	if (aborted)
		status = "aborted";
	else if (outcome && !strcmp(outcome, "success"))
		status = "succeeded";
	else if (outcome && !strcmp(outcome, "partial"))
		status = "partial";
	else if (outcome)
		status = "failed";
	else if (pending)
		status = "awaiting_approval";
	else
		status = "running";
	pointers(evs, &context, &result);
	last = json_array_get(evs, json_array_size(evs) - 1);
	job = json_pack(
	    "{s:s, s:o, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:o, s:O, s:o, s:o}}", "job_id",
	    job_id, "submitter", str_or_null(submitter), "status", status, "events",
	    (json_int_t)json_array_size(evs), "decisions", decisions, "approvals", approvals,
	    "policy_snapshot", str_or_null(snapshot), "output_safety", output_safety(evs),
	    "context_ptr", str_or_null(context), "result_ptr", str_or_null(result), "last_event",
	    "event_id", str_or_null(str(last, "event_id")), "seq", json_object_get(last, "seq"),
	    "type", str_or_null(str(last, "type")), "timestamp", str_or_null(str(last, "ts")));
	json_decref(evs);
	if (!job)
		return atr__err(ATR_ENOMEM, "out of memory");
	return dump(job, out);
}

/* The approval that answers decision 'd' (at index 'di'): its child, else the next request. */
static json_t *approval_for(json_t *evs, size_t di, json_t *d)
{
	const char *id = str(d, "event_id");
	json_t *e, *next = NULL;
	size_t i;

	json_array_foreach(evs, i, e)
	{
		if (!is_type(e, "approval_request"))
			continue;
		if (id && str(e, "parent_event_id") && !strcmp(str(e, "parent_event_id"), id))
			return e;
		if (i > di && !next)
			next = e;
	}
	return next;
}

int atr_job_decisions_json(atr_log *log, const char *job_id, char **out)
{
	json_t *evs, *e, *arr = json_array(), *safety;
	const char *context, *result;
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = job_events(log, job_id, &evs)) < 0) {
		json_decref(arr);
		return rc;
	}
	pointers(evs, &context, &result);
	safety = output_safety(evs);
	json_array_foreach(evs, i, e)
	{
		json_t *ap, *res, *req;

		if (!is_type(e, "decision"))
			continue;
		ap = approval_for(evs, i, e);
		res = ap ? resolution_of(evs, sub(ap, "approval", "id")) : NULL;
		req = ap ? json_object_get(json_object_get(ap, "approval"), "required") : NULL;
		json_array_append_new(
		    arr,
		    json_pack(
		        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
		        "s:o, s:o, s:O, s:o, s:o, s:O}",
		        "run_id", str_or_null(str(e, "run_id")), "workflow_step_id",
		        str_or_null(str(e, "workflow_step_id")), "job_id", json_string(job_id),
		        "trace_id", str_or_null(str(e, "trace_id")), "decision",
		        str_or_null(sub(e, "policy", "decision")), "policy_rule_id",
		        str_or_null(sub(e, "policy", "rule_id")), "policy_reason",
		        str_or_null(sub(e, "policy", "reason") ? sub(e, "policy", "reason")
		                                               : str(e, "reason")),
		        "policy_snapshot", str_or_null(sub(e, "policy", "snapshot")), "job_hash",
		        str_or_null(ap ? sub(ap, "approval", "job_hash") : NULL),
		        "approval_required",
		        req ? json_boolean(json_is_true(req)) : json_boolean(ap != NULL),
		        "resolution",
		        str_or_null(res  ? sub(res, "approval", "resolution")
		                    : ap ? "pending"
		                         : NULL),
		        "resolved_by",
		        str_or_null(res ? sub(res, "approval", "resolved_by") : NULL),
		        "resolved_comment",
		        str_or_null(res ? sub(res, "approval", "comment") : NULL), "context_ptr",
		        str_or_null(context), "result_ptr", str_or_null(result), "output_safety",
		        safety, "timestamp", str_or_null(str(e, "ts")), "event_id",
		        str_or_null(str(e, "event_id")), "seq", json_object_get(e, "seq")));
	}
	json_decref(safety);
	json_decref(evs);
	return dump(arr, out);
}

/*
 * The approval queue, kept current incrementally: each call reads only the
 * approval events appended since the last one (by seq), so answering costs
 * the size of the answer, not the number of approvals ever made.
 */
struct atr_approvals {
	pthread_mutex_t mu;
	uint64_t next_seq; /* events below this are folded in */
	json_t *reqs;      /* every approval_request, in seq order */
	json_t *byid;      /* approval id -> its (first) approval_resolved */
};

int atr_approvals_new(atr_approvals **out)
{
	atr_approvals *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c || !(c->reqs = json_array()) || !(c->byid = json_object())) {
		if (c) {
			json_decref(c->reqs);
			free(c);
		}
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;
}

void atr_approvals_free(atr_approvals *c)
{
	if (!c)
		return;
	json_decref(c->reqs);
	json_decref(c->byid);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Fold in the approval events in [c->next_seq, size). */
static int approvals_refresh(atr_approvals *c, atr_log *log)
{
	atr_query qr = {.type = "approval_request"}, qs = {.type = "approval_resolved"};
	json_t *reqs, *ress, *e;
	uint64_t size;
	size_t i;
	int rc;

	if ((rc = atr_log_size(log, &size)) < 0)
		return rc;
	if (size <= c->next_seq)
		return 0;
	qr.seq_from = qs.seq_from = c->next_seq;
	qr.seq_to = qs.seq_to = size;
	if ((rc = collect(log, &qr, &reqs)) < 0)
		return rc;
	if ((rc = collect(log, &qs, &ress)) < 0) {
		json_decref(reqs);
		return rc;
	}
	json_array_extend(c->reqs, reqs);
	json_array_foreach(ress, i, e)
	{
		const char *rid = sub(e, "approval", "id");

		if (rid && !json_object_get(c->byid, rid))
			json_object_set(c->byid, rid, e);
	}
	json_decref(reqs);
	json_decref(ress);
	c->next_seq = size;
	return 0;
}

static json_t *approval_item(json_t *e, json_t *res)
{
	json_t *item = json_pack(
	    "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:O, s:s}", "approval_id",
	    str_or_null(sub(e, "approval", "id")), "job_id", str_or_null(str(e, "job_id")),
	    "requested_by", str_or_null(str(e, "actor")), "requested_at", str_or_null(str(e, "ts")),
	    "rule_id", str_or_null(sub(e, "policy", "rule_id")), "reason",
	    str_or_null(str(e, "reason")), "job_hash", str_or_null(sub(e, "approval", "job_hash")),
	    "event_id", str_or_null(str(e, "event_id")), "seq", json_object_get(e, "seq"),
	    "resolution", res ? sub(res, "approval", "resolution") : "pending");

	if (item && res) {
		json_object_set_new(item, "resolved_by",
		                    str_or_null(sub(res, "approval", "resolved_by")));
		json_object_set_new(item, "comment", str_or_null(sub(res, "approval", "comment")));
		json_object_set_new(item, "resolved_at", str_or_null(str(res, "ts")));
		json_object_set(item, "resolved_seq", json_object_get(res, "seq"));
	}
	return item;
}

int atr_approvals_query(atr_approvals *c, atr_log *log, int include_resolved, char **out)
{
	json_t *arr, *e;
	size_t i;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&c->mu);
	if ((rc = approvals_refresh(c, log)) < 0) {
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	arr = json_array();
	json_array_foreach(c->reqs, i, e)
	{
		const char *id = sub(e, "approval", "id");
		json_t *res = id ? json_object_get(c->byid, id) : NULL;

		if (!res || include_resolved)
			json_array_append_new(arr, approval_item(e, res));
	}
	pthread_mutex_unlock(&c->mu);
	return dump(arr, out);
}

int atr_approvals_json(atr_log *log, int include_resolved, char **out)
{
	atr_approvals *c;
	int rc;

	*out = NULL;
	if ((rc = atr_approvals_new(&c)) < 0)
		return rc;
	rc = atr_approvals_query(c, log, include_resolved, out);
	atr_approvals_free(c);
	return rc;
}

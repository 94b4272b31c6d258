/*
 * Derived answers: a job's state, its decisions joined with approvals, and
 * the approval queue, each folded from the events on every call. Nothing
 * here is stored, so nothing here can drift from the log. A job's events
 * are read once, in seq order, keeping only what the answer needs: memory
 * follows the answer (a capped list, one page), plus one small entry per
 * approval id of the job, not the number of events.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/jobs.h>
#include <agentrail/query.h>
#include <agentrail/record.h>

#include "bundlepriv.h"
#include "internal.h"

/* Call 'fn' on every record matching 'q', parsed (header only), in seq order. */
static int fold(atr_log *log, const atr_query *q, int (*fn)(void *ctx, json_t *e), void *ctx)
{
	const atr_record *rec;
	atr_cursor *cur;
	int rc;

	if ((rc = atr_log_query(log, q, &cur)) < 0)
		return rc;
	while ((rc = atr_cursor_next(cur, &rec)) > 0) {
		size_t len;
		const char *bytes = atr_record_bytes(rec, &len);
		json_t *o = json_loadb(bytes, len, 0, NULL);

		if (!o) {
			rc = atr__err(ATR_ETAMPER, "record %llu is not valid JSON",
			              (unsigned long long)atr_record_seq(rec));
			break;
		}
		rc = fn(ctx, o);
		json_decref(o);
		if (rc < 0)
			break;
	}
	atr_cursor_free(cur);
	return rc < 0 ? rc : 0;
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

static uint64_t seq_of(json_t *e)
{
	json_int_t v = json_integer_value(json_object_get(e, "seq"));

	return v > 0 ? (uint64_t)v : 0;
}

/* Hold 'e' in '*slot' (a reference), letting go of what was there. */
static void keep(json_t **slot, json_t *e)
{
	json_incref(e);
	json_decref(*slot);
	*slot = e;
}

static int dump(json_t *v, char **out)
{
	*out = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(v);
	return *out ? 0 : atr__err(ATR_ENOMEM, "out of memory");
}

static int oom(void)
{
	return atr__err(ATR_ENOMEM, "out of memory");
}

/* ------------------------------------------------------- one job */

/* What a pass over a job's events keeps: both answers share it. */
struct job {
	size_t events;
	json_t *first, *last; /* events */
	json_t *submit;       /* the first task_submit */
	json_t *outcome;      /* the last task_outcome */
	json_t *result;       /* the last task_outcome or complete */
	json_t *first_output; /* the first output */
	json_t *safety;       /* the last output_safety */
	json_t *snapshot;     /* the last decision naming a policy snapshot */
	int aborted;          /* an abort was logged */
	json_t *resolved;     /* approval id -> {resolution, resolved_by, comment}, the first */
	int state;            /* folding for atr_job_json(), else for a page of decisions */
	/* atr_job_json(): the first ATR_JOB_LIST_MAX items of each list, and the totals. */
	json_t *decisions, *approvals;
	size_t ndecisions, napprovals;
	json_t *req_ids; /* the approval id of every request (null: none), to count pending */
	/* atr_job_decisions_page(): the decisions on the page and their approvals. */
	uint64_t from, limit, next;
	json_t *page;      /* the decision events of the page */
	json_t *after;     /* for each, the first approval request after it (compact), or null */
	size_t unassigned; /* page[unassigned..] have met no request after them yet */
	json_t *children;  /* parent_event_id -> the first approval request naming it (compact) */
};

static void job_release(struct job *j)
{
	json_t **all[] = {&j->first,        &j->last,    &j->submit,   &j->outcome,  &j->result,
	                  &j->first_output, &j->safety,  &j->snapshot, &j->resolved, &j->decisions,
	                  &j->approvals,    &j->req_ids, &j->page,     &j->after,    &j->children};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		json_decref(*all[i]);
		*all[i] = NULL;
	}
}

static int job_init(struct job *j, int state)
{
	memset(j, 0, sizeof(*j));
	j->state = state;
	j->resolved = json_object();
	if (state) {
		j->decisions = json_array();
		j->approvals = json_array();
		j->req_ids = json_array();
	} else {
		j->page = json_array();
		j->after = json_array();
		j->children = json_object();
	}
	if (!j->resolved || (state && (!j->decisions || !j->approvals || !j->req_ids)) ||
	    (!state && (!j->page || !j->after || !j->children))) {
		job_release(j);
		return oom();
	}
	return 0;
}

/* What a decision record needs of an approval request. */
static json_t *compact_request(json_t *e)
{
	json_t *c = json_pack("{s:o, s:o}", "id", str_or_null(sub(e, "approval", "id")), "job_hash",
	                      str_or_null(sub(e, "approval", "job_hash")));
	json_t *req = json_object_get(json_object_get(e, "approval"), "required");

	if (c && req && json_object_set(c, "required", req) != 0) {
		json_decref(c);
		return NULL;
	}
	return c;
}

static int fold_decision(struct job *j, json_t *e)
{
	uint64_t seq = seq_of(e);

	if (sub(e, "policy", "snapshot"))
		keep(&j->snapshot, e);
	if (j->state) {
		if (j->ndecisions++ >= ATR_JOB_LIST_MAX)
			return 0;
		return json_array_append_new(
		           j->decisions,
		           json_pack("{s:o, s:O, s:o, s:o, s:o, s:o, s:o}", "event_id",
		                     str_or_null(str(e, "event_id")), "seq",
		                     json_object_get(e, "seq"), "decision",
		                     str_or_null(sub(e, "policy", "decision")), "rule_id",
		                     str_or_null(sub(e, "policy", "rule_id")), "reason",
		                     str_or_null(str(e, "reason")), "snapshot",
		                     str_or_null(sub(e, "policy", "snapshot")), "timestamp",
		                     str_or_null(str(e, "ts")))) != 0
		           ? oom()
		           : 0;
	}
	if (seq < j->from)
		return 0;
	if (j->limit && json_array_size(j->page) == j->limit) {
		if (!j->next)
			j->next = seq;
		return 0;
	}
	if (json_array_append(j->page, e) != 0 || json_array_append_new(j->after, json_null()) != 0)
		return oom();
	return 0;
}

static int fold_request(struct job *j, json_t *e)
{
	const char *id = sub(e, "approval", "id");
	const char *parent = str(e, "parent_event_id");
	json_t *c;
	int rc = 0;

	if (j->state) {
		if (json_array_append_new(j->req_ids, str_or_null(id)) != 0)
			return oom();
		if (j->napprovals++ >= ATR_JOB_LIST_MAX)
			return 0;
		/* The resolution is added at the end: it may come later in the log. */
		return json_array_append_new(
		           j->approvals,
		           json_pack("{s:o, s:o, s:O, s:o, s:o, s:o}", "approval_id",
		                     str_or_null(id), "event_id", str_or_null(str(e, "event_id")),
		                     "seq", json_object_get(e, "seq"), "requested_by",
		                     str_or_null(str(e, "actor")), "rule_id",
		                     str_or_null(sub(e, "policy", "rule_id")), "job_hash",
		                     str_or_null(sub(e, "approval", "job_hash")))) != 0
		           ? oom()
		           : 0;
	}
	if (!(c = compact_request(e)))
		return oom();
	/* The first request after a decision answers it, unless the decision has a child. */
	for (size_t k = j->unassigned; k < json_array_size(j->page); k++)
		if (json_array_set(j->after, k, c) != 0)
			rc = oom();
	j->unassigned = json_array_size(j->page);
	if (parent && !json_object_get(j->children, parent) &&
	    json_object_set(j->children, parent, c) != 0)
		rc = oom();
	json_decref(c);
	return rc;
}

static int fold_resolution(struct job *j, json_t *e)
{
	const char *id = sub(e, "approval", "id");

	if (!id || json_object_get(j->resolved, id))
		return 0;
	return json_object_set_new(
	           j->resolved, id,
	           json_pack("{s:o, s:o, s:o}", "resolution",
	                     str_or_null(sub(e, "approval", "resolution")), "resolved_by",
	                     str_or_null(sub(e, "approval", "resolved_by")), "comment",
	                     str_or_null(sub(e, "approval", "comment")))) != 0
	           ? oom()
	           : 0;
}

static int job_fold(void *ctx, json_t *e)
{
	struct job *j = ctx;
	const char *type = str(e, "type");

	j->events++;
	if (!j->first)
		keep(&j->first, e);
	keep(&j->last, e);
	if (!type)
		return 0;
	if (!strcmp(type, "task_submit")) {
		if (!j->submit)
			keep(&j->submit, e);
	} else if (!strcmp(type, "abort")) {
		j->aborted = 1;
	} else if (!strcmp(type, "task_outcome")) {
		keep(&j->outcome, e);
		keep(&j->result, e);
	} else if (!strcmp(type, "complete")) {
		keep(&j->result, e);
	} else if (!strcmp(type, "output")) {
		if (!j->first_output)
			keep(&j->first_output, e);
	} else if (!strcmp(type, "output_safety")) {
		keep(&j->safety, e);
	} else if (!strcmp(type, "decision")) {
		return fold_decision(j, e);
	} else if (!strcmp(type, "approval_request")) {
		return fold_request(j, e);
	} else if (!strcmp(type, "approval_resolved")) {
		return fold_resolution(j, e);
	}
	return 0;
}

/* Read every event of the job into 'j'. */
static int job_read(atr_log *log, const char *job_id, struct job *j)
{
	atr_query q = {.job_id = job_id};
	int rc;

	if (!job_id || !*job_id)
		return atr__err(ATR_EINVALID, "a job id is required");
	if ((rc = fold(log, &q, job_fold, j)) < 0)
		return rc;
	if (j->events == 0)
		return atr__err(ATR_ENOTFOUND, "no events for job '%s'", job_id);
	return 0;
}

/* The job's input (task_submit) and result (the last task_outcome or complete, else the first
 * output). */
static const char *context_ptr(const struct job *j)
{
	return j->submit ? str(j->submit, "event_id") : NULL;
}

static const char *result_ptr(const struct job *j)
{
	return j->result         ? str(j->result, "event_id")
	       : j->first_output ? str(j->first_output, "event_id")
	                         : NULL;
}

static json_t *output_safety(const struct job *j)
{
	if (!j->safety)
		return json_null();
	return json_pack("{s:o, s:o}", "decision",
	                 str_or_null(sub(j->safety, "policy", "decision")), "rule_id",
	                 str_or_null(sub(j->safety, "policy", "rule_id")));
}

/* Add 'v' (a new reference) to 'o' under 'k'; -1 when either failed. */
static int put(json_t *o, const char *k, json_t *v)
{
	return v ? json_object_set_new(o, k, v) : -1;
}

/*
 * The snapshots some policy_publish event carries (one query over its type
 * index), as a set, into '*out'; an empty set when the job's decisions cite
 * no snapshot ('j->snapshot' is the last that did), so that costs nothing.
 */
static int known_snapshots(atr_log *log, const struct job *j, json_t **out)
{
	atr_query q = {.type = "policy_publish"};
	const atr_record *rec;
	atr_cursor *cur;
	int rc;

	if (!(*out = json_object()))
		return oom();
	if (!j->snapshot)
		return 0;
	if ((rc = atr_log_query(log, &q, &cur)) < 0)
		return rc;
	while ((rc = atr_cursor_next(cur, &rec)) > 0) {
		const char *s = atr_record_str(rec, "policy.snapshot");

		if (s && json_object_set_new(*out, s, json_true()) != 0) {
			rc = oom();
			break;
		}
	}
	atr_cursor_free(cur);
	return rc < 0 ? rc : 0;
}

/* A decision's snapshot_known: null when it cites no snapshot. */
static json_t *snapshot_known(json_t *known, const char *snapshot)
{
	return snapshot ? json_boolean(json_object_get(known, snapshot) != NULL) : json_null();
}

int atr_job_json(atr_log *log, const char *job_id, char **out)
{
	struct job j;
	json_t *job, *e, *last_event, *known = NULL;
	const char *status, *submitter, *outcome;
	size_t i, pending = 0;
	int rc, bad = 0;

	*out = NULL;
	if ((rc = job_init(&j, 1)) < 0)
		return rc;
	if ((rc = job_read(log, job_id, &j)) < 0 || (rc = known_snapshots(log, &j, &known)) < 0) {
		json_decref(known);
		job_release(&j);
		return rc;
	}
	json_array_foreach(j.decisions, i, e)
	{
		bad |= put(e, "snapshot_known", snapshot_known(known, str(e, "snapshot")));
	}
	json_array_foreach(j.req_ids, i, e)
	{
		if (!json_is_string(e) || !json_object_get(j.resolved, json_string_value(e)))
			pending++;
	}
	json_array_foreach(j.approvals, i, e)
	{
		const char *id = str(e, "approval_id");
		json_t *res = id ? json_object_get(j.resolved, id) : NULL;

		bad |= put(e, "resolution",
		           res ? str_or_null(str(res, "resolution")) : json_string("pending"));
		bad |= put(e, "resolved_by", str_or_null(res ? str(res, "resolved_by") : NULL));
		bad |= put(e, "comment", str_or_null(res ? str(res, "comment") : NULL));
	}
	outcome = j.outcome ? str(j.outcome, "outcome") : NULL;
	if (j.aborted)
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
	e = j.submit ? j.submit : j.first;
	submitter = str(e, "user_id") ? str(e, "user_id") : str(e, "actor");
	last_event = json_pack(
	    "{s:o, s:O, s:o, s:o}", "event_id", str_or_null(str(j.last, "event_id")), "seq",
	    json_object_get(j.last, "seq"), "type", str_or_null(str(j.last, "type")), "timestamp",
	    str_or_null(str(j.last, "ts")));
	job = json_object();
	if (!job || bad || put(job, "job_id", json_string(job_id)) ||
	    put(job, "submitter", str_or_null(submitter)) ||
	    put(job, "status", json_string(status)) ||
	    put(job, "events", json_integer((json_int_t)j.events)) ||
	    json_object_set(job, "decisions", j.decisions) ||
	    put(job, "decisions_total", json_integer((json_int_t)j.ndecisions)) ||
	    json_object_set(job, "approvals", j.approvals) ||
	    put(job, "approvals_total", json_integer((json_int_t)j.napprovals)) ||
	    put(job, "policy_snapshot",
	        str_or_null(j.snapshot ? sub(j.snapshot, "policy", "snapshot") : NULL)) ||
	    put(job, "policy_snapshot_known",
	        snapshot_known(known, j.snapshot ? sub(j.snapshot, "policy", "snapshot") : NULL)) ||
	    put(job, "output_safety", output_safety(&j)) ||
	    put(job, "context_ptr", str_or_null(context_ptr(&j))) ||
	    put(job, "result_ptr", str_or_null(result_ptr(&j))) ||
	    put(job, "last_event", last_event)) {
		json_decref(job);
		json_decref(known);
		job_release(&j);
		return oom();
	}
	json_decref(known);
	job_release(&j);
	return dump(job, out);
}

/* One flat decision record: decision 'd' joined with approval request 'ap' (compact, or NULL). */
static json_t *decision_record(const struct job *j, const char *job_id, json_t *d, json_t *ap,
                               json_t *safety, json_t *known)
{
	const char *apid = ap ? str(ap, "id") : NULL;
	json_t *res = apid ? json_object_get(j->resolved, apid) : NULL;
	json_t *req = ap ? json_object_get(ap, "required") : NULL;

	return json_pack(
	    "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
	    "s:o, s:o, s:O, s:o, s:o, s:O, s:o}",
	    "run_id", str_or_null(str(d, "run_id")), "workflow_step_id",
	    str_or_null(str(d, "workflow_step_id")), "job_id", json_string(job_id), "trace_id",
	    str_or_null(str(d, "trace_id")), "decision", str_or_null(sub(d, "policy", "decision")),
	    "policy_rule_id", str_or_null(sub(d, "policy", "rule_id")), "policy_reason",
	    str_or_null(sub(d, "policy", "reason") ? sub(d, "policy", "reason") : str(d, "reason")),
	    "policy_snapshot", str_or_null(sub(d, "policy", "snapshot")), "job_hash",
	    str_or_null(ap ? str(ap, "job_hash") : NULL), "approval_required",
	    req ? json_boolean(json_is_true(req)) : json_boolean(ap != NULL), "resolution",
	    res ? str_or_null(str(res, "resolution")) : str_or_null(ap ? "pending" : NULL),
	    "resolved_by", str_or_null(res ? str(res, "resolved_by") : NULL), "resolved_comment",
	    str_or_null(res ? str(res, "comment") : NULL), "context_ptr",
	    str_or_null(context_ptr(j)), "result_ptr", str_or_null(result_ptr(j)), "output_safety",
	    safety, "timestamp", str_or_null(str(d, "ts")), "event_id",
	    str_or_null(str(d, "event_id")), "seq", json_object_get(d, "seq"), "snapshot_known",
	    snapshot_known(known, sub(d, "policy", "snapshot")));
}

int atr_job_decisions_page(atr_log *log, const char *job_id, uint64_t from_seq, uint64_t limit,
                           char **out, uint64_t *next_seq)
{
	struct job j;
	json_t *arr, *d, *safety, *known = NULL;
	size_t i;
	int rc;

	*out = NULL;
	*next_seq = 0;
	if ((rc = job_init(&j, 0)) < 0)
		return rc;
	j.from = from_seq;
	j.limit = limit;
	if ((rc = job_read(log, job_id, &j)) < 0 || (rc = known_snapshots(log, &j, &known)) < 0) {
		json_decref(known);
		job_release(&j);
		return rc;
	}
	arr = json_array();
	safety = output_safety(&j);
	if (!arr || !safety) {
		json_decref(arr);
		json_decref(safety);
		json_decref(known);
		job_release(&j);
		return oom();
	}
	json_array_foreach(j.page, i, d)
	{
		const char *id = str(d, "event_id");
		json_t *ap = id ? json_object_get(j.children, id) : NULL;

		if (!ap)
			ap = json_array_get(j.after, i);
		if (json_array_append_new(arr, decision_record(&j, job_id, d,
		                                               json_is_object(ap) ? ap : NULL,
		                                               safety, known)) != 0) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	json_decref(safety);
	json_decref(known);
	*next_seq = arr ? j.next : 0;
	job_release(&j);
	return dump(arr, out);
}

int atr_job_decisions_json(atr_log *log, const char *job_id, char **out)
{
	uint64_t next;

	return atr_job_decisions_page(log, job_id, 0, 0, out, &next);
}

/* ------------------------------------------------------- the approval queue */

/*
 * The approval queue, kept current incrementally: each call reads only the
 * approval events appended since the last one (by seq). Each request is
 * kept as its answer text, the pending ones are also listed apart, so a
 * page costs its own size, whatever the number of approvals ever made.
 */
struct areq {
	uint64_t seq;
	char *id;   /* its approval id, NULL when it names none */
	char *base; /* its answer object without the resolution and the closing brace */
};

struct atr_approvals {
	pthread_mutex_t mu;
	uint64_t next_seq; /* events below this are folded in */
	struct areq *reqs; /* every approval_request, in seq order */
	size_t n, cap;
	size_t *pend; /* the indexes in 'reqs' of the pending ones, ascending */
	size_t npend, pcap;
	json_t *res; /* approval id -> the tail text of its (first) resolution */
};

int atr_approvals_new(atr_approvals **out)
{
	atr_approvals *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c || !(c->res = json_object())) {
		free(c);
		return oom();
	}
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;
}

void atr_approvals_free(atr_approvals *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->reqs[i].id);
		free(c->reqs[i].base);
	}
	free(c->reqs);
	free(c->pend);
	json_decref(c->res);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/*
 * 'o' (released) as compact text without its closing brace, or with
 * 'tail' without its opening one: a request's answer is its head, then
 * its resolution's tail (or "pending").
 */
static char *object_text(json_t *o, int tail)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	size_t n = s ? strlen(s) : 0;

	json_decref(o);
	if (n < 2) {
		free(s);
		return NULL;
	}
	if (tail)
		memmove(s, s + 1, n); /* with the NUL */
	else
		s[n - 1] = '\0';
	return s;
}

static int add_resolution(void *ctx, json_t *e)
{
	atr_approvals *c = ctx;
	const char *id = sub(e, "approval", "id");
	char *text;
	int rc;

	if (!id || json_object_get(c->res, id))
		return 0;
	text = object_text(json_pack("{s:o, s:o, s:o, s:o, s:O}", "resolution",
	                             str_or_null(sub(e, "approval", "resolution")), "resolved_by",
	                             str_or_null(sub(e, "approval", "resolved_by")), "comment",
	                             str_or_null(sub(e, "approval", "comment")), "resolved_at",
	                             str_or_null(str(e, "ts")), "resolved_seq",
	                             json_object_get(e, "seq")),
	                   1);
	if (!text)
		return oom();
	rc = json_object_set_new(c->res, id, json_string(text));
	free(text);
	return rc != 0 ? oom() : 1;
}

static int pend_add(atr_approvals *c, size_t idx)
{
	if (c->npend == c->pcap) {
		size_t cap = c->pcap ? 2 * c->pcap : 64;
		size_t *p = realloc(c->pend, cap * sizeof(*p));

		if (!p)
			return oom();
		c->pend = p;
		c->pcap = cap;
	}
	c->pend[c->npend++] = idx;
	return 0;
}

static int is_pending(const atr_approvals *c, const struct areq *r)
{
	return !r->id || !json_object_get(c->res, r->id);
}

static int add_request(void *ctx, json_t *e)
{
	atr_approvals *c = ctx;
	const char *id = sub(e, "approval", "id");
	struct areq r = {seq_of(e), NULL, NULL};

	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		struct areq *v = realloc(c->reqs, cap * sizeof(*v));

		if (!v)
			return oom();
		c->reqs = v;
		c->cap = cap;
	}
	r.base = object_text(
	    json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:O}", "approval_id",
	              str_or_null(id), "job_id", str_or_null(str(e, "job_id")), "requested_by",
	              str_or_null(str(e, "actor")), "requested_at", str_or_null(str(e, "ts")),
	              "rule_id", str_or_null(sub(e, "policy", "rule_id")), "reason",
	              str_or_null(str(e, "reason")), "job_hash",
	              str_or_null(sub(e, "approval", "job_hash")), "event_id",
	              str_or_null(str(e, "event_id")), "seq", json_object_get(e, "seq")),
	    0);
	r.id = id ? strdup(id) : NULL;
	if (!r.base || (id && !r.id)) {
		free(r.base);
		free(r.id);
		return oom();
	}
	c->reqs[c->n++] = r;
	return is_pending(c, &r) ? pend_add(c, c->n - 1) : 0;
}

/* Count the resolutions 'add_resolution' took (it answers 1 for a new one). */
struct res_count {
	atr_approvals *c;
	size_t added;
};

static int count_resolution(void *ctx, json_t *e)
{
	struct res_count *rc = ctx;
	int r = add_resolution(rc->c, e);

	if (r > 0)
		rc->added++;
	return r < 0 ? r : 0;
}

/* Fold in the approval events in [c->next_seq, size). */
static int approvals_refresh(atr_approvals *c, atr_log *log)
{
	atr_query qr = {.type = "approval_request"}, qs = {.type = "approval_resolved"};
	struct res_count counted = {c, 0};
	uint64_t size;
	int rc;

	if ((rc = atr_log_size(log, &size)) < 0)
		return rc;
	if (size <= c->next_seq)
		return 0;
	qr.seq_from = qs.seq_from = c->next_seq;
	qr.seq_to = qs.seq_to = size;
	/* Resolutions first: a request answered in the same stretch is not pending. */
	if ((rc = fold(log, &qs, count_resolution, &counted)) < 0)
		return rc;
	if (counted.added) {
		size_t k = 0;

		for (size_t i = 0; i < c->npend; i++)
			if (is_pending(c, &c->reqs[c->pend[i]]))
				c->pend[k++] = c->pend[i];
		c->npend = k;
	}
	if ((rc = fold(log, &qr, add_request, c)) < 0)
		return rc;
	c->next_seq = size;
	return 0;
}

int atr_approvals_page(atr_approvals *c, atr_log *log, int include_resolved, uint64_t from_seq,
                       uint64_t limit, char **out, uint64_t *next_seq)
{
	struct atr__text t = {0};
	size_t lo, hi, total;
	uint64_t got = 0;
	int rc;

	*out = NULL;
	*next_seq = 0;
	pthread_mutex_lock(&c->mu);
	if ((rc = approvals_refresh(c, log)) < 0) {
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	/* The first request of the list at or after 'from_seq' (binary search). */
	total = include_resolved ? c->n : c->npend;
	lo = 0;
	hi = total;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		size_t idx = include_resolved ? mid : c->pend[mid];

		if (c->reqs[idx].seq < from_seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	atr__text_adds(&t, "[");
	for (; lo < total; lo++) {
		const struct areq *r = &c->reqs[include_resolved ? lo : c->pend[lo]];
		json_t *res = r->id ? json_object_get(c->res, r->id) : NULL;

		if (limit && got == limit) {
			*next_seq = r->seq;
			break;
		}
		if (got++)
			atr__text_adds(&t, ",");
		atr__text_adds(&t, r->base);
		atr__text_adds(&t, ",");
		atr__text_adds(&t, res ? json_string_value(res) : "\"resolution\":\"pending\"}");
	}
	atr__text_adds(&t, "]");
	pthread_mutex_unlock(&c->mu);
	if (t.failed) {
		free(t.s);
		*next_seq = 0;
		return oom();
	}
	*out = t.s;
	return 0;
}

int atr_approvals_query(atr_approvals *c, atr_log *log, int include_resolved, char **out)
{
	uint64_t next;

	return atr_approvals_page(c, log, include_resolved, 0, 0, out, &next);
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

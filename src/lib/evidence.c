/*
 * Evidence bundles (evidence.h): every record of one job and the policy
 * texts its decisions cite, each proven against one signed checkpoint, with
 * a summary folded from those records. The verifier re-derives the summary
 * from the records it has proven, with the same fold, so a bundle whose
 * summary says anything its records do not is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/evidence.h>
#include <agentrail/query.h>
#include <agentrail/record.h>

#include "bundlepriv.h"
#include "internal.h"
#include "jscan.h"

#define EVIDENCE_VERSION 1
#define SNAPSHOT_PREFIX  "sha256:"

static int oom(void)
{
	return atr__err(ATR_ENOMEM, "out of memory");
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

static json_int_t seq_of(json_t *e)
{
	return json_integer_value(json_object_get(e, "seq"));
}

/* ------------------------------------------------------------ the summary */

/*
 * The summary of a job from its records 'recs' (parsed, in seq order) and
 * the policy records 'pols' the bundle carries (parsed): the same fold as
 * atr_job_json() in jobs.c, with every decision and approval listed. NULL
 * when out of memory.
 */
static json_t *derive(json_t *const *recs, size_t n, json_t *const *pols, size_t np)
{
	json_t *decisions = json_array(), *approvals = json_array(), *resolved = json_object();
	json_t *known = json_object(), *summary = NULL, *safety, *final, *a;
	json_t *submit = NULL, *outcome = NULL, *last_safety = NULL, *last_final = NULL;
	const char *status, *out, *submitter;
	size_t i, pending = 0;
	int aborted = 0, bad = 0;

	if (!decisions || !approvals || !resolved || !known)
		goto done;
	for (i = 0; i < np; i++) {
		const char *snap = sub(pols[i], "policy", "snapshot");

		if (snap && !json_object_get(known, snap))
			bad |= json_object_set_new(known, snap, json_integer(seq_of(pols[i])));
	}
	/* Resolutions first: the first of each approval id counts, wherever it is. */
	for (i = 0; i < n; i++) {
		const char *type = str(recs[i], "type"), *id = sub(recs[i], "approval", "id");

		if (type && !strcmp(type, "approval_resolved") && id &&
		    !json_object_get(resolved, id))
			bad |= json_object_set(resolved, id, recs[i]);
	}
	for (i = 0; i < n; i++) {
		json_t *e = recs[i];
		const char *type = str(e, "type");

		if (!type)
			continue;
		if (!strcmp(type, "task_submit")) {
			if (!submit)
				submit = e;
		} else if (!strcmp(type, "abort")) {
			aborted = 1;
			last_final = e;
		} else if (!strcmp(type, "task_outcome")) {
			outcome = e;
			last_final = e;
		} else if (!strcmp(type, "complete")) {
			last_final = e;
		} else if (!strcmp(type, "output_safety")) {
			last_safety = e;
		} else if (!strcmp(type, "decision")) {
			const char *snap = sub(e, "policy", "snapshot");
			json_t *pseq = snap ? json_object_get(known, snap) : NULL;

			bad |= json_array_append_new(
			    decisions,
			    json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "seq", seq_of(e),
			              "event_id", str_or_null(str(e, "event_id")), "decision",
			              str_or_null(sub(e, "policy", "decision")), "rule_id",
			              str_or_null(sub(e, "policy", "rule_id")), "reason",
			              str_or_null(str(e, "reason")), "snapshot", str_or_null(snap),
			              "snapshot_known",
			              snap ? json_boolean(pseq != NULL) : json_null(),
			              "policy_text_seq", pseq ? json_copy(pseq) : json_null()));
		} else if (!strcmp(type, "approval_request")) {
			const char *id = sub(e, "approval", "id");
			json_t *res = id ? json_object_get(resolved, id) : NULL;

			if (!res)
				pending++;
			bad |= json_array_append_new(
			    approvals,
			    json_pack(
			        "{s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:o}", "approval_id",
			        str_or_null(id), "requested_by", str_or_null(str(e, "actor")),
			        "rule_id", str_or_null(sub(e, "policy", "rule_id")), "job_hash",
			        str_or_null(sub(e, "approval", "job_hash")), "request_seq",
			        seq_of(e), "resolution",
			        res ? str_or_null(sub(res, "approval", "resolution"))
			            : json_string("pending"),
			        "resolved_by",
			        str_or_null(res ? sub(res, "approval", "resolved_by") : NULL),
			        "comment",
			        str_or_null(res ? sub(res, "approval", "comment") : NULL),
			        "resolved_seq", res ? json_integer(seq_of(res)) : json_null()));
		}
	}
	out = outcome ? str(outcome, "outcome") : NULL;
	if (aborted)
		status = "aborted";
	else if (out && !strcmp(out, "success"))
		status = "succeeded";
	else if (out && !strcmp(out, "partial"))
		status = "partial";
	else if (out)
		status = "failed";
	else if (pending)
		status = "awaiting_approval";
	else
		status = "running";
	a = submit ? submit : n ? recs[0] : NULL;
	submitter = a ? (str(a, "user_id") ? str(a, "user_id") : str(a, "actor")) : NULL;
	safety = last_safety
	             ? json_pack("{s:I, s:o, s:o, s:o, s:o}", "seq", seq_of(last_safety),
	                         "decision", str_or_null(sub(last_safety, "policy", "decision")),
	                         "rule_id", str_or_null(sub(last_safety, "policy", "rule_id")),
	                         "reason", str_or_null(str(last_safety, "reason")), "outcome",
	                         str_or_null(str(last_safety, "outcome")))
	             : json_null();
	final =
	    last_final
	        ? json_pack("{s:o, s:I, s:o}", "type", str_or_null(str(last_final, "type")), "seq",
	                    seq_of(last_final), "outcome", str_or_null(str(last_final, "outcome")))
	        : json_null();
	if (!bad && safety && final)
		summary = json_pack("{s:I, s:o, s:s, s:O, s:O, s:o, s:o}", "events", (json_int_t)n,
		                    "submitter", str_or_null(submitter), "status", status,
		                    "decisions", decisions, "approvals", approvals, "output_safety",
		                    safety, "final", final);
	else {
		json_decref(safety);
		json_decref(final);
	}
done:
	json_decref(decisions);
	json_decref(approvals);
	json_decref(resolved);
	json_decref(known);
	return summary;
}

/* The parsed records of a bundle being made or checked. */
struct recs {
	json_t **v;
	size_t n, cap;
};

static int recs_add(struct recs *r, json_t *e)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		json_t **v = realloc(r->v, cap * sizeof(*v));

		if (!v) {
			json_decref(e);
			return oom();
		}
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = e;
	return 0;
}

static void recs_release(struct recs *r)
{
	for (size_t i = 0; i < r->n; i++)
		json_decref(r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* A record's bytes parsed, or NULL. */
static json_t *parse_record(const char *bytes, size_t len)
{
	json_t *o = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, NULL);

	if (o && !json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * 1 when the payload 'detail' of a policy_publish record carries a
 * "document" string whose SHA-256 is 'snapshot' ("sha256:<hex>"), 0 when it
 * does not, -1 when 'detail' is not a JSON object.
 */
static int document_matches(const char *detail, size_t dlen, const char *snapshot)
{
	json_t *d = json_loadb(detail, dlen, JSON_REJECT_DUPLICATES, NULL);
	json_t *doc = json_object_get(d, "document");
	uint8_t h[32];
	char hex[65];
	int rc;

	if (!json_is_object(d)) {
		json_decref(d);
		return -1;
	}
	if (!json_is_string(doc) || strncmp(snapshot, SNAPSHOT_PREFIX, 7) != 0) {
		json_decref(d);
		return 0;
	}
	atr__sha256(h, json_string_value(doc), json_string_length(doc), NULL, 0, NULL, 0);
	atr__hex(hex, h, 32);
	rc = strcmp(snapshot + 7, hex) == 0;
	json_decref(d);
	return rc;
}

/* ------------------------------------------------------------ making */

/*
 * The types the summary reads fields of. Records of other types (most of
 * a job: model calls, tools, commands) are only counted, so making a
 * bundle parses just these (and the first record, the submitter's when
 * there is no task_submit); the verifier parses every record anyway.
 */
static int summarized(const char *type, size_t n)
{
	static const char *const types[] = {
	    "task_submit",   "abort",    "task_outcome",     "complete",
	    "output_safety", "decision", "approval_request", "approval_resolved"};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == n && memcmp(types[i], type, n) == 0)
			return 1;
	return 0;
}

struct maker {
	atr_log *log;
	const char *job_id;
	atr_checkpoint cp;
	int have_cp; /* a checkpoint was given or is stored */
	int given;   /* the caller gave it */
	struct atr__bundle_reader *reader;
	struct atr__text events; /* the entries, comma-separated */
	struct recs recs;
};

static int not_covered(const struct maker *m, uint64_t seq)
{
	if (!m->have_cp)
		return atr__err(ATR_ECONFLICT,
		                "no signed checkpoint covers seq %llu yet; sign one (agentrail "
		                "checkpoint --key)",
		                (unsigned long long)seq);
	if (m->given)
		return atr__err(ATR_ECONFLICT,
		                "the checkpoint covers records 0 to %llu; record %llu is not in it",
		                (unsigned long long)m->cp.size - (m->cp.size > 0),
		                (unsigned long long)seq);
	return atr__err(ATR_ECONFLICT,
	                "no signed checkpoint covers seq %llu yet (the newest covers %llu "
	                "records); sign one (agentrail checkpoint --key)",
	                (unsigned long long)seq, (unsigned long long)m->cp.size);
}

/* Append the entry {"seq":N, record, leaf_hash, audit_path, detail, salt} of 'rec' to 't'. */
static int entry(struct maker *m, const atr_record *rec, struct atr__text *t)
{
	int rc;

	atr__text_adds(t, t->len ? ",{\"seq\":" : "{\"seq\":");
	atr__text_u64(t, atr_record_seq(rec));
	atr__text_add(t, ",", 1);
	if ((rc = atr__bundle_put_entry(m->log, m->reader, rec, m->cp.size, t)) < 0)
		return rc;
	atr__text_add(t, "}", 1);
	return t->failed ? oom() : 0;
}

static int add_events(struct maker *m)
{
	atr_query q = {.job_id = m->job_id};
	const atr_record *rec;
	atr_cursor *cur;
	int rc;

	if ((rc = atr_log_query(m->log, &q, &cur)) < 0)
		return rc;
	while ((rc = atr_cursor_next(cur, &rec)) > 0) {
		uint64_t seq = atr_record_seq(rec);
		size_t len, tlen = 0;
		const char *bytes = atr_record_bytes(rec, &len), *type = NULL;
		json_t *e;

		if (!m->have_cp || seq >= m->cp.size) {
			rc = not_covered(m, seq);
			break;
		}
		if (atr__json_member_str(bytes, len, "type", &type, &tlen) != 0)
			type = NULL;
		if (m->recs.n == 0 || !type || summarized(type, tlen))
			e = parse_record(bytes, len);
		else
			e = json_pack("{s:s%, s:I}", "type", type, tlen, "seq", (json_int_t)seq);
		if (!e) {
			rc = atr__err(ATR_ETAMPER, "record %llu is not a JSON object",
			              (unsigned long long)seq);
			break;
		}
		if ((rc = recs_add(&m->recs, e)) < 0 || (rc = entry(m, rec, &m->events)) < 0)
			break;
	}
	atr_cursor_free(cur);
	if (rc < 0)
		return rc;
	if (m->recs.n == 0)
		return atr__err(ATR_ENOTFOUND, "no events for job '%s'", m->job_id);
	return 0;
}

/* The policy_publish chosen for one cited snapshot. */
struct pick {
	const char *snapshot; /* borrowed from the job's records */
	uint64_t seq;
	int found, matches;
	uint64_t late; /* the first carrying it beyond the checkpoint (when none is within) */
	int has_late;
	struct atr__text entry;
	json_t *record;
};

/*
 * For each snapshot the decisions cite, the first policy_publish carrying
 * it, preferring one whose payload's document hashes to it. Appends their
 * entries to 'out' in seq order and their records, parsed, to 'pols'.
 */
static int add_policies(struct maker *m, struct atr__text *out, struct recs *pols)
{
	atr_query q = {.type = "policy_publish"};
	struct pick *picks = NULL;
	const atr_record *rec;
	atr_cursor *cur;
	size_t i, k, n = 0;
	int rc = 0;

	for (i = 0; i < m->recs.n; i++) {
		const char *type = str(m->recs.v[i], "type");
		const char *snap = sub(m->recs.v[i], "policy", "snapshot");

		if (!type || strcmp(type, "decision") != 0 || !snap)
			continue;
		for (k = 0; k < n && strcmp(picks[k].snapshot, snap) != 0; k++)
			;
		if (k < n)
			continue;
		if (!(n & (n + 1))) { /* grow at 0, 1, 3, 7, ... */
			struct pick *p = realloc(picks, (2 * n + 2) * sizeof(*p));

			if (!p) {
				rc = oom();
				goto done;
			}
			picks = p;
		}
		memset(&picks[n], 0, sizeof(picks[n]));
		picks[n++].snapshot = snap;
	}
	if (!n)
		goto done;
	if ((rc = atr_log_query(m->log, &q, &cur)) < 0)
		goto done;
	while ((rc = atr_cursor_next(cur, &rec)) > 0) {
		const char *snap = atr_record_str(rec, "policy.snapshot"), *detail, *bytes;
		uint64_t seq = atr_record_seq(rec);
		size_t dlen, len;
		struct pick *p;
		int matches;

		for (k = 0; snap && k < n && strcmp(picks[k].snapshot, snap) != 0; k++)
			;
		if (!snap || k == n || (p = &picks[k])->matches)
			continue;
		if (seq >= m->cp.size) {
			if (!p->found && !p->has_late) {
				p->late = seq;
				p->has_late = 1;
			}
			continue;
		}
		detail = atr_record_detail(rec, &dlen);
		matches = detail && document_matches(detail, dlen, snap) == 1;
		if (p->found && !matches)
			continue;
		bytes = atr_record_bytes(rec, &len);
		json_decref(p->record);
		if (!(p->record = parse_record(bytes, len))) {
			rc = atr__err(ATR_ETAMPER, "record %llu is not a JSON object",
			              (unsigned long long)seq);
			break;
		}
		p->entry.len = 0;
		if ((rc = entry(m, rec, &p->entry)) < 0)
			break;
		p->found = 1;
		p->matches = matches;
		p->seq = seq;
	}
	atr_cursor_free(cur);
	if (rc < 0)
		goto done;
	rc = 0;
	for (k = 0; k < n; k++)
		if (!picks[k].found && picks[k].has_late) {
			rc = not_covered(m, picks[k].late);
			goto done;
		}
	/* In seq order: few snapshots, a selection each time. */
	for (;;) {
		struct pick *next = NULL;

		for (k = 0; k < n; k++)
			if (picks[k].found && picks[k].record &&
			    (!next || picks[k].seq < next->seq))
				next = &picks[k];
		if (!next)
			break;
		atr__text_adds(out, out->len ? "," : "");
		atr__text_add(out, next->entry.s, next->entry.len);
		if ((rc = recs_add(pols, next->record)) < 0) {
			next->record = NULL;
			goto done;
		}
		next->record = NULL;
	}
	if (out->failed)
		rc = oom();
done:
	for (k = 0; k < n; k++) {
		free(picks[k].entry.s);
		json_decref(picks[k].record);
	}
	free(picks);
	return rc;
}

int atr_log_evidence(atr_log *log, const char *job_id, const char *note, size_t note_len,
                     char **json)
{
	struct maker m = {.log = log, .job_id = job_id};
	struct atr__text t = {0}, policies = {0};
	struct recs pols = {0};
	json_t *summary = NULL;
	char *stored = NULL, *stext = NULL;
	size_t slen = 0;
	int rc;

	*json = NULL;
	if (!job_id || !*job_id)
		return atr__err(ATR_EINVALID, "a job id is required");
	if (note) {
		m.given = 1;
	} else if ((rc = atr_log_checkpoint_get(log, ATR_CHECKPOINT_LATEST, &stored, &slen)) == 0) {
		note = stored;
		note_len = slen;
	} else if (rc != ATR_ENOTFOUND) {
		return rc;
	}
	if (note) {
		if ((rc = atr__bundle_checkpoint(log, note, note_len, &m.cp)) < 0 ||
		    (rc = atr__bundle_reader_new(log, m.cp.size, &m.reader)) < 0)
			goto done;
		m.have_cp = 1;
	} else {
		/* An unknown job is still "not found", not "no checkpoint". */
		atr_query q = {.job_id = job_id, .limit = 1};
		const atr_record *rec;
		atr_cursor *cur;

		if ((rc = atr_log_query(log, &q, &cur)) < 0)
			goto done;
		rc = atr_cursor_next(cur, &rec);
		if (rc > 0)
			rc = not_covered(&m, atr_record_seq(rec));
		else if (rc == 0)
			rc = atr__err(ATR_ENOTFOUND, "no events for job '%s'", job_id);
		atr_cursor_free(cur);
		goto done;
	}
	if ((rc = add_events(&m)) < 0 || (rc = add_policies(&m, &policies, &pols)) < 0)
		goto done;
	if (!(summary = derive(m.recs.v, m.recs.n, pols.v, pols.n)) ||
	    !(stext = json_dumps(summary, JSON_COMPACT | JSON_ENSURE_ASCII))) {
		rc = oom();
		goto done;
	}
	atr__text_adds(&t, "{\"agentrail_evidence\":1,\"job_id\":");
	atr__text_str(&t, job_id, strlen(job_id));
	atr__text_adds(&t, ",\"checkpoint\":");
	atr__text_str(&t, note, note_len);
	atr__text_adds(&t, ",\"tree_size\":");
	atr__text_u64(&t, m.cp.size);
	atr__text_adds(&t, ",\"summary\":");
	atr__text_adds(&t, stext);
	atr__text_adds(&t, ",\"events\":[");
	atr__text_add(&t, m.events.s, m.events.len);
	atr__text_adds(&t, "],\"policies\":[");
	atr__text_add(&t, policies.s, policies.len);
	atr__text_adds(&t, "]}");
	if (t.failed) {
		rc = oom();
		goto done;
	}
	*json = t.s;
	t.s = NULL;
done:
	free(t.s);
	free(stext);
	free(policies.s);
	free(m.events.s);
	json_decref(summary);
	recs_release(&m.recs);
	recs_release(&pols);
	atr__bundle_reader_free(m.reader);
	atr_free(stored);
	return rc;
}

/* ------------------------------------------------------------ checking */

/* A JSON value shortened for a message. */
static void show(json_t *v, char *out, size_t cap)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;

	if (!s)
		snprintf(out, cap, "absent");
	else if (strlen(s) > 80)
		snprintf(out, cap, "%.77s...", s);
	else
		snprintf(out, cap, "%s", s);
	free(s);
}

/*
 * Where 'got' (the bundle's) first differs from 'want' (derived): 1 with
 * the message set, 0 when they are equal. 'path' names the value.
 */
static int differ(json_t *got, json_t *want, char *path, size_t plen, size_t cap)
{
	char a[96], b[96];

	if (json_equal(got, want))
		return 0;
	if (json_is_object(got) && json_is_object(want)) {
		const char *k;
		json_t *v;

		json_object_foreach(want, k, v)
		{
			snprintf(path + plen, cap - plen, ".%s", k);
			if (differ(json_object_get(got, k), v, path, strlen(path), cap))
				return 1;
		}
		json_object_foreach(got, k, v)
		{
			if (!json_object_get(want, k)) {
				snprintf(path + plen, cap - plen, ".%s", k);
				atr__err(
				    ATR_ETAMPER,
				    "%s is in the summary, but nothing in the records gives it",
				    path);
				return 1;
			}
		}
	}
	if (json_is_array(got) && json_is_array(want)) {
		size_t n = json_array_size(got), w = json_array_size(want);

		for (size_t i = 0; i < n && i < w; i++) {
			snprintf(path + plen, cap - plen, "[%zu]", i);
			if (differ(json_array_get(got, i), json_array_get(want, i), path,
			           strlen(path), cap))
				return 1;
		}
		path[plen] = '\0';
		atr__err(ATR_ETAMPER, "%s lists %zu entries, but the records give %zu", path, n, w);
		return 1;
	}
	path[plen] = '\0';
	show(got, a, sizeof(a));
	show(want, b, sizeof(b));
	atr__err(ATR_ETAMPER, "%s is %s, but the records say %s", path, a, b);
	return 1;
}

/* Check the entries of list 'name' and collect their records, parsed, in 'out'. */
static int check_list(json_t *list, const char *name, const atr_checkpoint *cp,
                      atr_evidence_info *info, struct recs *out)
{
	json_int_t prev = -1;
	size_t i;
	json_t *en;
	int rc;

	json_array_foreach(list, i, en)
	{
		json_t *s = json_object_get(en, "seq");
		const char *rec;
		int payload;
		json_t *e;

		if (!json_is_object(en) || !json_is_integer(s) || json_integer_value(s) < 0)
			return atr__err(ATR_EINVALID, "%s[%zu] has no seq", name, i);
		if (json_integer_value(s) <= prev)
			return atr__err(ATR_ETAMPER, "%s[%zu] (seq %lld) is not after seq %lld",
			                name, i, (long long)json_integer_value(s), (long long)prev);
		prev = json_integer_value(s);
		if ((rc = atr__bundle_check_entry(en, (uint64_t)prev, cp, &payload)) < 0)
			return atr__err_prefix(rc, "%s seq %lld",
			                       name[0] == 'e' ? "event" : "policy record",
			                       (long long)prev);
		rec = json_string_value(json_object_get(en, "record"));
		if (!(e = parse_record(rec, json_string_length(json_object_get(en, "record")))))
			return atr__err(ATR_ETAMPER, "%s seq %lld: the record is not a JSON object",
			                name[0] == 'e' ? "event" : "policy record",
			                (long long)prev);
		if ((rc = recs_add(out, e)) < 0)
			return rc;
		if (payload)
			info->payloads++;
		else
			info->erased++;
	}
	return 0;
}

/* Each policy record: a policy_publish, cited, once, whose document hashes to its snapshot. */
static int check_policies(json_t *list, const struct recs *pols, const struct recs *recs)
{
	for (size_t i = 0; i < pols->n; i++) {
		json_t *en = json_array_get(list, i), *p = pols->v[i];
		const char *type = str(p, "type"), *snap = sub(p, "policy", "snapshot");
		const char *detail = str(en, "detail");
		long long seq = (long long)seq_of(p);
		int cited = 0;

		if (!type || strcmp(type, "policy_publish") != 0)
			return atr__err(
			    ATR_ETAMPER,
			    "policy record seq %lld is a '%s' event, not a policy_publish", seq,
			    type ? type : "untyped");
		if (!snap)
			return atr__err(ATR_ETAMPER,
			                "policy record seq %lld carries no policy.snapshot", seq);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(snap, sub(pols->v[k], "policy", "snapshot")))
				return atr__err(ATR_ETAMPER,
				                "policy records seq %lld and %lld both publish "
				                "snapshot '%s'",
				                (long long)seq_of(pols->v[k]), seq, snap);
		for (size_t k = 0; k < recs->n && !cited; k++) {
			const char *t = str(recs->v[k], "type"),
			           *s = sub(recs->v[k], "policy", "snapshot");

			cited = t && !strcmp(t, "decision") && s && !strcmp(s, snap);
		}
		if (!cited)
			return atr__err(ATR_ETAMPER,
			                "policy record seq %lld publishes snapshot '%s', which no "
			                "decision of the job cites",
			                seq, snap);
		if (detail &&
		    document_matches(detail, json_string_length(json_object_get(en, "detail")),
		                     snap) != 1)
			return atr__err(
			    ATR_ETAMPER,
			    "policy record seq %lld: the SHA-256 of its detail.document is "
			    "not its snapshot '%s'",
			    seq, snap);
	}
	return 0;
}

static int check_evidence(json_t *o, const atr_verifier *key, atr_evidence_info *info)
{
	json_t *events = json_object_get(o, "events"), *policies = json_object_get(o, "policies");
	json_t *summary = json_object_get(o, "summary"), *derived = NULL, *size;
	struct recs recs = {0}, pols = {0};
	const char *job_id, *note;
	char path[256] = "summary";
	int rc;

	if (!json_is_object(o) ||
	    json_integer_value(json_object_get(o, "agentrail_evidence")) != EVIDENCE_VERSION)
		return atr__err(ATR_EINVALID, "not an agentrail evidence bundle (version %d)",
		                EVIDENCE_VERSION);
	size = json_object_get(o, "tree_size");
	if (!(job_id = str(o, "job_id")) || !(note = str(o, "checkpoint")) ||
	    !json_is_integer(size) || !json_is_object(summary) || !json_is_array(events) ||
	    !json_is_array(policies))
		return atr__err(ATR_EINVALID,
		                "the bundle lacks one of job_id, checkpoint, tree_size, summary, "
		                "events, policies");
	/* The signature first: nothing else means anything without it. */
	rc = atr_checkpoint_open(note, json_string_length(json_object_get(o, "checkpoint")), key,
	                         &info->checkpoint);
	if (rc < 0)
		return rc == ATR_EINVALID ? rc : atr__err_prefix(ATR_ETAMPER, "checkpoint");
	if ((json_int_t)info->checkpoint.size != json_integer_value(size))
		return atr__err(
		    ATR_ETAMPER, "the bundle says tree size %lld but its checkpoint signs %llu",
		    (long long)json_integer_value(size), (unsigned long long)info->checkpoint.size);
	if ((rc = check_list(events, "events", &info->checkpoint, info, &recs)) < 0 ||
	    (rc = check_list(policies, "policies", &info->checkpoint, info, &pols)) < 0)
		goto done;
	for (size_t i = 0; i < recs.n; i++) {
		const char *j = str(recs.v[i], "job_id");

		if (!j || strcmp(j, job_id) != 0) {
			rc =
			    atr__err(ATR_ETAMPER,
			             "event seq %lld belongs to job '%s', not to the bundle's '%s'",
			             (long long)seq_of(recs.v[i]), j ? j : "(none)", job_id);
			goto done;
		}
	}
	if ((rc = check_policies(policies, &pols, &recs)) < 0)
		goto done;
	if (!(derived = derive(recs.v, recs.n, pols.v, pols.n))) {
		rc = oom();
		goto done;
	}
	if (differ(summary, derived, path, strlen(path), sizeof(path))) {
		rc = atr__err_prefix(ATR_ETAMPER, "the summary does not match the records");
		goto done;
	}
	info->events = recs.n;
	info->policies = pols.n;
done:
	json_decref(derived);
	recs_release(&recs);
	recs_release(&pols);
	return rc;
}

int atr_evidence_verify(const char *json, size_t len, const atr_verifier *key,
                        atr_evidence_info *out)
{
	atr_evidence_info info;
	json_t *o;
	int rc;

	memset(&info, 0, sizeof(info));
	if ((rc = atr__bundle_parse(json, len, &o)) != 0)
		return rc;
	rc = check_evidence(o, key, &info);
	json_decref(o);
	if (rc == 0 && out)
		*out = info;
	return rc;
}

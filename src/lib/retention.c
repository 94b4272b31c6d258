/*
 * Retention and erasure: the settings (policy "agentrail.retention", read
 * back from the log), pruning payloads and whole records by age, erasing the
 * payloads of one user or session, and the legal hold. Each removal is
 * described by an erasure event appended BEFORE anything is deleted, and a
 * run first finishes what the newest erasure event planned, so a crash
 * between the two steps leaves a log that explains more than is gone, never
 * less, and the next run completes it (docs/retention.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/checkpoint.h>
#include <agentrail/policy.h>
#include <agentrail/query.h>
#include <agentrail/record.h>
#include <agentrail/retention.h>

#include "internal.h"
#include "jscan.h"
#include "logpriv.h"

/* Seq ranges one erasure event lists at most: keeps it far below the 1 MiB event limit. */
#define MAX_RANGES 4096
/* Payloads deleted per store transaction. */
#define DELETE_CHUNK 8192

/* ---------------------------------------------------------------- durations */

int atr_duration_parse(const char *text, int64_t *seconds)
{
	static const struct {
		char unit;
		int64_t secs;
	} units[] = {{'h', 3600}, {'d', 86400}, {'w', 7 * 86400}, {'y', 365 * 86400}};
	const char *p = text;
	int64_t n = 0;

	if (!text || !*text)
		return atr__err(ATR_EINVALID, "a duration is empty: give N and a unit, e.g. '90d'");
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (INT64_MAX / 10))
			return atr__err(ATR_EINVALID, "duration '%s' is too long", text);
		n = n * 10 + (*p - '0');
	}
	if (p == text)
		return atr__err(ATR_EINVALID,
		                "duration '%s' does not start with a number: give N and a unit "
		                "h, d, w or y, e.g. '90d'",
		                text);
	if (n == 0)
		return atr__err(ATR_EINVALID, "duration '%s' is zero: keep at least one hour",
		                text);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (p[0] != units[i].unit || p[1] != '\0')
			continue;
		/* At most 1000 years: a bound the microsecond clock can subtract. */
		if (n > 1000 * 365 * 86400LL / units[i].secs)
			return atr__err(ATR_EINVALID, "duration '%s' is longer than 1000 years",
			                text);
		*seconds = n * units[i].secs;
		return 0;
	}
	return atr__err(ATR_EINVALID,
	                "duration '%s' has no valid unit: use h (hours), d (days), w (weeks) or "
	                "y (365 days), e.g. '90d'",
	                text);
}

/* ---------------------------------------------------------------- settings */

/* A record's string field compared with 'want' (escapes decoded). */
static int field_is(const char *rec, size_t len, const char *key, const char *want)
{
	const char *v;
	size_t n;
	json_t *j;
	int eq;

	if (atr__json_member(rec, len, key, &v, &n) != 0 || n < 2 || v[0] != '"')
		return 0;
	if (!memchr(v, '\\', n))
		return n - 2 == strlen(want) && memcmp(v + 1, want, n - 2) == 0;
	j = json_loadb(v, n, JSON_DECODE_ANY, NULL);
	eq = json_is_string(j) && strcmp(json_string_value(j), want) == 0;
	json_decref(j);
	return eq;
}

/*
 * The newest event of 'type' whose target is 'name' (and, when 'snapshot'
 * is set, whose policy.snapshot is it): '*rec' is the caller's, NULL when
 * there is none.
 */
static int newest_policy_event(atr_log *log, const char *type, const char *name,
                               const char *snapshot, atr_record **rec)
{
	atr_query q = {0};
	atr_cursor *cur;
	const atr_record *r;
	int rc;

	*rec = NULL;
	q.type = type;
	q.target_prefix = name;
	q.descending = 1;
	if ((rc = atr_log_query(log, &q, &cur)) < 0)
		return rc;
	while ((rc = atr_cursor_next(cur, &r)) > 0) {
		const char *t = atr_record_str(r, "target"), *s;

		if (!t || strcmp(t, name) != 0)
			continue;
		s = atr_record_str(r, "policy.snapshot");
		if (snapshot && (!s || strcmp(s, snapshot) != 0))
			continue;
		rc = atr_log_get(log, atr_record_seq(r), rec);
		break;
	}
	atr_cursor_free(cur);
	return rc < 0 ? rc : 0;
}

/* A duration member of the document: a valid duration string, or null. */
static int doc_duration(json_t *doc, const char *key, char out[24])
{
	json_t *v = json_object_get(doc, key);
	int64_t secs;

	out[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= 24 ||
	    atr_duration_parse(json_string_value(v), &secs) < 0)
		return atr__err(ATR_EINVALID, "the retention document's '%s' is not a duration",
		                key);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* Fill 'out' from the document text of a policy_publish event. */
static int parse_document(const atr_record *pub, atr_retention *out)
{
	const char *detail = atr_record_detail(pub, NULL);
	const char *snap = atr_record_str(pub, "policy.snapshot");
	json_t *d, *doc = NULL, *hold;
	const char *text;
	uint8_t h[32];
	char hex[65];
	int rc = 0;

	if (!detail)
		return atr__err(ATR_EERASED,
		                "the retention settings' text (record %llu) was erased: set them "
		                "again with 'agentrail retention set'",
		                (unsigned long long)atr_record_seq(pub));
	d = json_loads(detail, 0, NULL);
	text = json_string_value(json_object_get(d, "document"));
	if (!text) {
		rc = atr__err(ATR_EINVALID, "record %llu has no policy document",
		              (unsigned long long)atr_record_seq(pub));
		goto done;
	}
	atr__sha256(h, text, strlen(text), NULL, 0, NULL, 0);
	atr__hex(hex, h, 32);
	if (!snap || strncmp(snap, "sha256:", 7) != 0 || strcmp(snap + 7, hex) != 0) {
		rc = atr__err(ATR_ETAMPER,
		              "the retention document of record %llu does not hash to its snapshot",
		              (unsigned long long)atr_record_seq(pub));
		goto done;
	}
	doc = json_loads(text, 0, NULL);
	hold = json_object_get(doc, "legal_hold");
	if (!json_is_object(doc) || !json_is_boolean(hold)) {
		rc = atr__err(ATR_EINVALID,
		              "the retention document of record %llu is not "
		              "{\"legal_hold\":true|false,\"payloads\":…,\"records\":…}",
		              (unsigned long long)atr_record_seq(pub));
		goto done;
	}
	if ((rc = doc_duration(doc, "payloads", out->payloads)) < 0 ||
	    (rc = doc_duration(doc, "records", out->records)) < 0)
		goto done;
	out->legal_hold = json_is_true(hold);
done:
	json_decref(doc);
	json_decref(d);
	return rc;
}

int atr_retention_get(atr_log *log, atr_retention *out)
{
	atr_record *pub = NULL, *rb = NULL, *text = NULL;
	const atr_record *cur;
	const char *snap;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = newest_policy_event(log, "policy_publish", ATR_RETENTION_POLICY, NULL, &pub)) <
	        0 ||
	    (rc = newest_policy_event(log, "policy_rollback", ATR_RETENTION_POLICY, NULL, &rb)) < 0)
		goto done;
	cur = rb && (!pub || atr_record_seq(rb) > atr_record_seq(pub)) ? rb : pub;
	if (!cur)
		goto done; /* never set */
	snap = atr_record_str(cur, "policy.snapshot");
	if (!snap || strlen(snap) >= sizeof(out->snapshot)) {
		rc = atr__err(ATR_EINVALID, "record %llu has no policy snapshot",
		              (unsigned long long)atr_record_seq(cur));
		goto done;
	}
	if (cur == rb) {
		rc = newest_policy_event(log, "policy_publish", ATR_RETENTION_POLICY, snap, &text);
		if (rc == 0 && !text)
			rc = atr__err(
			    ATR_ENOTFOUND,
			    "the retention rollback at record %llu names snapshot %s, which "
			    "no publication in the log carries",
			    (unsigned long long)atr_record_seq(cur), snap);
		if (rc < 0)
			goto done;
	}
	if ((rc = parse_document(cur == rb ? text : pub, out)) < 0)
		goto done;
	out->set = 1;
	out->seq = atr_record_seq(cur);
	snprintf(out->snapshot, sizeof(out->snapshot), "%s", snap);
done:
	atr_record_free(pub);
	atr_record_free(rb);
	atr_record_free(text);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

/*
 * Publish a retention document as the policy's new version through the
 * policy library. 'doc' is already canonical JSON (three keys in order, no
 * whitespace), so the stored text is exactly it.
 */
static int publish_document(atr_log *log, const char *doc, const char *actor, const char *reason)
{
	char *answer = NULL;
	int rc = atr_policy_publish(log, ATR_RETENTION_POLICY, doc, ATR_POLICY_JSON, actor, reason,
	                            &answer);

	atr_free(answer);
	return rc;
}

/* A duration option: NULL keeps 'cur', "none" clears, else it must parse. */
static int take_duration(const char *opt, const char *val, const char *cur, json_t **out)
{
	int64_t secs;
	int rc;

	if (!val) {
		*out = *cur ? json_string(cur) : json_null();
		return 0;
	}
	if (!strcmp(val, "none")) {
		*out = json_null();
		return 0;
	}
	if ((rc = atr_duration_parse(val, &secs)) < 0)
		return atr__err_prefix(rc, "%s", opt);
	if (strlen(val) >= 24)
		return atr__err(ATR_EINVALID, "%s: duration '%s' is too long", opt, val);
	*out = json_string(val);
	return 0;
}

int atr_retention_set(atr_log *log, const char *payloads, const char *records, int legal_hold,
                      const char *actor, const char *reason, atr_retention *out, int *changed)
{
	atr_retention cur;
	json_t *p = NULL, *r = NULL, *doc;
	char *text = NULL;
	char snap[72], hex[65];
	uint8_t h[32];
	int rc;

	if (changed)
		*changed = 0;
	if (!actor || !*actor)
		return atr__err(ATR_EINVALID, "an actor is required to change retention settings");
	if ((rc = atr_retention_get(log, &cur)) < 0 && rc != ATR_EERASED && rc != ATR_EINVALID)
		return rc;
	if (rc < 0)
		memset(&cur, 0, sizeof(cur)); /* unreadable settings are replaced whole */
	if ((rc = take_duration("payloads", payloads, cur.payloads, &p)) < 0 ||
	    (rc = take_duration("records", records, cur.records, &r)) < 0) {
		json_decref(p);
		return rc;
	}
	/* Keys in sorted order and no whitespace: the canonical form of the document. */
	doc = json_pack("{s:b, s:o, s:o}", "legal_hold",
	                legal_hold < 0 ? cur.legal_hold : legal_hold != 0, "payloads", p, "records",
	                r);
	text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	if (!text)
		return atr__err(ATR_ENOMEM, "out of memory");
	atr__sha256(h, text, strlen(text), NULL, 0, NULL, 0);
	atr__hex(hex, h, 32);
	snprintf(snap, sizeof(snap), "sha256:%s", hex);
	if (!cur.set || strcmp(cur.snapshot, snap) != 0) {
		if ((rc = publish_document(log, text, actor, reason)) < 0)
			goto done;
		if (changed)
			*changed = 1;
	}
	rc = out ? atr_retention_get(log, out) : 0;
done:
	free(text);
	return rc;
}

int atr_log_pruned_below(atr_log *log, uint64_t *below)
{
	*below = 0;
	if (log->st->version < 3 || !log->st->pruned_below)
		return 0;
	return log->st->pruned_below(log->st, below);
}

/* ---------------------------------------------------------------- plans */

/* Seqs to erase, ascending. */
struct seqs {
	uint64_t *v;
	size_t n, cap;
};

static int seqs_add(struct seqs *s, uint64_t seq)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		uint64_t *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return atr__err(ATR_ENOMEM, "out of memory");
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = seq;
	return 0;
}

/* How many ranges of consecutive seqs 'v[0..n)' forms. */
static uint64_t count_ranges(const uint64_t *v, size_t n)
{
	uint64_t r = 0;

	for (size_t i = 0; i < n; i++)
		if (i == 0 || v[i] != v[i - 1] + 1)
			r++;
	return r;
}

/* The ranges of 'v[0..n)' as [[a,b],...] (inclusive). */
static json_t *ranges_json(const uint64_t *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n;) {
		size_t j = i;

		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (json_array_append_new(
		        a, json_pack("[I, I]", (json_int_t)v[i], (json_int_t)v[j])) != 0) {
			json_decref(a);
			return NULL;
		}
		i = j + 1;
	}
	return a;
}

/* How many seqs of 'v[from..n)' fit in one event: at most MAX_RANGES ranges. */
static size_t chunk_end(const uint64_t *v, size_t from, size_t n)
{
	uint64_t r = 0;
	size_t i;

	for (i = from; i < n; i++) {
		if (i == from || v[i] != v[i - 1] + 1)
			r++;
		if (r > MAX_RANGES)
			break;
	}
	return i;
}

static int delete_payloads(atr_log *log, const uint64_t *v, size_t n, uint64_t *deleted)
{
	uint64_t d;
	int rc;

	*deleted = 0;
	for (size_t i = 0; i < n; i += DELETE_CHUNK) {
		size_t k = n - i < DELETE_CHUNK ? n - i : DELETE_CHUNK;

		if ((rc = log->st->delete_payloads(log->st, v + i, k, &d)) < 0)
			return rc;
		*deleted += d;
	}
	return 0;
}

/* Append one erasure event; '*seq' is its seq. */
static int append_erasure(atr_log *log, const char *actor, const char *target, const char *reason,
                          json_t *detail, uint64_t *seq)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:O}", "type", "erasure", "actor", actor,
	                       "target", target, "reason", reason, "detail", detail);
	atr_append_result res;
	char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	int rc;

	json_decref(ev);
	if (!text)
		return atr__err(ATR_ENOMEM, "out of memory");
	rc = atr_log_append(log, text, strlen(text), &res);
	free(text);
	if (rc == 0)
		*seq = res.seq;
	return rc;
}

/*
 * Finish the newest erasure event's plan: delete what it lists that is still
 * there (a run that crashed after appending it). Nothing to do is the usual
 * case. '*done' counts what was removed now.
 */
static int resume(atr_log *log, uint64_t *done)
{
	atr_query q = {.type = "erasure", .descending = 1, .limit = 1};
	atr_cursor *cur;
	const atr_record *r;
	const char *detail;
	json_t *d = NULL, *ranges, *below, *rg;
	struct seqs s = {0};
	uint64_t deleted, have;
	size_t i;
	int rc;

	*done = 0;
	if ((rc = atr_log_query(log, &q, &cur)) < 0)
		return rc;
	rc = atr_cursor_next(cur, &r);
	if (rc > 0 && (detail = atr_record_detail(r, NULL)) != NULL)
		d = json_loads(detail, 0, NULL);
	atr_cursor_free(cur);
	if (rc < 0 || !d)
		return rc < 0 ? rc : 0;
	ranges = json_object_get(json_object_get(d, "payloads"), "ranges");
	json_array_foreach(ranges, i, rg)
	{
		json_int_t a = json_integer_value(json_array_get(rg, 0));
		json_int_t b = json_integer_value(json_array_get(rg, 1));

		for (json_int_t x = a; x >= 0 && x <= b && rc >= 0; x++)
			rc = seqs_add(&s, (uint64_t)x);
	}
	if (rc >= 0)
		rc = delete_payloads(log, s.v, s.n, &deleted);
	if (rc >= 0)
		*done += deleted;
	below = json_object_get(json_object_get(d, "records"), "below");
	if (rc >= 0 && json_is_integer(below) && json_integer_value(below) > 0 &&
	    (rc = atr_log_pruned_below(log, &have)) == 0 &&
	    (uint64_t)json_integer_value(below) > have) {
		rc = log->st->prune_records(log->st, (uint64_t)json_integer_value(below), &deleted);
		if (rc == 0)
			*done += deleted;
	}
	free(s.v);
	json_decref(d);
	return rc < 0 ? rc : 0;
}

static int refuse_hold(const atr_retention *set, const char *what)
{
	return atr__err(ATR_ECONFLICT,
	                "legal hold is on (policy %s, record %llu): nothing is %s until "
	                "'agentrail retention set --legal-hold off'",
	                ATR_RETENTION_POLICY, (unsigned long long)set->seq, what);
}

/*
 * Carry out a plan: for each part of at most MAX_RANGES ranges, append its
 * erasure event, then delete its payloads; the last part also carries the
 * records below 'below' (when above 'from'), pruned after its payloads.
 * 'base' is the detail every part shares.
 */
static int carry_out(atr_log *log, const struct seqs *s, uint64_t from, uint64_t below,
                     json_t *base, json_t *records, const char *actor, const char *target,
                     const char *reason, atr_erasure_result *out)
{
	size_t parts = 0, i, j;
	int rc = 0;

	for (i = 0; i < s->n; i = chunk_end(s->v, i, s->n))
		parts++;
	if (parts == 0)
		parts = 1; /* records only */
	for (i = 0, j = 0; j < parts; j++) {
		size_t end = s->n ? chunk_end(s->v, i, s->n) : 0;
		int last = j + 1 == parts;
		json_t *d = json_deep_copy(base), *pl = NULL;
		uint64_t seq = 0, deleted;

		if (!d)
			return atr__err(ATR_ENOMEM, "out of memory");
		if (end > i) {
			pl = json_pack("{s:I, s:o}", "count", (json_int_t)(end - i), "ranges",
			               ranges_json(s->v + i, end - i));
			json_object_set_new(d, "payloads", pl ? pl : json_null());
		}
		if (last && below > from && records)
			json_object_set(d, "records", records);
		if (parts > 1)
			json_object_set_new(
			    d, "part", json_pack("[I, I]", (json_int_t)j + 1, (json_int_t)parts));
		rc = append_erasure(log, actor, target, reason, d, &seq);
		json_decref(d);
		if (rc < 0)
			return rc;
		if (out->events++ == 0)
			out->first_event = seq;
		if ((rc = delete_payloads(log, s->v + i, end - i, &deleted)) < 0)
			return rc;
		out->payloads += deleted;
		if (last && below > from) {
			if ((rc = log->st->prune_records(log->st, below, &deleted)) < 0)
				return rc;
			out->records += deleted;
			out->below = below;
		}
		i = end;
	}
	return 0;
}

/* Start a removal: settings, legal hold, the interrupted run. */
static int begin_removal(atr_log *log, unsigned flags, const char *actor, atr_retention *set,
                         atr_erasure_result *out, const char *what)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->limit = "";
	if (!actor || !*actor)
		return atr__err(ATR_EINVALID, "an actor is required");
	if ((rc = atr_retention_get(log, set)) < 0)
		return atr__err_prefix(rc, "cannot read the retention settings");
	if (set->legal_hold)
		return refuse_hold(set, what);
	if ((rc = atr_log_pruned_below(log, &out->below)) < 0)
		return rc;
	if (!(flags & ATR_PRUNE_DRY_RUN)) {
		if ((rc = resume(log, &out->resumed)) < 0)
			return atr__err_prefix(rc, "cannot finish the interrupted run");
		if ((rc = atr_log_pruned_below(log, &out->below)) < 0)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------- prune */

static int exempt_type(const char *t, size_t n)
{
	static const char *const keep[] = {"policy_publish", "token_change", "erasure"};

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (strlen(keep[i]) == n && !memcmp(keep[i], t, n))
			return 1;
	return 0;
}

/* The ts of a record in microseconds; INT64_MAX with no valid ts (never older than a cutoff). */
static int64_t record_ts(const char *rec, size_t len)
{
	const char *v;
	size_t n;
	char buf[64];
	int64_t us;

	if (atr__json_member_str(rec, len, "ts", &v, &n) != 0 || n >= sizeof(buf))
		return INT64_MAX;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return atr_time_parse(buf, &us) == 0 ? us : INT64_MAX;
}

/*
 * Every policy in force: the event that put it in force and the newest
 * publication holding its text. Records pruning must not lose either, so
 * those below the new prefix are carried forward first (carry_policies).
 */
struct pol {
	char *name;
	char *snap;
	uint64_t seq;     /* the event in force */
	uint64_t text_at; /* the newest publication of 'snap' under 'name', or UINT64_MAX */
};

static void pols_free(struct pol *ps, size_t np)
{
	for (size_t k = 0; k < np; k++) {
		free(ps[k].name);
		free(ps[k].snap);
	}
	free(ps);
}

static int policies_in_force(atr_log *log, struct pol **out, size_t *out_n)
{
	static const char *const types[] = {"policy_publish", "policy_rollback"};
	struct pol *ps = NULL;
	size_t np = 0, cap = 0;
	int rc = 0;

	/* Pass 1: which snapshot each policy has in force; pass 2: where its text is. */
	for (int pass = 0; pass < 2 && rc >= 0; pass++) {
		for (int t = 0; t < (pass ? 1 : 2) && rc >= 0; t++) {
			atr_query q = {.type = types[t]};
			atr_cursor *cur;
			const atr_record *r;

			if ((rc = atr_log_query(log, &q, &cur)) < 0)
				break;
			while ((rc = atr_cursor_next(cur, &r)) > 0) {
				const char *nm = atr_record_str(r, "target");
				const char *sn = atr_record_str(r, "policy.snapshot");
				uint64_t seq = atr_record_seq(r);
				size_t k;

				if (!nm || !sn)
					continue;
				for (k = 0; k < np && strcmp(ps[k].name, nm) != 0; k++)
					;
				if (pass == 1) {
					if (k < np && !strcmp(ps[k].snap, sn) && seq <= ps[k].seq &&
					    (ps[k].text_at == UINT64_MAX || seq > ps[k].text_at))
						ps[k].text_at = seq;
					continue;
				}
				if (k == np) {
					if (np == cap) {
						size_t c = cap ? 2 * cap : 16;
						struct pol *n2 = realloc(ps, c * sizeof(*n2));

						if (!n2) {
							rc = atr__err(ATR_ENOMEM, "out of memory");
							break;
						}
						ps = n2;
						cap = c;
					}
					ps[np].name = strdup(nm);
					ps[np].snap = NULL;
					ps[np].seq = 0;
					ps[np].text_at = UINT64_MAX;
					if (!ps[np++].name) {
						rc = atr__err(ATR_ENOMEM, "out of memory");
						break;
					}
				}
				if (!ps[k].snap || seq > ps[k].seq) {
					free(ps[k].snap);
					ps[k].snap = strdup(sn);
					ps[k].seq = seq;
					if (!ps[k].snap) {
						rc = atr__err(ATR_ENOMEM, "out of memory");
						break;
					}
				}
			}
			atr_cursor_free(cur);
		}
	}
	if (rc < 0) {
		pols_free(ps, np);
		return rc;
	}
	*out = ps;
	*out_n = np;
	return 0;
}

/*
 * Publish again, unchanged, the text of a policy in force whose events lie
 * below 'below': the same detail (name, document, media type) and snapshot,
 * so the policy stays in force and its text provable after the pruning.
 * 1 when its text is gone (erased): it cannot be carried and bounds pruning.
 */
static int carry_one(atr_log *log, const struct pol *p, uint64_t below, const char *actor)
{
	atr_record *rec = NULL;
	const char *detail;
	json_t *d, *ev;
	char reason[400];
	char *text;
	int rc;

	if (p->text_at == UINT64_MAX)
		return 1;
	if ((rc = atr_log_get(log, p->text_at, &rec)) < 0)
		return rc;
	if (!(detail = atr_record_detail(rec, NULL))) {
		atr_record_free(rec);
		return 1;
	}
	d = json_loads(detail, 0, NULL);
	atr_record_free(rec);
	snprintf(reason, sizeof(reason),
	         "carried forward unchanged: records below %llu are pruned (published at record "
	         "%llu)",
	         (unsigned long long)below, (unsigned long long)p->text_at);
	ev = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o}", "type", "policy_publish", "actor",
	               actor, "target", p->name, "reason", reason, "policy", "rule_id", p->name,
	               "snapshot", p->snap, "detail", d);
	text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!text)
		return atr__err(ATR_ENOMEM, "out of memory");
	rc = atr_log_append(log, text, strlen(text), NULL);
	free(text);
	return rc;
}

/*
 * Keep every policy in force across records pruning below '*below': carry
 * forward those whose events lie below it (none on a dry run, where they
 * are only counted). A policy whose text is gone bounds '*below' instead.
 */
static int carry_policies(atr_log *log, uint64_t *below, int dry_run, const char *actor,
                          atr_erasure_result *out)
{
	struct pol *ps = NULL;
	size_t np = 0;
	int rc;

	if ((rc = policies_in_force(log, &ps, &np)) < 0)
		return rc;
	for (size_t k = 0; k < np && rc >= 0; k++) {
		uint64_t at = ps[k].text_at < ps[k].seq ? ps[k].text_at : ps[k].seq;

		if (at >= *below)
			continue;
		if (dry_run) {
			out->carried++;
			continue;
		}
		if ((rc = carry_one(log, &ps[k], *below, actor)) == 1) {
			*below = ps[k].seq / ATR_TILE_WIDTH * ATR_TILE_WIDTH;
			if (ps[k].text_at != UINT64_MAX && ps[k].text_at < ps[k].seq)
				*below = ps[k].text_at / ATR_TILE_WIDTH * ATR_TILE_WIDTH;
			snprintf(out->limit_buf, sizeof(out->limit_buf),
			         "the text of policy '%.120s' in force is erased: records from its "
			         "publication on are kept",
			         ps[k].name);
			rc = 0;
		} else if (rc == 0) {
			out->carried++;
		}
	}
	pols_free(ps, np);
	return rc;
}

/* The size of the largest stored checkpoint, if it holds for the log; 0 when there is none. */
static int checkpoint_cover(atr_log *log, uint64_t *size)
{
	atr_checkpoint cp;
	atr_hash root;
	char *note = NULL;
	size_t len;
	int rc;

	*size = 0;
	rc = log->st->get_checkpoint(log->st, UINT64_MAX, &note, &len);
	if (rc == ATR_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	if ((rc = atr_checkpoint_parse(note, len, &cp)) == 0 &&
	    (rc = atr_log_root(log, cp.size, &root)) == 0) {
		if (memcmp(root.b, cp.root.b, 32) != 0)
			rc = atr__err(
			    ATR_ETAMPER,
			    "the newest stored checkpoint (size %llu) does not hold for the "
			    "log: run 'agentrail verify'; nothing is pruned",
			    (unsigned long long)cp.size);
		else
			*size = cp.size;
	}
	free(note);
	return rc;
}

/* Where records pruning may go: 'first_young' is the first record not older than the cutoff. */
static int records_limit(atr_log *log, uint64_t first_young, uint64_t from, atr_erasure_result *out,
                         uint64_t *below)
{
	uint64_t cover;
	int rc;

	*below = first_young / ATR_TILE_WIDTH * ATR_TILE_WIDTH;
	snprintf(out->limit_buf, sizeof(out->limit_buf),
	         "record %llu is the first not older than the records retention",
	         (unsigned long long)first_young);
	if ((rc = checkpoint_cover(log, &cover)) < 0)
		return rc;
	if (cover / ATR_TILE_WIDTH * ATR_TILE_WIDTH < *below) {
		*below = cover / ATR_TILE_WIDTH * ATR_TILE_WIDTH;
		snprintf(out->limit_buf, sizeof(out->limit_buf),
		         cover ? "the newest signed checkpoint stored with the log covers %llu "
		                 "records ('agentrail checkpoint --key FILE' signs a newer one)"
		               : "no signed checkpoint is stored with the log%.0llu ('agentrail "
		                 "checkpoint --key FILE' signs one)",
		         (unsigned long long)cover);
	}
	if (*below < from)
		*below = from;
	out->limit = out->limit_buf;
	return 0;
}

int atr_log_prune(atr_log *log, unsigned flags, int64_t now_us, const char *actor,
                  const char *reason, atr_erasure_result *out)
{
	atr_retention set;
	atr_store *st = log->st;
	atr_store_cursor *cur = NULL;
	atr_store_row row;
	atr_query q = {0};
	struct seqs s = {0};
	int64_t pay_secs = 0, rec_secs = 0, pay_cut = 0, rec_cut = 0;
	uint64_t size, from, below, first_young;
	char ts[2][28], why[512], target[32];
	json_t *base = NULL, *records = NULL;
	int rc;

	if ((rc = begin_removal(log, flags, actor, &set, out, "pruned")) < 0)
		return rc;
	from = out->below;
	if (!now_us)
		now_us = atr__now_us();
	if (set.payloads[0] && (rc = atr_duration_parse(set.payloads, &pay_secs)) < 0)
		return rc;
	if ((flags & ATR_PRUNE_RECORDS) && !set.records[0])
		return atr__err(ATR_EINVALID,
		                "no records retention is set: 'agentrail retention set "
		                "--records DURATION' first");
	if (set.records[0] && (rc = atr_duration_parse(set.records, &rec_secs)) < 0)
		return rc;
	pay_cut = now_us - pay_secs * 1000000;
	rec_cut = now_us - rec_secs * 1000000;
	if ((rc = st->size(st, &size)) < 0)
		return rc;
	first_young = size;
	q.seq_from = from;
	q.seq_to = size;
	if (size > from && (set.payloads[0] || (flags & ATR_PRUNE_RECORDS)) &&
	    (rc = st->query_open(st, &q, &cur)) < 0)
		return rc;
	while (cur && (rc = st->query_next(cur, &row)) > 0) {
		int64_t t = record_ts(row.record, row.record_len);
		const char *type;
		size_t tlen;

		if ((flags & ATR_PRUNE_RECORDS) && first_young == size && t >= rec_cut)
			first_young = row.seq;
		if (!set.payloads[0] || !row.detail || t >= pay_cut)
			continue;
		if (atr__json_member_str(row.record, row.record_len, "type", &type, &tlen) == 0 &&
		    exempt_type(type, tlen))
			continue;
		if ((rc = seqs_add(&s, row.seq)) < 0)
			break;
	}
	if (cur)
		st->query_close(cur);
	if (rc < 0)
		goto done;
	below = from;
	if ((flags & ATR_PRUNE_RECORDS) &&
	    (rc = records_limit(log, first_young, from, out, &below)) < 0)
		goto done;
	if (below > from &&
	    (rc = carry_policies(log, &below, (flags & ATR_PRUNE_DRY_RUN) != 0, actor, out)) < 0)
		goto done;
	if (below < from)
		below = from;
	/* Payloads below the new prefix go with their records. */
	{
		size_t k = 0;

		while (k < s.n && s.v[k] < below)
			k++;
		if (k > 0)
			memmove(s.v, s.v + k, (s.n - k) * sizeof(*s.v));
		s.n -= k;
	}
	out->ranges = count_ranges(s.v, s.n);
	if (flags & ATR_PRUNE_DRY_RUN) {
		out->payloads = s.n;
		out->records = below - from;
		out->below = below;
		goto done;
	}
	if (s.n == 0 && below <= from)
		goto done; /* nothing to remove: nothing appended */
	atr_time_format(pay_cut, ts[0]);
	atr_time_format(rec_cut, ts[1]);
	snprintf(target, sizeof(target), "%s%s%s", s.n ? "payloads" : "",
	         s.n && below > from ? "," : "", below > from ? "records" : "");
	if (!reason || !*reason) {
		snprintf(why, sizeof(why), "retention (policy %s %s):%s%s%s%s%s",
		         ATR_RETENTION_POLICY, set.snapshot, s.n ? " payloads older than " : "",
		         s.n ? set.payloads : "", s.n && below > from ? "," : "",
		         below > from ? " records older than " : "",
		         below > from ? set.records : "");
		reason = why;
	}
	base = json_pack("{s:s, s:s}", "kind", "prune", "retention_snapshot", set.snapshot);
	records =
	    json_pack("{s:I, s:I, s:I, s:s}", "from", (json_int_t)from, "below", (json_int_t)below,
	              "count", (json_int_t)(below - from), "before", ts[1]);
	if (!base || !records) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto done;
	}
	if (s.n)
		json_object_set_new(base, "payloads_before", json_string(ts[0]));
	rc = carry_out(log, &s, from, below, base, records, actor, target, reason, out);
done:
	json_decref(base);
	json_decref(records);
	free(s.v);
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- erase */

int atr_log_erase(atr_log *log, const char *user_id, const char *session_id, unsigned flags,
                  const char *actor, const char *reason, atr_erasure_result *out)
{
	atr_retention set;
	atr_store *st = log->st;
	atr_store_cursor *cur = NULL;
	atr_store_row row;
	atr_query q = {0};
	struct seqs s = {0};
	uint64_t size;
	char target[300];
	json_t *base = NULL;
	int rc;

	if (!user_id == !session_id)
		return atr__err(ATR_EINVALID,
		                "erase needs exactly one of a user id and a session id");
	if (!*(user_id ? user_id : session_id))
		return atr__err(ATR_EINVALID, "the %s to erase is empty",
		                user_id ? "user id" : "session id");
	if (flags & ~(unsigned)ATR_PRUNE_DRY_RUN)
		return atr__err(ATR_EINVALID, "erase takes no flag but a dry run");
	if (!reason || !*reason)
		return atr__err(ATR_EINVALID, "an erasure needs a reason");
	if ((rc = begin_removal(log, flags, actor, &set, out, "erased")) < 0)
		return rc;
	if ((rc = st->size(st, &size)) < 0)
		return rc;
	q.seq_from = out->below;
	q.seq_to = size;
	q.session_id = session_id; /* indexed; user_id is not, so that is a scan */
	if (size > out->below && (rc = st->query_open(st, &q, &cur)) < 0)
		return rc;
	while (cur && (rc = st->query_next(cur, &row)) > 0) {
		if (!row.detail)
			continue;
		if (user_id && !field_is(row.record, row.record_len, "user_id", user_id))
			continue;
		if ((rc = seqs_add(&s, row.seq)) < 0)
			break;
	}
	if (cur)
		st->query_close(cur);
	if (rc < 0)
		goto done;
	out->ranges = count_ranges(s.v, s.n);
	if ((flags & ATR_PRUNE_DRY_RUN) || s.n == 0) {
		if (flags & ATR_PRUNE_DRY_RUN)
			out->payloads = s.n;
		goto done;
	}
	snprintf(target, sizeof(target), "%s:%.256s", user_id ? "user" : "session",
	         user_id ? user_id : session_id);
	base = json_pack("{s:s, s:s}", "kind", "erase", user_id ? "user_id" : "session_id",
	                 user_id ? user_id : session_id);
	if (!base) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto done;
	}
	rc = carry_out(log, &s, 0, 0, base, NULL, actor, target, reason, out);
done:
	json_decref(base);
	free(s.v);
	return rc < 0 ? rc : 0;
}

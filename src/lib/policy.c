/*
 * Policies: named, versioned documents whose text lives in policy_publish
 * events, and rollbacks as policy_rollback events. Nothing is stored apart
 * from the log: every answer folds the two event types, read through their
 * type index in seq order, so it costs the number of policy events, never
 * the size of the log.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/policy.h>
#include <agentrail/query.h>
#include <agentrail/record.h>

#include "event.h"
#include "internal.h"
#include "logpriv.h"
#include "redactpriv.h"

#define PUBLISH  "policy_publish"
#define ROLLBACK "policy_rollback"

static int oom(void)
{
	return atr__err(ATR_ENOMEM, "out of memory");
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static int dump(json_t *v, char **out)
{
	*out = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(v);
	return *out ? 0 : oom();
}

/* ------------------------------------------------------- names, snapshots */

int atr_policy_name_check(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0)
		return atr__err(ATR_EINVALID, "a policy name is required");
	if (n > ATR_POLICY_NAME_MAX)
		return atr__err(ATR_EINVALID, "policy name is %zu bytes; the limit is %d", n,
		                ATR_POLICY_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-')
			continue;
		if (c < 0x20 || c >= 0x7f)
			return atr__err(ATR_EINVALID,
			                "policy name has byte 0x%02x at %zu; a name is letters, "
			                "digits, '.', '_' and '-'",
			                c, i);
		return atr__err(ATR_EINVALID,
		                "policy name has '%c' at %zu; a name is letters, digits, '.', '_' "
		                "and '-'",
		                c, i);
	}
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return atr__err(ATR_EINVALID, "policy name '%s' is reserved", name);
	return 0;
}

void atr_policy_snapshot_of(const char *text, size_t len, char out[ATR_POLICY_SNAPSHOT_SIZE])
{
	uint8_t h[32];

	atr__sha256(h, text, len, NULL, 0, NULL, 0);
	memcpy(out, "sha256:", 7);
	atr__hex(out + 7, h, sizeof(h));
}

/*
 * The canonical form of JSON text 'doc' (an object or an array), exactly as
 * the log writes a detail: the event parser canonicalizes a wrapper event
 * holding it, and the value is cut out of its detail. '*out' is malloc'd.
 */
static int canonical_json(const char *doc, char **out)
{
	static const char pre[] =
	    "{\"type\":\"x_policy_canon\",\"level\":\"agent\",\"actor\":\"-\","
	    "\"detail\":{\"v\":";
	struct atr__event ev;
	json_error_t jerr;
	json_t *v;
	char *wrapped;
	size_t n = strlen(doc), plen = sizeof(pre) - 1;
	int rc;

	*out = NULL;
	/* A whole, single value: only then is it safe to splice into the wrapper. */
	v = json_loads(doc, JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		return atr__err(
		    ATR_EINVALID,
		    "the document is not valid JSON (an object or an array): %s at line "
		    "%d column %d",
		    jerr.text, jerr.line, jerr.column);
	json_decref(v);
	if (!(wrapped = malloc(plen + n + 3)))
		return oom();
	memcpy(wrapped, pre, plen);
	memcpy(wrapped + plen, doc, n);
	memcpy(wrapped + plen + n, "}}", 3);
	rc = atr__event_prepare(&ev, wrapped, plen + n + 2, 0);
	free(wrapped);
	if (rc != 0)
		return atr__err_prefix(rc, "the document of %zu bytes cannot be logged", n);
	/* ev.detail is {"v":<canonical>}. */
	if (ev.detail_len < 6 || memcmp(ev.detail, "{\"v\":", 5) != 0) {
		atr__event_release(&ev);
		return atr__err(ATR_EINVALID, "the document did not canonicalize");
	}
	if ((*out = malloc(ev.detail_len - 5)) != NULL) {
		memcpy(*out, ev.detail + 5, ev.detail_len - 6);
		(*out)[ev.detail_len - 6] = '\0';
	}
	atr__event_release(&ev);
	return *out ? 0 : oom();
}

/* ------------------------------------------------------- reading the events */

/* The next record of 'cur' into '*rec' (NULL at the end); 0 or an error. */
static int step(atr_cursor *cur, const atr_record **rec)
{
	int rc = atr_cursor_next(cur, rec);

	if (rc != 1)
		*rec = NULL;
	return rc < 0 ? rc : 0;
}

/*
 * Call 'fn' on every policy_publish and policy_rollback record in seq order
 * (the two type indexes, merged); 'publish' says which. 'fn' answers 0 to
 * go on, <0 to stop with that status.
 */
static int each_event(atr_log *log, int (*fn)(void *ctx, const atr_record *rec, int publish),
                      void *ctx)
{
	atr_query qp = {.type = PUBLISH}, qr = {.type = ROLLBACK};
	atr_cursor *cp = NULL, *cr = NULL;
	const atr_record *rp = NULL, *rr = NULL;
	int rc;

	if ((rc = atr_log_query(log, &qp, &cp)) < 0 || (rc = atr_log_query(log, &qr, &cr)) < 0 ||
	    (rc = step(cp, &rp)) < 0 || (rc = step(cr, &rr)) < 0)
		goto out;
	while (rp || rr) {
		int pub = rp && (!rr || atr_record_seq(rp) < atr_record_seq(rr));

		if ((rc = fn(ctx, pub ? rp : rr, pub)) < 0 ||
		    (rc = pub ? step(cp, &rp) : step(cr, &rr)) < 0)
			goto out;
	}
out:
	atr_cursor_free(cp);
	atr_cursor_free(cr);
	return rc;
}

/* ------------------------------------------------------- one policy */

/* One policy's events folded: what is in force, its versions, a page of its history. */
struct pol {
	const char *name;
	size_t events;
	char current[ATR_POLICY_SNAPSHOT_SIZE]; /* "" before any event */
	uint64_t cur_seq;
	char cur_event_id[37];
	json_t *stack;    /* snapshots, oldest first: where rollbacks step back to */
	json_t *versions; /* snapshot -> the seq of its last publish under the name */
	uint64_t from, limit, next;
	json_t *page; /* the history entries from 'from', at most 'limit' */
};

static void pol_release(struct pol *p)
{
	json_decref(p->stack);
	json_decref(p->versions);
	json_decref(p->page);
	p->stack = p->versions = p->page = NULL;
}

/* Step the stack for a publish of 'snap' or a rollback to it. */
static int stack_apply(json_t *stack, const char *snap, int publish)
{
	size_t n = json_array_size(stack), k = n;

	if (publish) {
		if (n && !strcmp(json_string_value(json_array_get(stack, n - 1)), snap))
			return 0;
	} else {
		while (k > 0 && strcmp(json_string_value(json_array_get(stack, k - 1)), snap) != 0)
			k--;
		if (k > 0) {
			while (json_array_size(stack) > k)
				json_array_remove(stack, json_array_size(stack) - 1);
			return 0;
		}
	}
	return json_array_append_new(stack, json_string(snap)) != 0 ? oom() : 0;
}

static int pol_fold(void *ctx, const atr_record *rec, int publish)
{
	struct pol *p = ctx;
	const char *target = atr_record_str(rec, "target");
	const char *snap = atr_record_str(rec, "policy.snapshot");
	const char *id = atr_record_str(rec, "event_id");
	uint64_t seq = atr_record_seq(rec);
	int rc;

	if (!target || strcmp(target, p->name) != 0 || !snap || strlen(snap) >= sizeof(p->current))
		return 0;
	p->events++;
	if (seq >= p->from) {
		if (p->limit && json_array_size(p->page) == p->limit) {
			if (!p->next)
				p->next = seq;
		} else if (json_array_append_new(
		               p->page,
		               json_pack("{s:I, s:o, s:s, s:s, s:o, s:o, s:o, s:o}", "seq",
		                         (json_int_t)seq, "event_id", str_or_null(id), "type",
		                         publish ? PUBLISH : ROLLBACK, "snapshot", snap, "from",
		                         str_or_null(p->current[0] ? p->current : NULL), "actor",
		                         str_or_null(atr_record_str(rec, "actor")), "reason",
		                         str_or_null(atr_record_str(rec, "reason")), "timestamp",
		                         str_or_null(atr_record_str(rec, "ts")))) != 0) {
			return oom();
		}
	}
	if (publish && json_object_set_new(p->versions, snap, json_integer((json_int_t)seq)) != 0)
		return oom();
	if ((rc = stack_apply(p->stack, snap, publish)) < 0)
		return rc;
	snprintf(p->current, sizeof(p->current), "%s", snap);
	snprintf(p->cur_event_id, sizeof(p->cur_event_id), "%s", id ? id : "");
	p->cur_seq = seq;
	return 0;
}

/* Fold policy 'name' into 'p' (released by the caller, also on failure). */
static int pol_read(atr_log *log, const char *name, uint64_t from, uint64_t limit, struct pol *p)
{
	memset(p, 0, sizeof(*p));
	p->name = name;
	p->from = from;
	p->limit = limit;
	p->stack = json_array();
	p->versions = json_object();
	p->page = json_array();
	if (!p->stack || !p->versions || !p->page)
		return oom();
	return each_event(log, pol_fold, p);
}

/*
 * The text of 'snapshot': the document of the first policy_publish carrying
 * it whose payload is there and hashes to it. Every publish carrying it is
 * added to 'published' (when not NULL). '*text' and '*media' are malloc'd.
 */
static int find_text(atr_log *log, const char *snapshot, json_t *published, char **text,
                     char **media)
{
	atr_query q = {.type = PUBLISH};
	atr_cursor *cur;
	const atr_record *rec;
	uint64_t found = 0, erased = 0, bad = 0, bad_seq = 0;
	int rc;

	*text = *media = NULL;
	if ((rc = atr_log_query(log, &q, &cur)) < 0)
		return rc;
	while ((rc = atr_cursor_next(cur, &rec)) > 0) {
		const char *s = atr_record_str(rec, "policy.snapshot"), *detail, *doc;
		char got[ATR_POLICY_SNAPSHOT_SIZE];
		size_t len;
		json_t *d;

		if (!s || strcmp(s, snapshot) != 0)
			continue;
		found++;
		if (published &&
		    json_array_append_new(
		        published, json_pack("{s:o, s:I, s:o}", "name",
		                             str_or_null(atr_record_str(rec, "target")), "seq",
		                             (json_int_t)atr_record_seq(rec), "event_id",
		                             str_or_null(atr_record_str(rec, "event_id")))) != 0) {
			rc = oom();
			break;
		}
		if (*text)
			continue;
		if (!(detail = atr_record_detail(rec, &len))) {
			erased++;
			continue;
		}
		d = json_loadb(detail, len, 0, NULL);
		doc = jstr(d, "document");
		if (doc)
			atr_policy_snapshot_of(
			    doc, json_string_length(json_object_get(d, "document")), got);
		if (!doc || strcmp(got, snapshot) != 0) {
			bad++;
			bad_seq = atr_record_seq(rec);
		} else {
			*text = strdup(doc);
			*media =
			    strdup(jstr(d, "media_type") ? jstr(d, "media_type") : "text/plain");
			if (!*text || !*media)
				rc = oom();
		}
		json_decref(d);
		if (rc < 0)
			break;
	}
	atr_cursor_free(cur);
	if (rc >= 0 && !found)
		rc = atr__err(ATR_ENOTFOUND, "no policy_publish event carries snapshot '%.80s'",
		              snapshot);
	else if (rc >= 0 && !*text && bad)
		rc = atr__err(ATR_ETAMPER,
		              "the document of the policy_publish at seq %llu does not hash to "
		              "snapshot '%.80s'",
		              (unsigned long long)bad_seq, snapshot);
	else if (rc >= 0 && !*text)
		rc = atr__err(ATR_EERASED,
		              "the text of snapshot '%.80s' was erased: the payloads of all %llu "
		              "policy_publish events carrying it are gone",
		              snapshot, (unsigned long long)erased);
	if (rc < 0) {
		free(*text);
		free(*media);
		*text = *media = NULL;
		return rc;
	}
	return 0;
}

/* ------------------------------------------------------- changes */

struct atr_policy_change {
	char *event; /* the event to append; NULL: nothing (unchanged) */
	char name[ATR_POLICY_NAME_MAX + 1];
	char snapshot[ATR_POLICY_SNAPSHOT_SIZE];
	char from[ATR_POLICY_SNAPSHOT_SIZE]; /* a rollback's: the snapshot in force before */
	int rollback;
	/* An unchanged publish: the event that put the document in force. */
	uint64_t seq;
	char event_id[37];
};

void atr_policy_change_free(atr_policy_change *c)
{
	if (!c)
		return;
	free(c->event);
	free(c);
}

const char *atr_policy_change_event(const atr_policy_change *c)
{
	return c->event;
}

/* Check the event text of 'c' as the log will, so a refusal names the policy. */
static int check_event(atr_policy_change *c, size_t doclen)
{
	struct atr__event ev;
	int rc = atr__event_prepare(&ev, c->event, strlen(c->event), 0);

	if (rc == 0) {
		atr__event_release(&ev);
		return 0;
	}
	if (rc == ATR_ETOOBIG && !c->rollback)
		return atr__err_prefix(rc,
		                       "policy '%s': a document of %zu bytes is too big for one "
		                       "event",
		                       c->name, doclen);
	return atr__err_prefix(rc, "policy '%s'", c->name);
}

/*
 * Refuse a document in which the log's ingest redaction would mask
 * something: the stored text would no longer hash to its snapshot, and a
 * policy is evidence that auditors read, so it must not carry a secret.
 */
static int check_secrets(atr_log *log, atr_policy_change *c)
{
	const atr_redactor *red;
	char *masked = NULL, kind[40] = "secret";
	const char *m;
	size_t len, count = 0;
	int rc;

	if ((rc = atr__log_redactor(log, &red)) < 0)
		return rc;
	if (!red)
		return 0;
	rc = atr__redact_json_lazy(red, c->event, strlen(c->event), &masked, &len, &count);
	if (rc < 0 || count == 0) {
		free(masked);
		return rc < 0 ? rc : 0;
	}
	if ((m = strstr(masked, "[REDACTED:")) != NULL)
		sscanf(m + 10, "%39[a-z0-9_]", kind);
	free(masked);
	return atr__err(ATR_EINVALID,
	                "policy '%s': the document holds what looks like a secret (%s, %zu found); "
	                "a policy is evidence every auditor reads, so remove it",
	                c->name, kind, count);
}

int atr_policy_publish_prepare(atr_policy_change **out, atr_log *log, const char *name,
                               const char *document, unsigned flags, const char *actor,
                               const char *reason)
{
	atr_policy_change *c = NULL;
	struct pol p = {0};
	json_t *ev = NULL, *doc;
	char *text = NULL, dflt[ATR_POLICY_NAME_MAX + 32];
	int json = (flags & ATR_POLICY_JSON) != 0, rc;

	*out = NULL;
	if ((rc = atr_policy_name_check(name)) < 0)
		return rc;
	if (!document)
		return atr__err(ATR_EINVALID, "policy '%s': a document is required", name);
	if (json) {
		if ((rc = canonical_json(document, &text)) < 0)
			return atr__err_prefix(rc, "policy '%s'", name);
	} else if (!(text = strdup(document))) {
		return oom();
	}
	if (!(doc = json_string(text))) {
		free(text);
		return atr__err(ATR_EINVALID, "policy '%s': the document is not valid UTF-8", name);
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		rc = oom();
		goto out;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	atr_policy_snapshot_of(text, strlen(text), c->snapshot);
	if ((rc = pol_read(log, name, UINT64_MAX, 0, &p)) < 0)
		goto out;
	if (!strcmp(p.current, c->snapshot)) {
		c->seq = p.cur_seq;
		snprintf(c->event_id, sizeof(c->event_id), "%s", p.cur_event_id);
		goto out;
	}
	snprintf(dflt, sizeof(dflt), "publish policy %s", name);
	ev = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:O, s:s}}", "type", PUBLISH,
	               "actor", actor ? actor : "", "target", name, "reason",
	               reason && *reason ? reason : dflt, "policy", "rule_id", name, "snapshot",
	               c->snapshot, "detail", "name", name, "document", doc, "media_type",
	               json ? "application/json" : "text/plain");
	if (!ev || !(c->event = json_dumps(ev, JSON_COMPACT))) {
		rc = oom();
		goto out;
	}
	if ((rc = check_event(c, strlen(text))) == 0)
		rc = check_secrets(log, c);
out:
	json_decref(ev);
	json_decref(doc);
	pol_release(&p);
	free(text);
	if (rc < 0) {
		atr_policy_change_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int atr_policy_rollback_prepare(atr_policy_change **out, atr_log *log, const char *name,
                                const char *to, const char *actor, const char *reason)
{
	atr_policy_change *c = NULL;
	struct pol p = {0};
	json_t *ev = NULL;
	char dflt[ATR_POLICY_NAME_MAX + 120];
	size_t n;
	int rc;

	*out = NULL;
	if ((rc = atr_policy_name_check(name)) < 0)
		return rc;
	if ((rc = pol_read(log, name, UINT64_MAX, 0, &p)) < 0)
		goto out;
	if (p.events == 0) {
		rc = atr__err(ATR_ENOTFOUND, "no policy '%s'", name);
		goto out;
	}
	n = json_array_size(p.stack);
	if (to && !json_object_get(p.versions, to)) {
		rc = atr__err(ATR_EINVALID,
		              "snapshot '%.80s' was never published under policy '%s'", to, name);
		goto out;
	}
	if (to && !strcmp(to, p.current)) {
		rc = atr__err(ATR_ECONFLICT, "snapshot '%.80s' is already in force for policy '%s'",
		              to, name);
		goto out;
	}
	if (!to && n < 2) {
		rc = atr__err(ATR_ECONFLICT,
		              "policy '%s' has no earlier version to roll back to: '%s' is the "
		              "first in force",
		              name, p.current);
		goto out;
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		rc = oom();
		goto out;
	}
	c->rollback = 1;
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->from, sizeof(c->from), "%s", p.current);
	snprintf(c->snapshot, sizeof(c->snapshot), "%s",
	         to ? to : json_string_value(json_array_get(p.stack, n - 2)));
	snprintf(dflt, sizeof(dflt), "roll back policy %s to %s", name, c->snapshot);
	ev = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}}", "type", ROLLBACK,
	               "actor", actor ? actor : "", "target", name, "reason",
	               reason && *reason ? reason : dflt, "policy", "rule_id", name, "snapshot",
	               c->snapshot, "detail", "name", name, "from", c->from, "to", c->snapshot);
	if (!ev || !(c->event = json_dumps(ev, JSON_COMPACT))) {
		rc = oom();
		goto out;
	}
	rc = check_event(c, 0);
out:
	json_decref(ev);
	pol_release(&p);
	if (rc < 0) {
		atr_policy_change_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int atr_policy_change_answer(const atr_policy_change *c, const atr_append_result *res, char **out)
{
	json_t *a;

	*out = NULL;
	if (c->event && !res)
		return atr__err(ATR_EINVALID, "the policy change was not appended");
	a = json_pack("{s:s, s:s, s:I, s:s}", "name", c->name, "snapshot", c->snapshot, "seq",
	              (json_int_t)(c->event ? res->seq : c->seq), "event_id",
	              c->event ? res->event_id : c->event_id);
	if (a && c->rollback && json_object_set_new(a, "from", json_string(c->from)) != 0) {
		json_decref(a);
		a = NULL;
	}
	if (a && !c->event && json_object_set_new(a, "unchanged", json_true()) != 0) {
		json_decref(a);
		a = NULL;
	}
	return dump(a, out);
}

/* Append the change through the log and answer it. */
static int apply(atr_log *log, atr_policy_change *c, char **out)
{
	atr_append_result res;
	int rc = 0;

	if (c->event)
		rc = atr_log_append(log, c->event, strlen(c->event), &res);
	if (rc == 0)
		rc = atr_policy_change_answer(c, &res, out);
	atr_policy_change_free(c);
	return rc;
}

int atr_policy_publish(atr_log *log, const char *name, const char *document, unsigned flags,
                       const char *actor, const char *reason, char **out)
{
	atr_policy_change *c;
	int rc;

	*out = NULL;
	if ((rc = atr_policy_publish_prepare(&c, log, name, document, flags, actor, reason)) < 0)
		return rc;
	return apply(log, c, out);
}

int atr_policy_rollback(atr_log *log, const char *name, const char *to, const char *actor,
                        const char *reason, char **out)
{
	atr_policy_change *c;
	int rc;

	*out = NULL;
	if ((rc = atr_policy_rollback_prepare(&c, log, name, to, actor, reason)) < 0)
		return rc;
	return apply(log, c, out);
}

/* ------------------------------------------------------- reading */

int atr_policy_get(atr_log *log, const char *name, uint64_t from_seq, uint64_t limit, char **out,
                   uint64_t *next_seq)
{
	struct pol p;
	json_t *a = NULL;
	char *text = NULL, *media = NULL;
	int rc;

	*out = NULL;
	*next_seq = 0;
	if ((rc = atr_policy_name_check(name)) < 0)
		return rc;
	if ((rc = pol_read(log, name, from_seq, limit, &p)) < 0)
		goto out;
	if (p.events == 0) {
		rc = atr__err(ATR_ENOTFOUND, "no policy '%s'", name);
		goto out;
	}
	rc = find_text(log, p.current, NULL, &text, &media);
	if (rc < 0 && rc != ATR_EERASED)
		goto out;
	a = json_pack("{s:s, s:s, s:I, s:s, s:o, s:o, s:o, s:I, s:O, s:I}", "name", name,
	              "snapshot", p.current, "seq", (json_int_t)p.cur_seq, "event_id",
	              p.cur_event_id, "media_type", str_or_null(media), "text", str_or_null(text),
	              "text_erased", json_boolean(rc == ATR_EERASED), "versions",
	              (json_int_t)json_object_size(p.versions), "history", p.page, "history_total",
	              (json_int_t)p.events);
	*next_seq = p.next;
	rc = dump(a, out);
out:
	free(text);
	free(media);
	pol_release(&p);
	if (rc < 0)
		*next_seq = 0;
	return rc;
}

int atr_policy_snapshot_json(atr_log *log, const char *snapshot, char **out)
{
	json_t *published = json_array();
	char *text = NULL, *media = NULL;
	int rc;

	*out = NULL;
	if (!snapshot || !*snapshot) {
		json_decref(published);
		return atr__err(ATR_EINVALID, "a snapshot is required");
	}
	if (!published)
		return oom();
	if ((rc = find_text(log, snapshot, published, &text, &media)) < 0) {
		json_decref(published);
		return rc;
	}
	rc = dump(json_pack("{s:s, s:s, s:s, s:o}", "snapshot", snapshot, "media_type", media,
	                    "text", text, "published", published),
	          out);
	free(text);
	free(media);
	return rc;
}

/* ------------------------------------------------------- every policy */

struct all {
	json_t *by_name; /* name -> its list entry */
	json_t *seen;    /* name -> {snapshot: true} of its publishes */
};

static int all_fold(void *ctx, const atr_record *rec, int publish)
{
	struct all *a = ctx;
	const char *name = atr_record_str(rec, "target");
	const char *snap = atr_record_str(rec, "policy.snapshot");
	json_t *e, *seen;

	if (!name || !snap)
		return 0;
	if (!(seen = json_object_get(a->seen, name))) {
		if (json_object_set_new(a->seen, name, json_object()) != 0 ||
		    !(seen = json_object_get(a->seen, name)))
			return oom();
	}
	if (publish && json_object_set_new(seen, snap, json_true()) != 0)
		return oom();
	e = json_pack("{s:s, s:s, s:I, s:o, s:I, s:o}", "name", name, "snapshot", snap, "seq",
	              (json_int_t)atr_record_seq(rec), "event_id",
	              str_or_null(atr_record_str(rec, "event_id")), "versions",
	              (json_int_t)json_object_size(seen), "updated_at",
	              str_or_null(atr_record_str(rec, "ts")));
	return !e || json_object_set_new(a->by_name, name, e) != 0 ? oom() : 0;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

int atr_policy_list_json(atr_log *log, char **out)
{
	struct all a = {json_object(), json_object()};
	const char **names = NULL, *k;
	json_t *arr = json_array(), *v;
	size_t n = 0, i;
	int rc;

	*out = NULL;
	if (!a.by_name || !a.seen || !arr) {
		rc = oom();
		goto out;
	}
	if ((rc = each_event(log, all_fold, &a)) < 0)
		goto out;
	if (!(names = calloc(json_object_size(a.by_name) + 1, sizeof(*names)))) {
		rc = oom();
		goto out;
	}
	json_object_foreach(a.by_name, k, v) names[n++] = k;
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++)
		if (json_array_append(arr, json_object_get(a.by_name, names[i])) != 0) {
			rc = oom();
			goto out;
		}
	rc = dump(arr, out);
	arr = NULL;
out:
	free(names);
	json_decref(arr);
	json_decref(a.by_name);
	json_decref(a.seen);
	return rc;
}

int atr_policy_known(atr_log *log, const char *snapshot, int *known)
{
	atr_query q = {.type = PUBLISH};
	atr_cursor *cur;
	const atr_record *rec;
	int rc;

	*known = 0;
	if (!snapshot)
		return 0;
	if ((rc = atr_log_query(log, &q, &cur)) < 0)
		return rc;
	while ((rc = atr_cursor_next(cur, &rec)) > 0) {
		const char *s = atr_record_str(rec, "policy.snapshot");

		if (s && !strcmp(s, snapshot)) {
			*known = 1;
			break;
		}
	}
	atr_cursor_free(cur);
	return rc < 0 ? rc : 0;
}

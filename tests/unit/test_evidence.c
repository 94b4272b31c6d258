/*
 * Evidence bundles from a real log: a job with a policy decision, an
 * approval resolved under a later policy version, output safety and
 * completion is bundled against a signed checkpoint and verifies with only
 * the verifier key; the summary agrees with atr_job_json(); and every kind
 * of tampering (a record, a payload, the summary, an audit path, the
 * checkpoint, a dropped or foreign event, the wrong key, any flipped byte)
 * is refused with a message naming what does not hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <agentrail/agentrail.h>

#include "internal.h"

#define ATR_TEST_NAME "test_evidence"
#include "tmpstore.h"

#define V1 "pushes to main need one approval by a maintainer"
#define V2 "pushes to main need two approvals"

struct fixture {
	atr_log *log;
	atr_signer *signer;
	atr_verifier *verifier;
	char snap1[72], snap2[72];
	uint64_t publish1; /* the seq of v1's good policy_publish */
};

static void snapshot_of(const char *doc, char out[72])
{
	uint8_t h[32];
	char hex[65];

	atr__sha256(h, doc, strlen(doc), NULL, 0, NULL, 0);
	atr__hex(hex, h, 32);
	snprintf(out, 72, "sha256:%s", hex);
}

static uint64_t append(atr_log *log, const char *fmt, ...)
{
	atr_append_result r;
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (atr_log_append(log, buf, strlen(buf), &r) != 0)
		fail_msg("append: %s: %s", atr_errmsg(), buf);
	return r.seq;
}

static void publish(struct fixture *f, const char *doc, const char *snap, uint64_t *seq)
{
	uint64_t s = append(f->log,
	                    "{\"type\":\"policy_publish\",\"actor\":\"admin\",\"target\":\"push\","
	                    "\"reason\":\"publish policy push\",\"policy\":{\"rule_id\":\"push\","
	                    "\"snapshot\":\"%s\"},\"detail\":{\"name\":\"push\",\"document\":"
	                    "\"%s\",\"media_type\":\"text/plain\"}}",
	                    snap, doc);
	if (seq)
		*seq = s;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *skey, *vkey;

	tmpstore_setup(state);
	assert_non_null(f);
	assert_int_equal(atr_log_open(&f->log, path, 0), 0);
	assert_int_equal(atr_keygen("test.example/evidence", &skey, &vkey), 0);
	assert_int_equal(atr_signer_new(&f->signer, skey), 0);
	assert_int_equal(atr_verifier_new(&f->verifier, vkey), 0);
	atr_free(skey);
	atr_free(vkey);
	snapshot_of(V1, f->snap1);
	snapshot_of(V2, f->snap2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	atr_log_free(f->log);
	atr_signer_free(f->signer);
	atr_verifier_free(f->verifier);
	free(f);
	return tmpstore_teardown(state);
}

/* The scenario, with another job interleaved and a bogus publish of v1's snapshot. */
static void scenario(struct fixture *f)
{
	publish(f, "not the text of v1", f->snap1, NULL);
	publish(f, V1, f->snap1, &f->publish1);
	append(f->log, "{\"type\":\"task_submit\",\"actor\":\"bot\",\"user_id\":\"alice\","
	               "\"job_id\":\"J1\",\"target\":\"ship the fix\",\"detail\":{\"prompt\":"
	               "\"fix the flaky test and push\"}}");
	append(f->log, "{\"type\":\"task_submit\",\"actor\":\"carol\",\"job_id\":\"J2\"}");
	append(f->log, "{\"type\":\"llm_call\",\"actor\":\"bot\",\"model\":\"m\",\"job_id\":\"J1\","
	               "\"detail\":{\"prompt\":\"plan the push\"}}");
	append(f->log,
	       "{\"type\":\"decision\",\"actor\":\"policy-engine\",\"job_id\":\"J1\","
	       "\"reason\":\"pushing to main\",\"policy\":{\"decision\":\"REQUIRE_APPROVAL\","
	       "\"rule_id\":\"push\",\"snapshot\":\"%s\"}}",
	       f->snap1);
	append(f->log,
	       "{\"type\":\"decision\",\"actor\":\"policy-engine\",\"job_id\":\"J1\","
	       "\"reason\":\"cites a policy nobody published\",\"policy\":{\"decision\":"
	       "\"ALLOW\",\"rule_id\":\"ghost\",\"snapshot\":\"sha256:%064d\"}}",
	       0);
	append(f->log, "{\"type\":\"approval_request\",\"actor\":\"bot\",\"job_id\":\"J1\","
	               "\"reason\":\"push the fix\",\"approval\":{\"id\":\"A1\",\"required\":true,"
	               "\"job_hash\":\"jh-1\"},\"policy\":{\"rule_id\":\"push\"}}");
	publish(f, V2, f->snap2, NULL);
	append(f->log, "{\"type\":\"approval_resolved\",\"actor\":\"bob\",\"job_id\":\"J1\","
	               "\"reason\":\"approved\",\"approval\":{\"id\":\"A1\",\"resolution\":"
	               "\"approved\",\"resolved_by\":\"bob\",\"comment\":\"diff checked, ship "
	               "it\"}}");
	append(f->log, "{\"type\":\"output_safety\",\"actor\":\"guard\",\"job_id\":\"J1\","
	               "\"reason\":\"no secrets in the output\",\"policy\":{\"decision\":"
	               "\"ALLOW\",\"rule_id\":\"out-1\"}}");
	append(f->log, "{\"type\":\"complete\",\"actor\":\"bot\",\"job_id\":\"J1\","
	               "\"reason\":\"pushed\",\"outcome\":\"success\"}");
	append(f->log, "{\"type\":\"task_outcome\",\"actor\":\"bot\",\"job_id\":\"J1\","
	               "\"outcome\":\"success\"}");
}

static char *sign_and_bundle(struct fixture *f, const char *job)
{
	char *note = NULL, *json = NULL;

	assert_int_equal(atr_log_checkpoint_sign(f->log, f->signer, &note, NULL), 0);
	if (atr_log_evidence(f->log, job, NULL, 0, &json) != 0)
		fail_msg("evidence: %s", atr_errmsg());
	atr_free(note);
	return json;
}

static json_t *get(json_t *o, const char *dotted)
{
	char buf[128], *save = NULL, *k;
	json_t *v = o;

	snprintf(buf, sizeof(buf), "%s", dotted);
	for (k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
		v = json_is_array(v) ? json_array_get(v, strtoul(k, NULL, 10))
		                     : json_object_get(v, k);
	return v;
}

static const char *gstr(json_t *o, const char *dotted)
{
	json_t *v = get(o, dotted);

	return json_is_null(v) ? "null" : json_string_value(v);
}

static void test_bundle_verifies(void **state)
{
	struct fixture *f = *state;
	atr_evidence_info info;
	char *json, *jj;
	json_t *b, *j;

	scenario(f);
	json = sign_and_bundle(f, "J1");
	if (atr_evidence_verify(json, strlen(json), f->verifier, &info) != 0)
		fail_msg("verify: %s", atr_errmsg());
	assert_int_equal(info.events, 9);
	assert_int_equal(info.policies, 1);
	assert_int_equal(info.payloads, 10);
	assert_int_equal(info.checkpoint.size, 13);

	b = json_loads(json, 0, NULL);
	assert_non_null(b);
	assert_string_equal(gstr(b, "job_id"), "J1");
	assert_string_equal(gstr(b, "summary.submitter"), "alice");
	assert_string_equal(gstr(b, "summary.status"), "succeeded");
	assert_string_equal(gstr(b, "summary.decisions.0.rule_id"), "push");
	assert_string_equal(gstr(b, "summary.decisions.0.snapshot"), f->snap1);
	assert_true(json_is_true(get(b, "summary.decisions.0.snapshot_known")));
	assert_int_equal(json_integer_value(get(b, "summary.decisions.0.policy_text_seq")),
	                 f->publish1);
	assert_true(json_is_false(get(b, "summary.decisions.1.snapshot_known")));
	assert_true(json_is_null(get(b, "summary.decisions.1.policy_text_seq")));
	assert_string_equal(gstr(b, "summary.approvals.0.resolved_by"), "bob");
	assert_string_equal(gstr(b, "summary.approvals.0.comment"), "diff checked, ship it");
	assert_string_equal(gstr(b, "summary.approvals.0.job_hash"), "jh-1");
	assert_string_equal(gstr(b, "summary.output_safety.decision"), "ALLOW");
	assert_string_equal(gstr(b, "summary.final.type"), "task_outcome");
	/* The good publish of v1, not the bogus one before it, with v1's text. */
	assert_int_equal(json_integer_value(get(b, "policies.0.seq")), f->publish1);
	assert_non_null(strstr(gstr(b, "policies.0.detail"), V1));
	assert_int_equal(json_array_size(get(b, "policies")), 1);

	/* The summary agrees with the job's derived state. */
	assert_int_equal(atr_job_json(f->log, "J1", &jj), 0);
	j = json_loads(jj, 0, NULL);
	atr_free(jj);
	assert_string_equal(gstr(j, "submitter"), gstr(b, "summary.submitter"));
	assert_string_equal(gstr(j, "status"), gstr(b, "summary.status"));
	assert_int_equal(json_integer_value(get(j, "events")),
	                 json_integer_value(get(b, "summary.events")));
	assert_string_equal(gstr(j, "approvals.0.resolved_by"),
	                    gstr(b, "summary.approvals.0.resolved_by"));
	assert_string_equal(gstr(j, "decisions.0.rule_id"), gstr(b, "summary.decisions.0.rule_id"));
	json_decref(j);
	json_decref(b);
	atr_free(json);
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	char *json = NULL, *old = NULL;

	scenario(f);
	assert_int_equal(atr_log_evidence(f->log, "nope", NULL, 0, &json), ATR_ENOTFOUND);
	assert_null(json);
	assert_int_equal(atr_log_evidence(f->log, "", NULL, 0, &json), ATR_EINVALID);
	/* No checkpoint yet: a precise conflict, naming the first seq and what to do. */
	assert_int_equal(atr_log_evidence(f->log, "J1", NULL, 0, &json), ATR_ECONFLICT);
	assert_non_null(strstr(atr_errmsg(), "no signed checkpoint covers seq 2 yet"));
	assert_non_null(strstr(atr_errmsg(), "agentrail checkpoint --key"));
	assert_int_equal(atr_log_evidence(f->log, "nope", NULL, 0, &json), ATR_ENOTFOUND);
	assert_int_equal(atr_log_checkpoint_sign(f->log, f->signer, &old, NULL), 0);
	append(f->log, "{\"type\":\"abort\",\"actor\":\"bob\",\"job_id\":\"J1\",\"reason\":\"x\"}");
	/* The newest checkpoint, and a given one, no longer cover the job. */
	assert_int_equal(atr_log_evidence(f->log, "J1", NULL, 0, &json), ATR_ECONFLICT);
	assert_non_null(strstr(atr_errmsg(), "no signed checkpoint covers seq 13 yet"));
	assert_int_equal(atr_log_evidence(f->log, "J1", old, strlen(old), &json), ATR_ECONFLICT);
	assert_int_equal(atr_log_evidence(f->log, "J1", "not a note", 10, &json), ATR_EINVALID);
	/* J2 is covered by the old checkpoint. */
	assert_int_equal(atr_log_evidence(f->log, "J2", old, strlen(old), &json), 0);
	assert_int_equal(atr_evidence_verify(json, strlen(json), f->verifier, NULL), 0);
	atr_free(json);
	atr_free(old);
	json = sign_and_bundle(f, "J1");
	assert_int_equal(atr_evidence_verify(json, strlen(json), f->verifier, NULL), 0);
	assert_non_null(strstr(json, "\"status\":\"aborted\""));
	atr_free(json);
}

/* Verify 'b' re-serialized: ATR_ETAMPER with 'want' in the message. */
static void expect_tamper(struct fixture *f, json_t *b, const char *want)
{
	char *s = json_dumps(b, JSON_COMPACT);
	int rc = atr_evidence_verify(s, strlen(s), f->verifier, NULL);

	if (rc != ATR_ETAMPER || !strstr(atr_errmsg(), want))
		fail_msg("want tampering with '%s', got %d: %s", want, rc, atr_errmsg());
	free(s);
	json_decref(b);
}

/* Replace string 'dotted' in a copy of 'base' with itself changed at byte 'at' ('from' end if <0).
 */
static json_t *edit(json_t *base, const char *dotted, long at)
{
	json_t *b = json_deep_copy(base), *v;
	char *s;
	size_t n;
	char buf[128], *dot;

	v = get(b, dotted);
	assert_true(json_is_string(v));
	n = json_string_length(v);
	s = malloc(n + 1);
	memcpy(s, json_string_value(v), n + 1);
	at = at < 0 ? (long)n + at : at;
	s[at] = s[at] == 'a' ? 'b' : 'a';
	snprintf(buf, sizeof(buf), "%s", dotted);
	if (!(dot = strrchr(buf, '.')))
		json_object_set_new(b, buf, json_stringn(s, n));
	else if ((*dot = '\0', json_is_array(get(b, buf))))
		json_array_set_new(get(b, buf), strtoul(dot + 1, NULL, 10), json_stringn(s, n));
	else
		json_object_set_new(get(b, buf), dot + 1, json_stringn(s, n));
	free(s);
	return b;
}

static void test_tampering(void **state)
{
	struct fixture *f = *state;
	char *json, *skey, *vkey, *other;
	atr_verifier *wrong;
	json_t *base, *b;

	scenario(f);
	json = sign_and_bundle(f, "J1");
	base = json_loads(json, 0, NULL);
	assert_non_null(base);

	expect_tamper(f, edit(base, "events.1.record", 30), "event seq 4: the record's bytes");
	expect_tamper(f, edit(base, "events.0.detail", 12), "event seq 2: the payload does not");
	expect_tamper(f, edit(base, "policies.0.detail", 40),
	              "policy record seq 1: the payload does not");
	expect_tamper(f, edit(base, "summary.approvals.0.comment", 0),
	              "summary.approvals[0].comment is");
	expect_tamper(f, edit(base, "summary.submitter", 0), "summary.submitter is");
	expect_tamper(f, edit(base, "events.3.audit_path.0", 5),
	              "event seq 6: the audit path does not lead");
	expect_tamper(f, edit(base, "checkpoint", -5), "checkpoint");
	expect_tamper(f, edit(base, "events.2.leaf_hash", 7), "event seq 5: the record's bytes");

	/* An event dropped, the summary left as it was. */
	b = json_deep_copy(base);
	json_array_remove(get(b, "events"), 1);
	expect_tamper(f, b, "summary.events is 9, but the records say 8");
	/* The decision dropped: its policy text is then cited by nothing. */
	b = json_deep_copy(base);
	json_array_remove(get(b, "events"), 2);
	expect_tamper(f, b, "which no decision of the job cites");
	/* The unknown-snapshot decision dropped: the summary's decisions no longer follow. */
	b = json_deep_copy(base);
	json_array_remove(get(b, "events"), 3);
	expect_tamper(f, b, "the summary does not match the records: summary.events is 9");
	/* The policy text dropped: the decision's snapshot would be unknown. */
	b = json_deep_copy(base);
	json_array_clear(get(b, "policies"));
	expect_tamper(f, b, "summary.decisions[0].snapshot_known is true");
	/* A forged summary that the records do not give. */
	b = json_deep_copy(base);
	json_object_set_new(get(b, "summary.approvals.0"), "resolved_by", json_string("mallory"));
	expect_tamper(f, b, "summary.approvals[0].resolved_by is \"mallory\"");
	b = json_deep_copy(base);
	json_object_set_new(get(b, "summary"), "approved_by_ceo", json_true());
	expect_tamper(f, b, "summary.approved_by_ceo is in the summary");
	/* Events out of order. */
	b = json_deep_copy(base);
	json_array_append(get(b, "events"), get(b, "events.0"));
	expect_tamper(f, b, "is not after seq");
	/* tree_size that is not the checkpoint's. */
	b = json_deep_copy(base);
	json_object_set_new(b, "tree_size", json_integer(99));
	expect_tamper(f, b, "tree size 99");
	/* Another job's record, proven in the same tree, slipped in. */
	{
		char *j2;
		json_t *o2;

		assert_int_equal(atr_log_evidence(f->log, "J2", NULL, 0, &j2), 0);
		o2 = json_loads(j2, 0, NULL);
		atr_free(j2);
		b = json_deep_copy(base);
		json_array_insert(get(b, "events"), 1, get(o2, "events.0"));
		json_decref(o2);
		expect_tamper(f, b, "event seq 3 belongs to job 'J2', not to the bundle's 'J1'");
	}
	/* The wrong key. */
	assert_int_equal(atr_keygen("test.example/evidence", &skey, &vkey), 0);
	assert_int_equal(atr_verifier_new(&wrong, vkey), 0);
	assert_int_equal(atr_evidence_verify(json, strlen(json), wrong, NULL), ATR_ETAMPER);
	assert_non_null(strstr(atr_errmsg(), "checkpoint"));
	atr_verifier_free(wrong);
	atr_free(skey);
	atr_free(vkey);

	/* Malformed. */
	assert_int_equal(atr_evidence_verify("{", 1, f->verifier, NULL), ATR_EINVALID);
	assert_int_equal(atr_evidence_verify("{\"agentrail_evidence\":1}", 24, f->verifier, NULL),
	                 ATR_EINVALID);
	assert_int_equal(atr_evidence_verify("[]", 2, f->verifier, NULL), ATR_EINVALID);

	/* Any single byte changed anywhere: never accepted. */
	other = strdup(json);
	for (size_t i = 0, n = strlen(other); i < n; i += 3) {
		other[i] ^= 1;
		if (atr_evidence_verify(other, strlen(other), f->verifier, NULL) == 0)
			fail_msg("a bundle with byte %zu changed verified: %.60s", i,
			         other + (i > 30 ? i - 30 : 0));
		other[i] ^= 1;
	}
	assert_int_equal(atr_evidence_verify(other, strlen(other), f->verifier, NULL), 0);
	free(other);
	json_decref(base);
	atr_free(json);
}

/* An erased payload: the record stays provable, the bundle says the payload is gone. */
static void test_no_payload(void **state)
{
	struct fixture *f = *state;
	atr_evidence_info info;
	char *json;

	append(f->log, "{\"type\":\"task_submit\",\"actor\":\"dave\",\"job_id\":\"J3\"}");
	append(f->log, "{\"type\":\"decision\",\"actor\":\"p\",\"job_id\":\"J3\",\"reason\":\"r\","
	               "\"policy\":{\"decision\":\"DENY\"}}");
	json = sign_and_bundle(f, "J3");
	assert_int_equal(atr_evidence_verify(json, strlen(json), f->verifier, &info), 0);
	assert_int_equal(info.events, 2);
	assert_int_equal(info.policies, 0);
	assert_non_null(strstr(json, "\"snapshot_known\":null"));
	assert_non_null(strstr(json, "\"status\":\"running\""));
	atr_free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bundle_verifies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tampering, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_payload, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

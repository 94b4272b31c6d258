/*
 * Derived answers from a real log: a job's state moves with its events
 * (running, awaiting_approval, succeeded), its decisions join their
 * approvals, the approval queue shows what is pending, and the lists page
 * (limit and next seq) and cap (ATR_JOB_LIST_MAX) without losing anything.
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

#define ATR_TEST_NAME "test_jobs"
#include "tmpstore.h"

#define ID(n) "\"0190f0e0-0000-7000-8000-0000000000" n "\""

static void append(atr_log *log, const char *json)
{
	assert_int_equal(atr_log_append(log, json, strlen(json), NULL), 0);
}

static json_t *job(atr_log *log, const char *id)
{
	char *s;
	json_t *j;

	assert_int_equal(atr_job_json(log, id, &s), 0);
	j = json_loads(s, 0, NULL);
	atr_free(s);
	assert_non_null(j);
	return j;
}

static const char *jstr(json_t *o, const char *dotted)
{
	json_t *v = o;
	char buf[128], *save = NULL, *k;

	snprintf(buf, sizeof(buf), "%s", dotted);
	for (k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
		v = json_is_array(v) ? json_array_get(v, strtoul(k, NULL, 10))
		                     : json_object_get(v, k);
	return json_is_null(v) ? "null" : json_string_value(v);
}

static void test_job_lifecycle(void **state)
{
	atr_log *log;
	json_t *j;
	char *s;

	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_job_json(log, "J1", &s), ATR_ENOTFOUND);
	append(log, "{\"event_id\":" ID(
	                "01") ",\"type\":\"task_submit\",\"actor\":\"alice\","
	                      "\"job_id\":\"J1\",\"run_id\":\"R1\",\"target\":\"fix the bug\"}");
	append(log,
	       "{\"type\":\"tool_call\",\"actor\":\"bot\",\"job_id\":\"J1\",\"target\":\"bash\"}");
	j = job(log, "J1");
	assert_string_equal(jstr(j, "status"), "running");
	assert_string_equal(jstr(j, "submitter"), "alice");
	assert_string_equal(jstr(j, "context_ptr"), "0190f0e0-0000-7000-8000-000000000001");
	assert_string_equal(jstr(j, "result_ptr"), "null");
	assert_string_equal(jstr(j, "last_event.type"), "tool_call");
	json_decref(j);

	append(log, "{\"event_id\":" ID(
	                "02") ",\"type\":\"decision\",\"actor\":\"bot\",\"job_id\":\"J1\","
	                      "\"run_id\":\"R1\",\"reason\":\"touches "
	                      "payments\",\"policy\":{\"rule_id\":\"pay-1\","
	                      "\"snapshot\":\"sha256:ab\",\"decision\":\"REQUIRE_APPROVAL\"}}");
	append(log,
	       "{\"type\":\"approval_request\",\"actor\":\"bot\",\"job_id\":\"J1\",\"reason\":"
	       "\"pay-1\","
	       "\"parent_event_id\":" ID("02") ",\"approval\":{\"id\":\"A1\",\"required\":true,"
	                                       "\"job_hash\":\"sha256:cd\"}}");
	j = job(log, "J1");
	assert_string_equal(jstr(j, "status"), "awaiting_approval");
	assert_string_equal(jstr(j, "policy_snapshot"), "sha256:ab");
	assert_string_equal(jstr(j, "approvals.0.resolution"), "pending");
	json_decref(j);
	assert_int_equal(atr_approvals_json(log, 0, &s), 0);
	assert_non_null(strstr(s, "\"approval_id\":\"A1\""));
	assert_non_null(strstr(s, "\"resolution\":\"pending\""));
	atr_free(s);

	append(log,
	       "{\"type\":\"approval_resolved\",\"actor\":\"carol\",\"job_id\":\"J1\","
	       "\"reason\":\"reviewed\",\"approval\":{\"id\":\"A1\",\"resolution\":\"approved\","
	       "\"resolved_by\":\"carol\",\"comment\":\"ok with limits\"}}");
	append(log, "{\"type\":\"output_safety\",\"actor\":\"guard\",\"job_id\":\"J1\",\"reason\":"
	            "\"clean\","
	            "\"policy\":{\"rule_id\":\"out-2\",\"decision\":\"ALLOW\"}}");
	append(log, "{\"event_id\":" ID("03") ",\"type\":\"task_outcome\",\"actor\":\"bot\","
	                                      "\"job_id\":\"J1\",\"outcome\":\"success\"}");
	j = job(log, "J1");
	assert_string_equal(jstr(j, "status"), "succeeded");
	assert_string_equal(jstr(j, "result_ptr"), "0190f0e0-0000-7000-8000-000000000003");
	assert_string_equal(jstr(j, "output_safety.decision"), "ALLOW");
	assert_string_equal(jstr(j, "output_safety.rule_id"), "out-2");
	assert_string_equal(jstr(j, "approvals.0.resolved_by"), "carol");
	assert_int_equal(json_integer_value(json_object_get(j, "events")), 7);
	json_decref(j);

	assert_int_equal(atr_job_decisions_json(log, "J1", &s), 0);
	j = json_loads(s, 0, NULL);
	atr_free(s);
	assert_int_equal(json_array_size(j), 1);
	assert_string_equal(jstr(j, "0.decision"), "REQUIRE_APPROVAL");
	assert_string_equal(jstr(j, "0.policy_rule_id"), "pay-1");
	assert_string_equal(jstr(j, "0.policy_reason"), "touches payments");
	assert_string_equal(jstr(j, "0.policy_snapshot"), "sha256:ab");
	assert_string_equal(jstr(j, "0.job_hash"), "sha256:cd");
	assert_true(json_is_true(json_object_get(json_array_get(j, 0), "approval_required")));
	assert_string_equal(jstr(j, "0.resolution"), "approved");
	assert_string_equal(jstr(j, "0.resolved_by"), "carol");
	assert_string_equal(jstr(j, "0.resolved_comment"), "ok with limits");
	assert_string_equal(jstr(j, "0.run_id"), "R1");
	assert_string_equal(jstr(j, "0.context_ptr"), "0190f0e0-0000-7000-8000-000000000001");
	assert_string_equal(jstr(j, "0.output_safety.decision"), "ALLOW");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "seq")), 2);
	json_decref(j);

	/* Resolved requests leave the queue unless asked for. */
	assert_int_equal(atr_approvals_json(log, 0, &s), 0);
	assert_string_equal(s, "[]");
	atr_free(s);
	assert_int_equal(atr_approvals_json(log, 1, &s), 0);
	assert_non_null(strstr(s, "\"resolution\":\"approved\""));
	assert_non_null(strstr(s, "\"resolved_seq\":4"));
	atr_free(s);

	append(log, "{\"type\":\"task_submit\",\"actor\":\"dave\",\"job_id\":\"J2\"}");
	append(
	    log,
	    "{\"type\":\"abort\",\"actor\":\"dave\",\"job_id\":\"J2\",\"reason\":\"wrong repo\"}");
	j = job(log, "J2");
	assert_string_equal(jstr(j, "status"), "aborted");
	json_decref(j);
	atr_log_free(log);
}

static void test_approvals_cache_follows_the_log(void **state)
{
	atr_approvals *c;
	atr_log *log;
	char *s;

	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_approvals_new(&c), 0);
	assert_int_equal(atr_approvals_query(c, log, 0, &s), 0);
	assert_string_equal(s, "[]");
	atr_free(s);
	append(log, "{\"type\":\"approval_request\",\"actor\":\"bot\",\"job_id\":\"J9\","
	            "\"reason\":\"r\",\"approval\":{\"id\":\"B1\"}}");
	append(log, "{\"type\":\"approval_request\",\"actor\":\"bot\",\"job_id\":\"J9\","
	            "\"reason\":\"r\",\"approval\":{\"id\":\"B2\"}}");
	assert_int_equal(atr_approvals_query(c, log, 0, &s), 0);
	assert_non_null(strstr(s, "\"B1\""));
	assert_non_null(strstr(s, "\"B2\""));
	atr_free(s);
	append(log,
	       "{\"type\":\"approval_resolved\",\"actor\":\"eve\",\"reason\":\"ok\","
	       "\"approval\":{\"id\":\"B1\",\"resolution\":\"rejected\",\"resolved_by\":\"eve\"}}");
	/* Only what was appended since is read, and the answer moves with it. */
	assert_int_equal(atr_approvals_query(c, log, 0, &s), 0);
	assert_null(strstr(s, "\"B1\""));
	assert_non_null(strstr(s, "\"B2\""));
	atr_free(s);
	assert_int_equal(atr_approvals_query(c, log, 1, &s), 0);
	assert_non_null(strstr(s, "\"resolution\":\"rejected\""));
	assert_non_null(strstr(s, "\"resolved_by\":\"eve\""));
	atr_free(s);
	atr_approvals_free(c);
	atr_log_free(log);
}

/* The seqs of the items of a JSON array answer, as "4,7,9". */
static void seqs(const char *s, char *out, size_t cap)
{
	json_t *arr = json_loads(s, 0, NULL), *e;
	size_t i, used = 0;

	assert_non_null(arr);
	out[0] = '\0';
	json_array_foreach(arr, i, e)
	{
		int n = snprintf(out + used, cap - used, "%s%lld", i ? "," : "",
		                 (long long)json_integer_value(json_object_get(e, "seq")));

		assert_true(n > 0 && (size_t)n < cap - used);
		used += (size_t)n;
	}
	json_decref(arr);
}

static void test_pages(void **state)
{
	char buf[512], got[256];
	atr_approvals *c;
	atr_log *log;
	uint64_t next;
	json_t *j;
	char *s;

	assert_int_equal(atr_log_open(&log, path, 0), 0);
	/*
	 * Job P: decisions at seqs 0, 1, 2, 4, 5; a request at 3 (after
	 * decisions 0-2), one at 6 that is decision 4's child, one (unresolved)
	 * at 7. Decision 5 has no child: its approval is the first request
	 * after it, 6 (whoever's child that is).
	 */
	for (int i = 0; i < 8; i++) {
		if (i == 3 || i == 6 || i == 7)
			snprintf(
			    buf, sizeof(buf),
			    "{\"event_id\":\"0190f0e0-0000-7000-8000-0000000001%02d\","
			    "\"type\":\"approval_request\",\"actor\":\"bot\",\"job_id\":\"P\","
			    "\"reason\":\"r\",%s\"approval\":{\"id\":\"PA%d\",\"job_hash\":\"h%d\"}"
			    "}",
			    i,
			    i == 6 ? "\"parent_event_id\":\"0190f0e0-0000-7000-8000-000000000104\","
			           : "",
			    i, i);
		else
			snprintf(buf, sizeof(buf),
			         "{\"event_id\":\"0190f0e0-0000-7000-8000-0000000001%02d\","
			         "\"type\":\"decision\",\"actor\":\"bot\",\"job_id\":\"P\","
			         "\"reason\":\"d%d\",\"policy\":{\"decision\":\"ALLOW\"}}",
			         i, i);
		append(log, buf);
	}
	append(log, "{\"type\":\"approval_resolved\",\"actor\":\"eve\",\"job_id\":\"P\","
	            "\"reason\":\"ok\",\"approval\":{\"id\":\"PA3\",\"resolution\":"
	            "\"approved\",\"resolved_by\":\"eve\"}}");

	/* Pages of two decisions: each page's joins look at the whole job. */
	assert_int_equal(atr_job_decisions_page(log, "P", 0, 2, &s, &next), 0);
	seqs(s, got, sizeof(got));
	assert_string_equal(got, "0,1");
	assert_int_equal(next, 2);
	j = json_loads(s, 0, NULL);
	atr_free(s);
	assert_string_equal(jstr(j, "1.job_hash"), "h3");
	assert_string_equal(jstr(j, "1.resolution"), "approved");
	json_decref(j);
	assert_int_equal(atr_job_decisions_page(log, "P", next, 2, &s, &next), 0);
	seqs(s, got, sizeof(got));
	assert_string_equal(got, "2,4");
	assert_int_equal(next, 5);
	j = json_loads(s, 0, NULL);
	atr_free(s);
	assert_string_equal(jstr(j, "0.job_hash"), "h3");
	assert_string_equal(jstr(j, "1.job_hash"), "h6");
	assert_string_equal(jstr(j, "1.resolution"), "pending");
	json_decref(j);
	assert_int_equal(atr_job_decisions_page(log, "P", next, 2, &s, &next), 0);
	seqs(s, got, sizeof(got));
	assert_string_equal(got, "5");
	assert_int_equal(next, 0);
	j = json_loads(s, 0, NULL);
	atr_free(s);
	assert_string_equal(jstr(j, "0.job_hash"), "h6");
	json_decref(j);
	assert_int_equal(atr_job_decisions_page(log, "P", 100, 2, &s, &next), 0);
	assert_string_equal(s, "[]");
	assert_int_equal(next, 0);
	atr_free(s);
	assert_int_equal(atr_job_decisions_page(log, "NONE", 0, 2, &s, &next), ATR_ENOTFOUND);

	/* The queue in pages: all three requests, then the two pending ones. */
	assert_int_equal(atr_approvals_new(&c), 0);
	assert_int_equal(atr_approvals_page(c, log, 1, 0, 2, &s, &next), 0);
	seqs(s, got, sizeof(got));
	atr_free(s);
	assert_string_equal(got, "3,6");
	assert_int_equal(next, 7);
	assert_int_equal(atr_approvals_page(c, log, 1, next, 2, &s, &next), 0);
	seqs(s, got, sizeof(got));
	atr_free(s);
	assert_string_equal(got, "7");
	assert_int_equal(next, 0);
	assert_int_equal(atr_approvals_page(c, log, 0, 0, 1, &s, &next), 0);
	seqs(s, got, sizeof(got));
	atr_free(s);
	assert_string_equal(got, "6");
	assert_int_equal(next, 7);
	/* Resolved between two pages: the next page simply no longer holds it. */
	append(log, "{\"type\":\"approval_resolved\",\"actor\":\"eve\",\"job_id\":\"P\","
	            "\"reason\":\"ok\",\"approval\":{\"id\":\"PA7\",\"resolution\":"
	            "\"rejected\",\"resolved_by\":\"eve\"}}");
	assert_int_equal(atr_approvals_page(c, log, 0, next, 1, &s, &next), 0);
	assert_string_equal(s, "[]");
	assert_int_equal(next, 0);
	atr_free(s);
	assert_int_equal(atr_approvals_page(c, log, 1, 7, 0, &s, &next), 0);
	assert_non_null(strstr(s, "\"resolution\":\"rejected\",\"resolved_by\":\"eve\""));
	atr_free(s);
	atr_approvals_free(c);

	/* More decisions and approvals than the state lists: capped, counted in full. */
	for (int i = 0; i < ATR_JOB_LIST_MAX + 5; i++) {
		append(log, "{\"type\":\"decision\",\"actor\":\"bot\",\"job_id\":\"P\","
		            "\"reason\":\"more\",\"policy\":{\"decision\":\"ALLOW\"}}");
		append(log, "{\"type\":\"approval_request\",\"actor\":\"bot\",\"job_id\":\"P\","
		            "\"reason\":\"more\",\"approval\":{\"id\":\"M\"}}");
	}
	j = job(log, "P");
	assert_int_equal(json_array_size(json_object_get(j, "decisions")), ATR_JOB_LIST_MAX);
	assert_int_equal(json_integer_value(json_object_get(j, "decisions_total")),
	                 5 + ATR_JOB_LIST_MAX + 5);
	assert_int_equal(json_array_size(json_object_get(j, "approvals")), ATR_JOB_LIST_MAX);
	assert_int_equal(json_integer_value(json_object_get(j, "approvals_total")),
	                 3 + ATR_JOB_LIST_MAX + 5);
	assert_int_equal(json_integer_value(json_object_get(j, "events")),
	                 10 + 2 * (ATR_JOB_LIST_MAX + 5));
	/* The requests "M" past the cap are unresolved: the state still sees them. */
	assert_string_equal(jstr(j, "status"), "awaiting_approval");
	json_decref(j);
	atr_log_free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_job_lifecycle, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_approvals_cache_follows_the_log, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_pages, tmpstore_setup, tmpstore_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

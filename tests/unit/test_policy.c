/*
 * Policies on a real log: names are checked, a publish appends one
 * policy_publish whose snapshot is the SHA-256 of the text (JSON documents
 * in canonical form), publishing what is in force appends nothing,
 * rollbacks step back through the versions, every reading answers from the
 * log (a page of history, a snapshot's text, erased and forged texts), and
 * decisions say whether the snapshot they cite is known.
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
#include <sqlite3.h>

#include <agentrail/agentrail.h>

#define ATR_TEST_NAME "test_policy"
#include "tmpstore.h"

static json_t *parse(char *text)
{
	json_t *j;

	assert_non_null(text);
	j = json_loads(text, 0, NULL);
	atr_free(text);
	assert_non_null(j);
	return j;
}

static const char *s(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static long long n(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static uint64_t size_of(atr_log *log)
{
	uint64_t size;

	assert_int_equal(atr_log_size(log, &size), 0);
	return size;
}

static json_t *publish(atr_log *log, const char *name, const char *doc, unsigned flags)
{
	char *out = NULL;

	assert_int_equal(atr_policy_publish(log, name, doc, flags, "alice", NULL, &out), 0);
	return parse(out);
}

static void snap(const char *text, char out[ATR_POLICY_SNAPSHOT_SIZE])
{
	atr_policy_snapshot_of(text, strlen(text), out);
}

static void test_names_and_snapshots(void **state)
{
	char name[300], out[ATR_POLICY_SNAPSHOT_SIZE];

	(void)state;
	assert_int_equal(atr_policy_name_check("deploy.rules_v2-x"), 0);
	assert_int_equal(atr_policy_name_check(""), ATR_EINVALID);
	assert_string_equal(atr_errmsg(), "a policy name is required");
	assert_int_equal(atr_policy_name_check(NULL), ATR_EINVALID);
	assert_int_equal(atr_policy_name_check("a/b"), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "'/' at 1"));
	assert_int_equal(atr_policy_name_check("a\nb"), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "byte 0x0a at 1"));
	assert_int_equal(atr_policy_name_check(".."), ATR_EINVALID);
	memset(name, 'n', 257);
	name[257] = '\0';
	assert_int_equal(atr_policy_name_check(name), ATR_EINVALID);
	assert_string_equal(atr_errmsg(), "policy name is 257 bytes; the limit is 256");
	name[256] = '\0';
	assert_int_equal(atr_policy_name_check(name), 0);
	/* FIPS 180-2's "abc". */
	snap("abc", out);
	assert_string_equal(
	    out, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_publish(void **state)
{
	atr_log *log;
	json_t *a, *b;
	char *out = NULL, s1[ATR_POLICY_SNAPSHOT_SIZE], big[1100001];
	atr_policy_change *c;

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	a = publish(log, "deploy", "rule one\n", 0);
	snap("rule one\n", s1);
	assert_string_equal(s(a, "snapshot"), s1);
	assert_string_equal(s(a, "name"), "deploy");
	assert_int_equal(n(a, "seq"), 0);
	assert_null(json_object_get(a, "unchanged"));
	/* The same document again: nothing appended, the first event answered. */
	b = publish(log, "deploy", "rule one\n", 0);
	assert_true(json_is_true(json_object_get(b, "unchanged")));
	assert_string_equal(s(b, "event_id"), s(a, "event_id"));
	assert_int_equal(size_of(log), 1);
	json_decref(a);
	json_decref(b);
	/* A document the ingest redaction would mask is refused, not stored masked. */
	assert_int_equal(atr_policy_publish(log, "keys", "use AKIAIOSFODNN7EXAMPLE to deploy", 0,
	                                    "alice", NULL, &out),
	                 ATR_EINVALID);
	assert_null(out);
	assert_non_null(strstr(atr_errmsg(), "aws_access_key"));
	assert_int_equal(size_of(log), 1);

	/* The two steps: prepare says there is nothing to append. */
	assert_int_equal(
	    atr_policy_publish_prepare(&c, log, "deploy", "rule one\n", 0, "bob", NULL), 0);
	assert_null(atr_policy_change_event(c));
	assert_int_equal(atr_policy_change_answer(c, NULL, &out), 0);
	a = parse(out);
	assert_int_equal(n(a, "seq"), 0);
	json_decref(a);
	atr_policy_change_free(c);

	/* JSON documents: canonical text, application/json. */
	a = publish(log, "limits",
	            " { \"b\" : [1, 2.50, \"\\u00e9\"], \"a\": {\"z\":1,\"y\":null}}",
	            ATR_POLICY_JSON);
	snap("{\"a\":{\"y\":null,\"z\":1},\"b\":[1,2.5,\"\xc3\xa9\"]}", s1);
	assert_string_equal(s(a, "snapshot"), s1);
	json_decref(a);
	/* The same JSON written differently is the same version. */
	a = publish(log, "limits", "{\"a\":{\"z\":1,\"y\":null},\"b\":[1,2.5,\"\xc3\xa9\"]}",
	            ATR_POLICY_JSON);
	assert_true(json_is_true(json_object_get(a, "unchanged")));
	json_decref(a);

	/* Refusals, each precise, none appending. */
	assert_int_equal(
	    atr_policy_publish(log, "x", "{\"a\":1,\"a\":2}", ATR_POLICY_JSON, "alice", NULL, &out),
	    ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "duplicate object key"));
	assert_int_equal(atr_policy_publish(log, "x", "42", ATR_POLICY_JSON, "alice", NULL, &out),
	                 ATR_EINVALID);
	assert_int_equal(atr_policy_publish(log, "x", "bad \xff utf-8", 0, "alice", NULL, &out),
	                 ATR_EINVALID);
	assert_string_equal(atr_errmsg(), "policy 'x': the document is not valid UTF-8");
	assert_int_equal(atr_policy_publish(log, "x", "text", 0, "", NULL, &out), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "actor"));
	assert_int_equal(atr_policy_publish(log, "x", NULL, 0, "alice", NULL, &out), ATR_EINVALID);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(atr_policy_publish(log, "x", big, 0, "alice", NULL, &out), ATR_ETOOBIG);
	assert_non_null(strstr(atr_errmsg(), "a document of 1100000 bytes is too big"));
	assert_non_null(strstr(atr_errmsg(), "the limit is 1048576"));
	/* Just under the limit as a record still fits. */
	big[1000000] = '\0';
	a = publish(log, "large", big, 0);
	json_decref(a);
	assert_null(out);
	assert_int_equal(size_of(log), 3);
	atr_log_free(log);
}

static void test_rollback(void **state)
{
	atr_log *log;
	json_t *a;
	char *out = NULL, v[3][ATR_POLICY_SNAPSHOT_SIZE];
	uint64_t next;

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_policy_rollback(log, "deploy", NULL, "alice", NULL, &out),
	                 ATR_ENOTFOUND);
	assert_string_equal(atr_errmsg(), "no policy 'deploy'");
	for (int i = 0; i < 3; i++) {
		char text[16];

		snprintf(text, sizeof(text), "v%d", i + 1);
		a = publish(log, "deploy", text, 0);
		snprintf(v[i], sizeof(v[i]), "%s", s(a, "snapshot"));
		json_decref(a);
	}
	a = publish(log, "other", "v1", 0); /* the same text under another name */
	json_decref(a);
	/* Each rollback steps one version further back. */
	assert_int_equal(atr_policy_rollback(log, "deploy", NULL, "alice", "bad", &out), 0);
	a = parse(out);
	assert_string_equal(s(a, "snapshot"), v[1]);
	assert_string_equal(s(a, "from"), v[2]);
	assert_int_equal(n(a, "seq"), 4);
	json_decref(a);
	assert_int_equal(atr_policy_rollback(log, "deploy", NULL, "alice", NULL, &out), 0);
	a = parse(out);
	assert_string_equal(s(a, "snapshot"), v[0]);
	json_decref(a);
	assert_int_equal(atr_policy_rollback(log, "deploy", NULL, "alice", NULL, &out),
	                 ATR_ECONFLICT);
	assert_non_null(strstr(atr_errmsg(), "no earlier version to roll back to"));
	assert_int_equal(atr_policy_rollback(log, "deploy", v[0], "alice", NULL, &out),
	                 ATR_ECONFLICT);
	assert_non_null(strstr(atr_errmsg(), "already in force"));
	assert_int_equal(atr_policy_rollback(log, "deploy", "sha256:00", "alice", NULL, &out),
	                 ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "was never published under policy 'deploy'"));
	/* Forward again to v3 by name, then back steps to v1. */
	assert_int_equal(atr_policy_rollback(log, "deploy", v[2], "alice", NULL, &out), 0);
	atr_free(out);
	assert_int_equal(atr_policy_rollback(log, "deploy", NULL, "alice", NULL, &out), 0);
	a = parse(out);
	assert_string_equal(s(a, "snapshot"), v[0]);
	json_decref(a);
	/* Publishing v1 (in force) appends nothing; v2 appends. */
	a = publish(log, "deploy", "v1", 0);
	assert_true(json_is_true(json_object_get(a, "unchanged")));
	json_decref(a);
	assert_int_equal(size_of(log), 8);

	/* The whole story, paged. */
	assert_int_equal(atr_policy_get(log, "deploy", 0, 3, &out, &next), 0);
	a = parse(out);
	assert_string_equal(s(a, "snapshot"), v[0]);
	assert_string_equal(s(a, "text"), "v1");
	assert_string_equal(s(a, "media_type"), "text/plain");
	assert_int_equal(n(a, "versions"), 3);
	assert_int_equal(n(a, "history_total"), 7);
	assert_int_equal(json_array_size(json_object_get(a, "history")), 3);
	assert_int_equal(next, 4); /* "other" took seq 3 */
	json_decref(a);
	assert_int_equal(atr_policy_get(log, "deploy", next, 0, &out, &next), 0);
	a = parse(out);
	assert_int_equal(json_array_size(json_object_get(a, "history")), 4);
	assert_string_equal(s(json_array_get(json_object_get(a, "history"), 0), "type"),
	                    "policy_rollback");
	assert_string_equal(s(json_array_get(json_object_get(a, "history"), 0), "reason"), "bad");
	assert_int_equal(next, 0);
	json_decref(a);
	assert_int_equal(atr_policy_get(log, "nope", 0, 0, &out, &next), ATR_ENOTFOUND);
	assert_int_equal(atr_policy_get(log, "a/b", 0, 0, &out, &next), ATR_EINVALID);

	/* A snapshot: its text and every publish carrying it. */
	assert_int_equal(atr_policy_snapshot_json(log, v[0], &out), 0);
	a = parse(out);
	assert_string_equal(s(a, "text"), "v1");
	assert_int_equal(json_array_size(json_object_get(a, "published")), 2);
	assert_string_equal(s(json_array_get(json_object_get(a, "published"), 1), "name"), "other");
	json_decref(a);

	/* Every policy, in name order. */
	assert_int_equal(atr_policy_list_json(log, &out), 0);
	a = parse(out);
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(s(json_array_get(a, 0), "name"), "deploy");
	assert_string_equal(s(json_array_get(a, 0), "snapshot"), v[0]);
	assert_int_equal(n(json_array_get(a, 0), "versions"), 3);
	assert_string_equal(s(json_array_get(a, 1), "name"), "other");
	json_decref(a);
	atr_log_free(log);
}

static void test_erased_and_forged(void **state)
{
	atr_log *log;
	sqlite3 *db;
	json_t *a;
	char *out = NULL, s1[ATR_POLICY_SNAPSHOT_SIZE];
	uint64_t next;
	int known;
	static const char forged[] =
	    "{\"type\":\"policy_publish\",\"actor\":\"mallory\",\"target\":\"f\",\"reason\":\"r\","
	    "\"policy\":{\"rule_id\":\"f\",\"snapshot\":\"sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000\"},"
	    "\"detail\":{\"name\":\"f\",\"document\":\"not that\"}}";

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	a = publish(log, "p", "secret rules", 0);
	snprintf(s1, sizeof(s1), "%s", s(a, "snapshot"));
	json_decref(a);
	assert_int_equal(atr_log_append(log, forged, strlen(forged), NULL), 0);
	assert_int_equal(atr_policy_known(log, s1, &known), 0);
	assert_int_equal(known, 1);
	assert_int_equal(atr_policy_known(log, "sha256:ff", &known), 0);
	assert_int_equal(known, 0);
	/* A text that does not hash to its snapshot is never served. */
	assert_int_equal(atr_policy_snapshot_json(log,
	                                          "sha256:00000000000000000000000000000000000000"
	                                          "00000000000000000000000000",
	                                          &out),
	                 ATR_ETAMPER);
	assert_non_null(strstr(atr_errmsg(), "at seq 1 does not hash to snapshot"));
	atr_log_free(log);

	/* Erase the payload (what retention does): the text is gone, said so. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM payloads WHERE seq = 0", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_policy_snapshot_json(log, s1, &out), ATR_EERASED);
	assert_non_null(strstr(atr_errmsg(), "was erased"));
	assert_int_equal(atr_policy_get(log, "p", 0, 0, &out, &next), 0);
	a = parse(out);
	assert_true(json_is_null(json_object_get(a, "text")));
	assert_true(json_is_true(json_object_get(a, "text_erased")));
	assert_string_equal(s(a, "snapshot"), s1);
	json_decref(a);
	/* Still known: the record keeps the snapshot. */
	assert_int_equal(atr_policy_known(log, s1, &known), 0);
	assert_int_equal(known, 1);
	atr_log_free(log);
}

static void test_snapshot_known(void **state)
{
	atr_log *log;
	json_t *a, *d;
	char *out = NULL, ev[512];
	char s1[ATR_POLICY_SNAPSHOT_SIZE];

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	a = publish(log, "gate", "allow reads", 0);
	snprintf(s1, sizeof(s1), "%s", s(a, "snapshot"));
	json_decref(a);
	snprintf(ev, sizeof(ev),
	         "{\"type\":\"decision\",\"actor\":\"g\",\"job_id\":\"J\",\"reason\":\"r\","
	         "\"policy\":{\"decision\":\"ALLOW\",\"snapshot\":\"%s\"}}",
	         "sha256:never");
	assert_int_equal(atr_log_append(log, ev, strlen(ev), NULL), 0);
	snprintf(ev, sizeof(ev),
	         "{\"type\":\"decision\",\"actor\":\"g\",\"job_id\":\"J\",\"reason\":\"r\","
	         "\"policy\":{\"decision\":\"ALLOW\",\"snapshot\":\"%s\"}}",
	         s1);
	assert_int_equal(atr_log_append(log, ev, strlen(ev), NULL), 0);
	snprintf(ev, sizeof(ev),
	         "{\"type\":\"decision\",\"actor\":\"g\",\"job_id\":\"J\",\"reason\":\"r\","
	         "\"policy\":{\"decision\":\"DENY\"}}");
	assert_int_equal(atr_log_append(log, ev, strlen(ev), NULL), 0);

	assert_int_equal(atr_job_json(log, "J", &out), 0);
	a = parse(out);
	d = json_object_get(a, "decisions");
	assert_true(json_is_false(json_object_get(json_array_get(d, 0), "snapshot_known")));
	assert_true(json_is_true(json_object_get(json_array_get(d, 1), "snapshot_known")));
	assert_true(json_is_null(json_object_get(json_array_get(d, 2), "snapshot_known")));
	assert_true(json_is_true(json_object_get(a, "policy_snapshot_known")));
	json_decref(a);
	assert_int_equal(atr_job_decisions_json(log, "J", &out), 0);
	a = parse(out);
	assert_true(json_is_false(json_object_get(json_array_get(a, 0), "snapshot_known")));
	assert_true(json_is_true(json_object_get(json_array_get(a, 1), "snapshot_known")));
	assert_true(json_is_null(json_object_get(json_array_get(a, 2), "snapshot_known")));
	json_decref(a);
	atr_log_free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_and_snapshots),
	    cmocka_unit_test_setup_teardown(test_publish, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_rollback, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_erased_and_forged, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_known, tmpstore_setup, tmpstore_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

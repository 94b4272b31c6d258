/*
 * The log layer through the public API: batches are atomic, re-sends are
 * idempotent, conflicts are refused, reads and proofs agree with the tree,
 * and two handles on one store see each other's appends.
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

#include <agentrail/agentrail.h>

#define ATR_TEST_NAME "test_log"
#include "tmpstore.h"

static atr_log *open_log(void)
{
	atr_log *log = NULL;

	assert_int_equal(atr_log_open(&log, path, 0), 0);
	return log;
}

static uint64_t size_of(atr_log *log)
{
	uint64_t n = 99;

	assert_int_equal(atr_log_size(log, &n), 0);
	return n;
}

static void append_ok(atr_log *log, const char *json, uint64_t want_seq)
{
	atr_append_result r;

	assert_int_equal(atr_log_append(log, json, strlen(json), &r), 0);
	assert_int_equal(r.seq, want_seq);
	assert_int_equal(r.duplicate, 0);
}

static void test_batch_is_atomic(void **state)
{
	atr_log *log = open_log();
	const char *evs[] = {
	    "{\"type\":\"tool_call\",\"actor\":\"a\",\"target\":\"bash\"}",
	    "{\"type\":\"tool_call\",\"actor\":\"a\",\"target\":\"bash\"}",
	    "{\"type\":\"decision\",\"actor\":\"a\",\"policy\":{\"decision\":\"DENY\"}}",
	};
	atr_append_result res[3];

	assert_int_equal(atr_log_append_batch(log, evs, NULL, 3, res), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "event 2:"));
	assert_non_null(strstr(atr_errmsg(), "reason"));
	assert_int_equal(size_of(log), 0);
	assert_int_equal(atr_log_append_batch(log, evs, NULL, 2, res), 0);
	assert_int_equal(res[0].seq, 0);
	assert_int_equal(res[1].seq, 1);
	assert_int_equal(size_of(log), 2);
	atr_log_free(log);
}

static void test_idempotent_and_conflict(void **state)
{
	atr_log *log = open_log();
	const char *e1 =
	    "{\"event_id\":\"0190F0E0-0000-7000-8000-000000000001\",\"type\":\"command\","
	    "\"actor\":\"a\",\"target\":\"make\",\"exit_code\":0}";
	const char *e1b =
	    "{\"event_id\":\"0190f0e0-0000-7000-8000-000000000001\",\"type\":\"command\","
	    "\"actor\":\"a\",\"target\":\"make\",\"exit_code\":1}";
	const char *e2 = "{\"type\":\"tool_call\",\"actor\":\"b\",\"target\":\"grep\"}";
	const char *pair[] = {e2, e1};
	const char *same[] = {e1, e1};
	atr_append_result r, rr[2];
	atr_record *rec;

	append_ok(log, e2, 0);
	append_ok(log, e1, 1);
	/* Re-send: same seq, nothing appended (the id differs only in case). */
	assert_int_equal(atr_log_append(log, e1, strlen(e1), &r), 0);
	assert_int_equal(r.seq, 1);
	assert_int_equal(r.duplicate, 1);
	assert_string_equal(r.event_id, "0190f0e0-0000-7000-8000-000000000001");
	/* The answer carries the leaf hash, for a re-send the original's. */
	atr_hash stored;
	assert_int_equal(atr_log_leaf_hash(log, 1, &stored), 0);
	assert_memory_equal(r.leaf_hash.b, stored.b, 32);
	assert_int_equal(size_of(log), 2);
	/* Same id, other content: refused, in a batch too, and nothing appended. */
	assert_int_equal(atr_log_append(log, e1b, strlen(e1b), &r), ATR_ECONFLICT);
	assert_non_null(strstr(atr_errmsg(), "already logged at seq 1"));
	const char *conflicting[] = {e2, e1b};
	assert_int_equal(atr_log_append_batch(log, conflicting, NULL, 2, rr), ATR_ECONFLICT);
	assert_non_null(strstr(atr_errmsg(), "event 1:"));
	assert_int_equal(size_of(log), 2);
	/* A batch with a new event and a re-send appends only the new one. */
	assert_int_equal(atr_log_append_batch(log, pair, NULL, 2, rr), 0);
	assert_int_equal(rr[0].seq, 2);
	assert_int_equal(rr[0].duplicate, 0);
	assert_int_equal(atr_log_leaf_hash(log, 2, &stored), 0);
	assert_memory_equal(rr[0].leaf_hash.b, stored.b, 32);
	assert_int_equal(rr[1].seq, 1);
	assert_int_equal(rr[1].duplicate, 1);
	/* The same new id twice in one batch: appended once. */
	assert_int_equal(atr_log_append_batch(log, same, NULL, 2, rr), 0);
	assert_int_equal(rr[0].seq, 1);
	assert_int_equal(rr[1].seq, 1);
	assert_int_equal(size_of(log), 3);

	assert_int_equal(atr_log_get_by_id(log, "0190f0e0-0000-7000-8000-000000000001", &rec), 0);
	assert_int_equal(atr_record_seq(rec), 1);
	assert_string_equal(atr_record_str(rec, "type"), "command");
	int64_t code = -1;
	assert_int_equal(atr_record_int(rec, "exit_code", &code), 0);
	assert_int_equal(code, 0);
	atr_record_free(rec);
	assert_int_equal(atr_log_get(log, 7, &rec), ATR_ENOTFOUND);
	assert_null(rec);
	atr_log_free(log);
}

static void test_proofs_match_records(void **state)
{
	atr_log *log = open_log();
	char json[256];
	atr_hash leaves[300], root, root2, *path_ = NULL;
	size_t n;

	for (int i = 0; i < 300; i++) {
		atr_record *rec;
		const char *bytes;
		size_t len;

		snprintf(json, sizeof(json),
		         "{\"type\":\"file_read\",\"actor\":\"a%d\",\"target\":\"/src/%d.c\","
		         "\"detail\":{\"i\":%d}}",
		         i % 7, i, i);
		append_ok(log, json, (uint64_t)i);
		assert_int_equal(atr_log_get(log, (uint64_t)i, &rec), 0);
		bytes = atr_record_bytes(rec, &len);
		atr_leaf_hash(&leaves[i], bytes, len);
		atr_record_free(rec);
	}
	for (uint64_t size = 1; size <= 300; size += 37) {
		atr_root_from_leaves(&root2, leaves, size);
		assert_int_equal(atr_log_root(log, size, &root), 0);
		assert_memory_equal(root.b, root2.b, 32);
		for (uint64_t i = 0; i < size; i += 11) {
			assert_int_equal(atr_log_inclusion_proof(log, i, size, &path_, &n), 0);
			assert_int_equal(atr_verify_inclusion(&leaves[i], i, size, path_, n, &root),
			                 0);
			atr_free(path_);
		}
		atr_root_from_leaves(&root2, leaves, 300);
		assert_int_equal(atr_log_consistency_proof(log, size, 300, &path_, &n), 0);
		assert_int_equal(atr_verify_consistency(size, 300, &root, &root2, path_, n), 0);
		atr_free(path_);
	}
	assert_int_equal(atr_log_root(log, 301, &root), ATR_EINVALID);

	atr_verify_result vr;
	assert_int_equal(atr_log_verify(log, NULL, NULL, NULL, &vr), 0);
	assert_int_equal(vr.status, ATR_VERIFY_UNANCHORED);
	assert_int_equal(vr.records, 300);
	assert_memory_equal(vr.root.b, root2.b, 32);
	atr_log_free(log);
}

static void test_two_handles(void **state)
{
	atr_log *a = open_log(), *b = open_log();
	const char *ev = "{\"type\":\"output\",\"actor\":\"x\"}";
	atr_hash ra, rb;

	for (int i = 0; i < 600; i++) {
		atr_log *w = (i / 100) % 2 ? b : a;

		append_ok(w, ev, (uint64_t)i);
	}
	assert_int_equal(size_of(a), 600);
	assert_int_equal(atr_log_root(a, 600, &ra), 0);
	assert_int_equal(atr_log_root(b, 600, &rb), 0);
	assert_memory_equal(ra.b, rb.b, 32);

	atr_verify_result vr;
	assert_int_equal(atr_log_verify(b, NULL, NULL, NULL, &vr), 0);
	assert_int_equal(vr.status, ATR_VERIFY_UNANCHORED);
	assert_memory_equal(vr.root.b, ra.b, 32);
	atr_log_free(a);
	atr_log_free(b);
}

static void test_query_cursor(void **state)
{
	atr_log *log = open_log();
	const char *evs[] = {
	    "{\"type\":\"session_start\",\"actor\":\"a\",\"session_id\":\"s1\"}",
	    "{\"type\":\"tool_call\",\"actor\":\"a\",\"target\":\"/repo/x\",\"session_id\":\"s1\"}",
	    "{\"type\":\"tool_call\",\"actor\":\"b\",\"target\":\"/etc/y\",\"session_id\":\"s2\"}",
	    "{\"type\":\"decision\",\"actor\":\"a\",\"reason\":\"r\",\"session_id\":\"s1\","
	    "\"policy\":{\"decision\":\"ALLOW\"}}",
	};
	atr_query q = {.session_id = "s1", .descending = 1};
	const atr_record *rec;
	atr_cursor *cur;
	uint64_t want[] = {3, 1, 0}, k = 0;

	assert_int_equal(atr_log_append_batch(log, evs, NULL, 4, NULL), 0);
	assert_int_equal(atr_log_query(log, &q, &cur), 0);
	while (atr_cursor_next(cur, &rec) == 1) {
		assert_true(k < 3);
		assert_int_equal(atr_record_seq(rec), want[k++]);
	}
	assert_int_equal(k, 3);
	atr_cursor_free(cur);

	atr_query q2 = {.level = "decision"};
	assert_int_equal(atr_log_query(log, &q2, &cur), 0);
	assert_int_equal(atr_cursor_next(cur, &rec), 1);
	assert_int_equal(atr_record_seq(rec), 3);
	assert_string_equal(atr_record_str(rec, "policy.decision"), "ALLOW");
	char *json;
	assert_int_equal(atr_record_to_json(rec, &json), 0);
	assert_non_null(strstr(json, "\"detail\":{}"));
	atr_free(json);
	assert_int_equal(atr_cursor_next(cur, &rec), 0);
	atr_cursor_free(cur);
	atr_log_free(log);
}

/* The progress callback: every 65,536 records read, with the count so far. */
static void on_progress(void *ctx, uint64_t records)
{
	uint64_t *seen = ctx;

	assert_int_equal(records, (seen[0] + 1) * 65536);
	seen[0]++;
}

static void test_verify_progress(void **state)
{
	enum { N = 140000, BATCH = 10000 };
	atr_log *log = open_log();
	const char *evs[BATCH];
	atr_verify_opts opts = {.progress = on_progress};
	atr_verify_result vr;
	uint64_t seen = 0;

	(void)state;
	for (int i = 0; i < BATCH; i++)
		evs[i] = "{\"type\":\"output\",\"actor\":\"a\"}";
	for (int i = 0; i < N / BATCH; i++)
		assert_int_equal(atr_log_append_batch(log, evs, NULL, BATCH, NULL), 0);
	opts.progress_ctx = &seen;
	assert_int_equal(atr_log_verify(log, &opts, NULL, NULL, &vr), 0);
	assert_int_equal(vr.records, N);
	assert_int_equal(seen, N / 65536);
	atr_log_free(log);
}

static void test_open_errors(void **state)
{
	atr_log *log = (atr_log *)1;

	assert_int_equal(atr_log_open(&log, "mysql://localhost/x", 0), ATR_EUNSUPPORTED);
	assert_null(log);
	/* A PostgreSQL store nobody listens for (docs/postgres.md). */
	assert_int_equal(atr_log_open(&log, "postgres://u@127.0.0.1:1/x?log=a", 0), ATR_EIO);
	assert_null(log);
	assert_int_equal(atr_log_open(&log, "/nonexistent-dir-xyz/none.db", ATR_OPEN_READONLY),
	                 ATR_ENOTFOUND);
	assert_null(log);
	assert_int_equal(atr_log_open(&log, "sqlite:", 0), ATR_EINVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_batch_is_atomic, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_idempotent_and_conflict, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_proofs_match_records, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_two_handles, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_query_cursor, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_verify_progress, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

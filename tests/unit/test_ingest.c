/*
 * Group commit through the public API: concurrent submitters share
 * transactions, each request is atomic on its own (a bad or conflicting one
 * fails alone), a full queue answers ATR_EBUSY, and freeing the ingest
 * answers everything already submitted.
 */
#include <pthread.h>
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
#include <sqlite3.h>

#include <agentrail/agentrail.h>

#define ATR_TEST_NAME "test_ingest"
#include "tmpstore.h"

struct worker {
	atr_ingest *ing;
	int id, count, failures;
};

static void *submit_many(void *arg)
{
	struct worker *w = arg;
	char json[200];

	for (int i = 0; i < w->count; i++) {
		const char *t = json;
		atr_append_result r;

		snprintf(json, sizeof(json),
		         "{\"type\":\"tool_call\",\"actor\":\"w%d\",\"target\":\"t%d\"}", w->id, i);
		if (atr_ingest_submit(w->ing, &t, NULL, 1, &r) != 0)
			w->failures++;
	}
	return NULL;
}

static void test_concurrent_singles_share_commits(void **state)
{
	atr_log *log;
	atr_ingest *ing;
	struct worker w[8];
	pthread_t th[8];
	atr_ingest_stats st;
	atr_verify_result vr;
	uint64_t size;

	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_ingest_new(&ing, log, 0), 0);
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ing, i, 300, 0};
		assert_int_equal(pthread_create(&th[i], NULL, submit_many, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	atr_ingest_stats_get(ing, &st);
	assert_int_equal(st.events, 2400);
	assert_int_equal(st.requests, 2400);
	assert_true(st.commits < st.requests); /* requests shared fsyncs */
	atr_ingest_free(ing);
	assert_int_equal(atr_log_size(log, &size), 0);
	assert_int_equal(size, 2400);
	assert_int_equal(atr_log_verify(log, NULL, NULL, NULL, &vr), 0);
	assert_int_equal(vr.status, ATR_VERIFY_UNANCHORED);
	atr_log_free(log);
}

/* Hold the store's write lock from outside, so requests pile up in the queue. */
static sqlite3 *hold_lock(void)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

struct one {
	atr_ingest *ing;
	const char *jsons[3];
	size_t n;
	int rc;
	char msg[300];
	atr_append_result res[3];
};

static void *submit_one(void *arg)
{
	struct one *o = arg;

	o->rc = atr_ingest_submit(o->ing, o->jsons, NULL, o->n, o->res);
	snprintf(o->msg, sizeof(o->msg), "%s", atr_errmsg());
	return NULL;
}

static void wait_queued(atr_ingest *ing, uint64_t want)
{
	atr_ingest_stats st;

	for (int i = 0; i < 2000; i++) {
		atr_ingest_stats_get(ing, &st);
		if (st.queued >= want)
			return;
		usleep(1000);
	}
	fail_msg("the queue never reached %llu events", (unsigned long long)want);
}

static void test_one_group_many_fates(void **state)
{
	const char *ok = "{\"type\":\"output\",\"actor\":\"a\"}";
	const char *bad =
	    "{\"type\":\"decision\",\"actor\":\"a\",\"policy\":{\"decision\":\"DENY\"}}";
	const char *id1 =
	    "{\"event_id\":\"0190f0e0-0000-7000-8000-0000000000aa\",\"type\":\"output\","
	    "\"actor\":\"a\"}";
	const char *id1x =
	    "{\"event_id\":\"0190f0e0-0000-7000-8000-0000000000aa\",\"type\":\"output\","
	    "\"actor\":\"b\"}";
	struct one o[4] = {
	    {.jsons = {ok, ok}, .n = 2},
	    {.jsons = {ok, bad}, .n = 2}, /* invalid: fails alone */
	    {.jsons = {id1}, .n = 1},
	    {.jsons = {id1x}, .n = 1}, /* same id, other content, same transaction */
	};
	atr_log *log;
	atr_ingest *ing;
	pthread_t th[4];
	sqlite3 *lock;
	uint64_t size;
	atr_ingest_stats st;

	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_ingest_new(&ing, log, 0), 0);
	/* A first request, so the writer is blocked on the lock while the others queue up. */
	lock = hold_lock();
	struct one first = {.ing = ing, .jsons = {ok}, .n = 1};
	pthread_t tf;
	assert_int_equal(pthread_create(&tf, NULL, submit_one, &first), 0);
	usleep(100000);
	static const uint64_t queued_after[4] = {2, 4, 5, 6}; /* keeps the order fixed */
	for (int i = 0; i < 4; i++) {
		o[i].ing = ing;
		assert_int_equal(pthread_create(&th[i], NULL, submit_one, &o[i]), 0);
		wait_queued(ing, queued_after[i]);
	}
	sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(lock);
	pthread_join(tf, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(first.rc, 0);
	assert_int_equal(o[0].rc, 0);
	assert_int_equal(o[1].rc, ATR_EINVALID);
	assert_non_null(strstr(o[1].msg, "event 1:"));
	assert_non_null(strstr(o[1].msg, "reason"));
	assert_int_equal(o[2].rc, 0);
	assert_int_equal(o[3].rc, ATR_ECONFLICT);
	assert_non_null(strstr(o[3].msg, "0190f0e0-0000-7000-8000-0000000000aa"));
	/* first (1) + o[0] (2) + o[2] (1): the four requests after 'first' shared one commit. */
	atr_ingest_stats_get(ing, &st);
	assert_int_equal(st.commits, 2);
	assert_int_equal(st.events, 4); /* appended only: refused requests count nothing */
	/* A re-send is answered, not appended, and not counted. */
	const char *again[] = {id1};
	atr_append_result rr;
	assert_int_equal(atr_ingest_submit(ing, again, NULL, 1, &rr), 0);
	assert_int_equal(rr.duplicate, 1);
	assert_int_equal(rr.seq, 3);
	atr_ingest_stats_get(ing, &st);
	assert_int_equal(st.events, 4);
	assert_int_equal(st.requests, 6);
	atr_ingest_free(ing);
	assert_int_equal(atr_log_size(log, &size), 0);
	assert_int_equal(size, 4);
	assert_int_equal(o[0].res[0].seq, 1);
	assert_int_equal(o[0].res[1].seq, 2);
	assert_int_equal(o[2].res[0].seq, 3);
	atr_log_free(log);
}

static void test_full_queue_is_busy(void **state)
{
	const char *ok = "{\"type\":\"output\",\"actor\":\"a\"}";
	atr_log *log;
	atr_ingest *ing;
	struct one a = {.jsons = {ok}, .n = 1}, b = {.jsons = {ok, ok, ok}, .n = 3};
	pthread_t ta, tb;
	sqlite3 *lock;

	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_ingest_new(&ing, log, 4), 0);
	lock = hold_lock();
	a.ing = b.ing = ing;
	assert_int_equal(pthread_create(&ta, NULL, submit_one, &a), 0); /* taken by the writer */
	usleep(100000);
	assert_int_equal(pthread_create(&tb, NULL, submit_one, &b), 0); /* waits in the queue */
	wait_queued(ing, 3);
	const char *two[] = {ok, ok};
	assert_int_equal(atr_ingest_submit(ing, two, NULL, 2, NULL), ATR_EBUSY);
	assert_non_null(strstr(atr_errmsg(), "queue is full"));
	sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(lock);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	atr_ingest_free(ing);
	atr_log_free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_concurrent_singles_share_commits, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_one_group_many_fates, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_full_queue_is_busy, tmpstore_setup,
	                                    tmpstore_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

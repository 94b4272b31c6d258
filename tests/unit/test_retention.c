/*
 * Retention and erasure through the library: durations, settings as a
 * policy, prune of payloads and records, erase, the legal hold, an
 * interrupted run, and after each step a verify that is OK and an inclusion
 * proof of every remaining record against the signed checkpoint's root.
 */
#define ATR_TEST_NAME "retention"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <agentrail/agentrail.h>

#include "tmpstore.h"

#define NEVENTS 1200
/* 2025-01-01T00:00:00Z and the "now" the tests judge ages by. */
#define T0  1735689600LL
#define NOW (T0 + 400LL * 86400)

/* A store of NEVENTS events, one every 8 hours from T0; four users, twelve sessions. */
static atr_log *fill(void)
{
	atr_log *log;
	char ev[512], ts[28];
	const char *evs[NEVENTS];
	char(*buf)[512] = malloc(NEVENTS * sizeof(*buf));

	assert_non_null(buf);
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	for (int i = 0; i < NEVENTS; i++) {
		atr_time_format((T0 + (int64_t)i * 8 * 3600) * 1000000, ts);
		snprintf(ev, sizeof(ev),
		         "{\"type\":\"%s\",\"actor\":\"a\",\"target\":\"t\",\"reason\":\"r\","
		         "\"user_id\":\"u%d\",\"session_id\":\"s%d\",\"ts\":\"%s\","
		         "\"detail\":{\"i\":%d}}",
		         i % 50 == 0 ? "token_change" : "tool_call", i % 4, i / 100, ts, i);
		memcpy(buf[i], ev, sizeof(ev));
		evs[i] = buf[i];
	}
	assert_int_equal(atr_log_append_batch(log, evs, NULL, NEVENTS, NULL), 0);
	free(buf);
	return log;
}

struct keys {
	atr_signer *s;
	atr_verifier *v;
};

static void keys_new(struct keys *k)
{
	char *sk, *vk;

	assert_int_equal(atr_keygen("test/retention", &sk, &vk), 0);
	assert_int_equal(atr_signer_new(&k->s, sk), 0);
	assert_int_equal(atr_verifier_new(&k->v, vk), 0);
	atr_free(sk);
	atr_free(vk);
}

static void keys_free(struct keys *k)
{
	atr_signer_free(k->s);
	atr_verifier_free(k->v);
}

/*
 * Sign, verify with the key (OK, with 'erased' and 'pruned' as given), and
 * prove every remaining record's inclusion against the signed root.
 */
static void check_all(atr_log *log, const struct keys *k, uint64_t erased, uint64_t pruned)
{
	const atr_verifier *vs[1] = {k->v};
	atr_verify_opts opts = {.keys = vs, .nkeys = 1};
	atr_verify_result res;
	atr_checkpoint cp;
	uint64_t size, proven = 0;
	char *note;

	assert_int_equal(atr_log_checkpoint_sign(log, k->s, &note, &cp), 0);
	atr_free(note);
	assert_int_equal(atr_log_verify(log, &opts, NULL, NULL, &res), 0);
	assert_int_equal(res.status, ATR_VERIFY_OK);
	assert_int_equal(res.erased, erased);
	assert_int_equal(res.pruned, pruned);
	assert_int_equal(atr_log_size(log, &size), 0);
	assert_int_equal(cp.size, size);
	assert_int_equal(res.records, size - pruned);
	for (uint64_t seq = pruned; seq < size; seq++) {
		atr_record *rec;
		atr_hash leaf, *p;
		const char *bytes;
		size_t len, n;

		assert_int_equal(atr_log_get(log, seq, &rec), 0);
		bytes = atr_record_bytes(rec, &len);
		atr_leaf_hash(&leaf, bytes, len);
		atr_record_free(rec);
		assert_int_equal(atr_log_inclusion_proof(log, seq, size, &p, &n), 0);
		assert_int_equal(atr_verify_inclusion(&leaf, seq, size, p, n, &cp.root), 0);
		atr_free(p);
		proven++;
	}
	assert_int_equal(proven, size - pruned);
}

static uint64_t count_type(atr_log *log, const char *type)
{
	atr_query q = {.type = type};
	atr_cursor *cur;
	const atr_record *r;
	uint64_t n = 0;

	assert_int_equal(atr_log_query(log, &q, &cur), 0);
	while (atr_cursor_next(cur, &r) > 0)
		n++;
	atr_cursor_free(cur);
	return n;
}

static void test_durations(void **state)
{
	int64_t s;

	(void)state;
	assert_int_equal(atr_duration_parse("90d", &s), 0);
	assert_int_equal(s, 90 * 86400);
	assert_int_equal(atr_duration_parse("7y", &s), 0);
	assert_int_equal(s, 7 * 365 * 86400LL);
	assert_int_equal(atr_duration_parse("2w", &s), 0);
	assert_int_equal(s, 14 * 86400);
	assert_int_equal(atr_duration_parse("36h", &s), 0);
	assert_int_equal(s, 36 * 3600);
	assert_int_equal(atr_duration_parse("90", &s), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "no valid unit"));
	assert_int_equal(atr_duration_parse("0d", &s), ATR_EINVALID);
	assert_int_equal(atr_duration_parse("d", &s), ATR_EINVALID);
	assert_int_equal(atr_duration_parse("-1d", &s), ATR_EINVALID);
	assert_int_equal(atr_duration_parse("1dd", &s), ATR_EINVALID);
	assert_int_equal(atr_duration_parse("1001y", &s), ATR_EINVALID);
	assert_int_equal(atr_duration_parse("99999999999999999999d", &s), ATR_EINVALID);
	assert_int_equal(atr_duration_parse("", &s), ATR_EINVALID);
}

static void test_settings(void **state)
{
	atr_log *log;
	atr_retention r;
	int changed;

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_retention_get(log, &r), 0);
	assert_int_equal(r.set, 0);
	assert_int_equal(atr_retention_set(log, "90d", "7y", -1, "ops", NULL, &r, &changed), 0);
	assert_int_equal(changed, 1);
	assert_string_equal(r.payloads, "90d");
	assert_string_equal(r.records, "7y");
	assert_int_equal(r.legal_hold, 0);
	assert_int_equal(r.seq, 0);
	/* Unspecified fields keep their value; the same settings append nothing. */
	assert_int_equal(atr_retention_set(log, NULL, NULL, 1, "ops", "hold", &r, &changed), 0);
	assert_int_equal(changed, 1);
	assert_string_equal(r.payloads, "90d");
	assert_int_equal(r.legal_hold, 1);
	assert_int_equal(atr_retention_set(log, NULL, NULL, 1, "ops", NULL, &r, &changed), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(atr_retention_set(log, "none", NULL, 0, "ops", NULL, &r, &changed), 0);
	assert_string_equal(r.payloads, "");
	assert_int_equal(atr_retention_set(log, "5q", NULL, -1, "ops", NULL, &r, NULL),
	                 ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "payloads"));
	assert_int_equal(atr_retention_set(log, "5d", NULL, -1, "", NULL, &r, NULL), ATR_EINVALID);
	assert_int_equal(count_type(log, "policy_publish"), 3);
	/* The document is the policy's text, hashing to its snapshot. */
	{
		atr_record *rec;
		const char *d;

		assert_int_equal(atr_log_get(log, r.seq, &rec), 0);
		d = atr_record_detail(rec, NULL);
		assert_non_null(strstr(d, "{\\\"legal_hold\\\":false,\\\"payloads\\\":null,"
		                          "\\\"records\\\":\\\"7y\\\"}"));
		atr_record_free(rec);
	}
	atr_log_free(log);
}

static void test_prune_erase(void **state)
{
	atr_erasure_result res;
	struct keys k;
	atr_log *log = fill();
	atr_record *rec;
	uint64_t size, size2, erased;

	(void)state;
	keys_new(&k);
	check_all(log, &k, 0, 0);
	/* Payloads older than 100 days as of NOW: events before day 300, i < 900. */
	assert_int_equal(atr_retention_set(log, "100d", "200d", -1, "ops", NULL, NULL, NULL), 0);
	assert_int_equal(atr_log_size(log, &size), 0);
	assert_int_equal(atr_log_prune(log, ATR_PRUNE_DRY_RUN | ATR_PRUNE_RECORDS, NOW * 1000000,
	                               "ops", NULL, &res),
	                 0);
	/* 18 token_change below 900 keep theirs; those below 512 go with their records */
	assert_int_equal(res.payloads, 900 - 18 - (512 - 11));
	assert_int_equal(res.below, 512);
	assert_int_equal(res.events, 0);
	assert_int_equal(atr_log_size(log, &size2), 0);
	assert_int_equal(size2, size);
	assert_int_equal(atr_log_prune(log, 0, NOW * 1000000, "ops", NULL, &res), 0);
	assert_int_equal(res.payloads, 900 - 18);
	assert_int_equal(res.events, 1);
	assert_int_equal(res.first_event, size);
	assert_int_equal(count_type(log, "erasure"), 1);
	erased = 900 - 18;
	check_all(log, &k, erased, 0);
	/* Records older than 200 days: before i = 600, so below 512. */
	assert_int_equal(atr_log_prune(log, ATR_PRUNE_RECORDS, NOW * 1000000, "ops", NULL, &res),
	                 0);
	assert_int_equal(res.records, 512);
	assert_int_equal(res.below, 512);
	assert_int_equal(res.payloads, 0);
	erased -= 512 - 11; /* the pruned records' erased payloads are no longer counted */
	check_all(log, &k, erased, 512);
	assert_int_equal(atr_log_get(log, 100, &rec), ATR_ENOTFOUND);
	assert_string_equal(atr_errmsg(), "record 100 was pruned (records below 512 are pruned)");
	assert_int_equal(atr_log_get(log, 512, &rec), 0);
	atr_record_free(rec);
	/* Erase a user (i % 4 == 1 from 900 on: 75 payloads) and a session (s11: 1100..1199). */
	assert_int_equal(atr_log_erase(log, "u1", NULL, 0, "ops", NULL, &res), ATR_EINVALID);
	assert_int_equal(atr_log_erase(log, "u1", NULL, 0, "ops", "request 1", &res), 0);
	assert_int_equal(res.payloads, 75);
	assert_int_equal(res.ranges, 75);
	erased += 75;
	check_all(log, &k, erased, 512);
	assert_int_equal(atr_log_erase(log, NULL, "s11", 0, "ops", "request 2", &res), 0);
	assert_int_equal(res.payloads, 100 - 25);
	erased += 100 - 25;
	check_all(log, &k, erased, 512);
	assert_int_equal(atr_log_erase(log, NULL, "s11", 0, "ops", "request 2", &res), 0);
	assert_int_equal(res.events, 0);
	/* Legal hold: refused, nothing appended. */
	assert_int_equal(atr_retention_set(log, NULL, NULL, 1, "ops", NULL, NULL, NULL), 0);
	assert_int_equal(atr_log_size(log, &size), 0);
	assert_int_equal(atr_log_prune(log, 0, NOW * 1000000, "ops", NULL, &res), ATR_ECONFLICT);
	assert_non_null(strstr(atr_errmsg(), "legal hold is on"));
	assert_int_equal(atr_log_erase(log, "u2", NULL, 0, "ops", "r", &res), ATR_ECONFLICT);
	assert_int_equal(atr_log_size(log, &size2), 0);
	assert_int_equal(size2, size);
	assert_int_equal(atr_retention_set(log, NULL, NULL, 0, "ops", NULL, NULL, NULL), 0);
	/* An interrupted run: the erasure event is in, its payloads not yet deleted. */
	{
		const char *ev = "{\"type\":\"erasure\",\"actor\":\"ops\",\"target\":\"user:u2\","
		                 "\"reason\":\"r\",\"detail\":{\"kind\":\"erase\",\"payloads\":{"
		                 "\"count\":2,\"ranges\":[[902,902],[906,906]]}}}";

		assert_int_equal(atr_log_append(log, ev, strlen(ev), NULL), 0);
		check_all(log, &k, erased, 512);
		assert_int_equal(atr_log_prune(log, 0, NOW * 1000000, "ops", NULL, &res), 0);
		assert_int_equal(res.resumed, 2);
		assert_int_equal(res.events, 0);
		erased += 2;
		check_all(log, &k, erased, 512);
	}
	keys_free(&k);
	atr_log_free(log);
}

/* Records pruning stops at the newest signed checkpoint, and keeps every policy in force. */
static void test_prune_limits(void **state)
{
	atr_erasure_result res;
	struct keys k;
	atr_log *log = fill();
	atr_retention r;
	char *note;
	const char *pol =
	    "{\"type\":\"policy_publish\",\"actor\":\"ops\",\"target\":\"p1\","
	    "\"reason\":\"r\",\"policy\":{\"rule_id\":\"p1\",\"snapshot\":"
	    "\"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}"
	    ",\"detail\":{\"name\":\"p1\",\"document\":\"abc\",\"media_type\":"
	    "\"text/plain\"},\"ts\":\"2025-01-01T00:00:00Z\"}";

	(void)state;
	keys_new(&k);
	assert_int_equal(atr_retention_set(log, NULL, "1d", -1, "ops", NULL, NULL, NULL), 0);
	/* No checkpoint: nothing below can be pruned. */
	assert_int_equal(atr_log_prune(log, ATR_PRUNE_RECORDS, NOW * 1000000, "ops", NULL, &res),
	                 0);
	assert_int_equal(res.records, 0);
	assert_non_null(strstr(res.limit, "no signed checkpoint"));
	assert_int_equal(atr_log_prune(log, 0, NOW * 1000000, "ops", NULL, &res), 0);
	assert_int_equal(res.events, 0);
	/* A policy published early (seq 1201) and a checkpoint covering 1202. */
	assert_int_equal(atr_log_append(log, pol, strlen(pol), NULL), 0);
	assert_int_equal(atr_log_checkpoint_sign(log, k.s, &note, NULL), 0);
	atr_free(note);
	assert_int_equal(atr_log_prune(log, ATR_PRUNE_RECORDS, NOW * 1000000, "ops", NULL, &res),
	                 0);
	assert_int_equal(res.below, 1024);
	assert_int_equal(res.carried, 0); /* both policies are above 1024 */
	check_all(log, &k, 0, 1024);
	assert_int_equal(atr_retention_get(log, &r), 0);
	assert_string_equal(r.records, "1d");
	keys_free(&k);
	atr_log_free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test_setup_teardown(test_settings, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_prune_erase, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_prune_limits, tmpstore_setup, tmpstore_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

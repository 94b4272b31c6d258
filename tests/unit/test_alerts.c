/*
 * The alert engine on a real log: every rule fires where it should and
 * not just below its threshold, alert events are valid events that point
 * at their trigger and never alert themselves, re-evaluating a record
 * appends nothing twice, a restarted engine resumes and warms up from the
 * log, and the list filters and pages.
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

#define ATR_TEST_NAME "test_alerts"
#include "tmpstore.h"

/* 2026-04-01T10:00:00Z */
#define T0 1775037600000000LL

struct fx {
	atr_log *log;
	atr_alerts *eng;
	json_t *got; /* the alerts fired: [{rule, severity, seq, json}] */
};

static int on_alert(void *ctx, const atr_alert *al)
{
	struct fx *f = ctx;

	json_array_append_new(f->got,
	                      json_pack("{s:s, s:s, s:I, s:s, s:s}", "rule", al->rule, "severity",
	                                al->severity, "seq", (json_int_t)al->trigger_seq, "id",
	                                al->event_id, "json", al->json));
	return 0;
}

static void fx_open(struct fx *f, const atr_alert_rules *rules)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(atr_log_open(&f->log, path, 0), 0);
	assert_int_equal(atr_alerts_new(&f->eng, rules), 0);
	atr_alerts_set_log(f->eng, f->log);
	f->got = json_array();
}

static void fx_close(struct fx *f)
{
	atr_alerts_free(f->eng);
	atr_log_free(f->log);
	json_decref(f->got);
}

/* Append 'fields' (JSON members without braces) at T0 + 'sec' seconds; the record's seq. */
static uint64_t put(struct fx *f, int64_t sec, const char *fields)
{
	char ts[28], buf[4096];
	atr_append_result res;

	atr_time_format(T0 + sec * 1000000, ts);
	snprintf(buf, sizeof(buf), "{\"ts\":\"%s\",%s}", ts, fields);
	if (atr_log_append(f->log, buf, strlen(buf), &res) != 0)
		fail_msg("append %s: %s", buf, atr_errmsg());
	return res.seq;
}

/* Append and feed; how many alerts it fired. */
static size_t feed(struct fx *f, int64_t sec, const char *fields)
{
	size_t before = json_array_size(f->got);
	uint64_t seq = put(f, sec, fields);
	atr_record *rec;

	assert_int_equal(atr_log_get(f->log, seq, &rec), 0);
	assert_int_equal(atr_alerts_feed(f->eng, rec, 0, on_alert, f), 0);
	atr_record_free(rec);
	return json_array_size(f->got) - before;
}

static const char *last(struct fx *f, const char *key)
{
	return json_string_value(
	    json_object_get(json_array_get(f->got, json_array_size(f->got) - 1), key));
}

static json_t *last_event(struct fx *f)
{
	json_t *e = json_loads(last(f, "json"), 0, NULL);

	assert_non_null(e);
	return e;
}

static void test_sensitive_paths(void **state)
{
	static const char *const extra[] = {"*.key"};
	atr_alert_rules r = {.sensitive = extra, .nsensitive = 1};
	struct fx f;
	atr_append_result res;
	atr_record *rec;
	json_t *e;
	uint64_t seq;

	(void)state;
	fx_open(&f, &r);
	assert_int_equal(feed(&f, 0,
	                      "\"type\":\"file_read\",\"actor\":\"a\",\"target\":\"/home/u/.ssh/"
	                      "id_rsa\",\"session_id\":\"s1\",\"job_id\":\"j1\""),
	                 1);
	assert_string_equal(last(&f, "rule"), "sensitive_path");
	assert_string_equal(last(&f, "severity"), "medium");
	e = last_event(&f);
	assert_string_equal(json_string_value(json_object_get(e, "type")), "alert");
	assert_string_equal(json_string_value(json_object_get(e, "actor")), "agentrail-alerts");
	assert_string_equal(json_string_value(json_object_get(e, "target")), "sensitive_path");
	assert_string_equal(json_string_value(json_object_get(e, "session_id")), "s1");
	assert_string_equal(json_string_value(json_object_get(e, "job_id")), "j1");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(e, "detail"), "trigger_seq")), 0);
	assert_non_null(
	    strstr(json_string_value(json_object_get(e, "reason")), "/home/u/.ssh/id_rsa"));
	json_decref(e);
	assert_int_equal(
	    feed(&f, 1, "\"type\":\"file_write\",\"actor\":\"a\",\"target\":\"config/prod.pem\""),
	    1);
	assert_string_equal(last(&f, "severity"), "high");
	assert_int_equal(feed(&f, 2, "\"type\":\"file_read\",\"actor\":\"a\",\"target\":\".env\""),
	                 1);
	assert_int_equal(
	    feed(&f, 3, "\"type\":\"file_delete\",\"actor\":\"a\",\"target\":\"/srv/.aws/config\""),
	    1);
	assert_int_equal(
	    feed(&f, 4,
	         "\"type\":\"file_read\",\"actor\":\"a\",\"target\":\"/etc/credentials.json\""),
	    1);
	assert_int_equal(
	    feed(&f, 5, "\"type\":\"file_read\",\"actor\":\"a\",\"target\":\"tls/server.key\""), 1);
	/* Not sensitive: a name that only starts like one, a directory named like a file. */
	assert_int_equal(
	    feed(&f, 6, "\"type\":\"file_read\",\"actor\":\"a\",\"target\":\"environment.md\""), 0);
	assert_int_equal(
	    feed(&f, 7, "\"type\":\"file_read\",\"actor\":\"a\",\"target\":\"docs/ssh/readme\""),
	    0);
	assert_int_equal(
	    feed(&f, 8, "\"type\":\"file_read\",\"actor\":\"a\",\"target\":\"notes.pem.txt\""), 0);
	/* Only file events: a command mentioning the path is not a read. */
	assert_int_equal(
	    feed(&f, 9,
	         "\"type\":\"command\",\"actor\":\"a\",\"target\":\"cat .env\",\"exit_code\":0"),
	    0);

	/* The alert is an event the log takes, and taking it again appends nothing. */
	assert_int_equal(atr_log_append(f.log, last(&f, "json"), strlen(last(&f, "json")), &res),
	                 0);
	assert_int_equal(res.duplicate, 0);
	assert_string_equal(res.event_id, last(&f, "id"));
	seq = res.seq;
	assert_int_equal(atr_log_append(f.log, last(&f, "json"), strlen(last(&f, "json")), &res),
	                 0);
	assert_int_equal(res.duplicate, 1);
	assert_int_equal(res.seq, seq);
	/* No loops: an alert never alerts, even about a sensitive path. */
	assert_int_equal(atr_log_get(f.log, seq, &rec), 0);
	assert_int_equal(atr_alerts_feed(f.eng, rec, 0, on_alert, &f), 0);
	atr_record_free(rec);
	assert_int_equal(
	    feed(&f, 10,
	         "\"type\":\"file_read\",\"actor\":\"agentrail-alerts\",\"target\":\".env\""),
	    0);
	fx_close(&f);
}

#define DENY(job)                                                                                  \
	"\"type\":\"decision\",\"actor\":\"gate\",\"reason\":\"r\",\"job_id\":\"" job              \
	"\",\"policy\":{\"decision\":\"DENY\",\"rule_id\":\"no-rm\",\"reason\":\"rm is not "       \
	"allowed\"}"
#define CMD(job, code)                                                                             \
	"\"type\":\"command\",\"actor\":\"a\",\"target\":\"rm -rf /\",\"job_id\":\"" job           \
	"\",\"exit_code\":" code

static void test_deny_and_command_after(void **state)
{
	struct fx f;
	json_t *e;

	(void)state;
	fx_open(&f, NULL);
	/* A command before any DENY, an ALLOW: nothing. */
	assert_int_equal(feed(&f, 0, CMD("j1", "0")), 0);
	assert_int_equal(feed(&f, 1,
	                      "\"type\":\"decision\",\"actor\":\"gate\",\"reason\":\"r\",\"job_"
	                      "id\":\"j1\",\"policy\":{\"decision\":\"ALLOW\"}"),
	                 0);
	assert_int_equal(feed(&f, 2, DENY("j1")), 1);
	assert_string_equal(last(&f, "rule"), "deny");
	e = last_event(&f);
	assert_non_null(strstr(json_string_value(json_object_get(e, "reason")), "no-rm"));
	json_decref(e);
	/* Another job's command: not after a DENY of its own. */
	assert_int_equal(feed(&f, 3, CMD("j2", "0")), 0);
	assert_int_equal(feed(&f, 4, "\"type\":\"output\",\"actor\":\"a\",\"job_id\":\"j1\""), 0);
	assert_int_equal(feed(&f, 5, CMD("j1", "0")), 1);
	assert_string_equal(last(&f, "rule"), "command_after_deny");
	assert_string_equal(last(&f, "severity"), "high");
	e = last_event(&f);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(e, "detail"), "deny_seq")), 2);
	assert_string_equal(json_string_value(json_object_get(e, "job_id")), "j1");
	json_decref(e);
	/* Once per DENY: the next command of the job is in its trail, not a second alert. */
	assert_int_equal(feed(&f, 6, CMD("j1", "0")), 0);
	assert_int_equal(feed(&f, 7, DENY("j1")), 1);
	assert_int_equal(feed(&f, 8, CMD("j1", "0")), 1);
	assert_string_equal(last(&f, "rule"), "command_after_deny");
	fx_close(&f);
}

#define LLM(agent, session, n)                                                                     \
	"\"type\":\"llm_call\",\"actor\":\"x\",\"agent_id\":\"" agent                              \
	"\",\"model\":\"m\",\"session_id\":\"" session "\",\"usage\":{\"input_tokens\":" n         \
	",\"output_tokens\":0}"

static void test_token_spike(void **state)
{
	struct fx f;
	json_t *e;

	(void)state;
	fx_open(&f, NULL);
	assert_int_equal(feed(&f, 0, LLM("A", "s1", "100")), 0);
	assert_int_equal(feed(&f, 10, LLM("A", "s2", "100")), 0);
	/* Two sessions of history: too few for a median. */
	assert_int_equal(feed(&f, 20, LLM("A", "s3", "100000")), 0);
	/* s3 is history now too: s1, s2, s3 = 100, 100, 100000, median 100. */
	assert_int_equal(feed(&f, 30, LLM("A", "s4", "300")), 0);
	assert_int_equal(feed(&f, 31, LLM("A", "s4", "200")),
	                 0); /* 500: exactly 5 times, not more */
	assert_int_equal(feed(&f, 32, LLM("A", "s4", "1")), 1);
	assert_string_equal(last(&f, "rule"), "token_spike");
	e = last_event(&f);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(e, "detail"), "session_tokens")),
	    501);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(e, "detail"), "median_tokens")),
	    100);
	json_decref(e);
	/* Once per session. */
	assert_int_equal(feed(&f, 33, LLM("A", "s4", "5000")), 0);
	/* Another agent has its own history. */
	assert_int_equal(feed(&f, 34, LLM("B", "s5", "900000")), 0);
	/* Sessions older than 7 days leave the median: A's history is gone 8 days on. */
	assert_int_equal(feed(&f, 8 * 86400, LLM("A", "s6", "100000")), 0);
	fx_close(&f);
}

#define FAIL(session, code)                                                                        \
	"\"type\":\"command\",\"actor\":\"a\",\"target\":\"make\",\"session_id\":\"" session       \
	"\",\"exit_code\":" code

static void test_failure_burst(void **state)
{
	struct fx f;
	json_t *e;

	(void)state;
	fx_open(&f, NULL);
	for (int i = 0; i < 4; i++)
		assert_int_equal(feed(&f, i * 10, FAIL("s1", "2")), 0);
	/* Successes and another session's failures do not count. */
	assert_int_equal(feed(&f, 41, FAIL("s1", "0")), 0);
	assert_int_equal(feed(&f, 42, FAIL("s2", "1")), 0);
	/* The fifth within 60 s: exactly the threshold fires. */
	assert_int_equal(feed(&f, 45, FAIL("s1", "1")), 1);
	assert_string_equal(last(&f, "rule"), "command_failure_burst");
	e = last_event(&f);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(e, "detail"), "first_seq")), 0);
	json_decref(e);
	/* The window starts over: four more are not a burst. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(feed(&f, 50 + i, FAIL("s1", "1")), 0);
	/* Five failures over 61 s are not a burst; the last five within 60 s are. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(feed(&f, 1000 + i * 16, FAIL("s3", "1")), 0);
	assert_int_equal(feed(&f, 1075, FAIL("s3", "1")), 1);
	fx_close(&f);
}

#define HASHED(session, rules, prompt)                                                             \
	"\"type\":\"output\",\"actor\":\"a\",\"session_id\":\"" session                            \
	"\",\"rules_hash\":\"" rules "\",\"system_prompt_hash\":\"" prompt "\""

static void test_hash_changes(void **state)
{
	struct fx f;
	json_t *e;

	(void)state;
	fx_open(&f, NULL);
	assert_int_equal(feed(&f, 0, HASHED("s1", "r1", "p1")), 0);
	assert_int_equal(feed(&f, 1, HASHED("s1", "r1", "p1")), 0);
	assert_int_equal(feed(&f, 2, "\"type\":\"output\",\"actor\":\"a\",\"session_id\":\"s1\""),
	                 0);
	/* Another session with other hashes: no change within a session. */
	assert_int_equal(feed(&f, 3, HASHED("s2", "r9", "p9")), 0);
	assert_int_equal(feed(&f, 4, HASHED("s1", "r2", "p1")), 1);
	assert_string_equal(last(&f, "rule"), "rules_changed");
	e = last_event(&f);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(e, "detail"), "previous")), "r1");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(e, "detail"), "current")), "r2");
	json_decref(e);
	assert_int_equal(feed(&f, 5, HASHED("s1", "r2", "p2")), 1);
	assert_string_equal(last(&f, "rule"), "system_prompt_changed");
	assert_string_equal(last(&f, "severity"), "high");
	assert_int_equal(feed(&f, 6, HASHED("s1", "r3", "p3")), 2);
	/* No session: nothing to compare within. */
	assert_int_equal(feed(&f, 7, "\"type\":\"output\",\"actor\":\"a\",\"rules_hash\":\"zz\""),
	                 0);
	/* A new engine reads the session back: a change after a restart is caught. */
	atr_alerts_free(f.eng);
	assert_int_equal(atr_alerts_new(&f.eng, NULL), 0);
	atr_alerts_set_log(f.eng, f.log);
	assert_int_equal(feed(&f, 8, HASHED("s1", "r3", "p4")), 1);
	assert_string_equal(last(&f, "rule"), "system_prompt_changed");
	fx_close(&f);
}

/* Append without feeding; a step or a later feed reads it. */
static void feed_seq(struct fx *f, uint64_t seq, size_t want)
{
	size_t before = json_array_size(f->got);
	atr_record *rec;

	assert_int_equal(atr_log_get(f->log, seq, &rec), 0);
	assert_int_equal(atr_alerts_feed(f->eng, rec, 0, on_alert, f), 0);
	atr_record_free(rec);
	assert_int_equal(json_array_size(f->got) - before, want);
}

static void test_hash_lookback(void **state)
{
	struct fx f;
	json_t *e;
	uint64_t start, next, size;

	(void)state;
	fx_open(&f, NULL);
	/*
	 * s1's hashes at seq 0 and 100 of its records without any before the
	 * scan's start; 200 more and its change after.
	 */
	put(&f, 0, HASHED("s1", "r1", "p1"));
	for (int i = 0; i < 100; i++)
		put(&f, 1, "\"type\":\"output\",\"actor\":\"a\",\"session_id\":\"s1\"");
	start = put(&f, 2, HASHED("s2", "r7", "p7"));
	for (int i = 0; i < 200; i++)
		put(&f, 3, "\"type\":\"output\",\"actor\":\"a\",\"session_id\":\"s1\"");
	put(&f, 4, HASHED("s2", "r7", "p7"));
	put(&f, 5, HASHED("s1", "r2", "p1"));
	/*
	 * A scan starting after s1's hashes still compares with them: read
	 * back from before the scan's start (the 256 records before the
	 * change would not reach them).
	 */
	assert_int_equal(atr_log_size(f.log, &size), 0);
	for (next = start; next < size;)
		assert_int_equal(atr_alerts_step(f.eng, f.log, next, 7, on_alert, &f, &next), 0);
	assert_int_equal(json_array_size(f.got), 1);
	assert_string_equal(last(&f, "rule"), "rules_changed");
	e = last_event(&f);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(e, "detail"), "previous")), "r1");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(e, "detail"), "previous_seq")), 0);
	json_decref(e);
	/* The same records from seq 0: everything is in the state, the same alert. */
	atr_alerts_free(f.eng);
	assert_int_equal(atr_alerts_new(&f.eng, NULL), 0);
	atr_alerts_set_log(f.eng, f.log);
	for (next = 0; next < size;)
		assert_int_equal(atr_alerts_step(f.eng, f.log, next, 64, on_alert, &f, &next), 0);
	assert_int_equal(json_array_size(f.got), 2);
	assert_string_equal(last(&f, "rule"), "rules_changed");
	/* Records fed with a gap: what was skipped is read back. */
	atr_alerts_free(f.eng);
	assert_int_equal(atr_alerts_new(&f.eng, NULL), 0);
	atr_alerts_set_log(f.eng, f.log);
	next = put(&f, 6, HASHED("s3", "r1", "p1"));
	put(&f, 7, HASHED("s4", "r1", "p1")); /* never fed */
	put(&f, 8, HASHED("s3", "r1", "p1"));
	feed_seq(&f, next, 0);
	feed_seq(&f, next + 2, 0);
	next = put(&f, 9, HASHED("s4", "r1", "p2"));
	feed_seq(&f, next, 1);
	assert_string_equal(last(&f, "rule"), "system_prompt_changed");
	fx_close(&f);
}

/* Escaped strings are read as the tree reads them. */
static void test_escapes(void **state)
{
	struct fx f;
	json_t *e;

	(void)state;
	fx_open(&f, NULL);
	assert_int_equal(
	    feed(&f, 0,
	         "\"type\":\"file_write\",\"actor\":\"a\\u00e9\\\"q\","
	         "\"target\":\"d\\\"x\\\\\\ud83d\\ude00/.ssh/k\",\"session_id\":\"s\\n1\""),
	    1);
	e = last_event(&f);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(e, "detail"), "path")),
	    "d\"x\\\xf0\x9f\x98\x80/.ssh/k");
	assert_string_equal(json_string_value(json_object_get(e, "session_id")), "s\n1");
	assert_non_null(strstr(json_string_value(json_object_get(e, "reason")), "'a\xc3\xa9\"q'"));
	json_decref(e);
	/* A negative exit code and a nested decision are read too. */
	assert_int_equal(feed(&f, 1,
	                      "\"type\":\"command\",\"actor\":\"a\",\"target\":\"x\",\"session_"
	                      "id\":\"s\",\"job_id\":"
	                      "\"j\",\"exit_code\":-1,\"policy\":{\"decision\":\"DENY\"}"),
	                 1);
	assert_string_equal(last(&f, "rule"), "deny");
	fx_close(&f);
}

/* Append each alert of a step to the log, counting the new ones. */
struct sink {
	atr_log *log;
	int appended, duplicates;
};

static int append_alert(void *ctx, const atr_alert *al)
{
	struct sink *s = ctx;
	atr_append_result res;

	if (atr_log_append(s->log, al->json, al->len, &res) != 0)
		fail_msg("append alert: %s", atr_errmsg());
	s->appended += !res.duplicate;
	s->duplicates += res.duplicate;
	return 0;
}

static void run_all(struct fx *f, struct sink *s, uint64_t from, uint64_t *end)
{
	uint64_t size, next = from;

	assert_int_equal(atr_log_size(f->log, &size), 0);
	while (next < size)
		assert_int_equal(atr_alerts_step(f->eng, f->log, next, 3, append_alert, s, &next),
		                 0);
	*end = next;
}

static void test_step_resume_warm(void **state)
{
	int64_t now = T0 + 3600 * 1000000LL;
	struct fx f;
	struct sink s = {0};
	uint64_t start, end, size;
	char *json;
	json_t *items;
	int more;

	(void)state;
	fx_open(&f, NULL);
	s.log = f.log;
	/* An empty log starts at 0. */
	assert_int_equal(atr_alerts_resume_seq(f.log, now, &start), 0);
	assert_int_equal(start, 0);
	put(&f, 0, LLM("A", "s1", "100"));
	put(&f, 1, LLM("A", "s2", "100"));
	put(&f, 2, LLM("A", "s3", "100"));
	put(&f, 3, DENY("j1"));                            /* seq 3: an alert */
	put(&f, 4, "\"type\":\"output\",\"actor\":\"a\""); /* seq 4 */
	run_all(&f, &s, 0, &end);
	assert_int_equal(s.appended, 1);
	/* Resume after the newest alert's trigger: seq 4. */
	assert_int_equal(atr_alerts_resume_seq(f.log, now, &start), 0);
	assert_int_equal(start, 4);
	/* Outside the window: start at the first record within it (none: the end). */
	assert_int_equal(atr_alerts_resume_seq(f.log, T0 + 30LL * 86400 * 1000000, &start), 0);
	assert_int_equal(atr_log_size(f.log, &size), 0);
	assert_int_equal(start, size);

	/* A restarted engine, warmed up: the token history and the DENY are known. */
	atr_alerts_free(f.eng);
	assert_int_equal(atr_alerts_new(&f.eng, NULL), 0);
	atr_alerts_set_log(f.eng, f.log);
	assert_int_equal(atr_alerts_resume_seq(f.log, now, &start), 0);
	assert_int_equal(atr_alerts_warm(f.eng, f.log, start, now), 0);
	put(&f, 10, LLM("A", "s4", "1000"));
	put(&f, 11, CMD("j1", "0"));
	s.appended = s.duplicates = 0;
	run_all(&f, &s, start, &end);
	assert_int_equal(s.appended, 2);
	/* Running the same records again appends nothing. */
	atr_alerts_free(f.eng);
	assert_int_equal(atr_alerts_new(&f.eng, NULL), 0);
	s.appended = s.duplicates = 0;
	run_all(&f, &s, 0, &end);
	assert_int_equal(s.appended, 0);
	assert_int_equal(s.duplicates, 3);

	/* The list: newest first, filtered, paged. */
	assert_int_equal(atr_alerts_list(f.log, NULL, UINT64_MAX, 0, &json, &more, &end), 0);
	items = json_loads(json, 0, NULL);
	atr_free(json);
	assert_int_equal(json_array_size(items), 3);
	assert_false(more);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "rule")),
	                    "command_after_deny");
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "target")),
	                    "rm -rf /");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(items, 0), "severity")), "high");
	assert_int_equal(
	    json_integer_value(json_object_get(json_array_get(items, 2), "trigger_seq")), 3);
	assert_true(json_is_null(json_object_get(json_array_get(items, 2), "session_id")));
	json_decref(items);
	assert_int_equal(atr_alerts_list(f.log, &(atr_alerts_filter){.rule = "token_spike"},
	                                 UINT64_MAX, 0, &json, &more, &end),
	                 0);
	items = json_loads(json, 0, NULL);
	atr_free(json);
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(items, 0), "session_id")), "s4");
	json_decref(items);
	assert_int_equal(atr_alerts_list(f.log, &(atr_alerts_filter){.job_id = "j1"}, UINT64_MAX, 1,
	                                 &json, &more, &end),
	                 0);
	items = json_loads(json, 0, NULL);
	atr_free(json);
	assert_int_equal(json_array_size(items), 1);
	assert_true(more);
	json_decref(items);
	assert_int_equal(atr_alerts_list(f.log, &(atr_alerts_filter){.job_id = "j1"}, end, 1, &json,
	                                 &more, &end),
	                 0);
	items = json_loads(json, 0, NULL);
	atr_free(json);
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "rule")),
	                    "deny");
	assert_false(more);
	json_decref(items);
	fx_close(&f);
}

static void test_bad_rules(void **state)
{
	static const char *const empty[] = {""};
	atr_alerts *a = NULL;

	(void)state;
	assert_int_equal(atr_alerts_new(&a, &(atr_alert_rules){.fail_burst_n = 1001}),
	                 ATR_EINVALID);
	assert_null(a);
	assert_non_null(strstr(atr_errmsg(), "1001"));
	assert_int_equal(atr_alerts_new(&a, &(atr_alert_rules){.fail_burst_seconds = 700000}),
	                 ATR_EINVALID);
	assert_int_equal(
	    atr_alerts_new(&a, &(atr_alert_rules){.sensitive = empty, .nsensitive = 1}),
	    ATR_EINVALID);
	assert_null(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sensitive_paths, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_deny_and_command_after, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_token_spike, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_failure_burst, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_hash_changes, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_hash_lookback, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_escapes, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_step_resume_warm, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test(test_bad_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

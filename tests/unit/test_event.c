/*
 * Events in, records out: every validation rule of DESIGN.md §2 with the
 * message it gives, the canonical record and its seq splice, checked
 * against Jansson as an independent canonicalizer, and the id and time
 * helpers underneath.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include <agentrail/query.h>

#include "event.h"
#include "internal.h"

/* 2026-04-01T14:10:32.123456Z */
#define RECEIVED INT64_C(1775052632123456)

static int prep(struct atr__event *ev, const char *json)
{
	return atr__event_prepare(ev, json, strlen(json), RECEIVED);
}

static void expect_ok(const char *json)
{
	struct atr__event ev;
	int rc = prep(&ev, json);

	if (rc != 0)
		fail_msg("rejected (%d: %s): %s", rc, atr_errmsg(), json);
	atr__event_release(&ev);
}

static void expect_err_len(const char *json, size_t len, int code, const char *msg)
{
	struct atr__event ev;
	int rc = atr__event_prepare(&ev, json, len, RECEIVED);

	if (rc == 0) {
		atr__event_release(&ev);
		fail_msg("accepted, expected '%s': %.200s", msg, json);
	}
	if (rc != code || !strstr(atr_errmsg(), msg))
		fail_msg("got %d '%s', expected %d '%s' for %.200s", rc, atr_errmsg(), code, msg,
		         json);
	/* Nothing to release on failure: the struct is empty. */
	assert_null(ev.mem);
}

static void expect_err(const char *json, int code, const char *msg)
{
	expect_err_len(json, strlen(json), code, msg);
}

/* 'len' bytes at 's' (not NUL-terminated) are exactly 'want'. */
static void assert_span(const char *s, size_t len, const char *want)
{
	if (len != strlen(want) || memcmp(s, want, len) != 0)
		fail_msg("got '%.*s', want '%s'", (int)len, s, want);
}

/* The record for 'seq' as a NUL-terminated heap string. */
static char *record(const struct atr__event *ev, uint64_t seq)
{
	char *buf = malloc(atr__event_record_cap(ev) + 1);
	size_t n;

	assert_non_null(buf);
	n = atr__event_record(ev, seq, buf);
	assert_true(n <= atr__event_record_cap(ev));
	buf[n] = '\0';
	return buf;
}

/* Jansson's canonical form of 'text' (keys sorted, compact), to compare bytes with. */
static char *jansson_canon(const char *text, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	char *out;

	if (!j)
		fail_msg("jansson rejects %.*s: %s", (int)len, text, err.text);
	out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(j);
	return out;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* 'pre', then 'n' copies of 'c', then 'post'. */
static char *with_long(const char *pre, char c, size_t n, const char *post)
{
	size_t a = strlen(pre), b = strlen(post);
	char *out = malloc(a + n + b + 1);

	assert_non_null(out);
	memcpy(out, pre, a);
	memset(out + a, c, n);
	memcpy(out + a + n, post, b + 1);
	return out;
}

/* ------------------------------------------------------------------ */

static void test_minimal(void **state)
{
	struct atr__event ev;
	json_t *j, *v;
	json_error_t err;
	char *rec, ts[28], hex[65];
	uint8_t h[32];

	(void)state;
	assert_int_equal(prep(&ev, "{\"type\":\"session_start\",\"actor\":\"alice\"}"), 0);
	rec = record(&ev, 0);
	j = json_loads(rec, 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "session_start");
	assert_string_equal(json_string_value(json_object_get(j, "actor")), "alice");
	assert_string_equal(json_string_value(json_object_get(j, "level")), "pipeline");
	assert_string_equal(json_string_value(json_object_get(j, "event_id")), ev.id_text);
	atr_time_format(RECEIVED, ts);
	assert_string_equal(ts, "2026-04-01T14:10:32.123456Z");
	assert_string_equal(json_string_value(json_object_get(j, "ts")), ts);
	assert_string_equal(json_string_value(json_object_get(j, "received_at")), ts);
	v = json_object_get(j, "seq");
	assert_true(json_is_integer(v) && json_integer_value(v) == 0);
	assert_int_equal(json_object_size(j), 8);
	/* No detail: the commitment is to "{}". */
	assert_int_equal(ev.detail_len, 2);
	assert_memory_equal(ev.detail, "{}", 2);
	atr__sha256(h, ev.salt, 32, "{}", 2, NULL, 0);
	atr__hex(hex, h, 32);
	assert_string_equal(json_string_value(json_object_get(j, "detail_commit")), hex);
	assert_int_equal(ev.id_given, 0);
	assert_string_equal(ev.type, "session_start");
	assert_string_equal(ev.level, "pipeline");
	assert_string_equal(ev.actor, "alice");
	assert_null(ev.target);
	assert_null(ev.trace_id);
	assert_true(ev.ts_us == RECEIVED);
	json_decref(j);
	free(rec);
	atr__event_release(&ev);
}

static const char TYPICAL[] =
    "{\"type\":\"tool_call\",\"actor\":\"implementer-0\",\"user_id\":\"alice\","
    "\"agent_id\":\"claude-agent\",\"model\":\"claude-opus-4\","
    "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"session_id\":\"sess-1\","
    "\"run_id\":\"run-42\",\"job_id\":\"job-7\",\"target\":\"Bash\",\"step\":17,"
    "\"outcome\":\"success\",\"ts\":\"2026-04-01T16:10:32.5+02:00\","
    "\"usage\":{\"output_tokens\":20,\"input_tokens\":1000,\"cost_micro_usd\":1530},"
    "\"detail\":{\"z\":[1,2.5,{\"b\":null,\"a\":true}],\"input\":{\"command\":\"ls\\n -la\"},"
    "\"latency_ms\":132}}";

static void test_typical_fields(void **state)
{
	struct atr__event ev;
	json_t *j;
	json_error_t err;
	char *rec;

	(void)state;
	assert_int_equal(prep(&ev, TYPICAL), 0);
	rec = record(&ev, 42);
	j = json_loads(rec, 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "level")), "agent");
	assert_string_equal(json_string_value(json_object_get(j, "ts")),
	                    "2026-04-01T14:10:32.500000Z");
	assert_int_equal(json_integer_value(json_object_get(j, "step")), 17);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "usage"), "input_tokens")), 1000);
	assert_null(json_object_get(j, "detail"));
	assert_int_equal(json_integer_value(json_object_get(j, "seq")), 42);
	/* Index columns. */
	assert_string_equal(ev.type, "tool_call");
	assert_string_equal(ev.level, "agent");
	assert_string_equal(ev.actor, "implementer-0");
	assert_string_equal(ev.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_equal(ev.session_id, "sess-1");
	assert_string_equal(ev.run_id, "run-42");
	assert_string_equal(ev.job_id, "job-7");
	assert_string_equal(ev.target, "Bash");
	assert_true(ev.ts_us == INT64_C(1775052632500000));
	assert_span(ev.detail, ev.detail_len,
	            "{\"input\":{\"command\":\"ls\\n -la\"},\"latency_ms\":132,"
	            "\"z\":[1,2.5,{\"a\":true,\"b\":null}]}");
	json_decref(j);
	free(rec);
	atr__event_release(&ev);
}

/* The record is canonical: Jansson re-serializing it gives the same bytes, for any seq. */
static void test_canonical_and_seq(void **state)
{
	/* Jansson reads integers as int64_t: the largest seq is checked as text below. */
	static const uint64_t seqs[] = {0, 1, 9, 10, 99, 12345, UINT64_C(9223372036854775807)};
	struct atr__event ev;

	(void)state;
	assert_int_equal(prep(&ev, TYPICAL), 0);
	assert_true(ev.head[0] == '{');
	assert_true(ev.head[ev.head_len - 1] != ',');
	assert_true(ev.tail[0] == ',' || ev.tail[0] == '}');
	assert_true(ev.tail[ev.tail_len - 1] == '}');
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		char *rec = record(&ev, seqs[i]), *canon = jansson_canon(rec, strlen(rec));
		char want[40];

		assert_string_equal(rec, canon);
		snprintf(want, sizeof(want), ",\"seq\":%llu,", (unsigned long long)seqs[i]);
		assert_non_null(strstr(rec, want));
		free(canon);
		free(rec);
	}
	{
		char *rec = record(&ev, UINT64_MAX);

		assert_non_null(strstr(rec, ",\"seq\":18446744073709551615,\"session_id\""));
		assert_int_equal(strlen(rec), atr__event_record_cap(&ev));
		free(rec);
	}
	/* The detail is canonical too, and equals Jansson's form of the input detail. */
	{
		json_error_t err;
		json_t *in = json_loads(TYPICAL, 0, &err);
		char *d = json_dumps(json_object_get(in, "detail"), JSON_COMPACT | JSON_SORT_KEYS);

		assert_int_equal(strlen(d), ev.detail_len);
		assert_memory_equal(d, ev.detail, ev.detail_len);
		free(d);
		json_decref(in);
	}
	atr__event_release(&ev);
}

static void test_detail_commit(void **state)
{
	struct atr__event ev;
	json_t *j;
	json_error_t err;
	char *rec, hex[65];
	uint8_t h[32];

	(void)state;
	assert_int_equal(prep(&ev, TYPICAL), 0);
	rec = record(&ev, 3);
	j = json_loads(rec, 0, &err);
	atr__sha256(h, ev.salt, sizeof(ev.salt), ev.detail, ev.detail_len, NULL, 0);
	atr__hex(hex, h, 32);
	assert_string_equal(json_string_value(json_object_get(j, "detail_commit")), hex);
	json_decref(j);
	free(rec);
	atr__event_release(&ev);
}

static void test_content_hash(void **state)
{
	struct atr__event a, b, c, d;

	(void)state;
	assert_int_equal(prep(&a, TYPICAL), 0);
	assert_int_equal(prep(&b, TYPICAL), 0);
	assert_memory_equal(a.content_hash, b.content_hash, 32);
	assert_memory_not_equal(a.salt, b.salt, 32);
	/* Fresh ids differ, and the content hash does not cover them. */
	assert_memory_not_equal(a.id, b.id, 16);
	/* Member order and whitespace do not matter; content does. */
	assert_int_equal(prep(&c, "{ \"actor\" : \"x\", \"type\":\"output\" }"), 0);
	assert_int_equal(prep(&d, "{\"type\":\"output\",\"actor\":\"x\"}"), 0);
	assert_memory_equal(c.content_hash, d.content_hash, 32);
	assert_memory_not_equal(a.content_hash, c.content_hash, 32);
	atr__event_release(&c);
	atr__event_release(&d);
	/* The same instant written two ways is the same content. */
	assert_int_equal(prep(&c, "{\"type\":\"output\",\"actor\":\"x\","
	                          "\"ts\":\"2026-04-01T16:10:32+02:00\"}"),
	                 0);
	assert_int_equal(prep(&d, "{\"type\":\"output\",\"actor\":\"x\","
	                          "\"ts\":\"2026-04-01t14:10:32.000000z\"}"),
	                 0);
	assert_memory_equal(c.content_hash, d.content_hash, 32);
	atr__event_release(&a);
	atr__event_release(&b);
	atr__event_release(&c);
	atr__event_release(&d);
}

static void test_event_id_given(void **state)
{
	struct atr__event ev;
	char *rec;

	(void)state;
	assert_int_equal(prep(&ev, "{\"type\":\"output\",\"actor\":\"x\","
	                           "\"event_id\":\"0190A5D2-AC96-7C4B-BCCE-B302099A8057\","
	                           "\"parent_event_id\":\"0190a5d2-ac96-7c4b-bcce-b302099a8058\"}"),
	                 0);
	assert_int_equal(ev.id_given, 1);
	assert_string_equal(ev.id_text, "0190a5d2-ac96-7c4b-bcce-b302099a8057");
	rec = record(&ev, 0);
	assert_non_null(strstr(rec, "\"event_id\":\"0190a5d2-ac96-7c4b-bcce-b302099a8057\""));
	free(rec);
	atr__event_release(&ev);
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"event_id\":\"nope\"}", ATR_EINVALID,
	           "field 'event_id' must be a UUID");
	expect_err("{\"type\":\"output\",\"actor\":\"x\","
	           "\"parent_event_id\":\"0190a5d2-ac96-7c4b-bcce-b302099a805\"}",
	           ATR_EINVALID, "field 'parent_event_id' must be a UUID");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"event_id\":7}", ATR_EINVALID,
	           "field 'event_id' must be a string, not 7");
}

static void test_structure_errors(void **state)
{
	(void)state;
	expect_err("", ATR_EINVALID, "empty input");
	expect_err("[1,2]", ATR_EINVALID, "an event must be a JSON object, not an array");
	expect_err("\"x\"", ATR_EINVALID, "an event must be a JSON object, not a string");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"foo\":1}", ATR_EINVALID,
	           "unknown field 'foo'; put free-form data in 'detail'");
	expect_err("{\"actor\":\"x\"}", ATR_EINVALID, "missing required field 'type'");
	expect_err("{\"type\":\"output\"}", ATR_EINVALID, "missing required field 'actor'");
	expect_err("{\"type\":\"output\",\"actor\":\"\"}", ATR_EINVALID,
	           "field 'actor' must not be empty");
	expect_err("{\"type\":\"output\",\"actor\":42}", ATR_EINVALID,
	           "field 'actor' must be a string, not 42");
	expect_err("{\"type\":\"output\",\"actor\":null}", ATR_EINVALID,
	           "field 'actor' must be a string, not null");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"seq\":4}", ATR_EINVALID,
	           "field 'seq' is set by the log");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"received_at\":\"x\"}", ATR_EINVALID,
	           "field 'received_at' is set by the log");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":[1]}", ATR_EINVALID,
	           "field 'detail' must be an object, not an array");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"user_id\":\"\"}", ATR_EINVALID,
	           "field 'user_id' must not be empty");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"target\":\"\"}", ATR_EINVALID,
	           "field 'target' must not be empty");
}

static void test_types_and_levels(void **state)
{
	struct atr__event ev;

	(void)state;
	expect_err("{\"type\":\"bogus\",\"actor\":\"x\"}", ATR_EINVALID,
	           "field 'type' is 'bogus', not a known type; custom types must match x_");
	expect_err("{\"type\":\"x_Bad\",\"actor\":\"x\",\"level\":\"agent\"}", ATR_EINVALID,
	           "field 'type' is 'x_Bad'");
	expect_err("{\"type\":\"x_\",\"actor\":\"x\",\"level\":\"agent\"}", ATR_EINVALID,
	           "field 'type' is 'x_'");
	expect_err("{\"type\":\"x_deploy\",\"actor\":\"x\"}", ATR_EINVALID,
	           "custom type 'x_deploy' needs field 'level'");
	expect_err("{\"type\":\"x_deploy\",\"actor\":\"x\",\"level\":\"high\"}", ATR_EINVALID,
	           "field 'level' must be 'pipeline', 'agent' or 'decision', not 'high'");
	expect_err(
	    "{\"type\":\"tool_call\",\"actor\":\"x\",\"target\":\"t\",\"level\":\"decision\","
	    "\"reason\":\"r\"}",
	    ATR_EINVALID, "field 'level' is 'decision' but type 'tool_call' has level 'agent'");
	expect_err("{\"type\":7,\"actor\":\"x\"}", ATR_EINVALID, "field 'type' must be a string");

	/* A custom type with its level. */
	assert_int_equal(prep(&ev, "{\"type\":\"x_deploy_2\",\"actor\":\"x\",\"level\":\"agent\"}"),
	                 0);
	assert_string_equal(ev.level, "agent");
	atr__event_release(&ev);
	/* A custom decision needs a reason like any other. */
	expect_err("{\"type\":\"x_vote\",\"actor\":\"x\",\"level\":\"decision\"}", ATR_EINVALID,
	           "type 'x_vote' is a decision and needs a non-empty 'reason'");
	/* A matching level is fine. */
	expect_ok("{\"type\":\"output\",\"actor\":\"x\",\"level\":\"agent\"}");

	assert_string_equal(atr__type_level("task_submit"), "pipeline");
	assert_string_equal(atr__type_level("tool_result"), "agent");
	assert_string_equal(atr__type_level("token_change"), "decision");
	assert_string_equal(atr__type_level("abort"), "decision");
	assert_null(atr__type_level("x_foo"));
	assert_null(atr__type_level("tool"));
	assert_null(atr__type_level(NULL));
}

static void test_every_known_type(void **state)
{
	static const char *const pipeline[] = {"task_submit", "task_outcome", "session_start",
	                                       "session_end"};
	static const char *const agent[] = {"llm_call",  "tool_call",  "tool_result",
	                                    "file_read", "file_write", "file_delete",
	                                    "command",   "output",     "error"};
	static const char *const decision[] = {"decision",
	                                       "decomposition",
	                                       "retry",
	                                       "escalation",
	                                       "abort",
	                                       "complete",
	                                       "approval_request",
	                                       "approval_resolved",
	                                       "policy_publish",
	                                       "policy_rollback",
	                                       "output_safety",
	                                       "human_intervention",
	                                       "alert",
	                                       "erasure",
	                                       "token_change"};
	char buf[512];

	(void)state;
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(atr__type_level(pipeline[i]), "pipeline");
	for (size_t i = 0; i < 9; i++)
		assert_string_equal(atr__type_level(agent[i]), "agent");
	for (size_t i = 0; i < 15; i++) {
		assert_string_equal(atr__type_level(decision[i]), "decision");
		/* Every decision-level type wants a reason. */
		snprintf(buf, sizeof(buf), "{\"type\":\"%s\",\"actor\":\"x\"}", decision[i]);
		expect_err(buf, ATR_EINVALID, "needs a non-empty 'reason'");
	}
	/* A fully specified event of every type is accepted. */
	for (size_t i = 0; i < 28; i++) {
		const char *t = i < 4 ? pipeline[i] : i < 13 ? agent[i - 4] : decision[i - 13];

		snprintf(buf, sizeof(buf),
		         "{\"type\":\"%s\",\"actor\":\"x\",\"reason\":\"why\",\"model\":\"m\","
		         "\"target\":\"t\",\"exit_code\":0,\"policy\":{\"decision\":\"ALLOW\"},"
		         "\"approval\":{\"id\":\"a1\",\"resolution\":\"approved\","
		         "\"resolved_by\":\"bob\"}}",
		         t);
		expect_ok(buf);
	}
}

static void test_requirements(void **state)
{
	(void)state;
	expect_err("{\"type\":\"decision\",\"actor\":\"x\",\"policy\":{\"decision\":\"DENY\"}}",
	           ATR_EINVALID, "type 'decision' is a decision and needs a non-empty 'reason'");
	expect_err("{\"type\":\"retry\",\"actor\":\"x\",\"reason\":\"\"}", ATR_EINVALID,
	           "type 'retry' is a decision and needs a non-empty 'reason'");
	expect_ok("{\"type\":\"retry\",\"actor\":\"x\",\"reason\":\"flaky\"}");
	expect_err("{\"type\":\"llm_call\",\"actor\":\"x\"}", ATR_EINVALID,
	           "type 'llm_call' requires field 'model'");
	expect_err("{\"type\":\"command\",\"actor\":\"x\",\"target\":\"ls\"}", ATR_EINVALID,
	           "type 'command' requires field 'exit_code'");
	expect_err("{\"type\":\"command\",\"actor\":\"x\",\"exit_code\":0}", ATR_EINVALID,
	           "type 'command' requires field 'target'");
	expect_ok("{\"type\":\"command\",\"actor\":\"x\",\"exit_code\":-9,\"target\":\"ls\"}");
	expect_err("{\"type\":\"tool_call\",\"actor\":\"x\"}", ATR_EINVALID,
	           "type 'tool_call' requires field 'target'");
	expect_err("{\"type\":\"file_read\",\"actor\":\"x\"}", ATR_EINVALID,
	           "type 'file_read' requires field 'target'");
	expect_err("{\"type\":\"file_write\",\"actor\":\"x\"}", ATR_EINVALID,
	           "type 'file_write' requires field 'target'");
	expect_err("{\"type\":\"file_delete\",\"actor\":\"x\"}", ATR_EINVALID,
	           "type 'file_delete' requires field 'target'");
	expect_err("{\"type\":\"approval_request\",\"actor\":\"x\",\"reason\":\"r\"}", ATR_EINVALID,
	           "type 'approval_request' requires field 'approval.id'");
	expect_err("{\"type\":\"approval_request\",\"actor\":\"x\",\"reason\":\"r\","
	           "\"approval\":{\"required\":true}}",
	           ATR_EINVALID, "type 'approval_request' requires field 'approval.id'");
	expect_ok("{\"type\":\"approval_request\",\"actor\":\"x\",\"reason\":\"r\","
	          "\"approval\":{\"id\":\"ap-1\",\"required\":true,\"resolution\":\"pending\"}}");
	expect_err("{\"type\":\"approval_resolved\",\"actor\":\"x\",\"reason\":\"r\","
	           "\"approval\":{\"id\":\"ap-1\",\"resolution\":\"approved\"}}",
	           ATR_EINVALID, "type 'approval_resolved' requires field 'approval.resolved_by'");
	expect_err("{\"type\":\"approval_resolved\",\"actor\":\"x\",\"reason\":\"r\","
	           "\"approval\":{\"id\":\"ap-1\",\"resolved_by\":\"bob\"}}",
	           ATR_EINVALID, "type 'approval_resolved' requires field 'approval.resolution'");
	expect_err(
	    "{\"type\":\"approval_resolved\",\"actor\":\"x\",\"reason\":\"r\","
	    "\"approval\":{\"id\":\"ap-1\",\"resolution\":\"pending\",\"resolved_by\":\"b\"}}",
	    ATR_EINVALID, "field 'approval.resolution' to be 'approved' or 'rejected'");
	expect_ok("{\"type\":\"approval_resolved\",\"actor\":\"x\",\"reason\":\"r\","
	          "\"approval\":{\"id\":\"ap-1\",\"resolution\":\"rejected\",\"resolved_by\":\"b\","
	          "\"comment\":\"\",\"job_hash\":\"abc\"}}");
	expect_err("{\"type\":\"decision\",\"actor\":\"x\",\"reason\":\"r\"}", ATR_EINVALID,
	           "type 'decision' requires field 'policy.decision'");
	expect_err("{\"type\":\"decision\",\"actor\":\"x\",\"reason\":\"r\",\"policy\":{}}",
	           ATR_EINVALID, "type 'decision' requires field 'policy.decision'");
}

static void test_nested_objects(void **state)
{
	(void)state;
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"usage\":{\"foo\":1}}", ATR_EINVALID,
	           "unknown field 'usage.foo'");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"usage\":[]}", ATR_EINVALID,
	           "field 'usage' must be an object, not an array");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"usage\":{\"cost_micro_usd\":1.5}}",
	           ATR_EINVALID, "field 'usage.cost_micro_usd' must be an integer, not 1.5");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"usage\":{\"input_tokens\":-1}}",
	           ATR_EINVALID,
	           "field 'usage.input_tokens' must be a non-negative integer, not -1");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"usage\":{\"output_tokens\":\"5\"}}",
	           ATR_EINVALID, "field 'usage.output_tokens' must be an integer, not a string");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"policy\":{\"decision\":\"MAYBE\"}}",
	           ATR_EINVALID,
	           "field 'policy.decision' must be 'ALLOW', 'DENY' or 'REQUIRE_APPROVAL', not "
	           "'MAYBE'");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"policy\":{\"rule\":\"r\"}}",
	           ATR_EINVALID, "unknown field 'policy.rule'");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"policy\":{\"rule_id\":{\"a\":1}}}",
	           ATR_EINVALID, "field 'policy.rule_id' must be a string, not an object");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"approval\":{\"required\":\"yes\"}}",
	           ATR_EINVALID, "field 'approval.required' must be true or false, not a string");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"approval\":{\"resolution\":\"ok\"}}",
	           ATR_EINVALID,
	           "field 'approval.resolution' must be 'pending', 'approved' or 'rejected'");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"approval\":{\"id\":\"\"}}", ATR_EINVALID,
	           "field 'approval.id' must not be empty");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"approval\":{\"owner\":\"a\"}}",
	           ATR_EINVALID, "unknown field 'approval.owner'");
	expect_ok(
	    "{\"type\":\"output\",\"actor\":\"x\",\"usage\":{\"input_tokens\":0,"
	    "\"output_tokens\":9223372036854775807,\"cost_micro_usd\":12},"
	    "\"policy\":{\"rule_id\":\"r1\",\"snapshot\":\"s\",\"decision\":\"REQUIRE_APPROVAL\","
	    "\"reason\":\"\"}}");
}

static void test_scalars(void **state)
{
	(void)state;
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"step\":-1}", ATR_EINVALID,
	           "field 'step' must be a non-negative integer, not -1");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"step\":2.0}", ATR_EINVALID,
	           "field 'step' must be an integer, not 2.0");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"step\":1e3}", ATR_EINVALID,
	           "field 'step' must be an integer, not 1000.0");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"exit_code\":\"1\"}", ATR_EINVALID,
	           "field 'exit_code' must be an integer, not a string");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"exit_code\":true}", ATR_EINVALID,
	           "field 'exit_code' must be an integer, not true");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"outcome\":\"OK\"}", ATR_EINVALID,
	           "field 'outcome' must be a lower-case token like 'success', not 'OK'");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"outcome\":\"1st\"}", ATR_EINVALID,
	           "field 'outcome' must be a lower-case token");
	expect_ok(
	    "{\"type\":\"output\",\"actor\":\"x\",\"outcome\":\"partial_failure\",\"step\":0}");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"ts\":\"yesterday\"}", ATR_EINVALID,
	           "field 'ts': 'yesterday' is not an RFC 3339 timestamp");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"ts\":\"2026-02-29T00:00:00Z\"}",
	           ATR_EINVALID, "field 'ts'");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"ts\":1775052632}", ATR_EINVALID,
	           "field 'ts' must be a string, not 1775052632");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"n\":99999999999999999999}}",
	           ATR_EINVALID, "field 'detail.n' is an integer outside the 64-bit range");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"n\":-1e999}}", ATR_EINVALID,
	           "field 'detail.n' is a number outside the range of a double");
}

static void test_lengths(void **state)
{
	char *s;

	(void)state;
	s = with_long("{\"type\":\"output\",\"actor\":\"", 'a', ATR_MAX_ID_LEN, "\"}");
	expect_ok(s);
	free(s);
	s = with_long("{\"type\":\"output\",\"actor\":\"", 'a', ATR_MAX_ID_LEN + 1, "\"}");
	expect_err(s, ATR_ETOOBIG, "field 'actor' is 257 bytes; the limit is 256");
	free(s);
	s = with_long("{\"type\":\"tool_call\",\"actor\":\"x\",\"target\":\"", 't',
	              ATR_MAX_TARGET_LEN + 1, "\"}");
	expect_err(s, ATR_ETOOBIG, "field 'target' is 4097 bytes; the limit is 4096");
	free(s);
	s = with_long("{\"type\":\"abort\",\"actor\":\"x\",\"reason\":\"", 'r',
	              ATR_MAX_TEXT_LEN + 1, "\"}");
	expect_err(s, ATR_ETOOBIG, "field 'reason' is 16385 bytes; the limit is 16384");
	free(s);
	s = with_long("{\"type\":\"output\",\"actor\":\"x\",\"policy\":{\"rule_id\":\"", 'p', 300,
	              "\"}}");
	expect_err(s, ATR_ETOOBIG, "field 'policy.rule_id' is 300 bytes; the limit is 256");
	free(s);
	s = with_long("{\"type\":\"output\",\"actor\":\"x\",\"approval\":{\"comment\":\"", 'c',
	              ATR_MAX_TEXT_LEN + 10, "\"}}");
	expect_err(s, ATR_ETOOBIG, "field 'approval.comment' is 16394 bytes; the limit is 16384");
	free(s);
	/* Decoded bytes count: 256 escaped newlines are 256 bytes, not 512. */
	{
		char buf[1024] = "{\"type\":\"output\",\"actor\":\"";
		size_t n = strlen(buf);

		for (int i = 0; i < ATR_MAX_ID_LEN; i++) {
			buf[n++] = '\\';
			buf[n++] = 'n';
		}
		memcpy(buf + n, "\"}", 3);
		expect_ok(buf);
	}
}

static void test_big_inputs(void **state)
{
	char *s;
	size_t n;

	(void)state;
	/* A 10 MB string in detail: too big, named by its path. */
	s = with_long("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"content\":\"", 'z',
	              10u << 20, "\"}}");
	expect_err(s, ATR_ETOOBIG,
	           "field 'detail.content' is 10485760 bytes; the limit is 1048576");
	free(s);
	/* Each string fits, the sum does not. */
	s = malloc(1u << 21);
	assert_non_null(s);
	n = (size_t)snprintf(s, 100, "{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"a\":\"");
	memset(s + n, 'a', 600000);
	n += 600000;
	memcpy(s + n, "\",\"b\":\"", 7);
	n += 7;
	memset(s + n, 'b', 600000);
	n += 600000;
	memcpy(s + n, "\"}}", 4);
	expect_err(s, ATR_ETOOBIG, "the limit is 1048576");
	free(s);
	/* Just under the limit is fine. */
	s = with_long("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"a\":\"", 'q',
	              ATR_MAX_EVENT_BYTES - 2000, "\"}}");
	expect_ok(s);
	free(s);
	/* Input over ATR_MAX_EVENT_INPUT is refused before parsing. */
	s = repeat(' ', ATR_MAX_EVENT_INPUT + 1);
	expect_err_len(s, ATR_MAX_EVENT_INPUT + 1, ATR_ETOOBIG, "the limit is 16777216");
	free(s);
}

static char *nested(int depth)
{
	/* depth counts the event object: detail is level 2. */
	size_t cap = 64 + 2 * (size_t)depth + 16;
	char *s = malloc(cap), *w = s;

	assert_non_null(s);
	w += snprintf(w, cap, "{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"a\":");
	for (int i = 2; i < depth; i++)
		*w++ = '[';
	*w++ = '0';
	for (int i = 2; i < depth; i++)
		*w++ = ']';
	memcpy(w, "}}", 3);
	return s;
}

static void test_depth(void **state)
{
	char *s;

	(void)state;
	s = nested(ATR_MAX_DEPTH);
	expect_ok(s);
	free(s);
	s = nested(ATR_MAX_DEPTH + 1);
	expect_err(s, ATR_ETOOBIG, "nests deeper than 32 levels");
	expect_err(s, ATR_ETOOBIG, "field 'detail.a[0][0]");
	free(s);
	s = nested(40);
	expect_err(s, ATR_ETOOBIG, "nests deeper than 32 levels");
	free(s);
	/* Very deep input fails cleanly, without deep recursion. */
	s = nested(100000);
	expect_err(s, ATR_ETOOBIG, "nests deeper than 32 levels");
	free(s);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_err("{\"type\":", ATR_EINVALID, "malformed JSON at line 1 column 9");
	expect_err("{\"type\":\"output\",\n\"actor\":\"x\",\n  \"detail\":{,}}", ATR_EINVALID,
	           "malformed JSON at line 3 column 13: expected a string key");
	expect_err("{\"type\":\"output\",\"actor\":\"x\"} x", ATR_EINVALID,
	           "unexpected text after the event");
	expect_err("{\"type\":\"output\" \"actor\":\"x\"}", ATR_EINVALID,
	           "expected ',' or '}' in an object");
	expect_err("{\"type\" \"output\"}", ATR_EINVALID, "expected ':' after a key");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"a\":[1,]}}", ATR_EINVALID,
	           "malformed JSON");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"a\":01}}", ATR_EINVALID,
	           "invalid number (leading zero)");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"a\":1.}}", ATR_EINVALID,
	           "invalid number");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"a\":tru}}", ATR_EINVALID,
	           "invalid literal");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"a\":\"\\x\"}}", ATR_EINVALID,
	           "invalid escape in a string");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"a\":\"tab\there\"}}",
	           ATR_EINVALID, "unescaped control character 0x09 in a string");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"a\":\"open}}", ATR_EINVALID,
	           "unterminated string");
	expect_err("{'type':'output'}", ATR_EINVALID, "expected a string key");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"a\":NaN}}", ATR_EINVALID,
	           "unexpected character 'N'");
}

static void test_unicode(void **state)
{
	struct atr__event ev;

	(void)state;
	/* Invalid UTF-8 names the byte offset and the field. */
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"msg\":\"ab\xff\"}}",
	           ATR_EINVALID, "invalid UTF-8 at byte 48 in field 'detail.msg'");
	expect_err("{\"type\":\"output\",\"actor\":\"\xc3\x28\"}", ATR_EINVALID,
	           "invalid UTF-8 at byte 26 in field 'actor'");
	/* Overlong encodings and encoded surrogates are not UTF-8. */
	expect_err("{\"type\":\"output\",\"actor\":\"\xc0\xaf\"}", ATR_EINVALID, "invalid UTF-8");
	expect_err("{\"type\":\"output\",\"actor\":\"\xed\xa0\x80\"}", ATR_EINVALID,
	           "invalid UTF-8");
	expect_err("{\"type\":\"output\",\"actor\":\"\xf4\x90\x80\x80\"}", ATR_EINVALID,
	           "invalid UTF-8");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"k\xff\":1}}", ATR_EINVALID,
	           "invalid UTF-8 at byte 41 in a key of 'detail'");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"s\":\"a\\u0000b\"}}",
	           ATR_EINVALID, "field 'detail.s' contains \\u0000");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"s\":\"\\ud800\"}}",
	           ATR_EINVALID, "field 'detail.s' holds an unpaired UTF-16 surrogate escape");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"s\":\"\\udc00\\ud800\"}}",
	           ATR_EINVALID, "unpaired UTF-16 surrogate");
	/* Escapes decode to UTF-8; canonical output is not ASCII-escaped. */
	assert_int_equal(prep(&ev, "{\"type\":\"output\",\"actor\":\"\\u00e9\\ud83d\\ude00\\/\","
	                           "\"detail\":{\"\\u00e9\":\"\\u001f\\u007f\\u2028\"}}"),
	                 0);
	assert_string_equal(ev.actor, "\xc3\xa9\xf0\x9f\x98\x80/");
	assert_span(ev.detail, ev.detail_len, "{\"\xc3\xa9\":\"\\u001F\x7f\xe2\x80\xa8\"}");
	{
		char *rec = record(&ev, 1);

		assert_non_null(strstr(rec, "\"actor\":\"\xc3\xa9\xf0\x9f\x98\x80/\""));
		free(rec);
	}
	atr__event_release(&ev);
	/* Index columns are decoded text. */
	assert_int_equal(prep(&ev, "{\"type\":\"tool_call\",\"actor\":\"a\\\"b\","
	                           "\"target\":\"echo \\\"hi\\\"\\n\\u0001\"}"),
	                 0);
	assert_string_equal(ev.actor, "a\"b");
	assert_string_equal(ev.target, "echo \"hi\"\n\x01");
	atr__event_release(&ev);
}

static void test_duplicates(void **state)
{
	(void)state;
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"actor\":\"y\"}", ATR_EINVALID,
	           "duplicate field 'actor'");
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"a\":1,\"a\":2}}",
	           ATR_EINVALID, "duplicate key 'detail.a'");
	/* Not adjacent: found after sorting. */
	expect_err("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"b\":1,\"a\":2,\"b\":3}}",
	           ATR_EINVALID, "duplicate key 'detail.b'");
	/* The same key spelled two ways. */
	expect_err(
	    "{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"x\":{\"\\u0061\":1,\"a\":2}}}",
	    ATR_EINVALID, "duplicate key 'detail.x.a'");
	/* Same names at different levels are fine. */
	expect_ok("{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"actor\":{\"actor\":1},"
	          "\"type\":[{\"type\":2}]}}");
}

/* Key order is by decoded bytes, as Jansson's JSON_SORT_KEYS orders them. */
static void test_sort_order(void **state)
{
	static const char ev_json[] =
	    "{\"type\":\"output\",\"actor\":\"x\",\"detail\":{\"b\":1,\"a#\":2,\"a\\\"\":3,"
	    "\"\\u00e9\":4,\"Z\":5,\"a\":6,\"\":7,\"a\\u0001\":8,\"ab\":{\"y\":1,\"x\":[{\"d\":1,"
	    "\"c\":2}]}}}";
	struct atr__event ev;
	const char *detail;
	char *want;

	(void)state;
	assert_int_equal(prep(&ev, ev_json), 0);
	detail = strstr(ev_json, "\"detail\":") + 9;
	want = jansson_canon(detail, strlen(detail) - 1);
	assert_span(ev.detail, ev.detail_len, want);
	free(want);
	atr__event_release(&ev);
}

/*
 * Differential: mutate a detail at random and compare with Jansson. Both
 * must accept or reject alike, and when they accept, agree on the bytes.
 */
static void test_differential(void **state)
{
	static const char base[] =
	    "{\"k\":[1,-2.5e-3,true,null,\"s\\u00e9\\n\"],\"o\":{\"b\":{},\"a\":[]},"
	    "\"n\":123456789,\"f\":0.1,\"e\":1E+22,\"u\":\"\xe2\x82\xac\\ud83d\\ude00\"}";
	static const char alphabet[] = "{}[]\",:\\u0123456789eE.-+ \ntrufalsn\x80\xc3\xa9\xff/";
	char buf[sizeof(base) + 128];
	static const char prefix[] = "{\"type\":\"output\",\"actor\":\"x\",\"detail\":";
	size_t plen = sizeof(prefix) - 1;
	unsigned long seed = 12345;
	int accepted = 0;

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		char ev_json[sizeof(buf) + 64];
		size_t n = sizeof(base) - 1;
		json_error_t err;
		json_t *j;
		struct atr__event ev;
		int rc, muts;

		memcpy(buf, base, n);
		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		muts = 1 + (int)((seed >> 33) % 3);
		for (int m = 0; m < muts; m++) {
			size_t at;

			seed = seed * 6364136223846793005UL + 1442695040888963407UL;
			at = (seed >> 33) % n;
			seed = seed * 6364136223846793005UL + 1442695040888963407UL;
			switch ((seed >> 40) % 3) {
			case 0: /* replace */
				buf[at] = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
				break;
			case 1: /* delete */
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			default: /* insert */
				memmove(buf + at + 1, buf + at, n - at);
				buf[at] = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
				n++;
				break;
			}
		}
		memcpy(ev_json, prefix, plen);
		memcpy(ev_json + plen, buf, n);
		ev_json[plen + n] = '}';
		j = json_loadb(buf, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
		rc = atr__event_prepare(&ev, ev_json, plen + n + 1, RECEIVED);
		if (j && json_is_object(j)) {
			char *d = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

			if (rc != 0)
				fail_msg("jansson accepts, we reject (%s): %.*s", atr_errmsg(),
				         (int)n, buf);
			if (strlen(d) != ev.detail_len || memcmp(d, ev.detail, ev.detail_len))
				fail_msg("bytes differ:\n%s\n%.*s", d, (int)ev.detail_len,
				         ev.detail);
			free(d);
			accepted++;
		} else if (rc == 0) {
			/*
			 * We reject anything Jansson does, except that it answers
			 * non-objects with a parse error of its own.
			 */
			fail_msg("we accept, jansson rejects (%s): %.*s",
			         j ? "not an object" : err.text, (int)n, buf);
		}
		if (rc == 0)
			atr__event_release(&ev);
		json_decref(j);
	}
	/* The mutations must leave enough valid inputs to mean something. */
	assert_true(accepted > 1000);
}

static void test_record_splice_empty_head(void **state)
{
	/* The splice formula holds for any head: no comma after a bare '{'. */
	struct atr__event ev;
	char buf[64];
	size_t n;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	ev.head = "{";
	ev.head_len = 1;
	ev.tail = ",\"z\":1}";
	ev.tail_len = 7;
	n = atr__event_record(&ev, 7, buf);
	assert_int_equal(n, strlen("{\"seq\":7,\"z\":1}"));
	assert_memory_equal(buf, "{\"seq\":7,\"z\":1}", n);
	ev.head = "{\"a\":1";
	ev.head_len = 6;
	ev.tail = "}";
	ev.tail_len = 1;
	n = atr__event_record(&ev, 0, buf);
	assert_memory_equal(buf, "{\"a\":1,\"seq\":0}", n);
	atr__event_release(NULL);
}

/* ------------------------------------------------------------------ */

static void test_uuid7(void **state)
{
	uint8_t prev[16], id[16];
	char text[37];
	uint64_t ms = 0;

	(void)state;
	assert_int_equal(atr__uuid7(prev, RECEIVED), 0);
	for (int i = 0; i < 6; i++)
		ms = ms << 8 | prev[i];
	assert_true(ms == (uint64_t)(RECEIVED / 1000));
	for (int i = 0; i < 10000; i++) {
		/* Same millisecond, then a clock stepping back: still increasing. */
		assert_int_equal(atr__uuid7(id, i < 5000 ? RECEIVED : RECEIVED - 1000000), 0);
		assert_int_equal(id[6] >> 4, 7);
		assert_int_equal(id[8] >> 6, 2);
		assert_true(memcmp(prev, id, 16) < 0);
		memcpy(prev, id, 16);
	}
	atr__uuid_format(id, text);
	assert_int_equal(strlen(text), 36);
	assert_int_equal(text[14], '7');
	assert_true(strchr("89ab", text[19]) != NULL);
	{
		uint8_t back[16];

		assert_int_equal(atr__uuid_parse(back, text), 0);
		assert_memory_equal(back, id, 16);
	}
}

static void test_uuid_parse(void **state)
{
	uint8_t id[16];
	char text[37];

	(void)state;
	assert_int_equal(atr__uuid_parse(id, "0190A5D2-AC96-7C4B-BCCE-B302099A8057"), 0);
	atr__uuid_format(id, text);
	assert_string_equal(text, "0190a5d2-ac96-7c4b-bcce-b302099a8057");
	assert_int_equal(atr__uuid_parse(id, "00000000-0000-0000-0000-000000000000"), 0);
	assert_int_equal(atr__uuid_parse(id, "0190a5d2-ac96-7c4b-bcce-b302099a805"), -1);
	assert_int_equal(atr__uuid_parse(id, "0190a5d2-ac96-7c4b-bcce-b302099a80577"), -1);
	assert_int_equal(atr__uuid_parse(id, "0190a5d2ac96-7c4b-bcce-b302099a80577"), -1);
	assert_int_equal(atr__uuid_parse(id, "0190a5d2-ac96-7c4b-bcce_b302099a8057"), -1);
	assert_int_equal(atr__uuid_parse(id, "g190a5d2-ac96-7c4b-bcce-b302099a8057"), -1);
	assert_int_equal(atr__uuid_parse(id, ""), -1);
	assert_int_equal(atr__uuid_parse(id, "0190a5d2"), -1);
}

static void test_random_pool(void **state)
{
	uint8_t a[32], b[32], big[2000];

	(void)state;
	assert_int_equal(atr__random_pool(a, 32), 0);
	assert_int_equal(atr__random_pool(b, 32), 0);
	assert_memory_not_equal(a, b, 32);
	/* More than a pool refill's worth in total, and a large draw that bypasses it. */
	for (int i = 0; i < 500; i++)
		assert_int_equal(atr__random_pool(a, 32), 0);
	assert_int_equal(atr__random_pool(big, sizeof(big)), 0);
}

/* ------------------------------------------------------------------ */

static int64_t tp(const char *text)
{
	int64_t us = -1;

	if (atr_time_parse(text, &us) != 0)
		fail_msg("rejected '%s': %s", text, atr_errmsg());
	return us;
}

static void time_bad(const char *text, const char *msg)
{
	int64_t us;

	if (atr_time_parse(text, &us) != ATR_EINVALID || !strstr(atr_errmsg(), msg))
		fail_msg("'%s': got '%s', expected '%s'", text, atr_errmsg(), msg);
}

static void test_time(void **state)
{
	char out[28];
	int64_t us;

	(void)state;
	assert_true(tp("1970-01-01T00:00:00Z") == 0);
	assert_true(tp("2026-04-01T14:10:32.123456Z") == RECEIVED);
	assert_true(tp("2026-04-01t14:10:32.123456z") == RECEIVED);
	assert_true(tp("2026-04-01T16:10:32.123456+02:00") == RECEIVED);
	assert_true(tp("2026-04-01T08:40:32.123456-05:30") == RECEIVED);
	assert_true(tp("2026-04-01T14:10:32.123456789Z") == RECEIVED);
	assert_true(tp("2026-04-01T14:10:32.1234569Z") == RECEIVED);
	assert_true(tp("2026-04-01T14:10:32.1Z") == RECEIVED - 23456);
	assert_true(tp("2024-02-29T00:00:00Z") == INT64_C(1709164800) * 1000000);
	assert_true(tp("2000-02-29T23:59:59Z") == INT64_C(951868799) * 1000000);
	assert_true(tp("1969-12-31T23:59:59.5Z") == -500000);
	assert_true(tp("2026-12-31T23:59:59-00:00") == INT64_C(1798761599) * 1000000);

	time_bad("2026-02-29T00:00:00Z", "day out of range");
	time_bad("1900-02-29T00:00:00Z", "day out of range");
	time_bad("2026-04-31T00:00:00Z", "day out of range");
	time_bad("2026-13-01T00:00:00Z", "month out of range");
	time_bad("2026-00-01T00:00:00Z", "month out of range");
	time_bad("2026-04-01T24:00:00Z", "time of day out of range");
	time_bad("2026-04-01T23:60:00Z", "time of day out of range");
	time_bad("2026-04-01T23:59:60Z", "leap seconds");
	time_bad("2026-04-01T14:10:32", "expected 'Z' or an offset");
	time_bad("2026-04-01T14:10:32+0200", "expected an offset like +02:00");
	time_bad("2026-04-01T14:10:32+24:00", "offset out of range");
	time_bad("2026-04-01T14:10:32+02:60", "offset out of range");
	time_bad("2026-04-01T14:10:32+2:00", "expected an offset");
	time_bad("2026-04-01T14:10:32.Z", "expected digits after '.'");
	time_bad("2026-04-01T14:10:32.1234567890Z", "more than 9 fractional digits");
	time_bad("2026-04-01 14:10:32Z", "expected 'T'");
	time_bad("2026-4-01T14:10:32Z", "expected YYYY-MM-DD");
	time_bad("2026-04-01T14:10:32ZZ", "unexpected text");
	time_bad("2026-04-01T14:10", "expected HH:MM:SS");
	time_bad("", "expected YYYY-MM-DD");
	time_bad("0000-01-01T00:00:00+01:00", "outside years 0000 to 9999");
	assert_int_equal(atr_time_parse(NULL, &us), ATR_EINVALID);

	atr_time_format(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
	atr_time_format(-1, out);
	assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
	atr_time_format(tp("0000-01-01T00:00:00Z"), out);
	assert_string_equal(out, "0000-01-01T00:00:00.000000Z");
	atr_time_format(tp("9999-12-31T23:59:59.999999Z"), out);
	assert_string_equal(out, "9999-12-31T23:59:59.999999Z");
	atr_time_format(INT64_MAX, out);
	assert_string_equal(out, "9999-12-31T23:59:59.999999Z");
	atr_time_format(INT64_MIN, out);
	assert_string_equal(out, "0000-01-01T00:00:00.000000Z");

	/* Round trips over a wide spread of instants. */
	for (int64_t t = -INT64_C(62135596800000000); t < INT64_C(253402300799000000);
	     t += INT64_C(86399999937) * 1009) {
		atr_time_format(t, out);
		assert_int_equal(strlen(out), 27);
		assert_true(tp(out) == t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal),
	    cmocka_unit_test(test_typical_fields),
	    cmocka_unit_test(test_canonical_and_seq),
	    cmocka_unit_test(test_detail_commit),
	    cmocka_unit_test(test_content_hash),
	    cmocka_unit_test(test_event_id_given),
	    cmocka_unit_test(test_structure_errors),
	    cmocka_unit_test(test_types_and_levels),
	    cmocka_unit_test(test_every_known_type),
	    cmocka_unit_test(test_requirements),
	    cmocka_unit_test(test_nested_objects),
	    cmocka_unit_test(test_scalars),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_big_inputs),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_unicode),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_sort_order),
	    cmocka_unit_test(test_differential),
	    cmocka_unit_test(test_record_splice_empty_head),
	    cmocka_unit_test(test_uuid7),
	    cmocka_unit_test(test_uuid_parse),
	    cmocka_unit_test(test_random_pool),
	    cmocka_unit_test(test_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

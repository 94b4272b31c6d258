/*
 * Codex rollout lines to events (atr_codex_*): the fixture of
 * tests/data/codex (written by hand from the published record types: every
 * session_meta, turn_context, response_item and event_msg kind docs/agents.md
 * lists) maps line by line to the expected events, field by field; tool
 * outputs join their calls by call_id; a command is recorded once whichever
 * line says how it exited; a repeated token count is counted once; ids
 * derive from the session and the line, so a second reading (from another
 * name, or standard input) gives the same events; bad lines fail with a
 * message; and the events append to a real log, idempotently.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <agentrail/agentrail.h>
#include <agentrail/agents.h>

#define ATR_TEST_NAME "test_codex"
#include "tmpstore.h"

#define SESSION "019a2d7a-41c4-78b1-b7cc-a45d62a89cd5"
#define CWD     "/home/alice/proj"
#define ROLLOUT "sessions/2025/10/29/rollout-2025-10-29T00-59-38-" SESSION ".jsonl"
#define NLINES  33
/* SHA-256 of the session_meta's instructions. */
#define PROMPT_HASH "fd62b2ee25070e465d07eda17e1022c479b2bb6373be1725a167ef4761722d24"

/* ------------------------------------------------------------ helpers */

static char *fixture(const char *name, size_t *len)
{
	const char *slash = strrchr(__FILE__, '/');
	char p[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(p, sizeof(p), "%.*s/../data/codex/%s", (int)(slash - __FILE__), __FILE__, name);
	f = fopen(p, "rb");
	if (!f)
		fail_msg("cannot open fixture '%s'", p);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* The events of every line of the rollout fixture: lines[i] for line i + 1. */
struct mapped {
	atr_agent_events *lines[NLINES];
};

static void map_rollout(struct mapped *m, const char *file_id, const atr_agent_opts *opts)
{
	size_t len;
	char *text = fixture(ROLLOUT, &len), *p = text;
	atr_codex *c = NULL;

	assert_int_equal(atr_codex_new(&c, file_id, opts), 0);
	for (uint64_t no = 1; no <= NLINES; no++) {
		char *nl = strchr(p, '\n');
		int rc;

		assert_non_null(nl);
		rc = atr_codex_map_line(c, p, (size_t)(nl - p), no, &m->lines[no - 1]);
		if (rc != 0)
			fail_msg("line %llu: %s", (unsigned long long)no, atr_errmsg());
		p = nl + 1;
	}
	assert_int_equal(*p, '\0');
	assert_string_equal(atr_codex_session_id(c), SESSION);
	atr_codex_free(c);
	free(text);
}

static void release(struct mapped *m)
{
	for (size_t i = 0; i < NLINES; i++)
		atr_agent_events_free(m->lines[i]);
}

static json_t *ev_at(const struct mapped *m, int line, size_t i)
{
	size_t len;
	const char *t = atr_agent_events_get(m->lines[line - 1], i, &len);
	json_t *j;

	if (!t)
		fail_msg("line %d has no event %zu", line, i);
	j = json_loadb(t, len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	return j;
}

static json_t *at(json_t *o, const char *dotted)
{
	char buf[256], *p = buf;
	json_t *v = o;

	snprintf(buf, sizeof(buf), "%s", dotted);
	while (v && *p) {
		char *k = p, *end = p + strcspn(p, ".");

		p = *end ? end + 1 : end;
		*end = '\0';
		v = json_is_array(v) ? json_array_get(v, strtoul(k, NULL, 10))
		                     : json_object_get(v, k);
	}
	return v;
}

static const char *str(json_t *o, const char *dotted)
{
	json_t *v = at(o, dotted);

	return json_is_string(v) ? json_string_value(v) : v ? "(not a string)" : "(absent)";
}

static long long num(json_t *o, const char *dotted)
{
	json_t *v = at(o, dotted);

	if (!json_is_integer(v))
		fail_msg("'%s' is not an integer", dotted);
	return json_integer_value(v);
}

static void absent(json_t *o, const char *dotted)
{
	if (at(o, dotted))
		fail_msg("'%s' should be absent", dotted);
}

/* What every event of the session carries, up to its model. */
static void common(json_t *ev, const char *type, const char *ts, const char *model)
{
	assert_string_equal(str(ev, "type"), type);
	assert_string_equal(str(ev, "ts"), ts);
	assert_string_equal(str(ev, "agent_id"), "codex");
	assert_string_equal(str(ev, "agent_version"), "0.46.0");
	assert_string_equal(str(ev, "session_id"), SESSION);
	assert_string_equal(str(ev, "user_id"), "alice");
	assert_string_equal(str(ev, "system_prompt_hash"), PROMPT_HASH);
	if (model)
		assert_string_equal(str(ev, "model"), model);
	else
		absent(ev, "model");
	assert_int_equal(strlen(str(ev, "event_id")), 36);
	assert_int_equal(str(ev, "event_id")[14], '8'); /* derived */
}

static const atr_agent_opts alice = {NULL, "alice"};

/* ------------------------------------------------------------ the line table */

static void test_types_per_line(void **state)
{
	/* The event types of each line, "" for none. */
	static const char *const want[NLINES] = {
	    "session_start",                                /* 1 session_meta */
	    "",                                             /* 2 injected context */
	    "",                                             /* 3 user message item */
	    "task_submit",                                  /* 4 user_message */
	    "x_codex_turn_context",                         /* 5 turn_context */
	    "",                                             /* 6 token_count, no info */
	    "",                                             /* 7 task_started */
	    "x_reasoning",                                  /* 8 reasoning */
	    "",                                             /* 9 agent_reasoning */
	    "tool_call",                                    /* 10 function_call shell */
	    "command",                                      /* 11 exec_command_end */
	    "tool_result",                                  /* 12 its output */
	    "llm_call",                                     /* 13 token_count */
	    "tool_call",                                    /* 14 custom_tool_call */
	    "",                                             /* 15 patch_apply_begin */
	    "file_write file_write file_delete file_write", /* 16 patch_apply_end */
	    "tool_result",                                  /* 17 custom_tool_call_output */
	    "tool_call",                                    /* 18 local_shell_call */
	    "tool_result command",                          /* 19 its output */
	    "tool_call",                                    /* 20 function_call */
	    "tool_result",                                  /* 21 its output */
	    "tool_call",                                    /* 22 web_search_call */
	    "",                                             /* 23 the same count again */
	    "llm_call",                                     /* 24 token_count */
	    "x_codex_turn_context",                         /* 25 the model changed */
	    "",                                             /* 26 nothing changed */
	    "output",                                       /* 27 assistant message */
	    "",                                             /* 28 agent_message */
	    "task_outcome",                                 /* 29 task_complete */
	    "task_outcome",                                 /* 30 turn_aborted */
	    "error",                                        /* 31 error */
	    "",                                             /* 32 compacted */
	    "command",                                      /* 33 exec_command_end, user shell */
	};
	struct mapped m;
	size_t total = 0;

	(void)state;
	map_rollout(&m, "rollout.jsonl", &alice);
	for (int line = 1; line <= NLINES; line++) {
		char got[256] = "";
		size_t n = atr_agent_events_count(m.lines[line - 1]);

		for (size_t i = 0; i < n; i++) {
			json_t *ev = ev_at(&m, line, i);

			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "",
			         str(ev, "type"));
			json_decref(ev);
		}
		if (strcmp(got, want[line - 1]) != 0)
			fail_msg("line %d: '%s', expected '%s'", line, got, want[line - 1]);
		total += n;
	}
	assert_int_equal(total, 27);
	release(&m);
}

/* ------------------------------------------------------------ field by field */

static void test_session_and_model(void **state)
{
	struct mapped m;
	json_t *ev;

	(void)state;
	map_rollout(&m, "rollout.jsonl", &alice);
	ev = ev_at(&m, 1, 0);
	common(ev, "session_start", "2025-10-29T00:59:38.317000Z", NULL);
	assert_string_equal(str(ev, "actor"), "codex");
	assert_string_equal(str(ev, "detail.cwd"), CWD);
	assert_string_equal(str(ev, "detail.cli_version"), "0.46.0");
	assert_string_equal(str(ev, "detail.originator"), "codex_cli_rs");
	assert_string_equal(str(ev, "detail.source"), "cli");
	assert_string_equal(str(ev, "detail.model_provider"), "openai");
	assert_string_equal(str(ev, "detail.git.branch"), "main");
	assert_string_equal(str(ev, "detail.git.commit_hash"),
	                    "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d");
	absent(ev, "detail.id"); /* in the header */
	absent(ev, "level");
	json_decref(ev);

	ev = ev_at(&m, 4, 0);
	common(ev, "task_submit", "2025-10-29T00:59:41.020000Z", NULL);
	assert_string_equal(str(ev, "actor"), "alice"); /* the user's prompt */
	assert_string_equal(str(ev, "detail.message"), "fix the failing test");
	json_decref(ev);

	ev = ev_at(&m, 5, 0);
	common(ev, "x_codex_turn_context", "2025-10-29T00:59:41.021000Z", "gpt-5-codex");
	assert_string_equal(str(ev, "level"), "agent");
	assert_string_equal(str(ev, "target"), "gpt-5-codex");
	assert_string_equal(str(ev, "detail.approval_policy"), "on-request");
	assert_string_equal(str(ev, "detail.sandbox_policy.type"), "workspace-write");
	assert_string_equal(str(ev, "detail.effort"), "medium");
	json_decref(ev);

	ev = ev_at(&m, 25, 0);
	common(ev, "x_codex_turn_context", "2025-10-29T00:59:52.100000Z", "gpt-5");
	assert_string_equal(str(ev, "target"), "gpt-5");
	json_decref(ev);

	/* The model in force is on every later event. */
	ev = ev_at(&m, 27, 0);
	common(ev, "output", "2025-10-29T00:59:53.000000Z", "gpt-5");
	assert_string_equal(str(ev, "detail.text"),
	                    "Fixed: parse() now returns 0 on empty input; the tests pass.");
	assert_string_equal(str(ev, "detail.role"), "assistant");
	json_decref(ev);

	ev = ev_at(&m, 8, 0);
	common(ev, "x_reasoning", "2025-10-29T00:59:43.250000Z", "gpt-5-codex");
	assert_string_equal(str(ev, "detail.summary.0"), "**Running the tests first**");
	assert_true(json_is_true(at(ev, "detail.encrypted_content"))); /* there, not copied */
	json_decref(ev);

	ev = ev_at(&m, 29, 0);
	common(ev, "task_outcome", "2025-10-29T00:59:53.002000Z", "gpt-5");
	assert_string_equal(str(ev, "detail.last_agent_message"),
	                    "Fixed: parse() now returns 0 on empty input; the tests pass.");
	absent(ev, "outcome");
	json_decref(ev);
	ev = ev_at(&m, 30, 0);
	assert_string_equal(str(ev, "outcome"), "aborted");
	assert_string_equal(str(ev, "detail.reason"), "interrupted");
	json_decref(ev);
	ev = ev_at(&m, 31, 0);
	common(ev, "error", "2025-10-29T01:02:11.000000Z", "gpt-5");
	assert_string_equal(str(ev, "outcome"), "error");
	assert_string_equal(str(ev, "detail.message"), "stream disconnected before completion");
	json_decref(ev);
	release(&m);
}

static void test_tools_and_commands(void **state)
{
	struct mapped m;
	json_t *call, *ev;

	(void)state;
	map_rollout(&m, "rollout.jsonl", &alice);
	/* shell: the call, its command (from exec_command_end), its output. */
	call = ev_at(&m, 10, 0);
	common(call, "tool_call", "2025-10-29T00:59:43.400000Z", "gpt-5-codex");
	assert_string_equal(str(call, "target"), "shell");
	assert_string_equal(str(call, "detail.call_id"), "call_shell_1");
	assert_string_equal(str(call, "detail.arguments.command.2"), "make test"); /* parsed */
	assert_int_equal(num(call, "detail.arguments.timeout_ms"), 120000);
	ev = ev_at(&m, 11, 0);
	common(ev, "command", "2025-10-29T00:59:44.700000Z", "gpt-5-codex");
	assert_string_equal(str(ev, "actor"), "codex");
	assert_string_equal(str(ev, "target"), "make test");
	assert_int_equal(num(ev, "exit_code"), 2);
	assert_string_equal(str(ev, "outcome"), "failure");
	assert_string_equal(str(ev, "parent_event_id"), str(call, "event_id"));
	assert_int_equal(num(ev, "detail.duration_ms"), 1250);
	assert_string_equal(str(ev, "detail.cwd"), CWD);
	assert_string_equal(
	    str(ev, "detail.stderr"),
	    "test_empty: FAIL (got -1, want 0)\nmake: *** [Makefile:9: test] Error 1\n");
	absent(ev, "detail.formatted_output");
	json_decref(ev);
	ev = ev_at(&m, 12, 0);
	common(ev, "tool_result", "2025-10-29T00:59:44.701000Z", "gpt-5-codex");
	assert_string_equal(str(ev, "target"), "shell");
	assert_string_equal(str(ev, "outcome"), "success");
	assert_string_equal(str(ev, "parent_event_id"), str(call, "event_id"));
	assert_string_equal(str(ev, "detail.call_id"), "call_shell_1");
	assert_non_null(strstr(str(ev, "detail.output"), "Exit code: 2"));
	json_decref(ev);
	json_decref(call);

	/* local_shell: no exec_command_end, so the output's exit code makes the command. */
	call = ev_at(&m, 18, 0);
	assert_string_equal(str(call, "target"), "local_shell");
	assert_string_equal(str(call, "detail.action.working_directory"), CWD);
	ev = ev_at(&m, 19, 1);
	common(ev, "command", "2025-10-29T00:59:49.300000Z", "gpt-5-codex");
	assert_string_equal(str(ev, "target"), "git commit -am 'fix parse of empty input'");
	assert_int_equal(num(ev, "exit_code"), 0);
	assert_string_equal(str(ev, "outcome"), "success");
	assert_string_equal(str(ev, "parent_event_id"), str(call, "event_id"));
	assert_string_equal(str(ev, "detail.source"), "function_call_output");
	json_decref(ev);
	ev = ev_at(&m, 19, 0);
	assert_string_equal(str(ev, "target"), "local_shell");
	assert_string_equal(str(ev, "parent_event_id"), str(call, "event_id"));
	json_decref(ev);
	json_decref(call);

	/* Any other tool: call and result joined by call_id. */
	call = ev_at(&m, 20, 0);
	assert_string_equal(str(call, "target"), "update_plan");
	assert_string_equal(str(call, "detail.arguments.plan.0.status"), "completed");
	ev = ev_at(&m, 21, 0);
	assert_string_equal(str(ev, "target"), "update_plan");
	assert_string_equal(str(ev, "detail.output"), "Plan updated");
	assert_string_equal(str(ev, "parent_event_id"), str(call, "event_id"));
	json_decref(ev);
	json_decref(call);

	ev = ev_at(&m, 22, 0);
	assert_string_equal(str(ev, "target"), "web_search");
	assert_string_equal(str(ev, "detail.action.query"), "make exit status 2");
	absent(ev, "detail.type");
	json_decref(ev);

	/* "!ls" in the TUI: the user ran it. */
	ev = ev_at(&m, 33, 0);
	common(ev, "command", "2025-10-29T01:02:20.000000Z", "gpt-5");
	assert_string_equal(str(ev, "actor"), "alice");
	assert_string_equal(str(ev, "target"), "ls");
	assert_int_equal(num(ev, "exit_code"), 0);
	assert_string_equal(str(ev, "detail.source"), "user_shell");
	absent(ev, "parent_event_id");
	json_decref(ev);
	release(&m);
}

static void test_patches(void **state)
{
	static const struct {
		const char *type, *target, *kind;
	} want[] = {
	    {"file_write", CWD "/docs/new.md", "update"},
	    {"file_write", CWD "/src/parse.c", "update"},
	    {"file_delete", CWD "/tests/old_test.c", "delete"},
	    {"file_write", CWD "/tests/test_empty.c", "add"},
	};
	struct mapped m;
	json_t *call, *ev;

	(void)state;
	map_rollout(&m, "rollout.jsonl", &alice);
	call = ev_at(&m, 14, 0);
	assert_string_equal(str(call, "target"), "apply_patch");
	assert_non_null(strstr(str(call, "detail.input"), "*** Begin Patch"));
	assert_int_equal(atr_agent_events_count(m.lines[15]), 4);
	for (size_t i = 0; i < 4; i++) {
		ev = ev_at(&m, 16, i);
		common(ev, want[i].type, "2025-10-29T00:59:47.130000Z", "gpt-5-codex");
		assert_string_equal(str(ev, "target"), want[i].target);
		assert_string_equal(str(ev, "outcome"), "success");
		assert_string_equal(str(ev, "parent_event_id"), str(call, "event_id"));
		assert_string_equal(str(ev, "detail.type"), want[i].kind);
		assert_string_equal(str(ev, "detail.call_id"), "call_patch_1");
		json_decref(ev);
	}
	ev = ev_at(&m, 16, 0);
	assert_string_equal(str(ev, "detail.moved_from"), CWD "/docs/old.md");
	json_decref(ev);
	ev = ev_at(&m, 16, 1);
	assert_string_equal(str(ev, "detail.unified_diff"),
	                    "@@ -3 +3 @@\n-\treturn -1;\n+\treturn 0;\n");
	absent(ev, "detail.moved_from");
	json_decref(ev);
	ev = ev_at(&m, 16, 3);
	assert_string_equal(str(ev, "detail.content"), "int main(void) { return 0; }\n");
	json_decref(ev);
	/* The patch tool's output: no command (apply_patch is not a shell). */
	ev = ev_at(&m, 17, 0);
	assert_string_equal(str(ev, "target"), "apply_patch");
	assert_string_equal(str(ev, "parent_event_id"), str(call, "event_id"));
	json_decref(ev);
	json_decref(call);
	release(&m);
}

static void test_token_counts(void **state)
{
	struct mapped m;
	json_t *ev;

	(void)state;
	map_rollout(&m, "rollout.jsonl", &alice);
	ev = ev_at(&m, 13, 0);
	common(ev, "llm_call", "2025-10-29T00:59:44.900000Z", "gpt-5-codex");
	assert_int_equal(num(ev, "usage.input_tokens"), 9000);
	assert_int_equal(num(ev, "usage.output_tokens"), 300);
	absent(ev, "usage.cost_micro_usd");
	assert_int_equal(num(ev, "detail.total_token_usage.total_tokens"), 9300);
	assert_int_equal(num(ev, "detail.last_token_usage.cached_input_tokens"), 4500);
	assert_int_equal(num(ev, "detail.model_context_window"), 272000);
	assert_int_equal(num(ev, "detail.rate_limits.primary.window_minutes"), 300);
	json_decref(ev);
	/* Line 23 repeats line 13's totals: nothing. Line 24: the next call's usage. */
	assert_int_equal(atr_agent_events_count(m.lines[22]), 0);
	ev = ev_at(&m, 24, 0);
	assert_int_equal(num(ev, "usage.input_tokens"), 10500);
	assert_int_equal(num(ev, "usage.output_tokens"), 420);
	assert_int_equal(num(ev, "detail.total_token_usage.input_tokens"), 19500);
	json_decref(ev);
	release(&m);

	/* A count before any turn_context: the model is not known yet. */
	{
		atr_codex *c = NULL;
		atr_agent_events *l = NULL;
		const char *meta =
		    "{\"timestamp\":\"2025-01-01T00:00:00Z\",\"type\":\"session_meta\","
		    "\"payload\":{\"id\":\"s\",\"cli_version\":\"0.1.0\"}}";
		const char *count =
		    "{\"timestamp\":\"2025-01-01T00:00:01Z\",\"type\":\"event_msg\","
		    "\"payload\":{\"type\":\"token_count\",\"info\":{"
		    "\"last_token_usage\":{\"input_tokens\":5,\"output_tokens\":-1}}}}";

		assert_int_equal(atr_codex_new(&c, NULL, NULL), 0);
		assert_int_equal(atr_codex_map_line(c, meta, strlen(meta), 1, &l), 0);
		atr_agent_events_free(l);
		assert_int_equal(atr_codex_map_line(c, count, strlen(count), 2, &l), 0);
		assert_int_equal(atr_agent_events_count(l), 1);
		ev = json_loads(atr_agent_events_get(l, 0, NULL), 0, NULL);
		assert_string_equal(str(ev, "model"), "unknown");
		assert_int_equal(num(ev, "usage.input_tokens"), 5);
		absent(ev, "usage.output_tokens"); /* not a count */
		absent(ev, "user_id");
		assert_string_equal(str(ev, "actor"), "codex");
		json_decref(ev);
		atr_agent_events_free(l);
		atr_codex_free(c);
	}
}

/* ------------------------------------------------------------ ids, errors, the log */

static void test_same_events_again(void **state)
{
	struct mapped a, b;

	(void)state;
	/* The ids derive from the session, not the name the file is read under. */
	map_rollout(&a, "rollout.jsonl", &alice);
	map_rollout(&b, NULL, &alice);
	for (size_t i = 0; i < NLINES; i++) {
		assert_int_equal(atr_agent_events_count(a.lines[i]),
		                 atr_agent_events_count(b.lines[i]));
		for (size_t k = 0; k < atr_agent_events_count(a.lines[i]); k++)
			assert_string_equal(atr_agent_events_get(a.lines[i], k, NULL),
			                    atr_agent_events_get(b.lines[i], k, NULL));
	}
	release(&a);
	release(&b);
}

static void expect_invalid(atr_codex *c, const char *line, uint64_t no, const char *part)
{
	atr_agent_events *l = (atr_agent_events *)(uintptr_t)1;

	assert_int_equal(atr_codex_map_line(c, line, strlen(line), no, &l), ATR_EINVALID);
	assert_null(l);
	if (!strstr(atr_errmsg(), part))
		fail_msg("message '%s' does not contain '%s'", atr_errmsg(), part);
}

static void test_errors_and_names(void **state)
{
	atr_codex *c = NULL;
	atr_agent_events *l = NULL;
	const char *item = "{\"timestamp\":\"2025-01-01T00:00:00Z\",\"type\":\"event_msg\","
	                   "\"payload\":{\"type\":\"exec_command_end\",\"call_id\":\"c\","
	                   "\"command\":[\"echo\",\"a b\",\"it's\"],\"exit_code\":0}}";
	const char *untimed = "{\"type\":\"event_msg\",\"payload\":{\"type\":\"error\","
	                      "\"message\":\"m\"}}";
	json_t *ev;
	char first[37];

	(void)state;
	/* No name and no session_meta first: nothing to derive ids from. */
	assert_int_equal(atr_codex_new(&c, NULL, NULL), 0);
	expect_invalid(c, item, 1, "first line must be a session_meta");
	atr_codex_free(c);

	/* With a name, a file that does not start with a session_meta is read. */
	assert_int_equal(atr_codex_new(&c, "rollout-x.jsonl", NULL), 0);
	expect_invalid(c, "{not json", 1, "malformed JSON at column");
	expect_invalid(c, "[1]", 1, "a rollout line is a JSON object");
	expect_invalid(c, "{\"timestamp\":\"2025-01-01T00:00:00Z\",\"type\":\"event_msg\"}", 1,
	               "needs a string 'type' and an object 'payload'");
	expect_invalid(c, "{\"timestamp\":\"yesterday\",\"type\":\"x\",\"payload\":{}}", 1,
	               "'yesterday' is not an RFC 3339 time");
	expect_invalid(c, "{\"type\":\"x\",\"payload\":{}}", 1, "missing field 'timestamp'");
	expect_invalid(c,
	               "{\"timestamp\":\"2025-01-01T00:00:00Z\",\"type\":\"session_meta\","
	               "\"payload\":{\"cwd\":\"/\"}}",
	               1, "session_meta without a string 'payload.id'");
	/* The failed lines were not taken: line 1 is still to come. */
	assert_int_equal(atr_codex_map_line(c, item, strlen(item), 1, &l), 0);
	assert_int_equal(atr_agent_events_count(l), 1);
	ev = json_loads(atr_agent_events_get(l, 0, NULL), 0, NULL);
	assert_string_equal(str(ev, "type"), "command");
	/* Words quoted for a POSIX shell where needed. */
	assert_string_equal(str(ev, "target"), "echo 'a b' 'it'\\''s'");
	absent(ev, "session_id");
	snprintf(first, sizeof(first), "%s", str(ev, "event_id"));
	json_decref(ev);
	atr_agent_events_free(l);
	expect_invalid(c, item, 1, "lines must be read in order");
	/* The same call does not make a second command; a line without a time takes the last. */
	assert_int_equal(atr_codex_map_line(c, item, strlen(item), 2, &l), 0);
	assert_int_equal(atr_agent_events_count(l), 0);
	atr_agent_events_free(l);
	assert_int_equal(atr_codex_map_line(c, untimed, strlen(untimed), 3, &l), 0);
	ev = json_loads(atr_agent_events_get(l, 0, NULL), 0, NULL);
	assert_string_equal(str(ev, "ts"), "2025-01-01T00:00:00.000000Z");
	assert_string_not_equal(str(ev, "event_id"), first);
	json_decref(ev);
	atr_agent_events_free(l);
	atr_codex_free(c);
}

static void test_into_the_log(void **state)
{
	atr_log *log = NULL;
	struct mapped m;
	uint64_t size = 0;

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	for (int round = 0; round < 2; round++) {
		map_rollout(&m, "rollout.jsonl", &alice);
		for (size_t i = 0; i < NLINES; i++) {
			for (size_t k = 0; k < atr_agent_events_count(m.lines[i]); k++) {
				size_t len;
				const char *t = atr_agent_events_get(m.lines[i], k, &len);
				atr_append_result res;

				if (atr_log_append(log, t, len, &res) != 0)
					fail_msg("line %zu: %s", i + 1, atr_errmsg());
				assert_int_equal(res.duplicate, round == 1);
			}
		}
		release(&m);
	}
	assert_int_equal(atr_log_size(log, &size), 0);
	assert_int_equal(size, 27);
	atr_log_free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_types_per_line),
	    cmocka_unit_test(test_session_and_model),
	    cmocka_unit_test(test_tools_and_commands),
	    cmocka_unit_test(test_patches),
	    cmocka_unit_test(test_token_counts),
	    cmocka_unit_test(test_same_events_again),
	    cmocka_unit_test(test_errors_and_names),
	    cmocka_unit_test_setup_teardown(test_into_the_log, tmpstore_setup, tmpstore_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

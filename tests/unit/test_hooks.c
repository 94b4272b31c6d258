/*
 * Claude Code hook payloads and Codex notify payloads to events
 * (atr_claude_hook_map, atr_codex_notify_map): every hook event of
 * tests/data/claude-code (written by hand from the published field names)
 * maps field by field as docs/agents.md says; ids derive from the tool use
 * or prompt so a payload delivered twice is one event; unknown hooks are
 * kept; oversized, deep or NUL-holding payloads still make events the log
 * takes; malformed input fails with a message; and the events append to a
 * real log, idempotently.
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

#define ATR_TEST_NAME "test_hooks"
#include "tmpstore.h"

#define SESSION "3b8c1f4e-7f5e-4c1a-9a57-2d1b4c5e6f70"
#define CWD     "/home/alice/proj"

static const atr_agent_opts alice = {NULL, "alice"};

/* ------------------------------------------------------------ helpers */

/* A file of tests/data/<dir>, NUL-terminated; free() it. */
static char *fixture(const char *dir, const char *name, size_t *len)
{
	const char *slash = strrchr(__FILE__, '/');
	char p[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(p, sizeof(p), "%.*s/../data/%s/%s", (int)(slash - __FILE__), __FILE__, dir, name);
	f = fopen(p, "rb");
	if (!f)
		fail_msg("cannot open fixture '%s'", p);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static atr_agent_events *map_text(const char *text, const atr_agent_opts *opts)
{
	atr_agent_events *l = NULL;
	int rc = atr_claude_hook_map(&l, text, strlen(text), opts);

	if (rc != 0)
		fail_msg("atr_claude_hook_map: %d %s", rc, atr_errmsg());
	assert_non_null(l);
	return l;
}

static atr_agent_events *map_fixture(const char *name, const atr_agent_opts *opts)
{
	size_t len;
	char *text = fixture("claude-code", name, &len);
	atr_agent_events *l = map_text(text, opts);

	free(text);
	return l;
}

/* Event 'i' of 'l' parsed (no duplicate keys). */
static json_t *event(const atr_agent_events *l, size_t i)
{
	size_t len;
	const char *t = atr_agent_events_get(l, i, &len);
	json_t *j;

	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	j = json_loadb(t, len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	return j;
}

/* The value at a dotted path (numbers index arrays). */
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

/* The UUID version digit of an event_id. */
static char version(json_t *ev)
{
	const char *id = str(ev, "event_id");

	assert_int_equal(strlen(id), 36);
	return id[14];
}

/* What every Claude Code event carries. */
static void common(json_t *ev, const char *type, const char *hook)
{
	assert_string_equal(str(ev, "type"), type);
	assert_string_equal(str(ev, "agent_id"), "claude-code");
	assert_string_equal(str(ev, "session_id"), SESSION);
	assert_string_equal(str(ev, "user_id"), "alice");
	assert_string_equal(str(ev, "detail.hook_event_name"), hook);
	assert_string_equal(str(ev, "detail.cwd"), CWD);
	absent(ev, "detail.session_id"); /* it is in the header */
	absent(ev, "ts");                /* the producer (or the log) stamps the time */
}

/* The event_id of event 'i' of the fixture 'name', mapped on its own. */
static void fixture_id(const char *name, size_t i, char out[37])
{
	atr_agent_events *l = map_fixture(name, &alice);
	json_t *ev = event(l, i);

	snprintf(out, 37, "%s", str(ev, "event_id"));
	json_decref(ev);
	atr_agent_events_free(l);
}

/* ------------------------------------------------------------ sessions and prompts */

static void test_session_start_end(void **state)
{
	atr_agent_events *l = map_fixture("session_start.json", &alice), *again;
	json_t *ev, *ev2;

	(void)state;
	assert_int_equal(atr_agent_events_count(l), 1);
	ev = event(l, 0);
	common(ev, "session_start", "SessionStart");
	assert_string_equal(str(ev, "actor"), "claude-code");
	assert_string_equal(str(ev, "model"), "claude-sonnet-4-5-20250929");
	assert_string_equal(str(ev, "detail.source"), "startup");
	assert_string_equal(str(ev, "detail.transcript_path"),
	                    "/home/alice/.claude/projects/-home-alice-proj/" SESSION ".jsonl");
	absent(ev, "level");
	absent(ev, "target");
	/* A session starts up once: its id derives from the session. */
	assert_int_equal(version(ev), '8');
	again = map_fixture("session_start.json", &alice);
	ev2 = event(again, 0);
	assert_string_equal(str(ev, "event_id"), str(ev2, "event_id"));
	json_decref(ev2);
	atr_agent_events_free(again);
	json_decref(ev);
	atr_agent_events_free(l);

	/* A resume may come many times: a fresh id each time. */
	l = map_text("{\"session_id\":\"" SESSION "\",\"hook_event_name\":\"SessionStart\","
	             "\"source\":\"resume\",\"cwd\":\"" CWD "\"}",
	             &alice);
	again = map_text("{\"session_id\":\"" SESSION "\",\"hook_event_name\":\"SessionStart\","
	                 "\"source\":\"resume\",\"cwd\":\"" CWD "\"}",
	                 &alice);
	ev = event(l, 0);
	ev2 = event(again, 0);
	assert_int_equal(version(ev), '7');
	assert_string_not_equal(str(ev, "event_id"), str(ev2, "event_id"));
	absent(ev, "model");
	json_decref(ev);
	json_decref(ev2);
	atr_agent_events_free(l);
	atr_agent_events_free(again);

	l = map_fixture("session_end.json", &alice);
	assert_int_equal(atr_agent_events_count(l), 1);
	ev = event(l, 0);
	common(ev, "session_end", "SessionEnd");
	assert_string_equal(str(ev, "reason"), "prompt_input_exit");
	assert_string_equal(str(ev, "detail.reason"), "prompt_input_exit");
	assert_string_equal(str(ev, "detail.permission_mode"), "default");
	assert_int_equal(version(ev), '7');
	json_decref(ev);
	atr_agent_events_free(l);
}

static void test_user_prompt(void **state)
{
	atr_agent_events *l = map_fixture("user_prompt_submit.json", &alice);
	json_t *ev = event(l, 0);
	char id[37];

	(void)state;
	assert_int_equal(atr_agent_events_count(l), 1);
	common(ev, "task_submit", "UserPromptSubmit");
	/* The prompt is the user's act. */
	assert_string_equal(str(ev, "actor"), "alice");
	assert_string_equal(str(ev, "detail.prompt"),
	                    "Fix the failing parser test and commit the fix.");
	assert_string_equal(str(ev, "detail.prompt_id"), "6f1d0a52-95f4-4b8e-8d38-0c2e5b7a9e11");
	assert_int_equal(version(ev), '8');
	fixture_id("user_prompt_submit.json", 0, id);
	assert_string_equal(str(ev, "event_id"), id);
	json_decref(ev);
	atr_agent_events_free(l);

	/* Without a user: the prompt is by "user", and no user_id. */
	l = map_fixture("user_prompt_submit.json", NULL);
	ev = event(l, 0);
	assert_string_equal(str(ev, "actor"), "user");
	absent(ev, "user_id");
	json_decref(ev);
	atr_agent_events_free(l);
}

/* ------------------------------------------------------------ tools */

static void test_pre_tool_use(void **state)
{
	atr_agent_events *l = map_fixture("pre_tool_use.json", &alice);
	json_t *ev = event(l, 0);
	char id[37];

	(void)state;
	assert_int_equal(atr_agent_events_count(l), 1);
	common(ev, "tool_call", "PreToolUse");
	assert_string_equal(str(ev, "actor"), "claude-code");
	assert_string_equal(str(ev, "target"), "Bash");
	assert_string_equal(str(ev, "detail.tool_input.command"), "make test");
	assert_string_equal(str(ev, "detail.tool_use_id"), "toolu_01ABCDEFGHJKMNPQRSTVWXYZ01");
	absent(ev, "parent_event_id");
	absent(ev, "outcome");
	/* Derived from the tool use: the same hook again is the same event. */
	assert_int_equal(version(ev), '8');
	fixture_id("pre_tool_use.json", 0, id);
	assert_string_equal(str(ev, "event_id"), id);
	json_decref(ev);
	atr_agent_events_free(l);
}

static void test_post_tool_bash(void **state)
{
	atr_agent_events *l = map_fixture("post_tool_use_bash.json", &alice);
	json_t *res, *cmd;
	char call[37];

	(void)state;
	fixture_id("pre_tool_use.json", 0, call);
	assert_int_equal(atr_agent_events_count(l), 2);
	res = event(l, 0);
	cmd = event(l, 1);
	common(res, "tool_result", "PostToolUse");
	assert_string_equal(str(res, "target"), "Bash");
	assert_string_equal(str(res, "outcome"), "success");
	assert_string_equal(str(res, "parent_event_id"), call);
	assert_string_equal(str(res, "detail.tool_response.stdout"),
	                    "cc -o test_parse test_parse.c\n./test_parse\nall 12 tests passed\n");
	assert_int_equal(version(res), '8');

	common(cmd, "command", "PostToolUse");
	assert_string_equal(str(cmd, "target"), "make test");
	assert_int_equal(num(cmd, "exit_code"), 0);
	assert_string_equal(str(cmd, "outcome"), "success");
	assert_string_equal(str(cmd, "parent_event_id"), call);
	assert_true(json_is_true(at(cmd, "detail.exit_code_inferred")));
	assert_string_equal(str(cmd, "detail.description"), "Run the test suite");
	assert_string_equal(str(cmd, "detail.tool_use_id"), "toolu_01ABCDEFGHJKMNPQRSTVWXYZ01");
	absent(cmd, "detail.tool_response"); /* the tool_result holds the output */
	assert_string_not_equal(str(res, "event_id"), str(cmd, "event_id"));
	assert_string_not_equal(str(res, "event_id"), call);
	json_decref(res);
	json_decref(cmd);
	atr_agent_events_free(l);

	/* An exit code the tool reports is taken as it is. */
	l = map_text("{\"session_id\":\"" SESSION "\",\"hook_event_name\":\"PostToolUse\","
	             "\"cwd\":\"" CWD "\",\"tool_name\":\"Bash\",\"tool_input\":{\"command\":"
	             "\"false\"},\"tool_response\":{\"exit_code\":1,\"interrupted\":false}}",
	             &alice);
	cmd = event(l, 1);
	assert_int_equal(num(cmd, "exit_code"), 1);
	assert_string_equal(str(cmd, "outcome"), "failure");
	absent(cmd, "detail.exit_code_inferred");
	absent(cmd, "parent_event_id"); /* no tool_use_id: nothing to point at */
	assert_int_equal(version(cmd), '7');
	json_decref(cmd);
	atr_agent_events_free(l);

	/* Interrupted. */
	l = map_text("{\"session_id\":\"" SESSION "\",\"hook_event_name\":\"PostToolUse\","
	             "\"cwd\":\"" CWD "\",\"tool_name\":\"Bash\",\"tool_use_id\":\"t1\","
	             "\"tool_input\":{\"command\":\"sleep 100\"},\"tool_response\":{\"stdout\":"
	             "\"\",\"interrupted\":true}}",
	             &alice);
	res = event(l, 0);
	cmd = event(l, 1);
	assert_string_equal(str(res, "outcome"), "interrupted");
	assert_string_equal(str(cmd, "outcome"), "interrupted");
	json_decref(res);
	json_decref(cmd);
	atr_agent_events_free(l);
}

static void test_post_tool_failure(void **state)
{
	atr_agent_events *l = map_fixture("post_tool_use_failure.json", &alice);
	json_t *res, *cmd;

	(void)state;
	assert_int_equal(atr_agent_events_count(l), 2);
	res = event(l, 0);
	cmd = event(l, 1);
	common(res, "tool_result", "PostToolUseFailure");
	assert_string_equal(str(res, "target"), "Bash");
	assert_string_equal(str(res, "outcome"), "error");
	assert_string_equal(str(res, "detail.error"),
	                    "Exit code 2\nmake: *** No rule to make target 'tests'.  Stop.");
	assert_true(json_is_false(at(res, "detail.is_interrupt")));
	common(cmd, "command", "PostToolUseFailure");
	assert_string_equal(str(cmd, "target"), "make tests");
	assert_int_equal(num(cmd, "exit_code"), 2);
	assert_string_equal(str(cmd, "outcome"), "failure");
	assert_string_equal(str(cmd, "parent_event_id"), str(res, "parent_event_id"));
	json_decref(res);
	json_decref(cmd);
	atr_agent_events_free(l);

	/* No exit code in the error (refused, timed out): no command event, the result says. */
	l = map_text("{\"session_id\":\"" SESSION "\",\"hook_event_name\":\"PostToolUseFailure\","
	             "\"cwd\":\"" CWD "\",\"tool_name\":\"Bash\",\"tool_use_id\":\"t2\","
	             "\"tool_input\":{\"command\":\"make\"},\"error\":\"Command timed out\","
	             "\"is_interrupt\":true}",
	             &alice);
	assert_int_equal(atr_agent_events_count(l), 1);
	res = event(l, 0);
	assert_string_equal(str(res, "outcome"), "interrupted");
	json_decref(res);
	atr_agent_events_free(l);

	/* A failed write wrote nothing: only the tool_result. */
	l = map_text("{\"session_id\":\"" SESSION "\",\"hook_event_name\":\"PostToolUseFailure\","
	             "\"cwd\":\"" CWD "\",\"tool_name\":\"Write\",\"tool_use_id\":\"t3\","
	             "\"tool_input\":{\"file_path\":\"/etc/passwd\"},\"error\":\"EACCES\"}",
	             &alice);
	assert_int_equal(atr_agent_events_count(l), 1);
	atr_agent_events_free(l);
}

static void check_file_event(const char *name, const char *tool, const char *type,
                             const char *file_path)
{
	atr_agent_events *l = map_fixture(name, &alice);
	json_t *res, *file;

	assert_int_equal(atr_agent_events_count(l), 2);
	res = event(l, 0);
	file = event(l, 1);
	common(res, "tool_result", "PostToolUse");
	assert_string_equal(str(res, "target"), tool);
	assert_string_equal(str(res, "outcome"), "success");
	common(file, type, "PostToolUse");
	assert_string_equal(str(file, "target"), file_path);
	assert_string_equal(str(file, "outcome"), "success");
	assert_string_equal(str(file, "actor"), "claude-code");
	assert_string_equal(str(file, "detail.tool_name"), tool);
	assert_string_equal(str(file, "parent_event_id"), str(res, "parent_event_id"));
	assert_int_equal(version(file), '8');
	absent(file, "detail.tool_input");
	json_decref(res);
	json_decref(file);
	atr_agent_events_free(l);
}

static void test_file_events(void **state)
{
	(void)state;
	check_file_event("post_tool_use_write.json", "Write", "file_write",
	                 CWD "/tests/test_empty.c");
	check_file_event("post_tool_use_edit.json", "Edit", "file_write", CWD "/src/parse.c");
	check_file_event("post_tool_use_multiedit.json", "MultiEdit", "file_write",
	                 CWD "/src/lex.c");
	check_file_event("post_tool_use_notebookedit.json", "NotebookEdit", "file_write",
	                 CWD "/analysis.ipynb");
	check_file_event("post_tool_use_read.json", "Read", "file_read", CWD "/src/parse.c");
}

static void test_permission_request(void **state)
{
	atr_agent_events *l = map_fixture("permission_request.json", &alice);
	json_t *ev = event(l, 0);

	(void)state;
	assert_int_equal(atr_agent_events_count(l), 1);
	common(ev, "approval_request", "PermissionRequest");
	assert_string_equal(str(ev, "target"), "Bash");
	assert_string_equal(str(ev, "reason"),
	                    "claude code asks permission to use 'Bash': git push origin main");
	/* No tool use id in the payload: the approval is named by the event itself. */
	assert_string_equal(str(ev, "approval.id"), str(ev, "event_id"));
	assert_true(json_is_true(at(ev, "approval.required")));
	assert_string_equal(str(ev, "approval.resolution"), "pending");
	assert_string_equal(str(ev, "detail.permission_suggestions.0.behavior"), "allow");
	absent(ev, "level");
	json_decref(ev);
	atr_agent_events_free(l);

	/* With one: the approval is the tool use's, and the id derives from it. */
	l = map_text("{\"session_id\":\"" SESSION "\",\"hook_event_name\":\"PermissionRequest\","
	             "\"cwd\":\"" CWD "\",\"tool_name\":\"Write\",\"tool_use_id\":\"toolu_9\","
	             "\"tool_input\":{\"file_path\":\"/home/alice/proj/x\"}}",
	             &alice);
	ev = event(l, 0);
	assert_string_equal(str(ev, "approval.id"), "toolu_9");
	assert_string_equal(str(ev, "reason"),
	                    "claude code asks permission to use 'Write': /home/alice/proj/x");
	assert_int_equal(version(ev), '8');
	json_decref(ev);
	atr_agent_events_free(l);
}

/* ------------------------------------------------------------ the rest */

static void test_stops(void **state)
{
	atr_agent_events *l = map_fixture("stop.json", &alice);
	json_t *ev = event(l, 0);
	char prompt[37];

	(void)state;
	fixture_id("user_prompt_submit.json", 0, prompt);
	common(ev, "task_outcome", "Stop");
	assert_string_equal(str(ev, "actor"), "claude-code");
	assert_string_equal(str(ev, "parent_event_id"), prompt); /* the turn's prompt */
	assert_string_equal(str(ev, "detail.last_assistant_message"),
	                    "The parser now accepts empty input; all 12 tests pass and the fix is "
	                    "committed.");
	assert_true(json_is_false(at(ev, "detail.stop_hook_active")));
	absent(ev, "outcome");
	/* A blocked stop fires again in the same turn: never one id for two stops. */
	assert_int_equal(version(ev), '7');
	json_decref(ev);
	atr_agent_events_free(l);

	l = map_fixture("subagent_stop.json", &alice);
	ev = event(l, 0);
	common(ev, "task_outcome", "SubagentStop");
	assert_string_equal(str(ev, "target"), "Explore");
	assert_string_equal(str(ev, "detail.agent_id"), "a1b2c3d4");
	assert_string_equal(str(ev, "detail.last_assistant_message"),
	                    "parse.c is the only caller of lex_next.");
	absent(ev, "parent_event_id");
	json_decref(ev);
	atr_agent_events_free(l);

	l = map_text("{\"session_id\":\"" SESSION "\",\"hook_event_name\":\"StopFailure\","
	             "\"cwd\":\"" CWD "\",\"error\":\"rate_limit\"}",
	             &alice);
	ev = event(l, 0);
	common(ev, "task_outcome", "StopFailure");
	assert_string_equal(str(ev, "outcome"), "error");
	assert_string_equal(str(ev, "detail.error"), "rate_limit");
	json_decref(ev);
	atr_agent_events_free(l);
}

static void test_notification_compact_unknown(void **state)
{
	atr_agent_events *l = map_fixture("notification.json", &alice);
	json_t *ev = event(l, 0);

	(void)state;
	common(ev, "output", "Notification");
	assert_string_equal(str(ev, "target"), "permission_prompt");
	assert_string_equal(str(ev, "detail.message"), "Claude needs your permission to use Bash");
	assert_string_equal(str(ev, "detail.title"), "Permission needed");
	json_decref(ev);
	atr_agent_events_free(l);

	l = map_fixture("pre_compact.json", &alice);
	ev = event(l, 0);
	common(ev, "x_compact", "PreCompact");
	assert_string_equal(str(ev, "level"), "agent");
	assert_string_equal(str(ev, "target"), "manual");
	assert_string_equal(str(ev, "detail.custom_instructions"), "keep the test results");
	json_decref(ev);
	atr_agent_events_free(l);

	/* A hook this version does not know is kept whole. */
	l = map_fixture("subagent_start.json", &alice);
	assert_int_equal(atr_agent_events_count(l), 1);
	ev = event(l, 0);
	common(ev, "x_claude_code_hook", "SubagentStart");
	assert_string_equal(str(ev, "level"), "agent");
	assert_string_equal(str(ev, "target"), "SubagentStart");
	assert_string_equal(str(ev, "detail.agent_type"), "Explore");
	assert_string_equal(str(ev, "detail.agent_id"), "a1b2c3d4");
	json_decref(ev);
	atr_agent_events_free(l);

	/* A custom actor. */
	{
		atr_agent_opts opts = {"claude-reviewer", "bob"};

		l = map_fixture("pre_tool_use.json", &opts);
		ev = event(l, 0);
		assert_string_equal(str(ev, "actor"), "claude-reviewer");
		assert_string_equal(str(ev, "user_id"), "bob");
		assert_string_equal(str(ev, "agent_id"), "claude-code");
		json_decref(ev);
		atr_agent_events_free(l);
	}
}

/* ------------------------------------------------------------ bounds and errors */

static void test_bounds(void **state)
{
	size_t big = 2u << 20;
	char *text = malloc(big + 4096), *p;
	atr_agent_events *l;
	json_t *ev;
	int n;

	(void)state;
	assert_non_null(text);
	/* A 2 MiB tool output: the event is kept, its long strings cut. */
	n = snprintf(text, 4096,
	             "{\"session_id\":\"" SESSION "\",\"hook_event_name\":\"PostToolUse\","
	             "\"cwd\":\"" CWD "\",\"tool_name\":\"Read\",\"tool_use_id\":\"t\","
	             "\"tool_input\":{\"file_path\":\"/big\"},\"tool_response\":{\"content\":\"");
	memset(text + n, 'a', big);
	memcpy(text + n + big, "\"}}", 4);
	l = map_text(text, &alice);
	assert_int_equal(atr_agent_events_count(l), 2);
	ev = event(l, 0);
	assert_true(json_is_true(at(ev, "detail.truncated")));
	assert_true(strlen(str(ev, "detail.tool_response.content")) <= 65536);
	assert_string_equal(str(ev, "detail.tool_input.file_path"), "/big");
	json_decref(ev);
	ev = event(l, 1);
	assert_string_equal(str(ev, "type"), "file_read");
	assert_string_equal(str(ev, "target"), "/big");
	json_decref(ev);
	atr_agent_events_free(l);

	/* A 10 KiB command line: the target is cut to the log's 4096 bytes, at a character. */
	p = text + snprintf(text, 4096,
	                    "{\"session_id\":\"" SESSION "\",\"hook_event_name\":\"PostToolUse\","
	                    "\"cwd\":\"" CWD "\",\"tool_name\":\"Bash\",\"tool_input\":{"
	                    "\"command\":\"echo ");
	for (int i = 0; i < 5000; i++) {
		memcpy(p, "\xc3\xa9", 2); /* é: two bytes */
		p += 2;
	}
	memcpy(p, "\"},\"tool_response\":{}}", 23);
	l = map_text(text, &alice);
	ev = event(l, 1);
	assert_string_equal(str(ev, "type"), "command");
	assert_int_equal(strlen(str(ev, "target")), 4095); /* "echo " and 2045 two-byte é */
	assert_int_equal(strlen(str(ev, "detail.hook_event_name")), 11);
	json_decref(ev);
	atr_agent_events_free(l);

	/* NUL in a string, and nesting deeper than the log allows. */
	p = text + snprintf(text, 4096,
	                    "{\"session_id\":\"" SESSION "\",\"hook_event_name\":\"PreToolUse\","
	                    "\"cwd\":\"" CWD "\",\"tool_name\":\"mcp__x\",\"tool_input\":{\"s\":"
	                    "\"a\\u0000b\",\"deep\":");
	for (int i = 0; i < 40; i++)
		*p++ = '[';
	for (int i = 0; i < 40; i++)
		*p++ = ']';
	memcpy(p, "}}", 3);
	l = map_text(text, &alice);
	ev = event(l, 0);
	assert_string_equal(str(ev, "detail.tool_input.s"), "a\xef\xbf\xbd"
	                                                    "b");
	assert_true(json_is_string(at(ev, "detail.tool_input.deep.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	                                  "0.0.0.0.0.0.0.0.0")));
	assert_string_equal(str(ev, "target"), "mcp__x");
	json_decref(ev);
	atr_agent_events_free(l);
	free(text);
}

static void expect_invalid(const char *text, const char *msg_part)
{
	atr_agent_events *l = (atr_agent_events *)(uintptr_t)1;

	assert_int_equal(atr_claude_hook_map(&l, text, strlen(text), NULL), ATR_EINVALID);
	assert_null(l);
	if (!strstr(atr_errmsg(), msg_part))
		fail_msg("message '%s' does not contain '%s'", atr_errmsg(), msg_part);
}

static void test_errors(void **state)
{
	(void)state;
	expect_invalid("", "empty input");
	expect_invalid("{bad", "malformed hook payload at line 1");
	expect_invalid("[1,2]", "must be a JSON object");
	expect_invalid("{\"session_id\":\"s\"}", "missing field 'hook_event_name'");
	expect_invalid("{\"hook_event_name\":7}", "'hook_event_name' must be a non-empty string");
	expect_invalid("{\"hook_event_name\":\"\"}", "non-empty string");
}

/* ------------------------------------------------------------ Codex notify */

static void test_codex_notify(void **state)
{
	size_t len;
	char *text = fixture("codex", "notify.json", &len);
	atr_agent_events *l = NULL, *again = NULL;
	json_t *ev, *ev2;
	const char *other = "{\"type\":\"approval-requested\",\"thread-id\":\"th\"}";

	(void)state;
	assert_int_equal(atr_codex_notify_map(&l, text, len, &alice), 0);
	assert_int_equal(atr_agent_events_count(l), 1);
	ev = event(l, 0);
	assert_string_equal(str(ev, "type"), "task_outcome");
	assert_string_equal(str(ev, "actor"), "codex");
	assert_string_equal(str(ev, "agent_id"), "codex");
	assert_string_equal(str(ev, "user_id"), "alice");
	assert_string_equal(str(ev, "session_id"), "019a2d7a-41c4-78b1-b7cc-a45d62a89cd5");
	assert_string_equal(str(ev, "detail.type"), "agent-turn-complete");
	assert_string_equal(str(ev, "detail.turn-id"), "12345");
	assert_string_equal(str(ev, "detail.cwd"), CWD);
	assert_string_equal(str(ev, "detail.input-messages.0"), "fix the failing test");
	assert_string_equal(str(ev, "detail.last-assistant-message"),
	                    "Fixed: parse() now returns 0 on empty input; the tests pass.");
	absent(ev, "detail.thread-id");
	absent(ev, "level");
	/* One turn completes once: its notify sent again is the same event. */
	assert_int_equal(version(ev), '8');
	assert_int_equal(atr_codex_notify_map(&again, text, len, NULL), 0);
	ev2 = event(again, 0);
	assert_string_equal(str(ev, "event_id"), str(ev2, "event_id"));
	absent(ev2, "user_id");
	json_decref(ev2);
	atr_agent_events_free(again);
	json_decref(ev);
	atr_agent_events_free(l);
	free(text);

	/* Another kind of notification is kept as it is. */
	assert_int_equal(atr_codex_notify_map(&l, other, strlen(other), NULL), 0);
	ev = event(l, 0);
	assert_string_equal(str(ev, "type"), "x_codex_notify");
	assert_string_equal(str(ev, "level"), "agent");
	assert_string_equal(str(ev, "target"), "approval-requested");
	assert_string_equal(str(ev, "session_id"), "th");
	assert_int_equal(version(ev), '7');
	json_decref(ev);
	atr_agent_events_free(l);

	l = (atr_agent_events *)(uintptr_t)1;
	assert_int_equal(atr_codex_notify_map(&l, "nope", 4, NULL), ATR_EINVALID);
	assert_null(l);
	assert_non_null(strstr(atr_errmsg(), "malformed notify payload"));
}

/* ------------------------------------------------------------ into a log */

static const char *const all_fixtures[] = {
    "session_start.json",
    "user_prompt_submit.json",
    "pre_tool_use.json",
    "permission_request.json",
    "post_tool_use_bash.json",
    "post_tool_use_failure.json",
    "post_tool_use_write.json",
    "post_tool_use_edit.json",
    "post_tool_use_multiedit.json",
    "post_tool_use_notebookedit.json",
    "post_tool_use_read.json",
    "notification.json",
    "subagent_start.json",
    "subagent_stop.json",
    "pre_compact.json",
    "stop.json",
    "session_end.json",
};
#define NFIX (sizeof(all_fixtures) / sizeof(all_fixtures[0]))

static void test_into_the_log(void **state)
{
	atr_log *log = NULL;
	atr_append_result res;
	uint64_t appended = 0, derived = 0, dups = 0, size = 0;

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	for (int round = 0; round < 2; round++) {
		for (size_t f = 0; f < NFIX; f++) {
			atr_agent_events *l = map_fixture(all_fixtures[f], &alice);

			for (size_t i = 0; i < atr_agent_events_count(l); i++) {
				size_t len;
				const char *t = atr_agent_events_get(l, i, &len);
				json_t *ev = event(l, i);
				int is_derived = version(ev) == '8';
				int rc = atr_log_append(log, t, len, &res);

				/* A derived id the second time: the log already has it. */
				if (round == 1 && is_derived) {
					if (rc != 0)
						fail_msg("%s: %s", all_fixtures[f], atr_errmsg());
					assert_true(res.duplicate);
					dups++;
				} else {
					if (rc != 0)
						fail_msg("%s: %s", all_fixtures[f], atr_errmsg());
					assert_false(res.duplicate);
					appended++;
					derived += round == 0 && is_derived;
				}
				json_decref(ev);
			}
			atr_agent_events_free(l);
		}
	}
	/* 17 payloads, 24 events; 17 of them name what they are (a tool use, a prompt, a start). */
	assert_int_equal(derived, 17);
	assert_int_equal(dups, 17);
	assert_int_equal(appended, 24 + 7);
	assert_int_equal(atr_log_size(log, &size), 0);
	assert_int_equal(size, 31);
	atr_log_free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_session_start_end),
	    cmocka_unit_test(test_user_prompt),
	    cmocka_unit_test(test_pre_tool_use),
	    cmocka_unit_test(test_post_tool_bash),
	    cmocka_unit_test(test_post_tool_failure),
	    cmocka_unit_test(test_file_events),
	    cmocka_unit_test(test_permission_request),
	    cmocka_unit_test(test_stops),
	    cmocka_unit_test(test_notification_compact_unknown),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_codex_notify),
	    cmocka_unit_test_setup_teardown(test_into_the_log, tmpstore_setup, tmpstore_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Fuzz target: the agent mappings (agents.h) on any bytes, read as a Claude
 * Code hook payload, as a Codex notify payload, and line by line as a Codex
 * rollout. Whatever the bytes, each must fail with a message and nothing
 * to free, or yield events the log accepts as they are (one or two per
 * hook, one per notify); a rollout read twice must give the same events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/agents.h>
#include <agentrail/common.h>

#include "event.h"
#include "fuzz.h"

const char *const fuzz_seeds[] = {
    "{\"session_id\":\"s1\",\"transcript_path\":\"/t.jsonl\",\"cwd\":\"/p\",\"permission_mode\":"
    "\"default\",\"hook_event_name\":\"PostToolUse\",\"tool_name\":\"Bash\",\"tool_input\":{"
    "\"command\":\"make test\",\"description\":\"d\"},\"tool_response\":{\"stdout\":\"ok\","
    "\"stderr\":\"\",\"interrupted\":false},\"tool_use_id\":\"toolu_1\"}",
    "{\"session_id\":\"s1\",\"cwd\":\"/p\",\"hook_event_name\":\"PostToolUseFailure\","
    "\"tool_name\":\"Bash\",\"tool_input\":{\"command\":\"false\"},\"tool_use_id\":\"t\","
    "\"error\":\"Exit code 1\\nboom\",\"is_interrupt\":false}",
    "{\"session_id\":\"s1\",\"hook_event_name\":\"PostToolUse\",\"tool_name\":\"Edit\","
    "\"tool_input\":{\"file_path\":\"/p/a.c\",\"old_string\":\"a\",\"new_string\":\"b\"},"
    "\"tool_response\":{\"filePath\":\"/p/a.c\"},\"tool_use_id\":\"toolu_2\"}",
    "{\"session_id\":\"s1\",\"hook_event_name\":\"PermissionRequest\",\"tool_name\":\"Bash\","
    "\"tool_input\":{\"command\":\"rm -rf /\"},\"permission_suggestions\":[]}",
    "{\"session_id\":\"s1\",\"hook_event_name\":\"UserPromptSubmit\",\"prompt\":\"hi\","
    "\"prompt_id\":\"p1\"}",
    "{\"session_id\":\"s1\",\"hook_event_name\":\"SessionStart\",\"source\":\"startup\","
    "\"model\":\"m\"}",
    "{\"hook_event_name\":\"Stop\",\"stop_hook_active\":true,\"prompt_id\":\"p1\"}",
    "{\"hook_event_name\":\"Notification\",\"message\":\"m\",\"notification_type\":\"idle\"}",
    "{\"hook_event_name\":\"SomethingNew\",\"x\":[1,2,{\"y\":null}]}",
    "{\"type\":\"agent-turn-complete\",\"thread-id\":\"th\",\"turn-id\":\"1\",\"cwd\":\"/p\","
    "\"input-messages\":[\"fix it\"],\"last-assistant-message\":\"done\"}",
    "{\"timestamp\":\"2025-10-29T00:59:38.317Z\",\"type\":\"session_meta\",\"payload\":{\"id\":"
    "\"s2\",\"cwd\":\"/p\",\"cli_version\":\"0.46.0\",\"instructions\":\"x\"}}\n"
    "{\"timestamp\":\"2025-10-29T00:59:39Z\",\"type\":\"turn_context\",\"payload\":{\"model\":"
    "\"gpt-5\",\"cwd\":\"/p\"}}\n"
    "{\"timestamp\":\"2025-10-29T00:59:40Z\",\"type\":\"response_item\",\"payload\":{\"type\":"
    "\"function_call\",\"name\":\"shell\",\"arguments\":\"{\\\"command\\\":[\\\"ls\\\"]}\","
    "\"call_id\":\"c1\"}}\n"
    "{\"timestamp\":\"2025-10-29T00:59:41Z\",\"type\":\"event_msg\",\"payload\":{\"type\":"
    "\"exec_command_end\",\"call_id\":\"c1\",\"command\":[\"ls\"],\"exit_code\":0,"
    "\"duration\":{\"secs\":1,\"nanos\":2}}}\n"
    "{\"timestamp\":\"2025-10-29T00:59:42Z\",\"type\":\"response_item\",\"payload\":{\"type\":"
    "\"function_call_output\",\"call_id\":\"c1\",\"output\":\"Exit code: 0\\nx\"}}\n"
    "{\"timestamp\":\"2025-10-29T00:59:43Z\",\"type\":\"event_msg\",\"payload\":{\"type\":"
    "\"patch_apply_end\",\"call_id\":\"c2\",\"success\":true,\"changes\":{\"/p/a\":{\"type\":"
    "\"add\",\"content\":\"x\"},\"/p/b\":{\"type\":\"delete\"}}}}\n"
    "{\"timestamp\":\"2025-10-29T00:59:44Z\",\"type\":\"event_msg\",\"payload\":{\"type\":"
    "\"token_count\",\"info\":{\"total_token_usage\":{\"input_tokens\":3},\"last_token_usage\":"
    "{\"input_tokens\":3,\"output_tokens\":1}}}}\n",
    NULL,
};

/* Every event of 'l' is a JSON object the log accepts as it is; answers the count. */
static size_t check_events(const atr_agent_events *l)
{
	size_t n = atr_agent_events_count(l);

	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *text = atr_agent_events_get(l, i, &len);
		json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
		struct atr__event ev;

		FUZZ_CHECK(json_is_object(obj));
		FUZZ_CHECK(json_is_string(json_object_get(obj, "event_id")));
		json_decref(obj);
		FUZZ_CHECK(atr__event_prepare(&ev, text, len, 1790000000000000) == 0);
		atr__event_release(&ev);
	}
	return n;
}

static void check_hook(const char *data, size_t size)
{
	atr_agent_events *l = NULL;
	int rc = atr_claude_hook_map(&l, data, size, NULL);

	if (rc != 0) {
		FUZZ_CHECK(l == NULL);
		FUZZ_CHECK(rc == ATR_EINVALID || rc == ATR_ENOMEM);
		FUZZ_CHECK(atr_errmsg()[0] != '\0');
		return;
	}
	FUZZ_CHECK(l != NULL);
	rc = (int)check_events(l);
	FUZZ_CHECK(rc >= 1 && rc <= 2);
	atr_agent_events_free(l);

	rc = atr_codex_notify_map(&l, data, size, NULL);
	FUZZ_CHECK(rc == 0); /* any object is a notify payload */
	FUZZ_CHECK(check_events(l) == 1);
	atr_agent_events_free(l);
}

static void check_notify(const char *data, size_t size)
{
	atr_agent_events *l = NULL;
	int rc = atr_codex_notify_map(&l, data, size, NULL);

	if (rc != 0) {
		FUZZ_CHECK(l == NULL);
		return;
	}
	FUZZ_CHECK(check_events(l) == 1);
	atr_agent_events_free(l);
}

/* The bytes as rollout lines, read by two readers that must agree. */
static void check_rollout(const char *data, size_t size)
{
	atr_codex *a = NULL, *b = NULL;
	size_t start = 0;
	uint64_t no = 0;

	FUZZ_CHECK(atr_codex_new(&a, "rollout-fuzz.jsonl", NULL) == 0);
	FUZZ_CHECK(atr_codex_new(&b, "rollout-fuzz.jsonl", NULL) == 0);
	while (start < size) {
		const char *nl = memchr(data + start, '\n', size - start);
		size_t end = nl ? (size_t)(nl - data) : size;
		atr_agent_events *la = NULL, *lb = NULL;
		int ra = atr_codex_map_line(a, data + start, end - start, ++no, &la);
		int rb = atr_codex_map_line(b, data + start, end - start, no, &lb);

		FUZZ_CHECK(ra == rb);
		if (ra == 0) {
			size_t n = check_events(la);

			FUZZ_CHECK(atr_agent_events_count(lb) == n);
			for (size_t i = 0; i < n; i++)
				FUZZ_CHECK(strcmp(atr_agent_events_get(la, i, NULL),
				                  atr_agent_events_get(lb, i, NULL)) == 0);
		} else {
			FUZZ_CHECK(la == NULL && lb == NULL);
		}
		atr_agent_events_free(la);
		atr_agent_events_free(lb);
		start = end + 1;
	}
	atr_codex_free(a);
	atr_codex_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_hook((const char *)data, size);
	check_notify((const char *)data, size);
	check_rollout((const char *)data, size);
	return 0;
}

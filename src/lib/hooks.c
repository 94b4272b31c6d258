/*
 * Claude Code hooks and Codex notify payloads to agentrail events
 * (agents.h): one payload, read with the field names the two tools publish,
 * becomes the events docs/agents.md lists, with the payload itself kept in
 * detail (minus what the header holds) so nothing it said is lost.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/agents.h>

#include "agentmap.h"
#include "event.h"
#include "internal.h"

#define CLAUDE_DOMAIN "agentrail claude-code hook"
#define NOTIFY_DOMAIN "agentrail codex notify"
#define CLAUDE_AGENT  "claude-code"
#define CODEX_AGENT   "codex"

/* Custom types (docs/agents.md). */
#define TYPE_COMPACT "x_compact"
#define TYPE_HOOK    "x_claude_code_hook"
#define TYPE_NOTIFY  "x_codex_notify"

static int oom(void)
{
	return atr__err(ATR_ENOMEM, "out of memory");
}

/* Parse 'json' as an object; ATR_EINVALID naming what is wrong. */
static int load_object(const char *json, size_t len, const char *what, json_t **out)
{
	json_error_t jerr;

	*out = NULL;
	if (!json || len == 0)
		return atr__err(ATR_EINVALID, "empty input: a %s is a JSON object", what);
	if (len > ATR_MAX_EVENT_INPUT)
		return atr__err(ATR_EINVALID, "the %s is %zu bytes; the limit is %u", what, len,
		                ATR_MAX_EVENT_INPUT);
	*out = json_loadb(json, len, JSON_ALLOW_NUL, &jerr);
	if (!*out)
		return atr__err(ATR_EINVALID, "malformed %s at line %d column %d: %s", what,
		                jerr.line, jerr.column, jerr.text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return atr__err(ATR_EINVALID, "the %s must be a JSON object", what);
	}
	return 0;
}

/* ------------------------------------------------------------ Claude Code */

/* One hook payload being mapped. */
struct hook {
	json_t *in;
	const char *name;      /* hook_event_name */
	const char *session;   /* session_id, or NULL */
	const char *tool;      /* tool_name, or NULL */
	const char *tool_use;  /* tool_use_id, or NULL */
	const char *prompt_id; /* prompt_id, or NULL */
	const char *actor;     /* the agent's actor */
	const char *user;      /* user_id, or NULL */
	atr_agent_events *out;
};

/* The id of the event of 'type' that hook 'name' makes for the thing called 'key'. */
static void derived_id(const struct hook *h, const char *key, const char *name, const char *type,
                       char out[37])
{
	const char *parts[4] = {h->session, key, name, type};

	atr__agents_uuid(out, CLAUDE_DOMAIN, parts, 4);
}

/*
 * A new event of 'type' with what every event of this payload shares. Its
 * id is derived from 'key' when the payload names the thing (a tool use,
 * a prompt), else fresh. 'detail' (taken; NULL: a copy of the payload
 * without session_id) becomes its detail.
 */
static json_t *event(struct hook *h, const char *type, const char *key, json_t *detail)
{
	json_t *ev = json_object();
	char id[37];
	const char *model = atr__agents_str(h->in, "model");

	if (!detail && (detail = json_deep_copy(h->in)) != NULL)
		json_object_del(detail, "session_id");
	if (!ev || !detail || json_object_set_new(ev, "detail", detail) != 0) {
		if (!ev)
			json_decref(detail);
		goto fail;
	}
	if (key)
		derived_id(h, key, h->name, type, id);
	else if (atr__agents_uuid7(id) < 0)
		goto fail;
	if (atr__agents_set_str(ev, "event_id", id, 36) ||
	    atr__agents_set_str(ev, "type", type, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "actor", h->actor, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "agent_id", CLAUDE_AGENT, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "session_id", h->session, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "user_id", h->user, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "model", model, ATR_MAX_ID_LEN))
		goto fail;
	if (!atr__type_level(type) && atr__agents_set_str(ev, "level", "agent", 16))
		goto fail;
	return ev;
fail:
	json_decref(ev);
	return NULL;
}

/* The parent of a tool's events: the tool_call that PreToolUse recorded for the same use. */
static int set_tool_parent(struct hook *h, json_t *ev)
{
	char parent[37];

	if (!h->tool_use)
		return 0;
	derived_id(h, h->tool_use, "PreToolUse", "tool_call", parent);
	return atr__agents_set_str(ev, "parent_event_id", parent, 36);
}

static int push(struct hook *h, json_t *ev)
{
	if (!ev)
		return oom();
	return atr__agents_push(h->out, ev);
}

/* A small detail for the events derived from a tool use (the tool_result has the full one). */
static json_t *tool_detail(struct hook *h)
{
	json_t *d = json_object();
	json_t *input = json_object_get(h->in, "tool_input");
	static const char *const keep[] = {"description", "timeout", "run_in_background"};

	if (!d)
		return NULL;
	if (atr__agents_set_str(d, "hook_event_name", h->name, 256) ||
	    atr__agents_set_str(d, "tool_name", h->tool, 4096) ||
	    atr__agents_set_str(d, "tool_use_id", h->tool_use, 4096) ||
	    atr__agents_set_str(d, "cwd", atr__agents_str(h->in, "cwd"), 1u << 20))
		goto fail;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		json_t *v = json_object_get(input, keep[i]);

		if (v && json_object_set(d, keep[i], v) != 0)
			goto fail;
	}
	return d;
fail:
	json_decref(d);
	return NULL;
}

/* An integer member of 'obj' under any of 'names' into '*out'; 1 when found. */
static int int_member(json_t *obj, const char *const *names, size_t n, json_int_t *out)
{
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_object_get(obj, names[i]);

		if (json_is_integer(v)) {
			*out = json_integer_value(v);
			return 1;
		}
	}
	return 0;
}

/* "Exit code 2" (as Claude Code words a failed Bash command) anywhere in 's'; 1 when found. */
static int exit_code_in(const char *s, json_int_t *out)
{
	const char *p;

	for (p = s ? strstr(s, "xit code") : NULL; p; p = strstr(p + 1, "xit code")) {
		const char *q = p + 8;
		char *end;
		long long v;

		if (p == s || (p[-1] != 'E' && p[-1] != 'e'))
			continue;
		while (*q == ' ' || *q == ':')
			q++;
		if (!(*q == '-' || isdigit((unsigned char)*q)))
			continue;
		v = strtoll(q, &end, 10);
		if (end == q)
			continue;
		*out = (json_int_t)v;
		return 1;
	}
	return 0;
}

/* Bash: the command line it ran, with its exit code when known. */
static int bash_command(struct hook *h, int failed, const char *tool_outcome)
{
	static const char *const names[] = {"exit_code", "exitCode", "returnCode", "return_code",
	                                    "code"};
	json_t *input = json_object_get(h->in, "tool_input");
	json_t *response = json_object_get(h->in, "tool_response");
	const char *cmd = atr__agents_str(input, "command");
	json_int_t code = 0;
	int known, inferred = 0;
	json_t *d, *ev;

	if (!cmd || !*cmd)
		return 0;
	known = int_member(response, names, sizeof(names) / sizeof(names[0]), &code);
	if (!known && failed)
		known = exit_code_in(atr__agents_str(h->in, "error"), &code) ||
		        exit_code_in(json_is_string(response) ? json_string_value(response) : NULL,
		                     &code);
	if (!known && !failed) {
		/* The Bash tool reports a non-zero exit as a failure: success means 0. */
		known = inferred = 1;
		code = 0;
	}
	if (!known)
		return 0; /* it may never have run (refused, timed out): the tool_result says */
	if (!(d = tool_detail(h)) ||
	    (inferred && json_object_set_new(d, "exit_code_inferred", json_true()) != 0)) {
		json_decref(d);
		return oom();
	}
	if (!(ev = event(h, "command", h->tool_use, d)))
		return oom();
	if (atr__agents_set_str(ev, "target", cmd, ATR_MAX_TARGET_LEN) ||
	    atr__agents_set(ev, "exit_code", json_integer(code)) ||
	    atr__agents_set_str(ev, "outcome",
	                        strcmp(tool_outcome, "interrupted") == 0 ? tool_outcome
	                        : code == 0                              ? "success"
	                                                                 : "failure",
	                        64) ||
	    set_tool_parent(h, ev)) {
		json_decref(ev);
		return oom();
	}
	return push(h, ev);
}

/* Write, Edit, MultiEdit, NotebookEdit and Read: the file it touched. */
static int file_event(struct hook *h, const char *type)
{
	json_t *input = json_object_get(h->in, "tool_input");
	const char *path = atr__agents_str(input, "file_path");
	json_t *d, *ev;

	if (!path)
		path = atr__agents_str(input, "notebook_path");
	if (!path)
		path = atr__agents_str(input, "path");
	if (!path || !*path)
		return 0;
	if (!(d = tool_detail(h)) || !(ev = event(h, type, h->tool_use, d)))
		return oom();
	if (atr__agents_set_str(ev, "target", path, ATR_MAX_TARGET_LEN) ||
	    atr__agents_set_str(ev, "outcome", "success", 64) || set_tool_parent(h, ev)) {
		json_decref(ev);
		return oom();
	}
	return push(h, ev);
}

static int is_one_of(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return 1;
	return 0;
}

/* PreToolUse: the agent calls a tool. */
static int pre_tool(struct hook *h)
{
	json_t *ev = event(h, "tool_call", h->tool_use, NULL);

	if (!ev)
		return oom();
	if (atr__agents_set_str(ev, "target", h->tool ? h->tool : "unknown", ATR_MAX_TARGET_LEN)) {
		json_decref(ev);
		return oom();
	}
	return push(h, ev);
}

/* PostToolUse and PostToolUseFailure: what the tool answered, and what it did. */
static int post_tool(struct hook *h, int failed)
{
	static const char *const writers[] = {"Write", "Edit", "MultiEdit", "NotebookEdit"};
	json_t *response = json_object_get(h->in, "tool_response");
	const char *outcome;
	json_t *ev;
	int rc;

	if (failed)
		outcome =
		    json_is_true(json_object_get(h->in, "is_interrupt")) ? "interrupted" : "error";
	else if (json_is_true(json_object_get(response, "interrupted")))
		outcome = "interrupted";
	else if (json_is_false(json_object_get(response, "success")))
		outcome = "failure";
	else
		outcome = "success";
	if (!(ev = event(h, "tool_result", h->tool_use, NULL)))
		return oom();
	if (atr__agents_set_str(ev, "target", h->tool, ATR_MAX_TARGET_LEN) ||
	    atr__agents_set_str(ev, "outcome", outcome, 64) || set_tool_parent(h, ev)) {
		json_decref(ev);
		return oom();
	}
	if ((rc = push(h, ev)) != 0)
		return rc;
	if (h->tool && strcmp(h->tool, "Bash") == 0)
		return bash_command(h, failed, outcome);
	if (failed || strcmp(outcome, "success") != 0)
		return 0; /* a write or read that failed did not happen: the tool_result says so */
	if (is_one_of(h->tool, writers, sizeof(writers) / sizeof(writers[0])))
		return file_event(h, "file_write");
	if (h->tool && strcmp(h->tool, "Read") == 0)
		return file_event(h, "file_read");
	return 0;
}

/* PermissionRequest: Claude Code asks the user before a tool runs. */
static int permission(struct hook *h)
{
	json_t *input = json_object_get(h->in, "tool_input");
	const char *what = atr__agents_str(input, "command");
	json_t *ev, *approval;
	char reason[ATR_MAX_TEXT_LEN];
	const char *id;

	if (!what)
		what = atr__agents_str(input, "file_path");
	if (!what)
		what = atr__agents_str(input, "url");
	snprintf(reason, sizeof(reason), "claude code asks permission to use '%s'%s%.8000s",
	         h->tool ? h->tool : "a tool", what ? ": " : "", what ? what : "");
	reason[atr__agents_utf8_cut(reason, strlen(reason), sizeof(reason) - 1)] = '\0';
	if (!(ev = event(h, "approval_request", h->tool_use, NULL)))
		return oom();
	/* The approval's id: the tool use it is about, else this event. */
	id = h->tool_use ? h->tool_use : atr__agents_str(ev, "event_id");
	approval = json_object();
	if (!approval || atr__agents_set_str(approval, "id", id, ATR_MAX_ID_LEN) ||
	    json_object_set_new(approval, "required", json_true()) != 0 ||
	    atr__agents_set_str(approval, "resolution", "pending", 16) ||
	    atr__agents_set(ev, "approval", approval) ||
	    atr__agents_set_str(ev, "reason", reason, ATR_MAX_TEXT_LEN) ||
	    atr__agents_set_str(ev, "target", h->tool, ATR_MAX_TARGET_LEN) ||
	    set_tool_parent(h, ev)) {
		json_decref(ev);
		return oom();
	}
	return push(h, ev);
}

/* Stop, SubagentStop, StopFailure: the end of a turn (of the main agent or a subagent). */
static int stop(struct hook *h, const char *outcome, const char *target)
{
	json_t *ev = event(h, "task_outcome", NULL, NULL);
	char parent[37];

	if (!ev)
		return oom();
	if (h->prompt_id && strcmp(h->name, "SubagentStop") != 0) {
		derived_id(h, h->prompt_id, "UserPromptSubmit", "task_submit", parent);
		if (atr__agents_set_str(ev, "parent_event_id", parent, 36)) {
			json_decref(ev);
			return oom();
		}
	}
	if (atr__agents_set_str(ev, "outcome", outcome, 64) ||
	    atr__agents_set_str(ev, "target", target, ATR_MAX_TARGET_LEN)) {
		json_decref(ev);
		return oom();
	}
	return push(h, ev);
}

/* A lower-case token for 'outcome' or a target from a payload value, or NULL. */
static const char *token_or_null(const char *s)
{
	if (!s || !*s || strlen(s) > 64)
		return NULL;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-'))
			return NULL;
	return s;
}

/* One event of 'type' with the payload as detail and 'target' (may be NULL). */
static int simple(struct hook *h, const char *type, const char *key, const char *target,
                  const char *reason)
{
	json_t *ev = event(h, type, key, NULL);

	if (!ev)
		return oom();
	if (atr__agents_set_str(ev, "target", target, ATR_MAX_TARGET_LEN) ||
	    atr__agents_set_str(ev, "reason", reason, ATR_MAX_TEXT_LEN)) {
		json_decref(ev);
		return oom();
	}
	return push(h, ev);
}

static int map_hook(struct hook *h)
{
	const char *n = h->name;

	if (strcmp(n, "PreToolUse") == 0)
		return pre_tool(h);
	if (strcmp(n, "PostToolUse") == 0)
		return post_tool(h, 0);
	if (strcmp(n, "PostToolUseFailure") == 0)
		return post_tool(h, 1);
	if (strcmp(n, "PermissionRequest") == 0)
		return permission(h);
	if (strcmp(n, "UserPromptSubmit") == 0) {
		/* The prompt is the user's act; one prompt id is one submission. */
		h->actor = h->user ? h->user : "user";
		return simple(h, "task_submit", h->prompt_id, NULL, NULL);
	}
	if (strcmp(n, "SessionStart") == 0) {
		const char *source = atr__agents_str(h->in, "source");

		/* A session starts up once; it may resume, clear and compact many times. */
		return simple(h, "session_start",
		              h->session && source && strcmp(source, "startup") == 0 ? "startup"
		                                                                     : NULL,
		              NULL, NULL);
	}
	if (strcmp(n, "SessionEnd") == 0)
		return simple(h, "session_end", NULL, NULL, atr__agents_str(h->in, "reason"));
	if (strcmp(n, "Stop") == 0)
		return stop(h, NULL, NULL);
	if (strcmp(n, "StopFailure") == 0)
		return stop(h, "error", NULL);
	if (strcmp(n, "SubagentStop") == 0)
		return stop(h, NULL, atr__agents_str(h->in, "agent_type"));
	if (strcmp(n, "Notification") == 0)
		return simple(h, "output", NULL,
		              token_or_null(atr__agents_str(h->in, "notification_type")), NULL);
	if (strcmp(n, "PreCompact") == 0)
		return simple(h, TYPE_COMPACT, NULL,
		              token_or_null(atr__agents_str(h->in, "trigger")), NULL);
	/* A hook this version does not know: kept whole, never dropped. */
	return simple(h, TYPE_HOOK, NULL, n, NULL);
}

int atr_claude_hook_map(atr_agent_events **out, const char *json, size_t len,
                        const atr_agent_opts *opts)
{
	struct hook h;
	int rc;

	*out = NULL;
	memset(&h, 0, sizeof(h));
	if ((rc = load_object(json, len, "hook payload", &h.in)) != 0)
		return rc;
	h.name = atr__agents_str(h.in, "hook_event_name");
	if (!h.name || !*h.name) {
		rc = atr__err(ATR_EINVALID,
		              json_object_get(h.in, "hook_event_name")
		                  ? "field 'hook_event_name' must be a non-empty string"
		                  : "missing field 'hook_event_name': not a claude code "
		                    "hook payload");
		goto out;
	}
	if (strlen(h.name) > ATR_MAX_ID_LEN) {
		rc = atr__err(ATR_EINVALID, "field 'hook_event_name' is longer than %u bytes",
		              ATR_MAX_ID_LEN);
		goto out;
	}
	h.session = atr__agents_str(h.in, "session_id");
	h.tool = atr__agents_str(h.in, "tool_name");
	h.tool_use = atr__agents_str(h.in, "tool_use_id");
	h.prompt_id = atr__agents_str(h.in, "prompt_id");
	if (h.session && !*h.session)
		h.session = NULL;
	if (h.tool && !*h.tool)
		h.tool = NULL;
	if (h.tool_use && !*h.tool_use)
		h.tool_use = NULL;
	if (h.prompt_id && !*h.prompt_id)
		h.prompt_id = NULL;
	h.actor = opts && opts->actor && *opts->actor ? opts->actor : CLAUDE_AGENT;
	h.user = opts && opts->user && *opts->user ? opts->user : NULL;
	if ((rc = atr__agents_new(&h.out)) != 0)
		goto out;
	if ((rc = map_hook(&h)) != 0)
		goto out;
	*out = h.out;
	h.out = NULL;
out:
	atr_agent_events_free(h.out);
	json_decref(h.in);
	return rc;
}

/* ------------------------------------------------------------ Codex notify */

int atr_codex_notify_map(atr_agent_events **out, const char *json, size_t len,
                         const atr_agent_opts *opts)
{
	json_t *in = NULL, *ev = NULL, *detail;
	atr_agent_events *l = NULL;
	const char *type, *thread, *turn;
	const char *actor = opts && opts->actor && *opts->actor ? opts->actor : CODEX_AGENT;
	const char *user = opts && opts->user && *opts->user ? opts->user : NULL;
	int known;
	char id[37];
	int rc;

	*out = NULL;
	if ((rc = load_object(json, len, "notify payload", &in)) != 0)
		return rc;
	type = atr__agents_str(in, "type");
	thread = atr__agents_str(in, "thread-id");
	turn = atr__agents_str(in, "turn-id");
	known = type && strcmp(type, "agent-turn-complete") == 0;
	/* One turn completes once: a notify sent again is the same event. */
	if (turn && *turn) {
		const char *parts[3] = {thread, turn, type};

		atr__agents_uuid(id, NOTIFY_DOMAIN, parts, 3);
	} else if ((rc = atr__agents_uuid7(id)) < 0) {
		goto out;
	}
	if ((detail = json_deep_copy(in)) != NULL)
		json_object_del(detail, "thread-id");
	if (!(ev = json_object()) || !detail || json_object_set_new(ev, "detail", detail) != 0) {
		if (!ev)
			json_decref(detail);
		goto oom;
	}
	if (atr__agents_set_str(ev, "event_id", id, 36) ||
	    atr__agents_set_str(ev, "type", known ? "task_outcome" : TYPE_NOTIFY, 32) ||
	    atr__agents_set_str(ev, "actor", actor, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "agent_id", CODEX_AGENT, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "session_id", thread, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "user_id", user, ATR_MAX_ID_LEN))
		goto oom;
	if (!known && (atr__agents_set_str(ev, "level", "agent", 16) ||
	               atr__agents_set_str(ev, "target", type, ATR_MAX_TARGET_LEN)))
		goto oom;
	if ((rc = atr__agents_new(&l)) != 0)
		goto out;
	rc = atr__agents_push(l, ev);
	ev = NULL;
	if (rc == 0) {
		*out = l;
		l = NULL;
	}
	goto out;
oom:
	rc = oom();
out:
	json_decref(ev);
	json_decref(in);
	atr_agent_events_free(l);
	return rc;
}

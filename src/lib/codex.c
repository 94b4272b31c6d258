/*
 * Codex CLI rollout files to agentrail events (agents.h): each line
 * ({timestamp, type, payload}, as Codex writes ~/.codex/sessions/…/
 * rollout-*.jsonl) maps to the events docs/agents.md lists, with ids
 * derived from the file and the line, so reading a file again — or a longer
 * version of it — gives the same events. The reader keeps what later lines
 * refer to: the session, the model in force, and the tool calls by call_id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/agents.h>
#include <agentrail/query.h>

#include "agentmap.h"
#include "event.h"
#include "internal.h"

#define DOMAIN      "agentrail codex rollout"
#define CODEX_AGENT "codex"
#define MAX_LINE    ATR_MAX_EVENT_INPUT

/* Custom types (docs/agents.md). */
#define TYPE_TURN_CONTEXT "x_codex_turn_context"
#define TYPE_REASONING    "x_reasoning"

struct atr_codex {
	char *file_id;  /* what the ids derive from: set by the first line */
	char *fallback; /* the name given, for a file that does not start with a session_meta */
	char *actor, *user;
	char *session, *cli_version, *model, *prompt_hash;
	/* call_id -> {name, id (its tool_call's event id), shell, command, done, changes} */
	json_t *calls;
	json_t *last_context; /* what the last turn_context said that matters */
	json_t *last_total;   /* the last token_count's total usage */
	char ts[28];          /* the last line's time, for a line without one */
	uint64_t last_line;
};

/* What one line is while it is mapped. */
struct line {
	atr_codex *c;
	uint64_t no;
	char no_text[24];
	const char *ts;
	json_t *payload;
	atr_agent_events *out;
};

static int oom(void)
{
	return atr__err(ATR_ENOMEM, "out of memory");
}

static int dup_str(char **dst, const char *src)
{
	char *s = NULL;

	if (src && !(s = strdup(src)))
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

int atr_codex_new(atr_codex **out, const char *file_id, const atr_agent_opts *opts)
{
	atr_codex *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return oom();
	if (dup_str(&c->fallback, file_id && *file_id ? file_id : NULL) < 0 ||
	    dup_str(&c->actor, opts && opts->actor && *opts->actor ? opts->actor : CODEX_AGENT) <
	        0 ||
	    dup_str(&c->user, opts && opts->user && *opts->user ? opts->user : NULL) < 0 ||
	    !(c->calls = json_object())) {
		atr_codex_free(c);
		return oom();
	}
	*out = c;
	return 0;
}

void atr_codex_free(atr_codex *c)
{
	if (!c)
		return;
	free(c->file_id);
	free(c->fallback);
	free(c->actor);
	free(c->user);
	free(c->session);
	free(c->cli_version);
	free(c->model);
	free(c->prompt_hash);
	json_decref(c->calls);
	json_decref(c->last_context);
	json_decref(c->last_total);
	free(c);
}

const char *atr_codex_session_id(const atr_codex *c)
{
	return c->session;
}

/* ------------------------------------------------------------ events */

/* The id of the event 'role' (its type, or "file:PATH") that line 'l' makes. */
static void line_id(const struct line *l, const char *role, char out[37])
{
	const char *parts[3] = {l->c->file_id, l->no_text, role};

	atr__agents_uuid(out, DOMAIN, parts, 3);
}

/* A new event of 'type' from line 'l' with what every event shares; 'detail' is taken. */
static json_t *event(struct line *l, const char *type, const char *role, json_t *detail,
                     char id_out[37])
{
	atr_codex *c = l->c;
	json_t *ev = json_object();
	char id[37];

	if (!ev || !detail || json_object_set_new(ev, "detail", detail) != 0) {
		if (!ev)
			json_decref(detail);
		json_decref(ev);
		return NULL;
	}
	line_id(l, role ? role : type, id);
	if (id_out)
		memcpy(id_out, id, sizeof(id));
	if (atr__agents_set_str(ev, "event_id", id, 36) ||
	    atr__agents_set_str(ev, "ts", l->ts, 64) ||
	    atr__agents_set_str(ev, "type", type, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "actor", c->actor, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "agent_id", CODEX_AGENT, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "agent_version", c->cli_version, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "session_id", c->session, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "user_id", c->user, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "model", c->model, ATR_MAX_ID_LEN) ||
	    atr__agents_set_str(ev, "system_prompt_hash", c->prompt_hash, ATR_MAX_ID_LEN) ||
	    (!atr__type_level(type) && atr__agents_set_str(ev, "level", "agent", 16))) {
		json_decref(ev);
		return NULL;
	}
	return ev;
}

static int push(struct line *l, json_t *ev)
{
	if (!ev)
		return oom();
	return atr__agents_push(l->out, ev);
}

/* Copy member 'key' of 'from' into 'to' when present. -1 out of memory. */
static int keep(json_t *to, json_t *from, const char *key)
{
	json_t *v = json_object_get(from, key);

	return v && json_object_set(to, key, v) != 0 ? -1 : 0;
}

/* A detail object holding the members 'keys' of 'from' (NULL-terminated). */
static json_t *pick(json_t *from, const char *const *keys)
{
	json_t *d = json_object();

	for (size_t i = 0; d && keys[i]; i++)
		if (keep(d, from, keys[i]) < 0) {
			json_decref(d);
			return NULL;
		}
	return d;
}

/* ------------------------------------------------------------ commands */

static int needs_quotes(const char *s)
{
	if (!*s)
		return 1;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("-_./=:,+@%", *s)))
			return 1;
	return 0;
}

/*
 * The command line of an argv as a person would type it: the script of
 * [SHELL, -lc|-c, SCRIPT], else the words joined, quoted for a POSIX shell
 * where needed. NULL when 'argv' is not an array of strings (or no memory).
 */
static char *command_line(json_t *argv)
{
	size_t n = json_array_size(argv), cap = 1, w = 0;
	char *out;

	if (!json_is_array(argv) || n == 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!json_is_string(json_array_get(argv, i)))
			return NULL;
		cap += 4 * json_string_length(json_array_get(argv, i)) + 3;
	}
	if (n == 3) {
		const char *flag = json_string_value(json_array_get(argv, 1));

		if (strcmp(flag, "-lc") == 0 || strcmp(flag, "-c") == 0)
			return strdup(json_string_value(json_array_get(argv, 2)));
	}
	if (!(out = malloc(cap)))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(argv, i));

		if (i)
			out[w++] = ' ';
		if (!needs_quotes(s)) {
			memcpy(out + w, s, strlen(s));
			w += strlen(s);
			continue;
		}
		out[w++] = '\'';
		for (; *s; s++) {
			if (*s == '\'') {
				memcpy(out + w, "'\\''", 4);
				w += 4;
			} else {
				out[w++] = *s;
			}
		}
		out[w++] = '\'';
	}
	out[w] = '\0';
	return out;
}

/* Tool names whose calls run a command (their arguments name it). */
static int is_shell_tool(const char *name)
{
	static const char *const shells[] = {"shell", "container.exec", "shell_command",
	                                     "exec_command", "local_shell"};

	for (size_t i = 0; name && i < sizeof(shells) / sizeof(shells[0]); i++)
		if (strcmp(name, shells[i]) == 0)
			return 1;
	return 0;
}

/* The command a shell call's arguments name: "command" as an argv or a string. */
static char *call_command(json_t *args)
{
	json_t *cmd = json_object_get(args, "command");

	if (json_is_string(cmd))
		return strdup(json_string_value(cmd));
	if (!cmd)
		cmd = json_object_get(args, "cmd");
	if (json_is_string(cmd))
		return strdup(json_string_value(cmd));
	return command_line(cmd);
}

/* Remember call 'call_id' (its name, its tool_call's event id, the command it runs). */
static int remember_call(atr_codex *c, const char *call_id, const char *name, const char *id,
                         const char *command)
{
	json_t *rec = json_object();

	if (!rec || atr__agents_set_str(rec, "name", name, 1u << 20) ||
	    atr__agents_set_str(rec, "id", id, 36) ||
	    atr__agents_set_str(rec, "command", command, 1u << 20) ||
	    (is_shell_tool(name) && json_object_set_new(rec, "shell", json_true()) != 0)) {
		json_decref(rec);
		return -1;
	}
	return json_object_set_new(c->calls, call_id, rec) == 0 ? 0 : -1;
}

/*
 * A command event for call 'call_id', once per call: from exec_command_end
 * or from the output of a shell call, whichever the file has first.
 */
static int command_event(struct line *l, const char *call_id, const char *command, json_int_t code,
                         const char *actor, json_t *detail)
{
	json_t *rec = call_id ? json_object_get(l->c->calls, call_id) : NULL;
	const char *parent = atr__agents_str(rec, "id");
	json_t *ev;

	if (json_is_true(json_object_get(rec, "done"))) {
		json_decref(detail);
		return 0;
	}
	if (!command || !*command) {
		json_decref(detail);
		return 0;
	}
	if (call_id) {
		if (!rec) {
			if (!(rec = json_object()) ||
			    json_object_set_new(l->c->calls, call_id, rec)) {
				json_decref(detail);
				return oom();
			}
		}
		if (json_object_set_new(rec, "done", json_true()) != 0) {
			json_decref(detail);
			return oom();
		}
	}
	if (!(ev = event(l, "command", NULL, detail, NULL)))
		return oom();
	if (atr__agents_set_str(ev, "target", command, ATR_MAX_TARGET_LEN) ||
	    atr__agents_set(ev, "exit_code", json_integer(code)) ||
	    atr__agents_set_str(ev, "outcome", code == 0 ? "success" : "failure", 16) ||
	    atr__agents_set_str(ev, "parent_event_id", parent, 36) ||
	    (actor && atr__agents_set_str(ev, "actor", actor, ATR_MAX_ID_LEN))) {
		json_decref(ev);
		return oom();
	}
	return push(l, ev);
}

/* ------------------------------------------------------------ line types */

static int session_meta(struct line *l)
{
	atr_codex *c = l->c;
	json_t *p = l->payload, *detail;
	const char *id = atr__agents_str(p, "id");
	const char *instructions = atr__agents_str(p, "instructions");

	if (!id || !*id)
		return atr__err(ATR_EINVALID, "session_meta without a string 'payload.id'");
	if (dup_str(&c->session, id) < 0 ||
	    dup_str(&c->cli_version, atr__agents_str(p, "cli_version")) < 0)
		return oom();
	free(c->prompt_hash);
	c->prompt_hash = NULL;
	if (instructions && *instructions) {
		uint8_t h[32];

		if (!(c->prompt_hash = malloc(65)))
			return oom();
		atr__sha256(h, instructions, strlen(instructions), NULL, 0, NULL, 0);
		atr__hex(c->prompt_hash, h, sizeof(h));
	}
	if (!(detail = json_deep_copy(p)))
		return oom();
	json_object_del(detail, "id");
	return push(l, event(l, "session_start", NULL, detail, NULL));
}

/* turn_context: the model (and policies) in force; an event when they change. */
static int turn_context(struct line *l)
{
	static const char *const keys[] = {
	    "model", "cwd", "approval_policy", "sandbox_policy", "effort", "summary", NULL};
	atr_codex *c = l->c;
	const char *model = atr__agents_str(l->payload, "model");
	json_t *now = pick(l->payload, keys), *ev;

	if (!now)
		return oom();
	if (model && *model && dup_str(&c->model, model) < 0) {
		json_decref(now);
		return oom();
	}
	if (c->last_context && json_equal(c->last_context, now)) {
		json_decref(now);
		return 0;
	}
	json_decref(c->last_context);
	c->last_context = now;
	if (!(ev = event(l, TYPE_TURN_CONTEXT, NULL, json_deep_copy(now), NULL)))
		return oom();
	if (atr__agents_set_str(ev, "target", model, ATR_MAX_TARGET_LEN)) {
		json_decref(ev);
		return oom();
	}
	return push(l, ev);
}

/* The text parts of a message's content ([{type, text}]), joined by newlines. */
static json_t *content_text(json_t *content)
{
	size_t len = 0, w = 0;
	char *buf;
	json_t *out;

	for (size_t i = 0; i < json_array_size(content); i++) {
		const char *t = atr__agents_str(json_array_get(content, i), "text");

		if (t)
			len += strlen(t) + 1;
	}
	if (!(buf = malloc(len + 1)))
		return NULL;
	for (size_t i = 0; i < json_array_size(content); i++) {
		const char *t = atr__agents_str(json_array_get(content, i), "text");

		if (!t)
			continue;
		if (w)
			buf[w++] = '\n';
		memcpy(buf + w, t, strlen(t));
		w += strlen(t);
	}
	buf[w] = '\0';
	out = json_stringn(buf, w);
	free(buf);
	return out;
}

/* A tool call: function_call, custom_tool_call, local_shell_call, web_search_call. */
static int tool_call(struct line *l, const char *kind)
{
	json_t *p = l->payload, *detail, *ev, *args = NULL;
	const char *call_id = atr__agents_str(p, "call_id");
	const char *name = atr__agents_str(p, "name");
	char *command = NULL;
	char id[37];
	int rc;

	if (strcmp(kind, "local_shell_call") == 0) {
		name = "local_shell";
		if (!call_id)
			call_id = atr__agents_str(p, "id");
		command = command_line(json_object_get(json_object_get(p, "action"), "command"));
	} else if (strcmp(kind, "web_search_call") == 0) {
		name = "web_search";
	}
	if (!(detail = json_deep_copy(p)))
		return oom();
	json_object_del(detail, "type");
	if (strcmp(kind, "function_call") == 0) {
		const char *text = atr__agents_str(p, "arguments");

		/* Arguments are JSON text: kept parsed when they parse. */
		if (text && (args = json_loads(text, 0, NULL)) != NULL) {
			if (json_object_set(detail, "arguments", args) != 0) {
				json_decref(args);
				json_decref(detail);
				return oom();
			}
			if (is_shell_tool(name))
				command = call_command(args);
		}
	}
	json_decref(args);
	if (!(ev = event(l, "tool_call", NULL, detail, id))) {
		free(command);
		return oom();
	}
	if (atr__agents_set_str(ev, "target", name && *name ? name : "unknown",
	                        ATR_MAX_TARGET_LEN) ||
	    (call_id && *call_id && remember_call(l->c, call_id, name, id, command) < 0)) {
		free(command);
		json_decref(ev);
		return oom();
	}
	free(command);
	rc = push(l, ev);
	return rc;
}

/* The exit code in a shell call's output text, as Codex words it; 1 when found. */
static int output_exit_code(const char *text, json_int_t *code)
{
	static const char *const marks[] = {"Exit code: ", "Process exited with code "};
	json_t *parsed;

	if (!text)
		return 0;
	/* Older rollouts: {"output": "...", "metadata": {"exit_code": N, ...}} as text. */
	if (text[0] == '{' && (parsed = json_loads(text, 0, NULL)) != NULL) {
		json_t *v = json_object_get(json_object_get(parsed, "metadata"), "exit_code");
		int found = json_is_integer(v);

		if (found)
			*code = json_integer_value(v);
		json_decref(parsed);
		if (found)
			return 1;
	}
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		const char *p = strstr(text, marks[i]);
		char *end;
		long long v;

		if (!p || (p != text && p[-1] != '\n'))
			continue;
		p += strlen(marks[i]);
		v = strtoll(p, &end, 10);
		if (end != p) {
			*code = (json_int_t)v;
			return 1;
		}
	}
	return 0;
}

/* function_call_output, custom_tool_call_output: the tool's answer, joined to its call. */
static int tool_output(struct line *l)
{
	json_t *p = l->payload, *detail, *ev, *out = json_object_get(p, "output");
	const char *call_id = atr__agents_str(p, "call_id");
	json_t *rec = call_id ? json_object_get(l->c->calls, call_id) : NULL;
	const char *name = atr__agents_str(rec, "name");
	const char *text =
	    json_is_string(out) ? json_string_value(out) : atr__agents_str(out, "content");
	int failed = json_is_false(json_object_get(out, "success"));
	json_int_t code = 0;
	int rc;

	if (!(detail = json_deep_copy(p)))
		return oom();
	json_object_del(detail, "type");
	if (!(ev = event(l, "tool_result", NULL, detail, NULL)))
		return oom();
	if (atr__agents_set_str(ev, "target", name, ATR_MAX_TARGET_LEN) ||
	    atr__agents_set_str(ev, "outcome", failed ? "error" : "success", 16) ||
	    atr__agents_set_str(ev, "parent_event_id", atr__agents_str(rec, "id"), 36)) {
		json_decref(ev);
		return oom();
	}
	if ((rc = push(l, ev)) != 0)
		return rc;
	/* A shell call's output says how its command exited (unless exec_command_end did). */
	if (json_is_true(json_object_get(rec, "shell")) && output_exit_code(text, &code)) {
		static const char *const none[] = {NULL};
		json_t *d = pick(p, none);

		if (!d || keep(d, p, "call_id") < 0 ||
		    json_object_set_new(d, "source", json_string("function_call_output")) != 0) {
			json_decref(d);
			return oom();
		}
		return command_event(l, call_id, atr__agents_str(rec, "command"), code, NULL, d);
	}
	return 0;
}

static int response_item(struct line *l)
{
	json_t *p = l->payload;
	const char *kind = atr__agents_str(p, "type");
	json_t *detail = NULL, *ev, *text;

	if (!kind)
		return atr__err(ATR_EINVALID, "response_item without a string 'payload.type'");
	if (strcmp(kind, "message") == 0) {
		const char *role = atr__agents_str(p, "role");

		/* The user's words are recorded from event_msg user_message (once, without
		 * the context Codex injects); the model's answer is the output. */
		if (!role || strcmp(role, "assistant") != 0)
			return 0;
		if (!(detail = json_deep_copy(p)) ||
		    !(text = content_text(json_object_get(p, "content"))) ||
		    json_object_set_new(detail, "text", text) != 0) {
			json_decref(detail);
			return oom();
		}
		json_object_del(detail, "type");
		return push(l, event(l, "output", NULL, detail, NULL));
	}
	if (strcmp(kind, "reasoning") == 0) {
		json_t *summary = json_array(), *items = json_object_get(p, "summary");

		for (size_t i = 0; summary && i < json_array_size(items); i++) {
			const char *t = atr__agents_str(json_array_get(items, i), "text");

			if (t && json_array_append_new(summary, json_string(t)) != 0) {
				json_decref(summary);
				return oom();
			}
		}
		if (!summary || !(detail = json_object())) {
			json_decref(summary);
			return oom();
		}
		if (json_object_set_new(detail, "summary", summary) != 0 ||
		    keep(detail, p, "content") < 0 ||
		    /* The encrypted reasoning is opaque here: say it was there, not what. */
		    (json_is_string(json_object_get(p, "encrypted_content")) &&
		     json_object_set_new(detail, "encrypted_content", json_true()) != 0)) {
			json_decref(detail);
			return oom();
		}
		if (!(ev = event(l, TYPE_REASONING, NULL, detail, NULL)))
			return oom();
		return push(l, ev);
	}
	if (strcmp(kind, "function_call") == 0 || strcmp(kind, "custom_tool_call") == 0 ||
	    strcmp(kind, "local_shell_call") == 0 || strcmp(kind, "web_search_call") == 0)
		return tool_call(l, kind);
	if (strcmp(kind, "function_call_output") == 0 ||
	    strcmp(kind, "custom_tool_call_output") == 0)
		return tool_output(l);
	return 0; /* ghost snapshots, compaction summaries, what a later Codex adds */
}

/* exec_command_end: a command that ran, with its exit code. */
static int exec_end(struct line *l)
{
	static const char *const keys[] = {"call_id", "command",  "cwd",        "parsed_cmd",
	                                   "source",  "stdout",   "stderr",     "exit_code",
	                                   "turn_id", "duration", "process_id", NULL};
	json_t *p = l->payload, *code = json_object_get(p, "exit_code"), *detail;
	json_t *argv = json_object_get(p, "command");
	const char *source = atr__agents_str(p, "source");
	char *command;
	int rc;

	if (!json_is_integer(code))
		return 0;
	command = json_is_string(argv) ? strdup(json_string_value(argv)) : command_line(argv);
	if (!command || !(detail = pick(p, keys))) {
		free(command);
		return oom();
	}
	/* A Rust Duration is {secs, nanos}: also as milliseconds, as other events have it. */
	{
		json_t *d = json_object_get(p, "duration");
		json_t *secs = json_object_get(d, "secs"), *nanos = json_object_get(d, "nanos");

		if (json_is_integer(secs) && json_is_integer(nanos) &&
		    json_integer_value(secs) >= 0 && json_integer_value(secs) < INT64_C(1) << 40 &&
		    json_object_set_new(detail, "duration_ms",
		                        json_integer(json_integer_value(secs) * 1000 +
		                                     json_integer_value(nanos) / 1000000)) != 0) {
			json_decref(detail);
			free(command);
			return oom();
		}
	}
	/* "!cmd" in the TUI: the user ran it, not the model. */
	rc = command_event(
	    l, atr__agents_str(p, "call_id"), command, json_integer_value(code),
	    source && strcmp(source, "user_shell") == 0 ? (l->c->user ? l->c->user : "user") : NULL,
	    detail);
	free(command);
	return rc;
}

/* patch_apply_begin: the changes, for an end that does not repeat them. */
static int patch_begin(struct line *l)
{
	const char *call_id = atr__agents_str(l->payload, "call_id");
	json_t *changes = json_object_get(l->payload, "changes"), *rec;

	if (!call_id || !json_is_object(changes))
		return 0;
	rec = json_object_get(l->c->calls, call_id);
	if (!rec && (!(rec = json_object()) || json_object_set_new(l->c->calls, call_id, rec) != 0))
		return oom();
	return json_object_set(rec, "changes", changes) == 0 ? 0 : oom();
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* patch_apply_end: one file event per path the patch changed, in path order. */
static int patch_end(struct line *l)
{
	json_t *p = l->payload, *changes = json_object_get(p, "changes");
	const char *call_id = atr__agents_str(p, "call_id");
	json_t *rec = call_id ? json_object_get(l->c->calls, call_id) : NULL;
	const char *parent = atr__agents_str(rec, "id");
	int ok = !json_is_false(json_object_get(p, "success"));
	const char **paths = NULL, *key;
	size_t n = 0;
	json_t *v;
	int rc = 0;

	if (!json_is_object(changes) || json_object_size(changes) == 0)
		changes = json_object_get(rec, "changes");
	if (!json_is_object(changes) || json_object_size(changes) == 0)
		return 0;
	if (!(paths = malloc(json_object_size(changes) * sizeof(*paths))))
		return oom();
	json_object_foreach(changes, key, v)
	{
		paths[n++] = key;
	}
	qsort(paths, n, sizeof(*paths), cmp_str);
	for (size_t i = 0; i < n && rc == 0; i++) {
		json_t *change = json_object_get(changes, paths[i]), *detail, *ev;
		const char *kind = atr__agents_str(change, "type");
		const char *moved = atr__agents_str(change, "move_path");
		int deleted = kind && strcmp(kind, "delete") == 0;
		size_t rlen = strlen(paths[i]) + 6;
		char *role = malloc(rlen);

		if (!role || !(detail = json_deep_copy(change))) {
			free(role);
			rc = oom();
			break;
		}
		snprintf(role, rlen, "file:%s", paths[i]);
		if ((call_id &&
		     json_object_set_new(detail, "call_id", json_string(call_id)) != 0) ||
		    (moved &&
		     json_object_set_new(detail, "moved_from", json_string(paths[i])) != 0) ||
		    keep(detail, p, "stdout") < 0 || keep(detail, p, "stderr") < 0) {
			free(role);
			json_decref(detail);
			rc = oom();
			break;
		}
		ev = event(l, deleted ? "file_delete" : "file_write", role, detail, NULL);
		free(role);
		if (!ev ||
		    atr__agents_set_str(ev, "target", moved && *moved ? moved : paths[i],
		                        ATR_MAX_TARGET_LEN) ||
		    atr__agents_set_str(ev, "outcome", ok ? "success" : "failure", 16) ||
		    atr__agents_set_str(ev, "parent_event_id", parent, 36)) {
			json_decref(ev);
			rc = oom();
			break;
		}
		rc = push(l, ev);
	}
	free(paths);
	return rc;
}

/* token_count: the model call's usage, once per change of the session's total. */
static int token_count(struct line *l)
{
	atr_codex *c = l->c;
	json_t *info = json_object_get(l->payload, "info"), *total, *last, *usage, *detail, *ev;
	json_t *in, *out;

	if (!json_is_object(info))
		return 0; /* rate limits only */
	total = json_object_get(info, "total_token_usage");
	last = json_object_get(info, "last_token_usage");
	if (!json_is_object(last))
		return 0;
	/* Codex repeats a count (say, when only the rate limits moved): usage is counted once. */
	if (c->last_total && total && json_equal(c->last_total, total))
		return 0;
	json_decref(c->last_total);
	c->last_total = total ? json_deep_copy(total) : NULL;
	if (total && !c->last_total)
		return oom();
	in = json_object_get(last, "input_tokens");
	out = json_object_get(last, "output_tokens");
	if (!(usage = json_object()) ||
	    (json_is_integer(in) && json_integer_value(in) >= 0 &&
	     json_object_set(usage, "input_tokens", in) != 0) ||
	    (json_is_integer(out) && json_integer_value(out) >= 0 &&
	     json_object_set(usage, "output_tokens", out) != 0)) {
		json_decref(usage);
		return oom();
	}
	if (!(detail = json_deep_copy(info)) || keep(detail, l->payload, "rate_limits") < 0) {
		json_decref(detail);
		json_decref(usage);
		return oom();
	}
	if (!(ev = event(l, "llm_call", NULL, detail, NULL))) {
		json_decref(usage);
		return oom();
	}
	/* llm_call needs a model: a count before any turn_context names none. */
	if (!c->model && atr__agents_set_str(ev, "model", "unknown", 16)) {
		json_decref(usage);
		json_decref(ev);
		return oom();
	}
	if (json_object_size(usage) == 0)
		json_decref(usage);
	else if (atr__agents_set(ev, "usage", usage)) {
		json_decref(ev);
		return oom();
	}
	return push(l, ev);
}

static int event_msg(struct line *l)
{
	json_t *p = l->payload, *detail;
	const char *kind = atr__agents_str(p, "type");
	json_t *ev;

	if (!kind)
		return atr__err(ATR_EINVALID, "event_msg without a string 'payload.type'");
	if (strcmp(kind, "token_count") == 0)
		return token_count(l);
	if (strcmp(kind, "exec_command_end") == 0)
		return exec_end(l);
	if (strcmp(kind, "patch_apply_begin") == 0)
		return patch_begin(l);
	if (strcmp(kind, "patch_apply_end") == 0)
		return patch_end(l);
	if (strcmp(kind, "user_message") == 0 || strcmp(kind, "task_complete") == 0 ||
	    strcmp(kind, "turn_aborted") == 0 || strcmp(kind, "error") == 0) {
		const char *type = kind[0] == 'u'   ? "task_submit"
		                   : kind[0] == 'e' ? "error"
		                                    : "task_outcome";

		if (!(detail = json_deep_copy(p)))
			return oom();
		json_object_del(detail, "type");
		if (!(ev = event(l, type, NULL, detail, NULL)))
			return oom();
		if ((kind[0] == 'u' &&
		     atr__agents_set_str(ev, "actor", l->c->user ? l->c->user : "user", 256)) ||
		    (strcmp(kind, "turn_aborted") == 0 &&
		     atr__agents_set_str(ev, "outcome", "aborted", 16)) ||
		    (kind[0] == 'e' && atr__agents_set_str(ev, "outcome", "error", 16))) {
			json_decref(ev);
			return oom();
		}
		return push(l, ev);
	}
	/* agent_message and agent_reasoning repeat response items; the rest is UI chatter. */
	return 0;
}

int atr_codex_map_line(atr_codex *c, const char *text, size_t len, uint64_t lineno,
                       atr_agent_events **out)
{
	struct line l;
	json_error_t jerr;
	json_t *root = NULL, *ts;
	const char *type;
	char norm[28];
	int64_t us;
	int rc;

	*out = NULL;
	memset(&l, 0, sizeof(l));
	if (lineno == 0 || lineno <= c->last_line)
		return atr__err(ATR_EINVALID,
		                "line %llu comes after line %llu: lines must be read in "
		                "order, from 1",
		                (unsigned long long)lineno, (unsigned long long)c->last_line);
	if (len > MAX_LINE)
		return atr__err(ATR_EINVALID, "the line is %zu bytes; the limit is %u", len,
		                MAX_LINE);
	if (!(root = json_loadb(text, len, JSON_ALLOW_NUL, &jerr)))
		return atr__err(ATR_EINVALID, "malformed JSON at column %d: %s", jerr.column,
		                jerr.text);
	rc = ATR_EINVALID;
	if (!json_is_object(root)) {
		atr__err(rc, "a rollout line is a JSON object {timestamp, type, payload}");
		goto out;
	}
	type = atr__agents_str(root, "type");
	l.payload = json_object_get(root, "payload");
	if (!type || !json_is_object(l.payload)) {
		atr__err(rc, "not a codex rollout line: it needs a string 'type' and an object "
		             "'payload'");
		goto out;
	}
	ts = json_object_get(root, "timestamp");
	if (json_is_string(ts)) {
		if (atr_time_parse(json_string_value(ts), &us) != 0) {
			atr__err(rc, "field 'timestamp': '%.64s' is not an RFC 3339 time",
			         json_string_value(ts));
			goto out;
		}
		atr_time_format(us, norm);
	} else if (c->ts[0]) {
		memcpy(norm, c->ts, sizeof(norm)); /* the time of the line before */
	} else {
		atr__err(rc, "missing field 'timestamp'");
		goto out;
	}
	if (!c->file_id) {
		/* The session names the file wherever it is read from (a copy, standard
		 * input); Codex appends a resumed session to its own file. */
		const char *id = atr__agents_str(l.payload, "id");

		if (strcmp(type, "session_meta") != 0 || !id || !*id)
			id = c->fallback;
		if (!id) {
			atr__err(rc,
			         "the first line must be a session_meta naming the session when "
			         "the file has no name");
			goto out;
		}
		if (dup_str(&c->file_id, id) < 0) {
			rc = oom();
			goto out;
		}
	}
	l.c = c;
	l.no = lineno;
	snprintf(l.no_text, sizeof(l.no_text), "%llu", (unsigned long long)lineno);
	l.ts = norm;
	if ((rc = atr__agents_new(&l.out)) != 0)
		goto out;
	if (strcmp(type, "session_meta") == 0)
		rc = session_meta(&l);
	else if (strcmp(type, "turn_context") == 0)
		rc = turn_context(&l);
	else if (strcmp(type, "response_item") == 0)
		rc = response_item(&l);
	else if (strcmp(type, "event_msg") == 0)
		rc = event_msg(&l);
	else
		rc = 0; /* compacted, and what a later Codex adds */
	if (rc != 0)
		goto out;
	memcpy(c->ts, norm, sizeof(c->ts));
	c->last_line = lineno;
	*out = l.out;
	l.out = NULL;
out:
	atr_agent_events_free(l.out);
	json_decref(root);
	return rc;
}

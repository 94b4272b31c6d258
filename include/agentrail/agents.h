/*
 * Events from the agents people already run, as they are: one Claude Code
 * hook payload, one Codex CLI `notify` payload, or the lines of a Codex
 * rollout file (~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl) become
 * agentrail events (DESIGN.md section 2; the tables are in docs/agents.md).
 *
 * Pure functions: nothing is appended. `agentrail hook` hands the events to
 * a producer, `agentrail serve` submits them for POST /api/v1/hooks/claude-code,
 * `agentrail import --format codex` appends them in batches.
 *
 * Every event made carries an event_id. Where the source names what an
 * event is (a tool use id, a prompt id, a file and line) the id is derived
 * from it, so the same payload or line sent again maps to the same id and
 * the log keeps one copy; otherwise the id is a fresh UUIDv7 and nothing is
 * ever lost by two different events sharing an id. Every event is checked
 * as the log would check it; a detail too large or too deep for the log is
 * cut down (detail.truncated) rather than the event being refused.
 */
#ifndef AGENTRAIL_AGENTS_H
#define AGENTRAIL_AGENTS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The events one payload or line maps to, in order (possibly none). */
typedef struct atr_agent_events atr_agent_events;

ATR_EXTERN size_t atr_agent_events_count(const atr_agent_events *l);

/*
 * The JSON text of event 'i' (< count), NUL-terminated, with its length in
 * '*len' (may be NULL). Borrowed until the list is freed.
 */
ATR_EXTERN const char *atr_agent_events_get(const atr_agent_events *l, size_t i, size_t *len);

/* Release 'l'. NULL is a no-op. */
ATR_EXTERN void atr_agent_events_free(atr_agent_events *l);

/* Who the events name; every pointer is borrowed for the call (or the reader's life). */
typedef struct atr_agent_opts {
	const char *actor; /* actor of the agent's events (NULL: "claude-code" or "codex") */
	const char *user;  /* user_id of every event and actor of the user's prompts
	                      (NULL: no user_id; prompts are by "user") */
} atr_agent_opts;

/*
 * Map one Claude Code hook payload (the JSON object a command hook reads on
 * standard input, or an HTTP hook's request body) of 'len' bytes at 'json'
 * to events: SessionStart and SessionEnd to session_start and session_end,
 * UserPromptSubmit to task_submit, PreToolUse to tool_call, PostToolUse and
 * PostToolUseFailure to tool_result (plus command for Bash, file_write for
 * Write, Edit, MultiEdit and NotebookEdit, file_read for Read), Stop,
 * SubagentStop and StopFailure to task_outcome, PermissionRequest to
 * approval_request, Notification to output, PreCompact to x_compact, any
 * other hook to x_claude_code_hook. 'opts' may be NULL.
 *
 * Returns 0 with '*out' the caller's (atr_agent_events_free); ATR_EINVALID
 * when the text is not a JSON object with a string 'hook_event_name' (the
 * message says what is wrong); ATR_ENOMEM. On failure '*out' is NULL.
 */
ATR_EXTERN int atr_claude_hook_map(atr_agent_events **out, const char *json, size_t len,
                                   const atr_agent_opts *opts);

/*
 * Map one Codex CLI notify payload (the JSON argument Codex appends to the
 * `notify` command: {"type":"agent-turn-complete","thread-id":…,"turn-id":…,
 * "cwd":…,"input-messages":[…],"last-assistant-message":…}) to one event:
 * task_outcome for agent-turn-complete, x_codex_notify for any other type.
 * Returns as atr_claude_hook_map() does (ATR_EINVALID: not a JSON object).
 */
ATR_EXTERN int atr_codex_notify_map(atr_agent_events **out, const char *json, size_t len,
                                    const atr_agent_opts *opts);

/*
 * A reader of one Codex rollout file, line by line, in order: it keeps what
 * later lines need (the session, the model, the tool calls by call_id), so
 * one reader must see every line of one file, from the first.
 */
typedef struct atr_codex atr_codex;

/*
 * Start a reader. Event ids derive from the line number and the session id
 * of the file's first line when it is a session_meta (as Codex writes
 * them: a session, resumed or not, is one file), so the same file read
 * again, from a copy, from standard input or grown longer gives the same
 * ids; else from 'file_id' (the file's base name; NULL: such a file is
 * refused at its first line). 'opts' may be NULL. Release with
 * atr_codex_free().
 */
ATR_EXTERN int atr_codex_new(atr_codex **out, const char *file_id, const atr_agent_opts *opts);

/*
 * Map line 'lineno' (counted from 1, blank lines included) of 'len' bytes
 * (without its newline) to its events in '*out' (the caller's; often none:
 * lines that repeat what another line says, or that record nothing an
 * audit needs, map to nothing). Lines must come in order. Returns 0,
 * ATR_EINVALID when the line is not a rollout line ({timestamp, type,
 * payload}; the message says why; the reader has not taken the line) or
 * ATR_ENOMEM. On failure '*out' is NULL.
 */
ATR_EXTERN int atr_codex_map_line(atr_codex *c, const char *line, size_t len, uint64_t lineno,
                                  atr_agent_events **out);

/* The session id of the last session_meta line read, or NULL. Borrowed until the next line. */
ATR_EXTERN const char *atr_codex_session_id(const atr_codex *c);

/* Release 'c'. NULL is a no-op. */
ATR_EXTERN void atr_codex_free(atr_codex *c);

#ifdef __cplusplus
}
#endif
#endif

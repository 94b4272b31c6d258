#!/usr/bin/env bash
# Claude Code and Codex hooks end to end: `agentrail hook claude-code` fed
# every fixture of tests/data/claude-code records the events docs/agents.md
# lists into a local store, exits 0 and prints nothing on stdout whatever
# happens (malformed input, a bad option, the stdout sink, a server that is
# down: the spool takes the events and delivers them once it is up); a
# hook delivered twice is one event; `--print-settings` is valid JSON wiring
# every hook event; POST /api/v1/hooks/claude-code on a real server maps the
# same payloads, answers 200 {} and respects tokens; `agentrail hook codex`
# records Codex's notify payload.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

DATA="$(cd "$(dirname "$0")/../data" && pwd)"
CC="$DATA/claude-code"
SESSION=3b8c1f4e-7f5e-4c1a-9a57-2d1b4c5e6f70
for v in SINK STORE TOKEN LOG_FILE KEY_FILE URL LOG_LEVEL LOG_FILE_READS LOG_COMMANDS LOG_TOKENS SPOOL_DIR; do
	unset "AGENTRAIL_$v"
done
export AGENTRAIL_SPOOL_DIR="$T/spool"

FIXTURES=(session_start user_prompt_submit pre_tool_use permission_request post_tool_use_bash
	post_tool_use_failure post_tool_use_write post_tool_use_edit post_tool_use_multiedit
	post_tool_use_notebookedit post_tool_use_read notification subagent_start subagent_stop
	pre_compact stop session_end)

# hook FIXTURE [OPTIONS...]: run the hook as Claude Code does, payload on stdin; it must
# exit 0 and print nothing on stdout.
hook() {
	local f=$1
	shift
	run "$AGENTRAIL" hook claude-code --user alice "$@" <"$CC/$f.json"
	assert_eq 0 "$RC" "hook $f: exit status"
	assert_eq "" "$OUT" "hook $f: stdout"
}
# types STORE: the event types in seq order, one line.
types() { "$AGENTRAIL" --store "$1" query --json | py '" ".join(r["type"] for r in rows)'; }

# ------------------------------------------------------------ the CLI hook, a local store
for f in "${FIXTURES[@]}"; do
	hook "$f" --store "$STORE"
	assert_eq "" "$ERR" "hook $f: stderr"
done
assert_eq 24 "$(count)" "17 payloads, 24 events"
assert_eq "session_start task_submit tool_call approval_request tool_result command tool_result command tool_result file_write tool_result file_write tool_result file_write tool_result file_write tool_result file_read output x_claude_code_hook task_outcome x_compact task_outcome session_end" \
	"$(types "$STORE")" "event types in order"
ar query --json >"$T/events.jsonl"
# field FILTER EXPR: EXPR over the one record 'r' that FILTER selects.
field() { py "[$2 for r in rows if $1][0]" <"$T/events.jsonl"; }
assert_eq '["alice", "alice", "claude-code", "claude-code"]' \
	"$(field 'r["type"] == "task_submit"' '[r["actor"], r["user_id"], r["agent_id"], r["detail"]["hook_event_name"] and "claude-code"]')" \
	"task_submit: the user's act"
assert_eq '["make tests", 2, "failure"]' \
	"$(field 'r["type"] == "command" and r["exit_code"] == 2' '[r["target"], r["exit_code"], r["outcome"]]')" \
	"command of the failed Bash"
assert_eq '["Bash", "pending", true]' \
	"$(field 'r["type"] == "approval_request"' '[r["target"], r["approval"]["resolution"], r["approval"]["id"] == r["event_id"]]')" \
	"approval_request"
assert_eq "/home/alice/proj/analysis.ipynb" \
	"$(field 'r["type"] == "file_write" and r["detail"]["tool_name"] == "NotebookEdit"' 'r["target"]')" \
	"NotebookEdit's file"
# The tool_result of the Bash call hangs under its tool_call.
CALL=$(field 'r["type"] == "tool_call"' 'r["event_id"]')
assert_eq "$CALL" "$(field 'r["type"] == "tool_result" and r["detail"]["tool_use_id"] == "toolu_01ABCDEFGHJKMNPQRSTVWXYZ01"' 'r["parent_event_id"]')" \
	"tool_result's parent is the tool_call"
assert_eq "$SESSION" "$(field 'r["type"] == "session_end"' 'r["session_id"]')" "session_id"

# Delivered again (Claude Code retried): nothing new, nothing said.
hook pre_tool_use --store "$STORE"
assert_eq "" "$ERR" "retried hook: stderr"
hook post_tool_use_bash --store "$STORE"
assert_eq 24 "$(count)" "a retried hook appends nothing"

# Whatever goes wrong: exit 0, nothing on stdout, one message on stderr.
run "$AGENTRAIL" hook claude-code --store "$STORE" <<<'{not json'
assert_eq "0|" "$RC|$OUT" "malformed payload: exit 0, no stdout"
assert_contains "$ERR" "hook claude-code: not recorded: malformed hook payload at line 1"
assert_eq 1 "$(grep -c . <<<"$ERR")" "malformed payload: one line on stderr"
run "$AGENTRAIL" hook claude-code --store "$STORE" </dev/null
assert_eq "0|" "$RC|$OUT" "empty payload"
assert_contains "$ERR" "empty input"
run "$AGENTRAIL" hook claude-code --store "$STORE" <<<'{"session_id":"x"}'
assert_eq "0|" "$RC|$OUT" "no hook_event_name"
assert_contains "$ERR" "missing field 'hook_event_name'"
run "$AGENTRAIL" hook claude-code --bogus <"$CC/stop.json"
assert_eq "0|" "$RC|$OUT" "unknown option: still exit 0"
assert_contains "$ERR" "unknown option '--bogus'"
echo "not a database" >"$T/garbage.db"
run "$AGENTRAIL" hook claude-code --store "$T/garbage.db" <"$CC/stop.json"
assert_eq "0|" "$RC|$OUT" "a store that cannot be opened"
assert_contains "$ERR" "hook claude-code: not recorded"
assert_eq 24 "$(count)" "nothing recorded by the failures"
expect_exit 64 "$AGENTRAIL" hook
expect_exit 64 "$AGENTRAIL" hook cursor

# The stdout sink cannot speak to the agent: its events go to stderr.
run env AGENTRAIL_SINK=stdout "$AGENTRAIL" hook claude-code --user alice <"$CC/pre_tool_use.json"
assert_eq "0|" "$RC|$OUT" "stdout sink: nothing on stdout"
assert_eq "tool_call" "$(py 'rows[0]["type"]' <<<"$ERR")" "stdout sink: the event on stderr"

# ------------------------------------------------------------ --print-settings
run "$AGENTRAIL" hook claude-code --print-settings
assert_eq 0 "$RC" "print-settings"
assert_eq '["PermissionRequest", "Notification", "PostToolUse", "PostToolUseFailure", "PreCompact", "PreToolUse", "SessionEnd", "SessionStart", "Stop", "SubagentStop", "UserPromptSubmit"]' \
	"$(py 'sorted(d["hooks"], key=lambda k: k.replace("Permission", "A"))' <<<"$OUT")" "every hook event"
assert_eq '[true]' "$(py 'sorted(set(g["hooks"][0] == {"type": "command", "command": "agentrail hook claude-code"} and len(v) == 1 and len(g["hooks"]) == 1 for k, v in d["hooks"].items() for g in v))' <<<"$OUT")" \
	"each event runs 'agentrail hook claude-code'"
assert_eq '["PermissionRequest", "PostToolUse", "PostToolUseFailure", "PreToolUse"]' \
	"$(py 'sorted(k for k, v in d["hooks"].items() if v[0].get("matcher") == "*")' <<<"$OUT")" \
	"tool events match every tool"
run "$AGENTRAIL" hook claude-code --print-settings --command '/opt/agentrail/bin/agentrail hook claude-code --user ci'
assert_eq "/opt/agentrail/bin/agentrail hook claude-code --user ci" "$(py 'd["hooks"]["Stop"][0]["hooks"][0]["command"]' <<<"$OUT")" "--command"
run "$AGENTRAIL" hook claude-code --print-settings --url http://127.0.0.1:8081/
assert_eq '["http", "http://127.0.0.1:8081/api/v1/hooks/claude-code", "Bearer $AGENTRAIL_TOKEN", ["AGENTRAIL_TOKEN"]]' \
	"$(py 'd["hooks"]["PreToolUse"][0]["hooks"][0]' <<<"$OUT" | py '[d["type"], d["url"], d["headers"]["Authorization"], d["allowedEnvVars"]]')" "--url: HTTP hooks"
expect_exit 64 "$AGENTRAIL" hook claude-code --print-settings --url ftp://x

# ------------------------------------------------------------ the server is down, then up
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
SRV_STORE="$T/server.db"
START=$(date +%s)
for f in session_start pre_tool_use post_tool_use_bash; do
	run env AGENTRAIL_STORE="$URL" "$AGENTRAIL" hook claude-code --user alice <"$CC/$f.json"
	assert_eq "0|" "$RC|$OUT" "server down: $f exits 0, nothing on stdout"
	assert_contains "$ERR" "wait in the spool" "server down: $f says where the events are"
	assert_eq 1 "$(grep -c . <<<"$ERR")" "server down: one line on stderr"
done
ELAPSED=$(($(date +%s) - START))
if [ "$ELAPSED" -le 20 ]; then pass; else fail "three hooks with the server down took ${ELAPSED}s"; fi
"$AGENTRAIL" --store "$SRV_STORE" serve --listen "127.0.0.1:$PORT" >"$T/serve.out" 2>"$T/serve.err" &
SRV_PID=$!
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
# The next hook's producer delivers what the others left, then its own.
run env AGENTRAIL_STORE="$URL" "$AGENTRAIL" hook claude-code --user alice <"$CC/stop.json"
assert_eq "0||" "$RC|$OUT|$ERR" "server up: the next hook delivers quietly"
for _ in $(seq 50); do [ "$(curl -s "$URL/healthz" | py 'd["size"]')" = 5 ] && break; sleep 0.2; done
assert_eq 5 "$(curl -s "$URL/healthz" | py 'd["size"]')" "the spool delivered every event, once"
assert_eq "session_start tool_call tool_result command task_outcome" \
	"$(curl -s "$URL/api/v1/events?limit=10" | py '" ".join(e["type"] for e in d["events"])')" \
	"in the order the hooks ran"
stop_server
assert_eq 0 "$SRV_RC" "server stopped"

# ------------------------------------------------------------ POST /api/v1/hooks/claude-code
HSTORE="$T/http.db"
start_server "$HSTORE"
# hpost FIXTURE [QUERY [CURL ARGS...]]
hpost() {
	local f=$1 q=${2:-}
	shift
	[ $# -gt 0 ] && shift
	http POST "/api/v1/hooks/claude-code$q" -H 'Content-Type: application/json' "$@" --data-binary @"$CC/$f.json"
}
for f in "${FIXTURES[@]}"; do
	hpost "$f" "?user=alice"
	assert_eq "200|{}" "$CODE|$BODY" "POST $f: 200 {}"
done
assert_line "$HDRS" '^Content-Type: application/json' "hook answers are JSON"
assert_eq 24 "$(count "$HSTORE")" "the same 24 events over HTTP"
assert_eq "$(types "$STORE")" "$(types "$HSTORE")" "the same event types as the CLI hook"
# Delivered twice: 200 {} and nothing new.
hpost post_tool_use_write "?user=alice"
assert_eq "200|{}" "$CODE|$BODY" "a retried HTTP hook"
assert_eq 24 "$(count "$HSTORE")" "a retried HTTP hook appends nothing"
hpost pre_compact "?actor=claude-ci&user=bob"
assert_eq 200 "$CODE" "actor and user from the query"
assert_eq '["claude-ci", "bob"]' "$(curl -s "$URL/api/v1/events?type=x_compact" | py '[d["events"][-1]["actor"], d["events"][-1]["user_id"]]')" "?actor= and ?user="
# gzip, as any HTTP client may send it.
gzip -c "$CC/notification.json" >"$T/n.gz"
http POST /api/v1/hooks/claude-code -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' --data-binary @"$T/n.gz"
assert_eq "200|{}" "$CODE|$BODY" "gzip body"
http POST /api/v1/hooks/claude-code -H 'Content-Type: application/json' --data-binary '{oops'
assert_eq "400|bad_json" "$CODE|$(jq_ 'd["error"]["code"]')" "not JSON: 400 bad_json"
http POST /api/v1/hooks/claude-code -H 'Content-Type: application/json' --data-binary '{"session_id":"s"}'
assert_eq "400|invalid" "$CODE|$(jq_ 'd["error"]["code"]')" "no hook_event_name: 400 invalid"
http POST /api/v1/hooks/claude-code -H 'Content-Type: text/plain' --data-binary @"$CC/stop.json"
assert_eq 415 "$CODE" "another content type: 415"
hpost stop "?colour=red"
assert_eq "400|colour" "$CODE|$(jq_ 'd["error"]["at"]')" "unknown query parameter: 400"
http GET /api/v1/hooks/claude-code
assert_eq 405 "$CODE" "GET: 405"
N=$(count "$HSTORE")
stop_server

# With tokens: writers may post hooks, readers may not.
WRITER=$("$AGENTRAIL" --store "$HSTORE" token create --role writer --actor admin | tail -n 1)
READER=$("$AGENTRAIL" --store "$HSTORE" token create --role reader --actor admin | tail -n 1)
start_server "$HSTORE"
hpost stop
assert_eq 401 "$CODE" "no token: 401"
hpost stop "" -H "Authorization: Bearer $READER"
assert_eq 403 "$CODE" "a reader's token: 403"
http POST /api/v1/hooks/claude-code -H 'Content-Type: application/json' -H "Authorization: Bearer $WRITER" --data-binary @"$CC/stop.json"
assert_eq "200|{}" "$CODE|$BODY" "a writer's token: 200 {}"
stop_server
assert_eq $((N + 3)) "$(count "$HSTORE")" "two token_change events and the stop"

# ------------------------------------------------------------ agentrail hook codex
NOTIFY=$(cat "$DATA/codex/notify.json")
run "$AGENTRAIL" hook codex --store "$STORE" --user alice "$NOTIFY"
assert_eq "0||" "$RC|$OUT|$ERR" "hook codex: exit 0, quiet"
run "$AGENTRAIL" hook codex --store "$STORE" --user alice "$NOTIFY"
assert_eq "0||" "$RC|$OUT|$ERR" "hook codex again"
"$AGENTRAIL" --store "$STORE" query --json --type task_outcome --actor codex >"$T/notify.jsonl"
assert_eq '[1, "019a2d7a-41c4-78b1-b7cc-a45d62a89cd5", "alice", "fix the failing test"]' \
	"$(py '[len(rows), rows[0]["session_id"], rows[0]["user_id"], rows[0]["detail"]["input-messages"][0]]' <"$T/notify.jsonl")" \
	"the turn recorded once"
run "$AGENTRAIL" hook codex --store "$STORE" 'not json'
assert_eq "0|" "$RC|$OUT" "hook codex: bad payload, exit 0"
assert_contains "$ERR" "hook codex: not recorded: malformed notify payload"
run "$AGENTRAIL" hook codex --store "$STORE" <"$DATA/codex/notify.json"
assert_eq "0||" "$RC|$OUT|$ERR" "hook codex: the payload on stdin"

finish

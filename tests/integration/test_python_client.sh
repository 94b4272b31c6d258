#!/usr/bin/env bash
# The Python client (clients/python/agentrail.py) against a real agentrail
# serve: python_client_test.py checks fields, sessions, batching, refusals,
# the spool through outages, 429s and tokens (it starts its own servers);
# here, the worked example's trail is complete, also after an outage.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

: "${ATR_SRC:?set ATR_SRC to the source tree}"
CLIENT="$ATR_SRC/clients/python"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' || {
	echo "$TEST_NAME: python3 is older than 3.9"
	exit 1
}

# ------------------------------------------------------------ the unit tests
RC=0
T="$T" python3 -B "$ATR_SRC/tests/integration/python_client_test.py" >"$T/unittest.out" 2>&1 || RC=$?
if [ "$RC" -eq 0 ]; then
	pass
else
	fail "python_client_test.py failed (exit $RC)"
	cat "$T/unittest.out" >&2
fi
assert_line "$(cat "$T/unittest.out")" '^Ran [0-9]+ tests' "the unit tests ran"
assert_line "$(cat "$T/unittest.out")" '^OK$' "the unit tests passed"

# ------------------------------------------------------------ the example
# Standard library only: it runs with no site packages at all.
SPOOL="$T/spool"
example() { python3 -B -S -I "$CLIENT/example_agent.py" --spool-dir "$SPOOL" "$@"; }

start_server "$STORE"
expect_exit 0 example --url "$URL" --session ex-1
assert_contains "$OUT" "session ex-1: 19 events, all delivered"
assert_contains "$OUT" "agentrail trail --store $URL --session ex-1"

expect_exit 0 ar trail --session ex-1
TRAIL=$OUT
# One line per event, indented under its parent: the task, the session under
# it, the model calls under the session, decisions and tools under the calls.
assert_eq "task_submit
  session_start
    llm_call
      decision
      tool_call
    llm_call
      decision
      tool_call
      decision
      tool_call
    llm_call
      decision
        approval_request
          approval_resolved
      tool_call
    llm_call
    output
    session_end
  task_outcome" "$(sed 1d <<<"$TRAIL" | cut -c 22- | awk '{ match($0, /^ */); printf "%*s%s\n", RLENGTH, "", $1 }')" \
	"the example's trail"
assert_contains "$TRAIL" "fake-model-1  tokens 52 in / 34 out"
assert_contains "$TRAIL" 'send_email  policy REQUIRE_APPROVAL  reason: "mail leaves the sandbox: a human must approve it"'
assert_line "$TRAIL" 'approval_resolved +carol +approval approved'
assert_line "$TRAIL" 'session_end +example-agent +-> success'

run ar trail --session ex-1 --json
J=$OUT
assert_eq '[["ex-1"], ["ex-1"], 19]' "$(py '[sorted({e.get("session_id") for e in d}), sorted({e.get("job_id") for e in d}), len(d)]' <<<"$J")" \
	"every event carries the session and the job"
assert_eq '[[52, 34], [136, 45], [287, 91], [419, 19]]' \
	"$(py '[[e["usage"]["input_tokens"], e["usage"]["output_tokens"]] for e in d if e["type"] == "llm_call"]' <<<"$J")" \
	"tokens of each model call"
assert_eq '[["list_issues", {"state": "open"}, "success"], ["read_issue", {"id": 6}, "success"], ["read_issue", {"id": 7}, "success"], ["send_email", "team@example.com", "success"]]' \
	"$(py '[[e["target"], e["detail"]["arguments"] if e["target"] != "send_email" else e["detail"]["arguments"]["to"], e["outcome"]] for e in d if e["type"] == "tool_call"]' <<<"$J")" \
	"tool calls with arguments and outcomes"
assert_eq '{"body": "Secrets in event content should never be stored.", "id": 7, "title": "Mask secrets at ingest"}' \
	"$(py '[e["detail"]["result"] for e in d if e["type"] == "tool_call"][2]' <<<"$J")" "a tool's result"

http GET /api/v1/jobs/ex-1
assert_eq 200 "$CODE" "the example's job"
assert_eq '["alice", "succeeded", 19, 4, ["approved", "carol"]]' \
	"$(jq_ '[d["submitter"], d["status"], d["events"], d["decisions_total"], [d["approvals"][0]["resolution"], d["approvals"][0]["resolved_by"]]]')" \
	"the job as the server folds it"

# A tool fails: the session ends with outcome 'error', the task with 'failure'.
expect_exit 2 example --url "$URL" --session ex-fail --fail
assert_contains "$ERR" "agent failed: ToolFailed: the issue tracker timed out after 30 s"
run ar trail --session ex-fail --json
assert_eq '[["read_issue", "error"], ["session_end", "error", "ToolFailed"], ["task_outcome", "failure"]]' \
	"$(py '[[e["target"], e["outcome"]] for e in d if e["type"] == "tool_call"][-1:] + [[e["type"], e["outcome"], e["detail"]["error_type"]] for e in d if e["type"] == "session_end"] + [[e["type"], e["outcome"]] for e in d if e["type"] == "task_outcome"]' <<<"$OUT")" \
	"a failing tool"

# ------------------------------------------------------------ the example through an outage
stop_server
PORT_WAS=$PORT
expect_exit 1 example --url "$URL" --session ex-down
assert_contains "$OUT" "session ex-down: 19 events, some wait in the spool '$SPOOL'"
assert_eq 19 "$(cat "$SPOOL"/seg-*.ndjson | wc -l | tr -d ' ')" "the events are in the spool"
# The server comes back on the same address; the next run sends the spool first.
"$AGENTRAIL" --store "$STORE" serve --listen "127.0.0.1:$PORT_WAS" >"$T/serve2.out" 2>"$T/serve2.err" &
SRV_PID=$!
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
expect_exit 0 example --url "$URL" --session ex-after
assert_eq 0 "$(cat "$SPOOL"/seg-*.ndjson 2>/dev/null | wc -l | tr -d ' ')" "the spool is empty"
run ar query --json --session ex-down
assert_eq 19 "$(py 'len(rows)' <<<"$OUT")" "the outage's session arrived"
run ar query --json
assert_eq true "$(py 'len(rows) == len({r["event_id"] for r in rows})' <<<"$OUT")" "each event once"
assert_eq "$(printf 'D%.0s' $(seq 19))$(printf 'A%.0s' $(seq 19))" \
	"$(py '"".join({"ex-down": "D", "ex-after": "A"}.get(r.get("session_id"), "") for r in rows)' <<<"$OUT")" \
	"the spooled session was replayed before the new one"
expect_exit 0 ar trail --session ex-down
assert_eq 20 "$(wc -l <<<"$OUT" | tr -d ' ')" "the replayed trail is whole (a date line and 19 events)"

stop_server
assert_eq 0 "$SRV_RC" "clean exit"
finish

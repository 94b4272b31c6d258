#!/usr/bin/env bash
# Codex CLI sessions end to end: `agentrail import --format codex` of one
# rollout file, of a sessions directory (every rollout-*.jsonl below it, in
# time order) and of standard input records the events docs/agents.md lists;
# importing again appends nothing; a bad line stops the import naming file
# and line; client mode goes through a real server; and --follow picks up
# lines appended to a live file (waiting for a line's newline), new files
# in new day directories, then stops cleanly on SIGTERM and on SIGINT.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

DATA="$(cd "$(dirname "$0")/../data/codex" && pwd)"
S1=019a2d7a-41c4-78b1-b7cc-a45d62a89cd5
S2=019a3100-5c2e-7a41-9f00-3e2d1c0b4a99
F1="$DATA/sessions/2025/10/29/rollout-2025-10-29T00-59-38-$S1.jsonl"
F2="$DATA/sessions/2025/10/30/rollout-2025-10-30T09-12-01-$S2.jsonl"
FOLLOW_PID=""
trap '[ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null; [ -n "$FOLLOW_PID" ] && kill -KILL "$FOLLOW_PID" 2>/dev/null; true' EXIT

types() { "$AGENTRAIL" --store "$1" query --json ${2:+--session "$2"} | py '" ".join(r["type"] for r in rows)'; }
# wait_count STORE N: until the store holds N records (at most 10 s).
wait_count() {
	for _ in $(seq 100); do
		[ "$(count "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	return 0
}

# ------------------------------------------------------------ one file
expect_exit 0 ar import --format codex "$F1"
assert_eq "imported 27 events (0 duplicates) from $F1" "$OUT" "one file"
assert_eq 27 "$(count)" "27 events"
assert_eq "session_start task_submit x_codex_turn_context x_reasoning tool_call command tool_result llm_call tool_call file_write file_write file_delete file_write tool_result tool_call tool_result command tool_call tool_result tool_call llm_call x_codex_turn_context output task_outcome task_outcome error command" \
	"$(types "$STORE")" "every record type, in file order"
ar query --json >"$T/f1.jsonl"
field() { py "[$2 for r in rows if $1][0]" <"$T/f1.jsonl"; }
assert_eq '["codex", "0.46.0", "2025-10-29T00:59:38.317000Z", "/home/alice/proj"]' \
	"$(field 'r["type"] == "session_start"' '[r["agent_id"], r["agent_version"], r["ts"], r["detail"]["cwd"]]')" \
	"session_start: cli version, time, cwd"
assert_eq '["make test", 2, "failure"]' \
	"$(field 'r["type"] == "command" and r["exit_code"] != 0' '[r["target"], r["exit_code"], r["outcome"]]')" \
	"the failing command and its exit code"
assert_eq '["gpt-5-codex", 9000, 300]' \
	"$(field 'r["type"] == "llm_call"' '[r["model"], r["usage"]["input_tokens"], r["usage"]["output_tokens"]]')" \
	"token usage on llm_call"
assert_eq "$(field 'r["type"] == "tool_call" and r["target"] == "shell"' 'r["event_id"]')" \
	"$(field 'r["type"] == "tool_result" and r["target"] == "shell"' 'r["parent_event_id"]')" \
	"the output joined to its call"
assert_eq '["/home/alice/proj/docs/new.md", "/home/alice/proj/src/parse.c", "/home/alice/proj/tests/test_empty.c"]' \
	"$(py 'sorted(r["target"] for r in rows if r["type"] == "file_write")' <"$T/f1.jsonl")" \
	"one file_write per patched path"
# The trail nests the command and the result under the call.
run ar trail --session "$S1"
assert_line "$OUT" '^[0-9:.]+ +5 +  command +codex +make test +-> failure \(exit 2\)' "trail: command under its call"

# Again: nothing appended.
expect_exit 0 ar import --format codex "$F1"
assert_eq "imported 27 events (27 duplicates) from $F1" "$OUT" "importing again appends nothing"
assert_eq 27 "$(count)" "still 27"

# ------------------------------------------------------------ a directory, standard input
expect_exit 0 ar import --format codex "$DATA/sessions"
assert_eq "imported 35 events (27 duplicates) from 2 codex rollout files in $DATA/sessions" "$OUT" "a directory"
assert_eq 35 "$(count)" "the second session added"
assert_eq "session_start x_codex_turn_context task_submit tool_call tool_result command llm_call output" \
	"$(types "$STORE" "$S2")" "the second session's events"
assert_eq "[\"$S1\", \"$S2\"]" \
	"$(ar query --json --type session_start | py '[r["session_id"] for r in rows]')" "sessions in time order"
expect_exit 0 ar import --format codex "$DATA/sessions"
assert_eq "imported 35 events (35 duplicates) from 2 codex rollout files in $DATA/sessions" "$OUT" "the directory again"
run ar import --format codex - <"$F2"
assert_eq "0|imported 8 events (8 duplicates) from standard input" "$RC|$OUT" \
	"standard input: the same session, the same events"
expect_exit 0 ar import --format codex --quiet "$DATA/sessions"
assert_eq "" "$OUT" "--quiet"
assert_eq 35 "$(count)" "still 35"

# A copy under another name is the same session: nothing new.
cp "$F2" "$T/rollout-copy.jsonl"
expect_exit 0 ar import --format codex "$T/rollout-copy.jsonl"
assert_eq 35 "$(count)" "a copy appends nothing"

# ------------------------------------------------------------ bad input
BAD="$T/bad/rollout-2025-11-01T00-00-00-bad.jsonl"
mkdir -p "$T/bad"
head -3 "$F2" | sed "s/$S2/019a3100-0000-7000-8000-00000000bad0/" >"$BAD"
echo '{"timestamp":"2025-10-30T09:13:00Z","type":"event_msg"}' >>"$BAD"
tail -n +4 "$F2" >>"$BAD"
expect_exit 1 ar import --format codex "$BAD"
assert_contains "$ERR" "$BAD: line 4: not a codex rollout line"
assert_contains "$ERR" "import stopped: 3 events imported (0 duplicates); nothing from line 4 of '$BAD' on was appended"
assert_eq 38 "$(count)" "the lines before the bad one are imported"
expect_exit 1 ar import --format codex "$T/none"
assert_contains "$ERR" "cannot open '$T/none'"
expect_exit 64 ar import --format codex --follow -
expect_exit 64 ar import --follow "$F1"
assert_contains "$ERR" "'--follow' goes with '--format codex'"
expect_exit 64 ar import --format cursor "$F1"
# A last line without its newline: taken when it is whole, skipped when it is not.
PART="$T/part/rollout-2025-11-02T00-00-00-part.jsonl"
mkdir -p "$T/part"
head -2 "$F2" >"$PART"
printf '%s' "$(sed -n 3p "$F2")" >>"$PART"
expect_exit 0 "$AGENTRAIL" --store "$T/part.db" import --format codex "$PART"
assert_eq 3 "$(count "$T/part.db")" "a whole last line without a newline is imported"
head -2 "$F2" >"$PART"
printf '%s' "$(sed -n 3p "$F2" | head -c 40)" >>"$PART"
expect_exit 0 "$AGENTRAIL" --store "$T/part2.db" import --format codex "$PART"
assert_eq 2 "$(count "$T/part2.db")" "a cut last line is not"
assert_contains "$ERR" "line 3 is incomplete"

# ------------------------------------------------------------ client mode
SRV_STORE="$T/server.db"
start_server "$SRV_STORE"
expect_exit 0 "$AGENTRAIL" --store "$URL" import --format codex "$DATA/sessions"
assert_eq "imported 35 events (0 duplicates) from 2 codex rollout files in $DATA/sessions" "$OUT" "through a server"
expect_exit 0 "$AGENTRAIL" --store "$URL" import --format codex "$DATA/sessions"
assert_eq "imported 35 events (35 duplicates) from 2 codex rollout files in $DATA/sessions" "$OUT" "through a server, again"
stop_server
assert_eq 35 "$(count "$SRV_STORE")" "the server's store"
assert_eq "$(types "$STORE" "$S1")|$(types "$STORE" "$S2")" "$(types "$SRV_STORE" "$S1")|$(types "$SRV_STORE" "$S2")" \
	"the same events as a local import"

# ------------------------------------------------------------ --follow
LIVE="$T/live"
FSTORE="$T/follow.db"
mkdir -p "$LIVE/2025/10/29"
L1="$LIVE/2025/10/29/$(basename "$F1")"
head -12 "$F1" >"$L1"
"$AGENTRAIL" --store "$FSTORE" import --format codex --follow "$LIVE" >"$T/follow.out" 2>"$T/follow.err" &
FOLLOW_PID=$!
wait_count "$FSTORE" 7
assert_eq 7 "$(count "$FSTORE")" "follow: what is there first"
# Lines appended, the last one in two writes: it counts once its newline is there.
sed -n 13,15p "$F1" >>"$L1"
sed -n 16p "$F1" | head -c 100 >>"$L1"
wait_count "$FSTORE" 9
sleep 0.5
assert_eq 9 "$(count "$FSTORE")" "follow: appended lines, not the half line"
sed -n 16p "$F1" | tail -c +101 >>"$L1"
wait_count "$FSTORE" 13
assert_eq 13 "$(count "$FSTORE")" "follow: the line once whole"
# The rest, and a new session in a new day directory.
tail -n +17 "$F1" >>"$L1"
mkdir -p "$LIVE/2025/10/30"
cp "$F2" "$LIVE/2025/10/30/"
wait_count "$FSTORE" 35
assert_eq 35 "$(count "$FSTORE")" "follow: the rest and a new file"
kill -TERM "$FOLLOW_PID"
FRC=0
wait "$FOLLOW_PID" || FRC=$?
FOLLOW_PID=""
assert_eq 0 "$FRC" "follow: SIGTERM stops it cleanly"
assert_eq "imported 35 events (0 duplicates) from 2 codex rollout files in $LIVE" "$(cat "$T/follow.out")" "follow: the summary"
assert_eq "" "$(cat "$T/follow.err")" "follow: nothing on stderr"
assert_eq "$(types "$STORE" "$S1")|$(types "$STORE" "$S2")" "$(types "$FSTORE" "$S1")|$(types "$FSTORE" "$S2")" \
	"follow: the same events as an import"
# Started again on the same directory: nothing new; SIGINT stops it too.
"$AGENTRAIL" --store "$FSTORE" import --format codex --follow "$LIVE" >"$T/follow2.out" 2>&1 &
FOLLOW_PID=$!
for _ in $(seq 50); do grep -q . "$T/follow2.out" && break; [ "$(count "$FSTORE")" = 35 ] && sleep 0.5 && break; sleep 0.1; done
kill -INT "$FOLLOW_PID"
FRC=0
wait "$FOLLOW_PID" || FRC=$?
FOLLOW_PID=""
assert_eq 0 "$FRC" "follow: SIGINT stops it cleanly"
assert_eq "imported 35 events (35 duplicates) from 2 codex rollout files in $LIVE" "$(cat "$T/follow2.out")" "follow again: all duplicates"
# An old session that grows again: its reader, dropped while it was idle, is rebuilt
# from what was read, so a call read before joins its output read after.
OLD="$T/old"
mkdir -p "$OLD"
head -10 "$F1" >"$OLD/$(basename "$F1")"
touch -d '2 hours ago' "$OLD/$(basename "$F1")"
"$AGENTRAIL" --store "$T/old.db" import --format codex --follow "$OLD" >"$T/old.out" 2>&1 &
FOLLOW_PID=$!
wait_count "$T/old.db" 5
assert_eq 5 "$(count "$T/old.db")" "follow an idle file: what is there"
tail -n +11 "$F1" >>"$OLD/$(basename "$F1")"
wait_count "$T/old.db" 27
assert_eq 27 "$(count "$T/old.db")" "follow an idle file that grows"
"$AGENTRAIL" --store "$T/old.db" query --json >"$T/old.jsonl"
assert_eq '[true, true]' "$(py '[
  [r for r in rows if r["type"] == "tool_result" and r["target"] == "shell"][0]["parent_event_id"] == [r for r in rows if r["type"] == "tool_call" and r["target"] == "shell"][0]["event_id"],
  [r for r in rows if r["type"] == "command" and r["exit_code"] == 2][0]["parent_event_id"] == [r for r in rows if r["type"] == "tool_call" and r["target"] == "shell"][0]["event_id"]]' <"$T/old.jsonl")" \
	"the call before and its output after are joined"
assert_eq "$(types "$STORE" "$S1")" "$(types "$T/old.db" "$S1")" "follow an idle file: the same events"
kill -TERM "$FOLLOW_PID"
FRC=0
wait "$FOLLOW_PID" || FRC=$?
FOLLOW_PID=""
assert_eq 0 "$FRC" "follow an idle file: stopped"

# Following one file.
FF="$T/one/rollout-x.jsonl"
mkdir -p "$T/one"
head -4 "$F2" >"$FF"
"$AGENTRAIL" --store "$T/one.db" import --format codex --follow "$FF" >"$T/one.out" 2>&1 &
FOLLOW_PID=$!
wait_count "$T/one.db" 4
tail -n +5 "$F2" >>"$FF"
wait_count "$T/one.db" 8
assert_eq 8 "$(count "$T/one.db")" "follow one file"
kill -TERM "$FOLLOW_PID"
FRC=0
wait "$FOLLOW_PID" || FRC=$?
FOLLOW_PID=""
assert_eq "0|imported 8 events (0 duplicates) from $FF" "$FRC|$(cat "$T/one.out")" "follow one file: summary"

finish

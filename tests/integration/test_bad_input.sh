#!/usr/bin/env bash
# Bad input never reaches the log: each rejection exits 1 with a message
# naming the field, and the store size is unchanged afterwards.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

expect_exit 0 ar record --type tool_call --actor seed --target bash
assert_eq 1 "$(count)" "seed record"

# reject DESCRIPTION NEEDLE JSON: 'record --json -' must fail naming NEEDLE.
reject() {
	local what=$1 needle=$2
	expect_exit 1 ar record --json - <"$T/in.json"
	assert_match "$ERR" "^agentrail: " "$what: message prefix"
	assert_contains "$ERR" "$needle" "$what: message"
	assert_eq 1 "$(wc -l <<<"$ERR")" "$what: one line"
	assert_eq 1 "$(count)" "$what: store size unchanged"
}

printf '%s' '{"type":"tool_call","actor":' >"$T/in.json"
reject "truncated JSON" "JSON"
printf '%s' '{"type":"tool_call" "actor":"a"}' >"$T/in.json"
reject "malformed JSON" "JSON"
printf '%s' '["type","tool_call"]' >"$T/in.json"
reject "not an object" "object"
printf '%s' '{"type":"tool_call","target":"x"}' >"$T/in.json"
reject "missing actor" "'actor'"
printf '%s' '{"actor":"a"}' >"$T/in.json"
reject "missing type" "'type'"
printf '%s' '{"type":"decision","actor":"a","target":"merge"}' >"$T/in.json"
reject "decision without reason" "'reason'"
printf '%s' '{"type":"tool_call","actor":"a","colour":"red"}' >"$T/in.json"
reject "unknown field" "'colour'"
printf '{"type":"tool_call","actor":"a\xff"}' >"$T/in.json"
reject "invalid UTF-8" "UTF-8"
printf '%s' '{"type":"llm_call","actor":"a","model":"m","usage":{"input_tokens":1.5}}' >"$T/in.json"
reject "float in usage" "input_tokens"
printf '%s' '{"type":"tool_call","actor":"a","level":"decision"}' >"$T/in.json"
reject "level mismatch" "'level'"
printf '%s' '{"type":"frobnicate","actor":"a"}' >"$T/in.json"
reject "unknown type" "'type'"
printf '%s' '{"type":"tool_call","actor":"a","event_id":"not-a-uuid"}' >"$T/in.json"
reject "bad event id" "'event_id'"
printf '%s' '{"type":"tool_call","actor":"a","ts":"yesterday"}' >"$T/in.json"
reject "bad timestamp" "'ts'"
printf '%s' '{"type":"command","actor":"a","target":"ls","exit_code":"zero"}' >"$T/in.json"
reject "string exit code" "'exit_code'"
printf '%s' '{"type":"tool_call","actor":"a","detail":"text"}' >"$T/in.json"
reject "detail not an object" "'detail'"

# A 10 MB field: refused as too big, naming the field; same through import.
python3 -c '
import json, sys
json.dump({"type": "tool_call", "actor": "a", "target": "x" * (10 << 20)}, open(sys.argv[1], "w"))
' "$T/in.json"
reject "10 MB field" "'target'"
echo >>"$T/in.json"
expect_exit 1 ar import "$T/in.json"
assert_contains "$ERR" "agentrail: line 1: "
assert_contains "$ERR" "'target'"
assert_eq 1 "$(count)" "10 MB import: store size unchanged"

# Through the option form.
expect_exit 1 ar record --type decision --actor a
assert_contains "$ERR" "'reason'"
expect_exit 1 ar record --type tool_call --actor a --detail '{"x":'
assert_contains "$ERR" "agentrail: option '--detail': invalid JSON"
expect_exit 1 ar record --type tool_call --target x
assert_contains "$ERR" "'actor'"
expect_exit 1 ar record --type llm_call --actor a
assert_contains "$ERR" "'model'"
expect_exit 1 ar record --type command --actor a --target ls
assert_contains "$ERR" "'exit_code'"
expect_exit 1 ar record --type tool_call --actor a --policy-decision MAYBE
assert_contains "$ERR" "decision"
assert_eq 1 "$(count)" "option form: store size unchanged"

# Through import: a bad line names its line number, and invalid UTF-8 too.
printf '%s\n' '{"type":"tool_call","actor":"ok","target":"x"}' '{"type":"tool_call","actor":"a","target":"x","colour":"red"}' >"$T/bad.jsonl"
expect_exit 1 ar import "$T/bad.jsonl"
assert_contains "$ERR" "agentrail: line 2: "
assert_contains "$ERR" "'colour'"
printf '{"type":"tool_call","actor":"ok","target":"x"}\n{"type":"tool_call","actor":"\xfe","target":"x"}\n' >"$T/bad.jsonl"
expect_exit 1 ar import "$T/bad.jsonl"
assert_contains "$ERR" "agentrail: line 2: "
assert_contains "$ERR" "UTF-8"
assert_eq 1 "$(count)" "import: store size unchanged"

expect_exit 2 ar verify
finish

#!/usr/bin/env bash
# The CLI end to end on a real store: help and usage errors, record and its
# idempotency, import of our events and both foreign shapes, trail, query,
# export, root and proofs checked by an independent RFC 9162 verifier.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ID1=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a51
ID2=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a52
TS1=2026-04-01T14:10:32.123456Z

# ---------------------------------------------------------------- help, usage
expect_exit 0 "$AGENTRAIL" --help
assert_contains "$OUT" "usage: agentrail"
for cmd in record import trail query export verify root prove bench demo; do
	assert_contains "$OUT" "  $cmd " "--help lists '$cmd'"
done
for cmd in record import trail query export verify root prove bench demo; do
	expect_exit 0 "$AGENTRAIL" "$cmd" --help
	assert_match "$OUT" "^usage: agentrail $cmd " "$cmd --help"
	assert_contains "$OUT" "--store URI" "$cmd --help"
	assert_eq "" "$ERR" "$cmd --help stderr"
done
expect_exit 0 "$AGENTRAIL" record --help
for flag in --type --actor --target --reason --outcome --exit-code --session --trace --run --job \
	--step --model --user --agent --parent --ts --event-id --input-tokens --output-tokens \
	--cost-micro-usd --policy-rule --policy-snapshot --policy-decision --approval-id \
	--approval-resolution --detail --json --quiet --print-json; do
	assert_contains "$OUT" "$flag" "record --help"
done
expect_exit 0 "$AGENTRAIL" help prove
assert_match "$OUT" "^usage: agentrail prove" "help prove"
expect_exit 0 "$AGENTRAIL" --version
assert_match "$OUT" "^agentrail [0-9]+\.[0-9]+\.[0-9]+$" "--version"

expect_exit 64 "$AGENTRAIL"
expect_exit 64 ar frobnicate
assert_contains "$ERR" "agentrail: unknown command 'frobnicate'"
expect_exit 64 ar record --bogus
assert_contains "$ERR" "agentrail: unknown option '--bogus'"
expect_exit 64 ar record --type
assert_contains "$ERR" "agentrail: option '--type' requires an argument"
expect_exit 64 ar record --type command --actor a --target ls --exit-code abc
assert_contains "$ERR" "option '--exit-code' expects an integer, got 'abc'"
expect_exit 64 ar record --json '{}' --type tool_call
assert_contains "$ERR" "'--json' cannot be combined"
expect_exit 64 ar record
expect_exit 64 ar import
assert_contains "$ERR" "missing FILE"
expect_exit 64 ar import a b
assert_contains "$ERR" "unexpected argument 'b'"
expect_exit 64 ar import --format xml f
assert_contains "$ERR" "option '--format' expects"
expect_exit 64 ar trail
assert_contains "$ERR" "exactly one of"
expect_exit 64 ar query --limit x
assert_contains "$ERR" "option '--limit' expects a non-negative integer, got 'x'"
expect_exit 64 ar query --since yesterday
assert_contains "$ERR" "option '--since' expects an RFC 3339 time, got 'yesterday'"
expect_exit 64 ar query --level boss
expect_exit 64 ar prove
assert_contains "$ERR" "missing SEQ"
expect_exit 64 ar prove x
assert_contains "$ERR" "SEQ must be a non-negative integer, got 'x'"
expect_exit 64 ar prove --consistency 1
assert_contains "$ERR" "missing NEW"
expect_exit 64 ar verify --bogus
expect_exit 64 ar bench
expect_exit 64 ar bench sideways
expect_exit 64 "$AGENTRAIL" --store
assert_contains "$ERR" "option '--store' requires an argument"

# A read on a store that does not exist fails and does not create it.
expect_exit 1 "$AGENTRAIL" --store "$T/nope.db" query --count
assert_contains "$ERR" "agentrail: "
assert_contains "$ERR" "'$T/nope.db'"
[ ! -e "$T/nope.db" ] && pass || fail "query created '$T/nope.db'"

# ---------------------------------------------------------------- record
expect_exit 0 ar record --type tool_call --actor implementer-0 --target bash --session s1 \
	--trace t1 --run r1 --job j1 --ts "$TS1" --event-id "$ID1" --detail '{"command":"ls -l"}'
assert_eq "seq 0  event_id $ID1" "$OUT" "first record"
# Same id, same content: the original seq, flagged as a duplicate, nothing appended.
expect_exit 0 ar record --type tool_call --actor implementer-0 --target bash --session s1 \
	--trace t1 --run r1 --job j1 --ts "$TS1" --event-id "$ID1" --detail '{"command":"ls -l"}'
assert_eq "seq 0  event_id $ID1  (duplicate)" "$OUT" "re-send"
# Same id, different content: a conflict.
expect_exit 1 ar record --type tool_call --actor implementer-0 --target bash --session s1 \
	--trace t1 --run r1 --job j1 --ts "$TS1" --event-id "$ID1" --detail '{"command":"rm -rf /"}'
assert_contains "$ERR" "agentrail: "
assert_contains "$ERR" "$ID1"
assert_contains "$ERR" "different content"
assert_eq 1 "$(count)" "size after re-sends"

# The option form and the --json form of the same event are the same event.
expect_exit 0 ar record --print-json --json "{\"event_id\":\"$ID1\",\"type\":\"tool_call\",\"actor\":\"implementer-0\",\"target\":\"bash\",\"session_id\":\"s1\",\"trace_id\":\"t1\",\"run_id\":\"r1\",\"job_id\":\"j1\",\"ts\":\"$TS1\",\"detail\":{\"command\":\"ls -l\"}}"
assert_eq "{\"seq\":0,\"event_id\":\"$ID1\",\"duplicate\":true}" "$OUT" "--json re-send"

expect_exit 0 ar record --print-json --type llm_call --actor implementer-0 --model m-1 \
	--session s1 --trace t1 --parent "$ID1" --ts 2026-04-01T14:10:33.5Z --event-id "$ID2" \
	--input-tokens 1200 --output-tokens 345 --cost-micro-usd 8000 --step 2 --agent implementer-0 \
	--user alice --outcome success
assert_eq "{\"seq\":1,\"event_id\":\"$ID2\",\"duplicate\":false}" "$OUT" "--print-json"
expect_exit 0 ar record --quiet --type decision --actor implementer-0 --session s1 --trace t1 \
	--parent "$ID2" --reason "tests pass; merge" --policy-rule r-7 --policy-snapshot p-3 \
	--policy-decision ALLOW --ts 2026-04-02T09:00:00Z --target "merge PR 12"
assert_eq "" "$OUT" "--quiet"
echo '{"type":"command","actor":"implementer-1","target":"make test","exit_code":2,"outcome":"failure","session_id":"s2","ts":"2026-04-02T09:00:01Z"}' >"$T/ev.json"
expect_exit 0 ar record --json - <"$T/ev.json"
assert_match "$OUT" "^seq 3  event_id [0-9a-f-]{36}$" "--json -"
expect_exit 0 ar record --type file_write --actor implementer-1 --target src/a.c --session s2 \
	--exit-code 0 --outcome success --ts 2026-04-02T09:00:02Z
assert_match "$OUT" "^seq 4  event_id " "fifth record"
assert_eq 5 "$(count)" "size"

# ---------------------------------------------------------------- trail
expect_exit 0 ar trail --session s1
assert_eq "2026-04-01" "$(sed -n 1p <<<"$OUT")" "trail: date line"
assert_match "$(sed -n 2p <<<"$OUT")" "^14:10:32\.123      0  tool_call +implementer-0 +bash" "trail: line 1"
assert_match "$(sed -n 3p <<<"$OUT")" "^14:10:33\.500      1    llm_call +implementer-0 +m-1  -> success  tokens 1200 in / 345 out$" "trail: child indented"
assert_eq "2026-04-02" "$(sed -n 4p <<<"$OUT")" "trail: date changes"
assert_match "$(sed -n 5p <<<"$OUT")" "^09:00:00\.000      2      decision .*policy ALLOW.*reason: \"tests pass; merge\"" "trail: grandchild"
assert_eq 5 "$(wc -l <<<"$OUT")" "trail lines"
expect_exit 0 ar trail --session s2
assert_match "$(sed -n 2p <<<"$OUT")" "command +implementer-1 +make test  -> failure \(exit 2\)" "trail: exit code"
expect_exit 0 ar trail --trace t1 --json
assert_eq "[0, 1, 2]" "$(py '[r["seq"] for r in d]' <<<"$OUT")" "trail --json seqs"
assert_eq '{"command": "ls -l"}' "$(py 'd[0]["detail"]' <<<"$OUT")" "trail --json detail"
expect_exit 0 ar trail --run r1
expect_exit 0 ar trail --job j1
expect_exit 1 ar trail --session nope
assert_eq "agentrail: no events for session 'nope'" "$ERR"
expect_exit 1 ar trail --job nope
assert_eq "agentrail: no events for job 'nope'" "$ERR"

# ---------------------------------------------------------------- query
q() { ar query "$@"; }
assert_eq 1 "$(q --type llm_call --count)" "--type"
assert_eq 3 "$(q --actor implementer-0 --count)" "--actor"
assert_eq 1 "$(q --level decision --count)" "--level"
assert_eq 2 "$(q --level agent --actor implementer-1 --count)" "--level --actor"
assert_eq 3 "$(q --trace t1 --count)" "--trace"
assert_eq 2 "$(q --session s2 --count)" "--session"
assert_eq 1 "$(q --run r1 --count)" "--run"
assert_eq 1 "$(q --job j1 --count)" "--job"
assert_eq 1 "$(q --event-id "$ID2" --count)" "--event-id"
assert_eq 1 "$(q --target-prefix "make" --count)" "--target-prefix"
assert_eq 2 "$(q --target-prefix "m" --count)" "--target-prefix m"
assert_eq 3 "$(q --since 2026-04-02T00:00:00Z --count)" "--since"
assert_eq 2 "$(q --until 2026-04-02T00:00:00Z --count)" "--until"
assert_eq 1 "$(q --since 2026-04-01T14:10:33Z --until 2026-04-02T00:00:00Z --count)" "--since --until"
assert_eq 2 "$(q --from-seq 1 --to-seq 3 --count)" "--from-seq --to-seq"
assert_eq 2 "$(q --limit 2 --count)" "--limit"
run q --json --desc --limit 2
assert_eq "[4, 3]" "$(py '[r["seq"] for r in rows]' <<<"$OUT")" "--desc --limit"
run q --json --event-id "$ID2"
assert_eq '["llm_call", "m-1", 1200, 345, 8000, 2, "alice", "implementer-0", "'"$ID1"'"]' \
	"$(py '[rows[0][k] for k in ("type","model")] + [rows[0]["usage"][k] for k in ("input_tokens","output_tokens","cost_micro_usd")] + [rows[0][k] for k in ("step","user_id","agent_id","parent_event_id")]' <<<"$OUT")" \
	"record options land in their fields"
run q --json --type decision
assert_eq '["r-7", "p-3", "ALLOW", "tests pass; merge", "merge PR 12"]' \
	"$(py '[rows[0]["policy"][k] for k in ("rule_id","snapshot","decision")] + [rows[0]["reason"], rows[0]["target"]]' <<<"$OUT")" "policy fields"
run q
assert_eq 7 "$(wc -l <<<"$OUT")" "flat query: 5 records, 2 date lines"
assert_eq 0 "$(q --type nothing --count)" "no match"

# ---------------------------------------------------------------- import: our events
before=$(count)
for i in 1 2 3 4 5; do
	echo "{\"type\":\"tool_call\",\"actor\":\"imp-$i\",\"target\":\"grep\",\"session_id\":\"imp\",\"ts\":\"2026-04-03T10:00:0${i}Z\",\"detail\":{\"i\":$i}}"
done >"$T/ours.jsonl"
echo "" >>"$T/ours.jsonl" # a blank line is skipped
expect_exit 0 ar import "$T/ours.jsonl"
assert_eq "imported 5 events (0 duplicates) from $T/ours.jsonl" "$OUT"
assert_eq $((before + 5)) "$(count)" "import appended 5"
expect_exit 0 ar import "$T/ours.jsonl"
assert_eq "imported 5 events (5 duplicates) from $T/ours.jsonl" "$OUT" "re-import"
assert_eq $((before + 5)) "$(count)" "re-import appended nothing"
expect_exit 0 ar import --quiet - <"$T/ours.jsonl"
assert_eq "" "$OUT" "import --quiet"
# The id is SHA-256 of the line as a version 8 UUID.
want=$(head -1 "$T/ours.jsonl" | python3 -c '
import hashlib, sys
h = bytearray(hashlib.sha256(sys.stdin.buffer.read().rstrip(b"\n")).digest()[:16])
h[6] = (h[6] & 0x0f) | 0x80; h[8] = (h[8] & 0x3f) | 0x80
x = h.hex(); print(f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}")')
assert_eq 1 "$(q --event-id "$want" --count)" "deterministic event id"

# ---------------------------------------------------------------- import: trail shape
cat >"$T/trail.jsonl" <<'JSONL'
{"timestamp":"2026-04-04T08:00:00+02:00","trace_id":"tr-9","level":"info","actor":"planner","action":"tool_use","target":"web_search","detail":{"query":"retry policy"}}
{"timestamp":1775289600,"trace_id":"tr-9","level":"pipeline","actor":"deployer","action":"Deploy Service!","target":"svc-a","detail":"rolled out"}
{"timestamp":1775289600250,"trace_id":"tr-9","level":"agent","actor":"coder","action":"shell","target":"make","detail":{"exit_code":0,"stdout":"ok"},"host":"ci-3"}
{"timestamp":"2026-04-04T06:00:01Z","trace_id":"tr-9","level":"agent","actor":"coder","action":"shell","target":"make lint","detail":{"stdout":"no exit code here"}}
JSONL
expect_exit 0 ar import "$T/trail.jsonl"
assert_eq "imported 4 events (0 duplicates) from $T/trail.jsonl" "$OUT"
run q --trace tr-9 --json
assert_eq '["tool_call", "planner", "web_search", "2026-04-04T06:00:00.000000Z", "info", "retry policy"]' \
	"$(py '[rows[0][k] for k in ("type","actor","target","ts")] + [rows[0]["detail"]["source_level"], rows[0]["detail"]["query"]]' <<<"$OUT")" "trail shape: known type via alias, offset time"
assert_eq '["x_deploy_service_", "pipeline", "2026-04-04T08:00:00.000000Z", "rolled out", "Deploy Service!"]' \
	"$(py '[rows[1][k] for k in ("type","level","ts")] + [rows[1]["detail"]["text"], rows[1]["detail"]["source_action"]]' <<<"$OUT")" "trail shape: custom type, epoch seconds"
assert_eq '["command", 0, "2026-04-04T08:00:00.250000Z", "ci-3", "ok"]' \
	"$(py '[rows[2][k] for k in ("type","exit_code","ts")] + [rows[2]["detail"]["source_host"], rows[2]["detail"]["stdout"]]' <<<"$OUT")" "trail shape: command with lifted exit code, epoch ms"
assert_eq '["x_command", "agent"]' "$(py '[rows[3][k] for k in ("type","level")]' <<<"$OUT")" \
	"trail shape: command without exit code stays custom"
expect_exit 0 ar import --format trail "$T/trail.jsonl"
assert_eq "imported 4 events (4 duplicates) from $T/trail.jsonl" "$OUT" "trail re-import"

# ---------------------------------------------------------------- import: steps shape
SID=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a99
cat >"$T/steps.jsonl" <<JSONL
{"event_id":"evt-001","session_id":"st-1","agent_id":"researcher","timestamp":"2026-04-05T12:00:00Z","event_type":"llm","content":{"prompt":"hi"},"step_number":1,"model_id":"gpt-x","system_prompt_hash":"abc123"}
{"event_id":"$SID","session_id":"st-1","agent_id":"researcher","timestamp":"2026-04-05T12:00:01Z","event_type":"Thinking","content":"let me see","step_number":2,"model_id":"gpt-x"}
JSONL
expect_exit 0 ar import "$T/steps.jsonl"
assert_eq "imported 2 events (0 duplicates) from $T/steps.jsonl" "$OUT"
run q --session st-1 --json
assert_eq '["llm_call", "researcher", "researcher", "gpt-x", 1, "abc123", "evt-001", {"prompt": "hi"}]' \
	"$(py '[rows[0][k] for k in ("type","actor","agent_id","model","step","system_prompt_hash")] + [rows[0]["detail"]["source_event_id"], rows[0]["detail"]["content"]]' <<<"$OUT")" "steps shape: fields"
assert_eq "[\"$SID\", \"x_thinking\", \"agent\", \"let me see\", 2]" \
	"$(py '[rows[1][k] for k in ("event_id","type","level")] + [rows[1]["detail"]["content"], rows[1]["step"]]' <<<"$OUT")" "steps shape: UUID kept, custom type"
expect_exit 0 ar import "$T/steps.jsonl"
assert_eq "imported 2 events (2 duplicates) from $T/steps.jsonl" "$OUT" "steps re-import"

# ---------------------------------------------------------------- import: a bad line stops it
python3 - "$T/big.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(1, 2501):
        ev = {"type": "tool_call", "actor": "bulk", "target": "t%d" % i, "session_id": "bulk"}
        if i == 1700:
            del ev["actor"]
        f.write(json.dumps(ev) + "\n")
PY
before=$(count)
expect_exit 1 ar import "$T/big.jsonl"
assert_contains "$ERR" "agentrail: line 1700: "
assert_contains "$ERR" "'actor'"
assert_contains "$ERR" "1000 events imported before line 1001"
assert_eq $((before + 1000)) "$(count)" "only the batches before the bad line"
# A line the importer itself cannot map: reported with its number, its batch not appended.
printf '%s\n' '{"type":"tool_call","actor":"a","target":"x1","session_id":"conv"}' \
	'{"timestamp":"not a time","actor":"a","action":"read"}' >"$T/conv.jsonl"
before=$(count)
expect_exit 1 ar import "$T/conv.jsonl"
assert_contains "$ERR" "agentrail: line 2: field 'timestamp': 'not a time' is not an RFC 3339 time"
assert_contains "$ERR" "0 events imported before line 1"
assert_eq "$before" "$(count)" "nothing from the batch"
expect_exit 1 ar import "$T/does-not-exist.jsonl"
assert_contains "$ERR" "cannot open '$T/does-not-exist.jsonl'"

# ---------------------------------------------------------------- export, root, prove
N=$(count)
expect_exit 0 ar export --out "$T/export.jsonl"
assert_eq "exported $N records to $T/export.jsonl" "$ERR"
[ ! -e "$T/export.jsonl.tmp" ] && pass || fail "export left its .tmp file"
assert_eq $((N + 1)) "$(wc -l <"$T/export.jsonl")" "export lines"
run ar export
assert_eq "$(cat "$T/export.jsonl")" "$OUT" "export to stdout equals the file"
expect_exit 0 ar root
ROOT=$(sed -n 2p <<<"$OUT" | cut -d' ' -f2)
assert_eq "size $N" "$(sed -n 1p <<<"$OUT")" "root: size line"
assert_match "$ROOT" "^[0-9a-f]{64}$" "root hex"
run ar root --json
assert_eq "[$N, \"$ROOT\"]" "$(py '[d["size"], d["root_hash"]]' <<<"$OUT")" "root --json"
assert_eq "[$N, \"$ROOT\"]" "$(tail -1 "$T/export.jsonl" | py '[d["tree_head"]["size"], d["tree_head"]["root_hash"]]')" "export tree head"
expect_exit 1 ar root --size $((N + 1))
assert_contains "$ERR" "is larger than the log"

# Leaf hashes are SHA-256(0x00 || record bytes exactly as exported).
leaf3=$(sed -n 4p "$T/export.jsonl" | python3 -c '
import hashlib, sys
line = sys.stdin.buffer.read()
rec = line[len(b"{\"record\":"):line.index(b",\"leaf_hash\":")]
print(hashlib.sha256(b"\x00" + rec).hexdigest())')
for size in 4 7 "$N"; do
	for seq in 0 3; do
		expect_exit 0 ar prove "$seq" --size "$size" --json
		proof=$OUT
		want=$(ar root --size "$size" --json | py 'd["root_hash"]')
		assert_eq ok "$(merkle_check "$want" <<<"$proof")" "inclusion proof seq $seq size $size"
		[ "$seq" = 3 ] && assert_eq "$leaf3" "$(py 'd["leaf_hash"]' <<<"$proof")" "leaf hash of seq 3"
	done
done
expect_exit 0 ar prove 3
assert_eq "seq 3" "$(sed -n 1p <<<"$OUT")"
assert_eq "size $N" "$(sed -n 2p <<<"$OUT")"
assert_eq "leaf $leaf3" "$(sed -n 3p <<<"$OUT")"
assert_eq "root $ROOT" "$(sed -n 4p <<<"$OUT")"
plen=$(sed -n 5p <<<"$OUT" | cut -d' ' -f2)
assert_eq $((plen + 5)) "$(wc -l <<<"$OUT")" "one path hash per line"
expect_exit 1 ar prove "$N"
assert_contains "$ERR" "seq $N is not in a tree of size $N"
for pair in "1 $N" "3 7" "4 $N" "7 7"; do
	set -- $pair
	expect_exit 0 ar prove --consistency "$1" "$2" --json
	proof=$OUT
	assert_eq ok "$(consistency_check <<<"$proof")" "consistency $1 -> $2"
	assert_eq "$(ar root --size "$1" --json | py 'd["root_hash"]')" "$(py 'd["old_root"]' <<<"$proof")" "old root $1"
done
expect_exit 1 ar prove --consistency 5 3
assert_contains "$ERR" "old size 5 is larger than new size 3"

# ---------------------------------------------------------------- verify, global option placement
expect_exit 2 ar verify
assert_match "$OUT" "^UNANCHORED: $N records consistent, root $ROOT; no signed checkpoint" "verify"
expect_exit 2 "$AGENTRAIL" verify --store "$STORE"
expect_exit 2 env AGENTRAIL_STORE="$STORE" "$AGENTRAIL" verify
expect_exit 2 ar verify --export "$T/export.jsonl"
assert_match "$OUT" "^UNANCHORED: $N records consistent, root $ROOT" "verify --export"

# ---------------------------------------------------------------- a full disk is not success
if [ -w /dev/full ]; then
	expect_exit 1 ar export --out /dev/null/x
	expect_exit 1 sh -c '"$0" --store "$1" export >/dev/full' "$AGENTRAIL" "$STORE"
	assert_contains "$ERR" "agentrail: "
	expect_exit 1 sh -c '"$0" --store "$1" query >/dev/full' "$AGENTRAIL" "$STORE"
	assert_contains "$ERR" "cannot write to standard output"
	expect_exit 3 sh -c '"$0" --store "$1" verify >/dev/full' "$AGENTRAIL" "$STORE"
fi

# ---------------------------------------------------------------- demo, bench
expect_exit 0 "$AGENTRAIL" --store "$T/demo.db" demo
assert_contains "$OUT" "recorded 14 events in '$T/demo.db'"
assert_line "$OUT" "^[0-9:.]{12} +9 +decision +implementer-1 .*policy REQUIRE_APPROVAL.*reason: " "demo decision"
assert_line "$OUT" "tokens 4210 in / 612 out" "demo llm usage"
assert_line "$OUT" "^verify: UNANCHORED: 14 records consistent" "demo verify"
assert_line "$OUT" "agentrail --store '$T/demo.db' prove 9" "demo hints"
mkdir -p "$T/tmp"
expect_exit 0 env TMPDIR="$T/tmp" "$AGENTRAIL" bench ingest --events 3000 --batch 250
assert_eq '["ingest", 3000, 250, true, true]' \
	"$(py '[d["bench"], d["events"], d["batch"], d["seconds"] > 0, d["events_per_s"] > 0]' <<<"$OUT")" "bench ingest"
assert_eq 1 "$(wc -l <<<"$OUT")" "bench prints one line"
assert_eq "" "$(ls -A "$T/tmp")" "bench removed its store"
expect_exit 0 env TMPDIR="$T/tmp" "$AGENTRAIL" bench verify --events 2000
assert_eq '["verify", 2000, true, true]' \
	"$(py '[d["bench"], d["records"], d["bytes"] > 2000 * 300, d["mb_per_s"] > 0]' <<<"$OUT")" "bench verify"
assert_eq "" "$(ls -A "$T/tmp")" "bench verify removed its store"
expect_exit 0 ar bench ingest --events 10 --batch 3
assert_eq $((N + 10)) "$(count)" "bench ingest into --store appends"
expect_exit 0 ar bench verify
assert_eq $((N + 10)) "$(py 'd["records"]' <<<"$OUT")" "bench verify --store"

finish

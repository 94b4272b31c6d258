#!/usr/bin/env bash
# Retention and erasure: settings as the policy agentrail.retention, prune of
# payloads and of whole records below a tile-aligned seq, erase of a user and
# of a session, the legal hold, dry runs, an interrupted run finished by the
# next, and after each step verify --key OK with the erased/pruned counts,
# proofs that still verify, and an export that verifies offline (also with
# the independent verifier).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

NOW=2026-02-05T00:00:00Z
KEY="$T/k"
# 2,000 events over 400 days from 2025-01-01: four users, twenty sessions, a
# token_change every 97 events (its payload is exempt from pruning).
python3 - "$T/ev.jsonl" <<'EOF'
import datetime, json, sys
t0 = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
with open(sys.argv[1], "w") as f:
    for i in range(2000):
        ts = t0 + datetime.timedelta(seconds=i * 400 * 86400 // 2000)
        e = {"type": "tool_call", "actor": "agent-%d" % (i % 3), "user_id": "user-%d" % (i % 4),
             "session_id": "s-%d" % (i // 100), "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "target": "t", "detail": {"i": i, "output": "secret %d" % i}}
        if i % 97 == 0:
            e["type"], e["reason"] = "token_change", "rotate"
        f.write(json.dumps(e) + "\n")
EOF
expect_exit 0 ar import --quiet "$T/ev.jsonl"
expect_exit 0 "$AGENTRAIL" keygen --name test.example/retention --out "$KEY"
expect_exit 0 ar checkpoint --key "$KEY.key"
size() { ar query --count; }
erasures() { ar query --type erasure --count; }
# verify_ok WHAT: verify --key is OK; OUT keeps its output.
verify_ok() {
	expect_exit 0 ar verify --key "$KEY.pub"
	assert_line "$OUT" '^OK: ' "$1: verify"
}
payloads_left() { ar query --json | py 'sum(1 for r in rows if "detail" in r)'; }

# ---- settings
expect_exit 0 ar retention show
assert_contains "$OUT" "agentrail.retention never set" "no settings yet"
expect_exit 1 ar retention set --payloads 90x
assert_contains "$ERR" "duration '90x' has no valid unit" "bad unit"
expect_exit 1 ar retention set --records 0d
assert_contains "$ERR" "is zero" "zero duration"
expect_exit 1 ar retention set --payloads d90
assert_contains "$ERR" "does not start with a number" "no number"
expect_exit 64 ar retention set --legal-hold maybe
expect_exit 64 ar retention set
expect_exit 0 ar retention set --payloads 90d --records 200d --reason "records schedule R-7"
assert_contains "$OUT" "retention settings published" "set"
expect_exit 0 ar retention set --payloads 90d
assert_contains "$OUT" "unchanged: nothing appended" "same settings"
expect_exit 0 ar retention show --json
assert_eq '["90d", "200d", false, 2000]' "$(py '[d["payloads"], d["records"], d["legal_hold"], d["seq"]]' <<<"$OUT")" "show --json"
expect_exit 0 ar policy show agentrail.retention --text
assert_eq '{"legal_hold":false,"payloads":"90d","records":"200d"}' "$OUT" "the settings are a policy"
N0=$(size)
assert_eq 2001 "$N0" "one publish appended"

# ---- dry run and legal hold: nothing deleted, nothing appended
expect_exit 0 ar prune --records --dry-run --now "$NOW"
assert_contains "$OUT" "dry run: would delete" "dry run"
assert_contains "$OUT" "nothing deleted, nothing appended" "dry run says so"
assert_eq "$N0" "$(size)" "dry run appended nothing"
assert_eq 2001 "$(payloads_left)" "dry run deleted nothing (2000 events, 1 policy text)"
expect_exit 0 ar retention set --legal-hold on --reason "litigation hold L-1"
N1=$(size)
expect_exit 1 ar prune --now "$NOW"
assert_contains "$ERR" "legal hold is on" "hold blocks prune"
expect_exit 1 ar erase --user user-1 --reason "request 12"
assert_contains "$ERR" "nothing is erased until 'agentrail retention set --legal-hold off'" "hold blocks erase"
expect_exit 1 ar erase --session s-3 --reason "request 13"
assert_eq "$N1" "$(size)" "held: nothing appended"
assert_eq 2002 "$(payloads_left)" "held: nothing deleted"
expect_exit 0 ar retention set --legal-hold off

# ---- prune payloads
expect_exit 0 ar checkpoint --key "$KEY.key"
expect_exit 0 ar prune --now "$NOW" --json
assert_eq '[1534, 16, 1]' "$(py '[d["payloads"], d["ranges"], d["events"]]' <<<"$OUT")" "prune payloads"
EV=$(py 'd["first_event"]' <<<"$OUT")
expect_exit 0 ar checkpoint --key "$KEY.key"
verify_ok "after prune"
assert_contains "$OUT" "(1534 payloads erased)" "verify counts erased payloads"
assert_line "$OUT" '^seq [0-9]+-[0-9]+: payloads erased \(not tampering\)$' "erased ranges"
expect_exit 0 ar verify --key "$KEY.pub" --json
assert_eq '["OK", 1534, 16, null]' "$(py '[d["status"], d["erased"], d["erased_ranges"], d["pruned"]]' <<<"$OUT")" "verify --json"
expect_exit 0 ar query --type erasure --json
assert_eq "[[$EV, \"erasure\", \"payloads\", \"prune\", 1534, 16]]" \
	"$(py '[[r["seq"], r["type"], r["target"], r["detail"]["kind"], r["detail"]["payloads"]["count"], len(r["detail"]["payloads"]["ranges"])] for r in rows]' <<<"$OUT")" "the erasure event"
assert_contains "$OUT" '"reason":"retention (policy agentrail.retention sha256:' "default reason"
# token_change and policy texts keep their payloads
expect_exit 0 ar query --type token_change --json
assert_eq 21 "$(py 'sum(1 for r in rows if "detail" in r)' <<<"$OUT")" "token_change payloads exempt"
expect_exit 0 ar prune --now "$NOW"
assert_contains "$OUT" "nothing to remove: nothing appended" "prune again"
assert_eq 1 "$(erasures)" "nothing appended the second time"

# ---- prune records
expect_exit 0 ar prune --records --now "$NOW"
assert_contains "$OUT" "768 records (records below 768 are pruned)" "prune records"
assert_contains "$OUT" "record 1000 is the first not older than the records retention" "why it stops"
expect_exit 0 ar checkpoint --key "$KEY.key"
verify_ok "after prune --records"
assert_contains "$OUT" "768 records pruned: seq 0 to 767" "verify reports the pruned prefix"
assert_line "$OUT" '^seq 0-767: records pruned by retention \(not tampering\)$' "pruned finding"
expect_exit 0 ar verify --key "$KEY.pub" --json
assert_eq '["OK", {"below": 768, "count": 768}]' "$(py '[d["status"], d["pruned"]]' <<<"$OUT")" "verify --json pruned"
expect_exit 0 ar query --limit 1 --json
assert_eq 768 "$(py 'rows[0]["seq"]' <<<"$OUT")" "queries start at the pruned prefix"
expect_exit 0 ar query --session s-0 --count
assert_eq 0 "$OUT" "postings of pruned records find nothing"
expect_exit 0 ar query --session s-7 --count
assert_eq 32 "$OUT" "postings across the prefix find the kept records (768..799)"
expect_exit 0 ar query --session s-12 --count
assert_eq 100 "$OUT" "postings of kept records"
expect_exit 0 ar root --size 100
expect_exit 0 ar prove --consistency 100 "$(size)"
# every remaining record is provable: spot checks with bundles checked offline
for s in 768 1000 1999 2003; do
	ID=$(ar query --from-seq $s --to-seq $((s + 1)) --json | py 'rows[0]["event_id"]')
	expect_exit 0 ar prove "$ID" --checkpoint <(ar checkpoint)
	echo "$OUT" >"$T/bundle.json"
	expect_exit 0 "$AGENTRAIL" verify-proof --key "$KEY.pub" "$T/bundle.json"
	assert_contains "$OUT" "OK: record $s " "proof of $s"
done
expect_exit 0 ar query --type erasure --json
assert_eq '[768, 768]' "$(py '[rows[-1]["detail"]["records"]["below"], rows[-1]["detail"]["records"]["count"]]' <<<"$OUT")" "records erasure event"

# ---- erase a user and a session
expect_exit 0 ar erase --user user-1 --reason "erasure request 12" --dry-run
assert_contains "$OUT" "would delete 114 payloads" "erase dry run"
expect_exit 0 ar erase --user user-1 --reason "erasure request 12"
assert_contains "$OUT" "deleted 114 payloads (114 ranges)" "erase user"
expect_exit 0 ar erase --user user-1 --reason "erasure request 12"
assert_contains "$OUT" "nothing to remove" "erase user again"
expect_exit 0 ar erase --session s-15 --reason "erasure request 13"
assert_contains "$OUT" "deleted 38 payloads" "erase session"
expect_exit 64 ar erase --user a --session b --reason x
expect_exit 64 ar erase --user a
expect_exit 0 ar query --type erasure --json
assert_eq '[["user:user-1", "erase", 114], ["session:s-15", "erase", 38]]' \
	"$(py '[[r["target"], r["detail"]["kind"], r["detail"]["payloads"]["count"]] for r in rows[-2:]]' <<<"$OUT")" "erase events"
expect_exit 0 ar query --session s-15 --json
assert_eq 0 "$(py 'sum(1 for r in rows if "detail" in r)' <<<"$OUT")" "session payloads gone"
expect_exit 0 ar checkpoint --key "$KEY.key"
verify_ok "after erase"
GONE=$(ar query --json | py 'sum(1 for r in rows if "detail" not in r)')
assert_contains "$OUT" "($GONE payloads erased; 768 records pruned: seq 0 to 767)" "verify counts"

# ---- an interrupted run: the erasure event is appended, nothing deleted yet
ar record --json '{"type":"erasure","actor":"ops","target":"user:user-2","reason":"request 14","detail":{"kind":"erase","user_id":"user-2","payloads":{"count":2,"ranges":[[1802,1802],[1806,1806]]}}}' >/dev/null
expect_exit 0 ar checkpoint --key "$KEY.key"
verify_ok "interrupted state"
expect_exit 0 ar prune --now "$NOW"
assert_contains "$OUT" "finished an interrupted run: 2 payloads and records removed" "the next run finishes it"
expect_exit 0 ar query --from-seq 1802 --to-seq 1807 --json
assert_eq '[false, true, true, false, false]' "$(py '["detail" in r for r in rows]' <<<"$OUT")" "planned payloads deleted (1805 is user-1's)"

# ---- a real crash: SIGKILL a prune at several moments; verify accepts every state
BIG="$T/big.db"
python3 - "$T/big.jsonl" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(30000):
        f.write(json.dumps({"type": "tool_call", "actor": "a", "target": "t", "user_id": "u%d" % (i % 2),
                            "ts": "2024-01-01T00:00:00Z", "detail": {"i": i}}) + "\n")
EOF
"$AGENTRAIL" --store "$BIG" import --quiet "$T/big.jsonl"
"$AGENTRAIL" --store "$BIG" retention set --payloads 1d --records 1y >/dev/null
for delay in 0.05 0.15 0.3; do
	"$AGENTRAIL" --store "$BIG" checkpoint --key "$KEY.key" >/dev/null
	"$AGENTRAIL" --store "$BIG" erase --user u$(( ${delay#0.} % 2 )) --reason crash >/dev/null 2>&1 &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	"$AGENTRAIL" --store "$BIG" checkpoint --key "$KEY.key" >/dev/null
	expect_exit 0 "$AGENTRAIL" --store "$BIG" verify --key "$KEY.pub"
	assert_line "$OUT" '^OK: ' "verify after a kill at ${delay}s"
done
expect_exit 0 "$AGENTRAIL" --store "$BIG" prune --records
"$AGENTRAIL" --store "$BIG" checkpoint --key "$KEY.key" >/dev/null
expect_exit 0 "$AGENTRAIL" --store "$BIG" verify --key "$KEY.pub"
assert_line "$OUT" '^OK: ' "verify after the re-run"
expect_exit 0 "$AGENTRAIL" --store "$BIG" query --json --limit 30000
assert_eq 0 "$(py 'sum(1 for r in rows if "detail" in r and r["type"] == "tool_call")' <<<"$OUT")" "the re-run completed"

# ---- export of the pruned store verifies offline
expect_exit 0 ar export --out "$T/ex.jsonl"
assert_eq 768 "$(head -n 1 "$T/ex.jsonl" | py 'd["pruned"]["below"]')" "export starts with the pruned line"
expect_exit 0 "$AGENTRAIL" verify --export "$T/ex.jsonl" --key "$KEY.pub"
assert_line "$OUT" '^OK: .*768 records pruned' "export verifies"
expect_exit 0 python3 "$(dirname "$0")/indep_verify.py" export "$T/ex.jsonl" "$KEY.pub"
# a wrong edge hash is caught by the checkpoints
sed '1s/"edge":\[\[8,"./"edge":[[8,"0/' "$T/ex.jsonl" >"$T/bad.jsonl"
if cmp -s "$T/ex.jsonl" "$T/bad.jsonl"; then
	sed '1s/"edge":\[\[8,"./"edge":[[8,"1/' "$T/ex.jsonl" >"$T/bad.jsonl"
fi
expect_exit 1 "$AGENTRAIL" verify --export "$T/bad.jsonl" --key "$KEY.pub"
expect_exit 1 python3 "$(dirname "$0")/indep_verify.py" export "$T/bad.jsonl" "$KEY.pub"
# an anchor inside the pruned prefix is checked against the store, not an export
ar checkpoint --size 256 >"$T/old.note" 2>/dev/null || true
if [ -s "$T/old.note" ]; then
	expect_exit 0 ar verify --key "$KEY.pub" --checkpoint "$T/old.note"
fi

# ---- records deleted without pruned_below: tampering, as ever
cp "$STORE" "$T/t.db"
python3 - "$T/t.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("DROP TRIGGER records_no_delete")
db.execute("DELETE FROM records WHERE seq >= 768 AND seq < 1024")
db.commit()
EOF
expect_exit 1 "$AGENTRAIL" --store "$T/t.db" verify --key "$KEY.pub"
assert_line "$OUT" '^TAMPERED: first bad seq 768' "deleted records are missing"
# and the triggers refuse it
expect_exit 1 python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("DELETE FROM records WHERE seq = 900")
' "$STORE"
assert_contains "$ERR" "records are append-only" "trigger refuses deleting above the prefix"
expect_exit 1 python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE meta SET value = 512 WHERE key = '"'"'pruned_below'"'"'")
' "$STORE"
assert_contains "$ERR" "only grow" "trigger refuses shrinking the prefix"

finish

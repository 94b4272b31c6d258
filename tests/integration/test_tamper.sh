#!/usr/bin/env bash
# Tampering with a store or an export behind agentrail's back is detected:
# verify exits 1 and names the exact seq. Erasing a payload is reported but
# is not tampering; the SQLite triggers refuse casual UPDATE/DELETE.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || { echo "$TEST_NAME: sqlite3 missing" >&2; exit 1; }

python3 - "$T/events.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(20):
        f.write(json.dumps({"type": "tool_call", "actor": "agent-%02d" % i, "target": "tool-%02d" % i,
                            "session_id": "tamper", "ts": "2026-04-01T10:00:%02dZ" % i,
                            "detail": {"n": i, "note": "payload-%02d" % i}}) + "\n")
PY
expect_exit 0 ar import "$T/events.jsonl"
assert_eq 20 "$(count)" "log built"

# ---------------------------------------------------------------- (7) clean
expect_exit 2 ar verify
assert_match "$OUT" "^UNANCHORED: 20 records consistent, root [0-9a-f]{64}; no signed checkpoint anchors this log yet$" "clean verify"
ROOT=$(ar root --json | py 'd["root_hash"]')
assert_contains "$OUT" "root $ROOT" "clean verify root"
expect_exit 2 ar verify --json
assert_eq "[\"UNANCHORED\", 20, 20, \"$ROOT\", 0, null, []]" \
	"$(py '[d[k] for k in ("status","records","size","root_hash","erased","first_bad_seq","findings")]' <<<"$OUT")" "clean verify --json"
expect_exit 0 ar export --out "$T/clean.jsonl"
expect_exit 2 ar verify --export "$T/clean.jsonl"
assert_match "$OUT" "^UNANCHORED: 20 records consistent, root $ROOT" "clean export verify"
expect_exit 2 ar verify --export - <"$T/clean.jsonl"

# A copy of the store with everything checkpointed into the main file.
sqlite3 "$STORE" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
TRIGGERS=$(sqlite3 "$STORE" "SELECT name FROM sqlite_master WHERE type='trigger' ORDER BY name")
assert_contains "$TRIGGERS" "records_no_update" "triggers"
fresh() {
	rm -f "$T/$1.db" "$T/$1.db-wal" "$T/$1.db-shm"
	cp "$STORE" "$T/$1.db"
	local sql=""
	for t in $TRIGGERS; do sql+="DROP TRIGGER $t;"; done
	[ "${2:-}" = keep-triggers ] || sqlite3 "$T/$1.db" "$sql"
	echo "$T/$1.db"
}

# expect_tampered DB SEQ KIND [verify args]: exit 1, the finding and the first bad seq named.
expect_tampered() {
	local db=$1 seq=$2 kind=$3
	shift 3
	expect_exit 1 "$AGENTRAIL" --store "$db" verify "$@"
	assert_line "$OUT" "^seq $seq: " "finding names seq $seq"
	assert_match "$(tail -1 <<<"$OUT")" "^TAMPERED: first bad seq $seq \(records [0-9]+, root [0-9a-f]{64}\)$" "status line"
	expect_exit 1 "$AGENTRAIL" --store "$db" verify --json "$@"
	assert_eq "[\"TAMPERED\", $seq]" "$(py '[d["status"], d["first_bad_seq"]]' <<<"$OUT")" "--json status"
	assert_contains "$(py '[f["kind"] for f in d["findings"] if f["seq"] == '"$seq"']' <<<"$OUT")" "\"$kind\"" "--json finding"
}

# (1) one byte of one record's stored bytes
db=$(fresh t1)
sqlite3 "$db" "UPDATE records SET record = CAST(replace(CAST(record AS TEXT), 'agent-05', 'agent-0X') AS BLOB) WHERE seq = 5;"
assert_contains "$(sqlite3 "$db" "SELECT CAST(record AS TEXT) FROM records WHERE seq = 5")" "agent-0X" "tamper 1 applied"
expect_tampered "$db" 5 record_changed

# (2) a payload
db=$(fresh t2)
sqlite3 "$db" "UPDATE payloads SET detail = CAST(replace(CAST(detail AS TEXT), 'payload-07', 'payload-0X') AS BLOB) WHERE seq = 7;"
assert_contains "$(sqlite3 "$db" "SELECT CAST(detail AS TEXT) FROM payloads WHERE seq = 7")" "payload-0X" "tamper 2 applied"
expect_tampered "$db" 7 payload_changed

# (3) a record deleted
db=$(fresh t3)
sqlite3 "$db" "DELETE FROM records WHERE seq = 9;"
expect_tampered "$db" 9 missing

# (4) two records swapped
db=$(fresh t4)
sqlite3 "$db" "CREATE TEMP TABLE t AS SELECT seq, record FROM records WHERE seq IN (3, 4);
UPDATE records SET record = (SELECT record FROM t WHERE t.seq = 7 - records.seq) WHERE seq IN (3, 4);"
expect_tampered "$db" 3 reordered

# (5) one line of an export edited, still valid JSON
python3 - "$T/clean.jsonl" "$T/edited.jsonl" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
assert "agent-06" in lines[6]
lines[6] = lines[6].replace("agent-06", "agent-6x")
open(sys.argv[2], "w").write("\n".join(lines))
PY
expect_tampered "$STORE" 6 record_changed --export "$T/edited.jsonl"

# (6) a payload row deleted: erasure, reported, not tampering
db=$(fresh t6 keep-triggers)
sqlite3 "$db" "DELETE FROM payloads WHERE seq = 2;"
expect_exit 2 "$AGENTRAIL" --store "$db" verify
assert_contains "$OUT" "seq 2: payload erased (not tampering)" "erasure finding"
assert_match "$(tail -1 <<<"$OUT")" "^UNANCHORED: 20 records consistent, root $ROOT" "erasure status"
expect_exit 2 "$AGENTRAIL" --store "$db" verify --json
assert_eq '["UNANCHORED", 1, null, [["payload_erased", 2]]]' \
	"$(py '[d["status"], d["erased"], d["first_bad_seq"], [[f["kind"], f["seq"]] for f in d["findings"]]]' <<<"$OUT")" "erasure --json"
expect_exit 0 "$AGENTRAIL" --store "$db" export --out "$T/erased.jsonl"
expect_exit 2 "$AGENTRAIL" verify --export "$T/erased.jsonl"
assert_contains "$OUT" "seq 2: payload erased (not tampering)" "erased export"
run "$AGENTRAIL" --store "$db" query --json --from-seq 2 --to-seq 3
assert_eq '[2, false, "agent-02"]' "$(py '[rows[0]["seq"], "detail" in rows[0], rows[0]["actor"]]' <<<"$OUT")" "erased record still readable"

# (8) the triggers refuse UPDATE and DELETE on records
db=$(fresh t8 keep-triggers)
run sqlite3 "$db" "UPDATE records SET actor = 'mallory' WHERE seq = 1;"
[ "$RC" -ne 0 ] && pass || fail "UPDATE on records was allowed"
assert_contains "$ERR" "append-only"
run sqlite3 "$db" "DELETE FROM records WHERE seq = 1;"
[ "$RC" -ne 0 ] && pass || fail "DELETE on records was allowed"
assert_contains "$ERR" "append-only"
run sqlite3 "$db" "UPDATE payloads SET detail = X'7B7D' WHERE seq = 1;"
[ "$RC" -ne 0 ] && pass || fail "UPDATE on payloads was allowed"
expect_exit 2 "$AGENTRAIL" --store "$db" verify

finish

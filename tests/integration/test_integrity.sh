#!/usr/bin/env bash
# Signed checkpoints end to end: keygen files, signing and the refusal to
# sign a changed log, verify against anchors (OK, unanchored tail,
# truncation, fork, bad signature) on a store and on an export offline,
# proof bundles checked by verify-proof, and everything again by an
# independently written Python verifier (tests/integration/indep_verify.py).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

INDEP="python3 $(dirname "$0")/indep_verify.py"
command -v sqlite3 >/dev/null || { echo "$TEST_NAME: sqlite3 missing" >&2; exit 1; }
python3 -c 'import cryptography' || { echo "$TEST_NAME: python3-cryptography missing" >&2; exit 1; }

events() { # events FILE FROM TO [ACTOR]
	python3 - "$@" <<'PY'
import json, sys
path, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
actor = sys.argv[4] if len(sys.argv) > 4 else "agent"
with open(path, "w") as f:
    for i in range(lo, hi):
        f.write(json.dumps({"type": "command", "actor": "%s-%d" % (actor, i % 7),
                            "target": "make test-%d" % i, "exit_code": i % 3,
                            "session_id": "s-%d" % (i // 100),
                            "detail": {"i": i, "out": "line %d \u00e9" % i}}) + "\n")
PY
}

# ---------------------------------------------------------------- keys
expect_exit 0 "$AGENTRAIL" keygen --name example.org/agentrail/test --out "$T/k"
assert_eq 600 "$(stat -c %a "$T/k.key")" "signer key mode"
assert_match "$(cat "$T/k.key")" '^PRIVATE\+KEY\+example\.org/agentrail/test\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$' "signer key text"
assert_match "$(cat "$T/k.pub")" '^example\.org/agentrail/test\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$' "verifier key text"
assert_contains "$OUT" "$(cat "$T/k.pub")" "keygen prints the verifier key"
expect_exit 1 "$AGENTRAIL" keygen --name example.org/agentrail/test --out "$T/k"
assert_contains "$ERR" "File exists" "keygen never overwrites"
expect_exit 1 "$AGENTRAIL" keygen --name "bad name" --out "$T/bad"
expect_exit 1 "$AGENTRAIL" keygen --name "bad+name" --out "$T/bad"
# Another key of the same name: what a forger without our key can make.
expect_exit 0 "$AGENTRAIL" keygen --name example.org/agentrail/test --out "$T/other"

# ---------------------------------------------------------------- signing
events "$T/a.jsonl" 0 600
expect_exit 0 ar import --quiet "$T/a.jsonl"
expect_exit 1 ar checkpoint
assert_contains "$ERR" "no checkpoint" "no checkpoint yet"
expect_exit 0 ar checkpoint --key "$T/k.key"
printf '%s\n' "$OUT" >"$T/cp600.note"
assert_eq "example.org/agentrail/test" "$(sed -n 1p "$T/cp600.note")" "origin line"
assert_eq 600 "$(sed -n 2p "$T/cp600.note")" "size line"
ROOT600=$(ar root --json | py 'd["root_hash"]')
assert_eq "600 $ROOT600" "$($INDEP checkpoint "$T/cp600.note" "$T/k.pub")" "independent check of the checkpoint"
expect_exit 1 $INDEP checkpoint "$T/cp600.note" "$T/other.pub"
# Signing an unchanged log answers the stored checkpoint again.
expect_exit 0 ar checkpoint --key "$T/k.key"
assert_eq "$(cat "$T/cp600.note")" "$OUT" "re-sign unchanged"
expect_exit 0 ar checkpoint --size 1
assert_eq "$(cat "$T/cp600.note")" "$OUT" "stored checkpoint covering size 1"
expect_exit 1 ar checkpoint --key "$T/k.pub"
assert_contains "$ERR" "verifier key" "a .pub file is not a signer key"

cp "$STORE" "$T/old.db" # the log at 600, for truncation below
sqlite3 "$T/old.db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
sqlite3 "$STORE" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
cp "$STORE" "$T/old.db"

events "$T/b.jsonl" 600 1000
expect_exit 0 ar import --quiet "$T/b.jsonl"
expect_exit 0 ar checkpoint --key "$T/k.key"
printf '%s\n' "$OUT" >"$T/cp1000.note"

# ---------------------------------------------------------------- verify
expect_exit 0 ar verify --key "$T/k.pub" --checkpoint "$T/cp600.note"
assert_match "$OUT" "^OK: 1000 records consistent, root [0-9a-f]{64}; 3 signed checkpoints hold$" "anchored verify"
expect_exit 0 ar verify --key "$T/k.pub" --json
assert_eq "OK 1000 2 []" "$(py '" ".join(str(x) for x in (d["status"], d["anchored_size"], d["checkpoints"], d["findings"]))' <<<"$OUT")" "verify --json"
expect_exit 2 ar verify
assert_contains "$OUT" "no verifier key given" "without --key nothing is anchored"
expect_exit 64 ar verify --checkpoint "$T/cp600.note"
assert_contains "$ERR" "--checkpoint needs --key" "anchor without key"

# Records appended after the newest checkpoint are not anchored yet.
events "$T/c.jsonl" 1000 1010
expect_exit 0 ar import --quiet "$T/c.jsonl"
expect_exit 2 ar verify --key "$T/k.pub" --checkpoint "$T/cp1000.note" --json
assert_eq "UNANCHORED 1000 unanchored 1000 1009" \
	"$(py '" ".join(str(x) for x in (d["status"], d["anchored_size"], d["findings"][0]["kind"], d["findings"][0]["seq"], d["findings"][0]["seq_last"]))' <<<"$OUT")" "unanchored tail"
expect_exit 0 ar checkpoint --key "$T/k.key"
printf '%s\n' "$OUT" >"$T/cp1010.note"

# Truncation: the old copy of the log against an anchor signed at 1010.
expect_exit 1 "$AGENTRAIL" verify --store "$T/old.db" --key "$T/k.pub" --checkpoint "$T/cp1010.note" --json
assert_eq "TRUNCATED truncated 600 1010" \
	"$(py '" ".join(str(x) for x in (d["status"], d["findings"][0]["kind"], d["findings"][0]["seq"], d["findings"][0]["checkpoint_size"]))' <<<"$OUT")" "truncated below a signed size"

# A fork: another log under the same key, with a different history.
FORK="$T/fork.db"
events "$T/f.jsonl" 0 1010 forked
expect_exit 0 "$AGENTRAIL" --store "$FORK" import --quiet "$T/f.jsonl"
expect_exit 0 "$AGENTRAIL" --store "$FORK" checkpoint --key "$T/k.key"
printf '%s\n' "$OUT" >"$T/fork.note"
expect_exit 1 ar verify --key "$T/k.pub" --checkpoint "$T/fork.note"
assert_contains "$OUT" "fork: the anchor checkpoint of size 1010" "fork named"
assert_contains "$OUT" "FORKED: records 1010" "fork verdict"

# A checkpoint signed with another key.
expect_exit 0 "$AGENTRAIL" --store "$FORK" checkpoint --key "$T/other.key"
printf '%s\n' "$OUT" >"$T/other.note"
expect_exit 1 ar verify --key "$T/k.pub" --checkpoint "$T/other.note" --json
assert_eq "TAMPERED bad_signature 1010" \
	"$(py '" ".join(str(x) for x in (d["status"], d["findings"][0]["kind"], d["findings"][0]["checkpoint_size"]))' <<<"$OUT")" "anchor with another key"
# A trusted key for another origin is not ours.
expect_exit 0 "$AGENTRAIL" keygen --name example.org/elsewhere --out "$T/else"
expect_exit 1 ar verify --key "$T/else.pub"
assert_contains "$OUT" "which no trusted key names" "stored checkpoints of an untrusted origin"
# A malformed anchor is an error, not a verdict.
echo "not a checkpoint" >"$T/junk.note"
expect_exit 3 ar verify --key "$T/k.pub" --checkpoint "$T/junk.note"

# ---------------------------------------------------------------- refusing to sign
TAMP="$T/tamp.db"
cp "$STORE" "$TAMP"
sqlite3 "$TAMP" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null 2>&1 || true
python3 - "$TAMP" <<'PY'
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("DROP TRIGGER records_no_update")
rec = db.execute("SELECT record FROM records WHERE seq = 1005").fetchone()[0]
new = bytes(rec).replace(b"make test-1005", b"make test-666!")
db.execute("UPDATE records SET record = ? WHERE seq = 1005", (new,))
# Rewrite its leaf in the level-0 tile as well: a careful forger.
blob = bytearray(db.execute("SELECT hashes FROM tiles WHERE level = 0 AND idx = 3").fetchone()[0])
off = (1005 % 256) * 32
blob[off:off + 32] = hashlib.sha256(b"\x00" + new).digest()
db.execute("UPDATE tiles SET hashes = ? WHERE level = 0 AND idx = 3", (bytes(blob),))
db.commit()
PY
echo '{"type":"command","actor":"late","target":"ls","exit_code":0}' >"$T/late.jsonl"
expect_exit 0 "$AGENTRAIL" --store "$TAMP" import --quiet "$T/late.jsonl"
expect_exit 1 "$AGENTRAIL" --store "$TAMP" checkpoint --key "$T/k.key"
assert_contains "$ERR" "refusing to sign" "the signer refuses a changed log"
expect_exit 1 "$AGENTRAIL" --store "$TAMP" verify --key "$T/k.pub" --json
assert_eq "TAMPERED checkpoint_mismatch 1000 1009" \
	"$(py '" ".join(str(x) for x in (d["status"], d["findings"][0]["kind"], d["findings"][0]["seq"], d["findings"][0]["seq_last"]))' <<<"$OUT")" "rewritten leaf located between checkpoints"

# ---------------------------------------------------------------- export, offline
expect_exit 0 ar export --out "$T/log.jsonl"
assert_eq 3 "$(grep -c '^{"checkpoint":' "$T/log.jsonl")" "export carries the checkpoints"
expect_exit 0 "$AGENTRAIL" verify --export "$T/log.jsonl" --key "$T/k.pub" --checkpoint "$T/cp600.note"
assert_match "$OUT" "^OK: 1010 records" "offline verify"
assert_eq "1010 3" "$($INDEP export "$T/log.jsonl" "$T/k.pub")" "independent export check"
# One changed line of the export, leaf hash rewritten to match: the checkpoints catch it.
python3 - "$T/log.jsonl" "$T/edited.jsonl" <<'PY'
import hashlib, json, sys
out = open(sys.argv[2], "w")
for line in open(sys.argv[1]):
    if '"seq":700,' in line:
        start = line.index('{"record":') + len('{"record":')
        end = line.index(',"leaf_hash":')
        rec = line[start:end].replace("make test-700", "make test-007")
        leaf = hashlib.sha256(b"\x00" + rec.encode()).hexdigest()
        line = '{"record":' + rec + ',"leaf_hash":"' + leaf + '"' + line[end + len(',"leaf_hash":"') + 64 + 1:]
    out.write(line)
PY
expect_exit 1 "$AGENTRAIL" verify --export "$T/edited.jsonl" --key "$T/k.pub" --checkpoint "$T/cp1000.note" --json
assert_eq "TAMPERED checkpoint_mismatch 600 999" \
	"$(py '" ".join(str(x) for x in (d["status"], d["findings"][0]["kind"], d["findings"][0]["seq"], d["findings"][0]["seq_last"]))' <<<"$OUT")" "edited export"
expect_exit 1 $INDEP export "$T/edited.jsonl" "$T/k.pub"

# ---------------------------------------------------------------- proof bundles
EID=$(ar query --json --limit 1 --from-seq 777 | py 'd["event_id"]')
expect_exit 0 ar prove "$EID" --checkpoint "$T/cp1000.note"
printf '%s\n' "$OUT" >"$T/bundle.json"
assert_eq "777 1000" "$(py '"%d %d" % (d["seq"], d["tree_size"])' <"$T/bundle.json")" "bundle against the auditor's checkpoint"
expect_exit 0 "$AGENTRAIL" verify-proof --key "$T/k.pub" "$T/bundle.json"
assert_contains "$OUT" "OK: record 777 (event $EID) is in the log 'example.org/agentrail/test' of 1000 records" "verify-proof"
assert_eq "777 1000" "$($INDEP bundle "$T/bundle.json" "$T/k.pub")" "independent bundle check"
expect_exit 0 ar prove "$EID"
assert_eq 1010 "$(py 'd["tree_size"]' <<<"$OUT")" "default: the newest stored checkpoint"
expect_exit 1 "$AGENTRAIL" verify-proof --key "$T/other.pub" "$T/bundle.json"
# Every single-character change in the bundle's record, path or checkpoint fails, here and there.
for field in record audit_path checkpoint detail; do
	python3 - "$T/bundle.json" "$T/bad.json" "$field" <<'PY'
import json, sys
b = json.load(open(sys.argv[1])); f = sys.argv[3]
if f == "audit_path":
    h = b[f][3]; b[f][3] = ("0" if h[0] != "0" else "1") + h[1:]
elif f == "checkpoint":
    b[f] = b[f].replace("\n1000\n", "\n1001\n")
else:
    b[f] = b[f].replace("777", "778", 1)
json.dump(b, open(sys.argv[2], "w"))
PY
	expect_exit 1 "$AGENTRAIL" verify-proof --key "$T/k.pub" "$T/bad.json"
	assert_match "$OUT" "^TAMPERED: " "verify-proof with a changed $field"
	expect_exit 1 $INDEP bundle "$T/bad.json" "$T/k.pub"
done
expect_exit 1 ar prove "$EID" --checkpoint "$T/fork.note"
assert_contains "$ERR" "not the" "a bundle against a checkpoint of another history is refused"
expect_exit 1 ar prove 00000000-0000-7000-8000-000000000000

finish

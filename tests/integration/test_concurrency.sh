#!/usr/bin/env bash
# Two importers append to one store at the same time while a reader counts
# in a loop: every event lands exactly once, the reader never fails, and
# the result verifies.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

for w in a b; do
	python3 - "$T/$w.jsonl" "$w" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(5000):
        f.write(json.dumps({"type": "tool_call", "actor": "writer-" + sys.argv[2], "target": "t%d" % i,
                            "session_id": "conc-" + sys.argv[2], "detail": {"i": i}}) + "\n")
PY
done
# Create the store first so the reader has something to open.
expect_exit 0 ar record --type session_start --actor setup
assert_eq 1 "$(count)" "store created"

ar import "$T/a.jsonl" >"$T/a.out" 2>"$T/a.err" &
pa=$!
ar import "$T/b.jsonl" >"$T/b.out" 2>"$T/b.err" &
pb=$!
reads=0
read_fail=0
last=0
nondecreasing=1
while kill -0 "$pa" 2>/dev/null || kill -0 "$pb" 2>/dev/null; do
	if n=$(count 2>>"$T/reader.err"); then
		reads=$((reads + 1))
		[ "$n" -ge "$last" ] || nondecreasing=0
		last=$n
	else
		read_fail=$((read_fail + 1))
	fi
done
ra=0
wait "$pa" || ra=$?
rb=0
wait "$pb" || rb=$?
assert_eq 0 "$ra" "importer a exit ($(cat "$T/a.err"))"
assert_eq 0 "$rb" "importer b exit ($(cat "$T/b.err"))"
assert_eq "imported 5000 events (0 duplicates) from $T/a.jsonl" "$(cat "$T/a.out")"
assert_eq "imported 5000 events (0 duplicates) from $T/b.jsonl" "$(cat "$T/b.out")"
assert_eq 0 "$read_fail" "reader failures ($(head -3 "$T/reader.err" 2>/dev/null))"
assert_eq 1 "$nondecreasing" "reader saw the size only grow"
[ "$reads" -gt 0 ] && pass || fail "the reader never ran"
assert_eq 10001 "$(count)" "final size"
assert_eq 5000 "$(ar query --session conc-a --count)" "writer a's events"
assert_eq 5000 "$(ar query --session conc-b --count)" "writer b's events"
run ar query --json --from-seq 1
assert_eq "[5000, 5000]" "$(py '[len({r["detail"]["i"] for r in rows if r["actor"] == w}) for w in ("writer-a", "writer-b")]' <<<"$OUT")" "each event once"
assert_eq "true" "$(py '[r["seq"] for r in rows] == list(range(1, 10001))' <<<"$OUT")" "contiguous seqs"
expect_exit 2 ar verify
assert_match "$OUT" "^UNANCHORED: 10001 records consistent" "verify"
# Importing both files again, concurrently, appends nothing.
ar import "$T/a.jsonl" >"$T/a.out" 2>&1 &
pa=$!
ar import "$T/b.jsonl" >"$T/b.out" 2>&1 &
pb=$!
ra=0
wait "$pa" || ra=$?
rb=0
wait "$pb" || rb=$?
assert_eq "0 0" "$ra $rb" "re-import exits"
assert_eq "imported 5000 events (5000 duplicates) from $T/a.jsonl" "$(cat "$T/a.out")"
assert_eq 10001 "$(count)" "size after re-import"
echo "$TEST_NAME: $reads concurrent reads"
finish

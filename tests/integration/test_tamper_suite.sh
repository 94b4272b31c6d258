#!/usr/bin/env bash
# The tamper suite (issue 4): a store of 10,000 events, signed by a
# checkpoint every 1,000, is mutated 200 times (ATR_TAMPER_MUTATIONS), each
# time on a fresh copy, by an attacker who can write the file but holds no
# signing key: a byte flipped in a record or a payload, a field changed and
# its leaf hash rewritten, a record deleted, two swapped, the tail truncated
# (with a rebuilt tree), records appended (with a correct tree, and half of
# the time a checkpoint signed by another key of the same name), a stored
# checkpoint replaced by one signed by another key. Each time `agentrail
# verify --key PUB --checkpoint ANCHOR --json` must fail with the expected
# status AND name the right seq (or checkpoint size); the untouched store
# must verify OK with no finding. tamper_suite.py says what each kind must
# report. The choices are seeded: the seed is printed, ATR_TAMPER_SEED=N
# repeats them; ATR_TAMPER_JOBS sets how many run at once (default 2).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SEED=${ATR_TAMPER_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
SEED=$((SEED % 2147483648))
MUTATIONS=${ATR_TAMPER_MUTATIONS:-200}

run python3 "$(dirname "$0")/tamper_suite.py" --agentrail "$AGENTRAIL" --dir "$T/suite" \
	--seed "$SEED" --mutations "$MUTATIONS" --summary "$T/summary.json"
echo "$OUT"
[ -n "$ERR" ] && echo "$ERR" >&2
if [ ! -s "$T/summary.json" ]; then
	fail "tamper_suite.py ended without a summary (exit $RC)"
else
	while IFS=$'\t' read -r ok name; do
		if [ "$ok" = 1 ]; then pass; else fail "$name (seed $SEED: ATR_TAMPER_SEED=$SEED to repeat)"; fi
	done < <(python3 -c '
import json, sys
for c in json.load(open(sys.argv[1]))["checks"]:
    print("%d\t%s" % (c["ok"], c["name"]))
' "$T/summary.json")
	assert_eq 0 "$RC" "tamper_suite.py exit status"
fi
assert_line "$OUT" "^detected $MUTATIONS of $MUTATIONS with the right seq" "the summary line"

finish

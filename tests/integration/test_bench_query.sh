#!/usr/bin/env bash
# agentrail bench query: fills a temporary store with jobs, runs and
# approvals, signs a checkpoint, serves it, and prints one JSON line per
# endpoint (jobs, timeline, approvals, evidence) with no failed request. No timing checks: the
# machine running the tests may be slow or busy.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

expect_exit 0 "$AGENTRAIL" bench query --events 20000 --requests 50
assert_eq 4 "$(wc -l <<<"$OUT")" "four lines of output"
assert_eq "jobs timeline approvals evidence" "$(py '" ".join(r["endpoint"] for r in rows)' <<<"$OUT")" "endpoints in order"
while IFS= read -r line; do
	assert_eq "query 20000 50 0" "$(py '" ".join(str(d[k]) for k in ("bench","events","requests","failures"))' <<<"$line")" "bench line values"
	assert_eq "ok" "$(py '"ok" if all(isinstance(d[k], (int, float)) and d[k] >= 0 for k in ("p50_ms","p99_ms")) and d["p50_ms"] <= d["p99_ms"] else "bad"' <<<"$line")" "bench line timings"
done <<<"$OUT"

# The corpus as described: 400 jobs of 50 events, 40 approval requests, 2 pending.
expect_exit 0 "$AGENTRAIL" bench query --events 20000 --requests 1 --store "$STORE"
assert_eq 20000 "$(count)" "20000 events stored"
assert_eq 40 "$(ar query --type approval_request --count)" "40 approval requests"
assert_eq 38 "$(ar query --type approval_resolved --count)" "38 resolved"
run ar verify
assert_contains "$OUT" "20000 records consistent" "the store verifies"
# Filling it again adds nothing: the corpus has fixed event ids.
expect_exit 0 "$AGENTRAIL" bench query --events 20000 --requests 1 --store "$STORE"
assert_eq 20000 "$(count)" "still 20000 events"

# Usage errors.
expect_exit 64 "$AGENTRAIL" bench query --requests 0
expect_exit 64 "$AGENTRAIL" bench ingest --requests 5

finish

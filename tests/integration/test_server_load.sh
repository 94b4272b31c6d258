#!/usr/bin/env bash
# agentrail bench http against a real `agentrail serve`: many single-event
# requests over 16 connections and batches of 100 over 4 connections all
# land in the store exactly once (group commit under concurrent load), the
# log still verifies, and the bench prints its JSON line. No timing checks:
# the machine running the tests may be slow or busy.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

# check_line JSON EVENTS BATCH CONNECTIONS: the bench line has every field, with these values.
check_line() {
	assert_eq "http $2 $3 $4 0" "$(py '" ".join(str(d[k]) for k in ("bench","events","batch","connections","failures"))' <<<"$1")" "bench line values"
	assert_eq "ok" "$(py '"ok" if all(isinstance(d[k], (int, float)) and d[k] >= 0 for k in ("seconds","events_per_s","p50_ms","p99_ms")) else "bad"' <<<"$1")" "bench line timings"
}

start_server "$STORE"

# 3000 single-event requests over 16 keep-alive connections.
expect_exit 0 "$AGENTRAIL" bench http --url "$URL" --events 3000 --batch 1 --connections 16
assert_eq 1 "$(wc -l <<<"$OUT")" "one line of output"
check_line "$OUT" 3000 1 16
assert_eq 3000 "$(count)" "3000 events stored"

# 20000 events in batches of 100 over 4 connections.
expect_exit 0 "$AGENTRAIL" bench http --url "$URL" --events 20000 --batch 100 --connections 4
check_line "$OUT" 20000 100 4
assert_eq 23000 "$(count)" "23000 events stored"

# The seqs are dense and unique: nothing was written twice or lost in a group.
http_code=$(curl -s -o "$T/root.json" -w '%{http_code}' "$URL/api/v1/root")
assert_eq 200 "$http_code" "root status"
assert_eq 23000 "$(py 'd["size"]' <"$T/root.json")" "tree size 23000"

stop_server
assert_eq 0 "$SRV_RC" "server exits 0 after SIGTERM"
assert_eq 23000 "$(count)" "still 23000 after shutdown"

# Not TAMPERED: verify exits 0 (OK) or 2 (UNANCHORED: no checkpoint signed yet).
run "$AGENTRAIL" --store "$STORE" verify
if [ "$RC" -eq 0 ] || [ "$RC" -eq 2 ]; then pass; else fail "verify exit $RC: $OUT $ERR"; fi
assert_not_contains "$OUT" "TAMPERED" "verify is not TAMPERED"

# The self-spawning mode: a temporary server and store, removed afterwards.
expect_exit 0 "$AGENTRAIL" bench http --events 500 --batch 10 --connections 4
check_line "$OUT" 500 10 4

# A failing request is counted and makes the exit status 1: nothing listens there.
expect_exit 1 "$AGENTRAIL" bench http --url "http://127.0.0.1:$PORT" --events 10 --batch 1 --connections 2
assert_eq 10 "$(py 'd["failures"]' <<<"$OUT")" "failures counted"

finish

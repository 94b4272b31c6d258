#!/usr/bin/env bash
# Back-pressure of agentrail serve: with a small --queue-max, many clients
# posting batches at once get 429 queue_full with Retry-After: 1 for what
# does not fit; every event of every 201 is stored, none of a 429 is, and
# the refused batches go in when retried. A request larger than the whole
# queue gets 413 (retrying could never help). 429s are counted in /metrics.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

# ------------------------------------------------------------ the option
for v in 0 10000001 abc -1; do
	expect_exit 64 "$AGENTRAIL" --store "$STORE" serve --listen 127.0.0.1:0 --queue-max "$v"
	assert_contains "$ERR" "--queue-max" "--queue-max $v is refused"
done

NB=40    # batches fired at once
B=500    # events per batch
QMAX=1000

# batches R: write the NB batches of round R ($T/rR-bN.json, N from 1), B events
# each, every event with an id of its own.
batches() {
	python3 -c '
import json, sys
t, r, nb, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for n in range(1, nb + 1):
    base = (r * 1000 + n) * b
    with open("%s/r%d-b%d.json" % (t, r, n), "w") as f:
        json.dump([{"type": "tool_call", "actor": "bp", "target": "t%d" % k,
                    "event_id": "01890a5d-ac96-7000-8000-%012x" % (base + k)} for k in range(b)], f)
' "$T" "$1" "$NB" "$B"
}
# fire NAME...: post the batches $T/NAME.json all at once; answers in $T/NAME.{code,body,hdrs}.
fire() {
	local n pids=()
	for n in "$@"; do
		curl -s -o "$T/$n.body" -D "$T/$n.hdrs" -w '%{http_code}' -H 'Content-Type: application/json' \
			--data-binary @"$T/$n.json" "$URL/api/v1/events" >"$T/$n.code" || echo 000 >"$T/$n.code" &
		pids+=($!)
	done
	wait "${pids[@]}" # not a bare 'wait': the server is a child too
}
# check NAME...: facts about the answers to the batches NAME (one python run):
# the log's event ids (walked page by page through /api/v1/events) against
# the batches' ids, by the status each batch got.
check() {
	python3 -c '
import json, sys, urllib.request
url, t, names = sys.argv[1], sys.argv[2], sys.argv[3:]
stored, cur = [], None
while True:
    d = json.load(urllib.request.urlopen(url + "/api/v1/events?limit=1000" + ("&cursor=" + cur if cur else "")))
    stored += [e["event_id"] for e in d["events"]]
    cur = d["next_cursor"]
    if not cur:
        break
f = {"stored": len(stored), "stored_once": len(set(stored)) == len(stored),
     "accepted": [], "refused": [], "other": [], "bad_201": [], "bad_429": []}
acc, ref = set(), set()
for n in names:
    code = open("%s/%s.code" % (t, n)).read().strip()
    ids = [e["event_id"] for e in json.load(open("%s/%s.json" % (t, n)))]
    body = json.load(open("%s/%s.body" % (t, n)))
    hdrs = open("%s/%s.hdrs" % (t, n)).read().replace("\r", "").splitlines()
    if code == "201":
        f["accepted"].append(n)
        acc.update(ids)
        if [r["event_id"] for r in body["results"] if not r["duplicate"]] != ids:
            f["bad_201"].append(n)
    elif code == "429":
        f["refused"].append(n)
        ref.update(ids)
        if "Retry-After: 1" not in hdrs or body["error"]["code"] != "queue_full":
            f["bad_429"].append(n)
    else:
        f["other"].append("%s: %s" % (n, code))
f["stored_is_accepted"] = set(stored) == acc
f["refused_stored"] = len(ref & set(stored))
print(json.dumps(f))' "$URL" "$T" "$@"
}

start_server "$STORE" --queue-max "$QMAX"

# ------------------------------------------------------------ a burst
# Fresh batches each round, until a burst has been refused in part (the
# first one is, on any machine: 40 batches of 500 against room for 2).
FIRED=()
for round in 1 2 3; do
	batches "$round"
	names=()
	for n in $(seq "$NB"); do names+=("r$round-b$n"); done
	fire "${names[@]}"
	FIRED+=("${names[@]}")
	grep -qx 429 "$T"/r"$round"-b*.code && break
done
F=$(check "${FIRED[@]}")
fact() { py "$1" <<<"$F"; }
REFUSED=($(fact '" ".join(d["refused"])'))
NACC=$(fact 'len(d["accepted"])')
assert_match "${#REFUSED[@]}" '^[1-9][0-9]*$' "a burst past --queue-max gets 429s"
assert_match "$NACC" '^[1-9][0-9]*$' "a burst still gets some batches in"
assert_eq '[[], [], []]' "$(fact '[d["other"], d["bad_429"], d["bad_201"]]')" \
	"201 or 429 only; each 429 queue_full with Retry-After: 1; each 201 answers its events"
assert_eq "$((NACC * B)) true" "$(fact '"%d %s" % (d["stored"], str(d["stored_once"]).lower())')" \
	"stored: the events of the 201s, once each"
assert_eq true "$(fact 'd["stored_is_accepted"]')" "stored: exactly the events of the 201s"
assert_eq 0 "$(fact 'd["refused_stored"]')" "no event of a 429 is stored"
ID=$(py 'd[0]["event_id"]' <"$T/${REFUSED[0]}.json")
http GET "/api/v1/events/$ID"
assert_eq 404 "$CODE" "a refused event is not there"
assert_contains "$(py 'd["error"]["message"]' <"$T/${REFUSED[0]}.body")" "of $QMAX events" "429 names the limit"

http GET /metrics
assert_line "$BODY" "^agentrail_requests_total\\{route=\"POST /api/v1/events\",status=\"429\"\\} ${#REFUSED[@]}\$" \
	"metrics count the 429s"

# ------------------------------------------------------------ retrying
# As a client should: wait the Retry-After, then send the refused batches again.
sleep 1
for n in "${REFUSED[@]}"; do
	code=429
	for _ in $(seq 20); do
		http POST /api/v1/events -H 'Content-Type: application/json' --data-binary @"$T/$n.json"
		code=$CODE
		[ "$code" != 429 ] && break
		sleep 1
	done
	assert_eq 201 "$code" "$n: the retry goes in"
	cp "$T/.body" "$T/$n.body"
	echo "$code" >"$T/$n.code"
done
# The retries' answers now stand for their batches: every one a 201 that
# appended each of its events (no duplicate: nothing of it was there).
F=$(check "${FIRED[@]}")
assert_eq "[${#FIRED[@]}, 0, [], $((${#FIRED[@]} * B)), true, true]" \
	"$(fact '[len(d["accepted"]), len(d["refused"]), d["bad_201"], d["stored"], d["stored_once"], d["stored_is_accepted"]]')" \
	"after the retries: every event sent, once"

# ------------------------------------------------------------ one big request
# Larger than the whole queue: 413 naming the limit, not a 429 forever.
python3 -c '
import json
print(json.dumps([{"type": "tool_call", "actor": "big", "target": "t%d" % k} for k in range(1001)]))' >"$T/big.json"
http POST /api/v1/events -H 'Content-Type: application/json' --data-binary @"$T/big.json"
assert_eq 413 "$CODE" "a request larger than --queue-max"
assert_eq too_many_events "$(jq_ 'd["error"]["code"]')" "413 code"
assert_contains "$(jq_ 'd["error"]["message"]')" "at most $QMAX (--queue-max)" "413 names the limit"
# Exactly the queue's size goes in when nothing else waits.
python3 -c '
import json
print(json.dumps([{"type": "tool_call", "actor": "big", "target": "t%d" % k} for k in range(1000)]))' >"$T/full.json"
http POST /api/v1/events -H 'Content-Type: application/json' --data-binary @"$T/full.json"
assert_eq 201 "$CODE" "a request of exactly --queue-max events"
http GET /healthz
assert_eq "$((${#FIRED[@]} * B + 1000))" "$(jq_ 'd["size"]')" "nothing else was appended"

stop_server
assert_eq 0 "$SRV_RC" "clean exit"
finish

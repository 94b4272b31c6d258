#!/usr/bin/env bash
# agentrail serve over real HTTP: ingest (object, array, NDJSON, gzip),
# idempotent retry, every read endpoint cross-checked against the CLI,
# every error status, the loopback-only rule and SIGTERM under load.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

header() { grep -i "^$1:" <<<"$HDRS" | head -1 | sed 's/^[^:]*: *//'; }

ID1=01890a5d-ac96-774b-bcce-b30209000001
ID2=01890a5d-ac96-774b-bcce-b30209000002
ID3=01890a5d-ac96-774b-bcce-b30209000003

start_server "$STORE" --threads 4 --max-body 65536
assert_contains "$(cat "$T/serve.out")" \
	"agentrail serve: listening on http://127.0.0.1:$PORT (store '$STORE'); loopback clients only" \
	"start line"

# ------------------------------------------------------------- ingest
post "{\"type\":\"tool_call\",\"actor\":\"alice\",\"target\":\"ls\",\"event_id\":\"$ID1\",\"detail\":{\"n\":1}}"
assert_eq 201 "$CODE" "object status"
assert_eq '[0, "01890a5d-ac96-774b-bcce-b30209000001", false]' \
	"$(jq_ '[d["results"][0]["seq"], d["results"][0]["event_id"], d["results"][0]["duplicate"]]')" "object answer"
assert_eq '["duplicate", "event_id", "hash", "seq"]' "$(jq_ 'sorted(d["results"][0])')" "result keys"
HASH0=$(jq_ 'd["results"][0]["hash"]')
assert_match "$HASH0" '^[0-9a-f]{64}$' "leaf hash"

ARRAY="[{\"type\":\"tool_call\",\"actor\":\"bob\",\"target\":\"cat x\",\"event_id\":\"$ID2\",\"session_id\":\"s1\"},
 {\"type\":\"escalation\",\"actor\":\"bob\",\"reason\":\"because\",\"event_id\":\"$ID3\",\"session_id\":\"s1\"}]"
post "$ARRAY"
assert_eq 201 "$CODE" "array status"
assert_eq '[[1, false], [2, false]]' "$(jq_ '[[r["seq"], r["duplicate"]] for r in d["results"]]')" "array seqs"
FIRST=$BODY
post "$ARRAY"
assert_eq 201 "$CODE" "retry status"
assert_eq '[[1, true], [2, true]]' "$(jq_ '[[r["seq"], r["duplicate"]] for r in d["results"]]')" "retry: same seqs, duplicate"
assert_eq "$(py '[r["hash"] for r in d["results"]]' <<<"$FIRST")" "$(jq_ '[r["hash"] for r in d["results"]]')" "retry hashes"

http POST /api/v1/events -H 'Content-Type: application/x-ndjson' --data-binary \
	$'{"type":"tool_call","actor":"carol","target":"a"}\n\n{"type":"tool_call","actor":"carol","target":"b"}\r\n'
assert_eq 201 "$CODE" "ndjson status"
assert_eq '[3, 4]' "$(jq_ '[r["seq"] for r in d["results"]]')" "ndjson seqs"

printf '{"type":"tool_call","actor":"dave","target":"g1"}\n{"type":"tool_call","actor":"dave","target":"g2"}\n' |
	gzip >"$T/nd.gz"
http POST /api/v1/events -H 'Content-Type: application/x-ndjson' -H 'Content-Encoding: gzip' \
	--data-binary @"$T/nd.gz"
assert_eq 201 "$CODE" "gzip ndjson status"
assert_eq '[5, 6]' "$(jq_ '[r["seq"] for r in d["results"]]')" "gzip seqs"
printf '[{"type":"tool_call","actor":"erin","target":"z"}]' | gzip >"$T/arr.gz"
http POST /api/v1/events -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' \
	--data-binary @"$T/arr.gz"
assert_eq 201 "$CODE" "gzip array status"
assert_eq '[7]' "$(jq_ '[r["seq"] for r in d["results"]]')" "gzip array seq"
# No Content-Type at all is taken as JSON.
http POST /api/v1/events --data-binary '{"type":"tool_call","actor":"frank","target":"q"}' -H 'Content-Type:'
assert_eq 201 "$CODE" "no content type"
N=9

# ---------------------------------------------------------------- reads
http GET "/api/v1/events?limit=4"
assert_eq 200 "$CODE" "list status"
assert_eq '[0, 1, 2, 3]' "$(jq_ '[e["seq"] for e in d["events"]]')" "page 1"
C1=$(jq_ 'd["next_cursor"]')
assert_eq '{"n": 1}' "$(jq_ 'd["events"][0]["detail"]')" "detail in listing"
http GET "/api/v1/events?limit=4&cursor=$C1"
assert_eq '[4, 5, 6, 7]' "$(jq_ '[e["seq"] for e in d["events"]]')" "page 2"
http GET "/api/v1/events?limit=4&cursor=$(jq_ 'd["next_cursor"]')"
assert_eq '[[8], null]' "$(jq_ '[[e["seq"] for e in d["events"]], d["next_cursor"]]')" "last page"
http GET "/api/v1/events"
assert_eq "$N" "$(jq_ 'len(d["events"])')" "default limit covers all"
http GET "/api/v1/events?actor=bob&type=escalation"
assert_eq '[2]' "$(jq_ '[e["seq"] for e in d["events"]]')" "actor+type filter"
http GET "/api/v1/events?session_id=s1&level=agent"
assert_eq '[1]' "$(jq_ '[e["seq"] for e in d["events"]]')" "session+level filter"
http GET "/api/v1/events?target_prefix=g"
assert_eq '[5, 6]' "$(jq_ '[e["seq"] for e in d["events"]]')" "target_prefix"
http GET "/api/v1/events?since=2100-01-01T00:00:00Z"
assert_eq '[]' "$(jq_ 'd["events"]')" "since in the future"
http GET "/api/v1/events?until=2100-01-01T00:00:00Z&limit=1000"
assert_eq "$N" "$(jq_ 'len(d["events"])')" "until in the future"
# Same records as the CLI, field for field.
CLI_JSON=$(ar query --json)
http GET "/api/v1/events?limit=1000"
assert_eq "$(py '[r for r in rows]' <<<"$CLI_JSON")" "$(jq_ 'd["events"]')" "listing equals query --json"

http GET "/api/v1/events/$ID3"
assert_eq 200 "$CODE" "event by id"
assert_eq '[2, "escalation", "because"]' "$(jq_ '[d["seq"], d["type"], d["reason"]]')" "event fields"

http GET /api/v1/records/0
assert_eq 200 "$CODE" "record status"
assert_eq "application/json" "$(header Content-Type)" "record content type"
assert_eq "$HASH0" "$(header X-Agentrail-Leaf-Hash)" "leaf hash header"
assert_eq "$HASH0" "$(python3 -c 'import hashlib,sys;print(hashlib.sha256(b"\0"+open(sys.argv[1],"rb").read()).hexdigest())' "$T/.body")" \
	"body is the leaf"
EXPORT_REC=$(ar export | head -1 | py 'json.dumps(d["record"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)' 2>/dev/null || true)
assert_eq "$EXPORT_REC" "$BODY" "record bytes equal the export"

http GET /api/v1/root
assert_eq "$(ar root --json)" "$BODY" "root equals agentrail root"
http GET "/api/v1/proof/inclusion?seq=3&size=7"
assert_eq 200 "$CODE" "inclusion status"
ROOT7=$(ar root --size 7 --json | py 'd["root_hash"]')
assert_eq ok "$(merkle_check "$ROOT7" <<<"$BODY")" "inclusion proof checks"
assert_eq "$(ar prove 3 --size 7 --json | py 'd')" "$(jq_ 'd')" "inclusion equals agentrail prove"
http GET "/api/v1/proof/inclusion?seq=8"
assert_eq "[8, $N]" "$(jq_ '[d["seq"], d["size"]]')" "inclusion default size"
http GET "/api/v1/proof/consistency?from=3&to=8"
assert_eq 200 "$CODE" "consistency status"
assert_eq ok "$(py 'json.dumps({"old_size": d["from"], "new_size": d["to"], "old_root": d["old_root"], "new_root": d["new_root"], "path": d["path"]})' <<<"$BODY" | consistency_check)" \
	"consistency proof checks"
assert_eq "$(ar prove --consistency 3 8 --json | py '[d["old_root"], d["new_root"], d["path"]]')" \
	"$(jq_ '[d["old_root"], d["new_root"], d["path"]]')" "consistency equals agentrail prove"
http GET /healthz
assert_eq "{\"status\":\"ok\",\"size\":$N}" "$BODY" "healthz"
http HEAD /healthz
assert_eq 200 "$CODE" "HEAD"

# ---------------------------------------------------------------- errors
err() { jq_ '[d["error"]["code"], d["error"].get("at")]'; }
post '{"type":"tool_call","actor":"a" x}'
assert_eq 400 "$CODE" "bad json status"
assert_eq '["bad_json", "byte 32"]' "$(err)" "bad json: byte offset"
BAD=$'[{"type":"tool_call","actor":"a","target":"t"},\n {"type":"tool_call" x}]'
post "$BAD"
assert_eq "[\"bad_json\", \"event 1, byte $(python3 -c 'import sys;print(sys.argv[1].index(" x")+1)' "$BAD")\"]" \
	"$(err)" "bad json in a batch: item and byte"
post $'[{"type":"tool_call","actor":"a","target":"t"},\n {"type":"tool_call", ]'
assert_eq '["bad_json", "byte 71"]' "$(err)" "bad array structure: byte"
post '[{"type":"tool_call","actor":"a","target":"t"}'
assert_eq '["bad_json", "byte 46"]' "$(err)" "unclosed array"
post '{"type":"tool_call","target":"t"}'
assert_eq 400 "$CODE" "missing field status"
assert_eq '["invalid", "actor"]' "$(err)" "missing field named"
assert_contains "$(jq_ 'd["error"]["message"]')" "actor" "missing field message"
post '[{"type":"tool_call","actor":"a","target":"t"},{"type":"tool_call","actor":"a","target":"t","bogus":1}]'
assert_eq '["invalid", "event 1, bogus"]' "$(err)" "unknown field in a batch"
assert_eq "$N" "$(count)" "a bad batch appends nothing"
post '[]'
assert_eq 400 "$CODE" "empty array"
http GET /api/v1/nothing
assert_eq 404 "$CODE" "unknown route"
assert_eq '["no_route", null]' "$(err)" "unknown route code"
http GET /api/v1/records/999
assert_eq 404 "$CODE" "unknown record"
assert_eq '["not_found", "seq"]' "$(err)" "unknown record code"
http GET /api/v1/events/01890a5d-ac96-774b-bcce-b30209999999
assert_eq 404 "$CODE" "unknown event id"
http GET /api/v1/records/abc
assert_eq 400 "$CODE" "bad seq"
http DELETE /api/v1/records/0
assert_eq 405 "$CODE" "delete a record"
assert_eq "GET, HEAD" "$(header Allow)" "Allow header"
http PUT /api/v1/events
assert_eq 405 "$CODE" "put events"
assert_eq "GET, HEAD, POST" "$(header Allow)" "Allow header on events"
assert_eq '["method_not_allowed", null]' "$(err)" "405 code"
post "{\"type\":\"tool_call\",\"actor\":\"mallory\",\"target\":\"ls\",\"event_id\":\"$ID1\"}"
assert_eq 409 "$CODE" "conflicting event_id"
assert_eq conflict "$(jq_ 'd["error"]["code"]')" "409 code"
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big"
post @"$T/big"
assert_eq 413 "$CODE" "body over --max-body"
assert_eq body_too_large "$(jq_ 'd["error"]["code"]')" "413 code"
http POST /api/v1/events -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$T/big"
assert_eq 413 "$CODE" "chunked body over --max-body"
head -c 10000000 /dev/zero | tr '\0' ' ' | gzip >"$T/bomb.gz"
http POST /api/v1/events -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' --data-binary @"$T/bomb.gz"
assert_eq 413 "$CODE" "gzip bomb"
assert_contains "$(jq_ 'd["error"]["message"]')" "inflated" "gzip bomb message"
post "{\"type\":\"tool_call\",\"actor\":\"$(printf 'a%.0s' $(seq 300))\",\"target\":\"t\"}"
assert_eq 413 "$CODE" "field too large"
assert_eq '["too_big", "actor"]' "$(err)" "too big code"
http POST /api/v1/events -H 'Content-Type: text/plain' --data-binary '{}'
assert_eq 415 "$CODE" "content type"
http POST /api/v1/events -H 'Content-Type: application/json' -H 'Content-Encoding: br' --data-binary '{}'
assert_eq 415 "$CODE" "content encoding"
assert_eq '["unsupported_media_type", "Content-Encoding"]' "$(err)" "415 code"
printf 'not gzip' >"$T/notgz"
http POST /api/v1/events -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' --data-binary @"$T/notgz"
assert_eq 400 "$CODE" "corrupt gzip"
http GET "/api/v1/events?limit=5000"
assert_eq 400 "$CODE" "limit too large"
http GET "/api/v1/events?actr=bob"
assert_eq '["bad_request", "actr"]' "$(err)" "unknown parameter"
http GET "/api/v1/events?cursor=zzz"
assert_eq 400 "$CODE" "bad cursor"
http GET "/api/v1/proof/inclusion?seq=$N"
assert_eq 400 "$CODE" "inclusion past the end"
http GET "/api/v1/proof/inclusion"
assert_eq 400 "$CODE" "inclusion without seq"
assert_eq "$N" "$(count)" "no error appended anything"

http GET /metrics
assert_eq 200 "$CODE" "metrics"
# Re-sent duplicates are answered but not appended, so not counted.
APPENDED=$(sed -n 's/^agentrail_events_appended_total //p' <<<"$BODY")
assert_eq "$N" "$APPENDED" "metrics events appended"
assert_line "$BODY" '^agentrail_requests_total\{route="POST /api/v1/events",status="201"\} 7$' "metrics requests"
assert_line "$BODY" '^agentrail_requests_total\{route="unmatched",status="404"\} 1$' "metrics unmatched"
assert_line "$BODY" '^agentrail_commit_seconds_bucket\{le="\+Inf"\} [0-9]+$' "metrics histogram"
assert_line "$BODY" '^agentrail_ingest_queue_events 0$' "metrics queue"

stop_server
assert_eq 0 "$SRV_RC" "clean exit"
assert_contains "$(cat "$T/serve.err")" "stopping" "stop message"

# --------------------------------------------------------- loopback only
expect_exit 1 "$AGENTRAIL" --store "$STORE" serve --listen "0.0.0.0:$(free_port)"
assert_contains "$ERR" "tokens are required to listen on '0.0.0.0:" "non-loopback refused"
assert_contains "$ERR" "or listen on a loopback address" "refusal says why"
expect_exit 64 ar serve --threads 0
expect_exit 1 ar serve --listen nonsense

# ---------------------------------------------------- SIGTERM under load
LOAD="$T/load.db"
start_server "$LOAD" --threads 4
loader() { # loader K: post single events until the server is gone
	local k=$1 i=0 miss=0 code
	while [ $i -lt 2000 ] && [ $miss -lt 3 ]; do
		code=$(curl -s -o "$T/load.$k.body" -w '%{http_code}' -H 'Content-Type: application/json' \
			--data-binary "{\"type\":\"tool_call\",\"actor\":\"load$k\",\"target\":\"n$i\"}" \
			"$URL/api/v1/events" || true)
		if [ "$code" = 201 ]; then
			py 'd["results"][0]["event_id"]' <"$T/load.$k.body" >>"$T/acked.$k"
			miss=0
		elif [ "$code" = 000 ]; then
			miss=$((miss + 1))
		fi
		i=$((i + 1))
	done
}
: >"$T/acked.1" >"$T/acked.2" >"$T/acked.3" >"$T/acked.4"
for k in 1 2 3 4; do loader $k & done
sleep 2
stop_server
wait
assert_eq 0 "$SRV_RC" "exit 0 after SIGTERM under load"
cat "$T"/acked.* >"$T/acked"
ACKED=$(wc -l <"$T/acked")
if [ "$ACKED" -gt 0 ]; then pass; else fail "no request was acknowledged before SIGTERM"; fi
"$AGENTRAIL" --store "$LOAD" export >"$T/load.jsonl"
LOST=$(python3 -c '
import json, sys
have = {json.loads(l)["record"]["event_id"] for l in open(sys.argv[1]) if "\"record\"" in l}
lost = [i.strip() for i in open(sys.argv[2]) if i.strip() not in have]
print(len(lost))' "$T/load.jsonl" "$T/acked")
assert_eq 0 "$LOST" "every acknowledged event is in the store ($ACKED acked)"
expect_exit 2 "$AGENTRAIL" --store "$LOAD" verify

# A second server on a port in use is refused: events never split between two logs.
start_server "$T/first.db"
expect_exit 1 timeout 10 "$AGENTRAIL" --store "$T/second.db" serve --listen "127.0.0.1:$PORT"
assert_contains "$ERR" "cannot listen on '127.0.0.1:$PORT'" "port in use"
stop_server

finish

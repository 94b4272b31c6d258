#!/usr/bin/env bash
# OTLP/HTTP ingest over real HTTP: POST /v1/traces and /v1/logs with JSON
# bodies (plain and gzip) become events, field by field as docs/otel.md maps
# them; a span sent again is a duplicate; refused items come back as
# partialSuccess; and every status OTLP defines (200, 400, 401, 403, 405,
# 413, 415, 429 and 503 with Retry-After) answers a google.rpc.Status.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

DATA="$(cd "$(dirname "$0")/../data/otlp" && pwd)"
TRACE=5b8efff798038103d269b633813fc60c
header() { grep -i "^$1:" <<<"$HDRS" | head -1 | sed 's/^[^:]*: *//'; }
# otlp SIGNAL [CURL ARGS...]: POST /v1/SIGNAL as an OTLP JSON exporter does.
otlp() {
	local sig=$1
	shift
	http POST "/v1/$sig" -H 'Content-Type: application/json' "$@"
}
size() { curl -s "$URL/healthz" | py 'd["size"]'; }
# spans N NAME: an ExportTraceServiceRequest of N plain spans, span ids of their own.
spans() {
	python3 -c '
import json, sys, zlib
n, name = int(sys.argv[1]), sys.argv[2]
print(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
    {"traceId": "7" * 32, "spanId": "%08x%08x" % (zlib.crc32(name.encode()), k + 1),
     "name": "%s %d" % (name, k)}
    for k in range(n)]}]}]}))' "$1" "$2"
}
# status_is HTTP RPC_CODE REASON WHAT: the answer is a google.rpc.Status.
status_is() {
	assert_eq "$1" "$CODE" "$4: status"
	assert_eq "application/json" "$(header Content-Type)" "$4: content type"
	assert_eq "[$2, true, \"$3\", \"agentrail\"]" \
		"$(jq_ '[d["code"], len(d["message"]) > 0, [x for x in d["details"] if x["@type"].endswith("ErrorInfo")][0]["reason"], [x for x in d["details"] if x["@type"].endswith("ErrorInfo")][0]["domain"]]')" \
		"$4: google.rpc.Status"
}

start_server "$STORE" --max-body 65536 --queue-max 50

# ------------------------------------------------------------ traces
otlp traces --data-binary @"$DATA/genai_traces.json"
assert_eq 200 "$CODE" "traces: status"
assert_eq '{}' "$BODY" "traces: full success is {}"
assert_eq application/json "$(header Content-Type)" "traces: content type"
assert_eq 8 "$(size)" "seven spans, eight events (invoke_agent: session_start and session_end)"

# The trace as a tree: the agent's session_start holds the rest.
http GET "/api/v1/traces/$TRACE"
assert_eq 200 "$CODE" "the trace"
TREE=$BODY
tree() { py "$1" <<<"$TREE"; }
assert_eq '["session_start"]' "$(tree '[e["type"] for e in d["events"]]')" "one root"
assert_eq '["session_end", "llm_call", "tool_call", "llm_call", "x_otel_span"]' \
	"$(tree '[c["type"] for c in d["events"][0]["children"]]')" "children in seq order"
R='d["events"][0]'
assert_eq '["Researcher", "asst_5j66UpCpwteGg4YSxUnt7lPY", "2.1.0", "gpt-4o", "conv_5j66UpCpwteGg4YSxUnt7lPY", "alice", "2026-01-01T00:00:00.000000Z", "pipeline"]' \
	"$(tree "[$R[k] for k in ('actor', 'agent_id', 'agent_version', 'model', 'session_id', 'user_id', 'ts', 'level')]")" \
	"session_start fields"
assert_eq '["openai", "internal", 5250, "research-svc"]' \
	"$(tree "[$R['detail']['provider'], $R['detail']['otel']['kind'], $R['detail']['latency_ms'], $R['detail']['otel']['resource']['service.name']]")" \
	"session_start detail"
C="$R[\"children\"]"
assert_eq '["research-svc", "gpt-4o-2024-08-06", {"input_tokens": 1000, "output_tokens": 40}, "user"]' \
	"$(tree "[$C[1]['actor'], $C[1]['model'], $C[1]['usage'], $C[1]['detail']['input_messages'][0]['role']]")" \
	"llm_call fields"
assert_eq '["get_weather", "error", "call_VSPygqKTWdrhaFErNvMV18Yl", {"location": "Paris"}, "upstream timed out"]' \
	"$(tree "[$C[2]['target'], $C[2]['outcome'], $C[2]['detail']['tool_call_id'], $C[2]['detail']['arguments'], $C[2]['detail']['otel']['status']['message']]")" \
	"tool_call fields"
assert_eq '["2026-01-01T00:00:05.250000Z", "success", {"input_tokens": 1200, "output_tokens": 340}]' \
	"$(tree "[$C[0]['ts'], $C[0]['outcome'], $C[0]['usage']]")" "session_end fields"
http GET "/api/v1/events?type=x_agent_create"
assert_eq '["agent-admin", "Researcher", "pipeline", "success"]' \
	"$(jq_ '[d["events"][0][k] for k in ("actor", "target", "level", "outcome")]')" "create_agent"
http GET "/api/v1/events?session_id=conv_5j66UpCpwteGg4YSxUnt7lPY"
assert_eq '["session_start", "session_end", "llm_call", "tool_call"]' "$(jq_ '[e["type"] for e in d["events"]]')" \
	"gen_ai.conversation.id is the session"

# Sent again (as gzip this time): every span is a duplicate, nothing appended.
gzip -c "$DATA/genai_traces.json" >"$T/traces.gz"
otlp traces -H 'Content-Encoding: gzip' --data-binary @"$T/traces.gz"
assert_eq "200 {}" "$CODE $BODY" "gzip re-send"
assert_eq 8 "$(size)" "a re-sent span is the same event"

# ------------------------------------------------------------ logs
otlp logs --data-binary @"$DATA/genai_logs.json"
assert_eq 200 "$CODE" "logs: status"
assert_eq '["1", true]' \
	"$(jq_ '[d["partialSuccess"]["rejectedLogRecords"], "logRecords[3]: '"'"'spanId'"'"'" in d["partialSuccess"]["errorMessage"]]')" \
	"logs: the malformed record refused, with where and why"
assert_eq 11 "$(size)" "three log records in"
http GET "/api/v1/events?type=error"
assert_eq '["Researcher", "error", "tool get_weather timed out"]' \
	"$(jq_ '[d["events"][0][k] for k in ("actor", "outcome")] + [d["events"][0]["detail"]["body"]]')" \
	"an ERROR record is an error event"
assert_eq "$(tree "$C[2]['event_id']")" "$(jq_ 'd["events"][0]["parent_event_id"]')" \
	"the error record hangs under the span it was logged in"
otlp logs --data-binary @"$DATA/genai_logs.json"
assert_eq 11 "$(size)" "a re-sent log record is a duplicate"

# ------------------------------------------------------------ partial success
spans 2 good >"$T/two.json"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
s = d["resourceSpans"][0]["scopeSpans"][0]["spans"]
s.insert(0, {"traceId": "nothex", "spanId": "0000000000000009"})
s.append({"traceId": "7" * 32, "spanId": "000000000000000a", "attributes": [
    {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
    {"key": "gen_ai.agent.name", "value": {"stringValue": "n" * 300}}]})
print(json.dumps(d))' "$T/two.json" >"$T/partial.json"
otlp traces --data-binary @"$T/partial.json"
assert_eq 200 "$CODE" "partial: status"
assert_eq '"2"' "$(jq_ 'json.dumps(d["partialSuccess"]["rejectedSpans"])')" "partial: rejectedSpans (int64 as a string)"
assert_contains "$(jq_ 'd["partialSuccess"]["errorMessage"]')" \
	"2 of 4 spans refused: resourceSpans[0].scopeSpans[0].spans[0]: 'traceId' must be 32 hex digits" "partial: why"
assert_contains "$(jq_ 'd["partialSuccess"]["errorMessage"]')" "field 'actor' is 300 bytes" "partial: the log's own reason"
assert_eq 13 "$(size)" "partial: the good spans are in"

# A span id logged before with other content: that span refused, the rest written.
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
s = d["resourceSpans"][0]["scopeSpans"][0]["spans"]
s[0]["name"] = "renamed"
s[1] = {"traceId": "7" * 32, "spanId": "00000000000000ff", "name": "new"}
print(json.dumps(d))' "$T/two.json" >"$T/conflict.json"
otlp traces --data-binary @"$T/conflict.json"
assert_eq 200 "$CODE" "conflict: status"
assert_eq '"1"' "$(jq_ 'json.dumps(d["partialSuccess"]["rejectedSpans"])')" "conflict: one span refused"
assert_contains "$(jq_ 'd["partialSuccess"]["errorMessage"]')" "with different content" "conflict: why"
assert_eq 14 "$(size)" "conflict: the other span is in"

# Many such spans in one request: after 16 refusals the rest is refused too
# (each refusal costs a commit; a client cannot make that loop long).
spans 20 twenty >"$T/twenty.json"
otlp traces --data-binary @"$T/twenty.json"
assert_eq "200 {}" "$CODE $BODY" "twenty spans"
sed 's/"twenty /"changed /g' "$T/twenty.json" >"$T/changed.json"
otlp traces --data-binary @"$T/changed.json"
assert_eq '"20"' "$(jq_ 'json.dumps(d["partialSuccess"]["rejectedSpans"])')" "sixteen conflicts: all refused"
assert_contains "$(jq_ 'd["partialSuccess"]["errorMessage"]')" "20 of 20 spans refused: resourceSpans[0].scopeSpans[0].spans[0]: event_id" \
	"each refusal names its span"
assert_eq 34 "$(size)" "nothing of it written"

# Everything refused: still 200, nothing written.
otlp traces --data-binary '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"","spanId":""}]}]}]}'
assert_eq 200 "$CODE" "all refused: status"
assert_eq '"1"' "$(jq_ 'json.dumps(d["partialSuccess"]["rejectedSpans"])')" "all refused: counted"
# Empty requests are a success (OTLP says so).
for body in '{}' '{"resourceLogs":[]}'; do
	otlp logs --data-binary "$body"
	assert_eq "200 {}" "$CODE $BODY" "empty request $body"
done
assert_eq 34 "$(size)" "nothing written"

# ------------------------------------------------------------ 400
otlp traces --data-binary '{"resourceSpans":['
status_is 400 3 BAD_JSON "malformed JSON"
assert_contains "$(jq_ 'd["message"]')" "malformed JSON at line 1" "malformed JSON: message"
otlp traces --data-binary ''
status_is 400 3 BAD_JSON "empty body"
otlp traces --data-binary '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"'$TRACE'","spanId":"0000000000000001","kind":"SPAN_KIND_CLIENT"}]}]}]}'
status_is 400 3 INVALID "an enum name"
assert_eq "resourceSpans[0].scopeSpans[0].spans[0].kind" \
	"$(jq_ '[x for x in d["details"] if x["@type"] == "type.googleapis.com/google.rpc.BadRequest"][0]["fieldViolations"][0]["field"]')" \
	"400: BadRequest names the member"
assert_contains "$(jq_ 'd["message"]')" "must be a non-negative integer" "400: says what is wrong"
printf 'not gzip at all' >"$T/bad.gz"
otlp traces -H 'Content-Encoding: gzip' --data-binary @"$T/bad.gz"
status_is 400 3 BAD_JSON "corrupt gzip"
assert_eq 34 "$(size)" "a 400 writes nothing"

# ------------------------------------------------------------ 405, 415
http GET /v1/traces
status_is 405 12 METHOD_NOT_ALLOWED "GET /v1/traces"
assert_eq POST "$(header Allow)" "405: Allow"
http POST /v1/traces -H 'Content-Type: application/x-protobuf' --data-binary 'x'
status_is 415 3 UNSUPPORTED_MEDIA_TYPE "protobuf"
assert_contains "$(jq_ 'd["message"]')" "send the OTLP JSON encoding with Content-Type: application/json" "415: says JSON works"
http POST /v1/logs -H 'Content-Type: text/plain' --data-binary '{}'
status_is 415 3 UNSUPPORTED_MEDIA_TYPE "text/plain"
otlp logs -H 'Content-Encoding: br' --data-binary '{}'
status_is 415 3 UNSUPPORTED_MEDIA_TYPE "brotli"
http POST /v1/traces --data-binary '{}' -H 'Content-Type:'
assert_eq "200 {}" "$CODE $BODY" "no Content-Type is taken as JSON"

# ------------------------------------------------------------ 413
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big.json"
otlp traces --data-binary @"$T/big.json"
status_is 413 8 BODY_TOO_LARGE "a body over --max-body"
python3 -c 'print("{\"x\":\"" + "a" * 300000 + "\"}")' | gzip -c >"$T/bomb.gz"
otlp traces -H 'Content-Encoding: gzip' --data-binary @"$T/bomb.gz"
status_is 413 8 BODY_TOO_LARGE "gzip inflating past --max-body"
spans 51 many >"$T/51.json"
otlp traces --data-binary @"$T/51.json"
status_is 413 8 TOO_MANY_EVENTS "more events than --queue-max"
assert_contains "$(jq_ 'd["message"]')" "at most 50 (--queue-max)" "413 names the limit"
assert_eq 34 "$(size)" "a 413 writes nothing"

# ------------------------------------------------------------ 429 and 503
# Another process holds the store's write lock: the first request waits in
# the commit with its 50 places in the queue; the next one is told to retry.
# hold_lock SECONDS: take the lock in the background (LOCK_PID) and wait until it is held.
hold_lock() {
	rm -f "$T/locked"
	python3 -c '
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
open(sys.argv[3], "w").close()
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")' "$STORE" "$1" "$T/locked" &
	LOCK_PID=$!
	for _ in $(seq 100); do [ -e "$T/locked" ] && return 0; sleep 0.1; done
	fail "the lock was not taken"
}
# send_bg NAME FILE: POST FILE to /v1/traces in the background; NAME.{code,body,hdrs}.
send_bg() {
	curl -s -o "$T/$1.body" -D "$T/$1.hdrs" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary @"$2" "$URL/v1/traces" >"$T/$1.code" &
	BG_PID=$!
	# A small body is parsed and queued within milliseconds; leave it plenty.
	sleep 1.5
}
spans 50 held >"$T/50.json"
spans 1 later >"$T/1.json"
hold_lock 6
send_bg held "$T/50.json"
otlp traces --data-binary @"$T/1.json"
status_is 429 8 QUEUE_FULL "the queue is full"
assert_eq 1 "$(header Retry-After)" "429: Retry-After"
assert_eq '"1s"' "$(jq_ 'json.dumps([x for x in d["details"] if x["@type"] == "type.googleapis.com/google.rpc.RetryInfo"][0]["retryDelay"])')" "429: RetryInfo"
wait "$BG_PID"
wait "$LOCK_PID"
assert_eq "200 {}" "$(cat "$T/held.code") $(cat "$T/held.body")" "the waiting request went in once the lock was gone"
assert_eq 84 "$(size)" "its 50 spans"
sleep 1
otlp traces --data-binary @"$T/1.json"
assert_eq "200 {}" "$CODE $BODY" "the retry after Retry-After goes in"

# Held past the store's busy timeout (10 s): 503, nothing written, retry later.
spans 3 busy >"$T/3.json"
hold_lock 13
send_bg busy "$T/3.json"
wait "$BG_PID"
BODY=$(cat "$T/busy.body")
HDRS=$(tr -d '\r' <"$T/busy.hdrs")
CODE=$(cat "$T/busy.code")
status_is 503 14 BUSY "the store stayed locked"
assert_eq 1 "$(header Retry-After)" "503: Retry-After"
wait "$LOCK_PID"
assert_eq 85 "$(size)" "a 503 writes nothing"
otlp traces --data-binary @"$T/3.json"
assert_eq "200 {}" "$CODE $BODY" "retried once the store is free"
assert_eq 88 "$(size)" "the retry went in"

http GET /metrics
for s in 200 400 413 415 429 503; do
	assert_line "$BODY" "^agentrail_requests_total\\{route=\"POST /v1/traces\",status=\"$s\"\\} [1-9]" \
		"metrics count POST /v1/traces $s"
done
assert_line "$BODY" '^agentrail_requests_total\{route="POST /v1/logs",status="200"\} [1-9]' "metrics count /v1/logs"
stop_server
assert_eq 0 "$SRV_RC" "clean exit"

# ------------------------------------------------------------ 401, 403
tok() { "$AGENTRAIL" --store "$STORE" token create --role "$1" --actor admin | tail -n 1; }
W=$(tok writer)
R=$(tok reader)
start_server "$STORE"
otlp traces --data-binary '{}'
status_is 401 16 UNAUTHORIZED "no token"
assert_eq 'Bearer realm="agentrail"' "$(header WWW-Authenticate)" "401: WWW-Authenticate"
otlp traces -H "Authorization: Bearer $R" --data-binary '{}'
status_is 403 7 FORBIDDEN "a reader token"
spans 1 authed >"$T/authed.json"
otlp traces -H "Authorization: Bearer $W" --data-binary @"$T/authed.json"
assert_eq "200 {}" "$CODE $BODY" "a writer token posts spans"
otlp logs -H "Authorization: Bearer $W" --data-binary '{}'
assert_eq "200 {}" "$CODE $BODY" "and log records"
stop_server
assert_eq 0 "$SRV_RC" "clean exit"
finish

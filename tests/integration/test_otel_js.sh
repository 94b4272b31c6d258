#!/usr/bin/env bash
# The real OpenTelemetry JavaScript SDK (@opentelemetry/sdk-trace-base with
# @opentelemetry/exporter-trace-otlp-http, and the logs SDK) exports an agent
# run to a running agentrail serve: an invoke_agent span with a chat child
# and a failing execute_tool child, an ERROR log record inside the tool span,
# an agent span the log must refuse, then the spans again as a retry. Every
# resulting event is checked field by field through the HTTP API.
#
# The SDK comes from npm at the versions pinned in tests/otel-js/package-lock.json,
# installed with `npm ci` into the build tree (tests/otel-js under the build
# directory) and reused while the lock file is unchanged.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

SRC="$(cd "$(dirname "$0")/../otel-js" && pwd)"
JS="$ATR_TEST_TMP/../otel-js"
for tool in node npm; do
	command -v "$tool" >/dev/null || { fail "$tool is missing (scripts/bootstrap installs it)"; finish; }
done

# ------------------------------------------------------------ the SDK from npm
npm_ci "$SRC" "$JS"
cp "$SRC/export.mjs" "$JS/"
assert_eq 2.12.1 "$(node -p 'require(process.argv[1]).version' "$JS/node_modules/@opentelemetry/sdk-trace-base/package.json")" \
	"the pinned sdk-trace-base"
assert_eq 0.223.1 "$(node -p 'require(process.argv[1]).version' "$JS/node_modules/@opentelemetry/exporter-trace-otlp-http/package.json")" \
	"the pinned exporter-trace-otlp-http"

# ------------------------------------------------------------ export
start_server "$STORE"
run node "$JS/export.mjs" "$URL"
assert_eq 0 "$RC" "the exporter ran: $ERR"
J=$OUT
js() { py "$1" <<<"$J"; }
TRACE=$(js 'd["traceId"]')
assert_match "$TRACE" '^[0-9a-f]{32}$' "the SDK's trace id"
assert_eq 4 "$(js 'd["spansExported"]')" "four spans went out"
assert_eq '[0]' "$(js 'sorted({r["code"] for r in d["spanResults"]})')" "every span export: SUCCESS"
assert_eq '[0]' "$(js 'sorted({r["code"] for r in d["logResults"]})')" "the log export: SUCCESS"
assert_eq 0 "$(js 'd["retryResult"]["code"]')" "the retry: SUCCESS"
# The SDK logs a partial success as a warning: the refused span, and why.
assert_contains "$(js '"\n".join(d["diagnostics"])')" 'Received Partial Success response' "the SDK saw a partial success"
assert_contains "$(js '"\n".join(d["diagnostics"])')" '"rejectedSpans":"1"' "one span refused"
assert_contains "$(js '"\n".join(d["diagnostics"])')" "field 'actor' is 300 bytes; the limit is 256" "and why"

http GET /healthz
assert_eq 5 "$(jq_ 'd["size"]')" "five events: session_start, session_end, llm_call, tool_call, error; the retry added none"

# ------------------------------------------------------------ field by field
http GET "/api/v1/traces/$TRACE"
assert_eq 200 "$CODE" "the trace"
TREE=$BODY
# ev TYPE EXPR: EXPR over the one event of TYPE in the trace ('e'), found anywhere in the tree.
ev() {
	python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
def walk(es):
    for e in es:
        yield e
        yield from walk(e["children"])
found = [e for e in walk(d["events"]) if e["type"] == sys.argv[1]]
assert len(found) == 1, "%d events of type %s" % (len(found), sys.argv[1])
e = found[0]
v = eval(sys.argv[2])
print(json.dumps(v) if not isinstance(v, str) else v)' "$1" "$2" <<<"$TREE"
}
assert_eq '["session_start"]' "$(py '[e["type"] for e in d["events"]]' <<<"$TREE")" "one root: the agent's session"
assert_eq '["error", "llm_call", "session_end", "tool_call"]' \
	"$(py 'sorted([c["type"] for c in d["events"][0]["children"]] + [g["type"] for c in d["events"][0]["children"] for g in c["children"]])' <<<"$TREE")" \
	"chat, tool and session_end under the session; the log record under the tool"
START=$(ev session_start 'e["event_id"]')
TOOL=$(ev tool_call 'e["event_id"]')

# Event ids derive from the trace and span ids (docs/otel.md): version 8 UUIDs of SHA-256.
uuid8() {
	python3 -c '
import hashlib, sys
h = bytearray(hashlib.sha256(b"agentrail otlp span\0" + bytes.fromhex(sys.argv[1]) + bytes.fromhex(sys.argv[2]) + sys.argv[3].encode()).digest()[:16])
h[6] = (h[6] & 0x0F) | 0x80
h[8] = (h[8] & 0x3F) | 0x80
x = h.hex()
print("-".join([x[:8], x[8:12], x[12:16], x[16:20], x[20:]]))' "$TRACE" "$1" "${2:-}"
}
assert_eq "$(uuid8 "$(js 'd["spans"]["agent"]')")" "$START" "session_start id from the agent span id"
assert_eq "$(uuid8 "$(js 'd["spans"]["agent"]')" end)" "$(ev session_end 'e["event_id"]')" "session_end id"
assert_eq "$(uuid8 "$(js 'd["spans"]["chat"]')")" "$(ev llm_call 'e["event_id"]')" "llm_call id from the chat span id"
assert_eq "$(uuid8 "$(js 'd["spans"]["tool"]')")" "$TOOL" "tool_call id from the tool span id"

assert_eq "[\"session_start\", \"pipeline\", \"WeatherBot\", \"agent-42\", \"1.0.3\", \"gpt-4o-mini\", \"conv-js-1\", \"$TRACE\", \"2026-01-01T00:00:00.000000Z\"]" \
	"$(ev session_start '[e[k] for k in ("type", "level", "actor", "agent_id", "agent_version", "model", "session_id", "trace_id", "ts")]')" \
	"session_start: header"
assert_eq '[false, false, false]' "$(ev session_start '["outcome" in e, "usage" in e, "parent_event_id" in e]')" \
	"session_start: no outcome, usage or parent (they close the session)"
assert_eq "[\"$(js 'd["spans"]["agent"]')\", \"internal\", \"invoke_agent WeatherBot\", \"ok\", \"openai\", 2000, \"otel-js-agent\", \"0.9.0\", \"weather-agent\", \"1.4.2\"]" \
	"$(ev session_start '[e["detail"]["otel"]["span_id"], e["detail"]["otel"]["kind"], e["detail"]["otel"]["name"], e["detail"]["otel"]["status"]["code"], e["detail"]["provider"], e["detail"]["latency_ms"], e["detail"]["otel"]["resource"]["service.name"], e["detail"]["otel"]["resource"]["service.version"], e["detail"]["otel"]["scope"]["name"], e["detail"]["otel"]["scope"]["version"]]')" \
	"session_start: detail"
assert_eq "[\"$START\", \"2026-01-01T00:00:02.000000Z\", \"success\", {\"input_tokens\": 321, \"output_tokens\": 54}, \"WeatherBot\", \"conv-js-1\", 2000000000]" \
	"$(ev session_end '[e[k] for k in ("parent_event_id", "ts", "outcome", "usage", "actor", "session_id")] + [e["detail"]["duration_ns"]]')" \
	"session_end: under session_start, when the span ended, how, what it cost"

assert_eq "[\"$START\", \"otel-js-agent\", \"gpt-4o-mini-2024-07-18\", {\"input_tokens\": 321, \"output_tokens\": 54}, \"conv-js-1\", \"2026-01-01T00:00:00.100000Z\", \"agent\"]" \
	"$(ev llm_call '[e[k] for k in ("parent_event_id", "actor", "model", "usage", "session_id", "ts", "level")]')" \
	"llm_call: header (the model that answered; the service acted: the span names no agent)"
assert_eq '["client", 1250, "user", "Weather in Paris?", ["tool_calls"], 0.25, "gpt-4o-mini", false]' \
	"$(ev llm_call '[e["detail"]["otel"]["kind"], e["detail"]["latency_ms"], e["detail"]["input_messages"][0]["role"], e["detail"]["input_messages"][0]["parts"][0]["content"], e["detail"]["otel"]["attributes"]["gen_ai.response.finish_reasons"], e["detail"]["otel"]["attributes"]["gen_ai.request.temperature"], e["detail"]["otel"]["attributes"]["gen_ai.request.model"], "gen_ai.input.messages" in e["detail"]["otel"]["attributes"]]')" \
	"llm_call: detail"

assert_eq "[\"$START\", \"get_weather\", \"error\", \"otel-js-agent\", \"conv-js-1\", \"2026-01-01T00:00:01.400000Z\"]" \
	"$(ev tool_call '[e[k] for k in ("parent_event_id", "target", "outcome", "actor", "session_id", "ts")]')" \
	"tool_call: header (span status ERROR: outcome error)"
assert_eq '["call_js_1", {"city": "Paris"}, "error", "weather API timed out", "exception", "weather API timed out", 250, "function"]' \
	"$(ev tool_call '[e["detail"]["tool_call_id"], e["detail"]["arguments"], e["detail"]["otel"]["status"]["code"], e["detail"]["otel"]["status"]["message"], e["detail"]["otel"]["events"][0]["name"], e["detail"]["otel"]["events"][0]["attributes"]["exception.message"], e["detail"]["latency_ms"], e["detail"]["otel"]["attributes"]["gen_ai.tool.type"]]')" \
	"tool_call: detail"

assert_eq "[\"$TOOL\", \"WeatherBot\", \"error\", \"conv-js-1\", \"$TRACE\", \"2026-01-01T00:00:01.640000Z\", \"get_weather failed: weather API timed out\", 17, \"ERROR\", \"$(js 'd["spans"]["tool"]')\"]" \
	"$(ev error '[e[k] for k in ("parent_event_id", "actor", "outcome", "session_id", "trace_id", "ts")] + [e["detail"]["body"], e["detail"]["otel"]["severity_number"], e["detail"]["otel"]["severity_text"], e["detail"]["otel"]["span_id"]]')" \
	"the ERROR log record: an error event under the tool call"

# The same through the CLI on the store, once the server has stopped.
stop_server
assert_eq 0 "$SRV_RC" "clean exit"
expect_exit 0 ar query --trace "$TRACE" --json
assert_eq '["llm_call", "tool_call", "session_start", "session_end", "error"]' \
	"$(py '[r["type"] for r in rows]' <<<"$OUT")" "agentrail query --trace: in the order the exports arrived"
expect_exit 2 ar verify # OK but unanchored: no key here
finish

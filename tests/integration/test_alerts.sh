#!/usr/bin/env bash
# Alerts on a real server: events that trigger every rule get alert events
# pointing at their seq; the webhook gets each (after two 500s, retried);
# GET /api/v1/alerts filters and pages; `alerts list` locally and in client
# mode; an event the CLI writes into the store file is alerted too; a
# restart appends no duplicate and misses nothing (also after a run with
# --alerts off, caught up by `alerts scan`); a hanging webhook never slows
# ingest.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

wait_for() { for _ in $(seq 150); do "$@" && return 0; sleep 0.1; done; return 1; }

# A webhook receiver: POST bodies kept as DIR/NNNN.json after answering 500
# to the first FAILS posts; with "hang" it never answers.
RECEIVER='
import http.server, os, sys, threading, time
port, d, fails, mode = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.makedirs(d, exist_ok=True)
n = [0]
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if mode == "hang":
            time.sleep(3600)
        with lock:
            n[0] += 1
            k = n[0]
            open(os.path.join(d, "posts"), "a").write("%d %s\n" % (k, self.headers.get("Content-Type")))
        if k <= fails:
            self.send_response(500); self.end_headers(); return
        open(os.path.join(d, "%04d.json" % k), "wb").write(body)
        self.send_response(200); self.end_headers()
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
'
RECV_PIDS=()
start_receiver() { # PORT DIR FAILS MODE
	python3 -c "$RECEIVER" "$1" "$2" "$3" "$4" 2>"$2.err" &
	RECV_PIDS+=($!)
	wait_for curl -s -o /dev/null "http://127.0.0.1:$1/" || fail "receiver on $1 did not start"
}
trap '[ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null; for p in "${RECV_PIDS[@]}"; do kill "$p" 2>/dev/null; done; true' EXIT

seq_of() { jq_ 'd["results"][0]["seq"]'; }
ev() { post "$1"; [ "$CODE" = 201 ] || fail "ingest $CODE: $BODY"; seq_of; }
alerts_json() { curl -s "$URL/api/v1/alerts?limit=1000${1:-}"; }
nalerts() { alerts_json | py 'len(d["items"])'; }
has_n_alerts() { [ "$(nalerts)" -ge "$1" ]; }
# The store's alert events: "trigger_seq rule" lines, sorted.
stored_alerts() { ar query --type alert --json | py '"\n".join(sorted("%s %s" % (r["detail"]["trigger_seq"], r["target"]) for r in rows))'; }
hook_bodies() { for f in "$1"/*.json; do cat "$f"; echo; done; }

HOOK_PORT=$(free_port)
start_receiver "$HOOK_PORT" "$T/hook" 2 ok
start_server "$STORE" --alert-webhook "http://127.0.0.1:$HOOK_PORT/hook" \
	--alert-sensitive '*.key' --alert-fail-burst 3/60 --alert-token-spike 4

# ---- every rule
S_SSH=$(ev '{"type":"file_read","actor":"a","agent_id":"coder","target":"/home/u/.ssh/id_rsa","session_id":"s1","job_id":"j1"}')
S_KEY=$(ev '{"type":"file_write","actor":"a","target":"tls/server.key","session_id":"s1"}')
ev '{"type":"file_read","actor":"a","target":"docs/environment.md","session_id":"s1"}' >/dev/null
S_DENY=$(ev '{"type":"decision","actor":"gate","reason":"r","job_id":"j1","session_id":"s1","policy":{"decision":"DENY","rule_id":"no-rm"}}')
ev '{"type":"command","actor":"a","target":"ls","exit_code":0,"job_id":"j2","session_id":"s2"}' >/dev/null
S_AFTER=$(ev '{"type":"command","actor":"a","target":"rm -rf /","exit_code":0,"job_id":"j1","session_id":"s1"}')
ev '{"type":"command","actor":"a","target":"make","exit_code":2,"session_id":"s3"}' >/dev/null
ev '{"type":"command","actor":"a","target":"make","exit_code":2,"session_id":"s3"}' >/dev/null
S_BURST=$(ev '{"type":"command","actor":"a","target":"make","exit_code":2,"session_id":"s3"}')
for s in h1 h2 h3; do
	ev "{\"type\":\"llm_call\",\"actor\":\"a\",\"agent_id\":\"coder\",\"model\":\"m\",\"session_id\":\"$s\",\"usage\":{\"input_tokens\":100,\"output_tokens\":0}}" >/dev/null
done
ev '{"type":"llm_call","actor":"a","agent_id":"coder","model":"m","session_id":"h4","usage":{"input_tokens":400,"output_tokens":0}}' >/dev/null
S_SPIKE=$(ev '{"type":"llm_call","actor":"a","agent_id":"coder","model":"m","session_id":"h4","usage":{"input_tokens":1,"output_tokens":0}}')
ev '{"type":"output","actor":"a","session_id":"s5","rules_hash":"r1","system_prompt_hash":"p1"}' >/dev/null
ev '{"type":"output","actor":"a","session_id":"s6","rules_hash":"r2","system_prompt_hash":"p2"}' >/dev/null
S_RULES=$(ev '{"type":"output","actor":"a","session_id":"s5","rules_hash":"r2","system_prompt_hash":"p1"}')
S_PROMPT=$(ev '{"type":"output","actor":"a","session_id":"s5","rules_hash":"r2","system_prompt_hash":"p9"}')

wait_for has_n_alerts 8 || fail "8 alerts expected, got $(nalerts)"
EXPECT=$(printf '%s\n' "$S_SSH sensitive_path" "$S_KEY sensitive_path" "$S_DENY deny" \
	"$S_AFTER command_after_deny" "$S_BURST command_failure_burst" "$S_SPIKE token_spike" \
	"$S_RULES rules_changed" "$S_PROMPT system_prompt_changed" | sort)
GOT=$(alerts_json | py '"\n".join(sorted("%s %s" % (i["trigger_seq"], i["rule"]) for i in d["items"]))')
assert_eq "$EXPECT" "$GOT" "one alert per rule, each with its trigger's seq"
alerts_json | py '" ".join([[i["severity"], i["session_id"], i["job_id"], ",".join(sorted(i))] for i in d["items"] if i["rule"] == "sensitive_path" and i["target"].endswith("id_rsa")][0])' >"$T/item"
assert_eq "medium s1 j1 event_id,job_id,reason,rule,seq,session_id,severity,target,trigger_seq,ts" \
	"$(cat "$T/item")" "item shape"
http GET "/api/v1/events?type=alert&limit=1000"
assert_eq 0 "$(jq_ 'sum(1 for e in d["events"] if e["parent_event_id"] is None or e["actor"] != "agentrail-alerts")')" \
	"alert events point at their trigger"

# ---- the webhook: every alert, after two 500s
delivered() { [ "$(ls "$T/hook"/*.json 2>/dev/null | wc -l)" -ge 8 ]; }
wait_for delivered || fail "webhook got $(ls "$T/hook"/*.json 2>/dev/null | wc -l) of 8"
GOT_HOOK=$(hook_bodies "$T/hook" | py '"\n".join(sorted("%s %s" % (r["detail"]["trigger_seq"], r["target"]) for r in rows))')
assert_eq "$EXPECT" "$GOT_HOOK" "webhook got each alert"
assert_eq "application/json" "$(head -1 "$T/hook/posts" | cut -d' ' -f2)" "webhook content type"
hook_bodies "$T/hook" | py 'all(isinstance(r["seq"], int) and r["type"] == "alert" for r in rows)' >"$T/ok"
assert_eq true "$(cat "$T/ok")" "webhook bodies are alert events with their seq"
METRICS=$(curl -s "$URL/metrics")
assert_contains "$METRICS" "agentrail_alert_webhook_failures_total 2" "two failed deliveries retried"
assert_contains "$METRICS" "agentrail_alert_webhook_delivered_total 8" "metrics: delivered"
assert_contains "$(cat "$T/serve.err")" "cannot deliver alert" "failed delivery logged"

# ---- GET /api/v1/alerts: filters, paging, errors
assert_eq "$S_DENY" "$(alerts_json '&rule=deny' | py '" ".join(str(i["trigger_seq"]) for i in d["items"])')" "filter rule"
assert_eq "$S_AFTER $S_DENY $S_SSH" "$(alerts_json '&job_id=j1' | py '" ".join(str(i["trigger_seq"]) for i in d["items"])')" "filter job, newest first"
assert_eq "s5 s5" "$(alerts_json '&session_id=s5' | py '" ".join(i["session_id"] for i in d["items"])')" "filter session"
assert_eq "" "$(alerts_json '&session_id=s5&rule=deny' | py '" ".join(i["rule"] for i in d["items"])')" "filters combine"
PAGES=""
CUR=""
for _ in $(seq 10); do
	http GET "/api/v1/alerts?limit=3${CUR:+&cursor=$CUR}"
	PAGES="$PAGES $(jq_ '",".join(str(i["seq"]) for i in d["items"])')"
	CUR=$(jq_ 'd["next_cursor"] or ""')
	[ -z "$CUR" ] && break
done
assert_eq "$(alerts_json | py '",".join(str(i["seq"]) for i in d["items"])')" \
	"$(echo $PAGES | tr ' ' ',')" "pages of 3 cover the list in order"
assert_eq 3 "$(echo $PAGES | wc -w)" "8 alerts in pages of 3"
http GET "/api/v1/alerts?rule=nope"
assert_eq 400 "$CODE" "unknown rule"
assert_contains "$BODY" "sensitive_path" "the message names the rules"
http GET "/api/v1/alerts?limit=0"
assert_eq 400 "$CODE" "limit 0"
http GET "/api/v1/alerts?cursor=zz"
assert_eq 400 "$CODE" "bad cursor"
http GET "/api/v1/alerts?colour=red"
assert_eq 400 "$CODE" "unknown parameter"

# ---- alerts list, client mode and local
expect_exit 0 "$AGENTRAIL" --store "$URL" alerts list
assert_eq 8 "$(echo "$OUT" | wc -l)" "client mode: 8 lines"
assert_contains "$OUT" "trigger $S_DENY" "client mode: trigger seq"
expect_exit 0 "$AGENTRAIL" --store "$URL" alerts list --rule token_spike --json
assert_eq "$S_SPIKE" "$(py '" ".join(str(i["trigger_seq"]) for i in d)' <<<"$OUT")" "client mode: --rule --json"
expect_exit 0 ar alerts list --job j1 --limit 2
assert_eq 2 "$(echo "$OUT" | wc -l)" "local: --job --limit"
assert_contains "$OUT" "command_after_deny" "local: newest first"
expect_exit 64 ar alerts list --rule nope
expect_exit 64 ar alerts
expect_exit 64 "$AGENTRAIL" --store "$URL" alerts scan

# ---- an event written by the CLI straight into the store file
S_CLI=$(ar record --type file_read --actor cli --target /srv/app/.env --session s9 | sed -n 's/^seq \([0-9]*\) .*/\1/p')
cli_alerted() { alerts_json '&session_id=s9' | py 'len(d["items"])' | grep -qx 1; }
wait_for cli_alerted || fail "no alert for the CLI's event"
assert_eq "$S_CLI" "$(alerts_json '&session_id=s9' | py 'd["items"][0]["trigger_seq"]')" "CLI event alerted with its seq"

# ---- restart: no duplicate, nothing missed
stop_server
assert_eq 0 "$SRV_RC" "clean stop"
BEFORE=$(stored_alerts)
assert_eq 9 "$(echo "$BEFORE" | wc -l)" "9 alerts stored"
start_server "$STORE" --alert-fail-burst 3/60 --alert-token-spike 4
caught_up() { curl -s "$URL/metrics" | grep -q "^agentrail_alerts_next_seq $(ar query --count)$"; }
wait_for caught_up || fail "restarted alerter did not catch up"
assert_eq "$BEFORE" "$(stored_alerts)" "restart: no duplicate alert"
S_NEW=$(ev '{"type":"command","actor":"a","target":"rm x","exit_code":0,"job_id":"j1"}')
ev '{"type":"decision","actor":"gate","reason":"r","job_id":"j7","policy":{"decision":"DENY"}}' >/dev/null
ev '{"type":"command","actor":"a","target":"rm y","exit_code":0,"job_id":"j7"}' >/dev/null
wait_for has_n_alerts 11 || fail "after restart: 11 alerts expected, got $(nalerts)"
assert_eq "" "$(alerts_json | py '" ".join(str(i["trigger_seq"]) for i in d["items"] if i["trigger_seq"] == '"$S_NEW"')')" \
	"a second command after the same DENY is not a second alert (the DENY state survived the restart)"
assert_eq "command_after_deny" "$(alerts_json '&job_id=j7&rule=command_after_deny' | py 'd["items"][0]["rule"]')" "new DENY after restart"
stop_server

# --alerts off: nothing; then `alerts scan` catches up, and a server after it adds nothing
start_server "$STORE" --alerts off
S_OFF=$(ev '{"type":"file_read","actor":"a","target":"/root/.aws/credentials","session_id":"s10"}')
ev '{"type":"file_read","actor":"a","target":"/root/.ssh/config","session_id":"s10"}' >/dev/null
sleep 0.5
http GET "/api/v1/alerts?session_id=s10"
assert_eq 0 "$(jq_ 'len(d["items"])')" "--alerts off: no alert"
assert_not_contains "$(curl -s "$URL/metrics")" "agentrail_alerts_total" "--alerts off: no alerter"
stop_server
expect_exit 0 ar alerts scan
assert_contains "$OUT" "2 alerts appended" "scan appends the missed alerts"
expect_exit 0 ar alerts scan
assert_contains "$OUT" "0 alerts appended" "a second scan appends nothing"
AFTER_SCAN=$(stored_alerts)
start_server "$STORE"
wait_for caught_up || fail "alerter did not catch up after scan"
sleep 0.3
assert_eq "$AFTER_SCAN" "$(stored_alerts)" "server after scan: no duplicate"
stop_server

# ---- a hanging webhook never slows ingest
HANG_PORT=$(free_port)
start_receiver "$HANG_PORT" "$T/hang" 0 hang
start_server "$STORE" --alert-webhook "http://127.0.0.1:$HANG_PORT/hook"
N0=$(nalerts)
MAX=0
for i in $(seq 40); do
	t=$(curl -s -o /dev/null -w '%{time_total}' -H 'Content-Type: application/json' \
		--data-binary "{\"type\":\"file_read\",\"actor\":\"a\",\"target\":\"/k/$i.pem\",\"session_id\":\"hang\"}" "$URL/api/v1/events")
	MAX=$(python3 -c "print(max($MAX, $t))")
done
echo "max POST latency with a hanging webhook: ${MAX}s" >&2
assert_eq True "$(python3 -c "print($MAX < 1.0)")" "POST latency stays low while the webhook hangs (max ${MAX}s)"
hang_alerted() { has_n_alerts $((N0 + 40)); }
wait_for hang_alerted || fail "alerts stopped while the webhook hangs: $(nalerts)"
assert_contains "$(curl -s "$URL/metrics")" "agentrail_alert_webhook_queue" "webhook queue metric"
stop_server
assert_eq 0 "$SRV_RC" "stops with a hanging webhook"

# bad options
expect_exit 64 "$AGENTRAIL" --store "$STORE" serve --alerts maybe
expect_exit 64 "$AGENTRAIL" --store "$STORE" serve --alert-fail-burst 5
expect_exit 64 "$AGENTRAIL" --store "$STORE" serve --alert-fail-burst 0/60
expect_exit 64 "$AGENTRAIL" --store "$STORE" serve --alert-token-spike 0
expect_exit 64 "$AGENTRAIL" --store "$STORE" serve --alert-webhook ftp://x
expect_exit 64 "$AGENTRAIL" --store "$STORE" serve --alerts off --alert-webhook http://x/
assert_contains "$ERR" "need alerts on" "off with a webhook"

finish

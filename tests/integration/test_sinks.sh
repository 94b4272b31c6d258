#!/usr/bin/env bash
# Sinks and producers end to end: configuration errors naming the variable;
# `agentrail record` through the stdout and file sinks; the file sink
# verified by `agentrail verify --export` (signed checkpoint, appended across
# runs, an independent Python verifier, tampering refused); the webhook sink
# against a Python receiver that is down first, then up, then picky; and the
# Outage must-show: 10,000 events spooled while the server is down, all
# delivered once and in order after it starts (by a new producer, and by
# one still running), the store verifying; and a producer killed with
# SIGKILL mid-delivery losing nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

EMIT="$(dirname "$AGENTRAIL")/tests/producer_emit"
[ -x "$EMIT" ] || { echo "$TEST_NAME: $EMIT is missing (build the tests)"; exit 1; }
command -v python3 >/dev/null || { echo "$TEST_NAME: python3 is missing"; exit 1; }

RECV_PID=""
BG_PID=""
trap '[ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null; [ -n "$RECV_PID" ] && kill -KILL "$RECV_PID" 2>/dev/null; [ -n "$BG_PID" ] && kill -KILL "$BG_PID" 2>/dev/null; true' EXIT

for v in SINK STORE TOKEN LOG_FILE KEY_FILE URL LOG_LEVEL LOG_FILE_READS LOG_COMMANDS LOG_TOKENS SPOOL_DIR; do
	unset "AGENTRAIL_$v"
done
export AGENTRAIL_SPOOL_DIR="$T/spool"

# segments DIR: lines waiting in the spool's segment files under DIR.
segments() { find "$1" -name '*.seg' -exec cat {} + 2>/dev/null | wc -l; }

# start_server_at PORT STORE [OPTIONS...]: like start_server, on a port chosen before.
start_server_at() {
	local port=$1 store=$2
	shift 2
	"$AGENTRAIL" --store "$store" serve --listen "127.0.0.1:$port" "$@" \
		>"$T/serve.out" 2>"$T/serve.err" &
	SRV_PID=$!
	URL="http://127.0.0.1:$port"
	for _ in $(seq 100); do
		curl -sf "$URL/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "server did not start: $(cat "$T/serve.err")"
	return 1
}

# unused_port: a free loopback port on which nothing answers.
unused_port() {
	local p
	p=$(free_port)
	if curl -s -m 1 "http://127.0.0.1:$p/" >/dev/null 2>&1; then p=$(free_port); fi
	echo "$p"
}

# check_order STORE SESSION N [IDS_FILE]: the session's records are steps 0..N-1 in seq
# order, each event_id once (and every id of IDS_FILE among them); prints "ok" or why not.
check_order() {
	"$AGENTRAIL" --store "$1" export >"$T/check.jsonl" 2>/dev/null
	python3 - "$T/check.jsonl" "$2" "$3" "${4:-}" <<'EOF'
import json, sys
path, session, n, ids = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
recs = []
for line in open(path):
    d = json.loads(line)
    if "record" in d and d["record"].get("session_id") == session:
        recs.append(d["record"])
steps = [r["step"] for r in recs]
seqs = [r["seq"] for r in recs]
evids = [r["event_id"] for r in recs]
if seqs != sorted(seqs):
    print("records out of seq order"); sys.exit()
if steps != list(range(n)):
    bad = next((i for i, s in enumerate(steps) if s != i), len(steps))
    print("steps are not 0..%d in order: %d records, first wrong at %d" % (n - 1, len(steps), bad)); sys.exit()
if len(set(evids)) != len(evids):
    print("duplicate event_ids"); sys.exit()
if ids:
    want = [l.strip() for l in open(ids) if l.strip()]
    if not set(want) <= set(evids):
        print("%d acknowledged events missing" % len(set(want) - set(evids))); sys.exit()
    if evids[:len(want)] != want:
        print("acknowledged events not first and in order"); sys.exit()
print("ok")
EOF
}

# ---------------------------------------------------------------- configuration
for bad in "AGENTRAIL_SINK=kafka" "AGENTRAIL_LOG_LEVEL=loud" "AGENTRAIL_LOG_FILE_READS=yes" \
	"AGENTRAIL_LOG_COMMANDS=1" "AGENTRAIL_LOG_TOKENS=no" "AGENTRAIL_URL=ftp://x/y"; do
	expect_exit 1 env "$bad" "$AGENTRAIL" --store "$STORE" record --type output --actor a
	assert_contains "$ERR" "'${bad%%=*}'" "the refusal of $bad"
	expect_exit 1 env AGENTRAIL_STORE="$T/never.db" "$bad" "$EMIT" --events 1
	assert_contains "$ERR" "'${bad%%=*}'" "producer_emit's refusal of $bad"
done
expect_exit 1 env AGENTRAIL_SINK=file "$AGENTRAIL" record --type output --actor a
assert_contains "$ERR" "AGENTRAIL_LOG_FILE" "file sink without a file"
expect_exit 1 env AGENTRAIL_SINK=webhook "$AGENTRAIL" record --type output --actor a
assert_contains "$ERR" "AGENTRAIL_URL" "webhook sink without a URL"
expect_exit 64 env AGENTRAIL_SINK=stdout "$AGENTRAIL" --store "$STORE" record --type output --actor a
assert_contains "$ERR" "'--store'" "--store with another sink"
[ ! -e "$STORE" ] && pass || fail "a refused record created the store"

# ---------------------------------------------------------------- stdout
run env AGENTRAIL_SINK=stdout "$AGENTRAIL" record --type tool_call --actor ci --target ls \
	--detail '{"n":1}'
assert_eq 0 "$RC" "stdout record"
assert_eq 1 "$(wc -l <<<"$OUT")" "one line"
assert_eq '["ci", "ls", {"n": 1}, true, true]' \
	"$(py '[d["actor"], d["target"], d["detail"], len(d["event_id"]) == 36, d["ts"].endswith("Z")]' <<<"$OUT")" \
	"the stdout line"
run env AGENTRAIL_SINK=stdout AGENTRAIL_LOG_COMMANDS=false "$AGENTRAIL" record --type command \
	--actor ci --target make --exit-code 0
assert_eq "0:" "$RC:$OUT" "a filtered command prints nothing"
run env AGENTRAIL_SINK=stdout "$EMIT" --events 300
assert_eq 301 "$(wc -l <<<"$OUT")" "300 events and the summary line"
assert_eq "[0, 299]" "$(head -300 <<<"$OUT" | py '[rows[0]["step"], rows[-1]["step"]]')" "stdout order"

# ---------------------------------------------------------------- file
LOGF="$T/ci/audit.jsonl"
mkdir -p "$T/ci"
export AGENTRAIL_SINK=file AGENTRAIL_LOG_FILE="$LOGF"
run "$AGENTRAIL" record --type session_start --actor ci --session RUN1
assert_match "$OUT" '^seq 0  event_id [0-9a-f-]{36}$' "file sink record line"
run "$AGENTRAIL" record --type command --actor ci --session RUN1 --target "make test" \
	--exit-code 0 --print-json
assert_eq '[1, false]' "$(py '[d["seq"], d["duplicate"]]' <<<"$OUT")" "file sink --print-json"
expect_exit 2 "$AGENTRAIL" verify --export "$LOGF"
assert_contains "$OUT" "UNANCHORED: 2 records consistent" "unsigned file sink verifies"
[ ! -e "$LOGF.checkpoint" ] && pass || fail "a checkpoint without a key"
# A second run, signed: 1000 more events from a program, one log.
expect_exit 0 "$AGENTRAIL" --store "$STORE" keygen --name ci.example/agentrail --out "$T/ci-key"
export AGENTRAIL_KEY_FILE="$T/ci-key.key"
expect_exit 0 "$EMIT" --events 1000 --session RUN2
expect_exit 0 "$AGENTRAIL" verify --export "$LOGF" --key "$T/ci-key.pub" --checkpoint "$LOGF.checkpoint"
assert_contains "$OUT" "OK: 1002 records consistent" "signed file sink verifies"
assert_eq "1002" "$(sed -n 2p "$LOGF.checkpoint")" "checkpoint size"
# The independent verifier, with the checkpoint as the export's first line.
python3 -c 'import json,sys; print(json.dumps({"checkpoint": open(sys.argv[1]).read()}))' \
	"$LOGF.checkpoint" >"$T/combined.jsonl"
cat "$LOGF" >>"$T/combined.jsonl"
expect_exit 0 python3 "$(dirname "$0")/indep_verify.py" export "$T/combined.jsonl" "$T/ci-key.pub"
assert_eq "1002 1" "$OUT" "independent verifier"
# A third run appends; until it is re-signed the tail is unanchored, then OK again.
run "$AGENTRAIL" record --type session_end --actor ci --session RUN2
assert_match "$OUT" '^seq 1002  ' "third run continues the seq"
expect_exit 0 "$AGENTRAIL" verify --export "$LOGF" --key "$T/ci-key.pub" --checkpoint "$LOGF.checkpoint"
assert_contains "$OUT" "OK: 1003 records consistent" "re-signed after the third run"
# Tampering: verify fails, and the sink refuses to extend and re-sign it.
cp "$LOGF" "$T/pristine.jsonl"
sed -i '500s/"actor":"emitter"/"actor":"mallory"/' "$LOGF"
expect_exit 1 "$AGENTRAIL" verify --export "$LOGF" --key "$T/ci-key.pub" --checkpoint "$LOGF.checkpoint"
expect_exit 1 "$AGENTRAIL" record --type output --actor ci
assert_contains "$ERR" "line 500" "tampered line named"
assert_contains "$ERR" "refusing to extend" "tampered file refused"
cp "$T/pristine.jsonl" "$LOGF"
# A file cut short under its checkpoint is refused too.
head -n 10 "$T/pristine.jsonl" >"$LOGF"
expect_exit 1 "$AGENTRAIL" record --type output --actor ci
assert_contains "$ERR" "vouches for 1003 records" "truncation against the checkpoint"
cp "$T/pristine.jsonl" "$LOGF"
unset AGENTRAIL_SINK AGENTRAIL_LOG_FILE AGENTRAIL_KEY_FILE

# ---------------------------------------------------------------- webhook
cat >"$T/recv.py" <<'EOF'
import http.server, json, sys
port, out, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        events = json.loads(body)
        status = 200
        if mode == "picky" and any(e.get("actor") == "bad" for e in events):
            status = 422
        if status == 200:
            with open(out, "a") as f:
                for e in events:
                    f.write(json.dumps(e) + "\n")
            with open(out + ".meta", "a") as f:
                f.write("%s %s %d\n" % (self.headers.get("Authorization"),
                                        self.headers.get("Content-Type"), len(events)))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
start_receiver() {
	python3 "$T/recv.py" "$1" "$2" "$3" &
	RECV_PID=$!
	for _ in $(seq 50); do
		curl -s -m 1 -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "the receiver did not start"
}
stop_receiver() { kill "$RECV_PID" 2>/dev/null || true; wait "$RECV_PID" 2>/dev/null || true; RECV_PID=""; }

WPORT=$(unused_port)
export AGENTRAIL_SINK=webhook AGENTRAIL_URL="http://127.0.0.1:$WPORT/hook" AGENTRAIL_TOKEN=atr_hooktoken
export AGENTRAIL_SPOOL_DIR="$T/wspool"
# Down: record still succeeds (the event is safe in the spool) and says so.
run "$AGENTRAIL" record --type output --actor ci --session W --step 0
assert_eq 0 "$RC" "record with the webhook down"
assert_match "$OUT" '^event_id [0-9a-f-]{36}$' "record's line with the webhook down"
assert_contains "$ERR" "it will be delivered later" "record says it is spooled"
expect_exit 2 "$EMIT" --events 500 --start 1 --session W --flush-ms 300
assert_eq 501 "$(segments "$T/wspool")" "501 events spooled while the webhook is down"
# Up: the next producer replays them, in order, once.
start_receiver "$WPORT" "$T/hook.jsonl" ok
expect_exit 0 "$EMIT" --events 0 --flush-ms 30000
assert_eq 501 "$(py 'd["replayed"]' <<<"$OUT")" "replayed count"
assert_eq 501 "$(wc -l <"$T/hook.jsonl")" "the webhook got every event"
assert_eq "ok" "$(py '"ok" if [r["step"] for r in rows] == list(range(501)) and len({r["event_id"] for r in rows}) == 501 else "bad"' <"$T/hook.jsonl")" \
	"webhook order, once each"
assert_eq "Bearer atr_hooktoken application/json" "$(head -1 "$T/hook.jsonl.meta" | cut -d' ' -f1-3)" \
	"webhook headers"
assert_eq 0 "$(segments "$T/wspool")" "the webhook spool is empty"
stop_receiver
# Picky: a receiver that refuses some events (422) gets the rest; the refused are logged, not retried.
: >"$T/hook.jsonl"
start_receiver "$WPORT" "$T/hook.jsonl" picky
run "$EMIT" --events 20 --actor good --session P --flush-ms 20000
assert_eq 0 "$RC" "picky receiver, good events"
expect_exit 1 "$AGENTRAIL" record --type output --actor bad --session P2
assert_contains "$ERR" "refused for good" "a refused event is logged"
assert_contains "$ERR" "HTTP 422" "with the receiver's answer"
expect_exit 0 "$AGENTRAIL" record --type output --actor good --session P2
assert_eq 21 "$(wc -l <"$T/hook.jsonl")" "only the good events arrive"
assert_eq 0 "$(segments "$T/wspool")" "nothing left to retry"
stop_receiver
unset AGENTRAIL_SINK AGENTRAIL_URL AGENTRAIL_TOKEN

# ---------------------------------------------------------------- Outage (must-show)
export AGENTRAIL_SPOOL_DIR="$T/spool"
SPORT=$(unused_port)
mkdir -p "$T/srv" "$T/keys"
SRV="$T/srv/srv.db"
export AGENTRAIL_STORE="http://127.0.0.1:$SPORT"
expect_exit 0 "$AGENTRAIL" --store "$T/keys.db" keygen --name test/sinks --out "$T/keys/srv-key"
# 10,000 events while the server is down: they spool; emit never blocks.
expect_exit 2 "$EMIT" --events 10000 --session OUT --ids "$T/out.ids" --flush-ms 200
assert_eq 10000 "$(py 'd["spooled"]' <<<"$OUT")" "10,000 spooled"
echo "outage: emitting 10,000 into the spool: $(py 'round(10000 / d["emit_s"])' <<<"$OUT") events/s" >&2
assert_eq 10000 "$(segments "$T/spool")" "10,000 lines in the spool"
assert_eq 10000 "$(wc -l <"$T/out.ids")" "10,000 acknowledged"
# The server starts; a new producer replays the spool before anything else.
start_server_at "$SPORT" "$SRV" --key "$T/keys/srv-key.key"
expect_exit 0 "$EMIT" --events 0 --flush-ms 60000
assert_eq 10000 "$(py 'd["replayed"]' <<<"$OUT")" "10,000 replayed"
echo "outage: replaying 10,000 spooled events: $(py 'round(10000 / d["flush_s"])' <<<"$OUT") events/s" >&2
assert_eq 0 "$(segments "$T/spool")" "the spool is empty"
stop_server
assert_eq 10000 "$(count "$SRV")" "10,000 records, once each"
assert_eq ok "$(check_order "$SRV" OUT 10000 "$T/out.ids")" "in emission order"
expect_exit 0 "$AGENTRAIL" --store "$SRV" verify --key "$T/keys/srv-key.pub"
assert_contains "$OUT" "OK: 10000 records consistent" "the server's store verifies"

# A 409 (the event_id is in the store with other content) is refused for good, logged,
# never looped on; the rest of its batch is delivered.
start_server_at "$SPORT" "$SRV" --key "$T/keys/srv-key.key"
ID=01890a5d-ac96-774b-bcce-b30209000042
curl -s -o /dev/null -H 'Content-Type: application/json' "$URL/api/v1/events" \
	-d "{\"type\":\"output\",\"actor\":\"first\",\"event_id\":\"$ID\"}"
cat >"$T/conflict.jsonl" <<EOF
{"type":"output","actor":"c","session_id":"C","step":0}
{"type":"output","actor":"second","session_id":"C","event_id":"$ID"}
{"type":"output","actor":"c","session_id":"C","step":1}
EOF
expect_exit 0 "$EMIT" --json-file "$T/conflict.jsonl" --flush-ms 20000
assert_eq "[2, 1, 0]" "$(py '[d["delivered"], d["rejected"], d["spooled"]]' <<<"$OUT")" "409: one refused, two delivered"
assert_contains "$ERR" "event $ID refused for good, not retried: HTTP 409 conflict" "409 logged"
assert_eq 1 "$(grep -c "refused for good" <<<"$ERR")" "logged once, never looped"
stop_server
assert_eq ok "$(check_order "$SRV" C 2)" "the rest of the batch, in order"

# The same producer, still running, delivers once the server is back.
"$EMIT" --events 3000 --session STILL --ids "$T/still.ids" --flush-ms 60000 >"$T/still.out" 2>"$T/still.err" &
BG_PID=$!
sleep 1.5
start_server_at "$SPORT" "$SRV" --key "$T/keys/srv-key.key"
RC=0
wait "$BG_PID" || RC=$?
BG_PID=""
assert_eq 0 "$RC" "a running producer delivers after the outage: $(cat "$T/still.err")"
assert_eq 3000 "$(py 'd["delivered"]' <"$T/still.out")" "delivered by the same producer"
assert_contains "$(cat "$T/still.err")" "cannot deliver" "the outage was reported once"
assert_contains "$(cat "$T/still.out")" '"retries":' "retries counted"

# SIGKILL mid-delivery, then a new producer: nothing lost, nothing twice.
"$EMIT" --events 50000 --session KILL --ids "$T/kill.ids" --flush-ms 60000 >/dev/null 2>"$T/kill.err" &
BG_PID=$!
base=$(count "$SRV")
for _ in $(seq 400); do
	n=$(curl -s "$URL/healthz" | py 'd["size"]')
	[ $((n - base)) -ge 5000 ] && break
	sleep 0.02
done
kill -KILL "$BG_PID"
wait "$BG_PID" 2>/dev/null || true
BG_PID=""
mid=$(($(curl -s "$URL/healthz" | py 'd["size"]') - base))
if [ "$mid" -gt 0 ] && [ "$mid" -lt 50000 ]; then pass; else fail "the kill was not mid-delivery ($mid delivered)"; fi
acked=$(wc -l <"$T/kill.ids")
expect_exit 0 "$EMIT" --events 0 --flush-ms 60000
stop_server
# Every acknowledged event is there once, in order (one more may have been spooled
# and not yet acknowledged when the kill came).
n=$(python3 -c 'import json,sys
print(sum(1 for l in open(sys.argv[1]) if "\"session_id\":\"KILL\"" in l))' <("$AGENTRAIL" --store "$SRV" export 2>/dev/null))
if [ "$n" -ge "$acked" ] && [ "$n" -le $((acked + 1)) ]; then pass; else fail "$n records of $acked acknowledged"; fi
assert_eq ok "$(check_order "$SRV" KILL "$n" "$T/kill.ids")" "killed producer's events in order, once"
assert_eq ok "$(check_order "$SRV" STILL 3000 "$T/still.ids")" "still-running producer's events"
expect_exit 0 "$AGENTRAIL" --store "$SRV" verify --key "$T/keys/srv-key.pub"
assert_eq 0 "$(segments "$T/spool")" "the spool is empty at the end"

finish

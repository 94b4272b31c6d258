#!/usr/bin/env bash
# agentrail serve --key: signed checkpoints over HTTP (checked by an
# independent Python Ed25519 verifier and against `agentrail root`), the
# count trigger, the final checkpoint at SIGTERM covering every acknowledged
# event, witness directories and witness URLs (one down at first, one that
# refuses, one never up whose queue overflows), `agentrail witness check` on
# good and forged witness directories, and the signer refusing a log that no
# longer extends its last checkpoint while ingest goes on.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

command -v sqlite3 >/dev/null || { echo "$TEST_NAME: sqlite3 missing (scripts/bootstrap)" >&2; exit 1; }
python3 -c 'import cryptography' 2>/dev/null ||
	{ echo "$TEST_NAME: python3-cryptography missing (scripts/bootstrap)" >&2; exit 1; }

RECV_PIDS=()
cleanup() {
	[ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null || true
	for p in "${RECV_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

header() { grep -i "^$1:" <<<"$HDRS" | head -1 | sed 's/^[^:]*: *//'; }
metric() { curl -s "$URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# wait_for CMD...: poll CMD (0.1 s) for up to 20 s.
wait_for() {
	for _ in $(seq 200); do "$@" && return 0; sleep 0.1; done
	return 1
}
cp_size_is() { [ "$(metric agentrail_checkpoint_size)" = "$1" ]; }

# note_check NOTE_FILE PUB_FILE: an independent C2SP signed-note check
# (sumdb/note key encoding, Ed25519 from the cryptography package); prints
# "ok ORIGIN SIZE ROOT_HEX" or why not.
note_check() {
	python3 - "$1" "$2" <<'EOF'
import base64, hashlib, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.exceptions import InvalidSignature
note = open(sys.argv[1], "rb").read()
name, keyhash, b64 = open(sys.argv[2]).read().strip().split("+", 2)
raw = base64.b64decode(b64)
if raw[0] != 1 or len(raw) != 33:
    print("bad key"); sys.exit(0)
keyid = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
if keyid.hex() != keyhash:
    print("bad key hash"); sys.exit(0)
text, sep, sigs = note.partition(b"\n\n")
if not sep or not note.endswith(b"\n"):
    print("malformed"); sys.exit(0)
text += b"\n"
good = False
for line in sigs.decode().splitlines():
    if not line.startswith("\u2014 "):
        print("bad signature line"); sys.exit(0)
    who, s = line[2:].split(" ")
    sig = base64.b64decode(s)
    if who == name and sig[:4] == keyid:
        try:
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], text)
            good = True
        except InvalidSignature:
            print("bad signature"); sys.exit(0)
lines = text.decode().split("\n")
if not good or lines[0] != name:
    print("not signed by the key"); sys.exit(0)
print("ok", lines[0], int(lines[1]), base64.b64decode(lines[2]).hex())
EOF
}

# A witness receiver: each POST body is kept as DIR/NNNN.note (its
# Content-Type beside it); answers STATUS (default 200).
RECEIVER='
import http.server, os, sys
port, d, status = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
class H(http.server.BaseHTTPRequestHandler):
    n = 0
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        H.n += 1
        p = os.path.join(d, "%04d" % H.n)
        open(p + ".type", "w").write(self.headers.get("Content-Type", ""))
        open(p + ".tmp", "wb").write(body)
        os.rename(p + ".tmp", p + ".note")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
'
start_receiver() { # PORT DIR [STATUS]
	mkdir -p "$2"
	python3 -c "$RECEIVER" "$1" "$2" "${3:-200}" 2>"$2.err" &
	RECV_PIDS+=($!)
	wait_for curl -s -o /dev/null "http://127.0.0.1:$1/" || fail "receiver on $1 did not start"
}

mkdir -p "$T/keys" "$T/store" "$T/other"
STORE="$T/store/log.db"
ar keygen --name example.com/agentrail/test --out "$T/keys/k" >/dev/null
KEY="$T/keys/k.key"
PUB="$T/keys/k.pub"

# ------------------------------------------------------------- refusals at start
ar record --type tool_call --actor setup --target init --quiet
cp "$KEY" "$T/store/k.key"
expect_exit 1 ar serve --listen 127.0.0.1:0 --key "$T/store/k.key"
assert_contains "$ERR" "is inside the store's directory" "key inside the store's directory"
expect_exit 1 ar serve --listen 127.0.0.1:0 --key "$KEY" --witness "$T/store/wit"
assert_contains "$ERR" "witness directory" "witness inside the store's directory"
expect_exit 64 ar serve --witness "$T/wit"
assert_contains "$ERR" "need --key" "witness without key"
expect_exit 64 ar serve --key "$KEY" --witness-url "ftp://x"
expect_exit 64 ar serve --key "$KEY" --checkpoint-interval 0
expect_exit 64 ar serve --key "$KEY" --checkpoint-interval 3601
expect_exit 1 ar serve --listen 127.0.0.1:0 --key "$T/keys/missing.key"
assert_contains "$ERR" "missing.key" "missing key named"

# --------------------------------------------------------- without --key
start_server "$STORE"
assert_contains "$(cat "$T/serve.out")" "checkpoints: NOT SIGNED (no --key)" "start line without key"
http GET /api/v1/checkpoint
assert_eq 404 "$CODE" "no checkpoint yet"
assert_eq not_found "$(jq_ 'd["error"]["code"]')" "404 error shape"
assert_eq 0 "$(metric agentrail_checkpoint_signing)" "metrics: not signing"
stop_server
assert_eq 0 "$SRV_RC" "exit without key"
expect_exit 1 ar checkpoint
assert_contains "$ERR" "no checkpoint" "nothing signed without --key"

# A readable key is used, with a warning.
cp "$KEY" "$T/keys/open.key"
chmod 644 "$T/keys/open.key"
start_server "$STORE" --key "$T/keys/open.key"
stop_server
assert_contains "$(cat "$T/serve.err")" "may be read by group or others (mode 0644)" "permission warning"
assert_eq 0 "$SRV_RC" "exit with a readable key"
ar checkpoint >"$T/first.note"
assert_eq "ok example.com/agentrail/test 1 $(ar root --size 1 --json | py 'd["root_hash"]')" \
	"$(note_check "$T/first.note" "$PUB")" "first checkpoint (at start) verifies independently"

# ------------------------------------------- the main run: witnesses of every kind
P_UP=$(free_port)
P_LATE=$(free_port)
P_REFUSE=$(free_port)
start_receiver "$P_UP" "$T/recv_up"
start_receiver "$P_REFUSE" "$T/recv_refuse" 409
start_server "$STORE" --key "$KEY" --checkpoint-every 5 --checkpoint-interval 3600 \
	--witness "$T/wit" --witness "$T/wit2" \
	--witness-url "http://127.0.0.1:$P_UP/cp" --witness-url "http://user:secret@127.0.0.1:$P_LATE/cp" \
	--witness-url "http://127.0.0.1:$P_REFUSE/cp"
OUTLINE=$(cat "$T/serve.out")
assert_contains "$OUTLINE" "checkpoints: signed as 'example.com/agentrail/test'" "start line with key"
assert_contains "$OUTLINE" "every 3600 s or 5 events" "start line: triggers"
assert_contains "$OUTLINE" "witness URL 'http://127.0.0.1:$P_LATE/cp'" "start line: URL without credentials"
assert_not_contains "$OUTLINE" "secret" "credentials not printed"
assert_eq 1 "$(metric agentrail_checkpoint_signing)" "metrics: signing"

# At start the stored checkpoint (size 1) is confirmed and handed to the witnesses.
wait_for cp_size_is 1 || fail "no checkpoint at start"
# 4 more events: fewer than --checkpoint-every, and the interval is an hour: not signed.
for i in 1 2 3 4; do post "{\"type\":\"tool_call\",\"actor\":\"a\",\"target\":\"t$i\"}"; done
assert_eq 201 "$CODE" "ingest"
sleep 0.5
assert_eq 1 "$(metric agentrail_checkpoint_size)" "4 new events: no checkpoint yet"
post '{"type":"tool_call","actor":"a","target":"t5"}'
wait_for cp_size_is 6 || fail "no checkpoint after 5 new events: $(metric agentrail_checkpoint_size)"

http GET /api/v1/checkpoint
assert_eq 200 "$CODE" "checkpoint status"
assert_eq "text/plain; charset=utf-8" "$(header Content-Type)" "checkpoint content type"
cp "$T/.body" "$T/cp6.note"
assert_eq "ok example.com/agentrail/test 6 $(ar root --size 6 --json | py 'd["root_hash"]')" \
	"$(note_check "$T/cp6.note" "$PUB")" "served checkpoint: signature and root (independent check)"
assert_eq "$(ar checkpoint)" "$(cat "$T/cp6.note")" "served note = stored note"
assert_eq 200 "$(curl -s -o /dev/null -I -w '%{http_code}' "$URL/api/v1/checkpoint")" "HEAD checkpoint"
http GET "/api/v1/checkpoint?x=1"
assert_eq 400 "$CODE" "unknown parameter"

http GET "/api/v1/checkpoints?size=3"
assert_eq 200 "$CODE" "checkpoints?size status"
assert_eq "text/plain; charset=utf-8" "$(header Content-Type)" "checkpoints?size content type"
assert_eq "$(cat "$T/cp6.note")" "$BODY" "smallest covering 3 is 6"
http GET "/api/v1/checkpoints?size=1"
assert_eq "$(cat "$T/first.note")" "$BODY" "covering 1"
http GET "/api/v1/checkpoints?size=7"
assert_eq 404 "$CODE" "nothing covers 7"
assert_eq '["not_found", "size"]' "$(jq_ '[d["error"]["code"], d["error"]["at"]]')" "404 names size"
http GET "/api/v1/checkpoints?size=x"
assert_eq 400 "$CODE" "bad size"
http GET "/api/v1/checkpoints?size=3&limit=2"
assert_eq 400 "$CODE" "size with limit"

http GET /api/v1/checkpoints
assert_eq 200 "$CODE" "list status"
assert_eq '[[1, "example.com/agentrail/test"], [6, "example.com/agentrail/test"]]' \
	"$(jq_ '[[c["size"], c["origin"]] for c in d["checkpoints"]]')" "list sizes"
assert_eq "$(ar root --size 6 --json | py 'd["root_hash"]')" "$(jq_ 'd["checkpoints"][1]["root_hash"]')" "list root"
assert_eq "$(cat "$T/cp6.note")" "$(jq_ 'd["checkpoints"][1]["note"]')" "list note verbatim"
assert_eq null "$(jq_ 'd["next_cursor"]')" "list: one page"
http GET "/api/v1/checkpoints?limit=1"
assert_eq '[1]' "$(jq_ '[c["size"] for c in d["checkpoints"]]')" "page 1"
http GET "/api/v1/checkpoints?limit=1&cursor=$(jq_ 'd["next_cursor"]')"
assert_eq '[[6], null]' "$(jq_ '[[c["size"] for c in d["checkpoints"]], d["next_cursor"]]')" "page 2"
http GET "/api/v1/checkpoints?cursor=nope"
assert_eq 400 "$CODE" "bad cursor"
http GET "/api/v1/checkpoints?limit=0"
assert_eq 400 "$CODE" "limit 0"

# The late witness was down: its deliveries failed, and are retried once it is up.
late_failed() { [ "$(metric 'agentrail_witness_failures_total{witness="1"}')" -ge 1 ] 2>/dev/null; }
wait_for late_failed || fail "no failed delivery to the down witness"
assert_eq 0 "$(metric 'agentrail_witness_delivered_total{witness="1"}')" "nothing delivered while down"
start_receiver "$P_LATE" "$T/recv_late"
late_got() { [ -f "$T/recv_late/0002.note" ]; }
wait_for late_got || wait_for late_got || fail "the late witness never got both checkpoints"
assert_eq "$(cat "$T/first.note")" "$(cat "$T/recv_late/0001.note")" "late witness: checkpoint 1 first"
assert_eq "$(cat "$T/cp6.note")" "$(cat "$T/recv_late/0002.note")" "late witness: then checkpoint 6"
assert_contains "$(cat "$T/serve.err")" "reached again" "recovery logged"
refused() { [ "$(metric 'agentrail_witness_rejected_total{witness="2"}')" -ge 1 ] 2>/dev/null; }
wait_for refused || fail "the refusing witness was not counted"
assert_contains "$(cat "$T/serve.err")" "REFUSED checkpoint" "a refusing witness is reported"

# 4 more events, below the trigger: the checkpoint at shutdown (after the drain) covers them.
for i in 6 7 8 9; do post "{\"type\":\"tool_call\",\"actor\":\"a\",\"target\":\"t$i\"}"; done
sleep 0.3
assert_eq 6 "$(metric agentrail_checkpoint_size)" "below the trigger: not signed while running"
stop_server
assert_eq 0 "$SRV_RC" "clean shutdown"
assert_contains "$(cat "$T/serve.err")" "final checkpoint: size 10" "final checkpoint logged"
ar checkpoint >"$T/cp10.note"
assert_eq "ok example.com/agentrail/test 10 $(ar root --json | py 'd["root_hash"]')" \
	"$(note_check "$T/cp10.note" "$PUB")" "checkpoint signed at shutdown"

# Witness URLs: the same checkpoints, in order, as text/plain, the final one included.
assert_eq "text/plain; charset=utf-8" "$(cat "$T/recv_up/0001.type")" "POST content type"
for r in recv_up recv_late; do
	assert_eq "$(cat "$T/first.note" "$T/cp6.note" "$T/cp10.note")" "$(cat "$T/$r"/*.note)" \
		"$r: checkpoints 1, 6, 10 in order"
done
assert_eq "ok example.com/agentrail/test 10 $(ar root --json | py 'd["root_hash"]')" \
	"$(note_check "$T/recv_late/0003.note" "$PUB")" "POSTed checkpoint verifies"

# Concurrent ingest with only the hourly timer, then SIGTERM: the final
# checkpoint covers every acknowledged event.
# (A temporary file of a run killed mid-write is cleaned up at start.)
echo partial >"$T/wit/.checkpoint.00000000000000000011.note.999.tmp"
start_server "$STORE" --key "$KEY" --checkpoint-interval 3600 --witness "$T/wit" --witness "$T/wit2"
wait_for cp_size_is 10 || fail "no checkpoint confirmed at start"
CLIENTS=()
for c in $(seq 8); do
	(for i in $(seq 10); do
		curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
			-d "{\"type\":\"tool_call\",\"actor\":\"c$c\",\"target\":\"n$i\"}" "$URL/api/v1/events"
	done >"$T/codes.$c") &
	CLIENTS+=($!)
done
wait "${CLIENTS[@]}"
ACKED=$(cat "$T"/codes.* | grep -c '^201$' || true)
assert_eq 80 "$ACKED" "every concurrent event acknowledged"
assert_eq 10 "$(metric agentrail_checkpoint_size)" "nothing signed before the hour"
stop_server
assert_eq 0 "$SRV_RC" "clean shutdown after concurrent ingest"
TOTAL=$(count)
assert_eq $((10 + ACKED)) "$TOTAL" "all acknowledged events stored"
ar checkpoint >"$T/final.note"
assert_eq "ok example.com/agentrail/test $TOTAL $(ar root --json | py 'd["root_hash"]')" \
	"$(note_check "$T/final.note" "$PUB")" "final checkpoint covers every acknowledged event"

# Witness directories: one file per checkpoint, named to sort by size, and 'latest'.
for w in wit wit2; do
	assert_eq "$(cat "$T/final.note")" "$(cat "$T/$w/latest")" "$w/latest is the final checkpoint"
	assert_eq "$(cat "$T/final.note")" "$(cat "$T/$w/checkpoint.$(printf %020d "$TOTAL").note")" \
		"$w: final checkpoint file"
done
assert_eq "checkpoint.00000000000000000001.note checkpoint.00000000000000000006.note checkpoint.00000000000000000010.note checkpoint.00000000000000000090.note latest" \
	"$(ls -A "$T/wit" | tr '\n' ' ' | sed 's/ $//')" "witness files sort by size; no temporary files left"
assert_eq "$(cat "$T/cp6.note")" "$(cat "$T/wit/checkpoint.00000000000000000006.note")" "witness copy is the note"

# ------------------------------------------------------------- witness check
expect_exit 0 ar witness check --dir "$T/wit" --key "$PUB"
assert_contains "$OUT" "OK:" "witness check OK"
assert_contains "$OUT" "with each other and with the log ($TOTAL records" "checked against the log"
expect_exit 0 "$AGENTRAIL" witness check --dir "$T/wit"
assert_contains "$OUT" "no --store" "without a store: says what was not proven"

# Another log signed with the same key (same origin): a forged history.
OTHER="$T/other/log.db"
for i in 1 2 3; do "$AGENTRAIL" --store "$OTHER" record --type tool_call --actor mallory --target "f$i" --quiet; done
"$AGENTRAIL" --store "$OTHER" checkpoint --key "$KEY" >"$T/forged3.note"
assert_contains "$(note_check "$T/forged3.note" "$PUB")" "ok example.com/agentrail/test 3 " "forged note is validly signed"

cp -r "$T/wit" "$T/w_forged"
cp "$T/forged3.note" "$T/w_forged/checkpoint.00000000000000000003.note"
expect_exit 1 ar witness check --dir "$T/w_forged" --key "$PUB"
assert_line "$OUT" "^FORKED: 'checkpoint\.00000000000000000001\.note' \(size 1, root [0-9a-f]{64}\) and 'checkpoint\.00000000000000000003\.note' \(size 3, root $(sed -n 3p "$T/forged3.note" | base64 -d | od -An -tx1 | tr -d ' \n')\) are not consistent" \
	"names the first inconsistent pair"
assert_line "$OUT" "^FORKED: [0-9]+ findings" "verdict FORKED"

# Two checkpoints of one size with different roots: a fork, even without the log.
for i in 4 5 6; do "$AGENTRAIL" --store "$OTHER" record --type tool_call --actor mallory --target "f$i" --quiet; done
"$AGENTRAIL" --store "$OTHER" checkpoint --key "$KEY" >"$T/forged6.note"
mkdir -p "$T/w_fork"
cp "$T/cp6.note" "$T/w_fork/checkpoint.00000000000000000006.note"
cp "$T/forged6.note" "$T/w_fork/other.note"
expect_exit 1 "$AGENTRAIL" witness check --dir "$T/w_fork" --key "$PUB"
assert_contains "$OUT" "two checkpoints of size 6 with different roots" "equal-size fork"

# A checkpoint beyond the log: truncated.
for i in $(seq 7 $((TOTAL + 2))); do echo "{\"type\":\"tool_call\",\"actor\":\"mallory\",\"target\":\"f$i\"}"; done >"$T/more.jsonl"
"$AGENTRAIL" --store "$OTHER" import --quiet "$T/more.jsonl"
"$AGENTRAIL" --store "$OTHER" checkpoint --key "$KEY" >"$T/forged_big.note"
mkdir -p "$T/w_trunc"
cp "$T/cp6.note" "$T/final.note" "$T/forged_big.note" "$T/w_trunc/"
expect_exit 1 ar witness check --dir "$T/w_trunc"
assert_line "$OUT" "^TRUNCATED: 'forged_big\.note' vouches for $((TOTAL + 2)) records but the log has $TOTAL" "truncated"

# The witness's checkpoints against another log: that log does not extend them.
expect_exit 1 "$AGENTRAIL" --store "$OTHER" witness check --dir "$T/wit"
assert_contains "$OUT" "FORKED" "another log does not extend the witnessed checkpoints"

# A signature by another key, a malformed file, a missing directory.
"$AGENTRAIL" keygen --name example.com/agentrail/test --out "$T/keys/impostor" >/dev/null
expect_exit 1 ar witness check --dir "$T/wit" --key "$T/keys/impostor.pub"
assert_contains "$OUT" "TAMPERED" "checkpoints not signed by the key given"
mkdir -p "$T/w_bad"
cp "$T/cp6.note" "$T/w_bad/"
echo "not a checkpoint" >"$T/w_bad/junk.note"
expect_exit 3 ar witness check --dir "$T/w_bad"
assert_contains "$OUT" "'junk.note' is not a checkpoint note" "malformed file"
expect_exit 3 ar witness check --dir "$T/nowhere"
mkdir -p "$T/w_empty"
expect_exit 3 ar witness check --dir "$T/w_empty"
expect_exit 64 ar witness check
expect_exit 64 ar witness frobnicate --dir "$T/wit"

# ------------------------------------ a full queue drops the oldest pending checkpoint
P_DOWN=$(free_port)
start_server "$STORE" --key "$KEY" --checkpoint-every 1 --checkpoint-interval 3600 \
	--witness-url "http://127.0.0.1:$P_DOWN/cp"
N=$TOTAL
wait_for cp_size_is "$N" || fail "no checkpoint at start of the queue run"
while [ "$(metric agentrail_checkpoints_total)" -lt 70 ]; do
	post "{\"type\":\"tool_call\",\"actor\":\"q\",\"target\":\"n$N\"}"
	N=$((N + 1))
	wait_for cp_size_is "$N" || { fail "no checkpoint of size $N"; break; }
done
assert_eq 64 "$(metric 'agentrail_witness_queue{witness="0"}')" "queue bounded"
DROPPED=$(metric 'agentrail_witness_dropped_total{witness="0"}')
assert_eq 1 "$([ "$DROPPED" -ge 5 ] && echo 1 || echo 0)" "oldest pending checkpoints dropped ($DROPPED)"
post '{"type":"tool_call","actor":"q","target":"ingest goes on"}'
assert_eq 201 "$CODE" "ingest unaffected by a down witness"
stop_server
assert_eq 0 "$SRV_RC" "shutdown with a down witness"
assert_contains "$(cat "$T/serve.err")" "did not get checkpoint" "undelivered final checkpoint reported"

# ------------------------------------ the defaults: signed by time (every second)
start_server "$STORE" --key "$KEY"
N=$(count)
wait_for cp_size_is "$N" || fail "no checkpoint confirmed at start (defaults)"
post '{"type":"tool_call","actor":"d","target":"one more"}'
wait_for cp_size_is $((N + 1)) || fail "the interval did not sign: $(metric agentrail_checkpoint_size)"
stop_server
assert_eq 0 "$SRV_RC" "exit (defaults)"

# -------------------------- the signer refuses a log that no longer extends its checkpoint
TOTAL=$(count)
rm -f "$OTHER" "$OTHER-wal" "$OTHER-shm"
for i in $(seq "$TOTAL"); do echo "{\"type\":\"tool_call\",\"actor\":\"mallory\",\"target\":\"h$i\"}"; done >"$T/all.jsonl"
"$AGENTRAIL" --store "$OTHER" import --quiet "$T/all.jsonl"
"$AGENTRAIL" --store "$OTHER" checkpoint --key "$KEY" >"$T/forged_same.note"
assert_contains "$(note_check "$T/forged_same.note" "$PUB")" "ok example.com/agentrail/test $TOTAL " "forged note of the log's size"
# Slip it into the store as the newest checkpoint (what a rewrite of the log would leave).
sqlite3 "$STORE" "INSERT INTO checkpoints (size, note) VALUES ($TOTAL, readfile('$T/forged_same.note'));"
start_server "$STORE" --key "$KEY" --witness "$T/wit"
refusal() { grep -q "REFUSING TO SIGN" "$T/serve.err"; }
wait_for refusal || fail "the signer did not refuse"
assert_contains "$(cat "$T/serve.err")" "the log was changed" "refusal says why"
assert_eq 1 "$(metric agentrail_checkpoint_signing_refused)" "metrics: refused"
post '{"type":"tool_call","actor":"a","target":"after the refusal"}'
assert_eq 201 "$CODE" "ingest goes on after a refusal"
stop_server
assert_eq 0 "$SRV_RC" "exit after a refusal"
assert_contains "$(cat "$T/serve.err")" "no final checkpoint: signing was refused" "no final checkpoint"
assert_eq "$(cat "$T/forged_same.note")" "$(ar checkpoint)" "nothing signed after the refusal"
assert_eq "$(cat "$T/final.note")" "$(cat "$T/wit/latest")" "nothing new in the witness directory"

finish

#!/usr/bin/env bash
# Client mode: with --store http://HOST:PORT (or $AGENTRAIL_STORE) record,
# import, trail, query, export, root and prove talk to a real `agentrail
# serve`. Each is compared with the local form on the same store (stdout,
# stderr and exit status byte for byte; the export file too), then tokens
# and roles ($AGENTRAIL_TOKEN), server errors, a server that is down, one that
# is not agentrail or whose answers do not check out, a body limit that splits
# import batches, and the commands that need a local store.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

WWW_PID=""
trap '[ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null; [ -n "$WWW_PID" ] && kill -KILL "$WWW_PID" 2>/dev/null; true' EXIT

# same ARGS...: ARGS against the store, then against the server: identical
# stdout and stderr (byte for byte) and exit status. Leaves the server's in OUT/ERR/RC.
same() {
	local lrc=0 rrc=0
	"$AGENTRAIL" --store "$STORE" "$@" >"$T/local.out" 2>"$T/local.err" || lrc=$?
	"$AGENTRAIL" --store "$URL" "$@" >"$T/remote.out" 2>"$T/remote.err" || rrc=$?
	if [ "$lrc" -eq "$rrc" ] && cmp -s "$T/local.out" "$T/remote.out" &&
		cmp -s "$T/local.err" "$T/remote.err"; then
		pass
	else
		fail "'$*' differs: local exit $lrc, server exit $rrc"
		diff "$T/local.out" "$T/remote.out" | head -5 >&2 || true
		diff "$T/local.err" "$T/remote.err" | head -5 >&2 || true
	fi
	OUT=$(cat "$T/remote.out")
	ERR=$(cat "$T/remote.err")
	RC=$rrc
}
# remote ARGS...: run against the server (run: OUT, ERR, RC).
remote() { run "$AGENTRAIL" --store "$URL" "$@"; }

ID1=01890a5d-ac96-774b-bcce-b30209000001
ID2=01890a5d-ac96-774b-bcce-b30209000002

# A realistic pipeline first (parents, model calls, a decision, an approval).
expect_exit 0 ar demo
start_server "$STORE"

# ----------------------------------------------------------------- record
remote record --type tool_call --actor alice --target "ls -la" --session S1 --trace TR1 \
	--event-id "$ID1" --detail '{"n":1,"f":1.50,"s":"caf\u00e9"}'
assert_eq 0 "$RC" "record exit"
assert_match "$OUT" "^seq [0-9]+  event_id $ID1\$" "record line"
SEQ1=${OUT#seq }
SEQ1=${SEQ1%% *}
remote record --type tool_call --actor alice --target "ls -la" --session S1 --trace TR1 \
	--event-id "$ID1" --detail '{"n":1,"f":1.50,"s":"caf\u00e9"}'
assert_eq "seq $SEQ1  event_id $ID1  (duplicate)" "$OUT" "record duplicate"
remote record --type tool_call --actor alice --target "ls -la" --session S1 --trace TR1 \
	--event-id "$ID1" --detail '{"n":1,"f":1.50,"s":"caf\u00e9"}' --print-json
assert_eq "{\"seq\":$SEQ1,\"event_id\":\"$ID1\",\"duplicate\":true}" "$OUT" "record --print-json"
run bash -c "printf '%s\n' '{\"type\":\"command\",\"actor\":\"bob\",\"target\":\"make\",\"exit_code\":2,\"session_id\":\"S1\",\"event_id\":\"$ID2\",\"parent_event_id\":\"$ID1\"}' |
	\"\$AGENTRAIL\" --store '$URL' record --json - --quiet"
assert_eq "0:" "$RC:$OUT" "record --json - --quiet"
assert_contains "$(ar query --event-id "$ID2" --json)" '"parent_event_id":"'"$ID1"'"' "stdin event stored"
# Refusals read as they do locally (the server's message is the library's).
same record --type tool_call --actor alice --target other --event-id "$ID1"
assert_eq 1 "$RC" "conflict exit"
assert_contains "$ERR" "agentrail: event_id '$ID1' is already logged at seq $SEQ1 with different content" "conflict message"
same record --type decision --actor a
assert_contains "$ERR" "agentrail: type 'decision' is a decision and needs a non-empty 'reason'" "invalid event"
same record --json '[{"type":"output","actor":"a"},{"type":"output","actor":"b"}]'
assert_contains "$ERR" "not an array" "an array is not one event"
same record --json ' '
same record --json '{"type":"output","actor":"a", "event_id":"zz"}'
assert_eq 1 "$RC" "bad event_id exit"

# ----------------------------------------------------------------- import
# 1200 events in three formats, 800 of them on one trace (more than a page of the listing).
python3 - "$T/events.jsonl" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(1200):
        if i % 3 == 0:
            e = {"type": "tool_call", "actor": "imp", "target": "t%d" % i, "trace_id": "tr-imp",
                 "detail": {"i": i, "x": 0.25}}
        elif i % 3 == 1:
            e = {"timestamp": "2026-01-01T00:%02d:%02dZ" % (i // 60 % 60, i % 60),
                 "trace_id": "tr-imp", "level": "agent", "actor": "imp", "action": "tool_use",
                 "target": "x%d" % i, "detail": {"k": i}}
        else:
            e = {"session_id": "ss-imp", "agent_id": "ag", "timestamp": 1700000000 + i,
                 "event_type": "llm", "content": "c%d" % i, "step_number": i,
                 "model_id": "m-1"}
        f.write(json.dumps(e) + "\n")
        if i == 10:
            f.write("\n")
EOF
remote import "$T/events.jsonl"
assert_eq "0:imported 1200 events (0 duplicates) from $T/events.jsonl" "$RC:$OUT" "remote import"
# The same event ids as a local import derives: importing locally now appends nothing.
same import "$T/events.jsonl"
assert_eq "imported 1200 events (1200 duplicates) from $T/events.jsonl" "$OUT" "import again"
run bash -c "\"\$AGENTRAIL\" --store '$URL' import - < '$T/events.jsonl'"
assert_eq "imported 1200 events (1200 duplicates) from standard input" "$OUT" "import from stdin"
# A bad line stops both the same way, nothing of its batch appended.
python3 - "$T/events.jsonl" "$T/bad.jsonl" <<'EOF'
import sys
lines = open(sys.argv[1]).read().splitlines()
lines += ['{"type":"output","actor":"late%d"}' % i for i in range(1300)]
lines[2201] = '{"type":"tool_call","actor":""}'
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
EOF
BEFORE=$(count)
same import "$T/bad.jsonl"
assert_eq 1 "$RC" "bad import exit"
assert_eq "agentrail: line 2202: field 'actor' must not be empty
agentrail: import stopped: 2000 events imported before line 2002; nothing from line 2002 on was appended" "$ERR" "bad import message"
# Lines 1202-2001 were new (the local run appended them); the batch with the bad line was not.
assert_eq "$((BEFORE + 800))" "$(count)" "bad batch not appended"
same import --format trail "$T/events.jsonl"
assert_contains "$ERR" "line 1: missing field 'action'" "format error"
remote import "$T/missing.jsonl"
assert_eq "1:agentrail: cannot open '$T/missing.jsonl': No such file or directory" "$RC:$ERR" "missing file"

# ------------------------------------------------------------------ trail
SESSION=$(ar query --type session_start --json | py 'rows[0]["session_id"]')
TRACE=$(ar query --type session_start --json | py 'rows[0]["trace_id"]')
RUN=$(ar query --type task_submit --json | py 'rows[0]["run_id"]')
JOB=$(ar query --type task_submit --json | py 'rows[0]["job_id"]')
same trail --session "$SESSION"
assert_eq 0 "$RC" "trail exit"
assert_line "$OUT" '^[0-9:.]{12} +[0-9]+ {4,}[a-z]' "a record indented under its parent"
assert_line "$OUT" 'tokens [0-9]+ in / [0-9]+ out' "token usage shown"
same trail --session "$SESSION" --json
assert_eq "$(ar query --session "$SESSION" --count)" "$(py 'len(d)' <<<"$OUT")" "trail --json records"
same trail --trace "$TRACE"
same trail --run "$RUN" --json
same trail --job "$JOB"
same trail --session S1
assert_line "$OUT" "^[0-9:.]{12} +[0-9]+ +  command +bob +make \(exit 2\)$" "child indented"
same trail --trace tr-imp --json
assert_eq 800 "$(py 'len(d)' <<<"$OUT")" "paged trail"
same trail --session no-such-session
assert_eq "1:agentrail: no events for session 'no-such-session'" "$RC:$ERR" "empty trail"
same trail --job ''
assert_eq 1 "$RC" "empty id"

# ------------------------------------------------------------------ query
same query
assert_eq "$(count)" "$(grep -c '^[0-9:.]\{12\} ' <<<"$OUT")" "every record listed"
same query --json
same query --count
same query --actor imp --limit 3
same query --actor imp --limit 700 --json
assert_eq 700 "$(py 'len(rows)' <<<"$OUT")" "limit over pages"
same query --desc --limit 5 --json
same query --desc --type tool_call
same query --from-seq 10 --to-seq 25
same query --from-seq 1190 --count
same query --type tool_call --count
same query --target-prefix x1 --json
same query --target-prefix ''
same query --since 2026-01-01T00:05:00Z --until 2026-01-01T00:06:00Z
same query --level decision --json
same query --session ss-imp --desc --limit 2
same query --event-id "$ID1" --json
assert_contains "$OUT" '"detail":{' "detail in the record"
same query --event-id "$ID1" --actor bob
assert_eq "0:" "$RC:$OUT" "id with another filter"
same query --event-id "$ID1" --from-seq "$((SEQ1 + 1))" --count
same query --event-id 01890a5d-ac96-774b-bcce-b302090000ff
same query --event-id not-a-uuid
assert_eq "1:agentrail: query failed: 'not-a-uuid' is not a UUID" "$RC:$ERR" "server error surfaced"
same query --type ''
same query --json --count
assert_eq 64 "$RC" "usage error"

# ----------------------------------------------------------------- export
same export
assert_contains "$ERR" "exported $(count) records to standard output" "export message"
cp "$T/remote.out" "$T/remote.exp"
ar export --out "$T/local.exp" 2>/dev/null
run "$AGENTRAIL" --store "$URL" export --out "$T/remote2.exp"
assert_eq "0:exported $(count) records to $T/remote2.exp" "$RC:$ERR" "export --out"
cmp -s "$T/local.exp" "$T/remote2.exp" && pass || fail "export --out differs from the local export"
cmp -s "$T/local.exp" "$T/remote.exp" && pass || fail "streamed export differs from the local export"
[ ! -e "$T/remote2.exp.tmp" ] && pass || fail "export left its temporary file"
run "$AGENTRAIL" verify --export "$T/local.exp"
LOCAL_VERIFY="$RC:$OUT"
run "$AGENTRAIL" verify --export "$T/remote2.exp"
assert_eq "$LOCAL_VERIFY" "$RC:$OUT" "the server's export verifies as the local one"
assert_match "$RC" '^[02]$' "export verifies (OK or UNANCHORED)"
assert_match "$OUT" '^(OK|UNANCHORED): [0-9]+ records consistent' "verify status"
http GET /api/v1/export
assert_eq 200 "$CODE" "export route"
cmp -s "$T/.body" "$T/local.exp" && pass || fail "GET /api/v1/export differs from the local export"
assert_contains "$HDRS" "Content-Type: application/x-ndjson" "export content type"
http GET "/api/v1/export?from=1"
assert_eq 400 "$CODE" "export parameters"
assert_eq "bad_request" "$(jq_ 'd["error"]["code"]')" "export parameter error"
# Several at once, each complete.
PIDS=()
for i in 1 2 3 4; do
	"$AGENTRAIL" --store "$URL" export --out "$T/par$i.exp" 2>/dev/null &
	PIDS+=($!)
done
for p in "${PIDS[@]}"; do wait "$p" || true; done
for i in 1 2 3 4; do
	cmp -s "$T/par$i.exp" "$T/local.exp" && pass || fail "parallel export $i"
done
# A client that stops reading early leaves the server serving.
curl -s "$URL/api/v1/export" | head -c 100 >/dev/null || true
run curl -sf "$URL/healthz"
assert_contains "$OUT" '"status":"ok"' "server fine after a cut export"

# ------------------------------------------------------------- root, prove
same root
assert_match "$OUT" $'^size [0-9]+\nroot [0-9a-f]{64}$' "root"
same root --json
same root --size 5
same root --size 1 --json
same root --size 0
same root --size "$(count)"
same root --size 999999
assert_contains "$ERR" "is larger than the log" "root size error"
same prove 3
same prove 0 --size 1
same prove "$SEQ1" --json
assert_eq ok "$(merkle_check "$(ar root --json | py 'd["root_hash"]')" <<<"$OUT")" "independent check of the server's proof"
same prove 7 --size 20 --json
same prove 999999
same prove 5 --size 5
same prove --consistency 4 20
same prove --consistency 7 "$(count)" --json
assert_eq ok "$(consistency_check <<<"$OUT")" "independent check of the consistency proof"
same prove --consistency 5 5
same prove --consistency 0 5
assert_eq "1:agentrail: cannot build the proof: no consistency proof from the empty tree" "$RC:$ERR" "proof error surfaced"
same prove --consistency 9 3

# -------------------------------------- the environment, and local-only commands
run env AGENTRAIL_STORE="$URL" "$AGENTRAIL" root --json
assert_eq "$(ar root --json)" "$OUT" "AGENTRAIL_STORE=http://..."
run env AGENTRAIL_STORE="$URL" "$AGENTRAIL" verify --export "$T/remote.exp"
assert_eq "$LOCAL_VERIFY" "$RC:$OUT" "verify --export with a server store"
for cmd in verify "token list" demo "bench ingest --events 10"; do
	# shellcheck disable=SC2086
	remote $cmd
	assert_eq 64 "$RC" "$cmd refused"
	assert_contains "$ERR" "agentrail: '${cmd%% *}' needs a local store, not the server '$URL'" "$cmd message"
done
run "$AGENTRAIL" --store "http://" root
assert_eq 64 "$RC" "bad server URL"
assert_contains "$ERR" "is not a server URL" "bad URL message"
[ ! -e "http:" ] && pass || fail "a server URL was taken for a path"
stop_server
assert_eq 0 "$SRV_RC" "server A stopped cleanly"

# -------------------------------------------------------- a server that is down
DOWN=$URL
for args in "record --type output --actor a" "import $T/events.jsonl" "trail --session S1" \
	"query" "export --out $T/down.exp" "root" "prove 0" "prove --consistency 1 2"; do
	# shellcheck disable=SC2086
	run "$AGENTRAIL" --store "$DOWN" $args
	assert_eq "1:agentrail: cannot connect to $DOWN: Connection refused" "$RC:$ERR" "down: $args"
done
[ ! -e "$T/down.exp" ] && [ ! -e "$T/down.exp.tmp" ] && pass || fail "export to a down server left a file"

# ----------------------------------- a server that is not agentrail, or lies
# Answers a 404 page to anything but these, which are well-formed and wrong:
# an export without its tree head, a root with a consistency proof that does
# not hold, an inclusion proof whose leaf is not the record's hash. Its ingest
# answers 429 to every other request, and hangs up on a body with "drop".
cat >"$T/liar.py" <<'PY'
import hashlib, http.server, json, sys
Z = "00" * 32
posts = [0]
def h(b): return hashlib.sha256(b).hexdigest()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if b"drop" in body:
            self.close_connection = True
            return
        posts[0] += 1
        if posts[0] % 2:
            self.send_response(429)
            self.send_header("Retry-After", "1")
            msg = b'{"error":{"code":"rate_limited","message":"slow down"}}'
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        n = len([l for l in body.splitlines() if l.strip()])
        res = [{"seq": i, "event_id": "01890a5d-ac96-774b-bcce-b302090000%02d" % i,
                "hash": Z, "duplicate": False} for i in range(n)]
        self.send(201, json.dumps({"results": res}).encode())
    def log_message(self, *a): pass
    def send(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        p = self.path
        if p == "/api/v1/export":
            self.send(200, b'{"record":{"seq":0},"leaf_hash":"' + Z.encode() + b'"}\n',
                      "application/x-ndjson")
        elif p == "/api/v1/root":
            self.send(200, json.dumps({"size": 2, "root_hash": h(b"r")}).encode())
        elif p.startswith("/api/v1/proof/consistency"):
            self.send(200, json.dumps({"from": 1, "to": 2, "old_root": h(b"a"),
                                       "new_root": h(b"r"), "path": [Z]}).encode())
        elif p.startswith("/api/v1/proof/inclusion"):
            self.send(200, json.dumps({"seq": 0, "size": 2, "leaf_hash": h(b"x"),
                                       "root_hash": h(b"r"), "path": [Z]}).encode())
        elif p == "/api/v1/records/0":
            self.send(200, b'{"seq":0}')
        elif p == "/healthz":
            self.send(200, b'{"status":"ok"}')
        else:
            self.send(404, b"<html>not found</html>", "text/html")
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
WPORT=$(free_port)
WURL="http://127.0.0.1:$WPORT"
python3 "$T/liar.py" "$WPORT" &
WWW_PID=$!
for _ in $(seq 50); do curl -s "$WURL/" >/dev/null 2>&1 && break; sleep 0.1; done
run "$AGENTRAIL" --store "$WURL" query
assert_eq "1:agentrail: unexpected answer from $WURL: HTTP 404 (not an agentrail server?)" "$RC:$ERR" "not agentrail"
run "$AGENTRAIL" --store "$WURL" export --out "$T/liar.exp"
assert_eq "1:agentrail: the export from $WURL is cut short: it does not end with its tree_head line" "$RC:$ERR" "cut export"
[ ! -e "$T/liar.exp" ] && [ ! -e "$T/liar.exp.tmp" ] && pass || fail "a cut export left a file"
run "$AGENTRAIL" --store "$WURL" root --size 1
assert_eq 1 "$RC" "bad consistency proof refused"
assert_contains "$ERR" "agentrail: the server's consistency proof does not verify" "root checks the proof"
assert_eq "" "$OUT" "nothing printed from a bad proof"
run "$AGENTRAIL" --store "$WURL" prove 0
assert_eq "1:agentrail: the server's leaf hash for seq 0 is not the hash of its record" "$RC:$ERR" "prove checks the leaf"
run "$AGENTRAIL" --store "$WURL" prove --consistency 1 2
assert_eq 1 "$RC" "prove checks the consistency proof"
assert_contains "$ERR" "agentrail: the server's consistency proof does not verify" "prove consistency message"
printf '{"type":"output","actor":"a"}\n{"type":"output","actor":"b"}\n' >"$T/two.jsonl"
run "$AGENTRAIL" --store "$WURL" import "$T/two.jsonl"
assert_eq "0:imported 2 events (0 duplicates) from $T/two.jsonl" "$RC:$OUT" "import waits out 429"
printf '{"type":"output","actor":"drop"}\n' >"$T/drop.jsonl"
run "$AGENTRAIL" --store "$WURL" import "$T/drop.jsonl"
assert_eq 1 "$RC" "import with the connection lost"
assert_contains "$ERR" "agentrail: no complete answer from $WURL to POST /api/v1/events" "lost answer"
assert_contains "$ERR" "lines 1-1 may or may not have been appended" "lost batch reported as unknown"
kill "$WWW_PID" 2>/dev/null || true
wait "$WWW_PID" 2>/dev/null || true
WWW_PID=""

# ---------------------------------------------------------------- tokens, roles
TSTORE="$T/tokens.db"
expect_exit 0 "$AGENTRAIL" --store "$TSTORE" record --type output --actor seed
tok() { "$AGENTRAIL" --store "$TSTORE" token create --role "$1" --actor admin | tail -n 1; }
W=$(tok writer)
R=$(tok reader)
AU=$(tok auditor)
start_server "$TSTORE"
run "$AGENTRAIL" --store "$URL" record --type output --actor nobody
assert_eq "1:agentrail: a bearer token is required" "$RC:$ERR" "no token"
run env AGENTRAIL_TOKEN="$W" "$AGENTRAIL" --store "$URL" record --type output --actor writer
assert_eq 0 "$RC" "writer records"
assert_match "$OUT" '^seq [0-9]+  event_id ' "writer record line"
run env AGENTRAIL_TOKEN="$W" "$AGENTRAIL" --store "$URL" query
assert_eq "1:agentrail: role 'writer' may not GET /api/v1/events" "$RC:$ERR" "writer cannot query"
run env AGENTRAIL_TOKEN="$W" "$AGENTRAIL" --store "$URL" import "$T/events.jsonl"
assert_eq "0:imported 1200 events (0 duplicates) from $T/events.jsonl" "$RC:$OUT" "writer imports"
run env AGENTRAIL_TOKEN="$R" "$AGENTRAIL" --store "$URL" query --count
assert_eq "0:$(count "$TSTORE")" "$RC:$OUT" "reader queries"
run env AGENTRAIL_TOKEN="$R" "$AGENTRAIL" --store "$URL" query --actor writer --json
assert_eq "$("$AGENTRAIL" --store "$TSTORE" query --actor writer --json)" "$OUT" "reader query output"
run env AGENTRAIL_TOKEN="$R" "$AGENTRAIL" --store "$URL" record --type output --actor reader
assert_eq "1:agentrail: role 'reader' may not POST /api/v1/events" "$RC:$ERR" "reader cannot record"
run env AGENTRAIL_TOKEN="$R" "$AGENTRAIL" --store "$URL" prove --consistency 1 2
assert_eq 0 "$RC" "reader proves"
run env AGENTRAIL_TOKEN="$R" "$AGENTRAIL" --store "$URL" export --out "$T/reader.exp"
assert_eq "1:agentrail: role 'reader' may not GET /api/v1/export" "$RC:$ERR" "reader cannot export"
[ ! -e "$T/reader.exp" ] && pass || fail "refused export left a file"
run env AGENTRAIL_TOKEN="$AU" "$AGENTRAIL" --store "$URL" export --out "$T/auditor.exp"
assert_eq 0 "$RC" "auditor exports"
"$AGENTRAIL" --store "$TSTORE" export --out "$T/tokens-local.exp" 2>/dev/null
cmp -s "$T/auditor.exp" "$T/tokens-local.exp" && pass || fail "auditor export differs"
run env AGENTRAIL_TOKEN="atr_not_a_token" "$AGENTRAIL" --store "$URL" root
assert_eq "1:agentrail: the token is not valid or was revoked" "$RC:$ERR" "bad token"
run env AGENTRAIL_TOKEN=$'a\nb' "$AGENTRAIL" --store "$URL" root
assert_eq 1 "$RC" "token with a line break"
assert_contains "$ERR" "control character" "token check"
stop_server
assert_eq 0 "$SRV_RC" "token server stopped cleanly"

# ------------------------------------------- a small body limit splits import batches
SSTORE="$T/small.db"
start_server "$SSTORE" --max-body 4096
python3 -c '
import json
for i in range(60):
    print(json.dumps({"type": "tool_call", "actor": "split", "target": "t%03d" % i, "detail": {"pad": "x" * 150}}))
' >"$T/split.jsonl"
remote import "$T/split.jsonl"
assert_eq "0:imported 60 events (0 duplicates) from $T/split.jsonl" "$RC:$OUT" "batches split to fit"
remote query --actor split --count
assert_eq 60 "$OUT" "all split batches appended"
python3 -c 'import json; print(json.dumps({"type": "tool_call", "actor": "big", "detail": {"pad": "x" * 5000}}))' >"$T/big.jsonl"
remote import "$T/big.jsonl"
assert_eq 1 "$RC" "a line over the body limit"
assert_contains "$ERR" "limit is 4096" "body limit message"
assert_contains "$ERR" "nothing from line 1 on was appended" "body limit stop"
stop_server
assert_eq 0 "$SRV_RC" "small server stopped cleanly"
finish

#!/usr/bin/env bash
# The web console (docs/console.md) on a real `agentrail serve` with a seeded
# store and signed checkpoints: its embedded files (no token, Content-Type,
# ETag and 304, Cache-Control, Content-Security-Policy, nosniff), the routes it
# adds (whoami, activity, verify and its status, 409 while one runs) by curl,
# then the browser test tests/e2e/console.test.mjs: playwright-core driving
# Debian's chromium headless as a reader, an approver and an auditor.
#
# playwright-core comes from npm at the version pinned in
# tests/e2e/package-lock.json, installed with `npm ci` into the build tree
# (tests/e2e-node under the build directory) and reused while the lock file is
# unchanged. Screenshots go to $ATR_E2E_OUT (build/e2e, kept as CI artifacts).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

SRC="$(cd "$(dirname "$0")/../e2e" && pwd)"
JS="$ATR_TEST_TMP/../e2e-node"
OUTDIR="${ATR_E2E_OUT:-$ATR_TEST_TMP/../../e2e}"
CHROMIUM="${ATR_CHROMIUM:-/usr/bin/chromium}"
for tool in node npm; do
	command -v "$tool" >/dev/null || { fail "$tool is missing (scripts/bootstrap installs it)"; finish; }
done
[ -x "$CHROMIUM" ] || { fail "$CHROMIUM is missing (scripts/bootstrap installs Debian's chromium)"; finish; }

# ------------------------------------------------------------ playwright-core from npm
npm_ci "$SRC" "$JS"
cp "$SRC/console.test.mjs" "$JS/"
assert_eq 1.65.1 "$(node -p 'require(process.argv[1]).version' "$JS/node_modules/playwright-core/package.json")" \
	"the pinned playwright-core"

# ------------------------------------------------------------ the seeded store
mkdir -p "$T/keys" "$T/store"
STORE="$T/store/log.db"
ar keygen --name example.com/agentrail/console --out "$T/keys/k" >/dev/null
tok() { ar token create --role "$1" --name "$2" --actor admin | tail -n 1; }
W=$(tok writer wendy)
R=$(tok reader rita)
AP=$(tok approver carol)
AU=$(tok auditor audrey)
ADM=$(tok admin root)
# The rule the job's decision cites, published after the seed (seq 17).
printf 'production deploys need one human approval\n' >"$T/deploy.txt"
SNAP="sha256:$(sha256sum <"$T/deploy.txt" | cut -d' ' -f1)"
id() { printf '01890a5d-ac96-774b-bcce-b302090000%02d' "$1"; }
cat >"$T/seed.jsonl" <<EOF
{"event_id":"$(id 1)","type":"task_submit","actor":"agent-1","user_id":"alice","job_id":"J1","run_id":"R1","session_id":"S1","target":"deploy the billing service"}
{"event_id":"$(id 2)","type":"session_start","actor":"agent-1","job_id":"J1","run_id":"R1","session_id":"S1","parent_event_id":"$(id 1)","agent_id":"deployer","model":"gpt-x"}
{"event_id":"$(id 3)","type":"llm_call","actor":"agent-1","model":"gpt-x","job_id":"J1","run_id":"R1","session_id":"S1","parent_event_id":"$(id 2)","usage":{"input_tokens":1200,"output_tokens":300},"detail":{"prompt":"plan the deploy"}}
{"event_id":"$(id 4)","type":"tool_call","actor":"agent-1","target":"bash","job_id":"J1","run_id":"R1","session_id":"S1","parent_event_id":"$(id 3)","detail":{"input":{"command":"make test"}}}
{"event_id":"$(id 5)","type":"command","actor":"agent-1","target":"make test","exit_code":0,"outcome":"success","job_id":"J1","run_id":"R1","session_id":"S1","parent_event_id":"$(id 4)"}
{"event_id":"$(id 6)","type":"file_write","actor":"agent-1","target":"src/billing.c","job_id":"J1","run_id":"R1","session_id":"S1","parent_event_id":"$(id 4)"}
{"event_id":"$(id 7)","type":"decision","actor":"agent-1","job_id":"J1","run_id":"R1","session_id":"S1","parent_event_id":"$(id 3)","reason":"deploys to production need a human","policy":{"rule_id":"deploy","decision":"REQUIRE_APPROVAL","reason":"production deploy","snapshot":"$SNAP"}}
{"event_id":"$(id 8)","type":"approval_request","actor":"agent-1","job_id":"J1","run_id":"R1","session_id":"S1","parent_event_id":"$(id 7)","reason":"deploy billing to production","approval":{"id":"A1","required":true,"job_hash":"jh-A1"}}
{"event_id":"$(id 9)","type":"session_end","actor":"agent-1","job_id":"J1","run_id":"R1","session_id":"S1","parent_event_id":"$(id 2)","outcome":"success"}
{"event_id":"$(id 10)","type":"task_submit","actor":"agent-2","user_id":"bob","job_id":"J2","run_id":"R2","session_id":"S2","target":"rotate the logs"}
{"event_id":"$(id 11)","type":"approval_request","actor":"agent-2","job_id":"J2","run_id":"R2","session_id":"S2","parent_event_id":"$(id 10)","reason":"delete old logs","approval":{"id":"A2","required":true,"job_hash":"jh-A2"}}
{"event_id":"$(id 12)","type":"command","actor":"agent-2","target":"logrotate -f","exit_code":1,"outcome":"failure","run_id":"R2","session_id":"S2","parent_event_id":"$(id 10)"}
EOF
expect_exit 0 ar import --quiet "$T/seed.jsonl"
expect_exit 0 ar policy publish deploy "$T/deploy.txt" --actor alice

# Checkpoints as events arrive: the browser checks proofs against the newest.
# Reports: a test clock just after tomorrow's midnight makes the server write
# today's report (the seed's day) and last week's at start (docs/reports.md).
REPORT_CLOCK="$(date -u -d tomorrow +%Y-%m-%d)T00:10:00Z"
AGENTRAIL_REPORT_CLOCK=$REPORT_CLOCK start_server "$STORE" --key "$T/keys/k.key" --checkpoint-every 1 \
	--checkpoint-interval 1 --reports-dir "$T/reports"
for _ in $(seq 100); do
	[ "$(curl -s -H "Authorization: Bearer $R" "$URL/api/v1/reports" | py 'len(d["items"])')" = 6 ] && break
	sleep 0.1
done
http GET /api/v1/reports -H "Authorization: Bearer $R"
assert_eq "[\"week\", \"day\", \"$(date -u +%Y-%m-%d)\"]" "$(jq_ '[d["items"][0]["period"], d["items"][3]["period"], d["items"][3]["date"]]')" \
	"the reports of the seed's day and of last week"
SIZE=$(curl -s "$URL/healthz" | py 'd["size"]')
for _ in $(seq 100); do
	http GET /api/v1/checkpoint -H "Authorization: Bearer $R"
	[ "$CODE" = 200 ] && [ "$(sed -n 2p <<<"$BODY")" = "$SIZE" ] && break
	sleep 0.1
done
assert_eq "$SIZE" "$(sed -n 2p <<<"$BODY")" "a checkpoint covers the seeded log"

# ------------------------------------------------------------ the files, by curl
http GET /
assert_eq 200 "$CODE" "/ needs no token"
assert_contains "$BODY" '<script type="module" src="/console/app.js">' "index.html"
assert_contains "$HDRS" "Content-Type: text/html; charset=utf-8"
assert_contains "$HDRS" "Content-Security-Policy: default-src 'self'; script-src 'self';"
assert_contains "$HDRS" "frame-ancestors 'none'"
assert_contains "$HDRS" "X-Content-Type-Options: nosniff"
assert_contains "$HDRS" "Cache-Control: no-cache"
assert_not_contains "$BODY" "<script>" "no inline script"
assert_not_contains "$BODY" "http://" "nothing fetched from elsewhere"
assert_not_contains "$BODY" "https://" "nothing fetched from elsewhere"
ETAG=$(sed -n 's/^ETag: //p' <<<"$HDRS")
assert_match "$ETAG" '^"[0-9a-f]{16}"$' "a strong ETag"
: >"$T/.body" # curl leaves the file alone when no body comes
http GET / -H "If-None-Match: $ETAG"
assert_eq 304 "$CODE" "If-None-Match: 304"
assert_eq "" "$BODY" "304 has no body"
http GET / -H 'If-None-Match: "0000000000000000"'
assert_eq 200 "$CODE" "another ETag: 200"
for f in app.js api.js timeline.js integrity.js merkle.js; do
	http GET "/console/$f"
	assert_eq 200 "$CODE" "$f"
	assert_contains "$HDRS" "Content-Type: text/javascript; charset=utf-8" "$f type"
	assert_eq "$(cat "$ATR_SRC/src/server/console/$f")" "$BODY" "$f is the file in the source tree"
	assert_not_contains "$BODY" "://" "$f names no other site"
done
http GET /console/app.css
assert_contains "$HDRS" "Content-Type: text/css; charset=utf-8" "css type"
http HEAD /console/app.js
assert_eq 200 "$CODE" "HEAD"
http GET /console/nope.js
assert_eq 404 "$CODE" "an unknown file"
assert_contains "$BODY" "no console file 'nope.js'"
http GET /console/../server.c
assert_eq 404 "$CODE" "no way out of the table"
http POST /
assert_eq 405 "$CODE" "POST /"

# ------------------------------------------------------------ whoami and activity
http GET /api/v1/whoami
assert_eq 401 "$CODE" "whoami needs a token"
for pair in "$R:rita:reader" "$AP:carol:approver" "$AU:audrey:auditor" "$W:wendy:writer" "$ADM:root:admin"; do
	IFS=: read -r t name role <<<"$pair"
	http GET /api/v1/whoami -H "Authorization: Bearer $t"
	assert_eq 200 "$CODE" "whoami as $role"
	assert_eq "{\"name\":\"$name\",\"role\":\"$role\",\"tokens_required\":true}" "$BODY" "whoami as $role"
done
http GET /api/v1/activity -H "Authorization: Bearer $R"
assert_eq 200 "$CODE" "activity"
assert_eq '["S2", "S1"]' "$(jq_ '[s["session_id"] for s in d["sessions"]]')" "sessions, newest first"
# Seq 0 to 4 are the tokens: the session's events are 5 to 13.
assert_eq '[9, 5, 13, "session_end", "success", true, true, "J1"]' \
	"$(jq_ '[[s["events"], s["first_seq"], s["last_seq"], s["last_type"], s["outcome"], s["started"], s["ended"], s["job_id"]] for s in d["sessions"] if s["session_id"] == "S1"][0]')" \
	"session S1 folded"
assert_eq '["R2", "R1"]' "$(jq_ '[r["run_id"] for r in d["runs"]]')" "runs"
assert_eq "$((SIZE - 1))" "$(jq_ 'd["recent"][0]["seq"]')" "the latest event first"
# The newest five: the two x_report events, the policy and two of S2.
http GET '/api/v1/activity?window=5&limit=1' -H "Authorization: Bearer $R"
assert_eq '[["S2"], 2]' "$(jq_ '[[s["session_id"] for s in d["sessions"]], d["sessions"][0]["events"]]')" "window and limit"
http GET '/api/v1/activity?window=0' -H "Authorization: Bearer $R"
assert_eq 400 "$CODE" "window 0"
assert_contains "$BODY" '"at":"window"'
http GET '/api/v1/activity?limit=201' -H "Authorization: Bearer $R"
assert_eq 400 "$CODE" "limit too big"
http GET '/api/v1/activity?since=x' -H "Authorization: Bearer $R"
assert_eq 400 "$CODE" "an unknown parameter"

# ------------------------------------------------------------ verify now
http POST /api/v1/verify -H "Authorization: Bearer $R"
assert_eq 403 "$CODE" "a reader may not verify"
http POST /api/v1/verify -H "Authorization: Bearer $AP"
assert_eq 403 "$CODE" "an approver may not verify"
http GET /api/v1/verify/status -H "Authorization: Bearer $AU"
assert_eq '{"state":"idle"}' "$BODY" "no run yet"
http POST '/api/v1/verify?key=garbage' -H "Authorization: Bearer $AU"
assert_eq 400 "$CODE" "a malformed key"
assert_contains "$BODY" '"at":"key"'
# wait_verify TOKEN: until the run is over; BODY is its status.
wait_verify() {
	for _ in $(seq 200); do
		http GET /api/v1/verify/status -H "Authorization: Bearer $1"
		[ "$(jq_ 'd["state"]')" != running ] && return 0
		sleep 0.05
	done
}
http POST /api/v1/verify -H "Authorization: Bearer $AU"
assert_eq 202 "$CODE" "verify started"
assert_contains "$BODY" '"by":"audrey"'
wait_verify "$AU"
assert_eq "[\"done\", \"UNANCHORED\", $SIZE, $SIZE, null]" \
	"$(jq_ '[d["state"], d["verdict"], d["checked"], d["total"], d["trusted_key"]]')" "without a key: unanchored"
VKEY=$(cat "$T/keys/k.pub")
QKEY=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1].strip(), safe=""))' "$VKEY")
http POST "/api/v1/verify?key=$QKEY" -H "Authorization: Bearer $ADM"
assert_eq 202 "$CODE" "verify with the key"
wait_verify "$ADM"
assert_eq '["done", "OK", "example.com/agentrail/console", null, 0]' \
	"$(jq_ '[d["state"], d["verdict"], d["trusted_key"], d["first_bad_seq"], len(d["findings"])]')" "with the verifier key: OK"
# ------------------------------------------------------------ the browser
mkdir -p "$OUTDIR"
rm -f "$OUTDIR"/*.png
ATR_READER=$R ATR_APPROVER=$AP ATR_AUDITOR=$AU ATR_WRITER=$W ATR_VKEY=$VKEY ATR_CHROMIUM=$CHROMIUM \
	run timeout 300 node "$JS/console.test.mjs" "$URL" "$OUTDIR"
echo "$OUT" | sed 's/^/  e2e: /' >&2
assert_eq 0 "$RC" "the browser test passed: ${ERR:0:2000}"
assert_match "$(tail -n 1 <<<"$OUT")" '^console e2e: [0-9]+ passed, 0 failed' "its summary"
SHOTS=$(ls "$OUTDIR"/*.png 2>/dev/null | wc -l)
[ "$SHOTS" -ge 10 ] && pass || fail "screenshots in $OUTDIR: $SHOTS"

# What the browser did is in the log.
http GET '/api/v1/approvals?include_resolved=true' -H "Authorization: Bearer $R"
assert_eq '[["A1", "approved", "carol", "ok to deploy, checked the diff"], ["A2", "rejected", "carol", null]]' \
	"$(jq_ '[[a["approval_id"], a["resolution"], a.get("resolved_by"), a.get("comment")] for a in d["approvals"]]')" \
	"the approvals resolved in the browser"
# One run at a time: 5,000 more events make a run long enough to be caught.
python3 -c '
import json
for i in range(5000):
    print(json.dumps({"type": "output", "actor": "filler", "session_id": "S-fill", "target": "line %d" % i, "detail": {"text": "x" * 200}}))' >"$T/fill.jsonl"
http POST /api/v1/events -H "Authorization: Bearer $W" -H 'Content-Type: application/x-ndjson' --data-binary "@$T/fill.jsonl"
assert_eq 201 "$CODE" "5,000 more events"
CODES=$(curl -s -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} ' -X POST -H "Authorization: Bearer $AU" \
	"$URL/api/v1/verify" "$URL/api/v1/verify" "$URL/api/v1/verify")
assert_match "$CODES" '^202 409 ' "a second run while one runs: 409 ($CODES)"
wait_verify "$AU"
assert_eq "done" "$(jq_ 'd["state"]')" "the run ends"
http POST /api/v1/verify -H "Authorization: Bearer $AU"
assert_eq 202 "$CODE" "and another may start"
wait_verify "$AU"

stop_server
assert_eq 0 "$SRV_RC" "clean exit"
expect_exit 0 ar verify --key "$T/keys/k.pub"
finish

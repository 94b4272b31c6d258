#!/usr/bin/env bash
# Tokens on the wire: once a store has a live token, every route but
# /healthz needs one (401 with WWW-Authenticate otherwise), each role reaches
# only its routes (403), a token revoked or created while the server runs
# takes effect within a second, and with tokens the server may listen
# beyond loopback.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

EV='{"type":"output","actor":"agent-1"}'
postev() { call "$1" POST /api/v1/events -H 'Content-Type: application/json' --data-binary "$EV"; }

# Without tokens: loopback only, no authentication, and no other address.
expect_exit 1 "$AGENTRAIL" --store "$STORE" serve --listen "0.0.0.0:$(free_port)"
assert_contains "$ERR" "tokens are required to listen on '0.0.0.0:"
start_server "$STORE"
postev ""
assert_eq 201 "$CODE" "open on loopback without tokens"
assert_contains "$(cat "$T/serve.out")" "loopback clients only"
stop_server

tok() { "$AGENTRAIL" --store "$STORE" token create --role "$1" --actor admin | tail -n 1; }
W=$(tok writer)
R=$(tok reader)
A=$(tok auditor)

# With tokens it may listen on every address; clients still come via loopback here.
SRV_HOST=0.0.0.0 start_server "$STORE"
assert_contains "$(cat "$T/serve.out")" "bearer tokens required (3 live)"
call "" GET /healthz
assert_eq 200 "$CODE" "healthz stays public"
postev ""
assert_eq 401 "$CODE" "no token"
assert_contains "$BODY" '"code":"unauthorized"'
assert_contains "$HDRS" 'WWW-Authenticate: Bearer realm="agentrail"'
postev "atr_0000000000000000000000000000000000000000000000000000000000000000"
assert_eq 401 "$CODE" "unknown token"
call "" GET /api/v1/events -H "Authorization: Basic $W"
assert_eq 401 "$CODE" "not a bearer token"

postev "$W"
assert_eq 201 "$CODE" "writer writes"
call "$W" GET /api/v1/events
assert_eq 403 "$CODE" "writer cannot read"
assert_contains "$BODY" "role 'writer' may not GET /api/v1/events"
postev "$R"
assert_eq 403 "$CODE" "reader cannot write"
assert_contains "$BODY" '"code":"forbidden"'
call "$R" GET /api/v1/events
assert_eq 200 "$CODE" "reader reads"
assert_contains "$BODY" '"actor":"agent-1"'
call "$R" GET /api/v1/root
assert_eq 200 "$CODE" "reader reads the root"
call "$R" GET /metrics
assert_eq 403 "$CODE" "reader cannot read metrics"
call "$A" GET /metrics
assert_eq 200 "$CODE" "auditor reads metrics"
call "$A" GET /api/v1/approvals
assert_eq 200 "$CODE" "auditor reads approvals"
# Nobody can change or delete: there is no such route, whatever the role.
for m in PUT DELETE PATCH; do
	call "$A" "$m" /api/v1/events
	assert_eq 405 "$CODE" "$m refused"
done

# Revoked while running: refused within about a second.
wid=$("$AGENTRAIL" --store "$STORE" token list --json | python3 -c 'import json,sys
for l in sys.stdin:
    d=json.loads(l)
    if d["role"]=="writer": print(d["id"])')
expect_exit 0 "$AGENTRAIL" --store "$STORE" token revoke "$wid" --reason "test" --actor admin
sleep 1.2
postev "$W"
assert_eq 401 "$CODE" "revoked writer refused"
# Created while running: accepted within about a second.
W2=$(tok writer)
sleep 1.2
postev "$W2"
assert_eq 201 "$CODE" "new writer accepted"

stop_server
assert_eq 0 "$SRV_RC" "clean exit"
# Refused requests appended nothing: three outputs (one before the tokens), five token changes.
assert_eq 3 "$("$AGENTRAIL" --store "$STORE" query --type output --count)" "outputs appended"
assert_eq 5 "$("$AGENTRAIL" --store "$STORE" query --type token_change --count)" "token events"
finish

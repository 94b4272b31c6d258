#!/usr/bin/env bash
# Resolving approvals: POST /api/v1/approvals/{id}/resolve (approvers only)
# appends an approval_resolved event naming the token as the resolver; a
# wrong job_hash, a second resolution, an approver's own request, an unknown
# id and a bad body are refused, and two resolutions of the same request at
# once never both succeed. `agentrail approvals` lists and resolves.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

# resolve TOKEN ID BODY
resolve() { call "$1" POST "/api/v1/approvals/$2/resolve" -H 'Content-Type: application/json' --data-binary "$3"; }
tok() { "$AGENTRAIL" --store "$STORE" token create --role "$1" --name "$2" --actor admin | tail -n 1; }
# request ID JOB ACTOR: an approval request with job_hash "jh-ID".
request() {
	ar record --json "{\"type\":\"approval_request\",\"actor\":\"$3\",\"job_id\":\"$2\",\"reason\":\"needs a human\",\"approval\":{\"id\":\"$1\",\"job_hash\":\"jh-$1\"}}" >/dev/null
}

W=$(tok writer wendy)
R=$(tok reader rita)
AP=$(tok approver carol)
AP2=$(tok approver dave)
ar record --json '{"type":"task_submit","actor":"agent-1","job_id":"J1","user_id":"alice"}' >/dev/null
request A1 J1 agent-1
request A2 J1 agent-1
request A3 J2 carol
ar record --json '{"type":"task_submit","actor":"agent-2","job_id":"J4","user_id":"dave"}' >/dev/null
request A4 J4 agent-2
request A5 J5 agent-5
request A6 J6 agent-6

start_server "$STORE"

# Roles: only approvers resolve.
resolve "$W" A1 '{"resolution":"approved","job_hash":"jh-A1"}'
assert_eq 403 "$CODE" "a writer may not resolve"
assert_contains "$BODY" '"code":"forbidden"'
resolve "$R" A1 '{"resolution":"approved","job_hash":"jh-A1"}'
assert_eq 403 "$CODE" "a reader may not resolve"
http POST /api/v1/approvals/A1/resolve -H 'Content-Type: application/json' --data-binary '{}'
assert_eq 401 "$CODE" "no token"

# Bad bodies: 400.
resolve "$AP" A1 '{"resolution":"maybe","job_hash":"jh-A1"}'
assert_eq 400 "$CODE" "bad resolution"
assert_contains "$BODY" "must be 'approved' or 'rejected'"
resolve "$AP" A1 '{"resolution":"approved"}'
assert_eq 400 "$CODE" "missing job_hash"
assert_contains "$BODY" '"at":"job_hash"'
resolve "$AP" A1 '{"job_hash":"jh-A1"}'
assert_eq 400 "$CODE" "missing resolution"
resolve "$AP" A1 'not json'
assert_eq 400 "$CODE" "not JSON"
assert_contains "$BODY" '"code":"bad_json"'
resolve "$AP" A1 '{"resolution":"approved","job_hash":"jh-A1","color":"red"}'
assert_eq 400 "$CODE" "unknown field"
# The resolver comes from the token only: a body naming one is refused.
resolve "$AP" A1 '{"resolution":"approved","job_hash":"jh-A1","resolved_by":"mallory"}'
assert_eq 400 "$CODE" "resolved_by in the body"
assert_contains "$BODY" "resolver is the caller's token"

# Unknown id: 404. Wrong job_hash: 409.
resolve "$AP" NOPE '{"resolution":"approved","job_hash":"x"}'
assert_eq 404 "$CODE" "unknown approval"
assert_contains "$BODY" '"code":"not_found"'
resolve "$AP" A1 '{"resolution":"approved","job_hash":"jh-other"}'
assert_eq 409 "$CODE" "job_hash mismatch"
assert_contains "$BODY" '"code":"job_hash_mismatch"'

# Self-approval: the request's actor, or the job's submitter, is the caller.
resolve "$AP" A3 '{"resolution":"approved","job_hash":"jh-A3"}'
assert_eq 403 "$CODE" "self approval (actor)"
assert_contains "$BODY" '"code":"self_approval"'
resolve "$AP2" A4 '{"resolution":"approved","job_hash":"jh-A4"}'
assert_eq 403 "$CODE" "self approval (submitter)"
assert_contains "$BODY" '"code":"self_approval"'
call "$AP" GET /api/v1/approvals
assert_eq 6 "$(jq_ 'len(d["approvals"])')" "nothing resolved by the refusals"

# Happy path.
resolve "$AP" A1 '{"resolution":"approved","job_hash":"jh-A1","comment":"fine to send"}'
assert_eq 201 "$CODE" "approve"
assert_eq '["A1", "J1", "approved", "carol"]' \
	"$(jq_ '[d["approval_id"], d["job_id"], d["resolution"], d["resolved_by"]]')" "answer"
call "$AP" GET /api/v1/approvals
assert_eq '["A2", "A3", "A4", "A5", "A6"]' "$(jq_ '[a["approval_id"] for a in d["approvals"]]')" "A1 left the queue"
call "$R" GET /api/v1/jobs/J1
assert_eq '[["A1", "approved", "carol", "fine to send"], ["A2", "pending", null, null]]' \
	"$(jq_ '[[a["approval_id"], a["resolution"], a["resolved_by"], a["comment"]] for a in d["approvals"]]')" \
	"the job shows the resolution and the resolver"
call "$R" GET '/api/v1/events?type=approval_resolved'
assert_eq '[["carol", "carol", "J1", "jh-A1"]]' \
	"$(jq_ '[[e["actor"], e["approval"]["resolved_by"], e["job_id"], e["approval"]["job_hash"]] for e in d["events"]]')" \
	"the event names the token's name"

# Resolving twice: 409 naming who and when.
resolve "$AP2" A1 '{"resolution":"rejected","job_hash":"jh-A1"}'
assert_eq 409 "$CODE" "double resolve"
assert_contains "$BODY" '"code":"already_resolved"'
assert_contains "$BODY" "already approved by 'carol' at 20"

# Reject.
resolve "$AP2" A2 '{"resolution":"rejected","job_hash":"jh-A2"}'
assert_eq 201 "$CODE" "reject"
call "$R" GET /api/v1/jobs/J1
assert_eq rejected "$(jq_ '[a["resolution"] for a in d["approvals"] if a["approval_id"] == "A2"][0]')" "rejected"

# Concurrency: many resolutions of one request at once, exactly one 201.
args=()
for i in $(seq 16); do
	tk=$AP
	[ $((i % 2)) = 0 ] && tk=$AP2
	args+=(--next -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $tk"
		-H 'Content-Type: application/json' --data-binary '{"resolution":"approved","job_hash":"jh-A5"}'
		"$URL/api/v1/approvals/A5/resolve")
done
curl -s -Z --parallel-immediate --parallel-max 16 "${args[@]}" >"$T/conc" 2>/dev/null || true
assert_eq "1 15" "$(grep -c '^201$' "$T/conc") $(grep -c '^409$' "$T/conc")" \
	"concurrent resolves: one 201, the rest 409"
call "$R" GET '/api/v1/events?type=approval_resolved&job_id=J5'
assert_eq 1 "$(jq_ 'len(d["events"])')" "one approval_resolved for A5"

# The CLI: list from the server and from the store, resolve through the server.
run env AGENTRAIL_TOKEN="$R" "$AGENTRAIL" --store "$URL" approvals list --json
assert_eq 0 "$RC" "remote list"
assert_eq '["A3", "A4", "A6"]' "$(py '[a["approval_id"] for a in d]' <<<"$OUT")" "remote list: pending only"
run env AGENTRAIL_TOKEN="$R" "$AGENTRAIL" --store "$URL" approvals list --all
assert_eq 6 "$(grep -c . <<<"$OUT")" "remote list --all: every request"
assert_contains "$OUT" "A1  job J1  approved by carol"
run ar approvals list --json
assert_eq '["A3", "A4", "A6"]' "$(py '[a["approval_id"] for a in d]' <<<"$OUT")" "local list"
expect_exit 64 "$AGENTRAIL" --store "$STORE" approvals resolve A6 --approve --job-hash jh-A6
assert_contains "$ERR" "resolving needs a server"
expect_exit 1 env AGENTRAIL_TOKEN="$AP" "$AGENTRAIL" --store "$URL" approvals resolve A6 --approve --job-hash nope
assert_contains "$ERR" "does not match"
expect_exit 1 env AGENTRAIL_TOKEN="$W" "$AGENTRAIL" --store "$URL" approvals resolve A6 --approve --job-hash jh-A6
assert_contains "$ERR" "role 'writer' may not"
run env AGENTRAIL_TOKEN="$AP2" "$AGENTRAIL" --store "$URL" approvals resolve A6 --reject --comment "not now" --job-hash jh-A6
assert_eq 0 "$RC" "cli resolve: $ERR"
assert_contains "$OUT" "rejected A6 (job J6) as dave: seq "
call "$R" GET /api/v1/jobs/J6
assert_eq '[["rejected", "dave", "not now"]]' \
	"$(jq_ '[[a["resolution"], a["resolved_by"], a["comment"]] for a in d["approvals"]]')" "cli resolution in the job"

stop_server
assert_eq 0 "$SRV_RC" "server stopped cleanly"

# Without tokens nobody can be the resolver.
STORE2="$T/open.db"
"$AGENTRAIL" --store "$STORE2" record --json '{"type":"approval_request","actor":"a","reason":"r","approval":{"id":"B1","job_hash":"h"}}' >/dev/null
start_server "$STORE2"
http POST /api/v1/approvals/B1/resolve -H 'Content-Type: application/json' --data-binary '{"resolution":"approved","job_hash":"h"}'
assert_eq 401 "$CODE" "no tokens, no resolver"
stop_server

finish

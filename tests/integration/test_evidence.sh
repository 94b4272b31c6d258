#!/usr/bin/env bash
# Evidence bundles end to end (issue 7's "must show"): with a real server,
# publish policy v1, submit a job, a REQUIRE_APPROVAL decision citing v1,
# an approval request, publish v2, resolve it with an approver's token,
# output safety, complete; once a signed checkpoint covers it,
# `agentrail evidence` (client mode) shows v1's text, the approver and the
# comment; `verify-evidence --key` passes offline with the server stopped,
# and so does the independent Python verifier; changing any one byte of a
# record, a payload, the summary or the checkpoint makes it fail (exit 1).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

INDEP="python3 $(dirname "$0")/indep_verify.py"
V1=$'Pushes to main need one approval by a maintainer.\nHotfixes count as pushes.'
V2='Pushes to main need two approvals.'

tok() { ar token create --role "$1" --name "$2" --actor admin | tail -n 1; }
# event JSON: appended by the writer.
event() {
	call "$W" POST /api/v1/events -H 'Content-Type: application/json' --data-binary "$1"
	assert_eq 201 "$CODE" "event accepted: ${1:0:60}"
}
# publish NAME TEXT: POST /api/v1/policies, sets SNAP.
publish() {
	local body
	body=$(python3 -c 'import json, sys; print(json.dumps({"name": sys.argv[1], "document": sys.argv[2]}))' "$1" "$2")
	call "$ADM" POST /api/v1/policies -H 'Content-Type: application/json' --data-binary "$body"
	assert_eq 201 "$CODE" "policy $1 published"
	SNAP=$(jq_ 'd["snapshot"]')
}

# The key outside the store's directory, as serve insists (a PostgreSQL log has none).
[ "${AGENTRAIL_TEST_STORE_KIND:-sqlite}" = postgres ] || STORE="$T/store/log.db"
mkdir -p "$T/store" "$T/keys"
expect_exit 0 ar keygen --name test.example/evidence --out "$T/keys/k"
expect_exit 0 ar keygen --name test.example/evidence --out "$T/keys/other"
ADM=$(tok admin root)
W=$(tok writer agent)
AP=$(tok approver bob)
AUD=$(tok auditor audrey)
RD=$(tok reader rita)

# First without a signing key: the job is there, no checkpoint covers it.
start_server "$STORE"
publish push "$V1"
SNAP1=$SNAP
assert_eq "sha256:$(printf '%s' "$V1" | sha256sum | cut -c1-64)" "$SNAP1" "v1's snapshot is the SHA-256 of its text"
event '{"type":"task_submit","actor":"agent","user_id":"alice","job_id":"J-1","target":"ship the fix","detail":{"prompt":"fix the flaky test and push to main"}}'
event '{"type":"llm_call","actor":"agent","model":"m-1","job_id":"J-1","detail":{"prompt":"plan the push"}}'
event "{\"type\":\"decision\",\"actor\":\"policy-engine\",\"job_id\":\"J-1\",\"reason\":\"pushing to main\",\"policy\":{\"decision\":\"REQUIRE_APPROVAL\",\"rule_id\":\"push\",\"snapshot\":\"$SNAP1\"}}"
REQ='{"type":"approval_request","actor":"agent","job_id":"J-1","reason":"push the fix to main","policy":{"rule_id":"push"},"approval":{"id":"AP-1","required":true,"job_hash":"JOBHASH"}}'
JH=$(printf '%s' "push the fix to main: 3 files" | sha256sum | cut -c1-64)
event "${REQ/JOBHASH/$JH}"
call "$AUD" GET /api/v1/jobs/J-1/evidence
assert_eq 409 "$CODE" "no checkpoint yet: 409"
assert_contains "$BODY" '"code":"no_checkpoint"'
assert_contains "$BODY" "no signed checkpoint covers seq"
assert_contains "$BODY" "agentrail checkpoint --key"
stop_server
# A checkpoint of the job so far (the approval not yet resolved), for --checkpoint below.
ar checkpoint --key "$T/keys/k.key" >"$T/old.note"

# Then signing.
start_server "$STORE" --key "$T/keys/k.key" --checkpoint-interval 1
publish push "$V2"
SNAP2=$SNAP
call "$AP" POST /api/v1/approvals/AP-1/resolve -H 'Content-Type: application/json' \
	--data-binary "{\"resolution\":\"approved\",\"comment\":\"diff reviewed, ship it\",\"job_hash\":\"$JH\"}"
assert_eq 201 "$CODE" "approver resolves"
event '{"type":"output_safety","actor":"guard","job_id":"J-1","reason":"no secrets in the output","policy":{"decision":"ALLOW","rule_id":"out-1"}}'
event '{"type":"complete","actor":"agent","job_id":"J-1","reason":"pushed","outcome":"success"}'
event '{"type":"task_submit","actor":"agent","job_id":"J-2"}'

# Roles: readers may not have unmasked payloads; no token, no answer.
call "$RD" GET /api/v1/jobs/J-1/evidence
assert_eq 403 "$CODE" "a reader may not fetch evidence"
http GET /api/v1/jobs/J-1/evidence
assert_eq 401 "$CODE" "no token"
call "$AUD" GET /api/v1/jobs/NOPE/evidence
assert_eq 404 "$CODE" "unknown job"
assert_contains "$BODY" "no events for job 'NOPE'"
call "$AUD" GET '/api/v1/jobs/J-1/evidence?x=1'
assert_eq 400 "$CODE" "unknown parameter"

# Wait for a checkpoint that covers the whole job.
ok=0
for _ in $(seq 100); do
	call "$AUD" GET /api/v1/jobs/J-1/evidence
	[ "$CODE" = 200 ] && { ok=1; break; }
	sleep 0.1
done
assert_eq 1 "$ok" "a signed checkpoint covers the job: $BODY"
call "$ADM" GET /api/v1/jobs/J-1/evidence
assert_eq 200 "$CODE" "admins may fetch evidence"

# Client mode: the bundle, and its story.
export AGENTRAIL_TOKEN=$AUD
expect_exit 0 "$AGENTRAIL" --store "$URL" evidence J-1 --out "$T/ev.json"
assert_contains "$OUT" "submitted by alice"
assert_contains "$OUT" "Pushes to main need one approval by a maintainer."
assert_contains "$OUT" "Hotfixes count as pushes."
assert_not_contains "$OUT" "$V2" "v2's text (not in force when decided)"
assert_contains "$OUT" "approved by bob"
assert_contains "$OUT" "diff reviewed, ship it"
assert_contains "$OUT" "REQUIRE_APPROVAL under rule push"
expect_exit 0 "$AGENTRAIL" --store "$URL" evidence J-1
assert_eq "J-1" "$(py 'd["job_id"]' <<<"$OUT")" "bundle on stdout"
AGENTRAIL_TOKEN=$RD expect_exit 1 "$AGENTRAIL" --store "$URL" evidence J-1
assert_contains "$ERR" "may not GET"
expect_exit 64 "$AGENTRAIL" --store "$URL" evidence J-1 --checkpoint "$T/x"
expect_exit 1 "$AGENTRAIL" --store "$URL" evidence NOPE
assert_contains "$ERR" "no events for job 'NOPE'"
unset AGENTRAIL_TOKEN
stop_server

# Offline: only the bundle and the verifier key.
expect_exit 0 "$AGENTRAIL" verify-evidence "$T/ev.json" --key "$T/keys/k.pub"
assert_contains "$OUT" "policy $SNAP1 (published at seq"
assert_contains "$OUT" "| Pushes to main need one approval by a maintainer."
assert_contains "$OUT" "approved by bob"
assert_contains "$OUT" "\"diff reviewed, ship it\""
assert_contains "$OUT" "output safety (seq"
assert_contains "$OUT" "ALLOW under rule out-1"
assert_contains "$OUT" "final: complete"
assert_match "$OUT" "evidence OK: 7 events proven against checkpoint of size [0-9]+"
expect_exit 0 "$AGENTRAIL" verify-evidence "$T/ev.json" --key "$T/keys/k.pub" --json
assert_eq "OK 7 1 bob" "$(py '" ".join(str(x) for x in (d["status"], d["events"], d["policies"], d["summary"]["approvals"][0]["resolved_by"]))' <<<"$OUT")" "--json"
expect_exit 0 $INDEP evidence "$T/ev.json" "$T/keys/k.pub"
assert_match "$OUT" "^7 1 [0-9]+$" "independent verifier"
# The decision cites v1, not v2 (published later).
assert_eq "$SNAP1" "$(py 'd["summary"]["decisions"][0]["snapshot"]' <"$T/ev.json")" "the decision's snapshot"
assert_eq "true" "$(py 'd["summary"]["decisions"][0]["snapshot_known"]' <"$T/ev.json")" "snapshot known"

# flip FILE NAME NEEDLE SKIP: copy with one character changed SKIP bytes after
# the first NEEDLE (found after "events"/"policies" for those names).
flip() {
	python3 - "$T/ev.json" "$T/bad-$1.json" "$2" "$3" "${4:-}" <<'EOF'
import sys
src, dst, needle, skip, after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
b = bytearray(open(src, "rb").read())
start = b.index(after.encode()) if after else 0
i = b.index(needle.encode(), start) + len(needle) + skip
b[i] = ord("a") if b[i] != ord("a") else ord("b")
open(dst, "wb").write(bytes(b))
EOF
}
flip record '"record":"{' 40 '"events":'
flip payload '"detail":"{' 30 '"events":'
flip policytext 'Pushes to main' 3 '"policies":'
flip summary '"comment":"' 2
flip submitter '"submitter":"' 1
flip origin '"checkpoint":"' 3
flip signature '\u2014 test.example/evidence ' 20
flip root '"checkpoint":"' 40
flip path '"audit_path":["' 10 '"events":'
for what in record payload policytext summary submitter origin signature root path; do
	expect_exit 1 "$AGENTRAIL" verify-evidence "$T/bad-$what.json" --key "$T/keys/k.pub"
	assert_contains "$OUT" "TAMPERED" "$what flipped"
done
expect_exit 1 "$AGENTRAIL" verify-evidence "$T/bad-summary.json" --key "$T/keys/k.pub"
assert_contains "$OUT" "summary.approvals[0].comment is"
expect_exit 1 $INDEP evidence "$T/bad-payload.json" "$T/keys/k.pub"
# An event dropped, its summary kept.
py 'd["events"].pop(1) and json.dumps(d)' <"$T/ev.json" >"$T/bad-drop.json"
expect_exit 1 "$AGENTRAIL" verify-evidence "$T/bad-drop.json" --key "$T/keys/k.pub"
assert_contains "$OUT" "summary.events is 7, but the records say 6"
# The wrong key; malformed bundles; usage.
expect_exit 1 "$AGENTRAIL" verify-evidence "$T/ev.json" --key "$T/keys/other.pub"
assert_contains "$OUT" "TAMPERED: checkpoint"
head -c 300 "$T/ev.json" >"$T/bad-cut.json"
expect_exit 2 "$AGENTRAIL" verify-evidence "$T/bad-cut.json" --key "$T/keys/k.pub"
assert_contains "$OUT" "MALFORMED"
expect_exit 2 "$AGENTRAIL" verify-evidence "$T/ev.json"
expect_exit 2 "$AGENTRAIL" verify-evidence --key "$T/keys/k.pub"
expect_exit 2 "$AGENTRAIL" verify-evidence "$T/missing.json" --key "$T/keys/k.pub"
expect_exit 0 "$AGENTRAIL" verify-evidence - --key "$T/keys/k.pub" <"$T/ev.json"

# A local store gives the same evidence; a checkpoint given explicitly must cover the job.
expect_exit 0 ar evidence J-1 --out "$T/local.json"
expect_exit 0 "$AGENTRAIL" verify-evidence "$T/local.json" --key "$T/keys/k.pub"
expect_exit 1 ar evidence J-1 --checkpoint "$T/old.note"
assert_contains "$ERR" "is not in it"
expect_exit 1 ar evidence NOPE
expect_exit 64 ar evidence
expect_exit 64 ar evidence ""

finish

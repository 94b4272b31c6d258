#!/usr/bin/env bash
# Policies through a real server: an admin publishes v1 and v2 (snapshot =
# sha256 of the text, computed here independently), reads them back by name
# and by snapshot byte for byte, rolls back to v1 (a policy_rollback event),
# and /api/v1/policy/audit lists all three. Non-admins get 403, bad bodies
# precise 400s, unknown policies 404; re-publishing what is in force
# appends nothing. A decision citing an unknown snapshot is accepted and
# flagged snapshot_known:false. `agentrail policy` locally and in client mode.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

# publish TOKEN BODY
publish() { call "$1" POST /api/v1/policies -H 'Content-Type: application/json' --data-binary "$2"; }
tok() { "$AGENTRAIL" --store "$STORE" token create --role "$1" --name "$2" --actor root | tail -n 1; }
size() { "$AGENTRAIL" --store "$STORE" root --json | py 'd["size"]'; }
sha() { printf '%s' "$1" | sha256sum | cut -c1-64; }
# body NAME TEXT: a publish body with TEXT as a JSON string (built by python, not by hand)
body() { python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "document": sys.argv[2]}))' "$1" "$2"; }

ADM=$(tok admin alice)
W=$(tok writer wendy)
R=$(tok reader rita)
AP=$(tok approver carol)
start_server "$STORE"

V1=$'deny: rm -rf /\nallow: "read"\n\ttabs and unicode \xc3\xa9'
V2='require approval for deploys'
S1="sha256:$(sha "$V1")"
S2="sha256:$(sha "$V2")"

# Roles: only admins publish or roll back.
for t in "$W" "$R" "$AP"; do
	publish "$t" "$(body deploy "$V1")"
	assert_eq 403 "$CODE" "a non-admin may not publish"
done
call "$R" POST /api/v1/policies/deploy/rollback
assert_eq 403 "$CODE" "a reader may not roll back"
assert_contains "$BODY" '"code":"forbidden"'

# Bad bodies: precise 400s.
publish "$ADM" '{"document":"x"}'
assert_eq 400 "$CODE" "missing name"
assert_contains "$BODY" "field 'name' is required"
publish "$ADM" '{"name":"a/b","document":"x"}'
assert_eq 400 "$CODE" "bad name"
assert_contains "$BODY" "policy name has '/' at 1"
publish "$ADM" '{"name":"a\u0001b","document":"x"}'
assert_eq 400 "$CODE" "control character in the name"
assert_contains "$BODY" "byte 0x01 at 1"
publish "$ADM" "{\"name\":\"$(printf 'n%.0s' $(seq 257))\",\"document\":\"x\"}"
assert_eq 400 "$CODE" "name too long"
publish "$ADM" '{"name":"deploy"}'
assert_eq 400 "$CODE" "missing document"
assert_contains "$BODY" "field 'document' is required"
publish "$ADM" '{"name":"deploy","document":42}'
assert_eq 400 "$CODE" "document of the wrong type"
assert_contains "$BODY" "must be a string (text) or an object or array"
publish "$ADM" '{"name":"deploy","document":"x","colour":"red"}'
assert_eq 400 "$CODE" "unknown field"
assert_contains "$BODY" "unknown field 'colour'; a policy has name, document and reason"
publish "$ADM" '{"name":"deploy","document":"x","name":"y"}'
assert_eq 400 "$CODE" "duplicate key"
publish "$ADM" 'not json'
assert_eq 400 "$CODE" "not JSON"
assert_contains "$BODY" '"code":"bad_json"'
python3 -c 'import json; print(json.dumps({"name":"big","document":"a"*1100000}))' >"$T/big.json"
call "$ADM" POST /api/v1/policies -H 'Content-Type: application/json' --data-binary @"$T/big.json"
assert_eq 413 "$CODE" "document too big"
assert_contains "$BODY" "a document of 1100000 bytes is too big for one event"
assert_contains "$BODY" "the limit is 1048576"
assert_eq 4 "$(size)" "nothing appended by the refusals (4 token events)"

# Publish v1 and v2; the snapshot is the SHA-256 of the exact text.
publish "$ADM" "$(python3 -c 'import json,sys; print(json.dumps({"name":"deploy","document":sys.argv[1],"reason":"first rules"}))' "$V1")"
assert_eq 201 "$CODE" "publish v1: $BODY"
assert_eq "$S1" "$(jq_ 'd["snapshot"]')" "v1 snapshot = sha256 of the text"
assert_eq '["deploy", 4]' "$(jq_ '[d["name"], d["seq"]]')" "v1 answer"
publish "$ADM" "$(body deploy "$V2")"
assert_eq 201 "$CODE" "publish v2"
assert_eq "$S2" "$(jq_ 'd["snapshot"]')" "v2 snapshot"
V2SEQ=$(jq_ 'd["seq"]')
V2ID=$(jq_ 'd["event_id"]')

# Idempotent: the version in force again appends nothing.
publish "$ADM" "$(body deploy "$V2")"
assert_eq 200 "$CODE" "re-publish"
assert_eq "[true, $V2SEQ, \"$V2ID\"]" "$(jq_ '[d["unchanged"], d["seq"], d["event_id"]]')" "answers the existing event"
assert_eq 6 "$(size)" "re-publish appended nothing"

# Read back: by name and by snapshot, the exact text.
call "$R" GET /api/v1/policies/deploy
assert_eq 200 "$CODE" "get by name"
assert_eq "$S2" "$(jq_ 'd["snapshot"]')" "v2 in force"
py 'd["text"]' <<<"$BODY" >/dev/null
assert_eq "$(sha "$V2")" "$(python3 -c 'import json,sys,hashlib; print(hashlib.sha256(json.load(sys.stdin)["text"].encode()).hexdigest())' <<<"$BODY")" "text by name is exact"
assert_eq '[2, 2, "text/plain"]' "$(jq_ '[d["versions"], d["history_total"], d["media_type"]]')" "versions and history"
call "$R" GET "/api/v1/policies/snapshots/$S1"
assert_eq 200 "$CODE" "get by snapshot"
assert_eq "$(sha "$V1")" "$(python3 -c 'import json,sys,hashlib; print(hashlib.sha256(json.load(sys.stdin)["text"].encode()).hexdigest())' <<<"$BODY")" "text by snapshot is exact"
assert_eq '[["deploy", 4]]' "$(jq_ '[[p["name"], p["seq"]] for p in d["published"]]')" "where it was published"
call "$R" GET "/api/v1/policies/snapshots/sha256:$(sha nothing)"
assert_eq 404 "$CODE" "unknown snapshot"
call "$R" GET /api/v1/policies/nope
assert_eq 404 "$CODE" "unknown policy"
assert_contains "$BODY" "no policy 'nope'"

# JSON documents are stored canonical.
publish "$ADM" '{"name":"limits","document":{"b":[1, 2.50],"a":{"z":1,"y":true}}}'
assert_eq 201 "$CODE" "publish JSON"
CANON='{"a":{"y":true,"z":1},"b":[1,2.5]}'
assert_eq "sha256:$(sha "$CANON")" "$(jq_ 'd["snapshot"]')" "JSON snapshot is of the canonical text"
call "$R" GET /api/v1/policies/limits
assert_eq "$CANON application/json" "$(jq_ 'd["text"] + " " + d["media_type"]')" "canonical text back"

# Rollback: default goes back to v1.
call "$ADM" POST /api/v1/policies/nope/rollback
assert_eq 404 "$CODE" "rollback of an unknown policy"
call "$ADM" POST /api/v1/policies/deploy/rollback -H 'Content-Type: application/json' --data-binary "{\"snapshot\":\"sha256:$(sha nothing)\"}"
assert_eq 400 "$CODE" "rollback to a snapshot never published"
assert_contains "$BODY" "was never published under policy 'deploy'"
call "$ADM" POST /api/v1/policies/deploy/rollback -H 'Content-Type: application/json' --data-binary '{"to":"x"}'
assert_eq 400 "$CODE" "unknown rollback field"
call "$ADM" POST /api/v1/policies/deploy/rollback -H 'Content-Type: application/json' --data-binary '{"reason":"v2 broke deploys"}'
assert_eq 201 "$CODE" "rollback: $BODY"
assert_eq "[\"$S1\", \"$S2\"]" "$(jq_ '[d["snapshot"], d["from"]]')" "back to v1"
call "$ADM" POST /api/v1/policies/deploy/rollback
assert_eq 409 "$CODE" "nothing further back"
assert_contains "$BODY" "no earlier version to roll back to"
call "$R" GET /api/v1/policies/deploy
assert_eq "$S1" "$(jq_ 'd["snapshot"]')" "v1 in force again"
assert_eq "$(sha "$V1")" "$(python3 -c 'import json,sys,hashlib; print(hashlib.sha256(json.load(sys.stdin)["text"].encode()).hexdigest())' <<<"$BODY")" "v1 text in force"
assert_eq '["policy_publish", "policy_publish", "policy_rollback"]' "$(jq_ '[h["type"] for h in d["history"]]')" "history"
call "$R" "GET" '/api/v1/policies/deploy?limit=2'
assert_eq 2 "$(jq_ 'len(d["history"])')" "history paged"
CUR=$(jq_ 'd["next_cursor"]')
call "$R" GET "/api/v1/policies/deploy?limit=2&cursor=$CUR"
assert_eq '["policy_rollback", null]' "$(jq_ '[d["history"][0]["type"], d["next_cursor"]]')" "second page"
call "$R" GET /api/v1/events?type=policy_rollback
assert_eq "[[\"alice\", \"deploy\", \"$S1\", \"v2 broke deploys\"]]" \
	"$(jq_ '[[e["actor"], e["target"], e["policy"]["snapshot"], e["reason"]] for e in d["events"]]')" "policy_rollback event, actor from the token"

# The audit lists all three, with their snapshots.
call "$R" GET /api/v1/policy/audit
assert_eq "[[\"policy_publish\", \"deploy\", \"$S1\"], [\"policy_publish\", \"deploy\", \"$S2\"], [\"policy_publish\", \"limits\", \"sha256:$(sha "$CANON")\"], [\"policy_rollback\", \"deploy\", \"$S1\"]]" \
	"$(jq_ '[[e["type"], e["target"], e["policy"]["snapshot"]] for e in d["events"]]')" "policy audit"

call "$R" GET /api/v1/policies
assert_eq "[[\"deploy\", \"$S1\", 2], [\"limits\", \"sha256:$(sha "$CANON")\", 1]]" \
	"$(jq_ '[[p["name"], p["snapshot"], p["versions"]] for p in d["policies"]]')" "list"

# Decisions: an unknown snapshot is accepted and flagged; v1 is known.
dec() { call "$W" POST /api/v1/events -H 'Content-Type: application/json' --data-binary "{\"type\":\"decision\",\"actor\":\"gate\",\"job_id\":\"J1\",\"reason\":\"r\",\"policy\":{\"rule_id\":\"deploy\",\"decision\":\"ALLOW\"$1}}"; }
dec ",\"snapshot\":\"sha256:$(sha never-published)\""
assert_eq 201 "$CODE" "a decision citing an unknown snapshot is accepted"
dec ",\"snapshot\":\"$S1\""
assert_eq 201 "$CODE" "a decision citing v1"
dec ""
call "$R" GET /api/v1/jobs/J1
assert_eq '[false, true, null]' "$(jq_ '[x["snapshot_known"] for x in d["decisions"]]')" "snapshot_known in the job"
assert_eq true "$(jq_ 'd["policy_snapshot_known"]')" "the job's last snapshot is known"
call "$R" GET /api/v1/jobs/J1/decisions
assert_eq '[false, true, null]' "$(jq_ '[x["snapshot_known"] for x in d["decisions"]]')" "snapshot_known in the decisions"

# The CLI in client mode.
printf '%s' "$V2" >"$T/v2.txt"
run env AGENTRAIL_TOKEN="$ADM" "$AGENTRAIL" --store "$URL" policy publish deploy "$T/v2.txt" --reason "again"
assert_eq 0 "$RC" "cli publish: $ERR"
assert_contains "$OUT" "published policy deploy: $S2, seq "
run env AGENTRAIL_TOKEN="$ADM" "$AGENTRAIL" --store "$URL" policy publish deploy - <"$T/v2.txt"
assert_contains "$OUT" "policy deploy unchanged: $S2"
expect_exit 1 env AGENTRAIL_TOKEN="$R" "$AGENTRAIL" --store "$URL" policy publish deploy "$T/v2.txt"
assert_contains "$ERR" "role 'reader' may not"
expect_exit 64 env AGENTRAIL_TOKEN="$ADM" "$AGENTRAIL" --store "$URL" policy publish deploy "$T/v2.txt" --actor bob
run env AGENTRAIL_TOKEN="$ADM" "$AGENTRAIL" --store "$URL" policy rollback deploy --to "$S1"
assert_eq 0 "$RC" "cli rollback: $ERR"
assert_contains "$OUT" "rolled back policy deploy from $S2 to $S1"
run env AGENTRAIL_TOKEN="$R" "$AGENTRAIL" --store "$URL" policy show "$S1" --text
assert_eq "$(sha "$V1")" "$(printf '%s' "$OUT" | sha256sum | cut -c1-64)" "cli show --text (remote)"
run env AGENTRAIL_TOKEN="$R" "$AGENTRAIL" --store "$URL" policy show deploy
assert_contains "$OUT" "policy deploy  $S1  in force since seq"
run env AGENTRAIL_TOKEN="$R" "$AGENTRAIL" --store "$URL" policy list --json
assert_eq '["deploy", "limits"]' "$(py '[p["name"] for p in d]' <<<"$OUT")" "cli list (remote)"

stop_server
assert_eq 0 "$SRV_RC" "server stopped cleanly"

# The CLI on the store itself: the same answers.
run ar policy show deploy --json
assert_eq "[\"$S1\", 5]" "$(py '[d["snapshot"], d["history_total"]]' <<<"$OUT")" "local show"
run ar policy show "$S1" --text
assert_eq "$(sha "$V1")" "$(printf '%s' "$OUT" | sha256sum | cut -c1-64)" "cli show --text (local)"
expect_exit 1 ar policy rollback deploy --to "$S1"
assert_contains "$ERR" "already in force"
run ar policy publish other "$T/v2.txt" --actor bob --reason "local"
assert_eq 0 "$RC" "local publish: $ERR"
run ar query --type policy_publish --json
assert_contains "$OUT" '"actor":"bob"'
expect_exit 64 ar policy publish 'a b' "$T/v2.txt"
assert_contains "$ERR" "policy name has ' ' at 1"

# Without tokens nobody can be named as the publisher.
STORE2="$T/open.db"
start_server "$STORE2"
http POST /api/v1/policies -H 'Content-Type: application/json' --data-binary '{"name":"x","document":"y"}'
assert_eq 401 "$CODE" "no tokens, no publisher"
stop_server

finish

#!/usr/bin/env bash
# Readers see secrets masked (DESIGN.md section 5): events carrying every
# kind of secret the built-in detectors know are ingested; a reader's token
# gets "[REDACTED:<kind>:<hash>]" in their place on every read route (event
# lists, single events, stored records, trails, jobs) and never the secret;
# auditors and approvers get the stored bytes; every answer stays JSON.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

header() { grep -i "^$1:" <<<"$HDRS" | head -1 | sed 's/^[^:]*: *//'; }
is_json() { python3 -c 'import json,sys; json.loads(sys.stdin.read())' <<<"$BODY" && echo ok || echo "not JSON"; }

tok() { "$AGENTRAIL" --store "$STORE" token create --role "$1" --actor admin | tail -n 1; }
W=$(tok writer)
R=$(tok reader)
A=$(tok auditor)
P=$(tok approver)

# Fake secrets, assembled from pieces so secret scanners leave this file alone.
AWS_ID="AK""IA7UVXLELQYGNB5PN3"
AWS_SECRET="MwrITq6vxgxt0/dMCUl70tPsf8ahmTGQduyl23zv"
OPENAI="sk""-huG8GP38g4o5MNJAYKJ1UXXFWXLCpaNfhs0gCa05RFRunzqw"
ANTHROPIC="sk""-ant-api03-1urN0XtzWbnXjgSTdd8PM5Pp-7vtA3R6DiZezwfg5y9cqBruxXI21kXNxSwH7-1K7wP94pJmBDal6Q0xdTuTBoJBLIqmHAA"
GITHUB="gh""p_g9BkgRdWwUZlPOgGurL1es7ukqqeaA355XqA"
GITLAB="gl""pat-uLLKTrXyb92TvdwOsudo"
SLACK="xo""xb-805154382993-2157116494157-6FhJHp1wR0D6LwfeXfZFXtqW"
STRIPE="sk""_live_QokuBGJvu65UQ2FzulmZDo3S"
GOOGLE="AI""zaI4HsIDQspIL6ZZcQ0Rm-A2TQhZwbIGqQ189"
BEARER="EC.BVu226UAN49lBzokTuowA3y2dsIKUYb96IT-r"
JWT="ey""JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.ey""JzdWIiOiJhZ2VudC03In0.nsCT6WgPGk77SmJLekfi5nX69ctOrdnYlvGcfjpQtN8"
PEM_LINE="PVK35XewPmY9g9zZUGsKfT+YL3AwxB2WeZdhe4cEf/I3YroIh3fII0s93IVQRMRu"
PASSWORD="s3cr3t-pw"
SECRETS=("$AWS_ID" "$AWS_SECRET" "$OPENAI" "$ANTHROPIC" "$GITHUB" "$GITLAB" "$SLACK" "$STRIPE"
	"$GOOGLE" "$BEARER" "$JWT" "$PEM_LINE" "$PASSWORD" "${W#atr_}")
KINDS='["agentrail_token", "anthropic_key", "aws_access_key", "aws_secret_key", "bearer_token", "github_token", "gitlab_token", "google_api_key", "jwt", "openai_key", "private_key", "slack_token", "stripe_key", "url_password"]'

id() { printf '01890a5d-ac96-774b-bcce-b302090000%02d' "$1"; }
E1=$(id 1) E2=$(id 2) E3=$(id 3) E4=$(id 4)

# The events, as NDJSON written by python so the JSON escaping is right: a
# session S1 with a tree of events (E2 and E3 under E1) and a job J1 whose
# decision gives its reason with a password in a URL.
export E1 E2 E3 E4 AWS_ID AWS_SECRET OPENAI ANTHROPIC GITHUB GITLAB SLACK STRIPE GOOGLE BEARER JWT \
	PEM_LINE PASSWORD W
python3 >"$T/events.ndjson" <<'EOF'
import json, os
e = os.environ
pem = ("-----BEGIN RSA PRIV" "ATE KEY-----\n" + e["PEM_LINE"] + "\n" + e["PEM_LINE"][::-1] +
       "\n-----END RSA PRIV" "ATE KEY-----\n")
common = {"actor": "agent-1", "session_id": "S1", "job_id": "J1"}
events = [
    dict(common, type="command", event_id=e["E1"], exit_code=0,
         target="psql postgres://bob:" + e["PASSWORD"] + "@db.internal:5432/app",
         detail={"stdout": "AWS_ACCESS_KEY_ID=" + e["AWS_ID"] + "\naws_secret_access_key = " +
                 e["AWS_SECRET"] + "\n", "env": {"AGENTRAIL_TOKEN": e["W"], "OPENAI_API_KEY": e["OPENAI"]}}),
    dict(common, type="tool_result", event_id=e["E2"], parent_event_id=e["E1"],
         detail={"headers": ["Authorization: Bearer " + e["BEARER"], "x-api-key: " + e["ANTHROPIC"]],
                 "file": pem, "tokens": [e["GITHUB"], e["GITLAB"], e["SLACK"], e["STRIPE"]],
                 "url": "https://maps.example.com/api?key=" + e["GOOGLE"] + "&q=x",
                 "json": json.dumps({"id_token": e["JWT"]})}),
    dict(common, type="output", event_id=e["E3"], parent_event_id=e["E2"],
         detail={"text": "nothing secret here: sk-learn, task-sk-12, risk-free"}),
    dict(common, type="decision", event_id=e["E4"],
         reason="deploy with postgres://bob:" + e["PASSWORD"] + "@db.internal:5432/app",
         policy={"decision": "ALLOW", "rule_id": "R-1"}),
]
for ev in events:
    print(json.dumps(ev))
EOF

# Ingest masking (test_redact_ingest.sh) is switched off here so the secrets
# are stored as they were sent, as by a version before it: reader masking is
# the defence in depth for such records, and what this test checks.
start_server "$STORE" --threads 4 --redact-disable all
assert_contains "$(cat "$T/serve.err")" "WARNING: every built-in secret detector is disabled" \
	"the server warns loudly that secrets will be stored"
call "$W" POST /api/v1/events -H 'Content-Type: application/x-ndjson' --data-binary @"$T/events.ndjson"
assert_eq 201 "$CODE" "ingest: $BODY"
SEQ1=$(jq_ 'd["results"][0]["seq"]') # E1's record: its target holds a password

# no_secret WHAT: the last answer is JSON and holds none of the secrets.
no_secret() {
	assert_eq ok "$(is_json)" "$1: JSON"
	for s in "${SECRETS[@]}"; do
		assert_not_contains "$BODY" "$s" "$1"
	done
}
# kinds: the kinds of the markers in the last answer, sorted, unique.
kinds() { python3 -c 'import re,sys,json; print(json.dumps(sorted(set(re.findall(r"\[REDACTED:([a-z0-9_]+):[0-9a-f]{8}\]", sys.stdin.read())))))' <<<"$BODY"; }

# ------------------------------------------------------------- the reader
call "$R" GET "/api/v1/events?session_id=S1"
assert_eq 200 "$CODE" "reader lists"
no_secret "reader's event list"
assert_eq "$KINDS" "$(kinds)" "every kind masked in the list"
assert_match "$(header X-Agentrail-Redactions)" '^[1-9][0-9]*$' "redaction count header"
assert_contains "$BODY" "nothing secret here: sk-learn, task-sk-12, risk-free" "ordinary text untouched"
assert_contains "$BODY" '"target":"psql postgres://bob:[REDACTED:url_password:' "only the password of the URL"
assert_contains "$BODY" '"Authorization: Bearer [REDACTED:bearer_token:' "only the bearer token"
LIST=$BODY

call "$R" GET "/api/v1/events/$E2"
assert_eq 200 "$CODE" "reader reads one event"
no_secret "reader's event"
assert_eq '["anthropic_key", "bearer_token", "github_token", "gitlab_token", "google_api_key", "jwt", "private_key", "slack_token", "stripe_key"]' \
	"$(kinds)" "kinds in one event"
# Within one server run the same secret always gets the same marker.
M1=$(py 'd["detail"]["headers"][0]' <<<"$BODY")
assert_contains "$LIST" "$M1" "same marker in the list and the event"

call "$R" GET "/api/v1/records/$SEQ1"
assert_eq 200 "$CODE" "reader reads a record"
assert_contains "$BODY" "[REDACTED:url_password:" "record masked"
no_secret "reader's record"
# The masked bytes are not the leaf: readers do not verify, auditors do.
LEAF=$(header X-Agentrail-Leaf-Hash)
assert_eq no "$(python3 -c 'import hashlib,sys; print("yes" if hashlib.sha256(b"\0"+sys.stdin.buffer.read()).hexdigest()==sys.argv[1] else "no")' "$LEAF" <"$T/.body")" \
	"masked record does not hash to the leaf"

call "$R" GET /api/v1/sessions/S1/trail
assert_eq 200 "$CODE" "reader reads the trail"
no_secret "reader's trail"
assert_eq "$KINDS" "$(kinds)" "every kind masked in the trail"
assert_eq "[\"$E1\", \"$E2\", \"$E3\"]" "$(jq_ '[d["events"][0]["event_id"], d["events"][0]["children"][0]["event_id"], d["events"][0]["children"][0]["children"][0]["event_id"]]')" \
	"trail still nested"

call "$R" GET /api/v1/jobs/J1/decisions
assert_eq 200 "$CODE" "reader reads decisions"
no_secret "reader's decisions"
assert_contains "$BODY" '"policy_reason":"deploy with postgres://bob:[REDACTED:url_password:' "decision reason masked"

call "$R" GET /api/v1/events/01890a5d-ac96-774b-bcce-b30209999999
assert_eq 404 "$CODE" "reader's 404"
assert_eq ok "$(is_json)" "reader's error is JSON"

# ------------------------------------------------------------- auditors and approvers
call "$A" GET "/api/v1/events?session_id=S1"
assert_eq 200 "$CODE" "auditor lists"
assert_eq ok "$(is_json)" "auditor's list: JSON"
assert_not_contains "$BODY" "[REDACTED:" "auditor sees no marker"
for s in "$AWS_ID" "$AWS_SECRET" "$OPENAI" "$ANTHROPIC" "$GITHUB" "$GITLAB" "$SLACK" "$STRIPE" \
	"$GOOGLE" "$BEARER" "$JWT" "$PEM_LINE" "$PASSWORD" "$W"; do
	assert_contains "$BODY" "$s" "auditor sees the stored value"
done
assert_eq "" "$(header X-Agentrail-Redactions)" "no redaction header for auditors"

call "$A" GET "/api/v1/records/$SEQ1"
assert_eq 200 "$CODE" "auditor reads a record"
assert_contains "$BODY" "postgres://bob:$PASSWORD@db.internal" "auditor's record unmasked"
LEAF=$(header X-Agentrail-Leaf-Hash)
assert_eq yes "$(python3 -c 'import hashlib,sys; print("yes" if hashlib.sha256(b"\0"+sys.stdin.buffer.read()).hexdigest()==sys.argv[1] else "no")' "$LEAF" <"$T/.body")" \
	"auditor's record hashes to the leaf"

call "$P" GET /api/v1/sessions/S1/trail
assert_eq 200 "$CODE" "approver reads the trail"
assert_contains "$BODY" "$GITHUB" "approver sees the stored value"

stop_server
assert_eq 0 "$SRV_RC" "clean exit"

# The store holds what was sent: masking is only on the way out.
assert_contains "$(ar query --session S1 --json)" "postgres://bob:$PASSWORD@db.internal" \
	"stored records untouched"
finish

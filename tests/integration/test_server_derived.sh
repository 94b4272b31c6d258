#!/usr/bin/env bash
# The derived answers of agentrail serve over real HTTP: a job through
# approval to success (job state, decisions, approval queue), session and
# trace trails nested by parent_event_id, the workflow-run timeline with
# cursors, the policy audit, pages of every list (a trail's tree per page,
# past 10,000 events), their 404s and 400s, and odd input.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

get() { http GET "$1"; }
err() { jq_ '[d["error"]["code"], d["error"].get("at")]'; }
# posted EVENT: post one event and check it was appended.
posted() {
	post "$1"
	assert_eq 201 "$CODE" "post $(py 'd["type"]' <<<"$1")"
}

id() { printf '01890a5d-ac96-774b-bcce-b302090000%02d' "$1"; }
E1=$(id 1) E2=$(id 2) E3=$(id 3) E4=$(id 4) E5=$(id 5) E6=$(id 6) E7=$(id 7) E8=$(id 8)
E9=$(id 9) P1=$(id 10) P2=$(id 11) X1=$(id 12) X2=$(id 13) X3=$(id 14) O1=$(id 15)
JOB='"job_id":"J1","run_id":"R1","session_id":"S1"'

start_server "$STORE" --threads 4

# Nothing there yet.
get /api/v1/policy/audit
assert_eq 200 "$CODE" "empty policy audit status"
assert_eq '{"events":[],"next_cursor":null}' "$BODY" "empty policy audit"
get /api/v1/approvals
assert_eq '{"approvals":[],"next_cursor":null}' "$BODY" "empty approval queue"

# ------------------------------------------------------------ a job
posted "{\"type\":\"task_submit\",\"actor\":\"alice\",$JOB,\"trace_id\":\"T1\",\"event_id\":\"$E1\",\"detail\":{\"prompt\":\"summarize the report\"}}"
posted "{\"type\":\"llm_call\",\"actor\":\"agent-1\",\"model\":\"m-large\",$JOB,\"trace_id\":\"T1\",\"event_id\":\"$E2\",\"parent_event_id\":\"$E1\",\"usage\":{\"input_tokens\":120,\"output_tokens\":30}}"
posted "{\"type\":\"tool_call\",\"actor\":\"agent-1\",\"target\":\"search\",$JOB,\"trace_id\":\"T1\",\"event_id\":\"$E3\",\"parent_event_id\":\"$E2\"}"
posted "{\"type\":\"tool_result\",\"actor\":\"agent-1\",$JOB,\"trace_id\":\"T1\",\"event_id\":\"$E4\",\"parent_event_id\":\"$E3\",\"detail\":{\"hits\":3}}"
posted "{\"type\":\"decision\",\"actor\":\"policy-engine\",$JOB,\"trace_id\":\"T1\",\"workflow_step_id\":\"W2\",\"event_id\":\"$E5\",\"parent_event_id\":\"$E1\",\"reason\":\"sending mail needs a human\",\"policy\":{\"decision\":\"REQUIRE_APPROVAL\",\"rule_id\":\"R-7\",\"snapshot\":\"snap-1\"}}"

get /api/v1/jobs/J1
assert_eq 200 "$CODE" "job status code"
assert_eq '["J1", "alice", "running", 5]' "$(jq_ '[d["job_id"], d["submitter"], d["status"], d["events"]]')" "job running"

posted "{\"type\":\"approval_request\",\"actor\":\"agent-1\",$JOB,\"trace_id\":\"T1\",\"event_id\":\"$E6\",\"parent_event_id\":\"$E5\",\"reason\":\"send the summary by mail\",\"approval\":{\"id\":\"A1\",\"required\":true,\"job_hash\":\"jh-1\"},\"policy\":{\"rule_id\":\"R-7\"}}"

get /api/v1/jobs/J1
assert_eq awaiting_approval "$(jq_ 'd["status"]')" "job awaiting approval"
assert_eq '[["A1", "pending", null]]' "$(jq_ '[[a["approval_id"], a["resolution"], a["resolved_by"]] for a in d["approvals"]]')" "job approvals pending"
get /api/v1/approvals
assert_eq 200 "$CODE" "approvals status"
assert_eq '[["A1", "J1", "agent-1", "R-7", "jh-1", "pending", "'"$E6"'"]]' \
	"$(jq_ '[[a["approval_id"], a["job_id"], a["requested_by"], a["rule_id"], a["job_hash"], a["resolution"], a["event_id"]] for a in d["approvals"]]')" \
	"pending queue"
get "/api/v1/approvals?include_resolved=false"
assert_eq '["A1"]' "$(jq_ '[a["approval_id"] for a in d["approvals"]]')" "include_resolved=false"
get /api/v1/jobs/J1/decisions
assert_eq '["pending", null, true]' "$(jq_ '[d["decisions"][0]["resolution"], d["decisions"][0]["resolved_by"], d["decisions"][0]["approval_required"]]')" \
	"decision pending"

posted "{\"type\":\"approval_resolved\",\"actor\":\"carol\",$JOB,\"trace_id\":\"T1\",\"event_id\":\"$E7\",\"parent_event_id\":\"$E6\",\"reason\":\"checked the recipients\",\"approval\":{\"id\":\"A1\",\"resolution\":\"approved\",\"resolved_by\":\"carol\",\"comment\":\"fine to send\"}}"
posted "{\"type\":\"output_safety\",\"actor\":\"guard\",$JOB,\"trace_id\":\"T2\",\"event_id\":\"$E8\",\"reason\":\"no secrets in the output\",\"policy\":{\"decision\":\"ALLOW\",\"rule_id\":\"OS-1\"}}"
posted "{\"type\":\"task_outcome\",\"actor\":\"agent-1\",$JOB,\"trace_id\":\"T2\",\"event_id\":\"$E9\",\"outcome\":\"success\",\"detail\":{\"summary\":\"done\"}}"
# Policy events come only from the server's policy routes or the operator's
# own CLI on the store: the ingest route refuses them, so write these locally.
PUB="{\"type\":\"policy_publish\",\"actor\":\"admin\",\"event_id\":\"$P1\",\"reason\":\"publish rules v2\",\"policy\":{\"snapshot\":\"snap-2\"}}"
post "$PUB"
assert_eq "403 reserved event 0" "$CODE $(jq_ 'd["error"]["code"] + " " + d["error"]["at"]')" "policy_publish through ingest"
echo "$PUB" | expect_exit 0 ar import --quiet -
# Another session with a parent outside it, and one event outside any job.
posted "{\"type\":\"tool_call\",\"actor\":\"agent-2\",\"target\":\"lookup\",\"session_id\":\"S2\",\"run_id\":\"R2\",\"event_id\":\"$O1\",\"parent_event_id\":\"$E2\"}"
echo "{\"type\":\"policy_rollback\",\"actor\":\"admin\",\"event_id\":\"$P2\",\"reason\":\"v2 blocks too much\",\"policy\":{\"snapshot\":\"snap-1\"}}" | expect_exit 0 ar import --quiet -
# The other reserved writes: tokens, erasure records, the server's own actors,
# also when the type is spelled with an escape or sits later in a batch.
post '{"type":"token_change","actor":"mallory","reason":"x","detail":{"action":"create","token_id":"0123456789abcdef","role":"admin","token_hash":"00"}}'
assert_eq "403 reserved" "$CODE $(jq_ 'd["error"]["code"]')" "token_change through ingest"
post '[{"type":"output","actor":"a"},{"type":"\u0074oken_change","actor":"mallory","reason":"x"}]'
assert_eq "403 event 1" "$CODE $(jq_ 'd["error"]["at"]')" "escaped token_change in a batch"
post '{"type":"erasure","actor":"mallory","reason":"hide it"}'
assert_eq 403 "$CODE" "erasure through ingest"
post '{"type":"x_report","level":"pipeline","actor":"agentrail-reports","reason":"fake"}'
assert_eq "403 reserved" "$CODE $(jq_ 'd["error"]["code"]')" "the reporter's actor through ingest"

# ------------------------------------------------------------ job state
get /api/v1/jobs/J1
assert_eq 200 "$CODE" "job status code"
assert_eq "[\"J1\", \"alice\", \"succeeded\", 9, \"$E1\", \"$E9\", \"snap-1\"]" \
	"$(jq_ '[d["job_id"], d["submitter"], d["status"], d["events"], d["context_ptr"], d["result_ptr"], d["policy_snapshot"]]')" \
	"job succeeded"
assert_eq '{"decision": "ALLOW", "rule_id": "OS-1"}' "$(jq_ 'd["output_safety"]')" "job output safety"
assert_eq "[[\"$E5\", 4, \"REQUIRE_APPROVAL\", \"R-7\", \"snap-1\"]]" \
	"$(jq_ '[[x["event_id"], x["seq"], x["decision"], x["rule_id"], x["snapshot"]] for x in d["decisions"]]')" "job decisions"
assert_eq '[["A1", "approved", "carol", "fine to send", "jh-1"]]' \
	"$(jq_ '[[a["approval_id"], a["resolution"], a["resolved_by"], a["comment"], a["job_hash"]] for a in d["approvals"]]')" "job approvals"
assert_eq "[\"$E9\", 8, \"task_outcome\"]" "$(jq_ '[d["last_event"]["event_id"], d["last_event"]["seq"], d["last_event"]["type"]]')" "job last event"

get /api/v1/jobs/J1/decisions
assert_eq 200 "$CODE" "decisions status"
assert_eq 1 "$(jq_ 'len(d["decisions"])')" "one decision"
assert_eq "{\"approval_required\": true, \"context_ptr\": \"$E1\", \"decision\": \"REQUIRE_APPROVAL\", \"event_id\": \"$E5\", \"job_hash\": \"jh-1\", \"job_id\": \"J1\", \"output_safety\": {\"decision\": \"ALLOW\", \"rule_id\": \"OS-1\"}, \"policy_reason\": \"sending mail needs a human\", \"policy_rule_id\": \"R-7\", \"policy_snapshot\": \"snap-1\", \"resolution\": \"approved\", \"resolved_by\": \"carol\", \"resolved_comment\": \"fine to send\", \"result_ptr\": \"$E9\", \"run_id\": \"R1\", \"seq\": 4, \"snapshot_known\": false, \"trace_id\": \"T1\", \"workflow_step_id\": \"W2\"}" \
	"$(jq_ '{k: v for k, v in d["decisions"][0].items() if k != "timestamp"}' | python3 -c 'import json,sys;print(json.dumps(json.loads(sys.stdin.read()),sort_keys=True))')" \
	"flat decision record"
assert_match "$(jq_ 'd["decisions"][0]["timestamp"]')" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "decision timestamp"

# ------------------------------------------------------------ approvals
get /api/v1/approvals
assert_eq '{"approvals":[],"next_cursor":null}' "$BODY" "queue empty once resolved"
get "/api/v1/approvals?include_resolved=true"
assert_eq '[["A1", "approved", "carol", "fine to send", 6]]' \
	"$(jq_ '[[a["approval_id"], a["resolution"], a["resolved_by"], a["comment"], a["resolved_seq"]] for a in d["approvals"]]')" \
	"include_resolved=true"

# ------------------------------------------------------------ trails
# tree: [(seq, [children...]), ...]
TREE='def t(es): return [(e["seq"], t(e["children"])) for e in es]'
tree() { python3 -c "
import json, sys
$TREE
print(json.dumps(t(json.load(sys.stdin)['events'])))" <<<"$BODY"; }
get /api/v1/sessions/S1/trail
assert_eq 200 "$CODE" "trail status"
assert_eq S1 "$(jq_ 'd["session_id"]')" "trail session id"
assert_eq '[[0, [[1, [[2, [[3, []]]]]], [4, [[5, [[6, []]]]]]]], [7, []], [8, []]]' "$(tree)" "trail nesting"
assert_eq "[\"$E2\", \"llm_call\", \"m-large\", {\"input_tokens\": 120, \"output_tokens\": 30}]" \
	"$(jq_ '[(c["event_id"], c["type"], c["model"], c["usage"]) for c in d["events"][0]["children"][:1]][0]')" "child record fields"
assert_eq '{"prompt": "summarize the report"}' "$(jq_ 'd["events"][0]["detail"]')" "detail in the trail"
assert_eq '[{"hits": 3}]' "$(jq_ '[d["events"][0]["children"][0]["children"][0]["children"][0]["detail"]]')" "nested detail"
assert_eq "[\"$E1\", \"$E1\"]" "$(jq_ '[d["events"][0]["children"][0]["parent_event_id"], d["events"][0]["children"][1]["parent_event_id"]]')" \
	"children name their parent"
# Every event once, field for field as GET /api/v1/events/{id} gives it.
FLAT=$(python3 -c "
import json, sys
def f(es):
    for e in es:
        c = dict(e); kids = c.pop('children'); yield c; yield from f(kids)
print(json.dumps(sorted(f(json.load(sys.stdin)['events']), key=lambda e: e['seq']), sort_keys=True))" <<<"$BODY")
get "/api/v1/events?session_id=S1"
assert_eq "$FLAT" "$(jq_ 'd["events"]' | python3 -c 'import json,sys;print(json.dumps(json.load(sys.stdin),sort_keys=True))')" \
	"trail records equal the listing"
get /api/v1/sessions/S2/trail
assert_eq '[[10, []]]' "$(tree)" "parent outside the session: top level"

get /api/v1/traces/T1
assert_eq 200 "$CODE" "trace status"
assert_eq T1 "$(jq_ 'd["trace_id"]')" "trace id"
assert_eq '[[0, [[1, [[2, [[3, []]]]]], [4, [[5, [[6, []]]]]]]]]' "$(tree)" "trace T1 nesting"
get /api/v1/traces/T2
assert_eq '[[7, []], [8, []]]' "$(tree)" "trace T2 flat"

# Pages of a trail: the next 'limit' events in seq order, each under its
# parent when that is on the same page, else at the page's top level.
get "/api/v1/sessions/S1/trail?limit=3"
assert_eq '[[0, [[1, [[2, []]]]]]]' "$(tree)" "trail page 1"
C=$(jq_ 'd["next_cursor"]')
assert_eq c0000000000000003 "$C" "trail cursor"
get "/api/v1/sessions/S1/trail?limit=3&cursor=$C"
assert_eq '[[3, []], [4, [[5, []]]]]' "$(tree)" "trail page 2: parents on page 1 leave events at the top"
assert_eq "[\"$E3\", \"$E1\"]" "$(jq_ '[e["parent_event_id"] for e in d["events"]]')" "trail page 2 names the parents"
get "/api/v1/sessions/S1/trail?limit=3&cursor=$(jq_ 'd["next_cursor"]')"
assert_eq '[[[6, []], [7, []], [8, []]], null]' "$(python3 -c "
import json, sys
$TREE
d = json.load(sys.stdin)
print(json.dumps([t(d['events']), d['next_cursor']]))" <<<"$BODY")" "trail last page"
get "/api/v1/sessions/S1/trail?cursor=c0000000000000100"
assert_eq '{"session_id":"S1","events":[],"next_cursor":null}' "$BODY" "trail cursor past the end: empty page"
get "/api/v1/traces/T1?limit=5"
assert_eq '[[[0, [[1, [[2, [[3, []]]]]], [4, []]]]], "c0000000000000005"]' "$(python3 -c "
import json, sys
$TREE
d = json.load(sys.stdin)
print(json.dumps([t(d['events']), d['next_cursor']]))" <<<"$BODY")" "trace page"

# ------------------------------------------------------------ timeline
get /api/v1/workflow-runs/R1/timeline
assert_eq 200 "$CODE" "timeline status"
assert_eq '["R1", [0, 1, 2, 3, 4, 5, 6, 7, 8], null]' "$(jq_ '[d["run_id"], [e["seq"] for e in d["events"]], d["next_cursor"]]')" \
	"timeline default limit"
assert_eq '[]' "$(jq_ '[e for e in d["events"] if "children" in e]')" "timeline is flat"
get "/api/v1/workflow-runs/R1/timeline?limit=4"
assert_eq '[0, 1, 2, 3]' "$(jq_ '[e["seq"] for e in d["events"]]')" "timeline page 1"
C=$(jq_ 'd["next_cursor"]')
assert_eq c0000000000000004 "$C" "timeline cursor is the events cursor"
get "/api/v1/workflow-runs/R1/timeline?limit=4&cursor=$C"
assert_eq '[4, 5, 6, 7]' "$(jq_ '[e["seq"] for e in d["events"]]')" "timeline page 2"
get "/api/v1/workflow-runs/R1/timeline?limit=4&cursor=$(jq_ 'd["next_cursor"]')"
assert_eq '[[8], null]' "$(jq_ '[[e["seq"] for e in d["events"]], d["next_cursor"]]')" "timeline last page"
# The cursor of /api/v1/events works here and the other way round.
get "/api/v1/events?run_id=R1&limit=4&cursor=$C"
assert_eq '[4, 5, 6, 7]' "$(jq_ '[e["seq"] for e in d["events"]]')" "timeline cursor in /events"
get "/api/v1/workflow-runs/R1/timeline?limit=1000&cursor=c0000000000000100"
assert_eq '[[], null]' "$(jq_ '[d["events"], d["next_cursor"]]')" "cursor past the end: empty page"
get /api/v1/workflow-runs/R2/timeline
assert_eq "[\"$O1\"]" "$(jq_ '[e["event_id"] for e in d["events"]]')" "other run"

# ------------------------------------------------------------ policy audit
get /api/v1/policy/audit
assert_eq 200 "$CODE" "policy audit status"
assert_eq "[[9, \"policy_publish\", \"$P1\", \"publish rules v2\", \"snap-2\"], [11, \"policy_rollback\", \"$P2\", \"v2 blocks too much\", \"snap-1\"]]" \
	"$(jq_ '[[e["seq"], e["type"], e["event_id"], e["reason"], e["policy"]["snapshot"]] for e in d["events"]]')" "policy audit"

# Pages of the policy audit, a job's decisions and the approval queue.
get "/api/v1/policy/audit?limit=1"
assert_eq '[[9], "c000000000000000b"]' "$(jq_ '[[e["seq"] for e in d["events"]], d["next_cursor"]]')" "policy audit page 1"
get "/api/v1/policy/audit?limit=1&cursor=c000000000000000b"
assert_eq '[[11], null]' "$(jq_ '[[e["seq"] for e in d["events"]], d["next_cursor"]]')" "policy audit page 2"
get "/api/v1/jobs/J1/decisions?limit=1"
assert_eq '[[4], null]' "$(jq_ '[[x["seq"] for x in d["decisions"]], d["next_cursor"]]')" "decisions: one page"
get "/api/v1/jobs/J1/decisions?cursor=c0000000000000005"
assert_eq '{"decisions":[],"next_cursor":null}' "$BODY" "decisions cursor past the end: empty page"
get "/api/v1/approvals?include_resolved=true&limit=1"
assert_eq '[["A1"], null]' "$(jq_ '[[a["approval_id"] for a in d["approvals"]], d["next_cursor"]]')" "approvals: one page"
get /api/v1/jobs/J1
assert_eq '[1, 1, {"approvals": "/api/v1/events?type=approval_request&job_id=J1", "decisions": "/api/v1/jobs/J1/decisions"}]' \
	"$(jq_ '[d["decisions_total"], d["approvals_total"], d["links"]]' | python3 -c 'import json,sys;print(json.dumps(json.loads(sys.stdin.read()),sort_keys=True))')" "job totals and links"

# ------------------------------------------------------------ 404 and 400
for p in /api/v1/jobs/NOPE /api/v1/jobs/NOPE/decisions /api/v1/sessions/NOPE/trail \
	/api/v1/traces/NOPE /api/v1/workflow-runs/NOPE/timeline; do
	get "$p"
	assert_eq 404 "$CODE" "404 for $p"
	assert_eq not_found "$(jq_ 'd["error"]["code"]')" "not_found code for $p"
	assert_contains "$(jq_ 'd["error"]["message"]')" "NOPE" "404 message for $p"
done
get /api/v1/jobs/NOPE
assert_eq '["not_found", "job_id"]' "$(err)" "404 names the job id"
get /api/v1/workflow-runs/NOPE/timeline
assert_eq '["not_found", "run_id"]' "$(err)" "404 names the run id"
get "/api/v1/approvals?include_resolved=yes"
assert_eq 400 "$CODE" "bad include_resolved"
assert_eq '["bad_request", "include_resolved"]' "$(err)" "bad include_resolved names it"
get "/api/v1/approvals?include_resolved=TRUE"
assert_eq 400 "$CODE" "include_resolved is lower case"
get "/api/v1/approvals?include_resolved="
assert_eq '{"approvals":[],"next_cursor":null}' "$BODY" "empty include_resolved is the default"
for l in 0 1001 abc -1 99999999999999999999999; do
	get "/api/v1/workflow-runs/R1/timeline?limit=$l"
	assert_eq 400 "$CODE" "limit=$l status"
	assert_eq '["bad_request", "limit"]' "$(err)" "limit=$l"
done
for p in /api/v1/sessions/S1/trail /api/v1/traces/T1 /api/v1/policy/audit /api/v1/jobs/J1/decisions \
	/api/v1/approvals; do
	for l in 0 10001 abc -1; do
		get "$p?limit=$l"
		assert_eq '["bad_request", "limit"]' "$(err)" "$p limit=$l"
	done
	get "$p?limit=10000"
	assert_eq 200 "$CODE" "$p limit=10000 allowed"
	get "$p?cursor=zzz"
	assert_eq '["bad_request", "cursor"]' "$(err)" "$p bad cursor"
done
get "/api/v1/workflow-runs/R1/timeline?limit=1000"
assert_eq 9 "$(jq_ 'len(d["events"])')" "limit=1000 allowed"
get "/api/v1/workflow-runs/R1/timeline?cursor=zzz"
assert_eq '["bad_request", "cursor"]' "$(err)" "bad cursor"
get "/api/v1/workflow-runs/R1/timeline?cursor=C0000000000000001"
assert_eq 400 "$CODE" "upper-case cursor"
for p in "/api/v1/jobs/J1?x=1" "/api/v1/jobs/J1/decisions?x=1" "/api/v1/approvals?x=1" \
	"/api/v1/sessions/S1/trail?x=1" "/api/v1/traces/T1?x=1" "/api/v1/workflow-runs/R1/timeline?x=1" \
	"/api/v1/policy/audit?x=1"; do
	get "$p"
	assert_eq '["bad_request", "x"]' "$(err)" "unknown parameter on $p"
done
http POST /api/v1/jobs/J1
assert_eq 405 "$CODE" "POST a job"
http DELETE /api/v1/approvals
assert_eq 405 "$CODE" "DELETE approvals"
http HEAD /api/v1/jobs/J1
assert_eq 200 "$CODE" "HEAD a job"
get /api/v1/jobs/J1/
assert_eq 404 "$CODE" "trailing slash"
get /api/v1/sessions//trail
assert_eq 404 "$CODE" "empty session id"

# ------------------------------------------------------------ odd ids
# Path segments are URL-decoded: ids with spaces, quotes, unicode.
posted '{"type":"tool_call","actor":"z","target":"t","job_id":"j \"q\" é","session_id":"s x","trace_id":"t%","run_id":"r?1"}'
get "/api/v1/jobs/j%20%22q%22%20%C3%A9"
assert_eq 200 "$CODE" "encoded job id status"
assert_eq 'j "q" é' "$(jq_ 'd["job_id"]')" "encoded job id"
get "/api/v1/sessions/s%20x/trail"
assert_eq '"s x"' "$(jq_ 'json.dumps(d["session_id"])')" "encoded session id"
get "/api/v1/traces/t%25"
assert_eq 't%' "$(jq_ 'd["trace_id"]')" "encoded trace id"
get "/api/v1/workflow-runs/r%3F1/timeline"
assert_eq 1 "$(jq_ 'len(d["events"])')" "encoded run id"
get "/api/v1/jobs/%00"
assert_match "$CODE" '^(400|404)$' "NUL in a path"
get "/api/v1/traces/$(printf 'x%.0s' $(seq 300))"
assert_eq 404 "$CODE" "overlong id"
get "/api/v1/jobs/%FF%FE"
assert_eq 404 "$CODE" "bytes that are not UTF-8"
assert_eq not_found "$(jq_ 'd["error"]["code"]')" "not UTF-8: still a JSON error"

# Cycles through client-chosen ids: each event still appears once.
post "[{\"type\":\"tool_call\",\"actor\":\"c\",\"target\":\"a\",\"session_id\":\"CY\",\"event_id\":\"$X1\",\"parent_event_id\":\"$X2\"},
 {\"type\":\"tool_call\",\"actor\":\"c\",\"target\":\"b\",\"session_id\":\"CY\",\"event_id\":\"$X2\",\"parent_event_id\":\"$X1\"},
 {\"type\":\"tool_call\",\"actor\":\"c\",\"target\":\"c\",\"session_id\":\"CY\",\"event_id\":\"$X3\",\"parent_event_id\":\"$X3\"}]"
assert_eq 201 "$CODE" "post a cycle"
get /api/v1/sessions/CY/trail
assert_eq 200 "$CODE" "cycle trail status"
assert_eq '[[13, [[14, []]]], [15, []]]' "$(tree)" "cycle broken at its first event"

# A deep chain is written without recursion.
python3 -c '
import json
evs = [{"type":"tool_call","actor":"d","target":"t%d" % i,"session_id":"DEEP",
        "event_id":"01890a5d-ac96-774b-bcce-%012d" % (100000 + i)} for i in range(3000)]
for i in range(1, 3000):
    evs[i]["parent_event_id"] = evs[i - 1]["event_id"]
print(json.dumps(evs))' >"$T/deep.json"
post @"$T/deep.json"
assert_eq 201 "$CODE" "post a deep chain"
get /api/v1/sessions/DEEP/trail
assert_eq 200 "$CODE" "deep trail status"
assert_eq 3000 "$(grep -o '"children":\[' <<<"$BODY" | wc -l | tr -d ' ')" "deep trail: 3000 nodes"
assert_eq 3000 "$(python3 -c '
import json, sys
sys.setrecursionlimit(100000)
d = json.loads(sys.stdin.read())
n, e = 0, d["events"]
while e:
    n += 1; e = e[0]["children"]
print(n)' <<<"$BODY")" "deep trail: a chain 3000 deep"

# ------------------------------------------------------------ 10,000 events
python3 -c '
import json
for i in range(10000):
    print(json.dumps({"type":"tool_call","actor":"b","target":"t%d" % i,"session_id":"BIG","trace_id":"TBIG"}))' >"$T/big.ndjson"
http POST /api/v1/events -H 'Content-Type: application/x-ndjson' --data-binary @"$T/big.ndjson"
assert_eq 201 "$CODE" "post 10000 events"
get /api/v1/sessions/BIG/trail
assert_eq 200 "$CODE" "10000 events: answered"
assert_eq 10000 "$(jq_ 'len(d["events"])')" "10000 events: all of them"
assert_eq null "$(jq_ 'd["next_cursor"]')" "10000 events: one page"
post '{"type":"tool_call","actor":"b","target":"one more","session_id":"BIG","trace_id":"TBIG"}'
LAST=$(jq_ 'd["results"][0]["seq"]')
# One more than the default page (10,000 events): a second page holds it.
for p in /api/v1/sessions/BIG/trail /api/v1/traces/TBIG; do
	get "$p"
	assert_eq 200 "$CODE" "10001 events: $p answered"
	assert_eq 10000 "$(jq_ 'len(d["events"])')" "10001 events: $p first page"
	C=$(jq_ 'd["next_cursor"]')
	assert_eq "$(printf 'c%016x' "$LAST")" "$C" "10001 events: $p cursor is the next seq"
	get "$p?cursor=$C"
	assert_eq "[[$LAST], null]" "$(jq_ '[[e["seq"] for e in d["events"]], d["next_cursor"]]')" "10001 events: $p second page"
done

# The server is still fine after all that.
get /api/v1/jobs/J1
assert_eq succeeded "$(jq_ 'd["status"]')" "job still answered"
http GET /metrics
assert_line "$BODY" '^agentrail_requests_total\{route="GET /api/v1/jobs/\{job_id\}",status="200"\} [0-9]+$' "metrics count the job route"
stop_server
assert_eq 0 "$SRV_RC" "clean exit"

finish

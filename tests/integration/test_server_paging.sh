#!/usr/bin/env bash
# Paging the derived answers past 10,000 items over real HTTP: a job of
# more than 10,000 events (10,200 decisions, approvals joined across pages,
# its one pending approval and its result near the end), its session trail
# and trace as trees page by page, its run's timeline, 10,050 policy events
# and 10,050 approval requests are each walked with 'limit' and
# 'next_cursor', and every page is checked: no duplicate, no gap, each
# event under its parent exactly when that is on the same page. The job's
# state is folded from all of its events, with its lists capped.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

NDEC=10200 NPOL=10050 NAPP=10050

# The corpus, imported in order into a fresh store, so an event's seq is its line.
python3 - "$NDEC" "$NPOL" "$NAPP" >"$T/corpus.ndjson" <<'EOF'
import json, sys
ndec, npol, napp = map(int, sys.argv[1:])
out = []
def ev(**e):
    e["event_id"] = "01890a5d-ac96-7000-8000-%012x" % len(out)
    out.append(e)
    return e["event_id"]
job = {"job_id": "PJ", "session_id": "PS", "trace_id": "PT", "run_id": "PR"}
root = ev(type="task_submit", actor="alice", **job)
last_app = (ndec - 1) // 100 * 100
for i in range(ndec):
    d = ev(type="decision", actor="policy-engine", parent_event_id=root, reason="d%d" % i,
           policy={"decision": "REQUIRE_APPROVAL" if i % 100 == 0 else "ALLOW",
                   "rule_id": "R-%d" % i, "snapshot": "snap-%d" % (i // 1000)}, **job)
    if i % 100 == 0:
        a = ev(type="approval_request", actor="agent", parent_event_id=d, reason="r%d" % i,
               approval={"id": "PA-%d" % i, "required": True, "job_hash": "jh-%d" % i}, **job)
        if i != last_app:  # every approval of the job is answered but the last
            ev(type="approval_resolved", actor="carol", parent_event_id=a, reason="ok",
               approval={"id": "PA-%d" % i, "resolution": "approved", "resolved_by": "carol",
                         "comment": "c%d" % i}, **job)
ev(type="output", actor="agent", target="the answer", **job)
ev(type="output_safety", actor="guard", reason="clean",
   policy={"decision": "ALLOW", "rule_id": "OS-9"}, **job)
for i in range(npol):
    ev(type="policy_rollback" if i % 3 == 2 else "policy_publish", actor="admin",
       reason="p%d" % i, policy={"snapshot": "snap-p%d" % i})
for i in range(napp):
    a = ev(type="approval_request", actor="agent", job_id="AJ-%d" % (i // 10), reason="q%d" % i,
           approval={"id": "Q-%d" % i, "required": True, "job_hash": "qh-%d" % i})
    if i % 3 == 0:
        ev(type="approval_resolved", actor="dave", parent_event_id=a, reason="ok",
           approval={"id": "Q-%d" % i, "resolution": "rejected" if i % 2 else "approved",
                     "resolved_by": "dave"})
for e in out:
    print(json.dumps(e))
EOF
expect_exit 0 ar import --quiet "$T/corpus.ndjson"
assert_eq "$(grep -c . "$T/corpus.ndjson")" "$(count)" "the corpus is imported"
JOBEV=$(grep -c '"job_id": "PJ"' "$T/corpus.ndjson")

start_server "$STORE"

# walk CHECK LIMIT: walk every paged list with pages of LIMIT (0: the default),
# check each page against the corpus, print one JSON object of facts.
walk() {
	python3 - "$URL" "$T/corpus.ndjson" "$1" <<'EOF'
import json, sys, urllib.request
url, corpus, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
evs = [json.loads(l) for l in open(corpus)]
for s, e in enumerate(evs):
    e["seq"] = s
byid = {e["event_id"]: e for e in evs}
facts = {}

def pages(path, key):
    """Every page of a list: (items, next_cursor)."""
    cur, out = None, []
    while True:
        q = []
        if limit:  # the timeline's pages hold at most 1000
            q.append("limit=%d" % min(limit, 1000 if "timeline" in path else 10000))
        if cur:
            q.append("cursor=" + cur)
        sep = "&" if "?" in path else "?"
        d = json.load(urllib.request.urlopen(url + path + (sep + "&".join(q) if q else "")))
        out.append((d[key], d["next_cursor"]))
        cur = d["next_cursor"]
        if not cur:
            return out
        if len(out) > 1000:
            raise SystemExit("no end to " + path)

def check_tree(path, field, value):
    """A trail or trace: each page a forest over the next events in seq order."""
    want = [e["seq"] for e in evs if e.get(field) == value]
    got, bad = [], []
    for forest, nxt in pages(path, "events"):
        on_page, parent_of = [], {}
        stack = [(n, None) for n in forest]
        while stack:
            n, up = stack.pop()
            on_page.append(n["seq"])
            parent_of[n["event_id"]] = up
            stack += [(c, n["event_id"]) for c in n["children"]]
            if any(n.get(k) != v for k, v in byid[n["event_id"]].items()):
                bad.append("fields of %d" % n["seq"])
        ids = set(parent_of)
        for i, up in parent_of.items():
            p = byid[i].get("parent_event_id")
            if up != (p if p in ids else None):
                bad.append("nesting of %d" % byid[i]["seq"])
        on_page.sort()
        if on_page != want[len(got):len(got) + len(on_page)]:
            bad.append("page at %d" % len(got))
        got += on_page
        if nxt and (len(got) >= len(want) or int(nxt[1:], 16) != want[len(got)]):
            bad.append("cursor after %d" % len(got))
    return {"items": len(got), "exact": got == want, "bad": bad[:5]}

def check_flat(path, key, want, item):
    got = [item(x) for p, _ in pages(path, key) for x in p]
    return {"items": len(got), "exact": got == want, "dups": len(got) - len(set(map(str, got)))}

facts["trail"] = check_tree("/api/v1/sessions/PS/trail", "session_id", "PS")
facts["trace"] = check_tree("/api/v1/traces/PT", "trace_id", "PT")
facts["timeline"] = check_flat("/api/v1/workflow-runs/PR/timeline", "events",
                               [e["seq"] for e in evs if e.get("run_id") == "PR"],
                               lambda x: x["seq"])
facts["policy"] = check_flat("/api/v1/policy/audit", "events",
                             [e["seq"] for e in evs if e["type"] in ("policy_publish", "policy_rollback")],
                             lambda x: x["seq"])
res = {e["approval"]["id"]: e for e in evs if e["type"] == "approval_resolved"}
reqs = [e for e in evs if e["type"] == "approval_request"]
facts["approvals_all"] = check_flat(
    "/api/v1/approvals?include_resolved=true", "approvals",
    [[e["approval"]["id"], e["seq"], res[e["approval"]["id"]]["approval"]["resolution"]
      if e["approval"]["id"] in res else "pending"] for e in reqs],
    lambda x: [x["approval_id"], x["seq"], x["resolution"]])
facts["approvals_pending"] = check_flat(
    "/api/v1/approvals", "approvals",
    [[e["approval"]["id"], e["seq"]] for e in reqs if e["approval"]["id"] not in res],
    lambda x: [x["approval_id"], x["seq"]])
# A decision's approval: its child request, else the first request after it in the job.
job = [e for e in evs if e.get("job_id") == "PJ"]
child = {e["parent_event_id"]: e for e in reversed(job)
         if e["type"] == "approval_request" and "parent_event_id" in e}
after, nxt = [None] * len(job), None
for k in range(len(job) - 1, -1, -1):
    after[k] = nxt
    if job[k]["type"] == "approval_request":
        nxt = job[k]
want = []
for k, d in enumerate(job):
    if d["type"] != "decision":
        continue
    ap = child.get(d["event_id"]) or after[k]
    aid = ap["approval"]["id"] if ap else None
    want.append([d["seq"], aid and ap["approval"]["job_hash"],
                 (res[aid]["approval"]["resolution"] if aid in res else "pending") if aid else None,
                 res[aid]["approval"]["comment"] if aid in res else None])
facts["decisions"] = check_flat("/api/v1/jobs/PJ/decisions", "decisions", want,
                                lambda x: [x["seq"], x["job_hash"], x["resolution"], x["resolved_comment"]])
print(json.dumps(facts))
EOF
}

for limit in 0 997; do
	F=$(walk "$limit")
	fact() { py "$1" <<<"$F"; }
	for list in trail trace; do
		assert_eq "[$JOBEV, true, []]" \
			"$(fact "[d['$list']['items'], d['$list']['exact'], d['$list']['bad']]")" \
			"$list in pages of $limit: every event once, in order, nested within its page"
	done
	for list in timeline policy approvals_all approvals_pending decisions; do
		assert_eq "[true, 0]" "$(fact "[d['$list']['exact'], d['$list']['dups']]")" \
			"$list in pages of $limit: every item once, in order"
	done
	assert_eq "[$NPOL, $((NAPP + NDEC / 100)), $NDEC]" \
		"$(fact '[d["policy"]["items"], d["approvals_all"]["items"], d["decisions"]["items"]]')" \
		"pages of $limit: past 10,000 items"
done

# The default page is 10,000: a second page starts at the 10,001st item.
http GET /api/v1/policy/audit
assert_eq 10000 "$(jq_ 'len(d["events"])')" "policy audit: default page"
C=$(jq_ 'd["next_cursor"]')
http GET "/api/v1/policy/audit?cursor=$C"
assert_eq "[$((NPOL - 10000)), null]" "$(jq_ '[len(d["events"]), d["next_cursor"]]')" "policy audit: second page"

# ------------------------------------------------------------ one state
# The job's state comes from all of its events: its last approval (pending)
# and its output and output safety lie past the 10,000th; the lists are capped.
http GET /api/v1/jobs/PJ
assert_eq 200 "$CODE" "job state"
assert_eq "[\"awaiting_approval\", $JOBEV, $NDEC, 100, $((NDEC / 100)), 100, \"$((JOBEV - 1))\"]" \
	"$(jq_ '[d["status"], d["events"], d["decisions_total"], len(d["decisions"]), d["approvals_total"], len(d["approvals"]), str(d["last_event"]["seq"])]')" \
	"job state: every event folded, the lists capped"
assert_eq '["d0", "d99", "PA-0", "PA-9900", "approved"]' \
	"$(jq_ '[d["decisions"][0]["reason"], d["decisions"][-1]["reason"], d["approvals"][0]["approval_id"], d["approvals"][-1]["approval_id"], d["approvals"][-1]["resolution"]]')" \
	"job state: the first decisions and approvals"
assert_eq '[{"decision": "ALLOW", "rule_id": "OS-9"}, "snap-10"]' \
	"$(jq_ '[d["output_safety"], d["policy_snapshot"]]')" "job state: output safety and snapshot from the end"
OUTID=$(grep '"type": "output"' "$T/corpus.ndjson" | py 'd["event_id"]')
assert_eq "$OUTID" "$(jq_ 'd["result_ptr"]')" "job state: result pointer from the end"
assert_eq "/api/v1/jobs/PJ/decisions" "$(jq_ 'd["links"]["decisions"]')" "job state: where the decisions go on"
# Resolving the last approval (the 10,000s-th event of the job) moves the state.
post '{"type":"approval_resolved","actor":"carol","job_id":"PJ","reason":"late","approval":{"id":"PA-10100","resolution":"approved","resolved_by":"carol"}}'
assert_eq 201 "$CODE" "resolve the last approval"
http GET /api/v1/jobs/PJ
assert_eq '["running", '"$((JOBEV + 1))"']' "$(jq_ '[d["status"], d["events"]]')" "job state: the last resolution counts"

stop_server
assert_eq 0 "$SRV_RC" "clean exit"
finish

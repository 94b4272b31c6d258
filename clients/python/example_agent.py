#!/usr/bin/env python3
"""An instrumented agent loop, recorded in agentrail.

A fake model works through a task with three tools. Every step is an event:
the task (task_submit), the session (session_start / session_end), each
model call with its tokens (llm_call), a policy decision before each tool
(decision), the tool call with its arguments and result (tool_call), the
approval that sending mail needs (approval_request, approval_resolved), the
answer (output) and how the task ended (task_outcome).

    agentrail serve &                 # http://127.0.0.1:8081
    python3 clients/python/example_agent.py --url http://127.0.0.1:8081
    agentrail trail --session <the id it prints>

--reject has the human refuse the mail, --fail makes a tool fail (the session
then ends with outcome 'error'). With the server down the events wait in the
spool and the next run sends them first. Exit status: 0 when everything was
delivered, 1 when some events wait in the spool, 2 when the agent failed.
"""

import argparse
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agentrail import Trail, uuid7  # noqa: E402

SYSTEM_PROMPT = "You are a helpful project assistant. Use the tools; never email without approval."
MODEL = "fake-model-1"
POLICY_SNAPSHOT = "policy-2026-04"
# What the policy says about each tool: (decision, rule id, why).
POLICY = {
    "list_issues": ("ALLOW", "R-read-1", "read-only tool"),
    "read_issue": ("ALLOW", "R-read-1", "read-only tool"),
    "send_email": ("REQUIRE_APPROVAL", "R-mail-1", "mail leaves the sandbox: a human must approve it"),
}

ISSUES = {
    6: ("Meet agents where they are", "Accept OpenTelemetry, Claude Code hooks, Codex sessions and a Python client."),
    7: ("Mask secrets at ingest", "Secrets in event content should never be stored."),
}


# ---------------------------------------------------------------- the world


class ToolFailed(Exception):
    pass


def make_tools(fail):
    def list_issues(state):
        return [{"id": k, "title": v[0]} for k, v in sorted(ISSUES.items())]

    def read_issue(id):
        if fail:
            raise ToolFailed("the issue tracker timed out after 30 s")
        title, body = ISSUES[id]
        return {"id": id, "title": title, "body": body}

    def send_email(to, subject, body):
        return {"status": "sent", "message_id": "<%s@example.com>" % uuid7()[:8]}

    return {"list_issues": list_issues, "read_issue": read_issue, "send_email": send_email}


def tokens(text):
    """A stand-in tokenizer: about four characters a token."""
    return max(1, (len(text) + 3) // 4)


class FakeModel:
    """Answers like a chat model with tool calling, from a fixed script:
    list the open issues, read each, mail a summary, then report."""

    def complete(self, messages):
        tool_results = [m for m in messages if m["role"] == "tool"]
        names = [m["name"] for m in tool_results]
        if "list_issues" not in names:
            return {"text": "Let me see which issues are open.",
                    "tool_calls": [{"id": "call_1", "name": "list_issues", "arguments": {"state": "open"}}]}
        if "read_issue" not in names:
            listed = next(m["content"] for m in tool_results if m["name"] == "list_issues")
            return {"text": "Reading each open issue.",
                    "tool_calls": [{"id": "call_%d" % (2 + i), "name": "read_issue", "arguments": {"id": it["id"]}}
                                   for i, it in enumerate(listed)]}
        if "send_email" not in names:
            read = [m["content"] for m in tool_results if m["name"] == "read_issue"]
            body = "\n".join("#%d %s: %s" % (r["id"], r["title"], r["body"]) for r in read)
            return {"text": "Mailing the summary to the team.",
                    "tool_calls": [{"id": "call_9", "name": "send_email",
                                    "arguments": {"to": "team@example.com", "subject": "Open issues",
                                                  "body": body}}]}
        sent = next(m for m in tool_results if m["name"] == "send_email")
        if sent.get("error"):
            return {"text": "I summarised the open issues but did not send the mail: %s." % sent["error"],
                    "tool_calls": []}
        return {"text": "Done: the team has a summary of %d open issues." % len(ISSUES), "tool_calls": []}


def ask_human(approver, request, reject):
    """Stands in for a real approval UI."""
    if reject:
        return "rejected", "not this week"
    return "approved", "fine to send"


# ---------------------------------------------------------------- the agent


def run_agent(s, task, args):
    """The agent loop, recorded through the session 's'. Returns
    (outcome, answer)."""
    tools = make_tools(args.fail)
    model = FakeModel()
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": task}]
    for step in range(1, 10):
        prompt = json.dumps(messages, default=str)
        t0 = time.monotonic()
        reply = model.complete(messages)
        call_id = s.llm_call(MODEL, input_tokens=tokens(prompt), output_tokens=tokens(json.dumps(reply)),
                             cost_micro_usd=3 * tokens(prompt) + 15 * tokens(json.dumps(reply)),
                             prompt=messages[-1], response=reply, provider="fake",
                             latency_ms=int((time.monotonic() - t0) * 1000), step=step)
        print("step %d: model: %s" % (step, reply["text"]))
        messages.append({"role": "assistant", "content": reply["text"], "tool_calls": reply["tool_calls"]})
        if not reply["tool_calls"]:
            return ("success" if "did not" not in reply["text"] else "partial"), reply["text"]
        for tc in reply["tool_calls"]:
            name, arguments = tc["name"], tc["arguments"]
            verdict, rule, why = POLICY[name]
            decision_id = s.decision(verdict, reason=why, rule_id=rule, snapshot=POLICY_SNAPSHOT,
                                     target=name, actor="policy-engine", parent_event_id=call_id,
                                     step=step, detail={"tool_call_id": tc["id"], "arguments": arguments})
            if verdict == "REQUIRE_APPROVAL":
                job_hash = hashlib.sha256(json.dumps([name, arguments], sort_keys=True).encode()).hexdigest()
                approval_id = "apr-" + uuid7()
                request_id = s.approval_request(approval_id, reason="send the issue summary to %s" % arguments["to"],
                                                rule_id=rule, job_hash=job_hash, target=name,
                                                parent_event_id=decision_id, step=step,
                                                detail={"arguments": arguments})
                resolution, comment = ask_human(args.approver, arguments, args.reject)
                s.approval_resolved(approval_id, resolution, resolved_by=args.approver, comment=comment,
                                    reason=comment, parent_event_id=request_id, step=step)
                print("        approval %s: %s by %s" % (approval_id, resolution, args.approver))
                if resolution != "approved":
                    messages.append({"role": "tool", "name": name, "tool_call_id": tc["id"],
                                     "content": None, "error": "%s rejected it" % args.approver})
                    continue
            t0 = time.monotonic()
            try:
                result = tools[name](**arguments)
            except Exception as e:
                s.tool_call(name, arguments=arguments, error="%s: %s" % (type(e).__name__, e), call_id=tc["id"],
                            latency_ms=int((time.monotonic() - t0) * 1000), parent_event_id=call_id, step=step)
                raise
            s.tool_call(name, arguments=arguments, result=result, call_id=tc["id"],
                        latency_ms=int((time.monotonic() - t0) * 1000), parent_event_id=call_id, step=step)
            print("        tool %s(%s) -> %s" % (name, json.dumps(arguments)[:60], json.dumps(result)[:60]))
            messages.append({"role": "tool", "name": name, "tool_call_id": tc["id"], "content": result})
    return "failure", "gave up after 9 steps"


def main(argv=None):
    ap = argparse.ArgumentParser(description="An example agent loop recorded in agentrail.")
    ap.add_argument("--url", default=os.environ.get("AGENTRAIL_URL", "http://127.0.0.1:8081"),
                    help="the agentrail server (default $AGENTRAIL_URL, else %(default)s)")
    ap.add_argument("--token", default=os.environ.get("AGENTRAIL_TOKEN"),
                    help="a writer token, when the server has tokens (default $AGENTRAIL_TOKEN)")
    ap.add_argument("--session", default=None, help="the session id (default: a new one)")
    ap.add_argument("--task", default="Summarise the open issues and mail the summary to the team.")
    ap.add_argument("--user", default="alice", help="who submits the task")
    ap.add_argument("--approver", default="carol", help="who approves the mail")
    ap.add_argument("--reject", action="store_true", help="the approver refuses the mail")
    ap.add_argument("--fail", action="store_true", help="a tool fails and the agent stops")
    ap.add_argument("--spool-dir", default=None, help="where events wait while the server is away")
    args = ap.parse_args(argv)

    sid = args.session or "demo-" + uuid7()
    trail = Trail(args.url, args.token, actor="example-agent", spool_dir=args.spool_dir,
                  defaults={"agent_id": "example-agent", "agent_version": "1.0", "model": MODEL,
                            "system_prompt_hash": hashlib.sha256(SYSTEM_PROMPT.encode()).hexdigest()},
                  on_error=lambda e: print("agentrail: %s" % e, file=sys.stderr))
    status = 0
    try:
        submit = trail.event("task_submit", actor=args.user, session_id=sid, job_id=sid,
                             target=args.task, detail={"prompt": args.task})
        try:
            with trail.session(sid, job_id=sid, parent_event_id=submit) as s:
                outcome, answer = run_agent(s, args.task, args)
                s.event("output", target="answer", detail={"text": answer})
                if outcome != "success":
                    s.end(outcome)
        except Exception as e:
            outcome, answer = "failure", "%s: %s" % (type(e).__name__, e)
            print("agent failed: %s" % answer, file=sys.stderr)
            status = 2
        trail.event("task_outcome", actor="example-agent", session_id=sid, job_id=sid, outcome=outcome,
                    parent_event_id=submit, reason=answer, detail={"answer": answer})
    finally:
        delivered = trail.close(timeout=10)
    print("session %s: %d events, %s" % (sid, trail.stats["events"],
                                          "all delivered" if delivered else
                                          "some wait in the spool '%s'" % trail.spool_dir))
    print("see it:  agentrail trail --store %s --session %s" % (args.url, sid))
    if not delivered and status == 0:
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())

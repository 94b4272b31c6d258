#!/usr/bin/env python3
"""Seed events for test_report.sh, and compute a report's figures independently.

  report_figures.py seed DIR        write DIR/part1a.jsonl, part1b.jsonl, part2.jsonl
  report_figures.py check REPORT EXPORT PRICES PERIOD DATE [GLOB...]
                                    compare every figure of REPORT (agentrail report
                                    --format json) with figures computed here from
                                    EXPORT (agentrail export); print each difference

The figures follow docs/reports.md; nothing here shares code with agentrail.
"""
import base64
import datetime as dt
import fnmatch
import json
import random
import sys

UTC = dt.timezone.utc
WEEK = dt.datetime(2026, 3, 30, tzinfo=UTC)  # Monday of 2026-W14


def us(t):
    return (t - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)


def fmt(u):
    t = dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=u)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------- seeding

MODELS = ["m-large", "m-small", "m-local", "m <odd> & \"quoted\""]
PATHS = [
    "src/main.c", "src/util.c", "README.md", "docs/guide.md", "tests/test_a.py",
    "cfg/<script>alert(1)</script>.pem", "docs/a|b_*c*.md", "app/.env", ".env",
    "x/.environment", "home/u/.ssh/config", "keys/id_rsa.pub", "id_rsa",
    "certs/server.pem", "certs/server.pem.bak", "config/credentials.json",
    "home/u/.aws/credentials", "home/u/aws/config", "notes/line\nbreak.txt",
]
PATHS += ["src/mod%02d.c" % i for i in range(30)]
COMMANDS = [
    "make -j8", "ctest --output-on-failure", "git status", "npm test",
    "<script>alert('x')</script>", "pytest -q | tee log.txt", "ls `pwd`",
]
OUTCOMES = ["success", "success", "success", "partial", "failure", "error", "aborted", None]


def seed(outdir):
    rng = random.Random(20260401)
    lo, hi = us(WEEK) - 3 * 86400 * 10**6, us(WEEK) + 10 * 86400 * 10**6
    events = []

    def ev(u, **f):
        e = {"ts": fmt(u)}
        e.update({k: v for k, v in f.items() if v is not None})
        events.append(e)
        return e

    def rnd_ts():
        return rng.randrange(lo, hi)

    # Sessions with a job each: start, work, outcome events, end.
    for s in range(70):
        sid, job = "sess-%03d" % s, "job-%03d" % s
        agent = "agent-%d" % (s % 5)
        t0 = rnd_ts()
        t = t0
        if rng.random() < 0.9:
            ev(t, type="session_start", actor=agent, session_id=sid)
        if rng.random() < 0.9:
            ev(t + 1000, type="task_submit", actor="user-%d" % (s % 3), job_id=job, session_id=sid)
        for _ in range(rng.randrange(10, 60)):
            t += rng.randrange(10**6, 20 * 60 * 10**6)
            k = rng.random()
            common = dict(actor=agent, session_id=sid, job_id=job,
                          agent_id=agent if rng.random() < 0.7 else None)
            if k < 0.35:
                usage = {}
                if rng.random() < 0.9:
                    usage["input_tokens"] = rng.randrange(0, 20000)
                if rng.random() < 0.9:
                    usage["output_tokens"] = rng.randrange(0, 3000)
                if rng.random() < 0.3:
                    usage["cost_micro_usd"] = rng.randrange(0, 50000)
                ev(t, type="llm_call", model=rng.choice(MODELS), usage=usage or None, **common)
            elif k < 0.55:
                ev(t, type=rng.choice(["file_read", "file_read", "file_write", "file_delete"]),
                   target=rng.choice(PATHS), **common)
            elif k < 0.72:
                code = rng.choice([0, 0, 0, 0, 1, 2, 127])
                tgt = rng.choice(COMMANDS)
                det = None
                if rng.random() < 0.1:
                    det = {"output": "key AKIAIOSFODNN7EXAMPLE leaked"}
                ev(t, type="command", target=tgt, exit_code=code, detail=det, **common)
            elif k < 0.82:
                pol = {"decision": rng.choice(["ALLOW", "ALLOW", "DENY", "REQUIRE_APPROVAL"])}
                if rng.random() < 0.85:
                    pol["rule_id"] = rng.choice(["R-1", "R-2", "R-<3>", "R-4"])
                ev(t, type="decision", reason="policy says so", policy=pol, **common)
            elif k < 0.86:
                # A policy decision carried by another type counts too.
                ev(t, type="tool_call", target="bash",
                   policy={"decision": rng.choice(["ALLOW", "DENY"]), "rule_id": "R-tool"},
                   **common)
            elif k < 0.90:
                ev(t, type=rng.choice(["escalation", "retry", "abort"]), reason="stuck", **common)
            elif k < 0.93:
                f = dict(type="alert", reason="rule fired", **common)
                r = rng.random()
                if r < 0.4:
                    f["target"] = rng.choice(["sensitive_path", "deny", "<b>burst</b>"])
                elif r < 0.8:
                    f["detail"] = {"rule": rng.choice(["token_spike", "prompt_changed"]),
                                   "seq": 3}
                ev(t, **f)
            elif k < 0.96:
                ev(t, type="tool_call", target="grep",
                   detail={"note": "token ghp_" + "a" * 36}, **common)
            else:
                ev(t, type="output", **common)
        t += rng.randrange(10**6, 3600 * 10**6)
        r = rng.random()
        if r < 0.5:
            ev(t, type="task_outcome", actor=agent, job_id=job, session_id=sid,
               outcome=rng.choice(OUTCOMES))
        elif r < 0.65:
            ev(t, type="complete", actor=agent, job_id=job, reason="done",
               outcome=rng.choice([None, "success", "partial"]))
        elif r < 0.75:
            ev(t, type="abort", actor=agent, job_id=job, reason="gave up")
        if rng.random() < 0.2:
            # A later, different outcome of the same job: the last by seq wins.
            ev(t + 5000, type="task_outcome", actor=agent, job_id=job, outcome="partial")
        if rng.random() < 0.85:
            ev(t + 10**6, type="session_end", actor=agent, session_id=sid,
               outcome=rng.choice(OUTCOMES))

    # Tasks without a job id, and sessions with only an end.
    for i in range(3):
        ev(rnd_ts(), type="task_submit", actor="user-x")
        ev(rnd_ts(), type="session_end", actor="agent-9", session_id="only-end-%d" % i)

    # Approvals: requested before, in and after the week; resolved or not.
    for a in range(60):
        aid = "ap-%03d" % a
        t = rnd_ts()
        ev(t, type="approval_request", actor="agent-%d" % (a % 5), reason="push",
           approval={"id": aid, "required": True}, policy={"rule_id": "R-approve"})
        if rng.random() < 0.75:
            lat = rng.choice([rng.randrange(0, 60 * 10**6), rng.randrange(60 * 10**6, 7200 * 10**6),
                              rng.randrange(7200 * 10**6, 40 * 3600 * 10**6)])
            ev(t + lat, type="approval_resolved", actor="rev", reason="looked",
               approval={"id": aid, "resolution": rng.choice(["approved", "approved", "rejected"]),
                         "resolved_by": "rev"})
            if rng.random() < 0.1:
                ev(t + lat + 10**6, type="approval_resolved", actor="rev2", reason="again",
                   approval={"id": aid, "resolution": "rejected", "resolved_by": "rev2"})
    # A resolution recorded a little before its request (clock skew): latency 0.
    ev(us(WEEK) + 3600 * 10**6, type="approval_request", actor="a", reason="r",
       approval={"id": "ap-skew"})
    ev(us(WEEK) + 3599 * 10**6, type="approval_resolved", actor="rev", reason="r",
       approval={"id": "ap-skew", "resolution": "approved", "resolved_by": "rev"})

    # The edges of the week and of its first and last day.
    w0, w1 = us(WEEK), us(WEEK) + 7 * 86400 * 10**6
    for u, m in [(w0, "edge-in-first"), (w1 - 1, "edge-in-last"), (w1, "edge-out-after"),
                 (w0 - 1, "edge-out-before"), (w0 + 86400 * 10**6 - 1, "edge-day1-last"),
                 (w0 + 86400 * 10**6, "edge-day2-first")]:
        ev(u, type="llm_call", actor="edge", model=m,
           usage={"input_tokens": 1000, "output_tokens": 10})

    # Ingest out of ts order: ts is not monotonic in seq. Some events after
    # the week go in last, after a checkpoint that covers the week.
    rng.shuffle(events)
    after = [e for e in events if e["ts"] >= fmt(w1)]
    late = after[: len(after) // 2]
    late_ids = set(id(e) for e in late)
    first = [e for e in events if id(e) not in late_ids]
    parts = {"part1a": first[:100], "part1b": first[100:], "part2": late}
    for name, evs in parts.items():
        with open("%s/%s.jsonl" % (outdir, name), "w") as f:
            for e in evs:
                f.write(json.dumps(e) + "\n")


# ---------------------------------------------------------------- the figures

def parse_ts(s):
    d = dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return us(d)


def bounds(period, date):
    d = dt.datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC)
    if period == "week":
        d -= dt.timedelta(days=d.weekday())
        return us(d), us(d) + 7 * 86400 * 10**6, "%04d-W%02d" % d.isocalendar()[:2]
    return us(d), us(d) + 86400 * 10**6, date


def outcome_of(s):
    if s is None:
        return "none"
    if s in ("success", "partial"):
        return s
    if s in ("failure", "error"):
        return "failure"
    return "other"


def sensitive(path, globs):
    parts = path.split("/")
    for g in globs:
        if g.endswith("/"):
            if any(fnmatch.fnmatchcase(c, g[:-1]) for c in parts[:-1]):
                return True
        elif fnmatch.fnmatchcase(parts[-1], g):
            return True
    return False


def pct(v, p):
    rank = max(1, min(len(v), -(-p * len(v) // 100)))
    return v[rank - 1]


def keyed(d, name):
    """Entries sorted by key (bytewise), the null key last."""
    ks = sorted((k for k in d if k is not None), key=lambda k: k.encode())
    if None in d:
        ks.append(None)
    return [dict({name: k}, **d[k]) for k in ks]


def figures(export, prices, period, date, globs, top=20):
    start, end, label = bounds(period, date)
    recs, cps = [], []
    for line in open(export):
        o = json.loads(line)
        if "record" in o:
            r = o["record"]
            r["_detail"] = o.get("detail")
            recs.append(r)
        elif "checkpoint" in o:
            cps.append(o["checkpoint"])
    recs.sort(key=lambda r: r["seq"])
    inp = [r for r in recs if start <= parse_ts(r["ts"]) < end]
    nh = (end - start) // (3600 * 10**6)
    nb, bus = (7, 86400 * 10**6) if period == "week" else (24, 3600 * 10**6)
    rep = {"report_version": 1,
           "period": {"kind": period, "label": label, "start": fmt(start), "end": fmt(end)}}

    by_type, per_hour = {}, [0] * nh
    for r in inp:
        by_type[r["type"]] = by_type.get(r["type"], 0) + 1
        per_hour[(parse_ts(r["ts"]) - start) // (3600 * 10**6)] += 1
    rep["events"] = {"total": len(inp),
                     "first_seq": inp[0]["seq"] if inp else None,
                     "last_seq": inp[-1]["seq"] if inp else None,
                     "by_type": by_type, "per_hour": per_hour}

    # Sessions and tasks.
    sess, jobs, no_job = {}, {}, 0
    for r in inp:
        t, sid, job = r["type"], r.get("session_id"), r.get("job_id")
        if t in ("session_start", "session_end") and sid:
            s = sess.setdefault(sid, {"seen": False, "end": None, "task": None})
            s["seen"] = True
            if t == "session_end" and "outcome" in r:
                s["end"] = outcome_of(r["outcome"])
        elif t == "task_outcome":
            if job:
                jobs.setdefault(job, {"sub": False, "out": "none"})["out"] = outcome_of(
                    r.get("outcome")) if "outcome" in r else "other"
            if sid and "outcome" in r:
                sess.setdefault(sid, {"seen": False, "end": None, "task": None})["task"] = \
                    outcome_of(r["outcome"])
        elif t == "task_submit":
            if job:
                jobs.setdefault(job, {"sub": False, "out": "none"})["sub"] = True
            else:
                no_job += 1
        elif t == "complete" and job:
            jobs.setdefault(job, {"sub": False, "out": "none"})["out"] = \
                outcome_of(r["outcome"]) if "outcome" in r else "success"
        elif t == "abort" and job:
            jobs.setdefault(job, {"sub": False, "out": "none"})["out"] = "failure"
    names = ["success", "partial", "failure", "other", "none"]
    so = dict.fromkeys(names, 0)
    for s in sess.values():
        if s["seen"]:
            so[s["end"] or s["task"] or "none"] += 1
    to = dict.fromkeys(names, 0)
    to["none"] = no_job
    for j in jobs.values():
        if j["sub"]:
            to[j["out"]] += 1
    rep["sessions"] = {"total": sum(so.values()), "outcomes": so}
    rep["tasks"] = {"total": sum(to.values()), "outcomes": to}

    # Tokens and cost.
    def row():
        return {"calls": 0, "input_tokens": 0, "output_tokens": 0, "rec": 0, "calc": 0,
                "nrec": 0, "ncalc": 0}
    models, agents, series = {}, {}, {}
    for r in inp:
        if r["type"] != "llm_call":
            continue
        u = r.get("usage", {})
        i, o = u.get("input_tokens", 0), u.get("output_tokens", 0)
        kind, cost = None, 0
        if "cost_micro_usd" in u:
            kind, cost = "rec", u["cost_micro_usd"]
        elif r["model"] in prices:
            p = prices[r["model"]]
            kind = "calc"
            cost = (i * p["input_per_mtok_micro_usd"] + o * p["output_per_mtok_micro_usd"]
                    + 500000) // 1000000
        for d, k in ((models, r["model"]), (agents, r.get("agent_id", r["actor"]))):
            e = d.setdefault(k, row())
            e["calls"] += 1
            e["input_tokens"] += i
            e["output_tokens"] += o
            if kind:
                e[kind] += cost
                e["n" + kind] += 1
        s = series.setdefault(r["model"], [0] * nb)
        s[(parse_ts(r["ts"]) - start) // bus] += i + o

    def fin(e):
        unknown = e["calls"] - e["nrec"] - e["ncalc"]
        return {"calls": e["calls"], "input_tokens": e["input_tokens"],
                "output_tokens": e["output_tokens"],
                "total_tokens": e["input_tokens"] + e["output_tokens"],
                "cost_micro_usd": e["rec"] + e["calc"] if e["nrec"] + e["ncalc"] else None,
                "cost_recorded_micro_usd": e["rec"], "cost_computed_micro_usd": e["calc"],
                "calls_cost_recorded": e["nrec"], "calls_cost_computed": e["ncalc"],
                "calls_cost_unknown": unknown, "cost_complete": unknown == 0}
    total = row()
    for e in models.values():
        for k in total:
            total[k] += e[k]
    if period == "week":
        labels = [fmt(start + d * 86400 * 10**6)[:10] for d in range(7)]
    else:
        labels = ["%02d:00" % h for h in range(24)]
    rep["tokens"] = {
        "by_model": keyed({k: fin(v) for k, v in models.items()}, "model"),
        "by_agent": keyed({k: fin(v) for k, v in agents.items()}, "agent"),
        "series": {"bucket": "day" if period == "week" else "hour", "labels": labels,
                   "by_model": series},
        "totals": fin(total)}

    # Files.
    files, fev = {}, {"file_read": 0, "file_write": 0, "file_delete": 0}
    for r in inp:
        if r["type"] in fev:
            fev[r["type"]] += 1
            f = files.setdefault(r["target"], {"read": 0, "write": 0, "delete": 0})
            f[r["type"][5:]] += 1
    for f in files.values():
        f["total"] = f["read"] + f["write"] + f["delete"]
    order = sorted(files, key=lambda p: (-files[p]["total"], p.encode()))
    rep["files"] = dict(fev)
    rep["files"].update({
        "distinct_paths": len(files),
        "paths_read": sum(1 for f in files.values() if f["read"]),
        "paths_modified": sum(1 for f in files.values() if f["write"] + f["delete"]),
        "top": [dict({"path": p}, **files[p]) for p in order[:top]],
        "sensitive_globs": globs,
        "sensitive": [dict({"path": p}, **files[p])
                      for p in sorted(files, key=lambda p: p.encode()) if sensitive(p, globs)]})

    # Commands.
    cmds, runs, fails = {}, 0, 0
    for r in inp:
        if r["type"] == "command":
            runs += 1
            c = cmds.setdefault(r.get("target"), {"runs": 0, "failures": 0})
            c["runs"] += 1
            if r.get("exit_code", 0) != 0:
                fails += 1
                c["failures"] += 1
    failing = sorted((k for k in cmds if cmds[k]["failures"]),
                     key=lambda k: (-cmds[k]["failures"], -cmds[k]["runs"], k.encode()))
    rep["commands"] = {"runs": runs, "failures": fails, "distinct": len(cmds),
                       "distinct_failing": len(failing),
                       "top_failing": [dict({"command": k}, **cmds[k]) for k in failing[:top]]}

    # Decisions.
    kinds = ["ALLOW", "DENY", "REQUIRE_APPROVAL"]
    byd, rules, ndec = dict.fromkeys(kinds + ["other"], 0), {}, 0
    for r in inp:
        p = r.get("policy", {})
        if "decision" not in p:
            continue
        k = p["decision"] if p["decision"] in kinds else "other"
        ndec += 1
        byd[k] += 1
        e = rules.setdefault(p.get("rule_id"), dict.fromkeys(["total"] + kinds + ["other"], 0))
        e["total"] += 1
        e[k] += 1
    rep["decisions"] = {"total": ndec, "by_decision": byd, "by_rule": keyed(rules, "rule_id")}

    # Approvals, over the whole log before the period's end.
    req, res = {}, {}
    for r in recs:
        u = parse_ts(r["ts"])
        if u >= end:
            continue
        aid = r.get("approval", {}).get("id")
        if r["type"] == "approval_request" and aid is not None and aid not in req:
            req[aid] = u
        if r["type"] == "approval_resolved" and aid is not None and aid not in res:
            res[aid] = (u, r["approval"].get("resolution"))
    lat = []
    uppers = [60, 300, 900, 3600, 14400, 86400]
    hist = [0] * 7
    resolved = {a: v for a, v in res.items() if v[0] >= start}
    for a, (u, _) in resolved.items():
        if a in req:
            d = max(0, u - req[a])
            lat.append(d)
            hist[sum(1 for x in uppers if d >= x * 10**6)] += 1
    lat.sort()
    hl = ["< 1m", "1-5m", "5-15m", "15m-1h", "1-4h", "4-24h", ">= 24h"]
    rep["approvals"] = {
        "opened": sum(1 for u in req.values() if u >= start),
        "resolved": len(resolved),
        "approved": sum(1 for v in resolved.values() if v[1] == "approved"),
        "rejected": sum(1 for v in resolved.values() if v[1] == "rejected"),
        "pending_at_end": sum(1 for a in req if a not in res),
        "latency": {"count": len(lat), "median_us": pct(lat, 50) if lat else None,
                    "p90_us": pct(lat, 90) if lat else None, "max_us": lat[-1] if lat else None},
        "latency_histogram": [{"label": hl[i],
                               "upper_us": uppers[i] * 10**6 if i < 6 else None,
                               "count": hist[i]} for i in range(7)]}

    rep["interventions"] = {t: by_type.get(t, 0) for t in ("escalation", "retry", "abort")}
    red = [r.get("redactions", 0) for r in inp]
    rep["redactions"] = {"total": sum(red), "records": sum(1 for x in red if x > 0)}
    alerts = {}
    for r in inp:
        if r["type"] == "alert":
            k = r.get("target")
            if k is None and isinstance(r["_detail"], dict) and \
                    isinstance(r["_detail"].get("rule"), str):
                k = r["_detail"]["rule"]
            alerts.setdefault(k, {"count": 0})["count"] += 1
    rep["alerts"] = {"total": sum(a["count"] for a in alerts.values()),
                     "by_rule": keyed(alerts, "rule")}

    cp = None
    if inp:
        best = None
        for note in cps:  # export order: size, then arrival; the newest of equals wins
            size = int(note.split("\n")[1])
            if size >= inp[-1]["seq"] + 1 and (best is None or size <= best[0]):
                best = (size, note)
        if best:
            lines = best[1].split("\n")
            cp = {"size": best[0], "root_hash": base64.b64decode(lines[2]).hex(),
                  "origin": lines[0], "note": best[1]}
    rep["checkpoint"] = cp
    return rep


def diff(want, got, path=""):
    out = []
    if isinstance(want, dict) and isinstance(got, dict):
        for k in sorted(set(want) | set(got)):
            if k not in got:
                out.append("%s.%s: missing from the report" % (path, k))
            elif k not in want:
                out.append("%s.%s: unexpected key" % (path, k))
            else:
                out += diff(want[k], got[k], "%s.%s" % (path, k))
    elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (a, b) in enumerate(zip(want, got)):
            out += diff(a, b, "%s[%d]" % (path, i))
    elif want != got or type(want) != type(got):
        out.append("%s: expected %s, got %s" % (path, json.dumps(want)[:300],
                                                 json.dumps(got)[:300]))
    return out


def main():
    if sys.argv[1] == "seed":
        seed(sys.argv[2])
        return 0
    report = json.load(open(sys.argv[2]))
    prices = json.load(open(sys.argv[4]))
    globs = sys.argv[7:] or [".env", "id_rsa*", "*.pem", "credentials*", ".aws/", ".ssh/"]
    want = figures(sys.argv[3], prices, sys.argv[5], sys.argv[6], globs)
    got = dict(report)
    got.pop("generated_at", None)
    got.pop("verify", None)
    problems = diff(want, got)
    for p in problems:
        print(p)
    # Figures checked, for the test's log: every leaf compared.
    def leaves(v):
        if isinstance(v, dict):
            return sum(leaves(x) for x in v.values())
        if isinstance(v, list):
            return sum(leaves(x) for x in v) or 1
        return 1
    print("checked %d figures, %d differ" % (leaves(want), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

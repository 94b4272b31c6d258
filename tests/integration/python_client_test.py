#!/usr/bin/env python3
"""The Python client (clients/python/agentrail.py) against a real
`agentrail serve`: the fields each helper records, sessions, batching,
idempotent retries, refusals (400, 409, 413) reported and never retried,
the spool through outages (exactly once, in emission order), the spool
lock, 429s from a small --queue-max retried, and tokens.

Run by tests/integration/test_python_client.sh; needs AGENTRAIL (the binary),
ATR_SRC (the source tree) and T (a scratch directory).
"""

import fcntl
import glob
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
AGENTRAIL = os.environ["AGENTRAIL"]
SRC = os.environ["ATR_SRC"]
TMP = os.environ["T"]
sys.path.insert(0, os.path.join(SRC, "clients", "python"))

import agentrail  # noqa: E402
from agentrail import AuthError, DeliveryError, Trail, uuid7  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


_n = [0]


def scratch(name):
    _n[0] += 1
    d = os.path.join(TMP, "%s-%d" % (name, _n[0]))
    os.makedirs(d, exist_ok=True)
    return d


class Server:
    """A real `agentrail serve` on a loopback port that stays the same
    across restarts (the client's spool is for one URL)."""

    def __init__(self, store, *opts, port=None):
        self.store, self.opts = store, list(opts)
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = None
        self.log = store + ".serve.log"

    def start(self):
        assert self.proc is None
        logf = open(self.log, "a")
        self.proc = subprocess.Popen(
            [AGENTRAIL, "--store", self.store, "serve", "--listen", "127.0.0.1:%d" % self.port] + self.opts,
            stdout=logf, stderr=logf)
        logf.close()
        for _ in range(200):
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).read()
                return self
            except (OSError, urllib.error.URLError):
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError("agentrail serve did not start: %s" % open(self.log).read()[-2000:])

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None:
            self.proc.send_signal(sig)
            rc = self.proc.wait(60)
            self.proc = None
            if sig == signal.SIGTERM and rc != 0:
                raise AssertionError("agentrail serve exited %d: %s" % (rc, open(self.log).read()[-2000:]))

    def get(self, path, token=None):
        req = urllib.request.Request(self.url + path)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                data = r.read()
                return r.status, (json.loads(data) if r.headers.get("Content-Type", "").startswith(
                    "application/json") else data.decode())
        except urllib.error.HTTPError as e:
            with e:
                return e.code, json.loads(e.read() or b"null")

    def events(self, token=None, **params):
        """Every stored event matching 'params', in seq order."""
        out, cursor = [], None
        while True:
            q = dict(params, limit=1000)
            if cursor:
                q["cursor"] = cursor
            status, d = self.get("/api/v1/events?" + urllib.parse.urlencode(q), token)
            assert status == 200, (status, d)
            out += d["events"]
            cursor = d["next_cursor"]
            if not cursor:
                return out

    def metric(self, status, token=None):
        """agentrail_requests_total for POST /api/v1/events with 'status'."""
        code, text = self.get("/metrics", token)
        assert code == 200, (code, text)
        line = 'agentrail_requests_total{route="POST /api/v1/events",status="%d"} ' % status
        for ln in text.splitlines():
            if ln.startswith(line):
                return int(ln[len(line):])
        return 0


def spool_lines(spool_dir):
    """The event ids in the spool's segment files, file by file in name order."""
    ids = []
    for p in sorted(glob.glob(os.path.join(spool_dir, "seg-*.ndjson"))):
        with open(p, "rb") as f:
            ids += [json.loads(l)["event_id"] for l in f if l.strip()]
    return ids


class Base(unittest.TestCase):
    server_opts = ()

    def setUp(self):
        self.dir = scratch(self.id().split(".")[-1])
        self.server = Server(os.path.join(self.dir, "store.db"), *self.server_opts)
        self.trails = []

    def tearDown(self):
        for t in self.trails:
            t.close(timeout=0)
        self.server.stop(signal.SIGKILL)

    def trail(self, url=None, spool=None, **kw):
        kw.setdefault("actor", "agent-1")
        kw.setdefault("flush_interval", 0.1)
        kw.setdefault("max_backoff", 0.3)
        t = Trail(url or self.server.url, spool_dir=spool or os.path.join(self.dir, "spool"), **kw)
        self.trails.append(t)
        return t

    def assertStoredOnce(self, ids, **params):
        """Exactly 'ids' are stored (matching 'params'), each once, in this order."""
        got = [e["event_id"] for e in self.server.events(**params)]
        self.assertEqual(len(got), len(set(got)), "an event is stored twice")
        self.assertEqual(got, ids)


# ---------------------------------------------------------------- fields


class FieldsTest(Base):
    def test_uuid7(self):
        now_ms = int(time.time() * 1000)
        ids = [uuid7() for _ in range(20000)]
        self.assertEqual(len(set(ids)), len(ids), "unique")
        self.assertEqual(sorted(ids), ids, "ids made in one process sort in creation order")
        for s in ids[:50] + ids[-50:]:
            u = uuid.UUID(s)
            self.assertEqual(str(u), s, "canonical lower-case form")
            self.assertEqual(u.version, 7)
            self.assertEqual(u.variant, uuid.RFC_4122)
            self.assertLess(abs((u.int >> 80) - now_ms), 5000, "48-bit ms timestamp")

    def test_helpers_record_the_fields_agentrail_requires(self):
        self.server.start()
        t = self.trail(defaults={"agent_id": "planner", "agent_version": "2.1"})
        with t.session("S-F", job_id="J-F", run_id="R-F") as s:
            llm = s.llm_call("m-large", input_tokens=812, output_tokens=64, cost_micro_usd=4100,
                             prompt="plan it", response={"text": "ok"}, provider="acme", latency_ms=730)
            tool = s.tool_call("search", arguments={"q": "mail"}, result=[1, 2], call_id="c1",
                               latency_ms=12, parent_event_id=llm)
            failed = s.tool_call("fetch", arguments={"url": "x"}, error="timeout")
            dec = s.decision("require_approval", reason="mail needs a human", rule_id="R-7",
                             snapshot="snap-1", policy_reason="rule R-7", target="send_email",
                             actor="policy-engine")
            apr = s.approval_request("A-1", reason="send the summary", rule_id="R-7", job_hash="jh-1",
                                     parent_event_id=dec)
            res = s.approval_resolved("A-1", "approved", resolved_by="carol", comment="fine",
                                      reason="checked", parent_event_id=apr)
            cus = s.event("x_budget_check", level="decision", reason="under budget",
                          ts="2026-01-02T03:04:05.123456Z", detail={"left": 1.5})
        self.assertTrue(t.flush(10))
        self.assertEqual(t.errors, [])
        ev = {e["event_id"]: e for e in self.server.events(session_id="S-F")}
        self.assertEqual(len(ev), 9)
        start = s.start_event_id
        for e in ev.values():
            self.assertEqual([e["session_id"], e["job_id"], e["run_id"], e["agent_id"], e["agent_version"]],
                             ["S-F", "J-F", "R-F", "planner", "2.1"])
            self.assertRegex(e["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        e = ev[llm]
        self.assertEqual([e["type"], e["level"], e["actor"], e["model"], e["parent_event_id"]],
                         ["llm_call", "agent", "agent-1", "m-large", start])
        self.assertEqual(e["usage"], {"input_tokens": 812, "output_tokens": 64, "cost_micro_usd": 4100})
        self.assertEqual(e["detail"], {"prompt": "plan it", "response": {"text": "ok"}, "provider": "acme",
                                       "latency_ms": 730})
        e = ev[tool]
        self.assertEqual([e["type"], e["target"], e["outcome"], e["parent_event_id"]],
                         ["tool_call", "search", "success", llm])
        self.assertEqual(e["detail"], {"arguments": {"q": "mail"}, "result": [1, 2], "call_id": "c1",
                                       "latency_ms": 12})
        self.assertEqual([ev[failed]["outcome"], ev[failed]["detail"]["error"]], ["error", "timeout"])
        e = ev[dec]
        self.assertEqual([e["type"], e["level"], e["actor"], e["reason"], e["target"]],
                         ["decision", "decision", "policy-engine", "mail needs a human", "send_email"])
        self.assertEqual(e["policy"], {"decision": "REQUIRE_APPROVAL", "rule_id": "R-7", "snapshot": "snap-1",
                                       "reason": "rule R-7"})
        e = ev[apr]
        self.assertEqual([e["type"], e["reason"], e["parent_event_id"], e["policy"]],
                         ["approval_request", "send the summary", dec, {"rule_id": "R-7"}])
        self.assertEqual(e["approval"], {"id": "A-1", "required": True, "job_hash": "jh-1"})
        e = ev[res]
        self.assertEqual([e["type"], e["actor"], e["reason"]], ["approval_resolved", "carol", "checked"])
        self.assertEqual(e["approval"], {"id": "A-1", "resolution": "approved", "resolved_by": "carol",
                                         "comment": "fine"})
        e = ev[cus]
        self.assertEqual([e["type"], e["level"], e["ts"], e["detail"]],
                         ["x_budget_check", "decision", "2026-01-02T03:04:05.123456Z", {"left": 1.5}])
        # The server's own reading of the job: the decision joined to its approval.
        code, d = self.server.get("/api/v1/jobs/J-F/decisions")
        self.assertEqual(code, 200)
        self.assertEqual([[x["decision"], x["policy_rule_id"], x["resolution"], x["resolved_by"]]
                          for x in d["decisions"]], [["REQUIRE_APPROVAL", "R-7", "approved", "carol"]])

    def test_mistakes_are_refused_at_the_call(self):
        t = self.trail(url="http://127.0.0.1:9")  # never reached
        with self.assertRaisesRegex(ValueError, "unknown field 'colour'"):
            t.event("output", colour="red")
        with self.assertRaisesRegex(ValueError, "missing required field 'actor'"):
            t.event("output", actor="")
        with self.assertRaisesRegex(ValueError, "ALLOW"):
            t.decision("MAYBE", reason="x")
        with self.assertRaisesRegex(ValueError, "reason"):
            t.decision("ALLOW", reason="")
        with self.assertRaisesRegex(ValueError, "'detail' must be a dict"):
            t.event("output", detail=[1])
        with self.assertRaisesRegex(ValueError, "time zone"):
            import datetime
            t.event("output", ts=datetime.datetime(2026, 1, 1))
        with self.assertRaisesRegex(ValueError, "unknown field"):
            t.session("s", colour="red")
        self.assertEqual(t.stats["events"], 0)
        self.assertTrue(t.close(timeout=0))
        with self.assertRaises(agentrail.TrailError):
            t.event("output")


# ---------------------------------------------------------------- sessions


class SessionTest(Base):
    def test_session_records_start_and_end(self):
        self.server.start()
        t = self.trail(actor=None)
        with t.session("s-42", actor="agent-1") as s:
            a = s.tool_call("ls", arguments={"dir": "."}, result=["a"])
            b = s.llm_call("m", input_tokens=1, output_tokens=2)
        self.assertTrue(t.flush(10))
        evs = self.server.events(session_id="s-42")
        self.assertEqual([e["type"] for e in evs], ["session_start", "tool_call", "llm_call", "session_end"])
        self.assertEqual({(e["session_id"], e["actor"]) for e in evs}, {("s-42", "agent-1")})
        self.assertEqual([e["event_id"] for e in evs[1:3]], [a, b])
        self.assertEqual(evs[0]["event_id"], s.start_event_id)
        self.assertNotIn("parent_event_id", evs[0])
        self.assertEqual({e["parent_event_id"] for e in evs[1:]}, {s.start_event_id})
        self.assertEqual(evs[3]["outcome"], "success")
        self.assertEqual(evs[0]["level"], "pipeline")

    def test_session_records_an_error_when_the_block_raises(self):
        self.server.start()
        t = self.trail()
        with self.assertRaisesRegex(KeyError, "no-such-tool"):
            with t.session("s-err") as s:
                s.tool_call("ls", result=[])
                raise KeyError("no-such-tool")
        self.assertTrue(t.flush(10))
        evs = self.server.events(session_id="s-err")
        self.assertEqual([e["type"] for e in evs], ["session_start", "tool_call", "session_end"])
        end = evs[-1]
        self.assertEqual(end["outcome"], "error")
        self.assertEqual(end["detail"]["error_type"], "KeyError")
        self.assertIn("no-such-tool", end["detail"]["error"])
        self.assertIn("Traceback", end["detail"]["traceback"])

    def test_explicit_end_is_not_repeated(self):
        self.server.start()
        t = self.trail()
        with t.session("s-part") as s:
            s.end("partial", reason="ran out of budget")
        self.assertTrue(t.flush(10))
        evs = self.server.events(session_id="s-part")
        self.assertEqual([(e["type"], e.get("outcome")) for e in evs],
                         [("session_start", None), ("session_end", "partial")])


# ---------------------------------------------------------------- batching


class BatchingTest(Base):
    def test_many_events_few_requests_gzipped(self):
        self.server.start()
        before = self.server.metric(201)
        t = self.trail(batch_size=100, flush_interval=60)
        ids = [t.tool_call("t%d" % i, arguments={"i": i, "pad": "x" * 300}, result=i) for i in range(1000)]
        self.assertTrue(t.flush(30))
        requests = self.server.metric(201) - before
        self.assertEqual(t.stats["requests"], requests, "the server saw every request the client made")
        self.assertEqual(requests, 10, "1000 events in batches of 100")
        self.assertEqual(t.stats["gzip_requests"], requests, "bodies over 16 KiB are gzipped")
        self.assertEqual([t.stats["sent"], t.stats["duplicates"], t.stats["spooled"]], [1000, 0, 0])
        self.assertStoredOnce(ids, actor="agent-1")

    def test_a_partial_batch_goes_after_flush_interval(self):
        self.server.start()
        t = self.trail(batch_size=100, flush_interval=0.3)
        ids = [t.event("output", target="o%d" % i) for i in range(3)]
        deadline = time.time() + 10
        while time.time() < deadline and len(self.server.events(actor="agent-1")) < 3:
            time.sleep(0.05)
        self.assertStoredOnce(ids, actor="agent-1")  # without flush()
        self.assertIn(t.stats["requests"], (1, 2, 3))
        self.assertEqual(t.stats["gzip_requests"], 0, "small bodies are not gzipped")


# ---------------------------------------------------------------- refusals


class RefusalTest(Base):
    def test_duplicate_is_idempotent(self):
        self.server.start()
        t = self.trail()
        eid, ts = uuid7(), "2026-03-01T10:00:00.000001Z"
        t.event("output", event_id=eid, ts=ts, target="once")
        self.assertTrue(t.flush(10))
        t.event("output", event_id=eid, ts=ts, target="once")  # a retry of the same event
        self.assertTrue(t.flush(10))
        self.assertEqual([t.stats["sent"], t.stats["duplicates"], t.errors], [1, 1, []])
        self.assertStoredOnce([eid], actor="agent-1")

    def test_invalid_events_are_reported_not_retried(self):
        self.server.start()
        seen = []
        t = self.trail(on_error=seen.append, flush_interval=60)
        g1 = t.event("output", target="g1")
        b1 = t.event("bogus")
        g2 = t.event("output", target="g2")
        b2 = t.event("output", usage={"input_tokens": 1.5})
        g3 = t.event("output", target="g3")
        self.assertTrue(t.flush(10))
        self.assertStoredOnce([g1, g2, g3], actor="agent-1")
        self.assertEqual([(e.kind, e.status, e.code, e.event_id) for e in t.errors],
                         [("rejected", 400, "invalid", b1), ("rejected", 400, "invalid", b2)])
        self.assertIn("'bogus', not a known type", str(t.errors[0]))
        self.assertIn("usage.input_tokens", t.errors[1].message)
        self.assertEqual(t.errors[1].event["usage"], {"input_tokens": 1.5})
        self.assertEqual(t.stats["requests"], 3, "one refused request per bad event, then the rest")
        time.sleep(0.5)
        self.assertEqual(t.stats["requests"], 3, "nothing retried afterwards")
        deadline = time.time() + 5
        while len(seen) < 2 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual([e.event_id for e in seen], [b1, b2], "on_error is called for each")

    def test_conflict_is_reported_not_retried(self):
        self.server.start()
        t = self.trail(flush_interval=60)
        eid = uuid7()
        t.event("output", event_id=eid, target="first")
        self.assertTrue(t.flush(10))
        a = t.event("output", target="a")
        t.event("output", event_id=eid, target="second")  # same id, other content
        b = t.event("output", target="b")
        self.assertTrue(t.flush(10))
        self.assertEqual([(e.kind, e.status, e.code, e.event_id) for e in t.errors],
                         [("conflict", 409, "conflict", eid)])
        self.assertIn("already logged at seq 0 with different content", t.errors[0].message)
        self.assertStoredOnce([eid, a, b], actor="agent-1")
        self.assertEqual(self.server.events(actor="agent-1")[0]["target"], "first")
        n = t.stats["requests"]
        time.sleep(0.5)
        self.assertEqual(t.stats["requests"], n, "never looped")

    def test_too_big_event_is_reported(self):
        self.server.start()
        t = self.trail(flush_interval=60)
        a = t.event("output", target="a")
        big = t.event("output", detail={"blob": "x" * (1100 * 1024)})
        b = t.event("output", target="b")
        self.assertTrue(t.flush(20))
        self.assertEqual([(e.kind, e.status, e.code, e.event_id) for e in t.errors],
                         [("rejected", 413, "too_big", big)])
        self.assertStoredOnce([a, b], actor="agent-1")

    def test_a_bad_event_in_the_spool_is_reported_once(self):
        t = self.trail()
        ids = [t.event("output", target="g1"), t.event("bogus"), t.event("output", target="g2")]
        self.assertFalse(t.close(timeout=0.5))
        self.assertEqual(spool_lines(os.path.join(self.dir, "spool")), ids)
        self.server.start()
        t2 = self.trail()
        self.assertTrue(t2.close(timeout=10))
        self.assertStoredOnce([ids[0], ids[2]], actor="agent-1")
        self.assertEqual([(e.kind, e.event_id) for e in t2.errors], [("rejected", ids[1])])
        self.assertEqual(spool_lines(os.path.join(self.dir, "spool")), [], "the spool is empty")


# ---------------------------------------------------------------- outages


class OutageTest(Base):
    def test_server_down_then_back_same_trail(self):
        spool = os.path.join(self.dir, "spool")
        self.server.start()
        t = self.trail(spool=spool, flush_interval=0.05)
        a = [t.event("output", target="a%d" % i) for i in range(10)]
        self.assertTrue(t.flush(10))
        self.server.stop()
        b = [t.event("output", target="b%d" % i) for i in range(50)]
        self.assertFalse(t.flush(1), "nothing can be delivered while the server is down")
        self.assertEqual(spool_lines(spool), b, "the events wait in the spool, in order")
        self.server.start()
        c = [t.event("output", target="c%d" % i) for i in range(10)]
        self.assertTrue(t.flush(20))
        self.assertStoredOnce(a + b + c, actor="agent-1")
        self.assertEqual(spool_lines(spool), [], "the spool is emptied")
        self.assertGreaterEqual(t.stats["spooled"], 50)
        self.assertGreaterEqual(t.stats["replayed"], 50)
        self.assertEqual(t.stats["duplicates"], 0)

    def test_a_new_trail_replays_the_spool_first(self):
        spool = os.path.join(self.dir, "spool")
        t1 = self.trail(spool=spool)
        first = [t1.event("output", target="first%d" % i) for i in range(30)]
        t0 = time.monotonic()
        self.assertFalse(t1.close(timeout=1))
        self.assertLess(time.monotonic() - t0, 3, "close() waits a bounded time")
        self.assertEqual(spool_lines(spool), first)
        self.server.start()
        t2 = self.trail(spool=spool)
        self.assertEqual(t2.stats["adopted_segments"], 1)
        second = [t2.event("output", target="second%d" % i) for i in range(10)]
        self.assertTrue(t2.close(timeout=20))
        self.assertStoredOnce(first + second, actor="agent-1")
        self.assertEqual(glob.glob(os.path.join(spool, "seg-*")), [], "spool files are removed")
        self.assertEqual(t2.stats["duplicates"], 0)

    def test_server_killed_while_events_flow(self):
        # SIGKILL loses the answers to requests in flight; the client sends
        # them again and the server's idempotency keeps each event once.
        self.server.start()
        t = self.trail(batch_size=20, flush_interval=0.02)
        ids, stop = [], threading.Event()

        def produce():
            i = 0
            while not stop.is_set():
                ids.append(t.event("output", target="k%d" % i))
                i += 1
                time.sleep(0.001)

        th = threading.Thread(target=produce)
        th.start()
        time.sleep(0.5)
        self.server.stop(signal.SIGKILL)
        time.sleep(0.7)
        self.server.start()
        time.sleep(0.5)
        stop.set()
        th.join()
        self.assertTrue(t.flush(30))
        self.assertGreater(t.stats["spooled"], 0, "the outage was seen")
        self.assertStoredOnce(ids, actor="agent-1")

    def test_close_is_bounded_when_the_server_hangs(self):
        # A server that accepts connections and never answers.
        port = free_port()
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", port))
        ls.listen(16)
        held = []

        def accept():
            try:
                while True:
                    held.append(ls.accept()[0])
            except OSError:  # closed
                pass

        acceptor = threading.Thread(target=accept)
        acceptor.start()
        url = "http://127.0.0.1:%d" % port
        spool = os.path.join(self.dir, "spool")
        t = self.trail(url=url, spool=spool, timeout=30)
        ids = [t.event("output", target="h%d" % i) for i in range(5)]
        time.sleep(0.3)  # the batch is in flight
        t0 = time.monotonic()
        self.assertFalse(t.close(timeout=1))
        self.assertLess(time.monotonic() - t0, 3, "close() does not wait for the hung request")
        self.assertEqual(spool_lines(spool), ids, "the batch in flight went to the spool")
        ls.shutdown(socket.SHUT_RDWR)  # wakes accept()
        acceptor.join()
        ls.close()
        for c in held:
            c.close()
        self.server = Server(os.path.join(self.dir, "store.db"), port=port).start()
        t2 = self.trail(url=url, spool=spool)
        self.assertTrue(t2.close(timeout=20))
        self.assertStoredOnce(ids, actor="agent-1")

    def test_spool_lock_one_replayer(self):
        spool = os.path.join(self.dir, "spool")
        orphans = []
        for k in range(2):  # two earlier runs left two spool files
            t = self.trail(spool=spool)
            orphans += [t.event("output", target="o%d-%d" % (k, i)) for i in range(5)]
            self.assertFalse(t.close(timeout=0.3))
        self.assertEqual(len(glob.glob(os.path.join(spool, "seg-*.ndjson"))), 2)
        # While another holds the spool's lock file, a new Trail takes nothing.
        fd = os.open(os.path.join(spool, ".lock"), os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        a = self.trail(spool=spool)
        self.assertEqual(a.stats["adopted_segments"], 0)
        os.close(fd)
        b = self.trail(spool=spool)
        c = self.trail(spool=spool)
        self.assertEqual([b.stats["adopted_segments"], c.stats["adopted_segments"]], [2, 0],
                         "one Trail takes the files; the other cannot")
        self.server.start()
        new = [c.event("output", target="c-new")]
        for x in (a, b, c):
            self.assertTrue(x.close(timeout=20))
        self.assertEqual([b.stats["replayed"], a.stats["replayed"], c.stats["replayed"]], [10, 0, 0])
        self.assertEqual(sum(x.stats["duplicates"] for x in (a, b, c)), 0, "nothing sent twice")
        self.assertEqual(sorted(e["event_id"] for e in self.server.events(actor="agent-1")), sorted(orphans + new))
        self.assertStoredOnce(orphans, actor="agent-1", target_prefix="o")

    def test_torn_and_corrupt_spool_lines(self):
        # A writer killed mid-line leaves a torn last line; neither it nor a
        # line that is not an event stops the replay.
        spool = os.path.join(self.dir, "spool")
        os.makedirs(spool)
        tag = hashlib.sha256(self.server.url.encode()).hexdigest()[:8]
        ids = [uuid7() for _ in range(3)]
        lines = [json.dumps({"type": "output", "actor": "agent-1", "event_id": i}).encode() for i in ids]
        with open(os.path.join(spool, "seg-%s-0000000000001-1-000001-00000000.ndjson" % tag), "wb") as f:
            f.write(lines[0] + b"\n" + lines[1] + b"\nnot json\n" + lines[2] + b"\n" + b'{"type":"out')
        with open(os.path.join(spool, "seg-%s-0000000000002-1-000001-00000000.ndjson" % tag), "wb") as f:
            f.write(b'{"type":"output","act')  # nothing but a torn line
        self.server.start()
        t = self.trail(spool=spool)
        self.assertEqual(t.stats["adopted_segments"], 2)
        self.assertTrue(t.close(timeout=10))
        self.assertStoredOnce(ids, actor="agent-1")
        self.assertEqual([e.kind for e in t.errors], ["spool", "spool", "spool"])
        self.assertIn("not an event", t.errors[0].message)
        self.assertIn("incomplete last line", t.errors[1].message)
        self.assertIn("incomplete last line (21 bytes)", t.errors[2].message)
        self.assertEqual(os.listdir(spool), [".lock"])

    def test_interpreter_exit_without_close(self):
        # A program that never calls close(): at exit its events are sent,
        # or, with the server down, left in the spool for the next Trail.
        prog = """
import sys
sys.path.insert(0, %r)
from agentrail import Trail
t = Trail(sys.argv[1], actor="agent-1", spool_dir=sys.argv[2], flush_interval=60, close_timeout=5)
for i in range(int(sys.argv[3])):
    print(t.event("output", target="x%%d" %% i))
""" % os.path.join(SRC, "clients", "python")
        spool = os.path.join(self.dir, "spool")

        def run(n):
            r = subprocess.run([sys.executable, "-B", "-c", prog, self.server.url, spool, str(n)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout.split()

        down = run(7)
        self.assertEqual(spool_lines(spool), down, "down: the events wait in the spool")
        self.server.start()
        up = run(5)
        self.assertEqual(spool_lines(spool), [])
        self.assertStoredOnce(down + up, actor="agent-1")

    def test_spool_is_per_server(self):
        spool = os.path.join(self.dir, "spool")
        t = self.trail(url="http://127.0.0.1:9", spool=spool)
        t.event("output")
        self.assertFalse(t.close(timeout=0.3))
        self.server.start()
        t2 = self.trail(spool=spool)
        self.assertEqual(t2.stats["adopted_segments"], 0, "events for another server stay")
        self.assertTrue(t2.close(timeout=5))
        self.assertEqual(len(spool_lines(spool)), 1)


# ---------------------------------------------------------------- back-pressure


class BackpressureTest(Base):
    server_opts = ("--queue-max", "20")

    def test_429_is_retried(self):
        self.server.start()
        emitted = {}
        for rnd in range(3):
            trails = [self.trail(actor="bp-%d-%d" % (rnd, k), batch_size=20, flush_interval=60,
                                 spool=os.path.join(self.dir, "spool-%d-%d" % (rnd, k))) for k in range(8)]

            def work(t):
                emitted[t._defaults["actor"]] = [t.event("output", target="e%d" % i) for i in range(200)]
                t.flush(120)

            ths = [threading.Thread(target=work, args=(t,)) for t in trails]
            for th in ths:
                th.start()
            for th in ths:
                th.join()
            if self.server.metric(429) > 0:
                break
        refused = self.server.metric(429)
        self.assertGreater(refused, 0, "a burst past --queue-max gets 429s")
        self.assertEqual(sum(t.status_counts.get(429, 0) for t in self.trails), refused,
                         "every 429 was answered to one of our clients")
        for t in self.trails:
            self.assertEqual(t.pending, 0, "all delivered")
            self.assertEqual(t.errors, [])
        stored = self.server.events()
        self.assertEqual(len(stored), len({e["event_id"] for e in stored}), "each once")
        for actor, ids in emitted.items():
            self.assertEqual([e["event_id"] for e in stored if e["actor"] == actor], ids,
                             "%s: all there, in emission order" % actor)

    def test_batch_larger_than_the_queue_is_split(self):
        self.server.start()
        t = self.trail(batch_size=100, flush_interval=60)
        ids = [t.event("output", target="s%d" % i) for i in range(95)]
        self.assertTrue(t.flush(30))
        self.assertGreaterEqual(t.stats["splits"], 1)
        self.assertGreaterEqual(self.server.metric(413), 1)
        self.assertEqual(t.errors, [])
        self.assertStoredOnce(ids, actor="agent-1")


# ---------------------------------------------------------------- tokens


class TokenTest(Base):
    def token(self, role):
        out = subprocess.run([AGENTRAIL, "--store", self.server.store, "token", "create", "--role", role,
                              "--actor", "admin"], check=True, capture_output=True, text=True).stdout
        return out.strip().splitlines()[-1]

    def test_writer_works_reader_is_refused(self):
        writer, reader = self.token("writer"), self.token("reader")
        self.server.start()
        w = self.trail(token=writer, spool=os.path.join(self.dir, "spool-w"))
        ids = [w.event("output", target="w%d" % i) for i in range(3)]
        self.assertTrue(w.flush(10))
        got = [e["event_id"] for e in self.server.events(token=reader, actor="agent-1")]
        self.assertEqual(got, ids)

        rspool = os.path.join(self.dir, "spool-r")
        r = self.trail(token=reader, spool=rspool)
        rids = [r.event("output", target="r%d" % i) for i in range(4)]
        with self.assertRaises(AuthError) as cm:
            r.flush(10)
        e = cm.exception
        self.assertEqual([e.status, e.code, e.kind], [403, "forbidden", "auth"])
        self.assertIn("role 'reader' may not POST /api/v1/events", str(e))
        self.assertIsInstance(r.errors[-1], AuthError)
        self.assertEqual(spool_lines(rspool), rids, "refused events are kept in the spool")
        t0 = time.monotonic()
        self.assertFalse(r.close(timeout=10))
        self.assertLess(time.monotonic() - t0, 3, "close() does not wait on a refused token")

        n = self.trail(token="", spool=os.path.join(self.dir, "spool-n"))
        n.event("output")
        with self.assertRaises(AuthError) as cm:
            n.flush(10)
        self.assertEqual(cm.exception.status, 401)

        # The writer's Trail on the reader's spool delivers what was refused.
        w2 = self.trail(token=writer, spool=rspool)
        self.assertTrue(w2.close(timeout=10))
        got = [e["event_id"] for e in self.server.events(token=reader, actor="agent-1")]
        self.assertEqual(got, ids + rids)


if __name__ == "__main__":
    unittest.main(verbosity=2)

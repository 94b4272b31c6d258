#!/usr/bin/env python3
"""Load generator and checker for tests/integration/test_crash.sh.

  crash_load.py load --url URL --dir DIR --seed S [--conns N] [--big] [--pace-ms MS]
      N connections (default 8) POST events with client-chosen event_ids
      (single events as an object, batches of 2-55 as a JSON array or NDJSON),
      each pausing up to MS ms after an answer, until the server goes away.
      DIR/acked.txt gets a request's event_ids only after its 201 (appended and
      flushed under a lock: this process is not the one killed, so a flush is
      enough); DIR/ready appears with the first 201. DIR/unknown.jsonl gets
      every request whose fate is unknown (sent, then the connection broke)
      with its exact body, for an idempotent re-send; DIR/rejected.txt the ids
      of requests refused with 429/503 (never stored); DIR/errors.txt any other
      answer (the load then stops and exits 1). With --big one more connection
      posts 5000-event batches back to back and, before sending each one but
      the first, writes DIR/big.sent holding the previous one's round trip in
      ms. A connection refused ends a connection quietly (nothing was sent).
      Prints a JSON summary line.

  crash_load.py check --export FILE --acked FILE [--unknown FILE] [--rejected FILE]
      Checks an `agentrail export` of the store: seqs are 0..N-1 and match the
      tree head, event_ids are unique, every acked id is present, every stored
      id was sent by us (acked or of unknown fate), each unknown request is
      all present or all absent (atomic), rejected ids are absent. Prints a
      JSON summary line; exit 1 (with reasons on stderr) when anything fails.

  crash_load.py resend --url URL --unknown FILE --acked FILE
      Re-sends every unknown request's exact body: each must get 201 (events
      already stored come back as duplicates), never 409. Appends the ids to
      the acked file.

Standard library only.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse
import uuid

TYPES = ["tool_call", "output", "tool_result", "session_start"]
BIG = 5000


def make_event(rng, worker, req, k):
    ev = {
        "type": rng.choice(TYPES),
        "actor": "crash-w%d" % worker,
        "target": "q%d e%d" % (req, k),
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    }
    if rng.random() < 0.5:
        ev["ts"] = "2026-01-%02dT%02d:%02d:%02d.%06d+00:00" % (
            rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59),
            rng.randint(0, 59), rng.randint(0, 999999))
    if rng.random() < 0.3:
        ev["session_id"] = "crash-s%d" % rng.randint(0, 20)
    if rng.random() < 0.8:
        ev["detail"] = {"k": k, "text": "x" * rng.randint(0, 200)}
    return ev


def make_request(rng, worker, req, n):
    """(content type, body text, ids) of one request of n events."""
    evs = [make_event(rng, worker, req, k) for k in range(n)]
    ids = [e["event_id"] for e in evs]
    if n == 1 and rng.random() < 0.7:
        return "application/json", json.dumps(evs[0]), ids
    if rng.random() < 0.3:
        return "application/x-ndjson", "".join(json.dumps(e) + "\n" for e in evs), ids
    return "application/json", json.dumps(evs), ids


class Sink:
    """The result files, written under one lock, flushed on every write."""

    def __init__(self, d):
        self.mu = threading.Lock()
        self.dir = d
        self.acked = open(os.path.join(d, "acked.txt"), "a")
        self.unknown = open(os.path.join(d, "unknown.jsonl"), "a")
        self.rejected = open(os.path.join(d, "rejected.txt"), "a")
        self.errors = open(os.path.join(d, "errors.txt"), "a")
        self.stats = {"requests_ok": 0, "events_acked": 0, "unknown_requests": 0,
                      "unknown_events": 0, "rejected_requests": 0, "bad_answers": 0,
                      "big_ok": 0, "big_unknown": 0}

    def ack(self, ids, big):
        with self.mu:
            self.acked.write("".join(i + "\n" for i in ids))
            self.acked.flush()
            if not self.stats["requests_ok"]:
                open(os.path.join(self.dir, "ready"), "w").close()
            self.stats["requests_ok"] += 1
            self.stats["events_acked"] += len(ids)
            self.stats["big_ok"] += big

    def lost(self, ctype, body, ids, why, big):
        with self.mu:
            self.unknown.write(json.dumps({"ctype": ctype, "body": body, "ids": ids,
                                           "why": why}) + "\n")
            self.unknown.flush()
            self.stats["unknown_requests"] += 1
            self.stats["unknown_events"] += len(ids)
            self.stats["big_unknown"] += big

    def reject(self, ids):
        with self.mu:
            self.rejected.write("".join(i + "\n" for i in ids))
            self.rejected.flush()
            self.stats["rejected_requests"] += 1

    def error(self, text):
        with self.mu:
            self.errors.write(text + "\n")
            self.errors.flush()
            self.stats["bad_answers"] += 1


def post(conn, ctype, body):
    conn.request("POST", "/api/v1/events", body=body.encode(),
                 headers={"Content-Type": ctype})
    r = conn.getresponse()
    return r.status, r.read()


def good_answer(data, ids):
    try:
        res = json.loads(data)["results"]
    except (ValueError, KeyError, TypeError):
        return False
    return [r.get("event_id") for r in res] == ids


def worker(args, sink, w, stop, big=False):
    rng = random.Random("%s-%d" % (args.seed, w))
    host = urllib.parse.urlsplit(args.url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    req = 0
    last_rtt = None
    while not stop.is_set():
        if big:
            n = BIG
        else:
            p = rng.random()
            n = 1 if p < 0.5 else rng.randint(45, 55) if p < 0.85 else rng.randint(2, 20)
        ctype, body, ids = make_request(rng, w, req, n)
        req += 1
        if big and last_rtt is not None:
            tmp = os.path.join(args.dir, "big.sent.tmp")
            with open(tmp, "w") as f:
                f.write("%d\n" % max(1, round(last_rtt * 1000)))
            os.replace(tmp, os.path.join(args.dir, "big.sent"))
        t0 = time.monotonic()
        try:
            status, data = post(conn, ctype, body)
        except ConnectionRefusedError:
            break  # nothing was sent: the server is gone
        except (OSError, http.client.HTTPException) as e:
            # Sent (maybe partly) and no answer: it may or may not be stored.
            sink.lost(ctype, body, ids, type(e).__name__, big)
            break
        if status == 201 and good_answer(data, ids):
            sink.ack(ids, big)
            last_rtt = time.monotonic() - t0
            if not big and args.pace_ms:
                time.sleep(rng.uniform(0, args.pace_ms / 1000))
        elif status in (429, 503):  # queue full, or busy: refused, not stored
            sink.reject(ids)
            time.sleep(0.05)
        else:
            sink.error("worker %d: status %d: %s" % (w, status, data[:300]))
            stop.set()
    conn.close()


def cmd_load(args):
    sink = Sink(args.dir)
    stop = threading.Event()
    ths = [threading.Thread(target=worker, args=(args, sink, w, stop)) for w in range(args.conns)]
    if args.big:
        ths.append(threading.Thread(target=worker, args=(args, sink, args.conns, stop, True)))
    for t in ths:
        t.start()
    deadline = time.monotonic() + args.max_seconds
    for t in ths:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in ths):
        sink.error("the load still ran after %d s: was the server killed?" % args.max_seconds)
        print(json.dumps(sink.stats), flush=True)
        os._exit(1)
    print(json.dumps(sink.stats))
    return 1 if sink.stats["bad_answers"] else 0


def read_lines(path):
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.strip() for l in f if l.strip()]


def read_unknown(path):
    return [json.loads(l) for l in read_lines(path)]


def cmd_check(args):
    bad = []
    seqs, ids, head, others = [], [], None, 0
    dec = json.JSONDecoder()
    with open(args.export) as f:
        for line in f:
            # Only the record is needed: parse it alone (the detail is most of the line).
            if line.startswith('{"record":'):
                rec = dec.raw_decode(line, 10)[0]
                seqs.append(rec["seq"])
                ids.append(rec["event_id"])
            else:
                o = json.loads(line)
                if "tree_head" in o:
                    head = o["tree_head"]
                else:
                    others += 1  # e.g. the stored checkpoints: verify checks them
    n = len(seqs)
    if head is None:
        bad.append("the export has no tree_head line")
    elif head.get("size") != n:
        bad.append("tree_head size %s but %d records" % (head.get("size"), n))
    if seqs != list(range(n)):
        gaps = sorted(set(range(max(seqs, default=0) + 1)) - set(seqs))[:5]
        dups = len(seqs) - len(set(seqs))
        bad.append("the seqs of the %d records are not 0..%d (first absent: %s, repeated: %d,"
                   " in order: %s)" % (n, n - 1, gaps, dups, seqs == sorted(seqs)))
    store = set(ids)
    if len(store) != n:
        bad.append("%d event_ids appear twice" % (n - len(store)))
    acked = set(read_lines(args.acked))
    missing = sorted(acked - store)
    if missing:
        bad.append("%d acknowledged events are missing, e.g. %s" % (len(missing), missing[:5]))
    unknown = read_unknown(args.unknown)
    partial = []
    unknown_present = unknown_absent = 0
    unknown_ids = set()
    for u in unknown:
        have = sum(1 for i in u["ids"] if i in store)
        unknown_ids.update(u["ids"])
        if have == len(u["ids"]):
            unknown_present += 1
        elif have == 0:
            unknown_absent += 1
        else:
            partial.append("%d of %d (%s)" % (have, len(u["ids"]), u["ids"][0]))
    if partial:
        bad.append("requests stored in part (not atomic): %s" % partial[:5])
    foreign = store - acked - unknown_ids
    if foreign:
        bad.append("%d stored events were never sent or acknowledged, e.g. %s"
                   % (len(foreign), sorted(foreign)[:5]))
    rejected = set(read_lines(args.rejected)) & store
    if rejected:
        bad.append("%d events refused with 429 or 503 are stored" % len(rejected))
    big = [u for u in unknown if len(u["ids"]) >= BIG]
    print(json.dumps({"records": n, "other_lines": others, "acked": len(acked), "missing": len(missing),
                      "unknown_requests": len(unknown), "unknown_present": unknown_present,
                      "unknown_absent": unknown_absent, "partial": len(partial),
                      "big_inflight": len(big),
                      "big_present": sum(1 for u in big if u["ids"][0] in store)}))
    for b in bad:
        print("check: " + b, file=sys.stderr)
    return 1 if bad else 0


def cmd_resend(args):
    host = urllib.parse.urlsplit(args.url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    dup = new = 0
    rc = 0
    with open(args.acked, "a") as acked:
        for u in read_unknown(args.unknown):
            status, data = post(conn, u["ctype"], u["body"])
            if status != 201 or not good_answer(data, u["ids"]):
                print("resend: status %d for a request of %d events (%s): %s"
                      % (status, len(u["ids"]), u["ids"][0], data[:300]), file=sys.stderr)
                rc = 1
                continue
            res = json.loads(data)["results"]
            dup += sum(1 for r in res if r["duplicate"])
            new += sum(1 for r in res if not r["duplicate"])
            acked.write("".join(i + "\n" for i in u["ids"]))
            acked.flush()
    print(json.dumps({"resent_duplicate": dup, "resent_new": new}))
    return rc


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("load")
    p.add_argument("--url", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--seed", required=True)
    p.add_argument("--conns", type=int, default=8)
    p.add_argument("--big", action="store_true")
    p.add_argument("--max-seconds", type=int, default=60)
    p.add_argument("--pace-ms", type=float, default=80,
                   help="each connection pauses up to this long after an answer")
    p = sub.add_parser("check")
    p.add_argument("--export", required=True)
    p.add_argument("--acked", required=True)
    p.add_argument("--unknown")
    p.add_argument("--rejected")
    p = sub.add_parser("resend")
    p.add_argument("--url", required=True)
    p.add_argument("--unknown", required=True)
    p.add_argument("--acked", required=True)
    args = ap.parse_args()
    return {"load": cmd_load, "check": cmd_check, "resend": cmd_resend}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())

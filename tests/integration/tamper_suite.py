#!/usr/bin/env python3
"""The tamper suite of issue 4, driven by test_tamper_suite.sh.

Builds a store of 10,000 events signed by checkpoints every 1,000 (the last
note is kept apart as the auditor's anchor), checks that the untouched store
verifies OK with no finding, then applies N seeded mutations (default 200),
each to a fresh copy of the store, cycling over seven kinds, as an attacker
with write access to the file (triggers dropped) but without the signing key
would:

  flip       one byte of a record (inside a string value, or anywhere) or of
             a payload's detail (inside a string)       -> a finding at that seq
  rehash     a field of a record changed and its leaf hash rewritten in the
             level-0 tile                                -> a finding whose range
             holds that seq: the 256-record block (tree_mismatch), or, in the
             last partial block, the checkpoint interval (checkpoint_mismatch)
  delete     a record deleted (sometimes its payload too) -> missing at that seq
  swap       two records (and their payloads) swapped    -> reordered at both
  truncate   every record from k on deleted, the tree rebuilt for k records,
             meta size = k (sometimes the later checkpoints deleted too)
                                                         -> truncated at seq k
  append     well-formed records appended with a correct tree and size
                                                         -> unanchored at 10000,
             exit 2; with a checkpoint for the new size signed by another key
             of the same name                            -> bad_signature there
  checkpoint a stored checkpoint's note replaced by one over the same size and
             root signed by another key of the same name -> bad_signature there

Each copy is verified with `agentrail verify --key PUB --checkpoint ANCHOR
--json`. A mutation counts as detected only if the exit status and status
are the expected ones AND the expected seq (or checkpoint size) is named.

Reproduce: ATR_TAMPER_SEED=S (the seed is printed). Copies whose mutation
was not detected are kept in the scratch directory and named in the output.
Only the Python 3 standard library is used.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid

EVENTS = 10000
CHUNK = 1000  # events per import, and a checkpoint after each
WIDTH = 256  # hashes per tile
KINDS = ["flip", "rehash", "delete", "swap", "truncate", "append", "checkpoint"]
ORIGIN = "tamper-suite.example/agentrail"

# Top-level string fields of a record, never nested in an object.
RECORD_STRING_FIELDS = [
    "actor", "target", "type", "level", "event_id", "ts", "received_at", "detail_commit",
    "session_id", "trace_id", "run_id", "model", "outcome",
]
ALNUM = b"abcdefghijklmnopqrstuvwxyz0123456789"


# ---------------------------------------------------------------- hashing


def leaf_hash(record: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + record).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def perfect_root(hashes):
    """Root of a complete subtree (len is a power of two)."""
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def tile_rows(leaves):
    """Every tile (level, idx, blob) of the tree over 'leaves', as the store keeps them:
    level L holds the nodes of height 8L, 256 per tile, the last tile partial."""
    rows = []
    nodes = list(leaves)
    level = 0
    while nodes:
        for idx in range(0, len(nodes), WIDTH):
            rows.append((level, idx // WIDTH, b"".join(nodes[idx:idx + WIDTH])))
        nodes = [perfect_root(nodes[i:i + WIDTH]) for i in range(0, len(nodes) - WIDTH + 1, WIDTH)]
        level += 1
    return rows


# ---------------------------------------------------------------- the store


def gen_events(rng, n):
    """n valid events of varied types, actors and details (deterministic from rng)."""
    actors = ["implementer-%d" % i for i in range(6)] + ["reviewer-0", "alice", "bob", "planner"]
    tools = ["shell", "search", "editor", "browser", "python", "git"]
    models = ["model-a-1", "model-b-2", "model-c-large"]
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
             "juliett", "kilo", "lima", "mike", "café", "naïve", "日本語", "tab\tinside", "quote\"d"]
    out = []
    for i in range(n):
        t = rng.choice(["tool_call", "tool_result", "llm_call", "command", "file_write",
                        "file_read", "decision", "session_start", "output", "x_custom_step"])
        ev = {
            "type": t,
            "actor": rng.choice(actors),
            "session_id": "session-%03d" % (i // 250),
            "trace_id": "trace-%04d" % (i // 40),
            "ts": "2026-04-%02dT%02d:%02d:%02d.%06dZ" % (1 + i // 3600 % 28, i // 3600 % 24,
                                                         i // 60 % 60, i % 60, rng.randrange(10**6)),
            "detail": {
                "note": " ".join(rng.choice(words) for _ in range(rng.randrange(1, 8))),
                "n": i,
                "tags": [rng.choice(words) for _ in range(rng.randrange(0, 4))],
                "nested": {"k": rng.choice(words), "v": rng.randrange(-1000, 1000)},
            },
        }
        if t in ("tool_call", "tool_result"):
            ev["target"] = rng.choice(tools)
        elif t == "llm_call":
            ev["model"] = rng.choice(models)
            ev["usage"] = {"input_tokens": rng.randrange(10000), "output_tokens": rng.randrange(4000)}
        elif t == "command":
            ev["target"] = "make test -j%d" % rng.randrange(1, 9)
            ev["exit_code"] = rng.choice([0, 0, 0, 1, 2])
        elif t in ("file_write", "file_read"):
            ev["target"] = "src/mod_%02d/file_%03d.c" % (rng.randrange(30), rng.randrange(500))
        elif t == "decision":
            ev["reason"] = "policy says " + rng.choice(words)
            ev["policy"] = {"decision": rng.choice(["ALLOW", "DENY", "REQUIRE_APPROVAL"]),
                            "rule_id": "rule-%d" % rng.randrange(20)}
        elif t == "x_custom_step":
            ev["level"] = "agent"
        if rng.random() < 0.3:
            ev["outcome"] = rng.choice(["success", "failure", "partial"])
        if rng.random() < 0.2:
            ev["detail"]["blob"] = "".join(rng.choice("abcdef0123456789") for _ in range(rng.randrange(50, 400)))
        out.append(ev)
    return out


def variant(m):
    """A short name for the flavour of one mutation, for the table."""
    k = m["kind"]
    if k == "flip":
        return m["where"]
    if k == "rehash":
        return m.get("located", "undetected ").split(" ")[0]
    if k == "delete":
        return "with payload" if m["payload_too"] else "record only"
    if k == "swap":
        return "adjacent" if m["seq2"] == m["seq"] + 1 else "apart"
    if k == "truncate":
        return "checkpoints dropped" if m["drop_checkpoints"] else "checkpoints kept"
    if k == "append":
        return m["mode"]
    return "size %d" % m["size"]


class Suite:
    def __init__(self, args):
        self.bin = args.agentrail
        self.dir = args.dir
        self.seed = args.seed
        self.n = args.mutations
        self.jobs = args.jobs
        self.keep_all = args.keep
        self.unsized = args.unsized
        self.store = os.path.join(self.dir, "store.db")
        self.key1 = os.path.join(self.dir, "keys", "operator")
        self.key2 = os.path.join(self.dir, "keys", "other")
        self.anchor = os.path.join(self.dir, "anchor.note")
        self.notes2 = {}  # size -> note over the same tree, signed by the other key

    def ar(self, *args, store=None, check=True):
        cmd = [self.bin] + (["--store", store] if store else []) + list(args)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if check and p.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                    p.stderr.decode(errors="replace")))
        return p

    @staticmethod
    def copy_store(src, dst):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(dst + suffix):
                os.remove(dst + suffix)
        shutil.copyfile(src, dst)
        if os.path.exists(src + "-wal"):
            shutil.copyfile(src + "-wal", dst + "-wal")

    # ------------------------------------------------------------ build

    def build(self):
        os.makedirs(os.path.join(self.dir, "keys"), exist_ok=True)
        self.ar("keygen", "--name", ORIGIN, "--out", self.key1)
        self.ar("keygen", "--name", ORIGIN, "--out", self.key2)
        events = gen_events(random.Random(self.seed), EVENTS)
        side = os.path.join(self.dir, "side.db")
        note = None
        for c in range(EVENTS // CHUNK):
            path = os.path.join(self.dir, "chunk%02d.jsonl" % c)
            with open(path, "w", encoding="utf-8") as f:
                for ev in events[c * CHUNK:(c + 1) * CHUNK]:
                    f.write(json.dumps(ev, ensure_ascii=False) + "\n")
            self.ar("import", "--quiet", path, store=self.store)
            os.remove(path)
            # The same tree signed by the other key (same name), on a throwaway copy
            # (first: `checkpoint` answers a stored note of the same size and name).
            size = (c + 1) * CHUNK
            self.copy_store(self.store, side)
            self.notes2[size] = self.ar("checkpoint", "--key", self.key2 + ".key", store=side).stdout
            note = self.ar("checkpoint", "--key", self.key1 + ".key", store=self.store).stdout
            assert self.notes2[size].split(b"\n")[:3] == note.split(b"\n")[:3], "same tree, same head"
            assert self.notes2[size] != note
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(side + suffix):
                os.remove(side + suffix)
        with open(self.anchor, "wb") as f:
            f.write(note)
        # Everything into the main file: then one copy of it is the whole store.
        db = sqlite3.connect(self.store)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.triggers = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
        self.size = int(db.execute("SELECT value FROM meta WHERE key = 'size'").fetchone()[0])
        self.records = [bytes(r[0]) for r in db.execute("SELECT record FROM records ORDER BY seq")]
        self.details = [bytes(r[0]) for r in db.execute("SELECT detail FROM payloads ORDER BY seq")]
        self.rows = db.execute("SELECT seq, type, level, actor, ts, trace_id, session_id, run_id,"
                               " job_id, target FROM records ORDER BY seq").fetchall()
        tiles = [(lv, idx, bytes(h)) for lv, idx, h in db.execute(
            "SELECT level, idx, hashes FROM tiles ORDER BY level, idx")]
        tiles0 = b"".join(h for lv, _, h in tiles if lv == 0)
        self.checkpoints = db.execute("SELECT id, size FROM checkpoints ORDER BY size, id").fetchall()
        db.close()
        self.leaves = [tiles0[i:i + 32] for i in range(0, len(tiles0), 32)]
        assert self.size == EVENTS and len(self.records) == EVENTS and len(self.details) == EVENTS
        assert self.leaves == [leaf_hash(r) for r in self.records], "stored leaves are the records' hashes"
        # What the truncate and append mutations write is what the store itself writes.
        assert tile_rows(self.leaves) == tiles, "the suite rebuilds the store's tiles exactly"
        assert [s for _, s in self.checkpoints] == list(range(CHUNK, EVENTS + 1, CHUNK))

    def verify(self, store):
        p = self.ar("verify", "--key", self.key1 + ".pub", "--checkpoint", self.anchor, "--json",
                    store=store, check=False)
        try:
            out = json.loads(p.stdout)
        except ValueError:
            out = None
        return p.returncode, out, p.stdout.decode(errors="replace").strip(), p.stderr.decode(errors="replace").strip()

    # ------------------------------------------------------------ mutations

    def plan(self):
        """The N mutations: kinds, targets and draws come from the seed alone; a flipped
        byte is then resolved against the record, whose received_at and detail_commit
        differ from run to run (the output names the exact byte)."""
        rng = random.Random(self.seed ^ 0x7a3c)
        n = self.size
        plans = []
        for i in range(self.n):
            kind = KINDS[i % len(KINDS)]
            round_ = i // len(KINDS)
            m = {"i": i, "kind": kind}
            if kind == "flip":
                m["where"] = ["record_string", "payload_string", "record_any"][round_ % 3]
                m["seq"] = rng.randrange(n)
                m["r1"], m["r2"] = rng.random(), rng.random()
                m["xor"] = rng.randrange(1, 256)
            elif kind == "rehash":
                # A quarter in the last, partial block: only the checkpoint catches those.
                tail = n - n % WIDTH
                m["seq"] = rng.randrange(tail, n) if round_ % 4 == 3 and tail < n else rng.randrange(n)
                m["field"] = rng.choice(["actor", "target", "ts", "type"])
                m["value"] = "mallory-%d" % rng.randrange(1000)
            elif kind == "delete":
                m["seq"] = rng.randrange(n)
                m["payload_too"] = rng.random() < 0.5
            elif kind == "swap":
                a = rng.randrange(n - 1)
                b = a + 1
                while round_ % 2 == 1 and b == a + 1:
                    b = rng.randrange(n)  # anywhere else, before or after
                m["seq"], m["seq2"] = min(a, b), max(a, b)
            elif kind == "truncate":
                m["k"] = rng.randrange(1, n)
                m["drop_checkpoints"] = round_ % 2 == 0
            elif kind == "append":
                m["count"] = rng.choice([1, 1, 2, rng.randrange(1, 20), rng.randrange(200, 400)])
                modes = ["plain", "forged checkpoint"] + (["unsized"] if self.unsized else [])
                m["mode"] = modes[round_ % len(modes)]
                m["rng"] = rng.getrandbits(64)
            elif kind == "checkpoint":
                cid, size = rng.choice(self.checkpoints)
                m["id"], m["size"] = cid, size
            plans.append(m)
        return plans

    @staticmethod
    def string_positions(data: bytes, start=0, end=None):
        """Offsets of ASCII letters and digits inside JSON string literals of data[start:end]."""
        end = len(data) if end is None else end
        pos, in_str, esc = [], False, False
        for i in range(start, end):
            ch = data[i]
            if in_str:
                if esc:
                    esc = False
                elif ch == 0x5C:
                    esc = True
                elif ch == 0x22:
                    in_str = False
                elif ch in ALNUM:
                    pos.append(i)
            elif ch == 0x22:
                in_str = True
        return pos

    @staticmethod
    def other_char(old, r):
        choices = [c for c in ALNUM if c != old]
        return choices[int(r * len(choices))]

    def apply(self, m, path):
        """Apply mutation m to the store copy at 'path'; returns what it did, in words."""
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN")
        for t in self.triggers:
            db.execute("DROP TRIGGER %s" % t)
        kind = m["kind"]
        if kind == "flip":
            s = m["seq"]
            if m["where"] == "payload_string":
                data = bytearray(self.details[s])
                pos = self.string_positions(data)
                off = pos[int(m["r1"] * len(pos))]
                old = data[off]
                data[off] = self.other_char(old, m["r2"])
                db.execute("UPDATE payloads SET detail = ? WHERE seq = ?", (bytes(data), s))
                what = "payload %d: byte %d %r -> %r" % (s, off, chr(old), chr(data[off]))
            elif m["where"] == "record_string":
                data = bytearray(self.records[s])
                fields = [f for f in RECORD_STRING_FIELDS if b'"%s":"' % f.encode() in data]
                field = fields[int(m["r1"] * len(fields))]
                start = data.index(b'"%s":"' % field.encode()) + len(field) + 4
                end = data.index(b'"', start)
                pos = self.string_positions(data, start - 1, end + 1)
                off = pos[int(m["r2"] * len(pos))]
                old = data[off]
                data[off] = self.other_char(old, m["r1"])
                db.execute("UPDATE records SET record = ? WHERE seq = ?", (bytes(data), s))
                what = "record %d: field %s byte %d %r -> %r" % (s, field, off, chr(old), chr(data[off]))
            else:
                data = bytearray(self.records[s])
                off = int(m["r1"] * len(data))
                old = data[off]
                data[off] ^= m["xor"]
                db.execute("UPDATE records SET record = ? WHERE seq = ?", (bytes(data), s))
                what = "record %d: byte %d 0x%02x -> 0x%02x" % (s, off, old, data[off])
        elif kind == "rehash":
            s, field = m["seq"], m["field"]
            rec = json.loads(self.records[s])
            assert json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() \
                == self.records[s], "records are canonical JSON"
            if field not in rec:
                field = "actor"
            old = rec[field]
            rec[field] = m["value"] if field != "ts" else "2027-01-01T00:00:00.000000Z"
            data = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            # Same bytes apart from the one field: the record stays canonical.
            assert json.loads(data) == rec
            db.execute("UPDATE records SET record = ? WHERE seq = ?", (data, s))
            if field in ("actor", "target", "type"):
                db.execute("UPDATE records SET %s = ? WHERE seq = ?" % field, (rec[field], s))
            tile = bytearray(db.execute("SELECT hashes FROM tiles WHERE level = 0 AND idx = ?",
                                        (s // WIDTH,)).fetchone()[0])
            o = (s % WIDTH) * 32
            tile[o:o + 32] = leaf_hash(data)
            db.execute("UPDATE tiles SET hashes = ? WHERE level = 0 AND idx = ?", (bytes(tile), s // WIDTH))
            what = "record %d: %s %r -> %r, its leaf in tile 0/%d rewritten" % (s, field, old, rec[field], s // WIDTH)
        elif kind == "delete":
            s = m["seq"]
            db.execute("DELETE FROM records WHERE seq = ?", (s,))
            if m["payload_too"]:
                db.execute("DELETE FROM payloads WHERE seq = ?", (s,))
            what = "record %d deleted%s" % (s, " with its payload" if m["payload_too"] else "")
        elif kind == "swap":
            a, b = m["seq"], m["seq2"]
            for table in ("records", "payloads"):
                db.execute("UPDATE %s SET seq = -1 WHERE seq = ?" % table, (a,))
                db.execute("UPDATE %s SET seq = ? WHERE seq = ?" % table, (a, b))
                db.execute("UPDATE %s SET seq = ? WHERE seq = -1" % table, (b,))
            what = "records %d and %d swapped (with their payloads)" % (a, b)
        elif kind == "truncate":
            k = m["k"]
            db.execute("DELETE FROM records WHERE seq >= ?", (k,))
            db.execute("DELETE FROM payloads WHERE seq >= ?", (k,))
            db.execute("DELETE FROM batches WHERE first_seq >= ?", (k,))
            db.execute("DELETE FROM tiles")
            db.executemany("INSERT INTO tiles (level, idx, hashes) VALUES (?, ?, ?)", tile_rows(self.leaves[:k]))
            db.execute("UPDATE meta SET value = ? WHERE key = 'size'", (k,))
            dropped = 0
            if m["drop_checkpoints"]:
                dropped = db.execute("DELETE FROM checkpoints WHERE size > ?", (k,)).rowcount
            what = "truncated to %d records, tree rebuilt, %d later checkpoints deleted" % (k, dropped)
        elif kind == "append":
            rng = random.Random(m["rng"])
            new_leaves = []
            for j in range(m["count"]):
                seq = self.size + j
                tmpl = rng.randrange(self.size)
                rec = json.loads(self.records[tmpl])
                detail = json.dumps({"forged": j, "note": "never happened"}, sort_keys=True,
                                    separators=(",", ":")).encode()
                salt = rng.getrandbits(256).to_bytes(32, "big")
                eid = uuid.UUID(int=rng.getrandbits(128), version=4)
                rec.update(seq=seq, event_id=str(eid), actor="mallory",
                           detail_commit=hashlib.sha256(salt + detail).hexdigest())
                data = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
                row = self.rows[tmpl]
                db.execute("INSERT INTO records (seq, event_id, content_hash, type, level, actor, ts,"
                           " trace_id, session_id, run_id, job_id, target, record)"
                           " VALUES (?, ?, ?, ?, ?, 'mallory', ?, ?, ?, ?, ?, ?, ?)",
                           (seq, eid.bytes, hashlib.sha256(data).digest(), row[1], row[2], row[4],
                            row[5], row[6], row[7], row[8], row[9], data))
                db.execute("INSERT INTO payloads (seq, salt, detail) VALUES (?, ?, ?)", (seq, salt, detail))
                new_leaves.append(leaf_hash(data))
            if m["mode"] == "unsized":
                what = "%d forged records inserted at %d (tree and size untouched)" % (m["count"], self.size)
            else:
                db.execute("DELETE FROM tiles")
                db.executemany("INSERT INTO tiles (level, idx, hashes) VALUES (?, ?, ?)",
                               tile_rows(self.leaves + new_leaves))
                db.execute("UPDATE meta SET value = ? WHERE key = 'size'", (self.size + m["count"],))
                what = "%d forged records appended at %d (tree and size updated)" % (m["count"], self.size)
        elif kind == "checkpoint":
            db.execute("UPDATE checkpoints SET note = ? WHERE id = ?", (self.notes2[m["size"]], m["id"]))
            what = "stored checkpoint of size %d replaced by one signed with another key" % m["size"]
        db.execute("COMMIT")
        db.close()
        if kind == "append" and m["mode"] == "forged checkpoint":
            # The attacker signs the forged tree with a key of its own (same name).
            self.ar("checkpoint", "--key", self.key2 + ".key", store=path)
            what += ", and a checkpoint of size %d signed with another key" % (self.size + m["count"])
        return what

    # ------------------------------------------------------------ expectations

    def judge(self, m, rc, out):
        """'' when the verdict is the expected one and names the right seq, else why not."""
        if out is None or "findings" not in out:
            return "no JSON verdict (exit %d)" % rc
        f = out["findings"]
        kind = m["kind"]

        def has(kinds, seq=None, size=None):
            return any(x["kind"] in kinds and (seq is None or x["seq"] == seq)
                       and (size is None or x["checkpoint_size"] == size) for x in f)

        tamper_kinds = ("record_changed", "payload_changed", "missing", "reordered", "malformed",
                        "tree_mismatch", "checkpoint_mismatch")
        if kind == "append" and m["mode"] == "plain":
            if rc != 2 or out["status"] != "UNANCHORED":
                return "expected exit 2 UNANCHORED, got exit %d %s" % (rc, out["status"])
            want = [["unanchored", self.size, self.size + m["count"] - 1]]
            got = [[x["kind"], x["seq"], x["seq_last"]] for x in f]
            if got != want or out["anchored_size"] != self.size:
                return "expected findings %s and anchored_size %d, got %s, %s" % (
                    want, self.size, got, out["anchored_size"])
            return ""
        if rc != 1 or out["status"] == "OK":
            return "expected exit 1, got exit %d %s" % (rc, out["status"])
        if kind == "flip":
            s = m["seq"]
            want = ("payload_changed",) if m["where"] == "payload_string" else (
                ("record_changed",) if m["where"] == "record_string" else tamper_kinds)
            if not has(want, seq=s):
                return "no %s finding at seq %d" % ("/".join(want), s)
            if out["first_bad_seq"] != s:
                return "first_bad_seq %s, expected %d" % (out["first_bad_seq"], s)
        elif kind == "rehash":
            s = m["seq"]
            hits = [x for x in f if x["kind"] in tamper_kinds and x["seq"] is not None
                    and x["seq"] <= s <= x["seq_last"]]
            if not hits:
                return "no finding whose range holds seq %d" % s
            h = hits[0]
            width = h["seq_last"] - h["seq"] + 1
            full = self.size - self.size % WIDTH
            if s < full:
                if h["kind"] == "tree_mismatch" and width > WIDTH:
                    return "range %d..%d is %d wide (> %d)" % (h["seq"], h["seq_last"], width, WIDTH)
                if h["kind"] not in ("tree_mismatch", "record_changed"):
                    return "unexpected finding %s for a full block" % h["kind"]
            else:
                # The tail after the last full block has no stored node over it:
                # the checkpoint interval that covers it is the location.
                if h["kind"] != "checkpoint_mismatch" or width > CHUNK:
                    return "expected checkpoint_mismatch at most %d wide, got %s %d..%d" % (
                        CHUNK, h["kind"], h["seq"], h["seq_last"])
            if out["first_bad_seq"] != h["seq"]:
                return "first_bad_seq %s, expected %d" % (out["first_bad_seq"], h["seq"])
            m["located"] = "%s %d..%d" % (h["kind"], h["seq"], h["seq_last"])
        elif kind == "delete":
            if not has(("missing",), seq=m["seq"]) or out["first_bad_seq"] != m["seq"]:
                return "no missing finding at seq %d as the first bad seq" % m["seq"]
        elif kind == "swap":
            a, b = m["seq"], m["seq2"]
            if not has(("reordered",), seq=a) or out["first_bad_seq"] != a:
                return "no reordered finding at seq %d as the first bad seq" % a
            if not has(("reordered",), seq=b):
                return "no reordered finding at seq %d (the other of the two)" % b
        elif kind == "truncate":
            if out["status"] != "TRUNCATED" or not has(("truncated",), seq=m["k"]):
                return "expected TRUNCATED with a truncated finding at seq %d" % m["k"]
        elif kind == "append" and m["mode"] == "unsized":
            # Rows past the tree's size, which `query` serves: must be named.
            if not any(x["seq"] == self.size for x in f):
                return "no finding at seq %d" % self.size
        elif kind == "append":
            size = self.size + m["count"]
            if not has(("bad_signature",), size=size):
                return "no bad_signature finding for the checkpoint of size %d" % size
        elif kind == "checkpoint":
            if not has(("bad_signature",), size=m["size"]):
                return "no bad_signature finding for the checkpoint of size %d" % m["size"]
        return ""

    # ------------------------------------------------------------ run

    def one(self, m):
        path = os.path.join(self.dir, "mut", "m%03d-%s.db" % (m["i"], m["kind"]))
        self.copy_store(self.store, path)
        try:
            m["what"] = self.apply(m, path)
            rc, out, stdout, stderr = self.verify(path)
            m["why"] = self.judge(m, rc, out)
            if not m["why"] and stderr:
                m["why"] = "verify wrote to stderr (a sanitizer report?)"
        except Exception as e:  # a broken mutation is a failure, not a crash of the suite
            rc, stdout, stderr = -1, "", ""
            m.setdefault("what", "(not applied)")
            m["why"] = "the suite itself failed: %r" % e
        m["rc"] = rc
        if m["why"]:
            m["stdout"], m["stderr"], m["path"] = stdout[:4000], stderr[:2000], path
        elif not self.keep_all:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
        return m

    def run(self):
        t0 = time.time()
        print("tamper suite: seed %d, %d mutations (ATR_TAMPER_SEED=%d to repeat)" % (self.seed, self.n, self.seed), flush=True)
        self.build()
        t1 = time.time()
        print("built %d events, checkpoints at %s, in %.1fs" % (
            self.size, ",".join(str(s) for _, s in self.checkpoints), t1 - t0), flush=True)
        summary = {"seed": self.seed, "checks": []}

        def check(name, ok, detail=""):
            summary["checks"].append({"name": name, "ok": bool(ok)})
            if not ok:
                print("FAIL %s %s" % (name, detail), file=sys.stderr)

        # The untouched store, and an untouched copy with its triggers dropped: nothing to report.
        rc, out, stdout, stderr = self.verify(self.store)
        check("untouched store: exit 0, OK, no finding",
              rc == 0 and out and out["status"] == "OK" and out["findings"] == [] and out["size"] == EVENTS
              and out["anchored_size"] == EVENTS and out["first_bad_seq"] is None and not stderr,
              stdout + stderr)
        ctrl = os.path.join(self.dir, "control.db")
        self.copy_store(self.store, ctrl)
        db = sqlite3.connect(ctrl, isolation_level=None)
        for t in self.triggers:
            db.execute("DROP TRIGGER %s" % t)
        db.close()
        rc, out, stdout, stderr = self.verify(ctrl)
        check("untouched copy without triggers: exit 0, OK, no finding",
              rc == 0 and out and out["status"] == "OK" and out["findings"] == [] and not stderr,
              stdout + stderr)

        os.makedirs(os.path.join(self.dir, "mut"), exist_ok=True)
        plans = self.plan()
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.jobs) as pool:
            done = list(pool.map(self.one, plans))
        t2 = time.time()

        table = {k: [0, 0] for k in KINDS}
        with open(os.path.join(self.dir, "mutations.jsonl"), "w") as log:
            for m in done:
                table[m["kind"]][1] += 1
                if not m["why"]:
                    table[m["kind"]][0] += 1
                else:
                    print("FAIL mutation %d (%s): %s\n  what: %s\n  verify exit %s: %s\n  stderr: %s\n  copy kept: %s"
                          % (m["i"], m["kind"], m["why"], m["what"], m["rc"], m["stdout"], m["stderr"], m["path"]),
                          file=sys.stderr)
                log.write(json.dumps({k: v for k, v in m.items() if k not in ("stdout", "stderr")}) + "\n")
        print("%-11s %8s %s" % ("kind", "detected", "variants"))
        for k in KINDS:
            variants = {}
            for m in done:
                if m["kind"] == k:
                    v = variant(m)
                    variants[v] = variants.get(v, 0) + 1
            print("%-11s %4d/%-3d %s" % (k, table[k][0], table[k][1],
                                         ", ".join("%s %d" % kv for kv in sorted(variants.items()))))
        detected = sum(v[0] for v in table.values())
        print("detected %d of %d with the right seq; %.1fs for the mutations, %.1fs in all"
              % (detected, len(done), t2 - t1, t2 - t0), flush=True)
        for k in KINDS:
            check("kind %s" % k, table[k][0] == table[k][1])
        check("all %d mutations detected with the right seq" % len(done), detected == len(done) == self.n)
        return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agentrail", required=True)
    ap.add_argument("--dir", required=True, help="scratch directory (emptied)")
    ap.add_argument("--mutations", type=int, default=int(os.environ.get("ATR_TAMPER_MUTATIONS", "200")))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("ATR_TAMPER_JOBS", "2")))
    ap.add_argument("--keep", action="store_true", help="keep every mutated copy")
    ap.add_argument("--no-unsized", dest="unsized", action="store_false",
                    default=os.environ.get("ATR_TAMPER_UNSIZED", "1") == "1",
                    help="do not also insert records past the tree's size without updating the tree"
                         " or the size")
    ap.add_argument("--summary", help="write the checks as JSON here")
    args = ap.parse_args()
    if args.seed is None:
        env = os.environ.get("ATR_TAMPER_SEED")
        args.seed = int(env) if env else random.SystemRandom().randrange(1 << 31)
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    summary = Suite(args).run()
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(summary, f)
    return 0 if all(c["ok"] for c in summary["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""An independent verifier for agentrail's signed checkpoints, proof bundles
and exports, written from the specifications (C2SP signed-note and
tlog-checkpoint, Go's sumdb/note key encoding, RFC 6962 / RFC 9162) with
Python's hashlib and the `cryptography` package's Ed25519, sharing no code
with the C implementation.

  indep_verify.py checkpoint NOTE_FILE VKEY_FILE   -> prints "size root_hex"
  indep_verify.py bundle BUNDLE_FILE VKEY_FILE     -> prints "seq size"
  indep_verify.py export EXPORT_FILE VKEY_FILE     -> prints "records checkpoints"
  indep_verify.py evidence BUNDLE_FILE VKEY_FILE   -> prints "events policies size"

Exit 0 when everything holds, 1 with a reason on stderr otherwise.
"""
import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Bad(Exception):
    pass


def parse_vkey(text):
    name, keyid_hex, b64 = text.strip().split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    if len(raw) != 33 or raw[0] != 1:
        raise Bad("verifier key is not an Ed25519 key")
    pub = raw[1:]
    keyid = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if keyid.hex() != keyid_hex:
        raise Bad("verifier key id does not match its key")
    return name, keyid, Ed25519PublicKey.from_public_bytes(pub)


def open_checkpoint(note, vkey):
    """Check a signed note's signature by vkey; return (origin, size, root bytes)."""
    name, keyid, pub = vkey
    if not note.endswith("\n"):
        raise Bad("note does not end with a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise Bad("note has no signature block")
    text, sigs = note[: cut + 1], note[cut + 2 :]
    ok = False
    for line in sigs.splitlines():
        if not line.startswith("\u2014 "):
            raise Bad("malformed signature line")
        signer, b64 = line[2:].split(" ")
        raw = base64.b64decode(b64, validate=True)
        if signer != name or raw[:4] != keyid:
            continue
        try:
            pub.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise Bad("bad signature")
        ok = True
    if not ok:
        raise Bad("no signature by the key")
    lines = text.split("\n")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    if origin != name or len(root) != 32 or str(size) != lines[1]:
        raise Bad("malformed checkpoint body")
    return origin, size, root


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves):
    """RFC 6962 section 2.1 Merkle Tree Hash, recursively."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def root_from_inclusion(index, size, leaf, path):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        raise Bad("index beyond size")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise Bad("audit path too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Bad("audit path too short")
    return r


def check_bundle(bundle, vkey):
    b = json.loads(bundle)
    _, size, root = open_checkpoint(b["checkpoint"], vkey)
    if size != b["tree_size"]:
        raise Bad("tree size differs from the checkpoint")
    record = b["record"].encode()
    leaf = leaf_hash(record)
    if leaf.hex() != b["leaf_hash"]:
        raise Bad("record does not hash to leaf_hash")
    if json.loads(record)["seq"] != b["seq"]:
        raise Bad("record carries another seq")
    path = [bytes.fromhex(h) for h in b["audit_path"]]
    if root_from_inclusion(b["seq"], size, leaf, path) != root:
        raise Bad("audit path does not lead to the signed root")
    if "detail" in b:
        commit = hashlib.sha256(bytes.fromhex(b["salt"]) + b["detail"].encode()).hexdigest()
        if commit != json.loads(record)["detail_commit"]:
            raise Bad("payload does not match detail_commit")
    return b["seq"], size


def check_evidence(text, vkey):
    """An evidence bundle: the signature, every entry's inclusion and payload,
    the job id of every event, and each policy text against its snapshot."""
    b = json.loads(text)
    _, size, root = open_checkpoint(b["checkpoint"], vkey)
    if size != b["tree_size"]:
        raise Bad("tree size differs from the checkpoint")
    for name in ("events", "policies"):
        for e in b[name]:
            record = e["record"].encode()
            rec = json.loads(record)
            leaf = leaf_hash(record)
            if leaf.hex() != e["leaf_hash"] or rec["seq"] != e["seq"]:
                raise Bad("%s seq %d: record does not hash to leaf_hash" % (name, e["seq"]))
            path = [bytes.fromhex(h) for h in e["audit_path"]]
            if root_from_inclusion(e["seq"], size, leaf, path) != root:
                raise Bad("%s seq %d: audit path does not lead to the signed root" % (name, e["seq"]))
            if "detail" in e:
                commit = hashlib.sha256(bytes.fromhex(e["salt"]) + e["detail"].encode()).hexdigest()
                if commit != rec["detail_commit"]:
                    raise Bad("%s seq %d: payload does not match detail_commit" % (name, e["seq"]))
            if name == "events" and rec.get("job_id") != b["job_id"]:
                raise Bad("event seq %d belongs to another job" % e["seq"])
            if name == "policies":
                if rec["type"] != "policy_publish":
                    raise Bad("policy seq %d is not a policy_publish" % e["seq"])
                if "detail" in e:
                    doc = json.loads(e["detail"])["document"].encode()
                    if "sha256:" + hashlib.sha256(doc).hexdigest() != rec["policy"]["snapshot"]:
                        raise Bad("policy seq %d: document does not hash to its snapshot" % e["seq"])
    return len(b["events"]), len(b["policies"]), size


def root_after_edge(edge, leaves):
    """RFC 6962 root of a tree whose first leaves are summed up by 'edge', a
    list of (height, hash) complete subtrees left to right, followed by
    'leaves': push each onto a stack of subtrees, merging equal heights, then
    fold from the right (the compact-range form of RFC 9162 section 2.1.1)."""
    stack = []
    for h, x in list(edge) + [(0, leaf) for leaf in leaves]:
        while stack and stack[-1][0] == h:
            x = node_hash(stack.pop()[1], x)
            h += 1
        stack.append((h, x))
    if not stack:
        return hashlib.sha256(b"").digest()
    r = stack[-1][1]
    for _, x in reversed(stack[:-1]):
        r = node_hash(x, r)
    return r


def check_export(path, vkey):
    """Recompute every leaf and the root at every checkpoint in the export.
    A pruned export starts with {"pruned":{"below":B,"edge":[[height,hex],...]}}:
    records start at B, and roots from B on are recomputed from that edge."""
    checkpoints, leaves = [], []
    below, edge = 0, []
    with open(path, "rb") as f:
        for raw in f:
            line = json.loads(raw)
            if "pruned" in line:
                if checkpoints or leaves:
                    raise Bad("the pruned line is not first")
                below = line["pruned"]["below"]
                edge = [(h, bytes.fromhex(x)) for h, x in line["pruned"]["edge"]]
                if below % 256 or sum(1 << h for h, _ in edge) != below:
                    raise Bad("the pruned edge does not cover records below %d" % below)
            elif "checkpoint" in line:
                checkpoints.append(open_checkpoint(line["checkpoint"], vkey))
            elif "record" in line:
                # The record's exact bytes: the text between "record": and ,"leaf_hash".
                start = raw.index(b'{"record":') + len(b'{"record":')
                end = raw.index(b',"leaf_hash":')
                rec = raw[start:end]
                if json.loads(rec)["seq"] != below + len(leaves):
                    raise Bad("record %d is out of place" % (below + len(leaves)))
                leaves.append(leaf_hash(rec))
            elif "tree_head" in line:
                if line["tree_head"]["size"] != below + len(leaves):
                    raise Bad("tree head size differs from the records")
    for origin, size, root in checkpoints:
        if size > below + len(leaves):
            raise Bad("checkpoint of size %d beyond the %d records" % (size, below + len(leaves)))
        if size < below:
            raise Bad("checkpoint of size %d lies in the pruned prefix" % size)
        got = root_after_edge(edge, leaves[:size - below]) if below else mth(leaves[:size])
        if got != root:
            raise Bad("records do not hash to the checkpoint of size %d" % size)
    return len(leaves), len(checkpoints)


def main():
    what, path, keyfile = sys.argv[1:4]
    vkey = parse_vkey(open(keyfile).read())
    try:
        if what == "checkpoint":
            _, size, root = open_checkpoint(open(path).read(), vkey)
            print(size, root.hex())
        elif what == "bundle":
            print(*check_bundle(open(path).read(), vkey))
        elif what == "export":
            print(*check_export(path, vkey))
        elif what == "evidence":
            print(*check_evidence(open(path).read(), vkey))
        else:
            raise Bad("unknown command " + what)
    except (Bad, KeyError, ValueError) as e:
        print("indep_verify: %s" % e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

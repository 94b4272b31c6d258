// RFC 6962 / RFC 9162 inclusion proofs checked in the browser with WebCrypto
// SHA-256: the record's bytes hash to its leaf (0x00 ‖ bytes), and the audit
// path leads from the leaf to the root of the signed checkpoint.

export function hexToBytes(hex) {
  if (!/^([0-9a-f]{2})*$/.test(hex)) throw new Error("not hex: " + hex);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}
export function bytesToHex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
export function base64ToHex(b64) {
  const bin = atob(b64);
  return bytesToHex(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

async function sha256(...parts) {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    buf.set(p, off);
    off += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}

export async function leafHash(recordBytes) {
  return bytesToHex(await sha256(Uint8Array.of(0), recordBytes));
}

// The root an audit path leads to (RFC 9162 section 2.1.3.2), or null when the
// path cannot belong to a tree of 'size' leaves.
export async function rootFromPath(index, size, leafHex, pathHex) {
  if (index >= size) return null;
  let fn = index, sn = size - 1;
  let r = hexToBytes(leafHex);
  for (const p of pathHex.map(hexToBytes)) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(Uint8Array.of(1), p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await sha256(Uint8Array.of(1), r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? bytesToHex(r) : null;
}

// A C2SP tlog-checkpoint note: origin, size, root (hex), and the signature lines.
export function parseCheckpoint(note) {
  const [body, sigs] = note.split("\n\n");
  const lines = body.split("\n");
  if (lines.length < 3 || !/^\d+$/.test(lines[1])) throw new Error("not a checkpoint note");
  return {
    origin: lines[0],
    size: Number(lines[1]),
    root: base64ToHex(lines[2]),
    signers: (sigs || "").split("\n").filter((l) => l.startsWith("\u2014 ")).map((l) => l.split(" ")[1]),
  };
}

// A session, trace, workflow run or job as a timeline: its events nested by
// parent_event_id, filterable by type, each with its detail and the status of
// its inclusion proof, checked here against the served checkpoint's root.
import { allPages, call, enc, fmtTime, h, notice } from "./api.js";
import { leafHash, parseCheckpoint, rootFromPath } from "./merkle.js";

const SOURCES = {
  session: (id) => ["/api/v1/sessions/" + enc(id) + "/trail", "Session"],
  trace: (id) => ["/api/v1/traces/" + enc(id), "Trace"],
  run: (id) => ["/api/v1/workflow-runs/" + enc(id) + "/timeline?limit=1000", "Workflow run"],
  "job-events": (id) => ["/api/v1/events?job_id=" + enc(id) + "&limit=1000", "Job events"],
};

// Every event of every page, flat (the trail routes nest within a page only).
function flatten(events, out) {
  for (const e of events) {
    const { children, ...rest } = e;
    out.push(rest);
    if (children) flatten(children, out);
  }
  return out;
}

// Nest by parent_event_id, in seq order; a parent outside the list, or a cycle,
// leaves the event at the top.
function nest(flat) {
  flat.sort((a, b) => a.seq - b.seq);
  const byId = new Map(flat.map((e) => [e.event_id, { e, children: [], parent: null }]));
  const roots = [];
  for (const e of flat) {
    const node = byId.get(e.event_id);
    let p = e.parent_event_id ? byId.get(e.parent_event_id) : null;
    for (let a = p; a && p; a = a.parent) if (a === node) p = null;
    if (p) {
      node.parent = p;
      p.children.push(node);
    } else roots.push(node);
  }
  return roots;
}

// ------------------------------------------------------------------ proofs

function proofChecker() {
  let cp = null;
  const cache = new Map();
  async function checkpoint(fresh) {
    if (cp && !fresh) return cp;
    try {
      const resp = await call("/api/v1/checkpoint", { raw: true });
      const c = parseCheckpoint(await resp.text());
      cp = { ...c, signed: true };
    } catch (e) {
      if (e.status !== 404) throw e;
      const r = await call("/api/v1/root");
      cp = { size: r.size, root: r.root_hash, origin: "", signed: false };
    }
    return cp;
  }
  async function check(seq) {
    let c = await checkpoint(false);
    if (seq >= c.size) c = await checkpoint(true);
    if (seq >= c.size) return { state: "pending", text: "⧗ not yet in a signed checkpoint (it covers " + c.size + " records)" };
    const proof = await call("/api/v1/proof/inclusion?seq=" + seq + "&size=" + c.size);
    const resp = await call("/api/v1/records/" + seq, { raw: true });
    const bytes = new Uint8Array(await resp.arrayBuffer());
    const masked = resp.headers.get("X-Agentrail-Redactions");
    const leaf = await leafHash(bytes);
    const served = resp.headers.get("X-Agentrail-Leaf-Hash");
    let note = "";
    let from = leaf;
    if (leaf !== proof.leaf_hash || (served && served !== leaf)) {
      // A reader gets records with secrets masked: their bytes cannot hash to the leaf.
      if (masked === null) return { state: "bad", text: "✗ the record's bytes do not hash to its leaf" };
      from = proof.leaf_hash;
      note = " (record masked for your role: leaf hash as served)";
    }
    const root = await rootFromPath(seq, c.size, from, proof.path);
    const where = c.signed ? "signed checkpoint " + c.origin + " of size " + c.size : "the current root of size " + c.size + " (no signed checkpoint yet)";
    if (root !== c.root) return { state: "bad", text: "✗ the audit path does not lead to the root of " + where };
    return { state: "ok", text: "✓ included in " + where + note };
  }
  return (seq) => {
    if (!cache.has(seq)) cache.set(seq, check(seq).catch((e) => ({ state: "bad", text: "✗ " + e.message })));
    return cache.get(seq);
  };
}

// ------------------------------------------------------------------ page

export async function renderTimeline({ ctx, page, kind, id, errorNotice }) {
  const [path, label] = SOURCES[kind](id);
  page(label + " " + id, h("p", {}, "loading…"));
  let flat;
  try {
    const { items, truncated } = await allPages(path, "events");
    flat = flatten(items, []);
    if (truncated) flat.truncated = true;
  } catch (e) {
    if (ctx.alive()) page(label + " " + id, errorNotice(e));
    return;
  }
  if (!ctx.alive()) return;
  const proofOf = proofChecker();
  const roots = nest(flat);
  const types = [...new Set(flat.map((e) => e.type))].sort();
  const shown = new Set(types);
  const tree = h("ol.tree", { id: "timeline", "aria-label": "Events" });
  const count = (t) => flat.filter((e) => e.type === t).length;
  const filters = h("fieldset.filters", { id: "filters" }, h("legend", {}, "Event types"),
    types.map((t) => h("label", {}, h("input", {
      type: "checkbox", checked: true, value: t, "data-type": t,
      onchange: (e) => { e.target.checked ? shown.add(t) : shown.delete(t); draw(); },
    }), t + " (" + count(t) + ")")));
  const checkAll = h("button", { type: "button", id: "check-all", onclick: async () => {
    checkAll.disabled = true;
    for (const b of tree.querySelectorAll("[data-proof]")) {
      const r = await proofOf(Number(b.dataset.proof));
      if (!ctx.alive()) return;
      setBadge(b, r);
    }
    checkAll.disabled = false;
  } }, "Check every proof");

  function setBadge(el, r) {
    el.textContent = r.state === "ok" ? "✓" : r.state === "bad" ? "✗" : "⧗";
    el.className = "proof badge " + (r.state === "ok" ? "ok" : r.state === "bad" ? "bad" : "");
    el.title = r.text;
    el.setAttribute("aria-label", "proof: " + r.text);
  }

  function eventItem(node) {
    const e = node.e;
    const badge = h("span.proof.badge", { "data-proof": e.seq, title: "proof not checked yet", "aria-label": "proof not checked yet" }, "·");
    const detail = h("div.ev-detail", { id: "ev-" + e.seq, hidden: true });
    const head = h("button.ev-head", { type: "button", "aria-expanded": "false", "aria-controls": "ev-" + e.seq, "data-seq": e.seq,
      onclick: () => {
        const open = head.getAttribute("aria-expanded") !== "true";
        head.setAttribute("aria-expanded", String(open));
        detail.hidden = !open;
        if (open && !detail.firstChild) fillDetail(e, detail, badge);
      } },
    h("span.mono.muted", {}, "#" + e.seq), h("span.muted", {}, fmtTime(e.ts)), h("span.type", {}, e.type),
    h("span", {}, e.actor || ""), e.target ? h("span.mono", {}, e.target.length > 80 ? e.target.slice(0, 80) + "…" : e.target) : "",
    e.outcome ? h("span." + (e.outcome === "success" ? "ok" : "bad"), {}, e.outcome) : "", badge);
    return [head, detail];
  }

  async function fillDetail(e, box, badge) {
    const proof = h("p.proof", { "data-proof-text": e.seq }, "checking the inclusion proof…");
    const fields = ["event_id", "ts", "received_at", "type", "level", "actor", "user_id", "agent_id", "model", "session_id", "run_id", "trace_id",
      "job_id", "parent_event_id", "target", "reason", "outcome", "exit_code", "detail_commit"];
    const kv = h("dl.kv", {}, fields.filter((f) => e[f] !== undefined).flatMap((f) => [h("dt", {}, f),
      h("dd", {}, f === "job_id" ? h("a", { href: "#/job/" + enc(e[f]) }, e[f]) : String(e[f]))]));
    const extra = {};
    for (const k of ["usage", "policy", "approval", "detail"]) if (e[k] !== undefined) extra[k] = e[k];
    box.append(proof, kv, Object.keys(extra).length ? h("pre", {}, JSON.stringify(extra, null, 2)) : h("p.muted", {}, e.detail === undefined ? "payload erased" : ""));
    const r = await proofOf(e.seq);
    proof.textContent = r.text;
    proof.className = "proof " + (r.state === "ok" ? "ok" : r.state === "bad" ? "bad" : "warn");
    setBadge(badge, r);
  }

  // Hidden types drop out; their children take their place.
  function items(nodes) {
    const out = [];
    for (const n of nodes) {
      if (!shown.has(n.e.type)) {
        out.push(...items(n.children));
        continue;
      }
      const li = h("li.ev", { "data-type": n.e.type }, eventItem(n));
      const kids = items(n.children);
      if (kids.length) li.append(h("ol", {}, kids));
      out.push(li);
    }
    return out;
  }
  function draw() {
    tree.replaceChildren(...items(roots));
  }
  draw();
  page(label + " " + id,
    h("p", {}, flat.length + " events" + (flat.truncated ? " (the first pages only)" : "") + ", nested by parent. Open an event for its detail and inclusion proof."),
    filters, h("div.row", {}, checkAll), flat.length ? tree : notice("No events."));
}

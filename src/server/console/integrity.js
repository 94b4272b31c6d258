// Integrity: the newest signed checkpoint, the current root, the stored
// checkpoints, the witnesses' delivery counters (from /metrics, for auditors)
// and "verify now" (POST /api/v1/verify, followed on /api/v1/verify/status).
import { announce, call, enc, h, notice, table } from "./api.js";
import { parseCheckpoint } from "./merkle.js";

export async function renderIntegrity({ ctx, page, can, errorNotice }) {
  const cpBox = h("section", { id: "checkpoint", "aria-labelledby": "cp-h" }, h("h2", { id: "cp-h" }, "Latest checkpoint"), h("p", {}, "loading…"));
  const wBox = h("section", { id: "witnesses", "aria-labelledby": "w-h" }, h("h2", { id: "w-h" }, "Witnesses"));
  const vBox = h("section", { id: "verify", "aria-labelledby": "v-h" }, h("h2", { id: "v-h" }, "Verify the whole log"));
  const listBox = h("section", { id: "checkpoints", "aria-labelledby": "l-h" }, h("h2", { id: "l-h" }, "Stored checkpoints"));
  page("Integrity", cpBox, vBox, wBox, listBox);

  // The checkpoint and the root.
  try {
    const root = await call("/api/v1/root");
    let cp = null;
    try {
      const resp = await call("/api/v1/checkpoint", { raw: true });
      const note = await resp.text();
      cp = { note, ...parseCheckpoint(note) };
    } catch (e) {
      if (e.status !== 404) throw e;
    }
    if (!ctx.alive()) return;
    cpBox.replaceChildren(cpBox.firstChild,
      cp ? h("dl.kv", {},
        h("dt", {}, "Origin"), h("dd", { id: "cp-origin" }, cp.origin),
        h("dt", {}, "Tree size"), h("dd", { id: "cp-size" }, cp.size),
        h("dt", {}, "Root"), h("dd.mono", {}, cp.root),
        h("dt", {}, "Signed by"), h("dd", {}, cp.signers.join(", ")),
        h("dt", {}, "Log now"), h("dd", {}, root.size + " records" + (root.size > cp.size ? " (" + (root.size - cp.size) + " after the checkpoint)" : "")))
        : notice("No checkpoint has been signed yet: start the server with --key FILE. The log has " + root.size + " records; nothing outside this machine vouches for them."),
      cp ? h("details", {}, h("summary", {}, "The signed note"), h("pre", {}, cp.note)) : "");
  } catch (e) {
    if (ctx.alive()) cpBox.replaceChildren(cpBox.firstChild, errorNotice(e));
  }

  // Verify now.
  if (can.audit()) await verifyPanel(ctx, vBox);
  else vBox.append(h("p.muted", {}, "Verifying the log is for auditors and admins."));

  // Witnesses, from the Prometheus counters.
  if (can.audit()) {
    try {
      const resp = await call("/metrics", { raw: true });
      const m = parseMetrics(await resp.text());
      if (!ctx.alive()) return;
      const rows = [];
      if (m.agentrail_witness_dir_writes_total !== undefined)
        rows.push(["directories", m.agentrail_witness_dir_writes_total, m.agentrail_witness_dir_failures_total ?? 0, "", ""]);
      for (const [k, v] of Object.entries(m)) {
        const w = /^agentrail_witness_delivered_total\{witness="(\d+)"\}$/.exec(k);
        if (w) rows.push(["URL #" + w[1], v, m['agentrail_witness_failures_total{witness="' + w[1] + '"}'] ?? 0,
          m['agentrail_witness_rejected_total{witness="' + w[1] + '"}'] ?? 0, m['agentrail_witness_queue{witness="' + w[1] + '"}'] ?? 0]);
      }
      wBox.append(m.agentrail_checkpoint_signing === 0
        ? h("p", {}, "This server signs no checkpoints (no --key), so it has no witnesses.")
        : rows.length ? table("Witness deliveries", ["Witness", ["Delivered", "num"], ["Failed attempts", "num"], ["Refused", "num"], ["Waiting", "num"]], rows)
          : h("p", {}, "No witness is configured (serve --witness DIR or --witness-url URL)."),
      m.agentrail_checkpoint_signing_refused === 1 ? notice("Signing was refused: the log no longer extends its last checkpoint.", "error") : "");
    } catch (e) {
      wBox.append(errorNotice(e));
    }
  } else {
    wBox.append(h("p.muted", {}, "Witness delivery counters are for auditors and admins."));
  }

  // The stored checkpoints.
  try {
    const l = await call("/api/v1/checkpoints?limit=20");
    if (!ctx.alive()) return;
    listBox.append(l.checkpoints.length
      ? table("The first stored checkpoints", [["Size", "num"], "Origin", "Root"], l.checkpoints.map((c) => [c.size, c.origin, h("code", {}, c.root_hash)]))
      : h("p", {}, "None."));
  } catch (e) {
    listBox.append(errorNotice(e));
  }
}

function parseMetrics(text) {
  const m = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    m[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return m;
}

async function verifyPanel(ctx, box) {
  const key = h("input", { id: "verify-key", size: 60, spellcheck: "false", placeholder: "name+hash+base64 (optional)" });
  const start = h("button.primary", { type: "button", id: "verify-start" }, "Verify now");
  const bar = h("progress.progress", { id: "verify-progress", max: 1, "aria-label": "Verification progress" });
  const state = h("div", { id: "verify-state", "aria-live": "polite" });
  box.append(
    h("p", {}, "Re-hashes every record and payload, recomputes the tree and checks every stored checkpoint. With your verifier key the signatures are checked too and a good log is OK; without it the best verdict is UNANCHORED."),
    h("label", { for: "verify-key" }, "Verifier key"), key,
    h("div.row", {}, start), bar, state);
  bar.hidden = true;

  const show = (s) => {
    if (s.state === "idle") {
      state.replaceChildren(h("p.muted", {}, "Not run since the server started."));
      return;
    }
    bar.hidden = false;
    if (s.state === "running") {
      bar.max = Math.max(1, s.total);
      if (s.checked) bar.value = Math.min(s.checked, s.total);
      else bar.removeAttribute("value"); // indeterminate until the first 65,536 records are read
      state.replaceChildren(h("p", {}, "Checking " + (s.checked ? s.checked + " / " : "") + s.total + " records… " + (s.elapsed_ms / 1000).toFixed(1) + " s"));
      return;
    }
    bar.max = Math.max(1, s.total);
    bar.value = s.checked ?? 0;
    const good = s.verdict === "OK" || s.verdict === "UNANCHORED";
    state.replaceChildren(
      h("p", { id: "verify-verdict", class: good ? "ok proof" : "bad proof" }, (good ? "✓ " : "✗ ") + s.verdict +
        (s.checked != null ? " — " + s.checked + " / " + s.total + " records checked" : "") + " in " + (s.elapsed_ms / 1000).toFixed(2) + " s"),
      s.error ? notice(s.error, "error") : "",
      s.verdict === "UNANCHORED" ? h("p.muted", {}, "Consistent, but no signature was checked against a key you trust" + (s.trusted_key ? "" : " (no verifier key given)") + ".") : "",
      s.findings && s.findings.length ? table("Findings (" + s.findings_total + ")", ["Kind", "Seq", "Message"], s.findings.map((f) => [f.kind, f.seq ?? "", f.message])) : "",
      h("p.muted", {}, "Started " + s.started_at + (s.by ? " by " + s.by : "") + "."));
  };
  const follow = async () => {
    for (;;) {
      const s = await call("/api/v1/verify/status");
      if (!ctx.alive()) return;
      show(s);
      if (s.state !== "running") return s;
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      const q = key.value.trim() ? "?key=" + enc(key.value.trim()) : "";
      show(await call("/api/v1/verify" + q, { method: "POST" }));
      const s = await follow();
      if (s) announce("verification finished: " + s.verdict);
    } catch (e) {
      state.replaceChildren(notice(e.message, "error"));
    }
    start.disabled = false;
  });
  try {
    const s = await follow();
    if (s && s.state === "running") start.disabled = true;
  } catch (e) {
    state.replaceChildren(notice(e.message, "error"));
  }
}

// The agentrail web console: a hash-routed single page over the JSON API.
// Sign-in keeps the bearer token in sessionStorage and asks GET /api/v1/whoami
// for the role; what the role may not do is not offered.
import { ApiError, announce, call, enc, fmtTime, h, notice, setToken, table, token } from "./api.js";
import { renderTimeline } from "./timeline.js";
import { renderIntegrity } from "./integrity.js";

const main = document.getElementById("main");
let me = null; // {name, role, tokens_required}
let generation = 0; // bumped on every navigation: stale pages stop polling and rendering
const POLL_MS = 3000;

// What each role may do (docs/access.md); an open loopback server (no tokens) may read,
// export and verify, but nobody can be named as an approver there.
export const can = {
  read: () => !me.role || ["reader", "auditor", "approver", "admin"].includes(me.role),
  resolve: () => me.role === "approver",
  audit: () => !me.role || ["auditor", "admin"].includes(me.role),
};

function page(title, ...children) {
  main.replaceChildren(h("h1", {}, title), ...children);
  document.title = title + " · agentrail";
}

// A page's context: alive() turns false once the user navigated elsewhere.
function context() {
  const g = ++generation;
  return { alive: () => g === generation };
}

function errorNotice(e) {
  if (e instanceof ApiError && e.status === 401) {
    signOut("The token is not valid any more; sign in again.");
    return notice("signed out");
  }
  return notice(e.message || String(e), "error");
}

// Run 'fn' now and every POLL_MS while the page is shown and the tab visible.
function poll(ctx, fn) {
  const tick = async () => {
    if (!ctx.alive()) return;
    if (!document.hidden) await fn().catch((e) => console.warn(e));
    if (ctx.alive()) setTimeout(tick, POLL_MS);
  };
  return tick();
}

// ------------------------------------------------------------------ sign-in

function signOut(why) {
  setToken("");
  me = null;
  renderSignIn(why);
}

function renderSignIn(why) {
  context();
  document.getElementById("nav").hidden = true;
  document.getElementById("who").replaceChildren();
  const input = h("input", { id: "token", type: "password", autocomplete: "off", spellcheck: "false", required: true, placeholder: "atr_…" });
  const err = h("div", { "aria-live": "polite" });
  const form = h("form.signin", {
    onsubmit: async (e) => {
      e.preventDefault();
      setToken(input.value.trim());
      try {
        await whoami();
        route();
      } catch (ex) {
        setToken("");
        err.replaceChildren(notice(ex.status === 401 ? "This token is not valid or was revoked." : ex.message, "error"));
      }
    },
  },
  h("label", { for: "token" }, "Bearer token"),
  input,
  h("p.muted", {}, "Paste a token made with ", h("code", {}, "agentrail token create"), ". It stays in this tab only (sessionStorage) and is sent with each API call."),
  h("div.row", {}, h("button.primary", { type: "submit" }, "Sign in")),
  err);
  page("Sign in", why ? notice(why) : "", form);
  input.focus();
}

async function whoami() {
  me = await call("/api/v1/whoami");
  const who = document.getElementById("who");
  const label = me.role ? [h("span", { id: "whoami" }, me.name + " · " + me.role)] : [h("span", { id: "whoami" }, "open loopback server (no tokens)")];
  const out = me.role ? h("button", { type: "button", onclick: () => signOut("Signed out.") }, "Sign out") : "";
  who.replaceChildren(...label, out);
  document.getElementById("nav").hidden = false;
}

// ------------------------------------------------------------------ activity

function idLink(kind, id) {
  return h("a", { href: "#/" + kind + "/" + enc(id) }, id);
}

async function renderActivity() {
  const ctx = context();
  const stamp = h("span.muted.live", { id: "updated" }, "loading…");
  const body = h("div", { id: "activity" });
  page("Activity", h("p.row", {}, stamp, h("span.muted", {}, " — refreshed every " + POLL_MS / 1000 + " s")), body,
    h("h2", {}, "Open a timeline"), timelineForm());
  await poll(ctx, async () => {
    let a;
    try {
      a = await call("/api/v1/activity?limit=50&window=5000");
    } catch (e) {
      if (ctx.alive()) body.replaceChildren(errorNotice(e));
      return;
    }
    if (!ctx.alive()) return;
    stamp.textContent = "updated " + new Date().toLocaleTimeString() + " · " + a.size + " events in the log";
    const outcome = (g) => (g.ended ? h("span." + (g.outcome === "success" ? "ok" : g.outcome ? "bad" : "muted"), {}, g.outcome || "ended") : h("span.muted", {}, "open"));
    body.replaceChildren(
      table("Recent sessions", ["Session", ["Events", "num"], "Last activity", ["Actor", "hide-narrow"], ["Last event", "hide-narrow"], "State"],
        a.sessions.map((s) => [idLink("session", s.session_id), s.events, fmtTime(s.last_ts), s.actor || "", s.last_type || "", outcome(s)]),
        { attrs: { id: "sessions" } }),
      a.sessions.length ? "" : h("p.muted", {}, "No sessions in the newest " + (a.size - a.from_seq) + " events."),
      h("h2", {}, "Workflow runs"),
      table("Recent workflow runs", ["Run", ["Events", "num"], "Last activity", ["Job", "hide-narrow"], "State"],
        a.runs.map((r) => [idLink("run", r.run_id), r.events, fmtTime(r.last_ts), r.job_id ? idLink("job", r.job_id) : "", outcome(r)]),
        { attrs: { id: "runs" } }),
      h("h2", {}, "Latest events"),
      table("Latest events", [["Seq", "num"], "Time", "Type", "Actor", ["Target", "hide-narrow"], "Links"],
        a.recent.map((e) => [e.seq, fmtTime(e.ts), e.type, e.actor, h("span.wrap", {}, e.target || ""),
          h("span", {}, e.session_id ? idLink("session", e.session_id) : "", " ", e.trace_id ? h("a", { href: "#/trace/" + enc(e.trace_id) }, "trace") : "", " ", e.job_id ? h("a", { href: "#/job/" + enc(e.job_id) }, "job") : "")]),
        { attrs: { id: "recent" } }));
  });
}

function timelineForm() {
  const kind = h("select", { id: "tl-kind", "aria-label": "Kind of id" },
    h("option", { value: "session" }, "session"), h("option", { value: "run" }, "workflow run"),
    h("option", { value: "trace" }, "trace"), h("option", { value: "job" }, "job"));
  const id = h("input", { id: "tl-id", "aria-label": "Id", required: true, placeholder: "id" });
  return h("form", { onsubmit: (e) => { e.preventDefault(); location.hash = "#/" + kind.value + "/" + enc(id.value.trim()); } },
    h("div.row", {}, kind, id, h("button", { type: "submit" }, "Open")));
}

// ------------------------------------------------------------------ approvals

async function renderApprovals() {
  const ctx = context();
  const list = h("div", { id: "approvals" }, "loading…");
  const intro = can.resolve()
    ? h("p", {}, "Approve or reject a pending request; your token's name is recorded as the resolver.")
    : h("p.muted", { id: "readonly-note" }, me.role ? "Your role (" + me.role + ") may not resolve approvals: only approver tokens can." : "Nobody can be named as the resolver on a server without tokens, so resolving is not offered here.");
  page("Approvals", intro, list);
  const busy = new Set(); // ids being resolved: the poll leaves their rows alone
  const draw = async () => {
    let items;
    try {
      ({ approvals: items } = await call("/api/v1/approvals?limit=500"));
    } catch (e) {
      if (ctx.alive()) list.replaceChildren(errorNotice(e));
      return;
    }
    if (!ctx.alive() || busy.size) return;
    const focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement.id : null;
    const rows = items.map((a) => {
      const cells = [idLink("job", a.job_id || ""), h("code", { "data-approval": a.approval_id }, a.approval_id), a.requested_by || "", fmtTime(a.requested_at),
        h("span", {}, a.rule_id ? h("code", {}, a.rule_id) : "", " ", a.reason || "")];
      if (can.resolve()) cells.push(resolveForm(a, busy, draw));
      return cells;
    });
    const headers = ["Job", "Approval", "Requested by", "Requested", "Rule and reason"];
    if (can.resolve()) headers.push("Resolve");
    list.replaceChildren(items.length
      ? table("Pending approvals (" + items.length + ")", headers, rows, { attrs: { id: "queue" }, rowAttrs: (i) => ({ "data-approval-row": items[i].approval_id }) })
      : h("p", { id: "queue-empty" }, "No approval is pending."));
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  };
  await poll(ctx, draw);
}

function resolveForm(a, busy, redraw) {
  const cid = "comment-" + a.approval_id;
  const comment = h("textarea", { id: cid, rows: 2, maxlength: 16384, "aria-label": "Comment for " + a.approval_id });
  const msg = h("div", { "aria-live": "polite" });
  const act = (resolution) => async (e) => {
    e.preventDefault();
    busy.add(a.approval_id);
    form.querySelectorAll("button").forEach((b) => (b.disabled = true));
    try {
      const body = { resolution, job_hash: a.job_hash || "" };
      if (comment.value.trim()) body.comment = comment.value.trim();
      const r = await call("/api/v1/approvals/" + enc(a.approval_id) + "/resolve", { method: "POST", body });
      announce(a.approval_id + " " + resolution + " (seq " + r.seq + ")");
      document.querySelector('[data-approval-row="' + CSS.escape(a.approval_id) + '"]')?.remove();
    } catch (ex) {
      msg.replaceChildren(notice(ex.message, "error"));
      form.querySelectorAll("button").forEach((b) => (b.disabled = false));
      busy.delete(a.approval_id);
      return;
    }
    busy.delete(a.approval_id);
    redraw();
  };
  const form = h("form.approval", {},
    comment,
    h("div.row", {},
      h("button.primary", { type: "button", id: "approve-" + a.approval_id, onclick: act("approved") }, "Approve"),
      h("button.danger", { type: "button", id: "reject-" + a.approval_id, onclick: act("rejected") }, "Reject")),
    msg);
  return form;
}

// ------------------------------------------------------------------ job and evidence

async function renderJob(id) {
  const ctx = context();
  page("Job " + id, h("p", {}, "loading…"));
  let job;
  try {
    job = await call("/api/v1/jobs/" + enc(id));
  } catch (e) {
    if (ctx.alive()) page("Job " + id, errorNotice(e));
    return;
  }
  if (!ctx.alive()) return;
  const evidence = h("section", { id: "evidence", "aria-labelledby": "ev-h" }, h("h2", { id: "ev-h" }, "Evidence"));
  page("Job " + id,
    h("dl.kv", { id: "job" },
      h("dt", {}, "Submitter"), h("dd", {}, job.submitter || "—"),
      h("dt", {}, "Status"), h("dd", { id: "job-status" }, job.status),
      h("dt", {}, "Events"), h("dd", {}, job.events),
      h("dt", {}, "Policy snapshot"), h("dd", {}, job.policy_snapshot ? h("code", {}, job.policy_snapshot) : "—"),
      h("dt", {}, "Last event"), h("dd", {}, job.last_event ? job.last_event.type + " at " + fmtTime(job.last_event.timestamp) + " (seq " + job.last_event.seq + ")" : "—")),
    h("p", {}, h("a", { href: "#/job-events/" + enc(id) }, "All events of this job as a timeline")),
    table("Decisions (" + job.decisions_total + ")", ["Seq", "Decision", "Rule", "Reason", "Snapshot"],
      job.decisions.map((d) => [d.seq, d.decision, d.rule_id ? h("code", {}, d.rule_id) : "", d.reason || "", d.snapshot || ""])),
    h("h2", {}, "Approvals"),
    table("Approvals (" + job.approvals_total + ")", ["Approval", "Requested by", "Rule", "Resolution", "Approver", "Comment"],
      job.approvals.map((a) => [a.approval_id, a.requested_by || "", a.rule_id || "", a.resolution || "", a.resolved_by || "", a.comment || ""])),
    evidence);
  await renderEvidence(ctx, id, evidence);
}

async function renderEvidence(ctx, id, box) {
  if (!can.audit()) {
    box.append(h("p.muted", {}, "Evidence bundles are for auditors and admins."));
    return;
  }
  let resp;
  try {
    resp = await call("/api/v1/jobs/" + enc(id) + "/evidence", { raw: true });
  } catch (e) {
    if (!ctx.alive()) return;
    if (e.code === "no_route") box.append(notice("Evidence bundles are not available on this server."));
    else if (e.status === 403) box.append(h("p.muted", {}, "Your role may not download evidence."));
    else box.append(notice(e.message, "error"));
    return;
  }
  const text = await resp.text();
  if (!ctx.alive()) return;
  let b;
  try {
    b = JSON.parse(text);
  } catch (e) {
    box.append(notice("The evidence bundle is not JSON.", "error"));
    return;
  }
  const s = b.summary || {};
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  box.append(
    h("dl.kv", { id: "evidence-summary" },
      h("dt", {}, "Submitter"), h("dd", {}, s.submitter || "—"),
      h("dt", {}, "Final state"), h("dd", {}, s.status || "—", s.final ? " — " + s.final.type + (s.final.outcome ? " (" + s.final.outcome + ")" : "") + " at seq " + s.final.seq : ""),
      h("dt", {}, "Records proven"), h("dd", {}, (b.events || []).length + " against the checkpoint of size " + b.tree_size),
      h("dt", {}, "Output safety"), h("dd", {}, s.output_safety ? s.output_safety.decision + " (" + (s.output_safety.rule_id || "") + ")" : "—")),
    table("Decisions in the bundle", ["Seq", "Decision", "Rule", "Reason", "Policy text"],
      (s.decisions || []).map((d) => [d.seq, d.decision, d.rule_id || "", d.reason || "", policyText(b, d)])),
    table("Approvals in the bundle", ["Approval", "Requested by", "Resolution", "Approver", "Comment"],
      (s.approvals || []).map((a) => [a.approval_id, a.requested_by || "", a.resolution || "", a.resolved_by || "", a.comment || ""])),
    h("p.row", {}, h("a.button", { href: url, download: "evidence-" + id + ".json", id: "evidence-download" }, "Download the evidence bundle"),
      h("span.muted", {}, "check it offline with agentrail verify-evidence")));
}

// The policy text a decision cites, from the bundle's policies list.
function policyText(b, d) {
  if (d.policy_text_seq == null) return d.snapshot ? h("span.muted", {}, d.snapshot_known === false ? "snapshot " + d.snapshot + " not published" : d.snapshot) : "—";
  const p = (b.policies || []).find((x) => x.seq === d.policy_text_seq);
  if (!p || !p.detail) return "seq " + d.policy_text_seq;
  let doc = p.detail;
  try {
    const det = JSON.parse(p.detail);
    doc = det.document || det.text || det.policy || p.detail;
    if (typeof doc !== "string") doc = JSON.stringify(doc, null, 2);
  } catch (e) { /* shown as stored */ }
  return h("details", {}, h("summary", {}, "policy at seq " + p.seq), h("pre", {}, doc));
}

// ------------------------------------------------------------------ alerts and reports

async function renderAlerts() {
  const ctx = context();
  const box = h("div", { id: "alerts" }, "loading…");
  page("Alerts", box);
  await poll(ctx, async () => {
    let a;
    try {
      a = await call("/api/v1/alerts?limit=200");
    } catch (e) {
      if (!ctx.alive()) return;
      box.replaceChildren(e.code === "no_route" ? notice("Alerts are not available on this server.") : errorNotice(e));
      return;
    }
    if (!ctx.alive()) return;
    const items = a.items || [];
    box.replaceChildren(items.length
      ? table("Alerts (" + items.length + (a.next_cursor ? "+" : "") + ")", ["Time", "Severity", "Rule", "Target", "Reason", "Links"],
        items.map((x) => [fmtTime(x.ts), h("span." + (x.severity === "high" || x.severity === "critical" ? "bad" : "warn"), {}, x.severity || ""),
          h("code", {}, x.rule || ""), h("span.wrap", {}, x.target || ""), x.reason || "",
          h("span", {}, x.session_id ? idLink("session", x.session_id) : "", " ", x.job_id ? h("a", { href: "#/job/" + enc(x.job_id) }, "job") : "",
            " ", x.trigger_seq != null ? "trigger seq " + x.trigger_seq : "")]), { attrs: { id: "alert-table" } })
      : h("p", {}, "No alerts."));
  });
}

async function renderReports(name) {
  const ctx = context();
  const box = h("div", { id: "reports" }, "loading…");
  const view = h("section", { id: "report-view" });
  page("Reports", box, view);
  let r;
  try {
    r = await call("/api/v1/reports");
  } catch (e) {
    if (ctx.alive()) box.replaceChildren(e.code === "no_route" ? notice("Reports are not available on this server.") : errorNotice(e));
    return;
  }
  if (!ctx.alive()) return;
  const items = r.items || [];
  box.replaceChildren(items.length
    ? table("Reports", ["Report", "Period", "Date", "Format", ["Size", "num"], ["SHA-256", "hide-narrow"]],
      items.map((x) => [x.format === "html" ? h("a", { href: "#/reports/" + enc(x.name) }, x.name) : x.name, x.period, x.date, x.format, x.size, h("code", {}, (x.sha256 || "").slice(0, 16) + "…")]),
      { attrs: { id: "report-table" } })
    : h("p", {}, "No reports yet."));
  const sel = items.find((x) => x.name === name);
  if (sel) await showReport(ctx, sel, view);
}

// A report is fetched with the token and shown from a blob: URL in a frame with
// no permissions at all (no scripts, no same-origin access).
async function showReport(ctx, item, view) {
  view.replaceChildren(h("h2", {}, item.name), h("p", {}, "loading…"));
  let resp;
  try {
    resp = await call(item.url, { raw: true });
  } catch (e) {
    if (ctx.alive()) view.replaceChildren(h("h2", {}, item.name), errorNotice(e));
    return;
  }
  const blob = await resp.blob();
  if (!ctx.alive()) return;
  const url = URL.createObjectURL(new Blob([blob], { type: "text/html" }));
  view.replaceChildren(h("h2", {}, item.name),
    h("p.row", {}, h("a.button", { href: url, download: item.name }, "Download"), h("span.muted", {}, "SHA-256 " + (item.sha256 || ""))),
    h("iframe.report", { src: url, sandbox: "", title: "Report " + item.name, id: "report-frame" }));
}

// ------------------------------------------------------------------ router

async function route() {
  if (!me) {
    try {
      await whoami();
    } catch (e) {
      renderSignIn(token() && e.status === 401 ? "The saved token is not valid any more." : e.status === 401 ? "" : e.message);
      return;
    }
  }
  const hash = location.hash.startsWith("#/") ? location.hash.slice(2) : "activity";
  const [name, ...rest] = hash.split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : "";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!can.read()) {
    context();
    page("Console", notice("A " + me.role + " token can only append events; the console needs a reader, auditor, approver or admin token."));
    return;
  }
  switch (name) {
    case "approvals": return renderApprovals();
    case "alerts": return renderAlerts();
    case "reports": return renderReports(arg);
    case "integrity": return renderIntegrity({ ctx: context(), page, can, errorNotice });
    case "job": return renderJob(arg);
    case "session":
    case "run":
    case "trace":
    case "job-events":
      return renderTimeline({ ctx: context(), page, kind: name, id: arg, errorNotice });
    default: return renderActivity();
  }
}

document.getElementById("skip").addEventListener("click", (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener("hashchange", () => {
  route();
  main.focus({ preventScroll: true });
});
route();

// The console's only way to the server: the JSON API with the token the user
// typed (kept in sessionStorage: gone when the tab closes), plus small DOM helpers
// that write every datum as text, never as HTML.

const KEY = "agentrail.token";

export function token() {
  return sessionStorage.getItem(KEY) || "";
}
export function setToken(t) {
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// call(path, {method, body, raw}): the parsed JSON answer (or the Response with
// raw), an ApiError carrying the server's error code otherwise.
export async function call(path, opts = {}) {
  const headers = {};
  const t = token();
  if (t) headers["Authorization"] = "Bearer " + t;
  let body;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  let resp;
  try {
    resp = await fetch(path, { method: opts.method || "GET", headers, body, cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, "network", "cannot reach the server: " + e.message);
  }
  if (resp.ok && opts.raw) return resp;
  const text = await resp.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (e) {
    if (resp.ok) throw new ApiError(resp.status, "bad_answer", "the server's answer is not JSON");
  }
  if (!resp.ok) {
    const err = json && json.error ? json.error : {};
    throw new ApiError(resp.status, err.code || "http_" + resp.status, err.message || resp.statusText);
  }
  return json;
}

// Every page of a paged list: pages(path, "events") follows next_cursor.
export async function allPages(path, key, max = 50) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < max; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await call(cursor ? path + sep + "cursor=" + encodeURIComponent(cursor) : path);
    items.push(...(page[key] || []));
    if (!page.next_cursor) return { items, page };
    cursor = page.next_cursor;
  }
  return { items, truncated: true };
}

export const enc = encodeURIComponent;

// h("tag.class", {attr: value, onclick: fn}, children...): children are nodes or text.
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// A table with a caption and header cells: rows are arrays of cells (node or text).
export function table(caption, headers, rows, opts = {}) {
  const head = h("tr", {}, headers.map((x) => {
    const [label, cls] = Array.isArray(x) ? x : [x, ""];
    return h("th" + (cls ? "." + cls : ""), { scope: "col" }, label);
  }));
  const body = rows.map((r, i) =>
    h("tr", opts.rowAttrs ? opts.rowAttrs(i) : {}, r.map((c, j) => {
      const cls = Array.isArray(headers[j]) ? headers[j][1] : "";
      return h("td" + (cls ? "." + cls : ""), {}, c);
    })));
  return h("div.table-wrap", {}, h("table", opts.attrs || {}, h("caption", {}, caption), h("thead", {}, head), h("tbody", {}, body)));
}

export function announce(msg) {
  const s = document.getElementById("status");
  s.textContent = "";
  setTimeout(() => (s.textContent = msg), 30);
}

export function fmtTime(ts) {
  if (!ts) return "";
  return ts.replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function notice(msg, cls = "") {
  return h("div.notice" + (cls ? "." + cls : ""), { role: cls === "error" ? "alert" : null }, msg);
}

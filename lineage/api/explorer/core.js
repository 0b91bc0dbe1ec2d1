// The explorer's core: GraphQL calls, DOM building, URL state, readiness.
//
// Every view's state is in the URL (`/?view=lineage&from=...&dir=down`); a view is a
// function (params, main) -> Promise that renders into <main id="view"> and may open the
// side panel.  When it has rendered, the view is marked ready (data-ready="1" on <main>,
// and a performance mark "explorer:ready"): the browser tests and the benchmark wait on
// that.

export const BASE = (document.querySelector('meta[name="lineage-base"]')?.content || "")
  .replace(/\/$/, "");

/** A GraphQL error (or an HTTP refusal) with the API's own message. */
export class ApiError extends Error {
  constructor(message, code) { super(message); this.code = code; }
}

/** Run a GraphQL operation against this server; resolves to `data`, throws ApiError with
 *  the API's message (the first error's, with the field path) otherwise. */
export async function gql(query, variables = {}, { token } = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`${BASE}/graphql`, {
      method: "POST", headers, body: JSON.stringify({ query, variables }),
    });
  } catch (err) {
    throw new ApiError(`the server did not answer (${err.message})`, "NETWORK");
  }
  let body;
  try { body = await response.json(); } catch {
    throw new ApiError(`the server answered ${response.status} without JSON`, "HTTP");
  }
  if (body.errors && body.errors.length) {
    const e = body.errors[0];
    throw new ApiError(e.message, e.extensions?.code);
  }
  return body.data;
}

/** Build an element: h("a", {href: "..."}, "text", child ...). Text is always text. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replace an element's children (nested lists flattened, null and false left out). */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter(c => c !== null && c !== undefined && c !== false));
  return el;
}

/** The URL of a view with these parameters (empty values left out). */
export function href(view, params = {}) {
  const q = new URLSearchParams({ view });
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length)) continue;
    q.set(k, Array.isArray(v) ? v.join(",") : v);
  }
  return `${BASE}/?${q.toString()}`;
}

/** A link to another view that the router follows without reloading the page. */
export function link(text, view, params, attrs = {}) {
  return h("a", { href: href(view, params), "data-nav": "", ...attrs }, text);
}

let router = null;
export function setRouter(fn) { router = fn; }

/** Go to a view (a new history entry unless `replace`). */
export function go(view, params = {}, { replace = false } = {}) {
  const url = href(view, params);
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  return router();
}

/** Change the current view's URL parameters in place (no reload, no re-render). */
export function setParams(params) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length)) q.delete(k);
    else q.set(k, Array.isArray(v) ? v.join(",") : v);
  }
  history.replaceState(null, "", `${location.pathname}?${q.toString()}`);
}

export const main = () => document.getElementById("view");
export const panel = () => document.getElementById("panel");

export function setLoading(view) {
  const m = main();
  m.dataset.view = view;
  m.dataset.ready = "0";
}

export function setReady() {
  main().dataset.ready = "1";
  performance.mark("explorer:ready");
}

/** A message box in the page (kind: info, error, warn). */
export function message(text, kind = "info") {
  return h("div", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export function showError(where, err) {
  where.replaceChildren(message(err instanceof ApiError ? err.message
    : `something went wrong in the page: ${err.message}`, "error"));
}

export function openPanel(...children) {
  const p = panel();
  p.hidden = false;
  fill(p, h("button", { class: "close", title: "Close", "aria-label": "Close panel",
    style: { float: "right" }, onclick: () => { p.hidden = true; setParams({ node: null }); } },
  "×"), ...children);
  return p;
}

export function closePanel() { panel().hidden = true; panel().replaceChildren(); }

/** Definition list of label -> value rows (values left out when empty). */
export function props(rows) {
  const dl = h("dl", { class: "props" });
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    dl.append(h("dt", {}, label), h("dd", {}, value));
  }
  return dl;
}

/** A fraction (0..1) as a percentage: a decimal below 10%, so a small share never reads 0%. */
export function percent(fraction) {
  return `${(fraction * 100).toFixed(fraction < 0.1 ? 1 : 0)}%`;
}

export function verdictBadge(verdict, fraction) {
  if (!verdict) return h("span", { class: "badge ok" }, "clean");
  const f = fraction === undefined || fraction === null ? "" : ` ${percent(fraction)}`;
  return h("span", { class: `badge ${verdict}` }, `${verdict}${f}`);
}

export function bytes(n) {
  if (n === null || n === undefined) return null;
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function table(headers, rows, numeric = []) {
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((c, i) =>
      h("th", { class: numeric.includes(i) ? "num" : null }, c)))),
    h("tbody", {}, rows.map(r => h("tr", {}, r.map((c, i) =>
      h("td", { class: numeric.includes(i) ? "num" : null }, c))))));
}

/** Kelly's colours of maximum contrast (the same order as the project's PNG figures). */
export const COLOURS = ["#0067A5", "#F38400", "#008856", "#BE0032", "#875692", "#F3C300",
  "#A1CAF1", "#882D17", "#8DB600", "#E68FAC", "#604E97", "#C2B280", "#848482", "#F99379",
  "#2B3D26", "#DCD300", "#B3446C", "#654522", "#E25822", "#F6A600"];

/** Shapes, one per run of five types: colours alike in the list differ in shape too. */
export const SHAPES = ["round-rectangle", "ellipse", "diamond", "hexagon", "barrel"];

/** The token this tab uses for writes (kept for the tab only, never in a URL). */
export const token = {
  get: () => sessionStorage.getItem("lineage-token") || "",
  set: (value) => value ? sessionStorage.setItem("lineage-token", value)
    : sessionStorage.removeItem("lineage-token"),
};

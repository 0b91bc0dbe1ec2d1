// The release diff, lightcurve and metric trend pages.
//
// Each page reads its state from the URL (`?view=diff&a=..&b=..`), asks the GraphQL API,
// and draws its plots as inline SVG (no chart library: a scatter with error bars and a
// line chart with threshold lines are a few dozen lines each).  Inputs change the URL
// (go()), never the page directly, so every page is shareable.
import { COLOURS, fill, gql, go, h, link, message, percent, props, setReady, table } from "./core.js";

// --- shared: collections, numbers, SVG plots ------------------------------------------

const COLLECTIONS = `query Collections($first: Int, $after: String) {
  collections(first: $first, after: $after) {
    edges { node { name collectionType release } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** Every collection, releases first (then by name): [{name, collectionType, release}]. */
async function allCollections() {
  const found = [];
  let after = null;
  do {
    const page = (await gql(COLLECTIONS, { first: 500, after })).collections;
    found.push(...page.edges.map(e => e.node));
    after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
  } while (after);
  return found.sort((x, y) => (!!y.release - !!x.release) || x.name.localeCompare(y.name));
}

/** A <select> of collections (releases in their own group), `chosen` selected. */
function collectionSelect(name, collections, chosen) {
  const option = c => h("option", { value: c.name, selected: c.name === chosen },
    c.release ? `${c.name} (release ${c.release})` : `${c.name} (${c.collectionType})`);
  const releases = collections.filter(c => c.release);
  const others = collections.filter(c => !c.release);
  const known = collections.some(c => c.name === chosen);
  return h("select", { name, required: true },
    !known ? h("option", { value: chosen || "", selected: true }, chosen || "choose ...") : null,
    releases.length ? h("optgroup", { label: "Releases" }, releases.map(option)) : null,
    others.length ? h("optgroup", { label: "Other collections" }, others.map(option)) : null);
}

/** A number for a table: `digits` significant digits (whole numbers above that, with
 *  thousands separators), "" for null. */
function num(x, digits = 4) {
  if (x === null || x === undefined) return "";
  if (Number.isInteger(x) || Math.abs(x) >= 10 ** digits) {
    return Math.round(x).toLocaleString("en-US");
  }
  return Number(x.toPrecision(digits)).toString();
}

/** The values of a form as an object (empty fields left out, text trimmed). */
function formValues(form) {
  const out = {};
  for (const [k, v] of new FormData(form)) if (String(v).trim()) out[k] = String(v).trim();
  return out;
}

/** A GET-like form whose submit goes to `view` with its fields as URL parameters. */
function paramForm(view, fields, button) {
  return h("form", {
    class: "controls", onsubmit: (event) => {
      event.preventDefault();
      go(view, formValues(event.target));
    },
  }, fields, h("button", { class: "primary", type: "submit" }, button));
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Build an SVG element (like h(), in the SVG namespace). */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 x 10^k). */
function niceTicks(lo, hi, count = 6) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map(m => m * magnitude).find(x => x >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

/** [lo, hi] of the values with a margin of `pad` of the span on each side (never empty). */
function extent(values, pad = 0.05) {
  const finite = values.filter(Number.isFinite);
  let lo = Math.min(...finite), hi = Math.max(...finite);
  if (!finite.length) { lo = 0; hi = 1; }
  if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
  const margin = (hi - lo) * pad;
  return [lo - margin, hi + margin];
}

/** A plot frame: axes with ticks and labels, room on the right for a legend of these
 *  labels; returns {svg, x, y, plot, left, right, top, bottom}: x and y map data to
 *  pixels, `plot` is the group to draw marks into, the rest the plot area's edges in
 *  pixels.  xTicks/xFormat let a time axis choose its own ticks. */
function plotFrame({ xDomain, yDomain, xLabel, yLabel, width = 1000, height = 380,
  legend = [], xTicks = null, xFormat = String, yFormat = String }) {
  const legendWidth = 44 + 7 * Math.max(8, ...legend.map(label => label.length));
  const margin = { left: 74, right: legendWidth, top: 16, bottom: 48 };
  const [x0, x1] = xDomain, [y0, y1] = yDomain;
  const x = v => margin.left + (v - x0) / (x1 - x0) * (width - margin.left - margin.right);
  const y = v => height - margin.bottom - (v - y0) / (y1 - y0) * (height - margin.top - margin.bottom);
  const axes = s("g", { class: "axes", "font-size": 12, fill: "#1d2330" });
  const left = margin.left, right = width - margin.right;
  const top = margin.top, bottom = height - margin.bottom;
  axes.append(s("rect", { x: left, y: top, width: right - left, height: bottom - top,
    fill: "none", stroke: "#b9c0cc" }));
  for (const t of xTicks || niceTicks(x0, x1, 7)) {
    if (t < x0 || t > x1) continue;
    axes.append(s("line", { x1: x(t), x2: x(t), y1: bottom, y2: bottom + 5, stroke: "#5b6475" }),
      s("line", { x1: x(t), x2: x(t), y1: top, y2: bottom, stroke: "#eef1f6" }),
      s("text", { x: x(t), y: bottom + 18, "text-anchor": "middle" }, xFormat(t)));
  }
  for (const t of niceTicks(y0, y1, 6)) {
    if (t < y0 || t > y1) continue;
    axes.append(s("line", { x1: left - 5, x2: left, y1: y(t), y2: y(t), stroke: "#5b6475" }),
      s("line", { x1: left, x2: right, y1: y(t), y2: y(t), stroke: "#eef1f6" }),
      s("text", { x: left - 8, y: y(t) + 4, "text-anchor": "end" }, yFormat(t)));
  }
  axes.append(
    s("text", { x: (left + right) / 2, y: height - 8, "text-anchor": "middle", "font-weight": 600 },
      xLabel),
    s("text", { x: 16, y: (top + bottom) / 2, "text-anchor": "middle", "font-weight": 600,
      transform: `rotate(-90 16 ${(top + bottom) / 2})` }, yLabel));
  const plot = s("g", { class: "marks" });
  const svg = s("svg", { class: "plot", viewBox: `0 0 ${width} ${height}`, width: "100%",
    role: "img", style: `max-width:${width}px` }, axes, plot);
  return { svg, x, y, plot, right, top, bottom, left };
}

/** A legend at the right of a plot frame: [{label, draw(x, y) -> SVG element}]. */
function plotLegend(frame, entries) {
  const g = s("g", { class: "legend", "font-size": 12 });
  entries.forEach((entry, i) => {
    const y = frame.top + 10 + i * 20;
    g.append(entry.draw(frame.right + 18, y),
      s("text", { x: frame.right + 30, y: y + 4 }, entry.label));
  });
  frame.svg.append(g);
}

/** The epoch's flags ("flag:<uuid> (bad)") as [key, verdict]. */
function epochFlags(epoch) {
  return epoch.flags.map(text => {
    const [, key, verdict] = /^(\S+)(?: \((\w+)\))?$/.exec(text) || [null, text, null];
    return [key, verdict];
  });
}

/** How an epoch reads in the table: its visit's flags (linked to their pages), else the
 *  share of a flagged input (a template, say) that reaches it; "" when clean. */
function flaggedCell(epoch) {
  const flags = epochFlags(epoch);
  if (flags.length) {
    return h("span", {}, flags.map(([key, verdict]) => link(h("span",
      { class: `badge ${verdict || "bad"}` }, `visit ${verdict || "flagged"}`), "flag",
    { id: key }, { title: key })));
  }
  if (!epoch.flagged && !epoch.contamination) return "";
  return h("span", { class: "badge suspect", style: { whiteSpace: "nowrap" },
    title: "a flagged input (such as a template) " +
    "reaches it" }, `input ${percent(epoch.contamination)}`);
}

// --- release diff ------------------------------------------------------------------------

const DIFF = `query Diff($a: String!, $b: String!, $tolerance: [String!], $filter: ReleaseDiffFilter,
                      $status: [String!], $first: Int, $after: String) {
  releaseDiff(a: $a, b: $b, tolerance: $tolerance, filter: $filter, changeStatus: $status,
              first: $first, after: $after) {
    a b computedAt
    totals { ...counts }
    byDatasetType { name counts { ...counts } }
    byTractBand { name counts { ...counts } }
    steps { task productsCompared inputsChanged
      software { ...setting } config { ...setting } }
    visitsDropped visitsAdded
    metrics { ...quantity }
    properties { ...quantity }
    reasons { datasetType reason products }
    changes {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { status datasetType dataId a b inputsAdded inputsRemoved
        visitsAdded visitsDropped software { ...setting } config { ...setting }
        flagsAdded flagsRemoved upstream explained } }
    }
  }
}
fragment counts on DiffCounts { a b added removed changed unchanged }
fragment setting on SettingChange { a b products packages { name a b } keys { name a b } }
fragment quantity on QuantityComparison { name kind unit nA nB medianA medianB shift
  relativeShift ks tolerance equivalent }`;

const STATUSES = ["a", "b", "added", "removed", "changed", "unchanged"];
const DIFF_PAGE = 50;

/** "a→b" pairs of a setting's packages or keys. */
function pairs(items) {
  return items.map(p => `${p.name} ${p.a ?? "(none)"}\u2192${p.b ?? "(none)"}`).join(", ");
}

/** One line saying what changed in a product (as the HTML report's "what changed"). */
function changeText(c) {
  const parts = c.explained ? [c.explained] : [];
  if (c.inputsAdded.length || c.inputsRemoved.length) {
    let text = `inputs +${c.inputsAdded.length} -${c.inputsRemoved.length}`;
    if (c.visitsDropped.length) text += ` (visits dropped: ${c.visitsDropped.join(", ")})`;
    if (c.visitsAdded.length) text += ` (visits added: ${c.visitsAdded.join(", ")})`;
    parts.push(text);
  }
  if (c.software) {
    const pk = pairs(c.software.packages);
    parts.push(`software: ${c.software.a}\u2192${c.software.b}` + (pk ? ` (${pk})` : ""));
  }
  if (c.config) parts.push(`config: ${pairs(c.config.keys) || c.config.b}`);
  if (c.flagsAdded.length || c.flagsRemoved.length) {
    parts.push(`flags +${c.flagsAdded.length} -${c.flagsRemoved.length}`);
  }
  if (c.upstream.length) parts.push(`upstream: ${c.upstream.join(", ")}`);
  return parts.join("; ");
}

function countsTable(firstHeaders, groups, split) {
  const rows = groups.filter(g => STATUSES.some(k => g.counts[k]))
    .map(g => [...split(g.name), ...STATUSES.map(k => num(g.counts[k]))]);
  const n = firstHeaders.length;
  return rows.length ? table([...firstHeaders, ...STATUSES], rows,
    STATUSES.map((_, i) => i + n)) : message("Nothing here.", "info");
}

function comparisonTable(title, quantities) {
  const shown = quantities.filter(q => q.nA || q.nB);
  if (!shown.length) return [h("h2", {}, title), message(`No ${title.toLowerCase()} recorded ` +
    "for these releases.")];
  const verdict = q => q.equivalent === null ? h("span", { class: "badge" }, "n/a")
    : q.equivalent ? h("span", { class: "badge ok" }, "equivalent")
      : h("span", { class: "badge bad" }, "beyond tolerance");
  return [h("h2", {}, title), table(
    ["quantity", "unit", "median A (n)", "median B (n)", "shift", "shift %", "KS D", "tolerance",
      "verdict"],
    shown.map(q => [q.name, q.unit || "", `${num(q.medianA)} (${q.nA})`,
      `${num(q.medianB)} (${q.nB})`, num(q.shift),
      q.relativeShift === null ? "" : `${(q.relativeShift * 100).toFixed(2)}`, num(q.ks, 3),
      q.tolerance || "", verdict(q)]), [2, 3, 4, 5, 6])];
}

function stepsTable(steps) {
  if (!steps.length) return message("No step changed its inputs, software or config.");
  const settings = (list, what) => list.map(x => h("div", {},
    `${x.a ?? "(none)"} \u2192 ${x.b ?? "(none)"} (${x.products}): `, pairs(x[what])));
  return table(["step", "products compared", "inputs changed", "software (packages)",
    "config (keys)"], steps.map(st => [st.task, num(st.productsCompared), num(st.inputsChanged),
    settings(st.software, "packages"), settings(st.config, "keys")]), [1, 2]);
}

function visitLinks(visits) {
  if (!visits.length) return "none";
  return visits.flatMap((v, i) => [i ? ", " : "",
    link(v, "lineage", { from: `visit=${v}`, dir: "down" })]);
}

function changesTable(d, params) {
  const page = d.changes;
  const start = Number(params.start || 0);
  const rows = page.edges.map(({ node: c }) => [
    h("span", { class: `badge ${c.status === "removed" ? "bad" : c.status === "added" ? "ok" : ""}` },
      c.status),
    c.datasetType, h("span", { class: "mono" }, c.dataId),
    h("span", { style: { whiteSpace: "nowrap" } },
      c.a ? link("in A", "lineage", { from: c.a, dir: "up" }, { title: c.a }) : "",
      c.a && c.b ? " \u00b7 " : "",
      c.b ? link("in B", "lineage", { from: c.b, dir: "up" }, { title: c.b }) : ""),
    changeText(c)]);
  const keep = { a: params.a, b: params.b, tolerance: params.tolerance, types: params.types,
    bands: params.bands, tracts: params.tracts, status: params.status };
  const statusSelect = h("select", { id: "change-status", "aria-label": "Which changes",
    onchange: (e) => go("diff", { ...keep, status: e.target.value }) },
  [["", "all"], ["changed", "changed"], ["added", "added"], ["removed", "removed"]].map(([v, t]) =>
    h("option", { value: v, selected: (params.status || "") === v }, t)));
  const nav = h("p", { class: "row" }, h("label", {}, "show ", statusSelect),
    page.totalCount ? `Changes ${num(start + 1)}\u2013${num(start + page.edges.length)} of ` +
      `${num(page.totalCount)}` : "",
    start ? link("\u00ab first page", "diff", keep) : null,
    page.pageInfo.hasNextPage ? link("next page \u00bb", "diff",
      { ...keep, after: page.pageInfo.endCursor, start: start + page.edges.length }) : null);
  return [h("h2", { id: "changes" }, "Products added, removed or changed"),
    h("p", { class: "muted" }, "Each product links to its lineage (upstream) in release A and B."),
    nav, rows.length ? table(["status", "dataset type", "data ID", "lineage", "what changed"], rows)
      : message(params.status ? `No product was ${params.status}.` : "Nothing differs.")];
}

async function diffView(params, main, current) {
  const collections = await allCollections();
  if (!current()) return;
  const releases = collections.filter(c => c.release);
  const a = params.a || "", b = params.b || "";
  const form = paramForm("diff", [
    h("label", {}, "A ", collectionSelect("a", collections, a || releases.at(-2)?.name)),
    h("label", {}, "B ", collectionSelect("b", collections, b || releases.at(-1)?.name)),
    h("label", {}, "tolerance ", h("input", { name: "tolerance", value: params.tolerance || "",
      placeholder: "5% or NAME=VALUE, ...", size: 22 })),
    h("label", {}, "types ", h("input", { name: "types", value: params.types || "",
      placeholder: "all", size: 12 })),
    h("label", {}, "bands ", h("input", { name: "bands", value: params.bands || "",
      placeholder: "all", size: 6 })),
    h("label", {}, "tracts ", h("input", { name: "tracts", value: params.tracts || "",
      placeholder: "all", size: 8 }))], "Compare");
  const head = [h("h1", {}, "Release diff"), form];
  if (!a || !b) {
    main.replaceChildren(...head, message("Choose two collections (releases first) to compare: " +
      "what was added, removed or changed, which steps changed software or config, and which " +
      "metrics moved beyond the tolerance."));
    return setReady();
  }
  const list = text => text ? text.split(",").map(x => x.trim()).filter(Boolean) : null;
  const filter = {};
  for (const key of ["types", "bands", "tracts"]) if (list(params[key])) filter[key] = list(params[key]);
  main.replaceChildren(...head, message(`Comparing ${a} with ${b} ...`));
  let d;
  try {
    d = (await gql(DIFF, { a, b, tolerance: list(params.tolerance),
      filter: Object.keys(filter).length ? filter : null, status: list(params.status),
      first: DIFF_PAGE,
      after: params.after || null })).releaseDiff;
  } catch (err) {
    if (!current()) return;
    main.replaceChildren(...head, message(err.message, "error"));
    return setReady();
  }
  if (!current()) return;
  const t = d.totals;
  const card = (label, value) => h("div", { class: "card", dataset: { count: label } },
    h("div", { class: "muted" }, label), h("div", { class: "big" }, num(value)));
  main.replaceChildren(...head,
    h("h2", {}, "Summary"),
    h("p", {}, `${d.a} (${num(t.a)} datasets) \u2192 ${d.b} (${num(t.b)} datasets): ` +
      `${num(t.added)} added, ${num(t.removed)} removed, ${num(t.changed)} changed, ` +
      `${num(t.unchanged)} unchanged.`),
    h("div", { class: "cards" }, card(`in ${d.a}`, t.a), card(`in ${d.b}`, t.b),
      card("added", t.added), card("removed", t.removed), card("changed", t.changed),
      card("unchanged", t.unchanged)),
    h("p", { class: "muted" }, `Computed at ${d.computedAt} (UTC); the change list pages come ` +
      "from that answer."),
    h("h2", {}, "By dataset type"), countsTable(["dataset type"], d.byDatasetType, n => [n]),
    h("h2", {}, "By tract and band"),
    countsTable(["tract", "band"], d.byTractBand, n => [n.split("/")[0], n.split("/").slice(1).join("/")]),
    h("h2", {}, "What changed in the processing"), stepsTable(d.steps),
    h("h2", {}, "Visits"),
    props([[`dropped (${d.visitsDropped.length})`, h("span", {}, visitLinks(d.visitsDropped))],
      [`added (${d.visitsAdded.length})`, h("span", {}, visitLinks(d.visitsAdded))]]),
    h("h2", {}, "Why products changed"),
    d.reasons.length ? table(["dataset type", "reason", "products"],
      d.reasons.map(r => [r.datasetType, r.reason, num(r.products)]), [2])
      : message("No product in both releases changed."),
    ...comparisonTable("Metrics", d.metrics),
    ...comparisonTable("Dataset properties", d.properties),
    ...changesTable(d, params));
  setReady();
}

// --- lightcurve --------------------------------------------------------------------------

const LIGHTCURVE = `query Lightcurve($object: String!, $collection: String!) {
  lightcurve(object: $object, collection: $collection) {
    object collection catalog { key dataId }
    epochs { mjdTai flux fluxErr band visit detector seeing airmass sky exposureTime begin
      timeScale sourceDataset { key } flags contamination flagged
      telemetry { topic field mean min max samples } steps { task software } }
  }
}`;

const CATALOGS = `query Catalogs($collection: String!) {
  datasets(filter: {datasetType: ["dia_object"], collection: $collection}, first: 20) {
    totalCount edges { node { key dataId } }
  }
}`;

/** The usual plotting colours of the LSST bands; other bands take the house colours. */
const BAND_COLOURS = { u: "#56B4E9", g: "#008856", r: "#BE0032", i: "#E68A00", z: "#875692",
  y: "#654522" };

function bandColour(band, others) {
  if (BAND_COLOURS[band]) return BAND_COLOURS[band];
  if (!others.has(band)) others.set(band, COLOURS[others.size % COLOURS.length]);
  return others.get(band);
}

/** Where to find an object ID: the collection's dia_object catalogs (the IDs are in their
 *  diaObjectId column; the API does not list objects). */
async function objectHelp(collection) {
  const parts = [h("p", {}, "A DIA object ID is a row (diaObjectId) of a dia_object catalog: " +
    "one catalog per patch, made by the association step. Each epoch links to the lineage of " +
    "the dia_source catalog it was read from.")];
  if (collection) {
    try {
      const found = (await gql(CATALOGS, { collection })).datasets;
      const byUnits = new Intl.Collator("en", { numeric: true });
      const catalogs = found.edges.map(e => e.node)
        .sort((x, y) => byUnits.compare(x.dataId || "", y.dataId || ""));
      if (catalogs.length) {
        parts.push(h("p", {}, `The dia_object catalogs of ${collection}` +
          (found.totalCount > catalogs.length ? ` (${catalogs.length} of ${found.totalCount})`
            : ` (${catalogs.length})`) + ", each linked to its lineage: ",
        h("span", { class: "mono catalogs" }, catalogs.flatMap((c, i) => [i ? " \u00b7 " : "",
          link(c.dataId || c.key, "lineage", { from: c.key, dir: "up" })]))));
      }
    } catch (err) {
      parts.push(message(err.message, "error"));
    }
  }
  parts.push(h("p", { class: "muted" }, "In a repository made by ", h("code", {}, "lineage demo"),
    ", object IDs are " +
    "tract \u00d7 10\u2077 + patch \u00d7 10\u2074 + n (n from 0): e.g. ",
  link("98130070005", "lightcurve", { object: "98130070005", collection: collection || "DemoCam/DR2" }),
  " is object 5 of tract 9813, patch 7."));
  return parts;
}

function lightcurvePlot(epochs, onEpoch) {
  const others = new Map();
  const xs = epochs.map(e => e.mjdTai);
  const ys = epochs.flatMap(e => [e.flux - e.fluxErr, e.flux + e.fluxErr]);
  const mjd0 = Math.floor(Math.min(...xs));
  const bands = [...new Set(epochs.map(e => e.band))].sort((p, q) =>
    "ugrizy".indexOf(p) - "ugrizy".indexOf(q));
  const entries = bands.map(b => ({ label: `${b || "?"} band`,
    draw: (lx, ly) => s("circle", { cx: lx, cy: ly, r: 4, fill: bandColour(b, others) }) }));
  if (epochs.some(e => e.flags.length)) {
    entries.push({ label: "flagged visit", draw: (lx, ly) => s("rect", { x: lx - 7, y: ly - 7,
      width: 14, height: 14, fill: "none", stroke: "#be0032", "stroke-width": 2 }) });
  }
  if (epochs.some(e => !e.flags.length && (e.flagged || e.contamination > 0))) {
    entries.push({ label: "flagged input", draw: (lx, ly) => s("circle", { cx: lx, cy: ly, r: 7,
      fill: "none", stroke: "#be0032", "stroke-width": 2 }) });
  }
  const frame = plotFrame({ legend: entries.map(e => e.label),
    xDomain: extent(xs.map(x => x - mjd0), 0.03), yDomain: extent(ys),
    xLabel: `MJD (TAI) \u2212 ${mjd0}  [days]`, yLabel: "flux [nJy]",
    xFormat: t => String(t), yFormat: t => t.toLocaleString("en-US"),
  });
  const { x, y, plot } = frame;
  for (const e of epochs) {
    const cx = x(e.mjdTai - mjd0), cy = y(e.flux), colour = bandColour(e.band, others);
    const visitFlagged = e.flags.length > 0;
    const marked = visitFlagged || e.flagged || e.contamination > 0;
    const title = s("title", {}, `visit ${e.visit} det ${e.detector}, ${e.band}: ` +
      `${num(e.flux)} \u00b1 ${num(e.fluxErr)} nJy at MJD ${e.mjdTai.toFixed(5)}` +
      (visitFlagged ? ` \u2014 its visit is flagged: ${e.flags.join(", ")}`
        : marked ? ` \u2014 a flagged input reaches it (${percent(e.contamination)})`
          : "") +
      "; click for its lineage");
    plot.append(s("g", { class: "point epoch", "data-visit": e.visit,
      "data-source": e.sourceDataset?.key || "", tabindex: 0,
      onclick: () => onEpoch(e), onkeydown: (ev) => { if (ev.key === "Enter") onEpoch(e); } },
    title,
    s("line", { x1: cx, x2: cx, y1: y(e.flux - e.fluxErr), y2: y(e.flux + e.fluxErr),
      stroke: colour, "stroke-width": 1.3 }),
    visitFlagged ? s("rect", { x: cx - 8, y: cy - 8, width: 16, height: 16, fill: "none",
      stroke: "#be0032", "stroke-width": 2 })
      : marked ? s("circle", { cx, cy, r: 8, fill: "none", stroke: "#be0032", "stroke-width": 2 })
        : null,
    s("circle", { cx, cy, r: 4, fill: colour, stroke: "#fff", "stroke-width": 0.8 })));
  }
  plotLegend(frame, entries);
  return frame.svg;
}

/** Per telemetry field over all epochs: epochs with it, mean of the means, min, max. */
function telemetrySummary(epochs) {
  const fields = new Map();
  for (const e of epochs) {
    for (const t of e.telemetry) {
      const key = `${t.topic}.${t.field}`;
      const f = fields.get(key) || { key, n: 0, sum: 0, min: Infinity, max: -Infinity };
      f.n += 1; f.sum += t.mean ?? 0;
      f.min = Math.min(f.min, t.min ?? Infinity); f.max = Math.max(f.max, t.max ?? -Infinity);
      fields.set(key, f);
    }
  }
  if (!fields.size) return message("No engineering telemetry (EFD) describes these exposures.");
  return table(["EFD topic.field", "epochs", "mean", "min", "max"],
    [...fields.values()].map(f => [f.key, f.n, num(f.sum / f.n), num(f.min), num(f.max)]),
    [1, 2, 3, 4]);
}

async function lightcurveView(params, main, current) {
  const collections = await allCollections();
  if (!current()) return;
  const object = (params.object || "").trim();
  const collection = params.collection || collections.filter(c => c.release).at(-1)?.name || "";
  const form = paramForm("lightcurve", [
    h("label", {}, "DIA object ", h("input", { name: "object", value: object, required: true,
      inputmode: "numeric", placeholder: "e.g. 98130070005", size: 16 })),
    h("label", {}, "collection ", collectionSelect("collection", collections, collection))],
  "Show");
  const head = [h("h1", {}, object ? `Lightcurve of DIA object ${object}` : "Lightcurve"), form];
  if (!object) {
    const help = await objectHelp(collection);
    if (!current()) return;
    main.replaceChildren(...head, ...help);
    return setReady();
  }
  main.replaceChildren(...head, message(`Reading the epochs of ${object} in ${collection} ...`));
  let lc;
  try {
    lc = (await gql(LIGHTCURVE, { object, collection })).lightcurve;
  } catch (err) {
    if (!current()) return;
    main.replaceChildren(...head, message(err.message, "error"), ...await objectHelp(null));
    return setReady();
  }
  if (!current()) return;
  const epochs = lc.epochs;
  if (!epochs.length) {
    main.replaceChildren(...head, message(`DIA object ${object} has no epochs in ${collection}.`,
      "warn"));
    return setReady();
  }
  const toLineage = e => e.sourceDataset && go("lineage", { from: e.sourceDataset.key, dir: "up" });
  // epochs of one night sit within minutes of each other: a night can be shown on its own
  const nightOf = e => Math.floor(e.mjdTai);
  const nights = [...new Set(epochs.map(nightOf))];
  const night = nights.includes(Number(params.night)) ? Number(params.night) : null;
  const shown = night === null ? epochs : epochs.filter(e => nightOf(e) === night);
  const keep = { object, collection };
  const nightLinks = nights.length < 2 ? null : h("p", { class: "row" }, "Night (MJD): ",
    night === null ? h("b", {}, `all (${epochs.length})`) : link(`all (${epochs.length})`,
      "lightcurve", keep),
    nights.map(n => {
      const label = `${n} (${epochs.filter(e => nightOf(e) === n).length})`;
      return n === night ? h("b", {}, label) : link(label, "lightcurve", { ...keep, night: n });
    }));
  const contaminated = epochs.filter(e => e.flagged || e.contamination > 0).length;
  const softwareOf = e => [...new Set(e.steps.map(st => st.software).filter(Boolean))].join(", ");
  const telemetryFields = [...new Set(epochs.flatMap(e =>
    e.telemetry.map(t => `${t.topic}.${t.field}`)))];
  const shortField = f => f.split(".").slice(-1)[0];
  fill(main, ...head,
    h("p", {}, `${epochs.length} epochs in ${lc.collection}` +
      (contaminated ? `, ${contaminated} contaminated (marked in red: a flagged visit, or a ` +
        "flagged input such as a template)" : ", none contaminated") + ". ",
    lc.catalog ? ["Object catalog: ", link(lc.catalog.dataId || lc.catalog.key, "lineage",
      { from: lc.catalog.key, dir: "up" }), "."] : null),
    h("p", { class: "muted" }, "Click an epoch for the lineage of the catalog it was read from."),
    nightLinks,
    params.night && night === null ? message(`No epoch in night ${params.night}: all nights ` +
      "are shown.", "warn") : null,
    lightcurvePlot(shown, toLineage),
    h("h2", {}, night === null ? "Epochs" : `Epochs of night ${night}`),
    table(["MJD (TAI)", "band", "flux (nJy)", "err", "visit", "det", "seeing (\")", "airmass",
      ...telemetryFields.map(f => `${shortField(f)} (mean)`), "software", "flagged", "source"],
    shown.map(e => {
      const tel = Object.fromEntries(e.telemetry.map(t => [`${t.topic}.${t.field}`, t.mean]));
      return [e.mjdTai.toFixed(5), e.band || "", num(e.flux), num(e.fluxErr),
        link(e.visit, "lineage", { from: `visit=${e.visit}`, dir: "down" }), e.detector,
        num(e.seeing, 3), num(e.airmass, 4), ...telemetryFields.map(f => num(tel[f], 3)),
        softwareOf(e), flaggedCell(e),
        e.sourceDataset ? link("lineage", "lineage", { from: e.sourceDataset.key, dir: "up" },
          { class: "epoch-link", title: e.sourceDataset.key }) : ""];
    }), [0, 2, 3, 5, 6, 7, ...telemetryFields.map((_, i) => 8 + i)]),
    h("h2", {}, "Telemetry during the exposures"), telemetrySummary(shown));
  setReady();
}

// --- metric trend ------------------------------------------------------------------------

const TREND = `query Trend($metric: String!, $since: String, $until: String) {
  metricTrend(metric: $metric, since: $since, until: $until) {
    metric unit
    specifications { spec operator threshold }
    points { series date mjdTai value step job { key name specifications { spec metric passed } }
      software { name }
      changes { package before after } }
  }
}`;

const MEASURED = `query Measured($first: Int) {
  collections(first: $first) { edges { node { measuredBy { measurements { metric } } } } }
}`;

/** Metric names the API can show without a name to start from: those measured by the jobs
 *  that measured a collection (the API has no list of metrics). */
async function knownMetrics() {
  const data = await gql(MEASURED, { first: 500 });
  return [...new Set(data.collections.edges.flatMap(e => e.node.measuredBy.flatMap(j =>
    j.measurements.map(m => m.metric))))].filter(Boolean).sort();
}

const MJD_UNIX_EPOCH = 40587;   // MJD of 1970-01-01
const mjdToDate = mjd => new Date((mjd - MJD_UNIX_EPOCH) * 86400000);
const isoDay = mjd => mjdToDate(mjd).toISOString().slice(0, 10);

/** Day ticks for a span of MJDs: whole days, every 1, 2, 5, 7, 14, 30 ... days. */
function dayTicks(lo, hi) {
  const span = hi - lo;
  const step = [1, 2, 5, 7, 14, 30, 61, 91, 182, 365].find(d => span / d <= 8) || 730;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) ticks.push(t);
  return ticks;
}

/** Whether a point's job passed the specification ``spec``, as the API checked it (units
 *  converted, only where the specification applies); null when it did not check. */
function passed(point, spec, metric) {
  const check = point.job.specifications.find(c =>
    c.metric.replace(/^metric:/, "") === metric.replace(/^metric:/, "") &&
    specName(c.spec) === specName(spec));
  return check?.passed ?? null;
}

const specName = spec => spec.replace(/^spec:/, "");

function trendPlot(trend, onPoint) {
  const points = trend.points.filter(p => p.mjdTai !== null);
  const measured = points.filter(p => p.value !== null);
  const series = [...new Set(points.map(p => p.series))];
  const colour = name => COLOURS[series.indexOf(name) % COLOURS.length];
  const thresholds = trend.specifications.filter(t => t.threshold !== null);
  const entries = series.map(name => ({ label: name,
    draw: (lx, ly) => s("circle", { cx: lx, cy: ly, r: 4.5, fill: colour(name) }) }));
  if (thresholds.length) entries.push({ label: "specification", draw: (lx, ly) => s("line",
    { x1: lx - 7, x2: lx + 7, y1: ly, y2: ly, stroke: "#be0032", "stroke-dasharray": "4 3",
      "stroke-width": 1.5 }) });
  if (points.some(p => p.changes.length)) entries.push({ label: "software change",
    draw: (lx, ly) => s("line", { x1: lx, x2: lx, y1: ly - 7, y2: ly + 7, stroke: "#5b6475",
      "stroke-dasharray": "2 3" }) });
  if (thresholds.length) entries.push({ label: "fails a spec (hollow)",
    draw: (lx, ly) => s("circle", { cx: lx, cy: ly, r: 4.5, fill: "#fff", stroke: "#5b6475",
      "stroke-width": 2 }) });
  const xDomain = extent(points.map(p => p.mjdTai), 0.04);
  const frame = plotFrame({ legend: entries.map(e => e.label),
    xDomain, yDomain: extent([...measured.map(p => p.value), ...thresholds.map(t => t.threshold)], 0.08),
    xLabel: "job date (from MJD, TAI)", yLabel: `${trend.metric} [${trend.unit}]`,
    xTicks: dayTicks(...xDomain), xFormat: isoDay, yFormat: t => String(t),
  });
  const { x, y, plot } = frame;
  for (const t of thresholds) {
    plot.append(s("g", { class: "threshold" },
      s("line", { x1: frame.left, x2: frame.right, y1: y(t.threshold), y2: y(t.threshold),
        stroke: "#be0032", "stroke-dasharray": "6 4", "stroke-width": 1.5 }),
      s("text", { x: frame.right - 4, y: y(t.threshold) - 5, "text-anchor": "end",
        "font-size": 12, fill: "#be0032" },
      `${specName(t.spec)} ${t.operator} ${num(t.threshold)} ${trend.unit}`)));
  }
  for (const p of points.filter(q => q.changes.length)) {
    const px = x(p.mjdTai) - 6;
    plot.append(s("g", { class: "software-change" },
      s("title", {}, `software ${p.software?.name || "?"} from this job: ` +
        p.changes.map(c => `${c.package} ${c.before ?? "(none)"}\u2192${c.after ?? "(none)"}`)
          .join(", ")),
      s("line", { x1: px, x2: px, y1: frame.top, y2: frame.bottom, stroke: "#5b6475",
        "stroke-dasharray": "2 3" }),
      s("text", { x: px > (frame.left + frame.right) / 2 ? px - 3 : px + 3, y: frame.top + 12,
        "text-anchor": px > (frame.left + frame.right) / 2 ? "end" : "start", "font-size": 11,
        fill: "#5b6475" }, p.software?.name || "software")));
  }
  for (const name of series) {
    const mine = measured.filter(p => p.series === name);
    plot.append(s("polyline", { fill: "none", stroke: colour(name), "stroke-width": 1.5,
      points: mine.map(p => `${x(p.mjdTai)},${y(p.value)}`).join(" ") }));
    for (const p of mine) {
      const failed = thresholds.some(t => passed(p, t.spec, trend.metric) === false);
      plot.append(s("circle", { class: "point job", cx: x(p.mjdTai), cy: y(p.value), r: 4.5,
        fill: failed ? "#fff" : colour(name), stroke: colour(name), "stroke-width": 2,
        "data-job": p.job.key, tabindex: 0, onclick: () => onPoint(p),
        onkeydown: (ev) => { if (ev.key === "Enter") onPoint(p); } },
      s("title", {}, `${p.job.key} (${p.series})\n${p.date}: ${num(p.value)} ${trend.unit}` +
        (p.step === null ? "" : ` (${p.step >= 0 ? "+" : ""}${num(p.step)})`) +
        `\nsoftware ${p.software?.name || "?"}` + (failed ? "\nfails a specification" : ""))));
    }
  }
  plotLegend(frame, entries);
  return frame.svg;
}

async function metricView(params, main, current) {
  const metric = (params.metric || "").trim();
  const metrics = await knownMetrics();
  if (!current()) return;
  const form = paramForm("metric", [
    h("label", {}, "metric ", h("input", { name: "metric", value: metric, list: "metric-names",
      required: true, placeholder: "e.g. validate_drp.PA1", size: 30 }),
    h("datalist", { id: "metric-names" }, metrics.map(m => h("option", { value: m })))),
    h("label", {}, "since ", h("input", { name: "since", type: "date", value: params.since || "" })),
    h("label", {}, "until ", h("input", { name: "until", type: "date", value: params.until || "" }))],
  "Show");
  const head = [h("h1", {}, metric ? `Metric trend: ${metric}` : "Metric trend"), form];
  if (!metric) {
    main.replaceChildren(...head,
      h("p", {}, "A metric across the jobs that measured it, in time order, with its " +
        "specifications and the software changes between jobs."),
      metrics.length ? h("ul", {}, metrics.map(m => h("li", {}, link(m, "metric", { metric: m }))))
        : message("No job has measured a collection yet; type a metric name."));
    return setReady();
  }
  let trend;
  try {
    trend = (await gql(TREND, { metric, since: params.since || null,
      until: params.until || null })).metricTrend;
  } catch (err) {
    if (!current()) return;
    main.replaceChildren(...head, message(err.message, "error"));
    return setReady();
  }
  if (!current()) return;
  const points = trend.points;
  if (!points.some(p => p.value !== null)) {
    main.replaceChildren(...head, message(`No job measured ${trend.metric}` +
      (params.since || params.until ? " in this time span." : "."), "warn"));
    return setReady();
  }
  const toJob = p => go("node", { key: p.job.key });
  const specs = trend.specifications;
  main.replaceChildren(...head,
    h("p", {}, `${points.length} job${points.length === 1 ? "" : "s"} in ` +
      `${new Set(points.map(p => p.series)).size} series (dataset / instrument / filter); ` +
      `values in ${trend.unit}. ` + (specs.length ? `Specifications: ${specs.map(t =>
        `${specName(t.spec)} ${t.operator} ${t.threshold === null ? "(unit does not convert)"
          : num(t.threshold)}`).join(", ")}.` : "No specification applies to this metric.")),
    h("p", { class: "muted" }, "Click a point for its job."),
    trendPlot(trend, toJob),
    h("h2", {}, "Jobs"),
    table(["date", "series", "job", `value (${trend.unit})`, "step", "software",
      "packages changed", ...specs.map(t => specName(t.spec))],
    points.map(p => [h("span", { style: { whiteSpace: "nowrap" } },
      (p.date || "").slice(0, 16).replace("T", " ")), p.series, link(p.job.name || p.job.key, "node",
      { key: p.job.key }), num(p.value), num(p.step), p.software?.name || "",
    p.changes.map(c => `${c.package} ${c.before ?? "(none)"}\u2192${c.after ?? "(none)"}`).join(", "),
    ...specs.map(t => {
      const ok = passed(p, t.spec, trend.metric);
      return ok === null ? "" : h("span", { class: `badge ${ok ? "ok" : "bad"}` }, ok ? "pass" : "fail");
    })]), [3, 4]));
  setReady();
}

export const REPORT_PAGES = { diff: diffView, lightcurve: lightcurveView, metric: metricView };

// The lineage graph of a node (Query.lineageGraph, drawn with Cytoscape.js and dagre) and
// the side panel of a dataset, a quantum or a group; the page of any other node.
import {
  BASE, COLOURS, SHAPES, bytes, fill, gql, go, h, link, message, openPanel, percent, props, setParams,
  setReady, table, verdictBadge,
} from "./core.js";

const GRAPH = `query Graph($from: String!, $direction: Direction, $depth: Int,
                            $expand: [String!], $asOf: String) {
  lineageGraph(from: $from, direction: $direction, depth: $depth, expand: $expand,
               asOf: $asOf) {
    datasets quanta truncated
    nodes { id kind memberKind step key datasetType task dataId run count expanded selected
            deleted contamination { verdict maxFraction datasets flags } }
    edges { source target count }
  }
  datasetTypes(first: 500) { edges { node { name } } }
}`;

const DATASET = `query Dataset($key: String!, $asOf: String) {
  node(key: $key) {
    kind key
    ... on Dataset {
      uuid datasetType dataId run uri size checksum fileUrl
      deleted { at by reason forced filesRemoved }
      collections { name collectionType }
      producedBy { key task taskClass host start end timeScale status peakMemoryMb
                   software { key name packages } config { key values } }
      contamination(asOf: $asOf) { contaminated verdict maxFraction
                                   by { verdict fraction steps flag { key reason } } }
      consumers(first: 20) { totalCount edges { node { key task dataId } } }
      dataUnits { dimension value efdRecords { topic csc beginUtc endUtc samples summaryFields } }
    }
    ... on Quantum {
      uuid task taskClass dataId run status start end timeScale host peakMemoryMb
      software { key name packages } config { key values }
      inputs(first: 100) { totalCount edges { node { key datasetType dataId run } } }
      outputs(first: 100) { totalCount edges { node { key datasetType dataId run } } }
    }
  }
}`;

const MEMBERS = `query Members($from: String!, $direction: Direction, $types: [String!], $first: Int) {
  lineage(from: $from, direction: $direction, types: $types, first: $first) {
    totalCount edges { steps node { key dataId run } }
  }
}`;

const NODE = `query Node($key: String!) {
  node(key: $key) {
    kind key properties
    ... on Collection { name collectionType release releasedAt
                        children { key name collectionType } parents { key name } }
  }
}`;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${src} from the server`));
    document.head.append(script);
  });
}

let graphLibrary = null;
let graphOnPage = null;   // the Cytoscape instance drawn last: destroyed before the next is drawn

/** Cytoscape.js and its dagre layout (vendor/), run once, the first time a graph is drawn. */
function loadGraphLibrary() {
  graphLibrary ??= loadScript(`${BASE}/explorer/vendor/cytoscape.min.js`)
    .then(() => loadScript(`${BASE}/explorer/vendor/cytoscape-dagre.min.js`));
  return graphLibrary;
}

function shortDataId(dataId) {
  if (!dataId) return "";
  return dataId.split(",").filter(p => !/^(instrument|skymap)=/.test(p)).join(",");
}

/** Type -> {colour, shape} of the types drawn, by each type's place among all the
 *  repository's dataset types (in name order): a type keeps its colour from graph to graph. */
function typeStyles(nodes, allTypes) {
  const drawn = new Set(nodes.filter(n => n.memberKind === "dataset").map(n => n.datasetType));
  const order = [...new Set([...allTypes, ...drawn])].sort();
  return Object.fromEntries(order.map((t, i) => [t, {
    colour: COLOURS[i % COLOURS.length], shape: SHAPES[Math.floor(i / 5) % SHAPES.length],
  }]).filter(([t]) => drawn.has(t)));
}

/** The id of the group a drawn node belongs to (lineage.traversal.graph.group_id). */
function group(n) {
  return n.memberKind === "dataset" ? `group:dataset:${n.datasetType}` : `group:quantum:${n.task}`;
}

/** The last part of a run's name (DemoCam/runs/DR2 -> DR2): told apart in labels when a
 *  graph holds datasets of several runs. */
function shortRun(run) {
  return run ? run.split("/").pop() : "";
}

function label(n, severalRuns) {
  const c = n.contamination;
  const mark = c ? `\n⚠ ${c.verdict} ${percent(c.maxFraction)}` +
    (n.kind === "group" ? ` (${c.datasets.toLocaleString("en")})` : "") : "";
  if (n.kind === "group") {
    const what = n.memberKind === "dataset" ? n.datasetType : n.task;
    return `${what}\n${n.expanded ? "+" : "×"}${n.count.toLocaleString("en")}` +
      (n.expanded ? " more" : "") + mark;
  }
  if (n.memberKind === "quantum") return n.task;
  const type = n.deleted ? `${struck(n.datasetType)} (deleted)` : n.datasetType;
  return `${type}\n${shortDataId(n.dataId).replaceAll(",", ", ")}` +
    `${severalRuns && n.run ? `\n${shortRun(n.run)}` : ""}${mark}`;
}

/** Text struck through (a combining long stroke after each character): canvas labels have
 *  no text decoration, and a deleted dataset's type is drawn struck through. */
function struck(text) {
  return [...text].map(c => c + "\u0336").join("");
}

/** What a deleted dataset's panel says: when, by whom, why, and whether its files went. */
function deletionText(d) {
  const files = d.filesRemoved === true ? "files removed" :
    d.filesRemoved === false ? "file removal still owed" : "files kept";
  return `Deleted ${d.at} by ${d.by || "?"}: ${d.reason || "?"}; ${files}` +
    (d.forced ? " (forced: live datasets depended on it)" : "") +
    ". Its lineage is kept.";
}

/** The zoom at which a node's label (11 px) can be read, and the most a graph is fitted at. */
const READABLE_ZOOM = 0.8;
const MAX_FIT_ZOOM = 1.25;

const STYLE = [
  { selector: "node", style: {
    "label": "data(label)", "text-wrap": "wrap", "text-max-width": 150, "text-valign": "bottom",
    "text-margin-y": 4,
    "font-size": 11, "color": "#1d2330", "width": 28, "height": 28,
    "background-color": "data(colour)", "shape": "data(shape)",
    "border-width": 1, "border-color": "#888" } },
  { selector: "node[kind = 'quantum'], node[memberKind = 'quantum']", style: {
    "shape": "round-rectangle", "background-color": "#5c677a", "width": 16, "height": 10,
    "font-size": 9, "color": "#4a5263", "text-valign": "top", "text-margin-y": -3 } },
  { selector: "node[kind = 'group']", style: {
    "width": 40, "height": 40, "border-width": 3, "border-style": "double",
    "border-color": "#1d2330", "font-weight": "bold" } },
  { selector: "node[kind = 'group'][memberKind = 'quantum']", style: {
    "width": 26, "height": 14 } },
  { selector: "node[?selected]", style: { "border-width": 3, "border-color": "#000",
    "underlay-color": "#ffd54a", "underlay-opacity": 0.6, "underlay-padding": 5 } },
  { selector: "node[verdict = 'suspect']", style: { "border-color": "#e68a00",
    "border-width": 4, "border-style": "dashed", "color": "#8a5200" } },
  { selector: "node[verdict = 'bad']", style: { "border-color": "#be0032",
    "border-width": 5, "border-style": "solid", "color": "#7a0019" } },
  { selector: "node[?deleted]", style: { "background-color": "#d5d8de", "background-opacity": 0.6,
    "border-style": "dotted", "border-color": "#7a808c", "color": "#5c6270" } },
  { selector: "node:selected", style: { "overlay-color": "#0067a5", "overlay-opacity": 0.25,
    "overlay-padding": 6 } },
  { selector: "edge", style: {
    "width": "data(width)", "line-color": "#9aa4b5", "target-arrow-color": "#9aa4b5",
    "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8 } },
];

function elements(graph, styles) {
  const runs = new Set(graph.nodes.filter(n => n.run).map(n => n.run));
  const nodes = graph.nodes.map(n => ({ data: {
    ...n, id: n.id, label: label(n, runs.size > 1),
    colour: n.memberKind === "dataset" ? styles[n.datasetType].colour : "#5c677a",
    shape: n.memberKind === "dataset" ? styles[n.datasetType].shape : "round-rectangle",
    verdict: n.contamination?.verdict || "",
  } }));
  const edges = graph.edges.map(e => ({ data: {
    id: `${e.source}->${e.target}`, source: e.source, target: e.target, count: e.count,
    width: Math.min(1 + Math.log10(e.count) * 1.5, 6),
  } }));
  return [...nodes, ...edges];
}

function legend(graph, styles) {
  const counts = {};
  for (const n of graph.nodes) {
    if (n.memberKind === "dataset") counts[n.datasetType] = (counts[n.datasetType] || 0) + n.count;
  }
  return h("div", { class: "legend", "aria-label": "Legend" },
    Object.entries(styles).map(([t, s]) => h("span", {},
      h("span", { class: `swatch ${s.shape}`, style: { background: s.colour } }),
      `${t} (${counts[t].toLocaleString("en")})`)),
    h("span", {}, h("span", { class: "swatch quantum" }), "quantum (task)"),
    h("span", {}, h("span", { class: "badge bad" }, "bad"), " ",
      h("span", { class: "badge suspect" }, "suspect"), " contaminated"),
    graph.nodes.some(n => n.deleted) ? h("span", {}, h("span", { class: "badge deleted" },
      "deleted"), " greyed, struck through: its lineage is kept") : null,
    h("span", { class: "muted" }, "double border: a group; click to open, double-click a " +
      "group to expand it or a dataset to centre on it"));
}

/** The drawn graph as a table, in the drawing's order, left to right (for the keyboard, a screen reader, or
 *  a long list): each row opens the node's panel as a click on the graph does. */
function nodeTable(graph, cy, open) {
  const at = Object.fromEntries(graph.nodes.map(n => [n.id, cy.getElementById(n.id).position()]));
  const order = [...graph.nodes].sort((a, b) => at[a.id].x - at[b.id].x || at[a.id].y - at[b.id].y);
  return h("details", { id: "graph-table" }, h("summary", {}, "The graph as a table"),
    table(["", "kind", "dataset type or task", "count", "data ID", "contamination"],
      order.map(n => [
        h("button", { onclick: () => open(n), "aria-label": `open ${n.id}` }, "open"),
        n.kind === "group" ? `group of ${n.memberKind === "dataset" ? "datasets" : "quanta"}`
          : n.kind, n.datasetType || n.task || "", n.count.toLocaleString("en"),
        h("span", { class: "mono" }, n.dataId || ""),
        n.contamination ? verdictBadge(n.contamination.verdict, n.contamination.maxFraction)
          : ""]), [3]));
}

export async function lineageView(params, main, current) {
  const from = (params.from || "").trim();
  const dir = params.dir === "up" ? "up" : "down";
  const depth = params.depth ? Number(params.depth) : null;
  const expand = params.expand ? params.expand.split(",").filter(Boolean) : [];
  if (!from) {
    main.replaceChildren(message("Give a node to start from: search for it above.", "warn"));
    setReady();
    return;
  }
  const keep = { from, dir, depth: params.depth, expand, asOf: params.asOf };
  const depthSelect = h("select", { "aria-label": "Depth", onchange: (e) =>
    go("lineage", { ...keep, depth: e.target.value, expand: [] }) },
  h("option", { value: "" }, "all steps"),
  [1, 2, 3, 4, 6, 8].map(d => h("option", { value: d, selected: depth === d }, `${d} step${d > 1 ? "s" : ""}`)));
  const heading = h("h1", {}, `${dir === "down" ? "Downstream" : "Upstream"} of `,
    h("span", { class: "mono" }, from));
  const flip = link(dir === "down" ? "⇦ show upstream" : "show downstream ⇨", "lineage",
    { ...keep, dir: dir === "down" ? "up" : "down", expand: [] }, { id: "flip-direction" });
  let data;
  try {
    [data] = await Promise.all([gql(GRAPH, { from, direction: dir.toUpperCase(), depth,
      expand, asOf: params.asOf || null }), loadGraphLibrary()]);
  } catch (err) {   // the API's reason, with the controls that may fix it
    if (!current()) return;
    fill(main, heading, h("div", { class: "controls" }, flip, h("label", {}, "depth ", depthSelect)),
      message(err.message, "error"),
      h("p", { class: "muted" }, "Search for what you meant in the box above."));
    setReady();
    return;
  }
  if (!current()) return;
  performance.mark("explorer:graph-answered");
  const graph = data.lineageGraph;
  const styles = typeStyles(graph.nodes, data.datasetTypes.edges.map(e => e.node.name));
  const contaminated = graph.nodes.reduce((s, n) => s + (n.contamination?.datasets || 0), 0);
  fill(main, heading,
    h("div", { class: "controls" }, flip,
      h("label", {}, "depth ", depthSelect),
      h("span", { id: "graph-stats" }, `${graph.datasets.toLocaleString("en")} datasets, ` +
        `${graph.quanta.toLocaleString("en")} quanta`,
      contaminated ? h("span", { class: "badge bad", style: { marginLeft: "8px" } },
        `${contaminated.toLocaleString("en")} drawn datasets contaminated`) : null),
      params.asOf ? h("span", { class: "badge" }, `as of ${params.asOf}`) : null,
      h("button", { id: "fit-graph", title: "Show the whole graph (the wheel zooms, a drag pans)",
        onclick: () => graphOnPage?.fit(undefined, 24) }, "fit the whole graph"),
      link(`flag ${from}`, "flag-new", { selector: from }, { id: "flag-selection" })),
    graph.truncated ? message("The traversal reached its limit of datasets: what is drawn is " +
      "the nearest part of the lineage.", "warn") : null,
    graph.nodes.some(n => !n.selected) ? null
      : message(`Nothing ${dir === "down" ? "was made from" : "went into"} ${from}.`),
    legend(graph, styles),
    h("div", { id: "graph", role: "img", "aria-label": "Lineage graph" }));
  graphOnPage?.destroy();   // its observers and canvases, now rather than at the next GC
  const cy = graphOnPage = window.cytoscape({
    container: document.getElementById("graph"), elements: elements(graph, styles),
    style: STYLE, minZoom: 0.05, maxZoom: 3,
    layout: { name: "dagre", rankDir: "LR", nodeSep: 12, rankSep: 40, edgeSep: 8,
      nodeDimensionsIncludeLabels: true,   // labels take room: never over another node
      animate: false, fit: true, padding: 24 },
  });
  if (cy.zoom() > MAX_FIT_ZOOM) { cy.zoom(MAX_FIT_ZOOM); cy.center(); }   // a few nodes: not huge
  window.explorerGraph = cy;   // for the browser tests and a curious user's console
  const opened = expand.length ? cy.nodes().filter(n => n.data("kind") !== "group" &&
    group(n.data()) === expand[expand.length - 1]) : cy.collection();
  if (opened.length) {   // the group just opened: its members, from the top, large enough to read
    cy.fit(opened, 30);
    const box = opened.boundingBox();
    if (cy.zoom() < READABLE_ZOOM) {
      cy.zoom({ level: READABLE_ZOOM, position: { x: (box.x1 + box.x2) / 2, y: box.y1 } });
    }
  } else if (cy.zoom() < READABLE_ZOOM) {
    // too large to read whole: readable, starting from the selection (at the left of a
    // downstream graph, the right of an upstream one); "fit" shows it all
    const selected = cy.nodes("[?selected]");
    const box = (selected.length ? selected : cy.nodes()).boundingBox();
    cy.zoom(READABLE_ZOOM);
    const x = dir === "down" ? 30 - box.x1 * READABLE_ZOOM
      : cy.width() - 30 - box.x2 * READABLE_ZOOM;
    cy.pan({ x, y: cy.height() / 2 - ((box.y1 + box.y2) / 2) * READABLE_ZOOM });
  }
  const byId = Object.fromEntries(graph.nodes.map(n => [n.id, n]));
  const ctx = { from, dir, keep, expand, asOf: params.asOf, current };
  cy.on("tap", "node", (e) => {
    setParams({ node: e.target.id() });
    showNode(byId[e.target.id()], ctx);
  });
  cy.on("dbltap", "node", (e) => {
    const n = byId[e.target.id()];
    if (n.kind === "dataset") go("lineage", { from: n.key, dir });
    else if (n.kind === "group" && !expand.includes(n.id)) {
      go("lineage", { ...keep, expand: [...expand, n.id] });
    }
  });
  main.append(nodeTable(graph, cy, (n) => {
    setParams({ node: n.id });
    cy.elements().unselect();
    cy.getElementById(n.id).select();
    showNode(n, ctx);
  }));
  if (params.node && byId[params.node]) {
    cy.getElementById(params.node).select();
    await showNode(byId[params.node], ctx);
  } else if (params.node) {
    openPanel(message(`${params.node} is not drawn in this graph.`, "warn"));
  }
  setReady();
}

let panelsAsked = 0;   // a later click, or another view, wins over a slower earlier panel

async function showNode(n, ctx) {
  const ticket = ++panelsAsked;
  if (n.kind === "group") return showGroup(n, ctx);
  const fresh = () => ticket === panelsAsked && ctx.current();
  openPanel(message("Loading ..."));
  return nodePanel(n.key, ctx.asOf, fresh)
    .catch(err => fresh() && openPanel(message(err.message, "error")));
}

function showGroup(n, ctx) {
  const what = n.memberKind === "dataset" ? n.datasetType : n.task;
  const isOpen = ctx.expand.includes(n.id);
  const toggle = isOpen ? ctx.expand.filter(x => x !== n.id) : [...ctx.expand, n.id];
  const parts = [
    h("h2", {}, `${n.expanded ? "The rest of " : ""}${n.count.toLocaleString("en")} ` +
      `${n.memberKind === "dataset" ? "datasets of type" : "quanta of task"} ${what}`),
    props([
      ["contaminated", n.contamination ? h("span", {}, verdictBadge(n.contamination.verdict,
        n.contamination.maxFraction), ` ${n.contamination.datasets.toLocaleString("en")} of ` +
        n.count.toLocaleString("en")) : "none"],
      ["flags", n.contamination ? n.contamination.flags.map(f =>
        h("div", {}, link(f, "flag", { id: f }))) : null]]),
    h("p", {}, h("button", { class: "primary", id: "toggle-group", onclick: () =>
      go("lineage", { ...ctx.keep, expand: toggle, node: null }) },
    isOpen ? "Collapse the group" : "Expand the group (the first members)")),
  ];
  const p = openPanel(...parts);
  if (n.memberKind !== "dataset") return;
  const list = h("div", {}, message("Loading the members ..."));
  p.append(h("h3", {}, "Members"), list);
  return gql(MEMBERS, { from: ctx.from, direction: ctx.dir.toUpperCase(),
    types: [n.datasetType], first: 200 }).then(d => {
    const rows = d.lineage.edges;
    list.replaceChildren(
      h("p", { class: "muted" }, `${d.lineage.totalCount.toLocaleString("en")} ${n.datasetType} ` +
        `datasets in this lineage${rows.length < d.lineage.totalCount ? `; the first ${rows.length}` : ""}`),
      table(["data ID (run)", "steps", ""], rows.map(e => [[h("div", { class: "mono" },
        shortDataId(e.node.dataId)), h("div", { class: "muted" }, e.node.run || "")],
      String(e.steps), link("lineage", "lineage", { from: e.node.key, dir: ctx.dir })]), [1]));
  }).catch(err => list.replaceChildren(message(err.message, "error")));
}

function connectionTable(conn, what) {
  const rows = conn.edges.map(e => e.node);
  return [h("p", { class: "muted" }, `${conn.totalCount} ${what}` +
    (rows.length < conn.totalCount ? ` (the first ${rows.length})` : "")),
  table(["type", "data ID", ""], rows.map(d => [d.datasetType, h("span", { class: "mono" },
    shortDataId(d.dataId)), link("open", "lineage", { from: d.key, dir: "down" })]))];
}

/** The rows of how a quantum ran (for props()). */
/** The engineering telemetry (EFD) recorded over the exposures a dataset was taken in
 *  (none for a coadd: no exposure is among its data units). */
function telemetry(units) {
  const rows = units.flatMap(u => u.efdRecords.map(r => [`${u.dimension} ${u.value}`,
    h("span", { class: "mono" }, r.topic), r.csc || "", `${r.beginUtc} – ${r.endUtc} UTC`,
    String(r.samples ?? ""), (r.summaryFields || []).join(", ")]));
  if (!rows.length) return null;
  return [h("h3", {}, "Telemetry (EFD) over its exposure"),
    table(["over", "topic", "CSC", "span", "samples", "fields"], rows, [4])];
}

function provenance(q) {
  return [
    ["task", q.task], ["task class", h("span", { class: "mono" }, q.taskClass || "")],
    ["host", q.host], ["status", q.status],
    ["start", q.start ? `${q.start} ${q.timeScale || ""}` : null],
    ["end", q.end ? `${q.end} ${q.timeScale || ""}` : null],
    ["peak memory", q.peakMemoryMb ? `${q.peakMemoryMb.toFixed(0)} MB` : null],
    ["software", q.software ? h("details", {}, h("summary", {}, q.software.name || q.software.key),
      h("pre", { class: "mono" }, JSON.stringify(q.software.packages, null, 1))) : null],
    ["config", q.config ? h("details", {}, h("summary", {}, q.config.key),
      h("pre", { class: "mono" }, JSON.stringify(q.config.values, null, 1))) : null],
  ];
}

/** The panel of a dataset or quantum (by key), unless `fresh()` says by the time the answer
 *  came another panel or view was asked for; `show` puts it in place (the side panel, or a
 *  node's own page). */
export async function nodePanel(key, asOf, fresh, show = openPanel) {
  const data = await gql(DATASET, { key, asOf: asOf || null });
  if (!fresh()) return null;
  const n = data.node;
  if (!n) return show(message(`No node ${key} in this repository.`, "error"));
  if (n.kind === "Dataset") {
    const c = n.contamination;
    return show(
      h("h2", {}, `${n.datasetType} `, verdictBadge(c.verdict, c.contaminated ? c.maxFraction : null),
        n.deleted ? h("span", { class: "badge deleted" }, "deleted") : null),
      n.deleted ? h("p", { class: "deleted-note", id: "panel-deleted" }, deletionText(n.deleted)) : null,
      props([["data ID", h("span", { class: "mono" }, n.dataId)], ["run", n.run],
        ["UUID", h("span", { class: "mono", id: "panel-uuid" }, n.uuid)],
        ["collections", n.collections.map(x => h("div", {}, x.name))],
        ["URI", h("span", { class: "mono" }, n.uri || "")],
        ["size", n.size !== null ? h("span", { id: "panel-size" }, `${bytes(n.size)} (${n.size.toLocaleString("en")} bytes)`) : null],
        ["checksum", h("span", { class: "mono", id: "panel-checksum" }, n.checksum || "")],
        ["file", n.fileUrl ? [h("a", { href: `${BASE}${n.fileUrl}`, download: "", id: "panel-file" }, "fetch the file"),
          " · ", h("a", { href: `${BASE}${n.fileUrl}?provenance=true`, download: "", id: "panel-file-prov",
            title: "a FITS file with its provenance in its primary header (docs/standards.md)" }, "with its provenance")] : null]]),
      c.contaminated ? [h("h3", {}, "Contaminated by"), table(["flag", "verdict", "fraction", "steps"],
        c.by.map(m => [link(m.flag.reason || m.flag.key, "flag", { id: m.flag.key }),
          verdictBadge(m.verdict), `${(m.fraction * 100).toFixed(1)}%`, String(m.steps)]), [2, 3])] : null,
      h("h3", {}, "How it was made"),
      n.producedBy ? [props(provenance(n.producedBy)),
        h("p", {}, link("the quantum's inputs and outputs", "node", { key: n.producedBy.key }))]
        : h("p", { class: "muted" }, "No quantum made it: a raw or an input from outside."),
      telemetry(n.dataUnits),
      h("h3", {}, "Read by"),
      n.consumers.totalCount ? h("p", {}, `${n.consumers.totalCount} quanta: `,
        [...new Set(n.consumers.edges.map(e => e.node.task))].join(", "))
        : h("p", { class: "muted" }, "No quantum read it."),
      h("p", {}, link("upstream", "lineage", { from: n.key, dir: "up" }), " · ",
        link("downstream", "lineage", { from: n.key, dir: "down" }), " · ",
        link("flag it", "flag-new", { selector: n.uuid })));
  }
  if (n.kind === "Quantum") {
    return show(h("h2", {}, `quantum of ${n.task}`),
      props([["data ID", h("span", { class: "mono" }, n.dataId || "")], ["run", n.run],
        ["UUID", h("span", { class: "mono" }, n.uuid)], ...provenance(n)]),
      h("h3", {}, "Inputs"), connectionTable(n.inputs, "inputs"),
      h("h3", {}, "Outputs"), connectionTable(n.outputs, "outputs"));
  }
  return show(h("h2", {}, n.kind), props([["key", n.key]]),
    h("p", {}, link("open its page", "node", { key: n.key })));
}

/** The page of any node by key: a dataset's or quantum's panel content, a collection's
 *  members, another node's properties. */
export async function nodeView(params, main, current) {
  const key = params.key || "";
  const data = await gql(NODE, { key });
  if (!current()) return;
  const n = data.node;
  if (!n) {
    main.replaceChildren(message(`No node "${key}" in this repository: search for it above.`, "error"));
    setReady();
    return;
  }
  const parts = [h("h1", {}, `${n.kind} `, h("span", { class: "mono" }, n.key))];
  if (n.kind === "Dataset" || n.kind === "Quantum") {
    parts.push(h("p", {}, link("downstream", "lineage", { from: n.key, dir: "down" }), " · ",
      link("upstream", "lineage", { from: n.key, dir: "up" })));
    main.replaceChildren(...parts);
    await nodePanel(n.key, null, current, (...children) => fill(main, ...parts, ...children));
  } else {
    if (n.kind === "Collection") {
      parts.push(props([["type", n.collectionType], ["release", n.release],
        ["released at", n.releasedAt],
        ["children", n.children.map(c => h("div", {}, link(c.name, "node", { key: c.key }), ` (${c.collectionType})`))],
        ["in", n.parents.map(c => h("div", {}, link(c.name, "node", { key: c.key })))]]));
      parts.push(h("p", {}, "Compare with another release: ",
        link("release diff", "diff", { a: n.name })));
    }
    parts.push(h("h2", {}, "Properties"),
      table(["property", "value"], Object.entries(n.properties || {}).map(([k, v]) =>
        [k, h("span", { class: "mono" }, typeof v === "string" ? v : JSON.stringify(v))])));
    main.replaceChildren(...parts);
  }
  setReady();
}

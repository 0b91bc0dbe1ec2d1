// The home page and the search results.
import { gql, h, link, message, setReady, table, verdictBadge } from "./core.js";

const SEARCH = `query Search($text: String!, $first: Int) {
  search(text: $text, first: $first) {
    hits { kind key label datasetType dataId run dimension
      node { ... on DataUnit { flags { key verdict active } }
             ... on Dataset { contamination { contaminated verdict maxFraction } }
             ... on Quantum { flags { key verdict active } } } }
    total truncated message
  }
}`;

/** Where a search hit leads: lineage for what has lineage, its own page otherwise. */
export function hitLink(hit) {
  switch (hit.kind) {
    case "Flag": return link("its page", "flag", { id: hit.key });
    case "Dataset": case "Quantum": case "DataUnit":
      return link("lineage", "lineage", { from: hit.key, dir: "down" });
    default:   // a collection, dataset type or task
      return link("its page", "node", { key: hit.key });
  }
}

/** A hit's label less the data ID it ends with (the data ID has its own column): a dataset's
 *  type, a quantum's task. */
function withoutDataId(hit) {
  return hit.dataId && hit.label.endsWith(hit.dataId)
    ? hit.label.slice(0, -hit.dataId.length).trim() : hit.label;
}

/** Whether a hit is flagged (a visit, a quantum: its active flags, linked) or
 *  contaminated (a dataset: the worst verdict and fraction); empty when neither. */
function flagState(node) {
  if (!node) return "";
  if (node.contamination) {
    return node.contamination.contaminated
      ? verdictBadge(node.contamination.verdict, node.contamination.maxFraction) : "";
  }
  return (node.flags || []).filter(f => f.active).map(f =>
    link(h("span", { class: `badge ${f.verdict}` }, `flagged ${f.verdict}`), "flag", { id: f.key }));
}

export async function searchView(params, main, current) {
  const text = (params.q || "").trim();
  if (!text) return homeView(params, main);
  const data = await gql(SEARCH, { text, first: 100 });
  if (!current()) return;
  const result = data.search;
  const parts = [h("h1", {}, `Search: ${text}`)];
  if (!result.hits.length) {
    parts.push(message(result.message || `Nothing matches "${text}".`, "warn"));
  } else {
    parts.push(h("p", { class: "muted", id: "search-count" }, `${result.total.toLocaleString("en")} ` +
      `result${result.total === 1 ? "" : "s"}` +
      (result.truncated ? `, the first ${result.hits.length} shown` : "")));
    parts.push(table(["kind", "", "dataset type", "data ID", "run", "flags", ""],
      result.hits.map(hit => [
        h("span", { class: "badge" }, hit.dimension || hit.kind), withoutDataId(hit),
        hit.datasetType || "", h("span", { class: "mono" }, hit.dataId || ""), hit.run || "",
        flagState(hit.node), hitLink(hit)])));
  }
  main.replaceChildren(...parts);
  setReady();
}

export async function homeView(params, main) {
  main.replaceChildren(
    h("h1", {}, "Lineage explorer"),
    h("p", {}, "Search for a visit, a data ID (tract=9813,patch=4,band=r), a dataset UUID, " +
      "a flag, a collection or a release, then follow its lineage: what it was made from, " +
      "what was made from it, and which flags contaminate it."),
    h("ul", {},
      h("li", {}, link("Active flags", "flags"), " and their blast radius"),
      h("li", {}, link("Release diff", "diff"), " of two collections"),
      h("li", {}, link("Lightcurve", "lightcurve"), " of a DIA object with its provenance"),
      h("li", {}, link("Metric trend", "metric"), " across jobs, with specifications")));
  setReady();
}

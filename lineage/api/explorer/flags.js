// The flags list, a flag's page, and the forms to flag and to retract.
//
// Writes go through the GraphQL mutations `flag` and `unflag` with the tab's token
// (core.js `token`: sessionStorage, never in a URL).  Flagging always shows the dry run's
// blast radius first; a refusal (no token, a reader's token, a bad selector) is shown in
// the page with the API's own message.
import { ApiError, bytes, fill, go, gql, h, link, message, percent, props, setReady, table,
  token, verdictBadge } from "./core.js";

const PAGE = 25;

const FLAGS = `query Flags($first: Int, $after: String, $asOf: String, $retracted: Boolean) {
  flags(first: $first, after: $after, asOf: $asOf, includeRetracted: $retracted) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { key verdict selector reason by createdAt active retractedAt } }
  }
}`;

const RADIUS = `flagged datasets quanta
  byDatasetType { datasetType count }
  byTractBand { tract band datasets }
  mostAffected { steps fraction dataset { key datasetType dataId run } }`;

const FLAG = `query Flag($id: String!, $asOf: String) {
  flag(id: $id) {
    key uuid verdict reason evidence evidenceSha256 evidenceBytes by authority selector
    createdAt retractedAt retractedBy retractionReason active
    history { what at by reason }
    targets { kind key ... on Dataset { datasetType dataId run } }
    blastRadius(asOf: $asOf) { ${RADIUS} }
  }
}`;

const FLAG_IT = `mutation Flag($input: FlagInput!) {
  flag(input: $input) { dryRun replayed flag { key } blastRadius { ${RADIUS} } }
}`;

const UNFLAG = `mutation Unflag($id: String!, $reason: String!, $key: String) {
  unflag(id: $id, reason: $reason, idempotencyKey: $key) { key active }
}`;

/** Bands in wavelength order; a band not listed goes after them, by name. */
const BAND_ORDER = ["u", "g", "r", "i", "z", "y"];

/** A random UUID: crypto.randomUUID where the page is a secure context (localhost, https),
 *  else from crypto.getRandomValues (a server on another host over plain http). */
function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map(v => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function evidenceValue(evidence) {
  if (!evidence) return null;
  return /^https?:\/\//i.test(evidence)
    ? h("a", { href: evidence, rel: "noopener noreferrer", target: "_blank", id: "flag-evidence" }, evidence)
    : h("span", { class: "mono", id: "flag-evidence" }, evidence);
}

/** The token field of a write form: what is typed is kept for this tab only. */
function tokenField() {
  return h("label", {}, "API token (role flagger or admin; kept for this tab only)",
    h("input", { type: "password", name: "token", id: "token", autocomplete: "off",
      value: token.get(), placeholder: "lin_...",
      oninput: (e) => token.set(e.target.value.trim()) }));
}

function ordered(values, order) {
  return [...values].sort((a, b) => {
    if (a === null || b === null) return (a === null) - (b === null);   // nulls last
    const ia = order(a), ib = order(b);
    return ia - ib || String(a).localeCompare(String(b));
  });
}

/** Contaminated datasets counted by tract (rows) and band (columns); a null tract or band
 *  (datasets without one) gets its own row or column. */
function tractBandGrid(cells) {
  if (!cells.length) return h("p", { class: "muted" }, "No contaminated datasets.");
  const tracts = ordered(new Set(cells.map(c => c.tract)), t => Number(t));
  const bands = ordered(new Set(cells.map(c => c.band)),
    b => (BAND_ORDER.includes(b) ? BAND_ORDER.indexOf(b) : BAND_ORDER.length));
  const count = Object.fromEntries(cells.map(c => [`${c.tract}|${c.band}`, c.datasets]));
  const rowTotal = t => cells.filter(c => c.tract === t).reduce((s, c) => s + c.datasets, 0);
  return h("table", { id: "tract-band", style: { width: "auto" } },
    h("thead", {}, h("tr", {}, h("th", {}, "tract \\ band"),
      bands.map(b => h("th", { class: "num" }, b ?? "no band")),
      h("th", { class: "num" }, "total"))),
    h("tbody", {}, tracts.map(t => h("tr", {},
      h("th", {}, t ?? "no tract"),
      bands.map(b => {
        const n = count[`${t}|${b}`];
        return h("td", { class: "num", dataset: { tract: t ?? "", band: b ?? "" } },
          n ? n.toLocaleString("en") : "");
      }),
      h("td", { class: "num" }, rowTotal(t).toLocaleString("en"))))));
}

function fractionBar(fraction) {
  return h("div", { class: "row" },
    h("div", { class: "bar", title: percent(fraction) },
      h("span", { style: { width: `${Math.max(fraction * 100, 1)}%` } })),
    h("span", { class: "num" }, percent(fraction)));
}

/** A blast radius (Flag.blastRadius, or a flag mutation's, dry run or not): totals, counts
 *  by dataset type and by tract and band, and the most affected products. */
function blastRadius(radius, asOf) {
  const card = (n, what, id) => h("div", { class: "card" },
    h("div", { class: "big", id }, n.toLocaleString("en")), h("div", { class: "muted" }, what));
  return h("section", { class: "blast-radius" },
    h("div", { class: "cards" },
      card(radius.datasets, "datasets contaminated", "radius-datasets"),
      card(radius.flagged, "flagged directly", "radius-flagged"),
      card(radius.quanta, "quanta", "radius-quanta")),
    h("div", { class: "row", style: { alignItems: "flex-start", gap: "24px", flexWrap: "wrap" } },
      h("div", { id: "by-dataset-type" }, h("h3", {}, "By dataset type"),
        radius.byDatasetType.length
          ? table(["dataset type", "datasets"], radius.byDatasetType.map(t =>
            [t.datasetType || "(none)", t.count.toLocaleString("en")]), [1])
          : h("p", { class: "muted" }, "No contaminated datasets.")),
      h("div", {}, h("h3", {}, "By tract and band"), tractBandGrid(radius.byTractBand))),
    h("h3", {}, "Most affected products"),
    h("div", { id: "most-affected" }, radius.mostAffected.length
      ? table(["dataset type", "data ID", "run", "steps", "fraction", ""],
        radius.mostAffected.map(p => [p.dataset.datasetType,
          h("span", { class: "mono" }, p.dataset.dataId || ""), p.dataset.run || "", String(p.steps),
          fractionBar(p.fraction),
          link("its lineage", "lineage", { from: p.dataset.key, dir: "up", asOf })]), [3])
      : h("p", { class: "muted" }, "Nothing downstream is contaminated.")));
}

/** `?view=flags[&retracted=1][&asOf=...][&after=cursor]`: the flags, a page at a time. */
async function flagsView(params, main, current) {
  const retracted = params.retracted === "1";
  const asOf = params.asOf || null;
  const keep = { retracted: retracted ? "1" : null, asOf };
  let listing;
  try {
    const data = await gql(FLAGS, { first: PAGE, after: params.after || null, asOf, retracted });
    listing = flagList(data.flags, params.after, keep);
  } catch (err) {   // a bad asOf or cursor: said in the page, with the controls to fix it
    if (!(err instanceof ApiError)) throw err;
    listing = message(err.message, "error");
  }
  if (!current()) return;
  const asOfBox = h("input", { type: "text", name: "asOf", id: "as-of", value: asOf || "",
    placeholder: "UTC time or release", size: 24 });
  fill(main,
    h("h1", {}, retracted ? "Flags, retracted ones too" : "Active flags",
      asOf ? h("span", { class: "muted" }, ` as of ${asOf}`) : null),
    h("div", { class: "controls" },
      h("label", {}, h("input", { type: "checkbox", id: "show-retracted", checked: retracted,
        onchange: (e) => go("flags", { ...keep, retracted: e.target.checked ? "1" : null }) }),
      " retracted ones too"),
      h("form", { class: "row", id: "as-of-form", onsubmit: (e) => {
        e.preventDefault();
        go("flags", { ...keep, asOf: asOfBox.value.trim() });
      } }, h("label", {}, "as of ", asOfBox), h("button", { type: "submit" }, "Show"),
      asOf ? link("now", "flags", { ...keep, asOf: null }) : null),
      h("button", { class: "primary", id: "flag-something", style: { marginLeft: "auto" },
        onclick: () => go("flag-new") }, "Flag something")),
    listing);
  setReady();
}

/** One page of flags as a table, with the links to the first and the next page. */
function flagList(flags, after, keep) {
  const rows = flags.edges.map(({ node: f }) => [
    h("span", {}, verdictBadge(f.verdict), f.active ? null
      : [" ", h("span", { class: "badge", title: `retracted ${f.retractedAt}` }, "retracted")]),
    h("span", { class: "mono" }, f.selector || ""), f.reason || "", f.by || "",
    h("span", { class: "mono" }, f.createdAt || ""),
    link("open", "flag", { id: f.key, asOf: keep.asOf }, { class: "flag-link" })]);
  const none = keep.asOf ? `No flag was active at ${keep.asOf}.`
    : keep.retracted ? "No flags." : "No active flags.";
  return [
    h("p", { class: "muted", id: "flags-count" }, `${flags.totalCount} flag` +
      `${flags.totalCount === 1 ? "" : "s"}, oldest first${after ? " (a later page)" : ""}`),
    rows.length ? table(["verdict", "selector", "reason", "by", "created (UTC)", ""], rows)
      : message(none),
    h("p", { class: "row" },
      after ? link("« first page", "flags", keep) : null,
      flags.pageInfo.hasNextPage
        ? link("next page »", "flags", { ...keep, after: flags.pageInfo.endCursor }, { id: "next-page" })
        : null)];
}

/** The retract form of an active flag: a reason, then `unflag`, then the page again. */
function retractForm(flag, asOf) {
  const idempotencyKey = newIdempotencyKey();
  const result = h("div", { id: "retract-result" });
  const reasonBox = h("textarea", { name: "reason", id: "retract-reason", rows: 2, required: true });
  return h("form", { class: "stack", id: "retract-form", onsubmit: async (e) => {
    e.preventDefault();
    const button = e.target.querySelector("button");
    button.disabled = true;
    fill(result, message("Retracting ..."));
    try {
      await gql(UNFLAG, { id: flag.key, reason: reasonBox.value.trim(), key: idempotencyKey },
        { token: token.get() });
      go("flag", { id: flag.key, asOf }, { replace: true });
    } catch (err) {
      fill(result, message(refusal(err), "error"));
      button.disabled = false;
    }
  } },
  h("label", {}, "Why it is retracted (required)", reasonBox), tokenField(),
  h("div", {}, h("button", { type: "submit", class: "danger", id: "retract" }, "Retract")), result);
}

function refusal(err) {
  return err instanceof ApiError ? `Refused: ${err.message}` : `Something went wrong: ${err.message}`;
}

/** `?view=flag&id=...[&asOf=...]`: one flag, its history, targets and blast radius. */
async function flagView(params, main, current) {
  const id = (params.id || "").trim();
  const asOf = params.asOf || null;
  let data;
  try {
    data = await gql(FLAG, { id, asOf });
  } catch (err) {
    if (!current()) return;
    fill(main, h("h1", {}, "Flag ", h("span", { class: "mono" }, id)),
      message(err instanceof ApiError ? err.message : String(err), "error"),
      h("p", {}, link("All active flags", "flags")));
    setReady();
    return;
  }
  if (!current()) return;
  const f = data.flag;
  const datasets = f.targets.filter(t => t.kind === "Dataset");
  const others = f.targets.filter(t => t.kind !== "Dataset");
  const lineageOf = (text, from) => link(text, "lineage", { from, dir: "down", asOf });
  fill(main,
    h("h1", {}, "Flag ", verdictBadge(f.verdict), " ",
      f.active ? null : h("span", { class: "badge", id: "retracted-badge" }, "retracted"), " ",
      h("span", { class: "mono" }, f.selector || f.key)),
    h("p", { id: "flag-reason", style: { fontSize: "16px" } }, f.reason || ""),
    props([
      ["verdict", f.verdict], ["selector", h("span", { class: "mono" }, f.selector || "")],
      ["evidence", evidenceValue(f.evidence)],
      ["evidence SHA-256", f.evidenceSha256 ? h("span", {}, h("span", { class: "mono" }, f.evidenceSha256),
        f.evidenceBytes ? ` (${bytes(f.evidenceBytes)})` : null) : null],
      ["flagged by", f.by], ["authority", f.authority],
      ["created (UTC)", f.createdAt],
      ["retracted (UTC)", f.retractedAt ? `${f.retractedAt} by ${f.retractedBy || "?"}: ` +
        `${f.retractionReason || ""}` : null],
      ["key", h("span", { class: "mono" }, f.key)]]),
    h("h2", {}, "Contamination"),
    h("p", {}, lineageOf(`What was made from ${f.selector || "it"}`, f.selector || f.key),
      ": its downstream lineage, contaminated nodes marked",
      f.active ? "." : " (retracted: no longer marked, unless another flag marks them)."),
    h("details", { id: "flag-targets", open: f.targets.length <= 12 },
      h("summary", {}, `${f.targets.length} target${f.targets.length === 1 ? "" : "s"} ` +
        "(what it flags)"),
      others.length ? h("ul", {}, others.map(t => h("li", {}, `${t.kind} `,
        lineageOf(t.key, t.key)))) : null,
      datasets.length ? table(["dataset type", "data ID", "run", ""], datasets.map(t => [
        t.datasetType, h("span", { class: "mono" }, t.dataId || ""), t.run || "",
        lineageOf("lineage", t.key)])) : null),
    h("h2", {}, "Blast radius", asOf ? h("span", { class: "muted" }, ` as of ${asOf}`) : null),
    f.active ? null : h("p", { class: "muted" }, "What it contaminated while it was active."),
    blastRadius(f.blastRadius, asOf),
    h("h2", {}, "History"),
    table(["what", "when (UTC)", "by", "why"], f.history.map(e =>
      [e.what, h("span", { class: "mono" }, e.at || ""), e.by || "", e.reason || ""])),
    f.active ? [h("h2", {}, "Retract"),
      h("p", { class: "muted" }, "Retracting keeps the flag and its history; what it marked is no " +
        "longer contaminated by it."), retractForm(f, asOf)] : null);
  setReady();
}

/** `?view=flag-new[&selector=...]`: the form to flag; a dry run first, then "Flag it". */
async function flagNewView(params, main) {
  const idempotencyKey = newIdempotencyKey();   // one per form: a retry writes one flag
  const field = (label, input) => h("label", {}, label, input);
  const inputs = {
    selector: h("input", { name: "selector", id: "flag-selector", required: true,
      value: params.selector || "", placeholder: "visit=2026030100001[,detector=4], a dataset UUID" }),
    verdict: h("select", { name: "verdict", id: "flag-verdict" },
      h("option", { value: "BAD" }, "bad"), h("option", { value: "SUSPECT" }, "suspect")),
    reason: h("textarea", { name: "reason", id: "flag-reason-input", rows: 2, required: true }),
    evidence: h("input", { name: "evidence", id: "flag-evidence-input", required: true,
      placeholder: "https://... or jira:DM-12345" }),
    authority: h("input", { name: "authority", id: "flag-authority",
      placeholder: "optional: the token's name by default" }),
  };
  const result = h("div", { id: "flag-result" });
  const writeButton = h("button", { type: "button", class: "danger", id: "flag-it", disabled: true },
    "Flag it");
  let checked = null;   // the input the shown dry run was for

  const input = () => ({
    selector: inputs.selector.value.trim(), verdict: inputs.verdict.value,
    reason: inputs.reason.value.trim(), evidence: inputs.evidence.value.trim(),
    authority: inputs.authority.value.trim() || null,
  });

  async function dryRun(event) {
    event.preventDefault();
    const asked = input();
    writeButton.disabled = true;
    fill(result, message("Computing the blast radius (a dry run: nothing is written) ..."));
    try {
      const data = await gql(FLAG_IT, { input: { ...asked, dryRun: true } }, { token: token.get() });
      checked = JSON.stringify(asked);
      fill(result, h("h2", {}, "Dry run: what flagging ", h("span", { class: "mono" }, asked.selector),
        " would contaminate"), blastRadius(data.flag.blastRadius));
      writeButton.disabled = false;
    } catch (err) {
      checked = null;
      fill(result, message(refusal(err), "error"));
    }
  }

  writeButton.addEventListener("click", async () => {
    const asked = input();
    if (JSON.stringify(asked) !== checked) {   // changed since its dry run: run it again
      writeButton.disabled = true;
      fill(result, message("The form changed since its dry run: run it again.", "warn"));
      return;
    }
    writeButton.disabled = true;
    result.prepend(message("Writing the flag ..."));
    try {
      const data = await gql(FLAG_IT, { input: { ...asked, idempotencyKey } }, { token: token.get() });
      go("flag", { id: data.flag.flag.key });
    } catch (err) {
      result.firstChild.replaceWith(message(refusal(err), "error"));
      writeButton.disabled = false;
    }
  });

  fill(main,
    h("h1", {}, "Flag something"),
    h("p", { class: "muted" }, "Everything made from what you flag is marked contaminated. The " +
      "dry run shows what that is before anything is written."),
    h("form", { class: "stack", id: "flag-form", onsubmit: dryRun,
      oninput: () => { writeButton.disabled = JSON.stringify(input()) !== checked; } },
      field("Selector: what is bad", inputs.selector), field("Verdict", inputs.verdict),
      field("Reason", inputs.reason), field("Evidence (a URI)", inputs.evidence),
      field("Authority", inputs.authority), tokenField(),
      h("div", { class: "row" },
        h("button", { type: "submit", class: "primary", id: "dry-run" }, "Dry run"), writeButton)),
    result);
  setReady();
}

export const FLAG_PAGES = { flags: flagsView, flag: flagView, "flag-new": flagNewView };

"""Diff reports: JSON (streamed, for scripts and CI), Markdown, and one self-contained
HTML file with its pictures embedded as PNG data URIs (opens with no network).

JSON holds every detail record, written as the diff finds them; Markdown and
HTML hold the summary and a sample of the details (the first few of each
status and dataset type), so their size does not grow with the releases.
"""

from __future__ import annotations

import base64
import html as _html
import json
from collections import Counter

import orjson

from lineage.diff import figures, queries
from lineage.diff.stats import TINY_SAMPLE

EXAMPLES_PER_GROUP = 8

#: How a comparison on a tiny sample is marked in the tables.
TINY_SAMPLE_NOTE = "tiny sample"
_STATUSES = ("a", "b", "added", "removed", "changed", "unchanged")


class JsonWriter:
    """``{"details": [...], "summary": {...}}``, details written one by one as found."""

    def __init__(self, fh) -> None:
        self.fh, self.count = fh, 0
        fh.write('{"details": [')

    def detail(self, record: dict) -> None:
        # orjson: 0.7 us a record against 7 us for the json module (a million records)
        self.fh.write((",\n" if self.count else "\n")
                      + orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode())
        self.count += 1

    def finish(self, result) -> None:
        self.fh.write('\n],\n"summary": ' + json.dumps(result.summary(), indent=1, sort_keys=True,
                                                        default=str) + "}\n")


class Sample:
    """The first ``per_group`` detail records of each (status, dataset type), and counts."""

    def __init__(self, per_group: int = EXAMPLES_PER_GROUP, then=None) -> None:
        self.per_group, self.then = per_group, then
        self.groups: dict[tuple, list] = {}
        self.counts: Counter = Counter()

    def detail(self, record: dict) -> None:
        group = (record["status"], record["dataset_type"])
        self.counts[group] += 1
        if self.counts[group] <= self.per_group:
            self.groups.setdefault(group, []).append(record)
        if self.then is not None:
            self.then(record)


def patch_bounds(store) -> dict:
    """(skymap, tract, patch) -> (ra_min, ra_max, dec_min, dec_max) of the patches that
    have them (tract and patch numbers repeat across sky maps)."""
    return {(str(m), str(t), str(p)): tuple(float(x) for x in box)
            for m, t, p, *box in queries.patch_boxes(store)}


# --- what both text formats show --------------------------------------------------

def _num(x, digits: int = 4) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def changes_text(record: dict) -> str:
    """One line saying what changed in a detail record (first why, when the diff could
    say: ``flagged input removed``)."""
    parts = [record["explained"]] if record.get("explained") else []
    if "inputs" in record:
        i = record["inputs"]
        text = f"inputs +{len(i['added'])} -{len(i['removed'])}"
        if i["visits_dropped"]:
            text += f" (visits dropped: {', '.join(i['visits_dropped'])})"
        if i["visits_added"]:
            text += f" (visits added: {', '.join(i['visits_added'])})"
        parts.append(text)
    if "software" in record:
        s = record["software"]
        pk = ", ".join(f"{k} {a}\u2192{b}" for k, (a, b) in s["packages"].items())
        parts.append(f"software of {s['task']}: {s['a']}\u2192{s['b']}" + (f" ({pk})" if pk else ""))
    if "config" in record:
        c = record["config"]
        keys = ", ".join(f"{k} {a}\u2192{b}" for k, (a, b) in c["keys"].items())
        parts.append(f"config of {c['task']}: {keys or c['b']}")
    if "flags" in record:
        f = record["flags"]
        parts.append(f"flags +{len(f['added'])} -{len(f['removed'])}")
    if record.get("upstream"):
        parts.append("upstream: " + ", ".join(f"{u['change']} of {u['task']}"
                                              for u in record["upstream"]))
    return "; ".join(parts)


def sections(summary: dict, sample: Sample | None) -> list[dict]:
    """The report as titled tables (and lines of text), rendered by Markdown and HTML alike."""
    out = []
    t = summary["totals"]
    out.append({"title": "Summary", "lines": [
        f"{summary['a']['name']} ({t['a']} datasets) \u2192 {summary['b']['name']} "
        f"({t['b']} datasets): {t['added']} added, {t['removed']} removed, {t['changed']} "
        f"changed, {t['unchanged']} unchanged.",
        f"Runs: {', '.join(summary['a']['runs'])} \u2192 {', '.join(summary['b']['runs'])}.",
    ] + ([f"Filter: {_filter_text(summary['filter'])}."] if _filter_text(summary["filter"]) else [])})
    out.append({"title": "By dataset type", "figure": "counts",
                "headers": ["dataset type", *_STATUSES],
                "rows": [[k, *[v.get(s, 0) for s in _STATUSES]]
                         for k, v in summary["by_type"].items() if _any(v)]})
    out.append({"title": "By tract and band", "figure": "sky",
                "headers": ["tract", "band", *_STATUSES],
                "rows": [[*k.split("/", 1), *[v.get(s, 0) for s in _STATUSES]]
                         for k, v in summary["by_tract_band"].items() if _any(v)]})
    rows = []
    for s in summary["steps"]:
        sw = "; ".join(f"{x['a']}\u2192{x['b']} ({x['products']}): " + ", ".join(
            f"{k} {a}\u2192{b}" for k, (a, b) in x["packages"].items()) for x in s["software"])
        cf = "; ".join(", ".join(f"{k} {a}\u2192{b}" for k, (a, b) in x["keys"].items())
                       + f" ({x['products']})" for x in s["config"])
        rows.append([s["task"], s["products_compared"], s["inputs_changed"], sw, cf])
    out.append({"title": "What changed in the processing", "headers": [
        "step", "products compared", "inputs changed", "software (packages)", "config (keys)"],
        "rows": rows, "empty": "No step changed its inputs, software or config."})
    v = summary["visits"]
    if v["a"] or v["b"]:
        out.append({"title": "Visits", "lines": [
            f"Processed (by the datasets reported): {v['a']} in {summary['a']['name']}, "
            f"{v['b']} in {summary['b']['name']}.",
            f"Dropped ({len(v['dropped'])}): {', '.join(v['dropped']) or 'none'}.",
            f"Added ({len(v['added'])}): {', '.join(v['added']) or 'none'}."]})
    out.append({"title": "Why products changed", "headers": ["dataset type", "reason", "products"],
                "rows": [[k, r, n] for k, c in summary["reasons"].items() for r, n in c.items()],
                "empty": "No product in both releases changed."})
    for title, key, figure in (("Metrics", "metrics", "metrics"),
                               ("Dataset properties", "properties", None)):
        rows = [_comparison_row(c) for c in summary[key] if c["a"]["n"] or c["b"]["n"]]
        lines = []
        if key == "metrics" and _filter_text(summary["filter"]):
            lines.append("Jobs that measured a band, tract or unit the filter leaves out are "
                         "not counted (dataset types do not apply).")
        if any(c.get("tiny_sample") for c in summary[key]):
            lines.append(f"Fewer than {TINY_SAMPLE} values a side is a tiny sample (marked): its "
                         "verdict and p-values are a hint, not a test.")
        if key == "metrics" and rows:
            lines.append("KS D (p): Kolmogorov-Smirnov distance (p-value); MW p: Mann-Whitney U "
                         "p-value (scipy.stats, two-sided).")
        out.append({"title": title, "figure": figure, "lines": lines, "headers": [
            "quantity", "unit", "median A (n)", "median B (n)", "shift", "shift %", "KS D (p)",
            "MW p", "tolerance", "verdict", "note"], "rows": rows,
            "empty": f"No {title.lower()} recorded for these releases"
                     + (" and this filter." if _filter_text(summary["filter"]) else ".")})
    if sample is not None:
        rows = []
        for (status, dtype), records in sorted(sample.groups.items()):
            for r in records:
                rows.append([status, dtype, r["data_id"], changes_text(r)])
            more = sample.counts[(status, dtype)] - len(records)
            if more:
                rows.append([status, dtype, f"... and {more} more", ""])
        out.append({"title": "Examples", "headers": ["status", "dataset type", "data ID",
                                                     "what changed"], "rows": rows,
                    "empty": "Nothing differs.",
                    "lines": ["The first few of each status and dataset type; the JSON "
                              "report (--format json) lists every one."]})
    return out


def _filter_text(f: dict) -> str:
    parts = [f"{k} {', '.join(v)}" for k, v in f.items() if v and k != "where"]
    if f.get("where"):
        parts.append(f"where {f['where']}")
    return "; ".join(parts)


def _any(counts: dict) -> bool:
    """A row with something in it (all-zero rows are not shown)."""
    return any(counts.get(s, 0) for s in _STATUSES)


def _comparison_row(c: dict) -> list:
    verdict = {True: "equivalent", False: "differs", None: "n/a"}[c["equivalent"]]
    rel = c["relative_shift"]
    ks = "" if c["ks"] is None else f"{_num(c['ks'], 3)} ({_num(c['ks_p'], 3) or '-'})"
    return [c["name"], c["unit"], f"{_num(c['a']['median'])} ({c['a']['n']})",
            f"{_num(c['b']['median'])} ({c['b']['n']})", _num(c["shift"]),
            "" if rel is None else f"{rel * 100:+.2f}", ks, _num(c["mann_whitney_p"], 3),
            c["tolerance"], verdict, TINY_SAMPLE_NOTE if c.get("tiny_sample") else ""]


# --- Markdown ----------------------------------------------------------------------

def _md_cell(x) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def markdown(result, sample: Sample | None = None) -> str:
    summary = result.summary()
    out = [f"# Release diff: {summary['a']['name']} \u2192 {summary['b']['name']}", ""]
    for s in sections(summary, sample):
        out += [f"## {s['title']}", ""]
        out += [line + "\n" for line in s.get("lines", [])]
        if "headers" in s:
            if not s["rows"]:
                out += [s.get("empty", ""), ""]
                continue
            out.append("| " + " | ".join(s["headers"]) + " |")
            out.append("|" + "---|" * len(s["headers"]))
            out += ["| " + " | ".join(_md_cell(x) for x in row) + " |" for row in s["rows"]]
            out.append("")
    return "\n".join(out)


# --- HTML --------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ddd; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; margin: 0.5em 0; } .verdict-differs { color: #b2182b; font-weight: bold; }
.verdict-equivalent { color: #1a7837; } p.note { color: #666; font-size: 0.85em; }
td.warn { color: #8a5a00; background: #fff4d6; }
"""


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return ""
    return (f'<img alt="{_html.escape(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode()}">')


def html(result, sample: Sample | None = None, bounds: dict | None = None) -> str:
    summary = result.summary()
    a, b = summary["a"]["name"], summary["b"]["name"]
    pictures = {"counts": lambda: figures.counts_by_type(summary["by_type"], a, b),
                "sky": lambda: figures.changed_on_sky(result.by_patch, bounds or {}),
                "metrics": lambda: figures.metric_shifts(result.metrics, a, b)}
    e = _html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Release diff {e(a)} \u2192 {e(b)}</title><style>{_CSS}</style></head><body>",
           f"<h1>Release diff: {e(a)} \u2192 {e(b)}</h1>"]
    for s in sections(summary, sample):
        out.append(f"<h2>{e(s['title'])}</h2>")
        out += [f"<p>{e(line)}</p>" for line in s.get("lines", [])]
        if s.get("figure"):
            out.append(_img(pictures[s["figure"]](), s["title"]))
        if "headers" not in s:
            continue
        if not s["rows"]:
            out.append(f'<p class="note">{e(s.get("empty", ""))}</p>')
            continue
        out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in s["headers"]) + "</tr>")
        for row in s["rows"]:
            cells = []
            for x in row:
                cls = ' class="n"' if isinstance(x, (int, float)) else ""
                if x in ("differs", "equivalent"):
                    cls = f' class="verdict-{x}"'
                elif isinstance(x, str) and x.startswith(TINY_SAMPLE_NOTE):
                    cls = ' class="warn"'
                cells.append(f"<td{cls}>{e(str(x))}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</table>")
    out.append('<p class="note">Made by <code>lineage diff</code> (survey-lineage); '
               "self-contained: every picture is embedded.</p></body></html>")
    return "\n".join(out)

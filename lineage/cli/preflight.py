"""``lineage preflight``: check a predicted quantum graph before the run (docs/preflight.md)."""

from __future__ import annotations

import sys

import click

from lineage.cli.common import Repo, call, format_option, repo_option
from lineage.cli.output import Column, console, emit, table
from lineage.core.dataid import data_id_object
from lineage.preflight import LEVELS, check_level, preflight

#: Exit status when the gate (``--fail-on``) fails; errors exit 2 (lineage.cli.common).
GATE_FAILED = 1

FINDING_COLUMNS = [Column("task", "task"), Column("quantum data ID", "data_id"),
                   Column("finding", "finding"), Column("dataset type", "dataset_type"),
                   Column("dataset data ID", "dataset_data_id"), Column("run", "run"),
                   Column("detail", "detail", wrap=True)]


@click.command("preflight")
@click.argument("graph", metavar="GRAPH.qg")
@repo_option
@click.option("--fail-on", "fail_on", type=click.Choice(LEVELS), default=None,
              help="Exit 1 when an input is at this level or worse (bad > suspect > "
                   "contaminated).")
@format_option
def preflight_command(graph, repo, fail_on, fmt):
    """Check the predicted quantum graph GRAPH.qg (pipetask qgraph --save-qgraph) before
    the run: the quanta per task and data ID, inputs the lineage graph has never seen,
    inputs flagged bad or suspect or contaminated (flag, reason, fraction), outputs that
    already exist, and whether each calibration input is certified for its exposure.
    Exit status 1 when --fail-on fails, 2 on an error."""
    call(check_level, fail_on)
    with Repo(repo) as store:
        report = call(preflight, store, graph, fail_on)
    if fmt == "table":
        _view(report)
    else:  # json: the whole report; csv, ecsv: one row per finding
        emit(fmt, "", findings(report), FINDING_COLUMNS, document=report)
    if report["gate"]["failed"]:
        sys.exit(GATE_FAILED)


def findings(report: dict) -> list[dict]:
    """One record per finding of every quantum: a flagged input, an input never seen, an
    output that exists, a calibration input (certified or not)."""
    rows = []
    for q in report["quanta"]:
        def row(kind, item, detail):
            rows.append({"task": q["task"], "data_id": q["data_id"], "finding": kind,
                         "dataset_type": item["dataset_type"],
                         "dataset_data_id": item["data_id"], "run": item["run"],
                         "uuid": item["uuid"], "detail": detail})
        for item in q["flagged_inputs"]:
            row(item["level"], item, "; ".join(
                f"{m['verdict']} flag {m['flag'].split(':', 1)[1]} ({m['reason']}), "
                f"{m['steps']} steps, fraction {m['fraction']:.4f}" for m in item["flags"]))
        for item in q["unknown_inputs"]:
            row("never seen", item, "input not in the lineage graph")
        for item in q["clashes"]:
            row("exists", item, f"already in the {item['in']}")
        for item in q["calibrations"]:
            row("calibration", item,
                {True: f"certified for {item['exposure']} in {', '.join(item['collections'])}",
                 False: f"NOT certified for {item['exposure']}",
                 None: "no exposure time to check"}[item["certified"]])
    return rows


def _view(report: dict) -> None:
    totals, gate = report["totals"], report["gate"]
    chain = f" (chain {report['output']})" if report["output"] else ""
    console().print(f"pre-flight of {report['file']}: {totals['quanta']} quanta of "
                    f"{totals['tasks']} tasks into {report['output_run']}{chain}"
                    + (", which already exists" if report["output_run_exists"] else ""),
                    highlight=False)
    headers = ["task", "quanta", "bad", "suspect", "contaminated", "never seen",
               "outputs exist", "calibrations", "not certified"]
    fields = ["task", "quanta", "bad", "suspect", "contaminated", "unknown_inputs", "clashes",
              "calibrations", "not_certified"]
    table("Per task (distinct datasets)", headers,
          [[t[f] for f in fields] for t in report["tasks"]]
          + [["[bold]total[/bold]", *(f"[bold]{totals[f]}[/bold]" for f in fields[1:])]])
    rows = findings(report)
    if rows:
        table("Findings per quantum", [c.header for c in FINDING_COLUMNS],
              [[data_id_object(r[c.value]) if c.value == "data_id" else r[c.value]
                for c in FINDING_COLUMNS] for r in rows], fold=("detail",))
    verdict = ("[red]FAILED[/red]" if gate["failed"] else "[green]passed[/green]") \
        if gate["fail_on"] else "not asked (no --fail-on)"
    worst = gate["worst"] or "none: no input is flagged or contaminated"
    console().print(f"worst input: {worst}; gate --fail-on {gate['fail_on'] or '-'}: {verdict}",
                    highlight=False)

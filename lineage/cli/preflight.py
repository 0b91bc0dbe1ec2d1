"""``lineage preflight``: check a predicted quantum graph before the run (docs/preflight.md)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from lineage.cli.common import CliError, Repo, call, format_option, repo_option
from lineage.cli.output import Column, console, emit, table
from lineage.core.dataid import data_id_object
from lineage.preflight import LEVELS, build_predicted, preflight

#: Exit status when the gate (``--fail-on``) fails; errors exit 2 (lineage.cli.common).
GATE_FAILED = 1

#: Columns of every finding (``--format csv``/``ecsv`` write one row per finding).
FINDING_COLUMNS = [Column("task", "task"), Column("quantum data ID", "data_id"),
                   Column("finding", "finding"), Column("dataset type", "dataset_type"),
                   Column("dataset data ID", "dataset_data_id"), Column("run", "run"),
                   Column("UUID", "uuid")]

#: The tables of the text view, one per kind of finding: title, the findings it shows,
#: and the columns it adds to the first six of :data:`FINDING_COLUMNS`.
SECTIONS = (
    ("Inputs flagged or contaminated", LEVELS,
     [Column("level", "finding"), Column("flag", "flag"), Column("reason", "reason", wrap=True),
      Column("steps", "steps"), Column("fraction", lambda r: f"{r['fraction']:.4f}")]),
    ("Inputs the lineage graph has never seen", ("never seen",), []),
    ("Outputs that already exist", ("exists",), [Column("already in the", "in")]),
    ("Calibration inputs", ("calibration",),
     [Column("certified", lambda r: {True: "yes", False: "NO", None: "no time"}[r["certified"]]),
      Column("for", "exposure"), Column("in", lambda r: ", ".join(r["collections"]))]),
)


@click.command("preflight")
@click.argument("graph", metavar="[GRAPH.qg]", required=False)
@repo_option
@click.option("--butler", "butler_repo", default=None, metavar="REPO",
              help="Without GRAPH.qg: build the predicted graph from this Butler repository "
                   "(read-only) and --pipeline first.")
@click.option("--pipeline", default=None, metavar="P.yaml[#subset]",
              help="With --butler: the pipeline to build the graph of.")
@click.option("--input", "inputs", multiple=True, metavar="COLLECTION",
              help="With --butler: a collection the pipeline reads (repeatable, or "
                   "comma-separated).")
@click.option("--output", default=None, metavar="CHAIN",
              help="With --butler: the output chain the run would write.")
@click.option("--output-run", default=None, metavar="RUN",
              help="With --butler: the output RUN (default: CHAIN/<UTC time>, as pipetask).")
@click.option("--where", default="", metavar="EXPR",
              help="With --butler: only data IDs passing this Butler query expression.")
@click.option("--save-qgraph", "save_to", default=None, type=click.Path(dir_okay=False),
              help="With --butler: keep the predicted graph in this file.")
@click.option("--fail-on", "fail_on", type=click.Choice(LEVELS), default=None,
              help="Exit 1 when an input is at this level or worse (bad > suspect > "
                   "contaminated).")
@click.option("--rows", default=25, show_default=True, type=click.IntRange(min=0),
              help="At most this many rows in each table of findings (0: all); "
                   "--format json or csv lists every finding.")
@format_option
def preflight_command(graph, repo, butler_repo, pipeline, inputs, output, output_run, where,
                      save_to, fail_on, rows, fmt):
    """Check the predicted quantum graph GRAPH.qg (pipetask qgraph --save-qgraph) before
    the run: the quanta per task and data ID, inputs the lineage graph has never seen,
    inputs flagged bad or suspect or contaminated (flag, reason, fraction), outputs that
    already exist, and whether each calibration input is certified for its exposure.
    Exit status 1 when --fail-on fails, 2 on an error.

    Without GRAPH.qg, --butler REPO --pipeline P.yaml --input C --output CHAIN [--where
    EXPR] builds the predicted graph with lsst-pipe-base first."""
    if (graph is None) == (butler_repo is None):
        raise CliError("give GRAPH.qg, or --butler REPO with --pipeline to build one")
    building = {"--pipeline": pipeline, "--input": inputs, "--output": output,
                "--output-run": output_run, "--where": where, "--save-qgraph": save_to}
    if graph is not None and any(building.values()):
        raise CliError(f"{', '.join(k for k, v in building.items() if v)}: only with --butler")
    if butler_repo is not None and pipeline is None:
        raise CliError("--butler needs --pipeline")
    with tempfile.TemporaryDirectory(prefix="lineage-preflight-") as scratch:
        if butler_repo is not None:
            graph = call(build_predicted, butler_repo, pipeline,
                         [c for given in inputs for c in given.split(",") if c], output,
                         save_to or Path(scratch) / "predicted.qg", where, output_run)
        with Repo(repo) as store:
            report = call(preflight, store, graph, fail_on)
    if butler_repo is not None:   # the graph was built here: say from what, and where it is kept
        report["file"] = save_to
        report["built_from"] = {"butler": butler_repo, "pipeline": pipeline, "where": where}
    if fmt == "table":
        _view(report, rows)
    else:  # json: the whole report; csv, ecsv: one row per finding
        emit(fmt, "", findings(report), FINDING_COLUMNS, document=report)
    if report["gate"]["failed"]:
        sys.exit(GATE_FAILED)


def findings(report: dict) -> list[dict]:
    """One record per finding of every quantum: a flagged input (one per flag marking it,
    its finding the input's level), an input never seen, an output that exists, a
    calibration input."""
    rows = []
    for q in report["quanta"]:
        def row(finding, item, **detail):
            rows.append({"task": q["task"], "data_id": q["data_id"], "finding": finding,
                         "dataset_type": item["dataset_type"],
                         "dataset_data_id": item["data_id"], "run": item["run"],
                         "uuid": item["uuid"], **detail})
        for item in q["flagged_inputs"]:
            for mark in item["flags"]:
                row(item["level"], item, flag=mark["flag"], verdict=mark["verdict"],
                    reason=mark["reason"], steps=mark["steps"], fraction=mark["fraction"])
        for item in q["unknown_inputs"]:
            row("never seen", item)
        for item in q["clashes"]:
            row("exists", item, **{"in": item["in"]})
        for item in q["calibrations"]:
            row("calibration", item, certified=item["certified"], exposure=item["exposure"],
                collections=item["collections"])
    return rows


def _view(report: dict, rows: int) -> None:
    """The summary line, the counts per task, one table per kind of finding (its first
    ``rows`` rows; 0: all), the gate."""
    totals, gate = report["totals"], report["gate"]
    chain = f" (chain {report['output']})" if report["output"] else ""
    tasks = f"{totals['tasks']} task" + ("" if totals["tasks"] == 1 else "s")
    built = report.get("built_from")
    what = report["file"] if built is None else (
        f"{built['pipeline']} over {built['butler']}" + (f" ({built['where']})" if built["where"]
                                                         else ""))
    console().print(f"pre-flight of {what}: {totals['quanta']} quanta of {tasks} "
                    f"into {report['output_run']}{chain}"
                    + (", which already exists" if report["output_run_exists"] else ""),
                    highlight=False)
    headers = ["task", "quanta", "bad", "suspect", "contaminated", "never seen",
               "outputs exist", "calibrations", "not certified"]
    fields = ["task", "quanta", "bad", "suspect", "contaminated", "unknown_inputs", "clashes",
              "calibrations", "not_certified"]
    table("Per task (distinct datasets)", headers,
          [[t[f] for f in fields] for t in report["tasks"]]
          + [["[bold]total[/bold]", *(f"[bold]{totals[f]}[/bold]" for f in fields[1:])]])
    every = findings(report)
    for title, kinds, extra in SECTIONS:
        chosen = [r for r in every if r["finding"] in kinds]
        if chosen:
            shown = chosen[:rows] if rows else chosen
            columns = FINDING_COLUMNS[:2] + FINDING_COLUMNS[3:6] + extra
            table(title, [c.header for c in columns],
                  [[r["task"], data_id_object(r["data_id"]), *(c.of(r) for c in columns[2:])]
                   for r in shown],
                  None if len(shown) == len(chosen) else
                  f"the first {len(shown)} of {len(chosen)} (--rows 0, or --format json or csv, "
                  "shows all)",
                  fold=tuple(c.header for c in columns if c.wrap))
    verdict = ("[red]FAILED[/red]" if gate["failed"] else "[green]passed[/green]") \
        if gate["fail_on"] else "not asked (no --fail-on)"
    worst = gate["worst"] or "none: no input is flagged or contaminated"
    console().print(f"worst input: {worst}; gate --fail-on {gate['fail_on'] or '-'}: {verdict}",
                    highlight=False)

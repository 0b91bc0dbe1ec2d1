"""``lineage sync``: keep the graph in step with a live Butler repository (docs/sync.md)."""

from __future__ import annotations

import sys

import click

from lineage.cli.common import Repo, call, format_option, repo_option
from lineage.cli.output import Column, console, emit
from lineage.sync import sync
from lineage.sync.butler import import_ahead
from lineage.sync.core import UNCHANGED


@click.command("sync")
@click.argument("butler_repo", metavar="BUTLER_REPO")
@repo_option
@click.option("--collections", "collections", multiple=True, metavar="GLOB",
              help="Only collections matching GLOB (repeatable; default: every collection).")
@click.option("--where", default="", metavar="EXPR",
              help="Only datasets passing this Butler query expression.")
@click.option("--since", default=None, metavar="TIME",
              help="Only RUNs with datasets ingested after TIME (ISO, UTC).")
@click.option("--dry-run", is_flag=True, help="Say what a sync would read; read no dataset, "
                                              "write nothing.")
@format_option
def sync_command(butler_repo, repo, collections, where, since, dry_run, fmt):
    """Bring what the Butler repository BUTLER_REPO holds into the graph; run again, only
    what is new.

    It reads dimension records, dataset types, collections (chains in order,
    calibration validity ranges), datasets with their files, and each RUN's
    run_provenance.  Each RUN is written all-or-nothing.  Exit status 1 if a RUN or
    collection was rejected."""
    def line(outcome):
        if fmt == "table":
            click.echo(f"{outcome.status} {outcome.path}: {_holds(outcome)}", err=True)
    import_ahead()  # while the engine starts
    with Repo(repo) as store:
        summary = call(sync, store, butler_repo, collections or ("*",), where, since,
                       dry_run, fmt == "table", line)
    if fmt == "table":
        _view(summary)
    else:  # json: the whole summary; csv, ecsv: the table of what was read
        emit(fmt, "", _read_rows(summary), COLUMNS, document=summary.as_dict())
    if summary.rejected:
        sys.exit(1)


def _holds(outcome) -> str:
    what = "".join(f"{v} {k}, " for k, v in outcome.counts.items())
    return f"{what}{outcome.nodes_created} nodes and {outcome.edges_created} edges added"


COLUMNS = [Column("what", "what"), Column("name", "name"), Column("why", "why", wrap=True),
           Column("status", "status"), Column("holds", "holds", wrap=True),
           Column("nodes", "nodes"), Column("edges", "edges")]


def _read_rows(summary) -> list[dict]:
    """One record per thing read (or to be read, in a dry run): what it is, why it is read,
    and what its unit wrote."""
    written = {u.path: u for u in summary.units}
    rows = []
    for p in summary.planned:
        u = written.get(p.name)
        holds = (", ".join(f"{v} {k}" for k, v in u.counts.items()) if u else
                 "" if p.datasets is None else f"{p.datasets} datasets")
        rows.append({"what": p.what, "name": p.name, "why": p.why,
                     "status": u.status if u else None, "holds": holds,
                     "nodes": u.nodes_created if u else None,
                     "edges": u.edges_created if u else None})
    return rows


def _view(summary) -> None:
    """The table of what was read, then the collections not read (unchanged ones counted),
    removals, records left out and rejections."""
    verb = "would read" if summary.dry_run else "read"
    rows = _read_rows(summary)
    if rows:
        emit("table", f"lineage sync {summary.source} ({summary.universe})", rows, COLUMNS)
    unchanged = [s for s in summary.skipped if s.endswith(UNCHANGED)]
    for text in summary.skipped:
        if not text.endswith(UNCHANGED):
            console().print(f"[yellow]not read[/yellow] {text}", highlight=False)
    for text in summary.removed:
        console().print(f"[magenta]removed from the Butler[/magenta] {text}", highlight=False)
    for u in summary.units:
        for reason in u.skipped:
            console().print(f"[yellow]skipped[/yellow] {u.path}: {reason}", highlight=False)
    for u in summary.rejected:
        console().print(f"[red]rejected[/red] {u.error}", highlight=False)
    t = summary.totals()
    console().print(f"{summary.source}: {verb} {t['read']} items, {t['datasets_read']} datasets "
                    f"in {summary.seconds:.1f} s: {t['nodes_created']} nodes and "
                    f"{t['edges_created']} edges added, {t['removed']} datasets removed from "
                    f"the Butler, {len(unchanged)} collections unchanged, "
                    f"{t['rejected']} units rejected"
                    + (f", restored: {t['restored']} datasets deleted earlier" if t["restored"]
                       else ""), highlight=False)

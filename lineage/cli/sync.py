"""``lineage sync``: keep the graph in step with a live Butler repository (docs/sync.md)."""

from __future__ import annotations

import sys

import click

from lineage.cli.common import Repo, call, json_option, repo_option
from lineage.cli.output import console, print_json, table
from lineage.sync import sync
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
@json_option
def sync_command(butler_repo, repo, collections, where, since, dry_run, as_json):
    """Bring what the Butler repository BUTLER_REPO holds into the graph; run again, only
    what is new.

    It reads dimension records, dataset types, collections (chains in order,
    calibration validity ranges), datasets with their files, and each RUN's
    run_provenance.  Each RUN is written all-or-nothing.  Exit status 1 if a RUN or
    collection was rejected."""
    def line(outcome):
        if not as_json:
            click.echo(f"{outcome.status} {outcome.path}: {_holds(outcome)}", err=True)
    with Repo(repo) as store:
        summary = call(sync, store, butler_repo, collections or ("*",), where, since,
                       dry_run, not as_json, line)
    if as_json:
        print_json(summary.as_dict())
    else:
        _view(summary)
    if summary.rejected:
        sys.exit(1)


def _holds(outcome) -> str:
    what = "".join(f"{v} {k}, " for k, v in outcome.counts.items())
    return f"{what}{outcome.nodes_created} nodes and {outcome.edges_created} edges added"


def _view(summary) -> None:
    """One row per thing read (with why, and what its unit wrote), then the collections
    not read (unchanged ones counted), removals, records left out and rejections."""
    written = {u.path: u for u in summary.units}
    rows = []
    for p in summary.planned:
        u = written.get(p.name)
        holds = (", ".join(f"{v} {k}" for k, v in u.counts.items()) if u else
                 "" if p.datasets is None else f"{p.datasets} datasets")
        rows.append((p.what, p.name, p.why, u.status if u else "", holds,
                     u.nodes_created if u else "", u.edges_created if u else ""))
    verb = "would read" if summary.dry_run else "read"
    if rows:
        table(f"lineage sync {summary.source} ({summary.universe})",
              ["what", "name", "why", "status", "holds", "nodes", "edges"], rows,
              fold=("holds", "why"))
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
                    f"{t['rejected']} units rejected", highlight=False)

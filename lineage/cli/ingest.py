"""``lineage ingest``: loading what observatories already have (docs/ingest.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lineage.cli.common import Repo, call, json_option, pairs, repo_option
from lineage.cli.output import console, print_json, table
from lineage.ingest.driver import KINDS, ingest


@click.command("ingest")
@click.argument("kind", metavar="KIND", type=click.Choice(KINDS))
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@repo_option
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="A setting for the reader, e.g. DRP_PIPE_DIR=DIR for pipeline imports.")
@click.option("--dry-run", is_flag=True, help="Read and check every file; write nothing.")
@json_option
def ingest_command(kind, paths, repo, variables, dry_run, as_json):
    """Read files of one KIND into the graph, each file all-or-nothing.

    KIND is one of: headers, butler-export, skymap, pipeline, run, efd, metrics, prov.
    Directories are searched for that kind's files.  Running it twice adds
    nothing the second time.  Exit status 1 if any file was rejected.
    """
    settings = pairs("--var", variables)
    with Repo(repo) as store:
        summary = call(ingest, store, kind, paths, settings, dry_run, not as_json)
    if as_json:
        print_json(summary.as_dict())
    else:
        _ingest_view(summary)
    if summary.rejected:
        sys.exit(1)


def _ingest_view(summary) -> None:
    rows = []
    for f in summary.files:
        what = ", ".join(f"{v} {k}" for k, v in f.counts.items())
        rows.append((Path(f.path).name, f.status, what, f.nodes_created, f.edges_created,
                     len(f.skipped) or ""))
    table(f"lineage ingest {summary.kind}",
          ["file", "status", "holds", "new nodes", "new edges", "skipped"], rows,
          fold=("holds", "file"))
    for f in summary.files:
        for reason in f.skipped:
            console().print(f"[yellow]skipped[/yellow] {Path(f.path).name}: {reason}",
                            highlight=False)
    for f in summary.files:
        for text in f.warnings:
            console().print(f"[yellow]warning[/yellow] {Path(f.path).name}: {text}", highlight=False)
        verb = "would update" if f.status == "checked" else "updated"
        for text in f.updated[:UPDATES_SHOWN]:
            console().print(f"[cyan]{verb}[/cyan] {Path(f.path).name}: {text}", highlight=False)
        if len(f.updated) > UPDATES_SHOWN:
            console().print(f"[cyan]{verb}[/cyan] {Path(f.path).name}: ... and "
                            f"{len(f.updated) - UPDATES_SHOWN} more changes (--json lists all)",
                            highlight=False)
    for f in summary.rejected:
        console().print(f"[red]rejected[/red] {f.error}", highlight=False)
    t = summary.totals()
    dry = any(f.status == "checked" for f in summary.files)
    updated = (f", {t['updated_values']} stored values {'would change' if dry else 'changed'}"
               if t["updated_values"] else "")
    console().print(f"{t['files']} files: {t['nodes_created']} nodes and {t['edges_created']} "
                    f"edges added{updated}, {t['skipped_records']} records skipped, "
                    + (f"{t['skipped_files']} files skipped, " if t["skipped_files"] else "")
                    + f"{t['rejected']} files rejected"
                    + (f", restored: {t['restored']} datasets deleted earlier" if t["restored"]
                       else ""), highlight=False)


#: Changed values listed per file (``--json`` lists every one).
UPDATES_SHOWN = 20

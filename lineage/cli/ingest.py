"""Loading what observatories already have (docs/ingest.md), and the lookups on it:
calibrations valid for an exposure, regions that overlap."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lineage.cli.output import console, print_json, table
from lineage.ingest.driver import KINDS
from lineage.cli.common import Repo, UserError, call, cli, json_option, pairs, repo_option
from lineage.ingest.driver import ingest
from lineage.core.selector import parse_selector


@cli.command("ingest")
@click.argument("kind", metavar="KIND", type=click.Choice(KINDS))
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@repo_option
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="A setting for the reader, e.g. DRP_PIPE_DIR=DIR for pipeline imports.")
@click.option("--dry-run", is_flag=True, help="Read and check every file; write nothing.")
@json_option
def ingest_command(kind, paths, repo, variables, dry_run, as_json):
    """Read files of one KIND into the graph, each file all-or-nothing.

    KIND is one of: headers, butler-export, skymap, pipeline, run, efd, metrics.
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
                  f"{t['rejected']} files rejected", highlight=False)


#: Changed values listed per file (``--json`` lists every one).
UPDATES_SHOWN = 20


# --- flags (docs/flags.md) ----------------------------------------------------------


@cli.command("calibs")
@click.argument("selector")
@repo_option
@click.option("--collection", default=None,
              help="A CALIBRATION collection, or a chain holding some (default: all of them).")
@click.option("--type", "types", multiple=True, help="Only this dataset type (repeatable).")
@click.option("--at", "at", default=None, metavar="TIME",
              help="ISO time or MJD (default: the exposure's own timespan).")
@click.option("--scale", default="tai", show_default=True,
              type=click.Choice(["tai", "utc", "tt"]), help="Time scale of --at.")
@json_option
def calibs_command(selector, repo, collection, types, at, scale, as_json):
    """Calibrations valid for an exposure: SELECTOR is exposure=N or visit=N, optionally
    with instrument= and detector= (or a data-unit key)."""
    from lineage.dataunits.calibs import CalibError, valid_calibrations
    with Repo(repo) as store:
        try:
            rows = call(valid_calibrations, store, selector, at, collection, types, scale)
        except CalibError as exc:
            raise UserError(str(exc)) from None
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    def when(t, unbounded):  # 2013-05-07T00:00:00.000000000 -> 2013-05-07T00:00:00
        return t.rstrip("0").rstrip(".") if t and "." in t else t or unbounded
    table(f"calibrations valid for {selector}" + (f" at {at} ({scale})" if at else ""),
          ["dataset type", "data ID", "valid from (TAI)", "valid to (TAI)", "collection",
           "UUID"],
          [(r.dataset_type, r.data_id, when(r.valid_begin, "-inf"), when(r.valid_end, "+inf"),
            r.collection, r.key.split(":", 1)[1]) for r in rows],
          f"{len(rows)} calibrations (--json adds their runs)", fold=("data ID",))


@cli.command("overlaps")
@click.argument("selector")
@repo_option
@json_option
def overlaps_command(selector, repo, as_json):
    """Sky-map tracts and patches a visit's detectors overlap (visit=V[,detector=D]),
    or the visits and visit-detectors on a tract or patch (tract=T[,patch=P])."""
    from lineage.dataunits.regions import overlaps_of
    sel = call(parse_selector, selector)
    if not sel.pairs:
        raise UserError("give visit=V[,detector=D][,instrument=I] or tract=T[,patch=P][,skymap=S]")
    with Repo(repo) as store:
        try:
            rows = call(overlaps_of, store, dict(sel.pairs))
        except ValueError as exc:
            raise UserError(str(exc)) from None
    if as_json:
        print_json([{"observation": o, "sky_map_unit": t} for o, t in rows])
        return
    table(f"overlaps of {selector}", ["observation", "overlaps"], rows,
          f"{len(rows)} overlaps")

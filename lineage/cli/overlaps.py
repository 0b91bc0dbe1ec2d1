"""``lineage overlaps``: sky-map regions a visit overlaps, or the visits on a region
(docs/ingest.md)."""

from __future__ import annotations

import click

from lineage.cli.common import Repo, CliError, call, format_option, repo_option
from lineage.cli.output import Column, emit
from lineage.core.selector import parse_selector
from lineage.dataunits.regions import overlaps_of


@click.command("overlaps")
@click.argument("selector")
@repo_option
@format_option
def overlaps_command(selector, repo, fmt):
    """Sky-map tracts and patches a visit's detectors overlap (visit=V[,detector=D]),
    or the visits and visit-detectors on a tract or patch (tract=T[,patch=P])."""
    sel = call(parse_selector, selector)
    if not sel.pairs:
        raise CliError("give visit=V[,detector=D][,instrument=I] or tract=T[,patch=P][,skymap=S]")
    with Repo(repo) as store:
        rows = call(overlaps_of, store, dict(sel.pairs))
    emit(fmt, f"overlaps of {selector}", [{"observation": o, "sky_map_unit": t} for o, t in rows],
         [Column("observation", "observation"), Column("overlaps", "sky_map_unit")],
         f"{len(rows)} overlaps")

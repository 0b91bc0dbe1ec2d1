"""``lineage overlaps``: sky-map regions a visit overlaps, or the visits on a region;
and, from a sky map's stored geometry, the tracts and patches that contain a point
or where a tract's centre is (docs/ingest.md)."""

from __future__ import annotations

import click

from lineage.cli.common import Repo, CliError, call, format_option, repo_option
from lineage.cli.output import Column, emit
from lineage.core.selector import parse_selector
from lineage.dataunits.regions import overlaps_of
from lineage.dataunits.skymaps import tract_centre, tracts_containing


def _ra_dec(text: str) -> tuple[float, float]:
    try:
        ra, dec = (float(v) for v in text.split(","))
    except ValueError:
        raise CliError(f"--contains {text!r}: give RA,DEC in degrees (150.1,2.2)") from None
    return ra, dec


@click.command("overlaps")
@click.argument("selector", required=False)
@click.option("--contains", "contains", metavar="RA,DEC",
              help="the tracts and patches of --skymap that contain this point (degrees)")
@click.option("--centre", "centre", type=int, metavar="TRACT",
              help="the centre, ring and patch grid of this tract of --skymap")
@click.option("--skymap", help="the sky map of --contains or --centre (its geometry "
                               "stored by `lineage ingest skymap` of its configuration)")
@repo_option
@format_option
def overlaps_command(selector, contains, centre, skymap, repo, fmt):
    """Sky-map tracts and patches a visit's detectors overlap (visit=V[,detector=D]),
    or the visits and visit-detectors on a tract or patch (tract=T[,patch=P]);
    with --skymap, the tracts and patches containing a point (--contains RA,DEC) or a
    tract's centre (--centre TRACT)."""
    if contains is not None or centre is not None:
        if selector or skymap is None or (contains is not None) == (centre is not None):
            raise CliError("give --skymap NAME with one of --contains RA,DEC or "
                           "--centre TRACT, and no selector")
        with Repo(repo) as store:
            if centre is not None:
                row = call(tract_centre, store, skymap, centre)
                emit(fmt, f"tract {centre} of {skymap}", [row],
                     [Column(n, n) for n in ("tract", "centre_ra", "centre_dec", "ring",
                                             "index_in_ring", "patch_nx", "patch_ny")],
                     "centre in degrees (ICRS); ring -1 is the south cap, ring numRings the "
                     "north cap; a discrete sky map has no rings")
                return
            ra, dec = _ra_dec(contains)
            rows = call(tracts_containing, store, skymap, ra, dec)
        emit(fmt, f"{skymap} at RA {ra}, Dec {dec}", rows,
             [Column(n, n) for n in ("tract", "patch", "patch_x", "patch_y",
                                     "distance_from_centre_deg")],
             f"{len(rows)} tracts contain it (tracts overlap; the patch is the one whose "
             "inner box holds it)")
        return
    if not selector:
        raise CliError("give visit=V[,detector=D][,instrument=I] or tract=T[,patch=P][,skymap=S]")
    sel = call(parse_selector, selector)
    if not sel.pairs:
        raise CliError("give visit=V[,detector=D][,instrument=I] or tract=T[,patch=P][,skymap=S]")
    with Repo(repo) as store:
        rows = call(overlaps_of, store, dict(sel.pairs))
    emit(fmt, f"overlaps of {selector}", [{"observation": o, "sky_map_unit": t} for o, t in rows],
         [Column("observation", "observation"), Column("overlaps", "sky_map_unit")],
         f"{len(rows)} overlaps")

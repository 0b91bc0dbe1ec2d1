"""Sky regions of data units and the spatial relation ``OVERLAPS``.

A data unit with a sky region (a visit, a visit-detector, a tract, a patch)
keeps it as properties:

* ``region``: the region exactly as lsst.sphgeom encodes it (hex, the
  ``encoded`` text of a Butler export), so it can be decoded again;
* ``region_type`` (``ConvexPolygon`` ...), ``region_ra`` / ``region_dec``: the
  polygon's vertices in degrees (ICRS), for people and other tools;
* ``ra_min``, ``ra_max``, ``dec_min``, ``dec_max``: its bounding box in degrees
  (``ra_min > ra_max`` when it wraps through RA 0), for coarse Cypher filters.

``OVERLAPS`` runs from an observation unit (``visit``, ``visit_detector_region``)
to each sky-map unit (``tract``, ``patch``) whose region it overlaps.  Whichever
side is ingested second computes it (:func:`add_overlaps`), so the order of
``lineage ingest butler-export`` and ``lineage ingest skymap`` does not matter.
The geometry is lsst.sphgeom's: exact great-circle polygons on the unit sphere,
the same code the Butler uses for its own spatial joins.
"""

from __future__ import annotations

from functools import lru_cache

from lineage.core.errors import UserError
from lineage.core.model import GraphBatch, Rel
from lineage.dataunits.queries import overlaps_of_tract, overlaps_of_visit, regions_in_declination

#: Units whose regions are observations, and units whose regions tile the sky.
OBSERVATION_DIMENSIONS = ("visit", "visit_detector_region")
SKY_MAP_DIMENSIONS = ("tract", "patch")


@lru_cache(maxsize=65536)
def decode(encoded_hex: str):
    """The :class:`lsst.sphgeom.Region` of a stored ``region`` property."""
    from lsst.sphgeom import Region
    return Region.decode(bytes.fromhex(encoded_hex))


def region_props(encoded_hex: str) -> dict:
    """The properties that store one region (see the module docstring)."""
    from lsst.sphgeom import LonLat
    region = decode(encoded_hex)
    props = {"region": encoded_hex, "region_type": type(region).__name__}
    if hasattr(region, "getVertices"):
        points = [LonLat(v) for v in region.getVertices()]
        props["region_ra"] = [p.getLon().asDegrees() for p in points]
        props["region_dec"] = [p.getLat().asDegrees() for p in points]
    box = region.getBoundingBox()
    lon, lat = box.getLon(), box.getLat()
    props.update(ra_min=lon.getA().asDegrees(), ra_max=lon.getB().asDegrees(),
                 dec_min=lat.getA().asDegrees(), dec_max=lat.getB().asDegrees())
    return props


def overlaps(a_hex: str, b_hex: str) -> bool:
    """Whether two stored regions overlap (sphgeom; exact for polygons)."""
    return bool(decode(a_hex).overlaps(decode(b_hex)))


def _with_regions(batch: GraphBatch, dimensions) -> dict[str, str]:
    return {k: p["region"] for k, p in batch.nodes.items()
            if p.get("dimension") in dimensions and "region" in p}


def _stored_regions(store, dimensions, near: dict[str, str], exclude) -> dict[str, str]:
    """Stored units of these dimensions with regions, within the declination range of ``near``."""
    if not near:
        return {}
    lows, highs = [], []
    for encoded in near.values():
        box = decode(encoded).getBoundingBox().getLat()
        lows.append(box.getA().asDegrees())
        highs.append(box.getB().asDegrees())
    rows = regions_in_declination(store, dimensions, min(lows), max(highs))
    return {k: r for k, r in rows if k not in exclude}


def add_overlaps(batch: GraphBatch, store) -> int:
    """Add ``OVERLAPS`` edges for the regions in ``batch``, against each other and
    against the other side already stored; the number of edges added."""
    observed = _with_regions(batch, OBSERVATION_DIMENSIONS)
    tiles = _with_regions(batch, SKY_MAP_DIMENSIONS)
    stored_tiles = _stored_regions(store, SKY_MAP_DIMENSIONS, observed, tiles)
    stored_observed = _stored_regions(store, OBSERVATION_DIMENSIONS, tiles, observed)
    pairs = [(o, t) for o in observed for t in {**tiles, **stored_tiles}]
    pairs += [(o, t) for o in stored_observed for t in tiles]
    regions = {**observed, **tiles, **stored_tiles, **stored_observed}
    added = 0
    for o, t in pairs:
        if overlaps(regions[o], regions[t]):
            batch.add_edge(Rel.OVERLAPS, o, t)
            added += 1
    return added


def overlaps_of(store, pairs: dict[str, str]) -> list[tuple[str, str]]:
    """(observation unit, sky-map unit) pairs with an ``OVERLAPS`` edge, for
    ``visit=V[,detector=D][,instrument=I]`` or ``tract=T[,patch=P][,skymap=S]``."""
    pairs = dict(pairs)
    if "visit" in pairs:
        which = "visit_detector_region" if "detector" in pairs else "visit"
        scope, known = pairs.get("instrument", ""), {"visit", "detector", "instrument"}
        prefix = f"unit:visit:{scope}/" if scope else "unit:visit:"
    elif "tract" in pairs:
        which = "patch" if "patch" in pairs else "tract"
        scope, known = pairs.get("skymap", ""), {"tract", "patch", "skymap"}
        prefix = f"unit:{which}:{scope}/" if scope else f"unit:{which}:"
    else:
        raise UserError("give visit=V[,detector=D][,instrument=I] or "
                         "tract=T[,patch=P][,skymap=S]")
    extra = set(pairs) - known
    if extra:
        raise UserError(f"cannot combine {', '.join(sorted(extra))} with {which}")
    if "visit" in pairs:
        rows = overlaps_of_visit(store, pairs["visit"], prefix, pairs.get("detector"))
    else:
        rows = overlaps_of_tract(store, pairs["tract"], prefix, pairs.get("patch"))
    return sorted({(o, t) for o, t in rows})

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

from .model import GraphBatch, Rel

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
    rows = store.read(
        "MATCH (u:DataUnit) WHERE u.dimension IN $dims AND u.region IS NOT NULL "
        "AND u.dec_max >= $lo AND u.dec_min <= $hi RETURN u.key, u.region",
        {"dims": list(dimensions), "lo": min(lows), "hi": max(highs)})
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


def overlapping(store, selector_key: str) -> list[tuple[str, str]]:
    """(observation unit, sky-map unit) pairs stored for a visit or visit-detector key,
    or for a tract or patch key (then the observations on it)."""
    rows = store.read(
        "MATCH (u:DataUnit {key: $k}) "
        "OPTIONAL MATCH (u)-[:OVERLAPS]->(t:DataUnit) "
        "OPTIONAL MATCH (o:DataUnit)-[:OVERLAPS]->(u) "
        "RETURN collect(DISTINCT t.key), collect(DISTINCT o.key)", {"k": selector_key})
    if not rows:
        return []
    out_keys, in_keys = rows[0]
    return sorted([(selector_key, t) for t in out_keys if t] +
                  [(o, selector_key) for o in in_keys if o])

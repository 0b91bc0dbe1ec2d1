"""Independent readings of Butler export files and sky regions, for the tests.

Nothing here uses lineage's readers: tags are kept as ``Tagged`` values, times
are converted with astropy here, and regions are decoded with ``struct`` and
intersected with plain numpy vector algebra (not lsst.sphgeom).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml


@dataclass(frozen=True)
class Tagged:
    tag: str
    value: object


class _AnyTagLoader(yaml.SafeLoader):
    # only YAML's own tags: lsst.sphgeom, once imported, registers its region
    # constructors on SafeLoader itself, and this reading must not use them
    yaml_constructors = {k: v for k, v in yaml.SafeLoader.yaml_constructors.items()
                         if k is None or k.startswith("tag:yaml.org,2002:")}


def _keep(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return Tagged(node.tag, loader.construct_scalar(node))
    if isinstance(node, yaml.MappingNode):
        return Tagged(node.tag, loader.construct_mapping(node, deep=True))
    return Tagged(node.tag, loader.construct_sequence(node, deep=True))


_AnyTagLoader.add_multi_constructor("!", _keep)
_AnyTagLoader.add_multi_constructor("lsst.", _keep)


def load(path: Path) -> dict:
    with open(path) as f:
        return yaml.load(f, Loader=_AnyTagLoader)


def entries(path: Path, kind: str) -> list[dict]:
    return [e for e in load(path)["data"] if e["type"] == kind]


def file_counts(path: Path) -> dict[str, int]:
    """What an export holds, counted the plain way."""
    doc = load(path)["data"]
    counts = {
        "dimension records": sum(len(e["records"]) for e in doc if e["type"] == "dimension"),
        "collections": sum(1 for e in doc if e["type"] in ("collection", "run")),
        "dataset types": sum(1 for e in doc if e["type"] == "dataset_type"),
        "datasets": sum(len(r["dataset_id"]) for e in doc if e["type"] == "dataset"
                        for r in e["records"]),
        "associations": sum(len(v["dataset_ids"]) for e in doc if e["type"] == "associations"
                            for v in e.get("validity_ranges", [])) +
        sum(len(e.get("dataset_ids", [])) for e in doc if e["type"] == "associations"),
    }
    return {k: v for k, v in counts.items() if v}


def plain_id(value) -> str:
    return str(value.value) if isinstance(value, Tagged) else str(value)


def tai_mjd(value) -> float | None:
    """TAI MJD of a tagged TAI time, or of a native YAML timestamp (UTC)."""
    from astropy.time import Time
    if value is None:
        return None
    if isinstance(value, Tagged):
        assert value.tag == "!butler_time/tai/iso"
        return Time(value.value, scale="tai").tai.mjd
    return Time(value, scale="utc").tai.mjd


# --- regions ----------------------------------------------------------------------

def polygon_vertices(region: Tagged) -> np.ndarray:
    """Unit vectors of a sphgeom ConvexPolygon encoding: 0x70, then x, y, z doubles."""
    raw = bytes.fromhex(region.value["encoded"])
    assert raw[0] == 0x70, "not a ConvexPolygon encoding"
    n = (len(raw) - 1) // 24
    return np.array(struct.unpack(f"<{3 * n}d", raw[1:1 + 24 * n])).reshape(n, 3)


def ra_dec(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ra = np.degrees(np.arctan2(vertices[:, 1], vertices[:, 0])) % 360.0
    dec = np.degrees(np.arcsin(np.clip(vertices[:, 2] / np.linalg.norm(vertices, axis=1), -1, 1)))
    return ra, dec


def _any_inside(points: np.ndarray, poly: np.ndarray) -> bool:
    """Whether any of ``points`` lies in the convex polygon (inside every edge's half)."""
    inward = np.cross(poly, np.roll(poly, -1, axis=0))
    return bool(np.any(np.all(points @ inward.T >= -1e-15, axis=1)))


def _arcs_cross(a0, a1, b0, b1) -> bool:
    na, nb = np.cross(a0, a1), np.cross(b0, b1)
    x = np.cross(na, nb)
    if np.linalg.norm(x) < 1e-15:
        return False
    for c in (x, -x):
        on_a = np.dot(np.cross(a0, c), na) >= 0 and np.dot(np.cross(c, a1), na) >= 0
        on_b = np.dot(np.cross(b0, c), nb) >= 0 and np.dot(np.cross(c, b1), nb) >= 0
        if on_a and on_b:
            return True
    return False


def _cap(poly: np.ndarray) -> tuple[np.ndarray, float]:
    """A circle holding the polygon: centre (unit vector) and angular radius."""
    centre = poly.mean(axis=0)
    centre /= np.linalg.norm(centre)
    return centre, float(np.max(np.arccos(np.clip(poly @ centre, -1, 1))))


def polygons_overlap(p: np.ndarray, q: np.ndarray) -> bool:
    """Two convex spherical polygons (counter-clockwise unit vectors) share area."""
    (cp, rp), (cq, rq) = _cap(p), _cap(q)
    if np.arccos(np.clip(cp @ cq, -1, 1)) > rp + rq + 1e-12:
        return False
    if _any_inside(p, q) or _any_inside(q, p):
        return True
    return any(_arcs_cross(p[i], p[(i + 1) % len(p)], q[j], q[(j + 1) % len(q)])
               for i in range(len(p)) for j in range(len(q)))


def region_records(path: Path, elements) -> dict[str, np.ndarray]:
    """Unit key -> polygon vertices for the records of ``elements`` that have regions."""
    out = {}
    for e in entries(path, "dimension"):
        if e["element"] not in elements:
            continue
        for r in e["records"]:
            if "region" not in r:
                continue
            el = e["element"]
            if el == "visit_detector_region":
                key = f"unit:{el}:{r['instrument']}/{r['visit']}/{r['detector']}"
            elif el == "visit":
                key = f"unit:visit:{r['instrument']}/{r['id']}"
            elif el == "tract":
                key = f"unit:tract:{r['skymap']}/{r['id']}"
            else:
                key = f"unit:patch:{r['skymap']}/{r['tract']}/{r['id']}"
            out[key] = polygon_vertices(r["region"])
    return out


def expected_overlaps(observations: dict, tiles: dict) -> set[tuple[str, str]]:
    return {(o, t) for o, ov in observations.items() for t, tv in tiles.items()
            if polygons_overlap(ov, tv)}

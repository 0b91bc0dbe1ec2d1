"""Sky-map geometry computed from a sky-map configuration, as lsst.skymap builds it.

lsst-skymap is not on PyPI, so this is our own implementation of its published
algorithm (``RingsSkyMap``, ``DiscreteSkyMap``, ``ExplicitTractInfo`` and the
legacy and cell tract builders), with astropy for the projection:

* **Rings.** The sphere is cut into ``numRings`` rings of declination plus two
  polar caps; the caps count as one more ring, so a ring is ``180 / (numRings + 1)``
  degrees high.  Ring ``i`` (0 the southernmost) is divided in RA into
  ``int(2 pi cos(dec) / ring size) + 1`` tracts, ``dec`` the ring's edge nearest
  the equator.  Tract 0 is the south cap, tract 1 the first tract of ring 0 at
  ``raStart``, numbering runs east round each ring and then north, and the last
  tract is the north cap.  A tract's centre is at the middle declination of its
  ring, RA ``raStart + 360 * index / tracts in ring``; its half size is half a ring.
* **Discrete.** One tract per (``raList``, ``decList``, ``radiusList``) entry,
  centred there, of half size its radius.
* **A tract** has a WCS of the sky map's zenithal projection (TAN, STG...) centred on
  its centre, ``pixelScale`` arcsec per pixel, RA increasing to the left.  Its
  pixel box holds the four points ``half size + tractOverlap`` from the centre
  (north, east, south, west), grown to whole patches of ``patchInnerDimensions``
  and shifted so its first pixel is (0, 0).  Its region (the ``tract`` record's
  polygon in a Butler export) is that box's outer corners (pixel edges, half a
  pixel beyond the first and last pixel centres) on the sky.
* **A patch** ``(x, y)`` is pixels ``[x * width, (x + 1) * width)`` by
  ``[y * height, ...)`` of its tract; its sequential index is ``y * nx + x``; its
  outer box grows by ``patchBorder`` pixels (clipped to the tract for the legacy
  builder, not for the cell builder, whose border is
  ``numCellsInPatchBorder * cell size + cellBorder``).

:class:`SkyMapGeometry` is built from one entry of a configs file
(``skymap_configs.json``: lsst.skymap's field names with unit suffixes,
``pixelScale_arcsec``, ``tractOverlap_deg``) by :func:`geometry_from_config`, and
again from the properties it stores on a sky map's data unit
(:meth:`SkyMapGeometry.unit_props`, :func:`geometry_from_props`), which is how
``lineage overlaps --contains`` answers without the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

from lineage.core.errors import UserError
from lineage.core.model import unit_key

#: lsst.skymap's defaults (``BaseSkyMapConfig``, ``RingsSkyMapConfig``, the tract builders).
DEFAULTS = {"projection": "STG", "pixelScale_arcsec": 0.333, "tractOverlap_deg": 1.0,
            "rotation_deg": 0.0, "raStart_deg": 0.0, "tractBuilder": "legacy",
            "patchInnerDimensions": [4000, 4000], "patchBorder": 100}
CELL_DEFAULTS = {"cellInnerDimensions": [150, 150], "cellBorder": 50,
                 "numCellsPerPatchInner": 20, "numCellsInPatchBorder": 1}

#: The zenithal projections lsst.skymap's sky maps use, as the radius (radians) at which a
#: point ``t`` radians from the tract centre lies in the projection plane (FITS WCS paper II).
ZENITHAL_RADIUS = {"TAN": math.tan, "STG": lambda t: 2 * math.tan(t / 2),
                   "ZEA": lambda t: 2 * math.sin(t / 2), "ARC": lambda t: t, "SIN": math.sin}

#: How far a computed tract corner may lie from an exported one and still agree (arcsec):
#: a thousandth of an HSC pixel; the real samples agree to 1e-8 arcsec.
AGREEMENT_ARCSEC = 1e-3


@dataclass(frozen=True)
class Tract:
    """One tract: its id, ring and index in the ring (rings: -1 and ``numRings`` are
    the polar caps, index 0; discrete: no ring, the index is the id), centre (degrees), half size (degrees) and the pixel box
    of its WCS (``crpix``: the centre's 0-based pixel) in whole patches."""

    id: int
    ring: int | None            # None: a discrete sky map has no rings
    index_in_ring: int
    ra: float
    dec: float
    half_size_deg: float
    crpix: tuple[float, float]
    size: tuple[int, int]
    patches: tuple[int, int]


@dataclass(frozen=True)
class SkyMapGeometry:
    """A rings or discrete sky map's configuration and the tracts it defines."""

    name: str
    kind: str                       # "rings" or "discrete"
    projection: str
    pixel_scale_arcsec: float
    tract_overlap_deg: float
    patch_inner: tuple[int, int]
    patch_border: int
    clip_patches: bool              # the legacy builder clips a patch's border to its tract
    tract_builder: str
    num_rings: int = 0
    ra_start_deg: float = 0.0
    centres: tuple = ()             # discrete: ((ra, dec, radius) degrees, ...)
    #: Values this configuration left to lsst.skymap's defaults, for the report.
    defaulted: tuple = field(default=(), compare=False)

    # --- rings -------------------------------------------------------------------

    @cached_property
    def ring_size_deg(self) -> float:
        return 180.0 / (self.num_rings + 1)

    @cached_property
    def tracts_per_ring(self) -> tuple[int, ...]:
        size = math.radians(self.ring_size_deg)
        counts = []
        for ring in range(self.num_rings):
            start = size * (ring + 0.5) - math.pi / 2
            nearest_equator = min(abs(start), abs(start + size))
            counts.append(int(2 * math.pi * math.cos(nearest_equator) / size) + 1)
        return tuple(counts)

    @cached_property
    def tract_count(self) -> int:
        if self.kind == "rings":
            return sum(self.tracts_per_ring) + 2
        return len(self.centres)

    def ring_of(self, tract_id: int) -> tuple[int, int]:
        """(ring, index in ring) of a rings tract."""
        if tract_id == 0:
            return -1, 0
        if tract_id == self.tract_count - 1:
            return self.num_rings, 0
        index = tract_id - 1
        for ring, count in enumerate(self.tracts_per_ring):
            if index < count:
                return ring, index
            index -= count
        raise UserError(f"tract {tract_id} is not in sky map {self.name} "
                        f"(0 to {self.tract_count - 1})", field="tract")

    def _centre(self, tract_id: int) -> tuple[int, int, float, float, float]:
        if self.kind == "discrete":
            if not 0 <= tract_id < len(self.centres):
                raise UserError(f"tract {tract_id} is not in sky map {self.name} "
                                f"(0 to {len(self.centres) - 1})", field="tract")
            ra, dec, radius = self.centres[tract_id]
            return None, tract_id, ra, dec, radius
        if not 0 <= tract_id < self.tract_count:
            raise UserError(f"tract {tract_id} is not in sky map {self.name} "
                            f"(0 to {self.tract_count - 1})", field="tract")
        ring, index = self.ring_of(tract_id)
        half = self.ring_size_deg / 2
        if ring == -1:
            return ring, index, 0.0, -90.0, half
        if ring == self.num_rings:
            return ring, index, 0.0, 90.0, half
        dec = self.ring_size_deg * (ring + 1) - 90.0
        ra = (self.ra_start_deg + 360.0 * index / self.tracts_per_ring[ring]) % 360.0
        return ring, index, ra, dec, half

    # --- tracts and patches ------------------------------------------------------

    def tract(self, tract_id: int) -> Tract:
        """The tract ``tract_id`` with its pixel box (see the module docstring)."""
        ring, index, ra, dec, half = self._centre(tract_id)
        # The projection is zenithal: a point at angle t from the centre lies at radius
        # R(t) in the direction it lies on the sky, so the four points north, east, south
        # and west fall on the pixel axes at +-R(half size + overlap).
        reach = ZENITHAL_RADIUS[self.projection](math.radians(half + self.tract_overlap_deg))
        reach_pixels = math.degrees(reach) * 3600.0 / self.pixel_scale_arcsec
        origin, size, patches = [], [], []
        for inner in self.patch_inner:                 # x, then y
            first = math.floor(-reach_pixels + 0.5)    # the pixels the box touches
            width = math.ceil(reach_pixels - 0.5) - first + 1
            count = -(-width // inner)
            first -= (inner * count - width) // 2      # grown to whole patches, centred
            origin.append(first)
            size.append(inner * count)
            patches.append(count)
        return Tract(tract_id, ring, index, ra, dec, half,
                     (-origin[0], -origin[1]), tuple(size), tuple(patches))

    def _wcs(self, ra: float, dec: float, crpix: tuple[float, float]):
        """The tract WCS: 0-based pixel ``crpix`` at (ra, dec)."""
        from astropy.wcs import WCS
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = [f"RA---{self.projection}", f"DEC--{self.projection}"]
        wcs.wcs.crval = [ra, dec]
        wcs.wcs.crpix = [crpix[0] + 1, crpix[1] + 1]
        scale = self.pixel_scale_arcsec / 3600.0
        wcs.wcs.cd = [[-scale, 0.0], [0.0, scale]]
        wcs.wcs.radesys = "ICRS"
        return wcs

    def tract_wcs(self, tract: Tract):
        return self._wcs(tract.ra, tract.dec, tract.crpix)

    def corners(self, tract: Tract, box=None) -> list[tuple[float, float]]:
        """(RA, Dec) degrees of the outer corners of a pixel box of the tract
        (``(x0, y0, x1, y1)``, last pixel included; None: the whole tract),
        counter-clockwise from the lower left as lsst.skymap lists them."""
        x0, y0, x1, y1 = box or (0, 0, tract.size[0] - 1, tract.size[1] - 1)
        pixels = [(x0 - 0.5, y0 - 0.5), (x1 + 0.5, y0 - 0.5), (x1 + 0.5, y1 + 0.5),
                  (x0 - 0.5, y1 + 0.5)]
        return [(float(r), float(d)) for r, d in
                self.tract_wcs(tract).wcs_pix2world(pixels, 0)]

    def patch_box(self, tract: Tract, x: int, y: int, outer: bool = True):
        """The pixel box ``(x0, y0, x1, y1)`` of patch (x, y): inner, or with its border."""
        if not (0 <= x < tract.patches[0] and 0 <= y < tract.patches[1]):
            raise UserError(f"patch ({x}, {y}) is not in tract {tract.id} "
                            f"({tract.patches[0]} x {tract.patches[1]} patches)", field="patch")
        width, height = self.patch_inner
        box = [x * width, y * height, (x + 1) * width - 1, (y + 1) * height - 1]
        if outer:
            box = [box[0] - self.patch_border, box[1] - self.patch_border,
                   box[2] + self.patch_border, box[3] + self.patch_border]
            if self.clip_patches:
                box = [max(box[0], 0), max(box[1], 0), min(box[2], tract.size[0] - 1),
                       min(box[3], tract.size[1] - 1)]
        return tuple(box)

    def pixel_of(self, tract: Tract, ra: float, dec: float) -> tuple[int, int] | None:
        """The pixel of the tract that holds (ra, dec), or None when it is off the tract."""
        import numpy as np
        if _separation(tract.ra, tract.dec, ra, dec) >= 90.0:
            return None                     # the far hemisphere has no TAN pixel
        x, y = self.tract_wcs(tract).wcs_world2pix([[ra, dec]], 0)[0]
        if not (np.isfinite(x) and np.isfinite(y)):
            return None
        px, py = math.floor(x + 0.5), math.floor(y + 0.5)
        if 0 <= px < tract.size[0] and 0 <= py < tract.size[1]:
            return px, py
        return None

    def candidate_tracts(self, ra: float, dec: float) -> list[int]:
        """Tracts that may hold (ra, dec): for rings its ring and the next ones, each
        with its neighbours in RA, and both caps; for discrete every tract."""
        if self.kind == "discrete":
            return list(range(self.tract_count))
        first_edge = self.ring_size_deg / 2 - 90.0
        ring = math.floor((dec - first_edge) / self.ring_size_deg)
        found = {0, self.tract_count - 1}
        for r in (ring - 1, ring, ring + 1):
            if not 0 <= r < self.num_rings:
                continue
            count = self.tracts_per_ring[r]
            nearest = int(((ra - self.ra_start_deg) % 360.0) / (360.0 / count) + 0.5)
            for t in (nearest - 1, nearest, nearest + 1):
                found.add(1 + sum(self.tracts_per_ring[:r]) + t % count)
        return sorted(found)

    def containing(self, ra: float, dec: float) -> list[tuple[Tract, tuple[int, int]]]:
        """Every (tract, (patch x, patch y)) whose tract holds (ra, dec), the patch the
        one whose inner box holds it (tracts overlap, so a point can be in several)."""
        found = []
        for tract_id in self.candidate_tracts(ra, dec):
            tract = self.tract(tract_id)
            pixel = self.pixel_of(tract, ra, dec)
            if pixel is not None:
                found.append((tract, (pixel[0] // self.patch_inner[0],
                                      pixel[1] // self.patch_inner[1])))
        return found

    # --- stored form -------------------------------------------------------------

    def unit_props(self) -> dict:
        """The sky map's data-unit properties: its configuration and what follows from it."""
        props = {"skymap_kind": self.kind, "projection": self.projection,
                 "pixel_scale_arcsec": self.pixel_scale_arcsec,
                 "tract_overlap_deg": self.tract_overlap_deg,
                 "patch_inner_x": self.patch_inner[0], "patch_inner_y": self.patch_inner[1],
                 "patch_border": self.patch_border, "tract_builder": self.tract_builder,
                 "patch_border_clipped": self.clip_patches, "tract_count": self.tract_count}
        if self.kind == "rings":
            props.update(num_rings=self.num_rings, ra_start_deg=self.ra_start_deg,
                         ring_size_deg=self.ring_size_deg,
                         tracts_per_ring=list(self.tracts_per_ring))
        else:
            props.update(tract_ra=[c[0] for c in self.centres],
                         tract_dec=[c[1] for c in self.centres],
                         tract_radius_deg=[c[2] for c in self.centres])
        return props


def tract_props(tract: Tract) -> dict:
    """A tract unit's computed properties: centre, ring, index, size and patch grid."""
    props = {"centre_ra": tract.ra, "centre_dec": tract.dec, "half_size_deg": tract.half_size_deg,
             "width_pixels": tract.size[0], "height_pixels": tract.size[1],
             "patch_nx": tract.patches[0], "patch_ny": tract.patches[1]}
    if tract.ring is not None:
        props.update(ring=tract.ring, index_in_ring=tract.index_in_ring)
    return props


def _separation(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angle between two points, degrees (the haversine form, exact for small angles)."""
    p1, p2, dl = math.radians(dec1), math.radians(dec2), math.radians(ra2 - ra1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


def separation_arcsec(a: tuple[float, float], b: tuple[float, float]) -> float:
    return _separation(a[0], a[1], b[0], b[1]) * 3600.0


def check_exported_tract(geometry: SkyMapGeometry, tract: Tract, region_ra,
                         region_dec) -> tuple[float, str | None]:
    """How far (arcsec, to the micro-arcsecond) an exported tract region's corners lie from
    the computed ones, and a warning when that is beyond :data:`AGREEMENT_ARCSEC`.  Rounded:
    a geometry read back from the graph (FalkorDB keeps 15 digits) differs by 1e-9 arcsec,
    and a second ingest must find the same value."""
    distance = round(max_corner_distance(geometry.corners(tract),
                                         list(zip(region_ra, region_dec))), 6)
    if distance <= AGREEMENT_ARCSEC:
        return distance, None
    return distance, (f"tract {tract.id} of {geometry.name}: the exported region is "
                      f"{distance:.3g} arcsec from the one computed from its configuration "
                      f"(tolerance {AGREEMENT_ARCSEC} arcsec)")


def max_corner_distance(computed, exported) -> float:
    """The largest distance (arcsec) from an exported vertex to its nearest computed corner,
    and from a computed corner to its nearest exported vertex."""
    one = max(min(separation_arcsec(e, c) for c in computed) for e in exported)
    other = max(min(separation_arcsec(c, e) for e in exported) for c in computed)
    return max(one, other)


# --- reading a configuration -----------------------------------------------------

def _number(name: str, config: dict, key: str, kind=float, defaulted=None):
    if key not in config:
        if defaulted is not None:
            defaulted.append(key)
        return kind(DEFAULTS[key]) if key in DEFAULTS else None
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"sky map {name}: {key} is {value!r}, not a number", field=key)
    if kind is int and value != int(value):
        raise UserError(f"sky map {name}: {key} is {value!r}, not a whole number", field=key)
    return kind(value)


def geometry_from_config(name: str, config: dict) -> SkyMapGeometry:
    """The geometry of one sky-map definition (an entry of ``skymap_configs.json``);
    a value it does not give is lsst.skymap's default, listed in ``defaulted``."""
    kind = config.get("skyMap")
    if kind not in ("rings", "discrete"):
        raise UserError(f"sky map {name}: skyMap is {kind!r}; this reads 'rings' and "
                        "'discrete'", field="skyMap")
    defaulted: list[str] = []
    projection = config.get("projection")
    if projection is None:
        defaulted.append("projection")
        projection = DEFAULTS["projection"]
    if projection not in ZENITHAL_RADIUS:
        raise UserError(f"sky map {name}: projection {projection!r} is not one of the "
                        f"zenithal projections {', '.join(ZENITHAL_RADIUS)}", field="projection")
    rotation = _number(name, config, "rotation_deg", float, [])
    if rotation:
        raise UserError(f"sky map {name}: rotation_deg {rotation} is not 0; only unrotated "
                        "sky maps are computed", field="rotation_deg")
    builder = config.get("tractBuilder")
    if builder is None:
        defaulted.append("tractBuilder")
        builder = DEFAULTS["tractBuilder"]
    if builder == "legacy":
        inner = config.get("patchInnerDimensions")
        if inner is None:
            defaulted.append("patchInnerDimensions")
            inner = DEFAULTS["patchInnerDimensions"]
        border = _number(name, config, "patchBorder", int, defaulted)
    elif builder == "cells":
        cells = {**CELL_DEFAULTS, **config.get("cells", config.get("cells_defaults", {}))}
        cell = cells["cellInnerDimensions"]
        inner = [c * int(cells["numCellsPerPatchInner"]) for c in cell]
        border = int(cells["numCellsInPatchBorder"]) * int(cell[0]) + int(cells["cellBorder"])
    else:
        raise UserError(f"sky map {name}: tractBuilder {builder!r} is neither 'legacy' nor "
                        "'cells'", field="tractBuilder")
    if (not isinstance(inner, list) or len(inner) != 2
            or not all(isinstance(v, int) and v > 0 for v in inner)):
        raise UserError(f"sky map {name}: patchInnerDimensions {inner!r} is not two positive "
                        "whole numbers", field="patchInnerDimensions")
    common = dict(name=name, kind=kind, projection=projection,
                  pixel_scale_arcsec=_number(name, config, "pixelScale_arcsec", float, defaulted),
                  tract_overlap_deg=_number(name, config, "tractOverlap_deg", float, defaulted),
                  patch_inner=(inner[0], inner[1]), patch_border=border,
                  clip_patches=builder == "legacy", tract_builder=builder)
    if kind == "rings":
        rings = _number(name, config, "numRings", int)
        if rings is None or rings < 1:
            raise UserError(f"sky map {name}: numRings must be a whole number above 0",
                            field="numRings")
        return SkyMapGeometry(num_rings=rings, defaulted=tuple(defaulted),
                              ra_start_deg=_number(name, config, "raStart_deg", float, defaulted),
                              **common)
    lists = [config.get(k) for k in ("raList_deg", "decList_deg", "radiusList_deg")]
    if (not all(isinstance(v, list) for v in lists) or len({len(v) for v in lists}) != 1
            or not lists[0]):
        raise UserError(f"sky map {name}: raList_deg, decList_deg and radiusList_deg must be "
                        "lists of the same, non-zero length", field="raList_deg")
    return SkyMapGeometry(centres=tuple(zip(*lists)), defaulted=tuple(defaulted), **common)


def geometry_from_props(name: str, props: dict) -> SkyMapGeometry:
    """The geometry again from a sky map unit's stored properties (:meth:`unit_props`)."""
    if props.get("skymap_kind") not in ("rings", "discrete"):
        raise UserError(f"sky map {name} has no stored geometry: ingest its configuration "
                        "(skymap_configs.json) with the skymap kind", field="skymap")
    common = dict(name=name, kind=props["skymap_kind"], projection=props["projection"],
                  pixel_scale_arcsec=props["pixel_scale_arcsec"],
                  tract_overlap_deg=props["tract_overlap_deg"],
                  patch_inner=(props["patch_inner_x"], props["patch_inner_y"]),
                  patch_border=props["patch_border"], clip_patches=props["patch_border_clipped"],
                  tract_builder=props["tract_builder"])
    if props["skymap_kind"] == "rings":
        return SkyMapGeometry(num_rings=props["num_rings"], ra_start_deg=props["ra_start_deg"],
                              **common)
    return SkyMapGeometry(centres=tuple(zip(props["tract_ra"], props["tract_dec"],
                                            props["tract_radius_deg"])), **common)


# --- questions -------------------------------------------------------------------

def stored_geometry(store, skymap: str) -> SkyMapGeometry | None:
    """The geometry of a sky map from its stored unit (ingested from a configuration);
    None when no configuration of it is stored."""
    key = unit_key("skymap", skymap)
    props = store.nodes("DataUnit", [key]).get(key)
    if props is None or "skymap_kind" not in props:
        return None
    return geometry_from_props(skymap, props)


def _geometry_to_ask(store, skymap: str) -> SkyMapGeometry:
    geometry = stored_geometry(store, skymap)
    if geometry is None:
        key = unit_key("skymap", skymap)
        if store.nodes("DataUnit", [key]).get(key) is None:
            raise UserError(f"{skymap!r}: no sky map of that name is stored", field="skymap")
        raise UserError(f"{skymap!r}: no geometry is stored for this sky map: ingest its "
                        "configuration (skymap_configs.json) with the skymap kind",
                        field="skymap")
    return geometry


def tracts_containing(store, skymap: str, ra: float, dec: float) -> list[dict]:
    """Which tracts and patches of a stored sky map contain (ra, dec) degrees: one row per
    tract holding it (tracts overlap), with the patch whose inner box holds it."""
    if not (-90.0 <= dec <= 90.0):
        raise UserError(f"declination {dec} is not between -90 and 90", field="contains")
    geometry = _geometry_to_ask(store, skymap)
    rows = []
    for tract, (x, y) in geometry.containing(ra % 360.0, dec):
        rows.append({"skymap": skymap, "tract": tract.id,
                     "patch": y * tract.patches[0] + x, "patch_x": x, "patch_y": y,
                     "tract_key": unit_key("tract", tract.id, (skymap,)),
                     "distance_from_centre_deg": _separation(tract.ra, tract.dec, ra, dec)})
    return sorted(rows, key=lambda r: r["distance_from_centre_deg"])


def tract_centre(store, skymap: str, tract_id: int) -> dict:
    """Where tract ``tract_id`` of a stored sky map is: its stored centre, ring, index in
    the ring and patch grid."""
    key = unit_key("tract", tract_id, (skymap,))
    props = store.nodes("DataUnit", [key]).get(key)
    if props is None or "centre_ra" not in props:
        _geometry_to_ask(store, skymap)         # says when the sky map itself is missing
        raise UserError(f"{tract_id}: sky map {skymap} has no such tract", field="centre")
    return {"skymap": skymap, "tract": tract_id, "centre_ra": props["centre_ra"],
            "centre_dec": props["centre_dec"], "ring": props.get("ring"),
            "index_in_ring": props.get("index_in_ring"), "patch_nx": props["patch_nx"],
            "patch_ny": props["patch_ny"], "tract_key": key}

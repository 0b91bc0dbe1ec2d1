"""The Cypher of the data-unit lookups (visits, calibrations, regions, selector
resolution): one function per query, rows as named tuples.

The modules beside this one keep the logic (matching data IDs, validity
ranges, geometry); the graph is read only here.
"""

from __future__ import annotations

from typing import NamedTuple

from lineage.store.base import KeyedNode, NodeFilter, Store


# --- exposures and calibrations (calibs.py) ------------------------------------------

def data_units_with_key(store: Store, key: str) -> list[str]:
    """``[key]`` if a data unit with that key is stored, else ``[]``."""
    return [r[0] for r in store.read("MATCH (u:DataUnit {key: $k}) RETURN u.key", {"k": key})]


def data_units_of_value(store: Store, dimension: str, value, key_prefix: str = "") -> list[str]:
    """Keys of the ``dimension`` units whose value is ``value``, of any instrument or sky
    map, or only those whose key starts with ``key_prefix`` (``unit:exposure:DemoCam/``)."""
    where = "WHERE u.key STARTS WITH $p " if key_prefix else ""
    return [r[0] for r in store.read(f"MATCH (u:DataUnit {{dimension: $d, value: $v}}) "
                                     f"{where}RETURN u.key",
                                     {"d": dimension, "v": value, "p": key_prefix})]


class ExposureFilterRow(NamedTuple):
    """An exposure's (or visit's) time span and the filter it was taken through."""

    mjd_begin: float | None
    mjd_end: float | None
    physical_filter: str | None
    filter_band: str | None      # the physical filter's ``band`` property
    band: str | None             # the band unit the physical filter is part of


def exposure_filter(store: Store, key: str) -> ExposureFilterRow:
    """Time span and filter of the stored exposure or visit ``key``."""
    return ExposureFilterRow(*store.read(
        "MATCH (u:DataUnit {key: $k}) "
        "OPTIONAL MATCH (u)-[:PART_OF]->(f:DataUnit {dimension: 'physical_filter'}) "
        "OPTIONAL MATCH (f)-[:PART_OF]->(b:DataUnit {dimension: 'band'}) "
        "RETURN u.mjd_begin, u.mjd_end, f.value, f.band, b.value", {"k": key})[0])


def calibration_collection_keys(store: Store) -> list[str]:
    """Keys of every CALIBRATION collection."""
    return [r[0] for r in store.read(
        "MATCH (c:Collection {collection_type: 'CALIBRATION'}) RETURN c.key")]


class CollectionChainRow(NamedTuple):
    """A collection and the collections its chain reaches (up to 10 links down)."""

    key: str
    collection_type: str
    chained_keys: list[str]
    chained_types: list[str]


def collection_and_chained(store: Store, name: str) -> CollectionChainRow | None:
    """The collection named ``name`` with what it chains (None: no such collection)."""
    rows = store.read("MATCH (c:Collection {name: $n}) "
                      "OPTIONAL MATCH (c)-[:CHAINS*1..10]->(x:Collection) "
                      "RETURN c.key, c.collection_type, collect(x.key), "
                      "collect(x.collection_type)", {"n": name})
    return CollectionChainRow(*rows[0]) if rows else None


class CertifiedRow(NamedTuple):
    """A dataset certified in a CALIBRATION collection, with its validity range (ISO, TAI)."""

    collection: str     # the collection's name
    key: str
    dataset_type: str
    data_id: str
    run: str
    valid_begin: str | None
    valid_end: str | None


def certified_datasets(store: Store, collection_keys: list[str],
                       types=None) -> list[CertifiedRow]:
    """Every dataset the collections ``collection_keys`` contain (of ``types`` if given),
    with the validity range of its ``CONTAINS`` edge; not deleted ones (a deleted
    calibration is no longer there to use: docs/retention.md)."""
    query = ("MATCH (c:Collection)-[e:CONTAINS]->(d:Dataset) WHERE c.key IN $colls "
             "AND d.deleted_at IS NULL "
             + ("AND d.dataset_type IN $types " if types else "")
             + "RETURN c.name, d.key, d.dataset_type, d.data_id, d.run, "
               "e.valid_begin, e.valid_end")
    params = {"colls": collection_keys}
    if types:
        params["types"] = list(types)
    return [CertifiedRow(*r) for r in store.read(query, params)]


# --- visits (visits.py) ----------------------------------------------------------------

class TelemetryRow(NamedTuple):
    """One EFD record's summary over an exposure of a visit (the ``DESCRIBES`` edge)."""

    visit: str
    topic: str
    summary: dict       # the edge's properties: samples, mean_<field>, min_<field> ...


def exposure_telemetry_of_visits(store: Store, visit_keys: list[str]) -> list[TelemetryRow]:
    """The ``DESCRIBES`` summaries of the exposures of these visits, by EFD record key."""
    return [TelemetryRow(*r) for r in store.read(
        "MATCH (e:EfdRecord)-[r:DESCRIBES]->(x:DataUnit) WHERE x.dimension = 'exposure' "
        "MATCH (x)-[:PART_OF]->(v:DataUnit) WHERE v.key IN $keys "
        "RETURN v.key, e.topic, properties(r) ORDER BY e.key", {"keys": visit_keys})]


class CscTopicRow(NamedTuple):
    csc: str
    topic: str


def topics_of_cscs(store: Store, csc: str | None = None) -> list[CscTopicRow]:
    """Every EFD topic (``efd_topic`` unit) with the CSC it is ``PART_OF``; only ``csc``'s
    when given."""
    return [CscTopicRow(*r) for r in store.read(
        "MATCH (t:DataUnit)-[:PART_OF]->(c:DataUnit) WHERE t.dimension = 'efd_topic' "
        "AND c.dimension = 'csc' " + ("AND c.value = $csc " if csc else "")
        + "RETURN c.value, t.value ORDER BY c.value, t.value", {"csc": csc} if csc else {})]


class ExposureTelemetryRow(NamedTuple):
    """One EFD record that describes an exposure, through its topic and CSC units."""

    record: str
    topic: str
    csc: str
    summary: dict       # the DESCRIBES edge's properties: samples, mean_<field> ...


def telemetry_of_exposure(store: Store, exposure_key: str,
                          csc: str | None = None) -> list[ExposureTelemetryRow]:
    """The EFD records that ``DESCRIBES`` the exposure, with the topic they are
    ``IDENTIFIED_BY`` and its CSC; only ``csc``'s when given."""
    params = {"x": exposure_key, **({"csc": csc} if csc else {})}
    return [ExposureTelemetryRow(*r) for r in store.read(
        "MATCH (e:EfdRecord)-[r:DESCRIBES]->(x:DataUnit {key: $x}) "
        "MATCH (e)-[:IDENTIFIED_BY]->(t:DataUnit)-[:PART_OF]->(c:DataUnit) "
        "WHERE t.dimension = 'efd_topic' AND c.dimension = 'csc' "
        + ("AND c.value = $csc " if csc else "")
        + "RETURN e.key, t.value, c.value, properties(r) ORDER BY e.key", params)]


class VisitPropertiesRow(NamedTuple):
    key: str
    properties: dict
    filter_band: str | None     # the band its physical filter is part of


def visits_with_properties(store: Store, instrument: str | None = None
                           ) -> list[VisitPropertiesRow]:
    """Every visit (of ``instrument``, if given) with its properties and its band (through
    ``PART_OF`` its physical filter, then the band)."""
    return [VisitPropertiesRow(*r) for r in store.read(
        "MATCH (v:DataUnit) WHERE v.dimension = 'visit' "
        + ("AND v.key STARTS WITH $prefix " if instrument else "")
        + "OPTIONAL MATCH (v)-[:PART_OF]->(:DataUnit {dimension: 'physical_filter'})"
          "-[:PART_OF]->(b:DataUnit {dimension: 'band'}) "
          "RETURN v.key, properties(v), b.value",
        {"prefix": f"unit:visit:{instrument}/"} if instrument else {})]


# --- selector resolution (resolve.py) ------------------------------------------------------

def stored_dimensions(store: Store) -> list[str]:
    """The dimensions of the stored data units (unordered)."""
    return [r[0] for r in store.read("MATCH (u:DataUnit) RETURN DISTINCT u.dimension")]


def units_part_of(store: Store, unit_keys: list[str]) -> dict[str, set[str]]:
    """unit -> those of ``unit_keys`` it is part of (1 to 4 ``PART_OF`` steps up), for the
    units among ``unit_keys`` that are part of another."""
    above: dict[str, set[str]] = {}
    for unit, ancestor in store.read(
            "MATCH (u:DataUnit) WHERE u.key IN $units "
            "MATCH (u)-[:PART_OF*1..4]->(a:DataUnit) WHERE a.key IN $units "
            "RETURN DISTINCT u.key, a.key", {"units": unit_keys}):
        above.setdefault(unit, set()).add(ancestor)
    return above


def datasets_of_units(store: Store, unit_keys: list[str]) -> list:
    """(dataset key, dataset type) of the datasets identified by these units or by any unit
    that is part of them (up to 4 levels).  Rows are the engine's plain rows (keys and type
    names only: the cheapest read, :meth:`Store.read_plain`)."""
    return store.read_plain(
        "MATCH (u:DataUnit) WHERE u.key IN $units "
        "MATCH (d:Dataset)-[:IDENTIFIED_BY]->(u) RETURN d.key, d.dataset_type "
        "UNION "
        "MATCH (u:DataUnit) WHERE u.key IN $units "
        "MATCH (d:Dataset)-[:IDENTIFIED_BY]->(:DataUnit)-[:PART_OF*1..4]->(u) "
        "RETURN d.key, d.dataset_type",
        {"units": unit_keys})


# --- Butler query expressions (expression.py) --------------------------------------------

def data_units_of_values(store: Store, dimension: str, values: list[str]) -> list[str]:
    """Keys of the ``dimension`` units whose value is one of ``values`` (stored as text)."""
    return [r[0] for r in store.read("MATCH (u:DataUnit) WHERE u.dimension = $d "
                                     "AND u.value IN $vs RETURN u.key",
                                     {"d": dimension, "vs": values})]


def data_units_with_property(store: Store, dimension: str, prop: str) -> list[tuple]:
    """(key, value of ``prop``) of every ``dimension`` unit; ``prop`` is an identifier
    (checked by the caller: it is written into the query) or ``value``."""
    return [tuple(r) for r in store.read(f"MATCH (u:DataUnit) WHERE u.dimension = $d "
                                         f"RETURN u.key, u.{prop}", {"d": dimension})]


def property_names_of_dimension(store: Store, dimension: str, sample: int = 100) -> list[str]:
    """The property names of (a sample of) the ``dimension`` units, for a message."""
    rows = store.read("MATCH (u:DataUnit) WHERE u.dimension = $d RETURN keys(u) LIMIT $n",
                      {"d": dimension, "n": sample})
    return sorted({name for r in rows for name in r[0]})


def all_datasets(store: Store) -> list:
    """(dataset key, dataset type) of every dataset (plain rows, :meth:`Store.read_plain`)."""
    return store.read_plain("MATCH (d:Dataset) RETURN d.key, d.dataset_type")


def visits_of_units(store: Store, unit_keys: list[str]) -> list[str]:
    """Keys of the visits that are part of these units (a visit of a band, an instrument,
    a day) or that they are part of (the visit of an exposure), up to 4 levels."""
    return [r[0] for r in store.read(
        "MATCH (u:DataUnit) WHERE u.key IN $units "
        "MATCH (v:DataUnit {dimension: 'visit'})-[:PART_OF*1..4]->(u) RETURN v.key AS visit "
        "UNION "
        "MATCH (u:DataUnit) WHERE u.key IN $units "
        "MATCH (u)-[:PART_OF*1..4]->(v:DataUnit {dimension: 'visit'}) RETURN v.key AS visit",
        {"units": unit_keys})]


# --- regions (regions.py) ----------------------------------------------------------------------

class RegionRow(NamedTuple):
    key: str
    region: str         # the encoded lsst.sphgeom region (hex)


def regions_in_declination(store: Store, dimensions, dec_low: float,
                           dec_high: float) -> list[RegionRow]:
    """Units of these dimensions with a region whose bounding box meets the declinations
    ``[dec_low, dec_high]`` (degrees)."""
    return [RegionRow(*r) for r in store.read(
        "MATCH (u:DataUnit) WHERE u.dimension IN $dims AND u.region IS NOT NULL "
        "AND u.dec_max >= $lo AND u.dec_min <= $hi RETURN u.key, u.region",
        {"dims": list(dimensions), "lo": dec_low, "hi": dec_high})]


def tract_regions_of_sky_map(store: Store, skymap: str) -> list[RegionRow]:
    """The stored tracts of sky map ``skymap`` that have a region (an export's record)."""
    return [RegionRow(*r) for r in store.read(
        "MATCH (u:DataUnit {dimension: 'tract'}) WHERE u.key STARTS WITH $p "
        "AND u.region IS NOT NULL RETURN u.key, u.region", {"p": f"unit:tract:{skymap}/"})]


class OverlapRow(NamedTuple):
    observation: str    # a visit or visit_detector_region unit
    tile: str           # a tract or patch unit


def overlaps_of_visit(store: Store, visit, key_prefix: str,
                      detector=None) -> list[OverlapRow]:
    """``OVERLAPS`` edges of a visit and of its visit-detectors, or (with ``detector``) of
    that one visit-detector; the visit's key starts with ``key_prefix``."""
    if detector is None:
        query = ("MATCH (v:DataUnit {dimension: 'visit', value: $visit}) "
                 "WHERE v.key STARTS WITH $prefix "
                 "MATCH (v)-[:OVERLAPS]->(t:DataUnit) RETURN v.key AS obs, t.key AS tile "
                 "UNION "
                 "MATCH (v:DataUnit {dimension: 'visit', value: $visit})"
                 "<-[:PART_OF]-(o:DataUnit {dimension: 'visit_detector_region'}) "
                 "WHERE v.key STARTS WITH $prefix "
                 "MATCH (o)-[:OVERLAPS]->(t:DataUnit) RETURN o.key AS obs, t.key AS tile")
        params = {"visit": visit, "prefix": key_prefix}
    else:
        query = ("MATCH (v:DataUnit {dimension: 'visit', value: $visit})"
                 "<-[:PART_OF]-(o:DataUnit {dimension: 'visit_detector_region', "
                 "value: $detector}) "
                 "WHERE v.key STARTS WITH $prefix "
                 "MATCH (o)-[:OVERLAPS]->(t:DataUnit) RETURN o.key, t.key")
        params = {"visit": visit, "detector": detector, "prefix": key_prefix}
    return [OverlapRow(*r) for r in store.read(query, params)]


def overlaps_of_tract(store: Store, tract, key_prefix: str, patch=None) -> list[OverlapRow]:
    """``OVERLAPS`` edges to a tract, or (with ``patch``) to that one patch of it; the
    tract's (or patch's) key starts with ``key_prefix``."""
    if patch is None:
        query = ("MATCH (t:DataUnit {dimension: 'tract', value: $tract}) "
                 "WHERE t.key STARTS WITH $prefix "
                 "MATCH (o:DataUnit)-[:OVERLAPS]->(t) RETURN o.key, t.key")
        params = {"tract": tract, "prefix": key_prefix}
    else:
        query = ("MATCH (:DataUnit {dimension: 'tract', value: $tract})"
                 "<-[:PART_OF]-(t:DataUnit {dimension: 'patch', value: $patch}) "
                 "WHERE t.key STARTS WITH $prefix "
                 "MATCH (o:DataUnit)-[:OVERLAPS]->(t) RETURN o.key, t.key")
        params = {"tract": tract, "patch": patch, "prefix": key_prefix}
    return [OverlapRow(*r) for r in store.read(query, params)]


# --- visit listings and lookups by value (the API's visits pages, dataUnit) -----------

#: Visit filter fields that bound a property: field -> (property, operator).
VISIT_BOUNDS = {
    "mjd_from": ("mjd_begin", ">="), "mjd_to": ("mjd_begin", "<="),
    "seeing_min": ("seeing", ">="), "seeing_max": ("seeing", "<="),
    "airmass_min": ("airmass", ">="), "airmass_max": ("airmass", "<="),
}


def visit_filter(bands: list[str] | None = None, physical_filter: str | None = None,
                 day_obs: int | None = None, time_from: str | None = None,
                 time_to: str | None = None, bounds: dict | None = None,
                 chosen: list[str] | None = None) -> NodeFilter:
    """Visits in ``bands``, with ``physical_filter``, of ``day_obs``, beginning between
    ``time_from`` and ``time_to`` (TAI, as stored), within ``bounds`` (a
    :data:`VISIT_BOUNDS` field -> its value) and among the keys ``chosen``; None: any."""
    conditions, params = ["n.dimension = 'visit'"], {}
    if bands:
        conditions.append("n.band IN $bands")
        params["bands"] = bands
    if physical_filter:
        conditions.append("n.physical_filter = $pf")
        params["pf"] = physical_filter
    if day_obs is not None:
        conditions.append("n.day_obs = $day_obs")
        params["day_obs"] = day_obs
    for name, op, value in (("time_from", ">=", time_from), ("time_to", "<=", time_to)):
        if value:
            conditions.append(f"n.begin {op} ${name}")
            params[name] = value
    for name, (prop, op) in VISIT_BOUNDS.items():
        if (bounds or {}).get(name) is not None:
            conditions.append(f"n.{prop} {op} ${name}")
            params[name] = bounds[name]
    if chosen is not None:
        conditions.append("n.key IN $chosen")
        params["chosen"] = chosen
    return NodeFilter(conditions, params)


def data_units_with_value(store, dimension: str, value: str) -> list[KeyedNode]:
    """The data units of ``dimension`` with ``value``, in key order."""
    return [KeyedNode(*r) for r in store.read(
        "MATCH (u:DataUnit) WHERE u.dimension = $d AND u.value = $v "
        "RETURN u.key, properties(u) ORDER BY u.key", {"d": dimension, "v": value})]


# --- names a user types (names.py) ---------------------------------------------------------

def dataset_type_names(store: Store) -> list[str]:
    """Every dataset type's name (unordered)."""
    return [r[0] for r in store.read("MATCH (t:DatasetType) RETURN t.name")]


def collection_names(store: Store) -> list[str]:
    """Every collection's name (unordered)."""
    return [r[0] for r in store.read("MATCH (c:Collection) RETURN c.name")]


def dimension_values(store: Store, dimension: str) -> list[str]:
    """The distinct values of the stored data units of ``dimension`` (unordered): the
    bands, instruments or sky maps of the repository."""
    return [r[0] for r in store.read("MATCH (u:DataUnit) WHERE u.dimension = $d "
                                     "RETURN DISTINCT u.value", {"d": dimension})]


def metric_names(store: Store) -> list[str]:
    """Every metric's name (unordered): ``validate_drp.PA1``."""
    return [r[0] for r in store.read("MATCH (m:Metric) RETURN m.name")]

"""Every query the release diff runs: releases, members, how datasets were made, metrics.

The whole-type reads of :class:`lineage.diff.making.Making` return a million rows at
survey scale: they give the engine's rows as they come (``Store.read_plain``, lists in the
column order their docstring names) instead of a named tuple per row.
"""

from __future__ import annotations

from typing import NamedTuple


# --- releases and data units -------------------------------------------------------------

def collection_names(store, key: str) -> list[str]:
    """The name of the collection ``key`` (none if not stored)."""
    return [r[0] for r in store.read("MATCH (c:Collection {key: $k}) RETURN c.name", {"k": key})]


def release_collections(store, release: str) -> list[str]:
    """Names of the collections whose ``release`` is ``release``, in order."""
    return [r[0] for r in store.read(
        "MATCH (c:Collection) WHERE c.release = $r RETURN c.name ORDER BY c.name", {"r": release})]


class UnitBand(NamedTuple):
    """The band a visit, exposure or physical filter implies."""
    dimension: str
    value: object
    band: str


def unit_bands(store) -> list[UnitBand]:
    return [UnitBand(*r) for r in store.read(
        "MATCH (u:DataUnit) WHERE u.dimension IN ['visit', 'exposure', "
        "'physical_filter'] AND u.band IS NOT NULL RETURN u.dimension, u.value, u.band")]


class PatchBox(NamedTuple):
    """A patch of a tract of a sky map and its sky box (degrees)."""
    skymap: object
    tract: object
    patch: object
    ra_min: float
    ra_max: float
    dec_min: float
    dec_max: float


def patch_boxes(store) -> list[PatchBox]:
    """The patches that have a sky box, with their sky map ("-" for a tract of none)."""
    return [PatchBox(*r) for r in store.read(
        "MATCH (p:DataUnit {dimension: 'patch'})-[:PART_OF]->(t:DataUnit "
        "{dimension: 'tract'}) WHERE p.ra_min IS NOT NULL "
        "OPTIONAL MATCH (t)-[:PART_OF]->(m:DataUnit {dimension: 'skymap'}) "
        "RETURN coalesce(m.value, '-'), t.value, p.value, p.ra_min, p.ra_max, p.dec_min, "
        "p.dec_max")]


def flag_count(store) -> int:
    """Flags stored, retracted or not."""
    return int(store.read("MATCH (f:Flag) RETURN count(f)")[0][0])


class TypeAndDataId(NamedTuple):
    dataset_type: str
    data_id: str


def dataset_type_and_data_id(store, key: str) -> list[TypeAndDataId]:
    """The dataset ``key``'s type and data ID (none if not stored)."""
    return [TypeAndDataId(*r) for r in store.read(
        "MATCH (d:Dataset {key: $k}) RETURN d.dataset_type, d.data_id", {"k": key})]


# --- members -----------------------------------------------------------------------------

#: Only live datasets (no tombstone: docs/retention.md), added to a member query's WHERE.
_LIVE = " AND d.deleted_at IS NULL"


def run_members(store, dataset_type: str, runs: list[str], props: list[str],
                live_only: bool = False) -> list:
    """Rows ``[key, data_id, *props]`` of the datasets of ``dataset_type`` in ``runs`` (in no
    order), the property values with their types; not deleted ones when ``live_only``."""
    extra = "".join(f", d.{p}" for p in props)
    live = _LIVE if live_only else ""
    return store.read_plain_typed(
        f"MATCH (d:Dataset) WHERE d.dataset_type = $t AND d.run IN $runs{live} "
        f"RETURN d.key, d.data_id{extra}", {"t": dataset_type, "runs": runs}, 2)


def other_members(store, collections: list[str], runs: list[str], props: list[str],
                  live_only: bool = False) -> list:
    """Rows ``(dataset_type, key, data_id, *props)`` of the datasets of ``collections`` not
    in ``runs``, in key order; not deleted ones when ``live_only``."""
    extra = "".join(f", d.{p}" for p in props)
    live = _LIVE if live_only else ""
    return store.read("MATCH (c:Collection) WHERE c.name IN $others "
                      f"MATCH (c)-[:CONTAINS]->(d:Dataset) WHERE NOT d.run IN $runs{live} "
                      f"RETURN DISTINCT d.dataset_type, d.key, d.data_id{extra} ORDER BY d.key",
                      {"others": collections, "runs": runs})


# --- how datasets were made ----------------------------------------------------------------

class DatasetMaking(NamedTuple):
    """How one dataset was made: quantum, task, software, config (None for a raw) and its
    inputs as ``[key, dataset_type, data_id]`` (a ``[None, None, None]`` if none)."""
    key: str
    quantum: str | None
    task: str | None
    software: str | None
    config: str | None
    inputs: list


def making_of(store, keys: list[str]) -> list[DatasetMaking]:
    return [DatasetMaking(*r) for r in store.read(
        "UNWIND $keys AS k MATCH (d:Dataset {key: k}) "
        "OPTIONAL MATCH (q:Quantum)-[:PRODUCED]->(d) "
        "OPTIONAL MATCH (q)-[:RAN_WITH]->(s:SoftwareVersion) "
        "OPTIONAL MATCH (q)-[:CONFIGURED_BY]->(c:Config) "
        "OPTIONAL MATCH (i:Dataset)-[:INPUT_TO]->(q) "
        "RETURN k, q.key, q.task, s.key, c.key, collect([i.key, i.dataset_type, i.data_id])",
        {"keys": keys})]



class Setting(NamedTuple):
    """A task, software version and config that made ``count`` datasets."""
    task: str
    software: str
    config: str
    count: int


def settings_of_type(store, dataset_type: str, runs: list[str]) -> list[Setting]:
    """The settings that made the datasets of ``dataset_type`` in ``runs``."""
    # Without labels on the far nodes (the edge kinds imply them: docs/model.md): 30 % faster.
    return [Setting(*r) for r in store.read(
        "MATCH (c)<-[:CONFIGURED_BY]-(q)-[:PRODUCED]->(d:Dataset) "
        "WHERE d.dataset_type = $t AND d.run IN $runs "
        "MATCH (q)-[:RAN_WITH]->(s) RETURN q.task, s.key, c.key, count(*)",
        {"t": dataset_type, "runs": runs})]


def count_of_type(store, dataset_type: str, runs: list[str]) -> int:
    """Datasets of ``dataset_type`` in ``runs``."""
    return int(store.read("MATCH (d:Dataset) WHERE d.dataset_type = $t AND d.run IN $runs "
                          "RETURN count(d)", {"t": dataset_type, "runs": runs})[0][0])


def producers_of_type(store, dataset_type: str, runs: list[str]) -> list:
    """Rows ``[key, quantum, task, software, config]`` of the datasets of ``dataset_type``
    in ``runs`` that a quantum made."""
    return store.read_plain(
        "MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset) WHERE d.dataset_type = $t "
        "AND d.run IN $runs OPTIONAL MATCH (q)-[:RAN_WITH]->(s:SoftwareVersion) "
        "OPTIONAL MATCH (q)-[:CONFIGURED_BY]->(c:Config) "
        "RETURN d.key, q.key, q.task, s.key, c.key", {"t": dataset_type, "runs": runs})


def inputs_of_type(store, dataset_type: str, runs: list[str]) -> list:
    """Rows ``[key, input name]`` (name: ``"<dataset type> <data ID>"``, what
    :func:`lineage.diff.making.input_name` makes) of the inputs of the quanta that made the
    datasets of ``dataset_type`` in ``runs``."""
    # the name is made by the engine: a string fewer per row to read
    return store.read_plain(
        "MATCH (i)-[:INPUT_TO]->(q)-[:PRODUCED]->(d:Dataset) "
        "WHERE d.dataset_type = $t AND d.run IN $runs "
        "RETURN d.key, i.dataset_type + ' ' + i.data_id", {"t": dataset_type, "runs": runs})


def active_flags_of_type(store, dataset_type: str, runs: list[str]) -> list:
    """Rows ``[key, flag]``: the flags (not retracted) marking datasets of ``dataset_type``
    in ``runs``."""
    return store.read_plain(
        "MATCH (f:Flag)<-[:CONTAMINATED_BY]-(d:Dataset) WHERE d.dataset_type = $t "
        "AND d.run IN $runs AND f.retracted_at IS NULL RETURN d.key, f.key",
        {"t": dataset_type, "runs": runs})


class KeyedText(NamedTuple):
    """A node's key and one of its text properties (JSON)."""
    key: str
    text: str | None


def software_packages(store) -> list[KeyedText]:
    """Every software version and its packages (JSON)."""
    return [KeyedText(*r) for r in store.read("MATCH (s:SoftwareVersion) RETURN s.key, s.packages")]


def config_values(store) -> list[KeyedText]:
    """Every config and its values (JSON)."""
    return [KeyedText(*r) for r in store.read("MATCH (c:Config) RETURN c.key, c.values")]


# --- metrics -------------------------------------------------------------------------------

class MetricValue(NamedTuple):
    """A measurement of a job that measured a collection: its metric, the metric's unit,
    value and unit, and the value in the metric's unit if stored."""
    job: str
    metric: str
    metric_unit: str | None
    value: object
    unit: str | None
    value_in_metric_unit: float | None


def metric_values_of(store, collections: list[str]) -> list[MetricValue]:
    return [MetricValue(*r) for r in store.read(
        "MATCH (j:Job)-[:MEASURED]->(c:Collection) WHERE c.name IN $names "
        "MATCH (j)-[:HAS_MEASUREMENT]->(ms:Measurement)-[:OF_METRIC]->(m:Metric) "
        "RETURN DISTINCT j.key, m.name, m.unit, ms.value, ms.unit, ms.value_in_metric_unit",
        {"names": collections})]


class JobUnit(NamedTuple):
    """A data unit a job MEASURED (its tract, band, instrument ...)."""
    job: str
    dimension: str
    value: str


def units_measured(store, jobs: list[str]) -> list[JobUnit]:
    """The data units the jobs ``jobs`` measured."""
    return [JobUnit(*r) for r in store.read(
        "MATCH (j:Job)-[:MEASURED]->(u:DataUnit) WHERE j.key IN $keys "
        "RETURN j.key, u.dimension, u.value", {"keys": jobs})]

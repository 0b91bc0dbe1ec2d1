"""The Cypher of the metric lookups, trends and recording: one function per query,
rows as named tuples.

:mod:`lineage.metrics.lookup`, :mod:`lineage.metrics.trend` and
:mod:`lineage.metrics.record` keep the logic (units, filters, specification
checks); the graph is read only here.
"""

from __future__ import annotations

from typing import NamedTuple

from lineage.store.base import Store


class MeasurementRow(NamedTuple):
    """One stored measurement of a metric, with its job and what the job ran with."""

    job: str
    date: str | None
    time_scale: str | None
    measurement: str
    value: float | None
    unit: str | None
    value_in_metric_unit: float | None
    metric_unit: str | None
    software: str | None            # the SoftwareVersion key
    software_name: str | None
    instrument: str | None
    filter_name: str | None
    dataset_name: str | None
    measured: list                  # keys the job MEASURED (nulls included)


def measurements_of_metric(store: Store, metric_key: str) -> list[MeasurementRow]:
    """Every stored measurement of the metric ``metric_key``, by job key."""
    return [MeasurementRow(*r) for r in store.read(
        "MATCH (j:Job)-[:HAS_MEASUREMENT]->(ms:Measurement)-[:OF_METRIC]->"
        "(m:Metric {key: $metric}) "
        "OPTIONAL MATCH (j)-[:RAN_WITH]->(sw:SoftwareVersion) "
        "OPTIONAL MATCH (j)-[:MEASURED]->(x) "
        "RETURN j.key, j.date, j.time_scale, ms.key, ms.value, ms.unit, "
        "ms.value_in_metric_unit, ms.metric_unit, sw.key, sw.name, j.instrument, "
        "j.filter_name, j.dataset_name, collect(x.key) ORDER BY j.key",
        {"metric": metric_key})]


class SoftwarePackagesRow(NamedTuple):
    key: str
    packages: dict | str | None     # {name: version}; JSON text on some engines


def packages_of_software(store: Store, keys: list[str]) -> list[SoftwarePackagesRow]:
    """The recorded packages of these SoftwareVersion nodes."""
    return [SoftwarePackagesRow(*r) for r in store.read(
        "MATCH (s:SoftwareVersion) WHERE s.key IN $keys RETURN s.key, s.packages",
        {"keys": keys})]


def job_metadata(store: Store, job_key: str) -> list[str | None]:
    """``[the job's metadata (JSON text, or None)]``, or ``[]`` if there is no such job."""
    return [r[0] for r in store.read("MATCH (j:Job {key: $job}) RETURN j.meta", {"job": job_key})]


def metadata_of_jobs(store: Store, job_keys: list[str]) -> dict[str, str | None]:
    """job key -> its metadata (JSON text, or None), of each stored job of ``job_keys``."""
    return {r[0]: r[1] for r in store.read("MATCH (j:Job) WHERE j.key IN $keys "
                                           "RETURN j.key, j.meta", {"keys": job_keys})}


class JobSpecificationRow(NamedTuple):
    """A specification of a metric a job measured, with the job's measurement."""

    spec: str
    metric: str
    value: float | None
    unit: str | None
    operator: str
    threshold: float
    threshold_unit: str | None
    metadata_query: str | None      # JSON text


def specifications_of_job(store: Store, job_key: str) -> list[JobSpecificationRow]:
    """Every specification of the metrics the job measured, by specification key."""
    return [JobSpecificationRow(*r) for r in store.read(
        "MATCH (j:Job {key: $job})-[:HAS_MEASUREMENT]->(ms:Measurement)-[:OF_METRIC]->"
        "(m:Metric) "
        "MATCH (s:Specification)-[:SPECIFIES]->(m) "
        "RETURN s.key, m.key, ms.value, ms.unit, s.operator, s.threshold, s.unit, "
        "s.metadata_query ORDER BY s.key", {"job": job_key})]


class SpecificationRow(NamedTuple):
    key: str
    operator: str
    threshold: float
    unit: str | None
    metadata_query: str | None      # JSON text


def specifications_of_metric(store: Store, metric_key: str) -> list[SpecificationRow]:
    """The specifications of the metric ``metric_key``, by key."""
    return [SpecificationRow(*r) for r in store.read(
        "MATCH (s:Specification)-[:SPECIFIES]->(:Metric {key: $k}) "
        "RETURN s.key, s.operator, s.threshold, s.unit, s.metadata_query ORDER BY s.key",
        {"k": metric_key})]


def metric_unit(store: Store, metric_key: str) -> str | None:
    """The stored unit of the metric (None: no such metric, or it has none)."""
    rows = store.read("MATCH (m:Metric {key: $k}) RETURN m.unit", {"k": metric_key})
    return rows[0][0] if rows else None


class MetricUnitRow(NamedTuple):
    name: str
    unit: str


def units_of_metrics(store: Store, metric_keys: list[str]) -> list[MetricUnitRow]:
    """Name and unit of those of the metrics ``metric_keys`` that are stored with a unit."""
    return [MetricUnitRow(*r) for r in store.read(
        "MATCH (m:Metric) WHERE m.key IN $keys AND m.unit IS NOT NULL RETURN m.name, m.unit",
        {"keys": metric_keys})]


def stored_keys(store: Store, keys: list[str]) -> set[str]:
    """Those of ``keys`` that are stored, as nodes of any label (keys need not be well
    formed: an unknown prefix is simply not found)."""
    return {r[0] for r in store.read("MATCH (n) WHERE n.key IN $keys RETURN n.key",
                                     {"keys": keys})}


class MeasurementBlobRow(NamedTuple):
    """A blob one of a job's measurements refers to (``HAS_BLOB``)."""

    metric: str
    measurement: str
    blob: str                       # the Blob key, blob:<identifier>
    name: str | None
    digest: str | None              # sha256:<hex> of its canonical JSON content
    size: int | None                # bytes of that content
    content: str | None             # the content; None when stored by digest only


def blobs_of_job(store: Store, job_key: str) -> list[MeasurementBlobRow]:
    """Every blob the measurements of the job ``job_key`` refer to, by metric and blob."""
    return [MeasurementBlobRow(*r) for r in store.read(
        "MATCH (:Job {key: $job})-[:HAS_MEASUREMENT]->(ms:Measurement)-[:HAS_BLOB]->(b:Blob) "
        "RETURN ms.metric, ms.key, b.key, b.name, b.digest, b.size, b.content "
        "ORDER BY ms.metric, b.key", {"job": job_key})]


class MeasuredDataRow(NamedTuple):
    """One thing a job MEASURED: a dataset, quantum, collection or data unit."""

    kind: str                       # the node label: Dataset, Quantum, Collection, DataUnit
    key: str
    name: str | None                # dataset type, task label, collection name or dimension
    data_id: str | None             # a dataset's or quantum's data ID; a data unit's value
    run: str | None                 # a dataset's RUN; a collection's type
    deleted: bool                   # a dataset deleted since (a tombstone, docs/retention.md)


def data_of_job(store: Store, job_key: str) -> list[MeasuredDataRow]:
    """What the job ``job_key`` MEASURED, by kind and key."""
    return [MeasuredDataRow(r[0], r[1], r[2], None if r[3] is None else str(r[3]), r[4],
                            bool(r[5])) for r in store.read(
        "MATCH (:Job {key: $job})-[:MEASURED]->(x) "
        "RETURN labels(x)[0] AS kind, x.key AS key, "
        "coalesce(x.dataset_type, x.task, x.name, x.dimension), coalesce(x.data_id, x.value), "
        "coalesce(x.run, x.collection_type), x.deleted_at IS NOT NULL "
        "ORDER BY kind, key", {"job": job_key})]

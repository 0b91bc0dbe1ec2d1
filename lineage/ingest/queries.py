"""The Cypher of the ingest checks and links against what is already stored: one
function per query, rows as named tuples.

The readers (``formats/``) and their support modules keep the logic; the graph
is read only here.
"""

from __future__ import annotations

from typing import NamedTuple

from lineage.store.base import Store
from lineage.store.cypher import Statement

#: Keys sent in one query of the lineage checks.
_CHUNK = 1000


# --- EFD records and exposures (efd_link.py) ---------------------------------------------

class ExposureSpanRow(NamedTuple):
    key: str
    mjd_begin: float
    mjd_end: float


def exposures_overlapping(store: Store, mjd_begin: float, mjd_end: float
                          ) -> list[ExposureSpanRow]:
    """Stored exposures whose ``[mjd_begin, mjd_end]`` (TAI MJD) meets the given span."""
    return [ExposureSpanRow(*r) for r in store.read(
        "MATCH (u:DataUnit) WHERE u.dimension = 'exposure' AND u.mjd_begin <= $end "
        "AND u.mjd_end >= $begin RETURN u.key, u.mjd_begin, u.mjd_end",
        {"begin": mjd_begin, "end": mjd_end})]


class EfdRecordRow(NamedTuple):
    key: str
    record: dict        # the record's properties (topic, samples ...)


def efd_records_overlapping(store: Store, mjd_begin: float, mjd_end: float
                            ) -> list[EfdRecordRow]:
    """Stored EFD records whose span (TAI MJD) meets ``[mjd_begin, mjd_end]``."""
    return [EfdRecordRow(*r) for r in store.read(
        "MATCH (e:EfdRecord) WHERE e.mjd_begin <= $end AND e.mjd_end >= $begin "
        "RETURN e.key, properties(e)", {"begin": mjd_begin, "end": mjd_end})]


# --- the lineage invariants (invariants.py) ----------------------------------------------

class DatasetQuantumRow(NamedTuple):
    dataset: str
    quantum: str


class QuantumDatasetRow(NamedTuple):
    quantum: str
    dataset: str


class QuantumTaskRow(NamedTuple):
    quantum: str
    task: str


def _chunked(store: Store, query: str, keys: list[str], row: type) -> list:
    """``query`` over the distinct ``keys`` (``$keys``), a chunk at a time."""
    rows: list = []
    keys = sorted(set(keys))
    for i in range(0, len(keys), _CHUNK):
        rows.extend(row(*r) for r in store.read(query, {"keys": keys[i:i + _CHUNK]}))
    return rows


def stored_producers(store: Store, dataset_keys: list[str]) -> list[DatasetQuantumRow]:
    """(dataset, the quantum that produced it) of stored datasets."""
    return _chunked(store, "MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset) WHERE d.key IN $keys "
                           "RETURN d.key, q.key", dataset_keys, DatasetQuantumRow)


def stored_quantum_tasks(store: Store, quantum_keys: list[str]) -> list[QuantumTaskRow]:
    """(quantum, task) of stored quanta."""
    return _chunked(store, "MATCH (q:Quantum) WHERE q.key IN $keys RETURN q.key, q.task",
                    quantum_keys, QuantumTaskRow)


def stored_quantum_inputs(store: Store, quantum_keys: list[str]) -> list[QuantumDatasetRow]:
    """(quantum, dataset) of the stored ``INPUT_TO`` edges of these quanta."""
    return _chunked(store, "MATCH (d:Dataset)-[:INPUT_TO]->(q:Quantum) WHERE q.key IN $keys "
                           "RETURN q.key, d.key", quantum_keys, QuantumDatasetRow)


def stored_quantum_outputs(store: Store, quantum_keys: list[str]) -> list[QuantumDatasetRow]:
    """(quantum, dataset) of the stored ``PRODUCED`` edges of these quanta."""
    return _chunked(store, "MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset) WHERE q.key IN $keys "
                           "RETURN q.key, d.key", quantum_keys, QuantumDatasetRow)


def stored_readers(store: Store, dataset_keys: list[str]) -> list[DatasetQuantumRow]:
    """(dataset, quantum) of the stored quanta that read these datasets (one hop down)."""
    return _chunked(store, "MATCH (d:Dataset)-[:INPUT_TO]->(q:Quantum) WHERE d.key IN $keys "
                           "RETURN d.key, q.key", dataset_keys, DatasetQuantumRow)


# --- OpenLineage runs (openlineage_events.py) -----------------------------------------------

class StoredRunRow(NamedTuple):
    key: str
    ol_events: list[str] | None
    start_utc: str | None
    end_utc: str | None


def stored_runs(store: Store, quantum_keys: list[str]) -> list[StoredRunRow]:
    """The OpenLineage event types and times of stored quanta (runs)."""
    return [StoredRunRow(*r) for r in store.read(
        "MATCH (q:Quantum) WHERE q.key IN $keys "
        "RETURN q.key, q.ol_events, q.start_utc, q.end_utc", {"keys": quantum_keys})]




# --- tombstones a unit writes again (docs/retention.md, "Coming back") -----------------------

#: What makes a dataset a tombstone; a restore removes them (its history stays).
TOMBSTONE_PROPS = ("deleted_at", "deleted_by", "deleted_reason", "deleted_forced",
                   "files_removed")


def restore_statement(keys: list[str], line: str) -> Statement:
    """The statement making the tombstones ``keys`` live again: their deletion properties
    removed, ``line`` appended to ``deletion_history``; run in the unit that writes them."""
    removed = ", ".join(f"d.{name}" for name in TOMBSTONE_PROPS)
    return Statement("UNWIND $keys AS k MATCH (d:Dataset {key: k}) WHERE d.deleted_at IS NOT NULL "
                     f"REMOVE {removed} "
                     "SET d.deletion_history = coalesce(d.deletion_history, []) + [$line]",
                     {"keys": keys, "line": line}, len(keys))

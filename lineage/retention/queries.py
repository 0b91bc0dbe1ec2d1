"""Every query of deletion, file collection and retention (docs/retention.md): the datasets
a deletion names, the live datasets that depend on them, the files datasets name, the ages
of datasets, and the set-based statements that write tombstones and file removals (each run
in one all-or-nothing unit).

The reads of every dataset (a gc's listing, a retention plan) give the engine's lists as
they come, with their columns in the docstring: they return a row per dataset.
"""

from __future__ import annotations

from typing import NamedTuple

from lineage.store.base import Store
from lineage.store.cypher import BATCH_ROWS, Statement


class DatasetState(NamedTuple):
    """What deletion needs of one dataset."""
    key: str
    dataset_type: str | None
    size: int | None
    deleted_at: str | None
    files_removed: bool | None


_STATE = "d.key, d.dataset_type, d.size, d.deleted_at, d.files_removed"


def datasets_of_runs(store: Store, runs: list[str], types: list[str] | None) -> list[DatasetState]:
    """Every dataset of the RUN collections ``runs`` (of ``types``; None: any), by the
    ``run`` index."""
    where = " WHERE d.dataset_type IN $types" if types else ""
    out: list[DatasetState] = []
    for run in runs:
        out += [DatasetState(*r) for r in store.read(
            f"MATCH (d:Dataset {{run: $run}}){where} RETURN {_STATE}",
            {"run": run, "types": types or []})]
    return out


def dataset_states(store: Store, keys: list[str]) -> list[DatasetState]:
    """The datasets among ``keys`` (keys of other nodes, or not stored, are left out)."""
    out: list[DatasetState] = []
    for i in range(0, len(keys), BATCH_ROWS):
        out += [DatasetState(*r) for r in store.read(
            f"UNWIND $keys AS k MATCH (d:Dataset {{key: k}}) RETURN {_STATE}",
            {"keys": keys[i:i + BATCH_ROWS]})]
    return out


class Dependent(NamedTuple):
    """A live dataset made (one step) from a dataset of the deletion."""
    source: str
    key: str
    dataset_type: str | None
    data_id: str | None
    run: str | None


def readers(store: Store, keys: list[str]) -> list[tuple[str, str]]:
    """(dataset, quantum) for each quantum that read one of the datasets ``keys``."""
    # matched from the key index outwards: a labelled far end makes FalkorDB scan it
    return store.read_plain("UNWIND $keys AS k MATCH (d:Dataset {key: k})-[:INPUT_TO]->(q) "
                            "RETURN d.key, q.key", {"keys": keys})


def live_outputs(store: Store, quanta: list[str]) -> list[tuple]:
    """(quantum, key, dataset type, data ID, run) of the live datasets the ``quanta``
    produced."""
    return store.read_plain("UNWIND $keys AS k MATCH (q:Quantum {key: k})-[:PRODUCED]->(o) "
                            "WHERE o.deleted_at IS NULL "
                            "RETURN q.key, o.key, o.dataset_type, o.data_id, o.run",
                            {"keys": quanta})


#: The properties a datastore places a dataset's file by (its ``uri`` or ``path``, else
#: the path template's fields): all :func:`file_props` reads.
FILE_PROPS = ("uri", "path", "run", "dataset_type", "data_id", "storage_class", "formatter")


def file_props(store: Store, keys: list[str]) -> dict[str, dict]:
    """key -> the :data:`FILE_PROPS` each of the datasets ``keys`` has (text columns, read
    the cheapest way: a RUN's 10^5 datasets in a second or two)."""
    columns = ", ".join(f"d.{name}" for name in FILE_PROPS)
    out: dict[str, dict] = {}
    for i in range(0, len(keys), BATCH_ROWS):
        for key, *values in store.read_plain(
                f"UNWIND $keys AS k MATCH (d:Dataset {{key: k}}) RETURN d.key, {columns}",
                {"keys": keys[i:i + BATCH_ROWS]}):
            out[key] = {name: v for name, v in zip(FILE_PROPS, values) if v is not None}
    return out


def live_file_names(store: Store) -> list[tuple]:
    """(uri, path) of every live dataset that names a file: a file one of them names is
    never removed."""
    return store.read_plain("MATCH (d:Dataset) WHERE d.deleted_at IS NULL "
                            "AND (d.uri IS NOT NULL OR d.path IS NOT NULL) "
                            "RETURN d.uri, d.path")


# --- the writes: statements of one unit (Store.prepare's ``extra``) --------------------------

def tombstone_statements(keys: list[str], props: dict, history_line: str) -> list[Statement]:
    """Statements that make the live datasets among ``keys`` tombstones: ``props`` set
    (``deleted_at``, ``deleted_by`` ...) and ``history_line`` appended to
    ``deletion_history``.  A dataset deleted meanwhile is left as it is, so running them
    twice changes nothing."""
    query = ("UNWIND $keys AS k MATCH (d:Dataset {key: k}) WHERE d.deleted_at IS NULL "
             "SET d += $props, d.deletion_history = coalesce(d.deletion_history, []) + [$line]")
    return [Statement(query, {"keys": keys[i:i + BATCH_ROWS], "props": props,
                              "line": history_line}, len(keys[i:i + BATCH_ROWS]))
            for i in range(0, len(keys), BATCH_ROWS)]


def set_statements(keys: list[str], props: dict) -> list[Statement]:
    """Statements that set ``props`` on the datasets ``keys`` (``deleted_forced``,
    ``files_removed``)."""
    query = "UNWIND $keys AS k MATCH (d:Dataset {key: k}) SET d += $props"
    return [Statement(query, {"keys": keys[i:i + BATCH_ROWS], "props": props},
                      len(keys[i:i + BATCH_ROWS]))
            for i in range(0, len(keys), BATCH_ROWS)]


# --- gc and retain: files datasets name, ages of datasets ---------------------------------

def dataset_files(store) -> list:
    """Every dataset with what places its file, as the engine gives the rows:
    ``[key, uri, path, dataset_type, run, deleted, owed]``, ``deleted`` 1 for a tombstone
    (``deleted_at`` set), ``owed`` 1 when a removal of its files is owed
    (``files_removed`` false)."""
    return store.read_plain(
        "MATCH (d:Dataset) RETURN d.key, d.uri, d.path, d.dataset_type, d.run, "
        "CASE WHEN d.deleted_at IS NULL THEN 0 ELSE 1 END, "
        "CASE WHEN d.files_removed = false THEN 1 ELSE 0 END")


def files_removed_statement(keys: list[str]) -> Statement:
    """The statement recording ``files_removed = true`` on those of the tombstones ``keys``
    that owe a removal (written in one all-or-nothing unit, after the files are gone)."""
    return Statement("UNWIND $keys AS k MATCH (d:Dataset {key: k}) "
                     "WHERE d.deleted_at IS NOT NULL AND d.files_removed = false "
                     "SET d.files_removed = true", {"keys": keys}, len(keys))


def live_datasets_made(store, keep: list[str]) -> list:
    """Every live dataset not of the types ``keep``, with the end of the quantum that made
    it: ``[key, dataset_type, run, size, end]`` (``end`` TAI ISO text, null for a dataset no
    quantum made; ``size`` null when unknown)."""
    return store.read_plain_typed(
        "MATCH (d:Dataset) WHERE d.deleted_at IS NULL AND NOT d.dataset_type IN $keep "
        "OPTIONAL MATCH (q:Quantum)-[:PRODUCED]->(d) "
        "RETURN d.key, d.dataset_type, d.run, d.size, q.end", {"keep": keep}, 3)


def run_ends(store) -> dict[str, str]:
    """RUN name -> the end (TAI ISO text) of its last quantum: when the RUN was made."""
    return {run: end for run, end in store.read_plain(
        "MATCH (q:Quantum) WHERE q.run IS NOT NULL AND q.end IS NOT NULL "
        "RETURN q.run, max(q.end)") if run is not None}


def lineage_edge_count(store, keys: list[str]) -> int:
    """``INPUT_TO`` and ``PRODUCED`` edges of the datasets ``keys``."""
    return int(store.read(
        "UNWIND $keys AS k MATCH (d:Dataset {key: k})-[e:INPUT_TO|PRODUCED]-() "
        "RETURN count(e)", {"keys": keys})[0][0])

"""Every query of deletion (:mod:`lineage.retention.delete`): the datasets a deletion
names, the live datasets that depend on them, the files live datasets name, and the
set-based statements that write tombstones (run in one all-or-nothing unit)."""

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

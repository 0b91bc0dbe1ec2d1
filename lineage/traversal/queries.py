"""The Cypher of the lineage traversals and of ``lineage show``: one function per
query, rows as named tuples (the breadth-first step's rows excepted: see
:func:`step_query`).

:mod:`lineage.traversal.traverse` and :mod:`lineage.traversal.show` keep the
logic; the graph is read only here.
"""

from __future__ import annotations

from typing import NamedTuple

from lineage.core.model import Kind
from lineage.store.base import NodeFilter, Store

#: One lineage step from node ``a`` to dataset ``b``, by (downstream, kind of ``a``).
_STEP = {
    (True, Kind.DATASET): "(a)-[:INPUT_TO]->(q:Quantum)-[:PRODUCED]->(b:Dataset)",
    (False, Kind.DATASET): "(a)<-[:PRODUCED]-(q:Quantum)<-[:INPUT_TO]-(b:Dataset)",
    (True, Kind.QUANTUM): "(a)-[:PRODUCED]->(b:Dataset)",
    (False, Kind.QUANTUM): "(a)<-[:INPUT_TO]-(b:Dataset)",
}


class FeedsRow(NamedTuple):
    """A ``FEEDS`` edge of the type-level graph: some task read one type and wrote the other."""

    read_type: str
    written_type: str
    task: str


def feeds_edges(store: Store) -> list[FeedsRow]:
    """Every ``FEEDS`` edge between dataset types."""
    return [FeedsRow(*r) for r in store.read_plain(
        "MATCH (a:DatasetType)-[e:FEEDS]->(b:DatasetType) RETURN a.name, b.name, e.task")]


def step_query(downstream: bool, kind: Kind, keys: list[str], with_parents: bool,
               via: list[str] | None = None, want: list[str] | None = None,
               ended_by: str | None = None) -> tuple[str, dict]:
    """(Cypher, parameters) of one breadth-first step from the nodes ``keys`` (all of
    ``kind``: datasets or quanta), down or up one quantum, to the datasets it reaches.

    Rows: ``[b.key, b.dataset_type, b.data_id, b.run]``, each dataset once; with
    ``with_parents``, ``[a.key, quantum key (None from a quantum), b.key, ...]`` per
    edge.  With ``via``, only datasets of those types are reached; with ``want``, data
    ID and run come back only for datasets of those types (the rest are waypoints:
    key and type suffice).  With ``ended_by`` (a TAI ISO time), a step down from datasets
    passes only through quanta that had ended by then (:func:`existed_at`).  Run it with
    :meth:`Store.read_plain` (strings and nulls only); the rows stay the engine's, as
    millions of them may come back.
    """
    conditions = []
    if via is not None:
        conditions.append("b.dataset_type IN $via")
    if ended_by is not None and downstream and kind == Kind.DATASET:
        conditions.append(_ENDED_BY.format(q="q"))
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    if want is not None:
        details = ("CASE WHEN b.dataset_type IN $want THEN b.data_id END, "
                   "CASE WHEN b.dataset_type IN $want THEN b.run END")
    else:
        details = "b.data_id, b.run"
    if with_parents:
        quantum = "q.key" if kind == Kind.DATASET else "null"
        ret = f"RETURN a.key, {quantum}, b.key, b.dataset_type, {details}"
    else:
        ret = f"RETURN DISTINCT b.key, b.dataset_type, {details}"
    params: dict = {"keys": keys}
    if via is not None:
        params["via"] = via
    if want is not None:
        params["want"] = want
    if ended_by is not None:
        params["ended_by"] = ended_by
    return (f"MATCH (a:{kind.value}) WHERE a.key IN $keys "
            f"MATCH {_STEP[(downstream, kind)]} {where}{ret}"), params


# --- as of a time: what existed then -----------------------------------------------------

#: Quantum ``q`` had ended by ``$ended_by`` (TAI ISO text, compared as text with the stored
#: ``end``, TAI as every quantum time); a quantum with no recorded end is kept.
_ENDED_BY = "({q}.end IS NULL OR {q}.end <= $ended_by)"


def existed_at(var: str, carried: str) -> str:
    """The clauses keeping the dataset ``var`` only if it existed at ``$ended_by``: no quantum
    wrote it (a raw, a calibration) or the one that did had ended by then.  ``carried`` names
    the variables the query still needs after them (``var`` among them)."""
    return (f"OPTIONAL MATCH (maker:Quantum)-[:PRODUCED]->({var}) "
            f"WITH {carried}, maker WHERE maker IS NULL OR {_ENDED_BY.format(q='maker')} ")


def made_after(store: Store, kind: Kind, keys: list[str], ended_by: str) -> set[str]:
    """Those of the datasets or quanta (``kind``) ``keys`` that did not exist at ``ended_by``
    (TAI ISO): quanta that ended later, datasets such a quantum wrote."""
    if kind == Kind.QUANTUM:
        query = "MATCH (q:Quantum) WHERE q.key IN $keys AND q.end > $ended_by RETURN q.key"
    else:
        query = ("MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset) WHERE d.key IN $keys "
                 "AND q.end > $ended_by RETURN d.key")
    return {r[0] for r in store.read(query, {"keys": keys, "ended_by": ended_by})}


class DatasetIdentity(NamedTuple):
    key: str
    dataset_type: str | None
    data_id: str | None
    run: str | None
    deleted_at: str | None     # a tombstone's stamp (docs/retention.md); None: live


def dataset_identities(store: Store, keys: list[str]) -> list[DatasetIdentity]:
    """Type, data ID, run and deletion stamp of the stored datasets ``keys`` (one seek per
    key, plain rows: the cheapest read of thousands), for labels and lists: the explorer's
    selection, the search's hits."""
    return [DatasetIdentity(*r) for r in store.read_plain(
        "UNWIND $keys AS k MATCH (d:Dataset {key: k}) "
        "RETURN d.key, d.dataset_type, d.data_id, d.run, d.deleted_at", {"keys": keys})]


# --- tombstones: deleted datasets (docs/retention.md) ---------------------------------------

def any_deleted(store: Store) -> bool:
    """Whether the repository holds a tombstone at all: a repository without one needs no
    question about the datasets of an answer.  Every stamp sorts at or above ``''``, and
    that range predicate is one seek of the ``deleted_at`` index (0.1 ms on 58,000
    datasets), where ``IS NOT NULL`` scans every dataset (6 ms)."""
    return bool(store.read_plain(
        "MATCH (d:Dataset) WHERE d.deleted_at >= '' RETURN d.key LIMIT 1"))


def deleted_stamps(store: Store, keys: list[str]) -> dict[str, str]:
    """Dataset key -> when it was deleted (``deleted_at``), of the tombstones among the
    datasets ``keys`` (one seek per key, plain rows)."""
    return {k: at for k, at in store.read_plain(
        "UNWIND $keys AS k MATCH (d:Dataset {key: k}) WHERE d.deleted_at IS NOT NULL "
        "RETURN d.key, d.deleted_at", {"keys": keys})}


class DeletionRow(NamedTuple):
    """A tombstone's record (docs/retention.md, "The model")."""

    key: str
    at: str
    by: str | None
    reason: str | None
    forced: bool | None
    files_removed: bool | None
    history: list[str] | None


def deletions(store: Store, keys: list[str]) -> list[DeletionRow]:
    """The deletion records of the tombstones among the datasets ``keys``."""
    return [DeletionRow(*r) for r in store.read(
        "UNWIND $keys AS k MATCH (d:Dataset {key: k}) WHERE d.deleted_at IS NOT NULL "
        "RETURN d.key, d.deleted_at, d.deleted_by, d.deleted_reason, d.deleted_forced, "
        "d.files_removed, d.deletion_history", {"keys": keys})]


def quantum_tasks(store: Store, keys: list[str]) -> dict[str, str]:
    """quantum key -> the task that ran it, of the quanta ``keys`` (for pictures)."""
    return {k: t for k, t in store.read_plain(
        "MATCH (q:Quantum) WHERE q.key IN $keys RETURN q.key, q.task", {"keys": keys})}


# --- collections -----------------------------------------------------------------------------

class CollectionRow(NamedTuple):
    name: str
    collection_type: str


def collection_named(store: Store, name: str) -> CollectionRow | None:
    """The collection called ``name`` (None: not stored)."""
    rows = store.read("MATCH (c:Collection {key: $k}) RETURN c.name, c.collection_type",
                      {"k": f"collection:{name}"})
    return CollectionRow(*rows[0]) if rows else None


def chained_collections(store: Store, name: str) -> list[CollectionRow]:
    """The collections the chain ``name`` links to directly."""
    return [CollectionRow(*r) for r in store.read(
        "MATCH (:Collection {key: $k})-[:CHAINS]->(c:Collection) "
        "RETURN c.name, c.collection_type", {"k": f"collection:{name}"})]


def datasets_in_collections(store: Store, names: list[str], keys: list[str]) -> set[str]:
    """Those of the datasets ``keys`` that one of the collections ``names`` contains."""
    return {r[0] for r in store.read(
        "MATCH (c:Collection)-[:CONTAINS]->(x:Dataset) WHERE c.name IN $names "
        "AND x.key IN $keys RETURN DISTINCT x.key", {"names": names, "keys": keys})}


# --- one node and its neighbours (show.py) --------------------------------------------------

#: The edge pattern from node ``n`` to neighbour ``m`` for each direction.
_DIRECTION = {"out": "-[e]->", "in": "<-[e]-"}


class EdgeCountRow(NamedTuple):
    rel: str
    count: int


class NeighbourRow(NamedTuple):
    rel: str
    key: str


def node_properties(store: Store, label: str, key: str) -> dict | None:
    """The properties of the ``label`` node ``key`` (None: not stored)."""
    rows = store.read(f"MATCH (n:{label} {{key: $k}}) RETURN properties(n)", {"k": key})
    return dict(rows[0][0]) if rows else None


def neighbour_counts(store: Store, label: str, key: str, direction: str) -> list[EdgeCountRow]:
    """How many neighbours the node has over each edge type, ``direction`` "out" or "in"."""
    return [EdgeCountRow(*r) for r in store.read(
        f"MATCH (n:{label} {{key: $k}}){_DIRECTION[direction]}(m) "
        f"RETURN type(e), count(m)", {"k": key})]


def neighbours(store: Store, label: str, key: str, direction: str,
               limit: int) -> list[NeighbourRow]:
    """The node's first ``limit`` neighbours, ``direction`` "out" or "in", by edge type and key."""
    return [NeighbourRow(*r) for r in store.read(
        f"MATCH (n:{label} {{key: $k}}){_DIRECTION[direction]}(m) "
        f"RETURN type(e), m.key ORDER BY type(e), m.key LIMIT {int(limit)}", {"k": key})]


# --- dataset listings (the API's datasets pages) ---------------------------------------

def dataset_filter(selected: list[str] | None = None, types: list[str] | None = None,
                   run: str | None = None, runs: list[str] | None = None,
                   tagged: list[str] | None = None, include_deleted: bool = False) -> NodeFilter:
    """Datasets among the keys ``selected``, of ``types``, of ``run``, and (when ``runs`` is
    given) of the RUN collections ``runs`` or among the keys ``tagged``; None: any.  Live
    datasets only unless ``include_deleted`` (tombstones: docs/retention.md)."""
    conditions, params = ([] if include_deleted else ["n.deleted_at IS NULL"]), {}
    if selected is not None:
        conditions.append("n.key IN $selected")
        params["selected"] = selected
    if types is not None:
        conditions.append("n.dataset_type IN $types")
        params["types"] = types
    if run is not None:
        conditions.append("n.run = $run")
        params["run"] = run
    if runs is not None:
        conditions.append("(n.run IN $runs OR n.key IN $tagged)")
        params.update(runs=runs, tagged=tagged or [])
    return NodeFilter(conditions, params)


def tagged_datasets(store, collections: list[str]) -> list[str]:
    """Keys of the datasets the (TAGGED, CALIBRATION) ``collections`` contain."""
    return [r[0] for r in store.read(
        "MATCH (c:Collection)-[:CONTAINS]->(d:Dataset) WHERE c.name IN $names "
        "RETURN DISTINCT d.key", {"names": collections})]

"""The Cypher of the search box: each query one index lookup or a scan of a small label
(collections, dataset types, tasks, flags); rows as named tuples.

Nodes by key come through :meth:`~lineage.store.base.Store.nodes`, flags by id through
:func:`lineage.flags.flags_matching`, datasets of a data ID through
:func:`lineage.dataunits.resolve.resolve`.
"""

from __future__ import annotations

from typing import NamedTuple

from lineage.store.base import KeyedNode, Store


def data_units_of_any_dimension(store: Store, value: str) -> list[KeyedNode]:
    """The data units of any dimension whose value is ``value`` (the ``value`` index)."""
    return [KeyedNode(*r) for r in store.read(
        "MATCH (u:DataUnit) WHERE u.value = $v RETURN u.key, properties(u)", {"v": value})]


class NamedNode(NamedTuple):
    """A collection or dataset type: its key, name and (a collection's) type."""
    key: str
    name: str
    collection_type: str | None


def collections_containing(store: Store, lowered: str) -> list[NamedNode]:
    """Collections whose name, lower-cased, contains ``lowered``."""
    return [NamedNode(*r) for r in store.read(
        "MATCH (c:Collection) WHERE toLower(c.name) CONTAINS $t "
        "RETURN c.key, c.name, c.collection_type", {"t": lowered})]


def dataset_types_containing(store: Store, lowered: str) -> list[NamedNode]:
    """Dataset types whose name, lower-cased, contains ``lowered``."""
    return [NamedNode(*r) for r in store.read(
        "MATCH (t:DatasetType) WHERE toLower(t.name) CONTAINS $t "
        "RETURN t.key, t.name, null", {"t": lowered})]


def tasks_labelled(store: Store, label: str) -> list[KeyedNode]:
    """The ``Task`` nodes (tasks of an ingested pipeline) with this label."""
    return [KeyedNode(*r) for r in store.read(
        "MATCH (t:Task) WHERE t.label = $l RETURN t.key, properties(t)", {"l": label})]


class QuantumSummary(NamedTuple):
    key: str
    data_id: str
    run: str


def quanta_of_task(store: Store, task: str, first: int) -> list[QuantumSummary]:
    """The first ``first`` quanta of the task labelled ``task`` (the ``task`` index), by
    run, then data ID text, then key."""
    return [QuantumSummary(*r) for r in store.read(
        "MATCH (q:Quantum) WHERE q.task = $t RETURN q.key, q.data_id, q.run "
        "ORDER BY q.run, q.data_id, q.key LIMIT $n", {"t": task, "n": first})]


def quantum_count_of_task(store: Store, task: str) -> int:
    """How many quanta the task labelled ``task`` ran."""
    return int(store.read("MATCH (q:Quantum) WHERE q.task = $t RETURN count(q)",
                          {"t": task})[0][0])

"""The Cypher pre-flight asks of its own.  The rest it reads through the store's generic
reads (:meth:`~lineage.store.base.Store.nodes`, :meth:`~lineage.store.base.Store.related`)
and the flags' and data units' own queries."""

from __future__ import annotations

from typing import NamedTuple


class ExistingDataset(NamedTuple):
    """A dataset a collection already holds."""
    key: str
    dataset_type: str
    data_id: str
    run: str
    deleted_at: str | None   # a tombstone (docs/retention.md): when it was deleted


def datasets_of_types_in(store, collection_keys: list[str],
                         types: list[str]) -> list[ExistingDataset]:
    """The datasets of ``types`` that the collections ``collection_keys`` contain (a RUN
    contains its own datasets), tombstones included, in no order."""
    return [ExistingDataset(*r) for r in store.read(
        "UNWIND $colls AS c MATCH (:Collection {key: c})-[:CONTAINS]->(d:Dataset) "
        "WHERE d.dataset_type IN $types RETURN d.key, d.dataset_type, d.data_id, d.run, "
        "d.deleted_at", {"colls": collection_keys, "types": types})]

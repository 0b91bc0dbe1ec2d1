"""The Cypher of ``lineage sync``: what the graph holds of a Butler's collections and of a
RUN's datasets (the sync state is on the collection nodes, :mod:`lineage.sync.core`)."""

from __future__ import annotations

from typing import NamedTuple

from lineage.core.model import collection_key
from lineage.store.base import Store


class SyncedCollectionRow(NamedTuple):
    name: str
    butler_repo: str | None     #: the Butler it was synced from (None: not synced)
    butler_state: str | None    #: JSON: what that Butler held when it was last read


def synced_collections(store: Store, names: list[str]) -> list[SyncedCollectionRow]:
    """The stored collections among ``names``, with their sync state."""
    return [SyncedCollectionRow(*r) for r in store.read(
        "UNWIND $keys AS k MATCH (c:Collection {key: k}) "
        "RETURN c.name, c.butler_repo, c.butler_state",
        {"keys": [collection_key(n) for n in names]})]


class RunDatasetRow(NamedTuple):
    key: str
    removed: str | None         #: when a sync found it gone from the Butler (None: present)


def run_datasets(store: Store, run: str) -> list[RunDatasetRow]:
    """The datasets the graph holds in ``run`` (its ``CONTAINS`` edges)."""
    return [RunDatasetRow(*r) for r in store.read(
        "MATCH (c:Collection {key: $key})-[:CONTAINS]->(d:Dataset) WHERE d.run = $run "
        "RETURN d.key, d.butler_removed", {"key": collection_key(run), "run": run})]


def collections_synced_from(store: Store, source: str) -> list[SyncedCollectionRow]:
    """Every collection the graph holds from the Butler ``source``."""
    return [SyncedCollectionRow(*r) for r in store.read(
        "MATCH (c:Collection) WHERE c.butler_repo = $source "
        "RETURN c.name, c.butler_repo, c.butler_state", {"source": source})]

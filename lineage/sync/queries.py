"""The Cypher of ``lineage sync``: what the graph holds of a Butler's collections and of a
RUN's datasets (the sync state is on the collection nodes, :mod:`lineage.sync.core`); and
the SQL its fast read of a Butler registry sends (:meth:`lineage.sync.butler.ButlerSource.sql_rows`)."""

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


# --- SQL of a Butler registry's own schema (ButlerSource.sql_rows; its version check) ---------

#: The collection ID of a RUN (``:run`` its name, ``:type`` CollectionType.RUN's value).
SQL_RUN_ID = "SELECT collection_id FROM collection WHERE name = :run AND type = :type"
#: Every dataset type: its ID, name and the table of its datasets' data IDs.
SQL_DATASET_TYPES = "SELECT id, name, tag_association_table FROM dataset_type"
#: A RUN's datasets of one type, with the data ID columns ``{columns}`` of ``{tags}``.
SQL_RUN_DATASETS = ('SELECT d.id{columns} FROM dataset d JOIN "{tags}" t '
                    "ON t.dataset_id = d.id AND t.collection_id = d.run_id "
                    "WHERE d.run_id = :run_id AND d.dataset_type_id = :type_id")
#: The file of every dataset of a RUN that has one (``:primary``: the whole dataset's record).
SQL_RUN_FILES = ("SELECT f.dataset_id, f.path FROM file_datastore_records f "
                 "JOIN dataset d ON d.id = f.dataset_id "
                 "WHERE d.run_id = :run_id AND f.component = :primary")
#: The registry's manager versions.
SQL_ATTRIBUTES = "SELECT name, value FROM butler_attributes"

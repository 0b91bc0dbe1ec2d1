"""Every query deletion, file collection and retention run: tombstones, the files datasets
name, and the ages of datasets (docs/retention.md).

The reads of every dataset (a gc's listing, a retention plan) give the engine's lists as
they come, with their columns in the docstring: they return a row per dataset.
"""

from __future__ import annotations

from lineage.store.cypher import Statement


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


def live_consumers(store, keys: list[str]) -> list:
    """``[dataset key, consumer key]``: the live datasets made from each of ``keys`` (by a
    quantum it was an input to)."""
    # one pattern per MATCH: FalkorDB plans the joined path with the filter 300 times slower
    return store.read_plain(
        "UNWIND $keys AS k MATCH (d:Dataset {key: k}) MATCH (d)-[:INPUT_TO]->(q) "
        "MATCH (q)-[:PRODUCED]->(c) WHERE c.deleted_at IS NULL "
        "RETURN DISTINCT d.key, c.key", {"keys": keys})

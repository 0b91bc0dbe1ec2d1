"""The Cypher of lightcurve provenance: one function per query, rows as named tuples.

:mod:`lineage.lightcurve` keeps the logic (reading the catalogs, following
each epoch's chain); the graph is read only here.
"""

from __future__ import annotations

from typing import NamedTuple

from lineage.store.base import Store


class CatalogRow(NamedTuple):
    """A catalog dataset and where its file is."""

    key: str
    data_id: str
    uri: str | None


def catalogs_in_runs(store: Store, dataset_type: str, runs: list[str]) -> list[CatalogRow]:
    """The datasets of ``dataset_type`` in these RUN collections, by data ID."""
    return [CatalogRow(*r) for r in store.read(
        "MATCH (d:Dataset) WHERE d.dataset_type = $t AND d.run IN $runs "
        "RETURN d.key, d.data_id, d.uri ORDER BY d.data_id, d.key",
        {"t": dataset_type, "runs": runs})]


def catalogs_read_to_make(store: Store, dataset_key: str, dataset_type: str
                          ) -> list[CatalogRow]:
    """The ``dataset_type`` inputs of the quantum that produced ``dataset_key``, by data ID."""
    return [CatalogRow(*r) for r in store.read(
        "MATCH (q:Quantum)-[:PRODUCED]->(:Dataset {key: $k}) "
        "MATCH (s:Dataset)-[:INPUT_TO]->(q) WHERE s.dataset_type = $t "
        "RETURN s.key, s.data_id, s.uri ORDER BY s.data_id",
        {"k": dataset_key, "t": dataset_type})]


class ProducerRow(NamedTuple):
    """The quantum that produced a dataset: its task, software, config and inputs."""

    dataset: str
    task: str
    status: str | None
    software_key: str | None
    software_name: str | None
    config: str | None
    inputs: list        # [key, dataset type, data ID] of each input ([None]*3 if none)


def producers_of(store: Store, dataset_keys: list[str]) -> list[ProducerRow]:
    """The producing quantum of each of these datasets that has one."""
    return [ProducerRow(*r) for r in store.read(
        "UNWIND $keys AS k MATCH (q:Quantum)-[:PRODUCED]->(:Dataset {key: k}) "
        "OPTIONAL MATCH (q)-[:RAN_WITH]->(s:SoftwareVersion) "
        "OPTIONAL MATCH (q)-[:CONFIGURED_BY]->(c:Config) "
        "OPTIONAL MATCH (i:Dataset)-[:INPUT_TO]->(q) "
        "RETURN k, q.task, q.status, s.key, s.name, c.key, "
        "collect([i.key, i.dataset_type, i.data_id])", {"keys": dataset_keys})]


class UnitPropertiesRow(NamedTuple):
    key: str
    properties: dict


def units_with_properties(store: Store, keys: list[str]) -> list[UnitPropertiesRow]:
    """The stored data units of ``keys`` with their properties."""
    return [UnitPropertiesRow(*r) for r in store.read(
        "MATCH (v:DataUnit) WHERE v.key IN $keys RETURN v.key, properties(v)", {"keys": keys})]


class VisitFlagRow(NamedTuple):
    visit: str
    flag: str
    verdict: str


def active_flags_of_visits(store: Store, visit_keys: list[str]) -> list[VisitFlagRow]:
    """Flags not retracted on these visits or on units (exposures) part of them."""
    return [VisitFlagRow(*r) for r in store.read(
        "MATCH (f:Flag)-[:FLAGS]->(u:DataUnit) WHERE f.retracted_at IS NULL "
        "OPTIONAL MATCH (u)-[:PART_OF]->(v:DataUnit) WHERE v.key IN $keys "
        "WITH f, u, v WHERE u.key IN $keys OR v IS NOT NULL "
        "RETURN coalesce(v.key, u.key), f.key, f.verdict", {"keys": visit_keys})]


def instrument_of_visit_dataset(store: Store, dataset_key: str) -> str | None:
    """The instrument of the visit that identifies the dataset (None: no visit)."""
    rows = store.read("MATCH (:Dataset {key: $k})-[:IDENTIFIED_BY]->(u:DataUnit) "
                      "WHERE u.dimension = 'visit' MATCH (u)-[:PART_OF*1..2]->(i:DataUnit) "
                      "WHERE i.dimension = 'instrument' RETURN i.value LIMIT 1",
                      {"k": dataset_key})
    return rows[0][0] if rows else None


def config_values_text(store: Store, config_key: str) -> str | None:
    """The ``values`` of one Config node, JSON text (None: no such node or no values)."""
    rows = store.read("MATCH (c:Config {key: $k}) RETURN c.values", {"k": config_key})
    return rows[0][0] if rows else None

"""The Cypher of the exports to other formats (``lineage export --format openlineage``):
one function per query; the big reads give the engine's rows as they come."""

from __future__ import annotations

from lineage.store.base import Store


def quanta(store: Store) -> list:
    """Every quantum as ``[key, properties]``."""
    return store.read("MATCH (q:Quantum) RETURN q.key, properties(q)")


def quantum_links(store: Store) -> list:
    """Every edge of a quantum as ``[quantum key, edge type, other key]``: the datasets it
    read (``INPUT_TO``) and wrote (``PRODUCED``), its software (``RAN_WITH``) and config
    (``CONFIGURED_BY``)."""
    return (store.read("MATCH (d:Dataset)-[:INPUT_TO]->(q:Quantum) "
                       "RETURN q.key, 'INPUT_TO', d.key")
            + store.read("MATCH (q:Quantum)-[e]->(n) WHERE type(e) IN "
                         "['PRODUCED', 'RAN_WITH', 'CONFIGURED_BY'] RETURN q.key, type(e), n.key"))

"""Every node and edge of a graph as plain records (the generic dump export and copy use)."""

from __future__ import annotations

from typing import Iterator

from lineage.core.model import Kind, Rel
from lineage.store.base import Store
from lineage.store.cypher import public_props


def iter_records(store: Store) -> Iterator[dict]:
    """Every node, then every edge, in a stable order."""
    for kind in sorted(Kind, key=lambda k: k.value):
        rows = store.read(f"MATCH (n:{kind.value}) RETURN n.key, properties(n)")
        for key, props in sorted(rows, key=lambda r: r[0]):
            props = public_props(dict(props))
            props.pop("key", None)
            yield {"node": key, "kind": kind.value,
                   "props": dict(sorted(props.items()))}
    for rel in sorted(Rel, key=lambda r: r.value):
        rows = store.read(f"MATCH (a)-[e:{rel.value}]->(b) RETURN a.key, b.key, properties(e)")
        for src, dst, props in sorted(rows, key=lambda r: (r[0], r[1])):
            props = public_props(dict(props))
            yield {"edge": rel.value, "src": src, "dst": dst,
                   "props": dict(sorted(props.items()))}

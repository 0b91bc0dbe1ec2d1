"""One node with its properties and neighbours (`lineage show`)."""

from __future__ import annotations

from lineage.core.model import kind_of_key
from lineage.core.selector import SelectorError, parse_selector
from lineage.traversal.queries import neighbour_counts, neighbours, node_properties


def show(store, key: str, limit: int = 25) -> dict:
    """A node's properties and its neighbours (at most ``limit`` per direction)."""
    sel = parse_selector(key)
    if not sel.keys:
        raise SelectorError(f"`show` takes a node key or dataset UUID, not {key!r}")
    key = sel.keys[0]
    label = kind_of_key(key).value
    stored = node_properties(store, label, key)
    if stored is None:
        raise SelectorError(f"no such node: {key}")
    props = {k: v for k, v in stored.items() if not k.startswith("_")}
    out = {"key": key, "kind": label, "properties": props}
    for name in ("out", "in"):
        counts = neighbour_counts(store, label, key, name)
        edges = neighbours(store, label, key, name, limit)
        out[name] = {"counts": dict(sorted((t, int(c)) for t, c in counts)),
                     "edges": [{"rel": t, "key": k} for t, k in edges]}
    return out

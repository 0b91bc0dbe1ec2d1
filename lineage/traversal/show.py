"""One node with its properties and neighbours (`lineage show`)."""

from __future__ import annotations

from lineage.core.model import kind_of_key
from lineage.core.selector import SelectorError, parse_selector


def show(store, key: str, limit: int = 25) -> dict:
    """A node's properties and its neighbours (at most ``limit`` per direction)."""
    sel = parse_selector(key)
    if not sel.keys:
        raise SelectorError(f"`show` takes a node key or dataset UUID, not {key!r}")
    key = sel.keys[0]
    label = kind_of_key(key).value
    rows = store.read(f"MATCH (n:{label} {{key: $k}}) RETURN properties(n)", {"k": key})
    if not rows:
        raise SelectorError(f"no such node: {key}")
    props = {k: v for k, v in dict(rows[0][0]).items() if not k.startswith("_")}
    out = {"key": key, "kind": label, "properties": props}
    for name, pattern in (("out", "-[e]->"), ("in", "<-[e]-")):
        counts = store.read(f"MATCH (n:{label} {{key: $k}}){pattern}(m) "
                            f"RETURN type(e), count(m)", {"k": key})
        edges = store.read(f"MATCH (n:{label} {{key: $k}}){pattern}(m) "
                           f"RETURN type(e), m.key ORDER BY type(e), m.key LIMIT {int(limit)}",
                           {"k": key})
        out[name] = {"counts": dict(sorted((t, int(c)) for t, c in counts)),
                     "edges": [{"rel": t, "key": k} for t, k in edges]}
    return out

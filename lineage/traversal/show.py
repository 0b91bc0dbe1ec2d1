"""One node with its properties and neighbours (`lineage show`)."""

from __future__ import annotations

from lineage.core.model import kind_of_key
from lineage.core.selector import SelectorError, parse_selector
from lineage.traversal.queries import neighbour_counts, neighbours, node_properties


def describe_deletion(props: dict) -> str | None:
    """One line saying when, by whom and why a tombstone was deleted and whether its files
    are gone (``props``: its node's properties; None: a live dataset or another node)."""
    if not props.get("deleted_at"):
        return None
    files = {True: "files removed", False: "file removal still owed"}.get(
        props.get("files_removed"), "files kept")
    forced = " (forced: live datasets depended on it)" if props.get("deleted_forced") else ""
    return (f"deleted {props['deleted_at']} by {props.get('deleted_by') or '?'}: "
            f"{props.get('deleted_reason') or '?'}; {files}{forced}")


def show(store, key: str, limit: int = 25) -> dict:
    """A node's properties and its neighbours (at most ``limit`` per direction); a tombstone's
    view says it was deleted (``deleted``: :func:`describe_deletion`)."""
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
    if props.get("deleted_at"):
        out["deleted"] = describe_deletion(props)
    for name in ("out", "in"):
        counts = neighbour_counts(store, label, key, name)
        edges = neighbours(store, label, key, name, limit)
        out[name] = {"counts": dict(sorted((t, int(c)) for t, c in counts)),
                     "edges": [{"rel": t, "key": k} for t, k in edges]}
    return out

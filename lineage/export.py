"""Whole-graph export (and import) as JSON lines.

One JSON object a line, nodes first (by kind, then key), then edges (by
type, source, target), so two exports of the same graph are byte-identical
whatever engine they came from::

    {"node": "dataset:...", "kind": "Dataset", "props": {...}}
    {"edge": "INPUT_TO", "src": "dataset:...", "dst": "quantum:...", "props": {...}}

Engine bookkeeping (properties starting with ``_``) is left out.
"""

from __future__ import annotations

import json
from typing import IO, Iterator

from .model import GraphBatch, Kind, ModelError, Rel
from .store.base import Store
from .store.cypher import public_props


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


def write_jsonl(store: Store, out: IO[str], progress=None) -> tuple[int, int]:
    nodes = edges = 0
    for record in iter_records(store):
        out.write(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")
        if "node" in record:
            nodes += 1
        else:
            edges += 1
        if progress:
            progress(1)
    return nodes, edges


def read_jsonl(lines: IO[str], name: str = "<input>", unit_size: int = 200_000) -> Iterator[GraphBatch]:
    """Ingest units from an export: nodes before edges, at most ``unit_size`` entities each.

    A malformed line raises :class:`ModelError` naming the file and line.
    """
    batch = GraphBatch(name)
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if "node" in rec:
                batch.add_node(rec["node"], **rec.get("props", {}))
            elif "edge" in rec:
                batch.add_edge(Rel(rec["edge"]), rec["src"], rec["dst"], **rec.get("props", {}))
            else:
                raise ModelError("neither 'node' nor 'edge'")
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{name}: line {lineno}: {exc}") from None
        if len(batch) >= unit_size:
            yield batch
            batch = GraphBatch(name)
    if len(batch):
        yield batch

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

from lineage.ingest import write_units
from lineage.core.model import GraphBatch, ModelError, Rel
from lineage.store.base import Store
from lineage.store.records import iter_records


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


def records_to_units(records, name: str = "<input>", unit_size: int = 200_000) -> Iterator[GraphBatch]:
    """Ingest units from ``(where, record)`` pairs of an export (nodes before edges).

    A malformed record raises :class:`ModelError` naming the source and ``where``.
    """
    batch = GraphBatch(name)
    for where, rec in records:
        try:
            if "node" in rec:
                batch.add_node(rec["node"], **rec.get("props", {}))
            elif "edge" in rec:
                batch.add_edge(Rel(rec["edge"]), rec["src"], rec["dst"], **rec.get("props", {}))
            else:
                raise ModelError("neither 'node' nor 'edge'")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"{name}: {where}: {exc}") from None
        if len(batch) >= unit_size:
            yield batch
            batch = GraphBatch(name)
    if len(batch):
        yield batch


def copy_graph(source: Store, target: Store, progress=None, unit_size: int = 200_000) -> int:
    """Copy every node and edge of ``source`` into ``target``; returns how many."""
    count = 0

    def records():
        nonlocal count
        for number, rec in enumerate(iter_records(source), 1):
            count += 1
            yield f"record {number}", rec

    units = records_to_units(records(), f"copy from {source.engine}", unit_size)
    write_units(target, units, "copy", total=sum(source.count()), show_progress=progress)
    return count

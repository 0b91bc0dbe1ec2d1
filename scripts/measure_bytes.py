"""Measure bytes per node and per edge of the demo lineage graph on both engines.

For each engine and size, two graphs are built from the same demo survey
(``lineage.demo.generate(SurveySpec(visits=N))``):

* ``full``: the demo as generated (nodes and edges);
* ``nodes``: the same nodes with every edge left out.

The ``nodes`` graph gives bytes per node directly; the difference between the
two gives bytes per edge.  Every figure is a difference against the same
engine's empty repository with the schema in place, so fixed overheads
(the server itself, empty index files) are not charged to the entities.

FalkorDB (embedded): ``INFO memory`` ``used_memory`` of the managed
``redis-server``, FalkorDB's own ``GRAPH.MEMORY USAGE`` report, and the size
of ``<repo>/falkordb/appendonlydir`` after ``store.server.compact()`` (a
snapshot, i.e. what a restart loads).

ArcadeDB over Bolt: the size of ``<root>/databases/lineage`` after the
ingest while the server runs, and again after it has stopped; write-ahead
log files (``*.wal``) are listed apart.

Usage::

    python scripts/measure_bytes.py            # falkordb 30, 100, 300 visits; arcadedb 30, 60 (about 3 min on 2 cores)
    python scripts/measure_bytes.py --falkordb-visits 300 --arcadedb-visits 0

Nothing is written outside temporary directories, which are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lineage.demo import SurveySpec, generate
from lineage.ingest import write_units
from lineage.core.model import GraphBatch
from lineage.store.repo import init_repo, open_store

MiB = 1024 * 1024


@dataclass
class Run:
    engine: str
    visits: int
    shape: str                 # "full" or "nodes"
    nodes: int = 0
    edges: int = 0
    seconds: float = 0.0
    bytes: dict = field(default_factory=dict)   # measure name -> bytes attributable to the graph
    notes: dict = field(default_factory=dict)


def demo_units(visits: int, nodes_only: bool) -> list[GraphBatch]:
    units = list(generate(SurveySpec(visits=visits)))
    if not nodes_only:
        return units
    stripped = []
    for unit in units:
        b = GraphBatch(unit.source + " (nodes only)")
        for key, props in unit.nodes.items():
            b.nodes[key] = dict(props)
        stripped.append(b)
    return stripped


def dir_bytes(path: Path, suffix: str | None = None, exclude_suffix: str | None = None) -> int:
    total = 0
    for p in path.rglob("*"):
        if not p.is_file():
            continue
        if suffix and not p.name.endswith(suffix):
            continue
        if exclude_suffix and p.name.endswith(exclude_suffix):
            continue
        total += p.stat().st_size
    return total


# --- FalkorDB -----------------------------------------------------------------------

def graph_memory_usage(store) -> dict | None:
    """FalkorDB's ``GRAPH.MEMORY USAGE`` report (whole MB, nested per label/type)."""
    try:
        reply = store.redis.execute_command("GRAPH.MEMORY", "USAGE", "lineage")
    except Exception as exc:  # an older module, or the command is unknown
        return {"error": str(exc)}
    def pairs(items):
        out = {}
        for k, v in zip(items[0::2], items[1::2]):
            k = k.decode() if isinstance(k, bytes) else str(k)
            if isinstance(v, list):
                out[k] = pairs(v)
            else:
                out[k] = float(v.decode() if isinstance(v, bytes) else v)
        return out
    return pairs(reply)


def measure_falkordb(visits: int, nodes_only: bool) -> Run:
    run = Run("falkordb", visits, "nodes" if nodes_only else "full")
    units = demo_units(visits, nodes_only)
    with tempfile.TemporaryDirectory(prefix="lineage-mb-") as tmp:
        root = Path(tmp) / "repo"
        init_repo(root)
        with open_store(root) as store:
            aof_dir = root / "falkordb" / "appendonlydir"
            store.server.compact()
            mem0 = store.redis.info("memory")
            aof0 = dir_bytes(aof_dir)
            t0 = time.perf_counter()
            write_units(store, units, show_progress=False)
            run.seconds = time.perf_counter() - t0
            run.nodes, run.edges = store.count()
            mem1 = store.redis.info("memory")
            usage = graph_memory_usage(store)
            store.server.compact()
            aof1 = dir_bytes(aof_dir)
            run.bytes["used_memory"] = mem1["used_memory"] - mem0["used_memory"]
            run.bytes["used_memory_rss"] = mem1["used_memory_rss"] - mem0["used_memory_rss"]
            if usage and "total_graph_sz_mb" in usage:
                run.bytes["GRAPH.MEMORY USAGE"] = int(usage["total_graph_sz_mb"] * MiB)
            run.bytes["AOF after compact"] = aof1 - aof0
            run.notes["GRAPH.MEMORY USAGE (MB)"] = usage
            run.notes["used_memory empty/after"] = (mem0["used_memory"], mem1["used_memory"])
            run.notes["AOF empty/after"] = (aof0, aof1)
            info = store.redis.info("server")
            run.notes["redis_version"] = info.get("redis_version")
            try:
                mods = store.redis.execute_command("MODULE", "LIST")
                run.notes["modules"] = [
                    {(k.decode() if isinstance(k, bytes) else k):
                     (v.decode() if isinstance(v, bytes) else v) for k, v in zip(m[0::2], m[1::2])
                     if (k.decode() if isinstance(k, bytes) else k) in ("name", "ver")}
                    for m in mods]
            except Exception:
                pass
    return run


# --- ArcadeDB over Bolt ---------------------------------------------------------------

def measure_arcadedb(visits: int, nodes_only: bool) -> Run:
    from lineage.store.arcadedb_server import DATABASE, ArcadeServer
    from lineage.store.bolt_store import BoltStore

    run = Run("arcadedb", visits, "nodes" if nodes_only else "full")
    units = demo_units(visits, nodes_only)
    with tempfile.TemporaryDirectory(prefix="lineage-mb-") as tmp:
        srv = ArcadeServer(Path(tmp) / "arcadedb")
        db = srv.dir / "databases" / DATABASE
        with srv:
            store = BoltStore(srv.settings)
            try:
                store.ensure_schema()
                base = dir_bytes(db, exclude_suffix=".wal")
                base_all = dir_bytes(db)
                t0 = time.perf_counter()
                write_units(store, units, show_progress=False)
                run.seconds = time.perf_counter() - t0
                run.nodes, run.edges = store.count()
                running = dir_bytes(db, exclude_suffix=".wal")
                running_wal = dir_bytes(db, suffix=".wal")
                run.notes["server_agent"] = store.server_agent
            finally:
                store.close()
        stopped = dir_bytes(db, exclude_suffix=".wal")
        stopped_wal = dir_bytes(db, suffix=".wal")
        run.bytes["disk, running, without WAL"] = running - base
        run.bytes["disk, stopped, without WAL"] = stopped - base
        run.notes["empty db bytes (without WAL / all)"] = (base, base_all)
        run.notes["WAL bytes running/stopped"] = (running_wal, stopped_wal)
        files = sorted(((p.stat().st_size, p.name) for p in db.rglob("*") if p.is_file()),
                       reverse=True)[:6]
        run.notes["largest files after stop"] = files
    return run


# --- report ----------------------------------------------------------------------------

def per_entity_table(full: Run, nodes: Run) -> list[str]:
    lines = [f"### {full.engine}, visits={full.visits}: {full.nodes:,} nodes, {full.edges:,} edges "
             f"(ingest {full.seconds:.1f} s = {(full.nodes + full.edges) / full.seconds:,.0f} "
             f"entities/s; nodes-only graph {nodes.seconds:.1f} s)",
             "",
             "| measure | full graph | B/(node+edge) | nodes-only graph | B/node | B/edge |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, total in full.bytes.items():
        n_only = nodes.bytes.get(name)
        per_entity = total / (full.nodes + full.edges)
        if n_only is None or nodes.nodes == 0:
            lines.append(f"| {name} | {total / MiB:,.1f} MiB | {per_entity:,.0f} | | | |")
            continue
        per_node = n_only / nodes.nodes
        per_edge = (total - n_only) / full.edges if full.edges else float("nan")
        lines.append(f"| {name} | {total / MiB:,.1f} MiB | {per_entity:,.0f} | "
                     f"{n_only / MiB:,.1f} MiB | {per_node:,.0f} | {per_edge:,.0f} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--falkordb-visits", type=int, nargs="*", default=[30, 100, 300],
                    help="demo sizes for the embedded engine (0 or none to skip)")
    ap.add_argument("--arcadedb-visits", type=int, nargs="*", default=[30, 60],
                    help="demo sizes for ArcadeDB over Bolt (0 or none to skip)")
    ap.add_argument("--verbose", action="store_true", help="print raw engine figures too")
    args = ap.parse_args(argv)

    print(f"# measure_bytes: {platform.platform()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")
    print(f"# command: {' '.join([Path(sys.argv[0]).name] + sys.argv[1:])}")
    t_all = time.perf_counter()
    pairs = []
    for visits in [v for v in args.falkordb_visits if v > 0]:
        pairs.append((measure_falkordb(visits, False), measure_falkordb(visits, True)))
    for visits in [v for v in args.arcadedb_visits if v > 0]:
        pairs.append((measure_arcadedb(visits, False), measure_arcadedb(visits, True)))
    for full, nodes in pairs:
        print()
        print("\n".join(per_entity_table(full, nodes)))
        if args.verbose:
            for run in (full, nodes):
                print(f"\n{run.engine} {run.shape} visits={run.visits}:")
                for k, v in run.notes.items():
                    print(f"  {k}: {v}")
    print(f"\n# total wall time {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Lineage benchmark: the embedded engine (and ArcadeDB over Bolt) against
networkx in memory, side by side in one run, on the same generated graph.

For each size it measures
* ingest rate: nodes+edges per second through ``write_units`` (networkx:
  building the in-memory graph from the same units);
* "which coadds used visit V": median and p95 over random visits;
* "all inputs of coadd C": median and p95 over random coadds.

Queries alternate between engines so machine noise hits all of them alike.
The networkx side runs the same algorithm (seed resolution, per-step BFS,
dataset-type pruning) on an in-memory DiGraph, so the ratio measures the
engine, not a different method.

    python scripts/bench_lineage.py --nodes 100000 1000000 --arcadedb-max-nodes 100000
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx

from lineage.traversal import traverse as query
from lineage.demo import SurveySpec, generate, plan_survey
from lineage.ingest import write_units
from lineage.core.model import Rel
from lineage.store.repo import init_repo, open_store


# --- the networkx side ---------------------------------------------------------------

class NxLineage:
    """The same questions over an in-memory DiGraph."""

    def __init__(self, units) -> None:
        self.g = nx.DiGraph()
        self.type_of: dict[str, str] = {}
        for unit in units:
            for key, props in unit.nodes.items():
                self.g.add_node(key, **props)
                if "dataset_type" in props:
                    self.type_of[key] = props["dataset_type"]
            for (rel, src, dst), props in unit.edges.items():
                self.g.add_edge(src, dst, rel=rel.value, **props)
        self.types = nx.DiGraph()
        for (rel, src, dst) in ((d["rel"], a, b) for a, b, d in self.g.edges(data=True)
                                if d["rel"] == Rel.FEEDS.value):
            self.types.add_edge(src.split(":", 1)[1], dst.split(":", 1)[1])

    def seeds(self, visit_key: str) -> list[str]:
        units = {visit_key} | {u for u in self.g.predecessors(visit_key)
                               if self.g.edges[u, visit_key]["rel"] == "PART_OF"}
        return [d for u in units for d in self.g.predecessors(u)
                if self.g.edges[d, u]["rel"] == "IDENTIFIED_BY"]

    def traverse(self, seeds, direction, types=None):
        via = onward = None
        if types:
            via = set(types)
            for t in types:
                via |= nx.ancestors(self.types, t) if direction == "down" else nx.descendants(self.types, t)
            nxt_types = self.types.successors if direction == "down" else self.types.predecessors
            onward = {t for t in via if t in self.types and any(n in via for n in nxt_types(t))}
            seeds = [s for s in seeds if self.type_of.get(s) in via]
        step = self.g.successors if direction == "down" else self.g.predecessors
        found, expanded = {}, set(seeds)
        frontier = [s for s in seeds if onward is None or self.type_of.get(s) in onward]
        n = 0
        while frontier:
            n += 1
            nxt = []
            for a in frontier:
                for q in step(a):
                    if not q.startswith("quantum:"):
                        continue
                    for b in step(q):
                        if not b.startswith("dataset:") or b in found:
                            continue
                        if via is not None and self.type_of[b] not in via:
                            continue
                        found[b] = n
                        if b not in expanded and (onward is None or self.type_of[b] in onward):
                            expanded.add(b)
                            nxt.append(b)
            frontier = nxt
        return {k for k in found if not types or self.type_of[k] in types}


# --- measurement -------------------------------------------------------------------

def _stats(samples: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples)
    return {"median_ms": statistics.median(ms), "p95_ms": ms[int(0.95 * (len(ms) - 1))],
            "n": len(ms)}


def bench_size(nodes_wanted: int, engines: list[str], repeats: int, workdir: Path,
               arcadedb_max: int) -> dict:
    spec = SurveySpec.for_nodes(nodes_wanted)
    t0 = time.perf_counter()
    units = list(generate(spec))
    gen_s = time.perf_counter() - t0
    n_nodes = len({k for u in units for k in u.nodes})
    n_edges = len({e for u in units for e in u.edges})
    result = {"spec": {"visits": spec.visits, "detectors": spec.detectors, "tracts": spec.tracts},
              "nodes": n_nodes, "edges": n_edges, "generate_s": gen_s, "engines": {}}
    print(f"\n== {n_nodes:,} nodes, {n_edges:,} edges ({spec.visits} visits x {spec.detectors} "
          f"detectors; generated in {gen_s:.1f} s)", flush=True)

    stores = {}
    for name in engines:
        if name == "arcadedb" and n_nodes > arcadedb_max:
            print(f"   arcadedb: skipped above {arcadedb_max:,} nodes", flush=True)
            continue
        t0 = time.perf_counter()
        if name == "networkx":
            stores[name] = NxLineage(units)
        elif name == "falkordb":
            root = workdir / f"repo-{nodes_wanted}"
            init_repo(root)
            stores[name] = open_store(root)
            write_units(stores[name], units, show_progress=False)
        elif name == "arcadedb":
            from lineage.store.arcadedb_server import ArcadeServer
            from lineage.store.bolt_store import BoltStore
            server = ArcadeServer(workdir / f"arcadedb-{nodes_wanted}", heap="8g").start()
            result.setdefault("_servers", []).append(server)
            t0 = time.perf_counter()
            stores[name] = BoltStore(server.settings)
            stores[name].ensure_schema()
            write_units(stores[name], units, show_progress=False)
        secs = time.perf_counter() - t0
        rate = (n_nodes + n_edges) / secs
        result["engines"][name] = {"ingest_s": secs, "ingest_per_s": rate}
        print(f"   {name:9s} ingest {secs:7.1f} s = {rate:10,.0f} nodes+edges/s", flush=True)

    # The generated units were only input; a real process does not hold them.
    # Dropping them keeps Python's garbage collector from rescanning millions of
    # objects during the timed queries (networkx keeps its own graph).
    del units
    gc.collect()
    survey = plan_survey(spec)
    rng = random.Random(42)
    visits = [v.id for v in survey.visits if v.detectors]
    sample_visits = [rng.choice(visits) for _ in range(repeats)]
    nxl = stores.get("networkx")
    probe = stores.get("falkordb") or next(s for n, s in stores.items() if n != "networkx")
    coadds = [r[0] for r in probe.read(
        "MATCH (d:Dataset) WHERE d.dataset_type = 'deepCoadd' RETURN d.key")]
    sample_coadds = [rng.choice(coadds) for _ in range(repeats)]

    timings = {name: {"coadds_of_visit": [], "inputs_of_coadd": []} for name in stores}
    for i in range(repeats):
        vkey = f"unit:visit:DemoCam/{sample_visits[i]}"
        answers = {}
        for name, store in stores.items():
            t0 = time.perf_counter()
            if name == "networkx":
                got = store.traverse(store.seeds(vkey), "down", ["deepCoadd"])
            else:
                got = {r.key for r in query.downstream(store, vkey, types=["deepCoadd"])}
            timings[name]["coadds_of_visit"].append(time.perf_counter() - t0)
            answers[name] = got
        assert len({frozenset(a) for a in answers.values()}) == 1, "engines disagree"
        ckey = sample_coadds[i]
        answers = {}
        for name, store in stores.items():
            t0 = time.perf_counter()
            if name == "networkx":
                got = store.traverse([ckey], "up")
            else:
                got = {r.key for r in query.upstream(store, ckey)}
            timings[name]["inputs_of_coadd"].append(time.perf_counter() - t0)
            answers[name] = got
        assert len({frozenset(a) for a in answers.values()}) == 1, "engines disagree"
    for name, t in timings.items():
        for q, samples in t.items():
            result["engines"][name][q] = _stats(samples)
    for q in ("coadds_of_visit", "inputs_of_coadd"):
        line = ", ".join(f"{n} {result['engines'][n][q]['median_ms']:.2f}/"
                         f"{result['engines'][n][q]['p95_ms']:.2f}" for n in stores)
        print(f"   {q:16s} median/p95 ms: {line}", flush=True)
    if nxl and "falkordb" in stores:
        for q in ("coadds_of_visit", "inputs_of_coadd"):
            ratio = (result["engines"]["falkordb"][q]["median_ms"]
                     / result["engines"]["networkx"][q]["median_ms"])
            result["engines"]["falkordb"][q]["ratio_to_networkx"] = ratio
            print(f"   {q:16s} falkordb / networkx median = {ratio:.2f}x", flush=True)
    for name, store in stores.items():
        if name != "networkx":
            store.close()
    for server in result.pop("_servers", []):
        server.stop()
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=float, nargs="+", default=[1e5, 1e6])
    ap.add_argument("--engines", default="falkordb,networkx,arcadedb")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--arcadedb-max-nodes", type=float, default=2e5)
    ap.add_argument("--json", type=Path, default=None, help="Write the results here too.")
    args = ap.parse_args(argv)
    machine = {"platform": platform.platform(), "python": platform.python_version(),
               "cpus": __import__("os").cpu_count()}
    print(f"machine: {machine}")
    results = {"machine": machine, "sizes": []}
    with tempfile.TemporaryDirectory(prefix="bench-lineage-") as tmp:
        for n in args.nodes:
            results["sizes"].append(bench_size(int(n), args.engines.split(","), args.repeats,
                                               Path(tmp), int(args.arcadedb_max_nodes)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

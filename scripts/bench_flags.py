#!/usr/bin/env python
"""Flag benchmark: flag one visit in a generated survey graph and time
* propagation: ``flags.flag`` end to end (resolve the visit, walk downstream,
  compute fractions, write the flag and every ``CONTAMINATED_BY`` mark in one
  all-or-nothing unit), with its parts (walk + fractions, write);
* the lookup "is this product contaminated, by what, how much"
  (``flags.contamination``): median and p95 over random marked datasets and
  random unmarked ones.

Each flagged visit is a separate flag; the graph is built once (the demo
generator, ``SurveySpec.for_nodes``) into ``--repo`` and reused if it is
already there.

    python scripts/bench_flags.py --nodes 1000000 --repo /tmp/bench-flags-1m
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

from lineage import flags
from lineage.demo import SurveySpec, generate, plan_survey
from lineage.ingest import write_units
from lineage.store.repo import CONFIG_NAME, init_repo, open_store


def _stats(samples: list[float]) -> dict:
    s = sorted(samples)
    return {"median_ms": round(statistics.median(s) * 1000, 3),
            "p95_ms": round(s[min(len(s) - 1, int(0.95 * len(s)))] * 1000, 3), "n": len(s)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=float, default=1e6)
    ap.add_argument("--repo", type=Path, required=True, help="Built here, reused when present.")
    ap.add_argument("--flags", type=int, default=3, help="Visits to flag, one flag each.")
    ap.add_argument("--lookups", type=int, default=500)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    spec = SurveySpec.for_nodes(int(args.nodes))
    if not (args.repo / CONFIG_NAME).exists():
        init_repo(args.repo)
        fresh = True
    else:
        fresh = False
    store = open_store(args.repo, keep=True)
    out = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                      f"Python {platform.python_version()}", "spec": repr(spec)}
    try:
        if fresh:
            t0 = time.perf_counter()
            report = write_units(store, generate(spec), "bench graph")
            out["ingest_s"] = round(time.perf_counter() - t0, 1)
            print(f"ingest: {report.entities_in:,} nodes+edges in {out['ingest_s']} s")
        out["nodes"], out["edges"] = store.count()
        print(f"graph: {out['nodes']:,} nodes, {out['edges']:,} edges")
        rng = random.Random(args.seed)
        visits = [v for v in plan_survey(spec).visits if v.detectors]
        runs = []
        for v in rng.sample(visits, args.flags):
            seeds = flags.targets(store, f"visit={v.id}")[1]
            t0 = time.perf_counter()
            p = flags.propagate(store, seeds)
            walk = time.perf_counter() - t0
            t0 = time.perf_counter()
            report = flags.flag(store, f"visit={v.id}", "bad", "benchmark", "https://example.org/b",
                                "bench")
            total = time.perf_counter() - t0
            runs.append({"visit": v.id, "flag_total_s": round(total, 3),
                         "walk_and_fractions_s": round(walk, 3),
                         "datasets": report["blast_radius"]["datasets"],
                         "quanta": report["blast_radius"]["quanta"],
                         "marks": len(p.steps)})
            print(f"flag visit={v.id}: {total:.3f} s end to end (walk + fractions {walk:.3f} s), "
                  f"{len(p.steps):,} marks ({report['blast_radius']['datasets']:,} datasets, "
                  f"{report['blast_radius']['quanta']:,} quanta)")
        out["flags"] = runs
        marked = [k for (k,) in store.read(
            "MATCH (d:Dataset)-[:CONTAMINATED_BY]->(:Flag) RETURN DISTINCT d.key")]
        clean = [k for (k,) in store.read(
            "MATCH (d:Dataset) WHERE d.dataset_type = 'deepCoadd' RETURN d.key")]
        clean = [k for k in clean if k not in set(marked)] or marked
        for name, pool in (("lookup_contaminated", marked), ("lookup_clean", clean)):
            samples = []
            for key in (rng.choice(pool) for _ in range(args.lookups)):
                t0 = time.perf_counter()
                flags.contamination(store, key)
                samples.append(time.perf_counter() - t0)
            out[name] = _stats(samples)
            print(f"{name}: median {out[name]['median_ms']} ms, p95 {out[name]['p95_ms']} ms "
                  f"over {len(samples)} lookups")
    finally:
        store.close()
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

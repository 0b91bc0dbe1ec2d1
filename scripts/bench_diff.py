#!/usr/bin/env python
"""Release-diff benchmark: ``lineage diff`` of the demo survey's two releases
at about 10^6 datasets each, on the embedded engine.

It builds (once) a repository of the demo survey at ``--nodes`` graph nodes
(``SurveySpec.for_nodes``; 3.5e6 nodes give about 10^6 datasets in DR2),
then diffs ``DemoCam/DR1`` and ``DemoCam/DR2`` with every detail record
streamed to a JSON file, and reports wall time and peak memory: of this
process (``ru_maxrss``, which includes the report writer) and of the
embedded engine's server (its ``used_memory_peak``; the graph itself).

    python scripts/bench_diff.py --nodes 3.5e6 --repo /tmp/bench-diff --out /tmp/diff.json
    python scripts/bench_diff.py --repo /tmp/bench-diff --out /tmp/summary.json --discard-details

A repository that exists is reused (building the 3.5e6-node one took 55 min on a
shared 2-core machine).  ``--discard-details`` drops the detail records (the
diff without its JSON writer).  ``--baseline CHECKOUT`` runs the same diff
first with another checkout's code and gives the ratio, side by side in one
run (this machine is noisy):

    git worktree add /tmp/diff-old 7dea8ea
    python scripts/bench_diff.py --repo /tmp/bench-diff --out /tmp/diff.json --baseline /tmp/diff-old
    python scripts/bench_diff.py --repo /tmp/bench-diff --out /tmp/diff.json --pages 20
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from inspect import signature
from pathlib import Path

import orjson

from lineage.demo import SurveySpec, generate
from lineage.ingest import write_units
from lineage.store.repo import CONFIG_NAME, init_repo, open_store


def build(repo: Path, nodes: float) -> dict:
    spec = SurveySpec.for_nodes(int(nodes))
    t0 = time.perf_counter()
    init_repo(repo)
    with open_store(repo) as store:
        report = write_units(store, generate(spec), show_progress=sys.stderr.isatty())
    return {"spec": repr(spec), "build_s": round(time.perf_counter() - t0, 1),
            "nodes_created": report.nodes_created, "edges_created": report.edges_created}


def run_diff(repo: Path, out: Path, a: str, b: str, discard: bool = False) -> dict:
    from lineage.diff import diff_releases
    from lineage.diff.report import JsonWriter
    with open_store(repo) as store:
        counts = {r: int(store.read("MATCH (d:Dataset) WHERE d.run = $r RETURN count(d)",
                                    {"r": f"DemoCam/runs/{r.split('/')[-1]}"})[0][0])
                  for r in (a, b)}
        in_queries = [0.0, 0]

        def timed(read):   # time spent waiting for the engine (mostly in the reader thread)
            def timed_read(query, params=None):
                t = time.perf_counter()
                try:
                    return read(query, params)
                finally:
                    in_queries[0] += time.perf_counter() - t
                    in_queries[1] += 1
            return timed_read
        store.read = timed(store.read)
        if hasattr(store, "read_plain"):   # (a --baseline checkout may not have it)
            store.read_plain = timed(store.read_plain)
        quiet = {"progress": False} if "progress" in signature(diff_releases).parameters else {}
        os.sync()   # an earlier run's report still being written back would slow this one
        t0 = time.perf_counter()
        with open(out, "w") as fh:
            writer = JsonWriter(fh)
            sink = (lambda record: None) if discard else writer.detail
            result = diff_releases(store, a, b, sink=sink, **quiet)
            writer.finish(result)
        wall = time.perf_counter() - t0
        server_peak = None
        if hasattr(store, "redis"):   # the embedded engine (a Bolt store has no such figure)
            server_peak = store.redis.info("memory").get("used_memory_peak")
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    totals = result.totals()
    import lineage
    return {"code": str(Path(lineage.__file__).parent), "datasets_in_runs": counts, "details": writer.count, "wall_s": round(wall, 1),
            "queries": in_queries[1], "in_queries_s": round(in_queries[0], 1),
            "peak_rss_mb": round(rss_kb / 1024, 1),
            "server_used_memory_peak_mb": round(server_peak / 2**20, 1) if server_peak else None,
            "totals": totals, "report_bytes": out.stat().st_size}


def graphql_pages(repo: Path, a: str, b: str, pages: int, size: int = 100) -> dict:
    """The GraphQL path: the first ``releaseDiff`` page (the diff, spooled), then the
    next pages (read from the spool), as the server's resolver calls them."""
    from lineage.api.diff import DiffSpools, release_diff
    from lineage.diff import DiffFilter, Tolerance
    spools, flt, tol = DiffSpools(), DiffFilter(), Tolerance.parse()
    times = []
    with open_store(repo) as store:
        for i in range(pages + 1):
            t = time.perf_counter()
            answer = release_diff(store, a, b, flt, tol, size, i * size, spools)
            times.append(time.perf_counter() - t)
    spools.close()
    later = sorted(times[1:])
    return {"page_size": size, "first_page_s": round(times[0], 1),
            "later_pages_median_ms": round(1000 * later[len(later) // 2], 1) if later else None,
            "changes": answer["changes"].total, "diffs_computed": spools.computed}


def _report(path: Path):
    """A JSON report of the diff, streamed: ("detail", record) ..., then ("summary", ...)."""
    with open(path, "rb") as fh:
        fh.readline()                                   # {"details": [
        for line in fh:
            if line.startswith(b"],"):                  # then "summary": {...}}
                yield "summary", orjson.loads(b"{" + fh.read())
                return
            yield "detail", orjson.loads(line.rstrip(b",\n"))


def same_report(a: Path, b: Path) -> bool:
    """Whether two reports hold the same records in the same order and the same summary
    (their layout may differ: the JSON writer changed in session 4)."""
    return all(x == y for x, y in itertools.zip_longest(_report(a), _report(b)))


def baseline(args) -> dict:
    """This benchmark run with ``args.baseline``'s lineage package (first on the path)."""
    out = args.out.with_name(args.out.stem + "-baseline" + args.out.suffix)
    cmd = [sys.executable, __file__, "--repo", str(args.repo), "--out", str(out),
           "-a", args.a, "-b", args.b] + (["--discard-details"] if args.discard_details else [])
    env = {**os.environ, "PYTHONPATH": str(args.baseline.resolve())}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    answer = json.loads(done.stdout)
    answer.update(out=str(out), source=str(args.baseline))
    return answer


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=float, default=3.5e6)
    ap.add_argument("--repo", type=Path, required=True, help="Built here unless it exists.")
    ap.add_argument("--out", type=Path, default=Path("diff-bench.json"))
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--discard-details", action="store_true",
                    help="Drop the detail records instead of writing them (the diff alone).")
    ap.add_argument("--baseline", type=Path, default=None, metavar="CHECKOUT",
                    help="First run the same diff with the lineage package of another "
                         "checkout (say `git worktree add /tmp/old HEAD~3`), in a process of "
                         "its own, and report the speed-up and whether the reports are equal.")
    ap.add_argument("--pages", type=int, default=0, metavar="N",
                    help="Then time the GraphQL path: the first releaseDiff page of 100 "
                         "changes (the diff, spooled) and N more pages (from the spool).")
    ap.add_argument("-a", default="DemoCam/DR1")
    ap.add_argument("-b", default="DemoCam/DR2")
    args = ap.parse_args(argv)
    result = {"machine": f"{platform.platform()}, {platform.python_version()}"}
    if not (args.repo / CONFIG_NAME).exists():
        result["build"] = build(args.repo, args.nodes)
        print(json.dumps(result["build"]), flush=True)
    if args.baseline and not args.build_only:
        result["baseline"] = baseline(args)
    if not args.build_only:
        result["diff"] = run_diff(args.repo, args.out, args.a, args.b, args.discard_details)
    if args.pages and not args.build_only:
        result["graphql"] = graphql_pages(args.repo, args.a, args.b, args.pages)
    if args.baseline and not args.build_only:
        result["speedup"] = round(result["baseline"]["diff"]["wall_s"]
                                  / result["diff"]["wall_s"], 2)
        result["same_report"] = same_report(args.out, Path(result["baseline"]["out"]))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

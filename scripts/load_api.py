"""A bounded load run of the GraphQL API on loopback.

Starts `lineage serve` on a free loopback port over a demo repository
(built with `lineage demo` into a temporary directory unless --repo is
given), then sends a fixed number of requests from concurrent clients
(httpx, asyncio), half "which coadds used this visit?" (a downstream
traversal, a random visit each time) and half dataset lookups by UUID (a
random coadd or calexp each time), and prints latency percentiles and
errors per kind.  Stops the server when done.

    python scripts/load_api.py                       # 10,000 requests, 4 clients
    python scripts/load_api.py --repo lineage-repo --requests 2000 --clients 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's package, as the server it starts

from lineage.api.process import served  # noqa: E402

DOWNSTREAM = """query($visit: String!) {
  lineage(from: $visit, types: ["deepCoadd"], first: 100) {
    totalCount edges { steps node { uuid dataId run } }
  }
}"""
LOOKUP = """query($id: String!) {
  dataset(id: $id) { uuid datasetType dataId run uri size producedBy { task } }
}"""


def lineage_cmd(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LINEAGE_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", "lineage.cli", *args], check=True,
                          capture_output=True, text=True, env=env, **kw)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


async def run_load(base: str, jobs: list[tuple[str, str, dict]], clients: int) -> dict:
    results: dict[str, list] = {"downstream": [], "lookup": []}
    errors: dict[str, list] = {"downstream": [], "lookup": []}
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while True:
                try:
                    kind, q, variables = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                try:
                    r = await http.post("/graphql", json={"query": q, "variables": variables})
                    ms = (time.perf_counter() - t0) * 1000
                    body = r.json()
                    if r.status_code != 200 or body.get("errors") or not body.get("data"):
                        errors[kind].append(f"{r.status_code} {str(body)[:200]}")
                    else:
                        results[kind].append(ms)
                except (httpx.HTTPError, ValueError) as exc:
                    errors[kind].append(repr(exc))

    t0 = time.perf_counter()
    await asyncio.gather(*[client() for _ in range(clients)])
    return {"seconds": time.perf_counter() - t0, "latency": results, "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", help="demo repository (default: build one in a temporary dir)")
    ap.add_argument("--requests", type=int, default=10_000, help="requests in all (default 10000)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    ap.add_argument("--warmup", type=int, default=200, help="requests before timing")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.requests < 2 or args.requests > 100_000:
        ap.error("--requests must be between 2 and 100000 (a bounded run)")

    tmp = None
    repo = args.repo
    if repo is None:
        tmp = tempfile.TemporaryDirectory(prefix="lineage-load-")
        repo = str(Path(tmp.name) / "repo")
        print(f"building the demo repository in {repo} ...", file=sys.stderr)
        lineage_cmd("demo", "--repo", repo, "--json")
    lineage_cmd("engine", "start", "--repo", repo)
    visits = [r["visit"] for r in json.loads(lineage_cmd(
        "cypher", "MATCH (v:DataUnit {dimension: 'visit'}) RETURN v.value AS visit",
        "--repo", repo, "--json").stdout)]
    datasets = [r["uuid"] for r in json.loads(lineage_cmd(
        "cypher", "MATCH (d:Dataset) WHERE d.dataset_type IN ['deepCoadd', 'calexp'] "
        "RETURN substring(d.key, 8) AS uuid", "--repo", repo, "--json").stdout)]
    rng = random.Random(args.seed)

    def jobs(n: int) -> list:
        out = []
        for i in range(n):
            if i % 2 == 0:
                out.append(("downstream", DOWNSTREAM, {"visit": f"visit={rng.choice(visits)}"}))
            else:
                out.append(("lookup", LOOKUP, {"id": rng.choice(datasets)}))
        return out

    try:
        with served(repo) as base:
            asyncio.run(run_load(base, jobs(args.warmup), args.clients))
            report = asyncio.run(run_load(base, jobs(args.requests), args.clients))
    finally:
        lineage_cmd("engine", "stop", "--repo", repo)
        if tmp is not None:
            tmp.cleanup()

    total = sum(len(v) for v in report["latency"].values()) + \
        sum(len(v) for v in report["errors"].values())
    print(f"{total} requests from {args.clients} concurrent clients in "
          f"{report['seconds']:.1f} s ({total / report['seconds']:.0f} requests/s), "
          f"{len(visits)} visits, {len(datasets)} datasets to pick from")
    print(f"{'query':<12} {'requests':>8} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7} {'mean ms':>8}")
    for kind in ("downstream", "lookup"):
        lat, errs = report["latency"][kind], report["errors"][kind]
        if lat:
            print(f"{kind:<12} {len(lat) + len(errs):>8} {len(errs):>6} "
                  f"{percentile(lat, 50):>7.1f} {percentile(lat, 95):>7.1f} "
                  f"{percentile(lat, 99):>7.1f} {statistics.fmean(lat):>8.1f}")
        for e in errs[:3]:
            print(f"  error: {e}")


if __name__ == "__main__":
    main()

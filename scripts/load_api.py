"""A bounded load run of the GraphQL API on loopback, optionally against a baseline checkout.

Starts `lineage serve` on a free loopback port over a demo repository
(built with `lineage demo` into a temporary directory unless --repo is
given), sends a fixed number of requests from concurrent clients (httpx,
asyncio, one keep-alive connection each) and prints requests/s, latency
percentiles and errors per kind.  Stops the server when done.

Workloads (--operation):

* ``mixed`` (default): half "which coadds used this visit?" (a downstream
  traversal, a random visit each time) and half dataset lookups by UUID (a
  random coadd or calexp each time), both as query texts on ``POST /graphql``;
* ``CoaddsOfVisit``: the saved operation of ``graphql/lineage.graphql`` for a
  random visit each time, as ``POST /queries/CoaddsOfVisit`` (``--via saved``)
  or its document on ``POST /graphql`` (``--via graphql``).

``--baseline DIR`` runs the same requests, in the same run, against a server
started from another checkout (``git worktree add --detach /tmp/load-base main``),
alternating baseline and this checkout ``--rounds`` times, checks both give the
same answers, and prints them side by side with the ratio.  The machine's
load average is sampled during every round (a shared machine is noisy: the
ratio is the figure to keep).

    python scripts/load_api.py                       # mixed, 10,000 requests, 4 clients
    python scripts/load_api.py --operation CoaddsOfVisit --clients 16 --requests 3000 \\
        --workers 2 --baseline /tmp/load-base --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's package, as the server it starts

from lineage.api.process import serving  # noqa: E402
from lineage.api.saved import SavedOperations  # noqa: E402

DOWNSTREAM = """query($visit: String!) {
  lineage(from: $visit, types: ["deepCoadd"], first: 100) {
    totalCount edges { steps node { uuid dataId run } }
  }
}"""
LOOKUP = """query($id: String!) {
  dataset(id: $id) { uuid datasetType dataId run uri size producedBy { task } }
}"""
SAVED = "CoaddsOfVisit"


def lineage_cmd(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LINEAGE_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", "lineage.cli", *args], check=True,
                          capture_output=True, text=True, env=env, **kw)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


# --- the machine ----------------------------------------------------------------------------

def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
            f"httpx {httpx.__version__}")


class LoadSampler:
    """The 1-minute load average, sampled every second while a round runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(1.0):
                return

    def __enter__(self) -> "LoadSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> str:
        s = self.samples or [float("nan")]
        return f"{min(s):.1f}-{max(s):.1f}"


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU seconds of these processes and all their descendants (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    seen, todo, total = set(), list(pids), 0.0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for tid in os.listdir(f"/proc/{pid}/task"):
                children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
                todo.extend(int(c) for c in children)
        except (OSError, ValueError, IndexError):
            continue
    return total


# --- the load ---------------------------------------------------------------------------------

def _failure(r: httpx.Response) -> str | None:
    try:
        body = r.json()
    except ValueError:
        return f"{r.status_code} not JSON: {r.text[:200]}"
    if r.status_code != 200 or not isinstance(body, dict) or body.get("errors") \
            or not body.get("data"):
        return f"{r.status_code} {str(body)[:200]}"
    return None


async def run_load(base: str, jobs: list[tuple[str, str, dict]], clients: int) -> dict:
    kinds = list(dict.fromkeys(k for k, _, _ in jobs))
    results: dict[str, list] = {k: [] for k in kinds}
    errors: dict[str, list] = {k: [] for k in kinds}
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while True:
                try:
                    kind, path, payload = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                try:
                    r = await http.post(path, json=payload)
                    problem = _failure(r)
                    ms = (time.perf_counter() - t0) * 1000
                    if problem:
                        errors[kind].append(problem)
                    else:
                        results[kind].append(ms)
                except httpx.HTTPError as exc:
                    errors[kind].append(repr(exc))

    t0 = time.perf_counter()
    await asyncio.gather(*[client() for _ in range(clients)])
    return {"seconds": time.perf_counter() - t0, "latency": results, "errors": errors}


async def answers(base: str, jobs: list[tuple[str, str, dict]]) -> list:
    """The ``data`` of each job, one at a time (to compare two servers)."""
    out = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for _, path, payload in jobs:
            r = await http.post(path, json=payload)
            body = r.json()
            out.append((r.status_code, body.get("data"), body.get("errors")))
    return out


def package_of(checkout: Path) -> str:
    """Where the `lineage` package a server started from ``checkout`` comes from."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", "import lineage; print(lineage.__file__)"],
                          env=env, cwd=checkout, capture_output=True, text=True,
                          check=True).stdout.strip()


def one_round(label: str, checkout: Path, repo: str, serve_args: list[str], warmup: list,
              jobs: list, sample: list, clients: int, engine_pid: int | None) -> dict:
    with serving(repo, package_root=checkout, extra_args=serve_args) as (base, proc):
        asyncio.run(run_load(base, warmup, clients))
        seen = asyncio.run(answers(base, sample))
        cpu0 = cpu_seconds([proc.pid]), cpu_seconds([engine_pid]) if engine_pid else 0.0
        client0 = time.process_time()
        with LoadSampler() as load:
            report = asyncio.run(run_load(base, jobs, clients))
        cpu1 = cpu_seconds([proc.pid]), cpu_seconds([engine_pid]) if engine_pid else 0.0
    report.update(label=label, answers=seen, load=load, server_cpu=cpu1[0] - cpu0[0],
                  engine_cpu=cpu1[1] - cpu0[1], client_cpu=time.process_time() - client0)
    return report


def summarise(rounds: list[dict]) -> dict:
    """Rounds of one checkout pooled: requests/s over their summed wall time."""
    kinds = list(rounds[0]["latency"])
    lat = {k: [x for r in rounds for x in r["latency"][k]] for k in kinds}
    errs = {k: [x for r in rounds for x in r["errors"][k]] for k in kinds}
    n = sum(len(v) for v in lat.values()) + sum(len(v) for v in errs.values())
    seconds = sum(r["seconds"] for r in rounds)
    return {"requests": n, "seconds": seconds, "rps": n / seconds, "latency": lat,
            "errors": errs, "server_cpu": sum(r["server_cpu"] for r in rounds) / n * 1000,
            "engine_cpu": sum(r["engine_cpu"] for r in rounds) / n * 1000,
            "client_cpu": sum(r["client_cpu"] for r in rounds) / n * 1000,
            "load": ", ".join(r["load"].summary() for r in rounds)}


def print_table(named: list[tuple[str, dict]]) -> None:
    print(f"{'server':<10} {'query':<14} {'requests':>8} {'errors':>6} {'req/s':>6} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'mean ms':>8}  "
          f"{'CPU ms/request: server engine client':<37} load avg")
    for name, s in named:
        for kind in s["latency"]:
            lat, errs = s["latency"][kind], s["errors"][kind]
            row = f"{name:<10} {kind:<14} {len(lat) + len(errs):>8} {len(errs):>6} " \
                  f"{s['rps']:>6.1f} "
            if lat:
                row += (f"{percentile(lat, 50):>7.1f} {percentile(lat, 95):>7.1f} "
                        f"{percentile(lat, 99):>7.1f} {statistics.fmean(lat):>8.1f}  ")
            else:
                row += f"{'-':>7} {'-':>7} {'-':>7} {'-':>8}  "
            row += (f"{s['server_cpu']:>20.2f} {s['engine_cpu']:>6.2f} {s['client_cpu']:>6.2f}"
                    f"   {s['load']}")
            print(row)
            for e in errs[:3]:
                print(f"  error: {e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--repo", help="demo repository (default: build one in a temporary dir)")
    ap.add_argument("--operation", choices=["mixed", SAVED], default="mixed",
                    help="workload (default: mixed)")
    ap.add_argument("--via", choices=["saved", "graphql"], default="saved",
                    help=f"{SAVED}: POST /queries/{SAVED} (saved) or its document on "
                         "POST /graphql (graphql)")
    ap.add_argument("--requests", type=int, default=10_000,
                    help="timed requests per round (default 10000)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    ap.add_argument("--warmup", type=int, default=200, help="requests before timing")
    ap.add_argument("--workers", type=int, default=None,
                    help="`lineage serve --workers N` for this checkout's server")
    ap.add_argument("--serve-args", default="",
                    help="more arguments for this checkout's `lineage serve` (one string)")
    ap.add_argument("--baseline", metavar="DIR", type=Path,
                    help="another checkout to run the same load against, side by side")
    ap.add_argument("--baseline-serve-args", default="",
                    help="arguments for the baseline's `lineage serve` (one string)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="with --baseline: alternate baseline and this checkout this many times")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.requests < 2 or args.requests > 100_000:
        ap.error("--requests must be between 2 and 100000 (a bounded run)")
    if not 1 <= args.clients <= 256:
        ap.error("--clients must be between 1 and 256")
    if not 1 <= args.rounds <= 10:
        ap.error("--rounds must be between 1 and 10")
    if args.baseline is not None and not (args.baseline / "lineage" / "cli").is_dir():
        ap.error(f"--baseline {args.baseline}: not a survey-lineage checkout "
                 "(no lineage/cli in it)")
    serve_args = shlex.split(args.serve_args)
    if args.workers is not None:
        serve_args += ["--workers", str(args.workers)]

    tmp = None
    repo = args.repo
    if repo is None:
        tmp = tempfile.TemporaryDirectory(prefix="lineage-load-")
        repo = str(Path(tmp.name) / "repo")
        print(f"building the demo repository in {repo} ...", file=sys.stderr)
        lineage_cmd("demo", "--repo", repo, "--json")
    lineage_cmd("engine", "start", "--repo", repo)
    try:
        engine_pid = int((Path(repo) / "falkordb" / "redis.pid").read_text())
    except (OSError, ValueError):
        engine_pid = None  # a Bolt repository: its server is elsewhere
    visits = [r["visit"] for r in json.loads(lineage_cmd(
        "cypher", "MATCH (v:DataUnit {dimension: 'visit'}) RETURN v.value AS visit",
        "--repo", repo, "--json").stdout)]
    datasets = [r["uuid"] for r in json.loads(lineage_cmd(
        "cypher", "MATCH (d:Dataset) WHERE d.dataset_type IN ['deepCoadd', 'calexp'] "
        "RETURN substring(d.key, 8) AS uuid", "--repo", repo, "--json").stdout)]
    document = SavedOperations.default().get(SAVED).document
    rng = random.Random(args.seed)

    def jobs(n: int) -> list:
        out = []
        for i in range(n):
            visit = f"visit={rng.choice(visits)}"
            if args.operation == SAVED:
                if args.via == "saved":
                    out.append((SAVED, f"/queries/{SAVED}", {"visit": visit}))
                else:
                    out.append((SAVED, "/graphql", {"query": document, "operationName": SAVED,
                                                    "variables": {"visit": visit}}))
            elif i % 2 == 0:
                out.append(("downstream", "/graphql",
                            {"query": DOWNSTREAM, "variables": {"visit": visit}}))
            else:
                out.append(("lookup", "/graphql",
                            {"query": LOOKUP, "variables": {"id": rng.choice(datasets)}}))
        return out

    warmup, timed, sample = jobs(args.warmup), jobs(args.requests), jobs(20)
    plan = [("this", ROOT, serve_args)]
    if args.baseline is not None:
        plan = [("baseline", args.baseline.resolve(), shlex.split(args.baseline_serve_args)),
                *plan] * args.rounds
    print(f"machine: {machine()}; load average at start "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{args.operation}{' via ' + args.via if args.operation == SAVED else ''}: "
          f"{args.requests} requests per round from {args.clients} clients, "
          f"{len(visits)} visits, {len(datasets)} datasets to pick from")
    for label, checkout, extra in dict.fromkeys((lb, c, tuple(e)) for lb, c, e in plan):
        print(f"{label}: {package_of(checkout)}, `lineage serve {' '.join(extra)}`")
    rounds = []
    try:
        for label, checkout, extra in plan:
            r = one_round(label, checkout, repo, extra, warmup, timed, sample, args.clients,
                          engine_pid)
            rounds.append(r)
            n = args.requests
            errs = sum(len(v) for v in r["errors"].values())
            lat = [x for v in r["latency"].values() for x in v] or [float("nan")]
            print(f"  round {len(rounds)}: {label:<8} {n / r['seconds']:6.1f} requests/s, "
                  f"p50 {percentile(lat, 50):.0f} ms, p99 {percentile(lat, 99):.0f} ms, "
                  f"{errs} errors, load average {r['load'].summary()}", flush=True)
    finally:
        lineage_cmd("engine", "stop", "--repo", repo)
        if tmp is not None:
            tmp.cleanup()

    named = [(label, summarise([r for r in rounds if r["label"] == label]))
             for label in dict.fromkeys(r["label"] for r in rounds)]
    print(f"load average at end {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print_table(named)
    if args.baseline is not None:
        base, new = dict(named)["baseline"], dict(named)["this"]
        same = all(r["answers"] == rounds[0]["answers"] for r in rounds)
        print(f"answers of {len(sample)} sample requests identical on both servers: "
              f"{'yes' if same else 'NO'}")
        print(f"this / baseline: {new['rps'] / base['rps']:.2f} x requests/s")
        for kind in new["latency"]:
            if new["latency"][kind] and base["latency"][kind]:
                print(f"  {kind}: p50 {percentile(new['latency'][kind], 50) / percentile(base['latency'][kind], 50):.2f} x, "
                      f"p99 {percentile(new['latency'][kind], 99) / percentile(base['latency'][kind], 99):.2f} x")
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()

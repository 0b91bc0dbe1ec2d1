"""Command start-up times: `lineage --help`, and a query command's own overhead.

*Own overhead* is the time from starting the interpreter to the moment the
command asks for its store (``lineage.store.repo.open_store``): imports, option
parsing and selector parsing, nothing the engine does.  The child process
replaces ``open_store`` with a function that prints the wall clock and
exits, so no repository or engine is needed.

Each figure is the median of ``--repeats`` fresh processes.  With
``--baseline DIR`` (another checkout, e.g. ``git worktree add /tmp/base
main``) both checkouts are timed in the same run, interleaved, and the
ratios printed: these machines are noisy, ratios are what to record.

    python scripts/bench_startup.py
    python scripts/bench_startup.py --baseline /tmp/base --repeats 21
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The child: stop at the first request for a store, print when that was.
PROBE = """
import sys, time, os
import lineage.store.repo as repo
def _stop(*a, **k):
    print(repr(time.time()), flush=True)
    os._exit(0)
repo.open_store = _stop
from lineage.cli import main
sys.argv = ["lineage"] + sys.argv[1:]
main()
"""

QUERY = ["downstream", "visit=2026030100001", "--type", "deepCoadd", "--repo", "no-such-repo"]


def time_help(checkout: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    start = time.time()
    # run in the checkout: ``-m`` and ``-c`` put the working directory first on sys.path,
    # so from anywhere else every checkout would time the one the command was started in
    subprocess.run([sys.executable, "-m", "lineage.cli", "--help"], env=env, check=True,
                   capture_output=True, cwd=checkout)
    return time.time() - start


def time_query(checkout: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    start = time.time()
    done = subprocess.run([sys.executable, "-c", PROBE, *QUERY], env=env, capture_output=True,
                          text=True, cwd=checkout)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{checkout}: the query probe failed:\n{done.stderr}")
    return float(lines[-1]) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--baseline", type=Path, help="another checkout to time side by side")
    args = parser.parse_args()
    checkouts = {"this": ROOT}
    if args.baseline:
        checkouts["baseline"] = args.baseline.resolve()
    times: dict[tuple[str, str], list[float]] = {}
    for i in range(args.repeats):
        for name, path in checkouts.items():
            times.setdefault((name, "help"), []).append(time_help(path))
            times.setdefault((name, "query"), []).append(time_query(path))
        print(f"\r{i + 1}/{args.repeats} rounds", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    load = os.getloadavg()
    print(f"median of {args.repeats} fresh processes; load average {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores")
    print(f"{'checkout':<10} {'lineage --help':>15} {'query overhead':>15}")
    for name in checkouts:
        h = statistics.median(times[(name, "help")])
        q = statistics.median(times[(name, "query")])
        print(f"{name:<10} {h:>14.3f}s {q:>14.3f}s")
    if args.baseline:
        for what in ("help", "query"):
            ratio = (statistics.median(times[("baseline", what)])
                     / statistics.median(times[("this", what)]))
            print(f"{what}: baseline / this = {ratio:.2f}x")


if __name__ == "__main__":
    main()

"""Lightcurve provenance and metric-job lookups on the demo survey (issue #7).

Builds the demo survey (``lineage demo``: 100 visits x 20 detectors by default) into
``--repo`` unless it is there, then times, alternating and repeated ``--repeats``
times on the embedded engine:

* ``lightcurve``: the object with the most epochs in DR2 (every column: images,
  conditions, telemetry, software and config of each step, flags);
* ``select_visits``: ``seeing < 0.5 arcsec and airmass < 1.2``;
* ``jobs_where``: ``validate_drp.PA1 > 15 mmag``;
* ``trend``: ``validate_drp.PA1`` across every job.

Prints the median and p90 of each, and the share of the lightcurve spent reading
Parquet catalogs (timed around pyarrow's reads).  Run:
``python scripts/bench_lightcurve.py --repo /tmp/bench-lc``.
"""

from __future__ import annotations

import argparse
import collections
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq


def _object_with_most_epochs(datastore: Path) -> int:
    counts = collections.Counter()
    for f in (datastore / "DemoCam/runs/DR2/dia_source").glob("*.parq"):
        counts.update(pq.read_table(f, columns=["diaObjectId"]).column(0).to_pylist())
    return counts.most_common(1)[0][0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--small", action="store_true", help="the small demo survey")
    args = parser.parse_args(argv)
    if not (args.repo / "lineage.json").exists():
        subprocess.run([sys.executable, "-m", "lineage.cli", "demo", "--repo", str(args.repo),
                        *(["--small"] if args.small else [])], check=True,
                       stdout=subprocess.DEVNULL)

    import lineage.lightcurve as lc_module
    from lineage.dataunits.visits import select_visits
    from lineage.fetch.datastore import datastore_for
    from lineage.metrics import jobs_where
    from lineage.metrics.trend import trend
    from lineage.store.repo import open_store

    obj = _object_with_most_epochs(args.repo / "datastore")
    datastore = datastore_for(args.repo)
    reading = [0.0]
    original = lc_module._read_rows

    def timed_read(*a, **kw):
        t = time.perf_counter()
        try:
            return original(*a, **kw)
        finally:
            reading[0] += time.perf_counter() - t

    lc_module._read_rows = timed_read
    with open_store(args.repo) as store:
        cases = {
            "lightcurve": lambda: lc_module.lightcurve(store, obj, "DemoCam/DR2", datastore),
            "select_visits": lambda: select_visits(store, "seeing < 0.5 arcsec and airmass < 1.2"),
            "jobs_where": lambda: jobs_where(store, "validate_drp.PA1", ">", 15, "mmag"),
            "trend": lambda: trend(store, "validate_drp.PA1"),
        }
        for fn in cases.values():
            fn()  # warm
        times = {name: [] for name in cases}
        read_share = []
        for _ in range(args.repeats):
            for name, fn in cases.items():
                reading[0] = 0.0
                t = time.perf_counter()
                answer = fn()
                times[name].append(time.perf_counter() - t)
                if name == "lightcurve":
                    read_share.append(reading[0] / times[name][-1])
                    epochs = len(answer)
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    print(f"object {obj}: {epochs} epochs")
    for name, ts in times.items():
        ts = sorted(ts)
        print(f"{name:14s} median {statistics.median(ts) * 1000:8.1f} ms   "
              f"p90 {ts[int(0.9 * (len(ts) - 1))] * 1000:8.1f} ms")
    print(f"lightcurve: {statistics.median(read_share):.0%} of the time reading Parquet catalogs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

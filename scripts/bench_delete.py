"""`lineage delete --run` against `butler remove-runs`, side by side in one run.

Builds, each in a scratch directory (or, with ``--cache DIR``, reused from there):

* a lineage repository (embedded engine) holding two RUNs of ``--datasets`` datasets each,
  every dataset with a small file in the repository's datastore (:func:`write_run`);
* a Butler repository (lsst-daf-butler) holding one RUN of the same number of datasets,
  each with a small file ingested in place: ``scripts/bench_sync.py``'s ``add_bulk``
  (``registry._importDatasets`` and ``butler.ingest``; docs/notes/butler-api-facts.md §3),
  two dataset types over visits x detectors.

Then, each as its own process (imports included), timed by the wall clock:

(a) ``lineage delete --run RUN1`` (tombstones, graph only);
(b) ``lineage delete --run RUN2 --files`` (tombstones, then every file removed from disk);
(c) ``butler remove-runs BUTLER RUN --no-confirm --force`` (registry rows and files gone).

Printed: seconds, datasets per second, and the ratios (c)/(a) and (c)/(b).

    python scripts/bench_delete.py                       # 10^5 datasets
    python scripts/bench_delete.py --datasets 2000       # a quick small run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from lineage.core.model import GraphBatch, Rel, collection_key, dataset_key, dataset_type_key  # noqa: E402

#: Datasets per ingest unit while building the lineage RUNs.
UNIT = 10_000


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def write_run(store, run: str, datasets: int, datastore: Path | None = None,
              dataset_type: str = "bench_calexp") -> list[str]:
    """A RUN collection of ``datasets`` datasets (``visit``/``detector`` data IDs) written
    to ``store``; with ``datastore`` each gets a small file below it (its ``uri``, the
    demo's ``file://datastore/...`` form: relative to the repository's datastore).  The
    keys, in order."""
    keys = []
    folder = run.replace("/", "_")
    store.write(_run_batch(run, dataset_type))
    for start in range(0, datasets, UNIT):
        batch = GraphBatch(f"{run} datasets {start}")
        for i in range(start, min(start + UNIT, datasets)):
            key = dataset_key(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run}/{i}")))
            name = f"{folder}/{dataset_type}/{i // 100}_{i % 100}.json"
            props = {"dataset_type": dataset_type, "run": run, "size": 16,
                     "data_id": f"detector={i % 100},instrument=Bench,visit={i // 100}"}
            if datastore is not None:
                path = datastore / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text('{"bench": true}\n')
                props["uri"] = f"file://datastore/{name}"
            batch.add_node(key, **props)
            batch.add_edge(Rel.CONTAINS, collection_key(run), key)
            keys.append(key)
        store.write(batch)
    return keys


def _run_batch(run: str, dataset_type: str) -> GraphBatch:
    batch = GraphBatch(f"{run} collection")
    batch.add_node(collection_key(run), name=run, collection_type="RUN")
    batch.add_node(dataset_type_key(dataset_type), name=dataset_type)
    return batch


def build_lineage(work: Path, datasets: int) -> Path:
    """The lineage repository with RUNs ``Bench/run1`` and ``Bench/run2``."""
    from lineage.store.falkordb_server import FalkorServer
    from lineage.store.repo import init_repo, open_store
    repo = work / "lineage"
    shutil.rmtree(repo, ignore_errors=True)
    init_repo(repo)
    t0 = time.perf_counter()
    with open_store(repo, keep=True) as store:
        store.ensure_schema()
        for run in ("Bench/run1", "Bench/run2"):
            write_run(store, run, datasets, repo / "datastore")
            say(f"  lineage {run}: {datasets} datasets ({time.perf_counter() - t0:.0f} s)")
    FalkorServer(repo).stop()
    return repo


def build_butler(work: Path, datasets: int) -> tuple[Path, str]:
    """The Butler repository and its RUN of ``datasets`` datasets, all with files."""
    from bench_sync import add_bulk
    from lsst.daf.butler import Butler
    repo = work / "butler"
    shutil.rmtree(repo, ignore_errors=True)
    Butler.makeRepo(str(repo))
    detectors = 100 if datasets >= 200 else 1
    visits = max(1, datasets // (2 * detectors))
    add_bulk(repo, visits, detectors, 1, 1.0, time.perf_counter())
    return repo, "Bench/runs/run1"


def timed(args: list[str]) -> float:
    """Wall seconds of one command (it must succeed)."""
    t0 = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "LINEAGE_NO_PROGRESS": "1"})
    seconds = time.perf_counter() - t0
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def files_below(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=100_000,
                        help="datasets per RUN (default 10^5)")
    parser.add_argument("--work", default=None, help="scratch directory (default: a new one)")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-delete-"))
    work.mkdir(parents=True, exist_ok=True)
    n = args.datasets
    say(f"building the lineage repository ({2 * n} datasets with files) in {work} ...")
    lineage_repo = build_lineage(work, n)
    say(f"building the Butler repository ({n} datasets with files) ...")
    t0 = time.perf_counter()
    butler_repo, butler_run = build_butler(work, n)
    say(f"  built in {time.perf_counter() - t0:.0f} s")
    from lsst.daf.butler import Butler
    with Butler.from_config(str(butler_repo)) as butler:
        butler_n = len(butler.query_all_datasets(butler_run, find_first=False, limit=None))
    lineage = [sys.executable, "-m", "lineage.cli", "delete", "--repo", str(lineage_repo),
               "--reason", "benchmark", "--by", "bench_delete"]
    files_before = files_below(lineage_repo / "datastore")
    graph = timed(lineage + ["--run", "Bench/run1"])
    with_files = timed(lineage + ["--run", "Bench/run2", "--files"])
    files_after = files_below(lineage_repo / "datastore")
    butler_files = files_below(butler_repo / "bench_files")
    remove = timed([shutil.which("butler") or "butler", "remove-runs", str(butler_repo),
                    butler_run, "--no-confirm", "--force"])
    butler_files_after = files_below(butler_repo / "bench_files")
    from lineage.store.falkordb_server import FalkorServer
    from lineage.store.repo import open_store
    with open_store(lineage_repo) as store:
        tombstones = store.read("MATCH (d:Dataset) WHERE d.deleted_at IS NOT NULL "
                                "RETURN d.run, count(d), sum(CASE WHEN d.files_removed THEN 1 "
                                "ELSE 0 END) ORDER BY d.run")
    FalkorServer(lineage_repo).stop()
    result = {
        "datasets": n, "butler_datasets": butler_n,
        "machine": f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
                   f"Python {platform.python_version()}",
        "lineage_delete_graph_s": round(graph, 2),
        "lineage_delete_files_s": round(with_files, 2),
        "butler_remove_runs_s": round(remove, 2),
        "ratio_butler_to_graph": round(remove / graph, 1),
        "ratio_butler_to_files": round(remove / with_files, 1),
        "lineage_files_removed": files_before - files_after,
        "butler_files_removed": butler_files - butler_files_after,
        "tombstones": [list(r) for r in tombstones],
    }
    if args.as_json:
        print(json.dumps(result, indent=2))
        return
    print(f"{n} datasets per RUN on {result['machine']}")
    print(f"{'command':<48} {'seconds':>8} {'datasets/s':>11}")
    for name, s, count in (("lineage delete --run (graph only)", graph, n),
                           ("lineage delete --run --files", with_files, n),
                           ("butler remove-runs", remove, butler_n)):
        print(f"{name:<48} {s:8.2f} {count / s:11,.0f}")
    print(f"butler remove-runs / lineage delete: {result['ratio_butler_to_graph']}x (graph only), "
          f"{result['ratio_butler_to_files']}x (with files)")
    print(f"files removed: lineage {result['lineage_files_removed']}, "
          f"butler {result['butler_files_removed']}; tombstones per RUN "
          f"(run, deleted, files removed): {result['tombstones']}")


if __name__ == "__main__":
    main()

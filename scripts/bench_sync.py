"""`lineage sync` against `butler export` + `lineage ingest`, side by side on one Butler.

Builds (or, with ``--cache DIR``, reuses) a Butler repository of at least 10^5 datasets:

* the repository of the sync tests (``lineage/demo/butler.py``: three RUNs executed with
  lsst-pipe-base's mock tasks and finalized with their ``run_provenance``, a failed and a
  blocked quantum, a chain, a CALIBRATION collection), plus ``--reruns`` more finalized
  ``isr`` reruns: the share of datasets with real provenance;
* ``--bulk-runs`` RUNs of calexp-like and src-like datasets over ``--visits`` x
  ``--detectors`` data IDs of an instrument ``Bench``, inserted with
  ``registry._importDatasets(..., expand=False)`` (docs/notes/butler-api-facts.md §3);
  a ``--file-share`` of them have a file in the datastore (``butler.ingest``), the rest
  are registry entries only.

Then, ``--repeats`` times, each as its own process (daf_butler's import included) into a
fresh lineage repository on the embedded engine:

(a) **sync**: ``python -m lineage.cli sync BUTLER``;
(b) **export route**: daf_butler's export API writes one YAML of every collection (a
    child process), then ``lineage ingest butler-export`` of it and ``lineage ingest
    run`` of the RUNs' ``run_provenance`` graphs, so both routes bring in the same lineage;
(c) **no-op**: ``python -m lineage.cli sync BUTLER`` again on (a)'s repository.

Printed: wall seconds, datasets/s, peak memory of each child (``os.wait4``'s rusage,
the Python process; the engine runs in its own server process), nodes and edges each
route stored, and the ratio (b)/(a).

    python scripts/bench_sync.py --cache /tmp/bench/sync --repeats 3
    python scripts/bench_sync.py --cache /tmp/bench/sync --baseline /tmp/base  # before/after
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The export route's first step, in a child process: one YAML of every collection.
#: ``FileDatastore.export`` refuses a dataset without a file (FileNotFoundError), so those
#: (registry entries only) are saved as the YAML backend writes any dataset, with no path,
#: next to their data IDs' dimension records.
EXPORT = """
import sys
from lsst.daf.butler import Butler, FileDataset
repo, out = sys.argv[1], sys.argv[2]
with Butler.from_config(repo, writeable=False) as butler:
    infos = butler.collections.query_info("*", include_chains=True)
    with butler.export(filename=out, format="yaml", transfer=None) as export:
        for info in infos:
            if info.type.name != "RUN":
                continue
            refs = butler.query_all_datasets(info.name, find_first=False, limit=None)
            filed = butler.get_many_uris(refs, allow_missing=True)
            export.saveDatasets([ref for ref in refs if ref in filed])
            bare = [ref for ref in refs if ref not in filed]
            export.saveDataIds([ref.dataId for ref in bare])
            for ref in bare:
                entry = FileDataset(path="none", refs=[ref])
                entry.path = None
                export._datasets[ref.datasetType][ref.run].append(entry)
        for info in infos:
            if info.type.name != "RUN":
                export.saveCollection(info.name)
"""

#: The paths of every ``run_provenance`` graph (for ``lineage ingest run``).
PROVENANCE_PATHS = """
import sys
from lsst.daf.butler import Butler
with Butler.from_config(sys.argv[1], writeable=False) as butler:
    runs = [i.name for i in butler.collections.query_info("*") if i.type.name == "RUN"]
    for ref in butler.query_datasets("run_provenance", collections=runs, find_first=False,
                                     limit=None, explain=False):
        print(butler.getURI(ref).ospath)
"""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- building the Butler repository ----------------------------------------------------

def build(work: Path, visits: int, detectors: int, bulk_runs: int, file_share: float,
          reruns: int) -> Path:
    """The repository in ``work/repo``; ``work/done`` marks it complete (reused then)."""
    settings = json.dumps([visits, detectors, bulk_runs, file_share, reruns])
    if (work / "done").exists() and (work / "done").read_text() == settings:
        say(f"reusing {work / 'repo'}")
        return work / "repo"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    from lineage.demo.butler import add_run, make_butler
    t0 = time.perf_counter()
    say("building the test repository (three RUNs with provenance) ...")
    repo = make_butler(work / "repo", work)
    for i in range(reruns):
        say(f"  provenance rerun {i + 1}/{reruns} ({time.perf_counter() - t0:.0f} s)")
        add_run(repo, work, f"Cam1/runs/bench/rerun{i + 1}")
    add_bulk(repo, visits, detectors, bulk_runs, file_share, t0)
    (work / "done").write_text(settings)
    say(f"built {repo} in {time.perf_counter() - t0:.0f} s")
    return repo


def add_bulk(repo: Path, visits: int, detectors: int, bulk_runs: int, file_share: float,
             t0: float) -> None:
    """The bulk RUNs: ``bench_calexp`` and ``bench_src`` for every visit and detector."""
    import astropy.time
    import astropy.units as u
    from lsst.daf.butler import (Butler, CollectionType, DataCoordinate, DatasetRef,
                                 DatasetType, Timespan)
    with Butler.from_config(str(repo), writeable=True) as butler:
        registry, universe = butler.registry, butler.dimensions
        registry.insertDimensionData("instrument", {"name": "Bench", "visit_max": 10**7,
                                                    "detector_max": 1000, "class_name": "x"})
        registry.insertDimensionData("physical_filter", *[
            {"instrument": "Bench", "name": f"Bench-{b}", "band": b} for b in "gr"])
        day = astropy.time.Time("2024-01-01T12:00", scale="tai")
        registry.insertDimensionData("day_obs", {"instrument": "Bench", "id": 20240101,
                                                 "timespan": Timespan(day, day + 1 * u.day)})
        registry.insertDimensionData("detector", *[
            {"instrument": "Bench", "id": d, "full_name": f"D{d}"} for d in range(detectors)])
        start = astropy.time.Time("2024-01-02T00:00", scale="tai")
        registry.insertDimensionData("visit", *[
            {"instrument": "Bench", "id": v, "physical_filter": f"Bench-{'gr'[v % 2]}",
             "day_obs": 20240101,
             "timespan": Timespan(start + v * 60 * u.s, start + (v * 60 + 30) * u.s)}
            for v in range(visits)])
        # every visit's detectors (no region: the export API needs the record to exist)
        registry.insertDimensionData("visit_detector_region", *[
            {"instrument": "Bench", "visit": v, "detector": d, "region": None}
            for v in range(visits) for d in range(detectors)])
        types = [DatasetType(name, ("instrument", "visit", "detector"), "StructuredDataDict",
                             universe=universe) for name in ("bench_calexp", "bench_src")]
        for dataset_type in types:
            registry.registerDatasetType(dataset_type)
        data_ids = [DataCoordinate.standardize(
            instrument="Bench", visit=v, detector=d, band="gr"[v % 2],
            physical_filter=f"Bench-{'gr'[v % 2]}", day_obs=20240101, universe=universe)
            for v in range(visits) for d in range(detectors)]
        per_run = len(data_ids) * len(types)
        with_files = int(per_run * bulk_runs * file_share)
        runs = []
        for i in range(bulk_runs):
            run = f"Bench/runs/run{i + 1}"
            registry.registerRun(run)
            runs.append(run)
            for dataset_type in types:
                refs = [DatasetRef(dataset_type, did, run=run) for did in data_ids]
                filed, refs = refs[:with_files], refs[with_files:]
                with_files -= len(filed)
                for j in range(0, len(refs), 5000):
                    registry._importDatasets(refs[j:j + 5000], expand=False)
                    say(f"  {run} {dataset_type.name}: {j + len(refs[j:j + 5000])} "
                        f"registry entries ({time.perf_counter() - t0:.0f} s)")
                if filed:
                    add_files(butler, repo, run, dataset_type.name, filed, t0)
        registry.registerCollection("Bench/runs", CollectionType.CHAINED, doc="bulk RUNs")
        registry.setCollectionChain("Bench/runs", list(reversed(runs)))


def add_files(butler, repo: Path, run: str, name: str, refs, t0: float) -> None:
    """Datasets with a small file each, written inside the datastore root and ingested
    in place."""
    from lsst.daf.butler import FileDataset
    folder = repo / "bench_files" / run.replace("/", "_") / name
    folder.mkdir(parents=True, exist_ok=True)
    for j in range(0, len(refs), 5000):
        batch = []
        for ref in refs[j:j + 5000]:
            path = folder / f"{ref.dataId['visit']}_{ref.dataId['detector']}.yaml"
            path.write_text(f"visit: {ref.dataId['visit']}\n")
            batch.append(FileDataset(path=str(path), refs=[ref]))
        butler.ingest(*batch, transfer=None, record_validation_info=False)
        say(f"  {run} {name}: {j + len(batch)} with files ({time.perf_counter() - t0:.0f} s)")


def count_datasets(repo: Path) -> tuple[int, int]:
    """(datasets, datasets with a file) in the repository, as the Butler counts them."""
    from lsst.daf.butler import Butler
    with Butler.from_config(str(repo), writeable=False) as butler:
        runs = [i.name for i in butler.collections.query_info("*") if i.type.name == "RUN"]
        refs = butler.query_all_datasets(runs, find_first=False, limit=None)
        return len(refs), len(butler.get_many_uris(refs, allow_missing=True))


# --- measuring ---------------------------------------------------------------------------

#: Runs a command and prints its peak resident memory (KiB) last on stderr.  A child
#: forked from this process would report this process's peak as its own (Linux carries
#: the high-water mark over fork and exec), so each command is started from this small
#: interpreter instead.
MEASURED = ("import resource, subprocess, sys; status = subprocess.call(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
            "sys.exit(status)")


def child(args: list[str], cwd: Path, ok=(0,)) -> tuple[float, float, str]:
    """Run one command in the checkout ``cwd`` (exit status in ``ok``, else stop with its
    error): (wall seconds, peak resident MiB of its process, stdout)."""
    env = {**os.environ, "PYTHONPATH": str(cwd), "LINEAGE_NO_PROGRESS": "1"}
    env.pop("LINEAGE_REPO", None)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURED, *args], capture_output=True,
                          text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(args[:4])} ... failed ({done.returncode}):\n"
                         f"{done.stderr[-3000:]}")
    return wall, int(done.stderr.split()[-1]) / 1024, done.stdout


def lineage(*args: str) -> list[str]:
    return [sys.executable, "-m", "lineage.cli", *args]


def graph_size(repo: Path) -> tuple[int, int]:
    """(nodes, edges) of a lineage repository."""
    from lineage.store.falkordb_server import FalkorServer
    from lineage.store.repo import open_store
    with open_store(repo) as store:
        nodes, edges = store.count()
    FalkorServer(repo).stop()
    return nodes, edges


def one_round(butler: Path, work: Path, provenance: list[str], baseline: Path | None) -> dict:
    """(a), (b) and (c) once, each into a fresh lineage repository; then (a) and (c) with
    the ``baseline`` checkout, if one is given."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    synced, exported = work / "synced", work / "exported"
    for repo in (synced, exported):
        child(lineage("init", str(repo)), ROOT)
    result = {}
    wall, peak, out = child(lineage("sync", str(butler), "--repo", str(synced), "--json"), ROOT)
    summary = json.loads(out)
    result["sync"] = (wall, peak, summary["totals"]["datasets_read"], summary["seconds"])
    yaml = work / "export.yaml"
    export_wall, export_peak, _ = child([sys.executable, "-c", EXPORT, str(butler), str(yaml)],
                                        ROOT)
    ingest_wall, ingest_peak, _ = child(lineage("ingest", "butler-export", str(yaml),
                                                "--repo", str(exported)), ROOT)
    run_wall, run_peak, _ = child(lineage("ingest", "run", *provenance, "--repo",
                                          str(exported)), ROOT)
    result["export"] = (export_wall, export_peak)
    result["ingest"] = (ingest_wall + run_wall, max(ingest_peak, run_peak))
    wall, peak, out = child(lineage("sync", str(butler), "--repo", str(synced), "--json"), ROOT)
    result["noop"] = (wall, peak, json.loads(out)["totals"]["units"])
    result["graphs"] = (graph_size(synced), graph_size(exported))
    if baseline is not None:
        other = work / "baseline"
        child(lineage("init", str(other)), baseline)
        wall, peak, _ = child(lineage("sync", str(butler), "--repo", str(other), "--json"),
                              baseline)
        noop = child(lineage("sync", str(butler), "--repo", str(other), "--json"), baseline)
        result["baseline"] = (wall, peak, noop[0])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="build the Butler here, or reuse it "
                                                   "(default: a temporary directory)")
    parser.add_argument("--visits", type=int, default=250)
    parser.add_argument("--detectors", type=int, default=100)
    parser.add_argument("--bulk-runs", type=int, default=2)
    parser.add_argument("--file-share", type=float, default=0.25,
                        help="share of the bulk datasets with a file (default 0.25)")
    parser.add_argument("--reruns", type=int, default=3,
                        help="finalized isr reruns with provenance besides the test RUNs")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--baseline", type=Path,
                        help="another checkout whose sync is timed in the same rounds "
                             "(e.g. git worktree add /tmp/base main)")
    args = parser.parse_args()
    base = args.cache or Path(tempfile.mkdtemp(prefix="bench_sync_"))
    butler = build(base / "butler", args.visits, args.detectors, args.bulk_runs,
                   args.file_share, args.reruns)
    datasets, with_files = count_datasets(butler)
    provenance = child([sys.executable, "-c", PROVENANCE_PATHS, str(butler)],
                       ROOT)[2].split()
    say(f"{datasets} datasets ({with_files} with files), {len(provenance)} RUNs with "
        "run_provenance")
    rounds = []
    for i in range(args.repeats):
        rounds.append(one_round(butler, base / "lineage", provenance,
                                args.baseline.resolve() if args.baseline else None))
        r = rounds[-1]
        say(f"round {i + 1}/{args.repeats}: sync {r['sync'][0]:.1f} s, export "
            f"{r['export'][0]:.1f} s + ingest {r['ingest'][0]:.1f} s, no-op {r['noop'][0]:.2f} s")

    def median(what: str, i: int = 0) -> float:
        return statistics.median(r[what][i] for r in rounds)

    load = os.getloadavg()
    sync_wall = median("sync")
    route_wall = statistics.median(r["export"][0] + r["ingest"][0] for r in rounds)
    print(f"Butler: {datasets} datasets ({with_files} with files), {len(provenance)} RUNs "
          f"with run_provenance; median of {args.repeats}; load average {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores")
    print(f"{'route':<34} {'wall s':>8} {'datasets/s':>11} {'peak MiB':>9}")
    print(f"{'(a) lineage sync':<34} {sync_wall:>8.2f} {datasets / sync_wall:>11,.0f} "
          f"{median('sync', 1):>9.0f}")
    print(f"{'    of which in sync()':<34} {median('sync', 3):>8.2f}")
    print(f"{'(b) butler export':<34} {median('export'):>8.2f} {'':>11} "
          f"{median('export', 1):>9.0f}")
    print(f"{'    + lineage ingest (export, run)':<34} {median('ingest'):>8.2f} {'':>11} "
          f"{median('ingest', 1):>9.0f}")
    print(f"{'    = export route':<34} {route_wall:>8.2f} {datasets / route_wall:>11,.0f}")
    print(f"{'(c) no-op re-sync':<34} {median('noop'):>8.2f} {'':>11} "
          f"{median('noop', 1):>9.0f}")
    if args.baseline:
        print(f"{'(a) sync, baseline checkout':<34} {median('baseline'):>8.2f} "
              f"{datasets / median('baseline'):>11,.0f} {median('baseline', 1):>9.0f}")
        print(f"{'(c) no-op, baseline checkout':<34} {median('baseline', 2):>8.2f}")
        print(f"ratio sync baseline / this = {median('baseline') / sync_wall:.2f}x")
    print(f"ratio export route / sync = {route_wall / sync_wall:.2f}x; "
          f"no-op wrote {rounds[-1]['noop'][2]} units")
    (sn, se), (en, ee) = rounds[-1]["graphs"]
    print(f"graph: sync {sn} nodes, {se} edges; export route {en} nodes, {ee} edges")


if __name__ == "__main__":
    main()

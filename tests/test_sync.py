"""`lineage sync` of a real Butler repository (lineage/demo/butler.py builds it in-process
with lsst-daf-butler and lsst-pipe-base's mock tasks: three finalized RUNs, one failed and
one blocked quantum, a CHAINED output and a CALIBRATION collection with two validity
ranges).  The oracles are the Butler's own queries and pipe_base's provenance reader.
Skipped when lsst-pipe-base is absent."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lineage.core.model import collection_key, dataset_key, quantum_key
from lineage.demo.butler import CALIB, CHAIN, RUNS, VALIDITY, add_run, make_butler
from lineage.export import write_jsonl
from lineage.store.falkordb_server import FalkorServer
from lineage.store.repo import init_repo, open_store
from lineage.sync import SyncError, sync
from lineage.sync.core import RECORDS

from .conftest import built_once


pytest.importorskip("lsst.pipe.base.quantum_graph")

ENV = dict(os.environ, COLUMNS="200", LINEAGE_NO_PROGRESS="1")
ENV.pop("LINEAGE_REPO", None)


@pytest.fixture(scope="session")
def butler_repo(tmp_path_factory) -> Path:
    """The Butler repository, built once per run.  Tests only read it; a test that changes
    a Butler changes a copy (:func:`copy_of`)."""
    return built_once(tmp_path_factory, "sync-butler",
                      lambda work: make_butler(work / "repo", work))


def copy_of(butler_repo: Path, tmp_path: Path) -> Path:
    target = tmp_path / "butler" / "repo"
    shutil.copytree(butler_repo, target)
    return target


@pytest.fixture(scope="module")
def synced(tmp_path_factory, butler_repo):
    """An embedded lineage repository after one clean sync of the Butler, and its summary."""
    root = tmp_path_factory.mktemp("synced") / "repo"
    init_repo(root)
    with open_store(root, keep=True) as store:
        summary = sync(store, str(butler_repo), show_progress=False)
    yield root, summary
    FalkorServer(root).stop()


def export_of(store) -> str:
    out = io.StringIO()
    write_jsonl(store, out)
    return out.getvalue()


def lineage(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "lineage.cli", *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=timeout)


def _reader(uri: str):
    from lsst.pipe.base.quantum_graph import ProvenanceQuantumGraphReader
    with ProvenanceQuantumGraphReader.open(uri) as reader:
        reader.read_full_graph()
        return reader.graph


def test_sync_equals_what_the_butler_and_pipe_base_say(store, butler_repo):
    """On every engine: each output dataset's inputs as pipe_base's provenance reader
    says; the datasets of each collection as the Butler's queries say; the chain's order,
    the validity ranges and the failed and blocked quanta."""
    from lsst.daf.butler import Butler
    summary = sync(store, str(butler_repo), show_progress=False)
    assert not summary.rejected, [u.error for u in summary.rejected]
    with Butler.from_config(str(butler_repo), writeable=False) as butler:
        checked = 0
        for run in RUNS:
            graph = _reader(str(butler.getURI("run_provenance", collections=run)))
            x = graph.bipartite_xgraph
            quanta = {q for qs in graph.quanta_by_task.values() for q in qs.values()}
            want = {}
            for d, info in x.nodes(data=True):
                producers = [q for q in x.predecessors(d) if q in quanta]
                if "dataset_type_name" in info and info["produced"] and producers:
                    want[dataset_key(str(d))] = {dataset_key(str(i))
                                                 for i in x.predecessors(producers[0])
                                                 if x.nodes[i]["produced"]}
            got = {}
            for d, i in store.read("UNWIND $keys AS k MATCH (d:Dataset {key: k}) "
                                   "OPTIONAL MATCH (d)<-[:PRODUCED]-(:Quantum)<-[:INPUT_TO]-(i) "
                                   "RETURN d.key, collect(i.key)", {"keys": list(want)}):
                got[d] = set(i)
            assert got == want, run
            checked += len(want)
            statuses = {quantum_key(str(q)): x.nodes[q]["status"].name.lower() for q in quanta}
            stored = dict(store.read("UNWIND $keys AS k MATCH (q:Quantum {key: k}) "
                                     "RETURN q.key, q.status", {"keys": list(statuses)}))
            assert stored == statuses
        assert checked > 80
        failed = store.read("MATCH (q:Quantum) WHERE q.status IN ['failed', 'blocked'] "
                            "RETURN q.task, q.status, q.data_id")
        assert sorted(failed) == [("calibrate", "failed", "detector=2,instrument=Cam1,visit=2"),
                                  ("consolidate", "blocked", "instrument=Cam1,visit=2")]
        for info in butler.collections.query_info("*"):
            if info.type.name == "CHAINED":
                continue
            refs = (butler.query_all_datasets(info.name, find_first=False, limit=None)
                    if info.type.name == "RUN" else
                    butler.query_datasets("bias2", collections=info.name, find_first=False,
                                          limit=None, explain=False))
            stored = store.read("MATCH (c:Collection {key: $k})-[:CONTAINS]->(d:Dataset) "
                                "RETURN d.key", {"k": collection_key(info.name)})
            assert sorted(r[0] for r in stored) == sorted(dataset_key(str(r.id)) for r in refs)
        children = butler.collections.get_info(CHAIN).children
    chain = store.read("MATCH (c:Collection {key: $k})-[e:CHAINS]->(b) RETURN e.position, b.name",
                       {"k": collection_key(CHAIN)})
    assert [name for _, name in sorted(chain)] == list(children) and len(children) == 4
    ranges = store.read("MATCH (c:Collection {key: $k})-[e:CONTAINS]->(d) "
                        "RETURN e.valid_begin, e.valid_end, d.run", {"k": collection_key(CALIB)})
    assert {(run, (begin or "")[:19], (end or "")[:19]) for begin, end, run in ranges} == \
        {(f"{CALIB}/b{i + 1}", begin, end or "") for i, (begin, end) in enumerate(VALIDITY)}
    assert len(ranges) == 8


def test_a_second_sync_writes_nothing(synced, butler_repo):
    root, first = synced
    assert [p.name for p in first.planned if p.what == "RUN"] == \
        ["input_run", *RUNS, f"{CALIB}/b1", f"{CALIB}/b2"]
    with open_store(root) as store:
        before = store.count(), export_of(store)
        again = sync(store, str(butler_repo), show_progress=False)
        assert (again.planned, again.units, again.removed) == ([], [], [])
        assert len(again.skipped) == len(first.planned) - 1   # each collection: unchanged
        assert (store.count(), export_of(store)) == before


def test_a_new_run_is_read_alone(tmp_path, repo, butler_repo):
    butler = copy_of(butler_repo, tmp_path)
    with open_store(repo) as store:
        sync(store, str(butler), show_progress=False)
        new = f"{CHAIN}/step1c"
        add_run(butler, butler.parent, new)
        summary = sync(store, str(butler), show_progress=False)
        read = [(p.what, p.name, p.why) for p in summary.planned]
        assert [r for r in read if r[0] == "RUN"] == [("RUN", new, "new")]
        assert ("CHAINED", CHAIN, "changed") in read      # the new RUN heads the output chain
        outcome = next(u for u in summary.units if u.path == new)
        assert outcome.status == "added" and outcome.counts["quanta"] == 8
        chain = store.read("MATCH (c:Collection {key: $k})-[e:CHAINS]->(b) "
                           "RETURN e.position, b.name", {"k": collection_key(CHAIN)})
        assert sorted(chain)[0] == (0, new)
        assert sync(store, str(butler), show_progress=False).units == []


def test_kill_9_then_sync_again_equals_one_clean_sync(tmp_path, repo, synced, butler_repo):
    """The CLI killed (and the engine with it) once its first RUN is written: whole RUNs
    only, and the next sync completes a graph equal to one clean sync."""
    proc = subprocess.Popen([sys.executable, "-m", "lineage.cli", "sync", str(butler_repo),
                             "--repo", str(repo)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    lines = []
    for text in proc.stderr:
        lines.append(text)
        if text.startswith(f"added {RUNS[0]}:"):
            break
    server = FalkorServer(repo)
    pid = server.pid()
    proc.send_signal(signal.SIGKILL)
    if pid:
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    assert lines and lines[-1].startswith(f"added {RUNS[0]}:"), lines
    with open_store(repo) as store:
        runs = dict(store.read("MATCH (c:Collection) WHERE c.butler_state IS NOT NULL "
                               "RETURN c.name, c.collection_type"))
        assert RUNS[0] in runs and RUNS[2] not in runs
    again = lineage("sync", butler_repo, "--repo", repo, "--json")
    assert again.returncode == 0, again.stderr
    read = [p["name"] for p in json.loads(again.stdout)["planned"] if p["what"] == "RUN"]
    assert RUNS[0] not in read and RUNS[2] in read
    with open_store(repo) as store, open_store(synced[0]) as clean:
        assert export_of(store) == export_of(clean)


def test_a_dataset_gone_from_the_butler_is_recorded_and_keeps_its_provenance(tmp_path, repo,
                                                                           butler_repo):
    from lsst.daf.butler import Butler
    butler_path = copy_of(butler_repo, tmp_path)
    with Butler.from_config(str(butler_path), writeable=True) as butler:
        ref = butler.query_datasets("calexp", collections=RUNS[0], limit=1, explain=False)[0]
    key = dataset_key(str(ref.id))
    with open_store(repo) as store:
        sync(store, str(butler_path), show_progress=False)
        producer = store.read("MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset {key: $k}) "
                              "RETURN q.key", {"k": key})
        with Butler.from_config(str(butler_path), writeable=True) as butler:
            butler.pruneDatasets([ref], purge=True, disassociate=True, unstore=True)
        summary = sync(store, str(butler_path), show_progress=False)
        assert [(p.name, p.why) for p in summary.planned if p.what == "RUN"] == \
            [(RUNS[0], "calexp: dataset count changed")]
        assert summary.removed == [f"{key} ({RUNS[0]})"]
        props = store.nodes("Dataset", [key])[key]
        assert props["butler_removed"] and props["run"] == RUNS[0]
        assert store.read("MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset {key: $k}) "
                          "RETURN q.key", {"k": key}) == producer != []
        assert sync(store, str(butler_path), show_progress=False).units == []

        # a whole RUN removed (out of its chain first, as the Butler requires)
        with Butler.from_config(str(butler_path), writeable=True) as butler:
            held = {dataset_key(str(r.id)) for r in butler.query_all_datasets(
                RUNS[2], find_first=False, limit=None)}
            butler.collections.remove_from_chain(CHAIN, RUNS[2])
            butler.removeRuns([RUNS[2]])
        before = store.count()
        summary = sync(store, str(butler_path), show_progress=False)
        assert [(p.what, p.name) for p in summary.planned] == [
            ("records", RECORDS), ("CHAINED", CHAIN),
            ("gone", RUNS[2])]
        assert {r.split(" ")[0] for r in summary.removed} == held and len(held) == 27
        assert store.count() == before                   # marked, nothing deleted
        marked = store.read("MATCH (c:Collection {key: $k})-[:CONTAINS]->(d:Dataset) "
                            "RETURN count(d), count(d.butler_removed)",
                            {"k": collection_key(RUNS[2])})
        assert marked == [(27, 27)]
        edge = store.read("MATCH (c:Collection {key: $k})-[e:CHAINS]->(b {name: $run}) "
                          "RETURN e.butler_removed IS NOT NULL",
                          {"k": collection_key(CHAIN), "run": RUNS[2]})
        assert edge == [(True,)]
        assert sync(store, str(butler_path), show_progress=False).units == []


def test_dry_run_says_what_it_would_read_and_writes_nothing(repo, butler_repo):
    done = lineage("sync", butler_repo, "--repo", repo, "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    runs = {p["name"]: p["datasets"] for p in out["planned"] if p["what"] == "RUN"}
    assert runs[RUNS[0]] == 61 and out["units"] == [] and out["dry_run"]
    with open_store(repo) as store:
        calib = sync(store, str(butler_repo), [f"{CALIB}*"], dry_run=True, show_progress=False)
        later = sync(store, str(butler_repo), since="2030-01-01", dry_run=True,
                     show_progress=False)
    assert [(p.what, p.name) for p in calib.planned] == [
        ("records", RECORDS), ("RUN", f"{CALIB}/b1"), ("RUN", f"{CALIB}/b2"),
        ("CALIBRATION", CALIB)]
    assert not [p for p in later.planned if p.what == "RUN"]
    assert f"{RUNS[0]}: nothing ingested since 2030-01-01T00:00:00 UTC" in later.skipped
    bad = lineage("sync", butler_repo, "--repo", repo, "--where", "visit = 1")
    assert bad.returncode == 2 and bad.stderr.startswith("lineage: error: --where 'visit = 1': "
                                                         "the Butler refuses it")
    with open_store(repo) as store:
        assert store.count() == (0, 0)


def test_where_selects_datasets_and_a_sync_without_it_reads_the_rest(repo, butler_repo):
    from lsst.daf.butler import Butler
    where = "instrument = 'Cam1' AND visit = 1"
    with Butler.from_config(str(butler_repo), writeable=False) as butler:
        selected = {dataset_key(str(r.id)) for r in butler.query_all_datasets(
            RUNS[0], find_first=False, where=where, limit=None)}
    with open_store(repo) as store:
        first = sync(store, str(butler_repo), [RUNS[0]], where=where, show_progress=False)
        assert first.datasets_read == len(selected) and 0 < len(selected) < 61
        stored = {r[0] for r in store.read(
            "MATCH (c:Collection {key: $k})-[:CONTAINS]->(d:Dataset) WHERE d.path IS NOT NULL "
            "RETURN d.key", {"k": collection_key(RUNS[0])})}
        assert stored == selected            # the provenance graph brings the others, no file
        assert sync(store, str(butler_repo), [RUNS[0]], where=where,
                    show_progress=False).units == []
        full = sync(store, str(butler_repo), [RUNS[0]], show_progress=False)
        assert [(p.name, p.why) for p in full.planned if p.what == "RUN"] == \
            [(RUNS[0], "synced before with another selection (where)")]
        assert full.datasets_read == 61 and full.removed == []


def _universe_version(repo: Path, version) -> None:
    with sqlite3.connect(repo / "gen3.sqlite3") as db:
        (text,) = db.execute("SELECT value FROM butler_attributes "
                             "WHERE name = 'config:dimensions.json'").fetchone()
        config = json.loads(text)
        config["version"] = version
        db.execute("UPDATE butler_attributes SET value = ? WHERE name = 'config:dimensions.json'",
                   (json.dumps(config),))


def test_a_butler_that_cannot_be_read_is_one_line_naming_it_and_nothing_is_written(
        tmp_path, repo, butler_repo):
    not_butler = tmp_path / "not-a-butler"
    not_butler.mkdir()
    newer = copy_of(butler_repo, tmp_path)
    _universe_version(newer, 99)
    cases = {tmp_path / "missing": "no such Butler repository",
             not_butler: "not a readable Butler repository",
             newer: "dimension universe daf_butler version 99 is unknown"}
    done = lineage("sync", newer, "--repo", repo)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"lineage: error: {newer}: ")
    with open_store(repo) as store:
        for path, what in cases.items():
            with pytest.raises(SyncError) as refused:
                sync(store, str(path), show_progress=False)
            assert str(refused.value).startswith(f"{path}: {what}")
            assert "\n" not in str(refused.value)
        assert store.count() == (0, 0)
    with pytest.raises(SyncError, match="not an ISO date"):
        with open_store(repo) as store:
            sync(store, str(butler_repo), since="yesterday", show_progress=False)


def test_file_records_read_in_bulk_equal_get_many_uris(butler_repo):
    """The FileDatastore's own records (``ButlerSource.files``) give every dataset the
    same file as the public ``get_many_uris``, below the datastore root."""
    from lineage.sync.butler import open_source
    source = open_source(str(butler_repo))
    try:
        butler = source.butler
        refs = butler.query_all_datasets(list(RUNS), find_first=False, limit=None)
        root = butler._datastore.root
        public = {ref.id: uris.primaryURI.relative_to(root) for ref, uris in
                  butler.get_many_uris(refs, allow_missing=True).items()}
        files = source.files(refs)
        assert files == public
        assert len(files) > 50 and all(isinstance(p, str) and p for p in files.values())
    finally:
        source.close()


def test_sql_read_of_a_run_equals_the_public_api(butler_repo):
    """``ButlerSource.sql_rows`` (daf_butler's private schema, behind its version check)
    gives every RUN of the test repository the same dataset entries, IDs, counts and
    files as ``query_all_datasets`` with the datastore's records; a registry whose
    schema it does not know gets the public API."""
    from lineage.sync.butler import open_source
    source = open_source(str(butler_repo))

    def by_id(datasets):
        return ([(e["dataset_type"], e["run"], sorted(e["records"], key=lambda r: r["dataset_id"]))
                 for e in datasets.entries], datasets.ids, datasets.counts, datasets.skipped)
    try:
        assert source._sql_schema_known()
        for run in RUNS:
            assert source.sql_rows(run) is not None
            fast = source.run_datasets(run)
            source._sql_schema = False          # as on a schema sql_rows does not know
            assert source.sql_rows(run) is None
            public = source.run_datasets(run)
            source._sql_schema = None
            assert by_id(fast) == by_id(public)
            assert sum(fast.counts.values()) > 5
            assert any("path" in r for e in fast.entries for r in e["records"])
    finally:
        source.close()


# --- lineage demo --butler: a repository to try sync on --------------------------------------

def test_demo_butler_is_whole_or_absent(tmp_path):
    """`lineage demo --butler DIR` refuses a directory with something in it, and a build
    killed with SIGKILL leaves no DIR (only DIR-partial, which the next build replaces)."""
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    refused = lineage("demo", "--butler", taken)
    assert refused.returncode == 2 and "--butler" in refused.stderr and str(taken) in \
        refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]

    target, partial = tmp_path / "demo-butler", tmp_path / "demo-butler-partial"
    build = subprocess.Popen([sys.executable, "-m", "lineage.cli", "demo", "--butler",
                              str(target)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (partial / "gen3.sqlite3").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert build.poll() is None, "the build ended before it could be killed"
    os.killpg(build.pid, signal.SIGKILL)
    build.wait()
    assert partial.exists() and not target.exists()

    done = lineage("demo", "--butler", target, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["runs"] == list(RUNS)
    assert not partial.exists() and (target / "butler.yaml").exists()
    from lsst.daf.butler import Butler
    with Butler.from_config(str(target)) as butler:
        assert set(RUNS) <= set(butler.collections.query("*"))
        assert butler.query_datasets("run_provenance", collections=RUNS[0], explain=False)

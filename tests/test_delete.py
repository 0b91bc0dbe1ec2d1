"""`lineage delete` (docs/retention.md): tombstones that keep provenance, live dependents
(DRP30), one all-or-nothing unit (kill -9 of the command and the engine, then a rerun),
files removed from the datastore and its replicas after the graph, and tombstones that a
re-ingest or a sync brings back.  Real engines throughout (the small demo on FalkorDB and
ArcadeDB; embedded repositories for the CLI, kill -9 and files)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lineage.core.dataid import DataId
from lineage.core.model import GraphBatch, Rel, collection_key, dataset_key
from lineage.ingest.driver import IngestContext, Parsed, ingest_unit
from lineage.retention.delete import DeletionError, delete
from lineage.store.falkordb_server import FalkorServer
from lineage.store.repo import open_store
from lineage.traversal.traverse import downstream, upstream
from scripts.bench_delete import write_run

from .cli_runner import run
from .conftest import store_digest

ENV = dict(os.environ, COLUMNS="200", LINEAGE_NO_PROGRESS="1")
ENV.pop("LINEAGE_REPO", None)


def _calexp_visit(store) -> str:
    data_id = store.read("MATCH (d:Dataset {dataset_type: 'calexp'}) RETURN d.data_id "
                         "ORDER BY d.key LIMIT 1")[0][0]
    return f"visit={DataId.parse(data_id)['visit']}"


def _tombstones(store) -> dict[str, dict]:
    return {k: dict(p) for k, p in store.read(
        "MATCH (d:Dataset) WHERE d.deleted_at IS NOT NULL RETURN d.key, properties(d)")}


def _edges_of(store, keys) -> int:
    return store.read("UNWIND $keys AS k MATCH (d:Dataset {key: k})-[e]-() RETURN count(e)",
                      {"keys": sorted(keys)})[0][0]


# --- the model, on both engines ----------------------------------------------------------

def test_deleted_calexps_keep_the_coadds_answer_and_stay_upstream(demo_store):
    """The issue's "Must show": after deleting the calexps of a visit, which coadds used the
    visit is the same answer, and upstream of a coadd still lists the deleted calexps."""
    store = demo_store
    visit = _calexp_visit(store)
    coadds = sorted(r.key for r in downstream(store, visit, types=["deepCoadd"]))
    assert coadds
    before = store_digest(store)
    with pytest.raises(DeletionError) as refused:   # warps were made from them: refused
        delete(store, visit, types=["calexp"], reason="reprocessed", by="ops",
               show_progress=False)
    assert "live datasets outside the deletion" in str(refused.value)
    assert "deepCoadd_directWarp" in str(refused.value)
    assert store_digest(store) == before
    dry = delete(store, visit, types=["calexp"], reason="reprocessed", by="ops", dry_run=True,
                 show_progress=False)
    assert store_digest(store) == before        # a dry run writes nothing
    assert dry["would_delete"] == dry["by_dataset_type"]["calexp"] > 0
    assert dry["live_dependents"] > 0 and dry["bytes"] > 0
    calexps = [r.key for r in downstream(store, visit, types=["calexp"])]
    edges = _edges_of(store, calexps)

    report = delete(store, visit, types=["calexp"], reason="reprocessed", by="ops",
                    force=True, show_progress=False)
    assert report["deleted"] == len(calexps) == report["forced"]
    tombs = _tombstones(store)
    assert sorted(tombs) == sorted(calexps)
    for props in tombs.values():
        assert props["deleted_by"] == "ops" and props["deleted_reason"] == "reprocessed"
        assert props["deleted_forced"] is True and "files_removed" not in props
        assert list(props["deletion_history"]) == [
            f"{report['deleted_at']} deleted by ops: reprocessed"]
    assert _edges_of(store, calexps) == edges   # node and edges kept
    assert sorted(r.key for r in downstream(store, visit, types=["deepCoadd"])) == coadds
    for coadd in coadds:   # each coadd's inputs still name the deleted calexps it used
        assert set(calexps) & {r.key for r in upstream(store, coadd, types=["calexp"])}
    reached = {r.key for c in coadds for r in upstream(store, c, types=["calexp"])}
    assert set(calexps) <= reached

    again = delete(store, visit, types=["calexp"], reason="twice", by="someone",
                   show_progress=False)   # deleted already: reported, not stamped again
    assert again["deleted"] == 0 and again["already_deleted"] == len(calexps)
    assert again["deleted_at"] is None and _tombstones(store) == tombs


def test_a_run_and_a_chained_collection(demo_store):
    store = demo_store
    chain, = store.read("MATCH (c:Collection {collection_type: 'CHAINED'}) "
                        "RETURN c.name ORDER BY c.name LIMIT 1")[0]
    runs = [r[0] for r in store.read(
        "MATCH (:Collection {name: $n})-[:CHAINS*]->(c:Collection {collection_type: 'RUN'}) "
        "RETURN DISTINCT c.name", {"n": chain})]
    counts = {run: delete(store, run=run, reason="x", by="y", dry_run=True,
                          show_progress=False)["would_delete"] for run in runs}
    whole = delete(store, collection=chain, reason="x", by="y", dry_run=True,
                   show_progress=False)
    assert whole["would_delete"] >= sum(counts.values()) > 0
    with pytest.raises(DeletionError, match="not a RUN"):
        delete(store, run=chain, reason="x", by="y", show_progress=False)
    with pytest.raises(DeletionError, match="exactly one"):
        delete(store, "visit=1", run=runs[0], reason="x", by="y", show_progress=False)
    free = [r for r in runs if not delete(store, run=r, reason="x", by="y", dry_run=True,
                                          show_progress=False)["live_dependents"]]
    assert free   # the last RUN of the chain: nothing live was made from it
    report = delete(store, run=free[0], reason="campaign over", by="ops", show_progress=False)
    assert report["deleted"] == counts[free[0]] and report["forced"] == 0


# --- the command --------------------------------------------------------------------------

def test_cli_refuses_then_forces_with_its_report(demo_repo):
    visit = None
    with open_store(demo_repo) as store:
        visit = _calexp_visit(store)
    args = ["delete", visit, "--type", "calexp", "--reason", "test", "--by", "me",
            "--repo", demo_repo]
    refused = run(*args)
    assert refused.returncode == 2 and "live datasets outside the deletion" in refused.stderr
    dry = run(*args, "--dry-run", "--format", "json")
    assert dry.returncode == 0 and json.loads(dry.stdout)["would_delete"] > 0
    done = run(*args, "--force")
    assert done.returncode == 0, done.stderr
    assert "calexp" in done.stdout and "forced:" in done.stdout
    bad = run("delete", "--reason", "x", "--by", "y", "--repo", demo_repo)
    assert bad.returncode == 2 and "exactly one" in bad.stderr


def _engine_writing(repo) -> bool:
    """Whether the engine executes a write now: a client's GRAPH.QUERY still blocked."""
    return any(c["cmd"].lower() == "graph.query" and "b" in c["flags"]
               for c in FalkorServer(repo).client(socket_timeout=5).client_list())


@pytest.mark.parametrize("moment", ["writing", "before"])
def test_kill_9_in_the_middle_of_a_run_deletion_then_rerun(repo, moment):
    """The command and the engine killed while the engine writes the tombstones of a RUN
    of 60,000 datasets (or, held by ``LINEAGE_INGEST_PAUSE``, just before): none or all
    are deleted, never some; the rerun completes it."""
    from lineage.ingest.driver import PAUSE_ENV
    size = 60_000 if moment == "writing" else 5_000
    with open_store(repo, keep=True) as store:
        store.ensure_schema()
        write_run(store, "Big/run", size)
    args = [sys.executable, "-m", "lineage.cli", "delete", "--run", "Big/run", "--reason",
            "campaign over", "--by", "ops", "--repo", str(repo)]
    env = {**ENV, PAUSE_ENV: "before:300"} if moment == "before" else ENV
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    if moment == "before":
        time.sleep(8)   # reading and checking 5,000 datasets take well under that
    while moment == "writing" and not _engine_writing(repo):
        assert proc.poll() is None, "the deletion ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert proc.poll() is None
    engine = FalkorServer(repo).pid()
    proc.send_signal(signal.SIGKILL)
    os.kill(engine, signal.SIGKILL)
    proc.wait()
    with open_store(repo) as store:
        deleted = store.read("MATCH (d:Dataset {run: 'Big/run'}) WHERE d.deleted_at IS NOT NULL "
                             "RETURN count(d)")[0][0]
    assert deleted in (0, size), deleted
    if moment == "before":
        assert deleted == 0
    again = subprocess.run(args + ["--json"], env=ENV, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["deleted"] + report["already_deleted"] == size
    with open_store(repo) as store:
        rows = store.read("MATCH (d:Dataset {run: 'Big/run'}) "
                          "RETURN d.deleted_at IS NOT NULL, size(d.deletion_history), count(d)")
    assert rows == [[True, 1, size]] or [tuple(r) for r in rows] == [(True, 1, size)]


# --- files --------------------------------------------------------------------------------

def _config(repo: Path, **entries) -> None:
    path = repo / "lineage.json"
    config = json.loads(path.read_text())
    config.update(entries)
    path.write_text(json.dumps(config))


def test_files_go_from_the_datastore_and_replicas_after_the_graph(repo, tmp_path):
    datastore, replica = repo / "datastore", tmp_path / "replica"
    with open_store(repo, keep=True) as store:
        store.ensure_schema()
        keys = write_run(store, "F/run", 6, datastore)
        props = store.nodes("Dataset", keys)
        shared_uri = props[keys[0]]["uri"]          # a live dataset of another RUN names it
        batch = GraphBatch("shared")
        batch.add_node(collection_key("G/run"), name="G/run", collection_type="RUN")
        batch.add_node(dataset_key("00000000-0000-0000-0000-0000000000aa"),
                       dataset_type="bench_calexp", run="G/run", uri=shared_uri,
                       data_id="detector=0,instrument=Bench,visit=99")
        batch.add_edge(Rel.CONTAINS, collection_key("G/run"),
                       dataset_key("00000000-0000-0000-0000-0000000000aa"))
        store.write(batch)
    files = {k: datastore / props[k]["uri"][len("file://datastore/"):] for k in keys}
    for path in files.values():                     # the replica: same layout below its root
        copy = replica / path.relative_to(datastore)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(path.read_bytes())
    _config(repo, replicas=[str(replica)])
    stuck = files[keys[1]]                           # a file that cannot be removed
    stuck.unlink()
    stuck.mkdir()
    (stuck / "inside").write_text("x")

    args = ["delete", "--run", "F/run", "--reason", "x", "--by", "y", "--files", "--repo", repo]
    first = run(*args, "--format", "json")
    assert first.returncode == 2
    assert str(stuck) in first.stderr and "could not be removed" in first.stderr
    report = json.loads(first.stdout)
    assert report["deleted"] == 6
    assert report["files"]["removed"] == 4 and report["files"]["shared"] == 1
    assert [f["file"] for f in report["files"]["failed"]] == [str(stuck)]
    assert files[keys[0]].exists() and (replica / files[keys[0]].relative_to(datastore)).exists()
    for k in keys[2:]:
        assert not files[k].exists() and not (replica / files[k].relative_to(datastore)).exists()
    with open_store(repo) as store:
        removed = dict(store.read("MATCH (d:Dataset {run: 'F/run'}) RETURN d.key, d.files_removed"))
    assert {k for k, v in removed.items() if v is False} == {keys[0], keys[1]}

    (stuck / "inside").unlink()
    stuck.rmdir()
    second = run(*args, "--format", "json")        # retries only what is owed
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["deleted"] == 0 and again["already_deleted"] == 6
    assert again["files"]["removed"] == 1 and again["files"]["shared"] == 1
    assert files[keys[0]].exists()                  # never removed while a live dataset names it


def test_a_refused_path_is_never_touched_and_a_butler_datastore_is_refused(repo, tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    with open_store(repo, keep=True) as store:
        store.ensure_schema()
        batch = GraphBatch("escape")
        batch.add_node(collection_key("E/run"), name="E/run", collection_type="RUN")
        key = dataset_key("00000000-0000-0000-0000-0000000000bb")
        batch.add_node(key, dataset_type="x", run="E/run", uri=str(outside))
        batch.add_edge(Rel.CONTAINS, collection_key("E/run"), key)
        store.write(batch)
    done = run("delete", "--run", "E/run", "--reason", "x", "--by", "y", "--files",
               "--repo", repo)
    assert done.returncode == 2 and "refused" in done.stderr
    assert outside.read_text() == "keep me"
    _config(repo, datastore={"butler": str(tmp_path / "butler")})
    butler = run("delete", "--run", "E/run", "--reason", "x", "--by", "y", "--files",
                 "--repo", repo)
    assert butler.returncode == 2 and "butler remove-runs" in butler.stderr
    assert "lineage sync" in butler.stderr


# --- coming back ----------------------------------------------------------------------------

def test_a_reingested_tombstone_is_live_again_with_its_history(store):
    store.ensure_schema()
    run_name = "Small/run"
    keys = write_run(store, run_name, 3)
    delete(store, run=run_name, reason="oops", by="ops", show_progress=False)
    batch = GraphBatch("again")
    for key in keys[:2]:
        batch.add_node(key, dataset_type="bench_calexp", run=run_name)
    outcome = ingest_unit(lambda: Parsed(Path("again.yaml"), batch), "again.yaml",
                          IngestContext(store), False, "test")
    assert outcome.status != "rejected", outcome.error
    assert outcome.restored == 2
    tombs = _tombstones(store)
    assert sorted(tombs) == [keys[2]]
    props = store.nodes("Dataset", keys[:1])[keys[0]]
    assert not {"deleted_at", "deleted_by", "deleted_reason"} & set(props)
    history = list(props["deletion_history"])
    assert len(history) == 2 and history[0].endswith("deleted by ops: oops")
    assert history[1].endswith("restored by ingest of again.yaml")


@pytest.fixture(scope="module")
def butler_repo(tmp_path_factory):
    pytest.importorskip("lsst.pipe.base.quantum_graph")
    from lineage.demo.butler import make_butler

    from .conftest import built_once
    return built_once(tmp_path_factory, "sync-butler",
                      lambda work: make_butler(work / "repo", work))


def test_sync_restores_a_tombstone_and_deletes_what_the_butler_removed(repo, tmp_path,
                                                                       butler_repo):
    import shutil

    from lsst.daf.butler import Butler

    from lineage.demo.butler import RUNS
    from lineage.sync import sync
    butler_path = tmp_path / "butler" / "repo"
    shutil.copytree(butler_repo, butler_path)
    with Butler.from_config(str(butler_path), writeable=True) as butler:
        kept, pruned = butler.query_datasets("calexp", collections=RUNS[0], limit=2,
                                             explain=False)
    with open_store(repo) as store:
        sync(store, str(butler_path), show_progress=False)
        delete(store, dataset_key(str(kept.id)), reason="test", by="ops", force=True,
               show_progress=False)
        with Butler.from_config(str(butler_path), writeable=True) as butler:
            butler.pruneDatasets([pruned], purge=True, disassociate=True, unstore=True)
        summary = sync(store, str(butler_path), show_progress=False)
        assert summary.totals()["restored"] == 1
        back = store.nodes("Dataset", [dataset_key(str(kept.id))])[dataset_key(str(kept.id))]
        assert "deleted_at" not in back
        assert list(back["deletion_history"])[-1].endswith(f"restored by sync of {RUNS[0]}")
        gone = store.nodes("Dataset", [dataset_key(str(pruned.id))])[dataset_key(str(pruned.id))]
        assert gone["deleted_by"] == "sync" and gone["butler_removed"]
        assert gone["deleted_reason"] == f"removed from the Butler {summary.source}"
        assert len(gone["deletion_history"]) == 1

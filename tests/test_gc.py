"""``lineage gc``: files no live dataset names, on small demo repositories (embedded engine)
with their datastores, through the command line as a user runs it and through the library
where a test must act between the listing and the removal.

Tombstones are made by :func:`make_tombstones`, with ``lineage delete``'s own function."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from lineage.core.model import GraphBatch
from lineage.core.time import now_utc_stamp
from lineage.retention.gc import gc
from lineage.store.cypher import Statement
from lineage.store.repo import CONFIG_NAME, init_repo, open_store

from .cli_runner import run
from .tombstones import tombstone


def make_tombstones(store, keys, files_removed=None, by="test", reason="made by a test"):
    """Make the datasets ``keys`` tombstones with ``lineage delete``'s function
    (:func:`tests.tombstones.tombstone`; ``files_removed`` left absent when None)."""
    tombstone(store, list(keys), by=by, reason=reason, at=now_utc_stamp(),
              files_removed=files_removed)


def demo(path: Path) -> Path:
    run("demo", "--small", "--repo", path, "--json", check=True)
    return path


def files_below(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def dataset_files(repo: Path, dataset_type: str) -> dict[str, str]:
    """key -> path below the datastore of the datasets of a type (the demo's URIs)."""
    with open_store(repo) as store:
        rows = store.read("MATCH (d:Dataset) WHERE d.dataset_type = $t RETURN d.key, d.uri",
                          {"t": dataset_type})
    return {key: uri[len("file://datastore/"):] for key, uri in rows}


def gc_json(*args, check=True) -> dict:
    ran = run("gc", *args, "--json", check=check)
    return json.loads(ran.stdout)


def use_datastore(repo: Path, root: Path) -> None:
    """Point a repository's config at a datastore directory (shared between repositories)."""
    config = json.loads((repo / CONFIG_NAME).read_text())
    config["datastore"] = str(root)
    (repo / CONFIG_NAME).write_text(json.dumps(config))


@pytest.fixture
def repo(tmp_path):
    return demo(tmp_path / "repo")


def test_stray_files_listed_then_removed(repo, tmp_path):
    root = repo / "datastore"
    before = files_below(root)
    (root / "copied_by_hand.fits").write_bytes(b"x" * 3000)
    (root / "DemoCam/runs/DR1/tmp").mkdir()
    (root / "DemoCam/runs/DR1/tmp/calexp.fits.part").write_bytes(b"y" * 17)
    init_repo(root / "nested-repo")   # a repository inside the datastore: its files skipped
    listed = gc_json(root, "--repo", repo)
    assert {f["path"]: f["bytes"] for f in listed["files"]} == {
        "copied_by_hand.fits": 3000, "DemoCam/runs/DR1/tmp/calexp.fits.part": 17}
    assert listed["count"] == 2 and listed["bytes"] == 3017
    assert listed["never_named"] == {"files": 2, "bytes": 3017}
    assert listed["of_tombstones"] == {"files": 0, "bytes": 0}
    assert listed["live"] == len(before) == listed["scanned"] - 2
    assert {"nested-repo/lineage.json", "nested-repo/falkordb"} <= set(listed["skipped"])
    assert not listed["delete"] and (root / "copied_by_hand.fits").exists()   # a dry run
    table = run("gc", root, "--repo", repo, check=True).stdout
    assert "copied_by_hand.fits" in table and "2 never named" in table

    removed = gc_json(root, "--repo", repo, "--delete")
    assert removed["removed"] == {"files": 2, "bytes": 3017}
    assert {f["status"] for f in removed["files"]} == {"removed"}
    after = files_below(root)
    assert {k: v for k, v in after.items() if not k.startswith("nested-repo/")} == before
    assert not (root / "DemoCam/runs/DR1/tmp").exists()     # left empty: removed too
    assert (root / "nested-repo" / CONFIG_NAME).exists()
    assert gc_json(root, "--repo", repo)["count"] == 0


def test_shared_datastore_keeps_what_the_other_repository_names(tmp_path):
    """Two repositories name the files of one shared datastore; one deletes its calexps.
    Naming both keeps the calexp files the other still names; naming only one lists them."""
    a, b = demo(tmp_path / "a"), demo(tmp_path / "b")
    shared = tmp_path / "shared"
    shutil.move(a / "datastore", shared)
    shutil.rmtree(b / "datastore")
    use_datastore(a, shared)
    use_datastore(b, shared)
    calexps = dataset_files(a, "calexp")
    present = {p for p in calexps.values() if (shared / p).exists()}
    assert present
    with open_store(a) as store:
        make_tombstones(store, list(calexps), files_removed=False)
    before = files_below(shared)

    both = gc_json(shared, "--repo", a, "--repo", b)
    assert both["count"] == 0 and both["live"] == len(before)
    only_a = gc_json(shared, "--repo", a)      # why every repository must be named
    assert {f["path"] for f in only_a["files"]} == present
    assert only_a["of_tombstones"]["files"] == len(present)
    assert all(f["named_by"] == "tombstone" for f in only_a["files"])

    done = gc_json(shared, "--repo", a, "--repo", b, "--delete")
    assert done["removed"]["files"] == 0 and files_below(shared) == before
    with open_store(a) as store:   # nothing was removed: the removal is still owed
        owed = store.read("MATCH (d:Dataset) WHERE d.files_removed = false RETURN count(d)")
    assert owed[0][0] == len(calexps)


def test_files_of_tombstones_removed_and_recorded(repo):
    root = repo / "datastore"
    calexps = dataset_files(repo, "calexp")
    gone = sorted(k for k, p in calexps.items() if (root / p).exists())[:3]
    quiet = sorted(k for k, p in calexps.items() if (root / p).exists())[3:5]
    with open_store(repo) as store:
        make_tombstones(store, gone, files_removed=False)
        make_tombstones(store, quiet)          # deleted, no file removal asked
    listed = gc_json(root, "--repo", repo)
    assert sorted(f["path"] for f in listed["files"]) == sorted(
        calexps[k] for k in gone + quiet)
    assert listed["of_tombstones"]["files"] == 5 and listed["never_named"]["files"] == 0
    assert {t.split(": ", 1)[1] for f in listed["files"] for t in f["tombstones"]} \
        == set(gone + quiet)
    done = gc_json(root, "--repo", repo, "--delete")
    assert done["removed"]["files"] == 5 and done["files_removed_marked"] == 3
    assert not any((root / calexps[k]).exists() for k in gone + quiet)
    with open_store(repo) as store:
        rows = dict(store.read("MATCH (d:Dataset) WHERE d.key IN $k "
                               "RETURN d.key, d.files_removed", {"k": gone + quiet}))
    assert rows == {**dict.fromkeys(gone, True), **dict.fromkeys(quiet, None)}


@contextmanager
def unremovable(directory: Path):
    """Files in ``directory`` cannot be removed while inside: the directory is read-only,
    and immutable too when the tests run as root (who may write a read-only one)."""
    os.chmod(directory, 0o555)
    immutable = os.geteuid() == 0
    try:
        if immutable and subprocess.run(["chattr", "+i", str(directory)],
                                        capture_output=True).returncode != 0:
            pytest.skip("cannot make a directory unremovable here (chattr +i refused)")
        try:
            (directory / "probe").touch()
        except OSError:
            pass
        else:
            pytest.skip("a read-only directory is still writable here")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(directory)], capture_output=True)
        os.chmod(directory, 0o755)


def test_a_file_that_cannot_be_removed_is_named_and_exits_2(repo):
    root = repo / "datastore"
    locked = root / "locked"
    locked.mkdir()
    (locked / "stuck.fits").write_bytes(b"z" * 10)
    (root / "loose.fits").write_bytes(b"z" * 20)
    with unremovable(locked):
        ran = run("gc", root, "--repo", repo, "--delete")
    assert ran.returncode == 2
    assert "locked/stuck.fits: not removed:" in ran.stderr
    assert "1 of 2 files could not be removed" in ran.stderr
    assert (locked / "stuck.fits").exists() and not (root / "loose.fits").exists()


def test_a_dataset_ingested_between_listing_and_removal_keeps_its_file(repo):
    root = repo / "datastore"
    (root / "late.fits").write_bytes(b"l" * 40)
    (root / "stray.fits").write_bytes(b"s" * 50)
    key = f"dataset:{uuid.uuid4()}"
    with open_store(repo) as store:
        def ingest_naming_late():
            batch = GraphBatch("a late ingest")
            batch.add_node(key, dataset_type="calexp", run="DemoCam/runs/DR2",
                           data_id="detector=1,instrument=DemoCam,visit=2026030100001",
                           uri="file://datastore/late.fits", size=40)
            store.write(batch)
        report = gc([(str(repo), store)], root, delete=True,
                    before_removal=ingest_naming_late)
    assert sorted(f.path for f in report.stray) == ["late.fits", "stray.fits"]
    assert report.kept_at_removal == ["late.fits"]
    assert [f.path for f in report.removed] == ["stray.fits"]
    assert (root / "late.fits").exists() and not (root / "stray.fits").exists()


def test_roots_gc_refuses(repo):
    ran = run("gc", repo, "--repo", repo)
    assert ran.returncode == 2 and "holds the datastore of the repository" in ran.stderr
    ran = run("gc", "s3://bucket/datastore", "--repo", repo)
    assert ran.returncode == 2 and "gc collects a local directory" in ran.stderr
    assert ran.stderr.count("\n") == 1


def test_gc_and_retain_read_both_engines(demo_store, tmp_path):
    """The same answers from the embedded engine and ArcadeDB over Bolt: files placed below
    a root as the demo names them, one stray, one tombstone."""
    from lineage.retention.retain import plan
    rows = demo_store.read("MATCH (d:Dataset {dataset_type: 'calexp'}) RETURN d.key, d.uri "
                           "ORDER BY d.key LIMIT 3")
    root = tmp_path / "datastore"
    for _, uri in rows:
        path = root / uri[len("file://datastore/"):]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"c" * 7)
    (root / "stray.fits").write_bytes(b"s" * 11)
    make_tombstones(demo_store, [rows[0][0]], files_removed=False)
    report = gc([("demo", demo_store)], root, delete=True)
    assert report.live == 2 and report.marked == 1
    assert {f.path: f.tombstones for f in report.removed} == {
        "stray.fits": (), rows[0][1][len("file://datastore/"):]: (f"demo: {rows[0][0]}",)}
    assert demo_store.read("MATCH (d:Dataset {key: $k}) RETURN d.files_removed",
                           {"k": rows[0][0]})[0][0] is True
    later = plan(demo_store, ["deepCoadd"], "1d")
    assert rows[0][0] not in {d.key for d in later.going} and later.going
    assert later.lineage_edges > 0 and later.kept_downstream["deepCoadd"] > 0

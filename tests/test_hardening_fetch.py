"""Issue 15, item 3: ``lineage fetch``, the cache and ``lineage.get`` keep every write inside
the destination and every read inside the datastore root, whatever the graph holds.

The hostile records are written straight into an embedded repository (one raw Cypher write,
no ingest and none of its checks), as a repository written by an older version or by another
writer of a Bolt server may hold them.  Then the real commands run (``lineage`` in a
subprocess) and the tests check, by snapshots of the folders around the destination, the
datastore and a "secret" folder beside it, that nothing was written outside the destination,
that no file outside the datastore was copied, that each bad dataset is named with its UUID
and the bad value, and that the good datasets of the same fetch still arrive, their checksums
verified."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

import lineage
from lineage.fetch import Cache, FetchError, ReadStats, fetch, resolve
from lineage.fetch.confine import UnsafePath, check_relative, remote_inside, safe_join
from lineage.fetch.datastore import (Artifact, FileDatastore, RefusedPath, datastore_for,
                                     make_datastore)
from lineage.fetch.httpd import serve_directory
from lineage.core.model import Kind
from lineage.store.repo import init_repo, open_store
from lineage.store.cypher import Statement, node_statement
from lineage.store.falkordb_server import FalkorServer

from .test_cli import lineage as run

SECRET = b"SECRET: never copied\n"


def _key(name: str) -> str:
    return f"dataset:{uuid.uuid5(uuid.NAMESPACE_URL, 'hardening-fetch/' + name)}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_raw(store, records: dict[str, dict]) -> None:
    """Dataset nodes written with one raw Cypher statement: no ingest, no validation."""
    rows = [{"key": key, "props": props} for key, props in records.items()]
    store._execute_unit(store._encode([Statement(node_statement(Kind.DATASET),
                                                 {"rows": rows}, len(rows))]))


def snapshot(*roots: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple]:
    """Every file, folder and link below ``roots``: type, size, content digest, link target."""
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if here / d not in skip]
            for name in dirnames + filenames:
                p = here / name
                if p.is_symlink():
                    out[str(p)] = ("link", os.readlink(p))
                elif p.is_dir():
                    out[str(p)] = ("dir",)
                else:
                    out[str(p)] = ("file", p.stat().st_size, _sha(p.read_bytes()))
    return out


def changed_outside(before: dict, after: dict, allowed: Path) -> list[str]:
    """Paths created, changed or removed that are not ``allowed`` or below it (new folders
    above it, which making ``allowed`` creates, excepted)."""
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    return sorted(p for p in changed if not Path(p).is_relative_to(allowed) and not (
        p not in before and after[p] == ("dir",) and allowed.is_relative_to(p)))


# --- the repository ------------------------------------------------------------------------

def _fits_bytes() -> bytes:
    from io import BytesIO
    buf = BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.arange(400, dtype=np.float32)
                                                   .reshape(20, 20), name="IMAGE")]).writeto(buf)
    return buf.getvalue()


def _parquet_bytes() -> bytes:
    from io import BytesIO
    buf = BytesIO()
    pd.DataFrame({"id": [1, 2, 3], "flux": [1.5, 2.5, 3.5]}).to_parquet(buf, index=False)
    return buf.getvalue()


class Hostile:
    """An embedded repository holding good and hostile datasets, and the folders around it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.repo = base / "repo"
        self.datastore = self.repo / "datastore"
        self.secret_dir = base / "secret"
        self.secret = self.secret_dir / "secret.txt"
        self.good: dict[str, tuple[str, bytes]] = {}   # key -> (relpath, content)
        self.bad: dict[str, str] = {}                  # key -> the value that must be named
        self.records: dict[str, dict] = {}

    def add_good(self, name: str, relpath: str, content: bytes, **props) -> str:
        key = _key(name)
        target = self.datastore / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        self.good[key] = (relpath, content)
        self.records[key] = {"dataset_type": relpath.split("/")[1], "run": "good",
                             "data_id": f"name={name}", "size": len(content),
                             "checksum": _sha(content), **props}
        return key

    def add_bad(self, name: str, shown: str, **props) -> str:
        key = _key(name)
        self.bad[key] = shown
        self.records[key] = {"dataset_type": "calexp", "run": "good",
                             "data_id": f"name={name}", **props}
        return key


def build(base: Path) -> Hostile:
    h = Hostile(base)
    init_repo(h.repo)
    h.secret_dir.mkdir()
    h.secret.write_bytes(SECRET)
    h.add_good("a", "good/calexp/a.fits", _fits_bytes(), uri="file://datastore/good/calexp/a.fits")
    h.add_good("b", "good/src/b.parq", _parquet_bytes(), path="good/src/b.parq")
    h.add_good("c", "good/raw/c.fits", b"raw bytes " * 50)
    h.records[_key("c")]["uri"] = str(h.datastore / "good/raw/c.fits")   # absolute, inside
    # a symbolic link inside the datastore to a file outside it, and one to a folder outside
    (h.datastore / "good/calexp/link.fits").symlink_to(h.secret)
    (h.datastore / "good/linkdir").symlink_to(h.secret_dir, target_is_directory=True)
    # the issue's own: a run named ../../escape, files placed by the template
    h.add_bad("run-escape", "'../../escape'", run="../../escape", data_id="visit=1")
    h.add_bad("path-up", "'../../../x'", path="../../../x")
    h.add_bad("abs-path", repr(str(h.secret)), path=str(h.secret))
    h.add_bad("passwd", "'file:///etc/passwd'", uri="file:///etc/passwd")
    h.add_bad("demo-up", "'file://datastore/../../secret/secret.txt'",
              uri="file://datastore/../../secret/secret.txt")
    h.add_bad("link", "'file://datastore/good/calexp/link.fits'",
              uri="file://datastore/good/calexp/link.fits")
    h.add_bad("linkdir", "'file://datastore/good/linkdir/secret.txt'",
              uri="file://datastore/good/linkdir/secret.txt")
    h.add_bad("run-abs", "'/escape-run'", run="/escape-run", data_id="visit=2")
    h.add_bad("run-ctrl", r"'good\x1b[2J'", run="good\x1b[2J", data_id="visit=3")
    h.add_bad("backslash", r"'..\\..\\x.fits'", path="..\\..\\x.fits")
    h.add_bad("remote", "'https://evil.example.org/x.fits'", uri="https://evil.example.org/x.fits")
    h.add_bad("host", "'file://evil/etc/passwd'", uri="file://evil/etc/passwd")
    with open_store(h.repo) as store:
        write_raw(store, h.records)
    return h


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    h = build(tmp_path_factory.mktemp("hostile"))
    run("engine", "start", "--repo", str(h.repo))
    try:
        yield h
    finally:
        FalkorServer(h.repo).stop()


@pytest.fixture
def keys_file(hostile, tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text("".join(k + "\n" for k in hostile.records))
    return path


def _around(h: Hostile, tmp_path: Path) -> tuple[Path, ...]:
    """What to snapshot: the test's folder, the datastore and the secret, the repository's
    folder (the engine's own files left out)."""
    return (tmp_path, h.base)


def _skip(h: Hostile) -> tuple[Path, ...]:
    return tuple(p for p in h.repo.iterdir() if p.name != "datastore")


def assert_bad_named(h: Hostile, text: str) -> None:
    for key, value in h.bad.items():
        lines = [line for line in text.splitlines() if key.split(":", 1)[1] in line]
        assert lines, f"{key} ({value}) is not named in:\n{text}"
        assert any(value in line for line in lines), f"{value} not named in {lines}"


def assert_good_arrived(h: Hostile, out: Path) -> None:
    for key, (relpath, content) in h.good.items():
        assert (out / relpath).read_bytes() == content


def assert_no_secret(out: Path) -> None:
    passwd = Path("/etc/passwd").read_bytes() if Path("/etc/passwd").exists() else None
    for p in out.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert data != SECRET and SECRET not in data, p
            assert passwd is None or data != passwd, p


# --- fetch -----------------------------------------------------------------------------------

def test_fetch_refuses_each_hostile_dataset_and_fetches_the_good_ones(hostile, keys_file,
                                                                      tmp_path):
    h = hostile
    out = tmp_path / "zone" / "p" / "q" / "out"
    before = snapshot(*_around(h, tmp_path), skip=_skip(h))
    proc = run("fetch", str(keys_file), "--to", str(out), "--repo", str(h.repo), check=False)
    after = snapshot(*_around(h, tmp_path), skip=_skip(h))
    assert proc.returncode == 2, proc.stderr
    assert changed_outside(before, after, out) == []
    # the grandparent of --to holds nothing new (the escape)
    assert sorted(x.name for x in (tmp_path / "zone").iterdir()) == ["p"]
    assert_good_arrived(h, out)
    assert_no_secret(out)
    assert_bad_named(h, proc.stderr)
    assert f"{len(h.bad)} of {len(h.records)} datasets not fetched; first:" in proc.stderr
    assert "refused" in proc.stdout   # the summary's status row
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["refused"] == manifest["failed"] == len(h.bad)
    by_key = {a["key"]: a for a in manifest["artifacts"]}
    for key in h.bad:
        assert by_key[key]["status"] == "refused" and key[8:] in by_key[key]["error"]
    for key, (_, content) in h.good.items():
        assert by_key[key]["status"] == "copied"
        assert by_key[key]["sha256"] == "sha256:" + h.records[key]["checksum"] == \
            "sha256:" + _sha(content)


def test_fetch_json_and_dry_run_name_the_refused(hostile, keys_file, tmp_path):
    h = hostile
    out = tmp_path / "out"
    before = snapshot(*_around(h, tmp_path), skip=_skip(h))
    dry = run("fetch", str(keys_file), "--to", str(out), "--dry-run", "--repo", str(h.repo),
              check=False)
    assert dry.returncode == 2 and not out.exists()
    assert_bad_named(h, dry.stderr)
    assert f"{len(h.bad)} refused" in dry.stdout.replace("\n", " ")
    plan = json.loads(run("fetch", str(keys_file), "--to", str(out), "--dry-run", "--json",
                          "--repo", str(h.repo), check=False).stdout)
    assert plan["count"] == len(h.good) and {r["key"] for r in plan["refused"]} == set(h.bad)
    proc = run("fetch", str(keys_file), "--to", str(out), "--json", "--repo", str(h.repo),
               check=False)
    assert proc.returncode == 2
    results = {r["key"]: r for r in json.loads(proc.stdout)}
    assert {k for k, r in results.items() if r["status"] == "refused"} == set(h.bad)
    assert {k for k, r in results.items() if r["status"] == "copied"} == set(h.good)
    assert changed_outside(before, snapshot(*_around(h, tmp_path), skip=_skip(h)), out) == []
    assert_good_arrived(h, out)


@pytest.mark.parametrize("mode", ["--link", "--symlink"])
def test_links_only_to_files_inside_the_datastore(hostile, keys_file, tmp_path, mode):
    h = hostile
    out = tmp_path / "out"
    before = snapshot(*_around(h, tmp_path), skip=_skip(h))
    proc = run("fetch", str(keys_file), "--to", str(out), mode, "--repo", str(h.repo),
               check=False)
    assert proc.returncode == 2
    assert changed_outside(before, snapshot(*_around(h, tmp_path), skip=_skip(h)), out) == []
    assert_bad_named(h, proc.stderr)
    assert_good_arrived(h, out)
    for p in out.rglob("*"):
        if p.is_symlink():
            assert Path(os.path.realpath(p)).is_relative_to(h.datastore.resolve())
    assert_no_secret(out)


def test_links_planted_in_the_destination_are_not_written_through(hostile, keys_file, tmp_path):
    h = hostile
    out = tmp_path / "out"
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"keep me\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "good" / "calexp").mkdir(parents=True)
    (out / "good" / "calexp" / "a.fits.part").symlink_to(victim)   # appended to? never
    (out / "manifest.json.tmp").symlink_to(victim)
    (out / "good" / "src").symlink_to(elsewhere, target_is_directory=True)
    before = snapshot(tmp_path, h.base, skip=_skip(h))
    proc = run("fetch", str(keys_file), "--to", str(out), "--repo", str(h.repo), check=False)
    after = snapshot(tmp_path, h.base, skip=_skip(h))
    assert proc.returncode == 2
    assert victim.read_bytes() == b"keep me\n" and list(elsewhere.iterdir()) == []
    assert changed_outside(before, after, out) == []
    assert (out / "good/calexp/a.fits").read_bytes() == h.good[_key("a")][1]
    # the dataset whose folder is a link out of --to is refused, named with the link
    b = _key("b")[8:]
    line = next(x for x in proc.stderr.splitlines() if b in x)
    assert "'good/src/b.parq' leads outside" in line and "through a symbolic link" in line


def test_a_remote_root_is_never_left_for_another_host_or_scheme(hostile, tmp_path):
    h = hostile
    keys = [_key("a"), _key("b")]
    with serve_directory(h.datastore) as server:
        bad = {
            "other-host": f"http://localhost:{server.server_address[1]}/good/calexp/a.fits",
            "other-port": "http://127.0.0.1:1/good/calexp/a.fits",
            "other-scheme": "file:///etc/passwd",
            "s3": "s3://bucket/good/calexp/a.fits",
            "encoded-up": f"{server.url}/good/%2e%2e/%2E%2E/secret/secret.txt",
            "up": f"{server.url}/good/../../secret/secret.txt",
        }
        records = {_key("remote-" + n): {"dataset_type": "calexp", "run": "good",
                                         "data_id": f"n={n}", "uri": uri}
                   for n, uri in bad.items()}
        records[_key("remote-rel-encoded")] = {"dataset_type": "calexp", "run": "good",
                                               "data_id": "n=rel", "path": "%2e%2e/secret.txt"}
        with open_store(h.repo) as store:
            write_raw(store, records)
        keys_file = tmp_path / "keys.txt"
        keys_file.write_text("\n".join(keys + list(records)) + "\n")
        out = tmp_path / "out"
        proc = run("fetch", str(keys_file), "--to", str(out), "--datastore", server.url,
                   "--json", "--repo", str(h.repo), check=False)
        asked = [path for _, path, _ in server.requests]
    assert proc.returncode == 2
    results = {r["key"]: r for r in json.loads(proc.stdout)}
    for key in records:
        assert results[key]["status"] == "refused", results[key]
        assert "is not below the datastore root" in results[key]["error"] or \
            "'..' segment" in results[key]["error"]
    for key in keys:   # the good ones, over HTTP, verified
        relpath, content = h.good[key]
        assert results[key]["status"] == "copied" and results[key]["sha256"] == \
            "sha256:" + _sha(content) and (out / relpath).read_bytes() == content
    assert not any("secret" in p for p in asked)    # no request left the root


def test_the_cache_keeps_to_its_folder(hostile, keys_file, tmp_path):
    h = hostile
    cache_dir = tmp_path / "shared" / "cache"
    before = snapshot(*_around(h, tmp_path), skip=_skip(h))
    proc = run("cache", "prefetch", str(keys_file), "--cache", str(cache_dir), "--json",
               "--repo", str(h.repo), check=False)
    assert proc.returncode == 2
    assert changed_outside(before, snapshot(*_around(h, tmp_path), skip=_skip(h)),
                           cache_dir) == []
    results = {r["key"]: r for r in json.loads(proc.stdout)}
    assert {k for k, r in results.items() if "error" in r} == set(h.bad)
    for key, (_, content) in h.good.items():
        path = Path(results[key]["path"])
        assert path.is_relative_to(cache_dir) and path.read_bytes() == content
    text = run("cache", "prefetch", str(keys_file), "--cache", str(cache_dir),
               "--repo", str(h.repo), check=False)
    assert_bad_named(h, text.stderr)
    assert_no_secret(cache_dir)


def test_links_planted_in_a_shared_cache_are_refused(hostile, tmp_path):
    h = hostile
    cache = Cache(tmp_path / "cache")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.fits").write_bytes(b"precious")
    with open_store(h.repo) as store:
        a, = resolve(store, [_key("a")], datastore_for(h.repo))
    # a colleague's folder of the cache is a link to somewhere else
    sub = cache.root / "files" / cache.file_digest(a)[:2]
    sub.symlink_to(elsewhere, target_is_directory=True)
    before = snapshot(tmp_path, skip=())
    with pytest.raises(RefusedPath, match="leads outside .* through a symbolic link"):
        cache.fill(a)
    # eviction does not follow it either: the file outside stays
    cache.clear()
    assert (elsewhere / "precious.fits").read_bytes() == b"precious"
    assert changed_outside(before, snapshot(tmp_path), cache.root) == []
    # a lock file that is a link out of the cache is never opened (opening truncates it)
    victim = tmp_path / "victim.lock"
    victim.write_bytes(b"keep")
    sub.unlink()
    (cache.root / "locks" / f"{cache.file_digest(a)}.lock").symlink_to(victim)
    with pytest.raises(RefusedPath):
        cache.fill(a)
    assert victim.read_bytes() == b"keep"


# --- lineage.get and cutouts -------------------------------------------------------------------

def test_get_reads_only_below_the_datastore(hostile, tmp_path):
    h = hostile
    for key in h.bad:
        stats = ReadStats()
        with pytest.raises(RefusedPath) as err:
            lineage.get(key, repo=h.repo, stats=stats)
        assert key[8:] in str(err.value) and h.bad[key] in str(err.value)
        assert stats.source_bytes == 0 and stats.reads == 0
    table = lineage.get(_key("b"), repo=h.repo)
    assert list(table["flux"]) == [1.5, 2.5, 3.5]
    cache = Cache(tmp_path / "cache")
    cut = lineage.get(_key("a"), repo=h.repo, box=(slice(2, 5), slice(3, 7)), cache=cache)
    assert cut.data.tolist() == (np.arange(400).reshape(20, 20)[2:5, 3:7]).tolist()
    # a cutout cache whose folder is a link out of the cache: refused, nothing written there
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shared = Cache(tmp_path / "shared")
    (shared.root / "cutouts").rmdir()
    (shared.root / "cutouts").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(RefusedPath, match="leads outside"):
        lineage.get(_key("a"), repo=h.repo, box=(slice(2, 5), slice(3, 7)), cache=shared)
    assert list(elsewhere.iterdir()) == []


def test_a_symbolic_link_swapped_in_after_resolution_is_refused_at_the_read(tmp_path):
    root = tmp_path / "datastore"
    (root / "r").mkdir(parents=True)
    (root / "r" / "x.fits").write_bytes(b"data")
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    key = _key("swap")
    artifact = FileDatastore(root).artifact(key, {"path": "r/x.fits", "run": "r",
                                                  "dataset_type": "raw"})
    (root / "r" / "x.fits").unlink()
    (root / "r" / "x.fits").symlink_to(secret)
    out = tmp_path / "out"
    with pytest.raises(FetchError) as err:
        fetch([artifact], out)
    assert "refused" in str(err.value) and "through a symbolic link" in str(err.value)
    assert_no_secret(out)
    with pytest.raises(RefusedPath):
        lineage.get(artifact)


# --- values an embedded engine cannot even store (a Bolt server can) -------------------------

@pytest.mark.parametrize("props, shown", [
    ({"run": "a\x00b", "dataset_type": "calexp", "data_id": "visit=1"}, r"'a\x00b'"),
    ({"path": "good/\x00/x.fits"}, r"'good/\x00/x.fits'"),
    ({"run": "//server/share", "dataset_type": "calexp"}, "'//server/share'"),
    ({"run": "C:", "dataset_type": "calexp"}, "'C:'"),
    ({"dataset_type": "../t", "run": "r"}, "'../t'"),
])
def test_values_from_any_writer_are_refused_by_name(tmp_path, props, shown):
    ds = FileDatastore(tmp_path)
    key = _key("bolt-" + shown)
    with pytest.raises(RefusedPath) as err:
        ds.artifact(key, {"dataset_type": "calexp", "data_id": "visit=1", **props})
    assert key[8:] in str(err.value) and shown in str(err.value)


def test_hand_made_artifacts_are_placed_inside_the_destination(tmp_path):
    src = tmp_path / "src.fits"
    src.write_bytes(b"x" * 10)
    out = tmp_path / "zone" / "out"
    good = Artifact(key=_key("hand-good"), uri=str(src), format="fits", size=10,
                    checksum="sha256:" + _sha(b"x" * 10), relpath="r/t/src.fits")
    places = ["../../x.fits", "/abs/x.fits", "r/\x00.fits", "r/t/x.fits.part", "manifest.json"]
    bad = [Artifact(key=_key(f"hand-{i}"), uri=str(src), format="fits", size=10, checksum=None,
                    relpath=rel) for i, rel in enumerate(places)]
    before = snapshot(tmp_path)
    with pytest.raises(FetchError) as err:
        fetch([good, *bad], out)
    results = err.value.results
    assert [r["status"] for r in results] == ["copied"] + ["refused"] * 5
    assert changed_outside(before, snapshot(tmp_path), out) == []
    assert (out / "r/t/src.fits").read_bytes() == b"x" * 10


def test_two_files_for_one_place_are_not_written_at_once(tmp_path):
    one, two = tmp_path / "one.fits", tmp_path / "two.fits"
    one.write_bytes(b"1" * 100)
    two.write_bytes(b"2" * 100)

    def art(name, src, rel):
        return Artifact(key=_key(name), uri=str(src), format="fits", size=100,
                        checksum="sha256:" + _sha(src.read_bytes()), relpath=rel,
                        dataset_type="raw", data_id=f"n={name}", run="r")
    first, same, other = art("first", one, "r/x.fits"), art("same", one, "r/./x.fits"), \
        art("other", two, "r/x.fits")
    with pytest.raises(FetchError) as err:
        fetch([first, same, other], tmp_path / "out")
    assert [r["status"] for r in err.value.results] == ["copied", "present", "refused"]
    assert "is that of raw n=first" in err.value.results[2]["error"]
    assert (tmp_path / "out/r/x.fits").read_bytes() == b"1" * 100


def test_a_cache_folder_linked_elsewhere_is_not_counted_or_evicted(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "ab"
    elsewhere.mkdir(parents=True)
    (elsewhere / "x.fits").write_bytes(b"precious")
    cache = Cache(tmp_path / "cache")
    (cache.root / "headers").rmdir()
    (cache.root / "headers").symlink_to(elsewhere.parent, target_is_directory=True)
    assert cache.usage().files == 0
    cache.clear()
    assert (elsewhere / "x.fits").read_bytes() == b"precious"
    status = run("cache", "status", "--cache", str(cache.root), "--json")
    assert json.loads(status.stdout)["files"] == 0


def test_confinement_helper():
    assert check_relative("a/./b//c.fits") == ["a", "b", "c.fits"]
    for value in ["", ".", "..", "a/../b", "/a", "//host/share", "C:/x", "c:x", "a\\b",
                  "a\x00b", "a\nb", "a/\x7f"]:
        with pytest.raises(UnsafePath):
            check_relative(value)
    with pytest.raises(UnsafePath, match="another scheme or host"):
        remote_inside("s3://bucket/repo", "https://bucket/repo/x")
    with pytest.raises(UnsafePath, match="not below"):
        remote_inside("s3://bucket/repo", "s3://bucket/repository/x")
    assert remote_inside("https://h:8/repo/", "HTTPS://H:8/repo/a/b.fits") == "a/b.fits"
    with pytest.raises(UnsafePath):
        safe_join("/tmp", "a", "..", "b")


# --- a Butler datastore: its URIs are trusted, the place below --to is not -------------------

def test_butler_datastore_hostile_run_is_refused_and_the_rest_fetched(provenance_qg, repo,
                                                                     tmp_path):
    from lineage.ingest.driver import ingest
    butler_repo = provenance_qg.parent / "repo"
    with open_store(repo) as store:
        assert not ingest(store, "run", [provenance_qg], show_progress=False).rejected
        keys = [k for (k,) in store.read("MATCH (:Quantum)-[:PRODUCED]->(d:Dataset) "
                                         "RETURN DISTINCT d.key ORDER BY d.key")]
        hostile = keys[0]
        store._execute_unit(store._encode([Statement(
            "MATCH (d:Dataset {key: $k}) SET d.run = '../../escape'", {"k": hostile}, 1)]))
        artifacts = resolve(store, keys, make_datastore(f"butler:{butler_repo}"),
                            keep_refused=True)
    assert artifacts[0].error and "'../../escape'" in artifacts[0].error
    out = tmp_path / "zone" / "out"
    before = snapshot(tmp_path)
    with pytest.raises(FetchError) as err:
        fetch(artifacts, out)
    assert hostile[8:] in str(err.value)
    assert changed_outside(before, snapshot(tmp_path), out) == []
    statuses = [r["status"] for r in err.value.results]
    assert statuses == ["refused"] + ["copied"] * (len(keys) - 1)


def test_a_lightcurve_reads_no_catalog_outside_the_datastore(tmp_path):
    from lineage.lightcurve import DIA, LightcurveError, _read_rows
    key = _key("lightcurve")
    for uri in ("file:///etc/passwd", "file://datastore/../../etc/passwd", "/etc/passwd",
                "https://evil.example.org/c.parq"):
        with pytest.raises(LightcurveError, match=f"{key}: refused: its uri '{uri}'"):
            _read_rows(FileDatastore(tmp_path), key, uri, DIA, 1)

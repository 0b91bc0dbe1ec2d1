"""Reading, fetching and caching datastore files: real FITS and Parquet files written here
with astropy and pyarrow, served from a directory and from an HTTP server on loopback.

The truth is the whole file read with astropy or pyarrow directly; the code under test
must give the same values while reading fewer bytes (counted by the reader and by the
server)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.table import Table
from astropy.wcs import WCS

import lineage
from lineage.fetch import Artifact, Cache, DatastoreError, FetchError, ReadStats, fetch
from lineage.fetch.datastore import FileDatastore, dataset_keys, format_of, read_answer_file
from lineage.fetch.httpd import serve_directory
from lineage.fetch.open import REMOTE_BLOCK

NY, NX = 1200, 1000


def _wcs() -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.1, 2.2]
    w.wcs.crpix = [480.3, 610.7]
    w.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    return w


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("datastore")
    rng = np.random.default_rng(7)
    image = rng.normal(100, 5, (NY, NX)).astype(np.float32)
    header = _wcs().to_header()
    header["BUNIT"] = "adu"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(image, header=header, name="IMAGE"),
                  fits.ImageHDU(image * 0 + 25, header=header, name="VARIANCE")]
                 ).writeto(root / "calexp.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(image, header=header, name="IMAGE")]
                 ).writeto(root / "compressed.fits")
    n = 20000
    table = Table({"id": np.arange(n, dtype=np.int64), "flux": rng.normal(1e4, 50, n),
                   "band": np.array(["ugrizy"[i % 6] for i in range(n)]),
                   "ra": rng.uniform(149, 151, n)})
    table.write(root / "sources.fits")
    frame = pd.DataFrame({"id": np.arange(5 * n, dtype=np.int64),
                          "flux": rng.normal(1e4, 50, 5 * n),
                          "flux_err": rng.uniform(1, 5, 5 * n),
                          "note": [f"source {i}" for i in range(5 * n)]})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), root / "catalog.parq",
                   row_group_size=10000)
    (root / "config.json").write_text(json.dumps({"task": "isr", "values": {"doBias": True}}))
    (root / "config.yaml").write_text("task: isr\nvalues:\n  doBias: true\n")
    return root


@pytest.fixture(scope="module")
def server(files):
    with serve_directory(files) as srv:
        yield srv


@pytest.fixture(params=["local", "http"])
def where(request, files, server):
    """A function: file name -> its URI in a local directory or on the HTTP server."""
    if request.param == "local":
        return lambda name: str(files / name)
    return lambda name: f"{server.url}/{name}"


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def artifact(files: Path, name: str, uri: str | None = None, checksum: str | None = "auto",
             key: str | None = None) -> Artifact:
    path = files / name
    return Artifact(key=key or f"dataset:{hashlib.md5(name.encode()).hexdigest()[:8]}-0000-"
                               "0000-0000-000000000000",
                    uri=uri or str(path), format=format_of(name), size=path.stat().st_size,
                    checksum=_sha(path) if checksum == "auto" else checksum,
                    relpath=f"run/type/{name}", dataset_type="type", data_id="x=1", run="run")


# --- reading --------------------------------------------------------------------------------

def test_cutout_equals_the_same_slice_of_the_full_image(files, where):
    full = fits.getdata(files / "calexp.fits", "IMAGE")
    stats = ReadStats()
    box = (slice(300, 340), slice(512, 600))
    cut = lineage.get(where("calexp.fits"), box=box, stats=stats)
    assert cut.shape == (40, 88)
    np.testing.assert_array_equal(cut.data, full[box])
    # only the header blocks and the 40 image rows: far less than the 9.6 MB file
    assert 0 < stats.source_bytes < 2 * 2880 * 4 + 40 * NX * 4
    # its WCS is the image's, moved to the box
    np.testing.assert_allclose(cut.wcs.pixel_to_world_values(5, 7),
                               _wcs().pixel_to_world_values(512 + 5, 300 + 7))
    # another HDU by name; a box partly outside the image is clipped
    var = lineage.get(where("calexp.fits"), box=(slice(NY - 5, NY + 50), slice(0, 3)),
                      hdu="VARIANCE")
    assert var.shape == (5, 3) and (var.data == 25).all()


def test_cutout_of_a_compressed_image(files, where):
    full = fits.getdata(files / "compressed.fits", "IMAGE")
    box = (slice(700, 731), slice(20, 45))
    np.testing.assert_array_equal(lineage.get(where("compressed.fits"), box=box).data, full[box])


def test_sky_cutout_matches_astropy_cutout2d(files, where):
    full = fits.getdata(files / "calexp.fits", "IMAGE")
    wcs = _wcs()
    for ra, dec, size in ((150.1, 2.2, 31), (150.095, 2.21, 20), (150.1003, 2.1999, (11, 24))):
        coord = SkyCoord(ra, dec, unit="deg")
        cut = lineage.get(where("calexp.fits"), sky=coord, size=size)
        ref = Cutout2D(full, coord, size, wcs=wcs, mode="trim")
        np.testing.assert_array_equal(cut.data, ref.data)
    # an angular size: 4 arcsec at 0.2 arcsec per pixel is 20 pixels
    import astropy.units as u
    assert lineage.get(where("calexp.fits"), sky=(150.1, 2.2), size=4 * u.arcsec).shape == \
        (20, 20)
    with pytest.raises(DatastoreError, match="outside the 1000 x 1200 image"):
        lineage.get(where("calexp.fits"), sky=(10.0, -40.0), size=10)


def test_whole_fits_file_is_an_hdulist(files, where):
    hdul = lineage.get(where("calexp.fits"))
    assert [h.name for h in hdul] == ["PRIMARY", "IMAGE", "VARIANCE"]
    np.testing.assert_array_equal(hdul["IMAGE"].data, fits.getdata(files / "calexp.fits", 1))


def test_catalog_columns_and_rows_equal_the_full_table(files, where):
    full = pd.read_parquet(files / "catalog.parq")
    size = (files / "catalog.parq").stat().st_size
    stats = ReadStats()
    flux = lineage.get(where("catalog.parq"), columns=["flux"], stats=stats)
    assert list(flux.columns) == ["flux"]
    np.testing.assert_array_equal(flux["flux"].to_numpy(), full["flux"].to_numpy())
    assert stats.source_bytes < size / 2   # the string column is never read
    stats = ReadStats()
    rows = lineage.get(where("catalog.parq"), rows=slice(23_456, 23_500), stats=stats)
    pd.testing.assert_frame_equal(rows.reset_index(drop=True),
                                  full.iloc[23_456:23_500].reset_index(drop=True))
    assert stats.source_bytes < size / 5   # one row group of ten
    picked = lineage.get(where("catalog.parq"), columns=["id", "flux"],
                         where=[("id", ">=", 71_000), ("id", "<", 71_010)])
    pd.testing.assert_frame_equal(picked.reset_index(drop=True),
                                  full[(full.id >= 71_000) & (full.id < 71_010)][["id", "flux"]]
                                  .reset_index(drop=True))


def test_fits_table_rows_read_only_their_bytes(files, where):
    full = Table.read(files / "sources.fits")
    stats = ReadStats()
    part = lineage.get(where("sources.fits"), columns=["id", "band"], rows=slice(1000, 1100),
                       stats=stats)
    assert part.colnames == ["id", "band"]
    assert list(part["id"]) == list(full["id"][1000:1100])
    assert list(part["band"]) == list(full["band"][1000:1100])
    # headers and 100 rows of 25 bytes (remote reads go through a buffer: two fills at most)
    assert stats.source_bytes < 4 * 2880 + 100 * 25 + 2 * REMOTE_BLOCK
    assert stats.source_bytes < (files / "sources.fits").stat().st_size / 10
    whole = lineage.get(where("sources.fits"), columns=["flux"])
    np.testing.assert_array_equal(whole["flux"], full["flux"])


def test_json_and_yaml_are_dicts(where):
    assert lineage.get(where("config.json")) == {"task": "isr", "values": {"doBias": True}}
    assert lineage.get(where("config.yaml")) == {"task": "isr", "values": {"doBias": True}}


def test_a_missing_file_is_named(files, where):
    a = artifact(files, "calexp.fits", uri=where("nothere.fits"))
    with pytest.raises(DatastoreError, match=r"type x=1 in run .*nothere.fits"):
        lineage.get(a, box=(slice(0, 2), slice(0, 2)))


# --- the cache ------------------------------------------------------------------------------

def test_cached_cutouts_read_nothing_twice(files, server, tmp_path):
    cache = Cache(tmp_path / "cache")
    a = artifact(files, "calexp.fits", uri=f"{server.url}/calexp.fits")
    full = fits.getdata(files / "calexp.fits", "IMAGE")
    first, again = ReadStats(), ReadStats()
    server.reset_counts()
    cut = lineage.get(a, sky=(150.1, 2.2), size=25, cache=cache, stats=first)
    sent = server.bytes_sent
    assert first.source_bytes == sent and 0 < sent < 20 * 2880 + 25 * NX * 4
    server.reset_counts()
    for _ in range(5):
        same = lineage.get(a, sky=(150.1, 2.2), size=25, cache=cache, stats=again)
        np.testing.assert_array_equal(same.data, cut.data)
    assert again.source_bytes == 0 and server.bytes_sent == 0 and not server.requests
    assert again.cache_hits == 10   # header and cutout, five times
    # a new region of an image cached whole is cut from the cached copy
    cache.fill(a)
    server.reset_counts()
    other = lineage.get(a, box=(slice(900, 950), slice(10, 90)), cache=cache)
    np.testing.assert_array_equal(other.data, full[900:950, 10:90])
    assert server.bytes_sent == 0


def test_cache_limit_evicts_least_recently_used(files, tmp_path):
    names = ["catalog.parq", "sources.fits", "calexp.fits"]
    arts = [artifact(files, n) for n in names]
    sizes = [a.size for a in arts]
    cache = Cache(tmp_path / "cache", max_bytes=sizes[0] + sizes[2] + 10)
    p0, copied = cache.fill(arts[0])
    assert copied and _sha(p0) == arts[0].checksum
    assert cache.fill(arts[0]) == (p0, False)
    cache.fill(arts[1])
    os.utime(p0)                 # used again: the newest
    cache.fill(arts[2])          # over the limit: the least recently used go
    assert cache.usage().bytes <= cache.max_bytes
    assert cache.lookup(arts[1]) is None
    assert cache.lookup(arts[0]) == p0 and cache.lookup(arts[2]) is not None
    # the limit is the cache's, shared by every user of the directory
    assert Cache(tmp_path / "cache").max_bytes == cache.max_bytes
    assert cache.clear() > 0 and cache.usage().files == 0


def test_a_wrong_checksum_never_enters_the_cache(files, tmp_path):
    bad = artifact(files, "sources.fits", checksum="sha256:" + "0" * 64)
    cache = Cache(tmp_path / "cache")
    with pytest.raises(DatastoreError, match=r"checksum mismatch for .*sources.fits"):
        cache.fill(bad)
    assert cache.usage().files == 0 and not list((tmp_path / "cache").rglob("*.part"))


def _fill_worker(root, items, start, out):
    """One process filling the cache with every artifact (a multiprocessing target)."""
    cache = Cache(root)
    start.wait()
    copied = 0
    for a in items:
        copied += cache.fill(a)[1]
        with cache.open(a) as f:   # the other process may have evicted it meanwhile
            assert hashlib.sha256(f.read()).hexdigest() == a.checksum.split(":")[1]
    out.put(copied)


@pytest.mark.parametrize("limited", [False, True])
def test_two_processes_filling_the_cache_at_once(files, tmp_path, limited):
    sources = tmp_path / "sources"
    sources.mkdir()
    rng = np.random.default_rng(3)
    items = []
    for i in range(16):
        name = f"f{i:02d}.fits"
        fits.PrimaryHDU(rng.normal(size=(256, 256 + i)).astype(np.float32)).writeto(
            sources / name)
        items.append(artifact(sources, name))
    root = tmp_path / "cache"
    limit = sum(a.size for a in items) // 3 if limited else None
    Cache(root, max_bytes=limit)
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_fill_worker, args=(root, items, start, out)) for _ in range(2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    copied = [out.get(timeout=5) for _ in procs]
    cache = Cache(root)
    if not limited:
        assert sum(copied) == len(items)     # each file copied once, by one of the two
        assert cache.usage().files == len(items)
    else:
        assert cache.usage().bytes <= limit
    # nothing half-written, every entry whole
    assert not list(root.rglob("*.part"))
    for a in items:
        path = cache.lookup(a)
        if path is not None:
            assert _sha(path) == a.checksum


# --- fetch ----------------------------------------------------------------------------------

def test_fetch_copies_verifies_and_writes_a_manifest(files, where, tmp_path):
    names = ["calexp.fits", "catalog.parq", "sources.fits", "config.json"]
    arts = [artifact(files, n, uri=where(n)) for n in names]
    results = fetch(arts, tmp_path / "out", workers=3)
    assert [r["status"] for r in results] == ["copied"] * 4
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["count"] == 4 and manifest["failed"] == 0
    for a, r in zip(arts, manifest["artifacts"]):
        assert r["sha256"] == a.checksum and r["key"] == a.key
        assert _sha(tmp_path / "out" / r["path"]) == a.checksum
    # again: nothing copied
    assert {r["status"] for r in fetch(arts, tmp_path / "out")} == {"present"}


def test_interrupted_fetch_resumes(files, server, tmp_path):
    a = artifact(files, "calexp.fits", uri=f"{server.url}/calexp.fits")
    out = tmp_path / "out"
    server.reset_counts()
    server.fail_after = 3_000_000       # the connection drops after 3 MB
    with pytest.raises(FetchError, match="1 of 1 datasets not fetched") as info:
        fetch([a], out)
    assert info.value.results[0]["status"] == "failed"
    part = out / "run/type/calexp.fits.part"
    have = part.stat().st_size
    assert 0 < have < a.size and not (out / "run/type/calexp.fits").exists()
    assert json.loads((out / "manifest.json").read_text())["failed"] == 1
    server.reset_counts()
    result = fetch([a], out)[0]
    assert result["status"] == "resumed" and result["transferred"] == a.size - have
    ranges = [r for m, _, r in server.requests if m == "GET"]
    assert ranges[0].startswith(f"bytes={have}-")
    assert server.bytes_sent == a.size - have
    assert _sha(out / "run/type/calexp.fits") == a.checksum and not part.exists()


def test_fetch_names_missing_and_corrupt_files(files, tmp_path):
    missing = artifact(files, "calexp.fits", uri=str(files / "gone.fits"))
    corrupt = artifact(files, "sources.fits", checksum="sha256:" + "1" * 64)
    good = artifact(files, "config.json")
    with pytest.raises(FetchError) as info:
        fetch([missing, corrupt, good], tmp_path / "out")
    by_status = {r["path"]: r for r in info.value.results}
    assert "file not found" in by_status["run/type/calexp.fits"]["error"]
    assert "gone.fits" in by_status["run/type/calexp.fits"]["error"]
    assert "checksum mismatch" in by_status["run/type/sources.fits"]["error"]
    assert "type x=1 in run" in by_status["run/type/sources.fits"]["error"]
    assert by_status["run/type/config.json"]["status"] == "copied"
    assert not (tmp_path / "out/run/type/sources.fits").exists()
    assert not list((tmp_path / "out").rglob("*.part"))


def test_fetch_links_local_files(files, tmp_path):
    a = artifact(files, "catalog.parq")
    r = fetch([a], tmp_path / "out", mode="symlink")[0]
    assert r["status"] == "symlinked" and (tmp_path / "out" / r["path"]).is_symlink()
    r = fetch([a], tmp_path / "out2", mode="link")[0]
    assert (tmp_path / "out2" / r["path"]).stat().st_ino == (files / "catalog.parq").stat().st_ino


# --- resolution -----------------------------------------------------------------------------

def test_datastore_paths_and_answers(tmp_path):
    ds = FileDatastore(tmp_path)
    key = "dataset:8860e518-a885-54ac-ae5c-9de4ec46fcf7"
    assert ds.uri_of(key, {"uri": "file://datastore/a/b.fits"}) == str(tmp_path / "a/b.fits")
    assert ds.uri_of(key, {"path": "HSC/runs/x/y.fits"}) == str(tmp_path / "HSC/runs/x/y.fits")
    # a stored absolute URI must be below the root it is read from (was: read as it is)
    with pytest.raises(DatastoreError, match="'s3://bucket/z.fits' is not below the datastore"):
        ds.artifact(key, {"uri": "s3://bucket/z.fits"})
    assert FileDatastore("s3://bucket").uri_of(key, {"uri": "s3://bucket/z.fits"}) == \
        "s3://bucket/z.fits"
    templated = ds.artifact(key, {"dataset_type": "calexp", "run": "r",
                                  "data_id": "visit=1,detector=2", "size": 10,
                                  "checksum": "ab" * 32})
    assert templated.uri == str(tmp_path / "r/calexp/visit1_detector2.fits")
    assert templated.checksum == "sha256:" + "ab" * 32 and templated.relpath == \
        "r/calexp/visit1_detector2.fits"
    web = FileDatastore("https://data.example.org/repo", "{run}/{uuid}.parq")
    assert web.uri_of(key, {"run": "r"}) == \
        "https://data.example.org/repo/r/8860e518-a885-54ac-ae5c-9de4ec46fcf7.parq"
    # every dataset key in any answer, once, in order
    other = "dataset:0d4db88e-3f44-52e1-b53e-1da0599cc368"
    answer = {"data": {"coadds": [{"key": key, "inputs": [{"uuid": other[8:]}]},
                                  {"key": "quantum:8860e518-a885-54ac-ae5c-9de4ec46fcf7"}]},
              "note": key}
    assert dataset_keys(answer) == [key, other]
    text = tmp_path / "keys.txt"
    text.write_text(f"# two datasets\n{other[8:]}\n\n{key}\n")
    assert read_answer_file(text) == [other, key]
    text.write_text("visit=1228\n")
    with pytest.raises(DatastoreError, match="line 1: 'visit=1228' is not a dataset UUID"):
        read_answer_file(text)


def test_repository_config_names_the_datastore(tmp_path):
    from lineage.fetch.datastore import ButlerDatastore, datastore_for
    repo = tmp_path / "repo"
    repo.mkdir()
    config = {"format_version": 1, "store": "embedded"}
    (repo / "lineage.json").write_text(json.dumps(config))
    assert datastore_for(repo).root == str(repo / "datastore")          # the default
    config["datastore"] = {"root": "files", "template": "{run}/{uuid}.fits"}
    (repo / "lineage.json").write_text(json.dumps(config))
    ds = datastore_for(repo)
    assert ds.root == str(repo / "files") and ds.template == "{run}/{uuid}.fits"
    config["datastore"] = "https://data.example.org/repo"
    (repo / "lineage.json").write_text(json.dumps(config))
    assert datastore_for(repo).root == "https://data.example.org/repo"
    assert datastore_for(repo, str(tmp_path)).root == str(tmp_path)    # --datastore wins
    with pytest.raises(DatastoreError, match="Bolt server has no datastore directory"):
        datastore_for("bolt://localhost:7687")
    config["datastore"] = "butler:/somewhere/butler-repo"
    (repo / "lineage.json").write_text(json.dumps(config))
    butler = datastore_for(repo)
    assert isinstance(butler, ButlerDatastore) and butler.repo == "/somewhere/butler-repo"
    try:
        import lsst.daf.butler  # noqa: F401
    except ImportError:
        with pytest.raises(DatastoreError, match=r"needs lsst-daf-butler \(pip install "
                                                 r"'survey-lineage\[butler\]'\)"):
            butler.uri_of("dataset:8860e518-a885-54ac-ae5c-9de4ec46fcf7", {})


def test_cutout_wcs_with_distortion(tmp_path):
    """A SIP-distorted WCS moved to the box: the cutout's pixels map to the same sky,
    from the returned WCS and from its header, read directly or from the cache."""
    header = fits.Header({"CTYPE1": "RA---TAN-SIP", "CTYPE2": "DEC--TAN-SIP", "CRVAL1": 150.0,
                          "CRVAL2": 2.0, "CRPIX1": 200.0, "CRPIX2": 300.0, "CD1_1": -5e-5,
                          "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 5e-5, "A_ORDER": 2, "B_ORDER": 2,
                          "A_2_0": 1e-5, "B_0_2": -2e-5, "A_1_1": 3e-6, "B_1_1": 1e-6})
    image = np.random.default_rng(0).normal(size=(600, 400)).astype(np.float32)
    fits.PrimaryHDU(image, header=header).writeto(tmp_path / "sip.fits")
    full = WCS(fits.getheader(tmp_path / "sip.fits"))
    cache = Cache(tmp_path / "cache")
    for _ in range(2):
        cut = lineage.get(str(tmp_path / "sip.fits"), box=(slice(100, 160), slice(50, 90)),
                          cache=cache)
        np.testing.assert_array_equal(cut.data, image[100:160, 50:90])
        for wcs in (cut.wcs, WCS(cut.meta)):
            np.testing.assert_allclose(wcs.pixel_to_world_values(10, 20),
                                       full.pixel_to_world_values(60, 120), atol=1e-10, rtol=0)

"""From lineage answers to files and cutouts, on the small demo with images (embedded engine),
through the command line as a user runs it and through ``lineage.get``."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import lineage
from lineage.traversal import traverse as query
from lineage.demo import default_visit
from lineage.fetch import ReadStats, datastore_for, resolve
from lineage.fetch.select import select
from lineage.store.repo import open_store

from .conftest import SMALL
from .test_cli import lineage as run

VISIT = default_visit(SMALL)


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("fetch") / "repo"
    data = json.loads(run("demo", "--small", "--images", "--repo", str(repo), "--json").stdout)
    assert data["image_files"] > SMALL.visits * SMALL.detectors   # every calexp of two releases
    run("engine", "start", "--repo", str(repo))
    yield repo
    run("engine", "stop", "--repo", str(repo))


def _graph(repo, keys):
    with open_store(repo) as store:
        rows = store.read("MATCH (d:Dataset) WHERE d.key IN $k RETURN d.key, d.size, d.checksum",
                          {"k": keys})
    return {k: (size, checksum) for k, size, checksum in rows}


def test_fetch_a_lineage_answer(demo_repo, tmp_path):
    r = str(demo_repo)
    out = tmp_path / "calexps"
    plan = json.loads(run("fetch", f"visit={VISIT}", "--downstream", "--type", "calexp",
                          "--to", str(out), "--dry-run", "--json", "--repo", r).stdout)
    with open_store(demo_repo) as store:
        truth = [x.key for x in query.downstream(store, f"visit={VISIT}", types=["calexp"])]
    graph = _graph(demo_repo, truth)
    assert plan["count"] == len(truth) > 0 and not out.exists()
    assert plan["bytes"] == sum(size for size, _ in graph.values())
    results = json.loads(run("fetch", f"visit={VISIT}", "--downstream", "--type", "calexp",
                             "--to", str(out), "--json", "--repo", r).stdout)
    assert sorted(x["key"] for x in results) == sorted(truth)
    for x in results:
        data = (out / x["path"]).read_bytes()
        assert x["status"] == "copied" and len(data) == graph[x["key"]][0]
        assert hashlib.sha256(data).hexdigest() == graph[x["key"]][1]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["count"] == len(truth) and manifest["datastore"].endswith("datastore")
    # the JSON of another command is a QUERY too; --type filters it
    answer = tmp_path / "answer.json"
    answer.write_text(run("downstream", f"visit={VISIT}", "--type", "calexp,dia_source",
                          "--json", "--repo", r).stdout)
    again = json.loads(run("fetch", str(answer), "--type", "calexp", "--to", str(out), "--json",
                           "--repo", r).stdout)
    assert sorted(x["key"] for x in again) == sorted(truth)
    assert {x["status"] for x in again} == {"present"}
    # and a saved GraphQL query
    saved = json.loads(run("fetch", "graphql:CoaddsOfVisit", "--var", f"visit=visit={VISIT}",
                           "--var", "types=calexp", "--to", str(out), "--dry-run", "--json",
                           "--repo", r).stdout)
    assert sorted(a["key"] for a in saved["artifacts"]) == sorted(truth)


def test_a_missing_file_is_named_with_its_dataset(demo_repo, tmp_path):
    proc = run("fetch", f"visit={VISIT}", "--downstream", "--type", "deepCoadd", "--to",
               str(tmp_path / "coadds"), "--repo", str(demo_repo), check=False)
    assert proc.returncode == 2
    assert "datasets not fetched; first: deepCoadd band=" in proc.stderr
    assert "file not found:" in proc.stderr and "deepCoadd/" in proc.stderr


def test_prefetch_then_read_cutouts_offline(demo_repo, tmp_path):
    cache_dir = tmp_path / "cache"
    args = ("--cache", str(cache_dir), "--repo", str(demo_repo))
    first = json.loads(run("cache", "prefetch", f"visit={VISIT}", "--downstream", "--type",
                           "calexp", "--max-size", "50M", "--json", *args).stdout)
    assert all(x["copied"] for x in first)
    second = json.loads(run("cache", "prefetch", f"visit={VISIT}", "--downstream", "--type",
                            "calexp", "--json", *args).stdout)
    assert not any(x["copied"] for x in second)
    status = json.loads(run("cache", "status", "--json", "--cache", str(cache_dir)).stdout)
    assert status["by_kind"]["files"]["files"] == len(first)
    assert status["max_bytes"] == 50 * 1024 ** 2

    from lineage.fetch import Cache
    cache = Cache(cache_dir)
    with open_store(demo_repo) as store:
        where = datastore_for(demo_repo)
        calexp = resolve(store, select(store, f"visit={VISIT}", "down", ["calexp"]), where)[0]
        did = dict(p.split("=") for p in calexp.data_id.split(","))
        source = next(a for a in resolve(store, select(store, f"visit={VISIT}", "down",
                                                       ["dia_source"]), where)
                      if a.data_id == calexp.data_id and a.run == calexp.run)
        rows = lineage.get(source, columns=["ra", "dec", "detector"])
        assert set(rows["detector"]) <= {int(did["detector"])}
        if rows.empty:
            pytest.skip("no DIA source on this detector")
        stats = ReadStats()
        star = lineage.get(calexp.key, store=store, datastore=where, cache=cache,
                           sky=(rows["ra"][0], rows["dec"][0]), size=15, stats=stats)
    # read from the prefetched copy, nothing from the datastore; the star is in the middle
    assert stats.source_bytes == 0 and stats.cache_bytes > 0
    y, x = np.unravel_index(np.argmax(star.data), star.shape)
    assert abs(y - 7) <= 1 and abs(x - 7) <= 1


def test_fetch_from_an_http_datastore_after_a_broken_connection(demo_repo, tmp_path):
    """The demo's datastore served over HTTP (--datastore URL); the network breaks during
    the third calexp; the second run fetches only what is missing (byte-level resume of a
    large file: tests/test_fetch.py)."""
    from lineage.fetch.httpd import serve_directory
    out = tmp_path / "calexps"
    args = ["fetch", f"visit={VISIT}", "--downstream", "--type", "calexp", "--collection",
            "DemoCam/DR2", "--to", str(out), "--workers", "1", "--json", "--repo",
            str(demo_repo)]
    with serve_directory(demo_repo / "datastore") as server:
        server.fail_after = 200_000
        first = run(*args, "--datastore", server.url, check=False)
        assert first.returncode == 2 and "not fetched" in first.stderr
        done = json.loads(first.stdout)
        failed = {x["key"] for x in done if x["status"] == "failed"}
        assert len(failed) == 1 and len(done) == 6
        assert next(x["error"] for x in done if x["key"] in failed).startswith("calexp detector=")
        server.reset_counts()
        again = json.loads(run(*args, "--datastore", server.url).stdout)
        sent = server.bytes_sent
    graph = _graph(demo_repo, [x["key"] for x in again])
    for x in again:
        assert x["status"] == ("present" if x["key"] not in failed else "copied")
        data = (out / x["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == graph[x["key"]][1]
    assert sent == sum(graph[k][0] for k in failed)    # only the missing file crossed again
    assert not list(out.rglob("*.part"))


def test_demo_images_are_what_astropy_writes():
    """The demo joins its FITS files from card text and pixels (3 ms an image less than
    through astropy's HDU objects); byte for byte they are the file astropy writes."""
    import io
    import random

    from astropy.io import fits

    from lineage.demo.catalogs import dia_objects
    from lineage.demo.images import _fits_bytes, _geometry, _image
    from lineage.demo.survey import plan_survey

    objects = dia_objects(SMALL)
    for visit in plan_survey(SMALL).visits[:3]:
        for det in list(visit.boxes)[:3]:
            wcs, cards = _geometry(visit, det)
            image, variance = _image(visit, det, wcs, objects, random.Random(det))
            header = fits.Header.fromstring("".join(cards))
            assert header["VISIT"] == visit.id and header["CTYPE1"] == "RA---TAN"
            written = io.BytesIO()
            fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(image, header=header, name="IMAGE"),
                          fits.ImageHDU(variance, header=header, name="VARIANCE")]
                         ).writeto(written)
            assert _fits_bytes(cards, {"IMAGE": image, "VARIANCE": variance}) \
                == written.getvalue()

"""`lineage ingest skymap` and the OVERLAPS relation, checked against the files
and against an overlap computation of our own (numpy, not lsst.sphgeom)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lineage.ingest.driver import ingest
from lineage.dataunits.regions import overlaps_of

from .butler_files import entries, expected_overlaps, load, ra_dec, region_records
from .cli_runner import run as run_cli

SKY = ("tract", "patch")
OBSERVATIONS = ("visit", "visit_detector_region")


def run(store, kind, *paths):
    return ingest(store, kind, list(paths), show_progress=False)


def stored_overlaps(store) -> set[tuple[str, str]]:
    return {(a, b) for a, b in store.read(
        "MATCH (a:DataUnit)-[:OVERLAPS]->(b:DataUnit) RETURN a.key, b.key")}


def test_sky_map_records_with_their_regions(store, real_data):
    root = real_data("skymaps")
    files = sorted(root.glob("*.yaml"))
    summary = run(store, "skymap", root)
    assert not summary.rejected
    by_name = {f.path.rsplit("/", 1)[-1]: f for f in summary.files}
    for path in files:
        data = entries(path, "dimension")
        sky = [e for e in data if e["element"] in ("skymap",) + SKY]
        outcome = by_name[path.name]
        assert outcome.counts["dimension records"] == sum(len(e["records"]) for e in sky)
        others = [e for e in load(path)["data"]
                  if not (e["type"] == "dimension" and e["element"] in ("skymap",) + SKY)]
        assert len(outcome.skipped) == len(others)
        for key, vertices in region_records(path, SKY).items():
            props = store.read("MATCH (u:DataUnit {key: $k}) RETURN properties(u)",
                               {"k": key})[0][0]
            ra, dec = ra_dec(vertices)
            assert props["region_type"] == "ConvexPolygon"
            assert np.allclose(props["region_ra"], ra, atol=1e-9)
            assert np.allclose(props["region_dec"], dec, atol=1e-9)
            assert props["dec_min"] <= dec.min() + 1e-9 and dec.max() - 1e-9 <= props["dec_max"]
        for e in sky:
            if e["element"] == "skymap":
                for r in e["records"]:
                    props = store.read("MATCH (u:DataUnit {key: $k}) RETURN properties(u)",
                                       {"k": f"unit:skymap:{r['name']}"})[0][0]
                    assert props["tract_max"] == r["tract_max"]
                    assert props["patch_nx_max"] == r["patch_nx_max"]
    # patch -> tract -> sky map
    parts = set(store.read("MATCH (p:DataUnit {dimension: 'patch'})-[:PART_OF]->"
                           "(t:DataUnit {dimension: 'tract'})-[:PART_OF]->"
                           "(s:DataUnit {dimension: 'skymap'}) RETURN p.key, t.key, s.key"))
    assert ("unit:patch:hsc_rings_v1/9615/14", "unit:tract:hsc_rings_v1/9615",
            "unit:skymap:hsc_rings_v1") in parts
    second = run(store, "skymap", root)
    assert {f.status for f in second.files} == {"unchanged", "skipped"}  # SOURCES.md, skymap_configs.json


def test_overlaps_sky_map_first_then_visits(store, real_data):
    tiles_file = real_data("skymaps", "hsc_rings_v1-tract-patch-records.yaml")
    visits_file = real_data("butler_exports", "daf_butler", "hsc-rc2-subset.yaml")
    assert not run(store, "skymap", tiles_file).rejected
    assert not stored_overlaps(store)
    assert not run(store, "butler-export", visits_file).rejected
    expected = expected_overlaps(region_records(visits_file, OBSERVATIONS),
                                 region_records(tiles_file, SKY))
    assert expected and stored_overlaps(store) == expected
    # both patches are far apart: every observation overlaps one of them, not both
    patches = {t for _, t in expected if t.startswith("unit:patch:")}
    assert len(patches) == 2


def test_overlaps_visits_first_then_sky_map(store, real_data):
    visits_file = real_data("butler_exports", "daf_butler", "ci_hsc-subset.yaml")
    tiles_file = real_data("skymaps", "ci_hsc-subset-skymap.yaml")
    assert not run(store, "butler-export", visits_file).rejected
    assert not stored_overlaps(store)
    summary = run(store, "skymap", tiles_file)
    expected = expected_overlaps(region_records(visits_file, OBSERVATIONS),
                                 region_records(tiles_file, SKY))
    assert expected and stored_overlaps(store) == expected
    assert summary.files[0].counts["overlaps"] == len(expected)
    visit = next(r for e in entries(visits_file, "dimension") if e["element"] == "visit"
                 for r in e["records"])
    mine = {p for p in expected if p[0].startswith(f"unit:visit:HSC/{visit['id']}") or
            p[0].startswith(f"unit:visit_detector_region:HSC/{visit['id']}/")}
    assert set(overlaps_of(store, {"visit": str(visit["id"])})) == mine
    assert set(overlaps_of(store, {"tract": "0", "skymap": "discrete/ci_hsc"})) == expected


def test_an_export_without_sky_map_records_is_rejected(store, real_data):
    path = real_data("butler_exports", "pipelines_check", "export.yaml")
    before = store.count()
    summary = run(store, "skymap", path)
    assert summary.files[0].status == "rejected"
    assert str(path) in summary.files[0].error
    assert "no skymap, tract or patch records" in summary.files[0].error
    assert store.count() == before


def test_lineage_overlaps_command(repo, real_data):
    def lineage(*args):
        return run_cli(*args, "--repo", repo)
    visits_file = real_data("butler_exports", "daf_butler", "ci_hsc-subset.yaml")
    tiles_file = real_data("skymaps", "ci_hsc-subset-skymap.yaml")
    assert lineage("ingest", "skymap", str(tiles_file)).returncode == 0
    assert lineage("ingest", "butler-export", str(visits_file)).returncode == 0
    proc = lineage("overlaps", "visit=903334,detector=23", "--json")
    assert proc.returncode == 0, proc.stderr
    expected = expected_overlaps(
        {k: v for k, v in region_records(visits_file, OBSERVATIONS).items()
         if k == "unit:visit_detector_region:HSC/903334/23"},
        region_records(tiles_file, SKY))
    assert {(r["observation"], r["sky_map_unit"]) for r in json.loads(proc.stdout)} == expected
    bad = lineage("overlaps", "band=r")
    assert bad.returncode == 2 and bad.stderr.startswith("lineage: error:")


@pytest.mark.parametrize("pairs", [{"visit": "1", "tract": "0"}, {"band": "r"}])
def test_overlaps_of_refuses_what_it_cannot_answer(store, pairs):
    with pytest.raises(ValueError):
        overlaps_of(store, pairs)

"""Sky-map geometry computed from the configurations (lineage/dataunits/skymaps.py),
checked against every tract and patch polygon the real Butler exports carry, and the
questions it answers: which tract and patch contain a point, where a tract's centre is."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lineage import Repository
from lineage.core.errors import UserError
from lineage.dataunits.skymaps import (AGREEMENT_ARCSEC, geometry_from_config,
                                       max_corner_distance, tract_centre, tracts_containing)
from lineage.ingest.driver import ingest
from lineage.store.repo import open_store

from .butler_files import entries, polygon_vertices, ra_dec
from .cli_runner import run as run_cli

#: Every sample export with sky-map records (skymaps/ and the daf_butler test exports).
EXPORTS = (("skymaps", "hsc_rings_v1-tract-patch-records.yaml"),
           ("skymaps", "ci_hsc-subset-skymap.yaml"),
           ("butler_exports", "daf_butler", "hsc-rc2-subset.yaml"),
           ("butler_exports", "daf_butler", "hsc-rc2-subset-v0.yaml"),
           ("butler_exports", "daf_butler", "ci_hsc-subset-skymap.yaml"))


def configs(real_data) -> dict:
    path = real_data("skymaps", "skymap_configs.json")
    return {c.get("name", k): geometry_from_config(c.get("name", k), c)
            for k, c in json.loads(path.read_text()).items() if "skyMap" in c}


def exported(real_data):
    """(element, record, polygon as (ra, dec) pairs) of every sample tract and patch."""
    for parts in EXPORTS:
        for entry in entries(real_data(*parts), "dimension"):
            if entry["element"] in ("skymap", "tract", "patch"):
                for record in entry["records"]:
                    polygon = None
                    if "region" in record:
                        polygon = list(zip(*ra_dec(polygon_vertices(record["region"]))))
                    yield entry["element"], record, polygon


def test_computed_geometry_agrees_with_every_exported_polygon(real_data):
    geometries = configs(real_data)
    seen = {"skymap": 0, "tract": 0, "patch": 0}
    for element, record, polygon in exported(real_data):
        seen[element] += 1
        if element == "skymap":
            geometry = geometries[record["name"]]
            assert record["tract_max"] == geometry.tract_count
            tracts = [geometry.tract(t) for t in range(min(geometry.tract_count, 50))]
            assert max(t.patches[0] for t in tracts) <= record["patch_nx_max"]
            continue
        geometry = geometries[record["skymap"]]
        tract = geometry.tract(record["tract"] if element == "patch" else record["id"])
        if element == "tract":
            computed = geometry.corners(tract)
        else:
            assert record["id"] == record["cell_y"] * tract.patches[0] + record["cell_x"]
            computed = geometry.corners(tract, geometry.patch_box(tract, record["cell_x"],
                                                                  record["cell_y"]))
        assert max_corner_distance(computed, polygon) < AGREEMENT_ARCSEC, (element, record)
    assert seen["tract"] >= 3 and seen["patch"] >= 2


def test_rings_structure_of_hsc_rings_v1(real_data):
    rings = configs(real_data)["hsc_rings_v1"]
    assert rings.ring_size_deg == pytest.approx(180 / 121)
    assert len(rings.tracts_per_ring) == 120 and rings.tracts_per_ring[:3] == (10, 16, 22)
    assert rings.tracts_per_ring == rings.tracts_per_ring[::-1]    # symmetric about the equator
    assert rings.tract(0).dec == -90 and rings.tract(rings.tract_count - 1).dec == 90
    first = rings.tract(1)
    assert (first.ring, first.index_in_ring, first.ra) == (0, 0, 0.0)
    with pytest.raises(UserError, match="not in sky map"):
        rings.tract(rings.tract_count)
    with pytest.raises(UserError, match="'MOL' is not one of the zenithal projections"):
        geometry_from_config("m", {"skyMap": "rings", "numRings": 3, "projection": "MOL"})


def test_a_bad_configuration_is_rejected_naming_its_field(store, tmp_path):
    path = tmp_path / "configs.json"
    path.write_text(json.dumps({"mine": {"skyMap": "rings", "numRings": "many"}}))
    summary = ingest(store, "skymap", [path], show_progress=False)
    assert summary.files[0].status == "rejected"
    assert "mine.numRings: sky map mine: numRings is 'many', not a number" in \
        summary.files[0].error


def test_the_configs_file_is_ingested_and_reported_then_asked(repo, real_data):
    """One ingest of the folder (37,879 tracts) for both checks, on the embedded engine only:
    6 s there, 24 s on ArcadeDB; the engines' agreement on sky-map records is
    tests/test_ingest_skymap.py's, on both."""
    with open_store(repo) as store:
        _configs_ingested_and_asked(store, real_data)


def _configs_ingested_and_asked(store, real_data):
    summary = ingest(store, "skymap", [real_data("skymaps")], show_progress=False)
    assert not summary.rejected
    outcome = next(f for f in summary.files if f.path.endswith("skymap_configs.json"))
    assert outcome.status == "added"
    assert outcome.counts["sky maps"] == 4
    assert outcome.counts["tracts"] == 18938 * 2 + 1 + 2
    # the exports came first (sorted names): their 3 tract regions were checked, all agree
    assert outcome.counts["tracts checked against exported regions"] == 3
    assert not [w for w in outcome.warnings if "arcsec from" in w]
    assert [s.split(":")[0] for s in outcome.skipped] == ["obs_subaru_makeDiscreteSkyMap"]
    props = store.nodes("DataUnit", ["unit:skymap:hsc_rings_v1"])["unit:skymap:hsc_rings_v1"]
    assert props["num_rings"] == 120 and props["tract_count"] == props["tract_max"] == 18938
    tract = store.nodes("DataUnit", ["unit:tract:hsc_rings_v1/9813"])["unit:tract:hsc_rings_v1/9813"]
    assert (tract["ring"], tract["index_in_ring"]) == (61, 101)
    assert tract["config_corner_offset_arcsec"] < AGREEMENT_ARCSEC
    again = ingest(store, "skymap", [outcome.path], show_progress=False)
    assert again.files[0].status == "unchanged"
    check_contains_and_centre(store, real_data)


def check_contains_and_centre(store, real_data):
    """Which tract and patch contain a point, and where a tract's centre is, against the
    exported records: the middle of each exported tract and patch polygon."""
    for element, record, polygon in exported(real_data):
        if polygon is None or element == "skymap":
            continue
        ra, dec = ra_dec(polygon_vertices(record["region"]))
        vectors = polygon_vertices(record["region"])
        middle = vectors.mean(axis=0)
        m_ra, m_dec = (float(v[0]) for v in ra_dec(middle[None, :]))
        tract_id = record["id"] if element == "tract" else record["tract"]
        found = {r["tract"]: r for r in tracts_containing(store, record["skymap"], m_ra, m_dec)}
        assert tract_id in found, (element, record)
        if element == "patch":           # the middle of a patch is in its inner box
            assert found[tract_id]["patch"] == record["id"]
            assert (found[tract_id]["patch_x"], found[tract_id]["patch_y"]) == \
                (record["cell_x"], record["cell_y"])
        else:                            # the tract's centre is its polygon's middle
            centre = tract_centre(store, record["skymap"], tract_id)
            assert np.hypot((centre["centre_ra"] - m_ra) * np.cos(np.radians(m_dec)),
                            centre["centre_dec"] - m_dec) < 0.01
            assert ra.min() < centre["centre_ra"] < ra.max()
            assert dec.min() < centre["centre_dec"] < dec.max()
    # a point between rings is in two overlapping tracts, nearest first
    both = tracts_containing(store, "hsc_rings_v1", 150.2479, 2.231405 - 180 / 121 / 2)
    assert len(both) >= 2
    assert [r["distance_from_centre_deg"] for r in both] == \
        sorted(r["distance_from_centre_deg"] for r in both)
    with pytest.raises(UserError, match="no sky map of that name"):
        tracts_containing(store, "nope", 0.0, 0.0)
    with pytest.raises(UserError, match="between -90 and 90"):
        tracts_containing(store, "hsc_rings_v1", 0.0, 91.0)


def test_lineage_overlaps_contains_and_centre(repo, real_data):
    def lineage(*args):
        return run_cli(*args, "--repo", repo)
    assert lineage("ingest", "skymap", str(real_data("skymaps"))).returncode == 0
    proc = lineage("overlaps", "--contains", "150.25,2.23", "--skymap", "hsc_rings_v1",
                   "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows[0]["tract"] == 9813 and rows[0]["patch"] == 40
    proc = lineage("overlaps", "--centre", "9813", "--skymap", "hsc_rings_v1", "--format", "json")
    assert json.loads(proc.stdout)[0]["ring"] == 61
    with Repository(repo) as repository:      # the Python API gives the same answers
        assert [dict(r) for r in repository.tracts_containing("hsc_rings_v1", 150.25, 2.23)] \
            == rows
        assert repository.tract_centre("hsc_rings_v1", 9813)["index_in_ring"] == 101
    bad = lineage("overlaps", "--centre", "9813")
    assert bad.returncode != 0 and "--skymap" in bad.stderr
    bad = lineage("overlaps", "--contains", "x", "--skymap", "hsc_rings_v1")
    assert bad.returncode != 0 and "RA,DEC" in bad.stderr


def test_an_export_after_its_configuration_is_checked_and_a_mismatch_is_said(store, real_data,
                                                                            tmp_path):
    """Either order checks the exported tracts; a configuration that does not make the
    exported region is a warning of the report (the discrete sky map: one tract, cheap)."""
    ci_hsc = json.loads(real_data("skymaps", "skymap_configs.json").read_text())["discrete/ci_hsc"]
    path = tmp_path / "ci_hsc.json"
    path.write_text(json.dumps({"discrete/ci_hsc": ci_hsc}))
    assert ingest(store, "skymap", [path], show_progress=False).files[0].status == "added"
    export = ingest(store, "skymap", [real_data("skymaps", "ci_hsc-subset-skymap.yaml")],
                    show_progress=False).files[0]
    assert export.counts["tracts checked against their configuration"] == 1
    assert not [w for w in export.warnings if "arcsec" in w]
    path.write_text(json.dumps({"discrete/ci_hsc": {**ci_hsc, "pixelScale_arcsec": 0.2}}))
    changed = ingest(store, "skymap", [path], show_progress=False).files[0]
    assert changed.counts["tracts checked against exported regions"] == 1
    assert [w for w in changed.warnings if "tract 0 of discrete/ci_hsc: the exported region "
            "is" in w and "arcsec from the one computed" in w]

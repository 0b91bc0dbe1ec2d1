"""The calibration lookup: which bias/flat/dark/defects were valid for an exposure.

Expectations are computed here from the export files (read independently) and
from the demo survey's plan, never from the graph."""

from __future__ import annotations

import json

import pytest
from astropy.time import Time

from lineage.dataunits.calibs import CalibError, valid_calibrations
from lineage.demo import INSTRUMENT, PHYSICAL_FILTERS, plan_survey
from lineage.ingest.driver import ingest

from .cli_runner import run
from .butler_files import entries, tai_mjd
from .conftest import SMALL


def _data_id_text(d: dict) -> str:
    return ",".join(f"{k}={d[k]}" for k in sorted(d))


def expected_from_files(export, exposures_file, exposure_id, detector, at_mjd=None):
    """(dataset type, data ID) of the certified calibrations valid for the exposure."""
    exposure = next(r for e in entries(exposures_file, "dimension") if e["element"] == "exposure"
                    for r in e["records"] if r["id"] == exposure_id)
    pf = exposure["physical_filter"]
    band = next(r["band"] for e in entries(exposures_file, "dimension")
                if e["element"] == "physical_filter" for r in e["records"] if r["name"] == pf)
    begin, end = tai_mjd(exposure["datetime_begin"]), tai_mjd(exposure["datetime_end"])
    if at_mjd is not None:
        begin = end = at_mjd
    datasets = {}
    for e in entries(export, "dataset"):
        for r in e["records"]:
            for i, d in zip(r["dataset_id"], r["data_id"]):
                datasets[i] = (e["dataset_type"], d)
    wanted = {"instrument": exposure["instrument"], "physical_filter": pf, "band": band,
              "detector": detector}
    out = set()
    for e in entries(export, "associations"):
        for vr in e["validity_ranges"]:
            lo = tai_mjd(vr["begin"]) if vr["begin"] is not None else float("-inf")
            hi = tai_mjd(vr["end"]) if vr["end"] is not None else float("inf")
            valid = (lo <= begin < hi) if begin == end else (lo < end and begin < hi)
            for i in vr["dataset_ids"]:
                dstype, d = datasets[i]
                if valid and all(str(d[k]) == str(v) for k, v in wanted.items() if k in d):
                    out.add((dstype, _data_id_text(d)))
    return out


@pytest.fixture
def hsc_calibs(store, real_data):
    export = real_data("butler_exports", "pipelines_check", "export.yaml")
    exposures = real_data("butler_exports", "daf_butler", "hsc-rc2-subset-v0.yaml")
    summary = ingest(store, "butler-export", [export, exposures], show_progress=False)
    assert not summary.rejected
    return store, export, exposures


@pytest.mark.parametrize("at", [None, "2013-03-01T00:00:00", "2014-04-10T00:00:00",
                                "2012-01-01T00:00:00", "2013-12-14T00:00:00"])
def test_calibrations_valid_for_a_real_exposure(hsc_calibs, at):
    store, export, exposures = hsc_calibs
    got = valid_calibrations(store, "exposure=903342,detector=10", at=at)
    at_mjd = Time(at, scale="tai").mjd if at else None
    expected = expected_from_files(export, exposures, 903342, 10, at_mjd)
    assert {(c.dataset_type, c.data_id) for c in got} == expected
    assert expected  # the unbounded ones are always there
    if at is None:  # the exposure's own time: bias, dark, flat and defects all valid
        assert {"bias", "dark", "flat", "defects"} <= {c.dataset_type for c in got}


def test_the_lookup_filters_by_type_detector_and_collection(hsc_calibs):
    store, export, exposures = hsc_calibs
    flats = valid_calibrations(store, "exposure=903342,detector=10", types=["flat"],
                               collection="HSC/calib")
    assert [c.dataset_type for c in flats] == ["flat"]
    assert flats[0].valid_begin.startswith("2012-12-19T00:00:00")
    # no detector-10 calibration is certified for detector 11: only instrument-wide ones
    other = valid_calibrations(store, "exposure=903342,detector=11")
    assert {c.dataset_type for c in other} == {d for d, _ in expected_from_files(
        export, exposures, 903342, 11)}
    assert "bias" not in {c.dataset_type for c in other}
    with pytest.raises(CalibError, match="not a CALIBRATION collection"):
        valid_calibrations(store, "exposure=903342", collection="refcats")
    with pytest.raises(CalibError, match="no exposure or visit"):
        valid_calibrations(store, "exposure=1")


def test_calibrations_of_the_demo_survey(demo_store_ro):
    survey = plan_survey(SMALL)
    first = survey.visits[0].mjd_begin - 1
    middle = (first + survey.visits[-1].mjd_begin + 1) / 2
    for v in (survey.visits[0], survey.visits[-1]):
        d = v.detectors[0]
        epoch = 0 if v.mjd_begin < middle else 1
        pf = PHYSICAL_FILTERS[v.band]
        expected = {("bias", f"detector={d},epoch={epoch},instrument={INSTRUMENT}"),
                    ("flat", f"detector={d},epoch={epoch},instrument={INSTRUMENT},"
                             f"physical_filter={pf}")}
        for collection in (None, f"{INSTRUMENT}/calib", f"{INSTRUMENT}/DR2"):
            got = valid_calibrations(demo_store_ro, f"exposure={v.id},detector={d}",
                                     collection=collection)
            assert {(c.dataset_type, c.data_id) for c in got} == expected
    # at a time in the other epoch, the other epoch's bias
    v = survey.visits[0]
    late = Time(middle + 0.5, format="mjd", scale="tai").isot
    got = valid_calibrations(demo_store_ro, f"visit={v.id},detector={v.detectors[0]}", at=late,
                             types=["bias"])
    assert [c.data_id for c in got] == [
        f"detector={v.detectors[0]},epoch=1,instrument={INSTRUMENT}"]


def test_lineage_calibs_command(repo, real_data):
    def lineage(*args):
        return run(*args, "--repo", repo)
    export = real_data("butler_exports", "pipelines_check", "export.yaml")
    exposures = real_data("butler_exports", "daf_butler", "hsc-rc2-subset-v0.yaml")
    assert lineage("ingest", "butler-export", str(export), str(exposures)).returncode == 0
    proc = lineage("calibs", "exposure=903342,detector=10", "--type", "bias", "--type", "defects",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    expected = {x for x in expected_from_files(export, exposures, 903342, 10)
                if x[0] in ("bias", "defects")}
    # data IDs are objects in JSON: {"detector": 10, "instrument": "HSC"}
    assert {(r["dataset_type"], _data_id_text(r["data_id"])) for r in rows} == expected
    bad = lineage("calibs", "exposure=903342", "--at", "yesterday-ish")
    assert bad.returncode == 2 and bad.stderr.startswith("lineage: error: not a time")

"""Lightcurve provenance and selection by conditions, on the small demo survey (every engine).

The truth is computed apart from the code under test: epochs by reading the
demo's catalog files with pandas, conditions from the survey plan, telemetry
summaries with numpy from the samples stored on the EFD records.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lineage import flags as flagging
from lineage.traversal import traverse as query
from lineage.core.conditions import mask, parse_conditions
from lineage.dataunits.visits import select_visits
from lineage.demo import RELEASE_CHANGES, plan_survey
from lineage.demo.catalogs import write_catalogs
from lineage.fetch.datastore import FileDatastore
from lineage.lightcurve import LightcurveError, lightcurve
from lineage.core.errors import UnknownName
from lineage.core.selector import SelectorError

from lineage.ingest import write_units

from .cli_runner import run
from .conftest import ENGINES, SMALL, EngineFactory

DR1, DR2 = "DemoCam/DR1", "DemoCam/DR2"


@pytest.fixture(scope="module", params=ENGINES)
def demo_store(request, small_units, tmp_path_factory):
    """The small demo on each engine, written once for the module (tests that write, like
    flagging, come last)."""
    factory = EngineFactory(request.param, request, tmp_path_factory)
    store = factory.new()
    write_units(store, small_units, show_progress=False)
    yield store
    factory.close()


@pytest.fixture(scope="module")
def datastore(small_units, tmp_path_factory):
    root = tmp_path_factory.mktemp("datastore")
    write_catalogs(SMALL, small_units, root)
    return root


def _sources(datastore: Path, release: str) -> pd.DataFrame:
    files = sorted((datastore / f"DemoCam/runs/{release}/dia_source").glob("*.parq"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def _objects_by_epochs(datastore: Path, release: str) -> list[int]:
    counts = _sources(datastore, release)["diaObjectId"].value_counts()
    return [int(i) for i in counts.index]


def _efd_truth(store, visit: int, field: str) -> float:
    """Mean of the stored samples of ``field`` inside the visit's exposure, with numpy."""
    (begin, end), = store.read("MATCH (x:DataUnit) WHERE x.dimension = 'exposure' AND "
                               "x.value = $v RETURN x.mjd_begin, x.mjd_end", {"v": str(visit)})
    values = []
    for times, samples in store.read(f"MATCH (e:EfdRecord) WHERE e.v_{field} IS NOT NULL "
                                     f"RETURN e.sample_mjd_tai, e.v_{field}"):
        t, v = np.array(times), np.array(samples)
        values.extend(v[(t >= begin) & (t <= end)])
    return float(np.mean(values))


def test_every_epoch_traced_to_its_visit(demo_store, datastore):
    store = demo_store
    locate = FileDatastore(datastore)
    plan = {v.id: v for v in plan_survey(SMALL).visits}
    obj = _objects_by_epochs(datastore, "DR2")[0]
    truth = _sources(datastore, "DR2").query("diaObjectId == @obj")
    lc = lightcurve(store, obj, DR2, locate)
    assert len(lc) == len(truth) >= 3
    assert list(lc["mjd_tai"]) == sorted(lc["mjd_tai"])
    got = {(r.visit, r.detector, r.flux) for r in lc.itertuples()}
    assert got == {(int(r.visit), int(r.detector), r.psfFlux) for r in truth.itertuples()}
    for row in lc.to_dict("records"):
        visit = row["visit"]
        # the catalog, its images, and through `lineage upstream` the raws of that visit
        upstream = query.upstream(store, row["source_dataset"], types=["raw", "calexp"])
        raws = {r.data_id for r in upstream if r.dataset_type == "raw"}
        assert any(f"exposure={visit}," in d for d in raws)
        calexps = {r.key: r.data_id for r in upstream if r.dataset_type == "calexp"}
        assert f"visit={visit}" in calexps[row["calexp"]]
        # conditions from the survey plan, in TAI
        assert row["seeing"] == plan[visit].seeing and row["airmass"] == plan[visit].airmass
        assert row["time_scale"] == "tai"
        assert row["mjd_begin"] == pytest.approx(plan[visit].mjd_begin, rel=1e-14)
        # telemetry summaries equal numpy over the ingested samples
        assert row["efd.DIMM.logEvent_dimmMeasurement.fwhm.mean"] == pytest.approx(
            _efd_truth(store, visit, "fwhm"), rel=1e-9)
        assert row["efd.ESS.temperature.temperatureItem0.mean"] == pytest.approx(
            _efd_truth(store, visit, "temperatureItem0"), rel=1e-9)
        # software of every step: DR2's calibrate is the new version
        assert row["software.calibrate"] == RELEASE_CHANGES.new_software
        assert row["software.isr"] == "w.2026.10"
        assert {"software.subtractImages", "software.detectAndMeasureDiaSources",
                "software.assembleCoadd", "config.assembleCoadd"} <= set(row)
    assert not lc["flagged"].any()
    # only the telemetry asked for: a CSC, or a topic with or without lsst.sal.
    for topics, prefix in ((["DIMM"], "efd.DIMM."), (["ESS.temperature"], "efd.ESS.temperature."),
                           (["lsst.sal.ESS.temperature"], "efd.ESS.temperature.")):
        columns = [c for c in lightcurve(store, obj, DR2, locate, topics).columns
                   if c.startswith("efd.")]
        assert columns and all(c.startswith(prefix) for c in columns), topics
    # the same object in DR1: old calibrate software, another assembleCoadd config
    dr1 = lightcurve(store, obj, DR1, locate)
    assert set(dr1["software.calibrate"]) == {"w.2026.10"}
    assert set(dr1["config.assembleCoadd"]).isdisjoint(set(lc["config.assembleCoadd"]))


def test_lightcurve_errors(demo_store, datastore, tmp_path):
    store = demo_store
    locate = FileDatastore(datastore)
    with pytest.raises(LightcurveError, match="object 12 is in none of the .* 'DemoCam/DR2'"):
        lightcurve(store, 12, DR2, locate)
    with pytest.raises(UnknownName, match="'DR9': no such collection"):
        lightcurve(store, 12, "DR9", locate)
    # a corrupted catalog is named, and nothing is half-read
    obj = _objects_by_epochs(datastore, "DR1")[0]
    broken = tmp_path / "datastore"
    import shutil
    shutil.copytree(datastore, broken)
    victim = sorted((broken / "DemoCam/runs/DR1/dia_source").glob("*.parq"))
    victim = next(f for f in victim if obj in set(pd.read_parquet(f)["diaObjectId"]))
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(LightcurveError, match=f"{victim.name}: not a readable Parquet"):
        lightcurve(store, obj, DR1, FileDatastore(broken))


def test_select_visits_by_conditions(demo_store):
    store = demo_store
    plan = plan_survey(SMALL).visits
    good = {str(v.id) for v in plan if v.seeing < 0.7}
    assert 0 < len(good) < len(plan)
    assert set(select_visits(store, "seeing < 0.7 arcsec")["visit"]) == good
    assert set(select_visits(store, "seeing < 700 mas")["visit"]) == good
    assert set(select_visits(store, "seeing < 0.7")["visit"]) == good
    both = {str(v.id) for v in plan if v.band == "r" and v.airmass < 1.3}
    assert set(select_visits(store, "band = r and airmass < 1.3")["visit"]) == both
    # a telemetry difference: truth from the stored samples
    diffs = {str(v.id): _efd_truth(store, v.id, "temperatureItem0") -
             _efd_truth(store, v.id, "temperatureItem1") for v in plan}
    cut = float(np.median(list(diffs.values())))
    expected = {v for v, d in diffs.items() if d > cut}
    term = "efd:ESS.temperature.temperatureItem0 - efd:ESS.temperature.temperatureItem1"
    assert set(select_visits(store, f"{term} > {cut} K")["visit"]) == expected
    assert set(select_visits(store, f"{term} > {cut} deg_C")["visit"]) == expected
    # as a lineage selector: the datasets of exactly those visits
    chosen = {r.key for r in query.downstream(store, "visit[seeing < 0.7 arcsec]",
                                              types=["calexp"])}
    one_by_one = {r.key for v in good for r in query.downstream(store, f"visit={v}",
                                                                 types=["calexp"])}
    assert chosen == one_by_one and chosen
    for bad, message in (("seeing < 0.7 furlongs", "unknown unit"),
                         ("seeing < 0.7 mag", "does not convert"),
                         ("nothing < 3", "no 'nothing'"), ("seeing <", "TERM OP NUMBER")):
        with pytest.raises(SelectorError, match=message):
            select_visits(store, bad)


def test_flagged_epochs_are_marked(demo_store, datastore):
    store = demo_store
    locate = FileDatastore(datastore)
    obj = _objects_by_epochs(datastore, "DR2")[0]
    before = lightcurve(store, obj, DR2, locate)
    bad = int(before["visit"].iloc[len(before) // 2])
    report = flagging.flag(store, f"visit={bad}", "bad", "satellite trail", "jira:DRB-1", "test")
    after = lightcurve(store, obj, DR2, locate)
    for row in after.to_dict("records"):
        upstream = query.upstream(store, row["source_dataset"], types=["raw"])
        uses_bad = any(f"exposure={bad}," in r.data_id for r in upstream)
        assert row["flagged"] == uses_bad, row["visit"]
        assert (report["flag"] in row["flags"]) == (row["visit"] == bad)
        assert (row["contamination"] > 0) == uses_bad
    assert after.loc[after["visit"] == bad, "flagged"].all()


def test_missing_values_never_match():
    table = pd.DataFrame({"seeing": [0.5, np.nan, 0.9],
                          "efd.ESS.temperature.temperatureItem0.mean": [np.nan, 3.0, 1.0]})
    for text in ("seeing < 1", "seeing != 0.5", "efd:ESS.temperature.temperatureItem0 > 0 deg_C"):
        hit = mask(table, parse_conditions(text))
        assert not hit[table[list(table.columns)[0 if "seeing" in text else 1]].isna()].any()
    assert list(mask(table, parse_conditions("seeing != 0.5"))) == [False, False, True]


def _cli(*args, cwd=None):
    return run(*args, cwd=cwd, env={"LINEAGE_NO_PROGRESS": "1"})


def test_cli_lightcurve_visits_and_graphql(repo, tmp_path):
    assert _cli("demo", "--small", "--repo", str(repo), "--json").returncode == 0
    from lineage.demo.catalogs import dia_objects
    datastore = repo / "datastore"
    obj = _objects_by_epochs(datastore, "DR2")[0]
    assert obj in {o.id for o in dia_objects(SMALL)}
    out = _cli("lightcurve", str(obj), "--collection", DR2, "--repo", str(repo), "--json",
               "-o", str(tmp_path / "lc.csv"), "--plot", str(tmp_path / "lc.png"))
    assert out.returncode == 0, out.stderr
    epochs = json.loads(out.stdout)["epochs"]
    assert len(epochs) == len(pd.read_csv(tmp_path / "lc.csv"))
    assert (tmp_path / "lc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    visits = _cli("visits", "seeing < 0.7 arcsec", "--repo", str(repo), "--json")
    expected = sorted(str(v.id) for v in plan_survey(SMALL).visits if v.seeing < 0.7)
    assert sorted(r["visit"] for r in json.loads(visits.stdout)) == expected
    versus = _cli("visits", "seeing < 0.7", "--versus", "seeing >= 0.7", "--type", "calexp",
                  "--repo", str(repo), "--json")
    result = json.loads(versus.stdout)
    assert result["a"]["visits"] + result["b"]["visits"] == len(plan_survey(SMALL).visits)
    assert result["overlap"] == []
    wrong = _cli("visits", "seeing < 0.7 furlongs", "--repo", str(repo))
    assert wrong.returncode == 2 and "unknown unit 'furlongs'" in wrong.stderr
    # GraphQL: the same epochs
    from lineage.api.local import run_local
    from lineage.store.repo import open_store
    document = ("query($o: String!) { lightcurve(object: $o, collection: \"DemoCam/DR2\") { "
                "epochs { visit flux sourceDataset { datasetType } telemetry { field mean } "
                "steps { task software } flagged } } }")
    with open_store(repo) as store:
        answer = asyncio.run(run_local(store, document, {"o": str(obj)}, None, repo_dir=repo))
    assert "errors" not in answer, answer
    got = answer["data"]["lightcurve"]["epochs"]
    assert [(e["visit"], e["flux"]) for e in got] == [(str(e["visit"]), e["flux"]) for e in epochs]
    assert all(e["sourceDataset"]["datasetType"] == "dia_source" for e in got)
    assert {s["task"] for s in got[0]["steps"]} >= {"calibrate", "subtractImages", "isr"}

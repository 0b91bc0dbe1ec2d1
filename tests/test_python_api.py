"""``lineage.Repository`` on the real embedded engine: every method against the command it
mirrors (same library call, same answer), its results as rows, DataFrames and Tables, data
IDs as mappings, times with their scale, and the library's own errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table
from astropy.time import Time

import lineage
from lineage.cli.output import json_ready
from lineage.core.dataid import DataId, data_id_object
from lineage.core.errors import LineageError, UnknownName, UserError
from lineage.core.text import SelectorError
from lineage.demo import default_visit
from lineage.results import Result
from lineage.store.falkordb_server import FalkorServer
from lineage.store.repo import RepoError

from .conftest import SMALL
from .test_cli import lineage as run

VISIT = default_visit(SMALL)
SELECTOR = f"visit={VISIT}"


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory):
    """The small demo with its catalogs and images (lightcurves, fetch and get read them)."""
    root = tmp_path_factory.mktemp("pyapi") / "repo"
    run("demo", "--small", "--images", "--repo", str(root), "--json")
    yield root
    FalkorServer(root).stop()


@pytest.fixture(scope="module")
def repo(demo_repo):
    with lineage.Repository(demo_repo) as r:
        yield r


def _json(*args):
    return json.loads(run(*args).stdout)


def test_import_lineage_stays_light_and_exports_lazily():
    code = ("import sys, lineage; heavy = [m for m in ('pandas', 'astropy', 'lineage.repository')"
            " if m in sys.modules]; print(heavy); print(lineage.Repository.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "lineage.repository"]
    with pytest.raises(AttributeError, match="no attribute 'Repositry'"):
        lineage.Repositry


def test_downstream_is_the_commands_answer_with_typed_rows(repo, demo_repo):
    coadds = repo.downstream(SELECTOR, types=["deepCoadd"])
    cli = _json("downstream", SELECTOR, "--type", "deepCoadd", "--repo", str(demo_repo), "--json")
    assert [(r["uuid"], data_id_object(str(r["data_id"])), r["run"], r["steps"])
            for r in coadds] == \
        [(r["uuid"], r["data_id"], r["run"], r["steps"]) for r in cli]
    assert isinstance(coadds, Result) and coadds.columns == \
        ["dataset_type", "data_id", "run", "steps", "uuid", "deleted"]
    first = coadds[0]
    assert isinstance(first["data_id"], DataId) and first["data_id"]["band"] == "u"
    assert first["data_id"] == {"tract": "9813", "patch": "0", "band": "u",
                                "skymap": "demo_rings"}
    assert len(first["uuid"]) == 36 and first["run"] == "DemoCam/runs/DR1"
    # a name as well as a list; upstream of a coadd reaches the visit's raw
    assert repo.downstream(SELECTOR, types="deepCoadd") == coadds
    raws = repo.upstream(first["uuid"], types="raw")
    assert str(VISIT) in {r["data_id"]["exposure"] for r in raws}
    assert len(repo.downstream(SELECTOR, limit=3)) == 3


def test_to_pandas_and_to_table_shapes_and_types(repo):
    coadds = repo.downstream(SELECTOR, types="deepCoadd")
    frame = coadds.to_pandas()
    assert frame.shape == (8, 10)
    assert list(frame.columns) == ["dataset_type", "data_id", "band", "patch", "skymap",
                                   "tract", "run", "steps", "uuid", "deleted"]
    assert frame["steps"].dtype == np.int64
    assert frame["data_id"][0] == "band=u,patch=0,skymap=demo_rings,tract=9813"
    assert set(frame["band"]) == {"u"} and frame["uuid"][0] == coadds[0]["uuid"]
    table = coadds.to_table()
    assert isinstance(table, Table) and len(table) == 8
    assert table.colnames == list(frame.columns)
    assert table["uuid"][0] == coadds[0]["uuid"] and table["steps"].dtype.kind == "i"
    assert table.meta["title"] == f"Downstream of {SELECTOR}"
    text, page = repr(coadds), coadds._repr_html_()
    assert coadds[0]["uuid"] in text and "band=u,patch=0,skymap=demo_rings,tract=9813" in text
    assert "8 rows" in text and page.count("<tr>") == 9 and "<th>data_id</th>" in page
    empty = Result([], "nothing", ["a"])
    assert empty.to_pandas().shape == (0, 1) and "0 rows" in repr(empty)


def test_count_explain_show(repo, demo_repo):
    counts = repo.count(SELECTOR)
    cli = _json("downstream", SELECTOR, "--count", "--repo", str(demo_repo), "--json")
    assert {r["dataset_type"]: r["datasets"] for r in counts} == cli["counts"]
    assert repo.count(SELECTOR).to_pandas()["datasets"].sum() == cli["total"]
    coadd = repo.downstream(SELECTOR, types="deepCoadd")[0]
    path = repo.explain(SELECTOR, coadd["uuid"])
    cli_path = _json("downstream", SELECTOR, "--explain", coadd["uuid"], "--repo",
                     str(demo_repo), "--json")["path"]
    assert [r["key"] for r in path] == cli_path
    assert path[-1]["kind"] == "Dataset" and path[-2]["task"] == "assembleCoadd"
    assert path[-1]["data_id"] == coadd["data_id"]
    view = repo.show(coadd["uuid"])
    assert json_ready(view) == _json("show", coadd["uuid"], "--repo", str(demo_repo), "--json")


def test_visits_with_tai_times(repo, demo_repo):
    good = repo.visits("seeing < 0.6 arcsec")
    cli = _json("visits", "seeing < 0.6 arcsec", "--repo", str(demo_repo), "--json")
    assert [r["visit"] for r in good] == [r["visit"] for r in cli]
    begin = good[0]["begin"]
    assert isinstance(begin, Time) and begin.scale == "tai"
    assert begin.isot == cli[0]["begin"]
    frame = good.to_pandas()
    assert frame.attrs["time_scales"] == {"begin": "tai", "end": "tai"}
    assert frame["begin"].dtype == "datetime64[ns]"   # naive: TAI has no zone
    table = good.to_table()
    assert isinstance(table["begin"], Time) and table["begin"].scale == "tai"
    assert len(repo.visits()) == SMALL.visits


def test_metric_jobs_trend_and_specifications_with_utc_dates(repo, demo_repo):
    jobs = repo.metric_jobs("validate_drp.PA1", ">", 15, "mmag")
    cli = _json("metrics", "jobs", "validate_drp.PA1 > 15 mmag", "--repo", str(demo_repo),
                "--json")
    assert [r["job"] for r in jobs] == [r["job"] for r in cli] and jobs
    assert jobs[0]["date"].scale == "utc" and jobs[0]["date"].isot == cli[0]["date"][:23]
    frame = jobs.to_pandas()
    assert str(frame["date"].dtype) == "datetime64[ns, UTC]"
    assert frame["measured"][0] == ["unit:band:r", "unit:instrument:DemoCam"]   # lists stay
    assert jobs.to_table()["measured"].dtype == object
    same = repo.metric_jobs("validate_drp.PA1", ">", 0.015, "mag")   # units convert
    assert [r["job"] for r in same] == [r["job"] for r in jobs]
    trend = repo.metric_trend("validate_drp.PA1")
    cli_trend = _json("metrics", "trend", "validate_drp.PA1", "--repo", str(demo_repo), "--json")
    assert [r["job"] for r in trend] == [r["job"] for r in cli_trend["jobs"]]
    assert trend.specifications == cli_trend["specifications"]
    assert trend.to_table()["date"].scale == "utc"
    specs = repo.metric_job(jobs[0]["job"])
    assert {r["spec"]: r["passed"] for r in specs}["spec:validate_drp.PA1.design"] is False


def test_lightcurve_epochs_with_tai_times(repo, demo_repo):
    sources = sorted((demo_repo / "datastore/DemoCam/runs/DR2/dia_source").glob("*.parq"))
    counts = pd.concat([pd.read_parquet(f) for f in sources])["diaObjectId"].value_counts()
    obj = int(counts.index[0])
    epochs = repo.lightcurve(obj, "DemoCam/DR2")
    cli = _json("lightcurve", str(obj), "--collection", "DemoCam/DR2", "--repo",
                str(demo_repo), "--json")["epochs"]
    assert [(r["visit"], r["flux"]) for r in epochs] == [(r["visit"], r["flux"]) for r in cli]
    assert epochs[0]["time"].scale == "tai"
    assert epochs[0]["time"].mjd == pytest.approx(epochs[0]["mjd_tai"], abs=1e-9)
    assert epochs.to_table()["time"].scale == "tai"


def test_diff_is_the_commands_summary(repo, demo_repo):
    summary = repo.diff("DemoCam/DR1", "DemoCam/DR2", types=["deepCoadd"])
    out = run("diff", "DemoCam/DR1", "DemoCam/DR2", "--type", "deepCoadd", "--repo",
              str(demo_repo), "--json").stdout
    assert summary["totals"] == json.loads(out)["summary"]["totals"]
    assert summary["totals"]["b"] == summary["totals"]["a"] + summary["totals"]["added"] > 0


def test_fetch_and_get(repo, tmp_path):
    planned = repo.fetch(SELECTOR, tmp_path / "calexps", direction="down", types="calexp",
                         dry_run=True)
    assert not (tmp_path / "calexps").exists()
    assert planned and all(r["dataset_type"] == "calexp" for r in planned)
    assert planned[0]["data_id"]["visit"] == str(VISIT)
    done = repo.fetch(SELECTOR, tmp_path / "calexps", direction="down", types="calexp")
    assert [r["key"] for r in done] == [r["key"] for r in planned]
    assert {r["status"] for r in done} == {"copied"}
    assert (tmp_path / "calexps" / "manifest.json").is_file()
    calexp = repo.downstream(SELECTOR, types="calexp")[0]
    cut = repo.get(calexp, box=(slice(0, 10), slice(0, 12)))   # a result row names a dataset
    assert cut.shape == (10, 12)
    assert repo.get(calexp["uuid"], box=(slice(0, 10), slice(0, 12))).shape == (10, 12)


def test_flag_workflow_on_its_own_repository(tmp_path):
    root = tmp_path / "repo"
    run("demo", "--small", "--repo", str(root), "--json")
    repo = lineage.Repository(root)   # without `with`: closed by close()
    try:
        dry = repo.flag(SELECTOR, "bad", "satellite trail", "https://example.org/DRB-42", "drb",
                        dry_run=True)
        assert dry["dry_run"] and "flag" not in dry and len(repo.flags()) == 0
        report = repo.flag(SELECTOR, "bad", "satellite trail", "https://example.org/DRB-42",
                           "drb")
        assert report["blast_radius"]["by_dataset_type"] == dry["blast_radius"]["by_dataset_type"]
        flags = repo.flags()
        assert [f["key"] for f in flags] == [report["flag"]]
        assert flags[0]["created_at"].scale == "utc"
        assert str(flags.to_pandas()["created_at"].dtype) == "datetime64[ns, UTC]"
        coadds = repo.contaminated(types="deepCoadd")
        assert {r["uuid"] for r in coadds} == \
            {r["uuid"] for r in repo.downstream(SELECTOR, types="deepCoadd")}
        assert all(0 < r["fraction"] <= 1 and r["flag"] == report["flag"] and
                   r["reason"] == "satellite trail" for r in coadds)
        every = repo.contaminated()
        assert len(every) == sum(report["blast_radius"]["by_dataset_type"].values())
        assert len(repo.contaminated(min_fraction=1.0)) < len(every)
        assert repo.contaminated(verdict="suspect") == []
        one = repo.contamination(coadds[0]["uuid"])
        assert one["contaminated"] and one["by"][0]["fraction"] == coadds[0]["fraction"]
        plan = repo.plan()
        assert json_ready(plan) == _json("flags", "plan", "--repo", str(root), "--json")
        retracted = repo.unflag(report["flag"], "false alarm", "drb")
        assert retracted["retracted_at"]
        assert repo.contaminated() == [] and len(repo.flags(include_retracted=True)) == 1
        table = repo.flags(include_retracted=True).to_table()
        assert table["retracted_at"].scale == "utc" and not table["retracted_at"].mask.any()
    finally:
        repo.close()


def test_errors_are_the_librarys_own(repo, tmp_path):
    with pytest.raises(UnknownName, match="'deepcoadd': no such dataset type; "
                                          r"did you mean deepCoadd\?") as wrong_case:
        repo.downstream(SELECTOR, types=["deepcoadd"])
    assert wrong_case.value.field == "types"
    with pytest.raises(UnknownName, match="'coadd'"):
        repo.contaminated(types="coadd")
    with pytest.raises(SelectorError, match="bad selector 'visit 1228'"):
        repo.downstream("visit 1228")
    with pytest.raises(SelectorError, match="no such node"):
        repo.show("dataset:00000000-0000-0000-0000-000000000000")
    with pytest.raises(UserError, match="'terrible': must be one of bad, suspect") as verdict:
        repo.contaminated(verdict="terrible")
    assert verdict.value.field == "verdict"
    with pytest.raises(LineageError):
        repo.metric_jobs("validate_drp.PA1", ">", 15, "furlongs")
    with pytest.raises(RepoError, match="not a lineage repository"):
        lineage.Repository(tmp_path)


def test_a_result_with_missing_values_masks_them():
    t = Time("2026-03-01T00:00:00", scale="utc")
    rows = Result([{"when": t, "n": 1, "name": "a"}, {"when": None, "n": None, "name": None}])
    table = rows.to_table()
    assert list(table["when"].mask) == [False, True] and table["when"].scale == "utc"
    assert list(table["n"].mask) == [False, True] and list(table["name"].mask) == [False, True]
    frame = rows.to_pandas()
    assert frame["when"].isna().tolist() == [False, True]


def test_contaminated_lists_the_marks_of_active_flags(demo_store):
    """``flags.records.contaminated`` (under ``Repository.contaminated``) on every engine."""
    from lineage.flags import flag, marks, unflag
    from lineage.flags.records import contaminated
    report = flag(demo_store, SELECTOR, "suspect", "focus", "https://example.org/1", "drb",
                  now="2026-03-02T00:00:00.000000Z")
    rows = contaminated(demo_store)
    marked = {k: v for k, v in marks(demo_store, report["flag"]).items()
              if k.startswith("dataset:")}
    assert {r["dataset"]["key"]: (r["steps"], r["fraction"]) for r in rows} == marked
    assert len(rows) == len(marked) and {r["verdict"] for r in rows} == {"suspect"}
    types = [r["dataset"]["dataset_type"] for r in rows]
    assert types == sorted(types)
    assert contaminated(demo_store, verdict="bad") == []
    assert contaminated(demo_store, as_of="2026-03-01") == []
    unflag(demo_store, report["flag"], "wrong", "drb", now="2026-03-03T00:00:00.000000Z")
    assert contaminated(demo_store) == []
    then = contaminated(demo_store, as_of="2026-03-02T12:00:00")  # the flag was active
    # ... but the demo's runs had not yet made their outputs (the as-of rule, docs/lineage.md)
    assert then and {r["dataset"]["key"] for r in then} < {r["dataset"]["key"] for r in rows}
    assert {r["dataset"]["dataset_type"] for r in then} == {"raw"}


def test_a_repository_over_bolt_answers_as_the_embedded_one(repo, shared_demo, arcadedb_server,
                                                            monkeypatch):
    """``Repository("bolt://...")``: the small demo in an ArcadeDB database, over Bolt."""
    from .conftest import SHARED_DATABASE
    shared_demo.get("arcadedb")
    monkeypatch.setenv("LINEAGE_BOLT_PASSWORD", arcadedb_server.password)
    uri = arcadedb_server.settings.uri.replace("bolt://", "bolt://root@") + "/" + SHARED_DATABASE
    with lineage.Repository(uri) as bolt:
        assert bolt.downstream(SELECTOR, types="deepCoadd") == \
            repo.downstream(SELECTOR, types="deepCoadd")
        assert bolt.count(SELECTOR) == repo.count(SELECTOR)


def test_compare_visits_and_inputs(repo, demo_repo):
    both = repo.compare_visits("seeing < 0.7", "seeing >= 0.7", types="calexp")
    cli = _json("visits", "seeing < 0.7", "--versus", "seeing >= 0.7", "--type", "calexp",
                "--repo", str(demo_repo), "--json")
    assert both == cli and both["a"]["visits"] + both["b"]["visits"] == SMALL.visits
    coadd = repo.downstream(SELECTOR, types="deepCoadd")[0]
    inputs = repo.inputs(coadd["uuid"], types="calexp")
    cli_inputs = _json("flags", "inputs", coadd["uuid"], "--type", "calexp", "--repo",
                       str(demo_repo), "--json")
    assert [(r["uuid"], r["flagged"]) for r in inputs] == \
        [(r["uuid"], r["flagged"]) for r in cli_inputs]
    assert str(VISIT) in {r["data_id"]["visit"] for r in inputs}
    assert inputs.to_pandas()["flagged"].dtype == bool
    assert "Repository" in dir(lineage)


def test_downstream_as_of_a_release_and_capped(repo):
    """``as_of`` and ``max_nodes`` reach the traversal as ``--as-of`` and ``--max-nodes`` do."""
    now = repo.downstream(SELECTOR, types="deepCoadd")
    then = repo.downstream(SELECTOR, types="deepCoadd", as_of="DR1")
    assert {r["run"] for r in now} == {"DemoCam/runs/DR1", "DemoCam/runs/DR2"}
    assert {r["run"] for r in then} == {"DemoCam/runs/DR1"} and not then.truncated
    assert [r["uuid"] for r in then] == [r["uuid"] for r in now if r["run"].endswith("DR1")]
    capped = repo.downstream(SELECTOR, types="deepCoadd", max_nodes=5)
    assert capped.truncated and len(capped) < len(now)

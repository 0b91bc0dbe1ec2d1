"""Metric-job lookups (issue #7): filters, recording, the regression trend, the CLI and
GraphQL; expectations come from the real job files and from the demo generator's
definition, never from running the code under test."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from lineage import metrics as M
from lineage.demo import CI_JOBS, CI_REGRESSION_AT, SOFTWARE, SPECIFICATIONS
from lineage.ingest.driver import ingest
from lineage.metrics.record import record
from lineage.metrics.trend import package_changes, trend

from .cli_runner import run


@pytest.fixture
def real_jobs(store, real_data):
    folder = real_data("metrics", "squash_rest_api")
    assert not ingest(store, "metrics", [folder], show_progress=False).rejected
    docs = {}
    for path in sorted(folder.glob("*.json")):
        key = store.read("MATCH (j:Job {source_file: $f}) RETURN j.key", {"f": path.name})[0][0]
        docs[key] = json.loads(path.read_text())
    return docs


def _packages(doc) -> dict[str, str]:
    packages = doc["meta"].get("packages") or {}
    if isinstance(packages, list):
        packages = {p["name"]: p for p in packages}
    return {n: str(p.get("eups_version") or p.get("version") or p.get("git_sha") or "")
            for n, p in packages.items()}


def test_filters_on_real_jobs_follow_the_files(store, real_jobs):
    every = set(real_jobs)
    by_instrument = {k for k, d in real_jobs.items() if d["meta"].get("instrument")}
    assert by_instrument, "one of the real jobs names its instrument"
    for job in by_instrument:
        doc = real_jobs[job]
        name = doc["meta"]["instrument"]
        for spelling in (name, name.lower(), "MegaPrime" if name.upper() == "CFHT" else name):
            rows = M.select(store, "validate_drp.PA1", M.JobFilter(instrument=spelling))
            assert {r.job for r in rows} == {k for k, d in real_jobs.items()
                                             if d["meta"].get("instrument") == name}
        band = doc["meta"]["filter_name"]
        assert {r.job for r in M.select(store, "validate_drp.PA1",
                                        M.JobFilter(filter_name=band))} == \
            {k for k, d in real_jobs.items() if d["meta"].get("filter_name") == band}
    assert M.select(store, "validate_drp.PA1", M.JobFilter(instrument="HSC")) == []
    for job, doc in real_jobs.items():
        name, version = sorted(_packages(doc).items())[0]
        found = {r.job for r in M.select(store, "validate_drp.PA1",
                                         M.JobFilter(software=f"{name}=={version}"))}
        assert found == {k for k, d in real_jobs.items() if _packages(d).get(name) == version}
        assert job in found
    assert {r.job for r in M.jobs_where(store, "validate_drp.PA1", ">", 0, "mmag")} == every


def test_trend_keeps_missing_values_missing(store, real_jobs):
    frame = trend(store, "validate_drp.AM3", unit="arcsec")
    values = {}
    for job, doc in real_jobs.items():
        for m in doc["measurements"]:
            if m["metric"] == "validate_drp.AM3":
                values[job] = m["value"]
    assert set(frame["job"]) == set(values) and values
    for _, row in frame.iterrows():
        if math.isnan(values[row["job"]]):
            assert math.isnan(row["value"]) and row["value"] != 0
        else:
            assert row["value"] == pytest.approx(values[row["job"]] / 1000, rel=1e-12)
    assert M.jobs_where(store, "validate_drp.AM3", "!=", 0, "mas") == [] or \
        all(not math.isnan(values[r.job]) for r in M.jobs_where(store, "validate_drp.AM3",
                                                                "!=", 0, "mas"))
    # in time order, whatever the keys
    assert list(frame["mjd_tai"]) == sorted(frame["mjd_tai"])


def test_demo_trend_shows_the_software_change_where_it_happened(demo_store_ro):
    frame = trend(demo_store_ro, "validate_drp.PA1", M.JobFilter(dataset="ci_demo"), unit="mag")
    assert list(frame["job"]) == [f"job:ci_demo/{n + 1}" for n in range(CI_JOBS)]
    assert (frame["unit"] == "mag").all() and frame["value"].between(0.005, 0.03).all()
    changed = frame[frame["changed"] != ""]
    assert list(changed["job"]) == [f"job:ci_demo/{CI_REGRESSION_AT + 1}"]
    old, new = (SOFTWARE[v] for v in sorted(SOFTWARE))
    assert changed.iloc[0]["changes"] == [
        {"package": p, "before": old[p], "after": new[p]} for p in sorted(old) if old[p] != new[p]]
    before = frame["value"][:CI_REGRESSION_AT].mean()
    after = frame["value"][CI_REGRESSION_AT:].mean()
    assert after - before > 0.003   # the regression the generator puts there, in mag
    (spec,) = [s for s in frame.attrs["specifications"]]
    _, op, threshold, unit = SPECIFICATIONS[spec["spec"].removeprefix("spec:")]
    assert spec["operator"] == op and spec["threshold"] == pytest.approx(threshold / 1000)
    for _, row in frame.iterrows():
        checks = {r.spec: r.passed for r in M.evaluate_specs(demo_store_ro, row["job"])}
        assert checks["spec:validate_drp.PA1.design"] is (row["value"] * 1000 <= threshold)


def test_package_changes():
    assert package_changes({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "9"}) == [
        {"package": "b", "before": "2", "after": "3"},
        {"package": "c", "before": None, "after": "9"}]


def _count(store, label):
    return store.read(f"MATCH (n:{label}) RETURN count(n)")[0][0]


def test_record_round_trip_and_refusals(demo_store):
    store = demo_store
    jobs_before = _count(store, "Job")
    done = record(store, {"validate_drp.PA1": "13.5 mmag", "validate_drp.AM1": (0.0081, "arcsec"),
                          "pipe_tasks.CharacterizeImageTime": float("nan")},
                  job="ci_demo/extra", software="w.2026.20", measured=["DemoCam/DR2"],
                  date="2026-03-20T01:00:00Z", instrument="DemoCam", filter_name="r",
                  dataset_name="ci_demo")
    assert done.job == "job:ci_demo/extra" and done.nodes_created >= 4
    assert done.missing == ("pipe_tasks.CharacterizeImageTime",)
    (row,) = M.jobs_where(store, "validate_drp.AM1", "==", 8.1, "mas",
                          where=M.JobFilter(dataset="DemoCam/DR2", since="2026-03-20"))
    assert row.job == done.job and row.software == "software:w.2026.20"
    assert row.value == pytest.approx(0.0081) and row.unit == "arcsec"
    (missing,) = [r for r in M.measurements(store, "pipe_tasks.CharacterizeImageTime")
                  if r.job == done.job]
    assert missing.value is None
    for op in ("<", ">=", "!="):
        assert done.job not in {r.job for r in M.jobs_where(
            store, "pipe_tasks.CharacterizeImageTime", op, 0, "s")}
    again = record(store, {"validate_drp.PA1": "13.5 mmag", "validate_drp.AM1": (0.0081, "arcsec"),
                           "pipe_tasks.CharacterizeImageTime": float("nan")},
                   job="ci_demo/extra", software="w.2026.20", measured=["DemoCam/DR2"],
                   date="2026-03-20T01:00:00Z", instrument="DemoCam", filter_name="r",
                   dataset_name="ci_demo")
    assert (again.nodes_created, again.edges_created) == (0, 0)
    nodes = store.read("MATCH (n) RETURN count(n)")[0][0]
    with pytest.raises(M.MetricError, match="software:w.2099"):
        record(store, {"validate_drp.PA1": "1 mmag"}, job="bad/1", software="w.2099")
    with pytest.raises(M.MetricError, match="validate_drp.PA1: 'twelve' is not a number"):
        record(store, {"validate_drp.PA1": "twelve"}, job="bad/2")
    with pytest.raises(M.MetricError, match="does not convert"):
        record(store, {"validate_drp.PA1": "12 arcsec"}, job="bad/3")
    with pytest.raises(M.MetricError, match="name it <package>.<metric>"):
        record(store, {"PA1": 3.0}, job="bad/4")
    assert store.read("MATCH (n) RETURN count(n)")[0][0] == nodes
    assert _count(store, "Job") == jobs_before + 1


def _cli(*args):
    return run(*args, env={"LINEAGE_NO_PROGRESS": "1"})


def run_query(repo, document: str) -> dict:
    from lineage.api.local import run_local
    from lineage.store.repo import open_store
    with open_store(repo) as store:
        return asyncio.run(run_local(store, document, None, None, repo_dir=repo))


def test_cli_and_graphql_give_the_same_jobs(repo, small_units, tmp_path):
    from lineage.ingest import write_units
    from lineage.store.repo import open_store
    with open_store(repo) as store:
        write_units(store, small_units, show_progress=False)
        expected = [r.job for r in M.jobs_where(store, "validate_drp.PA1", ">", 15, "mmag")]
    assert expected
    out = _cli("metrics", "jobs", "validate_drp.PA1 > 0.015 mag", "--repo", str(repo), "--json")
    assert out.returncode == 0, out.stderr
    assert [r["job"] for r in json.loads(out.stdout)] == expected
    answer = run_query(str(repo), 'query { jobs(metric: "validate_drp.PA1", op: ">", value: 15, '
                                  'unit: "mmag") { job { key } value unit } }')
    assert [r["job"]["key"] for r in answer["data"]["jobs"]] == expected
    plot = tmp_path / "trend.png"
    out = _cli("metrics", "trend", "validate_drp.PA1", "--dataset", "ci_demo", "--plot",
               str(plot), "--repo", str(repo), "--json")
    assert out.returncode == 0, out.stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    points = json.loads(out.stdout)["jobs"]
    answer = run_query(str(repo), 'query { metricTrend(metric: "validate_drp.PA1", '
                                  'filter: {dataset: "ci_demo"}) { points { job { key } value '
                                  'changes { package } } } }')
    assert [(p["job"]["key"], p["value"]) for p in answer["data"]["metricTrend"]["points"]] == \
        [(p["job"], p["value"]) for p in points]
    out = _cli("metrics", "record", "validate_drp.PA1=12 mmag", "--software", "w.2099",
               "--repo", str(repo))
    assert out.returncode == 2 and "lineage: error: not in the repository: software:w.2099" \
        in out.stderr
    out = _cli("metrics", "jobs", "validate_drp.PA1 >> 3", "--repo", str(repo))
    assert out.returncode == 2 and "METRIC OP VALUE" in out.stderr
    answer = run_query(str(repo), 'query { jobs(metric: "validate_drp.PA1", op: ">", value: 1, '
                                  'unit: "arcsec") { value } }')
    assert "does not convert" in answer["errors"][0]["message"]


def test_cli_and_graphql_show_the_blobs_of_a_real_job(repo, real_data):
    """SQR6: `lineage metrics job JOB --show blobs` and GraphQL `Measurement.blobs` list the
    blobs each measurement of the real SQuaSH job 768 refers to, as its file says."""
    from lineage.store.repo import open_store
    path = real_data("metrics", "squash_rest_api", "job-768.json")
    with open_store(repo) as store:
        assert not ingest(store, "metrics", [path], show_progress=False).rejected
    doc = json.loads(path.read_text())
    names = {b["identifier"]: b["name"] for b in doc["blobs"]}
    expected = sorted((m["metric"], f"blob:{ref}") for m in doc["measurements"]
                      for ref in m["blob_refs"])
    out = _cli("metrics", "job", "squash/768", "--show", "blobs", "--repo", str(repo), "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["blobs"]
    assert sorted((r["metric"], r["blob"]) for r in rows) == expected
    assert all(r["name"] == names[r["blob"].removeprefix("blob:")] for r in rows)
    answer = run_query(str(repo), '{ node(key: "measurement:squash/768/validate_drp.PA1") { '
                                  '... on Measurement { blobs { key name digest size } } } }')
    blobs = answer["data"]["node"]["blobs"]
    assert sorted(b["key"] for b in blobs) == sorted(
        b for m, b in expected if m == "validate_drp.PA1")
    by_key = {r["blob"]: r for r in rows}
    assert all(b["digest"] == by_key[b["key"]]["digest"] for b in blobs)
    out = _cli("metrics", "job", "squash/1", "--show", "blobs", "--repo", str(repo))
    assert out.returncode == 2 and "no such job: job:squash/1" in out.stderr


def test_a_job_is_linked_to_the_butler_data_its_metadata_names(repo, real_data, tmp_path):
    """SQR4: the real SQuaSH job 768 with a Butler RUN, datasets and a quantum named in its
    metadata (as the real file names its CI build) is linked to those stored; what is not
    stored is listed, never dropped in silence; `lineage
    metrics job JOB --show data` and the Python API list what it measured."""
    from lineage.repository import Repository
    from lineage.store.repo import open_store
    export = real_data("butler_exports", "daf_butler", "ci_hsc-subset.yaml")
    real = real_data("metrics", "squash_rest_api", "job-768.json")
    doc = json.loads(real.read_text())
    with open_store(repo) as store:
        assert not ingest(store, "metrics", [real], show_progress=False).rejected
        assert M.job_data(store, "job:squash/768") == []  # the real file names no Butler data
        assert not ingest(store, "butler-export", [export], show_progress=False).rejected
        run = store.read("MATCH (c:Collection {collection_type: 'RUN'}) RETURN c.key "
                         "ORDER BY c.key LIMIT 1")[0][0]
        datasets = [r[0] for r in store.read(
            "MATCH (:Collection {key: $c})-[:CONTAINS]->(d:Dataset) RETURN d.key "
            "ORDER BY d.key LIMIT 3", {"c": run})]
    quantum = "quantum:2f7e6a1c-4d1b-4e8a-9b35-0c6f1d2e3a4b"   # no such quantum is stored
    doc["_job_number"] = 90768
    doc["meta"]["run"] = run.removeprefix("collection:")
    doc["meta"]["env"]["dataset_ids"] = [d.removeprefix("dataset:") for d in datasets]
    doc["meta"]["quantum_ids"] = [quantum.removeprefix("quantum:")]
    named = tmp_path / "job-768-named.json"
    named.write_text(json.dumps(doc))
    with open_store(repo) as store:
        summary = ingest(store, "metrics", [named], show_progress=False)
        assert not summary.rejected, summary.files[0].error
        assert summary.files[0].skipped == [
            f"meta.quantum_ids: {quantum} is not stored; not linked (ingest it, then this "
            "job again)"]
        rows = M.job_data(store, "job:squash/90768")
    assert sorted(r.key for r in rows) == sorted([run, *datasets])
    assert {r.kind for r in rows} == {"Collection", "Dataset"}
    assert all(r.run == run.removeprefix("collection:") for r in rows if r.kind == "Dataset")
    out = _cli("metrics", "job", "squash/90768", "--show", "data", "--repo", str(repo),
               "--json")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)["measured"]
    assert [(r["kind"], r["key"], r["name"]) for r in listed] == \
        [(r.kind, r.key, r.name) for r in rows]
    with Repository(repo) as lineage_repo:
        assert [r["key"] for r in lineage_repo.metric_job("squash/90768", show="data")] == \
            [r.key for r in rows]
    doc["meta"]["quantum_ids"] = ["not-a-uuid"]
    named.write_text(json.dumps(doc))
    with open_store(repo) as store:
        summary = ingest(store, "metrics", [named], show_progress=False)
    assert "field meta.quantum_ids: 'not-a-uuid' is not a UUID" in summary.files[0].error

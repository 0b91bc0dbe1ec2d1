"""lineage.metrics: unit-aware comparisons, lookups over stored jobs and spec
evaluation; answers checked against the real job files parsed here."""

from __future__ import annotations

import json
import math

import astropy.units as u
import pytest
from astropy.time import Time

from lineage import metrics as M
from lineage.ingest.driver import ingest

OPS = ("<", "<=", ">", ">=", "==", "!=")
PYTHON_OPS = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__,
              "==": float.__eq__, "!=": float.__ne__}


# --- compare (no store) ----------------------------------------------------------

@pytest.mark.parametrize("op,expected", [("==", True), ("<=", True), (">=", True),
                                         ("!=", False), ("<", False), (">", False)])
def test_15_mas_is_0_015_arcsec(op, expected):
    assert M.compare(15.0, "mas", op, 0.015, "arcsec") is expected
    assert M.compare(0.015, "arcsec", op, 15.0, "marcsec") is expected
    assert M.compare(24.9, "mmag", op, 0.0249, "mag") is expected


@pytest.mark.parametrize("op", OPS)
def test_a_missing_value_never_matches(op):
    assert M.compare(float("nan"), "mmag", op, 0.0, "mmag") is False
    assert M.compare(None, "mmag", op, 0.0, "mmag") is False


def test_compare_orders_and_rejects_what_it_cannot_compare():
    assert M.compare(16.7, "mmag", ">", 15, "mmag")
    assert M.compare(7.7, "marcsec", "<", 10, "marcsec")
    assert M.compare(10.2, "%", "<=", 0.2, "")          # 10.2 % is 0.102
    with pytest.raises(M.MetricError, match="does not convert"):
        M.compare(16.7, "mmag", ">", 15, "arcsec")
    with pytest.raises(M.MetricError, match="unknown operator"):
        M.compare(1, "", "=>", 1, "")
    with pytest.raises(M.MetricError, match="unknown unit 'furlongz'"):
        M.compare(1, "furlongz", "<", 1, "")


def test_meta_query_is_lsst_verify_s():
    meta = {"instrument": "CFHT", "filter_name": "r"}
    assert M.meta_matches({}, meta)
    assert M.meta_matches({"instrument": "CFHT"}, meta)
    assert not M.meta_matches({"instrument": "HSC"}, meta)
    assert not M.meta_matches({"instrument": "CFHT", "visits": [1, 2]}, meta)


# --- lookups on the real jobs ----------------------------------------------------

@pytest.fixture
def jobs(store, real_data):
    """Both real jobs ingested; their documents by job key."""
    folder = real_data("metrics", "squash_rest_api")
    summary = ingest(store, "metrics", [folder], show_progress=False)
    assert not summary.rejected
    out = {}
    for path in sorted(folder.glob("*.json")):
        key = store.read("MATCH (j:Job {source_file: $f}) RETURN j.key", {"f": path.name})[0][0]
        out[key] = json.loads(path.read_text())
    return out


def _values(doc, metric):
    return [m for m in doc["measurements"] if m["metric"] == metric]


def _date(doc) -> Time:
    return Time(doc["meta"]["env"]["date"].replace("+00:00", "").rstrip("Z"), scale="utc")


def test_measurements_lists_missing_values_as_none(store, jobs):
    for metric in ("validate_drp.AM1", "validate_drp.AM3", "validate_drp.PA1"):
        rows = {r.job: r for r in M.measurements(store, metric)}
        expected = {job: _values(doc, metric) for job, doc in jobs.items() if _values(doc, metric)}
        assert set(rows) == set(expected)
        for job, (m,) in expected.items():
            if math.isnan(m["value"]):
                assert rows[job].value is None and rows[job].value_in_metric_unit is None
            else:
                assert rows[job].value == pytest.approx(m["value"], rel=1e-14)
                assert rows[job].software and rows[job].software.startswith("software:")


QUERIES = [("validate_drp.PA1", 20.0, "mmag"), ("validate_drp.PA1", 0.02, "mag"),
           ("validate_drp.AM1", 15.0, "mas"), ("validate_drp.AM1", 0.015, "arcsec"),
           ("validate_drp.AM3", 0.0, "mas")]


def test_jobs_where_equals_the_files(store, jobs):
    for metric, threshold, unit in QUERIES:
        for op in OPS:
            found = {r.job for r in M.jobs_where(store, metric, op, threshold, unit)}
            expected = set()
            for job, doc in jobs.items():
                for m in _values(doc, metric):
                    if math.isnan(m["value"]):
                        continue  # NaN is never a match, not even for !=
                    measured = (m["value"] * u.Unit(m["unit"])).to_value(u.Unit(unit))
                    if PYTHON_OPS[op](float(measured), threshold):
                        expected.add(job)
            assert found == expected, (metric, op, threshold, unit)
            if metric == "validate_drp.AM3":
                assert found == set()


def test_jobs_where_between_dates(store, jobs):
    dates = {job: _date(doc) for job, doc in jobs.items()}
    first = min(dates, key=dates.get)
    later = {r.job for r in M.jobs_where(store, "validate_drp.AM1", ">", 0, "mas",
                                         since=dates[first].isot + "+00:00")}
    assert later == set(jobs)  # since is inclusive
    just_after = Time(dates[first].mjd + 1 / 86400, format="mjd", scale="utc").isot
    assert {r.job for r in M.jobs_where(store, "validate_drp.AM1", ">", 0, "mas",
                                        since=just_after)} == set(jobs) - {first}
    assert {r.job for r in M.jobs_where(store, "validate_drp.AM1", ">", 0, "mas",
                                        until=just_after)} == {first}
    with pytest.raises(M.MetricError, match="cannot compare"):
        M.jobs_where(store, "validate_drp.AM1", ">", 1, "mmag")


def test_spec_evaluation_equals_the_job_file(store, real_data):
    path = real_data("metrics", "squash_rest_api", "verify_job.json")
    ingest(store, "metrics", [path], show_progress=False)
    doc = json.loads(path.read_text())
    job = store.read("MATCH (j:Job) RETURN j.key")[0][0]
    meta = {k: v for k, v in doc["meta"].items() if k != "packages"}
    measured = {m["metric"]: m for m in doc["measurements"]}
    expected = {}
    for spec in doc["specs"]:
        metric = spec["name"].rsplit(".", 1)[0]
        query = spec["metadata_query"]
        if metric not in measured or any(meta.get(k) != v for k, v in query.items()):
            continue
        m, t = measured[metric], spec["threshold"]
        if math.isnan(m["value"]):
            expected[f"spec:{spec['name']}"] = None
            continue
        value = (m["value"] * u.Unit(m["unit"])).to_value(u.Unit(t["unit"]))
        expected[f"spec:{spec['name']}"] = PYTHON_OPS[t["operator"]](float(value), t["value"])
    results = {r.spec: r.passed for r in M.evaluate_specs(store, job)}
    assert results == expected
    assert None in results.values() and True in results.values() and False in results.values()
    with pytest.raises(M.MetricError, match="no such job"):
        M.evaluate_specs(store, "job:nowhere")


def test_demo_jobs_answer_too(demo_store_ro):
    """The demo's jobs (dates in TAI, no value_in_metric_unit) answer the same lookups."""
    rows = M.measurements(demo_store_ro, "validate_drp.PA1")
    assert rows and all(r.value is not None for r in rows)
    high = {r.job for r in rows if r.value > 12}
    assert {r.job for r in M.jobs_where(demo_store_ro, "validate_drp.PA1", ">", 0.012, "mag")} == high

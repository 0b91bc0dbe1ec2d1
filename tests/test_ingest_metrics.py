"""`lineage ingest metrics` on the real SQuaSH / lsst.verify samples in
``../shared/data/real/metrics``: every count and value is checked against the
files themselves, parsed here with plain json/yaml."""

from __future__ import annotations

import json
import math
from pathlib import Path

import astropy.units as u
import pytest
import yaml
from astropy.time import Time

from lineage.ingest.driver import ingest
from lineage.core.model import package_set_key

JOBS = ("verify_job.json", "job-768.json")


def _run(store, *paths):
    return ingest(store, "metrics", paths, show_progress=False)


def _count(store, label: str) -> int:
    return store.read(f"MATCH (n:{label}) RETURN count(n)")[0][0]


def _props(store, key: str) -> dict:
    rows = store.read("MATCH (n {key: $k}) RETURN properties(n)", {"k": key})
    assert rows, f"{key} not stored"
    return dict(rows[0][0])


def _job(path: Path) -> dict:
    return json.loads(path.read_text())


def _job_key(store, path: Path) -> str:
    rows = store.read("MATCH (j:Job {source_file: $f}) RETURN j.key", {"f": path.name})
    assert len(rows) == 1
    return rows[0][0]


def _yaml_specs(path: Path) -> dict[str, dict]:
    """Specification documents of a spec file, by full name, with the partial they name
    merged in (the real files use one level of ``base: '#id'`` in the same file)."""
    package = path.parent.name
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    partials = {d["id"]: d for d in docs if "id" in d}
    out = {}
    for d in docs:
        if "id" in d:
            continue
        base = partials[d["base"].lstrip("#")] if "base" in d else {}
        metric = d.get("metric", base.get("metric"))
        if "." not in metric:
            metric = f"{package}.{metric}"
        threshold = {**base.get("threshold", {}), **d.get("threshold", {})}
        out[f"{metric}.{d['name']}"] = {"metric": metric, **threshold}
    return out


def _yaml_metrics(folder: Path) -> dict[str, dict]:
    out = {}
    for f in sorted(folder.glob("*.yaml")):
        for name, definition in yaml.safe_load(f.read_text()).items():
            out[f"{f.stem}.{name}"] = definition
    return out


def test_every_real_file_ingests_with_counts_from_the_files(store, real_data):
    root = real_data("metrics")
    jobs = [_job(real_data("metrics", "squash_rest_api", j)) for j in JOBS]
    yaml_metrics = _yaml_metrics(root / "verify_metrics" / "metrics")
    yaml_specs = {}
    for f in sorted((root / "verify_metrics" / "specs").rglob("*.yaml")):
        yaml_specs.update(_yaml_specs(f))

    summary = _run(store, root)

    assert not summary.rejected, [f.error for f in summary.rejected]
    by_name = {Path(f.path).name: f for f in summary.files}
    task_metadata = by_name["DM-54057.json"]
    assert task_metadata.nodes_in == 0 and "lineage ingest run" in task_metadata.skipped[0]
    measurements = sum(len(j["measurements"]) for j in jobs)
    nans = sum(1 for j in jobs for m in j["measurements"]
               if m["value"] is None or math.isnan(m["value"]))
    assert nans == 7
    assert by_name["verify_job.json"].counts["missing values"] == nans
    assert len(by_name["verify_job.json"].skipped) == nans
    job_specs = {s["name"] for j in jobs for s in j.get("specs", [])}
    metrics = (set(yaml_metrics) | {m["name"] for j in jobs for m in j.get("metrics", [])}
               | {m["metric"] for j in jobs for m in j["measurements"]}
               | {n.rsplit(".", 1)[0] for n in job_specs} | {s["metric"] for s in yaml_specs.values()})
    assert _count(store, "Job") == len(jobs)
    assert _count(store, "Measurement") == measurements
    assert _count(store, "Metric") == len(metrics)
    assert _count(store, "Specification") == len(job_specs | set(yaml_specs))
    assert _count(store, "SoftwareVersion") == len(jobs)
    assert store.read("MATCH (:Specification)-[e:SPECIFIES]->(:Metric) RETURN count(e)")[0][0] \
        == len(job_specs | set(yaml_specs))
    assert store.read("MATCH (:Measurement)-[e:OF_METRIC]->(:Metric) RETURN count(e)")[0][0] \
        == measurements
    for job in jobs:
        versions = {n: p["eups_version"] for n, p in job["meta"]["packages"].items()}
        rows = store.read("MATCH (:Job)-[:RAN_WITH]->(s:SoftwareVersion {key: $k}) "
                          "RETURN s.package_list", {"k": package_set_key(versions)})
        assert sorted(rows[0][0]) == sorted(f"{n}=={v}" for n, v in versions.items())

    before = store.count()
    again = _run(store, root)
    # a job's copy of a metric definition and the definition file disagree (description,
    # reference): the later file overwrites the earlier one again and says so
    assert {f.status for f in again.files} <= {"unchanged", "updated", "skipped"}
    assert all(f.updated for f in again.files if f.status == "updated")
    assert store.count() == before


def test_measurements_and_job_metadata_equal_the_file(store, real_data):
    path = real_data("metrics", "squash_rest_api", "verify_job.json")
    doc = _job(path)
    _run(store, path)
    job = _job_key(store, path)
    metric_units = {m["name"]: m["unit"] for m in doc["metrics"]}
    for m in doc["measurements"]:
        p = _props(store, f"measurement:{job.removeprefix('job:')}/{m['metric']}")
        assert u.Unit(p["unit"]) == u.Unit(m["unit"])
        if math.isnan(m["value"]):
            assert "value" not in p and "value_in_metric_unit" not in p  # missing, never 0
            continue
        assert p["value"] == pytest.approx(m["value"], rel=1e-14)
        expected = (m["value"] * u.Unit(m["unit"])).to_value(u.Unit(metric_units[m["metric"]]))
        assert p["value_in_metric_unit"] == pytest.approx(expected, rel=1e-14)
        assert p["identifier"] == m["identifier"]
        assert p["blob_refs"] == m["blob_refs"]
    meta = doc["meta"]
    props = _props(store, job)
    assert props["instrument"] == meta["instrument"]
    assert props["filter_name"] == meta["filter_name"]
    assert props["dataset_repo_url"] == meta["dataset_repo_url"]
    assert props["ci_url"] == meta["env"]["ci_url"] and props["env_name"] == meta["env"]["env_name"]
    when = Time(meta["env"]["date"].replace("+00:00", ""), scale="utc")
    assert props["time_scale"] == "utc"
    assert Time(props["date"], scale="utc") == when
    assert Time(props["date_tai"], scale="tai") == when
    assert props["mjd_tai"] == pytest.approx(when.tai.mjd, abs=1e-9)
    assert json.loads(props["meta"]) == {k: v for k, v in meta.items() if k != "packages"}
    measured = {r[0] for r in store.read("MATCH (:Job {key: $j})-[:MEASURED]->(u:DataUnit) "
                                         "RETURN u.key", {"j": job})}
    assert measured == {"unit:instrument:MegaPrime", f"unit:band:{meta['filter_name']}"}


def test_every_referenced_blob_is_stored_linked_and_its_digest_matches(store, real_data):
    """SQR6: each blob a real job's measurement refers to is a Blob node linked from it;
    its digest and size are those of the blob's data as canonical JSON (computed here with
    hashlib), and its content is kept up to BLOB_CONTENT_MAX bytes."""
    import hashlib

    from lineage.ingest.formats.metrics import BLOB_CONTENT_MAX
    from lineage.metrics import job_blobs

    paths = [real_data("metrics", "squash_rest_api", j) for j in JOBS]
    summary = _run(store, *paths)
    assert not summary.rejected, [f.error for f in summary.rejected]
    for path in paths:
        doc = _job(path)
        job = _job_key(store, path)
        data = {b["identifier"]: b for b in doc["blobs"]}
        expected = {(m["metric"], f"blob:{ref}") for m in doc["measurements"]
                    for ref in m.get("blob_refs") or []}
        rows = job_blobs(store, job)
        assert {(r.metric, r.blob) for r in rows} == expected and len(rows) == len(expected)
        large = 0
        for r in rows:
            blob = data[r.blob.removeprefix("blob:")]
            text = json.dumps(blob["data"], sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode()
            assert r.name == blob["name"]
            assert r.digest == "sha256:" + hashlib.sha256(text).hexdigest()
            assert r.size == len(text)
            if len(text) <= BLOB_CONTENT_MAX:
                assert hashlib.sha256(r.content.encode()).hexdigest() == r.digest[7:]
                assert json.loads(r.content) == json.loads(text)
            else:
                assert r.content is None
                large += 1
        assert large  # the matched catalogues (0.5-0.7 MB) are kept by digest only
        counts = next(f.counts for f in summary.files if Path(f.path) == path)
        assert counts["blobs"] == len(data) == _count_blobs(store, job)
    assert {f.status for f in _run(store, *paths).files} <= {"unchanged", "updated"}


def _count_blobs(store, job: str) -> int:
    return store.read("MATCH (:Job {key: $j})-[:HAS_MEASUREMENT]->()-[:HAS_BLOB]->(b:Blob) "
                      "RETURN count(DISTINCT b)", {"j": job})[0][0]


def test_a_blob_reference_to_no_blob_is_rejected(store, real_data, tmp_path):
    doc = _job(real_data("metrics", "squash_rest_api", "job-768.json"))
    doc["measurements"][2]["blob_refs"].append("0123abcd")
    bad = tmp_path / "ref.json"
    bad.write_text(json.dumps(doc))
    _rejected(store, bad, "measurements[2]", "blob_refs", "0123abcd")


def test_squash_job_number_names_the_job(store, real_data):
    path = real_data("metrics", "squash_rest_api", "job-768.json")
    doc = _job(path)
    _run(store, path)
    props = _props(store, f"job:squash/{doc['_job_number']}")
    assert props["ci_id"] == doc["meta"]["env"]["ci_id"]
    assert Time(props["date"]) == Time(doc["meta"]["env"]["date"].rstrip("Z"), scale="utc")
    values = {r[0]: (r[1], r[2]) for r in store.read(
        "MATCH (:Job {key: $j})-[:HAS_MEASUREMENT]->(m:Measurement) "
        "RETURN m.metric, m.value, m.unit", {"j": f"job:squash/{doc['_job_number']}"})}
    assert {k: pytest.approx(v[0], rel=1e-14) for k, v in values.items()} == \
        {m["metric"]: m["value"] for m in doc["measurements"]}


def test_metric_definitions_and_specifications_equal_the_yaml(store, real_data):
    folder = real_data("metrics", "verify_metrics")
    metrics = _yaml_metrics(folder / "metrics")
    specs = {}
    for f in sorted((folder / "specs").rglob("*.yaml")):
        specs.update(_yaml_specs(f))
    assert not _run(store, folder).rejected
    stored = {r[0]: r[1:] for r in store.read(
        "MATCH (m:Metric) RETURN m.name, m.unit, m.description, m.tags")}
    for name, definition in metrics.items():
        unit, description, tags = stored[name]
        assert u.Unit(unit) == u.Unit(definition["unit"]), name
        assert description == " ".join(definition["description"].split())
        want = definition["tags"]
        assert sorted(tags) == sorted({want} if isinstance(want, str) else set(want))
    stored = {r[0]: r[1:] for r in store.read(
        "MATCH (s:Specification)-[:SPECIFIES]->(m:Metric) "
        "RETURN s.name, m.name, s.operator, s.threshold, s.unit")}
    assert set(stored) == set(specs)
    for name, spec in specs.items():
        metric, op, value, unit = stored[name]
        assert (metric, op, value) == (spec["metric"], spec["operator"], spec["value"])
        assert u.Unit(unit) == u.Unit(spec["unit"])


def test_task_metadata_named_directly_is_skipped_with_the_reason(store, real_data):
    path = real_data("metrics", "pipe_base", "DM-54057.json")
    before = store.count()
    summary = _run(store, path)
    assert summary.files[0].status == "unchanged"
    assert "task-metadata" in summary.files[0].skipped[0]
    assert store.count() == before


def _rejected(store, path: Path, *names: str) -> str:
    before = store.count()
    summary = _run(store, path)
    assert [f.status for f in summary.files] == ["rejected"]
    error = summary.files[0].error
    assert str(path) in error
    for name in names:
        assert name in error, error
    assert store.count() == before
    return error


def test_json_that_is_not_a_job_is_rejected(store, tmp_path):
    bad = tmp_path / "foo.json"
    bad.write_text('{"foo": 1}')
    _rejected(store, bad, "'measurements'", "missing")
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    _rejected(store, listed, "top level")


def test_truncated_job_is_rejected_naming_the_line(store, real_data, tmp_path):
    text = real_data("metrics", "squash_rest_api", "job-768.json").read_text()
    cut = tmp_path / "job-768.json"
    cut.write_text(text[: len(text) // 2])
    expected_line = text[: len(text) // 2].count("\n") + 1
    _rejected(store, cut, f"line {expected_line}", "not valid JSON")


def test_bad_measurement_fields_are_named(store, real_data, tmp_path):
    doc = _job(real_data("metrics", "squash_rest_api", "verify_job.json"))
    doc["measurements"][3]["unit"] = "furlongs"
    bad_unit = tmp_path / "unit.json"
    bad_unit.write_text(json.dumps(doc))
    _rejected(store, bad_unit, "measurements[3]", doc["measurements"][3]["metric"], "furlongs")
    doc = _job(real_data("metrics", "squash_rest_api", "verify_job.json"))
    doc["measurements"][0]["unit"] = "mmag"  # AM1 is an angle
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(doc))
    _rejected(store, wrong, "measurements[0]", "validate_drp.AM1", "marcsec")
    doc = _job(real_data("metrics", "squash_rest_api", "verify_job.json"))
    del doc["measurements"][1]["metric"]
    no_metric = tmp_path / "nometric.json"
    no_metric.write_text(json.dumps(doc))
    _rejected(store, no_metric, "measurements[1]", "'metric'")


def test_bad_specification_yaml_is_rejected(store, real_data, tmp_path):
    source = real_data("metrics", "verify_metrics", "specs", "validate_drp", "LPM-17-PA1.yaml")
    text = source.read_text()
    folder = tmp_path / "specs" / "validate_drp"
    folder.mkdir(parents=True)
    truncated = folder / "truncated.yaml"
    truncated.write_text(text.replace("operator: \"<=\"", "operator: \"<=\n"))
    _rejected(store, truncated, "line", "not valid YAML")
    bad_op = folder / "op.yaml"
    bad_op.write_text(text.replace('operator: "<="', 'operator: "=<"'))
    _rejected(store, bad_op, "threshold.operator", "'=<'")
    bad_base = folder / "base.yaml"
    bad_base.write_text(text.replace('base: "#PA1-base"', 'base: "#nowhere"', 1))
    _rejected(store, bad_base, "line", "#nowhere")
    bad_unit = tmp_path / "metrics.yaml"
    bad_unit.write_text("PA1:\n  description: x\n  unit: furlongz\n")
    _rejected(store, bad_unit, "line 1", "PA1", "furlongz")


def test_specification_inheritance_across_files_and_from_specifications(store, tmp_path):
    folder = tmp_path / "specs" / "mypkg"
    (folder / "sub").mkdir(parents=True)
    (folder / "bases.yaml").write_text(
        "id: common\nmetric: PA1\ntags: [a]\nthreshold: {unit: mmag, operator: '<='}\n"
        "---\nname: design\nbase: '#common'\nthreshold: {value: 5.0}\n")
    (folder / "sub" / "more.yaml").write_text(
        "name: tight\nbase: 'bases#common'\ntags: [b]\nthreshold: {value: 0.003, unit: mag}\n"
        "---\nname: loose\nbase: 'PA1.tight'\nthreshold: {value: 9}\n"
        "metadata_query: {instrument: HSC}\n")
    summary = _run(store, folder / "sub" / "more.yaml")
    assert not summary.rejected, summary.files[0].error
    rows = {r[0]: r[1:] for r in store.read(
        "MATCH (s:Specification)-[:SPECIFIES]->(m:Metric) "
        "RETURN s.key, m.key, s.operator, s.threshold, s.unit, s.tags, s.metadata_query")}
    assert rows == {
        "spec:mypkg.PA1.tight": ("metric:mypkg.PA1", "<=", 0.003, "mag", ["a", "b"], "{}"),
        "spec:mypkg.PA1.loose": ("metric:mypkg.PA1", "<=", 9.0, "mag", ["a", "b"],
                                 '{"instrument": "HSC"}'),
    }
    (folder / "loop.yaml").write_text("name: x\nbase: 'PA1.y'\n---\nname: y\nbase: 'PA1.x'\n")
    _rejected(store, folder / "loop.yaml", "inherits from itself")

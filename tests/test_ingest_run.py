"""`lineage ingest run`: our run format, OpenLineage events, pipe_base task metadata
(Rubin provenance quantum graphs: ``test_ingest_provenance_qg.py``)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from astropy.time import Time

from lineage.traversal import traverse as query
from lineage.ingest.driver import ingest
from lineage.ingest.run_format import schema
from lineage.core.model import dataset_key, quantum_key

RUN = "HSC/runs/test/w_2026_20"
RAW_RUN = "HSC/raw/all"


def _id(*parts) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, "/".join(map(str, parts))))


def run_document() -> dict:
    """Two quanta: raw -> isr -> post_isr_image -> calibrateImage -> calexp, src."""
    exp = {"instrument": "HSC", "exposure": 1228, "detector": 50}
    vis = {"instrument": "HSC", "visit": 1228, "detector": 50}
    raw = {"id": _id("raw"), "dataset_type": "raw", "data_id": exp, "run": RAW_RUN}
    post = {"id": _id("post"), "dataset_type": "post_isr_image", "data_id": exp, "run": RUN}
    calexp = {"id": _id("calexp"), "dataset_type": "calexp", "data_id": vis, "run": RUN,
              "uri": "runs/calexp.fits"}  # below the datastore: absolute file URIs are refused
    src = {"id": _id("src"), "dataset_type": "src", "data_id": vis, "run": RUN}
    return {
        "format": "survey-lineage/run", "version": 1,
        "run": {"collection": RUN, "pipeline": "DRP_PIPE_DIR/pipelines/HSC/DRP-RC2",
                "software": {"name": "w.2026.20", "packages": {"pipe_tasks": "g1a2b3c"}}},
        "quanta": [
            {"id": _id("q-isr"), "task": "isr", "task_class": "lsst.ip.isr.IsrTask",
             "data_id": exp, "status": "successful", "start": "2026-03-01T01:00:00",
             "end": "2026-03-01T01:00:42.5", "time_scale": "tai", "host": "sdfmilan001",
             "peak_memory_mb": 1800.5, "config": {"doBias": True},
             "inputs": [raw], "outputs": [post]},
            {"id": _id("q-cal"), "task": "calibrateImage", "data_id": vis, "status": "failed",
             "start": "2026-03-01T01:01:00Z", "end": "2026-03-01T01:02:00+00:00",
             "time_scale": "utc", "host": "sdfmilan002", "error": "PSF fit failed",
             "software": {"name": "w.2026.21"},
             "inputs": [post], "outputs": [calexp, src]},
        ],
    }


def _write(tmp_path: Path, doc, name="run.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=1))
    return path


def test_our_format_ingests_and_lineage_runs_through_it(store, tmp_path):
    doc = run_document()
    path = _write(tmp_path, doc)
    summary = ingest(store, "run", [path], show_progress=False)
    assert summary.files[0].status == "added", summary.files[0].error

    raw = doc["quanta"][0]["inputs"][0]
    rows = query.downstream(store, dataset_key(raw["id"]))
    outputs = {d["id"]: d for q in doc["quanta"] for d in q["outputs"]}
    assert {r.key for r in rows} == {dataset_key(i) for i in outputs}
    for r in rows:
        assert r.dataset_type == outputs[r.key.split(":", 1)[1]]["dataset_type"]
        assert r.run == RUN
    up = query.upstream(store, dataset_key(outputs[_id("calexp")]["id"]), types=["raw"])
    assert [r.key for r in up] == [dataset_key(raw["id"])]

    for q in doc["quanta"]:
        (row,) = store.read("MATCH (q:Quantum {key: $k}) RETURN q.task, q.status, q.start, "
                            "q.end, q.time_scale, q.host", {"k": quantum_key(q["id"])})
        start = Time(q["start"].rstrip("Z").replace("+00:00", ""), scale=q["time_scale"]).tai.isot
        end = Time(q["end"].rstrip("Z").replace("+00:00", ""), scale=q["time_scale"]).tai.isot
        assert row == (q["task"], q["status"], start, end, "tai", q["host"])
        sw = (q.get("software") or doc["run"]["software"])["name"]
        assert store.read("MATCH (q:Quantum {key: $k})-[:RAN_WITH]->(s) RETURN s.name",
                          {"k": quantum_key(q["id"])}) == [(sw,)]
    # the raw was not in the store: it was made from its reference, with its data units
    assert store.read("MATCH (d:Dataset {key: $k})-[:IDENTIFIED_BY]->(u) RETURN u.key ORDER BY u.key",
                      {"k": dataset_key(raw["id"])}) == [("unit:detector:HSC/50",),
                                                         ("unit:exposure:HSC/1228",)]
    config = store.read("MATCH (:Quantum {key: $k})-[:CONFIGURED_BY]->(c) RETURN c.values",
                        {"k": quantum_key(doc["quanta"][0]["id"])})
    assert json.loads(config[0][0]) == doc["quanta"][0]["config"]

    again = ingest(store, "run", [path], show_progress=False)
    assert again.files[0].status == "unchanged"


def test_inputs_already_stored_are_linked_not_rewritten(engine, tmp_path):
    store = engine.new()
    doc = run_document()
    first = {**doc, "quanta": doc["quanta"][:1]}
    ingest(store, "run", [_write(tmp_path, first, "a.json")], show_progress=False)
    second = {**doc, "quanta": doc["quanta"][1:]}
    second["quanta"][0]["inputs"][0]["dataset_type"] = "calexp"   # contradicts the stored type
    before = store.count()
    bad = ingest(store, "run", [_write(tmp_path, second, "b.json")], show_progress=False)
    assert "is stored as a post_isr_image" in bad.files[0].error
    assert store.count() == before
    second["quanta"][0]["inputs"][0]["dataset_type"] = "post_isr_image"
    ok = ingest(store, "run", [_write(tmp_path, second, "b.json")], show_progress=False)
    assert ok.files[0].status == "added"
    rows = query.downstream(store, dataset_key(doc["quanta"][0]["inputs"][0]["id"]))
    assert len(rows) == 3


@pytest.mark.parametrize("change, path_text", [
    (lambda d: d["quanta"][1].__setitem__("status", "exploded"), "$.quanta[1].status"),
    (lambda d: d["quanta"][0].pop("time_scale"), "$.quanta[0]"),
    (lambda d: d["quanta"][1]["outputs"][0].__setitem__("id", "not-a-uuid"),
     "$.quanta[1].outputs[0].id"),
    (lambda d: d["run"].pop("collection"), "$.run"),
])
def test_schema_invalid_file_names_the_json_path(store, tmp_path, change, path_text):
    doc = run_document()
    change(doc)
    path = _write(tmp_path, doc)
    before = store.count()
    outcome = ingest(store, "run", [path], show_progress=False).files[0]
    assert outcome.status == "rejected"
    assert str(path) in outcome.error and path_text in outcome.error, outcome.error
    assert store.count() == before


def test_truncated_run_file_names_the_line(store, tmp_path):
    text = json.dumps(run_document(), indent=1)
    path = tmp_path / "run.json"
    path.write_text(text[: len(text) // 2])
    before = store.count()
    outcome = ingest(store, "run", [path], show_progress=False).files[0]
    assert outcome.status == "rejected" and "not valid JSON" in outcome.error
    assert f"{path}: line " in outcome.error
    assert store.count() == before


def test_schema_is_valid_json_schema():
    import jsonschema
    jsonschema.Draft202012Validator.check_schema(schema())


# --- OpenLineage ---------------------------------------------------------------------

def _events(run_id: str, fail: bool = False):
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
    from openlineage.client.generated.processing_engine_run import ProcessingEngineRunFacet
    job = Job(namespace="survey-etl", name="nightly_summary")
    ins = [InputDataset(namespace="postgres://db:5432", name="obs.exposures")]
    outs = [OutputDataset(namespace="s3://survey", name="summaries/night.parquet")]
    start = RunEvent(eventType=RunState.START, eventTime="2026-03-01T10:00:00.000Z",
                     run=Run(runId=run_id, facets={"processing_engine": ProcessingEngineRunFacet(
                         version="3.5.1", name="spark")}), job=job, inputs=ins, outputs=outs,
                     producer="https://example.org/survey-etl")
    end_type = RunState.FAIL if fail else RunState.COMPLETE
    facets = {"errorMessage": ErrorMessageRunFacet(message="disk full",
                                                   programmingLanguage="python")} if fail else {}
    end = RunEvent(eventType=end_type, eventTime="2026-03-01T10:05:30.250+00:00",
                   run=Run(runId=run_id, facets=facets), job=job, inputs=ins, outputs=outs,
                   producer="https://example.org/survey-etl")
    return start, end


def _serialize(events) -> list[str]:
    from openlineage.client.serde import Serde
    return [Serde.to_json(e) for e in events]


def test_openlineage_events_in_any_order_merge(store, tmp_path):
    from lineage.ingest.openlineage_events import dataset_uuid
    run_id = str(uuid.uuid4())
    start, end = _serialize(_events(run_id))
    (tmp_path / "end.json").write_text(end)
    (tmp_path / "start.ndjson").write_text(start + "\n")
    ingest(store, "run", [tmp_path / "end.json"], show_progress=False)
    summary = ingest(store, "run", [tmp_path / "start.ndjson"], show_progress=False)
    assert summary.files[0].status == "added", summary.files[0].error
    (row,) = store.read("MATCH (q:Quantum {key: $k}) RETURN q.status, q.start_utc, q.end_utc, "
                        "q.task, q.job_namespace", {"k": quantum_key(run_id)})
    s, e = json.loads(start), json.loads(end)
    assert row == ("successful", s["eventTime"][:-1], e["eventTime"][:23],
                   e["job"]["name"], e["job"]["namespace"])
    ds_in = dataset_key(dataset_uuid(s["inputs"][0]["namespace"], s["inputs"][0]["name"]))
    rows = query.downstream(store, ds_in)
    assert [r.dataset_type for r in rows] == [s["outputs"][0]["name"]]
    both = tmp_path / "both.ndjson"
    both.write_text(start + "\n" + end + "\n")
    assert ingest(store, "run", [both], show_progress=False).files[0].status == "unchanged"


def test_openlineage_fail_marks_failed(store, tmp_path):
    run_id = str(uuid.uuid4())
    events = [json.loads(t) for t in _serialize(_events(run_id, fail=True))]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    assert ingest(store, "run", [path], show_progress=False).files[0].status == "added"
    assert store.read("MATCH (q:Quantum {key: $k}) RETURN q.status, q.error",
                      {"k": quantum_key(run_id)}) == [("failed", "disk full")]


def test_openlineage_bad_run_id_is_named(store, tmp_path):
    event = json.loads(_serialize(_events(str(uuid.uuid4())))[0])
    event["run"]["runId"] = "run-42"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(event))
    before = store.count()
    outcome = ingest(store, "run", [path], show_progress=False).files[0]
    assert outcome.status == "rejected" and "$.run.runId" in outcome.error
    assert store.count() == before


# --- pipe_base task metadata (real sample) ----------------------------------------------

def _pipe_base_usage(doc: dict):
    """pipe_base's own reading of the record's last attempt: ``QuantumResourceUsage`` and the
    ``quantum`` section as ``TaskMetadata``.  Only that section is validated: the task's
    section holds JSON nulls (the floats DM-54057 is about), which the installed pipe_base
    cannot read yet; the timing is all in ``quantum``."""
    pipe_base = pytest.importorskip("lsst.pipe.base")
    from lsst.pipe.base.resource_usage import QuantumResourceUsage
    metadata = pipe_base.TaskMetadata()
    metadata["quantum"] = pipe_base.TaskMetadata.model_validate(
        doc["attempts"][-1]["metadata"]["quantum"])
    return QuantumResourceUsage.from_task_metadata(metadata), metadata["quantum"]


def test_task_metadata_record(store, real_data):
    path = real_data("metrics", "pipe_base", "DM-54057.json")
    doc = json.loads(path.read_text())
    md = doc["attempts"][-1]["metadata"]
    arrays = md["quantum"]["arrays"]
    usage, quantum = _pipe_base_usage(doc)
    summary = ingest(store, "run", [path], show_progress=False)
    assert summary.files[0].status == "added", summary.files[0].error
    (row,) = store.read("MATCH (q:Quantum) RETURN q.key, q.task, q.host, q.start_utc, "
                        "q.end_utc, q.end, q.peak_memory_mb, q.cpu_time_s, q.quantum_cpu_time_s")
    key, task, host, start_utc, end_utc, end, peak, cpu, quantum_cpu = row
    assert task in md and host == md["quantum"]["scalars"]["nodeName"]
    # the start is pipe_base's: the beginning of "prep" (prepUtc), not of "run" (startUtc)
    assert start_utc == Time(usage.start.replace(tzinfo=None), scale="utc").isot
    assert start_utc != Time(arrays["startUtc"][-1][:26], scale="utc").isot
    assert end_utc == Time(usage.end.replace(tzinfo=None), scale="utc").isot
    assert end == Time(usage.end.replace(tzinfo=None), scale="utc").tai.isot
    assert peak == pytest.approx(usage.memory / 2**20)
    assert cpu == pytest.approx(usage.run_time_cpu)            # the run stage's CPU time
    assert quantum_cpu == pytest.approx(quantum["endCpuTime"] - quantum["prepCpuTime"])
    assert quantum_cpu > cpu
    produced = store.read("MATCH (q:Quantum {key: $k})-[:PRODUCED]->(d) RETURN d.key", {"k": key})
    assert sorted(r[0] for r in produced) == sorted(dataset_key(o) for o in arrays["outputs"])
    assert ingest(store, "run", [path], show_progress=False).files[0].status == "unchanged"


def test_not_run_provenance_and_provenance_qg(store, tmp_path):
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"measurements": []}))
    assert "not run provenance" in ingest(store, "run", [path], show_progress=False).files[0].error
    qg = tmp_path / "prov.qg"
    qg.write_bytes(b"\x00")
    error = ingest(store, "run", [qg], show_progress=False).files[0].error
    assert "survey-lineage[rubin]" in error or "not a readable provenance quantum graph" in error

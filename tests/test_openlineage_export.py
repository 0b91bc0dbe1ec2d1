"""`lineage export --format openlineage`: every event valid against the OpenLineage JSON Schema
(and each facet against the schema its ``_schemaURL`` names), read back by `lineage ingest run`
into an empty store with the same lineage answers, FAIL events for failed quanta."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from lineage.core.model import quantum_key
from lineage.ingest.driver import ingest
from lineage.ingest.openlineage_events import facets_schema
from lineage.standards.openlineage import write_events
from lineage.traversal import traverse

from .test_ingest_run import run_document

#: The OpenLineage spec's JSON Schema (2-0-2), read in place from the shared reference
#: folder beside the checkout (openlineage-python ships generated classes, not the schema).
SPEC = Path(__file__).resolve().parents[2] / "shared" / "reference" / "openlineage-spec"
NAMESPACE = "butler://demo"


def _validator():
    """A validator of RunEvents against OpenLineage.json, with the core facet schemas and
    ours in its registry (so a facet's ``_schemaURL`` resolves); skips without the spec."""
    if not (SPEC / "OpenLineage.json").exists():
        pytest.skip(f"the OpenLineage spec is not at {SPEC}")
    docs = [json.loads(p.read_text()) for p in [SPEC / "OpenLineage.json",
                                                *sorted((SPEC / "facets").glob("*.json"))]]
    docs.append(facets_schema())
    registry = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs)
    core = docs[0]
    event = jsonschema.Draft202012Validator({"$ref": f"{core['$id']}#/$defs/RunEvent"},
                                            registry=registry,
                                            format_checker=jsonschema.FormatChecker())
    return event, registry


def _errors(events: list[dict]) -> list[str]:
    """Every schema error of ``events``: the event against RunEvent, each facet against its
    ``_schemaURL``."""
    event_validator, registry = _validator()
    facet_validators = {}
    checked = set()  # facets already checked, as JSON text (a dataset's recur in many events)
    found = []
    for n, e in enumerate(events):
        found += [f"event {n}: {err.json_path}: {err.message}"
                  for err in event_validator.iter_errors(e)]
        facets = list(e["run"].get("facets", {}).items())
        for d in (*e.get("inputs", ()), *e.get("outputs", ())):
            facets += list(d.get("facets", {}).items())
        for name, facet in facets:
            text = json.dumps(facet, sort_keys=True)
            if "_schemaURL" not in facet or text in checked:  # (the event's check says so)
                continue
            checked.add(text)
            url = facet["_schemaURL"]
            if url not in facet_validators:
                facet_validators[url] = jsonschema.Draft202012Validator(
                    {"$ref": url}, registry=registry, format_checker=jsonschema.FormatChecker())
            check = facet_validators[url]
            found += [f"event {n}: facet {name}: {err.message}" for err in check.iter_errors(facet)]
    return found


def _export(store) -> tuple[str, list[dict]]:
    out = io.StringIO()
    write_events(store, out, NAMESPACE)
    text = out.getvalue()
    return text, [json.loads(line) for line in text.splitlines()]


def _answers(store, seeds) -> dict:
    return {(seed, direction): sorted((r.key, r.dataset_type, r.data_id, r.run, r.steps)
                                      for r in traverse.traverse(store, seed, direction))
            for seed in seeds for direction in ("down", "up")}


def test_every_event_of_the_demo_is_valid_and_reads_back_the_same(demo_store, engine, tmp_path):
    text, events = _export(demo_store)
    (quanta,) = demo_store.read("MATCH (q:Quantum) RETURN count(q)")[0]
    assert len(events) == 2 * quanta  # START and COMPLETE: every demo quantum succeeded
    assert {e["eventType"] for e in events} == {"START", "COMPLETE"}
    assert _errors(events) == []
    broken = json.loads(text.splitlines()[0])
    broken["run"]["facets"]["surveyLineage_quantum"].pop("_schemaURL")
    del broken["eventTime"]
    assert len(_errors([broken])) == 2  # the validation can fail

    path = tmp_path / "events.ndjson"
    path.write_text(text)
    empty = engine.new()
    outcome = ingest(empty, "run", [path], show_progress=False).files[0]
    assert outcome.status == "added", outcome.error
    seeds = [r[0] for r in demo_store.read(
        "MATCH (d:Dataset) WHERE d.dataset_type IN ['raw', 'calexp', 'deepCoadd'] "
        "RETURN d.key ORDER BY d.key LIMIT 6")]
    assert _answers(empty, seeds) == _answers(demo_store, seeds)
    query = ("MATCH (q:Quantum) RETURN q.key, q.task, q.data_id, q.run, q.status, q.host "
             "ORDER BY q.key")
    assert empty.read(query) == demo_store.read(query)
    links = ("MATCH (q:Quantum)-[:RAN_WITH|CONFIGURED_BY]->(n) RETURN q.key, n.key "
             "ORDER BY q.key, n.key")
    assert empty.read(links) == demo_store.read(links)
    # read back, the same events again
    assert _export(empty)[0] == text


def test_a_failed_quantum_ends_with_fail_and_its_error(engine, tmp_path):
    source = engine.new()
    doc_path = tmp_path / "run.json"
    doc_path.write_text(json.dumps(run_document()))
    assert ingest(source, "run", [doc_path], show_progress=False).files[0].status == "added"
    text, events = _export(source)
    assert _errors(events) == []
    fail = [e for e in events if e["eventType"] == "FAIL"]
    assert len(fail) == 1
    assert fail[0]["run"]["facets"]["errorMessage"]["message"] == "PSF fit failed"
    assert fail[0]["job"] == {"facets": {}, "name": "calibrateImage", "namespace": NAMESPACE}
    assert fail[0]["eventTime"] == "2026-03-01T01:02:00.000000Z"  # stored in TAI, given in UTC
    path = tmp_path / "events.ndjson"
    path.write_text(text)
    target = engine.new()
    assert ingest(target, "run", [path], show_progress=False).files[0].status == "added"
    run_id = fail[0]["run"]["runId"]
    assert target.read("MATCH (q:Quantum {key: $k}) RETURN q.status, q.error, q.end",
                       {"k": quantum_key(run_id)}) == \
        source.read("MATCH (q:Quantum {key: $k}) RETURN q.status, q.error, q.end",
                    {"k": quantum_key(run_id)})


@pytest.mark.parametrize("change, field", [
    (lambda e: e["inputs"][0]["facets"]["surveyLineage_dataset"].update(uuid="nope"),
     "$[0].inputs[0].facets.surveyLineage_dataset.uuid"),
    (lambda e: e["run"]["facets"]["surveyLineage_quantum"].pop("run"),
     "$[0].run.facets.surveyLineage_quantum"),
    (lambda e: e["run"]["facets"]["surveyLineage_config"].update(values=[1]),
     "$[0].run.facets.surveyLineage_config.values"),
])
def test_a_bad_custom_facet_is_named_and_nothing_stored(store, tmp_path, change, field):
    source_doc = tmp_path / "run.json"
    source_doc.write_text(json.dumps(run_document()))
    ingest(store, "run", [source_doc], show_progress=False)
    _, events = _export(store)
    before = store.count()
    event = events[0]
    change(event)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([event]))
    outcome = ingest(store, "run", [path], show_progress=False).files[0]
    assert outcome.status == "rejected" and field in outcome.error, outcome.error
    assert store.count() == before


def test_a_butler_name_without_its_facet_gives_type_data_id_and_run(store, tmp_path):
    event = {"eventType": "COMPLETE", "eventTime": "2026-03-01T01:00:00Z",
             "producer": "urn:test", "run": {"runId": "0190a3c5-9f4e-7d2a-8b1c-3e5f7a9b0c1d"},
             "job": {"namespace": NAMESPACE, "name": "makeWarp"},
             "inputs": [{"namespace": NAMESPACE,
                         "name": "DemoCam/runs/DR1/calexp/detector=3,instrument=DemoCam,visit=7"}],
             "outputs": [{"namespace": "s3://elsewhere", "name": "table.parquet"}]}
    path = tmp_path / "one.json"
    path.write_text(json.dumps(event))
    assert ingest(store, "run", [path], show_progress=False).files[0].status == "added"
    rows = store.read("MATCH (d:Dataset) RETURN d.dataset_type, d.data_id, d.run ORDER BY d.run")
    assert rows == [["calexp", "detector=3,instrument=DemoCam,visit=7", "DemoCam/runs/DR1"],
                    ["table.parquet", None, None]] or rows == [
        ("calexp", "detector=3,instrument=DemoCam,visit=7", "DemoCam/runs/DR1"),
        ("table.parquet", None, None)]


# --- live: POST /api/v1/lineage on a real `lineage serve` ------------------------------------

def test_events_sent_by_the_openlineage_client_are_stored_and_answered(repo, tmp_path):
    import urllib.error
    import urllib.request
    import uuid

    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

    from openlineage.client.serde import Serde

    from lineage.api.auth import TokenStore
    from lineage.api.process import served
    from lineage.store.repo import init_repo, open_store
    from lineage.core.model import dataset_key
    from lineage.ingest.openlineage_events import dataset_uuid

    _, writer = TokenStore(repo).create("pipeline", "flagger")
    _, reader = TokenStore(repo).create("viewer", "reader")
    calexp = "DemoCam/runs/DR9/calexp/detector=3,instrument=DemoCam,visit=7"
    warp = "DemoCam/runs/DR9/deepCoadd_directWarp/instrument=DemoCam,patch=4,skymap=rings,tract=9,visit=7"
    run_id = str(uuid.uuid4())
    job = Job(namespace=NAMESPACE, name="makeDirectWarp")
    events = [RunEvent(eventType=RunState.START, eventTime="2026-03-01T01:00:00Z",
                       run=Run(runId=run_id), job=job, producer="urn:test",
                       inputs=[InputDataset(namespace=NAMESPACE, name=calexp)]),
              RunEvent(eventType=RunState.COMPLETE, eventTime="2026-03-01T01:00:30Z",
                       run=Run(runId=run_id), job=job, producer="urn:test",
                       inputs=[InputDataset(namespace=NAMESPACE, name=calexp)],
                       outputs=[OutputDataset(namespace=NAMESPACE, name=warp)])]

    def post(base, body: bytes, token):
        request = urllib.request.Request(f"{base}/api/v1/lineage", data=body, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def graphql(base, query: str):
        status, answer = post_graphql(base, query)
        assert status == 200, answer
        return answer["data"]

    def post_graphql(base, query):
        request = urllib.request.Request(f"{base}/graphql", data=json.dumps(
            {"query": query}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())

    with served(repo) as base:
        client = OpenLineageClient(transport=HttpTransport(HttpConfig(
            url=base, auth=ApiKeyTokenProvider({"apiKey": writer}))))
        for event in events:
            client.emit(event)
        source = dataset_uuid(NAMESPACE, calexp)
        answer = graphql(base, '{ lineage(from: "%s") { totalCount edges { steps node '
                               '{ uuid datasetType dataId run } } } }' % source)
        assert answer["lineage"]["totalCount"] == 1
        (edge,) = answer["lineage"]["edges"]
        assert edge["steps"] == 1 and edge["node"] == {
            "uuid": dataset_uuid(NAMESPACE, warp), "datasetType": "deepCoadd_directWarp",
            "dataId": edge["node"]["dataId"], "run": "DemoCam/runs/DR9"}

        # invalid events: 400 naming the field, nothing stored; a reader's token: 403
        bad = Serde.to_dict(events[1])
        bad["run"]["runId"] = "run-42"
        bad["outputs"][0]["name"] = "DemoCam/runs/DR9/other/instrument=DemoCam,visit=8"
        status, answer = post(base, json.dumps(bad).encode(), writer)
        assert status == 400 and "$.run.runId" in answer["errors"][0]["message"], answer
        del bad["job"]
        status, answer = post(base, json.dumps(bad).encode(), writer)
        assert status == 400 and "$.job: missing" in answer["errors"][0]["message"], answer
        status, answer = post(base, json.dumps(Serde.to_dict(events[1])).encode(), reader)
        assert status == 403 and "needs role admin or flagger" in answer["errors"][0]["message"], answer
    # every event is audited as a mutation is: attempt then ok or failed; the refusal too
    from lineage.api.auth import AuditLog
    lines = [r for r in AuditLog(repo).read() if r.get("operation") == "openlineage event"]
    assert [(r["outcome"], r["who"]) for r in lines] == \
        [("attempt", "pipeline"), ("ok", "pipeline")] * 2 + \
        [("attempt", "pipeline"), ("failed", "pipeline")] * 2 + [("refused", "viewer")]
    assert "$.run.runId" in lines[5]["error"] and lines[1]["nodes"] > 0
    with open_store(repo) as store:
        assert store.lookup([dataset_key(dataset_uuid(NAMESPACE, bad["outputs"][0]["name"])),
                             "quantum:run-42"]) == {}
        served_counts = store.count()
    good = tmp_path / "good.ndjson"  # the same two events, read from a file
    good.write_text("".join(json.dumps(Serde.to_dict(e)) + "\n" for e in events))
    init_repo(tmp_path / "from-file")
    with open_store(tmp_path / "from-file") as store:
        ingest(store, "run", [good], show_progress=False)
        assert store.count() == served_counts


# --- kill -9 while a posted event is written ----------------------------------------------

#: Warps the event of the kill -9 test makes: enough that the engine takes a moment over it.
KILLED_OUTPUTS = 3000


@pytest.fixture(scope="module")
def big_event(tmp_path_factory):
    """(one COMPLETE event, a calexp in and :data:`KILLED_OUTPUTS` warps out, made with
    openlineage-python's classes; the (nodes, edges) it stores read from a file into an empty
    repository: what "wholly" means)."""
    import uuid

    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.serde import Serde

    from lineage.store.falkordb_server import FalkorServer
    from lineage.store.repo import init_repo, open_store

    calexp = "DemoCam/runs/DR9/calexp/detector=3,instrument=DemoCam,visit=7"
    warps = [f"DemoCam/runs/DR9/deepCoadd_directWarp/instrument=DemoCam,patch={p},skymap=rings,"
             f"tract=9,visit=7" for p in range(KILLED_OUTPUTS)]
    event = RunEvent(eventType=RunState.COMPLETE, eventTime="2026-03-01T01:00:30Z",
                     run=Run(runId=str(uuid.uuid4())), producer="urn:test",
                     job=Job(namespace=NAMESPACE, name="makeDirectWarp"),
                     inputs=[InputDataset(namespace=NAMESPACE, name=calexp)],
                     outputs=[OutputDataset(namespace=NAMESPACE, name=w) for w in warps])
    work = tmp_path_factory.mktemp("big-event")
    (work / "event.ndjson").write_text(json.dumps(Serde.to_dict(event)) + "\n")
    init_repo(work / "repo")
    with open_store(work / "repo") as store:
        assert ingest(store, "run", [work / "event.ndjson"], show_progress=False).files[0].status \
            == "added"
        whole = store.count()
    FalkorServer(work / "repo").stop()
    return event, calexp, whole


def _engine_writing(engine) -> bool:
    """Whether the engine is executing a write now: a client's GRAPH.QUERY still blocked."""
    return any(c["cmd"].lower() == "graph.query" and "b" in c["flags"]
               for c in engine.client(socket_timeout=5).client_list())


def _engine_writes(engine) -> int:
    """How many writes (GRAPH.QUERY) the engine has run."""
    stats = engine.client(socket_timeout=5).info("commandstats")
    return stats.get("cmdstat_graph.QUERY", {}).get("calls", 0)


def _event_lines(repo) -> list[str]:
    """The outcomes of the audit log's lines about OpenLineage events, in order."""
    from lineage.api.auth import AuditLog
    return [r["outcome"] for r in AuditLog(repo).read()
            if r.get("operation") == "openlineage event"]


def _wait_for(condition, what: str, seconds: float = 120.0) -> None:
    """Poll ``condition()`` every 5 ms until it holds; ``what`` names it if it never does."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.005)


@pytest.mark.parametrize("moment", ["before", "writing", "after"])
def test_kill_9_while_a_posted_event_is_written_then_resent(repo, big_event, moment, monkeypatch):
    """kill -9 of `lineage serve` and of the engine while an event sent by openlineage-python's
    HTTP transport is stored: ``before`` its write (the unit read and checked, held by
    ``LINEAGE_INGEST_PAUSE``), ``writing`` (the engine executing the unit's one query; a
    query quicker than the polling is caught just after it, the unit held before its answer),
    ``after`` it (held before the answer and the audit's ``ok``).  The graph holds the event's
    lineage wholly or not at all, the audit log its ``attempt`` and no ``ok``; sent again to a
    new server, the event is whole and its lineage is answered."""
    import os
    import signal
    import threading

    import httpx
    import requests
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

    from lineage.api.auth import TokenStore
    from lineage.api.process import served, serving
    from lineage.ingest.driver import PAUSE_ENV
    from lineage.ingest.openlineage_events import dataset_uuid
    from lineage.store.falkordb_server import FalkorServer, _pid_alive
    from lineage.store.repo import open_store

    event, calexp, whole = big_event
    _, token = TokenStore(repo).create("pipeline", "flagger")
    # the server's environment: held before the write, or after it (the answer not given)
    monkeypatch.setenv(PAUSE_ENV, "before:300" if moment == "before" else "after:300")
    with serving(repo) as (base, server):
        monkeypatch.delenv(PAUSE_ENV, raising=False)
        engine = FalkorServer(repo)
        with open_store(repo, keep=True) as store:
            empty = store.count()
        writes = _engine_writes(engine)
        # no retries: a retry would be a second request while the first is held
        client = OpenLineageClient(transport=HttpTransport(HttpConfig(
            url=base, auth=ApiKeyTokenProvider({"apiKey": token}), timeout=600,
            retry={"total": 0})))

        def send():
            try:
                client.emit(event)
            except requests.RequestException:
                pass   # the server died under it

        sender = threading.Thread(target=send)
        sender.start()
        _wait_for(lambda: "attempt" in _event_lines(repo), "attempt line")
        if moment == "before":    # reading and checking take well under a second
            time.sleep(3)
        elif moment == "writing":
            _wait_for(lambda: _engine_writing(engine) or _engine_writes(engine) > writes,
                      "write in the engine")
        else:
            with open_store(repo, keep=True) as store:
                _wait_for(lambda: store.count() == whole, "whole event in the graph")
        engine_pid = engine.pid()
        os.kill(engine_pid, signal.SIGKILL)
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        sender.join()
        _wait_for(lambda: not _pid_alive(engine_pid), "engine exit")
    with open_store(repo, keep=True) as store:
        killed = store.count()
    print(f"\nkill -9 {moment}: {'whole event' if killed == whole else 'nothing'} stored")
    assert killed in (empty, whole), (empty, killed, whole)
    assert killed == {"before": empty, "after": whole}.get(moment, killed)
    assert _event_lines(repo) == ["attempt"]

    with served(repo) as again:
        client = OpenLineageClient(transport=HttpTransport(HttpConfig(
            url=again, auth=ApiKeyTokenProvider({"apiKey": token}), timeout=120)))
        client.emit(event)
        answer = httpx.post(f"{again}/graphql", timeout=120, json={
            "query": '{ lineage(from: "%s") { totalCount } }' % dataset_uuid(NAMESPACE, calexp)})
    assert answer.json()["data"]["lineage"]["totalCount"] == KILLED_OUTPUTS
    with open_store(repo, keep=True) as store:
        assert store.count() == whole
    assert _event_lines(repo) == ["attempt", "attempt", "ok"]

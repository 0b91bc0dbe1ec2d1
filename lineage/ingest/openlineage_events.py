"""OpenLineage run events (JSON, a JSON list, or NDJSON) as quanta.

Each event is built into ``openlineage-python``'s model
(:class:`openlineage.client.event_v2.RunEvent` with its ``Run``, ``Job``,
``InputDataset``/``OutputDataset`` and the ``errorMessage`` and
``processing_engine`` run facets), whose validators check run IDs and event
times.  Then:

* a run is a ``Quantum`` keyed by its ``runId`` (``quantum:<runId>``), its
  task the job name (``job_namespace`` beside it);
* a dataset (namespace + name) is a ``Dataset`` keyed by
  ``uuid5(NAMESPACE_URL, "<namespace>/<name>")``, with ``dataset_type`` the
  dataset name (OpenLineage datasets have no types; the name is the unit the
  type-level ``FEEDS`` graph is built from);
* the status follows the event types seen for the run, in this file and
  before (stored ``ol_events``): FAIL -> ``failed``, ABORT -> ``aborted``,
  COMPLETE -> ``successful``, else ``running``; ``start`` is the earliest
  START (or first event), ``end`` the latest COMPLETE/FAIL/ABORT.  Events of
  one run merge in any order, and replaying them changes nothing.
"""

from __future__ import annotations

import json
import uuid

from lineage.core.model import quantum_key
from lineage.core.time import iso_ms
from lineage.ingest.provenance import ProvenanceBuilder, times
from lineage.ingest.loading import parse_json
from lineage.ingest.queries import stored_runs

TERMINAL = ("COMPLETE", "FAIL", "ABORT")
_STATUS = (("FAIL", "failed"), ("ABORT", "aborted"), ("COMPLETE", "successful"))


def parse_events(text: str, fail, path=None) -> list[tuple[str, dict]]:
    """(where, event dict) for a JSON event, a JSON list of events or NDJSON; read
    under the limits of :mod:`.loading` (duplicate keys, nesting, string sizes)."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = parse_json(text, path)
        except json.JSONDecodeError as exc:
            fail(f"line {exc.lineno}", f"not valid JSON: {exc.msg}")
        return [(f"$[{i}]", e) for i, e in enumerate(items)]
    try:
        return [("$", parse_json(text, path))]
    except json.JSONDecodeError as exc:
        first = next((line for line in text.splitlines() if line.strip()), "")
        try:
            parse_json(first, path)
        except json.JSONDecodeError:  # not NDJSON either: report the document's error
            fail(f"line {exc.lineno}", f"not valid JSON: {exc.msg}")
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append((f"line {n}", parse_json(line, path, first_line=n)))
            except json.JSONDecodeError as exc:
                fail(f"line {n}", f"not valid JSON: {exc.msg}")
    return out


def is_event(doc) -> bool:
    return isinstance(doc, dict) and {"eventTime", "run", "job"} <= doc.keys()


def to_model(event: dict, where: str, fail):
    """The event as an openlineage-python ``RunEvent``; ``fail`` names the bad field."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
    from openlineage.client.generated.processing_engine_run import ProcessingEngineRunFacet

    def need(obj, key, at):
        if not isinstance(obj, dict) or key not in obj:
            fail(f"{where}.{at}", "missing")
        return obj[key]

    def build(at, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            fail(f"{where}.{at}", str(exc))

    run, job = need(event, "run", "run"), need(event, "job", "job")
    facets = {}
    raw = run.get("facets") or {}
    if "errorMessage" in raw:
        f = raw["errorMessage"]
        facets["errorMessage"] = build("run.facets.errorMessage", ErrorMessageRunFacet,
                                       message=need(f, "message", "run.facets.errorMessage.message"),
                                       programmingLanguage=f.get("programmingLanguage", ""),
                                       stackTrace=f.get("stackTrace"))
    if "processing_engine" in raw:
        f = raw["processing_engine"]
        facets["processing_engine"] = build(
            "run.facets.processing_engine", ProcessingEngineRunFacet,
            version=need(f, "version", "run.facets.processing_engine.version"),
            name=f.get("name"), openlineageAdapterVersion=f.get("openlineageAdapterVersion"))

    def datasets(key, cls):
        return [cls(namespace=need(d, "namespace", f"{key}[{i}].namespace"),
                    name=need(d, "name", f"{key}[{i}].name"))
                for i, d in enumerate(event.get(key) or [])]

    event_type = event.get("eventType")
    return build("eventTime", RunEvent,
                 eventTime=need(event, "eventTime", "eventTime"), producer=event.get("producer", ""),
                 run=build("run.runId", Run, runId=need(run, "runId", "run.runId"), facets=facets),
                 job=Job(namespace=need(job, "namespace", "job.namespace"),
                         name=need(job, "name", "job.name")),
                 eventType=None if event_type is None else
                 build("eventType", RunState, event_type),
                 inputs=datasets("inputs", InputDataset), outputs=datasets("outputs", OutputDataset))


def dataset_uuid(namespace: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}"))


def _status(event_types: set[str]) -> str:
    return next((s for t, s in _STATUS if t in event_types), "running")


def build(b: ProvenanceBuilder, events: list) -> dict[str, int]:
    """Fill ``b`` from ``RunEvent`` models; merges with what is stored for each run."""
    runs: dict[str, dict] = {}
    for e in events:
        r = runs.setdefault(e.run.runId, {"job": e.job, "types": set(), "start": [], "end": [],
                                          "any": [], "inputs": {}, "outputs": {}, "facets": {}})
        kind = e.eventType.value if e.eventType is not None else "OTHER"
        r["types"].add(kind)
        t = iso_ms(e.eventTime, "utc")  # naive UTC text: comparable as text
        r["any"].append(t)
        if kind == "START":
            r["start"].append(t)
        elif kind in TERMINAL:
            r["end"].append(t)
        r["facets"].update(e.run.facets or {})
        for d in e.inputs or []:
            r["inputs"][(d.namespace, d.name)] = d
        for d in e.outputs or []:
            r["outputs"][(d.namespace, d.name)] = d
    stored = _stored_runs(b, [quantum_key(k) for k in runs])
    for run_id, r in runs.items():
        key = quantum_key(run_id)
        before = stored.get(key, {})
        types = r["types"] | set(before.get("ol_events") or [])
        starts = r["start"] + ([before["start_utc"]] if before.get("start_utc") else [])
        ends = r["end"] + ([before["end_utc"]] if before.get("end_utc") else [])
        start = min(starts) if starts else min(r["any"])
        when = times(start, max(ends) if ends else None, "utc")
        software = None
        engine = r["facets"].get("processing_engine")
        if engine is not None:
            name = f"{engine.name or 'engine'} {engine.version}"
            software = b.software(name, {engine.name or "engine": engine.version})
        error = r["facets"].get("errorMessage")
        inputs = [_dataset(b, d) for d in r["inputs"].values()]
        outputs = [_dataset(b, d) for d in r["outputs"].values()]
        b.quantum(key, inputs, outputs, software, at=f"run {run_id}", task=r["job"].name,
                  job_namespace=r["job"].namespace, status=_status(types),
                  ol_events=sorted(types), error=error.message if error else None, **when)
    return {"events": len(events), "runs": len(runs),
            "datasets": len({k for r in runs.values() for k in (*r["inputs"], *r["outputs"])})}


def _dataset(b: ProvenanceBuilder, d) -> str:
    return b.dataset(dataset_uuid(d.namespace, d.name), d.name, None, None,
                     f"dataset {d.namespace}/{d.name}", namespace=d.namespace, name=d.name)


def _stored_runs(b: ProvenanceBuilder, keys: list[str]) -> dict[str, dict]:
    if b.store is None or not keys:
        return {}
    return {k: {"ol_events": ev, "start_utc": s, "end_utc": e}
            for k, ev, s, e in stored_runs(b.store, keys)}

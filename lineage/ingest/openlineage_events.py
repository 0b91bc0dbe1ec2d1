"""OpenLineage run events (JSON, a JSON list, or NDJSON) as quanta.

Each event is built into ``openlineage-python``'s model
(:class:`openlineage.client.event_v2.RunEvent` with its ``Run``, ``Job``,
``InputDataset``/``OutputDataset`` and the ``errorMessage`` and
``processing_engine`` run facets), whose validators check run IDs and event
times.  Then:

* a run is a ``Quantum`` keyed by its ``runId`` (``quantum:<runId>``), its
  task the job name (``job_namespace`` beside it);
* a dataset (namespace + name) is a ``Dataset``: a Butler dataset by its UUID
  when it carries the ``surveyLineage_dataset`` facet (type, data ID and run
  from the facet); else keyed by ``uuid5(NAMESPACE_URL, "<namespace>/<name>")``,
  with type, data ID and run read from the name in a ``butler://`` namespace
  (:func:`butler_dataset_name`), or ``dataset_type`` the dataset name elsewhere
  (OpenLineage datasets have no types; the name is the unit the type-level
  ``FEEDS`` graph is built from);
* the custom run facets ``surveyLineage_quantum`` (RUN, data ID, task class,
  host, status), ``surveyLineage_software`` and ``surveyLineage_config`` give
  the quantum what ``lineage export --format openlineage`` wrote from the graph
  (docs/standards.md); they are checked against the schema shipped with the
  package (``schemas/openlineage-facets-v1.schema.json``);
* the status follows the event types seen for the run, in this file and
  before (stored ``ol_events``): FAIL -> ``failed``, ABORT -> ``aborted``,
  COMPLETE -> ``successful``, else ``running`` (the quantum facet's ``status``,
  when given, wins); ``start`` is the earliest
  START (or first event), ``end`` the latest COMPLETE/FAIL/ABORT.  Events of
  one run merge in any order, and replaying them changes nothing.
"""

from __future__ import annotations

import json
import uuid
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

from lineage.core.dataid import DataId, format_data_id
from lineage.core.model import dataset_key, quantum_key
from lineage.core.time import iso_ms
from lineage.ingest.provenance import ProvenanceBuilder, times
from lineage.ingest.loading import parse_json
from lineage.ingest.queries import stored_runs

TERMINAL = ("COMPLETE", "FAIL", "ABORT")
_STATUS = (("FAIL", "failed"), ("ABORT", "aborted"), ("COMPLETE", "successful"))

#: The namespace of Butler datasets and of the jobs (task labels) that make them:
#: ``butler://<repository name>``.
BUTLER_NAMESPACE = "butler://"
FACETS_SCHEMA_FILE = "openlineage-facets-v1.schema.json"
#: The ``$id`` of that schema; a custom facet's ``_schemaURL`` is it + ``#/$defs/<definition>``.
FACETS_SCHEMA_ID = "urn:survey-lineage:openlineage-facets:1"
QUANTUM_FACET, SOFTWARE_FACET, CONFIG_FACET = ("surveyLineage_quantum", "surveyLineage_software",
                                               "surveyLineage_config")
DATASET_FACET = "surveyLineage_dataset"
#: Custom facet name -> its definition in the schema.
FACET_DEFINITIONS = {QUANTUM_FACET: "QuantumRunFacet", SOFTWARE_FACET: "SoftwareRunFacet",
                     CONFIG_FACET: "ConfigRunFacet", DATASET_FACET: "ButlerDatasetFacet"}


def butler_dataset_name(run: str, dataset_type: str, data_id: str) -> str:
    """The OpenLineage name of a Butler dataset: ``<run>/<dataset type>/<data ID>``, the data
    ID in its canonical text (``band=r,patch=40,skymap=demo_rings,tract=9813``): unique in a
    Butler repository (one dataset of a type and data ID per RUN), readable, stable."""
    return f"{run}/{dataset_type}/{data_id}"


def parse_butler_dataset_name(name: str) -> tuple[str, str, dict] | None:
    """(run, dataset type, data ID) of a :func:`butler_dataset_name`; None if it is not one
    (a RUN may hold ``/``, a dataset type and a data ID's values may not)."""
    run, _, rest = name.rpartition("/")
    run, _, dataset_type = run.rpartition("/")
    if not run or not dataset_type or "=" not in rest:
        return None
    try:
        return run, dataset_type, dict(DataId.parse(rest, strict=True))
    except ValueError:
        return None


@lru_cache(maxsize=1)
def facets_schema() -> dict:
    return json.loads(resources.files(__package__).joinpath("schemas", FACETS_SCHEMA_FILE)
                      .read_text())


def facet_schema_url(facet: str) -> str:
    return f"{FACETS_SCHEMA_ID}#/$defs/{FACET_DEFINITIONS[facet]}"


class LineageFacets(NamedTuple):
    """The custom facets of one event: run facets by name, dataset facets by (namespace, name)."""
    run: dict
    datasets: dict


def lineage_facets(event: dict, where: str, fail) -> LineageFacets:
    """The event's custom facets, each checked against its definition; ``fail`` names the
    first bad field (``$[3].inputs[0].facets.surveyLineage_dataset.uuid``)."""
    def checked(facets, at):
        found = {}
        for name, facet in (facets or {}).items():
            if name in FACET_DEFINITIONS:
                _check_facet(name, facet, f"{at}.{name}", fail)
                found[name] = facet
        return found

    run = checked((event.get("run") or {}).get("facets"), f"{where}.run.facets")
    datasets = {}
    for side in ("inputs", "outputs"):
        for i, d in enumerate(event.get(side) or []):
            facets = checked(d.get("facets") if isinstance(d, dict) else None,
                             f"{where}.{side}[{i}].facets")
            if DATASET_FACET in facets:
                datasets[(d.get("namespace"), d.get("name"))] = facets[DATASET_FACET]
    return LineageFacets(run, datasets)


def _check_facet(name: str, facet, where: str, fail) -> None:
    import jsonschema
    error = jsonschema.exceptions.best_match(_facet_validator(name).iter_errors(facet))
    if error is not None:
        fail(where + error.json_path[1:], error.message)


@lru_cache(maxsize=None)
def _facet_validator(name: str):
    """The validator of one custom facet (made once: making one costs more than a check)."""
    import jsonschema
    return jsonschema.Draft202012Validator(
        {"$defs": facets_schema()["$defs"], "$ref": f"#/$defs/{FACET_DEFINITIONS[name]}"},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


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


def build(b: ProvenanceBuilder, events: list, custom: list[LineageFacets] | None = None
          ) -> dict[str, int]:
    """Fill ``b`` from ``RunEvent`` models and each one's custom facets (:func:`lineage_facets`);
    merges with what is stored for each run."""
    runs: dict[str, dict] = {}
    dataset_facets: dict[tuple, dict] = {}
    for e, own in zip(events, custom or [LineageFacets({}, {})] * len(events)):
        r = runs.setdefault(e.run.runId, {"job": e.job, "types": set(), "start": [], "end": [],
                                          "any": [], "inputs": {}, "outputs": {}, "facets": {},
                                          "lineage": {}})
        r["lineage"].update(own.run)
        dataset_facets.update(own.datasets)
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
    b.look_up(dataset_key(f["uuid"]) for f in dataset_facets.values())
    for run_id, r in runs.items():
        key = quantum_key(run_id)
        before = stored.get(key, {})
        types = r["types"] | set(before.get("ol_events") or [])
        starts = r["start"] + ([before["start_utc"]] if before.get("start_utc") else [])
        ends = r["end"] + ([before["end_utc"]] if before.get("end_utc") else [])
        start = min(starts) if starts else min(r["any"])
        when = times(start, max(ends) if ends else None, "utc")
        software = config = None
        engine = r["facets"].get("processing_engine")
        if engine is not None:
            name = f"{engine.name or 'engine'} {engine.version}"
            software = b.software(name, {engine.name or "engine": engine.version})
        own = r["lineage"]
        if SOFTWARE_FACET in own:
            software = b.software(own[SOFTWARE_FACET]["name"], own[SOFTWARE_FACET].get("packages"))
        if CONFIG_FACET in own:
            config = b.config(own[CONFIG_FACET]["task"], own[CONFIG_FACET]["values"])
        quantum = own.get(QUANTUM_FACET, {})
        data_id = quantum.get("dataId")
        error = r["facets"].get("errorMessage")
        inputs = [_dataset(b, d, dataset_facets) for d in r["inputs"].values()]
        outputs = [_dataset(b, d, dataset_facets) for d in r["outputs"].values()]
        b.quantum(key, inputs, outputs, software, config, at=f"run {run_id}", task=r["job"].name,
                  job_namespace=r["job"].namespace,
                  status=quantum.get("status") or _status(types), ol_events=sorted(types),
                  error=error.message if error else None, run=quantum.get("run"),
                  data_id=None if data_id is None else format_data_id(data_id),
                  task_class=quantum.get("taskClass"), host=quantum.get("host"),
                  peak_memory_mb=quantum.get("peakMemoryMb"), **when)
        if data_id:
            b.units(key, data_id, f"run {run_id}")
    return {"events": len(events), "runs": len(runs),
            "datasets": len({k for r in runs.values() for k in (*r["inputs"], *r["outputs"])})}


def _dataset(b: ProvenanceBuilder, d, dataset_facets: dict) -> str:
    """The dataset's key: its Butler UUID from its facet, else the uuid5 of its name."""
    where = f"dataset {d.namespace}/{d.name}"
    facet = dataset_facets.get((d.namespace, d.name))
    if facet is not None:
        return b.dataset(facet["uuid"], facet["datasetType"], facet["dataId"], facet["run"],
                         where, namespace=d.namespace, name=d.name)
    butler = (parse_butler_dataset_name(d.name) if d.namespace.startswith(BUTLER_NAMESPACE)
              else None)
    if butler is not None:
        run, dataset_type, data_id = butler
        return b.dataset(dataset_uuid(d.namespace, d.name), dataset_type, data_id, run, where,
                         namespace=d.namespace, name=d.name)
    return b.dataset(dataset_uuid(d.namespace, d.name), d.name, None, None, where,
                     namespace=d.namespace, name=d.name)


def _stored_runs(b: ProvenanceBuilder, keys: list[str]) -> dict[str, dict]:
    if b.store is None or not keys:
        return {}
    return {k: {"ol_events": ev, "start_utc": s, "end_utc": e}
            for k, ev, s, e in stored_runs(b.store, keys)}

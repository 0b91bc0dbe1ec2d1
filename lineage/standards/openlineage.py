"""The graph as OpenLineage run events (``lineage export --format openlineage``).

One run per quantum (``runId`` = the quantum's UUID), as a START event at its
start and a COMPLETE, FAIL or ABORT event at its end (a quantum of another
status, ``blocked`` or ``unknown``, has its START only), both times converted
from the graph's TAI to UTC.  The job is the task label in the namespace
``butler://<repository name>``; inputs and outputs are the Butler datasets,
named ``<run>/<dataset type>/<data ID>`` in the same namespace
(:func:`lineage.ingest.openlineage_events.butler_dataset_name`).  What the core
model has no field for travels in custom facets (data ID, RUN, host, task class,
status; software; config; a dataset's UUID, type, run and data ID), defined by
the JSON Schema that ``lineage ingest run`` checks them against, so the events
read back into the same graph (docs/standards.md).

The events are built with ``openlineage-python``'s classes (``event_v2``) and
written as NDJSON, one event a line.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import IO, Iterator, NamedTuple

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated.base import DatasetFacet, RunFacet
from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
from openlineage.client.serde import Serde

from lineage.core.dataid import data_id_object
from lineage.core.errors import LineageError
from lineage.core.model import Kind, Rel
from lineage.core.time import parse_utc_stamp, utc_stamp_of_tai
from lineage.export import queries
from lineage.ingest.openlineage_events import (CONFIG_FACET, DATASET_FACET, QUANTUM_FACET,
                                               SOFTWARE_FACET, butler_dataset_name,
                                               facet_schema_url)
from lineage.store.base import Store

#: The ``producer`` of every event and ``_producer`` of every facet.
PRODUCER = f"urn:survey-lineage:{version('survey-lineage')}"

#: A quantum's status -> the event that ends its run (others end with none).
TERMINAL_EVENT = {"successful": RunState.COMPLETE, "failed": RunState.FAIL,
                  "aborted": RunState.ABORT}


@attr.define(kw_only=True)
class QuantumRunFacet(RunFacet):
    """``surveyLineage_quantum``: the quantum a run is."""
    run: str
    dataId: dict | None = None  # noqa: N815 (the facet's field names are camelCase)
    taskClass: str | None = None  # noqa: N815
    host: str | None = None
    status: str | None = None
    peakMemoryMb: float | None = None  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return facet_schema_url(QUANTUM_FACET)


@attr.define(kw_only=True)
class SoftwareRunFacet(RunFacet):
    """``surveyLineage_software``: the software version (its packages and their versions)."""
    name: str
    packages: dict | None = None

    @staticmethod
    def _get_schema() -> str:
        return facet_schema_url(SOFTWARE_FACET)


@attr.define(kw_only=True)
class ConfigRunFacet(RunFacet):
    """``surveyLineage_config``: the task's config values."""
    task: str
    values: dict

    @staticmethod
    def _get_schema() -> str:
        return facet_schema_url(CONFIG_FACET)


@attr.define(kw_only=True)
class ButlerDatasetFacet(DatasetFacet):
    """``surveyLineage_dataset``: the Butler dataset (its UUID is its key in the graph)."""
    uuid: str
    datasetType: str  # noqa: N815
    run: str
    dataId: dict  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return facet_schema_url(DATASET_FACET)


class ExportCounts(NamedTuple):
    quanta: int      #: quanta written as runs
    events: int
    skipped: int     #: quanta with neither a start nor an end time (no eventTime to give)


def default_namespace(repository_name: str) -> str:
    """The namespace of a repository's jobs and datasets: ``butler://<name>``."""
    return f"butler://{repository_name}"


def run_events(store: Store, namespace: str, skipped: list | None = None) -> Iterator[RunEvent]:
    """The run events of every quantum, ordered by start time then quantum key; the keys of
    quanta without any time are appended to ``skipped``."""
    links: dict[str, dict[str, list[str]]] = {}
    for quantum, rel, other in queries.quantum_links(store):
        links.setdefault(quantum, {}).setdefault(rel, []).append(other)
    dataset_keys = {k for q in links.values()
                    for k in (*q.get(Rel.INPUT_TO.value, ()), *q.get(Rel.PRODUCED.value, ()))}
    datasets = _datasets(store.nodes(Kind.DATASET.value, dataset_keys), namespace)
    software = store.nodes(Kind.SOFTWARE_VERSION.value,
                           {k for q in links.values() for k in q.get(Rel.RAN_WITH.value, ())})
    configs = store.nodes(Kind.CONFIG.value,
                          {k for q in links.values() for k in q.get(Rel.CONFIGURED_BY.value, ())})
    rows = sorted(((key, dict(props)) for key, props in queries.quanta(store)),
                  key=lambda row: (_utc(row[1], "start") or _utc(row[1], "end") or "", row[0]))
    for key, props in rows:
        start, end = _utc(props, "start"), _utc(props, "end")
        if start is None and end is None:
            if skipped is not None:
                skipped.append(key)
            continue
        own = links.get(key, {})
        inputs = [datasets[d][0] for d in sorted(own.get(Rel.INPUT_TO.value, ())) if d in datasets]
        outputs = [datasets[d][1] for d in sorted(own.get(Rel.PRODUCED.value, ()))
                   if d in datasets]
        job = Job(namespace=namespace, name=props.get("task") or "unknown")
        facets = _run_facets(props, software, configs, own)
        terminal = TERMINAL_EVENT.get(props.get("status"))
        run_id = key.removeprefix("quantum:")
        yield _event(RunState.START, start or end, run_id, facets, job, inputs,
                     [] if terminal else outputs, key)
        if terminal is not None:
            end_facets = {}
            if terminal is RunState.FAIL and props.get("error"):
                end_facets["errorMessage"] = ErrorMessageRunFacet(
                    message=str(props["error"]), programmingLanguage="python", producer=PRODUCER)
            yield _event(terminal, end or start, run_id, end_facets, job, inputs, outputs, key)


def write_events(store: Store, out: IO[str], namespace: str, progress=None) -> ExportCounts:
    """Write :func:`run_events` as NDJSON (keys sorted, one event a line)."""
    skipped: list[str] = []
    events = 0
    runs = set()
    for event in run_events(store, namespace, skipped):
        out.write(json.dumps(Serde.to_dict(event), sort_keys=True, separators=(",", ":")) + "\n")
        events += 1
        runs.add(event.run.runId)
        if progress:
            progress(1)
    return ExportCounts(len(runs), events, len(skipped))


def _event(state, when: str, run_id: str, facets: dict, job, inputs, outputs, key) -> RunEvent:
    try:
        return RunEvent(eventType=state, eventTime=when, producer=PRODUCER,
                        run=Run(runId=run_id, facets=facets), job=job,
                        inputs=inputs, outputs=outputs)
    except ValueError as exc:
        raise LineageError(f"{key}: cannot be an OpenLineage run: {exc}") from None


def _utc(props: dict, name: str) -> str | None:
    """A quantum's ``start`` or ``end`` as a UTC stamp (stored in TAI, or in UTC when its
    ``time_scale`` says so)."""
    text = props.get(name)
    if not text:
        return None
    if (props.get("time_scale") or "utc").lower() == "tai":
        return utc_stamp_of_tai(str(text))
    return parse_utc_stamp(str(text))


def _run_facets(props: dict, software: dict, configs: dict, links: dict) -> dict:
    facets = {QUANTUM_FACET: QuantumRunFacet(
        run=props.get("run") or "", dataId=data_id_object(props.get("data_id")) or None,
        taskClass=props.get("task_class"), host=props.get("host"), status=props.get("status"),
        peakMemoryMb=props.get("peak_memory_mb"), producer=PRODUCER)}
    for sw in links.get(Rel.RAN_WITH.value, ())[:1]:
        if sw in software:
            packages = software[sw].get("packages")
            facets[SOFTWARE_FACET] = SoftwareRunFacet(
                name=software[sw].get("name") or sw.removeprefix("software:"),
                packages=json.loads(packages) if packages else None, producer=PRODUCER)
    for cf in links.get(Rel.CONFIGURED_BY.value, ())[:1]:
        if cf in configs:
            facets[CONFIG_FACET] = ConfigRunFacet(task=configs[cf].get("task") or "",
                                                  values=json.loads(configs[cf].get("values")
                                                                    or "{}"),
                                                  producer=PRODUCER)
    return facets


def _datasets(records: dict[str, dict], namespace: str) -> dict[str, tuple]:
    """dataset key -> (InputDataset, OutputDataset), each built once and shared by the events."""
    out = {}
    for key, props in records.items():
        run, dataset_type, data_id = props.get("run"), props.get("dataset_type"), props.get("data_id")
        if run and dataset_type and data_id is not None:
            name = butler_dataset_name(run, dataset_type, data_id)
            facets = {DATASET_FACET: ButlerDatasetFacet(
                uuid=key.removeprefix("dataset:"), datasetType=dataset_type, run=run,
                dataId=data_id_object(data_id), producer=PRODUCER)}
        else:  # a dataset the graph knows only by its UUID (or an OpenLineage name)
            name, facets = props.get("name") or key.removeprefix("dataset:"), {}
        out[key] = (InputDataset(namespace=props.get("namespace") or namespace, name=name,
                                 facets=facets),
                    OutputDataset(namespace=props.get("namespace") or namespace, name=name,
                                  facets=facets))
    return out

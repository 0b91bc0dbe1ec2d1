"""Rubin provenance quantum graphs (``.qg``), read through ``lsst-pipe-base``.

Needs the optional extra: ``pip install 'survey-lineage[rubin]'``.  A
provenance quantum graph is what ``butler aggregate-graph``
(:func:`lsst.pipe.base.quantum_graph.aggregator.aggregate_graph`) writes for
one processing run: every quantum with its status, exception, resource usage
and task metadata, every dataset it read or wrote and whether it was produced,
the pipeline graph (task classes and configs) and the software versions.  It
is read with :class:`lsst.pipe.base.quantum_graph.ProvenanceQuantumGraphReader`
(tasks are not imported, so the pipeline's own packages need not be installed)
and built like our own run format (:mod:`.run_format`):

* each quantum is a ``Quantum`` ``quantum:<quantum UUID>`` with ``task``,
  ``task_class``, ``data_id`` (required dimensions, as Butler exports write
  them), ``run`` (the graph's output RUN), ``status`` (the last attempt's
  ``QuantumAttemptStatus`` in lower case: ``successful``, ``failed``,
  ``blocked``, ``unknown``, ``aborted``, ``aborted_success``), ``caveats``
  (the ``QuantumSuccessCaveats`` flags as an integer), ``attempts``,
  ``error`` (exception type and message), ``start``/``end`` (the resource
  usage's UTC times, stored in TAI with UTC copies; the start is the
  beginning of "prep", ``prepUtc``), ``peak_memory_mb``, ``cpu_time_s`` (the
  run stage's CPU time, the usage's ``run_time_cpu``), and from its task
  metadata, when it was written, ``quantum_cpu_time_s`` (the whole quantum's,
  ``endCpuTime - prepCpuTime``, as :mod:`.task_metadata` reads it) and
  ``host`` (``nodeName``);
* each *produced* dataset is a ``Dataset`` ``dataset:<UUID>`` (type, data ID,
  run), ``INPUT_TO`` the quanta that read it and ``PRODUCED`` by its quantum;
  datasets that were predicted but never produced (outputs of failed or
  blocked quanta) are not stored and are listed as skipped;
* the graph's package versions are one ``SoftwareVersion`` (a package set,
  ``software:packages-<hash>``, ``RAN_WITH`` from every quantum); each task's
  config is a ``Config`` (``CONFIGURED_BY``) whose values are the literal
  assignments of the saved pex_config text (parsed, never executed).

Init-quanta (which write ``<task>_config`` and init-outputs such as schemas)
are not stored.  A file that lsst-pipe-base cannot read (truncated, corrupt,
a predicted rather than a provenance graph) is rejected with the part that
failed and the reader's error; nothing of it is stored.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field

from lineage.core.dataid import format_data_id
from lineage.core.model import package_set_key, quantum_key
from lineage.ingest.driver import IngestContext, IngestError, Parsed
from lineage.ingest.provenance import ProvenanceBuilder, times
from lineage.ingest.task_metadata import cpu_since


def read(path, context: IngestContext) -> Parsed:
    _require_pipe_base(path)
    b = ProvenanceBuilder(path, context.store)
    loaded = load(path, b.fail)
    skipped: list[str] = []
    counts = build(b, loaded, skipped)
    b.check()
    return Parsed(path, b.batch, skipped=skipped, counts=counts)


def _require_pipe_base(path) -> None:
    try:
        import lsst.pipe.base.quantum_graph  # noqa: F401
    except ImportError:
        raise IngestError(path, "", "a Rubin provenance quantum graph needs lsst-pipe-base: "
                                    "pip install 'survey-lineage[rubin]'") from None


@dataclass
class Loaded:
    """What lsst-pipe-base's reader gave for one file."""

    graph: object  # lsst.pipe.base.quantum_graph.ProvenanceQuantumGraph
    packages: dict[str, str] = field(default_factory=dict)
    #: quantum UUID -> the task metadata of its last attempt (only where it was written)
    metadata: dict = field(default_factory=dict)


def load(path, fail) -> Loaded:
    """Read the whole graph, its packages and the task metadata of every quantum.

    The reader raises whatever its layers raise on a damaged file (zipfile,
    zstd, pydantic, TypeError for a predicted graph, even MemoryError for a
    corrupt length), so every exception is caught here and reported with the
    part being read."""
    from lsst.pipe.base.quantum_graph import ProvenanceQuantumGraphReader
    part = "header"
    try:
        with ProvenanceQuantumGraphReader.open(str(path)) as reader:
            part = "quanta and datasets"
            reader.read_full_graph()
            part = "packages"
            packages = {str(k): str(v) for k, v in reader.fetch_packages().items()}
            part = "task metadata"
            quanta = [q for qs in reader.graph.quanta_by_task.values() for q in qs.values()]
            metadata = {q: attempts[-1] for q, attempts in reader.fetch_metadata(quanta).items()
                        if attempts and attempts[-1] is not None}
            return Loaded(reader.graph, packages, metadata)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        fail(part, "not a readable provenance quantum graph: "
                   f"{type(exc).__name__}: {exc}".rstrip(": "))


def build(b: ProvenanceBuilder, loaded: Loaded, skipped: list[str]) -> dict[str, int]:
    """Fill ``b`` from a loaded graph; unproduced datasets go to ``skipped``."""
    graph = loaded.graph
    header, xgraph = graph.header, graph.bipartite_xgraph
    collection = b.collection(header.output_run)
    b.batch.add_node(collection, output_chain=header.output, inputs=list(header.inputs or ()),
                     provenance_user=header.user, provenance_command=header.command)
    software = None
    if loaded.packages:
        software = b.software(package_set_key(loaded.packages).split(":", 1)[1], loaded.packages)
    configs = {label: _config(b, label, node, skipped)
               for label, node in graph.pipeline_graph.tasks.items()}

    quanta = [q for qs in graph.quanta_by_task.values() for q in qs.values()]
    produced = {d for q in quanta for d in (*xgraph.predecessors(q), *xgraph.successors(q))
                if xgraph.nodes[d]["produced"]}
    b.look_up(f"dataset:{d}" for d in produced)
    outputs = {q: [d for d in xgraph.successors(q) if d in produced] for q in quanta}
    for q in quanta:
        for d in outputs[q]:
            b.dataset(str(d), where=f"dataset {d}", **_record(xgraph.nodes[d]))
    unproduced, read_datasets, by_status = set(), set(), {}
    for q in quanta:
        info = xgraph.nodes[q]
        data_id = _record(info)["data_id"]
        where = f"quantum {q} ({info['task_label']} {format_data_id(data_id)})"
        inputs = []
        for d in xgraph.predecessors(q):
            if d not in produced:
                unproduced.add(d)
                continue
            inputs.append(b.reference(str(d), f"dataset {d}", **_record(xgraph.nodes[d])))
            read_datasets.add(d)
        unproduced.update(d for d in xgraph.successors(q) if d not in produced)
        status = info["status"].name.lower()
        by_status[status] = by_status.get(status, 0) + 1
        key = b.quantum(quantum_key(str(q)), inputs, [f"dataset:{d}" for d in outputs[q]],
                        software, configs[info["task_label"]], at=where, task=info["task_label"],
                        task_class=info["pipeline_node"].task_class_name,
                        data_id=format_data_id(data_id), run=header.output_run, status=status,
                        caveats=None if info["caveats"] is None else info["caveats"].value,
                        attempts=len(info["attempts"]), error=_error(info["exception"]),
                        host=_host(loaded.metadata.get(q)),
                        quantum_cpu_time_s=_quantum_cpu(loaded.metadata.get(q)),
                        **_usage(b, info["resource_usage"], where))
        b.units(key, data_id, where)
    for d in sorted(unproduced, key=str):
        record = _record(xgraph.nodes[d])
        skipped.append(f"dataset {d} ({record['dataset_type']} "
                       f"{format_data_id(record['data_id'])}): predicted, never produced")
    n_outputs = sum(len(v) for v in outputs.values())
    overall_inputs = len(read_datasets - {d for v in outputs.values() for d in v})
    return {"quanta": len(quanta), "datasets": n_outputs, "inputs": overall_inputs,
            **{s: n for s, n in sorted(by_status.items()) if s != "successful"}}


def _record(info) -> dict:
    """Type, data ID (required dimensions) and run of a dataset node; data ID of a quantum."""
    return {"dataset_type": info.get("dataset_type_name"),
            "data_id": dict(info["data_id"].required), "run": info.get("run")}


def _usage(b: ProvenanceBuilder, usage, where: str) -> dict:
    """Times, memory and CPU of the last attempt (``QuantumResourceUsage``), if any."""
    if usage is None:
        return {}
    try:
        when = times(usage.start.isoformat(), usage.end.isoformat(), "utc")
    except ValueError as exc:
        b.fail(f"{where}.resource_usage", str(exc))
    return {"peak_memory_mb": usage.memory / 2**20, "cpu_time_s": usage.run_time_cpu, **when}


def _error(exception) -> str | None:
    return None if exception is None else f"{exception.type_name}: {exception.message}"


def _quantum_cpu(metadata) -> float | None:
    """The whole quantum's CPU time (prep, init and run) from its task metadata."""
    if metadata is None or "quantum" not in metadata:
        return None
    return cpu_since(metadata["quantum"].get("prepCpuTime"),
                     metadata["quantum"].get("endCpuTime"))


def _host(metadata) -> str | None:
    if metadata is None or "quantum" not in metadata:
        return None
    return metadata["quantum"].get("nodeName")


def _config(b: ProvenanceBuilder, label: str, task_node, skipped: list[str]) -> str | None:
    try:
        values = config_values(task_node.get_config_str())
    except SyntaxError as exc:
        skipped.append(f"config of task {label}: not Python ({exc.msg}, line {exc.lineno})")
        return None
    return b.config(label, values) if values else None


def config_values(text: str) -> dict:
    """``{"field.sub": value}`` from saved pex_config text: every ``config.<name> = <literal>``
    assignment (later ones win).  The text is parsed, never run; assignments of
    anything but a JSON-able literal (a retargeted subtask, a function call) are
    left out.  SyntaxError when the text is not Python."""
    values = {}
    for stmt in ast.parse(text).body:
        if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
            continue
        name = _dotted(stmt.targets[0])
        if name is None or not name.startswith("config."):
            continue
        try:
            value = ast.literal_eval(stmt.value)
            json.dumps(value)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            continue
        values[name[len("config."):]] = value
    return values


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])

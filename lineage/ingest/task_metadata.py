"""pipe_base task metadata of one quantum (the ``<task>_metadata`` dataset, as JSON).

The record (``{"attempts": [{"metadata": {"quantum": ..., "<task>": ...}}]}``,
e.g. ``metrics/pipe_base/DM-54057.json``) holds the host (``nodeName``), UTC
times and CPU/memory counters of the quantum's last attempt and the UUIDs of
the datasets it wrote, but not the quantum's own UUID, its data ID or its
inputs.  It becomes one ``Quantum`` keyed by
``uuid5(namespace, "task-metadata/<task>/<sorted output UUIDs>")``, with
``status: "successful"`` when the attempt has an end time (pipe_base writes
the record when the quantum finished), ``start``/``end`` (TAI, UTC copies),
``host``, ``peak_memory_mb`` (the end ``MaxResidentSetSize``, bytes / 2**20),
``cpu_time_s`` and ``quantum_cpu_time_s``, and ``PRODUCED`` edges to its
outputs (datasets not stored yet are created from their UUID alone).

Times follow lsst.pipe.base's own reading (``QuantumResourceUsage.from_task_metadata``):
the quantum starts at ``prepUtc``, the beginning of its "prep" stage (checking
inputs and outputs, ``adjustQuantum``), not at ``startUtc``, the beginning of
its "run" stage; it ends at ``endUtc``.  ``cpu_time_s`` is pipe_base's
``run_time_cpu``, the run stage's CPU time (``endCpuTime - startCpuTime``);
``quantum_cpu_time_s`` is the whole quantum's, prep, init and run
(``endCpuTime - prepCpuTime``).
"""

from __future__ import annotations

import json
import uuid

from lineage.core.model import quantum_key
from lineage.ingest.provenance import ProvenanceBuilder, times

_NAMESPACE = uuid.UUID("0b6f43c4-58a8-4b43-9d63-3f3f1d3c7a5e")


def is_task_metadata(doc) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("attempts"), list)


def build(b: ProvenanceBuilder, doc: dict) -> dict[str, int]:
    if not doc["attempts"]:
        b.fail("$.attempts", "empty: no attempt of the quantum is recorded")
    n = len(doc["attempts"]) - 1
    where = f"$.attempts[{n}].metadata"
    md = doc["attempts"][n].get("metadata")
    if not isinstance(md, dict) or not isinstance(md.get("quantum"), dict):
        b.fail(f"{where}.quantum", "missing: not a task metadata record")
    tasks = [k for k in md if k not in ("quantum", "job") and ":" not in k]
    if len(tasks) != 1:
        b.fail(where, f"expected the metadata of one task, found {tasks or 'none'}")
    task = tasks[0]
    scalars, arrays = md["quantum"].get("scalars", {}), md["quantum"].get("arrays", {})

    def last(name, required=False):
        values = arrays.get(name)
        if not values:
            if required:
                b.fail(f"{where}.quantum.arrays.{name}", "missing")
            return None
        return values[-1]

    try:
        when = times(last("prepUtc", True), last("endUtc"), "utc")
    except ValueError as exc:
        b.fail(f"{where}.quantum.arrays", str(exc))
    outputs = [str(uuid.UUID(o)) for o in arrays.get("outputs", [])]
    rss, end_cpu = last("endMaxResidentSetSize"), last("endCpuTime")
    b.look_up(f"dataset:{o}" for o in outputs)
    keys = [b.reference(o, f"{where}.quantum.arrays.outputs") for o in outputs]
    task_sections = {k: v.get("scalars", {}) for k, v in md.items() if k.startswith(f"{task}")}
    qid = uuid.uuid5(_NAMESPACE, f"task-metadata/{task}/{','.join(sorted(outputs))}")
    b.quantum(quantum_key(str(qid)), (), keys, at=where, task=task, host=scalars.get("nodeName"),
              status="successful" if "end" in when else "unknown",
              peak_memory_mb=None if rss is None else rss / 2**20,
              cpu_time_s=cpu_since(last("startCpuTime"), end_cpu),
              quantum_cpu_time_s=cpu_since(last("prepCpuTime"), end_cpu),
              caveats=scalars.get("caveats"), attempts=len(doc["attempts"]),
              task_metadata=json.dumps(task_sections, sort_keys=True), **when)
    return {"quanta": 1, "outputs": len(outputs)}


def cpu_since(begin: float | None, end: float | None) -> float | None:
    """CPU seconds from ``begin`` to ``end`` (process CPU times, as the ``<stage>CpuTime``
    entries of task metadata hold them); None when either is missing."""
    return None if begin is None or end is None else end - begin

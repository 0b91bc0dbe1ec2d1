"""The pre-flight report: what a predicted quantum graph would run, checked against the
lineage graph before the run is submitted.

For each quantum (task and data ID) of the predicted graph (:mod:`.predicted`):

* its inputs the lineage graph **knows** (a ``Dataset`` with the input's UUID) and those it
  has **never seen**;
* its inputs that are **flagged or contaminated**, from the marks flagging already wrote
  (:func:`lineage.flags.contamination_of_datasets`; nothing is propagated here), with each
  active flag's key, verdict, reason, steps and fraction.  An input's *level* is the worst
  of its marks: ``bad`` or ``suspect`` (the flag's verdict) when a flag names the input
  itself (0 steps), ``contaminated`` when it was made from flagged data (1 step or more);
* its outputs that **already exist**: a dataset of the same type and data ID in the
  output RUN (the run would collide with it) or in a RUN the output chain already holds
  (the run would make it again, and shadow it);
* its **calibration** inputs (dataset types marked ``is_calibration``), and whether each is
  certified in a CALIBRATION collection for a validity range that overlaps the quantum's
  exposure or visit (the Butler's rule, :func:`lineage.dataunits.calibs.valid_over`).

The gate: with ``fail_on`` (one of :data:`LEVELS`), the report says it failed when any
input is at that level or a worse one (``bad`` is worse than ``suspect``, which is worse
than ``contaminated``).
"""

from __future__ import annotations

import time
from collections import defaultdict

from lineage.core.errors import UserError
from lineage.core.model import collection_key, unit_key
from lineage.dataunits.calibs import valid_over
from lineage.dataunits.queries import calibration_collection_keys, collection_and_chained
from lineage.flags import contamination_of_datasets, list_flags
from lineage.flags.core import chunks
from lineage.preflight import queries
from lineage.preflight.predicted import PredictedGraph, read_predicted

#: An input's levels, least severe first: ``--fail-on L`` fails on L and every level after it.
LEVELS = ("contaminated", "suspect", "bad")


def check_level(fail_on: str | None) -> None:
    """Refuse a gate level that is not one of :data:`LEVELS` (None: no gate)."""
    if fail_on is not None and fail_on not in LEVELS:
        raise UserError(f"{fail_on!r}: must be one of {', '.join(LEVELS)}", field="fail_on")


def preflight(store, path, fail_on: str | None = None) -> dict:
    """The pre-flight report of the predicted quantum graph at ``path`` (module docstring),
    as ``lineage preflight --json`` prints it (data IDs as text here)."""
    check_level(fail_on)
    started = time.perf_counter()
    graph = read_predicted(path)
    read_seconds = time.perf_counter() - started
    inputs = {d.key: d for q in graph.quanta for d in q.inputs}
    known = store.nodes("Dataset", inputs)
    levels, marks = _flagged(store, list(known))
    existing = _existing_outputs(store, graph)
    searched = _calibration_collections(store, graph.input_collections)
    certified = _certification(store, graph, searched)
    quanta = [_quantum(q, known, levels, marks, existing, certified) for q in graph.quanta]
    report = {
        "file": graph.path, "output_run": graph.output_run, "output": graph.output,
        "input_collections": graph.input_collections,
        "calibration_collections": sorted(k.split(":", 1)[1] for k in searched),
        "user": graph.user,
        "created": graph.created,
        "output_run_exists": bool(store.nodes("Collection",
                                              [collection_key(graph.output_run)])),
        "tasks": _tasks(quanta), "totals": _totals(quanta), "quanta": quanta,
    }
    report["gate"] = _gate(report["totals"], fail_on)
    report["seconds"] = {"read_graph_file": round(read_seconds, 3),
                         "ask_lineage_graph": round(time.perf_counter() - started
                                                    - read_seconds, 3)}
    return report


# --- asking the lineage graph ---------------------------------------------------------------

def _flagged(store, keys: list[str]) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """For the datasets ``keys`` that active flags mark: each one's level, and its marks
    (flag, verdict, reason, steps, fraction; the largest fraction first)."""
    reasons = {f["key"]: f.get("reason") for f in list_flags(store)}
    levels, marks = {}, {}
    for chunk in chunks(keys):
        for record in contamination_of_datasets(store, chunk):
            if not record["contaminated"]:
                continue
            by = [{**m, "reason": reasons.get(m["flag"])} for m in record["by"]]
            marks[record["key"]] = by
            levels[record["key"]] = max(
                (m["verdict"] if m["steps"] == 0 else "contaminated" for m in by),
                key=LEVELS.index)
    return levels, marks


def _existing_outputs(store, graph: PredictedGraph) -> dict[tuple[str, str], list[dict]]:
    """(dataset type, data ID) -> the datasets of the output RUN, and of the RUNs the output
    chain holds, that an output of the graph would repeat: their UUID, RUN and where
    (``in``: ``output RUN`` or ``output chain``); a dataset deleted in the graph (a
    tombstone) with ``deleted`` (when): the Butler may still hold it, so it is reported, and
    marked."""
    runs = {collection_key(graph.output_run): "output RUN"}
    chain = collection_and_chained(store, graph.output) if graph.output else None
    if chain is not None:
        for key, kind in zip(chain.chained_keys, chain.chained_types):
            if kind == "RUN":
                runs.setdefault(key, "output chain")
    types = sorted({d.dataset_type for q in graph.quanta for d in q.outputs})
    found = defaultdict(list)
    if types:
        for d in queries.datasets_of_types_in(store, sorted(runs), types):
            found[d.dataset_type, d.data_id].append(
                {"uuid": d.key.split(":", 1)[1], "run": d.run,
                 "in": runs.get(collection_key(d.run), "output chain"),
                 **({"deleted": d.deleted_at} if d.deleted_at else {})})
    return found


def _exposure(dimensions: dict) -> str | None:
    """The key of the exposure (or else the visit) a quantum's data ID names, if any."""
    for dimension in ("exposure", "visit"):
        if dimension in dimensions and "instrument" in dimensions:
            return unit_key(dimension, dimensions[dimension], (dimensions["instrument"],))
    return None


def _calibration_collections(store, inputs: list[str]) -> set[str]:
    """Keys of the CALIBRATION collections the graph's input collections are or chain to:
    where its quanta look calibrations up.  When the lineage graph knows none of the input
    collections (not synced), every CALIBRATION collection."""
    found, known = set(), False
    for name in inputs:
        row = collection_and_chained(store, name)
        if row is None:
            continue
        known = True
        found.update(k for k, kind in zip([row.key, *row.chained_keys],
                                          [row.collection_type, *row.chained_types])
                     if kind == "CALIBRATION")
    return found if known else set(calibration_collection_keys(store))


def _certification(store, graph: PredictedGraph,
                   calibration_collections: set[str]) -> dict[tuple[str, str], dict]:
    """(quantum key, calibration key) -> whether that calibration is certified for the
    quantum's exposure in one of ``calibration_collections`` (keys): ``{certified,
    collections, exposure}`` (certified None: the quantum names no exposure or visit with
    a time)."""
    reads = [(q, d) for q in graph.quanta for d in q.inputs if d.is_calibration]
    if not reads:
        return {}
    ranges = defaultdict(list)
    for dataset, collection, begin, end in store.related(
            "Dataset", "CONTAINS", False, "Collection", ["valid_begin", "valid_end"],
            {d.key for _, d in reads}):
        if collection in calibration_collections:
            ranges[dataset].append((collection.split(":", 1)[1], begin, end))
    exposures = {q.key: _exposure(q.dimensions) for q, _ in reads}
    units = store.nodes("DataUnit", {k for k in exposures.values() if k})
    out = {}
    for q, d in reads:
        unit = units.get(exposures[q.key]) or {}
        begin, end = unit.get("mjd_begin"), unit.get("mjd_end")
        if begin is None:
            out[q.key, d.key] = {"certified": None, "collections": [],
                                 "exposure": exposures[q.key]}
            continue
        valid = sorted({c for c, vb, ve in ranges[d.key]
                        if valid_over(vb, ve, begin, begin if end is None else end)})
        out[q.key, d.key] = {"certified": bool(valid), "collections": valid,
                             "exposure": exposures[q.key]}
    return out


# --- the report -------------------------------------------------------------------------------

def _dataset(d) -> dict:
    return {"dataset_type": d.dataset_type, "data_id": d.data_id, "run": d.run,
            "uuid": d.key.split(":", 1)[1]}


def _quantum(q, known, levels, marks, existing, certified) -> dict:
    """One quantum's part of the report."""
    flagged = [{**_dataset(d), "level": levels[d.key], "flags": marks[d.key]}
               for d in q.inputs if d.key in levels]
    return {
        "task": q.task, "data_id": q.data_id, "quantum": q.key.split(":", 1)[1],
        "inputs": len(q.inputs), "outputs": len(q.outputs),
        "level": max((f["level"] for f in flagged), key=LEVELS.index, default=None),
        "unknown_inputs": [_dataset(d) for d in q.inputs if d.key not in known],
        "flagged_inputs": flagged,
        "clashes": [{"dataset_type": d.dataset_type, "data_id": d.data_id, **e}
                    for d in q.outputs for e in existing.get((d.dataset_type, d.data_id), ())],
        "calibrations": [{**_dataset(d), **certified[q.key, d.key]}
                         for d in q.inputs if d.is_calibration],
    }


def _counts(quanta: list[dict]) -> dict:
    """Quanta, and distinct datasets of each finding, over ``quanta``."""
    def distinct(field, keep=lambda item: True):
        return len({item["uuid"] for q in quanta for item in q[field] if keep(item)})

    def at_level(level):
        return distinct("flagged_inputs", lambda item: item["level"] == level)
    return {"quanta": len(quanta), "unknown_inputs": distinct("unknown_inputs"),
            **{level: at_level(level) for level in reversed(LEVELS)},
            "clashes": distinct("clashes"), "calibrations": distinct("calibrations"),
            "not_certified": distinct("calibrations", lambda c: c["certified"] is False)}


def _tasks(quanta: list[dict]) -> list[dict]:
    by_task = defaultdict(list)
    for q in quanta:
        by_task[q["task"]].append(q)
    return [{"task": task, **_counts(qs)} for task, qs in sorted(by_task.items())]


def _totals(quanta: list[dict]) -> dict:
    return {"tasks": len({q["task"] for q in quanta}), **_counts(quanta)}


def _gate(totals: dict, fail_on: str | None) -> dict:
    """Whether the gate ``fail_on`` fails, and the worst level of any input."""
    worst = next((level for level in reversed(LEVELS) if totals[level]), None)
    failed = (fail_on is not None and worst is not None
              and LEVELS.index(worst) >= LEVELS.index(fail_on))
    return {"fail_on": fail_on, "worst": worst, "failed": failed}

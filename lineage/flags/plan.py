"""Reprocessing plans (LDF101 e) and reproduction with every input (LDF102)."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable

import networkx as nx

from lineage.core.dataid import DataId
from lineage.traversal.traverse import upstream
from lineage.flags import queries
from lineage.flags.core import as_of_time, chunks
from lineage.flags.propagation import CALIBRATION_TYPES
from lineage.flags.records import find_flag, list_flags, marks


def _active_flag_keys(store, flag_ids=None, as_of=None) -> list[str]:
    if flag_ids:
        return sorted({find_flag(store, f)["key"] for f in flag_ids})
    return [f["key"] for f in list_flags(store, as_of)]


def flagged_datasets(store, keys: Iterable[str] | None = None, as_of=None) -> dict[str, list[str]]:
    """Directly flagged datasets (of active flags): dataset key -> flag keys."""
    at = as_of_time(store, as_of) or "9999"
    out: dict[str, list[str]] = defaultdict(list)
    if keys is None:
        rows = queries.active_flags_on_datasets(store, at)
    else:
        rows = []
        for chunk in chunks(set(keys)):
            rows += queries.active_flags_on_datasets(store, at, chunk)
    for d, f in rows:
        out[d].append(f)
    return {k: sorted(v) for k, v in sorted(out.items())}


def reprocessing_plan(store, flag_ids=None, as_of=None) -> dict:
    """The quanta to rerun, in dependency order, each without its flagged inputs.

    A contaminated quantum whose science inputs are all flagged (or were all
    written by dropped quanta) has nothing left to run on: it is listed under
    ``dropped`` instead, and its outputs are dropped from later input lists.  A quantum
    that a rerun carried out already rebuilt (``superseded_by``, written by
    :func:`lineage.flags.rerun.mark_done`) is listed under ``superseded``, not planned.
    """
    flags = _active_flag_keys(store, flag_ids, as_of)
    at = as_of_time(store, as_of) or "9999"
    quanta: set[str] = set()
    for f in flags:
        quanta |= {k for k in marks(store, f) if k.startswith("quantum:")}
    info, superseded = {}, {}   # superseded: a rerun carried out rebuilt them already
    for chunk in chunks(quanta):
        for q, task, did, run, by in queries.quanta_info(store, chunk):
            if by is None:
                info[q] = (task, did, run)
            else:
                superseded[q] = by
    quanta -= superseded.keys()
    flagged = flagged_datasets(store, as_of=as_of)
    flagged_quanta = set(queries.actively_flagged_quanta(store, at))
    inputs, outputs = defaultdict(list), defaultdict(list)
    for chunk in chunks(quanta):
        for q, d, t, rejected in queries.quanta_inputs(store, chunk):
            inputs[q].append((d, t, bool(rejected)))
        for q, d in queries.quanta_outputs(store, chunk):
            outputs[q].append(d)
    producer = {d: q for q, ds in outputs.items() for d in ds}
    order = nx.DiGraph()
    order.add_nodes_from(quanta)
    for q, ins in inputs.items():
        for d, _, _ in ins:
            if producer.get(d) in quanta:
                order.add_edge(producer[d], q)
    rerun, dropped = [], []
    lost: set[str] = set()  # outputs of dropped quanta: they will not exist any more
    for q in nx.lexicographical_topological_sort(order, key=lambda k: (info[k][0], info[k][1], k)):
        task, did, run = info[q]
        keep = sorted(d for d, _, rej in inputs[q] if d not in flagged and d not in lost
                      and not rej)
        entry = {"quantum": q, "task": task, "data_id": did, "run": run, "inputs": keep,
                 "dropped_inputs": sorted(d for d, _, _ in inputs[q] if d in flagged),
                 "lost_inputs": sorted(d for d, _, _ in inputs[q] if d in lost and d not in flagged),
                 "rejected_inputs": sorted(d for d, _, rej in inputs[q] if rej),
                 "outputs": sorted(outputs[q])}
        science_left = [d for d, t, rej in inputs[q] if d not in flagged and d not in lost
                        and not rej and t not in CALIBRATION_TYPES]
        if q in flagged_quanta or not science_left:
            dropped.append(entry)
            lost.update(outputs[q])
        else:
            entry["order"] = len(rerun)
            rerun.append(entry)
    return {"flags": flags, "rerun": rerun, "dropped": dropped,
            "superseded": [{"quantum": q, "by": run} for q, run in sorted(superseded.items())],
            "excluded_datasets": sorted(flagged),
            "data_queries": data_queries(rerun, store, flagged)}


def _expr_value(value: str) -> str:
    return value if re.fullmatch(r"-?\d+", value) else f"'{value}'"


def data_queries(rerun: list[dict], store=None, flagged=()) -> dict:
    """Butler-style data-ID expressions per task (``-d`` of a pipeline runner), plus the
    expression excluding flagged visits that every rerun should carry."""
    per_task: dict[str, list[str]] = defaultdict(list)
    for e in rerun:
        parts = [f"{k}={_expr_value(v)}" for k, v in DataId.parse(e["data_id"]).items()]
        expr = "(" + " AND ".join(parts) + ")"
        if expr not in per_task[e["task"]]:
            per_task[e["task"]].append(expr)
    visits = set()
    if store is not None and flagged:
        for chunk in chunks(flagged):
            for did in queries.data_ids(store, chunk):
                d = DataId.parse(did)
                if "visit" in d and "detector" not in d:
                    visits.add(d["visit"])
    out = {task: " OR ".join(sorted(exprs)) for task, exprs in sorted(per_task.items())}
    if visits:
        out["_exclude"] = f"NOT (visit IN ({', '.join(sorted(visits))}))"
    return out


def inputs_for(store, selector: str, types=None, as_of=None) -> list[dict]:
    """LDF102: every input upstream of a product, flagged ones marked, so it can be
    rebuilt with them (all rows) or without them (rows with ``flagged`` false)."""
    rows = upstream(store, selector, types=types)
    flagged = flagged_datasets(store, [r.key for r in rows], as_of)
    out = []
    for r in rows:
        d = r.as_dict()
        d["flagged"] = r.key in flagged
        d["flags"] = flagged.get(r.key, [])
        out.append(d)
    return out

"""Propagation: everything a flag reaches downstream, with steps and fractions.

The fraction rules are in the package docstring (:mod:`lineage.flags`) and
``docs/flags.md``.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from lineage.core.dataid import DataId
from lineage.core.model import Kind, kind_of_key
from lineage.traversal.traverse import MAX_STEPS, type_graph
from lineage.store.cypher import BATCH_ROWS, Statement
from lineage.flags import queries
from lineage.flags.core import chunks


#: Dataset types that are calibrations: left out of a step's input count.
CALIBRATION_TYPES = frozenset({"bias", "dark", "flat", "fringe", "defects", "crosstalk",
                               "linearizer", "ptc", "bfk", "camera", "transmission_curve"})

#: Tasks whose inputs weigh the number of science inputs of the quantum that made them.
WEIGHTED_TASKS = frozenset({"assembleCoadd"})

#: Stored fractions are rounded to this many decimals (engines print floats differently).
FRACTION_DIGITS = 12


# --- propagation -----------------------------------------------------------------

@dataclass
class Propagation:
    """Everything one flag reaches, computed from the graph, not yet written.

    Nodes are named by their *ref* (:meth:`lineage.store.dialect.Dialect.ref`: the
    key, or the engine's internal id where that is faster to find); ``key``
    holds the keys of the seeds and of the nodes whose details were fetched.
    """

    seeds: dict                                                  # flagged ref -> dataset type
    key: dict = field(default_factory=dict)                      # ref -> key (where known)
    steps: dict = field(default_factory=dict)                    # dataset or quantum -> steps
    fraction: dict = field(default_factory=dict)                 # dataset or quantum -> fraction
    dataset_type: dict = field(default_factory=dict)
    data_id: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)
    task: dict = field(default_factory=dict)                     # quantum -> task
    quantum_refs: set = field(default_factory=set)
    inputs: dict = field(default_factory=lambda: defaultdict(set))   # q -> reached inputs
    outputs: dict = field(default_factory=lambda: defaultdict(set))  # q -> outputs
    producer: dict = field(default_factory=dict)                 # dataset -> quantum

    @property
    def datasets(self) -> list:
        return [r for r in self.steps if r not in self.quantum_refs]

    @property
    def quanta(self) -> list:
        return [r for r in self.steps if r in self.quantum_refs]


def _denominators(store, quanta: list, weighted: list):
    """(science input count per quantum, input weights per weighted quantum)."""
    calib = sorted(CALIBRATION_TYPES)
    science: dict = {}
    weights: dict = defaultdict(dict)
    for chunk in chunks(quanta):
        for q, n in queries.science_input_counts(store, chunk, calib):
            science[q] = int(n)
    for chunk in chunks(weighted):
        for q, w, skip, n in queries.input_weights(store, chunk, calib):
            if not skip:
                weights[q][w] = int(n)
    return science, weights


def propagate(store, seeds: dict[str, str | None]) -> Propagation:
    """Every dataset and quantum downstream of ``seeds`` (keys), with steps and fractions.

    A breadth-first search, one query per step over the whole frontier (as
    :func:`lineage.traversal.traverse.bfs`, which it follows), that also keeps which
    quantum read which reached dataset, so that fractions can be computed in
    topological order afterwards; rejected inputs are not followed, and a
    dataset whose type feeds no task (``FEEDS``) is marked but not expanded.
    The input counts of the quanta found at one step are asked for in a
    second thread while the search takes the next step.
    """
    p = Propagation({})
    for label, kind in (("Dataset", Kind.DATASET), ("Quantum", Kind.QUANTUM)):
        keys = [k for k in seeds if kind_of_key(k) == kind]
        for chunk in chunks(keys):
            for key, ref in queries.seed_refs(store, label, chunk):
                p.seeds[ref] = seeds[key]
                p.key[ref] = key
                p.steps[ref] = 0
                p.fraction[ref] = 1.0
                if kind == Kind.QUANTUM:
                    p.quantum_refs.add(ref)
                elif seeds[key]:
                    p.dataset_type[ref] = seeds[key]
    feeds = type_graph(store)
    onward = {t for t in feeds if feeds.out_degree(t)}
    frontier = list(p.seeds)
    level = 0
    pending = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lineage-flags") as pool:
        while frontier and level < MAX_STEPS:
            level += 1
            nxt = []
            found = []
            for steps_from, refs in ((queries.steps_from_datasets,
                                      [r for r in frontier if r not in p.quantum_refs]),
                                     (queries.steps_from_quanta,
                                      [r for r in frontier if r in p.quantum_refs])):
                for chunk in chunks(refs):
                    for a, q, task, b, btype in steps_from(store, chunk):
                        if a is not None:
                            p.inputs[q].add(a)
                        p.outputs[q].add(b)
                        p.producer[b] = q
                        if q not in p.task:
                            p.task[q] = task
                            p.quantum_refs.add(q)
                            if q not in p.seeds:
                                found.append(q)
                        p.steps.setdefault(q, level)
                        if b not in p.steps:
                            p.steps[b] = level
                            if btype is None or btype in onward:
                                nxt.append(b)
                        p.dataset_type[b] = btype
            if found:
                pending.append(pool.submit(_denominators, store, found,
                                           [q for q in found if p.task[q] in WEIGHTED_TASKS]))
            frontier = nxt
        science: dict = {}
        weights: dict = {}
        for future in pending:
            s, w = future.result()
            science.update(s)
            weights.update(w)
    _fractions(p, science, weights)
    return p


def _fractions(p: Propagation, science: dict, weights: dict) -> None:
    """Fill ``p.fraction`` for every reached quantum and dataset (rules in the module doc)."""
    for ref in p.seeds:  # a flagged quantum taints all it wrote
        if ref in p.quantum_refs:
            for b in p.outputs.get(ref, ()):
                p.fraction.setdefault(b, 1.0)
    for q in _dependency_order(p):
        w = weights.get(q, {})
        # inputs without a producing quantum (raws) weigh 1 in a weighted task too
        total = sum(w.values()) + max(0, science.get(q, 0) - len(w))
        reached = calib_max = 0.0
        for a in p.inputs.get(q, ()):
            fa = p.fraction.get(a, 0.0)
            if p.dataset_type.get(a) in CALIBRATION_TYPES:
                calib_max = max(calib_max, fa)
            else:
                reached += w.get(a, 1) * fa
        f = reached / total if total else 0.0
        f = min(1.0, max(f, calib_max))
        p.fraction[q] = f
        for b in p.outputs.get(q, ()):
            if b not in p.seeds:
                p.fraction[b] = f


def _dependency_order(p: Propagation) -> list:
    """The reached quanta (seeds left out), each after the quanta that wrote its inputs.

    Kahn's algorithm on plain dicts: a flag's walk reaches tens of thousands
    of quanta, and this is several times faster than building a networkx graph.
    """
    seeds, producer = p.seeds, p.producer
    waiting: dict = {}
    later: dict = defaultdict(list)
    for q in p.task:
        if q in seeds:
            continue
        before = {producer[a] for a in p.inputs.get(q, ()) if a not in seeds and a in producer}
        before = {b for b in before if b not in seeds}
        waiting[q] = len(before)
        for b in before:
            later[b].append(q)
    ready = [q for q, n in waiting.items() if n == 0]
    order = []
    while ready:
        q = ready.pop()
        order.append(q)
        for c in later.get(q, ()):
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    if len(order) != len(waiting):
        raise RuntimeError("lineage cycle among reached quanta")  # a graph bug: never expected
    return order


def _details(store, p: Propagation, refs) -> None:
    """Key, data ID and run of datasets (the walk itself carries refs and types only)."""
    for chunk in chunks([r for r in refs if r not in p.data_id]):
        for ref, key, dtype, did, run in queries.dataset_details(store, chunk):
            p.key[ref] = key
            p.dataset_type[ref] = dtype
            p.data_id[ref] = did or ""
            p.run[ref] = run or ""


def blast_radius(store, p: Propagation, top: int = 10, by_tract_band: bool = True) -> dict:
    """Counts by dataset type, by (tract, band), and the most affected products."""
    by_type: dict[str, int] = defaultdict(int)
    for r in p.datasets:
        by_type[p.dataset_type.get(r) or ""] += 1
    def rank(r):
        return -p.fraction.get(r, 0.0), p.steps[r], p.dataset_type.get(r) or ""
    ranks = {r: rank(r) for r in p.datasets if r not in p.seeds}
    # every product tied with the last one shown competes on data ID and key
    # (refs are the engine's: they must not decide)
    last = heapq.nsmallest(top, ranks.values())[-1] if ranks else None
    candidates = [r for r, k in ranks.items() if k <= last]
    _details(store, p, p.datasets if by_tract_band else candidates)
    products = sorted(candidates, key=lambda r: (*rank(r), p.data_id.get(r, ""),
                                                  p.run.get(r, ""), p.key.get(r, "")))[:top]
    out = {
        "flagged": sum(1 for r in p.seeds if r not in p.quantum_refs),
        "datasets": len(p.datasets),
        "quanta": len(p.quanta),
        "by_dataset_type": dict(sorted(by_type.items())),
        "most_affected": [{"key": p.key[r], "dataset_type": p.dataset_type.get(r) or "",
                           "data_id": p.data_id.get(r, ""), "run": p.run.get(r, ""),
                           "steps": p.steps[r], "fraction": round(p.fraction.get(r, 0.0), 6)}
                          for r in products],
    }
    if by_tract_band:
        out["by_tract_band"] = tract_band_counts(store, (p.data_id.get(r, "")
                                                         for r in p.datasets))
    return out


def tract_band_counts(store, data_ids) -> list[dict]:
    """How many of the datasets with these data IDs (texts, one per dataset) have each
    tract and band: ``[{"tract", "band", "datasets"}]``, tract and band None when the data
    ID has none, sorted (None first).  A dataset of a visit or exposure without a band in
    its data ID gets its visit's band (one query for all of them).  Each distinct data ID
    is parsed once: a flag's datasets share few of them (types and runs repeat them)."""
    per_text = Counter(data_ids)
    ids = {text: DataId.parse(text) for text in per_text}
    # the band of visit- and exposure-level datasets comes from their visit
    band_of = {}
    values = sorted({d.get("visit") or d.get("exposure") for d in ids.values()
                     if "band" not in d and (d.get("visit") or d.get("exposure"))})
    if values:
        for dim, value, band in queries.bands_of_visits(store, values):
            band_of[(dim, value)] = band
    counts: Counter = Counter()
    for text, n in per_text.items():
        d = ids[text]
        band = d.get("band") or band_of.get(("visit", d.get("visit"))) or \
            band_of.get(("exposure", d.get("exposure")))
        counts[(d.get("tract"), band)] += n
    def order(item):
        (tract, band), _ = item
        return tract is not None, tract or "", band is not None, band or ""
    return [{"tract": t, "band": b, "datasets": n}
            for (t, b), n in sorted(counts.items(), key=order)]


def mark_statements(store, p: Propagation, flag_key: str) -> list[Statement]:
    """One ``CONTAMINATED_BY`` edge per reached node into the flag, by ref.

    Written with the unit that creates or updates the flag (``extra`` of
    :meth:`lineage.store.base.Store.prepare`), so flag and marks land together.
    """
    out = []
    for label, refs in (("Dataset", p.datasets), ("Quantum", p.quanta)):
        steps, fraction = p.steps, p.fraction
        rows = [[r, steps[r], round(fraction.get(r, 0.0), FRACTION_DIGITS)] for r in refs]
        for i in range(0, len(rows), BATCH_ROWS):
            out.append(queries.mark_statement(store, label, flag_key, rows[i:i + BATCH_ROWS]))
    return out

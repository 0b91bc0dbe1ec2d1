"""The release-to-release comparison (DRP31, ARCH5, LDF104, SQR9).

The same product in two releases is the same ``(dataset_type, data_id)``
pair (its UUID differs: each release writes its own RUN).  For each dataset
type, in the order of the type graph (``FEEDS``), the diff reads how the
type's datasets were made in each release (:class:`.making.Making`: a few
whole-type queries), reads the datasets of A and of B (one query per type
and release), matches them by data ID, and for every product in both
compares its making:

* inputs, as ``(dataset_type, data_id)`` pairs: which were added or dropped
  (and so which visits or exposures a coadd gained or lost, ARCH5);
* software version (which packages changed) and config (which keys);
* active flags contaminating it;
* upstream: the steps above it whose own quanta changed, carried down the
  lineage type by type (a calexp made by new software changes every warp,
  coadd and catalog made from it).

Memory is bounded by one dataset type, not by the release: the making of one
type in both releases and its keys by data ID in A, and the upstream changes
of the types still to be read, kept per type as the most common set plus the
exceptions.  Every added, removed or changed product goes to a ``sink`` as it
is found, never kept.  (Reading the making per dataset, in chunks of keys,
was ten times slower: a query per key list costs ~20 us a key on FalkorDB.)
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

import networkx as nx

from ..query import type_graph
from .making import Made, Making, members, other_members, software_and_configs
from .releases import DataUnits, DiffFilter, Release, ReleaseError, parse_data_id, resolve_release
from .stats import PropertyStats

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VISIT_DIMS = ("visit", "exposure")

ADDED, REMOVED, CHANGED = "added", "removed", "changed"

#: The keys of every detail record; a changed product has more (what changed).
_BASE = ("status", "dataset_type", "data_id", "a", "b")


class Upstream:
    """Changes above each dataset of release B (frozensets of ``(task, kind)``), by
    dataset type and data ID, kept per type as the most common set plus the exceptions."""

    def __init__(self) -> None:
        self._done: dict[str, tuple[frozenset, dict]] = {}
        self._current: dict[str, frozenset] = {}
        self._intern: dict[frozenset, frozenset] = {}

    _NOTHING = (frozenset(), {})

    def of(self, dataset_type: str, data_id: str) -> frozenset:
        common, exceptions = self._done.get(dataset_type, self._NOTHING)
        return exceptions.get(data_id, common)

    def set(self, data_id: str, changes: frozenset) -> None:
        self._current[data_id] = self._intern.setdefault(changes, changes)

    def finish(self, dataset_type: str) -> None:
        counts = Counter(self._current.values())
        common = counts.most_common(1)[0][0] if counts else frozenset()
        self._done[dataset_type] = (common, {k: v for k, v in self._current.items()
                                             if v != common})
        self._current = {}


def changed_values(a: dict, b: dict) -> dict:
    """Keys whose value differs: key -> [value in A, value in B] (None: absent)."""
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _visits(items) -> list[str]:
    out = set()
    for _, did in items:
        d = parse_data_id(did)
        for dim in _VISIT_DIMS:
            if dim in d:
                out.add(d[dim])
                break
    return sorted(out, key=lambda v: (len(v), v))


@dataclass
class DiffResult:
    """Everything a diff found except the per-product detail (that goes to the sink)."""

    a: Release
    b: Release
    filter: DiffFilter
    by_type: dict = field(default_factory=lambda: defaultdict(Counter))   # type -> Counter
    by_tract_band: dict = field(default_factory=lambda: defaultdict(Counter))  # "tract/band"
    by_patch: dict = field(default_factory=lambda: defaultdict(Counter))  # (tract, patch, band)
    #                                      (with "inputs": changed products whose inputs differ)
    reasons: dict = field(default_factory=lambda: defaultdict(Counter))  # type -> reasons
    steps: dict = field(default_factory=lambda: defaultdict(Counter))    # task -> changes
    visits_a: set = field(default_factory=set)
    visits_b: set = field(default_factory=set)
    software: dict = field(default_factory=dict)        # key -> packages
    configs: dict = field(default_factory=dict)         # key -> values
    properties: PropertyStats | None = None
    metrics: list = field(default_factory=list)         # stats.MetricComparison

    def count(self, dataset_type: str, data_id: dict, what: str) -> None:
        self.by_type[dataset_type][what] += 1
        self.by_tract_band[f"{data_id.get('tract', '-')}/{data_id.get('band', '-')}"][what] += 1
        self.count_patch(data_id, what)

    def count_patch(self, data_id: dict, what: str) -> None:
        if "tract" in data_id and "patch" in data_id:
            p = (data_id["tract"], data_id["patch"], data_id.get("band", "-"))
            self.by_patch[p][what] += 1

    def totals(self) -> dict:
        total = Counter()
        for c in self.by_type.values():
            total.update(c)
        return {k: total.get(k, 0) for k in ("a", "b", ADDED, REMOVED, CHANGED, "unchanged")}

    def step_changes(self) -> list[dict]:
        """Per task: software and config pairs seen on common products, with what changed."""
        out = []
        for task in sorted(self.steps):
            c = self.steps[task]
            entry = {"task": task, "products_compared": c.get("compared", 0),
                     "inputs_changed": c.get("inputs", 0), "software": [], "config": []}
            for (kind, a, b), n in sorted(((k, n) for k, n in c.items() if isinstance(k, tuple)),
                                          key=lambda x: (x[0][0], str(x[0][1]), str(x[0][2]))):
                if kind == "software":
                    entry["software"].append({"a": a, "b": b, "products": n, "packages":
                                              changed_values(self.software.get(a, {}),
                                                             self.software.get(b, {}))})
                else:
                    entry["config"].append({"a": a, "b": b, "products": n, "keys":
                                            changed_values(self.configs.get(a, {}),
                                                           self.configs.get(b, {}))})
            if entry["software"] or entry["config"] or entry["inputs_changed"]:
                out.append(entry)
        return out

    def summary(self) -> dict:
        def plain(d):
            return {k: dict(sorted(v.items())) for k, v in sorted(d.items())}
        return {
            "a": {"name": self.a.name, "runs": list(self.a.runs), "others": list(self.a.others)},
            "b": {"name": self.b.name, "runs": list(self.b.runs), "others": list(self.b.others)},
            "filter": self.filter.as_dict(),
            "totals": self.totals(),
            "by_type": plain(self.by_type),
            "by_tract_band": plain(self.by_tract_band),
            "reasons": plain(self.reasons),
            "steps": self.step_changes(),
            "visits": {"a": len(self.visits_a), "b": len(self.visits_b),
                       "dropped": sorted(self.visits_a - self.visits_b, key=lambda v: (len(v), v)),
                       "added": sorted(self.visits_b - self.visits_a, key=lambda v: (len(v), v))},
            "properties": self.properties.as_list() if self.properties else [],
            "metrics": [m.as_dict() for m in self.metrics],
        }


class _Differ:
    def __init__(self, store, a: Release, b: Release, flt: DiffFilter, sink: Callable,
                 props: list[str]) -> None:
        self.store, self.a, self.b, self.filter, self.sink = store, a, b, flt, sink
        self.props = props
        self.units = DataUnits.load(store)
        self.upstream = Upstream()
        self.with_flags = bool(store.read("MATCH (f:Flag) RETURN count(f)")[0][0])
        self.result = DiffResult(a, b, flt, properties=PropertyStats(props))
        self.result.software, self.result.configs = software_and_configs(store)
        self.others_a = other_members(store, a, props)
        self.others_b = other_members(store, b, props)

    def types(self) -> tuple[list[str], set[str]]:
        """Dataset types to read, in lineage order, and those some other type is made from."""
        g = type_graph(self.store)
        names = [n for (n,) in self.store.read("MATCH (t:DatasetType) RETURN t.name ORDER BY t.name")]
        g.add_nodes_from(names)
        order = list(nx.lexicographical_topological_sort(g))
        if self.filter.types:
            unknown = [t for t in self.filter.types if t not in g]
            if unknown:
                raise ReleaseError(f"unknown dataset type {unknown[0]!r}; known: {', '.join(names)}")
            needed = set(self.filter.types)
            for t in self.filter.types:
                needed |= nx.ancestors(g, t)
            order = [t for t in order if t in needed]
        feeding = {t for t in order if any(True for _ in g.successors(t))}
        self.produced = {t for t in order if any(True for _ in g.predecessors(t))}
        return order, feeding

    def run(self) -> DiffResult:
        order, feeding = self.types()
        for t in order:
            self.one_type(t, t in feeding)
        return self.result

    def one_type(self, t: str, feeds: bool) -> None:
        """Match one dataset type's datasets of A and B by data ID; compare the common ones.
        Added datasets, and datasets that are the same in both, have nothing above them
        that changed (``Upstream.set`` records that when another type is made from them)."""
        r, props = self.result, self.props
        produced = t in self.produced
        making_a = Making(self.store, self.a, t, self.with_flags) if produced else None
        in_a: dict[str, str] = {}
        for row in members(self.store, self.a, t, props, self.others_a):
            key, did = row[0], row[1] or ""
            if did in in_a:
                continue  # a second dataset with that data ID in the release: the first counts
            in_a[did] = key
            self._seen(t, self._shown(t, did), "a", row[2:])
        making_b = Making(self.store, self.b, t, self.with_flags) if produced else None
        for row in members(self.store, self.b, t, props, self.others_b):
            key, did = row[0], row[1] or ""
            data_id = self._shown(t, did)
            self._seen(t, data_id, "b", row[2:])
            a_key = in_a.pop(did, None)
            if a_key is None:
                self._report_single(t, did, data_id, ADDED, key)
            elif a_key != key:
                ma = making_a.of(a_key) if produced else Made(a_key)
                mb = making_b.of(key) if produced else Made(key)
                self._compare(t, did, data_id, ma, mb, feeds)
            elif data_id is not None:
                r.count(t, data_id, "unchanged")   # the very same dataset in both releases
            if feeds and a_key in (None, key):
                self.upstream.set(did, frozenset())
        for did, key in sorted(in_a.items()):
            self._report_single(t, did, self._shown(t, did), REMOVED, key)
        if props:
            r.properties.finish(t)
        if feeds:
            self.upstream.finish(t)

    def _shown(self, t: str, did: str) -> dict | None:
        """The data ID (with its implied band) if the filter lets the dataset be reported."""
        data_id = self.units.full(parse_data_id(did))
        return data_id if self.filter.passes(t, data_id) else None

    def _seen(self, t: str, data_id: dict | None, side: str, values) -> None:
        if data_id is None:
            return
        self.result.count(t, data_id, side)
        if t in self.produced:  # visits processed by the release (raws are in both)
            visits = self.result.visits_a if side == "a" else self.result.visits_b
            for dim in _VISIT_DIMS:
                if dim in data_id:
                    visits.add(data_id[dim])
                    break
        if self.props:
            self.result.properties.add(t, side, values)

    def _report_single(self, t: str, did: str, data_id: dict | None, status: str,
                       key: str) -> None:
        if data_id is None:
            return
        self.result.count(t, data_id, status)
        self.sink({"status": status, "dataset_type": t, "data_id": did,
                   "a": key if status == REMOVED else None,
                   "b": key if status == ADDED else None})

    def _compare(self, t: str, did: str, data_id: dict | None, ma: Made, mb: Made,
                 feeds: bool) -> None:
        """One product in both releases (different datasets): report it if anything in its
        making or above it changed; remember what changed above it for its consumers."""
        own, record = self._product(t, did, ma, mb)
        above = frozenset().union(*{self.upstream.of(it, idid) for it, idid in mb.inputs})
        if feeds:
            self.upstream.set(did, above | own)
        if data_id is None:
            return
        reasons = self.result.reasons[t]
        for kind in ("inputs", "software", "config", "flags"):
            if kind in record:
                reasons[kind] += 1
        if above:
            record["upstream"] = [{"task": task, "change": kind}
                                  for task, kind in sorted(above)]
            for task, kind in above:
                reasons[f"upstream {kind} ({task})"] += 1
        if len(record) > len(_BASE):
            self.result.count(t, data_id, CHANGED)
            if "inputs" in record:
                self.result.count_patch(data_id, "inputs")
            self.sink(record)
        else:
            self.result.count(t, data_id, "unchanged")

    def _product(self, t: str, did: str, ma: Made, mb: Made) -> tuple[frozenset, dict]:
        """What changed in the making of one product: its own changes (task, kind) and
        the detail record (only the ``_BASE`` keys when nothing changed)."""
        record = {"status": CHANGED, "dataset_type": t, "data_id": did, "a": ma.key, "b": mb.key}
        changes = made_changes(ma, mb, self.result.software, self.result.configs)
        record.update(changes)
        task = mb.task or ma.task
        if task is not None:
            step = self.result.steps[task]
            step["compared"] += 1
            if "inputs" in changes:
                step["inputs"] += 1
            for kind in ("software", "config"):
                if kind in changes:
                    step[(kind, changes[kind]["a"], changes[kind]["b"])] += 1
        own = frozenset((task, kind) for kind in ("inputs", "software", "config")
                        if kind in changes)
        return own, record


def made_changes(ma: Made, mb: Made, software: dict, configs: dict) -> dict:
    """How the making of a product differs between releases: ``inputs`` (added, removed,
    visits gained and lost), ``software`` (packages), ``config`` (keys), ``flags``;
    only what differs.  ``software``/``configs``: key -> packages / values."""
    out = {}
    task = mb.task or ma.task
    if set(ma.inputs) != set(mb.inputs):
        added = sorted(set(mb.inputs) - set(ma.inputs))
        removed = sorted(set(ma.inputs) - set(mb.inputs))
        va, vb = _visits(ma.inputs), _visits(mb.inputs)
        in_a, in_b = set(va), set(vb)
        out["inputs"] = {"added": [f"{it} {d}" for it, d in added],
                         "removed": [f"{it} {d}" for it, d in removed],
                         "visits_added": [v for v in vb if v not in in_a],
                         "visits_dropped": [v for v in va if v not in in_b]}
    if ma.software != mb.software:
        out["software"] = {"task": task, "a": ma.software, "b": mb.software,
                           "packages": changed_values(software.get(ma.software, {}),
                                                      software.get(mb.software, {}))}
    if ma.config != mb.config:
        out["config"] = {"task": task, "a": ma.config, "b": mb.config,
                         "keys": changed_values(configs.get(ma.config, {}),
                                                configs.get(mb.config, {}))}
    if ma.flags != mb.flags:
        out["flags"] = {"added": sorted(mb.flags - ma.flags), "removed": sorted(ma.flags - mb.flags)}
    return out


def diff_releases(store, a: str, b: str, flt: DiffFilter | None = None,
                  sink: Callable[[dict], None] | None = None, properties=("size",),
                  metrics: bool = True, tolerance=None) -> DiffResult:
    """Compare releases ``a`` and ``b`` (names of collections); every added, removed or
    changed product goes to ``sink`` as it is found; the summary comes back."""
    from .stats import compare_metrics
    ra, rb = resolve_release(store, a), resolve_release(store, b)
    props = [p for p in properties or () if _IDENT.match(p)]
    bad = [p for p in properties or () if not _IDENT.match(p)]
    if bad:
        raise ReleaseError(f"property {bad[0]!r}: not a property name")
    result = _Differ(store, ra, rb, flt or DiffFilter(), sink or (lambda rec: None),
                     props).run()
    if tolerance is not None and result.properties:
        result.properties.tolerance = tolerance
    if metrics:
        result.metrics = compare_metrics(store, ra, rb, tolerance)
    return result

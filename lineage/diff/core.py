"""The release-to-release comparison (DRP31, ARCH5, LDF104, SQR9).

The same product in two releases is the same ``(dataset_type, data_id)``
pair (its UUID differs: each release writes its own RUN).  For each dataset
type, in the order of the type graph (``FEEDS``), the diff reads how the
type's datasets were made in each release (:class:`.making.Making`: a few
whole-type queries), reads the datasets of A and of B (one query per type
and release), matches them by data ID, and for every product in both
compares its making:

* inputs, by :func:`.making.input_name` (type and data ID): which were added or dropped
  (and so which visits or exposures a coadd gained or lost, ARCH5);
* software version (which packages changed) and config (which keys);
* active flags contaminating it;
* upstream: the steps above it whose own quanta changed, carried down the
  lineage type by type (a calexp made by new software changes every warp,
  coadd and catalog made from it).

Memory is bounded by two dataset types, not by the release: the making of the
type compared and of the type read ahead (a reader thread reads the next type
meanwhile), in both releases, their keys by data ID in A, and the upstream
changes of the types still to be read, kept per type as the most common set
plus the exceptions.  Every added, removed or changed product goes to a
``sink`` as it is found, never kept.  (Reading the making per dataset, in
chunks of keys, was ten times slower: a query per key list costs ~20 us a key
on FalkorDB.)  At 10^6 datasets a release the time is the interpreter's:
plain reads (``Store.read_plain``), no cyclic GC and a short switch interval
while diffs run (:func:`lineage.core.bulk.bulk_work`), and equality tests before any record is
built keep it at ~40 s (docs/benchmarks.md, Release diff).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import networkx as nx

from lineage.core.bulk import bulk_work
from lineage.core.compare import changed_values
from lineage.core.dataid import DataId
from lineage.core.progress import progress_bar
from lineage.dataunits.queries import dataset_type_names
from lineage.traversal.traverse import type_graph
from lineage.traversal.queries import any_deleted
from lineage.diff import queries
from lineage.diff.making import Made, Making, members, other_members, software_and_configs, split_input
from lineage.diff.releases import DataUnits, DiffFilter, Release, ReleaseError, resolve_release
from lineage.diff.stats import PropertyStats, compare_metrics

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
_EMPTY = frozenset()
_UNKNOWN = object()

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

    def above(self, inputs) -> frozenset:
        """Changes above a product made from ``inputs`` (:func:`.making.input_name` s)."""
        done, nothing = self._done, self._NOTHING
        out = _EMPTY
        for name in inputs:
            it, did = split_input(name)
            common, exceptions = done.get(it, nothing)
            changes = exceptions.get(did, common) if exceptions else common
            if changes and not changes <= out:
                out = out | changes
        return out

    def set(self, data_id: str, changes: frozenset) -> None:
        self._current[data_id] = self._intern.setdefault(changes, changes)

    def finish(self, dataset_type: str) -> None:
        counts = Counter(self._current.values())
        common = counts.most_common(1)[0][0] if counts else frozenset()
        self._done[dataset_type] = (common, {k: v for k, v in self._current.items()
                                             if v != common})
        self._current = {}



def _visit_of(data_id: dict) -> str | None:
    """The visit of a data ID, else its exposure."""
    return data_id.get("visit", data_id.get("exposure"))


def _visits(names) -> list[str]:
    """Visits (or exposures) of inputs named by :func:`.making.input_name`."""
    out = {_visit_of(DataId.parse(split_input(name)[1])) for name in names} - {None}
    return sorted(out, key=lambda v: (len(v), v))


@dataclass
class DiffResult:
    """Everything a diff found except the per-product detail (that goes to the sink)."""

    a: Release
    b: Release
    filter: DiffFilter
    by_type: dict = field(default_factory=lambda: defaultdict(Counter))   # type -> Counter
    by_tract_band: dict = field(default_factory=lambda: defaultdict(Counter))  # "tract/band"
    by_patch: dict = field(default_factory=lambda: defaultdict(Counter))
    #                                      (skymap, tract, patch, band)
    #                                      (with "inputs": changed products whose inputs differ)
    reasons: dict = field(default_factory=lambda: defaultdict(Counter))  # type -> reasons
    steps: dict = field(default_factory=lambda: defaultdict(Counter))    # task -> changes
    visits_a: set = field(default_factory=set)
    visits_b: set = field(default_factory=set)
    software: dict = field(default_factory=dict)        # key -> packages
    configs: dict = field(default_factory=dict)         # key -> values
    properties: PropertyStats | None = None
    metrics: list = field(default_factory=list)         # stats.MetricComparison

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


class _TypeReads(NamedTuple):
    """What the diff reads of one dataset type: its members and making in A and in B."""

    members_a: list
    making_a: Making | None
    members_b: list
    making_b: Making | None


class _Differ:
    def __init__(self, store, a: Release, b: Release, flt: DiffFilter, sink: Callable,
                 props: list[str], progress: bool = True) -> None:
        self.store, self.a, self.b, self.filter, self.sink = store, a, b, flt, sink
        self.props = props
        self.progress = progress
        self.units = DataUnits.load(store)
        self.upstream = Upstream()
        self.with_flags = bool(queries.flag_count(store))
        self.result = DiffResult(a, b, flt, properties=PropertyStats(props))
        self.result.software, self.result.configs = software_and_configs(store)
        # what a release holds: its live datasets (no test where no tombstone is stored)
        self.live_only = not flt.include_deleted and any_deleted(store)
        self.others_a = other_members(store, a, props, self.live_only)
        self.others_b = other_members(store, b, props, self.live_only)
        self._places: dict = {}

    def types(self) -> tuple[list[str], set[str]]:
        """Dataset types to read, in lineage order, and those some other type is made from."""
        g = type_graph(self.store)
        names = dataset_type_names(self.store)
        g.add_nodes_from(names)
        order = list(nx.lexicographical_topological_sort(g))
        if self.filter.types:
            needed = set(self.filter.types)
            for t in self.filter.types:
                needed |= nx.ancestors(g, t)
            order = [t for t in order if t in needed]
        feeding = {t for t in order if any(True for _ in g.successors(t))}
        self.produced = {t for t in order if any(True for _ in g.predecessors(t))}
        return order, feeding

    def read_type(self, t: str) -> _TypeReads:
        """Everything one type's comparison reads (run in the reader thread)."""
        produced = t in self.produced
        a, b = self.a, self.b
        return _TypeReads(
            list(members(self.store, a, t, self.props, self.others_a, self.live_only)),
            Making(self.store, a, t, self.with_flags) if produced else None,
            list(members(self.store, b, t, self.props, self.others_b, self.live_only)),
            Making(self.store, b, t, self.with_flags) if produced else None)

    def run(self) -> DiffResult:
        """Type by type in lineage order.  One reader thread reads the next type while this
        one is compared: the engine works on the other core, and a thread waiting for it
        holds no lock (at 10^6 datasets a release, a third of the time is the engine's)."""
        order, feeding = self.types()
        pool = ThreadPoolExecutor(1, thread_name_prefix="diff-reader")
        try:
            with bulk_work(), progress_bar("diff", total=len(order), unit="dataset types",
                                            enabled=self.progress) as advance:
                ahead = pool.submit(self.read_type, order[0]) if order else None
                for i, t in enumerate(order):
                    reads = ahead.result()
                    ahead = pool.submit(self.read_type, order[i + 1]) \
                        if i + 1 < len(order) else None
                    self.one_type(t, t in feeding, reads)
                    advance()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return self.result

    def one_type(self, t: str, feeds: bool, reads: _TypeReads) -> None:
        """Match one dataset type's datasets of A and B by data ID; compare the common ones.
        Added datasets, and datasets that are the same in both, have nothing above them
        that changed (``Upstream.set`` records that when another type is made from them)."""
        tally = _Tally(self.result, t, t in self.produced, bool(self.props))
        in_a: dict[str, tuple] = {}
        for row in reads.members_a:
            did = row[1] or ""
            if did in in_a:
                continue  # a second dataset with that data ID in the release: the first counts
            where = self._where(t, did)
            in_a[did] = (row[0], where)
            tally.seen(where, "a", row)
        compare = _Compare(self, t, reads.making_a, reads.making_b, tally)
        upstream_set = self.upstream.set
        for row in reads.members_b:
            key, did = row[0], row[1] or ""
            found = in_a.pop(did, None)
            where = found[1] if found is not None else self._where(t, did)
            tally.seen(where, "b", row)
            if found is None:
                self._report_single(tally, t, did, where, ADDED, key)
                if feeds:
                    upstream_set(did, _EMPTY)
            elif found[0] != key:
                own = compare(did, where, found[0], key)
                if feeds:
                    upstream_set(did, own)
            else:
                if where is not None:
                    tally.add(where, "unchanged")  # the very same dataset in both releases
                if feeds:
                    upstream_set(did, _EMPTY)
        for did, (key, where) in sorted(in_a.items()):
            self._report_single(tally, t, did, where, REMOVED, key)
        tally.finish()
        if feeds:
            self.upstream.finish(t)

    #: Data IDs whose place :meth:`_where` remembers (several types share them: a
    #: calexp, its src, difference image, DIA sources and forced sources).
    WHERE_CACHE = 500_000

    def _where(self, t: str, did: str) -> tuple | None:
        """Where a dataset is counted, ``(tract, band, patch, visit, skymap)`` (its implied
        band included), or None if the filter leaves it out."""
        if self.filter.types and t not in self.filter.types:
            return None
        found = self._places.get(did, _UNKNOWN)
        if found is _UNKNOWN:
            data_id = self.units.full(DataId.parse(did))
            found = None
            if self.filter.passes(t, data_id):
                found = (data_id.get("tract", "-"), data_id.get("band", "-"),
                         data_id.get("patch"), _visit_of(data_id), data_id.get("skymap", "-"))
            if len(self._places) >= self.WHERE_CACHE:
                self._places.clear()
            self._places[did] = found
        return found

    def _report_single(self, tally, t: str, did: str, where: tuple | None, status: str,
                       key: str) -> None:
        if where is None:
            return
        tally.add(where, status)
        self.sink({"status": status, "dataset_type": t, "data_id": did,
                   "a": key if status == REMOVED else None,
                   "b": key if status == ADDED else None})


class _Tally:
    """One dataset type's counts: where each dataset falls, listed by what it is ("a",
    "b", added, removed, changed, unchanged; "inputs" for changed inputs), counted and
    folded into the result once the type is done (a million datasets are counted three
    times each: appending is cheaper than counting as they come)."""

    def __init__(self, result: DiffResult, t: str, produced: bool, props: bool) -> None:
        self.result, self.t, self.produced = result, t, produced
        self.lists: dict[str, list] = defaultdict(list)
        self.rows = {"a": [], "b": []} if props else None   # for the property statistics

    def add(self, where: tuple, what: str) -> None:
        self.lists[what].append(where)

    def seen(self, where: tuple | None, side: str, row) -> None:
        if where is None:
            return
        self.lists[side].append(where)
        if self.rows is not None:
            self.rows[side].append(row)

    def finish(self) -> None:
        r, t = self.result, self.t
        for what, wheres in self.lists.items():   # a type the filter leaves out gets no row
            for (tract, band, patch, _, skymap), n in Counter(wheres).items():
                if what != "inputs":
                    r.by_type[t][what] += n
                    r.by_tract_band[f"{tract}/{band}"][what] += n
                if tract != "-" and patch is not None:
                    r.by_patch[skymap, tract, patch, band][what] += n
        if self.produced:   # visits processed by each release (raws are in both)
            for side, visits in (("a", r.visits_a), ("b", r.visits_b)):
                visits.update({w[3] for w in self.lists.get(side, ())} - {None})
        if self.rows is not None:
            for side in ("a", "b"):
                r.properties.add(t, side, self.rows[side], offset=2)
            r.properties.finish(t)


class _Compare:
    """Compares products of one type in both releases (different datasets): reports one if
    anything in its making or above it changed; returns what changed at it and above it
    (for its consumers).  The usual product, made the same way in both with the same inputs,
    is settled by a few equality tests; the full record is built only when they fail."""

    def __init__(self, differ: _Differ, t: str, making_a: Making | None,
                 making_b: Making | None, tally: _Tally) -> None:
        self.differ, self.t, self.tally = differ, t, tally
        self.making_a = making_a or Making.nothing()
        self.making_b = making_b or Making.nothing()
        self.upstream = differ.upstream
        self.reasons: Counter | None = None   # made on the first product compared
        self.steps = differ.result.steps
        self.changes_cache: dict = {}
        self.listed: dict = {}

    def __call__(self, did: str, where: tuple | None, key_a: str, key_b: str) -> frozenset:
        ma, mb = self.making_a, self.making_b
        if self.reasons is None:
            self.reasons = self.differ.result.reasons[self.t]
        ins_b = mb.inputs.get(key_b, _EMPTY)
        above = self.upstream.above(ins_b)
        setting_a, setting_b = ma.setting(key_a), mb.setting(key_b)
        task = setting_b[1] or setting_a[1]
        # the steps table counts only the products the filter keeps, as every table does
        counted = task if where is not None else None
        if (setting_a[2:] == setting_b[2:] and ma.flags.get(key_a) == mb.flags.get(key_b)
                and ma.inputs.get(key_a, _EMPTY) == ins_b):
            if counted is not None:
                self.steps[counted]["compared"] += 1
            own, record = _EMPTY, None
        else:
            own, record = self._product(did, ma.of(key_a), mb.of(key_b), task, counted)
        if where is None:
            return above | own
        if above:
            if record is None:
                record = {"status": CHANGED, "dataset_type": self.t, "data_id": did,
                          "a": key_a, "b": key_b}
            listed = self.listed.get(above)
            if listed is None:   # one list for every product with the same changes above
                listed = self.listed[above] = [{"task": task_, "change": kind}
                                               for task_, kind in sorted(above)]
            record["upstream"] = listed
            for task_, kind in above:
                self.reasons[f"upstream {kind} ({task_})"] += 1
        if record is not None and len(record) > len(_BASE):
            self.tally.add(where, CHANGED)
            if "inputs" in record:
                self.tally.add(where, "inputs")
            for kind in ("inputs", "software", "config", "flags"):
                if kind in record:
                    self.reasons[kind] += 1
            if flagged_input_removed(record):
                record["explained"] = FLAGGED_INPUT_REMOVED
                self.reasons[FLAGGED_INPUT_REMOVED] += 1
            self.differ.sink(record)
        else:
            self.tally.add(where, "unchanged")
        return above | own

    def _product(self, did: str, ma: Made, mb: Made, task: str | None,
                 counted: str | None) -> tuple[frozenset, dict]:
        """What changed in the making of one product: its own changes (task, kind) and
        the detail record (only the ``_BASE`` keys when nothing changed); counted in the
        steps table under ``counted`` (None: a product the filter leaves out)."""
        record = {"status": CHANGED, "dataset_type": self.t, "data_id": did,
                  "a": ma.key, "b": mb.key}
        changes = made_changes(ma, mb, self.differ.result.software, self.differ.result.configs,
                               self.changes_cache)
        record.update(changes)
        if counted is not None:
            step = self.steps[counted]
            step["compared"] += 1
            if "inputs" in changes:
                step["inputs"] += 1
            for kind in ("software", "config"):
                if kind in changes:
                    step[(kind, changes[kind]["a"], changes[kind]["b"])] += 1
        own = frozenset((task, kind) for kind in ("inputs", "software", "config")
                        if kind in changes)
        return own, record


#: Why a product changed when it lost inputs and, with them, the flags that marked it.
FLAGGED_INPUT_REMOVED = "flagged input removed"


def flagged_input_removed(changes: dict) -> bool:
    """Whether a product's changes (:func:`made_changes`) are a flagged input taken out:
    it lost inputs, and flags active now mark it in release A but not in B.  A flag
    marks a product only through what it was made from, so in B the flagged data is no
    longer upstream of it: a rerun without the flagged visit (docs/flags.md, the Data
    Release Board loop)."""
    return bool(changes.get("inputs", {}).get("removed")
                and changes.get("flags", {}).get("removed"))


def made_changes(ma: Made, mb: Made, software: dict, configs: dict,
                 cache: dict | None = None) -> dict:
    """How the making of a product differs between releases: ``inputs`` (added, removed,
    visits gained and lost), ``software`` (packages), ``config`` (keys), ``flags``;
    only what differs.  ``software``/``configs``: key -> packages / values; ``cache``
    keeps the software and config entries for the products still to come (a new software
    version changes every product of its step the same way; the entries are shared)."""
    out = {}
    task = mb.task or ma.task
    if set(ma.inputs) != set(mb.inputs):
        added = sorted(set(mb.inputs) - set(ma.inputs))
        removed = sorted(set(ma.inputs) - set(mb.inputs))
        va, vb = _visits(ma.inputs), _visits(mb.inputs)
        in_a, in_b = set(va), set(vb)
        out["inputs"] = {"added": added, "removed": removed,
                         "visits_added": [v for v in vb if v not in in_a],
                         "visits_dropped": [v for v in va if v not in in_b]}
    cache = {} if cache is None else cache
    for kind, a, b, values, name in (("software", ma.software, mb.software, software, "packages"),
                                     ("config", ma.config, mb.config, configs, "keys")):
        if a != b:
            entry = cache.get((kind, task, a, b))
            if entry is None:
                entry = cache[kind, task, a, b] = {
                    "task": task, "a": a, "b": b,
                    name: changed_values(values.get(a, {}), values.get(b, {}))}
            out[kind] = entry
    if ma.flags != mb.flags:
        out["flags"] = {"added": sorted(mb.flags - ma.flags), "removed": sorted(ma.flags - mb.flags)}
    return out


def diff_releases(store, a: str, b: str, flt: DiffFilter | None = None,
                  sink: Callable[[dict], None] | None = None, properties=("size",),
                  metrics: bool = True, tolerance=None, progress: bool = True) -> DiffResult:
    """Compare releases ``a`` and ``b`` (names of collections); every added, removed or
    changed product goes to ``sink`` as it is found (records share their nested software,
    config and upstream entries: read them, do not change them); the summary comes back.
    A progress bar (dataset types done) is drawn on a terminal unless ``progress`` is
    false."""
    ra, rb = resolve_release(store, a), resolve_release(store, b)
    flt = flt or DiffFilter()
    flt.check_known(store)
    props = [p for p in properties or () if _IDENT.match(p)]
    bad = [p for p in properties or () if not _IDENT.match(p)]
    if bad:
        raise ReleaseError(f"property {bad[0]!r}: not a property name")
    result = _Differ(store, ra, rb, flt, sink or (lambda rec: None),
                     props, progress).run()
    if tolerance is not None and result.properties:
        result.properties.tolerance = tolerance
    if metrics:
        result.metrics = compare_metrics(store, ra, rb, tolerance, flt)
    return result

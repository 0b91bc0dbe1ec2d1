"""GraphQL for release diffs (docs/diff.md): ``releaseDiff(a, b, filter, first, after)``.

The summary (counts by dataset type and tract/band, step changes, visits,
metric and property comparisons) comes whole; the per-product detail is the
paged ``changes`` connection, in the diff's own order (dataset types in
lineage order, then key order; the cursor is the position).

A diff of two big releases takes long (~40 s at 10^6 datasets each), so the
server keeps the last few answers (:class:`DiffSpools`): the summary, and
every change written to a temporary file as the diff finds it, with each
line's offset, so a page reads only its own lines and a request never holds
the whole detail.  A spooled answer serves pages while the graph's node,
edge and active-flag counts stay what they were and for at most
``SPOOL_TTL`` seconds (an edit that changes no count, such as a property
updated in place, shows after that); ``computedAt`` says when it was made.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from array import array
from collections import OrderedDict

import graphene
import orjson

from lineage.core.time import now_utc_iso
from lineage.diff import DiffFilter, Tolerance, diff_releases
from lineage.diff.core import ADDED, CHANGED, REMOVED
from lineage.flags.queries import active_flag_count
from lineage.api.errors import ApiError, argument
from lineage.api.pagination import Page, decode_cursor, page_size
from lineage.api.types import connection


class ReleaseDiffFilter(graphene.InputObjectType):
    types = graphene.List(graphene.NonNull(graphene.String), description="Dataset types.")
    tracts = graphene.List(graphene.NonNull(graphene.String))
    bands = graphene.List(graphene.NonNull(graphene.String),
                          description="Bands (a visit implies its band).")
    where = graphene.String(description="dim=value[,dim=value...] every dataset must match.")
    include_deleted = graphene.Boolean(description="A release holds its deleted datasets too "
                                                   "(tombstones: docs/retention.md).")


class DiffCounts(graphene.ObjectType):
    a = graphene.Int(required=True, description="Datasets in release A.")
    b = graphene.Int(required=True, description="Datasets in release B.")
    added = graphene.Int(required=True)
    removed = graphene.Int(required=True)
    changed = graphene.Int(required=True)
    unchanged = graphene.Int(required=True)


class DiffGroup(graphene.ObjectType):
    name = graphene.String(required=True, description="Dataset type, or tract/band.")
    counts = graphene.Field(DiffCounts, required=True)


class ValueChange(graphene.ObjectType):
    """A package version or config key: its value in A and in B (text as it is, other
    values as JSON; null: absent)."""

    name = graphene.String(required=True)
    a = graphene.String()
    b = graphene.String()


class SettingChange(graphene.ObjectType):
    """One pair of software versions (or configs) of a step, with what differs."""

    a = graphene.String()
    b = graphene.String()
    products = graphene.Int(required=True)
    packages = graphene.List(graphene.NonNull(ValueChange), required=True)
    keys = graphene.List(graphene.NonNull(ValueChange), required=True)


class StepChange(graphene.ObjectType):
    task = graphene.String(required=True)
    products_compared = graphene.Int(required=True)
    inputs_changed = graphene.Int(required=True)
    software = graphene.List(graphene.NonNull(SettingChange), required=True)
    config = graphene.List(graphene.NonNull(SettingChange), required=True)


class QuantityComparison(graphene.ObjectType):
    """A metric or dataset property in both releases; ``equivalent`` within the tolerance."""

    name = graphene.String(required=True)
    kind = graphene.String(required=True)
    unit = graphene.String()
    n_a = graphene.Int(required=True)
    n_b = graphene.Int(required=True)
    median_a = graphene.Float()
    median_b = graphene.Float()
    shift = graphene.Float()
    relative_shift = graphene.Float()
    ks = graphene.Float()
    tolerance = graphene.String()
    equivalent = graphene.Boolean()


class DiffChange(graphene.ObjectType):
    """One product added, removed or changed."""

    status = graphene.String(required=True, description="added, removed or changed")
    dataset_type = graphene.String(required=True)
    data_id = graphene.String(required=True)
    a = graphene.String(description="Its key in release A.")
    b = graphene.String(description="Its key in release B.")
    inputs_added = graphene.List(graphene.NonNull(graphene.String), required=True)
    inputs_removed = graphene.List(graphene.NonNull(graphene.String), required=True)
    visits_added = graphene.List(graphene.NonNull(graphene.String), required=True)
    visits_dropped = graphene.List(graphene.NonNull(graphene.String), required=True)
    software = graphene.Field(SettingChange, description="Of the step that made it.")
    config = graphene.Field(SettingChange, description="Of the step that made it.")
    flags_added = graphene.List(graphene.NonNull(graphene.String), required=True)
    flags_removed = graphene.List(graphene.NonNull(graphene.String), required=True)
    upstream = graphene.List(graphene.NonNull(graphene.String), required=True,
                             description="Changes above it: 'software of calibrate' ...")
    explained = graphene.String(description="Why, when the diff can say: 'flagged input "
                                            "removed'.")


DiffChangeConnection = connection("DiffChange", DiffChange,
                                  "A page of the products that differ, in the diff's order.")


class DiffReason(graphene.ObjectType):
    """How many products of a dataset type changed for one reason (inputs, software,
    config, flags, flagged input removed, upstream software (calibrate) ...)."""

    dataset_type = graphene.String(required=True)
    reason = graphene.String(required=True)
    products = graphene.Int(required=True)


class ReleaseDiff(graphene.ObjectType):
    a = graphene.String(required=True)
    b = graphene.String(required=True)
    totals = graphene.Field(DiffCounts, required=True)
    by_dataset_type = graphene.List(graphene.NonNull(DiffGroup), required=True)
    by_tract_band = graphene.List(graphene.NonNull(DiffGroup), required=True)
    steps = graphene.List(graphene.NonNull(StepChange), required=True)
    visits_dropped = graphene.List(graphene.NonNull(graphene.String), required=True)
    visits_added = graphene.List(graphene.NonNull(graphene.String), required=True)
    metrics = graphene.List(graphene.NonNull(QuantityComparison), required=True)
    properties = graphene.List(graphene.NonNull(QuantityComparison), required=True)
    reasons = graphene.List(graphene.NonNull(DiffReason), required=True,
                            description="Why products in both releases changed.")
    changes = graphene.Field(DiffChangeConnection, required=True,
                             description="The page chosen by releaseDiff's first/after.")
    computed_at = graphene.String(required=True,
                                  description="When the diff was computed (UTC, ISO 8601); "
                                              "later pages come from that answer.")


def _text(value) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _pairs(d: dict) -> list[dict]:
    return [{"name": k, "a": _text(a), "b": _text(b)} for k, (a, b) in d.items()]


def _setting(s: dict | None) -> dict | None:
    if s is None:
        return None
    return {"a": s["a"], "b": s["b"], "products": s.get("products", 1),
            "packages": _pairs(s.get("packages", {})), "keys": _pairs(s.get("keys", {}))}


def _change(r: dict) -> dict:
    i, f = r.get("inputs") or {}, r.get("flags") or {}
    return {"status": r["status"], "dataset_type": r["dataset_type"], "data_id": r["data_id"],
            "a": r["a"], "b": r["b"], "inputs_added": i.get("added", []),
            "inputs_removed": i.get("removed", []), "visits_added": i.get("visits_added", []),
            "visits_dropped": i.get("visits_dropped", []), "software": _setting(r.get("software")),
            "config": _setting(r.get("config")), "flags_added": f.get("added", []),
            "flags_removed": f.get("removed", []),
            "upstream": [f"{u['change']} of {u['task']}" for u in r.get("upstream", [])],
            "explained": r.get("explained")}


def _quantity(c: dict) -> dict:
    return {**{k: c[k] for k in ("name", "kind", "unit", "shift", "relative_shift", "ks",
                                 "tolerance", "equivalent")},
            "n_a": c["a"]["n"], "n_b": c["b"]["n"], "median_a": c["a"]["median"],
            "median_b": c["b"]["median"]}


def _counts(c: dict) -> dict:
    return {k: c.get(k, 0) for k in ("a", "b", "added", "removed", "changed", "unchanged")}


#: Answers a server keeps for paging, and how long one serves pages (seconds).
SPOOLED_DIFFS = 4
SPOOL_TTL = 600.0


def graph_state(store) -> tuple:
    """What a spooled answer must still match: node, edge and active-flag counts (a few
    milliseconds at 3.5 million nodes)."""
    return (*store.count(), active_flag_count(store))


class Spool:
    """One diff's answer: the summary fields and every change, one JSON line each in a
    temporary file (deleted when the spool is closed)."""

    def __init__(self, state: tuple) -> None:
        self.state, self.made = state, time.monotonic()
        self.computed_at = now_utc_iso()
        self.file = tempfile.TemporaryFile(prefix="lineage-diff-")
        self.offsets = array("Q", [0])     # where each change starts; the last: the end
        self.head: dict = {}

    def add(self, node: dict) -> None:
        line = orjson.dumps(node) + b"\n"
        self.file.write(line)
        self.offsets.append(self.offsets[-1] + len(line))

    def finish(self, head: dict) -> None:
        self.file.flush()
        self.head = head

    @property
    def total(self) -> int:
        return len(self.offsets) - 1

    def page(self, start: int, n: int) -> list[dict]:
        """Changes ``start`` to ``start + n`` (fewer at the end), read from their lines."""
        end = min(start + n, self.total)
        if start >= end:
            return []
        first = self.offsets[start]
        data = os.pread(self.file.fileno(), self.offsets[end] - first, first)
        return [orjson.loads(line) for line in data.splitlines()]

    def close(self) -> None:
        self.file.close()


class DiffSpools:
    """The server's last ``SPOOLED_DIFFS`` answers by (releases, filter, tolerance); one
    request computes a missing answer while others asking for the same one wait."""

    def __init__(self, size: int = SPOOLED_DIFFS, ttl: float = SPOOL_TTL) -> None:
        self.size, self.ttl = size, ttl
        self._spools: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._making: dict = {}            # key -> lock held while that answer is computed
        self.computed = 0                  # diffs run (the tests read it)

    def _fresh(self, key, state) -> Spool | None:
        with self._lock:
            spool = self._spools.get(key)
            if spool is None:
                return None
            if spool.state != state or time.monotonic() - spool.made > self.ttl:
                self._spools.pop(key).close()
                return None
            self._spools.move_to_end(key)
            return spool

    def get(self, key, state, compute) -> Spool:
        spool = self._fresh(key, state)
        if spool is not None:
            return spool
        with self._lock:
            making = self._making.setdefault(key, threading.Lock())
        with making:
            spool = self._fresh(key, state)
            if spool is None:
                spool = compute()
                self.computed += 1
                with self._lock:
                    old = self._spools.pop(key, None)
                    if old is not None:
                        old.close()
                    self._spools[key] = spool
                    while len(self._spools) > self.size:
                        self._spools.popitem(last=False)[1].close()
                    self._making.pop(key, None)
        return spool

    def close(self) -> None:
        with self._lock:
            while self._spools:
                self._spools.popitem()[1].close()


#: What a change may be, for ``changeStatus``.
CHANGE_STATUSES = (ADDED, REMOVED, CHANGED)


def _spool(store, a: str, b: str, flt: DiffFilter, tolerance: Tolerance, state,
           statuses: frozenset = frozenset(CHANGE_STATUSES)) -> Spool:
    """The diff's answer: its summary of everything, and the changes of ``statuses``."""
    spool = Spool(state)

    def keep(r: dict) -> None:
        if r["status"] in statuses:
            spool.add(_change(r))
    try:
        result = diff_releases(store, a, b, flt, keep, tolerance=tolerance, progress=False)
    except BaseException:
        spool.close()
        raise
    s = result.summary()
    spool.finish({
        "a": s["a"]["name"], "b": s["b"]["name"], "totals": _counts(s["totals"]),
        "by_dataset_type": [{"name": k, "counts": _counts(v)} for k, v in s["by_type"].items()],
        "by_tract_band": [{"name": k, "counts": _counts(v)}
                          for k, v in s["by_tract_band"].items()],
        "steps": [{**st, "software": [_setting(x) for x in st["software"]],
                   "config": [_setting(x) for x in st["config"]]} for st in s["steps"]],
        "visits_dropped": s["visits"]["dropped"], "visits_added": s["visits"]["added"],
        "metrics": [_quantity(c) for c in s["metrics"]],
        "properties": [_quantity(c) for c in s["properties"]],
        "reasons": [{"dataset_type": t, "reason": reason, "products": n}
                    for t, counts in s["reasons"].items() for reason, n in counts.items()]})
    return spool


def release_diff(store, a: str, b: str, flt: DiffFilter, tolerance: Tolerance, first: int,
                 start: int, spools: DiffSpools | None = None,
                 statuses: frozenset = frozenset(CHANGE_STATUSES)) -> dict:
    """The diff's summary and the page of ``first`` changes (of ``statuses``) from position
    ``start``, from the server's spooled answer when it is still good (else computed and
    spooled)."""
    own = spools is None
    spools = DiffSpools(size=1) if own else spools
    try:
        state = graph_state(store)
        spool = spools.get((a, b, flt, tolerance, statuses), state,
                           lambda: _spool(store, a, b, flt, tolerance, state, statuses))
        items = [{"key": str(start + i), "node": node}
                 for i, node in enumerate(spool.page(start, first))]
        page = Page(items, has_next=spool.total > start + first, has_previous=start > 0,
                    total=spool.total)
        return {**spool.head, "changes": page, "computed_at": spool.computed_at}
    finally:
        if own:
            spools.close()


class DiffQuery(graphene.ObjectType):
    """Root fields, inherited by the schema's Query."""

    release_diff = graphene.Field(
        ReleaseDiff, required=True,
        a=graphene.String(required=True, description="Release (collection) name."),
        b=graphene.String(required=True, description="Release (collection) name."),
        filter=ReleaseDiffFilter(),
        tolerance=graphene.List(graphene.NonNull(graphene.String),
                                description="5% (default), or NAME=VALUE per metric or "
                                            "TYPE.PROPERTY (absolute or a percentage)."),
        change_status=graphene.List(graphene.NonNull(graphene.String),
                                    description="Only changes of these statuses (added, "
                                                "removed, changed) in `changes`; the counts "
                                                "are of all."),
        first=graphene.Int(description="Page size of `changes`."),
        after=graphene.String(description="Cursor of the change to start after."),
        description="What differs between two releases (DRP31, ARCH5, LDF104).")

    async def resolve_release_diff(root, info, a, b, filter=None, tolerance=None, first=None,
                                   after=None, change_status=None):
        ctx = info.context
        n = page_size(first, ctx.settings)
        cursor = decode_cursor(after)
        if cursor is not None and not cursor.isdigit():
            raise ApiError(f"after: {after!r} is not a cursor of releaseDiff changes")
        start = int(cursor) + 1 if cursor is not None else 0
        with argument("tolerance"):
            tol = Tolerance.parse(tolerance or ())
        f = dict(filter or {})
        with argument("filter", within="filter"):
            flt = DiffFilter.make(f.get("types"), f.get("tracts"), f.get("bands"), f.get("where"),
                                  bool(f.get("include_deleted")))
            await ctx.run(flt.check_known, ctx.store)
        statuses = frozenset(change_status or CHANGE_STATUSES)
        wrong = sorted(statuses - set(CHANGE_STATUSES))
        if wrong:
            raise ApiError(f"changeStatus: {wrong[0]!r} is not one of "
                           f"{', '.join(CHANGE_STATUSES)}")
        spools = ctx.cache.setdefault("release_diffs", DiffSpools())
        with argument("releaseDiff"):
            return await ctx.run(release_diff, ctx.store, a, b, flt, tol, n, start, spools,
                                 statuses)

"""``lineage retain``: which datasets a retention rule would delete, what that frees, and what
provenance stays (docs/retention.md, "Retention rules").

The rule: every **live** dataset that is not of a kept type and was **made** more than the
age ago goes (within a collection, when one is given).  A dataset was made when the quantum
that produced it ended (its ``end``, TAI); a dataset no quantum produced (a raw, a
calibration, a dataset put into a RUN by hand) was made when its RUN was: the end of the
RUN's last quantum.  A dataset of a RUN without quanta has no time the graph knows: it never
goes, and the plan counts it as of unknown age.

What stays: each deleted dataset stays a tombstone, its node and its ``INPUT_TO`` and
``PRODUCED`` edges kept, so every lineage answer of a kept dataset is whole (the datasets
deleted from its upstream are listed, marked deleted).  The plan counts the nodes and
edges the tombstones keep, the kept datasets downstream of what goes, and the datasets that
go although live datasets are made from them (their deletion is recorded as forced, DRP30).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from lineage.core.errors import UserError
from lineage.core.time import parse_duration, tai_iso_of_utc_stamp, utc_stamp
from lineage.dataunits.names import check_names
from lineage.fetch.select import keep_only
from lineage.retention import queries
from lineage.retention.delete import delete, live_dependents
from lineage.traversal.traverse import DOWN, bfs

#: Keys per query of the provenance counts.
CHUNK = 5000


class RetentionError(UserError):
    """A retention rule that cannot be applied as given."""


@dataclass
class Going:
    """A dataset the rule would delete."""

    key: str
    dataset_type: str
    run: str
    made: str            # TAI ISO text: when its quantum (or RUN) ended
    size: int | None     # bytes, as the graph records them

    def as_dict(self) -> dict:
        return {"key": self.key, "dataset_type": self.dataset_type, "run": self.run,
                "made_tai": self.made, "size": self.size}


@dataclass
class RetentionPlan:
    """What a retention rule would delete; ``as_dict`` is ``lineage retain --json``."""

    keep: list[str]
    older_than: str
    made_before: str                 # UTC stamp: now - the age
    collection: str | None
    dry_run: bool = True
    going: list[Going] = field(default_factory=list)
    too_recent: dict[str, int] = field(default_factory=dict)      # type -> datasets
    age_unknown: dict[str, int] = field(default_factory=dict)     # type -> datasets
    lineage_edges: int = 0           # INPUT_TO and PRODUCED edges the tombstones keep
    depended_on: int = 0             # going datasets live datasets are made from
    kept_downstream: dict[str, int] = field(default_factory=dict)  # kept type -> datasets
    deletion: dict | None = None     # not a dry run: lineage delete's report of the deletion

    def by_type(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for d in self.going:
            entry = out.setdefault(d.dataset_type, {"datasets": 0, "bytes": 0,
                                                    "unknown_size": 0})
            entry["datasets"] += 1
            if d.size is None:
                entry["unknown_size"] += 1
            else:
                entry["bytes"] += d.size
        return dict(sorted(out.items()))

    def as_dict(self) -> dict:
        return {"keep": self.keep, "older_than": self.older_than, "dry_run": self.dry_run,
                "made_before": self.made_before, "collection": self.collection,
                "count": len(self.going),
                "bytes": sum(d.size for d in self.going if d.size is not None),
                "unknown_size": sum(1 for d in self.going if d.size is None),
                "by_type": self.by_type(), "too_recent": self.too_recent,
                "age_unknown": self.age_unknown,
                "provenance": {"tombstones": len(self.going),
                               "lineage_edges": self.lineage_edges,
                               "depended_on": self.depended_on,
                               "kept_downstream": self.kept_downstream},
                "deletion": self.deletion,
                "datasets": [d.as_dict() for d in self.going]}


def _size(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def plan(store, keep, older_than: str, collection: str | None = None,
         now: _dt.datetime | None = None) -> RetentionPlan:
    """The datasets the rule (module docstring) would delete, by type with their bytes, and
    the provenance their tombstones keep.  ``keep``: dataset types never deleted (at least
    one); ``older_than``: an age (``90d``, :func:`lineage.core.time.parse_duration`);
    ``now``: the time the age counts back from (default: now)."""
    keep = sorted({t for item in ([keep] if isinstance(keep, str) else keep or ())
                   for t in item.split(",") if t})
    if not keep:
        raise RetentionError("names no dataset type: a retention rule keeps at least one "
                             "(the products a release serves)", field="keep")
    check_names(store, "dataset type", keep, "keep")
    age = parse_duration(older_than, field="older_than")
    made_before = utc_stamp((now or _dt.datetime.now(_dt.timezone.utc)) - age)
    cutoff = tai_iso_of_utc_stamp(made_before)
    result = RetentionPlan(keep, older_than, made_before, collection)
    rows = {row[0]: row for row in queries.live_datasets_made(store, keep)}
    if collection:
        rows = {k: rows[k] for k in keep_only(store, list(rows), None, collection)}
    run_end = queries.run_ends(store)
    for key, dataset_type, run, size, end in sorted(rows.values(),
                                                     key=lambda r: (r[1], r[2] or "", r[0])):
        made = end or run_end.get(run)
        if made is None:
            result.age_unknown[dataset_type] = result.age_unknown.get(dataset_type, 0) + 1
        elif made >= cutoff:
            result.too_recent[dataset_type] = result.too_recent.get(dataset_type, 0) + 1
        else:
            result.going.append(Going(key, dataset_type, run, made, _size(size)))
    _provenance(store, result)
    return result


def _provenance(store, result: RetentionPlan) -> None:
    """The edges the tombstones keep, the going datasets live ones are made from, and the
    kept datasets downstream of what goes."""
    keys = [d.key for d in result.going]
    going = set(keys)
    for i in range(0, len(keys), CHUNK):
        chunk = keys[i:i + CHUNK]
        result.lineage_edges += queries.lineage_edge_count(store, chunk)
    result.depended_on = len({d.source for d in live_dependents(store, keys)})
    if not keys:
        return
    reached = bfs(store, {d.key: d.dataset_type for d in result.going}, DOWN,
                  want=result.keep)
    counts: dict[str, int] = {}
    for row in reached.values():
        if row.dataset_type in result.keep:
            counts[row.dataset_type] = counts.get(row.dataset_type, 0) + 1
    result.kept_downstream = dict(sorted(counts.items()))


def retain(store, keep, older_than: str, collection: str | None = None,
           dry_run: bool = True, reason: str | None = None, by: str | None = None,
           now: _dt.datetime | None = None, force: bool = False,
           show_progress: bool = False) -> RetentionPlan:
    """Apply a retention rule: the :func:`plan`; without ``dry_run``, its datasets deleted as
    tombstones by :func:`lineage.retention.delete.delete` (``reason`` and ``by`` recorded on
    them; refused, naming them, when live datasets were made from them, unless ``force``),
    its report in ``deletion``.  Their files stay: ``lineage gc --delete`` collects them."""
    if not dry_run:
        for name, value in (("reason", reason), ("by", by)):
            if not (value or "").strip():
                raise RetentionError("is needed to delete (who deletes and why are recorded "
                                     "on every tombstone)", field=name)
    result = plan(store, keep, older_than, collection, now)
    result.dry_run = dry_run
    if not dry_run and result.going:
        result.deletion = delete(store, keys=[d.key for d in result.going], reason=reason,
                                 by=by, force=force, show_progress=show_progress)
    return result

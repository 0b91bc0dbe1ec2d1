"""``lineage sync BUTLER_REPO``: keep the graph in step with a live Butler repository.

What a sync does, in phases (``docs/sync.md`` has the why and real output):

1. **check**: the collections (one registry query), the ``run_provenance`` of every RUN
   (one query) and, for the RUNs synced before, one dataset count per dataset type
   over all of them, compared with what the graph says they held;
2. **dimension records** and dataset types, one all-or-nothing unit, read when anything
   else is to be read (a no-op sync reads none);
3. **RUNs**: each RUN to read is one all-or-nothing unit: its datasets (UUID, type,
   data ID, file), its ``run_provenance`` through the code of ``lineage ingest run``,
   the datasets gone from the Butler since (marked ``butler_removed`` and made tombstones,
   docs/retention.md: their nodes and lineage kept),
   and its sync state;
4. **collections**: TAGGED and CALIBRATION (associations with validity ranges) and
   CHAINED (children in order), one unit each, when they changed.

**The sync state is in the graph, on the collections it describes.**  Each collection
a Butler gave carries ``butler_repo`` (which Butler) and ``butler_state`` (JSON: what
that Butler held when the collection was last read: a RUN's ``run_provenance`` UUID and
its dataset count per type, a chain's children, a fingerprint of the associations).
The state is written in the same unit as the content it describes, so a ``kill -9``
leaves whole RUNs with their state, and a RUN without state is read again in full; the
state holds only what the Butler said (no clock), so a sync interrupted and resumed
leaves the same graph as one clean sync.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lineage.core.bulk import bulk_work
from lineage.core.errors import LineageError, first_line
from lineage.core.model import GraphBatch, Rel, collection_key
from lineage.core.progress import progress_bar
from lineage.core.time import now_utc_iso, now_utc_stamp, parse_iso
from lineage.ingest import check_unit, provenance_qg
from lineage.ingest.butler_yaml import Export, defined_bands
from lineage.ingest.driver import FileOutcome, IngestContext, Parsed, ingest_unit
from lineage.ingest.formats.butler_export import ExportGraph
from lineage.store.base import Store
from lineage.sync import queries
from lineage.sync.butler import (ButlerSource, Collection, RunDatasets, SyncError,
                                 open_source)

#: The kind ``lineage sync``'s units are read as (in their error messages).
KIND = "Butler"
#: The name of the unit of dimension records and dataset types.
RECORDS = "dimension records and dataset types"
#: The provenance reader's counts as a RUN's summary names them (its overall inputs are
#: datasets of other RUNs, left out).
PROVENANCE_COUNTS = {"datasets": "outputs of quanta"}
#: Datasets the reading thread may hold ahead of the writing (read, not yet written): two
#: RUNs of 50,000 take about 300 MiB.
READ_AHEAD_DATASETS = 100_000
#: Why a collection is not read when nothing changed in it.
UNCHANGED = "unchanged since the last sync"


@dataclass
class Planned:
    """Something a sync reads, and why."""

    what: str          #: "records", "RUN" or the collection type
    name: str
    why: str
    datasets: int | None = None   #: datasets to read (RUNs)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class SyncSummary:
    """What a sync read, wrote, skipped and why."""

    source: str
    universe: str
    dry_run: bool = False
    #: What was (with ``dry_run``: would be) read, each with why.
    planned: list[Planned] = field(default_factory=list)
    #: One outcome per unit written (the ingest driver's, so the same statuses).
    units: list[FileOutcome] = field(default_factory=list)
    #: Collections not read: ``"name: why"`` (unchanged since the last sync, another Butler's ...).
    skipped: list[str] = field(default_factory=list)
    #: Datasets found gone from the Butler: ``"dataset:<uuid> (RUN)"``.
    removed: list[str] = field(default_factory=list)
    datasets_read: int = 0
    seconds: float = 0.0

    @property
    def rejected(self) -> list[FileOutcome]:
        return [u for u in self.units if u.status == "rejected"]

    def totals(self) -> dict[str, int]:
        return {"read": len(self.planned), "units": len(self.units),
                "rejected": len(self.rejected), "skipped": len(self.skipped),
                "removed": len(self.removed), "datasets_read": self.datasets_read,
                "restored": sum(u.restored for u in self.units),
                "nodes_created": sum(u.nodes_created for u in self.units),
                "edges_created": sum(u.edges_created for u in self.units)}

    def as_dict(self) -> dict:
        return {"source": self.source, "universe": self.universe, "dry_run": self.dry_run,
                "totals": self.totals(), "seconds": round(self.seconds, 3),
                "planned": [p.as_dict() for p in self.planned],
                "units": [u.as_dict() for u in self.units],
                "skipped": self.skipped, "removed": self.removed}


def sync(store: Store, repo: str, collections=("*",), where: str = "", since=None,
         dry_run: bool = False, show_progress: bool = True,
         on_unit: Callable[[FileOutcome], None] | None = None) -> SyncSummary:
    """Bring what the Butler at ``repo`` holds (its collections matching the globs
    ``collections``; datasets passing the Butler expression ``where``; with ``since``,
    ISO text, only RUNs with datasets ingested after it) into ``store``.

    Each RUN is one all-or-nothing unit; a unit that fails is rejected (its outcome says
    why) and the others go on.  ``dry_run`` says what would be read and reads no dataset.
    ``on_unit`` is called with each unit's outcome as it is written (progress lines).
    :class:`SyncError` when the Butler cannot be opened; nothing is written then.
    """
    t0 = time.perf_counter()
    since = _since(since)
    source = open_source(repo)
    try:
        summary = SyncSummary(source.name, source.universe, dry_run)
        with progress_bar("sync: check", unit="steps", enabled=show_progress) as advance:
            try:
                plan = _plan(store, source, list(collections) or ["*"], where, since, summary,
                             advance)
            except LineageError:
                raise
            except Exception as exc:  # noqa: BLE001 - the registry's errors, one line
                raise SyncError(f"{source.name}: reading the registry failed: "
                                f"{type(exc).__name__}: {first_line(exc)}") from None
        if not dry_run and (plan.runs or plan.collections or plan.gone):
            with bulk_work():
                _write(store, source, plan, where, summary, show_progress,
                       on_unit or _nothing)
        summary.seconds = time.perf_counter() - t0
        return summary
    finally:
        source.close()


def _since(text: str | None):
    """``since`` (ISO text, UTC unless it says its zone) as (an astropy Time, its ISO UTC
    text), or None."""
    if text is None:
        return None
    import warnings
    from astropy.time import Time
    from erfa import ErfaWarning
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ErfaWarning)  # dates past the leap-second table
            when = parse_iso(str(text), "utc")
            return Time(when, scale="utc"), when.isoformat()
    except ValueError:
        raise SyncError(f"{text!r}: not an ISO date or time (UTC)", field="since") from None


def _nothing(outcome: FileOutcome) -> None:
    """No progress line."""


@dataclass
class _Plan:
    """What this sync reads: RUNs (with the state they were synced with), then the
    TAGGED, CALIBRATION and CHAINED collections (with their entries and state)."""

    runs: list[tuple[Collection, dict | None, str | None]] = field(default_factory=list)
    collections: list[tuple[Collection, list, dict]] = field(default_factory=list)
    #: Collections synced before that the Butler no longer has.
    gone: list[str] = field(default_factory=list)
    #: The state each collection was last synced with (None: never).
    states: dict[str, dict | None] = field(default_factory=dict)


def _plan(store: Store, source: ButlerSource, patterns, where, since, summary,
          advance) -> _Plan:
    """What to read, each with why (into ``summary.planned``), and what not, each with why
    (``summary.skipped``): the cheap reads of the check phase, nothing written."""
    if where:
        source.check_where(where)
    colls = source.collections(patterns)
    advance(1)
    stored = {r.name: r for r in queries.synced_collections(store, [c.name for c in colls])}
    states: dict[str, dict | None] = {}
    for c in colls:
        row = stored.get(c.name)
        if row is not None and row.butler_repo not in (None, source.name):
            summary.skipped.append(f"{c.name}: synced from another Butler ({row.butler_repo})")
            continue
        state = json.loads(row.butler_state) if row and row.butler_state else None
        states[c.name] = None if state and state.get("gone") else state
    runs = [c for c in colls if c.type == "RUN" and c.name in states]
    provenance = source.provenance([r.name for r in runs])
    advance(1)
    if since is not None:
        recent = source.runs_ingested_since([r.name for r in runs], since[0])
        for r in runs:
            if r.name not in recent:
                summary.skipped.append(f"{r.name}: nothing ingested since {since[1]} UTC")
        runs = [r for r in runs if r.name in recent]
    plan, why = _Plan(states=states), {}
    for r in runs:
        state = states[r.name]
        if state is None:
            why[r.name] = "new"
        elif state.get("where") != (where or None):
            why[r.name] = "synced before with another selection (where)"
        elif state.get("provenance") != provenance.get(r.name):
            why[r.name] = "finalized since (run_provenance)"
    _count_check(source, [r for r in runs if r.name not in why], states, where, why)
    advance(1)
    for r in runs:
        if r.name in why:
            plan.runs.append((r, states[r.name], provenance.get(r.name)))
            summary.planned.append(Planned("RUN", r.name, why[r.name],
                                           sum(source.count(t, [r.name], where)
                                               for t in r.dataset_types)
                                           if summary.dry_run else None))
        else:
            summary.skipped.append(f"{r.name}: {UNCHANGED}")
    for c in colls:
        if c.type == "RUN" or c.name not in states:
            continue
        entries, state = [source.collection_entry(c)], {"doc": c.doc}
        if c.type == "CHAINED":
            state["children"] = c.children
        else:
            association, state["associations"] = source.association_entry(c)
            entries.append(association)
        if states[c.name] == state:
            summary.skipped.append(f"{c.name}: {UNCHANGED}")
            continue
        plan.collections.append((c, entries, state))
        summary.planned.append(Planned(c.type, c.name,
                                       "new" if states[c.name] is None else "changed"))
    present = {c.name for c in colls}
    for row in queries.collections_synced_from(store, source.name):
        state = json.loads(row.butler_state)
        if row.name not in present and not state.get("gone") and \
                any(fnmatch.fnmatchcase(row.name, p) for p in patterns):
            plan.gone.append(row.name)
            summary.planned.append(Planned("gone", row.name, "gone from the Butler"))
    advance(1)
    if plan.runs or plan.collections:
        summary.planned.insert(0, Planned("records", RECORDS, "something is new"))
    return plan


def _count_check(source: ButlerSource, runs: list[Collection], states, where, why) -> None:
    """RUNs synced before whose dataset count of some type changed (datasets added or
    removed): one count per dataset type over all of them, then per RUN only for the
    types whose total moved."""
    holders: dict[str, list[Collection]] = {}
    for r in runs:
        for t in set(r.dataset_types) | set(states[r.name]["datasets"]):
            holders.setdefault(t, []).append(r)
    for t, held in sorted(holders.items()):
        expected = sum(states[r.name]["datasets"].get(t, 0) for r in held)
        if source.count(t, [r.name for r in held], where) == expected:
            continue
        for r in held:
            if r.name not in why and source.count(t, [r.name], where) != \
                    states[r.name]["datasets"].get(t, 0):
                why[r.name] = f"{t}: dataset count changed"


def _write(store: Store, source: ButlerSource, plan: _Plan, where: str, summary: SyncSummary,
           show_progress: bool, on_unit) -> None:
    """Write the records unit, then one unit per RUN, then one per collection."""
    context = IngestContext(store)
    store.ensure_schema()
    types = {e["name"]: e for e in source.dataset_type_entries()}

    def unit(name: str, read: Callable[[], Parsed]) -> None:
        outcome = ingest_unit(read, name, context, False, KIND, restored_by=f"sync of {name}")
        summary.units.append(outcome)
        on_unit(outcome)

    reader = _Reader(store, source, plan, where, types)
    try:
        if plan.runs or plan.collections:
            with progress_bar("sync: dimension records", total=1, unit="units",
                              enabled=show_progress) as advance:
                unit(RECORDS, lambda: _build(store, source, RECORDS,
                                             [*reader.records.result(), *types.values()]))
                advance(1)
        with progress_bar("sync: RUNs", total=len(plan.runs), unit="RUNs",
                          enabled=show_progress) as advance:
            for i, (run, state, provenance) in enumerate(plan.runs):
                unit(run.name, lambda: _run_unit(store, context, run, reader.runs[i], state,
                                                 provenance, where, summary, source))
                reader.written(i)
                advance(1)
    finally:
        reader.stop()
    with progress_bar("sync: collections", total=len(plan.collections), unit="collections",
                      enabled=show_progress) as advance:
        for collection, entries, state in plan.collections:
            unit(collection.name, lambda: _collection_unit(store, source, collection, entries,
                                                           state, plan.states.get(collection.name)))
            advance(1)
        for name in plan.gone:
            unit(name, lambda: _gone_unit(store, source, name, summary))


class _Reader:
    """A thread that reads from the Butler ahead of the main thread, which checks and
    writes: first the dimension records, then each RUN's datasets, building their entries,
    so that the Butler's SQL, the Python that builds entries and the engine's writing run
    side by side.  It is the only thread using the Butler meanwhile.

    It runs ahead by as many RUNs as it likes while the datasets it holds (read, not yet
    written) are fewer than :data:`READ_AHEAD_DATASETS`, so that small RUNs do not keep it
    from a large one.  A RUN's data IDs name bands that the records (read first, written
    first) define.  ``records`` and ``runs[i]`` are futures: a RUN that cannot be read
    carries its error there, and the main thread rejects that RUN alone."""

    def __init__(self, store: Store, source: ButlerSource, plan: _Plan, where: str,
                 types: dict) -> None:
        self.store, self.source, self.plan, self.where, self.types = (store, source, plan,
                                                                      where, types)
        self.records: Future = Future()
        self.runs: list[Future | None] = [Future() for _ in plan.runs]
        self._held: dict[int, int] = {}          # RUN read, not yet written -> its datasets
        self._stopped = False
        self._room = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="lineage-sync-read",
                                        daemon=True)
        self._thread.start()

    def written(self, i: int) -> None:
        """RUN ``i`` is written: the datasets it held make room for more reading ahead."""
        self.runs[i] = None    # its entries are written: let them go
        with self._room:
            self._held.pop(i, None)
            self._room.notify()

    def stop(self) -> None:
        """Stop reading (after the last RUN, or when the main thread gives up) and wait
        for the thread."""
        with self._room:
            self._stopped = True
            self._room.notify()
        self._thread.join()

    def _read(self) -> None:
        bands: set[str] = set()
        try:
            records = (self.source.dimension_entries()
                       if self.plan.runs or self.plan.collections else [])
            bands = defined_bands(records)
            self.records.set_result(records)
        except BaseException as exc:  # noqa: BLE001 - the main thread rejects the unit with it
            self.records.set_exception(exc)
        for i, (run, _, provenance) in enumerate(self.plan.runs):
            with self._room:
                self._room.wait_for(lambda: self._stopped or
                                    sum(self._held.values()) < READ_AHEAD_DATASETS)
                if self._stopped:
                    return
            try:
                datasets = self.source.run_datasets(run.name, self.where)
                uri = (self.source.provenance_uri(run.name) if provenance is not None
                       else None)
                parsed = _run_entries(self.store, self.source, run, datasets, self.types,
                                      bands)
            except BaseException as exc:  # noqa: BLE001 - the main thread rejects that RUN
                self.runs[i].set_exception(exc)
                continue
            with self._room:
                self._held[i] = len(datasets.ids)
            self.runs[i].set_result((parsed, datasets, uri))


def _collection_unit(store: Store, source: ButlerSource, collection: Collection, entries: list,
                     state: dict, before: dict | None) -> Parsed:
    """A TAGGED, CALIBRATION or CHAINED collection with its entries and its new state."""
    parsed = _build(store, source, collection.name, entries)
    _add_state(parsed.batch, source, collection.name, state)
    return _chain_removals(parsed, collection, before)


def _chain_removals(parsed: Parsed, chain: Collection, before: dict | None) -> Parsed:
    """Children a chain no longer has: their ``CHAINS`` edge is kept (history) and marked
    ``butler_removed``."""
    dropped = [c for c in (before or {}).get("children", ()) if c not in chain.children]
    stamp = now_utc_iso()
    for child in dropped:
        parsed.batch.add_node(collection_key(child), name=child)
        parsed.batch.add_edge(Rel.CHAINS, collection_key(chain.name), collection_key(child),
                              butler_removed=stamp)
    if dropped:
        parsed.counts["children removed"] = len(dropped)
    return parsed


def _gone_unit(store: Store, source: ButlerSource, name: str, summary: SyncSummary) -> Parsed:
    """A collection the Butler no longer has: its datasets (a RUN's) are marked
    ``butler_removed``, nothing is deleted, and its state says it is gone."""
    batch = GraphBatch(f"{source.name}[{name}]")
    stamp = now_utc_iso()
    removed = [row.key for row in queries.run_datasets(store, name) if row.removed is None]
    for key in removed:
        batch.add_node(key, butler_removed=stamp, **_deletion(source))
        summary.removed.append(f"{key} ({name})")
    batch.add_node(collection_key(name), name=name, butler_removed=stamp,
                   butler_state=json.dumps({"gone": True}))
    return Parsed(Path(batch.source), batch, counts={"removed from the Butler": len(removed)})


def _deletion(source: ButlerSource) -> dict:
    """What makes a dataset gone from the Butler a tombstone (docs/retention.md); the
    ingest driver adds its ``deletion_history`` line, or keeps an earlier deletion."""
    return {"deleted_at": now_utc_stamp(), "deleted_by": "sync",
            "deleted_reason": f"removed from the Butler {source.name}"}


def _build(store: Store, source: ButlerSource, part: str, entries: list,
           bands: set[str] = frozenset()) -> Parsed:
    """The export builder's unit of ``entries`` (as if one export file held them; its data
    IDs may name ``bands`` too); its counts without the collection itself and the dataset
    types of a RUN's datasets."""
    graph = ExportGraph(Export(Path(f"{source.name}[{part}]"), "1.0", None, entries), store,
                        bands)
    graph.add_all()
    parsed = graph.finish()
    parsed.counts.pop("collections", None)
    if part != RECORDS:
        parsed.counts.pop("dataset types", None)
    return parsed


def _add_state(batch: GraphBatch, source: ButlerSource, name: str, state: dict) -> None:
    """The sync state of collection ``name``: which Butler, and what it held."""
    batch.add_node(collection_key(name), butler_repo=source.name,
                   butler_state=json.dumps(state, sort_keys=True))


def _run_entries(store: Store, source: ButlerSource, run: Collection, datasets: RunDatasets,
                 types: dict, bands: set[str]) -> Parsed:
    """A RUN's datasets (as read from the Butler) as the export builder's unit, its values
    checked; ``bands`` are those the Butler's records define."""
    entries = [types[t] for t in sorted(datasets.counts) if t in types]
    parsed = _build(store, source, run.name,
                    [source.collection_entry(run), *entries, *datasets.entries], bands)
    parsed.skipped.extend(datasets.skipped)
    parsed.warnings = check_unit(parsed.batch)
    return parsed


def _run_unit(store: Store, context: IngestContext, run: Collection, read: Future,
              state: dict | None, provenance: str | None, where: str, summary: SyncSummary,
              source: ButlerSource) -> Parsed:
    """One RUN: its datasets (``read``: built and checked by ``_write``'s reading thread),
    its provenance if it is new, the datasets gone since the last sync, and its new state
    (checked here, as they are added)."""
    parsed, datasets, uri = read.result()
    summary.datasets_read += len(datasets.ids)
    added = GraphBatch(parsed.batch.source)
    if provenance is not None and (state is None or state.get("provenance") != provenance):
        quanta = provenance_qg.read(uri, context)
        added.update(quanta.batch)
        parsed.skipped.extend(quanta.skipped)
        parsed.counts.update({PROVENANCE_COUNTS.get(k, k): v for k, v in quanta.counts.items()
                              if k != "inputs"})
    if state is not None and not where:
        gone = [row.key for row in queries.run_datasets(store, run.name)
                if row.removed is None and row.key.split(":", 1)[1] not in datasets.ids]
        stamp = now_utc_iso()
        for key in gone:
            added.add_node(key, butler_removed=stamp, **_deletion(source))
            summary.removed.append(f"{key} ({run.name})")
        if gone:
            parsed.counts["removed from the Butler"] = len(gone)
    _add_state(added, source, run.name, {"provenance": provenance, "datasets": datasets.counts,
                                         "where": where or None})
    parsed.warnings.extend(check_unit(added))
    parsed.batch.update(added)
    return parsed


__all__ = ["sync", "SyncSummary", "SyncError", "Planned", "KIND"]

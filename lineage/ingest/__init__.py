"""Ingest: turn inputs into ingest units and write them.

One module per source format (the demo survey lives in :mod:`lineage.demo`).
:func:`write_units` is the one way units reach a store: each unit is
all-or-nothing, and a progress bar counts nodes and edges as they land.

Every ``lineage ingest`` kind passes its unit through :func:`check_unit`
(each value against its meaning, :mod:`lineage.core.model_spec`) and
:func:`stored_changes` (what it would change of stored nodes) before
anything is written.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable

from lineage.core.model import GraphBatch, Kind, ModelError, kind_of_key
from lineage.core.model_spec import changed_properties, check_batch, identity_conflicts, show
from lineage.core.progress import progress_bar
from lineage.store.base import Store, WriteSummary


@dataclass
class IngestReport:
    """What a sequence of ingest units did."""

    units: list[WriteSummary] = field(default_factory=list)

    @property
    def nodes_created(self) -> int:
        return sum(u.nodes_created for u in self.units)

    @property
    def edges_created(self) -> int:
        return sum(u.edges_created for u in self.units)

    @property
    def entities_in(self) -> int:
        return sum(u.nodes_in + u.edges_in for u in self.units)

    @property
    def seconds(self) -> float:
        return sum(u.seconds for u in self.units)


def write_units(store: Store, units: Iterable[GraphBatch], description: str = "ingest",
                total: int | None = None, show_progress: bool = True,
                make_schema: bool = True) -> IngestReport:
    """Write each unit in turn; stop at the first failure (earlier units stay).
    ``make_schema`` False: the caller made the schema (a restore, of its backup's format).

    While the engine writes one unit, a second thread checks and encodes the
    next (a unit's nodes are known to the next one without asking the
    engine), so Python and the engine work side by side.
    """
    report = IngestReport()
    if make_schema:
        store.ensure_schema()  # idempotent; a Bolt graph may be brand new
    known: dict[str, str | None] = {}
    iterator = iter(units)
    with progress_bar(description, total=total, unit="nodes+edges",
                      enabled=show_progress) as advance, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="lineage-prepare") as pool:
        def prepare_next():
            unit = next(iterator, None)
            return None if unit is None else pool.submit(store.prepare, unit, known)
        pending = prepare_next()
        while pending is not None:
            t0 = time.perf_counter()
            prepared = pending.result()
            pending = prepare_next()  # overlaps with the commit below
            summary = store.commit(prepared)
            summary.seconds = time.perf_counter() - t0
            report.units.append(summary)
            advance(prepared.nodes + prepared.edges)
        # on an error the with-block waits for a pending preparation; nothing of it is written
    return report


#: How many problems of one unit a refusal lists.
MAX_LISTED = 10


def check_unit(batch: GraphBatch) -> list[str]:
    """Check every value of ``batch`` against the property table (``model_spec``).

    Raises :class:`ModelError` naming the source, the node, the property, the
    value (shortened) and the rule of each bad value (the first
    :data:`MAX_LISTED`), so nothing of the unit is written; returns the
    warnings (doubtful values real data has, which are kept)."""
    problems = check_batch(batch)
    errors = [p for p in problems if not p.warning]
    if errors:
        more = f" (and {len(errors) - MAX_LISTED} more)" if len(errors) > MAX_LISTED else ""
        listed = "; ".join(str(p) for p in errors[:MAX_LISTED])
        raise ModelError(f"{batch.source or 'unit'}: {len(errors)} bad value"
                         f"{'s' if len(errors) > 1 else ''}: {listed}{more}")
    return [str(p) for p in problems if p.warning]


def stored_props(store: Store, keys) -> dict[str, dict]:
    """The stored properties of those of ``keys`` that are stored."""
    by_kind: dict[Kind, list[str]] = {}
    for key in keys:
        by_kind.setdefault(kind_of_key(key), []).append(key)
    found: dict[str, dict] = {}
    for kind, group in by_kind.items():
        found.update(store.nodes(kind.value, group))
    return found


def stored_changes(stored: dict[str, dict], batch: GraphBatch) -> list[str]:
    """What writing ``batch`` would change of the nodes already stored (``stored``: their
    properties, :func:`stored_props`).

    The rule (``docs/ingest.md``): a property that says what a node *is*
    (identity in ``model_spec``: a dataset's type, run and data ID, a unit's
    dimension and value, a collection's type ...) never changes, so a file
    that brings another value for one is refused (:class:`ModelError`); any
    other property takes the later file's value, and each such change is
    returned as ``"<key>: <property> <old> -> <new>"`` for the summary
    (status ``updated``).  A value the file leaves out is never erased.
    """
    changes, conflicts = [], []
    for key, old in stored.items():
        diff = changed_properties(old, batch.nodes[key])
        if not diff:
            continue
        conflicts.extend(identity_conflicts(key, diff, old.get("dimension"),
                                            batch.origins.get(key)))
        changes.extend(f"{key}: {name} {show(a) if a is not None else '(none)'} -> {show(b)}"
                       for name, (a, b) in sorted(diff.items()))
    if conflicts:
        more = f" (and {len(conflicts) - MAX_LISTED} more)" if len(conflicts) > MAX_LISTED else ""
        raise ModelError(f"{batch.source or 'unit'}: conflicts with what is stored: "
                         f"{'; '.join(conflicts[:MAX_LISTED])}{more}")
    return changes

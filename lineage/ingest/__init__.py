"""Ingest: turn inputs into ingest units and write them.

One module per source format (the demo survey lives in :mod:`lineage.demo`).
:func:`write_units` is the one way units reach a store: each unit is
all-or-nothing, and a progress bar counts nodes and edges as they land.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable

from ..model import GraphBatch
from ..progress import progress_bar
from ..store.base import Store, WriteSummary


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
                total: int | None = None, show_progress: bool = True) -> IngestReport:
    """Write each unit in turn; stop at the first failure (earlier units stay).

    While the engine writes one unit, a second thread checks and encodes the
    next (a unit's nodes are known to the next one without asking the
    engine), so Python and the engine work side by side.
    """
    report = IngestReport()
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

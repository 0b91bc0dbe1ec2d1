"""Ingest: turn inputs into ingest units and write them.

One module per source format (the demo survey lives in :mod:`lineage.demo`).
:func:`write_units` is the one way units reach a store: each unit is
all-or-nothing, and a progress bar counts nodes and edges as they land.
"""

from __future__ import annotations

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
    """Write each unit in turn; stop at the first failure (earlier units stay)."""
    report = IngestReport()
    with progress_bar(description, total=total, unit="nodes+edges",
                      enabled=show_progress) as advance:
        for unit in units:
            report.units.append(store.write(unit))
            advance(len(unit))
    return report

"""The engine interface every store implements.

A store knows how to run Cypher on its engine, how to create its schema and
how to make one ingest unit all-or-nothing.  Everything else (which Cypher
to run) is shared: writes in :mod:`lineage.store.cypher`, lineage queries in
:mod:`lineage.query`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

from ..model import GraphBatch, ModelError
from . import cypher

Progress = Callable[[int], None]


class StoreError(RuntimeError):
    """An engine failed or refused; the message says which and why."""


class ReadOnlyViolation(StoreError):
    """A query given as read-only tried to write."""


@dataclass
class WriteSummary:
    """What one ingest unit did."""

    source: str
    nodes_in: int = 0
    edges_in: int = 0
    nodes_created: int = 0
    edges_created: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def unchanged(self) -> bool:
        return self.nodes_created == 0 and self.edges_created == 0


class Store(ABC):
    """One graph on one engine."""

    engine: str = "?"

    # --- what each engine provides ---------------------------------------

    @abstractmethod
    def read(self, query: str, params: dict | None = None) -> list[tuple]:
        """Run a query the library wrote; rows as tuples."""

    @abstractmethod
    def read_only(self, query: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        """Run a user's query; refuse it with :class:`ReadOnlyViolation` if it writes."""

    @abstractmethod
    def ensure_schema(self) -> None:
        """Create constraints and indexes if they are missing (idempotent)."""

    @abstractmethod
    def _execute_unit(self, statements: list[cypher.Statement],
                      progress: Progress | None) -> tuple[int, int]:
        """Run ``statements`` all-or-nothing; return (nodes created, edges created)."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every node and edge (and keep the schema)."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- shared behaviour ----------------------------------------------------

    def existing_keys(self, keys) -> set[str]:
        return set(self.lookup(keys))

    def lookup(self, keys) -> dict[str, str | None]:
        """Which of ``keys`` are stored: key -> its dataset type (None if not a dataset)."""
        found: dict[str, str | None] = {}
        for st in cypher.existing_keys_statements(sorted(set(keys))):
            found.update((row[0], row[1]) for row in self.read(st.query, st.params))
        return found

    def write(self, batch: GraphBatch, progress: Progress | None = None) -> WriteSummary:
        """Write ``batch`` as one ingest unit: all of it, or (on any error) none of it.

        Edges must join nodes that are in the batch or already stored; that
        is checked before anything is written.
        """
        import time
        t0 = time.perf_counter()
        outside = batch.missing_endpoints()
        present = self.lookup(outside) if outside else {}
        if outside:
            missing = [k for k in outside if k not in present]
            if missing:
                more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
                raise ModelError(f"{batch.source or 'batch'}: edges refer to nodes that are neither "
                                 f"in the input nor stored: {', '.join(missing[:5])}{more}")
        batch.derive_type_edges({k: t for k, t in present.items() if t})
        statements = list(cypher.write_statements(batch))
        nodes, edges = self._execute_unit(statements, progress)
        return WriteSummary(batch.source, len(batch.nodes), len(batch.edges), nodes, edges,
                            time.perf_counter() - t0)

    def count(self) -> tuple[int, int]:
        """(nodes, edges) in the graph."""
        n = self.read("MATCH (n) RETURN count(n)")[0][0]
        e = self.read("MATCH ()-[e]->() RETURN count(e)")[0][0]
        return int(n), int(e)

"""Numbered migrations between repository formats (docs/migration.md).

A repository records its format in ``lineage.json`` (a directory) and in its graph's
bookkeeping node (every graph from format 2 on).  ``migration_N_to_M(store, root)`` takes
one format to the next; :func:`apply_step` runs one and then records the new format,
in the graph first and in ``lineage.json`` last, so a repository interrupted at any moment
records the lower format in one of the two places and the same step runs again.  Each
step is idempotent (running it twice leaves what running it once does).

While a migration is under way the graph's bookkeeping node says so (:func:`begin`: the
target format, the backup written before it, when it began), so a rerun resumes it
instead of writing a second backup of a half-migrated graph; :func:`finish` clears that.

The orchestration (the backup, which uses the export; the command) lives above this
layer, in ``lineage.cli.migrate``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lineage.core.time import now_utc_iso
from lineage.store.base import Store
from lineage.store.cypher import FORMAT_VERSION
from lineage.store.repo import (check_format, config_format, graph_format, read_config,
                                write_config_format)


def migration_1_to_2(store: Store, root: Path | None) -> None:
    """Format 1 -> 2 (tombstones, docs/retention.md): create the secondary index on
    ``Dataset.deleted_at``, which lists deleted datasets without a scan.  Datasets need no
    change: a format-1 dataset has no ``deleted_at`` and so is live.  The format itself is
    recorded by :func:`apply_step`.  Idempotent (an existing index is kept)."""
    store.ensure_schema(2)


@dataclass(frozen=True)
class Migration:
    """One step: from format ``source`` to ``source + 1``; ``summary`` says what it does."""

    source: int
    summary: str
    step: Callable[[Store, Path | None], None]

    @property
    def target(self) -> int:
        return self.source + 1


#: Every migration, one per format before the current one.
MIGRATIONS = [
    Migration(1, "index Dataset.deleted_at (tombstones, docs/retention.md); record the "
                 "format in the graph too", migration_1_to_2),
]


@dataclass
class RepositoryFormat:
    """Where a repository stands: the format each place records and a migration under way.

    ``config``: what ``lineage.json`` says (None: a Bolt URI, no directory); ``graph``: what
    the graph says (1 for a format-1 graph, None for an empty new graph); ``migration``: the
    migration begun and not finished (``{"to", "backup", "started"}``), or None."""

    config: int | None
    graph: int | None
    migration: dict | None

    @property
    def version(self) -> int:
        """The repository's format: the lower of the two places (a step records the graph's
        first), the current one for a new empty graph."""
        known = [v for v in (self.config, self.graph) if v is not None]
        return min(known) if known else FORMAT_VERSION


def repository_format(store: Store, root: Path | None) -> RepositoryFormat:
    """The format ``lineage.json`` of ``root`` (None: a Bolt URI) and ``store``'s graph
    record, and the migration under way."""
    config = config_format(root, read_config(root)) if root is not None else None
    meta = store.graph_meta() or {}
    migration = json.loads(meta["migration"]) if meta.get("migration") else None
    return RepositoryFormat(config, graph_format(store), migration)


def plan(version: int, where: str, target: str) -> list[Migration]:
    """The steps from format ``version`` to the current one, in order; a newer format than
    this code's is refused (:class:`FormatTooNew`, naming the format it has)."""
    if version > FORMAT_VERSION:
        check_format(version, where, target)
    return [m for m in MIGRATIONS if version <= m.source < FORMAT_VERSION]


def begin(store: Store, version: int, backup: str | None) -> dict:
    """Record in the graph that a migration from ``version`` to the current format has
    begun, with the ``backup`` written before it (None: none); returns that record."""
    migration = {"to": FORMAT_VERSION, "backup": backup, "started": now_utc_iso()}
    store.record_graph_meta(format_version=version, migration=json.dumps(migration))
    return migration


def apply_step(store: Store, root: Path | None, migration: Migration) -> None:
    """Run one step, then record its target format in the graph and then in
    ``root/lineage.json`` (None: a Bolt URI, the graph only)."""
    migration.step(store, root)
    store.record_graph_meta(format_version=migration.target)
    if root is not None:
        write_config_format(root, migration.target)


def finish(store: Store) -> None:
    """Record that no migration is under way any more."""
    store.record_graph_meta(migration="")

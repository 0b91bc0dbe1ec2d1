"""Backups of a repository, and rebuilding one from a backup (docs/migration.md).

A backup is a directory of two files: ``graph.jsonl.gz``, every node and edge as
``lineage export`` writes them (:func:`lineage.export.write_jsonl`), gzipped, and
``lineage.json``, the repository's settings with its format version.  ``lineage
migrate`` writes one before it changes anything; the kept repositories of earlier
formats in ``tests/data/formats/N/`` have the same layout.

:func:`restore_backup` rebuilds a repository exactly as the code of the backup's format
left it: that format's indexes, and no format record in the graph for format 1.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from lineage.export import records_to_units, write_jsonl
from lineage.ingest import write_units
from lineage.store.base import Store
from lineage.store.repo import (CONFIG_NAME, EMBEDDED, RepoError, config_format, open_store,
                                read_config)

GRAPH_NAME = "graph.jsonl.gz"


def write_backup(store: Store, root: Path | None, version: int, dest: Path) -> tuple[int, int]:
    """Write a backup of ``store`` (format ``version``; ``root``: its directory, None for a
    Bolt URI) into the new directory ``dest``; returns (nodes, edges) written.  The
    graph file is written under a temporary name and renamed last, so a backup with a
    ``graph.jsonl.gz`` is whole."""
    dest.mkdir(parents=True, exist_ok=False)
    config = read_config(root) if root is not None else {"format_version": version}
    config["format_version"] = version
    (dest / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    partial = dest / (GRAPH_NAME + ".part")
    with gzip.open(partial, "wt", encoding="utf-8") as out:
        counts = write_jsonl(store, out)
    partial.rename(dest / GRAPH_NAME)
    return counts


def backup_format(backup: Path) -> int:
    """The format version a backup directory (or a kept earlier format) holds."""
    if not (backup / GRAPH_NAME).is_file():
        raise RepoError(f"{backup}: not a backup (no {GRAPH_NAME})")
    return config_format(backup, read_config(backup))


def restore_backup(backup: Path, target: str) -> int:
    """Rebuild the backup ``backup`` into ``target``: a new repository directory (embedded
    engine) or a Bolt URI whose graph holds nothing; returns its format version.  The
    repository is left at the backup's format, to be migrated as it was."""
    version = backup_format(backup)
    if "://" not in target:
        root = Path(target)
        if (root / CONFIG_NAME).exists():
            raise RepoError(f"{root} is already a lineage repository; restore into a new one")
        root.mkdir(parents=True, exist_ok=True)
        config = read_config(backup)
        config["store"] = EMBEDDED
        (root / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    with open_store(target, any_format=True) as store:
        if store.count() != (0, 0):
            raise RepoError(f"{target}: the graph is not empty; restore into an empty one")
        store.ensure_schema(version)
        with gzip.open(backup / GRAPH_NAME, "rt", encoding="utf-8") as lines:
            write_units(store, records_to_units(_records(backup / GRAPH_NAME, lines),
                                                str(backup / GRAPH_NAME)),
                        "restore", show_progress=False, make_schema=False)
    return version


def _records(path: Path, lines):
    """``(where, record)`` of each line of a backup's graph file."""
    for number, line in enumerate(lines, 1):
        try:
            yield f"line {number}", json.loads(line)
        except ValueError as exc:
            raise RepoError(f"{path}: line {number}: not a JSON record ({exc})") from None

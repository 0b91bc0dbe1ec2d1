"""Repositories: a directory that says which graph engine holds its graph.

``lineage init DIR`` writes ``DIR/lineage.json``; with the embedded default
the graph itself lives in ``DIR/falkordb/``.  A repository may instead point
at a Bolt server (``lineage init DIR --store bolt://host:7687``).  Every
command opens a store through :func:`open_store`, given a repository
directory or, directly, a Bolt URI.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lineage.core.time import now_utc_iso
from lineage.store.base import Store, StoreError
from lineage.store.bolt_store import BoltSettings, BoltStore
from lineage.store.falkordb_store import FalkorStore

CONFIG_NAME = "lineage.json"
FORMAT_VERSION = 1
EMBEDDED = "embedded"


class RepoError(StoreError):
    """Not a repository, or one we cannot use; the message names the path."""


def _is_uri(text: str) -> bool:
    return "://" in str(text)


def init_repo(path: str | os.PathLike, store: str = EMBEDDED) -> Path:
    """Create a repository directory (which may exist but must not be a repository)."""
    root = Path(path)
    config = root / CONFIG_NAME
    if config.exists():
        raise RepoError(f"{root} is already a lineage repository")
    if root.exists() and not root.is_dir():
        raise RepoError(f"{root} exists and is not a directory")
    if store != EMBEDDED:  # reach the server before writing anything
        with BoltStore(BoltSettings.parse(store)) as s:
            s.ensure_schema()
    root.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({
        "format_version": FORMAT_VERSION,
        "store": store,
        "created": now_utc_iso(),
    }, indent=2) + "\n")
    with open_store(root) as s:
        s.ensure_schema()
    return root


def read_config(root: Path) -> dict:
    config = root / CONFIG_NAME
    if not root.exists():
        raise RepoError(f"no such repository: {root} (create one with `lineage init {root}`)")
    if not config.exists():
        raise RepoError(f"not a lineage repository: {root} (no {CONFIG_NAME}; "
                        f"create one with `lineage init {root}`)")
    try:
        data = json.loads(config.read_text())
    except json.JSONDecodeError as exc:
        raise RepoError(f"{config}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if data.get("format_version") != FORMAT_VERSION:
        raise RepoError(f"{config}: format_version {data.get('format_version')!r} is not "
                        f"{FORMAT_VERSION}; this version of lineage cannot read it")
    return data


def open_store(target: str | os.PathLike, keep: bool = False) -> Store:
    """A store for a repository directory or a Bolt URI."""
    if _is_uri(str(target)):
        return BoltStore(BoltSettings.parse(str(target)))
    root = Path(target)
    store = read_config(root).get("store", EMBEDDED)
    if store == EMBEDDED:
        return FalkorStore(root, keep=keep)
    return BoltStore(BoltSettings.parse(store))

"""Repositories: a directory that says which graph engine holds its graph.

``lineage init DIR`` writes ``DIR/lineage.json``; with the embedded default
the graph itself lives in ``DIR/falkordb/``.  A repository may instead point
at a Bolt server (``lineage init DIR --store bolt://host:7687``).  Every
command opens a store through :func:`open_store`, given a repository
directory or, directly, a Bolt URI.

Every repository records its format version (docs/migration.md): a directory in
``lineage.json``, and every graph (formats 2 on) in its bookkeeping node
(:meth:`Store.graph_meta`), the only place a Bolt URI without a directory has.
:func:`open_store` refuses a repository of another format than this code writes:
a newer one names the format it has, an older one is to be migrated
(:mod:`lineage.store.migrations`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lineage.core.atomic import write_atomic
from lineage.core.time import now_utc_iso
from lineage.store.base import Store, StoreError
from lineage.store.bolt_store import BoltSettings, BoltStore
from lineage.store.cypher import FORMAT_VERSION
from lineage.store.falkordb_store import FalkorStore

CONFIG_NAME = "lineage.json"
#: The oldest format this code migrates from (docs/migration.md).
OLDEST_FORMAT = 1
EMBEDDED = "embedded"


class RepoError(StoreError):
    """Not a repository, or one we cannot use; the message names the path."""


class FormatTooNew(RepoError):
    """A repository written by a newer survey-lineage; the message names its format."""


class FormatTooOld(RepoError):
    """A repository of an older format, to be migrated; ``target`` is the repository (a
    directory or URI) as it was given, for the command line's advice."""

    def __init__(self, message: str, target: str) -> None:
        super().__init__(message)
        self.target = target


def check_format(version: int, where: str, target: str) -> None:
    """Refuse ``version`` (of the repository ``target``, stored at ``where``) unless it is
    the format this code writes."""
    if version > FORMAT_VERSION:
        raise FormatTooNew(f"{where}: format {version} needs a newer survey-lineage (this one "
                           f"reads formats {OLDEST_FORMAT}-{FORMAT_VERSION} and writes "
                           f"{FORMAT_VERSION})")
    if version < FORMAT_VERSION:
        raise FormatTooOld(f"{where}: format {version} is older than this survey-lineage "
                           f"uses ({FORMAT_VERSION}); migrate it (docs/migration.md)",
                           str(target))


def graph_format(store: Store) -> int | None:
    """The format the graph records; 1 for a graph that holds data and no version (format 1
    recorded none), None for a graph that holds nothing yet (a new repository)."""
    meta = store.graph_meta()
    if meta is not None and meta.get("format_version") is not None:
        return int(meta["format_version"])
    return None if store.count() == (0, 0) else OLDEST_FORMAT


def config_format(root: Path, data: dict) -> int:
    """The format ``lineage.json`` (already read: ``data``) records, an integer."""
    version = data.get("format_version")
    if type(version) is not int or version < 1:
        raise RepoError(f"{root / CONFIG_NAME}: format_version {version!r} is not a format "
                        "version (a whole number from 1)")
    return version


def write_config_format(root: Path, version: int) -> None:
    """Record ``version`` in ``root/lineage.json``, keeping what else it says (atomic: a
    ``kill -9`` leaves the old file or the new one)."""
    data = read_config(root)
    data["format_version"] = version
    write_atomic(root / CONFIG_NAME, json.dumps(data, indent=2) + "\n")


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
    if config_format(root, data) > FORMAT_VERSION:  # its other settings may mean otherwise
        check_format(data["format_version"], str(config), str(root))
    return data


def open_store(target: str | os.PathLike, keep: bool = False,
               any_format: bool = False) -> Store:
    """A store for a repository directory or a Bolt URI, refused (:class:`FormatTooNew`,
    :class:`FormatTooOld`) if its format is not the one this code writes, unless
    ``any_format`` (for the migration and the status, which read any format).  A directory
    says its format in ``lineage.json``; a graph on a Bolt server is asked as well."""
    if _is_uri(str(target)):
        store = BoltStore(BoltSettings.parse(str(target)))
    else:
        root = Path(target)
        data = read_config(root)
        if not any_format:
            check_format(config_format(root, data), str(root / CONFIG_NAME), str(target))
        engine = data.get("store", EMBEDDED)
        if engine == EMBEDDED:
            return FalkorStore(root, keep=keep)
        store = BoltStore(BoltSettings.parse(engine))
    if not any_format:
        try:
            version = graph_format(store)
            if version is not None:
                check_format(version, f"the graph at {store.settings.display()}", str(target))
        except StoreError:
            store.close()
            raise
    return store

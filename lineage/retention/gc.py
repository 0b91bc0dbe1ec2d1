"""``lineage gc``: the files below a datastore root that no live dataset names, listed and,
when asked, removed (docs/retention.md, "Collecting files").

A dataset names a file as ``lineage fetch`` finds it (:mod:`lineage.fetch.datastore`): its
``uri`` or ``path`` (or the path template) placed below the root, refused when it would lead
outside (:mod:`lineage.fetch.confine`).  A file and a dataset's file are the same when their
real paths (every symbolic link resolved) are.  A file no live dataset of any of the
repositories names is *stray*: either a tombstone names it (its dataset was deleted) or no
dataset does (a crashed write, a file copied in by hand, a dataset never ingested).

Several repositories may share one datastore (DRP29): every repository whose datasets live
there must be named, or the files only the others name look stray.

Removal re-reads the graphs before each :data:`BATCH` of files and keeps a file a live
dataset names by then (one ingested after the listing), so only the milliseconds of one
batch separate the last check from the removal.  A tombstone owing its file
(``files_removed`` false) whose file is removed gets ``files_removed`` true, written in one
all-or-nothing unit per repository and batch, after the files are gone.

A repository's own files are never listed: in a directory holding ``lineage.json`` (a
repository at or below the root, as when the root is the repository itself), everything
but the repository's datastore directory (the engine's files, API tokens, saved queries) is
skipped, and so is the shared cache (``LINEAGE_CACHE``) when it is below the root.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lineage.core.errors import LineageError, UserError
from lineage.core.model import GraphBatch
from lineage.core.progress import progress_bar
from lineage.fetch.cache import default_cache_dir
from lineage.fetch.confine import UnsafePath
from lineage.fetch.datastore import (DEFAULT_TEMPLATE, DatastoreError, FileDatastore,
                                     datastore_for, is_local, make_datastore)
from lineage.retention import queries
from lineage.store.repo import CONFIG_NAME, read_config

#: Files removed between two re-reads of the graphs.
BATCH = 500


class GcError(UserError):
    """A datastore gc cannot collect: not a local directory."""


@dataclass(frozen=True)
class StrayFile:
    """A file below the root no live dataset names: its path below the root, its size, and
    the tombstones that name it (``repository: key``; empty when no dataset ever did)."""

    path: str
    bytes: int
    tombstones: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"path": self.path, "bytes": self.bytes,
                "named_by": "tombstone" if self.tombstones else "nothing",
                "tombstones": list(self.tombstones)}


@dataclass
class GcReport:
    """What ``gc`` found and did; ``as_dict`` is ``lineage gc --json``."""

    datastore: str
    repositories: list[str]
    deleted: bool = False
    scanned: int = 0                 # files looked at
    live: int = 0                    # of them named by a live dataset: kept
    refused: int = 0                 # datasets whose file would lie outside the root
    stray: list[StrayFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)      # repository bookkeeping, caches
    unreadable: list[str] = field(default_factory=list)   # directories not listed
    removed: list[StrayFile] = field(default_factory=list)
    kept_at_removal: list[str] = field(default_factory=list)  # named by a dataset meanwhile
    failed: list[tuple[str, str]] = field(default_factory=list)   # (path, why)
    marked: int = 0                  # tombstones now files_removed=true

    def totals(self, files: list[StrayFile]) -> dict:
        return {"files": len(files), "bytes": sum(f.bytes for f in files)}

    def _files(self) -> list[dict]:
        """The listed files; after a removal, each with what became of it (``status``:
        removed; kept: a live dataset named it by then; failed)."""
        if not self.deleted:
            return [f.as_dict() for f in self.stray]
        failed, kept = {path for path, _ in self.failed}, set(self.kept_at_removal)
        return [{**f.as_dict(), "status": "failed" if f.path in failed else
                 "kept" if f.path in kept else "removed"} for f in self.stray]

    def as_dict(self) -> dict:
        of_tombstones = [f for f in self.stray if f.tombstones]
        return {"datastore": self.datastore, "repositories": self.repositories,
                "delete": self.deleted, "scanned": self.scanned, "live": self.live,
                "refused_datasets": self.refused, "count": len(self.stray),
                "bytes": sum(f.bytes for f in self.stray),
                "of_tombstones": self.totals(of_tombstones),
                "never_named": self.totals([f for f in self.stray if not f.tombstones]),
                "files": self._files(), "skipped": self.skipped,
                "unreadable": self.unreadable,
                "removed": self.totals(self.removed),
                "kept_at_removal": self.kept_at_removal,
                "failed": [{"path": p, "error": e} for p, e in self.failed],
                "files_removed_marked": self.marked}


def local_root(datastore) -> FileDatastore:
    """The datastore ``gc`` works on: a local directory (or ``file://``); another scheme or
    a Butler repository is refused (gc lists and removes local files only)."""
    where = make_datastore(datastore, Path.cwd())
    if not isinstance(where, FileDatastore) or not is_local(where.root):
        raise GcError(f"{where.describe()}: gc collects a local directory (or file://); "
                      "other datastores are not supported", field="datastore")
    if not os.path.isdir(where.root):
        raise GcError(f"{where.root}: no such directory", field="datastore")
    return where


def _own_datastore(repo: str) -> FileDatastore | None:
    """A repository's own local datastore (its config's, else ``REPO/datastore``); None for
    a repository on a Bolt server or with a Butler or remote datastore."""
    try:
        own = datastore_for(repo)
    except LineageError:      # a repository on a Bolt server: no datastore of its own
        return None
    return own if isinstance(own, FileDatastore) and is_local(own.root) else None


def _template_of(repo: str) -> str:
    """The path template of a repository's own datastore (for its datasets without ``uri`` or
    ``path``), else the default."""
    own = _own_datastore(repo)
    return own.template if own else DEFAULT_TEMPLATE


def check_root(root: str, repositories: list[str]) -> None:
    """Refuse a root that holds a repository's datastore below it (``gc REPO`` for
    ``gc REPO/datastore``): its datasets' relative URIs would be placed below the wrong
    directory, and every file would look stray."""
    for repo in repositories:
        own = _own_datastore(repo)
        if own and own.root != root and own.root.startswith(root.rstrip("/") + "/"):
            raise GcError(f"{root} holds the datastore of the repository {repo} below it; "
                          f"give the datastore itself, {own.root}", field="datastore")


class NamedFiles:
    """The files the datasets of some repositories name below one root, by real path:
    ``live`` (named by a live dataset) and ``tombstones`` (real path -> the tombstones naming
    it, ``(repository index, key, owed)``).  :meth:`refresh` re-reads the graphs and places
    only the datasets that are new or changed since the last read."""

    def __init__(self, root: str, repositories: list[tuple[str, object]]) -> None:
        self.datastores = [FileDatastore(root, _template_of(name)) for name, _ in repositories]
        self.stores = [store for _, store in repositories]
        self.placed: list[dict] = [{} for _ in repositories]   # key -> (row, real path)
        self.live: set[str] = set()
        self.tombstones: dict[str, list[tuple[int, str, bool]]] = {}
        self.refused = 0
        self.real_dirs: dict[str, str] = {}

    def refresh(self, advance: Callable[[int], None] = lambda n: None) -> None:
        """Read the graphs again; ``advance(1)`` after each dataset (progress)."""
        live, tombstones, refused = set(), {}, 0
        for i, (store, where) in enumerate(zip(self.stores, self.datastores)):
            placed, now = self.placed[i], {}
            for row in queries.dataset_files(store):
                key, row = row[0], tuple(row)
                earlier = placed.get(key)   # placed at the last read, unchanged since
                real = earlier[1] if earlier and earlier[0] == row \
                    else self._place(store, where, row)
                now[key] = (row, real)
                if real is None:
                    refused += 1
                elif row[5]:
                    tombstones.setdefault(real, []).append((i, key, bool(row[6])))
                else:
                    live.add(real)
                advance(1)
            self.placed[i] = now
        self.live, self.tombstones, self.refused = live, tombstones, refused

    def _place(self, store, where: FileDatastore, row: tuple) -> str | None:
        """The real path of a dataset's file below the root, placed as fetch places it
        (:meth:`FileDatastore.uri_of`, confinement included); None when it would lie outside
        the root."""
        key, uri, path, dataset_type, run = row[:5]
        props = {"uri": uri, "path": path, "dataset_type": dataset_type, "run": run}
        if not uri and not path:   # placed by the template, which may name any property
            props = store.nodes("Dataset", [key]).get(key, props)
        try:
            return self._real(where.uri_of(key, props))
        except (DatastoreError, UnsafePath):
            return None

    def _real(self, path: str) -> str:
        """``os.path.realpath(path)``, each directory resolved once."""
        directory, name = os.path.split(path)
        real_dir = self.real_dirs.get(directory)
        if real_dir is None:
            real_dir = self.real_dirs[directory] = os.path.realpath(directory)
        try:
            linked = stat.S_ISLNK(os.lstat(path).st_mode)
        except OSError:           # no such file: nothing below the root can be it
            linked = False
        return os.path.realpath(path) if linked else os.path.join(real_dir, name)


def _bookkeeping(directory: str, names: list[str], cache: str) -> set[str]:
    """Entries of ``directory`` that are not dataset files: in a repository directory,
    everything but its datastore directory; the shared cache."""
    skip = {n for n in names if os.path.join(directory, n) == cache}
    if CONFIG_NAME not in names:
        return skip
    try:
        own = make_datastore(read_config(Path(directory)).get("datastore") or "datastore",
                             Path(directory))
    except LineageError:      # a config this version cannot read: skip it all
        own = None
    kept = None               # the entry holding the repository's datastore, if it is here
    if isinstance(own, FileDatastore) and is_local(own.root):
        first = os.path.relpath(own.root, os.path.realpath(directory)).split(os.sep)[0]
        kept = first if first not in (".", "..") else None
    return skip | {n for n in names if n != kept}


def _files(root: str, report: GcReport, advance: Callable[[int], None]):
    """``(path, real path, bytes)`` of every file below ``root`` (symbolic links to
    directories not followed; a link is a file), bookkeeping skipped."""
    cache = os.path.realpath(default_cache_dir())
    todo = [root]
    while todo:
        directory = todo.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            report.unreadable.append(f"{os.path.relpath(directory, root)}: {exc.strerror}")
            continue
        real_dir = os.path.realpath(directory)
        skip = _bookkeeping(directory, [e.name for e in entries], cache)
        report.skipped += sorted(os.path.relpath(os.path.join(directory, n), root) for n in skip)
        for entry in entries:
            if entry.name in skip:
                continue
            if entry.is_dir(follow_symlinks=False):
                todo.append(entry.path)
                continue
            real = os.path.realpath(entry.path) if entry.is_symlink() \
                else os.path.join(real_dir, entry.name)
            yield entry.path, real, entry.stat(follow_symlinks=False).st_size
            advance(1)


def gc(repositories: list[tuple[str, object]], datastore, delete: bool = False,
       show_progress: bool = False, before_removal: Callable[[], None] | None = None
       ) -> GcReport:
    """The files below the root ``datastore`` no live dataset of ``repositories`` (``(name,
    store)`` pairs, every repository using the datastore) names; with ``delete``, removed
    (module docstring: the re-check, tombstones' ``files_removed``).  ``before_removal`` runs
    between the listing and the removal (tests use it to ingest in between)."""
    where = local_root(datastore)
    root = where.root
    report = GcReport(root, [name for name, _ in repositories], delete)
    check_root(root, report.repositories)
    named = NamedFiles(root, repositories)
    with progress_bar("gc: placing the files of the datasets", unit="datasets",
                      enabled=show_progress) as advance:
        named.refresh(advance)
    stray: list[tuple[str, StrayFile]] = []
    with progress_bar(f"gc: listing {root}", unit="files", enabled=show_progress) as advance:
        for path, real, size in _files(root, report, advance):
            report.scanned += 1
            if real in named.live:
                report.live += 1
                continue
            names = tuple(f"{report.repositories[i]}: {key}"
                          for i, key, _ in named.tombstones.get(real, ()))
            stray.append((real, StrayFile(os.path.relpath(path, root), size, names)))
    stray.sort(key=lambda item: item[1].path)
    report.refused = named.refused
    report.stray = [f for _, f in stray]
    if not delete:
        return report
    if before_removal is not None:
        before_removal()
    with progress_bar(f"gc: removing below {root}", len(stray), "files",
                      enabled=show_progress) as advance:
        for start in range(0, len(stray), BATCH):
            named.refresh()
            _remove(root, stray[start:start + BATCH], named, report)
            advance(len(stray[start:start + BATCH]))
    _prune_directories(root, report.removed)
    return report


def _remove(root: str, batch: list[tuple[str, StrayFile]], named: NamedFiles,
            report: GcReport) -> None:
    """Remove the files of one batch no live dataset names now; then record
    ``files_removed`` on the tombstones that owed them."""
    owed: dict[int, list[str]] = {}
    for real, stray in batch:
        if real in named.live:
            report.kept_at_removal.append(stray.path)
            continue
        try:
            os.unlink(os.path.join(root, stray.path))
        except FileNotFoundError:   # gone meanwhile: nothing left to remove
            pass
        except OSError as exc:
            report.failed.append((stray.path, exc.strerror or str(exc)))
            continue
        report.removed.append(stray)
        for i, key, owes in named.tombstones.get(real, ()):
            if owes:
                owed.setdefault(i, []).append(key)
    for i, keys in owed.items():
        store = named.stores[i]
        store.commit(store.prepare(GraphBatch(f"gc {root}"), {},
                                   [queries.files_removed_statement(keys)]))
        report.marked += len(keys)


def _prune_directories(root: str, removed: list[StrayFile]) -> None:
    """Remove the directories the removal left empty (never the root)."""
    for directory in sorted({os.path.dirname(f.path) for f in removed}, key=len, reverse=True):
        while directory:
            try:
                os.rmdir(os.path.join(root, directory))
            except OSError:       # not empty, or not ours to remove
                break
            directory = os.path.dirname(directory)

"""Deleting datasets as tombstones, and their files after (docs/retention.md).

A deletion names datasets by a selector (as ``lineage downstream`` takes it), a RUN, or a
collection (a CHAINED one through its children), optionally of some dataset types.  It:

1. finds them, and the *live dependents*: live datasets outside the deletion made (one
   step) from one of them; any such dependent refuses the deletion unless it is forced, and
   a forced deletion records ``deleted_forced`` on the datasets that had them (DRP30);
2. writes the tombstones in **one all-or-nothing unit** (set-based statements, however
   many datasets: :meth:`lineage.store.base.Store.prepare`'s ``extra``), so a ``kill -9``
   of the command or of the engine leaves the deletion before or after, never half, and
   running it again completes it (a dataset deleted already is reported, not stamped again);
3. with files asked for, records ``files_removed=false`` in that same unit, then removes
   each dataset's file from the repository's datastore and from every replica root (the
   ``replicas`` list of ``lineage.json``, the same layout below each root), and records
   ``files_removed=true`` for the datasets whose files are gone everywhere (a second unit).
   A file a live dataset names (the same ``uri`` or ``path`` value) is never removed; a
   file that cannot be removed is named in the report, its dataset keeps
   ``files_removed=false``, and the next deletion with files of the same datasets
   retries only what is owed.

For the ``kill -9`` tests, the ingest driver's hook ``LINEAGE_INGEST_PAUSE=before:S`` (or
``after:S``) makes the tombstone unit wait S seconds just before (or after) the engine
writes it.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fsspec

from lineage.core.errors import UserError
from lineage.core.model import Kind, kind_of_key
from lineage.core.model import GraphBatch
from lineage.core.progress import progress_bar
from lineage.core.selector import parse_selector
from lineage.core.time import now_utc_stamp
from lineage.dataunits.names import check_names, unknown
from lineage.dataunits.resolve import resolve
from lineage.fetch.datastore import (ButlerDatastore, Datastore, DatastoreError, FileDatastore,
                                     datastore_for, is_local, local_path)
from lineage.fetch.confine import UnsafePath
from lineage.ingest.driver import pause_for_tests
from lineage.store.repo import read_config
from lineage.traversal.queries import collection_named, tagged_datasets
from lineage.traversal.traverse import collection_members
from lineage.retention import queries

#: Dependents named in a refusal (the message counts them all).
EXAMPLES = 5

#: Threads removing files at once (measured: 8 halve the time of one on local disk).
REMOVERS = 8

#: Keys per query of the live-dependent check.
DEPENDENTS_CHUNK = 5000


class DeletionError(UserError):
    """A deletion that cannot be done as asked; the message says why."""


# --- what a deletion names ----------------------------------------------------------------

def select(store, selector: str | None = None, run: str | None = None,
           collection: str | None = None, types=None, keys=None) -> tuple[str, list]:
    """(how the deletion is named, the :class:`queries.DatasetState` of each dataset it
    names).  Exactly one of ``selector``, ``run``, ``collection`` and ``keys`` (dataset
    keys, as a retention rule lists them); ``types`` narrows any of them to those
    dataset types."""
    given = [name for name, value in (("selector", selector), ("run", run),
                                      ("collection", collection), ("keys", keys)) if value]
    if len(given) != 1:
        raise DeletionError("give exactly one of a selector, a RUN, a collection or dataset "
                            "keys" + (f" (got {' and '.join(given)})" if given else ""))
    types = sorted(set(types or ())) or None
    check_names(store, "dataset type", types, "types")
    if run:
        found = collection_named(store, run)
        if found is None:
            raise unknown(store, "collection", run, "run")
        if found.collection_type != "RUN":
            raise DeletionError(f"{run!r} is a {found.collection_type} collection, not a RUN",
                                field="run")
        return f"run {run}", queries.datasets_of_runs(store, [run], types)
    if collection:
        runs, others = collection_members(store, collection)
        states = queries.datasets_of_runs(store, runs, types) if runs else []
        held = {s.key for s in states}
        tagged = [k for k in tagged_datasets(store, others) if k not in held] if others else []
        states += [s for s in queries.dataset_states(store, tagged)
                   if types is None or s.dataset_type in types]
        return f"collection {collection}", states
    if keys:
        states = [s for s in queries.dataset_states(store, sorted(set(keys)))
                  if types is None or s.dataset_type in types]
        return f"{len(states)} datasets", states
    sel = parse_selector(selector, field="selector")
    keys = [k for k in resolve(store, sel) if kind_of_key(k) == Kind.DATASET]
    states = [s for s in queries.dataset_states(store, keys)
              if types is None or s.dataset_type in types]
    return sel.text, states


def live_dependents(store, keys: list[str]) -> list[queries.Dependent]:
    """The live datasets outside ``keys`` made (one step) from one of them: what a
    deletion of ``keys`` would leave without an input (DRP30)."""
    inside = set(keys)
    read_by: dict[str, list[str]] = {}
    for i in range(0, len(keys), DEPENDENTS_CHUNK):
        for dataset, quantum in queries.readers(store, keys[i:i + DEPENDENTS_CHUNK]):
            read_by.setdefault(quantum, []).append(dataset)
    quanta = sorted(read_by)
    out: dict[tuple[str, str], queries.Dependent] = {}
    for i in range(0, len(quanta), DEPENDENTS_CHUNK):
        for quantum, key, dtype, data_id, run in queries.live_outputs(
                store, quanta[i:i + DEPENDENTS_CHUNK]):
            if key not in inside:
                for source in read_by[quantum]:
                    out[(source, key)] = queries.Dependent(source, key, dtype, data_id, run)
    return sorted(out.values(), key=lambda r: (r.dataset_type or "", r.data_id or "", r.key,
                                               r.source))


def _examples(dependents: list[queries.Dependent]) -> list[queries.Dependent]:
    """The first :data:`EXAMPLES` dependents, each dataset once."""
    seen: dict[str, queries.Dependent] = {}
    for d in dependents:
        if len(seen) == EXAMPLES:
            break
        seen.setdefault(d.key, d)
    return list(seen.values())


def _dependent_text(row: queries.Dependent) -> str:
    return " ".join(x for x in (row.dataset_type, row.data_id) if x) + f" in {row.run}"


# --- replicas: the same files below other roots ---------------------------------------------

def replicas_of(repo) -> list[FileDatastore]:
    """The replica datastores of a repository: ``replicas`` in its ``lineage.json``, a list
    of roots (directories, relative ones below the repository, or URLs) holding the
    same files as its datastore, in the same layout below each root."""
    if repo is None or "://" in str(repo):
        return []
    roots = read_config(Path(repo)).get("replicas") or []
    if not isinstance(roots, list) or not all(isinstance(r, str) and r for r in roots):
        raise DeletionError(f"{Path(repo) / 'lineage.json'}: replicas must be a list of "
                            "datastore roots (directories or URLs)",
                            file=str(Path(repo) / "lineage.json"))
    return [FileDatastore(r if "://" in r or os.path.isabs(r) else str(Path(repo) / r))
            for r in roots]


# --- the deletion ---------------------------------------------------------------------------

def delete(store, selector: str | None = None, *, run: str | None = None,
           collection: str | None = None, types=None, reason: str, by: str,
           files: bool = False, dry_run: bool = False, force: bool = False,
           datastore: Datastore | None = None, replicas: list[FileDatastore] = (),
           now: str | None = None, show_progress: bool = True, keys=None) -> dict:
    """Delete the datasets a selector, ``run``, ``collection`` or ``keys`` name (of ``types``), as
    tombstones, in one all-or-nothing unit; with ``files``, their files from
    ``datastore`` and ``replicas`` after.  ``dry_run`` writes and removes nothing and
    reports what would go.  Live dependents refuse the deletion unless ``force``.

    The report: ``selection``, ``datasets`` (how many it names), ``deleted`` (newly),
    ``already_deleted``, ``by_dataset_type`` and ``bytes`` (of those to delete),
    ``live_dependents`` (count) and ``dependent_examples``, ``forced`` (datasets recorded
    ``deleted_forced``), ``deleted_at``; with files, ``files``: ``removed`` (datasets
    whose files are gone everywhere now), ``shared`` (kept: a live dataset names the
    file), ``failed`` (``{dataset, file, error}`` each) and ``owed`` (datasets still
    ``files_removed=false``)."""
    if not (reason or "").strip():
        raise DeletionError("must say why", field="reason")
    if not (by or "").strip():
        raise DeletionError("must name who deletes", field="by")
    if files and isinstance(datastore, ButlerDatastore):
        raise DeletionError(
            f"{datastore.describe()}: the files of a Butler datastore are removed through the "
            "Butler (butler remove-runs, or pruning datasets); lineage sync then records "
            "their deletion", field="files")
    if files and datastore is None:
        raise DeletionError("removing files needs the repository's datastore", field="files")
    what, states = select(store, selector, run, collection, types, keys)
    if not states:
        raise DeletionError(f"{what}: names no dataset")
    live = [s for s in states if s.deleted_at is None]
    live_keys = [s.key for s in live]
    dependents = live_dependents(store, live_keys)
    report = {"selection": what, "dry_run": dry_run, "datasets": len(states),
              "deleted": 0 if dry_run else len(live), "would_delete": len(live) if dry_run else 0,
              "already_deleted": len(states) - len(live),
              "by_dataset_type": dict(sorted(Counter(s.dataset_type or "" for s in live).items())),
              "bytes": sum(int(s.size or 0) for s in live),
              "live_dependents": len({d.key for d in dependents}),
              "dependent_examples": [{"dataset_type": d.dataset_type, "data_id": d.data_id,
                                      "run": d.run, "key": d.key, "made_from": d.source}
                                     for d in _examples(dependents)],
              "forced": 0, "deleted_at": None}
    if dry_run:
        return report
    if dependents and not force:
        count = report["live_dependents"]
        examples = "; ".join(_dependent_text(d) for d in _examples(dependents))
        raise DeletionError(
            f"{what}: {count} live dataset{'s' if count != 1 else ''} outside the deletion "
            f"{'were' if count != 1 else 'was'} made from these datasets ({examples}"
            f"{'; ...' if count > EXAMPLES else ''}); nothing deleted (a forced deletion "
            "records that they depended on it)")
    stamp = now or now_utc_stamp()
    forced_keys = sorted({d.source for d in dependents})
    plain_keys = sorted(set(live_keys) - set(forced_keys))
    props = {"deleted_at": stamp, "deleted_by": by.strip(), "deleted_reason": reason.strip()}
    if files:
        props["files_removed"] = False
    line = f"{stamp} deleted by {by.strip()}: {reason.strip()}"
    statements = (queries.tombstone_statements(plain_keys, props, line)
                  + queries.tombstone_statements(forced_keys, {**props, "deleted_forced": True},
                                                 line))
    if files:  # deleted earlier without their files: their removal is owed now
        statements += queries.set_statements(
            [s.key for s in states if s.deleted_at is not None and s.files_removed is None],
            {"files_removed": False})
    _write(store, f"delete {what}", statements, show_progress)
    report.update(forced=len(forced_keys), deleted_at=stamp if live else None)
    if files:
        owed = [s.key for s in states if s.files_removed is not True]
        report["files"] = remove_files(store, owed, datastore, replicas, show_progress)
    return report


def _write(store, source: str, statements: list, show_progress: bool) -> None:
    """The statements as one all-or-nothing unit (held as ``LINEAGE_INGEST_PAUSE`` says)."""
    if not statements:
        return
    prepared = store.prepare(GraphBatch(source), {}, statements)
    with progress_bar(source, total=None, unit="", enabled=show_progress):
        pause_for_tests("before")
        store.commit(prepared)
        pause_for_tests("after")


# --- files ----------------------------------------------------------------------------------

def _remove(uri: str) -> None:
    """Remove one file; a file already gone is fine (a retry, or a second dataset naming
    it in the same deletion)."""
    try:
        if is_local(uri):
            os.unlink(local_path(uri))
        else:
            fs, path = fsspec.core.url_to_fs(uri)
            fs.rm_file(path)
    except FileNotFoundError:
        pass


def remove_files(store, keys: list[str], datastore: Datastore,
                 replicas: list[FileDatastore] = (), show_progress: bool = True) -> dict:
    """Remove the files of the deleted datasets ``keys`` from ``datastore`` and every
    replica, then record ``files_removed=true`` for those gone everywhere (one unit).

    A file a live dataset names is kept; a dataset whose file is refused (its path would
    lead outside the datastore: never touched) or cannot be removed stays
    ``files_removed=false`` and is listed in ``failed``.  Files are removed by
    :data:`REMOVERS` threads: a removal waits on the disk's journal, and several wait
    together."""
    props = queries.file_props(store, keys)
    live_names = {value for row in queries.live_file_names(store) for value in row if value}
    places: dict[str, list[str]] = {}
    shared, failed = [], []
    for key in keys:
        p = props.get(key, {})
        if live_names & {v for v in (p.get("uri"), p.get("path")) if isinstance(v, str)}:
            shared.append(key)
            continue
        try:
            artifact = datastore.artifact(key, p)
            places[key] = [artifact.uri] + [replica.uri_of(key, {"path": artifact.relpath})
                                           for replica in replicas]
        except (DatastoreError, UnsafePath) as exc:
            failed.append({"dataset": key, "file": p.get("uri") or p.get("path") or "",
                           "error": str(exc)})

    def remove_all(key: str) -> list[dict]:
        errors = []
        for place in places[key]:
            try:
                _remove(place)
            except OSError as exc:
                errors.append({"dataset": key, "file": place, "error": exc.strerror or str(exc)})
        return errors

    removed = []
    with progress_bar("removing files", total=len(places), unit="datasets",
                      enabled=show_progress) as advance, \
            ThreadPoolExecutor(REMOVERS) as pool:
        for key, errors in zip(places, pool.map(remove_all, places, chunksize=64)):
            if errors:
                failed += errors
            else:
                removed.append(key)
            advance(1)
    _write(store, "files removed", queries.set_statements(removed, {"files_removed": True}),
           show_progress=False)
    return {"removed": len(removed), "shared": len(shared), "failed": failed,
            "owed": len(keys) - len(removed)}


def delete_in_repository(store, repo, **kwargs) -> dict:
    """:func:`delete` with the datastore and replicas of the repository ``repo`` (a
    directory; a Bolt URI has none) when files are asked for."""
    if kwargs.get("files") and not kwargs.get("dry_run"):
        kwargs.setdefault("datastore", datastore_for(repo))
        kwargs.setdefault("replicas", replicas_of(repo))
    return delete(store, **kwargs)

"""`lineage ingest KIND PATH...`: read input files of one format into the graph.

Each format (``KIND``) is a module of this package named after it
(``butler-export`` -> :mod:`lineage.ingest.formats.butler_export`) that provides

* ``SUFFIXES``: the file name endings it reads when given a directory, and
* ``read(path, context) -> Parsed``: one input file as one ingest unit.

The rules every format follows:

* **One file, one unit.** A file is written all-or-nothing; a file that
  cannot be read (:class:`IngestError`, naming file, line or field and what
  is wrong) is *rejected* and nothing of it is stored, while the other files
  of the same command still ingest.
* **Records left out are said.** A reader that drops part of a file (a header
  with an impossible date, a NaN measurement) lists each with its reason in
  ``Parsed.skipped``; nothing is silently lost or silently stored.
* **Idempotent.** Keys are derived from the input, and writes merge, so a
  second run of the same files creates nothing and reports so.

For the ``kill -9`` tests, ``LINEAGE_INGEST_PAUSE=before:S`` (or ``after:S``) makes every
unit wait S seconds just before it is written to the engine (or just after), so a test
can kill the process at a known point of a unit (:func:`ingest_unit`).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from lineage.core.bulk import bulk_work
from lineage.core.model import GraphBatch, ModelError
from lineage.core.progress import progress_bar
from lineage.core.time import now_utc_stamp
from lineage.store.base import Store, StoreError
from lineage.ingest import check_unit, stored_changes, stored_props
from lineage.ingest.queries import TOMBSTONE_PROPS, restore_statement
from lineage.core.errors import UserError, first_line

log = logging.getLogger(__name__)

#: The test hook that pauses each unit before or after its write (``before:S``, ``after:S``).
PAUSE_ENV = "LINEAGE_INGEST_PAUSE"

#: Every format ``lineage ingest`` knows, in the order a survey usually loads them.
KINDS = ("headers", "butler-export", "skymap", "pipeline", "run", "efd", "metrics", "prov")


class IngestError(UserError):
    """An input file that cannot be ingested.  ``str()`` names the file, the
    place in it (line, record or field) and what is wrong; ``file`` is the path and
    ``line`` the line number when ``where`` is ``line N``."""

    def __init__(self, path, where: str, what: str) -> None:
        self.path, self.where, self.what = str(path), where, what
        line = re.match(r"line (\d+)\b", where or "")
        super().__init__(f"{path}: {where}: {what}" if where else f"{path}: {what}",
                         file=self.path, line=int(line.group(1)) if line else None)


@dataclass
class Parsed:
    """What a reader made of one input file."""

    path: Path
    batch: GraphBatch
    #: Records left out, each with its reason (``"HSCA0409: DATE-OBS is 1970-01-01: ..."``).
    skipped: list[str] = field(default_factory=list)
    #: What the file holds, counted for the summary (``{"datasets": 120, "runs": 3}``).
    counts: dict[str, int] = field(default_factory=dict)
    #: Values stored without part of what the file says (a card missing, unreadable or read
    #: by a rule), each saying what and why; reported among the warnings.
    notes: list[str] = field(default_factory=list)
    #: The value warnings of ``batch`` when its reader checked its values already
    #: (``lineage sync`` checks a RUN in its reading thread); None: the driver checks them.
    warnings: list[str] | None = None


@dataclass
class IngestContext:
    """What a reader may use besides its file."""

    store: Store
    #: ``--var NAME=VALUE`` settings (``DRP_PIPE_DIR=...`` for pipeline imports).
    variables: dict[str, str] = field(default_factory=dict)
    #: The directories the files were found in as given (a raw's URI is relative to its own).
    roots: tuple[Path, ...] = ()


@dataclass
class FileOutcome:
    path: str
    #: "added", "updated", "unchanged", "rejected", "checked" (dry run), or "skipped" (a file
    #: of a walked directory the kind does not read; ``skipped`` says why)
    status: str
    nodes_in: int = 0
    edges_in: int = 0
    nodes_created: int = 0
    edges_created: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    #: Stored values this file changed: ``"<key>: <property> <old> -> <new>"``.
    updated: list[str] = field(default_factory=list)
    #: Doubtful values that are kept (``model_spec``: real data has them).
    warnings: list[str] = field(default_factory=list)
    #: Deleted datasets (tombstones) this unit wrote again, live again now.
    restored: int = 0
    error: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class IngestSummary:
    kind: str
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def rejected(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "rejected"]

    def totals(self) -> dict[str, int]:
        return {
            "files": len(self.files),
            "rejected": len(self.rejected),
            "nodes_created": sum(f.nodes_created for f in self.files),
            "edges_created": sum(f.edges_created for f in self.files),
            "skipped_records": sum(len(f.skipped) for f in self.files if f.status != "skipped"),
            "skipped_files": sum(f.status == "skipped" for f in self.files),
            "updated_values": sum(len(f.updated) for f in self.files),
            "warnings": sum(len(f.warnings) for f in self.files),
            "restored": sum(f.restored for f in self.files),
        }

    def as_dict(self) -> dict:
        return {"kind": self.kind, "totals": self.totals(),
                "files": [f.as_dict() for f in self.files]}


def reader(kind: str):
    """The module that reads ``kind``."""
    if kind not in KINDS:
        raise IngestError(kind, "", f"unknown ingest kind; known: {', '.join(KINDS)}")
    return importlib.import_module(f"lineage.ingest.formats.{kind.replace('-', '_')}")


def input_files(kind: str, paths: Iterable[str | Path]) -> list[tuple[Path, str | None]]:
    """Every file named, with directories walked (recursively, sorted): each with None
    when the format reads it, or the reason it is passed over.  Under a directory a file
    whose name does not end in one of the format's ``SUFFIXES`` is passed over (a
    SOURCES.md, a LICENSE, another kind's files), never left out of the report; a file
    named on its own is always read."""
    suffixes = tuple(reader(kind).SUFFIXES)
    out: list[tuple[Path, str | None]] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file())
            if not any(f.name.endswith(suffixes) for f in found):
                raise IngestError(p, "", f"no {kind} input in this directory "
                                         f"(looked for files ending in {', '.join(suffixes)})")
            out.extend((f, None if f.name.endswith(suffixes) else
                        _passed_over(kind, f, suffixes)) for f in found)
        elif p.is_file():
            out.append((p, None))
        else:
            raise IngestError(p, "", "no such file or directory")
    return out


def _passed_over(kind: str, path: Path, suffixes: tuple[str, ...]) -> str:
    """Why a file of a walked directory is not read as ``kind``."""
    ending = f"its name ends in {''.join(path.suffixes)}" if path.suffix else "its name has no suffix"
    return (f"the whole file: not {kind} input ({ending}; `lineage ingest {kind}` reads files "
            f"ending in {', '.join(suffixes)})")


def ingest(store: Store, kind: str, paths: Iterable[str | Path],
           variables: dict[str, str] | None = None, dry_run: bool = False,
           show_progress: bool = True) -> IngestSummary:
    """Read and write each input file of format ``kind`` as its own ingest unit.

    A file that fails to read or to write is rejected (its error is in the
    summary) and the others go on.  Every file under a directory is in the summary: a
    file the format does not read has status ``skipped`` and the reason.  ``dry_run``
    reads and checks every file (endpoints included) and writes nothing.
    """
    module = reader(kind)
    paths = [Path(p) for p in paths]
    files = input_files(kind, paths)
    context = IngestContext(store, dict(variables or {}), tuple(p for p in paths if p.is_dir()))
    summary = IngestSummary(kind)
    store.ensure_schema()
    read = sum(reason is None for _, reason in files)
    with bulk_work(), progress_bar(f"ingest {kind}", total=read, unit="files",
                                   enabled=show_progress) as advance:
        for path, reason in files:
            if reason is not None:
                summary.files.append(FileOutcome(str(path), "skipped", skipped=[reason]))
                continue
            summary.files.append(_one_file(module, path, context, dry_run))
            advance(1)
    return summary


def _one_file(module, path: Path, context: IngestContext, dry_run: bool) -> FileOutcome:
    kind = module.__name__.rsplit('.', 1)[-1].replace('_', '-')
    return ingest_unit(lambda: module.read(path, context), path, context, dry_run, kind)


def ingest_unit(read, path, context: IngestContext, dry_run: bool, kind: str,
                restored_by: str | None = None) -> FileOutcome:
    """Read (``read()`` gives the :class:`Parsed` unit), check and write one ingest unit,
    all-or-nothing; ``path`` names it in the outcome and its errors (a file, or what
    ``lineage sync`` read: a RUN of a Butler), ``kind`` what it was read as.  The write
    waits as :data:`PAUSE_ENV` says (``kill -9`` tests only).

    Deleted datasets (docs/retention.md) the unit writes again are made live in the same
    unit, their ``deletion_history`` saying ``restored by <restored_by>`` (default
    ``ingest of PATH``); a dataset the unit itself deletes (``deleted_at``: ``lineage
    sync`` of a dataset gone from its Butler) gets its history line, or, deleted already,
    keeps its first deletion."""
    t0 = time.perf_counter()
    outcome = FileOutcome(str(path), "checked" if dry_run else "added")
    try:
        parsed = read()
        outcome.counts, outcome.skipped = dict(parsed.counts), list(parsed.skipped)
        if not parsed.batch.source:
            parsed.batch.source = str(path)
        outcome.nodes_in, outcome.edges_in = len(parsed.batch.nodes), len(parsed.batch.edges)
        # every value against its meaning
        outcome.warnings = parsed.notes + (check_unit(parsed.batch) if parsed.warnings is None
                                           else list(parsed.warnings))
        stored = stored_props(context.store, parsed.batch.nodes)
        restored = _tombstones(stored, parsed.batch)
        outcome.updated = stored_changes(stored, parsed.batch)
        extra = [restore_statement(restored, f"{now_utc_stamp()} restored by "
                                             f"{restored_by or f'ingest of {path}'}")] \
            if restored else []
        if dry_run:
            context.store.prepare(parsed.batch, extra=extra)
        else:  # nodes the store lacks are created, not merged (a fifth of the engine's work)
            pause_for_tests("before")
            written = context.store.commit(context.store.prepare(
                parsed.batch, extra=extra, absent=parsed.batch.nodes.keys() - stored.keys()))
            pause_for_tests("after")
            outcome.restored = len(restored)
            outcome.nodes_created, outcome.edges_created = written.nodes_created, written.edges_created
            if not (written.nodes_created or written.edges_created):
                # nothing new; stored values changed are listed in ``updated`` either way
                outcome.status = "updated" if outcome.updated else "unchanged"
    except (IngestError, ModelError, StoreError) as exc:
        outcome.status, outcome.error = "rejected", _with_path(str(exc), path)
    except (OSError, UnicodeDecodeError) as exc:
        outcome.status, outcome.error = "rejected", f"{path}: cannot read: {exc}"
    except RecursionError:
        outcome.status, outcome.error = "rejected", f"{path}: nested too deeply to read"
    except MemoryError:
        outcome.status, outcome.error = "rejected", f"{path}: too large to read in memory"
    except Exception as exc:  # noqa: BLE001 - one file's failure never stops the others
        log.debug("reading %s", path, exc_info=True)
        outcome.status, outcome.error = "rejected", (
            f"{path}: cannot be read as {kind} input: {type(exc).__name__}: {first_line(exc)}")
    outcome.seconds = time.perf_counter() - t0
    return outcome


def _tombstones(stored: dict[str, dict], batch: GraphBatch) -> list[str]:
    """The stored tombstones ``batch`` writes again as live datasets (to restore).  The
    nodes ``batch`` deletes itself (``deleted_at``) get the line their deletion adds to
    ``deletion_history``, or, deleted already, keep their stored deletion."""
    restored = []
    for key, props in batch.nodes.items():
        old = stored.get(key) or {}
        if "deleted_at" not in props:
            if old.get("deleted_at"):
                restored.append(key)
        elif old.get("deleted_at"):
            for name in TOMBSTONE_PROPS:
                props.pop(name, None)
        else:
            props["deletion_history"] = [*(old.get("deletion_history") or []),
                                         f"{props['deleted_at']} deleted by "
                                         f"{props.get('deleted_by')}: {props.get('deleted_reason')}"]
    return sorted(restored)


def pause_for_tests(point: str) -> None:
    """Wait the seconds :data:`PAUSE_ENV` gives when it names ``point`` (``before`` or
    ``after`` the unit's write); unset, nothing.  Deletion's unit waits here too."""
    text = os.environ.get(PAUSE_ENV, "")
    where, _, seconds = text.partition(":")
    if where != point:
        return
    try:
        time.sleep(float(seconds))
    except ValueError:
        raise IngestError("environment", "",
                          f"{PAUSE_ENV}={text!r}: not before:S or after:S (S seconds)") from None


def _with_path(message: str, path: Path) -> str:
    return message if str(path) in message else f"{path}: {message}"

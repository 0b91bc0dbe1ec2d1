"""Subset download (LDF103): copy or link the artifacts of a graph answer into a directory.

Each artifact is copied to ``DIR/<relpath>.part`` and renamed into place
when its whole content has arrived and its checksum matches; an interrupted
copy resumes from the bytes already in the ``.part`` file (a ranged read:
HTTP ``Range``, a seek for local files).  Files already in place whose
checksum matches are not copied again.  Copies run in parallel threads;
``DIR/manifest.json`` records every artifact: source, local path, bytes,
sha256 and status.

Every file is written below ``DIR`` (:mod:`.confine`): an artifact whose
place there (its ``relpath``, from the graph's run and path) is absolute,
has a ``..`` segment, a NUL, or leads out through a symbolic link is refused
(status ``refused``, the error naming the dataset and the value), and so is a
local source outside its datastore root; the others are still fetched.
Partial files are opened without following a symbolic link, and a file is
put in place by renaming, which replaces a link rather than writing through it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from lineage.core.atomic import write_atomic
from lineage.core.errors import UserError
from lineage.core.time import now_utc_iso
from lineage.core.progress import progress_bar
from lineage.fetch.confine import UnsafePath, safe_join, shown
from lineage.fetch.datastore import (Artifact, DatastoreError, RefusedPath, is_local, local_path, open_uri,
                                     size_of, source_of)

CHUNK = 1 << 20
MANIFEST = "manifest.json"
MODES = ("copy", "link", "symlink")


class FetchError(DatastoreError):
    """Some artifacts could not be fetched; ``results`` has every one's outcome."""

    def __init__(self, message: str, results: list[dict]) -> None:
        super().__init__(message)
        self.results = results


@dataclass
class Plan:
    """What a fetch would do: artifacts and bytes (the graph's sizes; unknown ones counted)."""

    artifacts: list[Artifact]
    by_type: dict[str, list[int]] = field(default_factory=dict)   # type -> [count, bytes]
    unknown_size: int = 0
    refused: list[Artifact] = field(default_factory=list)   # never fetched (``error`` set)

    @property
    def count(self) -> int:
        return len(self.artifacts)

    @property
    def bytes(self) -> int:
        return sum(v[1] for v in self.by_type.values())


def plan(artifacts: list[Artifact]) -> Plan:
    """What fetching ``artifacts`` costs; refused ones (``error`` set) are set apart."""
    p = Plan([a for a in artifacts if not a.error], refused=[a for a in artifacts if a.error])
    for a in p.artifacts:
        entry = p.by_type.setdefault(a.dataset_type or "?", [0, 0])
        entry[0] += 1
        entry[1] += a.size or 0
        p.unknown_size += a.size is None
    p.by_type = dict(sorted(p.by_type.items()))
    return p


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def verify(artifact: Artifact, path: Path, digest: str | None = None) -> str:
    """The sha256 of a file holding ``artifact``; an error naming both if the graph's
    checksum (of the same algorithm) differs."""
    digest = digest or sha256_file(path)
    want = artifact.checksum
    if want and want.split(":", 1)[0] == "sha256" and want != digest:
        raise DatastoreError(f"{artifact.name()}: checksum mismatch for {artifact.uri}: the "
                             f"graph says {want}, the file has {digest}")
    return digest


def open_part(part: Path):
    """``part`` opened for appending, created if absent; never through a symbolic link (one
    planted there is replaced by a new file)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(part, flags, 0o666)
    except OSError:
        if not part.is_symlink():
            raise
        part.unlink()
        fd = os.open(part, flags, 0o666)
    return os.fdopen(fd, "ab")


def _copy(artifact: Artifact, target: Path, advance) -> tuple[int, bool]:
    """Copy the source into ``target`` through ``target.part``, resuming; (bytes, resumed)."""
    part = target.with_name(target.name + ".part")
    if part.is_symlink():
        part.unlink()
    have = part.stat().st_size if part.exists() else 0
    source = source_of(artifact)
    try:
        total = size_of(source)
    except FileNotFoundError:
        raise DatastoreError(f"{artifact.name()}: file not found: {artifact.uri}") from None
    if have > total:  # not a prefix of this file
        part.unlink()
        have = 0
    advance(have)
    copied = have
    try:
        src = open_uri(source, "rb", block_size=CHUNK, cache_type="none") \
            if not is_local(source) else open_uri(source, "rb")
    except FileNotFoundError:
        raise DatastoreError(f"{artifact.name()}: file not found: {artifact.uri}") from None
    with src, open_part(part) as out:
        if have:
            src.seek(have)
        while copied < total:
            chunk = src.read(min(CHUNK, total - copied))
            if not chunk:
                raise DatastoreError(f"{artifact.name()}: {artifact.uri} ended after {copied} "
                                     f"of {total} bytes; run again to resume")
            out.write(chunk)
            copied += len(chunk)
            advance(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    return copied - have, have > 0


#: Names below a fetch directory that no dataset may take.
RESERVED = (MANIFEST, MANIFEST + ".tmp")


def target_of(artifact: Artifact, to: Path) -> Path:
    """Where an artifact goes below ``to``: its ``relpath``, checked to stay below ``to``
    (symbolic links resolved); :class:`RefusedPath` naming the dataset otherwise."""
    if artifact.error:
        raise RefusedPath(artifact.error)
    try:
        if artifact.relpath in RESERVED or artifact.relpath.endswith(".part"):
            raise UnsafePath("path", artifact.relpath, "is a name the fetch itself uses "
                                                       "(manifest or partial file)")
        return safe_join(to, artifact.relpath, what="path", follow_last=False)
    except UnsafePath as exc:
        raise RefusedPath(f"{artifact.name()}: refused: its {exc}") from None


class Finish(Protocol):
    """What a fetch does with each copy once its checksum is verified, instead of renaming it
    into place: :class:`lineage.standards.stamp.Stamper` writes provenance into it."""

    def extra_names(self, artifact: Artifact) -> list[str]:
        """Other files it writes below the fetch directory (kept apart like the files)."""

    def place(self, artifact: Artifact, verified: Path, target: Path, source_sha256: str
              ) -> dict:
        """Put ``target`` in place from the verified copy (and consume it); manifest
        entries (``sha256`` of the file written, ``source_sha256`` ...)."""

    def present(self, artifact: Artifact, target: Path) -> dict | None:
        """The manifest entries if ``target`` is already what :meth:`place` writes."""


def _present(artifact: Artifact, target: Path, finish: Finish | None) -> dict | None:
    """The manifest entries of a file already in place (None: fetch it); a stale or broken
    copy is removed."""
    if not target.exists() or target.is_symlink():
        return None
    try:
        if finish is not None:
            entries = finish.present(artifact, target)
            if entries is None:
                target.unlink()
            return entries
        if artifact.size is None or target.stat().st_size == artifact.size:
            return {"sha256": verify(artifact, target)}
    except DatastoreError:
        target.unlink()   # a stale or broken copy: fetch it again
    return None


def _place(artifact: Artifact, to: Path, mode: str, advance, finish: Finish | None = None
           ) -> dict:
    target = target_of(artifact, to)
    target.parent.mkdir(parents=True, exist_ok=True)
    target = target_of(artifact, to)   # again, now that its folders exist
    entry = {"key": artifact.key, "dataset_type": artifact.dataset_type,
             "data_id": artifact.data_id, "run": artifact.run, "source": artifact.uri,
             "path": artifact.relpath, "format": artifact.format}
    present = _present(artifact, target, finish)
    if present is not None:
        advance(target.stat().st_size)
        return {**entry, **present, "bytes": target.stat().st_size, "status": "present"}
    if mode != "copy" and finish is not None:
        raise DatastoreError(f"{artifact.name()}: provenance is written into copies only; "
                             f"a {mode} would change the datastore's own file")
    if mode != "copy":
        if not artifact.is_local:
            raise DatastoreError(f"{artifact.name()}: --{mode} needs a local file, "
                                 f"not {artifact.uri}")
        source = local_path(source_of(artifact))
        if not source.exists():
            raise DatastoreError(f"{artifact.name()}: file not found: {source}")
        digest = verify(artifact, source)
        if target.exists() or target.is_symlink():
            target.unlink()
        if mode == "link":
            os.link(source, target)
        else:
            os.symlink(source.resolve(), target)
        advance(source.stat().st_size)
        return {**entry, "bytes": source.stat().st_size, "sha256": digest, "status": mode + "ed"}
    copied, resumed = _copy(artifact, target, advance)
    part = target.with_name(target.name + ".part")
    try:
        digest = verify(artifact, part)
    except DatastoreError:
        part.unlink()  # never resume from bytes that do not add up to the right file
        raise
    if finish is not None:
        entry.update(finish.place(artifact, part, target, digest))
    else:
        os.replace(part, target)
        entry["sha256"] = digest
    return {**entry, "bytes": target.stat().st_size,
            "status": "resumed" if resumed else "copied", "transferred": copied}


def failure(artifact: Artifact, exc: Exception) -> str:
    """The message of a failed transfer, naming the dataset and its file."""
    if isinstance(exc, DatastoreError):
        return str(exc)
    return f"{artifact.name()}: {artifact.uri}: {exc}; run again to resume"


#: What a manifest says of its checksums when provenance was written into the files.
STAMPED_NOTE = ("sha256 is the checksum of the file written here, provenance included; "
                "source_sha256 that of the datastore's file, which is never changed")


def write_manifest(to: Path, results: list[dict], source: str, stamped: bool = False) -> Path:
    path = to / MANIFEST
    write_atomic(path, json.dumps({
        "written": now_utc_iso(),
        "datastore": source, "count": len(results),
        **({"checksums": STAMPED_NOTE} if stamped else {}),
        "bytes": sum(r.get("bytes", 0) for r in results),
        "failed": sum(r["status"] in FAILED for r in results),
        "refused": sum(r["status"] == "refused" for r in results),
        "artifacts": results}, indent=2) + "\n")
    return path


def _keep_apart(artifacts: list[Artifact], first: dict[str, int], later: list[int],
                finish: Finish) -> None:
    """Refuse an artifact whose extra files (:meth:`Finish.extra_names`) would take the place
    of another artifact's file or extra file."""
    taken = dict(first)
    again = set(later)
    for i, a in enumerate(artifacts):
        if a.error or not a.relpath or i in again:
            continue
        for name in finish.extra_names(a):
            j = taken.setdefault(os.path.normpath(name), i)
            if j != i:
                artifacts[i] = replace(a, error=(
                    f"{a.name()}: refused: its provenance file {shown(name)} below the fetch "
                    f"directory is the place of {artifacts[j].name()}'s file"))
                break


#: Statuses of artifacts that were not fetched.
FAILED = ("failed", "refused")


def fetch(artifacts: list[Artifact], to: str | os.PathLike, mode: str = "copy",
          workers: int = 4, show_progress: bool = False, source: str = "",
          finish: Finish | None = None) -> list[dict]:
    """Copy (or hard-link / symlink) every artifact below ``to``; write the manifest.

    Returns one result per artifact (in order).  When some fail, the others are still
    done, the manifest records the failures, and :class:`FetchError` names the first.
    With ``finish``, each verified copy is put in place by it (provenance written in).
    """
    if mode not in MODES:
        raise UserError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    artifacts = list(artifacts)
    first: dict[str, int] = {}   # place below ``to`` -> the first artifact going there
    later: list[int] = []         # the same file again: placed after the first
    for i, a in enumerate(artifacts):
        if a.error or not a.relpath:
            continue
        j = first.setdefault(os.path.normpath(a.relpath), i)
        if j != i:
            if artifacts[j].uri == a.uri:
                later.append(i)
            else:   # two files, one place: never two writers of one .part
                artifacts[i] = replace(a, error=(
                    f"{a.name()}: refused: its path {shown(a.relpath)} below the fetch "
                    f"directory is that of {artifacts[j].name()}, from another file"))
    if finish is not None:
        _keep_apart(artifacts, first, later, finish)
    p = plan(artifacts)
    results: list[dict | None] = [None] * len(artifacts)
    lock = threading.Lock()
    with progress_bar(f"fetching {p.count} datasets", p.bytes or None, "bytes",
                      show_progress) as advance:
        def safe_advance(n):
            with lock:
                advance(n)

        def one(i: int) -> None:
            a = artifacts[i]
            try:
                results[i] = _place(a, to, mode, safe_advance, finish)
            except Exception as exc:  # noqa: BLE001  (network libraries raise their own types)
                results[i] = {"key": a.key, "dataset_type": a.dataset_type,
                              "data_id": a.data_id, "run": a.run, "source": a.uri,
                              "path": a.relpath,
                              "status": "refused" if isinstance(exc, RefusedPath) else "failed",
                              "error": failure(a, exc)}

        try:
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                again = set(later)
                list(pool.map(one, [i for i in range(len(artifacts)) if i not in again]))
                list(pool.map(one, later))
        finally:
            done = [r for r in results if r is not None]
            write_manifest(to, done, source, finish is not None)
    failed = [r for r in done if r["status"] in FAILED]
    if failed:
        raise FetchError(f"{len(failed)} of {len(done)} datasets not fetched; first: "
                         f"{failed[0]['error']}", done)
    return done

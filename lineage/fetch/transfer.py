"""Subset download (LDF103): copy or link the artifacts of a graph answer into a directory.

Each artifact is copied to ``DIR/<relpath>.part`` and renamed into place
when its whole content has arrived and its checksum matches; an interrupted
copy resumes from the bytes already in the ``.part`` file (a ranged read:
HTTP ``Range``, a seek for local files).  Files already in place whose
checksum matches are not copied again.  Copies run in parallel threads;
``DIR/manifest.json`` records every artifact: source, local path, bytes,
sha256 and status.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..progress import progress_bar
from .datastore import Artifact, DatastoreError, is_local, local_path, open_uri, size_of

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

    @property
    def count(self) -> int:
        return len(self.artifacts)

    @property
    def bytes(self) -> int:
        return sum(v[1] for v in self.by_type.values())


def plan(artifacts: list[Artifact]) -> Plan:
    p = Plan(list(artifacts))
    for a in artifacts:
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


def _copy(artifact: Artifact, target: Path, advance) -> tuple[int, bool]:
    """Copy the source into ``target`` through ``target.part``, resuming; (bytes, resumed)."""
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    try:
        total = size_of(artifact.uri)
    except FileNotFoundError:
        raise DatastoreError(f"{artifact.name()}: file not found: {artifact.uri}") from None
    if have > total:  # not a prefix of this file
        part.unlink()
        have = 0
    advance(have)
    copied = have
    try:
        src = open_uri(artifact.uri, "rb", block_size=CHUNK, cache_type="none") \
            if not is_local(artifact.uri) else open_uri(artifact.uri, "rb")
    except FileNotFoundError:
        raise DatastoreError(f"{artifact.name()}: file not found: {artifact.uri}") from None
    with src, open(part, "ab") as out:
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


def _place(artifact: Artifact, to: Path, mode: str, advance) -> dict:
    target = to / artifact.relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    entry = {"key": artifact.key, "dataset_type": artifact.dataset_type,
             "data_id": artifact.data_id, "run": artifact.run, "source": artifact.uri,
             "path": artifact.relpath, "format": artifact.format}
    if target.exists() and not target.is_symlink() and (
            artifact.size is None or target.stat().st_size == artifact.size):
        try:
            entry["sha256"] = verify(artifact, target)
            advance(target.stat().st_size)
            return {**entry, "bytes": target.stat().st_size, "status": "present"}
        except DatastoreError:
            target.unlink()   # a stale or broken copy: fetch it again
    if mode != "copy":
        if not artifact.is_local:
            raise DatastoreError(f"{artifact.name()}: --{mode} needs a local file, "
                                 f"not {artifact.uri}")
        source = local_path(artifact.uri)
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
    os.replace(part, target)
    return {**entry, "bytes": target.stat().st_size, "sha256": digest,
            "status": "resumed" if resumed else "copied", "transferred": copied}


def failure(artifact: Artifact, exc: Exception) -> str:
    """The message of a failed transfer, naming the dataset and its file."""
    if isinstance(exc, DatastoreError):
        return str(exc)
    return f"{artifact.name()}: {artifact.uri}: {exc}; run again to resume"


def write_manifest(to: Path, results: list[dict], source: str) -> Path:
    path = to / MANIFEST
    tmp = path.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps({
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "datastore": source, "count": len(results),
        "bytes": sum(r.get("bytes", 0) for r in results),
        "failed": sum(r["status"] == "failed" for r in results),
        "artifacts": results}, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def fetch(artifacts: list[Artifact], to: str | os.PathLike, mode: str = "copy",
          workers: int = 4, show_progress: bool = False, source: str = "") -> list[dict]:
    """Copy (or hard-link / symlink) every artifact below ``to``; write the manifest.

    Returns one result per artifact (in order).  When some fail, the others are still
    done, the manifest records the failures, and :class:`FetchError` names the first.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
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
                results[i] = _place(a, to, mode, safe_advance)
            except Exception as exc:  # noqa: BLE001  (network libraries raise their own types)
                results[i] = {"key": a.key, "dataset_type": a.dataset_type,
                              "data_id": a.data_id, "run": a.run, "source": a.uri,
                              "path": a.relpath, "status": "failed", "error": failure(a, exc)}

        try:
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                list(pool.map(one, range(len(artifacts))))
        finally:
            done = [r for r in results if r is not None]
            write_manifest(to, done, source)
    failed = [r for r in done if r["status"] == "failed"]
    if failed:
        raise FetchError(f"{len(failed)} of {len(done)} datasets not fetched; first: "
                         f"{failed[0]['error']}", done)
    return done

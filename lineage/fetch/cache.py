"""A local cache of datastore files and cutouts, shared by users and processes
(DRP16 pre-cache, DRP17 shared cache, DAX5 cutout caching, DAX7 supersets and subsets).

Layout below the cache directory::

    files/<h[:2]>/<h><suffix>     whole files (h: sha256 of the artifact's URI and checksum)
    cutouts/<h[:2]>/<h>.fits      image cutouts (h: of the file and the pixel box)
    headers/<h[:2]>/<h>.hdr       FITS headers, so a sky cutout finds its box without a read
    locks/<h>.lock                one lock per entry; evict.lock for eviction
    cache.json                    {"max_bytes": N}: the limit every user of the cache shares

Safety under concurrent use: an entry is filled by one process at a time
(a file lock per entry; the others wait and then find it), written to a
``.part`` file and renamed into place, so a reader never sees half a file;
eviction takes its own lock and removes the least recently used entries
(hits touch the file) until the cache is under its limit.  Directories are
group-writable (setgid) so colleagues sharing a group share the cache.

Confinement (:mod:`.confine`): entry names are digests, never graph values
(a file's suffix is kept only when it is a short plain one such as
``.fits.fz``); every entry, lock and temporary file is checked to be below the
real cache directory (a symbolic link planted in a shared cache that leads
elsewhere is refused, neither read nor written through), temporary files are
created exclusively, and eviction never descends into a linked directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from lineage.core.atomic import write_atomic
from lineage.core.errors import UserError
from lineage.fetch.confine import UnsafePath, safe_join
from lineage.fetch.datastore import Artifact, DatastoreError, RefusedPath
from lineage.fetch.transfer import _copy, verify

CONFIG = "cache.json"
KINDS = ("files", "cutouts", "headers")
_SIZE_RE = re.compile(r"^\s*([\d.]+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
#: A cached file keeps its suffix (``.fits``, ``.fits.fz``) only when it is this plain.
_SUFFIX_RE = re.compile(r"^(\.[A-Za-z0-9_-]{1,12}){1,2}$")


def parse_size(text) -> int:
    """``"500MB"``, ``"2G"``, ``"1.5GiB"`` or a number of bytes -> bytes (powers of 1024)."""
    if isinstance(text, (int, float)):
        return int(text)
    m = _SIZE_RE.match(str(text))
    if not m:
        raise UserError(f"size {text!r}: expected bytes or a number with K, M, G or T")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2).lower() or " "))


def default_cache_dir() -> Path:
    """``LINEAGE_CACHE``, else ``$XDG_CACHE_HOME/lineage`` (``~/.cache/lineage``)."""
    if os.environ.get("LINEAGE_CACHE"):
        return Path(os.environ["LINEAGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lineage"


@dataclass(frozen=True)
class Usage:
    files: int
    bytes: int
    by_kind: dict


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


class Cache:
    """The cache in ``root``; ``max_bytes`` (or the one in ``cache.json``) bounds its size."""

    def __init__(self, root: str | os.PathLike | None = None, max_bytes=None) -> None:
        self.root = Path(root) if root else default_cache_dir()
        for sub in (*KINDS, "locks"):
            self._mkdir(self.root / sub)
        config = self.root / CONFIG
        if max_bytes is not None:
            self._write_atomic(config, (json.dumps({"max_bytes": parse_size(max_bytes)}) +
                                        "\n").encode())
        try:
            self.max_bytes = json.loads(config.read_text()).get("max_bytes")
        except (FileNotFoundError, json.JSONDecodeError):
            self.max_bytes = None

    # --- paths and locks ---------------------------------------------------------------

    @staticmethod
    def _mkdir(path: Path) -> None:
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            try:
                path.chmod(0o2775)
            except OSError:
                pass

    def _confined(self, *parts: str, follow_last: bool = True) -> Path:
        """``root/parts``, refused (:class:`RefusedPath`) when a symbolic link in the cache
        leads it outside the cache directory."""
        try:
            return safe_join(self.root, *parts, what="cache entry", follow_last=follow_last)
        except UnsafePath as exc:
            raise RefusedPath(f"cache {self.root}: refused: {exc}") from None

    def _entry(self, kind: str, digest: str, suffix: str) -> Path:
        return self._confined(kind, digest[:2], f"{digest}{suffix}")

    def lock(self, digest: str) -> FileLock:
        return FileLock(str(self._confined("locks", f"{digest}.lock")), mode=0o664)

    def _write_atomic(self, path: Path, data: bytes) -> None:
        self._mkdir(path.parent)
        path = self._confined(str(path.relative_to(self.root)), follow_last=False)
        write_atomic(path, data, mode=0o664, suffix=".part")

    @staticmethod
    def _touch(path: Path) -> Path | None:
        try:
            os.utime(path)
            return path
        except FileNotFoundError:
            return None

    # --- whole files ---------------------------------------------------------------------

    @staticmethod
    def file_digest(artifact: Artifact) -> str:
        return _digest("file", artifact.uri, artifact.checksum)

    def file_path(self, artifact: Artifact) -> Path:
        if artifact.error:
            raise RefusedPath(artifact.error)
        name = artifact.uri.split("?", 1)[0].rsplit("/", 1)[-1]
        suffix = "".join(Path(name).suffixes[-2:]) if "\x00" not in name else ""
        return self._entry("files", self.file_digest(artifact),
                           suffix if _SUFFIX_RE.match(suffix) else "")

    def lookup(self, artifact: Artifact) -> Path | None:
        """The cached copy of an artifact (marked as used), or None."""
        return self._touch(self.file_path(artifact))

    def fill(self, artifact: Artifact) -> tuple[Path, bool]:
        """The cached copy of an artifact, copied in first if absent: (path, copied now).
        One process copies; others wait for it; a checksum mismatch is an error."""
        path = self.file_path(artifact)
        if self._touch(path):
            return path, False
        self._mkdir(path.parent)
        with self.lock(self.file_digest(artifact)):
            if self._touch(path):
                return path, False
            _copy(artifact, path, lambda n: None)
            part = path.with_name(path.name + ".part")
            try:
                verify(artifact, part)
            except DatastoreError:
                part.unlink()
                raise
            part.chmod(0o664)
            os.replace(part, path)
        self.evict(keep={path})
        return path, True

    def open(self, artifact: Artifact, fill: bool = True):
        """An open file of the cached copy (filled first with ``fill``; None without it when
        absent).  Another process may evict an entry between finding and opening it; an
        open file stays readable, so this retries the opening, never the reading."""
        for _ in range(5):
            path = self.fill(artifact)[0] if fill else self.lookup(artifact)
            if path is None:
                return None
            try:
                return open(path, "rb")
            except FileNotFoundError:
                continue
        raise DatastoreError(f"{artifact.name()}: evicted from the cache {self.root} as fast "
                             f"as it is filled: its limit ({self.max_bytes} bytes) is too small")

    # --- cutouts and headers ---------------------------------------------------------------

    def cutout_path(self, artifact: Artifact, hdu, box: tuple[int, int, int, int]) -> Path:
        return self._entry("cutouts", _digest("cutout", artifact.uri, artifact.checksum, hdu,
                                              list(box)), ".fits")

    def header_path(self, artifact: Artifact, hdu) -> Path:
        return self._entry("headers", _digest("header", artifact.uri, artifact.checksum, hdu),
                           ".hdr")

    def get_bytes(self, path: Path) -> bytes | None:
        if self._touch(path) is None:
            return None
        try:
            return path.read_bytes()
        except FileNotFoundError:  # evicted between the touch and the read
            return None

    def put_bytes(self, path: Path, data: bytes) -> None:
        self._write_atomic(path, data)
        self.evict(keep={path})

    # --- size and eviction ---------------------------------------------------------------

    def _entries(self) -> list[tuple[float, int, Path, str]]:
        out = []
        for kind in KINDS:
            try:
                top = self._confined(kind)
            except RefusedPath:   # a link out of the cache: not ours to count or evict
                continue
            for sub in top.iterdir():
                if sub.is_symlink() or not sub.is_dir():   # never into a linked folder
                    continue
                for entry in os.scandir(sub):
                    if entry.name.endswith(".part"):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    out.append((st.st_mtime, st.st_size, Path(entry.path), kind))
        return out

    def usage(self) -> Usage:
        entries = self._entries()
        by_kind = {k: [0, 0] for k in KINDS}
        for _, size, _, kind in entries:
            by_kind[kind][0] += 1
            by_kind[kind][1] += size
        return Usage(len(entries), sum(e[1] for e in entries),
                     {k: {"files": v[0], "bytes": v[1]} for k, v in by_kind.items()})

    def evict(self, to_bytes: int | None = None, keep=frozenset()) -> int:
        """Remove least recently used entries until the cache holds at most ``to_bytes``
        (default: its limit); the bytes freed."""
        limit = self.max_bytes if to_bytes is None else to_bytes
        if limit is None:
            return 0
        freed = 0
        with FileLock(str(self._confined("locks", "evict.lock")), mode=0o664):
            entries = sorted(self._entries())
            total = sum(e[1] for e in entries)
            for _, size, path, _ in entries:
                if total <= limit:
                    break
                if path in keep:
                    continue
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                total -= size
                freed += size
        return freed

    def clear(self) -> int:
        return self.evict(to_bytes=0)

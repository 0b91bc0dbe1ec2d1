"""Keeping file paths built from graph values inside their folder.

Run names, dataset paths and URIs come from ingested metadata; a repository
written by an older version, or by another writer of a Bolt server, may hold
``../../escape``, ``/etc``, ``file:///etc/passwd`` or a NUL byte.  Every write
of :mod:`lineage.fetch` (the ``--to`` directory, the cache) and every local
read of a datastore goes through this module:

* :func:`check_relative` refuses a value that is not a plain relative path:
  empty, absolute (``/x``, ``//server/share``), a drive (``C:``), a backslash,
  a NUL or other control character, or a ``..`` segment;
* :func:`safe_join` joins checked parts below a root, then :func:`inside`
  checks that the real path (symbolic links resolved) is still below the real
  root;
* :func:`remote_join` and :func:`remote_inside` do the same for URL roots
  (``http(s)://``, ``s3://``): same scheme, same host, path below the root's,
  no ``..`` (also not percent-encoded).

The error, :class:`UnsafePath`, says which value is refused and why; callers
add the dataset it belongs to.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lineage.core.errors import UserError

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafePath(UserError):
    """A path or URI that would leave its folder: ``what``, the value, and why."""

    def __init__(self, what: str, value, reason: str) -> None:
        self.what, self.value, self.reason = what, value, reason
        super().__init__(f"{what} {shown(value)} {reason}")


def shown(value) -> str:
    """A value as messages show it: quoted, control characters escaped, long ones cut."""
    text = repr(str(value))
    return text if len(text) <= 200 else text[:160] + "..." + text[-30:]


def check_relative(value, what: str = "path") -> list[str]:
    """The segments of a relative path (``.`` and empty segments dropped); UnsafePath when
    ``value`` is empty, absolute, a drive or UNC path, holds a backslash, a NUL or other
    control character, or has a ``..`` segment."""
    if not isinstance(value, str):
        raise UnsafePath(what, value, f"is a {type(value).__name__}, not a path")
    if "\x00" in value:
        raise UnsafePath(what, value, "holds a NUL character")
    m = _CONTROL.search(value)
    if m:
        raise UnsafePath(what, value, f"holds a control character ({m.group()!r})")
    if "\\" in value:
        raise UnsafePath(what, value, "holds a backslash (a Windows path separator)")
    if value.startswith("/"):
        raise UnsafePath(what, value, "is an absolute path")
    if _DRIVE.match(value):
        raise UnsafePath(what, value, "names a drive")
    segments = [s for s in value.split("/") if s not in ("", ".")]
    if ".." in segments:
        raise UnsafePath(what, value, "has a '..' segment (it would leave its folder)")
    if not segments:
        raise UnsafePath(what, value, "names no file")
    return segments


def _below(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@functools.lru_cache(maxsize=256)
def _real_root(root: str) -> str:
    """The real path of a root, once per process (a root swapped for a link later only
    makes more paths refused)."""
    return os.path.realpath(root)


def _realpath(path: str, real_root: str) -> str:
    """``os.path.realpath(path)``, cheaper for a path lexically below a real root: only the
    components below the root are looked at, and only a link among them costs a full
    resolution."""
    norm = os.path.normpath(os.path.abspath(path))
    if not _below(norm, real_root) or norm == real_root:
        return os.path.realpath(path)
    current = real_root.rstrip("/")
    for segment in norm[len(current) + 1:].split("/"):
        current = f"{current}/{segment}"
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return os.path.realpath(path)
        except (FileNotFoundError, NotADirectoryError):
            break   # what follows does not exist: no link there
    return norm


def inside(root: str | os.PathLike, path: str | os.PathLike, what: str = "path",
           follow_last: bool = True) -> Path:
    """The real path of ``path`` (every symbolic link resolved; with ``follow_last`` False the
    last component is kept as it is, for a path that is replaced, never written through),
    checked to be ``root`` or below the real ``root``; UnsafePath otherwise."""
    return Path(real_inside(os.fspath(root), os.fspath(path), what, follow_last))


def real_inside(root: str, path: str, what: str = "path", follow_last: bool = True) -> str:
    """:func:`inside` on strings."""
    if "\x00" in path:
        raise UnsafePath(what, path, "holds a NUL character")
    real_root = _real_root(os.path.abspath(root))
    if follow_last:
        real = _realpath(path, real_root)
    else:
        parent, name = os.path.split(os.path.normpath(path))
        if name in ("", ".", ".."):
            raise UnsafePath(what, path, "names no file")
        real = os.path.join(_realpath(parent or ".", real_root), name)
    if not _below(real, real_root):
        plain = os.path.normpath(os.path.abspath(path))
        linked = _below(plain, real_root) or _below(plain, os.path.abspath(root))
        how = " through a symbolic link" if linked else ""
        raise UnsafePath(what, path, f"leads outside {root}{how} (to {real})")
    return real


def safe_join(root: str | os.PathLike, *parts, what: str = "path",
              follow_last: bool = True) -> Path:
    """``root/part/...`` after :func:`check_relative` of each part and :func:`inside` of the
    result (the joined path is returned, not its real path).  ``what`` names the value in
    errors (``"run"``, ``"uri"``...)."""
    segments: list[str] = []
    for part in parts:
        segments += check_relative(part, what)
    target = Path(root).joinpath(*segments)
    try:
        inside(root, target, what, follow_last)
    except UnsafePath as exc:
        raise UnsafePath(what, "/".join(map(str, parts)), exc.reason) from None
    return target


def _url_segments(path: str, what: str, value: str) -> list[str]:
    """Segments of a URL path; ``..`` refused as written and percent-decoded."""
    for text in (path, unquote(path)):
        if "\x00" in text or "\\" in text or ".." in text.split("/"):
            raise UnsafePath(what, value, "has a '..' segment, a backslash or a NUL "
                                          "(it would leave the datastore root)")
    return [s for s in path.split("/") if s not in ("", ".")]


def remote_join(root: str, rel: str, what: str = "path") -> str:
    """``root/rel`` for a URL root, ``rel`` checked as a relative path (also decoded)."""
    segments = check_relative(rel, what)
    _url_segments(rel, what, rel)
    return root.rstrip("/") + "/" + "/".join(segments)


def remote_inside(root: str, uri: str, what: str = "uri") -> str:
    """The path of URL ``uri`` below URL ``root`` (``a/b.fits``): same scheme, same host and
    port, a path below the root's; UnsafePath otherwise (a stored URI must not send a read
    to another scheme, host or place)."""
    r, u = urlsplit(root), urlsplit(uri)
    if (u.scheme.lower(), u.netloc.lower()) != (r.scheme.lower(), r.netloc.lower()):
        raise UnsafePath(what, uri, f"is not below the datastore root {root} "
                                    "(another scheme or host)")
    segments = _url_segments(u.path, what, uri)
    base = [s for s in r.path.split("/") if s not in ("", ".")]
    if segments[:len(base)] != base or len(segments) == len(base):
        raise UnsafePath(what, uri, f"is not below the datastore root {root}")
    return "/".join(segments[len(base):])

"""Files written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644, durable: bool = False,
                 suffix: str = ".tmp") -> None:
    """Write ``data`` to ``path`` through a temporary file beside it (``.NAME.<random>
    <suffix>``), renamed over ``path``: a ``kill -9`` at any moment leaves the old file or
    the new one, never part of one, and a failure removes the temporary file.
    ``durable``: flush it to disk before the rename (a file a restart must find, such as
    the API tokens)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as out:
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

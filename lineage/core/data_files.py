"""Where the project's top-level data folders are, in a checkout and when installed.

The top-level ``graphql/`` folder (saved operations and the SDL) is not inside the
``lineage`` package: a wheel carries it as data files (``pyproject.toml``,
``[tool.setuptools.data-files]``), which an installer puts in
``<prefix>/share/survey-lineage/graphql/`` (``<prefix>`` is the venv, ``~/.local`` for
``pip install --user``, ...).  The distribution's file list (``RECORD``) says where
they went, so :func:`installed_dir` asks :mod:`importlib.metadata` rather than
guessing a prefix.

In a source checkout (run from it, or an editable install, which installs no data
files) the folder is beside the package: :func:`source_dir`.
"""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path

DISTRIBUTION = "survey-lineage"
SHARE = ("share", DISTRIBUTION)
#: The ``lineage`` package folder (this module is ``lineage/core/data_files.py``).
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def source_dir(name: str) -> Path | None:
    """``name`` beside the package when the package runs from a source checkout
    (the checkout's ``pyproject.toml`` is its neighbour), else None.

    An installed package's parent is ``site-packages``, where ``graphql`` is another
    distribution's package: the ``pyproject.toml`` check keeps that out."""
    root = PACKAGE_DIR.parent
    folder = root / name
    if folder.is_dir() and (root / "pyproject.toml").is_file():
        return folder
    return None


@functools.lru_cache(maxsize=None)
def installed_dir(name: str) -> Path | None:
    """``<prefix>/share/survey-lineage/<name>`` as installed with *this* package, or None.

    Only a distribution whose files include this very package counts (its
    ``lineage/__init__.py`` is ours): a stale install elsewhere on ``sys.path``, or a
    build's ``*.egg-info`` in the current directory, is not asked."""
    own = PACKAGE_DIR / "__init__.py"
    want = (*SHARE, name)
    for dist in importlib.metadata.distributions(name=DISTRIBUTION):
        files = dist.files or []
        if not any(f.as_posix() == "lineage/__init__.py" and _same(dist.locate_file(f), own)
                   for f in files):
            continue
        for f in files:
            parts = Path(f).parts
            for i in range(len(parts) - len(want)):
                if parts[i:i + len(want)] == want:
                    folder = Path(dist.locate_file(Path(*parts[:i + len(want)]))).resolve()
                    if folder.is_dir():
                        return folder
    return None


def _same(a, b: Path) -> bool:
    try:
        return Path(a).resolve() == b.resolve()
    except OSError:
        return False


def data_dir(name: str) -> Path | None:
    """The project's ``name`` folder: the source checkout's, else the installed one."""
    return source_dir(name) or installed_dir(name)

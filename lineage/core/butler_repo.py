"""How the graph names a Butler repository (``butler_repo`` of what ``lineage sync`` read
from it), for every command that meets one without importing daf_butler."""

from __future__ import annotations

import os


def source_name(repo: str) -> str:
    """The name a Butler is known by in the graph: a local repository's absolute path,
    or the URI as given (without a trailing slash)."""
    text = str(repo)
    if "://" in text:
        return text.rstrip("/")
    return os.path.abspath(text)

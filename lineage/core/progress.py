"""Progress bars for long work (ingest, copy, export), on standard error.

Quiet when standard error is not a terminal unless forced, so scripts and
``--json`` output stay clean.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


def _wanted(enabled: bool) -> bool:
    if not enabled or os.environ.get("LINEAGE_NO_PROGRESS"):
        return False
    return sys.stderr.isatty() or bool(os.environ.get("LINEAGE_FORCE_PROGRESS"))


@contextmanager
def progress_bar(description: str, total: int | None = None, unit: str = "", enabled: bool = True):
    """Yield ``advance(n)``; draw a bar (or a spinner without a total) while it runs."""
    if not _wanted(enabled):
        yield lambda n=1: None
        return
    columns = [SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
               MofNCompleteColumn(), TextColumn(unit), TimeElapsedColumn()]
    if total:
        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)

"""Progress of long work (ingest, copy, export, fetch), on standard error.

On a terminal, a rich bar.  Otherwise (a log file, CI, a pipe) plain lines, one every
``LINEAGE_PROGRESS_EVERY`` seconds (default 5) and one at the end if any was written:
``ingest: 40,000/120,000 datasets (33 %), 12 s``.  Standard output stays clean for
``--json``; ``LINEAGE_NO_PROGRESS`` silences both, ``LINEAGE_FORCE_PROGRESS`` draws the
bar off a terminal too.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

#: Seconds between two plain progress lines, unless LINEAGE_PROGRESS_EVERY says otherwise.
EVERY_SECONDS = 5.0


@contextmanager
def progress_bar(description: str, total: int | None = None, unit: str = "", enabled: bool = True):
    """Yield ``advance(n)``; draw a bar (or a spinner without a total) on a terminal, write
    plain periodic lines elsewhere."""
    if not enabled or os.environ.get("LINEAGE_NO_PROGRESS"):
        yield lambda n=1: None
        return
    if not (sys.stderr.isatty() or os.environ.get("LINEAGE_FORCE_PROGRESS")):
        with _progress_lines(description, total, unit) as advance:
            yield advance
        return
    columns = [SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
               MofNCompleteColumn(), TextColumn(unit), TimeElapsedColumn()]
    if total:
        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


@contextmanager
def _progress_lines(description: str, total: int | None, unit: str):
    """``advance(n)`` that writes a line to standard error when the last one is
    ``LINEAGE_PROGRESS_EVERY`` seconds old, and a last line at the end if it wrote any."""
    every = float(os.environ.get("LINEAGE_PROGRESS_EVERY", EVERY_SECONDS))
    start = time.monotonic()
    state = {"done": 0, "last": start, "lines": 0}

    def line() -> None:
        done, elapsed = state["done"], time.monotonic() - start
        count = f"{done:,}/{total:,}" if total else f"{done:,}"
        share = f" ({100 * done / total:.0f} %)" if total else ""
        sys.stderr.write(f"{description}: {count}{' ' + unit if unit else ''}{share}, "
                         f"{elapsed:.0f} s\n")
        sys.stderr.flush()
        state["lines"] += 1

    def advance(n: int = 1) -> None:
        state["done"] += n
        now = time.monotonic()
        if now - state["last"] >= every:
            state["last"] = now
            line()

    yield advance
    if state["lines"]:
        line()

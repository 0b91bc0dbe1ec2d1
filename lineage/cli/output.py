"""Output for people (rich tables) and for scripts (JSON on standard output).

rich is imported on the first table or message, not with this module, so a command that
only prints JSON (and ``lineage --help``) never loads it."""

from __future__ import annotations

import json
import os
import sys
from functools import cache


@cache
def console():
    """The one rich console of the process, made on first use.  Piped output (logs, docs)
    gets wide lines instead of rich's 80-column default."""
    from rich.console import Console
    return Console(width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", 160)))


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def table(title: str, columns: list[str], rows, caption: str | None = None,
          fold: tuple[str, ...] | None = None) -> None:
    """A table; columns in ``fold`` wrap when space runs out, the others never do
    (all fold when ``fold`` is None)."""
    from rich.markup import escape
    from rich.table import Table
    t = Table(title=escape(title), caption=caption, show_lines=False, header_style="bold cyan")
    for c in columns:
        wraps = fold is None or c in fold
        t.add_column(c, overflow="fold", no_wrap=not wraps)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console().print(t)


def dataset_rows_table(title: str, rows, caption: str | None = None) -> None:
    table(title, ["dataset type", "data ID", "run", "steps", "UUID"],
          [(r.dataset_type, r.data_id, r.run, r.steps, r.key.split(":", 1)[1]) for r in rows],
          caption, fold=("data ID",))


def counts_table(title: str, counts: dict[str, int]) -> None:
    total = sum(counts.values())
    table(title, ["dataset type", "datasets"],
          [*counts.items(), ("[bold]total[/bold]", f"[bold]{total}[/bold]")])


def node_view(view: dict) -> None:
    props = view["properties"]
    table(f"{view['kind']} {view['key']}", ["property", "value"],
          [(k, v) for k, v in sorted(props.items()) if k != "key"])
    for direction, arrow in (("out", "->"), ("in", "<-")):
        part = view[direction]
        if not part["counts"]:
            continue
        shown = len(part["edges"])
        total = sum(part["counts"].values())
        caption = None if shown == total else f"{shown} of {total} shown"
        table(f"{arrow} edges ({', '.join(f'{k} {v}' for k, v in part['counts'].items())})",
              ["edge", "neighbour"], [(e["rel"], e["key"]) for e in part["edges"]], caption)

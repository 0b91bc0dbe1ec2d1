"""Output for people (rich tables that never cut a value) and for scripts (CSV, ECSV, JSON).

A listing command hands its answer to :func:`emit` as records (dicts) with the columns a
terminal table shows; ``--format`` (:data:`FORMATS`) picks how they are printed:

* ``table``: a rich table.  A UUID, a run or any other value is never cut: when the terminal
  is too narrow for a row, the table first splits data IDs into one column per dimension or
  lets them wrap at their commas, then drops its borders, then shows the values every row
  shares once above the table, and last stacks each row as a block of ``field value`` lines.
* ``csv`` and ``ecsv``: one line per record, nested objects (a data ID) as one column per
  field (``data_id.visit``), lists as JSON text; ECSV (astropy) adds dtypes and units.
* ``json``: the command's document, every ``data_id`` an object of typed values
  (``{"visit": 2026030100001, "detector": 3}``).

rich and astropy are imported when a table or ECSV is printed, not with this module, so a
command that prints JSON (and ``lineage --help``) loads neither."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from lineage.core.dataid import data_id_object

#: What ``--format`` takes; ``--json`` is ``--format json``.
FORMATS = ("table", "csv", "ecsv", "json")

#: Units of the observing conditions and measurements listings carry (ECSV writes them).
CONDITION_UNITS = {"seeing": "arcsec", "exposure_time": "s", "flux": "nJy", "flux_err": "nJy",
                   "ra": "deg", "dec": "deg"}


@cache
def console():
    """The one rich console of the process, made on first use.  Its width: LINEAGE_WIDTH if
    set to a number (tests, or a log read on a known screen), else the terminal's (rich
    honours COLUMNS); piped output without COLUMNS gets 160 columns instead of rich's 80."""
    from rich.console import Console
    forced, columns = os.environ.get("LINEAGE_WIDTH", ""), os.environ.get("COLUMNS", "")
    if forced.isdigit():
        return Console(width=int(forced))
    return Console(width=None if sys.stdout.isatty() else
                   int(columns) if columns.isdigit() else 160)


def json_ready(document):
    """The document with every ``data_id`` field that holds text made an object (every
    command's JSON, whatever its shape, follows the one rule)."""
    if isinstance(document, Mapping):
        return {name: data_id_object(value) if name == "data_id" and isinstance(value, str)
                else json_ready(value) for name, value in document.items()}
    if isinstance(document, (list, tuple)):
        return [json_ready(item) for item in document]
    return document


def print_json(data) -> None:
    sys.stdout.write(json.dumps(json_ready(data), indent=2, sort_keys=True, default=str) + "\n")


@dataclass(frozen=True)
class Column:
    """One column of a terminal table: its header, and the record's field it shows (or a
    function of the record giving the text).  ``wrap``: free text that may run onto several
    lines; any other value is shown whole on one line."""

    header: str
    value: str | Callable[[dict], object]
    wrap: bool = False

    def of(self, record: dict):
        return self.value(record) if callable(self.value) else record.get(self.value)


def emit(fmt: str, title: str, records: list[dict], columns: list[Column],
         caption: str | None = None, document=None, units: Mapping[str, str] | None = None) -> None:
    """Print a listing in format ``fmt``: ``records`` as a table of ``columns`` (title and
    caption above and below it), as CSV or ECSV of every field of the records (``units`` by
    flat column name), or as JSON of ``document`` (default: the records)."""
    if fmt == "json":
        print_json(records if document is None else document)
    elif fmt == "csv":
        names, rows = flat_rows(records)
        if not names:  # no rows, so no columns either: nothing to print
            return
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    elif fmt == "ecsv":
        ecsv_table(records, units).write(sys.stdout, format="ascii.ecsv")
    else:
        ready = json_ready(records)
        table(title, [c.header for c in columns], [[c.of(r) for c in columns] for r in ready],
              caption, fold=tuple(c.header for c in columns if c.wrap))


def flat_rows(records: list[dict]) -> tuple[list[str], list[list]]:
    """Column names and rows of records for CSV and ECSV: a nested object (a data ID) becomes
    one column per field, ``data_id.visit``; a list becomes its JSON text; a field a record
    lacks is None."""
    flat = [_flatten(json_ready(r)) for r in records]
    names = list(dict.fromkeys(name for r in flat for name in r))
    return names, [[r.get(name) for name in names] for r in flat]


def _flatten(record: Mapping, prefix: str = "") -> dict:
    out = {}
    for name, value in record.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{name}."))
        elif isinstance(value, (list, tuple)):
            out[f"{prefix}{name}"] = json.dumps(value, default=str)
        else:
            out[f"{prefix}{name}"] = value
    return out


def ecsv_table(records: list[dict], units: Mapping[str, str] | None = None):
    """An astropy Table of the records' flat columns: integers, floats and booleans keep
    their dtype, anything else is text; a missing value is masked."""
    from astropy.table import MaskedColumn, Table
    names, rows = flat_rows(records)
    out = Table()
    for i, name in enumerate(names):
        values = [row[i] for row in rows]
        present = [v for v in values if v is not None]
        kinds = {type(v) for v in present}
        if kinds and kinds <= {bool}:
            dtype, fill = bool, False
        elif kinds and kinds <= {int}:
            dtype, fill = "int64", 0
        elif kinds and kinds <= {int, float}:
            dtype, fill = "float64", 0.0
        else:
            dtype, fill = str, ""
            values = [v if v is None else str(v) for v in values]
        out[name] = MaskedColumn([fill if v is None else v for v in values], name=name,
                                 dtype=dtype, mask=[v is None for v in values],
                                 unit=(units or {}).get(name))
    return out


def table(title: str, columns: list[str], rows, caption: str | None = None,
          fold: tuple[str, ...] | None = None) -> None:
    """A table that never cuts a value.  Columns in ``fold`` hold free text that may wrap
    (all do when ``fold`` is None); a cell that is a mapping is a data ID.  The first layout
    that fits the console wins (module docstring): with borders, then without; data IDs
    split into dimension columns, then wrapping; the values every row shares shown once;
    last, each row stacked as ``field value`` lines."""
    from rich.markup import escape
    cells = [["" if v is None else v for v in row] for row in rows]
    if not cells:  # nothing to line up: the title and caption say so
        _stacked(escape(title), caption, columns, cells)
        return
    width = console().width
    for hoist in (False, True):
        for compact in (False, True):
            for split in (True, False):
                headers, body, wraps = _layout(columns, cells, fold, split)
                shared = _shared(headers, body) if hoist else []
                if hoist and not shared:
                    continue
                kept = [i for i, h in enumerate(headers) if h not in dict(shared)]
                t, ranges = _rich_table(escape(title), caption, [headers[i] for i in kept],
                                        [[row[i] for i in kept] for row in body],
                                        [wraps[i] for i in kept], compact)
                if _fits(t, ranges, width):
                    if shared:
                        t.title = None
                        console().print(escape(title), justify="center", style="table.title")
                        console().print(escape("same in every row: " + ", ".join(
                            f"{h}={v}" for h, v in shared)), highlight=False)
                    console().print(t)
                    return
    _stacked(escape(title), caption, columns, cells)


def _layout(columns: list[str], cells: list[list], fold, split: bool):
    """Headers, rows of text and which columns wrap: a data ID column becomes one column per
    dimension (``split``, when every row has the same dimensions) or its pairs joined by
    ``", "`` so that it wraps between them."""
    headers, body, wraps = [], [[] for _ in cells], []
    for i, name in enumerate(columns):
        values = [row[i] for row in cells]
        if values and all(isinstance(v, Mapping) for v in values):
            dims = [list(v) for v in values]
            if split and all(d == dims[0] for d in dims):
                for dim in dims[0]:
                    headers.append(dim)
                    wraps.append(False)
                    for row, v in zip(body, values):
                        row.append(str(v[dim]))
                continue
            headers.append(name)
            wraps.append(True)
            for row, v in zip(body, values):
                row.append(", ".join(f"{k}={x}" for k, x in v.items()))
            continue
        headers.append(name)
        wraps.append(fold is None or name in fold)
        for row, v in zip(body, values):
            row.append(str(v))
    return headers, body, wraps


def _shared(headers: list[str], body: list[list]) -> list[tuple[str, str]]:
    """(header, value) of the columns whose value is the same, and not empty, in every row
    of two or more."""
    if len(body) < 2:
        return []
    return [(h, body[0][i]) for i, h in enumerate(headers)
            if body[0][i] and all(row[i] == body[0][i] for row in body)]


def _rich_table(title, caption, headers, body, wraps, compact: bool):
    """A rich table whose columns are never narrower than their longest word (a value that
    does not wrap: its whole text), and the (narrowest, widest) text of each column."""
    from rich import box
    from rich.table import Table
    t = Table(title=title, caption=caption, header_style="bold cyan",
              **({"box": box.SIMPLE_HEAD, "padding": 0, "show_edge": False}
                 if compact else {}))  # compact: one space between columns, no frame
    ranges = [_column_range(header, [row[i] for row in body], wraps[i])
              for i, header in enumerate(headers)]
    for header, wrap, (low, _) in zip(headers, wraps, ranges):
        t.add_column(header, no_wrap=not wrap, overflow="fold", min_width=low)
    for row in body:
        t.add_row(*row)
    return t, ranges


def _column_range(header: str, cells: list[str], wraps: bool) -> tuple[int, int]:
    """The narrowest and widest a column's text is: a wrapping column may break between
    words (its header too), any other holds each value and its header on one line (rich
    wraps a column's header as it wraps its cells: ``new nodes`` would be cut to ``new n``)."""
    from rich.text import Text
    texts = [Text.from_markup(c) for c in cells]
    widest = max([len(header), *(t.cell_len for t in texts)])
    if wraps:
        words = [len(w) for w in header.split()] + [len(w) for t in texts
                                                    for w in t.plain.split()]
    else:
        words = [len(header)] + [t.cell_len for t in texts]
    return max(words, default=0), widest


def _fits(rich_table, ranges: list[tuple[int, int]], width: int) -> bool:
    """Whether the table fits ``width`` without cutting a word; if so, its wrapping columns
    get fixed widths that do (rich would otherwise narrow the widest columns below their
    longest word when it shrinks a table to fit)."""
    from rich.measure import Measurement
    shared = console()
    columns = rich_table.columns
    lows, highs = [low for low, _ in ranges], [high for _, high in ranges]
    overhead = Measurement.get(shared, shared.options.update_width(10**6), rich_table).minimum \
        - sum(lows)
    room = width - overhead
    if sum(lows) > room:
        return False
    if sum(highs) > room:  # share the room above the minimums among the wrapping columns
        spare = room - sum(lows)
        stretch = [h - lo if not c.no_wrap else 0 for c, lo, h in zip(columns, lows, highs)]
        total = sum(stretch) or 1
        for c, lo, extra in zip(columns, lows, stretch):
            c.width = lo + spare * extra // total
    return True


def _stacked(title: str, caption: str | None, columns: list[str], cells: list[list]) -> None:
    """Each row as a block of ``field value`` lines; a table of two columns (a property and
    its value) as one such block, its first column naming the lines.  Values wrap between
    words; a field whose value has a word too long for the line beside it gets the value on
    the lines below, indented."""
    shared = console()
    if title:
        shared.print(title, justify="center", style="table.title")
    text = [[", ".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, Mapping) else str(v)
             for v in row] for row in cells]
    if len(columns) == 2:
        _field_lines([(name, value) for name, value in text])
    for n, row in enumerate(text if len(columns) != 2 else [], 1):
        shared.print(f"[dim]-- {n} of {len(cells)} --[/dim]")
        _field_lines(list(zip(columns, row)))
    if caption:
        shared.print(caption, justify="center", style="table.caption")


def _field_lines(fields: list[tuple[str, str]]) -> None:
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text
    shared = console()
    name_width = max((len(Text.from_markup(name).plain) for name, _ in fields), default=0)
    longest = max((len(w) for _, v in fields for w in Text.from_markup(v).plain.split()),
                  default=0)
    if name_width + 2 + longest <= shared.width:
        block = Table.grid(padding=(0, 2))
        block.add_column(style="bold cyan", no_wrap=True)
        block.add_column(overflow="fold")
        for name, value in fields:
            block.add_row(name, value)
        shared.print(block)
        return
    for name, value in fields:
        shared.print(name, style="bold cyan")
        shared.print(Padding(value, (0, 0, 0, 2), expand=False), overflow="fold")


#: The columns of a listing of datasets (``DatasetRow.as_dict()`` records).
DATASET_COLUMNS = [Column("dataset type", "dataset_type"), Column("data ID", "data_id"),
                   Column("run", "run"), Column("steps", "steps"), Column("UUID", "uuid")]


def dataset_columns(records: list[dict]) -> list[Column]:
    """:data:`DATASET_COLUMNS`, and a ``deleted`` column when some record is a tombstone
    (docs/retention.md): a listing of live datasets keeps its width."""
    if any(r.get("deleted") for r in records):
        return DATASET_COLUMNS + [Column("deleted", "deleted")]
    return DATASET_COLUMNS


def dataset_rows_table(title: str, rows, caption: str | None = None) -> None:
    records = [r.as_dict() for r in rows]
    emit("table", title, records, dataset_columns(records), caption)


def counts_table(title: str, counts: dict[str, int]) -> None:
    total = sum(counts.values())
    table(title, ["dataset type", "datasets"],
          [*counts.items(), ("[bold]total[/bold]", f"[bold]{total}[/bold]")])


def node_view(view: dict) -> None:
    props = view["properties"]
    table(f"{view['kind']} {view['key']}", ["property", "value"],
          [(k, v) for k, v in sorted(props.items()) if k != "key"], view.get("deleted"))
    for direction, arrow in (("out", "->"), ("in", "<-")):
        part = view[direction]
        if not part["counts"]:
            continue
        shown = len(part["edges"])
        total = sum(part["counts"].values())
        caption = None if shown == total else f"{shown} of {total} shown"
        table(f"{arrow} edges ({', '.join(f'{k} {v}' for k, v in part['counts'].items())})",
              ["edge", "neighbour"], [(e["rel"], e["key"]) for e in part["edges"]], caption)

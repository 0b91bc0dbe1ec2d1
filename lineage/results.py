"""Answers of :class:`lineage.Repository` as a list of rows that turn into tables.

A :class:`Result` is a list of rows, each a dict of column -> value, with the
values kept whole and typed: a data ID is a :class:`~lineage.core.dataid.DataId`
(a mapping of dimension to value), a time an astropy ``Time`` in its own scale
(UTC for flags and metric jobs, TAI for visits and lightcurve epochs), a UUID or
a run name the full text.  ``to_pandas()`` and ``to_table()`` give the same
columns as a pandas DataFrame and an astropy Table; a notebook shows the first
rows as a table (``_repr_html_``), a terminal as text.

pandas and astropy are imported by the methods that need them, so importing
this module stays cheap.
"""

from __future__ import annotations

import html

from lineage.core.dataid import DataId

#: Rows a notebook or a terminal shows of a long result.
SHOWN = 10

#: Widest cell of the text view (characters) but for data IDs, which are never cut; the
#: tables keep everything.
CELL = 80


class Result(list):
    """Rows (dicts) of one answer, in order, with the names of their columns.

    ``columns`` are the keys of the rows, in order (the first row's, then any
    others').  ``title`` says what was asked; ``truncated``, that a cap on the search
    (``max_nodes``) cut the answer short.
    """

    def __init__(self, rows=(), title: str = "", columns: list[str] | None = None,
                 truncated: bool = False) -> None:
        super().__init__(rows)
        self.title = title
        self.truncated = truncated
        if columns is None:
            columns = []
            for row in self:
                columns += [name for name in row if name not in columns]
        self.columns = list(columns)

    # --- tables -------------------------------------------------------------------------

    def to_pandas(self):
        """A pandas DataFrame, one row per row, with the data-ID columns (text) followed by
        one column per dimension (``band``, ``tract`` ...; a dimension named like another
        column is left out), and the time columns as datetime64 in their own scale:
        timezone-aware UTC for UTC times, naive for TAI; ``frame.attrs["time_scales"]``
        names the scale of each time column.  Other values keep their type."""
        import pandas as pd
        data, scales = {}, {}
        for name, kind, values in self._typed_columns():
            if kind == "data_id":
                data[name] = pd.Series([_text(v) for v in values], dtype=object)
                for dim, dim_values in self._dimensions(name, values):
                    data[dim] = pd.Series(dim_values, dtype=object)
            elif kind == "time":
                scale = _scale(values)
                stamps = pd.to_datetime([None if v is None else getattr(v, scale).datetime64
                                         for v in values])
                data[name] = stamps.tz_localize("UTC") if scale == "utc" else stamps
                scales[name] = scale
            else:
                data[name] = pd.Series(values, dtype=None if _plain(values) else object)
        frame = pd.DataFrame(data, index=pd.RangeIndex(len(self)))
        frame.attrs.update(title=self.title, time_scales=scales)
        return frame

    def to_table(self):
        """An astropy Table with the same columns as :meth:`to_pandas`: data IDs as text and
        one column per dimension, times as ``Time`` columns in their own scale; a missing
        value is masked; lists and dicts stay Python objects."""
        import numpy as np
        from astropy.table import MaskedColumn, Table
        from astropy.time import Time
        table = Table(meta={"title": self.title})
        for name, kind, values in self._typed_columns():
            if kind == "data_id":
                table[name] = _column([_text(v) for v in values])
                for dim, dim_values in self._dimensions(name, values):
                    table[dim] = _column(dim_values)
            elif kind == "time":
                scale = _scale(values)
                present = next(v for v in values if v is not None)
                times = Time([getattr(v if v is not None else present, scale) for v in values])
                if any(v is None for v in values):
                    times[[i for i, v in enumerate(values) if v is None]] = np.ma.masked
                table[name] = times
            elif _plain(values):
                table[name] = _column(values)
            else:
                table[name] = MaskedColumn(_objects(values), dtype=object)
        return table

    def _typed_columns(self):
        """(name, kind, values) per column; kind ``data_id``, ``time`` or ``value`` by the
        type of its first value that is not None."""
        from astropy.time import Time
        for name in self.columns:
            values = [row.get(name) for row in self]
            first = next((v for v in values if v is not None), None)
            kind = "data_id" if isinstance(first, DataId) else \
                "time" if isinstance(first, Time) else "value"
            yield name, kind, values

    def _dimensions(self, name: str, values):
        """(dimension, its value per row) of the data IDs of column ``name``, in the order
        they first appear, leaving out a dimension named like a column."""
        dims: list[str] = []
        for data_id in values:
            dims += [d for d in (data_id or ()) if d not in dims and d not in self.columns]
        for dim in dims:
            yield dim, [None if v is None else v.get(dim) for v in values]

    # --- views ----------------------------------------------------------------------------

    def _cells(self) -> list[list[str]]:
        return [[_cell(row.get(name)) for name in self.columns] for row in self[:SHOWN]]

    def _caption(self) -> str:
        more = f", first {SHOWN} shown" if len(self) > SHOWN else ""
        return f"{len(self)} rows{more}; .to_pandas() or .to_table() for every row and column"

    def __repr__(self) -> str:
        cells = self._cells()
        widths = [max([len(name)] + [len(row[i]) for row in cells])
                  for i, name in enumerate(self.columns)]
        lines = [self.title] if self.title else []
        lines.append("  ".join(n.ljust(w) for n, w in zip(self.columns, widths)).rstrip())
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
        lines.append(self._caption())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The first rows as an HTML table (Jupyter shows this)."""
        head = "".join(f"<th>{html.escape(n)}</th>" for n in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in self._cells())
        title = f"<b>{html.escape(self.title)}</b><br>" if self.title else ""
        return (f"{title}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"<small>{html.escape(self._caption())}</small>")


def _text(value) -> str | None:
    return None if value is None else str(value)


def _cell(value) -> str:
    """A value as the text views show it: a time as ISO text with its scale, a data ID
    whole, anything else cut at :data:`CELL` characters."""
    if value is None:
        return ""
    if isinstance(value, DataId):
        return str(value)
    if hasattr(value, "isot") and hasattr(value, "scale"):
        text = f"{value.isot} {value.scale.upper()}"
    else:
        text = str(value)
    return text if len(text) <= CELL else text[:CELL - 3] + "..."


def _scale(times) -> str:
    """The scale of a time column: that of its first time."""
    return next(t for t in times if t is not None).scale


def _plain(values) -> bool:
    """Whether a column holds only None, numbers, booleans and text (a typed column);
    otherwise it holds lists, dicts or other objects."""
    return all(v is None or isinstance(v, (str, int, float, bool)) for v in values)


def _objects(values):
    """A one-dimensional object array of ``values`` (lists stay elements, not rows)."""
    import numpy as np
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _column(values):
    """A typed column of numbers, booleans or text, masked where a value is None."""
    from astropy.table import Column, MaskedColumn
    missing = [v is None for v in values]
    if not any(missing):
        return Column(values)
    present = [v for v in values if v is not None]
    fill = type(present[0])() if present else ""
    return MaskedColumn([fill if m else v for v, m in zip(values, missing)], mask=missing)

"""``lineage.get``: a dataset as the Python object a user expects, reading no more than needed
(DRP8, DRP18, DRP2e).

* Parquet catalogs -> pandas DataFrame: only the ``columns`` asked for, only the row
  groups that can hold ``rows`` (a slice) or match ``where`` (pyarrow filters).
* FITS tables -> astropy Table: only the byte range of the ``rows`` asked for.
* FITS images -> the whole file as an HDUList, or a cutout as CCDData (with its WCS):
  ``box`` (numpy order: ``(slice(y0, y1), slice(x0, x1))``) or ``sky`` (a SkyCoord or
  ``(ra, dec)`` degrees) with ``size`` (pixels, ``(ny, nx)``, or an angle); read through
  ``.section``: only the image rows the box covers.
* JSON and YAML -> dict; CSV -> DataFrame; ECSV -> Table.

With a :class:`~lineage.fetch.cache.Cache`, a whole-file read goes through the
cache, and cutouts (and the headers that place sky cutouts) are cached, so a
repeated request reads nothing from the datastore.

A dataset named by UUID or key is read only from below its datastore's root
(:mod:`.confine`: a URI elsewhere, a ``..`` or a symbolic link out of the root
is a :class:`~lineage.fetch.datastore.RefusedPath`); a path or URL given
directly is the caller's own choice and is read as it is.  ``stats`` (a
:class:`ReadStats`) counts the bytes read from the datastore and from the cache.
"""

from __future__ import annotations

import io
import json

import numpy as np

from lineage.core.errors import UnknownName, UserError
from lineage.fetch.cache import Cache
from lineage.fetch.cutout import cutout
from lineage.fetch.open import ReadStats, _artifact, _named, _opener
from lineage.fetch.datastore import DatastoreError


# --- what to read -------------------------------------------------------------------------


def get(dataset, *, columns=None, rows=None, where=None, box=None, sky=None, size=None,
        hdu=None, cache: Cache | None = None, store=None, repo=None, datastore=None,
        stats: ReadStats | None = None):
    """A dataset (UUID, key, lineage row, :class:`Artifact`, or a file path / URL) as a
    Python object; see the module docstring for what each format gives and what the
    keyword arguments select.  ``store``/``repo``/``datastore`` say where a dataset named
    by UUID or key is (default: the repository ``LINEAGE_REPO`` or ``lineage-repo``)."""
    stats = stats if stats is not None else ReadStats()
    artifact = _artifact(dataset, store, repo, datastore)
    fmt = artifact.format
    subset = any(x is not None for x in (columns, rows, where, box, sky))
    if fmt == "fits" and (box is not None or sky is not None):
        return _named(artifact, cutout, artifact, box, sky, size, hdu, cache, stats)
    opener = _named(artifact, _opener, artifact, cache, stats, not subset)
    if fmt == "parquet":
        return _named(artifact, read_parquet, opener, columns, rows, where)
    if fmt == "fits":
        return _named(artifact, read_fits, opener, hdu, columns, rows)
    if subset:
        raise DatastoreError(f"{artifact.name()}: columns/rows/box select parts of FITS and "
                             f"Parquet files, not of {fmt or 'this'} file {artifact.uri}")
    return _named(artifact, _read_whole, opener, fmt)


def _read_whole(opener, fmt: str):
    with opener() as f:
        data = f.read()
    if fmt == "json":
        return json.loads(data)
    if fmt == "yaml":
        import yaml
        return yaml.safe_load(data)
    if fmt == "csv":
        import pandas as pd
        return pd.read_csv(io.BytesIO(data))
    if fmt == "ecsv":
        from astropy.table import Table
        return Table.read(data.decode(), format="ascii.ecsv")
    return data


# --- catalogs -------------------------------------------------------------------------

def read_parquet(opener, columns=None, rows=None, where=None):
    """Columns, a row slice and/or pyarrow filters of a Parquet file, as a DataFrame;
    row groups that cannot hold the rows asked for are never read."""
    import pyarrow.parquet as pq
    with opener() as f:
        if where is not None:
            table = pq.read_table(f, columns=columns, filters=where)
            if rows is not None:
                table = table.slice(*_slice_bounds(rows, table.num_rows))
            return table.to_pandas()
        pf = pq.ParquetFile(f)
        if rows is None:
            return pf.read(columns=columns).to_pandas()
        start, length = _slice_bounds(rows, pf.metadata.num_rows)
        groups, first, offset = [], None, 0
        for i in range(pf.num_row_groups):
            n = pf.metadata.row_group(i).num_rows
            if offset < start + length and offset + n > start:
                groups.append(i)
                first = offset if first is None else first
            offset += n
        if not groups:
            return pf.schema_arrow.empty_table().select(columns or pf.schema_arrow.names) \
                .to_pandas()
        table = pf.read_row_groups(groups, columns=columns)
        return table.slice(start - first, length).to_pandas()


def _slice_bounds(rows, total: int) -> tuple[int, int]:
    """(start, length) of a row slice (or ``(start, stop)``) within ``total`` rows."""
    if isinstance(rows, tuple):
        rows = slice(*rows)
    if not isinstance(rows, slice) or rows.step not in (None, 1):
        raise UserError("rows: give a slice (or (start, stop)) with step 1")
    start, stop, _ = rows.indices(total)
    return start, max(0, stop - start)


def _data_hdu(hdul, hdu):
    """The HDU asked for, else the first one holding data."""
    if hdu is not None:
        return hdul[hdu]
    for h in hdul:
        if h.header.get("NAXIS", 0) > 0 and h.header.get("NAXIS1", 0) > 0:
            return h
    return hdul[0]


def read_fits(opener, hdu=None, columns=None, rows=None):
    """A FITS file as an HDUList in memory, or columns/rows of a table HDU as a Table."""
    from astropy.io import fits
    with opener() as f:
        with fits.open(f, lazy_load_hdus=True, memmap=False) as hdul:
            if columns is None and rows is None:
                hdul.readall()
                return fits.HDUList([h.copy() for h in hdul])
            return _fits_table(f, _data_hdu(hdul, hdu), columns, rows)


def _fits_table(f, h, columns, rows):
    """Rows (a byte range of the table) and columns of a binary table HDU."""
    from astropy.io import fits
    from astropy.table import Table
    if not isinstance(h, fits.BinTableHDU):
        raise UserError(f"HDU {h.name!r} is not a binary table: columns/rows select table parts")
    nrows, width = h.header["NAXIS2"], h.header["NAXIS1"]
    start, length = _slice_bounds(rows if rows is not None else slice(None), nrows)
    plain = h.header.get("PCOUNT", 0) == 0 and not any(
        h.header.get(f"TSCAL{i}") or h.header.get(f"TZERO{i}")
        for i in range(1, h.header["TFIELDS"] + 1))
    if plain:
        f.seek(h._data_offset + start * width)
        raw = f.read(length * width)
        data = np.frombuffer(raw, dtype=h.columns.dtype.newbyteorder(">"), count=length)
        table = Table(data)
    else:  # scaled columns or a heap: let astropy read the table
        table = Table(h.data[start:start + length])
    names = list(columns) if columns is not None else table.colnames
    missing = [c for c in names if c not in table.colnames]
    if missing:
        raise UnknownName(f"no column {missing[0]!r} (columns: {', '.join(table.colnames)})")
    return table[names]

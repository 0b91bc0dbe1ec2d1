"""``lineage ingest efd``: Engineering and Facility Database telemetry.

Inputs:

* InfluxDB 1.x query answers (JSON: ``results[].series[].{name, columns,
  values}``), ``time`` in integer nanoseconds since the Unix epoch or RFC 3339
  text, UTC.  A ``SHOW MEASUREMENTS`` answer (series ``measurements``, one
  column ``name``) is the topic list: each topic becomes an ``efd_topic`` data
  unit ``PART_OF`` its CSC's ``csc`` data unit.  An index of answers (a JSON
  list of ``{file, influxql, ...}``) holds no telemetry and is skipped with that
  reason.
* CSV and Parquet exports of one topic: a ``time`` column (ISO 8601 UTC
  text or integer nanoseconds; in Parquet a timestamp column, or the index
  as written by ``DataFrame.to_parquet`` of an EFD client answer) and one
  column per field.  The topic is the ``topic`` column when there is one,
  else the file name before ``__`` (``lsst.sal.`` is prefixed to a bare
  ``CSC.topic``).

One ``EfdRecord`` per topic and file (per series of a JSON answer): key
``efd:<topic>/<first sample ns>/<last sample ns>`` (UTC), so the same window
exported as JSON, CSV or Parquet is the same record.  It keeps every sample
(``t_utc_ns``, ``sample_mjd_tai``, ``v_<field>`` lists) so summaries over
any exposure can be computed later, and the summary over its whole window
(``mean_/min_/max_<field>`` of the numeric telemetry fields).  It is
``IDENTIFIED_BY`` its topic's data unit (``unit:efd_topic:<topic>``), which is
``PART_OF`` its CSC's (``unit:csc:<CSC>``): topics and CSCs are data units, as
instruments and bands are, so no new node kind is needed.

Times: the ``time`` index is UTC; ``begin_utc``/``end_utc`` keep it,
``begin_tai``/``end_tai`` and ``mjd_begin``/``mjd_end`` (TAI) are the same
instants converted by astropy (``Time(..., format="unix", scale="utc").tai``).
SAL stamps (``private_sndStamp``, ``private_rcvStamp``,
``private_kafkaStamp``, ``timestamp``) are TAI seconds since 1970-01-01
(astropy's ``unix_tai``); ``private_efdStamp`` is UTC unix seconds.  They stay
as sample lists, named by ``tai_stamp_fields`` and ``utc_stamp_fields``;
``snd_begin_tai``/``snd_end_tai`` are the first and last ``private_sndStamp``
as ISO TAI.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from lineage.core.model import GraphBatch, Kind, Rel, unit_key
from lineage.core.time import tai_stamp_to_time, utc_ns_to_time
from lineage.ingest.efd_link import csc_of, link_record_to_stored_exposures
from lineage.ingest import loading
from lineage.ingest.driver import IngestContext, IngestError, Parsed

SUFFIXES = (".json", ".csv", ".parquet")

UTC_STAMP_FIELDS = frozenset({"private_efdStamp"})
_TAI_STAMP_RE = re.compile(r"^(private_\w*Stamp|timestamp)$")
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def is_tai_stamp(field: str) -> bool:
    return field not in UTC_STAMP_FIELDS and bool(_TAI_STAMP_RE.match(field))


# --- reading the formats into (topic, frame) pairs -----------------------------------------

class EfdFile(NamedTuple):
    """What one file holds: telemetry frames by topic, listed topic names (a ``SHOW
    MEASUREMENTS`` answer), and the parts skipped with their reasons."""

    frames: list[tuple[str, pd.DataFrame]]
    topics: list[str]
    skipped: list[str]


def _is_topic_list(series: dict) -> bool:
    """A ``SHOW MEASUREMENTS`` answer: series ``measurements`` with the one column ``name``."""
    return series["name"] == "measurements" and series["columns"] == ["name"]


def _topic_names(path: Path, where: str, rows: list) -> list[str]:
    """The topic names of a ``SHOW MEASUREMENTS`` answer's rows (one name each; the
    model's checks refuse a name that is not a topic's)."""
    names = []
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == 1 and isinstance(row[0], str)):
            raise IngestError(path, f"{where}.values[{i}]",
                              f"{str(row)[:80]} is not one topic name")
        names.append(row[0])
    return names


def _influx_series(path: Path, data) -> EfdFile:
    if isinstance(data, list) and data and all(isinstance(d, dict) and "influxql" in d
                                                 for d in data):
        return EfdFile([], [], [f"an index of {len(data)} query answers (file, influxql ...), "
                                "not telemetry"])
    if not isinstance(data, dict) or "results" not in data:
        raise IngestError(path, "top level", "not an InfluxDB query answer (no 'results')")
    if not isinstance(data["results"], list):
        raise IngestError(path, "results", "must be a list")
    out, topics, skipped = [], [], []
    for r, result in enumerate(data["results"]):
        if not isinstance(result, dict):
            raise IngestError(path, f"results[{r}]", "must be an object")
        if "error" in result:
            raise IngestError(path, f"results[{r}]", f"the query failed: {result['error']}")
        series_list = result.get("series", [])
        if not isinstance(series_list, list):
            raise IngestError(path, f"results[{r}].series", "must be a list")
        for s, series in enumerate(series_list):
            where = f"results[{r}].series[{s}]"
            if not isinstance(series, dict):
                raise IngestError(path, where, "must be an object")
            for name in ("name", "columns", "values"):
                if name not in series:
                    raise IngestError(path, where, f"no '{name}'")
            columns = series["columns"]
            if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
                raise IngestError(path, f"{where}.columns", "must be a list of column names")
            _unique_columns(path, f"{where}.columns", columns)
            if not isinstance(series["values"], list):
                raise IngestError(path, f"{where}.values", "must be a list of rows")
            if _is_topic_list(series):
                topics.extend(_topic_names(path, where, series["values"]))
                continue
            if "time" not in columns:
                skipped.append(f"{where} ({series['name']}): {len(series['values'])} rows "
                               f"without a time column ({', '.join(columns)}), not telemetry")
                continue
            for i, row in enumerate(series["values"]):
                if not isinstance(row, list) or len(row) != len(columns):
                    raise IngestError(path, f"{where}.values[{i}]",
                                      f"a row has {len(columns)} values ({', '.join(columns)})")
            out.append((series["name"], pd.DataFrame(series["values"], columns=columns)))
    return EfdFile(out, topics, skipped)


def _unique_columns(path: Path, where: str, columns) -> None:
    """Refuse a column named twice: pandas would keep both under one name (or rename
    one), and a field's samples would be mixed up or lost."""
    first: dict = {}
    for i, c in enumerate(columns):
        if c in first:
            raise IngestError(path, where, f"column {c!r} appears twice (columns {first[c] + 1} "
                                           f"and {i + 1}); each field must be one column")
        first[c] = i


def _long_strings(path: Path, frame: pd.DataFrame) -> None:
    """Refuse a text cell over the string limit of :mod:`.loading`."""
    cap = loading.limits().string_chars
    for column in frame.columns:
        if frame[column].dtype == object:
            lengths = frame[column].map(lambda v: len(v) if isinstance(v, str) else 0)
            if len(lengths) and lengths.max() > cap:
                row = int(lengths.to_numpy().argmax())
                raise IngestError(path, f"row {row} column {column}",
                                  f"a string of {int(lengths.max()):,} characters, more than "
                                  f"the {cap:,} a value may have")


def _topic_from_name(path: Path, frame: pd.DataFrame) -> str:
    if "topic" in frame.columns:
        topics = frame["topic"].dropna().unique()
        if len(topics) != 1:
            raise IngestError(path, "column topic", f"one topic per file, found {len(topics)}")
        return str(topics[0])
    name = path.name.split("__")[0]
    for suffix in SUFFIXES:
        name = name.removesuffix(suffix)
    return name if name.startswith("lsst.") else f"lsst.sal.{name}"


def read_frames(path: Path) -> EfdFile:
    """The file's ``[(topic, frame with a 'time' column), ...]``, listed topics and the
    parts skipped with reasons."""
    name = path.name.lower()
    if name.endswith(".json"):
        text = loading.read_text(path)
        try:
            data = loading.parse_json(text, path)
        except json.JSONDecodeError as exc:
            raise IngestError(path, f"line {exc.lineno} column {exc.colno}", f"not JSON: {exc.msg}")
        return _influx_series(path, data)
    loading.check_size(path)
    try:
        if name.endswith(".csv"):
            _unique_columns(path, "header", _csv_header(path))
            frame = pd.read_csv(path)
        else:
            frame = pd.read_parquet(path)
    except IngestError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many kinds for a bad file
        raise IngestError(path, "file", f"cannot read as {path.suffix[1:]}: {exc}") from None
    _unique_columns(path, "columns", [str(c) for c in frame.columns])
    _long_strings(path, frame)
    if "time" not in frame.columns:
        if frame.index.name == "time" or isinstance(frame.index, pd.DatetimeIndex):
            frame = frame.reset_index(names="time")
        else:
            raise IngestError(path, "column time", f"missing (columns: {', '.join(frame.columns)})")
    topic = _topic_from_name(path, frame)
    return EfdFile([(topic, frame.drop(columns=[c for c in ("topic",) if c in frame.columns]))],
                   [], [])


def _csv_header(path: Path) -> list[str]:
    """The column names of a CSV file as written (pandas renames a repeated one)."""
    import csv
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        return next(csv.reader(f), [])


def _utc_ns(path: Path, where: str, times: pd.Series) -> np.ndarray:
    """The ``time`` column as integer UTC nanoseconds."""
    if pd.api.types.is_integer_dtype(times):
        return times.to_numpy(dtype=np.int64)
    try:
        parsed = pd.to_datetime(times, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        bad = next((i for i, t in enumerate(times) if _bad_time(t)), 0)
        raise IngestError(path, f"{where} row {bad} column time",
                          f"{times.iloc[bad]!r} is not a UTC time (ISO 8601 text or integer "
                          "nanoseconds since 1970-01-01)") from None
    if parsed.isna().any():
        bad = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise IngestError(path, f"{where} row {bad} column time", "missing time")
    return parsed.astype("datetime64[ns, UTC]").astype("int64").to_numpy()


def _bad_time(value) -> bool:
    try:
        return pd.isna(pd.to_datetime(value, utc=True, format="ISO8601"))
    except (ValueError, TypeError):
        return True


# --- one record ---------------------------------------------------------------------------

def _prop_name(field: str) -> str:
    return field if _NAME_RE.match(field) else re.sub(r"\W", "_", f"f_{field}")


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def efd_record(path: Path, topic: str, frame: pd.DataFrame, where: str) -> tuple[str, dict, list]:
    """The key and properties of one topic's samples, and fields left out (with reasons)."""
    frame = frame.reset_index(drop=True)
    ns = _utc_ns(path, where, frame["time"])
    order = np.argsort(ns, kind="stable")
    ns = ns[order]
    frame = frame.iloc[order].reset_index(drop=True)
    times = utc_ns_to_time(ns)
    tai = times.tai
    ends = times[[0, -1]]
    ends.precision = 6
    props = dict(
        topic=topic, csc=csc_of(topic), source=path.name, samples=len(ns),
        begin_utc=ends[0].isot, end_utc=ends[1].isot, time_scale="utc",
        begin_tai=ends.tai[0].isot, end_tai=ends.tai[1].isot,
        mjd_begin=float(tai[0].mjd), mjd_end=float(tai[-1].mjd),
        t_utc_ns=[int(t) for t in ns], sample_mjd_tai=[float(m) for m in tai.mjd],
    )
    fields, summary, skipped = [], [], []
    for column in frame.columns:
        if column == "time":
            continue
        values = frame[column]
        if values.isna().any():
            skipped.append(f"{topic} field {column}: {int(values.isna().sum())} of {len(values)} "
                           "values missing; its samples are not stored")
            continue
        name = _prop_name(str(column))
        fields.append(name)
        if _numeric(values):
            numbers = [v.item() if hasattr(v, "item") else v for v in values]
            if not all(math.isfinite(float(v)) for v in numbers):
                skipped.append(f"{topic} field {column}: values are not finite; "
                               "its samples are not stored")
                fields.pop()
                continue
            props[f"v_{name}"] = numbers
            if not (name.startswith("private_") or is_tai_stamp(name)):
                summary.append(name)
                props[f"mean_{name}"] = float(np.mean(numbers))
                props[f"min_{name}"] = float(np.min(numbers))
                props[f"max_{name}"] = float(np.max(numbers))
        else:
            props[f"v_{name}"] = [v if isinstance(v, (str, bool)) else str(v) for v in values]
    props["fields"] = fields
    props["summary_fields"] = summary
    props["tai_stamp_fields"] = [f for f in fields if is_tai_stamp(f)]
    props["utc_stamp_fields"] = [f for f in fields if f in UTC_STAMP_FIELDS]
    if "v_private_sndStamp" in props:
        snd = tai_stamp_to_time([props["v_private_sndStamp"][0], props["v_private_sndStamp"][-1]])
        snd.precision = 6
        props["snd_begin_tai"], props["snd_end_tai"] = snd.isot
    key = f"efd:{topic}/{int(ns[0])}/{int(ns[-1])}"
    return key, props, skipped


def add_topic(batch: GraphBatch, topic: str) -> str:
    """The ``efd_topic`` data unit of ``topic``, ``PART_OF`` its CSC's ``csc`` unit; its key."""
    csc = csc_of(topic)
    csc_key = batch.add_node(unit_key("csc", csc), dimension="csc", value=csc)
    topic_key = batch.add_node(unit_key("efd_topic", topic), dimension="efd_topic",
                               value=topic, csc=csc)
    batch.add_edge(Rel.PART_OF, topic_key, csc_key)
    return topic_key


def read(path: Path, context: IngestContext) -> Parsed:
    batch = GraphBatch(str(path))
    parsed = Parsed(path, batch)
    frames, topics, parsed.skipped = read_frames(path)
    for topic in topics:
        add_topic(batch, topic)
    linked = 0
    for i, (topic, frame) in enumerate(frames):
        if frame.empty:
            parsed.skipped.append(f"{topic}: no rows")
            continue
        key, props, skipped = efd_record(path, topic, frame, f"series {i} ({topic})")
        parsed.skipped.extend(skipped)
        batch.add_node(key, **props)
        batch.add_edge(Rel.IDENTIFIED_BY, key, add_topic(batch, topic))
        linked += link_record_to_stored_exposures(batch, context.store, key, batch.nodes[key])
    records = [p for k, p in batch.nodes.items() if batch.kind(k) == Kind.EFD_RECORD]
    if records or not topics:
        parsed.counts = {"records": len(records),
                         "samples": sum(p["samples"] for p in records)}
    if topics:
        parsed.counts["topics"] = len(topics)
        parsed.counts["CSCs"] = len({csc_of(t) for t in topics})
    if linked:
        parsed.counts["exposures linked"] = linked
    return parsed

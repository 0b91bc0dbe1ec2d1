"""What each property of the graph means: its type, unit, range and form.

:mod:`lineage.core.model` says which node kinds exist and how they join; this
module says what their properties may hold, so that a value that cannot be
true (an exposure time of -30 s, a Dec of 100 deg, a day_obs of 20231345,
an end before its begin, a run name with ``..`` in it, a 20 MB string) is
refused before anything is written, whatever format it came from.

* :data:`NODE_SPECS` holds the properties of each node kind,
  :data:`UNIT_SPECS` those of each data-unit dimension, :data:`SHARED`
  those whose meaning is the same on every kind (times, MJDs, ``day_obs``).
  A property no table names still obeys :data:`GENERIC` (bounded text and
  lists, finite numbers).
* :func:`check_batch` checks every node of an ingest unit against them and
  the cross-field rules (end not before begin, day_obs within a day of the
  begin); it returns one :class:`Problem` per bad value, naming the node,
  the property, the value (shortened) and the rule.
* ``identity`` properties say what a node *is* (a dataset's type, run and
  data ID; a unit's dimension and value): a later ingest that brings another
  value for one of them is refused (:func:`identity_conflicts`); any other
  property a later ingest changes is overwritten and reported as
  ``updated`` with old -> new (:func:`changed_properties`).

``docs/model.md`` shows these tables (:func:`markdown_table` writes them).
"""

from __future__ import annotations

import datetime
import functools
import math
import re
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from lineage.core.model import GraphBatch, Kind, kind_of_key
from lineage.core.time import day_obs_date, iso_date

__all__ = ["Prop", "Problem", "NODE_SPECS", "UNIT_SPECS", "SHARED", "GENERIC", "ERA",
           "check_batch", "check_value", "changed_properties", "identity_conflicts",
           "markdown_table", "name_problem", "uri_problem", "relative_path_problem"]

# --- limits ------------------------------------------------------------------------------

#: Observations, telemetry and processing happen inside this era (UTC/TAI dates).
ERA = (datetime.date(1990, 1, 1), datetime.date(2100, 1, 1))
#: The same era as modified Julian dates.
MJD_ERA = (47892.0, 88069.0)
#: Longest text any property may hold (a pipeline's config as JSON is the longest real one).
MAX_TEXT = 1 << 20
#: Longest name (collection, run, dataset type, topic, task label ...).
MAX_NAME = 1024
#: Longest data-unit value (``visit`` 2023070500379, ``physical_filter`` ``empty_1~holo4_003``).
MAX_VALUE = 256
#: Most items a list property may hold (an EFD record's samples are the longest).
MAX_LIST = 1_000_000
#: How much of a bad value a message shows.
SHOW = 80

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_INTEGER_TEXT = re.compile(r"^[0-9]{1,19}$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOPIC = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")
_CHECKSUM = re.compile(r"^([A-Za-z0-9_-]{1,32}:)?[0-9a-fA-F]{8,128}$")
#: URI schemes a dataset's ``uri`` may use besides a path inside the datastore.
REMOTE_SCHEMES = frozenset({"s3", "gs", "https", "http"})
#: The demo's way of naming a file below the repository's datastore.
DATASTORE_PREFIX = "file://datastore/"


# --- rules that are more than a range --------------------------------------------------------

def name_problem(text: str, max_len: int = MAX_NAME) -> str | None:
    """Why ``text`` cannot be a name that may become part of a path (None when it can):
    a collection, run, dataset type, topic, pipeline or task name."""
    if not text:
        return "a name cannot be empty"
    if len(text) > max_len:
        return f"a name has at most {max_len} characters, this one {len(text)}"
    if _CONTROL.search(text):
        return "a name cannot hold control characters (NUL, newline, tab ...)"
    if text.startswith(("/", "\\", "~")):
        return "a name cannot start with '/', '\\' or '~' (it would be an absolute path)"
    if ".." in re.split(r"[/\\]", text):
        return "a name cannot have a '..' segment (it would climb out of its folder)"
    return None


def relative_path_problem(text: str) -> str | None:
    """Why ``text`` cannot be a path below the datastore (None when it can)."""
    if not text:
        return "a path cannot be empty"
    if len(text) > 4096:
        return f"a path has at most 4096 characters, this one {len(text)}"
    if _CONTROL.search(text):
        return "a path cannot hold control characters"
    if text.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:[\\/]", text):
        return "a path must be relative to the datastore, not absolute"
    if "://" in text:
        return "a path cannot be a URI"
    if ".." in re.split(r"[/\\]", text):
        return "a path cannot have a '..' segment (it would leave the datastore)"
    return None


def uri_problem(text: str) -> str | None:
    """Why ``text`` cannot be a dataset's ``uri`` (None when it can): a path below the
    datastore (relative, or the demo's ``file://datastore/<path>``) or a remote object
    (``s3://``, ``gs://``, ``https://``, ``http://``), never ``..``, never a local absolute
    file (``file:///etc/passwd``) nor another scheme."""
    if text.startswith(DATASTORE_PREFIX):
        return relative_path_problem(text[len(DATASTORE_PREFIX):])
    if "://" not in text and ":" not in text.split("/", 1)[0]:
        return relative_path_problem(text)
    if _CONTROL.search(text):
        return "a URI cannot hold control characters"
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        return f"not a URI: {exc}"
    scheme = parts.scheme.lower()
    if scheme == "file":
        return ("a local absolute file URI is refused: a dataset's file is named below the "
                "datastore (a relative path or file://datastore/<path>)")
    if scheme not in REMOTE_SCHEMES:
        return (f"URI scheme {scheme!r} is not allowed (a relative path, file://datastore/, "
                f"{', '.join(sorted(REMOTE_SCHEMES))})")
    if not parts.netloc:
        return "a remote URI names its host or bucket"
    if ".." in parts.path.split("/"):
        return "a URI cannot have a '..' segment"
    return None


def _topic_problem(text: str) -> str | None:
    problem = name_problem(text, 256)
    if problem:
        return problem
    if not _TOPIC.match(text):
        return ("an EFD topic is dot-separated words of letters, digits, '_' and '-' "
                "(lsst.sal.MTMount.azimuth)")
    return None


def _integer_text(text: str) -> str | None:
    return None if _INTEGER_TEXT.match(text) else "this dimension's value is a non-negative integer"


def _day_obs(value) -> str | None:
    date = day_obs_date(value)
    if date is None:
        return "day_obs is a real date written YYYYMMDD"
    if not ERA[0] <= date < ERA[1]:
        return f"day_obs must lie between {ERA[0]:%Y%m%d} and {ERA[1]:%Y%m%d}"
    return None


def _time(text: str) -> str | None:
    date = iso_date(text)
    if date is None:
        return "a time is ISO 8601 text (2023-07-06T04:56:01.913)"
    if not ERA[0] <= date < ERA[1]:
        return f"a time must lie between {ERA[0].isoformat()} and {ERA[1].isoformat()}"
    return None


# --- the property table ----------------------------------------------------------------------

@dataclass(frozen=True)
class Prop:
    """What one property holds."""

    type: str                 #: int, number, text, bool, time, list, name, ...
    meaning: str = ""
    unit: str = ""
    lo: float | None = None   #: smallest value (numbers) or item value (lists of numbers)
    hi: float | None = None
    max_len: int = MAX_TEXT
    check: Callable[[str], str | None] | None = None
    identity: bool = False    #: a later ingest may not change it
    rule: str = ""            #: the rule in words, for the docs table

    def describe(self) -> str:
        if self.rule:
            return self.rule
        if self.lo is not None and self.hi is not None:
            return f"{self.lo:g} .. {self.hi:g}"
        if self.lo is not None:
            return f">= {self.lo:g}"
        if self.hi is not None:
            return f"<= {self.hi:g}"
        if self.type in ("text", "json") and self.max_len != MAX_TEXT:
            return f"at most {self.max_len} characters"
        return ""


def _name(meaning: str, identity: bool = False, max_len: int = MAX_NAME) -> Prop:
    return Prop("text", meaning, max_len=max_len, check=lambda t: name_problem(t, max_len),
                identity=identity, rule="path-safe name: no '..' segment, no leading '/', "
                                        f"no control characters, at most {max_len} characters")


def _num(meaning: str, unit: str = "", lo=None, hi=None, integer: bool = False) -> Prop:
    return Prop("int" if integer else "number", meaning, unit, lo, hi)


_TIME = Prop("time", "an instant, ISO 8601", check=_time,
             rule=f"ISO 8601, {ERA[0].year} .. {ERA[1].year}")
_MJD = Prop("number", "modified Julian date (TAI)", "d", *MJD_ERA,
            rule=f"{MJD_ERA[0]:g} .. {MJD_ERA[1]:g} ({ERA[0].year} .. {ERA[1].year})")

#: Properties that mean the same on every node kind.
SHARED: dict[str, Prop] = {
    **{n: _TIME for n in ("begin", "end", "begin_utc", "end_utc", "begin_tai", "end_tai",
                          "snd_begin_tai", "snd_end_tai", "date", "date_tai", "start",
                          "start_utc", "end_utc",
                          "created_at", "retracted_at", "deleted_at")},
    **{n: _MJD for n in ("mjd_begin", "mjd_end", "mjd_tai")},
    "time_scale": Prop("text", "time scale of the ISO times", rule="tai, utc or tt",
                       check=lambda t: None if t in ("tai", "utc", "tt")
                       else "time_scale is tai, utc or tt"),
    "day_obs": Prop("int", "observing day", rule="a real date YYYYMMDD, within a day of begin",
                    check=_day_obs),
    "instrument": _name("instrument name", max_len=64),
}

#: Properties of data units, whatever their dimension.
UNIT_COMMON: dict[str, Prop] = {
    "dimension": Prop("text", "the dimension", max_len=64, identity=True,
                      check=lambda t: None if _IDENT.match(t) else "a dimension is an identifier",
                      rule="identifier"),
    "value": Prop("text", "the value in its dimension (a data ID's value)", identity=True,
                  max_len=MAX_VALUE, check=lambda t: name_problem(t, MAX_VALUE),
                  rule=f"path-safe, at most {MAX_VALUE} characters"),
    "id": _num("the Butler record's integer ID", lo=0, integer=True),
}

_RADEC = {"ra": _num("tracking RA (ICRS)", "deg", 0, 360),
          "dec": _num("tracking Dec (ICRS)", "deg", -90, 90),
          "tracking_ra": _num("tracking RA (ICRS)", "deg", 0, 360),
          "tracking_dec": _num("tracking Dec (ICRS)", "deg", -90, 90)}
_BOX = {"ra_min": _num("bounding box", "deg", 0, 360),
        "ra_max": _num("bounding box", "deg", 0, 360),
        "dec_min": _num("bounding box", "deg", -90, 90),
        "dec_max": _num("bounding box", "deg", -90, 90),
        "region_ra": Prop("list", "region vertices RA", "deg", 0, 360),
        "region_dec": Prop("list", "region vertices Dec", "deg", -90, 90)}
_OBSERVATION = {
    **_RADEC, **_BOX,
    "exposure_time": _num("exposure time", "s", 0, 86400),
    "dark_time": _num("dark time", "s", 0, 86400),
    "airmass": _num("boresight airmass (0: unknown)", "", 0, 100),
    "azimuth": _num("azimuth at the start", "deg", -360, 360),
    "altitude": _num("altitude at the start", "deg", -90, 90),
    "zenith_angle": _num("zenith angle", "deg", 0, 180),
    "rotation": _num("boresight rotation", "deg", -360, 360),
    "sky_angle": _num("sky angle", "deg", -360, 360),
    "seq_num": _num("sequence number", "", 0, None, integer=True),
    "seq_start": _num("first sequence number", "", 0, None, integer=True),
    "seq_end": _num("last sequence number", "", 0, None, integer=True),
    "temperature_c": _num("air temperature", "degC", -100, 100),
    "pressure_hpa": _num("air pressure", "hPa", 0, 1200),
    "relative_humidity": _num("relative humidity", "%", 0, 100),
    "seeing": _num("seeing", "arcsec", 0, 100),
    "visit_system": _num("visit system", "", 0, None, integer=True),
    "physical_filter": _name("physical filter", max_len=MAX_VALUE),
    "band": _name("band", max_len=64),
}
_INTEGER_ID = Prop("text", "integer ID", identity=True, max_len=20, check=_integer_text,
                   rule="non-negative integer")

_TOPIC_NAME = Prop("text", "EFD topic", identity=True, max_len=256, check=_topic_problem,
                   rule="dot-separated words (lsst.sal.MTMount.azimuth), path-safe")

#: Properties of each data-unit dimension (besides :data:`UNIT_COMMON` and :data:`SHARED`).
UNIT_SPECS: dict[str, dict[str, Prop]] = {
    "exposure": {**_OBSERVATION, "value": _INTEGER_ID},
    "visit": {**_OBSERVATION, "value": _INTEGER_ID},
    "detector": {"value": _INTEGER_ID,
                 "purpose": Prop("text", "SCIENCE, FOCUS, WAVEFRONT ...", max_len=64)},
    "visit_detector_region": {**_BOX, "value": _INTEGER_ID,
                              "detector": _num("detector", "", 0, None, integer=True),
                              "visit": _num("visit", "", 0, None, integer=True)},
    "tract": {**_BOX, "value": _INTEGER_ID, "skymap": _name("sky map")},
    "patch": {**_BOX, "value": _INTEGER_ID, "skymap": _name("sky map"),
              "tract": _num("tract", "", 0, None, integer=True),
              "cell_x": _num("patch column", "", 0, None, integer=True),
              "cell_y": _num("patch row", "", 0, None, integer=True)},
    "day_obs": {"value": Prop("text", "observing day", identity=True, max_len=8, check=_day_obs,
                              rule="a real date YYYYMMDD")},
    "visit_system": {"value": _INTEGER_ID},
    "skymap": {"tract_max": _num("number of tracts", "", 0, None, integer=True),
               "patch_nx_max": _num("patches across a tract", "", 0, None, integer=True),
               "patch_ny_max": _num("patches up a tract", "", 0, None, integer=True)},
    "instrument": {"detector_max": _num("detector IDs are below it", "", 0, None, integer=True),
                   "visit_max": _num("visit IDs are below it", "", 0, None, integer=True),
                   "exposure_max": _num("exposure IDs are below it", "", 0, None,
                                        integer=True)},
    "efd_topic": {"value": _TOPIC_NAME, "csc": _name("the CSC that publishes it")},
}

#: Properties of each node kind (data units: :data:`UNIT_COMMON` and :data:`UNIT_SPECS`).
NODE_SPECS: dict[Kind, dict[str, Prop]] = {
    Kind.DATA_UNIT: UNIT_COMMON,
    Kind.DATASET: {
        "dataset_type": _name("its dataset type", identity=True),
        "run": _name("its RUN collection", identity=True),
        "data_id": Prop("text", "canonical data ID", identity=True, max_len=4096),
        "uri": Prop("text", "where its file is", max_len=4096, check=uri_problem,
                    rule="a path below the datastore (relative or file://datastore/...) or "
                         "s3://, gs://, https://, http://; no '..', no local absolute file"),
        "path": Prop("text", "its file below the datastore (Butler export)", max_len=4096,
                     check=relative_path_problem, rule="relative, no '..'"),
        "size": _num("file size", "bytes", 0, None, integer=True),
        "checksum": Prop("text", "sha256 (hex, or algorithm:hex)", max_len=200,
                         check=lambda t: None if _CHECKSUM.match(t) else
                         "a checksum is hex, or algorithm:hex", rule="hex or algorithm:hex"),
        "butler_id": _num("an old export's integer ID", "", 0, None, integer=True),
        # a tombstone (docs/retention.md): deleted, its node and lineage kept
        "deleted_by": Prop("text", "who deleted it", max_len=MAX_VALUE),
        "deleted_reason": Prop("text", "why it was deleted"),
        "deleted_forced": Prop("bool", "deleted although live datasets depended on it"),
        "files_removed": Prop("bool", "its files are gone from every datastore (false: a "
                                      "removal is owed)"),
        "deletion_history": Prop("list", "one line per deletion and restoration"),
    },
    Kind.DATASET_TYPE: {"name": _name("dataset type name", identity=True)},
    Kind.COLLECTION: {
        "name": _name("collection name", identity=True),
        "collection_type": Prop("text", "RUN, TAGGED, CHAINED or CALIBRATION", identity=True,
                                check=lambda t: None if t in ("RUN", "TAGGED", "CHAINED",
                                                              "CALIBRATION")
                                else "collection_type is RUN, TAGGED, CHAINED or CALIBRATION",
                                rule="RUN, TAGGED, CHAINED, CALIBRATION"),
        "output_chain": _name("the chain the run was made for"),
    },
    Kind.QUANTUM: {
        "task": _name("task label", identity=True),
        "data_id": Prop("text", "canonical data ID", identity=True, max_len=4096),
        "peak_memory_mb": _num("peak memory", "MB", 0, 1e9),
        "host": Prop("text", "host it ran on", max_len=MAX_VALUE),
        "superseded_by": _name("the RUN of a rerun that rebuilt its outputs without "
                               "flagged inputs (lineage flags plan --done)"),
    },
    Kind.EFD_RECORD: {
        "topic": _TOPIC_NAME,
        "samples": _num("samples in the record", "", 0, None, integer=True),
    },
    Kind.JOB: {},
    Kind.MEASUREMENT: {},
    Kind.BLOB: {
        "identifier": _name("the blob's lsst.verify identifier", identity=True),
        "size": _num("bytes of its content (canonical JSON)", "byte", 0, None, integer=True),
    },
    Kind.METRIC: {},
    Kind.SPECIFICATION: {},
    Kind.SOFTWARE_VERSION: {"name": _name("software version name")},
    Kind.CONFIG: {"task": _name("task label")},
    Kind.FLAG: {},
    Kind.PIPELINE: {"name": _name("pipeline name")},
    Kind.TASK: {"label": _name("task label"), "pipeline": _name("pipeline name")},
}

#: Any property no table names: bounded text and lists, finite numbers.
GENERIC = Prop("any", "", rule=f"text at most {MAX_TEXT} characters, lists at most "
                               f"{MAX_LIST} items, numbers finite")


@functools.lru_cache(maxsize=4096)
def spec_of(kind: Kind, dimension: str | None, name: str) -> Prop:
    if kind == Kind.DATA_UNIT:
        found = UNIT_SPECS.get(dimension or "", {}).get(name) or UNIT_COMMON.get(name)
    else:
        found = NODE_SPECS.get(kind, {}).get(name)
    return found or SHARED.get(name) or GENERIC


# --- checking ----------------------------------------------------------------------------------

@dataclass
class Problem:
    """One value that breaks its rule."""

    key: str
    prop: str
    value: object
    rule: str
    where: str = ""   #: the place in the file (line, card, column) when the reader said it
    #: A doubtful value that is kept and reported (real data has it), not refused.
    warning: bool = False

    def __str__(self) -> str:
        at = f"{self.where}: " if self.where else ""
        return f"{at}{self.key}: property {self.prop!r} = {show(self.value)}: {self.rule}"


def show(value) -> str:
    """``value`` as a message shows it: at most :data:`SHOW` characters."""
    text = repr(value)
    if len(text) > SHOW:
        size = f"{len(value)} characters" if isinstance(value, str) else \
            f"{len(value)} items" if isinstance(value, (list, tuple)) else f"{len(text)} chars"
        text = f"{text[:SHOW - 20]}... ({size})"
    return text


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_value(spec: Prop, value) -> str | None:
    """Why ``value`` breaks ``spec`` (None when it keeps it)."""
    t = type(value)
    if spec is GENERIC and (t is bool or t is int or t is str and len(value) <= MAX_TEXT
                            or t is float and math.isfinite(value)):
        return None  # the common case, kept cheap
    if t is str and len(value) > spec.max_len:
        return f"text of at most {spec.max_len} characters, this is {len(value)}"
    if t is list:
        if len(value) > MAX_LIST:
            return f"a list of at most {MAX_LIST} items, this has {len(value)}"
        if value and type(value[0]) is str:
            if any(len(item) > MAX_TEXT for item in value if type(item) is str):
                return f"list items are text of at most {MAX_TEXT} characters"
        elif value and spec.type == "list" and (spec.lo is not None or spec.hi is not None):
            if not all(_is_number(item) for item in value):
                return "expected a list of numbers"
            if any(map(math.isnan, value)):
                return "an item is not a number (NaN)"
            for item in (min(value), max(value)):
                why = _range(spec, item)
                if why:
                    return f"item {item!r}: {why}"
        return None if spec.type in ("list", "any") else f"expected a {spec.type}, not a list"
    t = spec.type
    if t in ("int", "number"):
        if not _is_number(value) or (t == "int" and isinstance(value, float)
                                     and not value.is_integer()):
            return f"expected {'an integer' if t == 'int' else 'a number'}" + \
                (f" in {spec.unit}" if spec.unit else "") + f", not {type(value).__name__}"
        if isinstance(value, float) and math.isnan(value):
            return "not a number (NaN)"
        why = _range(spec, value)
        if why:
            return why
    elif t in ("text", "time") and not isinstance(value, str):
        return f"expected text, not {type(value).__name__}"
    elif t == "bool" and not isinstance(value, bool):
        return f"expected true or false, not {type(value).__name__}"
    elif _is_number(value) and isinstance(value, float) and not math.isfinite(value):
        return "not a finite number"
    if spec.check is not None and (isinstance(value, str) or spec.type == "int"):
        return spec.check(value)
    return None


def _range(spec: Prop, value) -> str | None:
    if not _is_number(value):
        return f"expected a number, not {type(value).__name__}"
    if math.isnan(value):
        return "not a number (NaN)"
    unit = f" {spec.unit}" if spec.unit else ""
    if spec.lo is not None and value < spec.lo:
        return f"must be >= {spec.lo:g}{unit}" + (f" and <= {spec.hi:g}{unit}"
                                                    if spec.hi is not None else "")
    if spec.hi is not None and value > spec.hi:
        return f"must be <= {spec.hi:g}{unit}" + (f" and >= {spec.lo:g}{unit}"
                                                    if spec.lo is not None else "")
    return None


def check_node(key: str, props: dict, where: str = "", kind: Kind | None = None) -> list[Problem]:
    """The problems of one node (its properties and the rules between them); ``kind`` is
    the key's, when the caller knows it."""
    problems = []
    kind = kind or kind_of_key(key)
    dimension = props.get("dimension") if kind == Kind.DATA_UNIT else None
    why = _key_problem(key)
    if why:
        problems.append(Problem(key[:SHOW], "key", key, why, where))
        return problems
    for name, value in props.items():
        why = check_value(spec_of(kind, dimension, name), value)
        if why:
            problems.append(Problem(key, name, value, why, where))
    if not _CROSS_FIELDS.isdisjoint(props):
        problems.extend(_cross_field(key, props, where))
    return problems


def _key_problem(key: str) -> str | None:
    if len(key) > 4 * MAX_NAME:
        return f"a key has at most {4 * MAX_NAME} characters, this one {len(key)}"
    if _CONTROL.search(key):
        return "a key cannot hold control characters"
    return None


#: How far an end may lie before its begin and be kept with a warning: the clocks that
#: write DATE-BEG and DATE-END disagree by seconds in real LATISS headers of 2019.
CLOCK_SLACK_S = 60.0


def _instant(v) -> float | None:
    """Seconds on one axis for an ISO time or an MJD (None when neither)."""
    if _is_number(v):
        return float(v) * 86400.0
    if not isinstance(v, str) or iso_date(v) is None:
        return None
    text = re.sub(r"(Z|[+-]\d\d:?\d\d)$", "", v).replace(" ", "T")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


#: Properties that must come in order (low, high) when a node has both.
_ORDERED = (("begin", "end"), ("begin_utc", "end_utc"), ("begin_tai", "end_tai"),
            ("mjd_begin", "mjd_end"), ("start", "end"), ("start_utc", "end_utc"),
            ("seq_start", "seq_end"), ("dec_min", "dec_max"))
#: The properties :func:`_cross_field` looks at (most nodes have none of them).
_CROSS_FIELDS = frozenset({name for pair in _ORDERED for name in pair} | {"day_obs"})


def _cross_field(key: str, props: dict, where: str) -> list[Problem]:
    out = []
    for lo, hi in _ORDERED:
        a, b = props.get(lo), props.get(hi)
        if a is None or b is None:
            continue
        if lo in ("seq_start", "dec_min"):
            if _is_number(a) and _is_number(b) and a > b:
                out.append(Problem(key, hi, b, f"{hi} is below {lo} ({show(a)})", where))
            continue
        ta, tb = _instant(a), _instant(b)
        if ta is None or tb is None or tb >= ta:
            continue
        late = ta - tb
        out.append(Problem(key, hi, b, f"{hi} is {late:.6g} s before {lo} ({show(a)})", where,
                           warning=late <= CLOCK_SLACK_S))
    day_obs, begin = props.get("day_obs"), props.get("begin")
    if day_obs is not None and isinstance(begin, str):
        date, when = day_obs_date(day_obs), iso_date(begin)
        if date and when and abs((when - date).days) > 1:
            simulated = props.get("has_simulated") is True
            out.append(Problem(key, "day_obs", day_obs,
                               f"day_obs is more than a day from begin ({begin})"
                               + (" (kept: simulated data)" if simulated else ""),
                               where, warning=simulated))
    return out


def check_batch(batch: GraphBatch) -> list[Problem]:
    """Every bad value of an ingest unit's nodes (and over-long values on its edges)."""
    problems: list[Problem] = []
    origins = getattr(batch, "origins", {})
    for key, props in batch.nodes.items():
        problems.extend(check_node(key, props, origins.get(key, ""), batch.kind(key)))
    for name, key in getattr(batch, "nan_props", ()):
        kind = kind_of_key(key)
        dim = batch.nodes.get(key, {}).get("dimension")
        spec = spec_of(kind, dim, name)
        if spec.type in ("int", "number"):
            problems.append(Problem(key, name, float("nan"), "not a number (NaN); a value "
                                    "that is unknown is left out, never NaN",
                                    origins.get(key, "")))
    for (rel, src, dst), props in batch.edges.items():
        for name, value in props.items():
            why = check_value(GENERIC, value)
            if why:
                problems.append(Problem(f"{src} -[{rel.value}]-> {dst}", name, value, why))
    return problems


# --- a second ingest of the same nodes ------------------------------------------------------------

def _same(a, b) -> bool:
    if _is_number(a) and _is_number(b):
        return a == b or (isinstance(a, float) or isinstance(b, float)) and \
            math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def changed_properties(stored: dict, new: dict) -> dict[str, tuple]:
    """``{property: (stored value, new value)}`` for each property ``new`` would change
    (a property the stored node lacks counts, with stored value None)."""
    return {name: (stored.get(name), value) for name, value in new.items()
            if name != "key" and not _same(stored.get(name), value)}


def identity_conflicts(key: str, changes: dict[str, tuple], dimension=None,
                       origin: str | None = None) -> list[str]:
    """The changes that would alter what a stored node *is* (its identity properties);
    ``origin`` says where in the input the node is (``"line 42"``)."""
    kind = kind_of_key(key)
    named = f"{key} ({origin})" if origin else key
    out = []
    for name, (old, new) in changes.items():
        if old is not None and spec_of(kind, dimension, name).identity:
            out.append(f"{named}: property {name!r} is stored as {show(old)}, the file says "
                       f"{show(new)}; it says what the node is and never changes")
    return out


# --- the docs table ---------------------------------------------------------------------------

def markdown_table() -> str:
    """The property tables of ``docs/model.md``."""
    lines = ["| node | property | meaning | type | unit | rule | identity |",
             "|---|---|---|---|---|---|---|"]

    def row(node, name, p):
        lines.append(f"| {node} | `{name}` | {p.meaning} | {p.type} | {p.unit} | "
                     f"{p.describe()} | {'yes' if p.identity else ''} |")
    for name, p in SHARED.items():
        row("every kind", name, p)
    for name, p in UNIT_COMMON.items():
        row("DataUnit", name, p)
    for dim, props in UNIT_SPECS.items():
        for name, p in props.items():
            row(f"DataUnit {dim}", name, p)
    for kind, props in NODE_SPECS.items():
        if kind == Kind.DATA_UNIT:
            continue
        for name, p in props.items():
            row(kind.value, name, p)
    row("any", "(other)", GENERIC)
    return "\n".join(lines)

"""Reading daf_butler export YAML safely: the document and its custom tags.

A Butler export ("Butler Data Repository Export", format 1.x, and the older
``version: 0``) is plain YAML plus a few tags.  :func:`load_export` reads it
with a :class:`yaml.SafeLoader` subclass that knows exactly those tags:

* ``!uuid 'hex'``: a dataset ID (:class:`uuid.UUID`);
* ``!butler_time/tai/iso '2013-06-17 13:34:45.775000000'``: an instant in
  TAI (:class:`astropy.time.Time`);
* ``!lsst.daf.butler.Timespan {begin, end}`` (or ``EMPTY``): a validity range;
* ``!<lsst.sphgeom.ConvexPolygon> {encoded: hex}`` and the other sphgeom region
  types: a sky region (:class:`lsst.sphgeom.Region`);
* ``!!binary``: bytes (the sky-map hash).

Any other tag, a bad UUID, a bad time or a truncated document is an
:class:`IngestError` naming the file, the line and what is wrong.  Native YAML
timestamps (old exports wrote ``datetime_begin: 2014-11-18 12:56:47``) are
UTC, as daf_butler reads them; they become TAI like the rest.

No daf_butler import: the format is small and documented by the files.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

from lineage.core.model import dataset_type_key, unit_key
from lineage.ingest.driver import IngestError
from lineage.ingest.loading import parse_yaml, read_text, yaml_error

#: sphgeom region types an export may hold (the YAML tag is the class name).
REGION_TAGS = ("ConvexPolygon", "Box", "Circle", "Ellipse", "UnionRegion", "IntersectionRegion")

#: daf_butler's namespace for the UUIDs it gives integer dataset IDs of old
#: exports on import (``uuid3(namespace, str(id))``), so ours are the same.
INT_ID_NAMESPACE = uuid.UUID("4d4851f4-2890-4d41-8779-5f38a3f5062b")


class Line(dict):
    """A YAML mapping that remembers the line it starts on (for error messages)."""

    line: int = 0


@dataclass(frozen=True)
class Timespan:
    """``begin``/``end`` as astropy Times (None: unbounded); ``empty`` for ``EMPTY``."""

    begin: object = None
    end: object = None
    empty: bool = False


@dataclass(frozen=True)
class Region:
    """A sky region as sphgeom encodes it (hex), decoded on demand."""

    type: str
    encoded: str


class _Problem(Exception):
    """Raised inside the loader; turned into an IngestError with the line."""

    def __init__(self, line: int, what: str) -> None:
        super().__init__(what)
        self.line, self.what = line, what


class ExportLoader(yaml.SafeLoader):
    """A safe loader for Butler exports: the tags above and nothing else."""

    # YAML's own tags only: lsst.sphgeom registers constructors of its classes on
    # SafeLoader itself when it is imported; this loader takes none of them.
    yaml_constructors = {k: v for k, v in yaml.SafeLoader.yaml_constructors.items()
                         if k is None or k.startswith("tag:yaml.org,2002:")}

    def construct_yaml_map(self, node):
        data = Line()
        data.line = node.start_mark.line + 1
        yield data
        data.update(self.construct_mapping(node))

    def construct_undefined(self, node):
        raise _Problem(node.start_mark.line + 1,
                       f"unknown YAML tag {node.tag!r} (a Butler export uses !uuid, "
                       "!butler_time/tai/iso, !lsst.daf.butler.Timespan, lsst.sphgeom regions "
                       "and !!binary)")


def _line(node) -> int:
    return node.start_mark.line + 1


def _uuid(loader, node):
    text = loader.construct_scalar(node)
    try:
        return uuid.UUID(hex=str(text))
    except ValueError:
        raise _Problem(_line(node), f"bad UUID {text!r}") from None


def _tai_time(loader, node):
    from astropy.time import Time
    text = loader.construct_scalar(node)
    try:
        return Time(str(text), scale="tai", format="iso")
    except ValueError:
        raise _Problem(_line(node), f"bad TAI time {text!r}") from None


def _timespan(loader, node):
    if isinstance(node, yaml.ScalarNode):
        if loader.construct_scalar(node) == "EMPTY":
            return Timespan(empty=True)
        raise _Problem(_line(node), "a Timespan is a mapping of begin/end, or EMPTY")
    value = loader.construct_mapping(node, deep=True)
    return Timespan(value.get("begin"), value.get("end"))


def _region(type_name):
    def construct(loader, node):
        value = (loader.construct_mapping(node, deep=True)
                 if isinstance(node, yaml.MappingNode) else {})
        encoded = value.get("encoded")
        if not isinstance(encoded, str):
            raise _Problem(_line(node), f"a {type_name} region needs 'encoded' (hex)")
        try:
            bytes.fromhex(encoded)
        except ValueError:
            raise _Problem(_line(node), f"{type_name} region: 'encoded' is not hex") from None
        return Region(type_name, encoded)
    return construct


ExportLoader.add_constructor("!uuid", _uuid)
ExportLoader.add_constructor("!butler_time/tai/iso", _tai_time)
ExportLoader.add_constructor("!lsst.daf.butler.Timespan", _timespan)
for _name in REGION_TAGS:
    ExportLoader.add_constructor(f"lsst.sphgeom.{_name}", _region(_name))
    ExportLoader.add_constructor(f"!lsst.sphgeom.{_name}", _region(_name))
ExportLoader.add_constructor("tag:yaml.org,2002:map", ExportLoader.construct_yaml_map)
ExportLoader.add_constructor(None, ExportLoader.construct_undefined)


@dataclass
class Export:
    """One export document: its format version and its ``data`` entries."""

    path: Path
    version: str
    universe_version: int | None
    data: list[Line]


def load_export(path: Path) -> Export:
    """Read and check one export file; an :class:`IngestError` names what is wrong."""
    text = read_text(path)
    try:
        doc = parse_yaml(text, ExportLoader)  # a SafeLoader subclass, with the limits
    except _Problem as exc:
        raise IngestError(path, f"line {exc.line}", exc.what) from None
    except yaml.constructor.ConstructorError as exc:  # a duplicate key, too deep, too long
        raise yaml_error(path, exc) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark else ""
        raise IngestError(path, where, f"not valid YAML ({exc.problem or exc.context}); "
                                       "truncated or corrupted?") from None
    except yaml.YAMLError as exc:
        raise IngestError(path, "", f"not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or "data" not in doc or "version" not in doc:
        raise IngestError(path, "", "not a Butler export (needs 'version' and 'data')")
    if doc.get("description", "Butler Data Repository Export") != "Butler Data Repository Export":
        raise IngestError(path, "description", f"not a Butler export: {doc['description']!r}")
    version = str(doc["version"])
    if version != "0" and not version.startswith("1."):
        raise IngestError(path, "version", f"export format {version} is not supported "
                                           "(this reads 0 and 1.x)")
    data = doc["data"]
    if not isinstance(data, list) or not all(isinstance(e, Line) and "type" in e for e in data):
        raise IngestError(path, "data", "must be a list of entries, each with a 'type'")
    return Export(Path(path), version, doc.get("universe_version"), data)


def field(path: Path, entry: Line, name: str, kind=None):
    """``entry[name]``, or an IngestError naming the line and the missing field."""
    if name not in entry or (kind is not None and not isinstance(entry[name], kind)):
        what = "is missing" if name not in entry else f"must be {getattr(kind, '__name__', kind)}"
        raise IngestError(path, f"line {entry.line}", f"{entry.get('type', 'record')} "
                                                      f"field {name!r} {what}")
    return entry[name]


def to_time(value):
    """An astropy Time (TAI-tagged, or a native YAML timestamp read as UTC) or None."""
    from astropy.time import Time
    if value is None or isinstance(value, Time):
        return value
    if isinstance(value, datetime.datetime):
        return Time(value, scale="utc")
    if isinstance(value, datetime.date):
        return Time(datetime.datetime.combine(value, datetime.time()), scale="utc")
    raise ValueError(f"not a time: {value!r}")


def dataset_uuid(value) -> tuple[str, int | None]:
    """The UUID text of a dataset ID and, for an old integer ID, that integer."""
    if isinstance(value, uuid.UUID):
        return str(value), None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(uuid.uuid3(INT_ID_NAMESPACE, str(value))), value
    if isinstance(value, str):
        return str(uuid.UUID(value)), None
    raise ValueError(f"not a dataset ID: {value!r}")


#: The namespace of the Butler's deterministic dataset IDs (``DatasetIdFactory.NS_UUID``,
#: ``uuid5(NAMESPACE_DNS, "lsst.org")``).
BUTLER_ID_NAMESPACE = uuid.UUID("840b31d9-05cd-5161-b2c8-00d32b280d0f")


def butler_dataset_id(dataset_type: str, run: str, data_id: dict) -> str:
    """The UUID the Butler gives this dataset when its ID is made from its dataset type,
    run and data ID (``DatasetIdGenEnum.DATAID_TYPE_RUN``, as ``butler ingest-raws`` makes
    raws): uuid5 of ``dataset_type=T,run=R`` then the data ID's required dimensions in
    name order, ``name=value``.  ``data_id`` holds exactly the required dimensions."""
    items = [("dataset_type", dataset_type), ("run", run),
             *sorted((name, str(value)) for name, value in data_id.items())]
    return str(uuid.uuid5(BUTLER_ID_NAMESPACE, ",".join(f"{k}={v}" for k, v in items)))


def defined_bands(entries) -> set[str]:
    """The bands that the ``band`` and ``physical_filter`` records among ``entries``
    define."""
    bands = set()
    for entry in entries:
        if entry["type"] == "dimension" and entry.get("element") in ("band", "physical_filter"):
            for record in entry.get("records") or ():
                if isinstance(record, dict):
                    name = record.get("name") if entry["element"] == "band" else record.get("band")
                    if name is not None:
                        bands.add(str(name))
    return bands


def check_references(export: Export, store, bands: set[str] = frozenset()) -> None:
    """Refuse datasets of a dataset type the export does not declare (no ``dataset_type``
    entry) and that is not stored, and data IDs naming a band that no ``band`` or
    ``physical_filter`` record of the export defines (nor ``bands``, those the caller
    knows its source defines) and that is not stored: the Butler would refuse both on
    import, and storing them would invent a type or a band."""
    types = {entry["name"] for entry in export.data
             if entry["type"] == "dataset_type" and isinstance(entry.get("name"), str)}
    bands = defined_bands(export.data) | set(bands)
    wanted: dict[str, tuple[int, str]] = {}  # key -> (line, what)
    for entry in export.data:
        if entry["type"] != "dataset" or not isinstance(entry.get("dataset_type"), str):
            continue
        dstype = entry["dataset_type"]
        if dstype not in types:
            wanted.setdefault(dataset_type_key(dstype), (
                entry.line, f"dataset type {dstype!r} is not declared (no dataset_type entry in "
                            "this export) and not stored"))
        for record in entry.get("records") or ():
            data_ids = record.get("data_id") if isinstance(record, dict) else None
            for data_id in data_ids if isinstance(data_ids, list) else [data_ids]:
                band = data_id.get("band") if isinstance(data_id, dict) else None
                if band is not None and str(band) not in bands:
                    wanted.setdefault(unit_key("band", band), (
                        record.line, f"{dstype} data ID names band {band!r}, which no band or "
                                     "physical_filter record of this export defines and which "
                                     "is not stored"))
    if not wanted:
        return
    stored = store.lookup(sorted(wanted)) if store is not None else {}
    for key, (line, what) in sorted(wanted.items(), key=lambda kv: kv[1][0]):
        if key not in stored:
            raise IngestError(export.path, f"line {line}", what)

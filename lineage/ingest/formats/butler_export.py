"""``lineage ingest butler-export``: daf_butler export YAML into the graph.

One export file is one ingest unit.  What it holds and where it goes
(``docs/ingest.md`` has the whole mapping):

* ``dimension`` records: a ``DataUnit`` per record (fields as properties,
  timespans as TAI ``begin``/``end`` with ``mjd_begin``/``mjd_end``, sky regions
  as in :mod:`lineage.dataunits.regions`), ``PART_OF`` its scope (instrument, sky map,
  tract) and its implied dimensions (physical_filter, band, day_obs, group).
  ``visit_detector_region`` records are units of their own (a visit's detector
  with its region); ``visit_definition`` and ``visit_system_membership``
  records are ``PART_OF`` edges (exposure -> visit, visit -> visit_system).
* ``collection`` (RUN, TAGGED, CHAINED, CALIBRATION; old ``run``): ``Collection``
  nodes, ``CHAINS`` to the children with their ``position``.
* ``dataset_type``: ``DatasetType`` nodes.
* ``dataset``: ``Dataset`` nodes keyed by UUID (an old integer ID gets the UUID
  daf_butler gives it on import, and keeps ``butler_id``), ``OF_TYPE``,
  ``CONTAINS`` from the run, ``IDENTIFIED_BY`` its data ID's units (created
  from the data ID when the file has no record for them).
* ``associations``: ``CONTAINS`` from TAGGED collections; from CALIBRATION
  collections with ``valid_begin``/``valid_end`` (TAI).

Sky regions of visits and visit-detectors are matched against the tracts and
patches in the file or already stored (``OVERLAPS``).
"""

from __future__ import annotations

import datetime
from pathlib import Path

from lineage.core.dataid import format_data_id
from lineage.core.time import span_props, tai_iso
from lineage.core.model import (GraphBatch, Rel, collection_key, dataset_key, dataset_type_key,
                                unit_key)
from lineage.dataunits.regions import add_overlaps, region_props
from lineage.ingest.butler_yaml import (Export, Line, Region, Timespan, check_references, dataset_uuid, field,
                                        load_export, to_time)
from lineage.ingest.driver import IngestContext, IngestError, Parsed

SUFFIXES = (".yaml", ".yml")

#: The dimensions a dimension's value is unique within (the unit key's parents).
SCOPE = {
    **{d: ("instrument",) for d in ("detector", "physical_filter", "exposure", "visit",
                                   "day_obs", "group", "visit_system")},
    "tract": ("skymap",),
    "patch": ("skymap", "tract"),
}
#: Record fields that name an implied dimension (a ``PART_OF`` edge to it).
IMPLIED = {
    "physical_filter": ("band",),
    "exposure": ("physical_filter", "day_obs", "group"),
    "visit": ("physical_filter", "day_obs", "visit_system"),
}
#: Relation elements whose records are ``PART_OF`` edges: element -> (from, to).
LINKS = {"visit_definition": ("exposure", "visit"),
         "visit_system_membership": ("visit", "visit_system")}
#: Record fields holding a timespan: field -> property name.
TIME_FIELDS = {"datetime_begin": "begin", "datetime_end": "end",
               "timespan_begin": "begin", "timespan_end": "end"}


def read(path: Path, context: IngestContext) -> Parsed:
    export = load_export(path)
    graph = ExportGraph(export, context.store)
    graph.add_all()
    return graph.finish()


class ExportGraph:
    """Builds the ingest unit of one export file."""

    def __init__(self, export: Export, store, bands: set[str] = frozenset()) -> None:
        """``bands``: bands the export's source defines besides its own records (a sync's
        RUN, whose Butler's records are a unit of their own)."""
        self.export = export
        self.bands = bands
        self.path = export.path
        self.store = store
        self.batch = GraphBatch(str(export.path))
        self.skipped: list[str] = []
        self.counts: dict[str, int] = {}
        self.dataset_ids: dict[str, int] = {}       # dataset key -> line of its record
        self.calib_ranges: dict[tuple[str, str], tuple] = {}
        #: (dimension, value, parent values) -> key of the units added so far.
        self.unit_keys: dict[tuple, str] = {}
        #: The dimensions of a data ID -> those that have their own unit (not a scope).
        self.own_dimensions: dict[tuple, list[str]] = {}

    # --- helpers --------------------------------------------------------------

    def error(self, entry: Line, what: str) -> IngestError:
        return IngestError(self.path, f"line {entry.line}", what)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def unit(self, dimension: str, value, scope: dict, entry: Line, **props) -> str:
        """Add (or complete) a data unit and its ``PART_OF`` its scope parent.  A unit
        named again without properties is added once (25,000 detector-visit regions name
        250 visits and 100 detectors; 50,000 datasets the same few units)."""
        try:
            parents = tuple(scope[p] for p in SCOPE.get(dimension, ()))
        except KeyError as exc:
            raise self.error(entry, f"{dimension} {value!r} needs its {exc.args[0]}") from None
        named = (dimension, value, parents)
        if not props:
            key = self.unit_keys.get(named)
            if key is not None:
                return key
        key = unit_key(dimension, value, parents)
        self.batch.add_node(key, dimension=dimension, value=str(value), **props)
        self.batch.note_origin(key, f"line {getattr(entry, 'line', '?')}")
        if parents:
            parent_dim = SCOPE[dimension][-1]
            self.batch.add_edge(Rel.PART_OF, key,
                                self.unit(parent_dim, parents[-1], scope, entry))
        self.unit_keys[named] = key
        return key

    def data_id_units(self, data_id: dict, entry: Line) -> list[str]:
        """The units of a data ID's dimensions, minus instrument and sky map when
        another dimension is scoped by them (they are in its key already)."""
        dimensions = tuple(data_id)
        own = self.own_dimensions.get(dimensions)
        if own is None:
            scoped_by = {SCOPE[d][0] for d in dimensions if d in SCOPE}
            own = self.own_dimensions[dimensions] = [d for d in dimensions
                                                     if d not in scoped_by]
        return [self.unit(d, data_id[d], data_id, entry) for d in own]

    # --- the entries ----------------------------------------------------------

    def add_all(self) -> None:
        handlers = {"dimension": self.add_dimension, "collection": self.add_collection,
                    "run": self.add_collection, "dataset_type": self.add_dataset_type,
                    "dataset": self.add_datasets, "associations": self.add_associations}
        for entry in self.export.data:
            handler = handlers.get(entry["type"])
            if handler is None:
                raise self.error(entry, f"unknown entry type {entry['type']!r} "
                                        f"(known: {', '.join(handlers)})")
            handler(entry)
        check_references(self.export, self.store, self.bands)  # declared types, bands

    def add_dimension(self, entry: Line) -> None:
        element = field(self.path, entry, "element", str)
        records = field(self.path, entry, "records", list)
        for record in records:
            if not isinstance(record, dict):
                raise self.error(entry, f"a {element} record must be a mapping")
            self.add_record(element, record)
        self.count("dimension records", len(records))

    def add_record(self, element: str, record: Line) -> None:
        if element in LINKS:
            child, parent = LINKS[element]
            self.batch.add_edge(Rel.PART_OF,
                                self.unit(child, self.need(record, child), record, record),
                                self.unit(parent, self.need(record, parent), record, record))
            return
        if element == "visit_detector_region":
            visit = self.unit("visit", self.need(record, "visit"), record, record)
            detector = self.unit("detector", self.need(record, "detector"), record, record)
            key = unit_key(element, record["detector"], (self.need(record, "instrument"),
                                                         record["visit"]))
            self.batch.add_node(key, dimension=element, value=str(record["detector"]),
                                **self.record_props(record))
            self.batch.add_edge(Rel.PART_OF, key, visit)
            self.batch.add_edge(Rel.PART_OF, key, detector)
            return
        value = record.get("id", record.get("name"))
        if value is None:
            self.skipped.append(f"line {record.line}: {element} record not stored: it has "
                                "neither id nor name (a relation this reader does not know)")
            return
        scope = dict(record)
        scope[element] = value
        key = self.unit(element, value, scope, record, **self.record_props(record))
        for implied in IMPLIED.get(element, ()):
            if record.get(implied) is not None:
                self.batch.add_edge(Rel.PART_OF, key,
                                    self.unit(implied, record[implied], scope, record))

    def need(self, record: Line, name: str):
        if record.get(name) is None:
            raise self.error(record, f"record field {name!r} is missing")
        return record[name]

    def record_props(self, record: Line) -> dict:
        props, times = {}, {}
        for name, value in record.items():
            if name in TIME_FIELDS:
                try:
                    times[TIME_FIELDS[name]] = to_time(value)
                except ValueError as exc:
                    raise self.error(record, f"field {name!r}: {exc}") from None
            elif isinstance(value, Region):
                try:
                    props.update(region_props(value.encoded))
                except Exception as exc:  # sphgeom raises its own error types
                    raise self.error(record, f"field {name!r}: cannot decode the "
                                             f"{value.type} region: {exc}") from None
            elif isinstance(value, bytes):
                props[name] = value.hex()
            elif hasattr(value, "jd") or isinstance(value, datetime.date):
                props[name] = tai_iso(to_time(value))
            else:
                props[name] = value
        props.update(span_props(times.get("begin"), times.get("end")))
        return props

    def add_collection(self, entry: Line) -> None:
        name = field(self.path, entry, "name", str)
        ctype = "RUN" if entry["type"] == "run" else field(self.path, entry, "collection_type", str)
        if ctype not in ("RUN", "TAGGED", "CHAINED", "CALIBRATION"):
            raise self.error(entry, f"collection {name!r}: unknown collection_type {ctype!r}")
        try:
            times = span_props(to_time(entry.get("timespan_begin")),
                               to_time(entry.get("timespan_end")))
        except ValueError as exc:
            raise self.error(entry, f"collection {name!r}: {exc}") from None
        key = self.batch.add_node(collection_key(name), name=name, collection_type=ctype,
                                  doc=entry.get("doc"), host=entry.get("host"), **times)
        self.batch.note_origin(key, f"line {entry.line}")
        for position, child in enumerate(entry.get("children") or ()):
            if isinstance(child, list) and child:  # old form: [name, dataset type restriction]
                child = child[0]
            if not isinstance(child, str):
                raise self.error(entry, f"chain {name!r}: child {position} is not a name")
            self.batch.add_node(collection_key(child), name=child)
            self.batch.add_edge(Rel.CHAINS, key, collection_key(child), position=position)
        self.count("collections")

    def add_dataset_type(self, entry: Line) -> None:
        name = field(self.path, entry, "name", str)
        self.batch.add_node(dataset_type_key(name), name=name,
                            dimensions=list(field(self.path, entry, "dimensions", list)),
                            storage_class=entry.get("storage_class"),
                            is_calibration=bool(entry.get("is_calibration", False)))
        self.count("dataset types")

    def add_datasets(self, entry: Line) -> None:
        dstype = field(self.path, entry, "dataset_type", str)
        run = field(self.path, entry, "run", str)
        type_key = dataset_type_key(dstype)
        if type_key not in self.batch.nodes:
            self.batch.add_node(type_key, name=dstype)
        run_key = collection_key(run)
        self.batch.add_node(run_key, name=run, collection_type="RUN")
        for record in field(self.path, entry, "records", list):
            ids, data_ids = record.get("dataset_id"), record.get("data_id")
            ids = ids if isinstance(ids, list) else [ids]
            data_ids = data_ids if isinstance(data_ids, list) else [data_ids]
            if len(ids) != len(data_ids) or not all(isinstance(d, dict) for d in data_ids):
                raise self.error(record, f"{dstype} record: dataset_id and data_id must be "
                                         "lists of the same length (data IDs are mappings)")
            for raw_id, data_id in zip(ids, data_ids):
                try:
                    uuid, butler_id = dataset_uuid(raw_id)
                except ValueError as exc:
                    raise self.error(record, f"{dstype} record: field 'dataset_id': {exc}") \
                        from None
                key = dataset_key(uuid)
                self.batch.add_node(key, dataset_type=dstype, data_id=format_data_id(data_id),
                                    run=run, path=record.get("path"), uri=record.get("uri"),
                                    formatter=record.get("formatter"), butler_id=butler_id)
                self.batch.add_edge(Rel.OF_TYPE, key, type_key)
                self.batch.add_edge(Rel.CONTAINS, run_key, key)
                for unit in self.data_id_units(data_id, record):
                    self.batch.add_edge(Rel.IDENTIFIED_BY, key, unit)
                self.dataset_ids[key] = record.line
                self.batch.note_origin(key, f"line {record.line}")
                self.batch.note_origin(run_key, f"line {entry.line}")
                self.batch.note_origin(type_key, f"line {entry.line}")
                self.count("datasets")

    def add_associations(self, entry: Line) -> None:
        name = field(self.path, entry, "collection", str)
        ctype = field(self.path, entry, "collection_type", str)
        key = collection_key(name)
        self.batch.add_node(key, name=name, collection_type=ctype)
        if ctype == "TAGGED":
            for raw_id in field(self.path, entry, "dataset_ids", list):
                self.batch.add_edge(Rel.CONTAINS, key, self.association_target(entry, raw_id))
                self.count("associations")
        elif ctype == "CALIBRATION":
            for vr in field(self.path, entry, "validity_ranges", list):
                span = vr.get("timespan")
                if span is None:
                    span = Timespan(vr.get("begin"), vr.get("end"))
                elif not isinstance(span, Timespan):
                    raise self.error(vr, "validity range: 'timespan' is not a Timespan")
                ids = field(self.path, vr, "dataset_ids", list)
                if span.empty:
                    self.skipped.append(f"line {vr.line}: {len(ids)} certifications in {name} "
                                        "with an EMPTY validity range (valid at no time)")
                    continue
                try:
                    times = span_props(to_time(span.begin), to_time(span.end))
                except ValueError as exc:
                    raise self.error(vr, f"validity range: {exc}") from None
                valid = {f"valid_{k}" if k in ("begin", "end") else k: v
                         for k, v in times.items() if k in ("begin", "end")}
                valid.update({f"valid_mjd_{k}": times[f"mjd_{k}"] for k in ("begin", "end")
                              if f"mjd_{k}" in times})
                for raw_id in ids:
                    target = self.association_target(vr, raw_id)
                    seen = self.calib_ranges.get((key, target))
                    if seen is not None and seen != tuple(sorted(valid.items())):
                        self.skipped.append(
                            f"line {vr.line}: {target} certified again in {name} with another "
                            "validity range; the graph keeps one range per collection and "
                            "dataset (the first)")
                        continue
                    self.calib_ranges[(key, target)] = tuple(sorted(valid.items()))
                    self.batch.add_edge(Rel.CONTAINS, key, target, time_scale="tai", **valid)
                    self.count("associations")
        else:
            raise self.error(entry, f"associations of {name!r}: collection_type {ctype!r} "
                                    "has none (TAGGED or CALIBRATION)")

    def association_target(self, entry: Line, raw_id) -> str:
        try:
            key = dataset_key(dataset_uuid(raw_id)[0])
        except ValueError as exc:
            raise self.error(entry, f"associations: {exc}") from None
        if key not in self.dataset_ids and not self.store.lookup([key]):
            raise self.error(entry, f"associations: dataset {raw_id} is neither in this file "
                                    "nor stored")
        return key

    def finish(self) -> Parsed:
        """The unit, with the ``OVERLAPS`` of its regions (against the store too)."""
        overlaps = add_overlaps(self.batch, self.store)
        if overlaps:
            self.counts["overlaps"] = overlaps
        return Parsed(self.path, self.batch, self.skipped, self.counts)

"""GraphQL types: one per node kind of the model (``docs/model.md``), relations as fields.

A node reaches a resolver as a dict of its properties with its ``key``.  A
traversal returns only some properties (type, data ID, run); asking for
another field of such a node looks the whole node up, batched with every
other lookup of the request (:mod:`.loaders`).  Relations are fields: a
single neighbour (``producedBy``), a short list (``dataUnits``) or a
paged connection (``consumers(first, after)``) where there may be many.
"""

from __future__ import annotations

import base64
import binascii
import json

import graphene
from graphene.types.generic import GenericScalar

from lineage.core.model import Kind, ModelError, kind_of_key
from lineage.api.errors import ApiError
from lineage.api.loaders import FULL, Relation
from lineage.metrics import evaluate_specs
from lineage.api.pagination import Page, decode_cursor, encode_cursor, page_of_list, page_size
from lineage.traversal.traverse import deleted_among


# --- resolving properties of possibly partial nodes ---------------------------------

async def full_node(root: dict, info) -> dict:
    if not root.get(FULL):
        loaded = await info.context.loaders.node.load(root["key"])
        if loaded:
            root.update(loaded)
        root[FULL] = True
    return root


async def _prop_after_load(root, attname, default, info):
    return (await full_node(root, info)).get(attname, default)


def prop_resolver(attname, default_value, root, info, **args):
    """Default resolver: a property of the node dict, looked up first if the dict is partial."""
    if isinstance(root, dict):
        if attname in root or root.get(FULL) or "key" not in root:
            return root.get(attname, default_value)
        return _prop_after_load(root, attname, default_value, info)
    return getattr(root, attname, default_value)


def _meta(**kw):
    return type("Meta", (), {"default_resolver": prop_resolver, **kw})


# --- connections ------------------------------------------------------------------


class TypeCount(graphene.ObjectType):
    dataset_type = graphene.String(required=True)
    count = graphene.Int(required=True)


class PageInfo(graphene.ObjectType):
    has_next_page = graphene.Boolean(required=True)
    has_previous_page = graphene.Boolean(required=True)
    start_cursor = graphene.String()
    end_cursor = graphene.String()

    def resolve_has_next_page(page: Page, info):
        return page.has_next

    def resolve_has_previous_page(page: Page, info):
        return page.has_previous

    def resolve_start_cursor(page: Page, info):
        return encode_cursor(page.items[0]["key"]) if page.items else None

    def resolve_end_cursor(page: Page, info):
        return encode_cursor(page.items[-1]["key"]) if page.items else None


async def _load_edge_node(edge: dict, info):
    edge["node"] = await info.context.loaders.node.load(edge["key"])
    return edge["node"]


def _edge_node(edge: dict, info):
    """The edge's node; looked up (batched) if the page holds only its key.  Not a
    coroutine when the node is at hand: a page of 500 makes no 500 tasks."""
    node = edge.get("node")
    return node if node is not None else _load_edge_node(edge, info)


def _total(page: Page, info):
    if page.total is not None or page.count is None:
        return page.total
    return info.context.run(page.count)


def connection(name: str, node_type, description: str, **edge_fields):
    """``<name>Connection { edges { cursor node ... } pageInfo totalCount }``.

    A page's items are edge records: ``{"key", "node": dict or None, **edge_fields}``;
    a missing node is looked up by key (batched)."""
    edge = type(f"{name}Edge", (graphene.ObjectType,), {
        "__doc__": f"One item of a {name}Connection page, with its cursor.",
        "Meta": _meta(),
        "cursor": graphene.String(required=True),
        "node": graphene.Field(node_type, required=True),
        "resolve_cursor": lambda edge, info: encode_cursor(edge["key"]),
        "resolve_node": _edge_node,
        **edge_fields,
    })
    return type(f"{name}Connection", (graphene.ObjectType,), {
        "__doc__": description,
        "edges": graphene.List(graphene.NonNull(edge), required=True),
        "page_info": graphene.Field(PageInfo, required=True),
        "total_count": graphene.Int(description="Items in every page together."),
        "resolve_edges": lambda page, info: page.items,
        "resolve_page_info": lambda page, info: page,
        "resolve_total_count": _total,
    })


def paged(conn, resolver, description: str, **args):
    return graphene.Field(conn, first=graphene.Int(description="Page size (at most the "
                                                   "server's maximum)."),
                          after=graphene.String(description="Cursor of the item to start after."),
                          resolver=resolver, description=description, required=True, **args)


# --- relation fields --------------------------------------------------------------------

def _one(rel: Relation, node_type, description: str):
    async def resolve(root, info):
        items = await info.context.loaders.relation(rel).load(root["key"])
        return await info.context.loaders.node.load(items[0][0]) if items else None
    return graphene.Field(node_type, resolver=resolve, description=description)


def _many(rel: Relation, node_type, description: str):
    async def resolve(root, info):
        items = await info.context.loaders.relation(rel).load(root["key"])
        nodes = await info.context.loaders.node.load_many([k for k, _ in items])
        return [n for n in nodes if n]
    return graphene.List(graphene.NonNull(node_type), resolver=resolve, required=True,
                         description=description)


def _paged_relation(rel: Relation, conn, description: str, listing: bool = False):
    """A paged relation field; a ``listing`` of datasets (what a collection, type or unit
    holds) skips tombstones unless ``includeDeleted`` (docs/retention.md)."""
    async def resolve(root, info, first=None, after=None, include_deleted=False):
        n = page_size(first, info.context.settings)
        start = decode_cursor(after)
        items = await info.context.loaders.relation(rel).load(root["key"])
        if listing and not include_deleted:
            deleted = await info.context.run(deleted_among, info.context.store,
                                             [k for k, _ in items])
            items = [(k, e) for k, e in items if k not in deleted]
        records = [{"key": k, "node": None, FULL: True, **e} for k, e in items]
        return page_of_list(records, n, start)
    if not listing:
        return paged(conn, resolve, description)
    return paged(conn, resolve, description, include_deleted=graphene.Boolean(
        default_value=False, description="Deleted datasets (tombstones) too."))


def R(source, rel_type, target=None, incoming=False, **kw) -> Relation:  # noqa: N802 (reads like a pattern)
    return Relation(source, rel_type, not incoming, target, **kw)


# --- the node interface -----------------------------------------------------------------

def global_id(key: str) -> str:
    """A node's global ID (Relay): base64 of ``Kind:key``, e.g. of ``Dataset:dataset:<uuid>``."""
    return base64.urlsafe_b64encode(f"{kind_of_key(key).value}:{key}".encode()).decode()


def decode_global_id(text: str) -> str:
    """The node key a global ID stands for; an :class:`ApiError` naming ``id`` if it is not
    one this API gave out."""
    try:
        kind, sep, key = base64.urlsafe_b64decode(text.encode("ascii")).decode().partition(":")
        if sep and kind_of_key(key).value == kind:
            return key
    except (binascii.Error, UnicodeError, ValueError, ModelError):
        pass
    raise ApiError(f"id: {text!r} is not a global node ID (a node's `id` field, base64 of "
                   "Kind:key)")


class Node(graphene.Interface):
    """Any node of the graph, by its key (unique in the whole graph; its prefix names the kind)."""

    id = graphene.ID(required=True, description="Global ID (Relay): opaque, from the kind and "
                                                "key; `node(id:)` takes it.")
    key = graphene.ID(required=True, description="The node's key, e.g. dataset:<uuid>.")
    kind = graphene.String(required=True, description="Node kind: Dataset, Quantum, DataUnit ...")
    properties = GenericScalar(required=True, description="Every stored property, as JSON.")

    @classmethod
    def resolve_type(cls, instance, info):
        return TYPE_OF_KIND[kind_of_key(instance["key"])]

    def resolve_id(root, info):
        return global_id(root["key"])

    def resolve_kind(root, info):
        return kind_of_key(root["key"]).value

    async def resolve_properties(root, info):
        node = await full_node(root, info)
        return {k: v for k, v in node.items() if k != FULL and k not in ("node",)}


def _uuid(root, info):
    return root["key"].split(":", 1)[1]


# --- node kinds ---------------------------------------------------------------------------

class Dataset(graphene.ObjectType):
    """A stored dataset (a Butler dataset): one file, one dataset type, one data ID, one RUN."""

    Meta = _meta(interfaces=(Node,))
    uuid = graphene.String(required=True, resolver=_uuid)
    dataset_type = graphene.String()
    data_id = graphene.String(description="Data ID as dim=value pairs, e.g. band=r,patch=4,...")
    run = graphene.String(description="The RUN collection that holds it.")
    uri = graphene.String()
    size = graphene.Float(description="Bytes.")
    checksum = graphene.String()
    of_type = _one(R("Dataset", "OF_TYPE", "DatasetType"), lambda: DatasetType,
                   "Its dataset type.")
    data_units = _many(R("Dataset", "IDENTIFIED_BY", "DataUnit"), lambda: DataUnit,
                       "The data units of its data ID.")
    produced_by = _one(R("Dataset", "PRODUCED", "Quantum", incoming=True), lambda: Quantum,
                       "The quantum that wrote it (none for raws and calibrations).")
    collections = _many(R("Dataset", "CONTAINS", "Collection", incoming=True), lambda: Collection,
                        "Collections that contain it (RUN, TAGGED, CALIBRATION).")
    flags = _many(R("Dataset", "FLAGS", "Flag", incoming=True), lambda: Flag,
                  "Flags that name it directly (contamination: the `contamination` query).")
    measured_by = _many(R("Dataset", "MEASURED", "Job", incoming=True), lambda: Job, "Metric jobs.")
    deleted = graphene.Field(lambda: Deletion, resolver=lambda root, info: _deletion(root, info),
                             description="Null while it exists; a tombstone's deletion "
                                         "(docs/retention.md): lineage keeps passing through it.")


class Deletion(graphene.ObjectType):
    """A deleted dataset's record: its node and lineage stay (a tombstone)."""

    at = graphene.String(required=True, description="When the graph recorded it (UTC).")
    by = graphene.String(description="Who deleted it.")
    reason = graphene.String(description="Why.")
    forced = graphene.Boolean(description="Live datasets depended on it (deleted by force).")
    files_removed = graphene.Boolean(description="Its files are gone from every datastore "
                                                 "(false: a removal still owed; null: none "
                                                 "was asked).")
    history = graphene.List(graphene.NonNull(graphene.String), required=True,
                            description="One line per deletion and restoration.")


async def _deletion(root: dict, info) -> dict | None:
    """A dataset's :class:`Deletion` (None: live), from its node, looked up (batched with the
    request's other lookups) unless at hand or known live."""
    node = root if root.get(FULL) else await full_node(root, info)
    if not node.get("deleted_at"):
        return None
    return {"at": node["deleted_at"], "by": node.get("deleted_by"),
            "reason": node.get("deleted_reason"), "forced": node.get("deleted_forced"),
            "files_removed": node.get("files_removed"),
            "history": list(node.get("deletion_history") or [])}


class Quantum(graphene.ObjectType):
    """One execution of a pipeline task on one data ID: read its inputs, wrote its outputs."""

    Meta = _meta(interfaces=(Node,))
    uuid = graphene.String(required=True, resolver=_uuid)
    task = graphene.String()
    task_class = graphene.String()
    data_id = graphene.String()
    run = graphene.String()
    status = graphene.String()
    start = graphene.String()
    end = graphene.String()
    time_scale = graphene.String()
    host = graphene.String()
    peak_memory_mb = graphene.Float()
    data_units = _many(R("Quantum", "IDENTIFIED_BY", "DataUnit"), lambda: DataUnit,
                       "The data units of its data ID.")
    software = _one(R("Quantum", "RAN_WITH", "SoftwareVersion"), lambda: SoftwareVersion,
                    "The software version it ran with.")
    config = _one(R("Quantum", "CONFIGURED_BY", "Config"), lambda: Config,
                  "Its task configuration.")
    flags = _many(R("Quantum", "FLAGS", "Flag", incoming=True), lambda: Flag, "Flags that name it.")


class DataUnit(graphene.ObjectType):
    """A dimension value: visit, exposure, detector, band, physical_filter, day_obs, skymap,
    tract, patch, instrument.  Visits and exposures carry their observing conditions."""

    Meta = _meta(interfaces=(Node,))
    dimension = graphene.String()
    value = graphene.String()
    band = graphene.String()
    physical_filter = graphene.String()
    day_obs = graphene.Int()
    begin = graphene.String(description="Exposure start (ISO, `timeScale`, TAI in the demo).")
    end = graphene.String()
    time_scale = graphene.String()
    mjd_begin = graphene.Float()
    mjd_end = graphene.Float()
    exposure_time = graphene.Float()
    airmass = graphene.Float()
    seeing = graphene.Float(description="Seeing FWHM, arcsec.")
    sky = graphene.Float()
    ra = graphene.Float()
    dec = graphene.Float()
    rotation = graphene.Float()
    observation_type = graphene.String()
    ra_min = graphene.Float()
    ra_max = graphene.Float()
    dec_min = graphene.Float()
    dec_max = graphene.Float()
    full_name = graphene.String()
    purpose = graphene.String()
    part_of = _many(R("DataUnit", "PART_OF", "DataUnit"), lambda: DataUnit,
                    "Units this one implies (visit -> physical_filter, day_obs; patch -> tract).")
    efd_records = _many(R("DataUnit", "DESCRIBES", "EfdRecord", incoming=True), lambda: EfdRecord,
                        "Telemetry over this exposure's time span.")
    flags = _many(R("DataUnit", "FLAGS", "Flag", incoming=True), lambda: Flag, "Flags that name it.")
    measured_by = _many(R("DataUnit", "MEASURED", "Job", incoming=True), lambda: Job, "Metric jobs.")
    overlaps = _many(R("DataUnit", "OVERLAPS", "DataUnit"), lambda: DataUnit,
                     "Sky-map patches/tracts its region overlaps (visit, visit-detector).")
    overlapped_by = _many(R("DataUnit", "OVERLAPS", "DataUnit", incoming=True), lambda: DataUnit,
                          "Visits and visit-detectors whose regions overlap it (tract, patch).")


class DatasetType(graphene.ObjectType):
    """A dataset type, and the type-level graph: which types feed which."""

    Meta = _meta(interfaces=(Node,))
    name = graphene.String()
    dimensions = graphene.List(graphene.NonNull(graphene.String))
    storage_class = graphene.String()
    feeds = _many(R("DatasetType", "FEEDS", "DatasetType"), lambda: DatasetType,
                  "Types some task wrote after reading this one.")
    fed_by = _many(R("DatasetType", "FEEDS", "DatasetType", incoming=True), lambda: DatasetType,
                   "Types some task read to write this one.")


class Collection(graphene.ObjectType):
    """A Butler collection: RUN, TAGGED, CHAINED (a release) or CALIBRATION."""

    Meta = _meta(interfaces=(Node,))
    name = graphene.String()
    collection_type = graphene.String()
    release = graphene.String()
    released_at = graphene.String()
    children = _many(R("Collection", "CHAINS", "Collection", edge=("position",),
                       order="position"), lambda: Collection,
                     "A chained collection's children, in search order.")
    parents = _many(R("Collection", "CHAINS", "Collection", incoming=True), lambda: Collection,
                    "Chained collections this one is a child of.")
    measured_by = _many(R("Collection", "MEASURED", "Job", incoming=True), lambda: Job, "Metric jobs.")


class SoftwareVersion(graphene.ObjectType):
    """A software stack version (e.g. w.2026.20) and its packages."""

    Meta = _meta(interfaces=(Node,))
    name = graphene.String()
    packages = GenericScalar(description="Package -> version.")
    jobs = _many(R("SoftwareVersion", "RAN_WITH", "Job", incoming=True), lambda: Job,
                 "Metric jobs run with it.")

    def resolve_packages(root, info):
        return _json_prop(root, info, "packages")


class Config(graphene.ObjectType):
    """A task configuration."""

    Meta = _meta(interfaces=(Node,))
    task = graphene.String()
    values = GenericScalar(description="Configuration values.")

    def resolve_values(root, info):
        return _json_prop(root, info, "values")


async def _json_after_load(root, info, name):
    value = (await full_node(root, info)).get(name)
    return _parse_json(value)


def _parse_json(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _json_prop(root, info, name):
    if name in root or root.get(FULL):
        return _parse_json(root.get(name))
    return _json_after_load(root, info, name)


class EfdRecord(graphene.ObjectType):
    """Engineering telemetry (EFD): one topic's samples over a time span (UTC and TAI times);
    per-exposure summaries are in ``lightcurve`` epochs (``telemetry``)."""

    Meta = _meta(interfaces=(Node,))
    topic = graphene.String()
    csc = graphene.String()
    fields = graphene.List(graphene.NonNull(graphene.String))
    summary_fields = graphene.List(graphene.NonNull(graphene.String),
                                   description="Numeric fields summarised per exposure.")
    begin_utc = graphene.String()
    end_utc = graphene.String()
    begin_tai = graphene.String()
    end_tai = graphene.String()
    time_scale = graphene.String()
    samples = graphene.Int()
    describes = _many(R("EfdRecord", "DESCRIBES", "DataUnit"), lambda: DataUnit,
                      "The exposures it describes.")


class SpecCheck(graphene.ObjectType):
    """One specification applied to one job's measurement."""

    spec = graphene.String(required=True)
    metric = graphene.String(required=True)
    value = graphene.Float(description="Null: the value is missing.")
    unit = graphene.String()
    operator = graphene.String(required=True)
    threshold = graphene.Float(required=True)
    threshold_unit = graphene.String()
    passed = graphene.Boolean(description="Null when the value is missing.")


async def _job_specifications(root, info):
    results = await info.context.run(evaluate_specs, info.context.store, root["key"])
    return [r.as_dict() for r in results]


class Job(graphene.ObjectType):
    """A metric job (SQuaSH): what it measured, with which software, its measurements."""

    Meta = _meta(interfaces=(Node,))
    name = graphene.String()
    date = graphene.String()
    time_scale = graphene.String()
    dataset_name = graphene.String()
    instrument = graphene.String()
    filter_name = graphene.String()
    ci_id = graphene.String()
    software = _one(R("Job", "RAN_WITH", "SoftwareVersion"), lambda: SoftwareVersion,
                    "The software version it ran with.")
    measurements = _many(R("Job", "HAS_MEASUREMENT", "Measurement"),
                         lambda: Measurement, "Its measurements.")
    measured = _many(R("Job", "MEASURED"), lambda: Node,
                     "What it measured: datasets, quanta, data units, collections.")
    specifications = graphene.List(
        graphene.NonNull(lambda: SpecCheck), required=True, resolver=_job_specifications,
        description="The specifications that apply to it (lsst.verify metadata queries), "
                    "with whether it passed each.")


class Metric(graphene.ObjectType):
    """A metric definition (e.g. validate_drp.PA1)."""

    Meta = _meta(interfaces=(Node,))
    name = graphene.String()
    unit = graphene.String()
    description = graphene.String()
    specifications = _many(R("Metric", "SPECIFIES", "Specification", incoming=True),
                           lambda: Specification, "Thresholds set on it.")


class Measurement(graphene.ObjectType):
    """One value of one metric, by one job."""

    Meta = _meta(interfaces=(Node,))
    metric = graphene.String()
    value = graphene.Float()
    unit = graphene.String()
    job = _one(R("Measurement", "HAS_MEASUREMENT", "Job", incoming=True), lambda: Job, "The job.")
    of_metric = _one(R("Measurement", "OF_METRIC", "Metric"), lambda: Metric,
                     "The metric's definition.")
    blobs = _many(R("Measurement", "HAS_BLOB", "Blob"), lambda: Blob,
                  "The blobs it refers to (lsst.verify blob_refs).")


class Blob(graphene.ObjectType):
    """A by-product of a job's measurements (lsst.verify blob): its name, the sha256 digest
    and size of its canonical JSON content, and the content when small enough to keep."""

    Meta = _meta(interfaces=(Node,))
    identifier = graphene.String()
    name = graphene.String()
    digest = graphene.String(description="sha256:<hex> of the content.")
    size = graphene.Float(description="Bytes of the content.")
    content = graphene.String(description="Canonical JSON; null when kept by digest only.")


class Flag(graphene.ObjectType):
    """A bad/suspect verdict with who, when, why, evidence and authority (``docs/flags.md``)."""

    Meta = _meta(interfaces=(Node,))
    uuid = graphene.String(required=True, resolver=_uuid)
    verdict = graphene.String()
    reason = graphene.String()
    by = graphene.String()
    authority = graphene.String()
    selector = graphene.String()
    evidence = graphene.String()
    evidence_sha256 = graphene.String()
    evidence_bytes = graphene.Float()
    created_at = graphene.String(description="UTC.")
    time_scale = graphene.String()
    retracted_at = graphene.String()
    retracted_by = graphene.String()
    retraction_reason = graphene.String()
    active = graphene.Boolean(required=True, description="Not retracted.")
    targets = _many(R("Flag", "FLAGS"), lambda: Node,
                    "What it flags: datasets, quanta, and the data unit a selector named.")

    async def resolve_active(root, info):
        return "retracted_at" not in await full_node(root, info)


# --- connections of node kinds (defined once the node types exist) -------------------------

DatasetConnection = connection("Dataset", Dataset, "A page of datasets.")
QuantumConnection = connection("Quantum", Quantum, "A page of quanta.")
DataUnitConnection = connection("DataUnit", DataUnit, "A page of data units.")
MeasurementConnection = connection("Measurement", Measurement, "A page of measurements.")
MarkConnection = connection("Mark", Node, "A page of contamination marks of one flag.",
                            steps=graphene.Int(description="Quanta between it and a flagged "
                                                           "dataset (0: flagged itself)."),
                            fraction=graphene.Float(description="How much of it the flag "
                                                                "reaches (0..1)."))


def _attach(cls, name, field) -> None:
    """Add a relation field that needs a connection type made after ``cls``."""
    cls._meta.fields[name] = field


_attach(Dataset, "consumers", _paged_relation(
    R("Dataset", "INPUT_TO", "Quantum"), QuantumConnection, "Quanta that read it."))
_attach(Quantum, "inputs", _paged_relation(
    R("Quantum", "INPUT_TO", "Dataset", incoming=True), DatasetConnection, "Datasets it read."))
_attach(Quantum, "outputs", _paged_relation(
    R("Quantum", "PRODUCED", "Dataset"), DatasetConnection, "Datasets it wrote."))
_attach(DataUnit, "datasets", _paged_relation(
    R("DataUnit", "IDENTIFIED_BY", "Dataset", incoming=True), DatasetConnection,
    "Datasets whose data ID names this unit directly.", listing=True))
_attach(DataUnit, "quanta", _paged_relation(
    R("DataUnit", "IDENTIFIED_BY", "Quantum", incoming=True), QuantumConnection,
    "Quanta whose data ID names this unit directly."))
_attach(DataUnit, "parts", _paged_relation(
    R("DataUnit", "PART_OF", "DataUnit", incoming=True), DataUnitConnection,
    "Units that imply this one (a tract's patches, a band's physical filters ...)."))
_attach(DatasetType, "datasets", _paged_relation(
    R("DatasetType", "OF_TYPE", "Dataset", incoming=True), DatasetConnection, "Datasets of this type.",
    listing=True))
_attach(Collection, "datasets", _paged_relation(
    R("Collection", "CONTAINS", "Dataset"), DatasetConnection,
    "Datasets it contains directly (a chained collection: ask its children).", listing=True))
_attach(SoftwareVersion, "quanta", _paged_relation(
    R("SoftwareVersion", "RAN_WITH", "Quantum", incoming=True), QuantumConnection,
    "Quanta that ran with it."))
_attach(Config, "quanta", _paged_relation(
    R("Config", "CONFIGURED_BY", "Quantum", incoming=True), QuantumConnection,
    "Quanta configured by it."))
_attach(Metric, "measurements", _paged_relation(
    R("Metric", "OF_METRIC", "Measurement", incoming=True), MeasurementConnection,
    "Its measurements."))
#: A flag's marks: ``Flag.marks`` (with its filters) is made in :mod:`lineage.api.flags`.
FLAG_MARKS = R("Flag", "CONTAMINATED_BY", None, incoming=True, edge=("steps", "fraction"))


class Specification(graphene.ObjectType):
    """A threshold on a metric (lsst.verify specification), e.g. ``validate_drp.PA1.design``."""

    Meta = _meta(interfaces=(Node,))
    name = graphene.String()
    metric = graphene.String()
    operator = graphene.String()
    threshold = graphene.Float()
    unit = graphene.String()
    tags = graphene.List(graphene.NonNull(graphene.String))
    metadata_query = graphene.String(description="JSON: job metadata it applies to.")
    of_metric = _one(R("Specification", "SPECIFIES", "Metric"), lambda: Metric,
                     "The metric it sets a threshold on.")


class Pipeline(graphene.ObjectType):
    """A pipeline definition (pipe_base YAML) with its imports resolved."""

    Meta = _meta(interfaces=(Node,))
    name = graphene.String()
    description = graphene.String()
    instrument = graphene.String()
    labels = graphene.List(graphene.NonNull(graphene.String))
    task_count = graphene.Int()
    steps = graphene.List(graphene.NonNull(graphene.String))
    subsets = graphene.String(description="JSON: labeled subsets with their tasks.")
    contracts = graphene.List(graphene.NonNull(graphene.String))
    tasks = _many(R("Pipeline", "HAS_TASK", "Task"), lambda: Task, "Its tasks.")
    imports = _many(R("Pipeline", "IMPORTS", "Pipeline"), lambda: Pipeline,
                    "The pipelines it imports.")


class Task(graphene.ObjectType):
    """One labeled task of a pipeline: its class, config overrides and stated connections."""

    Meta = _meta(interfaces=(Node,))
    label = graphene.String()
    pipeline = graphene.String()
    task_class = graphene.String()
    config = graphene.String(description="JSON: the merged config overrides.")
    subsets = graphene.List(graphene.NonNull(graphene.String))
    steps = graphene.List(graphene.NonNull(graphene.String))
    reads = _many(R("Task", "READS", "DatasetType"), lambda: DatasetType,
                  "Input dataset types its connections state.")
    writes = _many(R("Task", "WRITES", "DatasetType"), lambda: DatasetType,
                   "Output dataset types its connections state.")


TYPE_OF_KIND = {
    Kind.DATASET: Dataset, Kind.QUANTUM: Quantum, Kind.DATA_UNIT: DataUnit,
    Kind.DATASET_TYPE: DatasetType, Kind.COLLECTION: Collection,
    Kind.SOFTWARE_VERSION: SoftwareVersion, Kind.CONFIG: Config, Kind.EFD_RECORD: EfdRecord,
    Kind.JOB: Job, Kind.METRIC: Metric, Kind.MEASUREMENT: Measurement, Kind.BLOB: Blob,
    Kind.FLAG: Flag,
    Kind.SPECIFICATION: Specification, Kind.PIPELINE: Pipeline, Kind.TASK: Task,
}
assert set(TYPE_OF_KIND) == set(Kind), "every node kind has a GraphQL type"
NODE_TYPES = list(TYPE_OF_KIND.values())

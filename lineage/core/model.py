"""The graph model: node kinds, edge kinds and the batch that carries them.

Pure data, no engine.  Every node has a ``key`` property that is unique in the
whole graph; its prefix (``dataset:``, ``quantum:`` ...) names the node kind,
so an engine can look a key up by label and index without scanning.

Lineage runs ``Dataset -[:INPUT_TO]-> Quantum -[:PRODUCED]-> Dataset``.
``docs/model.md`` draws the whole model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from enum import Enum

from lineage.core.errors import UserError

__all__ = [
    "Kind", "Rel", "EDGE_ENDPOINTS", "Node", "Edge", "GraphBatch", "ModelError",
    "kind_of_key", "unit_key", "dataset_key", "quantum_key", "collection_key",
    "dataset_type_key", "software_key", "config_key",
    "package_set_key",
    "pipeline_key", "task_key",
]


class ModelError(UserError):
    """A node or edge that does not fit the model; the message names the field."""


class Kind(str, Enum):
    """Node kinds.  The value is the label in the graph."""

    DATA_UNIT = "DataUnit"
    DATASET_TYPE = "DatasetType"
    DATASET = "Dataset"
    COLLECTION = "Collection"
    QUANTUM = "Quantum"
    SOFTWARE_VERSION = "SoftwareVersion"
    CONFIG = "Config"
    EFD_RECORD = "EfdRecord"
    JOB = "Job"
    METRIC = "Metric"
    MEASUREMENT = "Measurement"
    BLOB = "Blob"
    FLAG = "Flag"
    SPECIFICATION = "Specification"
    PIPELINE = "Pipeline"
    TASK = "Task"

    @property
    def prefix(self) -> str:
        return _PREFIX_BY_KIND[self]


_PREFIX_BY_KIND = {
    Kind.DATA_UNIT: "unit",
    Kind.DATASET_TYPE: "dstype",
    Kind.DATASET: "dataset",
    Kind.COLLECTION: "collection",
    Kind.QUANTUM: "quantum",
    Kind.SOFTWARE_VERSION: "software",
    Kind.CONFIG: "config",
    Kind.EFD_RECORD: "efd",
    Kind.JOB: "job",
    Kind.METRIC: "metric",
    Kind.MEASUREMENT: "measurement",
    Kind.BLOB: "blob",
    Kind.FLAG: "flag",
    Kind.SPECIFICATION: "spec",
    Kind.PIPELINE: "pipeline",
    Kind.TASK: "task",
}
_KIND_BY_PREFIX = {p: k for k, p in _PREFIX_BY_KIND.items()}


class Rel(str, Enum):
    """Edge kinds.  The value is the relationship type in the graph."""

    IDENTIFIED_BY = "IDENTIFIED_BY"   # Dataset|Quantum -> DataUnit (its data ID); EfdRecord -> its topic
    PART_OF = "PART_OF"               # DataUnit -> DataUnit (visit -> band, patch -> tract ...)
    OF_TYPE = "OF_TYPE"               # Dataset -> DatasetType
    INPUT_TO = "INPUT_TO"             # Dataset -> Quantum (the quantum read it)
    PRODUCED = "PRODUCED"             # Quantum -> Dataset (the quantum wrote it)
    RAN_WITH = "RAN_WITH"             # Quantum|Job -> SoftwareVersion
    CONFIGURED_BY = "CONFIGURED_BY"   # Quantum -> Config
    CONTAINS = "CONTAINS"             # Collection -> Dataset (RUN, TAGGED), CALIBRATION with validity
    CHAINS = "CHAINS"                 # Collection(CHAINED) -> Collection, with position
    DESCRIBES = "DESCRIBES"           # EfdRecord -> DataUnit (exposure)
    MEASURED = "MEASURED"             # Job -> Dataset|Quantum|DataUnit|Collection (what it measured)
    HAS_MEASUREMENT = "HAS_MEASUREMENT"  # Job -> Measurement
    OF_METRIC = "OF_METRIC"           # Measurement -> Metric
    HAS_BLOB = "HAS_BLOB"             # Measurement -> Blob (a by-product it refers to)
    FLAGS = "FLAGS"                   # Flag -> DataUnit|Dataset|Quantum
    FEEDS = "FEEDS"                   # DatasetType -> DatasetType (some task read one, wrote the other)
    CONTAMINATED_BY = "CONTAMINATED_BY"  # Dataset|Quantum -> Flag (propagated mark: steps, fraction)
    SPECIFIES = "SPECIFIES"           # Specification -> Metric (a threshold on the metric)
    HAS_TASK = "HAS_TASK"             # Pipeline -> Task (a task of the resolved pipeline)
    IMPORTS = "IMPORTS"               # Pipeline -> Pipeline (an import, with include/exclude)
    READS = "READS"                   # Task -> DatasetType (an input connection the YAML states)
    WRITES = "WRITES"                 # Task -> DatasetType (an output connection the YAML states)
    OVERLAPS = "OVERLAPS"             # DataUnit -> DataUnit (visit or visit-detector region on a tract/patch)


#: Which node kinds each edge kind may join, as (source kinds, target kinds).
EDGE_ENDPOINTS: dict[Rel, tuple[frozenset[Kind], frozenset[Kind]]] = {
    Rel.IDENTIFIED_BY: (frozenset({Kind.DATASET, Kind.QUANTUM, Kind.EFD_RECORD}),
                        frozenset({Kind.DATA_UNIT})),
    Rel.PART_OF: (frozenset({Kind.DATA_UNIT}), frozenset({Kind.DATA_UNIT})),
    Rel.OF_TYPE: (frozenset({Kind.DATASET}), frozenset({Kind.DATASET_TYPE})),
    Rel.INPUT_TO: (frozenset({Kind.DATASET}), frozenset({Kind.QUANTUM})),
    Rel.PRODUCED: (frozenset({Kind.QUANTUM}), frozenset({Kind.DATASET})),
    Rel.RAN_WITH: (frozenset({Kind.QUANTUM, Kind.JOB}), frozenset({Kind.SOFTWARE_VERSION})),
    Rel.CONFIGURED_BY: (frozenset({Kind.QUANTUM}), frozenset({Kind.CONFIG})),
    Rel.CONTAINS: (frozenset({Kind.COLLECTION}), frozenset({Kind.DATASET})),
    Rel.CHAINS: (frozenset({Kind.COLLECTION}), frozenset({Kind.COLLECTION})),
    Rel.DESCRIBES: (frozenset({Kind.EFD_RECORD}), frozenset({Kind.DATA_UNIT})),
    Rel.MEASURED: (frozenset({Kind.JOB}),
                   frozenset({Kind.DATASET, Kind.QUANTUM, Kind.DATA_UNIT, Kind.COLLECTION})),
    Rel.HAS_MEASUREMENT: (frozenset({Kind.JOB}), frozenset({Kind.MEASUREMENT})),
    Rel.OF_METRIC: (frozenset({Kind.MEASUREMENT}), frozenset({Kind.METRIC})),
    Rel.HAS_BLOB: (frozenset({Kind.MEASUREMENT}), frozenset({Kind.BLOB})),
    Rel.FLAGS: (frozenset({Kind.FLAG}),
                frozenset({Kind.DATA_UNIT, Kind.DATASET, Kind.QUANTUM})),
    Rel.FEEDS: (frozenset({Kind.DATASET_TYPE}), frozenset({Kind.DATASET_TYPE})),
    Rel.CONTAMINATED_BY: (frozenset({Kind.DATASET, Kind.QUANTUM}), frozenset({Kind.FLAG})),
    Rel.SPECIFIES: (frozenset({Kind.SPECIFICATION}), frozenset({Kind.METRIC})),
    Rel.HAS_TASK: (frozenset({Kind.PIPELINE}), frozenset({Kind.TASK})),
    Rel.IMPORTS: (frozenset({Kind.PIPELINE}), frozenset({Kind.PIPELINE})),
    Rel.READS: (frozenset({Kind.TASK}), frozenset({Kind.DATASET_TYPE})),
    Rel.WRITES: (frozenset({Kind.TASK}), frozenset({Kind.DATASET_TYPE})),
    Rel.OVERLAPS: (frozenset({Kind.DATA_UNIT}), frozenset({Kind.DATA_UNIT})),
}

#: Edge kinds an ingest unit may delete: derived marks only, never recorded history.
REMOVABLE_RELS = frozenset({Rel.CONTAMINATED_BY})

_PROP_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def kind_of_key(key: str) -> Kind:
    """The node kind a key belongs to, from its prefix."""
    prefix, sep, rest = key.partition(":") if isinstance(key, str) else ("", "", "")
    kind = _KIND_BY_PREFIX.get(prefix)
    if kind is None or not sep or not rest:
        known = ", ".join(sorted(_KIND_BY_PREFIX))
        raise ModelError(f"not a node key: {key!r} (a key starts with one of: {known}, then ':')")
    return kind


# --- key builders -----------------------------------------------------------

def unit_key(dimension: str, value, parents: tuple = ()) -> str:
    """Key of a data unit: ``unit:visit:DemoCam/1228``, ``unit:patch:rings/9813/40``.

    ``parents`` are the values of the dimensions this unit's value is unique
    within (instrument for a visit, skymap and tract for a patch).
    """
    parts = [str(p) for p in parents] + [str(value)]
    return f"unit:{dimension}:{'/'.join(parts)}"


def dataset_key(uuid: str) -> str:
    return f"dataset:{uuid}"


def quantum_key(uuid: str) -> str:
    return f"quantum:{uuid}"


def collection_key(name: str) -> str:
    return f"collection:{name}"


def dataset_type_key(name: str) -> str:
    return f"dstype:{name}"


def software_key(name: str) -> str:
    return f"software:{name}"


def config_key(name: str) -> str:
    return f"config:{name}"


def pipeline_key(name: str) -> str:
    """``pipeline:DRP_PIPE_DIR/pipelines/LSSTCam/DRP`` (see docs/model.md for the name)."""
    return f"pipeline:{name}"


def task_key(pipeline: str, label: str) -> str:
    """``task:<pipeline name>/<label>``: one task label of one resolved pipeline."""
    return f"task:{pipeline}/{label}"


# --- nodes, edges, batches ---------------------------------------------------

Scalar = (str, int, float, bool)
_PLAIN = {str, int, float, bool}


_INT64 = (-2**63, 2**63 - 1)
#: Property names already checked against ``_PROP_NAME_RE`` (a few dozen, seen millions
#: of times).
_GOOD_NAMES: set[str] = set()


def _plain(value, where: str = "", name: str | None = None):
    """A value every engine stores and returns unchanged.

    numpy/astropy scalars become builtins; floats keep 15 significant digits
    (what FalkorDB returns for a double, so an export is the same from every
    engine); integers must fit 64 bits and strings must not hold NUL.  Errors
    name ``where`` and the property ``name`` (the text is made only then: this
    runs for every value of every unit).
    """
    if type(value) not in _PLAIN:
        if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):
            value = value.item()
        for t in (bool, int, float, str):  # bool before int: True is an int
            if isinstance(value, t):
                value = t(value)
                break
    t = type(value)
    if t is float and math.isfinite(value):
        return float(f"{value:.15g}")
    if t is int and not _INT64[0] <= value <= _INT64[1]:
        raise ModelError(f"{_place(where, name)}: integer {value} does not fit in 64 bits")
    if t is str and "\x00" in value:
        raise ModelError(f"{_place(where, name)}: text contains a NUL character")
    return value


def _place(where: str, name: str | None) -> str:
    return where if name is None else f"{where}: property {name!r}"


def _check_props(props: dict, where: str, nan: list | None = None) -> dict:
    """Properties must be scalars or lists of scalars (every engine stores those).

    A NaN is left out (a missing value stays missing); its name goes to ``nan``
    when given, so that :mod:`lineage.core.model_spec` can refuse a NaN where a
    number is required."""
    clean = {}
    for name, value in props.items():
        if name not in _GOOD_NAMES:
            if not isinstance(name, str) or not _PROP_NAME_RE.match(name) or name == "key":
                raise ModelError(f"{where}: bad property name {name!r}")
            _GOOD_NAMES.add(name)
        if value is None:
            continue  # a missing value stays missing, never 0 or ""
        value = _plain(value, where, name)
        if isinstance(value, float) and not math.isfinite(value):
            if math.isnan(value):
                if nan is not None:
                    nan.append(name)
                continue
            raise ModelError(f"{where}: property {name!r} is infinite")
        if isinstance(value, (list, tuple)):
            value = [_plain(v, where, name) for v in value]
            if not all(isinstance(v, Scalar) for v in value):
                raise ModelError(f"{where}: property {name!r} must be a list of scalars")
            value = list(value)
        elif isinstance(value, dict):
            value = json.dumps(value, sort_keys=True)
        elif not isinstance(value, Scalar):
            raise ModelError(
                f"{where}: property {name!r} has unsupported type {type(value).__name__}")
        clean[name] = value
    return clean


@dataclass(frozen=True)
class Node:
    key: str
    props: dict = field(default_factory=dict)

    @property
    def kind(self) -> Kind:
        return kind_of_key(self.key)


@dataclass(frozen=True)
class Edge:
    rel: Rel
    src: str
    dst: str
    props: dict = field(default_factory=dict)


class GraphBatch:
    """Nodes and edges to write as one all-or-nothing ingest unit.

    ``add_node`` merges properties of a node added twice; ``add_edge`` keeps
    one edge per (rel, src, dst) and checks it joins the right node kinds;
    ``missing_endpoints`` lists endpoints the store must already hold.
    """

    def __init__(self, source: str = "") -> None:
        self.source = source
        self.nodes: dict[str, dict] = {}
        self.edges: dict[tuple[Rel, str, str], dict] = {}
        #: Edges this unit deletes (before it writes anything): derived marks
        #: such as ``CONTAMINATED_BY`` that a recomputation replaces.
        self.removed_edges: set[tuple[Rel, str, str]] = set()
        #: Where in the input file a node comes from (``"line 42"``), for messages.
        self.origins: dict[str, str] = {}
        #: ``(property, key)`` of NaN values left out of nodes (see ``model_spec``).
        self.nan_props: list[tuple[str, str]] = []
        #: The kind of each key met so far (a dataset's key is met five times or more,
        #: a data unit's thousands: its kind is worked out once).
        self._kinds: dict[str, Kind] = {}

    def kind(self, key: str) -> Kind:
        """The kind of ``key`` (:func:`kind_of_key`, once per key)."""
        kind = self._kinds.get(key)
        if kind is None:
            kind = self._kinds[key] = kind_of_key(key)
        return kind

    def note_origin(self, key: str, where: str) -> None:
        """Say where in the input ``key`` comes from (the first place said wins)."""
        self.origins.setdefault(key, where)

    def __len__(self) -> int:
        return len(self.nodes) + len(self.edges) + len(self.removed_edges)

    def add_node(self, key: str, **props) -> str:
        if self.kind(key) == Kind.DATA_UNIT and "value" in props and props["value"] is not None:
            props["value"] = str(props["value"])  # selectors compare data-unit values as text
        nan: list[str] = []
        clean = _check_props(props, f"{self.source or 'node'} {key}", nan)
        if nan:
            self.nan_props.extend((name, key) for name in nan)
        self.nodes.setdefault(key, {}).update(clean)
        return key

    def add_edge(self, rel: Rel, src: str, dst: str, **props) -> None:
        if type(rel) is not Rel:
            rel = Rel(rel)
        sources, targets = EDGE_ENDPOINTS[rel]
        if self.kind(src) not in sources or self.kind(dst) not in targets:
            raise ModelError(f"{self._edge_where(rel, src, dst)}: {rel.value} joins "
                             f"{sorted(k.value for k in sources)} to "
                             f"{sorted(k.value for k in targets)}")
        edge = self.edges.setdefault((rel, src, dst), {})
        if props:  # most edges carry none: no message text to build, nothing to check
            edge.update(_check_props(props, self._edge_where(rel, src, dst)))

    def _edge_where(self, rel: Rel, src: str, dst: str) -> str:
        """An edge as error messages name it."""
        return f"{self.source or 'edge'} {src} -[{rel.value}]-> {dst}"

    def remove_edge(self, rel: Rel, src: str, dst: str) -> None:
        """Delete this edge when the unit is written (nothing happens if it is absent)."""
        rel = Rel(rel)
        if rel not in REMOVABLE_RELS:
            raise ModelError(f"{self.source or 'batch'}: {rel.value} edges are history and are "
                             "never removed")
        kind_of_key(src), kind_of_key(dst)
        self.removed_edges.add((rel, src, dst))

    def removed_by_shape(self) -> dict[tuple[Rel, Kind, Kind], list[tuple[str, str]]]:
        out: dict[tuple[Rel, Kind, Kind], list] = {}
        for rel, src, dst in self.removed_edges:
            out.setdefault((rel, kind_of_key(src), kind_of_key(dst)), []).append((src, dst))
        return out

    def update(self, other: "GraphBatch") -> None:
        self._kinds.update(other._kinds)
        for key, where in other.origins.items():
            self.note_origin(key, where)
        self.nan_props.extend(other.nan_props)
        for key, props in other.nodes.items():
            self.nodes.setdefault(key, {}).update(props)
        for ident, props in other.edges.items():
            self.edges.setdefault(ident, {}).update(props)
        self.removed_edges |= other.removed_edges

    def missing_endpoints(self, known_keys=frozenset()) -> list[str]:
        """Edge endpoints neither in this batch nor in ``known_keys``."""
        missing = set()
        for _, src, dst in self.edges:
            for key in (src, dst):
                if key not in self.nodes and key not in known_keys:
                    missing.add(key)
        return sorted(missing)

    def derive_type_edges(self, outside_types: dict[str, str],
                          stored_io: dict[str, tuple] | None = None) -> None:
        """Add the ``FEEDS`` edges between dataset types that this batch's quanta imply.

        ``outside_types`` gives the dataset type of datasets stored earlier;
        ``stored_io`` gives, for quanta stored earlier that this batch adds
        edges to, ``(task, input types, output types)`` already stored, so a
        quantum whose inputs and outputs arrive in different units still
        links its types.  The type-level graph lets traversals skip datasets
        that cannot lead to the dataset types asked for.
        """
        def dtype(key):
            props = self.nodes.get(key)
            return props.get("dataset_type") if props else outside_types.get(key)
        inputs: dict[str, set] = {}
        outputs: dict[str, set] = {}
        tasks: dict[str, str] = {}
        for quantum, (task, ins, outs) in (stored_io or {}).items():
            inputs.setdefault(quantum, set()).update(ins)
            outputs.setdefault(quantum, set()).update(outs)
            if task:
                tasks[quantum] = task
        for rel, src, dst in self.edges:
            if rel == Rel.INPUT_TO:
                inputs.setdefault(dst, set()).add(dtype(src))
            elif rel == Rel.PRODUCED:
                outputs.setdefault(src, set()).add(dtype(dst))
        for quantum, ins in inputs.items():
            task = self.nodes.get(quantum, {}).get("task") or tasks.get(quantum)
            for a in ins:
                for b in outputs.get(quantum, ()):
                    if not (a and b):
                        continue
                    for name in (a, b):
                        if dataset_type_key(name) not in self.nodes:
                            self.add_node(dataset_type_key(name), name=name)
                    props = self.edges.setdefault(
                        (Rel.FEEDS, dataset_type_key(a), dataset_type_key(b)), {})
                    if task:
                        props.setdefault("task", task)

    def nodes_by_kind(self) -> dict[Kind, list[tuple[str, dict]]]:
        out: dict[Kind, list[tuple[str, dict]]] = {}
        kind = self.kind
        for key, props in self.nodes.items():
            out.setdefault(kind(key), []).append((key, props))
        return out

    def edges_by_shape(self) -> dict[tuple[Rel, Kind, Kind], list[tuple[str, str, dict]]]:
        """Edges grouped by (rel, source kind, target kind)."""
        out: dict[tuple[Rel, Kind, Kind], list] = {}
        kind = self.kind
        for (rel, src, dst), props in self.edges.items():
            out.setdefault((rel, kind(src), kind(dst)), []).append((src, dst, props))
        return out


def package_set_key(versions: dict[str, str]) -> str:
    """Key of the SoftwareVersion of a set of packages (``{name: version}``):
    ``software:packages-<16 hex>``, a hash of the sorted ``name==version``
    strings, so every ingest that sees the same package set meets one node."""
    import hashlib
    text = "\n".join(sorted(f"{n}=={v}" for n, v in versions.items()))
    return software_key(f"packages-{hashlib.sha256(text.encode()).hexdigest()[:16]}")

"""lsst.verify metric and specification definitions: the YAML files of a
metrics package (``verify_metrics/metrics/<package>.yaml``,
``verify_metrics/specs/<package>/*.yaml``) and the copies a job carries.

Metric definition file: one mapping ``NAME: {description, unit, tags,
reference}``; the package is the file's name.  Specification file: a YAML
stream of documents, each a *partial* (``id:``, a reusable base) or a
specification (``name:``, ``metric:``, ``threshold: {operator, value,
unit}``, ``metadata_query:``, ``tags:``), whose ``base:`` (``#id``,
``path#id``, ``package:path#id`` or a specification name) it inherits
from: mappings merge, lists append, scalars of the document win
(lsst.verify's rules).  The package is the directory under ``specs/``.

Graph: ``metric:<package>.<name>`` (Metric) and ``spec:<package>.<metric>.<name>``
(Specification) with ``SPECIFIES`` to its Metric.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import yaml

from lineage.core.units import OPERATORS, MetricError, canonical_unit
from lineage.core.model import GraphBatch, Rel
from lineage.ingest.driver import IngestError, Parsed
from lineage.ingest.loading import read_text, yaml_documents, yaml_error

SPEC_KEYS = ("threshold", "base", "id")
_PARTIAL = re.compile(r"^(?:(?P<package>[^:#\s]+):)?(?P<path>[^#\s]+)?#(?P<name>\S+)$")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --- graph nodes shared with job files -----------------------------------------

def metric_key(name: str) -> str:
    return f"metric:{name}"


def spec_key(name: str) -> str:
    return f"spec:{name}"


def add_metric(batch: GraphBatch, path, where: str, name: str, definition: dict | None = None) -> str:
    """A Metric node; with ``definition`` (description, unit, tags, reference) its fields too."""
    package, _, short = name.rpartition(".")
    if not package or not short:
        raise IngestError(path, where, f"metric name {name!r} is not <package>.<metric>")
    props = {"name": name, "package": package}
    if definition is not None:
        unit = _unit(path, where, definition.get("unit", ""), f"metric {name}")
        tags = definition.get("tags")
        props.update(
            unit=unit,
            description=" ".join(str(definition.get("description") or "").split()) or None,
            tags=sorted({tags} if isinstance(tags, str) else set(tags or ())),
            reference=definition.get("reference") or None)
    return batch.add_node(metric_key(name), **props)


def add_spec(batch: GraphBatch, path, where: str, name: str, metric: str, doc: dict) -> str:
    """A threshold Specification node of ``metric`` and its SPECIFIES edge."""
    threshold = doc.get("threshold")
    kind = doc.get("type", "threshold")
    if kind != "threshold" or not isinstance(threshold, dict):
        raise IngestError(path, where, f"specification {name}: only threshold specifications "
                                       f"are supported (type {kind!r}, threshold {threshold!r})")
    op = threshold.get("operator")
    if op not in OPERATORS:
        raise IngestError(path, where, f"specification {name}: field threshold.operator is "
                                       f"{op!r}; expected one of {', '.join(OPERATORS)}")
    value = threshold.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise IngestError(path, where, f"specification {name}: field threshold.value is "
                                       f"{value!r}, not a number")
    query = doc.get("metadata_query") or {}
    if not isinstance(query, dict):
        raise IngestError(path, where, f"specification {name}: field metadata_query is not a mapping")
    tags = doc.get("tags") or []
    key = batch.add_node(
        spec_key(name), name=name, metric=metric, package=name.split(".")[0],
        type="threshold", operator=op, threshold=float(value),
        unit=_unit(path, where, threshold.get("unit", ""), f"specification {name}"),
        tags=sorted(set([tags] if isinstance(tags, str) else map(str, tags))),  # one order
        metadata_query=json.dumps(query, sort_keys=True))
    add_metric(batch, path, where, metric)  # endpoint; its definition comes from its own file
    batch.add_edge(Rel.SPECIFIES, key, metric_key(metric))
    return key


def _unit(path, where: str, text, what: str) -> str:
    try:
        return canonical_unit(text)
    except MetricError as exc:
        raise IngestError(path, where, f"{what}: field unit: {exc}") from None


# --- YAML ---------------------------------------------------------------------

def load_documents(path: Path, text: str | None = None) -> list[tuple[int, object, yaml.Node]]:
    """Every document of a YAML stream as (first line, data, node); a syntax
    error is an IngestError naming the line."""
    try:
        return yaml_documents(read_text(path) if text is None else text, _Loader)
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None


def is_spec_file(docs) -> bool:
    return any(isinstance(d, dict) and any(k in d for k in SPEC_KEYS) for _, d, _ in docs)


def is_metric_file(docs) -> bool:
    if len(docs) != 1 or not isinstance(docs[0][1], dict) or not docs[0][1]:
        return False
    return all(isinstance(v, dict) and ("unit" in v or "description" in v)
               for v in docs[0][1].values())


def read_metric_definitions(path: Path, docs) -> Parsed:
    """``<package>.yaml``: one Metric per top-level entry."""
    package = path.stem
    _, entries, node = docs[0]
    lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}
    batch = GraphBatch(str(path))
    for short, definition in entries.items():
        where = f"line {lines.get(str(short), '?')} (metric {short})"
        if "unit" not in definition:
            raise IngestError(path, where, "field unit is missing (use '' for dimensionless)")
        add_metric(batch, path, where, f"{package}.{short}", definition)
    return Parsed(path, batch, counts={"metrics": len(entries)})


def spec_package_dir(path: Path) -> Path:
    """The directory named after the package: the one under ``specs/``, else the file's own."""
    parents = list(path.resolve().parents)
    for child, parent in zip(parents, parents[1:]):
        if parent.name == "specs":
            return child
    return path.resolve().parent


def read_specifications(path: Path, docs) -> Parsed:
    """A specification YAML stream: partials resolved, one Specification per
    specification document."""
    package_dir = spec_package_dir(path)
    resolver = _Resolver(package_dir)
    yaml_id = resolver.yaml_id(path)
    resolver.add_file(path, docs)
    batch = GraphBatch(str(path))
    n = 0
    for line, doc in resolver.specs_of(yaml_id):
        where = f"line {line}"
        name, metric = resolver.full_name(path, where, doc)
        add_spec(batch, path, where, name, metric, doc)
        n += 1
    if not n:
        raise IngestError(path, "", "no specification in this file (only partials)")
    return Parsed(path, batch, counts={"specifications": n,
                                       "partials": resolver.partial_count(yaml_id)})


class _Resolver:
    """Resolves ``base`` inheritance within one package's specification files."""

    def __init__(self, package_dir: Path) -> None:
        self.dir = package_dir
        self.package = package_dir.name
        self.partials: dict[str, tuple[int, dict]] = {}   # package:path#id -> (line, doc)
        self.docs: dict[str, list[tuple[int, dict]]] = {}  # yaml id -> spec documents
        self.resolved_specs: dict[str, dict] = {}         # full spec name -> resolved doc
        self.paths: dict[str, Path] = {}

    def yaml_id(self, path: Path) -> str:
        try:
            rel = path.resolve().relative_to(self.dir)
        except ValueError:
            rel = Path(path.name)
        return rel.with_suffix("").as_posix()

    def add_file(self, path: Path, docs) -> None:
        yid = self.yaml_id(path)
        self.paths[yid] = path
        self.docs[yid] = []
        for line, doc, _ in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise IngestError(path, f"line {line}", "a specification document must be a mapping")
            doc = dict(doc)
            if "base" in doc:
                bases = doc["base"] if isinstance(doc["base"], list) else [doc["base"]]
                doc["base"] = [self._base_name(path, line, yid, b) for b in bases]
            if "id" in doc:
                self.partials[self._partial_id(f"#{doc.pop('id')}", yid)] = (line, doc)
            else:
                self.docs[yid].append((line, doc))

    def partial_count(self, yid: str) -> int:
        return sum(1 for k in self.partials if k.split("#")[0] == f"{self.package}:{yid}")

    def _partial_id(self, text: str, yid: str) -> str:
        m = _PARTIAL.match(text)
        return f"{m.group('package') or self.package}:{m.group('path') or yid}#{m.group('name')}"

    def _base_name(self, path: Path, line: int, yid: str, base) -> str:
        if not isinstance(base, str) or not base:
            raise IngestError(path, f"line {line}", f"field base: {base!r} is not a name")
        if "#" in base:
            if not _PARTIAL.match(base):
                raise IngestError(path, f"line {line}", f"field base: {base!r} is not "
                                                        "[package:][path]#id")
            return self._partial_id(base, yid)
        return base

    def _load_other(self, path: Path, line: int, partial: str) -> None:
        package, rest = partial.split(":", 1)
        yid = rest.split("#")[0]
        other = self.dir / f"{yid}.yaml"
        if package != self.package or yid in self.paths or not other.is_file():
            raise IngestError(path, f"line {line}", f"field base: partial {partial!r} not found")
        self.add_file(other, load_documents(other))

    def resolve(self, path: Path, line: int, doc: dict, seen=()) -> dict:
        built: dict = {}
        for base in doc.get("base", []):
            if base in seen:
                raise IngestError(path, f"line {line}", f"field base: {base!r} inherits from itself")
            if "#" in base:
                if base not in self.partials:
                    self._load_other(path, line, base)
                b_line, b_doc = self.partials[base]
                built = merge(built, self.resolve(path, b_line, b_doc, (*seen, base)))
            else:
                spec = self._spec_named(path, line, base, (*seen, base))
                built = merge(built, spec)
                built["metric"] = spec["metric"]
        own = {k: v for k, v in doc.items() if k != "base"}
        return merge(built, own)

    def _spec_named(self, path: Path, line: int, name: str, seen) -> dict:
        wanted = name if name.count(".") == 2 else f"{self.package}.{name}"
        for yid in list(self.docs):
            for s_line, s_doc in self.docs[yid]:
                resolved = self.resolve(self.paths[yid], s_line, s_doc, seen)
                full, metric = self.full_name(self.paths[yid], f"line {s_line}", resolved)
                if full == wanted:
                    return {**resolved, "metric": metric}
        raise IngestError(path, f"line {line}", f"field base: specification {name!r} not found "
                                                "in this file")

    def specs_of(self, yid: str):
        for line, doc in self.docs[yid]:
            yield line, self.resolve(self.paths[yid], line, doc)

    def full_name(self, path: Path, where: str, doc: dict) -> tuple[str, str]:
        """(``package.metric.spec``, ``package.metric``) of a resolved specification."""
        name = doc.get("name")
        if not isinstance(name, str) or not name:
            raise IngestError(path, where, "field name is missing")
        parts = name.split(".")
        if len(parts) == 3:
            return name, ".".join(parts[:2])
        metric = doc.get("metric")
        if len(parts) == 2:
            metric = parts[0]
        if not isinstance(metric, str) or not metric:
            raise IngestError(path, where, f"specification {name!r}: field metric is missing "
                                           "(neither the document nor its base names one)")
        if "." not in metric:
            metric = f"{self.package}.{metric}"
        return f"{metric}.{parts[-1]}", metric


def merge(base: dict, new: dict) -> dict:
    """lsst.verify's inheritance: mappings merge, lists append, otherwise ``new`` wins."""
    out = copy.deepcopy(base)
    for key, value in new.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = merge(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            out[key] = old + copy.deepcopy(value)
        else:
            out[key] = copy.deepcopy(value)
    return out

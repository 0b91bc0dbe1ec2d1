"""`lineage ingest metrics`: SQuaSH / lsst.verify jobs and metric definitions.

Reads, told apart by content:

* **job JSON** (``dispatch_verify.py`` output, SQuaSH job documents): an object
  with ``measurements`` [{metric, unit, value, identifier, blob_refs}] and
  usually ``meta`` {env {date, ci_*, env_name}, packages, instrument,
  filter_name, dataset_repo_url}, ``metrics`` and ``specs`` (definitions the
  job carried) and ``blobs`` [{identifier, name, data}] (measurement by-products:
  stored as Blob nodes, :meth:`JobReader.blobs`);
* **metric definition YAML** and **specification YAML** of a metrics
  package (:mod:`lineage.ingest.verify_defs`).

A pipe_base task-metadata record (``{"attempts": ...}`` or
``{"scalars", "arrays", "metadata"}``) is not a metrics job: it is listed as
skipped with the kind that reads it (``run``).  Any other JSON is rejected,
naming the missing field.

Graph of a job (``docs/metrics.md``): ``job:squash/<n>`` for a SQuaSH job
number, else ``job:<uuid5 of the job's content>``; ``RAN_WITH`` the
SoftwareVersion of its package set; ``MEASURED`` its instrument and band (or
physical filter); ``HAS_MEASUREMENT`` ``measurement:<job id>/<metric>``
``OF_METRIC`` ``metric:<package>.<name>``; ``HAS_BLOB`` ``blob:<identifier>``
for each of its ``blob_refs``.  A NaN or null value is not stored (the
measurement stays, its value missing, never 0) and is listed.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from pathlib import Path

from lineage.core.units import MetricError, convert, parse_date, parse_unit
from lineage.core.model import (GraphBatch, Rel, collection_key, dataset_key, package_set_key,
                                quantum_key, unit_key)
from lineage.ingest import loading, stored_props
from lineage.ingest.driver import IngestContext, IngestError, Parsed
from lineage.ingest.verify_defs import (add_metric, add_spec, is_metric_file, is_spec_file, load_documents,
                                        metric_key, read_metric_definitions, read_specifications)

SUFFIXES = (".json", ".yaml", ".yml")

#: Namespace of the uuid5 that names a job without a SQuaSH number.
JOB_NAMESPACE = uuid.UUID("2b6f0f4e-8f0a-5c55-9d1e-4c1a7e0b5a61")

#: Instrument names of lsst.verify job metadata -> Butler instrument names
#: (``unit:instrument:<name>``), compared case-insensitively; others are kept as given.
BUTLER_INSTRUMENTS = {"cfht": "MegaPrime", "megaprime": "MegaPrime", "decam": "DECam",
                      "hsc": "HSC", "latiss": "LATISS", "lsstcam": "LSSTCam",
                      "lsstcomcam": "LSSTComCam", "lsstcomcamsim": "LSSTComCamSim"}
BANDS = frozenset("ugrizy")

#: Scalar fields of ``meta`` and ``meta.env`` kept on the Job node as they are.
META_FIELDS = ("instrument", "filter_name", "dataset_name", "dataset_repo_url")
ENV_FIELDS = ("env_name", "ci_id", "ci_name", "ci_dataset", "ci_label", "ci_url", "status",
              "run_id")

#: A blob's content (canonical JSON, UTF-8) up to this many bytes is stored on its node;
#: a larger one keeps its digest and size only.  The real samples' blobs are 68 B-47 KB
#: (per-metric values, error models) or 0.47-0.64 MB (the matched catalogue and the
#: per-star PA1 magnitudes): the graph holds provenance, not catalogues.
BLOB_CONTENT_MAX = 64 * 1024


#: Fields of ``meta`` (or ``meta.env``) that name the Butler data a job measured, and the
#: key each value is: collections (``run``, ``collection``: one name; ``collections``:
#: a list), datasets and quanta (lists of UUIDs).  SQuaSH's ``meta.env.run_id`` is a
#: ticket (``DM-38212``), not a Butler RUN, so it stays a property.
DATA_FIELDS = {"run": collection_key, "collection": collection_key,
               "collections": collection_key, "dataset_ids": dataset_key,
               "quantum_ids": quantum_key}


def read(path: Path, context: IngestContext) -> Parsed:
    if path.suffix.lower() == ".json":
        return _read_json(path, context)
    docs = load_documents(path)
    if is_spec_file(docs):
        return read_specifications(path, docs)
    if is_metric_file(docs):
        return read_metric_definitions(path, docs)
    raise IngestError(path, "", "neither metric definitions (NAME: {unit, description, ...}) "
                                "nor specifications (documents with threshold, base or id)")


def _read_json(path: Path, context: IngestContext) -> Parsed:
    try:
        doc = loading.parse_json(loading.read_text(path), path)
    except json.JSONDecodeError as exc:
        raise IngestError(path, f"line {exc.lineno} column {exc.colno}",
                          f"not valid JSON: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise IngestError(path, "", f"not a metrics job: the top level is a "
                                    f"{type(doc).__name__}, not an object")
    if "measurements" not in doc and _is_task_metadata(doc):
        return Parsed(path, GraphBatch(str(path)), skipped=[
            "the whole file: a pipe_base task-metadata record, not a metrics job "
            "(`lineage ingest run` reads it)"])
    return JobReader(path, doc, store=context.store).read()


def _is_task_metadata(doc: dict) -> bool:
    return "attempts" in doc or {"scalars", "arrays", "metadata"} <= set(doc)


class JobReader:
    """One lsst.verify job document as one ingest unit.  ``store``: where the data its
    metadata names is looked up (:meth:`measured_data`); None links all of it (the caller
    checks that it is stored)."""

    def __init__(self, path: Path, doc: dict, key: str | None = None, store=None) -> None:
        self.path, self.doc, self.key, self.store = path, doc, key, store
        self.batch = GraphBatch(str(path))
        self.skipped: list[str] = []

    def field(self, name: str, kind, where: str = "", doc: dict | None = None,
              required: bool = True):
        """``doc[name]`` checked to be of ``kind``; absent or null and not required: empty."""
        doc = self.doc if doc is None else doc
        value = doc.get(name)
        if value is None:
            if required:
                what = "is missing" if name not in doc else "is null"
                raise IngestError(self.path, where, f"field {name!r} {what}" if where else
                                  f"not a metrics job: field {name!r} {what}")
            return (kind[0] if isinstance(kind, tuple) else kind)()
        if not isinstance(value, kind):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise IngestError(self.path, f"{where}.{name}" if where else f"field {name!r}",
                              f"expected {names}, found {type(value).__name__}")
        return value

    def read(self) -> Parsed:
        measurements = self.field("measurements", list)
        meta = self.field("meta", dict, required=False)
        env = self.field("env", dict, "meta", meta, required=False)
        job = self.job_key()
        metric_units = self.metric_definitions()
        self.job_node(job, meta, env)
        packages = self.software(job, meta)
        self.measured(job, meta)
        self.measured_data(job, meta, env)
        blobs = self.blobs()
        missing = self.measurements(job, measurements, metric_units, blobs)
        specs = self.field("specs", list, required=False)
        for i, spec in enumerate(specs):
            where = f"specs[{i}]"
            if not isinstance(spec, dict):
                raise IngestError(self.path, where, "a specification must be an object")
            name = self.field("name", str, where, spec)
            parts = name.split(".")
            if len(parts) != 3:
                raise IngestError(self.path, where, f"field name {name!r} is not "
                                                    "<package>.<metric>.<spec>")
            add_spec(self.batch, self.path, where, name, ".".join(parts[:2]), spec)
        counts = {"measurements": len(measurements), "missing values": missing,
                  "metric definitions": len(metric_units), "specifications": len(specs),
                  "packages": packages,
                  "blobs": len(blobs),
                  "blobs stored by digest only": sum(not b.get("content") for b in blobs.values())}
        counts = {k: v for k, v in counts.items() if v or k in ("measurements", "missing values")}
        return Parsed(self.path, self.batch, self.skipped, counts)

    def job_key(self) -> str:
        if self.key:
            return self.key
        number = self.doc.get("_job_number", self.doc.get("id"))
        if isinstance(number, int) and not isinstance(number, bool):
            return f"job:squash/{number}"
        text = json.dumps(self.doc, sort_keys=True)
        return f"job:{uuid.uuid5(JOB_NAMESPACE, text)}"

    def metric_definitions(self) -> dict[str, str]:
        """Metric nodes of the definitions the job carries; name -> unit."""
        units = {}
        for i, definition in enumerate(self.field("metrics", list, required=False)):
            where = f"metrics[{i}]"
            if not isinstance(definition, dict):
                raise IngestError(self.path, where, "a metric definition must be an object")
            name = self.field("name", str, where, definition)
            self.field("unit", str, where, definition)
            add_metric(self.batch, self.path, f"{where} ({name})", name, definition)
            units[name] = self.batch.nodes[metric_key(name)]["unit"]
        return units

    def job_node(self, job: str, meta: dict, env: dict) -> None:
        props = {k: meta.get(k) for k in META_FIELDS}
        props.update({k: env.get(k) for k in ENV_FIELDS})
        props = {k: v for k, v in props.items() if isinstance(v, (str, int, float))}
        if isinstance(self.doc.get("_job_number"), int):
            props["squash_job_id"] = self.doc["_job_number"]
        date = env.get("date")
        if date is not None:
            try:
                t = parse_date(date)
            except MetricError as exc:
                raise IngestError(self.path, "field meta.env.date", str(exc)) from None
            tai = t.tai
            tai.precision = 6
            props.update(date=t.isot, time_scale="utc", date_tai=tai.isot, mjd_tai=float(tai.mjd))
        meta_doc = {k: v for k, v in meta.items() if k != "packages"}
        self.batch.add_node(job, source_file=self.path.name, meta=json.dumps(meta_doc, sort_keys=True),
                            **props)

    def software(self, job: str, meta: dict) -> int:
        """The SoftwareVersion of the job's packages (RAN_WITH); how many packages."""
        packages = self.field("packages", (dict, list), "meta", meta, required=False)
        if isinstance(packages, list):
            packages = {p.get("name"): p for p in packages if isinstance(p, dict)}
        versions, shas = {}, {}
        for name, info in packages.items():
            if not isinstance(info, dict):
                raise IngestError(self.path, f"meta.packages.{name}", "expected an object")
            version = info.get("eups_version") or info.get("version") or info.get("git_sha") or ""
            versions[str(name)] = str(version)
            if info.get("git_sha"):
                shas[str(name)] = info["git_sha"]
        if not versions:
            return 0
        key = package_set_key(versions)
        self.batch.add_node(key, name=key.split(":", 1)[1], packages=versions, git_shas=shas,
                            package_list=sorted(f"{n}=={v}" for n, v in versions.items()))
        self.batch.add_edge(Rel.RAN_WITH, job, key)
        return len(versions)

    def measured(self, job: str, meta: dict) -> None:
        """MEASURED edges to the instrument and band (or physical filter) the job names."""
        instrument = meta.get("instrument")
        if isinstance(instrument, str) and instrument:
            name = BUTLER_INSTRUMENTS.get(instrument.lower(), instrument)
            key = self.batch.add_node(unit_key("instrument", name), dimension="instrument",
                                      value=name)
            self.batch.add_edge(Rel.MEASURED, job, key)
        else:
            name = None
        band = meta.get("filter_name")
        if not isinstance(band, str) or not band:
            return
        if band in BANDS:
            key = self.batch.add_node(unit_key("band", band), dimension="band", value=band)
        elif name:
            key = self.batch.add_node(unit_key("physical_filter", band, (name,)),
                                      dimension="physical_filter", value=band, instrument=name)
        else:
            return
        self.batch.add_edge(Rel.MEASURED, job, key)

    def blobs(self) -> dict[str, dict]:
        """Blob nodes ``blob:<identifier>`` of the job's ``blobs``; key -> properties.

        A blob's content is its ``data`` as canonical JSON (sorted keys, no spaces), so
        its ``digest`` (``sha256:<hex>``) and ``size`` (bytes) do not depend on how the
        file was laid out; ``content`` keeps that text up to :data:`BLOB_CONTENT_MAX`."""
        out = {}
        for i, blob in enumerate(self.field("blobs", list, required=False)):
            where = f"blobs[{i}]"
            if not isinstance(blob, dict):
                raise IngestError(self.path, where, "a blob must be an object")
            identifier = self.field("identifier", str, where, blob)
            name = self.field("name", str, where, blob, required=False)
            if "data" not in blob:
                raise IngestError(self.path, f"{where} ({identifier})", "field 'data' is missing")
            content = canonical_json(blob["data"])
            size = len(content.encode())
            key = f"blob:{identifier}"
            if key in out:
                raise IngestError(self.path, f"{where} ({identifier})",
                                  "the identifier names two blobs in this job")
            props = {"identifier": identifier, "name": name or None, "size": size,
                     "digest": blob_digest(content)}
            if size <= BLOB_CONTENT_MAX:
                props["content"] = content
            out[self.batch.add_node(key, **props)] = props
        return out

    def measured_data(self, job: str, meta: dict, env: dict) -> None:
        """MEASURED edges to the collections, datasets and quanta the job's metadata names
        (:data:`DATA_FIELDS`, in ``meta`` or ``meta.env``).  With a store, what it does not
        hold is listed as skipped, not linked: ingesting the job again once the Butler's
        data is stored links it."""
        named: dict[str, str] = {}
        for where, doc in (("meta", meta), ("meta.env", env)):
            for name, key_of in DATA_FIELDS.items():
                value = doc.get(name)
                if value is None:
                    continue
                values = [value] if name in ("run", "collection") else value
                if not isinstance(values, list) or not all(isinstance(v, str) and v
                                                           for v in values):
                    raise IngestError(self.path, f"field {where}.{name}",
                                      "expected a name" if name in ("run", "collection")
                                      else "expected a list of names")
                for v in values:
                    if key_of is not collection_key:
                        try:
                            v = str(uuid.UUID(v))
                        except ValueError:
                            raise IngestError(self.path, f"field {where}.{name}",
                                              f"{v!r} is not a UUID") from None
                    named.setdefault(key_of(v), f"{where}.{name}")
        stored = named.keys() if self.store is None else stored_props(self.store, named)
        for key, field_name in named.items():
            if key in stored:
                self.batch.add_edge(Rel.MEASURED, job, key)
            else:
                self.skipped.append(f"{field_name}: {key} is not stored; not linked "
                                    "(ingest it, then this job again)")

    def measurements(self, job: str, measurements: list, metric_units: dict[str, str],
                     blobs: dict[str, dict]) -> int:
        """Measurement nodes, each ``HAS_BLOB`` the ``blobs`` its ``blob_refs`` name; how
        many have no value (NaN or null: stored without one)."""
        missing = 0
        seen = set()
        job_id = job.split(":", 1)[1]
        for i, m in enumerate(measurements):
            where = f"measurements[{i}]"
            if not isinstance(m, dict):
                raise IngestError(self.path, where, "a measurement must be an object")
            metric = self.field("metric", str, where, m)
            where = f"{where} ({metric})"
            if metric in seen:
                raise IngestError(self.path, where, "the metric is measured twice in this job")
            seen.add(metric)
            if "value" not in m:
                raise IngestError(self.path, where, "field 'value' is missing")
            unit_text = self.field("unit", str, where, m, required=False)
            try:
                unit = parse_unit(unit_text).to_string()
            except MetricError as exc:
                raise IngestError(self.path, where, f"field unit: {exc}") from None
            value = m["value"]
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise IngestError(self.path, where, f"field value is {value!r}, not a number")
            if value is not None and math.isinf(value):
                raise IngestError(self.path, where, "field value is infinite")
            blob_refs = [str(b) for b in m.get("blob_refs") or []]
            unknown = [b for b in blob_refs if f"blob:{b}" not in blobs]
            if unknown:
                raise IngestError(self.path, f"{where}.blob_refs", f"names {', '.join(unknown)}, "
                                  "which no entry of the job's blobs has as identifier")
            props = {"metric": metric, "unit": unit, "identifier": m.get("identifier"),
                     "blob_refs": blob_refs or None}
            if value is None or math.isnan(value):
                missing += 1
                self.skipped.append(f"{metric}: value is {'null' if value is None else 'NaN'}; "
                                    "measurement kept, value left missing")
            else:
                metric_unit = metric_units.get(metric, unit)
                try:
                    in_metric_unit = convert(float(value), unit, metric_unit)
                except MetricError as exc:
                    raise IngestError(self.path, where, f"field unit: measured in {unit!r} but "
                                      f"the metric's unit is {metric_unit!r}: {exc}") from None
                props.update(value=float(value), value_in_metric_unit=in_metric_unit,
                             metric_unit=metric_unit)
            key = self.batch.add_node(f"measurement:{job_id}/{metric}", **props)
            self.batch.add_edge(Rel.HAS_MEASUREMENT, job, key)
            for ref in blob_refs:
                self.batch.add_edge(Rel.HAS_BLOB, key, f"blob:{ref}")
            if metric_key(metric) not in self.batch.nodes:
                add_metric(self.batch, self.path, where, metric)
            self.batch.add_edge(Rel.OF_METRIC, key, metric_key(metric))
        return missing


def canonical_json(value) -> str:
    """``value`` as canonical JSON text: sorted keys, no spaces, non-ASCII kept (a blob's
    content, whose digest must not depend on the file's layout)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=True)


def blob_digest(content: str) -> str:
    """``sha256:<hex>`` of a blob's content (its UTF-8 bytes)."""
    return "sha256:" + hashlib.sha256(content.encode()).hexdigest()

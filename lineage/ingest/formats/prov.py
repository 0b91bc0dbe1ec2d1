"""``lineage ingest prov``: a W3C PROV document that ``lineage prov`` or ``lineage export
--format prov-json`` wrote, read back into the graph (docs/standards.md).

PROV-JSON (``.json``), PROV-XML (``.xml``, ``.provx``) and Turtle (``.ttl``), read with the
``prov`` package (which cannot read PROV-N).  The document must be ours: the ``lsst:``
namespace (:data:`LSST`) and, on every dataset entity and quantum activity, the attributes
the graph needs (key, dataset type, data ID, run; key and task); anything else is an error
naming the file and the record, and nothing of the file is stored.  Datasets, quanta, their
``used`` and ``wasGeneratedBy``, software versions and configs become the graph's nodes and
edges again; flags are verdicts of the repository that made them and are not read (they are
listed as skipped).
"""

from __future__ import annotations

from pathlib import Path

from prov.model import (PROV, Namespace, ProvActivity, ProvAgent, ProvAssociation, ProvDocument,
                        ProvEntity, ProvGeneration, ProvUsage)

from lineage.core.dataid import DataId
from lineage.core.model import Rel
from lineage.ingest.driver import IngestContext, Parsed
from lineage.ingest.provenance import ProvenanceBuilder

#: The namespace of every attribute and identifier survey-lineage writes in PROV.
LSST = Namespace("lsst", "urn:x-survey-lineage:")

#: A deleted dataset's attributes (a tombstone, docs/retention.md), read back as written.
TOMBSTONE = ("deleted_at", "deleted_by", "deleted_reason", "deleted_forced", "files_removed")

#: Formats ``prov`` reads: file suffix -> ``ProvDocument.deserialize`` arguments.
READABLE = {".json": {"format": "json"}, ".xml": {"format": "xml"},
            ".provx": {"format": "xml"}, ".ttl": {"format": "rdf", "rdf_format": "turtle"}}

SUFFIXES = tuple(READABLE)


def read(path: Path, context: IngestContext) -> Parsed:
    path = Path(path)
    b = ProvenanceBuilder(path, context.store)
    doc = read_document(path, b.fail)
    records = lineage_records(doc, b.fail)
    b.look_up(list(records["datasets"]))
    for key, p in records["datasets"].items():
        b.dataset(key.split(":", 1)[1], p["dataset_type"], dict(DataId.parse(p["data_id"])),
                  p["run"], f"entity {key}", uri=p["uri"], checksum=p["checksum"], size=p["size"],
                  **{name: p[name] for name in TOMBSTONE if p[name] is not None})
    for key, p in records["software"].items():
        b.batch.add_node(key, name=p["name"], packages=p["packages"])
    for key, p in records["configs"].items():
        b.batch.add_node(key, task=p["task"], values=p["values"])
    for key, q in records["quanta"].items():
        tai = {"start": q["start_tai"], "end": q["end_tai"]}
        b.quantum(key, q["inputs"], q["outputs"], q["software"], q["config"],
                  at=f"activity {key}", task=q["task"], task_class=q["task_class"],
                  data_id=q["data_id"], run=q["run"], status=q["status"], host=q["host"],
                  peak_memory_mb=q["peak_memory_mb"], **tai,
                  time_scale="tai" if any(tai.values()) else None)
        if q["data_id"]:
            b.units(key, dict(DataId.parse(q["data_id"])), f"activity {key}")
        for dataset, reason in q["rejected"].items():
            b.batch.add_edge(Rel.INPUT_TO, dataset, key, rejected=True, rejected_reason=reason)
    b.check()
    skipped = [f"{records['flags']} flag records: flags are not read (docs/standards.md)"] \
        if records["flags"] else []
    return Parsed(path, b.batch, skipped=skipped, counts={
        "datasets": len(records["datasets"]), "quanta": len(records["quanta"])})


def read_document(path: Path, fail) -> ProvDocument:
    """The PROV document in ``path``, in the format its suffix names."""
    if path.suffix not in READABLE:
        fail("", f"cannot read PROV from a {path.suffix or 'suffix-less'} file; readable: "
                 f"{', '.join(READABLE)} (prov cannot read PROV-N)")
    with open(path, "rb") as source:
        try:
            return ProvDocument.deserialize(source=source, **READABLE[path.suffix])
        except ImportError as exc:   # lxml (XML) and rdflib (Turtle) are an extra
            fail("", f"reading {path.suffix} needs {exc.name}: pip install "
                     "'survey-lineage[prov-formats]'")
        except Exception as exc:  # noqa: BLE001 - prov raises whatever its parser raised
            fail("", f"not a PROV document: {type(exc).__name__}: "
                     f"{str(exc).splitlines()[0] if str(exc) else ''}")


def _record(record) -> str:
    """How an error names a record: its PROV kind and identifier."""
    return f"{type(record).__name__[4:].lower()} {record.identifier}"


def _value(record, name: str, required: bool, fail):
    values = record.get_attribute(LSST[name])
    if not values:
        if required:
            fail(_record(record), f"no lsst:{name}: not a survey-lineage PROV document (docs/standards.md)")
        return None
    return next(iter(values))


def _typed(record, name) -> bool:
    return LSST[name] in record.get_asserted_types()


def lineage_records(doc: ProvDocument, fail) -> dict:
    """What the graph needs from a PROV document we wrote: ``datasets`` (key -> properties),
    ``quanta`` (key -> properties with ``inputs``, ``outputs``, ``software``, ``config``),
    ``software`` and ``configs`` (key -> properties), and ``flags``: how many flag records
    were left out.  ``fail(where, what)`` raises the caller's error."""
    ns = {n.uri for n in doc.get_registered_namespaces()}
    if LSST.uri not in ns:
        fail("", f"not a survey-lineage PROV document: no namespace {LSST.uri} "
                 "(docs/standards.md)")
    by_id: dict = {}
    out: dict = {"datasets": {}, "quanta": {}, "software": {}, "configs": {}, "flags": 0}

    def props(record, names, required):
        return {n: _value(record, n, n in required, fail) for n in names}

    for record in doc.get_records(ProvEntity):
        if _typed(record, "Dataset"):
            p = props(record, ("key", "dataset_type", "data_id", "run", "uri", "checksum", "size",
                               *TOMBSTONE), ("key", "dataset_type", "data_id", "run"))
            out["datasets"][p["key"]] = p
            by_id[record.identifier] = p["key"]
        elif _typed(record, "Config"):
            p = props(record, ("key", "task", "values"), ("key",))
            out["configs"][p["key"]] = p
            by_id[record.identifier] = p["key"]
        elif _typed(record, "Flag"):
            out["flags"] += 1
    for record in doc.get_records(ProvAgent):
        if _value(record, "type", False, fail) == "software":
            p = props(record, ("key", "name", "packages"), ("key",))
            out["software"][p["key"]] = p
            by_id[record.identifier] = p["key"]
    for record in doc.get_records(ProvActivity):
        if _typed(record, "Quantum"):
            p = props(record, ("key", "task", "task_class", "data_id", "run", "status", "host",
                               "peak_memory_mb", "start_tai", "end_tai"), ("key", "task"))
            p.update(inputs=[], outputs=[], software=None, config=None, rejected={})
            out["quanta"][p["key"]] = p
            by_id[record.identifier] = p["key"]
    quanta = out["quanta"]

    def ref(record, attribute: str) -> str | None:
        """The graph key of the record a relation's ``attribute`` names (None: not ours)."""
        return by_id.get(next(iter(record.get_attribute(PROV[attribute])), None))

    for record in doc.get_records(ProvUsage):
        quantum, used = quanta.get(ref(record, "activity")), ref(record, "entity")
        if quantum is None:
            continue
        if used in out["configs"]:
            quantum["config"] = used
        elif used in out["datasets"]:
            quantum["inputs"].append(used)
            if _value(record, "rejected", False, fail):
                quantum["rejected"][used] = _value(record, "rejected_reason", False, fail)
    for record in doc.get_records(ProvGeneration):
        made, maker = ref(record, "entity"), ref(record, "activity")
        if made in out["datasets"] and maker in quanta:
            quanta[maker]["outputs"].append(made)
    for record in doc.get_records(ProvAssociation):
        agent, activity = ref(record, "agent"), ref(record, "activity")
        if agent in out["software"] and activity in quanta:
            quanta[activity]["software"] = agent
    return out

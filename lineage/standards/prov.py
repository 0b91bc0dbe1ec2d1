"""The lineage graph as a W3C PROV document, and a PROV document read back (docs/standards.md).

Datasets are ``prov:Entity``, quanta ``prov:Activity``; a quantum's task is a
``prov:SoftwareAgent`` associated with it under the plan of its task class, its software
version another ``prov:SoftwareAgent``; its config an entity it ``used``.  Every record carries
the graph's own properties in the ``lsst:`` namespace (:data:`LSST`), the node's key among
them, so that :func:`read_document` rebuilds the same lineage from our documents and refuses
PROV that lacks them.  An active flag is an entity made by a ``flagging`` activity of the
flagger, which invalidates the datasets it names directly; contamination marks are attributes
of the datasets they mark.

Graph times are TAI; PROV's ``xsd:dateTime`` is given in UTC (TAI - 37 s), and the TAI text is
kept in ``lsst:start_tai`` and ``lsst:end_tai``.
"""

from __future__ import annotations

import datetime as _dt
from urllib.parse import quote

from prov.model import PROV, ProvDocument

from lineage.core.errors import UserError
from lineage.ingest.formats.prov import LSST, TOMBSTONE
from lineage.core.model import Kind, kind_of_key
from lineage.core.time import utc_stamp_of_tai
from lineage.standards import queries
from lineage.traversal.traverse import DOWN, traverse

#: Serialisation formats: name -> (``ProvDocument.serialize`` arguments; None: PROV-N).
FORMATS: dict[str, dict | None] = {
    "json": {"format": "json"},   # no indent: the C encoder, 2x faster on a whole repository
    "xml": {"format": "xml"},
    "provn": None,
    "turtle": {"format": "rdf", "rdf_format": "turtle"},
}

TIME_NOTE = ("startTime and endTime are UTC, converted from the graph's TAI times "
             "(lsst:start_tai, lsst:end_tai) by TAI - UTC = 37 s")


class ProvError(UserError):
    """A PROV document that cannot be written or read as our lineage."""


def prov_id(key: str):
    """The PROV identifier of a graph node key (``dataset:<uuid>`` -> ``lsst:dataset/<uuid>``)."""
    kind, _, rest = key.partition(":")
    return LSST[f"{kind}/{quote(rest, safe='/.-_')}"]


def _utc(tai: str | None) -> _dt.datetime | None:
    if not tai:
        return None
    return _dt.datetime.fromisoformat(utc_stamp_of_tai(tai).replace("Z", "+00:00"))


def _attributes(pairs) -> dict:
    """``lsst:`` attributes of the pairs whose value is not None."""
    return {LSST[name]: value for name, value in pairs if value is not None}


# --- writing ----------------------------------------------------------------------------------

class SelectionTooLarge(ProvError):
    """A selection reaching more datasets than its caller allows."""


def selection(store, selector, direction: str = DOWN, depth: int | None = None,
              max_datasets: int | None = None) -> tuple[set[str], set[str]]:
    """(dataset keys, quantum keys) of a selector's lineage: the selected datasets and those
    the traversal reaches, and every quantum it steps through; :class:`SelectionTooLarge`
    when it reaches more than ``max_datasets`` (a server's bound on one answer)."""
    tree: dict = {"edges": []}
    rows = traverse(store, selector, direction, depth=depth, tree=tree, ordered=False,
                    max_nodes=max_datasets + 1 if max_datasets is not None else None)
    if max_datasets is not None and len(rows) > max_datasets:
        raise SelectionTooLarge(f"reaches more than {max_datasets} datasets, the limit",
                                field="depth")
    datasets = {r.key for r in rows}
    quanta = set()
    for key in tree["seeds"]:
        (datasets if kind_of_key(key) == Kind.DATASET else quanta).add(key)
    for node, quantum, _ in tree["edges"]:
        quanta.add(quantum or node)   # a step from a quantum seed has no quantum of its own
    return datasets, quanta


def document(store, datasets: set[str] | None = None, quanta: set[str] | None = None
             ) -> ProvDocument:
    """The PROV document of the datasets and quanta named (None: the whole graph): their
    software, configs and tasks, the lineage edges between them, the active flags naming
    those datasets directly and their contamination marks."""
    doc = ProvDocument()
    doc.add_namespace(LSST)
    inputs = [r for r in queries.input_rows(store, quanta) if datasets is None or r[0] in datasets]
    outputs = [r for r in queries.output_rows(store, quanta) if datasets is None or r[1] in datasets]
    marks: dict[str, list[str]] = {}
    for dataset, flag, steps, fraction in queries.contamination_rows(store, datasets):
        marks.setdefault(dataset, []).append(f"{flag} steps={steps} fraction={fraction}")
    deleted = {row[0]: row[1:] for row in queries.deletion_rows(store, datasets)}
    for key, dtype, data_id, run, uri, checksum, size in queries.dataset_rows(store, datasets):
        entity = doc.entity(prov_id(key), {PROV["type"]: LSST["Dataset"], **_attributes([
            ("key", key), ("uuid", key.split(":", 1)[1]), ("dataset_type", dtype),
            ("data_id", data_id or ""), ("run", run), ("uri", uri), ("checksum", checksum),
            ("size", size)])})
        if key in marks:
            entity.add_attributes([(LSST["contaminated_by"], m) for m in marks[key]])
        if key in deleted:   # a tombstone: its provenance kept, its data gone
            entity.add_attributes(_attributes(zip(TOMBSTONE, deleted[key])))
    quantum_rows = queries.quantum_rows(store, quanta)
    _agents(doc, store, quantum_rows)
    for (key, task, task_class, data_id, run, status, start, end, scale, host, memory,
         software, config) in quantum_rows:
        tai = scale in (None, "tai")
        activity = doc.activity(
            prov_id(key), _utc(start) if tai else start, _utc(end) if tai else end,
            {PROV["type"]: LSST["Quantum"], **_attributes([
                ("key", key), ("task", task), ("task_class", task_class),
                ("data_id", data_id or ""), ("run", run), ("status", status), ("host", host),
                ("peak_memory_mb", memory), ("start_tai", start if tai else None),
                ("end_tai", end if tai else None),
                ("time_note", TIME_NOTE if tai and (start or end) else None)])})
        if task:
            doc.wasAssociatedWith(activity, prov_id(f"task:{task}"), prov_id(f"plan:{task_class or task}"))
        if software:
            doc.wasAssociatedWith(activity, prov_id(software),
                                  other_attributes={PROV["role"]: LSST["software"]})
        if config:
            doc.used(activity, prov_id(config), other_attributes={PROV["role"]: LSST["config"]})
    made_by: dict[str, list[str]] = {}
    for dataset, quantum, rejected, reason in inputs:
        extra = _attributes([("rejected", bool(rejected) or None), ("rejected_reason", reason)])
        doc.used(prov_id(quantum), prov_id(dataset), other_attributes=extra or None)
    for quantum, dataset in outputs:
        doc.wasGeneratedBy(prov_id(dataset), prov_id(quantum))
        made_by.setdefault(quantum, []).append(dataset)
    for dataset, quantum, rejected, _ in inputs:
        if not rejected:   # a rejected input was read, but nothing was derived from it
            for output in made_by.get(quantum, ()):
                doc.wasDerivedFrom(prov_id(output), prov_id(dataset), prov_id(quantum))
    _flags(doc, store, datasets)
    return doc


def _agents(doc: ProvDocument, store, quantum_rows) -> None:
    """The tasks, plans, software versions and configs the quanta name."""
    software = {r[11] for r in quantum_rows if r[11]}
    configs = {r[12] for r in quantum_rows if r[12]}
    for task, task_class in sorted({(r[1], r[2]) for r in quantum_rows if r[1]}):
        doc.agent(prov_id(f"task:{task}"), {PROV["type"]: PROV["SoftwareAgent"],
                                        **_attributes([("task", task), ("task_class", task_class)])})
        doc.entity(prov_id(f"plan:{task_class or task}"),
                   {PROV["type"]: PROV["Plan"], **_attributes([("task_class", task_class)])})
    for key, name, packages in queries.software_rows(store, software):
        doc.agent(prov_id(key), {PROV["type"]: PROV["SoftwareAgent"], LSST["type"]: "software",
                             **_attributes([("key", key), ("name", name),
                                            ("packages", packages)])})
    for key, task, values in queries.config_rows(store, configs):
        doc.entity(prov_id(key), {PROV["type"]: LSST["Config"],
                              **_attributes([("key", key), ("task", task), ("values", values)])})


def _flags(doc: ProvDocument, store, datasets: set[str] | None) -> None:
    """Each active flag naming some of ``datasets``: the flag (an entity) made by its flagging
    (an activity of the flagger).  PROV allows one invalidation per entity, so a dataset is
    invalidated by the flagging of the earliest active flag naming it directly (by
    ``created_at``, then key, as flags are listed); each later one is the dataset's attribute
    ``lsst:also_flagged_by`` (its flag key), so no verdict is lost."""
    rows = sorted(queries.active_flag_rows(store, datasets), key=lambda r: (r[4] or "", r[0]))
    made, invalidated = set(), set()
    for flag, verdict, reason, by, created, evidence, dataset in rows:
        flagging = prov_id(f"flagging:{flag.split(':', 1)[1]}")
        at = _dt.datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None
        if flag not in made:
            made.add(flag)
            doc.entity(prov_id(flag), {PROV["type"]: LSST["Flag"], **_attributes([
                ("key", flag), ("verdict", verdict), ("reason", reason), ("by", by),
                ("evidence", evidence)])})
            doc.activity(flagging, at, at, {PROV["type"]: LSST["Flagging"]})
            doc.wasGeneratedBy(prov_id(flag), flagging, at)
            if by:
                agent = prov_id(f"person:{by}")
                doc.agent(agent, {LSST["name"]: by})
                doc.wasAssociatedWith(flagging, agent)
        if dataset in invalidated:
            for entity in doc.get_record(prov_id(dataset)):
                entity.add_attributes([(LSST["also_flagged_by"], flag)])
        else:
            invalidated.add(dataset)
            doc.wasInvalidatedBy(prov_id(dataset), flagging, at)


def serialize(doc: ProvDocument, fmt: str) -> str:
    """The document as text in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise ProvError(f"unknown PROV format {fmt!r}; known: {', '.join(FORMATS)}",
                        field="format")
    args = FORMATS[fmt]
    try:
        return doc.get_provn() + "\n" if args is None else doc.serialize(**args)
    except ImportError as exc:   # lxml (XML) and rdflib (Turtle) are an extra
        raise ProvError(f"PROV {fmt} needs {exc.name}: pip install "
                        "'survey-lineage[prov-formats]'", field="format") from None

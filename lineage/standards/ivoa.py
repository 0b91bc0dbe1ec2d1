"""The lineage graph as the IVOA Provenance Data Model serialises it (ProvDM 1.0, IVOA
Recommendation 2020), and the questions of its access protocol, ProvSAP (docs/standards.md,
"IVOA provenance").

ProvDM builds on W3C PROV: its core classes (Entity, Activity, Agent, Used, WasGeneratedBy,
WasAssociatedWith, WasDerivedFrom ...) are PROV's, with attributes in the ``voprov:``
namespace (:data:`VOPROV`); it adds the description of an activity (ActivityDescription)
and of its configuration (Parameter, ParameterDescription).  The ``prov`` package has no
record types for those, so they are written the way PROV carries an extension: as entities
typed ``voprov:ActivityDescription``, ``voprov:Parameter``, ``voprov:ParameterDescription``,
and the ProvDM relations between them (``isDescribedBy``, ``wasConfiguredBy``) as
``wasInfluencedBy`` records typed with the relation's name.  So every PROV reader reads the
document, and nothing of :func:`lineage.standards.prov.document` is lost: the IVOA document
is the W3C one with the ``voprov:`` classes and attributes added (:func:`ivoa_document`).

The PROV-VOTABLE serialisation (:func:`votable`) is one VOTable TABLE per record kind
present (entity, activity, agent, used, wasGeneratedBy ...), a row per record and a FIELD
per attribute, written with ``astropy.io.votable``.
"""

from __future__ import annotations

import io
import json
import uuid
from urllib.parse import unquote

from astropy.io.votable.tree import Field, Info, Resource, TableElement, VOTableFile
from prov.constants import PROV_N_MAP, PROV_VALUE
from prov.model import (PROV, Namespace, ProvActivity, ProvAgent, ProvAssociation, ProvDocument,
                        ProvEntity, ProvUsage)

from lineage.core.errors import UserError
from lineage.core.model import Kind, ModelError, kind_of_key
from lineage.core.selector import Selector
from lineage.ingest.formats.prov import LSST
from lineage.standards import prov as w3c
from lineage.traversal.traverse import DOWN, UP

#: The namespace of ProvDM's classes and attributes, as its implementations write it.
VOPROV = Namespace("voprov", "http://www.ivoa.net/documents/ProvenanceDM/ns/voprov/")

#: ProvSAP's DIRECTION values: BACK is what the IDs were made from, FORTH what was made
#: from them.
DIRECTIONS = {"BACK": UP, "FORTH": DOWN}

#: MODEL: IVOA (ProvDM: the W3C document with the voprov classes) or W3C (PROV only).
MODELS = ("IVOA", "W3C")

#: RESPONSEFORMAT -> (media type of the answer, :func:`lineage.standards.prov.serialize`
#: format; None: PROV-VOTABLE).
FORMATS: dict[str, tuple[str, str | None]] = {
    "PROV-JSON": ("application/json", "json"),
    "PROV-N": ("text/provenance-notation; charset=utf-8", "provn"),
    "PROV-XML": ("application/xml", "xml"),
    "PROV-VOTABLE": ("application/x-votable+xml", None),
}

#: The media types a RESPONSEFORMAT may also be given as.
MEDIA_TYPES = {"application/json": "PROV-JSON", "text/provenance-notation": "PROV-N",
               "application/xml": "PROV-XML", "application/x-votable+xml": "PROV-VOTABLE"}

#: Python type of a config value -> the VOTable datatype ProvDM's valueType takes.
VALUE_TYPES = {bool: "boolean", int: "long", float: "double", str: "char"}


class ProvenanceRequestError(UserError):
    """A ProvSAP request that cannot be answered; ``field`` names the parameter."""


# --- the question -----------------------------------------------------------------------------

def node_key(identifier: str) -> str:
    """The graph key an ID names: a dataset UUID, a dataset or quantum key
    (``dataset:<uuid>``), or the identifier our documents give it (``lsst:dataset/<uuid>``,
    or the same in full, ``urn:x-survey-lineage:dataset/<uuid>``)."""
    text = identifier.strip()
    for prefix in (f"{LSST.prefix}:", LSST.uri):
        if text.startswith(prefix) and "/" in text:
            kind, _, rest = text[len(prefix):].partition("/")
            text = f"{kind}:{unquote(rest)}"
            break
    try:
        return f"dataset:{uuid.UUID(text)}"
    except ValueError:
        pass
    try:
        kind = kind_of_key(text)
    except ModelError:   # not a key of any kind: said below
        kind = None
    if kind not in (Kind.DATASET, Kind.QUANTUM):
        raise ProvenanceRequestError(
            f"{identifier[:200]!r} is not a dataset or quantum identifier (a dataset UUID, "
            "dataset:<uuid>, quantum:<uuid>, or lsst:dataset/<uuid> as the documents give it)",
            field="ID")
    return text


def provenance(store, identifiers: list[str], direction: str = "BACK", depth: int | None = 1,
               model: str = "IVOA", max_datasets: int | None = None) -> ProvDocument:
    """The provenance document of the nodes ``identifiers`` name (:func:`node_key`):
    ``depth`` steps (quanta) ``direction`` of them (None: all), as ProvDM (``model`` IVOA)
    or plain W3C PROV.  Refused, naming the parameter: an ID naming nothing in the graph,
    and a selection of more than ``max_datasets`` datasets."""
    if not identifiers:
        raise ProvenanceRequestError("required: the dataset or quantum to describe",
                                     field="ID")
    keys = {}
    for identifier in identifiers:
        keys.setdefault(node_key(identifier), identifier)
    found = store.lookup(list(keys))
    missing = [identifier for key, identifier in keys.items() if key not in found]
    if missing:
        raise ProvenanceRequestError(f"{missing[0][:200]!r} names nothing in this graph",
                                     field="ID")
    if depth == 0:   # the nodes themselves
        datasets = {k for k in keys if kind_of_key(k) == Kind.DATASET}
        quanta = set(keys) - datasets
    else:
        try:
            datasets, quanta = w3c.selection(
                store, Selector(" ".join(keys), keys=tuple(keys)), DIRECTIONS[direction],
                depth, max_datasets=max_datasets)
        except w3c.SelectionTooLarge as exc:
            raise ProvenanceRequestError(f"the provenance asked for {exc}: ask for a smaller "
                                         "DEPTH", field="DEPTH") from None
    doc = w3c.document(store, datasets, quanta)
    return ivoa_document(doc) if model == "IVOA" else doc


# --- the IVOA model ---------------------------------------------------------------------------

def _one(record, name: str):
    """The value of the ``lsst:`` attribute ``name`` of a record (None when absent)."""
    values = record.get_attribute(LSST[name])
    return next(iter(values)) if values else None


def _types(record) -> set[str]:
    return {str(t) for t in record.get_asserted_types()}


def ivoa_document(doc: ProvDocument) -> ProvDocument:
    """``doc`` (a document of :func:`lineage.standards.prov.document`) with ProvDM's classes
    and attributes added: a ``voprov:name`` on every entity, activity and agent, a dataset's
    ``voprov:location``, the flagger a ``prov:Person``; each task's plan an
    ActivityDescription its quanta are described by; each config value a Parameter the
    quantum was configured by, described by a ParameterDescription of its task."""
    doc.add_namespace(VOPROV)
    voprov_name = VOPROV["name"]
    configs: dict[str, tuple] = {}   # config entity id -> (its record, quanta it configured)
    for record in list(doc.get_records()):
        types = _types(record)
        if isinstance(record, ProvEntity):
            if "lsst:Dataset" in types:
                record.add_attributes([(voprov_name, f"{_one(record, 'dataset_type')} "
                                                     f"{_one(record, 'data_id')}")])
                if _one(record, "uri"):
                    record.add_attributes([(VOPROV["location"], _one(record, "uri"))])
            elif "prov:Plan" in types:
                record.add_attributes([(PROV["type"], VOPROV["ActivityDescription"]),
                                       (voprov_name, _one(record, "task_class"))])
            elif "lsst:Config" in types:
                record.add_attributes([(voprov_name, _one(record, "key"))])
                configs[str(record.identifier)] = (record, [])
            elif "lsst:Flag" in types:
                record.add_attributes([(voprov_name, f"flag {_one(record, 'verdict')}: "
                                                     f"{_one(record, 'reason')}")])
        elif isinstance(record, ProvActivity):
            name = (f"{_one(record, 'task')} {_one(record, 'data_id')}"
                    if "lsst:Quantum" in types else "flagging")
            record.add_attributes([(voprov_name, name)])
        elif isinstance(record, ProvAgent):
            if not types:   # the person who flagged
                record.add_attributes([(PROV["type"], PROV["Person"])])
            record.add_attributes([(voprov_name, _one(record, "task") or _one(record, "name"))])
    for record in list(doc.get_records()):
        if isinstance(record, ProvAssociation):
            attributes = dict(record.formal_attributes)
            plan = attributes.get(PROV["plan"])
            if plan is not None:
                doc.influence(attributes[PROV["activity"]], plan, other_attributes={
                    PROV["type"]: VOPROV["isDescribedBy"]})
        elif isinstance(record, ProvUsage):
            attributes = dict(record.formal_attributes)
            config = configs.get(str(attributes[PROV["entity"]]))
            if config is not None:
                config[1].append(attributes[PROV["activity"]])
    descriptions: set[str] = set()
    for config, quanta in configs.values():
        _parameters(doc, config, quanta, descriptions)
    return doc


def _parameters(doc: ProvDocument, config, quanta, descriptions: set[str]) -> None:
    """One Parameter per value of ``config`` (an ``lsst:Config`` entity), each configuring
    ``quanta`` and described by a ParameterDescription of the config's task, written once
    for all the task's configs (``descriptions``: the ones written)."""
    key, task = _one(config, "key"), _one(config, "task")
    values = json.loads(_one(config, "values") or "{}")
    for name, value in sorted(values.items()):
        plain = value if type(value) in VALUE_TYPES else json.dumps(value, sort_keys=True)
        described = w3c.prov_id(f"parameterDescription:{task}/{name}")
        if str(described) not in descriptions:
            descriptions.add(str(described))
            doc.entity(described, {
                PROV["type"]: VOPROV["ParameterDescription"], VOPROV["name"]: name,
                VOPROV["valueType"]: VALUE_TYPES.get(type(value), "char"), LSST["task"]: task})
        parameter = doc.entity(w3c.prov_id(f"parameter:{key.split(':', 1)[1]}/{name}"), {
            PROV["type"]: VOPROV["Parameter"], VOPROV["name"]: name, PROV_VALUE: plain,
            LSST["config"]: key})
        doc.influence(parameter, described, other_attributes={
            PROV["type"]: VOPROV["isDescribedBy"]})
        for quantum in quanta:
            doc.influence(quantum, parameter, other_attributes={
                PROV["type"]: VOPROV["wasConfiguredBy"], VOPROV["artefactType"]: "Parameter"})


# --- serialisations ---------------------------------------------------------------------------

def _text(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def votable(doc: ProvDocument) -> bytes:
    """PROV-VOTABLE: one TABLE per kind of record in ``doc`` (named as PROV-N names it:
    entity, activity, used ...), a row per record; its FIELDs are ``prov:id`` (empty for
    an unnamed relation), the kind's formal attributes (``prov:activity``, ``prov:time``
    ...) and every other attribute any of its records has, as text (several values of
    one attribute joined by ``"; "``)."""
    kinds: dict[str, list] = {}
    for record in doc.get_records():
        kinds.setdefault(PROV_N_MAP[record.get_type()], []).append(record)
    vot = VOTableFile()
    resource = Resource(type="results")
    vot.resources.append(resource)
    resource.infos.append(Info(name="QUERY_STATUS", value="OK"))
    for kind, records in kinds.items():
        columns = ["prov:id"]
        rows = []
        for record in records:
            row: dict[str, list[str]] = {"prov:id": [str(record.identifier or "")]}
            for name, value in [*record.formal_attributes, *record.extra_attributes]:
                if value is None:
                    continue
                name = str(name)
                if name not in columns:
                    columns.append(name)
                row.setdefault(name, []).append(_text(value))
            rows.append(row)
        table = TableElement(vot, ID=kind, name=kind, utype=f"prov:{kind}")
        resource.tables.append(table)
        # XML IDs are unique in a document: a field's is its table's and its position
        table.fields.extend(Field(vot, ID=f"{kind}_{i}", name=c, datatype="unicodeChar",
                                  arraysize="*", utype=c) for i, c in enumerate(columns))
        table.create_arrays(len(rows))
        for i, row in enumerate(rows):
            table.array[i] = tuple("; ".join(row.get(c, ())) for c in columns)
    out = io.BytesIO()
    vot.to_xml(out)
    return out.getvalue()


def error_votable(message: str) -> bytes:
    """A DALI error document: a VOTable whose results resource holds
    ``<INFO name="QUERY_STATUS" value="ERROR">message</INFO>``."""
    vot = VOTableFile()
    resource = Resource(type="results")
    vot.resources.append(resource)
    info = Info(name="QUERY_STATUS", value="ERROR")
    info.content = message
    resource.infos.append(info)
    out = io.BytesIO()
    vot.to_xml(out)
    return out.getvalue()


def serialize(doc: ProvDocument, response_format: str) -> bytes:
    """The document in a RESPONSEFORMAT of :data:`FORMATS`."""
    fmt = FORMATS[response_format][1]
    return votable(doc) if fmt is None else w3c.serialize(doc, fmt).encode()

"""Graph building shared by every execution-provenance reader (``lineage ingest run``).

Quanta, datasets, collections, software versions, configs and data units
follow the conventions of :mod:`lineage.demo`, so lineage queries
(``lineage upstream/downstream``) work on ingested runs as on the demo.
"""

from __future__ import annotations

import hashlib
import json

from lineage.core.dataid import format_data_id
from lineage.core.time import ZoneError, parse_iso, span_props
from lineage.core.model import (GraphBatch, Rel, collection_key, config_key, dataset_key, dataset_type_key,
                                software_key, unit_key)
from lineage.ingest.driver import IngestError
from lineage.ingest.invariants import LineageChecks

#: Dimensions whose values are unique within an instrument (key parents ``(instrument,)``).
INSTRUMENT_SCOPED = frozenset({"exposure", "visit", "detector", "physical_filter", "day_obs",
                               "group"})


#: The dimension a unit is ``PART_OF`` because its value is unique only within it, as the
#: Butler-export ingest links them: a visit is part of its instrument, a patch of its tract.
SCOPE_PARENT = {**{d: "instrument" for d in INSTRUMENT_SCOPED}, "tract": "skymap",
                "patch": "tract"}


def unit_parents(dimension: str, data_id: dict) -> tuple:
    """The parent values of a data unit's key (docs/model.md); KeyError names the missing one."""
    if dimension in INSTRUMENT_SCOPED:
        return (data_id["instrument"],)
    if dimension == "tract":
        return (data_id["skymap"],)
    if dimension == "patch":
        return (data_id["skymap"], data_id["tract"])
    return ()


def times(start: str | None, end: str | None, scale: str) -> dict:
    """``start``/``end`` in TAI (ISO, ``time_scale: "tai"``) with UTC copies, from ISO
    text in ``scale``; a UTC offset in the text is allowed only for UTC.
    ValueError says what is wrong."""
    from astropy.time import Time
    ends = {}
    for name, text in (("start", start), ("end", end)):
        if text is None:
            ends[name] = None
            continue
        try:
            ends[name] = Time(parse_iso(text, scale), scale=scale)
        except ZoneError:
            raise ValueError(f"{name} {text!r} has a UTC offset but time_scale is {scale}") from None
    return span_props(ends["start"], ends["end"], ("start", "end"), precision=3, with_mjd=False)


class ProvenanceBuilder:
    """One ingest unit of execution provenance, with a view of what is stored."""

    def __init__(self, path, store, merges: bool = False) -> None:
        self.path = path
        self.batch = GraphBatch()
        self.store = store
        self.stored: dict[str, str | None] = {}
        #: One producer, no cycles, one record per quantum (:mod:`.invariants`).
        self.lineage = LineageChecks(self.fail, merges)

    def check(self) -> None:
        """The lineage invariants over the whole file and what is stored; call once built."""
        self.lineage.check(self.store, self.batch)

    def fail(self, where: str, what: str):
        raise IngestError(self.path, where, what)

    def look_up(self, keys) -> None:
        """Remember which of ``keys`` are stored (and their dataset types)."""
        keys = sorted(set(keys) - set(self.stored))
        if keys and self.store is not None:
            self.stored.update(self.store.lookup(keys))

    def collection(self, name: str) -> str:
        return self.batch.add_node(collection_key(name), name=name, collection_type="RUN")

    def units(self, owner: str, data_id: dict, where: str) -> None:
        """``IDENTIFIED_BY`` edges from ``owner`` to the data units of ``data_id``
        (instrument and skymap only when nothing more specific names them, as in
        the demo: they are the parents of the other units' keys, and those units are
        ``PART_OF`` them, so ``instrument=X`` selects what they identify)."""
        scoping = {"instrument", "skymap"}
        for dim, value in data_id.items():
            if dim in scoping and set(data_id) - scoping:
                continue
            self.batch.add_edge(Rel.IDENTIFIED_BY, owner, self._unit(dim, data_id, where))

    def _unit(self, dim: str, data_id: dict, where: str) -> str:
        """The data unit of ``dim`` in ``data_id``, ``PART_OF`` its scope (:data:`SCOPE_PARENT`)."""
        try:
            key = unit_key(dim, data_id[dim], unit_parents(dim, data_id))
        except KeyError as exc:
            self.fail(f"{where}.data_id", f"{dim} needs {exc.args[0]} in the same data ID")
        self.batch.add_node(key, dimension=dim, value=str(data_id[dim]))
        parent = SCOPE_PARENT.get(dim)
        if parent is not None:
            self.batch.add_edge(Rel.PART_OF, key, self._unit(parent, data_id, where))
        return key

    def dataset(self, uuid: str, dataset_type: str | None, data_id: dict | None, run: str | None,
                where: str, **props) -> str:
        """A dataset record: node, ``OF_TYPE``, ``CONTAINS`` from its run, ``IDENTIFIED_BY``."""
        key = dataset_key(uuid)
        self.lineage.dataset(key, where, (dataset_type,
                                          None if data_id is None else format_data_id(data_id),
                                          run))
        stored_type = self.stored.get(key)
        if dataset_type and stored_type and stored_type != dataset_type:
            self.fail(where, f"dataset {uuid} is stored as a {stored_type}, "
                             f"the file says {dataset_type}")
        self.batch.add_node(key, dataset_type=dataset_type,
                            data_id=None if data_id is None else format_data_id(data_id),
                            run=run, **props)
        if dataset_type:
            self.batch.add_node(dataset_type_key(dataset_type), name=dataset_type)
            self.batch.add_edge(Rel.OF_TYPE, key, dataset_type_key(dataset_type))
        if run:
            self.batch.add_edge(Rel.CONTAINS, self.collection(run), key)
        if data_id:
            self.units(key, data_id, where)
        return key

    def reference(self, uuid: str, where: str, **record) -> str:
        """A dataset the file only refers to: stored ones are linked as they are;
        others are created from the reference."""
        key = dataset_key(uuid)
        if key in self.stored and key not in self.batch.nodes:
            stored_type = self.stored[key]
            if record.get("dataset_type") and stored_type and stored_type != record["dataset_type"]:
                self.fail(where, f"dataset {uuid} is stored as a {stored_type}, "
                                 f"the file says {record['dataset_type']}")
            return key
        if key in self.batch.nodes:
            return key
        return self.dataset(uuid, record.pop("dataset_type", None), record.pop("data_id", None),
                            record.pop("run", None), where, **record)

    def software(self, name: str, packages: dict | None = None) -> str:
        return self.batch.add_node(software_key(name), name=name,
                                   packages=json.dumps(packages, sort_keys=True)
                                   if packages else None)

    def config(self, task: str, values: dict) -> str:
        text = json.dumps(values, sort_keys=True)
        key = config_key(f"{task}/{hashlib.sha1(text.encode()).hexdigest()[:12]}")
        return self.batch.add_node(key, task=task, values=text)

    def quantum(self, key: str, inputs=(), outputs=(), software: str | None = None,
                config: str | None = None, *, at: str | None = None, **props) -> str:
        """A quantum with its ``INPUT_TO`` and ``PRODUCED`` edges; ``at`` names where the
        file gives it, for errors (a quantum given twice, reading its own output ...)."""
        inputs, outputs = list(inputs), list(outputs)
        record = json.dumps({"software": software, "config": config, **props}, sort_keys=True,
                            default=str)
        if not self.lineage.quantum(key, at or key, inputs, outputs, props.get("task"), record):
            return key
        self.batch.add_node(key, **props)
        for d in inputs:
            self.batch.add_edge(Rel.INPUT_TO, d, key)
        for d in outputs:
            self.batch.add_edge(Rel.PRODUCED, key, d)
        if software:
            self.batch.add_edge(Rel.RAN_WITH, key, software)
        if config:
            self.batch.add_edge(Rel.CONFIGURED_BY, key, config)
        return key

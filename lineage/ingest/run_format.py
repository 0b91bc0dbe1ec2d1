"""Our own run-provenance JSON (``"format": "survey-lineage/run"``, version 1).

The format is documented in ``docs/run-format.md`` and defined by the JSON
Schema shipped with the package (``schemas/run-v1.schema.json``); a file is
checked against it with ``jsonschema`` before anything is built, and the
first error names its JSON path (``$.quanta[3].status``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from lineage.core.dataid import format_data_id
from lineage.core.model import quantum_key
from lineage.ingest.provenance import ProvenanceBuilder, times

FORMAT = "survey-lineage/run"
SCHEMA_FILE = "run-v1.schema.json"


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(resources.files(__package__).joinpath("schemas", SCHEMA_FILE).read_text())


def is_ours(doc) -> bool:
    return isinstance(doc, dict) and doc.get("format") == FORMAT


def validate(path, doc: dict, fail) -> None:
    """Check ``doc`` against the schema; ``fail(where, what)`` with the JSON path of the
    most relevant error."""
    import jsonschema
    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        fail(error.json_path, error.message)


def build(b: ProvenanceBuilder, doc: dict) -> dict[str, int]:
    """Fill ``b`` from a validated document; returns counts for the summary."""
    run = doc["run"]
    collection = b.collection(run["collection"])
    b.batch.add_node(collection, pipeline=run.get("pipeline"), description=run.get("description"))
    default_sw = run.get("software")
    refs = [(f"$.quanta[{i}].inputs[{j}]", r) for i, q in enumerate(doc["quanta"])
            for j, r in enumerate(q["inputs"])]
    b.look_up(f"dataset:{r['id']}" for _, r in refs)
    b.look_up(f"dataset:{d['id']}" for d in doc.get("datasets", []))
    for i, d in enumerate(doc.get("datasets", [])):
        _dataset(b, d, f"$.datasets[{i}]")
    for i, q in enumerate(doc["quanta"]):
        for j, d in enumerate(q["outputs"]):
            _dataset(b, d, f"$.quanta[{i}].outputs[{j}]")
    n_inputs = 0
    for i, q in enumerate(doc["quanta"]):
        where = f"$.quanta[{i}]"
        inputs = []
        for j, r in enumerate(q["inputs"]):
            r = dict(r)
            inputs.append(b.reference(r.pop("id"), f"{where}.inputs[{j}]", **r))
        n_inputs += len(inputs)
        sw = q.get("software") or default_sw
        software = b.software(sw["name"], sw.get("packages")) if sw else None
        config = b.config(q["task"], q["config"]) if "config" in q else None
        try:
            when = times(q.get("start"), q.get("end"), q.get("time_scale", "utc"))
        except ValueError as exc:
            b.fail(where, str(exc))
        key = b.quantum(quantum_key(q["id"]), inputs,
                        [f"dataset:{d['id']}" for d in q["outputs"]], software, config, at=where,
                        task=q["task"], task_class=q.get("task_class"),
                        data_id=format_data_id(q["data_id"]) if "data_id" in q else None,
                        run=run["collection"],
                        status=q["status"], host=q.get("host"),
                        peak_memory_mb=q.get("peak_memory_mb"), cpu_time_s=q.get("cpu_time_s"),
                        error=q.get("error"), **when)
        if q.get("data_id"):
            b.units(key, q["data_id"], where)
    return {"quanta": len(doc["quanta"]),
            "datasets": sum(len(q["outputs"]) for q in doc["quanta"]) + len(doc.get("datasets", [])),
            "inputs": n_inputs}


def _dataset(b: ProvenanceBuilder, d: dict, where: str) -> str:
    extra = {k: d[k] for k in ("uri", "size", "checksum") if k in d}
    return b.dataset(d["id"], d["dataset_type"], d["data_id"], d["run"], where, **extra)

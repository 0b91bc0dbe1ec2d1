"""Moving flags between repositories: export with history, import and recompute."""

from __future__ import annotations

import json
from typing import IO, Iterable

from lineage.core.model import GraphBatch, ModelError, Rel
from lineage.export import records_to_units
from lineage.flags import queries
from lineage.flags.core import VERDICTS
from lineage.flags.records import flag_record, recompute


def iter_flag_records(store) -> Iterable[dict]:
    """Flags with their history, their targets and the rejected inputs, in a stable order."""
    for key, props in sorted(queries.all_flags(store)):
        rec = flag_record(key, props)
        rec.pop("active")
        rec.pop("key")
        yield {"node": key, "kind": "Flag", "props": dict(sorted(rec.items()))}
    for src, dst in sorted(queries.flag_targets(store)):
        yield {"edge": Rel.FLAGS.value, "src": src, "dst": dst, "props": {}}
    for src, dst, props in sorted(queries.rejected_inputs(store), key=lambda r: (r[0], r[1])):
        props = {k: v for k, v in dict(props).items() if k.startswith("rejected")}
        yield {"edge": Rel.INPUT_TO.value, "src": src, "dst": dst,
               "props": dict(sorted(props.items()))}


def export_flags(store, out: IO[str]) -> int:
    n = 0
    for rec in iter_flag_records(store):
        out.write(json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n")
        n += 1
    return n


def _check_record(rec, where: str) -> None:
    if not isinstance(rec, dict):
        raise ModelError(f"{where}: not a JSON object")
    if "node" in rec:
        if rec.get("kind") != "Flag" or not str(rec["node"]).startswith("flag:"):
            raise ModelError(f"{where}: a flags file holds Flag nodes only, not {rec['node']!r}")
        props = rec.get("props")
        if not isinstance(props, dict):
            raise ModelError(f"{where}: 'props' must be an object")
        for name in ("verdict", "reason", "by", "created_at", "selector"):
            if name not in props:
                raise ModelError(f"{where}: flag {rec['node']} lacks {name!r}")
        if props["verdict"] not in VERDICTS:
            raise ModelError(f"{where}: verdict {props['verdict']!r} is not one of "
                             f"{', '.join(VERDICTS)}")
    elif rec.get("edge") == Rel.FLAGS.value:
        pass
    elif rec.get("edge") == Rel.INPUT_TO.value:
        if (rec.get("props") or {}).get("rejected") is not True:
            raise ModelError(f"{where}: an INPUT_TO record must carry rejected: true")
    else:
        raise ModelError(f"{where}: expected a Flag node, a FLAGS edge or a rejected INPUT_TO "
                         "edge")


def import_flags(store, lines: IO[str], name: str = "<input>") -> dict:
    """Read a flags export: all of it is written as one unit (or nothing, on any error),
    then every imported flag is propagated here."""

    def records():
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"line {lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ModelError(f"{name}: {where}: not JSON ({exc.msg})") from None
            try:
                _check_record(rec, where)
            except ModelError as exc:
                raise ModelError(f"{name}: {exc}") from None
            yield where, rec

    batch = GraphBatch(name)
    for unit in records_to_units(records(), name, unit_size=10 ** 12):
        batch.update(unit)
    if not batch.nodes and not batch.edges:
        raise ModelError(f"{name}: no flags in it")
    store.write(batch)  # refuses edges to nodes this repository lacks, writing nothing
    flags = sorted(batch.nodes)
    for key in flags:
        recompute(store, key)
    return {"flags": len(flags), "edges": len(batch.edges), "recomputed": flags}

"""One product explained across two releases (``lineage diff A B --product SEL``).

The product is found in both releases by ``(dataset_type, data_id)``; its
two input sets are set side by side, then both lineages are walked upstream
together, step by step, pairing each dataset with its namesake in the other
release: every quantum whose inputs, software or config differ is a
*divergence*, and the *first* one is the most upstream (where the two
histories part; everything below it inherits the difference).
"""

from __future__ import annotations

from lineage.core.dataid import DataId
from lineage.core.selector import parse_selector
from lineage.diff import queries
from lineage.diff.core import _visits, made_changes
from lineage.diff.making import input_name, made, members, software_and_configs, split_input
from lineage.diff.releases import DataUnits, ReleaseError, resolve_release

#: Steps walked upstream at most (the demo pipeline is 8 deep).
MAX_DEPTH = 32


def _find(store, release, dataset_type: str, pairs: dict, units: DataUnits) -> list[tuple]:
    return [(key, did) for key, did in members(store, release, dataset_type, [])
            if all(units.full(DataId.parse(did)).get(k) == v for k, v in pairs.items())]


def _target(store, a, b, selector: str, dataset_type: str | None) -> tuple[str, str]:
    """(dataset_type, data_id) the selector names: a dataset key or UUID, or a
    ``dim=value`` expression with ``dataset_type``, matching one product."""
    sel = parse_selector(selector)
    if sel.keys:
        rows = queries.dataset_type_and_data_id(store, sel.keys[0])
        if not rows:
            raise ReleaseError(f"{selector!r}: no such dataset", field="product")
        return rows[0][0], rows[0][1]
    if not sel.pairs:
        raise ReleaseError(f"{selector!r}: give a dataset UUID or dim=value pairs",
                           field="product")
    if not dataset_type:
        raise ReleaseError("is needed with a product of dim=value pairs (e.g. deepCoadd)",
                           field="type")
    units, pairs = DataUnits.load(store), dict(sel.pairs)
    found = {did for r in (a, b) for _, did in _find(store, r, dataset_type, pairs, units)}
    if not found:
        raise ReleaseError(f"{selector!r}: no {dataset_type} matches in {a.name} or {b.name}",
                           field="product")
    if len(found) > 1:
        sample = ", ".join(sorted(found)[:3])
        raise ReleaseError(f"{selector!r}: {len(found)} {dataset_type} datasets match "
                           f"({sample} ...); name one", field="product")
    return dataset_type, found.pop()


def explain_product(store, a: str, b: str, selector: str, dataset_type: str | None = None) -> dict:
    ra, rb = resolve_release(store, a), resolve_release(store, b)
    t, did = _target(store, ra, rb, selector, dataset_type)
    units = DataUnits.load(store)
    keys = {}
    for side, r in (("a", ra), ("b", rb)):
        hit = [k for k, d in members(store, r, t, []) if d == did]
        keys[side] = hit[0] if hit else None
    out = {"dataset_type": t, "data_id": did, "a": {"release": ra.name, "key": keys["a"]},
           "b": {"release": rb.name, "key": keys["b"]}}
    if not (keys["a"] and keys["b"]):
        out.update(inputs=None, divergences=[], first_divergence=None,
                   only_in=ra.name if keys["a"] else rb.name)
        return out
    software, configs = software_and_configs(store)
    level = {input_name(t, did): (keys["a"], keys["b"])}
    seen, divergences, compared = set(level), [], 0
    for depth in range(MAX_DEPTH):
        if not level:
            break
        ma = made(store, [k for k, _ in level.values()], False)
        mb = made(store, [k for _, k in level.values()], False)
        nxt = {}
        for ident, (ka, kb) in sorted(level.items()):
            xa, xb = ma.get(ka), mb.get(kb)
            if xa is None or xb is None or not (xa.quantum and xb.quantum):
                continue
            if depth == 0:
                out["a"].update(quantum=xa.quantum, task=xa.task, software=xa.software,
                                config=xa.config)
                out["b"].update(quantum=xb.quantum, task=xb.task, software=xb.software,
                                config=xb.config)
                out["inputs"] = _side_by_side(xa.inputs, xb.inputs, units)
            compared += 1
            changes = made_changes(xa, xb, software, configs)
            if changes:
                it, idid = split_input(ident)
                divergences.append({"depth": depth, "task": xb.task, "dataset_type": it,
                                    "data_id": idid, "quantum_a": xa.quantum,
                                    "quantum_b": xb.quantum, "changes": changes})
            for i_ident, ika in xa.inputs.items():
                ikb = xb.inputs.get(i_ident)
                if ikb and i_ident not in seen and ika != ikb:
                    seen.add(i_ident)
                    nxt[i_ident] = (ika, ikb)
        level = nxt
    divergences.sort(key=lambda d: (-d["depth"], d["task"] or "", d["data_id"]))
    out.update(quanta_compared=compared, divergences=divergences,
               first_divergence=divergences[0] if divergences else None)
    return out


def _side_by_side(a: dict, b: dict, units: DataUnits) -> dict:
    both = sorted(set(a) & set(b))
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    return {"both": both, "only_a": only_a, "only_b": only_b,
            "visits_a": _visits(a), "visits_b": _visits(b)}

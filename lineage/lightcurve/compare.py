"""Two visit selections side by side (good vs moderate seeing)."""

from __future__ import annotations

from lineage.core.conditions import mask, parse_conditions
from lineage.core.selector import Selector
from lineage.dataunits.names import check_names
from lineage.dataunits.visits import visit_table
from lineage.traversal.traverse import count


def compare(store, a: str, b: str, types: list[str] | None = None,
            instrument: str | None = None) -> dict:
    """Two selections side by side (good vs moderate seeing): visits, medians of their
    conditions, and the datasets downstream of each by type (only of ``types`` if given)."""
    check_names(store, "dataset type", types, "types")
    table = visit_table(store, instrument)
    out = {}
    for name, text in (("a", a), ("b", b)):
        chosen = table[mask(table, parse_conditions(text))] if not table.empty else table
        numeric = chosen.select_dtypes("number")
        keys = list(chosen["key"]) if not chosen.empty else []
        out[name] = {
            "conditions": text, "visits": len(keys),
            "visit_ids": [int(v) if str(v).isdigit() else v for v in chosen.get("visit", [])],
            "median": {c: float(numeric[c].median()) for c in numeric.columns
                       if numeric[c].notna().any()},
            "downstream": _downstream_counts(store, keys, types),
        }
    both = set(out["a"]["visit_ids"]) & set(out["b"]["visit_ids"])
    out["overlap"] = sorted(both)
    return out


def _downstream_counts(store, keys: list[str], types) -> dict[str, int]:
    if not keys:
        return {}
    return count(store, Selector(f"{len(keys)} visits", keys=tuple(keys)), types=types)

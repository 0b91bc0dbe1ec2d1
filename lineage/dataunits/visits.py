"""Visits with their conditions and telemetry, and selecting them by condition."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineage.core.conditions import Condition, mask, parse_visit_selection
from lineage.dataunits.expression import visits_matching
from lineage.dataunits.names import check_names
from lineage.dataunits.queries import exposure_telemetry_of_visits, visits_with_properties

if TYPE_CHECKING:  # pandas is imported where a table is made
    import pandas as pd


def visit_telemetry(store, visit_keys: list[str],
                    topics: list[str] | None = None) -> dict[str, dict]:
    """visit key -> ``{efd.<topic>.<field>.<stat>: value, efd.<topic>.samples: n}`` from
    the ``DESCRIBES`` edges to its exposures (the summaries over each exposure's samples);
    ``topics`` keeps only whole topics, with or without ``lsst.sal.``, or a CSC (``DIMM``)."""
    out: dict[str, dict] = {k: {} for k in visit_keys}
    for vkey, topic, props in exposure_telemetry_of_visits(store, visit_keys):
        short = topic[len("lsst.sal."):] if topic.startswith("lsst.sal.") else topic
        if topics and not any(t in (topic, short) or short.startswith(t + ".") or
                              topic.endswith("." + t) for t in topics):
            continue
        for name, value in props.items():
            stat, _, field = name.partition("_")
            if stat in ("mean", "min", "max") and field:
                out[vkey][f"efd.{short}.{field}.{stat}"] = value
        out[vkey][f"efd.{short}.samples"] = props.get("samples", 0)
    return out


def visit_table(store, instrument: str | None = None) -> pd.DataFrame:
    """Every visit (of ``instrument``, if given) with its conditions and its exposure's
    telemetry summaries, one row each.  A visit that does not store its ``band`` (a Butler
    export's) gets its physical filter's, and one without ``instrument`` the instrument of
    its key."""
    import pandas as pd
    check_names(store, "instrument", instrument, "instrument")
    table = {}
    for key, props, band in visits_with_properties(store, instrument):
        row = table[key] = {"key": key, **{n: p for n, p in props.items()
                                           if not isinstance(p, list)}}
        row.setdefault("band", band)
        row.setdefault("instrument", key.split(":", 2)[-1].split("/")[0])
    for vkey, columns in visit_telemetry(store, list(table)).items():
        table[vkey].update(columns)
    frame = pd.DataFrame(list(table.values()))
    if frame.empty:
        return frame
    frame["visit"] = frame["value"]
    return frame.sort_values("key", ignore_index=True)


def select_visits(store, conditions: str | list[Condition],
                  instrument: str | None = None) -> pd.DataFrame:
    """The visits satisfying ``conditions`` (or a Butler query expression,
    :func:`parse_visit_selection`), with their conditions and telemetry."""
    selection = parse_visit_selection(conditions) if isinstance(conditions, str) else conditions
    table = visit_table(store, instrument)
    if table.empty:
        return table
    if isinstance(selection, list):
        keep = mask(table, selection)
    else:
        keep = table["key"].isin(visits_matching(store, selection, list(table["key"])))
    return table[keep].reset_index(drop=True)

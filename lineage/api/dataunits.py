"""The data-unit fields of the root query: one data unit by key or by dimension and
value, and pages of visits filtered by band, time, seeing, airmass and conditions; and
lineage from a data unit (``DataUnit.downstream``, ``DataUnit.upstream``).
"""

from __future__ import annotations

import graphene

from lineage.api.errors import ApiError, argument
from lineage.api.lineage import LineageConnection, lineage_args, lineage_page
from lineage.api.loaders import node_props
from lineage.api.pagination import Page, decode_cursor, keyset_page, page_args, page_size
from lineage.api.types import DataUnit, DataUnitConnection, _attach
from lineage.core.model import Kind, kind_of_key
from lineage.core.selector import Selector
from lineage.core.time import ZoneError, iso_ms
from lineage.dataunits import queries as unit_queries
from lineage.dataunits.names import check_names
from lineage.dataunits.visits import select_visits
from lineage.traversal import traverse as query


class VisitFilter(graphene.InputObjectType):
    """Visits matching every field given (bounds are inclusive)."""

    band = graphene.String()
    bands = graphene.List(graphene.NonNull(graphene.String), description="Any of these bands.")
    physical_filter = graphene.String()
    day_obs = graphene.Int(description="Observing day, e.g. 20260301.")
    time_from = graphene.String(description="Began at or after (ISO, TAI as stored).")
    time_to = graphene.String(description="Began at or before (ISO, TAI as stored).")
    mjd_from = graphene.Float(description="Began at or after this MJD (TAI).")
    mjd_to = graphene.Float()
    seeing_min = graphene.Float(description="Seeing FWHM, arcsec.")
    seeing_max = graphene.Float()
    airmass_min = graphene.Float()
    airmass_max = graphene.Float()
    conditions = graphene.String(
        description="Observing and telemetry conditions (docs/lightcurves.md), e.g. "
                    "\"seeing < 0.7 arcsec and efd:ESS.temperature.temperatureItem0 > 10 deg_C\".")


# --- helpers run in the thread pool -----------------------------------------------------

def _tai_iso(text: str, field: str) -> str:
    try:
        return iso_ms(text.strip(), "tai")
    except ZoneError:
        raise ApiError(f"filter.{field}: visit times are TAI as stored; give the time "
                       "without a zone") from None
    except ValueError:
        raise ApiError(f"filter.{field}: {text!r} is not an ISO date or time") from None


def _visits_page(store, flt: dict, first: int, after: str | None) -> Page:
    with argument("filter", within="filter"):
        check_names(store, "band", flt.get("band"), "band")
        check_names(store, "band", flt.get("bands"), "bands")
    bands = list(flt.get("bands") or []) + ([flt["band"]] if flt.get("band") else [])
    times = {name: _tai_iso(flt[name], name.replace("_f", "F").replace("_t", "T"))
             for name in ("time_from", "time_to") if flt.get(name)}
    bounds = {name: float(flt[name]) for name in unit_queries.VISIT_BOUNDS
              if flt.get(name) is not None}
    chosen = None
    if flt.get("conditions"):
        with argument("filter.conditions"):
            selected = select_visits(store, flt["conditions"])
        chosen = list(selected["key"]) if not selected.empty else []
    node_filter = unit_queries.visit_filter(bands, flt.get("physical_filter"), flt.get("day_obs"),
                                       times.get("time_from"), times.get("time_to"), bounds,
                                       chosen)
    return keyset_page(store, "DataUnit", node_filter, first, after)


def _kind_of_key_or_none(key: str):
    try:
        return kind_of_key(key)
    except ValueError:
        return None


def _lineage_from_unit(direction: str):
    async def resolve(root, info, **args):
        selector = Selector(text=root["key"], keys=(root["key"],))
        return await lineage_page(info, selector, direction, "dataUnit", **args)
    return resolve


_attach(DataUnit, "downstream", graphene.Field(
    LineageConnection, required=True, resolver=_lineage_from_unit(query.DOWN), **lineage_args(),
    description="Datasets downstream of the datasets this unit identifies (a visit's raws "
                "and calexps ...), as `lineage(from: \"visit=...\")` answers."))
_attach(DataUnit, "upstream", graphene.Field(
    LineageConnection, required=True, resolver=_lineage_from_unit(query.UP), **lineage_args(),
    description="Datasets upstream of the datasets this unit identifies (a patch's coadds ...)."))


# --- the fields ---------------------------------------------------------------------------

class DataUnitsQuery(graphene.ObjectType):
    """Data units and visits."""

    data_unit = graphene.Field(
        DataUnit, key=graphene.String(description="unit:visit:DemoCam/2026030100001 ..."),
        dimension=graphene.String(), value=graphene.String(),
        description="One data unit, by key or by dimension and value; null if absent.")
    visits = graphene.Field(DataUnitConnection, required=True, **page_args(filter=VisitFilter()),
                            description="Visits by band, time, seeing, airmass ..., in key order.")

    async def resolve_data_unit(root, info, key=None, dimension=None, value=None):
        ctx = info.context
        if key:
            if _kind_of_key_or_none(key) != Kind.DATA_UNIT:
                raise ApiError(f"key: {key!r} is not a data unit key (unit:<dimension>:...)")
            return await ctx.loaders.node.load(key)
        if not (dimension and value):
            raise ApiError("dataUnit: give key, or dimension and value")
        rows = await ctx.run(unit_queries.data_units_with_value, ctx.store, dimension, str(value))
        if len(rows) > 1:
            raise ApiError(f"value: {dimension} {value!r} is ambiguous; give key, one of "
                           f"{', '.join(r[0] for r in rows[:5])}")
        if not rows:   # null for a value no unit has; an error for a dimension none has
            await ctx.run(check_names, ctx.store, "dimension", dimension, "dimension")
        return node_props(*rows[0]) if rows else None

    async def resolve_visits(root, info, filter=None, first=None, after=None):
        ctx = info.context
        n, start = page_size(first, ctx.settings), decode_cursor(after)
        return await ctx.run(_visits_page, ctx.store, dict(filter or {}), n, start)

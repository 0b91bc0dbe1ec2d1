"""GraphQL for lightcurve provenance (docs/lightcurves.md): ``lightcurve(object, collection)``.

The resolver calls :func:`lineage.lightcurve.lightcurve` in the server's
thread pool and reshapes its table: one ``Epoch`` per row, its telemetry
as ``TelemetrySummary`` items and its processing steps as ``Step`` items;
datasets are full ``Dataset`` nodes, loaded in one batch.
"""

from __future__ import annotations

import math

import graphene

from lineage.fetch.datastore import Datastore, datastore_for, make_datastore
from lineage.lightcurve import lightcurve
from lineage.api.errors import ApiError, argument
from lineage.api.types import Dataset


class TelemetrySummary(graphene.ObjectType):
    """One EFD field summarised over the epoch's exposure (samples inside it)."""

    topic = graphene.String(required=True)
    field = graphene.String(required=True)
    mean = graphene.Float()
    min = graphene.Float()
    max = graphene.Float()
    samples = graphene.Int()


class Step(graphene.ObjectType):
    """One processing step that made the epoch: task, software version, config key."""

    task = graphene.String(required=True)
    software = graphene.String()
    config = graphene.String()


class Epoch(graphene.ObjectType):
    """One measurement of the object with its provenance."""

    mjd_tai = graphene.Float(required=True, description="Mid-exposure, MJD in TAI.")
    flux = graphene.Float(required=True, description="nJy, as the catalog gives it.")
    flux_err = graphene.Float(required=True)
    band = graphene.String()
    visit = graphene.String(required=True, description="Visit ID (IDs exceed GraphQL's Int).")
    detector = graphene.Int(required=True)
    source_dataset = graphene.Field(Dataset, description="The catalog the row was read from.")
    difference_image = graphene.Field(Dataset)
    calexp = graphene.Field(Dataset)
    seeing = graphene.Float(description="arcsec")
    airmass = graphene.Float()
    sky = graphene.Float()
    exposure_time = graphene.Float(description="s")
    begin = graphene.String(description="Exposure start, ISO, in time_scale.")
    end = graphene.String()
    time_scale = graphene.String()
    telemetry = graphene.List(graphene.NonNull(TelemetrySummary), required=True)
    steps = graphene.List(graphene.NonNull(Step), required=True)
    flags = graphene.List(graphene.NonNull(graphene.String), required=True,
                          description="Active flags on the visit or its exposure.")
    contamination = graphene.Float(required=True,
                                   description="Largest contamination fraction of its datasets.")
    flagged = graphene.Boolean(required=True)

    @staticmethod
    async def _dataset(root, info, column):
        key = root.get(column)
        return await info.context.loaders.node.load(key) if key and "," not in key else None

    async def resolve_source_dataset(root, info):
        return await Epoch._dataset(root, info, "source_dataset")

    async def resolve_difference_image(root, info):
        return await Epoch._dataset(root, info, "difference_image")

    async def resolve_calexp(root, info):
        return await Epoch._dataset(root, info, "calexp")


class Lightcurve(graphene.ObjectType):
    object = graphene.String(required=True, description="The DIA object ID (64-bit).")
    collection = graphene.String(required=True)
    catalog = graphene.Field(Dataset, description="The object's dia_object catalog.")
    epochs = graphene.List(graphene.NonNull(Epoch), required=True,
                           description="In time order.")
    left_out_deleted = graphene.Int(required=True, description="Epochs left out: their image "
                                    "was deleted (docs/retention.md; `includeDeleted`).")
    left_out_deleted_catalogs = graphene.Int(required=True, description="Deleted catalogs "
                                             "not read (their epochs are left out).")

    async def resolve_catalog(root, info):
        return await info.context.loaders.node.load(root["catalog"])


def _clean(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def _epoch(row: dict) -> dict:
    out = {k: _clean(v) for k, v in row.items() if "." not in k}
    out["visit"] = str(row["visit"])
    telemetry: dict[tuple, dict] = {}
    for name, value in row.items():
        parts = name.split(".")
        if parts[0] == "efd" and parts[-1] in ("mean", "min", "max"):
            item = telemetry.setdefault((".".join(parts[1:-2]), parts[-2]), {})
            item[parts[-1]] = _clean(value)
    for (topic, field), item in telemetry.items():
        item.update(topic=topic, field=field, samples=_clean(row.get(f"efd.{topic}.samples")))
    out["telemetry"] = [telemetry[k] for k in sorted(telemetry)]
    out["steps"] = [{"task": name.split(".", 1)[1], "software": _clean(value),
                     "config": _clean(row.get("config." + name.split(".", 1)[1]))}
                    for name, value in sorted(row.items()) if name.startswith("software.")]
    out["flags"] = [f for f in (row.get("flags") or "").split(";") if f]
    return out


def datastore_of(settings) -> Datastore | None:
    """The server's datastore: ``--datastore``, else its repository's (None: neither)."""
    if getattr(settings, "datastore", None):
        return make_datastore(settings.datastore)
    return datastore_for(settings.state_dir) if settings.state_dir else None


class LightcurveQuery(graphene.ObjectType):
    """Root fields, inherited by the schema's Query."""

    lightcurve = graphene.Field(
        Lightcurve, required=True,
        object=graphene.String(required=True, description="DIA object ID (64-bit integer)."),
        collection=graphene.String(required=True, description="Release or run collection."),
        topics=graphene.List(graphene.NonNull(graphene.String),
                             description="Only these EFD topics (e.g. ESS.temperature)."),
        include_deleted=graphene.Boolean(default_value=False, description="Epochs whose "
                                         "catalog or image was deleted too."),
        description="Every epoch of a DIA object with its provenance (COMM5).")

    async def resolve_lightcurve(root, info, object, collection, topics=None,
                                 include_deleted=False):
        ctx = info.context
        where = datastore_of(ctx.settings)
        if where is None:
            raise ApiError("lightcurve: this server has no datastore directory (its "
                           "operator gives one when starting it)")
        if not str(object).strip().lstrip("-").isdigit():
            raise ApiError(f"object: {object!r} is not an integer object ID")
        with argument("object"):
            frame = await ctx.run(lightcurve, ctx.store, int(object), collection, where,
                                  topics or None, include_deleted=include_deleted)
        return {"object": str(int(object)), "collection": collection,
                "catalog": frame.attrs["catalog"],
                "left_out_deleted": frame.attrs["left_out_deleted"],
                "left_out_deleted_catalogs": frame.attrs["left_out_deleted_catalogs"],
                "epochs": [_epoch(r) for r in frame.to_dict("records")]}

"""GraphQL for metric jobs (docs/metrics.md): ``jobs(metric, op, value, unit, since,
until, filter)``, ``metricTrend(metric, ...)`` and ``Job.specifications``.

The resolvers call :mod:`lineage.metrics` in the server's thread pool; jobs,
measurements and software versions are full nodes, loaded in one batch.
"""

from __future__ import annotations

import math

import graphene

from lineage.metrics import JobFilter, jobs_where
from lineage.metrics.trend import trend
from lineage.api.types import Job, Measurement, SoftwareVersion


def _clean(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def _node_field(node_type, column: str, **kwargs):
    """A field holding the full node whose key is ``root[column]`` (loaded in a batch)."""
    async def resolve(root, info):
        key = root.get(column)
        return await info.context.loaders.node.load(key) if key else None
    return graphene.Field(node_type, resolver=resolve, **kwargs)


class JobFilterInput(graphene.InputObjectType):
    """Which jobs count; every given field must match (case-insensitive)."""

    instrument = graphene.String(description="As the job names it (HSC) or the instrument "
                                             "it MEASURED.")
    filter = graphene.String(description="Band or physical filter.")
    dataset = graphene.String(description="Dataset name (ci_hsc) or a collection/dataset it "
                                          "MEASURED.")
    software = graphene.String(description="SoftwareVersion name or key, or PACKAGE==VERSION.")


class MetricMatch(graphene.ObjectType):
    """One job whose measurement satisfied the query."""

    job = _node_field(Job, "job", required=True)
    measurement = _node_field(Measurement, "measurement", required=True)
    value = graphene.Float(required=True, description="As measured, in ``unit``.")
    unit = graphene.String(required=True)
    date = graphene.String(description="The job's date (ISO) in ``timeScale``.")
    time_scale = graphene.String()
    software = _node_field(SoftwareVersion, "software")


class PackageChange(graphene.ObjectType):
    package = graphene.String(required=True)
    before = graphene.String(description="Null: the package was added.")
    after = graphene.String(description="Null: the package was removed.")


class TrendPoint(graphene.ObjectType):
    """One job of a metric trend."""

    series = graphene.String(required=True, description="dataset / instrument / filter")
    job = _node_field(Job, "job", required=True)
    date = graphene.String()
    mjd_tai = graphene.Float()
    value = graphene.Float(description="In the trend's unit; null when missing.")
    step = graphene.Float(description="Change from the series' previous value.")
    software = _node_field(SoftwareVersion, "software")
    changes = graphene.List(graphene.NonNull(PackageChange), required=True,
                            description="Packages changed since the series' previous job.")


class Threshold(graphene.ObjectType):
    spec = graphene.String(required=True)
    operator = graphene.String(required=True)
    threshold = graphene.Float(description="In the trend's unit (null: does not convert).")


class MetricTrend(graphene.ObjectType):
    metric = graphene.String(required=True)
    unit = graphene.String(required=True)
    points = graphene.List(graphene.NonNull(TrendPoint), required=True,
                           description="In time order within each series.")
    specifications = graphene.List(graphene.NonNull(Threshold), required=True)


def _filter(flt, since=None, until=None) -> JobFilter:
    flt = flt or {}
    return JobFilter(flt.get("instrument"), flt.get("filter"), flt.get("dataset"),
                     flt.get("software"), since, until)


class MetricsQuery(graphene.ObjectType):
    """Root fields, inherited by the schema's Query."""

    jobs = graphene.List(
        graphene.NonNull(MetricMatch), required=True,
        metric=graphene.String(required=True, description="e.g. validate_drp.PA1"),
        op=graphene.String(required=True, description="< <= > >= == !="),
        value=graphene.Float(required=True), unit=graphene.String(default_value=""),
        since=graphene.String(description="ISO date; jobs at or after."),
        until=graphene.String(description="ISO date; jobs before."),
        filter=JobFilterInput(),
        description="Jobs whose measurement of the metric satisfies op value unit (units "
                    "convert; a missing value never matches), in time order (SQR17).")
    metric_trend = graphene.Field(
        MetricTrend, required=True, metric=graphene.String(required=True),
        unit=graphene.String(description="Default: the metric's unit."),
        since=graphene.String(), until=graphene.String(), filter=JobFilterInput(),
        description="The metric across jobs in time order, with software changes between "
                    "consecutive jobs (SQR4, CI2).")

    async def resolve_jobs(root, info, metric, op, value, unit="", since=None, until=None,
                           filter=None):
        rows = await info.context.run(jobs_where, info.context.store, metric, op, value, unit,
                                      where=_filter(filter, since, until))
        return [{"job": r.job, "measurement": r.measurement, "value": r.value, "unit": r.unit,
                 "date": r.date, "time_scale": r.time_scale, "software": r.software}
                for r in rows]

    async def resolve_metric_trend(root, info, metric, unit=None, since=None, until=None,
                                   filter=None):
        frame = await info.context.run(trend, info.context.store, metric,
                                       _filter(filter, since, until), unit)
        points = [{k: _clean(v) for k, v in r.items()} for r in frame.to_dict("records")]
        return {"metric": frame.attrs["metric"], "unit": frame.attrs["unit"], "points": points,
                "specifications": frame.attrs["specifications"]}

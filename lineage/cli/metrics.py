"""Metric jobs (docs/metrics.md): metrics jobs, job, trend, record."""

from __future__ import annotations

import math
import re

import click

from lineage.metrics import JobFilter, evaluate_specs, job_blobs, job_data, jobs_where
from lineage.cli.output import emit, print_json, table
from lineage.cli.common import (Repo, CliError, call, check_plot_suffix, format_option,
                                json_option, repo_option)
from lineage.cli.common import pairs
from lineage.core.figures import draw_metric_trend
from lineage.metrics.record import record
from lineage.metrics.trend import trend

_QUERY_RE = re.compile(r"^\s*(\S+)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*(.*?)\s*$")


@click.group("metrics")
def metrics_group() -> None:
    """Metric jobs (SQuaSH / lsst.verify): threshold lookups, specifications, trends,
    recording a job's measurements."""


def filter_options(fn):
    """--since --until --instrument --filter --dataset --software: which jobs count."""
    for option in reversed([
            click.option("--since", default=None, help="Jobs dated at or after (ISO; UTC if "
                         "no zone)."),
            click.option("--until", default=None, help="Jobs dated before (ISO)."),
            click.option("--instrument", default=None, help="The job's instrument (HSC, "
                         "cfht, DemoCam ...)."),
            click.option("--filter", "filter_name", default=None, help="Band or physical filter."),
            click.option("--dataset", default=None, help="Dataset name (ci_hsc), or a "
                         "collection/dataset the job measured."),
            click.option("--software", default=None, help="SoftwareVersion name or key, or "
                         "PACKAGE==VERSION.")]):
        fn = option(fn)
    return fn


def _job_filter(since, until, instrument, filter_name, dataset, software) -> JobFilter:
    return JobFilter(instrument, filter_name, dataset, software, since, until)


def _number(value) -> str:
    return "missing" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.6g}"


@metrics_group.command("jobs")
@click.argument("query", metavar='"METRIC OP VALUE [UNIT]"')
@filter_options
@repo_option
@format_option
def jobs_command(query, since, until, instrument, filter_name, dataset, software, repo,
                 fmt):
    """Jobs whose measurement of METRIC satisfies OP VALUE UNIT (units convert: 15 mas is
    0.015 arcsec), e.g. "validate_drp.PA1 > 15 mmag" --since 2026-02-01."""
    usage = "write METRIC OP VALUE [UNIT], e.g. 'validate_drp.PA1 > 15 mmag' (OP: < <= > >= == !=)"
    m = _QUERY_RE.match(query)
    if not m:
        raise CliError(f"{query!r}: {usage}")
    metric, op, value, unit = m.groups()
    try:
        threshold = float(value)
    except ValueError:
        raise CliError(f"{query!r}: {value!r} is not a number; {usage}") from None
    where = _job_filter(since, until, instrument, filter_name, dataset, software)
    with Repo(repo) as store:
        rows = call(jobs_where, store, metric, op, threshold, unit, where=where)
    if fmt != "table":
        emit(fmt, "", [r.as_dict() for r in rows], [])
        return
    table(f"Jobs where {metric} {op} {threshold:g} {unit}".rstrip(),
          ["job", "date", "value", "unit", "software", "instrument", "filter", "dataset",
           "measured"],
          [(r.job, r.date, _number(r.value), r.unit, r.software_name or r.software,
            r.instrument, r.filter_name, r.dataset_name, ", ".join(r.measured))
           for r in rows],
          f"{len(rows)} jobs; specifications of one: lineage metrics job JOB",
          fold=("measured",))


@metrics_group.command("job")
@click.argument("job")
@click.option("--show", type=click.Choice(["specs", "blobs", "data"]), default="specs",
              show_default=True, help="specs: the specifications it passes or fails; blobs: "
              "the blobs its measurements refer to, with digest and size; data: what it "
              "measured (datasets, quanta, collections, instrument, band).")
@repo_option
@format_option
def job_command(job, show, repo, fmt):
    """One job: which thresholds it passes (lsst.verify metadata queries decide which
    apply), the blobs its measurements refer to (--show blobs), or the data it measured
    (--show data)."""
    key = job if job.startswith("job:") else f"job:{job}"
    if show == "blobs":
        _job_blobs(key, repo, fmt)
        return
    if show == "data":
        _job_data(key, repo, fmt)
        return
    with Repo(repo) as store:
        results = call(evaluate_specs, store, key)
    if fmt != "table":  # CSV and ECSV: one row per specification
        emit(fmt, "", [r.as_dict() for r in results], [],
             document={"job": key, "specifications": [r.as_dict() for r in results]})
        return
    verdict = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "missing value"}
    table(f"Specifications of {key}", ["specification", "value", "unit", "threshold", "result"],
          [(r.spec.removeprefix("spec:"), _number(r.value), r.unit,
            f"{r.operator} {r.threshold:g} {r.threshold_unit}", verdict[r.passed])
           for r in results],
          f"{sum(r.passed is True for r in results)} of {len(results)} passed")


def _job_blobs(key: str, repo, fmt: str) -> None:
    """``metrics job KEY --show blobs``: one row per measurement and blob; the content only
    in JSON."""
    with Repo(repo) as store:
        rows = call(job_blobs, store, key)
    if fmt != "table":
        emit(fmt, "", [r._asdict() for r in rows], [],
             document={"job": key, "blobs": [r._asdict() for r in rows]})
        return
    table(f"Blobs of the measurements of {key}",
          ["metric", "blob", "name", "bytes", "digest", "content"],
          [(r.metric, r.blob.removeprefix("blob:"), r.name, r.size, r.digest,
            "kept" if r.content is not None else "no") for r in rows],
          f"{len(rows)} references to {len({r.blob for r in rows})} blobs; "
          "--format json gives their content")


def _job_data(key: str, repo, fmt: str) -> None:
    """``metrics job KEY --show data``: one row per dataset, quantum, collection or data
    unit the job MEASURED."""
    with Repo(repo) as store:
        rows = call(job_data, store, key)
    if fmt != "table":
        emit(fmt, "", [r._asdict() for r in rows], [],
             document={"job": key, "measured": [r._asdict() for r in rows]})
        return
    table(f"What {key} measured", ["kind", "key", "type or name", "data ID", "run"],
          [(r.kind, r.key + (" (deleted)" if r.deleted else ""), r.name, r.data_id, r.run)
           for r in rows],
          f"{len(rows)} measured; lineage upstream KEY gives where each came from")


@metrics_group.command("trend")
@click.argument("metric")
@click.option("--unit", default=None, help="Show values in this unit (default: the metric's).")
@filter_options
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), default=None,
              callback=check_plot_suffix, help="Draw the trend (PNG, SVG or PDF).")
@repo_option
@format_option
def trend_command(metric, unit, since, until, instrument, filter_name, dataset, software,
                  plot_file, repo, fmt):
    """METRIC across jobs in time order, per series (dataset / instrument / filter), with the
    software changes between consecutive jobs: where did it regress, and with what?"""
    where = _job_filter(since, until, instrument, filter_name, dataset, software)
    with Repo(repo) as store:
        frame = call(trend, store, metric, where, unit)
    if plot_file:
        call(draw_metric_trend, frame, plot_file, f"{frame.attrs['metric']} across jobs")
        click.echo(f"wrote {plot_file}", err=True)
    if fmt != "table":  # CSV and ECSV: one row per job, values in the metric's unit
        jobs = [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                 for k, v in r.items()} for r in frame.to_dict("records")]
        emit(fmt, "", jobs, [], units={"value": frame.attrs["unit"], "step": frame.attrs["unit"]},
             document={"metric": frame.attrs["metric"], "unit": frame.attrs["unit"],
                       "specifications": frame.attrs["specifications"], "jobs": jobs})
        return
    specs = [s for s in frame.attrs["specifications"] if s.get("threshold") is not None]
    table(f"{frame.attrs['metric']} ({frame.attrs['unit']}) across jobs",
          ["series", "job", "date", "value", "step", "software", "software changes"],
          [(r["series"], r["job"], r["date"], _number(r["value"]),
            "" if math.isnan(r["step"]) else f"{r['step']:+.4g}", r["software_name"],
            r["changed"]) for r in frame.to_dict("records")],
          f"{len(frame)} jobs" + "".join(f"; {s['spec'].removeprefix('spec:')} "
                                         f"{s['operator']} {s['threshold']:g}" for s in specs),
          fold=("software changes",))


@metrics_group.command("record")
@click.argument("measurements", nargs=-1, required=True, metavar='METRIC="VALUE UNIT"...')
@click.option("--job", default=None, help="The job's name (key job:NAME); default: derived "
              "from the content.")
@click.option("--date", default=None, help="When it ran (ISO; default now, UTC).")
@click.option("--instrument", default=None)
@click.option("--filter", "filter_name", default=None)
@click.option("--dataset", "dataset_name", default=None, help="The dataset name (ci_hsc).")
@click.option("--software", default=None, help="A stored SoftwareVersion (name or key).")
@click.option("--package", "packages", multiple=True, metavar="NAME=VERSION",
              help="A package it ran with (repeatable), instead of --software.")
@click.option("--measured", multiple=True, metavar="KEY|COLLECTION",
              help="What it measured: a node key or a collection name (repeatable).")
@repo_option
@json_option
def record_command(measurements, job, date, instrument, filter_name, dataset_name, software,
                   packages, measured, repo, as_json):
    """Record one job's measurements, as a task publishing its metrics by name:
    lineage metrics record validate_drp.PA1="12.1 mmag" --job ci/42 --software w.2026.20."""
    values = pairs("METRIC=VALUE", measurements)
    with Repo(repo) as store:
        done = call(record, store, values, job=job, software=software,
                            measured=list(measured), date=date, instrument=instrument,
                            filter_name=filter_name, dataset_name=dataset_name,
                            packages=pairs("--package", packages) or None)
    if as_json:
        print_json(done.__dict__)
        return
    state = "recorded" if done.nodes_created or done.edges_created else "unchanged (already stored)"
    click.echo(f"{done.job}: {state}; {len(values)} measurements"
               + (f", missing values: {', '.join(done.missing)}" if done.missing else ""))

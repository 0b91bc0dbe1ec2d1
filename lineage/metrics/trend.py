"""The regression view (SQR4, CI2): one metric across jobs in time order, with
the software changes between consecutive jobs.

:func:`trend` gives one row per job that measured the metric (jobs a
:class:`~lineage.metrics.lookup.JobFilter` keeps), in time order within each
*series*: jobs of the same dataset, instrument and filter (and tract or
other data unit they measured), the things a metric is only comparable
within; series in the order of their first job.  Values are in one unit (the one asked
for, else the metric's); a missing value stays NaN.  ``changes`` lists the
packages whose version differs from the series' previous job
(``pipe_tasks: g1a2b3c -> g9f8e7d``), ``step`` the value's change from the
previous job with a value, and ``specifications`` (in ``attrs``) the
thresholds of the metric that apply to these jobs (lsst.verify metadata
queries, and the bands a specification's name ends with), in the same unit,
so a plot or a CI check can show where a change crossed one.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from lineage.store.base import Store
from lineage.metrics.lookup import JobFilter, meta_matches, select, software_packages
from lineage.metrics.queries import metadata_of_jobs, metric_unit, specifications_of_metric
from lineage.core.compare import changed_values
from lineage.core.time import stored_time
from lineage.core.units import MetricError, convert, parse_unit


def package_changes(before: dict[str, str], after: dict[str, str]) -> list[dict]:
    """Packages added, removed or at another version: ``[{package, before, after}]``
    (None for absent), by package name."""
    return [{"package": name, "before": old, "after": new}
            for name, (old, new) in changed_values(before, after).items()]


def _describe(changes: list[dict]) -> str:
    return "; ".join(f"{c['package']}: {c['before'] or '(none)'} -> {c['after'] or '(none)'}"
                     for c in changes)


#: Data units a job's MEASURED edges may name that its metadata already says.
_SAID = ("instrument", "band", "physical_filter")


def series_of(row) -> str:
    """What a job's values are comparable within: its dataset, instrument and filter, and
    any other data unit it measured (``demo_wide / DemoCam / r / tract=9813``)."""
    parts = [x for x in (row.dataset_name, row.instrument, row.filter_name) if x]
    for key in row.measured:
        kind, _, rest = key.partition(":")
        dimension, _, value = rest.partition(":")
        if kind == "unit" and dimension not in _SAID:
            parts.append(f"{dimension}={value.rsplit('/', 1)[-1]}")
    return " / ".join(parts) or "(all)"


def _metric_unit(store: Store, metric: str, rows) -> str:
    stored = metric_unit(store, f"metric:{metric}")
    if stored is not None:
        return stored
    units = [r.metric_unit or r.unit for r in rows if r.value is not None]
    return max(set(units), key=units.count) if units else ""


#: Band letters a specification's name may end with (validate_drp's ``PA1.design_gri``).
_BANDS = "ugrizy"


def bands_of_spec(spec: str) -> set[str] | None:
    """The bands a specification's name restricts it to: ``validate_drp.PA1.design_gri``
    -> {g, r, i}, ``...cfht_design_g`` -> {g}; None when the name names none.  lsst.verify's
    files often leave that restriction out of the metadata query."""
    last = spec.rsplit(".", 1)[-1]
    suffix = last.rsplit("_", 1)[-1] if "_" in last else ""
    if suffix and len(set(suffix)) == len(suffix) and set(suffix) <= set(_BANDS):
        return set(suffix)
    return None


def applies(spec: dict, meta: dict) -> bool:
    """Whether a specification (its ``spec`` key and ``metadata_query``) applies to a job
    with metadata ``meta``: the query matches, and a band the name restricts it to is the
    job's filter (a job whose filter is not one band letter cannot be told apart: kept)."""
    if not meta_matches(spec["metadata_query"], meta):
        return False
    bands, band = bands_of_spec(spec["spec"]), meta.get("filter_name")
    return bands is None or not isinstance(band, str) or band not in _BANDS or band in bands


def specifications(store: Store, metric: str, unit: str, jobs=None) -> list[dict]:
    """The threshold specifications of ``metric``, their thresholds in ``unit``
    (``threshold`` None, with a ``note``, where the unit does not convert); with
    ``jobs`` (keys), only those that apply to one of the jobs (:func:`applies`), each
    with ``jobs``: the keys of those it applies to."""
    metas = None
    if jobs is not None:
        metas = {k: json.loads(m or "{}") for k, m in
                 metadata_of_jobs(store, sorted(set(jobs))).items()}
    out = []
    for key, op, threshold, t_unit, query in specifications_of_metric(store,
                                                                       f"metric:{metric}"):
        item = {"spec": key, "operator": op, "threshold_as_given": threshold,
                "unit_as_given": t_unit or "", "metadata_query": json.loads(query or "{}")}
        if metas is not None:
            item["jobs"] = sorted(k for k, m in metas.items() if applies(item, m))
            if not item["jobs"]:
                continue
        try:
            item["threshold"] = convert(float(threshold), t_unit or "", unit)
        except (MetricError, TypeError, ValueError):
            item["threshold"], item["note"] = None, f"{t_unit!r} does not convert to {unit!r}"
        out.append(item)
    return out


def trend(store: Store, metric: str, where: JobFilter = JobFilter(),
          unit: str | None = None) -> pd.DataFrame:
    """One row per job (module docstring): ``series, job, date, time_scale, mjd_tai,
    value, unit, software, software_name, step, changes`` (a list of
    ``{package, before, after}``) and ``changed`` (the same as text)."""
    metric = metric.removeprefix("metric:")
    rows = select(store, metric, where)
    if not rows:
        raise MetricError(f"no job measured {metric}" + (" with those filters" if where !=
                                                         JobFilter() else ""))
    target = unit if unit is not None else _metric_unit(store, metric, rows)
    parse_unit(target)
    packages = software_packages(store, (r.software for r in rows))
    records = []
    for r in rows:
        when = stored_time(r.date, r.time_scale)
        try:
            value = math.nan if r.value is None else convert(r.value, r.unit, target)
        except MetricError as exc:
            raise MetricError(f"{r.measurement}: {exc}") from None
        records.append({
            "series": series_of(r),
            "job": r.job, "date": r.date, "time_scale": r.time_scale,
            "mjd_tai": float(when.tai.mjd) if when is not None else math.nan,
            "value": value, "unit": target, "software": r.software,
            "software_name": r.software_name or (r.software or "").removeprefix("software:")})
    frame = pd.DataFrame(records)
    frame["_first"] = frame.groupby("series")["mjd_tai"].transform("min")
    frame = frame.sort_values(["_first", "series", "mjd_tai", "job"], ignore_index=True) \
        .drop(columns="_first")
    steps, changes = [], []
    for _, group in frame.groupby("series", sort=False):
        last_value, last_software = math.nan, None
        for _, row in group.iterrows():
            steps.append(row["value"] - last_value if not math.isnan(row["value"]) else math.nan)
            if not math.isnan(row["value"]):
                last_value = row["value"]
            now = packages.get(row["software"], {})
            changes.append(package_changes(packages.get(last_software, {}), now)
                           if last_software is not None and row["software"] != last_software
                           else [])
            last_software = row["software"]
    frame["step"] = steps
    frame["changes"] = changes
    frame["changed"] = [_describe(c) for c in changes]
    frame.attrs.update(metric=metric, unit=target,
                       specifications=specifications(store, metric, target, frame["job"]))
    return frame

"""Lookups over stored metric jobs: measurements of a metric, threshold queries
with filters, specification checks.

What ``lineage ingest metrics`` and :func:`lineage.metrics.record` store
(``docs/metrics.md``): ``Job`` nodes with their ``Measurement`` nodes
(``HAS_MEASUREMENT``), each ``OF_METRIC`` a ``Metric``; ``Specification``
nodes (thresholds) ``SPECIFIES`` a metric; a job ``RAN_WITH`` a
``SoftwareVersion`` and ``MEASURED`` the data it measured (datasets, data
units such as instrument and band, collections).  A measurement keeps the
value as given (``value``, ``unit``) and, when it has one, in its metric's
unit (``value_in_metric_unit``, ``metric_unit``).  A NaN or null value is not
stored: the measurement is there, its value is missing, and no comparison
ever matches it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from lineage.store.base import Store
from lineage.core.time import stored_time
from lineage.dataunits.names import check_names
from lineage.metrics.queries import (MeasuredDataRow, MeasurementBlobRow, blobs_of_job,
                                     data_of_job, job_metadata,
                                     measurements_of_metric, packages_of_software,
                                     specifications_of_job)
from lineage.core.units import OPERATORS, MetricError, _as_time, compare, parse_unit

# --- lookups ------------------------------------------------------------------

@dataclass(frozen=True)
class Measured:
    """One measurement of a metric by one job, with what the job ran on."""

    job: str
    date: str | None
    time_scale: str | None
    metric: str
    measurement: str
    value: float | None          # None: missing (NaN or null in the job file)
    unit: str
    value_in_metric_unit: float | None
    metric_unit: str | None
    software: str | None         # the SoftwareVersion key
    software_name: str | None = None
    instrument: str | None = None
    filter_name: str | None = None
    dataset_name: str | None = None
    measured: tuple[str, ...] = field(default=())   # keys the job MEASURED

    def as_dict(self) -> dict:
        out = dict(self.__dict__)
        out["measured"] = list(self.measured)
        return out


def measurements(store: Store, metric: str) -> list[Measured]:
    """Every stored measurement of ``metric`` (``validate_drp.PA1`` or
    ``metric:validate_drp.PA1``), missing values included (value None), by job key; a
    metric the repository does not know is an :class:`UnknownName`."""
    name = metric.removeprefix("metric:")
    out = []
    for (job, date, scale, ms, value, unit, v_metric, m_unit, sw, sw_name, instrument,
         filter_name, dataset_name, measured) in measurements_of_metric(store,
                                                                         f"metric:{name}"):
        out.append(Measured(job, date, scale, name, ms, value, unit or "", v_metric, m_unit, sw,
                            sw_name, instrument, filter_name, dataset_name,
                            tuple(sorted(k for k in measured if k))))
    if not out:
        check_names(store, "metric", name, "metric")
    return out


@dataclass(frozen=True)
class JobFilter:
    """Which jobs a lookup keeps; every given field must match (case-insensitive).

    * ``instrument``: the job's instrument as its file names it (``HSC``, ``cfht``)
      or the instrument data unit it MEASURED (``MegaPrime``);
    * ``filter_name``: the job's filter, or a band / physical filter it MEASURED;
    * ``dataset``: the job's dataset name (``ci_hsc``), or the key or name of a
      collection or dataset it MEASURED (``DemoCam/DR2``);
    * ``software``: its SoftwareVersion key or name (``w.2026.20``), or one
      package at one version (``pipe_tasks==g9f8e7d+w.2026.20``);
    * ``since``/``until``: jobs dated in ``[since, until)`` (ISO text or Time).
    """

    instrument: str | None = None
    filter_name: str | None = None
    dataset: str | None = None
    software: str | None = None
    since: object = None
    until: object = None

    def keeps(self, row: Measured, packages: dict[str, dict]) -> bool:
        if self.since is not None or self.until is not None:
            start, end = _as_time(self.since), _as_time(self.until)
            when = stored_time(row.date, row.time_scale)
            if when is None or (start is not None and when < start) \
                    or (end is not None and when >= end):
                return False
        return all(self._matches(name, row, packages) for name in
                   ("instrument", "filter_name", "dataset", "software")
                   if getattr(self, name) is not None)

    def _matches(self, name: str, row: Measured, packages: dict[str, dict]) -> bool:
        want = str(getattr(self, name)).lower()
        measured = [k.lower() for k in row.measured]
        if name == "instrument":
            return want == (row.instrument or "").lower() or \
                f"unit:instrument:{want}" in measured
        if name == "filter_name":
            return want == (row.filter_name or "").lower() or f"unit:band:{want}" in measured \
                or any(k.startswith("unit:physical_filter:") and k.endswith("/" + want)
                       for k in measured)
        if name == "dataset":
            return want == (row.dataset_name or "").lower() or \
                any(k == want or k.split(":", 1)[-1] == want for k in measured)
        package, sep, version = want.partition("==")
        if sep:
            stack = {n.lower(): str(v).lower() for n, v in packages.get(row.software, {}).items()}
            return stack.get(package) == version
        return want in ((row.software or "").lower(), (row.software_name or "").lower(),
                        (row.software or "").lower().removeprefix("software:"))


def software_packages(store: Store, keys) -> dict[str, dict]:
    """SoftwareVersion key -> its packages (``{name: version}``; empty when not recorded)."""
    keys = sorted({k for k in keys if k})
    if not keys:
        return {}
    out = {}
    for key, packages in packages_of_software(store, keys):
        if isinstance(packages, str):
            packages = json.loads(packages or "{}")
        out[key] = dict(packages or {})
    return out


def select(store: Store, metric: str, where: JobFilter = JobFilter()) -> list[Measured]:
    """The measurements of ``metric`` (missing values included) by the jobs ``where`` keeps,
    in time order (undated jobs last)."""
    rows = measurements(store, metric)
    packages = software_packages(store, (r.software for r in rows)) if where.software else {}
    kept = [r for r in rows if where.keeps(r, packages)]
    when = {r.job: stored_time(r.date, r.time_scale) for r in kept}
    return sorted(kept, key=lambda r: (when[r.job] is None,
                                       when[r.job].tai.mjd if when[r.job] is not None else 0,
                                       r.job))


def jobs_where(store: Store, metric: str, operator: str, value: float, unit: str = "",
               since=None, until=None, where: JobFilter | None = None) -> list[Measured]:
    """Measurements of ``metric`` whose value satisfies ``OPERATOR value unit``,
    by jobs dated in ``[since, until)`` (ISO text or Time; either may be None)
    that ``where`` keeps (instrument, filter, dataset, software).

    Units convert (``jobs_where(s, "validate_drp.AM1", ">", 0.015, "arcsec")``
    is ``> 15 mas``); a missing value never matches; a unit that does not
    convert to the measured one is a :class:`MetricError`.
    """
    if operator not in OPERATORS:
        raise MetricError(f"unknown operator {operator!r}; known: {', '.join(OPERATORS)}")
    parse_unit(unit)
    where = where or JobFilter()
    if since is not None or until is not None:
        where = JobFilter(where.instrument, where.filter_name, where.dataset, where.software,
                          since if since is not None else where.since,
                          until if until is not None else where.until)
    out = []
    for row in select(store, metric, where):
        if row.value is None:
            continue
        try:
            ok = compare(row.value, row.unit, operator, value, unit)
        except MetricError as exc:
            raise MetricError(f"{row.measurement}: measured in {row.unit!r}; "
                              f"cannot compare with {value} {unit!r}: {exc}") from None
        if ok:
            out.append(row)
    return out


def meta_matches(query: dict, meta: dict) -> bool:
    """lsst.verify's metadata query: every key of ``query`` is in ``meta`` with an equal value."""
    return all(k in meta and meta[k] == v for k, v in query.items())


@dataclass(frozen=True)
class SpecResult:
    """One specification applied to one measurement of a job."""

    spec: str
    metric: str
    value: float | None
    unit: str
    operator: str
    threshold: float
    threshold_unit: str
    passed: bool | None  # None: the measurement's value is missing

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _check_job(store: Store, job: str) -> dict:
    """The metadata of the stored job ``job`` (a key); no such job is a MetricError."""
    metas = job_metadata(store, job)
    if not metas:
        raise MetricError(f"no such job: {job}")
    return json.loads(metas[0] or "{}")


def job_blobs(store: Store, job: str) -> list[MeasurementBlobRow]:
    """The blobs ``job``'s measurements refer to (lsst.verify ``blob_refs``): per
    measurement and blob its name, digest, size and, up to the ingest's size limit, its
    content (``docs/metrics.md``)."""
    _check_job(store, job)
    return blobs_of_job(store, job)


def job_data(store: Store, job: str) -> list[MeasuredDataRow]:
    """What ``job`` measured (``MEASURED``): the datasets, quanta and collections its
    metadata names (``run``, ``collections``, ``dataset_ids``, ``quantum_ids``) or a
    recording gave, and the instrument and band or filter it names; "which data did this
    failing job measure" (``docs/metrics.md``)."""
    _check_job(store, job)
    return data_of_job(store, job)


def evaluate_specs(store: Store, job: str) -> list[SpecResult]:
    """Every stored specification of the metrics ``job`` measured whose
    metadata query matches the job's metadata, with whether it passed."""
    meta = _check_job(store, job)
    out = []
    for spec, metric, value, unit, op, threshold, t_unit, query in specifications_of_job(
            store, job):
        if not meta_matches(json.loads(query or "{}"), meta):
            continue
        passed = None if value is None else compare(value, unit or "", op, threshold, t_unit or "")
        out.append(SpecResult(spec, metric, value, unit or "", op, threshold, t_unit or "",
                              passed))
    return out

"""Metric jobs: units, threshold comparisons and the lookups over stored jobs.

What ``lineage ingest metrics`` stores (``docs/metrics.md``): ``Job`` nodes
with their ``Measurement`` nodes (``HAS_MEASUREMENT``), each ``OF_METRIC`` a
``Metric``; ``Specification`` nodes (thresholds) ``SPECIFIES`` a metric.  A
measurement keeps the value as the file gave it (``value``, ``unit``) and,
when it has one, in its metric's unit (``value_in_metric_unit``,
``metric_unit``).  A NaN or null value is not stored: the measurement is
there, its value is missing, and no comparison ever matches it.

Every comparison converts units with astropy, so ``15 mas`` and
``0.015 arcsec`` are the same threshold, and treats values equal to 1e-9
relative (a unit conversion is not exact in binary floating point).
"""

from __future__ import annotations

import json
import math
import operator as _op
from dataclasses import dataclass
from datetime import datetime, timezone

import astropy.units as u
from astropy.time import Time

from .store.base import Store

__all__ = ["MetricError", "OPERATORS", "parse_unit", "compare", "job_time", "parse_date",
           "Measured", "SpecResult", "measurements", "jobs_where", "evaluate_specs",
           "meta_matches"]

#: Comparison operators of lsst.verify threshold specifications.
OPERATORS = {"<": _op.lt, "<=": _op.le, ">": _op.gt, ">=": _op.ge, "==": _op.eq, "!=": _op.ne}

#: Two values this close (relative) are equal: unit conversions are not exact.
REL_TOLERANCE = 1e-9


class MetricError(ValueError):
    """A metric query or comparison that cannot be made (unknown unit or operator,
    units that do not convert); the message names what is wrong."""


def parse_unit(text) -> u.UnitBase:
    """The astropy unit named by ``text`` (``"mmag"``, ``"marcsec"``, ``"%"``,
    ``""`` for dimensionless).  Raises :class:`MetricError` for anything else."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise MetricError(f"unit must be text, not {type(text).__name__} {text!r}")
    try:
        return u.Unit(text, parse_strict="raise")
    except ValueError:
        raise MetricError(f"unknown unit {text!r}") from None


def canonical_unit(text) -> str:
    """The unit as astropy writes it (``"milliarcsecond"`` -> ``"marcsec"``, ``"percent"`` -> ``"%"``)."""
    return parse_unit(text).to_string()


def convert(value: float, unit, to_unit) -> float:
    """``value`` in ``unit`` expressed in ``to_unit``; :class:`MetricError` if they do not convert."""
    a, b = _unit(unit), _unit(to_unit)
    try:
        return float((value * a).to_value(b))
    except u.UnitConversionError:
        raise MetricError(f"{_show(a)} does not convert to {_show(b)}") from None


def compare(value, unit, operator: str, threshold: float, threshold_unit) -> bool:
    """Whether ``value unit OPERATOR threshold threshold_unit`` holds.

    A missing value (None, NaN) never matches, whatever the operator.
    """
    if operator not in OPERATORS:
        raise MetricError(f"unknown operator {operator!r}; known: {', '.join(OPERATORS)}")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    left = convert(float(value), unit, threshold_unit)
    right = float(threshold)
    if math.isnan(right):
        return False
    equal = math.isclose(left, right, rel_tol=REL_TOLERANCE, abs_tol=0.0)
    if operator in ("==", "!="):
        return equal == (operator == "==")
    if equal:
        return operator in ("<=", ">=")
    return OPERATORS[operator](left, right)


def _unit(unit) -> u.UnitBase:
    return unit if isinstance(unit, u.UnitBase) else parse_unit(unit)


def _show(unit: u.UnitBase) -> str:
    return repr(unit.to_string()) if unit.to_string() else "dimensionless ''"


# --- times --------------------------------------------------------------------

def parse_date(text: str) -> Time:
    """An ISO date (``2018-07-30T18:25:52+00:00``, ``2017-04-24T00:33:41Z``) as a
    UTC astropy Time; a date without a zone is taken as UTC."""
    try:
        when = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise MetricError(f"not an ISO date: {text!r}") from None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    t = Time(when, scale="utc")
    t.precision = 6
    return t


def job_time(date: str | None, time_scale: str | None) -> Time | None:
    """A stored job's ``date`` in its ``time_scale`` (``utc`` unless said) as a Time."""
    if not date:
        return None
    t = Time(str(date).replace(" ", "T").rstrip("Z"), format="isot",
             scale=(time_scale or "utc").lower())
    return t


def _as_time(value) -> Time | None:
    if value is None or isinstance(value, Time):
        return value
    return parse_date(value)


# --- lookups ------------------------------------------------------------------

@dataclass(frozen=True)
class Measured:
    """One measurement of a metric by one job."""

    job: str
    date: str | None
    time_scale: str | None
    metric: str
    measurement: str
    value: float | None          # None: missing (NaN or null in the job file)
    unit: str
    value_in_metric_unit: float | None
    metric_unit: str | None
    software: str | None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


_MEASUREMENTS = (
    "MATCH (j:Job)-[:HAS_MEASUREMENT]->(ms:Measurement)-[:OF_METRIC]->(m:Metric {key: $metric}) "
    "OPTIONAL MATCH (j)-[:RAN_WITH]->(sw:SoftwareVersion) "
    "RETURN j.key, j.date, j.time_scale, ms.key, ms.value, ms.unit, "
    "ms.value_in_metric_unit, ms.metric_unit, sw.key ORDER BY j.key")


def measurements(store: Store, metric: str) -> list[Measured]:
    """Every stored measurement of ``metric`` (``validate_drp.PA1`` or
    ``metric:validate_drp.PA1``), missing values included (value None), by job key."""
    name = metric.removeprefix("metric:")
    out = []
    for job, date, scale, ms, value, unit, v_metric, m_unit, sw in store.read(
            _MEASUREMENTS, {"metric": f"metric:{name}"}):
        out.append(Measured(job, date, scale, name, ms, value, unit or "", v_metric,
                            m_unit, sw))
    return out


def jobs_where(store: Store, metric: str, operator: str, value: float, unit: str = "",
               since=None, until=None) -> list[Measured]:
    """Measurements of ``metric`` whose value satisfies ``OPERATOR value unit``,
    by jobs dated in ``[since, until)`` (ISO text or Time; either may be None).

    Units convert (``jobs_where(s, "validate_drp.AM1", ">", 0.015, "arcsec")``
    is ``> 15 mas``); a missing value never matches; a unit that does not
    convert to the measured one is a :class:`MetricError`.
    """
    if operator not in OPERATORS:
        raise MetricError(f"unknown operator {operator!r}; known: {', '.join(OPERATORS)}")
    parse_unit(unit)
    start, end = _as_time(since), _as_time(until)
    out = []
    for row in measurements(store, metric):
        if row.value is None:
            continue
        if start is not None or end is not None:
            when = job_time(row.date, row.time_scale)
            if when is None or (start is not None and when < start) \
                    or (end is not None and when >= end):
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


_SPECS_OF_JOB = (
    "MATCH (j:Job {key: $job})-[:HAS_MEASUREMENT]->(ms:Measurement)-[:OF_METRIC]->(m:Metric) "
    "MATCH (s:Specification)-[:SPECIFIES]->(m) "
    "RETURN s.key, m.key, ms.value, ms.unit, s.operator, s.threshold, s.unit, "
    "s.metadata_query ORDER BY s.key")


def evaluate_specs(store: Store, job: str) -> list[SpecResult]:
    """Every stored specification of the metrics ``job`` measured whose
    metadata query matches the job's metadata, with whether it passed."""
    rows = store.read("MATCH (j:Job {key: $job}) RETURN j.meta", {"job": job})
    if not rows:
        raise MetricError(f"no such job: {job}")
    meta = json.loads(rows[0][0] or "{}")
    out = []
    for spec, metric, value, unit, op, threshold, t_unit, query in store.read(
            _SPECS_OF_JOB, {"job": job}):
        if not meta_matches(json.loads(query or "{}"), meta):
            continue
        passed = None if value is None else compare(value, unit or "", op, threshold, t_unit or "")
        out.append(SpecResult(spec, metric, value, unit or "", op, threshold, t_unit or "",
                              passed))
    return out

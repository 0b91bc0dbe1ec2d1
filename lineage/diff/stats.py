"""Statistical comparison of two releases (DRP31 c, LDF104).

For metric measurements of jobs that measured each release (``Job
-[:MEASURED]-> Collection``) and for numeric dataset properties (``size``
by default), per-release distributions and their differences.  Two runs of
the same processing at two sites are *scientifically equivalent* on a
quantity when the medians differ by no more than its tolerance: relative
(``5%``, of release A's median) or absolute in the quantity's unit
(``validate_drp.PA1=0.5``).  Two-sample tests from ``scipy.stats`` say whether the
two sets of values could come from one distribution: Kolmogorov-Smirnov (its distance,
the largest gap between the two cumulative distributions, and its p-value) and
Mann-Whitney U (its p-value: does one release tend to have larger values).  With fewer
than :data:`TINY_SAMPLE` values on a side the medians and tests say little, and the
comparison says so (``tiny_sample``).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

import numpy as np

from lineage.core.units import MetricError, convert
from lineage.diff import queries
from lineage.diff.releases import DiffFilter
from lineage.core.errors import UserError

DEFAULT_TOLERANCE = "5%"

#: Fewer values than this on a side: a median or a two-sample test rests on a tiny sample.
TINY_SAMPLE = 5


class ToleranceError(UserError):
    """A tolerance that cannot be parsed; the message quotes it."""


@dataclass(frozen=True)
class Tolerance:
    """How far medians may move and still be "the same": a default and per-quantity values.
    Each is ``(value, relative)``."""

    default: tuple = (0.05, True)
    per_name: tuple = ()

    @staticmethod
    def _value(text: str) -> tuple[float, bool]:
        text = text.strip()
        relative = text.endswith("%")
        try:
            value = float(text.rstrip("%"))
        except ValueError:
            raise ToleranceError(f"{text!r}: expected a number or a percentage (0.5, 5%)",
                                 field="tolerance") from None
        if not value >= 0 or math.isinf(value):
            raise ToleranceError(f"{text!r}: must be a finite number >= 0", field="tolerance")
        return (value / 100 if relative else value), relative

    @classmethod
    def parse(cls, items=()) -> "Tolerance":
        """From ``["5%", "validate_drp.PA1=0.5", "deepCoadd.size=10%"]``."""
        default, per = cls._value(DEFAULT_TOLERANCE), {}
        for item in items or ():
            name, sep, value = item.rpartition("=")
            if sep:
                per[name.strip()] = cls._value(value)
            else:
                default = cls._value(value)
        return cls(default, tuple(sorted(per.items())))

    def of(self, name: str) -> tuple[float, bool]:
        return dict(self.per_name).get(name, self.default)

    def text(self, name: str) -> str:
        value, relative = self.of(name)
        return f"{value * 100:g}%" if relative else f"{value:g}"


@dataclass(frozen=True)
class Distribution:
    n: int
    mean: float | None = None
    median: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    p05: float | None = None
    p95: float | None = None

    @classmethod
    def of(cls, values) -> "Distribution":
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if not len(v):
            return cls(0)
        p05, med, p95 = np.percentile(v, [5, 50, 95])
        return cls(len(v), float(v.mean()), float(med), float(v.std()), float(v.min()),
                   float(v.max()), float(p05), float(p95))

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TwoSample:
    """Two-sample tests of the finite values of A and B (None where a side has none):
    the Kolmogorov-Smirnov distance and p-value, and the Mann-Whitney U p-value."""

    ks: float | None = None
    ks_p: float | None = None
    mann_whitney_p: float | None = None

    @classmethod
    def of(cls, a, b) -> "TwoSample":
        from scipy import stats   # loads with the first comparison (start-up time)
        a, b = np.asarray(a, float), np.asarray(b, float)
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if not len(a) or not len(b):
            return cls()
        ks = stats.ks_2samp(a, b)
        mw = stats.mannwhitneyu(a, b, alternative="two-sided")
        return cls(float(ks.statistic), _finite(ks.pvalue), _finite(mw.pvalue))


def _finite(x) -> float | None:
    """A p-value, or None where the test has none (every value the same on both sides)."""
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class Comparison:
    """One quantity in both releases."""

    name: str
    kind: str                   # "metric" or "property"
    unit: str
    a: Distribution
    b: Distribution
    tests: TwoSample
    tolerance: str
    shift: float | None = None          # median B - median A
    relative_shift: float | None = None
    equivalent: bool | None = None      # None: one side has no values
    values_a: list = field(default_factory=list)   # metrics only (a few per release)
    values_b: list = field(default_factory=list)

    @classmethod
    def make(cls, name, kind, unit, values_a, values_b, tolerance: Tolerance,
             keep_values: bool = False) -> "Comparison":
        da, db = Distribution.of(values_a), Distribution.of(values_b)
        c = cls(name, kind, unit, da, db, TwoSample.of(values_a, values_b), tolerance.text(name))
        c.judge(tolerance)
        if keep_values:
            c.values_a, c.values_b = [float(x) for x in values_a], [float(x) for x in values_b]
        return c

    def judge(self, tolerance: Tolerance) -> None:
        """Shift of the medians and whether it is within the tolerance."""
        self.tolerance = tolerance.text(self.name)
        da, db = self.a, self.b
        if not (da.n and db.n):
            return
        self.shift = db.median - da.median
        self.relative_shift = self.shift / abs(da.median) if da.median else None
        tol, relative = tolerance.of(self.name)
        self.equivalent = abs(self.shift) <= (tol * abs(da.median) if relative else tol)

    @property
    def tiny_sample(self) -> bool:
        """Fewer than :data:`TINY_SAMPLE` values on a side (and some on both)."""
        return bool(self.a.n and self.b.n) and min(self.a.n, self.b.n) < TINY_SAMPLE

    def as_dict(self) -> dict:
        out = dict(self.__dict__)
        out.pop("tests")
        out.update(self.tests.__dict__, tiny_sample=self.tiny_sample)
        out["a"], out["b"] = self.a.as_dict(), self.b.as_dict()
        if self.kind != "metric":
            out.pop("values_a"), out.pop("values_b")
        return out


class PropertyStats:
    """Numeric dataset properties per dataset type and release, gathered while the diff
    pages through datasets; one type's values are held until that type is done."""

    def __init__(self, props: list[str], tolerance: Tolerance | None = None) -> None:
        self.props = list(props)
        self.tolerance = tolerance or Tolerance.parse()
        self._values: dict[tuple, array] = {}
        self._done: list[tuple] = []      # (type, prop, values a, values b) until finished

    def add(self, dataset_type: str, side: str, rows: list, offset: int = 0) -> None:
        """Rows of property values (in ``props`` order, from column ``offset`` on) of a
        type's datasets in one release; finite numbers count, anything else is left out."""
        for i, prop in enumerate(self.props, offset):
            numbers = [v for v in (row[i] for row in rows)
                       if (type(v) is int or type(v) is float) and math.isfinite(v)]
            if numbers:
                self._values.setdefault((dataset_type, prop, side), array("d")).extend(numbers)

    def finish(self, dataset_type: str) -> None:
        for prop in self.props:
            a = self._values.pop((dataset_type, prop, "a"), array("d"))
            b = self._values.pop((dataset_type, prop, "b"), array("d"))
            if len(a) or len(b):
                # summarised now; the tolerance is applied when asked (it may be set later)
                self._done.append((dataset_type, prop, Distribution.of(a), Distribution.of(b),
                                   TwoSample.of(a, b)))

    def comparisons(self) -> list[Comparison]:
        out = []
        for t, prop, da, db, tests in self._done:
            name = f"{t}.{prop}"
            c = Comparison(name, "property", "", da, db, tests, "")
            c.judge(self.tolerance)
            out.append(c)
        return out

    def as_list(self) -> list[dict]:
        return [c.as_dict() for c in self.comparisons()]


def metric_values(store, names: list[str],
                  flt: DiffFilter | None = None) -> dict[str, tuple[str, list[float]]]:
    """metric -> (unit, values) of every job that measured one of the collections
    ``names`` (and that the filter keeps: :meth:`DiffFilter.passes_units`), in the
    metric's unit (a value that does not convert is left out)."""
    out: dict[str, tuple[str, list]] = {}
    rows = queries.metric_values_of(store, names)
    if flt:
        units: dict[str, dict[str, set]] = {}
        for job, dimension, value in queries.units_measured(store, sorted({r.job for r in rows})):
            units.setdefault(job, {}).setdefault(dimension, set()).add(str(value))
        rows = [r for r in rows if flt.passes_units(units.get(r.job, {}))]
    for _, metric, m_unit, value, unit, in_metric in rows:
        if value is None:
            continue
        if in_metric is None:
            try:
                in_metric = convert(float(value), unit or "", m_unit or unit or "")
            except MetricError:
                continue
        out.setdefault(metric, (m_unit or unit or "", []))[1].append(float(in_metric))
    return out


def compare_metrics(store, a, b, tolerance: Tolerance | None = None,
                    flt: DiffFilter | None = None) -> list[Comparison]:
    """Metric distributions of releases ``a`` and ``b`` (:class:`~.releases.Release`), of
    the jobs the filter keeps."""
    tolerance = tolerance or Tolerance.parse()
    va = metric_values(store, [a.name, *a.runs], flt)
    vb = metric_values(store, [b.name, *b.runs], flt)
    out = []
    for metric in sorted(set(va) | set(vb)):
        unit = (va.get(metric) or vb.get(metric))[0]
        out.append(Comparison.make(metric, "metric", unit, va.get(metric, ("", []))[1],
                                   vb.get(metric, ("", []))[1], tolerance, keep_values=True))
    return out

"""Statistical comparison of two releases (DRP31 c, LDF104).

For metric measurements of jobs that measured each release (``Job
-[:MEASURED]-> Collection``) and for numeric dataset properties (``size``
by default), per-release distributions and their differences.  Two runs of
the same processing at two sites are *scientifically equivalent* on a
quantity when the medians differ by no more than its tolerance: relative
(``5%``, of release A's median) or absolute in the quantity's unit
(``validate_drp.PA1=0.5``).  The two-sample Kolmogorov-Smirnov distance is
given too, for a look at the shapes.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

import numpy as np

from lineage.core.units import MetricError, convert
from lineage.diff import queries
from lineage.core.errors import UserError

DEFAULT_TOLERANCE = "5%"


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


def ks_distance(a, b) -> float | None:
    """The two-sample Kolmogorov-Smirnov statistic (largest gap between the CDFs)."""
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    if not len(a) or not len(b):
        return None
    grid = np.concatenate([a, b])
    gap = np.abs(np.searchsorted(a, grid, side="right") / len(a)
                 - np.searchsorted(b, grid, side="right") / len(b))
    return float(gap.max())


@dataclass
class Comparison:
    """One quantity in both releases."""

    name: str
    kind: str                   # "metric" or "property"
    unit: str
    a: Distribution
    b: Distribution
    ks: float | None
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
        c = cls(name, kind, unit, da, db, ks_distance(values_a, values_b), tolerance.text(name))
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

    def as_dict(self) -> dict:
        out = dict(self.__dict__)
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
                                   ks_distance(a, b)))

    def comparisons(self) -> list[Comparison]:
        out = []
        for t, prop, da, db, ks in self._done:
            name = f"{t}.{prop}"
            c = Comparison(name, "property", "", da, db, ks, "")
            c.judge(self.tolerance)
            out.append(c)
        return out

    def as_list(self) -> list[dict]:
        return [c.as_dict() for c in self.comparisons()]


def metric_values(store, names: list[str]) -> dict[str, tuple[str, list[float]]]:
    """metric -> (unit, values) of every job that measured one of the collections
    ``names``, in the metric's unit (a value that does not convert is left out)."""
    out: dict[str, tuple[str, list]] = {}
    for _, metric, m_unit, value, unit, in_metric in queries.metric_values_of(store, names):
        if value is None:
            continue
        if in_metric is None:
            try:
                in_metric = convert(float(value), unit or "", m_unit or unit or "")
            except MetricError:
                continue
        out.setdefault(metric, (m_unit or unit or "", []))[1].append(float(in_metric))
    return out


def compare_metrics(store, a, b, tolerance: Tolerance | None = None) -> list[Comparison]:
    """Metric distributions of releases ``a`` and ``b`` (:class:`~.releases.Release`)."""
    tolerance = tolerance or Tolerance.parse()
    va = metric_values(store, [a.name, *a.runs])
    vb = metric_values(store, [b.name, *b.runs])
    out = []
    for metric in sorted(set(va) | set(vb)):
        unit = (va.get(metric) or vb.get(metric))[0]
        out.append(Comparison.make(metric, "metric", unit, va.get(metric, ("", []))[1],
                                   vb.get(metric, ("", []))[1], tolerance, keep_values=True))
    return out

"""Units, operators and times of metric values: every comparison converts with
astropy, so ``15 mas`` and ``0.015 arcsec`` are the same threshold, and values
equal to 1e-9 relative are equal (a unit conversion is not exact in binary
floating point).  A missing value (None, NaN) never matches anything.
"""

from __future__ import annotations

import math
import operator as _op

import astropy.units as u
from astropy.time import Time

from lineage.core.time import parse_iso
from lineage.core.errors import UserError


#: Comparison operators of lsst.verify threshold specifications.
OPERATORS = {"<": _op.lt, "<=": _op.le, ">": _op.gt, ">=": _op.ge, "==": _op.eq, "!=": _op.ne}

#: Two values this close (relative) are equal: unit conversions are not exact.
REL_TOLERANCE = 1e-9


class MetricError(UserError):
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
        when = parse_iso(str(text).strip(), "utc")
    except ValueError:
        raise MetricError(f"not an ISO date: {text!r}") from None
    t = Time(when, scale="utc")
    t.precision = 6
    return t


def _as_time(value) -> Time | None:
    if value is None or isinstance(value, Time):
        return value
    return parse_date(value)

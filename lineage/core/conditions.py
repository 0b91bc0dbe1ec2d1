"""Selecting visits by observing conditions and telemetry (COMM7, SQR2).

A condition compares a *term* with a number, optionally with a unit::

    seeing < 0.7 arcsec
    airmass <= 1.2 and band = r
    efd:ESS.temperature.temperatureItem0 - efd:ESS.temperature.temperatureItem1 > 2 K

Terms are properties of the visit data unit (``seeing``, ``airmass``, ``sky``,
``exposure_time``, ``mjd_begin`` ..., and ``band`` for ``=``/``!=``) or
telemetry summarised over the visit's exposure: ``efd:<topic>.<field>`` (the
mean; ``.min``/``.max`` for the extremes; the topic may leave out
``lsst.sal.``), or the difference of two terms.  Units are astropy units:
``seeing < 700 mas`` is ``seeing < 0.7 arcsec``.  A temperature difference is
an interval, so ``2 K`` and ``2 deg_C`` mean the same there.  A visit without
the value (no telemetry for it) never matches.

:func:`visit_table` gives every visit with its conditions and telemetry as a
DataFrame, :func:`select_visits` the matching ones, :func:`compare` two
selections side by side, and the selector ``visit[CONDITIONS]`` (see
:mod:`lineage.core.selector`) starts lineage questions from them:
``lineage downstream "visit[seeing < 0.6 arcsec]" --type deepCoadd``.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lineage.core.butler_expr import INSTALL_HINT, butler_parser_available, \
    looks_like_butler, parse_butler_expression
from lineage.core.text import SelectorError, check_length

if TYPE_CHECKING:  # astropy, numpy and pandas are imported where they are used
    import astropy.units as u
    import pandas as pd

#: Units of the visit properties the ingest and the demo store (astropy spellings).
PROPERTY_UNITS = {"seeing": "arcsec", "exposure_time": "s", "dark_time": "s", "airmass": "",
                  "sky": "mag", "ra": "deg", "dec": "deg", "rotation": "deg",
                  "zenith_angle": "deg", "mjd_begin": "d", "mjd_end": "d",
                  "temperature": "deg_C", "pressure": "hPa", "relative_humidity": "%"}
#: Units of telemetry fields by name (EFD answers carry none).
FIELD_UNITS = [(re.compile(r"^temperature"), "deg_C"), (re.compile(r"^fwhm$"), "arcsec"),
               (re.compile(r"(Position|position|elevation|azimuth)"), "deg")]

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
        "=": operator.eq, "==": operator.eq, "!=": operator.ne}
_TWO_CHAR_OPS = ("<=", ">=", "==", "!=")
_ONE_CHAR_OPS = ("<", ">", "=")

#: At most this many conditions joined with ``and``, and units this long.
MAX_CONDITIONS = 64
MAX_UNIT_CHARS = 100


@dataclass(frozen=True)
class Condition:
    left: str
    right: str | None      # the term subtracted, for a difference
    op: str
    value: float | str
    unit: str

    def __str__(self) -> str:
        term = self.left + (f" - {self.right}" if self.right else "")
        return f"{term} {self.op} {self.value}{' ' + self.unit if self.unit else ''}"


def _split_and(text: str) -> list[str]:
    """``text`` (stripped) cut at every ``and`` (any case) with white space on both sides.

    A word scan, linear in the length: whitespace runs and words alternate; an
    ``and`` word is a separator when the white space before it is not the tail of
    the previous separator (``a and and b`` is ``a`` and ``and b``).
    """
    parts, start, i, n = [], 0, 0, len(text)
    previous_was_separator = False
    while i < n:
        if text[i].isspace():
            j = i
            while j < n and text[j].isspace():
                j += 1
            word_end = j
            while word_end < n and not text[word_end].isspace():
                word_end += 1
            if (not previous_was_separator and word_end < n and word_end - j == 3
                    and text[j:word_end].lower() == "and"):
                after = word_end
                while after < n and text[after].isspace():
                    after += 1
                parts.append(text[start:i])
                start, i = after, after
                previous_was_separator = True
                continue
            previous_was_separator = False
            i = word_end
        else:
            previous_was_separator = False
            while i < n and not text[i].isspace():
                i += 1
    parts.append(text[start:])
    return parts


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _term(text: str, i: int) -> int:
    """End of the term starting at ``i`` (``efd:<topic>.<field>`` or a name), or -1."""
    n = len(text)
    if text.startswith("efd:", i) and i + 4 < n and (_is_word_char(text[i + 4])
                                                      or text[i + 4] == "."):
        j = i + 4
        while j < n and (_is_word_char(text[j]) or text[j] == "."):
            j += 1
        return j
    if i < n and (text[i].isascii() and text[i].isalpha() or text[i] == "_"):
        j = i + 1
        while j < n and _is_word_char(text[j]):
            j += 1
        return j
    return -1


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _scan_condition(part: str):
    """``TERM [- TERM] OP VALUE [UNIT]`` -> (left, right, op, value, unit) or None.

    A hand-written scanner, linear in the length (the grammar of the regular
    expression it replaces, which backtracked quadratically on long white space).
    """
    text = part.strip()
    end = _term(text, 0)
    if end < 0:
        return None
    left, right = text[:end], None
    i = _skip_space(text, end)
    if text.startswith("-", i):
        j = _skip_space(text, i + 1)
        end = _term(text, j)
        if end < 0:
            return None
        right = text[j:end]
        i = _skip_space(text, end)
    op = next((o for o in _TWO_CHAR_OPS if text.startswith(o, i)), None)
    if op is not None and _skip_space(text, i + 2) == len(text) and op[0] in _ONE_CHAR_OPS:
        op = op[0]  # 'band ==' reads as band = '=' (the value is the second character)
    elif op is None:
        op = next((o for o in _ONE_CHAR_OPS if text.startswith(o, i)), None)
        if op is None:
            return None
    i = _skip_space(text, i + len(op))
    j = i
    while j < len(text) and not text[j].isspace():
        j += 1
    if j == i:
        return None
    value, unit = text[i:j], text[j:].strip()
    if "\n" in unit:  # a unit is one line
        return None
    return left, right, op, value, unit or None


def parse_conditions(text: str) -> list[Condition]:
    """``'seeing < 0.7 arcsec and airmass < 1.3'`` -> conditions (all must hold)."""
    if not isinstance(text, str):
        raise SelectorError(f"conditions are text, not {type(text).__name__}")
    check_length("condition", text)
    parts = [p for p in _split_and(text.strip()) if p.strip()]
    if not parts:
        raise SelectorError("empty condition: give e.g. 'seeing < 0.7 arcsec'")
    if len(parts) > MAX_CONDITIONS:
        raise SelectorError(f"too many conditions: {len(parts)} (at most {MAX_CONDITIONS})")
    out = []
    for part in parts:
        scanned = _scan_condition(part)
        if scanned is None:
            raise SelectorError(f"bad condition {part.strip()!r}: write TERM OP NUMBER [UNIT], "
                                "e.g. 'seeing < 0.7 arcsec'")
        left, right, op, value, unit = scanned
        try:
            number: float | str = float(value)
        except ValueError:
            if op not in ("=", "==", "!=") or right:
                raise SelectorError(f"bad condition {part.strip()!r}: {value!r} is not a "
                                    "number") from None
            number = _unquoted(value)
        if unit:
            import astropy.units as u
            if len(unit) > MAX_UNIT_CHARS:
                raise SelectorError(f"bad condition {part.strip()[:60]!r}...: the unit is "
                                    f"{len(unit):,} characters long (at most {MAX_UNIT_CHARS})")
            try:
                u.Unit(unit)
            except Exception:  # astropy's parser: ValueError, and others on odd text
                raise SelectorError(f"bad condition {part.strip()!r}: unknown unit "
                                    f"{unit!r}") from None
        out.append(Condition(left, right, op, number, unit or ""))
    return out


def _unquoted(value: str) -> str:
    """``'g'`` or ``"g"`` -> ``g`` (as a Butler expression writes a string); others as given."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_visit_selection(text: str):
    """``text`` as conditions (:func:`parse_conditions`, a list), or, when it is not
    written in that syntax and has what only a Butler expression has
    (:func:`looks_like_butler`), as a Butler query expression (its tree,
    :mod:`lineage.core.butler_expr`): ``band = g OR band = r``, ``visit IN (1..9)``,
    ``exposure.observation_type = 'science'``.  When it is neither, the error gives
    both reasons."""
    try:
        return parse_conditions(text)
    except SelectorError as as_conditions:
        if not looks_like_butler(text):
            raise
        if not butler_parser_available():
            raise SelectorError(f"{as_conditions}; Butler query expressions need daf_butler: "
                                f"{INSTALL_HINT}") from None
        try:
            return parse_butler_expression(text, None)
        except SelectorError as as_butler:
            raise SelectorError(f"{as_conditions}; as a Butler expression: {as_butler}") \
                from None


def _efd_column(term: str) -> str:
    """``efd:ESS.temperature.temperatureItem0[.min]`` -> the table column it names."""
    name = term[len("efd:"):]
    if name.startswith("lsst.sal."):
        name = name[len("lsst.sal."):]
    stat = "mean"
    for s in ("mean", "min", "max"):
        if name.endswith("." + s):
            name, stat = name[:-len(s) - 1], s
    return f"efd.{name}.{stat}"


def _column(term: str) -> str:
    return _efd_column(term) if term.startswith("efd:") else term


def _unit_of(term: str) -> str:
    if term.startswith("efd:"):
        field = _efd_column(term).split(".")[-2]
        return next((unit for rx, unit in FIELD_UNITS if rx.search(field)), "")
    return PROPERTY_UNITS.get(term, "")


def _threshold(cond: Condition) -> float | str:
    """The condition's value in the unit of its term."""
    if not cond.unit or isinstance(cond.value, str):
        return cond.value
    import astropy.units as u
    have, given = u.Unit(_unit_of(cond.left) or ""), u.Unit(cond.unit)
    if cond.right and have.physical_type == given.physical_type == "temperature":
        return cond.value * _degree_size(given) / _degree_size(have)   # an interval
    try:
        return (cond.value * given).to_value(have, equivalencies=u.temperature())
    except u.UnitConversionError:
        raise SelectorError(f"condition {cond}: {cond.unit!r} does not convert to the unit of "
                            f"{cond.left} ({have.to_string() or 'dimensionless'})") from None


def _degree_size(unit: u.UnitBase) -> float:
    """How many kelvin one degree of a temperature unit spans (K and deg_C: 1)."""
    import astropy.units as u
    eq = u.temperature()
    return (1 * unit).to_value(u.K, equivalencies=eq) - (0 * unit).to_value(u.K, equivalencies=eq)


def _values(table: pd.DataFrame, term: str) -> pd.Series:
    column = _column(term)
    if column not in table.columns:
        known = sorted(c for c in table.columns if c.startswith("efd.")) if term.startswith(
            "efd:") else sorted(c for c in table.columns if not c.startswith("efd."))
        raise SelectorError(f"no {term!r} on the visits of this repository (known: "
                            f"{', '.join(known[:12]) or 'none'})")
    return table[column]


def mask(table: pd.DataFrame, conditions: list[Condition]) -> pd.Series:
    """Which rows satisfy every condition (a missing value never does)."""
    import numpy as np
    import pandas as pd
    keep = pd.Series(True, index=table.index)
    for cond in conditions:
        values = _values(table, cond.left)
        if cond.right:
            values = pd.to_numeric(values, errors="coerce") - \
                pd.to_numeric(_values(table, cond.right), errors="coerce")
        threshold = _threshold(cond)
        if isinstance(threshold, str):
            hit = _OPS[cond.op](values.astype("string"), threshold)
        else:
            numbers = pd.to_numeric(values, errors="coerce")
            hit = _OPS[cond.op](numbers, threshold)
            if cond.op in ("=", "=="):  # a unit conversion is not exact in floating point
                hit = pd.Series(np.isclose(numbers, threshold, rtol=1e-9, atol=0),
                                index=table.index)
            hit &= numbers.notna()
        keep &= hit.fillna(False).astype(bool)
    return keep




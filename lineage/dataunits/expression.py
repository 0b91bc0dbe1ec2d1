"""Answering a Butler query expression (:mod:`lineage.core.butler_expr`) from the graph.

Each comparison selects data units (``detector IN (1..4)``: the detector units
1 to 4; ``exposure.observation_type = 'science'``: the exposures with that
property); what they select is then what those units identify: datasets for a
selector (:func:`datasets_matching`, a unit identifies the datasets of it and of
every unit that is part of it, as for ``dim=value``), visits for ``lineage
visits`` (:func:`visits_matching`).  ``AND``, ``OR`` and ``NOT`` are the
intersection, union and complement of those sets, so ``visit != 1228`` is the
datasets of the other visits while ``NOT visit = 1228`` is every other dataset,
coadds included.
"""

from __future__ import annotations

import operator

from lineage.core.butler_expr import And, Not, Or, Range, Test
from lineage.core.text import SelectorError, is_identifier
from lineage.dataunits.names import unknown_name
from lineage.dataunits.queries import (all_datasets, data_units_of_values,
                                       data_units_with_property, datasets_of_units,
                                       property_names_of_dimension, stored_dimensions,
                                       visits_of_units)

_COMPARE = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}


def datasets_matching(store, expression) -> dict[str, str]:
    """The datasets whose data units satisfy ``expression``: key -> dataset type."""
    types: dict[str, str] = {}

    def of_test(test: Test) -> set[str]:
        found = {k: t for k, t in datasets_of_units(store, units_matching(store, test))}
        types.update(found)
        return set(found)

    def everything() -> set[str]:
        found = dict(all_datasets(store))
        types.update(found)
        return set(found)

    return {k: types[k] for k in sorted(_evaluate(expression, of_test, everything))}


def visits_matching(store, expression, all_visits: list[str]) -> set[str]:
    """Which of ``all_visits`` (keys) satisfy ``expression``: a comparison of ``visit``
    tests the visits themselves, one of another dimension the visits part of a matching
    unit (band, physical filter, instrument, day) or having one as a part (exposure)."""
    def of_test(test: Test) -> set[str]:
        units = units_matching(store, test)
        if test.dimension == "visit":
            return set(units)
        return set(visits_of_units(store, units)) if units else set()

    return _evaluate(expression, of_test, lambda: set(all_visits)) & set(all_visits)


def _evaluate(expression, of_test, everything) -> set[str]:
    """The set an expression selects: ``of_test`` answers a comparison, ``everything``
    (called at most once) is what ``NOT`` takes its complement in."""
    universe: list[set[str]] = []

    def walk(node) -> set[str]:
        if isinstance(node, Test):
            return of_test(node)
        if isinstance(node, And):
            parts = [walk(p) for p in node.parts]
            return set.intersection(*parts)
        if isinstance(node, Or):
            return set().union(*(walk(p) for p in node.parts))
        if isinstance(node, Not):
            if not universe:
                universe.append(everything())
            return universe[0] - walk(node.part)
        raise SelectorError(f"not an expression: {node!r}")

    return walk(expression)


def units_matching(store, test: Test) -> list[str]:
    """Keys of the data units of ``test.dimension`` that satisfy ``test``; an unknown
    dimension or property is an error naming the known ones."""
    if test.attribute is None and test.op in ("=", "IN") and all(
            isinstance(v, (int, str)) and not isinstance(v, bool) for v in test.values):
        found = data_units_of_values(store, test.dimension, [str(v) for v in test.values])
        if not found:
            _check_dimension(store, test.dimension)
        return sorted(found)
    prop = test.attribute or "value"
    if not is_identifier(prop):
        raise SelectorError(f"{test.dimension}.{prop}: a property is a name")
    rows = data_units_with_property(store, test.dimension, prop)
    if not rows:
        _check_dimension(store, test.dimension)
    elif all(stored is None for _, stored in rows):
        known = [n for n in property_names_of_dimension(store, test.dimension)
                 if n not in ("key", "dimension", "region")]
        raise SelectorError(f"no property {prop!r} on the {test.dimension} units of this "
                            f"repository (known: {', '.join(known) or 'none'})")
    return sorted(key for key, stored in rows if _holds(test, stored))


def _check_dimension(store, dimension: str) -> None:
    known = stored_dimensions(store)
    if dimension not in known:
        raise unknown_name("dimension", dimension, known)


def _holds(test: Test, stored) -> bool:
    """Whether a stored value satisfies the test: as a number when the literal is one
    (a value that is not a number never does), else as text."""
    if stored is None or isinstance(stored, (list, dict)):
        return False
    if test.op in ("IN", "NOT IN"):
        hit = any(_in(stored, v) for v in test.values)
        return hit if test.op == "IN" else not hit
    given = _as_literal(stored, test.value)
    return given is not None and _COMPARE[test.op](given, test.value)


def _in(stored, item) -> bool:
    if isinstance(item, Range):
        number = _as_literal(stored, 0)
        return number is not None and number in item
    given = _as_literal(stored, item)
    return given is not None and given == item


def _as_literal(stored, literal):
    """``stored`` as the literal's kind: a number (None if it is not one) or text."""
    if isinstance(literal, str):
        return str(stored)
    if isinstance(stored, bool):
        return None
    if isinstance(stored, (int, float)):
        return stored
    try:
        return float(stored)
    except (TypeError, ValueError):
        return None

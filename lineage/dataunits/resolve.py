"""Resolving a selector to the nodes a lineage question starts from."""

from __future__ import annotations

from lineage.core.model import Kind, kind_of_key
from lineage.core.selector import Selector
from lineage.core.text import SelectorError
from lineage.dataunits.expression import datasets_matching
from lineage.dataunits.names import NAMED_DIMENSIONS, unknown_name
from lineage.dataunits.queries import (datasets_of_units, dimension_values, stored_dimensions,
                                       data_units_of_value, units_part_of)
from lineage.dataunits.visits import select_visits


def resolve(store, selector: Selector) -> dict[str, str | None]:
    """The nodes (datasets or quanta) a selector starts from: key -> dataset type (None for a quantum)."""
    if selector.keys:
        for key in selector.keys:
            if kind_of_key(key) not in (Kind.DATASET, Kind.QUANTUM, Kind.DATA_UNIT):
                raise SelectorError(f"{key} is a {kind_of_key(key).value}; lineage starts "
                                    "from a dataset, a quantum or a data unit")
        units = [k for k in selector.keys if kind_of_key(k) == Kind.DATA_UNIT]
        direct = [k for k in selector.keys if kind_of_key(k) != Kind.DATA_UNIT]
        found = _datasets_of_units(store, units)
        if direct or not found:  # units that identify datasets surely exist
            looked_up = store.lookup(direct + (units if not found else []))
            missing = [k for k in selector.keys if k not in looked_up and k not in
                       (units if found else ())]
            if missing:
                raise SelectorError(f"no such node: {missing[0]}")
            found.update((k, looked_up[k]) for k in direct)
        if not found:
            raise SelectorError(f"no dataset is identified by {', '.join(units)}")
        return dict(sorted(found.items()))
    if selector.conditions:
        visits = select_visits(store, selector.conditions)
        found = _datasets_of_units(store, list(visits["key"]) if not visits.empty else [])
        if not found:
            raise SelectorError(f"no visit with datasets satisfies {selector.conditions!r}")
        return dict(sorted(found.items()))
    if selector.expression is not None:
        found = datasets_matching(store, selector.expression)
        if not found:
            raise SelectorError(f"no dataset matches {selector.text!r}")
        return found
    units_of: dict[str, list[str]] = {}
    for dim, value in selector.pairs:
        units = data_units_of_value(store, dim, value)
        if not units:
            known = stored_dimensions(store)
            if dim not in known:
                raise unknown_name("dimension", dim, known, selector=selector.text)
            if dim in NAMED_DIMENSIONS:
                raise unknown_name(dim, value, dimension_values(store, dim),
                                   selector=selector.text)
            raise SelectorError(f"no {dim} {value!r} in this repository")
        units_of[dim] = units
    result: dict[str, str] | None = None
    for dim in _narrowing(store, units_of):
        datasets = _datasets_of_units(store, units_of[dim])
        result = datasets if result is None else {k: t for k, t in result.items() if k in datasets}
    if not result:
        raise SelectorError(f"no dataset matches {selector.text!r}")
    return dict(sorted(result.items()))


def _narrowing(store, units_of: dict[str, list[str]]) -> list[str]:
    """The dimensions of a selector's pairs that narrow its answer: a pair whose units are
    above every unit of another pair (``instrument=`` beside ``visit=``, ``skymap=`` beside
    ``tract=``) holds every dataset the other pair matches, so its datasets (every dataset
    of the instrument) are not read.  One query for the ``PART_OF`` links among the units.
    (Each link is at most 4 steps, as a dataset's own are; data-unit hierarchies are 3 deep.)"""
    if len(units_of) < 2:
        return list(units_of)
    below = units_part_of(store, [u for units in units_of.values() for u in units])
    return [dim for dim, units in units_of.items()
            if not any(other != dim and all(below.get(u, set()) & set(units) for u in theirs)
                       for other, theirs in units_of.items())]


def _datasets_of_units(store, unit_keys: list[str]) -> dict[str, str]:
    """Datasets identified by these units or by any unit that is part of them."""
    if not unit_keys:
        return {}
    return {k: t for k, t in datasets_of_units(store, unit_keys)}

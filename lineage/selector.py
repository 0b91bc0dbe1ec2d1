"""Selectors: how a user names where a lineage question starts.

* a dataset UUID (``2f1c...``) or any node key (``dataset:...``, ``quantum:...``);
* a data-unit expression ``dim=value[,dim=value...]`` such as ``visit=1228``
  or ``tract=9813,patch=40,band=r``: the datasets whose data ID, with its
  implied dimensions, matches every pair;
* visits chosen by their conditions, ``visit[seeing < 0.7 arcsec and airmass < 1.2]``
  (:mod:`lineage.conditions`): the datasets of every such visit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lineage.model import Kind, ModelError, kind_of_key

#: Longest selector (and visit condition text) accepted, in characters.  Real ones are
#: tens of characters; the parsers are linear, the cap keeps messages and lookups small.
MAX_SELECTOR_CHARS = 4096

_IDENT_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_IDENT_CHARS = _IDENT_START | frozenset("0123456789")


class SelectorError(ValueError):
    """A selector that cannot be parsed or matches nothing; the message says which."""


@dataclass(frozen=True)
class Selector:
    text: str
    keys: tuple[str, ...] = ()                 # explicit node keys
    pairs: tuple[tuple[str, str], ...] = ()    # data-unit expression
    conditions: str = ""                       # visit[...] conditions

    def __str__(self) -> str:
        return self.text


def check_length(what: str, text: str, limit: int | None = None) -> None:
    """Refuse a text longer than ``limit`` (:data:`MAX_SELECTOR_CHARS`) characters,
    quoting only its start."""
    limit = MAX_SELECTOR_CHARS if limit is None else limit
    if len(text) > limit:
        raise SelectorError(f"{what} is too long: {len(text):,} characters (at most "
                            f"{limit:,}): {text[:40]!r}...")


def is_identifier(text: str) -> bool:
    """``[A-Za-z_][A-Za-z0-9_]*``, checked without a regular expression."""
    return bool(text) and text[0] in _IDENT_START and all(c in _IDENT_CHARS for c in text)


def _conditions_text(text: str) -> str | None:
    """The CONDITIONS of ``visit[CONDITIONS]`` (``text`` stripped), or None for another form."""
    if not text.startswith("visit") or not text.endswith("]"):
        return None
    rest = text[len("visit"):].lstrip()
    if not rest.startswith("["):
        return None
    return rest[1:-1]


def _pair(text: str, part: str) -> tuple[str, str]:
    """``dim=value`` (spaces around either allowed) -> (dim, value)."""
    name, sep, value = part.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not is_identifier(name) or not value or "=" in value:
        raise SelectorError(f"bad selector {text!r}: {part.strip()!r} is not dim=value")
    return name, value


def parse_selector(text: str) -> Selector:
    """Parse a selector in one linear pass (no backtracking on the user's text)."""
    if not isinstance(text, str) and text is not None:
        raise SelectorError(f"a selector is text, not {type(text).__name__}")
    check_length("selector", text or "")
    text = (text or "").strip()
    if not text:
        raise SelectorError("empty selector: give a dataset UUID, a node key or an expression "
                            "such as visit=1228")
    conditions = _conditions_text(text)
    if conditions is not None:
        from lineage.conditions import parse_conditions
        parse_conditions(conditions)  # fail early on a bad condition
        return Selector(text, conditions=conditions.strip())
    try:
        return Selector(text, keys=(f"dataset:{uuid.UUID(text)}",))
    except ValueError:
        pass
    if "=" not in text:
        try:
            kind_of_key(text)
        except ModelError as exc:
            raise SelectorError(f"bad selector {text!r}: not a UUID, a node key, or a "
                                f"dim=value expression ({exc})") from None
        return Selector(text, keys=(text,))
    pairs = [_pair(text, part) for part in text.split(",")]
    dims = [d for d, _ in pairs]
    if len(set(dims)) != len(dims):
        raise SelectorError(f"bad selector {text!r}: a dimension appears twice")
    return Selector(text, pairs=tuple(pairs))


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
        from lineage.conditions import select_visits
        visits = select_visits(store, selector.conditions)
        found = _datasets_of_units(store, list(visits["key"]) if not visits.empty else [])
        if not found:
            raise SelectorError(f"no visit with datasets satisfies {selector.conditions!r}")
        return dict(sorted(found.items()))
    result: dict[str, str] | None = None
    for dim, value in selector.pairs:
        units = [r[0] for r in store.read(
            "MATCH (u:DataUnit) WHERE u.dimension = $d AND u.value = $v RETURN u.key",
            {"d": dim, "v": value})]
        if not units:
            known = sorted(r[0] for r in store.read(
                "MATCH (u:DataUnit) RETURN DISTINCT u.dimension"))
            if dim not in known:
                raise SelectorError(f"bad selector {selector.text!r}: no dimension {dim!r} "
                                    f"in this repository (known: {', '.join(known) or 'none'})")
            raise SelectorError(f"no {dim} {value!r} in this repository")
        datasets = _datasets_of_units(store, units)
        result = datasets if result is None else {k: t for k, t in result.items() if k in datasets}
    if not result:
        raise SelectorError(f"no dataset matches {selector.text!r}")
    return dict(sorted(result.items()))


def _datasets_of_units(store, unit_keys: list[str]) -> dict[str, str]:
    """Datasets identified by these units or by any unit that is part of them."""
    if not unit_keys:
        return {}
    rows = store.read_plain(  # keys and type names only: the cheapest read
        "MATCH (u:DataUnit) WHERE u.key IN $units "
        "MATCH (d:Dataset)-[:IDENTIFIED_BY]->(u) RETURN d.key, d.dataset_type "
        "UNION "
        "MATCH (u:DataUnit) WHERE u.key IN $units "
        "MATCH (d:Dataset)-[:IDENTIFIED_BY]->(:DataUnit)-[:PART_OF*1..4]->(u) "
        "RETURN d.key, d.dataset_type",
        {"units": unit_keys})
    return {k: t for k, t in rows}

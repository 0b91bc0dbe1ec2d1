"""Selectors: how a user names where a lineage question starts.

* a dataset UUID (``2f1c...``) or any node key (``dataset:...``, ``quantum:...``);
* a data-unit expression ``dim=value[,dim=value...]`` such as ``visit=1228``
  or ``tract=9813,patch=40,band=r``: the datasets whose data ID, with its
  implied dimensions, matches every pair;
* visits chosen by their conditions, ``visit[seeing < 0.7 arcsec and airmass < 1.2]``
  (:mod:`lineage.core.conditions`): the datasets of every such visit;
* a Butler query expression, ``visit = 1228 AND detector IN (1..4)`` or
  ``instrument = 'HSC' AND band = g`` (:mod:`lineage.core.butler_expr`, with
  daf_butler installed): the datasets whose data ID satisfies it.  One that is
  only ``dim = value`` joined by ``AND`` becomes the pairs of a data-unit
  expression, so code that reads ``pairs`` takes it too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lineage.core.butler_expr import INSTALL_HINT, And, Test, butler_parser_available, \
    looks_like_butler, parse_butler_expression
from lineage.core.conditions import parse_visit_selection
from lineage.core.model import ModelError, kind_of_key
from lineage.core.text import SelectorError, check_length, is_identifier


@dataclass(frozen=True)
class Selector:
    text: str
    keys: tuple[str, ...] = ()                 # explicit node keys
    pairs: tuple[tuple[str, str], ...] = ()    # data-unit expression
    conditions: str = ""                       # visit[...] conditions
    expression: object = None                  # a Butler expression's tree (butler_expr)

    def __str__(self) -> str:
        return self.text



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


def _looks_like_butler(text: str) -> bool:
    """Whether ``text`` is written as a Butler query expression rather than ``dim=value``
    pairs: :func:`looks_like_butler`, or comparisons other than ``=``, or ``AND``."""
    return looks_like_butler(text) or any(c in "<>!" for c in text) or any(
        w.upper() == "AND" for w in text.replace("=", " ").split())


def _pairs_of(expression) -> tuple[tuple[str, str], ...] | None:
    """The ``(dim, value)`` pairs of an expression that is only ``dim = value`` joined by
    AND, each dimension once; None for any other expression."""
    tests = expression.parts if isinstance(expression, And) else (expression,)
    if not all(isinstance(t, Test) and t.op == "=" and t.attribute is None
               and not isinstance(t.value, float) for t in tests):
        return None
    dims = [t.dimension for t in tests]
    return tuple((t.dimension, str(t.value)) for t in tests) if len(set(dims)) == len(dims) \
        else None


def _butler_selector(text: str, field: str | None) -> Selector:
    """A selector written as a Butler expression (``field``: the input it came in)."""
    expression = parse_butler_expression(text, "" if field else "bad selector", field)
    pairs = _pairs_of(expression)
    if pairs is not None:
        return Selector(text, pairs=pairs)
    return Selector(text, expression=expression)


def parse_selector(text: str, field: str | None = None) -> Selector:
    """Parse a selector in one linear pass (no backtracking on the user's text); ``field``
    names the input in errors when it is not the selector itself (``where``)."""
    if not isinstance(text, str) and text is not None:
        raise SelectorError(f"a selector is text, not {type(text).__name__}")
    check_length("selector", text or "")
    text = (text or "").strip()
    if not text:
        raise SelectorError("empty selector: give a dataset UUID, a node key or an expression "
                            "such as visit=1228")
    conditions = _conditions_text(text)
    if conditions is not None:
        parse_visit_selection(conditions)  # fail early on a bad condition
        return Selector(text, conditions=conditions.strip())
    try:
        return Selector(text, keys=(f"dataset:{uuid.UUID(text)}",))
    except ValueError:
        pass
    if "=" not in text:
        try:
            kind_of_key(text)
            return Selector(text, keys=(text,))
        except ModelError as exc:
            if not _looks_like_butler(text) or not butler_parser_available():
                hint = f"; Butler query expressions need daf_butler: {INSTALL_HINT}" \
                    if _looks_like_butler(text) else ""
                raise SelectorError(f"{'' if field else 'bad selector '}{text!r}: not a UUID, "
                                    f"a node key, or a dim=value expression ({exc}){hint}",
                                    field=field) from None
            return _butler_selector(text, field)
    if _looks_like_butler(text):
        return _butler_selector(text, field)
    pairs = [_pair(text, part) for part in text.split(",")]
    dims = [d for d, _ in pairs]
    if len(set(dims)) != len(dims):
        raise SelectorError(f"bad selector {text!r}: a dimension appears twice")
    return Selector(text, pairs=tuple(pairs))



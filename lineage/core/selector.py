"""Selectors: how a user names where a lineage question starts.

* a dataset UUID (``2f1c...``) or any node key (``dataset:...``, ``quantum:...``);
* a data-unit expression ``dim=value[,dim=value...]`` such as ``visit=1228``
  or ``tract=9813,patch=40,band=r``: the datasets whose data ID, with its
  implied dimensions, matches every pair;
* visits chosen by their conditions, ``visit[seeing < 0.7 arcsec and airmass < 1.2]``
  (:mod:`lineage.core.conditions`): the datasets of every such visit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lineage.core.conditions import parse_conditions
from lineage.core.model import ModelError, kind_of_key
from lineage.core.text import SelectorError, check_length, is_identifier


@dataclass(frozen=True)
class Selector:
    text: str
    keys: tuple[str, ...] = ()                 # explicit node keys
    pairs: tuple[tuple[str, str], ...] = ()    # data-unit expression
    conditions: str = ""                       # visit[...] conditions

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



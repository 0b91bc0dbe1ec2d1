"""Text checks shared by the selector and condition parsers (of the library, only its
error root)."""

from __future__ import annotations

from lineage.core.errors import UserError

#: Longest selector (and visit condition text) accepted, in characters.  Real ones are
#: tens of characters; the parsers are linear, the cap keeps messages and lookups small.
MAX_SELECTOR_CHARS = 4096

_IDENT_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_IDENT_CHARS = _IDENT_START | frozenset("0123456789")


class SelectorError(UserError):
    """A selector that cannot be parsed or matches nothing; the message says which."""


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

"""Cursors and pages for Relay-style connections.

A cursor is the opaque (base64) key of the last item a page held.  The next
page starts after that key: in a query as ``key > $after`` in key order
(keyset pagination: no item is skipped or repeated while pages are walked,
whatever their size), or, for lists the library computes in its own
order (lineage answers), right after the item with that key.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Callable

import graphene

from lineage.api.errors import ApiError
from lineage.api.loaders import FULL, node_props
from lineage.store.base import NodeFilter

_PREFIX = "lineage:"


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode((_PREFIX + key).encode()).decode()


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    if not text.startswith(_PREFIX) or len(text) == len(_PREFIX):
        raise ApiError(f"after: {cursor!r} is not a cursor this API gave out")
    return text[len(_PREFIX):]


def page_size(first: int | None, settings) -> int:
    if first is None:
        return settings.default_page_size
    if not 1 <= first <= settings.max_page_size:
        raise ApiError(f"first: must be between 1 and {settings.max_page_size}, not {first}")
    return first


@dataclass
class Page:
    """One page of a connection: ``items`` (dicts with a ``key``), whether more follow, and
    the total: known (``total``), or counted by the store when asked for (``count``)."""

    items: list
    has_next: bool
    has_previous: bool
    count: Callable[[], int] | None = None
    total: int | None = None
    truncated: bool = False   # a lineage answer: the fan-out caps cut the search


def page_of_list(items: list, first: int, after: str | None, key=lambda x: x["key"]) -> Page:
    """A page of a list kept in its own order, starting after the item whose key is ``after``."""
    start = 0
    if after is not None:
        for i, item in enumerate(items):
            if key(item) == after:
                start = i + 1
                break
        else:
            raise ApiError("after: the cursor's item is no longer in this answer; start again")
    n = len(items)
    return Page(items[start:start + first], start + first < n, start > 0, total=n)


def page_args(**more):
    """The ``first`` and ``after`` arguments of a paged field, and ``more``."""
    return dict(first=graphene.Int(description="Page size (at most the server's maximum)."),
                after=graphene.String(description="Cursor of the item to start after."), **more)


def keyset_page(store, label: str, node_filter: NodeFilter, first: int,
                after: str | None) -> Page:
    """Nodes of ``label`` passing ``node_filter``, ordered by key, after the key ``after``
    (run in the server's thread pool)."""
    rows = store.keyset_page(label, node_filter, first, after)
    items = [{"key": k, "node": node_props(k, p), FULL: True} for k, p in rows[:first]]

    def count() -> int:
        return store.count_where(label, node_filter)
    return Page(items, len(rows) > first, after is not None, count)

"""What ``lineage fetch`` and ``lineage cache prefetch`` take as QUERY.

* a selector with lineage options, as ``lineage downstream`` takes them
  (``visit=1228 --downstream --type calexp``); without ``--downstream`` or
  ``--upstream``, the datasets the selector itself names;
* a file of dataset UUIDs or keys (one a line) or the JSON any command printed
  with ``--json`` (``lineage downstream``, ``lineage query`` for a saved GraphQL
  query, ``lineage lightcurve``, ``lineage flags inputs``): every dataset in it;
  ``-`` reads standard input.

``--type`` and ``--collection`` filter either kind.
"""

from __future__ import annotations

from pathlib import Path

from lineage.traversal import traverse as query
from lineage.core.selector import parse_selector, SelectorError
from lineage.dataunits.names import check_names
from lineage.dataunits.resolve import resolve
from lineage.fetch.datastore import dataset_props, read_answer_file


def is_answer_file(text: str) -> bool:
    return text == "-" or Path(text).is_file()


def select(store, text: str, direction: str | None = None, types=None, depth=None,
           collection: str | None = None) -> list[str]:
    """Dataset keys of a QUERY (module docstring), in the order the answer gives them."""
    types = list(types) if types else None
    if is_answer_file(text):
        if direction or depth:
            raise SelectorError(f"applies to a selector, and {text} is a file of datasets",
                                field=f"{direction}stream" if direction else "depth")
        keys = read_answer_file(text)
    elif direction:
        return [r.key for r in query.traverse(store, text, direction, types, depth, collection)]
    else:
        keys = list(resolve(store, parse_selector(text)))
    return keep_only(store, keys, types, collection)


def keep_only(store, keys: list[str], types=None, collection: str | None = None) -> list[str]:
    """The keys of datasets of these types and in this collection (None: any), in order."""
    check_names(store, "dataset type", types, "types")
    if not keys or not (types or collection):
        return keys
    props = dataset_props(store, keys)
    rows = [query.DatasetRow(k, p.get("dataset_type", ""), p.get("data_id", ""),
                             p.get("run", ""), 0) for k, p in props.items()
            if not types or p.get("dataset_type") in types]
    if collection:
        rows = query._in_collection(store, rows, collection)
    keep = {r.key for r in rows}
    return [k for k in keys if k in keep]

"""What ``lineage fetch`` and ``lineage cache prefetch`` take as QUERY.

* a selector with lineage options, as ``lineage downstream`` takes them
  (``visit=1228 --downstream --type calexp``); without ``--downstream`` or
  ``--upstream``, the datasets the selector itself names;
* a file of dataset UUIDs or keys (one a line) or the JSON any command printed
  with ``--json`` (``lineage downstream``, ``lineage query`` for a saved GraphQL
  query, ``lineage lightcurve``, ``lineage flags inputs``): every dataset in it;
  ``-`` reads standard input.

``--type`` and ``--collection`` filter either kind.

A selection never holds a deleted dataset (a tombstone, docs/retention.md) unless it
includes deleted ones: a traversal's tombstones and those of a file are left out, and a
dataset the selector names itself (its UUID or key) that was deleted is refused, saying
when, by whom and why.
"""

from __future__ import annotations

from pathlib import Path

from lineage.traversal import traverse as query
from lineage.traversal.show import describe_deletion
from lineage.core.selector import parse_selector, SelectorError
from lineage.dataunits.names import check_names
from lineage.dataunits.resolve import resolve
from lineage.fetch.datastore import dataset_props, read_answer_file


def is_answer_file(text: str) -> bool:
    return text == "-" or Path(text).is_file()


class DeletedDataset(SelectorError):
    """A dataset named by its UUID or key that was deleted (a tombstone): nothing to fetch."""


def select(store, text: str, direction: str | None = None, types=None, depth=None,
           collection: str | None = None, include_deleted: bool = False) -> list[str]:
    """Dataset keys of a QUERY (module docstring), in the order the answer gives them;
    tombstones only ``include_deleted``."""
    types = list(types) if types else None
    if is_answer_file(text):
        if direction or depth:
            raise SelectorError(f"applies to a selector, and {text} is a file of datasets",
                                field=f"{direction}stream" if direction else "depth")
        keys = read_answer_file(text)
    elif direction:
        return [r.key for r in query.traverse(store, text, direction, types, depth, collection)
                if include_deleted or r.deleted is None]
    else:
        selector = parse_selector(text)
        keys = list(resolve(store, selector))
        if selector.keys and not include_deleted:
            refuse_deleted(store, keys)
    return keep_only(store, keys, types, collection, include_deleted)


def refuse_deleted(store, keys: list[str]) -> None:
    """A :class:`DeletedDataset` error when one of the datasets ``keys`` (named one by one)
    was deleted, saying when, by whom and why."""
    deleted = query.deleted_among(store, keys)
    if deleted:
        props = dataset_props(store, sorted(deleted)[:1])
        key, first = next(iter(props.items()))
        more = f" (and {len(deleted) - 1} more named)" if len(deleted) > 1 else ""
        raise DeletedDataset(f"{key} was {describe_deletion(first)}{more}: its lineage is "
                             "kept, its data is not listed unless deleted datasets are "
                             "asked for")


def keep_only(store, keys: list[str], types=None, collection: str | None = None,
              include_deleted: bool = False) -> list[str]:
    """The keys of datasets of these types and in this collection (None: any), live ones
    only unless ``include_deleted``, in order."""
    check_names(store, "dataset type", types, "types")
    if not include_deleted:
        deleted = query.deleted_among(store, keys)
        keys = [k for k in keys if k not in deleted] if deleted else keys
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

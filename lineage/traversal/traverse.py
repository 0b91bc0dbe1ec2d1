"""Lineage traversals, written once for every engine.

Lineage edges run ``Dataset -[:INPUT_TO]-> Quantum -[:PRODUCED]-> Dataset``;
one *step* is one quantum (two edges).  A traversal is a breadth-first
search with one query per step: each query expands the whole frontier at
once and returns only datasets not seen before, so the cost follows the
number of datasets reached, not the number of paths to them (a
variable-length match enumerates paths, which explodes where catalogs fan
in and out).  When the caller asks for some dataset types only, the search
never leaves the dataset types that can lead to them, read from the small
type-level graph of ``FEEDS`` edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lineage.core.dataid import DataId
from lineage.core.model import Kind, kind_of_key
from lineage.dataunits.names import check_names, unknown
from lineage.core.selector import parse_selector, Selector, SelectorError
from lineage.dataunits.resolve import resolve
from lineage.traversal.queries import (chained_collections, collection_named,
                                       datasets_in_collections, feeds_edges, step_query)

if TYPE_CHECKING:   # networkx loads with the first graph drawn or built (start-up time)
    import networkx as nx

DOWN, UP = "down", "up"

#: Ceiling on steps for an unbounded traversal (a deeper DAG is a bug).
MAX_STEPS = 64

#: Most frontier keys sent in one step query (bounds query size on huge blast radii).
FRONTIER_CHUNK = 5000

@dataclass(frozen=True)
class DatasetRow:
    key: str
    dataset_type: str
    data_id: str
    run: str
    steps: int

    def as_dict(self) -> dict:
        return {"key": self.key, "uuid": self.key.split(":", 1)[1],
                "dataset_type": self.dataset_type, "data_id": self.data_id, "run": self.run,
                "steps": self.steps}


def _selection(store, selector) -> dict[str, str | None]:
    sel = selector if isinstance(selector, Selector) else parse_selector(selector)
    return resolve(store, sel)


def type_graph(store) -> nx.DiGraph:
    """Dataset type -> dataset type, one edge where some task read one and wrote the other."""
    import networkx as nx
    g = nx.DiGraph()
    for a, b, task in feeds_edges(store):
        g.add_edge(a, b, task=task)
    return g


class Via(list):
    """Dataset types a search may pass through to reach the types asked for
    (a sorted list, sent as ``$via``), and ``onward``: those from which it can
    still reach another of them, so a dataset of any other type is a dead end
    and is never expanded (no query for a step that cannot find anything)."""

    def __init__(self, types, onward) -> None:
        super().__init__(sorted(types))
        self.onward = frozenset(onward)


def _via_types(store, types, direction: str) -> Via | None:
    """The :class:`Via` of a search for ``types`` (None: every type); a type that names
    nothing is an error (a type some task reads or writes is in the graph: no query)."""
    if not types:
        return None
    import networkx as nx
    g = type_graph(store)
    check_names(store, "dataset type", [t for t in types if t not in g], "types")
    via = set(types)
    for t in types:
        if t in g:
            via |= nx.ancestors(g, t) if direction == DOWN else nx.descendants(g, t)
    step = g.successors if direction == DOWN else g.predecessors
    onward = {t for t in via if t in g and any(n in via for n in step(t))}
    return Via(via, onward)


def bfs(store, seeds: dict[str, str | None], direction: str = DOWN, via: Via | None = None,
        depth: int | None = None, parents: dict | None = None,
        want: list[str] | None = None) -> dict[str, DatasetRow]:
    """Every dataset reachable from ``seeds`` (key -> dataset type, None for a quantum)
    in at most ``depth`` steps, with its step count.

    With a ``parents`` dict, records for each dataset reached the
    (dataset, quantum) it was first reached from, for path reconstruction.
    With ``want``, only datasets of those types carry their data ID and run.
    """
    if direction not in (DOWN, UP):
        raise SelectorError(f"direction must be {DOWN!r} or {UP!r}, not {direction!r}")
    if depth is not None and depth < 1:
        raise SelectorError(f"depth must be at least 1, not {depth}")
    limit = MAX_STEPS if depth is None else depth
    # A seed reached from another seed is a result too (a calexp is downstream
    # of the raw of the same visit); it is only never expanded twice.
    seen: set[str] = set()
    expanded: set[str] = set(seeds)
    found: dict[str, DatasetRow] = {}
    frontier = {k: kind_of_key(k) for k, t in seeds.items()
                if via is None or kind_of_key(k) != Kind.DATASET or t in via.onward}
    step = 0
    while frontier and step < limit:
        step += 1
        nxt: dict[str, Kind] = {}
        for kind in (Kind.DATASET, Kind.QUANTUM):
            keys = sorted(k for k, kk in frontier.items() if kk == kind)
            rows = []
            for i in range(0, len(keys), FRONTIER_CHUNK):
                query, params = step_query(direction == DOWN, kind, keys[i:i + FRONTIER_CHUNK],
                                           parents is not None, via, want)
                rows.extend(store.read_plain(query, params))  # strings and nulls
            for row in rows:
                if parents is not None:
                    a, q, row = row[0], row[1], row[2:]
                key = row[0]
                if key in seen:
                    continue
                seen.add(key)
                if parents is not None:
                    parents[key] = (a, q)
                found[key] = DatasetRow(key, row[1] or "", row[2] or "", row[3] or "", step)
                if key not in expanded and (via is None or row[1] in via.onward):
                    expanded.add(key)
                    nxt[key] = Kind.DATASET
        frontier = nxt
    return found


def collection_members(store, name: str, field: str = "collection") -> tuple[list[str], list[str]]:
    """(RUN names, other collections) a collection stands for, chains flattened; an unknown
    ``name`` is an error about the argument ``field``."""
    top = collection_named(store, name)
    if top is None:
        raise unknown(store, "collection", name, field)
    runs, others, seen = [], [], set()
    todo = [tuple(top)]
    while todo:
        cname, ctype = todo.pop()
        if cname in seen:
            continue
        seen.add(cname)
        if ctype == "RUN":
            runs.append(cname)
        elif ctype == "CHAINED":
            todo.extend(tuple(r) for r in chained_collections(store, cname))
        else:
            others.append(cname)
    return sorted(runs), sorted(others)


def _in_collection(store, rows: list[DatasetRow], collection: str) -> list[DatasetRow]:
    runs, others = collection_members(store, collection)
    keep = [r for r in rows if r.run in runs]
    rest = [r.key for r in rows if r.run not in runs]
    if others and rest:
        tagged = datasets_in_collections(store, others, rest)
        keep += [r for r in rows if r.key in tagged]
    return keep


def _prune_seeds(seeds: dict[str, str | None], via: Via | None) -> dict[str, str | None]:
    """Seeds (key -> type), without datasets whose type cannot lead to the types asked for."""
    if via is None:
        return dict(seeds)
    keep = set(via)
    return {k: t for k, t in seeds.items() if kind_of_key(k) != Kind.DATASET or t in keep}


def traverse(store, selector, direction: str = DOWN, types=None, depth: int | None = None,
             collection: str | None = None, limit: int | None = None,
             tree: dict | None = None) -> list[DatasetRow]:
    """Datasets downstream (or upstream) of a selector, sorted by type then data ID.

    With a ``tree`` dict, fills ``tree["parents"]`` (dataset -> (dataset, quantum) it was
    first reached from) and ``tree["seeds"]`` (key -> type), for pictures.
    """
    via = _via_types(store, types, direction)
    selection = _selection(store, selector)
    seeds = _prune_seeds(selection, via)
    parents = None if tree is None else tree.setdefault("parents", {})
    if tree is not None:
        tree["seeds"] = {k: selection[k] for k in seeds}
    found = bfs(store, seeds, direction, via, depth, parents, want=list(types) if types else None)
    rows = [r for r in found.values() if not types or r.dataset_type in types]
    if collection:
        rows = _in_collection(store, rows, collection)
    rows.sort(key=lambda r: (r.dataset_type, DataId.parse(r.data_id).sort_key(), r.run, r.key))
    return rows[:limit] if limit is not None else rows


def downstream(store, selector, **kw) -> list[DatasetRow]:
    return traverse(store, selector, DOWN, **kw)


def upstream(store, selector, **kw) -> list[DatasetRow]:
    return traverse(store, selector, UP, **kw)


def count(store, selector, direction: str = DOWN, types=None, depth=None,
          collection=None) -> dict[str, int]:
    """How many datasets of each type a traversal reaches (the blast radius)."""
    counts: dict[str, int] = {}
    for row in traverse(store, selector, direction, types, depth, collection):
        counts[row.dataset_type] = counts.get(row.dataset_type, 0) + 1
    return dict(sorted(counts.items()))


def explain(store, selector, target: str, direction: str = DOWN,
            depth: int | None = None) -> list[str]:
    """One shortest lineage path (dataset and quantum keys) from the selector to ``target``."""
    target_sel = parse_selector(target)
    if len(target_sel.keys) != 1 or kind_of_key(target_sel.keys[0]) != Kind.DATASET:
        raise SelectorError(f"takes one dataset key or UUID, not {target!r}", field="explain")
    target_key = target_sel.keys[0]
    if not store.existing_keys([target_key]):
        raise SelectorError(f"no such node: {target_key}")
    selection = _selection(store, selector)
    if target_key in selection:
        return [target_key]
    parents: dict[str, tuple] = {}
    via = _via_types(store, [store.lookup([target_key])[target_key]], direction)
    seeds = _prune_seeds(selection, via)
    bfs(store, seeds, direction, via, depth, parents)
    if target_key not in parents:
        return []
    starts = set(seeds)
    path = [target_key]
    while path[-1] not in starts:
        a, q = parents[path[-1]]
        path += [q, a] if q else [a]
    return path[::-1]



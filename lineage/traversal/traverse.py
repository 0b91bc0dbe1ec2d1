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

Two options bound or date a search.  *Caps* (``max_per_step``, ``max_nodes``)
stop it early: a step admits at most ``max_per_step`` new datasets, the search
at most ``max_nodes`` datasets in all (every type it reaches, the waypoints
to the types asked for included: the caps bound the work), each step's
datasets taken in key order so a capped answer is the same every time; the
answer says it was ``truncated``.  *As of* a time (``at``, a UTC stamp), the
search sees only what existed then: a dataset a quantum wrote exists once
that quantum has ended (quantum times are TAI), raws and calibrations (no
quantum wrote them) always; a seed that did not exist is dropped, and a step
down passes only through quanta that had ended.  Upstream of a dataset that
existed, everything existed (its inputs were read before it was written), so
steps up need no test.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lineage.core.dataid import DataId
from lineage.core.model import Kind, kind_of_key
from lineage.dataunits.names import check_names, unknown
from lineage.core.selector import parse_selector, Selector, SelectorError
from lineage.core.time import tai_iso_of_utc_stamp
from lineage.dataunits.resolve import resolve
from lineage.traversal.queries import (any_deleted, chained_collections, collection_named,
                                       datasets_in_collections, deleted_stamps, feeds_edges,
                                       made_after, quantum_tasks, step_query)

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
    deleted: str | None = None    # a tombstone's ``deleted_at`` (docs/retention.md); None: live

    def as_dict(self) -> dict:
        return {"key": self.key, "uuid": self.key.split(":", 1)[1],
                "dataset_type": self.dataset_type, "data_id": self.data_id, "run": self.run,
                "steps": self.steps, "deleted": self.deleted}


class Reached(dict):
    """Dataset key -> :class:`DatasetRow` of a search; ``truncated``: its caps cut it."""

    truncated: bool = False


class Lineage(list):
    """The :class:`DatasetRow` answer of a traversal; ``truncated``: its caps cut it."""

    def __init__(self, rows, truncated: bool = False) -> None:
        super().__init__(rows)
        self.truncated = truncated


def check_caps(max_per_step: int | None, max_nodes: int | None) -> None:
    """Refuse a cap below 1 (None: no cap)."""
    for name, value in (("max_per_step", max_per_step), ("max_nodes", max_nodes)):
        if value is not None and value < 1:
            raise SelectorError(f"must be at least 1, not {value}", field=name)


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
        want: list[str] | None = None, ended_by: str | None = None,
        max_per_step: int | None = None, max_nodes: int | None = None,
        edges: list | None = None) -> Reached:
    """Every dataset reachable from ``seeds`` (key -> dataset type, None for a quantum)
    in at most ``depth`` steps, with its step count.

    With a ``parents`` dict, records for each dataset reached the
    (dataset, quantum) it was first reached from, for path reconstruction; with an
    ``edges`` list too, every step taken as (node, quantum, dataset), also to datasets
    reached before (a quantum's other inputs or outputs), for drawing the graph.
    With ``want``, only datasets of those types carry their data ID and run.
    With ``ended_by`` (TAI ISO), steps down pass only through quanta ended by then.
    ``max_per_step`` and ``max_nodes`` cap the search (module docstring).
    """
    if direction not in (DOWN, UP):
        raise SelectorError(f"direction must be {DOWN!r} or {UP!r}, not {direction!r}")
    if depth is not None and depth < 1:
        raise SelectorError(f"depth must be at least 1, not {depth}")
    check_caps(max_per_step, max_nodes)
    capped = max_per_step is not None or max_nodes is not None
    limit = MAX_STEPS if depth is None else depth
    # A seed reached from another seed is a result too (a calexp is downstream
    # of the raw of the same visit); it is only never expanded twice.
    seen: set[str] = set()
    expanded: set[str] = set(seeds)
    found = Reached()
    frontier = {k: kind_of_key(k) for k, t in seeds.items()
                if via is None or kind_of_key(k) != Kind.DATASET or t in via.onward}
    step = 0
    while frontier and step < limit:
        step += 1
        nxt: dict[str, Kind] = {}
        admitted = 0   # new datasets this step
        for kind in (Kind.DATASET, Kind.QUANTUM):
            keys = sorted(k for k, kk in frontier.items() if kk == kind)
            rows = []
            for i in range(0, len(keys), FRONTIER_CHUNK):
                query, params = step_query(direction == DOWN, kind, keys[i:i + FRONTIER_CHUNK],
                                           parents is not None, via, want, ended_by)
                rows.extend(store.read_plain(query, params))  # strings and nulls
            if capped:  # the same datasets every time: taken in key order
                rows.sort(key=lambda r: tuple("" if v is None else v for v in r))
            for row in rows:
                if capped and ((max_per_step is not None and admitted >= max_per_step)
                               or (max_nodes is not None and len(found) >= max_nodes)):
                    if (row[2] if parents is not None else row[0]) not in seen:
                        found.truncated = True
                        break
                    continue
                if parents is not None:
                    a, q, row = row[0], row[1], row[2:]
                    if edges is not None:
                        edges.append((a, q, row[0]))
                key = row[0]
                if key in seen:
                    continue
                seen.add(key)
                if parents is not None:
                    parents[key] = (a, q)
                found[key] = DatasetRow(key, row[1] or "", row[2] or "", row[3] or "", step)
                admitted += 1
                if key not in expanded and (via is None or row[1] in via.onward):
                    expanded.add(key)
                    nxt[key] = Kind.DATASET
        full = max_nodes is not None and len(found) >= max_nodes
        frontier = {} if full and found.truncated else nxt
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


def _existing(store, seeds: dict[str, str | None], ended_by: str) -> dict[str, str | None]:
    """The seeds that existed at ``ended_by`` (TAI ISO)."""
    gone: set[str] = set()
    for kind in (Kind.DATASET, Kind.QUANTUM):
        keys = [k for k in seeds if kind_of_key(k) == kind]
        for i in range(0, len(keys), FRONTIER_CHUNK):
            gone |= made_after(store, kind, keys[i:i + FRONTIER_CHUNK], ended_by)
    return {k: t for k, t in seeds.items() if k not in gone}


def deleted_among(store, keys: list[str]) -> dict[str, str]:
    """Dataset key -> when it was deleted, of the tombstones among ``keys`` (docs/retention.md):
    no query for no keys, one probe only in a repository without a tombstone."""
    if not keys or not any_deleted(store):
        return {}
    stamps: dict[str, str] = {}
    for i in range(0, len(keys), FRONTIER_CHUNK):
        stamps.update(deleted_stamps(store, keys[i:i + FRONTIER_CHUNK]))
    return stamps


def mark_deleted(store, rows: list[DatasetRow]) -> list[DatasetRow]:
    """``rows`` with the tombstones among them marked (``deleted``: when).  Lineage passes
    through tombstones (docs/retention.md): the steps never read a deletion (the traversal
    is benchmarked); one query per answer does (:func:`deleted_among`)."""
    stamps = deleted_among(store, [r.key for r in rows])
    return [replace(r, deleted=stamps[r.key]) if r.key in stamps else r for r in rows] \
        if stamps else rows


def traverse(store, selector, direction: str = DOWN, types=None, depth: int | None = None,
             collection: str | None = None, limit: int | None = None,
             tree: dict | None = None, *, at: str | None = None,
             max_per_step: int | None = None, max_nodes: int | None = None,
             ordered: bool = True, marked: bool = True) -> Lineage:
    """Datasets downstream (or upstream) of a selector, sorted by type then data ID
    (unless not ``ordered``: a caller that groups them saves the sort), deleted ones
    (tombstones) among them, marked (:func:`mark_deleted`; not ``marked``: a caller that
    only counts them saves the query).

    ``at`` (a UTC stamp: ``lineage.flags.as_of_time`` reads a time or a release) asks
    what existed then; ``max_per_step`` and ``max_nodes`` cap the search, and the answer
    says whether they cut it (``truncated``; module docstring).
    With a ``tree`` dict, fills ``tree["parents"]`` (dataset -> (dataset, quantum) it was
    first reached from), ``tree["seeds"]`` (key -> type) and ``tree["tasks"]`` (quantum
    key -> task, of those quanta and of quantum seeds), for pictures; when ``tree`` holds
    an ``"edges"`` list, every step taken is added to it (:func:`bfs`) and ``tasks`` covers
    their quanta too.
    """
    check_caps(max_per_step, max_nodes)
    via = _via_types(store, types, direction)
    selection = _selection(store, selector)
    ended_by = tai_iso_of_utc_stamp(at) if at is not None else None
    if ended_by is not None:
        selection = _existing(store, selection, ended_by)
    seeds = _prune_seeds(selection, via)
    parents = None if tree is None else tree.setdefault("parents", {})
    if tree is not None:
        tree["seeds"] = {k: selection[k] for k in seeds}
    edges = None if tree is None else tree.get("edges")
    found = bfs(store, seeds, direction, via, depth, parents,
                want=list(types) if types else None, ended_by=ended_by,
                max_per_step=max_per_step, max_nodes=max_nodes, edges=edges)
    if tree is not None:
        quanta = {q or a for a, q in parents.values()} | set(seeds)
        if edges:
            quanta |= {q or a for a, q, _ in edges}
        tree["tasks"] = quantum_tasks(store, sorted(k for k in quanta
                                                    if kind_of_key(k) == Kind.QUANTUM))
    rows = [r for r in found.values() if not types or r.dataset_type in types]
    if collection:
        rows = _in_collection(store, rows, collection)
    if ordered:
        rows.sort(key=lambda r: (r.dataset_type, DataId.parse(r.data_id).sort_key(), r.run,
                                 r.key))
    rows = rows[:limit] if limit is not None else rows
    return Lineage(mark_deleted(store, rows) if marked else rows, found.truncated)


def downstream(store, selector, **kw) -> list[DatasetRow]:
    return traverse(store, selector, DOWN, **kw)


def upstream(store, selector, **kw) -> list[DatasetRow]:
    return traverse(store, selector, UP, **kw)


class Counts(dict):
    """Dataset type -> datasets a traversal reached; ``truncated``: its caps cut it."""

    def __init__(self, counts, truncated: bool = False) -> None:
        super().__init__(counts)
        self.truncated = truncated


def count(store, selector, direction: str = DOWN, types=None, depth=None,
          collection=None, **options) -> Counts:
    """How many datasets of each type a traversal reaches (the blast radius); ``options``
    are :func:`traverse`'s ``at``, ``max_per_step`` and ``max_nodes``."""
    counts: dict[str, int] = {}
    rows = traverse(store, selector, direction, types, depth, collection, marked=False,
                    **options)
    for row in rows:
        counts[row.dataset_type] = counts.get(row.dataset_type, 0) + 1
    return Counts(sorted(counts.items()), rows.truncated)


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



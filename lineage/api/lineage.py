"""The lineage fields of the root query: any node, datasets and their filtered pages,
downstream and upstream answers, a shortest path, blast radius, dataset types and
collections.

Each resolver calls the library (:mod:`lineage.traversal.traverse`,
:mod:`lineage.core.selector`) in the server's thread pool.  Every lineage field
(``Query.lineage``, ``DataUnit.downstream``, ``Flag.upstream`` ...) takes the
arguments of :func:`lineage_args` and answers with :func:`lineage_page`.
"""

from __future__ import annotations

import time

import graphene

from lineage import flags as flagging
from lineage.api.errors import ApiError, argument
from lineage.api.loaders import FULL
from lineage.api.pagination import (Page, decode_cursor, keyset_page, page_args, page_of_list,
                                    page_size)
from lineage.api.types import (Collection, Dataset, DatasetConnection, DatasetType, Node, TypeCount,
                               _attach, connection, decode_global_id)
from lineage.core.model import Kind, kind_of_key
from lineage.core.selector import parse_selector
from lineage.dataunits.names import check_names, unknown_name
from lineage.dataunits.queries import dataset_type_names
from lineage.dataunits.resolve import resolve
from lineage.store.base import NO_FILTER
from lineage.traversal import queries as lineage_queries
from lineage.traversal import traverse as query


class Direction(graphene.Enum):
    """Which way lineage runs: DOWN to what was made from it, UP to what it was made from."""

    DOWN = query.DOWN
    UP = query.UP


class DatasetFilter(graphene.InputObjectType):
    """Datasets matching every field given."""

    dataset_type = graphene.List(graphene.NonNull(graphene.String),
                                 description="Any of these dataset types.")
    run = graphene.String(description="In this RUN collection.")
    collection = graphene.String(description="In this collection (chains flattened).")
    selector = graphene.String(description="Identified by this data-unit expression, e.g. "
                                           "visit=2026030100001 or tract=9813,patch=4,band=r.")
    include_deleted = graphene.Boolean(description="Deleted datasets (tombstones) too: "
                                                   "docs/retention.md.")


class BlastRadius(graphene.ObjectType):
    """How many datasets of each type a traversal reaches (counts only)."""

    selector = graphene.String(required=True)
    direction = graphene.Field(Direction, required=True)
    total = graphene.Int(required=True)
    by_dataset_type = graphene.List(graphene.NonNull(TypeCount), required=True)


LineageConnection = connection(
    "Lineage", Dataset, "A page of a lineage answer, sorted by dataset type, data ID, run.",
    steps=graphene.Int(required=True, description="Fewest quanta between it and the start."))
_attach(LineageConnection, "truncated", graphene.Field(
    graphene.Boolean, required=True, resolver=lambda page, info: page.truncated,
    description="True when maxPerStep or maxNodes cut the search: more lies beyond."))
DatasetTypeConnection = connection("DatasetType", DatasetType, "A page of dataset types.")
CollectionConnection = connection("Collection", Collection, "A page of collections.")


# --- helpers run in the thread pool -----------------------------------------------------

def _datasets_page(store, flt: dict, first: int, after: str | None) -> Page:
    selected = runs = tagged = None
    if flt.get("selector"):
        with argument("filter.selector"):
            selected = [k for k in resolve(store, parse_selector(flt["selector"]))
                        if kind_of_key(k) == Kind.DATASET]
    with argument("filter", within="filter"):
        check_names(store, "dataset type", flt.get("dataset_type"), "dataset_type")
        check_names(store, "collection", flt.get("run"), "run")
    if flt.get("collection"):
        with argument("filter.collection", within="filter"):
            runs, others = query.collection_members(store, flt["collection"])
        tagged = lineage_queries.tagged_datasets(store, others) if others else []
    node_filter = lineage_queries.dataset_filter(
        selected, list(flt["dataset_type"]) if flt.get("dataset_type") else None,
        flt.get("run") or None, runs, tagged, bool(flt.get("include_deleted")))
    return keyset_page(store, "Dataset", node_filter, first, after)


def _dataset_type_names(store) -> list[str]:
    return sorted(dataset_type_names(store))


_TYPES_TTL = 30.0  # seconds a server trusts its list of dataset types


async def check_types(info, types) -> list[str] | None:
    """The ``types`` argument, checked against the repository's dataset types."""
    if not types:
        return None
    ctx = info.context
    cache = ctx.cache
    known, at = cache.get("dataset_types", ((), 0.0))
    if any(t not in known for t in types) or time.monotonic() - at > _TYPES_TTL:
        known = await ctx.run(_dataset_type_names, ctx.store)
        cache["dataset_types"] = (known, time.monotonic())
    unknown = [t for t in types if t not in known]
    if unknown:
        raise unknown_name("dataset type", unknown[0], known, "types")
    return list(types)


def _check_depth(depth):
    if depth is not None and not 1 <= depth <= query.MAX_STEPS:
        raise ApiError(f"depth: must be between 1 and {query.MAX_STEPS}, not {depth}")


def _dataset_key(text: str, field: str) -> str:
    with argument(field):
        sel = parse_selector(text)
    if len(sel.keys) != 1 or kind_of_key(sel.keys[0]) != Kind.DATASET:
        raise ApiError(f"{field}: give a dataset UUID or dataset:<uuid> key, not {text!r}")
    return sel.keys[0]


def _node_key(text: str, field: str) -> str:
    with argument(field):
        sel = parse_selector(text)
    if len(sel.keys) != 1:
        raise ApiError(f"{field}: give a node key (or dataset UUID), not {text!r}")
    return sel.keys[0]


def _direction(value) -> str:
    """An argument of the Direction enum as the library's ``down``/``up``."""
    value = getattr(value, "value", value)
    return value or query.DOWN


async def _traverse(info, from_, direction, types, depth, collection, as_of=None,
                    max_per_step=None, max_nodes=None, field="from"):
    """The traversal's rows (:class:`lineage.traversal.traverse.Lineage`), its arguments
    checked first; ``from_`` is selector text or a Selector, ``field`` its argument."""
    ctx = info.context
    direction = _direction(direction)
    _check_depth(depth)
    with argument("maxNodes"):
        query.check_caps(max_per_step, max_nodes)
    if isinstance(from_, str):
        with argument(field):
            parse_selector(from_)
    types = await check_types(info, types)
    if collection:
        with argument("collection"):
            await ctx.run(query.collection_members, ctx.store, collection)
    at = None
    if as_of is not None:
        with argument("asOf"):
            at = await ctx.run(flagging.as_of_time, ctx.store, as_of)
    with argument(field):
        return await ctx.run(query.traverse, ctx.store, from_, direction, types, depth,
                             collection, at=at, max_per_step=max_per_step, max_nodes=max_nodes)


def lineage_args(**more) -> dict:
    """The arguments of every lineage field: a page, types, depth, collection, as of, caps."""
    return page_args(
        depth=graphene.Int(description="At most this many steps (quanta)."),
        types=graphene.List(graphene.NonNull(graphene.String),
                            description="Only these dataset types."),
        collection=graphene.String(description="Only datasets in this collection."),
        as_of=graphene.String(description="Only what existed at this UTC time or release "
                                          "(a dataset exists once the quantum that wrote it "
                                          "has ended: docs/lineage.md)."),
        max_per_step=graphene.Int(description="At most this many new datasets per step "
                                              "(`truncated` says when it cut the search)."),
        max_nodes=graphene.Int(description="At most this many datasets reached in all, every "
                                           "type (`truncated` says when it cut the search)."),
        **more)


async def lineage_page(info, from_, direction, field="from", depth=None, types=None,
                       collection=None, as_of=None, max_per_step=None, max_nodes=None,
                       first=None, after=None) -> Page:
    """One page of a lineage answer (a LineageConnection), ``truncated`` when capped."""
    n, start = page_size(first, info.context.settings), decode_cursor(after)
    rows = await _traverse(info, from_, direction, types, depth, collection, as_of,
                           max_per_step, max_nodes, field)
    records = [{"key": r.key, "steps": r.steps, FULL: True,
                "node": {"key": r.key, "dataset_type": r.dataset_type,
                         "data_id": r.data_id, "run": r.run,
                         **({"deleted_at": r.deleted} if r.deleted else {})}} for r in rows]
    page = page_of_list(records, n, start)
    page.truncated = rows.truncated
    return page


# --- the fields ---------------------------------------------------------------------------

class LineageQuery(graphene.ObjectType):
    """Nodes, datasets, lineage answers, dataset types and collections."""

    node = graphene.Field(Node, id=graphene.ID(description="Its global ID (a node's `id`)."),
                          key=graphene.String(description="Its key (or a dataset's UUID)."),
                          description="Any node by global ID or by key (give one); null if "
                                      "absent.")
    dataset = graphene.Field(Dataset, id=graphene.String(required=True,
                                                         description="UUID or dataset:<uuid>."),
                             description="One dataset; null if absent.")
    datasets = graphene.Field(DatasetConnection, required=True,
                              **page_args(filter=DatasetFilter()),
                              description="Datasets matching a filter, in key order.")
    lineage = graphene.Field(
        LineageConnection, required=True,
        **lineage_args(**{
            "from_": graphene.String(required=True, name="from",
                                     description="Selector: dataset UUID, node key or data-unit "
                                                 "expression (visit=2026030100001)."),
            "direction": graphene.Argument(Direction, default_value=query.DOWN)}),
        description="Datasets downstream (or upstream) of a selector, with their step counts.")
    lineage_path = graphene.List(
        graphene.NonNull(Node), required=True,
        **{"from_": graphene.String(required=True, name="from"),
           "to": graphene.String(required=True, description="Dataset UUID or key."),
           "direction": graphene.Argument(Direction, default_value=query.DOWN),
           "depth": graphene.Int()},
        description="One shortest path (datasets and quanta) from a selector to a dataset; "
                    "empty if none.")
    blast_radius = graphene.Field(
        BlastRadius, required=True,
        **{"from_": graphene.String(required=True, name="from"),
           "direction": graphene.Argument(Direction, default_value=query.DOWN),
           "depth": graphene.Int(),
           "types": graphene.List(graphene.NonNull(graphene.String)),
           "collection": graphene.String()},
        description="How many datasets of each type a traversal reaches (counts only).")
    dataset_types = graphene.Field(DatasetTypeConnection, required=True, **page_args(),
                                   description="Every dataset type, in key (name) order.")
    collections = graphene.Field(CollectionConnection, required=True, **page_args(),
                                 description="Every collection, in key (name) order.")


    async def resolve_node(root, info, id=None, key=None):
        if (id is None) == (key is None):
            raise ApiError("id: give a node's global ID (or its key, as `key`), not both")
        node_key = decode_global_id(id) if id is not None else _node_key(key, "key")
        return await info.context.loaders.node.load(node_key)

    async def resolve_dataset(root, info, id):
        return await info.context.loaders.node.load(_dataset_key(id, "id"))

    async def resolve_datasets(root, info, filter=None, first=None, after=None):
        ctx = info.context
        n, start = page_size(first, ctx.settings), decode_cursor(after)
        return await ctx.run(_datasets_page, ctx.store, dict(filter or {}), n, start)

    async def resolve_lineage(root, info, from_, direction=query.DOWN, **args):
        return await lineage_page(info, from_, direction, **args)

    async def resolve_lineage_path(root, info, from_, to, direction=query.DOWN, depth=None):
        ctx = info.context
        _check_depth(depth)
        target = _dataset_key(to, "to")
        with argument("from"):
            path = await ctx.run(query.explain, ctx.store, from_, target,
                                 _direction(direction), depth)
        nodes = await ctx.loaders.node.load_many(path)
        return [n for n in nodes if n]

    async def resolve_blast_radius(root, info, from_, direction=query.DOWN, depth=None,
                                   types=None, collection=None):
        rows = await _traverse(info, from_, direction, types, depth, collection)
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.dataset_type] = counts.get(r.dataset_type, 0) + 1
        return {"selector": from_, "direction": _direction(direction), "total": len(rows),
                "by_dataset_type": [{"dataset_type": t, "count": c}
                                    for t, c in sorted(counts.items())]}

    async def resolve_dataset_types(root, info, first=None, after=None):
        ctx = info.context
        n, start = page_size(first, ctx.settings), decode_cursor(after)
        return await ctx.run(keyset_page, ctx.store, "DatasetType", NO_FILTER, n, start)

    async def resolve_collections(root, info, first=None, after=None):
        ctx = info.context
        n, start = page_size(first, ctx.settings), decode_cursor(after)
        return await ctx.run(keyset_page, ctx.store, "Collection", NO_FILTER, n, start)

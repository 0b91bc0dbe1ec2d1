"""GraphQL search (docs/search.md): ``search(text, first)``, the explorer's search box.

The text is read as :func:`lineage.search.search` reads it (a visit, a data ID, a dataset
or flag UUID, a node key, a collection, a dataset type, a task); each hit carries the key
``node(key:)`` and ``lineage(from:)`` take, and the node itself (one batch per request).
"""

from __future__ import annotations

import graphene

from lineage.api.errors import argument
from lineage.api.pagination import page_size
from lineage.api.types import Node
from lineage.search import DEFAULT_FIRST, search


class SearchHit(graphene.ObjectType):
    """One thing a search found."""

    kind = graphene.String(required=True, description="Node kind: Dataset, DataUnit, Quantum, "
                           "Flag, Collection, DatasetType or Task.")
    key = graphene.String(required=True, description="What node(key:) and lineage(from:) take.")
    label = graphene.String(required=True, description="A short label for a list of results.")
    dataset_type = graphene.String(description="A dataset's type (a dataset type's name).")
    data_id = graphene.String(description="A dataset's or quantum's data ID.")
    run = graphene.String(description="A dataset's or quantum's RUN collection.")
    dimension = graphene.String(description="A data unit's dimension (visit, tract ...).")
    deleted = graphene.String(description="When a deleted dataset (a tombstone, still a hit) "
                                          "was deleted; null: it exists.")
    node = graphene.Field(Node, description="The node (null if it went meanwhile).")

    async def resolve_node(root, info):
        return await info.context.loaders.node.load(root.key)


class SearchResult(graphene.ObjectType):
    """The hits of a search, kind by kind, at most `first`."""

    hits = graphene.List(graphene.NonNull(SearchHit), required=True)
    total = graphene.Int(required=True, description="How many things matched in all.")
    truncated = graphene.Boolean(required=True, description="True when more matched than "
                                                            "`hits` holds (ask a larger `first`).")
    message = graphene.String(description="When nothing matched: what the text was tried as.")


class SearchQuery(graphene.ObjectType):
    """Root fields, inherited by the schema's Query."""

    search = graphene.Field(
        SearchResult, required=True,
        text=graphene.String(required=True, description="What a person typed: 2026030100001, "
                             "visit=2026030100001, deepCoadd tract=9813,patch=40,band=r, a "
                             "dataset UUID or key, flag:<uuid>, DR2, deepCoadd, calibrate ..."),
        first=graphene.Int(description=f"At most this many hits (default {DEFAULT_FIRST}, at "
                                       "most the server's page size)."),
        description="What a typed text names: visits and other data units, datasets, "
                    "quanta, flags, collections, dataset types, tasks.")

    async def resolve_search(root, info, text, first=None):
        ctx = info.context
        n = DEFAULT_FIRST if first is None else page_size(first, ctx.settings)
        with argument("text"):
            return await ctx.run(search, ctx.store, text, n)

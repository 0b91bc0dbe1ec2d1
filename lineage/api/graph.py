"""``Query.lineageGraph``: the lineage of a selection as a graph to draw (the web
explorer's main view): datasets and quanta, large fan-outs collapsed into groups
(:mod:`lineage.traversal.graph`), each dataset and group with its contamination by the
flags active now (or as of a time or release).
"""

from __future__ import annotations

import graphene

from lineage import flags as flagging
from lineage.api.errors import ApiError, argument
from lineage.api.lineage import Direction, _check_depth, _direction
from lineage.core.selector import parse_selector
from lineage.flags.core import chunks
from lineage.flags.queries import active_flag_count
from lineage.flags.records import contamination_of_datasets
from lineage.traversal import graph as drawing
from lineage.traversal.traverse import check_caps


class GraphContamination(graphene.ObjectType):
    """How a drawn dataset, or a group's members, are contaminated by active flags."""

    verdict = graphene.String(description="bad when any mark is by a bad flag, else suspect; "
                                          "null: not contaminated.")
    max_fraction = graphene.Float(required=True,
                                  description="The largest mark fraction (0..1) among them.")
    datasets = graphene.Int(required=True,
                            description="Datasets contaminated (1 or 0 for a dataset).")
    flags = graphene.List(graphene.NonNull(graphene.String), required=True,
                          description="Keys of the flags whose marks these are.")


class GraphNode(graphene.ObjectType):
    """A dataset, a quantum, or a group of datasets of one type or quanta of one task."""

    id = graphene.String(required=True, description="The node's key, or the group's id "
                                                     "(group:dataset:TYPE, group:quantum:TASK), "
                                                     "which `expand` takes.")
    kind = graphene.String(required=True, description="dataset, quantum or group")
    member_kind = graphene.String(required=True,
                                  description="dataset or quantum: what it is or holds.")
    step = graphene.Int(required=True, description="Fewest steps from the selection.")
    key = graphene.String(description="The node's key (null for a group).")
    dataset_type = graphene.String()
    task = graphene.String()
    data_id = graphene.String()
    run = graphene.String()
    count = graphene.Int(required=True, description="Members (1 for one node).")
    deleted = graphene.String(description="When a deleted dataset (a tombstone: lineage "
                                          "passes through it) was deleted; null: it exists.")
    expanded = graphene.Boolean(required=True, description="A group whose first members are "
                                                           "drawn; this node is the rest.")
    selected = graphene.Boolean(required=True,
                                description="It (or a member) is in the selection.")
    contamination = graphene.Field(GraphContamination,
                                   description="Null when nothing in it is contaminated.")


class GraphEdge(graphene.ObjectType):
    """Data flowing from ``source`` to ``target`` (input -> quantum -> output)."""

    source = graphene.String(required=True)
    target = graphene.String(required=True)
    count = graphene.Int(required=True, description="Steps it stands for.")


class LineageGraph(graphene.ObjectType):
    selector = graphene.String(required=True)
    direction = graphene.Field(Direction, required=True)
    datasets = graphene.Int(required=True, description="Datasets drawn: those reached, and "
                                                         "the selection's own.")
    quanta = graphene.Int(required=True, description="Quanta on the way.")
    truncated = graphene.Boolean(required=True,
                                 description="`maxNodes` cut the traversal short.")
    nodes = graphene.List(graphene.NonNull(GraphNode), required=True)
    edges = graphene.List(graphene.NonNull(GraphEdge), required=True)


def _contaminate(store, graph: drawing.LineageGraph, as_of: str | None) -> None:
    """Set ``contamination`` on each drawn dataset and dataset group (one query per 5,000
    datasets; none when no flag is active now and the question is about now)."""
    for node in graph.nodes:
        node.contamination = None
    if as_of is None and not active_flag_count(store):
        return
    keys = [k for n in graph.nodes if n.member_kind == "dataset"
            for k in (n.members if n.kind == "group" else [n.key])]
    marked: dict[str, dict] = {}
    for chunk in chunks(keys):
        for record in contamination_of_datasets(store, chunk, as_of):
            if record["contaminated"]:
                marked[record["key"]] = record
    for node in graph.nodes:
        records = [marked[k] for k in (node.members if node.kind == "group" else [node.key])
                   if k in marked]
        node.contamination = None if not records else {
            "verdict": "bad" if any(r["verdict"] == "bad" for r in records) else "suspect",
            "max_fraction": max(r["max_fraction"] for r in records),
            "datasets": len(records),
            "flags": sorted({m["flag"] for r in records for m in r["by"]})}


def lineage_graph(store, from_: str, direction: str, depth, expand, collapse_above,
                  expand_limit, as_of, max_nodes) -> drawing.LineageGraph:
    at = None
    if as_of is not None:
        with argument("asOf"):
            at = flagging.as_of_time(store, as_of)
    with argument("from"):
        graph = drawing.lineage_graph(store, from_, direction, depth,
                                      collapse_above=collapse_above, expand=expand or (),
                                      expand_limit=expand_limit, at=at, max_nodes=max_nodes)
    _contaminate(store, graph, as_of)
    return graph


class GraphQuery(graphene.ObjectType):
    lineage_graph = graphene.Field(
        LineageGraph, required=True,
        description="The lineage of a selection as a graph to draw: datasets and quanta "
                    "in the direction the data flowed, groups of more than `collapseAbove` "
                    "datasets of one type (or quanta of one task) drawn as one node with its "
                    "count, contamination by active flags (docs/explorer.md).",
        from_=graphene.String(name="from", required=True,
                              description="Selector: dataset UUID, node key or data-unit "
                                          "expression (visit=2026030100001)."),
        direction=Direction(default_value=Direction.DOWN.value),
        depth=graphene.Int(description="At most this many steps (quanta); default: all."),
        expand=graphene.List(graphene.NonNull(graphene.String),
                             description="Groups (their `id`) to draw member by member."),
        collapse_above=graphene.Int(default_value=drawing.COLLAPSE_ABOVE,
                                    description="Groups larger than this are one node."),
        expand_limit=graphene.Int(default_value=drawing.EXPAND_LIMIT,
                                  description="Members of an expanded group drawn (the rest "
                                              "stay one node); at most 200."),
        as_of=graphene.String(description="Flags active, and datasets that existed, at this "
                                          "UTC time or release."),
        max_nodes=graphene.Int(description="At most this many datasets reached "
                                           "(`truncated` says when it cut the search); "
                                           "default: no cap but the request's time limit."))

    async def resolve_lineage_graph(root, info, from_, direction=None, depth=None, expand=None,
                                    collapse_above=drawing.COLLAPSE_ABOVE,
                                    expand_limit=drawing.EXPAND_LIMIT, as_of=None,
                                    max_nodes=None):
        ctx = info.context
        _check_depth(depth)
        if not 1 <= collapse_above <= 1000:
            raise ApiError(f"collapseAbove: must be between 1 and 1000, not {collapse_above}")
        if not 1 <= expand_limit <= 200:
            raise ApiError(f"expandLimit: must be between 1 and 200, not {expand_limit}")
        with argument("maxNodes"):
            check_caps(None, max_nodes)
        with argument("from"):
            parse_selector(from_)
        return await ctx.run(lineage_graph, ctx.store, from_, _direction(direction), depth,
                             expand, collapse_above, expand_limit, as_of, max_nodes)

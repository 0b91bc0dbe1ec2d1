"""The lineage graph of a selection as the web explorer draws it: datasets and the quanta
between them, in processing order, with large fan-outs collapsed into groups.

A traversal (:func:`lineage.traversal.traverse.traverse`) finds every dataset within
``depth`` steps and every step taken (dataset -> quantum -> dataset).  Drawn one box per
node, the upstream of a coadd is 10,000 boxes; so the nodes are put in *groups*: datasets
by dataset type, quanta by task (a pipeline's types and tasks form a DAG, so the groups
do too, and a group is one step of the processing).  A group of more than
``collapse_above`` members is drawn as one node with its count, unless the caller
``expand``\\ s it; an expanded group shows its first ``expand_limit`` members (in data ID
order) and one node for the rest.  Edges join what is drawn, each with the number of steps
it stands for, always in the direction the data flowed (input -> quantum -> output),
upstream answers included.

Nothing here reads flags: the API adds contamination to the datasets drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lineage.core.dataid import DataId
from lineage.core.model import Kind, kind_of_key
from lineage.traversal.queries import dataset_identities
from lineage.traversal.traverse import DOWN, DatasetRow, traverse

#: Groups with more members than this are drawn as one node (unless expanded).
COLLAPSE_ABOVE = 8

#: Members of an expanded group drawn one by one; the rest stay one node.
EXPAND_LIMIT = 40

#: Default depth of the explorer's graph (steps, i.e. quanta, from the selection).
DEFAULT_DEPTH = 4


@dataclass
class GraphNode:
    """One node drawn: a dataset, a quantum, or a group of either (``count`` members)."""

    id: str
    kind: str            # dataset, quantum, group
    step: int            # fewest steps from the selection (0: selected), of its members
    member_kind: str     # dataset or quantum: what the node is or holds
    key: str | None = None          # the node's key (None for a group)
    dataset_type: str | None = None
    task: str | None = None
    data_id: str | None = None
    run: str | None = None
    count: int = 1
    expanded: bool = False          # a group whose members are drawn (this node is the rest)
    selected: bool = False
    members: list[str] = field(default_factory=list)   # dataset keys of a group (contamination)
    deleted: str | None = None      # a deleted dataset's deletion stamp (docs/retention.md)


@dataclass
class GraphEdge:
    source: str
    target: str
    count: int      # steps (dataset -> quantum, quantum -> dataset) this edge stands for


@dataclass
class LineageGraph:
    selector: str
    direction: str
    depth: int
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    datasets: int          # datasets drawn: those reached and the selection's own
    quanta: int
    truncated: bool        # the traversal's caps cut it


def group_id(member_kind: str, name: str) -> str:
    """The id of the group of ``member_kind`` (dataset, quantum) named ``name`` (dataset
    type, task): stable, so an expanded group can be named in a URL."""
    return f"group:{member_kind}:{name}"


def _data_id_order(item: tuple[str, str]) -> tuple:
    key, data_id = item
    return DataId.parse(data_id).sort_key(), key


def lineage_graph(store, selector, direction: str = DOWN, depth: int | None = DEFAULT_DEPTH,
                  *, collapse_above: int = COLLAPSE_ABOVE, expand=(),
                  expand_limit: int = EXPAND_LIMIT, at: str | None = None,
                  max_nodes: int | None = None) -> LineageGraph:
    """The graph of the traversal from ``selector`` (module docstring); ``expand`` names
    groups (:func:`group_id`) to draw member by member, ``at`` and ``max_nodes`` are the
    traversal's."""
    tree: dict = {"edges": []}
    rows = traverse(store, selector, direction, depth=depth, tree=tree, at=at,
                    max_nodes=max_nodes, ordered=False)
    seeds, tasks, steps_taken = tree["seeds"], tree["tasks"], tree["edges"]
    datasets = {r.key: r for r in rows}
    unreached = [k for k in seeds if k not in datasets and kind_of_key(k) == Kind.DATASET]
    for start in range(0, len(unreached), 5000):   # the selection's own data IDs and runs
        for row in dataset_identities(store, unreached[start:start + 5000]):
            datasets[row.key] = DatasetRow(row.key, row.dataset_type or "", row.data_id or "",
                                           row.run or "", 0, row.deleted_at)
    step_of: dict[str, int] = {k: 0 for k in seeds}
    step_of.update((r.key, r.steps) for r in rows if r.key not in seeds)

    # a quantum's step is that of the nearest dataset it made (downstream) or read (up)
    quanta: dict[str, int] = {}
    for a, q, b in steps_taken:
        if b not in step_of:
            continue   # cut by a cap
        if q is not None:
            quanta[q] = min(quanta.get(q, step_of[b]), step_of[b])
    for key in seeds:
        if kind_of_key(key) == Kind.QUANTUM:
            quanta[key] = 0

    def describe(key: str) -> tuple[str, str, str]:
        """(member kind, group name, data ID) of a node."""
        if key in quanta:
            return "quantum", tasks.get(key, "?"), ""
        row = datasets.get(key)
        if row is not None:
            return "dataset", row.dataset_type, row.data_id
        return "dataset", seeds.get(key) or "?", ""

    members: dict[tuple[str, str], list[tuple[str, str]]] = {}   # (member kind, name) ->
    for key in list(step_of) + list(quanta):
        member_kind, name, data_id = describe(key)
        members.setdefault((member_kind, name), []).append((key, data_id))
    step_of.update(quanta)

    expand = set(expand)
    drawn: dict[str, str] = {}       # node key -> id of what is drawn for it
    nodes: list[GraphNode] = []
    for (member_kind, name), items in sorted(members.items()):
        gid = group_id(member_kind, name)
        opened = gid in expand and len(items) > collapse_above
        if opened or len(items) <= collapse_above:   # members drawn: in data ID order
            items.sort(key=_data_id_order)
        one_by_one = items if len(items) <= collapse_above else \
            items[:expand_limit] if opened else []
        for key, data_id in one_by_one:
            row = datasets.get(key)
            nodes.append(GraphNode(
                id=key, kind=member_kind, step=step_of[key], member_kind=member_kind, key=key,
                dataset_type=name if member_kind == "dataset" else None,
                task=name if member_kind == "quantum" else None, data_id=data_id or None,
                run=row.run if row else None, selected=key in seeds,
                deleted=row.deleted if row else None))
            drawn[key] = key
        rest = items[len(one_by_one):]
        if rest:
            nodes.append(GraphNode(
                id=gid, kind="group", step=min(step_of[k] for k, _ in rest),
                member_kind=member_kind,
                dataset_type=name if member_kind == "dataset" else None,
                task=name if member_kind == "quantum" else None, count=len(rest),
                expanded=opened, selected=any(k in seeds for k, _ in rest),
                members=[k for k, _ in rest] if member_kind == "dataset" else []))
            for key, _ in rest:
                drawn[key] = gid

    flows: set[tuple[str, str]] = set()   # (from, to) in the direction the data flowed
    downstream = direction == DOWN
    for a, q, b in steps_taken:
        if b not in drawn or a not in drawn:
            continue
        if q is None:             # a quantum seed and a dataset
            flows.add((a, b) if downstream else (b, a))
        elif downstream:          # a -> q -> b
            flows.update(((a, q), (q, b)))
        else:                     # b -> q -> a
            flows.update(((b, q), (q, a)))
    counts: dict[tuple[str, str], int] = {}
    for src, dst in flows:
        pair = (drawn[src], drawn[dst])
        counts[pair] = counts.get(pair, 0) + 1
    edges = [GraphEdge(s, t, n) for (s, t), n in sorted(counts.items())]
    return LineageGraph(str(selector), direction, depth or 0, nodes, edges,
                        datasets=len(datasets), quanta=len(quanta), truncated=rows.truncated)

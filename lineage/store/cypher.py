"""The Cypher every engine shares for writing a batch, written once.

Nodes are merged on ``key`` under their kind's label; edges are merged on
(source, type, target).  Each engine makes the statements of one ingest unit
all-or-nothing in its own way (a transaction, or one chained query).
"""

from __future__ import annotations

from dataclasses import dataclass

from lineage.core.model import GraphBatch, Kind, Rel, kind_of_key

#: Rows per UNWIND statement; measured by scripts/bench_lineage.py.
BATCH_ROWS = 5000

#: Properties that are the engine's bookkeeping, not the user's data.
INTERNAL_PREFIX = "_"


@dataclass(frozen=True)
class Statement:
    query: str
    params: dict
    rows: int


def node_statement(kind: Kind, create: bool = False) -> str:
    """Rows are ``{key, props}``; ``create`` when none of the keys is stored (CREATE costs
    a fifth less than MERGE, which looks the key up first)."""
    return (f"UNWIND $rows AS r {'CREATE' if create else 'MERGE'} (n:{kind.value} "
            "{key: r.key}) SET n += r.props")


def edge_statement(rel: Rel, src: Kind, dst: Kind, with_props: bool = True) -> str:
    """Rows are ``[source key, target key, props]`` (props left out when no row has any)."""
    return (f"UNWIND $rows AS r "
            f"MATCH (a:{src.value} {{key: r[0]}}) MATCH (b:{dst.value} {{key: r[1]}}) "
            f"MERGE (a)-[e:{rel.value}]->(b)" + (" SET e += r[2]" if with_props else ""))


#: Edges of one shape sharing an end (a target, else a source): from this many on, that
#: end is matched once for all of them.
SHARED_END_MIN = 64


def shared_end_statement(rel: Rel, src: Kind, dst: Kind, props: tuple[str, ...] | None = (),
                         end: str = "target") -> str:
    """Edges sharing one ``end``, the node ``$shared``: the ``target`` (a flag's
    contamination marks, a data unit's datasets) or the ``source`` (a RUN's datasets).
    Rows are the other ends' keys (``props`` empty), ``[key, value, ...]`` for the
    property names ``props`` every row has, or ``[key, props map]`` (``props`` None).
    Matching the shared end once halves the cost of the edges; naming the properties
    saves a third more."""
    if props is None:
        other, setter = "r[0]", " SET e += r[1]"
    elif props:
        other = "r[0]"
        setter = " SET " + ", ".join(f"e.{name} = r[{i + 1}]" for i, name in enumerate(props))
    else:
        other, setter = "r", ""
    source, target = f"(a:{src.value} {{key: ", f"(b:{dst.value} {{key: "
    shared, each = (target, source) if end == "target" else (source, target)
    return (f"MATCH {shared}$shared}}) UNWIND $rows AS r MATCH {each}{other}}}) "
            f"MERGE (a)-[e:{rel.value}]->(b)" + setter)


def remove_edge_statement(rel: Rel, src: Kind, dst: Kind) -> str:
    """Rows are ``[source key, target key]``; absent edges are skipped."""
    return (f"UNWIND $rows AS r "
            f"MATCH (a:{src.value} {{key: r[0]}})-[e:{rel.value}]->(b:{dst.value} {{key: r[1]}}) "
            f"DELETE e")


def write_statements(batch: GraphBatch, rows_per_statement: int = BATCH_ROWS,
                     absent=frozenset()):
    """The statements that write ``batch``: removed edges first, then all nodes (those of
    the keys ``absent``, known not to be stored, created; the others merged), then all
    edges."""
    for (rel, src, dst), items in sorted(batch.removed_by_shape().items(),
                                         key=lambda kv: tuple(x.value for x in kv[0])):
        items.sort()
        query = remove_edge_statement(rel, src, dst)
        for i in range(0, len(items), rows_per_statement):
            rows = [[s, d] for s, d in items[i:i + rows_per_statement]]
            yield Statement(query, {"rows": rows}, len(rows))
    for kind, items in sorted(batch.nodes_by_kind().items(), key=lambda kv: kv[0].value):
        new = [item for item in items if item[0] in absent] if absent else []
        if new:
            items = [item for item in items if item[0] not in absent]
        for create, group in ((True, new), (False, items)):
            query = node_statement(kind, create)
            for i in range(0, len(group), rows_per_statement):
                rows = [{"key": k, "props": p} for k, p in group[i:i + rows_per_statement]]
                yield Statement(query, {"rows": rows}, len(rows))
    for (rel, src, dst), items in sorted(batch.edges_by_shape().items(),
                                         key=lambda kv: tuple(x.value for x in kv[0])):
        for end, position in (("target", 1), ("source", 0)):
            groups: dict[str, list] = {}
            for item in items:
                groups.setdefault(item[position], []).append(item)
            shared = {k for k, group in groups.items() if len(group) >= SHARED_END_MIN}
            for key in sorted(shared):
                yield from _shared_end_statements(rel, src, dst, end, key, groups[key],
                                                  rows_per_statement)
            if shared:
                items = [item for item in items if item[position] not in shared]
        for i in range(0, len(items), rows_per_statement):
            chunk = items[i:i + rows_per_statement]
            if any(p for _, _, p in chunk):
                rows = [[s, d, p] for s, d, p in chunk]
                query = edge_statement(rel, src, dst, with_props=True)
            else:  # most edges carry no properties; SET on them costs a third of the write
                rows = [[s, d] for s, d, _ in chunk]
                query = edge_statement(rel, src, dst, with_props=False)
            yield Statement(query, {"rows": rows}, len(rows))


def _shared_end_statements(rel: Rel, src: Kind, dst: Kind, end: str, key: str, group: list,
                           rows_per_statement: int):
    """The statements of edges sharing the ``end`` (target or source) ``key``."""
    other = 0 if end == "target" else 1
    for i in range(0, len(group), rows_per_statement):
        chunk = group[i:i + rows_per_statement]
        names = tuple(sorted(chunk[0][2]))
        if all(tuple(sorted(p)) == names for _, _, p in chunk):
            rows = ([[item[other], *(item[2][n] for n in names)] for item in chunk] if names
                    else [item[other] for item in chunk])
            query = shared_end_statement(rel, src, dst, names, end)
        else:
            rows = [[item[other], item[2]] for item in chunk]
            query = shared_end_statement(rel, src, dst, None, end)
        yield Statement(query, {"shared": key, "rows": rows}, len(rows))


def existing_keys_statements(keys, rows_per_statement: int = BATCH_ROWS):
    """Statements returning which of ``keys`` exist, grouped by label."""
    by_kind: dict[Kind, list[str]] = {}
    for key in keys:
        by_kind.setdefault(kind_of_key(key), []).append(key)
    for kind, group in by_kind.items():
        for i in range(0, len(group), rows_per_statement):
            yield Statement(f"UNWIND $keys AS k MATCH (n:{kind.value} {{key: k}}) "
                            "RETURN n.key, n.dataset_type",
                            {"keys": group[i:i + rows_per_statement]}, 0)


#: The repository format this code writes (docs/migration.md): what the graph and
#: ``lineage.json`` hold.  A repository of an older format is upgraded by the numbered
#: migrations of :mod:`lineage.store.migrations`.
FORMAT_VERSION = 2

#: Secondary indexes every engine creates (besides the unique ``key`` per label).
SECONDARY_INDEXES = [
    (Kind.DATA_UNIT, "dimension"),
    (Kind.DATA_UNIT, "value"),
    (Kind.DATASET, "dataset_type"),
    (Kind.DATASET, "run"),
    (Kind.COLLECTION, "name"),
    (Kind.QUANTUM, "task"),
    (Kind.DATASET, "deleted_at"),   # format 2: tombstones; "is there one at all" is one seek
]

#: The format that introduced each secondary index not in format 1.
INDEX_SINCE_FORMAT = {(Kind.DATASET, "deleted_at"): 2}


def secondary_indexes(format_version: int = FORMAT_VERSION) -> list[tuple[Kind, str]]:
    """The secondary indexes of a repository of ``format_version`` (an older format has
    fewer: tests rebuild format-1 repositories exactly as format-1 code left them)."""
    return [index for index in SECONDARY_INDEXES
            if INDEX_SINCE_FORMAT.get(index, 1) <= format_version]


#: The label of the one node that holds the repository's own bookkeeping (its format
#: version, a migration under way): not a :class:`Kind`, so exports, copies and counts of
#: the model leave it out.  Formats 2 on; a format-1 graph has none.
META_LABEL = "LineageMeta"
META_KEY = "lineage:repository"

META_READ = f"MATCH (m:{META_LABEL} {{key: $key}}) RETURN properties(m)"
META_WRITE = f"MERGE (m:{META_LABEL} {{key: $key}}) SET m += $props"
META_COUNT = f"MATCH (m:{META_LABEL}) RETURN count(m)"


def public_props(props: dict) -> dict:
    return {k: v for k, v in props.items() if not k.startswith(INTERNAL_PREFIX)}

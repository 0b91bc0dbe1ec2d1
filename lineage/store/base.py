"""The engine interface every store implements.

A store knows how to run Cypher on its engine, how to create its schema and
how to make one ingest unit all-or-nothing.  Everything else (which Cypher
to run) is shared: writes in :mod:`lineage.store.cypher`, lineage queries in
:mod:`lineage.traversal.traverse`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import NamedTuple

from lineage.core.errors import LineageError
from lineage.core.model import GraphBatch, ModelError
from lineage.store import cypher
from lineage.store.dialect import STANDARD, Dialect

class StoreError(LineageError, RuntimeError):
    """An engine failed or refused; the message says which and why."""


class ReadOnlyViolation(StoreError):
    """A query given as read-only tried to write."""


class ResultTooLarge(StoreError):
    """A user's query returned more rows or bytes than it may."""


#: What a user's read-only query may return by default (rows, and bytes as the engine
#: sends them); the result is refused, not cut, beyond either.
MAX_RESULT_ROWS = 100_000
MAX_RESULT_BYTES = 32 * 1024 * 1024


def too_large(what: str, limit: int) -> ResultTooLarge:
    return ResultTooLarge(f"refused: the result is larger than {limit:,} {what}; narrow the "
                          "query (LIMIT, fewer columns) or raise the limit")


class _TypesOf(dict):
    """Dataset types of nodes outside a batch: looked up now, or known from this run."""

    def __init__(self, looked_up: dict, known: dict) -> None:
        super().__init__(looked_up)
        self.known = known

    def get(self, key, default=None):
        value = super().get(key)
        return value if value is not None else self.known.get(key, default)


@dataclass
class PreparedUnit:
    """A checked ingest unit, encoded for one engine, not yet written."""

    source: str
    nodes: int
    edges: int
    encoded: object


@dataclass
class WriteSummary:
    """What one ingest unit did."""

    source: str
    nodes_in: int = 0
    edges_in: int = 0
    nodes_created: int = 0
    edges_created: int = 0
    seconds: float = 0.0



class NodeFilter(NamedTuple):
    """Conditions on a page's node ``n`` (all must hold) and their parameters; the
    capabilities' ``queries.py`` make them (``traversal.queries.dataset_filter``)."""
    conditions: list
    params: dict


NO_FILTER = NodeFilter([], {})


class KeyedNode(NamedTuple):
    """A node: its key and stored properties."""
    key: str
    props: dict


def _where(conditions: list) -> str:
    return ("WHERE " + " AND ".join(conditions) + " ") if conditions else ""


class Store(ABC):
    """One graph on one engine."""

    engine: str = "?"

    #: How this engine spells what standard Cypher does not settle (:mod:`lineage.store.dialect`).
    dialect: Dialect = STANDARD

    #: Seconds after which the engine stops one of the library's own reads.
    READ_TIMEOUT = 300.0

    # --- what each engine provides ---------------------------------------

    @abstractmethod
    def read(self, query: str, params: dict | None = None) -> list[tuple]:
        """Run a query the library wrote; rows as tuples."""

    def read_plain(self, query: str, params: dict | None = None) -> list:
        """Rows (tuples or lists) of a library query that returns only strings, integers
        and nulls (keys, names, data IDs, counts), read the cheapest way the engine has;
        any other kind of value may come back as its text.  For reads of millions of
        rows (the release diff).  Engines without a cheaper way use :meth:`read`."""
        return self.read(query, params)

    def read_plain_typed(self, query: str, params: dict | None, typed_from: int) -> list:
        """Rows of :meth:`read_plain` whose columns from ``typed_from`` on keep their types
        (the first column must name the row: a node's key).  Where the engine gave some of
        them as text, those rows are read again with :meth:`read`."""
        rows = self.read_plain(query, params)
        if not self.dialect.plain_rows_are_text \
                or not any(type(v) is str for row in rows for v in row[typed_from:]):
            return rows
        typed = {row[0]: row[typed_from:] for row in self.read(query, params)}
        return [[*row[:typed_from], *typed.get(row[0], row[typed_from:])] for row in rows]

    @abstractmethod
    def read_only(self, query: str, params: dict | None = None, timeout: float = 30.0,
                  max_rows: int = MAX_RESULT_ROWS,
                  max_bytes: int = MAX_RESULT_BYTES) -> tuple[list[str], list[tuple]]:
        """Run a user's query (text from outside): refuse it with :class:`ReadOnlyViolation`
        if it writes, changes the schema, reads files or may exhaust the engine's memory
        (checked before anything is sent, :mod:`lineage.store.guard`); stop it with
        :class:`StoreError` after ``timeout`` seconds; refuse a result of more than
        ``max_rows`` rows or ``max_bytes`` bytes with :class:`ResultTooLarge`."""

    @abstractmethod
    def ensure_schema(self, format_version: int = cypher.FORMAT_VERSION) -> None:
        """Create constraints and indexes if they are missing (idempotent): those of
        ``format_version`` (the current one, unless a test rebuilds an older repository).
        A graph with no node yet is a new repository: it gets that format recorded
        (:meth:`stamp_new_graph`)."""

    def graph_meta(self) -> dict | None:
        """The graph's own bookkeeping node (its format version, a migration under way:
        :mod:`lineage.store.migrations`), None where there is none (format 1, a new graph)."""
        rows = self.read(cypher.META_READ, {"key": cypher.META_KEY})
        return dict(rows[0][0]) if rows else None

    def record_graph_meta(self, **props) -> None:
        """Set properties of the graph's bookkeeping node (created if missing), all or
        nothing."""
        self._execute_unit(self._encode([cypher.Statement(
            cypher.META_WRITE, {"key": cypher.META_KEY, "props": props}, 1)]))

    def stamp_new_graph(self, format_version: int) -> None:
        """Record ``format_version`` in a graph that holds nothing yet (formats 2 on; a
        format-1 graph records none).  A graph that holds data and no version is format 1,
        left for a migration to upgrade."""
        if format_version >= 2 and self.graph_meta() is None and self.count() == (0, 0):
            self.record_graph_meta(format_version=format_version)

    def _encode(self, statements: list[cypher.Statement]):
        """Whatever ``_execute_unit`` runs (built ahead, possibly in another thread)."""
        return statements

    @abstractmethod
    def _execute_unit(self, encoded) -> tuple[int, int]:
        """Run one encoded unit all-or-nothing; return (nodes created, edges created)."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every node and edge (and keep the schema)."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- shared behaviour ----------------------------------------------------

    def existing_keys(self, keys) -> set[str]:
        return set(self.lookup(keys))

    def lookup(self, keys) -> dict[str, str | None]:
        """Which of ``keys`` are stored: key -> its dataset type (None if not a dataset)."""
        found: dict[str, str | None] = {}
        for st in cypher.existing_keys_statements(sorted(set(keys))):
            found.update((row[0], row[1]) for row in self.read(st.query, st.params))
        return found

    def _quantum_io(self, quanta: list[str]) -> dict[str, tuple]:
        """(task, stored input types, stored output types) of stored quanta."""
        out: dict[str, tuple] = {}
        for i in range(0, len(quanta), cypher.BATCH_ROWS):
            for key, task, ins, outs in self.read(
                    "MATCH (q:Quantum) WHERE q.key IN $keys "
                    "OPTIONAL MATCH (a:Dataset)-[:INPUT_TO]->(q) "
                    "WITH q, collect(DISTINCT a.dataset_type) AS ins "
                    "OPTIONAL MATCH (q)-[:PRODUCED]->(b:Dataset) "
                    "RETURN q.key, q.task, ins, collect(DISTINCT b.dataset_type)",
                    {"keys": quanta[i:i + cypher.BATCH_ROWS]}):
                out[key] = (task, [t for t in ins if t], [t for t in outs if t])
        return out

    def prepare(self, batch: GraphBatch, known: dict[str, str | None] | None = None,
                extra: list[cypher.Statement] = (), absent=frozenset()) -> PreparedUnit:
        """Check ``batch`` and build what writes it; nothing is written yet.

        Edges must join nodes that are in the batch, in ``known`` (key ->
        dataset type of nodes written earlier in the same run) or already
        stored.  ``known`` is updated with the batch's own nodes.  ``extra``
        statements (a flag's marks, written by ref) run after the batch's,
        in the same all-or-nothing unit.
        """
        known = {} if known is None else known
        outside = batch.missing_endpoints(known)
        present = self.lookup(outside) if outside else {}
        missing = [k for k in outside if k not in present]
        if missing:
            more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
            raise ModelError(f"{batch.source or 'batch'}: edges refer to nodes that are neither "
                             f"in the input nor stored: {', '.join(missing[:5])}{more}")
        types = {k: t for k, t in present.items() if t}
        earlier_quanta = [k for k in outside if k.startswith("quantum:")]
        batch.derive_type_edges(_TypesOf(types, known), self._quantum_io(earlier_quanta))
        statements = list(cypher.write_statements(batch, absent=absent)) + list(extra)
        known.update((k, p.get("dataset_type")) for k, p in batch.nodes.items())
        return PreparedUnit(batch.source, len(batch.nodes),
                            len(batch.edges) + sum(st.rows for st in extra),
                            self._encode(statements))

    def commit(self, unit: PreparedUnit) -> WriteSummary:
        """Write a prepared unit: all of it, or (on any error) none of it."""
        t0 = time.perf_counter()
        nodes, edges = self._execute_unit(unit.encoded)
        return WriteSummary(unit.source, unit.nodes, unit.edges, nodes, edges,
                            time.perf_counter() - t0)

    def write(self, batch: GraphBatch, absent=frozenset()) -> WriteSummary:
        """Check and write ``batch`` as one all-or-nothing ingest unit; ``absent``: keys of
        its nodes the store was found not to hold just before (they are created, not
        merged; should one appear meanwhile, its key's uniqueness refuses the unit)."""
        t0 = time.perf_counter()
        summary = self.commit(self.prepare(batch, absent=absent))
        summary.seconds = time.perf_counter() - t0
        return summary

    def ping(self) -> int:
        """How many dataset types are stored: a cheap read that says the engine answers."""
        return int(self.read("MATCH (t:DatasetType) RETURN count(t)")[0][0])

    def count_by_label(self, labels, rel_types) -> tuple[dict[str, int], dict[str, int]]:
        """(nodes per label, edges per type) for the ``labels`` and ``rel_types`` given."""
        nodes = {label: int(self.read(f"MATCH (n:{label}) RETURN count(n)")[0][0])
                 for label in labels}
        edges = {rel: int(self.read(f"MATCH ()-[e:{rel}]->() RETURN count(e)")[0][0])
                 for rel in rel_types}
        return nodes, edges

    #: Keys per query of :meth:`nodes`.
    NODES_CHUNK = 2000

    def nodes(self, label: str, keys) -> dict[str, dict]:
        """key -> stored properties of those of ``keys`` that are ``label`` nodes (by the
        key index, one seek per key); keys not stored are absent."""
        keys = list(keys)
        found: dict[str, dict] = {}
        for i in range(0, len(keys), self.NODES_CHUNK):
            for key, props in self.read(f"UNWIND $keys AS k MATCH (n:{label} {{key: k}}) "
                                        "RETURN n.key, properties(n)",
                                        {"keys": keys[i:i + self.NODES_CHUNK]}):
                found[key] = dict(props)
        return found

    def related(self, label: str, rel_type: str, outgoing: bool, target: str | None,
                edge_props, keys) -> list[tuple]:
        """Rows ``(key, neighbour key, *edge property values)``: the neighbours of the
        ``label`` nodes ``keys`` through ``rel_type`` edges (leaving them if ``outgoing``,
        else arriving), of label ``target`` (None: any)."""
        pattern = f"-[e:{rel_type}]->" if outgoing else f"<-[e:{rel_type}]-"
        far = f"(b:{target})" if target else "(b)"
        edge = "".join(f", e.{p}" for p in edge_props)
        return self.read(f"MATCH (a:{label}) WHERE a.key IN $keys "
                         f"MATCH (a){pattern}{far} RETURN a.key, b.key{edge}",
                         {"keys": sorted(set(keys))})

    def keyset_page(self, label: str, node_filter: NodeFilter, first: int,
                    after: str | None) -> list[KeyedNode]:
        """Up to ``first + 1`` nodes of ``label`` passing ``node_filter`` whose key sorts
        after ``after`` (None: from the start), in key order (the extra one says a page
        follows).  The ``key > $after`` predicate is the dialect's: indexed where the engine
        answers it correctly."""
        conditions, params = list(node_filter.conditions), dict(node_filter.params)
        if after is not None:
            conditions.append(self.dialect.key_after("n", "after"))
            params["after"] = after
        return [KeyedNode(*r) for r in self.read(
            f"MATCH (n:{label}) {_where(conditions)}RETURN n.key, properties(n) "
            f"ORDER BY n.key LIMIT {int(first) + 1}", params)]

    def count_where(self, label: str, node_filter: NodeFilter) -> int:
        """Nodes of ``label`` passing ``node_filter``."""
        return int(self.read(f"MATCH (n:{label}) {_where(node_filter.conditions)}"
                             "RETURN count(n)", node_filter.params)[0][0])

    def count(self) -> tuple[int, int]:
        """(nodes, edges) in the graph (its bookkeeping node left out: :meth:`graph_meta`)."""
        n = self.read("MATCH (n) RETURN count(n)")[0][0] - self.read(cypher.META_COUNT)[0][0]
        e = self.read("MATCH ()-[e]->() RETURN count(e)")[0][0]
        return int(n), int(e)

"""The embedded engine: FalkorDB through its Python client.

FalkorDB runs each query atomically (a query that fails part-way is rolled
back by its undo log) but has no multi-statement transactions.  So an
ingest unit is written as *one* query: the shared per-kind statements of
:mod:`lineage.store.cypher` are chained with ``WITH count(*)`` into a single
statement.  It either runs whole or not at all, and the append-only file
records it as one command, so a crash at any moment leaves the graph as
before the unit or with all of it.

(Redis ``MULTI``/``EXEC`` looks like the obvious tool but is not: FalkorDB
4.16 on Redis 8.2 aborts with ``'!server.in_exec'`` when it replays a
``MULTI`` block of graph queries from the append-only file, so a repository
written that way cannot be reopened.  ``tests/test_embedded_server.py``
kills writer and server mid-ingest to keep us honest.)
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from lineage.core.model import Kind
from lineage.store import cypher
from lineage.store.base import (MAX_RESULT_BYTES, MAX_RESULT_ROWS, ReadOnlyViolation, ResultTooLarge, Store,
                                StoreError, too_large)
from lineage.store.dialect import FALKORDB
from lineage.store.guard import check_user_query
from lineage.store.falkordb_server import (GRAPH, MEMORY_ENV, PROCESS_MEMORY_ENV, FalkorServer, format_bytes,
                                           query_memory_cap)

if TYPE_CHECKING:  # the client is imported where it is used: importing this module is cheap
    import redis

_STAT_RE = re.compile(r"^(Nodes created|Relationships created): (\d+)")


_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False,
                        separators=(",", ":")).encode


def _literal(value) -> str:
    """A parameter value as a Cypher literal (what the client's own helper does, 3x faster)."""
    t = type(value)
    if t is str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if t is bool:
        return "true" if value else "false"
    if t is int or t is float:
        return str(value)
    if t is dict:
        return "{" + ",".join(f"`{k}`:{_literal(v)}" for k, v in value.items()) + "}"
    if t is list or t is tuple:
        if value and type(value[0]) is dict:  # rows of maps: JSON's keys are not Cypher's
            return "[" + ",".join(map(_literal, value)) + "]"
        try:  # JSON spells numbers, plain strings, lists, true/false/null as Cypher does
            text = _JSON(value)
        except (TypeError, ValueError):
            text = "\\"
        if "\\" not in text and "{" not in text:  # no escapes, no maps (keys differ)
            return text
        return "[" + ",".join(map(_literal, value)) + "]"
    if value is None:
        return "null"
    for base in (bool, int, float, str, dict, list, tuple):  # subclasses (an IntEnum, a Via)
        if isinstance(value, base):
            return _literal(base(value))
    raise TypeError(f"cannot pass {t.__name__} as a query parameter")


class _Entity(Exception):
    """A result value :func:`_rows` leaves to the client's parser."""


def _value(cell):
    kind, value = cell
    if kind == 2 or kind == 3:  # string (decoded by the connection), integer
        return value
    if kind == 1:
        return None
    if kind == 5:
        return float(value)
    if kind == 4:
        return value == "true"
    if kind == 6:
        return [_value(c) for c in value]
    if kind == 10:
        return {value[i]: _value(value[i + 1]) for i in range(0, len(value), 2)}
    raise _Entity


def _rows(rows: list) -> list[tuple]:
    """Rows of a compact result set, scalars, lists and maps only.

    The client's general parser costs about 6 µs a value; the library's
    reads return keys, types and counts by the ten thousand (a flag's walk
    parses ~40k rows in one step), so strings and integers are taken as the
    connection decoded them, and only other kinds go through :func:`_value`.
    """
    out = []
    append = out.append
    for row in rows:
        append(tuple(c[1] if c[0] == 2 or c[0] == 3 else _value(c) for c in row))
    return out


def _header(params: dict | None) -> str:
    if not params:
        return ""
    return "CYPHER " + " ".join(f"{k}={_literal(v)}" for k, v in params.items()) + " "


class _ReplyTooLarge(Exception):
    """Raised from inside the client's reader when a reply passes its byte budget."""


class _BudgetSocket:
    """A socket that refuses to read more than ``budget`` bytes (then the connection is
    dropped, and the rest of the reply with it): a user's result never costs this
    process more than its budget, whatever the engine sends."""

    def __init__(self, sock, budget: int) -> None:
        self._sock, self._left = sock, budget

    def _spent(self, n: int) -> None:
        self._left -= n
        if self._left < 0:
            raise _ReplyTooLarge

    def recv(self, *args):
        data = self._sock.recv(*args)
        self._spent(len(data))
        return data

    def recv_into(self, *args):
        n = self._sock.recv_into(*args)
        self._spent(n)
        return n

    def __getattr__(self, name):
        return getattr(self._sock, name)


@cache
def _budget_connection():
    """The connection class whose sockets are :class:`_BudgetSocket` (made on first use, as
    it derives from the client's)."""
    import redis

    class _BudgetConnection(redis.UnixDomainSocketConnection):
        def __init__(self, *args, reply_budget: int = MAX_RESULT_BYTES, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.reply_budget = reply_budget

        def _connect(self):
            return _BudgetSocket(super()._connect(), self.reply_budget)

    return _BudgetConnection


class FalkorStore(Store):
    engine = "falkordb"
    dialect = FALKORDB

    def __init__(self, directory: Path, keep: bool = False) -> None:
        from falkordb import FalkorDB
        self.server = FalkorServer(directory)
        self.server.acquire(keep=keep)
        try:
            # a reply never comes later than the longest read allows: fail, never hang
            # (once, under heavy load, the engine dropped a query and its client
            # waited forever)
            self.db = FalkorDB(unix_socket_path=self.server.socket_path,
                               socket_timeout=self.READ_TIMEOUT + 60)
            self.graph = self.db.select_graph(GRAPH)
            self.redis: redis.Redis = self.db.connection
        except Exception:
            self.server.release()
            raise

    def close(self) -> None:
        if getattr(self, "server", None) is not None:
            try:
                self.redis.close()
            finally:
                self.server.release()
                self.server = None

    # --- reads -------------------------------------------------------------------

    def _ro_query(self, query: str, params: dict | None, *flags) -> list:
        import redis
        try:
            reply = self.redis.execute_command(
                "GRAPH.RO_QUERY", GRAPH, _header(params) + query, *flags,
                "timeout", int(self.READ_TIMEOUT * 1000))
            if reply and isinstance(reply[-1], redis.ResponseError):
                raise reply[-1]
        except redis.ResponseError as exc:
            if "Invalid graph operation on empty key" in str(exc):
                return []  # nothing stored yet
            raise StoreError(f"falkordb: {exc}") from exc
        except redis.RedisError as exc:
            raise StoreError(f"embedded engine unreachable: {exc}") from exc
        return reply

    def read(self, query: str, params: dict | None = None) -> list[tuple]:
        """Rows of a library query, parsed by :func:`_rows` (scalars, lists, maps)."""
        from falkordb.query_result import QueryResult
        reply = self._ro_query(query, params, "--compact")
        if len(reply) < 3:
            return []
        try:
            return _rows(reply[1])
        except _Entity:  # a node, edge or path: the client knows the schema to name them
            return [tuple(r) for r in QueryResult(self.graph, reply).result_set]

    def read_plain(self, query: str, params: dict | None = None) -> list[list]:
        """Rows (lists) of a query returning strings, integers and nulls: the engine's
        verbose reply, which carries those as themselves (floats, booleans and lists come
        as text), where the compact one wraps every value in a ``[type, value]`` pair.
        Half the transfer and nothing to parse here: 562,888 rows of three strings take
        1.5 s instead of 2.7 s."""
        reply = self._ro_query(query, params)
        return reply[1] if len(reply) >= 3 else []

    def read_only(self, query: str, params: dict | None = None, timeout: float = 30.0,
                  max_rows: int = MAX_RESULT_ROWS, max_bytes: int = MAX_RESULT_BYTES):
        import redis
        from falkordb.query_result import QueryResult
        check_user_query(query, params)
        refused = ReadOnlyViolation("refused: the query writes to the graph; "
                                    "`lineage cypher` runs read-only queries")
        # a connection of its own, whose reads stop at the byte budget
        pool = redis.ConnectionPool(connection_class=_budget_connection(),
                                    path=self.server.socket_path, reply_budget=max_bytes,
                                    socket_timeout=timeout + 60, decode_responses=True)
        client = redis.Redis(connection_pool=pool)
        try:
            reply = client.execute_command(
                "GRAPH.RO_QUERY", GRAPH, _header(params) + query, "--compact",
                "timeout", max(1, int(timeout * 1000)))
            if reply and isinstance(reply[-1], redis.ResponseError):
                raise reply[-1]
            if len(reply) >= 3 and len(reply[1]) > max_rows:
                raise too_large("rows", max_rows)
            result = QueryResult(self.graph, reply) if len(reply) >= 3 else None
        except _ReplyTooLarge:
            raise too_large("bytes", max_bytes) from None
        except redis.ResponseError as exc:
            msg = str(exc)
            if "timed out" in msg.lower():
                raise StoreError(f"query stopped after {timeout:g} s, its time limit") from exc
            if "mem consumption exceeded" in msg.lower():
                raise StoreError("query stopped: it needed more memory than the engine allows "
                                 f"one query ({format_bytes(self._memory_cap())}, set by "
                                 f"{MEMORY_ENV} when the engine starts); narrow it") from exc
            if "read-only" in msg.lower() or "graph.ro_query is to be executed only on read-only" in msg.lower():
                raise refused from exc
            if "Invalid graph operation on empty key" in msg:
                return [], []
            raise StoreError(f"falkordb: {msg}") from exc
        except redis.RedisError as exc:
            if not self.server.answering() and self.server.ran_out_of_memory():
                raise StoreError(
                    "the embedded engine stopped: the query took all the memory "
                    f"{PROCESS_MEMORY_ENV} allows the engine (log: {self.server.log_file}); "
                    "nothing stored is lost, and the next command starts it again") from exc
            raise StoreError(f"embedded engine unreachable: {exc}") from exc
        finally:
            client.close()
            pool.disconnect()
        if result is None:
            return [], []
        header = [h[1] if isinstance(h, (list, tuple)) else h for h in result.header]
        return [str(h) for h in header], [tuple(r) for r in result.result_set]

    def _memory_cap(self) -> int:
        """The running engine's per-query memory cap (bytes; 0: none)."""
        import redis
        try:
            return int(self.redis.execute_command("GRAPH.CONFIG", "GET", "QUERY_MEM_CAPACITY")[1])
        except (redis.RedisError, IndexError, TypeError, ValueError):
            return query_memory_cap()

    # --- schema ------------------------------------------------------------------

    def _index_exists_ok(self, query: str) -> None:
        import redis
        try:
            self.graph.query(query)
        except redis.ResponseError as exc:
            if "already indexed" not in str(exc) and "already exists" not in str(exc):
                raise StoreError(f"falkordb: {exc}") from exc

    def ensure_schema(self, format_version: int = cypher.FORMAT_VERSION) -> None:
        import redis
        created = False
        existing_indexes = self._indexed()
        for kind in Kind:
            if (kind.value, "key") in existing_indexes:
                continue
            created = True
            self._index_exists_ok(f"CREATE INDEX FOR (n:{kind.value}) ON (n.key)")
        for kind, prop in cypher.secondary_indexes(format_version):
            if (kind.value, prop) in existing_indexes:
                continue
            created = True
            self._index_exists_ok(f"CREATE INDEX FOR (n:{kind.value}) ON (n.{prop})")
        existing = {(c["label"], tuple(c["properties"])) for c in self._constraints()}
        for kind in Kind:
            if (kind.value, ("key",)) not in existing:
                created = True
                try:
                    self.redis.execute_command("GRAPH.CONSTRAINT", "CREATE", GRAPH, "UNIQUE", "NODE",
                                               kind.value, "PROPERTIES", 1, "key")
                except redis.ResponseError as exc:
                    if "already exists" not in str(exc):
                        raise StoreError(f"falkordb: {exc}") from exc
        self.stamp_new_graph(format_version)
        if created:
            # Compact the append-only file now, so a restart loads the schema
            # from a snapshot instead of replaying the statements.
            self.server.compact()

    def _indexed(self) -> set[tuple[str, str]]:
        import redis
        try:
            rows = self.graph.ro_query("CALL db.indexes() YIELD label, properties "
                                       "RETURN label, properties").result_set
        except redis.ResponseError:
            return set()
        return {(label, prop) for label, props in rows for prop in props}

    def _constraints(self) -> list[dict]:
        import redis
        try:
            return self.graph.list_constraints()
        except redis.ResponseError:
            return []

    # --- writes ------------------------------------------------------------------

    def _encode(self, statements) -> str:
        """The unit as one query: statements chained with ``WITH count(*)``."""
        clauses, params = [], {}
        for i, st in enumerate(statements):
            body = st.query
            for name, value in st.params.items():
                body = body.replace(f"${name}", f"${name}{i}")
                params[f"{name}{i}"] = value
            clauses.append(f"{body} WITH count(*) AS done{i}")
        if not clauses:
            return ""
        return _header(params) + " ".join(clauses) + f" RETURN done{len(clauses) - 1}"

    def _execute_unit(self, encoded: str):
        import redis
        if not encoded:
            return 0, 0
        try:
            reply = self.redis.execute_command("GRAPH.QUERY", GRAPH, encoded, "--compact")
        except redis.RedisError as exc:
            raise StoreError(f"falkordb: ingest unit not written: {exc}") from exc
        nodes = edges = 0
        for line in reply[-1]:
            line = line.decode() if isinstance(line, bytes) else line
            m = _STAT_RE.match(line)
            if m:
                if m.group(1) == "Nodes created":
                    nodes += int(m.group(2))
                else:
                    edges += int(m.group(2))
        return nodes, edges

    def clear(self) -> None:
        import redis
        try:
            self.graph.query("MATCH (n) DETACH DELETE n")
        except redis.ResponseError as exc:
            if "empty key" not in str(exc):
                raise StoreError(f"falkordb: {exc}") from exc

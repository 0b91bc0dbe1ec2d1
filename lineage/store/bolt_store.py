"""The Bolt engine: Neo4j 5 (or any server speaking Bolt, e.g. ArcadeDB)
through the official ``neo4j`` driver.

The driver is imported by the methods that use it, so importing this module (as
:mod:`lineage.store.repo` does) costs nothing until a Bolt store is opened.

An ingest unit is one explicit transaction: committed whole or rolled back.
Transient errors (deadlocks, leader switches) are retried by the driver's
managed transactions.  Credentials come from the URI's settings object and
are never printed: ``BoltSettings.__repr__`` hides the password.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from lineage.core.model import Kind
from lineage.store import cypher
from lineage.store.base import (MAX_RESULT_BYTES, MAX_RESULT_ROWS, ReadOnlyViolation, ResultTooLarge, Store,
                                StoreError, too_large)
from lineage.store.guard import check_user_query


def _approx_size(value) -> int:
    """Bytes a result value takes, roughly (its text; 8 per number), without recursion."""
    import neo4j
    size, stack = 0, [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (str, bytes)):
            size += len(v) + 2
        elif isinstance(v, dict):
            size += 2
            for k, x in v.items():
                size += len(str(k)) + 2
                stack.append(x)
        elif isinstance(v, (list, tuple)):
            size += 2
            stack.extend(v)
        elif isinstance(v, neo4j.graph.Path):
            stack.extend(v.nodes)
            stack.extend(v.relationships)
        elif isinstance(v, (neo4j.graph.Node, neo4j.graph.Relationship)):
            size += 16 + sum(len(x) for x in getattr(v, "labels", ())) + len(getattr(v, "type", ""))
            stack.append(dict(v.items()))
        else:
            size += 8
    return size


@dataclass
class BoltSettings:
    """Where and how to connect.  ``password`` never appears in repr or logs."""

    uri: str
    user: str = "neo4j"
    password: str = field(default="", repr=False)
    database: str | None = None

    @classmethod
    def parse(cls, text: str) -> "BoltSettings":
        """``bolt://[user@]host:port[/database]`` (also neo4j://, bolt+s:// ...).

        The password comes from ``LINEAGE_BOLT_PASSWORD`` (or ``NEO4J_PASSWORD``),
        never from the URI; a user from the URI wins over ``LINEAGE_BOLT_USER``.
        """
        parts = urlsplit(text)
        try:
            parts.port
        except ValueError as exc:
            raise StoreError(f"bad Bolt URI {text!r}: {exc}") from None
        if parts.scheme not in ("bolt", "neo4j", "bolt+s", "bolt+ssc", "neo4j+s", "neo4j+ssc"):
            raise StoreError(f"not a Bolt URI: {text!r} (expected bolt://host:port[/database])")
        if not parts.hostname:
            raise StoreError(f"Bolt URI has no host: {text!r}")
        if parts.password:
            raise StoreError("do not put the password in the URI; set LINEAGE_BOLT_PASSWORD")
        user = unquote(parts.username) if parts.username else (
            os.environ.get("LINEAGE_BOLT_USER") or os.environ.get("NEO4J_USER") or "neo4j")
        password = os.environ.get("LINEAGE_BOLT_PASSWORD") or os.environ.get("NEO4J_PASSWORD") or ""
        database = parts.path.strip("/") or parse_qs(parts.query).get("database", [None])[0]
        port = f":{parts.port}" if parts.port else ""
        return cls(f"{parts.scheme}://{parts.hostname}{port}", user, password, database or None)

    def display(self) -> str:
        return f"{self.uri}/{self.database or ''} as {self.user}"


class BoltStore(Store):
    engine = "bolt"

    def __init__(self, settings: BoltSettings) -> None:
        import neo4j
        from neo4j.exceptions import Neo4jError, ServiceUnavailable
        self.settings = settings
        try:
            self.driver = neo4j.GraphDatabase.driver(
                settings.uri, auth=(settings.user, settings.password),
                max_transaction_retry_time=30.0, connection_timeout=15.0)
            self.driver.verify_connectivity()
            self.server_agent = self.driver.get_server_info().agent
        except (ServiceUnavailable, OSError, ValueError) as exc:
            raise StoreError(f"cannot reach Bolt server {settings.display()}: {exc}") from None
        except Neo4jError as exc:
            raise StoreError(f"Bolt server {settings.display()} refused: {exc.message}") from None

    def close(self) -> None:
        self.driver.close()

    def _session(self, **kw):
        return self.driver.session(database=self.settings.database, **kw)

    # --- reads -------------------------------------------------------------------

    def read(self, query: str, params: dict | None = None) -> list[tuple]:
        import neo4j
        from neo4j.exceptions import DriverError, Neo4jError
        @neo4j.unit_of_work(timeout=self.READ_TIMEOUT)
        def work(tx):
            return [tuple(r.values()) for r in tx.run(query, params or {})]
        try:
            with self._session(default_access_mode=neo4j.READ_ACCESS) as s:
                return s.execute_read(work)
        except Neo4jError as exc:
            raise StoreError(f"bolt: {exc.message}") from exc
        except DriverError as exc:
            raise StoreError(f"Bolt server {self.settings.display()}: {exc}") from exc

    def read_only(self, query: str, params: dict | None = None, timeout: float = 30.0,
                  max_rows: int = MAX_RESULT_ROWS, max_bytes: int = MAX_RESULT_BYTES):
        import neo4j
        from neo4j.exceptions import ClientError, DriverError, Neo4jError
        # checked here, before anything is sent: ArcadeDB applies schema commands outside
        # the transaction, so "refused" after the fact would be too late
        check_user_query(query, params)
        refused = ReadOnlyViolation("refused: the query writes to the graph; "
                                    "`lineage cypher` runs read-only queries")
        try:
            # read access: Neo4j refuses writes in such a session; the transaction's
            # timeout bounds its time (the server's dbms.memory.transaction.* its memory)
            with self._session(default_access_mode=neo4j.READ_ACCESS, fetch_size=1000) as s:
                tx = s.begin_transaction(timeout=timeout)
                try:
                    result = tx.run(query, params or {})
                    keys = list(result.keys())
                    rows, size = [], 0
                    for record in result:  # pulled 1000 at a time: stop at the limits
                        row = tuple(record.values())
                        rows.append(row)
                        if len(rows) > max_rows:
                            raise too_large("rows", max_rows)
                        size += _approx_size(row)
                        if size > max_bytes:
                            raise too_large("bytes", max_bytes)
                    counters = result.consume().counters
                    if counters.contains_updates or counters.contains_system_updates:
                        raise refused
                finally:
                    tx.rollback()  # a read never commits anything
                return keys, rows
        except (ReadOnlyViolation, ResultTooLarge):
            raise
        except ClientError as exc:
            message = exc.message or ""
            if "write" in message.lower() and "read" in message.lower():
                raise refused from exc
            if "TimedOut" in (exc.code or "") or "timed out" in message.lower() \
                    or "timeout" in message.lower():
                raise StoreError(f"query stopped after {timeout:g} s, its time limit") from exc
            raise StoreError(f"bolt: {message}") from exc
        except Neo4jError as exc:
            raise StoreError(f"bolt: {exc.message}") from exc
        except DriverError as exc:
            raise StoreError(f"Bolt server {self.settings.display()}: {exc}") from exc

    # --- schema ------------------------------------------------------------------

    def schema_statements(self, format_version: int = cypher.FORMAT_VERSION) -> list[str]:
        out = [f"CREATE CONSTRAINT {k.value.lower()}_key IF NOT EXISTS "
               f"FOR (n:{k.value}) REQUIRE n.key IS UNIQUE" for k in Kind]
        out += [f"CREATE INDEX {k.value.lower()}_{p} IF NOT EXISTS FOR (n:{k.value}) ON (n.{p})"
                for k, p in cypher.secondary_indexes(format_version)]
        return out

    def ensure_schema(self, format_version: int = cypher.FORMAT_VERSION) -> None:
        from neo4j.exceptions import ClientError
        with self._session() as s:
            for statement in self.schema_statements(format_version):
                try:
                    s.run(statement).consume()
                except ClientError as exc:
                    if "already exists" not in (exc.message or "").lower() \
                            and "equivalent" not in (exc.message or "").lower():
                        raise StoreError(f"bolt schema: {exc.message}") from exc
        self.stamp_new_graph(format_version)

    # --- writes ------------------------------------------------------------------

    def _execute_unit(self, statements):
        from neo4j.exceptions import DriverError, Neo4jError
        def work(tx):
            nodes = edges = 0
            for st in statements:
                counters = tx.run(st.query, st.params).consume().counters
                nodes += counters.nodes_created
                edges += counters.relationships_created
            return nodes, edges
        try:
            with self._session() as s:
                result = s.execute_write(work)
        except Neo4jError as exc:
            raise StoreError(f"bolt: ingest unit rolled back: {exc.message}") from exc
        except DriverError as exc:
            raise StoreError(f"bolt: ingest unit not written ({self.settings.display()}): "
                             f"{exc}") from exc
        return result

    def clear(self) -> None:
        with self._session() as s:
            while True:
                n = s.run("MATCH (n) WITH n LIMIT 10000 DETACH DELETE n RETURN count(*)").single()[0]
                if not n:
                    break

"""Running one GraphQL request: check, parse, validate, measure, execute, format.

Every step runs in a worker thread, off the server's event loop, and inside
the request's deadline (``settings.timeout`` from the moment the request is
taken): the event loop only hands the request over and waits, so a costly
request never holds up another one, nor ``/health``.  Parsing and validation
are bounded by the size limits (:mod:`lineage.api.limits`: characters,
tokens, aliases, fields once fragments are expanded) and finish in a few
tens of milliseconds however the document is built; execution is bounded by
the deadline (the engine stops its reads then too).

A query past its deadline is answered ``TIMEOUT``.  A mutation is not: it
is awaited to its end, so the client hears what happened (the mutation
resolvers refuse to start a write past ``ctx.deadline`` and audit that); one
still waiting for a worker at its deadline is answered ``TIMEOUT`` and, when
a worker takes it, refused by its resolvers, with an audit line, and writes
nothing.

Every failure becomes a GraphQL error in the answer, never an HTTP 500: a
malformed query, an unknown field, a query too large, deep or expensive, bad
arguments, a request past its deadline.  Errors the client can act on keep
their message; anything else (a bug) is logged and reported as an internal
error without details.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import Executor

from graphql import (ExecutionResult, GraphQLError, GraphQLSchema, OperationDefinitionNode,
                     OperationType, parse, validate)
from graphql import execute as graphql_execute

from lineage.api import limits
from lineage.api.errors import client_message, is_user_error

log = logging.getLogger("lineage.api")

#: Longest query text accepted by default (``ApiSettings.max_query_chars``).
MAX_QUERY_CHARS = 100_000

#: Seconds the event loop waits past a query's deadline for its worker to answer
#: ``TIMEOUT`` itself, before answering it without the worker.
GRACE = 0.25

_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def _error(message: str, code: str) -> dict:
    return {"message": message, "extensions": {"code": code}}


def format_error(error: GraphQLError) -> dict:
    original = error.original_error
    if original is not None and not is_user_error(original):
        log.error("internal error in %s", error.path, exc_info=original)
        out = {"message": "internal error (logged by the server)",
               "extensions": {"code": "INTERNAL"}}
    else:
        out = error.formatted
        if original is not None:
            out["message"] = client_message(original)
            code = getattr(original, "code", None) or "BAD_INPUT"
            out.setdefault("extensions", {})["code"] = code
    if error.path:
        out["path"] = list(error.path)
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    return out


# --- parsed documents, kept by size --------------------------------------------------------

class DocumentCache:
    """Parsed and validated documents by query text, least recently used first out, holding
    at most ``max_bytes`` (an estimate of each document's size in memory)."""

    #: Estimated bytes of one AST node once its token chain is dropped (measured: 250-700).
    NODE_BYTES = 600

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key, value, nbytes: int) -> None:
        if nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._entries[key] = (value, nbytes)
            self.bytes += nbytes
            while self.bytes > self.max_bytes:
                _, (_, n) = self._entries.popitem(last=False)
                self.bytes -= n

    def __len__(self) -> int:
        return len(self._entries)


def _compact(document) -> int:
    """Drop the token chain the parser links every node to (it holds every token of the
    text, comments too: most of a document's memory); positions for error locations stay.
    Returns the number of nodes."""
    n = 0
    stack = [document]
    while stack:
        node = stack.pop()
        n += 1
        loc = node.loc
        if loc is not None:
            loc.start_token = loc.end_token = None
        for key in node.keys:
            if key == "loc":
                continue
            value = getattr(node, key)
            if isinstance(value, (list, tuple)):
                stack.extend(v for v in value if hasattr(v, "keys"))
            elif hasattr(value, "keys") and not isinstance(value, dict):
                stack.append(value)
    return n


def _cache(ctx) -> DocumentCache:
    cache = ctx.cache.get("documents")
    if cache is None:
        cache = ctx.cache.setdefault("documents", DocumentCache(ctx.settings.cache_bytes))
    return cache


class Refused(Exception):
    """A request refused before execution: its error bodies."""

    def __init__(self, errors: list[dict]) -> None:
        super().__init__(errors[0]["message"])
        self.errors = errors


def _refused(exc: GraphQLError, code: str | None = None) -> Refused:
    body = format_error(exc)
    body["extensions"] = {**(exc.extensions or {}), **({"code": code} if code else {})}
    return Refused([body])


def _document(schema: GraphQLSchema, ctx, query: str):
    """(document, fragments) of a valid query: parsed, measured and validated once, then
    kept; raises Refused."""
    settings = ctx.settings
    cache = _cache(ctx)
    key = (schema, query)
    entry = cache.get(key)
    if entry is not None:
        return entry
    try:
        document = parse(query, max_tokens=settings.max_tokens)
    except GraphQLError as exc:
        if "tokens" in exc.message and "Parsing aborted" in exc.message:
            raise Refused([_error(f"query too large: more than {settings.max_tokens} "
                                  "tokens (names, punctuation, values, comments), the "
                                  "limit", "QUERY_TOO_LARGE")]) from None
        raise _refused(exc, "SYNTAX_ERROR") from None
    except RecursionError:
        raise Refused([_error("query nested too deeply to parse", "QUERY_TOO_DEEP")]) from None
    try:
        fragments = limits.check_document(document, settings)
        limits.check_shape(schema, document, fragments, settings)
    except GraphQLError as exc:
        raise _refused(exc) from None
    problems = validate(schema, document)
    if problems:
        raise Refused([{**format_error(e), "extensions": {"code": "INVALID_QUERY"}}
                       for e in problems])
    nodes = _compact(document)
    entry = (document, fragments)
    cache.put(key, entry, DocumentCache.NODE_BYTES * nodes + 4 * len(query) + 200)
    return entry


def _operation(document, name: str | None) -> OperationDefinitionNode | None:
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return ops[0] if len(ops) == 1 else None
    return next((o for o in ops if o.name and o.name.value == name), None)


def check_request(query, variables, operation_name, settings) -> None:
    """Refuse a request whose parts have the wrong type, are too large or hold a lone
    surrogate (never valid Unicode: it cannot be stored or answered)."""
    if not isinstance(query, str) or not query.strip():
        raise Refused([_error("query: missing; send {\"query\": \"...\"}", "BAD_REQUEST")])
    if len(query) > settings.max_query_chars:
        raise Refused([_error(f"query: {len(query)} characters, the limit is "
                              f"{settings.max_query_chars}", "QUERY_TOO_LARGE")])
    if limits.has_surrogate(query):
        i = limits.surrogate_at(query)
        line = query.count("\n", 0, i) + 1
        column = i - query.rfind("\n", 0, i)
        raise Refused([_error(f"query: a lone surrogate (\\u{ord(query[i]):04x}) at line "
                              f"{line}, column {column}; send valid Unicode", "BAD_REQUEST")])
    if operation_name is not None:
        if not isinstance(operation_name, str):
            raise Refused([_error("operationName: must be a string", "BAD_REQUEST")])
        if len(operation_name) > settings.max_operation_name or \
                not _NAME.fullmatch(operation_name):
            shown = operation_name[:40] + ("..." if len(operation_name) > 40 else "")
            raise Refused([_error(f"operationName: {shown.encode('utf-8', 'replace').decode()!r}"
                                  " is not a GraphQL name (letters, digits, _; at most "
                                  f"{settings.max_operation_name} characters)",
                                  "BAD_REQUEST")])
    try:
        limits.check_variables(variables, settings)
    except GraphQLError as exc:
        raise Refused([_error(exc.message, exc.extensions["code"])]) from None


# --- running it ------------------------------------------------------------------------------

class _Job:
    """What the event loop and the worker of one request share."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = False     # a worker took it
        self.kind = None         # "query" or "mutation" once parsed; "refused" before that
        self.abandoned = False   # the event loop answered TIMEOUT: a query does not run
        self.cost = None


_local = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


def _settle(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what a request left behind on the worker's loop (batches of an abandoned
    query), so nothing of it runs with the next request."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


async def _execute(schema, document, ctx, variables, operation_name):
    result = graphql_execute(schema, document, context_value=ctx, variable_values=variables,
                             operation_name=operation_name)
    if inspect.isawaitable(result):
        result = await result
    return result


def _timeout_body(ctx, cost) -> dict:
    timeout = ctx.settings.timeout
    return {"data": None,
            "errors": [_error(f"request took longer than {timeout:g} s and was stopped; "
                              "narrow it (types, depth, first) or ask the operator to raise "
                              "the timeout", "TIMEOUT")],
            "extensions": {"storeReads": ctx.store.reads, "cost": cost}}


def _pipeline(schema, ctx, query, variables, operation_name, allow_mutations, deadline,
              job: _Job) -> dict:
    """One request, start to end, in a worker thread."""
    job.started = True
    try:
        return _steps(schema, ctx, query, variables, operation_name, allow_mutations, deadline,
                      job)
    except Exception:  # a bug: logged, no details to the client
        log.exception("internal error in a request")
        return {"data": None, "errors": [_error("internal error (logged by the server)",
                                                "INTERNAL")]}


def _steps(schema, ctx, query, variables, operation_name, allow_mutations, deadline,
           job: _Job) -> dict:
    try:
        check_request(query, variables, operation_name, ctx.settings)
        document, fragments = _document(schema, ctx, query)
        op = _operation(document, operation_name)
        if op is None:
            which = f"no operation named {operation_name!r}" if operation_name else \
                "several operations: say which with operationName"
            raise Refused([_error(f"operationName: {which}", "BAD_REQUEST")])
        if op.operation == OperationType.MUTATION and not allow_mutations:
            raise Refused([_error("mutations must be sent with POST", "BAD_REQUEST")])
        if op.operation == OperationType.SUBSCRIPTION:
            raise Refused([_error("subscriptions are not supported", "BAD_REQUEST")])
        try:
            job.cost = limits.check(schema, op, fragments, variables, ctx.settings)
        except GraphQLError as exc:
            raise _refused(exc) from None
    except Refused as exc:
        job.kind = "refused"
        return {"errors": exc.errors}
    mutation = op.operation == OperationType.MUTATION
    with job.lock:
        job.kind = "mutation" if mutation else "query"
        if not mutation and (job.abandoned or time.monotonic() >= deadline):
            return _timeout_body(ctx, job.cost)
    loop = _thread_loop()
    work = _execute(schema, document, ctx, variables, operation_name)
    try:
        if mutation:
            # To its end, even past the deadline (or abandoned while queued): its resolvers
            # refuse to start a write past ``ctx.deadline`` and audit the refusal, so a
            # mutation completes and is audited, or writes nothing and is audited.
            result = loop.run_until_complete(work)
        else:
            result = loop.run_until_complete(
                asyncio.wait_for(work, max(0.0, deadline - time.monotonic())))
    except asyncio.TimeoutError:
        return _timeout_body(ctx, job.cost)
    finally:
        _settle(loop)
    assert isinstance(result, ExecutionResult)
    body: dict = {"data": result.data}
    if result.errors:
        body["errors"] = [format_error(e) for e in result.errors]
    body["extensions"] = {"storeReads": ctx.store.reads, "cost": job.cost}
    return body


def _retrieve(fut) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("request failed after its deadline", exc_info=fut.exception())


async def run(schema: GraphQLSchema, ctx, query, variables=None, operation_name=None,
              allow_mutations: bool = True, workers: Executor | None = None) -> dict:
    """The response body for one request (``data`` and/or ``errors``, ``extensions``).

    The request runs in ``workers`` (the event loop's default executor when None) and is
    answered by its deadline: ``ctx.settings.timeout`` seconds from now, or
    ``ctx.deadline`` if the caller set an earlier one; it is set as ``ctx.deadline`` (a
    ``time.monotonic()`` value).  A query is answered ``TIMEOUT`` at its deadline; a
    mutation is awaited to its end (its resolvers refuse to write past the deadline)."""
    deadline = time.monotonic() + ctx.settings.timeout
    if getattr(ctx, "deadline", None) is not None:
        deadline = min(deadline, ctx.deadline)
    ctx.deadline = deadline
    job = _Job()
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(workers, _pipeline, schema, ctx, query, variables,
                               operation_name, allow_mutations, deadline, job)
    try:
        return await asyncio.wait_for(asyncio.shield(fut),
                                      max(0.0, deadline - time.monotonic()) + GRACE)
    except asyncio.TimeoutError:
        pass
    # A worker that took the request is told query from mutation as soon as it is parsed
    # (parsing is bounded by the size limits): wait for that, a second at most.
    end = loop.time() + 1.0
    while job.started and job.kind is None and loop.time() < end:
        await asyncio.sleep(0.01)
    with job.lock:
        if job.kind != "mutation":
            job.abandoned = True
    if job.kind == "mutation":
        return await fut
    fut.add_done_callback(_retrieve)
    return _timeout_body(ctx, job.cost)

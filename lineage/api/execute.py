"""Running one GraphQL request: parse, validate, limit, execute with a deadline, format.

Every failure becomes a GraphQL error in the answer, never an HTTP 500: a
malformed query, an unknown field, a query too deep or too expensive, bad
arguments, a request past its deadline.  Errors the client can act on keep
their message; anything else (a bug) is logged and reported as an internal
error without details.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging

from graphql import (ExecutionResult, GraphQLError, GraphQLSchema, OperationDefinitionNode,
                     OperationType, parse, validate)
from graphql import execute as graphql_execute
from graphql.language import FragmentDefinitionNode

from . import limits
from .errors import is_user_error

log = logging.getLogger("lineage.api")

#: Longest query text accepted (a saved operation is a few hundred characters).
MAX_QUERY_CHARS = 100_000


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
            out["message"] = str(original)
            code = "FORBIDDEN" if type(original).__name__ == "AccessDenied" else "BAD_INPUT"
            out.setdefault("extensions", {})["code"] = code
    if error.path:
        out["path"] = list(error.path)
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    return out


@functools.lru_cache(maxsize=512)
def _checked(schema: GraphQLSchema, query: str):
    """(document, None) for a valid query, (None, error bodies) otherwise: clients send the
    same few query texts again and again, so each is parsed and validated once."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, [{**format_error(exc), "extensions": {"code": "SYNTAX_ERROR"}}]
    problems = validate(schema, document)
    if problems:
        return None, [{**format_error(e), "extensions": {"code": "INVALID_QUERY"}}
                      for e in problems]
    return document, None


def _operation(document, name: str | None) -> OperationDefinitionNode | None:
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return ops[0] if len(ops) == 1 else None
    return next((o for o in ops if o.name and o.name.value == name), None)


async def run(schema: GraphQLSchema, ctx, query, variables=None, operation_name=None,
              allow_mutations: bool = True) -> dict:
    """The response body for one request (``data`` and/or ``errors``, ``extensions``)."""
    settings = ctx.settings
    if not isinstance(query, str) or not query.strip():
        return {"errors": [_error("query: missing; send {\"query\": \"...\"}", "BAD_REQUEST")]}
    if variables is not None and not isinstance(variables, dict):
        return {"errors": [_error("variables: must be a JSON object", "BAD_REQUEST")]}
    if operation_name is not None and not isinstance(operation_name, str):
        return {"errors": [_error("operationName: must be a string", "BAD_REQUEST")]}
    if len(query) > MAX_QUERY_CHARS:
        return {"errors": [_error(f"query: {len(query)} characters, the limit is "
                                  f"{MAX_QUERY_CHARS}", "BAD_REQUEST")]}
    document, problems = _checked(schema, query)
    if problems:
        return {"errors": copy.deepcopy(problems)}
    op = _operation(document, operation_name)
    if op is None:
        which = f"no operation named {operation_name!r}" if operation_name else \
            "several operations: say which with operationName"
        return {"errors": [_error(f"operationName: {which}", "BAD_REQUEST")]}
    if op.operation == OperationType.MUTATION and not allow_mutations:
        return {"errors": [_error("mutations must be sent with POST", "BAD_REQUEST")]}
    if op.operation == OperationType.SUBSCRIPTION:
        return {"errors": [_error("subscriptions are not supported", "BAD_REQUEST")]}
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    try:
        cost = limits.check(schema, op, fragments, variables, settings)
    except GraphQLError as exc:
        return {"errors": [{"message": exc.message, "extensions": exc.extensions}]}
    try:
        result = graphql_execute(schema, document, context_value=ctx, variable_values=variables,
                                 operation_name=operation_name)
        if asyncio.iscoroutine(result) or asyncio.isfuture(result):
            result = await asyncio.wait_for(result, settings.timeout)
    except asyncio.TimeoutError:
        return {"data": None,
                "errors": [_error(f"request took longer than {settings.timeout:g} s and was "
                                  "stopped; narrow it (types, depth, first) or ask the "
                                  "operator to raise the timeout", "TIMEOUT")],
                "extensions": {"storeReads": ctx.store.reads, "cost": cost}}
    assert isinstance(result, ExecutionResult)
    body: dict = {"data": result.data}
    if result.errors:
        body["errors"] = [format_error(e) for e in result.errors]
    body["extensions"] = {"storeReads": ctx.store.reads, "cost": cost}
    return body

"""Query depth and cost, measured on the parsed query before anything runs.

*Depth* counts nested fields (``dataset { producedBy { task } }`` is 3).
*Cost* estimates how many objects an answer may hold: every object field
costs its weight (1, more for traversals) plus, for each item it may
return, the cost of its selection; a connection may return ``first`` items
(the default page size when not given), another list ``LIST_ESTIMATE``.
Scalars cost nothing.  Introspection (``__schema``, ``__type``) is free, so
GraphiQL works under any limits.  Fragments are expanded; variables are read
from the request, so ``first: $n`` is costed with the value sent.
"""

from __future__ import annotations

from graphql import (FieldNode, FragmentSpreadNode, GraphQLError, GraphQLList, GraphQLNonNull,
                     GraphQLObjectType, GraphQLInterfaceType, InlineFragmentNode, GraphQLSchema,
                     OperationDefinitionNode, OperationType, value_from_ast)

#: Items assumed for a list that is not a paged connection.
LIST_ESTIMATE = 10

#: Weights of fields that do more than look a node up: traversals, propagation, writes.
FIELD_WEIGHTS = {
    ("Query", "lineage"): 50,
    ("Query", "blastRadius"): 50,
    ("Query", "lineagePath"): 50,
    ("Query", "contamination"): 5,
    ("Query", "flags"): 5,
    ("Query", "lightcurve"): 50,
    ("Query", "jobs"): 5,
    ("Query", "metricTrend"): 10,
    ("Job", "specifications"): 2,
    ("Mutation", "flag"): 200,
    ("Mutation", "unflag"): 20,
    ("Mutation", "recomputeFlag"): 200,
}


def _unwrap(t):
    is_list = False
    while isinstance(t, (GraphQLNonNull, GraphQLList)):
        if isinstance(t, GraphQLList):
            is_list = True
        t = t.of_type
    return t, is_list


def _first(node: FieldNode, field_def, variables: dict, default: int) -> int:
    for arg in node.arguments or ():
        if arg.name.value == "first":
            arg_def = field_def.args.get("first")
            value = value_from_ast(arg.value, arg_def.type, variables) if arg_def else None
            if isinstance(value, int) and value > 0:
                return value
    return default


def measure(schema: GraphQLSchema, operation: OperationDefinitionNode, fragments: dict,
            variables: dict | None, default_page: int) -> tuple[int, int]:
    """(depth, cost) of one operation."""
    variables = variables or {}
    root = {OperationType.QUERY: schema.query_type,
            OperationType.MUTATION: schema.mutation_type}.get(operation.operation)
    if root is None:
        return 0, 0

    def walk(selection_set, parent, seen: frozenset) -> tuple[int, int]:
        depth = cost = 0
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                name = sel.name.value
                if name.startswith("__"):
                    continue
                field_def = parent.fields.get(name) if hasattr(parent, "fields") else None
                if field_def is None:
                    continue
                target, is_list = _unwrap(field_def.type)
                if not isinstance(target, (GraphQLObjectType, GraphQLInterfaceType)):
                    depth = max(depth, 1)
                    continue
                d, c = walk(sel.selection_set, target, seen)
                if parent.name.endswith("Connection"):
                    many = 1  # edges and nodes of a page: counted by the connection field
                elif target.name.endswith("Connection"):
                    many = _first(sel, field_def, variables, default_page)
                else:
                    many = LIST_ESTIMATE if is_list else 1
                depth = max(depth, 1 + d)
                cost += FIELD_WEIGHTS.get((parent.name, name), 1) + many * c
            elif isinstance(sel, InlineFragmentNode):
                t = schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                d, c = walk(sel.selection_set, t or parent, seen)
                depth, cost = max(depth, d), cost + c
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                frag = fragments.get(name)
                if frag is None or name in seen:
                    continue
                t = schema.get_type(frag.type_condition.name.value) or parent
                d, c = walk(frag.selection_set, t, seen | {name})
                depth, cost = max(depth, d), cost + c
        return depth, cost

    return walk(operation.selection_set, root, frozenset())


def check(schema, operation, fragments, variables, settings) -> int:
    """Raise a GraphQL error if the operation is too deep or too expensive; return its cost."""
    depth, cost = measure(schema, operation, fragments, variables, settings.default_page_size)
    if depth > settings.max_depth:
        raise GraphQLError(f"query too deep: {depth} levels of fields, the limit is "
                           f"{settings.max_depth}", extensions={"code": "QUERY_TOO_DEEP"})
    if cost > settings.max_cost:
        raise GraphQLError(f"query too expensive: estimated cost {cost}, the limit is "
                           f"{settings.max_cost} (ask for smaller pages with `first`, or "
                           "fewer nested lists)", extensions={"code": "QUERY_TOO_EXPENSIVE"})
    return cost

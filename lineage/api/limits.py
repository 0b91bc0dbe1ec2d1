"""The size, depth and cost of a request, measured before anything runs.

*Size*: the document (characters, lexical tokens, aliases), the fields it asks
for once its fragments are expanded (each spread counted, so a fragment spread
twice counts twice), the fields of one response name in one selection set, and
the variables (characters, nesting, no lone surrogates).

*Depth* counts nested fields (``dataset { producedBy { task } }`` is 3).
*Cost* estimates how many objects an answer may hold: every object field
costs its weight (1, more for traversals) plus, for each item it may
return, the cost of its selection; a connection may return ``first`` items
(the default page size when not given), another list ``LIST_ESTIMATE``.
Scalars cost nothing.  Variables are read from the request, so
``first: $n`` is costed with the value sent.

Introspection (``__schema``, ``__type``) is measured like any other query: its
lists are estimated from the schema itself (the mean number of fields of a
type, of arguments of a field ...), so GraphiQL's introspection query costs
about the objects it returns (some 2,000) while nested abuse such as
``types { fields { type { fields ... } } }`` multiplies out and is refused.  A
type reference's ``ofType`` chain does not add depth (it is a wrapper, not
data: GraphiQL asks for nine levels of it).

Everything is measured in one pass over the document: each fragment is
measured once per parent type (memoised; a cycle is an error), so the work is
linear in the size of the document however often fragments are spread.
"""

from __future__ import annotations

import math
import weakref
from collections import Counter
from dataclasses import dataclass

from graphql import (FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLEnumType,
                     GraphQLError, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLList,
                     GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLUnionType,
                     InlineFragmentNode, OperationDefinitionNode, OperationType, value_from_ast)

#: Selection sets and fragment spreads nested in one another (GraphiQL's introspection
#: query: about 20), whatever the depth limit: keeps the measure's recursion bounded.
MAX_NESTING = 64

#: Items assumed for a list that is not a paged connection.
LIST_ESTIMATE = 10

#: Weights of fields that do more than look a node up: traversals, propagation, writes.
FIELD_WEIGHTS = {
    ("Query", "lineage"): 50,
    ("Query", "blastRadius"): 50,
    ("Query", "lineagePath"): 50,
    ("Query", "lineageGraph"): 50,
    ("Query", "contamination"): 5,
    ("Query", "contaminated"): 10,
    ("Flag", "contaminated"): 10,
    ("Flag", "marks"): 2,
    ("Flag", "blastRadius"): 10,   # reads every mark of the flag
    ("Flag", "downstream"): 50,
    ("Flag", "upstream"): 50,
    ("DataUnit", "downstream"): 50,
    ("DataUnit", "upstream"): 50,
    ("Dataset", "contamination"): 1,   # batched: one query for every dataset of a request
    ("Query", "flags"): 5,
    ("Query", "lightcurve"): 50,
    ("Query", "preflight"): 200,   # reads a file and asks the graph about each quantum
    ("Query", "search"): 10,   # a few index lookups; a data ID resolves to its datasets
    ("Query", "jobs"): 5,
    ("Query", "metricTrend"): 10,
    ("Job", "specifications"): 2,
    ("Mutation", "flag"): 200,
    ("Mutation", "unflag"): 20,
    ("Mutation", "recomputeFlag"): 200,
    ("__Type", "ofType"): 0,  # a type reference's wrapper: no lookup
}


def refused(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


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
            try:
                value = value_from_ast(arg.value, arg_def.type, variables) if arg_def else None
            except (TypeError, ValueError):  # a bad value: validation or the resolver says so
                value = None
            if isinstance(value, int) and value > 0:
                return value
    return default


# --- introspection lists, estimated from the schema -----------------------------------------

_introspection_sizes: "weakref.WeakKeyDictionary[GraphQLSchema, dict]" = \
    weakref.WeakKeyDictionary()


def introspection_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], float]:
    """(type, field) -> items an introspection list holds on average in this schema."""
    sizes = _introspection_sizes.get(schema)
    if sizes is not None:
        return sizes
    types = list(schema.type_map.values())
    n = max(1, len(types))
    outputs = [t for t in types if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType))]
    object_fields = [f for t in outputs for f in t.fields.values()]
    input_fields = sum(len(t.fields) for t in types if isinstance(t, GraphQLInputObjectType))
    interfaces = sum(len(t.interfaces) for t in outputs)
    possible = sum(len(schema.get_possible_types(t)) for t in types
                   if isinstance(t, (GraphQLInterfaceType, GraphQLUnionType)))
    enum_values = sum(len(t.values) for t in types if isinstance(t, GraphQLEnumType))
    args = sum(len(f.args) for f in object_fields)
    directives = list(schema.directives)

    def mean(total: int, over: int) -> float:
        return total / max(1, over)

    sizes = {
        ("__Schema", "types"): n,
        ("__Schema", "directives"): max(1, len(directives)),
        ("__Type", "fields"): mean(len(object_fields), n),
        ("__Type", "inputFields"): mean(input_fields, n),
        ("__Type", "interfaces"): mean(interfaces, n),
        ("__Type", "possibleTypes"): mean(possible, n),
        ("__Type", "enumValues"): mean(enum_values, n),
        ("__Field", "args"): mean(args, len(object_fields)),
        ("__Directive", "args"): mean(sum(len(d.args) for d in directives), len(directives)),
    }
    _introspection_sizes[schema] = sizes
    return sizes


# --- the document ----------------------------------------------------------------------------

def check_document(document, settings) -> dict[str, FragmentDefinitionNode]:
    """Refuse a document with too many aliases or fragments; return its fragments by
    name."""
    aliases = defined = 0
    fragments: dict[str, FragmentDefinitionNode] = {}
    stack = []
    for d in document.definitions:
        if isinstance(d, FragmentDefinitionNode):
            defined += 1
            fragments.setdefault(d.name.value, d)
        if getattr(d, "selection_set", None) is not None:
            stack.append(d.selection_set)
    while stack:
        for sel in stack.pop().selections:
            if isinstance(sel, FieldNode) and sel.alias is not None:
                aliases += 1
            if getattr(sel, "selection_set", None) is not None:
                stack.append(sel.selection_set)
    if defined > settings.max_fragments:
        raise refused(f"query too large: {defined} fragments, the limit is "
                      f"{settings.max_fragments}", "QUERY_TOO_LARGE")
    if aliases > settings.max_aliases:
        raise refused(f"query too large: {aliases} aliases, the limit is "
                      f"{settings.max_aliases}", "QUERY_TOO_LARGE")
    return fragments


@dataclass
class _Part:
    """What one selection set (or fragment) measures."""

    depth: int = 0
    cost: float = 0      # whole numbers but for introspection lists (schema means)
    fields: int = 0
    names: Counter | None = None   # response names of its fields, fragments flattened


@dataclass
class Measure:
    depth: int
    cost: int
    fields: int


class _Walk:
    def __init__(self, schema, fragments, variables, settings) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables or {}
        self.settings = settings
        self.default_page = settings.default_page_size
        self.memo: dict[tuple[str, str], _Part] = {}
        self.open: list[str] = []      # fragments being measured (a cycle if met again)
        self.nesting = 0
        self.intro = None

    def sizes(self):
        if self.intro is None:
            self.intro = introspection_sizes(self.schema)
        return self.intro

    def _too_many(self, fields: int) -> GraphQLError:
        return refused(f"query too large: more than {self.settings.max_fields} fields once its "
                       "fragments are expanded (each spread counted), the limit",
                       "QUERY_TOO_LARGE")

    def selection_set(self, selection_set, parent) -> _Part:
        self.nesting += 1
        try:
            if self.nesting > MAX_NESTING:
                raise refused("query too deep: selections and fragments nested more than "
                              f"{MAX_NESTING} levels", "QUERY_TOO_DEEP")
            return self._selections(selection_set, parent)
        finally:
            self.nesting -= 1

    def _selections(self, selection_set, parent) -> _Part:
        part = _Part(names=Counter())
        limit = self.settings.max_fields
        same = self.settings.max_same_name
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                key = (sel.alias or sel.name).value
                part.names[key] += 1
                part.fields += 1
                sub = self.field(sel, parent)
                if sub is not None:
                    d, c, f = sub
                    part.depth = max(part.depth, d)
                    part.cost += c
                    part.fields += f
                if part.names[key] > same:
                    raise self._same(key, part.names[key])
            else:
                if isinstance(sel, InlineFragmentNode):
                    t = (self.schema.get_type(sel.type_condition.name.value)
                         if sel.type_condition else parent) or parent
                    sub = self.selection_set(sel.selection_set, t)
                elif isinstance(sel, FragmentSpreadNode):
                    sub = self.spread(sel.name.value, parent)
                    if sub is None:
                        continue
                else:  # pragma: no cover - no other selection kinds
                    continue
                part.depth = max(part.depth, sub.depth)
                part.cost += sub.cost
                part.fields += sub.fields
                for key, n in sub.names.items():
                    part.names[key] += n
                    if part.names[key] > same:
                        raise self._same(key, part.names[key])
            if part.fields > limit:
                raise self._too_many(part.fields)
        return part

    def _same(self, key: str, n: int) -> GraphQLError:
        return refused(f"query too large: more than {self.settings.max_same_name} fields named "
                       f"{key!r} in one selection set (fragments included), the limit",
                       "QUERY_TOO_LARGE")

    def spread(self, name: str, parent) -> _Part | None:
        frag = self.fragments.get(name)
        if frag is None:
            return None  # validation names it
        t = self.schema.get_type(frag.type_condition.name.value) or parent
        memo_key = (name, getattr(t, "name", ""))
        part = self.memo.get(memo_key)
        if part is not None:
            return part
        if name in self.open:
            cycle = " -> ".join(self.open[self.open.index(name):] + [name])
            raise refused(f"fragment {name} spreads itself ({cycle})", "INVALID_QUERY")
        self.open.append(name)
        try:
            part = self.selection_set(frag.selection_set, t)
        finally:
            self.open.pop()
        self.memo[memo_key] = part
        return part

    def field(self, sel: FieldNode, parent) -> tuple[int, float, int] | None:
        """(depth, cost, fields below) of one field; None for a field the schema lacks."""
        name = sel.name.value
        if name == "__typename":
            return 0, 0, 0
        if name == "__schema":
            field_type, field_def = self.schema.get_type("__Schema"), None
        elif name == "__type":
            field_type, field_def = self.schema.get_type("__Type"), None
        else:
            field_def = parent.fields.get(name) if hasattr(parent, "fields") else None
            if field_def is None:
                if sel.selection_set is not None:  # still measured: an unknown field's
                    sub = self.selection_set(sel.selection_set, parent)  # fragments count
                    return sub.depth, sub.cost, sub.fields
                return 1, 0, 0
            field_type = field_def.type
        target, is_list = _unwrap(field_type)
        if not isinstance(target, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
            return 1, 0, 0
        sub = self.selection_set(sel.selection_set, target)
        parent_name = getattr(parent, "name", "")
        if parent_name.startswith("__"):
            many = self.sizes().get((parent_name, name), LIST_ESTIMATE) if is_list else 1
        elif parent_name.endswith("Connection"):
            many = 1  # edges and nodes of a page: counted by the connection field
        elif target.name.endswith("Connection") and field_def is not None:
            many = _first(sel, field_def, self.variables, self.default_page)
        else:
            many = LIST_ESTIMATE if is_list else 1
        level = 0 if (parent_name == "__Type" and name == "ofType") else 1
        return (level + sub.depth,
                FIELD_WEIGHTS.get((parent_name, name), 1) + many * sub.cost,
                sub.fields)


def measure(schema: GraphQLSchema, operation: OperationDefinitionNode, fragments: dict,
            variables: dict | None, settings) -> Measure:
    """Depth, cost and fields of one operation; raises a GraphQL error for a fragment cycle,
    too many fields or too many fields of one name."""
    root = {OperationType.QUERY: schema.query_type,
            OperationType.MUTATION: schema.mutation_type}.get(operation.operation)
    if root is None:
        return Measure(0, 0, 0)
    part = _Walk(schema, fragments, variables, settings).selection_set(
        operation.selection_set, root)
    return Measure(part.depth, math.ceil(part.cost), part.fields)


def check_shape(schema: GraphQLSchema, document, fragments: dict, settings) -> None:
    """Refuse a document whose operations or fragments, once expanded, ask for too many
    fields or too many of one name, or whose fragments spread themselves: what makes
    validation and execution slow.  Every fragment is measured once."""
    walk = _Walk(schema, fragments, None, settings)
    roots = {OperationType.QUERY: schema.query_type, OperationType.MUTATION: schema.mutation_type,
             OperationType.SUBSCRIPTION: schema.subscription_type}
    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode):
            root = roots.get(d.operation) or schema.query_type
            walk.selection_set(d.selection_set, root)
        elif isinstance(d, FragmentDefinitionNode):
            walk.spread(d.name.value, schema.query_type)


def check(schema, operation, fragments, variables, settings) -> int:
    """Raise a GraphQL error if the operation is too large, deep or expensive; return its
    cost."""
    m = measure(schema, operation, fragments, variables, settings)
    if m.depth > settings.max_depth:
        raise refused(f"query too deep: {m.depth} levels of fields, the limit is "
                      f"{settings.max_depth}", "QUERY_TOO_DEEP")
    if m.cost > settings.max_cost:
        raise refused(f"query too expensive: estimated cost {m.cost}, the limit is "
                      f"{settings.max_cost} (ask for smaller pages with `first`, or "
                      "fewer nested lists)", "QUERY_TOO_EXPENSIVE")
    return m.cost


# --- variables ---------------------------------------------------------------------------------

def surrogate_at(text: str) -> int:
    """Index of the first lone surrogate code point in ``text``, or -1."""
    for i, ch in enumerate(text):
        if "\ud800" <= ch <= "\udfff":
            return i
    return -1


def has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_variables(variables, settings) -> None:
    """Refuse variables that are too large, nest too deeply or hold a lone surrogate; the
    message names the variable (``variables.a.b[2]``)."""
    if variables is None:
        return
    if not isinstance(variables, dict):
        raise refused("variables: must be a JSON object", "BAD_REQUEST")
    size = 0
    stack: list[tuple[object, str, int]] = [(variables, "variables", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > settings.max_variables_depth:
            raise refused(f"{path}: nested more than {settings.max_variables_depth} levels",
                          "BAD_REQUEST")
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise refused(f"{path}: keys must be strings", "BAD_REQUEST")
                size += len(k) + 1
                if has_surrogate(k):
                    raise refused(f"{path}: a name holds a lone surrogate "
                                  f"({_surrogate(k)}); send valid Unicode", "BAD_REQUEST")
                stack.append((v, f"{path}.{k}", depth + 1))
        elif isinstance(value, list):
            size += len(value)
            for i, v in enumerate(value):
                stack.append((v, f"{path}[{i}]", depth + 1))
        elif isinstance(value, str):
            size += len(value)
            if has_surrogate(value):
                raise refused(f"{path}: holds a lone surrogate ({_surrogate(value)}) at "
                              f"character {surrogate_at(value)}; send valid Unicode",
                              "BAD_REQUEST")
        else:
            size += 1
        if size > settings.max_variables_chars:
            raise refused(f"variables: larger than {settings.max_variables_chars} characters",
                          "REQUEST_TOO_LARGE")


def _surrogate(text: str) -> str:
    i = surrogate_at(text)
    return f"\\u{ord(text[i]):04x}" if i >= 0 else "?"

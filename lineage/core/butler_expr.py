"""Butler query expressions (``visit = 1228 AND detector IN (1..4)``) read with
daf_butler's own parser and turned into a small tree of our own.

The text users already type at ``butler query-datasets --where`` names where a
lineage question starts.  daf_butler parses it (its grammar, its positions in
the error messages); :func:`parse_butler_expression` walks the parser's tree
into :class:`Test` leaves joined by :class:`And`, :class:`Or` and
:class:`Not`, which :mod:`lineage.dataunits.expression` answers from the graph.

Supported: comparisons (``= != < <= > >=``) of a dimension (``visit``) or a
dimension's property (``exposure.observation_type``) with a number or a
string; ``IN`` / ``NOT IN`` lists with ranges (``1..4``, the stop inclusive;
``0..10:5``, a stride); ``AND``, ``OR``, ``NOT`` and parentheses.  A bare word
on the right of a comparison with a dimension whose values are strings in the
Butler's dimension universe (``band = g``) is that string, as users mean it
(the Butler itself refuses it).  Arithmetic, times, bind names, functions and
regions are refused with a one-line error.

daf_butler is imported on first use (about a second): the other selector forms
never pay for it.  Without it, a Butler expression is an error saying to
install the ``butler`` extra.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from lineage.core.text import SelectorError, is_identifier

#: The install hint of every error about a missing daf_butler.
INSTALL_HINT = "install the butler extra (pip install 'survey-lineage[butler]')"

#: At most this many comparisons in one expression, as for conditions (docs/security.md).
MAX_COMPARISONS = 64

_MIRRORED = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True)
class Range:
    """``start..stop:stride`` of an ``IN`` list; the stop is inclusive, as in the Butler."""

    start: int
    stop: int
    stride: int = 1

    def __contains__(self, number) -> bool:
        return (self.start <= number <= self.stop and float(number).is_integer()
                and (int(number) - self.start) % self.stride == 0)


@dataclass(frozen=True)
class Test:
    """One comparison of a data unit: ``dimension[.attribute] op value(s)``.

    ``attribute`` None compares the unit's own value (``visit = 1228``); ``op``
    is a comparison or ``IN`` / ``NOT IN``, whose ``values`` may hold
    :class:`Range` s; otherwise ``values`` holds the one literal (int, float or str).
    """

    dimension: str
    attribute: str | None
    op: str
    values: tuple

    @property
    def value(self):
        return self.values[0]


@dataclass(frozen=True)
class And:
    """Every part holds (``AND``)."""
    parts: tuple


@dataclass(frozen=True)
class Or:
    """At least one part holds (``OR``)."""
    parts: tuple


@dataclass(frozen=True)
class Not:
    """The part does not hold (``NOT``)."""
    part: object


def looks_like_butler(text: str) -> bool:
    """Whether ``text`` has what only a Butler expression has, beside the other selector
    and condition syntaxes: quotes, parentheses, OR/NOT/IN, or ``dimension.property``
    compared with something (``efd:`` terms and dotted values aside)."""
    if any(c in "'\"()" for c in text):
        return True
    for op in "=<>!":
        text = text.replace(op, f" {op} ")
    words = text.split()
    for i, word in enumerate(words):
        if word.upper() in ("OR", "NOT", "IN"):
            return True
        name, dot, attribute = word.partition(".")
        if dot and is_identifier(name) and is_identifier(attribute) and i + 1 < len(words) \
                and words[i + 1] in ("=", "<", ">", "!"):
            return True
    return False


def butler_parser_available() -> bool:
    """Whether daf_butler's expression parser can be imported (it is not imported here)."""
    import importlib.util
    try:
        return importlib.util.find_spec("lsst.daf.butler") is not None
    except (ImportError, ValueError):   # a broken or blocked ``lsst`` package
        return False


def parse_butler_expression(text: str, label: str | None = "bad selector",
                            field: str | None = None):
    """The tree of a Butler expression.  Errors are one line, with the parser's
    position, starting with ``label`` and the text (``bad selector 'visit == 3': ...``;
    ``label`` None: the reason alone) and naming ``field``, the input it came in
    (``where``), if given."""
    def fail(reason: str) -> SelectorError:
        start = "" if label is None else f"{label + ' ' if label else ''}{text!r}: "
        return SelectorError(start + reason, field=field)
    try:
        from lsst.daf.butler.queries.expressions.parser import ParserYaccError, parse_expression
    except ImportError:
        raise fail(f"Butler query expressions need daf_butler: {INSTALL_HINT}") from None
    try:
        tree = parse_expression(text)
    except ParserYaccError as exc:
        raise fail(" ".join(str(exc).split())) from None
    if tree is None:
        raise fail("empty expression")
    expression = _Translator(fail).node(tree)
    count = _comparisons(expression)
    if count > MAX_COMPARISONS:
        raise fail(f"too many conditions: {count} (at most {MAX_COMPARISONS})")
    return expression


def _comparisons(node) -> int:
    if isinstance(node, Test):
        return 1
    if isinstance(node, Not):
        return _comparisons(node.part)
    return sum(_comparisons(p) for p in node.parts)


class _Translator:
    """daf_butler's expression tree -> :class:`Test`, :class:`And`, :class:`Or`, :class:`Not`."""

    def __init__(self, fail) -> None:
        from lsst.daf.butler.queries.expressions.parser import exprTree
        self.tree = exprTree
        self.fail = fail    # reason -> the error to raise

    def node(self, node):
        t = self.tree
        if isinstance(node, t.Parens):
            return self.node(node.expr)
        if isinstance(node, t.UnaryOp) and node.op.upper() == "NOT":
            return Not(self.node(node.operand))
        if isinstance(node, t.BinaryOp) and node.op.upper() in ("AND", "OR"):
            joined = And if node.op.upper() == "AND" else Or
            parts = []
            for side in (node.lhs, node.rhs):   # flatten a AND b AND c into one And
                part = self.node(side)
                parts.extend(part.parts if isinstance(part, joined) else [part])
            return joined(tuple(parts))
        if isinstance(node, t.BinaryOp) and node.op in _MIRRORED:
            return self.comparison(node)
        if isinstance(node, t.IsIn):
            dimension, attribute = self.name(node.lhs, "the left of IN")
            values = tuple(self.literal(v, dimension, attribute, in_list=True)
                           for v in node.values)
            return Test(dimension, attribute, "NOT IN" if node.not_in else "IN", values)
        raise self.fail(f"{self.describe(node)} is not supported here (use comparisons, IN, "
                        "AND, OR, NOT and parentheses)")

    def comparison(self, node) -> Test:
        t, op, lhs, rhs = self.tree, node.op, node.lhs, node.rhs
        if not isinstance(lhs, t.Identifier) and isinstance(rhs, t.Identifier):
            lhs, rhs, op = rhs, lhs, _MIRRORED[op]   # 1228 = visit
        dimension, attribute = self.name(lhs, f"the left of {op!r}")
        return Test(dimension, attribute, op, (self.literal(rhs, dimension, attribute),))

    def name(self, node, where: str) -> tuple[str, str | None]:
        if not isinstance(node, self.tree.Identifier):
            raise self.fail(f"{where} must be a dimension or dimension.property, "
                            f"not {self.describe(node)}")
        dimension, _, attribute = node.name.partition(".")
        if "." in attribute:
            raise self.fail(f"{node.name!r}: write dimension.property")
        return dimension, attribute or None

    def literal(self, node, dimension: str, attribute: str | None, in_list: bool = False):
        t = self.tree
        if isinstance(node, t.NumericLiteral):
            return _number(node.value)
        if isinstance(node, t.UnaryOp) and node.op in ("-", "+") and \
                isinstance(node.operand, t.NumericLiteral):
            number = _number(node.operand.value)
            return -number if node.op == "-" else number
        if isinstance(node, t.StringLiteral):
            return node.value
        if isinstance(node, t.RangeLiteral) and in_list:
            return Range(node.start, node.stop, node.stride or 1)
        if isinstance(node, t.Identifier) and attribute is None and \
                _has_string_values(dimension):
            return node.name    # band = g: the word is the band
        if isinstance(node, t.Identifier):
            raise self.fail(f"{node.name!r} on the right is not a value: quote it "
                            f"({node.name!r}) or compare with a number")
        raise self.fail(f"{self.describe(node)} is not a value here (write a number, a "
                        "'string' or, in IN, a range such as 1..4)")

    def describe(self, node) -> str:
        """A node as the user wrote it, for a message: ``'band = HSC-G'`` shows ``HSC - G``."""
        return f"{type(node).__name__} {str(node)!r}"


def _number(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() \
        else number


@functools.cache
def _has_string_values(dimension: str) -> bool:
    """Whether the Butler's default dimension universe keys ``dimension`` by a string
    (``band``, ``instrument``, ``physical_filter``, ``skymap``, ``group``)."""
    from lsst.daf.butler import DimensionUniverse
    universe = DimensionUniverse()
    return dimension in universe.getStaticDimensions().names and \
        universe[dimension].primary_key.type == "string"

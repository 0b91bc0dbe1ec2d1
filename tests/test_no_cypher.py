"""Cypher lives in ``lineage/store/`` and in the capabilities' ``queries.py`` modules,
nowhere else (docs/architecture.md): a newcomer who wants to change a query, or to see
what a capability asks the engine, finds it in one file.

Every string in the other modules (docstrings aside) is read with ``ast``; one that holds a
Cypher clause keyword (capitals, a whole word) or a property compared with a ``$parameter``
fails the test with its module, line and text.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lineage"

CLAUSE = re.compile(r"\b(OPTIONAL MATCH|MATCH|MERGE|CREATE|DETACH DELETE|DELETE|SET|REMOVE|"
                    r"RETURN|WITH|UNWIND|WHERE|CALL|ORDER BY|SKIP|LIMIT|UNION)\b")
PARAMETER_PREDICATE = re.compile(r"\b\w+\.\w+\s*(=|<>|<=|>=|<|>|IN|STARTS WITH)\s*\$\w+")


def _may_hold_cypher(path: Path) -> bool:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] == "store" or rel[-1] == "queries.py"


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _strings(tree: ast.AST):
    """(line, text) of every string literal; an f-string counts as one, ``{}`` for its holes."""
    docstrings = _docstrings(tree)
    inside_fstring = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside_fstring.update(id(v) for v in node.values)
            yield node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}"
                                       for v in node.values)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in docstrings and id(node) not in inside_fstring):
            yield node.lineno, node.value


def cypher_outside_queries() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if _may_hold_cypher(path):
            continue
        for line, text in _strings(ast.parse(path.read_text(), str(path))):
            if CLAUSE.search(text) or PARAMETER_PREDICATE.search(text):
                found.append(f"{path.relative_to(ROOT)}:{line}: {' '.join(text.split())[:80]}")
    return found


def test_cypher_lives_in_store_and_queries_modules():
    found = cypher_outside_queries()
    assert not found, "Cypher outside lineage/store/ and queries.py:\n" + "\n".join(found)


def test_the_scan_finds_cypher(tmp_path):
    """The scan itself: a clause, a fragment and an f-string are found; prose is not."""
    source = ('Q = "MATCH (n) RETURN n"\n'
              'F = "n.key > $after"\n'
              'G = f"MATCH (v:{label}) WHERE v.key = $k"\n'
              'M = "the visit was flagged with a reason"\n')
    texts = [text for _, text in _strings(ast.parse(source))]
    hits = [t for t in texts if CLAUSE.search(t) or PARAMETER_PREDICATE.search(t)]
    assert hits == ["MATCH (v:{}) WHERE v.key = $k", "MATCH (n) RETURN n", "n.key > $after"]

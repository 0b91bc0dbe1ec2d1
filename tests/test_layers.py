"""The package layers (docs/architecture.md): every module imports only modules of its own
layer or a lower one, no two modules import each other (directly or around a loop), and a
module imports other ``lineage`` modules at its top, never inside a function.

Imports are read with ``ast`` from the source (top level, inside functions and classes,
under ``if TYPE_CHECKING``), so nothing here imports the modules it checks.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lineage"

#: Layers, lowest first.  6a and 6b are both capabilities; 6a never imports 6b, so two
#: capabilities of one layer cannot import each other around a loop.
LAYERS = ["1", "2", "3", "4", "5", "6a", "6b", "7", "8"]

#: One entry per package (a top-level module counts as a package).
LAYER = {
    "lineage.core": "1",        # model, selector and condition parsing, units, progress, figures
    "lineage.store": "2",       # engines, repository config, generic record dump
    "lineage.dataunits": "3",   # visits, calibrations, regions, selector resolution
    "lineage.ingest": "4",      # driver, formats/ (the kinds) and their support modules
    "lineage.traversal": "5",   # downstream, upstream, explain, show
    "lineage.sync": "5",        # lineage sync: a live Butler repository, through ingest's builders
    "lineage.fetch": "6a",
    "lineage.export": "6a",
    "lineage.metrics": "6a",
    "lineage.flags": "6b",
    "lineage.diff": "6b",
    "lineage.lightcurve": "6b",
    "lineage.preflight": "6b",  # a predicted quantum graph checked against flags, runs, calibrations
    "lineage.search": "6b",     # the search box: a text read as visit, data ID, UUID, flag, name
    "lineage.retention": "6b",  # deletion with tombstones, gc, retention rules (docs/retention.md)
    "lineage.standards": "6b",  # W3C PROV and OpenLineage documents of the lineage
    "lineage.demo": "7",
    "lineage.cli": "8",
    "lineage.api": "8",
    "lineage.repository": "8",  # lineage.Repository: the library's questions for notebooks
    "lineage.results": "8",     # its answers as rows, DataFrames and Tables
}

#: The package ``lineage`` itself is the facade above every layer: ``lineage.get`` imports
#: :mod:`lineage.fetch.read` when called, because every ``import lineage.X`` runs
#: ``lineage/__init__.py`` first and that must stay free of the library's imports.
FACADE = "lineage"

#: Function-level imports of ``lineage`` modules still to be moved to the top of their
#: module, as "module -> imported module".  None: the command line loads its command
#: modules lazily (lineage.cli.COMMANDS), and the engine modules import their drivers
#: (neo4j, redis, falkordb) inside the functions that use them.
EXPECTED_VIOLATIONS: set[str] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _target(name: str) -> str | None:
    """The ``lineage`` module an import names (``lineage.a.b.NAME`` -> ``lineage.a.b``)."""
    while name and name not in MODULES:
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return name or None


def _imports(module: str, path: Path):
    """(imported lineage module, line, inside a function) for every import of the module."""
    tree = ast.parse(path.read_text(), str(path))
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_function.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}:{node.lineno}: relative import"
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] != "lineage":
                continue
            target = _target(name)
            if target and target != module:
                yield target, node.lineno, id(node) in in_function


EDGES = [(m, t, line, func) for m, p in MODULES.items() for t, line, func in _imports(m, p)]


def _package(module: str) -> str | None:
    return next((p for p in LAYER if module == p or module.startswith(p + ".")), None)


def test_every_module_has_a_layer():
    missing = sorted(m for m in MODULES if m != FACADE and _package(m) is None)
    assert not missing, f"add to LAYER: {missing}"


def test_no_import_cycle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for src, dst, _, _ in EDGES:
        if not dst.startswith(src + "."):   # a package re-exporting its own modules
            graph[src].add(dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v):   # Tarjan's strongly connected components, iteratively
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_imports_go_to_the_same_layer_or_lower():
    wrong = []
    for src, dst, line, _ in EDGES:
        if src == FACADE:
            continue
        a, b = LAYER[_package(src)], LAYER.get(_package(dst) or "")
        if b is None or LAYERS.index(a) < LAYERS.index(b):
            wrong.append(f"{src}:{line} (layer {a}) -> {dst} (layer {b})")
    assert not wrong, "imports of a higher layer:\n" + "\n".join(wrong)


def test_lineage_modules_are_imported_at_the_top():
    inside = {f"{src} -> {dst}" for src, dst, line, func in EDGES if func and src != FACADE}
    assert inside == EXPECTED_VIOLATIONS, (
        "function-level imports of lineage modules (move them to the top of the module):\n"
        + "\n".join(sorted(inside - EXPECTED_VIOLATIONS))
        + ("\nno longer found, remove from EXPECTED_VIOLATIONS:\n"
           + "\n".join(sorted(EXPECTED_VIOLATIONS - inside)) if EXPECTED_VIOLATIONS - inside else ""))


def test_the_facade_imports_only_lazily():
    top = [f"{FACADE}:{line} -> {dst}" for src, dst, line, func in EDGES
           if src == FACADE and not func]
    assert not top, top

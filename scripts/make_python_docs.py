"""Write the Python API's pages: the reference from the docstrings, the walk-through's output.

    python scripts/make_python_docs.py                # rewrites docs/python.md
    python scripts/make_python_docs.py --walkthrough  # and reruns docs/python-walkthrough.md

The reference is made only from the code (``inspect``: signatures and docstrings of
``lineage.Repository`` and ``lineage.Result``), so it says what the code does.  The
walk-through's Python blocks run in order in one namespace, in a fresh directory where
``lineage demo --small --images`` built ``lineage-repo``, and the ```` ```text ```` block
after each is what it printed (and the value of its last line, as a notebook shows it).
``tests/test_python_docs.py`` fails when either page differs from what runs now (output
blocks marked ``text varies`` excepted).
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "python.md"
WALKTHROUGH = ROOT / "docs" / "python-walkthrough.md"

#: The command that builds the walk-through's repository, in the directory it runs in.
DEMO = ("demo", "--small", "--images", "--repo", "lineage-repo")

#: A fenced block: its info string (``python``, ``text``, ``text varies``) and its text.
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```\n", re.S | re.M)

#: The info string of an output that differs from run to run (not compared).
VARIES = "text varies"

INTRO = """\
# Python API reference

Generated from the docstrings by `python scripts/make_python_docs.py`; do not edit by
hand (`tests/test_python_docs.py` fails when this page is stale). A walk-through with
real output on the demo survey: [python-walkthrough.md](python-walkthrough.md).
"""


def _markdown(doc: str) -> str:
    """A docstring as Markdown: Sphinx roles and double backquotes as code, ``::`` as
    a colon (the indented block after it is code in Markdown too)."""
    doc = re.sub(r":(?:func|class|meth|mod|attr):`~?([^`]+)`",
                 lambda m: f"`{m.group(1).rsplit('.', 1)[-1] if '~' in m.group(0) else m.group(1)}`",
                 doc)
    return doc.replace("``", "`").replace("::\n", ":\n")


def _signature(name: str, fn) -> str:
    """``name(arguments) -> returns`` without ``self`` and without the quotes that
    postponed annotations leave."""
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.name != "self"]
    text = str(sig.replace(parameters=params))
    text = re.sub(r"(: |-> )'([^']*)'", r"\1\2", text).removesuffix(" -> None")
    return f"{name}{text}"


def _members(cls) -> list[tuple[str, object]]:
    """The public methods a class defines itself, in source order."""
    return [(name, fn) for name, fn in vars(cls).items()
            if callable(fn) and not name.startswith("_")]


def _section(cls, heading: str) -> list[str]:
    lines = [f"## `{heading}`", "", f"```python\n{_signature(cls.__name__, cls)}\n```", "",
             _markdown(inspect.getdoc(cls)), ""]
    for name, fn in _members(cls):
        lines += [f"### `{cls.__name__}.{name}`", "",
                  f"```python\n{_signature(name, fn)}\n```", "",
                  _markdown(inspect.getdoc(fn) or ""), ""]
    return lines


def render() -> str:
    """The text of docs/python.md as the code now documents itself."""
    from lineage import repository, results
    lines = [INTRO, _markdown(inspect.getdoc(repository)), ""]
    lines += _section(repository.Repository, "lineage.Repository")
    lines += ["## Results", "", _markdown(inspect.getdoc(results)), ""]
    lines += _section(results.Result, "lineage.Result")
    return "\n".join(lines).rstrip() + "\n"


# --- the walk-through -------------------------------------------------------------------

def run_block(code: str, namespace: dict) -> str:
    """Run one block in ``namespace`` as a notebook cell: what it prints, then the repr of
    its last line if that is an expression whose value is not None."""
    tree = ast.parse(code)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(tree, "<walkthrough>", "exec"), namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), "<walkthrough>", "eval"), namespace)
            if value is not None:
                print(repr(value))
    return out.getvalue()


def walkthrough_outputs(text: str) -> list[tuple[str, str, str | None, str | None]]:
    """Run every Python block of the page, in order, in one namespace (in the working
    directory): (code, what it printed, the info string and text of the output block
    shown after it, or None) per block."""
    blocks = list(FENCE.finditer(text))
    namespace: dict = {"__name__": "__walkthrough__"}
    results = []
    for i, block in enumerate(blocks):
        if block.group(1).strip() != "python":
            continue
        after = blocks[i + 1] if i + 1 < len(blocks) else None
        shown = after if after is not None and after.group(1).startswith("text") and \
            not text[block.end():after.start()].strip() else None
        results.append((block.group(2), run_block(block.group(2), namespace),
                        shown.group(1) if shown else None, shown.group(2) if shown else None))
    return results


def with_outputs(text: str) -> str:
    """The page with a fresh output block after every Python block (run as
    :func:`walkthrough_outputs` runs them); a block that printed nothing gets none, a
    ``text varies`` block stays marked so."""
    outputs = iter(walkthrough_outputs(text))
    pieces, at, skip_until = [], 0, -1
    blocks = list(FENCE.finditer(text))
    for i, block in enumerate(blocks):
        if block.start() < skip_until:
            continue
        if block.group(1).strip() != "python":
            continue
        code, printed, info, _ = next(outputs)
        pieces.append(text[at:block.end()])
        at = block.end()
        if info is not None:   # replace the shown output
            at = skip_until = blocks[i + 1].end()
        if printed:
            pieces.append(f"\n```{info or 'text'}\n{printed}```\n")
    pieces.append(text[at:])
    return "".join(pieces)


def build_demo(directory: Path) -> None:
    """``lineage demo --small --images`` into ``directory/lineage-repo``."""
    env = {**os.environ, "LINEAGE_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "lineage.cli", *DEMO], cwd=directory, env=env,
                   check=True, capture_output=True)


def main(argv: list[str]) -> int:
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    if "--walkthrough" in argv:
        from lineage.store.falkordb_server import FalkorServer
        page = WALKTHROUGH.read_text(encoding="utf-8")
        with tempfile.TemporaryDirectory() as tmp:
            build_demo(Path(tmp))
            old = os.getcwd()
            os.chdir(tmp)
            try:
                page = with_outputs(page)
            finally:
                os.chdir(old)
                FalkorServer(Path(tmp) / "lineage-repo").stop()
        WALKTHROUGH.write_text(page, encoding="utf-8")
        print(f"wrote {WALKTHROUGH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))

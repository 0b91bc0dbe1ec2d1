"""The Python API's pages are current: docs/python.md is what its docstrings make now, and every
block of docs/python-walkthrough.md runs, in order, on a fresh demo and prints what the page
shows (``scripts/make_python_docs.py`` makes both)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from lineage.store.falkordb_server import FalkorServer

from .test_cli import lineage as run

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_python_docs",
                                               ROOT / "scripts" / "make_python_docs.py")
make_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_docs)

FIX = "python scripts/make_python_docs.py"


def test_the_reference_is_current():
    assert make_docs.PAGE.read_text(encoding="utf-8") == make_docs.render(), (
        f"docs/python.md is stale: run `{FIX}`")


def test_the_reference_documents_every_method():
    from lineage.repository import Repository
    page = make_docs.PAGE.read_text(encoding="utf-8")
    public = [name for name in vars(Repository) if not name.startswith("_")]
    assert len(public) >= 20
    assert all(f"### `Repository.{name}`" in page for name in public)


@pytest.fixture
def walkthrough_dir(tmp_path, monkeypatch):
    """An empty directory where ``lineage demo --small --images`` built ``lineage-repo``,
    made the working directory (the page's code names ``lineage-repo`` and ``my-data``)."""
    run(*make_docs.DEMO, cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    FalkorServer(tmp_path / "lineage-repo").stop()
    for option in ("display.width", "display.max_columns"):   # the page sets them
        pd.reset_option(option)


def test_the_walkthrough_runs_and_prints_what_it_shows(walkthrough_dir):
    page = make_docs.WALKTHROUGH.read_text(encoding="utf-8")
    results = make_docs.walkthrough_outputs(page)
    assert len(results) >= 15
    compared = 0
    for code, printed, info, shown in results:
        where = f"the block\n{code}"
        assert (shown is None) == (printed == ""), (
            f"{where}\nprinted {printed!r} but the page shows {shown!r}: run `{FIX} --walkthrough`")
        if info == "text":
            assert printed == shown, f"{where}\nprints\n{printed}\nnot\n{shown}\nrun `{FIX} --walkthrough`"
            compared += 1
        else:
            assert info in (None, make_docs.VARIES), info
    assert compared >= 15
    assert (walkthrough_dir / "my-data" / "manifest.json").is_file()   # it fetched for real

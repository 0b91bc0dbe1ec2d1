"""The explorer draws deleted datasets (tombstones, docs/retention.md) in a real browser
(Debian's Chromium driven by Playwright) over a real ``lineage serve``: greyed, struck
through, "deleted" in the label, and a panel that says when, by whom and why.

The tombstones are made by :func:`tests.tombstones.tombstone` (the stand-in for ``lineage
delete`` until the merge)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from lineage.demo import default_visit
from lineage.store.repo import open_store
from lineage.traversal.graph import group_id
from lineage.traversal.traverse import traverse

from .browser_support import wait_ready
from .conftest import SMALL
from .tombstones import DELETED_AT, tombstone

VISIT = default_visit(SMALL)


@pytest.fixture(scope="module")
def deleted_calexps(demo_repo):
    """The calexps of the default visit, deleted in the module's demo repository."""
    with open_store(demo_repo, keep=True) as store:
        calexps = [r.key for r in traverse(store, f"visit={VISIT}", types=["calexp"])]
        tombstone(store, calexps, by="ops", reason="intermediates of DRP-1",
                  files_removed=True)
    return calexps


def test_a_tombstone_is_drawn_struck_through_and_its_panel_says_deleted(
        page, serve, demo_repo, deleted_calexps, shot):
    base = serve(demo_repo)
    calexps = group_id("dataset", "calexp")
    page.goto(f"{base}/?view=lineage&from=visit%3D{VISIT}&dir=down&depth=2"
              f"&expand={quote(calexps, safe='')}")
    wait_ready(page, "lineage")
    drawn = page.evaluate("Object.fromEntries(window.explorerGraph.nodes().map("
                          "n => [n.id(), n.data()]))")
    marked = {k: n for k, n in drawn.items() if n.get("deleted")}
    assert set(marked) == set(deleted_calexps) & set(drawn) and marked
    assert all(n["deleted"] == DELETED_AT and "(deleted)" in n["label"]
               and "c\u0336a\u0336l\u0336" in n["label"] for n in marked.values())
    live = [n for n in drawn.values() if n.get("datasetType") == "raw"]
    assert live and not any(n.get("deleted") for n in live)
    grey = page.evaluate("id => window.explorerGraph.getElementById(id)"
                         ".style('border-style')", next(iter(marked)))
    assert grey == "dotted"
    assert "deleted greyed, struck through" in page.locator(".legend").inner_text()
    shot(page, "lineage-tombstones")
    page.evaluate("id => window.explorerGraph.getElementById(id).emit('tap')",
                  next(iter(marked)))
    note = page.locator("#panel-deleted")
    note.wait_for()
    assert note.inner_text() == (f"Deleted {DELETED_AT} by ops: intermediates of DRP-1; "
                                 "files removed (forced: live datasets depended on it). "
                                 "Its lineage is kept.")
    shot(page, "panel-tombstone")

"""The lineage explorer at ``/`` in a real browser (Debian's Chromium driven by Playwright)
over a real ``lineage serve``: offline assets, the lineage graph and its groups, a dataset's
panel checked against the GraphQL API, shareable URLs, and clear messages for what does not
exist.  Screenshots go to docs/img/explorer/ when EXPLORER_SCREENSHOTS names it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import quote

import httpx

from lineage.demo import default_visit
from lineage.traversal.graph import group_id

from .browser_support import page_graphql, ready_marks, wait_ready
from .conftest import SMALL

VISIT = default_visit(SMALL)
EXPLORER = Path(__file__).parents[1] / "lineage" / "api" / "explorer"


def _graph(page) -> dict:
    """The drawn graph, from the page's Cytoscape instance: id -> node data."""
    return page.evaluate("Object.fromEntries(window.explorerGraph.nodes().map("
                         "n => [n.id(), n.data()]))")


def _tap(page, node_id: str) -> None:
    page.evaluate("id => window.explorerGraph.getElementById(id).emit('tap')", node_id)


def test_the_page_and_its_assets_come_from_the_server_only(served_demo):
    html = httpx.get(f"{served_demo}/").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/") or a.startswith("data:") for a in assets), assets
    for asset in assets:
        if asset.startswith("/explorer/"):
            assert httpx.get(f"{served_demo}{asset}").status_code == 200, asset
    for script in EXPLORER.glob("*.js"):   # the modules import only each other
        for imported in re.findall(r'from "([^"]+)"', script.read_text()):
            assert imported.startswith("./") and (EXPLORER / imported).exists(), imported
    readme = (EXPLORER / "vendor" / "README.md").read_text()
    for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M):
        assert hashlib.sha256((EXPLORER / "vendor" / name).read_bytes()).hexdigest() == digest
    assert len(re.findall(r"^[0-9a-f]{64}  ", readme, re.M)) == 2


def test_a_visits_downstream_is_drawn_collapsed_as_the_api_answers(page, served_demo, shot):
    page.goto(f"{served_demo}/?view=lineage&from=visit%3D{VISIT}&dir=down")
    wait_ready(page, "lineage")
    answer = page_graphql(page, """query($from: String!) { lineageGraph(from: $from) {
        datasets nodes { id kind count } edges { source target } } }""",
                          {"from": f"visit={VISIT}"})["data"]["lineageGraph"]
    drawn = _graph(page)
    assert set(drawn) == {n["id"] for n in answer["nodes"]}
    assert page.evaluate("window.explorerGraph.edges().length") == len(answer["edges"])
    groups = [n for n in answer["nodes"] if n["kind"] == "group"]
    assert groups and all(drawn[g["id"]]["count"] == g["count"] > 8 for g in groups)
    assert f"{answer['datasets']:,} datasets" in page.locator("#graph-stats").inner_text()
    legend = page.locator(".legend").inner_text()
    assert "forced_src" in legend and "quantum (task)" in legend
    # left to right in processing order: a raw is left of the calexps made from it
    x = page.evaluate("Object.fromEntries(window.explorerGraph.nodes().map("
                      "n => [n.data('datasetType') || n.data('task'), n.position('x')]))")
    assert x["raw"] < x["isr"] < x["calexp"] < x["deepCoadd"]
    shot(page, "lineage-downstream")


def test_a_group_expands_on_click_and_the_url_keeps_it(page, served_demo, shot):
    gid = group_id("dataset", "forced_src")
    page.goto(f"{served_demo}/?view=lineage&from=visit%3D{VISIT}&dir=down")
    wait_ready(page, "lineage")
    count = _graph(page)[gid]["count"]
    _tap(page, gid)
    panel = page.locator("#panel")
    panel.get_by_text(f"{count} datasets of type forced_src").wait_for()
    panel.locator("table tbody tr").first.wait_for()     # the members, from the API
    marks = ready_marks(page)
    panel.locator("#toggle-group").click()
    wait_ready(page, "lineage", since=marks)
    assert f"expand={quote(gid, safe='')}" in page.url
    drawn = _graph(page)
    members = [d for d in drawn.values() if d["kind"] == "dataset"
               and d["datasetType"] == "forced_src"]
    assert len(members) == 40 and drawn[gid]["count"] == count - 40 and drawn[gid]["expanded"]
    shot(page, "lineage-expanded")
    # the same URL, opened anew, draws the same
    page.goto(page.url)
    wait_ready(page, "lineage")
    assert set(_graph(page)) == set(drawn)


def test_a_coadds_panel_shows_what_the_api_knows_of_it(page, served_demo, shot):
    page.goto(f"{served_demo}/")
    coadd = page_graphql(page, """query($v: String!) { lineage(from: $v, types: ["deepCoadd"],
        first: 1) { edges { node { key } } } }""", {"v": f"visit={VISIT}"})
    key = coadd["data"]["lineage"]["edges"][0]["node"]["key"]
    known = page_graphql(page, """query($k: String!) { node(key: $k) { ... on Dataset {
        uuid size checksum dataId producedBy { task host } } } }""", {"k": key})["data"]["node"]
    page.goto(f"{served_demo}/?view=lineage&from={quote(key)}&dir=up&node={quote(key)}")
    wait_ready(page, "lineage")
    panel = page.locator("#panel")
    panel.locator("#panel-uuid").wait_for()
    assert panel.locator("#panel-uuid").inner_text() == known["uuid"]
    assert panel.locator("#panel-checksum").inner_text() == known["checksum"]
    assert f"{int(known['size']):,} bytes" in panel.locator("#panel-size").inner_text()
    text = panel.inner_text()
    assert known["producedBy"]["task"] in text and known["producedBy"]["host"] in text
    shot(page, "dataset-panel")
    # a quantum's panel lists its inputs and outputs
    quantum = next(i for i, d in _graph(page).items() if d["kind"] == "quantum")
    _tap(page, quantum)
    panel.get_by_role("heading", name="Inputs").wait_for()
    assert "Outputs" in panel.inner_text()


def test_what_does_not_exist_is_said_in_the_page(page, served_demo):
    page.goto(f"{served_demo}/?view=lineage&from=visit%3D1&dir=down")
    wait_ready(page, "lineage")
    assert page.locator("main .message.error").inner_text() == \
        "from: no visit '1' in this repository"
    page.goto(f"{served_demo}/?view=node&key=dataset%3A00000000-0000-0000-0000-000000000000")
    wait_ready(page, "node")
    assert "No node" in page.locator("main .message.error").inner_text()
    page.goto(f"{served_demo}/?view=nothing")
    wait_ready(page)
    assert 'There is no view called "nothing"' in page.locator("main .message").inner_text()


def test_a_lineage_of_nothing_but_the_selection_says_so(page, served_demo):
    page.goto(f"{served_demo}/")
    leaf = page_graphql(page, """query($v: String!) { lineage(from: $v, types: ["forced_src"],
        first: 1) { edges { node { key } } } }""", {"v": f"visit={VISIT}"})
    key = leaf["data"]["lineage"]["edges"][0]["node"]["key"]
    page.goto(f"{served_demo}/?view=lineage&from={quote(key)}&dir=down")
    wait_ready(page, "lineage")
    assert page.locator("main .message").inner_text() == f"Nothing was made from {key}."
    assert list(_graph(page)) == [key]
    assert page.evaluate("window.explorerGraph.zoom()") <= 1.25   # one node, not filling the page


def test_a_slower_earlier_panel_never_replaces_a_later_one(page, served_demo):
    gid = group_id("dataset", "forced_src")
    page.goto(f"{served_demo}/?view=lineage&from=visit%3D{VISIT}&dir=down&expand={quote(gid)}")
    wait_ready(page, "lineage")
    dataset = next(i for i, d in _graph(page).items() if d["kind"] == "dataset")
    # a dataset's panel waits for the API, a group's opens at once: the later click's stays
    with page.expect_response(lambda r: "query Dataset(" in (r.request.post_data or "")) as asked, \
            page.expect_response(lambda r: "query Members(" in (r.request.post_data or "")) as members:
        page.evaluate("""([dataset, group]) => { const cy = window.explorerGraph;
            cy.getElementById(dataset).emit('tap'); cy.getElementById(group).emit('tap'); }""",
                      [dataset, gid])
    asked.value.finished()
    members.value.finished()
    page.wait_for_timeout(200)   # both answers handled
    assert "datasets of type forced_src" in page.locator("#panel h2").inner_text()
    # nor opens over the next view
    with page.expect_response(lambda r: "query Dataset(" in (r.request.post_data or "")) as asked:
        page.evaluate("""id => { window.explorerGraph.getElementById(id).emit('tap');
            document.getElementById('flip-direction').click(); }""", dataset)
    asked.value.finished()
    wait_ready(page, "lineage")
    page.wait_for_timeout(200)
    assert "dir=up" in page.url and page.locator("#panel").is_hidden()


def test_search_a_visit_and_open_its_lineage(page, served_demo, shot):
    page.goto(f"{served_demo}/")
    wait_ready(page, "home")
    page.fill("#search-box", str(VISIT))
    page.press("#search-box", "Enter")
    wait_ready(page, "search")
    assert f"q={VISIT}" in page.url
    rows = page.locator("main table tbody tr")
    assert rows.count() >= 1 and "visit" in rows.first.inner_text()
    marks = ready_marks(page)
    rows.first.locator("a", has_text="lineage").click()
    wait_ready(page, "lineage", since=marks)
    assert "view=lineage" in page.url and _graph(page)
    # a data ID with a dataset type: the API's own hits, in the page
    text = "deepCoadd tract=9813,patch=0,band=u"
    page.goto(f"{served_demo}/?view=search&q={quote(text)}")
    wait_ready(page, "search")
    answer = page_graphql(page, "query($t: String!) { search(text: $t, first: 100) "
                                "{ total hits { key dataId } } }", {"t": text})["data"]["search"]
    assert answer["total"] >= 1
    shown = page.locator("main table tbody tr")
    assert shown.count() == len(answer["hits"])
    assert answer["hits"][0]["dataId"] in shown.first.inner_text()
    shot(page, "search")


def test_unknown_and_malformed_search_text_is_said_in_the_page(page, served_demo):
    page.goto(f"{served_demo}/?view=search&q=xyzzy")
    wait_ready(page, "search")
    assert "matches 'xyzzy'" in page.locator("main .message").inner_text()
    page.goto(f"{served_demo}/?view=search&q={quote('tract=abc')}")
    wait_ready(page, "search")
    assert page.locator("main .message.error").inner_text().startswith("text: tract 'abc'")


def test_a_raws_page_shows_the_telemetry_of_its_exposure(page, served_demo):
    page.goto(f"{served_demo}/")
    raw = page_graphql(page, """query($s: String!) { datasets(filter: {datasetType: ["raw"],
        selector: $s}, first: 1) { edges { node { key dataUnits { efdRecords { topic } } } } } }""",
                       {"s": f"exposure={VISIT}"})["data"]["datasets"]["edges"][0]["node"]
    topics = sorted(r["topic"] for u in raw["dataUnits"] for r in u["efdRecords"])
    assert topics
    page.goto(f"{served_demo}/?view=node&key={quote(raw['key'])}")
    wait_ready(page, "node")
    table = page.locator("h3:has-text('Telemetry (EFD)') + table tbody tr td:nth-child(2)")
    assert sorted(table.all_inner_texts()) == topics


def test_the_graph_as_a_table_opens_the_same_panels(page, served_demo):
    page.goto(f"{served_demo}/?view=lineage&from=visit%3D{VISIT}&dir=down")
    wait_ready(page, "lineage")
    drawn = _graph(page)
    page.locator("#graph-table summary").click()
    rows = page.locator("#graph-table tbody tr")
    assert rows.count() == len(drawn)
    first = rows.first.inner_text()
    assert "raw" in first    # left to right: where the data started
    page.keyboard.press("Tab")   # the rows' buttons take the keyboard's focus
    rows.first.get_by_role("button", name="open").press("Enter")
    page.locator("#panel h2").wait_for()
    assert "raw" in page.locator("#panel h2").inner_text()
    assert "node=" in page.url


def test_a_calexp_can_be_fetched_with_its_provenance(page, serve, tmp_path):
    """The panel's second file link gives the FITS file with its provenance cards, as
    ``lineage fetch --with-provenance`` writes them (a demo made by the command line: its
    datastore holds the calexps' files)."""
    import io
    from astropy.io import fits
    from .test_cli import lineage as run
    repo = tmp_path / "repo"
    assert run("demo", "--small", "--repo", str(repo)).returncode == 0
    served_demo = serve(repo)
    page.goto(f"{served_demo}/")
    calexp = page_graphql(page, """query($s: String!) { datasets(filter: {datasetType:
        ["calexp"], selector: $s}, first: 1) { edges { node { key uuid checksum } } } }""",
                          {"s": f"visit={VISIT}"})["data"]["datasets"]["edges"][0]["node"]
    page.goto(f"{served_demo}/?view=node&key={quote(calexp['key'])}")
    wait_ready(page, "node")
    plain = page.locator("#panel-file").get_attribute("href")
    with_prov = page.locator("#panel-file-prov").get_attribute("href")
    assert with_prov == f"{plain}?provenance=true"
    answer = page.request.get(f"{served_demo}{with_prov}" if with_prov.startswith("/") else with_prov)
    assert answer.ok
    header = fits.getheader(io.BytesIO(answer.body()))
    assert header["LSST BUTLER ID"] == calexp["uuid"] and header["LSST LINEAGE TASK"]
    assert hashlib.sha256(page.request.get(
        f"{served_demo}{plain}" if plain.startswith("/") else plain).body()).hexdigest() == \
        calexp["checksum"]

"""The explorer's report pages in a real browser (Chromium driven by Playwright, a real
``lineage serve``): the release diff, a lightcurve and a metric trend, each checked against
the GraphQL API's own answer, followed by a click to the lineage or job, and refused with the
API's message for an unknown collection, object or metric.

The repository is the small demo with its Parquet catalogs (the lightcurve reads them) and
one flagged visit in the middle of the chosen object's lightcurve, written before the server
starts.  Screenshots (``shot``) are named diff, lightcurve and metric for docs/explorer.md.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from lineage import flags as flagging
from lineage.demo import RELEASE_CHANGES, plan_survey
from lineage.demo.catalogs import write_catalogs
from lineage.ingest import write_units
from lineage.store.repo import init_repo, open_store

from .browser_support import page_graphql, ready_marks, wait_ready
from .conftest import SMALL

DR1, DR2 = "DemoCam/DR1", "DemoCam/DR2"
METRIC = "validate_drp.PA1"
READY_MS = 60_000   # the first release diff is computed by the server (a few seconds)
DROPPED = plan_survey(SMALL).visits[RELEASE_CHANGES.dropped_visit_index].id


def _object_with_most_epochs(datastore) -> tuple[int, list[int]]:
    """The DIA object with the most epochs in DR2, read from the catalog files with pandas
    (apart from the code under test), and its visits in time order."""
    files = sorted((datastore / "DemoCam/runs/DR2/dia_source").glob("*.parq"))
    sources = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    chosen = int(sources["diaObjectId"].value_counts().index[0])
    mine = sources[sources["diaObjectId"] == chosen].sort_values("midpointMjdTai")
    return chosen, [int(v) for v in mine["visit"]]


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory, small_units):
    """The small demo with its catalogs in REPO/datastore, the middle visit of the chosen
    object's lightcurve flagged bad, and the visit DR2 dropped flagged too (so DR2's
    products lost a flagged input: "flagged input removed" in the diff).  This module's own
    demo_repo, used by served_demo."""
    from lineage.store.falkordb_server import FalkorServer
    root = tmp_path_factory.mktemp("reports") / "repo"
    init_repo(root)
    write_catalogs(SMALL, small_units, root / "datastore")
    _, visits = _object_with_most_epochs(root / "datastore")
    with open_store(root, keep=True) as store:
        write_units(store, small_units, show_progress=False)
        flagging.flag(store, f"visit={visits[len(visits) // 2]}", "bad", "satellite trail",
                      "jira:DRB-1", "test")
        flagging.flag(store, f"visit={DROPPED}", "bad", "tracking error", "jira:DRB-2", "test")
    yield root
    FalkorServer(root).stop()


@pytest.fixture(scope="module")
def chosen_object(demo_repo):
    return _object_with_most_epochs(demo_repo / "datastore")


def _params(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _api(page, query: str, **variables) -> dict:
    answer = page_graphql(page, query, variables)
    assert "errors" not in answer, answer
    return answer["data"]


def _api_error(page, query: str, **variables) -> str:
    answer = page_graphql(page, query, variables)
    assert answer.get("errors"), answer
    return answer["errors"][0]["message"]


def _number(text: str) -> int:
    return int(text.replace(",", ""))


# --- release diff ------------------------------------------------------------------------------

DIFF = """query($a: String!, $b: String!, $after: String) {
  releaseDiff(a: $a, b: $b, first: 50, after: $after) {
    totals { a b added removed changed unchanged }
    steps { task } visitsDropped
    reasons { datasetType reason products }
    changes { totalCount pageInfo { endCursor } edges { node { dataId a b } } } } }"""


def test_diff_page_matches_the_api_and_pages_its_changes(page, served_demo, shot):
    page.goto(f"{served_demo}/?view=diff&a={DR1}&b={DR2}")
    wait_ready(page, "diff", timeout=READY_MS)
    truth = _api(page, DIFF, a=DR1, b=DR2)["releaseDiff"]
    for status in ("added", "removed", "changed", "unchanged"):
        card = page.locator(f'.card[data-count="{status}"] .big')
        assert _number(card.inner_text()) == truth["totals"][status], status
    assert _number(page.locator(f'.card[data-count="in {DR1}"] .big').inner_text()) \
        == truth["totals"]["a"]
    steps = page.locator("h2:has-text('What changed in the processing') + table tbody tr td:first-child")
    assert steps.all_inner_texts() == [s["task"] for s in truth["steps"]]
    assert truth["visitsDropped"] == [str(DROPPED)]
    reasons = page.locator("h2:has-text('Why products changed') + table tbody tr")
    assert [r.locator("td").all_inner_texts() for r in reasons.all()] == \
        [[r["datasetType"], r["reason"], f"{r['products']:,}"] for r in truth["reasons"]]
    assert any(r["reason"] == "flagged input removed" for r in truth["reasons"])
    total = truth["changes"]["totalCount"]
    assert f"Changes 1\u201350 of {total:,}" in page.inner_text("main")
    rows = page.locator("h2#changes ~ table tbody tr")
    assert rows.count() == 50
    first = truth["changes"]["edges"][0]["node"]
    assert first["dataId"] in rows.first.inner_text()
    shot(page, "diff")

    page.get_by_role("link", name="next page \u00bb").click()
    wait_ready(page, "diff", timeout=READY_MS)
    assert f"Changes 51\u2013100 of {total:,}" in page.inner_text("main")
    second = _api(page, DIFF, a=DR1, b=DR2, after=truth["changes"]["pageInfo"]["endCursor"])
    node = second["releaseDiff"]["changes"]["edges"][0]["node"]
    row = page.locator("h2#changes ~ table tbody tr").first
    assert node["dataId"] in row.inner_text()

    side = "in B" if node["b"] else "in A"
    row.get_by_role("link", name=side).click()
    wait_ready(page, "lineage", timeout=READY_MS)
    assert _params(page.url) == {"view": "lineage", "from": node["b"] or node["a"], "dir": "up"}

    # only the changed products: the API's count of them, and nothing else listed
    page.goto(f"{served_demo}/?view=diff&a={DR1}&b={DR2}")
    wait_ready(page, "diff", timeout=READY_MS)
    marks = ready_marks(page)
    page.select_option("#change-status", "changed")
    wait_ready(page, "diff", timeout=READY_MS, since=marks)
    assert "status=changed" in page.url
    assert f"of {truth['totals']['changed']:,}" in page.inner_text("main")
    badges = page.locator("h2#changes ~ table tbody tr td:first-child").all_inner_texts()
    assert badges and set(badges) == {"changed"}


def test_diff_of_an_unknown_collection_shows_the_api_message(page, served_demo):
    page.goto(f"{served_demo}/?view=diff&a={DR1}&b=DemoCam/DR9")
    wait_ready(page, "diff", timeout=READY_MS)
    expected = _api_error(page, DIFF, a=DR1, b="DemoCam/DR9")
    assert "DemoCam/DR9" in expected
    assert page.get_by_role("alert").inner_text() == expected


# --- lightcurve --------------------------------------------------------------------------------

LIGHTCURVE = """query($object: String!, $collection: String!) {
  lightcurve(object: $object, collection: $collection) {
    epochs { visit flux flags flagged contamination sourceDataset { key } } } }"""


def test_lightcurve_page_marks_flagged_epochs_and_links_each_to_its_lineage(
        page, served_demo, chosen_object, shot):
    obj, visits = chosen_object
    page.goto(f"{served_demo}/?view=lightcurve&object={obj}&collection={DR2}")
    wait_ready(page, "lightcurve", timeout=READY_MS)
    epochs = _api(page, LIGHTCURVE, object=str(obj), collection=DR2)["lightcurve"]["epochs"]
    assert [int(e["visit"]) for e in epochs] == visits
    points = page.locator("svg.plot g.epoch")
    assert points.count() == len(epochs)
    assert [points.nth(i).get_attribute("data-visit") for i in range(len(epochs))] \
        == [e["visit"] for e in epochs]
    rows = page.locator("h2:has-text('Epochs') + table tbody tr")
    for row, epoch in zip(rows.all(), epochs):
        cells = row.locator("td").all_inner_texts()
        assert cells[4] == epoch["visit"] and float(cells[2].replace(",", "")) \
            == pytest.approx(epoch["flux"], rel=1e-3)
        assert ("visit bad" in cells[-2]) == bool(epoch["flags"])
    flagged = [e for e in epochs if e["flags"]]
    assert [int(e["visit"]) for e in flagged] == [visits[len(visits) // 2]]
    contaminated = sum(1 for e in epochs if e["flagged"] or e["contamination"] > 0)
    assert f"{contaminated} contaminated" in page.inner_text("main")
    assert page.locator("svg.plot g.epoch rect").count() == 1   # the flagged visit's square
    shot(page, "lightcurve")

    bad = flagged[0]
    page.locator(f'svg.plot g.epoch[data-visit="{bad["visit"]}"]').click()
    wait_ready(page, "lineage", timeout=READY_MS)
    assert _params(page.url) == {"view": "lineage", "from": bad["sourceDataset"]["key"],
                                 "dir": "up"}
    page.go_back()
    wait_ready(page, "lightcurve", timeout=READY_MS)
    assert page.locator("svg.plot g.epoch").count() == len(epochs)


def test_lightcurve_of_unknown_object_or_collection_shows_the_api_message(
        page, served_demo, chosen_object):
    obj, _ = chosen_object
    for object_id, collection in (("12", DR2), (str(obj), "DemoCam/DR9")):
        page.goto(f"{served_demo}/?view=lightcurve&object={object_id}&collection={collection}")
        wait_ready(page, "lightcurve", timeout=READY_MS)
        expected = _api_error(page, LIGHTCURVE, object=object_id, collection=collection)
        assert page.get_by_role("alert").inner_text() == expected
    assert re.search(r"in none of the \d+ dia_object catalogs|no such collection", expected)


def test_lightcurve_form_says_where_object_ids_are(page, served_demo, chosen_object):
    obj, _ = chosen_object
    page.goto(f"{served_demo}/?view=lightcurve&collection={DR2}")
    wait_ready(page, "lightcurve")
    catalogs = page.locator("main .catalogs a")
    assert catalogs.count() > 0 and "tract=" in catalogs.first.inner_text()
    page.fill("input[name=object]", str(obj))
    page.get_by_role("button", name="Show").click()
    wait_ready(page, "lightcurve", timeout=READY_MS)
    assert _params(page.url) == {"view": "lightcurve", "object": str(obj), "collection": DR2}


# --- metric trend ------------------------------------------------------------------------------

TREND = """query($metric: String!) {
  metricTrend(metric: $metric) {
    unit specifications { spec operator threshold }
    points { value job { key } changes { package } } } }"""


def test_metric_page_draws_specifications_and_software_changes(page, served_demo, shot):
    page.goto(f"{served_demo}/?view=metric&metric={METRIC}")
    wait_ready(page, "metric")
    trend = _api(page, TREND, metric=METRIC)["metricTrend"]
    measured = [p for p in trend["points"] if p["value"] is not None]
    points = page.locator("svg.plot circle.job")
    assert points.count() == len(measured) > 0
    assert {points.nth(i).get_attribute("data-job") for i in range(points.count())} \
        == {p["job"]["key"] for p in measured}
    labels = page.locator("svg.plot g.threshold text").all_text_contents()
    assert labels == [f"{s['spec'].removeprefix('spec:')} {s['operator']} {s['threshold']:g} "
                      f"{trend['unit']}" for s in trend["specifications"]] and labels
    changed = [p for p in trend["points"] if p["changes"]]
    assert page.locator("svg.plot g.software-change").count() == len(changed) > 0
    assert page.locator("h2:has-text('Jobs') + table tbody tr").count() == len(trend["points"])
    # each job's pass or fail is the API's own check of the specification (units converted)
    spec = trend["specifications"][0]["spec"]
    checks = _api(page, """query($m: String!) { metricTrend(metric: $m) { points { job {
        specifications { spec metric passed } } } } }""", m=METRIC)["metricTrend"]["points"]
    want = []
    for p in checks:
        mine = [c["passed"] for c in p["job"]["specifications"]
                if c["metric"] == f"metric:{METRIC}" and c["spec"] == spec]
        want.append("" if not mine or mine[0] is None else "pass" if mine[0] else "fail")
    column = page.locator("h2:has-text('Jobs') + table tbody tr td:last-child").all_inner_texts()
    assert column == want and "pass" in want
    shot(page, "metric")

    job = points.first.get_attribute("data-job")
    points.first.click()
    wait_ready(page, "node")
    assert _params(page.url) == {"view": "node", "key": job}


def test_metric_form_lists_metrics_and_an_unknown_one_shows_the_api_message(page, served_demo):
    page.goto(f"{served_demo}/?view=metric")
    wait_ready(page, "metric")
    assert METRIC in page.locator("main ul").inner_text()
    page.goto(f"{served_demo}/?view=metric&metric=validate_drp.NOPE")
    wait_ready(page, "metric")
    expected = _api_error(page, TREND, metric="validate_drp.NOPE")
    assert "no such metric" in expected
    assert page.get_by_role("alert").inner_text() == expected

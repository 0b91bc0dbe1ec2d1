"""The explorer's flag pages in a real browser (Chromium driven by Playwright) over a real
server: a visit flagged from the page with a flagger token (the dry run first, then the
write), the flag's page with its blast radius by dataset type and by tract and band checked
against the GraphQL API's own numbers, the flagged visit's lineage with its contaminated
nodes, the retraction, and the API's refusals (no token, a reader's token) shown in the
page.  Screenshots: flags, flag-form-dry-run, flag-page."""

from __future__ import annotations

from lineage.api.auth import TokenStore
from lineage.demo import default_visit
from lineage.ingest import write_units
from lineage.store.repo import open_store

from .browser_support import flagger_token, page_graphql, ready_marks, wait_ready
from .conftest import SMALL

RADIUS = """query($id: String!) { flag(id: $id) { active createdAt blastRadius {
  flagged datasets quanta byDatasetType { datasetType count }
  byTractBand { tract band datasets } } } }"""

DRY_RUN = """mutation($selector: String!) {
  flag(input: {selector: $selector, verdict: BAD, reason: "guider failure",
               evidence: "https://jira.example.org/browse/DRB-7", dryRun: true}) {
    blastRadius { datasets } } }"""

UNKNOWN = "00000000-0000-0000-0000-000000000000"


def shown_radius(page, within: str) -> dict:
    """The blast radius a page shows under ``within``: totals, the counts by dataset type and
    the tract x band grid's cells, as the API spells them (a null tract or band as None)."""
    by_type = page.eval_on_selector_all(
        f"{within} #by-dataset-type tbody tr",
        "rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent])")
    cells = page.eval_on_selector_all(
        f"{within} #tract-band td[data-tract]",
        "cells => cells.filter(c => c.textContent).map(c => "
        "[c.dataset.tract, c.dataset.band, c.textContent])")
    number = lambda text: int(text.replace(",", ""))  # noqa: E731
    return {
        "datasets": number(page.inner_text(f"{within} #radius-datasets")),
        "flagged": number(page.inner_text(f"{within} #radius-flagged")),
        "quanta": number(page.inner_text(f"{within} #radius-quanta")),
        "byDatasetType": [{"datasetType": t, "count": number(n)} for t, n in by_type],
        "byTractBand": sorted(((t or None, b or None, number(n)) for t, b, n in cells),
                              key=repr)}


def fit_to_view(page) -> None:
    """Make the window as tall as the view's content (the view scrolls inside the window, so
    a full-page screenshot is only as tall as the window)."""
    height = page.evaluate("document.querySelector('header').offsetHeight"
                           " + document.getElementById('view').scrollHeight")
    page.set_viewport_size({"width": 1280, "height": min(max(height, 800), 2400)})


def api_radius(radius: dict) -> dict:
    return {**radius, "byTractBand": sorted(((c["tract"], c["band"], c["datasets"])
                                             for c in radius["byTractBand"]), key=repr)}


def test_flag_a_visit_from_the_page_see_it_and_retract_it(page, page_watch, serve, repo,
                                                          small_units, shot):
    with open_store(repo, keep=True) as store:
        write_units(store, small_units, show_progress=False)
    base = serve(repo)
    token = flagger_token(repo, "drb-chair")
    _, reader = TokenStore(repo).create("night-assistant", "reader")
    visit = f"visit={default_visit(SMALL)}"

    page.goto(f"{base}/?view=flags")
    wait_ready(page, "flags")
    assert "No active flags." in page.inner_text("main")
    page.click("#flag-something")
    wait_ready(page, "flag-new")
    page.fill("#flag-selector", visit)
    page.fill("#flag-reason-input", "guider failure")
    page.fill("#flag-evidence-input", "https://jira.example.org/browse/DRB-7")

    # without a token: the API's refusal, in the page
    refused = page_graphql(page, DRY_RUN, {"selector": visit})["errors"][0]
    assert refused["extensions"]["code"] == "FORBIDDEN"
    page.click("#dry-run")
    page.wait_for_selector("#flag-result .message.error")
    assert page.inner_text("#flag-result") == f"Refused: {refused['message']}"
    assert page.is_disabled("#flag-it")
    # a token the server does not know: refused (401), the API's reason in the page
    page.fill("#token", "not-a-token")
    page_watch.expect_console_error("401")
    page.click("#dry-run")
    page.wait_for_selector("#flag-result .message.error")
    assert page.inner_text("#flag-result") == "Refused: invalid API token"
    assert page.is_disabled("#flag-it")

    # with a flagger's token: the dry run's blast radius, then the write
    page.fill("#token", token)
    page.click("#dry-run")
    page.wait_for_selector("#flag-result #tract-band")
    dry = shown_radius(page, "#flag-result")
    assert dry["datasets"] == page_graphql(page, DRY_RUN, {"selector": visit}, token)[
        "data"]["flag"]["blastRadius"]["datasets"]
    assert dry["datasets"] > dry["flagged"] > 0 and dry["byTractBand"]
    assert page.locator("#flag-result #most-affected .bar").count() > 0        # most affected, with fractions
    fit_to_view(page)
    shot(page, "flag-form-dry-run")
    assert page.evaluate("sessionStorage.getItem('lineage-token')") == token
    assert token not in page.url
    marks = ready_marks(page)
    page.click("#flag-it")
    wait_ready(page, "flag", since=marks)
    flag_id = page.evaluate("new URLSearchParams(location.search).get('id')")
    assert flag_id.startswith("flag:")

    # the flag's page: its numbers are the API's
    stored = page_graphql(page, RADIUS, {"id": flag_id})["data"]["flag"]
    assert stored["active"]
    shown = shown_radius(page, "main")
    assert shown == api_radius(stored["blastRadius"]) and shown == dry
    assert {"9813"} <= {tract for tract, _, _ in shown["byTractBand"]}
    assert page.inner_text("#flag-reason") == "guider failure"
    assert page.get_attribute("#flag-evidence", "href") == "https://jira.example.org/browse/DRB-7"
    assert "flagged" in page.inner_text("main > table:last-of-type")
    fit_to_view(page)
    shot(page, "flag-page")
    page.set_viewport_size({"width": 1280, "height": 800})

    marks = ready_marks(page)
    page.click("header nav a:has-text('Flags')")
    wait_ready(page, "flags", since=marks)
    assert page.locator(".flag-link").count() == 1 and visit in page.inner_text("main")
    shot(page, "flags", clip={"x": 0, "y": 0, "width": 1280, "height": 320})

    # the flagged visit's lineage marks contaminated nodes
    marks = ready_marks(page)
    page.click(".flag-link")
    wait_ready(page, "flag", since=marks)
    marks = ready_marks(page)
    page.click("text=What was made from")
    wait_ready(page, "lineage", since=marks)
    verdicts = page.evaluate("window.explorerGraph.nodes().map(n => n.data('verdict'))")
    assert verdicts.count("bad") > 0 and set(verdicts) <= {"bad", ""}
    # the coadds made from the visit turned contaminated, with the API's own fractions
    coadds = page.evaluate("window.explorerGraph.nodes('[datasetType = \"deepCoadd\"]')"
                           ".map(n => [n.data('key'), n.data('verdict'), n.data('contamination')])")
    assert coadds
    for key, verdict, mark in coadds:
        assert verdict == "bad" and mark["datasets"] == 1
        known = page_graphql(page, "query($k: String!) { contamination(dataset: $k) "
                                   "{ verdict maxFraction } }", {"k": key})["data"]["contamination"]
        assert (known["verdict"], known["maxFraction"]) == ("bad", mark["maxFraction"])

    # a search for the visit says it is flagged, linked to the flag
    page.goto(f"{base}/?view=search&q={default_visit(SMALL)}")
    wait_ready(page, "search")
    badge = page.locator("main table tbody tr", has_text="visit").locator("a .badge.bad")
    assert badge.inner_text() == "flagged bad"
    page.go_back()
    wait_ready(page, "lineage")

    # retract: a reader's token is refused in the page, the flagger's is not
    marks = ready_marks(page)
    page.go_back()
    wait_ready(page, "flag", since=marks)
    page.fill("#retract-reason", "the guider log was misread")
    page.fill("#token", reader)
    page.click("#retract")
    page.wait_for_selector("#retract-result .message.error")
    assert "has role reader" in page.inner_text("#retract-result")
    page.fill("#token", token)
    marks = ready_marks(page)
    page.click("#retract")
    wait_ready(page, "flag", since=marks)
    page.wait_for_selector("#retracted-badge")
    assert page_graphql(page, RADIUS, {"id": flag_id})["data"]["flag"]["active"] is False
    assert "the guider log was misread" in page.inner_text("main")
    assert page.locator("#retract-form").count() == 0

    marks = ready_marks(page)
    page.click("header nav a:has-text('Flags')")
    wait_ready(page, "flags", since=marks)
    assert "No active flags." in page.inner_text("main")
    marks = ready_marks(page)
    page.check("#show-retracted")
    wait_ready(page, "flags", since=marks)
    assert "retracted=1" in page.url and page.locator(".flag-link").count() == 1

    # as of its creation it was active: the list as of then shows it, its URL says when
    marks = ready_marks(page)
    page.uncheck("#show-retracted")
    wait_ready(page, "flags", since=marks)
    page.fill("#as-of", stored["createdAt"])
    marks = ready_marks(page)
    page.click("#as-of-form button")
    wait_ready(page, "flags", since=marks)
    assert "asOf=" in page.url and page.locator(".flag-link").count() == 1


def test_an_unknown_flag_shows_the_apis_message(page, served_demo):
    page.goto(f"{served_demo}/?view=flag&id={UNKNOWN}")
    wait_ready(page, "flag")
    error = page_graphql(page, RADIUS, {"id": UNKNOWN})["errors"][0]["message"]
    assert page.inner_text("main .message.error") == error
    assert UNKNOWN in error

"""The web pages of ``lineage serve`` in a real browser (Chromium driven by Playwright), over a
real server process: GraphiQL, served offline from the package; and the browser tests' own
fixtures (tests/browser_support.py), which must fail a test that reaches beyond 127.0.0.1 or
whose page throws."""

from __future__ import annotations

import pytest

from lineage.demo import default_visit
from lineage.ingest import write_units
from lineage.store.repo import open_store

from .browser_support import flagger_token, page_graphql, ready_marks, ready_ms, wait_ready
from .conftest import SMALL


def test_graphiql_runs_a_query_offline(page, served_demo, page_watch, shot):
    page.goto(f"{served_demo}/graphql")
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    editor.wait_for(timeout=15_000)
    assert "CoaddsOfVisit" in editor.inner_text()
    with page.expect_response(lambda r: r.url == f"{served_demo}/graphql"
                              and r.request.method == "POST" and "CoaddsOfVisit" in
                              (r.request.post_data or "")) as answer:
        page.locator(".graphiql-execute-button").click()
    assert answer.value.ok and "totalCount" in answer.value.text()
    page.locator(".graphiql-response .CodeMirror", has_text="totalCount").wait_for()
    shot(page, "graphiql")
    assets = [url for url in page_watch.requests if "/graphiql/" in url]
    assert len(assets) == 4, page_watch.requests   # script and styles, from the package


def test_page_watch_catches_errors_and_requests_beyond_loopback(page, served_demo, page_watch):
    page.goto(f"{served_demo}/health")
    page_watch.check()
    with page.expect_event("pageerror"):
        page.evaluate("setTimeout(() => { throw new Error('thrown by the page') }, 0)")
    with page.expect_event("console"):
        page.evaluate("console.error('logged by the page')")
    outside = "http://explorer-test.invalid/asset.js"
    with page.expect_request(outside):
        page.evaluate(f"fetch({outside!r}).catch(() => null)")
    with pytest.raises(AssertionError) as failed:
        page_watch.check()
    message = str(failed.value)
    assert f"request left 127.0.0.1: {outside}" in message
    assert "uncaught: thrown by the page" in message
    assert "console error: logged by the page" in message
    page_watch.requests.clear()   # seen: the fixture's own check at the end must pass
    page_watch.errors.clear()


def test_readiness_contract(page, served_demo):
    """wait_ready and ready_ms on a page that follows the explorer's contract by hand."""
    page.goto(f"{served_demo}/health")
    page.evaluate("""() => {
      document.body.innerHTML = '<main id="view" data-view="search" data-ready="0"></main>';
      setTimeout(() => { document.querySelector('main#view').dataset.ready = '1';
                         performance.mark('explorer:ready'); }, 300); }""")
    wait_ready(page, "search")
    elapsed = ready_ms(page)
    assert elapsed >= 300 and ready_marks(page) == 1
    with pytest.raises(AssertionError, match="did not finish rendering view 'lineage' within "
                       r"0.2 s .*data-view='search', data-ready='1', 1 explorer:ready marks"):
        wait_ready(page, "lineage", timeout=200)
    with pytest.raises(AssertionError, match="within 0.2 s"):
        wait_ready(page, "search", timeout=200, since=1)   # no new render since the last mark


FLAG = """mutation($selector: String!, $dry: Boolean!) {
  flag(input: {selector: $selector, verdict: BAD, reason: "satellite trail",
               evidence: "https://jira.example.org/browse/DRB-42", dryRun: $dry}) {
    flag { key by } blastRadius { flagged datasets } } }"""


def test_a_flagger_token_flags_from_the_page(page, serve, repo, small_units):
    """A repository the test builds, served: the page's flag is refused without a token and
    written with a flagger token made after the server started."""
    with open_store(repo, keep=True) as store:
        write_units(store, small_units, show_progress=False)
    page.goto(f"{serve(repo)}/health")
    visit = {"selector": f"visit={default_visit(SMALL)}", "dry": False}
    refused = page_graphql(page, FLAG, visit)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    token = flagger_token(repo, "drb-chair")
    dry = page_graphql(page, FLAG, {**visit, "dry": True}, token)["data"]["flag"]
    assert dry["flag"] is None and dry["blastRadius"]["datasets"] > dry["blastRadius"]["flagged"] > 0
    done = page_graphql(page, FLAG, visit, token)["data"]["flag"]
    assert done["flag"]["by"] == "drb-chair" and done["blastRadius"] == dry["blastRadius"]

"""Browser tests of the explorer: a real ``lineage serve`` process, Debian's Chromium driven by
Playwright, and the explorer's readiness contract.  ``scripts/bench_explorer.py`` measures
with the same functions.

Fixtures (registered by tests/conftest.py):

* ``served_demo``: the small demo (``demo_repo``) behind a real server (uvicorn in a child
  process, not TestClient): its base URL; one per test module.
* ``serve``: ``serve(repo, *serve_args)`` starts a server over a repository the test built
  (stopped at the end of the test, also when it failed): its base URL.
* ``browser``: one Chromium per test session (``/usr/bin/chromium``; Playwright's own
  browser download cannot work here).  Skipped when it is absent, except in CI, where
  ``.ci/run`` installs it and its absence fails.
* ``page``: a fresh page (its own browser context) whose every request and page error is
  recorded; at the end of the test it fails if a request went anywhere but 127.0.0.1, or
  the page threw an uncaught error or logged a console error (``page_watch`` holds them).
* ``shot``: ``shot(page, name)`` saves a screenshot, into ``$EXPLORER_SCREENSHOTS/<name>.png``
  when that variable names a directory (the docs' pictures: ``EXPLORER_SCREENSHOTS=docs/img/
  explorer``), else into the test's temporary directory.

The readiness contract of the explorer's front end: every view sets ``data-view="<name>"``
and ``data-ready="0"`` on ``<main id="view">`` while it loads, and ``data-ready="1"`` once it
has finished rendering, and then calls ``performance.mark("explorer:ready")``.
:func:`wait_ready` waits for it; :func:`ready_ms` reads the time it took from the browser's
own performance timeline.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from lineage.api.auth import TokenStore
from lineage.api.process import served

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LOOPBACK = "127.0.0.1"
#: Schemes whose requests stay in the page (inline data, its own blobs, blank pages).
LOCAL_SCHEMES = {"data", "blob", "about"}
READY_MARK = "explorer:ready"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def launch_chromium(playwright, home: Path):
    """Debian's Chromium, headless, with ``home`` as its HOME (it writes its settings
    there: the caller's HOME may not be writable)."""
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache")}
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=env)


def flagger_token(repo: Path, name: str = "browser-test") -> str:
    """A new API token of the flagger role for ``repo`` (the text to send as
    ``Authorization: Bearer ...``); a running server honours it from its next request."""
    _, text = TokenStore(Path(repo)).create(name, "flagger")
    return text


_GRAPHQL = """async ([query, variables, token]) => {
  const headers = {"Content-Type": "application/json"};
  if (token) headers["Authorization"] = "Bearer " + token;
  const answer = await fetch("/graphql", {method: "POST", headers,
                                          body: JSON.stringify({query, variables})});
  return await answer.json(); }"""


def page_graphql(page, query: str, variables: dict | None = None, token: str | None = None):
    """The JSON answer to a GraphQL request POSTed by the page itself (its origin, its
    cookies; with ``Authorization: Bearer token`` when given), as the explorer sends them."""
    return page.evaluate(_GRAPHQL, [query, variables or {}, token])


# --- the readiness contract ------------------------------------------------------------------

_VIEW_STATE = """() => { const m = document.querySelector("main#view");
  return m ? {view: m.dataset.view ?? null, ready: m.dataset.ready ?? null,
              marks: performance.getEntriesByName("explorer:ready", "mark").length}
           : null; }"""

_READY = """([view, since]) => { const m = document.querySelector("main#view");
  return !!m && m.dataset.ready === "1" && (view === null || m.dataset.view === view)
    && performance.getEntriesByName("explorer:ready", "mark").length > since; }"""


def ready_marks(page) -> int:
    """How many ``explorer:ready`` marks the page has made: pass it as ``since`` to
    :func:`wait_ready` before a click that re-renders the same view."""
    return page.evaluate(f"performance.getEntriesByName({READY_MARK!r}, 'mark').length")


def wait_ready(page, view: str | None = None, timeout: float = 10_000, since: int = 0) -> None:
    """Wait until ``<main id="view">`` says ``data-ready="1"`` (of ``view`` when given) and
    the page has made more than ``since`` ``explorer:ready`` marks; ``timeout`` in ms.  A
    timeout is an AssertionError that says what the page showed instead."""
    try:
        page.wait_for_function(_READY, arg=[view, since], timeout=timeout)
    except PlaywrightTimeout:
        state = page.evaluate(_VIEW_STATE)
        shown = ("no <main id=\"view\">" if state is None else
                 f"data-view={state['view']!r}, data-ready={state['ready']!r}, "
                 f"{state['marks']} {READY_MARK} marks")
        raise AssertionError(f"the explorer did not finish rendering "
                             f"{'view ' + repr(view) if view else 'its view'} within "
                             f"{timeout / 1000:g} s at {page.url}: {shown}") from None


def ready_ms(page) -> float:
    """Milliseconds from the start of the page's navigation to its last ``explorer:ready``
    mark, from the browser's performance timeline."""
    marks = page.evaluate(f"performance.getEntriesByName({READY_MARK!r}, 'mark')"
                          ".map(m => m.startTime)")
    assert marks, f"{page.url} made no {READY_MARK} mark"
    return marks[-1]


# --- what a page did -------------------------------------------------------------------------

def left_loopback(url: str) -> bool:
    """Whether a request to ``url`` leaves this machine's 127.0.0.1."""
    parts = urlsplit(url)
    return parts.scheme not in LOCAL_SCHEMES and parts.hostname != LOOPBACK


class PageWatch:
    """Every request URL and every error of the pages of one browser context."""

    def __init__(self, context) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.expected: list[str] = []   # console errors a test provokes on purpose
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("page", self.watch)

    def watch(self, page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("console", self.console)
        page.on("websocket", lambda socket: self.requests.append(socket.url))

    def console(self, message) -> None:
        """A console error, except the browser's own request for /favicon.ico (a page that
        names no icon gets it refused with a 404; the page did not ask for it)."""
        where = message.location.get("url") or "?"
        if message.type != "error" or urlsplit(where).path == "/favicon.ico":
            return
        expected = next((e for e in self.expected if e in message.text), None)
        if expected is not None:
            self.expected.remove(expected)   # once each
            return
        self.errors.append(f"console error: {message.text} ({where})")

    def expect_console_error(self, text: str) -> None:
        """The next console error holding ``text`` is the test's own doing (the browser
        logs a refused request, 401, as an error): it does not fail the test."""
        self.expected.append(text)

    def outside(self) -> list[str]:
        return [url for url in self.requests if left_loopback(url)]

    def check(self) -> None:
        """AssertionError naming the requests that left 127.0.0.1 and the page's errors."""
        problems = [f"request left {LOOPBACK}: {url}" for url in self.outside()] + self.errors
        assert not problems, "\n".join(problems)


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served_demo(demo_repo):
    """The base URL of a real ``lineage serve`` over the small demo."""
    with served(demo_repo) as base:
        yield base


@pytest.fixture
def serve():
    """``serve(repo, *serve_args)``: the base URL of a real ``lineage serve`` over ``repo``,
    stopped at the end of the test."""
    with ExitStack() as servers:
        yield lambda repo, *serve_args: servers.enter_context(served(repo, extra_args=serve_args))


@pytest.fixture(scope="module")
def browser():
    """Chromium, for one test module: Playwright's sync API keeps an event loop running
    in the thread while it is open, so a test of another module that calls asyncio.run()
    (the command line does) must not run inside it."""
    if not CHROMIUM.exists():
        if in_ci():
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is absent (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="chromium-home-") as home, \
            sync_playwright() as playwright:
        chromium = launch_chromium(playwright, Path(home))
        yield chromium
        chromium.close()


@pytest.fixture
def page_watch(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    watch = PageWatch(context)
    watch.page = context.new_page()
    yield watch
    try:
        context.close()
    except PlaywrightError:  # a browser that died: the test already failed with it
        pass
    watch.check()


@pytest.fixture
def page(page_watch):
    """A new page; the test fails if it reached beyond 127.0.0.1 or had errors."""
    return page_watch.page


@pytest.fixture
def shot(tmp_path):
    def save(page, name: str, **screenshot_options) -> Path:
        """``page.screenshot`` (``full_page=True``, ``clip=...``) to ``<name>.png``."""
        folder = os.environ.get("EXPLORER_SCREENSHOTS")
        path = (Path(folder) if folder else tmp_path) / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), **screenshot_options)
        return path
    return save

#!/usr/bin/env python
"""Explorer benchmark (issue #21): how long the web explorer takes to draw a lineage graph
in a real browser, measured by the browser itself.

Over the default demo (built into a temporary directory, or ``--repo DIR``: reused when it
exists, built there otherwise), it starts a real ``lineage serve`` on loopback and Debian's
Chromium (driven by Playwright, as the browser tests do: tests/browser_support.py), then
``--repeats`` times, each in a new browser context (an empty cache), opens

* **downstream of a visit** (target 1 s): ``/?view=lineage&from=visit%3DV&dir=down``, V the
  demo's example visit (``lineage.demo.default_visit``) or ``--visit``;
* **the largest upstream, collapsed** (target 2 s): ``/?view=lineage&from=KEY&dir=up``, KEY
  the dataset with the most datasets upstream among the release outputs (the datasets of
  the dataset types nothing reads, of tract level, in the demo's release runs; counted with
  ``lineage.traversal.traverse.count``: 4,004 datasets in the default demo), or
  ``--upstream-from SELECTOR``;
* **the largest upstream of a data unit, collapsed** (target 2 s): the tract with the most
  datasets upstream (``tract=9813``: 12,484 datasets in the default demo, the issue's
  "10,000-dataset upstream"), ``/?view=lineage&from=tract%3DT&dir=up``.

The time of one visit is :func:`ready_ms`: from the start of the navigation to the view's
last ``explorer:ready`` mark (the explorer's readiness contract: the first meaningful
paint).  For each view it also reports the GraphQL requests the page sent, their time to
first byte in the browser's resource timing (the server's time plus loopback), and the
same requests replayed from here (``--replays`` times each, httpx) for the server alone.
Prints a table (median, min, max, target) and, with ``--json FILE``, writes the numbers.
A view that does not render within ``--timeout`` seconds is reported as such (the front
end is missing or broken) and the script exits 1.

    python scripts/bench_explorer.py --repo /tmp/exdemo --repeats 5 --json explorer.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's package (and its tests' browser support)

from lineage.api.process import serving  # noqa: E402
from lineage.core.dataid import DataId  # noqa: E402
from lineage.core.model import collection_key  # noqa: E402
from lineage.demo import SurveySpec, default_visit, release_runs  # noqa: E402
from lineage.preflight.queries import datasets_of_types_in  # noqa: E402
from lineage.store.falkordb_server import FalkorServer  # noqa: E402
from lineage.store.repo import open_store  # noqa: E402
from lineage.traversal.traverse import UP, count, type_graph  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from tests.browser_support import CHROMIUM, launch_chromium, ready_ms, wait_ready  # noqa: E402

#: The GraphQL requests of a view, from the browser's resource timing: when each started
#: (ms from navigation start), its time to first byte and its end.
_GRAPHQL_TIMING = """() => performance.getEntriesByType("resource")
  .filter(e => new URL(e.name).pathname === "/graphql")
  .map(e => ({start: e.startTime, ttfb: e.responseStart - e.requestStart, end: e.responseEnd}))"""


@dataclass
class Upstream:
    """The dataset with the largest upstream among the release outputs."""

    key: str
    dataset_type: str
    data_id: str
    run: str
    datasets: int


@dataclass
class Scenario:
    name: str
    path: str
    target_ms: float
    ready_ms: list[float] = field(default_factory=list)
    graphql_requests: int = 0
    graphql_ttfb_ms: list[float] = field(default_factory=list)   # per visit: the view's sum
    server_ms: list[float] = field(default_factory=list)         # per replay: the view's sum
    bodies: list[str] = field(default_factory=list)              # the view's GraphQL requests
    error: str | None = None

    def summary(self, values: list[float]) -> dict:
        if not values:
            return {}
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def build_demo(repo: Path) -> None:
    """``lineage demo`` (the default size) into ``repo``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LINEAGE_NO_PROGRESS": "1"}
    print(f"building the default demo into {repo} ...", flush=True)
    subprocess.run([sys.executable, "-m", "lineage.cli", "demo", "--repo", str(repo)],
                   check=True, capture_output=True, text=True, env=env)


def largest_upstream(store, spec: SurveySpec) -> Upstream:
    """The tract-level release output with the most datasets upstream."""
    types = type_graph(store)
    outputs = sorted(t for t in types if types.out_degree(t) == 0)
    runs = [collection_key(release_runs(release)) for release in spec.releases]
    candidates = [d for d in datasets_of_types_in(store, runs, outputs)
                  if "visit=" not in d.data_id]
    sizes = [(sum(count(store, d.key, UP).values()), d.key) for d in candidates]
    datasets, key = max(sizes)
    best = next(d for d in candidates if d.key == key)
    return Upstream(key, best.dataset_type, best.data_id, best.run, datasets)


def largest_tract_upstream(store, spec: SurveySpec) -> tuple[str, int]:
    """(selector, datasets) of the tract with the most datasets upstream: every output of
    the tract and what it was made from."""
    types = type_graph(store)
    outputs = sorted(t for t in types if types.out_degree(t) == 0)
    runs = [collection_key(release_runs(release)) for release in spec.releases]
    tracts = {DataId.parse(d.data_id)["tract"] for d in datasets_of_types_in(store, runs, outputs)
              if "tract=" in d.data_id}
    sizes = [(sum(count(store, f"tract={t}", UP).values()), f"tract={t}") for t in tracts]
    datasets, selector = max(sizes)
    return selector, datasets


def visit_view(browser, base: str, scenario: Scenario, timeout_s: float) -> None:
    """One visit of a view in a new browser context: its ready time and GraphQL timings."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        bodies = []

        def keep_graphql(request) -> None:
            if request.method == "POST" and request.url == f"{base}/graphql":
                bodies.append(request.post_data)
        page.on("request", keep_graphql)
        answer = page.goto(base + scenario.path)
        assert answer.ok, f"GET {scenario.path} answered {answer.status}"
        wait_ready(page, "lineage", timeout=timeout_s * 1000)
        scenario.ready_ms.append(ready_ms(page))
        timings = page.evaluate(_GRAPHQL_TIMING)
        scenario.graphql_requests = len(timings)
        scenario.graphql_ttfb_ms.append(sum(t["ttfb"] for t in timings))
        scenario.bodies = scenario.bodies or bodies
    finally:
        context.close()


def replay(base: str, scenario: Scenario, times: int) -> None:
    """The view's GraphQL requests sent again from here: the server's time for the view."""
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(times):
            started = time.perf_counter()
            for body in scenario.bodies:
                answer = client.post("/graphql", content=body,
                                     headers={"Content-Type": "application/json"})
                answer.raise_for_status()
            scenario.server_ms.append((time.perf_counter() - started) * 1000)


def table(scenarios: list[Scenario]) -> str:
    rows = [("view", "median ms", "min ms", "max ms", "target ms", "met", "GraphQL",
             "TTFB ms", "server ms")]
    for s in scenarios:
        ready = s.summary(s.ready_ms)
        if not ready:
            rows.append((s.name, "-", "-", "-", f"{s.target_ms:.0f}", "no", "-", "-", "-"))
            continue
        ttfb = s.summary(s.graphql_ttfb_ms).get("median")
        server = s.summary(s.server_ms).get("median")
        rows.append((s.name, f"{ready['median']:.0f}", f"{ready['min']:.0f}",
                     f"{ready['max']:.0f}", f"{s.target_ms:.0f}",
                     "yes" if ready["median"] <= s.target_ms else "no", str(s.graphql_requests),
                     "-" if ttfb is None else f"{ttfb:.0f}",
                     "-" if server is None else f"{server:.0f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, help="The default demo: reused when it exists, "
                    "else built there (default: a temporary directory, removed at the end).")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--visit", type=int, help="The visit of the downstream view "
                    "(default: the demo's example visit).")
    ap.add_argument("--upstream-from", help="The selector of the upstream view (default: the "
                    "release output with the largest upstream).")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="Seconds a view may take to render before it counts as failed.")
    ap.add_argument("--replays", type=int, default=5,
                    help="Times each view's GraphQL requests are sent again from here.")
    ap.add_argument("--checkout", type=Path, default=ROOT,
                    help="The checkout whose lineage package serves (default: this one).")
    ap.add_argument("--json", type=Path, help="Write the results here too.")
    args = ap.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 1

    spec = SurveySpec()
    scratch = Path(tempfile.mkdtemp(prefix="bench-explorer-"))
    repo = args.repo or scratch / "repo"
    try:
        if not (repo / "lineage.json").exists():
            build_demo(repo)
        upstream = None
        if args.upstream_from:
            upstream_from = args.upstream_from
        else:
            started = time.perf_counter()
            with open_store(repo) as store:
                upstream = largest_upstream(store, spec)
            upstream_from = upstream.key
            print(f"largest upstream: {upstream.dataset_type} {upstream.data_id} "
                  f"({upstream.run}), {upstream.datasets:,} datasets "
                  f"(found in {time.perf_counter() - started:.1f} s)")
        with open_store(repo) as store:
            tract, tract_datasets = largest_tract_upstream(store, spec)
        print(f"largest upstream of a tract: {tract}, {tract_datasets:,} datasets")
        visit = args.visit or default_visit(spec)
        scenarios = [
            Scenario(f"downstream of visit {visit}",
                     f"/?view=lineage&from={quote(f'visit={visit}', safe='')}&dir=down", 1000),
            Scenario(f"upstream of {upstream.dataset_type} {upstream.data_id}" if upstream
                     else f"upstream of {upstream_from}",
                     f"/?view=lineage&from={quote(upstream_from, safe='')}&dir=up", 2000),
            Scenario(f"upstream of {tract} ({tract_datasets:,} datasets)",
                     f"/?view=lineage&from={quote(tract, safe='')}&dir=up", 2000),
        ]
        with serving(repo, package_root=args.checkout) as (base, _), \
                sync_playwright() as playwright:
            browser = launch_chromium(playwright, scratch)
            chromium = browser.version
            for repeat in range(args.repeats):
                for scenario in scenarios:
                    if scenario.error:
                        continue
                    try:
                        visit_view(browser, base, scenario, args.timeout)
                    except AssertionError as exc:   # no page, or not rendered in time
                        scenario.error = str(exc)
                        print(f"{scenario.name} failed: {exc} (the explorer's front end, "
                              "lineage/api/explorer, is missing or broken)", file=sys.stderr)
                print(f"repeat {repeat + 1}/{args.repeats}: " + ", ".join(
                    f"{s.ready_ms[-1]:.0f} ms" if s.ready_ms and not s.error else "failed"
                    for s in scenarios), flush=True)
            browser.close()
            for scenario in scenarios:
                if scenario.bodies:
                    replay(base, scenario, args.replays)
        print(f"\n{args.repeats} visits of each view, a new browser context each "
              f"(Chromium {chromium}; {platform.node()}, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f}):")
        print(table(scenarios))
        if args.json:
            results = {"machine": f"{platform.platform()}, {os.cpu_count()} CPUs, "
                                  f"Python {platform.python_version()}",
                       "chromium": chromium, "repo": str(repo), "repeats": args.repeats,
                       "upstream": asdict(upstream) if upstream else None,
                       "views": [{**{k: v for k, v in asdict(s).items() if k != "bodies"},
                                  "ready": s.summary(s.ready_ms),
                                  "server": s.summary(s.server_ms)} for s in scenarios]}
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return 1 if any(s.error for s in scenarios) else 0
    finally:
        if args.repo is None and (repo / "lineage.json").exists():
            FalkorServer(repo).stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""Release diffs on the small demo survey (every engine).

The truth comes from the generator, apart from the code under test: the
known differences of ``RELEASE_CHANGES`` (dropped visit, new software for
one step, changed config, added band) and, for the full list of products,
the ingest units themselves read as plain dicts (which product of each RUN
was made from what, with which software and config).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections import defaultdict

import pytest

from lineage.core.errors import UnknownName
from lineage.demo import (CONFIGS, RELEASE_CHANGES, SOFTWARE, plan_survey, release_runs)
from lineage.diff import DiffFilter, Tolerance, diff_releases
from lineage.ingest import write_units
from lineage.core.model import Rel

from .cli_runner import run
from .conftest import ENGINES, SMALL, EngineFactory

DR1, DR2 = "DemoCam/DR1", "DemoCam/DR2"
CH = RELEASE_CHANGES


@pytest.fixture(scope="module", params=ENGINES)
def demo_store(request, small_units, tmp_path_factory):
    factory = EngineFactory(request.param, request, tmp_path_factory)
    store = factory.new()
    write_units(store, small_units, show_progress=False)
    yield store
    factory.close()


# --- the truth, from the generator -----------------------------------------------------

def _bands():
    return {str(v.id): v.band for v in plan_survey(SMALL).visits}


def _band(data_id: str) -> str | None:
    d = dict(p.split("=", 1) for p in data_id.split(","))
    return d.get("band") or _bands().get(d.get("visit") or d.get("exposure"))


def _visit(data_id: str) -> str | None:
    d = dict(p.split("=", 1) for p in data_id.split(","))
    return d.get("visit") or d.get("exposure")


class Truth:
    """Products of each release RUN, from the ingest units: what made them."""

    def __init__(self, units) -> None:
        self.props, producer = {}, {}
        self.inputs, software, config = defaultdict(set), {}, {}
        for u in units:
            self.props.update(u.nodes)
            for (rel, src, dst) in u.edges:
                if rel == Rel.PRODUCED:
                    producer[dst] = src
                elif rel == Rel.INPUT_TO:
                    self.inputs[dst].add(src)
                elif rel == Rel.RAN_WITH:
                    software[src] = dst
                elif rel == Rel.CONFIGURED_BY:
                    config[src] = dst
        self.producer, self.software, self.config = producer, software, config

    def ident(self, key):
        p = self.props[key]
        return p["dataset_type"], p["data_id"]

    def products(self, release):
        run = release_runs(release)
        return {self.ident(k): k for k, p in self.props.items()
                if k.startswith("dataset:") and p.get("run") == run}

    def made(self, key):
        q = self.producer[key]
        return ({self.ident(i) for i in self.inputs[q]}, self.software[q], self.config[q])

    def expected(self):
        a, b = self.products("DR1"), self.products("DR2")
        common = set(a) & set(b)
        memo = {}

        def changed(ident):
            if ident not in memo:
                direct = self.made(a[ident]) != self.made(b[ident])
                memo[ident] = direct or any(changed(i) for i in self.made(b[ident])[0]
                                            if i in common)
            return memo[ident]
        return (set(b) - set(a), set(a) - set(b), {i for i in common if changed(i)})


@pytest.fixture(scope="module")
def truth(small_units):
    return Truth(small_units)


def _run(store, *args, **kw):
    records = []
    result = diff_releases(store, *args, sink=records.append, **kw)
    return result, records


# --- tests ------------------------------------------------------------------------------

def test_diff_reports_exactly_the_known_changes(demo_store, truth):
    result, records = _run(demo_store, DR1, DR2)
    by_status = defaultdict(set)
    for r in records:
        by_status[r["status"]].add((r["dataset_type"], r["data_id"]))
    added, removed, changed = truth.expected()
    assert by_status["added"] == added and by_status["removed"] == removed
    assert by_status["changed"] == changed
    summary = result.summary()
    # raws and calibrations are the same datasets in both releases: nothing else differs
    totals = summary["totals"]
    assert (totals["added"], totals["removed"], totals["changed"]) == \
        (len(added), len(removed), len(changed))
    assert "changed" not in summary["by_type"]["raw"] and "changed" not in summary["by_type"]["flat"]

    # the added band, the dropped visit
    survey = plan_survey(SMALL)
    dropped = str(survey.visits[CH.dropped_visit_index].id)
    y_visits = sorted(str(v.id) for v in survey.visits if v.band == CH.added_band and v.detectors)
    assert summary["visits"]["dropped"] == [dropped]
    assert summary["visits"]["added"] == y_visits
    assert added and all(_band(d) == CH.added_band for _, d in added)
    assert removed and all(_visit(d) == dropped for _, d in removed)

    # exactly one step with new software, naming exactly the packages that differ
    steps = {s["task"]: s for s in summary["steps"]}
    with_software = {t for t, s in steps.items() if s["software"]}
    assert with_software == {CH.new_software_step}
    old, new = SOFTWARE["w.2026.10"], SOFTWARE[CH.new_software]
    packages = steps[CH.new_software_step]["software"][0]["packages"]
    assert packages == {k: [old[k], new[k]] for k in old if old[k] != new[k]}
    # exactly one step with a changed config, naming exactly the changed keys
    with_config = {t for t, s in steps.items() if s["config"]}
    assert with_config == {CH.changed_config_step}
    keys = steps[CH.changed_config_step]["config"][0]["keys"]
    assert keys == {k: [CONFIGS[CH.changed_config_step][k], v]
                    for k, v in CH.changed_config.items()}

    # ARCH5: coadds whose inputs changed lost exactly the dropped visit, gained nothing
    coadds = [r for r in records if r["dataset_type"] == "deepCoadd" and "inputs" in r]
    assert coadds
    for r in coadds:
        assert r["inputs"]["visits_dropped"] == [dropped] and r["inputs"]["visits_added"] == []
    # every coadd of DR1 that used the dropped visit is among them
    used = {d for (t, d), k in truth.products("DR1").items() if t == "deepCoadd"
            and any(_visit(i[1]) == dropped for i in truth.made(k)[0])}
    assert {r["data_id"] for r in coadds} == used

    # every change of a changed product is one of the known ones (or follows from one)
    own_software = {r["software"]["task"] for r in records if "software" in r}
    own_config = {r["config"]["task"] for r in records if "config" in r}
    assert own_software == {CH.new_software_step} and own_config == {CH.changed_config_step}
    for r in records:
        if "inputs" in r:
            for item in r["inputs"]["added"]:
                assert _band(item.split(" ", 1)[1]) == CH.added_band
            for item in r["inputs"]["removed"]:
                assert _visit(item.split(" ", 1)[1]) == dropped or \
                    _band(item.split(" ", 1)[1]) == CH.added_band
        assert "flags" not in r


def test_filters(demo_store, truth):
    _, records = _run(demo_store, DR1, DR2, DiffFilter.make(types=["deepCoadd"], bands=["g"]))
    added, removed, changed = truth.expected()
    want = {i for i in changed if i[0] == "deepCoadd" and _band(i[1]) == "g"}
    assert {(r["dataset_type"], r["data_id"]) for r in records} == want
    _, records = _run(demo_store, DR1, DR2, DiffFilter.make(where="patch=4,band=y"))
    assert records and all(r["status"] == "added" and "patch=4" in r["data_id"]
                           for r in records)
    # the release's own name works as well as the collection's
    result, _ = _run(demo_store, "DR1", "DR2", DiffFilter.make(types=["calexp"]))
    assert result.a.name == DR1 and result.b.name == DR2


def test_statistics_and_tolerance(demo_store):
    result, _ = _run(demo_store, DR1, DR2, DiffFilter.make(types=["raw"]),
                     tolerance=Tolerance.parse(["validate_drp.PA1=100", "1e-9%"]))
    metrics = {m.name: m for m in result.metrics}
    pa1 = metrics["validate_drp.PA1"]
    assert pa1.a.n == SMALL.tracts and pa1.b.n == SMALL.tracts and pa1.unit == "mmag"
    assert pa1.equivalent is True and pa1.tolerance == "100"
    assert pa1.shift == pytest.approx(pa1.b.median - pa1.a.median)
    props = {c["name"]: c for c in result.summary()["properties"]}
    raw = props["raw.size"]     # the same datasets in both releases: identical distributions
    assert raw["equivalent"] is True and raw["ks"] == 0.0 and raw["a"] == raw["b"]


def test_every_table_follows_the_filter(demo_store, truth):
    """A filter applies to every table: no all-zero rows for the types read only to reach
    the filtered ones, the steps table counts the filtered products only, and metrics of
    jobs about another band are left out (the demo's jobs measured band r)."""
    from lineage.diff.report import sections
    result, _ = _run(demo_store, DR1, DR2, DiffFilter.make(types=["deepCoadd"], bands=["g"]))
    summary = result.summary()
    assert list(summary["by_type"]) == ["deepCoadd"]
    g_coadds = {i for i in truth.products("DR2") if i[0] == "deepCoadd" and _band(i[1]) == "g"}
    assert [(s["task"], s["products_compared"]) for s in summary["steps"]] == \
        [("assembleCoadd", len(g_coadds & set(truth.products("DR1"))))]
    assert summary["metrics"] == []
    for section in sections(summary, None):
        if section["title"] in ("By dataset type", "By tract and band"):
            assert section["rows"] and all(any(row[-6:]) for row in section["rows"])
    r_band, _ = _run(demo_store, DR1, DR2, DiffFilter.make(types=["deepCoadd"], bands=["r"]))
    assert {m.name for m in r_band.metrics} == {m.name for m in
                                                 _run(demo_store, DR1, DR2)[0].metrics}
    other_tract, _ = _run(demo_store, DR1, DR2, DiffFilter.make(tracts=["9813"]))
    assert {m.a.n for m in other_tract.metrics} == {1}   # one job a release measured 9813


def test_two_sample_tests_are_scipys_and_tiny_samples_are_marked(demo_store):
    """p-values are scipy's own on the same values; a comparison on fewer than
    TINY_SAMPLE values a side says so in the JSON, the tables and the HTML."""
    from scipy import stats as scipy_stats

    from lineage.diff.report import TINY_SAMPLE_NOTE, html, sections
    from lineage.diff.stats import TINY_SAMPLE
    result, _ = _run(demo_store, DR1, DR2, DiffFilter.make(types=["calexp"]))
    assert result.metrics
    for m in result.metrics:
        ks = scipy_stats.ks_2samp(m.values_a, m.values_b)
        mw = scipy_stats.mannwhitneyu(m.values_a, m.values_b, alternative="two-sided")
        assert m.tests.ks == ks.statistic and m.tests.ks_p == ks.pvalue
        assert m.tests.mann_whitney_p == mw.pvalue
        assert m.tiny_sample == (min(len(m.values_a), len(m.values_b)) < TINY_SAMPLE)
    summary = result.summary()
    pa1 = next(c for c in summary["metrics"] if c["name"] == "validate_drp.PA1")
    assert pa1["tiny_sample"] is True and pa1["ks_p"] is not None
    calexp = next(c for c in summary["properties"] if c["name"] == "calexp.size")
    assert calexp["tiny_sample"] is False and 0 <= calexp["mann_whitney_p"] <= 1
    tables = {s["title"]: s for s in sections(summary, None)}
    metric_rows = {row[0]: row for row in tables["Metrics"]["rows"]}
    assert metric_rows["validate_drp.PA1"][-1] == TINY_SAMPLE_NOTE
    assert metric_rows["validate_drp.PA1"][6] == f"{pa1['ks']:.3g} ({pa1['ks_p']:.3g})"
    assert metric_rows["validate_drp.PA1"][7] == f"{pa1['mann_whitney_p']:.3g}"
    assert any("tiny sample" in line for line in tables["Metrics"]["lines"])
    assert tables["Dataset properties"]["rows"][0][-1] == ""
    page = html(result)
    assert f'<td class="warn">{TINY_SAMPLE_NOTE}</td>' in page and "Mann-Whitney" in page


def test_sky_figure_keys_patches_by_sky_map(demo_store):
    """The sky picture draws each sky map on its own rows (the same tract and patch
    numbers in another sky map are other places), and leaves out a kind of difference no
    patch has."""
    import matplotlib.pyplot as plt

    from lineage.diff.figures import sky_figure
    from lineage.diff.report import patch_bounds
    result, _ = _run(demo_store, DR1, DR2, DiffFilter.make(types=["deepCoadd"], bands=["r"]))
    bounds = patch_bounds(demo_store)
    assert {k[0] for k in result.by_patch} == {k[0] for k in bounds} == {"demo_rings"}
    # a second sky map with the same tract and patch numbers elsewhere on the sky
    by_patch = dict(result.by_patch)
    by_patch.update({("other", t, p, b): {"unchanged": 3, "inputs": 1, "changed": 1}
                     for (_, t, p, b) in result.by_patch})
    bounds.update({("other", t, p): (r0 + 90, r1 + 90, d0 - 30, d1 - 30)
                   for (_, t, p), (r0, r1, d0, d1) in bounds.items()})
    fig = sky_figure(by_patch, bounds)
    try:
        labels = [ax.get_ylabel().split("\n")[:2] for ax in fig.axes if ax.get_ylabel()
                  and "Dec" in ax.get_ylabel()]
        # demo_rings: the r coadds changed config only, so no "inputs differ" row
        assert labels == [["demo_rings:", "any difference"], ["other:", "any difference"],
                          ["other:", "inputs differ"]]
        panels = [ax for ax in fig.axes if ax.patches]
        assert {round(ax.get_xlim()[0]) for ax in panels} == \
            {round(max(b[1] for k, b in bounds.items() if k[0] == m)) for m in ("demo_rings",
                                                                               "other")}
        titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
        assert titles == ["band r"]     # one column title, not one per row
    finally:
        plt.close(fig)


def test_interpreter_settings_are_put_back(demo_store):
    """A diff turns the cyclic collector off and shortens the thread switch interval while
    it runs (lineage/core/bulk.py: bulk_work); both come back after it, nested or failed."""
    import gc
    from lineage.core.bulk import bulk_work
    before = (gc.isenabled(), sys.getswitchinterval())
    _run(demo_store, DR1, DR2, DiffFilter.make(types=["calexp"]))
    assert (gc.isenabled(), sys.getswitchinterval()) == before
    with pytest.raises(RuntimeError):
        with bulk_work():
            with bulk_work():
                assert not gc.isenabled() and sys.getswitchinterval() < before[1]
            assert not gc.isenabled()   # the outer diff still runs
            raise RuntimeError("a diff that fails")
    assert (gc.isenabled(), sys.getswitchinterval()) == before


def test_unknown_release_is_named(demo_store):
    with pytest.raises(UnknownName, match="no release or collection 'DemoCam/DR9'; "
                                          "did you mean DemoCam/DR"):
        diff_releases(demo_store, DR1, "DemoCam/DR9")
    with pytest.raises(UnknownName, match="'nosuchType': no such dataset type"):
        diff_releases(demo_store, DR1, DR2, DiffFilter.make(types=["nosuchType"]))


def test_explain_one_product(demo_store):
    from lineage.diff.product import explain_product
    survey = plan_survey(SMALL)
    dropped = str(survey.visits[CH.dropped_visit_index].id)
    _, records = _run(demo_store, DR1, DR2, DiffFilter.make(types=["deepCoadd"]))
    target = next(r for r in records if "inputs" in r)
    sel = ",".join(p for p in target["data_id"].split(",") if not p.startswith("skymap"))
    answer = explain_product(demo_store, DR1, DR2, sel, "deepCoadd")
    assert answer["dataset_type"] == "deepCoadd" and answer["data_id"] == target["data_id"]
    assert answer["a"]["key"] == target["a"] and answer["b"]["key"] == target["b"]
    assert set(answer["inputs"]["only_a"]) and not answer["inputs"]["only_b"]
    assert all(_visit(i.split(" ", 1)[1]) == dropped for i in answer["inputs"]["only_a"])
    first = answer["first_divergence"]
    # the most upstream difference: the calibrate step with its new software
    assert first["task"] == CH.new_software_step and "software" in first["changes"]


def test_flags_that_differ(demo_store, truth):
    """Flag one calexp of DR2 only: its products downstream differ by that flag (last: writes)."""
    from lineage import flags as flagging
    dr2 = truth.products("DR2")
    common = set(truth.products("DR1")) & set(dr2)
    ident = sorted(i for i in common if i[0] == "calexp")[0]
    uuid = dr2[ident].split(":", 1)[1]
    report = flagging.flag(demo_store, uuid, "bad", "cosmic ray storm", "jira:DRB-2", "test")
    _, records = _run(demo_store, DR1, DR2, DiffFilter.make(types=["calexp", "deepCoadd_directWarp"]))
    flagged = {(r["dataset_type"], r["data_id"]) for r in records if "flags" in r}
    warps = {truth.ident(k) for k, q in truth.producer.items()
             if k in truth.props and dr2[ident] in truth.inputs[q]
             and truth.props[k]["dataset_type"] == "deepCoadd_directWarp"}
    assert flagged == {ident} | warps
    assert all(r["flags"] == {"added": [report["flag"]], "removed": []}
               for r in records if "flags" in r)


def test_graphql_pages_come_from_the_spooled_answer(demo_store, truth):
    """releaseDiff pages: one diff per (releases, filter) while the graph stays as it was;
    the pages are exactly the diff's records in its order; a new flag (the graph changed),
    an expired answer and another filter each make a new diff (last: writes)."""
    from lineage import flags as flagging
    from lineage.api.diff import DiffSpools, _change, release_diff
    flt, tol = DiffFilter.make(types=["calexp", "deepCoadd_directWarp"]), Tolerance.parse()
    _, records = _run(demo_store, DR1, DR2, flt)
    want = [_change(r) for r in records]
    spools = DiffSpools()
    pages, start = [], 0
    while True:
        answer = release_diff(demo_store, DR1, DR2, flt, tol, 7, start, spools)
        page = answer["changes"]
        pages += [item["node"] for item in page.items]
        assert page.total == len(want) and [i["key"] for i in page.items] == \
            [str(k) for k in range(start, start + len(page.items))]
        start += 7
        if not page.has_next:
            break
    assert pages == want and spools.computed == 1
    assert answer["totals"]["changed"] == sum(r["status"] == "changed" for r in records)
    release_diff(demo_store, DR1, DR2, DiffFilter.make(types=["calexp"]), tol, 5, 0, spools)
    assert spools.computed == 2
    # the graph changes: a DR2 calexp flagged; the next page is a new answer with the flag
    dr2 = truth.products("DR2")
    ident = sorted(i for i in set(truth.products("DR1")) & set(dr2) if i[0] == "calexp")[1]
    flagging.flag(demo_store, dr2[ident].split(":", 1)[1], "bad", "satellite trail",
                  "jira:DRB-3", "test")
    answer = release_diff(demo_store, DR1, DR2, flt, tol, 1000, 0, spools)
    assert spools.computed == 3
    nodes = [item["node"] for item in answer["changes"].items]
    assert any(n["flags_added"] and n["data_id"] == ident[1] for n in nodes)
    spools.ttl = 0.0     # an answer older than the TTL is made again
    release_diff(demo_store, DR1, DR2, flt, tol, 5, 0, spools)
    assert spools.computed == 4
    # only the changes of some statuses (the explorer's "show"): the counts stay whole
    spools.ttl = 600.0
    every = release_diff(demo_store, DR1, DR2, flt, tol, 1000, 0, spools)
    added = release_diff(demo_store, DR1, DR2, flt, tol, 1000, 0, spools,
                         frozenset({"added"}))
    assert [i["node"] for i in added["changes"].items] == \
        [i["node"] for i in every["changes"].items if i["node"]["status"] == "added"]
    assert added["changes"].total == added["totals"]["added"] > 0
    assert added["totals"] == every["totals"]
    spools.close()


def test_property_statistics_take_numbers_only(demo_store, truth):
    """Floats count with their values, numeric-looking strings and booleans never: the diff
    reads members the cheap way (``read_plain``: a float may come back as text) and reads
    the properties again with their types when any came back as text (last: writes)."""
    import numpy as np
    from lineage.core.model import GraphBatch
    raws = sorted(k for k, p in truth.props.items()
                  if k.startswith("dataset:") and p.get("dataset_type") == "raw")
    b = GraphBatch("test properties")
    for i, key in enumerate(raws):
        b.add_node(key, seeing_arcsec=0.5 + i / 7, note=f"{i}.5", checked=bool(i % 2),
                   mixed=(i if i % 3 else f"{i}"))
    demo_store.write(b)
    result, _ = _run(demo_store, DR1, DR2, DiffFilter.make(types=["raw"]),
                     properties=("seeing_arcsec", "note", "checked", "mixed"))
    props = {c["name"]: c for c in result.summary()["properties"]}
    assert set(props) == {"raw.seeing_arcsec", "raw.mixed"}
    seeing = props["raw.seeing_arcsec"]["a"]
    values = [0.5 + i / 7 for i in range(len(raws))]
    assert seeing["n"] == len(raws)
    assert seeing["median"] == pytest.approx(float(np.median(values)), rel=1e-12)
    assert props["raw.mixed"]["a"]["n"] == sum(1 for i in range(len(raws)) if i % 3)


# --- command line, reports, GraphQL --------------------------------------------------------

def _cli(*args):
    return run(*args, env={"LINEAGE_NO_PROGRESS": "1"})


def test_cli_reports_and_graphql(repo, tmp_path):
    assert _cli("demo", "--small", "--repo", str(repo), "--json").returncode == 0
    out = _cli("diff", DR1, DR2, "--repo", str(repo), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["summary"]["steps"] and report["details"]
    assert len(report["details"]) == sum(report["summary"]["totals"][k]
                                          for k in ("added", "removed", "changed"))
    bad = _cli("diff", DR1, "DemoCam/DR7", "--repo", str(repo))
    assert bad.returncode == 2 and "DemoCam/DR7" in bad.stderr and "Traceback" not in bad.stderr
    bad = _cli("diff", DR1, DR2, "--tolerance", "lots", "--repo", str(repo))
    assert bad.returncode == 2 and "lots" in bad.stderr

    html, md = tmp_path / "r.html", tmp_path / "r.md"
    assert _cli("diff", DR1, DR2, "--repo", str(repo), "-o", str(html)).returncode == 0
    assert _cli("diff", DR1, DR2, "--repo", str(repo), "-o", str(md)).returncode == 0
    text = html.read_text()
    # self-contained: no script, style or image from anywhere else
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<script" not in text.lower() or "src=" not in text.lower()
    assert text.count("data:image/png;base64,") >= 3
    assert "sigmaClip" in text and "pipe_tasks" in text
    assert "sigmaClip" in md.read_text() and md.read_text().startswith("# ")

    explain = _cli("diff", DR1, DR2, "--product", "tract=9813,patch=4,band=g", "--type",
                   "deepCoadd", "--repo", str(repo), "--json")
    assert explain.returncode == 0, explain.stderr
    assert json.loads(explain.stdout)["first_divergence"]["task"] == CH.new_software_step

    from lineage.api.local import run_local
    from lineage.store.repo import open_store
    document = ("query { releaseDiff(a: \"DemoCam/DR1\", b: \"DemoCam/DR2\", "
                "filter: {types: [\"deepCoadd\"]}, first: 5) { totals { added removed changed } "
                "steps { task software { packages { name a b } } config { keys { name a b } } } "
                "changes { totalCount pageInfo { hasNextPage endCursor } "
                "edges { node { status datasetType dataId visitsDropped } } } } }")
    with open_store(repo) as store:
        answer = asyncio.run(run_local(store, document, None, None, repo_dir=repo))
        assert "errors" not in answer, answer
        diff = answer["data"]["releaseDiff"]
        conn = diff["changes"]
        assert len(conn["edges"]) == 5 and conn["pageInfo"]["hasNextPage"]
        assert conn["totalCount"] == sum(diff["totals"].values())
        after = conn["pageInfo"]["endCursor"]
        nxt = asyncio.run(run_local(store, document.replace("first: 5", f"first: 5, after: \"{after}\""),
                                    None, None, repo_dir=repo))
        seen = {e["node"]["dataId"] for e in conn["edges"]}
        assert not seen & {e["node"]["dataId"] for e in
                           nxt["data"]["releaseDiff"]["changes"]["edges"]}
        bad = asyncio.run(run_local(store, document.replace("DemoCam/DR2", "DemoCam/DR7"),
                                    None, None, repo_dir=repo))
        assert "DemoCam/DR7" in bad["errors"][0]["message"]

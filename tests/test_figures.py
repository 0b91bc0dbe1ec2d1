"""What can be checked of a picture without eyes: its title, legend, the texts on it and
where things are drawn (matplotlib artists), on the small demo in the real engines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from astropy.time import Time

from lineage.core.figures import FAN_OUT, lineage_figure, lineage_tree
from lineage.demo import default_visit
from lineage.traversal import traverse as query

from .conftest import SMALL


def _figure_of(store, selector, direction, **kw):
    tree: dict = {}
    rows = query.traverse(store, selector, direction, tree=tree, **kw)
    g = lineage_tree(rows, tree, direction)
    return rows, g, lineage_figure(g, f"{direction}stream of {selector}")


def _texts(fig, gid=None) -> list[str]:
    ax = fig.axes[0]
    return [t.get_text() for t in ax.texts if gid is None or t.get_gid() == gid]


def _legend(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_lineage_picture_of_visit_and_detector(demo_store_ro):
    """The visit+detector selector: a tree from the raw, every step labelled with its
    task, arrows left to right, each type in the legend with its count in the answer,
    fan-outs over FAN_OUT summarised, and the selector as the title."""
    import matplotlib.pyplot as plt
    selector = f"visit={default_visit(SMALL)},detector=1"
    rows, g, fig = _figure_of(demo_store_ro, selector, query.DOWN)
    try:
        assert fig.axes[0].get_title() == f"downstream of {selector}"
        tasks = set(_texts(fig, "task"))
        assert {"isr", "calibrate", "makeWarp", "assembleCoadd"} <= tasks
        counts = {}
        for r in rows:
            counts[r.dataset_type] = counts.get(r.dataset_type, 0) + 1
        legend = _legend(fig)
        assert all(f"{t} ({n})" in legend for t, n in counts.items()
                   if any(d["dataset_type"] == t for _, d in g.nodes(data=True)))
        # data flows left to right: every arrow ends right of where it starts
        for u, v in g.edges:
            assert g.nodes[v]["pos"][0] > g.nodes[u]["pos"][0]
        # one tree from the selection: every node but the tops hangs from one parent
        assert all(g.in_degree(n) == 1 for n, d in g.nodes(data=True) if d["layer"] > 0)
        # no parent shows more than FAN_OUT children of a type; the rest are one summary
        for n in g.nodes:
            by_type: dict = {}
            for c in g.successors(n):
                by_type.setdefault(g.nodes[c]["dataset_type"], []).append(c)
            for kids in by_type.values():
                assert len(kids) <= FAN_OUT
        summaries = [d for _, d in g.nodes(data=True) if d["kind"] == "more"]
        assert summaries, "the small demo's forced sources fan out past FAN_OUT"
        texts = _texts(fig)
        for d in summaries:
            assert any(t.startswith(f"+{d['count']} more {d['dataset_type']}") for t in texts)
        drawn = {n for n, d in g.nodes(data=True) if d["kind"] != "more"}
        hidden = sum(d["count"] + d["beyond"] for d in summaries)
        assert len(drawn & {r.key for r in rows}) + hidden == len(rows)
    finally:
        plt.close(fig)


def test_lineage_picture_upstream_flows_left_to_right(demo_store_ro):
    """Upstream the selection is on the right and the arrows still follow the data."""
    import matplotlib.pyplot as plt
    coadd = query.downstream(demo_store_ro, f"visit={default_visit(SMALL)}",
                             types=["deepCoadd"])[0]
    rows, g, fig = _figure_of(demo_store_ro, coadd.key, query.UP)
    try:
        assert {"assembleCoadd", "makeWarp", "calibrate", "isr"} <= set(_texts(fig, "task"))
        tops = [n for n in g.nodes if g.in_degree(n) == 0]
        assert tops == [coadd.key] and g.nodes[coadd.key]["kind"] == "seed"
        for u, v in g.edges:     # edges point away from the selection: to the left
            assert g.nodes[v]["pos"][0] < g.nodes[u]["pos"][0]
        assert "selected" in _legend(fig)
    finally:
        plt.close(fig)


def test_lineage_picture_names_the_tasks_of_skipped_steps(demo_store_ro):
    """With --type, the datasets between are not drawn; the edge names every task
    between, in the order the data went through them."""
    import matplotlib.pyplot as plt
    rows, g, fig = _figure_of(demo_store_ro, f"visit={default_visit(SMALL)},detector=1",
                              query.DOWN, types=["deepCoadd"])
    try:
        chains = {d["task"] for *_, d in g.edges(data=True)}
        assert chains == {"makeWarp \u2192 assembleCoadd"}
    finally:
        plt.close(fig)


@pytest.mark.parametrize("fan_out", [1, 2])
def test_lineage_tree_small_fan_out_keeps_every_dataset_counted(demo_store_ro, fan_out):
    tree: dict = {}
    rows = query.traverse(demo_store_ro, f"visit={default_visit(SMALL)}", query.DOWN,
                          depth=3, tree=tree)
    g = lineage_tree(rows, tree, query.DOWN, fan_out=fan_out)
    drawn = {n for n, d in g.nodes(data=True) if d["kind"] != "more"} & {r.key for r in rows}
    hidden = sum(d["count"] + d["beyond"] for _, d in g.nodes(data=True) if d["kind"] == "more")
    # hidden seeds (tops) are not in the answer: count only answer rows
    hidden -= sum(d["count"] for n, d in g.nodes(data=True)
                  if d["kind"] == "more" and g.in_degree(n) == 0)
    assert len(drawn) + hidden == len(rows)


# --- the metric trend -------------------------------------------------------------------

def test_trend_draws_the_specifications_that_apply(store, real_data):
    """The real lsst.verify job (CFHT, filter r) carries PA1 specifications for gri and
    for uzy with empty metadata queries: only the gri ones apply to it; the undated-filter
    squash job gets both.  Each drawn threshold is named in the legend; the x range is the
    jobs' own dates."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from lineage.core.figures import metric_trend_figure
    from lineage.ingest.driver import ingest
    from lineage.metrics import JobFilter
    from lineage.metrics.trend import trend
    assert not ingest(store, "metrics", [real_data("metrics", "squash_rest_api")],
                      show_progress=False).rejected
    gri = {"validate_drp.PA1.design_gri": 5.0, "validate_drp.PA1.minimum_gri": 8.0,
           "validate_drp.PA1.stretch_gri": 3.0}
    uzy = {"validate_drp.PA1.design_uzy": 7.5, "validate_drp.PA1.minimum_uzy": 12.0,
           "validate_drp.PA1.stretch_uzy": 4.5}
    for where, expected in ((JobFilter(filter_name="r"), gri), (JobFilter(), gri | uzy)):
        frame = trend(store, "validate_drp.PA1", where)
        fig = metric_trend_figure(frame, "validate_drp.PA1 across jobs")
        try:
            ax = fig.axes[0]
            assert ax.get_title() == "validate_drp.PA1 across jobs"
            lines = [ln for ln in ax.lines if ln.get_gid() == "specification"]
            assert sorted(ln.get_ydata()[0] for ln in lines) == sorted(expected.values())
            legend = [t.get_text() for t in ax.get_legend().get_texts()]
            for name, threshold in expected.items():
                label = next(t for t in legend if t.startswith(name + " "))
                assert f"<= {threshold:g} mmag" in label
                some = name in uzy and len(frame) > 1
                assert label.endswith("(for (all) only)") == some
                line = next(ln for ln in lines if ln.get_ydata()[0] == threshold)
                assert line.get_linestyle() == (":" if some else "--")
            # the x range: the jobs' dates with a little room (4 %, at least 12 h) each side
            first, last = (mdates.num2date(x).replace(tzinfo=None) for x in ax.get_xlim())
            lo, hi = (Time(x, format="mjd", scale="tai").utc.datetime
                      for x in (frame["mjd_tai"].min(), frame["mjd_tai"].max()))
            assert first < lo and hi < last
            assert (last - first) - (hi - lo) <= max(0.1 * (hi - lo), timedelta(days=1.01))
        finally:
            plt.close(fig)

"""Pictures of lineage answers: how each product was reached, drawn as a tree;
lightcurves with the provenance of their epochs; a metric across jobs.

``lineage downstream|upstream ... --plot FILE.png`` draws the breadth-first tree of a
traversal: the selection, then one column per step away from it, each dataset linked
to the dataset it was first reached from, the arrow pointing the way the data flowed
(left to right: downstream grows to the right, upstream to the left) and labelled with
the task that made the step.  Datasets are coloured by type (a legend gives each
type's count in the answer); a parent's children of one type beyond ``fan_out`` are
summarised as one hollow node (``+37 more forced_src``), so a big answer stays a
picture of its shape rather than a wall of dots.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from lineage.core.dataid import DataId
from lineage.core.model import Kind, kind_of_key

if TYPE_CHECKING:   # networkx loads with the first graph drawn or built (start-up time)
    import networkx as nx

#: Kelly's colours of maximum contrast (white and black left out): neighbours in the
#: list stay apart, so the types of a picture, coloured in order, are told apart.
DISTINCT_COLOURS = ("#0067A5", "#F38400", "#008856", "#BE0032", "#875692", "#F3C300",
                    "#A1CAF1", "#882D17", "#8DB600", "#E68FAC", "#604E97", "#C2B280",
                    "#848482", "#F99379", "#2B3D26", "#DCD300", "#B3446C", "#654522",
                    "#E25822", "#F6A600")

#: Marker shapes, one for each run of five types: Kelly's colours that are alike (the
#: two purples, the two oranges) are five or more apart, so they differ in shape too.
TYPE_MARKERS = "osD^v"

#: A parent's children of one dataset type drawn one by one up to this many.
FAN_OUT = 5


def lineage_tree(rows, tree: dict, direction: str = "down", fan_out: int = FAN_OUT,
                 max_nodes: int = 250) -> nx.DiGraph:
    """The tree of a traversal (``rows`` and the ``tree`` dict that
    :func:`lineage.traversal.traverse.traverse` filled) as a DiGraph ready to draw.

    Edges point away from the selection (parent -> child); an edge's ``task`` names the
    task of the step, or the tasks of several steps in data-flow order where the
    datasets between were not asked for.  Nodes carry ``dataset_type``, ``data_id``,
    ``layer`` (steps from the selection in the tree), ``kind`` (``seed``: selected,
    ``dataset``, ``more``: a summary of ``count`` children, with ``beyond`` datasets
    further away) and ``pos`` (x, y).  Graph attributes: ``direction``, ``total``
    (datasets in the answer), ``counts`` (per type), ``truncated`` (more than
    ``max_nodes`` would be drawn; the nearest are)."""
    import networkx as nx
    parents, seeds, tasks = tree["parents"], tree["seeds"], tree.get("tasks", {})
    by_key = {r.key: r for r in rows}
    children: dict = {}          # drawn parent (None: the top) -> [(child, task text)]
    for r in rows:
        steps, parent, quantum = [], *parents.get(r.key, (None, None))
        while parent is not None:
            steps.append(tasks.get(quantum, "") if quantum else "")
            if parent in by_key or parent in seeds:
                break
            parent, quantum = parents.get(parent, (None, None))
        if direction == "down":
            steps.reverse()         # climbing went against the data flow
        children.setdefault(parent, []).append((r.key, " \u2192 ".join(t for t in steps if t)))
    for seed in seeds:
        if seed not in by_key and seed in children:
            children.setdefault(None, []).append((seed, ""))

    def describe(key):
        if key in by_key:
            return by_key[key].dataset_type, by_key[key].data_id, "dataset"
        if kind_of_key(key) == Kind.QUANTUM:
            return f"quantum ({tasks.get(key, '?')})", "", "seed"
        return seeds.get(key) or "?", "", "seed"

    size: dict = {}

    def subtree(key) -> int:     # datasets at and below key (iterative: trees may be deep)
        order, todo = [], [key]
        while todo:
            n = todo.pop()
            order.append(n)
            todo += [c for c, _ in children.get(n, ())]
        for n in reversed(order):
            size[n] = (n in by_key) + sum(size[c] for c, _ in children.get(n, ()))
        return size[key]

    g = nx.DiGraph(direction=direction, total=len(rows), truncated=False, fan_out=fan_out,
                   counts=_counts(r.dataset_type for r in rows))
    todo = [(None, 0)]
    while todo:
        parent, layer = todo.pop(0)
        groups: dict = {}
        for child, task in children.get(parent, ()):
            groups.setdefault((describe(child)[0], task), []).append(child)
        for (dataset_type, task), members in sorted(groups.items()):
            members.sort(key=lambda k: (DataId.parse(describe(k)[1]).sort_key(), k))
            shown = members if len(members) <= fan_out else members[:fan_out - 1]
            for child in shown:
                if g.number_of_nodes() >= max_nodes:
                    g.graph["truncated"] = True
                    break
                t, data_id, kind = describe(child)
                g.add_node(child, dataset_type=t, data_id=data_id, layer=layer, kind=kind
                           if child not in seeds else "seed",
                           run=by_key[child].run if child in by_key else "")
                if parent is not None:
                    g.add_edge(parent, child, task=task)
                todo.append((child, layer + 1))
            hidden = members[len(shown):]
            if hidden and g.number_of_nodes() < max_nodes:
                more = f"more:{parent}:{dataset_type}:{task}"
                g.add_node(more, dataset_type=dataset_type, data_id="", run="", layer=layer,
                           kind="more", count=len(hidden),
                           beyond=sum(subtree(c) - (c in by_key) for c in hidden))
                if parent is not None:
                    g.add_edge(parent, more, task=task)
    _place(g)
    return g


def _counts(types) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in types:
        counts[t] = counts.get(t, 0) + 1
    return dict(sorted(counts.items()))


def _place(g: nx.DiGraph) -> None:
    """x: the layer (negative upstream: the data flows left to right); y: leaves one row
    each in depth-first order, a parent in the middle of its children (a tidy tree)."""
    sign = 1 if g.graph["direction"] == "down" else -1
    row = 0
    tops = [n for n in g.nodes if g.in_degree(n) == 0]
    stack = [(n, False) for n in reversed(tops)]
    while stack:
        n, done = stack.pop()
        kids = list(g.successors(n))
        if done or not kids:
            if kids:
                y = (g.nodes[kids[0]]["pos"][1] + g.nodes[kids[-1]]["pos"][1]) / 2
            else:
                y, row = -float(row), row + 1
            g.nodes[n]["pos"] = (sign * float(g.nodes[n]["layer"]), y)
            continue
        stack.append((n, True))
        stack += [(k, False) for k in reversed(kids)]


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _short_data_ids(g: nx.DiGraph) -> dict:
    """Node -> its data ID without the pairs every drawn dataset that has the dimension
    shares (instrument, sky map, the selected visit): what tells the nodes apart; and the
    run's last part where the picture spans several runs (two releases)."""
    seen: dict[str, set] = {}
    ids = {n: DataId.parse(d["data_id"]) for n, d in g.nodes(data=True) if d["data_id"]}
    for data_id in ids.values():
        for k, v in data_id.items():
            seen.setdefault(k, set()).add(v)
    runs = {d["run"] for _, d in g.nodes(data=True) if d["run"]}
    return {n: ",".join(f"{k}={v}" for k, v in data_id.items() if len(seen[k]) > 1)
            + (f" ({g.nodes[n]['run'].rsplit('/', 1)[-1]})" if len(runs) > 1 else "")
            for n, data_id in ids.items()}


def lineage_figure(g: nx.DiGraph, title: str):
    """The matplotlib figure of a :func:`lineage_tree` (the caller saves and closes it).
    Task names are the texts with gid ``task``; the legend names every dataset type."""
    plt = _pyplot()
    from matplotlib.lines import Line2D
    down = g.graph["direction"] == "down"
    pos = {n: d["pos"] for n, d in g.nodes(data=True)}
    layers = max((d["layer"] for _, d in g.nodes(data=True)), default=0) + 1
    rows = max(1, int(-min((p[1] for p in pos.values()), default=0)) + 1)
    order = sorted({d["dataset_type"] for _, d in g.nodes(data=True)},
                   key=lambda t: (min(d["layer"] for _, d in g.nodes(data=True)
                                      if d["dataset_type"] == t), t))
    colour = {t: DISTINCT_COLOURS[i % len(DISTINCT_COLOURS)] for i, t in enumerate(order)}
    marker = {t: TYPE_MARKERS[i // 5 % len(TYPE_MARKERS)] for i, t in enumerate(order)}
    fig, ax = plt.subplots(figsize=(2.7 * max(layers - 1, 1) + 5.5,
                                    min(60.0, 0.24 * rows + 1.6)))
    bundles: dict = {}
    for u, v, d in g.edges(data=True):
        source, target = (pos[u], pos[v]) if down else (pos[v], pos[u])
        ax.annotate("", xy=target, xytext=source, zorder=1,
                    arrowprops=dict(arrowstyle="-|>", color="0.6", lw=0.7, shrinkA=5,
                                    shrinkB=5, mutation_scale=9))
        if d["task"]:
            bundles.setdefault((u, d["task"]), []).append(pos[v])
    for (u, task), ends in bundles.items():
        # halfway along the bundle's flattest edge: on a line, and level for the text
        end = min(ends, key=lambda p: abs(p[1] - pos[u][1]))
        x, y = (pos[u][0] + end[0]) / 2, (pos[u][1] + end[1]) / 2
        ax.text(x, y, task.replace(" \u2192 ", " \u2192\n"), fontsize=6.5, ha="center",
                va="center", color="0.15", gid="task", zorder=3,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    short = _short_data_ids(g)
    side = 1 if down else -1
    for t in order:
        for kind, style in (("dataset", dict(s=36, edgecolors="none")),
                            ("seed", dict(s=70, edgecolors="black", linewidths=1.6)),
                            ("more", dict(s=48, facecolors="white", edgecolors=colour[t],
                                          linewidths=1.6))):
            nodes = [n for n, d in g.nodes(data=True) if d["dataset_type"] == t
                     and d["kind"] == kind]
            if not nodes:
                continue
            if kind != "more":
                style["c"] = [colour[t]]
            ax.scatter([pos[n][0] for n in nodes], [pos[n][1] for n in nodes], zorder=2,
                       marker=marker[t], **style)
    for n, d in g.nodes(data=True):
        if d["kind"] == "more":
            text = f"+{d['count']} more {d['dataset_type']}"
            if d["beyond"]:
                text += f" ({d['beyond']} further {'down' if down else 'up'})"
        elif g.out_degree(n) == 0:
            text = short.get(n, "")
        else:
            continue
        ax.annotate(text, pos[n], xytext=(7 * side, 0), textcoords="offset points",
                    fontsize=6.5, va="center", ha="left" if down else "right", color="0.25")
    top = max((p[1] for p in pos.values()), default=0.0)
    for layer in range(layers):
        ax.text(side * layer, top + 0.9, "selection" if layer == 0 else
                f"{layer} step{'s' if layer > 1 else ''} {'down' if down else 'up'}",
                ha="center", va="bottom", fontsize=8.5, color="0.3")
    counts = g.graph["counts"]
    handles = [Line2D([], [], ls="", marker=marker[t], color=colour[t],
                      label=f"{t} ({counts[t]})" if t in counts else t) for t in order]
    handles += [Line2D([], [], ls="", marker="o", mfc="0.8", mec="black", mew=1.6,
                       label="selected"),
                Line2D([], [], ls="", marker="o", mfc="white", mec="0.4", mew=1.6,
                       label=f"a fan-out over {g.graph['fan_out']}, summarised")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8,
              frameon=False, title="dataset type (in the answer)", title_fontsize=8)
    drawn = sum(1 for _, d in g.nodes(data=True) if d["kind"] != "more" and d["data_id"])
    note = f"{g.graph['total']} datasets; {drawn} drawn"
    if g.graph["truncated"]:
        note += " (the nearest; the picture is cut)"
    ax.set_title(title, fontsize=12, pad=26)
    ax.annotate(note + "; arrows: the way the data flowed; labels: the task of each step",
                (0.5, 1.0), xycoords="axes fraction", xytext=(0, 14),
                textcoords="offset points", ha="center", fontsize=8, color="0.35")
    # room for the leaves' labels on the far side
    ax.set_xlim(min(side * (layers - 1), 0) - (1.5 if not down else 0.5),
                max(side * (layers - 1), 0) + (1.5 if down else 0.5))
    ax.set_ylim(-rows + 0.4, top + 1.6)
    ax.axis("off")
    return fig


def draw(g: nx.DiGraph, path: str, title: str) -> None:
    """Write a PNG (or anything matplotlib saves, by extension) of a :func:`lineage_tree`."""
    plt = _pyplot()
    fig = lineage_figure(g, title)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def draw_lightcurve(frame, path: str, colour_by: str = "seeing", title: str = "") -> None:
    """Flux against time, one panel per band, epochs coloured by an observing condition
    (any numeric column of :func:`lineage.lightcurve.lightcurve`); epochs whose visit is
    flagged ringed red, those with a contaminated input (a template) ringed orange."""
    plt = _pyplot()
    order = "ugrizy"
    bands = sorted(frame["band"].dropna().unique(),
                   key=lambda b: (order.find(b) if b in order else len(order), b)) or [""]
    fig, axes = plt.subplots(len(bands), 1, figsize=(9, 1.9 * len(bands) + 1.2), sharex=True,
                             squeeze=False, layout="constrained")
    values = frame[colour_by].astype(float)
    norm = plt.Normalize(values.min(), values.max())
    for ax, band in zip(axes[:, 0], bands):
        rows = frame[frame["band"] == band] if band else frame
        ax.errorbar(rows["mjd_tai"], rows["flux"], yerr=rows["flux_err"], fmt="none",
                    ecolor="0.6", lw=0.8, zorder=1)
        points = ax.scatter(rows["mjd_tai"], rows["flux"], c=rows[colour_by].astype(float),
                            cmap="viridis", norm=norm, s=22, zorder=2)
        own = rows["flags"].fillna("") != ""
        for chosen, colour, style, label in (
                (rows[own], "red", "-", "its visit is flagged"),
                (rows[rows["flagged"] & ~own], "darkorange", "--",
                 "an input (e.g. its template) is contaminated")):
            if len(chosen):
                ax.scatter(chosen["mjd_tai"], chosen["flux"], s=110, facecolors="none",
                           edgecolors=colour, linestyles=style, linewidths=1.4, zorder=3,
                           label=label)
        if rows["flagged"].any():
            ax.legend(loc="best", fontsize=8, frameon=False)
        ax.set_ylabel(f"{band} flux (nJy)" if band else "flux (nJy)", fontsize=9)
    axes[-1, 0].set_xlabel("MJD (TAI)")
    axes[-1, 0].ticklabel_format(axis="x", useOffset=False)
    fig.colorbar(points, ax=axes[:, 0].tolist(), label=colour_by, shrink=0.9)
    fig.suptitle(title, fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: Colours of the specification thresholds on a metric trend, one each in turn.
SPEC_COLOURS = ("firebrick", "darkorange", "purple", "teal", "saddlebrown", "olive",
                "crimson", "navy")


def draw_metric_trend(frame, path: str, title: str = "") -> None:
    """Write the picture of :func:`metric_trend_figure`."""
    plt = _pyplot()
    fig = metric_trend_figure(frame, title)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def metric_trend_figure(frame, title: str = ""):
    """A metric across jobs in time order (:func:`lineage.metrics.trend.trend`): one line
    and marker shape per series, points coloured by software version, a dotted line where
    the software changed (labelled with the packages), the thresholds of the specifications
    that apply to these jobs as lines named in the legend (with the series they apply to
    when not all), jobs whose value is missing as crosses on the axis; the x range is the
    jobs' own dates.  Threshold lines are the lines with gid ``specification``."""
    plt = _pyplot()
    from astropy.time import Time
    unit = frame.attrs.get("unit", "")
    fig, ax = plt.subplots(figsize=(10, 4.8))
    times = Time(frame["mjd_tai"].to_numpy(), format="mjd", scale="tai").utc.datetime
    frame = frame.assign(when=times)
    versions = list(dict.fromkeys(frame["software_name"].fillna("(unknown)")))
    cmap = plt.get_cmap("tab10")
    colour = {v: cmap(i % 10) for i, v in enumerate(versions)}
    markers = "osD^vP*X"
    several = frame["series"].nunique() > 1
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], ls="", marker="o", color=colour[v], label=v) for v in versions]
    for n, (series, rows) in enumerate(frame.groupby("series", sort=False)):
        marker = markers[n % len(markers)]
        have = rows[rows["value"].notna()]
        ax.plot(have["when"], have["value"], color="0.7", lw=1, zorder=1)
        ax.scatter(have["when"], have["value"], zorder=2, s=30, marker=marker,
                   color=[colour[v] for v in have["software_name"].fillna("(unknown)")])
        if several:
            handles.append(Line2D([], [], ls="-", color="0.7", marker=marker, mfc="0.5",
                                  mec="0.5", label=series))
        gone = rows[rows["value"].isna()]
        if len(gone):
            ax.scatter(gone["when"], [0] * len(gone), marker="x", color="red", zorder=3,
                       transform=ax.get_xaxis_transform(), clip_on=False)
            if not any(h.get_label() == "value missing" for h in handles):
                handles.append(Line2D([], [], ls="", marker="x", color="red",
                                      label="value missing"))
        for _, row in rows[rows["changed"] != ""].iterrows():
            ax.axvline(row["when"], color="0.35", ls=":", lw=1)
            names = [c["package"] for c in row["changes"]]
            label = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
            ax.annotate(label, (row["when"], 1), xycoords=("data", "axes fraction"),
                        xytext=(-3, -4), textcoords="offset points", fontsize=8, color="0.25",
                        rotation=90, ha="right", va="top")
    series_of_job = dict(zip(frame["job"], frame["series"]))
    every_series = set(frame["series"])
    for n, spec in enumerate(frame.attrs.get("specifications", [])):
        label = f"{spec['spec'].removeprefix('spec:')} {spec['operator']} "
        applies_to = sorted({series_of_job[j] for j in spec.get("jobs", ()) if j in series_of_job})
        only = f" (for {', '.join(applies_to)} only)" if applies_to and \
            set(applies_to) != every_series else ""
        if spec.get("threshold") is None:
            handles.append(Line2D([], [], ls="", label=f"{label}{spec['threshold_as_given']} "
                                  f"{spec['unit_as_given']}: not drawn, {spec['note']}"))
            continue
        # dashed where it applies to every series, dotted where to some
        style = dict(color=SPEC_COLOURS[n % len(SPEC_COLOURS)], ls=":" if only else "--",
                     lw=1.2)
        ax.axhline(spec["threshold"], gid="specification", **style)
        handles.append(Line2D([], [], label=f"{label}{spec['threshold']:g} {unit}{only}",
                              **style))
    # the x range is the jobs' own dates (a little either side), whatever else is drawn
    dates = frame["when"].dropna()
    if len(dates):
        first, last = dates.min(), dates.max()
        pad = max((last - first) * 0.04, timedelta(hours=12))
        ax.set_xlim(first - pad, last + pad)
    ax.set_ylabel(f"{frame.attrs.get('metric', 'value')} ({unit})" if unit
                  else frame.attrs.get("metric", "value"))
    ax.set_xlabel("job date (UTC)")
    ax.margins(y=0.18)
    ax.legend(handles=handles, fontsize=8, frameon=False, loc="upper left",
              bbox_to_anchor=(1.01, 1))
    fig.autofmt_xdate()
    ax.set_title(title, fontsize=11)
    return fig

"""Pictures of lineage answers: how each product was reached, drawn as layers;
and lightcurves with the provenance of their epochs.

``lineage downstream ... --plot FILE.png`` draws the breadth-first tree of a
traversal: the selection on the left, then one column per step, each dataset
linked to the dataset it was first reached from (through one quantum).
Nodes are coloured by dataset type. Large
answers are cut to the ``max_nodes`` nearest datasets, and the picture says
so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:   # networkx loads with the first graph drawn or built (start-up time)
    import networkx as nx


def lineage_tree(rows, parents: dict, seeds, max_nodes: int = 250) -> nx.DiGraph:
    """The BFS tree of a traversal as a DiGraph (datasets only; quanta on the edges)."""
    import networkx as nx
    keep = sorted(rows, key=lambda r: (r.steps, r.dataset_type, r.data_id))[:max_nodes]
    g = nx.DiGraph(truncated=len(rows) > len(keep), total=len(rows))
    for r in keep:
        g.add_node(r.key, dataset_type=r.dataset_type, data_id=r.data_id, layer=r.steps)
    for r in keep:
        parent, quantum = parents.get(r.key, (None, None))
        while parent is not None and parent not in g:  # climb to a drawn node or a seed
            if parent in seeds:
                g.add_node(parent, dataset_type=seeds[parent] or "quantum", data_id="", layer=0)
                break
            parent, quantum = parents.get(parent, (None, None))
        if parent is not None:
            g.add_edge(parent, r.key, quantum=quantum)
    return g


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def draw(g: nx.DiGraph, path: str, title: str) -> None:
    """Write a PNG (or anything matplotlib saves, by extension) of a lineage tree."""
    import networkx as nx
    plt = _pyplot()

    types = sorted({d["dataset_type"] for _, d in g.nodes(data=True)})
    cmap = plt.get_cmap("tab20")
    colour = {t: cmap(i % 20) for i, t in enumerate(types)}
    pos = _layered_positions(g)
    layers = max((d["layer"] for _, d in g.nodes(data=True)), default=0) + 1
    height = max(4.0, min(40.0, 0.09 * max(
        sum(1 for _, d in g.nodes(data=True) if d["layer"] == layer) for layer in range(layers))))
    fig, ax = plt.subplots(figsize=(3.2 * layers + 3, height))
    nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.35, arrows=True, arrowsize=6, width=0.6)
    for t in types:
        nodes = [n for n, d in g.nodes(data=True) if d["dataset_type"] == t]
        nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_color=[colour[t]], node_size=40,
                               ax=ax, label=f"{t} ({len(nodes)})")
    for layer in range(layers):
        ax.annotate("selection" if layer == 0 else f"step {layer}",
                    xy=(_layer_x(pos, g, layer), 1.02), xycoords=("data", "axes fraction"),
                    ha="center", fontsize=9)
    note = f" (nearest {g.number_of_nodes()} of {g.graph['total']} datasets)" \
        if g.graph.get("truncated") else ""
    ax.set_title(title + note, fontsize=11, pad=22)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    ax.axis("off")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _layered_positions(g: nx.DiGraph) -> dict:
    """x = step; y = rank in the step, children ordered under their parent (few crossings)."""
    by_layer: dict[int, list] = {}
    for n, d in g.nodes(data=True):
        by_layer.setdefault(d["layer"], []).append(n)
    rank: dict[str, float] = {}
    pos = {}
    for layer in sorted(by_layer):
        def order(n):
            parents = list(g.predecessors(n))
            anchor = min((rank[p] for p in parents if p in rank), default=-1.0)
            d = g.nodes[n]
            return (anchor, d["dataset_type"], d["data_id"], n)
        nodes = sorted(by_layer[layer], key=order)
        for i, n in enumerate(nodes):
            rank[n] = i / max(1, len(nodes) - 1)
            pos[n] = (float(layer), 0.5 - (i + 0.5) / len(nodes))
    return pos


def _layer_x(pos, g, layer) -> float:
    xs = [pos[n][0] for n, d in g.nodes(data=True) if d["layer"] == layer]
    return sum(xs) / len(xs) if xs else 0.0


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


def draw_metric_trend(frame, path: str, title: str = "") -> None:
    """A metric across jobs in time order (:func:`lineage.metrics.trend.trend`): one line
    and marker shape per series, points coloured by software version, a dotted line where the software
    changed (labelled with the packages), specification thresholds as dashed lines, and
    jobs whose value is missing as crosses on the axis."""
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
    for spec in frame.attrs.get("specifications", []):
        if spec.get("threshold") is not None:
            ax.axhline(spec["threshold"], color="firebrick", ls="--", lw=1)
            ax.annotate(f"{spec['spec'].removeprefix('spec:')} {spec['operator']} "
                        f"{spec['threshold']:g} {unit}", (0, spec["threshold"]),
                        xycoords=("axes fraction", "data"), xytext=(3, 3),
                        textcoords="offset points", fontsize=8, color="firebrick")
    ax.set_ylabel(f"{frame.attrs.get('metric', 'value')} ({unit})" if unit
                  else frame.attrs.get("metric", "value"))
    ax.set_xlabel("job date (UTC)")
    ax.margins(y=0.18)
    ax.legend(handles=handles, fontsize=8, frameon=False, loc="upper left",
              bbox_to_anchor=(1.01, 1))
    fig.autofmt_xdate()
    ax.set_title(title, fontsize=11)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)

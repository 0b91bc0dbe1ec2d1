"""The pictures of a diff report, as PNG bytes (embedded in the HTML as data URIs):
counts by dataset type, the changed fraction per patch and band on the sky,
and metric shifts."""

from __future__ import annotations

import io
import statistics

from lineage.core.figures import _pyplot

STATUS_COLOURS = {"unchanged": "#bdbdbd", "changed": "#fdae61", "added": "#1a9641",
                  "removed": "#d7191c"}
BAND_ORDER = "ugrizy"


def _png(fig) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def counts_by_type(by_type: dict, a: str, b: str) -> bytes:
    """One bar per dataset type: unchanged, changed, added (B) and removed (A) products."""
    plt = _pyplot()
    types = sorted(by_type, key=lambda t: -max(by_type[t].get("a", 0), by_type[t].get("b", 0)))
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(types) + 1.4))
    left = [0] * len(types)
    for status, colour in STATUS_COLOURS.items():
        values = [by_type[t].get(status, 0) for t in types]
        ax.barh(types, values, left=left, color=colour, label=status)
        left = [x + y for x, y in zip(left, values)]
    ax.invert_yaxis()
    ax.set_xlabel("datasets")
    ax.set_title(f"Datasets by type: {a} \u2192 {b}", fontsize=11)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.tick_params(axis="y", labelsize=8)
    return _png(fig)


def changed_on_sky(by_patch: dict, bounds: dict) -> bytes | None:
    """PNG of :func:`sky_figure` (None: no patch has both products and a sky box)."""
    fig = sky_figure(by_patch, bounds)
    return _png(fig) if fig is not None else None


def sky_figure(by_patch: dict, bounds: dict):
    """Per band (columns), each patch coloured by the fraction of its products that differ:
    a row per sky map for each of "any difference" and "inputs differ" (added, removed, or
    made from other inputs) where some patch has one, each sky map on its own axes.
    ``by_patch``: (skymap, tract, patch, band) -> counts; ``bounds``: (skymap, tract,
    patch) -> (ra0, ra1, dec0, dec1).  None when no patch has both."""
    skymaps = sorted({m for m, *_ in by_patch} & {m for m, *_ in bounds})
    if not skymaps:
        return None
    plt = _pyplot()
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import MaxNLocator
    bands = sorted({p[3] for p in by_patch if p[0] in skymaps},
                   key=lambda b: (BAND_ORDER.find(b) if b in BAND_ORDER else 9, b))
    kinds_of = (("any difference", ("changed", "added", "removed")),
                ("inputs differ", ("inputs", "added", "removed")))
    # one row per sky map and kind of difference, where some patch has one (no all-zero rows)
    rows = [(skymap, label, kinds) for skymap in skymaps for label, kinds in kinds_of
            if any(c.get(k, 0) for (m, *_), c in by_patch.items() if m == skymap for k in kinds)]
    rows = rows or [(skymap, *kinds_of[0]) for skymap in skymaps]
    extent = {}
    for skymap in skymaps:
        boxes = [box for (m, *_), box in bounds.items() if m == skymap]
        extent[skymap] = (min(b[0] for b in boxes), max(b[1] for b in boxes),
                          min(b[2] for b in boxes), max(b[3] for b in boxes))
    width = 1.55   # inches a panel (seven bands fit the report's width); its height follows
    #                the sky map's shape
    heights = [width * (e[3] - e[2]) / max(e[1] - e[0], 1e-9) for e in
               (extent[r[0]] for r in rows)]
    fig, axes = plt.subplots(len(rows), len(bands), squeeze=False, layout="constrained",
                             figsize=(width * len(bands) + 1.8, sum(h + 0.2 for h in heights)
                                      + 0.7), gridspec_kw={"height_ratios": heights})
    cmap = plt.get_cmap("viridis")
    for row, (skymap, label, kinds) in enumerate(rows):
        boxes = {(t, p): box for (sm, t, p), box in bounds.items() if sm == skymap}
        ra0, ra1, dec0, dec1 = extent[skymap]
        for col, band in enumerate(bands):
            ax = axes[row, col]
            for (tract, patch), (r0, r1, d0, d1) in boxes.items():
                c = by_patch.get((skymap, tract, patch, band))
                total = sum(c.get(k, 0) for k in ("unchanged", "changed", "added",
                                                  "removed")) if c else 0
                face = cmap(sum(c.get(k, 0) for k in kinds) / total) if total else "white"
                ax.add_patch(Rectangle((r0, d0), r1 - r0, d1 - d0, facecolor=face,
                                       edgecolor="0.5", lw=0.4))
            ax.set_xlim(ra1, ra0)      # RA grows to the east (left)
            ax.set_ylim(dec0, dec1)
            ax.set_aspect("equal", adjustable="box")
            ax.tick_params(labelsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(3))
            ax.yaxis.set_major_locator(MaxNLocator(3))
            if row == 0:
                ax.set_title("band " + band if band != "-" else "no band", fontsize=10)
            if col == 0:
                ax.set_ylabel(f"{skymap}:\n{label}\nDec (deg)", fontsize=8)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=axes.ravel().tolist(), shrink=0.8, label="fraction of the patch's products")
    fig.supxlabel("RA (deg); white: no products", fontsize=9)
    return fig


def metric_shifts(metrics: list, a: str, b: str) -> bytes | None:
    """Each metric's values in A and B (one point per job), medians marked, the
    tolerance around A's median shaded."""
    metrics = [m for m in metrics if m.values_a or m.values_b]
    if not metrics:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics) + 0.5, 3.6),
                             squeeze=False, layout="constrained")
    for ax, m in zip(axes[0], metrics):
        for x, values, colour in ((0, m.values_a, "#2b83ba"), (1, m.values_b, "#d7191c")):
            ax.scatter([x] * len(values), values, color=colour, s=24, alpha=0.8, zorder=2)
            if values:
                ax.hlines(statistics.median(values), x - 0.25, x + 0.25, color="k", lw=1.5,
                          zorder=3)
        if m.a.n and m.tolerance:
            tol = m.tolerance
            width = abs(m.a.median) * float(tol[:-1]) / 100 if tol.endswith("%") else float(tol)
            ax.axhspan(m.a.median - width, m.a.median + width, color="0.85", zorder=1)
        ax.set_xticks([0, 1], [a, b], fontsize=8)
        ax.set_xlim(-0.6, 1.6)
        verdict = {True: "equivalent", False: "differs", None: "n/a"}[m.equivalent]
        if m.tiny_sample:
            verdict += f"; tiny sample, n={m.a.n} and {m.b.n}"
        ax.set_title(f"{m.name}\n({verdict})", fontsize=9,
                     color="#8a5a00" if m.tiny_sample else "black")
        ax.set_ylabel(m.unit, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle("Metric shifts (grey: tolerance around the first release's median)",
                 fontsize=10)
    return _png(fig)

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
    """Per band (columns), each patch coloured by the fraction of its products that differ
    (top row: for any reason; bottom row: added, removed, or made from other inputs);
    ``bounds``: (tract, patch) -> (ra0, ra1, dec0, dec1)."""
    if not by_patch or not bounds:
        return None
    plt = _pyplot()
    from matplotlib.patches import Rectangle
    bands = sorted({p[2] for p in by_patch},
                   key=lambda b: (BAND_ORDER.find(b) if b in BAND_ORDER else 9, b))
    fig, axes = plt.subplots(2, len(bands), figsize=(2.1 * len(bands) + 1.4, 4.6), squeeze=False)
    cmap = plt.get_cmap("viridis")
    ras = [v for r0, r1, _, _ in bounds.values() for v in (r0, r1)]
    decs = [v for _, _, d0, d1 in bounds.values() for v in (d0, d1)]
    rows = (("any difference", ("changed", "added", "removed")),
            ("inputs differ", ("inputs", "added", "removed")))
    for col, band in enumerate(bands):
        for row, (label, kinds) in enumerate(rows):
            ax = axes[row, col]
            for (tract, patch), (r0, r1, d0, d1) in bounds.items():
                c = by_patch.get((tract, patch, band))
                total = sum(c.get(k, 0) for k in ("unchanged", "changed", "added", "removed")) \
                    if c else 0
                face = cmap(sum(c.get(k, 0) for k in kinds) / total) if total else "white"
                ax.add_patch(Rectangle((r0, d0), r1 - r0, d1 - d0, facecolor=face,
                                       edgecolor="0.5", lw=0.4))
            ax.set_xlim(max(ras), min(ras))      # RA grows to the east (left)
            ax.set_ylim(min(decs), max(decs))
            ax.set_aspect("equal", adjustable="box")
            ax.tick_params(labelsize=6)
            if row == 0:
                ax.set_title("band " + band if band != "-" else "no band", fontsize=9)
            if col == 0:
                ax.set_ylabel(f"{label}\nDec (deg)", fontsize=8)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=axes.ravel().tolist(), shrink=0.8, label="fraction of the patch's products")
    fig.supxlabel("RA (deg); white: no products", fontsize=8)
    return _png(fig)


def metric_shifts(metrics: list, a: str, b: str) -> bytes | None:
    """Each metric's values in A and B (one point per job), medians marked, the
    tolerance around A's median shaded."""
    metrics = [m for m in metrics if m.values_a or m.values_b]
    if not metrics:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics) + 0.5, 3.4),
                             squeeze=False)
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
        ax.set_title(f"{m.name}\n({verdict})", fontsize=9)
        ax.set_ylabel(m.unit, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle("Metric shifts (grey: tolerance around the first release's median)",
                 fontsize=10)
    return _png(fig)

"""Draw the package layers and their imports (docs/img/architecture.png).

Reads the layer table of ``tests/test_layers.py`` (the rule the suite
enforces) and every module's imports with ``ast``, then draws one box per
package, one row per layer (interfaces on top, ``core`` at the bottom), and
one arrow per pair of packages where one imports the other.  An arrow that
points up, or sideways from a 6a to a 6b package, would break the rule, and
is drawn red.

    python scripts/draw_architecture.py                 # docs/img/architecture.png
    python scripts/draw_architecture.py -o /tmp/arch.png
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: What each layer holds, for the row labels.
LAYER_NAMES = {
    "1": "core", "2": "store", "3": "data units", "4": "ingest", "5": "traversal",
    "6a": "capabilities (a)", "6b": "capabilities (b)", "7": "demo", "8": "interfaces",
}


def layer_table() -> tuple[list[str], dict[str, str]]:
    spec = importlib.util.spec_from_file_location("test_layers", ROOT / "tests" / "test_layers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LAYERS, module.LAYER


def package_of(module: str, table: dict[str, str]) -> str | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if name in table:
            return name
    return None


def module_imports(path: Path, name: str) -> set[str]:
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
    return {m for m in found if m.startswith("lineage")}


def package_edges(table: dict[str, str]) -> dict[tuple[str, str], int]:
    edges: dict[tuple[str, str], int] = defaultdict(int)
    for path in sorted((ROOT / "lineage").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        src = package_of(name, table)
        for target in module_imports(path, name):
            dst = package_of(target, table)
            if src and dst and src != dst:
                edges[(src, dst)] += 1
    return edges


def draw(out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    layers, table = layer_table()
    rows = {layer: [p for p, lv in table.items() if lv == layer] for layer in layers}
    edges = package_edges(table)
    width, row_height, box_w, box_h = 12.0, 1.0, 1.55, 0.5
    fig, ax = plt.subplots(figsize=(13, 1.0 * len(layers) + 1.2))
    where: dict[str, tuple[float, float]] = {}
    for i, layer in enumerate(layers):
        y = i * row_height
        names = sorted(rows[layer])
        ax.text(-0.2, y, f"{layer}  {LAYER_NAMES.get(layer, '')}", ha="right", va="center",
                fontsize=10, color="#444444")
        for j, package in enumerate(names):
            x = (j + 0.5) * width / max(len(names), 1)
            if len(names) == 1:  # lone boxes zigzag, so arrows past them do not cross them
                x += (-1) ** i * width * 0.12
            where[package] = (x, y)
            ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h,
                                        boxstyle="round,pad=0.02", facecolor="#e8f0fb",
                                        edgecolor="#3b6ea8", linewidth=1.2, zorder=3))
            ax.text(x, y, package.removeprefix("lineage.") if package != "lineage" else package,
                    ha="center", va="center", fontsize=10, zorder=4)
    order = {layer: i for i, layer in enumerate(layers)}
    for (src, dst), count in sorted(edges.items()):
        (x1, y1), (x2, y2) = where[src], where[dst]
        upward = order[table[dst]] > order[table[src]]
        colour = "#cc2222" if upward else "#9aa5b1"
        ax.add_patch(FancyArrowPatch((x1, y1 - box_h / 2), (x2, y2 + box_h / 2),
                                     arrowstyle="-|>", mutation_scale=9, color=colour,
                                     linewidth=0.5 + min(count, 20) / 10, alpha=0.6,
                                     connectionstyle="arc3,rad=0.08", zorder=2))
    ax.set_xlim(-2.8, width + 0.3)
    ax.set_ylim(-0.7, (len(layers) - 1) * row_height + 0.7)
    ax.axis("off")
    ax.set_title("survey-lineage: packages by layer; an arrow is an import (red would break "
                 "the rule: imports point down)", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out} ({len(table)} packages, {len(edges)} package imports)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "docs" / "img" / "architecture.png")
    draw(parser.parse_args().out)


if __name__ == "__main__":
    main()

"""``lineage downstream|upstream|show``: the lineage questions of docs/lineage.md.

``downstream`` and ``upstream`` are one command made for each direction; ``--explain``
describes the nodes of a path as ``show`` does, so the three live together."""

from __future__ import annotations

import click

from lineage.cli.common import Repo, CliError, call, check_plot_suffix, format_option, repo_option
from lineage.cli.output import Column, counts_table, dataset_columns, emit, node_view
from lineage.core.figures import draw, lineage_tree
from lineage.core.selector import parse_selector
from lineage.flags import as_of_time
from lineage.traversal import traverse as query
from lineage.traversal.show import show as show_node


def _lineage_command(direction: str):
    @click.argument("selector")
    @repo_option
    @click.option("--type", "types", multiple=True,
                  help="Dataset types to return (repeat or comma-separate).")
    @click.option("--depth", type=click.IntRange(min=1), default=None,
                  help="At most this many processing steps (quanta) away.")
    @click.option("--collection", default=None, help="Only datasets in this collection.")
    @click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N rows.")
    @click.option("--as-of", default=None,
                  help="Only what existed at this UTC time or release (docs/lineage.md).")
    @click.option("--max-nodes", type=click.IntRange(min=1), default=None,
                  help="Stop the search once it has reached N datasets (every type).")
    @click.option("--count", "count_only", is_flag=True, help="Only counts, by dataset type.")
    @click.option("--explain", "target", default=None,
                  help="Show one path from SELECTOR to this dataset instead.")
    @click.option("--plot", "plot_file", type=click.Path(dir_okay=False), default=None,
                  callback=check_plot_suffix,
                  help="Also draw how each dataset was reached (PNG, SVG or PDF by extension).")
    @format_option
    def command(selector, repo, types, depth, collection, limit, as_of, max_nodes, count_only,
                target, plot_file, fmt):
        types = [t for group in types for t in group.split(",") if t] or None
        with Repo(repo) as store:
            at = call(as_of_time, store, as_of)
            if target and (at or max_nodes):
                raise CliError("--explain takes neither --as-of nor --max-nodes")
            if target:
                path = call(query.explain, store, selector, target, direction, depth)
                if fmt == "table" and not path:
                    raise CliError(f"no lineage path from {selector} to {target}")
                steps = [{"step": i, "kind": k.split(":", 1)[0], "key": k,
                          **_describe(store, k)} for i, k in enumerate(path)]
                columns = [Column("#", "step"), Column("kind", "kind"),
                           Column("node", "node", wrap=True)]
                if any(s["deleted"] for s in steps):
                    columns.append(Column("deleted", "deleted"))
                emit(fmt, f"Lineage path {selector} -> {target}", steps, columns,
                     document={"from": selector, "to": target, "path": path,
                               "deleted": {s["key"]: s["deleted"] for s in steps
                                           if s["deleted"]}})
                return
            if count_only:
                counts = call(query.count, store, selector, direction, types, depth, collection,
                              at=at, max_nodes=max_nodes)
                _say_truncated(counts, max_nodes)
                if fmt == "table":
                    counts_table(f"{direction.capitalize()}stream of {selector}", counts)
                else:
                    emit(fmt, "", [{"dataset_type": t, "datasets": n} for t, n in counts.items()],
                         [], document={"selector": selector, "direction": direction,
                                       "counts": counts, "total": sum(counts.values())})
                return
            tree = {} if plot_file else None
            rows = call(query.traverse, store, selector, direction, types, depth, collection,
                        limit, tree, at=at, max_nodes=max_nodes)
            title = _plot_title(store, selector, tree) if plot_file else ""
        _say_truncated(rows, max_nodes)
        if plot_file:
            call(draw, lineage_tree(rows, tree, direction), plot_file,
                 f"{direction.capitalize()}stream of {title}")
            click.echo(f"wrote {plot_file}", err=True)
        records = [r.as_dict() for r in rows]
        emit(fmt, f"{direction.capitalize()}stream of {selector}", records,
             dataset_columns(records), f"{len(rows)} datasets")
    command.__doc__ = (f"Datasets {direction}stream of SELECTOR (a dataset UUID, a node key, "
                       f"or an expression such as visit=1228 or tract=9813,patch=40,band=r).")
    return command


def _say_truncated(answer, max_nodes) -> None:
    """Say on stderr that ``--max-nodes`` cut the answer (it is not the whole lineage)."""
    if answer.truncated:
        click.echo(f"truncated: --max-nodes {max_nodes} stopped the search", err=True)


def _plot_title(store, selector: str, tree: dict) -> str:
    """What a picture is of: the selector's data ID as typed, or for one selected node
    (a UUID or key) its type and data ID."""
    if len(tree["seeds"]) == 1 and parse_selector(selector).keys:
        return _describe(store, next(iter(tree["seeds"])))["node"]
    return selector


def _describe(store, key: str) -> dict:
    """``node``: what the node is, in words; ``deleted``: when, if it is a tombstone."""
    view = show_node(store, key, limit=0)
    p = view["properties"]
    if view["kind"] == "Dataset":
        node = f"{p.get('dataset_type')} {p.get('data_id')} ({p.get('run')})"
    elif view["kind"] == "Quantum":
        node = f"{p.get('task')} {p.get('data_id')}"
    else:
        node = key
    return {"node": node, "deleted": p.get("deleted_at")}


downstream = click.command("downstream")(_lineage_command(query.DOWN))
upstream = click.command("upstream")(_lineage_command(query.UP))


@click.command()
@click.argument("key")
@repo_option
@click.option("--limit", type=click.IntRange(min=0), default=25, show_default=True,
              help="Neighbours shown per direction.")
@format_option
def show(key: str, repo: str, limit: int, fmt: str) -> None:
    """Show one node (a key or dataset UUID) with its neighbours."""
    with Repo(repo) as store:
        view = call(show_node, store, key, limit)
    if fmt == "table":
        node_view(view)
    else:  # CSV and ECSV: a row per property, then per neighbour shown
        emit(fmt, "", [{"part": "property", "name": k, "value": v}
                       for k, v in sorted(view["properties"].items())]
             + [{"part": d, "name": e["rel"], "value": e["key"]}
                for d in ("out", "in") for e in view[d]["edges"]], [], document=view)

"""Commands on the graph itself: init, demo, downstream/upstream, show, export, copy,
cypher, status and the embedded engine."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from lineage.traversal import traverse as query
from lineage.traversal.show import show as show_node
from lineage.cli.output import console, counts_table, dataset_rows_table, node_view, print_json, table
from lineage.store.repo import CONFIG_NAME, EMBEDDED, init_repo, open_store, read_config
from lineage.store.base import MAX_RESULT_BYTES, MAX_RESULT_ROWS
from lineage.cli.common import (Repo, UserError, call, check_plot_suffix, cli, json_option, pairs,
                                repo_option)
from lineage.ingest import write_units
from lineage.export import copy_graph, write_jsonl
from lineage.core.progress import progress_bar
from lineage.core.model import Kind, Rel


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--store", default=EMBEDDED, show_default=True,
              help="'embedded' (FalkorDB, managed for you) or a bolt://host:port[/db] URI.")
def init(directory: str, store: str) -> None:
    """Create a lineage repository in DIRECTORY."""
    root = call(init_repo, directory, store)
    console().print(f"created repository [bold]{root}[/bold] (store: {store})")


@cli.command()
@repo_option
@click.option("--visits", type=click.IntRange(min=1), default=None,
              help="Number of visits (default 100).")
@click.option("--detectors", type=click.IntRange(min=1), default=None,
              help="Detectors per visit (default 20).")
@click.option("--small", is_flag=True, help="A tiny survey (14 visits x 6 detectors).")
@click.option("--nodes", type=click.IntRange(min=1000), default=None,
              help="Size the survey for about this many nodes (benchmarks: 1000000).")
@click.option("--visit", "visit", type=int, default=None,
              help="The visit to ask about (default: one processed in every release).")
@click.option("--images", is_flag=True,
              help="Also write a small FITS image for every calexp (docs/fetch.md).")
@json_option
def demo(repo: str, visits, detectors, small: bool, nodes, visit, images: bool,
         as_json: bool) -> None:
    """Build the demo survey into a repository and ask which coadds used one visit."""
    from dataclasses import replace

    from lineage.demo.survey import SurveySpec, default_visit, generate, plan_survey
    spec = SurveySpec.small() if small else SurveySpec.for_nodes(nodes) if nodes else SurveySpec()
    if visits:
        spec = replace(spec, visits=visits)
    if detectors:
        spec = replace(spec, detectors=detectors)
    if not (Path(repo) / CONFIG_NAME).exists() and "://" not in repo:
        call(init_repo, repo)
    units = list(generate(spec))
    total = sum(len(u) for u in units)
    catalogs = written = 0
    if "://" not in repo:  # the files live in the repository's datastore directory
        from lineage.demo.catalogs import write_catalogs
        from lineage.demo.images import record_files, write_images
        catalogs = call(write_catalogs, spec, units, Path(repo) / "datastore")
        if images:
            written = call(write_images, spec, units, Path(repo) / "datastore")
        call(record_files, units, Path(repo) / "datastore")  # real sizes and checksums
    with Repo(repo) as store:
        report = call(write_units, store, units, "demo survey", total, not as_json)
        v = visit or default_visit(spec)
        t0 = time.perf_counter()
        rows = call(query.downstream, store, f"visit={v}", types=["deepCoadd"])
        ms = (time.perf_counter() - t0) * 1000
    if as_json:
        print_json({"visit": v, "nodes_created": report.nodes_created,
                    "edges_created": report.edges_created, "catalog_files": catalogs,
                    "image_files": written,
                    "coadds": [r.as_dict() for r in rows]})
        return
    survey = plan_survey(spec)
    console().print(f"demo survey in [bold]{repo}[/bold]: {len(survey.visits)} visits x "
                  f"{spec.detectors} detectors, releases {', '.join(spec.releases)}; "
                  f"{report.nodes_created} nodes and {report.edges_created} edges new "
                  f"({report.entities_in / max(report.seconds, 1e-9):,.0f} nodes+edges/s)"
                  + (f"; {catalogs} DIA catalogs in {repo}/datastore" if catalogs else "")
                  + (f", {written} calexp images" if written else ""))
    dataset_rows_table(f"Which coadds used visit {v}?", rows,
                       f"{len(rows)} coadds, answered in {ms:.1f} ms; "
                       f"try: lineage downstream visit={v} --count --repo {repo}")


def _lineage_command(direction: str):
    @click.argument("selector")
    @repo_option
    @click.option("--type", "types", multiple=True,
                  help="Dataset types to return (repeat or comma-separate).")
    @click.option("--depth", type=click.IntRange(min=1), default=None,
                  help="At most this many processing steps (quanta) away.")
    @click.option("--collection", default=None, help="Only datasets in this collection.")
    @click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N rows.")
    @click.option("--count", "count_only", is_flag=True, help="Only counts, by dataset type.")
    @click.option("--explain", "target", default=None,
                  help="Show one path from SELECTOR to this dataset instead.")
    @click.option("--plot", "plot_file", type=click.Path(dir_okay=False), default=None,
                  callback=check_plot_suffix,
                  help="Also draw how each dataset was reached (PNG, SVG or PDF by extension).")
    @json_option
    def command(selector, repo, types, depth, collection, limit, count_only, target, plot_file,
                as_json):
        types = [t for group in types for t in group.split(",") if t] or None
        with Repo(repo) as store:
            if target:
                path = call(query.explain, store, selector, target, direction, depth)
                if as_json:
                    print_json({"from": selector, "to": target, "path": path})
                elif not path:
                    raise UserError(f"no lineage path from {selector} to {target}")
                else:
                    view = [(i, k.split(":", 1)[0], _describe(store, k)) for i, k in enumerate(path)]
                    table(f"Lineage path {selector} -> {target}", ["#", "kind", "node"], view)
                return
            if count_only:
                counts = call(query.count, store, selector, direction, types, depth, collection)
                if as_json:
                    print_json({"selector": selector, "direction": direction, "counts": counts,
                                "total": sum(counts.values())})
                else:
                    counts_table(f"{direction.capitalize()}stream of {selector}", counts)
                return
            tree = {} if plot_file else None
            rows = call(query.traverse, store, selector, direction, types, depth, collection,
                        limit, tree)
        if plot_file:
            from lineage.core.figures import draw, lineage_tree
            call(draw, lineage_tree(rows, tree["parents"], tree["seeds"]), plot_file,
                 f"{direction.capitalize()}stream of {selector}")
            click.echo(f"wrote {plot_file}", err=True)
        if as_json:
            print_json([r.as_dict() for r in rows])
        else:
            dataset_rows_table(f"{direction.capitalize()}stream of {selector}", rows,
                               f"{len(rows)} datasets")
    command.__doc__ = (f"Datasets {direction}stream of SELECTOR (a dataset UUID, a node key, "
                       f"or an expression such as visit=1228 or tract=9813,patch=40,band=r).")
    return command


def _describe(store, key: str) -> str:
    view = show_node(store, key, limit=0)
    p = view["properties"]
    if view["kind"] == "Dataset":
        return f"{p.get('dataset_type')} {p.get('data_id')} ({p.get('run')})"
    if view["kind"] == "Quantum":
        return f"{p.get('task')} {p.get('data_id')}"
    return key


cli.command("downstream")(_lineage_command(query.DOWN))
cli.command("upstream")(_lineage_command(query.UP))


@cli.command()
@click.argument("key")
@repo_option
@click.option("--limit", type=click.IntRange(min=0), default=25, show_default=True,
              help="Neighbours shown per direction.")
@json_option
def show(key: str, repo: str, limit: int, as_json: bool) -> None:
    """Show one node (a key or dataset UUID) with its neighbours."""
    with Repo(repo) as store:
        view = call(show_node, store, key, limit)
    if as_json:
        print_json(view)
    else:
        node_view(view)


@cli.command()
@repo_option
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-",
              help="File to write (default: standard output).")
def export(repo: str, fmt: str, output: str) -> None:
    """Write every node and edge of the graph (JSON lines, stable order)."""
    if output != "-" and not Path(output).resolve().parent.is_dir():
        raise UserError(f"cannot write {output}: {Path(output).parent} is not a directory")
    with Repo(repo) as store:
        nodes, edges = call(store.count)
        # atomic: a failed export never replaces a good file with half of one
        out = call(click.open_file, output, "w", atomic=output != "-")
        with out, progress_bar("export", nodes + edges, "records", output != "-") as advance:
            call(write_jsonl, store, out, advance)
    if output != "-":
        console().print(f"wrote {nodes} nodes and {edges} edges to {output}")


@cli.command()
@click.option("--from", "source", required=True, metavar="REPO_OR_URI",
              help="Repository directory or bolt:// URI to read.")
@click.option("--to", "target", required=True, metavar="REPO_OR_URI",
              help="Repository directory (created if missing) or bolt:// URI to write.")
@click.option("--merge", is_flag=True,
              help="Allow a non-empty target (nodes and edges merge on their keys).")
def copy(source: str, target: str, merge: bool) -> None:
    """Copy a whole graph between repositories or engines, losslessly."""
    if "://" not in target and not (Path(target) / CONFIG_NAME).exists():
        call(init_repo, target)
    with Repo(source) as src, Repo(target) as dst:
        if not merge and call(dst.count) != (0, 0):
            raise UserError(f"{target} is not empty; use --merge to copy into it anyway")
        t0 = time.perf_counter()
        n = call(copy_graph, src, dst, True)
        secs = time.perf_counter() - t0
    console().print(f"copied {n} nodes and edges from {source} ({src.engine}) to {target} "
                  f"({dst.engine}) in {secs:.1f} s")


@cli.command()
@click.argument("cypher_query")
@repo_option
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Query parameter (VALUE is JSON if it parses, else a string).")
@click.option("--timeout", type=click.FloatRange(min=0.001), default=30.0, show_default=True,
              help="Stop the query after this many seconds.")
@click.option("--max-rows", type=click.IntRange(min=1), default=MAX_RESULT_ROWS,
              show_default=True, help="Refuse a result with more rows.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=MAX_RESULT_BYTES,
              show_default=True, help="Refuse a result larger than this (as the engine sends it).")
@json_option
def cypher(cypher_query: str, repo: str, params, timeout: float, max_rows: int, max_bytes: int,
           as_json: bool) -> None:
    """Run a read-only Cypher query.

    Refused before anything is sent: writes, schema changes, LOAD CSV and procedures that
    touch files, more than one statement, and range() calls that could exhaust the
    engine's memory (docs/security.md)."""
    values = {}
    for name, raw in pairs("--param", params).items():
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw
    with Repo(repo) as store:
        columns, rows = call(store.read_only, cypher_query, values, timeout, max_rows, max_bytes)
    if as_json:
        print_json([dict(zip(columns, r)) for r in rows])
    else:
        table("", columns, rows, f"{len(rows)} rows")


@cli.command()
@repo_option
@json_option
def status(repo: str, as_json: bool) -> None:
    """Count nodes by kind and edges by type."""
    with Repo(repo) as store:
        nodes = {k.value: call(store.read, f"MATCH (n:{k.value}) RETURN count(n)")[0][0] for k in Kind}
        edges = {r.value: call(store.read, f"MATCH ()-[e:{r.value}]->() RETURN count(e)")[0][0]
                 for r in Rel}
        engine = store.engine
    if as_json:
        print_json({"engine": engine, "nodes": nodes, "edges": edges})
        return
    table(f"{repo} ({engine})", ["node kind", "count"], [(k, v) for k, v in nodes.items() if v])
    table("", ["edge type", "count"], [(k, v) for k, v in edges.items() if v])


# --- ingest (docs/ingest.md) --------------------------------------------------------


@cli.group()
def engine() -> None:
    """Keep the embedded engine running between commands (faster), or stop it."""


@engine.command("start")
@repo_option
def engine_start(repo: str) -> None:
    """Start the embedded engine and keep it running until `lineage engine stop`."""
    store = call(open_store, repo, keep=True)
    store.close()
    console().print(f"embedded engine of {repo} is running")


@engine.command("stop")
@repo_option
def engine_stop(repo: str) -> None:
    """Stop the embedded engine (whoever started it)."""
    from lineage.store.falkordb_server import FalkorServer
    call(read_config, Path(repo))
    ran = call(FalkorServer(Path(repo)).stop)
    console().print("stopped" if ran else "was not running")


@engine.command("status")
@repo_option
def engine_status(repo: str) -> None:
    """Say whether the embedded engine runs, and its PID."""
    from lineage.store.falkordb_server import FalkorServer
    call(read_config, Path(repo))
    server = FalkorServer(Path(repo))
    pid, owner = call(server.owner)
    if call(server.answering):
        console().print(f"running (pid {server.pid()}, socket {server.socket_path})")
    elif owner == "ours":
        console().print(f"not answering (pid {pid}); `lineage engine stop` stops it")
    elif owner == "foreign":
        console().print(f"not running (its PID file names process {pid}, which is not this "
                      "engine: a stale file, removed at the next start)")
    else:
        console().print("not running")


# --- calibrations and sky overlaps (docs/ingest.md) ----------------------------------

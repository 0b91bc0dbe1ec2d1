"""The ``lineage`` command line: a thin layer over the Python API.

Every command takes ``--repo DIR`` (or ``LINEAGE_REPO``; a Bolt URI works
too).  Errors the user can fix print one line, ``lineage: error: ...``, and
exit with status 2; no traceback.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from . import flags as flagging
from . import query
from .model import ModelError
from .output import console, counts_table, dataset_rows_table, node_view, print_json, table
from .ingest.files import KINDS, IngestError
from .repo import CONFIG_NAME, EMBEDDED, init_repo, open_store
from .selector import SelectorError
from .store.base import StoreError

DEFAULT_REPO = "lineage-repo"

repo_option = click.option(
    "--repo", "repo", envvar="LINEAGE_REPO", default=DEFAULT_REPO, show_default=True,
    help="Repository directory (or a bolt:// URI). Also LINEAGE_REPO.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


class UserError(click.ClickException):
    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"lineage: error: {self.format_message()}", err=True)


def _run(fn, *args, **kwargs):
    """Call into the library, turning its user-facing errors into one-line messages."""
    try:
        return fn(*args, **kwargs)
    except (StoreError, ModelError, SelectorError, flagging.FlagError, IngestError,
            OSError) as exc:
        raise UserError(str(exc)) from None


class _Repo:
    """Opens the store lazily and closes it when the command ends."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.store = None

    def __enter__(self):
        self.store = _run(open_store, self.target)
        return self.store

    def __exit__(self, *exc):
        if self.store is not None:
            _run(self.store.close)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="survey-lineage")
def cli() -> None:
    """Provenance and lineage for survey data: which coadds used this visit?"""


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--store", default=EMBEDDED, show_default=True,
              help="'embedded' (FalkorDB, managed for you) or a bolt://host:port[/db] URI.")
def init(directory: str, store: str) -> None:
    """Create a lineage repository in DIRECTORY."""
    root = _run(init_repo, directory, store)
    console.print(f"created repository [bold]{root}[/bold] (store: {store})")


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
@json_option
def demo(repo: str, visits, detectors, small: bool, nodes, visit, as_json: bool) -> None:
    """Build the demo survey into a repository and ask which coadds used one visit."""
    from dataclasses import replace

    from .demo import SurveySpec, default_visit, generate, plan_survey
    from .ingest import write_units
    spec = SurveySpec.small() if small else SurveySpec.for_nodes(nodes) if nodes else SurveySpec()
    if visits:
        spec = replace(spec, visits=visits)
    if detectors:
        spec = replace(spec, detectors=detectors)
    if not (Path(repo) / CONFIG_NAME).exists() and "://" not in repo:
        _run(init_repo, repo)
    units = list(generate(spec))
    total = sum(len(u) for u in units)
    with _Repo(repo) as store:
        report = _run(write_units, store, units, "demo survey", total, not as_json)
        v = visit or default_visit(spec)
        t0 = time.perf_counter()
        rows = _run(query.downstream, store, f"visit={v}", types=["deepCoadd"])
        ms = (time.perf_counter() - t0) * 1000
    if as_json:
        print_json({"visit": v, "nodes_created": report.nodes_created,
                    "edges_created": report.edges_created,
                    "coadds": [r.as_dict() for r in rows]})
        return
    survey = plan_survey(spec)
    console.print(f"demo survey in [bold]{repo}[/bold]: {len(survey.visits)} visits x "
                  f"{spec.detectors} detectors, releases {', '.join(spec.releases)}; "
                  f"{report.nodes_created} nodes and {report.edges_created} edges new "
                  f"({report.entities_in / max(report.seconds, 1e-9):,.0f} nodes+edges/s)")
    dataset_rows_table(f"Which coadds used visit {v}?", rows,
                       f"{len(rows)} coadds, answered in {ms:.1f} ms; "
                       f"try: lineage downstream visit={v} --count --repo {repo}")


PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def _plot_suffix(ctx, param, value):
    if value is not None and Path(value).suffix.lower() not in PLOT_SUFFIXES:
        raise click.BadParameter(f"{value}: the picture must end in {', '.join(PLOT_SUFFIXES)}")
    return value


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
                  callback=_plot_suffix,
                  help="Also draw how each dataset was reached (PNG, SVG or PDF by extension).")
    @json_option
    def command(selector, repo, types, depth, collection, limit, count_only, target, plot_file,
                as_json):
        types = [t for group in types for t in group.split(",") if t] or None
        with _Repo(repo) as store:
            if target:
                path = _run(query.explain, store, selector, target, direction, depth)
                if as_json:
                    print_json({"from": selector, "to": target, "path": path})
                elif not path:
                    raise UserError(f"no lineage path from {selector} to {target}")
                else:
                    view = [(i, k.split(":", 1)[0], _describe(store, k)) for i, k in enumerate(path)]
                    table(f"Lineage path {selector} -> {target}", ["#", "kind", "node"], view)
                return
            if count_only:
                counts = _run(query.count, store, selector, direction, types, depth, collection)
                if as_json:
                    print_json({"selector": selector, "direction": direction, "counts": counts,
                                "total": sum(counts.values())})
                else:
                    counts_table(f"{direction.capitalize()}stream of {selector}", counts)
                return
            tree = {} if plot_file else None
            rows = _run(query.traverse, store, selector, direction, types, depth, collection,
                        limit, tree)
        if plot_file:
            from .plot import draw, lineage_tree
            _run(draw, lineage_tree(rows, tree["parents"], tree["seeds"]), plot_file,
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
    view = query.show(store, key, limit=0)
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
    with _Repo(repo) as store:
        view = _run(query.show, store, key, limit)
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
    from .export import write_jsonl
    from .progress import progress_bar
    if output != "-" and not Path(output).resolve().parent.is_dir():
        raise UserError(f"cannot write {output}: {Path(output).parent} is not a directory")
    with _Repo(repo) as store:
        nodes, edges = _run(store.count)
        # atomic: a failed export never replaces a good file with half of one
        out = _run(click.open_file, output, "w", atomic=output != "-")
        with out, progress_bar("export", nodes + edges, "records", output != "-") as advance:
            _run(write_jsonl, store, out, advance)
    if output != "-":
        console.print(f"wrote {nodes} nodes and {edges} edges to {output}")


@cli.command()
@click.option("--from", "source", required=True, metavar="REPO_OR_URI",
              help="Repository directory or bolt:// URI to read.")
@click.option("--to", "target", required=True, metavar="REPO_OR_URI",
              help="Repository directory (created if missing) or bolt:// URI to write.")
@click.option("--merge", is_flag=True,
              help="Allow a non-empty target (nodes and edges merge on their keys).")
def copy(source: str, target: str, merge: bool) -> None:
    """Copy a whole graph between repositories or engines, losslessly."""
    from .export import copy_graph
    if "://" not in target and not (Path(target) / CONFIG_NAME).exists():
        _run(init_repo, target)
    with _Repo(source) as src, _Repo(target) as dst:
        if not merge and _run(dst.count) != (0, 0):
            raise UserError(f"{target} is not empty; use --merge to copy into it anyway")
        t0 = time.perf_counter()
        n = _run(copy_graph, src, dst, True)
        secs = time.perf_counter() - t0
    console.print(f"copied {n} nodes and edges from {source} ({src.engine}) to {target} "
                  f"({dst.engine}) in {secs:.1f} s")


def _pairs(option: str, items) -> dict[str, str]:
    """``NAME=VALUE`` option values as a dict."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UserError(f"{option} {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


@cli.command()
@click.argument("cypher_query")
@repo_option
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Query parameter (VALUE is JSON if it parses, else a string).")
@click.option("--timeout", type=click.FloatRange(min=0.001), default=30.0, show_default=True,
              help="Stop the query after this many seconds.")
@json_option
def cypher(cypher_query: str, repo: str, params, timeout: float, as_json: bool) -> None:
    """Run a read-only Cypher query; writes are refused."""
    values = {}
    for name, raw in _pairs("--param", params).items():
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw
    with _Repo(repo) as store:
        columns, rows = _run(store.read_only, cypher_query, values, timeout)
    if as_json:
        print_json([dict(zip(columns, r)) for r in rows])
    else:
        table("", columns, rows, f"{len(rows)} rows")


@cli.command()
@repo_option
@json_option
def status(repo: str, as_json: bool) -> None:
    """Count nodes by kind and edges by type."""
    from .model import Kind, Rel
    with _Repo(repo) as store:
        nodes = {k.value: _run(store.read, f"MATCH (n:{k.value}) RETURN count(n)")[0][0] for k in Kind}
        edges = {r.value: _run(store.read, f"MATCH ()-[e:{r.value}]->() RETURN count(e)")[0][0]
                 for r in Rel}
        engine = store.engine
    if as_json:
        print_json({"engine": engine, "nodes": nodes, "edges": edges})
        return
    table(f"{repo} ({engine})", ["node kind", "count"], [(k, v) for k, v in nodes.items() if v])
    table("", ["edge type", "count"], [(k, v) for k, v in edges.items() if v])


# --- ingest (docs/ingest.md) --------------------------------------------------------

@cli.command("ingest")
@click.argument("kind", metavar="KIND", type=click.Choice(KINDS))
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@repo_option
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="A setting for the reader, e.g. DRP_PIPE_DIR=DIR for pipeline imports.")
@click.option("--dry-run", is_flag=True, help="Read and check every file; write nothing.")
@json_option
def ingest_command(kind, paths, repo, variables, dry_run, as_json):
    """Read files of one KIND into the graph, each file all-or-nothing.

    KIND is one of: headers, butler-export, skymap, pipeline, run, efd, metrics.
    Directories are searched for that kind's files.  Running it twice adds
    nothing the second time.  Exit status 1 if any file was rejected.
    """
    from .ingest.files import ingest
    settings = _pairs("--var", variables)
    with _Repo(repo) as store:
        summary = _run(ingest, store, kind, paths, settings, dry_run, not as_json)
    if as_json:
        print_json(summary.as_dict())
    else:
        _ingest_view(summary)
    if summary.rejected:
        sys.exit(1)


def _ingest_view(summary) -> None:
    rows = []
    for f in summary.files:
        what = ", ".join(f"{v} {k}" for k, v in f.counts.items())
        rows.append((Path(f.path).name, f.status, what, f.nodes_created, f.edges_created,
                     len(f.skipped) or ""))
    table(f"lineage ingest {summary.kind}",
          ["file", "status", "holds", "new nodes", "new edges", "skipped"], rows,
          fold=("holds", "file"))
    for f in summary.files:
        for reason in f.skipped:
            console.print(f"[yellow]skipped[/yellow] {Path(f.path).name}: {reason}",
                          highlight=False)
    for f in summary.rejected:
        console.print(f"[red]rejected[/red] {f.error}", highlight=False)
    t = summary.totals()
    console.print(f"{t['files']} files: {t['nodes_created']} nodes and {t['edges_created']} "
                  f"edges added, {t['skipped_records']} records skipped, "
                  f"{t['rejected']} files rejected", highlight=False)


# --- flags (docs/flags.md) ----------------------------------------------------------

def _blast_radius_view(title: str, radius: dict) -> None:
    counts_table(title, radius["by_dataset_type"])
    if "by_tract_band" in radius:
        table("By tract and band", ["tract", "band", "datasets"],
              [(r["tract"], r["band"], r["datasets"]) for r in radius["by_tract_band"]])
    table("Most affected products", ["dataset type", "data ID", "run", "steps", "fraction",
                                     "UUID"],
          [(r["dataset_type"], r["data_id"], r["run"], r["steps"], f"{r['fraction']:.4f}",
            r["key"].split(":", 1)[1]) for r in radius["most_affected"]],
          f"{radius['flagged']} datasets flagged, {radius['datasets']} datasets and "
          f"{radius['quanta']} quanta contaminated")


@cli.command("flag")
@click.argument("selector")
@repo_option
@click.option("--verdict", required=True, metavar="bad|suspect", help="bad or suspect.")
@click.option("--reason", required=True, help="Why (free text).")
@click.option("--evidence", required=True, metavar="URI_OR_FILE",
              help="A URI, or a file (recorded as a file URI with its SHA-256).")
@click.option("--by", "by", required=True, help="Who flags.")
@click.option("--authority", default="", help="On whose authority (default: --by), e.g. DRB.")
@click.option("--dry-run", is_flag=True, help="Only print the blast radius; write nothing.")
@json_option
def flag_command(selector, repo, verdict, reason, evidence, by, authority, dry_run, as_json):
    """Flag a visit, exposure, detector-visit, dataset or quantum as bad or suspect, and mark
    everything downstream of it as contaminated (SELECTOR as for `downstream`)."""
    with _Repo(repo) as store:
        report = _run(flagging.flag, store, selector, verdict, reason, evidence, by,
                      authority, dry_run)
    if as_json:
        print_json(report)
        return
    verb = "would flag" if dry_run else "flagged"
    _blast_radius_view(f"{verb} {selector} as {verdict}: blast radius",
                       report["blast_radius"])
    if dry_run:
        console.print("dry run: nothing written")
    else:
        console.print(f"wrote [bold]{report['flag']}[/bold] at {report['created_at']} (UTC)")


@cli.command("unflag")
@click.argument("flag_id")
@repo_option
@click.option("--reason", required=True, help="Why the flag is retracted.")
@click.option("--by", "by", required=True, help="Who retracts.")
@json_option
def unflag_command(flag_id, repo, reason, by, as_json):
    """Retract a flag (recorded on it; nothing is deleted)."""
    with _Repo(repo) as store:
        record = _run(flagging.unflag, store, flag_id, reason, by)
    if as_json:
        print_json(record)
    else:
        console.print(f"retracted {record['key']} at {record['retracted_at']} (UTC)")


@cli.command("contaminated")
@click.argument("selector")
@repo_option
@click.option("--as-of", default=None, metavar="TIME|RELEASE",
              help="Flags active at this UTC date/time or release instead of now.")
@json_option
def contaminated_command(selector, repo, as_of, as_json):
    """Is this dataset or quantum contaminated, by which flags, how much?"""
    with _Repo(repo) as store:
        answer = _run(flagging.contamination, store, selector, as_of)
    if as_json:
        print_json(answer)
        return
    if not answer["by"]:
        console.print(f"{answer['key']}: not contaminated"
                      + (f" as of {as_of}" if as_of else ""))
        return
    table(f"{answer['key']}: contaminated ({answer['verdict']})",
          ["flag", "verdict", "steps", "fraction"],
          [(m["flag"], m["verdict"], m["steps"], f"{m['fraction']:.4f}") for m in answer["by"]])


@cli.group("flags")
def flags_group() -> None:
    """List, move, plan around and inspect flags."""


@flags_group.command("list")
@repo_option
@click.option("--as-of", default=None, metavar="TIME|RELEASE",
              help="Flags active at this UTC date/time or release.")
@click.option("--all", "include_retracted", is_flag=True, help="Retracted flags too.")
@json_option
def flags_list(repo, as_of, include_retracted, as_json):
    """Active flags (now, or as of a time or release)."""
    with _Repo(repo) as store:
        rows = _run(flagging.list_flags, store, as_of, include_retracted)
    if as_json:
        print_json(rows)
        return
    table("Flags" + (f" as of {as_of}" if as_of else ""),
          ["flag", "verdict", "selector", "by", "authority", "created (UTC)", "retracted (UTC)"],
          [(f["key"], f["verdict"], f["selector"], f["by"], f.get("authority"), f["created_at"],
            f.get("retracted_at", "")) for f in rows], f"{len(rows)} flags")


@flags_group.command("show")
@click.argument("flag_id")
@repo_option
@json_option
def flags_show(flag_id, repo, as_json):
    """One flag with its history and how many nodes it marks."""
    with _Repo(repo) as store:
        record = _run(flagging.find_flag, store, flag_id)
        marks = _run(flagging.marks, store, record["key"])
    record["marked_datasets"] = sum(1 for k in marks if k.startswith("dataset:"))
    record["marked_quanta"] = sum(1 for k in marks if k.startswith("quantum:"))
    if as_json:
        print_json(record)
    else:
        table(f"Flag {record['key']}", ["property", "value"],
              [(k, v) for k, v in record.items() if k != "key"])


@flags_group.command("plan")
@repo_option
@click.option("--flag", "flag_ids", multiple=True, help="Only these flags (default: all active).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the plan as JSON to this file.")
@json_option
def flags_plan(repo, flag_ids, output, as_json):
    """Quanta to rerun without the flagged inputs, in dependency order (LDF101 e)."""
    with _Repo(repo) as store:
        plan = _run(flagging.reprocessing_plan, store, flag_ids or None)
    if output:
        with click.open_file(output, "w") as out:
            out.write(json.dumps(plan, indent=2, sort_keys=True) + "\n")
    if as_json:
        print_json(plan)
        return
    per_task: dict[str, int] = {}
    for e in plan["rerun"]:
        per_task[e["task"]] = per_task.get(e["task"], 0) + 1
    table("Quanta to rerun, by task (in dependency order of first appearance)",
          ["task", "quanta"], list(per_task.items()),
          f"{len(plan['rerun'])} to rerun, {len(plan['dropped'])} dropped (no unflagged "
          f"science inputs left), {len(plan['excluded_datasets'])} flagged datasets excluded")
    table("Data-ID expressions", ["task", "expression"],
          [(t, e if len(e) < 160 else e[:157] + "...") for t, e in plan["data_queries"].items()])
    if output:
        console.print(f"wrote the plan to {output}")


@flags_group.command("inputs")
@click.argument("selector")
@repo_option
@click.option("--type", "types", multiple=True, help="Only these input dataset types.")
@click.option("--without-flagged", is_flag=True, help="Leave flagged inputs out.")
@json_option
def flags_inputs(selector, repo, types, without_flagged, as_json):
    """Every input of a product, flagged ones marked: rebuild it with or without them (LDF102)."""
    types = [t for group in types for t in group.split(",") if t] or None
    with _Repo(repo) as store:
        rows = _run(flagging.inputs_for, store, selector, types)
    if without_flagged:
        rows = [r for r in rows if not r["flagged"]]
    if as_json:
        print_json(rows)
        return
    n = sum(r["flagged"] for r in rows)
    table(f"Inputs of {selector}", ["dataset type", "data ID", "run", "steps", "flagged"],
          [(r["dataset_type"], r["data_id"], r["run"], r["steps"],
            "FLAGGED" if r["flagged"] else "") for r in rows],
          f"{len(rows)} inputs, {n} flagged")


@flags_group.command("recompute")
@click.argument("flag_id")
@repo_option
@json_option
def flags_recompute(flag_id, repo, as_json):
    """Propagate a flag again (after new processing) and replace its marks."""
    with _Repo(repo) as store:
        report = _run(flagging.recompute, store, flag_id)
    if as_json:
        print_json(report)
    else:
        console.print(f"{report['flag']}: {report['marked']} marks, {report['removed']} removed")


@flags_group.command("block")
@click.argument("dataset")
@click.argument("quantum")
@repo_option
@click.option("--reason", required=True, help="Why the step rejected the input.")
@click.option("--by", "by", required=True, help="Who records it.")
@json_option
def flags_block(dataset, quantum, repo, reason, by, as_json):
    """Record that QUANTUM rejected input DATASET: contamination does not flow through it."""
    with _Repo(repo) as store:
        report = _run(flagging.block_input, store, dataset, quantum, reason, by)
    if as_json:
        print_json(report)
    else:
        console.print(f"blocked {dataset} -> {quantum}; recomputed "
                      f"{len(report['recomputed'])} flags")


@flags_group.command("export")
@repo_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-",
              help="File to write (default: standard output).")
def flags_export(repo, output):
    """Write every flag, its history, targets and rejected inputs (JSON lines)."""
    with _Repo(repo) as store, click.open_file(output, "w") as out:
        n = _run(flagging.export_flags, store, out)
    if output != "-":
        console.print(f"wrote {n} records to {output}")


@flags_group.command("import")
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True))
@repo_option
@json_option
def flags_import(path, repo, as_json):
    """Read a flags export (all or nothing) and propagate the flags here."""
    import io
    try:
        with click.open_file(path, "r") as f:
            text = f.read()
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}") from None
    with _Repo(repo) as store:
        report = _run(flagging.import_flags, store, io.StringIO(text), path)
    if as_json:
        print_json(report)
    else:
        console.print(f"imported {report['flags']} flags ({report['edges']} edges) from {path}; "
                      "contamination recomputed")


# --- the GraphQL API (docs/api.md) ---------------------------------------------------

def _repo_dir(repo: str) -> Path:
    from .repo import read_config
    if "://" in repo:
        raise UserError("API tokens live in a repository directory; give --repo DIR "
                        "(a repository may point at a Bolt server: lineage init DIR --store ...)")
    _run(read_config, Path(repo))
    return Path(repo)


@cli.command()
@repo_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--read-access", type=click.Choice(["loopback", "open", "token"]),
              default="loopback", show_default=True, envvar="LINEAGE_API_READ_ACCESS",
              help="Who may read without a token: loopback clients, everyone, or nobody.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds one request may take.")
@click.option("--max-page-size", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--max-depth", type=click.IntRange(min=1), default=12, show_default=True)
@click.option("--max-cost", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve(repo, host, port, read_access, timeout, max_page_size, max_depth, max_cost, log_level):
    """Serve the GraphQL API (/graphql, GraphiQL, /health) over a repository."""
    import uvicorn

    from .api.app import create_app
    from .api.settings import ApiSettings
    from .repo import read_config
    if "://" not in repo:
        _run(read_config, Path(repo))
    settings = ApiSettings(max_page_size=max_page_size, default_page_size=min(50, max_page_size),
                           max_depth=max_depth, max_cost=max_cost, timeout=timeout,
                           read_access=read_access)
    app = create_app(repo, settings=settings)
    click.echo(f"lineage API on http://{host}:{port}/graphql (repository {repo})", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


@cli.group()
def token() -> None:
    """API tokens of a repository: create, list, revoke."""


@token.command("create")
@repo_option
@click.option("--name", required=True, help="Whose token (recorded as `by` on flags).")
@click.option("--role", type=click.Choice(["reader", "flagger", "admin"]), required=True,
              help="reader: queries; flagger: flag and unflag too; admin: everything.")
@json_option
def token_create(repo, name, role, as_json):
    """Create a token; it is shown once and stored only hashed."""
    from .api.auth import TokenStore
    from .api.errors import ApiError
    try:
        record, text = TokenStore(_repo_dir(repo)).create(name, role)
    except ApiError as exc:
        raise UserError(str(exc)) from None
    if as_json:
        print_json({**record.public(), "token": text})
        return
    console.print(f"token {record.id} for {record.name} (role {record.role}); "
                  "keep it, it is not shown again:")
    click.echo(text)


@token.command("list")
@repo_option
@json_option
def token_list(repo, as_json):
    """Tokens (never their secrets)."""
    from .api.auth import TokenStore
    records = [r.public() for r in TokenStore(_repo_dir(repo)).list()]
    if as_json:
        print_json(records)
        return
    table("API tokens", ["id", "name", "role", "created (UTC)", "revoked (UTC)"],
          [(r["id"], r["name"], r["role"], r["created_at"], r["revoked_at"] or "")
           for r in records], f"{len(records)} tokens")


@token.command("revoke")
@click.argument("token_id")
@repo_option
def token_revoke(token_id, repo):
    """Revoke a token by id (a running server refuses it from its next request)."""
    from .api.auth import TokenStore
    from .api.errors import ApiError
    try:
        record = TokenStore(_repo_dir(repo)).revoke(token_id)
    except ApiError as exc:
        raise UserError(str(exc)) from None
    console.print(f"revoked {record.id} ({record.name}) at {record.revoked_at}")


@cli.command("query")
@click.argument("name", required=False)
@repo_option
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="Operation variable (strings as given, numbers and lists as JSON; a list "
                   "may be comma-separated).")
@click.option("--list", "list_only", is_flag=True, help="List the saved operations.")
def query_command(name, repo, variables, list_only):
    """Run a saved named GraphQL operation (graphql/*.graphql) against a repository."""
    import asyncio

    from .api.saved import SavedOperations
    repo_dir = None if "://" in repo else Path(repo)
    saved = SavedOperations.default(repo_dir if repo_dir and repo_dir.is_dir() else None)
    if list_only or not name:
        ops = _run(saved.all)
        table("Saved operations", ["name", "kind", "variables", "source", "description"],
              [(o.name, o.kind, ", ".join(f"${k}: {v}" for k, v in o.info()["variables"].items()),
                o.info()["source"], o.description) for o in ops], f"{len(ops)} operations")
        return
    try:
        op = saved.get(name)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    try:
        values = op.coerce(_pairs("--var", variables))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    from .api.local import run_local
    with _Repo(repo) as store:
        body = asyncio.run(run_local(store, op.document, values, op.name, repo_dir))
    print_json(body)
    if body.get("errors"):
        raise UserError("; ".join(e["message"] for e in body["errors"]))


@cli.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-",
              help="File to write (default: standard output).")
def schema_command(output):
    """Print the GraphQL schema (SDL), as graphql/schema.graphql holds it."""
    from .api.saved import sdl
    with click.open_file(output, "w") as out:
        out.write(sdl())


@cli.group()
def engine() -> None:
    """Keep the embedded engine running between commands (faster), or stop it."""


@engine.command("start")
@repo_option
def engine_start(repo: str) -> None:
    """Start the embedded engine and keep it running until `lineage engine stop`."""
    store = _run(open_store, repo, keep=True)
    store.close()
    console.print(f"embedded engine of {repo} is running")


@engine.command("stop")
@repo_option
def engine_stop(repo: str) -> None:
    """Stop the embedded engine (whoever started it)."""
    from .repo import read_config
    from .store.falkordb_server import FalkorServer
    _run(read_config, Path(repo))
    ran = FalkorServer(Path(repo)).stop()
    console.print("stopped" if ran else "was not running")


@engine.command("status")
@repo_option
def engine_status(repo: str) -> None:
    """Say whether the embedded engine runs, and its PID."""
    from .repo import read_config
    from .store.falkordb_server import FalkorServer
    _run(read_config, Path(repo))
    server = FalkorServer(Path(repo))
    if server.answering():
        console.print(f"running (pid {server.pid()}, socket {server.socket_path})")
    else:
        console.print("not running")


# --- calibrations and sky overlaps (docs/ingest.md) ----------------------------------

@cli.command("calibs")
@click.argument("selector")
@repo_option
@click.option("--collection", default=None,
              help="A CALIBRATION collection, or a chain holding some (default: all of them).")
@click.option("--type", "types", multiple=True, help="Only this dataset type (repeatable).")
@click.option("--at", "at", default=None, metavar="TIME",
              help="ISO time or MJD (default: the exposure's own timespan).")
@click.option("--scale", default="tai", show_default=True,
              type=click.Choice(["tai", "utc", "tt"]), help="Time scale of --at.")
@json_option
def calibs_command(selector, repo, collection, types, at, scale, as_json):
    """Calibrations valid for an exposure: SELECTOR is exposure=N or visit=N, optionally
    with instrument= and detector= (or a data-unit key)."""
    from .calibs import CalibError, valid_calibrations
    with _Repo(repo) as store:
        try:
            rows = _run(valid_calibrations, store, selector, at, collection, types, scale)
        except CalibError as exc:
            raise UserError(str(exc)) from None
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    def when(t, unbounded):  # 2013-05-07T00:00:00.000000000 -> 2013-05-07T00:00:00
        return t.rstrip("0").rstrip(".") if t and "." in t else t or unbounded
    table(f"calibrations valid for {selector}" + (f" at {at} ({scale})" if at else ""),
          ["dataset type", "data ID", "valid from (TAI)", "valid to (TAI)", "collection",
           "UUID"],
          [(r.dataset_type, r.data_id, when(r.valid_begin, "-inf"), when(r.valid_end, "+inf"),
            r.collection, r.key.split(":", 1)[1]) for r in rows],
          f"{len(rows)} calibrations (--json adds their runs)", fold=("data ID",))


@cli.command("overlaps")
@click.argument("selector")
@repo_option
@json_option
def overlaps_command(selector, repo, as_json):
    """Sky-map tracts and patches a visit's detectors overlap (visit=V[,detector=D]),
    or the visits and visit-detectors on a tract or patch (tract=T[,patch=P])."""
    from .regions import overlaps_of
    from .selector import parse_selector
    sel = _run(parse_selector, selector)
    if not sel.pairs:
        raise UserError("give visit=V[,detector=D][,instrument=I] or tract=T[,patch=P][,skymap=S]")
    with _Repo(repo) as store:
        try:
            rows = _run(overlaps_of, store, dict(sel.pairs))
        except ValueError as exc:
            raise UserError(str(exc)) from None
    if as_json:
        print_json([{"observation": o, "sky_map_unit": t} for o, t in rows])
        return
    table(f"overlaps of {selector}", ["observation", "overlaps"], rows,
          f"{len(rows)} overlaps")


def main() -> None:
    try:
        cli.main(prog_name="lineage", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover
        click.echo("lineage: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()

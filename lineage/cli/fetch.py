"""``lineage fetch``: from graph answers to files (docs/fetch.md), and the options and
dataset selection it shares with ``lineage cache prefetch``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from lineage.api.local import run_local
from lineage.api.saved import SavedOperations
from lineage.cli.common import Repo, CliError, call, format_option, pairs, repo_option
from lineage.cli.output import emit, print_json, table
from lineage.fetch.datastore import dataset_keys, datastore_for, resolve
from lineage.fetch.select import keep_only, select
from lineage.fetch.transfer import FetchError, fetch, plan
from lineage.standards.stamp import Stamper, provenance_of


SAVED_PREFIX = "graphql:"


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def query_options(command):
    """The options that make QUERY a lineage question (as ``lineage downstream`` takes them)."""
    options = [
        click.argument("query_text", metavar="QUERY"),
        repo_option,
        click.option("--downstream", "direction", flag_value="down",
                     help="The datasets downstream of the selector (e.g. visit=1228)."),
        click.option("--upstream", "direction", flag_value="up",
                     help="The datasets upstream of the selector."),
        click.option("--type", "types", multiple=True,
                     help="Only these dataset types (repeat or comma-separate)."),
        click.option("--depth", type=click.IntRange(min=1), default=None,
                     help="At most this many processing steps away."),
        click.option("--collection", default=None, help="Only datasets in this collection."),
        click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
                     help="Variables of a saved GraphQL query (QUERY graphql:NAME)."),
        click.option("--datastore", default=None, metavar="ROOT",
                     help="Where the files are: a directory, file://, s3://, https:// URL or "
                          "butler:REPO (default: the repository's datastore, REPO/datastore)."),
        click.option("--include-deleted", is_flag=True,
                     help="Deleted datasets too (tombstones; their files may be gone)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _saved_answer(store, repo: str, name: str, variables) -> dict:
    repo_dir = None if "://" in repo else Path(repo)
    saved = SavedOperations.default(repo_dir if repo_dir and repo_dir.is_dir() else None)
    op = call(saved.get, name)
    values = call(op.coerce, pairs("--var", variables))
    body = asyncio.run(run_local(store, op.document, values, op.name, repo_dir))
    if body.get("errors"):
        raise CliError("; ".join(e["message"] for e in body["errors"]))
    return body.get("data") or {}


def artifacts_of(store, repo, query_text, direction, types, depth, collection, variables,
                 datastore, include_deleted=False):
    """The artifacts a QUERY names, in a repository's datastore (deleted datasets only
    ``include_deleted``)."""
    types = [t for group in types for t in group.split(",") if t] or None
    where = call(datastore_for, repo, datastore)
    if query_text.startswith(SAVED_PREFIX):
        keys = dataset_keys(_saved_answer(store, repo, query_text[len(SAVED_PREFIX):],
                                          variables))
        keys = call(keep_only, store, keys, types, collection, include_deleted)
    else:
        keys = call(select, store, query_text, direction, types, depth, collection,
                    include_deleted)
    if not keys:
        raise CliError(f"{query_text}: no datasets")
    # a dataset whose path or run would lead outside its folder is refused by name; the
    # others are still fetched
    return call(resolve, store, keys, where, keep_refused=True), where


#: How many failed datasets a command names one by one (all are in the manifest / --json).
NAMED = 50


def name_failures(errors: list[str], what: str | None = None) -> None:
    """One line on standard error per dataset not fetched / not cached."""
    for message in errors[:NAMED]:
        click.echo(f"lineage: {what}: {message}" if what else f"lineage: {message}", err=True)
    if len(errors) > NAMED:
        click.echo(f"lineage: ... and {len(errors) - NAMED} more", err=True)


def _shown(where) -> str:
    """A datastore as messages show it: a local root below the working directory, relative."""
    text = where.describe()
    if os.path.isabs(text) and Path(text).is_relative_to(Path.cwd()):
        return os.path.relpath(text)
    return text


def _plan_view(plan, title: str, where) -> None:
    from rich.markup import escape
    rows = [(escape(t), n, human_bytes(b)) for t, (n, b) in plan.by_type.items()]
    rows.append(("[bold]total[/bold]", f"[bold]{plan.count}[/bold]",
                 f"[bold]{human_bytes(plan.bytes)}[/bold]"))
    caption = f"from {_shown(where)}; bytes as the graph records them" + (
        f"; {plan.unknown_size} of unknown size" if plan.unknown_size else "") + (
        f"; {len(plan.refused)} refused" if plan.refused else "")
    table(title, ["dataset type", "datasets", "bytes"], rows, caption)


@click.command("fetch")
@query_options
@click.option("--to", "to", required=True, type=click.Path(file_okay=False),
              help="Directory to put the files in (created; run again to resume).")
@click.option("--dry-run", is_flag=True, help="Only show how many datasets and bytes.")
@click.option("--link", "mode", flag_value="link", help="Hard-link local files, do not copy.")
@click.option("--symlink", "mode", flag_value="symlink", help="Symlink local files.")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=4, show_default=True,
              help="Parallel transfers.")
@click.option("--with-provenance", "with_provenance", is_flag=True,
              help="Write each dataset's provenance into the copy: Butler-style cards in a "
                   "FITS file's primary header, and a PROV-JSON sidecar FILE.prov.json of its "
                   "whole upstream for every file.")
@format_option
def fetch_command(query_text, repo, direction, types, depth, collection, variables, datastore,
                  include_deleted, to, dry_run, mode, workers, with_provenance, fmt):
    """Download (or link) the files of the datasets QUERY names into a directory, checking
    checksums and writing DIR/manifest.json. QUERY: a selector (visit=1228) with --downstream
    or --upstream, a file of UUIDs or another command's --json output, or graphql:NAME."""
    if with_provenance and mode:
        raise CliError(f"--with-provenance writes into copies; --{mode} would change the "
                       "datastore's own files")
    as_json = fmt == "json"
    stamper = None
    with Repo(repo) as store:
        artifacts, where = artifacts_of(store, repo, query_text, direction, types, depth,
                                        collection, variables, datastore, include_deleted)
        if with_provenance and not dry_run:
            stamper = Stamper(call(provenance_of, store, [a.key for a in artifacts
                                                          if not a.error], not as_json))
    p = plan(artifacts)
    if dry_run:
        if fmt in ("csv", "ecsv"):  # one row per dataset it would fetch
            emit(fmt, "", [a.as_dict() for a in artifacts], [], units={"size": "byte"})
        elif as_json:
            print_json({"count": p.count, "bytes": p.bytes, "unknown_size": p.unknown_size,
                        "refused": [{"key": a.key, "error": a.error} for a in p.refused],
                        "by_type": {t: {"datasets": n, "bytes": b}
                                    for t, (n, b) in p.by_type.items()},
                        "artifacts": [a.as_dict() for a in artifacts]})
        else:
            _plan_view(p, f"Would fetch into {to}", where)
        refused = [a.error for a in artifacts if a.error]
        if refused:
            name_failures(refused)
            raise CliError(f"{len(refused)} of {len(artifacts)} datasets would be refused; "
                            f"first: {refused[0]}")
        return
    error = None
    try:
        results = fetch(artifacts, to, mode or "copy", workers, not as_json, where.describe(),
                        stamper)
    except FetchError as exc:   # the others were fetched: show them, then fail
        results, error = exc.results, str(exc)
    except OSError as exc:      # e.g. --to names a file
        raise CliError(str(exc)) from None
    if fmt != "table":
        emit(fmt, "", results, [], units={"bytes": "byte"})
    else:
        counts: dict[str, list[int]] = {}
        for r in results:
            entry = counts.setdefault(r["status"], [0, 0])
            entry[0] += 1
            entry[1] += r.get("bytes", 0)
        table(f"Fetched into {to}", ["status", "datasets", "bytes"],
              [(s, n, human_bytes(b)) for s, (n, b) in sorted(counts.items())],
              f"from {_shown(where)}; manifest: {Path(to) / 'manifest.json'}" + (
                  "; provenance in FITS headers and FILE.prov.json sidecars" if stamper else ""))
    if error:
        name_failures([r["error"] if r["status"] == "refused" else f"not fetched: {r['error']}"
                        for r in results if "error" in r])
        raise CliError(error)

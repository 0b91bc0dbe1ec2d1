"""``lineage gc``: files of a datastore no live dataset names (docs/retention.md)."""

from __future__ import annotations

import os
from contextlib import ExitStack

import click

from lineage.cli.common import DEFAULT_REPO, CliError, Repo, call, format_option
from lineage.cli.fetch import human_bytes, name_failures
from lineage.cli.output import Column, emit
from lineage.retention.gc import gc

COLUMNS = [Column("file", "path"), Column("bytes", lambda r: human_bytes(r["bytes"])),
           Column("named by", "named_by")]


def _caption(report: dict) -> str:
    tomb, never = report["of_tombstones"], report["never_named"]
    text = (f"{report['count']} files, {human_bytes(report['bytes'])}: {tomb['files']} of "
            f"deleted datasets ({human_bytes(tomb['bytes'])}), {never['files']} never named "
            f"({human_bytes(never['bytes'])}); {report['live']} of {report['scanned']} files "
            f"named by live datasets of {', '.join(report['repositories'])}")
    if report["refused_datasets"]:
        text += f"; {report['refused_datasets']} datasets name no file below the root"
    if not report["delete"]:
        return text + "; dry run: --delete removes them"
    removed = report["removed"]
    text += f"; removed {removed['files']} files ({human_bytes(removed['bytes'])})"
    if report["files_removed_marked"]:
        text += f", {report['files_removed_marked']} tombstones now files_removed=true"
    if report["kept_at_removal"]:
        text += f"; kept {len(report['kept_at_removal'])} a dataset named by then"
    return text


@click.command("gc")
@click.argument("datastore")
@click.option("--repo", "repos", multiple=True, metavar="REPO",
              help="A repository whose datasets live in DATASTORE (repeat it: name EVERY "
                   "repository using the datastore, or the files only the others name are "
                   "listed and removed). Default: LINEAGE_REPO, else lineage-repo.")
@click.option("--delete", is_flag=True,
              help="Remove the files (never one a live dataset names: checked again just "
                   "before each is removed).")
@format_option
def gc_command(datastore, repos, delete, fmt):
    """List (and with --delete remove) the files of DATASTORE no live dataset names. DATASTORE
    is a directory; the files are listed with sizes, as files of deleted datasets or files no
    dataset ever named; a dry run unless --delete."""
    repos = list(repos) or [os.environ.get("LINEAGE_REPO") or DEFAULT_REPO]
    with ExitStack() as stack:
        opened = [(repo, stack.enter_context(Repo(repo))) for repo in repos]
        report = call(gc, opened, datastore, delete, fmt != "json").as_dict()
    columns = COLUMNS + [Column("status", "status")] if delete else COLUMNS
    emit(fmt, f"Files no live dataset names in {report['datastore']}", report["files"],
         columns, _caption(report), document=report, units={"bytes": "byte"})
    name_failures([f"could not list {d}" for d in report["unreadable"]], "gc")
    failed = [f"{x['path']}: not removed: {x['error']}" for x in report["failed"]]
    if failed:
        name_failures(failed, "gc")
        raise CliError(f"{len(failed)} of {report['count']} files could not be removed; "
                       f"first: {failed[0]}")

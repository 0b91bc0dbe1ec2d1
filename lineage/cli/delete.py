"""``lineage delete``: delete datasets and keep their provenance (docs/retention.md)."""

from __future__ import annotations

import click

from lineage.cli.common import CliError, Repo, call, format_option, repo_option
from lineage.cli.output import Column, console, emit
from lineage.fetch.datastore import make_datastore
from lineage.retention.delete import delete_in_repository


@click.command("delete")
@click.argument("selector", required=False)
@repo_option
@click.option("--run", default=None, metavar="RUN", help="Every dataset of this RUN collection.")
@click.option("--collection", default=None, metavar="C",
              help="The datasets this collection holds (a CHAINED one through its children).")
@click.option("--type", "types", multiple=True, metavar="T",
              help="Only datasets of this type (repeatable).")
@click.option("--reason", required=True, help="Why (free text, recorded).")
@click.option("--by", "by", required=True, help="Who deletes (recorded).")
@click.option("--files", is_flag=True,
              help="Remove their files too, from the datastore and every replica, after the "
                   "graph records the deletion (a second run retries what failed).")
@click.option("--datastore", default=None, metavar="ROOT",
              help="The datastore root instead of the repository's (needed for --files on a "
                   "Bolt server).")
@click.option("--dry-run", is_flag=True,
              help="Say what would be deleted (counts by type, bytes, live dependents); write "
                   "nothing.")
@click.option("--force", is_flag=True,
              help="Delete although live datasets were made from them (recorded as forced).")
@format_option
def delete_command(selector, repo, run, collection, types, reason, by, files, datastore,
                   dry_run, force, fmt):
    """Delete datasets (SELECTOR as for `downstream`, or --run, or --collection) as
    tombstones that keep their provenance: node, data ID and lineage stay, with when, who
    and why.

    Datasets that live datasets were made from are deleted only with --force. One deletion
    is written all or nothing; running it again completes an interrupted one. With --files
    their files are removed after, from the datastore and the replicas lineage.json lists;
    a file a live dataset names is kept, and one that cannot be removed is named (exit
    status 2) and retried by the next run."""
    extra = {"datastore": call(make_datastore, datastore)} if datastore and files else {}
    with Repo(repo) as store:
        report = call(delete_in_repository, store, repo, selector=selector, run=run,
                      collection=collection, types=list(types), reason=reason, by=by,
                      files=files, dry_run=dry_run, force=force, **extra)
    rows = [{"dataset_type": t, "datasets": n} for t, n in report["by_dataset_type"].items()]
    emit(fmt, f"{'would delete' if dry_run else 'deleted'}: {report['selection']}", rows,
         [Column("dataset type", "dataset_type"), Column("datasets", "datasets")],
         document=report)
    if fmt == "table":
        console().print(_summary(report), highlight=False)
    failed = report.get("files", {}).get("failed", [])
    for failure in failed:
        click.echo(f"lineage: cannot remove {failure['file']} ({failure['dataset']}): "
                   f"{failure['error']}", err=True)
    if failed:
        raise CliError(f"{len(failed)} files could not be removed; their datasets keep "
                       "files_removed=false, and the same delete with --files retries them")


def _summary(report: dict) -> str:
    """The lines under the table: what was (or would be) deleted, its dependents, files."""
    n = report["would_delete"] if report["dry_run"] else report["deleted"]
    lines = [f"{n} datasets {'would be' if report['dry_run'] else ''} deleted".replace("  ", " ")
             + f", {report['bytes']:,} bytes; {report['already_deleted']} deleted already"]
    if report["live_dependents"]:
        examples = "; ".join(f"{d['dataset_type']} {d['data_id']} in {d['run']}"
                             for d in report["dependent_examples"])
        lines.append(f"{report['live_dependents']} live datasets depend on them ({examples})")
    if report["forced"]:
        lines.append(f"forced: {report['forced']} datasets recorded deleted_forced")
    if report["deleted_at"]:
        lines.append(f"deleted at {report['deleted_at']} (UTC)")
    if report["dry_run"]:
        lines.append("dry run: nothing written")
    files = report.get("files")
    if files:
        lines.append(f"files: {files['removed']} datasets' files removed, {files['shared']} kept "
                     f"(a live dataset names the file), {len(files['failed'])} could not be "
                     f"removed, {files['owed']} datasets still owe their removal")
    return "\n".join(lines)

"""``lineage retain``: what a retention rule would delete (docs/retention.md)."""

from __future__ import annotations

import click

from lineage.cli.common import Repo, call, format_option, repo_option
from lineage.cli.fetch import human_bytes
from lineage.cli.output import Column, emit, table
from lineage.retention.retain import retain

COLUMNS = [Column("dataset type", "dataset_type"), Column("datasets", "datasets"),
           Column("bytes", lambda r: human_bytes(r["bytes"]))]


def _caption(report: dict) -> str:
    text = (f"{report['count']} datasets, {human_bytes(report['bytes'])} (as the graph records "
            f"them), made before {report['made_before']}"
            + (f" in {report['collection']}" if report["collection"] else ""))
    if report["unknown_size"]:
        text += f"; {report['unknown_size']} of unknown size"
    return text + ("" if report["dry_run"] else "; deleted as tombstones")


def _what_stays(report: dict) -> None:
    """The second table: the provenance the tombstones keep, and what the rule leaves."""
    kept = report["provenance"]
    rows = [("tombstones (nodes kept, marked deleted)", kept["tombstones"]),
            ("lineage edges kept (INPUT_TO, PRODUCED)", kept["lineage_edges"]),
            ("of them, live datasets are made from (deletion recorded forced)",
             kept["depended_on"])]
    rows += [(f"{t} downstream of them: upstream answers stay whole", n)
             for t, n in kept["kept_downstream"].items()]
    rows += [("not of a kept type but made too recently: stay",
              sum(report["too_recent"].values())),
             ("not of a kept type but of unknown age (a RUN without quanta): stay",
              sum(report["age_unknown"].values()))]
    table("What stays", ["", "count"], rows)


@click.command("retain")
@repo_option
@click.option("--keep", "keep", multiple=True, required=True, metavar="TYPE",
              help="A dataset type never deleted (repeat or comma-separate).")
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="Only datasets made more than AGE ago: a number and s, m, h, d or w "
                   "(90d, 12h, 2w).")
@click.option("--collection", default=None, help="Only datasets in this collection.")
@click.option("--dry-run", is_flag=True, help="Only report; write nothing.")
@click.option("--reason", default=None, help="Why (recorded on each tombstone).")
@click.option("--by", "by", default=None, help="Who deletes.")
@click.option("--force", is_flag=True,
              help="Delete although live datasets were made from some of them (recorded as "
                   "forced on those).")
@format_option
def retain_command(repo, keep, older_than, collection, dry_run, reason, by, force, fmt):
    """Which datasets a retention rule would delete: counts and bytes by type, and the
    provenance their tombstones keep. Every live dataset not of a --keep type, made more
    than --older-than ago: by the end of the quantum that made it, else of its RUN's last
    quantum."""
    with Repo(repo) as store:
        report = call(retain, store, keep, older_than, collection, dry_run, reason,
                      by, None, force, fmt == "table").as_dict()
    if fmt != "table":   # CSV and ECSV: one row per dataset
        emit(fmt, "", report["datasets"], [], document=report, units={"size": "byte"})
        return
    rows = [{"dataset_type": t, **v} for t, v in report["by_type"].items()]
    rows.append({"dataset_type": "total", "datasets": report["count"], "bytes": report["bytes"]})
    verb = "Could go" if report["dry_run"] else "Deleted"
    emit(fmt, f"{verb}: not of {', '.join(report['keep'])}, older than {report['older_than']}",
         rows, COLUMNS, _caption(report))
    _what_stays(report)

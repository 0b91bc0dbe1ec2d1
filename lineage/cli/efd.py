"""``lineage efd``: EFD topics by CSC, and the telemetry of a CSC that describes an
exposure (docs/ingest.md, ``## efd``)."""

from __future__ import annotations

import click

from lineage.cli.common import Repo, call, format_option, repo_option
from lineage.cli.output import Column, emit
from lineage.dataunits.efd import csc_topics, exposure_telemetry


@click.group("efd")
def efd_group() -> None:
    """EFD topics by CSC, and which telemetry of a CSC describes an exposure."""


@efd_group.command("topics")
@click.argument("csc", required=False)
@repo_option
@format_option
def topics_command(csc, repo, fmt):
    """The topics of CSC (e.g. MTMount), or of every CSC."""
    with Repo(repo) as store:
        by_csc = call(csc_topics, store, csc)
    records = [{"csc": c, "topic": t} for c, topics in by_csc.items() for t in topics]
    emit(fmt, f"EFD topics of {csc}" if csc else "EFD topics", records,
         [Column("CSC", "csc"), Column("topic", "topic")],
         f"{len(records)} topics of {len(by_csc)} CSCs", document=by_csc)


@efd_group.command("telemetry")
@click.argument("exposure")
@repo_option
@click.option("--csc", default=None, help="Only this CSC's topics (e.g. MTMount).")
@format_option
def telemetry_command(exposure, repo, csc, fmt):
    """EFD records that describe EXPOSURE (exposure=N[,instrument=I] or its data-unit key),
    with their samples inside it and the mean of each summary field over it."""
    with Repo(repo) as store:
        rows = call(exposure_telemetry, store, exposure, csc)
    def means(r):
        return ", ".join(f"{k[5:]}={v:.6g}" for k, v in r.items() if k.startswith("mean_"))
    emit(fmt, f"EFD telemetry{' of ' + csc if csc else ''} describing {exposure}", rows,
         [Column("CSC", "csc"), Column("topic", "topic"), Column("samples", "samples"),
          Column("mean over the exposure", means, wrap=True)],
         f"{len(rows)} records (--format json adds their keys, min and max)")

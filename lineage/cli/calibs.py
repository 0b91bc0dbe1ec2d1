"""``lineage calibs``: the calibrations valid for an exposure (docs/ingest.md)."""

from __future__ import annotations

import click

from lineage.cli.common import Repo, call, format_option, repo_option
from lineage.cli.output import Column, emit
from lineage.dataunits.calibs import valid_calibrations


@click.command("calibs")
@click.argument("selector")
@repo_option
@click.option("--collection", default=None,
              help="A CALIBRATION collection, or a chain holding some (default: all of them).")
@click.option("--type", "types", multiple=True, help="Only this dataset type (repeatable).")
@click.option("--at", "at", default=None, metavar="TIME",
              help="ISO time or MJD (default: the exposure's own timespan).")
@click.option("--scale", default="tai", show_default=True,
              type=click.Choice(["tai", "utc", "tt"]), help="Time scale of --at.")
@format_option
def calibs_command(selector, repo, collection, types, at, scale, fmt):
    """Calibrations valid for an exposure: SELECTOR is exposure=N or visit=N, optionally
    with instrument= and detector= (or a data-unit key)."""
    with Repo(repo) as store:
        rows = call(valid_calibrations, store, selector, at, collection, types, scale)
    def when(t, unbounded):  # 2013-05-07T00:00:00.000000000 -> 2013-05-07T00:00:00
        return t.rstrip("0").rstrip(".") if t and "." in t else t or unbounded
    emit(fmt, f"calibrations valid for {selector}" + (f" at {at} ({scale})" if at else ""),
         [r.as_dict() for r in rows],
         [Column("dataset type", "dataset_type"), Column("data ID", "data_id"),
          Column("valid from (TAI)", lambda r: when(r["valid_begin"], "-inf")),
          Column("valid to (TAI)", lambda r: when(r["valid_end"], "+inf")),
          Column("collection", "collection"), Column("UUID", lambda r: r["key"].split(":", 1)[1])],
         f"{len(rows)} calibrations (--format json or csv adds their runs)")

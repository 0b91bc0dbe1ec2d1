"""``lineage calibs``: the calibrations valid for an exposure (docs/ingest.md)."""

from __future__ import annotations

import click

from lineage.cli.common import Repo, call, json_option, repo_option
from lineage.cli.output import print_json, table
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
@json_option
def calibs_command(selector, repo, collection, types, at, scale, as_json):
    """Calibrations valid for an exposure: SELECTOR is exposure=N or visit=N, optionally
    with instrument= and detector= (or a data-unit key)."""
    with Repo(repo) as store:
        rows = call(valid_calibrations, store, selector, at, collection, types, scale)
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

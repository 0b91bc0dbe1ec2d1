"""``lineage visits``: visits by observing conditions and telemetry, and two selections
compared (docs/lightcurves.md)."""

from __future__ import annotations

import math

import click

from lineage.cli.common import Repo, CliError, call, format_option, repo_option
from lineage.cli.lightcurve import check_table_suffix, efd_label, frame_records, write_table
from lineage.cli.output import CONDITION_UNITS, console, emit, table
from lineage.dataunits.visits import select_visits, visit_table
from lineage.lightcurve.compare import compare


@click.command("visits")
@click.argument("conditions", required=False, default="")
@repo_option
@click.option("--versus", default=None, metavar="CONDITIONS",
              help="Compare with the visits of these conditions (e.g. good vs moderate seeing).")
@click.option("--type", "types", multiple=True,
              help="With --versus: count only these downstream dataset types.")
@click.option("--instrument", default=None, help="Only this instrument's visits.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              callback=check_table_suffix, help="Write the visits to a CSV or Parquet file.")
@format_option
def visits_command(conditions, repo, versus, types, instrument, output, fmt):
    """Visits by observing conditions and telemetry, e.g. "seeing < 0.7 arcsec" or
    "efd:ESS.temperature.temperatureItem0 - efd:ESS.temperature.temperatureItem1 > 2 K".
    Their datasets: lineage downstream "visit[CONDITIONS]" --type calexp."""
    types = [t for group in types for t in group.split(",") if t] or None
    with Repo(repo) as store:
        if versus:
            if not conditions:
                raise CliError("--versus compares two selections: give CONDITIONS too")
            result = call(compare, store, conditions, versus, types, instrument)
        else:
            frame = call(select_visits, store, conditions, instrument) if conditions else \
                call(visit_table, store, instrument)
    if versus:
        _comparison_view(result, fmt)
        return
    if output:
        call(write_table, frame, output)
    if fmt != "table":
        emit(fmt, "", frame_records(frame), [], units=CONDITION_UNITS)
        return
    efd = [c for c in frame.columns if c.startswith("efd.") and c.endswith(".mean")]
    columns = ["visit", "band", "seeing", "airmass", "sky", "begin (TAI)",
               *[efd_label(c) for c in efd]]
    rows = [(r["visit"], r.get("band"), r.get("seeing"), r.get("airmass"), r.get("sky"),
             r.get("begin"), *[_fmt(r.get(c)) for c in efd]) for _, r in frame.iterrows()]
    table(f"Visits{' where ' + conditions if conditions else ''}", columns, rows,
          f"{len(frame)} visits" + ("; telemetry: mean over each exposure" if efd else ""),
          fold=tuple(efd_label(c) for c in efd))


def _fmt(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.3f}"


def _comparison_view(result: dict, fmt: str) -> None:
    a, b = result["a"], result["b"]
    names = sorted(n for n in set(a["median"]) & set(b["median"])
                   if n in ("seeing", "airmass", "sky", "exposure_time") or
                   (n.startswith("efd.") and n.endswith(".mean")))
    if fmt != "table":  # CSV and ECSV: the medians of both selections, one row per quantity
        emit(fmt, "", [{"quantity": n, "a": a["median"][n], "b": b["median"][n]}
                       for n in names], [], document=result)
        return
    table("Median conditions", ["", a["conditions"], b["conditions"]],
          [("visits", a["visits"], b["visits"]),
           *[(efd_label(n) if n.startswith("efd.") else n, _fmt(a["median"][n]),
              _fmt(b["median"][n])) for n in names]], "telemetry: mean over each exposure")
    types = sorted(set(a["downstream"]) | set(b["downstream"]))
    table("Datasets downstream", ["dataset type", a["conditions"], b["conditions"]],
          [(t, a["downstream"].get(t, 0), b["downstream"].get(t, 0)) for t in types],
          f"{len(result['overlap'])} visits in both selections")
    console().print()

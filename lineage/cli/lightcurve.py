"""``lineage lightcurve``: every epoch of a DIA object with its provenance
(docs/lightcurves.md), and the table files and columns it shares with ``lineage visits``."""

from __future__ import annotations

import math
from pathlib import Path

import click

from lineage.cli.common import Repo, CliError, call, check_plot_suffix, format_option, repo_option
from lineage.cli.output import CONDITION_UNITS, emit, table
from lineage.core.figures import draw_lightcurve
from lineage.fetch.datastore import datastore_for
from lineage.lightcurve import lightcurve


TABLE_SUFFIXES = (".csv", ".parquet", ".parq")


def check_table_suffix(ctx, param, value):
    if value is not None and Path(value).suffix.lower() not in TABLE_SUFFIXES:
        raise click.BadParameter(f"{value}: the table must end in {', '.join(TABLE_SUFFIXES)}")
    return value


def write_table(frame, path: str) -> None:
    if Path(path).suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    click.echo(f"wrote {path} ({len(frame)} rows, {len(frame.columns)} columns)", err=True)


def frame_records(frame) -> list[dict]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in frame.to_dict("records")]


@click.command("lightcurve")
@click.argument("object_id", metavar="OBJECT", type=int)
@click.option("--collection", required=True, help="The release or run collection to read.")
@repo_option
@click.option("--datastore", default=None, metavar="ROOT",
              help="Where the catalogs' files are: a directory or URL (default: the "
                   "repository's datastore, REPO/datastore).")
@click.option("--topic", "topics", multiple=True,
              help="Only this EFD topic's telemetry (repeatable; e.g. ESS.temperature).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              callback=check_table_suffix, help="Write every column to a CSV or Parquet file.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), default=None,
              callback=check_plot_suffix, help="Draw flux against time (PNG, SVG or PDF).")
@click.option("--colour-by", "--color-by", "colour_by", default="seeing", show_default=True,
              help="The condition that colours the epochs of the plot (any numeric column).")
@click.option("--include-deleted", is_flag=True,
              help="Epochs whose catalog or image was deleted too (docs/retention.md).")
@format_option
def lightcurve_command(object_id, collection, repo, datastore, topics, output, plot_file,
                       colour_by, include_deleted, fmt):
    """Every epoch of a DIA OBJECT with its provenance: measurement, catalog, images, visit,
    conditions, telemetry, software and config of each step, flags."""
    where = call(datastore_for, repo, datastore)
    with Repo(repo) as store:
        frame = call(lightcurve, store, object_id, collection, where, list(topics) or None,
                     show_progress=fmt == "table", include_deleted=include_deleted)
    left_out = frame.attrs["left_out_deleted"], frame.attrs["left_out_deleted_catalogs"]
    if any(left_out):
        click.echo(f"left out: {left_out[0]} epochs whose image was deleted, {left_out[1]} "
                   "deleted catalogs (--include-deleted to keep them)", err=True)
    if colour_by not in frame.columns:
        raise CliError(f"--colour-by {colour_by!r}: no such column (try seeing, airmass, "
                        "sky, or an efd.* column)")
    if output:
        call(write_table, frame, output)
    if plot_file:
        call(draw_lightcurve, frame, plot_file, colour_by,
             f"DIA object {object_id} in {collection}")
        click.echo(f"wrote {plot_file}", err=True)
    if fmt != "table":  # CSV and ECSV: one row per epoch, every column
        emit(fmt, "", frame_records(frame), [], units=CONDITION_UNITS,
             document={"object": object_id, "collection": collection,
                       "catalog": frame.attrs.get("catalog"),
                       "left_out_deleted": left_out[0],
                       "left_out_deleted_catalogs": left_out[1],
                       "epochs": frame_records(frame)})
        return
    efd = [c for c in frame.columns if c.startswith("efd.") and c.endswith(".mean")][:1]
    columns = ["MJD (TAI)", "band", "flux (nJy)", "err", "visit", "det", "seeing", "airmass",
               *[efd_label(c) for c in efd], "source", "software", "flagged"]
    steps = sorted(c for c in frame.columns if c.startswith("software."))
    rows = []
    for _, r in frame.iterrows():
        software = sorted({str(r[c]) for c in steps})
        rows.append((f"{r['mjd_tai']:.5f}", r["band"], f"{r['flux']:.1f}", f"{r['flux_err']:.1f}",
                     r["visit"], r["detector"], r["seeing"], r["airmass"],
                     *[f"{r[c]:.2f}" for c in efd], (r["source_dataset"] or "").split(":", 1)[-1],
                     ", ".join(software),
                     "[red]visit[/red]" if r["flags"] else
                     "[yellow]input[/yellow]" if r["flagged"] else ""))
    table(f"Lightcurve of DIA object {object_id} in {collection}", columns, rows,
          f"{len(frame)} epochs from {frame['source_dataset'].nunique()} catalogs; flagged: its "
          "visit (visit) or a contaminated input such as a template (input); every column "
          "(images, telemetry, config of each step): --format csv|ecsv|json or -o FILE.csv",
          fold=("software",))


def efd_label(column: str) -> str:
    """``efd.ESS.temperature.temperatureItem0.mean`` -> ``temperature.temperatureItem0``."""
    parts = column.split(".")
    return f"{parts[-3].removeprefix('logEvent_')}.{parts[-2]}"

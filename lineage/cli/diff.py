"""Release-to-release diffs (docs/diff.md): diff."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lineage.cli.output import FORMATS as LISTING_FORMATS, console, emit, print_json, table
from lineage.cli.common import Repo, CliError, call, json_option, repo_option
from lineage.diff import DiffFilter, Tolerance, diff_releases
from lineage.diff.product import explain_product
from lineage.diff.report import (JsonWriter, Sample, changes_text, html, markdown, patch_bounds,
                                 sections)

FORMATS = {".json": "json", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}


def _tolerance(ctx, param, value):
    return call(Tolerance.parse, value)


@click.command("diff")
@click.argument("release_a")
@click.argument("release_b")
@repo_option
@click.option("--type", "types", multiple=True, help="Only this dataset type (repeatable).")
@click.option("--tract", "tracts", multiple=True, help="Only datasets of this tract (repeatable).")
@click.option("--band", "bands", multiple=True,
              help="Only datasets of this band, also implied by their visit (repeatable).")
@click.option("--where", default=None, help="Only datasets matching dim=value[,dim=value...].")
@click.option("--include-deleted", is_flag=True,
              help="A release holds its deleted datasets too (tombstones: docs/retention.md).")
@click.option("--product", default=None,
              help="Explain one product (UUID, or dim=value pairs with --type): its inputs in "
                   "both releases side by side and the first step where the lineages part.")
@click.option("--tolerance", multiple=True, callback=_tolerance,
              help="How far a median may move and still be equivalent: 5% (the default) or "
                   "NAME=VALUE for one metric or TYPE.PROPERTY (absolute, or a percentage).")
@click.option("--property", "properties", multiple=True, default=("size",), show_default=True,
              help="Numeric dataset property to compare as a distribution (repeatable).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the report here: .json (every detail), .md or .html (self-contained).")
@click.option("--format", "fmt", type=click.Choice([*LISTING_FORMATS, "md", "html"]),
              default=None, help="Report format (default: from the --output suffix, else "
              "table); csv and ecsv list every dataset that differs, one row each.")
@click.option("--examples", default=8, show_default=True,
              help="Detail records shown per status and dataset type (tables, Markdown, HTML).")
@json_option
def diff_command(release_a, release_b, repo, types, tracts, bands, where, include_deleted,
                 product, tolerance, properties, output, fmt, examples, as_json):
    """What differs between RELEASE_A and RELEASE_B (collection or release names):
    datasets added, removed and changed, by type and by tract/band; for changed products
    which inputs, visits, software packages, config keys and flags differ; metric and
    property distributions with a tolerance for "scientifically equivalent"."""
    if output and fmt is None:
        fmt = FORMATS.get(Path(output).suffix.lower())
        if fmt is None:
            raise CliError(f"{output}: the report must end in {', '.join(sorted(FORMATS))} "
                            "(or give --format)")
    if fmt in LISTING_FORMATS and fmt != "json" and output:
        raise CliError(f"--format {fmt} prints to standard output; -o takes .json, .md or .html")
    with Repo(repo) as store:
        if product:
            _explain(store, release_a, release_b, product, types, as_json)
            return
        flt = call(DiffFilter.make, types, tracts, bands, where, include_deleted)
        stream = None
        if as_json or fmt == "json":
            stream = open(output, "w") if fmt == "json" and output else sys.stdout
        try:
            writer = JsonWriter(stream) if stream else None
            listed: list[dict] = []  # --format csv|ecsv: every detail record
            sample = Sample(examples, writer.detail if writer else
                            listed.append if fmt in ("csv", "ecsv") else None)
            result = call(diff_releases, store, release_a, release_b, flt, sample.detail,
                          properties, True, tolerance)
            if writer:
                writer.finish(result)
        finally:
            if stream is not None and stream is not sys.stdout:
                stream.close()
        if fmt in ("md", "html") and output:
            text = markdown(result, sample) if fmt == "md" else \
                html(result, sample, call(patch_bounds, store))
            Path(output).write_text(text, encoding="utf-8")
        if output:
            click.echo(f"wrote {output}", err=True)
        if fmt in ("csv", "ecsv"):
            emit(fmt, "", listed, [])
        elif not as_json and not (output and fmt):
            for s in sections(result.summary(), sample):
                for line in s.get("lines", []):
                    console().print(line, highlight=False)
                if s.get("headers") and s["rows"]:
                    table(s["title"], s["headers"], s["rows"])


def _explain(store, a: str, b: str, product: str, types, as_json: bool) -> None:
    if len(types) > 1:
        raise CliError("--product takes one --type")
    answer = call(explain_product, store, a, b, product, types[0] if types else None)
    if as_json:
        print_json(answer)
        return
    console().print(f"{answer['dataset_type']} {answer['data_id']}", highlight=False)
    if answer.get("only_in"):
        console().print(f"only in {answer['only_in']}: nothing to compare", highlight=False)
        return
    ins = answer["inputs"]
    rows = [(x, "yes", "yes") for x in ins["both"]] + [(x, "yes", "") for x in ins["only_a"]] + \
        [(x, "", "yes") for x in ins["only_b"]]
    table("Inputs side by side", ["input", answer["a"]["release"], answer["b"]["release"]], rows)
    for side in ("a", "b"):
        s = answer[side]
        console().print(f"{s['release']}: {s['key']} made by {s.get('task')} with {s.get('software')}, "
                        f"{s.get('config')}", highlight=False)
    first = answer["first_divergence"]
    if first is None:
        console().print("the two lineages do not diverge", highlight=False)
        return
    groups: dict[tuple, list] = {}
    for d in answer["divergences"]:
        groups.setdefault((d["depth"], d["task"], d["dataset_type"], changes_text(d["changes"])),
                          []).append(d["data_id"])
    table("Where the lineages diverge (most upstream first)",
          ["steps up", "task", "outputs", "what differs"],
          [(depth, task, f"{len(ids)} {dtype}" + (f" ({ids[0]} ...)" if len(ids) > 1 else
                                                   f" {ids[0]}"), text)
           for (depth, task, dtype, text), ids in groups.items()],
          caption=f"{len(answer['divergences'])} of {answer['quanta_compared']} quanta differ")
    console().print(f"first divergence: {first['task']} on {first['data_id']} "
                    f"({first['depth']} steps up): {changes_text(first['changes'])}", highlight=False)

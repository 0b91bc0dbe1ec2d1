"""``lineage prov``: a selection's lineage as a W3C PROV document (docs/standards.md)."""

from __future__ import annotations

from pathlib import Path

import click

from lineage.cli.common import CliError, Repo, call, repo_option
from lineage.cli.output import console
from lineage.standards.prov import FORMATS, document, selection, serialize
from lineage.traversal.traverse import DOWN, UP


@click.command("prov")
@click.argument("selector")
@repo_option
@click.option("--upstream", "direction", flag_value=UP, help="The lineage upstream of SELECTOR.")
@click.option("--downstream", "direction", flag_value=DOWN, default=True,
              help="The lineage downstream of SELECTOR (the default).")
@click.option("--depth", type=click.IntRange(min=1), default=None,
              help="At most this many processing steps (quanta) away.")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="json",
              show_default=True, help="PROV-JSON, PROV-XML, PROV-N or Turtle (RDF).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-",
              help="File to write (default: standard output).")
def prov(selector, repo, direction, depth, fmt, output):
    """The lineage of SELECTOR as a W3C PROV document (JSON, XML, PROV-N, Turtle).

    SELECTOR is a dataset UUID, a node key, or an expression such as visit=1228.  Datasets
    are entities, quanta activities, tasks and software versions agents, configs entities,
    active flags invalidations (docs/standards.md)."""
    if output != "-" and not Path(output).resolve().parent.is_dir():
        raise CliError(f"cannot write {output}: {Path(output).parent} is not a directory")
    with Repo(repo) as store:
        datasets, quanta = call(selection, store, selector, direction, depth)
        text = call(serialize, call(document, store, datasets, quanta), fmt)
    with call(click.open_file, output, "w", atomic=output != "-") as out:
        out.write(text)
    if output != "-":
        console().print(f"wrote {len(datasets)} datasets and {len(quanta)} quanta "
                        f"to {output} (PROV {fmt})")

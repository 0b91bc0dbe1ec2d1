"""``lineage prov``: a selection's lineage as a W3C PROV document, or as the IVOA Provenance
Data Model serialises it (``--model ivoa``), in a PROV format or PROV-VOTABLE
(docs/standards.md)."""

from __future__ import annotations

from pathlib import Path

import click

from lineage.cli.common import CliError, Repo, call, repo_option
from lineage.cli.output import console
from lineage.standards.ivoa import ivoa_document, votable
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
@click.option("--format", "fmt", type=click.Choice([*FORMATS, "votable"]), default="json",
              show_default=True, help="PROV-JSON, PROV-XML, PROV-N, Turtle (RDF) or "
                                      "PROV-VOTABLE (a VOTable table per kind of record).")
@click.option("--model", type=click.Choice(["w3c", "ivoa"]), default="w3c", show_default=True,
              help="W3C PROV, or the IVOA Provenance Data Model (its voprov classes added).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-",
              help="File to write (default: standard output).")
def prov(selector, repo, direction, depth, fmt, model, output):
    """The lineage of SELECTOR as a W3C PROV document (JSON, XML, PROV-N, Turtle).

    SELECTOR is a dataset UUID, a node key, or an expression such as visit=1228.  Datasets
    are entities, quanta activities, tasks and software versions agents, configs entities,
    active flags invalidations; with --model ivoa also the IVOA classes: task descriptions,
    one Parameter per config value (docs/standards.md)."""
    if output != "-" and not Path(output).resolve().parent.is_dir():
        raise CliError(f"cannot write {output}: {Path(output).parent} is not a directory")
    with Repo(repo) as store:
        datasets, quanta = call(selection, store, selector, direction, depth)
        doc = call(document, store, datasets, quanta)
        if model == "ivoa":
            doc = ivoa_document(doc)
        text = votable(doc).decode() if fmt == "votable" else call(serialize, doc, fmt)
    with call(click.open_file, output, "w", atomic=output != "-") as out:
        out.write(text)
    if output != "-":
        console().print(f"wrote {len(datasets)} datasets and {len(quanta)} quanta "
                        f"to {output} ({'IVOA ' if model == 'ivoa' else ''}PROV {fmt})")

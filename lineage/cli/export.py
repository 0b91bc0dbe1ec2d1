"""``lineage export``: every node and edge of a graph as JSON lines (docs/engines.md); its
runs as OpenLineage events (``--format openlineage``, docs/standards.md)."""

from __future__ import annotations

from pathlib import Path

import click

from lineage.cli.common import Repo, CliError, call, repo_option
from lineage.cli.output import console
from lineage.core.progress import progress_bar
from lineage.export import write_jsonl
from lineage.standards import openlineage
from lineage.standards.prov import document, serialize


@click.command()
@repo_option
@click.option("--format", "fmt", type=click.Choice(["jsonl", "prov-json", "openlineage"]),
              default="jsonl", show_default=True,
              help="jsonl: every node and edge; prov-json: the lineage as W3C PROV; "
                   "openlineage: a RunEvent per quantum, one per line (docs/standards.md).")
@click.option("--namespace", default=None, metavar="NS",
              help="openlineage: the namespace of jobs and datasets (default: butler://<the "
                   "repository directory's name>).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-",
              help="File to write (default: standard output).")
def export(repo: str, fmt: str, namespace: str | None, output: str) -> None:
    """Write every node and edge of the graph (JSON lines, stable order).

    With ``--format prov-json``: the lineage as one W3C PROV document; with ``--format
    openlineage``: a START and an end event per quantum (NDJSON)."""
    if output != "-" and not Path(output).resolve().parent.is_dir():
        raise CliError(f"cannot write {output}: {Path(output).parent} is not a directory")
    if fmt == "prov-json":
        return _export_prov(repo, output)
    with Repo(repo) as store:
        nodes, edges = call(store.count)
        # atomic: a failed export never replaces a good file with half of one
        out = call(click.open_file, output, "w", atomic=output != "-")
        if fmt == "openlineage":
            namespace = namespace or openlineage.default_namespace(Path(repo).resolve().name)
            with out:
                counts = call(openlineage.write_events, store, out, namespace)
            if output != "-":
                console().print(f"wrote {counts.events} events of {counts.quanta} runs to "
                                f"{output} ({counts.skipped} quanta without a time skipped)")
            return
        with out, progress_bar("export", nodes + edges, "records", output != "-") as advance:
            call(write_jsonl, store, out, advance)
    if output != "-":
        console().print(f"wrote {nodes} nodes and {edges} edges to {output}")


def _export_prov(repo: str, output: str) -> None:
    """The whole repository's lineage as one PROV-JSON document."""
    with Repo(repo) as store:
        text = call(serialize, call(document, store), "json")
    with call(click.open_file, output, "w", atomic=output != "-") as out:
        out.write(text)
    if output != "-":
        console().print(f"wrote PROV-JSON to {output}")

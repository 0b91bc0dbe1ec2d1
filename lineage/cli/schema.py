"""``lineage schema``: the GraphQL schema as SDL (docs/api.md)."""

from __future__ import annotations

import click

from lineage.api.saved import sdl


@click.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-",
              help="File to write (default: standard output).")
def schema_command(output):
    """Print the GraphQL schema (SDL), as graphql/schema.graphql holds it."""
    with click.open_file(output, "w") as out:
        out.write(sdl())

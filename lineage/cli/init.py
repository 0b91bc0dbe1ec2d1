"""``lineage init``: create a repository (docs/engines.md).

One module per command noun; ``init`` and ``status`` are not one ``repo`` module because
``lineage.store.repo`` is the library's repository module and two modules of that name
would be easy to confuse."""

from __future__ import annotations

import click

from lineage.cli.common import call
from lineage.cli.output import console
from lineage.store.repo import EMBEDDED, init_repo


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--store", default=EMBEDDED, show_default=True,
              help="'embedded' (FalkorDB, managed for you) or a bolt://host:port[/db] URI.")
def init(directory: str, store: str) -> None:
    """Create a lineage repository in DIRECTORY."""
    root = call(init_repo, directory, store)
    console().print(f"created repository [bold]{root}[/bold] (store: {store})")

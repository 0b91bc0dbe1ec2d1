"""``lineage copy``: a whole graph from one repository or engine to another (docs/engines.md)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from lineage.cli.common import Repo, CliError, call
from lineage.cli.output import console
from lineage.export import copy_graph
from lineage.store.repo import CONFIG_NAME, init_repo


@click.command()
@click.option("--from", "source", required=True, metavar="REPO_OR_URI",
              help="Repository directory or bolt:// URI to read.")
@click.option("--to", "target", required=True, metavar="REPO_OR_URI",
              help="Repository directory (created if missing) or bolt:// URI to write.")
@click.option("--merge", is_flag=True,
              help="Allow a non-empty target (nodes and edges merge on their keys).")
def copy(source: str, target: str, merge: bool) -> None:
    """Copy a whole graph between repositories or engines, losslessly."""
    if "://" not in target and not (Path(target) / CONFIG_NAME).exists():
        call(init_repo, target)
    with Repo(source) as src, Repo(target) as dst:
        if not merge and call(dst.count) != (0, 0):
            raise CliError(f"{target} is not empty; use --merge to copy into it anyway")
        t0 = time.perf_counter()
        n = call(copy_graph, src, dst, True)
        secs = time.perf_counter() - t0
    console().print(f"copied {n} nodes and edges from {source} ({src.engine}) to {target} "
                    f"({dst.engine}) in {secs:.1f} s")

"""``lineage status``: how many nodes of each kind and edges of each type a repository holds."""

from __future__ import annotations

import click

from lineage.cli.common import Repo, call, format_option, repo_option
from lineage.cli.output import emit, table
from lineage.core.model import Kind, Rel


@click.command()
@repo_option
@format_option
def status(repo: str, fmt: str) -> None:
    """Count nodes by kind and edges by type."""
    with Repo(repo) as store:
        nodes, edges = call(store.count_by_label, [k.value for k in Kind], [r.value for r in Rel])
        engine = store.engine
    if fmt != "table":  # CSV and ECSV: one row per node kind and edge type
        emit(fmt, "", [{"what": "node", "name": k, "count": v} for k, v in nodes.items()]
             + [{"what": "edge", "name": k, "count": v} for k, v in edges.items()], [],
             document={"engine": engine, "nodes": nodes, "edges": edges})
        return
    table(f"{repo} ({engine})", ["node kind", "count"], [(k, v) for k, v in nodes.items() if v])
    table("", ["edge type", "count"], [(k, v) for k, v in edges.items() if v])

"""``lineage status``: how many nodes of each kind and edges of each type a repository holds."""

from __future__ import annotations

import click

from lineage.cli.common import Repo, call, json_option, repo_option
from lineage.cli.output import print_json, table
from lineage.core.model import Kind, Rel


@click.command()
@repo_option
@json_option
def status(repo: str, as_json: bool) -> None:
    """Count nodes by kind and edges by type."""
    with Repo(repo) as store:
        nodes, edges = call(store.count_by_label, [k.value for k in Kind], [r.value for r in Rel])
        engine = store.engine
    if as_json:
        print_json({"engine": engine, "nodes": nodes, "edges": edges})
        return
    table(f"{repo} ({engine})", ["node kind", "count"], [(k, v) for k, v in nodes.items() if v])
    table("", ["edge type", "count"], [(k, v) for k, v in edges.items() if v])

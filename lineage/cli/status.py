"""``lineage status``: how many nodes of each kind and edges of each type a repository holds,
and its format version (docs/migration.md)."""

from __future__ import annotations

from pathlib import Path

import click

from lineage.cli.common import Repo, call, format_option, repo_option
from lineage.cli.output import console, emit, table
from lineage.core.model import Kind, Rel
from lineage.store.migrations import FORMAT_VERSION, repository_format


@click.command()
@repo_option
@format_option
def status(repo: str, fmt: str) -> None:
    """Count nodes by kind and edges by type."""
    with Repo(repo, any_format=True) as store:  # says the format of any repository
        nodes, edges = call(store.count_by_label, [k.value for k in Kind], [r.value for r in Rel])
        engine = store.engine
        version = call(repository_format, store, None if "://" in repo else Path(repo)).version
    if fmt != "table":  # CSV and ECSV: one row per node kind and edge type
        emit(fmt, "", [{"what": "node", "name": k, "count": v} for k, v in nodes.items()]
             + [{"what": "edge", "name": k, "count": v} for k, v in edges.items()], [],
             document={"engine": engine, "format_version": version, "nodes": nodes,
                       "edges": edges})
        return
    table(f"{repo} ({engine})", ["node kind", "count"], [(k, v) for k, v in nodes.items() if v])
    table("", ["edge type", "count"], [(k, v) for k, v in edges.items() if v])
    line = f"repository format {version}"
    if version < FORMAT_VERSION:
        line += (f", older than this survey-lineage uses ({FORMAT_VERSION}): "
                 f"`lineage migrate --repo {repo}` upgrades it")
    elif version > FORMAT_VERSION:
        line += ": it needs a newer survey-lineage"
    console().print(line, highlight=False)

"""``lineage query``: a saved named GraphQL operation run against a repository (docs/api.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from lineage.api.local import run_local
from lineage.api.saved import SavedOperations
from lineage.cli.common import Repo, CliError, call, pairs, repo_option
from lineage.cli.output import print_json, table


@click.command("query")
@click.argument("name", required=False)
@repo_option
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="Operation variable (strings as given, numbers and lists as JSON; a list "
                   "may be comma-separated).")
@click.option("--list", "list_only", is_flag=True, help="List the saved operations.")
def query_command(name, repo, variables, list_only):
    """Run a saved named GraphQL operation (graphql/*.graphql) against a repository."""
    repo_dir = None if "://" in repo else Path(repo)
    saved = SavedOperations.default(repo_dir if repo_dir and repo_dir.is_dir() else None)
    if list_only or not name:
        ops = call(saved.all)
        table("Saved operations", ["name", "kind", "variables", "source", "description"],
              [(o.name, o.kind, ", ".join(f"${k}: {v}" for k, v in o.info()["variables"].items()),
                o.info()["source"], o.description) for o in ops], f"{len(ops)} operations")
        return
    op = call(saved.get, name)
    values = call(op.coerce, pairs("--var", variables))
    with Repo(repo) as store:
        body = asyncio.run(run_local(store, op.document, values, op.name, repo_dir))
    print_json(body)
    if body.get("errors"):
        raise CliError("; ".join(e["message"] for e in body["errors"]))

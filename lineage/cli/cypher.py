"""``lineage cypher``: a read-only Cypher query, checked before it is sent (docs/security.md)."""

from __future__ import annotations

import json

import click

from lineage.cli.common import Repo, call, format_option, pairs, repo_option
from lineage.cli.output import Column, emit
from lineage.store.base import MAX_RESULT_BYTES, MAX_RESULT_ROWS


@click.command()
@click.argument("cypher_query")
@repo_option
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Query parameter (VALUE is JSON if it parses, else a string).")
@click.option("--timeout", type=click.FloatRange(min=0.001), default=30.0, show_default=True,
              help="Stop the query after this many seconds.")
@click.option("--max-rows", type=click.IntRange(min=1), default=MAX_RESULT_ROWS,
              show_default=True, help="Refuse a result with more rows.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=MAX_RESULT_BYTES,
              show_default=True, help="Refuse a result larger than this (as the engine sends it).")
@format_option
def cypher(cypher_query: str, repo: str, params, timeout: float, max_rows: int, max_bytes: int,
           fmt: str) -> None:
    """Run a read-only Cypher query.

    Refused before anything is sent: writes, schema changes, LOAD CSV and procedures that
    touch files, more than one statement, and range() calls that could exhaust the
    engine's memory (docs/security.md)."""
    values = {}
    for name, raw in pairs("--param", params).items():
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw
    with Repo(repo) as store:
        columns, rows = call(store.read_only, cypher_query, values, timeout, max_rows, max_bytes)
    emit(fmt, "", [dict(zip(columns, r)) for r in rows],
         [Column(c, c, wrap=True) for c in columns], f"{len(rows)} rows")

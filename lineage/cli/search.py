"""``lineage search TEXT``: what a typed text names (docs/search.md), as the explorer's
search box and the API's ``search`` answer it."""

from __future__ import annotations

import click

from lineage.cli.common import Repo, call, format_option, repo_option
from lineage.cli.output import Column, emit
from lineage.search import DEFAULT_FIRST, MAX_FIRST, search


@click.command("search")
@click.argument("text")
@repo_option
@click.option("--first", type=click.IntRange(1, MAX_FIRST), default=DEFAULT_FIRST,
              show_default=True, help="At most this many hits.")
@format_option
def search_command(text, repo, first, fmt):
    """What TEXT names: a visit, a data ID, a dataset UUID or key, a flag, a collection or
    release, a dataset type or a task.

    A visit is 2026030100001 or visit=2026030100001; a data ID tract=9813,patch=40,band=r,
    after a dataset type and a space to keep only that type (deepCoadd tract=9813,...); a
    flag flag:<uuid> or 8+ first characters of its UUID; a collection or release its name
    or part of it (DR2)."""
    with Repo(repo) as store:
        answer = call(search, store, text, first)
    hits = [{"kind": h.kind, "key": h.key, "label": h.label, "dataset_type": h.dataset_type,
             "data_id": h.data_id, "run": h.run, "deleted": h.deleted} for h in answer.hits]
    caption = answer.message or (f"{len(hits)} of {answer.total} hits (--first for more)"
                                 if answer.truncated else
                                 f"{answer.total} hit{'' if answer.total == 1 else 's'}")
    emit(fmt, f"Search {answer.text!r}", hits,
         [Column("kind", "kind"), Column("label", "label", wrap=True), Column("run", "run"),
          Column("key", "key")], caption, document=answer.as_dict())

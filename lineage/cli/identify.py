"""``lineage identify FILE ...``: which dataset each file is (docs/standards.md, "Recognising
files that come back")."""

from __future__ import annotations

import sys

import click

from lineage.cli.common import Repo, call, format_option, repo_option
from lineage.cli.output import Column, emit
from lineage.standards.identify import MATCHES, identify

#: Exit status when a file is not known or not the dataset it names; errors exit 2.
NOT_ALL_MATCH = 1


@click.command("identify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@repo_option
@format_option
def identify_command(files, repo, fmt):
    """Name the dataset of each FILE, by its provenance header or its checksum.

    A FITS file whose primary header has the Butler's LSST BUTLER ID (as `lineage fetch
    --with-provenance` writes it too) is that dataset; any other file is looked up by its
    sha256 among the graph's checksums. Each is then checked: are its bytes that dataset's
    (a file stamped by `lineage fetch` is checked less its provenance cards)?

    Exit status 0 when every file matches a dataset, 1 when one is unknown or differs, 2 on
    an error."""
    with Repo(repo) as store:
        answers = call(identify, store, files)
    rows = [a.as_dict() for a in answers]
    matched = sum(a.verdict == MATCHES for a in answers)
    emit(fmt, "Identified files", rows,
         [Column("file", "file", wrap=True), Column("verdict", "verdict"), Column("by", "by"),
          Column("dataset", "key"), Column("dataset type", "dataset_type"),
          Column("data ID", "data_id", wrap=True), Column("run", "run"),
          Column("note", "note", wrap=True)],
         f"{matched} of {len(answers)} files are a dataset of the graph, byte for byte")
    if matched < len(answers):
        sys.exit(NOT_ALL_MATCH)

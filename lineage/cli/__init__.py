"""The ``lineage`` command line: a thin layer over the Python API.

Every command takes ``--repo DIR`` (or ``LINEAGE_REPO``; a Bolt URI works
too).  Errors the user can fix print one line, ``lineage: error: ...``, and
exit with status 2; no traceback.  One module per command group registers its
commands on the group in :mod:`.common`.
"""

from __future__ import annotations

import sys

import click

from lineage.cli import api, diff, fetch, flags, graph, ingest, lightcurve, metrics  # noqa: F401  (they register their commands)
from lineage.cli.common import cli

__all__ = ["cli", "main"]


def main() -> None:
    try:
        cli.main(prog_name="lineage", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover
        click.echo("lineage: interrupted", err=True)
        sys.exit(130)

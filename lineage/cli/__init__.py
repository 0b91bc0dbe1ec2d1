"""The ``lineage`` command line: a thin layer over the Python API.

Every command takes ``--repo DIR`` (or ``LINEAGE_REPO``; a Bolt URI works
too).  Errors the user can fix print one line, ``lineage: error: ...``, and
exit with status 2; no traceback.

Each command lives in the module of its name (``lineage downstream`` in
:mod:`lineage.cli.lineage`, ``lineage cache ...`` in :mod:`lineage.cli.cache`), and the
group imports that module only when the command runs: :data:`COMMANDS` names the module
and holds the short help ``lineage --help`` lists, so listing the commands imports none of
them, nor the library behind them.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

import click

__all__ = ["COMMANDS", "cli", "commands_of", "main"]

#: Every command: name -> (its module in ``lineage.cli``, its short help as
#: ``lineage --help`` shows it).  tests/test_cli_commands.py checks both against the commands.
COMMANDS: dict[str, tuple[str, str]] = {
    "cache": ("cache", "The shared local cache of datastore files and cutouts (LINEAGE_CACHE)."),
    "calibs": ("calibs",
        ("Calibrations valid for an exposure: SELECTOR is exposure=N or visit=N, optionally with"
         " instrument= and detector= (or a data-unit key).")),
    "contaminated": ("flags", "Is this dataset or quantum contaminated, by which flags, how much?"),
    "copy": ("copy", "Copy a whole graph between repositories or engines, losslessly."),
    "cypher": ("cypher", "Run a read-only Cypher query."),
    "delete": ("delete",
        ("Delete datasets (SELECTOR as for `downstream`, or --run, or --collection) as tombstones"
         " that keep their provenance: node, data ID and lineage stay, with when, who and why.")),
    "demo": ("demo",
             "Build the demo survey into a repository and ask which coadds used one visit."),
    "diff": ("diff",
        ("What differs between RELEASE_A and RELEASE_B (collection or release names): datasets "
         "added, removed and changed, by type and by tract/band; for changed products which "
         "inputs, visits, software packages, config keys and flags differ; metric and property "
         'distributions with a tolerance for "scientifically equivalent".')),
    "downstream": ("lineage",
        ("Datasets downstream of SELECTOR (a dataset UUID, a node key, or an expression such as "
         "visit=1228 or tract=9813,patch=40,band=r).")),
    "efd": ("efd", "EFD topics by CSC, and which telemetry of a CSC describes an exposure."),
    "engine": ("engine", "Keep the embedded engine running between commands (faster), or stop it."),
    "export": ("export", "Write every node and edge of the graph (JSON lines, stable order)."),
    "fetch": ("fetch",
        ("Download (or link) the files of the datasets QUERY names into a directory, checking "
         "checksums and writing DIR/manifest.json.")),
    "flag": ("flags",
        ("Flag a visit, exposure, detector-visit, dataset or quantum as bad or suspect, and mark"
         " everything downstream of it as contaminated (SELECTOR as for `downstream`).")),
    "flags": ("flags", "List, move, plan around and inspect flags."),
    "gc": ("gc", "List (and with --delete remove) the files of DATASTORE no live dataset names."),
    "identify": ("identify",
                 "Name the dataset of each FILE, by its provenance header or its checksum."),
    "ingest": ("ingest", "Read files of one KIND into the graph, each file all-or-nothing."),
    "init": ("init", "Create a lineage repository in DIRECTORY."),
    "lightcurve": ("lightcurve",
        ("Every epoch of a DIA OBJECT with its provenance: measurement, catalog, images, visit, "
         "conditions, telemetry, software and config of each step, flags.")),
    "metrics": ("metrics",
        ("Metric jobs (SQuaSH / lsst.verify): threshold lookups, specifications, trends, "
         "recording a job's measurements.")),
    "migrate": ("migrate",
                "Upgrade a repository of an older format to this version's, one step at a time."),
    "overlaps": ("overlaps",
        ("Sky-map tracts and patches a visit's detectors overlap (visit=V[,detector=D]), or the "
         "visits and visit-detectors on a tract or patch (tract=T[,patch=P]); with --skymap, the "
         "tracts and patches containing a point (--contains RA,DEC) or a tract's centre "
         "(--centre TRACT).")),
    "preflight": ("preflight",
        ("Check the predicted quantum graph GRAPH.qg (pipetask qgraph --save-qgraph) before the"
         " run: the quanta per task and data ID, inputs the lineage graph has never seen, inputs"
         " flagged bad or suspect or contaminated (flag, reason, fraction), outputs that already"
         " exist, and whether each calibration input is certified for its exposure.")),
    "prov": ("prov", "The lineage of SELECTOR as a W3C PROV document (JSON, XML, PROV-N, Turtle)."),
    "query": ("query",
              "Run a saved named GraphQL operation (graphql/*.graphql) against a repository."),
    "retain": ("retain", ("Which datasets a retention rule would delete: counts and bytes by type,"
                          " and the provenance their tombstones keep.")),
    "schema": ("schema", "Print the GraphQL schema (SDL), as graphql/schema.graphql holds it."),
    "search": ("search",
               ("What TEXT names: a visit, a data ID, a dataset UUID or key, a flag, a collection"
                " or release, a dataset type or a task.")),
    "serve": ("serve", "Serve the GraphQL API (/graphql, GraphiQL, /health) over a repository."),
    "show": ("lineage", "Show one node (a key or dataset UUID) with its neighbours."),
    "status": ("status", "Count nodes by kind and edges by type."),
    "sync": ("sync", ("Bring what the Butler repository BUTLER_REPO holds into the graph; run "
                      "again, only what is new.")),
    "token": ("token", "API tokens of a repository: create, list, revoke."),
    "unflag": ("flags", "Retract a flag (recorded on it; nothing is deleted)."),
    "upstream": ("lineage",
        ("Datasets upstream of SELECTOR (a dataset UUID, a node key, or an expression such as "
         "visit=1228 or tract=9813,patch=40,band=r).")),
    "visits": ("visits", "Visits by observing conditions and telemetry, e.g."),
}


def commands_of(module: ModuleType) -> dict[str, click.Command]:
    """The top-level commands a command module defines, by name: its click commands and
    groups that are not a subcommand of one of its groups."""
    defined = [v for v in vars(module).values() if isinstance(v, click.Command)]
    nested = {id(sub) for group in defined if isinstance(group, click.Group)
              for sub in group.commands.values()}
    return {c.name: c for c in defined if id(c) not in nested}


class LazyGroup(click.Group):
    """A group that imports a command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"lineage.cli.{COMMANDS[name][0]}")
        return commands_of(module)[name]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from :data:`COMMANDS`, shortened as click shortens a command's
        own help, so it reads the same without importing any command."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, click.Command(name, help=short).get_short_help_str(limit))
                for name, (_, short) in sorted(COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="survey-lineage")
def cli() -> None:
    """Provenance and lineage for survey data: which coadds used this visit?"""


def main() -> None:
    try:
        cli.main(prog_name="lineage", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover
        click.echo("lineage: interrupted", err=True)
        sys.exit(130)

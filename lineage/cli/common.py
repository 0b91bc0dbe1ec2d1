"""What every ``lineage`` command shares: options, errors, the repository.

Every command takes ``--repo DIR`` (or ``LINEAGE_REPO``; a Bolt URI works
too).  Errors the user can fix print one line, ``lineage: error: ...``, and
exit with status 2; no traceback.
"""

from __future__ import annotations

import functools
from pathlib import Path

import click

from lineage.cli.output import FORMATS
from lineage.core.errors import LineageError
from lineage.store.repo import FormatTooOld, open_store

DEFAULT_REPO = "lineage-repo"

repo_option = click.option(
    "--repo", "repo", envvar="LINEAGE_REPO", default=DEFAULT_REPO, show_default=True,
    help="Repository directory (or a bolt:// URI). Also LINEAGE_REPO.")

#: ``--json`` of a command that changes something and reports on it (a listing takes
#: :func:`format_option`).
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def format_option(command):
    """``--format table|csv|ecsv|json`` and ``--json`` (the same as ``--format json``, which
    scripts and docs use): the command gets one argument, ``fmt``."""
    @functools.wraps(command)
    def with_format(*args, fmt=None, as_json=False, **kwargs):
        if as_json and fmt not in (None, "json"):
            raise CliError(f"--json and --format {fmt} ask for two formats: give one")
        return command(*args, fmt="json" if as_json else fmt or "table", **kwargs)
    with_format = click.option("--json", "as_json", is_flag=True,
                               help="Print JSON for scripts (--format json).")(with_format)
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                        help="table (default; nothing is cut to fit the terminal), csv, ecsv "
                             "(astropy, with dtypes and units) or json.")(with_format)


class CliError(click.ClickException):
    """An error the user can fix: printed as one line, exit status 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"lineage: error: {self.format_message()}", err=True)


def option_name(field: str) -> str:
    """The command-line option of a library field: the running command's option (or
    argument) that fills the parameter ``field`` (``types`` is ``--type``, ``metric`` is
    ``METRIC``), else ``as_of`` -> ``--as-of``."""
    context = click.get_current_context(silent=True)
    for param in context.command.params if context else ():
        if param.name == field:
            return param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
    return "--" + field.replace("_", "-")


def call(fn, *args, **kwargs):
    """Call into the library, turning its errors (:class:`LineageError`, and OSError for
    the files a command names) into one-line messages; a user error that names its field
    starts with the field's option (``--as-of 'x': not an ISO date ...``); a repository of an
    older format gets the command that upgrades it."""
    try:
        return fn(*args, **kwargs)
    except (LineageError, OSError) as exc:
        field = getattr(exc, "field", None)
        message = f"{option_name(field)} {exc}" if field else str(exc)
        if isinstance(exc, FormatTooOld):
            message += f"; `lineage migrate --repo {exc.target}` upgrades it"
        raise CliError(message) from None


class Repo:
    """Opens the store lazily and closes it when the command ends; ``any_format``: a
    repository of another format too (``lineage status``)."""

    def __init__(self, target: str, any_format: bool = False) -> None:
        self.target = target
        self.any_format = any_format
        self.store = None

    def __enter__(self):
        self.store = call(open_store, self.target, any_format=self.any_format)
        return self.store

    def __exit__(self, *exc):
        if self.store is not None:
            call(self.store.close)


PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_plot_suffix(ctx, param, value):
    if value is not None and Path(value).suffix.lower() not in PLOT_SUFFIXES:
        raise click.BadParameter(f"{value}: the picture must end in {', '.join(PLOT_SUFFIXES)}")
    return value


def pairs(option: str, items) -> dict[str, str]:
    """``NAME=VALUE`` option values as a dict."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"{option} {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


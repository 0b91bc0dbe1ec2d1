"""One way for the tests to run the ``lineage`` command without a new interpreter.

``run(*args)`` calls the click command in this process with ``click.testing.CliRunner``
(stdout and stderr kept apart, click >= 8.2) and answers like ``subprocess.run(...,
capture_output=True, text=True)``: ``.returncode``, ``.stdout``, ``.stderr``.  A run saves the
0.7-1 s interpreter start and import of ``python -m lineage.cli``.

Tests keep a real process where the process is what they test: kill -9, engine start/stop
across processes, servers, signals, start-up time, the environment of a new interpreter.
"""

from __future__ import annotations

import os
import traceback
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Ran:
    """The answer of one command, shaped like ``subprocess.CompletedProcess``."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


@contextmanager
def _cwd(path):
    if path is None:
        yield
        return
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@contextmanager
def _console_width(columns: int):
    """Rich's console is made once, on first use, with the width of ``COLUMNS`` then; a
    subprocess would read the ``COLUMNS`` it is given."""
    from lineage.cli.output import console
    shared = console()
    old = shared._width
    shared.width = columns
    try:
        yield
    finally:
        shared._width = old


def run(*args, env: dict | None = None, cwd=None, check: bool = False, input=None) -> Ran:
    """``lineage *args`` in this process.  ``env`` overrides the environment for the run
    (a value of None unsets the variable), ``cwd`` is the working directory for the run."""
    from click.testing import CliRunner

    from lineage.cli import cli

    argv = [str(a) for a in args]
    env = dict(env or {})
    columns = int(env.get("COLUMNS") or os.environ.get("COLUMNS") or 160)
    runner = CliRunner()
    with _cwd(cwd), _console_width(columns):
        result = runner.invoke(cli, argv, env=env, input=input, prog_name="lineage",
                               catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # a real process prints the traceback of an uncaught exception and exits with 1
        stderr += "".join(traceback.format_exception(*result.exc_info))
    ran = Ran(argv, result.exit_code, result.stdout, stderr)
    if check and ran.returncode != 0:
        raise AssertionError(f"lineage {' '.join(argv)} failed ({ran.returncode}):\n{ran.stderr}")
    return ran

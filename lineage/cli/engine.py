"""``lineage engine start|stop|status``: the embedded engine between commands (docs/engines.md)."""

from __future__ import annotations

from pathlib import Path

import click

from lineage.cli.common import call, repo_option
from lineage.cli.output import console
from lineage.store.falkordb_server import FalkorServer
from lineage.store.repo import open_store, read_config


@click.group()
def engine() -> None:
    """Keep the embedded engine running between commands (faster), or stop it."""


@engine.command("start")
@repo_option
def engine_start(repo: str) -> None:
    """Start the embedded engine and keep it running until `lineage engine stop`."""
    store = call(open_store, repo, keep=True)
    store.close()
    console().print(f"embedded engine of {repo} is running")


@engine.command("stop")
@repo_option
def engine_stop(repo: str) -> None:
    """Stop the embedded engine (whoever started it)."""
    call(read_config, Path(repo))
    ran = call(FalkorServer(Path(repo)).stop)
    console().print("stopped" if ran else "was not running")


@engine.command("status")
@repo_option
def engine_status(repo: str) -> None:
    """Say whether the embedded engine runs, and its PID."""
    call(read_config, Path(repo))
    server = FalkorServer(Path(repo))
    pid, owner = call(server.owner)
    if call(server.answering):
        console().print(f"running (pid {server.pid()}, socket {server.socket_path})")
    elif owner == "ours":
        console().print(f"not answering (pid {pid}); `lineage engine stop` stops it")
    elif owner == "foreign":
        console().print(f"not running (its PID file names process {pid}, which is not this "
                        "engine: a stale file, removed at the next start)")
    else:
        console().print("not running")

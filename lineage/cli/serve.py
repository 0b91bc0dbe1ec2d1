"""``lineage serve``: the GraphQL API over a repository (docs/api.md)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import click

from lineage.api.app import create_app
from lineage.api.settings import ApiSettings
from lineage.cli.common import call, repo_option
from lineage.store.repo import open_store, read_config


#: How `lineage serve --workers N` hands the repository and settings to its worker processes.
_WORKER_ENV = "LINEAGE_SERVE_WORKER"


def _settings_to_env(repo: str, settings) -> str:
    return json.dumps({"repo": repo, "settings": dataclasses.asdict(settings)}, default=str)


def worker_app():
    """The app of one worker process of ``lineage serve --workers N`` (a uvicorn factory):
    the repository and settings its parent was given, in ``LINEAGE_SERVE_WORKER``."""
    given = json.loads(os.environ[_WORKER_ENV])
    values = given["settings"]
    for f in dataclasses.fields(ApiSettings):  # paths went as text
        if values.get(f.name) is not None and "Path" in str(f.type):
            values[f.name] = Path(values[f.name])
    return create_app(given["repo"], settings=ApiSettings(**values))


@click.command()
@repo_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              envvar="LINEAGE_API_WORKERS",
              help="Server processes sharing the port (each with its own engine connection "
                   "and thread pool); about one per CPU core.")
@click.option("--read-access", type=click.Choice(["loopback", "open", "token"]),
              default="loopback", show_default=True, envvar="LINEAGE_API_READ_ACCESS",
              help="Who may read without a token: loopback clients, everyone, or nobody.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds one request may take.")
@click.option("--max-page-size", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--max-depth", type=click.IntRange(min=1), default=12, show_default=True)
@click.option("--max-cost", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--datastore", type=click.Path(file_okay=False), default=None,
              help="Where the repository's files are (default: REPO/datastore).")
@click.option("--preflight-dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Where predicted quantum graphs (.qg) wait for the preflight(graph:) "
                   "query, which names a file in it (never a path).")
@click.option("--allow-host", "allowed_hosts", multiple=True, envvar="LINEAGE_API_ALLOWED_HOSTS",
              help="Another name the server may be called by (Host and Origin headers; "
                   "localhost, loopback addresses and --host always work; `*`: any). "
                   "Repeatable.")
def serve(repo, host, port, workers, read_access, timeout, max_page_size, max_depth, max_cost,
          log_level, datastore, preflight_dir, allowed_hosts):
    """Serve the GraphQL API (/graphql, GraphiQL, /health) over a repository."""
    import uvicorn

    if "://" not in repo:
        call(read_config, Path(repo))
    settings = ApiSettings(max_page_size=max_page_size, default_page_size=min(50, max_page_size),
                           max_depth=max_depth, max_cost=max_cost, timeout=timeout,
                           read_access=read_access, bind_host=host,
                           allowed_hosts=allowed_hosts,
                           datastore=Path(datastore) if datastore else None,
                           preflight_dir=Path(preflight_dir) if preflight_dir else None)
    click.echo(f"lineage API on http://{host}:{port}/graphql (repository {repo}"
               f"{f', {workers} workers' if workers > 1 else ''})", err=True)
    access_log = log_level in ("info", "debug")  # a line per request only when shown
    if workers == 1:
        uvicorn.run(create_app(repo, settings=settings), host=host, port=port,
                    log_level=log_level, access_log=access_log)
        return
    # Several processes: each worker builds the app from the environment.  This process
    # keeps the embedded engine up meanwhile (it starts it once, not each worker, and a
    # worker that uvicorn restarts finds it running).
    repo_arg = repo if "://" in repo else str(Path(repo).resolve())
    os.environ[_WORKER_ENV] = _settings_to_env(repo_arg, settings)
    with call(open_store, repo_arg):
        uvicorn.run("lineage.cli.serve:worker_app", factory=True, workers=workers, host=host,
                    port=port, log_level=log_level, access_log=access_log)

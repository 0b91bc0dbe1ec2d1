"""The GraphQL API (docs/api.md): serve, token, query, schema."""

from __future__ import annotations

from pathlib import Path

import click

from lineage.cli.output import console, print_json, table
from lineage.cli.common import Repo, UserError, call, cli, json_option, pairs, repo_option
from lineage.store.repo import open_store, read_config


def _repo_dir(repo: str) -> Path:
    if "://" in repo:
        raise UserError("API tokens live in a repository directory; give --repo DIR "
                        "(a repository may point at a Bolt server: lineage init DIR --store ...)")
    call(read_config, Path(repo))
    return Path(repo)


#: How `lineage serve --workers N` hands the repository and settings to its worker processes.
_WORKER_ENV = "LINEAGE_SERVE_WORKER"


def _settings_to_env(repo: str, settings) -> str:
    import json
    from dataclasses import asdict
    return json.dumps({"repo": repo, "settings": asdict(settings)}, default=str)


def worker_app():
    """The app of one worker process of ``lineage serve --workers N`` (a uvicorn factory):
    the repository and settings its parent was given, in ``LINEAGE_SERVE_WORKER``."""
    import dataclasses
    import json
    import os

    from lineage.api.app import create_app
    from lineage.api.settings import ApiSettings
    given = json.loads(os.environ[_WORKER_ENV])
    values = given["settings"]
    for f in dataclasses.fields(ApiSettings):  # paths went as text
        if values.get(f.name) is not None and "Path" in str(f.type):
            values[f.name] = Path(values[f.name])
    return create_app(given["repo"], settings=ApiSettings(**values))


@cli.command()
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
@click.option("--allow-host", "allowed_hosts", multiple=True, envvar="LINEAGE_API_ALLOWED_HOSTS",
              help="Another name the server may be called by (Host and Origin headers; "
                   "localhost, loopback addresses and --host always work; `*`: any). "
                   "Repeatable.")
def serve(repo, host, port, workers, read_access, timeout, max_page_size, max_depth, max_cost,
          log_level, datastore, allowed_hosts):
    """Serve the GraphQL API (/graphql, GraphiQL, /health) over a repository."""
    import os

    import uvicorn

    from lineage.api.app import create_app
    from lineage.api.settings import ApiSettings
    if "://" not in repo:
        call(read_config, Path(repo))
    settings = ApiSettings(max_page_size=max_page_size, default_page_size=min(50, max_page_size),
                           max_depth=max_depth, max_cost=max_cost, timeout=timeout,
                           read_access=read_access, bind_host=host,
                           allowed_hosts=allowed_hosts,
                           datastore=Path(datastore) if datastore else None)
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
        uvicorn.run("lineage.cli.api:worker_app", factory=True, workers=workers, host=host,
                    port=port, log_level=log_level, access_log=access_log)


@cli.group()
def token() -> None:
    """API tokens of a repository: create, list, revoke."""


@token.command("create")
@repo_option
@click.option("--name", required=True, help="Whose token (recorded as `by` on flags).")
@click.option("--role", type=click.Choice(["reader", "flagger", "admin"]), required=True,
              help="reader: queries; flagger: flag and unflag too; admin: everything.")
@json_option
def token_create(repo, name, role, as_json):
    """Create a token; it is shown once and stored only hashed."""
    from lineage.api.auth import TokenStore
    from lineage.api.errors import ApiError
    try:
        record, text = TokenStore(_repo_dir(repo)).create(name, role)
    except ApiError as exc:
        raise UserError(str(exc)) from None
    if as_json:
        print_json({**record.public(), "token": text})
        return
    console().print(f"token {record.id} for {record.name} (role {record.role}); "
                  "keep it, it is not shown again:")
    click.echo(text)


@token.command("list")
@repo_option
@json_option
def token_list(repo, as_json):
    """Tokens (never their secrets)."""
    from lineage.api.auth import TokenStore
    records = [r.public() for r in TokenStore(_repo_dir(repo)).list()]
    if as_json:
        print_json(records)
        return
    table("API tokens", ["id", "name", "role", "created (UTC)", "revoked (UTC)"],
          [(r["id"], r["name"], r["role"], r["created_at"], r["revoked_at"] or "")
           for r in records], f"{len(records)} tokens")


@token.command("revoke")
@click.argument("token_id")
@repo_option
def token_revoke(token_id, repo):
    """Revoke a token by id (a running server refuses it from its next request)."""
    from lineage.api.auth import TokenStore
    from lineage.api.errors import ApiError
    try:
        record = TokenStore(_repo_dir(repo)).revoke(token_id)
    except ApiError as exc:
        raise UserError(str(exc)) from None
    console().print(f"revoked {record.id} ({record.name}) at {record.revoked_at}")


@cli.command("query")
@click.argument("name", required=False)
@repo_option
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="Operation variable (strings as given, numbers and lists as JSON; a list "
                   "may be comma-separated).")
@click.option("--list", "list_only", is_flag=True, help="List the saved operations.")
def query_command(name, repo, variables, list_only):
    """Run a saved named GraphQL operation (graphql/*.graphql) against a repository."""
    import asyncio

    from lineage.api.saved import SavedOperations
    repo_dir = None if "://" in repo else Path(repo)
    saved = SavedOperations.default(repo_dir if repo_dir and repo_dir.is_dir() else None)
    if list_only or not name:
        ops = call(saved.all)
        table("Saved operations", ["name", "kind", "variables", "source", "description"],
              [(o.name, o.kind, ", ".join(f"${k}: {v}" for k, v in o.info()["variables"].items()),
                o.info()["source"], o.description) for o in ops], f"{len(ops)} operations")
        return
    try:
        op = saved.get(name)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    try:
        values = op.coerce(pairs("--var", variables))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    from lineage.api.local import run_local
    with Repo(repo) as store:
        body = asyncio.run(run_local(store, op.document, values, op.name, repo_dir))
    print_json(body)
    if body.get("errors"):
        raise UserError("; ".join(e["message"] for e in body["errors"]))


@cli.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-",
              help="File to write (default: standard output).")
def schema_command(output):
    """Print the GraphQL schema (SDL), as graphql/schema.graphql holds it."""
    from lineage.api.saved import sdl
    with click.open_file(output, "w") as out:
        out.write(sdl())

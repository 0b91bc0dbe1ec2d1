"""``lineage token create|list|revoke``: the API tokens of a repository (docs/api.md)."""

from __future__ import annotations

from pathlib import Path

import click

from lineage.api.auth import TokenStore
from lineage.cli.common import CliError, call, format_option, json_option, repo_option
from lineage.cli.output import Column, console, emit, print_json
from lineage.store.repo import read_config


def _repo_dir(repo: str) -> Path:
    if "://" in repo:
        raise CliError("API tokens live in a repository directory; give --repo DIR "
                        "(a repository may point at a Bolt server: lineage init DIR --store ...)")
    call(read_config, Path(repo))
    return Path(repo)


@click.group()
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
    record, text = call(TokenStore(_repo_dir(repo)).create, name, role)
    if as_json:
        print_json({**record.public(), "token": text})
        return
    console().print(f"token {record.id} for {record.name} (role {record.role}); "
                    "keep it, it is not shown again:")
    click.echo(text)


@token.command("list")
@repo_option
@format_option
def token_list(repo, fmt):
    """Tokens (never their secrets)."""
    records = [r.public() for r in TokenStore(_repo_dir(repo)).list()]
    emit(fmt, "API tokens", records,
         [Column("id", "id"), Column("name", "name", wrap=True), Column("role", "role"),
          Column("created (UTC)", "created_at"), Column("revoked (UTC)", "revoked_at")],
         f"{len(records)} tokens")


@token.command("revoke")
@click.argument("token_id")
@repo_option
def token_revoke(token_id, repo):
    """Revoke a token by id (a running server refuses it from its next request)."""
    record = call(TokenStore(_repo_dir(repo)).revoke, token_id)
    console().print(f"revoked {record.id} ({record.name}) at {record.revoked_at}")

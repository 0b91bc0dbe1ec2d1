"""``lineage migrate``: upgrade a repository of an older format, one numbered step at a time,
after writing a backup; or rebuild one from a backup (docs/migration.md).

The steps live in the store layer (:mod:`lineage.store.migrations`); the backup uses the
export (:mod:`lineage.export.backup`), which the store layer may not import, so the two
meet here."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import click

from lineage.cli.common import CliError, call, json_option, repo_option
from lineage.cli.output import console, print_json
from lineage.export.backup import restore_backup, write_backup
from lineage.store import migrations
from lineage.store.repo import CONFIG_NAME, open_store


@click.command()
@repo_option
@click.option("--dry-run", is_flag=True, help="Say what each step would do; write nothing.")
@click.option("--no-backup", is_flag=True,
              help="Write no backup first (you have one of this repository already).")
@click.option("--backup-dir", type=click.Path(file_okay=False), default=None,
              help="Where to write the backup (default: REPO/backups; needed for a bolt:// "
                   "URI unless --no-backup).")
@click.option("--restore", "restore", type=click.Path(file_okay=False, exists=True),
              default=None, metavar="BACKUP",
              help="Instead, rebuild the backup BACKUP (a directory this command wrote) into "
                   "REPO, a new directory or an empty bolt:// graph, at the backup's format.")
@json_option
def migrate(repo: str, dry_run: bool, no_backup: bool, backup_dir: str | None,
            restore: str | None, as_json: bool) -> None:
    """Upgrade a repository of an older format to this version's, one step at a time."""
    if restore is not None:
        version = call(restore_backup, Path(restore), repo)
        return _report(as_json, {"repo": repo, "restored_from": restore, "format": version},
                       f"restored {restore} into {repo} (format {version})")
    root = None if "://" in repo else Path(repo)
    if root is None and backup_dir is None and not no_backup and not dry_run:
        raise CliError("--backup-dir is needed for a bolt:// URI (or --no-backup)")
    with call(open_store, repo, any_format=True) as store:
        state = call(migrations.repository_format, store, root)
        where = str(root / CONFIG_NAME) if root is not None else repo
        steps = call(migrations.plan, state.version, where, repo)
        report = {"repo": repo, "format": state.version, "target": migrations.FORMAT_VERSION,
                  "steps": [{"from": m.source, "to": m.target, "does": m.summary}
                            for m in steps],
                  "resumed": state.migration, "backup": None, "dry_run": dry_run}
        lines = [f"{repo}: format {state.version}, this survey-lineage writes "
                 f"{migrations.FORMAT_VERSION}"]
        if state.migration:
            lines.append(f"resuming the migration begun {state.migration['started']} "
                         f"(backup: {state.migration['backup'] or 'none'})")
        lines += [f"  step {m.source} -> {m.target}: {m.summary}" for m in steps]
        if not steps and not state.migration:
            return _report(as_json, report, lines[0] + ": nothing to do")
        if dry_run:
            return _report(as_json, report, "\n".join(lines + ["dry run: nothing written"]))
        if state.migration:
            report["backup"] = state.migration["backup"]
        else:
            if not no_backup:
                t0 = time.perf_counter()
                report["backup"], (nodes, edges) = _backup(store, root, state.version,
                                                           backup_dir)
                lines.append(f"backup: {report['backup']} ({nodes} nodes, {edges} edges, "
                             f"{time.perf_counter() - t0:.1f} s)")
            call(migrations.begin, store, state.version, report["backup"])
        for step in steps:
            t0 = time.perf_counter()
            call(migrations.apply_step, store, root, step)
            lines.append(f"  done: format {step.target} ({time.perf_counter() - t0:.1f} s)")
        call(migrations.finish, store)
    lines.append(f"{repo}: format {migrations.FORMAT_VERSION}")
    _report(as_json, report, "\n".join(lines))


def _backup(store, root: Path | None, version: int,
            backup_dir: str | None) -> tuple[str, tuple[int, int]]:
    """Write the backup of a repository of format ``version`` into
    ``BACKUP_DIR/format-N-<stamp>`` (default: the repository's ``backups/``); its path and
    the (nodes, edges) it holds."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    parent = Path(backup_dir) if backup_dir is not None else root / "backups"
    dest = parent / f"format-{version}-{stamp}"
    return str(dest), call(write_backup, store, root, version, dest)


def _report(as_json: bool, document: dict, text: str) -> None:
    if as_json:
        print_json(document)
    else:
        console().print(text, highlight=False, soft_wrap=True)   # a path is never cut

"""Repository formats and ``lineage migrate`` (docs/migration.md).

Every kept earlier format (``tests/data/formats/N/``, made by the code of that format) is
rebuilt on each engine exactly as that code left it, migrated to the current format, and
checked: the format recorded in lineage.json and in the graph, the same nodes, edges and
lineage answers as before, the new index.  Also: refusals of newer and older repositories,
the dry run, the backup and its restore, and a migration killed at each point resumed.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lineage.export.backup import GRAPH_NAME, restore_backup
from lineage.store import migrations
from lineage.store.cypher import FORMAT_VERSION
from lineage.store.repo import FormatTooNew, FormatTooOld, open_store
from lineage.traversal.traverse import downstream, upstream

from .cli_runner import run
from .conftest import _arcadedb_command, _arcadedb_database, _DATABASE_NUMBERS, store_digest

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ROOT / "tests" / "data" / "formats"
KEPT = sorted(int(p.name) for p in FORMATS.iterdir() if (p / GRAPH_NAME).is_file())
VISIT = "visit=2026030100001"


def _kept_datasets(version: int) -> dict[str, list[str]]:
    """Dataset keys of the kept repository by type (from its export, not from a store)."""
    by_type: dict[str, list[str]] = {}
    with gzip.open(FORMATS / str(version) / GRAPH_NAME, "rt") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("kind") == "Dataset":
                by_type.setdefault(record["props"]["dataset_type"], []).append(record["node"])
    return by_type


class OldRepository:
    """A repository of a kept earlier format on one engine: ``target`` is what ``--repo``
    takes (a directory, or a Bolt URI whose password is in ``env``), ``root`` its directory
    (None on a Bolt server)."""

    def __init__(self, target: str, root: Path | None, env: dict, indexes) -> None:
        self.target, self.root, self.env = target, root, env
        self._indexes = indexes

    def indexes(self, store) -> set[tuple[str, str]]:
        """(label, property) of the indexes the engine lists."""
        return self._indexes(store)

    def open(self, any_format: bool = True):
        return open_store(self.target, any_format=any_format)

    def lineage(self, *args):
        return run(*args, "--repo", self.target, env=self.env)


@pytest.fixture(params=["falkordb", "arcadedb"])
def old_repo_factory(request, tmp_path, monkeypatch):
    """Makes a repository of a kept format ``version`` on the engine of the parameter."""
    made = []

    def make(version: int) -> OldRepository:
        if request.param == "falkordb":
            root = tmp_path / f"format-{version}"
            restore_backup(FORMATS / str(version), str(root))
            return OldRepository(str(root), root, {}, lambda store: store._indexed())
        server = request.getfixturevalue("arcadedb_server")
        name = f"test_{next(_DATABASE_NUMBERS)}"
        _arcadedb_database(server, name)
        made.append((server, name))
        port = server.settings.uri.rsplit(":", 1)[1]
        uri = f"bolt://root@127.0.0.1:{port}/{name}"
        monkeypatch.setenv("LINEAGE_BOLT_PASSWORD", server.password)
        restore_backup(FORMATS / str(version), uri)
        return OldRepository(uri, None, {"LINEAGE_BOLT_PASSWORD": server.password},
                             lambda store: _arcadedb_indexes(server, name))

    yield make
    for server, name in made:
        _arcadedb_command(server, f"drop database {name}")


def _arcadedb_indexes(server, name: str) -> set[tuple[str, str]]:
    """(type, property) of the indexes of the ArcadeDB database ``name``, as its HTTP API
    lists them (an index's properties come as a list per bucket, or one list)."""
    rows = _arcadedb_command(server, "select from schema:indexes", database=name)
    return {(row["typeName"], prop) for row in rows for props in row["properties"]
            for prop in (props if isinstance(props, list) else [props])}


def _answers(store, datasets: dict[str, list[str]]) -> dict:
    """The lineage answers compared before and after a migration."""
    coadds = datasets["deepCoadd"][:2]
    calexps = datasets["calexp"][:2]
    return {"downstream visit": sorted((r.key, r.steps) for r in downstream(store, VISIT)),
            **{f"upstream {k}": sorted((r.key, r.steps) for r in upstream(store, k))
               for k in coadds},
            **{f"downstream {k}": sorted((r.key, r.steps) for r in downstream(store, k))
               for k in calexps}}


@pytest.mark.parametrize("version", [v for v in KEPT if v < FORMAT_VERSION])
def test_migration_from_every_kept_format(old_repo_factory, version, tmp_path):
    repo = old_repo_factory(version)
    datasets = _kept_datasets(version)
    with repo.open() as store:
        before = (store.count(), store_digest(store), _answers(store, datasets))
        assert store.graph_meta() is None                   # as format-1 code left it
        assert ("Dataset", "deleted_at") not in repo.indexes(store)
        assert migrations.repository_format(store, repo.root).version == version
    assert before[0][0] > 700 and before[2]["downstream visit"]
    args = ["migrate"] + (["--backup-dir", str(tmp_path / "backups")] if repo.root is None else [])
    done = repo.lineage(*args)
    assert done.returncode == 0, done.stderr
    assert f"step {version} -> {version + 1}" in done.stdout
    assert done.stdout.rstrip().endswith(f"format {FORMAT_VERSION}")
    with repo.open(any_format=False) as store:             # no longer refused
        assert (store.count(), store_digest(store), _answers(store, datasets)) == before
        assert store.graph_meta()["format_version"] == FORMAT_VERSION
        assert store.graph_meta()["migration"] == ""        # finished
        assert ("Dataset", "deleted_at") in repo.indexes(store)
    if repo.root is not None:
        assert json.loads((repo.root / "lineage.json").read_text())["format_version"] == 2
    status = repo.lineage("status", "--json")
    assert json.loads(status.stdout)["format_version"] == FORMAT_VERSION
    again = repo.lineage(*args)
    assert again.returncode == 0 and "nothing to do" in again.stdout

    # the backup holds the repository as it was, and restores into an empty one
    (backup,) = ((repo.root / "backups") if repo.root else tmp_path / "backups").iterdir()
    assert backup.name.startswith(f"format-{version}-")
    assert json.loads((backup / "lineage.json").read_text())["format_version"] == version
    restored = tmp_path / "restored"
    assert run("migrate", "--restore", str(backup), "--repo", str(restored)).returncode == 0
    with open_store(restored, any_format=True) as store:
        assert (store.count(), store_digest(store)) == before[:2]
        assert migrations.repository_format(store, restored).version == version


def test_an_old_repository_is_refused_except_by_migrate_and_status(old_repo_factory):
    repo = old_repo_factory(1)
    with pytest.raises(FormatTooOld, match=r"format 1 is older than this survey-lineage uses "
                                           r"\(2\); migrate it \(docs/migration.md\)"):
        repo.open(any_format=False)
    refused = repo.lineage("downstream", VISIT, "--count")
    assert refused.returncode == 2
    assert f"`lineage migrate --repo {repo.target}` upgrades it" in refused.stderr
    status = repo.lineage("status")
    assert status.returncode == 0
    assert "repository format 1, older than this survey-lineage uses (2)" in status.stdout
    assert json.loads(repo.lineage("status", "--json").stdout)["format_version"] == 1


def test_a_newer_repository_is_refused_naming_the_format(old_repo_factory, tmp_path):
    repo = old_repo_factory(1)
    with repo.open() as store:
        store.record_graph_meta(format_version=3)        # as a future survey-lineage would
    if repo.root is not None:
        config = json.loads((repo.root / "lineage.json").read_text())
        (repo.root / "lineage.json").write_text(json.dumps({**config, "format_version": 3}))
    message = (r"format 3 needs a newer survey-lineage \(this one reads formats 1-2 and "
               r"writes 2\)")
    with pytest.raises(FormatTooNew, match=message):
        repo.open(any_format=False)
    for command in (["downstream", VISIT], ["migrate", "--backup-dir", str(tmp_path / "b")]):
        refused = repo.lineage(*command)
        assert refused.returncode == 2
        assert "format 3 needs a newer survey-lineage (this one reads formats 1-2 and " \
               "writes 2)" in refused.stderr
    assert not (tmp_path / "b").exists()


def test_dry_run_writes_nothing(old_repo_factory, tmp_path):
    repo = old_repo_factory(1)
    with repo.open() as store:
        digest = store_digest(store)
    config = (repo.root / "lineage.json").read_text() if repo.root else None
    dry = repo.lineage("migrate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "step 1 -> 2: index Dataset.deleted_at" in dry.stdout
    assert "dry run: nothing written" in dry.stdout
    with repo.open() as store:
        assert store_digest(store) == digest and store.graph_meta() is None
        assert ("Dataset", "deleted_at") not in repo.indexes(store)
    if repo.root:
        assert (repo.root / "lineage.json").read_text() == config
        assert not (repo.root / "backups").exists()


def test_a_new_repository_is_the_current_format(tmp_path):
    assert run("init", str(tmp_path / "new")).returncode == 0
    assert json.loads((tmp_path / "new" / "lineage.json").read_text())["format_version"] == 2
    with open_store(tmp_path / "new") as store:
        assert store.graph_meta()["format_version"] == 2 and store.count() == (0, 0)
        assert ("Dataset", "deleted_at") in store._indexed()


#: A migration run by the library's steps in a process of its own, killed (SIGKILL, by
#: itself) at the point argv[2] names.
KILLED = """
import os, signal, sys
from pathlib import Path
from lineage.export.backup import write_backup
from lineage.store import migrations
from lineage.store.repo import open_store
root, point = Path(sys.argv[1]), sys.argv[2]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
store = open_store(root, any_format=True)
backup = root / "backups" / "format-1-killed"
write_backup(store, root, 1, backup)
migrations.begin(store, 1, str(backup))
if point == "after-begin":
    die()
(step,) = migrations.plan(1, "here", str(root))
step.step(store, root)
if point == "inside-step":                 # the index made, the format not yet recorded
    die()
store.record_graph_meta(format_version=step.target)
if point == "after-graph":                 # the graph says 2, lineage.json still 1
    die()
migrations.write_config_format(root, step.target)
die()                                      # "before-finish": the migration still recorded
"""


@pytest.mark.parametrize("point", ["after-begin", "inside-step", "after-graph",
                                   "before-finish"])
def test_a_migration_killed_at_any_point_resumes(tmp_path, point):
    root = tmp_path / "repo"
    restore_backup(FORMATS / "1", str(root))
    datasets = _kept_datasets(1)
    with open_store(root, any_format=True) as store:
        before = (store.count(), store_digest(store), _answers(store, datasets))
    killed = subprocess.run([sys.executable, "-c", KILLED, str(root), point],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    if point != "before-finish":
        assert run("downstream", VISIT, "--repo", str(root)).returncode == 2   # still old
    resumed = run("migrate", "--repo", str(root))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming the migration begun" in resumed.stdout
    assert "backups/format-1-killed" in resumed.stdout
    assert [p.name for p in (root / "backups").iterdir()] == ["format-1-killed"]  # no second
    with open_store(root) as store:
        assert (store.count(), store_digest(store), _answers(store, datasets)) == before
        assert store.graph_meta() == {"key": "lineage:repository", "format_version": 2,
                                      "migration": ""}
    assert json.loads((root / "lineage.json").read_text())["format_version"] == 2

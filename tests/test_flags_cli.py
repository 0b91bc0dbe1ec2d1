"""The flag commands, run as a user runs them (in this process, through click: see
tests/cli_runner.py), on a real repository."""

from __future__ import annotations

import json

import pytest

from lineage.demo import default_visit

from .conftest import SMALL
from .test_cli import lineage

VISIT = default_visit(SMALL)
FLAG_ARGS = ["--verdict", "bad", "--reason", "satellite trail", "--by", "alice",
             "--evidence", "https://jira.example.org/browse/DM-1228"]


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("flagcli") / "repo"
    lineage("demo", "--small", "--repo", str(repo), "--json")
    lineage("engine", "start", "--repo", str(repo))
    yield repo
    lineage("engine", "stop", "--repo", str(repo))


def _status(repo):
    return json.loads(lineage("status", "--repo", str(repo), "--json").stdout)


def _one_line_error(proc, text):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lineage: error: ") and text in lines[0], \
        proc.stderr


def test_bad_input_is_one_line_and_writes_nothing(demo_repo, tmp_path):
    before = _status(demo_repo)
    r = str(demo_repo)
    _one_line_error(lineage("flag", "visit=1", *FLAG_ARGS, "--repo", r, check=False),
                    "no visit '1'")
    _one_line_error(lineage("flag", f"visit={VISIT}", *FLAG_ARGS[2:], "--verdict", "awful",
                            "--repo", r, check=False), "--verdict 'awful'")
    _one_line_error(lineage("unflag", "deadbeef", "--reason", "x", "--by", "y", "--repo", r,
                            check=False), "no flag 'deadbeef'")
    bad = tmp_path / "flags.jsonl"
    bad.write_text('{"node": "flag:1", "kind": "Flag", "props": {"verdict": "bad"}}\n')
    _one_line_error(lineage("flags", "import", str(bad), "--repo", r, check=False),
                    "line 1: flag flag:1 lacks 'reason'")
    bad.write_text("\n\n{not json\n")
    _one_line_error(lineage("flags", "import", str(bad), "--repo", r, check=False),
                    "line 3: not JSON")
    dry = json.loads(lineage("flag", f"visit={VISIT}", *FLAG_ARGS, "--dry-run", "--json",
                             "--repo", r).stdout)
    assert dry["dry_run"] and dry["blast_radius"]["by_dataset_type"]["deepCoadd"] > 0
    assert _status(demo_repo) == before


def test_flag_lookup_plan_unflag_and_move(demo_repo, tmp_path):
    r = str(demo_repo)
    made = json.loads(lineage("flag", f"visit={VISIT}", *FLAG_ARGS, "--authority", "DRB",
                              "--json", "--repo", r).stdout)
    key = made["flag"]
    coadd = made["blast_radius"]["most_affected"][0]["key"]
    answer = json.loads(lineage("contaminated", coadd, "--json", "--repo", r).stdout)
    assert answer["contaminated"] and answer["by"][0]["flag"] == key
    plan_file = tmp_path / "plan.json"
    lineage("flags", "plan", "-o", str(plan_file), "--repo", r)
    plan = json.loads(plan_file.read_text())
    assert plan["rerun"] and plan["data_queries"]["_exclude"] == f"NOT (visit IN ({VISIT}))"
    inputs = json.loads(lineage("flags", "inputs", coadd, "--type", "raw", "--json",
                                "--repo", r).stdout)
    assert inputs and all(row["flagged"] for row in inputs)  # the only visit in that coadd
    exported = tmp_path / "flags.jsonl"
    lineage("flags", "export", "-o", str(exported), "--repo", r)

    other = tmp_path / "site2"
    lineage("demo", "--small", "--repo", str(other), "--json")
    lineage("flags", "import", str(exported), "--repo", str(other))
    again = json.loads(lineage("contaminated", coadd, "--json", "--repo", str(other)).stdout)
    assert again == answer
    assert lineage("flags", "export", "--repo", str(other)).stdout == exported.read_text()

    lineage("unflag", key[5:13], "--reason", "re-reviewed: fine", "--by", "bob", "--repo", r)
    answer = json.loads(lineage("contaminated", coadd, "--json", "--repo", r).stdout)
    assert not answer["contaminated"]
    listed = json.loads(lineage("flags", "list", "--all", "--json", "--repo", r).stdout)
    assert listed[0]["retracted_by"] == "bob" and listed[0]["authority"] == "DRB"
    assert json.loads(lineage("flags", "list", "--json", "--repo", r).stdout) == []

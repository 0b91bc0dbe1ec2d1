"""Nothing skipped in silence (issue #19, defect 9): every file under a folder given to
`lineage ingest` is in the report, as stored, unchanged, skipped with the reason, or
rejected with where and what; checked for each kind on its real sample folder, whose
SOURCES.md, README and licence files are no input of any kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lineage.ingest.driver import ingest

from .cli_runner import run

#: Each kind and its real sample folder (``../shared/data/real``; ``run`` reads the
#: pipe_base task-metadata record).  ``prov`` has no real sample: it reads what
#: ``lineage prov`` wrote.
FOLDERS = {"headers": ("headers",), "butler-export": ("butler_exports",),
           "skymap": ("skymaps",), "pipeline": ("pipelines",),
           "run": ("metrics", "pipe_base"), "efd": ("efd",), "metrics": ("metrics",)}

#: Import variables of the real pipelines (as in tests/test_ingest_pipeline.py).
PIPELINE_VARS = {"DRP_PIPE_DIR": "drp_pipe", "ANALYSIS_TOOLS_DIR": "analysis_tools",
                 "CP_VERIFY_DIR": "cp_verify", "SOURCE_INJECTION_DIR": "source_injection",
                 "MEAS_EXTENSIONS_MULTIPROFIT_DIR": "meas_extensions_multiprofit",
                 "TESTDIR": "pipe_base_tests"}

STATUSES = {"added", "updated", "unchanged", "skipped", "rejected"}


@pytest.mark.parametrize("kind", sorted(FOLDERS))
def test_every_file_of_a_real_folder_is_in_the_report(store, real_data, kind):
    folder = real_data(*FOLDERS[kind])
    variables = ({var: str(real_data("pipelines", sub)) for var, sub in PIPELINE_VARS.items()}
                 if kind == "pipeline" else {})
    summary = ingest(store, kind, [folder], variables, show_progress=False)
    under = {str(p) for p in folder.rglob("*") if p.is_file()}
    reported = [f.path for f in summary.files]
    assert len(reported) == len(set(reported))
    assert set(reported) == under
    for f in summary.files:
        assert f.status in STATUSES, f
        if f.status == "rejected":
            assert f.error.startswith(f.path), f.error
        if f.status == "skipped":
            assert f.skipped and kind in f.skipped[0] and not f.nodes_in, f
        if f.status in ("added", "updated", "unchanged") and not f.nodes_in:
            assert f.skipped, f"{f.path}: read, nothing stored, and no reason given"
    documents = {p for p in under if Path(p).name in ("SOURCES.md", "LICENSE", "COPYRIGHT")}
    assert documents and all(f.status == "skipped" for f in summary.files if f.path in documents)
    assert summary.totals()["skipped_files"] == sum(f.status == "skipped" for f in summary.files)


def test_a_passed_over_file_is_a_line_and_a_total(repo, tmp_path, real_data):
    job = real_data("metrics", "squash_rest_api", "job-768.json")
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "job-768.json").write_text(job.read_text())
    (folder / "notes.txt").write_text("what these jobs are\n")
    (folder / "LICENSE").write_text("MIT\n")
    out = run("ingest", "metrics", str(folder), "--repo", str(repo),
              env={"LINEAGE_NO_PROGRESS": "1", "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    assert ("skipped notes.txt: the whole file: not metrics input (its name ends in .txt; "
            "`lineage ingest metrics` reads files ending in .json, .yaml, .yml)") in out.stdout
    assert "skipped LICENSE: the whole file: not metrics input (its name has no suffix;" \
        in out.stdout
    assert "3 files: 0 nodes" not in out.stdout and ", 2 files skipped, 0 files rejected" \
        in out.stdout
    summary = json.loads(run("ingest", "metrics", str(folder), "--repo", str(repo), "--json",
                             env={"LINEAGE_NO_PROGRESS": "1"}).stdout)
    assert {(Path(f["path"]).name, f["status"]) for f in summary["files"]} == {
        ("job-768.json", "unchanged"), ("notes.txt", "skipped"), ("LICENSE", "skipped")}
    assert summary["totals"]["skipped_files"] == 2 and summary["totals"]["skipped_records"] == 0
    # a file named on its own is read, whatever its name
    named = run("ingest", "metrics", str(folder / "notes.txt"), "--repo", str(repo), "--json",
                env={"LINEAGE_NO_PROGRESS": "1"})
    assert named.returncode == 1 and json.loads(named.stdout)["files"][0]["status"] == "rejected"

"""`lineage serve --workers N` and the load script: several processes share the port, the
engine, the token file and the audit log, and answer as one process does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from lineage.api.process import served, serving
from lineage.api.saved import SavedOperations
from lineage.demo import default_visit

from .conftest import SMALL
from .test_cli import lineage

VISIT = f"visit={default_visit(SMALL)}"
ROOT = Path(__file__).resolve().parents[1]
FLAG = """mutation($sel: String!) {
  flag(input: {selector: $sel, verdict: BAD, reason: "satellite trail",
               evidence: "https://jira.example.org/browse/DM-1", dryRun: true}) {
    dryRun blastRadius { datasets }
  }
}"""


def _workers(pid: int) -> list[int]:
    """The uvicorn worker processes under a `lineage serve --workers N` process."""
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid=,args="], capture_output=True,
                         text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "multiprocessing.spawn" in line]


def _coadds(base: str) -> dict:
    r = httpx.post(f"{base}/queries/CoaddsOfVisit", json={"visit": VISIT}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["data"]


@pytest.mark.slow
def test_workers_answer_as_one_process_and_survive_a_killed_worker(demo_repo):
    with served(demo_repo, timeout=60) as base:
        one = _coadds(base)
    assert one["lineage"]["totalCount"] > 0
    with serving(demo_repo, timeout=60, extra_args=["--workers", "2"]) as (base, proc):
        workers = _workers(proc.pid)
        assert len(workers) == 2
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: _coadds(base), range(40)))
        assert all(a == one for a in answers)
        # a worker dies: uvicorn starts another; the engine stays up (the parent holds it)
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = _workers(proc.pid)
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"no worker replaced the killed one: {now}")
        assert httpx.get(f"{base}/health", timeout=10).json()["status"] == "ok"
        assert all(_coadds(base) == one for _ in range(10))


@pytest.mark.slow
def test_workers_share_tokens_and_audit_log(demo_repo):
    created = json.loads(lineage("token", "create", "--repo", str(demo_repo), "--name",
                                 "drb", "--role", "flagger", "--json").stdout)
    headers = {"Authorization": f"Bearer {created['token']}"}
    n = 24
    with serving(demo_repo, timeout=60,
                 extra_args=["--workers", "2", "--read-access", "token"]) as (base, _):
        def flag(_):
            return httpx.post(f"{base}/graphql", headers=headers, timeout=30,
                              json={"query": FLAG, "variables": {"sel": VISIT}})
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(flag, range(n)))
        assert [r.status_code for r in replies] == [200] * n
        assert all(r.json()["data"]["flag"]["dryRun"] for r in replies)
        # every line of the shared audit log is whole, one "ok" per request
        lines = (demo_repo / "api-audit.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        assert sum(1 for r in records if r.get("operation") == "flag"
                   and r.get("outcome") == "ok") == n
        # a token revoked on the command line is refused by every worker from then on
        lineage("token", "revoke", created["id"], "--repo", str(demo_repo))
        with ThreadPoolExecutor(8) as pool:
            refused = list(pool.map(lambda _: httpx.post(
                f"{base}/queries/CoaddsOfVisit", headers=headers, json={"visit": VISIT},
                timeout=30), range(16)))
        assert [r.status_code for r in refused] == [401] * 16


def test_saved_operations_follow_their_files(tmp_path):
    folder = tmp_path / "graphql"
    folder.mkdir()
    (folder / "mine.graphql").write_text("query Mine { datasetTypes { totalCount } }\n")
    saved = SavedOperations([folder])
    first = saved.get("Mine")
    assert saved.get("Mine") is first  # parsed once, not per request
    time.sleep(0.01)
    (folder / "mine.graphql").write_text(
        "# now with a description\nquery Mine { collections { totalCount } }\n")
    (folder / "more.graphql").write_text("query More { datasetTypes { totalCount } }\n")
    saved._listing = (time.monotonic() - saved.TTL, saved._listing[1])  # a second later
    assert "collections" in saved.get("Mine").document
    assert saved.get("Mine").description == "now with a description"
    assert [o.name for o in saved.all()] == ["Mine", "More"]
    (folder / "more.graphql").unlink()
    saved._listing = None
    with pytest.raises(KeyError, match="no saved operation 'More'"):
        saved.get("More")


@pytest.mark.slow
def test_load_script_against_a_baseline(demo_repo):
    """The script's side-by-side run: both servers answer the same, no errors."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "load_api.py"), "--repo", str(demo_repo),
         "--operation", "CoaddsOfVisit", "--requests", "40", "--warmup", "4", "--clients", "4",
         "--workers", "2", "--baseline", str(ROOT)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "identical on both servers: yes" in out
    assert "this / baseline:" in out and "load average" in out
    rows = [line.split() for line in out.splitlines()
            if line.startswith(("baseline ", "this ")) and "CoaddsOfVisit" in line]
    assert len(rows) == 2 and all(r[2] == "40" and r[3] == "0" for r in rows), out

"""Files the library rewrites in place (a rerun plan marked done, the fetch manifest, the
API tokens, cached files) go through ``lineage.core.atomic.write_atomic``: a ``kill -9``
at any moment leaves the old file or the new one whole."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from lineage.core.atomic import write_atomic

#: A writer that rewrites the file as fast as it can, each version a large JSON document.
WRITER = """
import json, sys
from lineage.core.atomic import write_atomic
path = sys.argv[1]
for n in range(10**9):
    write_atomic(path, json.dumps({"version": n, "rows": ["x" * 64] * 20000}))
"""


def test_kill_9_while_rewriting_leaves_a_whole_file(tmp_path):
    path = tmp_path / "plan.json"
    write_atomic(path, json.dumps({"version": -1, "rows": []}))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    rng = random.Random(7)
    seen = set()
    for _ in range(8):
        before = json.loads(path.read_text())["version"]
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env)
        deadline = time.monotonic() + 30
        while json.loads(path.read_text())["version"] == before and time.monotonic() < deadline:
            time.sleep(0.01)    # until this writer has replaced the file once
        time.sleep(rng.random() * 0.05)   # then somewhere in a later write
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        document = json.loads(path.read_text())       # whole: it parses
        assert document["version"] == -1 or len(document["rows"]) == 20000
        seen.add(document["version"])
    assert len(seen) > 1, "the writer never replaced the file: the test proved nothing"
    # what was left of the temporary files is named so that it is never taken for the file
    assert all(p.name.startswith(".plan.json.") for p in tmp_path.iterdir() if p != path)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "plan.json"
    write_atomic(path, "old\n")
    try:
        write_atomic(path, object())   # not text: fails while writing
    except TypeError:
        pass
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_mode_is_set(tmp_path):
    write_atomic(tmp_path / "rerun.sh", "#!/bin/sh\n", mode=0o755)
    assert (tmp_path / "rerun.sh").stat().st_mode & 0o777 == 0o755

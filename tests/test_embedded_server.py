"""The embedded engine's managed server: sharing, recovery, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from lineage.core.model import GraphBatch
from lineage.store.repo import open_store
from lineage.store.falkordb_server import FalkorServer, _pid_alive


def test_second_user_shares_server_and_last_one_stops_it(repo):
    server = FalkorServer(repo)
    a = open_store(repo)
    pid = server.pid()
    b = open_store(repo)
    assert server.pid() == pid  # shared, not a second server
    a.close()
    assert server.answering()  # b still uses it
    b.close()
    assert not _pid_alive(pid)
    assert not server.answering()


def test_other_process_shares_running_server(repo):
    server = FalkorServer(repo)
    with open_store(repo):
        pid = server.pid()
        code = (f"from lineage.store.repo import open_store\n"
                f"from lineage.store.falkordb_server import FalkorServer\n"
                f"s = open_store({str(repo)!r}); print(FalkorServer(s.server.dir.parent).pid()); s.close()")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert int(out.stdout.strip()) == pid
        assert server.answering()  # the other process's close did not stop our server
    assert not server.answering()


def test_recovers_from_killed_server_with_stale_files(repo):
    server = FalkorServer(repo)
    b = GraphBatch("t")
    b.add_node("dataset:a", dataset_type="raw")
    crashed = open_store(repo)
    crashed.write(b)
    pid = server.pid()
    os.kill(pid, signal.SIGKILL)   # crash: pid file and socket stay behind
    while _pid_alive(pid):
        time.sleep(0.01)
    assert server.pid_file.exists() and server._socket_real.exists()
    with open_store(repo) as again:
        assert server.pid() != pid
        assert again.existing_keys(["dataset:a"]) == {"dataset:a"}  # completed write survived
    crashed.close()
    assert not server.answering()


def test_engine_keep_survives_close(repo):
    s = open_store(repo, keep=True)
    s.close()
    server = FalkorServer(repo)
    assert server.answering()
    assert server.stop()
    assert not server.answering()


_WRITER = textwrap.dedent("""
    import sys
    from lineage.core.model import GraphBatch, Rel
    from lineage.store.repo import open_store
    store = open_store(sys.argv[1])
    b = GraphBatch("big")
    n = int(sys.argv[2])
    for i in range(n):
        b.add_node(f"dataset:d{i}", dataset_type="raw", data_id=f"i={i}", run="r")
        b.add_node(f"quantum:q{i}", task="isr")
        b.add_edge(Rel.INPUT_TO, f"dataset:d{i}", f"quantum:q{i}")
    prepared = store.prepare(b)   # checked and encoded: from here on only the engine works
    print("WRITING", flush=True)
    store.commit(prepared)
    print("DONE", flush=True)
    import time; time.sleep(60)
""")


@pytest.mark.parametrize("delay", [0.0, 0.2, 0.5, 1.0, "done"])
def test_kill_everything_mid_ingest_leaves_before_or_after(repo, tmp_path, delay):
    """kill -9 of the writer and the server at some point of a large ingest unit."""
    base = GraphBatch("base")
    base.add_node("dataset:base", dataset_type="raw")
    with open_store(repo, keep=True) as s:
        s.write(base)
        before = s.count()
    server = FalkorServer(repo)
    n = 40_000
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(repo), str(n)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "WRITING"
    if delay == "done":
        assert proc.stdout.readline().strip() == "DONE"  # a completed unit ...
    else:
        time.sleep(delay)
    pid = server.pid()
    proc.kill()
    os.kill(pid, signal.SIGKILL)
    proc.wait()
    while _pid_alive(pid):
        time.sleep(0.01)
    with open_store(repo) as s:
        after = s.count()
        assert after in (before, (before[0] + 2 * n, before[1] + n)), after
        if delay == "done":  # ... survives kill -9 of everything
            assert after != before
        assert s.existing_keys(["dataset:base"]) == {"dataset:base"}
    FalkorServer(repo).stop()


def test_deep_repository_path_uses_short_socket_link(tmp_path):
    """A Unix socket path is limited to ~107 bytes; deep repositories still work."""
    from lineage.store.repo import init_repo
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "repo"
    init_repo(deep)
    server = FalkorServer(deep)
    assert len(str(server._socket_real)) > 107
    try:
        with open_store(deep) as s:
            b = GraphBatch("t")
            b.add_node("dataset:a", dataset_type="raw")
            s.write(b)
            assert s.existing_keys(["dataset:a"]) == {"dataset:a"}
            assert len(server.socket_path) <= 107
    finally:
        server.stop()


def test_open_during_long_write_shares_the_busy_server(repo):
    """A second process opening the repository while a big unit is being written
    waits for the busy server instead of replacing it; the unit lands whole."""
    import threading
    server = FalkorServer(repo)
    writer = open_store(repo)
    pid = server.pid()
    b = GraphBatch("big")
    for i in range(250_000):
        b.add_node(f"dataset:d{i}", dataset_type="raw", data_id=f"i={i}", run="r")
    prepared = writer.prepare(b)
    done = {}
    t = threading.Thread(target=lambda: done.setdefault("summary", writer.commit(prepared)))
    t.start()
    time.sleep(0.05)
    with open_store(repo) as reader:
        assert server.pid() == pid
        t.join()
        assert done["summary"].nodes_created == 250_000
        assert reader.count()[0] == 250_000
    writer.close()


def test_wedged_server_is_restarted(repo, monkeypatch):
    """FalkorDB 4.16.3 sometimes deadlocks while adding the graph at start-up: the
    server sleeps and never answers.  A real server frozen with SIGSTOP right after
    it starts looks the same (no answer, no CPU); it is killed and started again,
    and the data written before is all there."""
    from lineage.store import falkordb_server as fs
    store = open_store(repo)
    batch = GraphBatch("before")
    batch.add_node("unit:band:r", dimension="band", value="r")
    store.write(batch)
    store.close()

    monkeypatch.setattr(fs, "WEDGE_SECONDS", 1.5)
    spawned = []
    real_spawn = fs.FalkorServer._spawn

    def spawn_and_freeze_first(self):
        real_spawn(self)
        deadline = time.monotonic() + 30
        while (self.pid() is None or not self._socket_real.exists()) \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        spawned.append(self.pid())
        if len(spawned) == 1:
            os.kill(self.pid(), signal.SIGSTOP)
    monkeypatch.setattr(fs.FalkorServer, "_spawn", spawn_and_freeze_first)
    store = open_store(repo)
    try:
        assert len(spawned) == 2 and not _pid_alive(spawned[0])
        assert store.read("MATCH (u:DataUnit) RETURN u.key") == [("unit:band:r",)]
    finally:
        store.close()

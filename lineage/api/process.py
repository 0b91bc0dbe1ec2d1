"""`lineage serve` in a child process on loopback, for load runs and end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(repo, timeout: float = 120.0, extra_args=()):
    """Start ``lineage serve --repo REPO`` on a free loopback port, yield its base URL
    once ``/health`` answers, and stop it afterwards.  A server that exits or does
    not answer within ``timeout`` seconds is an error carrying its output."""
    with serving(repo, timeout, extra_args) as (base, _):
        yield base


@contextmanager
def serving(repo, timeout: float = 120.0, extra_args=(), package_root=None):
    """:func:`served`, yielding ``(base URL, server process)``; ``package_root`` is the
    checkout whose ``lineage`` package serves (default: this one)."""
    port = free_port()
    package_root = str(Path(package_root or Path(__file__).resolve().parents[2]).resolve())
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    log = tempfile.TemporaryFile()  # a pipe nobody reads would fill and stall the server
    if "://" not in str(repo):
        repo = Path(repo).resolve()
    # run in the checkout: `python -m` puts the working directory first on sys.path
    server = subprocess.Popen([sys.executable, "-m", "lineage.cli", "serve", "--repo", str(repo),
                               "--host", "127.0.0.1", "--port", str(port), *extra_args],
                              env=env, cwd=package_root, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                server.wait(timeout=30)
                log.seek(0)
                raise RuntimeError("lineage serve did not come up: "
                                   + log.read().decode(errors="replace")[-2000:])
            time.sleep(0.2)
        yield base, server
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
        log.close()

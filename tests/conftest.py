"""Engines for the tests: always the embedded engine and ArcadeDB over Bolt;
Neo4j too when ``NEO4J_URI`` is set (``NEO4J_USER``/``NEO4J_PASSWORD``,
optional ``NEO4J_DATABASE``).  No mocks: every test talks to a real server.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lineage.demo import SurveySpec, generate
from lineage.ingest import write_units
from lineage.store.repo import init_repo, open_store

# the browser tests' fixtures (tests/browser_support.py), one Chromium per test module
from .browser_support import browser, page, page_watch, serve, served_demo, shot  # noqa: F401

#: Modules whose tests run for minutes (the README run as written, the rerun plans run by
#: pipetask and BPS): collected first, so that with -n 2 neither worker is left running one
#: of them alone at the end (xdist's worksteal hands out the rest around them).
LONG_MODULES = ("test_readme.py", "test_rerun_plan.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name not in LONG_MODULES)

ENGINES = ["falkordb", "arcadedb"] + (["neo4j"] if os.environ.get("NEO4J_URI") else [])

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


@pytest.fixture
def real_data():
    """``real_data("headers", "obs_lsst")``: a path in ``../shared/data/real``; the
    test is skipped when it is absent (the data is never copied into the repository)."""
    def path(*parts: str) -> Path:
        p = REAL_DATA.joinpath(*parts)
        if not p.exists():
            pytest.skip(f"real data not present: {p}")
        return p
    return path


@pytest.fixture(scope="session")
def arcadedb_server(tmp_path_factory):
    from lineage.store.arcadedb_server import ArcadeServer
    # local restores: a test's demo store is restored from a backup (0.2 s), not written (2 s)
    server = ArcadeServer(tmp_path_factory.mktemp("arcadedb"),
                          properties={"arcadedb.server.restoreImportAllowLocalUrls": "true"},
                          # one GC thread: the ArcadeDB tests of conformance and flags took
                          # 26.8 s and 41.5 CPU s with it, 30.6 s and 50.6 CPU s without
                          jvm_options=("-XX:+UseSerialGC",))
    server.start()
    yield server
    server.stop()


def _neo4j_settings():
    from lineage.store.bolt_store import BoltSettings
    return BoltSettings(os.environ["NEO4J_URI"], os.environ.get("NEO4J_USER", "neo4j"),
                        os.environ.get("NEO4J_PASSWORD", ""),
                        os.environ.get("NEO4J_DATABASE") or None)


class EngineFactory:
    """Opens clean stores of one engine; closes them at the end of the test."""

    def __init__(self, name: str, request, tmp_path_factory) -> None:
        self.name = name
        self.request = request
        self.tmp = tmp_path_factory
        self.opened = []
        self.databases = []   # (ArcadeDB server, database name) to drop at the end

    def new(self):
        from lineage.store.bolt_store import BoltStore
        if self.name == "falkordb":
            root = self.tmp.mktemp("repo") / "repo"
            init_repo(root)
            store = open_store(root)
        elif self.name == "arcadedb":   # a new database: 0.2 s, where clearing the last took 2 s
            server = self.request.getfixturevalue("arcadedb_server")
            name = f"test_{next(_DATABASE_NUMBERS)}"
            store = BoltStore(_arcadedb_database(server, name))
            store.ensure_schema()
            self.databases.append((server, name))
        else:
            store = BoltStore(_neo4j_settings())
            store.clear()
            store.ensure_schema()
        self.opened.append(store)
        return store

    def demo(self, units):
        """A clean store holding the small demo survey (``units``): written, or on ArcadeDB
        restored from the backup of one written once per test session (per worker)."""
        if self.name != "arcadedb":
            store = self.new()
            write_units(store, units, show_progress=False)
            return store
        from lineage.store.bolt_store import BoltSettings, BoltStore
        server = self.request.getfixturevalue("arcadedb_server")
        backup = self.request.getfixturevalue("arcadedb_demo_backup")
        name = f"test_{next(_DATABASE_NUMBERS)}"
        _arcadedb_command(server, f"restore database {name} {backup.as_uri()}")
        self.databases.append((server, name))
        store = BoltStore(BoltSettings(server.settings.uri, "root", server.password, name))
        self.opened.append(store)
        return store

    def close(self):
        for s in self.opened:
            s.close()
        for server, name in self.databases:
            _arcadedb_command(server, f"drop database {name}")


@pytest.fixture(params=ENGINES)
def engine(request, tmp_path_factory):
    factory = EngineFactory(request.param, request, tmp_path_factory)
    yield factory
    factory.close()


@pytest.fixture
def store(engine):
    return engine.new()


SMALL = SurveySpec.small()


@pytest.fixture(scope="session")
def small_units():
    """The small demo survey as ingest units (generated once)."""
    return list(generate(SMALL))


@pytest.fixture
def demo_store(engine, small_units):
    """A fresh store holding the small demo, for a test that writes to it."""
    return engine.demo(small_units)


@pytest.fixture(scope="session")
def arcadedb_demo_backup(arcadedb_server, small_units) -> Path:
    """A backup (zip) of the small demo written once into a database of its own."""
    from lineage.store.bolt_store import BoltStore
    name = "demo_template"
    with BoltStore(_arcadedb_database(arcadedb_server, name)) as store:
        store.ensure_schema()
        write_units(store, small_units, show_progress=False)
    (done,) = _arcadedb_command(arcadedb_server, "backup database", database=name)
    return arcadedb_server.dir / "backups" / name / done["backupFile"]


# --- one demo store per engine, shared by the tests that only read it ---------------------

SHARED_DATABASE = "lineage_shared_demo"


#: Names of the databases ``EngineFactory`` creates on the session's ArcadeDB server.
_DATABASE_NUMBERS = itertools.count()


def _arcadedb_command(server, command: str, database: str | None = None):
    """Run a server command (``create database X``; database None) or an SQL command on
    ``database`` (``backup database``) over ArcadeDB's HTTP API; its ``result``."""
    import base64
    import json
    import urllib.request

    auth = base64.b64encode(f"root:{server.password}".encode()).decode()
    url = f"http://127.0.0.1:{server.http_port}/api/v1/" + (
        "server" if database is None else f"command/{database}")
    body = {"command": command} if database is None else {"language": "sql", "command": command}
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(req, timeout=120) as answer:
        result = json.loads(answer.read())["result"]
    assert database is not None or result == "ok", (command, result)
    return result


def _arcadedb_database(server, name: str):
    """A new database on the session's ArcadeDB server: each test's store and the shared
    demo live in databases of their own, never in the server's default one."""
    from lineage.store.bolt_store import BoltSettings
    _arcadedb_command(server, f"create database {name}")
    return BoltSettings(server.settings.uri, "root", server.password, name)


def store_digest(store) -> str:
    """A checksum of every node and edge with its properties (the export's records)."""
    import hashlib
    import json

    from lineage.store.records import iter_records
    h = hashlib.sha256()
    for record in iter_records(store):
        h.update(json.dumps(record, sort_keys=True, default=str).encode())
    return h.hexdigest()


class SharedDemo:
    """The small demo survey written once per engine (per xdist worker), in a store of its
    own: a Falkor repository of its own, a separate ArcadeDB or Neo4j database."""

    def __init__(self, request, tmp_path_factory, units) -> None:
        self.request, self.tmp, self.units = request, tmp_path_factory, units
        self.stores = {}

    def get(self, name: str):
        if name not in self.stores:
            from lineage.store.bolt_store import BoltStore
            if name == "falkordb":
                root = self.tmp.mktemp("shared-demo") / "repo"
                init_repo(root)
                store = open_store(root)
            elif name == "arcadedb":
                server = self.request.getfixturevalue("arcadedb_server")
                store = BoltStore(_arcadedb_database(server, SHARED_DATABASE))
            else:  # neo4j: one database only, so a store of its own per use (cleared)
                store = BoltStore(_neo4j_settings())
                store.clear()
            store.ensure_schema()
            write_units(store, self.units, show_progress=False)
            self.stores[name] = (store, store.count(), store_digest(store))
        return self.stores[name]

    def close(self) -> None:
        for store, _, _ in self.stores.values():
            store.close()


@pytest.fixture(scope="session")
def shared_demo(request, tmp_path_factory, small_units):
    holder = SharedDemo(request, tmp_path_factory, small_units)
    yield holder
    holder.close()


@pytest.fixture(scope="module", params=ENGINES)
def _demo_store_module(request, shared_demo):
    if request.param == "neo4j":  # one database only: demo_store_ro makes a fresh store
        yield request.param, None, None
        return
    store, counts, digest = shared_demo.get(request.param)
    yield request.param, store, counts
    assert store_digest(store) == digest, (
        f"a test of {request.module.__name__} using demo_store_ro changed the shared demo "
        f"store ({request.param}): give it demo_store (a fresh store) instead")


@pytest.fixture
def demo_store_ro(request, _demo_store_module, small_units, tmp_path_factory):
    """The small demo on each engine, shared by every test that only reads it (it saves
    writing the demo per test: 7 s on ArcadeDB).  The test must not write: the node and
    edge counts are checked after each test, every property of every node and edge at the
    end of each module (``store_digest``)."""
    name, store, counts = _demo_store_module
    if store is None:
        factory = EngineFactory(name, request, tmp_path_factory)
        fresh = factory.new()
        write_units(fresh, small_units, show_progress=False)
        yield fresh
        factory.close()
        return
    yield store
    assert store.count() == counts, (
        f"{request.node.nodeid} changed the shared demo store: use demo_store (a fresh store)")


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory, small_units):
    """An embedded repository holding the small demo survey, one per test module (a module
    may define its own ``demo_repo``, built another way, which then wins)."""
    from lineage.store.falkordb_server import FalkorServer
    root = tmp_path_factory.mktemp("demo") / "repo"
    init_repo(root)
    with open_store(root, keep=True) as store:
        write_units(store, small_units, show_progress=False)
    yield root
    FalkorServer(root).stop()


def client_for(repo, host="127.0.0.1", **settings):
    """An in-process HTTP client of the API over ``repo`` (FastAPI's TestClient, as if
    from ``host``), with ``ApiSettings(**settings)``."""
    from fastapi.testclient import TestClient

    from lineage.api.app import create_app
    from lineage.api.settings import ApiSettings
    return TestClient(create_app(repo, settings=ApiSettings(**settings)), client=(host, 40000),
                      raise_server_exceptions=False)


@pytest.fixture
def repo(tmp_path):
    """An embedded repository; its server is stopped afterwards even if the test failed."""
    from lineage.store.falkordb_server import FalkorServer
    root = tmp_path / "repo"
    init_repo(root)
    yield root
    FalkorServer(root).stop()


def built_once(tmp_path_factory, name: str, build) -> Path:
    """What ``build(work)`` makes in the new directory ``work`` (it returns the path of the
    thing made), built once per run: under xdist the workers share it (a lock file in the
    run's base directory, the parent of each worker's); tests only read it."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    made = shared / f"{name}.path"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if made.exists():
                return Path(made.read_text())
            work = shared / name
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            path = build(work)
            made.write_text(str(path))
            return path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


PROVENANCE_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_provenance_qg.py"


@pytest.fixture(scope="session")
def provenance_qg(tmp_path_factory) -> Path:
    """A provenance graph of 18 quanta (one failed, one blocked), made once per run with
    lsst-pipe-base's mock tasks in a real Butler repository (``.parent / "repo"``)."""
    pytest.importorskip("lsst.pipe.base.quantum_graph")

    def build(out: Path) -> Path:
        done = subprocess.run([sys.executable, str(PROVENANCE_SCRIPT), str(out)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return Path(done.stdout.strip().splitlines()[-1])
    return built_once(tmp_path_factory, "provenance-qg", build)

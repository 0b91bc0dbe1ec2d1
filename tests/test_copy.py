"""`lineage copy` between engines is lossless: embedded -> ArcadeDB -> embedded."""

from __future__ import annotations

from lineage.store.bolt_store import BoltStore

from .cli_runner import run


def _lineage(*args, env=None):
    return run(*args, env=env)


def test_round_trip_through_arcadedb(tmp_path, arcadedb_server):
    src = tmp_path / "src"
    back = tmp_path / "back"
    assert _lineage("demo", "--small", "--repo", str(src), "--json").returncode == 0
    with BoltStore(arcadedb_server.settings) as store:
        store.clear()
    settings = arcadedb_server.settings
    uri = f"bolt://root@127.0.0.1:{settings.uri.rsplit(':', 1)[1]}/{settings.database}"
    env = {"LINEAGE_BOLT_PASSWORD": settings.password}
    there = _lineage("copy", "--from", str(src), "--to", uri, env=env)
    assert there.returncode == 0, there.stderr
    assert settings.password not in there.stdout + there.stderr  # never printed
    again = _lineage("copy", "--from", uri, "--to", str(back), env=env)
    assert again.returncode == 0, again.stderr
    a = _lineage("export", "--repo", str(src)).stdout
    b = _lineage("export", "--repo", str(back)).stdout
    c = _lineage("export", "--repo", uri, env=env).stdout
    assert a and a == b == c
    # copying into a non-empty target needs --merge, and then changes nothing
    refused = _lineage("copy", "--from", str(src), "--to", str(back))
    assert refused.returncode == 2 and "--merge" in refused.stderr
    merged = _lineage("copy", "--from", str(src), "--to", str(back), "--merge")
    assert merged.returncode == 0
    assert _lineage("export", "--repo", str(back)).stdout == a

"""The command line, run as a user runs it (in this process, through click: see
tests/cli_runner.py), on a real repository."""

from __future__ import annotations

import json
import random
from collections import deque

import pytest

from lineage.demo import default_visit

from .cli_runner import run
from .conftest import SMALL


def lineage(*args, cwd=None, check=True):
    """``lineage *args`` in this process (tests/cli_runner.py): the same command, without the
    interpreter start of a subprocess."""
    return run(*args, cwd=cwd, check=check, env={"LINEAGE_REPO": None, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("cli") / "repo"
    out = lineage("demo", "--small", "--repo", str(repo), "--json")
    data = json.loads(out.stdout)
    assert data["coadds"] and data["nodes_created"] > 0
    # the repository stays usable by later commands, keep its engine running for speed
    lineage("engine", "start", "--repo", str(repo))
    yield repo
    lineage("engine", "stop", "--repo", str(repo))


@pytest.fixture(scope="module")
def export_graph(demo_repo, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "graph.jsonl"
    lineage("export", "--format", "jsonl", "-o", str(path), "--repo", str(demo_repo))
    nodes, succ, pred = {}, {}, {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if "node" in rec:
            nodes[rec["node"]] = rec["props"]
        elif rec["edge"] in ("INPUT_TO", "PRODUCED"):
            succ.setdefault(rec["src"], []).append(rec["dst"])
            pred.setdefault(rec["dst"], []).append(rec["src"])
    return nodes, succ, pred


def _bfs(start, adjacency, depth):
    """Datasets reachable from ``start`` within ``depth`` quanta (independent of the library)."""
    dist = {start: 0}
    todo = deque([start])
    while todo:
        n = todo.popleft()
        if depth is not None and dist[n] >= 2 * depth:
            continue
        for m in adjacency.get(n, ()):
            if m not in dist:
                dist[m] = dist[n] + 1
                todo.append(m)
    return {k for k in dist if k != start and k.startswith("dataset:")}


def test_demo_rerun_adds_nothing(demo_repo):
    again = json.loads(lineage("demo", "--small", "--repo", str(demo_repo), "--json").stdout)
    assert again["nodes_created"] == 0 and again["edges_created"] == 0


def test_demo_prints_table(demo_repo):
    out = lineage("demo", "--small", "--repo", str(demo_repo)).stdout
    assert f"Which coadds used visit {default_visit(SMALL)}?" in out
    assert "deepCoadd" in out


def test_downstream_upstream_equal_bfs_over_export(demo_repo, export_graph):
    nodes, succ, pred = export_graph
    datasets = sorted(k for k in nodes if k.startswith("dataset:"))
    rng = random.Random(1228)
    for _ in range(25):
        key = rng.choice(datasets)
        direction = rng.choice(["downstream", "upstream"])
        depth = rng.choice([None, 1, 2, 4])
        args = [direction, key, "--json", "--repo", str(demo_repo)]
        if depth:
            args += ["--depth", str(depth)]
        got = {r["key"] for r in json.loads(lineage(*args).stdout)}
        want = _bfs(key, succ if direction == "downstream" else pred, depth)
        assert got == want, (direction, key, depth)


def test_count_and_explain(demo_repo):
    visit = default_visit(SMALL)
    counts = json.loads(lineage("downstream", f"visit={visit}", "--count", "--json",
                                "--repo", str(demo_repo)).stdout)
    rows = json.loads(lineage("downstream", f"visit={visit}", "--json",
                              "--repo", str(demo_repo)).stdout)
    assert counts["total"] == len(rows)
    coadd = next(r for r in rows if r["dataset_type"] == "deepCoadd")
    path = json.loads(lineage("downstream", f"visit={visit}", "--explain", coadd["uuid"],
                              "--json", "--repo", str(demo_repo)).stdout)["path"]
    assert path[-1] == coadd["key"]
    text = lineage("downstream", f"visit={visit}", "--explain", coadd["uuid"],
                   "--repo", str(demo_repo)).stdout
    assert "assembleCoadd" in text and "deepCoadd" in text


def test_plot_draws_png(demo_repo, tmp_path):
    visit = default_visit(SMALL)
    out = tmp_path / "tree.png"
    rows = json.loads(lineage("downstream", f"visit={visit}", "--depth", "2", "--plot", str(out),
                              "--json", "--repo", str(demo_repo)).stdout)
    assert rows and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from lineage.traversal import traverse as query
    from lineage.core.figures import lineage_tree
    from lineage.store.repo import open_store
    with open_store(demo_repo) as store:
        tree = {}
        found = query.traverse(store, f"visit={visit}", depth=2, tree=tree)
        g = lineage_tree(found, tree, query.DOWN)
    # every drawn dataset hangs from the selection: one path back to a seed
    seeds = [n for n, d in g.nodes(data=True) if g.in_degree(n) == 0]
    assert seeds and all(d["layer"] == 0 or g.in_degree(n) == 1 for n, d in g.nodes(data=True))
    assert {n for n, d in g.nodes(data=True) if d["kind"] == "dataset"} <= {r.key for r in found}


def test_type_filter_comma_and_repeat(demo_repo):
    visit = default_visit(SMALL)
    a = json.loads(lineage("downstream", f"visit={visit}", "--type", "deepCoadd,calexp", "--json",
                           "--repo", str(demo_repo)).stdout)
    b = json.loads(lineage("downstream", f"visit={visit}", "--type", "deepCoadd", "--type",
                           "calexp", "--json", "--repo", str(demo_repo)).stdout)
    assert a == b and {r["dataset_type"] for r in a} == {"deepCoadd", "calexp"}


def test_show_and_cypher(demo_repo):
    visit = default_visit(SMALL)
    view = json.loads(lineage("show", f"unit:visit:DemoCam/{visit}", "--json",
                              "--repo", str(demo_repo)).stdout)
    assert view["properties"]["time_scale"] == "tai" and "seeing" in view["properties"]
    rows = json.loads(lineage("cypher", "MATCH (v:DataUnit {dimension: $d}) RETURN count(v) AS n",
                              "--param", "d=visit", "--json", "--repo", str(demo_repo)).stdout)
    assert rows == [{"n": SMALL.visits}]


@pytest.mark.parametrize("args, message", [
    (["downstream", "visit=99"], "no visit '99'"),
    (["downstream", "visit="], "not dim=value"),
    (["downstream", "tract=1,,patch=2"], "not dim=value"),
    (["downstream", "nonsense"], "bad selector"),
    (["upstream", "vist=1"], "no dimension 'vist'"),
    (["show", "dataset:00000000-0000-0000-0000-000000000000"], "no such node"),
    (["downstream", f"visit={default_visit(SMALL)}", "--collection", "nope"],
     "--collection 'nope': no such collection"),
    (["cypher", "CREATE (:Flag {key: 'flag:x'})"], "refused: the query writes"),
    (["cypher", "MATCH (n RETURN n"], "falkordb"),
    (["cypher", "UNWIND range(1, 100000000) AS x WITH x WHERE x % 7 = 0 RETURN count(x)",
      "--timeout", "0.2"], "stopped after 0.2 s"),
])
def test_bad_input_one_line_error(demo_repo, args, message):
    proc = lineage(*args, "--repo", str(demo_repo), check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lineage: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    if message:
        assert message in lines[0]


def test_not_a_repository(tmp_path):
    for target in (tmp_path / "missing", tmp_path):
        proc = lineage("downstream", "visit=1", "--repo", str(target), check=False)
        assert proc.returncode == 2
        assert "repository" in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_broken_config_names_file_and_line(tmp_path):
    (tmp_path / "lineage.json").write_text('{"format_version": 1,\n "store": }\n')
    proc = lineage("status", "--repo", str(tmp_path), check=False)
    assert proc.returncode == 2
    assert "lineage.json: line 2" in proc.stderr


def test_init_refuses_existing_repository(tmp_path):
    lineage("init", str(tmp_path / "r"))
    proc = lineage("init", str(tmp_path / "r"), check=False)
    assert proc.returncode == 2 and "already a lineage repository" in proc.stderr

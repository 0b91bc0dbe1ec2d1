"""The engine conformance suite: every engine must give the same answers.

Runs on the embedded engine and ArcadeDB (Bolt) always, on Neo4j when
NEO4J_URI is set.  Expected answers come from networkx over the generator's
own output, never from an engine.
"""

from __future__ import annotations

import random

import networkx as nx
import pytest

from lineage.traversal import traverse as query
from lineage.traversal.show import show
from lineage.demo import default_visit
from lineage.core.model import GraphBatch, ModelError, Rel
from lineage.core.errors import UnknownName
from lineage.core.selector import SelectorError
from lineage.store.base import StoreError
from lineage.store.cypher import Statement

from .conftest import SMALL


def _graph(units) -> tuple[nx.DiGraph, dict]:
    """Lineage graph (datasets and quanta) and node properties, from ingest units."""
    g = nx.DiGraph()
    props = {}
    for unit in units:
        for key, p in unit.nodes.items():
            props.setdefault(key, {}).update(p)
        for (rel, src, dst) in unit.edges:
            if rel in (Rel.INPUT_TO, Rel.PRODUCED):
                g.add_edge(src, dst)
    return g, props


def _expected(g, props, seeds, direction, depth=None, types=None):
    """Datasets within ``depth`` steps (quanta) of the seeds, by plain BFS."""
    reach = {}
    frontier = set(seeds)
    edges = 0
    limit = None if depth is None else 2 * depth
    seen = set(seeds)
    while frontier and (limit is None or edges < limit):
        edges += 1
        nxt = set()
        for n in frontier:
            if n not in g:
                continue
            for m in (g.successors(n) if direction == "down" else g.predecessors(n)):
                if m.startswith("dataset:"):
                    reach.setdefault(m, edges)
                if m not in seen:
                    seen.add(m)
                    nxt.add(m)
        frontier = nxt
    return {k for k in reach if not types or props[k]["dataset_type"] in types}


def _seeds_for_visit(units, visit):
    """Datasets whose data ID names the visit or its exposure."""
    out = set()
    for unit in units:
        for key, p in unit.nodes.items():
            if key.startswith("dataset:"):
                pairs = dict(x.split("=") for x in p["data_id"].split(","))
                if pairs.get("visit") == str(visit) or pairs.get("exposure") == str(visit):
                    out.add(key)
    return out


def test_ingest_counts_and_idempotency(store, small_units):
    from lineage.ingest import write_units
    first = write_units(store, small_units, show_progress=False)
    nodes = {k for u in small_units for k in u.nodes}
    edges = {e for u in small_units for e in u.edges}
    assert first.nodes_created == len(nodes)
    assert first.edges_created == len(edges)
    assert store.count() == (len(nodes), len(edges))
    again = write_units(store, small_units, show_progress=False)
    assert again.nodes_created == 0 and again.edges_created == 0
    assert store.count() == (len(nodes), len(edges))


def test_batch_with_dangling_edge_writes_nothing(store):
    b = GraphBatch("bad.yaml")
    b.add_node("dataset:a", dataset_type="raw")
    b.add_edge(Rel.INPUT_TO, "dataset:a", "quantum:nowhere")
    with pytest.raises(ModelError, match="bad.yaml.*quantum:nowhere"):
        store.write(b)
    assert store.count() == (0, 0)


def test_failing_statement_rolls_back_whole_unit(store):
    """A unit whose last statement fails on the engine leaves nothing behind."""
    keep = GraphBatch("keep")
    keep.add_node("dataset:old", dataset_type="raw")
    store.write(keep)
    good = GraphBatch("unit")
    good.add_node("dataset:new", dataset_type="calexp")
    good.add_node("quantum:q", task="isr")
    good.add_edge(Rel.PRODUCED, "quantum:q", "dataset:new")
    from lineage.store import cypher
    statements = list(cypher.write_statements(good))
    # fails at run time, after the statements before it ran: the key is taken
    statements.append(Statement("CREATE (n:Dataset {key: 'dataset:old'})", {}, 0))
    with pytest.raises(StoreError):
        store._execute_unit(store._encode(statements))
    assert store.count() == (1, 0)
    assert store.existing_keys(["dataset:old", "dataset:new", "quantum:q"]) == {"dataset:old"}


def test_nodes_said_absent_are_created_and_a_stored_one_refuses_the_unit(store):
    """``write(absent=...)`` creates those nodes rather than merging them (the ingest
    driver passes the nodes its stored lookup did not find).  Should one be stored after
    all (another writer got there first), its key's uniqueness refuses the whole unit."""
    first = GraphBatch("first")
    first.add_node("dataset:old", dataset_type="raw", run="r")
    store.write(first, absent={"dataset:old"})
    assert store.nodes("Dataset", ["dataset:old"])["dataset:old"]["run"] == "r"
    late = GraphBatch("late")
    late.add_node("dataset:old", dataset_type="raw", run="r")
    late.add_node("dataset:new", dataset_type="calexp", run="r")
    late.add_node("quantum:q", task="isr")
    late.add_edge(Rel.PRODUCED, "quantum:q", "dataset:new")
    with pytest.raises(StoreError):
        store.write(late, absent={"dataset:old", "dataset:new", "quantum:q"})
    assert store.count() == (1, 0)
    assert store.existing_keys(["dataset:old", "dataset:new", "quantum:q"]) == {"dataset:old"}


def test_downstream_coadds_of_visit(demo_store_ro, small_units):
    g, props = _graph(small_units)
    visit = default_visit(SMALL)
    expected = _expected(g, props, _seeds_for_visit(small_units, visit), "down",
                         types={"deepCoadd"})
    rows = query.downstream(demo_store_ro, f"visit={visit}", types=["deepCoadd"])
    assert {r.key for r in rows} == expected
    assert expected  # the question has an answer
    assert all(r.dataset_type == "deepCoadd" for r in rows)


def test_lineage_equals_bfs_for_random_selectors(demo_store_ro, small_units):
    g, props = _graph(small_units)
    datasets = sorted(k for u in small_units for k in u.nodes if k.startswith("dataset:"))
    rng = random.Random(7)
    for _ in range(12):
        key = rng.choice(datasets)
        direction = rng.choice(["down", "up"])
        depth = rng.choice([None, 1, 2, 3])
        got = query.traverse(demo_store_ro, key, direction, depth=depth)
        assert {r.key for r in got} == _expected(g, props, {key}, direction, depth), \
            (key, direction, depth)


def test_step_counts_are_shortest_distances(demo_store_ro, small_units):
    g, _ = _graph(small_units)
    visit = default_visit(SMALL)
    seeds = _seeds_for_visit(small_units, visit)
    rows = query.downstream(demo_store_ro, f"visit={visit}")
    for r in rows[:50]:
        dist = min(nx.shortest_path_length(g, s, r.key) for s in seeds
                   if s != r.key and nx.has_path(g, s, r.key))
        assert r.steps == dist // 2


def test_count_matches_rows(demo_store_ro):
    visit = default_visit(SMALL)
    rows = query.downstream(demo_store_ro, f"visit={visit}")
    counts = query.count(demo_store_ro, f"visit={visit}")
    assert sum(counts.values()) == len(rows)
    assert counts["deepCoadd"] == sum(r.dataset_type == "deepCoadd" for r in rows)


def test_collection_filter_and_limit(demo_store_ro):
    visit = default_visit(SMALL)
    both = query.downstream(demo_store_ro, f"visit={visit}", types=["deepCoadd"])
    dr2 = query.downstream(demo_store_ro, f"visit={visit}", types=["deepCoadd"],
                           collection="DemoCam/DR2")
    assert dr2 and all(r.run == "DemoCam/runs/DR2" for r in dr2)
    assert {r.run for r in both} == {"DemoCam/runs/DR1", "DemoCam/runs/DR2"}
    assert len(query.downstream(demo_store_ro, f"visit={visit}", limit=3)) == 3


def test_multi_dimension_selector(demo_store_ro):
    """tract=...,patch=...,band=r: datasets on that patch whose band, direct or implied, is r."""
    from lineage.core.selector import parse_selector
    from lineage.dataunits.resolve import resolve
    seeds = list(resolve(demo_store_ro, parse_selector("tract=9813,patch=4,band=r")))
    rows = demo_store_ro.read("MATCH (d:Dataset) WHERE d.key IN $k RETURN d.dataset_type, d.data_id",
                           {"k": seeds})
    assert {t for t, _ in rows} >= {"deepCoadd", "deepCoadd_directWarp"}
    band_of_visit = dict(demo_store_ro.read(
        "MATCH (v:DataUnit) WHERE v.dimension = 'visit' RETURN v.value, v.band"))
    for dtype, data_id in rows:
        ids = dict(x.split("=") for x in data_id.split(","))
        assert ids["tract"] == "9813" and ids["patch"] == "4"
        assert ids.get("band") == "r" or band_of_visit[ids["visit"]] == "r", (dtype, data_id)
    # a coadd's upstream raws all come from visits in its band
    coadds = demo_store_ro.read("MATCH (d:Dataset) WHERE d.key IN $k AND d.dataset_type = "
                             "'deepCoadd' RETURN d.key", {"k": seeds})
    raws = query.upstream(demo_store_ro, coadds[0][0], types=["raw"])
    assert raws and {band_of_visit[dict(x.split("=") for x in r.data_id.split(","))["exposure"]]
                     for r in raws} == {"r"}


@pytest.mark.parametrize("text", [
    "instrument=DemoCam,visit=2026030100001",                 # instrument above the visit
    "detector=5,instrument=DemoCam,visit=2026030100001",
    "band=r,patch=4,skymap=demo_rings,tract=9813",            # skymap above the tract
    "patch=4,tract=9813",                                     # tract above the patch
    "instrument=DemoCam,band=r",                              # band is not below instrument
])
def test_a_pair_above_another_selects_what_the_intersection_does(demo_store_ro, text):
    """A pair whose units hold another pair's (instrument= beside visit=) is not read: the
    answer is still the intersection of each pair's datasets."""
    from lineage.core.selector import parse_selector
    from lineage.dataunits.resolve import resolve
    each = [set(resolve(demo_store_ro, parse_selector(pair))) for pair in text.split(",")]
    expected = set.intersection(*each)
    assert expected and set(resolve(demo_store_ro, parse_selector(text))) == expected


def test_explain_path_is_lineage(demo_store_ro):
    visit = default_visit(SMALL)
    coadd = query.downstream(demo_store_ro, f"visit={visit}", types=["deepCoadd"])[0]
    path = query.explain(demo_store_ro, f"visit={visit}", coadd.key)
    assert path[-1] == coadd.key and len(path) == 2 * coadd.steps + 1
    assert [k.split(":")[0] for k in path] == ["dataset", "quantum"] * coadd.steps + ["dataset"]


def test_unknown_selectors(demo_store_ro):
    with pytest.raises(SelectorError, match="no visit '999'"):
        query.downstream(demo_store_ro, "visit=999")
    with pytest.raises(UnknownName, match="no dimension 'vist'"):
        query.downstream(demo_store_ro, "vist=1")
    with pytest.raises(SelectorError, match="no such node"):
        query.downstream(demo_store_ro, "dataset:00000000-0000-0000-0000-000000000000")
    with pytest.raises(SelectorError, match="not dim=value"):
        query.downstream(demo_store_ro, "visit=1,=3")


def test_show_node(demo_store_ro):
    visit = default_visit(SMALL)
    coadd = query.downstream(demo_store_ro, f"visit={visit}", types=["deepCoadd"])[0]
    view = show(demo_store_ro, coadd.key)
    assert view["properties"]["dataset_type"] == "deepCoadd"
    assert view["in"]["counts"]["PRODUCED"] == 1
    assert not [k for k in view["properties"] if k.startswith("_")]


def test_read_only_refuses_writes(store):
    from lineage.store.base import ReadOnlyViolation
    with pytest.raises(ReadOnlyViolation):
        store.read_only("CREATE (:Flag {key: 'flag:x'})")
    assert store.count() == (0, 0)


def test_type_graph_links_quanta_split_across_units(store):
    """A quantum's inputs and outputs written in different units still prune correctly."""
    first = GraphBatch("run part 1")
    first.add_node("dataset:r", dataset_type="raw", data_id="exposure=1", run="r")
    first.add_node("quantum:q", task="isr")
    first.add_edge(Rel.INPUT_TO, "dataset:r", "quantum:q")
    store.write(first)
    second = GraphBatch("run part 2")
    second.add_node("dataset:p", dataset_type="post_isr_image", data_id="exposure=1", run="r")
    second.add_edge(Rel.PRODUCED, "quantum:q", "dataset:p")
    store.write(second)
    assert ("raw", "post_isr_image", "isr") in set(
        (a, b, t) for a, b, t in store.read(
            "MATCH (a:DatasetType)-[e:FEEDS]->(b:DatasetType) RETURN a.name, b.name, e.task"))
    rows = query.downstream(store, "dataset:r", types=["post_isr_image"])
    assert [r.key for r in rows] == ["dataset:p"]


def test_values_round_trip_identically(store):
    """Floats keep 15 significant digits on every engine; ints stay ints."""
    b = GraphBatch("values")
    b.add_node("dataset:v", third=1 / 3, big=2**62, tiny=1e-300, flag=True, names=["a", "b"])
    store.write(b)
    (props,) = store.read("MATCH (d:Dataset {key: 'dataset:v'}) RETURN properties(d)")[0]
    props = dict(props)
    assert props["third"] == float(f"{1 / 3:.15g}") and props["big"] == 2**62
    assert props["tiny"] == 1e-300 and props["flag"] is True and list(props["names"]) == ["a", "b"]


def test_read_plain_equals_read_for_strings_integers_and_nulls(demo_store_ro):
    """``read_plain`` (the release diff's reads of millions of rows) gives what ``read``
    gives for strings, integers and nulls; other values come as themselves or as text."""
    q = ("MATCH (d:Dataset) RETURN d.key, d.data_id, d.size, d.no_such_property, "
         "d.dataset_type + ' ' + d.data_id ORDER BY d.key LIMIT 200")
    typed = demo_store_ro.read(q)
    plain = [tuple(row) for row in demo_store_ro.read_plain(q)]
    assert len(typed) == 200 and plain == typed
    assert all(type(row[2]) is int and row[3] is None for row in plain)
    (value,) = demo_store_ro.read_plain("RETURN 0.25")[0]
    assert value == 0.25 or float(value) == 0.25
    assert demo_store_ro.read_plain("MATCH (d:Dataset) WHERE d.key = 'no such key' RETURN d.key") == []


def test_keyset_pages_pass_mixed_case_keys(demo_store_ro):
    """A page of collections after ``collection:DemoCam/DR2`` starts at ``.../calib`` on every
    engine (FalkorDB 4.x skips it in a range scan of the key index: its dialect compares a
    computed value instead), and on the Bolt engines the page query keeps the plain key
    predicate, which their planners answer from the key index."""
    from lineage.store.base import NO_FILTER

    class Recorder:  # the page query as it would be sent
        dialect = demo_store_ro.dialect
        sent: list = []

        def read(self, query, params=None):
            self.sent.append((query, params))
            return demo_store_ro.read(query, params)

    recorder = Recorder()
    keyset_page = type(demo_store_ro).keyset_page   # the store's method, sending through recorder
    keys = sorted(k for (k,) in demo_store_ro.read("MATCH (c:Collection) RETURN c.key"))
    assert "collection:DemoCam/calib" in keys
    for after in keys:
        page = keyset_page(recorder, "Collection", NO_FILTER, 2, after)
        assert [node.key for node in page] == [k for k in keys if k > after][:3], after
    page = keyset_page(recorder, "Collection", NO_FILTER, 1, "collection:DemoCam/DR2")
    assert page[0].key == "collection:DemoCam/calib"
    query, params = recorder.sent[-1]
    if demo_store_ro.engine != "bolt":
        return
    assert "WHERE n.key > $after " in query
    with demo_store_ro.driver.session(database=demo_store_ro.settings.database) as session:
        plan = session.run("EXPLAIN " + query, params).consume().plan
    text = str(plan)
    # Neo4j: NodeIndexSeekByRange; ArcadeDB: NodeIndexRangeScan
    assert "NodeIndexSeekByRange" in text or "NodeIndexRangeScan" in text, text

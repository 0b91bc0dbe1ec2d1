"""The explorer's lineage graph (lineage.traversal.graph, Query.lineageGraph): what it draws
is the traversal's answer, grouped; its edges are the graph's own steps, in the direction
the data flowed; groups collapse and expand; contamination is the flags' own."""

from __future__ import annotations

import pytest

from lineage import flags
from lineage.core.selector import SelectorError
from lineage.demo import default_visit
from lineage.flags.records import contaminated
from lineage.traversal.graph import group_id, lineage_graph
from lineage.traversal.traverse import traverse

from .conftest import SMALL, client_for

VISIT = default_visit(SMALL)


def _inputs_and_outputs(store, quanta):
    """(dataset, quantum) pairs read and (quantum, dataset) pairs written, straight from the
    graph's INPUT_TO and PRODUCED edges (not through the traversal)."""
    read = {(d, q) for d, q in store.read(
        "MATCH (d:Dataset)-[:INPUT_TO]->(q:Quantum) WHERE q.key IN $q RETURN d.key, q.key",
        {"q": quanta})}
    written = {(q, d) for q, d in store.read(
        "MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset) WHERE q.key IN $q RETURN q.key, d.key",
        {"q": quanta})}
    return read, written


@pytest.mark.parametrize("direction", ["down", "up"])
def test_every_dataset_reached_is_drawn_once_and_every_edge_is_a_real_step(demo_store_ro,
                                                                         direction):
    store = demo_store_ro
    selector = f"visit={VISIT}" if direction == "down" else \
        traverse(store, f"visit={VISIT}", types=["deepCoadd"])[0].key
    graph = lineage_graph(store, selector, direction, collapse_above=100_000)
    reached = traverse(store, selector, direction)
    assert not any(n.kind == "group" for n in graph.nodes)   # nothing collapsed
    drawn = {n.key for n in graph.nodes if n.kind == "dataset"}
    assert {r.key for r in reached} <= drawn and len(reached) > 10
    assert len(drawn) == sum(1 for n in graph.nodes if n.kind == "dataset") == graph.datasets
    # the selection's own datasets carry their data IDs, reached or not
    assert all(n.data_id and n.run for n in graph.nodes if n.kind == "dataset")
    quanta = [n.key for n in graph.nodes if n.kind == "quantum"]
    assert len(quanta) == graph.quanta
    read, written = _inputs_and_outputs(store, quanta)
    kinds = {n.id: n.kind for n in graph.nodes}
    for e in graph.edges:
        pair = (e.source, e.target)
        assert pair in (read if kinds[e.source] == "dataset" else written), pair
        assert e.count == 1
    # each quantum drawn has its step: the way the data flowed into it and out of it
    assert {q for _, q in read if q in quanta} == set(quanta) or direction == "up"
    assert {q for q, _ in written} == set(quanta)


def test_large_fan_outs_collapse_into_one_group_per_type_and_task(demo_store_ro):
    store = demo_store_ro
    graph = lineage_graph(store, f"visit={VISIT}", "down", collapse_above=8)
    reached = traverse(store, f"visit={VISIT}", "down")
    by_type: dict[str, int] = {}
    for r in reached:
        by_type[r.dataset_type] = by_type.get(r.dataset_type, 0) + 1
    groups = {n.id: n for n in graph.nodes if n.kind == "group"}
    forced = groups[group_id("dataset", "forced_src")]
    assert forced.count == by_type["forced_src"] > 8
    # one node or one group per dataset type and per task, never both
    names = [(n.member_kind, n.dataset_type or n.task) for n in graph.nodes]
    for kind, name in set(names):
        if group_id(kind, name) in groups:
            assert names.count((kind, name)) == 1
    # group edges carry the number of steps they stand for
    total = sum(e.count for e in graph.edges)
    assert total > len(graph.edges)


def test_an_expanded_group_draws_its_first_members_in_data_id_order_and_the_rest(
        demo_store_ro):
    store = demo_store_ro
    gid = group_id("dataset", "forced_src")
    whole = lineage_graph(store, f"visit={VISIT}", "down")
    count = next(n.count for n in whole.nodes if n.id == gid)
    graph = lineage_graph(store, f"visit={VISIT}", "down", expand=[gid], expand_limit=5)
    members = [n for n in graph.nodes if n.kind == "dataset" and n.dataset_type == "forced_src"]
    rest = next(n for n in graph.nodes if n.id == gid)
    assert len(members) == 5 and rest.expanded and rest.count == count - 5
    from lineage.core.dataid import DataId
    keys = [DataId.parse(m.data_id).sort_key() for m in members]
    assert keys == sorted(keys)
    # each member drawn has its own edge from the quantum that made it
    targets = {e.target for e in graph.edges}
    assert all(m.id in targets for m in members)


def test_bad_selectors_are_refused(demo_store_ro):
    with pytest.raises(SelectorError, match="no visit '1'"):
        lineage_graph(demo_store_ro, "visit=1", "down")


def test_the_api_draws_contamination_from_the_flags(demo_store):
    store = demo_store
    flag = flags.flag(store, f"visit={VISIT}", verdict="bad", reason="satellite trail",
                      evidence="https://jira.example.org/browse/DM-1", by="alice")
    graph = lineage_graph(store, f"visit={VISIT}", "down")
    from lineage.api.graph import _contaminate
    _contaminate(store, graph, None)
    marked: dict[str, int] = {}
    fraction: dict[str, float] = {}
    for row in contaminated(store, flag_id=flag["flag"]):
        t = row["dataset"]["dataset_type"]
        marked[t] = marked.get(t, 0) + 1
        fraction[row["dataset"]["key"]] = row["fraction"]
    drawn: dict[str, int] = {}
    for n in graph.nodes:
        if n.contamination:
            drawn[n.dataset_type] = drawn.get(n.dataset_type, 0) + n.contamination["datasets"]
    assert drawn == marked     # everything the flag marks is downstream of the visit
    coadds = [n for n in graph.nodes if n.dataset_type == "deepCoadd"]
    assert coadds
    for n in coadds:
        assert n.contamination["verdict"] == "bad" and n.contamination["flags"] == [flag["flag"]]
        assert n.contamination["max_fraction"] == fraction[n.key]
    assert min(fraction[n.key] for n in coadds) < 1     # a coadd of several visits
    assert next(n for n in graph.nodes if n.kind == "quantum" or n.member_kind == "quantum"
                ).contamination is None


def test_lineage_graph_over_graphql(demo_repo):
    query = """query G($from: String!, $expand: [String!]) {
      lineageGraph(from: $from, expand: $expand, expandLimit: 3) {
        datasets quanta truncated
        nodes { id kind memberKind count expanded key datasetType task contamination { verdict } }
        edges { source target count } } }"""
    with client_for(demo_repo) as client:
        answer = client.post("/graphql", json={"query": query, "variables": {
            "from": f"visit={VISIT}", "expand": [group_id("dataset", "calexp")]}}).json()
        graph = answer["data"]["lineageGraph"]
        ids = {n["id"] for n in graph["nodes"]}
        assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])
        calexps = [n for n in graph["nodes"] if n["datasetType"] == "calexp"]
        assert sum(n["count"] for n in calexps) == len([n for n in calexps if n["key"]]) + \
            next(n["count"] for n in calexps if n["kind"] == "group")
        bad = client.post("/graphql", json={"query": query, "variables": {
            "from": "visit=1"}}).json()
        assert bad["errors"][0]["message"] == "from: no visit '1' in this repository"
        refused = client.post("/graphql", json={"query": "{ lineageGraph(from: \"visit=1\", "
                                                         "collapseAbove: 0) { datasets } }"}).json()
        assert "collapseAbove: must be between 1 and 1000" in refused["errors"][0]["message"]

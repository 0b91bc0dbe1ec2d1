"""One-request GraphQL answers (issue #20): from flags to what they contaminate, filtered;
contamination of a page of datasets in one query; lineage from data units and flags; as-of
lineage; fan-out caps; Relay global IDs.  Over every engine, through HTTP, on the small
demo with visits flagged; every answer is compared with the library's own."""

from __future__ import annotations

import json
import warnings

import pytest

from lineage import flags
from lineage.core.errors import UnknownName
from lineage.core.model import Kind
from lineage.demo import default_visit
from lineage.ingest import write_units
from lineage.traversal import traverse as query


from .cli_runner import run
from .conftest import ENGINES, SMALL, EngineFactory

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)

#: When the test flags are written (UTC): after both demo releases (DR1 ran 2026-03-11..14,
#: DR2 2026-04-10..13, TAI), and one between them.
FLAGGED_AT = "2026-05-01T00:00:00.000000Z"
BETWEEN_RELEASES = "2026-03-20T00:00:00.000000Z"
EVIDENCE = "https://jira.example.org/DM-20"


@pytest.fixture(scope="module", params=ENGINES)
def flagged(request, tmp_path_factory, small_units):
    """(test client, store, {flag key: (visit, verdict)}) over the small demo with three
    visits flagged bad (one of them between the releases) and one suspect."""
    from fastapi.testclient import TestClient

    from lineage.api.app import create_app
    from lineage.api.settings import ApiSettings
    factory = EngineFactory(request.param, request, tmp_path_factory)
    store = factory.new()
    write_units(store, small_units, show_progress=False)
    visits = sorted(v for (v,) in store.read(
        "MATCH (u:DataUnit {dimension: 'visit'}) RETURN u.value"))
    made = {}
    for visit, verdict, when in ((visits[0], "bad", FLAGGED_AT), (visits[5], "bad", FLAGGED_AT),
                                 (visits[9], "suspect", FLAGGED_AT),
                                 (visits[2], "bad", BETWEEN_RELEASES)):
        report = flags.flag(store, f"visit={visit}", verdict, f"trail on {visit}", EVIDENCE,
                            "alice", now=when)
        made[report["flag"]] = (visit, verdict)
    app = create_app(store=store, settings=ApiSettings())
    with TestClient(app, client=("127.0.0.1", 40000)) as client:
        yield client, store, made
    factory.close()


def gql(client, q, variables=None):
    body = client.post("/graphql", json={"query": q, "variables": variables or {}}).json()
    assert "errors" not in body, body["errors"]
    return body


def ok(client, q, variables=None):
    return gql(client, q, variables)["data"]


def error(client, q, variables=None):
    r = client.post("/graphql", json={"query": q, "variables": variables or {}})
    body = r.json()
    assert body.get("errors"), body
    assert all(e["extensions"]["code"] != "INTERNAL" for e in body["errors"]), body
    return body["errors"][0]["message"]


def test_coadds_of_flagged_visits_is_one_request_equal_to_downstream(flagged):
    client, store, made = flagged
    body = client.post("/queries/CoaddsOfFlaggedVisits", json={}).json()
    assert "errors" not in body, body
    answer = body["data"]["contaminated"]
    assert not answer["pageInfo"]["hasNextPage"]
    got = {(e["node"]["uuid"], e["flag"]["key"]) for e in answer["edges"]}
    want = {(r.key.split(":", 1)[1], key) for key, (visit, verdict) in made.items()
            if verdict == "bad"
            for r in query.downstream(store, f"visit={visit}", types=["deepCoadd"])}
    assert got == want and len(got) == answer["totalCount"] > 0
    for e in answer["edges"]:
        visit, _ = made[e["flag"]["key"]]
        assert e["node"]["datasetType"] == "deepCoadd"
        assert e["flag"]["reason"] == f"trail on {visit}"
        mark = flags.marks(store, e["flag"]["key"])["dataset:" + e["node"]["uuid"]]
        assert (e["steps"], e["fraction"]) == mark and 0 < e["fraction"] <= 1


Q_CONTAMINATED = """query($types: [String!], $verdict: String, $min: Float, $asOf: String,
                          $after: String) {
  contaminated(types: $types, verdict: $verdict, minFraction: $min, asOf: $asOf, first: 300,
               after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { verdict fraction steps reason flag { key } node { key datasetType } } } }"""


def _rows(client, **variables):
    """Every edge of a ``contaminated`` answer, page by page (no gaps, no repeats)."""
    edges, after = [], None
    while True:
        conn = ok(client, Q_CONTAMINATED, {**variables, "after": after})["contaminated"]
        edges += conn["edges"]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert conn["totalCount"] == len(edges)
    assert len({(e["node"]["key"], e["flag"]["key"]) for e in edges}) == len(edges)
    return edges


def test_filters_by_type_verdict_and_fraction(flagged):
    client, store, made = flagged
    every = _rows(client)
    assert {(e["node"]["key"], e["flag"]["key"]) for e in every} == {
        (k, f) for f in made for k, _ in flags.marks(store, f).items()
        if k.startswith("dataset:")}
    coadds = _rows(client, types=["deepCoadd"])
    assert coadds == [e for e in every if e["node"]["datasetType"] == "deepCoadd"] != []
    suspect = _rows(client, verdict="suspect")
    assert suspect and {e["flag"]["key"] for e in suspect} == {
        f for f, (_, v) in made.items() if v == "suspect"}
    fractions = sorted({e["fraction"] for e in coadds})
    assert len(fractions) > 1   # the threshold below splits the coadds
    high = _rows(client, types=["deepCoadd"], min=fractions[1])
    assert high == [e for e in coadds if e["fraction"] >= fractions[1]]
    assert error(client, Q_CONTAMINATED, {"verdict": "awful"}).startswith("verdict: ")
    assert error(client, Q_CONTAMINATED, {"min": 1.5}).startswith("minFraction: ")
    assert error(client, Q_CONTAMINATED, {"types": ["deepcoadd"]}).startswith("types: ")
    # the same on a flag, and its marks filtered
    key = next(f for f, (_, v) in made.items() if v == "bad")
    data = ok(client, """query($id: String!) { flag(id: $id) {
        contaminated(types: ["deepCoadd"], first: 500) { totalCount edges { node { key } } }
        marks(types: ["deepCoadd"], minFraction: 0.5, first: 500) {
          totalCount edges { fraction node { key kind } } }
        all: marks(first: 1) { totalCount }
        none: marks(verdict: "suspect", first: 1) { totalCount } } }""", {"id": key})["flag"]
    assert {e["node"]["key"] for e in data["contaminated"]["edges"]} == {
        e["node"]["key"] for e in coadds if e["flag"]["key"] == key}
    for args, field in (('verdict: "awful"', "verdict"), ("minFraction: -1", "minFraction")):
        assert error(client, '{ flag(id: "%s") { marks(%s) { totalCount } } }' % (key, args)
                     ).startswith(field + ": ")
    marks = flags.marks(store, key)
    assert data["all"]["totalCount"] == len(marks) and data["none"]["totalCount"] == 0
    assert sorted(e["node"]["key"] for e in data["marks"]["edges"]) == sorted(
        e["node"]["key"] for e in coadds if e["flag"]["key"] == key and e["fraction"] >= 0.5)


def test_dataset_contamination_is_batched(flagged):
    client, store, _ = flagged
    q = """query($first: Int) { datasets(filter: {datasetType: ["deepCoadd", "calexp"]},
             first: $first) { edges { node { key contamination { key contaminated verdict
             maxFraction by { flag { key } verdict steps fraction } } } } } }"""
    reads = {}
    for first in (2, 60):
        body = gql(client, q, {"first": first})
        edges = body["data"]["datasets"]["edges"]
        assert len(edges) == first
        reads[first] = body["extensions"]["storeReads"]
        for e in edges:
            want = flags.contamination(store, e["node"]["key"])
            got = e["node"]["contamination"]
            assert got["contaminated"] == want["contaminated"]
            assert (got["verdict"], got["maxFraction"]) == (want["verdict"], want["max_fraction"])
            assert [(m["flag"]["key"], m["steps"], m["fraction"]) for m in got["by"]] == \
                [(m["flag"], m["steps"], m["fraction"]) for m in want["by"]]
    assert any(e["node"]["contamination"]["contaminated"] for e in edges)
    # one query for the whole page, not one per dataset
    assert reads[60] - reads[2] <= 3, reads


Q_UNIT = """query($v: String!, $types: [String!]) { dataUnit(dimension: "visit", value: $v) {
  downstream(types: $types, first: 500) { totalCount truncated edges { steps node { key } } }
  upstream(first: 500) { totalCount edges { node { key } } } } }"""


def test_downstream_and_upstream_of_data_units_and_flags(flagged):
    client, store, made = flagged
    key, (visit, _) = next(iter(made.items()))
    unit = ok(client, Q_UNIT, {"v": visit, "types": ["deepCoadd"]})["dataUnit"]
    down = query.downstream(store, f"visit={visit}", types=["deepCoadd"])
    assert [(e["node"]["key"], e["steps"]) for e in unit["downstream"]["edges"]] == \
        [(r.key, r.steps) for r in down] != []
    assert unit["downstream"]["truncated"] is False
    up = query.upstream(store, f"visit={visit}")
    assert unit["upstream"]["totalCount"] == len(up) > 0
    assert [e["node"]["key"] for e in unit["upstream"]["edges"]] == [r.key for r in up][:500]
    data = ok(client, """query($id: String!) { flag(id: $id) {
        downstream(types: ["deepCoadd"], first: 500) { edges { node { key } } }
        upstream(first: 500) { totalCount } } }""", {"id": key})["flag"]
    seeds = flags.flagged_selector(store, key)
    assert [e["node"]["key"] for e in data["downstream"]["edges"]] == [
        r.key for r in query.downstream(store, seeds, types=["deepCoadd"])] == [
        r.key for r in down]
    assert data["upstream"]["totalCount"] == len(query.upstream(store, seeds))


def test_as_of_hides_later_flags_and_later_outputs(flagged):
    client, store, made = flagged
    assert _rows(client, asOf="2026-03-15T00:00:00Z") == []     # before every flag
    assert len(_rows(client, asOf="2026-06-01")) == len(_rows(client))
    # the flag written between the releases: as of a time before DR2, it was active and
    # contaminated what existed (DR1 and the visit's own raws), not yet DR2's outputs
    early = next(f for f in made if flags.find_flag(store, f)["created_at"] == BETWEEN_RELEASES)
    now = [e for e in _rows(client) if e["flag"]["key"] == early]
    then = _rows(client, asOf="2026-04-01")
    assert {e["flag"]["key"] for e in then} == {early}
    in_dr2 = {k for (k,) in store.read("MATCH (d:Dataset) WHERE d.key IN $k AND "
                                       "d.run = 'DemoCam/runs/DR2' RETURN d.key",
                                       {"k": [e["node"]["key"] for e in now]})}
    assert in_dr2 and then == [e for e in now if e["node"]["key"] not in in_dr2]
    assert _rows(client, asOf="DR2") == now     # the release: everything it made existed
    visit = next(iter(made.values()))[0]
    q = """query($from: String!, $asOf: String) { lineage(from: $from, asOf: $asOf,
             types: ["deepCoadd"], first: 500) { edges { node { run } } } }"""
    runs = [e["node"]["run"] for e in ok(client, q, {"from": f"visit={visit}"})["lineage"]
            ["edges"]]
    assert {"DemoCam/runs/DR1", "DemoCam/runs/DR2"} <= set(runs)
    # DR1 ran 2026-03-11..14 and DR2 2026-04-10..13 (TAI): between them only DR1 existed
    between = [e["node"]["run"] for e in ok(client, q, {"from": f"visit={visit}",
                                                        "asOf": "2026-04-01"})["lineage"]
               ["edges"]]
    assert between == [r for r in runs if r == "DemoCam/runs/DR1"]
    assert [e["node"]["run"] for e in ok(client, q, {"from": f"visit={visit}", "asOf": "DR1"})
            ["lineage"]["edges"]] == between
    assert ok(client, q, {"from": f"visit={visit}", "asOf": "2026-03-01"})["lineage"][
        "edges"] == []
    assert error(client, q, {"from": f"visit={visit}", "asOf": "soon"}).startswith("asOf: ")


def test_caps_cut_the_search_and_say_so(flagged):
    client, store, made = flagged
    visit = next(iter(made.values()))[0]
    q = """query($from: String!, $step: Int, $nodes: Int) { lineage(from: $from,
             maxPerStep: $step, maxNodes: $nodes, first: 500) { totalCount truncated } }"""
    whole = ok(client, q, {"from": f"visit={visit}"})["lineage"]
    assert whole["truncated"] is False and whole["totalCount"] > 20
    assert ok(client, q, {"from": f"visit={visit}", "nodes": whole["totalCount"]})[
        "lineage"] == whole
    capped = ok(client, q, {"from": f"visit={visit}", "nodes": 20})["lineage"]
    assert capped == {"totalCount": 20, "truncated": True}
    per_step = ok(client, q, {"from": f"visit={visit}", "step": 5})["lineage"]
    assert per_step["truncated"] is True and per_step["totalCount"] < whole["totalCount"]
    rows = query.downstream(store, f"visit={visit}", max_per_step=5)
    assert rows.truncated and len(rows) == per_step["totalCount"]
    assert max(sum(r.steps == s for r in rows) for s in range(1, 10)) <= 5
    assert error(client, q, {"from": f"visit={visit}", "nodes": 0}).startswith("maxNodes: ")
    assert error(client, q, {"from": f"visit={visit}", "step": 0}).startswith("maxPerStep: ")


def test_global_ids_round_trip_for_every_kind(flagged):
    client, store, _ = flagged
    q = "query($id: ID!) { node(id: $id) { id key kind } }"
    seen = 0
    for kind in Kind:
        rows = store.read(f"MATCH (n:{kind.value}) RETURN n.key LIMIT 1")
        if not rows:
            continue
        key = rows[0][0]
        by_key = ok(client, "query($k: String!) { node(key: $k) { id key kind } }",
                    {"k": key})["node"]
        assert by_key["key"] == key and by_key["kind"] == kind.value
        assert ok(client, q, {"id": by_key["id"]})["node"] == by_key
        seen += 1
    assert seen >= 8
    assert error(client, q, {"id": "not-an-id"}).startswith("id: ")
    assert error(client, "{ node { key } }").startswith("id: ")


def test_cli_traversals_take_as_of_and_max_nodes(demo_repo):
    visit = f"visit={default_visit(SMALL)}"
    out = run("downstream", visit, "--repo", str(demo_repo), "--type", "deepCoadd", "--json")
    assert {r["run"] for r in json.loads(out.stdout)} == {"DemoCam/runs/DR1", "DemoCam/runs/DR2"}
    out = run("downstream", visit, "--repo", str(demo_repo), "--type", "deepCoadd",
              "--as-of", "DR1", "--json")
    assert {r["run"] for r in json.loads(out.stdout)} == {"DemoCam/runs/DR1"}
    out = run("downstream", visit, "--repo", str(demo_repo), "--max-nodes", "7", "--json")
    assert len(json.loads(out.stdout)) == 7 and "truncated" in out.stderr
    bad = run("upstream", visit, "--repo", str(demo_repo), "--as-of", "soon")
    assert bad.returncode == 2 and "--as-of 'soon'" in bad.stderr


def test_flagged_keeps_the_flags_that_name_a_visit(request, tmp_path_factory, small_units):
    """``flagged: "visit"`` (CoaddsOfFlaggedVisits) leaves out a flag on one dataset that
    contaminates the same coadds; an unknown dimension is a did-you-mean error."""
    factory = EngineFactory(ENGINES[0], request, tmp_path_factory)
    store = factory.new()
    try:
        write_units(store, small_units, show_progress=False)
        visit = default_visit(SMALL)
        by_visit = flags.flag(store, f"visit={visit}", "bad", "trail", EVIDENCE, "alice",
                              now=FLAGGED_AT)["flag"]
        calexp = query.downstream(store, f"visit={visit}", types=["calexp"])[0]
        by_dataset = flags.flag(store, calexp.key, "bad", "one calexp", EVIDENCE, "alice",
                                now=FLAGGED_AT)["flag"]
        every = flags.contaminated(store, types=["deepCoadd"], verdict="bad")
        of_visits = flags.contaminated(store, types=["deepCoadd"], verdict="bad",
                                       flagged="visit")
        assert {r["flag"] for r in every} == {by_visit, by_dataset}
        assert of_visits == [r for r in every if r["flag"] == by_visit] and of_visits
        with pytest.raises(UnknownName, match="did you mean visit"):
            flags.contaminated(store, flagged="vist")
    finally:
        factory.close()

"""Search (docs/search.md): each form of text on the small demo, on every engine, through the
library and through GraphQL; bounds, stable order, unknown text (an empty answer that says
what was tried) and malformed text (an error about the field ``text``).

The expected values are the demo's own: its first visit 2026030100001 (band u), the r-band
coadds of patch 4 (one per release), the 146 calibrate quanta, its seven collections."""

from __future__ import annotations

import warnings

import pytest

from lineage import flags
from lineage.core.errors import UnknownName
from lineage.core.model import GraphBatch, task_key
from lineage.search import MAX_FIRST, SearchError, search

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)

VISIT_KEY = "unit:visit:DemoCam/2026030100001"
COADD_DR1 = "dataset:e60b41ac-7e3a-5a85-ab89-e322b21cbc34"   # deepCoadd r, patch 4, DR1
COADD_DR2 = "dataset:edcc9fcc-ac14-57ba-a670-976f207aec6c"   # the same in DR2
COADD_ID = "band=r,patch=4,skymap=demo_rings,tract=9813"
UNKNOWN = "no visit or other data unit, dataset type, collection or task matches 'xyz'"


def keys(answer) -> list[str]:
    return [h.key for h in answer.hits]


# --- the library, on every engine -----------------------------------------------------------

def test_a_visit_number_finds_the_visit_then_its_exposure(demo_store_ro):
    answer = search(demo_store_ro, "2026030100001")
    assert keys(answer) == [VISIT_KEY, "unit:exposure:DemoCam/2026030100001"]
    visit = answer.hits[0]
    assert (visit.kind, visit.dimension, visit.label) == \
        ("DataUnit", "visit", "visit DemoCam/2026030100001, band u")
    assert (answer.total, answer.truncated, answer.message) == (2, False, None)
    assert keys(search(demo_store_ro, "visit=2026030100001")) == [VISIT_KEY]
    assert keys(search(demo_store_ro, "9813")) == ["unit:tract:demo_rings/9813"]


def test_a_data_id_finds_its_datasets_in_type_data_id_run_order(demo_store_ro):
    coadds = search(demo_store_ro, f"deepCoadd tract=9813,patch=4,band=r")
    assert [(h.key, h.kind, h.dataset_type, h.data_id, h.run) for h in coadds.hits] == [
        (COADD_DR1, "Dataset", "deepCoadd", COADD_ID, "DemoCam/runs/DR1"),
        (COADD_DR2, "Dataset", "deepCoadd", COADD_ID, "DemoCam/runs/DR2")]
    every = search(demo_store_ro, "tract=9813,patch=4,band=r")
    assert every.total == 10 and not every.truncated
    assert [h.dataset_type for h in every.hits] == (
        ["deepCoadd"] * 2 + ["deepCoadd_det"] * 2 + ["deepCoadd_directWarp"] * 4
        + ["deepCoadd_meas"] * 2)
    warps = [h.data_id for h in every.hits if h.dataset_type == "deepCoadd_directWarp"]
    assert warps == [f"instrument=DemoCam,patch=4,skymap=demo_rings,tract=9813,visit={v}"
                     for v in (2026030100003, 2026030100003, 2026030100009, 2026030100009)]


def test_first_bounds_the_hits_in_the_same_order(demo_store_ro):
    every = search(demo_store_ro, "tract=9813,patch=4,band=r", first=MAX_FIRST)
    three = search(demo_store_ro, "tract=9813,patch=4,band=r", first=3)
    assert keys(three) == keys(every)[:3]
    assert (three.total, three.truncated) == (10, True)
    tasks = search(demo_store_ro, "calibrate")
    assert (len(tasks.hits), tasks.total, tasks.truncated) == (20, 146, True)
    first = tasks.hits[0]
    assert (first.kind, first.data_id, first.run) == (
        "Quantum", "detector=0,instrument=DemoCam,visit=2026030100001", "DemoCam/runs/DR1")
    assert keys(search(demo_store_ro, "calibrate", first=5)) == keys(tasks)[:5]
    for bad in (0, MAX_FIRST + 1):
        with pytest.raises(SearchError) as info:
            search(demo_store_ro, "calibrate", first=bad)
        assert info.value.field == "first"


def test_a_dataset_uuid_or_key_finds_the_dataset(demo_store_ro):
    for text in (COADD_DR1, COADD_DR1.split(":", 1)[1], COADD_DR1.upper().replace("DATASET:",
                                                                                    "")):
        (hit,) = search(demo_store_ro, text).hits
        assert (hit.key, hit.dataset_type, hit.data_id, hit.run) == \
            (COADD_DR1, "deepCoadd", COADD_ID, "DemoCam/runs/DR1"), text
    (chain,) = search(demo_store_ro, "collection:DemoCam/DR2").hits
    assert (chain.kind, chain.label) == ("Collection", "DemoCam/DR2 (CHAINED)")


def test_collections_exact_first_then_by_part_of_their_name(demo_store_ro):
    assert [h.label for h in search(demo_store_ro, "DR2").hits] == \
        ["DemoCam/DR2 (CHAINED)", "DemoCam/runs/DR2 (RUN)"]
    assert keys(search(demo_store_ro, "dr1")) == \
        ["collection:DemoCam/DR1", "collection:DemoCam/runs/DR1"]
    assert keys(search(demo_store_ro, "DemoCam/runs/DR1")) == ["collection:DemoCam/runs/DR1"]


def test_dataset_types_exact_first_then_those_starting_with_it(demo_store_ro):
    answer = search(demo_store_ro, "deepCoadd")
    assert [h.dataset_type for h in answer.hits] == [
        "deepCoadd", "deepCoadd_det", "deepCoadd_directWarp", "deepCoadd_meas",
        "deepCoadd_mergeDet", "deepCoadd_ref"]
    assert answer.hits[0].key == "dstype:deepCoadd"
    # a single letter matches whole names only: band r, not every name holding an r
    assert keys(search(demo_store_ro, "r")) == ["unit:band:r"]


def test_visit_conditions_find_visits(demo_store_ro):
    assert keys(search(demo_store_ro, "visit[seeing < 0.7 arcsec]")) == [
        f"unit:visit:DemoCam/20260301000{n:02d}" for n in (2, 8, 9, 10, 13)]
    assert keys(search(demo_store_ro, "visit [ seeing < 0.7 arcsec ]")) == \
        keys(search(demo_store_ro, "visit[seeing < 0.7 arcsec]"))
    calexps = search(demo_store_ro, "calexp visit[seeing < 0.7 arcsec]", first=MAX_FIRST)
    assert {h.dataset_type for h in calexps.hits} == {"calexp"}
    assert {h.data_id.rsplit("visit=", 1)[1] for h in calexps.hits} == \
        {f"20260301000{n:02d}" for n in (2, 8, 9, 10, 13)}


def test_unknown_text_is_an_empty_answer_saying_what_was_tried(demo_store_ro):
    answer = search(demo_store_ro, " xyz ")
    assert (answer.hits, answer.total, answer.truncated, answer.message) == \
        ([], 0, False, UNKNOWN)
    assert search(demo_store_ro, "visit=99").message == "no visit matches 'visit=99'"
    assert search(demo_store_ro, "tract=1,band=r").message == \
        "no dataset matches 'tract=1,band=r' (no tract '1' in this repository)"
    assert search(demo_store_ro, "0123abcd").message == \
        "no visit or other data unit, flag, dataset type, collection or task matches '0123abcd'"


@pytest.mark.parametrize("text, says", [
    ("tract=abc", "tract 'abc': this dimension's value is a non-negative integer"),
    ("tract=", "'tract=' is not dim=value"),
    ("flag:zz", "not a flag id: 'flag:zz'"),
    ("   ", "empty: type a visit"),
    ("visit=1\x00", "holds a control character"),
    ("\udcff2026", "not valid Unicode"),
])
def test_malformed_text_is_an_error_about_text(demo_store_ro, text, says):
    with pytest.raises(SearchError) as info:
        search(demo_store_ro, text)
    assert info.value.field == "text" and says in str(info.value)


def test_a_misspelt_name_says_the_closest(demo_store_ro):
    for text, closest in (("viist=1", "did you mean visit?"),
                          ("deepcoadd tract=9813", "did you mean deepCoadd?")):
        with pytest.raises(UnknownName) as info:
            search(demo_store_ro, text)
        assert info.value.field == "text" and closest in str(info.value)


def test_flags_by_key_uuid_and_prefix_and_task_nodes_first(demo_store):
    report = flags.flag(demo_store, "visit=2026030100001", "bad", "satellite trail",
                        "https://jira.example.org/DRB-42", "drb-chair")
    key = report["flag"]
    for text in (key, key[5:], key[5:13]):
        (hit,) = search(demo_store, text).hits
        assert (hit.kind, hit.key, hit.label) == \
            ("Flag", key, "bad visit=2026030100001: satellite trail"), text
    batch = GraphBatch(source="test")
    batch.add_node(task_key("demo", "calibrate"), label="calibrate", pipeline="demo")
    demo_store.write(batch)
    answer = search(demo_store, "calibrate", first=2)
    assert [h.kind for h in answer.hits] == ["Task", "Quantum"]
    assert answer.hits[0].label == "calibrate (pipeline demo)"
    assert answer.total == 147
    from fastapi.testclient import TestClient

    from lineage.api.app import create_app
    with TestClient(create_app(store=demo_store), client=("127.0.0.1", 40000)) as client:
        body = gql(client, key[5:13])
        assert body["data"]["search"]["hits"] == [
            {"kind": "Flag", "key": key, "label": "bad visit=2026030100001: satellite trail",
             "datasetType": None, "dataId": None, "run": None, "dimension": None,
             "node": {"id": body["data"]["search"]["hits"][0]["node"]["id"], "kind": "Flag"}}]
        hits = gql(client, "calibrate", 2)["data"]["search"]["hits"]
        assert [(h["kind"], h["node"]["kind"]) for h in hits] == \
            [("Task", "Task"), ("Quantum", "Quantum")]


def test_any_text_is_an_answer_or_a_user_error(demo_store_ro):
    """Texts made of the forms' pieces and of any characters (NUL, lone surrogates: what a
    shell makes of undecodable bytes): an answer, or a LineageError about ``text``."""
    from hypothesis import HealthCheck, given, settings, strategies as st

    from lineage.core.errors import LineageError
    pieces = st.sampled_from([*"visttract=,<>[]:- 0123456789abcdefDR2rg.()'\"\\\x00", "\ud800",
                              "AND", "IN", "deepCoadd ", "visit[", "seeing <", "flag:",
                              "instrument", "band", "detector", ".."])
    texts = st.one_of(st.text(max_size=40), st.lists(pieces, max_size=12).map("".join))

    @settings(max_examples=300, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(texts)
    def check(text):
        try:
            answer = search(demo_store_ro, text, 5)
        except LineageError as exc:
            assert getattr(exc, "field", None) == "text", (text, exc)
        else:
            assert len(answer.hits) <= 5 and answer.total >= len(answer.hits)
    check()


# --- GraphQL, on every engine ---------------------------------------------------------------

@pytest.fixture
def client(demo_store_ro):
    from fastapi.testclient import TestClient

    from lineage.api.app import create_app
    from lineage.api.settings import ApiSettings
    with TestClient(create_app(store=demo_store_ro, settings=ApiSettings()),
                    client=("127.0.0.1", 40000)) as test_client:
        yield test_client


HITS = """query($text: String!, $first: Int) { search(text: $text, first: $first) {
  total truncated message hits { kind key label datasetType dataId run dimension
  node { id kind } } } }"""


def gql(client, text, first=None):
    r = client.post("/graphql", json={"query": HITS, "variables": {"text": text,
                                                                   "first": first}})
    assert r.status_code == 200, r.text
    return r.json()


def test_graphql_search_answers_what_the_library_answers(client, demo_store_ro):
    for text in ("2026030100001", "deepCoadd tract=9813,patch=4,band=r", "DR2", "calibrate"):
        body = gql(client, text, 4)
        library = search(demo_store_ro, text, 4)
        got = body["data"]["search"]
        assert (got["total"], got["truncated"], got["message"]) == \
            (library.total, library.truncated, None)
        assert [(h["kind"], h["key"], h["label"], h["dataId"], h["run"]) for h in got["hits"]] \
            == [(h.kind, h.key, h.label, h.data_id, h.run) for h in library.hits]
        assert all(h["node"]["kind"] == h["kind"] for h in got["hits"])
    coadd = gql(client, "deepCoadd tract=9813,patch=4,band=r")["data"]["search"]["hits"][0]
    assert (coadd["key"], coadd["datasetType"], coadd["dataId"]) == \
        (COADD_DR1, "deepCoadd", COADD_ID)


def test_graphql_unknown_malformed_and_bounds(client):
    body = gql(client, "xyz")
    assert body["data"]["search"] == {"total": 0, "truncated": False, "message": UNKNOWN,
                                      "hits": []}
    assert body["extensions"]["cost"] == 10 + 1 + 10 * 1  # search, hits: 10 (a list) x node
    for text, first, message in (
            ("tract=abc", None, "text: tract 'abc': this dimension's value is a non-negative "
                                "integer"),
            ("viist=1", None, "text: 'viist': no such dimension; did you mean visit?"),
            ("calibrate", 501, "first: must be between 1 and 500, not 501")):
        body = gql(client, text, first)
        assert body["data"] is None
        (error,) = body["errors"]
        assert (error["message"], error["extensions"]["code"]) == (message, "BAD_INPUT")


# --- the command line and the Python API (the embedded engine) ------------------------------

def test_command_line_prints_the_hits_and_says_what_was_tried(demo_repo):
    import json

    from .cli_runner import run
    env = {"LINEAGE_REPO": None, "COLUMNS": "200"}
    out = run("search", "deepCoadd tract=9813,patch=4,band=r", "--repo", str(demo_repo),
              "--json", env=env)
    document = json.loads(out.stdout)
    assert [(h["key"], h["run"], h["data_id"]) for h in document["hits"]] == [
        (COADD_DR1, "DemoCam/runs/DR1", {"band": "r", "patch": 4, "skymap": "demo_rings",
                                         "tract": 9813}),
        (COADD_DR2, "DemoCam/runs/DR2", {"band": "r", "patch": 4, "skymap": "demo_rings",
                                         "tract": 9813})]
    table = run("search", "calibrate", "--first", "2", "--repo", str(demo_repo), env=env)
    assert "2 of 146 hits (--first for more)" in table.stdout
    assert UNKNOWN in run("search", "xyz", "--repo", str(demo_repo), env=env).stdout
    bad = run("search", "tract=abc", "--repo", str(demo_repo), env=env, check=False)
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("lineage: error: TEXT tract 'abc': this dimension's value "
                                  "is a non-negative integer")


def test_repository_search(demo_repo):
    import lineage
    with lineage.Repository(demo_repo) as repo:
        hits = repo.search("tract=9813,patch=4,band=r", first=2)
        assert [(r["key"], r["data_id"]["patch"]) for r in hits] == \
            [(COADD_DR1, "4"), (COADD_DR2, "4")]
        assert hits.truncated and hits.title == \
            "Search 'tract=9813,patch=4,band=r': 2 of 10 hits"
        assert repo.search("xyz").title == UNKNOWN

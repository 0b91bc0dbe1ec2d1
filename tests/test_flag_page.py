"""What the explorer's flag page asks the API (issue #21): a flag's blast radius from its
marks (`Flag.blastRadius(asOf)`), counted by dataset type and by tract and band, the same
counts in the flag mutation's payload (dry run and real), and the flag's history.  Over
every engine, on a fresh small demo with a visit flagged through HTTP with a flagger
token; the tract and band counts are checked against the `contaminated` connection's
datasets grouped here."""

from __future__ import annotations

import warnings
from collections import Counter

import pytest

from lineage.api.auth import TokenStore
from lineage.core.dataid import DataId
from lineage.demo import default_visit

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)

EVIDENCE = "https://jira.example.org/browse/DRB-42"

FLAG = """mutation($selector: String!, $dry: Boolean) {
  flag(input: {selector: $selector, verdict: BAD, reason: "satellite trail", evidence: "%s",
               dryRun: $dry}) {
    dryRun flag { key }
    blastRadius { flagged datasets quanta byDatasetType { datasetType count }
                  byTractBand { tract band datasets } } } }""" % EVIDENCE

RADIUS = """query($id: String!, $asOf: String) { flag(id: $id) {
  createdAt active history { what at by reason }
  blastRadius(asOf: $asOf) { flagged datasets quanta byDatasetType { datasetType count }
    byTractBand { tract band datasets } mostAffected { steps fraction dataset { uuid } } } } }"""


@pytest.fixture
def page(demo_store, tmp_path):
    """(test client, flagger's headers, store) over a fresh small demo store."""
    from fastapi.testclient import TestClient

    from lineage.api.app import create_app
    from lineage.api.settings import ApiSettings
    _, token = TokenStore(tmp_path).create("drb-chair", "flagger")
    app = create_app(store=demo_store, settings=ApiSettings(state_dir=tmp_path))
    with TestClient(app, client=("127.0.0.1", 40000)) as client:
        yield client, {"Authorization": f"Bearer {token}"}, demo_store


def ok(client, query, variables=None, headers=None):
    body = client.post("/graphql", json={"query": query, "variables": variables or {}},
                       headers=headers or {}).json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def grouped_by_tract_band(client, flag_key: str) -> list[dict]:
    """The flag's contaminated datasets, read page by page and counted by tract and band
    here: the band from the data ID, else the band of the dataset's visit or exposure (as
    the API says), asked of each unit."""
    data_ids = []
    after = None
    while True:
        page = ok(client, """query($id: String!, $after: String) { flag(id: $id) {
            contaminated(first: 100, after: $after) { edges { node { dataId } }
              pageInfo { hasNextPage endCursor } } } }""", {"id": flag_key, "after": after}
                  )["flag"]["contaminated"]
        data_ids += [DataId.parse(e["node"]["dataId"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    units = sorted({(dim, d[dim]) for d in data_ids for dim in ("visit", "exposure")
                    if dim in d and "band" not in d})
    asked = " ".join(f'u{i}: dataUnit(dimension: "{dim}", value: "{value}") {{ band }}'
                     for i, (dim, value) in enumerate(units))
    bands = ok(client, "{ %s }" % asked) if units else {}
    band_of = {unit: bands[f"u{i}"]["band"] for i, unit in enumerate(units)}
    counts: Counter = Counter()
    for d in data_ids:
        band = d.get("band") or band_of.get(("visit", d.get("visit"))) or \
            band_of.get(("exposure", d.get("exposure")))
        counts[(d.get("tract"), band)] += 1
    return [{"tract": t, "band": b, "datasets": n} for (t, b), n in counts.items()]


def same(a: list[dict], b: list[dict]) -> bool:
    key = lambda r: (r["tract"] or "", r["band"] or "")   # noqa: E731
    return sorted(a, key=key) == sorted(b, key=key)


def test_blast_radius_by_tract_band_from_marks_and_in_the_flag_payload(page):
    client, flagger, _ = page
    selector = f"visit={default_visit()}"
    dry = ok(client, FLAG, {"selector": selector, "dry": True}, flagger)["flag"]
    made = ok(client, FLAG, {"selector": selector, "dry": False}, flagger)["flag"]
    key = made["flag"]["key"]
    stored = ok(client, RADIUS, {"id": key})["flag"]["blastRadius"]

    independent = grouped_by_tract_band(client, key)
    assert same(stored["byTractBand"], independent), (stored["byTractBand"], independent)
    assert sum(r["datasets"] for r in independent) == stored["datasets"] > 0
    # coadd-level products have a tract and a band, visit-level ones a band, some neither
    kinds = {(r["tract"] is not None, r["band"] is not None) for r in stored["byTractBand"]}
    assert {(True, True), (False, True)} <= kinds
    # nulls first, then in order of tract and band
    rows = [(r["tract"] is not None, r["tract"] or "", r["band"] is not None, r["band"] or "")
            for r in stored["byTractBand"]]
    assert rows == sorted(rows)
    # the dry run, the written flag's payload and its stored marks agree
    for report in (dry, made):
        radius = report["blastRadius"]
        assert radius["byTractBand"] == stored["byTractBand"]
        for name in ("flagged", "datasets", "quanta", "byDatasetType"):
            assert radius[name] == stored[name], name
    assert dry["dryRun"] and dry["flag"] is None


def test_blast_radius_as_of_and_history_through_a_retraction(page):
    client, flagger, _ = page
    made = ok(client, FLAG, {"selector": f"visit={default_visit()}", "dry": False},
              flagger)["flag"]
    key = made["flag"]["key"]
    flag = ok(client, RADIUS, {"id": key})["flag"]
    assert flag["history"] == [{"what": "flagged", "at": flag["createdAt"], "by": "drb-chair",
                                "reason": "satellite trail"}]
    now = flag["blastRadius"]
    assert ok(client, RADIUS, {"id": key, "asOf": flag["createdAt"]}
              )["flag"]["blastRadius"] == now
    before = ok(client, RADIUS, {"id": key, "asOf": "2026-01-01"})["flag"]["blastRadius"]
    assert before == {"flagged": 0, "datasets": 0, "quanta": 0, "byDatasetType": [],
                      "byTractBand": [], "mostAffected": []}
    # as of DR1 the flag did not exist yet
    assert ok(client, RADIUS, {"id": key, "asOf": "DR1"})["flag"]["blastRadius"]["datasets"] == 0

    ok(client, """mutation($id: String!) { unflag(id: $id, reason: "superseded") { key } }""",
       {"id": key}, flagger)
    flag = ok(client, RADIUS, {"id": key})["flag"]
    assert not flag["active"]
    assert [e["what"] for e in flag["history"]] == ["flagged", "retracted"]
    retracted = flag["history"][1]
    assert retracted["by"] == "drb-chair" and retracted["reason"] == "superseded"
    assert retracted["at"] > flag["createdAt"]
    # the marks stay (history): without asOf the radius is what the flag wrote; after the
    # retraction it contaminates nothing
    assert flag["blastRadius"] == now
    after = ok(client, RADIUS, {"id": key, "asOf": "2999-01-01"})["flag"]["blastRadius"]
    assert after["datasets"] == 0 and after["byTractBand"] == []


def test_blast_radius_as_of_keeps_what_existed(page):
    """As of a time between the demo's releases, a flag written with that time counts only
    the products of the first release (DR2's were made later)."""
    from lineage import flags
    client, _, store = page
    between = "2026-03-20T00:00:00.000000Z"
    report = flags.flag(store, f"visit={default_visit()}", "bad", "trail", EVIDENCE, "alice",
                        now=between)
    radius = ok(client, RADIUS, {"id": report["flag"], "asOf": "2026-03-21"}
                )["flag"]["blastRadius"]
    everything = ok(client, RADIUS, {"id": report["flag"]})["flag"]["blastRadius"]
    assert 0 < radius["datasets"] < everything["datasets"]
    assert sum(r["datasets"] for r in radius["byTractBand"]) == radius["datasets"]
    existed = ok(client, """query($id: String!) { flag(id: $id) {
        contaminated(asOf: "2026-03-21") { totalCount } } }""", {"id": report["flag"]})
    assert existed["flag"]["contaminated"]["totalCount"] == radius["datasets"]


def test_blast_radius_refuses_a_bad_as_of(page):
    client, _, store = page
    from lineage import flags
    key = flags.flag(store, f"visit={default_visit()}", "bad", "trail", EVIDENCE,
                     "alice")["flag"]
    body = client.post("/graphql", json={"query": RADIUS, "variables": {
        "id": key, "asOf": "soon"}}).json()
    assert body["errors"][0]["message"].startswith("asOf: 'soon'"), body
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"

"""Unknown names get "did you mean ...?" instead of an empty answer (issue #20, part 6).

Every kind of name a user types (dataset type, collection, dimension, band, instrument,
metric) through the command line and through GraphQL, on the small demo: the error names
the field, the unknown value and the closest known name, with the exit status (2) and error
code (BAD_INPUT) of every other user error; a name that is known but matches nothing still
gives the empty answer.  The queries listing the known names run on every engine."""

from __future__ import annotations

import json

import pytest

from lineage.core.errors import UnknownName
from lineage.dataunits.names import KNOWN, check_names, closest
from lineage.demo import default_visit

from .cli_runner import run
from .conftest import SMALL, client_for

VISIT = f"visit={default_visit(SMALL)}"


# --- the suggestions ----------------------------------------------------------------------

def test_closest_prefers_a_match_but_for_case():
    known = ["deepCoadd", "deepCoadd_ref", "deepCoadd_meas", "calexp"]
    assert closest("deepcoadd", known) == ["deepCoadd"]
    assert closest("DEEPCOADD_REF", known) == ["deepCoadd_ref"]
    assert closest("calexpp", known) == ["calexp"]
    assert closest("flat", known) == []


def test_known_names_on_every_engine(demo_store_ro):
    """Each kind's query answers the demo's names (FalkorDB and ArcadeDB over Bolt)."""
    known = {noun: sorted(query(demo_store_ro)) for noun, query in KNOWN.items()}
    assert {"raw", "calexp", "deepCoadd"} <= set(known["dataset type"])
    assert {"DemoCam/DR1", "DemoCam/runs/DR2"} <= set(known["collection"])
    assert {"visit", "band", "tract", "patch"} <= set(known["dimension"])
    assert known["band"] == ["g", "i", "r", "u", "y", "z"]
    assert known["instrument"] == ["DemoCam"]
    assert "validate_drp.PA1" in known["metric"]
    with pytest.raises(UnknownName, match="'deepcoadd': no such dataset type; "
                                          "did you mean deepCoadd[?]") as caught:
        check_names(demo_store_ro, "dataset type", ["calexp", "deepcoadd"], "types")
    assert caught.value.field == "types"
    check_names(demo_store_ro, "band", ["g", "r"], "bands")     # known: no error
    check_names(demo_store_ro, "collection", None, "collection")  # nothing to check


# --- the command line ---------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["downstream", VISIT, "--type", "deepcoadd"],
     "--type 'deepcoadd': no such dataset type; did you mean deepCoadd?"),
    (["upstream", VISIT, "--type", "calexp,Raw"],
     "--type 'Raw': no such dataset type; did you mean raw?"),
    (["downstream", VISIT, "--collection", "democam/dr1"],
     "--collection 'democam/dr1': no such collection; did you mean DemoCam/DR1"),
    (["downstream", "visitt=1"],
     "bad selector 'visitt=1': no dimension 'visitt'; did you mean visit?"),
    (["downstream", "band=G"], "bad selector 'band=G': no band 'G'; did you mean g?"),
    (["downstream", "instrument=democam"],
     "no instrument 'democam'; did you mean DemoCam?"),
    (["fetch", VISIT, "--downstream", "--type", "Calexp", "--to", "unused"],
     "--type 'Calexp': no such dataset type; did you mean calexp?"),
    (["diff", "DemoCam/DR1", "DemoCam/DR2", "--type", "deepCoad"],
     "--type 'deepCoad': no such dataset type; did you mean deepCoadd"),
    (["diff", "DemoCam/DR1", "DemoCam/DR2", "--band", "R"],
     "--band 'R': no such band; did you mean r?"),
    (["diff", "democam/dr1", "DemoCam/DR2"],
     "no release or collection 'democam/dr1'; did you mean DemoCam/DR1?"),
    (["diff", "DemoCam/DR1", "DemoCam/DR2", "--where", "bnd=r"],
     "--where 'bnd': no such dimension; did you mean band?"),
    (["lightcurve", "12", "--collection", "democam/DR2"],
     "--collection 'democam/DR2': no such collection; did you mean DemoCam/DR2"),
    (["visits", "--instrument", "democam"],
     "--instrument 'democam': no such instrument; did you mean DemoCam?"),
    (["visits", "seeing < 0.8", "--versus", "seeing >= 0.8", "--type", "calexps"],
     "--type 'calexps': no such dataset type; did you mean calexp?"),
    (["calibs", f"{VISIT},detector=1", "--type", "Bias"],
     "--type 'Bias': no such dataset type; did you mean bias?"),
    (["calibs", f"{VISIT},detector=1", "--collection", "democam/calib"],
     "--collection 'democam/calib': no such collection; did you mean DemoCam/calib?"),
    (["metrics", "trend", "validate_drp.pa1"],
     "METRIC 'validate_drp.pa1': no such metric; did you mean validate_drp.PA1?"),
])
def test_cli_suggests(demo_repo, tmp_path, args, message):
    ran = run(*args, "--repo", str(demo_repo), cwd=tmp_path)
    assert ran.returncode == 2, ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lineage: error: "), ran.stderr
    assert message in lines[0], ran.stderr


def test_cli_known_but_empty_is_still_empty(demo_repo):
    """bias is a dataset type, and none is downstream of a visit: an empty answer."""
    ran = run("downstream", VISIT, "--type", "bias", "--json", "--repo", str(demo_repo))
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == []
    ran = run("downstream", VISIT, "--type", "deepCoadd", "--collection", "DemoCam/calib",
              "--json", "--repo", str(demo_repo))
    assert ran.returncode == 0 and json.loads(ran.stdout) == [], ran.stderr


# --- GraphQL ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(demo_repo):
    with client_for(demo_repo) as c:
        yield c


def _error(client, query: str) -> str:
    body = client.post("/graphql", json={"query": query}).json()
    assert body.get("errors"), body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_INPUT"], body
    return body["errors"][0]["message"]


@pytest.mark.parametrize("query, message", [
    ('{ lineage(from: "%s", types: ["deepcoadd"]) { totalCount } }' % VISIT,
     "types: 'deepcoadd': no such dataset type; did you mean deepCoadd?"),
    ('{ blastRadius(from: "%s", types: ["Calexp"]) { total } }' % VISIT,
     "types: 'Calexp': no such dataset type; did you mean calexp?"),
    ('{ lineage(from: "%s", collection: "democam/DR1") { totalCount } }' % VISIT,
     "collection: 'democam/DR1': no such collection; did you mean DemoCam/DR1"),
    ('{ lineage(from: "band=G") { totalCount } }',
     "from: bad selector 'band=G': no band 'G'; did you mean g?"),
    ('{ lineage(from: "Visit=1") { totalCount } }',
     "from: bad selector 'Visit=1': no dimension 'Visit'; did you mean visit?"),
    ('{ datasets(filter: {datasetType: ["Raw"]}) { totalCount } }',
     "filter.datasetType: 'Raw': no such dataset type; did you mean raw?"),
    ('{ datasets(filter: {collection: "demo/DR2"}) { totalCount } }',
     "filter.collection: 'demo/DR2': no such collection; did you mean DemoCam/DR2"),
    ('{ datasets(filter: {run: "DemoCam/runs/dr1"}) { totalCount } }',
     "filter.run: 'DemoCam/runs/dr1': no such collection; did you mean DemoCam/runs/DR1?"),
    ('{ visits(filter: {band: "R"}) { totalCount } }',
     "filter.band: 'R': no such band; did you mean r?"),
    ('{ visits(filter: {bands: ["g", "I"]}) { totalCount } }',
     "filter.bands: 'I': no such band; did you mean i?"),
    ('{ dataUnit(dimension: "Visit", value: "1") { key } }',
     "dimension: 'Visit': no such dimension; did you mean visit?"),
    ('{ releaseDiff(a: "DemoCam/DR1", b: "DemoCam/DR2", filter: {bands: ["G"]}) '
     '{ a } }',
     "filter.bands: 'G': no such band; did you mean g?"),
    ('{ releaseDiff(a: "DemoCam/DR1", b: "DemoCam/DR2", filter: {where: "Tract=9813"}) '
     '{ a } }',
     "filter.where: 'Tract': no such dimension; did you mean tract?"),
    ('{ metricTrend(metric: "validate_drp.pa1") { metric } }',
     "metric: 'validate_drp.pa1': no such metric; did you mean validate_drp.PA1?"),
])
def test_graphql_suggests(client, query, message):
    assert message in _error(client, query)


def test_graphql_known_but_empty_is_still_empty(client):
    body = client.post("/graphql", json={"query": (
        '{ lineage(from: "%s", types: ["bias"]) { totalCount } '
        '  visits(filter: {bands: ["g"], seeingMax: 0.01}) { totalCount } '
        '  dataUnit(dimension: "visit", value: "1") { key } }' % VISIT)}).json()
    assert "errors" not in body, body
    assert body["data"] == {"lineage": {"totalCount": 0}, "visits": {"totalCount": 0},
                            "dataUnit": None}

"""IVOA provenance (docs/standards.md, "IVOA provenance"): ``GET /prov``, ProvSAP over the
IVOA Provenance Data Model, on the small demo in a real embedded repository.

Answers are read back with the readers other tools use (``prov``'s PROV-JSON reader,
``astropy.io.votable``) and compared with the graph itself (Cypher and the lineage
traversal over the same store), never with the code under test.
"""

from __future__ import annotations

import io
import json

import pytest
from astropy.io.votable import parse
from hypothesis import HealthCheck, given, settings, strategies as st
from prov.model import (PROV, ProvActivity, ProvAgent, ProvDocument, ProvEntity, ProvInfluence,
                        ProvInvalidation)

from lineage import flags
from lineage.api import provsap
from lineage.api.auth import AuditLog, TokenStore
from lineage.demo import default_visit
from lineage.ingest.formats.prov import LSST
from lineage.standards.ivoa import provenance, serialize
from lineage.store.repo import open_store
from lineage.traversal.traverse import DOWN, traverse

from .cli_runner import run
from .conftest import SMALL, client_for

VOPROV_URI = "http://www.ivoa.net/documents/ProvenanceDM/ns/voprov/"
VOTABLE = "application/x-votable+xml"


@pytest.fixture(scope="module")
def client(demo_repo):
    with client_for(demo_repo) as c:
        yield c


@pytest.fixture(scope="module")
def graph(demo_repo):
    """What the graph says of a coadd made from several warps, and of one raw: from Cypher
    and the lineage traversal, over the repository the server reads."""
    with open_store(demo_repo) as store:
        coadd, quantum = store.read(
            "MATCH (w:Dataset {dataset_type: 'deepCoadd_directWarp'})-[:INPUT_TO]->"
            "(q:Quantum)-[:PRODUCED]->(d:Dataset {dataset_type: 'deepCoadd'}) "
            "RETURN d.key, q.key, count(w) AS n ORDER BY n DESC, d.key LIMIT 1")[0][:2]
        inputs = {r[0] for r in store.read(
            "MATCH (d:Dataset)-[:INPUT_TO]->(q:Quantum {key: $q}) RETURN d.key", {"q": quantum})}
        config = store.read("MATCH (:Quantum {key: $q})-[:CONFIGURED_BY]->(c:Config) "
                            "RETURN c.key, c.values", {"q": quantum})[0]
        raw = store.read("MATCH (d:Dataset {dataset_type: 'raw'})-[:INPUT_TO]->(:Quantum) "
                         "RETURN d.key ORDER BY d.key LIMIT 1")[0][0]
        down = {r.key for r in traverse(store, raw, DOWN)}
        down_one = {r.key for r in traverse(store, raw, DOWN, depth=1)}
        assemble_configs = {r[0] for r in store.read(
            "MATCH (d:Dataset {key: $raw})-[:INPUT_TO|PRODUCED*1..20]->(q:Quantum "
            "{task: 'assembleCoadd'})-[:CONFIGURED_BY]->(c:Config) RETURN DISTINCT c.key",
            {"raw": raw})}
    return {"coadd": coadd, "quantum": quantum, "inputs": inputs, "config": config[0],
            "config_values": json.loads(config[1]), "raw": raw, "down": down,
            "down_one": down_one, "assemble_configs": assemble_configs}


def _uuid(key: str) -> str:
    return key.split(":", 1)[1]


def _lsst(key: str) -> str:
    kind, rest = key.split(":", 1)
    return f"lsst:{kind}/{rest}"


def _types(record) -> set[str]:
    return {str(t) for t in record.get_asserted_types()}


def _keys(doc: ProvDocument, kind: str) -> set[str]:
    """The graph keys (``lsst:key``) of the document's records typed ``lsst:<kind>``."""
    return {str(next(iter(r.get_attribute(LSST["key"])))) for r in doc.get_records()
            if f"lsst:{kind}" in _types(r)}


def _error(answer, status: int) -> str:
    """The message of a DALI error document answered with ``status``."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(VOTABLE)
    assert "Traceback" not in answer.text
    votable = parse(io.BytesIO(answer.content))
    infos = [i for i in votable.resources[0].infos if i.name == "QUERY_STATUS"]
    assert [i.value for i in infos] == ["ERROR"]
    assert votable.resources[0].type == "results"
    return infos[0].content


def test_a_coadds_provenance_one_step_back_as_prov_json(client, graph):
    answer = client.get("/prov", params={"ID": _uuid(graph["coadd"]), "DIRECTION": "BACK",
                                         "DEPTH": "1", "RESPONSEFORMAT": "PROV-JSON"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    doc = ProvDocument.deserialize(content=answer.text, format="json")
    assert {ns.prefix: ns.uri for ns in doc.namespaces}["voprov"] == VOPROV_URI
    activities = [r for r in doc.get_records(ProvActivity)]
    assert [str(a.identifier) for a in activities] == [_lsst(graph["quantum"])]
    # the datasets used are exactly the graph's inputs of the coadd's quantum
    used = {str(r.formal_attributes[1][1]) for r in doc.get_records()
            if r.get_type() == PROV["Usage"]}
    assert used == {_lsst(k) for k in graph["inputs"]} | {_lsst(graph["config"])}
    assert _keys(doc, "Dataset") == graph["inputs"] | {graph["coadd"]}
    # ProvDM: every entity, activity and agent has its voprov:name
    named = [r for r in doc.get_records((ProvEntity, ProvActivity, ProvAgent))]
    assert named and all(r.get_attribute("voprov:name") for r in named)
    # the task's description, and one Parameter per config value configuring the quantum
    described = [r for r in doc.get_records(ProvEntity)
                 if "voprov:ActivityDescription" in _types(r)]
    assert len(described) == 1
    parameters = {str(next(iter(r.get_attribute("voprov:name")))): r
                  for r in doc.get_records(ProvEntity) if "voprov:Parameter" in _types(r)}
    assert set(parameters) == set(graph["config_values"])
    for name, value in graph["config_values"].items():
        assert next(iter(parameters[name].get_attribute(PROV["value"]))) == value
    influences = [dict(r.formal_attributes) | {"type": _types(r),
                                               "artefact": r.get_attribute("voprov:artefactType")}
                  for r in doc.get_records(ProvInfluence)]
    configured = {str(i[PROV["influencer"]]) for i in influences
                  if "voprov:wasConfiguredBy" in i["type"] and i["artefact"] == {"Parameter"}
                  and str(i[PROV["influencee"]]) == _lsst(graph["quantum"])}
    assert configured == {str(r.identifier) for r in parameters.values()}
    assert any("voprov:isDescribedBy" in i["type"]
               and str(i[PROV["influencer"]]) == str(described[0].identifier)
               for i in influences)


def test_the_same_as_prov_n_and_prov_votable(client, graph):
    params = {"ID": graph["coadd"], "DEPTH": "1"}
    text = client.get("/prov", params={**params, "RESPONSEFORMAT": "PROV-N"})
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/provenance-notation")
    assert f"prefix voprov <{VOPROV_URI}>" in text.text
    quantum = _lsst(graph["quantum"])
    used = {line.split(", ")[1] for line in text.text.splitlines()
            if line.strip().startswith(f"used({quantum}, lsst:dataset/")}
    assert used == {_lsst(k) for k in graph["inputs"]}

    table = client.get("/prov", params={**params, "RESPONSEFORMAT": "PROV-VOTABLE"})
    assert table.status_code == 200 and table.headers["content-type"] == VOTABLE
    votable = parse(io.BytesIO(table.content))
    resource = votable.resources[0]
    assert [(i.name, i.value) for i in resource.infos] == [("QUERY_STATUS", "OK")]
    tables = {t.name: t.to_table(use_names_over_ids=True) for t in resource.tables}
    assert set(tables) == {"entity", "activity", "agent", "used", "wasGeneratedBy",
                           "wasAssociatedWith", "wasDerivedFrom", "wasInfluencedBy"}
    assert list(tables["activity"]["prov:id"]) == [quantum]
    assert set(tables["used"]["prov:entity"]) == \
        {_lsst(k) for k in graph["inputs"]} | {_lsst(graph["config"])}
    assert set(tables["used"]["prov:activity"]) == {quantum}
    assert {(str(g), str(a)) for g, a in tables["wasGeneratedBy"]
            .iterrows("prov:entity", "prov:activity")} == {(_lsst(graph["coadd"]), quantum)}
    datasets = tables["entity"][tables["entity"]["prov:type"] == "lsst:Dataset"]
    assert set(datasets["lsst:key"]) == graph["inputs"] | {graph["coadd"]}
    assert len(tables["wasDerivedFrom"]) == len(graph["inputs"])


def test_forth_reaches_downstream_and_depth_bounds_it(client, graph):
    raw = graph["raw"]

    def datasets(depth: str) -> set[str]:
        answer = client.get("/prov", params={"ID": raw, "DIRECTION": "FORTH", "DEPTH": depth})
        assert answer.status_code == 200, answer.text
        doc = ProvDocument.deserialize(content=answer.text, format="json")
        # each entity once, a ParameterDescription shared by the configs of its task too
        entities = [str(r.identifier) for r in doc.get_records(ProvEntity)]
        assert len(entities) == len(set(entities))
        return _keys(doc, "Dataset")

    everything = datasets("ALL")
    assert everything == graph["down"] | {raw}
    assert len(graph["assemble_configs"]) > 1   # so the shared descriptions are tested
    assert any(k for k in everything if k != raw)
    one = datasets("1")
    assert one == graph["down_one"] | {raw} and one < everything
    assert datasets("0") == {raw}


def test_ids_repeat_and_take_the_documents_identifiers(client, graph):
    answer = client.get("/prov", params=[("ID", _lsst(graph["coadd"])),
                                         ("ID", str(LSST.uri) + "dataset/" + _uuid(graph["raw"])),
                                         ("DEPTH", "0")])
    assert answer.status_code == 200, answer.text
    doc = ProvDocument.deserialize(content=answer.text, format="json")
    assert _keys(doc, "Dataset") == {graph["coadd"], graph["raw"]}
    assert not list(doc.get_records(ProvActivity))
    quantum = client.get("/prov", params={"ID": graph["quantum"], "DEPTH": "1"})
    assert quantum.status_code == 200
    assert _keys(ProvDocument.deserialize(content=quantum.text, format="json"),
                 "Dataset") == graph["inputs"]


def test_model_w3c_is_the_plain_prov_document(client, graph):
    answer = client.get("/prov", params={"ID": graph["coadd"], "MODEL": "W3C"})
    assert answer.status_code == 200
    doc = ProvDocument.deserialize(content=answer.text, format="json")
    assert "voprov" not in answer.text
    assert _keys(doc, "Dataset") == graph["inputs"] | {graph["coadd"]}
    assert not list(doc.get_records(ProvInfluence))


def test_lower_case_parameter_names_and_values(client, graph):
    upper = client.get("/prov", params={"ID": graph["coadd"], "DEPTH": "1",
                                        "DIRECTION": "BACK", "RESPONSEFORMAT": "PROV-N"})
    lower = client.get("/prov", params={"id": graph["coadd"], "depth": "1",
                                        "direction": "back", "responseformat": "prov-n"})
    assert lower.status_code == 200 and lower.text == upper.text
    media = client.get("/prov", params={"Id": graph["coadd"],
                                        "ResponseFormat": "application/x-votable+xml"})
    assert media.status_code == 200 and media.headers["content-type"] == VOTABLE


@pytest.mark.parametrize("query, parameter, says", [
    ({}, "ID", "required"),
    ({"ID": "dataset:00000000-0000-0000-0000-000000000000"}, "ID",
     "'dataset:00000000-0000-0000-0000-000000000000' names nothing in this graph"),
    ({"ID": "not-an-id"}, "ID", "'not-an-id' is not a dataset or quantum identifier"),
    ({"DEPTH": "-1"}, "DEPTH", "'-1' is not a non-negative integer or ALL"),
    ({"DEPTH": "abc"}, "DEPTH", "'abc' is not a non-negative integer or ALL"),
    ({"DEPTH": "²"}, "DEPTH", "'²' is not a non-negative integer or ALL"),
    ({"DEPTH": "１"}, "DEPTH", "'１' is not a non-negative integer or ALL"),
    ({"DEPTH": "65"}, "DEPTH", "65 is more than 64"),
    ({"DIRECTION": "SIDEWAYS"}, "DIRECTION", "'SIDEWAYS' is not one of BACK, FORTH"),
    ({"RESPONSEFORMAT": "foo"}, "RESPONSEFORMAT", "'foo' is not one of PROV-JSON"),
    ({"MODEL": "CAOM"}, "MODEL", "'CAOM' is not one of IVOA, W3C"),
    ({"MEMBERS": "TRUE"}, "MEMBERS", "TRUE is not supported here"),
    ({"MAXREC": "10"}, "MAXREC", "not a parameter of this service"),
])
def test_bad_input_gets_a_dali_error_naming_the_parameter(client, graph, query, parameter,
                                                          says):
    params = query if "ID" in query or not query else {"ID": graph["coadd"], **query}
    message = _error(client.get("/prov", params=params), 400)
    assert message.startswith(f"{parameter}: ") and says in message, message


def test_a_parameter_given_twice_is_refused(client, graph):
    message = _error(client.get("/prov", params=[("ID", graph["coadd"]), ("DEPTH", "1"),
                                                 ("depth", "2")]), 400)
    assert message == "DEPTH: given more than once"


def test_an_answer_larger_than_the_servers_bound_is_refused(client, graph, monkeypatch):
    monkeypatch.setattr(provsap, "MAX_DATASETS", 5)
    message = _error(client.get("/prov", params={"ID": graph["raw"], "DIRECTION": "FORTH",
                                                 "DEPTH": "ALL"}), 400)
    assert message.startswith("DEPTH: ") and "more than 5 datasets" in message, message
    small = client.get("/prov", params={"ID": graph["raw"], "DEPTH": "0"})
    assert small.status_code == 200


def test_reading_needs_what_a_graphql_read_needs(demo_repo, graph):
    _, reader = TokenStore(demo_repo).create("prov-reader", "reader")
    params = {"ID": graph["coadd"]}
    audit = AuditLog(demo_repo)
    with client_for(demo_repo, read_access="token") as client:
        before = len(audit.read())
        refused = client.get("/prov", params=params)
        (line,) = audit.read()[before:]   # audited as a refused read is
        assert line["outcome"] == "refused" and line["reason"] == "no token"
        graphql = client.post("/graphql", json={"query": "{ __typename }"})
        assert graphql.status_code == 401
        assert _error(refused, 401) == graphql.json()["errors"][0]["message"]
        bad = client.get("/prov", params=params, headers={"Authorization": "Bearer lin_x_y"})
        assert "needs an API token" not in _error(bad, 401)
        allowed = client.get("/prov", params=params,
                             headers={"Authorization": f"Bearer {reader}"})
        assert allowed.status_code == 200
        assert _keys(ProvDocument.deserialize(content=allowed.text, format="json"),
                     "Dataset") == graph["inputs"] | {graph["coadd"]}


def test_the_command_line_writes_the_same_document(client, demo_repo, graph, tmp_path):
    """``lineage prov --model ivoa`` writes what ``GET /prov`` answers, and PROV-VOTABLE."""
    args = (graph["coadd"], "--upstream", "--depth", "1", "--model", "ivoa", "--repo",
            str(demo_repo))
    provn = run("prov", *args, "--format", "provn")
    assert provn.returncode == 0, provn.stderr
    served = client.get("/prov", params={"ID": graph["coadd"], "RESPONSEFORMAT": "PROV-N"})
    assert provn.stdout == served.text
    written = run("prov", *args, "--format", "votable", "-o", str(tmp_path / "c.vot"))
    assert written.returncode == 0 and "(IVOA PROV votable)" in written.stdout
    entities = parse(str(tmp_path / "c.vot")).get_table_by_id("entity").to_table(
        use_names_over_ids=True)
    parameters = entities[entities["prov:type"] == "voprov:Parameter"]
    assert set(parameters["voprov:name"]) == set(graph["config_values"])
    plain = run("prov", graph["coadd"], "--upstream", "--depth", "1", "--repo", str(demo_repo))
    assert plain.returncode == 0 and "voprov" not in plain.stdout


def test_a_flag_in_the_ivoa_model(demo_store):
    """A flagged dataset's provenance names who flagged as a ProvDM Agent (a Person), the
    flag and its flagging with their voprov names, and the invalidation."""
    visit = default_visit(SMALL)
    flags.flag(demo_store, f"visit={visit}", verdict="bad", reason="satellite trail",
               evidence="https://jira.example.org/browse/DM-1", by="alice")
    flag, dataset = demo_store.read("MATCH (f:Flag)-[:FLAGS]->(d:Dataset) "
                                    "RETURN f.key, d.key ORDER BY d.key LIMIT 1")[0]
    doc = ProvDocument.deserialize(content=serialize(provenance(
        demo_store, [dataset], depth=0), "PROV-JSON").decode(), format="json")
    agents = {str(a.identifier): a for a in doc.get_records(ProvAgent)}
    person = agents["lsst:person/alice"]
    assert _types(person) == {"prov:Person"}
    assert person.get_attribute("voprov:name") == {"alice"}
    names = {str(r.identifier): r.get_attribute("voprov:name")
             for r in doc.get_records((ProvEntity, ProvActivity))}
    assert names[_lsst(flag)] == {"flag bad: satellite trail"}
    assert names[f"lsst:flagging/{_uuid(flag)}"] == {"flagging"}
    invalidated = {str(dict(r.formal_attributes)[PROV["entity"]])
                   for r in doc.get_records(ProvInvalidation)}
    assert invalidated == {_lsst(dataset)}


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(
    st.sampled_from(["ID", "depth", "DIRECTION", "RESPONSEFORMAT", "MODEL", "AGENT", "x"]),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40), min_size=1))
def test_any_values_get_an_answer_or_a_dali_error_never_a_500(client, graph, values):
    answer = client.get("/prov", params={"ID": graph["coadd"], **values})
    assert answer.status_code in (200, 400), (values, answer.text)
    if answer.status_code == 400:
        _error(answer, 400)

"""The API as a user meets it: a repository directory, tokens, audited mutations, GraphiQL,
saved operations, the SDL file, a real uvicorn server on loopback, and fuzzed arguments."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lineage.api.process import served
from lineage.core.dataid import data_id_object
from lineage.demo import default_visit
from lineage.ingest import write_units
from lineage.store.repo import init_repo, open_store

from .conftest import SMALL, client_for
from .test_cli import lineage

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)

VISIT = f"visit={default_visit(SMALL)}"
ROOT = Path(__file__).resolve().parents[1]
FLAG = """mutation($sel: String!, $dry: Boolean) {
  flag(input: {selector: $sel, verdict: BAD, reason: "satellite trail",
               evidence: "https://jira.example.org/browse/DM-1", dryRun: $dry}) {
    dryRun flag { key by verdict active } blastRadius { datasets byDatasetType { datasetType count } }
  }
}"""




@pytest.fixture(scope="module")
def client(demo_repo):
    with client_for(demo_repo) as c:
        yield c


def post(client, q, variables=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = client.post("/graphql", json={"query": q, "variables": variables or {}}, headers=headers)
    assert r.status_code < 500, r.text
    return r


def flag_count(repo) -> int:
    with open_store(repo) as store:
        return store.read("MATCH (f:Flag) RETURN count(f)")[0][0]


def make_token(repo, role, name=None):
    from lineage.api.auth import TokenStore
    record, text = TokenStore(repo).create(name or f"{role}-user", role)
    return record, text


def test_mutation_without_token_is_refused_and_nothing_changes(client, demo_repo):
    from lineage.api.auth import AuditLog
    before = flag_count(demo_repo)
    body = post(client, FLAG, {"sel": VISIT}).json()
    assert body["data"] is None
    assert "needs an API token with role admin or flagger" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    reader = make_token(demo_repo, "reader")[1]
    body = post(client, FLAG, {"sel": VISIT}, token=reader).json()
    assert "needs role admin or flagger" in body["errors"][0]["message"]
    assert flag_count(demo_repo) == before
    log = AuditLog(demo_repo).read()
    assert [e["outcome"] for e in log[-2:]] == ["refused", "refused"]
    assert log[-1]["who"] == "reader-user" and log[-1]["operation"] == "flag"
    # a mutation cannot be sent with GET
    r = client.get("/graphql", params={"query": FLAG, "variables": json.dumps({"sel": VISIT})})
    assert r.status_code == 400 and "POST" in r.json()["errors"][0]["message"]


def test_flagger_flags_and_unflags_audited(client, demo_repo):
    from lineage.api.auth import AuditLog
    record, token = make_token(demo_repo, "flagger", "drb-chair")
    before = flag_count(demo_repo)
    dry = post(client, FLAG, {"sel": VISIT, "dry": True}, token).json()["data"]["flag"]
    assert dry["dryRun"] is True and dry["flag"] is None and dry["blastRadius"]["datasets"] > 0
    assert flag_count(demo_repo) == before
    data = post(client, FLAG, {"sel": VISIT}, token).json()["data"]["flag"]
    assert data["flag"]["by"] == "drb-chair" and data["flag"]["active"] is True
    assert flag_count(demo_repo) == before + 1
    key = data["flag"]["key"]
    bad = post(client, FLAG.replace("https://jira.example.org/browse/DM-1", "/etc/passwd"),
               {"sel": VISIT}, token).json()
    assert bad["errors"][0]["message"].startswith("input.evidence: ")
    bad = post(client, FLAG, {"sel": "visit=99"}, token).json()
    assert bad["errors"][0]["message"].startswith("input.selector: ")
    q = 'mutation($id: String!) { unflag(id: $id, reason: "superseded") { key active retractedBy } }'
    body = post(client, q, {"id": key}, token).json()
    assert body["data"]["unflag"] == {"key": key, "active": False, "retractedBy": "drb-chair"}
    again = post(client, q, {"id": key}, token).json()
    assert again["errors"][0]["message"].startswith("id: ") and "already retracted" in \
        again["errors"][0]["message"]
    # recompute is for admins only
    q = 'mutation($id: String!) { recomputeFlag(id: $id) { marked flag { key } } }'
    assert "needs role admin" in post(client, q, {"id": key}, token).json()["errors"][0]["message"]
    admin = make_token(demo_repo, "admin")[1]
    assert post(client, q, {"id": key}, admin).json()["data"]["recomputeFlag"]["marked"] > 0
    log = AuditLog(demo_repo).read()
    ok = [e for e in log if e["outcome"] == "ok"]
    assert [e["operation"] for e in ok] == ["flag", "flag", "unflag", "recomputeFlag"]
    assert ok[1]["flag"] == key and ok[1]["who"] == "drb-chair" and ok[1]["token"] == record.id
    assert ok[1]["arguments"]["selector"] == VISIT and ok[1]["at"].endswith("Z")


def test_tokens_hashed_revoked_and_read_access(demo_repo):
    from lineage.api.auth import TOKENS_FILE, TokenStore
    record, token = make_token(demo_repo, "reader", "remote-reader")
    stored = (demo_repo / TOKENS_FILE).read_text()
    assert token.split("_", 2)[2] not in stored and record.sha256 in stored
    assert oct((demo_repo / TOKENS_FILE).stat().st_mode & 0o777) == "0o600"
    q = "{ datasetTypes { totalCount edges { node { name } } } }"
    # from another address reads need a token (default), from loopback they do not
    with client_for(demo_repo, host="192.0.2.7") as remote:
        r = remote.post("/graphql", json={"query": q})
        assert r.status_code == 401 and "needs an API token" in r.json()["errors"][0]["message"]
        assert remote.post("/graphql", json={"query": q},
                           headers={"Authorization": f"Bearer {token}"}).status_code == 200
        TokenStore(demo_repo).revoke(record.id)
        r = remote.post("/graphql", json={"query": q},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and "revoked" in r.json()["errors"][0]["message"]
        r = remote.post("/graphql", json={"query": q}, headers={"Authorization": "Bearer lin_x_y"})
        assert r.status_code == 401 and r.json()["errors"][0]["message"] == "invalid API token"
    with client_for(demo_repo, host="192.0.2.7", read_access="open") as remote:
        assert remote.post("/graphql", json={"query": q}).status_code == 200
    with client_for(demo_repo, read_access="token") as local:
        assert local.post("/graphql", json={"query": q}).status_code == 401


def test_token_commands(demo_repo):
    out = json.loads(lineage("token", "create", "--name", "ci", "--role", "flagger", "--repo",
                             str(demo_repo), "--json").stdout)
    assert out["token"].startswith("lin_") and out["role"] == "flagger"
    listed = json.loads(lineage("token", "list", "--repo", str(demo_repo), "--json").stdout)
    assert out["id"] in [t["id"] for t in listed]
    assert all("sha256" not in t and "salt" not in t for t in listed)
    lineage("token", "revoke", out["id"], "--repo", str(demo_repo))
    proc = lineage("token", "revoke", out["id"], "--repo", str(demo_repo), check=False)
    assert proc.returncode == 2 and "already revoked" in proc.stderr
    proc = lineage("token", "create", "--name", "x", "--role", "root", "--repo", str(demo_repo),
                   check=False)
    assert proc.returncode == 2


def test_graphiql_page_health_and_openapi(client):
    page = client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "GraphiQL" in page.text
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(r.startswith("/graphiql/") for r in refs), refs
    assert "http://" not in page.text and "https://" not in page.text
    for ref in refs:
        asset = client.get(ref)
        assert asset.status_code == 200 and len(asset.content) > 1000
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["engine"] == "falkordb"
    assert health["dataset_types"] > 0
    paths = client.get("/openapi.json").json()["paths"]
    assert "/health" in paths and "/queries" in paths and "/graphql" not in paths


def test_no_page_loads_from_the_internet(client):
    """FastAPI's /docs and /redoc load Swagger UI and ReDoc from a CDN: not served, so no
    page of the API breaks offline; the OpenAPI document they would show stays."""
    for route in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(route, headers={"accept": "text/html"}).status_code == 404, route
    assert client.get("/openapi.json").status_code == 200
    page = client.get("/graphql", headers={"accept": "text/html"}).text
    assert not re.findall(r'(?:src|href)="https?://', page)


def test_saved_operations(client, demo_repo):
    from lineage.traversal import traverse as query
    listed = {o["name"]: o for o in client.get("/queries").json()}
    assert {"CoaddsOfVisit", "BlastRadius", "Contamination"} <= set(listed)
    assert listed["CoaddsOfVisit"]["variables"]["visit"] == "String!"
    body = client.post("/queries/CoaddsOfVisit", json={"visit": VISIT}).json()
    with open_store(demo_repo) as store:
        want = [r.key for r in query.downstream(store, VISIT, types=["deepCoadd"])]
    assert [e["node"]["uuid"] for e in body["data"]["lineage"]["edges"]] == \
        [k.split(":", 1)[1] for k in want]
    assert client.post("/queries/Nope", json={}).status_code == 404
    # a user's own operation, kept in the repository
    (demo_repo / "graphql").mkdir(exist_ok=True)
    (demo_repo / "graphql" / "mine.graphql").write_text(
        "# raws of one visit\nquery MyRaws($v: String!) { datasets(filter: {selector: $v, "
        "datasetType: [\"raw\"]}) { totalCount } }\n")
    out = json.loads(lineage("query", "MyRaws", "--var", f"v={VISIT}", "--repo",
                             str(demo_repo)).stdout)
    assert out["data"]["datasets"]["totalCount"] == SMALL.detectors
    out = json.loads(lineage("query", "CoaddsOfVisit", "--var", f"visit={VISIT}", "--var",
                             "first=3", "--repo", str(demo_repo)).stdout)
    assert len(out["data"]["lineage"]["edges"]) == 3
    proc = lineage("query", "CoaddsOfVisit", "--var", "nope=1", "--repo", str(demo_repo),
                   check=False)
    assert proc.returncode == 2 and "has no variable $nope" in proc.stderr


def test_schema_file_is_the_code_schema():
    from lineage.api.saved import sdl
    assert (ROOT / "graphql" / "schema.graphql").read_text() == sdl(), \
        "graphql/schema.graphql is stale: run `lineage schema -o graphql/schema.graphql`"


def test_every_saved_operation_is_valid():
    from graphql import parse, validate

    from lineage.api.saved import SavedOperations
    from lineage.api.schema import build_schema
    schema = build_schema().graphql_schema
    ops = SavedOperations.default().all()
    assert len(ops) >= 5
    for op in ops:
        assert not validate(schema, parse(op.document)), op.name


@pytest.mark.slow
def test_real_uvicorn_answers_as_the_cli(demo_repo):
    with served(demo_repo, timeout=60) as base:
        q = """query($v: String!) { lineage(from: $v, types: ["deepCoadd"], first: 500) {
                 edges { steps node { uuid datasetType dataId run } } } }"""
        body = httpx.post(f"{base}/graphql", json={"query": q, "variables": {"v": VISIT}},
                          timeout=30).json()
        cli = json.loads(lineage("downstream", VISIT, "--type", "deepCoadd", "--repo",
                                 str(demo_repo), "--json").stdout)
        got = [{"uuid": e["node"]["uuid"], "dataset_type": e["node"]["datasetType"],
                "data_id": data_id_object(e["node"]["dataId"]),  # the CLI's JSON: an object
                "run": e["node"]["run"], "steps": e["steps"]}
               for e in body["data"]["lineage"]["edges"]]
        assert got == [{k: r[k] for k in ("uuid", "dataset_type", "data_id", "run", "steps")}
                       for r in cli]
        assert len(got) > 0
        r = httpx.post(f"{base}/graphql", content=b"{ lineage(", timeout=10,
                       headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["errors"]


# --- fuzzing: no argument makes the server fail -------------------------------------------

_text = st.one_of(st.text(max_size=40), st.sampled_from(
    [VISIT, "visit=", "=1", "visit=1,visit=2", "tract=9813,patch=4,band=r", "dataset:", "unit:x",
     "flag:zz", "quantum:" + "0" * 36, "8860e518-a885-54ac-ae5c-9de4ec46fcf7", "", " ",
     "band=r", "x" * 300, "🙂", "\x00", "DemoCam/DR2", "deepCoadd"]))
_int = st.one_of(st.none(), st.integers(min_value=-2**31, max_value=2**31 - 1))
_num = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=32))

OPERATIONS = {
    "lineage": ("""query($a: String!, $t: [String!], $d: Int, $f: Int, $c: String, $x: String,
                  $dir: Direction) { lineage(from: $a, types: $t, depth: $d, first: $f,
                  collection: $c, after: $x, direction: $dir) { totalCount edges { node { key } } } }""",
                st.fixed_dictionaries({"a": _text, "t": st.one_of(st.none(), st.lists(_text,
                                       max_size=3)), "d": _int, "f": _int,
                                       "c": st.one_of(st.none(), _text),
                                       "x": st.one_of(st.none(), _text),
                                       "dir": st.sampled_from(["DOWN", "UP", "down", None])})),
    "datasets": ("""query($f: DatasetFilter, $n: Int, $x: String) { datasets(filter: $f, first: $n,
                   after: $x) { totalCount edges { node { key } } } }""",
                 st.fixed_dictionaries({"f": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
                     "datasetType": st.lists(_text, max_size=2), "run": _text,
                     "collection": _text, "selector": _text})), "n": _int,
                     "x": st.one_of(st.none(), _text)})),
    "visits": ("""query($f: VisitFilter) { visits(filter: $f) { totalCount } }""",
               st.fixed_dictionaries({"f": st.fixed_dictionaries({}, optional={
                   "band": _text, "seeingMax": _num, "airmassMin": _num, "mjdFrom": _num,
                   "timeFrom": _text, "timeTo": _text, "dayObs": _int})})),
    "lookups": ("""query($a: String!, $b: String!) { dataset(id: $a) { key } node(key: $b) { key kind }
                  contamination(dataset: $a) { contaminated } flag(id: $b) { key } }""",
                st.fixed_dictionaries({"a": _text, "b": _text})),
    "path": ("""query($a: String!, $b: String!, $d: Int) { lineagePath(from: $a, to: $b, depth: $d)
               { key } blastRadius(from: $a, depth: $d) { total } }""",
             st.fixed_dictionaries({"a": _text, "b": _text, "d": _int})),
    "dataUnit": ("""query($k: String, $d: String, $v: String) { dataUnit(key: $k, dimension: $d,
                   value: $v) { key } }""",
                 st.fixed_dictionaries({"k": st.one_of(st.none(), _text),
                                        "d": st.one_of(st.none(), _text),
                                        "v": st.one_of(st.none(), _text)})),
}


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzzed_arguments_never_fail_the_server(client, data):
    name = data.draw(st.sampled_from(sorted(OPERATIONS)))
    q, variables = OPERATIONS[name]
    r = client.post("/graphql", json={"query": q, "variables": data.draw(variables)})
    assert r.status_code < 500, r.text
    body = r.json()
    for e in body.get("errors", []):
        assert e.get("extensions", {}).get("code") != "INTERNAL", (name, body)
        assert e["message"], body


def test_request_past_its_deadline_is_a_graphql_error(demo_repo):
    q = '{ blastRadius(from: "%s", direction: UP) { total } }' % VISIT
    with client_for(demo_repo, timeout=0.001) as c:
        r = c.post("/graphql", json={"query": q})
    assert r.status_code == 200, r.text
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "TIMEOUT" and "longer than 0.001 s" in err["message"]


def test_bolt_repository_serves_and_keeps_tokens_in_its_directory(arcadedb_server, tmp_path,
                                                                  monkeypatch, small_units):
    """A repository directory whose graph is on a Bolt server (ArcadeDB here): the API
    answers from it, and its tokens and audit log stay in the directory."""
    from lineage.api.auth import AUDIT_FILE, TOKENS_FILE
    s = arcadedb_server.settings
    monkeypatch.setenv("LINEAGE_BOLT_PASSWORD", s.password)
    uri = f"bolt://{s.user}@{s.uri.split('://', 1)[1]}" + (f"/{s.database}" if s.database else "")
    root = tmp_path / "bolt-repo"
    init_repo(root, uri)
    with open_store(root) as store:
        assert store.engine == "bolt"
        store.clear()
        store.ensure_schema()
        write_units(store, small_units, show_progress=False)
    token = make_token(root, "flagger", "bolt-flagger")[1]
    with client_for(root) as c:
        assert c.get("/health").json()["engine"] == "bolt"
        q = '{ lineage(from: "%s", types: ["deepCoadd"]) { totalCount } }' % VISIT
        assert post(c, q).json()["data"]["lineage"]["totalCount"] > 0
        body = post(c, FLAG, {"sel": VISIT}, token).json()
        assert body["data"]["flag"]["flag"]["by"] == "bolt-flagger", body
    assert (root / TOKENS_FILE).exists()
    assert json.loads((root / AUDIT_FILE).read_text().splitlines()[-1])["outcome"] == "ok"

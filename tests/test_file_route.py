"""A dataset's file served by the API (issue #21, the explorer's link): ``GET
/datasets/{uuid}/file`` and ``Dataset.fileUrl``.  On a real small demo repository made by
``lineage demo`` (calexp FITS images and DIA catalogs in REPO/datastore), on the hostile
repository of the fetch hardening tests (values that lead outside the datastore), and on a
real Butler repository as the server's datastore."""

from __future__ import annotations

import hashlib
import uuid
import warnings
from pathlib import Path

import pytest

from lineage.api.auth import TokenStore
from lineage.store.falkordb_server import FalkorServer

from .conftest import client_for
from .test_cli import lineage as run
from .test_hardening_fetch import SECRET, build

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)

DATASETS = """query($types: [String!]) { datasets(filter: {datasetType: $types,
  run: "DemoCam/runs/DR2"}, first: 3) { edges { node { uuid datasetType uri size checksum
  fileUrl } } } }"""


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    """A small demo repository made by the command line, with its files."""
    repo = tmp_path_factory.mktemp("files") / "repo"
    done = run("demo", "--small", "--repo", str(repo), "--json")
    assert done.returncode == 0, done.stderr
    yield repo
    FalkorServer(repo).stop()


def ok(client, query, variables=None, headers=None):
    body = client.post("/graphql", json={"query": query, "variables": variables or {}},
                       headers=headers or {}).json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def not_found(response, *words):
    assert response.status_code == 404, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "NOT_FOUND"
    for word in words:
        assert word in error["message"], error["message"]


def test_the_route_serves_the_very_bytes_of_the_file(demo_files):
    with client_for(demo_files) as client:
        for types, suffix in ((["calexp"], ".fits"), (["dia_source"], ".parq")):
            edges = ok(client, DATASETS, {"types": types})["datasets"]["edges"]
            assert len(edges) == 3
            for edge in edges:
                node = edge["node"]
                assert node["fileUrl"] == f"/datasets/{node['uuid']}/file"
                on_disk = demo_files / "datastore" / node["uri"][len("file://datastore/"):]
                answer = client.get(node["fileUrl"])
                assert answer.status_code == 200, answer.text
                assert answer.content == on_disk.read_bytes()
                assert hashlib.sha256(answer.content).hexdigest() == node["checksum"]
                assert len(answer.content) == node["size"]
                assert answer.headers["content-disposition"] == \
                    f'attachment; filename="{on_disk.name}"'
                assert on_disk.name.endswith(suffix)


def test_a_file_points_at_its_provenance_and_can_carry_it(demo_files, tmp_path):
    """PROV-AQ's Link header on every file, answered by ``GET /prov``; ``provenance=true``
    streams a FITS file with the provenance cards ``lineage fetch --with-provenance`` writes,
    the datastore's bytes within."""
    import io
    from astropy.io import fits
    from lineage.standards import fits_header
    with client_for(demo_files) as client:
        node = ok(client, DATASETS, {"types": ["calexp"]})["datasets"]["edges"][0]["node"]
        plain = client.get(node["fileUrl"])
        link = plain.headers["link"]
        prov_url = f"http://testserver/prov?ID={node['uuid']}&DIRECTION=BACK&DEPTH=ALL" \
                   "&MODEL=W3C&RESPONSEFORMAT=PROV-JSON"
        assert link == f'<{prov_url}>; rel="http://www.w3.org/ns/prov#has_provenance"'
        upstream = client.get(prov_url)
        assert upstream.status_code == 200 and f"dataset/{node['uuid']}" in upstream.text
        stamped = client.get(node["fileUrl"], params={"provenance": "true"})
        assert stamped.status_code == 200 and stamped.headers["link"] == link
        header = fits.getheader(io.BytesIO(stamped.content))
        assert header["LSST BUTLER ID"] == node["uuid"]
        assert header["LSST BUTLER DATASETTYPE"] == "calexp"
        assert header["LSST BUTLER N_INPUTS"] == 1 and header["LSST BUTLER INPUT 0 ID"]
        assert header["LSST LINEAGE SIDECAR"] == prov_url
        (tmp_path / "f.fits").write_bytes(stamped.content)
        assert fits_header.original_sha256(tmp_path / "f.fits") == f"sha256:{node['checksum']}"
        with fits.open(io.BytesIO(stamped.content)) as mine, \
                fits.open(io.BytesIO(plain.content)) as theirs:
            assert all((a.data == b.data).all() for a, b in zip(mine[1:], theirs[1:]))
        # a catalog has no header to carry it: the same bytes, and the Link
        catalog = ok(client, DATASETS, {"types": ["dia_source"]})["datasets"]["edges"][0]["node"]
        same = client.get(catalog["fileUrl"], params={"provenance": "true"})
        assert hashlib.sha256(same.content).hexdigest() == catalog["checksum"]
        assert catalog["uuid"] in same.headers["link"]


def test_no_link_and_404_where_the_datastore_has_no_file(demo_files):
    with client_for(demo_files) as client:
        # the small demo writes no coadd images: the graph names a file that is not there
        coadd = ok(client, DATASETS, {"types": ["deepCoadd"]})["datasets"]["edges"][0]["node"]
        assert coadd["uri"] and coadd["fileUrl"] is None
        not_found(client.get(f"/datasets/{coadd['uuid']}/file"), "has no file", coadd["uuid"])
        stranger = str(uuid.uuid4())
        not_found(client.get(f"/datasets/{stranger}/file"), f"no dataset {stranger}")
        not_found(client.get("/datasets/not-a-uuid/file"), "'not-a-uuid' is not a dataset UUID")
        # a path in the route is a value, never a path below the datastore
        not_found(client.get("/datasets/..%2F..%2Flineage.json/file"), "is not a dataset UUID")
        not_found(client.get("/datasets/%2Fetc%2Fpasswd/file"), "is not a dataset UUID")


def test_a_server_without_datastore_gives_no_link(demo_files, tmp_path):
    from fastapi.testclient import TestClient

    from lineage.api.app import create_app
    from lineage.api.settings import ApiSettings
    from lineage.store.repo import open_store
    with open_store(demo_files) as store:
        app = create_app(store=store, settings=ApiSettings())
        with TestClient(app, client=("127.0.0.1", 40000)) as client:
            node = ok(client, DATASETS, {"types": ["calexp"]})["datasets"]["edges"][0]["node"]
            assert node["fileUrl"] is None
            not_found(client.get(f"/datasets/{node['uuid']}/file"), "no datastore")
        # the datastore given to the server instead of the repository's
        app = create_app(store=store, settings=ApiSettings(
            datastore=demo_files / "datastore"))
        with TestClient(app, client=("127.0.0.1", 40000)) as client:
            node = ok(client, DATASETS, {"types": ["calexp"]})["datasets"]["edges"][0]["node"]
            assert client.get(node["fileUrl"]).status_code == 200


def test_reading_a_file_needs_what_reading_graphql_needs(demo_files):
    with client_for(demo_files) as client:
        node = ok(client, DATASETS, {"types": ["calexp"]})["datasets"]["edges"][0]["node"]
    _, reader = TokenStore(demo_files).create("reader", "reader")
    for host, settings in (("10.1.2.3", {}), ("127.0.0.1", {"read_access": "token"})):
        with client_for(demo_files, host=host, **settings) as client:
            refused = client.get(node["fileUrl"])
            assert refused.status_code == 401
            assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            assert "needs an API token" in refused.json()["errors"][0]["message"]
            bad = client.get(node["fileUrl"], headers={"Authorization": "Bearer lin_x_y"})
            assert bad.status_code == 401
            allowed = client.get(node["fileUrl"], headers={"Authorization": f"Bearer {reader}"})
            assert allowed.status_code == 200 and allowed.content[:6] == b"SIMPLE"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    h = build(tmp_path_factory.mktemp("hostile"))
    yield h
    FalkorServer(h.repo).stop()


def test_values_leading_outside_the_datastore_are_refused(hostile):
    """Every dataset whose stored uri, path or run would lead outside the datastore (``..``,
    an absolute path elsewhere, a symbolic link out of it, another scheme or host) is
    refused with 403 and its reason, never served; the good ones are served whole."""
    with client_for(hostile.repo) as client:
        for key, (_, content) in hostile.good.items():
            answer = client.get(f"/datasets/{key.split(':', 1)[1]}/file")
            assert answer.status_code == 200 and answer.content == content
        for key, shown in hostile.bad.items():
            answer = client.get(f"/datasets/{key.split(':', 1)[1]}/file")
            assert answer.status_code == 403, (shown, answer.text)
            assert SECRET not in answer.content
            error = answer.json()["errors"][0]
            assert error["extensions"]["code"] == "FORBIDDEN"
            assert "refused" in error["message"] and shown in error["message"], error
        found = {}
        for key in hostile.records:
            node = ok(client, "query($id: String!) { dataset(id: $id) { key fileUrl } }",
                      {"id": key.split(":", 1)[1]})["dataset"]
            found[node["key"]] = node["fileUrl"]
    assert {k for k, url in found.items() if url} == set(hostile.good)


def test_a_butler_repository_as_the_datastore(store, provenance_qg):
    """The server's datastore a real Butler repository: the files are the Butler's."""
    from fastapi.testclient import TestClient
    from lsst.daf.butler import Butler

    from lineage.api.app import create_app
    from lineage.api.settings import ApiSettings
    from lineage.ingest.driver import ingest
    butler_repo = provenance_qg.parent / "repo"
    assert not ingest(store, "run", [provenance_qg], show_progress=False).rejected
    keys = [k for (k,) in store.read("MATCH (:Quantum)-[:PRODUCED]->(d:Dataset) "
                                     "RETURN DISTINCT d.key ORDER BY d.key")]
    app = create_app(store=store, settings=ApiSettings(datastore=f"butler:{butler_repo}"))
    served = 0
    with TestClient(app, client=("127.0.0.1", 40000)) as client, \
            Butler.from_config(str(butler_repo)) as butler:
        for key in keys:
            uid = key.split(":", 1)[1]
            ref = butler.get_dataset(uuid.UUID(uid))
            path = Path(butler.getURI(ref).ospath)
            url = ok(client, "query($id: String!) { dataset(id: $id) { fileUrl } }",
                     {"id": uid})["dataset"]["fileUrl"]
            if not path.is_file():   # a failed quantum's outputs: not written
                assert url is None
                continue
            assert url == f"/datasets/{uid}/file"
            answer = client.get(url)
            assert answer.status_code == 200 and answer.content == path.read_bytes()
            served += 1
        assert served > 0
        stranger = f"{uuid.uuid4()}"
        not_found(client.get(f"/datasets/{stranger}/file"), "no dataset")

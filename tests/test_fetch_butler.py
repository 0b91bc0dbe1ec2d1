"""The Butler datastore of ``lineage fetch`` against a real Butler repository: the one
``scripts/make_provenance_qg.py`` makes (lsst-pipe-base's mock tasks write their outputs
through the Butler), after ``lineage ingest run`` of its provenance graph.  Expectations
come from the Butler itself; skipped without lsst-pipe-base / lsst-daf-butler."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

from lineage.fetch.datastore import DatastoreError, make_datastore, resolve
from lineage.fetch.transfer import fetch
from lineage.ingest.driver import ingest


def _produced(store) -> list[str]:
    return [k for (k,) in store.read("MATCH (:Quantum)-[:PRODUCED]->(d:Dataset) "
                                     "RETURN DISTINCT d.key ORDER BY d.key")]


def test_butler_datastore_finds_what_the_butler_wrote(store, provenance_qg, tmp_path):
    from lsst.daf.butler import Butler
    repo = provenance_qg.parent / "repo"
    assert not ingest(store, "run", [provenance_qg], show_progress=False).rejected
    keys = _produced(store)
    assert keys
    datastore = make_datastore(f"butler:{repo}")
    artifacts = resolve(store, keys, datastore)
    with Butler.from_config(str(repo)) as butler:
        expected = {}
        for key in keys:
            ref = butler.get_dataset(uuid.UUID(key.split(":", 1)[1]))
            expected[key] = str(butler.getURI(ref))
    assert {a.key: a.uri for a in artifacts} == expected
    assert all(a.uri.startswith("file://") for a in artifacts)
    # fetched files are the Butler's bytes, with a manifest
    results = fetch(artifacts, tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(results) == len(keys) == manifest["count"] == len(manifest["artifacts"])
    assert manifest["failed"] == 0
    for a, r in zip(artifacts, results):
        source = Path(a.uri[len("file://"):]).read_bytes()
        copied = (tmp_path / "out" / r["path"]).read_bytes()
        assert copied == source
        assert r["sha256"] == "sha256:" + hashlib.sha256(source).hexdigest()


def test_butler_datastore_names_a_dataset_it_does_not_hold(store, provenance_qg, tmp_path):
    repo = provenance_qg.parent / "repo"
    datastore = make_datastore(f"butler:{repo}")
    stranger = f"dataset:{uuid.uuid4()}"
    with pytest.raises(DatastoreError, match=f"{stranger}: the Butler repository .* has no "
                                             "such dataset"):
        datastore.uri_of(stranger, {})

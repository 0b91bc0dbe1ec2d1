"""Provenance inside fetched files (``lineage fetch --with-provenance``) and recognising files
that come back (``lineage identify``), on the small demo with images (embedded engine), as a
user runs the commands.  The truth is the graph (read with Cypher here), astropy's reading of
the files, the ``prov`` package's reading of the sidecars and, for the header's format, the
Butler's own ``DatasetProvenance`` on a real Butler repository."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import lineage
from lineage.demo import default_visit
from lineage.fetch.datastore import Artifact
from lineage.fetch.transfer import fetch
from lineage.standards import fits_header
from lineage.standards.stamp import FileProvenance, Stamper, provenance_of
from lineage.store.repo import open_store

from .conftest import SMALL
from .test_cli import lineage as run
from .test_fetch_graph import demo_repo  # noqa: F401  (the small demo with images, per module)

VISIT = default_visit(SMALL)


@pytest.fixture(scope="module")
def fetched(demo_repo, tmp_path_factory):
    """The calexps and DIA source catalogs downstream of a visit, fetched with provenance."""
    out = tmp_path_factory.mktemp("fetched") / "out"
    results = json.loads(run("fetch", f"visit={VISIT}", "--downstream", "--type",
                             "calexp,dia_source", "--to", str(out), "--with-provenance",
                             "--json", "--repo", str(demo_repo)).stdout)
    return out, results


def _truth(repo, key: str) -> dict:
    """The graph's record of a dataset: its properties, producer and direct inputs."""
    with open_store(repo) as store:
        (props,), = store.read("MATCH (d:Dataset {key: $k}) RETURN properties(d)", {"k": key})
        producer = store.read("MATCH (q:Quantum)-[:PRODUCED]->(:Dataset {key: $k}) "
                              "OPTIONAL MATCH (q)-[:RAN_WITH]->(s:SoftwareVersion) "
                              "RETURN q.key, q.task, q.task_class, s.name", {"k": key})
        inputs = store.read("MATCH (i:Dataset)-[:INPUT_TO]->(:Quantum)-[:PRODUCED]->"
                            "(:Dataset {key: $k}) RETURN i.key, i.run, i.dataset_type",
                            {"k": key})
    return {"props": props, "producer": producer[0] if producer else None, "inputs": inputs}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_fetched_fits_file_names_its_dataset_and_inputs(demo_repo, fetched):
    out, results = fetched
    calexps = [r for r in results if r["dataset_type"] == "calexp"]
    assert calexps and all(r["status"] == "copied" for r in results)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "source_sha256" in manifest["checksums"]
    for r in calexps:
        truth = _truth(demo_repo, r["key"])
        path = out / r["path"]
        header = fits.getheader(path)
        assert header["LSST BUTLER ID"] == r["key"].split(":", 1)[1]
        assert header["LSST BUTLER RUN"] == truth["props"]["run"]
        assert header["LSST BUTLER DATASETTYPE"] == "calexp"
        assert header["LSST BUTLER DATAID VISIT"] == VISIT
        quantum, task, task_class, software = truth["producer"]
        assert header["LSST BUTLER QUANTUM"] == quantum.split(":", 1)[1]
        assert (header["LSST LINEAGE TASK"], header["LSST LINEAGE TASK CLASS"],
                header["LSST LINEAGE SOFTWARE"]) == (task, task_class, software)
        n = header["LSST BUTLER N_INPUTS"]
        named = {(header[f"LSST BUTLER INPUT {i} ID"], header[f"LSST BUTLER INPUT {i} RUN"],
                  header[f"LSST BUTLER INPUT {i} DATASETTYPE"]) for i in range(n)}
        assert named == {(k.split(":", 1)[1], run_, t) for k, run_, t in truth["inputs"]}
        assert n == len(truth["inputs"]) > 0
        # the data are the datastore's, untouched there; only the primary header grew
        source = Path(r["source"])
        assert _sha256(source) == truth["props"]["checksum"]
        with fits.open(path) as mine, fits.open(source) as theirs:
            assert len(mine) == len(theirs) == 3
            for a, b in zip(mine[1:], theirs[1:]):
                assert a.header == b.header and np.array_equal(a.data, b.data)
        assert fits_header.original_sha256(path) == "sha256:" + truth["props"]["checksum"]
        # the manifest's checksums: the written file's, and the datastore's
        assert r["sha256"] == "sha256:" + _sha256(path) != r["source_sha256"]
        assert r["source_sha256"] == "sha256:" + truth["props"]["checksum"]
        assert r["provenance"]["header"] == "LSST BUTLER and LSST LINEAGE cards"
        assert header["LSST LINEAGE SIDECAR"] == path.name + ".prov.json"


def test_the_sidecar_is_the_whole_upstream_as_prov(demo_repo, fetched):
    from prov.model import ProvDocument
    out, results = fetched
    r = next(r for r in results if r["dataset_type"] == "dia_source")
    doc = ProvDocument.deserialize(out / r["provenance"]["sidecar"], format="json")
    with open_store(demo_repo) as store:
        upstream = {k for k, in store.read(
            "MATCH (u:Dataset)-[:INPUT_TO|PRODUCED*1..20]->(:Dataset {key: $k}) "
            "RETURN DISTINCT u.key", {"k": r["key"]})}
    entities = {str(e.identifier) for e in doc.get_records() if e.get_type().localpart == "Entity"}
    uuids = {e.rsplit("/", 1)[1] for e in entities if "dataset/" in e}
    assert upstream and uuids == {k.split(":", 1)[1] for k in upstream | {r["key"]}}
    assert any(t.startswith("raw") for t in (_truth(demo_repo, k)["props"]["dataset_type"]
                                             for k in upstream))
    # a non-FITS file has its sidecar only, and its bytes are the datastore's
    assert r["provenance"]["header"] is None
    assert r["sha256"] == r["source_sha256"] == "sha256:" + _sha256(out / r["path"])


def test_a_rerun_keeps_what_is_whole_and_rewrites_what_changed(demo_repo, fetched, tmp_path):
    out, results = fetched
    again = json.loads(run("fetch", f"visit={VISIT}", "--downstream", "--type",
                           "calexp,dia_source", "--to", str(out), "--with-provenance", "--json",
                           "--repo", str(demo_repo)).stdout)
    assert {r["status"] for r in again} == {"present"}
    assert [r["sha256"] for r in again] == [r["sha256"] for r in results]
    assert all(r["provenance"] for r in again)
    changed = next(r for r in results if r["dataset_type"] == "calexp")
    with fits.open(out / changed["path"], mode="update") as f:
        f[1].data[0, 0] += 1
    third = json.loads(run("fetch", f"visit={VISIT}", "--downstream", "--type", "calexp",
                           "--to", str(out), "--with-provenance", "--json",
                           "--repo", str(demo_repo)).stdout)
    status = {r["key"]: r["status"] for r in third}
    assert status.pop(changed["key"]) == "copied" and set(status.values()) == {"present"}
    assert _sha256(out / changed["path"]) == changed["sha256"].split(":", 1)[1]


def test_identify_names_files_and_sees_changes(demo_repo, fetched, tmp_path):
    out, results = fetched
    calexp = next(r for r in results if r["dataset_type"] == "calexp")
    catalog = next(r for r in results if r["dataset_type"] == "dia_source")
    plain = json.loads(run("fetch", calexp["key"], "--to", str(tmp_path / "plain"), "--json",
                           "--repo", str(demo_repo)).stdout)[0]
    modified = tmp_path / "modified.fits"
    modified.write_bytes((out / calexp["path"]).read_bytes())
    with fits.open(modified, mode="update") as f:
        f[1].data[3, 3] *= 2
    stranger = tmp_path / "stranger.txt"
    stranger.write_text("not a dataset\n")
    files = [out / calexp["path"], tmp_path / "plain" / plain["path"], out / catalog["path"],
             modified, stranger]
    answer = run("identify", *map(str, files), "--json", "--repo", str(demo_repo), check=False)
    assert answer.returncode == 1    # not every file matched
    rows = json.loads(answer.stdout)
    got = [(r["verdict"], r["by"], r["key"]) for r in rows]
    assert got == [("matches", "header", calexp["key"]), ("matches", "checksum", calexp["key"]),
                   ("matches", "checksum", catalog["key"]), ("differs", "header", calexp["key"]),
                   ("unknown", "", "")]
    assert "its bytes were changed" in rows[3]["note"] and calexp["source_sha256"] in rows[3]["note"]
    assert "no dataset has its checksum" in rows[4]["note"]
    assert rows[0]["data_id"] == calexp["data_id"] and rows[0]["run"] == calexp["run"]
    # every file a dataset, byte for byte: exit status 0; and the Python API says the same
    assert run("identify", str(files[0]), "--repo", str(demo_repo)).returncode == 0
    with lineage.Repository(demo_repo) as repo:
        rows = list(repo.identify(files[0], modified))
    assert [r["verdict"] for r in rows] == ["matches", "differs"]


def test_links_cannot_carry_provenance(demo_repo, tmp_path):
    answer = run("fetch", f"visit={VISIT}", "--downstream", "--type", "calexp", "--to",
                 str(tmp_path / "links"), "--link", "--with-provenance", "--repo",
                 str(demo_repo), check=False)
    assert answer.returncode == 2 and "--link would change the datastore's own files" in \
        answer.stderr
    assert not (tmp_path / "links").exists()


def test_the_butler_reads_the_cards_as_its_own(store, provenance_qg):
    """The LSST BUTLER cards are what daf_butler's ``DatasetProvenance.to_flat_dict`` gives for
    the same dataset, and its ``from_flat_dict`` reads them back into the same refs."""
    pytest.importorskip("lsst.daf.butler")
    from lsst.daf.butler import Butler, DatasetProvenance
    from lineage.ingest.driver import ingest
    assert not ingest(store, "run", [provenance_qg], show_progress=False).rejected
    produced = [k for k, in store.read("MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset) "
                                       "WHERE (d)-[:INPUT_TO]->() AND ()-[:INPUT_TO]->(q) "
                                       "RETURN DISTINCT d.key ORDER BY d.key")]
    records = provenance_of(store, produced)
    assert produced and all(records[k].inputs for k in produced)
    with Butler.from_config(str(provenance_qg.parent / "repo")) as butler:
        for key in produced:
            record = records[key]
            cards = {k: v for k, v, _ in record.butler_cards()}
            provenance, ref = DatasetProvenance.from_flat_dict(cards, butler)
            assert str(ref.id) == record.uuid and ref.run == record.run
            assert str(provenance.quantum_id) == record.quantum
            assert [str(i.id) for i in provenance.inputs] == [i[0] for i in record.inputs]
            theirs = provenance.to_flat_dict(ref, prefix="LSST BUTLER", sep=" ",
                                             simple_types=True, max_inputs=3000)
            assert {k: v for k, v in cards.items() if " DATAID " not in k} == \
                {k: v for k, v in theirs.items() if " DATAID " not in k}
            assert {k: v for k, v in theirs.items() if " DATAID " in k}.items() <= cards.items()


def _fits_file(path: Path, cards=()) -> str:
    header = fits.Header()
    for k, v in cards:
        header[f"HIERARCH {k}"] = v
    fits.HDUList([fits.PrimaryHDU(header=header),
                  fits.ImageHDU(np.arange(50000, dtype=np.float32).reshape(200, 250))]
                 ).writeto(path)
    return _sha256(path)


def _record() -> FileProvenance:
    return FileProvenance(str(uuid.uuid4()), "run/a", "calexp", "detector=1,visit=5",
                          str(uuid.uuid4()), "calibrate", "pkg.CalibrateTask", "w.2026.20",
                          [(str(uuid.uuid4()), "run/a", "post_isr_image", False),
                           (str(uuid.uuid4()), "run/a", "camera", True)], '{"prefix": {}}')


def _artifact(source: Path, key: str, digest: str) -> Artifact:
    return Artifact(key, str(source), "fits", source.stat().st_size, "sha256:" + digest,
                    source.name, "calexp", "detector=1,visit=5", "run/a", str(source.parent))


def test_a_file_with_its_own_butler_cards_keeps_them(tmp_path):
    record = _record()
    (tmp_path / "store").mkdir()
    source = tmp_path / "store" / "own.fits"
    digest = _fits_file(source, [("LSST BUTLER ID", record.uuid), ("LSST BUTLER RUN", "run/a")])
    key = f"dataset:{record.uuid}"
    [result] = fetch([_artifact(source, key, digest)], tmp_path / "out",
                     finish=Stamper({key: record}))
    header = fits.getheader(tmp_path / "out" / "own.fits")
    assert result["provenance"]["header"] == \
        "LSST LINEAGE cards (the file's own LSST BUTLER cards kept)"
    assert "LSST BUTLER QUANTUM" not in header and header["LSST BUTLER RUN"] == "run/a"
    assert header["LSST LINEAGE TASK"] == "calibrate"
    assert _sha256(source) == digest
    assert fits_header.original_sha256(tmp_path / "out" / "own.fits") == "sha256:" + digest


def test_a_rejected_input_is_a_butler_extra(tmp_path):
    record = _record()
    cards = {k: v for k, v, _ in record.butler_cards()}
    assert cards["LSST BUTLER N_INPUTS"] == 2 and cards["LSST BUTLER INPUT 1 REJECTED"] is True
    assert "LSST BUTLER INPUT 0 REJECTED" not in cards
    # past 3000 inputs the Butler records the count only, and so do we
    record.inputs = record.inputs * 1501
    cards = {k: v for k, v, _ in record.butler_cards()}
    assert cards["LSST BUTLER N_INPUTS"] == 3002 and "LSST BUTLER INPUT 0 ID" not in cards


#: Fetches one large FITS file with provenance again and again (the copy removed each time),
#: to be killed somewhere in the middle.
WRITER = """
import sys, shutil
from pathlib import Path
from lineage.fetch.datastore import Artifact
from lineage.fetch.transfer import fetch
from lineage.standards.stamp import FileProvenance, Stamper
source, digest, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
record = FileProvenance("0e9cf5b4-2b53-4b43-9a8e-0d1c1f3c6a11", "run/a", "calexp",
                        "visit=5", None, None, None, None, [], '{"prefix": {}}')
key = "dataset:" + record.uuid
artifact = Artifact(key, str(source), "fits", source.stat().st_size, "sha256:" + digest,
                    source.name, "calexp", "visit=5", "run/a", str(source.parent))
for n in range(10**9):
    fetch([artifact], out, finish=Stamper({key: record}))
    print(n, flush=True)
    (out / source.name).unlink()
"""


def test_kill_9_while_stamping_leaves_no_half_file(tmp_path):
    (tmp_path / "store").mkdir()
    source = tmp_path / "store" / "big.fits"
    header = fits.Header()
    fits.HDUList([fits.PrimaryHDU(header=header),
                  fits.ImageHDU(np.random.default_rng(3).normal(size=(2000, 2000)
                                                                ).astype(np.float32))]
                 ).writeto(source)
    digest = _sha256(source)
    out = tmp_path / "out"
    target = out / "big.fits"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    rng = random.Random(11)
    for _ in range(6):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(source), digest, str(out)],
                                  env=env, stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline()          # one whole fetch done: the next is under way
        time.sleep(rng.random() * 0.15)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        # whatever the moment: the file is absent or whole (stamped, the datastore's bytes
        # within), and a file in place has its sidecar
        if target.exists():
            assert fits_header.original_sha256(target) == "sha256:" + digest
            assert (out / "big.fits.prov.json").is_file()
        assert _sha256(source) == digest
    record = FileProvenance("0e9cf5b4-2b53-4b43-9a8e-0d1c1f3c6a11", "run/a", "calexp",
                            "visit=5", None, None, None, None, [], '{"prefix": {}}')
    key = f"dataset:{record.uuid}"
    artifact = Artifact(key, str(source), "fits", source.stat().st_size, "sha256:" + digest,
                        source.name, "calexp", "visit=5", "run/a", str(source.parent))
    [result] = fetch([artifact], out, finish=Stamper({key: record}))
    assert result["status"] in ("copied", "resumed", "present")
    assert fits_header.original_sha256(target) == "sha256:" + digest
    assert not (out / "big.fits.part").exists()


def test_a_sidecar_never_takes_another_files_place(tmp_path):
    """A dataset whose sidecar would take the place of another dataset's file is refused,
    naming both; the other is fetched with its provenance."""
    record = _record()
    (tmp_path / "store").mkdir()
    source = tmp_path / "store" / "a.fits"
    digest = _fits_file(source)
    key = f"dataset:{record.uuid}"
    impostor = tmp_path / "store" / "impostor.json"
    impostor.write_text("{}")
    other = FileProvenance(str(uuid.uuid4()), "run/a", "catalog", "visit=5")
    other_key = f"dataset:{other.uuid}"
    artifacts = [_artifact(source, key, digest),
                 Artifact(other_key, str(impostor), "json", impostor.stat().st_size,
                          "sha256:" + _sha256(impostor), "a.fits.prov.json", "catalog",
                          "visit=5", "run/a", str(impostor.parent))]
    with pytest.raises(Exception) as failed:
        fetch(artifacts, tmp_path / "out", finish=Stamper({key: record, other_key: other}))
    results = failed.value.results
    assert results[0]["status"] == "refused" and results[1]["status"] == "copied"
    assert "its provenance file 'a.fits.prov.json' below the fetch directory is the place " \
           f"of catalog visit=5 in run/a ({other.uuid})" in results[0]["error"]
    assert json.loads((tmp_path / "out" / "a.fits.prov.json").read_text()) == {}
    assert not (tmp_path / "out" / "a.fits").exists()


def test_identify_says_why_a_broken_fits_file_is_unknown(demo_repo, tmp_path):
    broken = tmp_path / "broken.fits"
    broken.write_bytes(b"SIMPLE  =                    T" + b" " * 50 + b"X" * 100)
    rows = json.loads(run("identify", str(broken), str(tmp_path / "absent.fits"), "--json",
                          "--repo", str(demo_repo), check=False).stdout)
    assert [r["verdict"] for r in rows] == ["unknown", "unknown"]
    assert "the primary header has no END card" in rows[0]["note"]
    assert rows[1]["note"] == "no such file"

"""W3C PROV out and back in (docs/standards.md): `lineage prov`, `lineage export --format
prov-json`, `lineage ingest prov`, on the small demo and every engine.

Expected answers come from the graph the document was made from (lineage traversals and
Cypher over the demo store), never from the code under test.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from prov.model import PROV, ProvActivity, ProvDerivation, ProvDocument, ProvInvalidation

from lineage import flags
from lineage.core.time import TAI_MINUS_UTC
from lineage.demo import default_visit
from lineage.ingest.driver import ingest
from lineage.ingest.formats.prov import LSST
from lineage.standards.prov import document, prov_id, selection, serialize
from lineage.traversal.traverse import DOWN, UP, traverse

from .cli_runner import run
from .conftest import SMALL, EngineFactory

# prov's Turtle reader uses an rdflib name rdflib 7.1 deprecated
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context:DeprecationWarning")

#: ``ProvDocument.deserialize`` arguments of each format ``prov`` reads back.
READ_BACK = {"json": {"format": "json"}, "xml": {"format": "xml"},
             "turtle": {"format": "rdf", "rdf_format": "turtle"}}


def _one(store, query: str) -> str:
    return store.read(query)[0][0]


def _coadd(store) -> str:
    """The coadd made from the most warps (the first by key of those)."""
    return _one(store, "MATCH (w:Dataset {dataset_type: 'deepCoadd_directWarp'})-[:INPUT_TO]->"
                       "(:Quantum)-[:PRODUCED]->(d:Dataset {dataset_type: 'deepCoadd'}) "
                       "RETURN d.key, count(w) AS n ORDER BY n DESC, d.key LIMIT 1")


@pytest.fixture
def empty_store(_demo_store_module, request, tmp_path_factory):
    """An empty store on the engine of ``demo_store_ro``: where its lineage is read back."""
    factory = EngineFactory(_demo_store_module[0], request, tmp_path_factory)
    yield factory.new()
    factory.close()


def _answers(store, keys, directions=(UP, DOWN)) -> dict:
    """Upstream and downstream of each dataset: key, type, data ID and run of each row."""
    return {(k, d): [(r.key, r.dataset_type, r.data_id, r.run) for r in traverse(store, k, d)]
            for k in keys for d in directions}


def _ingest(store, path):
    summary = ingest(store, "prov", [path], show_progress=False)
    return summary.files[0]


def test_selection_round_trip(demo_store_ro, empty_store, tmp_path):
    """The upstream of a coadd, as PROV-JSON, read into an empty repository: the coadd's
    upstream and each of its inputs' downstream (within the selection) are the same."""
    coadd = _coadd(demo_store_ro)
    datasets, quanta = selection(demo_store_ro, coadd, UP)
    path = tmp_path / "up.json"
    path.write_text(serialize(document(demo_store_ro, datasets, quanta), "json"))
    empty = empty_store
    outcome = _ingest(empty, path)
    assert outcome.status == "added", outcome.error
    original = traverse(demo_store_ro, coadd, UP)
    assert _answers(empty, [coadd], [UP]) == _answers(demo_store_ro, [coadd], [UP])
    assert len(original) == len(datasets) - 1 > 20
    # downstream of an input, in the copy, is what the selection holds of it
    raw = next(r.key for r in original if r.dataset_type == "raw")
    kept = {(r.key, r.dataset_type, r.data_id, r.run) for r in traverse(demo_store_ro, raw, DOWN)
            if r.key in datasets}
    assert {(r.key, r.dataset_type, r.data_id, r.run) for r in traverse(empty, raw, DOWN)} == kept


@pytest.mark.parametrize("fmt, suffix", [("xml", ".xml"), ("turtle", ".ttl")])
def test_xml_and_turtle_read_back(demo_store_ro, empty_store, tmp_path, fmt, suffix):
    """The same selection as PROV-XML and Turtle reads back to the same upstream."""
    coadd = _coadd(demo_store_ro)
    path = tmp_path / f"up{suffix}"
    path.write_text(serialize(document(demo_store_ro, *selection(demo_store_ro, coadd, UP)), fmt))
    outcome = _ingest(empty_store, path)
    assert outcome.status == "added", outcome.error
    assert _answers(empty_store, [coadd], [UP]) == _answers(demo_store_ro, [coadd], [UP])


def test_whole_export_round_trip(demo_store_ro, empty_store, tmp_path):
    """`lineage export --format prov-json`'s document of the whole demo, read into an empty
    repository: as many datasets and quanta, and the same upstream and downstream of a bias,
    a raw, a calexp and a coadd."""
    path = tmp_path / "all.json"
    path.write_text(serialize(document(demo_store_ro), "json"))
    empty = empty_store
    outcome = _ingest(empty, path)
    assert outcome.status == "added", outcome.error
    keys = [r[0] for r in demo_store_ro.read(
        "MATCH (d:Dataset) WHERE d.dataset_type IN $types WITH d.dataset_type AS t, "
        "min(d.key) AS k RETURN k ORDER BY k", {"types": ["raw", "calexp", "deepCoadd", "bias"]})]
    assert len(keys) == 4
    assert _answers(empty, keys) == _answers(demo_store_ro, keys)
    counts = {k: v for k, v in zip(("datasets", "quanta"), (
        _one(empty, "MATCH (d:Dataset) RETURN count(d)"),
        _one(empty, "MATCH (q:Quantum) RETURN count(q)")))}
    assert counts == {"datasets": _one(demo_store_ro, "MATCH (d:Dataset) RETURN count(d)"),
                      "quanta": _one(demo_store_ro, "MATCH (q:Quantum) RETURN count(q)")}
    # a second read adds nothing
    assert _ingest(empty, path).status == "unchanged"


@pytest.mark.parametrize("fmt", sorted(READ_BACK))
def test_each_format_parses_back(demo_store_ro, fmt):
    """JSON, XML and Turtle read back with `prov` as the same document."""
    coadd = _coadd(demo_store_ro)
    doc = document(demo_store_ro, *selection(demo_store_ro, coadd, UP, depth=1))
    back = ProvDocument.deserialize(content=serialize(doc, fmt), **READ_BACK[fmt])
    assert back == doc


def test_provn_names_the_records(demo_store_ro):
    """PROV-N (which `prov` writes but cannot read): one statement per line, with the
    coadd's derivations."""
    coadd = _coadd(demo_store_ro)
    text = serialize(document(demo_store_ro, *selection(demo_store_ro, coadd, UP, depth=1)),
                     "provn")
    assert text.startswith("document\n  prefix lsst <urn:x-survey-lineage:>")
    uuid = coadd.split(":", 1)[1]
    assert f"wasDerivedFrom(lsst:dataset/{uuid}, lsst:dataset/" in text
    assert text.rstrip().endswith("endDocument")


def test_activity_has_the_quantum_times_and_host(demo_store_ro):
    """The coadd's quantum: start and end in UTC (TAI - 37 s), its host, its task as the
    agent under the plan of its task class."""
    coadd = _coadd(demo_store_ro)
    key, start, end, host, task_class = demo_store_ro.read(
        "MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset {key: $k}) "
        "RETURN q.key, q.start, q.end, q.host, q.task_class", {"k": coadd})[0]
    doc = document(demo_store_ro, *selection(demo_store_ro, coadd, UP, depth=1))
    [activity] = [a for a in doc.get_records(ProvActivity)
                  if LSST["Quantum"] in a.get_asserted_types()]
    utc = dt.timezone.utc
    assert activity.get_startTime() == dt.datetime.fromisoformat(start).replace(tzinfo=utc) \
        - TAI_MINUS_UTC
    assert activity.get_endTime() == dt.datetime.fromisoformat(end).replace(tzinfo=utc) \
        - TAI_MINUS_UTC
    assert activity.get_attribute(LSST["host"]) == {host}
    assert activity.get_attribute(LSST["key"]) == {key}
    associations = json.loads(serialize(doc, "json"))["wasAssociatedWith"].values()
    plans = {a["prov:plan"] for a in associations if "prov:plan" in a}
    assert plans == {f"lsst:plan/{task_class}"}


def test_coadd_was_derived_from_its_warps(demo_store_ro):
    coadd = _coadd(demo_store_ro)
    warps = {r.key for r in traverse(demo_store_ro, coadd, UP, depth=1)
             if r.dataset_type == "deepCoadd_directWarp"}
    assert len(warps) > 1
    doc = document(demo_store_ro, *selection(demo_store_ro, coadd, UP, depth=1))
    derived = {next(iter(d.get_attribute(PROV["usedEntity"]))).localpart
               for d in doc.get_records(ProvDerivation)
               if next(iter(d.get_attribute(PROV["generatedEntity"]))).localpart
               == "dataset/" + coadd.split(":", 1)[1]}
    assert {f"dataset/{k.split(':', 1)[1]}" for k in warps} <= derived


@pytest.mark.parametrize("engine", ["falkordb"], indirect=True)
def test_flag_invalidates_flagged_datasets_and_marks_the_rest(demo_store):
    """An active flag: an entity made by a flagging activity of the flagger, which
    invalidates the datasets it names directly; the coadds it reaches carry marks."""
    visit = default_visit(SMALL)
    flags.flag(demo_store, f"visit={visit}", verdict="bad", reason="satellite trail",
               evidence="https://jira.example.org/browse/DM-1", by="alice")
    flag_key = _one(demo_store, "MATCH (f:Flag) RETURN f.key")
    flagged = {r[0] for r in demo_store.read(
        "MATCH (f:Flag {key: $k})-[:FLAGS]->(d:Dataset) RETURN d.key", {"k": flag_key})}
    doc = document(demo_store, *selection(demo_store, f"visit={visit}", DOWN))
    invalidated = {next(iter(i.get_attribute(PROV["entity"]))).localpart
                   for i in doc.get_records(ProvInvalidation)}
    assert invalidated == {f"dataset/{k.split(':', 1)[1]}" for k in flagged}
    text = serialize(doc, "provn")
    flagging = f"lsst:flagging/{flag_key.split(':', 1)[1]}"
    assert f"wasAssociatedWith({flagging}, lsst:person/alice" in text
    assert f"wasGeneratedBy(lsst:flag/{flag_key.split(':', 1)[1]}, {flagging}" in text
    coadd_marks = demo_store.read(
        "MATCH (d:Dataset {dataset_type: 'deepCoadd'})-[c:CONTAMINATED_BY]->(f:Flag {key: $k}) "
        "RETURN d.key, c.steps, c.fraction ORDER BY d.key LIMIT 1", {"k": flag_key})
    key, steps, fraction = coadd_marks[0]
    assert f'lsst:contaminated_by="{flag_key} steps={steps} fraction={fraction}"' in text


@pytest.mark.parametrize("engine", ["falkordb"], indirect=True)
def test_two_flags_on_a_dataset_give_one_invalidation_by_the_earlier(demo_store, engine,
                                                                     tmp_path):
    """PROV allows one invalidation per entity: a dataset two active flags name directly is
    invalidated by the earlier flag's flagging (by created_at; here written second), the
    later flag is its ``lsst:also_flagged_by``, and the document still reads back."""
    visit = default_visit(SMALL)
    for reason, created in (("focus drift", "2026-12-08T02:00:00Z"),
                            ("satellite trail", "2026-12-08T01:00:00Z")):
        flags.flag(demo_store, f"visit={visit}", verdict="bad", reason=reason,
                   evidence="https://jira.example.org/browse/DM-1", by="alice", now=created)
    (earlier, *_), (later, *_) = demo_store.read(
        "MATCH (f:Flag) RETURN f.key, f.created_at ORDER BY f.created_at")
    flagged = {r[0] for r in demo_store.read(
        "MATCH (f:Flag {key: $k})-[:FLAGS]->(d:Dataset) RETURN d.key", {"k": earlier})}
    assert flagged == {r[0] for r in demo_store.read(
        "MATCH (f:Flag {key: $k})-[:FLAGS]->(d:Dataset) RETURN d.key", {"k": later})}
    doc = document(demo_store, *selection(demo_store, f"visit={visit}", DOWN))
    by_dataset: dict = {}
    for invalidation in doc.get_records(ProvInvalidation):
        entity = next(iter(invalidation.get_attribute(PROV["entity"]))).localpart
        by_dataset.setdefault(entity, []).append(
            next(iter(invalidation.get_attribute(PROV["activity"]))).localpart)
    assert by_dataset == {f"dataset/{k.split(':', 1)[1]}": [f"flagging/{earlier.split(':', 1)[1]}"]
                          for k in flagged}
    for key in flagged:
        (entity,) = doc.get_record(LSST[f"dataset/{key.split(':', 1)[1]}"])
        assert entity.get_attribute(LSST["also_flagged_by"]) == {later}
    path = tmp_path / "two-flags.json"
    path.write_text(serialize(doc, "json"))
    outcome = _ingest(engine.new(), path)
    assert outcome.status == "added", outcome.error
    assert outcome.skipped == ["2 flag records: flags are not read (docs/standards.md)"]


def test_not_prov_and_not_ours_are_rejected_whole(store, tmp_path):
    """A JSON file that is not PROV, PROV without our namespace, and our PROV missing an
    attribute each get an error naming the file and the record; nothing is written."""
    not_prov = tmp_path / "not-prov.json"
    not_prov.write_text('{"hello": [1, 2]}')
    foreign = tmp_path / "foreign.json"
    other = ProvDocument()
    other.add_namespace("ex", "http://example.org/")
    other.entity("ex:thing")
    foreign.write_text(other.serialize(format="json"))
    ours = ProvDocument()
    ours.add_namespace(LSST)
    ours.entity(LSST["dataset/1"], {PROV["type"]: LSST["Dataset"], LSST["key"]: "dataset:1",
                                    LSST["data_id"]: "", LSST["run"]: "r"})
    missing = tmp_path / "missing.json"
    missing.write_text(ours.serialize(format="json"))
    provn = tmp_path / "doc.provn"
    provn.write_text(ours.get_provn())
    summary = ingest(store, "prov", [not_prov, foreign, missing, provn], show_progress=False)
    errors = {f.path.rsplit("/", 1)[1]: f.error for f in summary.files}
    assert all(f.status == "rejected" for f in summary.files)
    assert "not a survey-lineage PROV document" in errors["not-prov.json"] \
        or "not a PROV document" in errors["not-prov.json"]
    assert errors["foreign.json"].endswith(
        "not a survey-lineage PROV document: no namespace urn:x-survey-lineage: "
        "(docs/standards.md)")
    assert errors["missing.json"] == (
        f"{missing}: entity lsst:dataset/1: no lsst:dataset_type: not a survey-lineage PROV "
        "document (docs/standards.md)")
    assert "prov cannot read PROV-N" in errors["doc.provn"]
    assert store.count() == (0, 0)


def test_commands_write_and_read_back(demo_repo, tmp_path):
    """`lineage prov`, `lineage export --format prov-json` and `lineage ingest prov` as a user
    runs them: the copy answers `lineage upstream` as the demo does; bad input is one line."""
    repo = str(demo_repo)
    coadd = json.loads(run("cypher", "MATCH (d:Dataset {dataset_type: 'deepCoadd'}) "
                           "RETURN d.key ORDER BY d.key LIMIT 1", "--format", "json",
                           "--repo", repo).stdout)[0]["d.key"]
    ran = run("prov", coadd, "--upstream", "--format", "provn", "-o", str(tmp_path / "c.provn"),
              "--repo", repo)
    assert ran.returncode == 0, ran.stderr
    assert "wasDerivedFrom(lsst:dataset/" + coadd.split(":", 1)[1] in \
        (tmp_path / "c.provn").read_text()
    whole = tmp_path / "all.json"
    assert run("export", "--format", "prov-json", "-o", str(whole), "--repo", repo).returncode == 0
    copy = str(tmp_path / "copy")
    assert run("init", copy).returncode == 0
    ran = run("ingest", "prov", str(whole), "--repo", copy)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    answers = [json.loads(run("upstream", coadd, "--format", "json", "--repo", r).stdout)
               for r in (repo, copy)]
    assert answers[0] == answers[1] and len(answers[0]) > 10
    bad = run("prov", "nonsense=1", "--repo", repo)
    assert bad.returncode == 2 and bad.stderr.startswith("lineage: error: ")
    assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("delay", [0.5, 1.5])
def test_kill_9_mid_ingest_leaves_nothing_or_everything(demo_repo, tmp_path, delay):
    """kill -9 of `lineage ingest prov` and of the engine at some point of the unit: the
    copy holds nothing of the document or all of it, and a rerun completes it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from lineage.store.falkordb_server import FalkorServer
    from lineage.store.repo import open_store

    whole = tmp_path / "all.json"
    assert run("export", "--format", "prov-json", "-o", str(whole), "--repo",
               str(demo_repo)).returncode == 0
    copy = tmp_path / "copy"
    assert run("init", str(copy)).returncode == 0
    with open_store(copy) as store:
        before = store.count()
    writer = subprocess.Popen([sys.executable, "-m", "lineage.cli", "ingest", "prov", str(whole),
                               "--repo", str(copy)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              env={**os.environ, "LINEAGE_NO_PROGRESS": "1"})
    time.sleep(delay)
    server = FalkorServer(copy)
    pid = server.pid()
    writer.kill()
    if pid:
        os.kill(pid, signal.SIGKILL)
    writer.wait()
    with open_store(copy) as store:
        killed = store.count()
    ran = run("ingest", "prov", str(whole), "--repo", str(copy))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    with open_store(copy) as store:
        after = store.count()
    FalkorServer(copy).stop()
    assert after[0] > before[0] and killed in (before, after), (before, killed, after)


def test_a_tombstone_travels_as_its_deletion(demo_store, engine, tmp_path):
    """A deleted dataset (docs/retention.md) is an entity with its deletion's attributes, and
    an empty repository reading the document back holds it deleted, its lineage whole."""
    from .tombstones import DELETED_AT, tombstone
    coadd = _coadd(demo_store)
    datasets, quanta = selection(demo_store, coadd, UP, depth=1)
    warps = sorted(k for k in datasets if k != coadd)
    tombstone(demo_store, warps[:2], by="ops", reason="DR1 warps")
    doc = document(demo_store, datasets, quanta)
    entity = next(iter(doc.get_record(prov_id(warps[0]))))
    assert {str(k): v for k, v in entity.attributes if str(k).startswith("lsst:deleted")} == {
        "lsst:deleted_at": DELETED_AT, "lsst:deleted_by": "ops",
        "lsst:deleted_reason": "DR1 warps", "lsst:deleted_forced": True}
    path = tmp_path / "up.json"
    path.write_text(serialize(doc, "json"))
    empty = engine.new()
    assert _ingest(empty, path).status == "added"
    back = empty.read("MATCH (d:Dataset) WHERE d.deleted_at IS NOT NULL "
                      "RETURN d.key, d.deleted_by, d.deleted_reason ORDER BY d.key")
    assert [tuple(r) for r in back] == [(k, "ops", "DR1 warps") for k in warps[:2]]
    assert _answers(empty, [coadd], [UP]) == {
        (coadd, UP): [(r.key, r.dataset_type, r.data_id, r.run)
                      for r in traverse(demo_store, coadd, UP, depth=1)]}

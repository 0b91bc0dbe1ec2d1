"""Issue 15, items 3 and 7 (values): bad metadata is refused, never stored in silence.

Every case replays one of the malformed files of the hardening run through the real
``lineage ingest <kind>`` command, beside a good file of the same kind: the command
exits 1, the bad file is rejected with its file name, field and rule, nothing of it
is in the graph, and the good file is stored.  A second ingest that changes stored
values says ``updated`` with old -> new, and a change to what a node *is* is refused.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import pytest
import yaml

from lineage.store.repo import init_repo, open_store

from .cli_runner import run

REAL_HEADER = ("headers", "obs_lsst", "comCam-CC_O_20241108_000266_R22_S00.yaml")
INSTRUMENT = "LSSTComCam"
DAY = 20241108


def lineage(*args):
    return run(*args, env={"LINEAGE_REPO": None, "COLUMNS": "200"})


def ingest(repo: Path, kind: str, *paths: Path) -> tuple[int, dict]:
    proc = lineage("ingest", kind, *map(str, paths), "--repo", str(repo), "--json")
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def outcome(summary: dict, path: Path) -> dict:
    return next(f for f in summary["files"] if Path(f["path"]).name == path.name)


def stored(repo: Path, keys) -> set[str]:
    store = open_store(repo)
    try:
        return store.existing_keys(list(keys))
    finally:
        store.close()


def props_of(repo: Path, key: str) -> dict:
    store = open_store(repo)
    try:
        rows = store.read("MATCH (n {key: $k}) RETURN properties(n)", {"k": key})
        return rows[0][0] if rows else {}
    finally:
        store.close()


def assert_refused(summary: dict, path: Path, *words: str) -> None:
    f = outcome(summary, path)
    assert f["status"] == "rejected", (path.name, f)
    assert path.name in f["error"], f["error"]
    for word in words:
        assert word in f["error"], (word, f["error"])
    assert len(f["error"]) < 4000  # a 12 MB value is shown shortened


# --- headers ----------------------------------------------------------------------------------

HEADER_CASES = {
    # name: (card changes, words the refusal names)
    "exptime_negative": ({"EXPTIME": -30.0}, ["EXPTIME", "-30.0", "0 s .. 86400 s"]),
    "exptime_huge": ({"EXPTIME": 1e30}, ["EXPTIME", "1e+30"]),
    "exptime_nan": ({"EXPTIME": float("nan")}, ["EXPTIME", "not a finite number"]),
    "exptime_text": ({"EXPTIME": "thirty"}, ["EXPTIME", "thirty"]),
    "dec_100": ({"DEC": 100.0, "DECSTART": 100.0, "DECEND": 100.0}, ["DEC", "declination"]),
    "ra_1e6": ({"RA": 1e6, "RASTART": 1e6, "RAEND": 1e6}, ["RA", "1000000.0"]),
    "end_before_begin": ({"DATE-END": "2024-11-09T06:00:00.000", "MJD-END": 60623.25},
                         ["'end'", "s before begin"]),
    "dayobs_20231345": ({"DAYOBS": "20231345"}, ["DAYOBS", "20231345", "real date"]),
    "seqnum_negative": ({"SEQNUM": -5}, ["SEQNUM", "-5"]),
    "seqnum_not_a_number": ({"SEQNUM": "abc"}, ["SEQNUM", "abc"]),
    "string_12mb": ({"OBJECT": "x" * 12_000_000}, ["'OBJECT'", "12,000,000 characters"]),
}


def _header_files(tmp_path: Path, real_data) -> tuple[Path, dict[str, Path]]:
    header = yaml.safe_load(real_data(*REAL_HEADER).read_text())
    folder = tmp_path / "headers"
    folder.mkdir()
    good = folder / "good.yaml"
    good.write_text(yaml.safe_dump(header))
    bad = {}
    for i, (name, (changes, _)) in enumerate(sorted(HEADER_CASES.items())):
        seq = 1000 + i  # each case is an exposure of its own, so "nothing stored" is checkable
        h = dict(header, SEQNUM=seq, OBSID=f"CC_O_{DAY}_{seq:06d}")
        h.update(changes)
        bad[name] = folder / f"{name}.yaml"
        bad[name].write_text(yaml.safe_dump(h))
    return good, bad


def _exposure(seq: int, day: int = DAY) -> str:
    return f"unit:exposure:{INSTRUMENT}/{day * 100000 + seq}"


def test_bad_header_values_are_refused_and_the_good_header_is_stored(repo, tmp_path,
                                                                     real_data):
    good, bad = _header_files(tmp_path, real_data)
    year_9999 = tmp_path / "headers" / "year_9999.yaml"
    h = yaml.safe_load(good.read_text())
    h.update({"SEQNUM": 2000, "OBSID": f"CC_O_{DAY}_002000", "DATE-BEG": "9999-11-09T06:34:41.323",
              "DATE-OBS": "9999-11-09T06:34:41.323"})
    year_9999.write_text(yaml.safe_dump(h))
    code, summary = ingest(repo, "headers", tmp_path / "headers")
    assert code == 1
    assert outcome(summary, good)["status"] == "added"
    for name, path in bad.items():
        assert_refused(summary, path, *HEADER_CASES[name][1])
    # a year 9999 is not an observation: left out with its reason and the cards it came from
    f = outcome(summary, year_9999)
    assert f["status"] == "unchanged" and "9999" in f["skipped"][0] \
        and "DATE-BEG" in f["skipped"][0]
    # nothing of any bad file is in the graph; the good one is, with its values
    seqs = [1000 + i for i in range(len(bad))] + [2000]
    keys = [_exposure(s) for s in seqs] + [f"unit:visit:{INSTRUMENT}/{DAY * 100000 + s}"
                                           for s in seqs]
    keys += [f"unit:exposure:{INSTRUMENT}/2023134501002", f"unit:day_obs:{INSTRUMENT}/20231345",
             f"unit:exposure:{INSTRUMENT}/{DAY * 100000 - 5}"]
    assert stored(repo, keys) == set()
    good_props = props_of(repo, _exposure(266))
    assert good_props["exposure_time"] == 30.0
    assert good_props["dec"] == pytest.approx(-27.99476, abs=1e-4)


def test_a_nan_value_from_any_reader_is_refused_not_dropped():
    """The model keeps a NaN out of the graph; the spec refuses it where a number is meant."""
    from lineage.ingest import check_unit
    from lineage.core.model import GraphBatch, ModelError
    batch = GraphBatch("nan.yaml")
    batch.add_node("unit:exposure:X/1", dimension="exposure", value=1, exposure_time=math.nan)
    with pytest.raises(ModelError, match=r"nan.yaml.*unit:exposure:X/1.*'exposure_time'.*NaN"):
        check_unit(batch)


# --- Butler exports ---------------------------------------------------------------------------

def _export(records: list) -> str:
    return yaml.safe_dump({"description": "Butler Data Repository Export", "version": "1.0.2",
                           "universe_version": 7, "universe_namespace": "daf_butler",
                           "data": records}, sort_keys=False, width=1 << 30) \
        .replace(": TAI:", ": !butler_time/tai/iso ")


def _dataset_entry(run="demo/run", dstype="calexp", path="demo/run/calexp/x.fits",
                   data_id=None, uid=None) -> list:
    return [
        {"type": "collection", "collection_type": "RUN", "name": run},
        {"type": "dataset_type", "name": dstype, "dimensions": ["instrument", "detector"],
         "storage_class": "ExposureF", "is_calibration": False},
        {"type": "dataset", "dataset_type": dstype, "run": run,
         "records": [{"dataset_id": [uid or str(uuid.uuid4())],
                      "data_id": [data_id or {"instrument": "HSC", "detector": 50}],
                      "path": path, "formatter": "lsst.obs.base.formatters.fitsExposure"}]},
    ]


def _exposure_record(**changes) -> list:
    record = {"instrument": "HSC", "id": 903342, "physical_filter": "HSC-R", "obs_id": "x",
              "exposure_time": 30.0, "dark_time": 30.0, "tracking_ra": 320.2,
              "tracking_dec": 0.25, "seq_num": 903342, "day_obs": 20130617,
              "datetime_begin": "TAI:2013-06-17 13:00:00",
              "datetime_end": "TAI:2013-06-17 13:00:30"}
    record.update(changes)
    return [{"type": "dimension", "element": "exposure", "records": [record]}]


EXPORT_CASES = {
    # name: (records, words the refusal names, keys that must not be stored)
    "exposure_time_negative": (_exposure_record(id=1, exposure_time=-30.0),
                               ["'exposure_time'", "-30.0", ">= 0 s"], ["unit:exposure:HSC/1"]),
    "exposure_time_text": (_exposure_record(id=2, exposure_time="thirty"),
                           ["'exposure_time'", "thirty", "number"], ["unit:exposure:HSC/2"]),
    "dec_100": (_exposure_record(id=3, tracking_dec=100.0), ["'tracking_dec'", "100"],
                ["unit:exposure:HSC/3"]),
    "ra_1e6": (_exposure_record(id=4, tracking_ra=1e6), ["'tracking_ra'", "1000000"],
               ["unit:exposure:HSC/4"]),
    "end_before_begin": (_exposure_record(id=5, datetime_end="TAI:2013-06-16 13:00:00"),
                         ["'end'", "before begin"], ["unit:exposure:HSC/5"]),
    "year_9999": (_exposure_record(id=6, datetime_begin="TAI:9999-06-17 13:00:00",
                                   datetime_end="TAI:9999-06-17 13:00:30", day_obs=20130617),
                  ["'begin'", "1990-01-01 and 2100-01-01"], ["unit:exposure:HSC/6"]),
    "day_obs_20231345": (_exposure_record(id=7, day_obs=20231345), ["'day_obs'", "20231345"],
                         ["unit:exposure:HSC/7"]),
    "seq_num_negative": (_exposure_record(id=8, seq_num=-1), ["'seq_num'", "-1"],
                         ["unit:exposure:HSC/8"]),
    "exposure_id_text": (_exposure_record(id="abc"), ["'value'", "'abc'", "integer"],
                         ["unit:exposure:HSC/abc"]),
    "detector_id_text": (_dataset_entry(data_id={"instrument": "HSC", "detector": "R22_S00"},
                                        run="bad/detector"),
                         ["unit:detector:HSC/R22_S00", "integer"],
                         ["collection:bad/detector", "unit:detector:HSC/R22_S00"]),
    "run_name_dotdot": (_dataset_entry(run="../../outside"), ["'name'", "'..' segment"],
                        ["collection:../../outside"]),
    "run_name_absolute": (_dataset_entry(run="/etc/runs"), ["'/etc/runs'", "absolute"],
                          ["collection:/etc/runs"]),
    "dataset_type_dotdot": (_dataset_entry(dstype="../calexp", run="bad/dstype"),
                            ["'dataset_type'", "'..' segment"],
                            ["collection:bad/dstype", "dstype:../calexp"]),
    "path_dotdot": (_dataset_entry(run="bad/path", path="../../../etc/passwd"),
                    ["'path'", "leave the datastore"], ["collection:bad/path"]),
    "path_absolute": (_dataset_entry(run="bad/abspath", path="/etc/passwd"),
                      ["'path'", "relative"], ["collection:bad/abspath"]),
    "string_11mb": (_exposure_record(id=9, obs_id="y" * 11_000_000),
                    ["'obs_id'", "11,000,000 characters"], ["unit:exposure:HSC/9"]),
}


def test_bad_export_values_are_refused_with_their_line(repo, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    good = folder / "good.yaml"
    good.write_text(_export(_exposure_record() + _dataset_entry(run="good/run")))
    paths = {}
    for name, (records, _, _) in EXPORT_CASES.items():
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(_export(records))
    code, summary = ingest(repo, "butler-export", folder)
    assert code == 1
    assert outcome(summary, good)["status"] == "added", outcome(summary, good)
    for name, (_, words, keys) in EXPORT_CASES.items():
        assert_refused(summary, paths[name], *words)
        assert stored(repo, keys) == set(), name
    # the line of the record is named where the reader knows it
    assert "line " in outcome(summary, paths["dec_100"])["error"]
    assert stored(repo, ["unit:exposure:HSC/903342", "collection:good/run"]) == \
        {"unit:exposure:HSC/903342", "collection:good/run"}


def test_skymap_refuses_bad_tract_ids(repo, tmp_path):
    folder = tmp_path / "skymaps"
    folder.mkdir()
    good = folder / "good.yaml"
    good.write_text(_export([{"type": "dimension", "element": "skymap",
                              "records": [{"name": "rings", "hash": "00", "tract_max": 10,
                                           "patch_nx_max": 9, "patch_ny_max": 9}]},
                             {"type": "dimension", "element": "tract",
                              "records": [{"skymap": "rings", "id": 1}]}]))
    bad = folder / "bad.yaml"
    bad.write_text(_export([{"type": "dimension", "element": "tract",
                             "records": [{"skymap": "../rings", "id": -3}]}]))
    code, summary = ingest(repo, "skymap", folder)
    assert code == 1
    assert outcome(summary, good)["status"] == "added"
    assert_refused(summary, bad, "'..' segment", "unit:tract:../rings/-3")
    assert stored(repo, ["unit:tract:../rings/-3", "unit:skymap:../rings"]) == set()
    assert stored(repo, ["unit:tract:rings/1"]) == {"unit:tract:rings/1"}


# --- EFD answers --------------------------------------------------------------------------------

def _efd_answer(topic: str, times: list[int]) -> str:
    return json.dumps({"results": [{"statement_id": 0, "series": [
        {"name": topic, "columns": ["time", "actualPosition"],
         "values": [[t, 1.0 + i] for i, t in enumerate(times)]}]}]})


def test_efd_times_outside_the_era_and_unsafe_topics_are_refused(repo, tmp_path):
    folder = tmp_path / "efd"
    folder.mkdir()
    ns = 1_690_587_374_183_122_000  # 2023-07-28
    files = {
        "good.json": (_efd_answer("lsst.sal.MTMount.azimuth", [ns, ns + 10**9]), None),
        "in_1969.json": (_efd_answer("lsst.sal.MTMount.azimuth", [-86_400 * 10**9, -10**9]),
                         ["'begin_utc'", "1969", "1990-01-01"]),
        "in_2255.json": (_efd_answer("lsst.sal.MTMount.azimuth",
                                     [9_000_000_000 * 10**9, 9_000_000_001 * 10**9]),
                         ["'end_utc'", "2255", "2100-01-01"]),
        "topic_dotdot.json": (_efd_answer("lsst.sal/../../etc/passwd", [ns, ns + 10**9]),
                              ["'topic'", "'..' segment"]),
    }
    for name, (text, _) in files.items():
        (folder / name).write_text(text)
    code, summary = ingest(repo, "efd", folder)
    assert code == 1
    assert outcome(summary, folder / "good.json")["status"] == "added"
    for name, (_, words) in files.items():
        if words:
            assert_refused(summary, folder / name, *words)
    store = open_store(repo)
    try:
        topics = store.read("MATCH (e:EfdRecord) RETURN e.topic, e.begin_utc")
    finally:
        store.close()
    assert [t for t, _ in topics] == ["lsst.sal.MTMount.azimuth"]
    assert topics[0][1].startswith("2023-07-28")


# --- metrics jobs --------------------------------------------------------------------------------

def _job(date: str, number: int) -> str:
    return json.dumps({"_job_number": number, "measurements": [
        {"metric": "validate_drp.PA1", "value": 10.0, "unit": "mmag", "identifier": "a" * 32}],
        "meta": {"env": {"date": date}, "packages": {}}, "metrics": [], "specs": [],
        "blobs": []})


def test_metric_jobs_dated_outside_the_era_are_refused(repo, tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    good, bad = folder / "good.json", folder / "bad.json"
    good.write_text(_job("2018-07-30T18:25:52.410342", 1))
    bad.write_text(_job("2255-01-01T00:00:00", 2))
    code, summary = ingest(repo, "metrics", folder)
    assert code == 1
    assert outcome(summary, good)["status"] == "added", outcome(summary, good)
    assert_refused(summary, bad, "'date'", "2255")
    assert stored(repo, ["job:squash/2", "measurement:squash/2/validate_drp.PA1"]) == set()
    assert stored(repo, ["job:squash/1"]) == {"job:squash/1"}


# --- run provenance (our format) ---------------------------------------------------------------

def _run_document(run: str, uri: str | None, memory: float = 100.0) -> dict:
    def ds(name, dstype, **more):
        return {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, run + name)), "dataset_type": dstype,
                "data_id": {"instrument": "HSC", "exposure": 1228, "detector": 50}, "run": run,
                **more}
    out = ds("post", "post_isr_image", **({"uri": uri} if uri else {}))
    return {"format": "survey-lineage/run", "version": 1, "run": {"collection": run},
            "quanta": [{"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, run + "q")), "task": "isr",
                        "data_id": {"instrument": "HSC", "exposure": 1228, "detector": 50},
                        "status": "successful", "peak_memory_mb": memory,
                        "inputs": [ds("raw", "raw")], "outputs": [out]}]}


RUN_CASES = {
    "uri_etc_passwd": (_run_document("r/etc", "file:///etc/passwd"),
                       ["'uri'", "file:///etc/passwd", "local absolute file URI"]),
    "uri_dotdot": (_run_document("r/dotdot", "../../../etc/passwd"),
                   ["'uri'", "'..' segment"]),
    "uri_remote_dotdot": (_run_document("r/s3", "s3://bucket/repo/../../other/x.fits"),
                          ["'uri'", "'..' segment"]),
    "uri_foreign_scheme": (_run_document("r/ftp", "ftp://host/x.fits"), ["'uri'", "'ftp'"]),
    "run_dotdot": (_run_document("../../escape", "a/b.fits"), ["'..' segment"]),
    "memory_negative": (_run_document("r/mem", "a/c.fits", memory=-5.0),
                        ["peak_memory_mb", "-5.0"]),
}


def test_run_ingest_refuses_unsafe_uris_and_names(repo, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    good = folder / "good.json"
    good.write_text(json.dumps(_run_document("r/good", "r/good/post.fits")))
    for name, (doc, _) in RUN_CASES.items():
        (folder / f"{name}.json").write_text(json.dumps(doc))
    code, summary = ingest(repo, "run", *sorted(folder.iterdir()))
    assert code == 1
    assert outcome(summary, good)["status"] == "added", outcome(summary, good)
    for name, (doc, words) in RUN_CASES.items():
        assert_refused(summary, folder / f"{name}.json", *words)
        run = doc["run"]["collection"]
        assert stored(repo, [f"collection:{run}", f"quantum:{doc['quanta'][0]['id']}"]) \
            == set(), name
    assert stored(repo, ["collection:r/good"]) == {"collection:r/good"}


# --- a second ingest that changes stored values -------------------------------------------------

def test_a_changed_value_is_reported_updated_with_old_and_new(repo, tmp_path, real_data):
    header = yaml.safe_load(real_data(*REAL_HEADER).read_text())
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(yaml.safe_dump(header))
    second.write_text(yaml.safe_dump(dict(header, OBJECT="another target", EXPTIME=15.0)))
    code, summary = ingest(repo, "headers", first)
    assert code == 0 and summary["files"][0]["status"] == "added"
    code, summary = ingest(repo, "headers", first)
    assert summary["files"][0]["status"] == "unchanged" and not summary["files"][0]["updated"]
    code, summary = ingest(repo, "headers", second)
    f = summary["files"][0]
    assert code == 0 and f["status"] == "updated"
    exposure = _exposure(266)
    assert f"{exposure}: object 'slew_icrs' -> 'another target'" in f["updated"]
    assert f"{exposure}: exposure_time 30.0 -> 15.0" in f["updated"]
    assert summary["totals"]["updated_values"] == len(f["updated"])
    assert props_of(repo, exposure)["object"] == "another target"  # the later file wins
    # the table view says it too
    proc = lineage("ingest", "headers", str(first), "--repo", str(repo))
    assert "updated first.yaml: unit:exposure:LSSTComCam/2024110800266: object " \
           "'another target' -> 'slew_icrs'" in proc.stdout
    assert "stored values changed" in proc.stdout


def test_a_change_to_what_a_node_is_is_refused(repo, tmp_path):
    run, tagged = tmp_path / "run.yaml", tmp_path / "tagged.yaml"
    run.write_text(_export([{"type": "collection", "collection_type": "RUN", "name": "c/one"}]))
    tagged.write_text(_export([{"type": "collection", "collection_type": "TAGGED",
                                "name": "c/one"}]))
    assert ingest(repo, "butler-export", run)[0] == 0
    code, summary = ingest(repo, "butler-export", tagged)
    assert code == 1
    assert_refused(summary, tagged, "conflicts with what is stored", "collection_type",
                   "'RUN'", "'TAGGED'")
    assert props_of(repo, "collection:c/one")["collection_type"] == "RUN"


def test_dry_run_reports_what_would_change(repo, tmp_path, real_data):
    header = yaml.safe_load(real_data(*REAL_HEADER).read_text())
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(yaml.safe_dump(header))
    second.write_text(yaml.safe_dump(dict(header, OBJECT="elsewhere")))
    ingest(repo, "headers", first)
    proc = lineage("ingest", "headers", str(second), "--repo", str(repo), "--dry-run")
    assert proc.returncode == 0
    assert "would update second.yaml: unit:exposure:LSSTComCam/2024110800266: object " \
           "'slew_icrs' -> 'elsewhere'" in proc.stdout
    assert props_of(repo, _exposure(266))["object"] == "slew_icrs"


# --- the spec itself -----------------------------------------------------------------------------

@pytest.mark.parametrize("uri, ok", [
    ("a/b.fits", True), ("file://datastore/a/b.fits", True), ("s3://bucket/a/b.fits", True),
    ("https://host/a/b.fits", True), ("file:///etc/passwd", False), ("file://host/x", False),
    ("../x", False), ("a/../../x", False), ("/abs/x", False), ("s3://b/../x", False),
    ("javascript:alert(1)", False), ("C:\\x", False), ("a\x00b", False),
    ("file://datastore/../x", False),
])
def test_uri_rule(uri, ok):
    from lineage.core.model_spec import uri_problem
    assert (uri_problem(uri) is None) == ok, uri_problem(uri)


@pytest.mark.parametrize("name, ok", [
    ("HSC/runs/RC2/w_2024_10/DM-12345", True), ("refcats", True), ("a..b", True),
    ("..", False), ("a/../b", False), ("/etc", False), ("~root", False), ("a\nb", False),
    ("", False), ("x" * 2000, False), ("a\\..\\b", False),
])
def test_name_rule(name, ok):
    from lineage.core.model_spec import name_problem
    assert (name_problem(name) is None) == ok, name_problem(name)


def test_the_real_samples_keep_every_rule_or_warn(real_data, tmp_path):
    """Real doubtful values (a LATISS header whose DATE-END is 5 s before DATE-BEG, a
    simulated ComCam day_obs two years from its date) are kept with a warning."""
    code, summary = ingest_in(tmp_path, "headers", real_data("headers", "obs_lsst"))
    assert code == 0, [f["error"] for f in summary["files"] if f["error"]]
    warnings = [w for f in summary["files"] for w in f["warnings"]]
    assert any("s before begin" in w for w in warnings)
    assert any("simulated" in w for w in warnings)


def ingest_in(tmp_path: Path, kind: str, *paths: Path) -> tuple[int, dict]:
    from lineage.store.falkordb_server import FalkorServer
    root = tmp_path / "real-repo"
    init_repo(root)
    try:
        return ingest(root, kind, *paths)
    finally:
        FalkorServer(root).stop()


def test_the_property_table_in_the_docs_is_the_spec():
    from lineage.core.model_spec import markdown_table
    text = (Path(__file__).resolve().parents[1] / "docs" / "model.md").read_text()
    assert markdown_table() in text


def test_pipeline_task_labels_must_be_path_safe(repo, tmp_path):
    folder = tmp_path / "pipelines"
    folder.mkdir()
    good, bad = folder / "good.yaml", folder / "bad.yaml"
    good.write_text("description: good\ntasks:\n  isr:\n    class: lsst.ip.isr.IsrTask\n")
    bad.write_text('description: bad\ntasks:\n  "../../etc":\n    class: lsst.ip.isr.IsrTask\n')
    code, summary = ingest(repo, "pipeline", folder)
    assert code == 1
    assert outcome(summary, good)["status"] == "added"
    assert_refused(summary, bad, "'label'", "'..' segment")
    assert stored(repo, ["pipeline:bad", "task:bad/../../etc"]) == set()
    assert stored(repo, ["pipeline:good"]) == {"pipeline:good"}

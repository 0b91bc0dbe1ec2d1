"""``lineage ingest efd`` on the real EFD answers (../shared/data/real/efd).

Expected values come from the JSON answers, read here with plain ``json``;
UTC <-> TAI uses the known 37 s of 2023 instead of the ingest's conversion.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lineage.core.errors import UnknownName
from lineage.ingest import driver as ingest_files
from lineage.store.repo import open_store

TAI_MINUS_UTC_2023 = 37.0
AZIMUTH = "MTMount.azimuth__20230728T233614.165Z__cols.json"


def series_of(path: Path) -> list[dict]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        return []
    return [s for r in data["results"] for s in r.get("series", []) if "time" in s["columns"]]


def utc_iso(ns: int) -> str:
    t = datetime(1970, 1, 1) + timedelta(microseconds=ns // 1000)
    return t.isoformat(timespec="microseconds")


def records(store) -> dict[str, dict]:
    return dict(store.read("MATCH (e:EfdRecord) RETURN e.key, properties(e)"))


def describes(store) -> dict[tuple[str, str], dict]:
    rows = store.read("MATCH (e:EfdRecord)-[r:DESCRIBES]->(u:DataUnit) "
                      "RETURN e.key, u.key, properties(r)")
    return {(a, b): p for a, b, p in rows}


def test_real_efd_answers(store, real_data):
    root = real_data("efd", "summit_utils_usdf_efd")
    summary = ingest_files.ingest(store, "efd", [root], show_progress=False)
    assert not summary.rejected, [f.error for f in summary.rejected]
    stored = records(store)
    expected = 0
    for outcome in summary.files:
        path = Path(outcome.path)
        series = series_of(path)
        if path.name == "SHOW_MEASUREMENTS.json":  # the topic list: test_topic_list_*
            assert not outcome.skipped
            continue
        if not series:  # the manifest
            assert outcome.skipped and "not telemetry" in outcome.skipped[0], path.name
            continue
        for s in series:
            expected += 1
            times = [row[s["columns"].index("time")] for row in s["values"]]
            key = f"efd:{s['name']}/{min(times)}/{max(times)}"
            rec = stored[key]
            assert rec["samples"] == len(s["values"])
            assert rec["begin_utc"] == utc_iso(min(times))
            assert rec["end_utc"] == utc_iso(max(times))
            # TAI is UTC + 37 s in 2023 (and 2025)
            offset = (datetime.fromisoformat(rec["begin_tai"])
                      - datetime.fromisoformat(rec["begin_utc"]))
            assert offset == timedelta(seconds=37)
            cols = s["columns"]
            if "private_sndStamp" in cols:
                first = min(s["values"], key=lambda row: row[cols.index("time")])
                snd = first[cols.index("private_sndStamp")]  # TAI unix seconds
                # the send stamp (TAI) is the index (UTC) + 37 s
                assert snd - first[cols.index("time")] / 1e9 == pytest.approx(37.0, abs=0.01)
                assert rec["snd_begin_tai"][:19] == rec["begin_tai"][:19]
                assert "private_sndStamp" in rec["tai_stamp_fields"]
                assert rec["utc_stamp_fields"] == ["private_efdStamp"]
            for field in rec["summary_fields"]:
                values = [row[cols.index(field)] for row in s["values"]]
                assert rec[f"mean_{field}"] == pytest.approx(sum(values) / len(values))
                assert rec[f"max_{field}"] == pytest.approx(max(values))
    assert len(stored) == expected == 23
    before = store.count()
    again = ingest_files.ingest(store, "efd", [root], show_progress=False)
    assert {f.status for f in again.files} == {"unchanged"}
    assert store.count() == before


def test_csv_and_parquet_exports(repo, real_data, tmp_path):
    src = real_data("efd", "summit_utils_usdf_efd", AZIMUTH)
    s = series_of(src)[0]
    frame = pd.DataFrame(s["values"], columns=s["columns"])
    iso = frame.assign(time=pd.to_datetime(frame["time"], unit="ns", utc=True)
                       .dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    exports = tmp_path / "exports"
    exports.mkdir()
    iso.to_csv(exports / "lsst.sal.MTMount.azimuth__export.csv", index=False)
    indexed = frame.assign(time=pd.to_datetime(frame["time"], unit="ns", utc=True))
    indexed.set_index("time").to_parquet(exports / "MTMount.azimuth__export.parquet")
    store = open_store(repo)
    try:
        ingest_files.ingest(store, "efd", [src], show_progress=False)
        json_only = records(store)
        summary = ingest_files.ingest(store, "efd", [exports], show_progress=False)
        # nothing is new; the record's source file name is replaced, and that is said
        assert [f.status for f in summary.files] == ["updated", "updated"], \
            [f.error for f in summary.files]
        assert all(": source " in line for f in summary.files for line in f.updated)
        # the same window is the same record (only the source file name differs)
        after = records(store)
        assert after.keys() == json_only.keys()
        for key, props in after.items():
            assert props.pop("source").endswith((".csv", ".parquet"))
            assert props == {k: v for k, v in json_only[key].items() if k != "source"}
        (key, rec), = json_only.items()
        values = frame["actualPosition"].tolist()
        assert rec["v_actualPosition"] == pytest.approx(values)
        assert rec["mean_actualPosition"] == pytest.approx(sum(values) / len(values))
    finally:
        store.close()


def test_corrupted_efd_inputs(repo, real_data, tmp_path):
    src = real_data("efd", "summit_utils_usdf_efd", "MTMount.azimuth__20230601T001233.227Z__all.json")
    truncated = tmp_path / "truncated.json"
    truncated.write_text(src.read_text()[:300])
    bad_time = tmp_path / "MTMount.azimuth__bad.csv"
    bad_time.write_text("time,actualPosition\n2023-06-01T00:12:33Z,1.0\nyesterday,2.0\n")
    not_influx = tmp_path / "job.json"
    not_influx.write_text(json.dumps({"measurements": []}))
    store = open_store(repo)
    try:
        before = store.count()
        summary = ingest_files.ingest(store, "efd", [truncated, bad_time, not_influx, src],
                                      show_progress=False)
        out = {Path(f.path).name: f for f in summary.files}
        assert "truncated.json: line 1 column" in out["truncated.json"].error
        assert "row 1 column time" in out[bad_time.name].error
        assert "'yesterday'" in out[bad_time.name].error
        assert "no 'results'" in out["job.json"].error
        assert out[src.name].status == "added"  # the good file of the batch still ingests
        # the record, its topic and CSC units; IDENTIFIED_BY its topic, PART_OF its CSC
        assert store.count() == (before[0] + 3, before[1] + 2)
    finally:
        store.close()


def _overlapping_header(real_data, tmp_path: Path) -> tuple[Path, datetime, datetime]:
    """A real LSSTCam header moved into the 2023-07-28 slew of the EFD samples."""
    src = real_data("headers", "obs_lsst", "lsstCam-MC_O_20250609_000578_R01_S01.yaml")
    cards = yaml.safe_load(src.read_text())
    begin_utc = datetime(2023, 7, 28, 23, 36, 30, tzinfo=timezone.utc)
    end_utc = begin_utc + timedelta(seconds=15)
    tai = [t + timedelta(seconds=TAI_MINUS_UTC_2023) for t in (begin_utc, end_utc)]
    iso = [t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] for t in tai]
    cards.update({"DATE-BEG": iso[0], "DATE-OBS": iso[0], "DATE-END": iso[1], "MJD-BEG": None,
                  "MJD-OBS": None, "MJD-END": None, "DAYOBS": "20230728", "SEQNUM": 123,
                  "OBSID": "MC_O_20230728_000123", "EXPTIME": 15.0, "TIMESYS": "TAI"})
    path = tmp_path / "headers" / "MC_O_20230728_000123_R01_S01.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(cards))
    return path, begin_utc, end_utc


def _expected_links(root: Path, begin_utc: datetime, end_utc: datetime) -> dict:
    """From the JSON alone: records overlapping the exposure, and azimuth samples inside it."""
    lo = int(begin_utc.timestamp() * 1e9)
    hi = int(end_utc.timestamp() * 1e9)
    out = {}
    for path in sorted(root.glob("*__*.json")):
        for s in series_of(path):
            if not s["name"].split(".")[2].startswith(("MT", "Script")):
                continue
            t = s["columns"].index("time")
            times = [row[t] for row in s["values"]]
            if min(times) <= hi and max(times) >= lo:
                inside = [row for row in s["values"] if lo <= row[t] <= hi]
                out[f"efd:{s['name']}/{min(times)}/{max(times)}"] = (s, inside)
    return out


def test_efd_links_exposures_in_either_order(engine, real_data, tmp_path):
    root = real_data("efd", "summit_utils_usdf_efd")
    header, begin_utc, end_utc = _overlapping_header(real_data, tmp_path)
    exposure = "unit:exposure:LSSTCam/2023072800123"
    results = []
    for order in (("efd", "headers"), ("headers", "efd")):
        store = engine.new()
        for kind in order:
            ingest_files.ingest(store, kind, [root if kind == "efd" else header],
                                show_progress=False)
        results.append(describes(store))
    efd_first, headers_first = results
    assert efd_first == headers_first
    expected = _expected_links(root, begin_utc, end_utc)
    assert {k for k, _ in efd_first} == set(expected)
    assert {u for _, u in efd_first} == {exposure}
    assert len(expected) >= 5  # slew telemetry, M1M3 hardpoints, mount and script events
    for key, (series, inside) in expected.items():
        props = efd_first[(key, exposure)]
        assert props["samples"] == len(inside)
        if "actualPosition" in series["columns"] and inside:
            i = series["columns"].index("actualPosition")
            values = [row[i] for row in inside]
            assert props["mean_actualPosition"] == pytest.approx(sum(values) / len(values))
            assert props["min_actualPosition"] == pytest.approx(min(values))
            assert props["max_actualPosition"] == pytest.approx(max(values))


def test_topic_list_makes_csc_and_topic_units(store, real_data, tmp_path):
    """SHOW_MEASUREMENTS.json is stored: every listed topic an ``efd_topic`` unit PART_OF
    its CSC's ``csc`` unit, and every record IDENTIFIED_BY its topic."""
    from lineage.dataunits.efd import csc_topics
    root = real_data("efd", "summit_utils_usdf_efd")
    listed = [row[0] for row in series_of_topics(root / "SHOW_MEASUREMENTS.json")]
    summary = ingest_files.ingest(store, "efd", [root], show_progress=False)
    outcome = next(f for f in summary.files if f.path.endswith("SHOW_MEASUREMENTS.json"))
    assert outcome.status == "added" and not outcome.skipped
    assert outcome.counts["topics"] == len(listed) == 3093
    by_csc: dict[str, list[str]] = {}
    for topic in listed:
        by_csc.setdefault(topic.split(".")[2], []).append(topic)
    assert outcome.counts["CSCs"] == len(by_csc) == 67
    stored = csc_topics(store)
    # the records' topics are all in the list, so the list is the whole answer
    assert stored == {c: sorted(t) for c, t in sorted(by_csc.items())}
    assert csc_topics(store, "MTMount") == {"MTMount": sorted(by_csc["MTMount"])}
    record_topics = dict(store.read(
        "MATCH (e:EfdRecord)-[:IDENTIFIED_BY]->(t:DataUnit {dimension: 'efd_topic'}) "
        "RETURN e.key, t.value"))
    assert len(record_topics) == 23
    assert all(key.startswith(f"efd:{topic}/") for key, topic in record_topics.items())
    with pytest.raises(UnknownName, match="did you mean MTMount"):
        csc_topics(store, "MTmount")
    # a topic name that is not one is refused, naming the row
    bad = tmp_path / "SHOW_MEASUREMENTS.json"
    bad.write_text(json.dumps({"results": [{"series": [{
        "name": "measurements", "columns": ["name"], "values": [["lsst.sal.X.y"], [3]]}]}]}))
    rejected = ingest_files.ingest(store, "efd", [bad], show_progress=False).rejected
    assert "results[0].series[0].values[1]" in rejected[0].error


def series_of_topics(path: Path) -> list[list]:
    """The rows of a SHOW MEASUREMENTS answer, read with plain ``json``."""
    return json.loads(path.read_text())["results"][0]["series"][0]["values"]


def test_telemetry_of_a_csc_describing_an_exposure(store, real_data, tmp_path):
    from lineage.dataunits.efd import exposure_telemetry
    root = real_data("efd", "summit_utils_usdf_efd")
    header, begin_utc, end_utc = _overlapping_header(real_data, tmp_path)
    for kind, path in (("efd", root), ("headers", header)):
        ingest_files.ingest(store, kind, [path], show_progress=False)
    expected = _expected_links(root, begin_utc, end_utc)
    mount = {k: v for k, v in expected.items() if ".MTMount." in k}
    rows = exposure_telemetry(store, "exposure=2023072800123,instrument=LSSTCam", "MTMount")
    assert {r["record"] for r in rows} == set(mount) and len(mount) >= 3
    for r in rows:
        series, inside = mount[r["record"]]
        assert (r["csc"], r["topic"]) == ("MTMount", series["name"])
        assert r["samples"] == len(inside)
    every = exposure_telemetry(store, "unit:exposure:LSSTCam/2023072800123")
    assert {r["record"] for r in every} == set(expected)
    assert {r["csc"] for r in every} == {"MTMount", "MTM1M3", "Script"}


def test_efd_commands_answer_both_questions(repo, real_data, tmp_path):
    """``lineage efd topics`` and ``lineage efd telemetry`` on the real samples."""
    from .cli_runner import run
    root = real_data("efd", "summit_utils_usdf_efd")
    header, _, _ = _overlapping_header(real_data, tmp_path)
    for kind, path in (("efd", root), ("headers", header)):
        assert run("ingest", kind, path, "--repo", repo).returncode == 0
    topics = json.loads(run("efd", "topics", "MTMount", "--repo", repo, "--format", "json",
                            check=True).stdout)
    listed = series_of_topics(root / "SHOW_MEASUREMENTS.json")
    assert topics == {"MTMount": sorted(r[0] for r in listed if r[0].split(".")[2] == "MTMount")}
    shown = run("efd", "telemetry", "exposure=2023072800123", "--csc", "MTMount", "--repo", repo,
                check=True).stdout
    assert "lsst.sal.MTMount.azimuth" in shown and "Script" not in shown
    wrong = run("efd", "topics", "MTmount", "--repo", repo)
    assert wrong.returncode == 2 and "did you mean MTMount?" in wrong.stderr
    visit = run("efd", "telemetry", "visit=2023072800123", "--repo", repo)
    assert visit.returncode == 2 and "is a visit" in visit.stderr

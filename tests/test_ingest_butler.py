"""`lineage ingest butler-export` on the real exports in ../shared/data/real/butler_exports,
checked against the files read independently (tests/butler_files.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lineage.ingest.driver import ingest

from .butler_files import Tagged, entries, file_counts, load, plain_id, tai_mjd

SCOPE = {"detector": "instrument", "physical_filter": "instrument", "exposure": "instrument",
         "visit": "instrument", "day_obs": "instrument", "group": "instrument",
         "visit_system": "instrument", "tract": "skymap"}


def run(store, *paths, kind="butler-export"):
    return ingest(store, kind, list(paths), show_progress=False)


def exports(real_data) -> list[Path]:
    root = real_data("butler_exports")
    return sorted(root.rglob("*.yaml"))


def record_key(element: str, r: dict) -> str | None:
    value = r.get("id", r.get("name"))
    if element == "patch":
        return f"unit:patch:{r['skymap']}/{r['tract']}/{value}"
    if element in SCOPE:
        return f"unit:{element}:{r[SCOPE[element]]}/{value}"
    if element in ("visit_definition", "visit_system_membership", "visit_detector_region"):
        return None
    return f"unit:{element}:{value}"


def test_every_export_ingests_with_the_counts_of_the_file(store, real_data):
    files = exports(real_data)
    summary = run(store, real_data("butler_exports"))
    by_name = {Path(f.path).name: f for f in summary.files if f.status != "skipped"}
    assert sorted(by_name) == sorted(p.name for p in files)
    assert not summary.rejected, [f.error for f in summary.rejected]
    for path in files:
        got = {k: v for k, v in by_name[path.name].counts.items() if k != "overlaps"}
        assert got == file_counts(path), path.name

    units = dict(store.read("MATCH (u:DataUnit) RETURN u.key, properties(u)"))
    datasets = {k: p for k, p in store.read("MATCH (d:Dataset) RETURN d.key, properties(d)")}
    by_butler_id = {(p["run"], p["butler_id"]): p for p in datasets.values() if "butler_id" in p}
    all_ids = set()
    for path in files:
        # every dimension record is a unit holding the record's plain fields
        for e in entries(path, "dimension"):
            for r in e["records"]:
                key = record_key(e["element"], r)
                if key is None:
                    continue
                assert key in units, (path.name, key)
                for name, value in r.items():
                    if isinstance(value, (str, int, float)) and not isinstance(value, bool) \
                            and name not in ("datetime_begin", "datetime_end"):
                        wanted = pytest.approx(value, rel=1e-14) if isinstance(value, float) \
                            else value  # the model keeps 15 significant digits
                        assert units[key][name] == wanted, (key, name)
        # every dataset with its type, run, path and data ID
        for e in entries(path, "dataset"):
            for r in e["records"]:
                for raw_id, data_id in zip(r["dataset_id"], r["data_id"]):
                    if isinstance(raw_id, Tagged):
                        props = datasets[f"dataset:{raw_id.value}"]
                    else:
                        props = by_butler_id[(e["run"], raw_id)]
                    all_ids.add((path.name, plain_id(raw_id)))
                    assert props["dataset_type"] == e["dataset_type"]
                    assert props["run"] == e["run"]
                    assert props["path"] == r["path"]
                    assert props["data_id"] == ",".join(f"{k}={data_id[k]}"
                                                        for k in sorted(data_id))
    assert len(datasets) == len(all_ids)
    # collections and their types
    stored = dict(store.read("MATCH (c:Collection) RETURN c.name, c.collection_type"))
    for path in files:
        for e in entries(path, "collection"):
            assert stored[e["name"]] == e["collection_type"]


def test_times_are_tai_and_old_utc_timestamps_are_converted(store, real_data):
    """Version 0 wrote visit times as plain YAML timestamps (UTC); the version-1
    export of the same repository tags them as TAI.  Ingesting only the old file
    must give the TAI instants the new file states."""
    root = real_data("butler_exports", "daf_butler")
    old, new = root / "hsc-rc2-subset-v0.yaml", root / "hsc-rc2-subset.yaml"
    assert not run(store, old).rejected
    new_visits = {r["id"]: r for e in entries(new, "dimension") if e["element"] == "visit"
                  for r in e["records"]}
    checked = 0
    for e in entries(old, "dimension"):
        if e["element"] not in ("visit", "exposure"):
            continue
        for r in e["records"]:
            props = store.read("MATCH (u:DataUnit {key: $k}) RETURN properties(u)",
                               {"k": f"unit:{e['element']}:HSC/{r['id']}"})[0][0]
            assert props["time_scale"] == "tai"
            assert props["mjd_begin"] == pytest.approx(tai_mjd(r["datetime_begin"]), abs=1e-9)
            if e["element"] == "visit" and r["id"] in new_visits:
                assert props["mjd_begin"] == pytest.approx(
                    tai_mjd(new_visits[r["id"]]["datetime_begin"]), abs=2e-9)
                assert props["begin"].startswith(
                    new_visits[r["id"]]["datetime_begin"].value[:19].replace(" ", "T"))
                checked += 1
    assert checked == 2  # visits 11690 and 23868 are in both files


def test_calibration_validity_ranges_on_the_edges(store, real_data):
    path = real_data("butler_exports", "pipelines_check", "export.yaml")
    assert not run(store, path).rejected
    rows = store.read("MATCH (c:Collection {name: 'HSC/calib'})-[e:CONTAINS]->(d:Dataset) "
                      "RETURN d.butler_id, e.valid_begin, e.valid_end, e.time_scale")
    got = {r[0]: r[1:] for r in rows}
    expected = {}
    for e in entries(path, "associations"):
        for vr in e["validity_ranges"]:
            for i in vr["dataset_ids"]:
                expected[i] = (tai_mjd(vr["begin"]), tai_mjd(vr["end"]))
    assert set(got) == set(expected)
    from astropy.time import Time
    for i, (begin, end, scale) in got.items():
        assert scale == "tai"
        for stored, wanted in ((begin, expected[i][0]), (end, expected[i][1])):
            if wanted is None:
                assert stored is None
            else:
                assert Time(stored, scale="tai").mjd == pytest.approx(wanted, abs=1e-9)


def test_a_rerun_reports_unchanged(store, real_data):
    first = run(store, real_data("butler_exports"))
    before = store.count()
    second = run(store, real_data("butler_exports"))
    assert {f.status for f in second.files} == {"unchanged", "skipped"}  # skipped: LICENSE ...
    assert store.count() == before
    # (overlaps found depend on what is stored: the first sky map came before the visits)
    same = [{k: v for k, v in f.counts.items() if k != "overlaps"} for f in first.files]
    assert same == [{k: v for k, v in f.counts.items() if k != "overlaps"} for f in second.files]


def _corrupt(tmp_path, real_data, name, change) -> tuple[Path, str]:
    text = real_data("butler_exports", "daf_butler", "ci_hsc-subset.yaml").read_text()
    broken, line = change(text)
    path = tmp_path / name
    path.write_text(broken)
    return path, line


def _first_uuid(text):
    at = text.index("!uuid '")
    return at, text[:at].count("\n") + 1


def truncated(text):
    at, line = _first_uuid(text)
    return text[:at + 15], f"line {line}"  # ends inside the quoted UUID


def unknown_tag(text):
    at, line = _first_uuid(text)
    return text[:at] + "!python/object/apply:os.system" + text[at + 5:], f"line {line}"


def bad_uuid(text):
    at, line = _first_uuid(text)
    return text[:at + 7] + "not-a-uuid" + text[at + 7 + 36:], f"line {line}"


@pytest.mark.parametrize("change, what", [(truncated, "not valid YAML"),
                                          (unknown_tag, "unknown YAML tag"),
                                          (bad_uuid, "bad UUID")])
def test_a_broken_file_is_rejected_naming_file_and_line_and_nothing_is_stored(
        store, real_data, tmp_path, change, what):
    run(store, real_data("butler_exports", "daf_butler", "lsstcam-subset.yaml"))
    before = store.count()
    path, line = _corrupt(tmp_path, real_data, "broken.yaml", change)
    summary = run(store, path)
    assert [f.status for f in summary.files] == ["rejected"]
    error = summary.files[0].error
    assert str(path) in error and line in error and what in error, error
    assert store.count() == before


def test_a_record_without_a_required_field_names_its_line(store, real_data, tmp_path):
    def no_run(text):
        at = text.index("  run: ")
        entry = text.rindex("- type: dataset\n", 0, at)  # the error names the entry's line
        return text[:at] + "  # run removed\n" + text[text.index("\n", at) + 1:], \
            f"line {text[:entry].count(chr(10)) + 1}:"
    path, line = _corrupt(tmp_path, real_data, "norun.yaml", no_run)
    before = store.count()
    summary = run(store, path)
    error = summary.files[0].error
    assert summary.files[0].status == "rejected"
    assert "'run' is missing" in error and line in error and str(path) in error, error
    assert store.count() == before


def test_one_bad_file_does_not_stop_the_good_one(store, real_data, tmp_path):
    good = real_data("butler_exports", "daf_butler", "ci_hsc-subset.yaml")
    bad, _ = _corrupt(tmp_path, real_data, "bad.yaml", truncated)
    summary = run(store, bad, good)
    assert [f.status for f in summary.files] == ["rejected", "added"]
    n = store.read("MATCH (d:Dataset) RETURN count(d)")[0][0]
    assert n == file_counts(good)["datasets"]


def test_a_dataset_id_stored_as_another_dataset_is_refused(store, real_data, tmp_path):
    good = real_data("butler_exports", "daf_butler", "ci_hsc-subset.yaml")
    assert not run(store, good).rejected
    text = good.read_text().replace("run: HSC/runs/ci_hsc/20240806T180642Z",
                                    "run: HSC/runs/other", 1)
    clash = tmp_path / "clash.yaml"
    clash.write_text(text)
    before = store.count()
    summary = run(store, clash)
    assert summary.files[0].status == "rejected"
    error = summary.files[0].error
    assert "conflicts with what is stored" in error
    assert "property 'run' is stored as 'HSC/runs/ci_hsc/20240806T180642Z', the file says " \
        "'HSC/runs/other'" in error
    assert re.search(r"dataset:[0-9a-f-]{36} \(line \d+\): property 'run'", error), error
    assert store.count() == before


def test_datasets_are_identified_by_their_data_id_units(store, real_data):
    path = real_data("butler_exports", "daf_butler", "ci_hsc-subset.yaml")
    run(store, path)
    e = entries(path, "dataset")[0]
    r = e["records"][0]
    key = f"dataset:{r['dataset_id'][0].value}"
    got = sorted(k for (k,) in store.read(
        "MATCH (:Dataset {key: $k})-[:IDENTIFIED_BY]->(u:DataUnit) RETURN u.key", {"k": key}))
    d = r["data_id"][0]
    assert got == sorted([f"unit:detector:{d['instrument']}/{d['detector']}",
                          f"unit:visit:{d['instrument']}/{d['visit']}"])
    assert load(path)["version"] == "1.0.2"

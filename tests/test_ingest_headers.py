"""``lineage ingest headers`` on the real header samples (../shared/data/real/headers).

Expected values come from the files themselves, read here with plain YAML/JSON
and astropy.io.fits, never from the ingest's own output.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from astropy.io import fits
from astropy.time import Time

from lineage.ingest import driver as ingest_files
from lineage.ingest.butler_yaml import butler_dataset_id
from lineage.ingest.bands import band_of
from lineage.ingest.formats.headers import SUFFIXES
from lineage.store.repo import open_store

from .cli_runner import run as lineage_cli

RUBIN_NAMES = {"lsstcam": "LSSTCam", "lsstcamsim": "LSSTCamSim", "latiss": "LATISS",
               "lsst_atiss": "LATISS", "comcam": "LSSTComCam", "comcamsim": "LSSTComCamSim",
               "lsst-ts8": "LSST-TS8", "lsst-ucdcam": "LSST-UCDCam",
               "lsst-ucdcam-itl": "LSST-UCDCam", "lsst_camera": "LSSTComCam"}


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("lsst.daf.base.PropertyList",
                        lambda loader, node: {i[0]: i[2] for i in
                                              loader.construct_sequence(node, deep=True)})


def cards_of(path: Path) -> dict:
    """The header cards of a sample, read independently of the ingest."""
    if path.suffix == ".fits":
        with fits.open(path) as hdus:
            cards = dict(hdus[1].header)
            cards.update(hdus[0].header)  # the primary wins where both have a card
            return cards
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.load(text, _Loader)


def header_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))


def counts(store) -> tuple[int, int]:
    return store.count()


def unit_props(store, key: str) -> dict | None:
    rows = store.read("MATCH (u:DataUnit {key: $k}) RETURN properties(u)", {"k": key})
    return rows[0][0] if rows else None


def test_real_headers_ingest_or_say_why(store, real_data):
    root = real_data("headers")
    paths = header_files(root)
    summary = ingest_files.ingest(store, "headers", [root], show_progress=False)
    assert [Path(f.path) for f in summary.files if f.status != "skipped"] == paths
    assert not summary.rejected, [f.error for f in summary.rejected]
    by_name = {Path(f.path).name: f for f in summary.files}

    rubin_exposures = set()
    for path in paths:
        outcome = by_name[path.name]
        c = cards_of(path)
        date = str(c.get("DATE-BEG") or c.get("DATE-OBS") or "")
        inst = str(c.get("INSTRUME") or "").lower()
        if date.startswith("1970-01-01"):
            assert outcome.skipped and "Unix epoch" in outcome.skipped[0], path.name
            continue
        if inst not in RUBIN_NAMES and "astro_metadata_translator" not in str(path):
            assert outcome.skipped and "no translator" in outcome.skipped[0], path.name
            continue
        if outcome.skipped:  # only missing cards may stop a known camera
            assert "missing card" in outcome.skipped[0], (path.name, outcome.skipped)
            assert c.get("OBSID") is None, path.name
            continue
        assert outcome.status in ("added", "updated", "unchanged"), path.name
        if inst in RUBIN_NAMES:
            name = RUBIN_NAMES[inst]
            exposure = int(c["DAYOBS"]) * 100000 + int(c["SEQNUM"])
            rubin_exposures.add((name, exposure))
            props = unit_props(store, f"unit:exposure:{name}/{exposure}")
            assert props is not None, path.name
            if c.get("EXPTIME") is None:  # stored as unknown, and said
                assert "exposure_time" not in props, path.name
                assert any("EXPTIME" in w for w in outcome.warnings), path.name
            else:
                assert props["exposure_time"] == pytest.approx(float(c["EXPTIME"]))
            assert props["observation_id"] == c["OBSID"]
            scale = str(c.get("TIMESYS", "UTC")).lower()
            begin = Time(date, scale=scale)
            assert props["mjd_begin"] == pytest.approx(begin.tai.mjd, abs=1e-9)
            assert props["time_scale"] == "tai"
            if scale == "tai":
                assert props["begin"] == date  # TAI kept as written
            offset = (datetime.fromisoformat(props["begin"])
                      - datetime.fromisoformat(props["begin_utc"]))
            if date.startswith("2023"):
                assert offset == timedelta(seconds=37)  # TAI - UTC in 2023
            det = re.search(r"det(\d{3})", path.name)
            if det and path.suffix == ".fits":
                assert unit_props(store, f"unit:detector:{name}/{int(det.group(1))}") is not None
    # the exposure units are exactly the Rubin ones plus those of the other translators
    rows = store.read("MATCH (u:DataUnit) WHERE u.dimension = 'exposure' "
                      "RETURN u.instrument, u.value")
    stored = {(i, int(v)) for i, v in rows}
    assert rubin_exposures <= stored
    others = {(i, v) for i, v in stored if i not in set(RUBIN_NAMES.values())}
    assert {i for i, _ in others} == {"DECam", "HSC", "MegaPrime", "Imager on SDSS 2.5m",
                                      "SuprimeCam"}

    # a re-run adds nothing
    before = counts(store)
    again = ingest_files.ingest(store, "headers", [root], show_progress=False)
    # files that disagree on a shared node (LATISS detector 0's serial) overwrite each other
    # again, and now say so ("updated", with what changed); nothing else changes
    assert all(f.status in ("unchanged", "skipped") or f.status == "updated" and f.updated
               for f in again.files)
    assert counts(store) == before


def test_other_translators_values(repo, real_data):
    root = real_data("headers", "astro_metadata_translator")
    store = open_store(repo)
    try:
        path = root / "fitsheader-decam.yaml"
        ingest_files.ingest(store, "headers", [path], show_progress=False)
        c = cards_of(path)
        props = unit_props(store, f"unit:exposure:DECam/{c['EXPNUM']}")
        assert props["exposure_time"] == pytest.approx(c["EXPTIME"])
        assert props["begin_utc"].startswith(c["DATE-OBS"][:19])  # DECam DATE-OBS is UTC
        assert props["band"] == c["FILTER"][0]
        visit = unit_props(store, f"unit:visit:DECam/{c['EXPNUM']}")
        assert visit is not None and visit["observation_type"] == "science"
    finally:
        store.close()


def test_implausible_and_garbage_headers(repo, real_data, tmp_path):
    src = real_data("headers", "obs_lsst", "lsstCam-MC_O_20250609_000578_R01_S01.yaml")
    cards = yaml.safe_load(src.read_text())
    store = open_store(repo)
    try:
        good = tmp_path / "good.yaml"
        good.write_text(src.read_text())
        ingest_files.ingest(store, "headers", [good], show_progress=False)
        before = counts(store)

        garbage = dict(cards, **{"DATE-BEG": "garbage", "DATE-OBS": "garbage",
                                 "MJD-BEG": None, "MJD-OBS": None, "SEQNUM": 999})
        (tmp_path / "garbage.yaml").write_text(yaml.safe_dump(garbage))
        epoch = dict(cards, **{"DATE-BEG": "1970-01-01T00:00:08.000", "SEQNUM": 998})
        (tmp_path / "epoch.yaml").write_text(yaml.safe_dump(epoch))
        radians = dict(cards, RA=5.59, DEC=-0.3131, SEQNUM=997)
        (tmp_path / "radians.yaml").write_text(yaml.safe_dump(radians))
        (tmp_path / "truncated.json").write_text(json.dumps(cards)[:200])

        summary = ingest_files.ingest(store, "headers", sorted(tmp_path.glob("*.*")),
                                      show_progress=False)
        out = {Path(f.path).name: f for f in summary.files}
        assert out["garbage.yaml"].status == "rejected"
        assert "garbage.yaml" in out["garbage.yaml"].error
        assert "DATE-BEG" in out["garbage.yaml"].error and "'garbage'" in out["garbage.yaml"].error
        assert out["truncated.json"].status == "rejected"
        assert "truncated.json" in out["truncated.json"].error
        assert "line 1" in out["truncated.json"].error
        assert "Unix epoch" in out["epoch.yaml"].skipped[0]
        assert "RA/DEC = (5.59, -0.3131) look like radians" in out["radians.yaml"].skipped[0]
        assert out["good.yaml"].status == "unchanged"
        assert counts(store) == before  # nothing of the bad files was stored

        missing = {k: v for k, v in cards.items() if k != "EXPTIME"}
        missing["SEQNUM"] = 996
        (tmp_path / "missing.yaml").write_text(yaml.safe_dump(missing))
        outcome, = ingest_files.ingest(store, "headers", [tmp_path / "missing.yaml"],
                                       show_progress=False).files
        assert not outcome.skipped  # stored, its exposure time unknown
        assert "card EXPTIME or EXPOSURE missing" in outcome.warnings[0]
    finally:
        store.close()


@pytest.mark.parametrize("name, band", [("i_39", "i"), ("SDSSr_65mm~empty_1", "r"),
                                        ("HSC-R2", "r"), ("z DECam SDSS c0004 9260.0 1520.0", "z"),
                                        ("i.MP9702", "i"), ("W-S-R+", "r"), ("empty_1~holo4_003",
                                                                            "white"),
                                        ("950nm", None), ("solid plate 0.0 0.0", None)])
def test_band_rules(name, band):
    assert band_of(name) == band


def test_header_without_exposure_time_is_stored_with_a_warning(store, real_data):
    """Issue #19.1: a real LATISS header with no EXPTIME/EXPOSURE card is stored, its exposure
    time unknown, and the report names the file and the card."""
    path = real_data("headers", "obs_lsst", "latiss-AT_O_20190329_000022-ats-wfs_ccd.yaml")
    c = cards_of(path)
    assert c.get("EXPTIME") is None and c.get("EXPOSURE") is None
    outcome, = ingest_files.ingest(store, "headers", [path], show_progress=False).files
    assert outcome.status == "added" and not outcome.skipped
    assert outcome.warnings[0] == ("card EXPTIME or EXPOSURE missing: "
                                   "exposure_time stored as unknown")
    exposure = int(c["DAYOBS"]) * 100000 + int(c["SEQNUM"])
    props = unit_props(store, f"unit:exposure:LATISS/{exposure}")
    assert props["observation_id"] == c["OBSID"]
    assert "exposure_time" not in props
    # the date is kept (DATE-OBS, in a scale the header does not name: within TAI-UTC)
    assert props["mjd_begin"] == pytest.approx(Time(c["DATE-OBS"]).mjd, abs=40 / 86400)


def test_blank_radesys_is_icrs_and_said(store, real_data):
    """Issue #19.2: LATISS headers with a blank RADESYS keep their pointing (RASTART/DECSTART
    in degrees, ICRS as Rubin's translator reads it), and the report says the rule."""
    root = real_data("headers", "obs_lsst")
    for name in ("latiss-AT_O_20200128_000335.yaml", "latiss-AT_O_20200128_000379.yaml"):
        path = root / name
        c = cards_of(path)
        assert c["RADESYS"] == ""
        outcome, = ingest_files.ingest(store, "headers", [path], show_progress=False).files
        assert "card RADESYS is blank: RA/Dec read as ICRS, as Rubin's translator does" \
            in outcome.warnings, name
        props = unit_props(store, f"unit:exposure:LATISS/{int(c['DAYOBS']) * 100000 + int(c['SEQNUM'])}")
        assert props["ra"] == pytest.approx(c["RASTART"], abs=1e-9), name
        assert props["dec"] == pytest.approx(c["DECSTART"], abs=1e-9), name


def test_raw_id_is_the_butlers(real_data):
    """Issue #19.3: a raw's UUID is the one daf_butler's DatasetIdFactory makes with
    DATAID_TYPE_RUN (the oracle, when daf_butler is installed; lineage does not need it)."""
    butler = pytest.importorskip("lsst.daf.butler")
    from lsst.daf.butler import DataCoordinate, DatasetIdGenEnum, DatasetType, DimensionUniverse
    from lsst.daf.butler._dataset_ref import DatasetIdFactory
    assert butler
    universe = DimensionUniverse()
    raw = DatasetType("raw", ["instrument", "exposure", "detector"], "Exposure",
                      universe=universe)
    for instrument, exposure, detector in (("LSSTCam", 2019031900001, 97), ("LATISS",
                                           2018092000065, 0), ("HSC", 904024, 50)):
        data_id = {"instrument": instrument, "exposure": exposure, "detector": detector}
        coordinate = DataCoordinate.standardize(data_id, dimensions=raw.dimensions)
        want = DatasetIdFactory().makeDatasetId(f"{instrument}/raw/all", raw, coordinate,
                                                DatasetIdGenEnum.DATAID_TYPE_RUN)
        assert butler_dataset_id("raw", f"{instrument}/raw/all", data_id) == str(want)


def test_raw_files_become_raw_datasets_fetch_and_flags_use(repo, real_data, tmp_path):
    """Issue #19.3: ingesting the real raw FITS files (and a header dump of one of them) makes
    one ``raw`` per exposure and detector, as ``butler ingest-raws`` would: run
    ``<instrument>/raw/all``, data ID instrument/exposure/detector, the file's URI (below the
    directory given), size and sha256; the dump names no file.  Then ``lineage fetch`` gets
    the files back and ``lineage flag exposure=...`` reaches them."""
    headers = real_data("headers")
    fits_dir = headers / "raw_fits"
    dump = headers / "obs_lsst" / "lsstCam-MC_C_20190319_000001_R22_S21.yaml"
    store = open_store(repo)
    try:
        summary = ingest_files.ingest(store, "headers", [dump, fits_dir], show_progress=False)
        raws = {r[0]: r for r in store.read(
            "MATCH (c:Collection)-[:CONTAINS]->(d:Dataset)-[:OF_TYPE]->(:DatasetType {name: 'raw'}) "
            "MATCH (d)-[:IDENTIFIED_BY]->(e:DataUnit {dimension: 'exposure'}) "
            "MATCH (d)-[:IDENTIFIED_BY]->(t:DataUnit {dimension: 'detector'}) "
            "RETURN d.uri, d.size, d.checksum, d.run, c.name, d.data_id, e.value, t.value, "
            "d.key")}
    finally:
        store.close()
    stored_files = [f for f in summary.files if not f.skipped and f.path.endswith(".fits")]
    assert len(stored_files) == 9  # the 12 files less the 3 no translator knows
    for outcome in stored_files:
        path = Path(outcome.path)
        uri, size, checksum, run, collection, data_id, exposure, detector, _ = raws[path.name]
        c = cards_of(path)
        instrument = data_id.split("instrument=")[1]
        assert run == collection == f"{instrument}/raw/all"
        assert size == path.stat().st_size
        assert checksum == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        assert data_id == f"detector={detector},exposure={exposure},instrument={instrument}"
        assert int(exposure) == int(c["DAYOBS"]) * 100000 + int(c["SEQNUM"])
        det = re.search(r"det(\d{3})", path.name)
        if det and "ts3" not in path.name:
            assert int(detector) == int(det.group(1)), path.name
    # the dump and the FITS file of detector 97 are one raw: the file's, the same UUID
    assert summary.files[0].counts["raws"] == 1
    dump_raw = [r for r in raws.values() if r[5].startswith("detector=97,")]
    assert len(dump_raw) == 1 and dump_raw[0][0].endswith("R22-S21-det097.fits")

    fetched = lineage_cli("fetch", "instrument=LSSTCam,exposure=2019031900001", "--repo", repo,
                  "--datastore", fits_dir, "--to", tmp_path / "got", "--json")
    assert fetched.returncode == 0, fetched.stderr
    got = sorted(p.name for p in (tmp_path / "got").rglob("*.fits"))
    assert got == sorted(Path(u).name for u in raws if "2019-03-19" in u)
    for name in got:
        copy = next((tmp_path / "got").rglob(name))
        assert copy.read_bytes() == (fits_dir / name).read_bytes()

    flagged = lineage_cli("flag", "instrument=LSSTCam,exposure=2019031900001", "--verdict", "bad",
                  "--reason", "test", "--evidence", "https://example.org/elog/1", "--by", "me",
                  "--repo", repo, "--json")
    assert flagged.returncode == 0, flagged.stderr
    assert json.loads(flagged.stdout)["blast_radius"]["by_dataset_type"] == {"raw": 2}

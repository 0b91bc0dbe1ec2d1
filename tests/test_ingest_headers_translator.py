"""The translator as the oracle of ``lineage ingest headers`` (issue #19).

For every header sample in ../shared/data/real/headers, what astro_metadata_translator
reads (``ObservationInfo`` over the cards read here with plain YAML/JSON and astropy; the
Rubin cameras through the translator lineage registers, obs_lsst not being on PyPI) is
what the graph stores, or the ingest report of that file says why it is not.
"""

from __future__ import annotations

import logging
import math
import warnings

import astropy.units as u
import pytest
from astro_metadata_translator import ObservationInfo

from lineage.ingest import driver as ingest_files
from lineage.store.falkordb_server import FalkorServer
from lineage.store.repo import init_repo, open_store

from .conftest import REAL_DATA
from .test_ingest_headers import cards_of, header_files, unit_props

SAMPLES = header_files(REAL_DATA / "headers") if REAL_DATA.exists() else []


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """The whole headers folder ingested once: the store and each file's outcome by path."""
    root = tmp_path_factory.mktemp("oracle") / "repo"
    init_repo(root)
    store = open_store(root)
    try:
        summary = ingest_files.ingest(store, "headers", [REAL_DATA / "headers"],
                                      show_progress=False)
        yield store, {f.path: f for f in summary.files}
    finally:
        store.close()
        FalkorServer(root).stop()


def oracle(path) -> ObservationInfo:
    """What astro_metadata_translator reads from the file's cards."""
    cards = cards_of(path)
    if cards.get("__CONTENT__") == "translated":
        return ObservationInfo.from_simple({k: v for k, v in cards.items() if k != "__CONTENT__"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            return ObservationInfo(cards, filename=str(path), quiet=True)
        finally:
            logging.disable(logging.NOTSET)


def expected(info: ObservationInfo) -> dict:
    """The stored exposure properties the translator's reading gives: name -> (value,
    translator property the report names when it differs)."""
    def deg(angle):
        return None if angle is None else angle.to_value(u.deg)

    radec = info.tracking_radec.icrs if info.tracking_radec is not None else None
    altaz = info.altaz_begin
    return {
        "exposure_time": (None if info.exposure_time is None
                          else info.exposure_time.to_value(u.s), "exposure_time"),
        "dark_time": (None if info.dark_time is None else info.dark_time.to_value(u.s),
                      "dark_time"),
        "mjd_begin": (info.datetime_begin.tai.mjd, "datetime_begin"),
        "mjd_end": (None if info.datetime_end is None else info.datetime_end.tai.mjd,
                    "datetime_end"),
        "ra": (None if radec is None else deg(radec.ra), "tracking_radec"),
        "dec": (None if radec is None else deg(radec.dec), "tracking_radec"),
        "azimuth": (None if altaz is None else deg(altaz.az), "altaz_begin"),
        "altitude": (None if altaz is None else deg(altaz.alt), "altaz_begin"),
        "airmass": (info.boresight_airmass, "boresight_airmass"),
        "rotation": (deg(info.boresight_rotation_angle), "boresight_rotation_angle"),
        "observation_id": (info.observation_id, "observation_id"),
        "observation_type": (info.observation_type, "observation_type"),
        "physical_filter": (info.physical_filter or "unknown", "physical_filter"),
        "day_obs": (info.observing_day, "observing_day"),
        "seq_num": (info.observation_counter, "observation_counter"),
        "object": (info.object, "object"),
        "telescope": (info.telescope, "telescope"),
    }


def same(stored, value) -> bool:
    if isinstance(value, float):
        return stored is not None and math.isclose(float(stored), value, rel_tol=1e-9,
                                                   abs_tol=1e-9)
    return stored == value or (stored is not None and str(stored) == str(value))


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_graph_stores_what_the_translator_reads(ingested, path):
    store, outcomes = ingested
    outcome = outcomes[str(path)]
    report = " | ".join(outcome.skipped + outcome.warnings + outcome.updated + [outcome.error])
    try:
        info = oracle(path)
    except Exception:  # no translator knows it: the report must say why it is not stored
        assert outcome.skipped and "no translator knows this header" in outcome.skipped[0]
        return
    if info.exposure_id is None or info.datetime_begin is None:
        assert outcome.skipped and "missing card" in outcome.skipped[0], report
        return
    if outcome.skipped:  # read by the translator, left out by the ingest: the reason given
        assert any(why in outcome.skipped[0] for why in ("Unix epoch", "look like radians",
                                                         "in the future")), report
        return
    assert outcome.status in ("added", "updated", "unchanged"), report
    props = unit_props(store, f"unit:exposure:{info.instrument}/{info.exposure_id}")
    assert props is not None, report
    assert unit_props(store, f"unit:detector:{info.instrument}/{info.detector_num}")
    for name, (value, prop) in expected(info).items():
        stored = props.get(name)
        if value is None:
            assert stored is None or prop in report or name in report, (name, stored, report)
        elif not same(stored, value):
            assert prop in report or name in report, (name, stored, value, report)

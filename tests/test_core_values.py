"""The core value types: data IDs (:mod:`lineage.core.dataid`) and times with their scale
(:mod:`lineage.core.time`), with the edge cases the private helpers they replaced handled."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import subprocess
import sys

import pytest

from lineage.core.dataid import DataId, format_data_id
from lineage.core.time import (TAI_MINUS_UTC, ZoneError, day_obs_date, iso_date, iso_ms, mjd_to_iso,
                               now_utc_iso, now_utc_stamp, parse_iso, parse_utc_stamp, span_props,
                               stored_time, tai_iso, tai_mjd, tai_stamp_to_time, utc_ns_to_time,
                               utc_stamp, utc_stamp_of_tai)


# --- data IDs ----------------------------------------------------------------------------------

def test_data_id_parses_canonical_text_and_gives_it_back():
    text = "band=r,patch=5,tract=9813"
    data_id = DataId.parse(text)
    assert dict(data_id) == {"band": "r", "patch": "5", "tract": "9813"}
    assert str(data_id) == text
    assert data_id["tract"] == "9813" and data_id.get("visit") is None
    assert "band" in data_id and len(data_id) == 3


def test_data_id_parse_is_lenient_unless_strict():
    assert dict(DataId.parse("a=1,junk,b=2")) == {"a": "1", "b": "2"}
    assert DataId.parse("") == {} and DataId.parse(None) == {}
    assert dict(DataId.parse("k=a=b")) == {"k": "a=b"}        # only the first '=' splits
    assert dict(DataId.parse(" a= 1")) == {" a": " 1"}        # nothing is stripped
    assert dict(DataId.parse("a=1,a=2")) == {"a": "2"}        # the last value wins
    with pytest.raises(ValueError, match="'detector' is not name=value"):
        DataId.parse("visit=1,detector", strict=True)
    assert DataId.parse("", strict=True) == {}
    assert DataId.parse("visit=1,detector=2", strict=True) == {"visit": "1", "detector": "2"}


def test_data_id_of_a_mapping_is_text_valued_and_canonical():
    raw = {"visit": 903342, "instrument": "HSC", "detector": 10}
    data_id = DataId.of(raw)
    assert data_id["visit"] == "903342"
    assert str(data_id) == format_data_id(raw) == "detector=10,instrument=HSC,visit=903342"
    assert format_data_id({}) == str(DataId()) == ""


def test_data_ids_are_equal_whatever_their_order_and_frozen():
    a, b = DataId.parse("visit=1,detector=2"), DataId.parse("detector=2,visit=1")
    assert a == b and hash(a) == hash(b) and a == {"detector": "2", "visit": "1"}
    assert a != DataId.parse("visit=1") and a != "visit=1,detector=2"
    assert str(a) == str(b) == "detector=2,visit=1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.pairs = ()


def test_data_id_sort_key_is_natural():
    texts = ["patch=10,tract=1", "patch=2,tract=1", "patch=a,tract=1", "patch=2,tract=0"]
    assert sorted(texts, key=lambda t: DataId.parse(t).sort_key()) == \
        ["patch=2,tract=0", "patch=2,tract=1", "patch=10,tract=1", "patch=a,tract=1"]
    assert DataId.parse("").sort_key() < DataId.parse("band=g").sort_key()


def test_data_id_path_keeps_the_text_order():
    assert DataId.parse("band=r,patch=5,tract=9813").path() == "bandr_patch5_tract9813"
    assert DataId.parse("visit=1,detector=2").path() == "visit1_detector2"   # a datastore's own order
    assert DataId.parse("k=a=b").path() == "kab"
    assert DataId.parse("").path() == ""


# --- times -------------------------------------------------------------------------------------

def test_importing_the_time_module_does_not_import_astropy():
    code = ("import sys, lineage.core.time, lineage.core.dataid; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('astropy', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_parse_iso_converts_zones_to_utc_and_refuses_them_in_tai():
    assert parse_iso("2026-03-01T12:00:00") == dt.datetime(2026, 3, 1, 12)
    assert parse_iso("2026-03-01T14:00:00+02:00") == dt.datetime(2026, 3, 1, 12)
    assert parse_iso("2026-03-01T12:00:00Z", "utc") == dt.datetime(2026, 3, 1, 12)
    assert parse_iso("2026-03-01T12:00:00", "tai") == dt.datetime(2026, 3, 1, 12)
    with pytest.raises(ZoneError, match="has a UTC offset but the time scale is tai"):
        parse_iso("2026-03-01T12:00:00Z", "tai")
    assert issubclass(ZoneError, ValueError)
    for bad in ("yesterday", " 2026-03-01", "2026-02-30"):
        with pytest.raises(ValueError):
            parse_iso(bad)


def test_iso_ms_is_naive_text_to_the_millisecond():
    assert iso_ms("2026-03-01T12:00:00Z") == "2026-03-01T12:00:00.000"
    assert iso_ms("2026-03-01T12:00:00.123456-01:00") == "2026-03-01T13:00:00.123"
    assert iso_ms("2026-03-01", "tai") == "2026-03-01T00:00:00.000"


def test_utc_stamps_have_one_fixed_form():
    assert utc_stamp(dt.datetime(2026, 3, 1, 14, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == \
        "2026-03-01T12:00:00.000000Z"
    assert utc_stamp(dt.datetime(2026, 3, 1, 12, 0, 0, 5)) == "2026-03-01T12:00:00.000005Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", now_utc_stamp())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", now_utc_iso())


def test_parse_utc_stamp_takes_dates_times_and_zones_or_says_none():
    assert parse_utc_stamp(" 2026-03-01 ") == "2026-03-01T00:00:00.000000Z"
    assert parse_utc_stamp("2026-03-01T12:00:00+01:00") == "2026-03-01T11:00:00.000000Z"
    assert parse_utc_stamp("2026-03-01T12:00:00Z") == "2026-03-01T12:00:00.000000Z"
    assert parse_utc_stamp("DP1") is None


def test_utc_stamp_of_a_tai_time_takes_off_the_fixed_offset():
    assert TAI_MINUS_UTC == dt.timedelta(seconds=37)
    assert utc_stamp_of_tai("2026-03-01T00:00:37.000") == "2026-03-01T00:00:00.000000Z"
    assert utc_stamp_of_tai("2026-03-01T00:00:37+05:00") == "2026-03-01T00:00:00.000000Z"


def test_dates_of_iso_text_and_day_obs():
    assert iso_date("2023-07-06T04:56:01.913Z") == dt.date(2023, 7, 6)
    assert iso_date("2023-07-06 04:56:01+02:00") == dt.date(2023, 7, 6)
    assert iso_date("2023-02-30") is None and iso_date("July 6") is None
    assert day_obs_date(20230706) == day_obs_date("20230706") == dt.date(2023, 7, 6)
    assert day_obs_date("2023076") is None and day_obs_date(20230230) is None


def test_mjd_to_iso_keeps_the_scale():
    assert mjd_to_iso(40587.0) == "1970-01-01T00:00:00.000"
    assert mjd_to_iso(60000.5) == "2023-02-25T12:00:00.000"


def test_tai_mjd_of_iso_or_mjd_in_either_scale():
    assert tai_mjd("60000") == 60000.0
    assert tai_mjd("2023-02-25T00:00:00") == 60000.0
    assert tai_mjd("60000", "utc") == pytest.approx(60000 + 37 / 86400, abs=1e-9)
    assert tai_mjd("2023-02-24T23:59:23", "utc") == pytest.approx(60000.0, abs=1e-9)
    with pytest.raises(ValueError, match="not a time: 'soon'"):
        tai_mjd("soon")


def test_stored_time_reads_a_job_date_in_its_scale():
    t = stored_time("2023-02-25 00:00:00Z", None)
    assert t.scale == "utc" and t.mjd == 60000.0
    assert stored_time("2023-02-25T00:00:00", "TAI").scale == "tai"
    assert stored_time(None, "utc") is None and stored_time("", "utc") is None


def test_efd_stamps():
    t = utc_ns_to_time([0, 1_500_000_000])
    assert t.scale == "utc" and list(t.isot) == ["1970-01-01T00:00:00.000", "1970-01-01T00:00:01.500"]
    s = tai_stamp_to_time(0.0)
    assert s.scale == "tai" and s.isot == "1970-01-01T00:00:00.000"


def test_span_props_in_tai_with_utc_copies():
    from astropy.time import Time
    begin = Time("2023-02-25T00:00:00", scale="tai")
    end = Time("2023-02-25T00:00:30.5", scale="tai")
    assert tai_iso(Time("2023-02-24T23:59:23", scale="utc")) == "2023-02-25T00:00:00.000000000"
    assert span_props(begin, end) == {
        "begin": "2023-02-25T00:00:00.000000000", "mjd_begin": 60000.0,
        "begin_utc": "2023-02-24T23:59:23.000000000",
        "end": "2023-02-25T00:00:30.500000000", "mjd_end": pytest.approx(60000 + 30.5 / 86400),
        "end_utc": "2023-02-24T23:59:53.500000000", "time_scale": "tai"}
    utc_end = Time("2023-02-25T00:00:00", scale="utc")
    assert span_props(None, utc_end, ("start", "end"), precision=3, with_mjd=False) == {
        "end": "2023-02-25T00:00:37.000", "end_utc": "2023-02-25T00:00:00.000", "time_scale": "tai"}
    assert span_props(None, None) == {}

"""Times, with their scale said.

Two time scales meet in the graph.  UTC is civil time: flags, API tokens and
their audit, metric jobs, OpenLineage events.  TAI is the observatory's
clock: exposures, visits, quanta and calibration validity ranges, stored with
``time_scale: "tai"`` (and UTC copies beside them).  Every function here says
the scale in its name or takes it as an argument.

The stored text forms, which export must keep byte for byte:

* a UTC stamp, ``2026-03-01T12:00:00.000000Z`` (:func:`utc_stamp`): flag and
  token times; one fixed width, so they compare as text in every engine;
* naive ISO text to the millisecond, ``2026-03-01T12:00:00.000``
  (:func:`iso_ms`), in the time's own scale: visit bounds, event times;
* astropy's ISO text of a TAI span with its UTC copies (:func:`span_props`).

Functions that need astropy (or numpy) import it themselves: importing this
module must stay cheap, because the command line imports it at start-up.
"""

from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache

from lineage.core.errors import UserError

#: TAI - UTC since 2017-01-01: flags turn a TAI quantum end into UTC with it, without astropy.
TAI_MINUS_UTC = _dt.timedelta(seconds=37)

#: The UTC stamp's format (:func:`utc_stamp`).
UTC_STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"

_ISO_DATE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)([T ][0-9:.]+)?(Z|[+-]\d\d:?\d\d)?$")


class ZoneError(UserError):
    """A time with a zone or UTC offset in a scale that has none (TAI, TT)."""


# --- ISO text --------------------------------------------------------------------------------

def parse_iso(text: str, scale: str = "utc") -> _dt.datetime:
    """ISO 8601 text as a naive datetime in ``scale``.  A zone or UTC offset (``Z``,
    ``+02:00``) makes the time UTC-based: converted to UTC for ``scale`` utc, a
    :class:`ZoneError` in any other scale.  ValueError when not ISO; nothing is stripped."""
    t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        return t
    if scale != "utc":
        raise ZoneError(f"{text!r} has a UTC offset but the time scale is {scale}")
    return t.astimezone(_dt.timezone.utc).replace(tzinfo=None)


def iso_ms(text: str, scale: str = "utc") -> str:
    """ISO text as stored for a time in ``scale``: naive, to the millisecond
    (``2026-03-01T12:00:00.000``); errors as :func:`parse_iso`."""
    return parse_iso(text, scale).isoformat(timespec="milliseconds")


def iso_date(text: str) -> _dt.date | None:
    """The date of ISO text (``2023-07-06``, ``2023-07-06T04:56:01.913Z`` ...); None when
    the text is not ISO or the date does not exist."""
    m = _ISO_DATE.match(text)
    if not m:
        return None
    try:
        return _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def day_obs_date(value) -> _dt.date | None:
    """The date of a ``day_obs`` (``20230706``, as number or text); None when it is not
    eight digits of a real date."""
    text = str(value)
    if not re.match(r"^\d{8}$", text):
        return None
    try:
        return _dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def mjd_to_iso(mjd: float) -> str:
    """ISO text to the millisecond of an MJD, in the scale the MJD is in (plain arithmetic
    from MJD 40587 = 1970-01-01, no leap seconds: the scale does not change)."""
    t = _dt.datetime(1970, 1, 1) + _dt.timedelta(days=mjd - 40587.0)
    return t.isoformat(timespec="milliseconds")


# --- UTC stamps ------------------------------------------------------------------------------

def utc_stamp(t: _dt.datetime) -> str:
    """The UTC stamp of ``t`` (aware, or naive in UTC): ``2026-03-01T12:00:00.000000Z``."""
    if t.tzinfo is not None:
        t = t.astimezone(_dt.timezone.utc)
    return t.strftime(UTC_STAMP)


def now_utc_stamp() -> str:
    """The UTC stamp of now."""
    return utc_stamp(_dt.datetime.now(_dt.timezone.utc))


def parse_utc_stamp(text: str) -> str | None:
    """The UTC stamp of an ISO date or time (UTC unless it says otherwise; spaces around
    allowed); None if the text is not one."""
    try:
        return utc_stamp(parse_iso(text.strip()))
    except ValueError:
        return None


def utc_stamp_of_tai(text: str) -> str:
    """The UTC stamp of a stored TAI ISO time, by the fixed :data:`TAI_MINUS_UTC` (exact
    since 2017); a zone in the text is ignored, as TAI has none."""
    tai = _dt.datetime.fromisoformat(text).replace(tzinfo=None)
    return utc_stamp(tai - TAI_MINUS_UTC)


def tai_iso_of_utc_stamp(stamp: str) -> str:
    """The TAI ISO time (microseconds, no zone) of a UTC stamp, by :data:`TAI_MINUS_UTC`: the
    form stored quantum times compare with as text (``as of`` a time, in lineage)."""
    return (parse_iso(stamp) + TAI_MINUS_UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def now_utc_iso() -> str:
    """Now, UTC, as ISO text to the second with its offset (``2026-03-01T12:00:00+00:00``):
    when a file (repository config, fetch manifest) or an answer was written."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


#: Units of :func:`parse_duration`: seconds, minutes, hours, days, weeks.
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str, field: str | None = None) -> _dt.timedelta:
    """A length of time written as a number and one unit, ``90d``, ``12h``, ``2w``, ``30m``,
    ``45s`` (:data:`DURATION_UNITS`; no months or years, whose length varies): retention
    ages.  :class:`UserError` about ``field`` when the text is not one."""
    m = _DURATION.match(str(text))
    if not m:
        raise UserError(f"{text!r} is not a length of time: give a number and a unit, "
                        "s, m, h, d or w (90d, 12h, 2w)", field=field)
    return _dt.timedelta(seconds=float(m.group(1)) * DURATION_UNITS[m.group(2)])


# --- astropy times ---------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def tai_mjd(text: str, scale: str = "tai") -> float:
    """TAI MJD of ISO text or of an MJD number (as text), either in ``scale``.
    ValueError when it is neither."""
    from astropy.time import Time
    try:
        value = float(text)
        t = Time(value, format="mjd", scale=scale)
    except ValueError:
        try:
            t = Time(text, scale=scale)
        except ValueError:
            raise UserError(f"not a time: {text!r} (give ISO, e.g. 2013-06-17T13:34:45, "
                             "or an MJD)") from None
    return float(t.tai.mjd)


def stored_time(text: str | None, scale: str | None):
    """A stored ISO time (``T`` or a space between date and time, a trailing ``Z``
    allowed) in ``scale`` (``utc`` when not said, any case) as an astropy Time; None
    for no text."""
    from astropy.time import Time
    if not text:
        return None
    return Time(str(text).replace(" ", "T").rstrip("Z"), format="isot",
                scale=(scale or "utc").lower())


def utc_ns_to_time(ns):
    """Integer UTC nanoseconds since the epoch as an astropy Time (exact: seconds + fraction)."""
    import numpy as np
    from astropy.time import Time
    ns = np.asarray(ns, dtype=np.int64)
    seconds, rest = np.divmod(ns, 1_000_000_000)
    return Time(seconds.astype(float), rest / 1e9, format="unix", scale="utc")


def tai_stamp_to_time(stamp):
    """A SAL stamp (TAI seconds since 1970-01-01 TAI) as an astropy Time."""
    from astropy.time import Time
    return Time(stamp, format="unix_tai", scale="tai")


def tai_iso(t, precision: int = 9) -> str:
    """An astropy Time as TAI ISO text to ``precision`` decimals of a second."""
    tai = t.tai
    tai.precision = precision
    return tai.isot


def span_props(begin, end, names: tuple[str, str] = ("begin", "end"), precision: int = 9,
               with_mjd: bool = True) -> dict:
    """A span's stored properties from astropy Times (None: that end is left out): each end
    in TAI (ISO to ``precision`` decimals of a second), its TAI MJD (``mjd_<name>``, with
    ``with_mjd``) and a UTC copy (``<name>_utc``), plus ``time_scale: "tai"``."""
    if begin is None and end is None:
        return {}
    from astropy.utils.exceptions import AstropyWarning
    from erfa import ErfaWarning
    import warnings
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ErfaWarning)  # dates past the leap-second table
        warnings.simplefilter("ignore", AstropyWarning)
        for name, t in zip(names, (begin, end)):
            if t is None:
                continue
            out[name] = tai_iso(t, precision)
            if with_mjd:
                out[f"mjd_{name}"] = float(t.tai.mjd)
            utc = t.utc
            utc.precision = precision
            out[f"{name}_utc"] = utc.isot
    if out:
        out["time_scale"] = "tai"
    return out

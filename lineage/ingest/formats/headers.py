"""``lineage ingest headers``: observation headers as data units.

Reads a FITS file (primary header merged with the first extension, as raws
are translated) or a header dump (YAML mapping, ``lsst.daf.base.PropertyList``
YAML, JSON mapping, or a translated ``ObservationInfo`` JSON), translates it
with astro-metadata-translator (Rubin cameras through
:mod:`lineage.ingest.rubin_translator` unless obs_lsst is installed) and
writes the instrument, exposure, visit, detector, physical_filter, band and
day_obs data units of that observation, and the ``raw`` dataset of its exposure and
detector as ``butler ingest-raws`` would (:func:`add_raw`): in the RUN collection
``<instrument>/raw/all``, with the Butler's deterministic UUID, and for a FITS file its
URI (relative to the directory given, the datastore root of these raws; a file given by
itself: its name), size and sha256 checksum (a header dump is not the raw's file: no file
is named).

A header that is read but cannot be trusted is *skipped* with its reason and
nothing of it is stored: no translator knows it, a card it cannot be named or
dated without is missing,
the observation date is at or before the Unix epoch or in the future, or a
coordinate pair looks like radians beside pairs in degrees.  A file that is
not a header, or a card whose value cannot be parsed, is *rejected*
(:class:`IngestError` naming the file and the card).

Nothing of a stored header is lost without a word: a property the translator
could not read from the cards present (with the translator's reason), an
exposure time no card gives (stored as unknown, as Rubin's translator keeps
such headers) and a value read by a rule (a blank ``RADESYS`` read as ICRS) are
each a warning of the file (:func:`notes`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import warnings
from pathlib import Path

import astropy.units as u
import yaml
from astropy.time import Time
from astro_metadata_translator import MetadataTranslator, ObservationInfo
from astro_metadata_translator.file_helpers import read_basic_metadata_from_file

from lineage.core.dataid import format_data_id
from lineage.core.errors import first_line
from lineage.core.model import (GraphBatch, Rel, collection_key, dataset_key, dataset_type_key,
                                unit_key)
from lineage.core.model_spec import SHARED, show
from lineage.ingest import loading, rubin_translator
from lineage.ingest.bands import band_of
from lineage.ingest.butler_yaml import butler_dataset_id
from lineage.ingest.efd_link import link_exposure_to_stored_records
from lineage.ingest.driver import IngestContext, IngestError, Parsed

SUFFIXES = (".fits", ".fits.gz", ".fits.fz", ".yaml", ".json")
#: Suffixes of files that are the raw itself (not a dump of its header).
FITS_SUFFIXES = (".fits", ".fits.gz", ".fits.fz")

#: The raw dataset type as instruments register it (``lsst.obs.base``).
RAW_TYPE = "raw"
RAW_DIMENSIONS = ("instrument", "exposure", "detector")
RAW_STORAGE_CLASS = "Exposure"

#: Properties without which no exposure can be stored (an unknown exposure time is stored
#: as unknown: :func:`notes` says so).
REQUIRED = ("instrument", "exposure_id", "datetime_begin", "detector_num")
#: The translated properties the graph stores (:func:`exposure_record`, :func:`add_observation`);
#: one the translator fails to read is reported by :func:`notes`.
STORED_PROPERTIES = (
    "telescope", "datetime_end", "exposure_time", "dark_time", "boresight_airmass",
    "tracking_radec", "altaz_begin", "boresight_rotation_angle", "boresight_rotation_coord",
    "observation_type", "observation_reason", "observation_id", "science_program", "object",
    "exposure_group", "observation_counter", "temperature", "pressure", "relative_humidity",
    "has_simulated_content", "can_see_sky", "physical_filter", "observing_day", "visit_id",
    "detector_unique_name", "detector_name", "detector_group", "detector_serial")
#: The cards each required property is computed from (by any translator), for messages.
CARDS = {
    "instrument": ("INSTRUME",),
    "exposure_id": ("EXPNUM", "EXP-ID", "FRAMEID", "OBSID", "DAYOBS", "SEQNUM", "RUN"),
    "datetime_begin": ("DATE-BEG", "DATE-OBS", "MJD-BEG", "MJD-OBS", "TIME-OBS", "UT", "TAIHMS"),
    "exposure_time": ("EXPTIME", "EXPOSURE"),
    "detector_num": ("CCDNUM", "DET-ID", "RAFTBAY", "CCDSLOT", "CAMCOL", "CCDNAME", "EXTNAME"),
}
#: Card pairs that give an RA/Dec in degrees when they are plausible.
RADEC_CARDS = (("RA", "DEC"), ("RASTART", "DECSTART"), ("RAEND", "DECEND"),
               ("TELRA", "TELDEC"), ("RA_DEG", "DEC_DEG"), ("RATEL", "DECTEL"))
#: The cards a translator reads a stored property from, where its "not found" error
#: (a ``KeyError``) does not name them: the property is lost only when one is present.
PROPERTY_CARDS = {
    "tracking_radec": tuple(card for pair in RADEC_CARDS for card in pair),
    "altaz_begin": ("ELSTART", "AZSTART", "ALTITUDE", "AZIMUTH", "TELALT", "TELAZ", "ALT", "AZ"),
    "boresight_airmass": ("AMSTART", "AIRMASS"),
    "dark_time": ("DARKTIME",),
    "temperature": ("AIRTEMP", "OUTTEMP", "TEMPERAT"),
    "pressure": ("PRESSURE", "OUTPRESS"),
    "relative_humidity": ("HUMIDITY", "OUTHUM"),
}
#: No observation is older than this (the Unix epoch plus a day, TAI).
EARLIEST = Time("1970-01-02T00:00:00", scale="tai")
#: How far past the ingest time an observation date may lie.
FUTURE_DAYS = 1.0

_ = rubin_translator  # registers the Rubin translator with astro-metadata-translator

#: Cards whose value is checked before a translator turns it into something else
#: (astropy wraps an RA of 10^6 deg to 280 deg; a Dec of 100 deg makes the translator drop
#: the position without a word): card -> (what it is, unit, lowest, highest, integer).
CARD_RANGES = {
    **{c: ("exposure time", "s", 0.0, 86400.0, False) for c in ("EXPTIME", "EXPOSURE",
                                                                 "DARKTIME", "SHUTTIME")},
    **{c: ("right ascension", "deg", 0.0, 360.0, False) for c in (
        "RA", "RASTART", "RAEND", "TELRA", "RA_DEG", "RATEL")},
    **{c: ("declination", "deg", -90.0, 90.0, False) for c in (
        "DEC", "DECSTART", "DECEND", "TELDEC", "DEC_DEG", "DECTEL")},
    **{c: ("airmass", "", 0.0, 100.0, False) for c in ("AIRMASS", "AMSTART", "AMEND")},
    "SEQNUM": ("sequence number", "", 0, 10**9, True),
}


class _Skip(Exception):
    """A header that is read but not stored; the message is the reason."""


# --- reading ------------------------------------------------------------------------

class _HeaderLoader(yaml.SafeLoader):
    """YAML with ``!<lsst.daf.base.PropertyList>``: a list of [card, type, value, comment]."""


def _property_list(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
    out = {}
    for item in loader.construct_sequence(node, deep=True):
        if not isinstance(item, list) or len(item) < 3:
            raise yaml.YAMLError(f"PropertyList entry {item!r} is not [card, type, value, ...]")
        card, value = item[0], item[2]
        out[card] = value[-1] if isinstance(value, list) and value else value  # last of a repeated card
    return out


_HeaderLoader.add_constructor("lsst.daf.base.PropertyList", _property_list)


def read_header(path: Path) -> dict:
    """The header of ``path`` as a dict (a FITS file: primary merged with the first extension)."""
    name = path.name.lower()
    if name.endswith((".yaml", ".json")):
        text = loading.read_text(path)
        try:
            data = (loading.parse_json(text, path) if name.endswith(".json")
                    else loading.parse_yaml(text, _HeaderLoader))
        except json.JSONDecodeError as exc:
            raise IngestError(path, f"line {exc.lineno} column {exc.colno}", f"not JSON: {exc.msg}")
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark else "YAML"
            raise IngestError(path, where, f"not YAML: {getattr(exc, 'problem', None) or exc}")
        if not isinstance(data, dict):
            raise IngestError(path, "top level", f"a header is a mapping of cards, not a "
                                                  f"{type(data).__name__}")
        return data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(read_basic_metadata_from_file(str(path), -1, can_raise=True))
    except Exception as exc:  # astropy raises OSError, ValueError, TypeError for non-FITS
        raise IngestError(path, "FITS", f"cannot read the header: {exc}") from None


def _show(header: dict, cards) -> str:
    return ", ".join(f"{c}={header[c]!r}" for c in cards if c in header)


def translate(path: Path, header: dict) -> tuple[ObservationInfo, type | None]:
    """``header`` translated, and the translator class (None: the file is an
    ``ObservationInfo`` translated already); raises :class:`_Skip` or :class:`IngestError`."""
    if header.get("__CONTENT__") == "translated":  # an ObservationInfo already translated
        data = {k: v for k, v in header.items() if k != "__CONTENT__"}
        try:
            return ObservationInfo.from_simple(data), None
        except Exception as exc:
            raise IngestError(path, "ObservationInfo", str(exc).splitlines()[0]) from None
    header = {k: v for k, v in header.items() if k != "__CONTENT__"}
    try:
        translator = MetadataTranslator.determine_translator(header, filename=str(path))
    except Exception:
        inst = header.get("INSTRUME", "(no INSTRUME card)")
        raise _Skip(f"no translator knows this header (INSTRUME={inst!r}; known: "
                    f"{', '.join(MetadataTranslator.translators)})") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            return ObservationInfo(header, filename=str(path), translator_class=translator,
                                   required=set(REQUIRED), quiet=True), translator
        except Exception as exc:
            raise _required_failure(path, header, exc) from None
        finally:
            logging.disable(logging.NOTSET)


def _required_failure(path: Path, header: dict, exc: Exception) -> Exception:
    """Missing cards skip the header; present cards that fail to parse reject the file."""
    text = str(exc)
    prop = next((p for p in REQUIRED if f"'{p}'" in text or f" {p} " in text), None)
    cause = exc.__cause__ or exc
    if prop is None:
        return IngestError(path, "header", f"cannot be translated: {cause}")
    present = [c for c in CARDS[prop] if c in header and header[c] is not None]
    if not present:
        return _Skip(f"missing card: {prop} needs one of {', '.join(CARDS[prop])}")
    return IngestError(path, f"card {present[0]}",
                       f"{_show(header, present)} cannot give {prop}: "
                       f"{str(cause).splitlines()[0][:200].rstrip(': ')}")


def _short(exc: Exception) -> str:
    """The translator's reason in one short line (a failed download quotes every URL tried)."""
    text = first_line(exc).strip("'\"")
    return text if len(text) <= 120 else text[:117] + "..."


def notes(path: Path, header: dict, info: ObservationInfo, translator: type | None) -> list[str]:
    """What of ``header`` the graph does not store as the cards say, each with why: a
    stored property the translator could not read (its own reason), an exposure time no
    card gives (stored as unknown), a blank ``RADESYS`` read as ICRS."""
    out = []
    no_exposure_card = not any(header.get(c) is not None for c in CARDS["exposure_time"])
    if info.exposure_time is None and no_exposure_card:
        out.append(f"card {' or '.join(CARDS['exposure_time'])} missing: exposure_time "
                   f"stored as unknown")
    if str(header.get("RADESYS", "x")).strip() == "" and info.tracking_radec is not None:
        out.append("card RADESYS is blank: RA/Dec read as ICRS, as Rubin's translator does")
    if translator is None:
        return out
    reader_ = translator(header, filename=str(path))
    for prop in STORED_PROPERTIES:
        if getattr(info, prop) is not None or (prop == "exposure_time" and no_exposure_card):
            continue  # stored, or said above
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.disable(logging.WARNING)
            try:
                getattr(reader_, f"to_{prop}")()
            except KeyError as exc:  # no card for it: lost only if a card it reads is there
                present = [c for c in PROPERTY_CARDS.get(prop, ()) if header.get(c) is not None]
                if present:
                    out.append(f"{prop} not stored: the translator cannot read it from "
                               f"{_show(header, present)}: {_short(exc)}")
            except Exception as exc:  # the translator's reason, whatever its class
                out.append(f"{prop} not stored: the translator cannot read it: {_short(exc)}")
            finally:
                logging.disable(logging.NOTSET)
    return out


# --- plausibility ---------------------------------------------------------------------

def card_problems(header: dict) -> list[str]:
    """Cards whose value cannot be what the card means (empty when all can): an
    exposure time, position, airmass or sequence number that is not a number, NaN,
    infinite or out of its range, a DAYOBS that is not a real date."""
    out = []
    for card, (what, unit, lo, hi, integer) in CARD_RANGES.items():
        value = header.get(card)
        if value is None:
            continue
        if isinstance(value, str) and ":" in value and what in ("right ascension", "declination"):
            continue  # sexagesimal text ('-13:36:26.2'): the translator parses it
        if isinstance(value, bool):
            number = None
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = None
        if number is None:
            out.append(f"card {card}: {show(value)} is not a number ({what})")
        elif not math.isfinite(number):
            out.append(f"card {card}: {show(value)} is not a finite number ({what})")
        elif integer and not number.is_integer():
            out.append(f"card {card}: {show(value)} is not an integer ({what})")
        elif not lo <= number <= hi:
            u_ = f" {unit}" if unit else ""
            out.append(f"card {card}: {show(value)} is outside {lo:g}{u_} .. {hi:g}{u_} ({what})")
    if header.get("DAYOBS") is not None:
        why = SHARED["day_obs"].check(header["DAYOBS"])
        if why:
            out.append(f"card DAYOBS: {show(header['DAYOBS'])}: {why}")
    return out


def implausible(header: dict, info: ObservationInfo) -> list[str]:
    """Reasons not to trust this header (empty when it is plausible)."""
    reasons = []
    begin = info.datetime_begin
    if begin is not None and begin.tai <= EARLIEST:
        reasons.append(f"observation date {begin.tai.isot} TAI is at or before the Unix epoch "
                       f"({_show(header, CARDS['datetime_begin']) or 'no date card'})")
    elif begin is not None and begin > Time.now() + FUTURE_DAYS * u.day:  # a year 9999 too
        reasons.append(f"observation date {begin.tai.isot} TAI is in the future "
                       f"({_show(header, CARDS['datetime_begin'])})")
    pairs = {}
    for ra, dec in RADEC_CARDS:
        try:
            pairs[(ra, dec)] = (float(header[ra]), float(header[dec]))
        except (KeyError, TypeError, ValueError):
            continue
    degrees = [p for p, (r, d) in pairs.items() if abs(r) > 2 * math.pi or abs(d) > math.pi / 2]
    for p, (r, d) in pairs.items():
        if degrees and p not in degrees and (r, d) != (0.0, 0.0) \
                and 0 <= r <= 2 * math.pi and abs(d) <= math.pi / 2:
            reasons.append(f"{p[0]}/{p[1]} = ({r:g}, {d:g}) look like radians while "
                           f"{degrees[0][0]}/{degrees[0][1]} = {pairs[degrees[0]]} are degrees")
    return reasons


# --- the graph --------------------------------------------------------------------------

def _deg(angle) -> float | None:
    return None if angle is None else float(angle.to_value(u.deg))


def _seconds(q) -> float | None:
    return None if q is None else float(q.to_value(u.s))


def exposure_record(header: dict, info: ObservationInfo) -> dict:
    """The exposure's (and visit's) properties: times in TAI with UTC copies, conditions."""
    begin = info.datetime_begin.tai
    end = info.datetime_end or (info.datetime_begin + info.exposure_time
                                if info.exposure_time is not None else None)
    end = end.tai if end is not None else None
    radec = info.tracking_radec.icrs if info.tracking_radec is not None else None
    altaz = info.altaz_begin
    seeing = header.get("SEEING")
    return dict(
        telescope=info.telescope,
        begin=begin.isot, end=end and end.isot, time_scale="tai", mjd_begin=begin.mjd,
        mjd_end=end and end.mjd, begin_utc=begin.utc.isot, end_utc=end and end.utc.isot,
        exposure_time=_seconds(info.exposure_time), dark_time=_seconds(info.dark_time),
        airmass=info.boresight_airmass,
        ra=_deg(radec.ra) if radec is not None else None,
        dec=_deg(radec.dec) if radec is not None else None,
        azimuth=_deg(altaz.az) if altaz is not None else None,
        altitude=_deg(altaz.alt) if altaz is not None else None,
        rotation=_deg(info.boresight_rotation_angle),
        rotation_coord=info.boresight_rotation_coord,
        observation_type=info.observation_type, observation_reason=info.observation_reason,
        observation_id=info.observation_id, science_program=info.science_program,
        object=info.object, group=info.exposure_group, seq_num=info.observation_counter,
        temperature_c=(float(info.temperature.to_value(u.deg_C, equivalencies=u.temperature()))
                       if info.temperature is not None else None),
        pressure_hpa=(float(info.pressure.to_value(u.hPa))
                      if info.pressure is not None else None),
        relative_humidity=info.relative_humidity,
        seeing=float(seeing) if isinstance(seeing, (int, float)) else None,
        has_simulated=info.has_simulated_content, can_see_sky=info.can_see_sky,
        translator=info.translator_name or "",
    )


def is_visit(info: ObservationInfo) -> bool:
    """The visit rule: a science observation is a visit of its own (one-to-one visit system)."""
    return info.observation_type == "science"


def add_observation(batch: GraphBatch, header: dict, info: ObservationInfo) -> dict:
    """The data units of one translated header; returns their keys by dimension."""
    inst = info.instrument
    record = exposure_record(header, info)
    pf = info.physical_filter or "unknown"
    band = band_of(pf)
    day_obs = info.observing_day
    keys = {"instrument": batch.add_node(unit_key("instrument", inst), dimension="instrument",
                                         value=inst, name=inst, telescope=info.telescope)}

    def unit(dimension, value, part_of=(), **props):
        key = batch.add_node(unit_key(dimension, value, (inst,)), dimension=dimension,
                             value=value, instrument=inst, **props)
        for parent in (keys["instrument"], *part_of):
            batch.add_edge(Rel.PART_OF, key, parent)
        keys[dimension] = key
        return key

    filter_parents = ()
    if band:
        keys["band"] = batch.add_node(unit_key("band", band), dimension="band", value=band,
                                      name=band)
        filter_parents = (keys["band"],)
    unit("physical_filter", pf, filter_parents, name=pf, band=band)
    unit("detector", info.detector_num, (), full_name=info.detector_unique_name,
         name_in_raft=info.detector_name, raft=info.detector_group,
         serial=None if str(info.detector_serial or "").strip().upper() in ("", "UNKNOWN")
         else info.detector_serial)  # a placeholder never replaces a stored serial
    if day_obs is not None:
        unit("day_obs", day_obs)
    implied = tuple(keys[d] for d in ("physical_filter", "day_obs") if d in keys)
    common = dict(record, physical_filter=pf, band=band, day_obs=day_obs)
    exposure_parents = implied
    if is_visit(info):
        visit_id = info.visit_id if info.visit_id is not None else info.exposure_id
        exposure_parents = (unit("visit", visit_id, implied, **common),) + implied
    unit("exposure", info.exposure_id, exposure_parents, **common)
    return keys


def raw_run(instrument: str) -> str:
    """The RUN ``butler ingest-raws`` puts raws in by default
    (``Instrument.makeDefaultRawIngestRunName``)."""
    return f"{instrument}/raw/all"


def is_raw(header: dict) -> bool:
    """Whether the header is a raw's: not one that says it was processed (a ``PROCTYPE``
    other than ``RAW``, as DECam's community pipeline writes, or a ``FLUXMAG0`` zero point,
    as the LSST stack writes in a calibrated exposure)."""
    proctype = str(header.get("PROCTYPE") or "RAW").strip().upper()
    return proctype == "RAW" and header.get("FLUXMAG0") is None


def datastore_path(path: Path, roots) -> str:
    """``path`` below the deepest of the directories ``roots`` that holds it (the datastore
    root its URI is relative to), else below its own directory."""
    real = path.resolve()
    holders = [r.resolve() for r in roots if real.is_relative_to(r.resolve())]
    return real.relative_to(max(holders, key=lambda r: len(r.parts), default=real.parent)
                            ).as_posix()


def add_raw(batch: GraphBatch, path: Path, info: ObservationInfo, keys: dict,
            roots=()) -> str:
    """The ``raw`` dataset of the observation's exposure and detector (``keys``: the units
    :func:`add_observation` wrote), ``IDENTIFIED_BY`` them, in :func:`raw_run`, its UUID
    the Butler's (:func:`.butler_dataset_id`); a FITS file is its file (URI below the one
    of ``roots`` that holds it: :func:`datastore_path`, size, sha256)."""
    data_id = {"instrument": info.instrument, "exposure": info.exposure_id,
               "detector": info.detector_num}
    run = raw_run(info.instrument)
    file = {}
    if path.name.lower().endswith(FITS_SUFFIXES):
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        file = dict(uri=datastore_path(path, roots), size=path.stat().st_size,
                    checksum=f"sha256:{digest}")
    key = batch.add_node(dataset_key(butler_dataset_id(RAW_TYPE, run, data_id)),
                         dataset_type=RAW_TYPE, data_id=format_data_id(data_id), run=run, **file)
    type_key = batch.add_node(dataset_type_key(RAW_TYPE), name=RAW_TYPE,
                              dimensions=list(RAW_DIMENSIONS), storage_class=RAW_STORAGE_CLASS)
    batch.add_edge(Rel.OF_TYPE, key, type_key)
    batch.add_edge(Rel.CONTAINS, batch.add_node(collection_key(run), name=run,
                                                collection_type="RUN"), key)
    for dimension in ("exposure", "detector"):
        batch.add_edge(Rel.IDENTIFIED_BY, key, keys[dimension])
    return key


def read(path: Path, context: IngestContext) -> Parsed:
    batch = GraphBatch(str(path))
    parsed = Parsed(path, batch)
    header = read_header(path)
    try:
        info, translator = translate(path, header)
        bad = card_problems(header)
        if bad:
            raise IngestError(path, "", "; ".join(bad))
        reasons = implausible(header, info)
        if reasons:
            raise _Skip("; ".join(reasons))
    except _Skip as skip:
        parsed.skipped.append(str(skip))
        parsed.counts = {"headers skipped": 1}
        return parsed
    parsed.notes = notes(path, header, info, translator)
    keys = add_observation(batch, header, info)
    exposure = batch.nodes[keys["exposure"]]
    mjd_end = exposure.get("mjd_end", exposure["mjd_begin"])  # an unknown end: the begin
    linked = link_exposure_to_stored_records(batch, context.store, keys["exposure"],
                                             info.instrument, exposure["mjd_begin"], mjd_end)
    raw = is_raw(header)
    if raw:
        add_raw(batch, path, info, keys, context.roots)
    parsed.counts = {"exposures": 1, "visits": int("visit" in keys), "raws": int(raw)}
    if linked:
        parsed.counts["efd records linked"] = linked
    return parsed

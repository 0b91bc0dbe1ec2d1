"""Which calibrations were valid for an exposure at a time.

A calibration is certified in a CALIBRATION collection for a validity range:
the ``CONTAINS`` edge from the collection to the dataset carries
``valid_begin`` and ``valid_end`` (ISO, TAI; a missing end is unbounded).
:func:`valid_calibrations` answers the Butler's calibration lookup from those
edges: the datasets certified for a range that overlaps the exposure's
timespan (or contains ``at``), whose data ID matches the exposure's
instrument, physical filter and band (and the detector, when one is named).
Dimensions an exposure does not have (a calibration's ``epoch``) do not
restrict the match.  Ranges are half-open, ``[begin, end)``, as in the Butler.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lineage.core.dataid import DataId
from lineage.core.model import Kind, kind_of_key
from lineage.core.selector import parse_selector
from lineage.dataunits.names import check_names, unknown
from lineage.dataunits.queries import (calibration_collection_keys, certified_datasets,
                                       collection_and_chained, data_units_of_value,
                                       data_units_with_key, exposure_filter)
from lineage.core.time import tai_mjd
from lineage.core.errors import UserError


class CalibError(UserError):
    """A lookup that cannot be answered; the message says why."""


@dataclass(frozen=True)
class Calibration:
    dataset_type: str
    data_id: str
    valid_begin: str | None
    valid_end: str | None
    collection: str
    run: str
    key: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Exposure:
    key: str
    instrument: str
    physical_filter: str | None
    band: str | None
    mjd_begin: float | None
    mjd_end: float | None


def _tai_mjd(text: str, scale: str = "tai") -> float:
    """:func:`lineage.core.time.tai_mjd`; a CalibError says when the text is not a time."""
    try:
        return tai_mjd(text, scale)
    except ValueError as exc:
        raise CalibError(str(exc)) from None


def find_exposure(store, selector: str) -> tuple[Exposure, str | None]:
    """The exposure (or visit) a selector names, and the detector it names if any."""
    sel = parse_selector(selector)
    pairs = dict(sel.pairs)
    if sel.keys:
        key = sel.keys[0]
        if kind_of_key(key) != Kind.DATA_UNIT or key.split(":")[1] not in ("exposure", "visit"):
            raise CalibError(f"{key} is not an exposure or visit")
        found = data_units_with_key(store, key)
    else:
        dim = "exposure" if "exposure" in pairs else "visit" if "visit" in pairs else None
        extra = set(pairs) - {"exposure", "visit", "instrument", "detector"}
        if dim is None or extra:
            raise CalibError(f"bad selector {selector!r}: give exposure=N (or visit=N), "
                             "optionally with instrument= and detector=")
        prefix = f"unit:{dim}:{pairs['instrument']}/" if "instrument" in pairs else f"unit:{dim}:"
        found = data_units_of_value(store, dim, pairs[dim], prefix)
    keys = sorted(found)
    if not keys:
        raise CalibError(f"no exposure or visit matches {selector!r}")
    if len(keys) > 1:
        raise CalibError(f"{selector!r} matches {', '.join(keys)}: add instrument=")
    key = keys[0]
    span = exposure_filter(store, key)
    instrument = key.split(":", 2)[2].split("/")[0]
    return (Exposure(key, instrument, span.physical_filter, span.band or span.filter_band,
                     span.mjd_begin, span.mjd_end),
            pairs.get("detector"))


def _calibration_collections(store, collection: str | None) -> list[str]:
    if collection is None:
        return calibration_collection_keys(store)
    chain = collection_and_chained(store, collection)
    if chain is None:
        raise unknown(store, "collection", collection, "collection")
    key, ctype, children, types = chain
    found = ([key] if ctype == "CALIBRATION" else []) + \
        [k for k, t in zip(children, types) if t == "CALIBRATION"]
    if not found:
        raise CalibError(f"{collection!r} is not a CALIBRATION collection and chains none")
    return sorted(set(found))


def _matches(data_id: DataId, wanted: dict[str, str]) -> bool:
    return all(data_id[d] == v for d, v in wanted.items() if d in data_id)


def valid_over(valid_begin: str | None, valid_end: str | None, begin: float,
               end: float) -> bool:
    """Whether a validity range (ISO, TAI; None: unbounded) holds the time ``begin`` (MJD,
    TAI) when ``end == begin``, else overlaps the span ``[begin, end)``: the Butler's rule
    for finding the calibration of an exposure."""
    lo = _tai_mjd(valid_begin) if valid_begin else float("-inf")
    hi = _tai_mjd(valid_end) if valid_end else float("inf")
    return lo <= begin < hi if begin == end else lo < end and begin < hi


def valid_calibrations(store, exposure_selector: str, at: str | None = None,
                       collection: str | None = None, types=None,
                       scale: str = "tai") -> list[Calibration]:
    """The calibrations valid for an exposure (``exposure=903342[,detector=10]``,
    ``visit=...``, or a unit key), at ``at`` (ISO or MJD in ``scale``) or over the
    exposure's own timespan; from ``collection`` (a CALIBRATION collection or a
    chain holding some) or every CALIBRATION collection; of ``types`` if given."""
    check_names(store, "dataset type", types, "types")
    exposure, detector = find_exposure(store, exposure_selector)
    if at is not None:
        begin = end = _tai_mjd(str(at), scale)
    elif exposure.mjd_begin is not None:
        begin = exposure.mjd_begin
        end = exposure.mjd_end if exposure.mjd_end is not None else begin
    else:
        raise CalibError(f"is needed: {exposure.key} has no time (mjd_begin)", field="at")
    wanted = {"instrument": exposure.instrument, "physical_filter": exposure.physical_filter,
              "band": exposure.band, "detector": detector,
              exposure.key.split(":")[1]: exposure.key.rsplit("/", 1)[1]}
    wanted = {d: v for d, v in wanted.items() if v is not None}
    out = []
    for coll, key, dstype, data_id, run, vb, ve in certified_datasets(
            store, _calibration_collections(store, collection), types):
        if valid_over(vb, ve, begin, end) and _matches(DataId.parse(data_id), wanted):
            out.append(Calibration(dstype, data_id, vb, ve, coll, run, key))
    return sorted(out, key=lambda c: (c.dataset_type, c.data_id, c.collection, c.key))

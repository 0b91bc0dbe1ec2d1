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
from functools import lru_cache

from lineage.core.model import Kind, kind_of_key
from lineage.core.selector import parse_selector
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


@lru_cache(maxsize=4096)
def tai_mjd(text: str, scale: str = "tai") -> float:
    """TAI MJD of an ISO time (in ``scale``) or of an MJD number."""
    from astropy.time import Time
    try:
        value = float(text)
        t = Time(value, format="mjd", scale=scale)
    except ValueError:
        try:
            t = Time(text, scale=scale)
        except ValueError:
            raise CalibError(f"not a time: {text!r} (give ISO, e.g. 2013-06-17T13:34:45, "
                             "or an MJD)") from None
    return float(t.tai.mjd)


def find_exposure(store, selector: str) -> tuple[Exposure, str | None]:
    """The exposure (or visit) a selector names, and the detector it names if any."""
    sel = parse_selector(selector)
    pairs = dict(sel.pairs)
    if sel.keys:
        key = sel.keys[0]
        if kind_of_key(key) != Kind.DATA_UNIT or key.split(":")[1] not in ("exposure", "visit"):
            raise CalibError(f"{key} is not an exposure or visit")
        rows = store.read("MATCH (u:DataUnit {key: $k}) RETURN u.key", {"k": key})
    else:
        dim = "exposure" if "exposure" in pairs else "visit" if "visit" in pairs else None
        extra = set(pairs) - {"exposure", "visit", "instrument", "detector"}
        if dim is None or extra:
            raise CalibError(f"bad selector {selector!r}: give exposure=N (or visit=N), "
                             "optionally with instrument= and detector=")
        prefix = f"unit:{dim}:{pairs['instrument']}/" if "instrument" in pairs else f"unit:{dim}:"
        rows = store.read("MATCH (u:DataUnit {dimension: $d, value: $v}) "
                          "WHERE u.key STARTS WITH $p RETURN u.key",
                          {"d": dim, "v": pairs[dim], "p": prefix})
    keys = sorted(r[0] for r in rows)
    if not keys:
        raise CalibError(f"no exposure or visit matches {selector!r}")
    if len(keys) > 1:
        raise CalibError(f"{selector!r} matches {', '.join(keys)}: add instrument=")
    key = keys[0]
    mjd_begin, mjd_end, pf, band_prop, band = store.read(
        "MATCH (u:DataUnit {key: $k}) "
        "OPTIONAL MATCH (u)-[:PART_OF]->(f:DataUnit {dimension: 'physical_filter'}) "
        "OPTIONAL MATCH (f)-[:PART_OF]->(b:DataUnit {dimension: 'band'}) "
        "RETURN u.mjd_begin, u.mjd_end, f.value, f.band, b.value", {"k": key})[0]
    instrument = key.split(":", 2)[2].split("/")[0]
    return (Exposure(key, instrument, pf, band or band_prop, mjd_begin, mjd_end),
            pairs.get("detector"))


def _calibration_collections(store, collection: str | None) -> list[str]:
    if collection is None:
        return [r[0] for r in store.read(
            "MATCH (c:Collection {collection_type: 'CALIBRATION'}) RETURN c.key")]
    rows = store.read("MATCH (c:Collection {name: $n}) "
                      "OPTIONAL MATCH (c)-[:CHAINS*1..10]->(x:Collection) "
                      "RETURN c.key, c.collection_type, collect(x.key), "
                      "collect(x.collection_type)", {"n": collection})
    if not rows:
        raise CalibError(f"no collection {collection!r}")
    key, ctype, children, types = rows[0]
    found = ([key] if ctype == "CALIBRATION" else []) + \
        [k for k, t in zip(children, types) if t == "CALIBRATION"]
    if not found:
        raise CalibError(f"{collection!r} is not a CALIBRATION collection and chains none")
    return sorted(set(found))


def _parse_data_id(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in (text or "").split(",") if "=" in part)


def _matches(data_id: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(data_id[d] == v for d, v in wanted.items() if d in data_id)


def valid_calibrations(store, exposure_selector: str, at: str | None = None,
                       collection: str | None = None, types=None,
                       scale: str = "tai") -> list[Calibration]:
    """The calibrations valid for an exposure (``exposure=903342[,detector=10]``,
    ``visit=...``, or a unit key), at ``at`` (ISO or MJD in ``scale``) or over the
    exposure's own timespan; from ``collection`` (a CALIBRATION collection or a
    chain holding some) or every CALIBRATION collection; of ``types`` if given."""
    exposure, detector = find_exposure(store, exposure_selector)
    if at is not None:
        begin = end = tai_mjd(str(at), scale)
    elif exposure.mjd_begin is not None:
        begin = exposure.mjd_begin
        end = exposure.mjd_end if exposure.mjd_end is not None else begin
    else:
        raise CalibError(f"is needed: {exposure.key} has no time (mjd_begin)", field="at")
    wanted = {"instrument": exposure.instrument, "physical_filter": exposure.physical_filter,
              "band": exposure.band, "detector": detector,
              exposure.key.split(":")[1]: exposure.key.rsplit("/", 1)[1]}
    wanted = {d: v for d, v in wanted.items() if v is not None}
    query = ("MATCH (c:Collection)-[e:CONTAINS]->(d:Dataset) WHERE c.key IN $colls "
             + ("AND d.dataset_type IN $types " if types else "")
             + "RETURN c.name, d.key, d.dataset_type, d.data_id, d.run, "
               "e.valid_begin, e.valid_end")
    params = {"colls": _calibration_collections(store, collection)}
    if types:
        params["types"] = list(types)
    out = []
    for coll, key, dstype, data_id, run, vb, ve in store.read(query, params):
        lo = tai_mjd(vb) if vb else float("-inf")
        hi = tai_mjd(ve) if ve else float("inf")
        inside = lo <= begin < hi if begin == end else lo < end and begin < hi
        if inside and _matches(_parse_data_id(data_id), wanted):
            out.append(Calibration(dstype, data_id, vb, ve, coll, run, key))
    return sorted(out, key=lambda c: (c.dataset_type, c.data_id, c.collection, c.key))

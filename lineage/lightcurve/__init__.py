"""Lightcurve provenance (COMM5): every epoch of an object, traced through the graph.

For a DIA object, :func:`lightcurve` returns one row per epoch with

* the measurement (``flux``, ``flux_err``, ``mjd_tai``) and the catalog
  dataset it was read from (``source_dataset``),
* the images it was measured on (``difference_image``, ``calexp``), its
  ``visit`` and ``detector``,
* the visit's observing conditions (``seeing``, ``airmass``, ``sky``,
  ``exposure_time``, ``begin``/``end`` with ``time_scale``, ``mjd_begin``),
* the telemetry of the exposure (``efd.<topic>.<field>.mean|min|max``, from
  the ``DESCRIBES`` edges the EFD ingest writes: the samples inside the
  exposure),
* the software version and configuration of every step that made the epoch
  (``software.<task>``, ``config.<task>``),
* flags on its visit or exposure and contamination marks on its datasets
  (``flagged``, ``flags``, ``contamination``).

An epoch whose catalog or image (``difference_image``, ``calexp``) was deleted (a
tombstone, docs/retention.md) is left out unless ``include_deleted``: a deleted catalog is
not read (its file may be gone), and the answer's ``attrs`` say what was left out
(``left_out_deleted``: epochs whose image was deleted; ``left_out_deleted_catalogs``:
catalogs not read).

How the rows are found is the provenance itself: the object's catalog (the
``dia_object`` dataset of its patch in the collection) was made by an
association quantum, whose input ``dia_source`` catalogs (one per visit and
detector) hold the object's epochs.  The catalogs are read from the repository's
:class:`~lineage.fetch.datastore.Datastore` (Parquet; only the row groups that
can hold the object are read).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from lineage.fetch.confine import UnsafePath
from lineage.fetch.datastore import Datastore, DatastoreError, open_uri
from lineage.fetch.read import read_parquet
from lineage.dataunits.visits import visit_telemetry
from lineage.core.dataid import DataId
from lineage.core.progress import progress_bar
from lineage.flags.queries import active_contamination
from lineage.lightcurve.queries import (active_flags_of_visits,
                                        catalogs_in_runs, catalogs_read_to_make,
                                        config_values_text, instrument_of_visit_dataset,
                                        producers_of, units_with_properties)
from lineage.traversal.traverse import collection_members, deleted_among
from lineage.core.errors import UserError


class LightcurveError(UserError):
    """An object that cannot be traced; the message says why."""


@dataclass(frozen=True)
class Catalog:
    """Which dataset types and columns make a lightcurve."""

    object_type: str = "dia_object"
    source_type: str = "dia_source"
    id_column: str = "diaObjectId"
    time_column: str = "midpointMjdTai"    # TAI MJD
    flux_column: str = "psfFlux"
    error_column: str = "psfFluxErr"
    image_type: str = "difference_image"   # the image the source was measured on


DIA = Catalog()

VISIT_CONDITIONS = ("band", "seeing", "airmass", "sky", "exposure_time", "begin", "end",
                    "time_scale", "mjd_begin", "mjd_end")


def _read_rows(datastore: Datastore, key: str, uri: str, catalog: Catalog, object_id: int,
               columns=None) -> pd.DataFrame:
    """The rows of one object in a catalog dataset (only row groups that may hold it)."""
    try:
        where = datastore.uri_of(key, {"uri": uri})
    except UnsafePath as exc:   # a stored URI leading outside the datastore root
        raise LightcurveError(f"{key}: refused: its {exc}") from None
    except DatastoreError as exc:
        raise LightcurveError(str(exc)) from None
    try:
        return read_parquet(lambda: open_uri(where), columns,
                            where=[(catalog.id_column, "==", object_id)])
    except FileNotFoundError:
        raise LightcurveError(f"{where}: catalog file not found") from None
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise LightcurveError(f"{where}: not a readable Parquet catalog ({exc})") from None


def find_object(store, object_id: int, collection: str, datastore: Datastore,
                catalog: Catalog = DIA, include_deleted: bool = False) -> dict:
    """The object's catalog dataset in ``collection``: key, data ID, URI (a deleted catalog
    only ``include_deleted``)."""
    runs, _ = collection_members(store, collection)
    rows = catalogs_in_runs(store, catalog.object_type, runs)
    if not include_deleted:
        deleted = deleted_among(store, [r.key for r in rows])
        rows = [r for r in rows if r.key not in deleted]
    if not rows:
        raise LightcurveError(f"collection {collection!r} has no {catalog.object_type} catalogs")
    for key, data_id, uri in rows:
        if not _read_rows(datastore, key, uri, catalog, object_id, [catalog.id_column]).empty:
            return {"key": key, "data_id": data_id, "uri": uri}
    raise LightcurveError(f"object {object_id} is in none of the {len(rows)} "
                          f"{catalog.object_type} catalogs of collection {collection!r}")


def _epochs(store, object_key: str, object_id: int, datastore: Datastore, catalog: Catalog,
            show_progress: bool, include_deleted: bool = False) -> tuple[pd.DataFrame, int]:
    """The object's rows of the catalogs its association read, and how many of those
    catalogs were deleted and so not read (none with ``include_deleted``)."""
    inputs = catalogs_read_to_make(store, object_key, catalog.source_type)
    deleted = {} if include_deleted else deleted_among(store, [r.key for r in inputs])
    inputs = [r for r in inputs if r.key not in deleted]
    frames = []
    with progress_bar(f"reading {catalog.source_type} catalogs", len(inputs), "catalogs",
                      show_progress) as advance:
        for key, data_id, uri in inputs:
            rows = _read_rows(datastore, key, uri, catalog, object_id)
            advance()
            if rows.empty:
                continue
            ids = DataId.parse(data_id, strict=True)
            wrong = rows[(rows["visit"].astype(str) != ids.get("visit")) |
                         (rows["detector"].astype(str) != ids.get("detector"))]
            if not wrong.empty:
                raise LightcurveError(
                    f"{datastore.uri_of(key, {'uri': uri})}: row {wrong.index[0]} names visit {wrong['visit'].iloc[0]} "
                    f"detector {wrong['detector'].iloc[0]}, but the dataset is {data_id}")
            rows["source_dataset"] = key
            frames.append(rows)
    if not frames:
        raise LightcurveError(f"object {object_id}: no epochs in the {len(inputs)} "
                              f"{catalog.source_type} catalogs its association read"
                              + (f" ({len(deleted)} deleted ones left out)" if deleted else ""))
    return pd.concat(frames, ignore_index=True), len(deleted)


def _chain(store, sources: list[str], visits: dict[str, str]) -> dict[str, dict]:
    """For each source dataset: the quanta upstream of it that processed its own visit (the
    epoch's chain), plus the quanta that made its inputs from elsewhere (templates), whose own
    inputs are not followed; calibrations and raws are recorded as datasets.
    ``visits``: source key -> visit id."""
    out = {s: {"tasks": {}, "datasets": {}} for s in sources}
    frontier = {s: [(s, True)] for s in sources}   # source -> (dataset, follow its inputs)
    seen: dict[str, set] = {s: {s} for s in sources}
    while any(frontier.values()):
        keys = sorted({k for ks in frontier.values() for k, _ in ks})
        made = {r.dataset: r[1:] for r in producers_of(store, keys)}
        nxt: dict[str, list] = {}
        for source, todo in frontier.items():
            mine = out[source]
            for key, follow in todo:
                if key not in made:
                    continue
                task, status, sw_key, sw_name, config, inputs = made[key]
                step = mine["tasks"].setdefault(task, {"software": set(), "config": set(),
                                                       "status": set()})
                step["software"].add(sw_name or sw_key)
                step["config"].add(config)
                step["status"].add(status)
                for ikey, itype, idata in inputs if follow else ():
                    if ikey is None or ikey in seen[source]:
                        continue
                    seen[source].add(ikey)
                    ids = DataId.parse(idata)
                    same = visits[source] in (ids.get("visit"), ids.get("exposure"))
                    mine["datasets"].setdefault(itype, set()).add(ikey)
                    nxt.setdefault(source, []).append((ikey, same))
        frontier = nxt
    return out


def _one(values: set) -> str:
    values = sorted(str(v) for v in values if v is not None)
    return values[0] if len(values) == 1 else ",".join(values)


def _visit_conditions(store, instrument_visits: list[str]) -> dict[str, dict]:
    return {k: p for k, p in units_with_properties(store, instrument_visits)}


def _flags(store, visit_keys: list[str], dataset_keys: list[str]) -> tuple[dict, dict]:
    """Active flags on visits (or their exposures), and contamination marks on datasets."""
    flagged: dict[str, set] = {}
    for vkey, fkey, verdict in active_flags_of_visits(store, visit_keys):
        flagged.setdefault(vkey, set()).add(f"{fkey} ({verdict})")
    contamination: dict[str, float] = {}
    for dkey, _, fraction in active_contamination(store, dataset_keys):
        contamination[dkey] = max(contamination.get(dkey, 0.0), float(fraction))
    return flagged, contamination


def lightcurve(store, object_id: int, collection: str, datastore: Datastore,
               topics: list[str] | None = None, catalog: Catalog = DIA,
               show_progress: bool = False, include_deleted: bool = False) -> pd.DataFrame:
    """One row per epoch of ``object_id`` in ``collection``, in time order; epochs of
    deleted catalogs or images only ``include_deleted`` (module docstring)."""
    obj = find_object(store, int(object_id), collection, datastore, catalog, include_deleted)
    epochs, catalogs_left_out = _epochs(store, obj["key"], int(object_id), datastore, catalog,
                                        show_progress, include_deleted)
    sources = sorted(set(epochs["source_dataset"]))
    inst = instrument_of_visit_dataset(store, sources[0]) or ""
    visit_key = {v: f"unit:visit:{inst}/{v}" for v in set(epochs["visit"].astype(str))}
    source_visit = dict(zip(epochs["source_dataset"], epochs["visit"].astype(str)))
    chains = _chain(store, sources, source_visit)
    conditions = _visit_conditions(store, sorted(visit_key.values()))
    telemetry = visit_telemetry(store, sorted(visit_key.values()), topics)
    every = sorted({k for c in chains.values() for ks in c["datasets"].values() for k in ks}
                   | set(sources))
    flagged, contamination = _flags(store, sorted(visit_key.values()), every)
    deleted = {} if include_deleted else deleted_among(store, every)
    rows = []
    left_out = 0
    for _, e in epochs.iterrows():
        src, vkey = e["source_dataset"], visit_key[str(e["visit"])]
        chain = chains[src]
        images = set().union(*(chain["datasets"].get(t, set())
                               for t in (catalog.image_type, "calexp")))
        if images & deleted.keys():
            left_out += 1
            continue
        row = {"object": int(object_id), "mjd_tai": float(e[catalog.time_column]),
               "flux": float(e[catalog.flux_column]), "flux_err": float(e[catalog.error_column]),
               "visit": int(e["visit"]), "detector": int(e["detector"]),
               "source_dataset": src, "object_dataset": obj["key"]}
        for dstype in (catalog.image_type, "calexp"):
            row[dstype] = _one(chain["datasets"].get(dstype, set()))
        cond = conditions.get(vkey, {})
        for name in VISIT_CONDITIONS:
            row[name] = cond.get(name)
        row.update(telemetry.get(vkey, {}))
        for task, step in sorted(chain["tasks"].items()):
            row[f"software.{task}"] = _one(step["software"])
            row[f"config.{task}"] = _one(step["config"])
        upstream = [src] + [k for ks in chain["datasets"].values() for k in ks]
        row["flags"] = ";".join(sorted(flagged.get(vkey, ())))
        row["contamination"] = max((contamination.get(k, 0.0) for k in upstream), default=0.0)
        row["flagged"] = bool(row["flags"]) or row["contamination"] > 0
        rows.append(row)
    if not rows:
        raise LightcurveError(f"object {object_id}: every epoch's image was deleted "
                              f"({left_out} epochs left out)")
    frame = pd.DataFrame(rows).sort_values(["mjd_tai", "visit", "detector"], ignore_index=True)
    frame.attrs.update(object=int(object_id), collection=collection, catalog=obj["key"],
                       object_data_id=obj["data_id"], left_out_deleted=left_out,
                       left_out_deleted_catalogs=catalogs_left_out)
    return frame


def config_values(store, config_key: str) -> dict:
    """The values of one Config node (the ``config.<task>`` column names its key)."""
    text = config_values_text(store, config_key)
    return json.loads(text) if text else {}

"""Linking EFD records to the exposures whose time span they overlap.

Both ingest orders give the same edges: the ``efd`` ingest links each new
record to the exposures already stored, and the ``headers`` ingest links each
new exposure to the EFD records already stored.  The edge
``EfdRecord -[DESCRIBES]-> exposure`` carries the telemetry summarised over
the exposure: ``samples`` (how many samples fall inside it) and, for each
summarised field, ``mean_<field>``, ``min_<field>``, ``max_<field>``.

Overlap: the record's span ``[mjd_begin, mjd_end]`` (first to last sample,
TAI MJD) meets the exposure's ``[mjd_begin, mjd_end]`` (TAI MJD), ends
included.  An event topic whose samples bracket an exposure without one
inside it is linked with ``samples: 0``.

Telescope: topics of ``MT*`` CSCs describe the Simonyi telescope (LSSTCam,
LSSTComCam), ``AT*`` CSCs the Auxiliary Telescope (LATISS); other CSCs
(``Script``, ``ESS`` ...) are linked to exposures of any instrument.
"""

from __future__ import annotations

from lineage.core.model import GraphBatch, Rel
from lineage.ingest.queries import efd_records_overlapping, exposures_overlapping
from lineage.store.base import Store

SIMONYI_INSTRUMENTS = frozenset({"LSSTCam", "LSSTComCam"})
AUXTEL_INSTRUMENTS = frozenset({"LATISS"})


def csc_of(topic: str) -> str:
    """``lsst.sal.MTMount.azimuth`` -> ``MTMount``."""
    parts = topic.split(".")
    return parts[2] if len(parts) > 3 and parts[:2] == ["lsst", "sal"] else parts[0]


def describes_instrument(topic: str, instrument: str) -> bool:
    """Whether telemetry of ``topic`` can describe exposures of ``instrument``."""
    csc = csc_of(topic)
    if csc.startswith("MT"):
        return instrument in SIMONYI_INSTRUMENTS
    if csc.startswith("AT"):
        return instrument in AUXTEL_INSTRUMENTS
    return True


def summary_over(record: dict, mjd_begin: float, mjd_end: float) -> dict:
    """The record's samples inside ``[mjd_begin, mjd_end]`` (TAI MJD), summarised."""
    times = record.get("sample_mjd_tai") or []
    inside = [i for i, t in enumerate(times) if mjd_begin <= t <= mjd_end]
    out: dict = {"samples": len(inside)}
    for name in record.get("summary_fields") or []:
        values = [record[f"v_{name}"][i] for i in inside]
        if values:
            out[f"mean_{name}"] = sum(values) / len(values)
            out[f"min_{name}"] = min(values)
            out[f"max_{name}"] = max(values)
    return out


def _instrument_of_exposure(key: str) -> str:
    # unit:exposure:<instrument>/<id>
    return key.split(":", 2)[2].rsplit("/", 1)[0]


def link_record_to_stored_exposures(batch: GraphBatch, store: Store, record_key: str,
                                    record: dict) -> int:
    """Add DESCRIBES edges from a new record to the stored exposures it overlaps."""
    linked = 0
    for key, begin, end in exposures_overlapping(store, record["mjd_begin"], record["mjd_end"]):
        if describes_instrument(record["topic"], _instrument_of_exposure(key)):
            batch.add_edge(Rel.DESCRIBES, record_key, key, **summary_over(record, begin, end))
            linked += 1
    return linked


def link_exposure_to_stored_records(batch: GraphBatch, store: Store, exposure_key: str,
                                    instrument: str, mjd_begin: float, mjd_end: float) -> int:
    """Add DESCRIBES edges from the stored EFD records a new exposure overlaps."""
    linked = 0
    for key, record in efd_records_overlapping(store, mjd_begin, mjd_end):
        if record.get("topic") and describes_instrument(record["topic"], instrument):
            batch.add_edge(Rel.DESCRIBES, key, exposure_key,
                           **summary_over(record, mjd_begin, mjd_end))
            linked += 1
    return linked

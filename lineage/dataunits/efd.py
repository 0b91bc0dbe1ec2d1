"""EFD topics by CSC, and the telemetry of one CSC that describes an exposure.

``lineage ingest efd`` stores each topic as an ``efd_topic`` data unit ``PART_OF`` its
CSC's ``csc`` unit (from a ``SHOW MEASUREMENTS`` answer, and from every record's
topic), and each ``EfdRecord`` ``IDENTIFIED_BY`` its topic; the two questions here walk
those edges (docs/model.md, docs/ingest.md ``## efd``).
"""

from __future__ import annotations

from lineage.core.errors import UserError
from lineage.dataunits.calibs import find_exposure
from lineage.dataunits.names import check_names
from lineage.dataunits.queries import telemetry_of_exposure, topics_of_cscs


def csc_topics(store, csc: str | None = None) -> dict[str, list[str]]:
    """CSC -> its topics (sorted), of every CSC or of ``csc`` alone (an unknown CSC is an
    :class:`~lineage.core.errors.UnknownName` with the closest known ones)."""
    check_names(store, "CSC", csc, "csc")
    out: dict[str, list[str]] = {}
    for row in topics_of_cscs(store, csc):
        out.setdefault(row.csc, []).append(row.topic)
    return out


def exposure_telemetry(store, exposure: str, csc: str | None = None) -> list[dict]:
    """The EFD records (of ``csc``'s topics, when given) that describe the exposure a
    selector names (``exposure=N[,instrument=I]`` or its data-unit key): one dict each with
    ``record``, ``topic``, ``csc``, ``samples`` inside the exposure and the
    ``mean_/min_/max_<field>`` summaries over it."""
    check_names(store, "CSC", csc, "csc")
    found, _ = find_exposure(store, exposure)
    if not found.key.startswith("unit:exposure:"):
        raise UserError(f"{found.key} is a visit: EFD records describe exposures "
                        "(exposure=N)", field="exposure")
    return [{"record": row.record, "topic": row.topic, "csc": row.csc, **row.summary}
            for row in telemetry_of_exposure(store, found.key, csc)]

"""``POST /api/v1/lineage``: OpenLineage run events sent live (the path OpenLineage clients
and Marquez use), each read by ``lineage ingest run``'s reader and written as one
all-or-nothing unit (docs/standards.md, OpenLineage)."""

from __future__ import annotations

import json
from pathlib import Path

from lineage.ingest.driver import FileOutcome, IngestContext, ingest_unit
from lineage.ingest.formats import run
from lineage.ingest.openlineage_events import is_event

#: How a received event is named in the reader's errors (``event: $.run.runId: ...``).
EVENT = Path("event")


def audited_event(store, audit, entry: dict, body: bytes) -> FileOutcome:
    """:func:`receive_event`, audited as a mutation is: an ``attempt`` line on disk before
    anything is written, then ``ok`` with what was stored, or ``failed`` with the reason."""
    entry = {**entry, "arguments": {"bytes": len(body)}}
    audit.append({**entry, "outcome": "attempt"})
    try:
        outcome = receive_event(store, body)
    except Exception as exc:
        audit.append({**entry, "outcome": "failed", "error": str(exc)})
        raise
    if outcome.status == "rejected":
        audit.append({**entry, "outcome": "failed", "error": outcome.error})
    else:
        audit.append({**entry, "outcome": "ok", "status": outcome.status,
                      "nodes": outcome.nodes_created, "edges": outcome.edges_created})
    return outcome


def receive_event(store, body: bytes) -> FileOutcome:
    """Read one event (a JSON object with ``eventTime``, ``run`` and ``job``) and store it;
    the outcome is ``rejected`` with the reader's error naming the field, and nothing
    stored, when the event is not valid."""
    try:
        text = body.decode("utf-8")
        event = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        return FileOutcome(str(EVENT), "rejected", error=f"{EVENT}: not JSON: {exc}")
    if not is_event(event):
        missing = [k for k in ("eventTime", "run", "job")
                   if not isinstance(event, dict) or k not in event]
        return FileOutcome(str(EVENT), "rejected",
                           error=f"{EVENT}: $.{missing[0]}: missing (an OpenLineage run event "
                                 "has eventTime, run and job)")
    context = IngestContext(store)
    return ingest_unit(lambda: run.read_text(EVENT, text, context), EVENT, context, False, "run")

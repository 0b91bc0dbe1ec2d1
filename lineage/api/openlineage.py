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

"""`lineage ingest run`: execution provenance into the graph.

One file is one ingest unit, recognised by its content:

* our own JSON format (``"format": "survey-lineage/run"``, :mod:`.run_format`,
  documented in ``docs/run-format.md``), checked against its JSON Schema;
* OpenLineage run events: one JSON event, a JSON list of events, or NDJSON
  (:mod:`.openlineage_events`);
* pipe_base task metadata of one quantum (:mod:`.task_metadata`);
* Rubin provenance quantum graphs (``.qg``, :mod:`.provenance_qg`; needs the
  ``[rubin]`` extra).
"""

from __future__ import annotations

from pathlib import Path

from lineage.ingest import loading, openlineage_events, provenance_qg, run_format, task_metadata
from lineage.ingest.driver import IngestContext, IngestError, Parsed
from lineage.ingest.provenance import ProvenanceBuilder

SUFFIXES = (".json", ".ndjson", ".jsonl", ".qg")


def read(path: Path, context: IngestContext) -> Parsed:
    path = Path(path)
    if path.suffix == ".qg":
        return provenance_qg.read(path, context)
    return read_text(path, loading.read_text(path), context)


def read_text(path: Path, text: str, context: IngestContext) -> Parsed:
    """One JSON file's ``text`` (``path`` names it in errors): what :func:`read` reads;
    ``lineage serve`` gives it an OpenLineage event it was sent."""
    b = ProvenanceBuilder(path, context.store)
    events = openlineage_events.parse_events(text, b.fail, path)
    docs = [doc for _, doc in events]
    if len(docs) == 1 and run_format.is_ours(docs[0]):
        run_format.validate(path, docs[0], b.fail)
        counts = run_format.build(b, docs[0])
    elif len(docs) == 1 and task_metadata.is_task_metadata(docs[0]):
        counts = task_metadata.build(b, docs[0])
    elif docs and all(openlineage_events.is_event(d) for d in docs):
        b.lineage.merges = True  # a run's events may arrive in several files
        models = [openlineage_events.to_model(d, where, b.fail) for where, d in events]
        custom = [openlineage_events.lineage_facets(d, where, b.fail) for where, d in events]
        counts = openlineage_events.build(b, models, custom)
    else:
        bad = next((w for w, d in events if not openlineage_events.is_event(d)), "$")
        raise IngestError(path, bad, "not run provenance: expected our run format "
                                     f"(\"format\": \"{run_format.FORMAT}\"), OpenLineage run "
                                     "events (eventTime, run, job) or pipe_base task metadata "
                                     "(attempts)")
    b.check()
    return Parsed(path, b.batch, counts=counts)

"""``lineage ingest skymap``: sky-map, tract and patch records of a Butler export.

The same YAML as ``butler-export`` (and the same mapping, so both write the
same units), keeping only the ``skymap``, ``tract`` and ``patch`` dimension
records: ``unit:skymap:<name>``, ``unit:tract:<skymap>/<tract>`` and
``unit:patch:<skymap>/<tract>/<patch>`` with their regions
(:mod:`lineage.dataunits.regions`), patch ``PART_OF`` tract ``PART_OF`` sky map.  Every
other entry of the file is listed as skipped.  Visits and visit-detectors
already stored get their ``OVERLAPS`` edges to the new tracts and patches.
"""

from __future__ import annotations

from pathlib import Path

from lineage.ingest.formats.butler_export import ExportGraph
from lineage.ingest.butler_yaml import load_export
from lineage.ingest.driver import IngestContext, IngestError, Parsed

SUFFIXES = (".yaml", ".yml")

SKY_MAP_ELEMENTS = ("skymap", "tract", "patch")


def read(path: Path, context: IngestContext) -> Parsed:
    export = load_export(path)
    graph = ExportGraph(export, context.store)
    for entry in export.data:
        if entry["type"] == "dimension" and entry.get("element") in SKY_MAP_ELEMENTS:
            graph.add_dimension(entry)
        else:
            name = next((entry[k] for k in ("element", "name", "dataset_type", "collection")
                         if entry.get(k)), "")
            what = " ".join(filter(None, (entry["type"], name)))
            graph.skipped.append(f"line {entry.line}: {what}: not a sky-map record "
                                 "(`lineage ingest butler-export` reads it)")
    if not graph.batch.nodes:
        raise IngestError(path, "data", "no skymap, tract or patch records in this export")
    return graph.finish()

"""``lineage ingest skymap``: sky-map, tract and patch records of a Butler export.

The same YAML as ``butler-export`` (and the same mapping, so both write the
same units), keeping only the ``skymap``, ``tract`` and ``patch`` dimension
records: ``unit:skymap:<name>``, ``unit:tract:<skymap>/<tract>`` and
``unit:patch:<skymap>/<tract>/<patch>`` with their regions
(:mod:`lineage.dataunits.regions`), patch ``PART_OF`` tract ``PART_OF`` sky map.  Every
other entry of the file is listed as skipped.  Visits and visit-detectors
already stored get their ``OVERLAPS`` edges to the new tracts and patches.

A JSON file of sky-map configurations (``skymap_configs.json``: name -> lsst.skymap
config values, :mod:`lineage.dataunits.skymaps`) gives each rings or discrete sky map
its geometry: the sky map unit gets its configuration and ring size, tract count and
tracts per ring; every tract unit its centre, ring, index in the ring, pixel size
and patch grid.  Each tract of that sky map already stored with an exported region
is checked against the computed one, and so is each tract of an export read
after the configuration: ``config_corner_offset_arcsec`` on the tract, and a corner
further than ``AGREEMENT_ARCSEC`` from the computed corner is a warning of the report.  An entry
that defines no tracts (a partial override) is listed as skipped with its reason.
"""

from __future__ import annotations

from pathlib import Path

from lineage.core.errors import UserError
from lineage.core.model import GraphBatch, Rel, unit_key
from lineage.dataunits.queries import tract_regions_of_sky_map
from lineage.dataunits.regions import region_props
from lineage.dataunits.skymaps import (check_exported_tract, geometry_from_config,
                                       stored_geometry, tract_props)
from lineage.ingest import check_unit
from lineage.ingest.formats.butler_export import ExportGraph
from lineage.ingest.butler_yaml import load_export
from lineage.ingest.driver import IngestContext, IngestError, Parsed
from lineage.ingest.loading import load_json

SUFFIXES = (".yaml", ".yml", ".json")

SKY_MAP_ELEMENTS = ("skymap", "tract", "patch")


def read(path: Path, context: IngestContext) -> Parsed:
    if path.suffix == ".json":
        return read_configs(path, context)
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
    parsed = graph.finish()
    warnings = check_against_stored_geometry(graph.batch, context.store, parsed.counts)
    if warnings is not None:
        parsed.warnings = check_unit(graph.batch) + warnings
    return parsed


def check_against_stored_geometry(batch: GraphBatch, store, counts: dict) -> list[str] | None:
    """Check the export's tract regions against the geometry of their sky maps when its
    configuration is stored already (the other order is checked by :func:`read_configs`):
    the warnings, or None when no sky map of the export has a stored geometry."""
    geometries, warnings, checked = {}, [], 0
    for key, props in batch.nodes.items():
        if props.get("dimension") != "tract" or "region_ra" not in props:
            continue
        skymap = props["skymap"]
        if skymap not in geometries:
            geometries[skymap] = stored_geometry(store, skymap)
        geometry = geometries[skymap]
        if geometry is None:
            continue
        try:
            tract = geometry.tract(int(props["value"]))
        except UserError as exc:
            warnings.append(f"{key}: {exc}")
            continue
        distance, warning = check_exported_tract(geometry, tract, props["region_ra"],
                                                 props["region_dec"])
        batch.add_node(key, config_corner_offset_arcsec=distance)
        checked += 1
        warnings += [warning] if warning else []
    if checked:
        counts["tracts checked against their configuration"] = checked
    return warnings if any(geometries.values()) else None


def read_configs(path: Path, context: IngestContext) -> Parsed:
    """A JSON object of sky-map configurations, each stored with its geometry."""
    configs = load_json(path)
    if not isinstance(configs, dict):
        raise IngestError(path, "", "not a JSON object of sky-map configurations")
    batch = GraphBatch(str(path))
    skipped, warnings = [], []
    counts = {"sky maps": 0, "tracts": 0, "tracts checked against exported regions": 0}
    for entry, config in configs.items():
        if entry.startswith("_"):
            continue                    # a comment ("_about")
        if not isinstance(config, dict):
            raise IngestError(path, entry, "a sky-map configuration must be a JSON object")
        if "skyMap" not in config:
            skipped.append(f"{entry}: no sky-map kind (skyMap): a partial override of "
                           f"{', '.join(sorted(config)) or 'nothing'} that defines no tracts")
            continue
        name = config.get("name", entry)
        try:
            geometry = geometry_from_config(name, config)
        except UserError as exc:
            raise IngestError(path, f"{entry}.{exc.field}" if exc.field else entry,
                              str(exc)) from None
        sky_key = batch.add_node(unit_key("skymap", name), dimension="skymap", value=name,
                                 **geometry.unit_props(), config_source=config.get("source"))
        if geometry.defaulted:          # values left to lsst.skymap's defaults
            batch.add_node(sky_key, defaulted=list(geometry.defaulted))
        batch.note_origin(sky_key, entry)
        tracts = {}
        for tract_id in range(geometry.tract_count):
            tract = geometry.tract(tract_id)
            key = batch.add_node(unit_key("tract", tract_id, (name,)), dimension="tract",
                                 value=str(tract_id), **tract_props(tract))
            batch.add_edge(Rel.PART_OF, key, sky_key)
            tracts[key] = tract
        counts["sky maps"] += 1
        counts["tracts"] += len(tracts)
        for key, encoded in tract_regions_of_sky_map(context.store, name):
            if key not in tracts:
                warnings.append(f"{key}: stored with a region but not a tract of the "
                                f"configuration {entry}")
                continue
            exported = region_props(encoded)
            distance, warning = check_exported_tract(geometry, tracts[key],
                                                     exported["region_ra"], exported["region_dec"])
            batch.add_node(key, config_corner_offset_arcsec=distance)
            counts["tracts checked against exported regions"] += 1
            warnings += [warning] if warning else []
    if not counts["sky maps"]:
        raise IngestError(path, "", "no sky-map configuration (an object with skyMap "
                                    "'rings' or 'discrete') in this file")
    return Parsed(path, batch, skipped, {k: v for k, v in counts.items() if v},
                  warnings=check_unit(batch) + warnings)

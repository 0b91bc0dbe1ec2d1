"""The demo survey's catalogs: the DIA source and DIA object tables its graph names.

The graph of :mod:`lineage.demo` says which ``dia_source`` (per visit and
detector) and ``dia_object`` (per patch) datasets each release made; this
module writes their contents as Parquet files where the demo's datastore keeps
them (``<root>/<run>/<type>/<data ID>.parq``, :func:`lineage.demo.dataset_path`),
so lightcurves can be read the way a user reads them from a Butler: object ->
its ``dia_object`` table -> the association's input ``dia_source`` tables.

Every patch holds a few variable objects at fixed positions with a sinusoidal
lightcurve.  A ``dia_source`` row is written for each object inside the
detector's footprint on that visit: forced photometry on the difference image
(``psfFlux`` in nJy, the flux above the template's mean), with an error that
grows with the visit's seeing, and noise drawn per release, so two releases
measure slightly different fluxes of the same epochs.  Column names follow
the Rubin DPDD (``diaObjectId``, ``midpointMjdTai``, ``psfFlux`` ...).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lineage.demo.survey import SurveySpec, dataset_path, plan_survey
from lineage.core.dataid import DataId
from lineage.core.model import GraphBatch

OBJECTS_PER_PATCH = 6
SOURCE_SCHEMA = pa.schema([
    ("diaSourceId", pa.int64()), ("diaObjectId", pa.int64()), ("visit", pa.int64()),
    ("detector", pa.int32()), ("band", pa.string()), ("midpointMjdTai", pa.float64()),
    ("psfFlux", pa.float64()), ("psfFluxErr", pa.float64()), ("ra", pa.float64()),
    ("dec", pa.float64())])


@dataclass(frozen=True)
class DiaObject:
    id: int
    tract: int
    patch: int
    ra: float
    dec: float
    mean_flux: float     # nJy
    amplitude: float     # nJy
    period: float        # days
    phase: float

    def flux(self, mjd: float) -> float:
        """The true flux above the template (nJy) at a TAI MJD."""
        return self.amplitude * math.sin(2 * math.pi * mjd / self.period + self.phase)


def dia_objects(spec: SurveySpec) -> list[DiaObject]:
    """The variable objects of the demo sky, a few per patch (IDs: tract, patch, number)."""
    survey = plan_survey(spec)
    objects = []
    for (tract, patch), (r0, r1, d0, d1) in sorted(survey.patches.items()):
        rng = random.Random(f"{spec.seed}-objects-{tract}-{patch}")
        for n in range(OBJECTS_PER_PATCH):
            objects.append(DiaObject(
                id=tract * 10**7 + patch * 10**4 + n,
                tract=tract, patch=patch,
                ra=round(rng.uniform(r0, r1), 6), dec=round(rng.uniform(d0, d1), 6),
                mean_flux=round(10 ** rng.uniform(3.5, 5.0), 1),
                amplitude=round(10 ** rng.uniform(2.5, 4.0), 1),
                period=round(rng.uniform(0.5, 20.0), 3), phase=round(rng.uniform(0, 6.28), 3)))
    return objects


def catalog_tables(spec: SurveySpec, units: list[GraphBatch]) -> dict[str, pa.Table]:
    """The contents of every ``dia_source`` and ``dia_object`` dataset of ``units`` (the demo's
    graph): datastore path -> table."""
    survey = plan_survey(spec)
    visits = {v.id: v for v in survey.visits}
    objects = dia_objects(spec)
    tables: dict[str, pa.Table] = {}
    counts: dict[tuple[str, int], int] = {}
    patch_tables = []
    for batch in units:
        for props in batch.nodes.values():
            dstype = props.get("dataset_type")
            if dstype == "dia_object":
                patch_tables.append(props)
            if dstype != "dia_source":
                continue
            run, did = props["run"], DataId.parse(props["data_id"], strict=True)
            v, det = visits[int(did["visit"])], int(did["detector"])
            ra0, ra1, dec0, dec1 = v.boxes[det]
            rng = random.Random(f"{spec.seed}-{run}-{v.id}-{det}")
            mid = v.mjd_begin + v.exposure_time / 2 / 86400
            err = round(40.0 * v.seeing / 0.7 * 10 ** ((21.0 - v.sky) / 5), 2)
            rows = []
            for k, o in enumerate(x for x in objects if ra0 <= x.ra < ra1 and dec0 <= x.dec < dec1):
                rows.append((v.id * 10**5 + det * 10**3 + k, o.id, v.id, det, v.band,
                             mid, round(o.flux(mid) + rng.gauss(0, err), 2), err, o.ra, o.dec))
                counts[(run, o.id)] = counts.get((run, o.id), 0) + 1
            tables[dataset_path(dstype, props["data_id"], run)] = pa.table(
                [list(c) for c in zip(*rows)] if rows else [[] for _ in SOURCE_SCHEMA],
                schema=SOURCE_SCHEMA)
    for props in patch_tables:
        did = DataId.parse(props["data_id"], strict=True)
        mine = [o for o in objects if (o.tract, o.patch) == (int(did["tract"]), int(did["patch"]))]
        tables[dataset_path("dia_object", props["data_id"], props["run"])] = pa.table({
            "diaObjectId": [o.id for o in mine], "ra": [o.ra for o in mine],
            "dec": [o.dec for o in mine],
            "nDiaSources": [counts.get((props["run"], o.id), 0) for o in mine]})
    return tables


def write_catalogs(spec: SurveySpec, units: list[GraphBatch], root: Path) -> int:
    """Write the tables under ``root`` (the demo datastore); how many files were written."""
    tables = catalog_tables(spec, units)
    for path, table in tables.items():
        target = Path(root) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        pq.write_table(table, partial)
        partial.replace(target)
    return len(tables)

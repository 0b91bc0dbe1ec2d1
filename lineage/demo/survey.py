"""A deterministic generator of a realistic small survey, for the demo,
the tests and the benchmarks.

One camera (``DemoCam``: a grid of detectors), bands ugrizy, visits dithered
over a field on a rings-like sky map, bias and flat calibrations with
validity ranges, and two data releases processed by a DRP-like pipeline::

    raw + bias + flat -> isr -> post_isr_image -> calibrate -> calexp, src
    calexp -> makeWarp -> deepCoadd_directWarp -> assembleCoadd -> deepCoadd
    deepCoadd -> detection -> deepCoadd_det -> mergeDetections -> deepCoadd_mergeDet
    deepCoadd + mergeDet -> measure -> deepCoadd_meas -> mergeMeasurements -> deepCoadd_ref
    calexp + deepCoadd_ref -> forcedPhotCcd -> forced_src
    calexp + deepCoadd (template) -> subtractImages -> difference_image
    difference_image -> detectAndMeasureDiaSources -> dia_source
    dia_source (all visits on a patch) -> drpAssociation -> dia_object

plus EFD records per exposure, metric jobs per tract and release, two
software versions and two release collections.  DR2 differs from DR1 in
known ways (``RELEASE_CHANGES``): one visit dropped, a new software version
for ``calibrate``, a changed ``assembleCoadd`` config, band y added.

Everything is a function of :class:`SurveySpec`; the same spec always gives
the same graph (UUIDs are name-based).  Scale with ``visits`` and
``detectors`` (``SurveySpec.for_nodes`` picks them for a node count).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import uuid
from dataclasses import dataclass, field
from typing import Iterator

from lineage.ingest.efd_link import summary_over
from lineage.ingest.formats.efd import efd_record
from lineage.ingest.verify_defs import add_spec
from lineage.metrics.record import job_batch
from lineage.core.dataid import DataId, format_data_id
from lineage.core.time import mjd_to_iso
from lineage.core.model import (GraphBatch, Rel, collection_key, config_key, dataset_key, dataset_type_key,
                                quantum_key, software_key, unit_key)

_NAMESPACE = uuid.UUID("6f1bd3a2-6d5f-4c1e-9a55-2b1c4d0f7e11")

INSTRUMENT = "DemoCam"
SKYMAP = "demo_rings"
PHYSICAL_FILTERS = {"u": "u_24", "g": "g_6", "r": "r_57", "i": "i_39", "z": "z_20", "y": "y_10"}
SOFTWARE = {
    "w.2026.10": {"pipe_tasks": "g1a2b3c+w.2026.10", "ip_isr": "g77aa01+w.2026.10",
                  "meas_algorithms": "g0c0ffe+w.2026.10", "ip_diffim": "gd1ff00+w.2026.10",
                  "afw": "gbeef01+w.2026.10", "python": "3.12.7"},
    "w.2026.20": {"pipe_tasks": "g9f8e7d+w.2026.20", "ip_isr": "g77aa01+w.2026.10",
                  "meas_algorithms": "g1234ab+w.2026.20", "ip_diffim": "gd1ff00+w.2026.10",
                  "afw": "gbeef01+w.2026.10", "python": "3.12.7"},
}
TASKS = {  # label -> (class, dimensions of its quanta)
    "isr": ("lsst.ip.isr.IsrTaskLSST", ("exposure", "detector")),
    "calibrate": ("lsst.pipe.tasks.calibrateImage.CalibrateImageTask", ("visit", "detector")),
    "makeWarp": ("lsst.drp.tasks.make_direct_warp.MakeDirectWarpTask", ("visit", "tract", "patch")),
    "assembleCoadd": ("lsst.drp.tasks.assemble_coadd.AssembleCoaddTask", ("tract", "patch", "band")),
    "detection": ("lsst.pipe.tasks.multiBand.DetectCoaddSourcesTask", ("tract", "patch", "band")),
    "mergeDetections": ("lsst.pipe.tasks.mergeDetections.MergeDetectionsTask", ("tract", "patch")),
    "measure": ("lsst.pipe.tasks.multiBand.MeasureMergedCoaddSourcesTask", ("tract", "patch", "band")),
    "mergeMeasurements": ("lsst.pipe.tasks.mergeMeasurements.MergeMeasurementsTask", ("tract", "patch")),
    "forcedPhotCcd": ("lsst.meas.base.forcedPhotCcd.ForcedPhotCcdTask", ("visit", "detector")),
    "subtractImages": ("lsst.ip.diffim.subtractImages.AlardLuptonSubtractTask", ("visit", "detector")),
    "detectAndMeasureDiaSources": ("lsst.ip.diffim.detectAndMeasure.DetectAndMeasureTask",
                                   ("visit", "detector")),
    "drpAssociation": ("lsst.pipe.tasks.drpAssociationPipe.DrpAssociationPipeTask", ("tract", "patch")),
}
CONFIGS = {  # label -> config values; DR2 changes assembleCoadd (RELEASE_CHANGES)
    "isr": {"doBias": True, "doFlat": True, "doDark": False},
    "calibrate": {"psf_detection.thresholdValue": 50.0, "photometry.match.maxOffset": 2.0},
    "makeWarp": {"warper.warpingKernelName": "lanczos3"},
    "assembleCoadd": {"statistic": "MEANCLIP", "sigmaClip": 3.0},
    "detection": {"thresholdValue": 5.0},
    "mergeDetections": {"priorityList": ["i", "r", "z", "y", "g", "u"]},
    "measure": {"doApCorr": True},
    "mergeMeasurements": {"pseudoFilterList": ["sky"]},
    "forcedPhotCcd": {"doApCorr": True},
    "subtractImages": {"mode": "convolveTemplate"},
    "detectAndMeasureDiaSources": {"detection.thresholdValue": 5.0},
    "drpAssociation": {"coaddName": "deep"},
}
METRICS = {  # name -> (unit, description)
    "validate_drp.PA1": ("mmag", "Photometric repeatability (RMS of bright stars)"),
    "validate_drp.AM1": ("marcsec", "Astrometric repeatability on 5 arcmin scales"),
    "pipe_tasks.CharacterizeImageTime": ("s", "Wall time of calibrate per quantum"),
}


@dataclass(frozen=True)
class ReleaseChanges:
    """How the second release differs from the first (tests check a diff finds exactly these)."""

    dropped_visit_index: int = 7           # index into the visit list
    new_software_step: str = "calibrate"
    new_software: str = "w.2026.20"
    changed_config_step: str = "assembleCoadd"
    changed_config: dict = field(default_factory=lambda: {"sigmaClip": 2.5})
    added_band: str = "y"


RELEASE_CHANGES = ReleaseChanges()


@dataclass(frozen=True)
class SurveySpec:
    visits: int = 100
    detectors: int = 20                    # a grid of det_cols x rows
    det_cols: int = 5
    det_size_deg: float = 0.2
    tracts: int = 2
    patches_per_side: int = 4              # patches of a tract: n x n
    tract_size_deg: float = 1.0
    ra0: float = 150.0
    dec0: float = 2.0
    visits_per_night: int = 30
    releases: tuple[str, ...] = ("DR1", "DR2")
    efd: bool = True
    metrics: bool = True
    seed: int = 1228

    @classmethod
    def small(cls) -> "SurveySpec":
        """A tiny survey for fast tests (a few thousand nodes)."""
        return cls(visits=14, detectors=6, det_cols=3, det_size_deg=0.3, tracts=1,
                   patches_per_side=3, tract_size_deg=1.0)

    @classmethod
    def for_nodes(cls, nodes: int) -> "SurveySpec":
        """A spec whose graph has roughly ``nodes`` nodes (about 23 per visit-detector)."""
        per_visit = 20 * 23
        visits = max(10, round(nodes / per_visit))
        tracts = max(2, round(math.sqrt(visits / 25)))
        return cls(visits=visits, tracts=tracts)


# --- small helpers ----------------------------------------------------------------

def _uuid(*parts) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))


def _checksum(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class Visit:
    id: int
    band: str
    day_obs: int
    ra: float
    dec: float
    mjd_begin: float          # TAI
    exposure_time: float
    airmass: float
    seeing: float
    sky: float
    rotation: float
    detectors: list = field(default_factory=list)       # detector ids on the field
    patches: dict = field(default_factory=dict)          # detector -> [(tract, patch)]
    boxes: dict = field(default_factory=dict)            # detector -> (ra0, ra1, dec0, dec1)


@dataclass
class Survey:
    spec: SurveySpec
    visits: list[Visit]
    tracts: dict                 # tract id -> (ra_min, ra_max, dec_min, dec_max)
    patches: dict                # (tract, patch) -> bounds


def plan_survey(spec: SurveySpec) -> Survey:
    """Visits, their conditions and footprints; everything else follows from this."""
    rng = random.Random(spec.seed)
    rows = math.ceil(spec.detectors / spec.det_cols)
    cosd = math.cos(math.radians(spec.dec0))
    tracts, patches = {}, {}
    n = spec.patches_per_side
    for t in range(spec.tracts):
        ra_min = spec.ra0 + t * spec.tract_size_deg / cosd
        ra_max = ra_min + spec.tract_size_deg / cosd
        dec_min, dec_max = spec.dec0, spec.dec0 + spec.tract_size_deg
        tid = 9813 + t
        tracts[tid] = (ra_min, ra_max, dec_min, dec_max)
        for py in range(n):
            for px in range(n):
                pr = (ra_max - ra_min) / n
                pd = (dec_max - dec_min) / n
                patches[(tid, py * n + px)] = (ra_min + px * pr, ra_min + (px + 1) * pr,
                                               dec_min + py * pd, dec_min + (py + 1) * pd)
    ra_span = spec.tracts * spec.tract_size_deg / cosd
    bands = list(PHYSICAL_FILTERS)
    visits = []
    base_mjd = 61100.0  # 2026-03-01 (TAI)
    for i in range(spec.visits):
        night, slot = divmod(i, spec.visits_per_night)
        mjd_night = base_mjd + night + 0.05
        day_obs = int(mjd_to_iso(base_mjd + night)[:10].replace("-", ""))
        seq = slot + 1
        vid = day_obs * 100000 + seq
        band = bands[(i * 7 + night) % len(bands)]
        v = Visit(
            id=vid, band=band, day_obs=day_obs,
            ra=spec.ra0 + rng.uniform(0.1, 0.9) * ra_span,
            dec=spec.dec0 + rng.uniform(0.1, 0.9) * spec.tract_size_deg,
            mjd_begin=mjd_night + slot * 40.0 / 86400.0,
            exposure_time=30.0,
            airmass=round(1.0 + abs(rng.gauss(0.0, 0.25)), 3),
            seeing=round(max(0.45, rng.lognormvariate(math.log(0.75), 0.25)), 3),
            sky=round(rng.uniform(18.0, 21.5), 2),
            rotation=round(rng.uniform(0, 360), 2),
        )
        for d in range(spec.detectors):
            col, row = d % spec.det_cols, d // spec.det_cols
            dra = (col - (spec.det_cols - 1) / 2) * spec.det_size_deg / cosd
            ddec = (row - (rows - 1) / 2) * spec.det_size_deg
            half_ra, half_dec = spec.det_size_deg / cosd / 2, spec.det_size_deg / 2
            box = (v.ra + dra - half_ra, v.ra + dra + half_ra, v.dec + ddec - half_dec,
                   v.dec + ddec + half_dec)
            hits = [tp for tp, pb in patches.items()
                    if box[0] < pb[1] and pb[0] < box[1] and box[2] < pb[3] and pb[2] < box[3]]
            if hits:
                v.detectors.append(d)
                v.patches[d] = sorted(hits)
                v.boxes[d] = box
        visits.append(v)
    return Survey(spec, visits, tracts, patches)


# --- the graph -------------------------------------------------------------------

class _Builder:
    """Accumulates one ingest unit; knows the key conventions of the demo."""

    def __init__(self, source: str) -> None:
        self.batch = GraphBatch(source)

    def unit(self, dimension: str, value, parents=(), part_of=(), **record) -> str:
        key = unit_key(dimension, value, parents)
        self.batch.add_node(key, dimension=dimension, value=str(value), **record)
        for parent in part_of:
            self.batch.add_edge(Rel.PART_OF, key, parent)
        return key

    def dataset(self, dstype: str, data_id: dict, run: str, units: list[str]) -> str:
        did = format_data_id(data_id)
        uid = _uuid(dstype, did, run)
        key = dataset_key(uid)
        path = dataset_path(dstype, did, run)
        self.batch.add_node(key, dataset_type=dstype, data_id=did, run=run,
                            uri=f"file://datastore/{path}",
                            size=50_000 + int(uid[:6], 16) % 5_000_000,
                            checksum=_checksum(key))
        self.batch.add_edge(Rel.OF_TYPE, key, dataset_type_key(dstype))
        self.batch.add_edge(Rel.CONTAINS, collection_key(run), key)
        for u in units:
            self.batch.add_edge(Rel.IDENTIFIED_BY, key, u)
        return key

    def quantum(self, label: str, data_id: dict, run: str, units: list[str], inputs, outputs,
                software: str, config: str, mjd: float, rng: random.Random) -> str:
        did = format_data_id(data_id)
        uid = _uuid("quantum", label, did, run)
        key = quantum_key(uid)
        wall = rng.uniform(5, 300)
        self.batch.add_node(key, task=label, task_class=TASKS[label][0], data_id=did,
                            run=run, status="successful",
                            start=mjd_to_iso(mjd), end=mjd_to_iso(mjd + wall / 86400),
                            time_scale="tai", host=f"sdfmilan{rng.randint(1, 250):03d}",
                            peak_memory_mb=round(rng.uniform(400, 6000), 1))
        for u in units:
            self.batch.add_edge(Rel.IDENTIFIED_BY, key, u)
        for d in inputs:
            self.batch.add_edge(Rel.INPUT_TO, d, key)
        for d in outputs:
            self.batch.add_edge(Rel.PRODUCED, key, d)
        self.batch.add_edge(Rel.RAN_WITH, key, software_key(software))
        self.batch.add_edge(Rel.CONFIGURED_BY, key, config)
        return key


def dataset_path(dstype: str, data_id: str, run: str) -> str:
    """Where the demo's datastore keeps a dataset (``datastore/`` + this; tables are Parquet)."""
    suffix = ".parq" if STORAGE_CLASSES.get(dstype) == "DataFrame" else ".fits"
    return f"{run}/{dstype}/{DataId.parse(data_id).path()}{suffix}"


def _u(dimension, *values):
    """Key of a demo unit: instrument units name the instrument, sky-map units do not."""
    implicit = (SKYMAP,) if dimension in ("tract", "patch") else ()
    return unit_key(dimension, values[-1], implicit + tuple(values[:-1]))


def release_runs(release: str) -> str:
    return f"{INSTRUMENT}/runs/{release}"


def generate(spec: SurveySpec | None = None, chunk_visits: int = 50) -> Iterator[GraphBatch]:
    """The survey as a sequence of ingest units (each a :class:`GraphBatch`)."""
    spec = spec or SurveySpec()
    survey = plan_survey(spec)
    yield _static_unit(survey)
    for i in range(0, len(survey.visits), chunk_visits):
        yield _raw_unit(survey, survey.visits[i:i + chunk_visits])
    for release in spec.releases:
        yield from _release_units(survey, release, chunk_visits)
    if spec.metrics:
        yield _metrics_unit(survey)


def _static_unit(survey: Survey) -> GraphBatch:
    spec = survey.spec
    b = _Builder("demo: instrument, sky map, calibrations, software")
    inst = b.unit("instrument", INSTRUMENT, detectors=spec.detectors, class_name="demo.DemoCam")
    for band, pf in PHYSICAL_FILTERS.items():
        bk = b.unit("band", band)
        b.unit("physical_filter", pf, (INSTRUMENT,), part_of=(inst, bk), band=band)
    for d in range(spec.detectors):
        b.unit("detector", d, (INSTRUMENT,), part_of=(inst,), full_name=f"R{d // 9:02d}_S{d % 9:02d}",
               purpose="SCIENCE")
    sm = b.unit("skymap", SKYMAP, class_name="lsst.skymap.ringsSkyMap.RingsSkyMap")
    for tid, (r0, r1, d0, d1) in survey.tracts.items():
        b.unit("tract", tid, (SKYMAP,), part_of=(sm,), ra_min=r0, ra_max=r1, dec_min=d0, dec_max=d1)
    for (tid, pid), (r0, r1, d0, d1) in survey.patches.items():
        b.unit("patch", pid, (SKYMAP, tid), part_of=(_u("tract", tid),),
               ra_min=r0, ra_max=r1, dec_min=d0, dec_max=d1)
    for name, packages in SOFTWARE.items():
        b.batch.add_node(software_key(name), name=name, packages=json.dumps(packages, sort_keys=True))
    for dstype, dims, cls in _DATASET_TYPES:
        b.batch.add_node(dataset_type_key(dstype), name=dstype, dimensions=list(dims),
                         storage_class=cls)
    # collections: raw RUN, calibration RUN + CALIBRATION collection
    b.batch.add_node(collection_key(f"{INSTRUMENT}/raw/all"), name=f"{INSTRUMENT}/raw/all",
                     collection_type="RUN")
    calib_run = f"{INSTRUMENT}/calib/20260301"
    b.batch.add_node(collection_key(calib_run), name=calib_run, collection_type="RUN")
    calib = f"{INSTRUMENT}/calib"
    b.batch.add_node(collection_key(calib), name=calib, collection_type="CALIBRATION")
    first = survey.visits[0].mjd_begin - 1
    last = survey.visits[-1].mjd_begin + 1
    middle = (first + last) / 2
    ranges = [(first, middle), (middle, last)]
    for d in range(spec.detectors):
        det = _u("detector", INSTRUMENT, d)
        for epoch, (t0, t1) in enumerate(ranges):
            key = b.dataset("bias", {"instrument": INSTRUMENT, "detector": d, "epoch": epoch},
                            calib_run, [det])
            b.batch.add_edge(Rel.CONTAINS, collection_key(calib), key,
                             valid_begin=mjd_to_iso(t0), valid_end=mjd_to_iso(t1),
                             time_scale="tai")
            for pf in PHYSICAL_FILTERS.values():
                key = b.dataset("flat", {"instrument": INSTRUMENT, "detector": d,
                                         "physical_filter": pf, "epoch": epoch},
                                calib_run, [det, _u("physical_filter", INSTRUMENT, pf)])
                b.batch.add_edge(Rel.CONTAINS, collection_key(calib), key,
                                 valid_begin=mjd_to_iso(t0), valid_end=mjd_to_iso(t1),
                                 time_scale="tai")
    return b.batch


_DATASET_TYPES = [
    ("raw", ("instrument", "exposure", "detector"), "Exposure"),
    ("bias", ("instrument", "detector"), "ExposureF"),
    ("flat", ("instrument", "detector", "physical_filter"), "ExposureF"),
    ("post_isr_image", ("instrument", "exposure", "detector"), "Exposure"),
    ("calexp", ("instrument", "visit", "detector"), "ExposureF"),
    ("src", ("instrument", "visit", "detector"), "SourceCatalog"),
    ("deepCoadd_directWarp", ("skymap", "tract", "patch", "instrument", "visit"), "ExposureF"),
    ("deepCoadd", ("skymap", "tract", "patch", "band"), "ExposureF"),
    ("deepCoadd_det", ("skymap", "tract", "patch", "band"), "SourceCatalog"),
    ("deepCoadd_mergeDet", ("skymap", "tract", "patch"), "SourceCatalog"),
    ("deepCoadd_meas", ("skymap", "tract", "patch", "band"), "SourceCatalog"),
    ("deepCoadd_ref", ("skymap", "tract", "patch"), "SourceCatalog"),
    ("forced_src", ("instrument", "visit", "detector"), "SourceCatalog"),
    ("difference_image", ("instrument", "visit", "detector"), "ExposureF"),
    ("dia_source", ("instrument", "visit", "detector"), "DataFrame"),
    ("dia_object", ("skymap", "tract", "patch"), "DataFrame"),
]
STORAGE_CLASSES = {dstype: cls for dstype, _, cls in _DATASET_TYPES}


def _raw_unit(survey: Survey, visits: list[Visit]) -> GraphBatch:
    spec = survey.spec
    b = _Builder(f"demo: raws of visits {visits[0].id}..{visits[-1].id}")
    raw_run = f"{INSTRUMENT}/raw/all"
    for v in visits:
        pf = PHYSICAL_FILTERS[v.band]
        day = b.unit("day_obs", v.day_obs, (INSTRUMENT,), part_of=(_u("instrument", INSTRUMENT),))
        pfk = _u("physical_filter", INSTRUMENT, pf)
        begin, end = mjd_to_iso(v.mjd_begin), mjd_to_iso(v.mjd_begin + v.exposure_time / 86400)
        record = dict(band=v.band, physical_filter=pf, day_obs=v.day_obs, begin=begin, end=end,
                      time_scale="tai", mjd_begin=v.mjd_begin,
                      mjd_end=v.mjd_begin + v.exposure_time / 86400,
                      exposure_time=v.exposure_time, airmass=v.airmass, seeing=v.seeing,
                      sky=v.sky, ra=round(v.ra, 6), dec=round(v.dec, 6), rotation=v.rotation)
        visit = b.unit("visit", v.id, (INSTRUMENT,), part_of=(pfk, day), **record)
        exposure = b.unit("exposure", v.id, (INSTRUMENT,), part_of=(visit, pfk, day),
                          observation_type="science", **record)
        for d in v.detectors:
            b.dataset("raw", {"instrument": INSTRUMENT, "exposure": v.id, "detector": d}, raw_run,
                      [exposure, _u("detector", INSTRUMENT, d)])
    if spec.efd:
        _efd_records(b.batch, survey, visits)
    return b.batch


EFD_SAMPLE_SECONDS = 10.0
EFD_TOPICS = {  # topic -> fields (the demo's telemetry; both describe exposures of any camera)
    "lsst.sal.DIMM.logEvent_dimmMeasurement": ("fwhm",),
    "lsst.sal.ESS.temperature": ("temperatureItem0", "temperatureItem1"),  # dome air, outside
}


def _efd_records(batch: GraphBatch, survey: Survey, visits: list[Visit]) -> None:
    """Telemetry of each night the visits span, sampled every 10 s from about a minute before
    the first exposure to a minute after the last, as the ``efd`` ingest stores an InfluxDB
    answer (UTC sample times); each exposure is linked with the samples inside it.  (Times
    are read back to about 10 microseconds, so no sample sits on an exposure's edge.)"""
    import numpy as np
    import pandas as pd
    from astropy.time import Time
    from pathlib import Path
    spec = survey.spec
    nights: dict[int, list[Visit]] = {}
    for v in visits:
        nights.setdefault(v.day_obs, []).append(v)
    for day_obs, night in nights.items():
        rng = np.random.default_rng([spec.seed, day_obs])
        begin = night[0].mjd_begin - 63.7 / 86400   # samples never on an exposure's edge
        end = night[-1].mjd_begin + (night[-1].exposure_time + 60) / 86400
        mjd = np.arange(begin, end, EFD_SAMPLE_SECONDS / 86400)          # TAI
        current = np.searchsorted([v.mjd_begin for v in night], mjd, side="right") - 1
        seeing = np.array([night[max(i, 0)].seeing for i in current])
        dome = 11.0 + 3.0 * rng.random() + 0.3 * np.sin((mjd - begin) * 40.0)
        outside = dome - 4.0 * rng.random() + rng.normal(0, 0.05, len(mjd))
        values = {"fwhm": seeing * (1 + rng.normal(0, 0.03, len(mjd))),
                  "temperatureItem0": dome + rng.normal(0, 0.05, len(mjd)),
                  "temperatureItem1": outside}
        utc = pd.Series(Time(mjd, format="mjd", scale="tai").utc.to_datetime(), name="time")
        for topic, fields in EFD_TOPICS.items():
            frame = pd.DataFrame({"time": pd.to_datetime(utc, utc=True),
                                  **{f: np.round(values[f], 4) for f in fields}})
            key, props, _ = efd_record(Path(f"demo-efd-{day_obs}"), topic, frame, topic)
            batch.add_node(key, **props)
            for v in night:
                batch.add_edge(Rel.DESCRIBES, key, _u("exposure", INSTRUMENT, v.id),
                               **summary_over(props, v.mjd_begin,
                                              v.mjd_begin + v.exposure_time / 86400))


def _release_plan(survey: Survey, release: str):
    """Visits, bands, software and configs used by one release."""
    ch = RELEASE_CHANGES
    second = release != survey.spec.releases[0]
    bands = [b for b in PHYSICAL_FILTERS if second or b != ch.added_band]
    dropped = survey.visits[ch.dropped_visit_index % len(survey.visits)].id if second else None
    visits = [v for v in survey.visits if v.band in bands and v.id != dropped]
    software = {label: (ch.new_software if second and label == ch.new_software_step
                        else "w.2026.10") for label in TASKS}
    configs = {}
    for label, values in CONFIGS.items():
        values = dict(values)
        if second and label == ch.changed_config_step:
            values.update(ch.changed_config)
        configs[label] = values
    return visits, bands, software, configs


def _release_units(survey: Survey, release: str, chunk_visits: int) -> Iterator[GraphBatch]:
    spec = survey.spec
    visits, bands, software, configs = _release_plan(survey, release)
    run = release_runs(release)
    rng = random.Random(f"{spec.seed}-{release}")
    head = _Builder(f"demo: {release} collections and configs")
    head.batch.add_node(collection_key(run), name=run, collection_type="RUN")
    chain = f"{INSTRUMENT}/{release}"
    head.batch.add_node(collection_key(chain), name=chain, collection_type="CHAINED",
                        release=release)
    for pos, child in enumerate((run, f"{INSTRUMENT}/raw/all", f"{INSTRUMENT}/calib")):
        head.batch.add_edge(Rel.CHAINS, collection_key(chain), collection_key(child), position=pos)
    config_keys = {}
    for label, values in configs.items():
        text = json.dumps(values, sort_keys=True)
        ck = config_key(f"{label}/{hashlib.sha1(text.encode()).hexdigest()[:12]}")
        head.batch.add_node(ck, task=label, values=text)
        config_keys[label] = ck
    yield head.batch

    def q(b, label, data_id, units, inputs, outputs, mjd):
        return b.quantum(label, data_id, run, units, inputs, outputs, software[label],
                         config_keys[label], mjd, rng)

    epoch_of = {}
    first = survey.visits[0].mjd_begin - 1
    middle = (first + survey.visits[-1].mjd_begin + 1) / 2
    for v in survey.visits:
        epoch_of[v.id] = 0 if v.mjd_begin < middle else 1
    proc_mjd = survey.visits[-1].mjd_begin + 10 + (30 if release != spec.releases[0] else 0)
    calexps: dict[tuple[int, int], str] = {}
    warps: dict[tuple, list] = {}
    # single-frame processing, per chunk of visits
    for i in range(0, len(visits), chunk_visits):
        chunk = visits[i:i + chunk_visits]
        b = _Builder(f"demo: {release} single-frame, visits {chunk[0].id}..{chunk[-1].id}")
        for v in chunk:
            pf = PHYSICAL_FILTERS[v.band]
            vk, ek = _u("visit", INSTRUMENT, v.id), _u("exposure", INSTRUMENT, v.id)
            for d in v.detectors:
                det = _u("detector", INSTRUMENT, d)
                ed = {"instrument": INSTRUMENT, "exposure": v.id, "detector": d}
                vd = {"instrument": INSTRUMENT, "visit": v.id, "detector": d}
                raw = dataset_key(_uuid("raw", format_data_id(ed), f"{INSTRUMENT}/raw/all"))
                e = epoch_of[v.id]
                cal_run = f"{INSTRUMENT}/calib/20260301"
                bias = dataset_key(_uuid("bias", format_data_id(
                    {"instrument": INSTRUMENT, "detector": d, "epoch": e}), cal_run))
                flat = dataset_key(_uuid("flat", format_data_id(
                    {"instrument": INSTRUMENT, "detector": d, "physical_filter": pf, "epoch": e}),
                    cal_run))
                post = b.dataset("post_isr_image", ed, run, [ek, det])
                q(b, "isr", ed, [ek, det], [raw, bias, flat], [post], proc_mjd)
                cx = b.dataset("calexp", vd, run, [vk, det])
                src = b.dataset("src", vd, run, [vk, det])
                q(b, "calibrate", vd, [vk, det], [post], [cx, src], proc_mjd + 0.1)
                calexps[(v.id, d)] = cx
                for tp in v.patches[d]:
                    warps.setdefault((v.id, tp), []).append(cx)
        # warps of these visits
        for (vid, (tid, pid)), inputs in sorted(warps.items()):
            if not any(vid == v.id for v in chunk):
                continue
            wd = {"instrument": INSTRUMENT, "visit": vid, "skymap": SKYMAP, "tract": tid,
                  "patch": pid}
            units = [_u("visit", INSTRUMENT, vid), _u("tract", tid), _u("patch", tid, pid)]
            w = b.dataset("deepCoadd_directWarp", wd, run, units)
            q(b, "makeWarp", wd, units, sorted(set(inputs)), [w], proc_mjd + 0.2)
        yield b.batch
    # coadd processing, per tract
    band_of = {v.id: v.band for v in visits}
    coadds: dict[tuple, str] = {}
    refs: dict[tuple, str] = {}
    for tid in sorted(survey.tracts):
        b = _Builder(f"demo: {release} coadds of tract {tid}")
        for (t, pid) in sorted(p for p in survey.patches if p[0] == tid):
            punits = [_u("tract", t), _u("patch", t, pid)]
            pd = {"skymap": SKYMAP, "tract": t, "patch": pid}
            dets, meas_inputs = [], {}
            for band in bands:
                ws = sorted(dataset_key(_uuid("deepCoadd_directWarp", format_data_id(
                    {"instrument": INSTRUMENT, "visit": vid, "skymap": SKYMAP, "tract": t,
                     "patch": pid}), run))
                    for (vid, tp) in warps if tp == (t, pid) and band_of.get(vid) == band)
                if not ws:
                    continue
                bd = dict(pd, band=band)
                bunits = punits + [_u("band", band)]
                coadd = b.dataset("deepCoadd", bd, run, bunits)
                q(b, "assembleCoadd", bd, bunits, ws, [coadd], proc_mjd + 1)
                det = b.dataset("deepCoadd_det", bd, run, bunits)
                q(b, "detection", bd, bunits, [coadd], [det], proc_mjd + 1.1)
                coadds[(t, pid, band)] = coadd
                dets.append(det)
                meas_inputs[band] = (bd, bunits, coadd)
            if not dets:
                continue
            merge = b.dataset("deepCoadd_mergeDet", pd, run, punits)
            q(b, "mergeDetections", pd, punits, dets, [merge], proc_mjd + 1.2)
            meas = []
            for band, (bd, bunits, coadd) in meas_inputs.items():
                m = b.dataset("deepCoadd_meas", bd, run, bunits)
                q(b, "measure", bd, bunits, [coadd, merge], [m], proc_mjd + 1.3)
                meas.append(m)
            ref = b.dataset("deepCoadd_ref", pd, run, punits)
            q(b, "mergeMeasurements", pd, punits, meas, [ref], proc_mjd + 1.4)
            refs[(t, pid)] = ref
        yield b.batch
    # forced photometry and difference imaging against every overlapping patch,
    # whichever tract it is in, per chunk of visits
    dia_by_patch: dict[tuple, list] = {}
    for i in range(0, len(visits), chunk_visits):
        chunk = visits[i:i + chunk_visits]
        b = _Builder(f"demo: {release} forced and difference imaging, "
                     f"visits {chunk[0].id}..{chunk[-1].id}")
        for v in chunk:
            for d in v.detectors:
                vd = {"instrument": INSTRUMENT, "visit": v.id, "detector": d}
                units = [_u("visit", INSTRUMENT, v.id), _u("detector", INSTRUMENT, d)]
                cx = calexps[(v.id, d)]
                tps = v.patches[d]
                rf = [refs[tp] for tp in tps if tp in refs]
                templates = [coadds[(t, p, v.band)] for (t, p) in tps if (t, p, v.band) in coadds]
                if rf:
                    fs = b.dataset("forced_src", vd, run, units)
                    q(b, "forcedPhotCcd", vd, units, [cx] + rf, [fs], proc_mjd + 2)
                if templates:
                    diff = b.dataset("difference_image", vd, run, units)
                    q(b, "subtractImages", vd, units, [cx] + templates, [diff], proc_mjd + 2.1)
                    dia = b.dataset("dia_source", vd, run, units)
                    q(b, "detectAndMeasureDiaSources", vd, units, [diff], [dia], proc_mjd + 2.2)
                    for tp in tps:
                        dia_by_patch.setdefault(tp, []).append(dia)
        yield b.batch
    for tid in sorted(survey.tracts):
        b = _Builder(f"demo: {release} association of tract {tid}")
        for (t, pid), dias in sorted(dia_by_patch.items()):
            if t != tid:
                continue
            pd = {"skymap": SKYMAP, "tract": t, "patch": pid}
            punits = [_u("tract", t), _u("patch", t, pid)]
            obj = b.dataset("dia_object", pd, run, punits)
            q(b, "drpAssociation", pd, punits, sorted(set(dias)), [obj], proc_mjd + 3)
        if b.batch.nodes:
            yield b.batch


#: The demo's nightly CI series (``ci_demo``): how many jobs, and the night from which
#: they run with the second software version (PA1 gets worse there: a regression).
CI_JOBS, CI_REGRESSION_AT = 14, 8
#: Thresholds of the demo's metrics (lsst.verify-style threshold specifications).
SPECIFICATIONS = {"validate_drp.PA1.design": ("validate_drp.PA1", "<=", 15.0, "mmag"),
                  "validate_drp.AM1.design": ("validate_drp.AM1", "<=", 0.012, "arcsec")}


def _metrics_unit(survey: Survey) -> GraphBatch:
    """SQuaSH-like jobs, recorded as a task would (:func:`lineage.metrics.record.job_batch`):
    per release and tract, PA1/AM1 measured on that release (dataset ``demo_wide``,
    ``MEASURED`` the release collection and the tract), and a nightly CI series on dataset ``ci_demo`` whose
    software changes at night ``CI_REGRESSION_AT``, where PA1 regresses by ~4 mmag."""
    from astropy.time import Time
    b = _Builder("demo: metric jobs")
    for name, (unit, desc) in METRICS.items():
        b.batch.add_node(f"metric:{name}", name=name, unit=unit, description=desc)
    for name, (metric, op, value, unit) in SPECIFICATIONS.items():
        add_spec(b.batch, "demo", name, name, metric,
                 {"threshold": {"operator": op, "value": value, "unit": unit}})
    rng = random.Random(f"{survey.spec.seed}-metrics")

    def utc(mjd_tai: float) -> str:
        return Time(mjd_tai, format="mjd", scale="tai").utc.isot

    def job(name, values, date, software, measured, dataset) -> None:
        batch, _ = job_batch({m: (v, METRICS[m][0]) for m, v in values.items()}, job=name,
                             software=software, measured=measured, date=date,
                             instrument=INSTRUMENT, filter_name="r", dataset_name=dataset)
        b.batch.update(batch)

    last = survey.visits[-1].mjd_begin
    for n, release in enumerate(survey.spec.releases):
        _, _, software, _ = _release_plan(survey, release)
        for tid in sorted(survey.tracts):
            job(f"{release}/{tid}",
                {"validate_drp.PA1": round(rng.uniform(8, 18) - 2 * n, 4),
                 "validate_drp.AM1": round(rng.uniform(5, 15), 4),
                 "pipe_tasks.CharacterizeImageTime": round(rng.uniform(20, 60), 4)},
                utc(last + 12 + 30 * n), software_key(software["calibrate"]),
                [collection_key(f"{INSTRUMENT}/{release}"), _u("tract", tid)], "demo_wide")
    versions = sorted(SOFTWARE)
    for night in range(CI_JOBS):
        late = night >= CI_REGRESSION_AT
        job(f"ci_demo/{night + 1}",
            {"validate_drp.PA1": round(rng.gauss(12.0 + (3.8 if late else 0.0), 0.4), 4),
             "validate_drp.AM1": round(rng.gauss(8.0, 0.3), 4),
             "pipe_tasks.CharacterizeImageTime": round(rng.gauss(31 if late else 35, 1.5), 4)},
            utc(last - CI_JOBS + night + 0.3), software_key(versions[-1 if late else 0]),
            [], "ci_demo")   # MEASURED: the instrument and band its metadata names
    return b.batch


def default_visit(spec: SurveySpec | None = None) -> int:
    """A visit processed in every release (the demo's example)."""
    survey = plan_survey(spec or SurveySpec())
    dropped = survey.visits[RELEASE_CHANGES.dropped_visit_index % len(survey.visits)].id
    for v in survey.visits:
        if v.id != dropped and v.band != RELEASE_CHANGES.added_band and v.detectors:
            return v.id
    raise ValueError("no visit in every release")

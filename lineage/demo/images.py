"""The demo survey's images (``lineage demo --images``): small FITS calexps with a WCS.

Every ``calexp`` dataset of the demo graph gets a file where the demo's
datastore keeps it (:func:`lineage.demo.dataset_path`): an empty primary HDU,
``IMAGE`` and ``VARIANCE`` (float32, ``PIXELS`` x ``PIXELS``) with a TAN WCS
covering the detector's box on the sky, sky noise that grows with the visit's
sky brightness, and the demo's variable objects drawn as Gaussian stars of the
visit's seeing at their flux on that epoch.  A cutout around a DIA object
(``lineage.get(calexp, sky=(ra, dec), size=15)``) shows its star.

:func:`record_files` then writes the real size and sha256 of every file the
demo wrote into its dataset node, so ``lineage fetch`` can verify them.
"""

from __future__ import annotations

import hashlib
import math
import random
from pathlib import Path

import numpy as np

from lineage.demo.catalogs import dia_objects
from lineage.demo.survey import SurveySpec, dataset_path, plan_survey
from lineage.core.dataid import DataId
from lineage.core.model import GraphBatch

PIXELS = 100


def _image(visit, det: int, objects, rng: random.Random):
    from astropy.io import fits
    from astropy.wcs import WCS
    ra0, ra1, dec0, dec1 = visit.boxes[det]
    scale = (dec1 - dec0) / PIXELS                      # degrees per pixel
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [(ra0 + ra1) / 2, (dec0 + dec1) / 2]
    wcs.wcs.crpix = [(PIXELS + 1) / 2, (PIXELS + 1) / 2]
    wcs.wcs.cdelt = [-scale, scale]
    noise = 10 ** ((22.0 - visit.sky) / 5)
    gen = np.random.default_rng(rng.getrandbits(32))
    image = gen.normal(100.0, noise, (PIXELS, PIXELS)).astype(np.float32)
    yy, xx = np.mgrid[0:PIXELS, 0:PIXELS]
    sigma = max(visit.seeing / 2.355 / (scale * 3600), 0.5)
    mid = visit.mjd_begin + visit.exposure_time / 2 / 86400
    for o in objects:
        if not (ra0 <= o.ra < ra1 and dec0 <= o.dec < dec1):
            continue
        x, y = wcs.world_to_pixel_values(o.ra, o.dec)
        flux = (o.mean_flux + o.flux(mid)) / 10.0
        image += (flux / (2 * math.pi * sigma ** 2) *
                  np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))).astype(np.float32)
    header = wcs.to_header()
    header["BUNIT"] = "adu"
    header["VISIT"], header["DETECTOR"], header["BAND"] = visit.id, det, visit.band
    return fits.HDUList([fits.PrimaryHDU(),
                         fits.ImageHDU(image, header=header, name="IMAGE"),
                         fits.ImageHDU(np.full_like(image, noise ** 2), header=header,
                                       name="VARIANCE")])


def write_images(spec: SurveySpec, units: list[GraphBatch], root: Path,
                 types: tuple[str, ...] = ("calexp",)) -> int:
    """Write a FITS image for every dataset of ``types`` in ``units``; how many."""
    survey = plan_survey(spec)
    visits = {v.id: v for v in survey.visits}
    objects = dia_objects(spec)
    n = 0
    for batch in units:
        for props in batch.nodes.values():
            if props.get("dataset_type") not in types:
                continue
            did = DataId.parse(props["data_id"], strict=True)
            visit, det = visits[int(did["visit"])], int(did["detector"])
            target = Path(root) / dataset_path(props["dataset_type"], props["data_id"],
                                               props["run"])
            target.parent.mkdir(parents=True, exist_ok=True)
            rng = random.Random(f"{spec.seed}-{props['run']}-image-{visit.id}-{det}")
            partial = target.with_name(target.name + ".part")
            _image(visit, det, objects, rng).writeto(partial, overwrite=True)
            partial.replace(target)
            n += 1
    return n


def record_files(units: list[GraphBatch], root: Path) -> int:
    """Set ``size`` and ``checksum`` (sha256) of every dataset whose file is under ``root``."""
    n = 0
    for batch in units:
        for props in batch.nodes.values():
            uri = props.get("uri") or ""
            if not uri.startswith("file://datastore/"):
                continue
            path = Path(root) / uri[len("file://datastore/"):]
            if not path.is_file():
                continue
            props["size"] = path.stat().st_size
            props["checksum"] = hashlib.sha256(path.read_bytes()).hexdigest()
            n += 1
    return n

"""The demo survey's images (``lineage demo``, unless ``--no-images``): small FITS calexps
with a WCS.

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

import functools
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
FITS_BLOCK = 2880     # a FITS file is a sequence of 2880-byte blocks


def _geometry(visit, det: int):
    """(WCS, shared cards) of a detector of a visit: a TAN WCS covering the detector's box,
    the same for the calexps of every release."""
    from astropy.wcs import WCS
    ra0, ra1, dec0, dec1 = visit.boxes[det]
    scale = (dec1 - dec0) / PIXELS                      # degrees per pixel
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [(ra0 + ra1) / 2, (dec0 + dec1) / 2]
    wcs.wcs.crpix = [(PIXELS + 1) / 2, (PIXELS + 1) / 2]
    wcs.wcs.cdelt = [-scale, scale]
    return wcs, _shared_cards(wcs, visit, det)


def _image(visit, det: int, wcs, objects, rng: random.Random):
    """(image, variance) of one calexp: sky noise and the objects in the detector's box."""
    ra0, ra1, dec0, dec1 = visit.boxes[det]
    scale = (dec1 - dec0) / PIXELS                      # degrees per pixel
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
    return image, np.full_like(image, noise ** 2)


def _cards(text: str) -> list[str]:
    """The 80-character cards of a header's text, up to its END card."""
    cards = [text[i:i + 80] for i in range(0, len(text), 80)]
    return cards[:cards.index("END".ljust(80))]


def _shared_cards(wcs, visit, det: int) -> list[str]:
    """The cards both HDUs of a calexp carry: its WCS, unit, visit, detector and band."""
    from astropy.io.fits import Card
    return _cards(wcs.to_header_string()) + [
        Card("BUNIT", "adu").image, Card("VISIT", visit.id).image,
        Card("DETECTOR", det).image, Card("BAND", visit.band).image]


@functools.lru_cache(maxsize=None)
def _fixed_cards(extname: str | None) -> tuple[list[str], list[str]]:
    """(leading, trailing) cards astropy writes around the shared ones: the primary HDU's
    whole header when ``extname`` is None, else an image extension's structure cards
    (float32, ``PIXELS`` x ``PIXELS``) and its EXTNAME."""
    from astropy.io import fits
    if extname is None:
        return _cards(fits.PrimaryHDU().header.tostring()), []
    header = fits.ImageHDU(np.zeros((PIXELS, PIXELS), np.float32), name=extname).header
    cards = _cards(header.tostring())
    return cards[:-1], cards[-1:]       # EXTNAME is astropy's last card


def _fits_bytes(shared: list[str], hdus: dict[str, np.ndarray]) -> bytes:
    """The FITS file astropy's ``HDUList.writeto`` writes for an empty primary HDU and one
    float32 image extension per ``hdus`` entry (name -> pixels), each with the ``shared``
    cards.

    Joined from card text and big-endian pixels: astropy's HDU objects check every
    card again when they are made and written (3 ms an image, three quarters of the
    demo's image time); a test compares the bytes with astropy's own writer.
    """
    def block(cards: list[str]) -> bytes:
        text = "".join(cards) + "END".ljust(80)
        return (text + " " * (-len(text) % FITS_BLOCK)).encode("ascii")

    parts = [block(_fixed_cards(None)[0])]
    for name, data in hdus.items():
        leading, trailing = _fixed_cards(name)
        pixels = data.astype(">f4").tobytes()
        parts += [block(leading + shared + trailing), pixels,
                  b"\0" * (-len(pixels) % FITS_BLOCK)]
    return b"".join(parts)


def write_images(spec: SurveySpec, units: list[GraphBatch], root: Path,
                 types: tuple[str, ...] = ("calexp",)) -> int:
    """Write a FITS image for every dataset of ``types`` in ``units``; how many."""
    survey = plan_survey(spec)
    visits = {v.id: v for v in survey.visits}
    objects = dia_objects(spec)
    geometry = {}       # (visit, detector) -> (WCS, shared cards): one for both releases
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
            if (visit.id, det) not in geometry:
                geometry[visit.id, det] = _geometry(visit, det)
            wcs, shared = geometry[visit.id, det]
            image, variance = _image(visit, det, wcs, objects, rng)
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(_fits_bytes(shared, {"IMAGE": image, "VARIANCE": variance}))
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

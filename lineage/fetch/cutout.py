"""Image cutouts: a pixel box or a sky position and size.

A cutout reads the header blocks, then the image rows its box covers in one
read (one ranged request for a remote file), nothing else; compressed or
scaled images are read through astropy's ``.section``.  Its result is a CCDData whose WCS is the image's, shifted to the box.
With a cache, the header (which places a sky cutout) and the cutout itself are
kept, so the same request again reads nothing from the datastore; a cutout of a
file already cached whole is cut from the cached copy (DAX5, DAX7).
"""

from __future__ import annotations

import functools
import io
import math

import numpy as np

from lineage.core.errors import UserError
from lineage.fetch.cache import Cache
from lineage.fetch.datastore import Artifact
from lineage.fetch.open import _opener


def _image_hdu(hdul, hdu):
    if hdu is not None:
        return hdul[hdu], hdu
    for i, h in enumerate(hdul):
        if h.header.get("NAXIS", 0) >= 2:
            return h, i
    raise UserError("no image HDU (NAXIS >= 2) in the file")


def _header(artifact: Artifact, hdu, cache: Cache | None, stats, opener):
    """(header, WCS, HDU index, data offset or None) of the image HDU, from the cache when
    it holds it.  The offset is None where the pixels are not plain (compressed, scaled)."""
    from astropy.io import fits
    path = cache.header_path(artifact, hdu) if cache is not None else None
    text = cache.get_bytes(path) if path is not None else None
    if text is not None:
        stats.cache_bytes += len(text)
        stats.cache_hits += 1
        place, _, body = text.decode("ascii").partition("\n")
        index, offset = place.split()
        return (*_parsed(body), int(index), None if offset == "-" else int(offset))
    with opener() as f, fits.open(f, lazy_load_hdus=True, memmap=False) as hdul:
        h, index = _image_hdu(hdul, hdu)
        header = h.header.copy()
        plain = isinstance(h, (fits.PrimaryHDU, fits.ImageHDU)) \
            and not isinstance(h, fits.CompImageHDU) and header.get("BSCALE", 1) == 1 \
            and header.get("BZERO", 0) == 0 and header["NAXIS"] == 2
        offset = h._data_offset if plain else None
    text = header.tostring()
    if path is not None:
        cache.put_bytes(path, f"{index} {'-' if offset is None else offset}\n{text}"
                        .encode("ascii"))
    return (*_parsed(text), index, offset)


def _rows(f, header, offset: int, y0: int, y1: int, x0: int, x1: int):
    """The box of a plain image: one read of the rows it covers, from the data offset."""
    dtype = np.dtype({8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4",
                      -64: ">f8"}[header["BITPIX"]])
    nx = header["NAXIS1"]
    f.seek(offset + y0 * nx * dtype.itemsize)
    raw = f.read((y1 - y0) * nx * dtype.itemsize)
    rows = np.frombuffer(raw, dtype=dtype).reshape(y1 - y0, nx)
    return rows[:, x0:x1].astype(dtype.newbyteorder("="))


@functools.lru_cache(maxsize=256)
def _parsed(text: str):
    """(header, WCS) of a header's text, parsed once per process: repeated cutouts of one
    image skip astropy's header and WCS parsing, most of the cost of a cache hit."""
    from astropy.io import fits
    from astropy.wcs import WCS
    header = fits.Header.fromstring(text)
    return header, WCS(header)


def _pixels(size, wcs) -> tuple[int, int]:
    """(ny, nx) pixels of a cutout size: an int, a pair, or an angle (astropy Quantity)."""
    if size is None:
        raise UserError("a sky cutout needs size= (pixels, (ny, nx) or an angle)")
    if hasattr(size, "unit"):
        from astropy.wcs.utils import proj_plane_pixel_scales
        scales = proj_plane_pixel_scales(wcs.celestial)  # degrees per pixel (x, y)
        deg = size.to_value("deg")
        deg = (deg, deg) if np.ndim(deg) == 0 else tuple(deg)
        return int(math.ceil(deg[0] / scales[1])), int(math.ceil(deg[1] / scales[0]))
    if isinstance(size, (tuple, list)):
        return int(size[0]), int(size[1])
    return int(size), int(size)


def pixel_box(header, box=None, sky=None, size=None, wcs=None) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of a cutout, clipped to the image; an error when it misses it."""
    ny, nx = header["NAXIS2"], header["NAXIS1"]
    if box is not None:
        ys, xs = box
        y0, y1, _ = ys.indices(ny)
        x0, x1, _ = xs.indices(nx)
    else:
        from astropy.coordinates import SkyCoord
        from astropy.wcs import WCS
        wcs = wcs if wcs is not None else WCS(header)
        if not isinstance(sky, SkyCoord):
            sky = SkyCoord(float(sky[0]), float(sky[1]), unit="deg")
        x, y = (float(v) for v in wcs.celestial.world_to_pixel(sky))
        if not (math.isfinite(x) and math.isfinite(y)):
            raise UserError(f"the cutout lies outside the {nx} x {ny} image "
                             f"({sky.to_string('decimal')} is not on its projection)")
        hy, hx = _pixels(size, wcs)
        # the box of hy x hx pixels centred on (x, y), as astropy's Cutout2D places it
        x0, y0 = math.ceil(round(x - hx / 2, 6)), math.ceil(round(y - hy / 2, 6))
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x0 + hx, nx), min(y0 + hy, ny)
    if y0 >= y1 or x0 >= x1:
        raise UserError(f"the cutout lies outside the {nx} x {ny} image")
    return y0, y1, x0, x1


def _shifted(header, y0: int, x0: int, data):
    """The header of a cutout: WCS reference pixel moved by the box's corner."""
    from astropy.io import fits
    h = fits.ImageHDU(data=data, header=header.copy()).header
    for axis, shift in ((1, x0), (2, y0)):
        if f"CRPIX{axis}" in h:
            h[f"CRPIX{axis}"] -= shift
        h[f"LTV{axis}"] = h.get(f"LTV{axis}", 0) - shift
    return h


def _result(data, header, image_wcs, y0: int, x0: int):
    """A CCDData of the cutout; its WCS is the image's (parsed once) moved to the box."""
    from astropy.nddata import CCDData
    wcs = image_wcs.slice((slice(y0, None), slice(x0, None)))   # moves SIP's CRPIX too
    unit = header.get("BUNIT") or "adu"
    try:
        return CCDData(data, unit=unit, wcs=wcs, meta=header)
    except ValueError:  # a unit astropy does not know
        return CCDData(data, unit="adu", wcs=wcs, meta=header)


def cutout(artifact: Artifact, box, sky, size, hdu, cache: Cache | None, stats):
    from astropy.io import fits

    opener = _opener(artifact, cache, stats, whole=False)
    header, wcs, index, offset = _header(artifact, hdu, cache, stats, opener)
    y0, y1, x0, x1 = pixel_box(header, box, sky, size, wcs)
    path = cache.cutout_path(artifact, index, (y0, y1, x0, x1)) if cache is not None else None
    cached = cache.get_bytes(path) if path is not None else None
    if cached is not None:
        stats.cache_bytes += len(cached)
        stats.cache_hits += 1
        with fits.open(io.BytesIO(cached), memmap=False) as hdul:
            return _result(hdul[0].data.copy(), hdul[0].header, wcs, y0, x0)
    if offset is not None:
        with opener() as f:
            data = _rows(f, header, offset, y0, y1, x0, x1)
    else:   # compressed or scaled pixels: astropy's section reads them
        with opener() as f, fits.open(f, lazy_load_hdus=True, memmap=False) as hdul:
            data = np.ascontiguousarray(hdul[index].section[y0:y1, x0:x1])
    cut_header = _shifted(header, y0, x0, data)
    if path is not None:
        buffer = io.BytesIO()
        fits.PrimaryHDU(data=data, header=cut_header).writeto(buffer)
        cache.put_bytes(path, buffer.getvalue())
    return _result(data, cut_header, wcs, y0, x0)

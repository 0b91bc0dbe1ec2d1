"""Repeated cutouts of one image: whole-file reads vs section reads vs the cutout cache (DAX5).

Writes a detector-sized FITS image (IMAGE + VARIANCE, float32, default 4096 x 4096,
128 MB) with a TAN WCS, serves it over HTTP on loopback (``lineage.fetch.httpd``,
with Range), and asks for the same sky cutout ``--repeat`` times, four ways:

* ``whole file``: download the whole file, then slice (what a plain fetch does);
* ``section, no cache``: ``lineage.get(url, sky=..., size=...)`` without a cache;
* ``cutout cache``: the same with a :class:`lineage.fetch.Cache` (first request fills it);
* ``file cached``: the file prefetched into the cache, cutouts at ``--repeat`` new places.

For each: bytes the server sent per request, the median and total time, and how both
compare with the whole-file way.  Run: ``python scripts/bench_fetch.py``
(``--pixels 2048 --repeat 20`` for a quick one).
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import tempfile
import time
from pathlib import Path

import fsspec
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

import lineage
from lineage.fetch import Cache, ReadStats
from lineage.fetch.datastore import Artifact
from lineage.fetch.httpd import serve_directory
from lineage.fetch.transfer import sha256_file


def write_image(path: Path, pixels: int) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [pixels / 2, pixels / 2]
    wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    image = np.random.default_rng(1).normal(100, 5, (pixels, pixels)).astype(np.float32)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(image, header=wcs.to_header(), name="IMAGE"),
                  fits.ImageHDU(image, header=wcs.to_header(), name="VARIANCE")]).writeto(path)
    return wcs


def measure(server, requests) -> dict:
    """Run the requests one by one: bytes the server sent and seconds, per request."""
    sent, seconds = [], []
    for request in requests:
        server.reset_counts()
        t0 = time.perf_counter()
        request()
        seconds.append(time.perf_counter() - t0)
        sent.append(server.bytes_sent)
    return {"bytes": sent, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pixels", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--size", type=int, default=64, help="cutout side in pixels")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        image = root / "data" / "calexp.fits"
        wcs = write_image(image, args.pixels)
        size = image.stat().st_size
        artifact_fields = dict(key="", format="fits", size=size, checksum=sha256_file(image),
                               relpath="calexp.fits")
        centre = wcs.pixel_to_world(args.pixels * 0.3, args.pixels * 0.6)
        rng = np.random.default_rng(2)
        places = [wcs.pixel_to_world(*rng.uniform(args.size, args.pixels - args.size, 2))
                  for _ in range(args.repeat)]
        with serve_directory(root / "data") as server:
            url = f"{server.url}/calexp.fits"
            artifact = Artifact(uri=url, **artifact_fields)

            def whole():
                with fits.open(io.BytesIO(fsspec.filesystem("http").cat_file(url))) as hdul:
                    data = hdul["IMAGE"].data
                    x, y = (int(v) for v in wcs.world_to_pixel(centre))
                    return data[y - args.size // 2:y + args.size // 2,
                                x - args.size // 2:x + args.size // 2].copy()

            def section():
                return lineage.get(artifact, sky=centre, size=args.size)

            cache = Cache(root / "cache")

            def cached():
                return lineage.get(artifact, sky=centre, size=args.size, cache=cache)

            runs = {"whole file": measure(server, [whole] * min(args.repeat, 10)),
                    "section, no cache": measure(server, [section] * args.repeat),
                    "cutout cache": measure(server, [cached] * args.repeat)}
            file_cache = Cache(root / "cache2")
            server.reset_counts()
            t0 = time.perf_counter()
            file_cache.fill(artifact)
            fill = (time.perf_counter() - t0, server.bytes_sent)
            runs["file cached"] = measure(server, [
                (lambda p=p: lineage.get(artifact, sky=p, size=args.size, cache=file_cache))
                for p in places])
            stats = ReadStats()
            lineage.get(artifact, sky=places[0], size=args.size, cache=file_cache, stats=stats)
    base = runs["whole file"]
    base_bytes = statistics.mean(base["bytes"])
    base_time = statistics.median(base["seconds"])
    print(f"image {args.pixels} x {args.pixels} float32, IMAGE + VARIANCE, {size:,} bytes; "
          f"{args.size} x {args.size} sky cutouts over HTTP on loopback; "
          f"{platform.python_version()}, {platform.machine()}\n")
    print("| how | requests | bytes sent per request (mean) | first request | median request "
          "| total | bytes vs whole file | time vs whole file |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in runs.items():
        mean_bytes = statistics.mean(r["bytes"])
        median = statistics.median(r["seconds"])
        print(f"| {name} | {len(r['seconds'])} | {mean_bytes:,.0f} | {r['seconds'][0] * 1000:.1f} ms "
              f"| {median * 1000:.2f} ms | {sum(r['seconds']):.2f} s "
              f"| {mean_bytes / base_bytes:.2e} | {median / base_time:.3f} |")
    print(f"\nfile cached: filling the cache once took {fill[0]:.2f} s and {fill[1]:,} bytes; "
          f"then each new cutout read {stats.cache_bytes:,} bytes of the cached copy "
          f"and {stats.source_bytes} from the server.")
    r = runs["cutout cache"]
    print(f"cutout cache: first request {r['bytes'][0]:,} bytes, the {len(r['bytes']) - 1} "
          f"repeats {sum(r['bytes'][1:]):,} bytes in all.")


if __name__ == "__main__":
    main()

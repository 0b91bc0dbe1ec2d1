"""What ``lineage fetch --with-provenance`` costs, side by side with a plain fetch.

Two measurements, each alternating plain and with-provenance runs ``--repeats`` times into
fresh directories (the machine's noise then falls on both alike):

* **many small files**: the calexps a coadd used (``--query``, upstream, ``--type``) from a
  repository's datastore (the default demo with images: ``lineage demo --repo DEMO``), as the
  command runs it: select, resolve, and with provenance :func:`provenance_of` (one upstream
  traversal and PROV-JSON document a file) and the stamping;
* **one large file**: a detector-sized FITS image (``--pixels``, IMAGE + VARIANCE float32;
  4096: 128 MiB) fetched from a directory datastore, where stamping is a second pass over
  the bytes.

Run: ``python scripts/bench_fetch_provenance.py --repo DEMO`` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from lineage.fetch.datastore import Artifact, datastore_for, resolve
from lineage.fetch.select import select
from lineage.fetch.transfer import fetch
from lineage.standards.stamp import FileProvenance, Stamper, provenance_of
from lineage.store.repo import open_store


def small_files(repo: str, query: str, types: list[str], repeats: int, work: Path) -> dict:
    times: dict[str, list[float]] = {"plain": [], "provenance": [], "with provenance": []}
    with open_store(repo) as store:
        where = datastore_for(repo, None)
        for n in range(repeats):
            for way in ("plain", "with provenance"):
                out = work / f"{way.replace(' ', '-')}-{n}"
                start = time.perf_counter()
                keys = select(store, query, "up", types, None, None)
                artifacts = resolve(store, keys, where, keep_refused=True)
                stamper = None
                if way == "with provenance":
                    t = time.perf_counter()
                    stamper = Stamper(provenance_of(store, [a.key for a in artifacts]))
                    times["provenance"].append(time.perf_counter() - t)
                fetch(artifacts, out, "copy", 4, False, where.describe(), stamper)
                times[way].append(time.perf_counter() - start)
                shutil.rmtree(out)
    return {"files": len(artifacts), "bytes": sum(a.size or 0 for a in artifacts),
            **{way: statistics.median(t) for way, t in times.items()}}


def large_file(pixels: int, repeats: int, work: Path) -> dict:
    root = work / "datastore"
    root.mkdir()
    path = root / "calexp.fits"
    image = np.random.default_rng(1).normal(100, 5, (pixels, pixels)).astype(np.float32)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(image, name="IMAGE"),
                  fits.ImageHDU(image, name="VARIANCE")]).writeto(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    record = FileProvenance("6f1d1c56-3b7c-4f55-8a43-2d0f0a5e8b11", "run/a", "calexp",
                            "detector=1,visit=5", "0b5c3f0e-1f0a-4d61-9f7e-4c8a3f3f2d22",
                            "calibrate", "lsst.pipe.tasks.calibrateImage.CalibrateImageTask",
                            "w.2026.20", [(f"{i:08d}-0000-4000-8000-000000000000", "run/a",
                                           "post_isr_image", False) for i in range(3)],
                            '{"prefix": {}}')
    artifact = Artifact(f"dataset:{record.uuid}", str(path), "fits", path.stat().st_size,
                        "sha256:" + digest, "calexp.fits", "calexp", "detector=1,visit=5",
                        "run/a", str(root))
    times: dict[str, list[float]] = {"plain": [], "with provenance": []}
    for n in range(repeats):
        for way, finish in (("plain", None), ("with provenance", Stamper({artifact.key: record}))):
            out = work / f"large-{n}"
            start = time.perf_counter()
            fetch([artifact], out, finish=finish)
            times[way].append(time.perf_counter() - start)
            shutil.rmtree(out)
    return {"bytes": path.stat().st_size, **{w: statistics.median(t) for w, t in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="a demo repository with images")
    parser.add_argument("--query", default="tract=9813,patch=15,band=r")
    parser.add_argument("--type", dest="types", default="calexp")
    parser.add_argument("--pixels", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        small = small_files(args.repo, args.query, args.types.split(","), args.repeats,
                            Path(tmp))
        print(f"small files: {small['files']} files, {small['bytes'] / 2**20:.1f} MiB "
              f"({args.query} upstream, {args.types}), median of {args.repeats}:")
        extra = small["with provenance"] - small["plain"]
        print(f"  plain {small['plain']:.2f} s, with provenance {small['with provenance']:.2f} s "
              f"(x{small['with provenance'] / small['plain']:.2f}; "
              f"+{extra / small['files'] * 1000:.1f} ms a file, of which "
              f"{small['provenance'] / small['files'] * 1000:.1f} ms reading the provenance)")
    with tempfile.TemporaryDirectory() as tmp:
        large = large_file(args.pixels, args.repeats, Path(tmp))
        mib = large["bytes"] / 2**20
        print(f"one large file: {mib:.0f} MiB, median of {args.repeats}:")
        print(f"  plain {large['plain']:.2f} s ({mib / large['plain']:.0f} MiB/s), with "
              f"provenance {large['with provenance']:.2f} s "
              f"({mib / large['with provenance']:.0f} MiB/s; "
              f"x{large['with provenance'] / large['plain']:.2f})")


if __name__ == "__main__":
    main()

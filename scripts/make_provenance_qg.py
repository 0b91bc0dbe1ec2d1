#!/usr/bin/env python
"""Make a real Rubin provenance quantum graph (``.qg``) from a small mocked run.

Everything is lsst-pipe-base's own machinery, run locally (needs the ``[rubin]`` extra):
a Butler repository in ``OUT/repo`` with daf_butler's test dimension records, step 1 of
``lineage.demo.butler`` (``isr`` -> ``calibrate`` -> ``consolidate`` of
``lsst.pipe.base.tests.mocks`` tasks, ``calibrate`` failing on visit 2, detector 2 so that
``consolidate`` of visit 2 is blocked) executed through quantum-backed butlers as batch
processing does, then the aggregator (what ``butler aggregate-graph`` runs) ingests the
outputs and writes the provenance graph ``OUT/provenance.qg``.

    python scripts/make_provenance_qg.py OUT

prints the path of the provenance graph (about 5 s; the UUIDs differ every time).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from lineage.demo.butler import make_provenance_graph


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="a new or empty directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(make_provenance_graph(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

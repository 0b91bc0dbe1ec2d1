"""Pre-flight (DRP1, LDF1): check a *predicted* quantum graph against the lineage graph
before the run is submitted: the quanta that would run, their inputs known and never
seen, inputs flagged bad or suspect or contaminated, outputs that already exist, and
whether each calibration input is certified for its exposure (docs/preflight.md).

:mod:`.predicted` reads the ``.qg`` file through lsst-pipe-base (or builds one from a
Butler repository and a pipeline first); :mod:`.core` asks the
graph (through the flags' marks, never propagating anything) and builds the report;
:mod:`.queries` holds its Cypher.
"""

from lineage.preflight.core import LEVELS, check_level, preflight
from lineage.preflight.predicted import PredictedGraph, build_predicted, read_predicted

__all__ = ["LEVELS", "PredictedGraph", "build_predicted", "check_level", "preflight",
           "read_predicted"]

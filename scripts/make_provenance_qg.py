#!/usr/bin/env python
"""Make a real Rubin provenance quantum graph (``.qg``) from a small mocked run.

Everything is lsst-pipe-base's own machinery, run locally (needs the
``[rubin]`` extra): a Butler repository (SQLite registry, file datastore) in
``OUT/repo`` loaded with daf_butler's test dimension records (instrument
Cam1, visits 1-2, detectors 1-4); a three-task pipeline of
``lsst.pipe.base.tests.mocks`` tasks

    isr          {visit, detector}: raw            -> post_isr_image
    calibrate    {visit, detector}: post_isr_image -> calexp, src
    consolidate  {visit}:           src (all detectors) -> source_table

where ``calibrate`` fails on visit 2, detector 2 (so ``consolidate`` of visit 2
is blocked); the predicted graph built and written (``OUT/predicted.qg``);
each quantum executed through a quantum-backed butler, as batch processing
does; then the aggregator (what ``butler aggregate-graph`` runs) ingests the
outputs and writes the provenance graph ``OUT/provenance.qg``.

    python scripts/make_provenance_qg.py OUT

prints the path of the provenance graph (about 5 s; the UUIDs differ every time).
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid
from pathlib import Path

OUTPUT_CHAIN = "Cam1/runs/lineage-test"
FAILING = "visit = 2 AND detector = 2"


def _connection(name: str, *dimensions: str, multiple: bool = False):
    from lsst.pipe.base.tests.mocks import DynamicConnectionConfig
    return DynamicConnectionConfig(dataset_type_name=name, dimensions=list(dimensions),
                                   multiple=multiple)


def _pipeline(helper) -> None:
    from lsst.pipe.base.tests.mocks import DynamicTestPipelineTaskConfig
    vd = ("visit", "detector")
    helper.add_task("isr", dimensions=vd, inputs={"raw": _connection("raw", *vd)},
                    outputs={"post_isr": _connection("post_isr_image", *vd)})
    failing = DynamicTestPipelineTaskConfig()
    failing.fail_exception = "lsst.pipe.base.tests.mocks.MockAlgorithmError"
    failing.fail_condition = FAILING
    helper.add_task("calibrate", config=failing, dimensions=vd,
                    inputs={"image": _connection("post_isr_image", *vd)},
                    outputs={"calexp": _connection("calexp", *vd), "src": _connection("src", *vd)})
    helper.add_task("consolidate", dimensions=("visit",),
                    inputs={"src": _connection("src", *vd, multiple=True)},
                    outputs={"table": _connection("source_table", "visit")})


def _execute(repo: str, predicted) -> None:
    """Run every quantum through a quantum-backed butler, in dependency order;
    a quantum that raises fails, and those downstream of it are not run."""
    from lsst.daf.butler import QuantumBackedButler
    from lsst.pipe.base import AlgorithmError
    from lsst.pipe.base.graph_walker import GraphWalker
    from lsst.pipe.base.single_quantum_executor import SingleQuantumExecutor

    predicted.init_output_run(predicted.make_init_qbb(repo))
    executor = SingleQuantumExecutor(
        limited_butler_factory=lambda quantum: QuantumBackedButler.initialize(
            repo, quantum, predicted.pipeline_graph.universe),
        assume_no_existing_outputs=True)
    predicted.build_execution_quanta()
    xgraph = predicted.quantum_only_xgraph
    walker = GraphWalker[uuid.UUID](xgraph.copy())
    for ready in walker:
        for quantum_id in ready:
            node = xgraph.nodes[quantum_id]
            try:
                executor.execute(node["pipeline_node"], node["quantum"], quantum_id)
            except AlgorithmError:
                walker.fail(quantum_id)
            else:
                walker.finish(quantum_id)


def make(out: Path) -> Path:
    """Build the repository, run the pipeline, aggregate; returns the provenance graph path."""
    from lsst.daf.butler import Butler
    from lsst.pipe.base.quantum_graph.aggregator import AggregatorConfig, aggregate_graph
    from lsst.pipe.base.tests.mocks import DirectButlerRepo

    out.mkdir(parents=True, exist_ok=True)
    repo, predicted_path, provenance = out / "repo", out / "predicted.qg", out / "provenance.qg"
    Butler.makeRepo(str(repo))
    with Butler.from_config(str(repo), writeable=True) as butler:
        helper = DirectButlerRepo(butler, "base.yaml", "spatial.yaml")
        _pipeline(helper)
        components = helper.make_quantum_graph_builder().finish(output=OUTPUT_CHAIN)
        components.write(str(predicted_path))
        predicted = components.assemble()
    _execute(str(repo), predicted)
    aggregate_graph(str(predicted_path), str(repo),
                    AggregatorConfig(output_path=str(provenance), mock_storage_classes=True))
    return provenance


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="a new or empty directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(make(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

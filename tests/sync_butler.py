"""A real Butler repository for the ``lineage sync`` tests, built in-process with
lsst-daf-butler and lsst-pipe-base's mock tasks (as ``scripts/make_provenance_qg.py``
runs them, plus ``ingest_graph`` so each RUN is finalized with its ``run_provenance``):

* step 1 (``isr`` -> ``calibrate`` -> ``consolidate``) into ``Cam1/runs/lineage/step1a``;
  ``calibrate`` fails on visit 2, detector 2, so that ``consolidate`` of visit 2 is blocked;
* step 2 (``coadd`` of step 1's source tables) into ``Cam1/runs/lineage/step2a``;
* a rerun of ``isr`` into ``Cam1/runs/lineage/step1b``;
* ``Cam1/runs/lineage``, the CHAINED output collection over the three RUNs;
* ``Cam1/calib``, a CALIBRATION collection certifying ``bias2`` of two RUNs for two
  validity ranges.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

CHAIN = "Cam1/runs/lineage"
RUNS = (f"{CHAIN}/step1a", f"{CHAIN}/step2a", f"{CHAIN}/step1b")
CALIB = "Cam1/calib"
#: The validity ranges of the CALIBRATION collection (TAI), in certification order.
VALIDITY = (("2021-01-01T00:00:00", "2021-09-09T03:00:30"), ("2021-09-09T03:00:30", None))


def _execute(repo: str, predicted) -> None:
    """Run every quantum of ``predicted``; a quantum that fails blocks its downstream."""
    from lsst.daf.butler import QuantumBackedButler
    from lsst.pipe.base import AlgorithmError
    from lsst.pipe.base.graph_walker import GraphWalker
    from lsst.pipe.base.single_quantum_executor import SingleQuantumExecutor
    predicted.init_output_run(predicted.make_init_qbb(repo))
    executor = SingleQuantumExecutor(
        limited_butler_factory=lambda q: QuantumBackedButler.initialize(
            repo, q, predicted.pipeline_graph.universe),
        assume_no_existing_outputs=True)
    predicted.build_execution_quanta()
    xgraph = predicted.quantum_only_xgraph
    walker = GraphWalker[uuid.UUID](xgraph.copy())
    for ready in walker:
        for q in ready:
            node = xgraph.nodes[q]
            try:
                executor.execute(node["pipeline_node"], node["quantum"], q)
            except AlgorithmError:
                walker.fail(q)
            else:
                walker.finish(q)


def run_step(work: Path, repo: Path, helper, name: str, run: str) -> None:
    """Build, execute, aggregate and finalize one step into ``run`` (output chain
    :data:`CHAIN`): the provenance graph is ingested as the RUN's ``run_provenance``."""
    from lsst.pipe.base.quantum_graph.aggregator import AggregatorConfig, aggregate_graph
    from lsst.pipe.base.quantum_graph.ingest_graph import ingest_graph
    components = helper.make_quantum_graph_builder(output_run=run).finish(output=CHAIN)
    predicted_path = work / f"{name}.qg"
    components.write(str(predicted_path))
    predicted = components.assemble()
    helper.butler.registry.refresh()
    _execute(str(repo), predicted)
    provenance = work / f"{name}-prov.qg"
    aggregate_graph(str(predicted_path), str(repo),
                    AggregatorConfig(output_path=str(provenance), mock_storage_classes=True))
    ingest_graph(str(repo), str(provenance), transfer="copy")


def _quiet() -> None:
    for name in ("lsst", "lsst.pipe.base", "lsst.daf.butler", "lsst.utils.packages"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def make_repo(work: Path) -> Path:
    """Build the repository in ``work/repo`` (about 15 s) and return its path."""
    import astropy.time
    from lsst.daf.butler import Butler, CollectionType, DatasetType, Timespan
    from lsst.pipe.base.tests.mocks import (DirectButlerRepo, DynamicConnectionConfig as C,
                                            DynamicTestPipelineTaskConfig)
    _quiet()
    repo = work / "repo"
    Butler.makeRepo(str(repo))
    vd = ("visit", "detector")
    with Butler.from_config(str(repo), writeable=True) as butler:
        step1 = DirectButlerRepo(butler, "base.yaml", "spatial.yaml")
        step1.add_task("isr", dimensions=vd,
                       inputs={"raw": C(dataset_type_name="raw", dimensions=vd)},
                       outputs={"o": C(dataset_type_name="post_isr_image", dimensions=vd)})
        failing = DynamicTestPipelineTaskConfig()
        failing.fail_exception = "lsst.pipe.base.tests.mocks.MockAlgorithmError"
        failing.fail_condition = "visit = 2 AND detector = 2"
        step1.add_task("calibrate", config=failing, dimensions=vd,
                       inputs={"i": C(dataset_type_name="post_isr_image", dimensions=vd)},
                       outputs={"c": C(dataset_type_name="calexp", dimensions=vd),
                                "s": C(dataset_type_name="src", dimensions=vd)})
        step1.add_task("consolidate", dimensions=("visit",),
                       inputs={"s": C(dataset_type_name="src", dimensions=vd, multiple=True)},
                       outputs={"t": C(dataset_type_name="source_table",
                                       dimensions=("visit",))})
        run_step(work, repo, step1, "step1", RUNS[0])
        step2 = DirectButlerRepo(butler, input_chain="step2_in",
                                 use_import_collections_as_input=[RUNS[0]])
        step2.add_task("coadd", dimensions=("visit",),
                       inputs={"t": C(dataset_type_name="source_table", dimensions=("visit",))},
                       outputs={"x": C(dataset_type_name="visit_summary",
                                       dimensions=("visit",))})
        run_step(work, repo, step2, "step2", RUNS[1])
        rerun_isr(work, repo, butler, "rerun", RUNS[2], "rerun_in")
        registry = butler.registry
        bias = DatasetType("bias2", ("instrument", "detector"), "StructuredDataDict",
                           universe=butler.dimensions, isCalibration=True)
        registry.registerDatasetType(bias)
        registry.registerCollection(CALIB, CollectionType.CALIBRATION, doc="biases")
        for i, (begin, end) in enumerate(VALIDITY):
            run = f"{CALIB}/b{i + 1}"
            registry.registerRun(run)
            refs = registry.insertDatasets(bias, [{"instrument": "Cam1", "detector": d}
                                                  for d in (1, 2, 3, 4)], run=run)
            registry.certify(CALIB, refs, Timespan(
                astropy.time.Time(begin, scale="tai"),
                None if end is None else astropy.time.Time(end, scale="tai")))
    return repo


def rerun_isr(work: Path, repo: Path, butler, name: str, run: str, input_chain: str) -> None:
    """Run ``isr`` again over the raws into ``run`` (a new RUN under :data:`CHAIN`)."""
    from lsst.pipe.base.tests.mocks import DirectButlerRepo, DynamicConnectionConfig as C
    vd = ("visit", "detector")
    helper = DirectButlerRepo(butler, input_chain=input_chain,
                              use_import_collections_as_input=False)
    helper.add_task("isr", dimensions=vd,
                    inputs={"raw": C(dataset_type_name="raw", dimensions=vd)},
                    outputs={"o": C(dataset_type_name="post_isr_image", dimensions=vd)})
    run_step(work, repo, helper, name, run)


def add_run(repo: Path, run: str) -> None:
    """Add one more finalized RUN (an ``isr`` rerun) to the repository at ``repo``."""
    from lsst.daf.butler import Butler
    _quiet()
    with Butler.from_config(str(repo), writeable=True) as butler:
        rerun_isr(repo.parent, repo, butler, run.rsplit("/", 1)[-1], run,
                  f"{run.rsplit('/', 1)[-1]}_in")

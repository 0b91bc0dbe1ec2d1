"""Real Butler repositories processed by a real pipeline, for the demo, the tests and the
benchmarks: lsst-daf-butler's repository (SQLite registry, file datastore) loaded with
daf_butler's test dimension records (instrument Cam1, visits 1-2, detectors 1-4), and
lsst-pipe-base's mock tasks run on it through quantum-backed butlers, as batch
processing runs them, then aggregated into provenance quantum graphs.

Step 1 is three tasks::

    isr          {visit, detector}: raw            -> post_isr_image
    calibrate    {visit, detector}: post_isr_image -> calexp, src
    consolidate  {visit}:           src (all detectors) -> source_table

where ``calibrate`` fails on visit 2, detector 2 (:data:`FAILING`), so ``consolidate`` of
visit 2 is blocked.

* :func:`make_provenance_graph`: one run of step 1, aggregated into a provenance graph
  file (``scripts/make_provenance_qg.py``; the ``lineage ingest run`` tests).
* :func:`make_butler`: the repository ``lineage sync`` reads (:func:`demo_butler` for
  ``lineage demo --butler``, the sync tests and ``scripts/bench_sync.py``): step 1 into ``Cam1/runs/lineage/step1a``,
  step 2 (``coadd`` of the source tables) into ``.../step2a``, a rerun of ``isr`` into
  ``.../step1b``, each finalized with its ``run_provenance``; :data:`CHAIN`, the CHAINED
  output collection over them; :data:`CALIB`, a CALIBRATION collection certifying
  ``bias2`` of two RUNs for the two :data:`VALIDITY` ranges.  :func:`add_run` adds one
  more finalized RUN.

Needs the ``butler`` extra (lsst-daf-butler and lsst-pipe-base), imported inside the
functions.  The UUIDs differ every time.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from pathlib import Path

from lineage.core.errors import UserError

#: The condition on the quantum data ID under which ``calibrate`` fails.
FAILING = "visit = 2 AND detector = 2"
#: The output collection of :func:`make_provenance_graph`.
OUTPUT_CHAIN = "Cam1/runs/lineage-test"
#: The output collection of :func:`make_butler`, and its three RUNs.
CHAIN = "Cam1/runs/lineage"
RUNS = (f"{CHAIN}/step1a", f"{CHAIN}/step2a", f"{CHAIN}/step1b")
CALIB = "Cam1/calib"
#: The validity ranges of :data:`CALIB` (TAI), in certification order.
VALIDITY = (("2021-01-01T00:00:00", "2021-09-09T03:00:30"), ("2021-09-09T03:00:30", None))

_PER_DETECTOR = ("visit", "detector")


def _connection(name: str, *dimensions: str, multiple: bool = False):
    from lsst.pipe.base.tests.mocks import DynamicConnectionConfig
    return DynamicConnectionConfig(dataset_type_name=name, dimensions=list(dimensions),
                                   multiple=multiple)


def _add_isr(helper) -> None:
    helper.add_task("isr", dimensions=_PER_DETECTOR,
                    inputs={"raw": _connection("raw", *_PER_DETECTOR)},
                    outputs={"post_isr": _connection("post_isr_image", *_PER_DETECTOR)})


def _add_step1(helper) -> None:
    """Step 1's three tasks (module docstring) into a ``DirectButlerRepo`` helper."""
    from lsst.pipe.base.tests.mocks import DynamicTestPipelineTaskConfig
    _add_isr(helper)
    failing = DynamicTestPipelineTaskConfig()
    failing.fail_exception = "lsst.pipe.base.tests.mocks.MockAlgorithmError"
    failing.fail_condition = FAILING
    helper.add_task("calibrate", config=failing, dimensions=_PER_DETECTOR,
                    inputs={"image": _connection("post_isr_image", *_PER_DETECTOR)},
                    outputs={"calexp": _connection("calexp", *_PER_DETECTOR),
                             "src": _connection("src", *_PER_DETECTOR)})
    helper.add_task("consolidate", dimensions=("visit",),
                    inputs={"src": _connection("src", *_PER_DETECTOR, multiple=True)},
                    outputs={"table": _connection("source_table", "visit")})


def _execute(repo: Path, predicted) -> None:
    """Run every quantum through a quantum-backed butler, in dependency order; a quantum
    that raises fails, and those downstream of it are not run (the aggregator then
    records them as blocked)."""
    from lsst.daf.butler import QuantumBackedButler
    from lsst.pipe.base import AlgorithmError
    from lsst.pipe.base.graph_walker import GraphWalker
    from lsst.pipe.base.single_quantum_executor import SingleQuantumExecutor

    predicted.init_output_run(predicted.make_init_qbb(str(repo)))
    executor = SingleQuantumExecutor(
        limited_butler_factory=lambda quantum: QuantumBackedButler.initialize(
            str(repo), quantum, predicted.pipeline_graph.universe),
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


def _run(helper, repo: Path, scratch: Path, name: str, output: str,
         run: str | None = None) -> Path:
    """Build, execute and aggregate one step into ``run`` (or a RUN the builder names)
    under the output chain ``output``, its predicted graph written to
    ``scratch/{name}.qg``; returns the provenance graph file."""
    from lsst.pipe.base.quantum_graph.aggregator import AggregatorConfig, aggregate_graph
    builder = (helper.make_quantum_graph_builder(output_run=run) if run else
               helper.make_quantum_graph_builder())
    components = builder.finish(output=output)
    predicted_path = scratch / f"{name}.qg"
    components.write(str(predicted_path))
    predicted = components.assemble()
    helper.butler.registry.refresh()
    _execute(repo, predicted)
    provenance = scratch / f"{name}-provenance.qg"
    aggregate_graph(str(predicted_path), str(repo),
                    AggregatorConfig(output_path=str(provenance), mock_storage_classes=True))
    return provenance


def _finalized_run(helper, repo: Path, scratch: Path, name: str, run: str) -> None:
    """One step into ``run`` under :data:`CHAIN`, finalized: its provenance graph is
    ingested as the RUN's ``run_provenance`` (what ``butler ingest-graph`` does)."""
    from lsst.pipe.base.quantum_graph.ingest_graph import ingest_graph
    ingest_graph(str(repo), str(_run(helper, repo, scratch, name, CHAIN, run)),
                 transfer="copy")


def quiet() -> None:
    """Keep daf_butler's and pipe_base's log lines (one per quantum) off the terminal."""
    for name in ("lsst", "lsst.pipe.base", "lsst.daf.butler", "lsst.utils.packages"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def make_provenance_graph(out: Path) -> Path:
    """A Butler repository in ``out/repo`` with one run of step 1; returns the path of its
    provenance graph, ``out/provenance.qg``, beside the predicted one, ``out/predicted.qg``
    (about 5 s)."""
    from lsst.daf.butler import Butler
    from lsst.pipe.base.tests.mocks import DirectButlerRepo
    out.mkdir(parents=True, exist_ok=True)
    repo = out / "repo"
    Butler.makeRepo(str(repo))
    with Butler.from_config(str(repo), writeable=True) as butler:
        helper = DirectButlerRepo(butler, "base.yaml", "spatial.yaml")
        _add_step1(helper)
        provenance = _run(helper, repo, out, "predicted", OUTPUT_CHAIN)
    return provenance.rename(out / "provenance.qg")


def make_butler(repo: Path, scratch: Path) -> Path:
    """The repository ``lineage sync`` reads (module docstring), made at ``repo``, its
    predicted and provenance graph files in ``scratch`` (about 15 s); returns ``repo``."""
    import astropy.time
    from lsst.daf.butler import Butler, CollectionType, DatasetType, Timespan
    from lsst.pipe.base.tests.mocks import DirectButlerRepo
    quiet()
    Butler.makeRepo(str(repo))
    with Butler.from_config(str(repo), writeable=True) as butler:
        step1 = DirectButlerRepo(butler, "base.yaml", "spatial.yaml")
        _add_step1(step1)
        _finalized_run(step1, repo, scratch, "step1", RUNS[0])
        step2 = DirectButlerRepo(butler, input_chain="step2_in",
                                 use_import_collections_as_input=[RUNS[0]])
        step2.add_task("coadd", dimensions=("visit",),
                       inputs={"t": _connection("source_table", "visit")},
                       outputs={"x": _connection("visit_summary", "visit")})
        _finalized_run(step2, repo, scratch, "step2", RUNS[1])
        _rerun_isr(butler, repo, scratch, RUNS[2], "rerun")
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


def _rerun_isr(butler, repo: Path, scratch: Path, run: str, name: str) -> None:
    """``isr`` again over the raws into ``run``, a new finalized RUN under :data:`CHAIN`
    (its input chain ``{name}_in``)."""
    from lsst.pipe.base.tests.mocks import DirectButlerRepo
    helper = DirectButlerRepo(butler, input_chain=f"{name}_in",
                              use_import_collections_as_input=False)
    _add_isr(helper)
    _finalized_run(helper, repo, scratch, name, run)


def add_run(repo: Path, scratch: Path, run: str) -> None:
    """Add one more finalized RUN (an ``isr`` rerun) to the repository at ``repo``."""
    from lsst.daf.butler import Butler
    quiet()
    with Butler.from_config(str(repo), writeable=True) as butler:
        _rerun_isr(butler, repo, scratch, run, run.rsplit("/", 1)[-1])


def demo_butler(path: Path) -> Path:
    """:func:`make_butler` at ``path``, a new directory, for people to try ``lineage sync``
    on: built beside it in ``NAME-partial`` (left over from an interrupted build, it is
    removed first) and renamed when complete, so ``path`` is a whole repository or absent."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UserError(f"{path}: exists and is not an empty directory", field="butler")
    try:
        import lsst.daf.butler  # noqa: F401 (only to say what is missing)
        import lsst.pipe.base.tests.mocks  # noqa: F401
    except ImportError as missing:
        raise UserError(f"a Butler repository needs lsst-daf-butler and lsst-pipe-base "
                        f"(pip install 'survey-lineage[butler]'): {missing}",
                        field="butler") from None
    partial = path.with_name(path.name + "-partial")
    shutil.rmtree(partial, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="lineage-butler-") as scratch:
        make_butler(partial, Path(scratch))
    if path.exists():
        path.rmdir()
    partial.rename(path)
    return path

"""Reading a *predicted* quantum graph (``.qg``), as ``pipetask qgraph --save-qgraph`` and
pipe_base's ``QuantumGraphBuilder`` write it, into plain records.

This is the only module of the package that knows lsst-pipe-base: it reads the file with
pipe_base's own reader (:class:`lsst.pipe.base.quantum_graph.PredictedQuantumGraphReader`:
the header and every quantum's inputs and outputs; task classes are not imported, so the
pipeline's packages need not be installed) and gives each quantum with its task, data ID
(the required dimensions, the text lineage stores) and the datasets it would read and
write, keyed as the graph keys them (``dataset:<UUID>``).  An input the Butler already
holds keeps its UUID in a predicted graph, so the key finds it in the lineage graph; an
output gets a new UUID, so outputs are compared by dataset type and data ID.

A file the reader cannot read (truncated, not a zip, a provenance graph) is a
:class:`~lineage.core.errors.UserError` naming the file, in one line.

:func:`build_predicted` makes such a file first, from a Butler repository and a pipeline,
with pipe_base's graph builder, as ``pipetask qgraph --save-qgraph`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lineage.core.dataid import format_data_id
from lineage.core.errors import UserError
from lineage.core.model import dataset_key, quantum_key
from lineage.core.time import now_utc_stamp
from lineage.sync.butler import first_line, open_source


@dataclass(frozen=True)
class PredictedDataset:
    """A dataset a predicted quantum reads or writes."""

    key: str                 # dataset:<UUID>
    dataset_type: str
    data_id: str             # required dimensions, canonical text
    run: str
    is_calibration: bool


@dataclass(frozen=True)
class PredictedQuantum:
    """One quantum that would run: its task, data ID (text and values) and datasets."""

    key: str                 # quantum:<UUID>
    task: str
    data_id: str
    dimensions: dict         # required dimension -> value (int or str), for unit lookups
    inputs: list[PredictedDataset]
    outputs: list[PredictedDataset]


@dataclass
class PredictedGraph:
    """What a predicted graph says would run: the header's collections and the quanta."""

    path: str
    output_run: str
    output: str | None
    input_collections: list[str]
    user: str
    created: str
    quanta: list[PredictedQuantum] = field(default_factory=list)


def read_predicted(path) -> PredictedGraph:
    """Every quantum of the predicted graph at ``path`` (a file path or URI)."""
    try:
        from lsst.pipe.base.quantum_graph import PredictedQuantumGraphReader
    except ImportError:
        raise UserError(f"{path}: reading a predicted quantum graph needs lsst-pipe-base "
                        "(pip install 'survey-lineage[rubin]')", file=str(path)) from None
    if "://" not in str(path) and not Path(path).is_file():
        raise UserError(f"{path}: no such file", file=str(path))
    try:
        with PredictedQuantumGraphReader.open(str(path)) as reader:
            reader.read_quantum_datasets()
            return _records(path, reader)
    except Exception as exc:  # noqa: BLE001 - the reader's layers (zip, zstd, pydantic,
        # TypeError for a provenance graph) raise anything on a damaged file
        raise UserError(f"{path}: not a readable predicted quantum graph: "
                        f"{type(exc).__name__}: {first_line(exc)}", file=str(path)) from None


def build_predicted(butler_repo: str, pipeline: str, inputs: list[str], output: str,
                    path, where: str = "", output_run: str | None = None) -> Path:
    """Build the predicted quantum graph of ``pipeline`` (a pipeline file, ``P.yaml`` or
    ``P.yaml#subset``) over the Butler at ``butler_repo`` (opened read-only: nothing is
    registered or written there), reading the collections ``inputs``, for the data IDs that
    pass ``where``, its outputs into ``output_run`` (default ``OUTPUT/<UTC time>``, as
    pipetask names it) under the chain ``output``; write it to ``path`` and return it.
    The pipeline's task classes are imported, so their packages must be installed."""
    if not inputs:
        raise UserError("is needed: the collections the pipeline reads", field="inputs")
    if not output:
        raise UserError("is needed: the output chain the run would write", field="output")
    source = open_source(butler_repo)
    try:
        from lsst.pipe.base import Pipeline
        from lsst.pipe.base.all_dimensions_quantum_graph_builder import (
            AllDimensionsQuantumGraphBuilder)
        try:
            tasks = Pipeline.from_uri(pipeline).to_graph(registry=source.butler.registry)
        except Exception as exc:  # noqa: BLE001 - YAML, imports, configs raise anything
            raise UserError(f"{pipeline}: not a usable pipeline: {type(exc).__name__}: "
                            f"{first_line(exc)}", field="pipeline") from None
        stamp = now_utc_stamp()[:19].replace("-", "").replace(":", "")   # 20261207T225245
        run = output_run or f"{output}/{stamp}Z"
        try:
            builder = AllDimensionsQuantumGraphBuilder(
                tasks, source.butler, where=where, input_collections=list(inputs),
                output_run=run)
            builder.finish(output=output, attach_datastore_records=False).write(str(path))
        except Exception as exc:  # noqa: BLE001 - the Butler's queries raise anything
            raise UserError(f"{pipeline} over {source.name}: no predicted graph: "
                            f"{type(exc).__name__}: {first_line(exc)}") from None
    finally:
        source.close()
    return Path(path)


def _records(path, reader) -> PredictedGraph:
    """The reader's header and quanta as :class:`PredictedGraph` (dimension values are
    pipe_base's full data-ID values: required dimensions first, then implied ones)."""
    header, pipeline = reader.header, reader.pipeline_graph
    required = {}     # task label or dataset type name -> its required dimension names

    def names(name, node) -> tuple:
        if name not in required:
            required[name] = tuple(node.dimensions.required)
        return required[name]

    def dataset(model) -> PredictedDataset:
        node = pipeline.dataset_types[model.dataset_type_name]
        dims = names(model.dataset_type_name, node)
        return PredictedDataset(
            dataset_key(str(model.dataset_id)), model.dataset_type_name,
            format_data_id(dict(zip(dims, model.data_coordinate))), model.run,
            bool(node.is_calibration))

    graph = PredictedGraph(str(path), header.output_run, header.output or None,
                           list(header.inputs), header.user, header.timestamp.isoformat())
    for quantum in reader.components.quantum_datasets.values():
        dims = names(quantum.task_label, pipeline.tasks[quantum.task_label])
        values = dict(zip(dims, quantum.data_coordinate))
        graph.quanta.append(PredictedQuantum(
            quantum_key(str(quantum.quantum_id)), quantum.task_label, format_data_id(values),
            values, [dataset(d) for ds in quantum.inputs.values() for d in ds],
            [dataset(d) for ds in quantum.outputs.values() for d in ds]))
    graph.quanta.sort(key=lambda q: (q.task, q.data_id))
    return graph

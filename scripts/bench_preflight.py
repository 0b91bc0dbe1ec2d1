#!/usr/bin/env python
"""Pre-flight benchmark: ``lineage.preflight.preflight`` of a predicted quantum graph of
``--quanta`` quanta against a generated survey graph of ``--nodes`` nodes (issue #18:
10^4 quanta against 10^6 nodes in at most 5 s), with the share of the time spent reading
the ``.qg`` and asking the graph.

The survey graph is the demo generator's (``SurveySpec.for_nodes``), built into ``--repo``
once and reused; one visit is flagged bad there (once), so the report has flagged inputs.
The predicted graph is written with lsst-pipe-base's own model classes
(``PredictedQuantumGraphComponents``, as ``pipetask qgraph --save-qgraph`` writes it):
one task per input type (``calexp``, then ``src``, ``post_isr_image``, ``raw`` until
``--quanta`` quanta), each quantum reading one existing dataset of the graph and, as a
calibration, the graph's ``bias`` certified for that visit's time, and writing a new
``measurement_<type>`` into a new RUN under the release chain ``DemoCam/DR2`` (so the
outputs are looked up in the RUNs that chain holds).

    python scripts/bench_preflight.py --nodes 1e6 --quanta 1e4 --repo /tmp/bench-preflight-1m
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from lineage import flags
from lineage.core.dataid import DataId
from lineage.core.model import collection_key
from lineage.dataunits.calibs import valid_over
from lineage.dataunits.queries import certified_datasets
from lineage.demo import SurveySpec, generate, plan_survey
from lineage.ingest import write_units
from lineage.preflight import preflight
from lineage.store.repo import CONFIG_NAME, init_repo, open_store
from lineage.traversal.queries import dataset_filter

INPUT_TYPES = ("calexp", "src", "post_isr_image", "raw")
CHAIN = "DemoCam/DR2"
CALIB = "DemoCam/calib"
PAGE = 5000


def _inputs(store, quanta: int) -> list[tuple[str, dict]]:
    """Up to ``quanta`` (input type, dataset properties) from the graph, by type in
    :data:`INPUT_TYPES` order."""
    chosen = []
    for dataset_type in INPUT_TYPES:
        after = None
        while len(chosen) < quanta:
            page = store.keyset_page("Dataset", dataset_filter(types=[dataset_type]), PAGE, after)
            chosen += [(dataset_type, node.props) for node in page[:PAGE]]
            if len(page) <= PAGE:
                break
            after = page[PAGE - 1].key
    return chosen[:quanta]


def _pipeline(labels: list[str]):
    """A resolved pipeline graph: per input type, a mock task {visit, detector} reading it
    and a calibration ``bias``, writing ``measurement_<type>``."""
    from lsst.daf.butler import DimensionUniverse
    from lsst.pipe.base.pipeline_graph import PipelineGraph
    from lsst.pipe.base.tests.mocks import (DynamicConnectionConfig, DynamicTestPipelineTask,
                                            DynamicTestPipelineTaskConfig)
    graph = PipelineGraph()
    for dataset_type in labels:
        config = DynamicTestPipelineTaskConfig()
        config.dimensions = ["visit", "detector"]
        config.inputs["input"] = DynamicConnectionConfig(
            dataset_type_name=dataset_type, dimensions=["visit", "detector"])
        config.prerequisite_inputs["bias"] = DynamicConnectionConfig(
            dataset_type_name="bias", dimensions=["instrument", "detector"],
            is_calibration=True, mock_storage_class=False)
        config.outputs["output"] = DynamicConnectionConfig(
            dataset_type_name=f"measurement_{dataset_type}", dimensions=["visit", "detector"])
        graph.add_task(f"measure_{dataset_type}", DynamicTestPipelineTask, config)
    graph.resolve(dimensions=DimensionUniverse())
    return graph


def write_predicted_graph(store, path: Path, quanta: int) -> dict:
    """The benchmark's predicted graph at ``path`` (module docstring); what it holds."""
    from lsst.daf.butler.dimensions import DimensionDataAttacher
    from lsst.pipe.base.quantum_graph import (HeaderModel, PredictedDatasetModel,
                                              PredictedQuantumDatasetsModel,
                                              PredictedQuantumGraphComponents)
    inputs = _inputs(store, quanta)
    biases = {}   # detector -> [(key, begin, end)]
    for row in certified_datasets(store, [collection_key(CALIB)], ["bias"]):
        biases.setdefault(DataId.parse(row.data_id)["detector"], []).append(
            (row.key, row.valid_begin, row.valid_end))
    visits = store.nodes("DataUnit", {f"unit:visit:DemoCam/{DataId.parse(p['data_id'])['visit']}"
                                      for _, p in inputs})
    labels = [t for t in INPUT_TYPES if any(t == d for d, _ in inputs)]
    pipeline = _pipeline(labels)
    run = f"{CHAIN}/preflight-bench"
    components = PredictedQuantumGraphComponents(
        header=HeaderModel(inputs=[CHAIN], output=CHAIN, output_run=run),
        pipeline_graph=pipeline)
    components.dimension_data = DimensionDataAttacher(dimensions=pipeline.universe.empty)
    without_bias = 0
    for dataset_type, props in inputs:
        data_id = DataId.parse(props["data_id"])
        task = pipeline.tasks[f"measure_{dataset_type}"]
        visit = visits.get(f"unit:visit:DemoCam/{data_id['visit']}", {})
        values = {"instrument": data_id["instrument"], "detector": int(data_id["detector"]),
                  "visit": int(data_id["visit"]), "band": visit.get("band", ""),
                  "physical_filter": visit.get("physical_filter", ""),
                  "day_obs": visit.get("day_obs", 0)}
        full = [values[d] for d in (*task.dimensions.required, *task.dimensions.implied)]
        bias = next((key for key, begin, end in biases.get(data_id["detector"], ())
                     if "mjd_begin" in visit and valid_over(begin, end, visit["mjd_begin"],
                                                            visit["mjd_end"])), None)
        read = [PredictedDatasetModel(dataset_id=uuid.UUID(props["key"].split(":", 1)[1]),
                                      dataset_type_name=dataset_type, data_coordinate=full,
                                      run=props["run"])]
        prerequisites = []
        if bias is None:
            without_bias += 1
        else:
            prerequisites.append(PredictedDatasetModel(
                dataset_id=uuid.UUID(bias.split(":", 1)[1]), dataset_type_name="bias",
                data_coordinate=[values["instrument"], values["detector"]],
                run=f"{CALIB}/20260301"))
        quantum = PredictedQuantumDatasetsModel(
            quantum_id=uuid.uuid4(), task_label=task.label, data_coordinate=full,
            inputs={"input": read, **({"bias": prerequisites} if prerequisites else {})},
            outputs={"output": [PredictedDatasetModel(
                dataset_id=uuid.uuid4(), dataset_type_name=f"measurement_{dataset_type}",
                data_coordinate=full, run=run)]})
        components.quantum_datasets[quantum.quantum_id] = quantum
    components.set_thin_graph()
    components.set_header_counts()
    components.write(str(path))
    return {"quanta": len(inputs), "tasks": labels, "quanta_without_bias": without_bias,
            "bytes": path.stat().st_size}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=float, default=1e6)
    ap.add_argument("--quanta", type=float, default=1e4)
    ap.add_argument("--repo", type=Path, required=True, help="Built here, reused when present.")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    spec = SurveySpec.for_nodes(int(args.nodes))
    fresh = not (args.repo / CONFIG_NAME).exists()
    if fresh:
        init_repo(args.repo)
    out = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                      f"Python {platform.python_version()}", "spec": repr(spec)}
    graph_file = args.repo.parent / f"{args.repo.name}-{int(args.quanta)}.qg"
    with open_store(args.repo, keep=True) as store:
        if fresh:
            t0 = time.perf_counter()
            write_units(store, generate(spec), "bench graph")
            out["ingest_s"] = round(time.perf_counter() - t0, 1)
        out["nodes"], out["edges"] = store.count()
        print(f"graph: {out['nodes']:,} nodes, {out['edges']:,} edges")
        if not flags.list_flags(store):
            visit = next(v for v in plan_survey(spec).visits if v.detectors)
            flags.flag(store, f"visit={visit.id}", "bad", "benchmark", "https://example.org/b",
                       "bench")
        t0 = time.perf_counter()
        import lsst.pipe.base.quantum_graph  # noqa: F401 (timed apart: once per process)
        out["import_pipe_base_s"] = round(time.perf_counter() - t0, 2)
        if not graph_file.exists():
            out["predicted_graph"] = write_predicted_graph(store, graph_file, int(args.quanta))
            print(f"predicted graph: {out['predicted_graph']}")
        runs = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            report = preflight(store, graph_file, "bad")
            total = time.perf_counter() - t0
            runs.append({"total_s": round(total, 3), **report["seconds"]})
            print(f"preflight: {total:.2f} s (reading the .qg "
                  f"{report['seconds']['read_graph_file']:.2f} s, asking the graph "
                  f"{report['seconds']['ask_lineage_graph']:.2f} s); totals {report['totals']}")
        out["runs"], out["totals"] = runs, report["totals"]
        out["median_s"] = round(statistics.median(r["total_s"] for r in runs), 3)
        out["read_share"] = round(statistics.median(
            r["read_graph_file"] / r["total_s"] for r in runs), 3)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lineage.cli", "preflight", str(graph_file),
                           "--repo", str(args.repo), "--json"], capture_output=True, text=True)
    out["command_s"] = round(time.perf_counter() - t0, 2)
    assert done.returncode == 0, done.stderr
    print(f"median {out['median_s']} s, reading the .qg {out['read_share']:.0%}; "
          f"`lineage preflight --json` as a command: {out['command_s']} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

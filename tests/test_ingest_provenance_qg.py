"""`lineage ingest run` of a real Rubin provenance quantum graph.

The graph is made once per session by ``scripts/make_provenance_qg.py``
(lsst-pipe-base's mock tasks run in a temporary Butler repository, then
aggregated); the expectations come from lsst-pipe-base's own reader of the
same file.  Skipped when lsst-pipe-base (the ``[rubin]`` extra) is absent.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from astropy.time import Time

from lineage.traversal import traverse as query
from lineage.ingest.driver import ingest
from lineage.ingest.provenance_qg import config_values
from lineage.core.model import dataset_key, quantum_key

def _as_reader_says(path: Path) -> dict:
    """What lsst-pipe-base's reader says about the file, in our terms."""
    from lsst.pipe.base.quantum_graph import ProvenanceQuantumGraphReader
    with ProvenanceQuantumGraphReader.open(str(path)) as reader:
        reader.read_full_graph()
        graph = reader.graph
        packages = dict(reader.fetch_packages())
        x = graph.bipartite_xgraph
        quanta = {q: x.nodes[q] for qs in graph.quanta_by_task.values() for q in qs.values()}
        metadata = reader.fetch_metadata(list(quanta))
    produced = {d for q in quanta for d in (*x.predecessors(q), *x.successors(q))
                if x.nodes[d]["produced"]}
    return {
        "run": graph.header.output_run,
        "quanta": quanta,
        "datasets": {d: x.nodes[d] for d in produced},
        "produced_by": {(str(q), str(d)) for q in quanta for d in x.successors(q) if d in produced},
        "read_by": {(str(d), str(q)) for q in quanta for d in x.predecessors(q) if d in produced},
        "not_produced": {d for q in quanta for d in (*x.predecessors(q), *x.successors(q))}
        - produced,
        "packages": packages,
        "hosts": {q: m[-1]["quantum"]["nodeName"] for q, m in metadata.items() if m and m[-1]},
        "quantum_cpu": {q: m[-1]["quantum"]["endCpuTime"] - m[-1]["quantum"]["prepCpuTime"]
                        for q, m in metadata.items() if m and m[-1]},
    }


def _rows(store, query_text, **params) -> set:
    return set(store.read(query_text, params))


def test_provenance_graph_as_its_reader_says(store, provenance_qg):
    want = _as_reader_says(provenance_qg)
    statuses = [i["status"].name for i in want["quanta"].values()]
    assert (len(statuses), statuses.count("FAILED"), statuses.count("BLOCKED")) == (18, 1, 1)

    outcome = ingest(store, "run", [provenance_qg], show_progress=False).files[0]
    assert outcome.status == "added", outcome.error
    assert outcome.counts["quanta"] == len(want["quanta"])
    assert len(outcome.skipped) == len(want["not_produced"])

    got = {r[0]: r[1:] for r in store.read(
        "MATCH (q:Quantum) RETURN q.key, q.task, q.status, q.run, q.start_utc, q.end_utc, "
        "q.peak_memory_mb, q.cpu_time_s, q.error, q.host, q.quantum_cpu_time_s")}
    assert got.keys() == {quantum_key(str(q)) for q in want["quanta"]}
    for q, info in want["quanta"].items():
        task, status, run, start, end, memory, cpu, error, host, quantum_cpu = \
            got[quantum_key(str(q))]
        assert (task, status, run) == (info["task_label"], info["status"].name.lower(), want["run"])
        usage = info["resource_usage"]
        if usage is None:
            assert (start, end, memory, cpu) == (None, None, None, None)
        else:
            assert start == Time(usage.start.replace(tzinfo=None), scale="utc").isot
            assert end == Time(usage.end.replace(tzinfo=None), scale="utc").isot
            assert memory == pytest.approx(usage.memory / 2**20)
            assert cpu == pytest.approx(usage.run_time_cpu)
        exc = info["exception"]
        assert error == (None if exc is None else f"{exc.type_name}: {exc.message}")
        assert host == want["hosts"].get(q)
        assert quantum_cpu == pytest.approx(want["quantum_cpu"].get(q))

    stored = {r[0]: r[1:] for r in store.read(
        "MATCH (d:Dataset) RETURN d.key, d.dataset_type, d.run, d.data_id")}
    assert stored.keys() == {dataset_key(str(d)) for d in want["datasets"]}
    for d, info in want["datasets"].items():
        data_id = ",".join(f"{k}={v}" for k, v in sorted(info["data_id"].required.items()))
        assert stored[dataset_key(str(d))] == (info["dataset_type_name"], info["run"], data_id)
    assert _rows(store, "MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset) RETURN q.key, d.key") == {
        (quantum_key(q), dataset_key(d)) for q, d in want["produced_by"]}
    assert _rows(store, "MATCH (d:Dataset)-[:INPUT_TO]->(q:Quantum) RETURN d.key, q.key") == {
        (dataset_key(d), quantum_key(q)) for d, q in want["read_by"]}

    (software,) = _rows(store, "MATCH (:Quantum)-[:RAN_WITH]->(s) RETURN DISTINCT s.packages")
    assert json.loads(software[0]) == want["packages"]
    configs = store.read("MATCH (q:Quantum {task: 'calibrate'})-[:CONFIGURED_BY]->(c) "
                         "RETURN DISTINCT c.values")
    assert len(configs) == 1 and '"fail_condition": "visit = 2 AND detector = 2"' in configs[0][0]

    # lineage walks the run: a raw of visit 1 reaches the visit-1 source table
    raw = next(d for d, i in want["datasets"].items()
               if i["dataset_type_name"] == "raw" and i["data_id"]["visit"] == 1)
    types = {r.dataset_type for r in query.downstream(store, dataset_key(str(raw)))}
    assert {"post_isr_image", "calexp", "src", "source_table"} <= types

    again = ingest(store, "run", [provenance_qg], show_progress=False).files[0]
    assert (again.status, again.nodes_created, again.edges_created) == ("unchanged", 0, 0)


def _truncated(src: Path, dst: Path) -> None:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2])


def _corrupt_quanta(src: Path, dst: Path) -> None:
    """Flip bytes inside the compressed quanta of an otherwise intact archive."""
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = z.getinfo("quanta.mb")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + info.compress_size // 2, start + info.compress_size // 2 + 8):
        data[i] ^= 0xFF
    dst.write_bytes(bytes(data))


def _predicted(src: Path, dst: Path) -> None:
    dst.write_bytes((src.parent / "predicted.qg").read_bytes())


@pytest.mark.parametrize("damage, part, reason", [
    (_truncated, "header", "BadZipFile"),
    (_corrupt_quanta, "quanta and datasets", ""),  # zstd, zip CRC or pydantic: it varies
    (_predicted, "header", "'predicted' graph, not 'provenance'"),
])
def test_damaged_graph_is_rejected_and_nothing_stored(store, provenance_qg, tmp_path,
                                                      damage, part, reason):
    path = tmp_path / "damaged.qg"
    damage(provenance_qg, path)
    before = store.count()
    outcome = ingest(store, "run", [path], show_progress=False).files[0]
    assert outcome.status == "rejected"
    assert outcome.error.startswith(f"{path}: {part}: not a readable provenance quantum graph")
    assert reason in outcome.error, outcome.error
    assert store.count() == before


def test_config_values_are_parsed_not_run():
    text = ("import lsst.pipe.base.config\n"
            "config.doBias=True\n"
            "config.psf.fwhm=[1.5, 2.0]\n"
            "config.astrometry.retarget(SomeTask)\n"
            "config.fn=__import__('os').getcwd()\n"
            "config.doBias=False\n")
    assert config_values(text) == {"doBias": False, "psf.fwhm": [1.5, 2.0]}

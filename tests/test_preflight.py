"""`lineage preflight` of predicted quantum graphs that lsst-pipe-base builds over a real Butler
repository (lineage/demo/butler.py: three finalized RUNs, a CHAINED output, a CALIBRATION
collection), synced into the graph with `lineage sync` and flagged with lineage/flags.

The predicted graphs: ``step1.qg``, which the demo builder saved before running step 1 (its
outputs exist now; one of its inputs, the ``src`` of the failed quantum, was never made),
and a new step over visit 2 that reads ``calexp`` and the calibration ``bias2``
(:data:`MEASURE_PIPELINE`; not run), built by pipe_base's graph builder (``build_predicted``)
and by the real ``pipetask qgraph``, both of which only read the Butler.  Skipped when
lsst-pipe-base is absent."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lineage.cli.output import json_ready
from lineage.core.errors import UserError
from lineage.demo.butler import CALIB, CHAIN, RUNS, make_butler
from lineage.flags import flag
from lineage.preflight import build_predicted, preflight
from lineage.repository import Repository
from lineage.store.falkordb_server import FalkorServer
from lineage.store.repo import init_repo, open_store
from lineage.sync import sync

from .cli_runner import run
from .conftest import built_once

pytest.importorskip("lsst.pipe.base.quantum_graph")

EVIDENCE = "https://jira.example.org/browse/DM-1"

#: A new step over the test repository, as a pipeline file (lsst-pipe-base's mock task).
MEASURE_PIPELINE = """\
description: measure calexps with their bias (lsst-pipe-base mock task)
tasks:
  measure:
    class: lsst.pipe.base.tests.mocks.DynamicTestPipelineTask
    config:
      python: |
        from lsst.pipe.base.tests.mocks import DynamicConnectionConfig
        config.dimensions = ["visit", "detector"]
        config.inputs["calexp"] = DynamicConnectionConfig(
            dataset_type_name="calexp", dimensions=["visit", "detector"])
        config.prerequisite_inputs["bias"] = DynamicConnectionConfig(
            dataset_type_name="bias2", dimensions=["instrument", "detector"],
            is_calibration=True, mock_storage_class=False)
        config.outputs["measurement"] = DynamicConnectionConfig(
            dataset_type_name="measurement", dimensions=["visit", "detector"])
"""
#: The step's data IDs (visit 1 straddles the two validity ranges of the biases, so the
#: Butler refuses its calibration lookup as ambiguous).
VISIT_2 = "instrument = 'Cam1' AND visit = 2"
INPUTS, OUTPUT = [CHAIN, CALIB], "Cam1/runs/measure"


@dataclass(frozen=True)
class Graphs:
    """The Butler repository and the predicted graph files the tests read."""
    butler: Path        # the repository
    step1: Path         # saved by the demo builder before it ran step 1
    provenance: Path    # step 1's provenance graph (not a predicted one)
    measure: Path       # the measure step, by pipe_base's builder
    pipetask: Path      # the measure step, by `pipetask qgraph` (absent without ctrl_mpexec)


@pytest.fixture(scope="session")
def graphs(tmp_path_factory) -> Graphs:
    """The Butler repository of tests/test_sync.py (the same one, built once per run for
    both), and the measure step's predicted graphs; tests only read them."""
    butler = built_once(tmp_path_factory, "sync-butler",
                        lambda work: make_butler(work / "repo", work))

    def build(work: Path) -> Path:
        (work / "measure.yaml").write_text(MEASURE_PIPELINE)
        build_predicted(str(butler), str(work / "measure.yaml"), INPUTS, OUTPUT,
                        work / "measure.qg", VISIT_2, f"{OUTPUT}/run")
        if importlib.util.find_spec("lsst.ctrl.mpexec") is not None:
            done = subprocess.run(
                [sys.executable, "-c", "from lsst.ctrl.mpexec.cli.pipetask import main; main()",
                 "qgraph", "-b", str(butler), "-p", str(work / "measure.yaml"),
                 "-i", ",".join(INPUTS), "-o", OUTPUT, "-d", VISIT_2,
                 "--save-qgraph", str(work / "pipetask-measure.qg")],
                capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
        return work
    made = built_once(tmp_path_factory, "preflight-graphs", build)
    return Graphs(butler, butler.parent / "step1.qg", butler.parent / "step1-provenance.qg",
                  made / "measure.qg", made / "pipetask-measure.qg")


def synced_repo(root: Path, butler: Path) -> Path:
    """A new embedded lineage repository at ``root`` after a sync of ``butler``."""
    init_repo(root)
    with open_store(root, keep=True) as store:
        summary = sync(store, str(butler), show_progress=False)
    assert not summary.rejected
    return root


@pytest.fixture(scope="module")
def clean_repo(tmp_path_factory, graphs):
    """The synced graph without flags (tests only read it)."""
    root = synced_repo(tmp_path_factory.mktemp("preflight") / "repo", graphs.butler)
    yield root
    FalkorServer(root).stop()


@pytest.fixture
def flagged_repo(tmp_path, graphs):
    root = synced_repo(tmp_path / "repo", graphs.butler)
    yield root
    FalkorServer(root).stop()


def preflight_cli(*args, repo):
    """``lineage preflight *args --repo REPO`` (in this process)."""
    return run("preflight", *map(str, args), "--repo", str(repo),
               env={"LINEAGE_REPO": None, "COLUMNS": "200"})


def test_a_clean_graph_passes_with_its_calibrations_certified(clean_repo, graphs):
    done = preflight_cli(graphs.measure, "--fail-on", "contaminated", "--json",
                         repo=clean_repo)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["gate"] == {"fail_on": "contaminated", "worst": None, "failed": False}
    assert report["calibration_collections"] == [CALIB]   # among its inputs
    assert [(q["task"], q["data_id"]) for q in report["quanta"]] == [
        ("measure", {"instrument": "Cam1", "detector": d, "visit": 2}) for d in (1, 3, 4)]
    assert report["totals"] == {"tasks": 1, "quanta": 3, "unknown_inputs": 0, "bad": 0,
                                "suspect": 0, "contaminated": 0, "clashes": 0,
                                "calibrations": 3, "not_certified": 0}
    for q in report["quanta"]:
        assert not (q["flagged_inputs"] or q["unknown_inputs"] or q["clashes"])
        (calibration,) = q["calibrations"]
        # visit 2 (03:02-03:03 TAI) lies in the second validity range only
        assert (calibration["dataset_type"], calibration["run"], calibration["certified"],
                calibration["collections"], calibration["exposure"]) == (
            "bias2", f"{CALIB}/b2", True, [CALIB], "unit:visit:Cam1/2")
        assert calibration["data_id"]["detector"] == q["data_id"]["detector"]
    table = preflight_cli(graphs.measure, repo=clean_repo)
    assert table.returncode == 0 and "not asked (no --fail-on)" in table.stdout


def test_flagged_inputs_are_named_and_fail_the_gate(flagged_repo, graphs):
    graph, measure = graphs.step1, graphs.measure
    with open_store(flagged_repo) as store:
        bad = flag(store, "visit=1", "bad", "guider lost lock", EVIDENCE, "DRB")["flag"]
        report = preflight(store, graph, "bad")
    assert report["gate"] == {"fail_on": "bad", "worst": "bad", "failed": True}
    flagged = [(q["task"], f) for q in report["quanta"] for f in q["flagged_inputs"]]
    # every input of visit 1 (4 raws, 4 post_isr_images, 4 srcs) is named by the flag
    assert sorted((task, f["dataset_type"]) for task, f in flagged) == sorted(
        [("isr", "raw")] * 4 + [("calibrate", "post_isr_image")] * 4 + [("consolidate", "src")] * 4)
    for _, f in flagged:
        assert "visit=1" in f["data_id"] and f["level"] == "bad"
        assert f["flags"] == [{"flag": bad, "verdict": "bad", "steps": 0, "fraction": 1.0,
                               "reason": "guider lost lock"}]
    # the step already ran: its outputs exist in the output RUN
    clashes = {(c["dataset_type"], c["data_id"], c["run"], c["in"])
               for q in report["quanta"] for c in q["clashes"]}
    assert ("calexp", "detector=1,instrument=Cam1,visit=1", RUNS[0], "output RUN") in clashes
    assert report["output_run_exists"] and report["totals"]["clashes"] == len(clashes) > 20
    # consolidate of visit 2 would read the src calibrate failed to make: never seen
    assert [(q["task"], d["dataset_type"], d["data_id"]) for q in report["quanta"]
            for d in q["unknown_inputs"]] == [
        ("consolidate", "src", "detector=2,instrument=Cam1,visit=2")]

    done = preflight_cli(graph, "--fail-on", "bad", "--json", repo=flagged_repo)
    assert done.returncode == 1, done.stderr
    with Repository(flagged_repo) as repo:
        same = json_ready(repo.preflight(graph, "bad"))
    shown = json.loads(done.stdout)
    assert {k: v for k, v in shown.items() if k != "seconds"} == \
        {k: v for k, v in same.items() if k != "seconds"}
    table = preflight_cli(graph, "--fail-on", "bad", "--rows", "3", repo=flagged_repo)
    assert table.returncode == 1 and "gate --fail-on bad: FAILED" in table.stdout
    assert f"the first 3 of {report['totals']['clashes']}" in table.stdout
    assert "Inputs flagged or contaminated" in table.stdout
    rows = list(csv.DictReader(io.StringIO(
        preflight_cli(graph, "--format", "csv", repo=flagged_repo).stdout)))
    assert {(r["finding"], r["flag"], r["reason"], r["fraction"]) for r in rows
            if r["dataset_type"] == "raw"} == {("bad", bad, "guider lost lock", "1.0")}

    # a suspect flag on one raw of visit 2 contaminates the calexp measure would read
    with open_store(flagged_repo) as store:
        ((raw,),) = store.read("MATCH (d:Dataset {dataset_type: 'raw', data_id: $d}) "
                               "RETURN d.key", {"d": "detector=3,instrument=Cam1,visit=2"})
        suspect = flag(store, raw, "suspect", "odd bias level", EVIDENCE, "DRB")["flag"]
        gates = {level: preflight(store, measure, level)["gate"]["failed"]
                 for level in ("bad", "suspect", "contaminated")}
        report = preflight(store, measure)
    assert gates == {"bad": False, "suspect": False, "contaminated": True}
    (contaminated,) = [f for q in report["quanta"] for f in q["flagged_inputs"]]
    assert (contaminated["dataset_type"], contaminated["data_id"], contaminated["level"]) == (
        "calexp", "detector=3,instrument=Cam1,visit=2", "contaminated")
    assert [(m["flag"], m["steps"], m["fraction"], m["reason"]) for m in contaminated["flags"]] \
        == [(suspect, 2, 1.0, "odd bias level")]
    done = preflight_cli(measure, "--fail-on", "suspect", repo=flagged_repo)
    assert done.returncode == 0, done.stderr


def test_a_damaged_graph_is_a_one_line_error_naming_the_file(clean_repo, graphs,
                                                            tmp_path):
    whole = graphs.measure.read_bytes()
    truncated = tmp_path / "truncated.qg"
    truncated.write_bytes(whole[:len(whole) // 2])
    provenance = graphs.provenance
    for path in (truncated, provenance, tmp_path / "absent.qg"):
        done = preflight_cli(path, "--fail-on", "bad", repo=clean_repo)
        assert done.returncode == 2 and done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"lineage: error: {path}: "), done.stderr
    with open_store(clean_repo) as store:
        with pytest.raises(UserError) as error:
            preflight(store, truncated)
    assert error.value.file == str(truncated)
    assert "not a readable predicted quantum graph" in str(error.value)
    assert "'provenance' graph" in preflight_cli(provenance, repo=clean_repo).stderr


def test_the_report_is_the_same_on_every_engine(store, graphs):
    """The questions pre-flight asks (inputs by key, marks, outputs in the output RUN and
    chain, validity ranges) on each engine: ArcadeDB over Bolt as well as the embedded one."""
    assert not sync(store, str(graphs.butler), show_progress=False).rejected
    flag(store, "visit=1", "bad", "guider lost lock", EVIDENCE, "DRB")
    step1 = preflight(store, graphs.step1, "bad")
    assert step1["gate"]["failed"]
    assert {k: step1["totals"][k] for k in ("quanta", "bad", "unknown_inputs", "clashes")} == {
        "quanta": 18, "bad": 12, "unknown_inputs": 1, "clashes": 80}
    measure = preflight(store, graphs.measure, "contaminated")
    assert not measure["gate"]["failed"]
    assert [c["certified"] for q in measure["quanta"] for c in q["calibrations"]] == [True] * 3


def test_a_graph_pipetask_saved_reads_the_same(clean_repo, graphs):
    """``pipetask qgraph --save-qgraph`` (lsst-ctrl-mpexec) of the same step gives the same
    quanta, inputs and findings as the graph pipe_base's builder wrote in-process."""
    saved = graphs.pipetask
    if not saved.exists():
        pytest.skip("lsst-ctrl-mpexec (pipetask) is not installed")
    with open_store(clean_repo) as store:
        by_pipetask, in_process = [preflight(store, p) for p in (saved, graphs.measure)]
    assert essentials(by_pipetask) == essentials(in_process)
    assert by_pipetask["output"] == "Cam1/runs/measure"
    assert by_pipetask["output_run"].startswith("Cam1/runs/measure/")  # timestamped by pipetask


def essentials(report):
    """What two builds of one step must agree on: per quantum, its task, data ID, inputs and
    findings (the output RUN, and so the output UUIDs, differ)."""
    return [(q["task"], q["data_id"], q["inputs"], q["flagged_inputs"], q["unknown_inputs"],
             q["clashes"], q["calibrations"]) for q in report["quanta"]]


def test_without_a_saved_graph_it_builds_one(clean_repo, graphs, tmp_path):
    """--butler --pipeline --input --output --where: pipe_base builds the graph first (the
    Butler is only read) and the report is that of the saved graph of the same step."""
    pipeline, saved = tmp_path / "measure.yaml", tmp_path / "built.qg"
    pipeline.write_text(MEASURE_PIPELINE)
    building = ["--butler", graphs.butler, "--pipeline", pipeline,
                "--input", f"{CHAIN},{CALIB}", "--output", "Cam1/runs/measure"]
    done = preflight_cli("--where", VISIT_2, *building, "--save-qgraph", saved, "--json",
                         repo=clean_repo)
    assert done.returncode == 0, done.stderr
    built = json.loads(done.stdout)
    assert built["built_from"]["where"] == VISIT_2 and built["file"] == str(saved)
    with open_store(clean_repo) as store:
        assert essentials(preflight(store, saved)) == essentials(
            preflight(store, graphs.measure))
    assert [q["data_id"] for q in json_ready(built)["quanta"]] == [
        {"instrument": "Cam1", "detector": d, "visit": 2} for d in (1, 3, 4)]
    refused = preflight_cli("--where", "visit = = 2", *building, repo=clean_repo)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "no predicted graph" in refused.stderr
    both = preflight_cli(saved, "--butler", graphs.butler, repo=clean_repo)
    assert both.returncode == 2 and "give GRAPH.qg, or --butler" in both.stderr


def test_graphql_preflight_reads_only_graphs_in_its_directory(flagged_repo, graphs, tmp_path):
    """``preflight(graph:)`` answers what the command answers, for a file the operator put
    in the server's pre-flight directory; a path, a missing file, a link out of the
    directory or a server without the directory is refused, naming the argument."""
    import shutil

    from fastapi.testclient import TestClient

    from lineage.api.app import create_app
    from lineage.api.settings import ApiSettings
    spool = tmp_path / "spool"
    spool.mkdir()
    shutil.copy(graphs.step1, spool / "step1.qg")
    (spool / "elsewhere.qg").symlink_to(graphs.measure)
    query = ("query($g: String!, $f: String) { preflight(graph: $g, failOn: $f) "
             "{ graph gate { failOn worst failed } totals quanta } }")
    with open_store(flagged_repo) as store:
        flag(store, "visit=1", "bad", "guider lost lock", EVIDENCE, "DRB")
        expected = json.loads(json.dumps(preflight(store, graphs.step1, "bad"), default=str))
        for settings, name, refusal in (
                (ApiSettings(preflight_dir=spool), "step1.qg", None),
                (ApiSettings(preflight_dir=spool), "../step1.qg", "graph: '../step1.qg' is not"),
                (ApiSettings(preflight_dir=spool), "absent.qg", "graph: no absent.qg"),
                (ApiSettings(preflight_dir=spool), "elsewhere.qg", "graph: no elsewhere.qg"),
                (ApiSettings(), "step1.qg", "no pre-flight directory")):
            app = create_app(store=store, settings=settings)
            with TestClient(app, client=("127.0.0.1", 40000)) as client:
                body = client.post("/graphql", json={
                    "query": query, "variables": {"g": name, "f": "bad"}}).json()
            if refusal is None:
                assert "errors" not in body, body
                answer = body["data"]["preflight"]
                assert answer["gate"] == {"failOn": "bad", "worst": "bad", "failed": True}
                assert answer["totals"] == expected["totals"]
                assert answer["quanta"] == expected["quanta"]
            else:
                assert body["data"] is None and refusal in body["errors"][0]["message"], body


def test_calibrations_are_looked_up_where_the_graph_reads(clean_repo):
    """Certification counts in the CALIBRATION collections the graph's input collections
    are or chain to; when the lineage graph knows none of them, in every one."""
    from lineage.preflight.core import _calibration_collections
    with open_store(clean_repo) as store:
        assert _calibration_collections(store, [CHAIN, CALIB]) == {f"collection:{CALIB}"}
        assert _calibration_collections(store, [CHAIN]) == set()     # the chain holds none
        assert _calibration_collections(store, ["never/synced"]) == {f"collection:{CALIB}"}


def test_an_output_deleted_in_the_graph_is_still_a_clash_marked_deleted(flagged_repo, graphs):
    """A tombstone (docs/retention.md) may still be in the Butler: reported, marked."""
    from .tombstones import DELETED_AT, tombstone
    with open_store(flagged_repo) as store:
        calexp = store.read("MATCH (d:Dataset {dataset_type: 'calexp', run: $r}) "
                            "RETURN d.key ORDER BY d.key LIMIT 1", {"r": RUNS[0]})[0][0]
        tombstone(store, [calexp])
        report = preflight(store, graphs.step1)
    clashes = [c for q in report["quanta"] for c in q["clashes"]]
    marked = [c for c in clashes if c["uuid"] == calexp.split(":", 1)[1]]
    assert marked and all(c["deleted"] == DELETED_AT for c in marked)
    assert all("deleted" not in c for c in clashes if c not in marked)

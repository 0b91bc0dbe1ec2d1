"""The Data Release Board loop for real (#18, docs/flags.md "From the plan to a clean
rerun"): a Butler repository processed by a two-step pipeline of lsst-pipe-base mock tasks
(lineage/demo/butler.py: ``assembleCoadd`` of each detector's calexps over both visits,
then ``measure``), synced; visit 1 flagged bad; the rerun plan emitted; its ``rerun.sh``
run as written (the real ``pipetask`` and ``butler`` commands, in a subprocess); the
Butler synced again; then the rebuilt products' upstream lacks the flagged visit and the
quanta run equal the plan's.  The oracles are the Butler itself and pipe_base's
provenance reader.  Skipped without lsst-ctrl-mpexec (the ``pipetask`` command)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from lineage.core.dataid import DataId
from lineage.core.selector import Selector
from lineage.demo.butler import COADD_RUN, add_pipeline_run, make_butler, write_coadd_pipeline
from lineage.store.falkordb_server import FalkorServer
from lineage.store.repo import init_repo, open_store
from lineage.traversal.traverse import upstream

from .cli_runner import run
from .conftest import built_once

pytest.importorskip("lsst.ctrl.mpexec")
pytest.importorskip("lsst.pipe.base.quantum_graph")

#: The flagged visit, and the detectors whose coadds keep an unflagged calexp (visit 2's
#: calexp of detector 2 failed in the demo Butler, so that coadd has nothing left).
FLAGGED_VISIT, REBUILT_DETECTORS = "1", ("1", "3", "4")
OUTPUT = "rerun/drb-1"


def _flagged_setup(tmp_path_factory):
    """A copy of the demo Butler with the coadd pipeline run as production, synced into an
    embedded lineage repository in which visit 1 is flagged bad."""
    base = built_once(tmp_path_factory, "sync-butler",
                      lambda work: make_butler(work / "repo", work))
    work = tmp_path_factory.mktemp("rerun")
    butler = work / "butler"
    shutil.copytree(base, butler)
    pipeline = write_coadd_pipeline(work / "coadd.yaml")
    add_pipeline_run(butler, work, pipeline)
    root = work / "lineage"
    init_repo(root)
    run("sync", butler, "--repo", root, check=True)
    run("flag", f"visit={FLAGGED_VISIT}", "--verdict", "bad", "--reason", "satellite trail",
        "--evidence", "https://example.org/DM-1", "--by", "drb", "--repo", root, check=True)
    return SimpleNamespace(butler=butler, pipeline=pipeline, root=root, work=work)


@pytest.fixture(scope="module")
def flagged(tmp_path_factory):
    """The flagged set-up the tests that only emit plans share."""
    setup = _flagged_setup(tmp_path_factory)
    yield setup
    FalkorServer(setup.root).stop()


@pytest.fixture
def flagged_for_rerun(tmp_path_factory):
    """A flagged set-up of its own for the loop, which reruns into the Butler and marks
    the plan's quanta superseded in the graph (the shared one stays as it was)."""
    setup = _flagged_setup(tmp_path_factory)
    yield setup
    FalkorServer(setup.root).stop()


def _butler_env() -> dict:
    """The environment the script runs in: this interpreter's ``pipetask`` and ``butler``
    first on the PATH."""
    bin_dir = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))


def _provenance_inputs(butler: Path, run_name: str) -> dict[str, list[dict]]:
    """pipe_base's word on a RUN: each quantum's data ID (text) -> the data IDs of its
    inputs, read from the RUN's ``run_provenance``."""
    from lsst.daf.butler import Butler
    with Butler.from_config(str(butler)) as handle:
        graph = handle.get("run_provenance", collections=run_name)
    xgraph = graph.bipartite_xgraph
    out = {}
    for task, quanta in graph.quanta_by_task.items():
        for data_id, quantum in quanta.items():
            out[f"{task} {dict(data_id.required)}"] = [
                dict(xgraph.nodes[d]["data_id"].required) for d in xgraph.predecessors(quantum)]
    return out


def test_the_rerun_script_rebuilds_the_contaminated_products_without_the_flagged_visit(
        flagged_for_rerun):
    flagged = flagged_for_rerun
    out = flagged.work / "plan"
    emitted = run("flags", "plan", "--emit", "pipetask", "--butler", flagged.butler,
                  "--pipeline", flagged.pipeline, "--collection", OUTPUT, "-o", out,
                  "--repo", flagged.root, check=True)
    assert "rerun.sh" in emitted.stdout
    plan = json.loads((out / "plan.json").read_text())
    assert [(s["task"], s["quanta"]) for s in plan["steps"]] == \
        [("assembleCoadd", 3), ("measure", 3)]     # dependency order, detectors 1, 3, 4
    assert plan["inputs"] == ["Cam1/runs/lineage/step1a"]
    for step in plan["steps"]:
        assert step["data_query"] == ("instrument = 'Cam1' AND detector IN (1, 3, 4) AND "
                                      f"NOT (visit IN ({FLAGGED_VISIT}))")
        assert step["pipeline"] == f"{flagged.pipeline}#{step['task']}"

    # the script as written, the real pipetask and butler commands
    done = subprocess.run([str(out / "rerun.sh")], capture_output=True, text=True,
                          env=_butler_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    # pipe_base's provenance of the rerun: the coadds read only visit 2's calexps
    for step in plan["steps"]:
        quanta = _provenance_inputs(flagged.butler, step["output_run"])
        assert len(quanta) == step["quanta"]
        for inputs in quanta.values():
            assert inputs and all(d.get("visit") != int(FLAGGED_VISIT) for d in inputs)

    run("sync", flagged.butler, "--repo", flagged.root, check=True)
    with open_store(flagged.root, keep=True) as store:
        rebuilt = store.read("MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset) WHERE q.run IN $runs "
                             "AND d.dataset_type IN ['deepCoadd', 'deepCoadd_meas'] "
                             "RETURN d.key, d.data_id",
                             {"runs": [s["output_run"] for s in plan["steps"]]})
        assert sorted(DataId.parse(d)["detector"] for _, d in rebuilt) == \
            sorted(REBUILT_DETECTORS * 2)
        for key, _ in rebuilt:
            rows = upstream(store, Selector(text=key, keys=(key,)))
            visits = {DataId.parse(r.data_id).get("visit") for r in rows} - {None}
            assert visits == {"2"}, key    # reaches the raws of visit 2, none of visit 1

    # the release diff explains each rebuilt coadd: its flagged inputs were taken out
    run("diff", COADD_RUN, OUTPUT, "--type", "deepCoadd", "--repo", flagged.root,
        "-o", flagged.work / "diff.json", check=True)
    report = json.loads((flagged.work / "diff.json").read_text())
    reasons = report["summary"]["reasons"]
    assert reasons["deepCoadd"]["flagged input removed"] == len(REBUILT_DETECTORS), \
        reasons

    checked = run("flags", "plan", "--done", out / "plan.json", "--repo", flagged.root,
                  "--format", "json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    check = json.loads(checked.stdout)
    assert [(s["task"], s["planned"], s["ran"]) for s in check["steps"]] == \
        [("assembleCoadd", 3, 3), ("measure", 3, 3)]
    assert check["done"] and not check["flagged_upstream"]
    marked = json.loads((out / "plan.json").read_text())
    assert marked["status"] == "done" and marked["done"]["products"] == check["products"]

    # the rerun is recorded in the graph: the quanta it replaced are superseded by its
    # RUNs, and the next plan lists them as such instead of planning them again
    replaced = {q: s["output_run"] for s in plan["steps"] for q in s["replaces"]}
    assert check["superseded"] == len(replaced) == 6
    again = json.loads(run("flags", "plan", "--repo", flagged.root, "--format", "json",
                           check=True).stdout)
    assert not set(replaced) & {e["quantum"] for e in again["rerun"]}
    assert {e["quantum"]: e["by"] for e in again["superseded"]} == replaced

    # a plan the rerun does not match is not marked done: exit status 1
    other = json.loads((out / "plan.json").read_text())
    other["status"], other["done"], other["steps"][1]["quanta"] = "emitted", None, 4
    (out / "other.json").write_text(json.dumps(other))
    differs = run("flags", "plan", "--done", out / "other.json", "--repo", flagged.root)
    assert differs.returncode == 1 and "not marked done" in differs.stdout
    assert json.loads((out / "other.json").read_text())["status"] == "emitted"


def test_the_bps_files_are_what_ctrl_bps_reads(flagged):
    out = flagged.work / "bps"
    run("flags", "plan", "--emit", "bps", "--butler", flagged.butler, "--pipeline",
        flagged.pipeline, "--collection", "rerun/drb-bps", "-o", out, "--repo", flagged.root,
        check=True)
    plan = json.loads((out / "plan.json").read_text())
    assert subprocess.run(["sh", "-n", str(out / "submit.sh")]).returncode == 0
    BpsConfig = pytest.importorskip("lsst.ctrl.bps").BpsConfig
    for step in plan["steps"]:
        config = BpsConfig(str(out / f"{step['step']}-{step['task']}.yaml"))
        assert config["pipelineYaml"] == step["pipeline"]
        assert config["payload"]["dataQuery"] == step["data_query"]
        assert config["payload"]["butlerConfig"] == str(flagged.butler)
        assert config["payload"]["inCollection"] == ",".join(plan["inputs"])
        assert (config["payload"]["output"], config["payload"]["outputRun"]) == \
            ("rerun/drb-bps", step["output_run"])
    assert "bps submit" in (out / "submit.sh").read_text()


def test_tag_creates_a_tagged_collection_of_the_clean_inputs(flagged, tmp_path):
    from lsst.daf.butler import Butler, CollectionType
    butler = tmp_path / "butler"
    shutil.copytree(flagged.butler, butler)
    # the graph knows the Butler by its path: a copy is refused, which is its own check
    refused = run("flags", "plan", "--emit", "pipetask", "--butler", butler, "--pipeline",
                  flagged.pipeline, "-o", tmp_path / "x", "--repo", flagged.root)
    assert refused.returncode == 2 and "synced from another Butler" in refused.stderr
    tag = "rerun/drb-tag/clean-inputs"
    run("flags", "plan", "--emit", "pipetask", "--butler", flagged.butler, "--pipeline",
        flagged.pipeline, "--collection", "rerun/drb-tag", "--tag", tag, "-o", tmp_path / "t",
        "--repo", flagged.root, check=True)
    plan = json.loads((tmp_path / "t" / "plan.json").read_text())
    assert plan["inputs"][0] == tag and plan["tag"] == {"collection": tag, "datasets": 3}
    with Butler.from_config(str(flagged.butler)) as handle:
        assert handle.collections.get_info(tag).type == CollectionType.TAGGED
        refs = handle.query_datasets("calexp", collections=tag, limit=None, explain=False)
    assert sorted(str(r.dataId["detector"]) for r in refs) == list(REBUILT_DETECTORS)
    assert {r.dataId["visit"] for r in refs} == {2}
    again = run("flags", "plan", "--emit", "pipetask", "--butler", flagged.butler,
                "--pipeline", flagged.pipeline, "--tag", tag, "-o", tmp_path / "t2",
                "--repo", flagged.root)
    assert again.returncode == 2 and "already has a collection" in again.stderr


def test_bad_input_is_one_line_naming_it(flagged, tmp_path):
    def error(*args) -> str:
        ran = run("flags", "plan", *args, "--repo", flagged.root)
        assert ran.returncode == 2, ran.stdout
        assert len(ran.stderr.strip().splitlines()) == 1, ran.stderr
        return ran.stderr
    emit = ("--emit", "pipetask", "--butler", flagged.butler, "-o", tmp_path / "o")
    assert "no such pipeline file" in error(*emit, "--pipeline", tmp_path / "nope.yaml")
    other = tmp_path / "other.yaml"
    other.write_text(flagged.pipeline.read_text().replace("assembleCoadd:", "stack:"))
    assert "has no task 'assembleCoadd'" in error(*emit, "--pipeline", other)
    assert "--emit needs --pipeline" in error(*emit)
    assert "not JSON" in error("--done", other)


def test_step_queries_are_butler_expressions_of_exactly_the_planned_data_ids():
    from lsst.daf.butler.queries.expressions.parser import parse_expression

    from lineage.flags.rerun import step_query
    ids = [DataId.of({"instrument": "Cam1", "detector": d, "visit": v})
           for d, v in ((1, 5), (3, 5), (1, 6))]
    exclusions = {"Cam1": (["1", "2"], [("3", "4")]), "Other": (["9"], [])}
    query = step_query(ids, exclusions)
    assert query == ("instrument = 'Cam1' AND ((detector = 1 AND visit = 5) OR "
                     "(detector = 1 AND visit = 6) OR (detector = 3 AND visit = 5)) AND "
                     "NOT (visit IN (1, 2) OR (visit = 3 AND detector = 4))")
    assert parse_expression(query) is not None     # daf_butler's own parser reads it
    coadds = [DataId.of({"band": "r", "skymap": "rings", "tract": 9813, "patch": p})
              for p in (3, 4)]
    assert step_query(coadds, {"Cam1": (["1"], [])}) == (
        "instrument = 'Cam1' AND ((band = 'r' AND patch = 3 AND skymap = 'rings' AND "
        "tract = 9813) OR (band = 'r' AND patch = 4 AND skymap = 'rings' AND "
        "tract = 9813)) AND NOT (visit IN (1))")
    two = ids[:1] + [DataId.of({"instrument": "Other", "detector": 2, "visit": 7})]
    assert step_query(two, exclusions) == (
        "(instrument = 'Cam1' AND (detector = 1 AND visit = 5) AND NOT (visit IN (1, 2) OR "
        "(visit = 3 AND detector = 4))) OR (instrument = 'Other' AND (detector = 2 AND "
        "visit = 7) AND NOT (visit IN (9)))")
    assert parse_expression(step_query(two, exclusions)) is not None


#: A site configuration for BPS: Parsl's local WMS, one core (what an operator's site YAML
#: says for their cluster).
PARSL_LOCAL_SITE = """\
wmsServiceClass: lsst.ctrl.bps.parsl.ParslService
computeSite: local
site:
  local:
    class: lsst.ctrl.bps.parsl.sites.Local
    cores: 1
"""


def test_the_bps_rerun_runs_as_written_on_parsl(flagged_for_rerun):
    """``--emit bps --bps-include SITE.yaml``: ``submit.sh`` as written submits each step
    with the real ``bps`` to the Parsl WMS on this machine (lsst-ctrl-bps-parsl), which
    runs the quanta and BPS's final job (the aggregator, provenance included); a sync
    then shows the rebuilt coadds clean and ``--done`` marks the plan done."""
    pytest.importorskip("lsst.ctrl.bps.parsl")
    flagged = flagged_for_rerun
    site = flagged.work / "parsl-local.yaml"
    site.write_text(PARSL_LOCAL_SITE)
    out = flagged.work / "bps-rerun"
    run("flags", "plan", "--emit", "bps", "--butler", flagged.butler, "--pipeline",
        flagged.pipeline, "--collection", "rerun/drb-bps", "--bps-include", site, "-o", out,
        "--repo", flagged.root, check=True)
    plan = json.loads((out / "plan.json").read_text())
    import yaml
    first = yaml.safe_load((out / "1-assembleCoadd.yaml").read_text())
    assert first["includeConfigs"] == [str(site)]
    # BPS's defaults name pipetask and butler by their EUPS directories; a pip install has
    # both in this interpreter's prefix
    env = dict(_butler_env(), CTRL_MPEXEC_DIR=sys.prefix, DAF_BUTLER_DIR=sys.prefix,
               LINEAGE_BPS_POLL="1")
    done = subprocess.run([str(out / "submit.sh")], capture_output=True, text=True, env=env,
                          cwd=flagged.work, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    run("sync", flagged.butler, "--repo", flagged.root, check=True)
    with open_store(flagged.root, keep=True) as store:
        rebuilt = store.read("MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset) WHERE q.run IN $runs "
                             "AND d.dataset_type = 'deepCoadd' RETURN d.key",
                             {"runs": [s["output_run"] for s in plan["steps"]]})
        assert len(rebuilt) == len(REBUILT_DETECTORS)
        for (key,) in rebuilt:
            rows = upstream(store, Selector(text=key, keys=(key,)))
            assert {DataId.parse(r.data_id).get("visit") for r in rows} - {None} == {"2"}
    checked = run("flags", "plan", "--done", out / "plan.json", "--repo", flagged.root,
                  "--format", "json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["done"]

"""`lineage ingest pipeline` on the real pipe_base YAMLs of ../shared/data/real/pipelines.

Expected values come from the files themselves, read here with plain pyyaml
(and, where pipe_base is installed, from its own ``PipelineIR``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from lineage.ingest.driver import IngestError, ingest
from lineage.core.model import pipeline_key, task_key

#: Import variable -> folder of the real sample (SOURCES.md of the folder).
FOLDERS = {"DRP_PIPE_DIR": "drp_pipe", "ANALYSIS_TOOLS_DIR": "analysis_tools",
           "CP_VERIFY_DIR": "cp_verify", "SOURCE_INJECTION_DIR": "source_injection",
           "MEAS_EXTENSIONS_MULTIPROFIT_DIR": "meas_extensions_multiprofit",
           "TESTDIR": "pipe_base_tests"}


@pytest.fixture
def pipes(real_data):
    return real_data("pipelines")


@pytest.fixture
def variables(pipes):
    return {var: str(pipes / folder) for var, folder in FOLDERS.items()}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _location(text: str, variables: dict) -> Path:
    return Path(re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: variables[m.group(1)], text))


def _closure_labels(path: Path, variables: dict) -> set[str]:
    """Every task label defined anywhere in the import tree (no include/exclude)."""
    doc = _load(path)
    labels = set(doc.get("tasks") or {})
    for imp in doc.get("imports") or []:
        loc = imp if isinstance(imp, str) else imp["location"]
        target = _location(loc, variables)
        if target.exists():
            labels |= _closure_labels(target, variables)
    return labels


def _resolved(path: Path, variables: dict) -> tuple[set[str], dict]:
    """(task labels, subsets) of a pipeline after include/exclude: a plain
    re-reading of the rules, without configs, renames or subset edits."""
    doc = _load(path)
    labels, subsets = set(), {}
    for imp in doc.get("imports") or []:
        imp = {"location": imp} if isinstance(imp, str) else imp
        got, their_subsets = _resolved(_location(imp["location"], variables), variables)
        names = lambda key: set().union(*[their_subsets.get(x, {x})  # noqa: E731
                                          for x in imp.get(key, [])])
        if "include" in imp:
            got &= names("include")
        elif "exclude" in imp:
            got -= names("exclude")
        labels |= got
        subsets.update(their_subsets)
    subsets.update({k: set(v["subset"] if isinstance(v, dict) else v)
                    for k, v in (doc.get("subsets") or {}).items()})
    return labels | set(doc.get("tasks") or {}), subsets


def _stored(store, query: str, **params):
    return store.read(query, params)


def test_every_real_pipeline_ingests_or_is_named_invalid(store, pipes, variables):
    files = sorted(pipes.rglob("*.yaml"))
    summary = ingest(store, "pipeline", [pipes], variables, show_progress=False)
    by_path = {Path(f.path): f for f in summary.files if f.status != "skipped"}
    assert len(by_path) == len(files)
    rejected = {p for p, f in by_path.items() if f.status == "rejected"}

    # The one DRP pipeline whose subset names labels the imports no longer define.
    comcam = pipes / "drp_pipe/pipelines/LSSTComCam/DRP.yaml"
    doc = _load(comcam)
    wanted = set(doc["subsets"]["step3b"]["subset"]) - _closure_labels(comcam, variables)
    assert wanted, "the sample should hold the known broken pipeline"
    err = by_path[comcam].error
    assert "invalid pipeline" in err and "step3b" in err
    for label in wanted:
        assert label in err
    assert not _stored(store, "MATCH (p:Pipeline {key: $k}) RETURN p.key",
                       k=pipeline_key("DRP_PIPE_DIR/pipelines/LSSTComCam/DRP"))

    # An import whose file is not part of the sample: rejected, the location named.
    for path in rejected - {comcam}:
        imports = [i if isinstance(i, str) else i["location"]
                   for i in _load(path).get("imports") or []]
        missing = [i for i in imports if not _location(i, variables).exists()]
        assert missing and missing[0] in by_path[path].error, by_path[path].error

    # Every other file is stored with the task labels of its file.
    for path in set(files) - rejected:
        doc = _load(path)
        if doc.get("imports"):
            continue
        var = next(v for v in FOLDERS if Path(variables[v]) in path.parents)
        name = f"{var}/{path.relative_to(variables[var]).with_suffix('').as_posix()}"
        rows = _stored(store, "MATCH (p:Pipeline {key: $k})-[:HAS_TASK]->(t:Task) "
                              "RETURN t.label, t.task_class", k=pipeline_key(name))
        tasks = doc["tasks"]
        assert sorted(r[0] for r in rows) == sorted(tasks), path
        for label, cls in rows:
            assert cls == (tasks[label] if isinstance(tasks[label], str) else tasks[label]["class"])

    again = ingest(store, "pipeline", [pipes], variables, show_progress=False)
    assert {f.status for f in again.files} == {"unchanged", "rejected", "skipped"}
    assert again.totals()["nodes_created"] == again.totals()["edges_created"] == 0


@pytest.mark.parametrize("rel", ["HSC/DRP-RC2.yaml", "LSSTCam/DRP.yaml", "LATISS/DRP.yaml"])
def test_import_closure_of_drp_pipelines(store, pipes, variables, rel):
    path = pipes / "drp_pipe/pipelines" / rel
    summary = ingest(store, "pipeline", [path], variables, show_progress=False)
    assert summary.files[0].status == "added", summary.files[0].error
    name = f"DRP_PIPE_DIR/pipelines/{rel[:-5]}"
    labels = {r[0] for r in _stored(store, "MATCH (:Pipeline {key: $k})-[:HAS_TASK]->(t:Task) "
                                           "RETURN t.label", k=pipeline_key(name))}
    assert labels == _resolved(path, variables)[0]
    # the whole import tree is stored as IMPORTS edges
    direct = [i if isinstance(i, str) else i["location"] for i in _load(path)["imports"]]
    targets = _stored(store, "MATCH (:Pipeline {key: $k})-[e:IMPORTS]->(q:Pipeline) "
                             "RETURN e.location, q.name", k=pipeline_key(name))
    assert sorted(t[0] for t in targets) == sorted(direct)
    # subsets and steps of the file itself are on the pipeline and its tasks
    doc = _load(path)
    subsets = json.loads(_stored(store, "MATCH (p:Pipeline {key: $k}) RETURN p.subsets",
                                 k=pipeline_key(name))[0][0])
    for label, value in (doc.get("subsets") or {}).items():
        assert set(subsets[label]["tasks"]) == set(value["subset"] if isinstance(value, dict)
                                                   else value)


def test_excluded_subset_and_steps(store, pipes, variables):
    """step-exclusion.yaml imports steps.yaml in EDIT mode, excluding task c."""
    path = pipes / "pipe_base_tests/pipelines/step-exclusion.yaml"
    base = _load(pipes / "pipe_base_tests/pipelines/steps.yaml")
    excluded = set(_load(path)["imports"][0]["exclude"])
    ingest(store, "pipeline", [path], variables, show_progress=False)
    name = "TESTDIR/pipelines/step-exclusion"
    rows = _stored(store, "MATCH (p:Pipeline {key: $k}) RETURN p.steps, p.subsets",
                   k=pipeline_key(name))
    steps, subsets = rows[0][0], json.loads(rows[0][1])
    assert steps == [s["label"] for s in base["steps"]]
    for label, tasks in base["subsets"].items():
        assert set(subsets[label]["tasks"]) == set(tasks) - excluded


def test_stated_connections_are_reads_and_writes_not_feeds(engine, pipes, variables):
    store = engine.new()
    path = pipes / "pipe_base_tests/pipelines/steps.yaml"
    text = path.read_text()
    ingest(store, "pipeline", [path], variables, show_progress=False)
    expected = set()
    for label, body in re.findall(r"^  (\w+):\n((?:    .*\n)+)", text, re.M):
        for kind, dstype in re.findall(r'config\.(inputs|outputs)\[.*dataset_type_name="(\w+)"',
                                       body):
            expected.add((label, "READS" if kind == "inputs" else "WRITES", dstype))
    got = set(_stored(store, "MATCH (t:Task)-[e]->(d:DatasetType) RETURN t.label, type(e), d.name"))
    assert got == expected and expected
    assert _stored(store, "MATCH ()-[e:FEEDS]->() RETURN count(e)")[0][0] == 0


def _write(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def test_config_merge_rules(engine, tmp_path):
    store = engine.new()
    _write(tmp_path / "base.yaml", {
        "description": "base", "tasks": {
            "a": {"class": "m.A", "config": {"x": 1}},
            "b": {"class": "m.B", "config": {"x": 1}},
            "c": {"class": "m.C", "config": {"x": 1}}}})
    top = _write(tmp_path / "top.yaml", {
        "description": "top", "imports": ["$BASE/base.yaml"], "parameters": {"p": 7},
        "tasks": {"a": {"class": "m.A", "config": {"y": 2}},        # same class: merged
                  "b": {"class": "m.Other", "config": {"y": 2}},    # other class: replaced
                  "c": {"class": "m.C", "config": {"x": 5, "z": "parameters.p"}}}})
    ingest(store, "pipeline", [top], {"BASE": str(tmp_path)}, show_progress=False)
    rows = dict(_stored(store, "MATCH (t:Task {pipeline: 'BASE/top'}) RETURN t.label, t.config"))
    assert json.loads(rows["a"]) == [{"values": {"x": 1, "y": 2}}]
    assert json.loads(rows["b"]) == [{"values": {"y": 2}}]
    # a conflicting key keeps both blocks, in order; parameters are substituted
    assert json.loads(rows["c"]) == [{"values": {"x": 1}}, {"values": {"x": 5, "z": 7}}]
    cls = _stored(store, "MATCH (t:Task {key: $k}) RETURN t.task_class", k=task_key("BASE/top", "b"))
    assert cls == [("m.Other",)]


def _assert_rejected_unchanged(store, path, variables, *needles):
    before = store.count()
    summary = ingest(store, "pipeline", [path], variables, show_progress=False)
    (outcome,) = summary.files
    assert outcome.status == "rejected"
    assert str(path) in outcome.error
    for needle in needles:
        assert needle in outcome.error, outcome.error
    assert store.count() == before
    return outcome.error


def test_truncated_yaml_names_file_and_line(store, pipes, variables, tmp_path):
    src = (pipes / "drp_pipe/pipelines/_ingredients/LSSTComCam/DRP.yaml").read_text()
    cut = src.index("objectTableCoreWholeSkyPlotKeys: [") + 40   # inside a flow list
    broken = tmp_path / "DRP.yaml"
    broken.write_text(src[:cut])
    ingest(store, "pipeline", [pipes / "pipe_base_tests/pipelines/steps.yaml"], variables,
           show_progress=False)
    line = src[:cut].count("\n") + 1
    _assert_rejected_unchanged(store, broken, variables, "not valid YAML", "line ")
    error = ingest(store, "pipeline", [broken], variables, show_progress=False).files[0].error
    assert int(re.search(r"line (\d+)", error).group(1)) >= line


def test_unknown_import_variable_names_file_import_and_variable(store, pipes, variables, tmp_path):
    path = pipes / "drp_pipe/pipelines/HSC/DRP-RC2.yaml"
    partial = {k: v for k, v in variables.items() if k != "ANALYSIS_TOOLS_DIR"}
    _assert_rejected_unchanged(store, path, partial, "$ANALYSIS_TOOLS_DIR", "imports[",
                               "--var ANALYSIS_TOOLS_DIR=")


def test_import_cycle(store, tmp_path):
    _write(tmp_path / "one.yaml", {"description": "1", "imports": ["$HERE/two.yaml"],
                                   "tasks": {"a": "m.A"}})
    _write(tmp_path / "two.yaml", {"description": "2", "imports": ["$HERE/one.yaml"],
                                   "tasks": {"b": "m.B"}})
    _assert_rejected_unchanged(store, tmp_path / "one.yaml", {"HERE": str(tmp_path)},
                               "import cycle", "HERE/one -> HERE/two -> HERE/one")


def test_step_that_is_not_a_subset_and_bad_contract(store, tmp_path):
    path = _write(tmp_path / "p.yaml", {
        "description": "d", "tasks": {"a": "m.A"}, "subsets": {"s": ["a"]},
        "steps": [{"label": "nope", "dimensions": []}], "contracts": ["a.x == gone.y"]})
    _assert_rejected_unchanged(store, path, {}, "steps: nope is not a labeled subset",
                               "contracts[0] names labels that do not exist: gone")


def test_matches_pipe_base_where_installed(pipes, variables, monkeypatch):
    """With the optional lsst-pipe-base, every sample file resolves as PipelineIR does."""
    pipeline_ir = pytest.importorskip("lsst.pipe.base.pipelineIR")
    from lineage.ingest.pipeline_ir import Resolver
    for var, value in variables.items():
        monkeypatch.setenv(var, value)
    for path in sorted(pipes.rglob("*.yaml")):
        try:
            ref = pipeline_ir.PipelineIR.from_uri(str(path))
        except (ValueError, FileNotFoundError):
            with pytest.raises(IngestError):
                Resolver(variables).resolve(path)
            continue
        mine = Resolver(variables).resolve(path)
        assert list(mine.tasks) == list(ref.tasks), path
        assert {k: s.tasks for k, s in mine.subsets.items()} == \
            {k: set(s.subset) for k, s in ref.labeled_subsets.items()}, path
        assert mine.steps == [(s.label, list(s.dimensions)) for s in ref.steps], path
        assert [c["contract"] for c in mine.contracts] == [c.contract for c in ref.contracts]

"""Hostile and malformed ingest files (issue 15, items 7 and 8): each is rejected with
its own error line naming the file and the place, the good files beside it are stored,
the summary is printed, the exit status is 1, and nothing of the bad file is stored.

Every case runs the real command (``lineage ingest KIND FOLDER``) on an embedded
repository, in this process through click (tests/cli_runner.py); the ingest killed midway
runs in a subprocess.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from lineage.store.repo import open_store
from lineage.store.falkordb_server import FalkorServer, _pid_alive

from .cli_runner import Ran, run
from .test_ingest_run import _id, run_document


def lineage(*args, env=None) -> Ran:
    """The real command, in this process (tests/cli_runner.py)."""
    # one error per line, never wrapped
    return run(*args, env={"LINEAGE_REPO": None, "COLUMNS": "3000", **(env or {})})


def ingest_folder(kind: str, folder: Path, repo: Path, env=None) -> Ran:
    return lineage("ingest", kind, folder, "--repo", repo, env=env)


def assert_rejected(proc, bad: Path, *needles: str, files: int | None = None) -> str:
    """Exit 1, no traceback, exactly one error line (naming ``bad`` and each needle)
    and the summary line."""
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert proc.returncode == 1, out
    errors = [line for line in out.splitlines() if line.startswith("rejected ")]
    assert len(errors) == 1, out
    assert str(bad) in errors[0], errors[0]
    for needle in needles:
        assert needle in errors[0], errors[0]
    summary = re.search(r"^(\d+) files: \d+ nodes and \d+ edges added, \d+ records skipped, "
                        r"1 files rejected$", out, re.M)
    assert summary, out
    if files is not None:
        assert int(summary.group(1)) == files
    return errors[0]


def assert_good_files_stored(kind: str, folder: Path, repo: Path, bad: Path) -> dict:
    """Run again: every good file is already stored whole ("unchanged"), the bad one is
    rejected again and nothing is added."""
    again = lineage("ingest", kind, folder, "--repo", repo, "--json")
    summary = json.loads(again.stdout)
    assert again.returncode == 1
    for f in summary["files"]:
        if Path(f["path"]) == bad:
            assert f["status"] == "rejected"
        else:
            assert f["status"] == "unchanged", f
    assert summary["totals"]["nodes_created"] == summary["totals"]["edges_created"] == 0
    return summary


def stored(repo: Path, keys) -> set[str]:
    with open_store(repo) as s:
        return s.existing_keys(list(keys))


# --- good files of every kind ----------------------------------------------------------------

def _efd_answer(topic: str, t0: int) -> dict:
    times = [f"2023-06-01T00:12:{t0 + i:02d}.000Z" for i in range(3)]
    return {"results": [{"statement_id": 0, "series": [
        {"name": topic, "columns": ["time", "actualPosition", "private_sndStamp"],
         "values": [[t, 1.5 + i, 1685578352.0 + t0 + i] for i, t in enumerate(times)]}]}]}


def _run_doc(tag: str) -> dict:
    """run_document() with every ID its own (so several good files do not overlap)."""
    doc = run_document()
    text = json.dumps(doc)
    for q in doc["quanta"]:
        for ref in [q, *q["inputs"], *q["outputs"]]:
            text = text.replace(ref["id"], str(uuid.uuid5(uuid.UUID(ref["id"]), tag)))
    return json.loads(text)


GOOD = {  # kind -> [(name in the folder, real data path or a maker)]
    "headers": [("a-good.json", ("headers", "obs_lsst", "latiss-AT_O_20230705_000379_R00_S00.json")),
                ("z-good.yaml", ("headers", "obs_lsst", "lsstCam-MC_H_20100217_000032_R22_S00.yaml"))],
    "butler-export": [("a-good.yaml", ("butler_exports", "daf_butler", "lsstcam-subset.yaml")),
                      ("z-good.yaml", ("butler_exports", "pipelines_check", "export.yaml"))],
    "skymap": [("a-good.yaml", ("skymaps", "ci_hsc-subset-skymap.yaml")),
               ("z-good.yaml", ("skymaps", "hsc_rings_v1-tract-patch-records.yaml"))],
    "pipeline": [("a-good.yaml", ("pipelines", "pipe_base_tests", "pipelines", "pipeline_simple.yaml")),
                 ("z-good.yaml", ("pipelines", "pipe_base_tests", "pipelines", "testPipeline1.yaml"))],
    "run": [("a-good.json", lambda: json.dumps(_run_doc("a"))),
            ("z-good.json", lambda: json.dumps(_run_doc("z")))],
    "efd": [("a-good.json", lambda: json.dumps(_efd_answer("lsst.sal.MTMount.azimuth", 10))),
            ("z-good.json", lambda: json.dumps(_efd_answer("lsst.sal.MTMount.elevation", 20)))],
    "metrics": [("a-good.yaml", ("metrics", "verify_metrics", "metrics", "ip_isr.yaml")),
                ("z-good.json", ("metrics", "squash_rest_api", "verify_job.json"))],
}


@pytest.fixture
def folder_of(tmp_path, real_data):
    """``folder_of(kind)``: a folder holding the kind's good files (a-... and z-...)."""
    def make(kind: str) -> Path:
        folder = tmp_path / f"in-{kind}"
        folder.mkdir()
        for name, source in GOOD[kind]:
            if callable(source):
                (folder / name).write_text(source())
            else:
                shutil.copyfile(real_data(*source), folder / name)
        return folder
    return make


# --- item 8: deeply nested documents, every kind ---------------------------------------------

DEEP = 100_000

NESTED = [("headers", ".json"), ("headers", ".yaml"), ("butler-export", ".yaml"),
          ("skymap", ".yaml"), ("skymap", ".json"), ("pipeline", ".yaml"), ("run", ".json"),
          ("run", ".ndjson"), ("efd", ".json"), ("metrics", ".json"), ("metrics", ".yaml")]


@pytest.mark.parametrize("kind, suffix", NESTED)
def test_deeply_nested_file_is_its_own_error_and_the_others_ingest(kind, suffix, folder_of, repo):
    folder = folder_of(kind)
    bad = folder / f"m-deep{suffix}"
    if suffix == ".yaml":
        bad.write_text("data: " + "[" * DEEP + "]" * DEEP + "\n")
    elif suffix == ".ndjson":
        bad.write_text(json.dumps({"eventTime": "2026-03-01T10:00:00Z"}) + "\n"
                       + '{"run": ' * DEEP + "1" + "}" * DEEP + "\n")
    else:
        bad.write_text('{"a": ' * DEEP + "[]" + "}" * DEEP)
    proc = ingest_folder(kind, folder, repo)
    assert_rejected(proc, bad, "nested deeper than 64 levels", files=3)
    assert_good_files_stored(kind, folder, repo, bad)


@pytest.mark.parametrize("kind, suffix", [("run", ".json"), ("pipeline", ".yaml")])
def test_nesting_just_past_the_limit_names_where(kind, suffix, folder_of, repo):
    folder = folder_of(kind)
    bad = folder / f"m-deep{suffix}"
    if suffix == ".yaml":
        bad.write_text("description: x\ntasks:\n  a:\n    class: " + "[" * 70 + "]" * 70 + "\n")
        needles = ("line 4", "nested deeper than 64 levels")
    else:
        doc = _run_doc("deep")
        doc["quanta"][0]["config"] = json.loads("[" * 70 + "]" * 70)
        bad.write_text(json.dumps(doc))
        needles = ("$.quanta[0].config[0][0]", "nested deeper than 64 levels")
    assert_rejected(ingest_folder(kind, folder, repo), bad, *needles)


def test_efd_answer_with_a_duplicate_column(folder_of, repo):
    folder = folder_of("efd")
    answer = _efd_answer("lsst.sal.MTMount.azimuth", 40)
    series = answer["results"][0]["series"][0]
    series["columns"].append("actualPosition")
    for row in series["values"]:
        row.append(9.0)
    bad = folder / "m-dupcol.json"
    bad.write_text(json.dumps(answer))
    proc = ingest_folder("efd", folder, repo)
    assert_rejected(proc, bad, "results[0].series[0].columns",
                    "column 'actualPosition' appears twice (columns 2 and 4)")
    assert_good_files_stored("efd", folder, repo, bad)


def test_efd_csv_with_a_duplicate_column(folder_of, repo):
    folder = folder_of("efd")
    bad = folder / "MTMount.azimuth__m-dup.csv"
    bad.write_text("time,actualPosition,actualPosition\n2023-06-01T00:13:00Z,1.0,2.0\n")
    assert_rejected(ingest_folder("efd", folder, repo), bad,
                    "column 'actualPosition' appears twice")


# --- item 7, structure: duplicate keys, sizes, aliases ---------------------------------------

def test_duplicate_json_key_names_line_and_key(folder_of, repo):
    folder = folder_of("run")
    doc = _run_doc("dup")
    text = json.dumps(doc, indent=1)
    # the second quantum's "host" appears twice: the reader would keep one in silence
    text = text.replace('"host": "sdfmilan002"', '"host": "sdfmilan002",\n   "host": "evil"')
    line = text[:text.index('"host": "evil"')].count("\n") + 1
    first = text[:text.index('"host": "sdfmilan002"')].count("\n") + 1
    bad = folder / "m-dupkey.json"
    bad.write_text(text)
    assert_rejected(ingest_folder("run", folder, repo), bad, f"line {line}", "'host'",
                    f"first on line {first}")
    assert_good_files_stored("run", folder, repo, bad)
    quanta = {f"quantum:{q['id']}" for q in doc["quanta"]}
    assert not stored(repo, quanta)


def test_duplicate_key_in_ndjson_names_the_file_line(folder_of, repo):
    folder = folder_of("run")
    event = {"eventType": "START", "eventTime": "2026-03-01T10:00:00Z",
             "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "n", "name": "j"},
             "producer": "p"}
    line3 = json.dumps(event).replace('"producer": "p"', '"producer": "p", "producer": "q"')
    bad = folder / "m-events.ndjson"
    bad.write_text(json.dumps(event) + "\n" + json.dumps(event) + "\n" + line3 + "\n")
    assert_rejected(ingest_folder("run", folder, repo), bad, "line 3", "'producer'")


@pytest.mark.parametrize("kind", ["pipeline", "butler-export", "headers", "metrics"])
def test_duplicate_yaml_key_names_line_and_key(kind, folder_of, repo, real_data):
    folder = folder_of(kind)
    source = folder / GOOD[kind][0][0]
    if kind == "headers":
        source = folder / GOOD[kind][1][0]
    text = source.read_text()
    lines = text.splitlines(keepends=True)
    # repeat the first "key: value" line of the top level (or of the first record)
    n = next(i for i, ln in enumerate(lines)
             if "&" not in ln and (re.match(r"^[A-Za-z_][\w.]*:\s*\S", ln)
                                   or re.match(r"^    [a-z_]+: \S", ln)))
    lines.insert(n + 1, lines[n])
    bad = folder / "m-dupkey.yaml"
    bad.write_text("".join(lines))
    key = lines[n].split(":")[0].strip()
    assert_rejected(ingest_folder(kind, folder, repo), bad, f"line {n + 2}", f"'{key}'",
                    f"first on line {n + 1}")
    assert_good_files_stored(kind, folder, repo, bad)


def test_thirty_megabyte_string_is_refused_by_name(folder_of, repo):
    folder = folder_of("run")
    doc = _run_doc("big")
    doc["quanta"][1]["error"] = "x" * (30 * 2**20)
    bad = folder / "m-huge.json"
    bad.write_text(json.dumps(doc))
    assert_rejected(ingest_folder("run", folder, repo), bad, "$.quanta[1].error",
                    "a string of 31,457,280 characters")
    assert_good_files_stored("run", folder, repo, bad)


def test_file_over_the_size_cap_is_refused_before_reading(folder_of, repo):
    folder = folder_of("butler-export")
    bad = folder / "m-huge.yaml"
    with open(bad, "wb") as f:  # 1 GiB, sparse: refused by its size, never read
        f.truncate(2**30)
    t0 = time.perf_counter()
    proc = ingest_folder("butler-export", folder, repo)
    assert_rejected(proc, bad, "the file is 1,024.0 MiB, more than the 64.0 MiB")
    assert time.perf_counter() - t0 < 60
    small = lineage("ingest", "run", folder_of("run"), "--repo", repo,
                    env={"LINEAGE_INGEST_MAX_FILE_MB": "0.001"})
    assert small.returncode == 1 and small.stdout.count("more than the 0.0 MiB") == 2


def test_yaml_alias_bomb_is_refused(folder_of, repo):
    folder = folder_of("pipeline")
    lines = ['description: laughs', 'parameters:', '  a: &a ["lol","lol","lol","lol","lol",'
             '"lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"  {cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    bad = folder / "m-laughs.yaml"
    bad.write_text("\n".join(lines) + "\n")
    t0 = time.perf_counter()
    assert_rejected(ingest_folder("pipeline", folder, repo), bad, "aliases expand", "line ")
    assert time.perf_counter() - t0 < 60


# --- item 7, structure: references and lineage invariants ------------------------------------

EXTRA_TYPE = """- type: dataset_type
  name: hardening_band_test
  dimensions: [band, instrument]
  storage_class: StructuredDataDict
  is_calibration: false
"""
EXTRA_DATASET = """- type: dataset
  dataset_type: {dstype}
  run: hardening/run
  records:
  - dataset_id: [!uuid '{uuid}']
    data_id: [{data_id}]
    path: hardening/x.json
    formatter: lsst.daf.butler.formatters.json.JsonFormatter
"""


@pytest.mark.parametrize("case", ["undeclared type", "band that does not exist"])
def test_export_references_must_exist(case, folder_of, repo):
    folder = folder_of("butler-export")
    text = (folder / "a-good.yaml").read_text()
    ds_uuid = str(uuid.uuid4())
    if case == "undeclared type":
        extra = EXTRA_DATASET.format(dstype="never_declared", uuid=ds_uuid,
                                     data_id="{instrument: LSSTCam}")
        needles = ("dataset type 'never_declared' is not declared",)
    else:
        extra = EXTRA_TYPE + EXTRA_DATASET.format(dstype="hardening_band_test", uuid=ds_uuid,
                                                  data_id="{band: q, instrument: LSSTCam}")
        needles = ("band 'q'", "not stored")
    bad = folder / "m-refs.yaml"
    bad.write_text(text + extra)
    line = (text + extra).count("\n") - extra.count("\n") + extra.splitlines().index(
        next(ln for ln in extra.splitlines() if ln.startswith("- type: dataset" if case ==
             "undeclared type" else "  - dataset_id"))) + 1
    assert_rejected(ingest_folder("butler-export", folder, repo), bad, f"line {line}", *needles)
    assert_good_files_stored("butler-export", folder, repo, bad)
    assert not stored(repo, [f"dataset:{ds_uuid}"])


def _bad_run(case: str) -> tuple[dict, tuple]:
    """A run document breaking one invariant, and what its error must say."""
    doc = _run_doc("m")
    q0, q1 = doc["quanta"]
    if case == "two producers in the file":
        extra = {"id": _id("q-second-isr"), "task": "isr", "status": "successful",
                 "inputs": copy.deepcopy(q0["inputs"]), "outputs": copy.deepcopy(q0["outputs"])}
        doc["quanta"].append(extra)
        return doc, ("$.quanta[2]", f"dataset:{q0['outputs'][0]['id']} would have two producers",
                     f"quantum:{q0['id']}", f"quantum:{extra['id']}")
    if case == "reads its own output":
        q1["inputs"].append(copy.deepcopy(q1["outputs"][0]))
        return doc, ("$.quanta[1]", f"reads its own output dataset:{q1['outputs'][0]['id']}")
    if case == "one quantum twice":
        twin = copy.deepcopy(q0)
        twin["host"] = "elsewhere"
        doc["quanta"].append(twin)
        return doc, ("$.quanta[2]", f"quantum:{q0['id']} appears twice with different contents",
                     "first at $.quanta[0]", "host 'sdfmilan001' there, 'elsewhere' here")
    if case == "cycle in the file":
        q0["inputs"].append(copy.deepcopy(q1["outputs"][1]))  # isr reads src, made from isr's output
        return doc, ("close a cycle in the lineage", f"dataset:{q1['outputs'][1]['id']}")
    if case == "one dataset twice":
        q1["outputs"][0]["run"] = "another/run"
        doc["datasets"] = [copy.deepcopy(q1["outputs"][0])]
        doc["datasets"][0]["run"] = q0["outputs"][0]["run"]
        return doc, (f"dataset:{q1['outputs'][0]['id']} appears twice with different contents",
                     "run")
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["two producers in the file", "reads its own output",
                                  "one quantum twice", "cycle in the file", "one dataset twice"])
def test_run_breaking_an_invariant_in_the_file(case, folder_of, repo):
    folder = folder_of("run")
    doc, needles = _bad_run(case)
    bad = folder / "m-bad.json"
    bad.write_text(json.dumps(doc))
    assert_rejected(ingest_folder("run", folder, repo), bad, *needles)
    assert_good_files_stored("run", folder, repo, bad)
    assert not stored(repo, [f"quantum:{q['id']}" for q in doc["quanta"]])


def test_run_breaking_an_invariant_with_what_is_stored(folder_of, repo):
    """a-good.json is stored first; each later file contradicts it."""
    folder = folder_of("run")
    good = json.loads((folder / "a-good.json").read_text())
    g0, g1 = good["quanta"]
    raw, post, calexp = g0["inputs"][0], g0["outputs"][0], g1["outputs"][0]
    # another quantum claims to have written calexp
    second = {"format": good["format"], "version": 1, "run": good["run"], "quanta": [
        dict(copy.deepcopy(g1), id=_id("another-calibrate"))]}
    # the stored isr quantum again, without its input
    changed = {"format": good["format"], "version": 1, "run": good["run"], "quanta": [
        dict(copy.deepcopy(g0), inputs=[])]}
    # a quantum that makes the raw (stored, no producer) out of calexp (made from the raw)
    cycle = {"format": good["format"], "version": 1, "run": good["run"], "quanta": [
        {"id": _id("uncalibrate"), "task": "uncalibrate", "status": "successful",
         "inputs": [calexp], "outputs": [raw]}]}
    for name, doc in (("m-producer.json", second), ("n-changed.json", changed),
                      ("o-cycle.json", cycle)):
        (folder / name).write_text(json.dumps(doc))
    proc = ingest_folder("run", folder, repo)
    out = proc.stdout
    assert proc.returncode == 1 and "Traceback" not in out + proc.stderr
    errors = {line.split(":")[0].split("/")[-1]: line for line in out.splitlines()
              if line.startswith("rejected ")}
    assert set(errors) == {"m-producer.json", "n-changed.json", "o-cycle.json"}
    assert (f"dataset:{calexp['id']} is already produced by quantum:{g1['id']} (stored); this "
            f"file says quantum:{_id('another-calibrate')} produced it") in errors["m-producer.json"]
    assert (f"quantum:{g0['id']} is stored with other inputs or outputs (inputs: 1 only stored "
            f"(dataset:{raw['id']}))") in errors["n-changed.json"]
    assert "close a cycle" in errors["o-cycle.json"] and f"dataset:{raw['id']}" in \
        errors["o-cycle.json"]
    assert "5 files:" in out and "3 files rejected" in out
    assert not stored(repo, [f"quantum:{_id('another-calibrate')}",
                             f"quantum:{_id('uncalibrate')}"])
    with open_store(repo) as s:
        assert s.read("MATCH (d:Dataset)-[:INPUT_TO]->(q:Quantum {key: $k}) RETURN d.key",
                      {"k": f"quantum:{g0['id']}"}) == [(f"dataset:{raw['id']}",)]


def test_openlineage_run_reading_its_own_output_across_files(folder_of, repo):
    """OpenLineage runs merge over files, but never into a cycle."""
    folder = folder_of("run")
    run_id = str(uuid.uuid4())

    def event(kind, inputs, outputs):
        return {"eventType": kind, "eventTime": "2026-03-01T10:00:00Z", "producer": "p",
                "run": {"runId": run_id}, "job": {"namespace": "etl", "name": "summary"},
                "inputs": [{"namespace": "s3://b", "name": n} for n in inputs],
                "outputs": [{"namespace": "s3://b", "name": n} for n in outputs]}
    (folder / "m-start.json").write_text(json.dumps(event("START", ["in"], ["out"])))
    bad = folder / "n-complete.json"
    bad.write_text(json.dumps(event("COMPLETE", ["out"], [])))
    assert_rejected(ingest_folder("run", folder, repo), bad, f"run {run_id}",
                    "close a cycle in the lineage")


# --- kill -9 in the middle of a folder -------------------------------------------------------

def _big_run(i: int, n: int) -> dict:
    """One run of ``n`` chained quanta, all IDs its own; its collection names the file."""
    run = f"kill/run{i}"
    data = [{"id": _id("kill", i, j), "dataset_type": f"t{j % 3}",
             "data_id": {"instrument": "HSC", "detector": j % 100}, "run": run}
            for j in range(n + 1)]
    return {"format": "survey-lineage/run", "version": 1, "run": {"collection": run},
            "quanta": [{"id": _id("kill-q", i, j), "task": f"task{j % 3}", "status": "successful",
                        "inputs": [data[j]], "outputs": [data[j + 1]]} for j in range(n)]}


def _per_file(repo: Path, files: int) -> list[int]:
    with open_store(repo) as s:
        rows = dict(s.read("MATCH (c:Collection)-[:CONTAINS]->(d:Dataset) "
                           "WHERE c.name STARTS WITH 'kill/' RETURN c.name, count(d)"))
    return [rows.get(f"kill/run{i}", 0) for i in range(files)]


@pytest.mark.parametrize("done", [0, 2, 4])
def test_kill_9_mid_folder_leaves_whole_files_and_a_rerun_completes(tmp_path, repo, done):
    """kill -9 of the command and of the engine once ``done`` files are stored (plus a
    moment, so the next file is being read or written)."""
    files, n = 6, 1000
    folder = tmp_path / "runs"
    folder.mkdir()
    for i in range(files):
        (folder / f"run{i}.json").write_text(json.dumps(_big_run(i, n)))
    env = dict(os.environ, COLUMNS="3000")
    env.pop("LINEAGE_REPO", None)
    proc = subprocess.Popen([sys.executable, "-m", "lineage.cli", "ingest", "run", str(folder),
                             "--repo", str(repo)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    server = FalkorServer(repo)
    deadline = time.monotonic() + 300
    if done == 0:
        time.sleep(0.8)
    else:
        while time.monotonic() < deadline and proc.poll() is None:
            if server.pid() and sum(c == n + 1 for c in _per_file(repo, files)) >= done:
                break
            time.sleep(0.2)
    time.sleep(0.3)
    pid = server.pid()
    proc.send_signal(signal.SIGKILL)
    if pid:
        os.kill(pid, signal.SIGKILL)
        while _pid_alive(pid):
            time.sleep(0.01)
    proc.wait()
    counts = _per_file(repo, files)
    assert all(c in (0, n + 1) for c in counts), counts  # whole files only
    again = lineage("ingest", "run", folder, "--repo", repo, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    statuses = [f["status"] for f in json.loads(again.stdout)["files"]]
    assert statuses == ["unchanged" if c else "added" for c in counts]
    assert _per_file(repo, files) == [n + 1] * files


# --- the stored checks on every engine ---------------------------------------------------------

def test_invariants_against_the_store_on_every_engine(store, tmp_path):
    """The same stored-lineage queries on the embedded engine and over Bolt."""
    from lineage.ingest.driver import ingest
    good = _run_doc("engine")
    g0, g1 = good["quanta"]
    (tmp_path / "a.json").write_text(json.dumps(good))
    assert ingest(store, "run", [tmp_path / "a.json"], show_progress=False).files[0].status == \
        "added"
    before = store.count()
    cases = {
        "producer": ({"quanta": [dict(copy.deepcopy(g1), id=_id("engine-other"))]},
                     "is already produced by"),
        "changed": ({"quanta": [dict(copy.deepcopy(g0), outputs=[])]},
                    "is stored with other inputs or outputs"),
        "cycle": ({"quanta": [{"id": _id("engine-cycle"), "task": "t", "status": "successful",
                               "inputs": [g1["outputs"][1]], "outputs": [g0["inputs"][0]]}]},
                  "close a cycle"),
        "task": ({"quanta": [dict(copy.deepcopy(g0), task="notIsr")]},
                 "is stored as a quantum of task 'isr'"),
    }
    for name, (part, needle) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"format": good["format"], "version": 1, "run": good["run"],
                                    **part}))
        outcome = ingest(store, "run", [path], show_progress=False).files[0]
        assert outcome.status == "rejected" and needle in outcome.error, (name, outcome.error)
    assert store.count() == before
    again = ingest(store, "run", [tmp_path / "a.json"], show_progress=False).files[0]
    assert again.status == "unchanged", again.error


# --- the loader itself: same answers as json/PyYAML on good input, IngestError otherwise ---------

def _json_values():
    from hypothesis import strategies as st
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=30)


def test_loader_agrees_with_json_and_yaml_on_good_documents():
    import yaml
    from hypothesis import given, settings

    from lineage.ingest import loading

    @settings(max_examples=300, deadline=None)
    @given(_json_values())
    def check(value):
        assert loading.parse_json(json.dumps(value), "x.json") == value
        text = yaml.safe_dump(value)
        assert loading.parse_yaml(text) == yaml.safe_load(text)
    check()


def test_loader_raises_only_its_own_errors_on_garbage():
    import yaml
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from lineage.ingest import loading
    from lineage.ingest.driver import IngestError
    pieces = st.sampled_from(['{', '}', '[', ']', '"a"', ':', ',', '1', '&x ', '*x', '- ',
                              '\n', '  ', 'k: ', '<<: ', '"a": ', '!!binary ', '? ',
                              '2001-13-45', '!!int ', '!!float ', 'x'])

    @settings(max_examples=500, deadline=None)
    @given(st.lists(pieces, max_size=60).map("".join))
    def check(text):
        try:
            loading.parse_json(text, "x.json")
        except (IngestError, json.JSONDecodeError):
            pass
        try:
            loading.load_yaml("x.yaml", text=text)
        except IngestError:
            pass
    check()


def test_impossible_yaml_date_in_an_export_names_its_line(folder_of, repo):
    """PyYAML reads `2014-13-45 12:00:00` as a date and raised ValueError, uncaught."""
    folder = folder_of("butler-export")
    text = (folder / "a-good.yaml").read_text()
    at = text.index("datetime_begin: ")
    line = text[:at].count("\n") + 1
    end = text.index("\n", at)
    bad = folder / "m-date.yaml"
    bad.write_text(text[:at] + "datetime_begin: 2014-13-45 12:00:00" + text[end:])
    assert_rejected(ingest_folder("butler-export", folder, repo), bad, f"line {line}",
                    "cannot read '2014-13-45 12:00:00' as timestamp: month must be in 1..12")

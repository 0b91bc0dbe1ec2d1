"""Rerun plans people can execute (#18): the reprocessing plan (:mod:`.plan`) written as
the commands that run it, and, after the rerun and a ``lineage sync``, the check that
marks it done.

:func:`emit_rerun` turns the plan into **steps**, one per task of the pipeline YAML that
made the contaminated products, in the pipeline's dependency order.  Each step is one
``pipetask run`` of that task (``P.yaml#label``) with the Butler, its input collections,
the output CHAINED collection and the step's own output RUN named, and a data query in
the Butler's expression syntax: the data IDs of exactly the quanta the plan reruns,
without the flagged visits (and flagged detector-visits), so the quanta find their
unflagged inputs only.  ``rerun.sh`` runs the steps in order under ``set -e``; after each
``pipetask run``, ``butler aggregate-graph`` and ``butler ingest-graph`` finalize the RUN
with its provenance graph, which is what ``lineage sync`` reads the quanta from.  With
``bps``, each step is a BPS submit YAML (keys of ctrl_bps's ``bps_defaults.yaml`` only)
and ``submit.sh`` submits them in order.  ``plan.json`` beside them says how many quanta
each step should run.

:func:`mark_done` reads that ``plan.json`` after the rerun was synced: each step's RUN
must hold as many successful quanta of its task as planned and none that failed, and
nothing upstream of what they wrote may be a flagged dataset or of a flagged visit.  Then
the plan is marked done (in ``plan.json``), else the report says what differs.

daf_butler and pipe_base are imported inside the functions that need them (reading the
pipeline, ``--tag``).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import uuid
from collections import defaultdict
from pathlib import Path

from lineage.core.atomic import write_atomic
from lineage.core.butler_repo import source_name
from lineage.core.dataid import DataId
from lineage.core.errors import first_line
from lineage.core.model import GraphBatch, collection_key
from lineage.core.selector import Selector
from lineage.core.time import now_utc_stamp
from lineage.flags import queries
from lineage.flags.core import FlagError, chunks
from lineage.flags.plan import _expr_value, reprocessing_plan
from lineage.flags.records import list_flags
from lineage.traversal.traverse import upstream

#: What ``--emit`` may be: pipetask commands, or BPS submit files.
EMITTERS = ("pipetask", "bps")
#: The files written into the output directory.
PLAN_FILE, SCRIPT, SUBMIT = "plan.json", "rerun.sh", "submit.sh"
#: The quantum status that counts as run.
SUCCESSFUL = "successful"
#: ``kind`` of a plan file, so that ``--done`` refuses another JSON file.
KIND = "lineage rerun plan"
#: The module of pipe_base's mock tasks: their outputs need ``--mock-storage-classes``
#: when the aggregator reads them.
MOCK_TASKS = "lsst.pipe.base.tests.mocks."


def emit_rerun(store, butler: str, pipeline: str, out_dir: str, emit: str = "pipetask",
               output: str | None = None, tag: str | None = None,
               flag_ids=None, bps_includes=()) -> dict:
    """Write the rerun of the active flags' reprocessing plan (of ``flag_ids`` only, if
    given) into the new or empty directory ``out_dir``: ``rerun.sh`` (``emit``
    "pipetask"), or one BPS submit YAML per step and ``submit.sh`` ("bps"); the caller
    writes the document returned beside them as ``plan.json`` (the command line does).
    ``output`` names the output CHAINED collection (default ``rerun/<UTC time>``), each
    step writing the RUN ``<output>/<task>``; ``tag`` creates that TAGGED collection of the
    rerun's clean inputs in the Butler (it must be writeable) and puts it first among the
    inputs.  ``bps_includes``: BPS configs each step's YAML includes (``includeConfigs``:
    the site's WMS and compute site), with ``bps`` only.  Returns the plan document (what
    ``plan.json`` holds)."""
    if emit not in EMITTERS:
        raise FlagError(f"{emit!r}: emit pipetask or bps", field="emit")
    if bps_includes and emit != "bps":
        raise FlagError("BPS configs to include go with BPS files only (emit bps)",
                        field="bps_include")
    butler_name = source_name(butler)
    if "://" not in butler and not os.path.isdir(butler):
        raise FlagError(f"{butler}: no such Butler repository", field="butler")
    directory = Path(out_dir)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise FlagError(f"{out_dir}: exists and is not an empty directory", field="output")
    pipeline_path = os.path.abspath(pipeline)
    order, mocked = pipeline_tasks(pipeline)
    plan = reprocessing_plan(store, flag_ids)
    if not plan["rerun"]:
        raise FlagError("nothing to rerun: no contaminated quantum has unflagged science "
                        f"inputs left ({len(plan['dropped'])} dropped)")
    _check_source(store, plan, butler_name)
    exclusions, not_excluded = excluded_units(store, plan)
    output = output or f"rerun/{now_utc_stamp().replace('-', '').replace(':', '')[:15]}Z"
    by_task: dict[str, list[dict]] = defaultdict(list)
    for entry in plan["rerun"]:
        by_task[entry["task"]].append(entry)
    unknown = sorted(set(by_task) - set(order))
    if unknown:
        raise FlagError(f"{pipeline}: has no task {', '.join(map(repr, unknown))}, which the "
                        "plan reruns; give the pipeline that made the contaminated products",
                        field="pipeline", file=pipeline)
    steps = []
    for label in (t for t in order if t in by_task):
        entries = by_task[label]
        steps.append({
            "step": len(steps) + 1, "task": label, "pipeline": f"{pipeline_path}#{label}",
            "quanta": len(entries), "output_run": f"{output}/{label}",
            "data_query": step_query([DataId.parse(e["data_id"]) for e in entries],
                                     exclusions),
            "replaces": [e["quantum"] for e in entries]})
    clean = clean_inputs(plan)
    inputs = input_runs(store, clean)
    tagged = None
    if tag:
        tag_datasets(butler, tag, clean, plan["flags"])
        inputs = [tag, *inputs]
        tagged = {"collection": tag, "datasets": len(clean)}
    document = {"kind": KIND, "created_at": now_utc_stamp(), "flags": plan["flags"],
                "butler": butler_name, "pipeline": pipeline_path, "emit": emit,
                "output": output, "inputs": inputs, "tag": tagged,
                "excluded": {i: {"visits": v, "detector_visits": [list(p) for p in dv]}
                             for i, (v, dv) in sorted(exclusions.items())},
                "not_excluded": not_excluded, "steps": steps, "status": "emitted",
                "bps_includes": [os.path.abspath(f) for f in bps_includes],
                "done": None, "plan": plan}
    directory.mkdir(parents=True, exist_ok=True)
    if emit == "pipetask":
        write_atomic(directory / SCRIPT, rerun_script(document, mocked), mode=0o755)
    else:
        for step in steps:
            write_atomic(directory / bps_file(step), bps_yaml(document, step, mocked, directory))
        write_atomic(directory / SUBMIT, submit_script(document), mode=0o755)
    return document


def pipeline_tasks(pipeline: str) -> tuple[list[str], bool]:
    """The task labels of a pipeline YAML in dependency order (pipe_base reads it, so a
    label is what ``pipetask`` will run), and whether every task is a pipe_base mock."""
    if "#" in pipeline:
        raise FlagError(f"{pipeline}: give the whole pipeline; each step is one of its "
                        "tasks", field="pipeline", file=pipeline)
    if not os.path.isfile(pipeline):
        raise FlagError(f"{pipeline}: no such pipeline file", field="pipeline", file=pipeline)
    try:
        from lsst.pipe.base import Pipeline
    except ImportError:
        raise FlagError("rerun plans need lsst-pipe-base to read the pipeline: pip install "
                        "'survey-lineage[butler]'", field="pipeline") from None
    try:
        graph = Pipeline.from_uri(os.path.abspath(pipeline)).to_graph()
        graph.sort()
    except Exception as exc:  # noqa: BLE001 - pipe_base raises whatever reading it meets
        raise FlagError(f"{pipeline}: not a pipeline pipe_base can read: "
                        f"{type(exc).__name__}: {first_line(exc)}", field="pipeline",
                        file=pipeline) from None
    tasks = graph.tasks
    return list(tasks.keys()), all(t.task_class_name.startswith(MOCK_TASKS)
                                   for t in tasks.values())


def _check_source(store, plan: dict, butler_name: str) -> None:
    """The quanta to rerun must come from the Butler given, when the graph knows where
    their RUNs were synced from."""
    runs = sorted({e["run"] for e in plan["rerun"]})
    found = store.nodes("Collection", [collection_key(r) for r in runs])
    for run in runs:
        source = found.get(collection_key(run), {}).get("butler_repo")
        if source and source != butler_name:
            raise FlagError(f"{butler_name}: the plan's RUN {run} was synced from another "
                            f"Butler ({source})", field="butler")


def excluded_units(store, plan: dict) -> tuple[dict, list[str]]:
    """What the data queries leave out, per instrument: the visits of every active flag
    (as the plan drops every flagged input, not only those of its flags) that name a
    visit or a dataset of one visit, and the flagged detector-visits of other visits:
    ``{instrument: (visits, [(visit, detector), ...])}``; and the flagged datasets neither
    covers (a calibration, a coadd), which a data query cannot name."""
    visits: dict[str, set[str]] = defaultdict(set)
    pairs: dict[str, set[tuple[str, str]]] = defaultdict(set)
    active = [f["key"] for f in list_flags(store)]
    for instrument, value in queries.flagged_units(store, active, "visit"):
        if instrument:
            visits[instrument].add(value)
    flagged = plan["excluded_datasets"]
    found = {}
    for chunk in chunks(flagged):
        found.update(store.nodes("Dataset", chunk))
    not_excluded = []
    for key in flagged:
        d = DataId.parse(found.get(key, {}).get("data_id"))
        if "visit" in d and "instrument" in d and "detector" not in d:
            visits[d["instrument"]].add(d["visit"])
        elif "visit" in d and "instrument" in d:
            pairs[d["instrument"]].add((d["visit"], d["detector"]))
        else:
            not_excluded.append(key)
    out = {}
    for instrument in sorted(set(visits) | set(pairs)):
        shown = sorted(visits[instrument], key=_natural)
        rest = sorted((p for p in pairs[instrument] if p[0] not in visits[instrument]),
                      key=lambda p: (_natural(p[0]), _natural(p[1])))
        out[instrument] = (shown, rest)
    return out, not_excluded


def _natural(value: str):
    return (0, int(value), "") if value.lstrip("-").isdigit() else (1, 0, value)


def step_query(data_ids: list[DataId], exclusions: dict) -> str:
    """The Butler data query of one step: the data IDs of its quanta, without the
    excluded visits and detector-visits of their instrument.  Visits are constrained
    with their instrument, as the Butler requires."""
    by_instrument: dict[str | None, list[DataId]] = defaultdict(list)
    for d in data_ids:
        by_instrument[d.get("instrument")].append(d)
    if None in by_instrument:   # quanta without an instrument (a coadd of tracts)
        unbound = by_instrument.pop(None)
        if len(exclusions) > 1:
            raise FlagError("the flagged visits are of several instruments and some quanta "
                            "have none in their data ID: plan one instrument's flags at a "
                            "time", field="flag_ids")
        if not exclusions:
            return _cover(unbound)
        by_instrument[next(iter(exclusions))].extend(unbound)
    clauses = []
    for instrument, ids in sorted(by_instrument.items()):
        parts = [f"instrument = {_expr_value(instrument)}", _parenthesized(_cover(ids))]
        visits, pairs = exclusions.get(instrument, ([], []))
        left_out = ([f"visit IN ({', '.join(visits)})"] if visits else []) + \
            [f"(visit = {v} AND detector = {d})" for v, d in pairs]
        if left_out:
            parts.append(f"NOT ({' OR '.join(left_out)})")
        clauses.append(" AND ".join(parts))
    return clauses[0] if len(clauses) == 1 else " OR ".join(f"({c})" for c in clauses)


def _cover(data_ids: list[DataId]) -> str:
    """The data IDs (instrument aside) as a Butler expression: ``detector IN (1, 3)``
    when they differ in one dimension only, else one parenthesized AND per data ID."""
    rows = sorted({tuple(sorted((k, v) for k, v in d.items() if k != "instrument"))
                   for d in data_ids}, key=lambda r: [(k, _natural(v)) for k, v in r])
    names = {tuple(k for k, _ in r) for r in rows}
    if len(names) == 1 and len(next(iter(names))) == 1:
        name = next(iter(names))[0]
        return f"{name} IN ({', '.join(_expr_value(r[0][1]) for r in rows)})"
    return " OR ".join("(" + " AND ".join(f"{k} = {_expr_value(v)}" for k, v in r) + ")"
                       for r in rows)


def _parenthesized(expression: str) -> str:
    return f"({expression})" if " OR " in expression else expression


def clean_inputs(plan: dict) -> list[str]:
    """Keys of the datasets the rerun reads that it does not make itself: the unflagged
    inputs of its quanta that no quantum of the plan writes."""
    made = {d for e in plan["rerun"] for d in e["outputs"]}
    return sorted({d for e in plan["rerun"] for d in e["inputs"] if d not in made})


def input_runs(store, clean: list[str]) -> list[str]:
    """The RUNs holding the clean inputs, by name: the rerun's input collections."""
    runs = set()
    for chunk in chunks(clean):
        runs |= {props.get("run") for props in store.nodes("Dataset", chunk).values()}
    return sorted(r for r in runs if r)


def tag_datasets(butler: str, tag: str, keys: list[str], flags: list[str]) -> None:
    """Create the TAGGED collection ``tag`` in the Butler at ``butler`` (opened writeable)
    holding the datasets ``keys``; refused if the Butler has a collection of that name or
    lacks one of the datasets."""
    from lsst.daf.butler import Butler, CollectionType, MissingCollectionError
    quiet = logging.getLogger("lsst.daf.butler")
    level, quiet.level = quiet.level, logging.CRITICAL
    try:
        handle = Butler.from_config(butler, writeable=True)
    except Exception as exc:  # noqa: BLE001 - daf_butler raises whatever its layers raise
        raise FlagError(f"{butler}: not a writeable Butler repository: "
                        f"{type(exc).__name__}: {first_line(exc)}", field="butler") from None
    finally:
        quiet.level = level
    with handle:
        try:
            handle.collections.get_info(tag)
        except MissingCollectionError:
            pass
        else:
            raise FlagError(f"{tag}: the Butler already has a collection of that name",
                            field="tag")
        refs = []
        for key in keys:
            ref = handle.get_dataset(uuid.UUID(key.split(":", 1)[1]))
            if ref is None:
                raise FlagError(f"{key}: not in the Butler {butler}", field="tag")
            refs.append(ref)
        with handle.transaction():
            handle.collections.register(tag, CollectionType.TAGGED,
                                        doc=f"clean inputs of the rerun of {', '.join(flags)}")
            handle.registry.associate(tag, refs)


# --- the files ----------------------------------------------------------------------------

def _header(document: dict, what: str) -> list[str]:
    """The start of both scripts: what they are, ``set -eu``, and ``check_quanta``, which
    stops the script when a step's RUN holds another number of successful quanta of its
    task than planned (each successful quantum writes one ``TASK_metadata``)."""
    butler = shlex.quote(document["butler"])
    return ["#!/bin/sh",
            f"# {what}, written by `lineage flags plan --emit {document['emit']}` at "
            f"{document['created_at']} (UTC)",
            f"# flags: {', '.join(document['flags'])}",
            f"# {len(document['steps'])} steps; the quanta each should run are in plan.json.",
            "set -eu", 'here=$(cd "$(dirname "$0")" && pwd)', "",
            "check_quanta() {  # task $1 ran $3 quanta successfully in the RUN $2, as planned",
            f"  ran=$(butler query-datasets {butler} \"$1_metadata\" --collections \"$2\" "
            "| grep -c \" $2 \" || true)",
            '  if [ "$ran" -ne "$3" ]; then',
            '    echo "step $1: $ran quanta succeeded in $2, the plan says $3" >&2; exit 1',
            "  fi", "}"]


def _shell_word(text: str) -> str:
    """``text`` as one shell word that reads well: in double quotes when nothing in it is
    special there (a data query's 'strings'), else as :func:`shlex.quote` makes it."""
    if any(c in text for c in '$`"\\!'):
        return shlex.quote(text)
    return f'"{text}"' if shlex.quote(text) != text else text


def _script(document: dict, what: str, preamble: list[str], commands) -> str:
    """A script: the header, ``preamble``, then per step ``commands(step)`` (its lines)
    and ``check_quanta``; last, what to do next."""
    q = shlex.quote
    lines = _header(document, what) + preamble
    for step in document["steps"]:
        lines += ["", f"# step {step['step']}: {step['task']}, {step['quanta']} quanta",
                  *commands(step),
                  f"check_quanta {q(step['task'])} {q(step['output_run'])} {step['quanta']}"]
    lines += ["", f"echo \"rerun done: now lineage sync {document['butler']} and "
                  "lineage flags plan --done $here/plan.json\""]
    return "\n".join(lines) + "\n"


def rerun_script(document: dict, mocked: bool) -> str:
    """``rerun.sh``: per step, ``pipetask run``, then the aggregator and ``ingest-graph``
    make its RUN finalized with its provenance graph (``pipetask run`` writes none), then
    ``check_quanta`` compares the quanta run with the plan's."""
    q = shlex.quote
    butler, inputs = q(document["butler"]), q(",".join(document["inputs"]))
    mock = " --mock-storage-classes" if mocked else ""

    def commands(step: dict) -> list[str]:
        name = f"{step['step']}-{step['task']}"
        return [f"pipetask run -b {butler} -p {q(step['pipeline'])} -i {inputs} "
                f"-o {q(document['output'])} --output-run {q(step['output_run'])} "
                f"-d {_shell_word(step['data_query'])} --save-qgraph \"$here/{name}.qg\"",
                f"butler aggregate-graph \"$here/{name}.qg\" {butler} "
                f"-o \"$here/{provenance_file(step)}\"{mock}",
                f"butler ingest-graph {butler} \"$here/{provenance_file(step)}\" -t copy"]
    return _script(document, "The rerun plan as pipetask commands", [], commands)


def bps_file(step: dict) -> str:
    """The name of a step's BPS submit YAML: ``1-assembleCoadd.yaml``."""
    return f"{step['step']}-{step['task']}.yaml"


def provenance_file(step: dict) -> str:
    """The name of the provenance graph the aggregator writes for a step (both scripts
    ingest it with ``butler ingest-graph``): ``1-assembleCoadd-provenance.qg``."""
    return f"{step['step']}-{step['task']}-provenance.qg"


def bps_yaml(document: dict, step: dict, mocked: bool = False, directory: Path = Path(".")) -> str:
    """One step as a BPS submit YAML: only keys ctrl_bps documents (``pipelineYaml``,
    ``project``, ``campaign``, and under ``payload`` the Butler, input collections, data
    query and output collections; the final job's ``extraAggregateOptions``: the
    aggregator writes the provenance graph into ``directory``, which ``submit.sh``
    ingests, and reads pipe_base's mock outputs only with ``--mock-storage-classes``)."""
    import yaml
    submit = {"pipelineYaml": step["pipeline"], "project": "lineage-rerun",
              "campaign": document["output"],
              "payload": {"payloadName": f"{document['output']}/{step['task']}",
                          "butlerConfig": document["butler"],
                          "inCollection": ",".join(document["inputs"]),
                          "dataQuery": step["data_query"],
                          "output": document["output"],
                          "outputRun": step["output_run"]}}
    aggregate = f"-o {shlex.quote(str(Path(directory).resolve() / provenance_file(step)))}"
    submit["finalJob"] = {"extraAggregateOptions": aggregate + (" --mock-storage-classes"
                                                                if mocked else "")}
    if document.get("bps_includes"):
        submit["includeConfigs"] = list(document["bps_includes"])
    comment = (f"# step {step['step']} of the rerun plan (lineage flags plan --emit bps, "
               f"{document['created_at']} UTC): {step['task']}, {step['quanta']} quanta\n")
    return comment + yaml.safe_dump(submit, sort_keys=False, width=10**6)


def submit_script(document: dict) -> str:
    """``submit.sh``: ``bps submit`` of each step in order.  BPS returns once a workflow
    is submitted, so before the next step it waits until the step's RUN is in the output
    chain, which BPS's final job (``butler aggregate-graph --update-output-chain``) puts
    there when the workflow has ended, ingests the provenance graph that job wrote (the
    RUN's ``run_provenance``, which ``lineage sync`` reads the quanta from), and checks
    its quanta as ``rerun.sh`` does."""
    q = shlex.quote
    wait = ["", "wait_for_run() {  # until RUN $1 is in the output chain",
            f"  until butler query-collections {q(document['butler'])} "
            f"{q(document['output'])} --chains TREE 2>/dev/null | grep -q \" $1 \"; do "
            "sleep \"${LINEAGE_BPS_POLL:-60}\"; done", "}"]
    return _script(document, "The rerun plan as BPS submissions", wait,
                   lambda step: [f"bps submit \"$here/{bps_file(step)}\"",
                                 f"wait_for_run {q(step['output_run'])}",
                                 f"butler ingest-graph {q(document['butler'])} "
                                 f"\"$here/{provenance_file(step)}\" -t copy"])


# --- after the rerun ------------------------------------------------------------------------

def read_plan(path: str) -> dict:
    """A ``plan.json`` :func:`emit_rerun` wrote; one-line errors naming the file."""
    try:
        document = json.loads(Path(path).read_text())
    except OSError as exc:
        raise FlagError(f"{path}: {exc.strerror}", field="done", file=path) from None
    except ValueError as exc:
        raise FlagError(f"{path}: not JSON: {exc}", field="done", file=path) from None
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise FlagError(f"{path}: not a rerun plan (the {PLAN_FILE} written beside a "
                        "rerun's script)", field="done", file=path)
    return document


def mark_done(store, document: dict, path: str) -> dict:
    """Check a rerun against its plan (``document``, read from ``path`` by
    :func:`read_plan`) in the synced graph and, if it holds, mark the document done (the
    caller writes it back).  Returns the check: per step the planned and successful quanta
    and the other statuses, the products, the flagged datasets found upstream of them,
    and ``done``."""
    runs = [s["output_run"] for s in document["steps"]]
    known = store.nodes("Collection", [collection_key(r) for r in runs])
    missing = [r for r in runs if collection_key(r) not in known]
    if missing:
        raise FlagError(f"{path}: the graph has no RUN {', '.join(missing)}: lineage sync "
                        f"{document['butler']} first", field="done", file=path)
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    tasks = sorted({s["task"] for s in document["steps"]})
    for run, task, status, quanta in queries.quanta_of_runs(store, runs, tasks):
        counts[(run, task)][status or "unknown"] = quanta
    steps = []
    for step in document["steps"]:
        statuses = counts[(step["output_run"], step["task"])]
        ran = statuses.get(SUCCESSFUL, 0)
        others = {s: n for s, n in sorted(statuses.items()) if s != SUCCESSFUL}
        steps.append({"step": step["step"], "task": step["task"], "run": step["output_run"],
                      "planned": step["quanta"], "ran": ran, "other": others,
                      "ok": ran == step["quanta"] and not others})
    products = queries.products_of_runs(store, runs, tasks)
    flagged_upstream = _flagged_upstream(store, document, products)
    done = all(s["ok"] for s in steps) and bool(products) and not flagged_upstream
    check = {"plan": str(path), "steps": steps, "products": len(products),
             "flagged_upstream": flagged_upstream, "done": done}
    if done:
        check["superseded"] = _record_superseded(store, document, path)
        document["status"] = "done"
        document["done"] = {"at": now_utc_stamp(), "steps": steps, "products": len(products)}
    return check


def _record_superseded(store, document: dict, path: str) -> int:
    """Mark the quanta each step replaced ``superseded_by`` the step's RUN, in one
    all-or-nothing unit, so the next plan does not list them again (their outputs stay
    contaminated: that is history).  Marking twice writes the same values."""
    batch = GraphBatch(f"{path} (rerun carried out)")
    replaced = {q: step["output_run"] for step in document["steps"]
                for q in step.get("replaces", ())}
    for quantum in sorted(store.existing_keys(list(replaced))):   # never a new bare node
        batch.add_node(quantum, superseded_by=replaced[quantum])
    if batch.nodes:
        store.write(batch)
    return len(batch.nodes)


def _flagged_upstream(store, document: dict, products: list[str]) -> list[dict]:
    """The datasets upstream of ``products`` that the plan excluded: flagged ones, and any
    of a flagged visit or detector-visit."""
    if not products:
        return []
    excluded = set(document["plan"]["excluded_datasets"])
    found = []
    rows = upstream(store, Selector(text=f"products of {document['output']}",
                                    keys=tuple(sorted(products))))
    for row in rows:
        d = DataId.parse(row.data_id)
        visits = document["excluded"].get(d.get("instrument"), {})
        if row.key in excluded or d.get("visit") in visits.get("visits", []) or \
                [d.get("visit"), d.get("detector")] in visits.get("detector_visits", []):
            found.append(row.as_dict())
    return found

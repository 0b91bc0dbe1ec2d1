"""The Data Release Board workflow (docs/flags.md): flag, unflag, contaminated, flags ..."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lineage import flags as flagging
from lineage.core.atomic import write_atomic
from lineage.cli.output import Column, console, counts_table, emit, json_ready, print_json, table
from lineage.cli.common import Repo, CliError, call, format_option, json_option, repo_option
from lineage.core.dataid import data_id_object


def _blast_radius_view(title: str, radius: dict) -> None:
    counts_table(title, radius["by_dataset_type"])
    if "by_tract_band" in radius:
        table("By tract and band", ["tract", "band", "datasets"],
              [(r["tract"] or "-", r["band"] or "-", r["datasets"])
               for r in radius["by_tract_band"]])
    table("Most affected products", ["dataset type", "data ID", "run", "steps", "fraction",
                                     "UUID"],
          [(r["dataset_type"], data_id_object(r["data_id"]), r["run"], r["steps"],
            f"{r['fraction']:.4f}",
            r["key"].split(":", 1)[1]) for r in radius["most_affected"]],
          f"{radius['flagged']} datasets flagged, {radius['datasets']} datasets and "
          f"{radius['quanta']} quanta contaminated")


@click.command("flag")
@click.argument("selector")
@repo_option
@click.option("--verdict", required=True, metavar="bad|suspect", help="bad or suspect.")
@click.option("--reason", required=True, help="Why (free text).")
@click.option("--evidence", required=True, metavar="URI_OR_FILE",
              help="A URI, or a file (recorded as a file URI with its SHA-256).")
@click.option("--by", "by", required=True, help="Who flags.")
@click.option("--authority", default="", help="On whose authority (default: --by), e.g. DRB.")
@click.option("--dry-run", is_flag=True, help="Only print the blast radius; write nothing.")
@json_option
def flag_command(selector, repo, verdict, reason, evidence, by, authority, dry_run, as_json):
    """Flag a visit, exposure, detector-visit, dataset or quantum as bad or suspect, and mark
    everything downstream of it as contaminated (SELECTOR as for `downstream`)."""
    with Repo(repo) as store:
        report = call(flagging.flag, store, selector, verdict, reason, evidence, by,
                      authority, dry_run)
    if as_json:
        print_json(report)
        return
    verb = "would flag" if dry_run else "flagged"
    _blast_radius_view(f"{verb} {selector} as {verdict}: blast radius",
                       report["blast_radius"])
    if dry_run:
        console().print("dry run: nothing written")
    else:
        console().print(f"wrote [bold]{report['flag']}[/bold] at {report['created_at']} (UTC)")


@click.command("unflag")
@click.argument("flag_id")
@repo_option
@click.option("--reason", required=True, help="Why the flag is retracted.")
@click.option("--by", "by", required=True, help="Who retracts.")
@json_option
def unflag_command(flag_id, repo, reason, by, as_json):
    """Retract a flag (recorded on it; nothing is deleted)."""
    with Repo(repo) as store:
        record = call(flagging.unflag, store, flag_id, reason, by)
    if as_json:
        print_json(record)
    else:
        console().print(f"retracted {record['key']} at {record['retracted_at']} (UTC)")


@click.command("contaminated")
@click.argument("selector")
@repo_option
@click.option("--as-of", default=None, metavar="TIME|RELEASE",
              help="Flags active at this UTC date/time or release instead of now.")
@format_option
def contaminated_command(selector, repo, as_of, fmt):
    """Is this dataset or quantum contaminated, by which flags, how much?

    A flag's fraction is how much of what the product was made from comes from the flagged
    data, traced back step by step: each step averages its science inputs' fractions (an
    input the flag does not reach counts 0; a coadd weights its warps by their calexps, so
    its fraction is the share of its input calexps that are flagged). 1: flagged itself or
    made only from flagged data. Not a share of pixels or sources; never summed over flags
    (docs/flags.md, "Fractions")."""
    with Repo(repo) as store:
        answer = call(flagging.contamination, store, selector, as_of)
        for mark in answer["by"]:  # why each flag was raised (a few flags: one lookup each)
            mark["reason"] = call(flagging.find_flag, store, mark["flag"]).get("reason")
    if fmt != "table" or answer["by"]:  # one row per flag that marks it
        emit(fmt, f"{answer['key']}: contaminated ({answer['verdict']})", answer["by"],
             [Column("flag", "flag"), Column("verdict", "verdict"), Column("steps", "steps"),
              Column("fraction", lambda m: f"{m['fraction']:.4f}"),
              Column("reason", "reason", wrap=True)], document=answer)
        return
    if not answer["by"]:
        console().print(f"{answer['key']}: not contaminated"
                        + (f" as of {as_of}" if as_of else ""))
        return


@click.group("flags")
def flags_group() -> None:
    """List, move, plan around and inspect flags."""


@flags_group.command("list")
@repo_option
@click.option("--as-of", default=None, metavar="TIME|RELEASE",
              help="Flags active at this UTC date/time or release.")
@click.option("--all", "include_retracted", is_flag=True, help="Retracted flags too.")
@format_option
def flags_list(repo, as_of, include_retracted, fmt):
    """Active flags (now, or as of a time or release)."""
    with Repo(repo) as store:
        rows = call(flagging.list_flags, store, as_of, include_retracted)
    emit(fmt, "Flags" + (f" as of {as_of}" if as_of else ""), rows,
         [Column("flag", "key"), Column("verdict", "verdict"), Column("selector", "selector"),
          Column("reason", "reason", wrap=True), Column("by", "by", wrap=True),
          Column("authority", "authority", wrap=True), Column("created (UTC)", "created_at"),
          Column("retracted (UTC)", "retracted_at")], f"{len(rows)} flags")


@flags_group.command("show")
@click.argument("flag_id")
@repo_option
@format_option
def flags_show(flag_id, repo, fmt):
    """One flag with its history and how many nodes it marks."""
    with Repo(repo) as store:
        record = call(flagging.find_flag, store, flag_id)
        marks = call(flagging.marks, store, record["key"])
    record["marked_datasets"] = sum(1 for k in marks if k.startswith("dataset:"))
    record["marked_quanta"] = sum(1 for k in marks if k.startswith("quantum:"))
    if fmt == "table":
        table(f"Flag {record['key']}", ["property", "value"],
              [(k, v) for k, v in record.items() if k != "key"])
    else:  # CSV and ECSV: the flag as one row
        emit(fmt, "", [record], [], document=record)


#: Characters of a data-ID expression ``flags plan`` shows in its table; a longer one is
#: named by its size, and is whole in the plan's JSON.
LONG_EXPRESSION = 400


@flags_group.command("plan")
@repo_option
@click.option("--flag", "flag_ids", multiple=True, help="Only these flags (default: all active).")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Write the plan as JSON to this file; with --emit, the directory (new or "
                   "empty) to write the rerun into.")
@click.option("--emit", "emit_kind", type=click.Choice(flagging.EMITTERS), default=None,
              help="Write the rerun to run: pipetask (OUTPUT/rerun.sh) or bps (a BPS submit "
                   "YAML per step and OUTPUT/submit.sh), with OUTPUT/plan.json.")
@click.option("--butler", metavar="REPO", default=None,
              help="With --emit: the Butler repository the flagged data was synced from.")
@click.option("--pipeline", metavar="P.yaml", default=None,
              help="With --emit: the pipeline YAML that made the contaminated products; "
                   "each step reruns one of its tasks (P.yaml#label).")
@click.option("--collection", "output_collection", metavar="NAME", default=None,
              help="With --emit: the output CHAINED collection; step TASK writes the RUN "
                   "NAME/TASK (default rerun/<UTC time>).")
@click.option("--tag", metavar="COLLECTION", default=None,
              help="With --emit: create this TAGGED collection of the rerun's clean inputs "
                   "in the Butler (needs a writeable Butler) and read the inputs from it "
                   "first.")
@click.option("--bps-include", "bps_includes", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, exists=True),
              help="With --emit bps: a BPS config each step's YAML includes (includeConfigs), "
                   "such as the site's: its WMS and compute site. Repeatable.")
@click.option("--done", "done_plan", metavar="PLAN.json", type=click.Path(dir_okay=False),
              default=None,
              help="After the rerun and a lineage sync of it: check each step's RUN against "
                   "the plan (quanta run, nothing flagged upstream of the products) and mark "
                   "the plan done; exit status 1 if they differ.")
@format_option
def flags_plan(repo, flag_ids, output, emit_kind, butler, pipeline, output_collection, tag,
               bps_includes, done_plan, fmt):
    """Quanta to rerun without the flagged inputs, in dependency order (LDF101 e); with
    --emit, the commands that rerun them; with --done, the check after the rerun."""
    if done_plan:
        _plan_done(repo, done_plan, fmt)
        return
    if emit_kind:
        _plan_emit(repo, flag_ids, output, emit_kind, butler, pipeline, output_collection, tag,
                   bps_includes, fmt)
        return
    for name, value in (("--butler", butler), ("--pipeline", pipeline),
                        ("--collection", output_collection), ("--tag", tag),
                        ("--bps-include", bps_includes)):
        if value:
            raise CliError(f"{name} goes with --emit")
    with Repo(repo) as store:
        plan = call(flagging.reprocessing_plan, store, flag_ids or None)
    if output:
        _write_json(output, plan)
    if fmt != "table":  # CSV and ECSV: one row per quantum to rerun
        emit(fmt, "", plan["rerun"], [], document=plan)
        return
    per_task: dict[str, int] = {}
    for e in plan["rerun"]:
        per_task[e["task"]] = per_task.get(e["task"], 0) + 1
    table("Quanta to rerun, by task (in dependency order of first appearance)",
          ["task", "quanta"], list(per_task.items()),
          f"{len(plan['rerun'])} to rerun, {len(plan['dropped'])} dropped (no unflagged "
          f"science inputs left), {len(plan['superseded'])} already rerun (superseded), "
          f"{len(plan['excluded_datasets'])} flagged datasets excluded")
    expressions = plan["data_queries"].items()
    table("Data-ID expressions", ["task", "expression"],
          [(t, e if len(e) <= LONG_EXPRESSION else
            f"[italic]{e.count(' OR ') + 1} data IDs ({len(e):,} characters)[/italic]")
           for t, e in expressions],
          f"an expression over {LONG_EXPRESSION} characters is named by its size; every "
          "expression is whole in -o FILE and --format json"
          if any(len(e) > LONG_EXPRESSION for _, e in expressions) else None)
    if output:
        console().print(f"wrote the plan to {output}")


def _write_json(path, document) -> None:
    """A plan (its data IDs as objects) as JSON in the file ``path`` (``-``: standard
    output), written whole or not at all: ``--done`` rewrites a plan in place."""
    text = json.dumps(json_ready(document), indent=2, sort_keys=True) + "\n"
    try:
        if str(path) == "-":
            click.echo(text, nl=False)
        else:
            write_atomic(Path(path), text)
    except OSError as exc:
        raise CliError(f"-o {path}: {exc.strerror}") from None


def _plan_emit(repo, flag_ids, output, emit_kind, butler, pipeline, output_collection, tag,
               bps_includes, fmt) -> None:
    """``flags plan --emit``: the rerun's files and plan.json in OUTPUT, and its steps."""
    for name, value in (("-o", output), ("--butler", butler), ("--pipeline", pipeline)):
        if not value:
            raise CliError(f"--emit needs {name}")
    with Repo(repo) as store:
        document = call(flagging.emit_rerun, store, butler, pipeline, output, emit_kind,
                        output_collection, tag, flag_ids or None, bps_includes)
    _write_json(Path(output) / flagging.PLAN_FILE, document)
    emit(fmt, f"Rerun steps (lineage flags plan --emit {emit_kind})", document["steps"],
         [Column("step", "step"), Column("task", "task"), Column("quanta", "quanta"),
          Column("output RUN", "output_run"), Column("data query", "data_query", wrap=True)],
         f"inputs {', '.join(document['inputs'])}; output {document['output']}",
         document=document)
    if fmt == "table":
        ran = flagging.SCRIPT if emit_kind == "pipetask" else flagging.SUBMIT
        if document["not_excluded"]:
            console().print(f"note: {len(document['not_excluded'])} flagged datasets have no "
                            "visit, so no data query leaves them out (plan.json "
                            "not_excluded)")
        if document["tag"]:
            console().print(f"tagged {document['tag']['datasets']} clean inputs in "
                            f"{document['tag']['collection']}")
        console().print(f"wrote {Path(output) / ran} and {Path(output) / flagging.PLAN_FILE}")


def _plan_done(repo, path, fmt) -> None:
    """``flags plan --done``: the rerun checked against its plan; the plan marked done."""
    document = call(flagging.read_plan, path)
    with Repo(repo) as store:
        check = call(flagging.mark_done, store, document, path)
    if check["done"]:
        _write_json(path, document)
    emit(fmt, f"Rerun of {path}", check["steps"],
         [Column("step", "step"), Column("task", "task"), Column("RUN", "run"),
          Column("planned", "planned"), Column("ran", "ran"),
          Column("other statuses",
                 lambda s: ", ".join(f"{k} {n}" for k, n in s["other"].items())),
          Column("as planned", lambda s: "yes" if s["ok"] else "NO")],
         f"{check['products']} products, {len(check['flagged_upstream'])} flagged datasets "
         "upstream of them", document=check)
    if fmt == "table":
        console().print(f"plan marked done in {path}; {check['superseded']} quanta it "
                        "replaced are marked superseded_by its RUNs (the next plan leaves "
                        "them out)" if check["done"] else
                        "the rerun differs from the plan: not marked done")
    if not check["done"]:
        sys.exit(1)


@flags_group.command("inputs")
@click.argument("selector")
@repo_option
@click.option("--type", "types", multiple=True, help="Only these input dataset types.")
@click.option("--without-flagged", is_flag=True, help="Leave flagged inputs out.")
@format_option
def flags_inputs(selector, repo, types, without_flagged, fmt):
    """Every input of a product, flagged ones marked: rebuild it with or without them (LDF102)."""
    types = [t for group in types for t in group.split(",") if t] or None
    with Repo(repo) as store:
        rows = call(flagging.inputs_for, store, selector, types)
    if without_flagged:
        rows = [r for r in rows if not r["flagged"]]
    n = sum(r["flagged"] for r in rows)
    emit(fmt, f"Inputs of {selector}", rows,
         [Column("dataset type", "dataset_type"), Column("data ID", "data_id"),
          Column("run", "run"), Column("steps", "steps"),
          Column("flagged", lambda r: "FLAGGED" if r["flagged"] else ""),
          Column("UUID", lambda r: r["key"].split(":", 1)[1])],
         f"{len(rows)} inputs, {n} flagged")


@flags_group.command("recompute")
@click.argument("flag_id")
@repo_option
@json_option
def flags_recompute(flag_id, repo, as_json):
    """Propagate a flag again (after new processing) and replace its marks."""
    with Repo(repo) as store:
        report = call(flagging.recompute, store, flag_id)
    if as_json:
        print_json(report)
    else:
        console().print(f"{report['flag']}: {report['marked']} marks, {report['removed']} removed")


@flags_group.command("block")
@click.argument("dataset")
@click.argument("quantum")
@repo_option
@click.option("--reason", required=True, help="Why the step rejected the input.")
@click.option("--by", "by", required=True, help="Who records it.")
@json_option
def flags_block(dataset, quantum, repo, reason, by, as_json):
    """Record that QUANTUM rejected input DATASET: contamination does not flow through it."""
    with Repo(repo) as store:
        report = call(flagging.block_input, store, dataset, quantum, reason, by)
    if as_json:
        print_json(report)
    else:
        console().print(f"blocked {dataset} -> {quantum}; recomputed "
                        f"{len(report['recomputed'])} flags")


@flags_group.command("export")
@repo_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-",
              help="File to write (default: standard output).")
def flags_export(repo, output):
    """Write every flag, its history, targets and rejected inputs (JSON lines)."""
    with Repo(repo) as store, click.open_file(output, "w") as out:
        n = call(flagging.export_flags, store, out)
    if output != "-":
        console().print(f"wrote {n} records to {output}")


@flags_group.command("import")
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True))
@repo_option
@json_option
def flags_import(path, repo, as_json):
    """Read a flags export (all or nothing) and propagate the flags here."""
    import io
    try:
        with click.open_file(path, "r") as f:
            text = f.read()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    with Repo(repo) as store:
        report = call(flagging.import_flags, store, io.StringIO(text), path)
    if as_json:
        print_json(report)
    else:
        console().print(f"imported {report['flags']} flags ({report['edges']} edges) from {path}; "
                        "contamination recomputed")


# --- the GraphQL API (docs/api.md) ---------------------------------------------------

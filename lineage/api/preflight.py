"""GraphQL pre-flight (docs/preflight.md): ``preflight(graph, failOn)``.

A client names a predicted quantum graph by its file name in the server's pre-flight
directory (``lineage serve --preflight-dir DIR``), where operators or a submission
service put what ``pipetask qgraph --save-qgraph`` wrote; a client never names a path,
so the server opens only files its operator put there.  The report is the one ``lineage
preflight --json`` prints (data IDs as text), with the gate typed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import graphene
from graphene.types.generic import GenericScalar

from lineage.preflight import preflight as check_predicted_graph
from lineage.api.errors import ApiError, argument

#: A graph's name in the pre-flight directory: a plain file name ending in ``.qg``.
GRAPH_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,200}\.qg")


class PreflightGate(graphene.ObjectType):
    """Whether the graph may be submitted: ``failed`` when an input is at ``failOn`` or
    worse (bad > suspect > contaminated)."""

    fail_on = graphene.String()
    worst = graphene.String(description="The worst level of any input (None: all clean).")
    failed = graphene.Boolean(required=True)


class PreflightReport(graphene.ObjectType):
    """A predicted graph checked against the lineage graph before it runs."""

    graph = graphene.String(required=True, description="Its name in the pre-flight directory.")
    gate = graphene.Field(PreflightGate, required=True)
    totals = GenericScalar(required=True, description="Counts of quanta and findings.")
    tasks = GenericScalar(required=True, description="Per task: its quanta and findings.")
    quanta = GenericScalar(
        required=True, description="Per quantum: unknown_inputs, flagged_inputs (level, "
        "flags with reason and fraction), clashes, calibrations (certified), as `lineage "
        "preflight --json` gives them.")
    report = GenericScalar(required=True, description="The whole report, as the command's JSON.")


def graph_file(directory: Path | None, name: str) -> Path:
    """The file ``name`` names in the pre-flight ``directory``; :class:`ApiError` when the
    server has none, the name is not a plain ``.qg`` file name, or no such file is there
    (a link leading out of the directory counts as none)."""
    if directory is None:
        raise ApiError("preflight: this server has no pre-flight directory (its operator "
                       "gives one when starting it)")
    if not GRAPH_NAME.fullmatch(name):
        raise ApiError(f"graph: {name[:80]!r} is not the name of a .qg file in the pre-flight "
                       "directory (letters, digits, '.', '_', '-'; no path)")
    root = Path(directory).resolve()
    path = (root / name).resolve()
    if path.parent != root or not path.is_file():
        raise ApiError(f"graph: no {name} in the pre-flight directory")
    return path


class PreflightQuery(graphene.ObjectType):
    """Root fields, inherited by the schema's Query."""

    preflight = graphene.Field(
        PreflightReport, required=True,
        graph=graphene.String(required=True, description="A .qg file's name in the server's "
                              "pre-flight directory."),
        fail_on=graphene.String(description="bad, suspect or contaminated: the gate's level."),
        description="Check a predicted quantum graph before it runs (DRP1, LDF1): flagged or "
                    "contaminated inputs, inputs never seen, outputs that exist, "
                    "calibrations certified for each exposure.")

    async def resolve_preflight(root, info, graph, fail_on=None):
        ctx = info.context
        path = graph_file(getattr(ctx.settings, "preflight_dir", None), graph)
        with argument("failOn"):
            report = await ctx.run(check_predicted_graph, ctx.store, path, fail_on)
        plain = json.loads(json.dumps(report, default=str))
        return {"graph": graph, "gate": plain["gate"], "totals": plain["totals"],
                "tasks": plain["tasks"], "quanta": plain["quanta"], "report": plain}

"""Mutations: ``flag`` and ``unflag`` (role flagger or admin), ``recomputeFlag`` (admin).

Each calls :mod:`lineage.flags` as the command line does; who flags is the
token's name (recorded as the flag's ``by``).  Every call is audited,
allowed or refused (:class:`lineage.api.auth.AuditLog`).
"""

from __future__ import annotations

import re

import graphene

from .. import flags as flagging
from ..selector import SelectorError
from .auth import require
from .errors import AccessDenied, ApiError
from .loaders import FULL
from .schema import TypeCount
from .types import Dataset, Flag

_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S")


class Verdict(graphene.Enum):
    BAD = "bad"
    SUSPECT = "suspect"


class FlagInput(graphene.InputObjectType):
    selector = graphene.String(required=True, description="What is bad: visit=1228, "
                               "visit=1228,detector=4, a dataset UUID or a quantum key.")
    verdict = graphene.Field(Verdict, required=True)
    reason = graphene.String(required=True, description="Why.")
    evidence = graphene.String(required=True, description="A URI (https://..., jira:...). "
                               "The server reads no files: attach them with `lineage flag`.")
    authority = graphene.String(description="On whose authority (default: the token's name).")
    dry_run = graphene.Boolean(default_value=False, description="Only compute the blast radius.")


class AffectedProduct(graphene.ObjectType):
    dataset = graphene.Field(Dataset, required=True)
    steps = graphene.Int(required=True)
    fraction = graphene.Float(required=True)


class FlagBlastRadius(graphene.ObjectType):
    flagged = graphene.Int(required=True, description="Datasets flagged directly.")
    datasets = graphene.Int(required=True, description="Datasets contaminated (flagged ones too).")
    quanta = graphene.Int(required=True)
    by_dataset_type = graphene.List(graphene.NonNull(TypeCount), required=True)
    most_affected = graphene.List(graphene.NonNull(AffectedProduct), required=True)


class FlagPayload(graphene.ObjectType):
    dry_run = graphene.Boolean(required=True)
    flag = graphene.Field(Flag, description="The new flag (null on a dry run).")
    blast_radius = graphene.Field(FlagBlastRadius, required=True)


class RecomputePayload(graphene.ObjectType):
    flag = graphene.Field(Flag, required=True)
    marked = graphene.Int(required=True)
    removed = graphene.Int(required=True)
    newly_flagged = graphene.Int(required=True)


def _input_error(exc: Exception) -> ApiError:
    """A flags-library message about a command-line option, named as the input field."""
    msg = str(exc)
    m = re.match(r"^--([a-z-]+)\b\s*(.*)$", msg)
    if m:
        return ApiError(f"input.{m.group(1)}: {m.group(2).lstrip(':').strip()}")
    return ApiError(f"input: {msg}")


async def _audited(info, name: str, action: str, arguments: dict, work):
    """Check the caller's role, run ``work``, and append the outcome to the audit log."""
    ctx = info.context
    p = ctx.principal
    entry = {"operation": name, "arguments": arguments, "who": p.name, "token": p.token_id,
             "role": p.role, "client": p.client}
    try:
        require(p, action, f"mutation {name}")
    except AccessDenied as exc:
        await ctx.run(ctx.audit.append, {**entry, "outcome": "refused", "error": str(exc)})
        raise
    try:
        result, summary = await work()
    except Exception as exc:
        await ctx.run(ctx.audit.append, {**entry, "outcome": "failed", "error": str(exc)})
        raise
    await ctx.run(ctx.audit.append, {**entry, "outcome": "ok", **summary})
    return result


class Mutation(graphene.ObjectType):
    """Changes: need an API token (``lineage token create``); all are audited."""

    flag = graphene.Field(FlagPayload, required=True, input=FlagInput(required=True),
                          description="Flag data as bad or suspect and mark everything "
                                      "downstream as contaminated (role flagger or admin).")
    unflag = graphene.Field(Flag, required=True, id=graphene.String(required=True),
                            reason=graphene.String(required=True),
                            description="Retract a flag; nothing is deleted "
                                        "(role flagger or admin).")
    recompute_flag = graphene.Field(RecomputePayload, required=True,
                                    id=graphene.String(required=True),
                                    description="Propagate a flag again after new processing "
                                                "(role admin).")

    async def resolve_flag(root, info, input):
        ctx = info.context
        args = {k: (v.value if hasattr(v, "value") else v) for k, v in dict(input).items()}

        async def work():
            evidence = (args.get("evidence") or "").strip()
            if not _SCHEME_RE.match(evidence) or evidence.lower().startswith("file:"):
                raise ApiError(f"input.evidence: {evidence!r} is not a URI (scheme:...); the "
                               "server reads no files")
            try:
                report = await ctx.run(flagging.flag, ctx.store, args["selector"],
                                       args["verdict"], args["reason"], evidence,
                                       ctx.principal.name, args.get("authority") or "",
                                       bool(args.get("dry_run")))
            except (flagging.FlagError, SelectorError) as exc:
                raise _input_error(exc) if str(exc).startswith("--") else \
                    ApiError(f"input.selector: {exc}") from None
            radius = report["blast_radius"]
            payload = {
                "dry_run": report["dry_run"],
                "flag": ({"key": report["flag"]} if report.get("flag") else None),
                "blast_radius": {
                    "flagged": radius["flagged"], "datasets": radius["datasets"],
                    "quanta": radius["quanta"],
                    "by_dataset_type": [{"dataset_type": t, "count": c}
                                        for t, c in radius["by_dataset_type"].items()],
                    "most_affected": [{"dataset": {k: r[k] for k in ("key", "dataset_type",
                                                                     "data_id", "run")},
                                       "steps": r["steps"], "fraction": r["fraction"]}
                                      for r in radius["most_affected"]]}}
            return payload, {"flag": report.get("flag"), "datasets": radius["datasets"],
                             "dry_run": report["dry_run"]}

        return await _audited(info, "flag", "flag", args, work)

    async def resolve_unflag(root, info, id, reason):
        ctx = info.context

        async def work():
            try:
                record = await ctx.run(flagging.unflag, ctx.store, id, reason, ctx.principal.name)
            except flagging.FlagError as exc:
                msg = str(exc)
                if msg.startswith("--"):
                    raise _input_error(exc) from None
                raise ApiError(f"id: {msg}") from None
            return {**record, FULL: True}, {"flag": record["key"]}

        return await _audited(info, "unflag", "flag", {"id": id, "reason": reason}, work)

    async def resolve_recompute_flag(root, info, id):
        ctx = info.context

        async def work():
            try:
                report = await ctx.run(flagging.recompute, ctx.store, id)
            except flagging.FlagError as exc:
                raise ApiError(f"id: {exc}") from None
            return ({"flag": {"key": report["flag"]}, "marked": report["marked"],
                     "removed": report["removed"], "newly_flagged": report["newly_flagged"]},
                    {"flag": report["flag"], "marked": report["marked"]})

        return await _audited(info, "recomputeFlag", "admin", {"id": id}, work)

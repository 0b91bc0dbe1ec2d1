"""Mutations: ``flag`` and ``unflag`` (role flagger or admin), ``recomputeFlag`` (admin).

Each calls :mod:`lineage.flags` as the command line does; who flags is the
token's name (recorded as the flag's ``by``).  Every call is audited,
allowed or refused (:class:`lineage.api.auth.AuditLog`).

A mutation completes and is audited, or does not happen:

* it is refused (audited ``refused``, nothing written) when the caller's
  role does not allow it, or when the request's deadline (``ctx.deadline``,
  a ``time.monotonic()`` value, if the server sets one) has passed or is
  less than :data:`MIN_SECONDS_TO_WRITE` away, checked when it starts and
  again just before it writes;
* otherwise an ``attempt`` line (who, what, arguments, request id) is on
  disk before it acts, and an ``ok`` (with the flag) or ``failed`` (with
  the error) line after.  The whole of it (audit, checks, write, audit)
  runs in one worker thread: a client that stops waiting does not stop it
  half-way, and its outcome is audited whatever the client heard.

``flag`` and ``unflag`` take an idempotency key (``idempotencyKey``): the
key is stored on the flag with a digest of the arguments, in the same
all-or-nothing unit as the flag, so a retry (after a timeout, a lost
answer, a crash of the server) with the same key and arguments writes
nothing and answers with the first flag; with other arguments it is
refused.  Requests with a key take :class:`lineage.api.auth.MutationLock`
while they check and write, so two at once with one key write one flag.
``recomputeFlag`` needs no key: running it again writes the same marks.
"""

from __future__ import annotations

import re
import time
import uuid
from contextlib import nullcontext

import graphene

from lineage import flags as flagging
from lineage.api.auth import MutationLock, require
from lineage.api.errors import AccessDenied, ApiError, argument
from lineage.api.lineage import LineageConnection, check_types, lineage_args, lineage_page
from lineage.api.loaders import FULL
from lineage.api.pagination import decode_cursor, page_args, page_of_list, page_size
from lineage.api.types import (FLAG_MARKS, Dataset, Flag, MarkConnection, Node, TypeCount,
                               _attach, connection, full_node, paged)
from lineage.core.selector import parse_selector
from lineage.traversal import traverse as query


#: What a contamination fraction is a fraction of (lineage.flags.propagation, docs/flags.md).
FRACTION_HELP = ("How much of what this product was made from comes from the flagged data, "
                 "0 to 1, traced back step by step: each step's output gets the mean of its "
                 "science inputs' fractions (an input the flag does not reach counts 0; a coadd "
                 "weights each warp by its calexps, so its fraction is the share of its input "
                 "calexps that are flagged; a contaminated calibration counts in full). 1: "
                 "flagged itself, or made only from flagged data. A share of inputs, not of "
                 "pixels, area or sources; one flag's, never a sum over flags.")


class ContaminationMark(graphene.ObjectType):
    flag = graphene.Field(Flag, required=True)
    verdict = graphene.String(required=True)
    steps = graphene.Int(required=True)
    fraction = graphene.Float(required=True, description=FRACTION_HELP)

    async def resolve_flag(root, info):
        return await info.context.loaders.node.load(root["flag"])


class Contamination(graphene.ObjectType):
    """Is this dataset or quantum contaminated, by which active flags, how much."""

    key = graphene.ID(required=True)
    contaminated = graphene.Boolean(required=True)
    verdict = graphene.String(description="bad if any flag says bad, else suspect, else null.")
    max_fraction = graphene.Float(
        required=True, description="The largest fraction of one active flag (see "
                                   "ContaminationMark.fraction; fractions of two flags are not "
                                   "added: they may overlap).")
    as_of = graphene.String()
    by = graphene.List(graphene.NonNull(ContaminationMark), required=True)
    node = graphene.Field(Node, required=True)

    async def resolve_node(root, info):
        return await info.context.loaders.node.load(root["key"])


_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S")

#: A write is not started with less time than this left before the request's deadline.
MIN_SECONDS_TO_WRITE = 0.25

_KEY_HELP = ("Any unique text (a UUID): a retry with the same key and arguments writes "
             "nothing and answers as the first request did; kept with the flag.")


class DeadlineRefused(ApiError):
    """The request's deadline came before the write started: nothing was written."""

    code = "TIMEOUT"


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
    idempotency_key = graphene.String(description=_KEY_HELP + " Ignored on a dry run.")


class AffectedProduct(graphene.ObjectType):
    dataset = graphene.Field(Dataset, required=True)
    steps = graphene.Int(required=True)
    fraction = graphene.Float(required=True, description=FRACTION_HELP)


class TractBandCount(graphene.ObjectType):
    tract = graphene.String(description="The tract of their data ID; null: datasets without "
                                        "one (visit-level datasets, raws, calibrations ...).")
    band = graphene.String(description="The band of their data ID, or for a dataset of a visit "
                                       "or exposure without one its visit's band; null: "
                                       "datasets without a band either way.")
    datasets = graphene.Int(required=True, description="Contaminated datasets (flagged ones "
                                                       "too) with this tract and band.")


class FlagBlastRadius(graphene.ObjectType):
    flagged = graphene.Int(required=True, description="Datasets flagged directly.")
    datasets = graphene.Int(required=True, description="Datasets contaminated (flagged ones too).")
    quanta = graphene.Int(required=True)
    by_dataset_type = graphene.List(graphene.NonNull(TypeCount), required=True)
    by_tract_band = graphene.List(
        graphene.NonNull(TractBandCount), required=True,
        description="The contaminated datasets counted by the tract and band of their data ID "
                    "(a null tract or band groups the datasets without one), nulls first.")
    most_affected = graphene.List(graphene.NonNull(AffectedProduct), required=True)

    async def resolve_by_tract_band(radius, info):
        if "by_tract_band" in radius:
            return radius["by_tract_band"]
        # a flag just written reports without them (it writes at once): its marks say, when asked
        ctx = info.context
        stored = await ctx.run(flagging.stored_blast_radius, ctx.store, radius["flag"])
        return stored["by_tract_band"]


def _radius_payload(radius: dict, flag_key: str | None) -> dict:
    """A library blast radius (:func:`lineage.flags.stored_blast_radius`) as FlagBlastRadius
    resolves it."""
    out = {"flag": flag_key, "flagged": radius["flagged"], "datasets": radius["datasets"],
           "quanta": radius["quanta"],
           "by_dataset_type": [{"dataset_type": t, "count": c}
                               for t, c in radius["by_dataset_type"].items()],
           "most_affected": [{"dataset": {k: r[k] for k in ("key", "dataset_type", "data_id",
                                                            "run")},
                              "steps": r["steps"], "fraction": r["fraction"]}
                             for r in radius["most_affected"]]}
    if "by_tract_band" in radius:
        out["by_tract_band"] = radius["by_tract_band"]
    return out


class FlagEvent(graphene.ObjectType):
    """One event of a flag's history, as the flag records it."""

    what = graphene.String(required=True, description="flagged or retracted.")
    at = graphene.String(required=True, description="UTC.")
    by = graphene.String()
    reason = graphene.String()


class FlagPayload(graphene.ObjectType):
    dry_run = graphene.Boolean(required=True)
    flag = graphene.Field(Flag, description="The new flag (null on a dry run).")
    blast_radius = graphene.Field(FlagBlastRadius, required=True)
    replayed = graphene.Boolean(required=True, description="True when an earlier request with "
                                "this idempotency key wrote the flag: nothing was written now.")


class RecomputePayload(graphene.ObjectType):
    flag = graphene.Field(Flag, required=True)
    marked = graphene.Int(required=True)
    removed = graphene.Int(required=True)
    newly_flagged = graphene.Int(required=True)


def _time_left(ctx) -> float | None:
    deadline = getattr(ctx, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


def _check_deadline(ctx, what: str) -> None:
    """Refuse to start writing when the request's deadline has passed or is too close."""
    left = _time_left(ctx)
    if left is not None and left < MIN_SECONDS_TO_WRITE:
        when = "passed before the write could start" if left <= 0 else \
            f"is {left:.2f} s away, too little time to start writing"
        raise DeadlineRefused(f"{what} refused, nothing was written: the request's deadline "
                              f"{when} (retry, with the same idempotencyKey)")


def _key_lock(ctx, key: str | None):
    """The lock a mutation with an idempotency key holds while it checks and writes."""
    if key is None:
        return nullcontext()
    left = _time_left(ctx)
    wait = left if left is not None else float(getattr(ctx.settings, "timeout", 10.0))
    return MutationLock(getattr(ctx.settings, "state_dir", None)).hold(wait)


def _perform(ctx, entry: dict, work):
    """Audit, check, act, audit: in one worker thread, so that it is never left half-way."""
    audit = ctx.audit
    what = f"mutation {entry['operation']}"
    try:
        _check_deadline(ctx, what)
    except DeadlineRefused as exc:
        audit.append({**entry, "outcome": "refused", "reason": "deadline", "error": str(exc)})
        raise
    audit.append({**entry, "outcome": "attempt"})   # on disk before anything is done
    try:
        result, summary = work(lambda: _check_deadline(ctx, what))
    except DeadlineRefused as exc:
        audit.append({**entry, "outcome": "refused", "reason": "deadline", "error": str(exc)})
        raise
    except Exception as exc:
        audit.append({**entry, "outcome": "failed", "error": str(exc)})
        raise
    audit.append({**entry, "outcome": "ok", **summary})
    return result


async def _audited(info, name: str, action: str, arguments: dict, work):
    """Check the caller's role, then run ``work(before_write)`` audited (:func:`_perform`)."""
    ctx = info.context
    p = ctx.principal
    entry = {"operation": name, "arguments": arguments, "who": p.name, "token": p.token_id,
             "role": p.role, "client": p.client,
             "request": getattr(ctx, "request_id", None) or uuid.uuid4().hex}
    try:
        require(p, action, f"mutation {name}")
    except AccessDenied as exc:
        # without a token: rate-limited per client address, so it cannot flood the log
        await ctx.run(ctx.audit.refused, {**entry, "outcome": "refused", "error": str(exc),
                                          "reason": "no token" if p.role is None else "role"},
                      p.role is not None)
        raise
    return await ctx.run(_perform, ctx, entry, work)


class Mutation(graphene.ObjectType):
    """Changes: need an API token (``lineage token create``); all are audited."""

    flag = graphene.Field(FlagPayload, required=True, input=FlagInput(required=True),
                          description="Flag data as bad or suspect and mark everything "
                                      "downstream as contaminated (role flagger or admin).")
    unflag = graphene.Field(Flag, required=True, id=graphene.String(required=True),
                            reason=graphene.String(required=True),
                            idempotency_key=graphene.String(description=_KEY_HELP),
                            description="Retract a flag; nothing is deleted "
                                        "(role flagger or admin).")
    recompute_flag = graphene.Field(RecomputePayload, required=True,
                                    id=graphene.String(required=True),
                                    description="Propagate a flag again after new processing "
                                                "(role admin).")

    async def resolve_flag(root, info, input):
        ctx = info.context
        args = {k: (v.value if hasattr(v, "value") else v) for k, v in dict(input).items()}

        def work(before_write):
            evidence = (args.get("evidence") or "").strip()
            if not _SCHEME_RE.match(evidence) or evidence.lower().startswith("file:"):
                raise ApiError(f"input.evidence: {evidence!r} is not a URI (scheme:...); the "
                               "server reads no files")
            dry_run = bool(args.get("dry_run"))
            with argument("input.selector", within="input"):
                key = None if dry_run else flagging.check_idempotency_key(
                    args.get("idempotency_key"))
                with _key_lock(ctx, key):
                    report = flagging.flag(ctx.store, args["selector"], args["verdict"],
                                           args["reason"], evidence, ctx.principal.name,
                                           args.get("authority") or "", dry_run,
                                           idempotency_key=key, before_write=before_write)
            radius = report["blast_radius"]
            replayed = bool(report.get("replayed"))
            payload = {
                "dry_run": report["dry_run"],
                "replayed": replayed,
                "flag": ({"key": report["flag"]} if report.get("flag") else None),
                "blast_radius": _radius_payload(radius, report.get("flag"))}
            return payload, {"flag": report.get("flag"), "datasets": radius["datasets"],
                             "dry_run": report["dry_run"], "replayed": replayed}

        return await _audited(info, "flag", "flag", args, work)

    async def resolve_unflag(root, info, id, reason, idempotency_key=None):
        ctx = info.context

        def work(before_write):
            with argument("id"):
                key = flagging.check_idempotency_key(idempotency_key)
                with _key_lock(ctx, key):
                    record = flagging.unflag(ctx.store, id, reason, ctx.principal.name,
                                             idempotency_key=key, before_write=before_write)
            replayed = bool(record.pop("replayed", False))
            return {**record, FULL: True}, {"flag": record["key"], "replayed": replayed}

        arguments = {"id": id, "reason": reason}
        if idempotency_key is not None:
            arguments["idempotency_key"] = idempotency_key
        return await _audited(info, "unflag", "flag", arguments, work)

    async def resolve_recompute_flag(root, info, id):
        ctx = info.context

        def work(before_write):
            with argument("id"):
                report = flagging.recompute(ctx.store, id, before_write=before_write)
            return ({"flag": {"key": report["flag"]}, "marked": report["marked"],
                     "removed": report["removed"], "newly_flagged": report["newly_flagged"]},
                    {"flag": report["flag"], "marked": report["marked"]})

        return await _audited(info, "recomputeFlag", "admin", {"id": id}, work)


# --- what flags contaminate ----------------------------------------------------------------

ContaminatedConnection = connection(
    "Contaminated", Dataset,
    "A page of contaminated datasets: one edge per dataset and active flag marking it, sorted "
    "by dataset type, data ID, run, then flag.",
    flag=graphene.Field(Flag, required=True, description="The flag.",
                        resolver=lambda edge, info: info.context.loaders.node.load(edge["flag"])),
    verdict=graphene.String(required=True, description="The flag's verdict: bad or suspect."),
    reason=graphene.String(description="Why it was flagged (the flag's reason)."),
    steps=graphene.Int(required=True, description="Quanta between it and a flagged dataset "
                                                  "(0: flagged itself)."),
    fraction=graphene.Float(required=True, description="How much of it the flag reaches (0..1): "
                                                       "the share of its inputs, weighted as "
                                                       "docs/flags.md says, that came from "
                                                       "flagged data."))


def _mark_filters() -> dict:
    """The filters of ``contaminated`` fields and of ``Flag.marks``."""
    return dict(
        types=graphene.List(graphene.NonNull(graphene.String),
                            description="Only datasets of these types."),
        verdict=graphene.String(description="Only by flags of this verdict: bad or suspect."),
        min_fraction=graphene.Float(description="Only marks of at least this fraction (0..1)."))


def _contaminated_args() -> dict:
    return dict(as_of=graphene.String(description="Flags active, and datasets that existed, at "
                                                  "this UTC time or release."),
                **_mark_filters())


async def _contaminated_page(info, flag=None, types=None, verdict=None, min_fraction=None,
                             as_of=None, flagged=None, first=None, after=None):
    ctx = info.context
    n, start = page_size(first, ctx.settings), decode_cursor(after)
    with argument("asOf"):  # the library checks the other arguments and names them
        rows = await ctx.run(flagging.contaminated, ctx.store, as_of, flag, types, verdict,
                             min_fraction, flagged)
    records = [{**r, "key": f"{r['dataset']['key']}|{r['flag']}", "node": r["dataset"],
                FULL: True} for r in rows]
    return page_of_list(records, n, start)


async def _flag_contaminated(root, info, **args):
    return await _contaminated_page(info, root["key"], **args)


async def _flag_marks(root, info, types=None, verdict=None, min_fraction=None, first=None,
                      after=None):
    """The flag's marks (active or not), filtered: by the flag's verdict, the mark's
    fraction, the marked node's type (datasets of ``types`` only: quanta drop out)."""
    ctx = info.context
    n, start = page_size(first, ctx.settings), decode_cursor(after)
    types = await check_types(info, types)
    with argument("verdict"):
        flagging.check_mark_filters(verdict, min_fraction)
    items = await ctx.loaders.relation(FLAG_MARKS).load(root["key"])
    if verdict is not None and (await full_node(root, info)).get("verdict") != verdict:
        items = []
    if min_fraction is not None:
        items = [(k, e) for k, e in items if (e.get("fraction") or 0) >= min_fraction]
    records = [{"key": k, "node": None, FULL: True, **e} for k, e in items]
    if types:
        nodes = await ctx.loaders.node.load_many([r["key"] for r in records])
        records = [{**r, "node": node} for r, node in zip(records, nodes)
                   if node and node.get("dataset_type") in types]
    return page_of_list(records, n, start)


_attach(Flag, "marks", paged(
    MarkConnection, _flag_marks, "Every dataset and quantum it marks as contaminated (active "
    "or not); with filters, only the marks that pass them all.", **_mark_filters()))
_attach(Flag, "contaminated", paged(
    ContaminatedConnection, _flag_contaminated,
    "The datasets it contaminates (when it is active: now, or at `asOf`), with the marks.",
    **_contaminated_args()))


async def _dataset_contamination(root, info, as_of=None):
    """Is this dataset contaminated: every dataset of a request asked together, in one query
    per ``asOf`` value."""
    ctx = info.context

    async def fetch(keys):
        with argument("asOf"):
            return await ctx.run(flagging.contamination_of_datasets, ctx.store, keys, as_of)
    return await ctx.loaders.batched(("Dataset.contamination", as_of), fetch).load(root["key"])


async def _flag_blast_radius(root, info, as_of=None):
    ctx = info.context
    with argument("asOf"):
        radius = await ctx.run(flagging.stored_blast_radius, ctx.store, root["key"],
                               as_of=as_of)
    return _radius_payload(radius, root["key"])


async def _flag_history(root, info):
    flag = await full_node(root, info)
    events = [{"what": "flagged", "at": flag.get("created_at"), "by": flag.get("by"),
               "reason": flag.get("reason")}]
    if flag.get("retracted_at"):
        events.append({"what": "retracted", "at": flag["retracted_at"],
                       "by": flag.get("retracted_by"), "reason": flag.get("retraction_reason")})
    return events


_attach(Flag, "blast_radius", graphene.Field(
    FlagBlastRadius, required=True, resolver=_flag_blast_radius,
    as_of=graphene.String(description="What it contaminated at this UTC time or release: "
                                       "nothing if it was not active then, else what existed."),
    description="What it contaminates, from its marks (as the flag mutation reported it, or as "
                "`recomputeFlag` left it): counts by dataset type and by tract and band, and "
                "the most affected products. Whether it is active now does not matter."))
_attach(Flag, "history", graphene.Field(
    graphene.List(graphene.NonNull(FlagEvent)), required=True, resolver=_flag_history,
    description="What happened to it, oldest first: flagged, then retracted if it was. "
                "Recomputations are not recorded on the flag (the API's audit log has those "
                "made through `recomputeFlag`)."))


def _lineage_from_flag(direction: str):
    async def resolve(root, info, **args):
        ctx = info.context
        with argument("id"):
            selector = await ctx.run(flagging.flagged_selector, ctx.store, root["key"])
        return await lineage_page(info, selector, direction, "id", **args)
    return resolve


_attach(Dataset, "contamination", graphene.Field(
    lambda: Contamination, required=True, resolver=_dataset_contamination,
    as_of=graphene.String(description="Flags active at this UTC time or release."),
    description="Is it contaminated, by which active flags, how much (batched: one query for "
                "every dataset of the request)."))
_attach(Flag, "downstream", graphene.Field(
    LineageConnection, required=True, resolver=_lineage_from_flag(query.DOWN), **lineage_args(),
    description="Datasets downstream of what it flags (its datasets and quanta): what was made "
                "from them, whether the marks reach them or not."))
_attach(Flag, "upstream", graphene.Field(
    LineageConnection, required=True, resolver=_lineage_from_flag(query.UP), **lineage_args(),
    description="Datasets upstream of what it flags: what they were made from."))


# --- the query fields -----------------------------------------------------------------------

FlagConnection = connection("Flag", Flag, "A page of flags, oldest first.")


class FlagsQuery(graphene.ObjectType):
    """Flags and contamination."""

    flags = graphene.Field(
        FlagConnection, required=True,
        **page_args(as_of=graphene.String(description="Active at this UTC time or release."),
                     include_retracted=graphene.Boolean(default_value=False)),
        description="Flags active now (or as of a time or release), oldest first.")
    flag = graphene.Field(Flag, id=graphene.String(required=True,
                                                   description="flag:<uuid>, UUID or 8+ chars."),
                          description="One flag with its history.")
    contamination = graphene.Field(
        Contamination, required=True,
        dataset=graphene.String(required=True, description="Dataset UUID, dataset or quantum key."),
        as_of=graphene.String(description="Flags active at this UTC time or release."),
        description="Is this dataset (or quantum) contaminated, by which flags, how much.")
    contaminated = graphene.Field(
        ContaminatedConnection, required=True, **page_args(
            **_contaminated_args(),
            flagged=graphene.String(description="Only flags that name a data unit of this "
                                                "dimension (visit: flagged visits).")),
        description="Every dataset contaminated by active flags (now, or at `asOf`), with the "
                    "flag, its verdict and reason, and the mark's steps and fraction: one edge "
                    "per dataset and flag.")

    async def resolve_flags(root, info, as_of=None, include_retracted=False, first=None,
                            after=None):
        ctx = info.context
        n, start = page_size(first, ctx.settings), decode_cursor(after)
        with argument("asOf"):
            rows = await ctx.run(flagging.list_flags, ctx.store, as_of, include_retracted)
        records = [{"key": f["key"], "node": {**f, FULL: True}, FULL: True} for f in rows]
        return page_of_list(records, n, start)

    async def resolve_flag(root, info, id):
        ctx = info.context
        with argument("id"):
            record = await ctx.run(flagging.find_flag, ctx.store, id)
        return {**record, FULL: True}

    async def resolve_contaminated(root, info, **args):
        return await _contaminated_page(info, **args)

    async def resolve_contamination(root, info, dataset, as_of=None):
        ctx = info.context
        with argument("dataset"):
            parse_selector(dataset)
        with argument("dataset"):
            return await ctx.run(flagging.contamination, ctx.store, dataset, as_of)

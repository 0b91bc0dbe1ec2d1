"""Flags as records: flag, retract, list, look up contamination, recompute, block."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path

from lineage.core.dataid import DataId
from lineage.core.model import GraphBatch, Kind, ModelError, Rel, kind_of_key
from lineage.core.selector import parse_selector, Selector, SelectorError
from lineage.core.errors import UnknownName
from lineage.dataunits.names import check_names
from lineage.dataunits.queries import data_units_of_value
from lineage.dataunits.resolve import resolve
from lineage.core.time import now_utc_stamp, tai_iso_of_utc_stamp
from lineage.flags import queries
from lineage.flags.core import VERDICTS, FlagError, as_of_time
from lineage.flags.propagation import (blast_radius, mark_statements, propagate,
                                       tract_band_counts)


_FLAG_ID_RE = re.compile(r"^[0-9a-fA-F-]{8,36}$")


# --- flags --------------------------------------------------------------------------

def _evidence(evidence: str) -> dict:
    evidence = (evidence or "").strip()
    if not evidence:
        raise FlagError("is required: a URI or a file", field="evidence")
    path = Path(evidence).expanduser()
    if "://" not in evidence and path.is_file():
        data = path.read_bytes()
        return {"evidence": path.resolve().as_uri(),
                "evidence_sha256": hashlib.sha256(data).hexdigest(),
                "evidence_bytes": len(data)}
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", evidence) and not Path(evidence).exists():
        return {"evidence": evidence}
    raise FlagError(f"{evidence!r}: no such file, and not a URI (scheme:...)",
                    field="evidence")


def targets(store, selector: str) -> tuple[Selector, dict[str, str | None], list[str]]:
    """(parsed selector, flagged datasets or quanta, data units named by the selector)."""
    sel = parse_selector(selector)
    seeds = resolve(store, sel)
    units = [k for k in sel.keys if kind_of_key(k) == Kind.DATA_UNIT]
    if sel.pairs and len(sel.pairs) == 1:
        dim, value = sel.pairs[0]
        units += data_units_of_value(store, dim, value)
    return sel, seeds, sorted(units)


# --- idempotency: a retried request finds what its first attempt wrote ---------------

#: Longest idempotency key accepted (a UUID is 36 characters).
MAX_IDEMPOTENCY_KEY = 200


class IdempotencyConflict(FlagError):
    """An idempotency key used again with other arguments."""


def check_idempotency_key(key: str | None) -> str | None:
    """The key, stripped; None for no key.  A key is 1-200 printable characters."""
    if key is None:
        return None
    if not isinstance(key, str):
        raise FlagError("idempotency key: must be text", field="idempotency_key")
    text = key.strip()
    if not text or len(text) > MAX_IDEMPOTENCY_KEY or not text.isprintable():
        raise FlagError(f"idempotency key {key[:40]!r}: must be 1 to {MAX_IDEMPOTENCY_KEY} "
                        "printable characters (a UUID is a good key)", field="idempotency_key")
    return text


def _fingerprint(**arguments) -> str:
    """SHA-256 of a request's arguments: a retry must repeat them exactly."""
    text = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _earlier(store, key_prop: str, key: str, by_prop: str, by: str):
    """(flag key, properties) of the flag an earlier request with this key wrote, or None.

    Keys belong to who sent them (``by``): two people's keys never collide.
    """
    rows = queries.flags_with_request_key(store, key_prop, key, by_prop, by)
    if not rows:
        return None
    # one flag per key is what the API's lock guarantees; should two ever exist
    # (writers that took no lock), the first one written is the answer
    return min(((k, dict(p)) for k, p in rows), key=lambda r: (r[1].get("created_at", ""), r[0]))


def _conflict(key: str, flag_key: str, what: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"idempotency key {key!r} was already used for {what} {flag_key} with other "
        "arguments; a retry must repeat the same arguments, a new request needs a new key",
        field="idempotency_key")


def stored_blast_radius(store, flag_key: str, top: int = 10, as_of: str | None = None) -> dict:
    """The blast radius of a written flag, read from its marks (what it wrote), by tract
    and band too (:func:`lineage.flags.propagation.tract_band_counts`).

    Gives what :func:`flag` reported when it wrote the flag (unless the flag
    was recomputed since: then its marks now), without walking the graph again.
    With ``as_of`` (a UTC time or a release), what it contaminated then: nothing if it
    was not active, else its marks on the datasets and quanta that existed (the rule of
    :func:`contaminated`).
    """
    at = as_of_time(store, as_of)
    if at is None:
        rows = queries.marks_with_nodes(store, flag_key)
    else:
        record = find_flag(store, flag_key)
        retracted = record.get("retracted_at")
        active = record["created_at"] <= at and (not retracted or retracted > at)
        rows = queries.marks_with_nodes(store, flag_key, tai_iso_of_utc_stamp(at)) \
            if active else []
    by_type: dict[str, int] = {}
    flagged = datasets = quanta = 0
    products = []
    data_ids = []
    for key, dtype, data_id, run, steps, fraction in rows:
        if kind_of_key(key) == Kind.QUANTUM:
            quanta += 1
            continue
        datasets += 1
        data_ids.append(data_id or "")
        by_type[dtype or ""] = by_type.get(dtype or "", 0) + 1
        if int(steps) == 0:  # flagged datasets themselves are not "affected products"
            flagged += 1
        else:
            products.append((-float(fraction), int(steps), dtype or "", data_id or "", run or "",
                             key))
    products.sort()
    return {"flagged": flagged, "datasets": datasets, "quanta": quanta,
            "by_dataset_type": dict(sorted(by_type.items())),
            "by_tract_band": tract_band_counts(store, data_ids),
            "most_affected": [{"key": key, "dataset_type": dtype, "data_id": did, "run": run,
                               "steps": steps, "fraction": round(-f, 6)}
                              for f, steps, dtype, did, run, key in products[:top]]}


def flag(store, selector: str, verdict: str, reason: str, evidence: str, by: str,
         authority: str = "", dry_run: bool = False, now: str | None = None, *,
         idempotency_key: str | None = None, before_write=None) -> dict:
    """Flag what ``selector`` names and mark everything downstream, in one unit.

    With ``dry_run`` nothing is written; the report gives the blast radius.

    ``idempotency_key`` (from a client that may retry) is stored on the flag,
    with a digest of the arguments, in the same unit: a second call with the
    same key and ``by`` writes nothing and reports the first flag
    (``replayed``: true); with other arguments it raises
    :class:`IdempotencyConflict`.  Callers that may run two requests with one
    key at once must serialise them (the API holds a lock).
    ``before_write()`` is called just before anything is written; it may
    raise to write nothing (the API checks its deadline there).
    """
    if verdict not in VERDICTS:
        raise FlagError(f"{verdict!r}: must be one of {', '.join(VERDICTS)}", field="verdict")
    if not (reason or "").strip():
        raise FlagError("must say why", field="reason")
    if not (by or "").strip():
        raise FlagError("must name who flags", field="by")
    idem = {}
    if idempotency_key is not None and not dry_run:
        idempotency_key = check_idempotency_key(idempotency_key)
        digest = _fingerprint(operation="flag", selector=(selector or "").strip(),
                              verdict=verdict, reason=reason.strip(),
                              evidence=(evidence or "").strip(),
                              authority=(authority or by).strip())
        earlier = _earlier(store, "idempotency_key", idempotency_key, "by", by.strip())
        if earlier is not None:
            key, props = earlier
            if props.get("idempotency_sha256") != digest:
                raise _conflict(idempotency_key, key, "flag")
            return {"selector": props.get("selector"), "verdict": props.get("verdict"),
                    "dry_run": False, "blast_radius": stored_blast_radius(store, key),
                    "flag": key, "created_at": props.get("created_at"), "replayed": True}
        idem = {"idempotency_key": idempotency_key, "idempotency_sha256": digest}
    props = _evidence(evidence)
    sel, seeds, units = targets(store, selector)
    p = propagate(store, seeds)
    # the dry run shows the whole blast radius; a real flag reports counts and the
    # most affected products, and writes at once
    report = {"selector": sel.text, "verdict": verdict, "dry_run": dry_run,
              "blast_radius": blast_radius(store, p, by_tract_band=dry_run)}
    if dry_run:
        return report
    key = f"flag:{uuid.uuid4()}"
    created = now or now_utc_stamp()
    batch = GraphBatch(f"flag {sel.text}")
    batch.add_node(key, verdict=verdict, reason=reason.strip(), by=by.strip(),
                   authority=(authority or by).strip(), selector=sel.text, created_at=created,
                   time_scale="utc", **props, **idem)
    for target in list(seeds) + units:
        batch.edges[(Rel.FLAGS, key, target)] = {}
    known = dict(seeds)
    known.update(dict.fromkeys(units))
    prepared = store.prepare(batch, known, mark_statements(store, p, key))
    if before_write is not None:
        before_write()
    store.commit(prepared)
    report.update(flag=key, created_at=created)
    if idem:
        report["replayed"] = False
    return report


def flags_matching(store, flag_id: str) -> list[dict]:
    """The flags a flag id names, in key order: ``flag:<uuid>``, a UUID, or 8+ of its first
    characters (a prefix may name several); [] when none.  A text that is none of these
    forms is a :class:`FlagError`."""
    text = (flag_id or "").strip()
    uid = text[5:] if text.startswith("flag:") else text
    if not _FLAG_ID_RE.match(uid):
        raise FlagError(f"not a flag id: {flag_id!r} (give flag:<uuid>, a UUID or 8+ of its "
                        "first characters)")
    return [flag_record(key, props) for key, props in
            sorted(queries.flags_with_prefix(store, f"flag:{uid.lower()}"))]


def find_flag(store, flag_id: str) -> dict:
    """A flag by key, UUID or unique UUID prefix (8+ characters): its properties."""
    found = flags_matching(store, flag_id)
    if not found:
        raise FlagError(f"no flag {flag_id!r} in this repository")
    if len(found) > 1:
        raise FlagError(f"flag id {flag_id!r} is ambiguous ({len(found)} flags start with it)")
    return found[0]


def flag_record(key, props) -> dict:
    props = {k: v for k, v in dict(props).items() if not k.startswith("_") and k != "key"}
    return {"key": key, **dict(sorted(props.items())),
            "active": "retracted_at" not in props}


def unflag(store, flag_id: str, reason: str, by: str, now: str | None = None, *,
           idempotency_key: str | None = None, before_write=None) -> dict:
    """Retract a flag: recorded on it, never deleted; its marks stay as history.

    ``idempotency_key`` and ``before_write`` work as in :func:`flag`: a retry
    with the same key and arguments returns the retracted flag (``replayed``).
    """
    record = find_flag(store, flag_id)
    if not (reason or "").strip():
        raise FlagError("must say why the flag is retracted", field="reason")
    if not (by or "").strip():
        raise FlagError("must name who retracts", field="by")
    idem = {}
    if idempotency_key is not None:
        idempotency_key = check_idempotency_key(idempotency_key)
        digest = _fingerprint(operation="unflag", flag=record["key"], reason=reason.strip())
        earlier = _earlier(store, "retraction_idempotency_key", idempotency_key,
                           "retracted_by", by.strip())
        if earlier is not None:
            key, props = earlier
            if props.get("retraction_idempotency_sha256") != digest:
                raise _conflict(idempotency_key, key, "unflag of")
            return {**find_flag(store, key), "replayed": True}
        idem = {"retraction_idempotency_key": idempotency_key,
                "retraction_idempotency_sha256": digest}
    if record.get("retracted_at"):
        raise FlagError(f"{record['key']} was already retracted at {record['retracted_at']} "
                        f"by {record.get('retracted_by')}")
    at = now or now_utc_stamp()
    batch = GraphBatch(f"unflag {record['key']}")
    batch.add_node(record["key"], retracted_at=at, retracted_by=by.strip(),
                   retraction_reason=reason.strip(), **idem)
    prepared = store.prepare(batch)
    if before_write is not None:
        before_write()
    store.commit(prepared)
    out = find_flag(store, record["key"])
    if idem:
        out["replayed"] = False
    return out


def list_flags(store, as_of: str | None = None, include_retracted: bool = False) -> list[dict]:
    """Flags active now (or at ``as_of``), or every flag with ``include_retracted``."""
    flags = [flag_record(k, p) for k, p in queries.all_flags(store)]
    at = as_of_time(store, as_of)
    if at is not None:
        flags = [f for f in flags if f["created_at"] <= at
                 and (not f.get("retracted_at") or f["retracted_at"] > at)]
        for f in flags:
            f["active"] = True
    elif not include_retracted:
        flags = [f for f in flags if f["active"]]
    return sorted(flags, key=lambda f: (f["created_at"], f["key"]))


def contamination(store, selector: str, as_of: str | None = None) -> dict:
    """Is this dataset or quantum contaminated, by which flags, how much: one indexed lookup."""
    sel = parse_selector(selector)
    if len(sel.keys) != 1 or kind_of_key(sel.keys[0]) not in (Kind.DATASET, Kind.QUANTUM):
        raise FlagError(f"give one dataset UUID or dataset/quantum key, not {selector!r}")
    key = sel.keys[0]
    label = kind_of_key(key).value
    at = as_of_time(store, as_of) or "9999"
    rows = queries.contamination_of(store, label, key, at)
    if not rows:
        raise SelectorError(f"no such node: {key}")
    return _contamination_record(key, as_of, [(f, v, s, fr) for f, v, s, fr in rows
                                              if f is not None])


def _contamination_record(key: str, as_of: str | None, marks: list[tuple]) -> dict:
    """What :func:`contamination` answers for one node marked by ``marks`` (flag, verdict,
    steps, fraction) of active flags."""
    by = sorted(({"flag": f, "verdict": v, "steps": int(s), "fraction": float(fr)}
                 for f, v, s, fr in marks),
                key=lambda m: (-m["fraction"], m["steps"], m["flag"]))
    return {"key": key, "contaminated": bool(by), "as_of": as_of,
            "max_fraction": max((m["fraction"] for m in by), default=0.0),
            "verdict": "bad" if any(m["verdict"] == "bad" for m in by) else
                       ("suspect" if by else None),
            "by": by}


def contamination_of_datasets(store, keys: list[str], as_of: str | None = None) -> list[dict]:
    """:func:`contamination` of many datasets at once (in the order of ``keys``), in one
    query: for pages of datasets (the API batches a request's lookups into one call)."""
    at = as_of_time(store, as_of) or "9999"
    marks: dict[str, list[tuple]] = {k: [] for k in keys}
    for key, flag_key, verdict, steps, fraction in queries.marks_on_datasets(store, keys, at):
        marks[key].append((flag_key, verdict, steps, fraction))
    return [_contamination_record(k, as_of, marks[k]) for k in keys]


def check_mark_filters(verdict: str | None, min_fraction: float | None) -> None:
    """Refuse a verdict that is not one, a fraction outside 0..1 (None: no filter)."""
    if verdict is not None and verdict not in VERDICTS:
        raise FlagError(f"{verdict!r}: must be one of {', '.join(VERDICTS)}", field="verdict")
    if min_fraction is not None and not 0 <= min_fraction <= 1:
        raise FlagError(f"must be between 0 and 1, not {min_fraction}", field="min_fraction")


def contaminated(store, as_of: str | None = None, flag_id: str | None = None,
                 types: list[str] | None = None, verdict: str | None = None,
                 min_fraction: float | None = None,
                 flagged: str | None = None) -> list[dict]:
    """Every dataset contaminated by flags active now (or at ``as_of``: then only datasets
    that existed, the traversals' rule), by one flag (``flag_id``) or all (or those that
    name a data unit of the dimension ``flagged``: ``visit`` for flagged visits), of
    ``types``, by flags of ``verdict``, marked with at least ``min_fraction``: one row per
    dataset and flag, with the mark (steps, fraction) and the flag's verdict and reason,
    sorted by dataset type, data ID, run, then flag."""
    check_mark_filters(verdict, min_fraction)
    at = as_of_time(store, as_of)
    flag_key = find_flag(store, flag_id)["key"] if flag_id is not None else None
    check_names(store, "dataset type", types, "types")
    naming = None
    if flagged is not None:
        check_names(store, "dimension", [flagged], "flagged")
        naming = queries.flags_naming(store, flagged)
    rows = queries.contaminated_datasets(
        store, at or "9999", flag_key, list(types) if types else None, verdict, min_fraction,
        tai_iso_of_utc_stamp(at) if at is not None else None, naming)
    out = [{"dataset": {"key": r.dataset, "dataset_type": r.dataset_type or "",
                        "data_id": r.data_id or "", "run": r.run or ""},
            "flag": r.flag, "verdict": r.verdict, "reason": r.reason, "steps": int(r.steps),
            "fraction": float(r.fraction)} for r in rows]
    out.sort(key=lambda m: (m["dataset"]["dataset_type"],
                            DataId.parse(m["dataset"]["data_id"]).sort_key(),
                            m["dataset"]["run"], m["dataset"]["key"], m["flag"]))
    return out


def marks(store, flag_key: str) -> dict[str, tuple[int, float]]:
    """Every mark of one flag: node key -> (steps, fraction)."""
    return {k: (int(s), float(f)) for k, s, f in queries.marks_of_flag(store, flag_key)}


def _seeds_of(store, flag_key: str) -> dict[str, str | None]:
    return {k: t for k, t in queries.flag_seeds(store, flag_key)}


def flagged_selector(store, flag_id: str) -> Selector:
    """The datasets and quanta a flag names, as a selector: lineage from a flag starts
    from its targets."""
    key = find_flag(store, flag_id)["key"]
    seeds = _seeds_of(store, key)
    if not seeds:
        raise FlagError(f"{key} names no dataset or quantum")
    return Selector(text=key, keys=tuple(sorted(seeds)))


def recompute(store, flag_id: str, *, before_write=None) -> dict:
    """Propagate a flag again and replace its marks, all in one unit.

    Run it after new processing or a blocked input.  The flag's selector is
    resolved again, so data of a flagged visit ingested since (a new
    release's calexps) is flagged too and gets its ``FLAGS`` edge; marks no
    longer reached are removed, the rest rewritten.
    """
    record = find_flag(store, flag_id)
    key = record["key"]
    seeds = _seeds_of(store, key)
    try:
        now_selected = targets(store, record["selector"])[1]
    except (SelectorError, UnknownName, ModelError):
        now_selected = {}  # e.g. the units are unknown at an importing site: keep the edges
    new = {k: t for k, t in now_selected.items() if k not in seeds}
    seeds.update(new)
    p = propagate(store, seeds)
    stale = [k for ref, k in queries.marked_refs(store, key) if ref not in p.steps]
    batch = GraphBatch(f"recompute {key}")
    for k in stale:
        batch.remove_edge(Rel.CONTAMINATED_BY, k, key)
    for target in new:
        batch.edges[(Rel.FLAGS, key, target)] = {}
    known = dict(seeds)
    known[key] = None
    prepared = store.prepare(batch, known, mark_statements(store, p, key))
    if before_write is not None:
        before_write()
    store.commit(prepared)
    return {"flag": key, "marked": len(p.steps), "removed": len(stale),
            "newly_flagged": len(new)}


def block_input(store, dataset: str, quantum: str, reason: str, by: str,
                now: str | None = None) -> dict:
    """Record that ``quantum`` rejected ``dataset`` (e.g. outlier rejection in a coadd), so
    contamination does not flow through that edge, and recompute the flags that reach it."""
    d = parse_selector(dataset).keys
    q = parse_selector(quantum).keys
    if len(d) != 1 or kind_of_key(d[0]) != Kind.DATASET or len(q) != 1 \
            or kind_of_key(q[0]) != Kind.QUANTUM:
        raise FlagError("block takes a dataset (UUID or key) and a quantum key")
    if not (reason or "").strip():
        raise FlagError("is required", field="reason")
    if not (by or "").strip():
        raise FlagError("is required", field="by")
    if not queries.is_input(store, d[0], q[0]):
        raise FlagError(f"{d[0]} is not an input of {q[0]}")
    batch = GraphBatch(f"block {d[0]} -> {q[0]}")
    batch.add_edge(Rel.INPUT_TO, d[0], q[0], rejected=True, rejected_reason=reason.strip(),
                   rejected_by=by.strip(), rejected_at=now or now_utc_stamp(), rejected_time_scale="utc")
    store.write(batch)
    flags = queries.flags_marking(store, q[0])
    return {"blocked": [d[0], q[0]], "recomputed": [recompute(store, f) for f in sorted(flags)]}

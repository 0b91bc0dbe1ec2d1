"""Bad-data flags and contamination propagation (LDF101 a-e, LDF102).

A *flag* is a verdict (``bad`` or ``suspect``) on a visit, exposure,
detector-visit, dataset or quantum, with who, when (UTC), why, its evidence
and its authority.  Flags are history: they are never deleted, only
retracted (the retraction is recorded on the flag), so every question can
be asked "as of" a time or a release.

Flagging *propagates*: every dataset and quantum downstream of the flagged
datasets gets a ``CONTAMINATED_BY`` mark pointing at the flag, carrying
``steps`` (shortest number of processing steps from a flagged dataset) and
``fraction`` (how much of it the flag reaches, rules below).  Marks are
written with the flag in one all-or-nothing ingest unit, so "is this
product contaminated, by what, how much" is one indexed lookup by key.

Fraction rules (``docs/flags.md`` explains them with the demo):

* a flagged dataset (or a flagged quantum and its outputs): 1;
* a dataset written by quantum ``q``: the weighted mean of the fractions of
  ``q``'s *science* inputs, an input untouched by the flag counting 0;
  calibration inputs (``CALIBRATION_TYPES``) are left out of the mean, but a
  contaminated calibration reaches every pixel, so the output's fraction is
  at least that calibration's;
* every input weighs 1, except in the tasks of ``WEIGHTED_TASKS`` (coadd
  assembly), where each input warp weighs the number of science inputs
  (calexps) its own quantum read: a coadd's fraction is then exactly the
  share of its input calexps that came from flagged data;
* an input the step rejected (``INPUT_TO`` edge with ``rejected: true``)
  neither counts nor carries contamination: propagation stops there;
* a quantum's mark is the fraction and step count of the datasets it wrote.

Retracting a flag leaves its marks in place (they are history too); every
lookup reads only marks of flags active at the time asked, so a product
reached by two flags stays contaminated by the other after one retraction.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Iterable

import networkx as nx

from .model import GraphBatch, Kind, ModelError, Rel, kind_of_key
from .query import FRONTIER_CHUNK, MAX_STEPS, upstream
from .selector import Selector, SelectorError, parse_selector, resolve

VERDICTS = ("bad", "suspect")

#: Dataset types that are calibrations: left out of a step's input count.
CALIBRATION_TYPES = frozenset({"bias", "dark", "flat", "fringe", "defects", "crosstalk",
                               "linearizer", "ptc", "bfk", "camera", "transmission_curve"})

#: Tasks whose inputs weigh the number of science inputs of the quantum that made them.
WEIGHTED_TASKS = frozenset({"assembleCoadd"})

#: Stored fractions are rounded to this many decimals (engines print floats differently).
FRACTION_DIGITS = 12

#: TAI - UTC since 2017-01-01 (quantum times are TAI, flag times UTC).
TAI_MINUS_UTC = timedelta(seconds=37)

_FLAG_ID_RE = re.compile(r"^[0-9a-fA-F-]{8,36}$")


class FlagError(ValueError):
    """A flag operation that cannot be done as asked; the message says why."""


# --- times ---------------------------------------------------------------------

def now_utc() -> str:
    return _iso(datetime.now(timezone.utc))


def _iso(t: datetime) -> str:
    """One fixed format, so stored times compare correctly as strings in every engine."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> str | None:
    """An ISO date or time (UTC unless it says otherwise) in the stored format; None if not one."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return _iso(t)


def as_of_time(store, as_of: str | None) -> str | None:
    """The UTC time an ``--as-of`` value stands for: an ISO date/time, or a release.

    A release (a collection name, or a chained collection's ``release``) stands
    for its ``released_at`` property (UTC) if it has one, else for the end of
    the last quantum in its RUN collections (stored in TAI, converted to UTC).
    """
    if as_of is None:
        return None
    t = parse_time(as_of)
    if t is not None:
        return t
    rows = store.read("MATCH (c:Collection) WHERE c.release = $r OR c.name = $r "
                      "RETURN c.name, c.released_at ORDER BY c.name", {"r": as_of})
    if not rows:
        raise FlagError(f"--as-of {as_of!r}: not an ISO date or time, and no release or "
                        "collection of that name")
    name, released = rows[0]
    if released:
        return parse_time(released) or released
    from .query import collection_members
    runs, _ = collection_members(store, name)
    end = store.read("MATCH (q:Quantum) WHERE q.run IN $runs RETURN max(q.end)", {"runs": runs})
    if not end or not end[0][0]:
        raise FlagError(f"--as-of {as_of!r}: the release has no released_at and no quanta")
    tai = datetime.fromisoformat(end[0][0]).replace(tzinfo=timezone.utc)
    return _iso(tai - TAI_MINUS_UTC)


def _active_clause(var: str = "f") -> str:
    return (f"{var}.created_at <= $at AND "
            f"({var}.retracted_at IS NULL OR {var}.retracted_at > $at)")


# --- propagation -----------------------------------------------------------------

@dataclass
class Propagation:
    """Everything one flag reaches, computed from the graph, not yet written."""

    seeds: dict[str, str | None]                                # flagged key -> dataset type
    steps: dict[str, int] = field(default_factory=dict)         # dataset or quantum -> steps
    fraction: dict[str, float] = field(default_factory=dict)    # dataset or quantum -> fraction
    dataset_type: dict[str, str] = field(default_factory=dict)
    data_id: dict[str, str] = field(default_factory=dict)
    run: dict[str, str] = field(default_factory=dict)
    task: dict[str, str] = field(default_factory=dict)          # quantum -> task
    inputs: dict[str, set] = field(default_factory=lambda: defaultdict(set))   # q -> reached inputs
    outputs: dict[str, set] = field(default_factory=lambda: defaultdict(set))  # q -> outputs
    producer: dict[str, str] = field(default_factory=dict)      # dataset -> quantum

    @property
    def datasets(self) -> list[str]:
        return [k for k in self.steps if k.startswith("dataset:")]

    @property
    def quanta(self) -> list[str]:
        return [k for k in self.steps if k.startswith("quantum:")]


_DOWN_FROM_DATASETS = (
    "MATCH (a:Dataset) WHERE a.key IN $keys "
    "MATCH (a)-[e:INPUT_TO]->(q:Quantum)-[:PRODUCED]->(b:Dataset) "
    "WHERE coalesce(e.rejected, false) = false "
    "RETURN a.key, q.key, q.task, b.key, b.dataset_type")
_DOWN_FROM_QUANTA = (
    "MATCH (q:Quantum) WHERE q.key IN $keys MATCH (q)-[:PRODUCED]->(b:Dataset) "
    "RETURN null, q.key, q.task, b.key, b.dataset_type")


def _chunks(keys, size=FRONTIER_CHUNK):
    keys = sorted(keys)
    for i in range(0, len(keys), size):
        yield keys[i:i + size]


_INPUT_COUNTS = (  # filters sit in the aggregation: a WHERE on the input node
    # makes FalkorDB's planner start from a scan of every dataset
    "MATCH (q:Quantum) WHERE q.key IN $keys MATCH (i)-[e:INPUT_TO]->(q) "
    "RETURN q.key, sum(CASE WHEN coalesce(e.rejected, false) "
    "OR i.dataset_type IN $calib THEN 0 ELSE 1 END)")
_WARP_WEIGHTS = (
    "MATCH (q:Quantum) WHERE q.key IN $keys MATCH (w)-[e:INPUT_TO]->(q) "
    "MATCH (pq:Quantum)-[:PRODUCED]->(w) MATCH (c)-[e2:INPUT_TO]->(pq) "
    "RETURN q.key, w.key, coalesce(e.rejected, false) OR w.dataset_type IN $calib, "
    "sum(CASE WHEN coalesce(e2.rejected, false) OR c.dataset_type IN $calib "
    "THEN 0 ELSE 1 END)")


def _denominators(store, quanta: list[str], weighted: list[str]):
    """(science input count per quantum, input weights per weighted quantum)."""
    calib = sorted(CALIBRATION_TYPES)
    science: dict[str, int] = {}
    weights: dict[str, dict[str, int]] = defaultdict(dict)
    for chunk in _chunks(quanta):
        for q, n in store.read(_INPUT_COUNTS, {"keys": chunk, "calib": calib}):
            science[q] = int(n)
    for chunk in _chunks(weighted):
        for q, w, skip, n in store.read(_WARP_WEIGHTS, {"keys": chunk, "calib": calib}):
            if not skip:
                weights[q][w] = int(n)
    return science, weights


def propagate(store, seeds: dict[str, str | None]) -> Propagation:
    """Every dataset and quantum downstream of ``seeds``, with steps and fractions.

    A breadth-first search, one query per step over the whole frontier (as
    :func:`lineage.query.bfs`, which it follows), that also keeps which
    quantum read which reached dataset, so that fractions can be computed in
    topological order afterwards; rejected inputs are not followed.  The
    input counts of the quanta found at one step are asked for in a second
    thread while the search takes the next step.
    """
    p = Propagation(dict(seeds))
    for key, dtype in seeds.items():
        p.steps[key] = 0
        p.fraction[key] = 1.0
        if dtype:
            p.dataset_type[key] = dtype
    frontier = dict.fromkeys(seeds)
    level = 0
    pending = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lineage-flags") as pool:
        while frontier and level < MAX_STEPS:
            level += 1
            nxt = {}
            found = []
            for kind, query in ((Kind.DATASET, _DOWN_FROM_DATASETS),
                                (Kind.QUANTUM, _DOWN_FROM_QUANTA)):
                keys = [k for k in frontier if kind_of_key(k) == kind]
                for chunk in _chunks(keys):
                    for a, q, task, b, btype in store.read(query, {"keys": chunk}):
                        if a is not None:
                            p.inputs[q].add(a)
                        p.outputs[q].add(b)
                        p.producer[b] = q
                        if q not in p.task:
                            p.task[q] = task
                            if q not in p.seeds:
                                found.append(q)
                        p.steps.setdefault(q, level)
                        if b not in p.steps:
                            p.steps[b] = level
                            nxt[b] = None
                        p.dataset_type[b] = btype
            if found:
                pending.append(pool.submit(_denominators, store, found,
                                           [q for q in found if p.task[q] in WEIGHTED_TASKS]))
            frontier = nxt
        science: dict[str, int] = {}
        weights: dict[str, dict[str, int]] = {}
        for future in pending:
            s, w = future.result()
            science.update(s)
            weights.update(w)
    _fractions(p, science, weights)
    return p


def _fractions(p: Propagation, science: dict[str, int], weights: dict[str, dict[str, int]]) -> None:
    """Fill ``p.fraction`` for every reached quantum and dataset (rules in the module doc)."""
    quanta = [q for q in p.task if q not in p.seeds]
    order = nx.DiGraph()
    order.add_nodes_from(quanta)
    for q in quanta:
        for a in p.inputs.get(q, ()):
            producer = p.producer.get(a)
            if producer is not None and producer in order and a not in p.seeds:
                order.add_edge(producer, q)
    for key in p.seeds:  # a flagged quantum taints all it wrote
        if key.startswith("quantum:"):
            for b in p.outputs.get(key, ()):
                p.fraction.setdefault(b, 1.0)
    for q in nx.topological_sort(order):
        w = weights.get(q, {})
        # inputs without a producing quantum (raws) weigh 1 in a weighted task too
        total = sum(w.values()) + max(0, science.get(q, 0) - len(w))
        reached = calib_max = 0.0
        for a in p.inputs.get(q, ()):
            fa = p.fraction.get(a, 0.0)
            if p.dataset_type.get(a) in CALIBRATION_TYPES:
                calib_max = max(calib_max, fa)
            else:
                reached += w.get(a, 1) * fa
        f = reached / total if total else 0.0
        f = min(1.0, max(f, calib_max))
        p.fraction[q] = f
        for b in p.outputs.get(q, ()):
            if b not in p.seeds:
                p.fraction[b] = f


def _data_id(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in (text or "").split(",") if "=" in part)


def _details(store, p: Propagation, keys) -> None:
    """Data ID and run of ``keys`` (the walk itself carries keys and types only)."""
    for chunk in _chunks([k for k in keys if k not in p.data_id]):
        for k, t, did, run in store.read("MATCH (d:Dataset) WHERE d.key IN $keys "
                                         "RETURN d.key, d.dataset_type, d.data_id, d.run",
                                         {"keys": chunk}):
            p.dataset_type[k] = t
            p.data_id[k] = did or ""
            p.run[k] = run or ""


def blast_radius(store, p: Propagation, top: int = 10, by_tract_band: bool = True) -> dict:
    """Counts by dataset type, by (tract, band), and the most affected products."""
    by_type: dict[str, int] = defaultdict(int)
    for k in p.datasets:
        by_type[p.dataset_type.get(k, "")] += 1
    products = sorted((k for k in p.datasets if k not in p.seeds),
                      key=lambda k: (-p.fraction.get(k, 0.0), p.steps[k],
                                     p.dataset_type.get(k, ""), k))[:top]
    _details(store, p, p.datasets if by_tract_band else products)
    products.sort(key=lambda k: (-p.fraction.get(k, 0.0), p.steps[k], p.dataset_type.get(k, ""),
                                 p.data_id.get(k, ""), p.run.get(k, ""), k))
    out = {
        "flagged": sum(1 for k in p.seeds if k.startswith("dataset:")),
        "datasets": len(p.datasets),
        "quanta": len(p.quanta),
        "by_dataset_type": dict(sorted(by_type.items())),
        "most_affected": [{"key": k, "dataset_type": p.dataset_type.get(k, ""),
                           "data_id": p.data_id.get(k, ""), "run": p.run.get(k, ""),
                           "steps": p.steps[k], "fraction": round(p.fraction.get(k, 0.0), 6)}
                          for k in products],
    }
    if by_tract_band:
        out["by_tract_band"] = _by_tract_band(store, p)
    return out


def _by_tract_band(store, p: Propagation) -> list[dict]:
    ids = {k: _data_id(p.data_id.get(k, "")) for k in p.datasets}
    # the band of visit- and exposure-level datasets comes from their visit
    band_of = {}
    values = sorted({d.get("visit") or d.get("exposure") for d in ids.values()
                     if "band" not in d and (d.get("visit") or d.get("exposure"))})
    if values:
        for dim, value, band in store.read(
                "MATCH (u:DataUnit) WHERE u.dimension IN ['visit', 'exposure'] AND u.value IN $v "
                "MATCH (u)-[:PART_OF*1..3]->(b:DataUnit {dimension: 'band'}) "
                "RETURN DISTINCT u.dimension, u.value, b.value", {"v": values}):
            band_of[(dim, value)] = band
    counts: dict[tuple, int] = defaultdict(int)
    for k in p.datasets:
        d = ids[k]
        band = d.get("band") or band_of.get(("visit", d.get("visit"))) or \
            band_of.get(("exposure", d.get("exposure"))) or "-"
        counts[(d.get("tract", "-"), band)] += 1
    return [{"tract": t, "band": b, "datasets": n} for (t, b), n in sorted(counts.items())]


def _mark_batch(p: Propagation, flag_key: str, batch: GraphBatch) -> None:
    """Add one ``CONTAMINATED_BY`` edge per reached node (values are known clean)."""
    for key, steps in p.steps.items():
        batch.edges[(Rel.CONTAMINATED_BY, key, flag_key)] = {
            "steps": steps, "fraction": round(float(p.fraction.get(key, 0.0)), FRACTION_DIGITS)}


def _known(p: Propagation) -> dict[str, str | None]:
    """Keys just read from the store: the write needs not look them up again."""
    return {k: p.dataset_type.get(k) for k in p.steps}


# --- flags --------------------------------------------------------------------------

def _evidence(evidence: str) -> dict:
    evidence = (evidence or "").strip()
    if not evidence:
        raise FlagError("--evidence is required: a URI or a file")
    path = Path(evidence).expanduser()
    if "://" not in evidence and path.is_file():
        data = path.read_bytes()
        return {"evidence": path.resolve().as_uri(),
                "evidence_sha256": hashlib.sha256(data).hexdigest(),
                "evidence_bytes": len(data)}
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", evidence) and not Path(evidence).exists():
        return {"evidence": evidence}
    raise FlagError(f"--evidence {evidence!r}: no such file, and not a URI (scheme:...)")


def _targets(store, selector: str) -> tuple[Selector, dict[str, str | None], list[str]]:
    """(parsed selector, flagged datasets or quanta, data units named by the selector)."""
    sel = parse_selector(selector)
    seeds = resolve(store, sel)
    units = [k for k in sel.keys if kind_of_key(k) == Kind.DATA_UNIT]
    if sel.pairs and len(sel.pairs) == 1:
        dim, value = sel.pairs[0]
        units += [r[0] for r in store.read(
            "MATCH (u:DataUnit) WHERE u.dimension = $d AND u.value = $v RETURN u.key",
            {"d": dim, "v": value})]
    return sel, seeds, sorted(units)


def flag(store, selector: str, verdict: str, reason: str, evidence: str, by: str,
         authority: str = "", dry_run: bool = False, now: str | None = None) -> dict:
    """Flag what ``selector`` names and mark everything downstream, in one unit.

    With ``dry_run`` nothing is written; the report gives the blast radius.
    """
    if verdict not in VERDICTS:
        raise FlagError(f"--verdict {verdict!r}: must be one of {', '.join(VERDICTS)}")
    if not (reason or "").strip():
        raise FlagError("--reason must say why")
    if not (by or "").strip():
        raise FlagError("--by must name who flags")
    props = _evidence(evidence)
    sel, seeds, units = _targets(store, selector)
    p = propagate(store, seeds)
    # the dry run shows the whole blast radius; a real flag reports counts and the
    # most affected products, and writes at once
    report = {"selector": sel.text, "verdict": verdict, "dry_run": dry_run,
              "blast_radius": blast_radius(store, p, by_tract_band=dry_run)}
    if dry_run:
        return report
    key = f"flag:{uuid.uuid4()}"
    created = now or now_utc()
    batch = GraphBatch(f"flag {sel.text}")
    batch.add_node(key, verdict=verdict, reason=reason.strip(), by=by.strip(),
                   authority=(authority or by).strip(), selector=sel.text, created_at=created,
                   time_scale="utc", **props)
    for target in list(seeds) + units:
        batch.edges[(Rel.FLAGS, key, target)] = {}
    _mark_batch(p, key, batch)
    known = _known(p)
    known.update(dict.fromkeys(units))
    store.commit(store.prepare(batch, known))
    report.update(flag=key, created_at=created)
    return report


def find_flag(store, flag_id: str) -> dict:
    """A flag by key, UUID or unique UUID prefix (8+ characters): its properties."""
    text = (flag_id or "").strip()
    uid = text[5:] if text.startswith("flag:") else text
    if not _FLAG_ID_RE.match(uid):
        raise FlagError(f"not a flag id: {flag_id!r} (give flag:<uuid>, a UUID or 8+ of its "
                        "first characters)")
    rows = store.read("MATCH (f:Flag) WHERE f.key STARTS WITH $p RETURN f.key, properties(f)",
                      {"p": f"flag:{uid.lower()}"})
    if not rows:
        raise FlagError(f"no flag {flag_id!r} in this repository")
    if len(rows) > 1:
        raise FlagError(f"flag id {flag_id!r} is ambiguous ({len(rows)} flags start with it)")
    key, props = rows[0]
    return _flag_record(key, props)


def _flag_record(key, props) -> dict:
    props = {k: v for k, v in dict(props).items() if not k.startswith("_") and k != "key"}
    return {"key": key, **dict(sorted(props.items())),
            "active": "retracted_at" not in props}


def unflag(store, flag_id: str, reason: str, by: str, now: str | None = None) -> dict:
    """Retract a flag: recorded on it, never deleted; its marks stay as history."""
    record = find_flag(store, flag_id)
    if not (reason or "").strip():
        raise FlagError("--reason must say why the flag is retracted")
    if not (by or "").strip():
        raise FlagError("--by must name who retracts")
    if record.get("retracted_at"):
        raise FlagError(f"{record['key']} was already retracted at {record['retracted_at']} "
                        f"by {record.get('retracted_by')}")
    at = now or now_utc()
    batch = GraphBatch(f"unflag {record['key']}")
    batch.add_node(record["key"], retracted_at=at, retracted_by=by.strip(),
                   retraction_reason=reason.strip())
    store.write(batch)
    return find_flag(store, record["key"])


def list_flags(store, as_of: str | None = None, include_retracted: bool = False) -> list[dict]:
    """Flags active now (or at ``as_of``), or every flag with ``include_retracted``."""
    rows = store.read("MATCH (f:Flag) RETURN f.key, properties(f)")
    flags = [_flag_record(k, p) for k, p in rows]
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
    rows = store.read(
        f"MATCH (x:{label} {{key: $k}}) OPTIONAL MATCH (x)-[c:CONTAMINATED_BY]->(f:Flag) "
        f"WHERE {_active_clause()} "
        "RETURN f.key, f.verdict, c.steps, c.fraction", {"k": key, "at": at})
    if not rows:
        raise SelectorError(f"no such node: {key}")
    by = sorted(({"flag": f, "verdict": v, "steps": int(s), "fraction": float(fr)}
                 for f, v, s, fr in rows if f is not None),
                key=lambda m: (-m["fraction"], m["steps"], m["flag"]))
    return {"key": key, "contaminated": bool(by), "as_of": as_of,
            "max_fraction": max((m["fraction"] for m in by), default=0.0),
            "verdict": "bad" if any(m["verdict"] == "bad" for m in by) else
                       ("suspect" if by else None),
            "by": by}


def marks(store, flag_key: str) -> dict[str, tuple[int, float]]:
    """Every mark of one flag: node key -> (steps, fraction)."""
    return {k: (int(s), float(f)) for k, s, f in store.read(
        "MATCH (x)-[c:CONTAMINATED_BY]->(f:Flag {key: $f}) RETURN x.key, c.steps, c.fraction",
        {"f": flag_key})}


def _seeds_of(store, flag_key: str) -> dict[str, str | None]:
    return {k: t for k, t in store.read(
        "MATCH (f:Flag {key: $f})-[:FLAGS]->(x) WHERE NOT x:DataUnit "
        "RETURN x.key, x.dataset_type", {"f": flag_key})}


def recompute(store, flag_id: str) -> dict:
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
        now_selected = _targets(store, record["selector"])[1]
    except (SelectorError, ModelError):
        now_selected = {}  # e.g. the units are unknown at an importing site: keep the edges
    new = {k: t for k, t in now_selected.items() if k not in seeds}
    seeds.update(new)
    p = propagate(store, seeds)
    old = marks(store, key)
    batch = GraphBatch(f"recompute {key}")
    for stale in set(old) - set(p.steps):
        batch.remove_edge(Rel.CONTAMINATED_BY, stale, key)
    for target in new:
        batch.edges[(Rel.FLAGS, key, target)] = {}
    _mark_batch(p, key, batch)
    known = _known(p)
    known[key] = None
    store.commit(store.prepare(batch, known))
    return {"flag": key, "marked": len(p.steps), "removed": len(set(old) - set(p.steps)),
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
    if not (reason or "").strip() or not (by or "").strip():
        raise FlagError("--reason and --by are required")
    if not store.read("MATCH (d:Dataset {key: $d})-[:INPUT_TO]->(q:Quantum {key: $q}) RETURN d.key",
                      {"d": d[0], "q": q[0]}):
        raise FlagError(f"{d[0]} is not an input of {q[0]}")
    batch = GraphBatch(f"block {d[0]} -> {q[0]}")
    batch.add_edge(Rel.INPUT_TO, d[0], q[0], rejected=True, rejected_reason=reason.strip(),
                   rejected_by=by.strip(), rejected_at=now or now_utc(), rejected_time_scale="utc")
    store.write(batch)
    flags = [k for (k,) in store.read(
        "MATCH (:Quantum {key: $q})-[:CONTAMINATED_BY]->(f:Flag) RETURN f.key", {"q": q[0]})]
    return {"blocked": [d[0], q[0]], "recomputed": [recompute(store, f) for f in sorted(flags)]}


# --- reprocessing (LDF101 e) and reproduction (LDF102) --------------------------------

def _active_flag_keys(store, flag_ids=None, as_of=None) -> list[str]:
    if flag_ids:
        return sorted({find_flag(store, f)["key"] for f in flag_ids})
    return [f["key"] for f in list_flags(store, as_of)]


def flagged_datasets(store, keys: Iterable[str] | None = None, as_of=None) -> dict[str, list[str]]:
    """Directly flagged datasets (of active flags): dataset key -> flag keys."""
    at = as_of_time(store, as_of) or "9999"
    out: dict[str, list[str]] = defaultdict(list)
    if keys is None:
        rows = store.read(f"MATCH (f:Flag)-[:FLAGS]->(d:Dataset) WHERE {_active_clause()} "
                          "RETURN d.key, f.key", {"at": at})
    else:
        rows = []
        for chunk in _chunks(set(keys)):
            rows += store.read(f"MATCH (f:Flag)-[:FLAGS]->(d:Dataset) WHERE d.key IN $keys "
                               f"AND {_active_clause()} RETURN d.key, f.key",
                               {"keys": chunk, "at": at})
    for d, f in rows:
        out[d].append(f)
    return {k: sorted(v) for k, v in sorted(out.items())}


def reprocessing_plan(store, flag_ids=None, as_of=None) -> dict:
    """The quanta to rerun, in dependency order, each without its flagged inputs.

    A contaminated quantum whose science inputs are all flagged (or were all
    written by dropped quanta) has nothing left to run on: it is listed under
    ``dropped`` instead, and its outputs are dropped from later input lists.
    """
    flags = _active_flag_keys(store, flag_ids, as_of)
    at = as_of_time(store, as_of) or "9999"
    quanta: set[str] = set()
    for f in flags:
        quanta |= {k for k in marks(store, f) if k.startswith("quantum:")}
    flagged = flagged_datasets(store, as_of=as_of)
    flagged_quanta = {k for (k,) in store.read(
        f"MATCH (f:Flag)-[:FLAGS]->(q:Quantum) WHERE {_active_clause()} RETURN q.key",
        {"at": at})}
    info, inputs, outputs = {}, defaultdict(list), defaultdict(list)
    for chunk in _chunks(quanta):
        for q, task, did, run in store.read(
                "MATCH (q:Quantum) WHERE q.key IN $keys RETURN q.key, q.task, q.data_id, q.run",
                {"keys": chunk}):
            info[q] = (task, did, run)
        for q, d, t, rejected in store.read(
                "MATCH (q:Quantum) WHERE q.key IN $keys MATCH (d:Dataset)-[e:INPUT_TO]->(q) "
                "RETURN q.key, d.key, d.dataset_type, coalesce(e.rejected, false)",
                {"keys": chunk}):
            inputs[q].append((d, t, bool(rejected)))
        for q, d in store.read("MATCH (q:Quantum) WHERE q.key IN $keys "
                               "MATCH (q)-[:PRODUCED]->(d:Dataset) RETURN q.key, d.key",
                               {"keys": chunk}):
            outputs[q].append(d)
    producer = {d: q for q, ds in outputs.items() for d in ds}
    order = nx.DiGraph()
    order.add_nodes_from(quanta)
    for q, ins in inputs.items():
        for d, _, _ in ins:
            if producer.get(d) in quanta:
                order.add_edge(producer[d], q)
    rerun, dropped = [], []
    lost: set[str] = set()  # outputs of dropped quanta: they will not exist any more
    for q in nx.lexicographical_topological_sort(order, key=lambda k: (info[k][0], info[k][1], k)):
        task, did, run = info[q]
        keep = sorted(d for d, _, rej in inputs[q] if d not in flagged and d not in lost
                      and not rej)
        entry = {"quantum": q, "task": task, "data_id": did, "run": run, "inputs": keep,
                 "dropped_inputs": sorted(d for d, _, _ in inputs[q] if d in flagged),
                 "lost_inputs": sorted(d for d, _, _ in inputs[q] if d in lost and d not in flagged),
                 "rejected_inputs": sorted(d for d, _, rej in inputs[q] if rej),
                 "outputs": sorted(outputs[q])}
        science_left = [d for d, t, rej in inputs[q] if d not in flagged and d not in lost
                        and not rej and t not in CALIBRATION_TYPES]
        if q in flagged_quanta or not science_left:
            dropped.append(entry)
            lost.update(outputs[q])
        else:
            entry["order"] = len(rerun)
            rerun.append(entry)
    return {"flags": flags, "rerun": rerun, "dropped": dropped,
            "excluded_datasets": sorted(flagged),
            "data_queries": data_queries(rerun, store, flagged)}


def _expr_value(value: str) -> str:
    return value if re.fullmatch(r"-?\d+", value) else f"'{value}'"


def data_queries(rerun: list[dict], store=None, flagged=()) -> dict:
    """Butler-style data-ID expressions per task (``-d`` of a pipeline runner), plus the
    expression excluding flagged visits that every rerun should carry."""
    per_task: dict[str, list[str]] = defaultdict(list)
    for e in rerun:
        parts = [f"{k}={_expr_value(v)}" for k, v in sorted(_data_id(e["data_id"]).items())]
        expr = "(" + " AND ".join(parts) + ")"
        if expr not in per_task[e["task"]]:
            per_task[e["task"]].append(expr)
    visits = set()
    if store is not None and flagged:
        for chunk in _chunks(flagged):
            for (did,) in store.read("MATCH (d:Dataset) WHERE d.key IN $keys RETURN d.data_id",
                                     {"keys": chunk}):
                d = _data_id(did)
                if "visit" in d and "detector" not in d:
                    visits.add(d["visit"])
    out = {task: " OR ".join(sorted(exprs)) for task, exprs in sorted(per_task.items())}
    if visits:
        out["_exclude"] = f"NOT (visit IN ({', '.join(sorted(visits))}))"
    return out


def inputs_for(store, selector: str, types=None, as_of=None) -> list[dict]:
    """LDF102: every input upstream of a product, flagged ones marked, so it can be
    rebuilt with them (all rows) or without them (rows with ``flagged`` false)."""
    rows = upstream(store, selector, types=types)
    flagged = flagged_datasets(store, [r.key for r in rows], as_of)
    out = []
    for r in rows:
        d = r.as_dict()
        d["flagged"] = r.key in flagged
        d["flags"] = flagged.get(r.key, [])
        out.append(d)
    return out


# --- moving flags between repositories ----------------------------------------------

def iter_flag_records(store) -> Iterable[dict]:
    """Flags with their history, their targets and the rejected inputs, in a stable order."""
    for key, props in sorted(store.read("MATCH (f:Flag) RETURN f.key, properties(f)")):
        rec = _flag_record(key, props)
        rec.pop("active")
        rec.pop("key")
        yield {"node": key, "kind": "Flag", "props": dict(sorted(rec.items()))}
    for src, dst in sorted(store.read("MATCH (f:Flag)-[:FLAGS]->(x) RETURN f.key, x.key")):
        yield {"edge": Rel.FLAGS.value, "src": src, "dst": dst, "props": {}}
    for src, dst, props in sorted(store.read(
            "MATCH (d:Dataset)-[e:INPUT_TO]->(q:Quantum) WHERE e.rejected = true "
            "RETURN d.key, q.key, properties(e)"), key=lambda r: (r[0], r[1])):
        props = {k: v for k, v in dict(props).items() if k.startswith("rejected")}
        yield {"edge": Rel.INPUT_TO.value, "src": src, "dst": dst,
               "props": dict(sorted(props.items()))}


def export_flags(store, out: IO[str]) -> int:
    n = 0
    for rec in iter_flag_records(store):
        out.write(json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n")
        n += 1
    return n


def _check_record(rec, where: str) -> None:
    if not isinstance(rec, dict):
        raise ModelError(f"{where}: not a JSON object")
    if "node" in rec:
        if rec.get("kind") != "Flag" or not str(rec["node"]).startswith("flag:"):
            raise ModelError(f"{where}: a flags file holds Flag nodes only, not {rec['node']!r}")
        props = rec.get("props")
        if not isinstance(props, dict):
            raise ModelError(f"{where}: 'props' must be an object")
        for name in ("verdict", "reason", "by", "created_at", "selector"):
            if name not in props:
                raise ModelError(f"{where}: flag {rec['node']} lacks {name!r}")
        if props["verdict"] not in VERDICTS:
            raise ModelError(f"{where}: verdict {props['verdict']!r} is not one of "
                             f"{', '.join(VERDICTS)}")
    elif rec.get("edge") == Rel.FLAGS.value:
        pass
    elif rec.get("edge") == Rel.INPUT_TO.value:
        if (rec.get("props") or {}).get("rejected") is not True:
            raise ModelError(f"{where}: an INPUT_TO record must carry rejected: true")
    else:
        raise ModelError(f"{where}: expected a Flag node, a FLAGS edge or a rejected INPUT_TO "
                         "edge")


def import_flags(store, lines: IO[str], name: str = "<input>") -> dict:
    """Read a flags export: all of it is written as one unit (or nothing, on any error),
    then every imported flag is propagated here."""
    from .export import records_to_units

    def records():
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"line {lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ModelError(f"{name}: {where}: not JSON ({exc.msg})") from None
            try:
                _check_record(rec, where)
            except ModelError as exc:
                raise ModelError(f"{name}: {exc}") from None
            yield where, rec

    batch = GraphBatch(name)
    for unit in records_to_units(records(), name, unit_size=10 ** 12):
        batch.update(unit)
    if not batch.nodes and not batch.edges:
        raise ModelError(f"{name}: no flags in it")
    store.write(batch)  # refuses edges to nodes this repository lacks, writing nothing
    flags = sorted(batch.nodes)
    for key in flags:
        recompute(store, key)
    return {"flags": len(flags), "edges": len(batch.edges), "recomputed": flags}

"""Every query flagging runs: flags, their targets and marks, and the walk that propagates them.

Nodes a walk meets by the ten thousand are named by *ref* (:mod:`lineage.store.dialect`):
the queries that take or give refs spell them with ``store.dialect``.
"""

from __future__ import annotations

from typing import NamedTuple

from lineage.store.cypher import Statement
from lineage.traversal.queries import existed_at


def _active(var: str = "f") -> str:
    """Flag ``var`` was active at ``$at``: created by then and not yet retracted."""
    return (f"{var}.created_at <= $at AND "
            f"({var}.retracted_at IS NULL OR {var}.retracted_at > $at)")


# --- flags ------------------------------------------------------------------------------

class FlagProps(NamedTuple):
    """A flag node: its key and stored properties."""
    key: str
    props: dict


def all_flags(store) -> list[FlagProps]:
    return [FlagProps(k, p) for k, p in store.read("MATCH (f:Flag) RETURN f.key, properties(f)")]


def flags_with_prefix(store, prefix: str) -> list[FlagProps]:
    """Flags whose key starts with ``prefix``."""
    return [FlagProps(k, p) for k, p in store.read(
        "MATCH (f:Flag) WHERE f.key STARTS WITH $p RETURN f.key, properties(f)", {"p": prefix})]


def flags_with_request_key(store, key_prop: str, key: str, by_prop: str,
                           by: str) -> list[FlagProps]:
    """Flags whose property ``key_prop`` (an idempotency key) is ``key`` and ``by_prop`` is
    ``by``."""
    return [FlagProps(k, p) for k, p in store.read(
        f"MATCH (f:Flag) WHERE f.{key_prop} = $k AND f.{by_prop} = $by "
        "RETURN f.key, properties(f)", {"k": key, "by": by})]


def active_flag_count(store) -> int:
    """Flags not retracted."""
    return int(store.read("MATCH (f:Flag) WHERE f.retracted_at IS NULL RETURN count(f)")[0][0])


class Release(NamedTuple):
    """A collection standing for a release: its name and when it was released (or None)."""
    name: str
    released_at: str | None


def releases_named(store, name: str) -> list[Release]:
    """Collections whose ``release`` or name is ``name``, by name."""
    return [Release(*r) for r in store.read(
        "MATCH (c:Collection) WHERE c.release = $r OR c.name = $r "
        "RETURN c.name, c.released_at ORDER BY c.name", {"r": name})]


def last_quantum_end(store, runs: list[str]) -> str | None:
    """The latest end time (TAI) of the quanta of ``runs``; None if none has one."""
    rows = store.read("MATCH (q:Quantum) WHERE q.run IN $runs RETURN max(q.end)", {"runs": runs})
    return rows[0][0] if rows else None


# --- targets ----------------------------------------------------------------------------

class Seed(NamedTuple):
    """A dataset or quantum a flag names directly (dataset type None for a quantum)."""
    key: str
    dataset_type: str | None


def flag_seeds(store, flag_key: str) -> list[Seed]:
    """The datasets and quanta a flag names (its data units left out)."""
    return [Seed(*r) for r in store.read(
        "MATCH (f:Flag {key: $f})-[:FLAGS]->(x) WHERE NOT x:DataUnit "
        "RETURN x.key, x.dataset_type", {"f": flag_key})]


class FlaggedBy(NamedTuple):
    """A dataset or quantum and an active flag naming it."""
    key: str
    flag: str


def active_flags_on_datasets(store, at: str, keys: list[str] | None = None) -> list[FlaggedBy]:
    """Datasets named by flags active at ``at`` (of ``keys`` only, if given)."""
    if keys is None:
        rows = store.read(f"MATCH (f:Flag)-[:FLAGS]->(d:Dataset) WHERE {_active()} "
                          "RETURN d.key, f.key", {"at": at})
    else:
        rows = store.read(f"MATCH (f:Flag)-[:FLAGS]->(d:Dataset) WHERE d.key IN $keys "
                          f"AND {_active()} RETURN d.key, f.key", {"keys": keys, "at": at})
    return [FlaggedBy(*r) for r in rows]


def actively_flagged_quanta(store, at: str) -> list[str]:
    """Keys of the quanta named by flags active at ``at``."""
    return [r[0] for r in store.read(
        f"MATCH (f:Flag)-[:FLAGS]->(q:Quantum) WHERE {_active()} RETURN q.key", {"at": at})]


class FlagTarget(NamedTuple):
    """A ``FLAGS`` edge: the flag and the node it names."""
    flag: str
    target: str


def flag_targets(store) -> list[FlagTarget]:
    return [FlagTarget(*r) for r in store.read("MATCH (f:Flag)-[:FLAGS]->(x) RETURN f.key, x.key")]


# --- marks ------------------------------------------------------------------------------

class Mark(NamedTuple):
    """A flag's mark on a dataset or quantum, with what the marked node is."""
    key: str
    dataset_type: str | None
    data_id: str | None
    run: str | None
    steps: int
    fraction: float


def marks_with_nodes(store, flag_key: str, ended_by: str | None = None) -> list[Mark]:
    """Every mark of one flag; with ``ended_by`` (TAI ISO), only on what existed then: a
    quantum that had ended, a dataset no quantum wrote or whose quantum had ended."""
    if ended_by is None:
        return [Mark(*r) for r in store.read(
            "MATCH (x)-[c:CONTAMINATED_BY]->(f:Flag {key: $f}) "
            "RETURN x.key, x.dataset_type, x.data_id, x.run, c.steps, c.fraction",
            {"f": flag_key})]
    # a quantum's own end, a dataset's maker's (a quantum is nobody's product)
    return [Mark(*r) for r in store.read(
        "MATCH (x)-[c:CONTAMINATED_BY]->(f:Flag {key: $f}) "
        "OPTIONAL MATCH (maker:Quantum)-[:PRODUCED]->(x) "
        "WITH x, c, coalesce(maker.end, x.end) AS made "
        "WHERE made IS NULL OR made <= $ended_by "
        "RETURN x.key, x.dataset_type, x.data_id, x.run, c.steps, c.fraction",
        {"f": flag_key, "ended_by": ended_by})]


class MarkStep(NamedTuple):
    """A flag's mark: the marked node's key, steps and fraction."""
    key: str
    steps: int
    fraction: float


def marks_of_flag(store, flag_key: str) -> list[MarkStep]:
    return [MarkStep(*r) for r in store.read(
        "MATCH (x)-[c:CONTAMINATED_BY]->(f:Flag {key: $f}) RETURN x.key, c.steps, c.fraction",
        {"f": flag_key})]


class MarkedRef(NamedTuple):
    """A node a flag marks: its ref (:mod:`lineage.store.dialect`) and key."""
    ref: object
    key: str


def marked_refs(store, flag_key: str) -> list[MarkedRef]:
    return [MarkedRef(*r) for r in store.read(
        f"MATCH (x)-[:CONTAMINATED_BY]->(f:Flag {{key: $f}}) "
        f"RETURN {store.dialect.ref('x')} AS ref, x.key AS key", {"f": flag_key})]


class Contamination(NamedTuple):
    """A flag active at the time asked marking one node (all None: none does)."""
    flag: str | None
    verdict: str | None
    steps: int | None
    fraction: float | None


def contamination_of(store, label: str, key: str, at: str) -> list[Contamination]:
    """The marks on one node by flags active at ``at``: no rows if the node is not stored,
    one row of None if nothing marks it."""
    return [Contamination(*r) for r in store.read(
        f"MATCH (x:{label} {{key: $k}}) OPTIONAL MATCH (x)-[c:CONTAMINATED_BY]->(f:Flag) "
        f"WHERE {_active()} "
        "RETURN f.key, f.verdict, c.steps, c.fraction", {"k": key, "at": at})]


def mark_statement(store, label: str, flag_key: str, rows: list) -> Statement:
    """The statement writing one ``CONTAMINATED_BY`` edge per row ``[ref, steps, fraction]``
    from the ``label`` node of that ref into the flag (run later, in the flag's unit)."""
    query = (f"MATCH (f:Flag {{key: $target}}) UNWIND $rows AS r WITH f, r, r[0] AS ref "
             f"{store.dialect.match_ref('a', label, 'ref')} "
             "MERGE (a)-[e:CONTAMINATED_BY]->(f) SET e.steps = r[1], e.fraction = r[2]")
    return Statement(query, {"target": flag_key, "rows": rows}, len(rows))


# --- inputs: blocked and rejected -----------------------------------------------------------

def is_input(store, dataset: str, quantum: str) -> bool:
    """Whether ``dataset`` is an input of ``quantum``."""
    return bool(store.read(
        "MATCH (d:Dataset {key: $d})-[:INPUT_TO]->(q:Quantum {key: $q}) RETURN d.key",
        {"d": dataset, "q": quantum}))


def flags_marking(store, quantum: str) -> list[str]:
    """Keys of the flags that mark ``quantum``."""
    return [r[0] for r in store.read(
        "MATCH (:Quantum {key: $q})-[:CONTAMINATED_BY]->(f:Flag) RETURN f.key", {"q": quantum})]


class RejectedInput(NamedTuple):
    """An ``INPUT_TO`` edge a quantum rejected: dataset, quantum, the edge's properties."""
    dataset: str
    quantum: str
    props: dict


def rejected_inputs(store) -> list[RejectedInput]:
    return [RejectedInput(*r) for r in store.read(
        "MATCH (d:Dataset)-[e:INPUT_TO]->(q:Quantum) WHERE e.rejected = true "
        "RETURN d.key, q.key, properties(e)")]


# --- reprocessing -------------------------------------------------------------------------

class QuantumInfo(NamedTuple):
    key: str
    task: str
    data_id: str
    run: str
    superseded_by: str | None   #: the RUN of a rerun carried out that rebuilt its outputs


def quanta_info(store, keys: list[str]) -> list[QuantumInfo]:
    return [QuantumInfo(*r) for r in store.read(
        "MATCH (q:Quantum) WHERE q.key IN $keys "
        "RETURN q.key, q.task, q.data_id, q.run, q.superseded_by", {"keys": keys})]


class QuantumInput(NamedTuple):
    """A dataset a quantum read, and whether the quantum rejected it."""
    quantum: str
    dataset: str
    dataset_type: str
    rejected: bool


def quanta_inputs(store, keys: list[str]) -> list[QuantumInput]:
    return [QuantumInput(*r) for r in store.read(
        "MATCH (q:Quantum) WHERE q.key IN $keys MATCH (d:Dataset)-[e:INPUT_TO]->(q) "
        "RETURN q.key, d.key, d.dataset_type, coalesce(e.rejected, false)", {"keys": keys})]


class QuantumOutput(NamedTuple):
    """A dataset a quantum wrote."""
    quantum: str
    dataset: str


def quanta_outputs(store, keys: list[str]) -> list[QuantumOutput]:
    return [QuantumOutput(*r) for r in store.read(
        "MATCH (q:Quantum) WHERE q.key IN $keys MATCH (q)-[:PRODUCED]->(d:Dataset) "
        "RETURN q.key, d.key", {"keys": keys})]


def data_ids(store, keys: list[str]) -> list[str]:
    """The data IDs of the datasets ``keys`` (in no order)."""
    return [r[0] for r in store.read("MATCH (d:Dataset) WHERE d.key IN $keys RETURN d.data_id",
                                     {"keys": keys})]


# --- the propagation walk (by ref) ----------------------------------------------------------

class SeedRef(NamedTuple):
    key: str
    ref: object


def seed_refs(store, label: str, keys: list[str]) -> list[SeedRef]:
    """The refs of the ``label`` nodes ``keys``."""
    return [SeedRef(*r) for r in store.read(
        f"MATCH (n:{label}) WHERE n.key IN $keys RETURN n.key AS key, "
        f"{store.dialect.ref('n')} AS ref", {"keys": keys})]


class Step(NamedTuple):
    """One step of the walk: input ref (None from a quantum), quantum ref and task, output
    dataset ref and type."""
    input: object
    quantum: object
    task: str
    output: object
    output_type: str | None


def steps_from_datasets(store, refs: list) -> list[Step]:
    """The steps from datasets (refs) through the quanta that read them and did not
    reject them to what those wrote."""
    ref, match = store.dialect.ref, store.dialect.match_ref
    return list(map(Step._make, store.read(
        f"UNWIND $refs AS ref {match('a', 'Dataset', 'ref')} "
        "MATCH (a)-[e:INPUT_TO]->(q:Quantum)-[:PRODUCED]->(b:Dataset) "
        "WHERE coalesce(e.rejected, false) = false "
        f"RETURN ref, {ref('q')} AS qref, q.task, {ref('b')} AS bref, b.dataset_type",
        {"refs": refs})))


def steps_from_quanta(store, refs: list) -> list[Step]:
    """The steps from quanta (refs) to what they wrote."""
    ref, match = store.dialect.ref, store.dialect.match_ref
    return list(map(Step._make, store.read(
        f"UNWIND $refs AS ref {match('q', 'Quantum', 'ref')} "
        "MATCH (q)-[:PRODUCED]->(b:Dataset) "
        f"RETURN null, ref, q.task, {ref('b')} AS bref, b.dataset_type", {"refs": refs})))


class InputCount(NamedTuple):
    quantum: object
    count: int


def science_input_counts(store, refs: list, calibration_types: list[str]) -> list[InputCount]:
    """Per quantum (ref): its inputs neither rejected nor of ``calibration_types``."""
    # filters sit in the aggregation: a WHERE on the input node makes
    # FalkorDB's planner start from a scan of every dataset
    return [InputCount(*r) for r in store.read(
        f"UNWIND $refs AS ref {store.dialect.match_ref('q', 'Quantum', 'ref')} "
        "MATCH (i)-[e:INPUT_TO]->(q) "
        "RETURN ref, sum(CASE WHEN coalesce(e.rejected, false) "
        "OR i.dataset_type IN $calib THEN 0 ELSE 1 END)",
        {"refs": refs, "calib": calibration_types})]


class InputWeight(NamedTuple):
    """An input of a weighted quantum: whether it is left out (rejected or a calibration),
    and the science input count of the quantum that made it."""
    quantum: object
    input: object
    left_out: bool
    weight: int


def input_weights(store, refs: list, calibration_types: list[str]) -> list[InputWeight]:
    ref, match = store.dialect.ref, store.dialect.match_ref
    return [InputWeight(*r) for r in store.read(
        f"UNWIND $refs AS ref {match('q', 'Quantum', 'ref')} MATCH (w)-[e:INPUT_TO]->(q) "
        "MATCH (pq:Quantum)-[:PRODUCED]->(w) MATCH (c)-[e2:INPUT_TO]->(pq) "
        f"RETURN ref, {ref('w')} AS wref, "
        "coalesce(e.rejected, false) OR w.dataset_type IN $calib, "
        "sum(CASE WHEN coalesce(e2.rejected, false) OR c.dataset_type IN $calib "
        "THEN 0 ELSE 1 END)", {"refs": refs, "calib": calibration_types})]


class DatasetDetails(NamedTuple):
    ref: object
    key: str
    dataset_type: str | None
    data_id: str | None
    run: str | None


def dataset_details(store, refs: list) -> list[DatasetDetails]:
    return [DatasetDetails(*r) for r in store.read(
        f"UNWIND $refs AS ref {store.dialect.match_ref('d', 'Dataset', 'ref')} "
        "RETURN ref, d.key, d.dataset_type, d.data_id, d.run", {"refs": refs})]


class VisitBand(NamedTuple):
    """The band unit a visit or exposure is part of (through its physical filter)."""
    dimension: str
    value: str
    band: str


def bands_of_visits(store, values: list[str]) -> list[VisitBand]:
    """The bands of the visits and exposures with ``values``."""
    return [VisitBand(*r) for r in store.read(
        "MATCH (u:DataUnit) WHERE u.dimension IN ['visit', 'exposure'] AND u.value IN $v "
        "MATCH (u)-[:PART_OF*1..3]->(b:DataUnit {dimension: 'band'}) "
        "RETURN DISTINCT u.dimension, u.value, b.value", {"v": values})]


# --- contamination of given datasets (release diffs, lightcurves) -------------------------

class ContaminationRow(NamedTuple):
    """A dataset, a flag (not retracted) that marks it, and the mark's fraction."""
    dataset: str
    flag: str
    fraction: float


def active_contamination(store, dataset_keys: list[str]) -> list[ContaminationRow]:
    """The marks of flags not retracted on these datasets (by the key index, one seek per
    key)."""
    return [ContaminationRow(*r) for r in store.read(
        "UNWIND $keys AS k MATCH (d:Dataset {key: k})-[c:CONTAMINATED_BY]->(f:Flag) "
        "WHERE f.retracted_at IS NULL RETURN k, f.key, c.fraction", {"keys": dataset_keys})]


# --- what flags contaminate (the API's contaminated, Dataset.contamination) -----------------

class ContaminatedRow(NamedTuple):
    """A dataset a flag active at the time asked marks: the dataset, the flag, the mark."""
    dataset: str
    dataset_type: str | None
    data_id: str | None
    run: str | None
    flag: str
    verdict: str
    reason: str | None
    steps: int
    fraction: float


def contaminated_datasets(store, at: str, flag_key: str | None = None,
                          types: list[str] | None = None, verdict: str | None = None,
                          min_fraction: float | None = None,
                          ended_by: str | None = None,
                          flag_keys: list[str] | None = None) -> list[ContaminatedRow]:
    """Every mark on a dataset by a flag active at ``at`` (by the flag ``flag_key`` only, if
    given; by one of ``flag_keys``, if given), of ``types``, with the flag's ``verdict``, of
    at least ``min_fraction``; with ``ended_by`` (TAI ISO), only datasets that existed then
    (:func:`lineage.traversal.queries.existed_at`)."""
    flag = "(f:Flag {key: $flag})" if flag_key is not None else "(f:Flag)"
    conditions = [_active()]
    params: dict = {"at": at, "flag": flag_key, "types": types, "verdict": verdict,
                    "min_fraction": min_fraction, "ended_by": ended_by, "flags": flag_keys}
    if flag_keys is not None:
        conditions.append("f.key IN $flags")
    if types is not None:
        conditions.append("x.dataset_type IN $types")
    if verdict is not None:
        conditions.append("f.verdict = $verdict")
    if min_fraction is not None:
        conditions.append("c.fraction >= $min_fraction")
    existed = existed_at("x", "x, c, f") if ended_by is not None else ""
    return [ContaminatedRow(*r) for r in store.read(
        f"MATCH (x:Dataset)-[c:CONTAMINATED_BY]->{flag} WHERE {' AND '.join(conditions)} "
        f"{existed}RETURN x.key, x.dataset_type, x.data_id, x.run, f.key, f.verdict, "
        "f.reason, c.steps, c.fraction", {k: v for k, v in params.items() if v is not None})]


def flags_naming(store, dimension: str) -> list[str]:
    """Keys of the flags that name a data unit of ``dimension`` (a flagged visit ...)."""
    return [r[0] for r in store.read(
        "MATCH (f:Flag)-[:FLAGS]->(u:DataUnit {dimension: $d}) RETURN DISTINCT f.key",
        {"d": dimension})]


class MarkOn(NamedTuple):
    """A mark on one of the datasets asked about, by a flag active at the time asked."""
    dataset: str
    flag: str
    verdict: str
    steps: int
    fraction: float


def marks_on_datasets(store, keys: list[str], at: str) -> list[MarkOn]:
    """The marks of flags active at ``at`` on the datasets ``keys`` (one seek per key)."""
    # the WITH keeps the filter on the flag after the seek: a WHERE right on the MATCH made
    # FalkorDB walk every mark of the flag for each key (0.16 s against 0.003 s, 540 keys)
    return [MarkOn(*r) for r in store.read(
        "UNWIND $keys AS k MATCH (x:Dataset {key: k})-[c:CONTAMINATED_BY]->(f:Flag) "
        f"WITH k, c, f WHERE {_active()} RETURN k, f.key, f.verdict, c.steps, c.fraction",
        {"keys": keys, "at": at})]


# --- rerun plans (lineage.flags.rerun) --------------------------------------------------

class FlaggedUnit(NamedTuple):
    """A data unit a flag names: its instrument (None if it has none) and value."""
    instrument: str | None
    value: str


def flagged_units(store, flag_keys: list[str], dimension: str) -> list[FlaggedUnit]:
    """The data units of ``dimension`` the flags ``flag_keys`` name (a flagged visit)."""
    return [FlaggedUnit(i, str(v)) for i, v in store.read(
        "MATCH (f:Flag)-[:FLAGS]->(u:DataUnit {dimension: $d}) WHERE f.key IN $flags "
        "RETURN DISTINCT u.instrument, u.value", {"d": dimension, "flags": flag_keys})]


class RunQuanta(NamedTuple):
    """How many quanta of one task ended with one status in one RUN."""
    run: str
    task: str
    status: str | None
    quanta: int


def quanta_of_runs(store, runs: list[str], tasks: list[str]) -> list[RunQuanta]:
    """The quanta of the tasks ``tasks`` in the RUNs ``runs``, counted by RUN, task and
    status (found by task, which is indexed)."""
    return [RunQuanta(*r) for r in store.read(
        "MATCH (q:Quantum) WHERE q.task IN $tasks AND q.run IN $runs "
        "RETURN q.run, q.task, q.status, count(q)", {"runs": runs, "tasks": tasks})]


def products_of_runs(store, runs: list[str], tasks: list[str]) -> list[str]:
    """Keys of the datasets the quanta of the tasks ``tasks`` in the RUNs ``runs`` wrote."""
    return [r[0] for r in store.read(
        "MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset) WHERE q.task IN $tasks AND q.run IN $runs "
        "RETURN d.key", {"runs": runs, "tasks": tasks})]

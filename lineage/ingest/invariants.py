"""The lineage graph's invariants, checked before a run's ingest unit is written.

Lineage is ``Dataset -[:INPUT_TO]-> Quantum -[:PRODUCED]-> Dataset``, and
every traversal (``upstream``, ``downstream``, flags, the release diff)
relies on it being a graph of *facts*:

* **one producer**: a dataset is written by at most one quantum;
* **no cycles**: nothing is, through any number of quanta, made from itself
  (a quantum reading its own output is the shortest such cycle);
* **one quantum, one record**: a quantum ID names one set of inputs and
  outputs and one task (OpenLineage runs, whose events arrive apart, may add
  inputs and outputs to a stored run, never change its task).

Each is checked within the file and against what is already stored, so a
file that would break one is rejected with the keys involved and nothing of
it is written.  The reads are a few small indexed queries, all in
:mod:`lineage.ingest.queries`: producers of the file's outputs, the stored
inputs, outputs and task of the file's quanta and, only when the file gives
a stored dataset a producer or a stored quantum a new input (the only ways a
new edge can close a cycle through stored edges), a walk down from those
nodes, one hop per query, with each node visited once.

The checks are made when the file is read, not inside the write's
transaction: two ingests running at the same moment can each pass them.
"""

from __future__ import annotations

from lineage.core.model import Kind, kind_of_key
from lineage.ingest.queries import (stored_producers, stored_quantum_inputs,
                                    stored_quantum_outputs, stored_quantum_tasks, stored_readers)

#: Nodes the stored walk may visit before it gives up (a cycle check that cannot
#: finish refuses the file rather than store what it could not check).
MAX_WALK_NODES = 2_000_000


class LineageChecks:
    """What one file says about lineage, checked as it is built and once at the end.

    ``fail(where, what)`` raises the reader's error; ``merges`` is True for
    OpenLineage, whose runs gather inputs and outputs over several files.
    """

    def __init__(self, fail, merges: bool = False) -> None:
        self.fail = fail
        self.merges = merges
        #: quantum key -> (where, inputs, outputs, task, record for comparison)
        self.quanta: dict[str, tuple] = {}
        self.producer: dict[str, str] = {}  # dataset key -> quantum key (this file)
        self.datasets: dict[str, tuple] = {}  # dataset key -> (where, (type, data ID, run))

    # --- as the file is built -----------------------------------------------------------------

    def dataset(self, key: str, where: str, record: tuple) -> None:
        """A dataset record; the same ID twice must say the same type, data ID and run."""
        seen = self.datasets.get(key)
        if seen is None:
            self.datasets[key] = (where, record)
            return
        first_where, first = seen
        diff = [f"{name} {a!r} there, {b!r} here"
                for name, a, b in zip(("dataset_type", "data_id", "run"), first, record)
                if a is not None and b is not None and a != b]
        if diff:
            self.fail(where, f"{key} appears twice with different contents (first at "
                             f"{first_where}): {'; '.join(diff)}")

    def quantum(self, key: str, where: str, inputs, outputs, task, record) -> bool:
        """A quantum; False if the file already gave this very quantum (nothing to add)."""
        inputs, outputs = frozenset(inputs), frozenset(outputs)
        own = sorted(inputs & outputs)
        if own:
            self.fail(where, f"{key} reads its own output {own[0]} (a quantum cannot consume "
                             "what it produces)")
        seen = self.quanta.get(key)
        if seen is not None:
            if seen[1:] == (inputs, outputs, task, record):
                return False
            diff = _difference(seen[1:4], (inputs, outputs, task))
            if seen[1:4] == (inputs, outputs, task):
                diff = _record_difference(seen[4], record)
            self.fail(where, f"{key} appears twice with different contents (first at "
                             f"{seen[0]}): {diff}")
        for d in sorted(outputs):
            other = self.producer.get(d)
            if other is not None and other != key:
                self.fail(where, f"{d} would have two producers: {other} (at "
                                 f"{self.quanta[other][0]}) and {key}; a dataset is written "
                                 "by one quantum")
            self.producer[d] = key
        self.quanta[key] = (where, inputs, outputs, task, record)
        return True

    # --- once, against what is stored ---------------------------------------------------------

    def check(self, store, batch) -> None:
        """One producer, one record per quantum and no cycles, over this file and the store."""
        edges = {}  # node -> set of next nodes (lineage direction)
        for (rel, src, dst) in batch.edges:
            if rel.value in ("INPUT_TO", "PRODUCED"):
                edges.setdefault(src, set()).add(dst)
        if store is not None and self.quanta:
            self._check_stored(store, edges)
        cycle = _find_cycle(edges)
        if cycle:
            q = next(k for k in cycle if kind_of_key(k) == Kind.QUANTUM)
            where = self.quanta[q][0] if q in self.quanta else q
            self.fail(where, "these records close a cycle in the lineage (a dataset made from "
                             f"itself): {_path(cycle)}")

    def _check_stored(self, store, edges: dict) -> None:
        file_outputs = sorted(self.producer)
        stored_producer = dict(stored_producers(store, file_outputs))
        for d in file_outputs:
            p = stored_producer.get(d)
            if p is not None and p != self.producer[d]:
                q = self.producer[d]
                self.fail(self.quanta[q][0], f"{d} is already produced by {p} (stored); this "
                                             f"file says {q} produced it, and a dataset is "
                                             "written by one quantum")
        quanta = sorted(self.quanta)
        tasks = dict(stored_quantum_tasks(store, quanta))
        stored_in: dict[str, set] = {}
        stored_out: dict[str, set] = {}
        if tasks:
            for q, d in stored_quantum_inputs(store, sorted(tasks)):
                stored_in.setdefault(q, set()).add(d)
            for q, d in stored_quantum_outputs(store, sorted(tasks)):
                stored_out.setdefault(q, set()).add(d)
        gaining = []  # stored nodes this file gives a new incoming lineage edge
        for q, stored_task in tasks.items():
            where, inputs, outputs, task, _ = self.quanta[q]
            before_in, before_out = stored_in.get(q, set()), stored_out.get(q, set())
            if stored_task is not None and task is not None and stored_task != task:
                self.fail(where, f"{q} is stored as a quantum of task {stored_task!r}; this "
                                 f"file says {task!r}")
            if not self.merges and (before_in != inputs or before_out != outputs):
                diff = _difference((before_in, before_out, None), (inputs, outputs, None),
                                   "stored", "in this file")
                self.fail(where, f"{q} is stored with other inputs or outputs ({diff}); one "
                                 "quantum ID is one record")
            if inputs - before_in:
                gaining.append(q)
        stored_outputs = [d for d in file_outputs if d not in stored_producer]
        if stored_outputs:
            gaining += sorted(store.lookup(stored_outputs))
        if gaining:
            self._walk_down(store, gaining, edges)

    def _walk_down(self, store, start: list[str], edges: dict) -> None:
        """Add to ``edges`` every stored lineage edge below ``start`` (each node once)."""
        seen = set(start)
        frontier = list(start)
        while frontier:
            datasets = [k for k in frontier if kind_of_key(k) == Kind.DATASET]
            quanta = [k for k in frontier if kind_of_key(k) == Kind.QUANTUM]
            found = stored_readers(store, datasets) if datasets else []
            if quanta:
                found += stored_quantum_outputs(store, quanta)
            frontier = []
            for a, b in found:
                edges.setdefault(a, set()).add(b)
                if b not in seen:
                    seen.add(b)
                    frontier.append(b)
            if len(seen) > MAX_WALK_NODES:
                self.fail("", f"cannot check the lineage for cycles: more than "
                              f"{MAX_WALK_NODES:,} stored nodes lie below the datasets this "
                              "file gives a producer")


def _difference(a: tuple, b: tuple, first: str = "there", second: str = "here") -> str:
    parts = []
    for name, x, y in zip(("inputs", "outputs", "task"), a, b):
        if x == y:
            continue
        if isinstance(x, (set, frozenset)):
            bits = [f"{len(only)} only {side} ({only[0]}{', ...' if len(only) > 1 else ''})"
                    for side, only in ((first, sorted(set(x) - set(y))),
                                       (second, sorted(set(y) - set(x)))) if only]
            parts.append(f"{name}: {'; '.join(bits)}")
        else:
            parts.append(f"{name} {x!r} {first}, {y!r} {second}")
    return "; ".join(parts) or "their properties differ"


def _record_difference(a: str, b: str) -> str:
    """Which properties of two quantum records (JSON objects) differ."""
    import json
    try:
        x, y = json.loads(a), json.loads(b)
    except ValueError:
        return "their properties differ"
    names = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
    return "; ".join(f"{k} {x.get(k)!r} there, {y.get(k)!r} here" for k in names[:5]) or \
        "their properties differ"


def _find_cycle(edges: dict) -> list[str] | None:
    """A cycle of ``edges`` (node -> next nodes) as a list of nodes, or None.
    Iterative depth-first search, linear in the edges."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in edges:
        if state.get(root):
            continue
        path = [root]
        iters = [iter(sorted(edges.get(root, ())))]
        state[root] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
                continue
            s = state.get(nxt)
            if s == 1:
                return path[path.index(nxt):] + [nxt]
            if s is None:
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(sorted(edges.get(nxt, ()))))
    return None


def _path(cycle: list[str]) -> str:
    shown = cycle if len(cycle) <= 9 else cycle[:4] + ["..."] + cycle[-4:]
    return " -> ".join(shown)

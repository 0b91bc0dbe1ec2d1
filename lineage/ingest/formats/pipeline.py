"""`lineage ingest pipeline`: pipe_base pipeline YAML into the graph.

One file is one ingest unit: the pipeline resolved with all its imports
(:mod:`lineage.ingest.pipeline_ir`) becomes

* a ``Pipeline`` node (``pipeline:<name>``; the name is the file's path below
  the deepest ``--var`` directory holding it, ``DRP_PIPE_DIR/pipelines/LSSTCam/DRP``,
  else the file's stem) with description, instrument, parameters, contracts,
  labeled subsets and steps;
* one ``Task`` node per task label (``task:<pipeline name>/<label>``) with its
  class, merged config overrides (JSON), connection renames, the subsets and
  steps it belongs to, joined by ``HAS_TASK``;
* ``IMPORTS`` edges through the whole import tree (each imported file gets a
  ``Pipeline`` node with its name and description; ingest it on its own for
  its tasks);
* ``READS``/``WRITES`` edges from a task to the ``DatasetType`` nodes its
  connections name, when the YAML states them (pipe_base's dynamic test
  tasks).  These are declarations, kept apart from ``FEEDS``, which only
  quanta that really ran derive.
"""

from __future__ import annotations

import json
from pathlib import Path

from lineage.core.model import GraphBatch, Rel, dataset_type_key, pipeline_key, task_key
from lineage.ingest.driver import IngestContext, Parsed
from lineage.ingest.pipeline_ir import Pipeline, Resolver

SUFFIXES = (".yaml", ".yml")


def read(path: Path, context: IngestContext) -> Parsed:
    resolver = Resolver(context.variables)
    p = resolver.resolve(path)
    return Parsed(Path(path), *_graph(p, resolver), counts=_counts(p))


def _counts(p: Pipeline) -> dict[str, int]:
    return {"tasks": len(p.tasks), "subsets": len(p.subsets), "steps": len(p.steps),
            "imported files": len(p.closure) - 1, "contracts": len(p.contracts)}


def _graph(p: Pipeline, resolver: Resolver) -> tuple[GraphBatch, list[str]]:
    name = resolver.name(p.path)
    batch = GraphBatch()
    skipped = list(p.notes)
    pk = pipeline_key(name)
    in_subsets: dict[str, list[str]] = {}
    for label, s in sorted(p.subsets.items()):
        for t in s.tasks:
            in_subsets.setdefault(t, []).append(label)
    step_labels = [label for label, _ in p.steps]
    batch.add_node(
        pk, name=name, description=p.description, instrument=p.instrument,
        labels=list(p.tasks), task_count=len(p.tasks),
        parameters=json.dumps(p.parameters, sort_keys=True) if p.parameters else None,
        contracts=[c["contract"] for c in p.contracts] or None,
        subsets=json.dumps({k: {"tasks": sorted(s.tasks), "description": s.description}
                            for k, s in p.subsets.items()}, sort_keys=True),
        steps=step_labels or None,
        step_dimensions=json.dumps(dict(p.steps)) if p.steps else None)
    for label, task in p.tasks.items():
        tk = task_key(name, label)
        renames = p.connection_renames(label)
        connections, notes = p.dynamic_connections(label)
        skipped += [f"{name}: {n}" for n in notes]
        batch.add_node(
            tk, label=label, pipeline=name, task_class=task.task_class,
            defined_in=task.defined_in,
            config=json.dumps(p.formatted_config(label), sort_keys=True),
            connections=json.dumps(renames, sort_keys=True) if renames else None,
            subsets=sorted(in_subsets.get(label, [])) or None,
            steps=[s for s in step_labels if s in in_subsets.get(label, [])] or None)
        batch.add_edge(Rel.HAS_TASK, pk, tk)
        for c in connections:
            dk = dataset_type_key(c["dataset_type"])
            batch.add_node(dk, name=c["dataset_type"])
            batch.add_edge(Rel.READS if c["reads"] else Rel.WRITES, tk, dk,
                           connection=c["connection"], connection_kind=c["kind"],
                           storage_class=c["storage_class"])
    for src, imports in p.closure.items():
        sk = pipeline_key(resolver.name(src))
        batch.add_node(sk, name=resolver.name(src), description=p.descriptions[src])
        for position, imp in enumerate(imports):
            dk = pipeline_key(resolver.name(imp.path))
            batch.add_node(dk, name=resolver.name(imp.path),
                           description=p.descriptions[imp.path.resolve()])
            batch.add_edge(Rel.IMPORTS, sk, dk, **imp.as_props(position))
    return batch, skipped

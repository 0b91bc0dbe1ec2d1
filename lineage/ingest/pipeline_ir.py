"""pipe_base pipeline YAML, read and resolved without pipe_base.

:func:`resolve` turns one pipeline file into a :class:`Pipeline`: its tasks
with their merged config overrides, labeled subsets, steps, contracts and
parameters, after every import (recursively) has been read, cut by its
``include``/``exclude`` and merged.  The rules are pipe_base's
(``lsst.pipe.base.pipelineIR``), written down in ``docs/ingest.md``:

* imports merge in order; a task label may come from one import only;
* the importing file's own task with an imported label and the *same* class
  appends its config blocks to the imported ones (two plain key-value blocks
  with the same data ID and no conflicting keys merge into one); a different
  class replaces the imported task;
* ``include`` keeps the named labels (a subset name stands for its labels),
  ``exclude`` drops them; imported subsets that lose a label are dropped
  (``labeledSubsetModifyMode: DROP``, the default) or edited (``EDIT``), and
  steps whose subset was dropped go with it; imported contracts naming a
  dropped label go too; the importing file's subsets override imported ones;
* ``$NAME`` and ``${NAME}`` in an import location are the ``--var NAME=DIR``
  settings, else environment variables.

A pipeline is *invalid* (:class:`IngestError` naming every bad label) when a
subset names a task that does not exist, a step is not a subset, a contract
of the file names a missing task, or an import's ``include`` names a label
the imported pipeline does not have.  An ``exclude`` of a missing label is
accepted, as pipe_base does (real DRP pipelines have stale excludes), and
reported as a note.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from lineage.ingest import loading
from lineage.ingest.driver import IngestError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Connection kinds of pipe_base's dynamic test tasks: config attribute -> reads (True) or writes.
DYNAMIC_CONNECTIONS = {"inputs": True, "prerequisite_inputs": True, "init_inputs": True,
                       "outputs": False, "init_outputs": False}
_VAR_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_MODES = ("DROP", "EDIT")


@dataclass
class ConfigBlock:
    """One config override block of a task, applied in order."""

    values: dict = field(default_factory=dict)
    python: str | None = None
    file: list = field(default_factory=list)
    data_id: dict | None = None

    def as_dict(self) -> dict:
        out = {"values": self.values}
        if self.python:
            out["python"] = self.python
        if self.file:
            out["file"] = self.file
        if self.data_id is not None:
            out["dataId"] = self.data_id
        return out


@dataclass
class TaskDef:
    label: str
    task_class: str
    config: list[ConfigBlock]
    defined_in: str          # name of the pipeline file the definition comes from

    def add_config(self, block: ConfigBlock) -> None:
        """Append ``block``; merge it into the last block when pipe_base would."""
        last = self.config[-1] if self.config else None
        if (last is None or last.data_id != block.data_id or last.python or block.python
                or last.file or block.file
                or any(last.values[k] != block.values[k] for k in last.values.keys() & block.values)):
            self.config.append(replace(block, values=dict(block.values), file=list(block.file)))
            return
        last.values.update(block.values)


@dataclass
class Subset:
    tasks: set
    description: str | None = None


@dataclass
class Import:
    location: str            # as written
    path: Path               # resolved file
    include: list | None = None
    exclude: list | None = None
    rename: dict = field(default_factory=dict)
    import_contracts: bool = True
    import_steps: bool = True
    mode: str = "DROP"
    instrument: object = ...  # ... keeps the imported instrument; None drops it

    def as_props(self, position: int) -> dict:
        props = {"location": self.location, "position": position, "include": self.include,
                 "exclude": self.exclude, "import_contracts": self.import_contracts,
                 "import_steps": self.import_steps, "labeled_subset_modify_mode": self.mode}
        if self.rename:
            props["rename"] = self.rename
        return props


@dataclass
class Pipeline:
    path: Path
    description: str
    instrument: str | None
    tasks: dict[str, TaskDef]
    subsets: dict[str, Subset]
    steps: list[tuple[str, list]]
    contracts: list[dict]
    parameters: dict
    imports: list[Import]
    #: Every pipeline file of the import closure (this one included): path -> its imports.
    closure: dict[Path, list[Import]] = field(default_factory=dict)
    #: Descriptions of the closure's files (for their nodes).
    descriptions: dict[Path, str] = field(default_factory=dict)
    #: Things read but not used, with the reason.
    notes: list[str] = field(default_factory=list)

    def formatted_config(self, label: str) -> list[dict]:
        """The task's config blocks with ``parameters.NAME`` values substituted."""
        out = []
        for block in self.tasks[label].config:
            values = {}
            for k, v in block.values.items():
                m = re.fullmatch(r"parameters[.](.*)", v) if isinstance(v, str) else None
                values[k] = self.parameters[m.group(1)] if m and m.group(1) in self.parameters else v
            out.append(replace(block, values=values).as_dict())
        return out

    def connection_renames(self, label: str) -> dict:
        """``connections.NAME: datasetType`` overrides of a task (last one wins)."""
        out = {}
        for block in self.formatted_config(label):
            out.update({k.split(".", 1)[1]: v for k, v in block["values"].items()
                        if k.startswith("connections.")})
        return out

    def dynamic_connections(self, label: str) -> tuple[list[dict], list[str]]:
        """Connections stated in ``python`` config blocks of pipe_base's dynamic
        test tasks (``config.inputs["i"] = DynamicConnectionConfig(dataset_type_name=...)``),
        and notes on blocks that could not be read."""
        found, notes = [], []
        for i, block in enumerate(self.tasks[label].config):
            if not block.python:
                continue
            try:
                tree = ast.parse(block.python)
            except SyntaxError as exc:
                notes.append(f"task {label}: config[{i}].python does not parse (line {exc.lineno}); "
                             "connections in it are not read")
                continue
            for node in ast.walk(tree):
                conn = _dynamic_connection(node)
                if conn:
                    found.append(conn)
        return found, notes


def _dynamic_connection(node) -> dict | None:
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.value, ast.Call)):
        return None
    target = node.targets[0]
    if not (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute)
            and isinstance(target.value.value, ast.Name) and target.value.value.id == "config"
            and target.value.attr in DYNAMIC_CONNECTIONS
            and isinstance(target.slice, ast.Constant)):
        return None
    kw = {k.arg: k.value.value for k in node.value.keywords
          if isinstance(k.value, ast.Constant)}
    if not isinstance(kw.get("dataset_type_name"), str):
        return None
    return {"connection": str(target.slice.value), "kind": target.value.attr,
            "reads": DYNAMIC_CONNECTIONS[target.value.attr],
            "dataset_type": kw["dataset_type_name"], "storage_class": kw.get("storage_class")}


def contract_labels(text: str) -> set[str]:
    """Task labels a contract expression uses: the roots of its dotted names."""
    tree = ast.parse(text, mode="eval")
    return {n.value.id for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}


def load_yaml(path: Path):
    """The YAML document of ``path`` under the limits of :mod:`.loading` (a key
    twice in one mapping is refused, as pipe_base does); errors name the line."""
    return loading.load_yaml(path, _Loader)


class Resolver:
    """Reads pipeline files and their imports; remembers which variables it used."""

    def __init__(self, variables: dict[str, str]) -> None:
        # a relative directory is relative to where the command runs, not to the importing file
        self.variables = {k: str(Path(v).resolve()) if Path(v).is_dir() else v
                          for k, v in variables.items()}
        #: Variable -> directory, for naming pipelines (``--var`` settings and
        #: environment variables that resolved an import).
        self.roots: dict[str, Path] = {k: Path(v).resolve() for k, v in variables.items()
                                       if Path(v).is_dir()}
        self._docs: dict[Path, object] = {}

    def name(self, path: Path) -> str:
        """A pipeline's name: its path below the deepest variable directory holding
        it, as ``VAR/relative/path`` without the suffix; else the file's stem."""
        path = path.resolve()
        best = None
        for var, root in sorted(self.roots.items()):
            if path.is_relative_to(root) and (best is None or len(root.parts) > len(best[1].parts)):
                best = (var, root)
        if best is None:
            return path.stem
        return f"{best[0]}/{path.relative_to(best[1]).with_suffix('').as_posix()}"

    def location(self, path: Path, where: str, text: str) -> Path:
        def sub(m):
            var = m.group(1) or m.group(2)
            value = self.variables.get(var, os.environ.get(var))
            if value is None:
                raise IngestError(path, where, f"import {text!r} uses ${var}, which is not set "
                                               f"(pass --var {var}=DIR or set it in the environment)")
            if Path(value).is_dir():
                value = str(Path(value).resolve())
                self.roots.setdefault(var, Path(value))
            return value
        resolved = Path(_VAR_RE.sub(sub, text)).expanduser()
        if not resolved.is_absolute():
            resolved = path.parent / resolved
        if not resolved.is_file():
            raise IngestError(path, where, f"import {text!r} is {resolved}, which is not a file")
        return resolved

    def resolve(self, path: Path, chain: tuple = ()) -> Pipeline:
        path = Path(path)
        key = path.resolve()
        if key in chain:
            cycle = " -> ".join(self.name(p) for p in chain + (key,))
            raise IngestError(path, "imports", f"import cycle: {cycle}")
        if key not in self._docs:
            self._docs[key] = load_yaml(path)
        doc = self._docs[key]
        if not isinstance(doc, dict):
            raise IngestError(path, "", "not a pipeline (the document is not a mapping)")
        return _Reader(self, path, doc, chain + (key,)).read()


class _Reader:
    """One pipeline document, read in pipe_base's order."""

    def __init__(self, resolver: Resolver, path: Path, doc: dict, chain: tuple) -> None:
        self.r, self.path, self.doc, self.chain = resolver, path, doc, chain
        self.name = resolver.name(path)

    def fail(self, where: str, what: str):
        raise IngestError(self.path, where, what)

    def read(self) -> Pipeline:
        doc = self.doc
        if not isinstance(doc.get("description"), str):
            self.fail("description", "missing: a pipeline must have a description")
        if "tasks" not in doc and "imports" not in doc:
            self.fail("tasks", "missing: a pipeline must have tasks or imports")
        if "inherits" in doc:
            self.fail("inherits", "not supported: use 'imports'")
        instrument = doc.get("instrument")
        if instrument is not None and not isinstance(instrument, str):
            self.fail("instrument", "must be one class name")
        p = Pipeline(self.path, doc["description"], instrument, self.tasks(), self.subsets(),
                     self.steps(), self.contracts(), self.parameters(), self.imports())
        known = {"description", "instrument", "tasks", "subsets", "steps", "contracts",
                 "parameters", "imports"}
        p.notes += [f"{self.name}: top-level key {k!r} is not part of the pipeline format; ignored"
                    for k in doc if k not in known]
        p.closure[self.path.resolve()] = p.imports
        p.descriptions[self.path.resolve()] = p.description
        own_contract_labels = self.contract_label_map(p.contracts)
        self.merge(p)
        self.verify(p, own_contract_labels)
        return p

    # --- sections --------------------------------------------------------------

    def tasks(self) -> dict[str, TaskDef]:
        section = self.doc.get("tasks") or {}
        if not isinstance(section, dict):
            self.fail("tasks", "must be a mapping of label to class")
        if "parameters" in section:
            self.fail("tasks.parameters", "'parameters' is reserved and cannot be a task label")
        out = {}
        for label, definition in section.items():
            where = f"tasks.{label}"
            if isinstance(definition, str):
                definition = {"class": definition}
            if not isinstance(definition, dict) or not isinstance(definition.get("class"), str):
                self.fail(f"{where}.class", "missing: a task needs a class name")
            config = definition.get("config")
            blocks = []
            if config is not None:
                for i, c in enumerate(config if isinstance(config, list) else [config]):
                    if not isinstance(c, dict):
                        self.fail(f"{where}.config[{i}]", "must be a mapping")
                    c = dict(c)
                    files = c.pop("file", None) or []
                    blocks.append(ConfigBlock(python=c.pop("python", None),
                                              data_id=c.pop("dataId", None),
                                              file=files if isinstance(files, list) else [files],
                                              values=c))
            out[str(label)] = TaskDef(str(label), definition["class"], blocks, self.name)
        return out

    def subsets(self) -> dict[str, Subset]:
        section = self.doc.get("subsets") or {}
        if not section and "subset" in self.doc:
            self.fail("subset", "the key is 'subsets'")
        if not isinstance(section, dict):
            self.fail("subsets", "must be a mapping of label to task labels")
        out = {}
        for label, value in section.items():
            description = None
            if isinstance(value, dict):
                if "subset" not in value:
                    self.fail(f"subsets.{label}", "a subset given as a mapping needs 'subset'")
                description, value = value.get("description"), value["subset"]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.fail(f"subsets.{label}", "must be a list of task labels")
            out[str(label)] = Subset(set(value), description)
        return out

    def steps(self) -> list[tuple[str, list]]:
        out: dict[str, list] = {}
        for i, step in enumerate(self.doc.get("steps") or []):
            if not isinstance(step, dict) or set(step) != {"label", "dimensions"}:
                self.fail(f"steps[{i}]", "a step has exactly 'label' and 'dimensions'")
            if step["label"] in out:
                self.fail(f"steps[{i}]", f"step {step['label']} is declared twice")
            out[step["label"]] = list(step["dimensions"] or [])
        return list(out.items())

    def contracts(self) -> list[dict]:
        section = self.doc.get("contracts") or []
        out = []
        for i, c in enumerate([section] if isinstance(section, str) else section):
            c = {"contract": c} if isinstance(c, str) else c
            if not isinstance(c, dict) or not isinstance(c.get("contract"), str):
                self.fail(f"contracts[{i}]", "a contract is an expression or {contract, msg}")
            out.append(dict(c))
        return out

    def contract_label_map(self, contracts: list[dict]) -> list[tuple[int, set]]:
        out = []
        for i, c in enumerate(contracts):
            try:
                out.append((i, contract_labels(c["contract"])))
            except SyntaxError:
                self.fail(f"contracts[{i}]", f"not a Python expression: {c['contract']!r}")
        return out

    def parameters(self) -> dict:
        section = self.doc.get("parameters") or {}
        if not isinstance(section, dict):
            self.fail("parameters", "must be a mapping")
        return dict(section)

    def imports(self) -> list[Import]:
        section = self.doc.get("imports")
        if section is None:
            return []
        out = []
        for i, item in enumerate(section if isinstance(section, list) else [section]):
            where = f"imports[{i}]"
            item = {"location": item} if isinstance(item, str) else item
            if not isinstance(item, dict) or not isinstance(item.get("location"), str):
                self.fail(where, "an import needs a location")
            unknown = set(item) - {"location", "include", "exclude", "rename", "importContracts",
                                   "importSteps", "labeledSubsetModifyMode", "instrument"}
            if unknown:
                self.fail(f"{where}.{sorted(unknown)[0]}", "not an import setting")
            listed = {k: [item[k]] if isinstance(item.get(k), str) else item.get(k)
                      for k in ("include", "exclude")}
            if listed["include"] is not None and listed["exclude"] is not None:
                self.fail(where, "include and exclude cannot both be given")
            mode = item.get("labeledSubsetModifyMode", "DROP")
            if mode not in _MODES:
                self.fail(f"{where}.labeledSubsetModifyMode", f"{mode!r} is not one of {_MODES}")
            instrument = item.get("instrument", ...)
            out.append(Import(item["location"], self.r.location(self.path, where, item["location"]),
                              listed["include"], listed["exclude"], dict(item.get("rename") or {}),
                              bool(item.get("importContracts", True)),
                              bool(item.get("importSteps", True)), mode,
                              None if instrument == "None" else instrument))
        return out

    # --- imports -----------------------------------------------------------------

    def imported(self, i: int, imp: Import) -> Pipeline:
        where = f"imports[{i}] ({imp.location})"
        try:
            other = self.r.resolve(imp.path, self.chain)
        except IngestError as exc:
            raise IngestError(self.path, where, str(exc)) from None
        if imp.instrument is not ...:
            other.instrument = imp.instrument
        return self.cut(other, imp, where)

    def cut(self, p: Pipeline, imp: Import, where: str) -> Pipeline:
        """The imported pipeline ``p`` after the import's rename/include/exclude."""
        for old, new in imp.rename.items():
            if old not in p.tasks:
                self.fail(f"{where}.rename", f"label {old} is not in the imported pipeline")
            if new in p.tasks:
                self.fail(f"{where}.rename", f"cannot rename {old} to existing label {new}")
            p.tasks = {(new if k == old else k): v for k, v in p.tasks.items()}
            p.tasks[new] = replace(p.tasks[new], label=new)
            for s in p.subsets.values():
                s.tasks = {new if t == old else t for t in s.tasks}
        named = imp.include if imp.include is not None else imp.exclude
        missing = sorted(set(named or ()) - p.tasks.keys() - p.subsets.keys())
        if missing and imp.include is not None:
            self.fail(f"{where}.include", "invalid pipeline: labels not in the imported "
                                          f"pipeline: {', '.join(missing)}")
        if missing:  # pipe_base accepts this; say it, as it often means a stale exclude
            p.notes.append(f"{self.name}: {where}.exclude names labels the imported pipeline "
                           f"does not have (nothing to exclude): {', '.join(missing)}")
        expand = set()
        for label in named or ():
            expand |= p.subsets[label].tasks if label in p.subsets else {label}
        keep = (set(p.tasks) if named is None else
                expand & set(p.tasks) if imp.include is not None else set(p.tasks) - expand)
        dropped = set(p.tasks) - keep
        if not imp.import_steps:
            p.steps = []
        p.tasks = {k: v for k, v in p.tasks.items() if k in keep}
        p.contracts = [c for c in p.contracts
                       if not any(re.match(f".*([^A-Za-z0-9_]|^){re.escape(d)}[.]", c["contract"])
                                  for d in dropped)]
        for label, s in list(p.subsets.items()):
            gone = s.tasks - keep
            if gone and imp.mode == "DROP":
                del p.subsets[label]
            elif gone:
                s.tasks -= gone
            elif imp.mode == "DROP" and not s.tasks:
                del p.subsets[label]
        p.steps = [s for s in p.steps if s[0] in p.subsets]
        if not imp.import_contracts:
            p.contracts = []
        return p

    def merge(self, p: Pipeline) -> None:
        tasks: dict[str, TaskDef] = {}
        subsets: dict[str, Subset] = {}
        parameters: dict = {}
        steps: dict[str, list] = {}
        contracts = []
        for i, imp in enumerate(p.imports):
            other = self.imported(i, imp)
            where = f"imports[{i}] ({imp.location})"
            if p.instrument is None:
                p.instrument = other.instrument
            elif other.instrument is not None and other.instrument != p.instrument:
                self.fail(where, f"instrument {other.instrument} differs from {p.instrument}")
            dup = sorted(tasks.keys() & other.tasks.keys())
            if dup:
                self.fail(where, f"task labels imported twice: {', '.join(dup)}")
            tasks.update(other.tasks)
            contracts += other.contracts
            clash = sorted((subsets.keys() & other.subsets.keys())
                           | ((subsets.keys() | other.subsets.keys()) & tasks.keys()))
            if clash:
                self.fail(where, f"subset labels not unique among imports: {', '.join(clash)}")
            subsets.update(other.subsets)
            parameters.update(other.parameters)
            for label, dims in other.steps:
                if steps.setdefault(label, dims) != dims:
                    self.fail(where, f"step {label} is declared with other dimensions")
            p.closure.update(other.closure)
            p.descriptions.update(other.descriptions)
            p.notes += other.notes
        for label, dims in p.steps:
            if steps.setdefault(label, dims) != dims:
                self.fail("steps", f"step {label} conflicts with an imported step")
        clash = sorted(subsets.keys() & p.tasks.keys())
        if clash:
            self.fail("tasks", f"task labels equal imported subset labels: {', '.join(clash)}")
        subsets.update(p.subsets)
        for label, task in p.tasks.items():
            if label in tasks and tasks[label].task_class == task.task_class:
                for block in task.config:
                    tasks[label].add_config(block)
            else:
                tasks[label] = task
        parameters.update(p.parameters)
        p.tasks, p.subsets, p.parameters, p.steps = tasks, subsets, parameters, list(steps.items())
        p.contracts = p.contracts + contracts

    def verify(self, p: Pipeline, own_contracts: list[tuple[int, set]]) -> None:
        problems = []
        for label, s in p.subsets.items():
            missing = sorted(s.tasks - p.tasks.keys())
            if missing:
                problems.append(f"subsets.{label} names labels that do not exist: "
                                f"{', '.join(missing)}")
        same = sorted(p.subsets.keys() & p.tasks.keys())
        if same:
            problems.append(f"subsets {', '.join(same)} have the label of a task")
        for label, _ in p.steps:
            if label not in p.subsets:
                problems.append(f"steps: {label} is not a labeled subset")
        for i, labels in own_contracts:
            missing = sorted(labels - p.tasks.keys())
            if missing:
                problems.append(f"contracts[{i}] names labels that do not exist: "
                                f"{', '.join(missing)}")
        if problems:
            self.fail("", "invalid pipeline: " + "; ".join(problems))

"""Saved named operations (SQR5 "named queries") and the schema as a file.

A saved operation is a named GraphQL operation in a ``*.graphql`` file.
They are looked for, first match winning, in:

1. the repository's own ``graphql/`` folder (``DIR/graphql/*.graphql``: a
   site's or user's queries, kept with the data they ask about);
2. the folders in ``LINEAGE_GRAPHQL_PATH`` (separated like ``PATH``);
3. the project's ``graphql/`` folder: beside the package in a source checkout (or an
   editable install), else the copy installed with the package
   (``<prefix>/share/survey-lineage/graphql/``, :mod:`lineage.core.data_files`).

Comment lines right above an operation describe it.  ``lineage query NAME
--var k=v`` runs one against any repository; the server lists them at
``GET /queries`` and runs one at ``POST /queries/NAME``.

``graphql/schema.graphql`` is :func:`sdl` written to a file
(``lineage schema -o graphql/schema.graphql``); a test keeps them equal.
"""

from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from graphql import (GraphQLError, ListTypeNode, NamedTypeNode, NonNullTypeNode,
                     OperationDefinitionNode, parse, print_ast)
from lineage.api.schema import build_schema
from lineage.core.data_files import data_dir
from lineage.core.errors import UnknownName, UserError

#: The source checkout's ``graphql/`` (it exists only in a checkout).
PROJECT_DIR = Path(__file__).resolve().parents[2] / "graphql"
SCHEMA_FILE = "schema.graphql"


def project_dir() -> Path | None:
    """The project's saved operations: the checkout's ``graphql/``, else the installed copy."""
    return data_dir("graphql")


def sdl() -> str:
    """The schema in SDL, as the code defines it."""
    return str(build_schema()).rstrip() + "\n"


def _type_text(node) -> str:
    return print_ast(node)


def _named(node) -> str:
    while isinstance(node, NonNullTypeNode):
        node = node.type
    return node.name.value if isinstance(node, NamedTypeNode) else ""


@dataclass
class SavedOperation:
    name: str
    kind: str
    path: Path
    folder: Path
    document: str
    variables: dict          # name -> type node
    description: str

    def info(self) -> dict:
        return {"name": self.name, "kind": self.kind,
                "source": str(self.path.relative_to(self.folder)),
                "variables": {k: _type_text(v) for k, v in self.variables.items()},
                "description": self.description}

    def coerce(self, raw: dict[str, str]) -> dict:
        """Variables given as text (``--var k=v``): strings stay strings, others are JSON,
        a list may be comma-separated."""
        out = {}
        for name, text in raw.items():
            if name not in self.variables:
                known = ", ".join(sorted(self.variables)) or "none"
                raise UserError(f"{name}: {self.name} has no variable ${name} (it takes: "
                                f"{known})", field="var")
            t = self.variables[name]
            inner = t.type if isinstance(t, NonNullTypeNode) else t
            if isinstance(inner, ListTypeNode):
                try:
                    value = json.loads(text)
                except ValueError:
                    value = [v.strip() for v in text.split(",") if v.strip()]
                out[name] = value if isinstance(value, list) else [value]
            elif _named(t) in ("String", "ID") or _named(t).endswith("Enum"):
                out[name] = text
            else:
                try:
                    out[name] = json.loads(text)
                except ValueError:
                    out[name] = text  # the GraphQL error names the variable and its type
        return out


def _description(lines: list[str], line_no: int) -> str:
    out = []
    i = line_no - 2  # the line above the operation (1-based line numbers)
    while i >= 0 and lines[i].lstrip().startswith("#"):
        out.append(lines[i].lstrip()[1:].strip())
        i -= 1
    return " ".join(reversed(out))


def read_folder(folder: Path) -> list[SavedOperation]:
    ops = []
    for path in sorted(folder.glob("*.graphql")):
        if path.name == SCHEMA_FILE:
            continue
        try:
            st = path.stat()
        except OSError:
            continue  # removed since the listing
        ops += _read_file(path, folder, st.st_mtime_ns, st.st_size, st.st_ino)
    return ops


@functools.lru_cache(maxsize=256)
def _read_file(path: Path, folder: Path, mtime_ns: int, size: int, inode: int) -> tuple:
    """The operations of one file, parsed once per version of it (its stat is the key:
    the server answers every ``/queries/NAME`` from here, and an edited file is read
    again).  Cached operations are shared: treat them as read-only."""
    ops = []
    text = path.read_text()
    try:
        doc = parse(text)
    except GraphQLError as exc:
        raise UserError(f"{path}: not GraphQL: {exc.message}", file=str(path)) from None
    lines = text.splitlines()
    for d in doc.definitions:
        if isinstance(d, OperationDefinitionNode) and d.name:
            ops.append(SavedOperation(
                d.name.value, d.operation.value, path, folder, text,
                {v.variable.name.value: v.type for v in d.variable_definitions or ()},
                _description(lines, d.loc.start_token.line)))
    return tuple(ops)


class SavedOperations:
    #: Seconds a listing of the folders is reused: a server asked for saved operations
    #: many times a second looks at its folders at most once a second (an added or edited
    #: file is served from the next look; each file is parsed once per version of it).
    TTL = 1.0

    def __init__(self, folders: list[Path]) -> None:
        self.folders = [f for f in folders if f.is_dir()]
        self._listing: tuple[float, dict[str, SavedOperation]] | None = None

    @classmethod
    def default(cls, repo_dir: str | os.PathLike | None = None) -> "SavedOperations":
        folders = [Path(repo_dir) / "graphql"] if repo_dir else []
        folders += [Path(p) for p in os.environ.get("LINEAGE_GRAPHQL_PATH", "").split(os.pathsep)
                    if p]
        project = project_dir()
        if project is not None:
            folders.append(project)
        return cls(folders)

    def _by_name(self) -> dict[str, SavedOperation]:
        now = time.monotonic()
        listing = self._listing
        if listing is None or not 0 <= now - listing[0] < self.TTL:
            seen: dict[str, SavedOperation] = {}
            for folder in self.folders:
                for op in read_folder(folder):
                    seen.setdefault(op.name, op)
            listing = self._listing = (now, dict(sorted(seen.items())))
        return listing[1]

    def all(self) -> list[SavedOperation]:
        return list(self._by_name().values())

    def get(self, name: str) -> SavedOperation:
        ops = self._by_name()
        if name in ops:
            return ops[name]
        known = ", ".join(ops) or "none"
        raise UnknownName(f"no saved operation {name!r} (saved: {known})")

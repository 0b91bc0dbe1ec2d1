"""Reading ingest files safely: size caps, JSON and YAML without surprises.

Every ingest kind reads its text files through this module, so one set of
limits holds for all of them (``docs/ingest.md``, "Limits"):

* **File size.** A file larger than :func:`limits` ``.file_bytes`` (64 MiB;
  ``LINEAGE_INGEST_MAX_FILE_MB`` changes it) is refused before it is read,
  and never more than that many bytes are read (a file that grows while it
  is read is refused too).
* **String size.** No string (JSON string, YAML scalar, object key) may be
  longer than ``.string_chars`` (1 MiB characters; ``LINEAGE_INGEST_MAX_STRING_KB``).
* **Nesting.** No document may nest objects/lists (mappings/sequences)
  deeper than ``.depth`` (64) levels.  Parsers are never allowed to run out
  of stack: a deeper document is an error naming its line or JSON path.
* **Duplicate keys.** A key twice in one JSON object or YAML mapping is an
  error naming the line and the key (Python's ``json`` and PyYAML keep the
  last one in silence).  YAML merge keys (``<<: *base``) are allowed.
* **YAML aliases** may not expand the document by more than
  ``.alias_nodes`` (100,000) nodes (the "billion laughs" document is a few
  hundred bytes that expand to 10^9 nodes), and an alias may not refer to
  the node that holds it.

Problems are :class:`~lineage.ingest.driver.IngestError` naming the file, the
line (or JSON path) and what is wrong.  YAML problems found while loading are
raised as :class:`yaml.MarkedYAMLError` first, so a reader's own handling of
YAML errors (which names the line) works unchanged.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache

import yaml

from lineage.core.environment import positive_number
from lineage.ingest.driver import IngestError

DEFAULT_FILE_MB = 64
DEFAULT_STRING_KB = 1024
DEFAULT_DEPTH = 64
DEFAULT_ALIAS_NODES = 100_000


@dataclass(frozen=True)
class Limits:
    file_bytes: int
    string_chars: int
    depth: int
    alias_nodes: int


def limits() -> Limits:
    """The limits in force (read from the environment each time, so a test or an
    operator can change them for one command)."""
    def number(name: str, default: float) -> float:
        try:
            return positive_number(name, default)
        except ValueError as exc:
            raise IngestError("environment", "", str(exc)) from None
    return Limits(file_bytes=int(number("LINEAGE_INGEST_MAX_FILE_MB", DEFAULT_FILE_MB) * 2**20),
                  string_chars=int(number("LINEAGE_INGEST_MAX_STRING_KB", DEFAULT_STRING_KB)
                                   * 1024),
                  depth=DEFAULT_DEPTH, alias_nodes=DEFAULT_ALIAS_NODES)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


# --- files ----------------------------------------------------------------------------------

def check_size(path) -> int:
    """The size of ``path`` in bytes; an IngestError if it is over the file limit."""
    cap = limits().file_bytes
    size = os.stat(path).st_size
    if size > cap:
        raise IngestError(path, "", f"the file is {_mb(size)}, more than the {_mb(cap)} an "
                                    "ingest file may be (split it, or raise "
                                    "LINEAGE_INGEST_MAX_FILE_MB)")
    return size


def read_bytes(path) -> bytes:
    """The bytes of ``path``, refused (before reading) when over the file limit."""
    cap = limits().file_bytes
    check_size(path)
    with open(path, "rb") as f:
        data = f.read(cap + 1)
    if len(data) > cap:  # it grew while we read it, or it is not a regular file
        raise IngestError(path, "", f"more than the {_mb(cap)} an ingest file may be")
    return data


def read_text(path) -> str:
    """The text of ``path`` (UTF-8), refused when over the file limit or not UTF-8."""
    data = read_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise IngestError(path, f"line {line}", f"not UTF-8 text (byte {exc.start}: "
                                                f"{exc.reason})") from None


# --- JSON -------------------------------------------------------------------------------------

class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise _DuplicateKey(k)
        seen.add(k)
    return dict(pairs)


def parse_json(text: str, path, first_line: int = 1):
    """``json.loads(text)`` that refuses duplicate keys, deep nesting and huge strings
    (IngestError naming ``path`` and the line or JSON path).  A syntax error is
    :class:`json.JSONDecodeError` as with ``json.loads``, for the caller to name.
    ``first_line`` is the line of ``text`` in the file (NDJSON)."""
    lim = limits()
    try:
        data = json.loads(text, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as exc:
        where, first = _duplicate_key_lines(text, exc.key)
        if where is None:
            raise IngestError(path, "", f"key {exc.key!r} appears twice in one object") from None
        raise IngestError(path, f"line {where + first_line - 1}",
                          f"key {exc.key!r} appears twice in one object (first on line "
                          f"{first + first_line - 1}); a reader would keep only one") from None
    except RecursionError:
        raise IngestError(path, f"line {first_line}" if first_line > 1 else "",
                          f"nested deeper than {lim.depth} levels") from None
    check_tree(data, path, lim)
    return data


def load_json(path):
    """The JSON document of ``path``, read under the limits; every problem is an IngestError."""
    text = read_text(path)
    try:
        return parse_json(text, path)
    except json.JSONDecodeError as exc:
        raise IngestError(path, f"line {exc.lineno} column {exc.colno}",
                          f"not valid JSON: {exc.msg}") from None


def check_tree(data, path, lim: Limits | None = None, where: str = "$") -> None:
    """Refuse a parsed document nested deeper than the limit or holding a string
    longer than it (IngestError with the JSON path).  One iterative pass; the path
    is only spelled out for the error."""
    lim = lim or limits()
    cap, max_depth = lim.string_chars, lim.depth
    if isinstance(data, str):
        if len(data) > cap:
            raise IngestError(path, where, _long_string(len(data), lim))
        return
    if not isinstance(data, (dict, list)):
        return
    stack = [(data, 1, None)]  # (container, depth, trail: (parent trail, key) or None)
    while stack:
        value, depth, trail = stack.pop()
        if depth > max_depth:
            raise IngestError(path, _short(_json_path(where, trail)),
                              f"nested deeper than {max_depth} levels")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            if type(k) is str and len(k) > cap:
                raise IngestError(path, _json_path(where, trail),
                                  "a key: " + _long_string(len(k), lim))
            if type(v) is str:
                if len(v) > cap:
                    raise IngestError(path, _json_path(where, (trail, k)),
                                      _long_string(len(v), lim))
            elif isinstance(v, (dict, list)):
                stack.append((v, depth + 1, (trail, k)))


def _json_path(root: str, trail) -> str:
    keys = []
    while trail is not None:
        trail, k = trail
        keys.append(k)
    out = [root]
    for k in reversed(keys):
        if isinstance(k, str):
            out.append(f".{k}" if _PLAIN_KEY.match(k) else f"[{json.dumps(k)[:40]}]")
        else:
            out.append(f"[{k}]")
    return "".join(out)


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _long_string(n: int, lim: Limits) -> str:
    return (f"a string of {n:,} characters, more than the {lim.string_chars:,} a value may "
            "have (LINEAGE_INGEST_MAX_STRING_KB raises it)")


def _short(at: str) -> str:
    return at if len(at) <= 80 else at[:60] + "..." + at[-16:]


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]', re.DOTALL)


def _duplicate_key_lines(text: str, key: str) -> tuple[int | None, int | None]:
    """(line of the second occurrence, line of the first) of ``key`` in one object.
    Only called once a duplicate is known; one linear scan of the tokens."""
    stack: list = []  # per open container: dict key -> line (objects) or None (lists)
    expect_key = False
    for m in _JSON_TOKEN.finditer(text):
        tok = m.group()
        if tok == "{":
            stack.append({})
            expect_key = True
        elif tok == "[":
            stack.append(None)
            expect_key = False
        elif tok in "}]":
            if stack:
                stack.pop()
            expect_key = False
        elif tok == ",":
            expect_key = bool(stack) and stack[-1] is not None
        elif tok == ":":
            expect_key = False
        elif expect_key and stack and stack[-1] is not None:
            try:
                name = json.loads(tok)
            except ValueError:
                continue
            line = text.count("\n", 0, m.start()) + 1
            if name == key and name in stack[-1]:
                return line, stack[-1][name]
            stack[-1].setdefault(name, line)
            expect_key = False
    return None, None


# --- YAML -------------------------------------------------------------------------------------

_MERGE = "tag:yaml.org,2002:merge"
try:
    from yaml.cyaml import CParser as _CParser
except ImportError:  # PyYAML built without libyaml
    _CParser = None


class _Checks:
    """Mixed into a PyYAML loader: refuse duplicate keys, deep nesting, huge scalars and
    alias bombs, as :class:`yaml.constructor.ConstructorError` with the line."""

    def construct_document(self, node):
        check_yaml_nodes(node)
        return super().construct_document(node)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, ArithmeticError, LookupError, AttributeError) as exc:
            if isinstance(exc, (yaml.YAMLError, IngestError)):
                raise
            # PyYAML's own constructors raise these for a bad date, int or float ('', '13-45')
            value = f" {node.value[:80]!r}" if isinstance(node.value, str) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read{value} as {node.tag.rsplit(':', 1)[-1]}: {exc}",
                node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # unhashable: the constructor says so
                    continue
                if first is not key_node:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} appears twice in one mapping (first on line "
                                    f"{first.start_mark.line + 1}); a reader would keep only one",
                        key_node.start_mark)
        return super().construct_mapping(node, deep)


def check_yaml_nodes(root, lim: Limits | None = None) -> None:
    """Depth, scalar size and alias expansion of a composed YAML document, in one
    iterative pass over its distinct nodes (aliases are shared nodes)."""
    lim = lim or limits()
    memo: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, height)
    active: set[int] = set()
    key_of: dict[int, str] = {}  # id(value node) -> its key, to name a refused value
    distinct = 0
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        kids = _children(node)
        if done:
            size = 1 + sum(memo[id(c)][0] for c in kids)
            height = 0 if isinstance(node, yaml.ScalarNode) else \
                1 + max((memo[id(c)][1] for c in kids), default=0)
            memo[nid] = (size, height)
            active.discard(nid)
            distinct += 1
            if height > lim.depth:
                _yaml_problem(node, f"nested deeper than {lim.depth} levels")
            if size > distinct + lim.alias_nodes:
                _yaml_problem(node, f"aliases expand this node to {size:,} nodes, more than "
                                    f"{lim.alias_nodes:,} beyond the document's own "
                                    f"(an alias bomb?)")
            continue
        if nid in memo:
            continue
        if nid in active:
            _yaml_problem(node, "an alias refers to the node that holds it (a recursive document)")
        if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str) \
                and len(node.value) > lim.string_chars:
            key = key_of.get(nid)
            _yaml_problem(node, (f"{key[:80]!r}: " if key else "")
                          + _long_string(len(node.value), lim))
        if isinstance(node, yaml.MappingNode):
            key_of.update((id(v), k.value) for k, v in node.value
                          if isinstance(k, yaml.ScalarNode) and isinstance(k.value, str))
        active.add(nid)
        stack.append((node, True))
        stack.extend((c, False) for c in kids if id(c) not in memo)


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _yaml_problem(node, what: str):
    raise yaml.constructor.ConstructorError(None, None, what, node.start_mark)


@lru_cache(maxsize=None)
def checked_loader(loader=yaml.SafeLoader):
    """``loader`` (a :class:`yaml.SafeLoader` subclass, with its own constructors) with
    the checks above, parsing with libyaml when PyYAML has it (no Python recursion
    while parsing; libyaml stops at 1000 levels)."""
    if not issubclass(loader, yaml.constructor.SafeConstructor):
        raise TypeError(f"{loader.__name__} is not a safe loader")
    if _CParser is None or issubclass(loader, _CParser):
        return type(f"Checked{loader.__name__}", (_Checks, loader), {})

    def __init__(self, stream):
        _CParser.__init__(self, stream)
        yaml.constructor.BaseConstructor.__init__(self)
        yaml.resolver.BaseResolver.__init__(self)
    return type(f"Checked{loader.__name__}", (_Checks, _CParser, loader),
                {"__init__": __init__})


def _too_deep(exc: Exception) -> Exception:
    """Python's recursion limit and libyaml's nesting limit (1000) as our message; any
    other YAML error as it is."""
    what = f"nested deeper than {limits().depth} levels"
    if isinstance(exc, RecursionError):
        return yaml.YAMLError(what)
    if "maximum nesting depth" in str(exc.problem or ""):
        return yaml.constructor.ConstructorError(None, None, what, exc.problem_mark)
    return exc


def parse_yaml(text: str, loader=yaml.SafeLoader):
    """One YAML document under the checks; problems are :class:`yaml.YAMLError`
    (marked with the line) as with ``yaml.load``, deep nesting included."""
    try:
        return yaml.load(text, Loader=checked_loader(loader))  # noqa: S506 (a SafeLoader)
    except (RecursionError, yaml.MarkedYAMLError) as exc:
        raise _too_deep(exc) from None


def yaml_documents(text: str, loader=yaml.SafeLoader) -> list[tuple[int, object, yaml.Node]]:
    """Every document of a YAML stream as (first line, data, node), under the checks."""
    ld = checked_loader(loader)(text)
    docs = []
    try:
        while ld.check_node():
            node = ld.get_node()
            docs.append((node.start_mark.line + 1, ld.construct_document(node), node))
    except (RecursionError, yaml.MarkedYAMLError) as exc:
        raise _too_deep(exc) from None
    finally:
        ld.dispose()
    return docs


def yaml_error(path, exc: yaml.YAMLError, what: str = "not valid YAML") -> IngestError:
    """An IngestError naming the line of a YAML error."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    context, first = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and getattr(exc, "problem", None) and first is not None and first is not mark:
        problem = f"{context} on line {first.line + 1}, {problem}"  # a duplicate anchor
    return IngestError(path, f"line {mark.line + 1}" if mark else "", f"{what}: {problem}")


def load_yaml(path, loader=yaml.SafeLoader, text: str | None = None):
    """The YAML document of ``path`` (or ``text`` read from it) under the limits; every
    problem is an IngestError naming the line."""
    text = read_text(path) if text is None else text
    try:
        return parse_yaml(text, loader)
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None

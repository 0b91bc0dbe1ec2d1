"""Search: one text a person typed, read every way its form allows, answered as hits.

The text is read by its form (docs/search.md):

* ``flag:<uuid>`` or a flag UUID's first 8+ characters: flags
  (:func:`lineage.flags.flags_matching`, what ``flag(id:)`` reads);
* a full UUID: the dataset, quantum or flag with it; a node key (``dataset:...``,
  ``unit:visit:DemoCam/2026030100001``, ``collection:DemoCam/DR2``): that node;
* a selector (it holds ``=``, ``<`` or ``>``, or is ``visit[CONDITIONS]``), optionally
  after a dataset type and a space (``deepCoadd tract=9813,patch=40,band=r``), parsed by
  :func:`lineage.core.selector.parse_selector`: one ``dim=value`` pair alone
  (``visit=2026030100001``) is that data unit, visit conditions (``visit[seeing < 0.6
  arcsec]``) are visits, anything else (or with a dataset type) the datasets
  :func:`lineage.dataunits.resolve.resolve` finds (of that dataset type);
* any other word: a data unit with that value (a visit number ``2026030100001``, a tract
  ``9813``), a dataset type, a collection or release (exact name first, then names that
  start with it, then names that contain it, ignoring case: ``DR2``), and a task's label
  (its ``Task`` nodes and its quanta).

Hits come kind by kind in that order, each kind in a stable order of its own, at most
``first`` in all; ``total`` counts every match.  A text that matches nothing is an empty
answer whose ``message`` says what was tried; a text that cannot be what its form says
(``tract=abc``, ``flag:xyz``) is a :class:`SearchError` about the field ``text``.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from lineage.core.dataid import DataId
from lineage.core.errors import UserError
from lineage.core.model import Kind, ModelError, kind_of_key
from lineage.core.model_spec import check_value, spec_of
from lineage.core.selector import parse_selector
from lineage.core.text import SelectorError, check_length, is_identifier
from lineage.dataunits.names import check_names
from lineage.dataunits.queries import data_units_with_value
from lineage.dataunits.resolve import resolve
from lineage.dataunits.visits import select_visits
from lineage.flags import flags_matching
from lineage.search import queries
from lineage.traversal.queries import dataset_identities

#: Hits a search returns unless asked for another number, and the most it returns.
DEFAULT_FIRST = 20
MAX_FIRST = 500

#: Shortest text matched as a prefix or part of a name (one letter matches exactly only).
MIN_PART = 2

#: A flag id without ``flag:``: a UUID's first characters, at least this many.
MIN_FLAG_PREFIX = 8
_HEX = frozenset("0123456789abcdefABCDEF-")


class SearchError(UserError):
    """A search text that cannot be what its form says; the field is ``text``."""


@dataclass(frozen=True)
class Hit:
    """One thing a search found: its node kind (``Dataset``, ``DataUnit``, ``Quantum``,
    ``Flag``, ``Collection``, ``DatasetType``, ``Task``), its key (what ``node(key:)`` and
    ``lineage(from:)`` take), a short label, and where they apply its dataset type, data
    ID, run and (a data unit's) dimension.  A deleted dataset (a tombstone) is a hit too,
    marked: ``deleted`` says when (docs/retention.md), its label ends ``(deleted)``."""

    kind: str
    key: str
    label: str
    dataset_type: str | None = None
    data_id: str | None = None
    run: str | None = None
    dimension: str | None = None
    deleted: str | None = None


@dataclass
class Search:
    """The answer: ``hits`` (at most ``first``), ``total`` matches, and ``tried``, the
    kinds of thing the text was looked up as."""

    text: str
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    tried: list[str] = field(default_factory=list)
    #: Why a selector matched nothing, as the resolver said it (None: it matched, or none).
    detail: str | None = None

    @property
    def truncated(self) -> bool:
        """True when more matched than ``hits`` holds."""
        return self.total > len(self.hits)

    @property
    def message(self) -> str | None:
        """None when something matched; else what was tried: ``no visit or other data
        unit, dataset type, collection or task matches 'xyz'``."""
        if self.total:
            return None
        tried = self.tried[0] if len(self.tried) == 1 else \
            f"{', '.join(self.tried[:-1])} or {self.tried[-1]}"
        return f"no {tried} matches {self.text!r}" + (f" ({self.detail})" if self.detail else "")

    def as_dict(self) -> dict:
        """The answer as ``lineage search --json`` prints it (data IDs as text here)."""
        return {"text": self.text, "total": self.total, "truncated": self.truncated,
                "message": self.message, "hits": [asdict(h) for h in self.hits]}


def search(store, text: str, first: int = DEFAULT_FIRST) -> Search:
    """What ``text`` names (the module docstring says how it is read): at most ``first``
    hits, kind by kind."""
    if not isinstance(first, int) or not 1 <= first <= MAX_FIRST:
        raise SearchError(f"must be between 1 and {MAX_FIRST}, not {first!r}", field="first")
    if not isinstance(text, str):
        raise SearchError(f"a search is text, not {type(text).__name__}", field="text")
    with _about_text():
        check_length("search text", text)
    text = text.strip()
    if not text:
        raise SearchError("empty: type a visit, a data ID, a dataset UUID, a flag, a "
                          "collection, a dataset type or a task", field="text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:   # bytes a shell could not decode, or a lone surrogate
        raise SearchError(f"not valid Unicode (a lone surrogate at character {exc.start})",
                          field="text") from None
    if any(c < " " or c == "\x7f" for c in text):   # no name or value holds one
        raise SearchError("holds a control character (NUL, newline, tab ...)", field="text")
    answer = Search(text)
    for noun, lookup in _lookups(store, text, answer):
        answer.tried.append(noun)
        hits, total = lookup(first - len(answer.hits))
        answer.hits.extend(hits)
        answer.total += total
    return answer


@contextmanager
def _about_text():
    """Make a user error raised inside about the field ``text`` (unless it names one)."""
    try:
        yield
    except UserError as exc:
        if exc.field:
            raise
        raise SearchError(str(exc), field="text") from None


def _lookups(store, text: str, answer: Search):
    """(noun, lookup) for each way ``text``'s form may be read; a lookup takes how many
    hits are still wanted and returns (those hits, how many matched)."""
    if text.startswith("flag:"):
        return [("flag", lambda n: _flags(store, text, n))]
    try:
        uid = str(uuid.UUID(text))
    except ValueError:
        uid = None
    if uid is not None:
        keys = [f"dataset:{uid}", f"quantum:{uid}"]
        return [("dataset or quantum", lambda n: _nodes(store, keys, n)),
                ("flag", lambda n: _flags(store, uid, n))]
    if ":" in text and "=" not in text and " " not in text:
        try:
            kind_of_key(text)
        except ModelError:
            pass
        else:
            return [("node", lambda n: _nodes(store, [text], n))]
    if any(c in text for c in "=<>") or (text.startswith("visit") and text.endswith("]")):
        return _selector_lookups(store, text, answer)
    lookups = [("visit or other data unit", lambda n: _units(
        store, queries.data_units_of_any_dimension(store, text), n))]
    if len(text) >= MIN_FLAG_PREFIX and set(text) <= _HEX:
        lookups.append(("flag", lambda n: _flags(store, text, n)))
    return lookups + [
        ("dataset type", lambda n: _named(Kind.DATASET_TYPE, text,
                                          queries.dataset_types_containing, store, n)),
        ("collection", lambda n: _named(Kind.COLLECTION, text,
                                        queries.collections_containing, store, n)),
        ("task", lambda n: _task(store, text, n)),
    ]


def _selector_lookups(store, text: str, answer: Search):
    """The lookups of a selector, after an optional dataset type and a space."""
    dataset_type, rest = None, text
    word, space, after = text.partition(" ")
    after = after.strip()
    if space and all(is_identifier(part) for part in word.split(".")) \
            and word.upper() != "NOT" and not after.startswith(("=", "<", ">", "!", "[")):
        dataset_type, rest = word, after   # deepCoadd tract=...; not visit = 1, visit [...]
    with _about_text():
        selector = parse_selector(rest, field="text")
        for dimension, value in selector.pairs:
            problem = check_value(spec_of(Kind.DATA_UNIT, dimension, "value"), value)
            if problem:
                raise SearchError(f"{dimension} {value!r}: {problem}", field="text")
        if dataset_type is not None:
            check_names(store, "dataset type", dataset_type, "text")
    if selector.conditions and dataset_type is None:
        return [("visit", lambda n: _visits(store, selector.conditions, n))]
    if len(selector.pairs) == 1 and dataset_type is None:
        (dimension, value), = selector.pairs
        return [(f"{dimension}", lambda n: _units(store, data_units_with_value(
            store, dimension, value), n, dimension))]
    noun = f"{dataset_type} dataset" if dataset_type else "dataset"
    return [(noun, lambda n: _datasets(store, selector, dataset_type, n, answer))]


# --- the lookups ------------------------------------------------------------------------

def _nodes(store, keys: list[str], wanted: int) -> tuple[list[Hit], int]:
    """The nodes with these keys (of any kind)."""
    hits = []
    for key in keys:
        kind = kind_of_key(key)
        hits += [_hit(kind, k, props) for k, props in store.nodes(kind.value, [key]).items()]
    return hits[:wanted], len(hits)


def _flags(store, flag_id: str, wanted: int) -> tuple[list[Hit], int]:
    with _about_text():
        found = flags_matching(store, flag_id)
    return [_hit(Kind.FLAG, f["key"], f) for f in found[:wanted]], len(found)


def _units(store, units, wanted: int, dimension: str | None = None) -> tuple[list[Hit], int]:
    """Data units (key, properties), visits first, then by key; an unknown ``dimension``
    is an error with the closest known ones."""
    if not units and dimension is not None:
        check_names(store, "dimension", dimension, "text")
    units = sorted(units, key=lambda u: (u.props.get("dimension") != "visit", u.key))
    return [_hit(Kind.DATA_UNIT, u.key, u.props) for u in units[:wanted]], len(units)


def _visits(store, conditions: str, wanted: int) -> tuple[list[Hit], int]:
    with _about_text():
        table = select_visits(store, conditions)
    keys = sorted(table["key"]) if not table.empty else []
    found = store.nodes(Kind.DATA_UNIT.value, keys[:wanted])
    return [_hit(Kind.DATA_UNIT, k, found[k]) for k in keys[:wanted] if k in found], len(keys)


def _datasets(store, selector, dataset_type: str | None, wanted: int,
              answer: Search) -> tuple[list[Hit], int]:
    """The datasets a selector resolves to (of ``dataset_type``), by type, data ID, run."""
    try:
        found = resolve(store, selector)
    except SelectorError as exc:   # "no tract '1' in this repository": nothing matches
        answer.detail = str(exc)
        return [], 0
    except UserError as exc:       # an unknown dimension or band, with the closest names
        raise SearchError(str(exc), field="text") from None
    by_type: dict[str, list[str]] = {}
    for key, type_name in found.items():
        if kind_of_key(key) == Kind.DATASET and dataset_type in (None, type_name):
            by_type.setdefault(type_name, []).append(key)
    # only the types the page reaches are read and sorted (a broad data ID matches thousands)
    page: list[str] = []
    for type_name in sorted(by_type):
        if len(page) >= wanted:
            break
        page += by_type[type_name]
    rows = sorted(dataset_identities(store, page),
                  key=lambda r: (r.dataset_type or "", DataId.parse(r.data_id or "").sort_key(),
                                 r.run or "", r.key))
    return [_dataset_hit(r.key, r.dataset_type, r.data_id, r.run, r.deleted_at)
            for r in rows[:wanted]], sum(map(len, by_type.values()))


def _dataset_hit(key: str, dataset_type, data_id, run, deleted_at) -> Hit:
    """A dataset's hit, marked when it was deleted."""
    mark = " (deleted)" if deleted_at else ""
    return Hit(Kind.DATASET.value, key, f"{dataset_type} {data_id}{mark}", dataset_type,
               data_id, run, deleted=deleted_at)


def _named(kind: Kind, text: str, containing, store, wanted: int) -> tuple[list[Hit], int]:
    """Collections or dataset types named ``text``; with :data:`MIN_PART` characters or
    more, also those whose name starts with it, then those that contain it (ignoring
    case), each group by name."""
    lowered = text.lower()
    rows = containing(store, lowered)
    if len(text) < MIN_PART:
        rows = [r for r in rows if r.name == text]

    def rank(row) -> tuple:
        return (row.name != text, not row.name.lower().startswith(lowered), row.name)
    rows.sort(key=rank)
    hits = [Hit(kind.value, r.key, f"{r.name} ({r.collection_type})" if r.collection_type
                else r.name, dataset_type=r.name if kind == Kind.DATASET_TYPE else None)
            for r in rows[:wanted]]
    return hits, len(rows)


def _task(store, label: str, wanted: int) -> tuple[list[Hit], int]:
    """The ``Task`` nodes labelled ``label``, then the quanta it ran."""
    tasks = sorted(queries.tasks_labelled(store, label))
    hits = [_hit(Kind.TASK, t.key, t.props) for t in tasks[:wanted]]
    count = queries.quantum_count_of_task(store, label)
    if count and len(hits) < wanted:
        hits += [Hit(Kind.QUANTUM.value, q.key, f"{label} {q.data_id}", data_id=q.data_id,
                     run=q.run) for q in queries.quanta_of_task(store, label,
                                                                wanted - len(hits))]
    return hits, len(tasks) + count


# --- labels -------------------------------------------------------------------------------

def _hit(kind: Kind, key: str, props: dict) -> Hit:
    """The hit of a node of ``kind`` with its stored properties."""
    get = props.get
    if kind == Kind.DATASET:
        return _dataset_hit(key, get("dataset_type"), get("data_id"), get("run"),
                            get("deleted_at"))
    if kind == Kind.QUANTUM:
        return Hit(kind.value, key, f"{get('task')} {get('data_id')}", data_id=get("data_id"),
                   run=get("run"))
    if kind == Kind.DATA_UNIT:
        where = key.split(":", 2)[2]    # unit:visit:DemoCam/2026030100001 -> DemoCam/...
        band = f", band {get('band')}" if get("band") and get("dimension") != "band" else ""
        return Hit(kind.value, key, f"{get('dimension')} {where}{band}",
                   dimension=get("dimension"))
    if kind == Kind.FLAG:
        state = "" if get("active", "retracted_at" not in props) else " (retracted)"
        return Hit(kind.value, key, f"{get('verdict')} {get('selector')}: "
                                    f"{get('reason')}{state}")
    if kind == Kind.COLLECTION:
        return Hit(kind.value, key, f"{get('name')} ({get('collection_type')})")
    if kind == Kind.DATASET_TYPE:
        return Hit(kind.value, key, str(get("name")), dataset_type=get("name"))
    if kind == Kind.TASK:
        return Hit(kind.value, key, f"{get('label')} (pipeline {get('pipeline')})")
    return Hit(kind.value, key, key.split(":", 1)[1])

"""What a user's read-only Cypher may do, checked before anything is sent.

``lineage cypher`` (and any other place a query string comes from outside)
runs the text through :func:`check_user_query` first.  The engines refuse
writes too (FalkorDB's ``GRAPH.RO_QUERY``, the Bolt read access mode), but not
everything: ArcadeDB applies ``CREATE INDEX``/``DROP CONSTRAINT`` outside any
transaction (reported "refused", yet applied) and reads local files with
``LOAD CSV``; and no engine bounds the list ``range()`` builds in one call (a
``range(1, 3000000000)`` grew the embedded engine to 23.7 GB).

The check is a real tokenizer, linear in the text: string literals, comments
and backquoted names are skipped, so ``RETURN 'CREATE INDEX'`` runs.  It
refuses

* clauses that write or change the schema or the server (``CREATE``,
  ``MERGE``, ``SET``, ``DELETE``, ``REMOVE``, ``DROP``, ``FOREACH``,
  ``ALTER``, ``GRANT`` ...), wherever they appear;
* ``LOAD CSV`` and the procedures and functions that read or write files or
  run other queries (``apoc.load.*``, ``apoc.export.*``, ``apoc.cypher.*`` ...);
* procedure calls other than a list of read-only ones (``db.labels()``,
  ``db.indexes()``, FalkorDB's ``algo.*`` ...);
* more than one statement;
* ``range()`` unless its bounds are integer literals or parameters and the
  sizes of all ``range()`` calls of the query multiplied (one may be built for
  every element of another) are at most :data:`MAX_RANGE_ELEMENTS`.

A refusal is conservative: a variable named like a keyword (``RETURN 1 AS
create``) is refused too; backquote it (```create```).
"""

from __future__ import annotations

from typing import NamedTuple

from lineage.store.base import ReadOnlyViolation

#: Longest user query accepted, in characters.
MAX_QUERY_CHARS = 10_000

#: Most elements one ``range()`` may have (16 bytes each in the engine: 1.6 GB).
MAX_RANGE_ELEMENTS = 100_000_000

#: Keywords of clauses that write data, change the schema or administer the server.
WRITE_KEYWORDS = frozenset({
    "CREATE", "MERGE", "SET", "DELETE", "DETACH", "REMOVE", "DROP", "FOREACH", "ALTER",
    "GRANT", "REVOKE", "DENY", "RENAME", "START", "STOP", "TERMINATE", "ENABLE", "DISABLE",
    "DEALLOCATE", "REALLOCATE", "IMPORT", "TRANSACTIONS", "USE", "INSERT", "UPDATE", "UPSERT",
    "TRUNCATE",
})

#: Procedures a read-only query may call (case-insensitive; a trailing ``.`` is a prefix).
READ_PROCEDURES = (
    "db.labels", "db.relationshiptypes", "db.propertykeys", "db.indexes", "db.constraints",
    "db.meta.stats", "db.schema.", "db.idx.fulltext.querynodes",
    "db.idx.fulltext.queryrelationships", "db.idx.vector.querynodes",
    "db.idx.vector.queryrelationships", "db.index.fulltext.querynodes",
    "db.index.fulltext.queryrelationships", "db.index.vector.querynodes", "dbms.components",
    "algo.",
)

#: Namespaces of functions and procedures that read or write files, reach the network or
#: run other queries (APOC's, on Neo4j).
FORBIDDEN_NAMESPACES = (
    "apoc.load.", "apoc.import.", "apoc.export.", "apoc.cypher.", "apoc.do.",
    "apoc.periodic.", "apoc.trigger.", "apoc.systemdb.", "apoc.log.", "apoc.static.",
    "apoc.bolt.", "apoc.custom.", "apoc.create.", "apoc.merge.", "apoc.refactor.",
    "apoc.schema.", "apoc.nodes.", "apoc.util.", "apoc.atomic.", "apoc.lock.",
    "apoc.redis.", "apoc.es.", "apoc.mongo.", "apoc.couchbase.", "apoc.dv.", "apoc.gephi.",
    "apoc.mongodb.", "apoc.uuid.", "apoc.ttl.", "gds.", "genai.", "file.", "dbms.",
)


class QueryRefused(ReadOnlyViolation):
    """A user's query refused before it was sent; the message says why and where."""


class Token(NamedTuple):
    kind: str        # word, name (backquoted), string, number, param, punct
    text: str        # the word, the name without quotes, the punctuation ...
    pos: int         # offset in the query


def _where(query: str, pos: int) -> str:
    line = query.count("\n", 0, pos) + 1
    column = pos - (query.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}"


def tokenize(query: str) -> list[Token]:
    """The tokens of a Cypher text, comments dropped; one pass, no backtracking.

    Raises :class:`QueryRefused` on an unterminated string, comment or name.
    """
    out: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif query.startswith("//", i):
            j = query.find("\n", i)
            i = n if j < 0 else j + 1
        elif query.startswith("/*", i):
            j = query.find("*/", i + 2)
            if j < 0:
                raise QueryRefused(f"refused: unterminated comment at {_where(query, i)}")
            i = j + 2
        elif c in "'\"":
            j = i + 1
            while j < n and query[j] != c:
                j += 2 if query[j] == "\\" else 1
            if j >= n:
                raise QueryRefused(f"refused: unterminated string at {_where(query, i)}")
            out.append(Token("string", query[i + 1:j], i))
            i = j + 1
        elif c == "`":
            j = i + 1
            while True:
                j = query.find("`", j)
                if j < 0:
                    raise QueryRefused(f"refused: unterminated `name` at {_where(query, i)}")
                if query.startswith("``", j):  # a doubled backquote is one inside a name
                    j += 2
                    continue
                break
            out.append(Token("name", query[i + 1:j], i))
            i = j + 1
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < n and (query[j].isalnum() or query[j] == "_"):
                j += 1
            out.append(Token("word", query[i:j], i))
            i = j
        elif c.isdigit():
            j = i + 1
            while j < n and (query[j].isalnum() or query[j] in "._"):
                if query[j] == "." and not (j + 1 < n and query[j + 1].isdigit()):
                    break  # 1..3 (a slice), 1.x
                if query[j] in "eE" and j + 1 < n and query[j + 1] in "+-":
                    j += 1
                j += 1
            out.append(Token("number", query[i:j], i))
            i = j
        elif c == "$":
            j = i + 1
            if j < n and query[j] == "`":
                k = query.find("`", j + 1)
                if k < 0:
                    raise QueryRefused(f"refused: unterminated `name` at {_where(query, i)}")
                out.append(Token("param", query[j + 1:k], i))
                i = k + 1
                continue
            while j < n and (query[j].isalnum() or query[j] == "_"):
                j += 1
            out.append(Token("param", query[i + 1:j], i))
            i = j
        else:
            out.append(Token("punct", c, i))
            i += 1
    return out


def _dotted_name(tokens: list[Token], i: int) -> tuple[str, int]:
    """``a.b.c`` starting at word ``i`` -> ("a.b.c", index after it)."""
    parts = [tokens[i].text]
    j = i + 1
    while (j + 1 < len(tokens) and tokens[j].kind == "punct" and tokens[j].text == "."
           and tokens[j + 1].kind in ("word", "name")):
        parts.append(tokens[j + 1].text)
        j += 2
    return ".".join(parts), j


def _is_keyword(tokens: list[Token], i: int) -> bool:
    """Word ``i`` used as a keyword: not a property (``n.set``), a label or type
    (``:Create``), a map key (``{create: 1}``) or a parameter."""
    before = tokens[i - 1] if i > 0 else None
    after = tokens[i + 1] if i + 1 < len(tokens) else None
    if before is not None and before.kind == "punct" and before.text in (".", ":", "$"):
        return False
    if after is not None and after.kind == "punct" and after.text == ":":
        return False
    return True


def _range_size(tokens: list[Token], i: int, params: dict, query: str) -> int:
    """``range`` at word ``i``, followed by ``(``: its number of elements (checked).

    Only ``range(A, B[, STEP])`` with each of A, B, STEP an integer literal (signed)
    or an integer parameter is accepted; it reads at most ten tokens."""
    values: list[int] = []
    j = i + 2
    for what in ("start", "end", "step"):
        sign = 1
        if j < len(tokens) and tokens[j].kind == "punct" and tokens[j].text in "+-":
            sign = -1 if tokens[j].text == "-" else 1
            j += 1
        t = tokens[j] if j < len(tokens) else None
        value = None
        if t is not None and t.kind == "number":
            try:
                value = int(t.text, 0)
            except ValueError:
                value = None
        elif t is not None and t.kind == "param":
            v = params.get(t.text)
            value = v if isinstance(v, int) and not isinstance(v, bool) else None
        if value is None:
            at = _where(query, t.pos) if t is not None else "the end"
            raise QueryRefused(f"refused: range() at {at}: its {what} must be an integer or "
                               "an integer parameter (a computed range can exhaust the "
                               "engine's memory)")
        values.append(sign * value)
        j += 1
        nxt = tokens[j] if j < len(tokens) else None
        if nxt is not None and nxt.kind == "punct" and nxt.text == ")" and len(values) >= 2:
            break
        if nxt is None or nxt.kind != "punct" or nxt.text not in ",)":
            raise QueryRefused(f"refused: range() at {_where(query, tokens[i].pos)}: its "
                               f"{what} must be an integer or an integer parameter (a computed "
                               "range can exhaust the engine's memory)")
        if nxt.text == ")" or len(values) == 3:
            raise QueryRefused(f"refused: range() at {_where(query, tokens[i].pos)} takes "
                               "2 or 3 integer arguments")
        j += 1
    start, end = values[0], values[1]
    step = values[2] if len(values) == 3 else 1
    if step == 0:
        return 0  # the engine says what is wrong
    size = max(0, (end - start) // step + 1)
    if size > MAX_RANGE_ELEMENTS:
        raise QueryRefused(f"refused: range() at {_where(query, tokens[i].pos)} would build "
                           f"{size:,} elements (at most {MAX_RANGE_ELEMENTS:,}; the engine "
                           "builds the whole list in memory)")
    return size


def check_user_query(query: str, params: dict | None = None) -> list[Token]:
    """Refuse (:class:`QueryRefused`) a query that is not plainly read-only; the tokens."""
    if not isinstance(query, str):
        raise QueryRefused(f"refused: a query is text, not {type(query).__name__}")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryRefused(f"refused: the query is {len(query):,} characters long (at most "
                           f"{MAX_QUERY_CHARS:,})")
    tokens = tokenize(query)
    params = params or {}
    # product of the sizes of every range(): one may be built per element of another
    ranges = 1

    def count_range(i: int) -> None:
        nonlocal ranges
        ranges *= max(1, _range_size(tokens, i, params, query))
        if ranges > MAX_RANGE_ELEMENTS:
            raise QueryRefused(f"refused: the range() calls of this query (the last at "
                               f"{_where(query, tokens[i].pos)}) could build {ranges:,} "
                               f"elements together (at most {MAX_RANGE_ELEMENTS:,})")

    last_statement_token = max((k for k, x in enumerate(tokens)
                                if x.kind != "punct" or x.text != ";"), default=-1)
    for i, t in enumerate(tokens):
        if t.kind == "punct" and t.text == ";":
            if i < last_statement_token:
                raise QueryRefused(f"refused: more than one statement ({_where(query, t.pos)}); "
                                   "send one query at a time")
            continue
        if t.kind == "name" and _is_keyword(tokens, i):  # `range`(...), `apoc.load.json`(...)
            nxt_tok = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt_tok is not None and nxt_tok.kind == "punct" and nxt_tok.text in "(.":
                name, j = _dotted_name(tokens, i)
                if j < len(tokens) and tokens[j].kind == "punct" and tokens[j].text == "(":
                    if name.lower() == "range":
                        count_range(i)
                    elif any((name.lower() + ".").startswith(ns) for ns in FORBIDDEN_NAMESPACES):
                        raise QueryRefused(f"refused: {name} ({_where(query, t.pos)}) may read "
                                           "or write files or run other queries")
            continue
        if t.kind != "word" or not _is_keyword(tokens, i):
            continue
        word = t.text.upper()
        if word == "LOAD":
            raise QueryRefused(f"refused: LOAD CSV reads files or URLs ({_where(query, t.pos)}); "
                               "`lineage cypher` runs read-only queries on the graph")
        if word in WRITE_KEYWORDS:
            nxt = tokens[i + 1].text.upper() if i + 1 < len(tokens) else ""
            if word in ("CREATE", "DROP", "ALTER") and nxt in (
                    "INDEX", "CONSTRAINT", "FULLTEXT", "VECTOR", "RANGE", "TEXT", "POINT",
                    "LOOKUP", "BTREE", "DATABASE", "ALIAS", "USER", "ROLE", "COMPOSITE", "OR"):
                raise QueryRefused(f"refused: {word} {nxt} changes the schema or the server "
                                   f"({_where(query, t.pos)}); `lineage cypher` runs read-only "
                                   "queries")
            raise QueryRefused(f"refused: the query writes to the graph or the server ({word} "
                               f"at {_where(query, t.pos)}); `lineage cypher` runs read-only "
                               "queries")
        nxt_tok = tokens[i + 1] if i + 1 < len(tokens) else None
        if word == "CALL" and nxt_tok is not None and nxt_tok.kind in ("word", "name"):
            name, _ = _dotted_name(tokens, i + 1)
            low = name.lower()
            if not any(low == p or (p.endswith(".") and low.startswith(p))
                       for p in READ_PROCEDURES):
                raise QueryRefused(f"refused: procedure {name} ({_where(query, t.pos)}) is not "
                                   "one of the read-only procedures `lineage cypher` may call")
            continue
        if nxt_tok is not None and nxt_tok.kind == "punct" and nxt_tok.text == ".":
            name, j = _dotted_name(tokens, i)
            low = name.lower() + "."
            if any(low.startswith(ns) for ns in FORBIDDEN_NAMESPACES) and j < len(tokens) \
                    and tokens[j].kind == "punct" and tokens[j].text == "(":
                raise QueryRefused(f"refused: {name} ({_where(query, t.pos)}) may read or write "
                                   "files or run other queries")
        if word == "RANGE" and nxt_tok is not None and nxt_tok.kind == "punct" \
                and nxt_tok.text == "(":
            count_range(i)
    return tokens

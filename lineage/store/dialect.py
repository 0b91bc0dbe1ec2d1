"""How each engine spells what standard Cypher does not settle: one object per engine.

Domain code writes standard Cypher and asks ``store.dialect`` for the few fragments that
differ between engines, so no engine's workaround leaks into the others' queries:

* node *refs*: one operation that meets tens of thousands of nodes (a flag's walk and
  the write of its marks) names them by ref, the key on standard engines; FalkorDB's
  internal ids are found without an index lookup (3-5x faster), so it uses those.  A ref
  is good within that operation only (nodes are never deleted, but an engine may reuse
  the id of a deleted one);
* the keyset-page predicate ``key > $after``: FalkorDB (4.x) answers a range scan of the
  key index wrongly for mixed-case strings (``> 'collection:DemoCam/DR2'`` skips
  ``.../calib``), so it compares a computed value there and scans; every other engine
  keeps the plain, indexed predicate;
* whether :meth:`lineage.store.base.Store.read_plain` gives floats and booleans as text
  (FalkorDB's verbose reply does).

The base class is standard Cypher (Neo4j, ArcadeDB).
"""

from __future__ import annotations


class Dialect:
    """Standard Cypher: Neo4j and ArcadeDB."""

    #: ``Store.read_plain`` may give floats and booleans as their text.
    plain_rows_are_text = False

    def ref(self, var: str) -> str:
        """The Cypher expression of node ``var``'s ref."""
        return f"{var}.key"

    def match_ref(self, var: str, label: str, expr: str) -> str:
        """A ``MATCH`` binding ``var`` to the ``label`` node whose ref is ``expr``.

        ``expr`` must be a variable (``UNWIND $rows AS r WITH r, r[0] AS ref``):
        FalkorDB seeks by id only then, and scans the label for ``r[0]``.
        """
        return f"MATCH ({var}:{label} {{key: {expr}}})"

    def key_after(self, var: str, param: str) -> str:
        """The predicate "``var``'s key sorts after ``$param``" of a keyset page."""
        return f"{var}.key > ${param}"


class FalkorDialect(Dialect):
    """FalkorDB: internal ids as refs, no range scan of the key index, text in plain rows."""

    plain_rows_are_text = True

    def ref(self, var: str) -> str:
        return f"id({var})"

    def match_ref(self, var: str, label: str, expr: str) -> str:
        return f"MATCH ({var}:{label}) WHERE id({var}) = {expr}"

    def key_after(self, var: str, param: str) -> str:
        # `+ ''`: a computed value, so not a range scan of the key index, which FalkorDB
        # 4.x answers wrongly for mixed-case strings
        return f"{var}.key + '' > ${param}"


STANDARD = Dialect()
FALKORDB = FalkorDialect()

"""Search (docs/search.md): what one text a person typed names (a visit, a data ID, a
dataset or flag UUID, a collection, a dataset type, a task), as hits with the key the rest
of the API takes.  :mod:`.core` reads the text and keeps the logic; :mod:`.queries` holds
its Cypher."""

from lineage.search.core import DEFAULT_FIRST, MAX_FIRST, Hit, Search, SearchError, search

__all__ = ["DEFAULT_FIRST", "MAX_FIRST", "Hit", "Search", "SearchError", "search"]

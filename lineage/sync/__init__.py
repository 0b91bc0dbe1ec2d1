"""``lineage sync``: a live Butler repository as the source of the graph (docs/sync.md).

:mod:`lineage.sync.butler` reads the Butler (read-only, daf_butler imported lazily) into
the entries of a Butler export; :mod:`lineage.sync.core` decides what is new, writes each
RUN as one all-or-nothing unit and keeps the sync state on the collections;
:mod:`lineage.sync.queries` is its Cypher.
"""

from lineage.sync.butler import SyncError
from lineage.sync.core import SyncSummary, sync

__all__ = ["sync", "SyncSummary", "SyncError"]

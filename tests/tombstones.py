"""Tombstones for the tests (docs/retention.md), made by ``lineage delete``'s own function.

:func:`tombstone` deletes datasets as ``lineage delete`` does (graph only, forced: their
descendants stay live), at a fixed time so that answers compare; ``files_removed`` puts the
tombstones in the state a file removal leaves (owed: ``False``; done: ``True``) without a
datastore to remove files from.
"""

from __future__ import annotations

from lineage.core.model import GraphBatch
from lineage.retention import queries
from lineage.retention.delete import delete

#: The stamp every tombstone of these tests carries (a fixed time: answers are comparable).
DELETED_AT = "2026-12-01T10:00:00.000000Z"


def tombstone(store, keys, by: str = "test", reason: str = "test",
              at: str = DELETED_AT, files_removed: bool | None = None) -> None:
    """Delete the datasets ``keys`` (dataset keys) ``at``, by ``by`` for ``reason``, forced;
    ``files_removed`` None: no file removal asked."""
    keys = sorted(keys)
    assert keys and all(k.startswith("dataset:") for k in keys), keys
    report = delete(store, keys=keys, reason=reason, by=by, force=True, now=at,
                    show_progress=False)
    assert report["datasets"] == len(keys), f"not every key is a stored dataset: {keys}"
    if files_removed is not None:
        store.commit(store.prepare(GraphBatch("tombstones (test)"), {}, queries.set_statements(
            keys, {"files_removed": files_removed})))

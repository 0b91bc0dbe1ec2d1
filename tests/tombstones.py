"""Tombstones for the tests of "who sees tombstones" (docs/retention.md), made without
``lineage delete``.

:func:`tombstone` writes the properties of the tombstone model (``deleted_at``,
``deleted_by``, ``deleted_reason``, ``deleted_forced``, ``files_removed``,
``deletion_history``) on Dataset nodes with one Cypher statement through the store, as one
all-or-nothing unit.  It is a STAND-IN, written while ``lineage delete``
(lineage/retention/delete.py) was being built in parallel: after the merge the lead
replaces its body with a call of the real delete (graph only, forced), so that these tests
exercise the tombstones the command really writes.
"""

from __future__ import annotations

import datetime as _dt

from lineage.core.time import utc_stamp
from lineage.store.cypher import Statement

#: The stamp every tombstone of these tests carries (a fixed time: answers are comparable).
DELETED_AT = "2026-12-01T10:00:00.000000Z"


def tombstone(store, keys, by: str = "test", reason: str = "test",
              at: str = DELETED_AT, files_removed: bool | None = None) -> None:
    """Mark the datasets ``keys`` (dataset keys) deleted ``at`` by ``by`` for ``reason``
    (forced, as their descendants stay live); ``files_removed`` None: no file removal asked."""
    keys = sorted(keys)
    assert keys and all(k.startswith("dataset:") for k in keys), keys
    assert at == utc_stamp(_dt.datetime.fromisoformat(at.replace("Z", "+00:00"))), at
    line = f"{at} deleted by {by}: {reason}"
    files = "" if files_removed is None else ", d.files_removed = $files"
    statement = Statement(
        "UNWIND $keys AS k MATCH (d:Dataset {key: k}) "
        "SET d.deleted_at = $at, d.deleted_by = $by, d.deleted_reason = $reason, "
        f"d.deleted_forced = true, d.deletion_history = [$line]{files}",
        {"keys": keys, "at": at, "by": by, "reason": reason, "line": line,
         "files": files_removed}, len(keys))
    store._execute_unit(store._encode([statement]))
    found = store.read("MATCH (d:Dataset) WHERE d.key IN $keys AND d.deleted_at = $at "
                       "RETURN count(d)", {"keys": keys, "at": at})
    assert found[0][0] == len(keys), f"not every key is a stored dataset: {keys}"

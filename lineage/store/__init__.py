"""Graph engines behind one interface (:class:`lineage.store.base.Store`)."""

from lineage.store.base import ReadOnlyViolation, Store, StoreError, WriteSummary

__all__ = ["Store", "StoreError", "ReadOnlyViolation", "WriteSummary"]

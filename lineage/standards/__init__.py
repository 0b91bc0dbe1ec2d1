"""Lineage in the standards other tools read: W3C PROV and OpenLineage, out and in
(docs/standards.md)."""

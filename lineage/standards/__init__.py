"""Lineage in the standards other tools read: W3C PROV (docs/standards.md)."""

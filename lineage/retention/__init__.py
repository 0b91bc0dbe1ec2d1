"""Deleting data and keeping its provenance (docs/retention.md): datasets deleted as
tombstones (their node, key, data ID, run and lineage edges kept), their files removed after
the graph records it, files no live dataset names collected, and retention rules."""

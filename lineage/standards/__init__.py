"""Provenance standards: W3C PROV and OpenLineage, out and in."""

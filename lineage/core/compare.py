"""Comparing plain values (records, package versions, configs)."""

from __future__ import annotations


def changed_values(a: dict, b: dict) -> dict:
    """Keys whose value differs: key -> [value in A, value in B] (None: absent)."""
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}

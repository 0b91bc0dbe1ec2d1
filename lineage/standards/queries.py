"""The Cypher of the standard exports (docs/standards.md): one function per query, rows as
tuples.  ``keys=None`` reads the whole graph; otherwise only the nodes ``keys`` name."""

from __future__ import annotations

from lineage.store.base import Store


def _and_in(var: str, keys) -> tuple[str, dict]:
    """The condition, after a WHERE, keeping the nodes ``var`` whose key is in ``keys``
    (None: all)."""
    return ("", {}) if keys is None else (f"AND {var}.key IN $keys ", {"keys": sorted(keys)})


def _where(var: str, keys) -> tuple[str, dict]:
    """The WHERE clause keeping the nodes ``var`` whose key is in ``keys`` (None: all)."""
    return ("", {}) if keys is None else (f"WHERE {var}.key IN $keys ", {"keys": sorted(keys)})


def dataset_rows(store: Store, keys=None) -> list[tuple]:
    """``[key, dataset_type, data_id, run, uri, checksum, size]`` of each dataset."""
    where, params = _where("d", keys)
    return store.read(f"MATCH (d:Dataset) {where}RETURN d.key, d.dataset_type, d.data_id, "
                      "d.run, d.uri, d.checksum, d.size ORDER BY d.key", params)


def quantum_rows(store: Store, keys=None) -> list[tuple]:
    """``[key, task, task_class, data_id, run, status, start, end, time_scale, host,
    peak_memory_mb, software key, config key]`` of each quantum (times as stored: TAI)."""
    where, params = _where("q", keys)
    return store.read(
        f"MATCH (q:Quantum) {where}"
        "OPTIONAL MATCH (q)-[:RAN_WITH]->(s:SoftwareVersion) "
        "OPTIONAL MATCH (q)-[:CONFIGURED_BY]->(c:Config) "
        "RETURN q.key, q.task, q.task_class, q.data_id, q.run, q.status, q.start, q.end, "
        "q.time_scale, q.host, q.peak_memory_mb, s.key, c.key ORDER BY q.key", params)


def input_rows(store: Store, quantum_keys=None) -> list[tuple]:
    """``[dataset key, quantum key, rejected, rejected_reason]`` of each ``INPUT_TO`` edge."""
    where, params = _where("q", quantum_keys)
    return store.read(f"MATCH (d:Dataset)-[e:INPUT_TO]->(q:Quantum) {where}"
                      "RETURN d.key, q.key, e.rejected, e.rejected_reason "
                      "ORDER BY q.key, d.key", params)


def output_rows(store: Store, quantum_keys=None) -> list[tuple]:
    """``[quantum key, dataset key]`` of each ``PRODUCED`` edge."""
    where, params = _where("q", quantum_keys)
    return store.read(f"MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset) {where}"
                      "RETURN q.key, d.key ORDER BY q.key, d.key", params)


def software_rows(store: Store, keys=None) -> list[tuple]:
    """``[key, name, packages]`` of each software version (packages as stored: JSON)."""
    where, params = _where("s", keys)
    return store.read(f"MATCH (s:SoftwareVersion) {where}"
                      "RETURN s.key, s.name, s.packages ORDER BY s.key", params)


def config_rows(store: Store, keys=None) -> list[tuple]:
    """``[key, task, values]`` of each config (values as stored: JSON)."""
    where, params = _where("c", keys)
    return store.read(f"MATCH (c:Config) {where}RETURN c.key, c.task, c.values ORDER BY c.key",
                      params)


def active_flag_rows(store: Store, dataset_keys=None) -> list[tuple]:
    """``[flag key, verdict, reason, by, created_at, evidence, dataset key]``: each dataset
    an active (not retracted) flag names directly."""
    where, params = _and_in("d", dataset_keys)
    return store.read("MATCH (f:Flag)-[:FLAGS]->(d:Dataset) WHERE f.retracted_at IS NULL "
                      f"{where}RETURN f.key, f.verdict, f.reason, f.by, f.created_at, "
                      "f.evidence, d.key ORDER BY f.key, d.key", params)


def contamination_rows(store: Store, dataset_keys=None) -> list[tuple]:
    """``[dataset key, flag key, steps, fraction]`` of each contamination mark of a
    dataset by an active flag."""
    where, params = _and_in("d", dataset_keys)
    return store.read("MATCH (d:Dataset)-[c:CONTAMINATED_BY]->(f:Flag) "
                      f"WHERE f.retracted_at IS NULL {where}"
                      "RETURN d.key, f.key, c.steps, c.fraction ORDER BY d.key, f.key", params)


def deletion_rows(store: Store, keys=None) -> list[tuple]:
    """``[key, deleted_at, deleted_by, deleted_reason, deleted_forced, files_removed]`` of
    each tombstone (docs/retention.md) among the datasets."""
    where, params = _and_in("d", keys)
    return store.read("MATCH (d:Dataset) WHERE d.deleted_at IS NOT NULL "
                      f"{where}RETURN d.key, d.deleted_at, d.deleted_by, d.deleted_reason, "
                      "d.deleted_forced, d.files_removed ORDER BY d.key", params)


def producer_rows(store: Store, dataset_keys) -> list[tuple]:
    """``[dataset key, quantum key]`` of the quantum that produced each of the datasets."""
    return store.read("MATCH (q:Quantum)-[:PRODUCED]->(d:Dataset) WHERE d.key IN $keys "
                      "RETURN d.key, q.key ORDER BY d.key, q.key", {"keys": sorted(dataset_keys)})


def datasets_with_checksum_rows(store: Store, checksums) -> list[tuple]:
    """``[checksum, key, dataset_type, data_id, run]`` of each dataset whose checksum is one
    of ``checksums`` (as stored: hex, or algorithm:hex)."""
    return store.read("MATCH (d:Dataset) WHERE d.checksum IN $checksums "
                      "RETURN d.checksum, d.key, d.dataset_type, d.data_id, d.run "
                      "ORDER BY d.key", {"checksums": sorted(checksums)})

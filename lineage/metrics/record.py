"""Recording a job's measurements (SQR4, CI2): what a task or a CI step calls to
publish its metric values by name.

:func:`record` builds an lsst.verify job document from its arguments and
stores it through the same reader as ``lineage ingest metrics``
(:class:`lineage.ingest.formats.metrics.JobReader`), so a recorded job and an
ingested one are the same shape: a ``Job`` with its ``Measurement`` nodes,
``RAN_WITH`` its software, ``MEASURED`` what it measured.  One call is one
ingest unit, all or nothing.  ``lineage metrics record`` is the same on the
command line::

    lineage metrics record validate_drp.PA1="12.1 mmag" validate_drp.AM1="7.9 mas" \\
        --job ci/2026-03-01 --dataset ci_demo --instrument DemoCam --filter r \\
        --software w.2026.20 --measured DemoCam/DR2
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping

import astropy.units as u

from lineage.core.model import GraphBatch, Rel, collection_key, software_key
from lineage.core.units import MetricError, canonical_unit, convert, parse_date
from lineage.ingest.driver import IngestError
from lineage.ingest.formats.metrics import JobReader
from lineage.metrics.queries import stored_keys, units_of_metrics

@dataclass(frozen=True)
class Recorded:
    """What :func:`record` stored."""

    job: str
    nodes_created: int
    edges_created: int
    missing: tuple[str, ...]     # metrics recorded without a value (NaN)


def parse_value(metric: str, value) -> tuple[float, str]:
    """``12.1``, ``(12.1, "mmag")``, ``12.1 * u.mmag`` or ``"12.1 mmag"`` -> (value, unit)."""
    if isinstance(value, u.Quantity):
        return float(value.value), value.unit.to_string()
    if isinstance(value, tuple) and len(value) == 2:
        return float(value[0]), canonical_unit(value[1])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), ""
    if isinstance(value, str):
        try:
            quantity = u.Quantity(value.strip())
        except (ValueError, TypeError):
            raise MetricError(f"{metric}: {value!r} is not a number with a unit "
                              "(e.g. '12.1 mmag')") from None
        return float(quantity.value), quantity.unit.to_string()
    raise MetricError(f"{metric}: {value!r} is not a number, a quantity or (value, unit)")


def job_document(measurements: Mapping[str, object], date=None, instrument: str | None = None,
                 filter_name: str | None = None, dataset_name: str | None = None,
                 packages: Mapping[str, str] | None = None,
                 meta: Mapping[str, object] | None = None) -> dict:
    """The lsst.verify job document of a recording (what ``dispatch_verify`` would send)."""
    if not measurements:
        raise MetricError("a job records at least one measurement")
    when = parse_date(date) if date is not None else \
        parse_date(datetime.now(timezone.utc).isoformat())
    items = []
    for metric, value in measurements.items():
        if not isinstance(metric, str) or metric.count(".") < 1:
            raise MetricError(f"metric {metric!r}: name it <package>.<metric>, "
                              "e.g. validate_drp.PA1")
        number, unit = parse_value(metric, value)
        if math.isinf(number):
            raise MetricError(f"{metric}: the value is infinite")
        items.append({"metric": metric, "value": None if math.isnan(number) else number,
                      "unit": unit})
    doc_meta = {k: v for k, v in (meta or {}).items()}
    doc_meta.update({k: v for k, v in (("instrument", instrument), ("filter_name", filter_name),
                                       ("dataset_name", dataset_name)) if v is not None})
    doc_meta["env"] = {**dict(doc_meta.get("env") or {}), "date": when.isot + "Z"}
    if packages:
        doc_meta["packages"] = {name: {"name": name, "version": str(version)}
                                for name, version in sorted(packages.items())}
    return {"measurements": items, "meta": doc_meta}


def job_batch(measurements: Mapping[str, object], job: str | None = None,
              software: str | None = None, measured: Iterable[str] = (),
              **document) -> tuple[GraphBatch, tuple[str, ...]]:
    """The ingest unit of a recording, and the metrics recorded without a value.

    ``job``: a name (``ci/1234`` -> key ``job:ci/1234``), else the key is
    derived from the content as for an ingested file.  ``software``: the
    key or name of a stored SoftwareVersion (instead of ``packages``).
    ``measured``: keys of what the job measured (datasets, data units,
    collections), or collection names.
    """
    if software and document.get("packages"):
        raise MetricError("give the software as a stored version or as packages, not both")
    doc = job_document(measurements, **document)
    key = None
    if job:
        key = job if job.startswith("job:") else f"job:{job}"
    source = Path(f"<record {key or 'job'}>")
    try:
        parsed = JobReader(source, doc, key).read()
    except IngestError as exc:
        raise MetricError(exc.what if not exc.where else f"{exc.where}: {exc.what}") from None
    batch = parsed.batch
    key = next(k for k in batch.nodes if k.startswith("job:"))
    if software:
        batch.add_edge(Rel.RAN_WITH, key, software if ":" in software else software_key(software))
    for target in measured:
        batch.add_edge(Rel.MEASURED, key, target if ":" in target else collection_key(target))
    missing = tuple(s.split(":", 1)[0] for s in parsed.skipped)
    return batch, missing


def _check_units(store, batch: GraphBatch) -> None:
    """Each value must convert to its metric's stored unit, or every later comparison of
    that metric would fail on it.  (A missing value has nothing to convert.)"""
    given = {p["metric"]: p.get("unit", "") for k, p in batch.nodes.items()
             if k.startswith("measurement:") and p.get("value") is not None}
    for name, unit in units_of_metrics(store, [f"metric:{n}" for n in given]):
        try:
            convert(1.0, given.get(name, ""), unit)
        except MetricError as exc:
            raise MetricError(f"{name}: measured in {given.get(name)!r}, but the metric is in "
                              f"{unit!r}: {exc}") from None


def record(store, measurements: Mapping[str, object], job: str | None = None,
           software: str | None = None, measured: Iterable[str] = (), **document) -> Recorded:
    """Store one job's measurements (module docstring), all or nothing.

    ``measurements``: metric name -> value (``12.1 * u.mmag``, ``(12.1, "mmag")``,
    ``"12.1 mmag"``, or a plain number for a dimensionless metric; NaN is
    recorded as a missing value, never 0).  Other keywords: ``date`` (ISO,
    default now, UTC), ``instrument``, ``filter_name``, ``dataset_name``,
    ``packages`` ({name: version}), ``meta`` (more job metadata).  The
    software and everything in ``measured`` must already be stored.
    """
    batch, missing = job_batch(measurements, job, software, measured, **document)
    _check_units(store, batch)
    wanted = batch.missing_endpoints()
    if wanted:
        found = stored_keys(store, wanted)
        absent = [k for k in wanted if k not in found]
        if absent:
            raise MetricError(f"not in the repository: {', '.join(absent)} (the job's software "
                              "and what it measured must be stored first)")
    written = store.write(batch)
    return Recorded(next(k for k in batch.nodes if k.startswith("job:")),
                    written.nodes_created, written.edges_created, missing)

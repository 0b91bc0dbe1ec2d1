"""Metric jobs (SQuaSH / lsst.verify): units and comparisons (:mod:`.units`),
lookups over stored jobs (:mod:`.lookup`), recording a job's measurements
(:mod:`.record`) and the regression view across jobs (:mod:`.trend`).
``docs/metrics.md`` walks through them."""

from lineage.metrics.lookup import (JobFilter, Measured, SpecResult, evaluate_specs, job_blobs, job_data,
                                    jobs_where,
                                    measurements,
                                    meta_matches, select, software_packages)
from lineage.core.units import (OPERATORS, MetricError, canonical_unit, compare, convert,
                                parse_date, parse_unit)

__all__ = ["MetricError", "OPERATORS", "parse_unit", "canonical_unit", "convert", "compare",
           "parse_date", "Measured", "JobFilter", "SpecResult", "measurements",
           "select", "jobs_where", "evaluate_specs", "job_blobs", "job_data",
           "meta_matches", "software_packages"]

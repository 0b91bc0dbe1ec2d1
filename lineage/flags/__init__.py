"""Bad-data flags and contamination propagation (LDF101 a-e, LDF102).

A *flag* is a verdict (``bad`` or ``suspect``) on a visit, exposure,
detector-visit, dataset or quantum, with who, when (UTC), why, its evidence
and its authority.  Flags are history: they are never deleted, only
retracted (the retraction is recorded on the flag), so every question can
be asked "as of" a time or a release.

Flagging *propagates*: every dataset and quantum downstream of the flagged
datasets gets a ``CONTAMINATED_BY`` mark pointing at the flag, carrying
``steps`` (shortest number of processing steps from a flagged dataset) and
``fraction`` (how much of it the flag reaches, rules below).  Marks are
written with the flag in one all-or-nothing ingest unit, so "is this
product contaminated, by what, how much" is one indexed lookup by key.

Fraction rules (``docs/flags.md`` explains them with the demo):

* a flagged dataset (or a flagged quantum and its outputs): 1;
* a dataset written by quantum ``q``: the weighted mean of the fractions of
  ``q``'s *science* inputs, an input untouched by the flag counting 0;
  calibration inputs (``CALIBRATION_TYPES``) are left out of the mean, but a
  contaminated calibration reaches every pixel, so the output's fraction is
  at least that calibration's;
* every input weighs 1, except in the tasks of ``WEIGHTED_TASKS`` (coadd
  assembly), where each input warp weighs the number of science inputs
  (calexps) its own quantum read: a coadd's fraction is then exactly the
  share of its input calexps that came from flagged data;
* an input the step rejected (``INPUT_TO`` edge with ``rejected: true``)
  neither counts nor carries contamination: propagation stops there;
* a quantum's mark is the fraction and step count of the datasets it wrote.

Retracting a flag leaves its marks in place (they are history too); every
lookup reads only marks of flags active at the time asked, so a product
reached by two flags stays contaminated by the other after one retraction.

The package: :mod:`.core` (errors, verdicts, times), :mod:`.propagation`
(the walk and the fractions), :mod:`.records` (flag, unflag, lookups,
recompute, block), :mod:`.plan` (reprocessing plans, inputs with flags
marked), :mod:`.rerun` (the plans as pipetask or BPS files, checked after the rerun) and
:mod:`.transfer` (export and import).
"""

from lineage.flags.core import VERDICTS, FlagError, as_of_time
from lineage.flags.plan import data_queries, flagged_datasets, inputs_for, reprocessing_plan
from lineage.flags.propagation import (CALIBRATION_TYPES, FRACTION_DIGITS, WEIGHTED_TASKS, Propagation,
                                       blast_radius, propagate)
from lineage.flags.records import (IdempotencyConflict, block_input, check_idempotency_key,
                                   check_mark_filters, contaminated, contamination,
                                   contamination_of_datasets, find_flag, flag, flagged_selector,
                                   flags_matching,
                                   list_flags, marks, recompute, stored_blast_radius, targets,
                                   unflag)
from lineage.flags.rerun import EMITTERS, PLAN_FILE, SCRIPT, SUBMIT, emit_rerun, mark_done, read_plan
from lineage.flags.transfer import export_flags, import_flags, iter_flag_records

__all__ = [
    "VERDICTS", "FlagError", "as_of_time", "data_queries",
    "flagged_datasets", "inputs_for", "reprocessing_plan", "CALIBRATION_TYPES",
    "FRACTION_DIGITS", "WEIGHTED_TASKS", "Propagation", "blast_radius", "propagate",
    "block_input", "check_mark_filters", "contaminated", "contamination",
    "contamination_of_datasets",
    "find_flag", "flag", "flagged_selector", "flags_matching", "list_flags", "marks", "recompute",
    "targets", "unflag", "export_flags", "import_flags", "iter_flag_records",
    "IdempotencyConflict", "check_idempotency_key", "stored_blast_radius",
    "EMITTERS", "PLAN_FILE", "SCRIPT", "SUBMIT", "emit_rerun", "mark_done", "read_plan",
]

"""The demo survey: a small synthetic survey built in code (:mod:`lineage.demo.survey`),
with its catalogs (:mod:`lineage.demo.catalogs`) and images (:mod:`lineage.demo.images`).

The public names of the survey are re-exported here (``from lineage.demo import generate``).
"""

from lineage.demo.survey import (CI_JOBS, CI_REGRESSION_AT, CONFIGS, INSTRUMENT, PHYSICAL_FILTERS,
                                 RELEASE_CHANGES, SOFTWARE, SPECIFICATIONS, SurveySpec, dataset_path,
                                 default_visit, generate, plan_survey, release_runs)

__all__ = ["CI_JOBS", "CI_REGRESSION_AT", "CONFIGS", "INSTRUMENT", "PHYSICAL_FILTERS",
           "RELEASE_CHANGES", "SOFTWARE", "SPECIFICATIONS", "SurveySpec", "dataset_path",
           "default_visit", "generate", "plan_survey", "release_runs"]

"""The GraphQL schema: the root query assembled from one fields module per capability
(:mod:`lineage.api.lineage`, :mod:`lineage.api.dataunits`, :mod:`lineage.api.flags`,
:mod:`lineage.api.lightcurve`, :mod:`lineage.api.metrics`, :mod:`lineage.api.diff`,
:mod:`lineage.api.preflight`, :mod:`lineage.api.graph`) and the flag mutations.
"""

from __future__ import annotations

import graphene

from lineage.api.dataunits import DataUnitsQuery
from lineage.api.diff import DiffQuery
from lineage.api import files  # noqa: F401 (adds Dataset.fileUrl)
from lineage.api.flags import FlagsQuery, Mutation
from lineage.api.graph import GraphQuery
from lineage.api.lightcurve import LightcurveQuery
from lineage.api.lineage import LineageQuery
from lineage.api.metrics import MetricsQuery
from lineage.api.preflight import PreflightQuery
from lineage.api.search import SearchQuery
from lineage.api.types import NODE_TYPES


class Query(LineageQuery, GraphQuery, DataUnitsQuery, FlagsQuery, LightcurveQuery,
            MetricsQuery, DiffQuery, PreflightQuery, SearchQuery, graphene.ObjectType):
    """Lineage, datasets, data units, flags and contamination; lightcurves; metric jobs;
    release diffs; pre-flight of predicted quantum graphs."""


def build_schema() -> graphene.Schema:
    return graphene.Schema(query=Query, mutation=Mutation, types=NODE_TYPES,
                           auto_camelcase=True)

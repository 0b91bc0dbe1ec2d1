"""survey-lineage: provenance and lineage graph for survey data processing."""

__version__ = "0.1.0"

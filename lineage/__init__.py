"""survey-lineage: provenance and lineage graph for survey data processing."""

__version__ = "0.1.0"


def get(dataset, **kw):
    """A dataset as the Python object a user expects (:func:`lineage.fetch.read.get`)."""
    from lineage.fetch.read import get as _get
    return _get(dataset, **kw)


def __getattr__(name):
    """``lineage.Repository`` and ``lineage.Result``, imported on first use so that
    ``import lineage`` stays cheap (:mod:`lineage.repository`)."""
    if name == "Repository":
        from lineage.repository import Repository
        return Repository
    if name == "Result":
        from lineage.results import Result
        return Result
    raise AttributeError(f"module 'lineage' has no attribute {name!r}")


def __dir__():
    """The lazy names too, so a notebook completes ``lineage.Rep``."""
    return sorted([*globals(), "Repository", "Result"])

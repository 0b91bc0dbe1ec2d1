"""survey-lineage: provenance and lineage graph for survey data processing."""

__version__ = "0.1.0"


def get(dataset, **kw):
    """A dataset as the Python object a user expects (:func:`lineage.fetch.read.get`)."""
    from lineage.fetch.read import get as _get
    return _get(dataset, **kw)

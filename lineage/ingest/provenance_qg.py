"""Rubin provenance quantum graphs (``.qg``), through ``lsst-pipe-base``.

Needs the optional extra: ``pip install 'survey-lineage[rubin]'``.  Reading
them is not implemented yet: no provenance quantum graph sample exists in
``../shared/data/real`` and making one needs a Butler repository in which a
pipeline has run and been aggregated (``docs/ingest.md``, section ``run``).
"""

from __future__ import annotations

from .files import IngestError


def read(path) -> None:
    try:
        import lsst.pipe.base.quantum_graph  # noqa: F401
    except ImportError:
        raise IngestError(path, "", "a Rubin provenance quantum graph needs lsst-pipe-base: "
                                    "pip install 'survey-lineage[rubin]'") from None
    raise IngestError(path, "", "reading Rubin provenance quantum graphs is not implemented yet "
                                "(lsst-pipe-base is installed; see docs/ingest.md, section run)")

"""Releases by name, and which part of them a diff looks at.

A release is a named collection (SQR9): a CHAINED collection such as
``DemoCam/DR2``, or any collection, named by its name or, for a chain that
records one, by its ``release`` property (``DR2``).  Never by path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lineage.traversal.traverse import collection_members
from lineage.dataunits.names import KNOWN, check_names, unknown_name
from lineage.core.selector import SelectorError, parse_selector
from lineage.diff import queries


class ReleaseError(SelectorError):
    """A release name that names nothing, or a filter that cannot be used."""


@dataclass(frozen=True)
class Release:
    name: str                   # the collection's name
    runs: tuple[str, ...]       # RUN collections it stands for, chains flattened
    others: tuple[str, ...]     # TAGGED / CALIBRATION members (datasets by CONTAINS)


def resolve_release(store, name: str) -> Release:
    """The release called ``name``: a collection name, else a collection whose
    ``release`` property is ``name``; if neither, an :class:`UnknownName` that names the
    closest collections."""
    name = (name or "").strip()
    if not name:
        raise ReleaseError("empty release name")
    names = queries.collection_names(store, f"collection:{name}")
    if not names:
        names = queries.release_collections(store, name)
        if len(names) > 1:
            raise ReleaseError(f"release {name!r} is ambiguous: collections "
                               f"{', '.join(names)}")
    if not names:
        raise unknown_name("release or collection", name, KNOWN["collection"](store))
    runs, others = collection_members(store, names[0])
    return Release(names[0], tuple(runs), tuple(others))


@dataclass
class DataUnits:
    """Implied dimensions the diff groups and filters by: the band of a visit,
    exposure or physical filter (read once; a survey has thousands, not millions)."""

    band_of: dict = field(default_factory=dict)     # (dimension, value) -> band

    @classmethod
    def load(cls, store) -> "DataUnits":
        return cls({(d, str(v)): b for d, v, b in queries.unit_bands(store)})

    def full(self, data_id: dict) -> dict:
        """The data ID with its band, if a visit, exposure or physical filter implies one."""
        if "band" in data_id:
            return data_id
        for dim in ("visit", "exposure", "physical_filter"):
            band = self.band_of.get((dim, data_id.get(dim)))
            if band:
                return {**data_id, "band": band}
        return data_id


@dataclass(frozen=True)
class DiffFilter:
    """What a diff reports: dataset types, tracts, bands and ``dim=value`` pairs.
    A dataset passes when it has every filtered dimension (directly or, for the
    band, implied by its visit) with an allowed value.  What a release holds excludes
    deleted datasets (tombstones, docs/retention.md) unless ``include_deleted``: a dataset
    deleted since release A is "removed" in B."""

    types: tuple[str, ...] = ()
    tracts: tuple[str, ...] = ()
    bands: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    include_deleted: bool = False

    @classmethod
    def make(cls, types=(), tracts=(), bands=(), where: str | None = None,
             include_deleted: bool = False) -> "DiffFilter":
        pairs = ()
        if where:
            sel = parse_selector(where, field="where")
            if not sel.pairs:
                raise ReleaseError(f"{where!r}: expected dim=value[,dim=value...] (or dim = "
                                   "value AND ...)", field="where")
            pairs = sel.pairs
        return cls(tuple(types or ()), tuple(str(t) for t in tracts or ()),
                   tuple(bands or ()), tuple(pairs), bool(include_deleted))

    def __bool__(self) -> bool:
        return bool(self.types or self.tracts or self.bands or self.pairs)

    def check_known(self, store) -> None:
        """Raise :class:`UnknownName` for a dataset type, band or ``where`` dimension the
        repository does not know (it would filter every dataset out)."""
        check_names(store, "dataset type", self.types, "types")
        check_names(store, "band", self.bands, "bands")
        check_names(store, "dimension", [dimension for dimension, _ in self.pairs], "where")

    def as_dict(self) -> dict:
        return {"types": list(self.types), "tracts": list(self.tracts), "bands": list(self.bands),
                "where": ",".join(f"{k}={v}" for k, v in self.pairs),
                "include_deleted": self.include_deleted}

    def passes(self, dataset_type: str, data_id: dict) -> bool:
        if self.types and dataset_type not in self.types:
            return False
        if self.tracts and data_id.get("tract") not in self.tracts:
            return False
        if self.bands and data_id.get("band") not in self.bands:
            return False
        return all(data_id.get(k) == v for k, v in self.pairs)

    def passes_units(self, units: dict[str, set[str]]) -> bool:
        """Whether a job that measured ``units`` (dimension -> values) is about what the
        filter keeps: it is left out only when it measured a filtered dimension (band,
        tract, a ``where`` dimension) and none of the allowed values; a job that names
        none measured the whole release and is kept.  Dataset types do not apply."""
        checks = [("band", self.bands), ("tract", self.tracts)]
        checks += [(k, (v,)) for k, v in self.pairs]
        return all(not units.get(dim) or units[dim] & set(allowed)
                   for dim, allowed in checks if allowed)

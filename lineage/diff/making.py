"""How datasets were made, read from the store for the diff.

* the members of a release of one dataset type: its RUNs' datasets, then its
  TAGGED/CALIBRATION members;
* :class:`Making`: how every dataset of one type in one release was made (inputs,
  software, config, flags), in a few whole-type queries;
* :func:`made`: the same for a few datasets by key (one product's lineage).
"""

from __future__ import annotations

import json
from typing import Collection, NamedTuple

from lineage.diff import queries
from lineage.diff.releases import Release
from lineage.flags.queries import active_contamination

#: Datasets per query of :func:`made` (by key).
DETAIL_CHUNK = 10_000

def other_members(store, release: Release, props: list[str],
                  live_only: bool = False) -> dict[str, list]:
    """Datasets of the release's TAGGED and CALIBRATION members outside its RUNs (usually a
    few calibrations): dataset type -> [(key, data_id, *props)] in key order.  Read once,
    from the collections (by type, the planner would scan every dataset of the type).
    Not deleted ones when ``live_only``."""
    if not release.others:
        return {}
    out: dict[str, list] = {}
    for row in queries.other_members(store, list(release.others), list(release.runs), props,
                                     live_only):
        out.setdefault(row[0], []).append(tuple(row[1:]))
    return out


def members(store, release: Release, dataset_type: str, props: list[str],
            others: dict | None = None, live_only: bool = False):
    """(key, data_id, *props) of the release's datasets of one type: those of its RUNs in
    key order, read in one query, then those of its other members (``other_members``).

    One query per type, not pages in key order: the engine sorts the whole type for every
    page (0.75 s per 50,000-dataset page of a 143,000-dataset type at 10^6 datasets, against
    0.72 s for the whole type in one query; sorting it here takes 0.1 s), and the memory is
    bounded by the type anyway (:class:`Making` holds the type).  The read is plain
    (``Store.read_plain_typed``: the property values keep their types).  Deleted datasets
    (tombstones) are left out when ``live_only``."""
    rows = queries.run_members(store, dataset_type, list(release.runs), props, live_only)
    rows.sort(key=lambda row: row[0])   # key order: the same answer, page for page, every time
    yield from rows
    if others is None:
        others = other_members(store, release, props, live_only)
    yield from others.get(dataset_type, ())


def input_name(dataset_type: str, data_id: str) -> str:
    """How the diff names an input: ``"calexp detector=5,instrument=X,visit=12"``.  The
    same in both releases (a dataset's key is not: each release writes its own RUN), and
    sorting names sorts by type, then data ID (the space sorts before any name character)."""
    return f"{dataset_type} {data_id}"


def split_input(name: str) -> tuple[str, str]:
    """``(dataset_type, data_id)`` of an :func:`input_name`."""
    t, _, did = name.partition(" ")
    return t, did


class Made(NamedTuple):
    """How one dataset was made: its quantum, the quantum's software and config,
    its inputs (:func:`input_name` s; a dict of them -> key where the keys are needed)
    and the active flags on it.  (A named tuple: a million are made per diff.)"""

    key: str
    quantum: str | None = None
    task: str | None = None
    software: str | None = None
    config: str | None = None
    inputs: Collection = frozenset()
    flags: frozenset = frozenset()


def made(store, keys: list[str], with_flags: bool) -> dict[str, Made]:
    """How each of ``keys`` was made (a few datasets: one product and its lineage)."""
    out: dict[str, Made] = {}
    flags: dict[str, set] = {}
    for i in range(0, len(keys), DETAIL_CHUNK):
        chunk = keys[i:i + DETAIL_CHUNK]
        if with_flags:
            for mark in active_contamination(store, chunk):
                flags.setdefault(mark.dataset, set()).add(mark.flag)
        for k, q, task, sw, cf, ins in queries.making_of(store, chunk):
            inputs = {input_name(t, did): ik for ik, t, did in ins if ik is not None}
            out[k] = Made(k, q, task, sw, cf, inputs, frozenset(flags.get(k, ())))
    return out


_EMPTY = frozenset()


class Making:
    """How every dataset of one type in one release's RUNs was made, read in a few
    whole-type queries (a query per dataset would cost ten times more).  When one task,
    software version and config made them all (the usual case in a RUN), that is
    stored once; else per dataset.  The big reads are plain (``Store.read_plain``):
    keys, names and data IDs only."""

    def __init__(self, store, release: Release | None, dataset_type: str,
                 with_flags: bool) -> None:
        self.uniform, self.each = None, {}
        self.inputs: dict[str, set] = {}
        self.flags: dict[str, set] = {}
        if release is None:
            return
        runs = list(release.runs)
        settings = queries.settings_of_type(store, dataset_type, runs)
        if settings:
            total = queries.count_of_type(store, dataset_type, runs)
            if len(settings) == 1 and settings[0][3] == total:
                self.uniform = (None,) + tuple(settings[0][:3])
            else:
                self.each = {k: (q, task, sw, cf) for k, q, task, sw, cf
                             in queries.producers_of_type(store, dataset_type, runs)}
        if settings or self.each:
            inputs = self.inputs
            for k, name in queries.inputs_of_type(store, dataset_type, runs):
                found = inputs.get(k)
                if found is None:
                    inputs[k] = found = set()
                found.add(name)
        if with_flags:
            for k, f in queries.active_flags_of_type(store, dataset_type, runs):
                self.flags.setdefault(k, set()).add(f)

    @classmethod
    def nothing(cls) -> "Making":
        """The making of datasets no quantum made (raws, calibrations)."""
        return cls(None, None, "", False)

    _NONE = (None, None, None, None)

    def setting(self, key: str) -> tuple:
        """``(quantum, task, software, config)`` of one dataset (the quantum only where
        the datasets were not all made alike)."""
        if self.uniform is not None:
            return self.uniform
        return self.each.get(key, self._NONE)

    def of(self, key: str) -> Made:
        flags = frozenset(self.flags[key]) if key in self.flags else _EMPTY
        q, task, sw, cf = self.setting(key)
        return Made(key, q, task, sw, cf, self.inputs.get(key, _EMPTY), flags)


def _packages(text) -> dict:
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def software_and_configs(store) -> tuple[dict, dict]:
    """Every software version's packages and every config's values (a few hundred at most)."""
    software = {k: _packages(p) for k, p in queries.software_packages(store)}
    configs = {k: _packages(v) for k, v in queries.config_values(store)}
    return software, configs

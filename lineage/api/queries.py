"""The queries of the API's own top-level fields: keyset pages of nodes and their filters.

A page is the nodes of one label after a key, in key order; its filter is a
:class:`NodeFilter` made here from the values the client gave, so no Cypher is
written outside this module.  The ``key > $after`` predicate is the engine's
(:meth:`lineage.store.dialect.Dialect.key_after`): indexed where the engine answers
that correctly.
"""

from __future__ import annotations

from typing import NamedTuple


class NodeFilter(NamedTuple):
    """Conditions on a page's node ``n`` (all must hold) and their parameters."""
    conditions: list
    params: dict


NO_FILTER = NodeFilter([], {})


class KeyedNode(NamedTuple):
    """A node: its key and stored properties."""
    key: str
    props: dict


def _where(conditions: list) -> str:
    return ("WHERE " + " AND ".join(conditions) + " ") if conditions else ""


def keyset_page(store, label: str, node_filter: NodeFilter, first: int,
                after: str | None) -> list[KeyedNode]:
    """Up to ``first + 1`` nodes of ``label`` passing ``node_filter`` whose key sorts after
    ``after`` (None: from the start), in key order (the extra one says a page follows)."""
    conditions, params = list(node_filter.conditions), dict(node_filter.params)
    if after is not None:
        conditions.append(store.dialect.key_after("n", "after"))
        params["after"] = after
    return [KeyedNode(*r) for r in store.read(
        f"MATCH (n:{label}) {_where(conditions)}RETURN n.key, properties(n) "
        f"ORDER BY n.key LIMIT {int(first) + 1}", params)]


def node_count(store, label: str, node_filter: NodeFilter) -> int:
    """Nodes of ``label`` passing ``node_filter``."""
    return int(store.read(f"MATCH (n:{label}) {_where(node_filter.conditions)}RETURN count(n)",
                          node_filter.params)[0][0])


def dataset_filter(selected: list[str] | None = None, types: list[str] | None = None,
                   run: str | None = None, runs: list[str] | None = None,
                   tagged: list[str] | None = None) -> NodeFilter:
    """Datasets among the keys ``selected``, of ``types``, of ``run``, and (when ``runs`` is
    given) of the RUN collections ``runs`` or among the keys ``tagged``; None: any."""
    conditions, params = [], {}
    if selected is not None:
        conditions.append("n.key IN $selected")
        params["selected"] = selected
    if types is not None:
        conditions.append("n.dataset_type IN $types")
        params["types"] = types
    if run is not None:
        conditions.append("n.run = $run")
        params["run"] = run
    if runs is not None:
        conditions.append("(n.run IN $runs OR n.key IN $tagged)")
        params.update(runs=runs, tagged=tagged or [])
    return NodeFilter(conditions, params)


def tagged_datasets(store, collections: list[str]) -> list[str]:
    """Keys of the datasets the (TAGGED, CALIBRATION) ``collections`` contain."""
    return [r[0] for r in store.read(
        "MATCH (c:Collection)-[:CONTAINS]->(d:Dataset) WHERE c.name IN $names "
        "RETURN DISTINCT d.key", {"names": collections})]


#: Visit filter fields that bound a property: field -> (property, operator).
VISIT_BOUNDS = {
    "mjd_from": ("mjd_begin", ">="), "mjd_to": ("mjd_begin", "<="),
    "seeing_min": ("seeing", ">="), "seeing_max": ("seeing", "<="),
    "airmass_min": ("airmass", ">="), "airmass_max": ("airmass", "<="),
}


def visit_filter(bands: list[str] | None = None, physical_filter: str | None = None,
                 day_obs: int | None = None, time_from: str | None = None,
                 time_to: str | None = None, bounds: dict | None = None,
                 chosen: list[str] | None = None) -> NodeFilter:
    """Visits in ``bands``, with ``physical_filter``, of ``day_obs``, beginning between
    ``time_from`` and ``time_to`` (TAI, as stored), within ``bounds`` (a
    :data:`VISIT_BOUNDS` field -> its value) and among the keys ``chosen``; None: any."""
    conditions, params = ["n.dimension = 'visit'"], {}
    if bands:
        conditions.append("n.band IN $bands")
        params["bands"] = bands
    if physical_filter:
        conditions.append("n.physical_filter = $pf")
        params["pf"] = physical_filter
    if day_obs is not None:
        conditions.append("n.day_obs = $day_obs")
        params["day_obs"] = day_obs
    for name, op, value in (("time_from", ">=", time_from), ("time_to", "<=", time_to)):
        if value:
            conditions.append(f"n.begin {op} ${name}")
            params[name] = value
    for name, (prop, op) in VISIT_BOUNDS.items():
        if (bounds or {}).get(name) is not None:
            conditions.append(f"n.{prop} {op} ${name}")
            params[name] = bounds[name]
    if chosen is not None:
        conditions.append("n.key IN $chosen")
        params["chosen"] = chosen
    return NodeFilter(conditions, params)


def dataset_type_names(store) -> list[str]:
    return [r[0] for r in store.read("MATCH (t:DatasetType) RETURN t.name")]


def data_units_with_value(store, dimension: str, value: str) -> list[KeyedNode]:
    """The data units of ``dimension`` with ``value``, in key order."""
    return [KeyedNode(*r) for r in store.read(
        "MATCH (u:DataUnit) WHERE u.dimension = $d AND u.value = $v "
        "RETURN u.key, properties(u) ORDER BY u.key", {"d": dimension, "v": value})]

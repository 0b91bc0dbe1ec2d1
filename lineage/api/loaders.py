"""DataLoaders: every node and relation lookup of one request is batched.

All the ``dataset.producedBy`` fields of a page ask the loader, and the
loader asks the store once for all of them (one query per relation and
nesting level, whatever the number of results).  Nodes come back as dicts
of their properties with their ``key``; relations as the neighbours' keys
(and the edge's properties where they mean something), sorted, so pages
are cut in Python and only the page's nodes are looked up.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass

from aiodataloader import DataLoader

from ..model import ModelError, kind_of_key

#: Marks a node dict that holds every stored property (not just what a traversal returned).
FULL = "__full__"


@dataclass(frozen=True)
class Relation:
    """Neighbours of nodes with label ``source`` through ``pattern`` (``-[e:REL]->`` or
    ``<-[e:REL]-``), of label ``target`` (None: any); ``edge`` names the edge properties
    kept, ``order`` the one the neighbours are sorted by (default: their key)."""

    source: str
    pattern: str
    target: str | None = None
    edge: tuple[str, ...] = ()
    order: str | None = None


def node_props(key: str, props) -> dict:
    out = {k: v for k, v in dict(props).items() if not k.startswith("_")}
    out["key"] = key
    out[FULL] = True
    return out


class Loaders:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.node = DataLoader(self._load_nodes)
        self._relations: dict[Relation, DataLoader] = {}

    def relation(self, rel: Relation) -> DataLoader:
        loader = self._relations.get(rel)
        if loader is None:
            loader = DataLoader(functools.partial(self._load_relation, rel))
            self._relations[rel] = loader
        return loader

    async def _load_nodes(self, keys: list[str]) -> list[dict | None]:
        return await self.ctx.run(read_nodes, self.ctx.store, keys)

    async def _load_relation(self, rel: Relation, keys: list[str]) -> list[list]:
        found = await self.ctx.run(read_relation, self.ctx.store, rel, keys)
        return [found.get(k, []) for k in keys]


def read_nodes(store, keys) -> list[dict | None]:
    """Nodes by key, any kinds mixed: one query per kind present."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for k in set(keys):
        try:
            by_label[kind_of_key(k).value].append(k)
        except ModelError:
            continue
    found = {}
    for label, ks in sorted(by_label.items()):
        for key, props in store.read(f"MATCH (n:{label}) WHERE n.key IN $keys "
                                     "RETURN n.key, properties(n)", {"keys": sorted(ks)}):
            found[key] = node_props(key, props)
    return [found.get(k) for k in keys]


def read_relation(store, rel: Relation, keys) -> dict[str, list[tuple[str, dict]]]:
    """Parent key -> sorted [(neighbour key, edge properties)]."""
    target = f":{rel.target}" if rel.target else ""
    edge = ", ".join(f"e.{p}" for p in rel.edge)
    query = (f"MATCH (a:{rel.source}) WHERE a.key IN $keys "
             f"MATCH (a){rel.pattern}(b{target}) RETURN a.key, b.key" + (f", {edge}" if edge else ""))
    out: dict[str, list] = defaultdict(list)
    for row in store.read(query, {"keys": sorted(set(keys))}):
        out[row[0]].append((row[1], dict(zip(rel.edge, row[2:]))))
    for k, items in out.items():
        if rel.order:
            items.sort(key=lambda item: (item[1].get(rel.order) is None, item[1].get(rel.order),
                                         item[0]))
        else:
            items.sort(key=lambda item: item[0])
    return out

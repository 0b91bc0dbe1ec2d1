"""DataLoaders: every node and relation lookup of one request is batched.

All the ``dataset.producedBy`` fields of a page ask the loader, and the
loader asks the store once for all of them (one query per relation and
nesting level, whatever the number of results).  Every load waits for the
loader's next batch, even one already answered (served from the request's
cache, not the store): so no resolver runs ahead of its siblings and makes
the next level's batch leave early, short of their keys.  Nodes come back as dicts
of their properties with their ``key``; relations as the neighbours' keys
(and the edge's properties where they mean something), sorted, so pages
are cut in Python and only the page's nodes are looked up.
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from dataclasses import dataclass

from lineage.core.model import ModelError, kind_of_key

#: Marks a node dict that holds every stored property (not just what a traversal returned).
FULL = "__full__"


@dataclass(frozen=True)
class Relation:
    """Neighbours of nodes with label ``source`` through ``rel_type`` edges (leaving them if
    ``outgoing``, else arriving), of label ``target`` (None: any); ``edge`` names the edge
    properties kept, ``order`` the one the neighbours are sorted by (default: their key)."""

    source: str
    rel_type: str
    outgoing: bool = True
    target: str | None = None
    edge: tuple[str, ...] = ()
    order: str | None = None


def node_props(key: str, props) -> dict:
    out = {k: v for k, v in dict(props).items() if not k.startswith("_")}
    out["key"] = key
    out[FULL] = True
    return out


class DataLoader:
    """Batches the keys asked for while the resolvers that are ready run, then loads the
    new ones with one call of ``fetch(keys) -> values``; answers are cached per request."""

    #: Event-loop turns a batch waits for more keys before it leaves.
    TURNS = 3

    def __init__(self, fetch) -> None:
        self.fetch = fetch
        self.cache: dict = {}              # key -> future of its value
        self.pending: list[tuple] = []     # (key, future handed out)

    def load(self, key):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self.pending.append((key, fut))
        if len(self.pending) == 1:
            loop.create_task(self._dispatch())
        return fut

    def load_many(self, keys):
        return asyncio.gather(*[self.load(k) for k in keys])

    async def _dispatch(self) -> None:
        for _ in range(self.TURNS):
            await asyncio.sleep(0)
        pending, self.pending = self.pending, []
        loop = asyncio.get_running_loop()
        new = list(dict.fromkeys(k for k, _ in pending if k not in self.cache))
        for k in new:
            self.cache[k] = loop.create_future()
        if new:
            try:
                values = await self.fetch(new)
            except Exception as exc:  # every key of the batch fails the same way
                for k in new:
                    self.cache.pop(k).set_exception(exc)
                    for key, fut in pending:
                        if key == k and not fut.done():
                            fut.set_exception(exc)
                pending = [(k, f) for k, f in pending if not f.done()]
            else:
                for k, v in zip(new, values):
                    self.cache[k].set_result(v)
        for key, fut in pending:
            source = self.cache[key]
            if not source.done():
                await asyncio.wait([source])
            if fut.done():
                continue
            if source.exception() is not None:
                fut.set_exception(source.exception())
            else:
                fut.set_result(source.result())


class NodeLoader:
    """Nodes by key: one batch (one query) per node kind, so kinds never share a batch."""

    def __init__(self, loaders: "Loaders") -> None:
        self.loaders = loaders
        self.by_kind: dict[str, DataLoader] = {}

    def _loader(self, key: str) -> DataLoader | None:
        try:
            label = kind_of_key(key).value
        except ModelError:
            return None
        if label not in self.by_kind:
            ctx = self.loaders.ctx

            async def fetch(keys):
                return await ctx.run(read_nodes, ctx.store, keys)
            self.by_kind[label] = DataLoader(fetch)
        return self.by_kind[label]

    def load(self, key: str):
        loader = self._loader(key)
        if loader is None:
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(None)
            return fut
        return loader.load(key)

    def load_many(self, keys):
        return asyncio.gather(*[self.load(k) for k in keys])


class Loaders:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.node = NodeLoader(self)
        self._relations: dict[Relation, DataLoader] = {}
        self._batched: dict[object, DataLoader] = {}

    def relation(self, rel: Relation) -> DataLoader:
        loader = self._relations.get(rel)
        if loader is None:
            loader = DataLoader(functools.partial(self._load_relation, rel))
            self._relations[rel] = loader
        return loader

    def batched(self, name, fetch) -> DataLoader:
        """The request's loader called ``name`` (any hashable: a field and its arguments),
        made with ``fetch(keys) -> values`` (a coroutine) the first time it is asked for:
        every row's lookup of one field in one request goes to the store together."""
        loader = self._batched.get(name)
        if loader is None:
            loader = self._batched[name] = DataLoader(fetch)
        return loader

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
        for key, props in store.nodes(label, sorted(ks)).items():
            found[key] = node_props(key, props)
    return [found.get(k) for k in keys]


def read_relation(store, rel: Relation, keys) -> dict[str, list[tuple[str, dict]]]:
    """Parent key -> sorted [(neighbour key, edge properties)]."""
    out: dict[str, list] = defaultdict(list)
    for row in store.related(rel.source, rel.rel_type, rel.outgoing, rel.target, rel.edge, keys):
        out[row[0]].append((row[1], dict(zip(rel.edge, row[2:]))))
    for k, items in out.items():
        if rel.order:
            items.sort(key=lambda item: (item[1].get(rel.order) is None, item[1].get(rel.order),
                                         item[0]))
        else:
            items.sort(key=lambda item: item[0])
    return out

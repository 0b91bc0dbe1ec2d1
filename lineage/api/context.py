"""One request's view of the server: its store (counting round trips), loaders, caller."""

from __future__ import annotations

import asyncio
import functools
import threading
from dataclasses import dataclass, field

from lineage.store.base import Store
from lineage.api.auth import AuditLog
from lineage.api.loaders import Loaders


class CountingStore:
    """A store that counts its round trips (``reads``) and passes everything else on.

    The lineage functions take it as they take any store; the count comes back
    in each answer's ``extensions.storeReads``.
    """

    def __init__(self, store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.reads = 0

    def read(self, query: str, params: dict | None = None) -> list[tuple]:
        with self._lock:
            self.reads += 1
        return self._store.read(query, params)

    def read_plain(self, query: str, params: dict | None = None) -> list:
        with self._lock:
            self.reads += 1
        return self._store.read_plain(query, params)

    # shared behaviour written over ``read``: borrowed so its reads are counted too
    lookup = Store.lookup
    existing_keys = Store.existing_keys
    _quantum_io = Store._quantum_io
    prepare = Store.prepare
    commit = Store.commit
    write = Store.write

    def __getattr__(self, name):
        return getattr(self._store, name)


@dataclass
class Principal:
    """Who calls: a token's id, name and role (``anonymous`` without a token)."""

    name: str = "anonymous"
    role: str | None = None
    token_id: str | None = None
    client: str = ""


@dataclass
class RequestContext:
    store: CountingStore
    settings: object
    pool: object
    principal: Principal = field(default_factory=Principal)
    tokens: object = None
    audit: object = None
    cache: dict = field(default_factory=dict)  # shared by the server's requests
    loaders: object = None
    #: When the request must be answered (a ``time.monotonic()`` value), set by
    #: :func:`lineage.api.execute.run` before anything runs; None: no deadline.  A query
    #: past it is stopped; a mutation is never stopped once it writes, so its resolver
    #: must not start a write past it.
    deadline: float | None = None

    def __post_init__(self) -> None:
        if self.audit is None:
            self.audit = AuditLog(None)
        self.loaders = Loaders(self)

    async def run(self, fn, *args, **kwargs):
        """Run a blocking library call in the server's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))

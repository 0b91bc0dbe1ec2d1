"""The settings of one API server: limits and who may read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from lineage.core.errors import UserError

#: How reads are allowed: no token from loopback clients (default), never a token, always one.
READ_ACCESS = ("loopback", "open", "token")


@dataclass
class ApiSettings:
    #: Most items one page of a connection may hold (``first``).
    max_page_size: int = 500
    #: Items in a page when ``first`` is not given.
    default_page_size: int = 50
    #: Deepest nesting of fields a query may have.
    max_depth: int = 12
    #: Highest estimated cost a query may have (:mod:`lineage.api.limits`).
    max_cost: int = 10_000
    #: Seconds one request may take; the engine also stops reads after this.
    timeout: float = 10.0
    #: ``loopback``: reads need no token from 127.0.0.0/8 or ::1; ``open``; ``token``.
    read_access: str = "loopback"
    #: Where API tokens and the audit log live (the repository directory); None: no mutations.
    state_dir: Path | None = None
    #: Where the repository's files are (lightcurve catalogs); None: ``state_dir/datastore``.
    datastore: Path | None = None
    #: Where predicted quantum graphs wait for ``preflight(graph:)`` (a client names a file
    #: in it, never a path); None: no pre-flight through the API.
    preflight_dir: Path | None = None
    #: Threads that run store reads.
    threads: int = 8
    #: Threads that run requests (parse, validate, measure, execute) off the event loop.
    request_threads: int = 8

    # --- the size of a request (lineage.api.limits) ---
    #: Bytes of a request body (POST /graphql, POST /queries/NAME).
    max_body_bytes: int = 1_000_000
    #: Characters of a query document.
    max_query_chars: int = 100_000
    #: Lexical tokens of a query document (comments count too).
    max_tokens: int = 5_000
    #: Fields a query asks for once its fragments are expanded (each spread counted).
    max_fields: int = 2_000
    #: Aliased fields in a query document.
    max_aliases: int = 200
    #: Fields of one response name in one selection set (fragments included).
    max_same_name: int = 30
    #: Fragment definitions in a query document (validation compares their spreads in pairs).
    max_fragments: int = 50
    #: Characters of the variables (strings, names and items counted).
    max_variables_chars: int = 100_000
    #: Nesting of lists and objects in the variables.
    max_variables_depth: int = 16
    #: Characters of operationName.
    max_operation_name: int = 128
    #: Bytes kept by the cache of parsed documents (an estimate of their size in memory).
    cache_bytes: int = 64_000_000

    # --- who may call (DNS rebinding) ---
    #: The address the server listens on (its Host name is always accepted).
    bind_host: str | None = None
    #: More names the server may be called by in ``Host``/``Origin`` (``*``: any).
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.read_access not in READ_ACCESS:
            raise UserError(f"read access {self.read_access!r} is not one of "
                             f"{', '.join(READ_ACCESS)}")
        if not 1 <= self.default_page_size <= self.max_page_size:
            raise UserError("default page size must be between 1 and the maximum page size")
        if self.timeout <= 0:
            raise UserError("must be positive", field="timeout")
        for name in ("threads", "request_threads", "max_body_bytes", "max_query_chars",
                     "max_tokens", "max_fields", "max_aliases", "max_same_name", "max_fragments",
                     "max_variables_chars", "max_variables_depth", "max_operation_name",
                     "cache_bytes"):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', ' ')} must be at least 1")
        hosts = self.allowed_hosts
        if isinstance(hosts, str):
            hosts = hosts.replace(",", " ").split()
        self.allowed_hosts = tuple(h.strip().lower() for h in hosts if h.strip())

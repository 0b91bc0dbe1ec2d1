"""The settings of one API server: limits and who may read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    #: Threads that run store reads.
    threads: int = 8

    def __post_init__(self) -> None:
        if self.read_access not in READ_ACCESS:
            raise ValueError(f"read access {self.read_access!r} is not one of "
                             f"{', '.join(READ_ACCESS)}")
        if not 1 <= self.default_page_size <= self.max_page_size:
            raise ValueError("default page size must be between 1 and the maximum page size")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")

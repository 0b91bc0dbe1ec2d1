"""API tokens and the audit log, kept in the repository directory.

A token is ``lin_<id>_<secret>``: the id names the record, the secret (32
random bytes) is shown once when the token is created and stored only as
SHA-256 over a per-token salt (a random secret of that length needs no slow
hash).  Records live in ``DIR/api-tokens.json``, rewritten atomically (a
temporary file renamed over it) under a lock, readable by the owner only.
A running server reads the file again when it changes, so
``lineage token revoke`` takes effect at the next request.

Roles: ``reader`` (queries), ``flagger`` (queries, ``flag``, ``unflag``),
``admin`` (everything).  Every mutation, allowed or refused, is appended to
``DIR/api-audit.jsonl``: when, who (token id and name, client address),
what (operation, arguments) and the outcome.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import AccessDenied, ApiError

TOKENS_FILE = "api-tokens.json"
AUDIT_FILE = "api-audit.jsonl"
ROLES = ("reader", "flagger", "admin")

#: What each action needs: any of these roles.
NEEDS = {
    "read": frozenset(ROLES),
    "flag": frozenset({"flagger", "admin"}),
    "admin": frozenset({"admin"}),
}

_PREFIX = "lin_"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


@dataclass
class TokenRecord:
    id: str
    name: str
    role: str
    salt: str
    sha256: str
    created_at: str
    revoked_at: str | None = None

    def public(self) -> dict:
        """What `lineage token list` shows: never the salt or the hash."""
        return {"id": self.id, "name": self.name, "role": self.role,
                "created_at": self.created_at, "revoked_at": self.revoked_at}


class TokenStore:
    """The tokens of one repository directory."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.dir = Path(directory)
        self.path = self.dir / TOKENS_FILE
        self._cache: tuple[float, int, dict[str, TokenRecord]] | None = None
        self._cache_lock = threading.Lock()

    # --- file ---------------------------------------------------------------------

    @contextmanager
    def _locked(self):
        if not self.dir.is_dir():
            raise ApiError(f"no repository directory {self.dir} to keep API tokens in")
        with open(self.dir / (TOKENS_FILE + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, TokenRecord]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ApiError(f"{self.path}: cannot read the API tokens ({exc})") from None
        return {r["id"]: TokenRecord(**r) for r in data.get("tokens", [])}

    def _write(self, records: dict[str, TokenRecord]) -> None:
        text = json.dumps({"tokens": [asdict(r) for r in records.values()]}, indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".api-tokens-", dir=self.dir)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def records(self) -> dict[str, TokenRecord]:
        """The records, read again only when the file changed."""
        try:
            st = self.path.stat()
            stamp = (st.st_mtime, st.st_size)
        except FileNotFoundError:
            return {}
        with self._cache_lock:
            if self._cache is None or self._cache[:2] != stamp:
                self._cache = (*stamp, self._read())
            return self._cache[2]

    # --- management -----------------------------------------------------------------

    def create(self, name: str, role: str) -> tuple[TokenRecord, str]:
        """A new token: its record and the token text (shown once, never stored)."""
        name = (name or "").strip()
        if not name:
            raise ApiError("--name must say whose token it is")
        if role not in ROLES:
            raise ApiError(f"--role {role!r}: must be one of {', '.join(ROLES)}")
        with self._locked():
            records = self._read()
            token_id = secrets.token_hex(4)
            while token_id in records:
                token_id = secrets.token_hex(4)
            secret = secrets.token_urlsafe(32)
            salt = secrets.token_hex(16)
            record = TokenRecord(token_id, name, role, salt, _digest(salt, secret), _now())
            records[token_id] = record
            self._write(records)
        return record, f"{_PREFIX}{token_id}_{secret}"

    def list(self) -> list[TokenRecord]:
        return sorted(self._read().values(), key=lambda r: (r.created_at, r.id))

    def revoke(self, token_id: str) -> TokenRecord:
        with self._locked():
            records = self._read()
            record = records.get((token_id or "").strip())
            if record is None:
                raise ApiError(f"no API token with id {token_id!r} (see `lineage token list`)")
            if record.revoked_at:
                raise ApiError(f"token {record.id} was already revoked at {record.revoked_at}")
            record.revoked_at = _now()
            self._write(records)
        return record

    # --- checking -------------------------------------------------------------------

    def verify(self, token: str) -> TokenRecord:
        """The record of a valid, unrevoked token; :class:`AccessDenied` otherwise."""
        token = (token or "").strip()
        parts = token[len(_PREFIX):].split("_", 1) if token.startswith(_PREFIX) else []
        record = self.records().get(parts[0]) if len(parts) == 2 else None
        if record is None or not hmac.compare_digest(record.sha256,
                                                     _digest(record.salt, parts[1])):
            raise AccessDenied("invalid API token")
        if record.revoked_at:
            raise AccessDenied(f"API token {record.id} was revoked at {record.revoked_at}")
        return record


def require(principal, action: str, what: str) -> None:
    """Refuse ``what`` unless the caller's role allows ``action``."""
    roles = NEEDS[action]
    if principal.role in roles:
        return
    need = " or ".join(sorted(roles))
    if principal.role is None:
        raise AccessDenied(f"{what} needs an API token with role {need} "
                           "(send it as `Authorization: Bearer <token>`)")
    raise AccessDenied(f"{what} needs role {need}; token {principal.token_id} "
                       f"({principal.name}) has role {principal.role}")


class AuditLog:
    """Append-only JSON lines: one per mutation, allowed or refused."""

    def __init__(self, directory: str | os.PathLike | None) -> None:
        self.path = Path(directory) / AUDIT_FILE if directory else None
        self._lock = threading.Lock()

    def append(self, record: dict) -> None:
        if self.path is None:
            return
        line = json.dumps({"at": _now(), **record}, sort_keys=True, default=str) + "\n"
        with self._lock, open(self.path, "a") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())

    def read(self) -> list[dict]:
        if self.path is None or not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

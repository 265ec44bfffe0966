"""fetch() against a real local HTTP server (no mocks of requests)."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from codecatalog.errors import FetchError
from codecatalog.fetch import Fetched, fetch, make_session


def _make_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("codes.txt", "99213\tOffice visit\n" * 200)
    return buf.getvalue()


PAYLOAD = _make_zip()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.hits[path] += 1
            hits = self.server.hits[path]
        if path in ("/release.zip", "/"):
            self._send(200, PAYLOAD)
        elif path == "/truncated":
            self._send(200, b"x" * 400, length=1000)
            self.wfile.flush()
            self.close_connection = True
        elif path == "/flaky":
            if hits <= 2:
                self._send(503, b"busy")
            else:
                self._send(200, PAYLOAD)
        elif path == "/always503":
            self._send(503, b"busy")
        else:
            self._send(404, b"not found")


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture
def download_dir(tmp_path: Path) -> Path:
    d = tmp_path / "downloads"
    d.mkdir()
    return d


def _fast_session(retries: int = 3) -> requests.Session:
    return make_session(retries=retries, backoff_factor=0)


def _tree(d: Path) -> list[Path]:
    return sorted(d.rglob("*"))


def test_download_release(server: _Server, download_dir: Path) -> None:
    url = f"{server.base}/release.zip"
    with _fast_session() as session:
        got = fetch(url, download_dir, session=session)
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    assert got == Fetched(download_dir / sha[:16] / "release.zip", url, sha)
    assert got.path.read_bytes() == PAYLOAD
    assert _tree(download_dir) == [got.path.parent, got.path]


def test_download_default_session_and_creates_dir(server: _Server, tmp_path: Path) -> None:
    download_dir = tmp_path / "new" / "downloads"
    got = fetch(f"{server.base}/release.zip", download_dir)
    assert got.path.read_bytes() == PAYLOAD
    assert got.path.parent.parent == download_dir


@pytest.mark.parametrize("suffix", ["/", "/?version=2026"])
def test_file_name_falls_back_to_release_zip(
    server: _Server, download_dir: Path, suffix: str
) -> None:
    with _fast_session() as session:
        got = fetch(server.base + suffix, download_dir, session=session)
    assert got.path.name == "release.zip"
    assert got.path.read_bytes() == PAYLOAD


def test_query_string_not_in_file_name(server: _Server, download_dir: Path) -> None:
    with _fast_session() as session:
        got = fetch(f"{server.base}/release.zip?token=abc", download_dir, session=session)
    assert got.path.name == "release.zip"


def test_missing_is_404(server: _Server, download_dir: Path) -> None:
    url = f"{server.base}/missing"
    with _fast_session() as session, pytest.raises(FetchError) as exc:
        fetch(url, download_dir, session=session)
    assert exc.value.source == url
    assert url in str(exc.value)
    assert "404" in str(exc.value)
    assert server.hits["/missing"] == 1
    assert _tree(download_dir) == []


def test_truncated_body_is_an_error(server: _Server, download_dir: Path) -> None:
    url = f"{server.base}/truncated"
    with _fast_session() as session, pytest.raises(FetchError) as exc:
        fetch(url, download_dir, session=session)
    assert url in str(exc.value)
    assert "400" in str(exc.value)  # bytes actually received
    assert server.hits["/truncated"] == 1  # the body had started: not retried
    assert _tree(download_dir) == []


def test_flaky_server_is_retried(server: _Server, download_dir: Path) -> None:
    with _fast_session(retries=3) as session:
        got = fetch(f"{server.base}/flaky", download_dir, session=session)
    assert got.path.read_bytes() == PAYLOAD
    assert got.path.name == "flaky"
    assert server.hits["/flaky"] == 3


def test_always_503_fails_after_retries(server: _Server, download_dir: Path) -> None:
    retries = 2
    url = f"{server.base}/always503"
    with _fast_session(retries=retries) as session, pytest.raises(FetchError) as exc:
        fetch(url, download_dir, session=session)
    assert url in str(exc.value)
    assert "503" in str(exc.value)
    assert server.hits["/always503"] == retries + 1
    assert _tree(download_dir) == []


def test_connection_refused_is_fetch_error(download_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port any more.
    url = f"http://127.0.0.1:{port}/release.zip"
    with _fast_session(retries=1) as session, pytest.raises(FetchError) as exc:
        fetch(url, download_dir, session=session, timeout=(2.0, 2.0))
    assert exc.value.source == url
    assert _tree(download_dir) == []


def test_local_file(tmp_path: Path) -> None:
    f = tmp_path / "release.zip"
    f.write_bytes(PAYLOAD)
    got = fetch(str(f), tmp_path / "unused")
    assert got == Fetched(f, str(f), hashlib.sha256(PAYLOAD).hexdigest())
    assert not (tmp_path / "unused").exists()


def test_local_directory(tmp_path: Path) -> None:
    got = fetch(str(tmp_path), tmp_path / "unused")
    assert got == Fetched(tmp_path, str(tmp_path), None)


def test_local_missing(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.zip")
    with pytest.raises(FetchError) as exc:
        fetch(missing, tmp_path)
    assert exc.value.source == missing
    assert "no such file" in str(exc.value)

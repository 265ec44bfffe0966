"""fetch() against a real local HTTP server (no mocks of requests)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import pickle
import socket
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from local_http import LocalServer, Response, Route, serving

from codecatalog.errors import FetchError
from codecatalog.fetch import DEFAULT_TIMEOUT, Fetched, fetch, make_session


def _make_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("codes.txt", "99213\tOffice visit\n" * 200)
    return buf.getvalue()


PAYLOAD = _make_zip()
HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Log in</body></html>\n"


def _routes() -> dict[str, Route]:
    return {
        "/release.zip": lambda hits: Response(200, PAYLOAD),
        "/": lambda hits: Response(200, PAYLOAD),
        "/truncated": lambda hits: Response(200, b"x" * 400, length=1000),
        "/flaky": lambda hits: Response(503, b"busy") if hits <= 2 else Response(200, PAYLOAD),
        "/always503": lambda hits: Response(503, b"busy"),
        "/always429": lambda hits: Response(429, b"slow down"),
        "/forbidden": lambda hits: Response(403, b"no"),
        "/gone": lambda hits: Response(410, b"gone"),
        # Headers and the first bytes, then silence (the connection stays open).
        "/stall-body": lambda hits: Response(200, PAYLOAD[:100], length=len(PAYLOAD), stall=30),
        # Accepts the request, then sends nothing at all.
        "/stall-headers": lambda hits: Response(200, PAYLOAD, delay=30),
        "/login": lambda hits: Response(200, HTML, content_type="text/html; charset=utf-8"),
        "/empty": lambda hits: Response(200, b""),
    }


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with serving(_routes()) as srv:
        yield srv


@pytest.fixture
def download_dir(tmp_path: Path) -> Path:
    d = tmp_path / "downloads"
    d.mkdir()
    return d


def _fast_session(retries: int = 3) -> requests.Session:
    return make_session(retries=retries, backoff_factor=0)


def _tree(d: Path) -> list[Path]:
    return sorted(d.rglob("*"))


def test_download_release(server: LocalServer, download_dir: Path) -> None:
    url = f"{server.url()}/release.zip"
    with _fast_session() as session:
        got = fetch(url, download_dir, session=session)
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    assert got == Fetched(download_dir / sha[:16] / "release.zip", url, sha)
    assert got.path.read_bytes() == PAYLOAD
    assert _tree(download_dir) == [got.path.parent, got.path]


def test_download_default_session_and_creates_dir(server: LocalServer, tmp_path: Path) -> None:
    download_dir = tmp_path / "new" / "downloads"
    got = fetch(f"{server.url()}/release.zip", download_dir)
    assert got.path.read_bytes() == PAYLOAD
    assert got.path.parent.parent == download_dir


@pytest.mark.parametrize("suffix", ["/", "/?version=2026"])
def test_file_name_falls_back_to_release_zip(
    server: LocalServer, download_dir: Path, suffix: str
) -> None:
    with _fast_session() as session:
        got = fetch(server.url() + suffix, download_dir, session=session)
    assert got.path.name == "release.zip"
    assert got.path.read_bytes() == PAYLOAD


def test_query_string_not_in_file_name(server: LocalServer, download_dir: Path) -> None:
    with _fast_session() as session:
        got = fetch(f"{server.url()}/release.zip?token=abc", download_dir, session=session)
    assert got.path.name == "release.zip"


def test_missing_is_404(server: LocalServer, download_dir: Path) -> None:
    url = f"{server.url()}/missing"
    started = time.monotonic()
    # The default session, as in production: a 404 is final.
    with pytest.raises(FetchError) as exc:
        fetch(url, download_dir)
    elapsed = time.monotonic() - started
    assert (exc.value.source, str(exc.value), exc.value.transient) == (
        url,
        f"{url}: HTTP 404 Not Found",
        False,
    )
    assert server.hits["/missing"] == 1
    assert elapsed < 1.0  # no retry sleep (one request: hits == 1)
    assert _tree(download_dir) == []


@pytest.mark.parametrize(
    ("path", "status"), [("/forbidden", "403 Forbidden"), ("/gone", "410 Gone")]
)
def test_client_errors_are_not_transient(
    server: LocalServer, download_dir: Path, path: str, status: str
) -> None:
    url = server.url(path)
    with pytest.raises(FetchError) as exc:
        fetch(url, download_dir)
    assert (str(exc.value), exc.value.transient) == (f"{url}: HTTP {status}", False)
    assert server.hits[path] == 1
    assert _tree(download_dir) == []


def test_truncated_body_is_an_error(server: LocalServer, download_dir: Path) -> None:
    url = f"{server.url()}/truncated"
    with _fast_session() as session, pytest.raises(FetchError) as exc:
        fetch(url, download_dir, session=session)
    assert str(exc.value).startswith(f"{url}: download failed: ChunkedEncodingError: ")
    assert "IncompleteRead(400 bytes read, 600 more expected)" in str(exc.value)
    assert exc.value.transient is True  # the connection dropped: trying again can help
    assert server.hits["/truncated"] == 1  # the body had started: not retried
    assert _tree(download_dir) == []


def test_flaky_server_is_retried(server: LocalServer, download_dir: Path) -> None:
    with _fast_session(retries=3) as session:
        got = fetch(f"{server.url()}/flaky", download_dir, session=session)
    assert got.path.read_bytes() == PAYLOAD
    assert got.path.name == "flaky"
    assert server.hits["/flaky"] == 3


def test_always_503_fails_after_retries(server: LocalServer, download_dir: Path) -> None:
    retries = 2
    url = f"{server.url()}/always503"
    with _fast_session(retries=retries) as session, pytest.raises(FetchError) as exc:
        fetch(url, download_dir, session=session)
    assert (str(exc.value), exc.value.transient) == (f"{url}: HTTP 503 Service Unavailable", True)
    assert server.hits["/always503"] == retries + 1
    assert _tree(download_dir) == []


def test_429_is_transient(server: LocalServer, download_dir: Path) -> None:
    url = server.url("/always429")
    with _fast_session(retries=0) as session, pytest.raises(FetchError) as exc:
        fetch(url, download_dir, session=session)
    assert (str(exc.value), exc.value.transient) == (f"{url}: HTTP 429 Too Many Requests", True)
    assert server.hits["/always429"] == 1


def test_connection_refused_is_fetch_error(download_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port any more.
    url = f"http://127.0.0.1:{port}/release.zip"
    with _fast_session(retries=1) as session, pytest.raises(FetchError) as exc:
        fetch(url, download_dir, session=session, timeout=(2.0, 2.0))
    assert exc.value.source == url
    assert str(exc.value).startswith(f"{url}: download failed: ConnectionError: ")
    assert "Connection refused" in str(exc.value)
    assert exc.value.transient is True
    assert _tree(download_dir) == []


# ------------------------------------------------------------------------------- stalled server
def test_default_timeouts() -> None:
    assert DEFAULT_TIMEOUT == (10.0, 30.0)


@pytest.mark.skipif(sys.platform != "linux", reason="Linux drops SYNs on a full backlog")
def test_connect_timeout(download_dir: Path) -> None:
    # A listening socket that never accepts, its backlog filled: further connects hang.
    with socket.socket() as listener, contextlib.ExitStack() as stack:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        url = f"http://127.0.0.1:{port}/release.zip"
        started = time.monotonic()
        with _fast_session(retries=0) as session, pytest.raises(FetchError) as exc:
            fetch(url, download_dir, session=session, timeout=(0.3, 5.0))
        elapsed = time.monotonic() - started
    assert (str(exc.value), exc.value.transient) == (
        f"{url}: timed out: no connection within 0.3 s (connect timeout)",
        True,
    )
    assert elapsed < 3
    assert _tree(download_dir) == []


def test_stall_in_body_times_out(server: LocalServer, download_dir: Path) -> None:
    url = server.url("/stall-body")
    started = time.monotonic()
    with _fast_session() as session, pytest.raises(FetchError) as exc:
        fetch(url, download_dir, session=session, timeout=(2.0, 0.5))
    elapsed = time.monotonic() - started
    assert (str(exc.value), exc.value.transient) == (
        f"{url}: timed out: the server sent nothing for 0.5 s (read timeout)",
        True,
    )
    assert 0.5 <= elapsed < 5  # the server would have stalled for 30 s
    assert server.hits["/stall-body"] == 1  # the body had started: not retried
    assert _tree(download_dir) == []


def test_stall_before_headers_is_retried_once(server: LocalServer, download_dir: Path) -> None:
    url = server.url("/stall-headers")
    started = time.monotonic()
    with _fast_session(retries=3) as session, pytest.raises(FetchError) as exc:
        fetch(url, download_dir, session=session, timeout=(2.0, 0.5))
    elapsed = time.monotonic() - started
    assert (str(exc.value), exc.value.transient) == (
        f"{url}: timed out: the server sent nothing for 0.5 s (read timeout)",
        True,
    )
    assert server.hits["/stall-headers"] == 2  # each read timeout costs a whole timeout
    assert 1.0 <= elapsed < 6
    assert _tree(download_dir) == []


# ---------------------------------------------------------------------- not what was asked for
@pytest.mark.parametrize(
    "body",
    [
        HTML,
        b"<html><body>Service notice</body></html>",
        b"\xef\xbb\xbf \r\n\t<!doctype HTML>" + b"<p>x</p>" * 100,
        b'<?xml version="1.0"?>\n<!-- portal -->\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML">',
        b"\n\n<HEAD><TITLE>Error</TITLE></HEAD>",
        "<!DOCTYPE html><html></html>".encode("utf-16"),
    ],
    ids=["doctype", "html", "bom-space-upper-long", "xml-comment-xhtml", "head", "utf16"],
)
def test_html_page_is_refused(download_dir: Path, body: bytes) -> None:
    routes = {"/release.zip": lambda hits: Response(200, body)}  # Content-Type octet-stream
    with serving(routes) as srv, _fast_session() as session, pytest.raises(FetchError) as exc:
        fetch(srv.url("/release.zip"), download_dir, session=session)
    url = srv.url("/release.zip")
    assert (str(exc.value), exc.value.transient) == (
        f"{url}: not a release: got an HTML page "
        f"(Content-Type: application/octet-stream; body begins {body[:40]!r})",
        False,
    )
    assert srv.hits["/release.zip"] == 1
    assert _tree(download_dir) == []


def test_text_html_content_type_is_refused(download_dir: Path) -> None:
    # Even with a body that would pass: the server says it is a web page.
    routes = {"/release.zip": lambda hits: Response(200, PAYLOAD, content_type="text/html")}
    with serving(routes) as srv, _fast_session() as session, pytest.raises(FetchError) as exc:
        fetch(srv.url("/release.zip"), download_dir, session=session)
    url = srv.url("/release.zip")
    assert (str(exc.value), exc.value.transient) == (
        f"{url}: not a release: got an HTML page "
        f"(Content-Type: text/html; body begins {PAYLOAD[:40]!r})",
        False,
    )
    assert _tree(download_dir) == []


def test_login_page_is_refused(server: LocalServer, download_dir: Path) -> None:
    url = server.url("/login")
    with pytest.raises(FetchError) as exc:
        fetch(url, download_dir)
    assert str(exc.value) == (
        f"{url}: not a release: got an HTML page "
        f"(Content-Type: text/html; charset=utf-8; body begins {HTML[:40]!r})"
    )
    assert _tree(download_dir) == []


def test_empty_body_is_refused(server: LocalServer, download_dir: Path) -> None:
    url = server.url("/empty")
    with _fast_session() as session, pytest.raises(FetchError) as exc:
        fetch(url, download_dir, session=session)
    assert (str(exc.value), exc.value.transient) == (
        f"{url}: not a release: the body is empty (Content-Type: application/octet-stream)",
        False,
    )
    assert _tree(download_dir) == []


@pytest.mark.parametrize(
    ("name", "body", "content_type"),
    [
        ("release.zip", PAYLOAD, "application/zip"),
        ("2020-07_anweb.xlsx", PAYLOAD, "application/vnd.ms-excel"),
        ("HCPC2018_ANWEB.txt", b"A0021    Outside state ambulance serv" + b" " * 600, "text/plain"),
        ("codes.csv", b"code,descriptor\r\n99213,Office visit\r\n", "text/csv; charset=utf-8"),
        ("notes.txt", b"<not html> is fine in a text file", "text/plain"),
    ],
)
def test_release_bodies_pass(download_dir: Path, name: str, body: bytes, content_type: str) -> None:
    routes = {f"/{name}": lambda hits: Response(200, body, content_type=content_type)}
    with serving(routes) as srv, _fast_session() as session:
        got = fetch(srv.url(f"/{name}"), download_dir, session=session)
    assert got.path.read_bytes() == body
    assert _tree(download_dir) == [got.path.parent, got.path]


def test_fetch_error_pickles_with_transient() -> None:
    # Prefect may persist a failed task's exception; the retry decision must survive it.
    for transient in (True, False):
        error = pickle.loads(
            pickle.dumps(FetchError("http://x/r.zip", "HTTP 503", transient=transient))
        )
        assert (type(error), error.source, error.problem, error.transient, str(error)) == (
            FetchError,
            "http://x/r.zip",
            "HTTP 503",
            transient,
            "http://x/r.zip: HTTP 503",
        )
    assert FetchError("p", "missing").transient is False


def test_local_file(tmp_path: Path) -> None:
    f = tmp_path / "release.zip"
    f.write_bytes(PAYLOAD)
    got = fetch(str(f), tmp_path / "unused")
    assert got == Fetched(f, str(f), None)
    assert not (tmp_path / "unused").exists()


def test_local_directory(tmp_path: Path) -> None:
    got = fetch(str(tmp_path), tmp_path / "unused")
    assert got == Fetched(tmp_path, str(tmp_path), None)


def test_local_missing(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.zip")
    with pytest.raises(FetchError) as exc:
        fetch(missing, tmp_path)
    assert (str(exc.value), exc.value.transient) == (f"{missing}: no such file or directory", False)

"""fetch() against a real local HTTP server (no mocks of requests)."""

from __future__ import annotations

import hashlib
import io
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from local_http import LocalServer, Response, Route, serving

from codecatalog.errors import FetchError
from codecatalog.fetch import Fetched, fetch, make_session


def _make_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("codes.txt", "99213\tOffice visit\n" * 200)
    return buf.getvalue()


PAYLOAD = _make_zip()


def _routes() -> dict[str, Route]:
    return {
        "/release.zip": lambda hits: Response(200, PAYLOAD),
        "/": lambda hits: Response(200, PAYLOAD),
        "/truncated": lambda hits: Response(200, b"x" * 400, length=1000),
        "/flaky": lambda hits: Response(503, b"busy") if hits <= 2 else Response(200, PAYLOAD),
        "/always503": lambda hits: Response(503, b"busy"),
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
    with _fast_session() as session, pytest.raises(FetchError) as exc:
        fetch(url, download_dir, session=session)
    assert exc.value.source == url
    assert url in str(exc.value)
    assert "404" in str(exc.value)
    assert server.hits["/missing"] == 1
    assert _tree(download_dir) == []


def test_truncated_body_is_an_error(server: LocalServer, download_dir: Path) -> None:
    url = f"{server.url()}/truncated"
    with _fast_session() as session, pytest.raises(FetchError) as exc:
        fetch(url, download_dir, session=session)
    assert url in str(exc.value)
    assert "400" in str(exc.value)  # bytes actually received
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

"""Get a release onto local disk: a local path as is, or an http(s) URL downloaded atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from codecatalog.errors import FetchError

_CHUNK = 1024 * 1024
_DEFAULT_NAME = "release.zip"
_RETRY_STATUSES = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class Fetched:
    """A release available on local disk.

    Attributes:
        path: Local file or directory holding the release, never a partial download.
        source: What the user gave (path or URL).
        sha256: Hex sha256 of the file; None for a directory.
    """

    path: Path
    source: str
    sha256: str | None


def make_session(retries: int = 3, backoff_factor: float = 0.5) -> requests.Session:
    """Build a Session that retries connect/read errors and HTTP 429/5xx with exponential backoff.

    Args:
        retries: Retries after the first attempt (so at most ``retries + 1`` requests).
        backoff_factor: urllib3 backoff factor; 0 retries immediately.

    Returns:
        A Session with the retrying adapter mounted on http:// and https://.
    """
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff_factor,
        status_forcelist=_RETRY_STATUSES,
        allowed_methods={"GET"},
        # Hand back the last response so the caller reports the real status, not MaxRetryError.
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def fetch(
    source: str,
    download_dir: Path,
    *,
    session: requests.Session | None = None,
    timeout: tuple[float, float] = (10.0, 120.0),
) -> Fetched:
    """Make a release available locally.

    A local file or directory is returned as is. An http(s) URL is streamed into a temporary file
    inside ``download_dir`` and, only once the body is complete, renamed to
    ``download_dir/<sha256[:16]>/<file name from the URL, or release.zip>``.

    Args:
        source: A local path or an http(s) URL.
        download_dir: Where downloads go (created if missing).
        session: Session to use; defaults to ``make_session()``.
        timeout: (connect, read) timeouts in seconds.

    Returns:
        The local path, the source and the sha256 (None for a directory).

    Raises:
        FetchError: The path is missing, or the download failed in any way (nothing is left behind).
    """
    scheme = urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        if session is not None:
            return _download(source, Path(download_dir), session, timeout)
        with make_session() as own:
            return _download(source, Path(download_dir), own, timeout)
    return _local(source)


def _local(source: str) -> Fetched:
    path = Path(source)
    if path.is_dir():
        return Fetched(path, source, None)
    if not path.is_file():
        what = "not a regular file or directory" if path.exists() else "no such file or directory"
        raise FetchError(source, what)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError as e:
        raise FetchError(source, f"cannot read: {e}") from e
    return Fetched(path, source, digest.hexdigest())


def _file_name(url: str) -> str:
    name = unquote(PurePosixPath(urlsplit(url).path).name)
    # Unquoting can produce separators or NULs; never let the URL steer the path outside its dir.
    if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        return _DEFAULT_NAME
    return name


def _download(
    url: str, download_dir: Path, session: requests.Session, timeout: tuple[float, float]
) -> Fetched:
    try:
        download_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=download_dir, prefix=".part-")
    except OSError as e:
        raise FetchError(url, f"cannot create a temporary file in {download_dir}: {e}") from e
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _stream(url, session, timeout, out)
        target_dir = download_dir / digest[:16]
        target_dir.mkdir(exist_ok=True)
        target = target_dir / _file_name(url)
        os.replace(tmp, target)
    except FetchError:
        tmp.unlink(missing_ok=True)
        raise
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
        tmp.unlink(missing_ok=True)
        raise FetchError(url, f"download failed: {type(e).__name__}: {e}") from e
    except BaseException:
        # KeyboardInterrupt and the like: still never leave a partial file behind.
        tmp.unlink(missing_ok=True)
        raise
    return Fetched(target, url, digest)


def _stream(
    url: str, session: requests.Session, timeout: tuple[float, float], out: BinaryIO
) -> str:
    """Write the body of ``url`` to ``out``; return its sha256 hex once the body is complete."""
    digest = hashlib.sha256()
    received = 0
    with session.get(url, stream=True, timeout=timeout) as response:
        if response.status_code >= 400:
            raise FetchError(url, f"HTTP {response.status_code} {response.reason or ''}".rstrip())
        for chunk in response.iter_content(chunk_size=_CHUNK):
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
        expected = response.headers.get("Content-Length", "").strip()
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        # urllib3 already enforces Content-Length; this double-check only holds for an unencoded
        # body, since iter_content yields decoded bytes.
        if expected.isdigit() and encoding == "identity" and received != int(expected):
            raise FetchError(url, f"truncated body: received {received} of {expected} bytes")
    return digest.hexdigest()

"""Get a release onto local disk: a local path as is, or an http(s) URL downloaded atomically."""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, NamedTuple
from urllib.parse import unquote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from codecatalog.errors import FetchError, NotFound

_CHUNK = 1024 * 1024
_DEFAULT_NAME = "release.zip"
_RETRY_STATUSES = (429, 500, 502, 503, 504)
# Seconds: (connect, read). The read timeout bounds each wait for the next bytes, not the body.
DEFAULT_TIMEOUT = (10.0, 30.0)
# A server's Retry-After is honoured up to this many seconds per retry.
_RETRY_AFTER_MAX = 10
# How many leading body bytes are looked at to tell a release from an HTML page.
_SNIFF_BYTES = 512
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_HTML_STARTS = ("<!doctype html", "<html", "<head", "<body", "<title", "<meta", "<script")


@dataclass(frozen=True)
class Fetched:
    """A release available on local disk.

    Attributes:
        path: Local file or directory holding the release, never a partial download.
        source: What the user gave (path or URL).
        sha256: Hex sha256 of a downloaded file; None for a local path (the reader hashes
            every file it reads).
        etag: The server's ``ETag`` for a download, if it sent one.
        last_modified: The server's ``Last-Modified`` for a download, if it sent one.
    """

    path: Path
    source: str
    sha256: str | None
    etag: str | None = None
    last_modified: str | None = None


class _Streamed(NamedTuple):
    sha256: str
    etag: str | None
    last_modified: str | None


def make_session(retries: int = 2, backoff_factor: float = 0.5) -> requests.Session:
    """Build a Session that retries what a retry can help, a little, with exponential backoff.

    Retried: connection errors and connect timeouts, HTTP 429 and 500/502/503/504 (``retries``
    times each), and a read timeout or a dropped connection before the response headers (at most
    once, since each costs a whole read timeout). Never retried: any other status (a 404 costs one
    request and no sleep), and a body that fails once it has started (the caller gets the error).
    Sleeps between attempts: 0 s, then ``backoff_factor * 2**(n - 1)`` (1 s, 2 s, …), or the
    server's ``Retry-After`` on 429/503, capped at 10 s.

    Worst case with the defaults and ``fetch``'s default timeouts (10 s connect, 30 s read), per
    ``fetch`` call (DNS resolution aside): each request waits at most 10 s + 30 s for its
    headers; there are at most 3 requests, at most 2 of them ending in a read timeout; the sleeps
    are 0 s then 1 s (or Retry-After, ≤ 10 s each). So:

    - a 404 or other 4xx: one request, no sleep;
    - a host that never completes the connect: 3 × 10 s + 1 s ≈ 31 s;
    - a server that accepts the connection and never answers: 2 × 30 s = 60 s (≤ 91 s if the
      connects are slow too);
    - a server that stalls in the middle of the body: one read timeout, 30 s, not retried;
    - a server that answers 5xx/429 every time: 3 requests and ≤ 20 s of sleeps (≤ 140 s in all
      only if each of its answers comes just before the read timeout).

    A server that keeps sending a byte now and then, faster than the read timeout, is not cut
    off: there is no deadline on the whole body.

    Args:
        retries: Retries after the first attempt (so at most ``retries + 1`` requests).
        backoff_factor: urllib3 backoff factor; 0 retries without sleeping.

    Returns:
        A Session with the retrying adapter mounted on http:// and https://.
    """
    retry = Retry(
        total=retries,
        connect=retries,
        read=min(retries, 1),
        status=retries,
        backoff_factor=backoff_factor,
        status_forcelist=_RETRY_STATUSES,
        allowed_methods={"GET"},
        retry_after_max=_RETRY_AFTER_MAX,
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
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> Fetched:
    """Make a release available locally.

    A local file or directory is returned as is. An http(s) URL is streamed into a temporary file
    inside ``download_dir`` and, only once the body is complete and looks like a release, renamed
    to ``download_dir/<sha256[:16]>/<file name from the URL, or release.zip>``.

    A body is refused when it is an HTML page (a login or error page served with 200): when its
    Content-Type is text/html or application/xhtml+xml, or its first bytes (after an optional BOM,
    whitespace, XML declaration and comments) open an HTML document, whatever the Content-Type. An
    empty body is refused too. Zip, xlsx, plain or fixed-width text and csv pass.

    How long a failing server can hold a call is bounded by the timeouts and the session's
    retries: see ``make_session`` (with the defaults, 60 s for a server that accepts and never
    answers, 30 s for one that stalls mid-body; a 404 costs one request and no sleep).

    Args:
        source: A local path or an http(s) URL.
        download_dir: Where downloads go (created if missing).
        session: Session to use; defaults to ``make_session()``.
        timeout: (connect, read) timeouts in seconds; the read timeout is the longest wait for the
            next bytes, before the headers or inside the body.

    Returns:
        The local path, the source and the sha256 (None for a directory).

    Raises:
        FetchError: The path is missing, or the download failed or was refused in any way (nothing
            is left behind). Its ``transient`` is True when trying again later can help
            (connection errors, timeouts, a body cut short, HTTP 408/429/5xx).
    """
    scheme = urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        fetched = download(source, Path(download_dir), session=session, timeout=timeout)
        assert fetched is not None  # only a conditional request gets None
        return fetched
    return _local(source)


def download(
    url: str,
    download_dir: Path,
    *,
    session: requests.Session | None = None,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched | None:
    """Download an http(s) URL as ``fetch`` does, conditionally when ``etag`` or
    ``last_modified`` (remembered from an earlier download) is given.

    They are sent as ``If-None-Match`` and ``If-Modified-Since``; a server answering 304 Not
    Modified costs one request and no body, and gives None. A 404 raises ``NotFound`` (a
    ``FetchError``). Everything else is as in ``fetch``.
    """
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    if session is not None:
        return _download(url, Path(download_dir), session, timeout, headers)
    with make_session() as own:
        return _download(url, Path(download_dir), own, timeout, headers)


def fetch_page(
    url: str,
    *,
    session: requests.Session | None = None,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> str:
    """The text of a web page (a landing page listing releases), with ``fetch``'s retries,
    timeouts and errors (``FetchError``; ``NotFound`` for a 404)."""
    own = session is None
    active = make_session() if session is None else session
    try:
        with active.get(url, timeout=timeout) as response:
            _check_status(url, response)
            return response.text
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
        raise _failure(url, e, timeout) from e
    finally:
        if own:
            active.close()


def _local(source: str) -> Fetched:
    """A local file or directory, as it is (the reader hashes every file it reads)."""
    path = Path(source)
    if path.is_dir():
        return Fetched(path, source, None)
    if not path.is_file():
        what = "not a regular file or directory" if path.exists() else "no such file or directory"
        raise FetchError(source, what)
    try:
        with path.open("rb"):
            pass
    except OSError as e:
        raise FetchError(source, f"cannot read: {e}") from e
    return Fetched(path, source, None)


def _file_name(url: str) -> str:
    name = unquote(PurePosixPath(urlsplit(url).path).name)
    # Unquoting can produce separators or NULs; never let the URL steer the path outside its dir.
    if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        return _DEFAULT_NAME
    return name


def _download(
    url: str,
    download_dir: Path,
    session: requests.Session,
    timeout: tuple[float, float],
    headers: dict[str, str],
) -> Fetched | None:
    try:
        download_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=download_dir, prefix=".part-")
    except OSError as e:
        raise FetchError(url, f"cannot create a temporary file in {download_dir}: {e}") from e
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            streamed = _stream(url, session, timeout, out, headers)
        if streamed is None:
            tmp.unlink()
            return None
        target_dir = download_dir / streamed.sha256[:16]
        target_dir.mkdir(exist_ok=True)
        target = target_dir / _file_name(url)
        os.replace(tmp, target)
    except FetchError:
        tmp.unlink(missing_ok=True)
        raise
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
        tmp.unlink(missing_ok=True)
        raise _failure(url, e, timeout) from e
    except BaseException:
        # KeyboardInterrupt and the like: still never leave a partial file behind.
        tmp.unlink(missing_ok=True)
        raise
    return Fetched(target, url, *streamed)


def _stream(
    url: str,
    session: requests.Session,
    timeout: tuple[float, float],
    out: BinaryIO,
    headers: dict[str, str],
) -> _Streamed | None:
    """Write the body of ``url`` to ``out``; return its sha256 hex and validators once the body
    is complete, or None when a conditional request (``headers``) is answered 304."""
    digest = hashlib.sha256()
    received = 0
    head = b""
    checked = False
    with session.get(url, stream=True, timeout=timeout, headers=headers) as response:
        if response.status_code == 304 and headers:
            return None
        _check_status(url, response)
        content_type = response.headers.get("Content-Type", "").strip()
        for chunk in response.iter_content(chunk_size=_CHUNK):
            if not checked:
                head += chunk[: _SNIFF_BYTES - len(head)]
                if len(head) >= _SNIFF_BYTES:
                    _check_body(url, content_type, head)
                    checked = True
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
        if not checked:
            _check_body(url, content_type, head)
        expected = response.headers.get("Content-Length", "").strip()
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        # urllib3 already enforces Content-Length; this double-check only holds for an unencoded
        # body, since iter_content yields decoded bytes.
        if expected.isdigit() and encoding == "identity" and received != int(expected):
            raise FetchError(
                url, f"truncated body: received {received} of {expected} bytes", transient=True
            )
        validators = (response.headers.get("ETag"), response.headers.get("Last-Modified"))
    return _Streamed(digest.hexdigest(), *validators)


def _check_status(url: str, response: requests.Response) -> None:
    """Raise the FetchError for an HTTP error status (NotFound for a 404)."""
    status = response.status_code
    if status >= 400:
        transient = status in (408, 429) or status >= 500
        reason = f"HTTP {status} {response.reason or ''}".rstrip()
        kind = NotFound if status == 404 else FetchError
        raise kind(url, reason, transient=transient)


def _check_body(url: str, content_type: str, head: bytes) -> None:
    """Refuse a body that cannot be a release: empty, or an HTML page (by type or by content)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    shown = content_type or "none"
    if not head:
        raise FetchError(url, f"not a release: the body is empty (Content-Type: {shown})")
    if media_type in _HTML_TYPES or _looks_like_html(head):
        raise FetchError(
            url,
            f"not a release: got an HTML page (Content-Type: {shown}; body begins {head[:40]!r})",
        )


def _looks_like_html(head: bytes) -> bool:
    """Whether the first bytes of a body open an HTML document (case-insensitive).

    Skips a BOM (UTF-8 or UTF-16), leading whitespace, an XML declaration and comments.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="ignore")
    else:
        text = head.decode("latin-1").removeprefix("\xef\xbb\xbf")
    text = text.lstrip(" \t\r\n\f\v\ufeff").lower()
    while text.startswith(("<?xml", "<!--")):
        end = text.find("?>" if text.startswith("<?") else "-->")
        if end < 0:
            return False
        text = text[end + (2 if text.startswith("<?") else 3) :].lstrip(" \t\r\n\f\v")
    return text.startswith(_HTML_STARTS)


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and every exception it wraps (args, urllib3 ``reason``, cause, context)."""
    seen: list[BaseException] = []
    todo = [error]
    while todo and len(seen) < 20:
        e = todo.pop(0)
        if any(e is s for s in seen):
            continue
        seen.append(e)
        todo.extend(a for a in e.args if isinstance(a, BaseException))
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        todo.extend(c for c in (e.__cause__, e.__context__) if c is not None)
    return seen


def _failure(url: str, error: BaseException, timeout: tuple[float, float]) -> FetchError:
    """The FetchError for an exception raised by requests, urllib3 or the file system."""
    causes = _causes(error)

    def caused_by(*kinds: type[BaseException]) -> bool:
        return any(isinstance(c, kinds) for c in causes)

    # urllib3's NewConnectionError (refused, unreachable) subclasses ConnectTimeoutError.
    connect_timeout = any(
        isinstance(c, urllib3.exceptions.ConnectTimeoutError)
        and not isinstance(c, urllib3.exceptions.NewConnectionError)
        for c in causes
    )
    if connect_timeout or caused_by(requests.ConnectTimeout):
        problem = f"timed out: no connection within {timeout[0]:g} s (connect timeout)"
        return FetchError(url, problem, transient=True)
    if caused_by(requests.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError):
        problem = f"timed out: the server sent nothing for {timeout[1]:g} s (read timeout)"
        return FetchError(url, problem, transient=True)
    problem = f"download failed: {type(error).__name__}: {error}"
    # A certificate problem is not cured by waiting; a dropped or refused connection may be.
    transient = not caused_by(ssl.SSLCertVerificationError) and (
        caused_by(
            requests.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.RetryError,
            urllib3.exceptions.ProtocolError,
            urllib3.exceptions.NewConnectionError,
            ConnectionError,
        )
    )
    return FetchError(url, problem, transient=transient)

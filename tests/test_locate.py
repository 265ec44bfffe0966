"""locate() and remember(): finding a scheduled run's release at a URL template, on a landing
page or in a drop folder, against a real local HTTP server that fails, stalls, truncates, answers
conditional requests and serves changed content (no mocks); plus the release date, version label
and template values of a run, checked on the built-in declarations."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import requests
from local_http import LocalServer, Response, Route, serving

from codecatalog.errors import DeclarationError, FetchError, NotFound
from codecatalog.fetch import make_session
from codecatalog.locate import (
    Found,
    Waiting,
    locate,
    release_date,
    remember,
    state_file,
    template_values,
    version_label,
)
from codecatalog.sources import FetchSpec, Schedule, SourceConfig, sources

V1 = b"HCPCS release, first posting\n" * 40
V2 = b"HCPCS release, corrected posting\n" * 40
HCPCS_PATH = "/files/zip/january-2027-alpha-numeric-hcpcs-file.zip"
JAN_2027 = date(2027, 1, 1)
APR_2026 = date(2026, 4, 1)


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _session() -> requests.Session:
    return make_session(retries=3, backoff_factor=0)


def _with_fetch(name: str, **spec: str) -> SourceConfig:
    """The built-in declaration `name`, fetching from where `spec` says (the local server)."""
    return dataclasses.replace(sources()[name], fetch=FetchSpec(**spec))


def _hcpcs(server: LocalServer) -> SourceConfig:
    """HCPCS with its declared URL template, on the local server."""
    declared = sources()["hcpcs"].fetch
    assert declared is not None and declared.url is not None
    return _with_fetch("hcpcs", url=declared.url.replace("https://www.cms.gov", server.url()))


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def _state(warehouse: Path, source: str) -> dict:
    return json.loads(state_file(warehouse, source).read_text())


def _received(server: LocalServer) -> list[tuple[str, str | None, str | None, int]]:
    """Each request: path, If-None-Match, If-Modified-Since, the status answered."""
    return [
        (path, h.get("If-None-Match"), h.get("If-Modified-Since"), status)
        for path, h, status in server.received
    ]


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse"


@pytest.fixture
def hcpcs_server() -> Iterator[LocalServer]:
    routes: dict[str, Route] = {HCPCS_PATH: lambda hits: Response(200, V1, etag='"v1"')}
    with serving(routes) as srv:
        yield srv


# ------------------------------------------------------------------ dates, labels, templates
@pytest.mark.parametrize(
    ("looks_for", "run_day", "effective"),
    [
        ("next_quarter", date(2026, 3, 2), date(2026, 4, 1)),
        ("next_quarter", date(2026, 9, 30), date(2026, 10, 1)),
        ("next_quarter", date(2026, 12, 7), date(2027, 1, 1)),
        ("next_year", date(2026, 9, 7), date(2027, 1, 1)),
        ("next_year", date(2026, 1, 1), date(2027, 1, 1)),
        ("this_quarter", date(2026, 5, 15), date(2026, 4, 1)),
        ("this_quarter", date(2026, 12, 31), date(2026, 10, 1)),
    ],
)
def test_release_date(looks_for: str, run_day: date, effective: date) -> None:
    assert release_date(Schedule("s", "0 6 * * 1", looks_for=looks_for), run_day) == effective


@pytest.mark.parametrize(
    ("version", "label"),
    [("{year}Q{quarter}", "2026Q2"), ("{year}", "2026"), ("{year}-{month:02d}", "2026-04")],
)
def test_version_label(version: str, label: str) -> None:
    assert version_label(Schedule("s", "0 6 * * 1", version=version), APR_2026) == label


def test_template_values() -> None:
    assert template_values(date(2027, 1, 1)) == {
        "year": 2027,
        "yy": "27",
        "quarter": 1,
        "quarter_letter": "a",
        "month": 1,
        "month_name": "january",
    }
    assert template_values(date(2009, 10, 1)) == {
        "year": 2009,
        "yy": "09",
        "quarter": 4,
        "quarter_letter": "d",
        "month": 10,
        "month_name": "october",
    }


def test_builtin_url_templates() -> None:
    declared = sources()
    filled = {
        name: declared[name].fetch.url.format(**template_values(JAN_2027))  # type: ignore[union-attr]
        for name in ("hcpcs", "pfs_rvu")
    }
    assert filled == {
        "hcpcs": "https://www.cms.gov/files/zip/january-2027-alpha-numeric-hcpcs-file.zip",
        "pfs_rvu": "https://www.cms.gov/files/zip/rvu27a.zip",
    }


# The names of the twelve real Addendum B files in ../shared/realdata/opps_addendum_b, with the
# release each is (their names only: the files hold licensed CPT text).
REAL_ADDB = {
    "2020_april_web_addendum_b.05042020.xlsx": date(2020, 4, 1),
    "2020_january_web_addendum_b.12312019.xlsx": date(2020, 1, 1),
    "2021_January_Web_Addendum_B.12.29.20.xlsx": date(2021, 1, 1),
    "2021_October_Web_Addendum_B.10262021.xlsx": date(2021, 10, 1),
    "April_2021_OPPS_Web_Addendum_B.03222021.xlsx": date(2021, 4, 1),
    "April_2022_Web_Addendum_B.04052022.xlsx": date(2022, 4, 1),
    "January_2020_Addendum_B_CORRECTION.02042020.xlsx": date(2020, 1, 1),
    "January_2022_Web_Addendum_B.01.10.22.xlsx": date(2022, 1, 1),
    "July_2022_Web_Addendum_B.062222.xlsx": date(2022, 7, 1),
    "October_2022_Web_Addendum_B.09.26.22.xlsx": date(2022, 10, 1),
    "October_2022_Web_Addendum_B.11142022.xlsx": date(2022, 10, 1),
    "january_2019_opps_web_addendum_b.12312018.xlsx": date(2019, 1, 1),
}


def test_builtin_link_pattern_matches_real_posting_names() -> None:
    """Each real file's name is a posting of its own quarter and of no other."""
    spec = sources()["opps_addb"].fetch
    assert spec is not None and spec.link_pattern is not None
    links = [
        f"https://www.cms.gov/files/zip/{n}"
        for n in [*REAL_ADDB, "October_2022_Web_Addendum_B.pdf"]
    ]
    for effective in sorted(set(REAL_ADDB.values())):
        pattern = spec.link_pattern.format(**template_values(effective))
        found = [link.rsplit("/", 1)[1] for link in links if re.search(pattern, link)]
        assert found == [n for n, day in REAL_ADDB.items() if day == effective], effective


def test_no_fetch_declared(warehouse: Path) -> None:
    cfg = dataclasses.replace(sources()["hcpcs"], fetch=None)
    with pytest.raises(DeclarationError) as exc:
        locate(cfg, JAN_2027, warehouse)
    assert str(exc.value) == "[hcpcs] declares no fetch ([hcpcs.fetch])"


# ---------------------------------------------------------------------------- URL template
def test_url_template_downloads_and_remember_records(
    hcpcs_server: LocalServer, warehouse: Path
) -> None:
    cfg = _hcpcs(hcpcs_server)
    url = hcpcs_server.url(HCPCS_PATH)
    with _session() as session:
        found = locate(cfg, JAN_2027, warehouse, session=session)
    path = warehouse / "downloads" / "hcpcs" / _sha(V1)[:16] / Path(HCPCS_PATH).name
    assert found == Found(path, url, JAN_2027, "2027Q1", _sha(V1))
    assert path.read_bytes() == V1
    assert _files(warehouse) == [path]  # nothing remembered until the caller says so

    remember(cfg, found, warehouse)
    assert _state(warehouse, "hcpcs") == {
        "urls": {
            url: {"etag": '"v1"', "last_modified": None, "sha256": _sha(V1), "path": str(path)}
        },
        "releases": {"2027-01-01": [{"source": url, "sha256": _sha(V1)}]},
        "taken": {},
    }
    # Written whole, via a temporary file that is gone.
    assert _files(warehouse / "fetch_state") == [state_file(warehouse, "hcpcs")]


@pytest.mark.parametrize(
    ("validator", "request_header"),
    [
        ({"etag": '"v1"'}, ('"v1"', None)),
        (
            {"last_modified": "Wed, 02 Dec 2026 10:00:00 GMT"},
            (None, "Wed, 02 Dec 2026 10:00:00 GMT"),
        ),
    ],
    ids=["etag", "last-modified"],
)
def test_unchanged_release_is_not_downloaded_again(
    warehouse: Path, validator: dict[str, str], request_header: tuple[str | None, str | None]
) -> None:
    routes: dict[str, Route] = {HCPCS_PATH: lambda hits: Response(200, V1, **validator)}
    with serving(routes) as srv, _session() as session:
        cfg = _hcpcs(srv)
        first = locate(cfg, JAN_2027, warehouse, session=session)
        remember(cfg, first, warehouse)
        again = locate(cfg, JAN_2027, warehouse, session=session)
    # The server saw a conditional request and answered 304 with no body.
    assert _received(srv) == [
        (HCPCS_PATH, None, None, 200),
        (HCPCS_PATH, *request_header, 304),
    ]
    assert again == dataclasses.replace(first, unchanged=True)
    assert _files(warehouse / "downloads") == [first.path]


def test_changed_content_is_the_next_correction(warehouse: Path) -> None:
    def route(hits: int) -> Response:
        return Response(200, V1, etag='"v1"') if hits == 1 else Response(200, V2, etag='"v2"')

    with serving({HCPCS_PATH: route}) as srv, _session() as session:
        cfg = _hcpcs(srv)
        first = locate(cfg, JAN_2027, warehouse, session=session)
        remember(cfg, first, warehouse)
        changed = locate(cfg, JAN_2027, warehouse, session=session)
    url = srv.url(HCPCS_PATH)
    path = warehouse / "downloads" / "hcpcs" / _sha(V2)[:16] / Path(HCPCS_PATH).name
    assert _received(srv) == [(HCPCS_PATH, None, None, 200), (HCPCS_PATH, '"v1"', None, 200)]
    assert changed == Found(path, url, JAN_2027, "2027Q1r1", _sha(V2), correction=1)
    assert path.read_bytes() == V2


def test_state_is_written_only_when_the_caller_remembers(
    hcpcs_server: LocalServer, warehouse: Path
) -> None:
    # A release refused by validation is not remembered: the next run downloads it afresh and
    # offers it again, unconditionally, as the same new release.
    cfg = _hcpcs(hcpcs_server)
    with _session() as session:
        first = locate(cfg, JAN_2027, warehouse, session=session)
        again = locate(cfg, JAN_2027, warehouse, session=session)
    assert not state_file(warehouse, "hcpcs").exists()
    assert _received(hcpcs_server) == [(HCPCS_PATH, None, None, 200)] * 2
    assert again == first
    assert again.unchanged is False


def test_500_then_200_is_retried(warehouse: Path) -> None:
    def route(hits: int) -> Response:
        return Response(500, b"oops") if hits == 1 else Response(200, V1)

    with serving({HCPCS_PATH: route}) as srv, _session() as session:
        found = locate(_hcpcs(srv), JAN_2027, warehouse, session=session)
    assert [status for *_, status in _received(srv)] == [500, 200]
    assert isinstance(found, Found)
    assert (found.version, found.path.read_bytes()) == ("2027Q1", V1)


def test_404_at_the_predictable_url_is_waiting(warehouse: Path) -> None:
    with serving({}) as srv:
        cfg = _hcpcs(srv)
        started = time.monotonic()
        got = locate(cfg, JAN_2027, warehouse)  # the default session, as in production
        elapsed = time.monotonic() - started
    url = srv.url(HCPCS_PATH)
    assert got == Waiting(f"{url}: not posted yet (HTTP 404 Not Found)")
    assert srv.hits[HCPCS_PATH] == 1  # not retried
    assert elapsed < 1.0
    assert _files(warehouse) == []


def test_other_client_errors_raise(warehouse: Path) -> None:
    routes: dict[str, Route] = {HCPCS_PATH: lambda hits: Response(403, b"no")}
    with serving(routes) as srv, pytest.raises(FetchError) as exc:
        locate(_hcpcs(srv), JAN_2027, warehouse)
    url = srv.url(HCPCS_PATH)
    assert (str(exc.value), exc.value.transient) == (f"{url}: HTTP 403 Forbidden", False)
    assert srv.hits[HCPCS_PATH] == 1


def test_truncated_body_is_not_kept(warehouse: Path) -> None:
    routes: dict[str, Route] = {HCPCS_PATH: lambda hits: Response(200, V1[:300], length=len(V1))}
    with serving(routes) as srv, _session() as session, pytest.raises(FetchError) as exc:
        locate(_hcpcs(srv), JAN_2027, warehouse, session=session)
    url = srv.url(HCPCS_PATH)
    assert str(exc.value).startswith(f"{url}: download failed: ChunkedEncodingError: ")
    assert f"IncompleteRead(300 bytes read, {len(V1) - 300} more expected)" in str(exc.value)
    assert exc.value.transient is True
    assert _files(warehouse) == []


def test_stalled_connection_times_out_in_seconds(warehouse: Path) -> None:
    routes: dict[str, Route] = {
        HCPCS_PATH: lambda hits: Response(200, V1[:100], length=len(V1), stall=30)
    }
    with serving(routes) as srv, _session() as session, pytest.raises(FetchError) as exc:
        started = time.monotonic()
        try:
            locate(_hcpcs(srv), JAN_2027, warehouse, session=session, timeout=(2.0, 0.5))
        finally:
            elapsed = time.monotonic() - started
    url = srv.url(HCPCS_PATH)
    assert (str(exc.value), exc.value.transient) == (
        f"{url}: timed out: the server sent nothing for 0.5 s (read timeout)",
        True,
    )
    assert 0.5 <= elapsed < 5  # the server would have stalled for 30 s
    assert _files(warehouse) == []


def test_checksum_mismatch_is_refused_and_not_kept(
    hcpcs_server: LocalServer, warehouse: Path
) -> None:
    expected = "0" * 64
    with _session() as session, pytest.raises(FetchError) as exc:
        locate(_hcpcs(hcpcs_server), JAN_2027, warehouse, expected_sha256=expected, session=session)
    url = hcpcs_server.url(HCPCS_PATH)
    assert (str(exc.value), exc.value.transient) == (
        f"{url}: sha256 mismatch: expected {expected}, got {_sha(V1)} (download not kept)",
        False,
    )
    assert list((warehouse / "downloads" / "hcpcs").rglob("*")) == []


def test_expected_checksum_passes(hcpcs_server: LocalServer, warehouse: Path) -> None:
    with _session() as session:
        cfg = _hcpcs(hcpcs_server)
        found = locate(cfg, JAN_2027, warehouse, expected_sha256=_sha(V1).upper(), session=session)
    assert isinstance(found, Found)
    assert found.sha256 == _sha(V1)


# ----------------------------------------------------------------------------- landing page
A = b"Addendum B, April 2026, posted 03/20/2026\n" * 30
B = b"Addendum B, April 2026, re-posted 04/15/2026\n" * 30
A_PATH = "/files/zip/april-2026-web-addendum-b.03202026.zip"
B_PATH = "/files/zip/april_2026_web_addendum_b.04152026.xlsx"
PAGE_PATH = "/medicare/quarterly-addenda-updates"


def _page(*hrefs: str) -> Response:
    links = "".join(f'<li><a class="x" href="{h}">{h}</a></li>\n' for h in hrefs)
    html = f"<!DOCTYPE html><html><body><ul>\n{links}</ul></body></html>\n"
    return Response(200, html.encode(), content_type="text/html; charset=utf-8")


def _opps(server: LocalServer) -> SourceConfig:
    """Addendum B with its declared link pattern, its landing page on the local server."""
    declared = sources()["opps_addb"].fetch
    assert declared is not None and declared.link_pattern is not None
    page = server.url(PAGE_PATH)
    return _with_fetch("opps_addb", landing_page=page, link_pattern=declared.link_pattern)


def test_landing_page_repost_becomes_correction(warehouse: Path) -> None:
    other = [
        "/files/zip/january-2026-web-addendum-b.zip",  # another quarter
        "/files/document/april-2026-web-addendum-b.pdf",  # not a zip or xlsx
        "#top",
    ]

    def page(hits: int) -> Response:
        # Relative and absolute links; the re-posting appears below the original on later visits.
        return _page(*other, A_PATH) if hits == 1 else _page(*other, A_PATH, srv.url(B_PATH))

    routes: dict[str, Route] = {
        PAGE_PATH: page,
        A_PATH: lambda hits: Response(200, A),
        B_PATH: lambda hits: Response(200, B),
    }
    with serving(routes) as srv, _session() as session:
        cfg = _opps(srv)
        first = locate(cfg, APR_2026, warehouse, session=session)
        remember(cfg, first, warehouse)
        repost = locate(cfg, APR_2026, warehouse, session=session)
        remember(cfg, repost, warehouse)
        again = locate(cfg, APR_2026, warehouse, session=session)
    downloads = warehouse / "downloads" / "opps_addb"
    a_path = downloads / _sha(A)[:16] / Path(A_PATH).name
    b_path = downloads / _sha(B)[:16] / Path(B_PATH).name
    note = f"2 postings on {srv.url(PAGE_PATH)}; took the last in page order"
    assert first == Found(a_path, srv.url(A_PATH), APR_2026, "2026Q2", _sha(A))
    assert repost == Found(
        b_path, srv.url(B_PATH), APR_2026, "2026Q2r1", _sha(B), correction=1, note=note
    )
    # No validators from this server: downloaded again, recognised by its sha256.
    assert again == dataclasses.replace(repost, unchanged=True)
    assert _state(warehouse, "opps_addb")["releases"] == {
        "2026-04-01": [
            {"source": srv.url(A_PATH), "sha256": _sha(A)},
            {"source": srv.url(B_PATH), "sha256": _sha(B)},
        ]
    }
    assert srv.hits == {PAGE_PATH: 3, A_PATH: 1, B_PATH: 2}


def test_landing_page_without_a_posting_is_waiting(warehouse: Path) -> None:
    routes: dict[str, Route] = {
        PAGE_PATH: lambda hits: _page("/files/zip/january-2026-web-addendum-b.zip")
    }
    with serving(routes) as srv:
        got = locate(_opps(srv), APR_2026, warehouse)
    pattern = "(?i)(april[-_ ]?2026|2026[-_ ]?april)[-_ ][^/]*addendum[-_ ]?b[^/]*[.](zip|xlsx)$"
    assert got == Waiting(f"{srv.url(PAGE_PATH)}: no link matches {pattern!r}")
    assert _files(warehouse) == []


def test_posting_link_404_is_a_clear_error(warehouse: Path) -> None:
    routes: dict[str, Route] = {PAGE_PATH: lambda hits: _page(A_PATH)}
    with serving(routes) as srv, _session() as session, pytest.raises(NotFound) as exc:
        locate(_opps(srv), APR_2026, warehouse, session=session)
    url = srv.url(A_PATH)
    assert (str(exc.value), exc.value.transient) == (f"{url}: HTTP 404 Not Found", False)
    assert srv.hits[A_PATH] == 1  # not retried
    assert _files(warehouse) == []


def test_landing_page_404_is_an_error(warehouse: Path) -> None:
    with serving({}) as srv, pytest.raises(NotFound) as exc:
        locate(_opps(srv), APR_2026, warehouse)
    assert str(exc.value) == f"{srv.url(PAGE_PATH)}: HTTP 404 Not Found"
    assert srv.hits[PAGE_PATH] == 1


# ------------------------------------------------------------------------------ drop folder
CPT = b"PK\x03\x04 AMA CPT 2027 data file stand-in\n" * 20
MEDU = b"99213 office visit\n"


def _touch(path: Path, body: bytes, mtime: int) -> Path:
    path.write_bytes(body)
    os.utime(path, (mtime, mtime))
    return path


def test_drop_folder_waiting_found_then_waiting(warehouse: Path) -> None:
    cfg = sources()["cpt"]  # drop_folder = "drop/cpt"
    folder = warehouse / "drop" / "cpt"
    waiting = Waiting(
        f"no new release in {folder}; put the AMA CPT (Current Procedural Terminology) release "
        "there (a .zip, .txt, .xlsx or .csv file, or a folder)"
    )
    assert locate(cfg, JAN_2027, warehouse, version="{year}") == waiting  # no folder yet
    folder.mkdir(parents=True)
    (folder / "README.pdf").write_bytes(b"%PDF")  # not a release file
    assert locate(cfg, JAN_2027, warehouse, version="{year}") == waiting

    dropped = _touch(folder / "cpt-2027.zip", CPT, 1_780_000_000)
    found = locate(cfg, JAN_2027, warehouse, version="{year}")
    assert found == Found(dropped, str(dropped), JAN_2027, "2027", _sha(CPT))
    assert not (warehouse / "downloads").exists()  # read in place, never copied
    assert locate(cfg, JAN_2027, warehouse, version="{year}") == found  # not taken yet

    assert isinstance(found, Found)
    remember(cfg, found, warehouse)
    assert locate(cfg, JAN_2027, warehouse, version="{year}") == waiting
    assert _state(warehouse, "cpt") == {
        "urls": {},
        "releases": {"2027-01-01": [{"source": str(dropped), "sha256": _sha(CPT)}]},
        "taken": {
            "drop/cpt": [
                {
                    "name": "cpt-2027.zip",
                    "size": len(CPT),
                    "mtime_ns": 1_780_000_000 * 10**9,
                    "sha256": _sha(CPT),
                }
            ]
        },
    }
    # The same content dropped again under another name is not a new release.
    _touch(folder / "cpt-2027-copy.zip", CPT, 1_780_000_500)
    assert locate(cfg, JAN_2027, warehouse, version="{year}") == waiting


def test_drop_folder_takes_the_newest_and_says_so(warehouse: Path) -> None:
    cfg = sources()["cpt"]
    folder = warehouse / "drop" / "cpt"
    folder.mkdir(parents=True)
    old = _touch(folder / "cpt-2027.zip", CPT, 1_780_000_000)
    (folder / ".cpt-2027r1.zip.part").write_bytes(b"partial copy")  # hidden: ignored
    newer = folder / "cpt-2027r1"  # a directory of files is a release too
    newer.mkdir()
    _touch(newer / "MEDU.txt", MEDU, 1_780_000_100)
    os.utime(newer, (1_780_000_050, 1_780_000_050))

    found = locate(cfg, JAN_2027, warehouse, version="{year}")
    digest = hashlib.sha256(b"MEDU.txt\0" + _sha(MEDU).encode() + b"\n")
    note = f"2 new releases in {folder} (cpt-2027.zip, cpt-2027r1); took the newest: cpt-2027r1"
    assert found == Found(newer, str(newer), JAN_2027, "2027", digest.hexdigest(), note=note)

    assert isinstance(found, Found)
    remember(cfg, found, warehouse)
    # The older file is still new; a second content for 2027 would be its first correction.
    assert locate(cfg, JAN_2027, warehouse, version="{year}") == Found(
        old, str(old), JAN_2027, "2027r1", _sha(CPT), correction=1
    )


def test_drop_folder_checksum_mismatch_keeps_the_file(warehouse: Path) -> None:
    folder = warehouse / "drop" / "cpt"
    folder.mkdir(parents=True)
    dropped = _touch(folder / "cpt-2027.zip", CPT, 1_780_000_000)
    with pytest.raises(FetchError) as exc:
        locate(sources()["cpt"], JAN_2027, warehouse, expected_sha256="f" * 64)
    assert str(exc.value) == (f"{dropped}: sha256 mismatch: expected {'f' * 64}, got {_sha(CPT)}")
    assert dropped.read_bytes() == CPT  # a person's licensed file is never deleted


def test_unreadable_state_is_a_clear_error(warehouse: Path) -> None:
    path = state_file(warehouse, "cpt")
    path.parent.mkdir(parents=True)
    path.write_text("[1, 2]")
    with pytest.raises(FetchError) as exc:
        locate(sources()["cpt"], JAN_2027, warehouse)
    assert str(exc.value) == (
        f"{path}: not a fetch state file (a JSON object of urls, releases, taken)"
    )

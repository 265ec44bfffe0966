"""Find the release a scheduled refresh looks for, and remember which releases were taken.

A source's `[<source>.fetch]` says where its releases appear: at a predictable URL (a template of
the release's effective date), among the links of a landing page (a pattern of that date), or in
a drop folder a person fills with licensed files downloaded behind a click-through.

What was taken lives in `<warehouse>/fetch_state/<source>.json` and is written only by
`remember()`, which the caller calls once the release is loaded: a release refused by validation
is looked at afresh (downloaded again) next time. It holds, per URL, the server's `ETag` and
`Last-Modified` (sent back as a conditional request: a 304 costs no download), the sha256 and the
local file; per drop folder, the files taken (name, size, mtime, sha256); per effective date, the
contents taken in order. The N-th distinct content taken for one effective date is correction rN
(the first has no suffix): a re-posting within the quarter under a new name (CMS's Addendum B) or
under the same URL becomes `2026Q2r1`, `2026Q2r2`, ...
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urljoin

import requests

from codecatalog.errors import DeclarationError, FetchError, NotFound
from codecatalog.fetch import DEFAULT_TIMEOUT, download, fetch_page
from codecatalog.files import replace_text, sha256_of
from codecatalog.sources import LOOKS_FOR, Schedule, SourceConfig

MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
RELEASE_SUFFIXES = (".zip", ".txt", ".xlsx", ".csv")  # what a drop folder's files may be


@dataclass(frozen=True)
class Found:
    """A release for an effective date, on local disk.

    Attributes:
        path: The downloaded file, or the drop folder's file or directory (read in place).
        source: The URL it came from, or the dropped path.
        effective: The effective date it was looked for.
        version: Suggested label: the schedule's label of `effective`, plus `rN` for a correction.
        sha256: Hex sha256 of the file (of a directory: of its files' relative paths and contents).
        unchanged: This content was taken already (the server answered 304 Not Modified, or the
            sha256 is remembered): the caller skips reloading it.
        correction: N of `rN`: how many other contents were taken for `effective` before (0: none).
        note: What a person should know (several candidates, which one was taken).
        record: What `remember()` writes for it.
    """

    path: Path
    source: str
    effective: date
    version: str
    sha256: str
    unchanged: bool = False
    correction: int = 0
    note: str = ""
    record: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Waiting:
    """No new release yet (not a failure); `reason` names the URL, page or folder looked at."""

    reason: str


def release_date(schedule: Schedule, run_day: date) -> date:
    """The effective date of the release a run on `run_day` looks for (`schedule.looks_for`):
    1 January of the next year, the first day of the next quarter, or of the current one.

    >>> release_date(Schedule("quarterly", "0 6 * 12 1"), date(2026, 12, 7))
    datetime.date(2027, 1, 1)
    """
    quarter_start = (run_day.month - 1) // 3 * 3 + 1
    if schedule.looks_for == "next_year" or (
        schedule.looks_for == "next_quarter" and quarter_start == 10
    ):
        return date(run_day.year + 1, 1, 1)
    if schedule.looks_for == "next_quarter":
        return date(run_day.year, quarter_start + 3, 1)
    if schedule.looks_for == "this_quarter":
        return date(run_day.year, quarter_start, 1)
    raise DeclarationError(
        f"schedule {schedule.name!r}: looks_for must be one of {', '.join(LOOKS_FOR)}, "
        f"got {schedule.looks_for!r}"
    )


def version_label(schedule: Schedule, effective: date) -> str:
    """The schedule's label of a release: `schedule.version` filled with year, quarter, month."""
    return _label(schedule.version, effective)


def template_values(effective: date) -> dict[str, Any]:
    """What a fetch URL template or link pattern is filled with.

    >>> template_values(date(2027, 4, 1))["quarter_letter"], template_values(date(2027, 4, 1))["yy"]
    ('b', '27')

    `quarter_letter` is lower-case (a–d), as in CMS's file names (`rvu27a.zip`).
    """
    quarter = (effective.month - 1) // 3 + 1
    return {
        "year": effective.year,
        "yy": f"{effective.year % 100:02d}",
        "quarter": quarter,
        "quarter_letter": "abcd"[quarter - 1],
        "month": effective.month,
        "month_name": MONTH_NAMES[effective.month - 1],
    }


def state_file(warehouse_dir: Path, source: str) -> Path:
    """Where what was taken of `source` is remembered."""
    return Path(warehouse_dir) / "fetch_state" / f"{source}.json"


def locate(
    cfg: SourceConfig,
    effective: date,
    warehouse_dir: Path,
    *,
    version: str = "{year}Q{quarter}",
    expected_sha256: str | None = None,
    session: requests.Session | None = None,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> Found | Waiting:
    """Look for the release of `cfg` in force from `effective`, where `cfg.fetch` says.

    - URL template: downloaded (atomically, with `fetch`'s retries and checks) into
      `<warehouse>/downloads/<source>/`, conditionally when the URL was remembered. A 404 means
      "not posted yet" (CMS posts at a predictable name when it is ready): `Waiting`, naming the
      URL. Any other HTTP error raises.
    - Landing page: the page's links (`<a href>`, resolved against the page) in which the filled
      `link_pattern` is found are postings of this release; the last in page order is taken (a
      re-posting comes after the original) and downloaded as above. None: `Waiting`. A 404 of the
      page or of a posting raises: the page itself is not "not posted yet".
    - Drop folder (`<warehouse>/<drop_folder>`): its files (.zip, .txt, .xlsx, .csv, or
      directories; hidden ones ignored) not taken yet; the newest by modification time if several
      (`note` says so). Read in place, never copied. None: `Waiting`.

    Args:
        version: The schedule's version format (`Schedule.version`) for `Found.version`.
        expected_sha256: When given, a different content raises and the download is not kept.

    Raises:
        FetchError: The download failed, or its sha256 is not the expected one.
        DeclarationError: No `[<source>.fetch]`, or its template or pattern cannot be filled.
    """
    spec = cfg.fetch
    if spec is None:
        raise DeclarationError(f"[{cfg.name}] declares no fetch ([{cfg.name}.fetch])")
    warehouse_dir = Path(warehouse_dir)
    state = _read_state(state_file(warehouse_dir, cfg.name))
    downloads = warehouse_dir / "downloads" / cfg.name
    if spec.drop_folder:
        folder = warehouse_dir / spec.drop_folder
        dropped = _from_drop_folder(
            folder, state["taken"].get(spec.drop_folder, []), expected_sha256
        )
        if dropped is None:
            return Waiting(
                f"no new release in {folder}; put the {cfg.title} release there "
                "(a .zip, .txt, .xlsx or .csv file, or a folder)"
            )
        candidate = dropped
    elif spec.url:
        url = _fill(cfg, "url", spec.url, effective)
        try:
            candidate = _from_url(url, state, downloads, expected_sha256, session, timeout)
        except NotFound:
            return Waiting(f"{url}: not posted yet (HTTP 404 Not Found)")
    else:
        assert spec.landing_page and spec.link_pattern  # the declaration is checked when read
        pattern = _fill(cfg, "link_pattern", spec.link_pattern, effective)
        try:
            wanted = re.compile(pattern)
        except re.error as err:
            raise DeclarationError(f"[{cfg.name}.fetch] link_pattern {pattern!r}: {err}") from None
        page = spec.landing_page
        links = _links(fetch_page(page, session=session, timeout=timeout), page)
        postings = [link for link in links if wanted.search(link)]
        if not postings:
            return Waiting(f"{page}: no link matches {pattern!r}")
        candidate = _from_url(postings[-1], state, downloads, expected_sha256, session, timeout)
        if len(postings) > 1:
            note = f"{len(postings)} postings on {page}; took the last in page order"
            candidate = candidate._replace(note=note)
    return _found(candidate, effective, _label(version, effective), state)


def remember(cfg: SourceConfig, found: Found, warehouse_dir: Path) -> None:
    """Record that `found` was taken, so that later runs skip it (a new content for the same
    effective date becomes the next correction). Call it only once the release is loaded (or
    skipped as unchanged): a release never remembered is downloaded and offered again."""
    path = state_file(warehouse_dir, cfg.name)
    state = _read_state(path)
    if cfg.fetch is not None and cfg.fetch.drop_folder:
        taken = state["taken"].setdefault(cfg.fetch.drop_folder, [])
        if found.record not in taken:
            taken.append(found.record)
    else:
        state["urls"][found.source] = found.record
    releases = state["releases"].setdefault(found.effective.isoformat(), [])
    if all(r["sha256"] != found.sha256 for r in releases):
        releases.append({"source": found.source, "sha256": found.sha256})
    _write_state(path, state)


class _Candidate(NamedTuple):
    path: Path
    source: str
    sha256: str
    record: dict[str, Any]  # what remember() writes
    unchanged: bool = False
    note: str = ""


def _from_url(
    url: str,
    state: dict[str, Any],
    downloads: Path,
    expected: str | None,
    session: requests.Session | None,
    timeout: tuple[float, float],
) -> _Candidate:
    known = state["urls"].get(url, {})
    validators = {"etag": known.get("etag"), "last_modified": known.get("last_modified")}
    got = download(url, downloads, session=session, timeout=timeout, **validators)
    if got is None:  # 304 Not Modified: what was remembered (its file may since be deleted)
        return _Candidate(Path(known["path"]), url, known["sha256"], known, unchanged=True)
    assert got.sha256 is not None
    if expected is not None and got.sha256 != expected.lower():
        if str(got.path) != known.get("path"):
            got.path.unlink()
            with contextlib.suppress(OSError):  # not empty: it holds another download
                got.path.parent.rmdir()
        problem = f"sha256 mismatch: expected {expected}, got {got.sha256} (download not kept)"
        raise FetchError(url, problem)
    record = {
        "etag": got.etag,
        "last_modified": got.last_modified,
        "sha256": got.sha256,
        "path": str(got.path),
    }
    return _Candidate(got.path, url, got.sha256, record, got.sha256 == known.get("sha256"))


def _from_drop_folder(
    folder: Path, taken: list[dict[str, Any]], expected: str | None
) -> _Candidate | None:
    """The newest file or directory of `folder` not taken yet; None if there is none."""
    entries = sorted(folder.iterdir()) if folder.is_dir() else []
    new: list[dict[str, Any]] = []
    for entry in entries:
        if entry.name.startswith((".", "~$")) or not (
            entry.is_dir() or entry.suffix.lower() in RELEASE_SUFFIXES
        ):
            continue
        seen = _seen(entry)
        if any(all(t.get(k) == v for k, v in seen.items()) for t in taken):
            continue  # same name, size and mtime as one taken: not hashed again
        seen["sha256"] = _sha256(entry)
        if all(t.get("sha256") != seen["sha256"] for t in taken):
            new.append(seen)
    if not new:
        return None
    record = max(new, key=lambda n: (n["mtime_ns"], n["name"]))
    path = folder / record["name"]
    if expected is not None and record["sha256"] != expected.lower():
        raise FetchError(str(path), f"sha256 mismatch: expected {expected}, got {record['sha256']}")
    note = ""
    if len(new) > 1:
        names = ", ".join(n["name"] for n in new)
        note = f"{len(new)} new releases in {folder} ({names}); took the newest: {path.name}"
    return _Candidate(path, str(path), record["sha256"], record, note=note)


def _found(candidate: _Candidate, effective: date, base: str, state: dict[str, Any]) -> Found:
    """The candidate as a Found: its correction number is its place among the contents taken
    for `effective` (a new content comes after them)."""
    path, source, sha256, record, unchanged, note = candidate
    taken = [r["sha256"] for r in state["releases"].get(effective.isoformat(), [])]
    correction = taken.index(sha256) if sha256 in taken else len(taken)
    version = base + (f"r{correction}" if correction else "")
    unchanged = unchanged or sha256 in taken
    return Found(path, source, effective, version, sha256, unchanged, correction, note, record)


def _label(version: str, effective: date) -> str:
    return version.format(**template_values(effective))


def _fill(cfg: SourceConfig, key: str, template: str, effective: date) -> str:
    values = template_values(effective)
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as err:
        raise DeclarationError(
            f"[{cfg.name}.fetch] {key} {template!r} is not a format of "
            f"{', '.join(values)} (double a literal brace): {type(err).__name__}: {err}"
        ) from None


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value.strip() for name, value in attrs if name == "href" and value)


def _links(html: str, page: str) -> list[str]:
    """The distinct links of a page, resolved against its URL, in page order."""
    parser = _Links()
    parser.feed(html)
    parser.close()
    return list(dict.fromkeys(urljoin(page, href) for href in parser.hrefs))


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def _seen(path: Path) -> dict[str, Any]:
    """Name, size and newest mtime (of a directory: of its files, and itself)."""
    stats = [f.stat() for f in _files(path)]
    mtime = max([path.stat().st_mtime_ns, *(s.st_mtime_ns for s in stats)])
    return {"name": path.name, "size": sum(s.st_size for s in stats), "mtime_ns": mtime}


def _sha256(path: Path) -> str:
    """sha256 of a file; of a directory, of each file's relative path and sha256."""
    if path.is_file():
        return sha256_of(path)
    digest = hashlib.sha256()
    for file in _files(path):
        digest.update(f"{file.relative_to(path).as_posix()}\0{sha256_of(file)}\n".encode())
    return digest.hexdigest()


def _read_state(path: Path) -> dict[str, Any]:
    state: dict[str, Any] = {"urls": {}, "releases": {}, "taken": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return state
    except (OSError, ValueError) as err:
        raise FetchError(str(path), f"cannot read the remembered fetch state: {err}") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k, {}), dict) for k in state):
        raise FetchError(
            str(path), "not a fetch state file (a JSON object of urls, releases, taken)"
        )
    return state | data


def _write_state(path: Path, state: dict[str, Any]) -> None:
    """Write the state whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_text(path, json.dumps(state, indent=2, sort_keys=True) + "\n")

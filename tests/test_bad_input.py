"""Bad input: a malformed release is refused with a message naming file, line, column and value.

Every test damages a private copy of the 2026 release and refreshes it as the correction `2026r1`
(which an undamaged copy passes, see the control test) into a warehouse already holding 2024-2026.
After the refusal the loaded tables and the published tree are byte-for-byte as before, and the
attempt is recorded in `load_attempts` as 'rejected' with its message and failures.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from local_http import LocalServer, Response, serving
from warehouse_state import attempts, snapshot

from codecatalog import warehouse
from codecatalog.diff.changes import CHANGE_COLUMNS, changes_between
from codecatalog.errors import (
    CodecatalogError,
    DecodeError,
    FetchError,
    SourceLayoutError,
    ValidationFailed,
    VersionError,
)
from codecatalog.pipeline import refresh
from codecatalog.sources import source

LONGULT = "standard/LONGULT.txt"
MEDU = "standard/MEDU.txt"
SHORTU = "standard/SHORTU.txt"
CONSUMER = "standard/Consumer Friendly Descriptors/ConsumerDescriptor.txt"
CLINICIAN = "standard/Clinician Descriptors/ClinicianDescriptor.txt"
CODE_SHAPE = r"code_shape(pattern=\d{5}|\d{4}[FTUAM])"
CRLF = b"\r\n"


# ------------------------------------------------------------------------------------ helpers
def loaded_sha(warehouse: Path, version: str) -> str:
    con = duckdb.connect(str(warehouse / "codecatalog.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT content_sha256 FROM releases WHERE codeset = 'cpt' AND version = ?", [version]
        ).fetchone()[0]
    finally:
        con.close()


def refuse(
    warehouse: Path, release: Path | str, error: type[CodecatalogError], version: str = "2026r1"
) -> tuple[CodecatalogError, dict]:
    """Refresh `release` as `version`, expecting `error`; check nothing changed and the attempt.

    Returns the exception and the recorded attempt.
    """
    before = snapshot(warehouse)
    count = len(attempts(warehouse))
    with pytest.raises(error) as caught:
        refresh("cpt", str(release), version, warehouse_dir=warehouse)
    assert snapshot(warehouse) == before
    recorded = attempts(warehouse)
    assert len(recorded) == count + 1
    attempt = recorded[-1]
    assert (attempt["codeset"], attempt["version"], attempt["source"], attempt["outcome"]) == (
        "cpt",
        version,
        str(release),
        "rejected",
    )
    assert attempt["message"] == str(caught.value)
    expected = caught.value.failures if isinstance(caught.value, ValidationFailed) else []
    assert attempt["failures"] == [f.__dict__ for f in expected]
    return caught.value, attempt


def lines_of(path: Path) -> list[bytes]:
    """Physical lines (CRLF-terminated files), without their line ends."""
    data = path.read_bytes()
    assert data.endswith(CRLF)
    return data[: -len(CRLF)].split(CRLF)


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + CRLF for line in lines))


def first_data_line(lines: list[bytes]) -> int:
    """0-based index of the first data line of a licence-preamble file."""
    return max(i for i, line in enumerate(lines) if not line.strip()) + 1


def codes_by_line(path: Path) -> dict[str, int]:
    """Code -> 1-based line number in LONGULT/MEDU/SHORTU (code in columns 1-5)."""
    lines = lines_of(path)
    start = first_data_line(lines)
    return {lines[i][:5].decode("ascii"): i + 1 for i in range(start, len(lines))}


def tab_line(path: Path, code: str) -> int:
    """1-based line where `code` first appears in the `CPT Code` column of a tab file."""
    lines = lines_of(path)
    column = lines[0].lstrip(b"\xef\xbb\xbf").split(b"\t").index(b"CPT Code")
    return next(i + 1 for i, line in enumerate(lines) if line.split(b"\t")[column] == code.encode())


def missing_check(release: Path, code: str, lines: dict[str, int]) -> str:
    """The check text of a `code missing from this file` failure; `lines` maps file -> line."""
    for member in (CONSUMER, CLINICIAN):
        lines.setdefault(member, tab_line(release / member, code))
    order = [LONGULT, MEDU, SHORTU, CONSUMER, CLINICIAN]
    seen = ", ".join(f"{m} line {lines[m]}" for m in order if m in lines)
    return f"code missing from this file (present in {seen})"


def where(failures) -> list[tuple]:
    return [(f.file, f.line, f.column, f.value) for f in failures]


@pytest.fixture
def release26(release_copy) -> Path:
    return release_copy(2026)


# ------------------------------------------------------------------------------------ control
def test_undamaged_copy_loads_as_correction(loaded_warehouse: Path, release26: Path) -> None:
    before = snapshot(loaded_warehouse)
    result = refresh("cpt", str(release26), "2026r1", warehouse_dir=loaded_warehouse)
    assert (result.outcome, result.previous, result.latest) == ("loaded", "2026", "2026r1")
    assert set(result.counts.values()) == {0}
    after = snapshot(loaded_warehouse)
    releases = after["tables"]["releases"]
    assert releases["version"].to_pylist() == ["2024", "2025", "2026", "2026r1"]
    assert releases.slice(0, 3).to_pylist() == before["tables"]["releases"].to_pylist()
    pointers = ("cpt/latest.json", "cpt/current.json")  # both name 2026r1 now
    kept = {k: v for k, v in before["published"].items() if k not in pointers}
    assert {k: after["published"][k] for k in kept} == kept  # published versions are immutable
    assert "cpt/2026r1/manifest.json" in after["published"]
    assert attempts(loaded_warehouse)[-1]["outcome"] == "loaded"


# ------------------------------------------------------------------------------------ 1. duplicate
def test_duplicated_code_in_longult(loaded_warehouse: Path, release26: Path) -> None:
    path = release26 / LONGULT
    lines = lines_of(path)
    index = first_data_line(lines) + 10
    code = lines[index][:5].decode()
    write_lines(path, [*lines, lines[index]])

    err, _ = refuse(loaded_warehouse, release26, ValidationFailed)

    first, copy = index + 1, len(lines) + 1
    assert where(err.failures) == [
        (LONGULT, first, "code", code),
        (LONGULT, copy, "code", code),
    ]
    assert {f.check for f in err.failures} == {"field_uniqueness"}
    assert str(err) == (
        f"cpt-2026: 2 validation failure(s)\n"
        f"  {LONGULT}: line {first}, column 'code': field_uniqueness (value '{code}')\n"
        f"  {LONGULT}: line {copy}, column 'code': field_uniqueness (value '{code}')"
    )


# ------------------------------------------------------------------------------------ 2. bad code
@pytest.mark.parametrize("bad", ["1234X", "ABCDE"])
def test_malformed_code_in_medu(loaded_warehouse: Path, release26: Path, bad: str) -> None:
    path = release26 / MEDU
    lines = lines_of(path)
    index = first_data_line(lines) + 100
    code = lines[index][:5].decode()
    assert not code.endswith("U")  # not a PLA code: the check text then names no CPTPLA line
    lines[index] = bad.encode() + lines[index][5:]
    write_lines(path, lines)
    number = index + 1

    err, _ = refuse(loaded_warehouse, release26, ValidationFailed)

    assert where(err.failures) == [
        (LONGULT, None, "code", bad),  # the bad code is in MEDU only ...
        (MEDU, None, "code", code),  # ... and the code it replaced is missing from MEDU
        (MEDU, number, "code", bad),
        (SHORTU, None, "code", bad),
    ]
    in_medu_only = f"code missing from this file (present in {MEDU} line {number})"
    assert [f.check for f in err.failures] == [
        in_medu_only,
        missing_check(release26, code, {LONGULT: number, SHORTU: number}),
        CODE_SHAPE,
        in_medu_only,
    ]
    assert f"{MEDU}: line {number}, column 'code': {CODE_SHAPE} (value '{bad}')" in str(err)


# ------------------------------------------------------------------------------------ 3./4. bytes
def _insert(path: Path, line_index: int, field: int, data: bytes) -> tuple[int, int]:
    """Insert `data` 2 bytes into tab-separated `field` of line `line_index` (0-based).

    Returns (byte offset of the inserted bytes, 1-based line number).
    """
    content = path.read_bytes()
    lines = content.split(CRLF)
    cells = lines[line_index].split(b"\t")
    assert len(cells[field]) > 2
    offset = sum(len(line) + len(CRLF) for line in lines[:line_index])
    offset += sum(len(cell) + 1 for cell in cells[:field]) + 2
    path.write_bytes(content[:offset] + data + content[offset:])
    return offset, line_index + 1


def test_byte_undefined_in_cp1252(loaded_warehouse: Path, release26: Path) -> None:
    path = release26 / LONGULT
    offset, line = _insert(path, first_data_line(lines_of(path)) + 5, 1, b"\x81")

    err, attempt = refuse(loaded_warehouse, release26, DecodeError)

    assert (err.file, err.byte_offset, err.line) == (LONGULT, offset, line)
    assert str(err) == (
        f"{LONGULT}: line {line}, byte offset {offset}: "
        "byte 0x81 is neither valid UTF-8 nor defined in cp1252"
    )
    assert attempt["content_sha256"] is None


def test_byte_invalid_in_utf8_file_after_valid_multibyte_char(
    loaded_warehouse: Path, release26: Path
) -> None:
    path = release26 / CLINICIAN
    _insert(path, 1, 3, "Á".encode())  # valid UTF-8 (C3 81) in the first descriptor
    offset, line = _insert(path, 40, 3, b"\x81")

    err, _ = refuse(loaded_warehouse, release26, DecodeError)

    assert (err.file, err.byte_offset, err.line) == (CLINICIAN, offset, line)


def test_utf16_file(loaded_warehouse: Path, release26: Path) -> None:
    path = release26 / CONSUMER
    path.write_bytes(path.read_bytes().decode("utf-8-sig").encode("utf-16"))

    err, _ = refuse(loaded_warehouse, release26, DecodeError)

    assert (err.file, err.byte_offset, err.line) == (CONSUMER, 0, 1)
    assert str(err) == (
        f"{CONSUMER}: line 1, byte offset 0: UTF-16LE byte-order mark: "
        "expected UTF-8 or cp1252 text"
    )


@pytest.mark.parametrize(
    ("member", "line_index", "field"),
    [(LONGULT, 16, 1), (CONSUMER, 7, 2)],  # cp1252; utf-8-sig (the offset counts the BOM)
)
def test_nul_byte_in_descriptor(
    loaded_warehouse: Path, release26: Path, member: str, line_index: int, field: int
) -> None:
    offset, line = _insert(release26 / member, line_index, field, b"\x00")

    err, _ = refuse(loaded_warehouse, release26, DecodeError)

    assert (err.file, err.byte_offset, err.line) == (member, offset, line)
    assert str(err) == f"{member}: line {line}, byte offset {offset}: control character U+0000"


# ------------------------------------------------------------------------------------ 5. missing
def test_code_missing_from_medu(loaded_warehouse: Path, release26: Path) -> None:
    path = release26 / MEDU
    lines = lines_of(path)
    index = first_data_line(lines) + 100
    code = lines[index][:5].decode()
    assert not code.endswith("U")
    write_lines(path, lines[:index] + lines[index + 1 :])
    number = index + 1  # its line in LONGULT and SHORTU, which are untouched

    err, _ = refuse(loaded_warehouse, release26, ValidationFailed)

    assert where(err.failures) == [(MEDU, None, "code", code)]
    check = missing_check(release26, code, {LONGULT: number, SHORTU: number})
    assert f"present in {LONGULT} line {number}, " in check
    assert [f.check for f in err.failures] == [check]
    assert str(err) == (
        f"cpt-2026: 1 validation failure(s)\n  {MEDU}: file, column 'code': {check} "
        f"(value '{code}')"
    )


# ------------------------------------------------------------------------------------ 6. empty/cut
def test_empty_longult(loaded_warehouse: Path, release26: Path) -> None:
    codes = codes_by_line(release26 / MEDU)
    (release26 / LONGULT).write_bytes(b"")

    err, _ = refuse(loaded_warehouse, release26, ValidationFailed)

    assert err.failures[0].__dict__ == {
        "file": LONGULT,
        "line": None,
        "column": "",
        "check": "file has no data rows",
        "value": "",
    }
    assert sorted(where(err.failures[1:])) == sorted(
        (LONGULT, None, "code", code) for code in codes
    )
    for f in err.failures[1:]:
        line = codes[f.value]
        assert f.check.startswith(
            f"code missing from this file (present in {MEDU} line {line}, {SHORTU} line {line}"
        )
    assert str(err).startswith(
        f"cpt-2026: {len(codes) + 1} validation failure(s)\n"
        f"  {LONGULT}: file, column '': file has no data rows (value '')\n"
        f"  {LONGULT}: file, column 'code': code missing from this file"
    )
    assert str(err).endswith(f"\n  ... and {len(codes) + 1 - 20} more")


def test_truncated_medu(loaded_warehouse: Path, release26: Path) -> None:
    path = release26 / MEDU
    content = path.read_bytes()
    cut_line = content.index(CRLF, len(content) // 2) + len(CRLF)  # start of a line halfway
    path.write_bytes(content[: cut_line + 12])  # code, space and 6 descriptor characters
    longult = codes_by_line(release26 / LONGULT)
    cut_number = content.count(b"\n", 0, cut_line) + 1
    lost = {code: line for code, line in longult.items() if line > cut_number}
    assert len(lost) > 5000

    err, _ = refuse(loaded_warehouse, release26, ValidationFailed)

    assert sorted(where(err.failures)) == sorted((MEDU, None, "code", code) for code in lost)
    for f in err.failures:
        assert f.check.startswith(
            f"code missing from this file (present in {LONGULT} line {lost[f.value]}, "
            f"{SHORTU} line {lost[f.value]}"
        )
    assert str(err).startswith(
        f"cpt-2026: {len(lost)} validation failure(s)\n  {MEDU}: file, column 'code': "
    )


# ------------------------------------------------------------------------------------ 7. layout
def test_missing_required_file(loaded_warehouse: Path, release26: Path) -> None:
    (release26 / SHORTU).unlink()

    err, attempt = refuse(loaded_warehouse, release26, SourceLayoutError)

    assert str(err) == "cpt-2026: required file 'SHORTU.txt' not found"
    assert attempt["content_sha256"] is None


# ------------------------------------------------------------------------------------ 8./9. labels
def test_version_contradicted_by_preamble(loaded_warehouse: Path, samples: Path) -> None:
    err, attempt = refuse(loaded_warehouse, samples / "cpt-2025", VersionError, version="2027")

    # The wording between the parts may change; the label, the file and the year must be there.
    assert re.fullmatch(rf"version 2027 contradicts {re.escape(LONGULT)}: [^\n]*\b2025", str(err))
    assert attempt["content_sha256"] == loaded_sha(loaded_warehouse, "2025")


def test_malformed_version_label_is_recorded(loaded_warehouse: Path, release26: Path) -> None:
    err, _ = refuse(loaded_warehouse, release26, VersionError, version="2026-1")
    assert "'2026-1' is not YYYY, YYYYQn" in str(err)


def test_different_content_under_loaded_version(loaded_warehouse: Path, release26: Path) -> None:
    path = release26 / LONGULT
    lines = lines_of(path)
    index = first_data_line(lines) + 2000
    assert not lines[index][:5].endswith(b"U")
    lines[index] = lines[index][:6] + b"Entirely rewritten descriptor text"
    write_lines(path, lines)
    old = loaded_sha(loaded_warehouse, "2026")

    err, attempt = refuse(loaded_warehouse, release26, VersionError, version="2026")

    new = attempt["content_sha256"]
    assert new is not None and new != old
    assert str(err) == (
        f"cpt 2026 is already loaded with different content (sha256 {old[:12]}…, now "
        f"{new[:12]}…); load the new content as a correction, e.g. 2026r1"
    )


def test_same_content_again_is_a_no_op(loaded_warehouse: Path, samples: Path) -> None:
    before = snapshot(loaded_warehouse)
    count = len(attempts(loaded_warehouse))
    release = samples / "cpt-2026"

    result = refresh("cpt", str(release), "2026", warehouse_dir=loaded_warehouse)

    assert (result.outcome, result.latest, result.previous) == ("unchanged", "2026", "2025")
    assert snapshot(loaded_warehouse) == before
    recorded = attempts(loaded_warehouse)
    assert len(recorded) == count + 1
    attempt = recorded[-1]
    assert {k: attempt[k] for k in ("version", "source", "outcome", "message", "failures")} == {
        "version": "2026",
        "source": str(release),
        "outcome": "unchanged",
        "message": "",
        "failures": [],
    }
    assert attempt["content_sha256"] == loaded_sha(loaded_warehouse, "2026")


# ------------------------------------------------------------------------------------ 10. http
@pytest.fixture(scope="module")
def release_zip(samples: Path) -> bytes:
    """The undamaged 2026 release as a zip, member paths relative to the release root."""
    root = samples / "cpt-2026"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(root).as_posix())
    return buf.getvalue()


@pytest.fixture
def server(release_zip: bytes) -> Iterator[LocalServer]:
    routes = {
        "/ok/cpt-2026.zip": lambda hits: Response(200, release_zip),
        "/truncated.zip": lambda hits: Response(
            200, release_zip[: len(release_zip) // 3], length=len(release_zip)
        ),
    }
    with serving(routes) as srv:
        yield srv


def _files_under(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


def test_http_404(loaded_warehouse: Path, server: LocalServer) -> None:
    url = server.url("/cpt-2026.zip")

    err, attempt = refuse(loaded_warehouse, url, FetchError)

    assert (err.source, str(err)) == (url, f"{url}: HTTP 404 Not Found")
    assert server.hits["/cpt-2026.zip"] == 1  # not retried
    assert attempt["content_sha256"] is None
    assert _files_under(loaded_warehouse / "downloads") == []


def test_http_truncated_body(
    loaded_warehouse: Path, server: LocalServer, release_zip: bytes
) -> None:
    url = server.url("/truncated.zip")

    err, _ = refuse(loaded_warehouse, url, FetchError)

    assert err.source == url
    assert str(err).startswith(f"{url}: download failed: ")
    sent, expected = len(release_zip) // 3, len(release_zip)
    assert f"{sent} bytes read, {expected - sent} more expected" in str(err)
    assert server.hits["/truncated.zip"] == 1  # the body had started: not retried
    assert _files_under(loaded_warehouse / "downloads") == []


def test_http_zip_loads_as_correction(
    loaded_warehouse: Path, server: LocalServer, release_zip: bytes
) -> None:
    url = server.url("/ok/cpt-2026.zip")

    result = refresh("cpt", url, "2026r1", warehouse_dir=loaded_warehouse)

    assert (result.outcome, result.previous, result.latest) == ("loaded", "2026", "2026r1")
    assert loaded_sha(loaded_warehouse, "2026r1") == loaded_sha(loaded_warehouse, "2026")
    sha = hashlib.sha256(release_zip).hexdigest()
    assert _files_under(loaded_warehouse / "downloads") == [
        loaded_warehouse / "downloads" / sha[:16] / "cpt-2026.zip"
    ]
    con = warehouse.open_reader(loaded_warehouse)
    try:
        changes = changes_between(con, source("cpt"), "2026", "2026r1")
    finally:
        con.close()
    assert list(changes.columns) == CHANGE_COLUMNS
    assert changes.empty
    assert attempts(loaded_warehouse)[-1]["outcome"] == "loaded"

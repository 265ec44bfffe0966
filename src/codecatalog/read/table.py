"""The `table` family: CSV, TSV and XLSX files of a declared source, read into a staging DuckDB.

Every table member of a release (chosen by content: an xlsx is a zip holding a spreadsheet, text
is anything else that is not binary) is read into one table `catalog` of a fresh DuckDB file:
one VARCHAR column per declared column (our names, declaration order; values trimmed, blank ->
NULL, `pad` restores leading zeros of digit-only values), plus `_file` (the file's display name,
`zip!member` inside a zip) and `_line` (the 1-based physical line where the record starts in the
decoded text, quoted newlines and rows above the header counted; the sheet row for xlsx).

Text goes file -> DuckDB without per-row Python: one streaming pass hashes the bytes, checks the
encoding (decode.py's rules) and counts line breaks; DuckDB's `read_csv` then loads the rows. When
the row count and the line count agree, `_line` is the header's end plus the row's ordinal; only
when they do not (quoted newlines, blank lines between rows) are exact start lines computed.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import hashlib
import mmap
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any

import duckdb

from codecatalog.duckdb_settings import configure
from codecatalog.errors import (
    DeclarationError,
    DecodeError,
    Failure,
    ReleaseFormatError,
    SourceLayoutError,
    ValidationFailed,
)
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.release import Release, SourceFile
from codecatalog.sources import Column, SourceConfig, normalise_header
from codecatalog.sql import literal, quote

TABLE = "catalog"
ROLE = "table"
XLSX_BATCH_ROWS = 50_000
_CHUNK = 4 * 1024 * 1024
_SNIFF = 64 * 1024
# What Python's str.strip() removes (C0 separators included; other controls are refused anyway).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32LE"),
    (codecs.BOM_UTF32_BE, "UTF-32BE"),
    (codecs.BOM_UTF16_LE, "UTF-16LE"),
    (codecs.BOM_UTF16_BE, "UTF-16BE"),
)
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_CONTROL = re.compile(b"[" + re.escape(_CONTROL_BYTES) + b"]")
_BINARY_MAGIC = (b"%PDF", b"\xd0\xcf\x11\xe0")  # PDF, OLE2 (xls, doc)
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_NEXT = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?=[\r\n])")  # a line end before an empty line
# DuckDB's reject error types, as our check words.
_REJECT_CHECKS = {
    "TOO MANY COLUMNS": "field count",
    "MISSING COLUMNS": "field count",
    "UNQUOTED VALUE": "quoting",
}


# --- pure helpers ---------------------------------------------------------------------------


def cell_text(value: object) -> str | None:
    """An xlsx cell value as text (None for a blank cell).

    Integers (and integral floats) have no `.0`; other floats are their shortest round-trip
    decimal; a date or a datetime at midnight is `YYYY-MM-DD`, other datetimes
    `YYYY-MM-DDTHH:MM:SS`; booleans are `TRUE`/`FALSE`; strings are trimmed.

    >>> [cell_text(v) for v in (100, 100.0, 0.1, True, datetime(2024, 1, 31), " x ", "  ")]
    ['100', '100', '0.1', 'TRUE', '2024-01-31', 'x', None]
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(timespec="seconds" if not value.microsecond else "auto")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value).strip() or None


def join_header_rows(rows: Sequence[Sequence[str]]) -> list[str]:
    """Stacked header rows joined per column with a space (whitespace collapsed, case kept).

    >>> join_header_rows([["Column 1", "Deletion"], ["", "Date"], ["", "*=no data"]])
    ['Column 1', 'Deletion Date *=no data']
    """
    width = max((len(row) for row in rows), default=0)
    return [
        " ".join(" ".join(row[i] if i < len(row) else "" for row in rows).split())
        for i in range(width)
    ]


def resolve_columns(
    headers: Sequence[str], columns: Sequence[Column], file: str, line: int | None
) -> tuple[dict[str, int], list[Failure]]:
    """The position of each declared column among `headers`, and the failures: a declared
    header that is missing, or that names two columns of the file."""
    positions: dict[str, list[int]] = {}
    for i, header in enumerate(headers):
        positions.setdefault(normalise_header(header), []).append(i)
    found: dict[str, int] = {}
    failures: list[Failure] = []
    for column in columns:
        hits = positions.get(normalise_header(column.header), [])
        if not hits:
            failures.append(Failure(file, line, column.name, "missing column", column.header))
        elif len(hits) > 1:
            failures.append(Failure(file, line, column.name, "duplicate header", headers[hits[0]]))
        else:
            found[column.name] = hits[0]
    return found, failures


def separating_blanks(blanks: Sequence[int], multiline: Sequence[tuple[int, int]]) -> list[int]:
    """Where the blank lines that separate records (not those inside a quoted value) fall.

    `blanks` are the sorted physical numbers of the empty lines; `multiline` the sorted
    (start line, line breaks inside) of the records spanning several lines, their start lines
    counted as if no blank line separated records. Returns, per separating blank line, that
    count-as-if position: every record starting at or after it moves down one line.

    Line 3 a record, 4 blank, 5-7 a record whose quoted value holds the empty line 6, 8 blank:

    >>> separating_blanks([4, 6, 8], [(4, 2)])
    [4, 7]
    """
    cuts: list[int] = []
    k = 0
    for blank in blanks:
        at = blank - len(cuts)  # the position it has if it is not a separator
        while k < len(multiline) and sum(multiline[k]) < at:
            k += 1
        if k < len(multiline) and multiline[k][0] < at <= sum(multiline[k]):
            continue  # an empty line inside a quoted value
        cuts.append(at)
    return cuts


def _breaks(data: bytes, after_cr: bool = False, lf: int | None = None) -> int:
    """Line breaks in `data` (CRLF, LF or CR); `after_cr`: the byte before it was a CR; `lf`:
    its LF count when known."""
    n = data.count(b"\n") if lf is None else lf
    cr = data.count(b"\r")
    if cr:
        n += cr - data.count(b"\r\n")
    if after_cr and data[:1] == b"\n":
        n -= 1  # the LF of a CRLF split across chunks
    return n


# --- reading members ------------------------------------------------------------------------


@dataclass
class _Scan:
    """What one streaming pass over a member's bytes found."""

    sha256: str
    size: int
    kind: str  # "text", "xlsx" or "skip"
    path: Path  # the bytes on disk (the member itself, or a temp copy)
    encoding: str = "utf-8"
    lines: int = 0  # physical lines, empty trailing lines excluded
    lines_all: int = 0  # physical lines, empty trailing lines included
    plain: bool = False  # ASCII without a quote character
    decode_error: DecodeError | None = None
    utf8_error: tuple[int, int] | None = None  # first invalid UTF-8 byte: offset, line


@dataclass
class _Counter:
    """Streaming line-break and LF counts with the state carried across chunks."""

    breaks: int = 0
    lf: int = 0
    after_cr: bool = False
    tail: bytearray = field(default_factory=bytearray)  # the trailing run of CR/LF bytes

    def add(self, chunk: bytes) -> None:
        lf = chunk.count(b"\n")
        self.breaks += _breaks(chunk, self.after_cr, lf)
        self.lf += lf
        self.after_cr = chunk.endswith(b"\r")
        body = chunk.rstrip(b"\r\n")
        if body:
            self.tail = bytearray(chunk[len(body) :])
        else:
            self.tail += chunk

    def lines(self, size: int) -> tuple[int, int]:
        """(lines without empty trailing ones, all lines)."""
        if size == 0:
            return 0, 0
        trailing = _breaks(bytes(self.tail))
        every = self.breaks + (0 if trailing else 1)
        return every - max(trailing - 1, 0), every


def _kind(head: bytes) -> str:
    """`zip`, `text` or `skip` (binary) from a file's first bytes."""
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if any(head.startswith(bom) for bom, _ in _WIDE_BOMS):
        return "text"  # refused by the decoding rules, not skipped
    if head.startswith(_BINARY_MAGIC) or b"\x00" in head:
        return "skip"
    return "text"


def _is_xlsx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            if "[Content_Types].xml" not in zf.namelist():
                return False
            types = zf.read("[Content_Types].xml")
    except (zipfile.BadZipFile, OSError, KeyError):
        return False
    return b"spreadsheetml" in types or b"ms-excel" in types


def _scan(archive: ReleaseArchive, member: str, file: str, tmp: Path) -> _Scan:
    """Hash, size and (for text) encoding and line counts of one member in one streaming pass;
    a zip member is copied to a temp file on the way (DuckDB and openpyxl read paths)."""
    sha = hashlib.sha256()
    size = 0
    counter = _Counter()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8_error: tuple[int, int] | None = None
    control: tuple[int, int, int] | None = None  # offset, line, byte
    kind = ""
    plain = True
    with ExitStack() as stack:
        chunks, path = stack.enter_context(archive.open_member(member))
        copy: IO[bytes] | None = None
        if path is None:
            handle, name = tempfile.mkstemp(suffix=".member", dir=tmp)
            path = Path(name)
            copy = stack.enter_context(os.fdopen(handle, "wb"))
        for chunk in chunks:
            if not kind:
                kind = _kind(chunk[:_SNIFF])
                if kind == "skip":
                    break
                wide = [label for bom, label in _WIDE_BOMS if chunk.startswith(bom)]
                if kind == "text" and wide:
                    problem = f"{wide[0]} byte-order mark: expected UTF-8 or cp1252 text"
                    raise DecodeError(file, 0, 1, problem)
            sha.update(chunk)
            if copy is not None:
                copy.write(chunk)
            if kind == "text":
                ascii_only = chunk.isascii()
                plain = plain and ascii_only and b'"' not in chunk
                if utf8_error is None and (not ascii_only or decoder.getstate()[0]):
                    pending = len(decoder.getstate()[0])
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError as e:
                        at = size - pending + e.start
                        utf8_error = (at, counter.lf + _lf_before(chunk, at - size) + 1)
                if control is None and len(chunk.translate(None, _CONTROL_BYTES)) < len(chunk):
                    hit = _CONTROL.search(chunk)
                    assert hit is not None
                    control = (
                        size + hit.start(),
                        counter.lf + chunk.count(b"\n", 0, hit.start()) + 1,
                        chunk[hit.start()],
                    )
                counter.add(chunk)
            size += len(chunk)
    if kind == "skip":
        return _Scan("", 0, "skip", path)
    if kind == "zip":
        return _Scan(sha.hexdigest(), size, "xlsx" if _is_xlsx(path) else "skip", path)
    if utf8_error is None:
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as e:
            utf8_error = (size - pending + e.start, counter.lf + 1)
    lines, lines_all = counter.lines(size)
    scan = _Scan(sha.hexdigest(), size, "text", path, lines=lines, lines_all=lines_all)
    scan.utf8_error = utf8_error
    scan.plain = plain
    with path.open("rb") as f:
        has_bom = f.read(3) == codecs.BOM_UTF8
    scan.encoding = "cp1252" if utf8_error else ("utf-8-sig" if has_bom else "utf-8")
    if control is not None:
        offset, line, byte = control
        scan.decode_error = DecodeError(file, offset, line, f"control character U+{byte:04X}")
    return scan


def _lf_before(chunk: bytes, end: int) -> int:
    return chunk.count(b"\n", 0, max(end, 0))


def _to_utf8(scan: _Scan, file: str, tmp: Path) -> Path:
    """Re-encode a cp1252 file as UTF-8 (streaming); DecodeError for an undefined byte, placed
    as decode_text places it (the later of the UTF-8 and cp1252 failures)."""
    assert scan.utf8_error is not None
    handle, name = tempfile.mkstemp(suffix=".utf8", dir=tmp)
    out = Path(name)
    offset = 0
    lf = 0
    with scan.path.open("rb") as src, os.fdopen(handle, "wb") as dst:
        while chunk := src.read(_CHUNK):
            try:
                text = chunk.decode("cp1252")
            except UnicodeDecodeError as e:
                at = offset + e.start
                line = lf + chunk.count(b"\n", 0, e.start) + 1
                if scan.utf8_error[0] > at:
                    at, line = scan.utf8_error
                with scan.path.open("rb") as again:
                    again.seek(at)
                    byte = again.read(1)[0]
                raise DecodeError(
                    file,
                    at,
                    line,
                    f"byte 0x{byte:02X} is neither valid UTF-8 nor defined in cp1252",
                ) from None
            dst.write(text.encode("utf-8"))
            offset += len(chunk)
            lf += chunk.count(b"\n")
    return out


# --- text files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    delimiter: str
    line: int  # physical line of the (first) header row
    data_start: int  # physical line where the data begins
    skip: int  # CSV records before the data (blank lines count), as read_csv's `skip` counts
    headers: list[str]  # joined header names per column position


@dataclass(frozen=True)
class _Record:
    index: int  # 0-based, blank lines included
    start: int  # physical line where it starts
    end: int  # physical line where it ends
    cells: list[str]


def _records(path: Path, delimiter: str) -> Generator[_Record]:
    """The CSV records of a file with the physical lines they span (a blank line is a record
    without cells, as read_csv counts it in `skip`)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
        start = 1
        with suppress(csv.Error):  # a cell past csv's field size limit ends the search
            for index, cells in enumerate(reader):
                yield _Record(index, start, reader.line_num, cells)
                start = reader.line_num + 1


def _find_text_header(path: Path, cfg: SourceConfig) -> _Header | None:
    """The header row and its delimiter (tab if the header line has one, else comma), with the
    joined names of `header_rows` stacked rows; None when no row matches `cfg.read.header`.

    Without a declared header, row 1 is the header. With one, the file is parsed both ways in
    step, line by line, and the first record with a matching cell wins if its delimiter fits
    (a tab-parsed record of several cells, or a comma-parsed record holding no tab).
    """
    with ExitStack() as stack:
        if cfg.read.header is None:
            with path.open(encoding="utf-8-sig", newline="") as f:
                delimiter = "\t" if "\t" in f.readline() else ","
            records = _records(path, delimiter)
            stack.callback(records.close)
            hit = next(records, None)
            if hit is None:
                return None
        else:
            wanted = normalise_header(cfg.read.header)
            parsers = {d: _records(path, d) for d in ("\t", ",")}
            for gen in parsers.values():
                stack.callback(gen.close)
            heads = {d: next(g, None) for d, g in parsers.items()}
            while True:
                live = [(head.start, d, head) for d, head in heads.items() if head is not None]
                if not live:
                    return None
                _, delimiter, hit = min(live, key=lambda x: x[0])
                if delimiter == "\t":
                    fits = len(hit.cells) > 1
                else:
                    fits = all("\t" not in c for c in hit.cells)
                if fits and any(normalise_header(c) == wanted for c in hit.cells):
                    break
                heads[delimiter] = next(parsers[delimiter], None)
            records = parsers[delimiter]
        rows = [hit.cells]
        last = hit
        for _ in range(max(cfg.read.header_rows, 1) - 1):
            ended = _Record(last.index + 1, last.end + 1, last.end + 1, [])  # no more records
            last = next(records, ended)
            rows.append(last.cells)
    return _Header(delimiter, hit.start, last.end + 1, last.index + 1, join_header_rows(rows))


def _trim_sql(col: str, ends: str | None = None) -> str:
    """Trimmed value, blank -> NULL. A value starting with a printable ASCII character and not
    ending in whitespace skips the trim; `ends`: the only whitespace a value of this file can
    end with, when the file rules out the rest (None: any)."""
    if ends is None:
        clean_end = f"ascii(reverse({col})) BETWEEN 33 AND 126"
    else:
        clean_end = "NOT (" + " OR ".join(f"suffix({col}, chr({ord(c)}))" for c in ends) + ")"
    return (
        f"CASE WHEN ascii({col}) BETWEEN 33 AND 126 AND {clean_end} THEN {col} "
        f"ELSE nullif(trim({col}, {literal(WHITESPACE)}), '') END"
    )


def _pad_sql(col: str, pad: int | None) -> str:
    if not pad:
        return col
    return (
        f"CASE WHEN length({col}) < {pad} AND regexp_full_match({col}, '[0-9]+') "
        f"THEN lpad({col}, {pad}, '0') ELSE {col} END"
    )


def _insert_sql(
    cfg: SourceConfig,
    found: dict[str, int],
    source: str,
    line: str,
    order: str = "",
    ends: str | None = None,
) -> str:
    """INSERT of `source`'s columns `c<i>` into the catalog, trimmed and padded, with `_line`."""
    inner = ", ".join(
        f"{_trim_sql(f'c{found[c.name]}', ends)} AS v{j}" for j, c in enumerate(cfg.columns)
    )
    outer = ", ".join(_pad_sql(f"v{j}", c.pad) for j, c in enumerate(cfg.columns))
    names = ", ".join(quote(c.name) for c in cfg.columns)
    return (
        f"INSERT INTO {TABLE} ({names}, _file, _line) SELECT {outer}, $file, _line "
        f"FROM (SELECT {inner}, {line} AS _line FROM {source}) {order}"
    )


def _read_csv_sql(path: Path, header: _Header, width: int) -> str:
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    return (
        f"read_csv({literal(str(path))}, auto_detect = false, header = false, "
        f"skip = {header.skip}, delim = {literal(header.delimiter)}, quote = '\"', "
        f"escape = '\"', columns = {columns}, strict_mode = true, store_rejects = true, "
        "rejects_table = '_rejects', rejects_scan = '_reject_scans')"
    )


def _read_text(
    con: duckdb.DuckDBPyConnection,
    scanned: Callable[[], _Scan],
    path: Path,
    cfg: SourceConfig,
    file: str,
    plain: bool,
) -> list[Failure]:
    """Load one CSV/TSV file (UTF-8 at `path`) into the catalog; failures of its structure.

    `scanned()` gives the file's streaming scan (its line counts), which may still be running
    while DuckDB reads; `plain`: the file is ASCII without quotes (a cheaper trim)."""
    header = _find_text_header(path, cfg)
    if header is None:
        return [Failure(file, None, "", "header", cfg.read.header or "")]
    found, failures = resolve_columns(header.headers, cfg.columns, file, header.line)
    if failures:
        return failures
    width = len(header.headers)
    source = _read_csv_sql(path, header, width)
    params = {"file": file}
    first = header.data_start - 1
    try:
        # `_line` is set below: a window numbering the rows would cost as much as the read.
        # In ASCII text without quotes a value can only end in a space (or a tab in CSV).
        ends = (" " + ("\t" if header.delimiter == "," else "")) if plain else None
        row = con.execute(
            _insert_sql(cfg, found, source, "NULL::BIGINT", ends=ends), params
        ).fetchone()
        rejects = con.execute(
            "SELECT line_byte_position, column_name, error_type, csv_line FROM _rejects "
            "ORDER BY line_byte_position"
        ).fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS _rejects; DROP TABLE IF EXISTS _reject_scans")
    if rejects:
        con.execute(f"DELETE FROM {TABLE} WHERE _line IS NULL")
        return _reject_failures(rejects, path, file, header, found, cfg)
    rows = int(row[0]) if row else 0
    scan = scanned()
    lines = scan.lines_all if width == 1 else scan.lines
    span = con.execute(
        f"SELECT min(rowid), max(rowid), count(*) FROM {TABLE} WHERE _line IS NULL"
    ).fetchone()
    if lines == first + rows and span is not None and (rows == 0 or span[1] - span[0] + 1 == rows):
        # One line per record: the n-th row (in insertion order, so rowid order) is on line
        # first + n.
        con.execute(
            f"UPDATE {TABLE} SET _line = rowid - {int(span[0] or 0)} + {first + 1} "
            "WHERE _line IS NULL"
        )
    else:
        con.execute(f"DELETE FROM {TABLE} WHERE _line IS NULL")
        _exact_lines(con, source, path, cfg, found, file, first, lines, width)
    if width == 1:  # a blank line of a one-column file is a NULL row: not a record
        only = quote(cfg.columns[0].name)
        con.execute(f"DELETE FROM {TABLE} WHERE _file = $file AND {only} IS NULL", params)
    return []


def _newline_sql(col: str) -> str:
    """Line breaks inside a value (CRLF, LF, CR)."""
    n = f"length({col})"
    return (
        f"coalesce({n} - length(replace({col}, chr(10), '')) + {n} - length(replace({col}, "
        f"chr(13), '')) - ({n} - length(replace({col}, chr(13) || chr(10), ''))) // 2, 0)"
    )


def _exact_lines(
    con: duckdb.DuckDBPyConnection,
    source: str,
    path: Path,
    cfg: SourceConfig,
    found: dict[str, int],
    file: str,
    first: int,
    lines: int,
    width: int,
) -> None:
    """Replace the file's rows with ones whose `_line` counts quoted newlines (every column's)
    and blank lines between records."""
    params = {"file": file}
    con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT * FROM {source}")
    con.execute("DROP TABLE IF EXISTS _rejects; DROP TABLE IF EXISTS _reject_scans")
    inside = " + ".join(_newline_sql(f"c{i}") for i in range(width))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _pos AS SELECT i, e, "
        f"{first + 1} + i + coalesce(sum(e) OVER (ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING "
        f"AND 1 PRECEDING), 0) AS line FROM (SELECT rowid AS i, {inside} AS e FROM _raw)"
    )
    counted = con.execute("SELECT count(*) + coalesce(sum(e), 0) FROM _pos").fetchone()
    if width > 1 and counted is not None and first + int(counted[0]) != lines:
        blanks = _empty_lines(path, first)
        multiline = [
            (int(line), int(e))
            for line, e in con.execute("SELECT line, e FROM _pos WHERE e > 0 ORDER BY i").fetchall()
        ]
        import pyarrow as pa

        cuts = pa.table({"pos": pa.array(separating_blanks(blanks, multiline), pa.int64())})
        con.register("_cuts", cuts)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _moved AS SELECT p.i, p.e, p.line + coalesce(c.total, 0) "
            "AS line FROM _pos p ASOF LEFT JOIN (SELECT pos, sum(count(*)) OVER (ORDER BY pos) "
            "AS total FROM _cuts GROUP BY pos) c ON p.line >= c.pos"
        )
        con.unregister("_cuts")
        con.execute("DROP TABLE _pos; ALTER TABLE _moved RENAME TO _pos")
    end = con.execute("SELECT max(line + e) FROM _pos").fetchone()
    if end is not None and end[0] is not None and int(end[0]) != lines:
        # Only if DuckDB and Python's csv split the lines above the data differently.
        raise ReleaseFormatError(
            file, None, f"the rows end on line {end[0]}, not on the file's last line {lines}"
        )
    con.execute(
        _insert_sql(
            cfg,
            found,
            "(SELECT _raw.*, _pos.line FROM _raw JOIN _pos ON _raw.rowid = _pos.i)",
            "line",
            "ORDER BY _line",
        ),
        params,
    )
    con.execute("DROP TABLE _raw; DROP TABLE _pos")


def _empty_lines(path: Path, after: int) -> list[int]:
    """The physical numbers, past `after`, of a file's empty lines (CRLF, LF and CR end lines,
    mixed as they come: DuckDB's line reader takes one kind per file)."""
    if path.stat().st_size == 0:
        return []
    found = []
    line = 1  # the line starting at `done`
    done = 0
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for match in _EMPTY_NEXT.finditer(data):
            start = match.end()  # an empty line starts here
            line += _breaks(data[done:start])
            done = start
            if line > after:
                found.append(line)
    return found


def _reject_failures(
    rejects: list[tuple[Any, ...]],
    path: Path,
    file: str,
    header: _Header,
    found: dict[str, int],
    cfg: SourceConfig,
) -> list[Failure]:
    """Failures for the rows DuckDB refused, each at the physical line where its record starts.

    DuckDB's own line number skips quoted newlines; its `line_byte_position` is one past the
    start of the record, blank lines before it included (as `csv_line` shows): the start of the
    record proper is found from both, and its line by counting line breaks up to it.
    """
    names = {f"c{i}": name for name, i in found.items()}
    starts = []
    for position, _, _, text in rejects:
        text = text or ""
        starts.append(int(position) - 1 + len(text) - len(text.lstrip("\r\n")))
    lines = _lines_at(path, starts)
    failures = []
    for (_, column, error, text), line in zip(rejects, lines, strict=True):
        if column is None:
            name = ""
        else:
            i = int(str(column)[1:])
            name = names.get(str(column), header.headers[i] if i < len(header.headers) else "")
        check = _REJECT_CHECKS.get(str(error), str(error).lower())
        failures.append(Failure(file, line, name, check, (text or "").strip("\r\n")))
    return failures


def _lines_at(path: Path, offsets: Sequence[int]) -> list[int]:
    """1-based physical line of each byte offset (any order) of a file, in one pass."""
    order = sorted(range(len(offsets)), key=lambda i: offsets[i])
    result = [0] * len(offsets)
    seen = 0  # line breaks before `done`
    done = 0
    after_cr = False
    k = 0
    with path.open("rb") as f:
        while k < len(order):
            chunk = f.read(_CHUNK)
            end = done + len(chunk)
            while k < len(order) and (offsets[order[k]] < end or not chunk):
                cut = max(offsets[order[k]] - done, 0)
                result[order[k]] = seen + _breaks(chunk[:cut], after_cr) + 1
                k += 1
            if not chunk:
                break
            seen += _breaks(chunk, after_cr)
            after_cr = chunk.endswith(b"\r")
            done = end
    return result


# --- xlsx -----------------------------------------------------------------------------------


def _read_xlsx(
    con: duckdb.DuckDBPyConnection, path: Path, cfg: SourceConfig, file: str
) -> list[Failure]:
    """Load the declared sheet (or the first) of one workbook into the catalog, in Arrow
    batches; `_line` is the sheet row."""
    import openpyxl  # slow to import: only when a workbook is read

    with ExitStack() as stack:
        f = stack.enter_context(path.open("rb"))  # a file: openpyxl judges paths by extension
        try:
            wb = openpyxl.load_workbook(f, read_only=True, data_only=True)
        except Exception as e:  # zipfile, XML and openpyxl's own errors alike
            raise ReleaseFormatError(file, None, f"not a readable workbook: {e}") from e
        stack.callback(wb.close)
        wanted = normalise_header(cfg.read.sheet or "")
        named = [n for n in wb.sheetnames if normalise_header(n) == wanted]
        if cfg.read.sheet is None and wb.worksheets:
            ws = wb.worksheets[0]
        elif named:
            ws = wb[named[0]]
        else:
            sheets = ", ".join(wb.sheetnames)
            return [Failure(file, None, "", "sheet", f"{cfg.read.sheet or ''} (sheets: {sheets})")]
        ws.reset_dimensions()  # a wrong stored dimension would cut rows off
        rows = enumerate(ws.iter_rows(values_only=True), start=1)
        wanted_header = normalise_header(cfg.read.header) if cfg.read.header else None
        for number, values in rows:
            cells = [cell_text(v) or "" for v in values]
            if wanted_header is None or any(normalise_header(c) == wanted_header for c in cells):
                header_line, stack_rows = number, [cells]
                break
        else:
            return [Failure(file, None, "", "header", cfg.read.header or "")]
        for _ in range(max(cfg.read.header_rows, 1) - 1):
            more = next(rows, None)
            stack_rows.append([] if more is None else [cell_text(v) or "" for v in more[1]])
        headers = join_header_rows(stack_rows)
        found, failures = resolve_columns(headers, cfg.columns, file, header_line)
        if not failures:
            _load_rows(con, rows, cfg, found, file)
        return failures


def _load_rows(
    con: duckdb.DuckDBPyConnection,
    rows: Iterator[tuple[int, tuple[object, ...]]],
    cfg: SourceConfig,
    found: dict[str, int],
    file: str,
) -> None:
    """Sheet rows -> catalog in Arrow batches; rows with no value in any cell are not records."""
    positions = [found[c.name] for c in cfg.columns]
    identity = {c.name: i for i, c in enumerate(cfg.columns)}
    columns: list[list[str | None]] = [[] for _ in positions]
    lines: list[int] = []

    def flush() -> None:
        import pyarrow as pa

        batch = {f"c{i}": pa.array(col, pa.string()) for i, col in enumerate(columns)}
        batch["_line"] = pa.array(lines, pa.int64())
        con.register("_batch", pa.table(batch))
        con.execute(_insert_sql(cfg, identity, "_batch", "_line"), {"file": file})
        con.unregister("_batch")
        for col in columns:
            col.clear()
        lines.clear()

    for number, values in rows:
        record = [cell_text(values[i]) if i < len(values) else None for i in positions]
        if all(v is None for v in record) and all(cell_text(v) is None for v in values):
            continue
        for col, value in zip(columns, record, strict=True):
            col.append(value)
        lines.append(number)
        if len(lines) >= XLSX_BATCH_ROWS:
            flush()
    if lines:
        flush()


def _given(scan: _Scan) -> _Scan:
    return scan


def _on_disk_text(archive: ReleaseArchive, member: str) -> Path | None:
    """The path of a member that is a file on disk and starts like UTF-8 text (no BOM other than
    UTF-8's), else None."""
    with archive.open_member(member) as (chunks, path):
        head = next(chunks, b"")[:_SNIFF]
    if path is None or _kind(head) != "text" or any(head.startswith(b) for b, _ in _WIDE_BOMS):
        return None
    return path


def _read_while_scanning(
    con: duckdb.DuckDBPyConnection,
    archive: ReleaseArchive,
    member: str,
    file: str,
    tmp: Path,
    path: Path,
    cfg: SourceConfig,
) -> tuple[_Scan, list[Failure]] | None:
    """Read a text file on disk as UTF-8 while a thread scans its bytes (hash, encoding, line
    counts): the scan's Python work and DuckDB's read overlap. None, with nothing kept, when the
    scan finds the file is not plain UTF-8 (the caller then reads it the sequential way)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_scan, archive, member, file, tmp)
        try:
            failures = _read_text(con, pending.result, path, cfg, file, plain=False)
        except (duckdb.Error, UnicodeDecodeError):  # not UTF-8 after all: the scan says why
            failures = None
        scan = pending.result()  # re-raises the scan's own errors (size caps, …)
    if failures is None or scan.encoding == "cp1252" or scan.decode_error is not None:
        con.execute(f"DELETE FROM {TABLE} WHERE _file = $file", {"file": file})
        return None
    return scan, failures


# --- the release ----------------------------------------------------------------------------


def sort_failures(failures: list[Failure]) -> list[Failure]:
    """Distinct failures in file, line, column order (as codecatalog.validate sorts them)."""
    return sorted(set(failures), key=lambda f: (f.file, f.line or 0, f.column, f.check, f.value))


def _wanted(member: str, pattern: str | None) -> bool:
    if pattern is None:
        return True
    glob = pattern.casefold()
    name = member.casefold()
    return fnmatch.fnmatch(name, glob) or fnmatch.fnmatch(PurePosixPath(name).name, glob)


def read_table_release(archive: ReleaseArchive, cfg: SourceConfig, database: Path) -> Release:
    """Read every table member of a release into table `catalog` of a fresh DuckDB `database`.

    Members (filtered by `cfg.read.members`) are read by content: xlsx workbooks, and CSV or
    TSV text; other files are skipped. Every structural failure of every file is collected
    (header not found, declared column missing, duplicate header, missing sheet, a row with too
    many or too few fields) and raised together.

    Raises:
        ValidationFailed: The files' structure does not fit the declaration.
        DeclarationError: The source declares no columns.
        DecodeError: A text file is not UTF-8 or cp1252, or holds control characters.
        SourceLayoutError: No table member, or a member over the size cap or unreadable.
    """
    if not cfg.columns:
        raise DeclarationError(f"{cfg.name}: a table source must declare its columns")
    database = Path(database)
    database.parent.mkdir(parents=True, exist_ok=True)
    for stale in (database, database.with_name(database.name + ".wal")):
        stale.unlink(missing_ok=True)
    members = [m for m in archive.members() if _wanted(m, cfg.read.members)]
    files: dict[str, SourceFile] = {}
    failures: list[Failure] = []
    with ExitStack() as stack:
        tmp = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix=".table-", dir=database.parent))
        )
        con = stack.enter_context(duckdb.connect(str(database)))
        configure(con)
        declared = ", ".join(f"{quote(c.name)} VARCHAR" for c in cfg.columns)
        con.execute(f"CREATE TABLE {TABLE} ({declared}, _file VARCHAR, _line BIGINT)")
        for member in members:
            file = archive.display_name(member)
            on_disk = _on_disk_text(archive, member)
            if on_disk is not None:
                found = _read_while_scanning(con, archive, member, file, tmp, on_disk, cfg)
                if found is not None:
                    scan, read_failures = found
                    files[member] = SourceFile(ROLE, member, scan.sha256, scan.size, scan.encoding)
                    failures += read_failures
                    continue
            scan = _scan(archive, member, file, tmp)
            if scan.kind == "skip":
                for done in tmp.iterdir():
                    done.unlink()
                continue
            if scan.kind == "xlsx":
                files[member] = SourceFile(ROLE, member, scan.sha256, scan.size, "xlsx")
                failures += _read_xlsx(con, scan.path, cfg, file)
            else:
                path = _to_utf8(scan, file, tmp) if scan.encoding == "cp1252" else scan.path
                if scan.decode_error is not None:
                    raise scan.decode_error
                files[member] = SourceFile(ROLE, member, scan.sha256, scan.size, scan.encoding)
                failures += _read_text(con, partial(_given, scan), path, cfg, file, scan.plain)
            for done in tmp.iterdir():  # copies and re-encodings of this member
                done.unlink()
        if not files:
            wanted = f" matching {cfg.read.members!r}" if cfg.read.members else ""
            raise SourceLayoutError(archive.name, f"no CSV, TSV or XLSX file{wanted}")
        if failures:
            raise ValidationFailed(archive.name, sort_failures(failures))
        con.execute("CHECKPOINT")
    return Release(name=archive.name, files=files, tables={}, database=database)

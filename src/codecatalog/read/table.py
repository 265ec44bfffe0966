"""The `table` family: CSV, TSV and XLSX files of a declared source, read into a staging DuckDB.

Every table member of a release (chosen by content: an xlsx is a zip holding a spreadsheet, text
is anything else that is not binary) is read into one table `catalog` of a fresh DuckDB file:
one VARCHAR column per declared column (our names, declaration order; values trimmed, blank ->
NULL, `pad` restores leading zeros of digit-only values), plus `_file` (the file's display name,
`zip!member` inside a zip) and `_line` (the 1-based physical line where the record starts in the
decoded text, quoted newlines and rows above the header counted; the sheet row for xlsx).

Declared column options apply in SQL, to text and xlsx rows alike (trim -> `nulls` -> `map` ->
`pad` -> `decimals`, then derived `extract` columns); a `part` column holds the value of the
release part (`read.parts`) its file is. A zip inside a release is opened (one level) and its
members read as `outer!inner`; members matching `read.fixed_width` are sliced by position in
DuckDB. Each file read leaves its `Evidence` (name, sheet, preamble) on the release.

Text goes file -> DuckDB without per-row Python: one streaming pass hashes the bytes, checks the
encoding (decode.py's rules) and counts line breaks; DuckDB's `read_csv` then loads the rows. When
the row count and the line count agree, `_line` is the header's end plus the row's ordinal; only
when they do not (quoted newlines, blank lines between rows) are exact start lines computed.
"""

from __future__ import annotations

import csv
import fnmatch
import mmap
import re
import tempfile
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import duckdb

from codecatalog.duckdb_settings import configure
from codecatalog.errors import (
    DeclarationError,
    Failure,
    ReleaseFormatError,
    SourceLayoutError,
    ValidationFailed,
)
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.release import Evidence, Release, SourceFile
from codecatalog.read.scan import (
    CHUNK,
    SNIFF,
    WIDE_BOMS,
    Scan,
    count_breaks,
    crlf_to_lf,
    drop_eof_line,
    kind_of,
    scan_member,
    to_utf8,
    truncated_failures,
)
from codecatalog.sources import Column, SourceConfig, normalise_header
from codecatalog.sql import literal, quote

TABLE = "catalog"
ROLE = "table"
XLSX_BATCH_ROWS = 50_000
_PREAMBLE_ROWS = 1000  # rows above a header kept as the file's preamble (evidence)
# What Python's str.strip() removes (C0 separators included; other controls are refused anyway).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
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
    """The position among `headers` of each declared column read from the file (part and
    derived columns are not looked up; an optional column the file lacks is left out), and the
    failures: a declared header that is missing, or that names two columns of the file.

    A column matches a header equal to (`match = "prefix"`: starting with) one of its
    alternatives, all normalised.
    """
    normal = [normalise_header(h) for h in headers]
    found: dict[str, int] = {}
    failures: list[Failure] = []
    for column in columns:
        if not column.in_file:
            continue
        wanted = [normalise_header(h) for h in column.header]
        if column.match == "prefix":
            hits = [i for i, h in enumerate(normal) if any(h.startswith(w) for w in wanted)]
        else:
            hits = [i for i, h in enumerate(normal) if h in wanted]
        if not hits:
            if not column.optional:
                value = " | ".join(column.header)
                failures.append(Failure(file, line, column.name, "missing column", value))
        elif len(hits) > 1:
            value = " | ".join(dict.fromkeys(headers[i] for i in hits))
            failures.append(Failure(file, line, column.name, "duplicate header", value))
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


# --- text files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    delimiter: str
    line: int  # physical line of the (first) header row
    data_start: int  # physical line where the data begins
    skip: int  # CSV records before the data (blank lines count), as read_csv's `skip` counts
    headers: list[str]  # joined header names per column position
    preamble: tuple[str, ...] = ()  # non-empty cells of the rows above the header rows


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
    joined names of `header_rows` stacked rows (the matching row first, or last with
    `header_in = "last_row"`) and the preamble above them; None when no row matches
    `cfg.read.header`.

    Without a declared header, row 1 is the header. With one, the file is parsed both ways in
    step, line by line, and the first record with a matching cell wins if its delimiter fits
    (a tab-parsed record of several cells, or a comma-parsed record holding no tab).
    """
    stacked = max(cfg.read.header_rows, 1)
    earlier: list[_Record] = []
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
            before: dict[str, deque[_Record]] = {d: deque(maxlen=_PREAMBLE_ROWS) for d in parsers}
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
                before[delimiter].append(hit)
                heads[delimiter] = next(parsers[delimiter], None)
            records = parsers[delimiter]
            earlier = list(before[delimiter])
        last = hit
        if cfg.read.header_in == "last_row":
            above = earlier[len(earlier) - (stacked - 1) :] if stacked > 1 else []
            earlier = earlier[: len(earlier) - len(above)]
            rows: list[list[str]] = [[] for _ in range(stacked - 1 - len(above))]
            rows += [r.cells for r in above] + [hit.cells]
        else:
            rows = [hit.cells]
            for _ in range(stacked - 1):
                ended = _Record(last.index + 1, last.end + 1, last.end + 1, [])  # no more records
                last = next(records, ended)
                rows.append(last.cells)
    return _Header(
        delimiter,
        hit.start,
        last.end + 1,
        last.index + 1,
        join_header_rows(rows),
        _preamble(r.cells for r in earlier),
    )


def _preamble(rows: Iterable[Sequence[str | None]]) -> tuple[str, ...]:
    """The non-empty cell texts of rows, in order, trimmed."""
    return tuple(t for row in rows for c in row if c and (t := c.strip(WHITESPACE)))


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


def _nulls_sql(col: str, nulls: Sequence[str]) -> str:
    if not nulls:
        return col
    return f"CASE WHEN {col} IN ({', '.join(map(literal, nulls))}) THEN NULL ELSE {col} END"


def _map_sql(col: str, mapping: Sequence[tuple[str, str]]) -> str:
    if not mapping:
        return col

    def to(value: str) -> str:
        return literal(value) if value else "NULL"

    cases = [f"WHEN {col} IS NULL THEN {to(v)}" for k, v in mapping if k == ""]
    cases += [f"WHEN {col} = {literal(k)} THEN {to(v)}" for k, v in mapping if k != ""]
    return f"CASE {' '.join(cases)} ELSE {col} END"


def _decimals_sql(col: str, decimals: int | None) -> str:
    """A plain decimal number with at most `decimals` decimals, written with exactly that many
    (`.10` -> `0.10`); anything else (more decimals included: never rounded) is kept."""
    if decimals is None:
        return col
    return (
        f"CASE WHEN regexp_full_match({col}, '-?[0-9]*\\.?[0-9]+') AND "
        f"length(split_part({col}, '.', 2)) <= {decimals} THEN coalesce(TRY_CAST({col} AS "
        f"DECIMAL(38, {decimals}))::VARCHAR, {col}) ELSE {col} END"
    )


def _extract_sql(col: str, pattern: str) -> str:
    regex = literal(pattern)
    return (
        f"CASE WHEN regexp_matches({col}, {regex}) "
        f"THEN nullif(regexp_extract({col}, {regex}, 1), '') END"
    )


def _insert_sql(
    cfg: SourceConfig,
    found: dict[str, int],
    source: str,
    line: str,
    order: str = "",
    ends: str | None = None,
    part: str | None = None,
) -> str:
    """INSERT of `source`'s columns `c<i>` (`found`: column -> i) into the catalog, with `_line`.

    Values are trimmed (blank -> NULL), then each column's `nulls`, `map`, `pad` and
    `decimals` apply, one SELECT layer per step; a column the file lacks is NULL, the part
    column is `part`, a derived column is extracted from its `from` column's final value."""
    columns = cfg.columns
    layer = ", ".join(
        (_trim_sql(f"c{found[c.name]}", ends) if c.name in found else "NULL::VARCHAR") + f" AS v{j}"
        for j, c in enumerate(columns)
    )
    query = f"SELECT {layer}, {line} AS _line FROM {source}"
    steps: list[Callable[[str, Column], str]] = [
        lambda v, c: _nulls_sql(v, c.nulls),
        lambda v, c: _map_sql(v, c.map),
        lambda v, c: _pad_sql(v, c.pad),
        lambda v, c: _decimals_sql(v, c.decimals),
    ]
    for step in steps:
        exprs = [step(f"v{j}", c) for j, c in enumerate(columns)]
        if any(e != f"v{j}" for j, e in enumerate(exprs)):
            layer = ", ".join(f"{e} AS v{j}" for j, e in enumerate(exprs))
            query = f"SELECT {layer}, _line FROM ({query})"
    index = {c.name: j for j, c in enumerate(columns)}
    final = []
    for j, c in enumerate(columns):
        if c.part:
            final.append(literal(part) if part is not None else "NULL::VARCHAR")
        elif c.from_column is not None and c.extract is not None:
            source_col = columns[index[c.from_column]]
            value = literal(part) if source_col.part and part is not None else None
            final.append(_extract_sql(value or f"v{index[c.from_column]}", c.extract))
        else:
            final.append(f"v{j}")
    names = ", ".join(quote(c.name) for c in columns)
    return (
        f"INSERT INTO {TABLE} ({names}, _file, _line) SELECT {', '.join(final)}, $file, _line "
        f"FROM ({query}) {order}"
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
    scanned: Callable[[], Scan],
    path: Path,
    cfg: SourceConfig,
    file: str,
    plain: bool,
    part: str | None = None,
) -> tuple[list[Failure], tuple[str, ...]]:
    """Load one CSV/TSV file (UTF-8 at `path`) into the catalog; failures of its structure and
    the preamble above its header.

    `scanned()` gives the file's streaming scan (its line counts), which may still be running
    while DuckDB reads; `plain`: the file is ASCII without quotes (a cheaper trim); `part`: the
    value of the part column."""
    header = _find_text_header(path, cfg)
    if header is None:
        return [Failure(file, None, "", "header", cfg.read.header or "")], ()
    found, failures = resolve_columns(header.headers, cfg.columns, file, header.line)
    if failures:
        return failures, header.preamble
    width = len(header.headers)
    source = _read_csv_sql(path, header, width)
    params = {"file": file}
    first = header.data_start - 1
    try:
        # `_line` is set below: a window numbering the rows would cost as much as the read.
        # In ASCII text without quotes a value can only end in a space (or a tab in CSV).
        ends = (" " + ("\t" if header.delimiter == "," else "")) if plain else None
        row = con.execute(
            _insert_sql(cfg, found, source, "NULL::BIGINT", ends=ends, part=part), params
        ).fetchone()
        rejects = con.execute(
            "SELECT line_byte_position, column_name, error_type, csv_line FROM _rejects "
            "ORDER BY line_byte_position"
        ).fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS _rejects; DROP TABLE IF EXISTS _reject_scans")
    if rejects:
        con.execute(f"DELETE FROM {TABLE} WHERE _line IS NULL")
        return _reject_failures(rejects, path, file, header, found, cfg), header.preamble
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
        _exact_lines(con, source, path, cfg, found, file, first, lines, width, part)
    if width == 1 and found:  # a blank line of a one-column file is a NULL row: not a record
        blank = " AND ".join(f"{quote(name)} IS NULL" for name in found)
        con.execute(f"DELETE FROM {TABLE} WHERE _file = $file AND {blank}", params)
    return [], header.preamble


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
    part: str | None = None,
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
            part=part,
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
            line += count_breaks(data[done:start])
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
            chunk = f.read(CHUNK)
            end = done + len(chunk)
            while k < len(order) and (offsets[order[k]] < end or not chunk):
                cut = max(offsets[order[k]] - done, 0)
                result[order[k]] = seen + count_breaks(chunk[:cut], after_cr) + 1
                k += 1
            if not chunk:
                break
            seen += count_breaks(chunk, after_cr)
            after_cr = chunk.endswith(b"\r")
            done = end
    return result


# --- xlsx -----------------------------------------------------------------------------------


def _read_xlsx(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    cfg: SourceConfig,
    file: str,
    part: str | None = None,
) -> tuple[list[Failure], str | None, tuple[str, ...]]:
    """Load the declared sheet (or the first) of one workbook into the catalog, in Arrow
    batches; `_line` is the sheet row. Returns the failures, the sheet's title and the
    preamble above the header."""
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
            failure = Failure(file, None, "", "sheet", f"{cfg.read.sheet or ''} (sheets: {sheets})")
            return [failure], None, ()
        ws.reset_dimensions()  # a wrong stored dimension would cut rows off
        rows = enumerate(ws.iter_rows(values_only=True), start=1)
        wanted_header = normalise_header(cfg.read.header) if cfg.read.header else None
        stacked = max(cfg.read.header_rows, 1)
        earlier: deque[list[str]] = deque(maxlen=_PREAMBLE_ROWS)
        for number, values in rows:
            cells = [cell_text(v) or "" for v in values]
            if wanted_header is None or any(normalise_header(c) == wanted_header for c in cells):
                header_line, stack_rows = number, [cells]
                break
            earlier.append(cells)
        else:
            return [Failure(file, None, "", "header", cfg.read.header or "")], ws.title, ()
        if cfg.read.header_in == "last_row":
            above = list(earlier)[len(earlier) - (stacked - 1) :] if stacked > 1 else []
            for _ in above:
                earlier.pop()
            stack_rows = [[]] * (stacked - 1 - len(above)) + above + stack_rows
        else:
            for _ in range(stacked - 1):
                more = next(rows, None)
                stack_rows.append([] if more is None else [cell_text(v) or "" for v in more[1]])
        headers = join_header_rows(stack_rows)
        found, failures = resolve_columns(headers, cfg.columns, file, header_line)
        if not failures:
            _load_rows(con, rows, cfg, found, file, part)
        return failures, ws.title, _preamble(earlier)


def _load_rows(
    con: duckdb.DuckDBPyConnection,
    rows: Iterator[tuple[int, tuple[object, ...]]],
    cfg: SourceConfig,
    found: dict[str, int],
    file: str,
    part: str | None = None,
) -> None:
    """Sheet rows -> catalog in Arrow batches (cleaned by the same SQL as text); rows with no
    value in any cell are not records."""
    names = [c.name for c in cfg.columns if c.name in found]
    positions = [found[name] for name in names]
    identity = {name: i for i, name in enumerate(names)}
    columns: list[list[str | None]] = [[] for _ in positions]
    lines: list[int] = []
    sql = _insert_sql(cfg, identity, "_batch", "_line", part=part)

    def flush() -> None:
        import pyarrow as pa

        batch = {f"c{i}": pa.array(col, pa.string()) for i, col in enumerate(columns)}
        batch["_line"] = pa.array(lines, pa.int64())
        con.register("_batch", pa.table(batch))
        con.execute(sql, {"file": file})
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


# --- fixed width ----------------------------------------------------------------------------


def _read_fixed(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    cfg: SourceConfig,
    file: str,
    part: str | None = None,
) -> tuple[list[Failure], tuple[str, ...]]:
    """Load a fixed-width text file (UTF-8 at `path`) into the catalog: each line split by
    the columns' positions (a short line's missing tail is blank), blank lines and lines
    starting with `skip_prefix` skipped, `_line` the physical line. Returns no failures and
    the skipped lines before the first record (the preamble)."""
    columns = [c for c in cfg.columns if c.in_file]
    found = {c.name: i for i, c in enumerate(columns)}
    content = "CASE WHEN starts_with(content, chr(65279)) THEN substr(content, 2) ELSE content END"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _fixed AS SELECT unnest(parts) AS s, "
        "unnest(range(1, len(parts) + 1)) AS n FROM (SELECT regexp_split_to_array("
        f"{content}, '\\r\\n|\\r|\\n') AS parts FROM read_text({literal(str(path))}))"
    )
    prefix = cfg.read.skip_prefix
    skipped = f"starts_with(s, {literal(prefix)})" if prefix else "false"
    blank = f"trim(s, {literal(WHITESPACE)}) = ''"
    slices = []
    for i, c in enumerate(columns):
        assert c.position is not None  # the declaration guarantees it
        start, end = c.position
        slices.append(f"substr(s, {start}, {end - start + 1}) AS c{i}")
    source = f"(SELECT {', '.join(slices)}, n FROM _fixed WHERE NOT {skipped} AND NOT {blank})"
    try:
        con.execute(
            _insert_sql(cfg, found, source, "n", "ORDER BY _line", part=part), {"file": file}
        )
        preamble = con.execute(
            f"SELECT s FROM _fixed WHERE {skipped} AND n < coalesce((SELECT min(n) FROM _fixed "
            f"WHERE NOT {skipped} AND NOT {blank}), n + 1) ORDER BY n"
        ).fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS _fixed")
    return [], _preamble([r[0]] for r in preamble)


def _given(scan: Scan) -> Scan:
    return scan


def _on_disk_text(archive: ReleaseArchive, member: str) -> Path | None:
    """The path of a member that is a file on disk and starts like UTF-8 text (no BOM other than
    UTF-8's), else None."""
    with archive.open_member(member) as (chunks, path):
        head = next(chunks, b"")[:SNIFF]
    if path is None or kind_of(head) != "text" or any(head.startswith(b) for b, _ in WIDE_BOMS):
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
    part: str | None = None,
) -> tuple[Scan, list[Failure], tuple[str, ...]] | None:
    """Read a text file on disk as UTF-8 while a thread scans its bytes (hash, encoding, line
    counts): the scan's Python work and DuckDB's read overlap. None, with nothing kept, when the
    scan finds the file is not plain UTF-8 or ends in a DOS end-of-file line (the caller then
    reads it the sequential way)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(scan_member, archive, member, file, tmp)
        error: ReleaseFormatError | None = None
        try:
            read = _read_text(con, pending.result, path, cfg, file, False, part)
        except (duckdb.Error, UnicodeDecodeError):  # not UTF-8 after all: the scan says why
            read = None
        except ReleaseFormatError as e:  # perhaps the end-of-file line the scan drops
            read, error = None, e
        scan = pending.result()  # re-raises the scan's own errors (size caps, …)
    if (
        scan.encoding == "cp1252"
        or scan.decode_error is not None
        or scan.eof_offset is not None
        or scan.mixed_ends
    ):
        con.execute(f"DELETE FROM {TABLE} WHERE _file = $file", {"file": file})
        return None
    if error is not None:
        raise error
    if read is None:
        con.execute(f"DELETE FROM {TABLE} WHERE _file = $file", {"file": file})
        return None
    return scan, *read


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


def _items(
    archive: ReleaseArchive, cfg: SourceConfig, folder: Path
) -> Generator[tuple[ReleaseArchive, str, str]]:
    """The files of a release to read, as (archive holding it, its name there, its path in the
    release): members matching `read.members`, and those of every zip the release holds (one
    level, `members` matched against the names inside it). With `read.prefer`, only those
    matching the first of its globs that matches any of them (a PPRRVU bundle's CSV, not also
    its fixed-width copy)."""
    chosen = cfg.read.members
    if cfg.read.prefer:
        names = [path for _, _, path in _listed(archive, chosen, folder)]
        chosen_glob = next((g for g in cfg.read.prefer if any(_wanted(n, g) for n in names)), None)
        yield from (
            item
            for item in _listed(archive, chosen, folder)
            if chosen_glob is None or _wanted(item[1], chosen_glob)
        )
        return
    yield from _listed(archive, chosen, folder)


def _listed(
    archive: ReleaseArchive, members: str | None, folder: Path
) -> Generator[tuple[ReleaseArchive, str, str]]:
    for member in archive.members():
        if archive.is_nested_zip(member):
            with archive.open_nested(member, folder) as nested:
                for inner in nested.members():
                    if _wanted(inner, members):
                        yield nested, inner, f"{member}!{inner}"
        elif _wanted(member, members):
            yield archive, member, member


def _read_member(
    con: duckdb.DuckDBPyConnection,
    archive: ReleaseArchive,
    member: str,
    key: str,
    cfg: SourceConfig,
    tmp: Path,
    part: str | None,
) -> tuple[SourceFile, list[Failure], Evidence] | None:
    """Read one file into the catalog: its SourceFile, failures and evidence; None when it is
    not a table (binary, a zip that is no workbook)."""
    file = archive.display_name(member)
    name = PurePosixPath(member).name
    fixed = cfg.read.fixed_width is not None and _wanted(member, cfg.read.fixed_width)
    try:
        on_disk = None if fixed else _on_disk_text(archive, member)
        if on_disk is not None:
            found = _read_while_scanning(con, archive, member, file, tmp, on_disk, cfg, part)
            if found is not None:
                scan, failures, preamble = found
                failures = failures + truncated_failures(scan, file, cfg)
                source = SourceFile(ROLE, key, scan.sha256, scan.size, scan.encoding)
                return source, failures, Evidence(file, name, None, preamble)
        scan = scan_member(archive, member, file, tmp)
        if scan.kind == "skip":
            return None
        if scan.kind == "xlsx":
            failures, sheet, preamble = _read_xlsx(con, scan.path, cfg, file, part)
            source = SourceFile(ROLE, key, scan.sha256, scan.size, "xlsx")
            return source, failures, Evidence(file, name, sheet, preamble)
        if scan.eof_offset is not None:
            drop_eof_line(scan, tmp)
        path = to_utf8(scan, file, tmp) if scan.encoding == "cp1252" else scan.path
        if scan.decode_error is not None:
            raise scan.decode_error
        if fixed:
            failures, preamble = _read_fixed(con, path, cfg, file, part)
        else:
            if scan.mixed_ends:
                path = crlf_to_lf(path, tmp)
            failures, preamble = _read_text(
                con, partial(_given, scan), path, cfg, file, scan.plain, part
            )
        failures = failures + truncated_failures(scan, file, cfg)
        source = SourceFile(ROLE, key, scan.sha256, scan.size, scan.encoding)
        return source, failures, Evidence(file, name, None, preamble)
    finally:
        for done in tmp.iterdir():  # copies and re-encodings of this member
            done.unlink()


class _Parts:
    """`read.parts`: which part each read file is, and the failures of the whole release
    (a glob matching no file or two, a file matching no glob or globs of two parts)."""

    def __init__(self, cfg: SourceConfig) -> None:
        self.globs = cfg.read.parts
        self.matched: dict[str, list[str]] = {glob: [] for glob, _ in self.globs}
        self.failures: list[Failure] = []

    def of(self, member: str) -> tuple[list[str], str | None]:
        """The globs an innermost file name matches, and its part value (the first's)."""
        name = PurePosixPath(member).name.casefold()
        hits = [(g, v) for g, v in self.globs if fnmatch.fnmatchcase(name, g.casefold())]
        return [g for g, _ in hits], hits[0][1] if hits else None

    def read(self, file: str, member: str, globs: list[str]) -> None:
        """Note a file that was read, matching `globs`."""
        if not self.globs:
            return
        name = PurePosixPath(member).name
        values = {v for g, v in self.globs if g in globs}
        if not globs:
            self.failures.append(Failure(file, None, "", "unexpected file", name))
        elif len(values) > 1:
            self.failures.append(Failure(file, None, "", "ambiguous part", ", ".join(globs)))
        for glob in globs:
            self.matched[glob].append(file)

    def release_failures(self, release: str) -> list[Failure]:
        failures = list(self.failures)
        for glob, files in self.matched.items():
            if not files:
                failures.append(Failure(release, None, "", "missing part", glob))
            elif len(files) > 1:
                failures.append(
                    Failure(release, None, "", "doubled part", f"{glob}: {', '.join(files)}")
                )
        return failures


def read_table_release(archive: ReleaseArchive, cfg: SourceConfig, database: Path) -> Release:
    """Read every table member of a release into table `catalog` of a fresh DuckDB `database`.

    Members (filtered by `cfg.read.members`; a zip in the release is opened and its members
    filtered) are read by content: xlsx workbooks, CSV or TSV text, and fixed-width text for
    names matching `cfg.read.fixed_width`; other files are skipped. Every structural failure of
    every file is collected (header not found, declared column missing, duplicate header,
    missing sheet, a row with too many or too few fields, a truncated last line, parts missing,
    doubled or unexpected) and raised together. The release's `evidence` holds what each file
    read states (name, sheet, preamble).

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
    files: dict[str, SourceFile] = {}
    evidence: list[Evidence] = []
    failures: list[Failure] = []
    parts = _Parts(cfg)
    with ExitStack() as stack:
        tmp, nested = (
            Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=p, dir=database.parent)))
            for p in (".table-", ".nested-")
        )
        con = stack.enter_context(duckdb.connect(str(database)))
        configure(con)
        declared = ", ".join(f"{quote(c.name)} VARCHAR" for c in cfg.columns)
        con.execute(f"CREATE TABLE {TABLE} ({declared}, _file VARCHAR, _line BIGINT)")
        items = _items(archive, cfg, nested)
        stack.callback(items.close)  # closes an open nested zip first
        for holder, member, key in items:
            globs, part = parts.of(member)
            done = _read_member(con, holder, member, key, cfg, tmp, part)
            if done is None:
                continue
            source, read_failures, stated = done
            files[key] = source
            evidence.append(stated)
            failures += read_failures
            parts.read(stated.file, member, globs)
        if not files:
            wanted = f" matching {cfg.read.members!r}" if cfg.read.members else ""
            raise SourceLayoutError(archive.name, f"no CSV, TSV or XLSX file{wanted}")
        failures += parts.release_failures(archive.name)
        if failures:
            raise ValidationFailed(archive.name, sort_failures(failures))
        con.execute("CHECKPOINT")
    return Release(name=archive.name, files=files, tables={}, database=database, evidence=evidence)

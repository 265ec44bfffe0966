"""`codecatalog impact FILE --as-of DATE`: a practice's own code list (a chargemaster or fee
schedule, CSV or XLSX) checked against every loaded code set on a date.

The list is read first (`read_practice_list`): the header row is the first of the top rows that
names a code column (else the first full row); the code column is the one named by the caller,
else the best header containing `cpt`, `hcpcs`, `procedure` or `code` (in that order of
preference) whose values look like codes, else the column whose values most often fully match a
declared `code_shape` (at least half of them). Only the code, the row's line (the sheet row for
XLSX) and the list's own description column (a header containing `desc`) are kept.

`impact` then answers, for the date `on`:

- `codes`: each line's code in every declared code set whose shape it matches, with the rules of
  `codecatalog.findings` in the set's version in force on `on`: `active`, `retired` (with
  `retired_on` and `successors`), `unknown`, or `unchecked` with a `reason` (no set claims the
  shape; no version in force; the version in force more than a year older than `on`);
- `revised` (with `since`): the descriptor and attribute changes of the listed codes between each
  set's version in force on `since` and its version in force on `on` (the net change, as
  `codecatalog diff` computes it);
- `policy`: the rows of every loaded policy source in force on `on` that name a listed code found
  retired or unknown (`codecatalog.findings_as_of`); rows naming unchecked codes are only counted.

Nothing is written to the warehouse: the work happens in temporary tables, so a read-only
connection (`warehouse.open_reader`) is enough. The lookups run in SQL, each distinct code once.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from codecatalog import warehouse as wh
from codecatalog.errors import UsageError
from codecatalog.findings import (
    CODES_TABLE,
    CodeSetCheck,
    code_findings_sql,
    in_force_release,
    plan_check,
    planned_terms,
)
from codecatalog.read.decode import decode_text
from codecatalog.read.scan import is_xlsx
from codecatalog.read.table import cell_text
from codecatalog.sources import SourceConfig, normalise_header, source, sources
from codecatalog.sql import literal, table_exists

KEYWORDS = (
    "cpt",
    "hcpcs",
    "procedure",
    "code",
)  # header words naming a code column, preferred first
DESCRIPTION_WORD = "desc"  # a header containing it is the list's own description column
HEADER_SCAN = 20  # rows searched for the header
SHAPE_SHARE = 0.5  # share of values matching a code shape that makes an unnamed column the codes
FIELD_CHANGES = ("descriptor_revised", "descriptor_editorial", "attribute_changed")

CODE_COLUMNS = (
    "line", "code", "description", "status", "code_set", "code_set_version", "retired_on",
    "successors", "reason",
)  # fmt: skip
REVISED_COLUMNS = (
    "line", "code", "description", "code_set", "from_version", "to_version", "change_type",
    "field", "old_value", "new_value", "effective_date",
)  # fmt: skip
POLICY_COLUMNS = (
    "line", "code", "description", "source", "source_version", "key", "column", "finding",
    "code_set", "code_set_version", "retired_on", "successors",
)  # fmt: skip
SECTIONS = {"codes": CODE_COLUMNS, "revised": REVISED_COLUMNS, "policy": POLICY_COLUMNS}
# `as_rows`: every section in one table (CSV), `section` saying which a row belongs to.
ROW_COLUMNS = ("section", *dict.fromkeys(c for cols in SECTIONS.values() for c in cols))
STATUSES = ("active", "retired", "unknown", "unchecked")

_LIST = "_impact_list"  # temporary: (line, code, description) of the practice list
_FOUND = "_impact_found"  # temporary: one row per distinct code and code set


# --- the practice list ----------------------------------------------------------------------


@dataclass(frozen=True)
class PracticeRow:
    """One line of a practice list: its line (sheet row for XLSX), code and own description."""

    line: int
    code: str
    description: str | None = None


@dataclass(frozen=True)
class PracticeList:
    """A practice's code list as read: which columns were used, and its rows with a code."""

    file: str
    column: str  # the code column's header
    description_column: str | None
    rows: tuple[PracticeRow, ...]
    sheet: str | None = None  # XLSX: the sheet read


def read_practice_list(
    path: Path, column: str | None = None, shapes: Iterable[str] | None = None
) -> PracticeList:
    """Read a practice's code list (CSV or other delimited text, or XLSX by content).

    `column` names the code column (its header, matched trimmed and case-folded); `shapes` are the
    full-match code patterns used to recognise an unnamed code column (default: the `code_shape`
    of every declared code set). Rows with a blank code are skipped. A code is trimmed and
    upper-cased; a numeric XLSX cell is a whole number zero-padded to five digits (Excel drops
    the leading zeros of codes like 00100). UsageError when the file has no rows, no
    recognisable code column (naming the headers seen) or no `column`.
    """
    path = Path(path)
    file = str(path)
    if shapes is None:
        shapes = [c.code_shape for c in sources().values() if c.code_shape]
    patterns = [re.compile(s) for s in shapes]
    tables = _read_tables(path, file)
    if not any(rows for _, rows in tables):
        raise UsageError(f"{file}: no rows")
    problems: list[UsageError] = []
    for sheet, rows in tables:
        if not rows:
            continue
        try:
            return _practice_list(file, sheet, rows, column, patterns)
        except UsageError as err:  # try the next sheet; report the first sheet's problem
            problems.append(err)
    sheets = [s for s, _ in tables if s is not None]
    more = f" (sheets: {', '.join(sheets)})" if len(sheets) > 1 else ""
    raise UsageError(f"{problems[0]}{more}")


Cells = Sequence[object]


def _read_tables(path: Path, file: str) -> list[tuple[str | None, list[tuple[int, Cells]]]]:
    """(sheet, rows) of the file: one table for text, one per sheet for XLSX; each row is
    (line, cell values) and rows with no value at all are left out."""
    if not path.is_file():
        raise UsageError(f"{file}: no such file")
    if is_xlsx(path):
        return _read_xlsx(path, file)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(f"{file}: cannot read: {err.strerror or err}") from None
    text = decode_text(data, file).text
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    rows: list[tuple[int, Cells]] = []
    previous = 0
    for record in reader:
        line, previous = previous + 1, reader.line_num
        if any(cell.strip() for cell in record):
            rows.append((line, record))
    return [(None, rows)]


def _read_xlsx(path: Path, file: str) -> list[tuple[str | None, list[tuple[int, Cells]]]]:
    import openpyxl  # slow to import: only when a workbook is read

    try:
        wb = openpyxl.load_workbook(path.open("rb"), read_only=True, data_only=True)
    except Exception as err:  # zipfile, XML and openpyxl's own errors alike
        raise UsageError(f"{file}: not a readable workbook: {err}") from None
    try:
        tables: list[tuple[str | None, list[tuple[int, Cells]]]] = []
        for ws in wb.worksheets:
            ws.reset_dimensions()  # a wrong stored dimension would cut rows off
            rows = [
                (number, values)
                for number, values in enumerate(ws.iter_rows(values_only=True), start=1)
                if any(_text(v) for v in values)
            ]
            tables.append((ws.title, rows))
        return tables
    finally:
        wb.close()


def _delimiter(text: str) -> str:
    """The most frequent of `,`, `;`, tab and `|` in the first lines (`,` when none occurs)."""
    head = "\n".join(text.splitlines()[:HEADER_SCAN])
    counts = {d: head.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _text(value: object) -> str | None:
    return cell_text(value)


def _code(value: object) -> str | None:
    """A code cell as a code: numbers zero-padded to five digits, text trimmed and upper-cased."""
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and float(value).is_integer()
        and 0 <= value < 100_000
    ):
        return f"{int(value):05d}"
    text = _text(value)
    return text.upper() if text else None


def _keyword_rank(header: str) -> int | None:
    """The rank of the best code-column word in a header (None: it has none)."""
    folded = normalise_header(header)
    ranks = [i for i, word in enumerate(KEYWORDS) if word in folded]
    return min(ranks) if ranks else None


def _practice_list(
    file: str,
    sheet: str | None,
    rows: list[tuple[int, Cells]],
    column: str | None,
    patterns: Sequence[re.Pattern[str]],
) -> PracticeList:
    top = rows[:HEADER_SCAN]
    widths = [sum(1 for v in cells if _text(v)) for _, cells in top]
    need = min(2, max(widths))  # a title row above the header has a single cell
    full = [i for i, n in enumerate(widths) if n >= need]
    fallback = full[0]
    headers_of = {i: [_text(v) or "" for v in top[i][1]] for i in full}
    if column is not None:
        wanted = normalise_header(column)
        named = [
            (i, j)
            for i in full
            for j, h in enumerate(headers_of[i])
            if h and normalise_header(h) == wanted
        ]
        if not named:
            seen = ", ".join(h for h in headers_of[fallback] if h) or "none"
            raise UsageError(f"{file}: no column {column!r} (headers: {seen})")
        at, index = named[0]
        return _rows(file, sheet, headers_of[at], rows[at + 1 :], index)
    keyworded = [i for i in full if any(_keyword_rank(h) is not None for h in headers_of[i])]
    at = keyworded[0] if keyworded else fallback
    headers, data = headers_of[at], rows[at + 1 :]
    width = max(len(cells) for _, cells in rows[at:])
    scores = [
        _shape_share([c[j] if j < len(c) else None for _, c in data], patterns)
        for j in range(width)
    ]
    named_columns = [
        (rank, j)
        for j, h in enumerate(headers)
        if (rank := _keyword_rank(h)) is not None and scores[j] > 0
    ]
    if named_columns:
        return _rows(file, sheet, headers, data, min(named_columns)[1])
    best = max(range(width), key=lambda j: (scores[j], -j))
    if scores[best] >= SHAPE_SHARE:
        if not keyworded and _matches(
            top[at][1][best] if best < len(top[at][1]) else None, patterns
        ):
            # No header at all: the first row is already a code.
            headers, data = [f"column {j + 1}" for j in range(width)], rows[at:]
        return _rows(file, sheet, headers + [""] * (width - len(headers)), data, best)
    seen = ", ".join(h for h in headers if h) or "none"
    raise UsageError(f"{file}: no code column found (headers: {seen}); name it with --column")


def _matches(value: object, patterns: Sequence[re.Pattern[str]]) -> bool:
    text = _text(value)
    return text is not None and any(p.fullmatch(text.upper()) for p in patterns)


def _shape_share(values: Sequence[object], patterns: Sequence[re.Pattern[str]]) -> float:
    """The share of a column's non-blank values that fully match a code shape."""
    present = [v for v in values if _text(v)]
    if not present:
        return 0.0
    return sum(_matches(v, patterns) for v in present) / len(present)


def _rows(
    file: str,
    sheet: str | None,
    headers: Sequence[str],
    data: Sequence[tuple[int, Cells]],
    index: int,
) -> PracticeList:
    """The practice list from the data rows under the header, codes in column `index`."""
    described = [
        j for j, h in enumerate(headers) if j != index and DESCRIPTION_WORD in normalise_header(h)
    ]
    d = described[0] if described else None
    found = []
    for line, cells in data:
        code = _code(cells[index]) if index < len(cells) else None
        if code is None:
            continue
        description = _text(cells[d]) if d is not None and d < len(cells) else None
        found.append(PracticeRow(line, code, description))
    header = headers[index] or f"column {index + 1}"
    if not found:
        raise UsageError(f"{file}: no codes under column {header!r}")
    return PracticeList(file, header, headers[d] if d is not None else None, tuple(found), sheet)


# --- the check ------------------------------------------------------------------------------


@dataclass
class ImpactResult:
    """What `impact` found; each section's rows are dicts with the section's columns (dates as
    ISO text, `line` an int), ordered by line."""

    file: str
    column: str
    description_column: str | None
    on: date
    since: date | None
    code_sets: dict[str, str | None] = field(default_factory=dict)  # version in force on `on`
    since_versions: dict[str, str | None] = field(default_factory=dict)  # in force on `since`
    policies: dict[str, str] = field(default_factory=dict)  # policy source -> version in force
    notes: list[str] = field(default_factory=list)
    codes: list[dict[str, Any]] = field(default_factory=list)
    revised: list[dict[str, Any]] = field(default_factory=list)
    policy: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        """Lines by status (a line counts once per code set it was checked in), lines with a
        revised code, and policy rows."""
        counts = Counter(row["status"] for row in self.codes)
        found = {status: counts.get(status, 0) for status in STATUSES}
        found["revised"] = len({row["line"] for row in self.revised})
        found["policy rows"] = len(self.policy)
        return found

    def sections(self) -> dict[str, list[dict[str, Any]]]:
        return {"codes": self.codes, "revised": self.revised, "policy": self.policy}

    def as_rows(self) -> list[dict[str, Any]]:
        """Every section's rows in one table (ROW_COLUMNS; blank where a section has no such
        column), `section` first: what `--format csv` writes."""
        return [
            {c: ({"section": name} | row).get(c) for c in ROW_COLUMNS}
            for name, rows in self.sections().items()
            for row in rows
        ]

    def as_dict(self) -> dict[str, Any]:
        """The whole answer as JSON-ready data: what was checked, the summary, the sections."""
        return {
            "file": self.file,
            "column": self.column,
            "description_column": self.description_column,
            "as_of": self.on.isoformat(),
            "since": self.since.isoformat() if self.since else None,
            "code_sets": self.code_sets,
            "since_versions": self.since_versions,
            "policies": self.policies,
            "notes": self.notes,
            "summary": self.summary(),
            **self.sections(),
        }


def code_set_declarations(con: duckdb.DuckDBPyConnection) -> dict[str, SourceConfig]:
    """Every code set (a source with a `code_shape`): the declared ones in declaration order,
    then loaded ones declared no more, each as last loaded (else as declared now)."""
    declared = [name for name, cfg in sources().items() if cfg.code_shape]
    loaded = (
        [r[0] for r in con.execute("SELECT DISTINCT codeset FROM releases ORDER BY 1").fetchall()]
        if table_exists(con, "releases")
        else []
    )
    found: dict[str, SourceConfig] = {}
    for name in [*declared, *(n for n in loaded if n not in declared)]:
        stored = wh.stored_declaration(con, name) if name in loaded else None
        cfg = stored if stored is not None and stored.code_shape else None
        if cfg is None and name in declared:
            cfg = source(name)
        if cfg is not None and cfg.code_shape:
            found[name] = cfg
    return found


def impact(
    con: duckdb.DuckDBPyConnection,
    practice: PracticeList,
    on: date,
    since: date | None = None,
) -> ImpactResult:
    """Check a practice list on `on` (see the module text); `since`, when given, must be
    earlier than `on`. Only temporary tables are written."""
    if since is not None and since >= on:
        raise UsageError(
            f"--since {since.isoformat()} is not earlier than --as-of {on.isoformat()}"
        )
    result = ImpactResult(practice.file, practice.column, practice.description_column, on, since)
    sets = code_set_declarations(con)
    checks: list[CodeSetCheck] = []
    for name, cfg in sets.items():
        assert cfg.code_shape is not None
        check = plan_check(name, cfg.code_shape, in_force_release(con, name, on), on)
        checks.append(check)
        result.code_sets[name] = check.release.version if check.release else None
    _load_list(con, practice)
    try:
        result.codes = _code_rows(con, checks, sets)
        if since is not None:
            _revised(con, result, checks, sets, since)
        _policy(con, result)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_LIST}")
    return result


def _load_list(con: duckdb.DuckDBPyConnection, practice: PracticeList) -> None:
    """The practice list as temporary table _LIST (line, code, description)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_LIST} AS
        SELECT unnest($lines::INTEGER[]) AS line, unnest($codes::VARCHAR[]) AS code,
               unnest($descriptions::VARCHAR[]) AS description""",
        {
            "lines": [r.line for r in practice.rows],
            "codes": [r.code for r in practice.rows],
            "descriptions": [r.description for r in practice.rows],
        },
    )


def _code_rows(
    con: duckdb.DuckDBPyConnection, checks: Sequence[CodeSetCheck], sets: Mapping[str, SourceConfig]
) -> list[dict[str, Any]]:
    """Each line's code in every code set claiming it: the findings rules, plus `active`."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {CODES_TABLE} AS SELECT DISTINCT code AS _code FROM {_LIST}"
    )
    try:
        found = code_findings_sql([planned_terms(c) for c in checks], sets)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_FOUND} AS {found}")
        for check in checks:
            if check.reason is not None:
                continue
            assert check.release is not None
            name = literal(check.name)
            con.execute(
                f"""INSERT INTO {_FOUND}
                SELECT _code, {name}, {literal(check.release.version)}, 'active', NULL, NULL, NULL
                FROM {CODES_TABLE} WHERE regexp_full_match(_code, {literal(check.shape)})
                AND _code NOT IN (SELECT _code FROM {_FOUND} WHERE code_set = {name})"""
            )
        rank = (
            "CASE f.code_set "
            + "".join(f"WHEN {literal(c.name)} THEN {i} " for i, c in enumerate(checks))
            + "END"
        )
        return _dicts(
            con.execute(
                f"""SELECT l.line, l.code, l.description, f.finding AS status, f.code_set,
                       f.code_set_version, f.retired_on, f.successors, f.reason
                FROM {_LIST} l JOIN {_FOUND} f ON f._code = l.code
                ORDER BY l.line, {rank} NULLS FIRST"""
            )
        )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_FOUND}")
        con.execute(f"DROP TABLE IF EXISTS {CODES_TABLE}")


def _revised(
    con: duckdb.DuckDBPyConnection,
    result: ImpactResult,
    checks: Sequence[CodeSetCheck],
    sets: Mapping[str, SourceConfig],
    since: date,
) -> None:
    """The descriptor and attribute changes of the listed codes, per code set, from its version
    in force on `since` to its version in force on `result.on`."""
    from codecatalog.diff.changes import changes_between

    for check in checks:
        if check.reason is not None or check.release is None:
            continue  # its codes are unchecked on `on`: the codes section says why
        claimed = con.execute(
            f"SELECT count(*) FROM {_LIST} WHERE regexp_full_match(code, {literal(check.shape)})"
        ).fetchone()
        if not claimed or not claimed[0]:
            continue
        old = in_force_release(con, check.name, since)
        result.since_versions[check.name] = old.version if old else None
        if old is None:
            result.notes.append(
                f"no {check.name} version in force on {since.isoformat()}: "
                f"its revisions are not listed"
            )
            continue
        if old.release_order == check.release.release_order:
            continue  # the same version on both dates: nothing changed
        changes = changes_between(con, sets[check.name], old.version, check.release.version)
        fields = changes[changes["change_type"].isin(FIELD_CHANGES)]
        con.register("_impact_changes", fields)
        try:
            result.revised += _dicts(
                con.execute(
                    f"""SELECT l.line, l.code, l.description, {literal(check.name)} AS code_set,
                           c.from_version, c.to_version, c.change_type, c.field, c.old_value,
                           c.new_value, c.effective_date
                    FROM {_LIST} l JOIN _impact_changes c ON c.key = l.code
                    ORDER BY l.line, c.field"""
                )
            )
        finally:
            con.unregister("_impact_changes")
    result.revised.sort(key=lambda row: (row["line"], row["code_set"], row["field"]))


def _policy(con: duckdb.DuckDBPyConnection, result: ImpactResult) -> None:
    """The rows of the policy sources in force on `result.on` naming a listed code found retired
    or unknown; rows naming unchecked codes are counted in a note."""
    from codecatalog.findings_as_of import AS_OF_TABLE, findings_as_of

    as_of = findings_as_of(con, result.on)
    result.policies = dict(as_of.policies)
    if as_of.not_in_force:
        result.notes.append(
            f"no policy version in force on {result.on.isoformat()}: "
            + ", ".join(as_of.not_in_force)
        )
    rows = _dicts(
        con.execute(
            f"""SELECT l.line, l.code, l.description, a.codeset AS source,
                   a.version AS source_version, a.key, a."column", a.finding, a.code_set,
                   a.code_set_version, a.retired_on, a.successors
            FROM {_LIST} l JOIN {AS_OF_TABLE} a ON a.code = l.code
            WHERE a.finding IN ('retired', 'unknown')
            ORDER BY l.line, source, a.key, a."column", a.code_set"""
        )
    )
    unchecked = con.execute(
        f"""SELECT count(*), count(DISTINCT a.code) FROM {_LIST} l
            JOIN {AS_OF_TABLE} a ON a.code = l.code WHERE a.finding = 'unchecked'"""
    ).fetchone()
    if unchecked and unchecked[0]:
        n_rows, n_codes = unchecked
        result.notes.append(
            f"{n_rows:,} policy row{'s' * (n_rows != 1)} name{'s' * (n_rows == 1)} {n_codes:,} of "
            f"the list's unchecked codes (not listed)"
        )
    con.execute(f"DROP TABLE IF EXISTS {AS_OF_TABLE}")
    result.policy = rows


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """A query's rows as dicts, dates as ISO text."""
    names = [d[0] for d in cursor.description or ()]
    return [
        {n: v.isoformat() if isinstance(v, date) else v for n, v in zip(names, row, strict=True)}
        for row in cursor.fetchall()
    ]


# --- output ---------------------------------------------------------------------------------


def checked(result: ImpactResult) -> list[str]:
    """What was checked: the list's columns, the code-set and policy versions in force."""
    described = result.description_column
    sets = ", ".join(f"{n} {v or '(none in force)'}" for n, v in result.code_sets.items())
    lines = [
        f"code column: {result.column}"
        + (f"; description column: {described}" if described else ""),
        f"code sets in force: {sets or 'none declared'}",
    ]
    if result.since is not None:
        since = ", ".join(f"{n} {v or '(none in force)'}" for n, v in result.since_versions.items())
        lines.append(f"revised since {result.since.isoformat()}: from {since or 'no claimed set'}")
    policies = ", ".join(f"{n} {v}" for n, v in result.policies.items())
    lines.append(f"policy sources in force: {policies or 'none'}")
    return lines


def headline(result: ImpactResult) -> list[str]:
    """The lines above the tables: the title, what was checked, the summary, the notes."""
    return [
        f"Impact on {result.file} as of {result.on.isoformat()}",
        *checked(result),
        ", ".join(f"{k} {v:,}" for k, v in result.summary().items()),
        *(f"note: {note}" for note in result.notes),
    ]


def render_table(result: ImpactResult, active: bool = False) -> str:
    """The answer as text: the headline, then each section as an aligned table; the codes
    section lists the active codes only when `active` (else it says how many it left out)."""
    out = headline(result)
    for name, rows in result.sections().items():
        shown = rows if active or name != "codes" else [r for r in rows if r["status"] != "active"]
        out += ["", f"{name} ({len(rows):,} row{'s' * (len(rows) != 1)})"]
        if shown:
            out += _aligned(SECTIONS[name], shown)
        if len(shown) < len(rows):
            out.append(f"… and {len(rows) - len(shown):,} active (--format csv lists every code)")
    return "\n".join(out) + "\n"


def _aligned(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Rows as aligned text columns; columns blank in every row are left out."""
    columns = [c for c in columns if any(row.get(c) not in (None, "") for row in rows)]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return lines


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def write_csv(result: ImpactResult, out: io.TextIOBase | Any) -> None:
    """`as_rows()` as CSV (ROW_COLUMNS header, blank for None, `\\n` line ends)."""
    writer = csv.DictWriter(out, fieldnames=ROW_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(result.as_rows())


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right}
.active{color:#1a6b1a}.retired{color:#a40000;font-weight:600}
.unknown{color:#8a4b00;font-weight:600}.unchecked{color:#666}
ul.meta{padding-left:1.2em}p.empty{color:#666}
"""


def render_html(result: ImpactResult) -> str:
    """One self-contained HTML page (no scripts, no network): the headline, the summary and a
    table per section; every value escaped."""
    e = html.escape
    title = f"Impact on {result.file} as of {result.on.isoformat()}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        '<ul class="meta">'
        + "".join(f"<li>{e(line)}</li>" for line in checked(result))
        + "".join(f'<li class="note">note: {e(note)}</li>' for note in result.notes)
        + "</ul>",
        "<h2>Summary</h2>",
        "<table><tr>"
        + "".join(f"<th>{e(k)}</th>" for k in result.summary())
        + "</tr><tr>"
        + "".join(f'<td class="n">{v:,}</td>' for v in result.summary().values())
        + "</tr></table>",
    ]
    titles = {
        "codes": "Codes",
        "revised": f"Revised since {result.since.isoformat()}" if result.since else "Revised",
        "policy": "Policy rows naming retired or unknown codes",
    }
    for name, rows in result.sections().items():
        parts.append(f'<h2 id="{name}">{e(titles[name])} ({len(rows):,})</h2>')
        if name == "revised" and result.since is None:
            parts.append('<p class="empty">Not asked (no --since date).</p>')
            continue
        if not rows:
            parts.append('<p class="empty">None.</p>')
            continue
        columns = SECTIONS[name]
        parts.append("<table><thead><tr>")
        parts.append("".join(f"<th>{e(c)}</th>" for c in columns) + "</tr></thead><tbody>")
        for row in rows:
            status = row.get("status") or row.get("finding")
            css = f' class="{e(status)}"' if status in STATUSES else ""
            parts.append(
                f"<tr{css}>"
                + "".join(
                    f'<td class="n">{e(_cell(row.get(c)))}</td>'
                    if c == "line"
                    else f"<td>{e(_cell(row.get(c)))}</td>"
                    for c in columns
                )
                + "</tr>"
            )
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


__all__ = [
    "ImpactResult",
    "PracticeList",
    "PracticeRow",
    "checked",
    "code_set_declarations",
    "headline",
    "impact",
    "read_practice_list",
    "render_html",
    "render_table",
    "write_csv",
]

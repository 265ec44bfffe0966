"""Readers for the CMS HCPCS Level II Alpha-Numeric file (FORMATS.md §2): pure functions.

The ANWEB `.txt` (320-byte records, §2.2) and `.xlsx` (48 columns, §2.6) give the same frame: one
row per key (procedure code or 2-character modifier) in file order, every value text stripped of
spaces and U+00A0 at both ends (blank = ""), plus `line` (the key's first record) and
`continuations` (records merged into its long description); the `.txt` frame also carries
`record_length` (its longest record, line end excluded) and `record_length_line` (where it is), for
the schema to bound. The transaction report (§2.7) gives CMS's stated action per key.
"""

from __future__ import annotations

import fnmatch
import io
import re
import warnings
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

from codecatalog.errors import Failure, ReleaseFormatError, SourceLayoutError
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.decode import split_lines
from codecatalog.read.release import Skipped, Table


def _repeat(name: str, count: int, start: int, width: int) -> list[tuple[str, int, int]]:
    return [(f"{name}{i + 1}", start + i * width, width) for i in range(count)]


# (column, 1-based start, length) of every field of a first-line record (RECID 3/7), §2.2.
FIELDS: list[tuple[str, int, int]] = [
    ("hcpc", 1, 5),
    ("seqnum", 6, 5),
    ("recid", 11, 1),
    ("long_description", 12, 80),
    ("short_description", 92, 28),
    *_repeat("price", 4, 120, 2),
    ("mult_pi", 128, 1),
    *_repeat("cim", 3, 129, 6),
    *_repeat("mcm", 3, 147, 8),
    ("statute", 171, 10),
    *_repeat("labcert", 8, 181, 3),
    *_repeat("xref", 5, 205, 5),
    ("cov", 230, 1),
    ("asc_grp", 231, 2),
    ("asc_dt", 233, 8),
    ("opps", 241, 3),
    ("opps_pi", 244, 1),
    ("opps_dt", 245, 8),
    ("procnote", 253, 4),
    ("betos", 257, 3),
    *_repeat("tos", 5, 261, 1),
    ("anest_bu", 266, 3),
    ("add_dt", 269, 8),
    ("act_eff_dt", 277, 8),
    ("term_dt", 285, 8),
    ("action_cd", 293, 1),
]
RECORD_LENGTH = 320
_MIN_FIRST_LINE = FIELDS[-1][1] + FIELDS[-1][2] - 1  # 293: up to ACTION CD
_VALUE_COLUMNS = ["hcpc", "is_modifier", *(name for name, _, _ in FIELDS[1:])]
COLUMNS = [*_VALUE_COLUMNS, "line", "continuations"]
TXT_COLUMNS = [*COLUMNS, "record_length", "record_length_line"]
_STRIP = " \u00a0"
_RECORD = re.compile(r"^.{5}\d{5}[3478]")
_RECORD_SHAPE = re.compile(r"^.{5}\d{5}(.)")

# `.xlsx` header text → column (§2.6): the column name upper-cased, `_` kept only in these.
_UNDERSCORED = {"mult_pi", "asc_grp", "asc_dt", "opps_pi", "opps_dt", "anest_bu"}
XLSX_HEADER: dict[str, str] = {
    (name if name in _UNDERSCORED else name.replace("_", " ")).upper(): name
    for name, _, _ in FIELDS
}
_MIN_HEADER_NAMES = 3
_SNIFF_ROWS = 50  # rows of the first sheet a workbook's header is looked for in when sniffing

# Transaction-report labels (§2.4, §2.7), compared case-folded with whitespace collapsed; the
# report's own `Action Code Key` sheet is added to these when present.
ACTION_LABELS: dict[str, str] = {
    "add": "A",
    "change in both coverage & long description": "B",
    "coverage and long description change": "B",
    "coverage & long desc change": "B",
    "change in long description": "C",
    "long description change": "C",
    "long/short description change": "C",
    "discontinued": "D",
    "change in coverage": "F",
    "coverage change": "F",
    "no change": "N",
    "change in payment": "P",
    "payment change": "P",
    "re-activated": "R",
    "change in short description": "S",
    "short description change": "S",
    "miscellaneous change (betos or type of service)": "T",
    "misc change (tos, betos)": "T",
}
ACTION_CODES = frozenset("ABCDFNPRST")
# Labels neither table knows, by pattern over the folded label (first match wins): the wordings of
# the record layout (§2.4) and of every report seen (`ADD`, `Added`, `No change`, `Coverage & Long
# Desc Change`, …). Order matters: `B` (coverage and long description) before `C` and `F`.
ACTION_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), letter)
    for p, letter in [
        (r"^(no\b|unchanged)", "N"),
        (r"^add", "A"),
        (r"re-? ?activ", "R"),
        (r"discontinu|delet|terminat", "D"),
        (r"payment|pricing", "P"),
        (r"misc|betos|type of service", "T"),
        (r"(coverage|admin).*long|long.*(coverage|admin)", "B"),
        (r"long", "C"),
        (r"short", "S"),
        (r"coverage|admin", "F"),
    ]
]
# Transaction-report headers, matched on the folded header text with every run of characters other
# than letters and digits made one space: the code column has been `HCPCS/Modifier Code` (2017,
# 2018), `HCPC/MOD` (Apr 2020), `HCPC` (Jul, Oct 2020); the action `Type of Change` or `ACTION CD`.
REPORT_CODE_HEADER = re.compile(r"^(hcpcs?|code)( (or|and|modifier|mod|code))*$")
REPORT_CHANGE_HEADER = re.compile(
    r"^(type of (change|action)|action( (cd|code|type))?|change( type)?)$"
)
_REPORT_SHEET = re.compile(r"\bby hcpcs?\b")
_KEY_SHEET = re.compile(r"\bkey\b")

_EXCLUDED = ("trans", "correction", "readme", "proc_notes", "noc", "recordlayout")


def _clean(value: str) -> str:
    return value.strip(_STRIP)


def _no_first_line(file: str, line: int | None, code: str) -> ReleaseFormatError:
    return ReleaseFormatError(
        file, line, f"continuation record for {code!r} has no first-line record"
    )


def _frame(rows: list[dict[str, Any]], columns: list[str] = COLUMNS) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype(
        {c: "str" for c in _VALUE_COLUMNS} | {c: "int64" for c in columns[len(_VALUE_COLUMNS) :]}
    )


# --- fixed width ------------------------------------------------------------------------------


def read_hcpcs_fixed_width(text: str, file: str) -> Table:
    """`*ANWEB*.txt`: skip the preamble, merge RECID 4/8 continuations into their RECID 3/7 key.

    Raises ReleaseFormatError for a first-line record too short to hold ACTION CD (< 293 chars),
    a continuation without its first line, a line of unknown shape or RECID, or no record at all.
    Short (91-byte) continuation lines and blank lines are accepted. Each key's longest record
    (line end excluded, trailing spaces included) is kept as `record_length` and
    `record_length_line`: records longer than 320 are the schema's to refuse, not the reader's.
    """
    lines = split_lines(text)
    start = next((i for i, line in enumerate(lines) if _RECORD.match(line)), None)
    if start is None:
        raise ReleaseFormatError(
            file, None, "no HCPCS record (a line matching '^.{5}\\d{5}[3478]') found"
        )
    rows: list[dict[str, Any]] = []
    segments: list[str] = []

    def close() -> None:
        if rows:
            rows[-1]["long_description"] = " ".join(s for s in segments if s)
            rows[-1]["continuations"] = len(segments) - 1

    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip(_STRIP + "\t"):
            continue
        shape = _RECORD_SHAPE.match(line)
        if shape is None:
            raise ReleaseFormatError(file, number, f"not an HCPCS record: {line[:40]!r}")
        recid = shape.group(1)
        code = _clean(line[:5])
        if recid in "37":
            if len(line) < _MIN_FIRST_LINE:
                raise ReleaseFormatError(
                    file,
                    number,
                    f"first-line record for {code!r} is {len(line)} characters long; "
                    f"ACTION CD needs at least {_MIN_FIRST_LINE}",
                )
            close()
            record = line.ljust(RECORD_LENGTH)
            row: dict[str, Any] = {
                name: _clean(record[pos - 1 : pos - 1 + width]) for name, pos, width in FIELDS
            }
            row["is_modifier"] = "Y" if recid == "7" else "N"
            row["line"] = number
            row["record_length"], row["record_length_line"] = len(line), number
            rows.append(row)
            segments = [row["long_description"]]
        elif recid in "48":
            current = rows[-1] if rows else None
            if (
                current is None
                or current["hcpc"] != code
                or current["recid"] != chr(ord(recid) - 1)
            ):
                raise _no_first_line(file, number, code)
            segments.append(_clean(line[11:91]))
            if len(line) > current["record_length"]:
                current["record_length"], current["record_length_line"] = len(line), number
        else:
            raise ReleaseFormatError(file, number, f"unknown RECID {recid!r} for {code!r}")
    close()
    skipped = (
        Skipped(file, start, "preamble before the first record", "\n".join(lines[:start]))
        if start
        else None
    )
    return Table(file, _frame(rows, TXT_COLUMNS), skipped)


# --- xlsx -------------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    """A cell as the text it was meant to be: numbers without `.0`, blank as ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _workbook_sheets(
    data: bytes,
    file: str,
    choose: Callable[[list[str]], list[str]] = lambda names: names[:1],
    limit: int | None = None,
) -> dict[str, list[tuple[int, list[str]]]]:
    """Rows of the sheets `choose` picks from the sheet names (default: the first sheet).

    Rows are (1-based row number, raw cell texts, unstripped); fully empty rows are dropped;
    `limit` stops after that many rows of a sheet.
    """
    with warnings.catch_warnings():
        # Print headers/footers openpyxl cannot parse (2017-2020 files) are irrelevant to the data.
        warnings.filterwarnings("ignore", "Cannot parse header or footer", UserWarning)
        return _read_sheets(data, file, choose, limit)


def _read_sheets(
    data: bytes, file: str, choose: Callable[[list[str]], list[str]], limit: int | None
) -> dict[str, list[tuple[int, list[str]]]]:
    import openpyxl  # imported late: only HCPCS needs it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as err:  # zipfile.BadZipFile, KeyError, InvalidFileException, ...
        raise ReleaseFormatError(file, None, f"not a readable xlsx workbook: {err}") from None
    try:
        result = {}
        for name in choose(list(book.sheetnames)):
            sheet = book[name]
            sheet.reset_dimensions()  # trust the cells, not a stale <dimension>
            rows = []
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if limit is not None and number > limit:
                    break
                texts = [_cell_text(v) for v in values]
                if any(_clean(t) for t in texts):
                    rows.append((number, texts))
            result[name] = rows
        return result
    finally:
        book.close()


def _header_text(cell: str) -> str:
    return " ".join(_clean(cell).upper().split())


def _anweb_header_at(rows: list[tuple[int, list[str]]]) -> int | None:
    """Index of the `.xlsx` header row: the first naming at least three of the 48 columns (the
    header starts at row 1 or after a `***Disclaimers` block, §2.6)."""
    for index, (_, cells) in enumerate(rows):
        if sum(_header_text(c) in XLSX_HEADER for c in cells) >= _MIN_HEADER_NAMES:
            return index
    return None


def _header_index(header: list[str], names: dict[str, str], file: str, line: int) -> dict[str, int]:
    """Column → position for every name in `names` (header text → column), found by text.

    Raises ReleaseFormatError naming every header text missing from the row, in `names` order.
    """
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = _header_text(cell)
        if key in names and names[key] not in positions:
            positions[names[key]] = index
    missing = [repr(h) for h, column in names.items() if column not in positions]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise ReleaseFormatError(
            file, line, f"column{plural} {', '.join(missing)} missing from the header row"
        )
    return positions


def read_hcpcs_xlsx(data: bytes, file: str) -> Table:
    """`*ANWEB*.xlsx`: the first sheet, header row found by its column names (HCPC, SEQNUM, …).

    Every cell is read as text; a RECID 4/8 row (the stray `G0503` row of 2020) continues the
    preceding key's long description. Raises ReleaseFormatError naming every missing column.
    """
    [rows] = _workbook_sheets(data, file).values()
    start = _anweb_header_at(rows)
    if start is None:
        raise ReleaseFormatError(
            file, None, "no header row naming the HCPCS columns (HCPC, SEQNUM, RECID, …)"
        )
    header_line, header = rows[start]
    positions = _header_index(header, XLSX_HEADER, file, header_line)
    records: list[dict[str, Any]] = []
    for number, cells in rows[start + 1 :]:
        cells = cells + [""] * (len(header) - len(cells))
        row: dict[str, Any] = {column: _clean(cells[i]) for column, i in positions.items()}
        recid, code = row["recid"], row["hcpc"]
        if recid in ("3", "7"):
            row["is_modifier"] = "Y" if recid == "7" else "N"
            row["line"], row["continuations"] = number, 0
            records.append(row)
        elif recid in ("4", "8"):
            current = records[-1] if records else None
            if current is None or (code and code != current["hcpc"]):
                raise _no_first_line(file, number, code)
            more = row["long_description"]
            if more:
                current["long_description"] = f"{current['long_description']} {more}".strip()
            current["continuations"] += 1
        else:
            raise ReleaseFormatError(file, number, f"unknown RECID {recid!r} for {code!r}")
    before = header_line - 1
    skipped = Skipped(file, before, "rows before the header row") if before else None
    return Table(file, _frame(records), skipped)


# --- transaction report -----------------------------------------------------------------------


def _label_key(label: str) -> str:
    return " ".join(label.casefold().split())


def _report_header_key(cell: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", _clean(cell).casefold()).split())


def action_for_label(label: str, labels: dict[str, str] = ACTION_LABELS) -> str | None:
    """The action letter a transaction-report label stands for, None when it is not understood.

    A letter stands for itself; otherwise the label is looked up case-folded with whitespace
    collapsed in `labels` (folded label → letter), then matched against ACTION_PATTERNS.
    """
    if label in ACTION_CODES:
        return label
    key = _label_key(label)
    if key in labels:
        return labels[key]
    return next((letter for pattern, letter in ACTION_PATTERNS if pattern.search(key)), None)


def _report_header(rows: list[tuple[int, list[str]]]) -> tuple[int, int, int] | None:
    """(row index, code column, type-of-change column) of the first row naming both."""
    for index, (_, cells) in enumerate(rows):
        keys = [_report_header_key(c) for c in cells]
        code_at = next((i for i, k in enumerate(keys) if REPORT_CODE_HEADER.match(k)), None)
        change_at = next(
            (i for i, k in enumerate(keys) if i != code_at and REPORT_CHANGE_HEADER.match(k)), None
        )
        if code_at is not None and change_at is not None:
            return index, code_at, change_at
    return None


def _is_key_sheet(name: str) -> bool:
    return bool(_KEY_SHEET.search(_label_key(name)))


def read_hcpcs_transactions(data: bytes, file: str) -> Table:
    """Transaction report `.xlsx` as `hcpc`, `label` (as written), `action` (its letter), `line`.

    The sheet read is the one named `Changes by HCPC…` (else the first sheet, other than the
    `Action Code Key`, with a recognised header); its header row is the first with a code column
    (REPORT_CODE_HEADER) and a type-of-change column (REPORT_CHANGE_HEADER). Labels become letters
    by `action_for_label`, the `Action Code Key` sheet's own wording added to ACTION_LABELS. Rows
    are kept as written, duplicates included.

    Raises ReleaseFormatError when no sheet has such a header, a type of change is not understood
    (the first such row; the message counts the others), a row has no code, or no row follows the
    header.
    """
    names: list[str] = []

    def choose(found: list[str]) -> list[str]:
        names.extend(found)
        keys = [n for n in found if _is_key_sheet(n)][:1]
        data_sheets = [n for n in found if not _is_key_sheet(n)]
        by_code = [n for n in data_sheets if _REPORT_SHEET.search(_label_key(n))][:1]
        return (by_code or data_sheets) + keys

    sheets = _workbook_sheets(data, file, choose)
    labels = dict(ACTION_LABELS)
    for name in filter(_is_key_sheet, sheets):
        for _, cells in sheets[name]:
            letter, label = (_clean(c) for c in [*cells, "", ""][:2])
            if letter in ACTION_CODES and label:
                labels[_label_key(label)] = letter
    found = next(
        (
            (name, at)
            for name in sheets
            if not _is_key_sheet(name) and (at := _report_header(sheets[name])) is not None
        ),
        None,
    )
    if found is None:
        raise ReleaseFormatError(
            file,
            None,
            "no sheet with a header row naming the code (HCPCS/Modifier Code, HCPC/MOD, HCPC, …) "
            f"and the type of change (Type of Change, ACTION CD, …) (sheets: {', '.join(names)})",
        )
    sheet, (header_at, code_at, change_at) = found
    rows = sheets[sheet]
    header_line, header = rows[header_at]
    records = []
    unknown: list[tuple[int, str, str]] = []
    for number, cells in rows[header_at + 1 :]:
        cells = cells + [""] * (len(header) - len(cells))
        code, label = _clean(cells[code_at]), _clean(cells[change_at])
        if not code and not label:
            continue
        if not code:
            raise ReleaseFormatError(
                file, number, f"sheet {sheet!r}: row without a code (type of change {label!r})"
            )
        action = action_for_label(label, labels)
        if action is None:
            unknown.append((number, code, label))
        else:
            records.append((code, label, action, number))
    if unknown:
        number, code, label = unknown[0]
        problem = f"sheet {sheet!r}: unknown type of change {label!r} for {code!r}"
        if len(unknown) > 1:
            others = sorted({lbl for _, _, lbl in unknown[1:]} - {label})
            also = f"; also {', '.join(repr(o) for o in others)}" if others else ""
            problem += f" (and {len(unknown) - 1} more row(s){also})"
        raise ReleaseFormatError(file, number, problem)
    if not records:
        raise ReleaseFormatError(file, header_line, f"sheet {sheet!r}: no rows under the header")
    frame = pd.DataFrame(records, columns=["hcpc", "label", "action", "line"])
    frame = frame.astype({"hcpc": "str", "label": "str", "action": "str", "line": "int64"})
    before = header_line - 1
    skipped = (
        Skipped(file, before, f"rows of sheet {sheet!r} before the header") if before else None
    )
    return Table(file, frame, skipped)


# --- which file is which ----------------------------------------------------------------------


def sniff_hcpcs_file(data: bytes) -> str | None:
    """What one HCPCS file is by its content alone, whatever its name.

    `txt`: text with a line of the ANWEB record shape (`^.{5}\\d{5}[3478]`); `transactions`: a
    workbook with a `Changes by HCPC…` or `Action Code Key` sheet; `xlsx`: another workbook whose
    first sheet has the ANWEB header row (HCPC, SEQNUM, RECID, …); None: anything else.
    """
    if data[:4] == b"PK\x03\x04":
        return _sniff_workbook(data)
    text = data.decode("latin-1")  # never fails; only the record shape matters here
    return "txt" if any(_RECORD.match(line) for line in split_lines(text)) else None


def _sniff_workbook(data: bytes) -> str | None:
    names: list[str] = []

    def first(found: list[str]) -> list[str]:
        names.extend(found)
        return found[:1]

    try:
        [rows] = _workbook_sheets(data, "", first, limit=_SNIFF_ROWS).values()
    except Exception:  # a zip that is no readable workbook is none of ours
        return None
    folded = [_label_key(n) for n in names]
    if any(_REPORT_SHEET.search(n) or "action code key" in n for n in folded):
        return "transactions"
    return "xlsx" if _anweb_header_at(rows) is not None else None


def _is_single_file(archive: ReleaseArchive) -> bool:
    """A release given as one file (not a directory, not a zip of files)."""
    return archive.location.is_file() and archive.members() == [archive.location.name]


def _pick(archive: ReleaseArchive, role: str, names: list[str]) -> str | None:
    if len(names) > 1:
        raise SourceLayoutError(archive.name, f"two candidates for {role}: {', '.join(names)}")
    return names[0] if names else None


def find_hcpcs_members(
    archive: ReleaseArchive, main_required: bool = True
) -> dict[str, str | None]:
    """Members playing the roles `txt`, `xlsx` (ANWEB file) and `transactions` (report).

    In a directory or zip, by name (the transaction report, corrections, NOC lists, read-mes and
    record layouts are never taken for the ANWEB file). A release given as a single file is
    recognised by its content (`sniff_hcpcs_file`), whatever its name.

    Raises SourceLayoutError when two members fit one role, or (if `main_required`) when there is
    neither an ANWEB txt nor xlsx.
    """
    if _is_single_file(archive):
        return _single_file_members(archive, main_required)
    found: dict[str, list[str]] = {"txt": [], "xlsx": [], "transactions": []}
    for member in archive.members():
        path = PurePosixPath(member)
        name = path.name.casefold()
        if "__macosx" in (p.casefold() for p in path.parts) or name.startswith(("._", "~$")):
            continue  # Finder / Excel litter, never release content
        if fnmatch.fnmatch(name, "*anweb*.*") and not any(x in name for x in _EXCLUDED):
            if name.endswith(".txt"):
                found["txt"].append(member)
            elif name.endswith(".xlsx"):
                found["xlsx"].append(member)
        if (
            fnmatch.fnmatch(name, "*trans*report*.xlsx")
            or fnmatch.fnmatch(name, "*trans*alpha*.xlsx")
        ) and "correction" not in name:
            found["transactions"].append(member)
    members = {role: _pick(archive, role, names) for role, names in found.items()}
    if main_required and not (members["txt"] or members["xlsx"]):
        raise SourceLayoutError(
            archive.name, "no HCPCS ANWEB file ('*ANWEB*.txt' or '*ANWEB*.xlsx') found"
        )
    return members


def _single_file_members(archive: ReleaseArchive, main_required: bool) -> dict[str, str | None]:
    [name] = archive.members()
    kind = sniff_hcpcs_file(archive.read_bytes(name))
    members: dict[str, str | None] = {"txt": None, "xlsx": None, "transactions": None}
    if kind is not None:
        members[kind] = name
    if main_required and kind == "transactions":
        raise SourceLayoutError(
            archive.name,
            "is an HCPCS transaction report, not an ANWEB file (give it with --transactions)",
        )
    if main_required and kind is None:
        raise SourceLayoutError(
            archive.name,
            "is not an HCPCS ANWEB file: neither text with 320-byte records (a line matching "
            "'^.{5}\\d{5}[3478]') nor a workbook whose first sheet has the HCPCS header row "
            "(HCPC, SEQNUM, RECID, …)",
        )
    return members


def find_transaction_report(archive: ReleaseArchive) -> str | None:
    """The transaction report given separately (`--transactions`): a single file is taken as the
    report whatever its name or content; in a directory or zip it is found by name."""
    if _is_single_file(archive):
        return archive.members()[0]
    return find_hcpcs_members(archive, main_required=False)["transactions"]


# --- cross-check ------------------------------------------------------------------------------

_NOT_COMPARED = ("seqnum", "line", "continuations")


def compare_txt_xlsx(txt: pd.DataFrame, xlsx: pd.DataFrame, file: str) -> list[Failure]:
    """Warnings where the `.xlsx` disagrees with the `.txt` of the same release.

    Keys present in only one of them, and values that differ other than by whitespace (runs of
    whitespace are collapsed before comparing); `seqnum`, `line` and `continuations` are ignored.
    Failures point at the xlsx row when the key is there.
    """
    failures: list[Failure] = []
    txt_keys, xlsx_keys = set(txt["hcpc"]), set(xlsx["hcpc"])
    for _, row in txt[~txt["hcpc"].isin(xlsx_keys)].iterrows():
        failures.append(
            Failure(
                file,
                None,
                "hcpc",
                f"key in the txt (line {row['line']}) but not the xlsx",
                row["hcpc"],
            )
        )
    for _, row in xlsx[~xlsx["hcpc"].isin(txt_keys)].iterrows():
        failures.append(
            Failure(file, int(row["line"]), "hcpc", "key in the xlsx but not the txt", row["hcpc"])
        )
    columns = [c for c in txt.columns if c in xlsx.columns and c not in (*_NOT_COMPARED, "hcpc")]
    both = txt.drop_duplicates("hcpc").merge(
        xlsx.drop_duplicates("hcpc"), on="hcpc", suffixes=("_txt", "_xlsx")
    )
    for column in columns:
        left = both[f"{column}_txt"].astype("str").str.split().str.join(" ")
        right = both[f"{column}_xlsx"].astype("str").str.split().str.join(" ")
        differ = both[left != right]
        failures += [
            Failure(
                file,
                int(line),
                column,
                f"xlsx differs from the txt for {key}",
                f"txt {old!r} / xlsx {new!r}",
            )
            for line, key, old, new in zip(
                differ["line_xlsx"],
                differ["hcpc"],
                differ[f"{column}_txt"],
                differ[f"{column}_xlsx"],
                strict=True,
            )
        ]
    return failures

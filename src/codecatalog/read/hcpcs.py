"""Readers for the CMS HCPCS Level II Alpha-Numeric file (FORMATS.md §2): pure functions.

The ANWEB `.txt` (320-byte records, §2.2) and `.xlsx` (48 columns, §2.6) give the same frame: one
row per key (procedure code or 2-character modifier) in file order, every value text stripped of
spaces and U+00A0 at both ends (blank = ""), plus `line` (the key's first record) and
`continuations` (records merged into its long description). The transaction report (§2.7) gives
CMS's stated action per key.
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
_STRIP = " \u00a0"
_RECORD = re.compile(r"^.{5}\d{5}[3478]")
_RECORD_SHAPE = re.compile(r"^.{5}\d{5}(.)")

# `.xlsx` header text → column (§2.6): the column name upper-cased, `_` kept only in these.
_UNDERSCORED = {"mult_pi", "asc_grp", "asc_dt", "opps_pi", "opps_dt", "anest_bu"}
XLSX_HEADER: dict[str, str] = {
    (name if name in _UNDERSCORED else name.replace("_", " ")).upper(): name
    for name, _, _ in FIELDS
}

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
_REPORT_CODE_HEADERS = {"hcpcs/modifier code", "hcpc/mod", "hcpc"}
_REPORT_CHANGE_HEADERS = {"type of change", "action cd"}

_EXCLUDED = ("trans", "correction", "readme", "proc_notes", "noc", "recordlayout")


def _clean(value: str) -> str:
    return value.strip(_STRIP)


def _no_first_line(file: str, line: int | None, code: str) -> ReleaseFormatError:
    return ReleaseFormatError(
        file, line, f"continuation record for {code!r} has no first-line record"
    )


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype(
        {c: "str" for c in _VALUE_COLUMNS} | {"line": "int64", "continuations": "int64"}
    )


# --- fixed width ------------------------------------------------------------------------------


def read_hcpcs_fixed_width(text: str, file: str) -> Table:
    """`*ANWEB*.txt`: skip the preamble, merge RECID 4/8 continuations into their RECID 3/7 key.

    Raises ReleaseFormatError for a first-line record too short to hold ACTION CD (< 293 chars),
    a continuation without its first line, a line of unknown shape or RECID, or no record at all.
    Short (91-byte) or long continuation lines, trailing spaces and blank lines are accepted.
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
        else:
            raise ReleaseFormatError(file, number, f"unknown RECID {recid!r} for {code!r}")
    close()
    skipped = (
        Skipped(file, start, "preamble before the first record", "\n".join(lines[:start]))
        if start
        else None
    )
    return Table(file, _frame(rows), skipped)


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
    data: bytes, file: str, choose: Callable[[list[str]], list[str]] = lambda names: names[:1]
) -> dict[str, list[tuple[int, list[str]]]]:
    """Rows of the sheets `choose` picks from the sheet names (default: the first sheet).

    Rows are (1-based row number, raw cell texts, unstripped); fully empty rows are dropped.
    """
    with warnings.catch_warnings():
        # Print headers/footers openpyxl cannot parse (2017-2020 files) are irrelevant to the data.
        warnings.filterwarnings("ignore", "Cannot parse header or footer", UserWarning)
        return _read_sheets(data, file, choose)


def _read_sheets(
    data: bytes, file: str, choose: Callable[[list[str]], list[str]]
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
                texts = [_cell_text(v) for v in values]
                if any(_clean(t) for t in texts):
                    rows.append((number, texts))
            result[name] = rows
        return result
    finally:
        book.close()


def _header_index(header: list[str], names: dict[str, str], file: str, line: int) -> dict[str, int]:
    """Column → position for every name in `names` (header text → column), found by text."""
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = " ".join(_clean(cell).upper().split())
        if key in names and names[key] not in positions:
            positions[names[key]] = index
    missing = [h for h, column in names.items() if column not in positions]
    if missing:
        raise ReleaseFormatError(file, line, f"header {missing[0]!r} missing from the header row")
    return positions


def read_hcpcs_xlsx(data: bytes, file: str) -> Table:
    """`*ANWEB*.xlsx`: the first sheet, header row found by `HCPC` in its first cell.

    Every cell is read as text; a RECID 4/8 row (the stray `G0503` row of 2020) continues the
    preceding key's long description.
    """
    [rows] = _workbook_sheets(data, file).values()
    start = next(
        (i for i, (_, cells) in enumerate(rows) if cells and _clean(cells[0]) == "HCPC"), None
    )
    if start is None:
        raise ReleaseFormatError(file, None, "no header row with 'HCPC' in the first column")
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


def read_hcpcs_transactions(data: bytes, file: str) -> Table:
    """Transaction report `.xlsx`: the `Changes by HCPC…` sheet as `hcpc`, `label`, `action`.

    Labels are mapped to action letters case-insensitively (the `Action Code Key` sheet plus the
    labels of FORMATS.md §2.4/§2.7); an unknown label raises ReleaseFormatError. Rows are kept as
    written, duplicates included.
    """

    def choose(names: list[str]) -> list[str]:
        by_code = [n for n in names if "by hcpc" in n.casefold()][:1]
        if not by_code:
            raise ReleaseFormatError(
                file, None, f"no sheet named 'Changes by HCPC…' (sheets: {', '.join(names)})"
            )
        return by_code + [n for n in names if "action code key" in n.casefold()][:1]

    sheets = _workbook_sheets(data, file, choose)
    by_code, *key_sheet = sheets
    labels = dict(ACTION_LABELS)
    for _, cells in sheets[key_sheet[0]] if key_sheet else []:
        letter, label = (_clean(c) for c in [*cells, "", ""][:2])
        if letter in ACTION_CODES and label:
            labels[_label_key(label)] = letter

    rows = sheets[by_code]
    header_at = next(
        (
            i
            for i, (_, cells) in enumerate(rows)
            if any(_clean(c).casefold() in _REPORT_CODE_HEADERS for c in cells)
        ),
        None,
    )
    if header_at is None:
        raise ReleaseFormatError(
            file, None, f"sheet {by_code!r}: no header row with 'HCPCS/Modifier Code' or 'HCPC'"
        )
    header_line, header = rows[header_at]
    folded = [_clean(c).casefold() for c in header]
    code_at = next(i for i, c in enumerate(folded) if c in _REPORT_CODE_HEADERS)
    change_at = next((i for i, c in enumerate(folded) if c in _REPORT_CHANGE_HEADERS), None)
    if change_at is None:
        raise ReleaseFormatError(
            file, header_line, f"sheet {by_code!r}: no 'Type of Change' or 'ACTION CD' column"
        )
    records = []
    for number, cells in rows[header_at + 1 :]:
        cells = cells + [""] * (len(header) - len(cells))
        code, label = _clean(cells[code_at]), _clean(cells[change_at])
        if not code and not label:
            continue
        action = label if label in ACTION_CODES else labels.get(_label_key(label))
        if action is None or not code:
            problem = f"unknown type of change {label!r}" if code else "row without a code"
            raise ReleaseFormatError(file, number, f"sheet {by_code!r}: {problem} for {code!r}")
        records.append((code, label, action, number))
    frame = pd.DataFrame(records, columns=["hcpc", "label", "action", "line"])
    frame = frame.astype({"hcpc": "str", "label": "str", "action": "str", "line": "int64"})
    before = header_line - 1
    skipped = (
        Skipped(file, before, f"rows of sheet {by_code!r} before the header") if before else None
    )
    return Table(file, frame, skipped)


# --- members ----------------------------------------------------------------------------------


def _pick(archive: ReleaseArchive, role: str, names: list[str]) -> str | None:
    if len(names) > 1:
        raise SourceLayoutError(archive.name, f"two candidates for {role}: {', '.join(names)}")
    return names[0] if names else None


def find_hcpcs_members(
    archive: ReleaseArchive, main_required: bool = True
) -> dict[str, str | None]:
    """Members playing the roles `txt`, `xlsx` (ANWEB file) and `transactions` (report), by name.

    Raises SourceLayoutError when two members fit one role, or (if `main_required`) when there is
    neither an ANWEB txt nor xlsx.
    """
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
        for index in both.index[left != right]:
            failures.append(
                Failure(
                    file,
                    int(both.at[index, "line_xlsx"]),
                    column,
                    f"xlsx differs from the txt for {both.at[index, 'hcpc']}",
                    f"txt {both.at[index, f'{column}_txt']!r} / "
                    f"xlsx {both.at[index, f'{column}_xlsx']!r}",
                )
            )
    return failures

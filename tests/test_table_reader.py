"""The `table` family reader: CSV, TSV and XLSX files into the staging DuckDB table `catalog`."""

from __future__ import annotations

import random
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

import duckdb
import openpyxl
import pytest

from codecatalog.errors import DecodeError, Failure, SourceLayoutError, ValidationFailed
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.decode import decode_text
from codecatalog.read.release import SourceFile
from codecatalog.read.table import (
    cell_text,
    join_header_rows,
    normalise_header,
    read_table_release,
    separating_blanks,
)
from codecatalog.sources import Column, ReadOptions, SourceConfig

PA_COLUMNS = (
    ("code", "Procedure Code"),
    ("description", "Description"),
    ("pa_required", "PA Required?"),
    ("category", "Service Category"),
)
PTP_COLUMNS = (
    ("column1", "Column 1"),
    ("column2", "Column 2"),
    ("prior_1996", "*=in existence prior to 1996"),
    ("effective", "Effective Date"),
    ("deletion", "Deletion Date *=no data"),
    ("modifier", "Modifier 0=not allowed 1=allowed 9=not applicable"),
    ("rationale", "PTP Edit Rationale"),
)


def config(
    columns: tuple[tuple[str, str], ...] = PA_COLUMNS,
    pad: dict[str, int] | None = None,
    **read: object,
) -> SourceConfig:
    pads = pad or {}
    return SourceConfig(
        name="northwind_pa",
        title="Northwind Health prior-authorization list",
        family="table",
        key=(columns[0][0],),
        schema=Path("northwind_pa.yaml"),
        descriptors=(),
        attributes=(),
        columns=tuple(Column(name, header, pads.get(name)) for name, header in columns),
        read=ReadOptions(**read),  # type: ignore[arg-type]
    )


def read(
    location: Path, cfg: SourceConfig, tmp_path: Path
) -> tuple[list[tuple[object, ...]], dict]:
    """Read a release; its catalog rows in (file, line) order and its files."""
    database = tmp_path / "staging.duckdb"
    release = read_table_release(ReleaseArchive.open(location), cfg, database)
    assert release.database == database
    assert release.tables == {}
    with duckdb.connect(str(database), read_only=True) as con:
        columns = [r[0] for r in con.execute("DESCRIBE catalog").fetchall()]
        assert columns == [c.name for c in cfg.columns] + ["_file", "_line"]
        rows = con.execute("SELECT * FROM catalog ORDER BY _file, _line").fetchall()
    return rows, release.files


def failures(location: Path, cfg: SourceConfig, tmp_path: Path) -> list[Failure]:
    with pytest.raises(ValidationFailed) as caught:
        read_table_release(ReleaseArchive.open(location), cfg, tmp_path / "staging.duckdb")
    return caught.value.failures


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- text ---------------------------------------------------------------------------------

PA_CSV = (
    b"Northwind Health prior-authorization list\r\n"  # 1
    b'"Effective 2025-01-01, see notes"\r\n'  # 2
    b"\r\n"  # 3
    b"Procedure Code,Description,PA Required?,Service Category,Internal\r\n"  # 4
    b'100,"Anesthesia, salivary gland",Y,Anesthesia,x\r\n'  # 5
    b'J0120,"Injection, tetracycline\r\nup to 250 mg",N,Drugs,\r\n'  # 6-7
    b"  A0021 , Ambulance service ,Y, ,\r\n"  # 8
    b'99213,"Office visit\n\nestablished patient",Y,E&M,"a\nb"\r\n'  # 9-12
    b"L3000,Foot insert,N,Orthotics,\r\n"  # 13
    b"\r\n"
    b"\r\n"
)


def test_csv_with_preamble_and_quoted_newlines(tmp_path: Path) -> None:
    csv = write(tmp_path / "release" / "pa.csv", PA_CSV)
    rows, files = read(csv.parent, config(pad={"code": 5}, header="Procedure Code"), tmp_path)
    assert rows == [
        ("00100", "Anesthesia, salivary gland", "Y", "Anesthesia", "pa.csv", 5),
        ("J0120", "Injection, tetracycline\r\nup to 250 mg", "N", "Drugs", "pa.csv", 6),
        ("A0021", "Ambulance service", "Y", None, "pa.csv", 8),
        ("99213", "Office visit\n\nestablished patient", "Y", "E&M", "pa.csv", 9),
        ("L3000", "Foot insert", "N", "Orthotics", "pa.csv", 13),
    ]
    assert files == {
        "pa.csv": SourceFile("table", "pa.csv", files["pa.csv"].sha256, len(PA_CSV), "utf-8")
    }
    import hashlib

    assert files["pa.csv"].sha256 == hashlib.sha256(PA_CSV).hexdigest()


def test_blank_lines_between_records_are_counted(tmp_path: Path) -> None:
    data = (
        b"code,description\n"  # 1
        b"\n"  # 2
        b"A0001,one\n"  # 3
        b'A0002,"two\n\nlines"\n'  # 4-6
        b"\n"  # 7
        b"\n"  # 8
        b"A0003,three\n"  # 9
        b'A0004,"four\n"\n'  # 10-11
        b"A0005,five"  # 12, no final line end
    )
    csv = write(tmp_path / "codes.csv", data)
    cfg = config((("code", "CODE"), ("description", "Description")))
    rows, _ = read(csv, cfg, tmp_path)
    assert rows == [
        ("A0001", "one", "codes.csv", 3),
        ("A0002", "two\n\nlines", "codes.csv", 4),
        ("A0003", "three", "codes.csv", 9),
        ("A0004", "four", "codes.csv", 10),
        ("A0005", "five", "codes.csv", 12),
    ]


@pytest.mark.parametrize("seed", range(12))
def test_line_numbers_of_generated_files(seed: int, tmp_path: Path) -> None:
    """Random CSVs (LF, CRLF or CR; quoted newlines of every kind, in declared and undeclared
    columns; blank lines; a preamble): every record on the line it starts on."""
    rnd = random.Random(seed)
    end = rnd.choice(["\n", "\r\n", "\r"])
    parts = [f"title{end}", end * rnd.randint(0, 2), f"Code,Text,Other{end}"]
    line = 3 + parts[1].count(end)
    expected = []
    for i in range(rnd.randint(1, 60)):
        if rnd.random() < 0.15:
            parts.append(end)
            line += 1
            continue
        text = rnd.choice(["t", '"a\nb"', '"a\r\nb"', '"a\rb"', '"a\n\nb"', '"a\n \n"'])
        other = rnd.choice(["", "o", '"o\n\np"'])
        record = f"C{i},{text},{other}"
        expected.append((f"C{i}", "f.csv", line))
        line += len(re.findall(r"\r\n|\r|\n", record)) + 1
        parts.append(record + end)
    parts.append(end * rnd.randint(0, 2))
    csv = write(tmp_path / "f.csv", "".join(parts).encode())
    rows, _ = read(csv, config((("code", "Code"), ("text", "Text")), header="code"), tmp_path)
    assert [(code, file, line) for code, _, file, line in rows] == expected


def test_tsv_with_stacked_header_rows(tmp_path: Path) -> None:
    """An NCCI-PTP-shaped file: a preamble, a header spread over four rows, CRLF."""
    lines = [
        "Copyright notice line.  All rights reserved.",
        "Column1/Column2 Edits",
        "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale",
        "\t\tprior to 1996\tDate\tDate\t0=not allowed\t",
        "\t\t\t\t*=no data\t1=allowed\t",
        "\t\t\t\t\t9=not applicable\t",
        "0001U\t0018U\t\t20240101\t*\t1\tMisuse of column two code with column one code",
        "0001U\t36415\t*\t19960101\t20231231\t0\tStandards of medical/surgical services",
        'A0021\tA0080\t\t20240401\t*\t9\tMutually exclusive 5" wide procedures',
    ]
    tsv = write(tmp_path / "ccipra-v301r0-f1.txt", ("\r\n".join(lines) + "\r\n").encode())
    rows, files = read(tsv, config(PTP_COLUMNS, header="column 1", header_rows=4), tmp_path)
    name = "ccipra-v301r0-f1.txt"
    assert rows == [
        ("0001U", "0018U", None, "20240101", "*", "1",
         "Misuse of column two code with column one code", name, 7),
        ("0001U", "36415", "*", "19960101", "20231231", "0",
         "Standards of medical/surgical services", name, 8),
        ("A0021", "A0080", None, "20240401", "*", "9",
         'Mutually exclusive 5" wide procedures', name, 9),
    ]  # fmt: skip
    assert files[name].encoding == "utf-8"


def test_tsv_header_in_row_one_by_default(tmp_path: Path) -> None:
    """No `header` declared: row 1 is the header; undeclared columns are ignored, declared
    ones are taken by header whatever their order in the file."""
    data = (
        b"Service Category\tNotes\tProcedure Code\tDescription\tPA Required?\n"
        b"Drugs\tnone\tJ0120\tInjection, tetracycline\tN\n"
        b"Radiology\t \t 70450 \tCT head  \t Y\n"
    )
    tsv = write(tmp_path / "pa.tsv", data)
    rows, _ = read(tsv, config(), tmp_path)
    assert rows == [
        ("J0120", "Injection, tetracycline", "N", "Drugs", "pa.tsv", 2),
        ("70450", "CT head", "Y", "Radiology", "pa.tsv", 3),
    ]


def test_cp1252_file(tmp_path: Path) -> None:
    text = (
        "Procedure Code,Description,PA Required?,Service Category\r\n"
        "E0100,Cane \u2013 adjustable or fixed,N,DME\r\n"
        "L3000,Foot insert \u2018UCB\u2019 type,Y,Orthotics\u00ae\r\n"
    )
    csv = write(tmp_path / "pa.csv", text.encode("cp1252"))
    rows, files = read(csv, config(), tmp_path)
    assert rows == [
        ("E0100", "Cane \u2013 adjustable or fixed", "N", "DME", "pa.csv", 2),
        ("L3000", "Foot insert \u2018UCB\u2019 type", "Y", "Orthotics\u00ae", "pa.csv", 3),
    ]
    assert files["pa.csv"].encoding == "cp1252"


def test_utf8_bom(tmp_path: Path) -> None:
    text = "\ufeffProcedure Code,Description,PA Required?,Service Category\nE0100,Caf\u00e9,N,DME\n"
    csv = write(tmp_path / "pa.csv", text.encode())
    rows, files = read(csv, config(), tmp_path)
    assert rows == [("E0100", "Caf\u00e9", "N", "DME", "pa.csv", 2)]
    assert files["pa.csv"].encoding == "utf-8-sig"


def test_header_matching_ignores_case_nbsp_and_newlines(tmp_path: Path) -> None:
    data = (
        'Title\n"PROCEDURE\nCODE",description\u00a0,"  pa   required? ",'
        "Service\u00a0\u00a0Category\n"
        "J0120, Injection\u00a0,N,Drugs\n"
    ).encode()
    csv = write(tmp_path / "pa.csv", data)
    rows, _ = read(csv, config(header="procedure code"), tmp_path)
    assert rows == [("J0120", "Injection", "N", "Drugs", "pa.csv", 4)]


def test_one_column_file(tmp_path: Path) -> None:
    csv = write(tmp_path / "codes.csv", b"Code\nA0021\n\nA0080\n\n\n")
    rows, _ = read(csv, config((("code", "code"),)), tmp_path)
    assert rows == [("A0021", "codes.csv", 2), ("A0080", "codes.csv", 4)]


def test_zip_member_names_the_zip(tmp_path: Path) -> None:
    location = tmp_path / "x.zip"
    with zipfile.ZipFile(location, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data/pa list.csv", PA_CSV)
        zf.writestr("readme.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
        zf.writestr("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    rows, files = read(location, config(header="Procedure Code"), tmp_path)
    assert [(r[0], r[-2], r[-1]) for r in rows] == [
        ("100", "x.zip!data/pa list.csv", 5),
        ("J0120", "x.zip!data/pa list.csv", 6),
        ("A0021", "x.zip!data/pa list.csv", 8),
        ("99213", "x.zip!data/pa list.csv", 9),
        ("L3000", "x.zip!data/pa list.csv", 13),
    ]
    assert list(files) == ["data/pa list.csv"]


def test_members_glob_and_several_files(tmp_path: Path) -> None:
    release = tmp_path / "release"
    header = b"Procedure Code,Description,PA Required?,Service Category\n"
    write(release / "part1.csv", header + b"A0021 ,\tAmbulance\t,Y, \n")
    write(release / "sub" / "part2.csv", header + b"\n" + b"J0120,Injection,N,Drugs\n")
    write(release / "notes.txt", b"not a table at all\n")
    rows, files = read(release, config(members="*.csv"), tmp_path)
    assert rows == [
        ("A0021", "Ambulance", "Y", None, "part1.csv", 2),
        ("J0120", "Injection", "N", "Drugs", "sub/part2.csv", 3),
    ]
    assert sorted(files) == ["part1.csv", "sub/part2.csv"]


# --- xlsx -----------------------------------------------------------------------------------


def test_xlsx_with_title_rows_and_a_second_sheet(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    notes = wb.active
    assert notes is not None
    notes.title = "Notes"
    notes.append(["Procedure Code", "this sheet is not the list"])
    ws = wb.create_sheet("PA List")
    ws.append(["Northwind Health prior-authorization list"])  # 1
    ws.append([])  # 2
    ws.append(
        [
            "PROCEDURE\nCODE",
            "Description\u00a0",
            "pa required?",
            "Service Category",
            "Effective",
            "Units",
            "Covered",
            "Internal",
        ]
    )  # 3
    ws.append(
        [100, "  Anesthesia, salivary gland ", "Y", "Anesthesia", datetime(2025, 1, 1), 1.5, True]
    )  # 4
    ws.append(["J0120", "Injection", "N", "Drugs", date(2025, 4, 1), 3.0, False])  # 5
    ws.append([])  # 6: an empty row is no record
    ws.append([99213, None, "Y", 12.25, datetime(2025, 7, 1, 8, 30), 1e-05, None])  # 7
    ws.append([None, None, None, None, None, None, None, "x"])  # 8: only an undeclared value
    ws.append([])  # 9
    ws["A12"] = "   "  # formatted-empty rows at the end
    wb.save(tmp_path / "pa.xlsx")
    columns = (*PA_COLUMNS, ("effective", "effective"), ("units", "Units"),
               ("covered", "Covered"))  # fmt: skip
    cfg = config(columns, pad={"code": 5}, sheet="PA List", header="Procedure Code")
    rows, files = read(tmp_path / "pa.xlsx", cfg, tmp_path)
    assert rows == [
        ("00100", "Anesthesia, salivary gland", "Y", "Anesthesia", "2025-01-01", "1.5", "TRUE",
         "pa.xlsx", 4),
        ("J0120", "Injection", "N", "Drugs", "2025-04-01", "3", "FALSE", "pa.xlsx", 5),
        ("99213", None, "Y", "12.25", "2025-07-01T08:30:00", "1e-05", None,
         "pa.xlsx", 7),
        (None, None, None, None, None, None, None, "pa.xlsx", 8),
    ]  # fmt: skip
    assert files["pa.xlsx"].encoding == "xlsx"
    assert files["pa.xlsx"].size == (tmp_path / "pa.xlsx").stat().st_size


def test_xlsx_first_sheet_by_default_inside_a_zip(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Procedure Code", "Description", "PA Required?", "Service Category"])
    ws.append(["A0021", "Ambulance", "Y", "Transport"])
    wb.create_sheet("Other").append(["Procedure Code", "Description"])
    wb.save(tmp_path / "book.xlsx")
    location = tmp_path / "q1.zip"
    with zipfile.ZipFile(location, "w") as zf:
        zf.write(tmp_path / "book.xlsx", "PA/book.xlsx")
    rows, _ = read(location, config(), tmp_path)
    assert rows == [("A0021", "Ambulance", "Y", "Transport", "q1.zip!PA/book.xlsx", 2)]


# --- failures ---------------------------------------------------------------------------------


def test_header_never_appears(tmp_path: Path) -> None:
    csv = write(tmp_path / "pa.csv", b"Code,Description\nA0021,Ambulance\n")
    assert failures(csv, config(header="Procedure Code"), tmp_path) == [
        Failure("pa.csv", None, "", "header", "Procedure Code")
    ]


def test_declared_column_missing(tmp_path: Path) -> None:
    csv = write(
        tmp_path / "pa.csv",
        b"Title row\n\nProcedure Code,Description,PA Req\nA0021,Ambulance,Y\n",
    )
    assert failures(csv, config(header="Procedure Code"), tmp_path) == [
        Failure("pa.csv", 3, "category", "missing column", "Service Category"),
        Failure("pa.csv", 3, "pa_required", "missing column", "PA Required?"),
    ]


def test_rows_with_too_many_or_too_few_fields(tmp_path: Path) -> None:
    data = (
        b"Procedure Code,Description,PA Required?,Service Category\r\n"  # 1
        b'A0021,"Ambulance\r\nservice",Y,Transport\r\n'  # 2-3
        b"A0080,Non-emergency,Y,Transport,extra\r\n"  # 4
        b"\r\n"  # 5
        b"J0120,Injection,N\r\n"  # 6
        b'J0121,"Injection\nmore",N,Drugs,"x\ny"\r\n'  # 7-8
        b"J0122,ok,N,Drugs\r\n"  # 9
    )
    csv = write(tmp_path / "pa.csv", data)
    assert failures(csv, config(), tmp_path) == [
        Failure("pa.csv", 4, "", "field count", "A0080,Non-emergency,Y,Transport,extra"),
        Failure("pa.csv", 6, "category", "field count", "J0120,Injection,N"),
        Failure("pa.csv", 7, "", "field count", 'J0121,"Injection\nmore",N,Drugs,"x\ny"'),
    ]


def test_duplicate_header_after_joining(tmp_path: Path) -> None:
    data = b"Code\tCode\tDescription\tNotes\tNotes\n\t\tlong\t\t\nA0021\tX\tAmbulance\t\t\n"
    tsv = write(tmp_path / "pa.tsv", data)
    cfg = config((("code", "code"), ("description", "Description long")), header_rows=2)
    assert failures(tsv, cfg, tmp_path) == [
        Failure("pa.tsv", 1, "code", "duplicate header", "Code")
    ]


def test_missing_sheet(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Summary"
    wb.create_sheet("Codes")
    wb.save(tmp_path / "pa.xlsx")
    assert failures(tmp_path / "pa.xlsx", config(sheet="PA List"), tmp_path) == [
        Failure("pa.xlsx", None, "", "sheet", "PA List (sheets: Summary, Codes)")
    ]


def test_every_file_failure_is_collected(tmp_path: Path) -> None:
    release = tmp_path / "release"
    write(release / "a.csv", b"Procedure Code,Description\nA0021,Ambulance\n")
    write(release / "b.csv", b"nothing here\n")
    cfg = config((("code", "Procedure Code"), ("description", "Description")), header="Code")
    assert failures(release, cfg, tmp_path) == [
        Failure("a.csv", None, "", "header", "Code"),
        Failure("b.csv", None, "", "header", "Code"),
    ]


def test_undecodable_bytes_and_control_characters(tmp_path: Path) -> None:
    header = b"Procedure Code,Description,PA Required?,Service Category\n"
    bad = write(tmp_path / "bad.csv", header + b"A0021,Caf\xe9 \x81,Y,T\n")
    with pytest.raises(DecodeError) as caught:
        read_table_release(ReleaseArchive.open(bad), config(), tmp_path / "s.duckdb")
    with pytest.raises(DecodeError) as expected:
        decode_text(bad.read_bytes(), "bad.csv")  # the rules every reader follows
    assert str(caught.value) == str(expected.value)
    assert (caught.value.byte_offset, caught.value.line) == (len(header) + 11, 2)
    control = write(tmp_path / "ctl.csv", header + b"A0021,Ambulance,Y,T\nA0080,x\x1ay,Y,T\n")
    with pytest.raises(DecodeError, match="control character U\\+001A") as caught:
        read_table_release(ReleaseArchive.open(control), config(), tmp_path / "s.duckdb")
    assert caught.value.line == 3
    wide = write(tmp_path / "wide.csv", "Procedure Code\n".encode("utf-16"))
    with pytest.raises(DecodeError, match="UTF-16LE byte-order mark"):
        read_table_release(ReleaseArchive.open(wide), config(), tmp_path / "s.duckdb")


def test_no_table_member(tmp_path: Path) -> None:
    location = tmp_path / "x.zip"
    with zipfile.ZipFile(location, "w") as zf:
        zf.writestr("readme.pdf", b"%PDF-1.4\n")
    with pytest.raises(SourceLayoutError, match="no CSV, TSV or XLSX file"):
        read_table_release(ReleaseArchive.open(location), config(), tmp_path / "s.duckdb")


def test_member_over_the_size_cap(tmp_path: Path) -> None:
    location = tmp_path / "x.zip"
    with zipfile.ZipFile(location, "w") as zf:
        zf.writestr("pa.csv", PA_CSV)
    archive = ReleaseArchive.open(location, max_member_bytes=100)
    with pytest.raises(SourceLayoutError, match="over the limit of 100 bytes"):
        read_table_release(archive, config(), tmp_path / "s.duckdb")


# --- pure helpers -----------------------------------------------------------------------------


def test_normalise_header() -> None:
    assert normalise_header(" PA\u00a0Required?\r\n ") == "pa required?"
    assert normalise_header("Straße") == normalise_header("STRASSE")


def test_cell_text() -> None:
    values = [None, 100, 100.0, 2.5, 1e-05, 12345678901234567890, True, False,
              datetime(2024, 1, 31), datetime(2024, 1, 31, 23, 59, 1), date(2024, 2, 1),
              "  x ", " \u00a0 "]  # fmt: skip
    assert [cell_text(v) for v in values] == [
        None, "100", "100", "2.5", "1e-05", "12345678901234567890", "TRUE", "FALSE",
        "2024-01-31", "2024-01-31T23:59:01", "2024-02-01", "x", None,
    ]  # fmt: skip


def test_join_header_rows() -> None:
    assert join_header_rows([["Column 1", "*=in existence"], ["", "prior to  1996"], []]) == [
        "Column 1",
        "*=in existence prior to 1996",
    ]


def test_separating_blanks() -> None:
    # Records counted as if unseparated start on 3, 4 (three lines) and 7; physically a blank
    # line 2 comes first, the second record (5-7) holds the empty line 6, then blank 8 and 9.
    assert separating_blanks([2, 6, 8, 9], [(4, 2)]) == [2, 7, 7]
    assert separating_blanks([], [(4, 2)]) == []
    assert separating_blanks([5], []) == [5]

"""The table family's generic options used by the CMS policy sources (issue 8): column options
(header alternatives, prefix match, optional, nulls, map, decimals, part, derived columns),
release parts, zips inside a release, bottom-aligned stacked headers, the DOS end-of-file line,
complete lines, fixed-width text and the evidence each file gives for version checks.

Every file here is synthetic: no AMA or ADA text.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest
from test_table_reader import failures, write

from codecatalog.errors import DecodeError, Failure, SourceLayoutError
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.release import Evidence, Release
from codecatalog.read.table import _find_text_header, read_table_release
from codecatalog.sources import Column, ReadOptions, SourceConfig


def config(*columns: Column, **read: object) -> SourceConfig:
    return SourceConfig(
        name="policy",
        title="A policy table",
        family="table",
        key=(columns[0].name,),
        schema=Path("policy.yaml"),
        descriptors=(),
        attributes=(),
        columns=columns,
        read=ReadOptions(**read),  # type: ignore[arg-type]
    )


def read(location: Path, cfg: SourceConfig, tmp_path: Path) -> tuple[list[tuple], Release]:
    """The catalog rows in (file, line) order, and the release."""
    database = tmp_path / "staging.duckdb"
    release = read_table_release(ReleaseArchive.open(location), cfg, database)
    with duckdb.connect(str(database), read_only=True) as con:
        columns = [r[0] for r in con.execute("DESCRIBE catalog").fetchall()]
        assert columns == [c.name for c in cfg.columns] + ["_file", "_line"]
        rows = con.execute("SELECT * FROM catalog ORDER BY _file, _line").fetchall()
    return rows, release


def zip_of(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


# --- column options -------------------------------------------------------------------------

OPTION_COLUMNS = (
    Column("code", ("Item Code", "Code"), pad=5),
    Column("weight", "Relative Weight", nulls=(".",), decimals=2),
    Column("rate", "Payment Rate", nulls=(".", "n/a"), decimals=4),
    Column("capped", "Note: capped", match="prefix",
           map=(("*", "true"), ("#", "true"), ("", "false"))),
    Column("expiry", ("Drug Pass-Through Expiration", "Drug and Device Pass-Through"),
           match="prefix", optional=True),
    Column("missing", "Not In This File", optional=True),
    Column("indicator_text", "Indicator"),
    Column("indicator", (), from_column="indicator_text", extract="^([0-9]) "),
    Column("status", "Status", map=(("A", "active"), ("X", "")), nulls=("-",)),
)  # fmt: skip


def test_column_options_on_text(tmp_path: Path) -> None:
    data = (
        b"A synthetic policy table\r\n"  # 1
        b"Code,Relative Weight,Payment Rate,Note: capped at $1.00 (2024),"
        b"Drug and Device Pass-Through Expiration during Year,Indicator,Status\r\n"  # 2
        b"123, .10 ,7,*,,1 Line edit,A\r\n"  # 3
        b"X0001,.,n/a,#,2024-12-31,2 Date edit,X\r\n"  # 4
        b"12345,33.8872,12.5,,,none,-\r\n"  # 5
        b"0042,-.5,1.23456,x,,3 ,B\r\n"  # 6
    )
    csv = write(tmp_path / "policy.csv", data)
    rows, _ = read(csv, config(*OPTION_COLUMNS, header="Code"), tmp_path)
    assert rows == [
        ("00123", "0.10", "7.0000", "true", None, None, "1 Line edit", "1", "active",
         "policy.csv", 3),
        ("X0001", None, None, "true", "2024-12-31", None, "2 Date edit", "2", None,
         "policy.csv", 4),
        ("12345", "33.8872", "12.5000", "false", None, None, "none", None, None,
         "policy.csv", 5),
        ("00042", "-0.50", "1.23456", "x", None, None, "3", None, "B", "policy.csv", 6),
    ]  # fmt: skip


def test_column_options_on_xlsx(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "2030 March Policy"
    ws.append(["Policy table for CY 2030"])  # 1
    ws.append(["Synthetic notice", None, "second cell"])  # 2
    ws.append(["Item Code", "Relative Weight", "Payment Rate", "NOTE: CAPPED at $2",
               "Indicator", "Status"])  # 3  # fmt: skip
    ws.append([123, 0.1, 7, "*", "1 Line edit", "A"])  # 4
    ws.append(["X0001", ".", 12.5, None, "9x", None])  # 5
    wb.save(tmp_path / "policy.xlsx")
    rows, release = read(tmp_path / "policy.xlsx", config(*OPTION_COLUMNS, header="Item code"),
                         tmp_path)  # fmt: skip
    assert rows == [
        ("00123", "0.10", "7.0000", "true", None, None, "1 Line edit", "1", "active",
         "policy.xlsx", 4),
        ("X0001", None, "12.5000", "false", None, None, "9x", None, None, "policy.xlsx", 5),
    ]  # fmt: skip
    assert release.evidence == [
        Evidence(
            "policy.xlsx",
            "policy.xlsx",
            "2030 March Policy",
            ("Policy table for CY 2030", "Synthetic notice", "second cell"),
        )
    ]


def test_header_alternatives_missing_or_both(tmp_path: Path) -> None:
    release = tmp_path / "release"
    write(release / "a.csv", b"Code,Item Code,Indicator\nA0001,A0002,1 x\n")
    write(release / "b.csv", b"Codes,Indicator\nA0001,1 x\n")
    write(release / "c.csv", b"Code,Indicator,Indicator extra\nA0001,1 x,2\n")
    cfg = config(
        Column("code", ("Item Code", "Code")),
        Column("indicator", "Indicator", match="prefix"),
    )
    assert failures(release, cfg, tmp_path) == [
        Failure("a.csv", 1, "code", "duplicate header", "Code | Item Code"),
        Failure("b.csv", 1, "code", "missing column", "Item Code | Code"),
        Failure("c.csv", 1, "indicator", "duplicate header", "Indicator | Indicator extra"),
    ]


# --- parts and zips inside a release -----------------------------------------------------

PART_COLUMNS = (
    Column("table", (), part=True),
    Column("code", "HCPCS/ CPT Code"),
    Column("value", ("Practitioner Services MUE Values", "DME Supplier Services MUE Values")),
)
PARTS = (("*practitioner*", "practitioner"), ("*dme*supplier*", "dme"))


def test_parts_fill_the_part_column(tmp_path: Path) -> None:
    release = tmp_path / "release"
    notice = b'"Synthetic notice,\r\nover two lines"\r\n'
    practitioner = b'"HCPCS/\nCPT Code",Practitioner Services MUE Values\r\nA0001,2\r\n'
    dme = b"HCPCS/ CPT Code,DME Supplier Services MUE Values\r\nE0100,1\r\nE0105,3\r\n"
    write(release / "MUE_PractitionerServices_Eff_01-01-2030.csv", notice + practitioner)
    write(release / "MUE_DMESupplierServices_Eff_01-01-2030.csv", dme)
    rows, result = read(
        release, config(*PART_COLUMNS, parts=PARTS, header="HCPCS/ CPT Code"), tmp_path
    )
    assert rows == [
        ("dme", "E0100", "1", "MUE_DMESupplierServices_Eff_01-01-2030.csv", 2),
        ("dme", "E0105", "3", "MUE_DMESupplierServices_Eff_01-01-2030.csv", 3),
        ("practitioner", "A0001", "2", "MUE_PractitionerServices_Eff_01-01-2030.csv", 5),
    ]
    assert result.evidence == [
        Evidence("MUE_DMESupplierServices_Eff_01-01-2030.csv",
                 "MUE_DMESupplierServices_Eff_01-01-2030.csv", None, ()),
        Evidence("MUE_PractitionerServices_Eff_01-01-2030.csv",
                 "MUE_PractitionerServices_Eff_01-01-2030.csv", None,
                 ("Synthetic notice,\r\nover two lines",)),
    ]  # fmt: skip


def test_parts_missing_doubled_and_unexpected(tmp_path: Path) -> None:
    release = tmp_path / "release"
    header = b"HCPCS/ CPT Code,Practitioner Services MUE Values\n"
    write(release / "practitioner_a.csv", header + b"A0001,1\n")
    write(release / "sub" / "Practitioner_b.csv", header + b"A0002,1\n")
    write(release / "hospital.csv", header + b"A0003,1\n")
    write(release / "readme.pdf", b"%PDF-1.4\n")  # not read: not unexpected
    cfg = config(*PART_COLUMNS, parts=PARTS, header="HCPCS/ CPT Code")
    assert failures(release, cfg, tmp_path) == [
        Failure("hospital.csv", None, "", "unexpected file", "hospital.csv"),
        Failure("release", None, "", "doubled part",
                "*practitioner*: practitioner_a.csv, sub/Practitioner_b.csv"),
        Failure("release", None, "", "missing part", "*dme*supplier*"),
    ]  # fmt: skip


PTP_HEADER = (
    "Synthetic notice line.  All rights reserved.\r\n"
    "Column1/Column2 Edits\r\n"
    "Column 1\tColumn 2\tDeletion\r\n"
    "\t\tDate\r\n"
)


def _ptp_zip(path: Path, stem: str, rows: str) -> Path:
    book = io.BytesIO()
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Column 1", "Column 2", "Deletion Date"])
    wb.save(book)
    return zip_of(
        path, {f"{stem}.txt": (PTP_HEADER + rows).encode(), f"{stem}.xlsx": book.getvalue()}
    )


PTP_CONFIG = config(
    Column("table", (), part=True),
    Column("column_1", "Column 1"),
    Column("column_2", "Column 2"),
    Column("deletion_date", "Deletion Date"),
    members="*.txt",
    header="Column 1",
    header_rows=2,
    complete_lines=True,
    parts=(("ccipra-*f1*", "practitioner"), ("ccioph-*f1*", "hospital")),
)


def test_zips_inside_a_release_directory(tmp_path: Path) -> None:
    release = tmp_path / "2030q1"
    _ptp_zip(release / "practitioner-ccipra-v360r0-f1.zip", "ccipra-v360r0-f1",
             "A0001\tA0002\t*\r\nA0003\tA0004\t20300101\r\n")  # fmt: skip
    _ptp_zip(release / "sub" / "hospital-ccioph-v360r0-f1.zip", "ccioph-v360r0-f1",
             "B0001\tB0002\t*\r\n")  # fmt: skip
    write(release / "readme.pdf", b"%PDF-1.4\n")  # members leaves it out
    rows, result = read(release, PTP_CONFIG, tmp_path)
    practitioner = "practitioner-ccipra-v360r0-f1.zip!ccipra-v360r0-f1.txt"
    hospital = "sub/hospital-ccioph-v360r0-f1.zip!ccioph-v360r0-f1.txt"
    assert rows == [
        ("practitioner", "A0001", "A0002", "*", practitioner, 5),
        ("practitioner", "A0003", "A0004", "20300101", practitioner, 6),
        ("hospital", "B0001", "B0002", "*", hospital, 5),
    ]
    assert sorted(result.files) == [practitioner, hospital]
    assert result.files[practitioner].member == practitioner
    assert [(e.file, e.name) for e in result.evidence] == [
        (practitioner, "ccipra-v360r0-f1.txt"),
        (hospital, "ccioph-v360r0-f1.txt"),
    ]


def test_zips_inside_a_release_zip(tmp_path: Path) -> None:
    inner = _ptp_zip(tmp_path / "build" / "p.zip", "ccipra-v360r0-f1", "A0001\tA0002\t*\r\n")
    other = _ptp_zip(tmp_path / "build" / "h.zip", "ccioph-v360r0-f1", "B0001\tB0002\t*\r\n")
    members = {"p/ccipra.zip": inner.read_bytes(), "ccioph.zip": other.read_bytes()}
    release = zip_of(tmp_path / "2030q1.zip", members)
    rows, result = read(release, PTP_CONFIG, tmp_path)
    assert rows == [
        ("hospital", "B0001", "B0002", "*", "2030q1.zip!ccioph.zip!ccioph-v360r0-f1.txt", 5),
        ("practitioner", "A0001", "A0002", "*",
         "2030q1.zip!p/ccipra.zip!ccipra-v360r0-f1.txt", 5),
    ]  # fmt: skip
    assert sorted(result.files) == [
        "ccioph.zip!ccioph-v360r0-f1.txt",
        "p/ccipra.zip!ccipra-v360r0-f1.txt",
    ]
    assert result.evidence == [
        Evidence("2030q1.zip!ccioph.zip!ccioph-v360r0-f1.txt", "ccioph-v360r0-f1.txt", None,
                 ("Synthetic notice line.  All rights reserved.", "Column1/Column2 Edits")),
        Evidence("2030q1.zip!p/ccipra.zip!ccipra-v360r0-f1.txt", "ccipra-v360r0-f1.txt", None,
                 ("Synthetic notice line.  All rights reserved.", "Column1/Column2 Edits")),
    ]  # fmt: skip


def test_complete_lines_refuses_a_truncated_file(tmp_path: Path) -> None:
    release = tmp_path / "2030q1"
    _ptp_zip(release / "p.zip", "ccipra-v360r0-f1", "A0001\tA0002\t*\r\nA0003\tA00")
    _ptp_zip(release / "h.zip", "ccioph-v360r0-f1", "B0001\tB0002\t*\r\n")
    assert failures(release, PTP_CONFIG, tmp_path) == [
        Failure("p.zip!ccipra-v360r0-f1.txt", 6, "", "truncated", "A0003\tA00"),
        Failure("p.zip!ccipra-v360r0-f1.txt", 6, "deletion_date", "field count", "A0003\tA00"),
    ]
    on_disk = write(tmp_path / "flat" / "ccipra-v360r0-f1.txt",
                    (PTP_HEADER + "A0001\tA0002\t*").encode())  # fmt: skip
    cfg = config(*PTP_CONFIG.columns[1:], header="Column 1", header_rows=2, complete_lines=True)
    assert failures(on_disk, cfg, tmp_path) == [
        Failure("ccipra-v360r0-f1.txt", 5, "", "truncated", "A0001\tA0002\t*")
    ]
    rows, _ = read(on_disk, config(*PTP_CONFIG.columns[1:], header="Column 1", header_rows=2),
                   tmp_path)  # fmt: skip
    assert rows == [("A0001", "A0002", "*", "ccipra-v360r0-f1.txt", 5)]


# --- stacked headers, end-of-file line ------------------------------------------------------

STACKED = (
    b",,Synthetic Fee Schedule File January Release,,\r\n"  # 1
    b",, ,,\r\n"  # 2
    b",,RELEASED 01/02/2030,,\r\n"  # 3
    b",,,NOT USED,\r\n"  # 4
    b",,,FOR,CONV\r\n"  # 5
    b"CODE,MOD,DESCRIPTION,PAYMENT ,FACTOR\r\n"  # 6
    b'A0001,,"One, synthetic",,33.8872\r\n'  # 7
    b"A0002,26,Two,+,33.8872\r\n"  # 8
)
STACKED_COLUMNS = (
    Column("code", "CODE"),
    Column("modifier", "MOD"),
    Column("description", "DESCRIPTION"),
    Column("not_used", "NOT USED FOR PAYMENT"),
    Column("conversion_factor", "CONV FACTOR", decimals=4),
)


@pytest.mark.parametrize("eof", [b"", b"\x1a,,,,\r\n", b"\x1a,,,,", b"\x1a"])
@pytest.mark.parametrize("packed", [False, True])
def test_bottom_aligned_header_and_the_dos_end_of_file_line(
    eof: bytes, packed: bool, tmp_path: Path
) -> None:
    cfg = config(*STACKED_COLUMNS, header="code", header_rows=3, header_in="last_row")
    data = STACKED + eof
    location = (
        zip_of(tmp_path / "r.zip", {"FS30_JAN.csv": data})
        if packed
        else write(tmp_path / "FS30_JAN.csv", data)
    )
    file = "r.zip!FS30_JAN.csv" if packed else "FS30_JAN.csv"
    rows, release = read(location, cfg, tmp_path)
    assert rows == [
        ("A0001", None, "One, synthetic", None, "33.8872", file, 7),
        ("A0002", "26", "Two", "+", "33.8872", file, 8),
    ]
    assert release.evidence == [
        Evidence(file, "FS30_JAN.csv", None,
                 ("Synthetic Fee Schedule File January Release", "RELEASED 01/02/2030")),
    ]  # fmt: skip
    only_first = config(*STACKED_COLUMNS[:3], header="code", header_rows=3)
    assert failures(location, only_first, tmp_path) == [
        Failure(file, 6, "code", "missing column", "CODE"),
        Failure(file, 6, "description", "missing column", "DESCRIPTION"),
        Failure(file, 6, "modifier", "missing column", "MOD"),
    ]


@pytest.mark.parametrize(
    "tail",
    [
        b"\x1a,,x,,\r\n",  # not only delimiters
        b"\x1a,,,,\r\nA0003,,Three,,1\r\n",  # not the last line
        b"A0003,,Thr\x1aee,,1\r\n",  # inside a record
    ],
)
def test_other_end_of_file_bytes_are_control_characters(tail: bytes, tmp_path: Path) -> None:
    csv = write(tmp_path / "FS30_JAN.csv", STACKED + tail)
    cfg = config(*STACKED_COLUMNS, header="code", header_rows=3, header_in="last_row")
    with pytest.raises(DecodeError, match="control character U\\+001A") as caught:
        read_table_release(ReleaseArchive.open(csv), cfg, tmp_path / "s.duckdb")
    assert caught.value.line == 9


def test_last_row_header_with_fewer_rows_above(tmp_path: Path) -> None:
    csv = write(tmp_path / "f.csv", b"CODE,VALUE\nA0001,1\n")
    cfg = config(Column("code", "CODE"), Column("value", "VALUE"), header="code",
                 header_rows=3, header_in="last_row")  # fmt: skip
    rows, _ = read(csv, cfg, tmp_path)
    assert rows == [("A0001", "1", "f.csv", 2)]


def test_bottom_aligned_header_in_a_workbook(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "RVU"
    ws.append([None, None, "Synthetic Fee Schedule File January Release"])  # 1
    ws.append([None, None, None, "NOT USED"])  # 2
    ws.append([None, None, None, "FOR", "CONV"])  # 3
    ws.append(["CODE", "MOD", "DESCRIPTION", "PAYMENT", "FACTOR"])  # 4
    ws.append(["A0001", None, "One", "+", 33.8872])  # 5
    ws.append(["A0002", 26, "Two", None, 33.88])  # 6
    wb.save(tmp_path / "FS30_JAN.xlsx")
    cfg = config(*STACKED_COLUMNS, header="code", header_rows=3, header_in="last_row")
    rows, release = read(tmp_path / "FS30_JAN.xlsx", cfg, tmp_path)
    assert rows == [
        ("A0001", None, "One", "+", "33.8872", "FS30_JAN.xlsx", 5),
        ("A0002", "26", "Two", None, "33.8800", "FS30_JAN.xlsx", 6),
    ]
    assert release.evidence == [
        Evidence("FS30_JAN.xlsx", "FS30_JAN.xlsx", "RVU",
                 ("Synthetic Fee Schedule File January Release",)),
    ]  # fmt: skip


def test_a_file_matching_globs_of_two_parts(tmp_path: Path) -> None:
    header = b"HCPCS/ CPT Code,Practitioner Services MUE Values\n"
    csv = write(tmp_path / "release" / "practitioner_dme_supplier.csv", header + b"A0001,1\n")
    cfg = config(*PART_COLUMNS, parts=PARTS, header="HCPCS/ CPT Code")
    assert failures(csv.parent, cfg, tmp_path) == [
        Failure("practitioner_dme_supplier.csv", None, "", "ambiguous part",
                "*practitioner*, *dme*supplier*"),
    ]  # fmt: skip


def test_a_nested_zip_that_is_no_zip(tmp_path: Path) -> None:
    release = tmp_path / "release"
    write(release / "broken.zip", b"PK\x03\x04 not really")
    with pytest.raises(SourceLayoutError, match=r"^broken\.zip: is not a valid zip archive$"):
        read_table_release(ReleaseArchive.open(release), PTP_CONFIG, tmp_path / "s.duckdb")


# --- fixed width ------------------------------------------------------------------------------

FIXED_COLUMNS = (
    Column("code", (), position=(1, 5)),
    Column("modifier", (), position=(6, 7)),
    Column("description", (), position=(8, 20)),
    Column("work_rvu", (), position=(21, 26), decimals=2),
    Column("pre_op", (), position=(27, 29), decimals=2),
    Column("flag", (), position=(30, 30), map=(("", "none"),)),
)


def _record(code: str, mod: str, descr: str, rvu: str, pre: str, flag: str) -> str:
    return f"{code:<5}{mod:<2}{descr:<13}{rvu:>6}{pre:>3}{flag:<1}" + " " * 10


def test_fixed_width_text(tmp_path: Path) -> None:
    lines = [
        "HDR Synthetic copyright statement line one",
        "HDR line two",
        _record("A0001", "", "One", "1.50", ".10", "+"),
        _record("A0002", "26", "Two", "12.00", "", ""),
        "",
        "A0003  Short",  # short: the rest is blank
        "HDR not a record either",
        _record("A0004", "TC", "Four", "0", ".1", "x").rstrip(),
    ]
    data = ("\r\n".join(lines) + "\r\n").encode("cp1252")
    csv_too = b"code\r\nA0001\r\n"
    release = tmp_path / "RVU30A"
    write(release / "PPFS30.txt", data)
    write(release / "PPFS30.csv", csv_too)
    cfg = config(*FIXED_COLUMNS, members="PPFS*.txt", fixed_width="*.txt", skip_prefix="HDR")
    rows, result = read(release, cfg, tmp_path)
    assert rows == [
        ("A0001", None, "One", "1.50", "0.10", "+", "PPFS30.txt", 3),
        ("A0002", "26", "Two", "12.00", None, "none", "PPFS30.txt", 4),
        ("A0003", None, "Short", None, None, "none", "PPFS30.txt", 6),
        ("A0004", "TC", "Four", "0.00", "0.10", "x", "PPFS30.txt", 8),
    ]
    assert result.evidence == [
        Evidence("PPFS30.txt", "PPFS30.txt", None,
                 ("HDR Synthetic copyright statement line one", "HDR line two")),
    ]  # fmt: skip
    assert list(result.files) == ["PPFS30.txt"]


def test_fixed_width_inside_a_zip_with_cp1252_and_lf(tmp_path: Path) -> None:
    lines = [
        _record("A0001", "", "Caf\u00e9", "1.5", "", ""),
        _record("A0002", "", "X", "", "", ""),
    ]
    location = zip_of(tmp_path / "r.zip", {"d/PPFS30.TXT": "\n".join(lines).encode("cp1252")})
    cfg = config(*FIXED_COLUMNS, fixed_width="*.txt")
    rows, result = read(location, cfg, tmp_path)
    assert rows == [
        ("A0001", None, "Caf\u00e9", "1.50", None, "none", "r.zip!d/PPFS30.TXT", 1),
        ("A0002", None, "X", None, None, "none", "r.zip!d/PPFS30.TXT", 2),
    ]
    assert result.files["d/PPFS30.TXT"].encoding == "cp1252"
    assert result.evidence == [Evidence("r.zip!d/PPFS30.TXT", "PPFS30.TXT", None, ())]


# --- the real PPRRVU CSV ------------------------------------------------------------------

PPRRVU_NAMES = [
    "HCPCS",
    "MOD",
    "DESCRIPTION",
    "STATUS CODE",
    "NOT USED FOR MEDICARE PAYMENT",
    "WORK RVU",
    "NON-FAC PE RVU",
    "NON-FAC NA INDICATOR",
    "FACILITY PE RVU",
    "FACILITY NA INDICATOR",
    "MP RVU",
    "NON-FACILITY TOTAL",
    "FACILITY TOTAL",
    "PCTC IND",
    "GLOB DAYS",
    "PRE OP",
    "INTRA OP",
    "POST OP",
    "MULT PROC",
    "BILAT SURG",
    "ASST SURG",
    "CO- SURG",
    "TEAM SURG",
    "ENDO BASE",
    "CONV FACTOR",
    "PHYSICIAN SUPERVISION OF DIAGNOSTIC PROCEDURES",
    "CALCULATION FLAG",
    "DIAGNOSTIC IMAGING FAMILY INDICATOR",
    "NON-FACILITY PE USED FOR OPPS PAYMENT AMOUNT",
    "FACILITY PE USED FOR OPPS PAYMENT AMOUNT",
    "MP USED FOR OPPS PAYMENT AMOUNT",
]


@pytest.mark.realdata
def test_real_pprrvu_csv_header_and_shape(realdata: Path, tmp_path: Path) -> None:
    """FORMATS §5.2: the 5-row bottom-aligned header joins to the 31 names; 18,010 rows; the
    trailing 0x1A line is dropped. Only names, counts and shapes are asserted."""
    path = realdata / "pfs_rvu" / "PPRRVU23_JAN.csv"
    if not path.is_file():
        pytest.skip(f"real PPRRVU CSV not available: {path} not found")
    columns = tuple(Column(f"c{i}", name) for i, name in enumerate(PPRRVU_NAMES))
    cfg = config(*columns, header="HCPCS", header_rows=5, header_in="last_row",
                 members="PPRRVU*")  # fmt: skip
    header = _find_text_header(path, cfg)
    assert header is not None
    assert header.headers == PPRRVU_NAMES
    assert (header.line, header.data_start) == (10, 11)
    database = tmp_path / "staging.duckdb"
    release = read_table_release(ReleaseArchive.open(path), cfg, database)
    with duckdb.connect(str(database), read_only=True) as con:
        shape = con.execute(
            "SELECT count(*), count(DISTINCT c0), min(_line), max(_line) FROM catalog"
        ).fetchone()
    assert shape == (18010, 15855, 11, 18020)
    (stated,) = release.evidence
    assert stated.name == "PPRRVU23_JAN.csv"
    assert len(stated.preamble) == 4
    assert stated.preamble[0].endswith("Relative Value File January Release")


# --- which files, which line ends -------------------------------------------------------------


def test_prefer_reads_the_first_format_a_bundle_holds(tmp_path: Path) -> None:
    fixed = ("\r\n".join([_record("A0001", "", "One", "1.50", ".10", "+")]) + "\r\n").encode()
    csv = b"code,modifier,description,work_rvu,pre_op,flag\r\nA0001,,One,1.5,0.1,+\r\n"
    columns = tuple(
        Column(c.name, c.name, position=c.position, decimals=c.decimals) for c in FIXED_COLUMNS
    )
    prefer = ("PPFS*.csv", "PPFS*.txt")
    cfg = config(*columns, members="PPFS*", fixed_width="*.txt", prefer=prefer)
    bundle = zip_of(tmp_path / "RVU30A.zip", {"PPFS30.txt": fixed, "PPFS30.csv": csv})
    rows, release = read(bundle, cfg, tmp_path)
    assert list(release.files) == ["PPFS30.csv"]
    assert rows == [("A0001", None, "One", "1.50", "0.10", "+", "RVU30A.zip!PPFS30.csv", 2)]
    only_text = zip_of(tmp_path / "RVU30B.zip", {"PPFS30.txt": fixed, "README.pdf": b"%PDF"})
    rows, release = read(only_text, cfg, tmp_path)
    assert list(release.files) == ["PPFS30.txt"]
    assert rows == [("A0001", None, "One", "1.50", "0.10", "+", "RVU30B.zip!PPFS30.txt", 1)]


def test_crlf_records_with_lf_in_quoted_cells_first(tmp_path: Path) -> None:
    """A spreadsheet's CSV export: records end in CRLF, a line typed in a cell is a bare LF, and
    the first line break of the file is one of those (a notice in the first cell). Values keep
    their own line breaks, CRLF or LF, and records keep their physical lines."""
    data = (
        b'"A notice\nover\nthree lines",,\r\n'  # 1-3
        b'"HCPCS/\nCPT Code",Units,Note\r\n'  # 4-5
        b'A0001,1,"plain"\r\n'  # 6
        b'A0002,2,"two\r\nlines"\r\n'  # 7-8
        b'A0003,3,"lf\nonly"\r\n'  # 9-10
        b"A0004,4,\r\n"  # 11
    )
    cfg = config(
        Column("code", "HCPCS/ CPT Code"), Column("units", "Units"), Column("note", "Note"),
        header="HCPCS/ CPT Code",
    )  # fmt: skip
    rows, release = read(write(tmp_path / "mue.csv", data), cfg, tmp_path)
    assert rows == [
        ("A0001", "1", "plain", "mue.csv", 6),
        ("A0002", "2", "two\r\nlines", "mue.csv", 7),
        ("A0003", "3", "lf\nonly", "mue.csv", 9),
        ("A0004", "4", None, "mue.csv", 11),
    ]
    assert release.evidence == [
        Evidence("mue.csv", "mue.csv", None, ("A notice\nover\nthree lines",))
    ]

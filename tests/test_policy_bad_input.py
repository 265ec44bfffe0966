"""Bad CMS policy releases (NCCI PTP, MUE, PPRRVU, Addendum B) are refused, nothing loaded.

Each source's good synthetic release (built here: invented codes, no AMA or ADA text) is loaded as
2025Q4 into a warehouse; each test damages the next release (2026Q1) in one way and checks that it
is refused with the file, line, column and value of the damage, that the warehouse is as before
(every table, every published file) and that the attempt is recorded as rejected.
"""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from warehouse_state import attempts, snapshot

from codecatalog.errors import CodecatalogError, Failure, ValidationFailed, VersionError
from codecatalog.pipeline import refresh

BASE = "2025Q4"  # every source's good release, loaded first
NEXT = "2026Q1"  # the damaged release

# --- NCCI PTP (FORMATS.md §3) ---------------------------------------------------------------------

NCCI_PREAMBLE = [
    "Synthetic NCCI PTP edits for tests. Codes are invented.",
    "Column1/Column2 Edits",
    "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale",
    "\t\tprior to 1996\tDate\tDate\t0=not allowed\t",
    "\t\t\t\t*=no data\t1=allowed\t",
    "\t\t\t\t\t9=not applicable\t",
]
NCCI_FIRST = len(NCCI_PREAMBLE) + 1  # the line of a part's first edit
NCCI_VERSIONS = {"2025Q4": "v313r0", "2026Q1": "v320r0", "2026Q2": "v321r0"}
NCCI_PARTS = [(table, f) for table in ("ccipra", "ccioph") for f in ("f1", "f2", "f3", "f4")]

Edit = list[str]  # column 1, column 2, prior 1996, effective, deletion, modifier, rationale


def ncci_edits(table: str, part: str) -> list[Edit]:
    """Three edits per part: an active one, a deleted one, and one deleted then re-added."""
    n = NCCI_PARTS.index((table, part))
    first, second = f"{10010 + n * 10:05d}", f"J{1000 + n:04d}"
    return [
        [first, second, "*", "19960101", "*", "1", "Mutually exclusive procedures"],
        [first, f"{20000 + n:05d}", "", "20200101", "20230101", "0", "Standards of medical care"],
        [second, f"{2000 + n:04d}T", "", "20210401", "20240101", "9", "Misuse of column two code"],
        [second, f"{2000 + n:04d}T", "", "20240101", "*", "1", "Misuse of column two code"],
    ]


def ncci_text(edits: list[Edit]) -> bytes:
    return "".join(f"{line}\r\n" for line in NCCI_PREAMBLE + ["\t".join(e) for e in edits]).encode(
        "cp1252"
    )


def ncci_name(table: str, part: str, version: str) -> str:
    return f"{table}-{NCCI_VERSIONS[version]}-{part}"


def ncci_release(
    folder: Path,
    version: str,
    edit: Callable[[str, list[Edit]], list[Edit]] | None = None,
    parts: list[tuple[str, str]] | None = None,
    stated: str | None = None,
) -> Path:
    """A release directory of one zip per part (each a `.TXT` and a stand-in `.xlsx`), as CMS
    posts them; `edit(part name, edits)` changes a part's edits, `stated` the version the file
    names state."""
    folder.mkdir(parents=True)
    for table, part in NCCI_PARTS if parts is None else parts:
        name = ncci_name(table, part, stated or version)
        edits = ncci_edits(table, part)
        if edit is not None:
            edits = edit(name, edits)
        with zipfile.ZipFile(folder / f"medicare-ncci-ptp-edits-{name}.zip", "w") as z:
            z.writestr(f"{name}.TXT", ncci_text(edits))
            z.writestr(f"{name}.xlsx", b"not read: members are *.txt")
    return folder


def ncci_file(name: str) -> str:
    return f"medicare-ncci-ptp-edits-{name}.zip!{name}.TXT"


# --- MUE (FORMATS.md §4) --------------------------------------------------------------------------

MUE_TABLES = {
    "PractitionerServices": "Practitioner Services MUE Values",
    "OutpatientHospitalServices": "Outpatient Hospital Services MUE Values",
    "DMESupplierServices": "DME Supplier Services MUE Values",
}
MUE_DATES = {"2025Q4": "10-01-2025", "2026Q1": "01-01-2026", "2026Q2": "04-01-2026"}
MUE_FIRST = 5  # a two-line notice cell, a two-line header, then the rows


def mue_rows(table: str) -> list[list[str]]:
    n = list(MUE_TABLES).index(table)
    return [
        [f"{30000 + n:05d}", "2", "2 Date of Service Edit: Policy", "Clinical: Data"],
        [f"E{1000 + n:04d}", "1", "1 Line Edit", "Nature of Service"],
        [f"{4000 + n:04d}U", "3", "3 Date of Service Edit: Clinical", "CMS Policy"],
    ]


def mue_csv(header: list[str], rows: list[list[str]], inner: str = "\r\n") -> bytes:
    """The notice and the code header hold a line break (`inner`) inside their quoted cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["Synthetic MUE table for tests.\nCodes are invented.", "", "", ""])
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().replace("\n", inner).replace("\r\r\n", "\r\n").encode("utf-8")


def mue_name(table: str, version: str) -> str:
    return f"MCR_MUE_{table}_Eff_{MUE_DATES[version]}.csv"


def mue_release(
    folder: Path,
    version: str,
    edit: Callable[[str, list[list[str]]], list[list[str]]] | None = None,
    headers: dict[str, list[str]] | None = None,
    stated: str | None = None,
    inner: str = "\r\n",
) -> Path:
    folder.mkdir(parents=True)
    for table, value in MUE_TABLES.items():
        name = mue_name(table, stated or version)
        rows = mue_rows(table)
        if edit is not None:
            rows = edit(name, rows)
        header = (headers or {}).get(
            table, ["HCPCS/\nCPT Code", value, "MUE Adjudication Indicator", "MUE Rationale"]
        )
        (folder / name).write_bytes(mue_csv(header, rows, inner))
    return folder


# --- PPRRVU CSV (FORMATS.md §5.2) -----------------------------------------------------------------

RVU_HEADERS = [
    "HCPCS", "MOD", "DESCRIPTION", "STATUS CODE", "NOT USED FOR MEDICARE PAYMENT", "WORK RVU",
    "NON-FAC PE RVU", "NON-FAC NA INDICATOR", "FACILITY PE RVU", "FACILITY NA INDICATOR", "MP RVU",
    "NON-FACILITY TOTAL", "FACILITY TOTAL", "PCTC IND", "GLOB DAYS", "PRE OP", "INTRA OP",
    "POST OP", "MULT PROC", "BILAT SURG", "ASST SURG", "CO- SURG", "TEAM SURG", "ENDO BASE",
    "CONV FACTOR", "PHYSICIAN SUPERVISION OF DIAGNOSTIC PROCEDURES", "CALCULATION FLAG",
    "DIAGNOSTIC IMAGING FAMILY INDICATOR", "NON-FACILITY PE USED FOR OPPS PAYMENT AMOUNT",
    "FACILITY PE USED FOR OPPS PAYMENT AMOUNT", "MP USED FOR OPPS PAYMENT AMOUNT",
]  # fmt: skip
RVU_MONTHS = {"2025Q4": ("2025", "October", "OCT"), "2026Q1": ("2026", "January", "JAN")}
RVU_FIRST = 11  # 5 preamble rows, 5 header rows
STATUS = RVU_HEADERS.index("STATUS CODE")


def rvu_rows() -> list[list[str]]:
    """Six rows: three codes, one with 26 and TC rows."""
    rows = []
    for code, modifier, status in [
        ("70010", "", "A"), ("70010", "26", "A"), ("70010", "TC", "A"), ("G9001", "", "B"),
        ("D9002", "", "I"), ("0003M", "", "X"),
    ]:  # fmt: skip
        rows.append([
            code, modifier, f"Invented service {code}", status, "", "1.00", "2.50", "", "0.75",
            "", "0.05", "3.55", "1.80", "1" if modifier else "0", "XXX", "0.00", "0.00", "0.00",
            "0", "0", "0", "0", "0", "", "32.3465", "09", "0", "99", "0.00", "0.00", "0.00",
        ])  # fmt: skip
    return rows


def stacked(header: str) -> list[str]:
    """A header split over five rows, bottom-aligned, as the CSV writes it."""
    words = header.split(" ")
    parts = [" ".join(words[:-4]), *words[-4:]] if len(words) > 5 else words
    return [""] * (5 - len(parts)) + parts


def rvu_csv(
    version: str, rows: list[list[str]], header: bool = True, title: str | None = None
) -> bytes:
    year, month, _ = RVU_MONTHS[version]
    width = len(RVU_HEADERS)
    preamble = [
        title or f"{year} National Physician Fee Schedule Relative Value File {month} Release",
        "Synthetic relative value file for tests. Codes are invented.",
        "",
        " ",
        "RELEASED 01/01/2000",
    ]
    lines = [["", "", text] + [""] * (width - 3) for text in preamble]
    if header:
        columns = [stacked(h) for h in RVU_HEADERS]
        lines += [[column[i] for column in columns] for i in range(5)]
    lines += rows
    lines.append(["\x1a"] + [""] * (width - 1))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(lines)
    return buffer.getvalue().encode("ascii")


def rvu_release(folder: Path, version: str, **options: object) -> Path:
    rows = options.pop("rows", None) or rvu_rows()
    path = folder / f"PPRRVU{RVU_MONTHS[version][0][2:]}_{RVU_MONTHS[version][2]}.csv"
    path.write_bytes(rvu_csv(version, rows, **options))  # type: ignore[arg-type]
    return path


# --- OPPS Addendum B (FORMATS.md §6) --------------------------------------------------------------

ADDB_HEADER = [
    "HCPCS Code", "Short Descriptor", " SI", "APC ", "Relative Weight ", "Payment Rate",
    "National Unadjusted Copayment ", "Minimum Unadjusted Copayment ",
    "Note: Actual copayments would be lower due to the cap on copayments at the Inpatient "
    "Deductible of $9,999.00",
    "Drug Pass-Through Expiration during Calendar Year", "* Indicates a Change ",
]  # fmt: skip
ADDB_MONTHS = {"2025Q4": "2025 October", "2026Q1": "2026 January"}
ADDB_FIRST = 5  # title, notice, disclaimer, header: data from row 5


def addb_rows() -> list[list[object]]:
    return [
        [10021, "Invented procedure one", "J1 ", "5071", 1.2345, 123.45, ".", 24.69, "", None,
         None],
        ["G9003 ", "Invented supply\u00a0two", " N", None, None, None, None, None, None, None, "*"],
        ["0004U", "Invented lab test", "A", "", None, None, None, None, None, None, None],
        ["J9004", "Invented drug", "K", 1701, 0.5, 50.0, 10.0, 10.0, "*", "*", "*"],
    ]  # fmt: skip


def addb_release(
    folder: Path,
    version: str,
    rows: list[list[object]] | None = None,
    header: list[str] | None = None,
    sheet: str | None = None,
) -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet or f"{ADDB_MONTHS[version]} Addendum B"
    ws.append([None, "Addendum B.- OPPS Payment by HCPCS Code (synthetic, for tests)"])
    ws.append([None, "Codes and descriptors are invented."])
    ws.append([None, "Not a coverage statement."])
    ws.append(ADDB_HEADER if header is None else header)
    for row in addb_rows() if rows is None else rows:
        ws.append(row)
    path = folder / f"{ADDB_MONTHS[version].split()[1]}_Addendum_B_synthetic.xlsx"
    book.save(path)
    return path


# --- the warehouse and the refusal ----------------------------------------------------------------

BUILDERS: dict[str, Callable[[Path, str], Path]] = {
    "ncci_ptp": lambda folder, version: ncci_release(folder / f"ncci-{version}", version),
    "mue": lambda folder, version: mue_release(folder / f"mue-{version}", version),
    "pfs_rvu": rvu_release,
    "opps_addb": addb_release,
}


@pytest.fixture(scope="module")
def _bases(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Per source, a warehouse holding its good BASE release (built when first asked for)."""
    built: dict[str, Path] = {}

    def get(codeset: str) -> Path:
        if codeset not in built:
            folder = tmp_path_factory.mktemp(codeset)
            wh = folder / "wh"
            refresh(codeset, str(BUILDERS[codeset](folder, BASE)), BASE, warehouse_dir=wh)
            built[codeset] = wh
        return built[codeset]

    return get


@pytest.fixture
def base(_bases: Callable[[str], Path], tmp_path: Path) -> Callable[[str], Path]:
    """A private copy of the warehouse holding `codeset`'s BASE release."""

    def copy(codeset: str) -> Path:
        target = tmp_path / f"wh-{codeset}"
        shutil.copytree(_bases(codeset), target)
        return target

    return copy


def refuse(wh: Path, codeset: str, release: Path, version: str = NEXT) -> CodecatalogError:
    """Refresh `release`, expecting a refusal; check nothing changed and the attempt."""
    before, count = snapshot(wh), len(attempts(wh))
    with pytest.raises(CodecatalogError) as caught:
        refresh(codeset, str(release), version, warehouse_dir=wh)
    assert snapshot(wh) == before
    recorded = attempts(wh)
    assert len(recorded) == count + 1
    attempt = recorded[-1]
    assert (attempt["codeset"], attempt["version"], attempt["outcome"]) == (
        codeset,
        version,
        "rejected",
    )
    assert attempt["message"] == str(caught.value)
    return caught.value


def refused_with(
    wh: Path, codeset: str, release: Path, failures: list[Failure], version: str = NEXT
) -> None:
    """Refused by validation with exactly these failures, and a message listing them."""
    error = refuse(wh, codeset, release, version)
    assert isinstance(error, ValidationFailed), str(error)
    assert error.failures == failures
    assert str(error) == (
        f"{error.release}: {len(failures)} validation failure(s)\n  "
        + "\n  ".join(str(f) for f in failures)
    )


def refused_version(
    wh: Path, codeset: str, release: Path, stated: list[Failure], version: str = NEXT
) -> None:
    """Refused because what the files state contradicts `version` (check `version`, value what
    the file states), every such file named in the message."""
    error = refuse(wh, codeset, release, version)
    assert isinstance(error, VersionError), str(error)
    said = "; ".join(f"{f.file}: {f.column} {f.value}" for f in stated)
    assert str(error) == f"version {version} contradicts the release: {said}"


# --- controls -------------------------------------------------------------------------------------


@pytest.mark.parametrize("codeset", sorted(BUILDERS))
def test_the_good_next_release_loads(
    codeset: str, base: Callable[[str], Path], tmp_path: Path
) -> None:
    wh = base(codeset)
    result = refresh(codeset, str(BUILDERS[codeset](tmp_path, NEXT)), NEXT, warehouse_dir=wh)
    assert (result.outcome, result.previous) == ("loaded", BASE)


def test_ncci_active_and_deleted_rows_of_one_pair_load(
    base: Callable[[str], Path], tmp_path: Path
) -> None:
    """The good release repeats a pair (one deleted, one active row) in every part: allowed."""
    wh = base("ncci_ptp")
    result = refresh("ncci_ptp", str(ncci_release(tmp_path / "r", NEXT)), NEXT, warehouse_dir=wh)
    assert result.outcome == "loaded"


def test_mue_csv_with_lf_inside_quoted_cells_loads(
    base: Callable[[str], Path], tmp_path: Path
) -> None:
    """Rows end CRLF, the line breaks inside the quoted notice and code header are bare LF (as a
    spreadsheet's CSV export writes them)."""
    wh = base("mue")
    release = mue_release(tmp_path / "r", NEXT, inner="\n")
    assert refresh("mue", str(release), NEXT, warehouse_dir=wh).outcome == "loaded"


# --- NCCI PTP -------------------------------------------------------------------------------------


def _in(
    part: str, change: Callable[[list[Edit]], list[Edit]]
) -> Callable[[str, list[Edit]], list[Edit]]:
    """An `edit` for ncci_release changing only the part whose name contains `part`."""
    return lambda name, edits: change(edits) if part in name else edits


def _set(row: int, field: int, value: str) -> Callable[[list[Edit]], list[Edit]]:
    def change(edits: list[Edit]) -> list[Edit]:
        edits[row][field] = value
        return edits

    return change


def test_ncci_effective_date_not_a_date(base: Callable[[str], Path], tmp_path: Path) -> None:
    name = ncci_name("ccipra", "f2", NEXT)
    release = ncci_release(tmp_path / "r", NEXT, _in(name, _set(1, 3, "20211331")))
    refused_with(base("ncci_ptp"), "ncci_ptp", release, [
        Failure(ncci_file(name), NCCI_FIRST + 1, "effective_date", "yyyymmdd(allow_blank=False)",
                "20211331"),
    ])  # fmt: skip


def test_ncci_modifier_outside_0_1_9(base: Callable[[str], Path], tmp_path: Path) -> None:
    name = ncci_name("ccioph", "f3", NEXT)
    release = ncci_release(tmp_path / "r", NEXT, _in(name, _set(0, 5, "2")))
    refused_with(base("ncci_ptp"), "ncci_ptp", release, [
        Failure(ncci_file(name), NCCI_FIRST, "modifier", "isin(['0', '1', '9'])", "2"),
    ])  # fmt: skip


def test_ncci_two_active_rows_of_one_pair(base: Callable[[str], Path], tmp_path: Path) -> None:
    name = ncci_name("ccipra", "f4", NEXT)
    release = ncci_release(tmp_path / "r", NEXT, _in(name, _set(2, 4, "*")))  # re-added: 2 active
    codes = ncci_edits("ccipra", "f4")[2][:2]
    refused_with(base("ncci_ptp"), "ncci_ptp", release, [
        Failure(ncci_file(name), NCCI_FIRST + row, column, "duplicate active key", value)
        for row in (2, 3)
        for column, value in zip(["column_1", "column_2", "table"], [*codes, "practitioner"],
                                 strict=True)
    ])  # fmt: skip


def test_ncci_truncated_part(base: Callable[[str], Path], tmp_path: Path) -> None:
    """The last line cut short, without its line end (a download stopped mid-file)."""
    release = ncci_release(tmp_path / "r", NEXT)
    name = ncci_name("ccioph", "f1", NEXT)
    archive = release / f"medicare-ncci-ptp-edits-{name}.zip"
    edits = ncci_edits("ccioph", "f1")
    text = ncci_text(edits)[: -len("\t*\t1\tMisuse of column two code\r\n")]
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"{name}.TXT", text)
    last, cut = NCCI_FIRST + len(edits) - 1, "\t".join(edits[-1][:4])
    # `truncated`, and the fields the cut line lacks
    refused_with(base("ncci_ptp"), "ncci_ptp", release, [
        Failure(ncci_file(name), last, column, check, cut)
        for column, check in [("", "truncated"), ("deletion_date", "field count"),
                              ("modifier", "field count"), ("rationale", "field count")]
    ])  # fmt: skip


def test_ncci_missing_part(base: Callable[[str], Path], tmp_path: Path) -> None:
    parts = [p for p in NCCI_PARTS if p != ("ccioph", "f4")]
    release = ncci_release(tmp_path / "r", NEXT, parts=parts)
    refused_with(base("ncci_ptp"), "ncci_ptp", release, [
        Failure(release.name, None, "", "missing part", "ccioph-*f4*"),
    ])  # fmt: skip


def test_ncci_doubled_part(base: Callable[[str], Path], tmp_path: Path) -> None:
    """The practitioner f2 part twice: as posted, and again under a copy's name."""
    release = ncci_release(tmp_path / "r", NEXT)
    name = ncci_name("ccipra", "f2", NEXT)
    shutil.copy(
        release / f"medicare-ncci-ptp-edits-{name}.zip",
        release / f"copy-of-medicare-ncci-ptp-edits-{name}.zip",
    )
    copy = f"copy-of-medicare-ncci-ptp-edits-{name}.zip!{name}.TXT"
    refused_with(base("ncci_ptp"), "ncci_ptp", release, [
        Failure(release.name, None, "", "doubled part",
                f"ccipra-*f2*: {copy}, {ncci_file(name)}"),
    ])  # fmt: skip


def test_ncci_version_the_files_contradict(base: Callable[[str], Path], tmp_path: Path) -> None:
    """v321r0 files (2026Q2) loaded as 2026Q1: every part says so."""
    release = ncci_release(tmp_path / "r", NEXT, stated="2026Q2")
    refused_version(base("ncci_ptp"), "ncci_ptp", release, sorted(
        [
            Failure(ncci_file(ncci_name(t, p, "2026Q2")), None, "file name", "version",
                    "v321r0 (2026Q2, not version 2026Q1)")
            for t, p in NCCI_PARTS
        ],
        key=lambda f: f.file,
    ))  # fmt: skip


# --- MUE ------------------------------------------------------------------------------------------


def test_mue_value_not_a_whole_number(base: Callable[[str], Path], tmp_path: Path) -> None:
    name = mue_name("DMESupplierServices", NEXT)

    def edit(file: str, rows: list[list[str]]) -> list[list[str]]:
        if file == name:
            rows[1][1] = "1.5"
        return rows

    refused_with(base("mue"), "mue", mue_release(tmp_path / "r", NEXT, edit), [
        Failure(name, MUE_FIRST + 1, "mue_value", "str_matches('^\\d+$')", "1.5"),
    ])  # fmt: skip


def test_mue_header_without_a_value_column(base: Callable[[str], Path], tmp_path: Path) -> None:
    headers = {
        "OutpatientHospitalServices": [
            "HCPCS/\nCPT Code", "Outpatient Hospital Services", "MUE Adjudication Indicator",
            "MUE Rationale",
        ]
    }  # fmt: skip
    name = mue_name("OutpatientHospitalServices", NEXT)
    values = " | ".join(MUE_TABLES.values())
    refused_with(base("mue"), "mue", mue_release(tmp_path / "r", NEXT, headers=headers), [
        Failure(name, 3, "mue_value", "missing column", values),
    ])  # fmt: skip


def test_mue_duplicated_code(base: Callable[[str], Path], tmp_path: Path) -> None:
    name = mue_name("PractitionerServices", NEXT)

    def edit(file: str, rows: list[list[str]]) -> list[list[str]]:
        return [*rows, [rows[0][0], "4", *rows[0][2:]]] if file == name else rows

    code = mue_rows("PractitionerServices")[0][0]
    refused_with(base("mue"), "mue", mue_release(tmp_path / "r", NEXT, edit), [
        Failure(name, line, column, "multiple_fields_uniqueness", value)
        for line in (MUE_FIRST, MUE_FIRST + 3)
        for column, value in (("code", code), ("table", "practitioner"))
    ])  # fmt: skip


def test_mue_version_the_files_contradict(base: Callable[[str], Path], tmp_path: Path) -> None:
    release = mue_release(tmp_path / "r", NEXT, stated="2026Q2")
    refused_version(base("mue"), "mue", release, [
        Failure(mue_name(table, "2026Q2"), None, "file name", "version",
                "Eff_04-01-2026 (effective 2026-04-01, not version 2026Q1)")
        for table in sorted(MUE_TABLES, key=lambda t: mue_name(t, "2026Q2"))
    ])  # fmt: skip


# --- PPRRVU ---------------------------------------------------------------------------------------


def test_rvu_unknown_status_code(base: Callable[[str], Path], tmp_path: Path) -> None:
    rows = rvu_rows()
    rows[3][STATUS] = "Z"
    release = rvu_release(tmp_path, NEXT, rows=rows)
    refused_with(base("pfs_rvu"), "pfs_rvu", release, [
        Failure(release.name, RVU_FIRST + 3, "status_code",
                "isin(['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'M', 'N', 'P', 'R', "
                "'T', 'X'])", "Z"),
    ])  # fmt: skip


def test_rvu_csv_without_its_header_rows(base: Callable[[str], Path], tmp_path: Path) -> None:
    release = rvu_release(tmp_path, NEXT, header=False)
    refused_with(base("pfs_rvu"), "pfs_rvu", release, [
        Failure(release.name, None, "", "header", "HCPCS"),
    ])  # fmt: skip


def test_rvu_duplicated_code_and_modifier(base: Callable[[str], Path], tmp_path: Path) -> None:
    rows = rvu_rows()
    rows.append(list(rows[1]))  # a second 26 row
    release = rvu_release(tmp_path, NEXT, rows=rows)
    refused_with(base("pfs_rvu"), "pfs_rvu", release, [
        Failure(release.name, line, column, "multiple_fields_uniqueness", value)
        for line in (RVU_FIRST + 1, RVU_FIRST + len(rows) - 1)
        for column, value in (("code", rows[1][0]), ("modifier", "26"))
    ])  # fmt: skip


def test_rvu_version_the_title_contradicts(base: Callable[[str], Path], tmp_path: Path) -> None:
    """A January file name, but the title states the April release."""
    title = "2026 National Physician Fee Schedule Relative Value File April Release"
    release = rvu_release(tmp_path, NEXT, title=title)
    refused_version(base("pfs_rvu"), "pfs_rvu", release, [
        Failure(release.name, None, "title", "version",
                f"{title} (April 2026, not version 2026Q1)"),
    ])  # fmt: skip


# --- OPPS Addendum B ------------------------------------------------------------------------------


def test_addb_sheet_without_a_code_header(base: Callable[[str], Path], tmp_path: Path) -> None:
    release = addb_release(tmp_path, NEXT, header=["Code", *ADDB_HEADER[1:]])
    refused_with(base("opps_addb"), "opps_addb", release, [
        Failure(release.name, None, "", "header", "HCPCS Code"),
    ])  # fmt: skip


def test_addb_duplicated_code(base: Callable[[str], Path], tmp_path: Path) -> None:
    """`G9003 ` and `G9003` are one code once stripped."""
    rows = addb_rows()
    rows.append(["G9003", "Invented supply again", "N", None, None, None, None, None, None, None,
                 None])  # fmt: skip
    release = addb_release(tmp_path, NEXT, rows=rows)
    refused_with(base("opps_addb"), "opps_addb", release, [
        Failure(release.name, line, "code", "field_uniqueness", "G9003")
        for line in (ADDB_FIRST + 1, ADDB_FIRST + len(rows) - 1)
    ])  # fmt: skip


def test_addb_version_the_sheet_title_contradicts(
    base: Callable[[str], Path], tmp_path: Path
) -> None:
    release = addb_release(tmp_path, NEXT, sheet="2026 April Addendum B")
    refused_version(base("opps_addb"), "opps_addb", release, [
        Failure(release.name, None, "sheet", "version",
                "2026 April Addendum B (April 2026, not version 2026Q1)"),
    ])  # fmt: skip

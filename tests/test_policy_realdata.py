"""CMS policy sources on the real files: OPPS Addendum B (12 releases) and the PPRRVU January 2023.

Expected values come from outside codecatalog: facts measured in FORMATS.md §5-§6 and a plain
reading of the files in this module (openpyxl cells, the csv module), never from what the tool
once printed. These files carry AMA and ADA text: the tests assert counts and compare values
computed at test time; no row of them is written here.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from codecatalog import warehouse
from codecatalog.cli import main
from codecatalog.diff.changes import changes_between
from codecatalog.pipeline import refresh
from codecatalog.sources import source

pytestmark = pytest.mark.realdata

# Every Addendum B file in effective-date order: (version label, file, data rows per FORMATS §6.1).
ADDENDUM_B = [
    ("2019", "january_2019_opps_web_addendum_b.12312018.xlsx", 16_244),
    ("2020", "2020_january_web_addendum_b.12312019.xlsx", 16_628),
    ("2020r1", "January_2020_Addendum_B_CORRECTION.02042020.xlsx", 16_628),
    ("2020Q2", "2020_april_web_addendum_b.05042020.xlsx", 16_661),
    ("2021", "2021_January_Web_Addendum_B.12.29.20.xlsx", 16_873),
    ("2021Q2", "April_2021_OPPS_Web_Addendum_B.03222021.xlsx", 16_883),
    ("2021Q4", "2021_October_Web_Addendum_B.10262021.xlsx", 17_011),
    ("2022", "January_2022_Web_Addendum_B.01.10.22.xlsx", 17_192),
    ("2022Q2", "April_2022_Web_Addendum_B.04052022.xlsx", 17_241),
    ("2022Q3", "July_2022_Web_Addendum_B.062222.xlsx", 17_300),
    ("2022Q4", "October_2022_Web_Addendum_B.09.26.22.xlsx", 17_347),
    ("2022Q4r1", "October_2022_Web_Addendum_B.11142022.xlsx", 17_347),
]
STEPS = [(old[0], new[0]) for old, new in itertools.pairwise(ADDENDUM_B)]
PPRRVU = "PPRRVU23_JAN.csv"
PPRRVU_ROWS = 18_010  # FORMATS.md §5.2
PPRRVU_CODES = 15_855
STATUS_CODES = {  # FORMATS.md §5.2, January 2023
    "A": 8916, "X": 2454, "I": 1404, "E": 1205, "M": 1085, "C": 1076, "R": 1038, "N": 320,
    "J": 276, "P": 142, "B": 86, "T": 8,
}  # fmt: skip


# --- a plain reading of the files, independent of codecatalog's readers ---------------------------


def _text(value: Any) -> str:
    """A cell as text: numbers without `.0`, every whitespace (U+00A0 too) stripped."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def plain_addendum_b(path: Path) -> dict[str, dict[str, str]]:
    """Code → {"si": …} of one Addendum B workbook: the one sheet, data below the row whose first
    cell starts with `HCPCS`; numeric codes left-padded to 5 digits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()
        rows = [[_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    start = next(i for i, cells in enumerate(rows) if cells and cells[0].startswith("HCPCS"))
    header = [cell.casefold() for cell in rows[start]]
    si = header.index("si")
    records: dict[str, dict[str, str]] = {}
    for cells in rows[start + 1 :]:
        if not any(cells):
            continue
        code = cells[0].zfill(5) if cells[0].isdigit() else cells[0]
        assert code not in records, "FORMATS §6.2: no duplicate codes after stripping"
        records[code] = {"si": cells[si] if si < len(cells) else ""}
    return records


def plain_pprrvu(data: bytes) -> tuple[list[str], list[list[str]]]:
    """(header per column, data rows) of the PPRRVU CSV: the five stacked header rows ending with
    the row starting `HCPCS`, joined per column; the trailing DOS end-of-file row dropped."""
    rows = list(csv.reader(io.StringIO(data.decode("ascii"), newline="")))
    end = next(i for i, row in enumerate(rows) if row and row[0] == "HCPCS")
    header = [
        " ".join(" ".join(row[i] for row in rows[end - 4 : end + 1]).split())
        for i in range(len(rows[end]))
    ]
    body = rows[end + 1 :]
    assert body[-1][0] == "\x1a" and not any(body[-1][1:])
    return header, body[:-1]


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def addb_plain(realdata: Path) -> dict[str, dict[str, dict[str, str]]]:
    """Version → the plain reading of its Addendum B file."""
    folder = realdata / "opps_addendum_b"
    return {version: plain_addendum_b(folder / name) for version, name, _ in ADDENDUM_B}


@pytest.fixture(scope="module")
def addb_warehouse(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every Addendum B release refreshed, in order, into one warehouse."""
    wh = tmp_path_factory.mktemp("addb") / "wh"
    for version, name, _ in ADDENDUM_B:
        refresh("opps_addb", str(realdata / "opps_addendum_b" / name), version, warehouse_dir=wh)
    return wh


def published_rows(wh: Path, codeset: str, version: str) -> list[dict[str, str]]:
    path = wh / "published" / codeset / version / "catalog.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# --- OPPS Addendum B ------------------------------------------------------------------------------


def test_addendum_b_files_are_all_here(realdata: Path) -> None:
    assert sorted(p.name for p in (realdata / "opps_addendum_b").glob("*.xlsx")) == sorted(
        name for _, name, _ in ADDENDUM_B
    )


@pytest.mark.parametrize(("version", "rows"), [(v, n) for v, _, n in ADDENDUM_B])
def test_addendum_b_row_counts(
    addb_plain: dict, addb_warehouse: Path, version: str, rows: int
) -> None:
    assert len(addb_plain[version]) == rows
    catalog = published_rows(addb_warehouse, "opps_addb", version)
    assert len(catalog) == rows
    assert {row["code"] for row in catalog} == set(addb_plain[version])


@pytest.mark.parametrize(("old", "new"), STEPS)
def test_addendum_b_step(addb_plain: dict, addb_warehouse: Path, old: str, new: str) -> None:
    before, after = addb_plain[old], addb_plain[new]
    con = warehouse.open_reader(addb_warehouse)
    try:
        changes = changes_between(con, source("opps_addb"), old, new)
    finally:
        con.close()
    kinds = changes["change_type"]
    assert set(changes.loc[kinds == "added", "key"]) == after.keys() - before.keys()
    assert set(changes.loc[kinds == "retired", "key"]) == before.keys() - after.keys()
    assert not (kinds == "reactivated").any()
    si = changes[(kinds == "attribute_changed") & (changes["field"] == "si")]
    expected = {k for k in before.keys() & after.keys() if before[k]["si"] != after[k]["si"]}
    assert len(si) == len(expected)
    assert set(si["key"]) == expected


# Steps FORMATS.md measured: (added, removed, SI changed). §6.4: Jan 2019 → Jan 2020; §6.3: the
# January 2020 correction (12 SI changes) and the October 2022 re-posting (1 SI/APC change);
# §6.5: Jan → Apr 2022, 41 HCPCS + 17 `####U` new codes.
MEASURED = {
    ("2019", "2020"): (544, 160, 128),
    ("2020", "2020r1"): (0, 0, 12),
    ("2022", "2022Q2"): (58, None, None),
    ("2022Q4", "2022Q4r1"): (0, 0, 1),
}


@pytest.mark.parametrize("step", sorted(MEASURED))
def test_addendum_b_steps_formats_measured(addb_warehouse: Path, step: tuple[str, str]) -> None:
    con = warehouse.open_reader(addb_warehouse)
    try:
        changes = changes_between(con, source("opps_addb"), *step)
    finally:
        con.close()
    kinds = changes["change_type"]
    found = (
        int((kinds == "added").sum()),
        int((kinds == "retired").sum()),
        int(((kinds == "attribute_changed") & (changes["field"] == "si")).sum()),
    )
    assert all(m is None or m == f for m, f in zip(MEASURED[step], found, strict=True)), found


def test_addendum_b_corrections_change_no_codes(addb_plain: dict) -> None:
    """FORMATS §6.3: a correction or re-posting has the codes of the release it replaces."""
    assert addb_plain["2020r1"].keys() == addb_plain["2020"].keys()
    assert addb_plain["2022Q4r1"].keys() == addb_plain["2022Q4"].keys()


# --- PPRRVU January 2023 --------------------------------------------------------------------------

# Our column name → the CSV's joined header (config/sources.toml [pfs_rvu.columns]).
RELEASE_VALUE = "conversion_factor"
# FORMATS.md §5.3: (our column, first position, last position, right-aligned number).
LAYOUT = [
    ("code", 1, 5, False), ("modifier", 6, 7, False), ("description", 8, 57, False),
    ("status_code", 58, 58, False), ("not_used_for_medicare", 59, 59, False),
    ("work_rvu", 60, 65, True), ("nonfac_pe_rvu", 67, 72, True),
    ("nonfac_na_indicator", 73, 74, False), ("facility_pe_rvu", 76, 81, True),
    ("facility_na_indicator", 82, 83, False), ("mp_rvu", 85, 89, True),
    ("nonfac_total", 91, 96, True), ("facility_total", 97, 102, True),
    ("pctc_indicator", 103, 103, False), ("global_days", 104, 106, False),
    ("pre_op", 107, 109, True), ("intra_op", 110, 112, True), ("post_op", 113, 115, True),
    ("mult_proc", 116, 116, False), ("bilat_surg", 117, 117, False),
    ("asst_surg", 118, 118, False), ("co_surg", 119, 119, False), ("team_surg", 120, 120, False),
    ("endo_base", 128, 132, False), ("conversion_factor", 133, 140, True),
    ("physician_supervision", 142, 143, False), ("calculation_flag", 144, 144, False),
    ("imaging_family", 146, 147, False), ("nonfac_pe_opps", 152, 157, True),
    ("facility_pe_opps", 159, 164, True), ("mp_opps", 166, 171, True),
]  # fmt: skip
RECORD = 171  # real lines are 171 bytes plus CRLF (FORMATS.md §5.3)


def columns_by_header() -> dict[str, str]:
    """The CSV's joined header → our column name, from the declaration itself."""
    return {column.header[0]: column.name for column in source("pfs_rvu").columns}


def fixed_width(rows: list[dict[str, str]]) -> bytes:
    """A PPRRVU `.txt` of these rows (our column names): `HDR` lines, then one 171-byte record
    per row; numbers right-aligned in their field, `.99` pictures without the leading zero."""
    lines = [
        "HDR " + "Synthetic header record of a test file".ljust(46),
        "HDR " + "A second header record".ljust(46),
    ]
    for row in rows:
        line = [" "] * RECORD
        for name, first, last, number in LAYOUT:
            width = last - first + 1
            value = row[name]
            if number and len(value) > width and value.startswith("0."):
                value = value[1:]  # `0.10` in a 3-character `.99` field: `.10`
            assert len(value) <= width, (name, width)
            cell = value.rjust(width) if number else value.ljust(width)
            line[first - 1 : last] = cell
        lines.append("".join(line))
    assert all(len(line) <= RECORD for line in lines)
    return "".join(line + "\r\n" for line in lines).encode("ascii")


@pytest.fixture(scope="module")
def pprrvu(realdata: Path) -> tuple[Path, list[str], list[list[str]]]:
    path = realdata / "pfs_rvu" / PPRRVU
    header, rows = plain_pprrvu(path.read_bytes())
    return path, header, rows


@pytest.fixture(scope="module")
def pfs_warehouse(pprrvu: tuple, tmp_path_factory: pytest.TempPathFactory) -> Path:
    wh = tmp_path_factory.mktemp("pfs") / "wh"
    refresh("pfs_rvu", str(pprrvu[0]), "2023", warehouse_dir=wh)
    return wh


def test_pprrvu_rows_and_keys(pprrvu: tuple, pfs_warehouse: Path) -> None:
    _, header, rows = pprrvu
    assert len(rows) == PPRRVU_ROWS
    assert set(columns_by_header()) == set(header)
    catalog = published_rows(pfs_warehouse, "pfs_rvu", "2023")
    assert len(catalog) == PPRRVU_ROWS
    assert len({(r["code"], r["modifier"]) for r in catalog}) == PPRRVU_ROWS
    assert len({r["code"] for r in catalog}) == PPRRVU_CODES
    assert RELEASE_VALUE not in catalog[0]  # a release value, not a catalog column
    assert Counter(r["status_code"] for r in catalog) == STATUS_CODES


def test_pprrvu_fields_by_position(pprrvu: tuple, pfs_warehouse: Path) -> None:
    """Data rows 1, 5000 and the last: every field as the file writes it (decimals included)."""
    _, header, rows = pprrvu
    names = columns_by_header()
    catalog = {
        (r["code"], r["modifier"]): r for r in published_rows(pfs_warehouse, "pfs_rvu", "2023")
    }
    for position in (1, 5000, len(rows)):
        expected = {names[h]: value for h, value in zip(header, rows[position - 1], strict=True)}
        found = dict(catalog[expected["code"], expected["modifier"]])
        assert found == {k: v for k, v in expected.items() if k != RELEASE_VALUE}, position
    con = warehouse.open_reader(pfs_warehouse)
    try:
        stated = warehouse.release_values(con, "pfs_rvu", "2023")
    finally:
        con.close()
    assert stated == {RELEASE_VALUE: rows[0][header.index("CONV FACTOR")]}
    manifest = json.loads(
        (pfs_warehouse / "published" / "pfs_rvu" / "2023" / "manifest.json").read_text("utf-8")
    )
    assert manifest["release_values"] == stated
    assert manifest["licence"] == ["AMA", "ADA"]


def test_pprrvu_fixed_width_loads_as_the_csv(
    pprrvu: tuple, pfs_warehouse: Path, tmp_path: Path
) -> None:
    _, header, rows = pprrvu
    names = columns_by_header()
    txt = tmp_path / "PPRRVU23_JAN.txt"
    ours = [names[h] for h in header]
    txt.write_bytes(fixed_width([dict(zip(ours, r, strict=True)) for r in rows]))
    wh = tmp_path / "wh"
    refresh("pfs_rvu", str(txt), "2023", warehouse_dir=wh)
    assert published_rows(wh, "pfs_rvu", "2023") == published_rows(pfs_warehouse, "pfs_rvu", "2023")
    readers = [warehouse.open_reader(w) for w in (wh, pfs_warehouse)]
    try:
        fixed, comma = (warehouse.release_values(con, "pfs_rvu", "2023") for con in readers)
    finally:
        for con in readers:
            con.close()
    assert fixed == comma


# --- the January question on real files ----------------------------------------------------------

HCPCS_2018 = "hcpcs_annual/2018-Alpha-Numeric-HCPCS-File.zip"
HCPCS_SHAPE = re.compile(r"[A-CE-V]\d{4}")  # config/sources.toml: no D (CDT) codes
CPT_SHAPE = re.compile(r"\d{4}[0-9FTUAM]")


def test_findings_as_of_on_real_addendum_b_and_hcpcs(
    realdata: Path, addb_plain: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Addendum B January 2019 against HCPCS 2018 (in force on 2019-01-01, exactly a year old):
    its HCPCS-shaped codes missing from HCPCS 2018 are unknown, those HCPCS 2018 retires are
    retired; CPT-shaped codes are unchecked (no CPT loaded), D codes claimed by no code set."""
    wh = tmp_path / "wh"
    refresh("hcpcs", str(realdata / HCPCS_2018), "2018", warehouse_dir=wh)
    name = next(n for v, n, _ in ADDENDUM_B if v == "2019")
    refresh("opps_addb", str(realdata / "opps_addendum_b" / name), "2019", warehouse_dir=wh)
    status = {row["code"]: row["status"] for row in published_rows(wh, "hcpcs", "2018")}
    codes = set(addb_plain["2019"])
    hcpcs_codes = {c for c in codes if HCPCS_SHAPE.fullmatch(c)}
    unknown = {c for c in hcpcs_codes if c not in status}
    retired = {c for c in hcpcs_codes if status.get(c) == "retired"}
    assert unknown or retired  # the check below means something

    assert (
        main(["findings", "--as-of", "2019-01-01", "--warehouse", str(wh), "--format", "csv"]) == 0
    )
    found = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["code"] for r in found if r["finding"] == "unknown"} == unknown
    assert {r["code"] for r in found if r["finding"] == "retired"} == retired
    assert {(r["source"], r["version"], r["code_set"], r["code_set_version"], r["column"])
            for r in found} == {("opps_addb", "2019", "hcpcs", "2018", "code")}  # fmt: skip
    assert all(r["key"] == r["code"] for r in found)
    assert all(r["retired_on"] for r in found if r["finding"] == "retired")

    assert main(["findings", "--as-of", "2019-01-01", "--warehouse", str(wh)]) == 0
    text = capsys.readouterr().out.splitlines()
    cpt = sum(1 for c in codes if CPT_SHAPE.fullmatch(c))
    unclaimed = len(codes) - cpt - len(hcpcs_codes)
    assert text[:3] == [
        "Policy rows naming codes retired or unknown on 2019-01-01",
        "policy sources in force: opps_addb 2019",
        "code sets in force: cpt (none in force), hcpcs 2018",
    ]
    assert text[-3:] == [
        f"{len(unknown) + len(retired):,} codes retired or unknown, named by "
        f"{len(unknown) + len(retired):,} policy rows.",
        f"unchecked: {unclaimed:,} codes in {unclaimed:,} rows: its shape is none of its code "
        "sets (cpt, hcpcs)",
        f"unchecked: {cpt:,} codes in {cpt:,} rows: no cpt version in force on 2019-01-01",
    ]

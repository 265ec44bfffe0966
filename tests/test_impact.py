"""`codecatalog impact`: a practice's own code list checked against the loaded code sets.

The fee schedule in tests/cases/practice/ (see make_practice.py there) holds 50 codes picked from
the synthetic CPT releases 2024-2026 (`samples` fixture, seed 0). Expected rows are computed here
from the generated releases themselves: the codes of each release's SHORTU.txt and the truth
change logs in `samples/truth/`, never from codecatalog's reading of them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from codecatalog import warehouse
from codecatalog.errors import UsageError
from codecatalog.impact import (
    ROW_COLUMNS,
    ImpactResult,
    PracticeList,
    impact,
    read_practice_list,
    render_html,
    render_table,
    write_csv,
)
from codecatalog.pipeline import refresh
from codecatalog.sources import source, use_sources

PRACTICE = Path(__file__).parent / "cases" / "practice"
CSV_LIST, XLSX_LIST = PRACTICE / "fee_schedule.csv", PRACTICE / "fee_schedule.xlsx"
HCPCS_CASES = Path(__file__).parent / "cases" / "hcpcs"
ON, SINCE = date(2026, 3, 1), date(2025, 1, 1)
FIELD_CHANGES = {"descriptor_revised", "descriptor_editorial", "attribute_changed"}
UNCLAIMED = "its shape is none of its code sets (cpt, hcpcs)"


# --- expectations from the generated files ----------------------------------------------------


def release_codes(samples: Path, year: int) -> set[str]:
    """The codes of a synthetic release's SHORTU.txt (a code, a space, the descriptor)."""
    text = (samples / f"cpt-{year}" / "standard" / "SHORTU.txt").read_bytes().decode("latin-1")
    return {m.group(1) for m in re.finditer(r"^(\S{5}) ", text, re.MULTILINE)}


def truth(samples: Path, step: str) -> list[dict[str, str]]:
    with open(samples / "truth" / f"changes_{step}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def practice_rows() -> list[tuple[int, str, str]]:
    """(line, code, description) of the fee schedule CSV: header on line 3, codes in column 2."""
    with open(CSV_LIST, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[2] == ["Charge ID", "CPT/HCPCS", "Description", "Department", "Fee"]
    return [(line, row[1], row[2]) for line, row in enumerate(rows, start=1) if line > 3]


def expected_codes(samples: Path, on_year: int, on: date) -> list[dict[str, Any]]:
    """Each line's status in CPT version `on_year`: active when in its SHORTU, retired when in
    an earlier loaded one (on the date of its truth `retired` row), else unknown; HCPCS-shaped
    codes unchecked (no HCPCS loaded), other shapes unclaimed."""
    cpt, hcpcs = source("cpt").code_shape or "", source("hcpcs").code_shape or ""
    now = release_codes(samples, on_year)
    earlier = set().union(*(release_codes(samples, y) for y in range(2024, on_year)))
    retired_on = {
        r["key"]: r["effective_date"]
        for step in ("2024_2025", "2025_2026")
        if int(step[-4:]) <= on_year
        for r in truth(samples, step)
        if r["change_type"] == "retired"
    }
    rows = []
    for line, code, description in practice_rows():
        row = {"line": line, "code": code, "description": description, "status": "unchecked",
               "code_set": None, "code_set_version": None, "retired_on": None,
               "successors": None, "reason": UNCLAIMED}  # fmt: skip
        if re.fullmatch(hcpcs, code):
            row |= {"code_set": "hcpcs", "reason": f"no hcpcs version in force on {on}"}
        elif re.fullmatch(cpt, code):
            row |= {"code_set": "cpt", "code_set_version": str(on_year), "reason": None}
            if code in now:
                row["status"] = "active"
            elif code in earlier:
                row |= {"status": "retired", "retired_on": retired_on[code]}
            else:
                row["status"] = "unknown"
        rows.append(row)
    return rows


def expected_revised(samples: Path) -> list[dict[str, Any]]:
    """The truth's 2025 -> 2026 descriptor and attribute changes of the listed codes."""
    changes: dict[str, list[dict[str, str]]] = {}
    for r in truth(samples, "2025_2026"):
        if r["change_type"] in FIELD_CHANGES:
            changes.setdefault(r["key"], []).append(r)
    rows = [
        {
            "line": line,
            "code": code,
            "description": description,
            "code_set": "cpt",
            "from_version": "2025",
            "to_version": "2026",
            "change_type": r["change_type"],
            "field": r["field"],
            "old_value": r["old_value"],
            "new_value": r["new_value"],
            "effective_date": r["effective_date"],
        }
        for line, code, description in practice_rows()
        for r in changes.get(code, [])
    ]
    return sorted(rows, key=lambda r: (r["line"], r["field"]))


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def reader(loaded_warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = warehouse.open_reader(loaded_warehouse)
    yield con
    con.close()


def run(
    con: duckdb.DuckDBPyConnection, path: Path, on: date = ON, since: date | None = SINCE
) -> ImpactResult:
    return impact(con, read_practice_list(path), on, since)


# --- the fee schedule -----------------------------------------------------------------------


def test_fee_schedule_as_of_2026(samples: Path, reader: duckdb.DuckDBPyConnection) -> None:
    result = run(reader, CSV_LIST)
    expected = expected_codes(samples, 2026, ON)
    assert result.codes == expected
    statuses = [(r["code"], r["status"], r["retired_on"]) for r in expected]
    # What the list was built to hold (tests/cases/practice/make_practice.py):
    assert {s for s in statuses if s[1] == "retired"} == {
        ("91060", "retired", "2026-01-01"), ("25039", "retired", "2026-01-01"),
        ("95950", "retired", "2026-01-01"), ("51341", "retired", "2026-01-01"),
        ("0161T", "retired", "2026-01-01"), ("31152", "retired", "2026-01-01"),
        ("21265", "retired", "2025-01-01"), ("48826", "retired", "2025-01-01"),
    }  # fmt: skip
    assert {c for c, s, _ in statuses if s == "unknown"} == {"00136", "99999"}
    assert {c for c, s, _ in statuses if s == "unchecked"} == {"J1100", "G0202", "D0120", "ABC1"}
    assert sum(s == "active" for _, s, _ in statuses) == 36
    assert all(r["successors"] is None for r in result.codes)  # CPT declares no successors
    assert result.revised == expected_revised(samples)
    assert {r["code"] for r in result.revised} == {
        "83069", "98379", "1716F", "78473", "64157", "0209U", "0085U", "45203",
    }  # fmt: skip
    assert result.policy == []
    assert result.code_sets == {"cpt": "2026", "hcpcs": None}
    assert result.since_versions == {"cpt": "2025"}
    assert result.notes == []
    assert result.summary() == {
        "active": 36, "retired": 8, "unknown": 2, "unchecked": 4, "revised": 8, "policy rows": 0,
    }  # fmt: skip
    assert (result.column, result.description_column) == ("CPT/HCPCS", "Description")


def test_xlsx_gives_the_same_result(reader: duckdb.DuckDBPyConnection) -> None:
    from_csv, from_xlsx = run(reader, CSV_LIST), run(reader, XLSX_LIST)
    assert read_practice_list(XLSX_LIST).sheet == "Fees"
    # Excel stored 00350 and 00136 as the numbers 350 and 136: read back zero-padded.
    assert read_practice_list(XLSX_LIST).rows == read_practice_list(CSV_LIST).rows
    assert from_xlsx.file == str(XLSX_LIST)
    from_xlsx.file = from_csv.file
    assert from_xlsx == from_csv


def test_as_of_2025(samples: Path, reader: duckdb.DuckDBPyConnection) -> None:
    """A year earlier the 2026 retirements are active and the 2026 additions unknown."""
    on = date(2025, 6, 1)
    result = run(reader, CSV_LIST, on, date(2024, 6, 1))
    assert result.codes == expected_codes(samples, 2025, on)
    by_code = {r["code"]: r["status"] for r in result.codes}
    assert by_code["91060"] == "active"  # retired only in 2026
    assert by_code["14813"] == "unknown"  # added in 2026
    assert result.since_versions == {"cpt": "2024"}
    changed = {
        r["key"]
        for r in truth(samples, "2024_2025")
        if r["change_type"] in FIELD_CHANGES and r["key"] in by_code
    }
    assert {r["code"] for r in result.revised} == changed


def test_before_any_release_everything_is_unchecked(reader: duckdb.DuckDBPyConnection) -> None:
    result = run(reader, CSV_LIST, date(2023, 6, 1), date(2023, 1, 1))
    assert {r["status"] for r in result.codes} == {"unchecked"}
    assert {r["reason"] for r in result.codes} == {
        "no cpt version in force on 2023-06-01",
        "no hcpcs version in force on 2023-06-01",
        UNCLAIMED,
    }
    assert result.revised == [] and result.since_versions == {}


def test_since_before_the_first_release(reader: duckdb.DuckDBPyConnection) -> None:
    result = run(reader, CSV_LIST, ON, date(2023, 6, 1))
    assert result.revised == []
    assert result.since_versions == {"cpt": None}
    assert result.notes == ["no cpt version in force on 2023-06-01: its revisions are not listed"]


def test_without_since_no_revisions(reader: duckdb.DuckDBPyConnection) -> None:
    result = run(reader, CSV_LIST, ON, None)
    assert result.revised == [] and result.since is None
    assert "Not asked (no --since date)." in render_html(result)


def test_since_must_be_earlier(reader: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(UsageError) as err:
        run(reader, CSV_LIST, ON, ON)
    assert str(err.value) == "--since 2026-03-01 is not earlier than --as-of 2026-03-01"


def test_warehouse_untouched(loaded_warehouse: Path) -> None:
    reader_file = loaded_warehouse / "codecatalog.duckdb"
    before = hashlib.sha256(reader_file.read_bytes()).hexdigest()
    con = warehouse.open_reader(loaded_warehouse)
    try:
        run(con, CSV_LIST)
        run(con, XLSX_LIST)  # temporary tables are dropped and made again
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone() == (
            0,
        )
    finally:
        con.close()
    assert hashlib.sha256(reader_file.read_bytes()).hexdigest() == before


# --- policy findings ------------------------------------------------------------------------

PAYER = """
[payer_pa]
title = "Invented prior-authorization list"
family = "table"
key = ["code"]
schema = "any.yaml"
descriptors = []
attributes = ["site"]
code_columns = ["code"]
code_sets = ["cpt", "hcpcs"]
[payer_pa.columns]
code = "Code"
site = "Site"
"""


def test_policy_rows_naming_listed_codes(loaded_warehouse: Path, tmp_path: Path) -> None:
    """A payer list in force from 2026-01-01 names a retired, an unknown, an active and an
    HCPCS code of the fee schedule, and a retired code the schedule does not list (95950 is
    listed; 0049T, retired in 2026 too, is not)."""
    (tmp_path / "payers.toml").write_text(PAYER)
    (tmp_path / "any.yaml").write_text("schema_type: dataframe\ncolumns: {}\n")
    payer = tmp_path / "payer_pa_2026Q1.csv"
    payer.write_text(
        "Code,Site\n95950,office\n99999,home\n83069,office\nJ1100,home\n0049T,office\n"
    )
    use_sources([tmp_path / "payers.toml"])
    try:
        refresh("payer_pa", str(payer), "2026Q1", warehouse_dir=loaded_warehouse)
    finally:
        use_sources([])
    con = warehouse.open_reader(loaded_warehouse)
    try:
        result = run(con, CSV_LIST)
    finally:
        con.close()
    lines = {code: line for line, code, _ in practice_rows()}
    assert result.policies == {"payer_pa": "2026Q1"}
    assert [(r["line"], r["code"], r["source"], r["source_version"], r["key"], r["column"],
             r["finding"], r["code_set"], r["code_set_version"], r["retired_on"])
            for r in result.policy] == sorted([
        (lines["95950"], "95950", "payer_pa", "2026Q1", "95950", "code", "retired", "cpt", "2026",
         "2026-01-01"),
        (lines["99999"], "99999", "payer_pa", "2026Q1", "99999", "code", "unknown", "cpt", "2026",
         None),
    ])  # fmt: skip
    assert result.notes == ["1 policy row names 1 of the list's unchecked codes (not listed)"]
    # The payer source has no code shape: it is no code set.
    assert result.code_sets == {"cpt": "2026", "hcpcs": None}


# --- successors (HCPCS) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def hcpcs_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HCPCS 2016-2018 from the public-domain excerpts (tests/cases/hcpcs/README.md): G0202 is
    retired from 2018-01-01 with successor 77067; A5513 and J7342 are active in 2018."""
    wh = tmp_path_factory.mktemp("impact_hcpcs") / "wh"
    for version, name in [
        ("2016", "reconstructed_2016_ANWEB.txt"),
        ("2017", "excerpt_2017_ANWEB.txt"),
        ("2018", "excerpt_2018_ANWEB.txt"),
    ]:
        refresh("hcpcs", str(HCPCS_CASES / name), version, warehouse_dir=wh)
    return wh


def test_retired_with_successors(hcpcs_warehouse: Path, tmp_path: Path) -> None:
    listed = tmp_path / "list.csv"
    listed.write_text("HCPCS,Description\nG0202,Mammo\nA5513,Insert\nA9999,Ours\n77067,Mammo 3D\n")
    con = warehouse.open_reader(hcpcs_warehouse)
    try:
        result = impact(con, read_practice_list(listed), date(2018, 7, 1))
    finally:
        con.close()
    assert [
        (r["line"], r["code"], r["status"], r["code_set"], r["code_set_version"], r["retired_on"],
         r["successors"], r["reason"])
        for r in result.codes
    ] == [
        (2, "G0202", "retired", "hcpcs", "2018", "2018-01-01", "77067", None),
        (3, "A5513", "active", "hcpcs", "2018", None, None, None),
        (4, "A9999", "unknown", "hcpcs", "2018", None, None, None),
        (5, "77067", "unchecked", "cpt", None, None, None, "no cpt version in force on 2018-07-01"),
    ]  # fmt: skip


# --- reading practice lists -----------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "list.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def codes_of(practice: PracticeList) -> list[tuple[int, str, str | None]]:
    return [(r.line, r.code, r.description) for r in practice.rows]


def test_no_code_column_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Item,Amount,Notes\nwidget,3,blue\ngadget,4,red\n")
    with pytest.raises(UsageError) as err:
        read_practice_list(path)
    assert str(err.value) == (
        f"{path}: no code column found (headers: Item, Amount, Notes); name it with --column"
    )


def test_a_code_header_over_values_that_are_no_codes_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Charge Code,Fee\nCHG-1,3\nCHG-2,4\n")
    with pytest.raises(UsageError, match=r"no code column found \(headers: Charge Code, Fee\)"):
        read_practice_list(path)


def test_named_column_missing_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Code,Description\n99213,Visit\n")
    with pytest.raises(UsageError) as err:
        read_practice_list(path, column="Procedure")
    assert str(err.value) == f"{path}: no column 'Procedure' (headers: Code, Description)"


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "\n\n")
    with pytest.raises(UsageError) as err:
        read_practice_list(path)
    assert str(err.value) == f"{path}: no rows"


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        read_practice_list(tmp_path / "nope.csv")


def test_workbook_without_code_column_names_its_headers(tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["Item", "Amount"])
    wb.active.append(["widget", 3])
    wb.create_sheet("Notes").append(["Text"])
    path = tmp_path / "list.xlsx"
    wb.save(path)
    with pytest.raises(UsageError) as err:
        read_practice_list(path)
    assert str(err.value) == (
        f"{path}: no code column found (headers: Item, Amount); name it with --column "
        "(sheets: Sheet, Notes)"
    )


def test_code_header_preferred_over_an_internal_code(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Charge Code;CPT Code;Service description;Price\n"
        "CHG-1; 99213 ;Visit;10\nCHG-2;0001a;Lab;12\nCHG-3;;Supply;1\n",
    )
    practice = read_practice_list(path)
    assert (practice.column, practice.description_column) == ("CPT Code", "Service description")
    assert codes_of(practice) == [(2, "99213", "Visit"), (3, "0001A", "Lab")]


def test_unnamed_code_column_found_by_shape(tmp_path: Path) -> None:
    path = write(tmp_path, "Item\tSvc\tFee\nA\t99213\t10\nB\tJ1100\t12\nC\tX\t3\n")
    practice = read_practice_list(path)
    assert practice.column == "Svc" and practice.description_column is None
    assert codes_of(practice) == [(2, "99213", None), (3, "J1100", None), (4, "X", None)]


def test_headerless_list_of_codes(tmp_path: Path) -> None:
    path = write(tmp_path, "99213\n0001A\nJ1100\n")
    practice = read_practice_list(path)
    assert practice.column == "column 1"
    assert codes_of(practice) == [(1, "99213", None), (2, "0001A", None), (3, "J1100", None)]


def test_named_column(tmp_path: Path) -> None:
    path = write(tmp_path, "Local,Billing\nL1,99213\nL2,99214\n")
    practice = read_practice_list(path, column=" billing ")
    assert practice.column == "Billing"
    assert codes_of(practice) == [(2, "99213", None), (3, "99214", None)]


def test_lines_count_quoted_newlines_and_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes('Code,Description\n99213,"Caf\xe9\nvisit"\n99214,Next\n'.encode("cp1252"))
    assert codes_of(read_practice_list(path)) == [(2, "99213", "Café\nvisit"), (4, "99214", "Next")]


# --- output ---------------------------------------------------------------------------------


def test_outputs(reader: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'CPT,Description\n91060,"<script>alert(1)</script> & co"\n99999,ours\n83069,Toxicology\n',
    )
    result = run(reader, path)
    page = render_html(result)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<table>") == 3  # summary, codes, revised
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "http" not in page  # nothing fetched at view time
    rows = result.as_rows()
    assert [(r["section"], r["line"], r["code"], r["status"], r["field"]) for r in rows] == [
        ("codes", 2, "91060", "retired", None),
        ("codes", 3, "99999", "unknown", None),
        ("codes", 4, "83069", "active", None),
        ("revised", 4, "83069", None, "long_descriptor"),
    ]
    assert all(tuple(r) == ROW_COLUMNS for r in rows)
    out = tmp_path / "out.csv"
    with open(out, "w", encoding="utf-8", newline="") as fh:
        write_csv(result, fh)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(ROW_COLUMNS)
    assert lines[1].startswith("codes,2,91060,<script>alert(1)</script> & co,retired,cpt,2026,")
    text = render_table(result).splitlines()
    assert text[:14] == [
        f"Impact on {path} as of 2026-03-01",
        "code column: CPT; description column: Description",
        "code sets in force: cpt 2026, hcpcs (none in force)",
        "revised since 2025-01-01: from cpt 2025",
        "policy sources in force: none",
        "active 1, retired 1, unknown 1, unchecked 0, revised 1, policy rows 0",
        "",
        "codes (3 rows)",
        "line  code   description                     status   code_set  code_set_version  "
        "retired_on",
        "2     91060  <script>alert(1)</script> & co  retired  cpt       2026              "
        "2026-01-01",
        "3     99999  ours                            unknown  cpt       2026",
        "… and 1 active (--format csv lists every code)",
        "",
        "revised (1 row)",
    ]
    assert [re.split(r"\s{2,}", line) for line in text[14:16]] == [
        ["line", "code", "description", "code_set", "from_version", "to_version", "change_type",
         "field", "old_value", "new_value", "effective_date"],
        ["4", "83069", "Toxicology", "cpt", "2025", "2026", "descriptor_revised",
         "long_descriptor", "Toreamine level; in blood, <2 mL specimen",
         "Toreamine level; in blood, <6 mL specimen", "2026-01-01"],
    ]  # fmt: skip
    assert text[16:] == ["", "policy (0 rows)"]
    assert "83069" in render_table(result, active=True)
    data = result.as_dict()
    assert data["summary"]["retired"] == 1 and data["as_of"] == "2026-03-01"
    assert json.loads(json.dumps(data)) == data  # JSON-ready as it is
    assert isinstance(result, ImpactResult)


def test_the_impact_command(
    samples: Path, loaded_warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`codecatalog impact` prints the same rows as the function, writes the HTML page with
    --out, and refuses a list without a code column in one line (exit 2), the warehouse kept."""
    from codecatalog.cli import main

    argv = ["impact", str(PRACTICE / "fee_schedule.csv"), "--as-of", "2026-03-01",
            "--warehouse", str(loaded_warehouse)]  # fmt: skip
    assert main([*argv, "--format", "csv"]) == 0
    printed = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    codes = [r for r in printed if r["section"] == "codes"]
    expected = expected_codes(samples, 2026, date(2026, 3, 1))
    assert [(int(r["line"]), r["code"], r["status"]) for r in codes] == [
        (e["line"], e["code"], e["status"]) for e in expected
    ]
    page = tmp_path / "impact.html"
    assert main([*argv, "--format", "html", "--out", str(page)]) == 0
    assert capsys.readouterr().out == ""
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    before = hashlib.sha256((loaded_warehouse / "codecatalog.duckdb").read_bytes()).hexdigest()
    prices = tmp_path / "prices.csv"
    prices.write_text("Item,Amount,Notes\nX-ray,10,none\n")
    assert main(["impact", str(prices), "--warehouse", str(loaded_warehouse)]) == 2
    assert capsys.readouterr().err == (
        f"error: {prices}: no code column found (headers: Item, Amount, Notes); name it with "
        "--column\n"
    )
    after = hashlib.sha256((loaded_warehouse / "codecatalog.duckdb").read_bytes()).hexdigest()
    assert after == before

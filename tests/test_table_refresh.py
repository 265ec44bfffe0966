"""End to end: payer policy files declared in TOML outside the package (`table` family)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from warehouse_state import attempts, snapshot

from codecatalog import warehouse
from codecatalog.cli import main
from codecatalog.diff.changes import changes_between
from codecatalog.errors import Failure
from codecatalog.sources import source, use_sources

DECLARATIONS = Path(__file__).parent / "cases" / "declarations"
NORTHWIND = DECLARATIONS / "northwind" / "northwind_pa.toml"
ACME = DECLARATIONS / "composite" / "acme_edits.toml"
HEADER = ["Procedure Code", "Description", "PA Required?", "Service Category"]

# The invented payer's list effective 2026-01-01: code, description, PA required, category.
PA_2026 = [
    ("99213", "Office visit, established patient, low complexity", "N", "Evaluation"),
    ("0042T", "Cerebral perfusion analysis by imaging", "Y", "Radiology"),
    ("J1100", "Injection, dexamethasone sodium phosphate, 1 mg", "N", "Drugs"),
    ("A4206", "Syringe with needle, sterile, 1 cc or less", "N", "Supplies"),
    ("70551", "MRI brain without contrast", "Y", "Radiology"),
    ("97110", "Therapeutic exercise, each 15 minutes", "Y", "Therapy"),
    ("G0283", "Electrical stimulation, unattended, one area", "N", "Therapy"),
    ("E0601", "Continuous positive airway pressure device", "Y", "DME"),
    ("L3000", "Foot insert, removable, molded to patient model", "Y", "Orthotics"),
    ("81479", "Unlisted molecular pathology procedure", "Y", ""),
]
# The April list: A4206 dropped, K0001 added, 70551 no longer needs PA, 97110 reworded, G0283's
# description only re-punctuated and re-cased.
PA_2026Q2 = [row for row in PA_2026 if row[0] not in ("A4206", "70551", "97110", "G0283")] + [
    ("70551", "MRI brain without contrast", "N", "Radiology"),
    ("97110", "Therapeutic exercise to develop strength, each 15 minutes", "Y", "Therapy"),
    ("G0283", "Electrical stimulation (unattended), one area", "N", "Therapy"),
    ("K0001", "Standard wheelchair", "Y", "DME"),
]


def write_xlsx(path: Path, rows: list[tuple[str, ...]]) -> Path:
    """The list as the payer sends it: an instructions sheet first, then `PA List` with title
    rows, a blank row, the header and an extra Notes column; codes of digits as number cells."""
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Instructions"
    notes.append(["Procedure Code lists are on the next sheet"])
    sheet = book.create_sheet("PA List")
    sheet.append(["Northwind Health"])
    sheet.append(["Prior authorization list, effective January 1, 2026"])
    sheet.append([])
    sheet.append([*HEADER, "Notes"])
    for code, *rest in rows:
        sheet.append([int(code) if code.isdigit() else code, *rest, "see policy"])
    book.save(path)
    return path


def write_csv(path: Path, rows: list[tuple[str, ...]]) -> Path:
    """The same list as CSV: a notice line, then the header (reordered, renamed case/spacing)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["Northwind Health PA list - April 2026"])
    writer.writerow(["service category", "PROCEDURE  CODE", "Description", "PA Required?"])
    writer.writerows([(cat, code, text, pa) for code, text, pa, cat in rows])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def records(frame: pd.DataFrame) -> list[tuple]:
    """Rows as tuples, missing values as None."""
    return [
        tuple(r) for r in frame.astype(object).where(frame.notna(), None).itertuples(index=False)
    ]


def refresh(*argv: str) -> int:
    return main(["refresh", *argv, "--plain"])


@pytest.fixture(autouse=True)
def _forget_user_sources() -> None:
    yield
    use_sources([])


def test_northwind_xlsx_then_csv(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    wh = tmp_path / "wh"
    xlsx = write_xlsx(tmp_path / "northwind_2026.xlsx", PA_2026)
    sheet = write_csv(tmp_path / "northwind_2026q2.csv", PA_2026Q2)
    common = ["--warehouse", str(wh), "--sources", str(NORTHWIND)]
    assert refresh("northwind_pa", str(xlsx), "--version", "2026", *common) == 0
    assert refresh("northwind_pa", str(sheet), "--version", "2026Q2", *common) == 0
    capsys.readouterr()

    published = wh / "published" / "northwind_pa" / "2026Q2"
    catalog = pd.read_csv(published / "catalog.csv", dtype=str, keep_default_na=False)
    assert catalog.to_records(index=False).tolist() == sorted(
        (code, text, pa, cat) for code, text, pa, cat in PA_2026Q2
    )
    use_sources([])  # read commands use the declaration stored with the release
    con = warehouse.open_reader(wh)
    try:
        cfg = warehouse.stored_declaration(con, "northwind_pa")
        assert cfg is not None
        changes = changes_between(con, cfg, "2026", "2026Q2")
    finally:
        con.close()
    q2 = date(2026, 4, 1)
    assert records(changes.drop(columns=["codeset", "from_version", "to_version"])) == [
        ("70551", "attribute_changed", "pa_required", "Y", "N", q2, None),
        ("97110", "descriptor_revised", "description",
         "Therapeutic exercise, each 15 minutes",
         "Therapeutic exercise to develop strength, each 15 minutes", q2, None),
        ("A4206", "retired", None, None, None, q2, None),
        ("G0283", "descriptor_editorial", "description",
         "Electrical stimulation, unattended, one area",
         "Electrical stimulation (unattended), one area", q2, None),
        ("K0001", "added", None, None, None, q2, None),
    ]  # fmt: skip
    published_changes = pd.read_csv(published / "changes.csv", dtype=str, keep_default_na=False)
    assert published_changes["key"].tolist() == ["70551", "97110", "A4206", "G0283", "K0001"]
    report = (published / "report.md").read_text(encoding="utf-8")
    assert "## Added (1)\n\nK0001" in report
    assert "## Retired (1)\n\nA4206" in report
    assert "Not applicable: the source states no actions of its own." in report


def test_a_changed_key_declaration_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    wh = tmp_path / "wh"
    xlsx = write_xlsx(tmp_path / "northwind_2026.xlsx", PA_2026)
    assert refresh("northwind_pa", str(xlsx), "--version", "2026", "--warehouse", str(wh),
                   "--sources", str(NORTHWIND)) == 0  # fmt: skip
    changed = tmp_path / "decl"
    changed.mkdir()
    text = NORTHWIND.read_text(encoding="utf-8").replace(
        'attributes = ["pa_required", "category"]', 'attributes = ["pa_required"]'
    )
    (changed / "northwind_pa.toml").write_text(text, encoding="utf-8")
    (changed / "northwind_pa.yaml").write_bytes(NORTHWIND.with_suffix(".yaml").read_bytes())
    capsys.readouterr()
    before = snapshot(wh)
    sheet = write_csv(tmp_path / "q2.csv", PA_2026Q2)
    assert refresh("northwind_pa", str(sheet), "--version", "2026Q2", "--warehouse", str(wh),
                   "--sources", str(changed / "northwind_pa.toml")) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err == (
        f"error: northwind_pa: the declaration in {changed / 'northwind_pa.toml'} changes "
        'attributes since its versions were loaded (was {"attributes": ["pa_required", '
        '"category"]}); declare the new layout as a new source\n'
    )
    assert snapshot(wh) == before
    assert attempts(wh)[-1]["outcome"] == "rejected"


def acme_zip(path: Path, rows: list[tuple[str, ...]], split: int) -> Path:
    """An Acme PTP release: two tab-separated parts with a notice, a two-row header."""
    head = [
        ["Acme Health PTP edits. Codes are invented for testing."],
        ["Column 1", "Column 2", "* = In existence", "Effective", "Deletion Date", "Modifier",
         "PTP Edit"],
        ["", "", "prior to 1996", "Date", "*=no data",
         "0=not allowed 1=allowed 9=not applicable", "Rationale"],
    ]  # fmt: skip
    with zipfile.ZipFile(path, "w") as z:
        for name, part in [("part1.txt", rows[:split]), ("part2.txt", rows[split:])]:
            lines = ["\t".join(r) for r in [*head, *part]]
            z.writestr(name, "\r\n".join(lines) + "\r\n")
        z.writestr("README.pdf", b"%PDF-1.4 not a table")
    return path


def acme_rows() -> list[tuple[str, ...]]:
    """60 edits: column 1 codes 00100.. (anaesthesia-like, leading zeros), column 2 CPT/HCPCS."""
    column2 = ["99213", "J1100", "0042T", "G0283"]
    return [
        (f"{100 + i:05d}", column2[i % 4], "*" if i % 7 == 0 else "", "20200101", "*",
         str(i % 2), "Mutually exclusive procedures")
        for i in range(60)
    ]  # fmt: skip


def test_composite_key_source_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    first = acme_rows()
    second = list(first)
    second[3] = (*first[3][:4], "20260401", *first[3][5:])  # deleted from April 1
    second[5] = (*first[5][:5], "9", first[5][6])  # modifier indicator changed
    del second[10]  # vanished: 1 of 60, within max_vanished 2 %
    second.append(("00999", "99213", "", "20260401", "*", "1", "Standards of medical practice"))
    wh = tmp_path / "wh"
    common = ["--warehouse", str(wh), "--sources", str(ACME)]
    assert refresh("acme_edits", str(acme_zip(tmp_path / "q1.zip", first, 30)), "--version",
                   "2026Q1", *common) == 0  # fmt: skip
    assert refresh("acme_edits", str(acme_zip(tmp_path / "q2.zip", second, 25)), "--version",
                   "2026Q2", *common) == 0  # fmt: skip
    con = warehouse.open_reader(wh)
    try:
        changes = changes_between(con, source("acme_edits"), "2026Q1", "2026Q2")
        stored = con.execute("SELECT count(*) FROM acme_edits_catalog").fetchall()[0][0]
    finally:
        con.close()
    q2 = date(2026, 4, 1)  # 00103's deletion date is the first day it no longer holds
    fields = ["key", "change_type", "field", "old_value", "new_value", "effective_date"]
    assert records(changes[fields]) == [
        ("00103|G0283", "retired", None, None, None, q2),
        ("00105|J1100", "attribute_changed", "modifier_indicator", "1", "9", q2),
        ("00110|0042T", "retired", None, None, None, q2),
        ("00999|99213", "added", None, None, None, q2),
    ]  # fmt: skip
    # 60 rows, then 2 changed rows and 1 new one: unchanged rows are not stored again.
    assert stored == 63


def test_shrinking_release_is_refused_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rows = acme_rows()
    wh = tmp_path / "wh"
    common = ["--warehouse", str(wh), "--sources", str(ACME)]
    assert refresh("acme_edits", str(acme_zip(tmp_path / "q1.zip", rows, 30)), "--version",
                   "2026Q1", *common) == 0  # fmt: skip
    capsys.readouterr()
    before = snapshot(wh)
    half = acme_zip(tmp_path / "q2.zip", rows[:30], 30)  # part 2 missing
    assert refresh("acme_edits", str(half), "--version", "2026Q2", *common) == 2
    assert capsys.readouterr().err == (
        "error: acme_edits 2026Q2: 30 of the 60 active keys of 2026Q1 (50.0%) are missing, "
        "more than max_vanished (2%); is part of the release missing? Load it with "
        "--allow-shrink if the shrink is real\n"
    )
    assert snapshot(wh) == before
    assert refresh("acme_edits", str(half), "--version", "2026Q2", "--allow-shrink", *common) == 0


def northwind_csv(tmp_path: Path, edit: str = "", replace: str = "") -> Path:
    """The April list as CSV, with `edit` replaced by `replace` in its text."""
    path = write_csv(tmp_path / "northwind.csv", PA_2026Q2)
    path.write_text(path.read_text(encoding="utf-8").replace(edit, replace), encoding="utf-8")
    return path


BAD_NORTHWIND = {
    # name: (text to replace, replacement, the one failure line expected)
    "header never appears": (
        "PROCEDURE  CODE", "Proc Code",
        "northwind.csv: file, column '': header (value 'Procedure Code')",
    ),
    "named column missing": (
        ",Description,", ",Desc,",
        "northwind.csv: line 2, column 'description': missing column (value 'Description')",
    ),
    "value outside isin": (
        "Injection, dexamethasone sodium phosphate, 1 mg\",N", "Injection, dexamethasone sodium "
        "phosphate, 1 mg\",maybe",
        "northwind.csv: line 5, column 'pa_required': isin(['Y', 'N']) (value 'maybe')",
    ),
    "too many fields": (
        "Standard wheelchair,Y", "Standard wheelchair,Y,extra",
        "northwind.csv: line 12, column '': field count (value 'DME,K0001,Standard wheelchair,Y,"
        "extra')",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_NORTHWIND))
def test_bad_policy_file_is_refused_and_nothing_changes(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    wh = tmp_path / "wh"
    common = ["--warehouse", str(wh), "--sources", str(NORTHWIND)]
    xlsx = write_xlsx(tmp_path / "northwind_2026.xlsx", PA_2026)
    assert refresh("northwind_pa", str(xlsx), "--version", "2026", *common) == 0
    capsys.readouterr()
    before, count = snapshot(wh), len(attempts(wh))
    edit, replacement, failure = BAD_NORTHWIND[case]
    bad = northwind_csv(tmp_path, edit, replacement)
    assert refresh("northwind_pa", str(bad), "--version", "2026Q2", *common) == 2
    assert capsys.readouterr().err == (
        f"error: refused: northwind.csv: 1 validation failure(s)\n  {failure}\n"
    )
    assert snapshot(wh) == before
    recorded = attempts(wh)
    assert len(recorded) == count + 1
    assert recorded[-1]["outcome"] == "rejected"
    assert [str(f) for f in map(lambda f: Failure(**f), recorded[-1]["failures"])] == [failure]


def test_duplicated_composite_key_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = acme_rows()
    rows[40] = (*rows[7][:2], *rows[40][2:])  # a second 00107|G0283 in part 2
    wh = tmp_path / "wh"
    assert refresh("acme_edits", str(acme_zip(tmp_path / "q1.zip", rows, 30)), "--version",
                   "2026Q1", "--warehouse", str(wh), "--sources", str(ACME)) == 2  # fmt: skip
    # part1.txt: 3 header lines, rows 0-29 on lines 4-33; part2.txt: rows 30.. from line 4.
    lines = [
        f"  q1.zip!{part}: line {line}, column '{column}': multiple_fields_uniqueness "
        f"(value '{value}')\n"
        for part, line in [("part1.txt", 11), ("part2.txt", 14)]
        for column, value in [("column1", "00107"), ("column2", "G0283")]
    ]
    assert capsys.readouterr().err == "error: refused: q1.zip: 4 validation failure(s)\n" + "".join(
        lines
    )
    assert not (wh / "published" / "acme_edits").exists()
    assert [a["outcome"] for a in attempts(wh)] == ["rejected"]


def test_findings_published_with_hcpcs_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Northwind's April 2018 list against HCPCS 2017 and 2018 (the excerpts in cases/hcpcs)."""
    wh = tmp_path / "wh"
    hcpcs = Path(__file__).parent / "cases" / "hcpcs"
    for version, name in [("2017", "excerpt_2017_ANWEB.txt"), ("2018", "excerpt_2018_ANWEB.txt")]:
        assert (
            refresh("hcpcs", str(hcpcs / name), "--version", version, "--warehouse", str(wh)) == 0
        )
    rows = [
        ("A5513", "Foot insert, custom", "Y", "Orthotics"),  # active in 2018: no finding
        ("G0202", "Screening mammography, digital", "Y", "Radiology"),  # retired 2018-01-01
        ("A9999", "Miscellaneous supply", "N", "Supplies"),  # in no HCPCS version
        ("99213", "Office visit", "N", "Evaluation"),  # CPT-shaped: no CPT code set declared
    ]
    sheet = write_csv(tmp_path / "northwind_2018q2.csv", rows)
    assert refresh("northwind_pa", str(sheet), "--version", "2018Q2", "--warehouse", str(wh),
                   "--sources", str(NORTHWIND)) == 0  # fmt: skip
    capsys.readouterr()
    published = wh / "published" / "northwind_pa" / "2018Q2"
    findings = pd.read_csv(published / "findings.csv", dtype=str, keep_default_na=False)
    assert list(findings.columns) == [
        "codeset", "version", "key", "column", "code", "finding", "code_set",
        "code_set_version", "retired_on", "successors", "reason",
    ]  # fmt: skip
    assert findings.to_records(index=False).tolist() == [
        ("northwind_pa", "2018Q2", "99213", "code", "99213", "unchecked", "", "", "", "",
         "its shape is none of its code sets (hcpcs)"),
        ("northwind_pa", "2018Q2", "A9999", "code", "A9999", "unknown", "hcpcs", "2018", "", "",
         ""),
        ("northwind_pa", "2018Q2", "G0202", "code", "G0202", "retired", "hcpcs", "2018",
         "2018-01-01", "77067", ""),
    ]  # fmt: skip
    manifest = json.loads((published / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["code_set_versions"] == {"hcpcs": "2018"}
    assert manifest["row_counts"]["findings"] == 3
    report = (published / "report.md").read_text(encoding="utf-8")
    findings_section = report[report.index("## Findings") :].splitlines()
    assert findings_section == [
        "## Findings",
        "",
        "2 rows point at retired or unknown codes.",
        "",
        "| code | finding | code set | code set version | retired on | successors | rows | keys |",
        "|---|---|---|---|---|---|---:|---|",
        "| A9999 | unknown | hcpcs | 2018 |  |  | 1 | A9999 |",
        "| G0202 | retired | hcpcs | 2018 | 2018-01-01 | 77067 | 1 | G0202 |",
        "",
        "### Unchecked",
        "",
        "| reason | codes | rows |",
        "|---|---:|---:|",
        "| its shape is none of its code sets (hcpcs) | 1 | 1 |",
        "",
    ]


def test_the_demo_example_refreshes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`make demo`'s payer files (config/examples/northwind) load as written."""
    example = Path(__file__).parents[1] / "config" / "examples" / "northwind"
    common = ["--warehouse", str(tmp_path / "wh"), "--sources", str(example / "northwind_pa.toml")]
    for quarter in ("2026Q1", "2026Q2"):
        csv_file = example / f"northwind_pa_{quarter}.csv"
        assert refresh("northwind_pa", str(csv_file), "--version", quarter, *common) == 0
    out = capsys.readouterr().out
    assert out.endswith(
        "changes since 2026Q1: added 1, retired 0, reactivated 0, descriptor_revised 1, "
        "descriptor_editorial 0, attribute_changed 1\n"
    )

"""HCPCS end to end on the committed excerpts of real CMS records (no shared data needed)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from codecatalog import warehouse
from codecatalog.diff.changes import changes_between
from codecatalog.errors import Failure, ValidationFailed, VersionError
from codecatalog.pipeline import refresh
from codecatalog.sources import source

CASES = Path(__file__).parent / "cases" / "hcpcs"


@pytest.fixture
def excerpts(tmp_path: Path) -> Path:
    """A warehouse with the 2016 (reconstructed), 2017 and 2018 excerpts loaded."""
    wh = tmp_path / "wh"
    for version, name in [
        ("2016", "reconstructed_2016_ANWEB.txt"),
        ("2017", "excerpt_2017_ANWEB.txt"),
        ("2018", "excerpt_2018_ANWEB.txt"),
    ]:
        refresh("hcpcs", str(CASES / name), version, warehouse_dir=wh)
    return wh


def table(frame: pd.DataFrame) -> list[tuple]:
    frame = frame.astype(object).where(frame.notna(), "")
    return [tuple(str(v) for v in row) for row in frame.itertuples(index=False)]


def step(wh: Path, old: str, new: str) -> tuple[pd.DataFrame, list[tuple]]:
    """The changes old → new and the reconciliation stored for that step."""
    con = warehouse.open_reader(wh)
    try:
        found = con.execute(
            "SELECT key, computed, source_action, problem FROM reconciliations "
            "WHERE from_version = ? AND to_version = ? ORDER BY key",
            [old, new],
        ).fetchall()
        return changes_between(con, source("hcpcs"), old, new), found
    finally:
        con.close()


def test_real_reactivation(excerpts: Path) -> None:
    changes, found = step(excerpts, "2016", "2017")
    assert table(changes[["key", "change_type", "field", "old_value", "new_value",
                          "effective_date", "source_action"]]) == [
        ("J7342", "added", "", "", "", "2017-01-01", "A"),
        ("S3854", "attribute_changed", "term_dt", "20151231", "", "2017-01-01", "R"),
        ("S3854", "reactivated", "", "", "", "2017-01-01", "R"),
    ]  # fmt: skip
    assert found == [("G0202", "", "C", "C but no change computed")]


def test_2017_to_2018_changes_and_reconciliation(excerpts: Path) -> None:
    changes, found = step(excerpts, "2017", "2018")
    short = changes[changes.change_type != "descriptor_revised"]
    assert table(short[["key", "change_type", "field", "old_value", "new_value",
                        "effective_date", "source_action"]]) == [
        ("C9014", "added", "", "", "", "2018-01-01", "A"),
        ("FY", "added", "", "", "", "2018-01-01", "A"),
        ("G0202", "attribute_changed", "term_dt", "", "20171231", "2018-01-01", "D"),
        ("G0202", "attribute_changed", "xref1", "", "77067", "2018-01-01", "D"),
        # A retired row carries its successors (XREF1..5); in force the day after TERM DT.
        ("G0202", "retired", "", "", "77067", "2018-01-01", "D"),
    ]  # fmt: skip
    revised = changes[changes.change_type == "descriptor_revised"]
    assert revised[["key", "field", "source_action"]].values.tolist() == [
        ["G0259", "long_descriptor", "N"],
        ["J7342", "long_descriptor", "N"],
    ]
    assert (
        "arthrograpy" in revised.old_value.iloc[0] and "arthrography" in revised.new_value.iloc[0]
    )
    assert found == [
        ("G0259", "long_descriptor", "N", "N but changed: long_descriptor"),
        ("J7342", "long_descriptor", "N", "N but changed: long_descriptor"),
    ]


def test_diff_across_a_skipped_release_has_no_reconciliation(excerpts: Path) -> None:
    report = (excerpts / "published/hcpcs/2018/report.md").read_text()
    assert "| J7342 | long_descriptor | N | N but changed: long_descriptor |" in report
    changes, found = step(excerpts, "2016", "2018")
    assert found == []  # 2016 → 2018 skips a release: no reconciliation is stored
    assert set(changes.key[changes.change_type == "reactivated"]) == {"S3854"}
    assert set(changes.key[changes.change_type == "added"]) == {"C9014", "FY", "J7342"}


@pytest.mark.parametrize(
    ("edit", "failure"),
    [
        # (line in excerpt_2017, position, new bytes) -> (line, column, check, value)
        ((10, 292, b"X"), (10, "action_cd", "isin", "X")),
        ((10, 284, b"20171331"), (10, "term_dt", "yyyymmdd", "20171331")),
        ((10, 268, b"2017011A"), (10, "add_dt", "yyyymmdd", "2017011A")),
        ((10, 0, b"A5513"), (4, "hcpc", "field_uniqueness", "A5513")),
        ((10, 320, b"X"), (10, "record_length", "less_than_or_equal_to", "321")),
    ],
)
def test_bad_records_are_refused_and_nothing_is_loaded(
    tmp_path: Path, edit: tuple, failure: tuple
) -> None:
    line_no, position, new = edit
    lines = (CASES / "excerpt_2017_ANWEB.txt").read_bytes().split(b"\r\n")
    line = lines[line_no - 1].ljust(320)
    lines[line_no - 1] = line[:position] + new + line[position + len(new) :]
    bad = tmp_path / "HCPC17_BAD_ANWEB.txt"
    bad.write_bytes(b"\r\n".join(lines))
    wh = tmp_path / "wh"
    with pytest.raises(ValidationFailed) as err:
        refresh("hcpcs", str(bad), "2017", warehouse_dir=wh)
    got = [(f.line, f.column, f.check.split("(")[0], f.value) for f in err.value.failures]
    assert failure in got
    assert all(f.file == "HCPC17_BAD_ANWEB.txt" for f in err.value.failures)
    con = warehouse.open_reader(wh)
    assert con.execute("SELECT count(*) FROM releases").fetchone() == (0,)
    assert con.execute("SELECT outcome FROM load_attempts").fetchall() == [("rejected",)]
    con.close()
    assert not (wh / "published").exists()


def test_version_contradicting_the_file_name_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "HCPC2018_CONTR_ANWEB_disc.txt"
    bad.write_bytes((CASES / "excerpt_2018_ANWEB.txt").read_bytes())
    with pytest.raises(
        VersionError, match=r"version 2017 contradicts HCPC2018_CONTR_ANWEB_disc\.txt"
    ):
        refresh("hcpcs", str(bad), "2017", warehouse_dir=tmp_path / "wh")


def test_a_renamed_file_is_recognised_by_its_content(tmp_path: Path) -> None:
    renamed = tmp_path / "hcpcs.dat"
    renamed.write_bytes((CASES / "excerpt_2018_ANWEB.txt").read_bytes())
    wh = tmp_path / "wh"
    assert refresh("hcpcs", str(renamed), "2018", warehouse_dir=wh).outcome == "loaded"
    con = warehouse.open_reader(wh)
    try:
        codes = con.execute("SELECT code FROM hcpcs_catalog ORDER BY code").fetchall()
        files = json.loads(con.execute("SELECT files FROM releases").fetchone()[0])
    finally:
        con.close()
    assert [c for (c,) in codes] == sorted(
        ["A1", "AD", "FY", "A5513", "C9014", "G0202", "G0259", "J7342", "S3854"]
    )
    assert [(f["role"], f["member"]) for f in files] == [("records", "hcpcs.dat")]


def _report(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A transaction report workbook in the July 2020 layout (FORMATS.md §2.7)."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, content in [
        ("Changes by Action Code", [("HCPC", "ACTION CD")]),
        ("Changes by HCPC", [("HCPC", "ACTION CD"), *rows]),
        ("Action Code Key", [("Action Codes", None), ("A", "ADD")]),
    ]:
        sheet = book.create_sheet(name)
        for row in content:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    path.write_bytes(out.getvalue())
    return path


def test_another_releases_report_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    main = tmp_path / "HCPC2018_CONTR_ANWEB_disc.txt"
    main.write_bytes((CASES / "excerpt_2018_ANWEB.txt").read_bytes())
    # The 2017 excerpt's actions (rows 2-8), given as the 2018 release's report.
    report = _report(
        tmp_path / "trans.xlsx",
        [("A1", "No Change"), ("AD", "No Change"), ("A5513", "No Change"),
         ("G0202", "Long Description Change"), ("G0259", "No Change"), ("J7342", "ADD"),
         ("S3854", "Re-activated")],
    )  # fmt: skip
    wh = tmp_path / "wh"
    with pytest.raises(ValidationFailed) as err:
        refresh("hcpcs", str(main), "2018", warehouse_dir=wh, transactions=str(report))
    assert err.value.failures == [
        Failure(
            "trans.xlsx",
            None,
            "",
            "transaction report does not belong to this release: 5 of 9 keys (55.6 %) missing "
            "or with another action; A keys among them: 2 (FY, C9014)",
            "5/9",
        ),
        Failure("trans.xlsx", None, "hcpc", "not in the transaction report (ACTION CD A)", "C9014"),
        Failure("trans.xlsx", None, "hcpc", "not in the transaction report (ACTION CD A)", "FY"),
        Failure(
            "trans.xlsx", 5, "action", "G0202 has ACTION CD D in the records",
            "Long Description Change",
        ),
        Failure("trans.xlsx", 7, "action", "J7342 has ACTION CD N in the records", "ADD"),
        Failure("trans.xlsx", 8, "action", "S3854 has ACTION CD N in the records", "Re-activated"),
    ]  # fmt: skip
    con = warehouse.open_reader(wh)
    try:
        assert con.execute("SELECT count(*) FROM releases").fetchone() == (0,)
        assert con.execute("SELECT outcome FROM load_attempts").fetchall() == [("rejected",)]
    finally:
        con.close()
    assert not (wh / "published").exists()


def test_a_report_not_understood_leaves_a_warning_and_skips_the_cross_check(
    tmp_path: Path,
) -> None:
    wh = tmp_path / "wh"
    refresh("hcpcs", str(CASES / "excerpt_2017_ANWEB.txt"), "2017", warehouse_dir=wh)
    main = tmp_path / "HCPC2018_CONTR_ANWEB_disc.txt"
    main.write_bytes((CASES / "excerpt_2018_ANWEB.txt").read_bytes())
    report = _report(tmp_path / "report.xlsx", [("A1", "No Change"), ("AD", "Teleported")])
    result = refresh("hcpcs", str(main), "2018", warehouse_dir=wh, transactions=str(report))
    warning = Failure(
        "report.xlsx",
        3,
        "",
        "transaction report not used: cross-check skipped",
        "sheet 'Changes by HCPC': unknown type of change 'Teleported' for 'AD'",
    )
    assert (result.outcome, result.warnings) == ("loaded", [warning])
    con = warehouse.open_reader(wh)
    try:
        [(recorded,)] = con.execute(
            "SELECT warnings FROM load_attempts WHERE version = '2018'"
        ).fetchall()
    finally:
        con.close()
    assert json.loads(recorded) == [warning.__dict__]
    _, found = step(wh, "2017", "2018")
    assert found == [
        ("", "", "", "transaction report report.xlsx not used: cross-check skipped"),
        ("G0259", "long_descriptor", "N", "N but changed: long_descriptor"),
        ("J7342", "long_descriptor", "N", "N but changed: long_descriptor"),
    ]
    text = (wh / "published/hcpcs/2018/report.md").read_text()
    assert "|  |  |  | transaction report report.xlsx not used: cross-check skipped |" in text
    assert f"- {warning}" in text

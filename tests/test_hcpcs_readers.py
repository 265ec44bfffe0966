"""HCPCS Level II readers and release validation (FORMATS.md §2): committed excerpts, synthetic
workbooks and bad input. The real CMS files are tested in test_hcpcs_realdata.py.

Expected numbers come from FORMATS.md (counted outside this code), not from the readers.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from codecatalog.errors import Failure, ReleaseFormatError, SourceLayoutError
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.decode import decode_text
from codecatalog.read.hcpcs import (
    action_for_label,
    compare_txt_xlsx,
    find_hcpcs_members,
    find_transaction_report,
    read_hcpcs_fixed_width,
    read_hcpcs_transactions,
    read_hcpcs_xlsx,
    sniff_hcpcs_file,
)
from codecatalog.read.hcpcs_release import REPORT_NOT_USED, read_hcpcs_release
from codecatalog.read.release import Table
from codecatalog.validate_release import foreign_report_failures, validate_hcpcs_release

CASES = Path(__file__).parent / "cases" / "hcpcs"

VALUE_COLUMNS = [
    "hcpc", "is_modifier", "seqnum", "recid", "long_description", "short_description",
    "price1", "price2", "price3", "price4", "mult_pi", "cim1", "cim2", "cim3",
    "mcm1", "mcm2", "mcm3", "statute",
    "labcert1", "labcert2", "labcert3", "labcert4", "labcert5", "labcert6", "labcert7", "labcert8",
    "xref1", "xref2", "xref3", "xref4", "xref5", "cov", "asc_grp", "asc_dt",
    "opps", "opps_pi", "opps_dt", "procnote", "betos", "tos1", "tos2", "tos3", "tos4", "tos5",
    "anest_bu", "add_dt", "act_eff_dt", "term_dt", "action_cd",
]  # fmt: skip
XLSX_HEADERS = [
    "HCPC", "SEQNUM", "RECID", "LONG DESCRIPTION", "SHORT DESCRIPTION",
    "PRICE1", "PRICE2", "PRICE3", "PRICE4", "MULT_PI", "CIM1", "CIM2", "CIM3",
    "MCM1", "MCM2", "MCM3", "STATUTE", *(f"LABCERT{i}" for i in range(1, 9)),
    *(f"XREF{i}" for i in range(1, 6)), "COV", "ASC_GRP", "ASC_DT", "OPPS", "OPPS_PI", "OPPS_DT",
    "PROCNOTE", "BETOS", *(f"TOS{i}" for i in range(1, 6)), "ANEST_BU", "ADD DT", "ACT EFF DT",
    "TERM DT", "ACTION CD",
]  # fmt: skip
NOT_COMPARED = ["line", "seqnum", "continuations"]
TXT_EXTRA = ["record_length", "record_length_line"]  # the .txt reader's record-length bookkeeping


def _row(**values: Any) -> dict[str, Any]:
    """A whole expected row: every value column blank unless given; a `.txt` row's longest record
    is its first line (320 bytes) unless given."""
    txt = {"record_length": 320, "record_length_line": values.get("line")}
    return {**dict.fromkeys(VALUE_COLUMNS, ""), **txt, **values}


def _xlsx_row(**values: Any) -> dict[str, Any]:
    """A whole expected `.xlsx` row (no record lengths)."""
    return {k: v for k, v in _row(**values).items() if k not in TXT_EXTRA}


def _excerpt_text(year: int) -> str:
    return decode_text((CASES / f"excerpt_{year}_ANWEB.txt").read_bytes(), "x").text


def _excerpt(year: int) -> Table:
    return read_hcpcs_fixed_width(_excerpt_text(year), f"excerpt_{year}_ANWEB.txt")


def _key(table: Table, code: str) -> dict[str, Any]:
    [row] = table.frame[table.frame["hcpc"] == code].to_dict("records")
    return row


def _workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _collapsed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=NOT_COMPARED).reset_index(drop=True)
    frame["long_description"] = frame["long_description"].str.split().str.join(" ")
    return frame


# --- committed excerpts -----------------------------------------------------------------------


def test_excerpt_2017_frame_shape_and_keys() -> None:
    table = _excerpt(2017)
    frame = table.frame
    assert list(frame.columns) == [*VALUE_COLUMNS, "line", "continuations", *TXT_EXTRA]
    assert all(frame[c].dtype == object or str(frame[c].dtype) == "str" for c in VALUE_COLUMNS)
    assert all(isinstance(v, str) for c in VALUE_COLUMNS for v in frame[c])
    assert not frame.isna().any().any()
    assert table.skipped is None
    columns = ["hcpc", "line", "continuations", "action_cd", "record_length", "record_length_line"]
    assert frame[columns].values.tolist() == [
        ["A1", 1, 0, "N", 320, 1],
        ["AD", 2, 1, "N", 320, 2],
        ["A5513", 4, 3, "N", 320, 4],
        ["G0202", 8, 1, "C", 320, 8],
        ["G0259", 10, 0, "N", 320, 10],
        ["J7342", 11, 0, "A", 320, 11],
        ["S3854", 12, 1, "R", 320, 12],
    ]
    # The 2017 continuation lines are 91 bytes (FORMATS §2.5), not an error.
    lines = _excerpt_text(2017).split("\n")
    assert len(lines[2].rstrip("\r")) == 91


def test_excerpt_2017_reactivated_key_whole_row() -> None:
    assert _key(_excerpt(2017), "S3854") == _row(
        hcpc="S3854",
        is_modifier="N",
        seqnum="00100",
        recid="3",
        long_description=(
            "Gene expression profiling panel for use in the management of breast cancer treatment"
        ),
        short_description="Gene profile panel breast",
        price1="00",
        mult_pi="9",
        cov="I",
        betos="Z2",
        tos1="9",
        anest_bu="0",
        add_dt="20060101",
        act_eff_dt="20160701",
        action_cd="R",
        line=12,
        continuations=1,
    )


def test_excerpt_2017_modifier_with_continuation_whole_row() -> None:
    assert _key(_excerpt(2017), "AD") == _row(
        hcpc="AD",
        is_modifier="Y",
        seqnum="00100",
        recid="7",
        long_description=(
            "Medical supervision by a physician: more than four concurrent anesthesia procedures"
        ),
        short_description="Md supervision, >4 anes proc",
        mcm1="3350.5",
        cov="D",
        add_dt="19840101",
        act_eff_dt="20010101",
        action_cd="N",
        line=2,
        continuations=1,
    )


def test_excerpt_2018_preamble_and_discontinued_key_whole_row() -> None:
    table = _excerpt(2018)
    assert table.skipped is not None
    assert table.skipped.lines == 11
    assert table.skipped.text.startswith("***Disclaimers")
    assert _key(table, "G0202") == _row(
        hcpc="G0202",
        is_modifier="N",
        seqnum="00100",
        recid="3",
        long_description=(
            "Screening mammography, bilateral (2-view study of each breast), including "
            "computer-aided detection (cad) when performed"
        ),
        short_description="Scr mammo bi incl cad",
        price1="13",
        mult_pi="A",
        xref1="77067",
        cov="C",
        betos="I1C",
        tos1="1",
        anest_bu="0",
        add_dt="20010401",
        act_eff_dt="20180101",
        term_dt="20171231",
        action_cd="D",
        line=21,
        continuations=1,
    )


def test_excerpt_2018_additions_and_unflagged_description_changes() -> None:
    old, new = _excerpt(2017).frame.set_index("hcpc"), _excerpt(2018).frame.set_index("hcpc")
    assert sorted(set(new.index) - set(old.index)) == ["C9014", "FY"]
    assert new.loc[["C9014", "FY"], "action_cd"].tolist() == ["A", "A"]
    assert new.loc[["C9014", "FY"], "is_modifier"].tolist() == ["N", "Y"]
    assert new.loc["A5513", "continuations"] == 3
    # FORMATS §2.10: long descriptions corrected in 2018 under ACTION CD N.
    assert old.loc["G0259", "long_description"].endswith("arthrograpy")
    assert new.loc["G0259", "long_description"].endswith("arthrography")
    assert old.loc["J7342", "long_description"].startswith("Installation,")
    assert new.loc["J7342", "long_description"].startswith("Instillation,")
    assert new.loc[["G0259", "J7342"], "action_cd"].tolist() == ["N", "N"]


def test_excerpt_trailing_blank_lines_and_lf_are_accepted() -> None:
    text = _excerpt_text(2017).replace("\r\n", "\n") + "\n\n   \n"
    assert read_hcpcs_fixed_width(text, "x.txt").frame["hcpc"].tolist() == (
        _excerpt(2017).frame["hcpc"].tolist()
    )


# --- bad input --------------------------------------------------------------------------------


def _edit_line(year: int, number: int, change) -> str:
    lines = _excerpt_text(year).split("\r\n")
    lines[number - 1] = change(lines[number - 1])
    return "\r\n".join(lines)


def test_first_line_record_too_short_is_an_error() -> None:
    text = _edit_line(2017, 10, lambda line: line[:200])  # G0259
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_fixed_width(text, "bad.txt")
    assert (err.value.file, err.value.line) == ("bad.txt", 10)
    assert "200" in err.value.problem and "G0259" in err.value.problem


def test_unknown_recid_is_an_error() -> None:
    text = _edit_line(2017, 11, lambda line: line[:10] + "5" + line[11:])  # J7342
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_fixed_width(text, "bad.txt")
    assert (err.value.file, err.value.line) == ("bad.txt", 11)
    assert "'5'" in err.value.problem


def test_line_of_wrong_shape_inside_the_records_is_an_error() -> None:
    text = _edit_line(2018, 20, lambda line: "garbage " + line)
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_fixed_width(text, "bad.txt")
    assert err.value.line == 20
    assert "garbage" in err.value.problem


def test_continuation_without_its_first_line_is_an_error() -> None:
    lines = _excerpt_text(2017).split("\r\n")
    del lines[11]  # S3854's first line; its continuation now follows J7342
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_fixed_width("\r\n".join(lines), "bad.txt")
    assert err.value.line == 12
    assert err.value.problem == "continuation record for 'S3854' has no first-line record"


def test_continuation_before_any_first_line_is_an_error() -> None:
    lines = _excerpt_text(2017).split("\r\n")
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_fixed_width("\r\n".join(lines[2:]), "bad.txt")  # starts with AD's RECID 8
    assert err.value.line == 1
    assert "'AD'" in err.value.problem


def test_text_without_records_is_an_error() -> None:
    with pytest.raises(ReleaseFormatError, match="no HCPCS record"):
        read_hcpcs_fixed_width("***Disclaimers\r\n\r\n", "bad.txt")


def test_xlsx_without_a_header_row_is_an_error() -> None:
    data = _workbook({"A": [["CODE", "SEQNUM"], ["A0021", "0010"]]})
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_xlsx(data, "bad.xlsx")
    assert (err.value.file, err.value.line, err.value.problem) == (
        "bad.xlsx",
        None,
        "no header row naming the HCPCS columns (HCPC, SEQNUM, RECID, …)",
    )


def test_xlsx_with_a_missing_column_names_it() -> None:
    data = _workbook({"A": [[h for h in XLSX_HEADERS if h != "TERM DT"]]})
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_xlsx(data, "bad.xlsx")
    assert str(err.value) == "bad.xlsx: line 1: column 'TERM DT' missing from the header row"


def test_xlsx_with_missing_columns_names_all_of_them() -> None:
    gone = {"HCPC", "SEQNUM", "LABCERT3", "ACTION CD"}
    data = _workbook({"A": [["***Disclaimers"], [h for h in XLSX_HEADERS if h not in gone]]})
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_xlsx(data, "bad.xlsx")
    assert str(err.value) == (
        "bad.xlsx: line 2: columns 'HCPC', 'SEQNUM', 'LABCERT3', 'ACTION CD' missing from the "
        "header row"
    )


def test_unknown_transaction_label_is_an_error() -> None:
    data = _workbook(
        {
            "Changes by HCPCS Code": [
                ["HCPCS/Modifier Code", "Type of Change"],
                ["A0021", "No Change"],
                ["A0080", "Teleported"],
                ["A0090", "Teleported"],
                ["A0100", "Beamed up"],
            ]
        }
    )
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_transactions(data, "trans.xlsx")
    assert str(err.value) == (
        "trans.xlsx: line 3: sheet 'Changes by HCPCS Code': unknown type of change 'Teleported' "
        "for 'A0080' (and 2 more row(s); also 'Beamed up')"
    )


# --- synthetic workbooks ----------------------------------------------------------------------


def _anweb_row(**cells: Any) -> list[Any]:
    return [cells.get(h) for h in XLSX_HEADERS]


def test_xlsx_reads_by_header_text_with_numbers_modifiers_and_continuations() -> None:
    order = ["HCPC", *reversed(XLSX_HEADERS[1:])]  # positions must not matter

    def row(**cells: Any) -> list[Any]:
        return [cells.get(h) for h in order]

    data = _workbook(
        {
            "Whatever": [
                ["***Disclaimers"],
                [],
                order,
                row(**{"HCPC": "   A1", "SEQNUM": "0010", "RECID": "7", "ACTION CD": "N"}),
                row(**{"HCPC": "J5", "RECID": 7, "ADD DT": 20201001, "ACT EFF DT": 20201001.0}),
                row(**{"HCPC": "G0503", "RECID": "3", "LONG DESCRIPTION": "Subsequent care"}),
                row(**{"HCPC": "G0503", "RECID": "4", "LONG DESCRIPTION": "and more\u00a0"}),
                [],
                row(**{"HCPC": "A0021", "RECID": 3.0, "ANEST_BU": "  0", "ACTION CD": "A"}),
            ],
            "Second": [["HCPC"], ["ignored"]],
        }
    )
    table = read_hcpcs_xlsx(data, "x.xlsx")
    frame = table.frame
    assert table.skipped is not None and table.skipped.lines == 2
    assert frame[["hcpc", "is_modifier", "recid", "line", "continuations"]].values.tolist() == [
        ["A1", "Y", "7", 4, 0],
        ["J5", "Y", "7", 5, 0],
        ["G0503", "N", "3", 6, 1],
        ["A0021", "N", "3", 9, 0],
    ]
    assert _key(table, "J5") == _xlsx_row(
        hcpc="J5",
        is_modifier="Y",
        recid="7",
        add_dt="20201001",
        act_eff_dt="20201001",
        line=5,
        continuations=0,
    )
    assert _key(table, "G0503")["long_description"] == "Subsequent care and more"
    assert _key(table, "A0021")["anest_bu"] == "0"


def test_xlsx_continuation_of_another_key_is_an_error() -> None:
    data = _workbook(
        {
            "A": [
                XLSX_HEADERS,
                _anweb_row(**{"HCPC": "A0021", "RECID": "3"}),
                _anweb_row(**{"HCPC": "G0503", "RECID": "4", "LONG DESCRIPTION": "x"}),
            ]
        }
    )
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_xlsx(data, "x.xlsx")
    assert err.value.line == 3
    assert "'G0503' has no first-line record" in err.value.problem


def test_transactions_map_labels_keep_duplicates_and_use_the_key_sheet() -> None:
    data = _workbook(
        {
            "Changes by Action Code": [["HCPC", "ACTION CD"], ["CS", "ADD"]],
            "Changes by HCPC": [
                ["Note regarding coverage"],
                [],
                ["HCPC", "ACTION CD", "SHORT DESCRIPTION"],
                ["   CS", "No change", "x"],
                ["CS", "Long/Short Description Change", "x"],
                [None, None, None],
                ["A0021", "Coverage & Long Desc Change", "x"],
                ["A0080", "Misc Change (TOS, BETOS)", "x"],
                ["A0090", "ADD", "x"],
                ["A0100", "Brand New Wording", "x"],
                ["A0110", "R", "x"],
            ],
            "Action Code Key": [["Action Codes", None], ["F", "Brand New Wording"]],
        }
    )
    table = read_hcpcs_transactions(data, "t.xlsx")
    assert table.frame.to_dict("records") == [
        {"hcpc": "CS", "label": "No change", "action": "N", "line": 4},
        {"hcpc": "CS", "label": "Long/Short Description Change", "action": "C", "line": 5},
        {"hcpc": "A0021", "label": "Coverage & Long Desc Change", "action": "B", "line": 7},
        {"hcpc": "A0080", "label": "Misc Change (TOS, BETOS)", "action": "T", "line": 8},
        {"hcpc": "A0090", "label": "ADD", "action": "A", "line": 9},
        {"hcpc": "A0100", "label": "Brand New Wording", "action": "F", "line": 10},
        {"hcpc": "A0110", "label": "R", "action": "R", "line": 11},
    ]
    assert table.skipped is not None and table.skipped.lines == 2


def test_transactions_without_a_recognised_header_is_an_error() -> None:
    data = _workbook(
        {
            "Changes by Action Code": [["Code", "Description"], ["A0021", "x"]],
            "Action Code Key": [["A", "Add"]],
        }
    )
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_transactions(data, "t.xlsx")
    assert str(err.value) == (
        "t.xlsx: no sheet with a header row naming the code (HCPCS/Modifier Code, HCPC/MOD, "
        "HCPC, …) and the type of change (Type of Change, ACTION CD, …) (sheets: Changes by "
        "Action Code, Action Code Key)"
    )


def test_transactions_with_a_header_but_no_rows_is_an_error() -> None:
    data = _workbook({"Changes by HCPC": [["Note"], ["HCPC", "ACTION CD"]]})
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_transactions(data, "t.xlsx")
    assert str(err.value) == "t.xlsx: line 2: sheet 'Changes by HCPC': no rows under the header"


@pytest.mark.parametrize(
    ("code_header", "change_header"),
    [
        ("HCPCS/Modifier Code", "Type of Change"),  # 2017, 2018
        ("HCPC/MOD", "ACTION CD"),  # April 2020
        ("HCPC", "ACTION CD"),  # July, October 2020
        ("HCPCS Code", "Action Code"),
        ("  hcpcs  ", "Change Type"),
        ("HCPCS / Mod", "Action"),
    ],
)
def test_transaction_headers_are_recognised_by_pattern(
    code_header: str, change_header: str
) -> None:
    data = _workbook(
        {
            "Changes by HCPCS": [
                ["Note regarding coverage"],
                ["SHORT DESCRIPTION", change_header, "LONG DESCRIPTION", code_header],
                ["x", "No Change", "y", "   A1"],
                ["x", "ADD", "y", "J5"],
            ]
        }
    )
    table = read_hcpcs_transactions(data, "t.xlsx")
    assert table.frame.to_dict("records") == [
        {"hcpc": "A1", "label": "No Change", "action": "N", "line": 3},
        {"hcpc": "J5", "label": "ADD", "action": "A", "line": 4},
    ]


def test_type_of_change_wordings_map_to_action_codes() -> None:
    wordings = {
        # the record layout (FORMATS.md §2.4)
        "Add procedure or modifier code": "A",
        "Change in both administrative data field and long description of procedure or "
        "modifier code": "B",
        "Change in long description of procedure or modifier code": "C",
        "Discontinue procedure or modifier code": "D",
        "Change in administrative data field of procedure or modifier code": "F",
        "No maintenance for this code": "N",
        "Payment change (MOG, pricing indicator codes, anesthesia base units,Ambulatory "
        "Surgical Centers)": "P",
        "Re-activate discontinued/deleted procedure or modifier code": "R",
        "Change in short description of procedure code": "S",
        "Miscellaneous change (BETOS, type of service)": "T",
        # the transaction reports of 2017-2020 (§2.7)
        "ADD": "A",
        "Coverage & Long Desc Change": "B",
        "Long/Short Description Change": "C",
        "Discontinued": "D",
        "Coverage Change": "F",
        "No change": "N",
        "Payment Change": "P",
        "Re-activated": "R",
        "Short Description Change": "S",
        "Misc Change (TOS, BETOS)": "T",
        # wordings not seen yet
        "Added": "A",
        "  added  code ": "A",
        "Deleted": "D",
        "Terminated": "D",
        "Reactivated": "R",
        "No Changes": "N",
        "Pricing change": "P",
        "LONG DESC CHANGE": "C",
        "C": "C",
        "Teleported": None,
        "": None,
        "c": None,
    }
    assert {w: action_for_label(w) for w in wordings} == wordings


# --- members and cross-check ------------------------------------------------------------------


def _release_dir(tmp_path: Path, names: list[str]) -> ReleaseArchive:
    for name in names:
        (tmp_path / name).write_bytes(b"")
    return ReleaseArchive.open(tmp_path)


def test_members_of_the_2018_layout(tmp_path: Path) -> None:
    archive = _release_dir(
        tmp_path,
        [
            "HCPC18_Trans_Report_Alpha.xlsx",
            "HCPC18_Trans_Report_Alpha_ChangesbyHCPC.prn",
            "HCPC2018_CONTR_ANWEB_disc.txt",
            "HCPC2018_CONTR_ANWEB_disc.xlsx",
            "HCPC2018_README.txt",
            "proc_notes_2018.txt",
        ],
    )
    assert find_hcpcs_members(archive) == {
        "txt": "HCPC2018_CONTR_ANWEB_disc.txt",
        "xlsx": "HCPC2018_CONTR_ANWEB_disc.xlsx",
        "transactions": "HCPC18_Trans_Report_Alpha.xlsx",
    }


def test_members_of_the_2026_layout(tmp_path: Path) -> None:
    archive = _release_dir(
        tmp_path,
        [
            "HCPC2026_JAN_ANWEB_01122026.txt",
            "HCPC2026_JAN_ANWEB_01122026.xlsx",
            "HCPC2026_JAN_ANWEB_Transaction Report_12292025.xlsx",
            "HCPC2026_JAN_ANWEB_Corrections_01122026.xlsx",
            "HCPC2026_recordlayout.txt",
            "NOC codes_JAN2026.xlsx",
            "proc_notes_JAN2026.txt",
        ],
    )
    assert find_hcpcs_members(archive) == {
        "txt": "HCPC2026_JAN_ANWEB_01122026.txt",
        "xlsx": "HCPC2026_JAN_ANWEB_01122026.xlsx",
        "transactions": "HCPC2026_JAN_ANWEB_Transaction Report_12292025.xlsx",
    }


def test_two_candidates_or_no_main_file_are_layout_errors(tmp_path: Path) -> None:
    (tmp_path / "two").mkdir()
    two = _release_dir(tmp_path / "two", ["HCPC17_CONTR_ANWEB.txt", "HCPC17_CONTR_ANWEB_v2.txt"])
    with pytest.raises(SourceLayoutError, match="two candidates"):
        find_hcpcs_members(two)
    (tmp_path / "none").mkdir()
    report_only = _release_dir(tmp_path / "none", ["2020-04_trans_alpha.xlsx"])
    with pytest.raises(SourceLayoutError, match="no HCPCS ANWEB file"):
        find_hcpcs_members(report_only)
    assert find_hcpcs_members(report_only, main_required=False) == {
        "txt": None,
        "xlsx": None,
        "transactions": "2020-04_trans_alpha.xlsx",
    }


def test_compare_reports_keys_and_values_but_not_whitespace() -> None:
    txt = _excerpt(2017).frame
    xlsx = txt.copy()
    xlsx["seqnum"] = "0010"
    xlsx["line"] += 100
    xlsx.loc[xlsx["hcpc"] == "A5513", "long_description"] = xlsx.loc[
        xlsx["hcpc"] == "A5513", "long_description"
    ].str.replace(" ", "  ")
    assert compare_txt_xlsx(txt, xlsx, "x.xlsx") == []
    xlsx.loc[xlsx["hcpc"] == "J7342", "cov"] = "M"
    xlsx = xlsx[xlsx["hcpc"] != "AD"]
    failures = compare_txt_xlsx(txt, xlsx, "x.xlsx")
    assert [(f.line, f.column, f.value) for f in failures] == [
        (None, "hcpc", "AD"),
        (111, "cov", "txt 'C' / xlsx 'M'"),
    ]


# --- record length (FORMATS.md §2.2: 320-byte records) -----------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("ascii"))
    return path


def test_excerpts_validate_cleanly_whatever_the_line_ends(tmp_path: Path) -> None:
    for year in (2017, 2018):
        text = _excerpt_text(year)
        for ending in ("\r\n", "\n", "\r"):
            path = _write(tmp_path / f"{year}.txt", text.replace("\r\n", ending))
            release = read_hcpcs_release(ReleaseArchive.open(path))
            assert validate_hcpcs_release(release) == ([], [])


def test_records_longer_than_320_fail_validation_naming_file_line_and_length(
    tmp_path: Path,
) -> None:
    lines = _excerpt_text(2017).split("\r\n")
    lines[2] = lines[2].ljust(330) + "Z"  # AD's 91-byte continuation record, now 331
    lines[9] += "X"  # G0259's first line: 321
    lines[10] += "    "  # J7342's first line: trailing spaces past 320 count too
    path = _write(tmp_path / "HCPC17_LONG_ANWEB.txt", "\r\n".join(lines))
    release = read_hcpcs_release(ReleaseArchive.open(path))
    check = "less_than_or_equal_to(320)"
    assert validate_hcpcs_release(release) == (
        [
            Failure("HCPC17_LONG_ANWEB.txt", 3, "record_length", check, "331"),
            Failure("HCPC17_LONG_ANWEB.txt", 10, "record_length", check, "321"),
            Failure("HCPC17_LONG_ANWEB.txt", 11, "record_length", check, "324"),
        ],
        [],
    )


# --- a single file is recognised by its content ------------------------------------------------


def _anweb_workbook() -> bytes:
    return _workbook(
        {
            "A": [
                ["***Disclaimers"],
                XLSX_HEADERS,
                _anweb_row(
                    **{
                        "HCPC": "   A1",
                        "RECID": "7",
                        "LONG DESCRIPTION": "Dressing",
                        "SHORT DESCRIPTION": "Dressing",
                        "ACTION CD": "N",
                    }
                ),
                _anweb_row(
                    **{
                        "HCPC": "A0021",
                        "RECID": "3",
                        "LONG DESCRIPTION": "Ambulance",
                        "SHORT DESCRIPTION": "Outside state ambulance serv",
                        "ACTION CD": "A",
                    }
                ),
            ]
        }
    )


def _report_workbook(rows: list[tuple[str, str]], sheet: str = "Changes by HCPC") -> bytes:
    return _workbook(
        {
            "Changes by Action Code": [["HCPC", "ACTION CD"]],
            sheet: [["HCPC", "ACTION CD"], *[list(r) for r in rows]],
            "Action Code Key": [["Action Codes", None], ["A", "ADD"], ["N", "No Change"]],
        }
    )


def test_sniffing_by_content() -> None:
    found = {
        "ANWEB txt": sniff_hcpcs_file((CASES / "excerpt_2018_ANWEB.txt").read_bytes()),
        "ANWEB xlsx": sniff_hcpcs_file(_anweb_workbook()),
        "report": sniff_hcpcs_file(_report_workbook([("A1", "No Change")])),
        "read-me": sniff_hcpcs_file(b"HCPCS 2018 README\r\n\r\nWith the exception of ...\r\n"),
        "other workbook": sniff_hcpcs_file(_workbook({"A": [["CODE", "DESCRIPTION"]]})),
        "zip, not a workbook": sniff_hcpcs_file(b"PK\x03\x04 not really a zip"),
        "empty": sniff_hcpcs_file(b""),
    }
    assert found == {
        "ANWEB txt": "txt",
        "ANWEB xlsx": "xlsx",
        "report": "transactions",
        "read-me": None,
        "other workbook": None,
        "zip, not a workbook": None,
        "empty": None,
    }


@pytest.mark.parametrize("name", ["hcpcs.dat", "foo.txt", "release.xlsx", "HCPC2018"])
def test_a_renamed_txt_is_read(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes((CASES / "excerpt_2018_ANWEB.txt").read_bytes())
    archive = ReleaseArchive.open(path)
    assert find_hcpcs_members(archive) == {"txt": name, "xlsx": None, "transactions": None}
    release = read_hcpcs_release(archive)
    assert (release.files["records"].member, release.files["records"].encoding) == (name, "utf-8")
    pd.testing.assert_frame_equal(release.tables["records"].frame, _excerpt(2018).frame)


@pytest.mark.parametrize("name", ["quarter.xlsx", "anweb.dat", "HCPC2020_ANWEB.txt"])
def test_a_renamed_xlsx_is_read(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(_anweb_workbook())
    archive = ReleaseArchive.open(path)
    assert find_hcpcs_members(archive) == {"txt": None, "xlsx": name, "transactions": None}
    release = read_hcpcs_release(archive)
    assert release.files["records"].encoding == "xlsx"
    assert release.tables["records"].frame[["hcpc", "action_cd", "line"]].values.tolist() == [
        ["A1", "N", 3],
        ["A0021", "A", 4],
    ]


def test_a_single_file_that_is_no_anweb_file_is_refused(tmp_path: Path) -> None:
    report = tmp_path / "HCPC2020_ANWEB.xlsx"
    report.write_bytes(_report_workbook([("A1", "No Change")]))
    with pytest.raises(SourceLayoutError) as err:
        find_hcpcs_members(ReleaseArchive.open(report))
    assert str(err.value) == (
        "HCPC2020_ANWEB.xlsx: is an HCPCS transaction report, not an ANWEB file (give it with "
        "--transactions)"
    )
    readme = tmp_path / "HCPC2018_CONTR_ANWEB.txt"
    readme.write_bytes(b"HCPCS 2018 README\r\n")
    with pytest.raises(SourceLayoutError) as err:
        find_hcpcs_members(ReleaseArchive.open(readme))
    assert str(err.value) == (
        "HCPC2018_CONTR_ANWEB.txt: is not an HCPCS ANWEB file: neither text with 320-byte records "
        "(a line matching '^.{5}\\d{5}[3478]') nor a workbook whose first sheet has the HCPCS "
        "header row (HCPC, SEQNUM, RECID, …)"
    )


def test_a_renamed_xlsx_with_missing_columns_names_them(tmp_path: Path) -> None:
    path = tmp_path / "hcpcs.bin"
    path.write_bytes(_workbook({"A": [[h for h in XLSX_HEADERS if h not in ("COV", "TOS5")]]}))
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_release(ReleaseArchive.open(path))
    assert str(err.value) == "hcpcs.bin: line 1: columns 'COV', 'TOS5' missing from the header row"


def test_in_a_directory_files_are_still_chosen_by_name(tmp_path: Path) -> None:
    (tmp_path / "foo.txt").write_bytes((CASES / "excerpt_2018_ANWEB.txt").read_bytes())
    (tmp_path / "report.xlsx").write_bytes(_report_workbook([("A1", "No Change")]))
    archive = ReleaseArchive.open(tmp_path)
    with pytest.raises(SourceLayoutError, match="no HCPCS ANWEB file"):
        find_hcpcs_members(archive)
    assert find_transaction_report(archive) is None


def test_a_transaction_report_given_alone_is_taken_whatever_its_name(tmp_path: Path) -> None:
    path = tmp_path / "whatever.xlsx"
    path.write_bytes(_report_workbook([("A1", "No Change")]))
    assert find_transaction_report(ReleaseArchive.open(path)) == "whatever.xlsx"


# --- the transaction report: not understood, or another release's ------------------------------

# The 2018 excerpt's keys and ACTION CD (tests/cases/hcpcs/README.md), in file order.
ACTIONS_2018 = [("A1", "N"), ("AD", "N"), ("FY", "A"), ("A5513", "N"), ("C9014", "A"),
                ("G0202", "D"), ("G0259", "N"), ("J7342", "N"), ("S3854", "N")]  # fmt: skip
# The 2017 excerpt's.
ACTIONS_2017 = [("A1", "N"), ("AD", "N"), ("A5513", "N"), ("G0202", "C"), ("G0259", "N"),
                ("J7342", "A"), ("S3854", "R")]  # fmt: skip
LABELS = {"A": "ADD", "C": "Long Description Change", "D": "Discontinued", "N": "No Change",
          "R": "Re-activated"}  # fmt: skip


def _release_with_report(tmp_path: Path, report: bytes) -> Any:
    main = tmp_path / "HCPC2018_CONTR_ANWEB_disc.txt"
    main.write_bytes((CASES / "excerpt_2018_ANWEB.txt").read_bytes())
    (tmp_path / "report.xlsx").write_bytes(report)
    return read_hcpcs_release(
        ReleaseArchive.open(main), ReleaseArchive.open(tmp_path / "report.xlsx")
    )


def test_the_matching_report_is_read_and_passes(tmp_path: Path) -> None:
    rows = [(k, LABELS[a]) for k, a in ACTIONS_2018]
    release = _release_with_report(tmp_path, _report_workbook(rows))
    assert release.tables["transactions"].frame[["hcpc", "action"]].values.tolist() == [
        list(r) for r in ACTIONS_2018
    ]
    assert validate_hcpcs_release(release) == ([], [])


def test_a_report_not_understood_is_skipped_with_a_warning(tmp_path: Path) -> None:
    rows = [(k, "Teleported" if k == "FY" else LABELS[a]) for k, a in ACTIONS_2018]
    release = _release_with_report(tmp_path, _report_workbook(rows))
    assert sorted(release.tables) == ["records"]
    assert [(f.role, f.member) for f in release.files.values()] == [
        ("records", "HCPC2018_CONTR_ANWEB_disc.txt"),
        ("transactions", "report.xlsx"),
    ]
    assert validate_hcpcs_release(release) == (
        [],
        [
            Failure(
                "report.xlsx",
                4,
                "",
                "transaction report not used: cross-check skipped",
                "sheet 'Changes by HCPC': unknown type of change 'Teleported' for 'FY'",
            )
        ],
    )


def test_a_report_that_is_no_workbook_is_skipped_with_a_warning(tmp_path: Path) -> None:
    release = _release_with_report(tmp_path, b"HCPC,ACTION CD\r\nA1,N\r\n")
    errors, [warning] = validate_hcpcs_release(release)
    assert errors == []
    assert (warning.file, warning.line, warning.column, warning.check) == (
        "report.xlsx",
        None,
        "",
        REPORT_NOT_USED,
    )
    assert warning.value.startswith("not a readable xlsx workbook: ")


def test_transactions_given_as_a_folder_without_a_report_is_a_warning(tmp_path: Path) -> None:
    main = tmp_path / "hcpcs.txt"
    main.write_bytes((CASES / "excerpt_2018_ANWEB.txt").read_bytes())
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "notes.xlsx").write_bytes(b"")
    release = read_hcpcs_release(
        ReleaseArchive.open(main), ReleaseArchive.open(tmp_path / "reports")
    )
    assert validate_hcpcs_release(release) == (
        [],
        [
            Failure(
                "reports",
                None,
                "",
                REPORT_NOT_USED,
                "no transaction report ('*trans*report*.xlsx', '*trans*alpha*.xlsx') in it",
            )
        ],
    )


def test_another_releases_report_is_refused(tmp_path: Path) -> None:
    rows = [(k, LABELS[a]) for k, a in ACTIONS_2017]  # rows 2-8
    release = _release_with_report(tmp_path, _report_workbook(rows))
    assert validate_hcpcs_release(release) == (
        [
            Failure(
                "report.xlsx",
                None,
                "",
                "transaction report does not belong to this release: 5 of 9 keys (55.6 %) missing "
                "or with another action; A keys among them: 2 (FY, C9014)",
                "5/9",
            ),
            Failure(
                "report.xlsx", None, "hcpc", "not in the transaction report (ACTION CD A)", "C9014"
            ),
            Failure(
                "report.xlsx", None, "hcpc", "not in the transaction report (ACTION CD A)", "FY"
            ),
            Failure(
                "report.xlsx",
                5,
                "action",
                "G0202 has ACTION CD D in the records",
                "Long Description Change",
            ),
            Failure("report.xlsx", 7, "action", "J7342 has ACTION CD N in the records", "ADD"),
            Failure(
                "report.xlsx", 8, "action", "S3854 has ACTION CD N in the records", "Re-activated"
            ),
        ],
        [],
    )


def _keys(n: int) -> list[str]:
    return [f"A{i:04d}" for i in range(n)]


def _records(actions: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"hcpc": list(actions), "action_cd": list(actions.values())})


def _report(actions: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "hcpc": list(actions),
            "action": list(actions.values()),
            "label": [f"label {a}" for a in actions.values()],
            "line": range(2, len(actions) + 2),
        }
    )


def test_up_to_one_percent_of_disagreeing_keys_is_left_to_the_reconciliation() -> None:
    records = {**dict.fromkeys(_keys(199), "N"), "B0001": "A"}  # 200 keys
    report = {**records, "A0000": "C", "A0001": "P"}  # 2 of 200 = 1 %
    report.pop("A0002")  # a third: 1.5 %
    assert foreign_report_failures(_records(records), _report(report), "r.xlsx") == [
        Failure(
            "r.xlsx",
            None,
            "",
            "transaction report does not belong to this release: 3 of 200 keys (1.5 %) missing "
            "or with another action; A keys among them: none",
            "3/200",
        ),
        Failure("r.xlsx", None, "hcpc", "not in the transaction report (ACTION CD N)", "A0002"),
        Failure("r.xlsx", 2, "action", "A0000 has ACTION CD N in the records", "label C"),
        Failure("r.xlsx", 3, "action", "A0001 has ACTION CD N in the records", "label P"),
    ]
    report["A0002"] = "N"
    assert foreign_report_failures(_records(records), _report(report), "r.xlsx") == []
    # A key listed twice agrees when one of its entries does (July 2020 lists CS twice).
    doubled = pd.concat([_report(report), _report({"A0000": "N"})], ignore_index=True)
    assert foreign_report_failures(_records(records), doubled, "r.xlsx") == []


def test_any_added_key_missing_from_the_report_refuses_it() -> None:
    records = {**dict.fromkeys(_keys(199), "N"), "B0001": "A"}
    report = dict.fromkeys(_keys(199), "N")
    assert foreign_report_failures(_records(records), _report(report), "r.xlsx") == [
        Failure(
            "r.xlsx",
            None,
            "",
            "transaction report does not belong to this release: 1 of 200 keys (0.5 %) missing or "
            "with another action; A keys among them: 1 (B0001)",
            "1/200",
        ),
        Failure("r.xlsx", None, "hcpc", "not in the transaction report (ACTION CD A)", "B0001"),
    ]

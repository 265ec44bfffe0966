"""HCPCS Level II readers (FORMATS.md §2): committed excerpts, bad input, and the real CMS files.

Expected numbers come from FORMATS.md (counted outside this code), not from the readers.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from codecatalog.errors import ReleaseFormatError, SourceLayoutError
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.decode import decode_text
from codecatalog.read.hcpcs import (
    compare_txt_xlsx,
    find_hcpcs_members,
    read_hcpcs_fixed_width,
    read_hcpcs_transactions,
    read_hcpcs_xlsx,
)
from codecatalog.read.release import Table

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


def _row(**values: Any) -> dict[str, Any]:
    """A whole expected row: every value column blank unless given."""
    return {**dict.fromkeys(VALUE_COLUMNS, ""), **values}


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
    assert list(frame.columns) == [*VALUE_COLUMNS, "line", "continuations"]
    assert all(frame[c].dtype == object or str(frame[c].dtype) == "str" for c in VALUE_COLUMNS)
    assert all(isinstance(v, str) for c in VALUE_COLUMNS for v in frame[c])
    assert not frame.isna().any().any()
    assert table.skipped is None
    assert frame[["hcpc", "line", "continuations", "action_cd"]].values.tolist() == [
        ["A1", 1, 0, "N"],
        ["AD", 2, 1, "N"],
        ["A5513", 4, 3, "N"],
        ["G0202", 8, 1, "C"],
        ["G0259", 10, 0, "N"],
        ["J7342", 11, 0, "A"],
        ["S3854", 12, 1, "R"],
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


def test_xlsx_without_hcpc_header_is_an_error() -> None:
    data = _workbook({"A": [["CODE", "SEQNUM"], ["A0021", "0010"]]})
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_xlsx(data, "bad.xlsx")
    assert (err.value.file, err.value.line) == ("bad.xlsx", None)
    assert err.value.problem == "no header row with 'HCPC' in the first column"


def test_xlsx_with_a_missing_column_is_an_error() -> None:
    data = _workbook({"A": [[h for h in XLSX_HEADERS if h != "TERM DT"]]})
    with pytest.raises(ReleaseFormatError, match="'TERM DT'"):
        read_hcpcs_xlsx(data, "bad.xlsx")


def test_unknown_transaction_label_is_an_error() -> None:
    data = _workbook(
        {
            "Changes by HCPCS Code": [
                ["HCPCS/Modifier Code", "Type of Change"],
                ["A0021", "No Change"],
                ["A0080", "Teleported"],
            ]
        }
    )
    with pytest.raises(ReleaseFormatError) as err:
        read_hcpcs_transactions(data, "trans.xlsx")
    assert (err.value.file, err.value.line) == ("trans.xlsx", 3)
    assert "'Teleported'" in err.value.problem


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
    assert _key(table, "J5") == _row(
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


def test_transactions_without_a_by_hcpc_sheet_is_an_error() -> None:
    data = _workbook({"Changes by Action Code": [["HCPC", "ACTION CD"]]})
    with pytest.raises(ReleaseFormatError, match="Changes by HCPC"):
        read_hcpcs_transactions(data, "t.xlsx")


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


# --- the real CMS files -----------------------------------------------------------------------

ANNUAL = {2017: "2017-Alpha-Numeric-HCPCS-File.zip", 2018: "2018-Alpha-Numeric-HCPCS-File.zip"}
QUARTERS = ("2020-04", "2020-07", "2020-10")


@pytest.fixture(scope="module")
def annual(realdata: Path) -> dict[int, dict[str, Any]]:
    """Members and parsed tables of the 2017 and 2018 zips, read once."""
    out: dict[int, dict[str, Any]] = {}
    for year, name in ANNUAL.items():
        archive = ReleaseArchive.open(realdata / "hcpcs_annual" / name)
        members = find_hcpcs_members(archive)
        text = decode_text(archive.read_bytes(members["txt"]), members["txt"]).text
        out[year] = {
            "members": members,
            "txt": read_hcpcs_fixed_width(text, members["txt"]),
            "xlsx": read_hcpcs_xlsx(archive.read_bytes(members["xlsx"]), members["xlsx"]),
            "transactions": read_hcpcs_transactions(
                archive.read_bytes(members["transactions"]), members["transactions"]
            ),
        }
    return out


@pytest.fixture(scope="module")
def quarterly(realdata: Path) -> dict[str, dict[str, Table]]:
    """ANWEB xlsx and transaction report of the three 2020 quarters, read once."""
    folder = realdata / "hcpcs_quarterly_2020"
    return {
        q: {
            "xlsx": read_hcpcs_xlsx((folder / f"{q}_anweb.xlsx").read_bytes(), f"{q}_anweb.xlsx"),
            "transactions": read_hcpcs_transactions(
                (folder / f"{q}_trans_alpha.xlsx").read_bytes(), f"{q}_trans_alpha.xlsx"
            ),
        }
        for q in QUARTERS
    }


@pytest.mark.realdata
def test_real_annual_members(annual: dict[int, dict[str, Any]]) -> None:
    assert annual[2017]["members"] == {
        "txt": "HCPC17_CONTR_ANWEB.txt",
        "xlsx": "HCPC17_CONTR_ANWEB.xlsx",
        "transactions": "HCPCS2017_Trans Report_Alpha.xlsx",
    }
    assert annual[2018]["members"] == {
        "txt": "HCPC2018_CONTR_ANWEB_disc.txt",
        "xlsx": "HCPC2018_CONTR_ANWEB_disc.xlsx",
        "transactions": "HCPC18_Trans_Report_Alpha.xlsx",
    }


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("year", "codes", "modifiers", "continuations", "preamble"),
    [(2017, 6155, 343, 4212 + 118, None), (2018, 6205, 354, 4272 + 154, 11)],
)
def test_real_annual_keys(
    annual: dict[int, dict[str, Any]],
    year: int,
    codes: int,
    modifiers: int,
    continuations: int,
    preamble: int | None,
) -> None:
    txt, xlsx = annual[year]["txt"], annual[year]["xlsx"]
    for frame in (txt.frame, xlsx.frame):
        assert len(frame) == codes + modifiers
        assert frame["hcpc"].is_unique
        assert frame["is_modifier"].value_counts().to_dict() == {"N": codes, "Y": modifiers}
        assert not frame.isna().any().any()
        # §2.1: no CPT or CDT records; procedure codes ^[A-V]\d{4}$ without D.
        procedures = frame.loc[frame["is_modifier"] == "N", "hcpc"]
        assert procedures.str.fullmatch(r"[A-CE-V]\d{4}").all()
    assert txt.frame["continuations"].sum() == continuations
    assert (txt.skipped.lines if txt.skipped else None) == preamble


ACTIONS = {
    2017: {
        "N": 5902,
        "A": 278,
        "D": 147,
        "C": 124,
        "P": 38,
        "T": 4,
        "S": 2,
        "B": 1,
        "F": 1,
        "R": 1,
    },
    2018: {"N": 6232, "A": 152, "P": 64, "C": 50, "D": 40, "S": 19, "F": 2},
}


@pytest.mark.realdata
@pytest.mark.parametrize("year", [2017, 2018])
def test_real_annual_action_codes(annual: dict[int, dict[str, Any]], year: int) -> None:
    for kind in ("txt", "xlsx"):
        assert annual[year][kind].frame["action_cd"].value_counts().to_dict() == ACTIONS[year]
    txt = annual[year]["txt"].frame
    if year == 2017:
        assert txt.loc[txt["action_cd"] == "R", "hcpc"].tolist() == ["S3854"]


@pytest.mark.realdata
def test_real_txt_and_xlsx_agree_2018(annual: dict[int, dict[str, Any]]) -> None:
    txt, xlsx = annual[2018]["txt"].frame, annual[2018]["xlsx"].frame
    pd.testing.assert_frame_equal(_collapsed(txt), _collapsed(xlsx))
    # §2.5: the raw long descriptions differ (in spacing only) for 35 keys.
    assert (txt["long_description"] != xlsx["long_description"]).sum() == 35
    assert compare_txt_xlsx(txt, xlsx, "HCPC2018_CONTR_ANWEB_disc.xlsx") == []


@pytest.mark.realdata
def test_real_txt_and_xlsx_agree_2017_except_three_dates(
    annual: dict[int, dict[str, Any]],
) -> None:
    """The 2017 xlsx carries ACT EFF DT = ADD DT for three L56xx codes where the txt has another
    date (the 2018 txt agrees with the xlsx). Everything else matches."""
    txt, xlsx = _collapsed(annual[2017]["txt"].frame), _collapsed(annual[2017]["xlsx"].frame)
    differs = txt != xlsx
    assert differs.drop(columns="act_eff_dt").sum().sum() == 0
    assert txt.loc[differs["act_eff_dt"], ["hcpc", "act_eff_dt"]].values.tolist() == [
        ["L5638", "19960101"],
        ["L5640", "19960101"],
        ["L5643", "19860101"],
    ]
    assert xlsx.loc[differs["act_eff_dt"], "act_eff_dt"].tolist() == [
        "19860101",
        "19860101",
        "19880101",
    ]
    raw_txt, raw_xlsx = annual[2017]["txt"].frame, annual[2017]["xlsx"].frame
    assert (raw_txt["long_description"] != raw_xlsx["long_description"]).sum() == 12
    failures = compare_txt_xlsx(raw_txt, raw_xlsx, "HCPC17_CONTR_ANWEB.xlsx")
    assert [(f.column, f.value) for f in failures] == [
        ("act_eff_dt", "txt '19960101' / xlsx '19860101'"),
        ("act_eff_dt", "txt '19960101' / xlsx '19860101'"),
        ("act_eff_dt", "txt '19860101' / xlsx '19880101'"),
    ]


@pytest.mark.realdata
def test_real_annual_transaction_reports(annual: dict[int, dict[str, Any]]) -> None:
    for year in (2017, 2018):
        report = annual[year]["transactions"].frame
        anweb = annual[year]["txt"].frame.set_index("hcpc")["action_cd"]
        assert report["hcpc"].is_unique
        assert (report["action"] == anweb.loc[report["hcpc"]].to_numpy()).all()
    assert len(annual[2017]["transactions"].frame) == 6498
    report_2018 = annual[2018]["transactions"].frame
    assert len(report_2018) == 6558
    assert set(annual[2018]["txt"].frame["hcpc"]) - set(report_2018["hcpc"]) == {"L1"}
    assert report_2018.loc[report_2018["label"] == "No change", "hcpc"].tolist() == ["DA"]


QUARTER_FACTS = {
    "2020-04": (7097, {"A": 18, "C": 4, "D": 1}),
    "2020-07": (7158, {"A": 61, "D": 9, "C": 4, "S": 1}),
    "2020-10": (7196, {"A": 38, "C": 7, "D": 4, "F": 2}),
}


@pytest.mark.realdata
@pytest.mark.parametrize("quarter", QUARTERS)
def test_real_quarterly_anweb(quarterly: dict[str, dict[str, Table]], quarter: str) -> None:
    frame = quarterly[quarter]["xlsx"].frame
    keys, flagged = QUARTER_FACTS[quarter]
    assert len(frame) == keys
    assert frame["hcpc"].is_unique
    assert frame["action_cd"].value_counts().to_dict() == {"N": keys - sum(flagged.values())} | (
        flagged
    )
    # The stray RECID 4 row is merged into G0503 (§2.6).
    [g0503] = frame[frame["hcpc"] == "G0503"].to_dict("records")
    assert g0503["continuations"] == 1
    assert g0503["long_description"].endswith(
        "and/or other treatment goals and are prepared for discharge from active treatment"
    )
    assert frame["continuations"].sum() == 1


@pytest.mark.realdata
def test_real_oct_2020_unpadded_numeric_modifier(quarterly: dict[str, dict[str, Table]]) -> None:
    [j5] = quarterly["2020-10"]["xlsx"].frame.query("hcpc == 'J5'").to_dict("records")
    assert (j5["is_modifier"], j5["recid"], j5["action_cd"]) == ("Y", "7", "A")
    assert (j5["add_dt"], j5["act_eff_dt"], j5["term_dt"]) == ("20201001", "20201001", "")


@pytest.mark.realdata
@pytest.mark.parametrize("quarter", QUARTERS)
def test_real_quarterly_transaction_reports(
    quarterly: dict[str, dict[str, Table]], quarter: str
) -> None:
    report = quarterly[quarter]["transactions"].frame
    anweb = quarterly[quarter]["xlsx"].frame.set_index("hcpc")["action_cd"]
    # The `Changes by HCPC` sheet lists every key once; Jul's double CS is only on the
    # `Changes by Action Code` sheet (FORMATS §2.7), which is not read.
    assert report["hcpc"].is_unique
    assert set(report["hcpc"]) == set(anweb.index)
    assert (report["action"] == anweb.loc[report["hcpc"]].to_numpy()).all()
    if quarter == "2020-07":
        assert report.loc[report["hcpc"] == "CS", ["label", "action"]].values.tolist() == [
            ["Long/Short Description Change", "C"]
        ]

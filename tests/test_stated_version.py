"""What a policy release states about its version, against the label it is loaded under."""

from __future__ import annotations

import doctest

import pytest

from codecatalog import stated_version
from codecatalog.errors import Failure
from codecatalog.read.release import Evidence
from codecatalog.stated_version import check_stated_version
from codecatalog.versions import Version


def _evidence(
    name: str, sheet: str | None = None, preamble: tuple[str, ...] = (), file: str = ""
) -> Evidence:
    return Evidence(file or f"release/{name}", name, sheet, preamble)


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("2026Q1", "ccipra-v320r0-f1.txt"),
        ("2026", "ccioph-v320r0-f4.TXT"),  # an annual label is the first quarter
        ("2026Q3", "ccipra-v322r0-f2.txt"),
        ("2026Q4r1", "ccipra-v323r1-f3.txt"),
        ("2026Q2", "ncci-part-without-a-version.txt"),  # states nothing: not a failure
    ],
)
def test_ncci_part_names_agreeing_with_the_label(label: str, name: str) -> None:
    assert check_stated_version("ncci_ptp", Version.parse(label), [_evidence(name)]) == []


def test_ncci_part_names_contradicting_the_label_name_each_file() -> None:
    evidence = [
        _evidence("ccipra-v321r0-f1.txt", file="q!a.zip!ccipra-v321r0-f1.txt"),
        _evidence("ccioph-v320r0-f1.txt"),
        _evidence("ccioph-v320r1-f2.txt"),
        _evidence("ccioph-v325r0-f3.txt"),
    ]
    assert check_stated_version("ncci_ptp", Version.parse("2026Q1"), evidence) == [
        Failure("q!a.zip!ccipra-v321r0-f1.txt", None, "file name", "version",
                "v321r0 (2026Q2, not version 2026Q1)"),
        Failure("release/ccioph-v320r1-f2.txt", None, "file name", "version",
                "v320r1 (2026Q1r1, not version 2026Q1)"),
        Failure("release/ccioph-v325r0-f3.txt", None, "file name", "version",
                "v325r0 (quarter 6 does not exist, not version 2026Q1)"),
    ]  # fmt: skip


def test_mue_effective_date_in_the_file_name() -> None:
    good = _evidence("MCR_MUE_PractitionerServices_Eff_04-01-2026.csv")
    assert check_stated_version("mue", Version.parse("2026Q2"), [good]) == []
    assert check_stated_version("mue", Version.parse("2026Q1"), [good]) == [
        Failure(good.file, None, "file name", "version",
                "Eff_04-01-2026 (effective 2026-04-01, not version 2026Q1)"),
    ]  # fmt: skip
    bad = _evidence("MCR_MUE_DMESupplierServices_Eff_13-01-2026.csv")
    assert check_stated_version("mue", Version.parse("2026Q1"), [bad]) == [
        Failure(
            bad.file,
            None,
            "file name",
            "version",
            "Eff_13-01-2026 (not a date, not version 2026Q1)",
        )
    ]


@pytest.mark.parametrize(
    ("label", "sheet", "failed"),
    [
        ("2022Q4", "2022 October Addendum B", None),
        ("2022Q4r1", "2022 October Addendum B", None),  # a re-issue names its quarter's month
        ("2020r1", "2020 January Addendum B", None),
        ("2021Q2", "2021 January Addendum B", "January 2021"),
        ("2021", "2020 January Addendum B", "January 2020"),
        ("2021", "Sheet1", None),
    ],
)  # fmt: skip
def test_addendum_b_sheet_title(label: str, sheet: str, failed: str | None) -> None:
    evidence = _evidence("addb.xlsx", sheet=sheet)
    said = f"{sheet} ({failed}, not version {label})"
    expected = [] if failed is None else [Failure(evidence.file, None, "sheet", "version", said)]
    assert check_stated_version("opps_addb", Version.parse(label), [evidence]) == expected


def test_pprrvu_title_wins_over_the_file_name_and_never_the_copyright_year() -> None:
    title = "2023 National Physician Fee Schedule Relative Value File January Release"
    preamble = (title, "CPT codes and descriptions only are copyright 2022 somebody.")
    evidence = _evidence("PPRRVU23_APR.csv", preamble=preamble)
    assert check_stated_version("pfs_rvu", Version.parse("2023"), [evidence]) == []
    assert check_stated_version("pfs_rvu", Version.parse("2022"), [evidence]) == [
        Failure(
            evidence.file, None, "title", "version", f"{title} (January 2023, not version 2022)"
        )
    ]
    # no title (the fixed-width file): the name says it
    txt = _evidence("PPRRVU23_JUL.txt")
    assert check_stated_version("pfs_rvu", Version.parse("2023Q3"), [txt]) == []
    assert check_stated_version("pfs_rvu", Version.parse("2023Q4"), [txt]) == [
        Failure(
            txt.file, None, "file name", "version", "PPRRVU23_JUL (July 2023, not version 2023Q4)"
        )
    ]
    longer = _evidence("PPRRVU2026_Jan_nonQPP.csv")
    assert check_stated_version("pfs_rvu", Version.parse("2026"), [longer]) == []


def test_doctests() -> None:
    assert doctest.testmod(stated_version).failed == 0

"""HCPCS on the real CMS releases: 2017 → 2018 annual and the 2020 quarters.

Expected values come from outside our code: CMS's own ACTION CD and transaction reports, and the
facts measured in FORMATS.md §2.10–2.11 (listed here by code).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest

from codecatalog import warehouse
from codecatalog.diff.changes import changes_between
from codecatalog.pipeline import refresh
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.hcpcs_release import hcpcs_tables, read_hcpcs_release
from codecatalog.sources import source

pytestmark = pytest.mark.realdata

# New in 2018 and already terminated in 2017: ACTION CD D (FORMATS.md §2.10).
NEW_AND_TERMINATED = {
    "C9484", "C9485", "C9486", "C9487", "C9489", "C9490", "C9491", "C9494",
    "Q9984", "Q9985", "Q9986", "Q9987", "Q9988", "Q9989",
}  # fmt: skip
# Every 2017 → 2018 disagreement with ACTION CD, by code (keys that merely dropped out aside).
DISAGREEMENTS_2018 = {
    "C1842": ("added", "N", "computed added but N"),  # added to 2017 by its corrections
    "G0659": ("added", "N", "computed added but N"),
    "E0210": ("tos4", "N", "N but changed: tos4"),
    "E0776": ("tos4", "N", "N but changed: tos4"),
    "E0627": ("xref1", "N", "N but changed: xref1"),  # XREF removed by the 2017 corrections
    "E0628": ("xref1", "N", "N but changed: xref1"),
    "E0629": ("xref1", "N", "N but changed: xref1"),
    "G0259": ("long_descriptor", "N", "N but changed: long_descriptor"),  # arthrography
    "G0475": ("labcert1, labcert2", "N", "N but changed: labcert1, labcert2"),
    "G0476": ("labcert1", "N", "N but changed: labcert1"),
    "G0477": ("retired, term_dt, xref1", "N", "computed retired but N"),  # terminated retroactively
    "G0478": ("retired, term_dt, xref1", "N", "computed retired but N"),
    "G0479": ("retired, term_dt, xref1", "N", "computed retired but N"),
    "G0480": ("labcert1, long_descriptor", "N", "N but changed: labcert1, long_descriptor"),
    "G0481": ("labcert1, long_descriptor", "N", "N but changed: labcert1, long_descriptor"),
    "G0482": ("labcert1, long_descriptor", "N", "N but changed: labcert1, long_descriptor"),
    "G0483": ("labcert1, long_descriptor", "N", "N but changed: labcert1, long_descriptor"),
    "G0499": ("labcert1", "N", "N but changed: labcert1"),
    "G0500": ("tos1", "N", "N but changed: tos1"),
    "G8896": ("long_descriptor", "N", "N but changed: long_descriptor"),
    "J3010": ("short_descriptor", "N", "N but changed: short_descriptor"),  # typo fixes
    "J3060": ("long_descriptor, short_descriptor", "N",
              "N but changed: long_descriptor, short_descriptor"),
    "J7342": ("long_descriptor", "N", "N but changed: long_descriptor"),  # Instillation
    "J7328": ("asc_dt, asc_grp, long_descriptor, short_descriptor", "P",
              "P does not announce: long_descriptor, short_descriptor"),  # should have been B
    "L1": ("", "N", "not in the transaction report"),  # the 2018 report omits modifier L1
}  # fmt: skip


def annual_zip(realdata: Path, year: int) -> Path:
    return realdata / "hcpcs_annual" / f"{year}-Alpha-Numeric-HCPCS-File.zip"


@pytest.fixture(scope="module")
def annual(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    wh = tmp_path_factory.mktemp("hcpcs-annual") / "wh"
    for year in (2017, 2018):
        refresh("hcpcs", str(annual_zip(realdata, year)), str(year), warehouse_dir=wh)
    return wh


@pytest.fixture(scope="module")
def quarterly(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    wh = tmp_path_factory.mktemp("hcpcs-quarterly") / "wh"
    folder = realdata / "hcpcs_quarterly_2020"
    for month, version in (("04", "2020Q2"), ("07", "2020Q3"), ("10", "2020Q4")):
        refresh(
            "hcpcs",
            str(folder / f"2020-{month}_anweb.xlsx"),
            version,
            warehouse_dir=wh,
            transactions=str(folder / f"2020-{month}_trans_alpha.xlsx"),
        )
    return wh


def query(wh: Path, sql: str, *params: object) -> list[tuple]:
    con = warehouse.open_reader(wh)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def diff(wh: Path, old: str, new: str) -> pd.DataFrame:
    con = warehouse.open_reader(wh)
    try:
        return changes_between(con, source("hcpcs"), old, new)
    finally:
        con.close()


def keys(changes: pd.DataFrame, kind: str) -> set[str]:
    return set(changes.key[changes.change_type == kind])


def test_2017_to_2018_whole_row_events(annual: Path) -> None:
    changes = diff(annual, "2017", "2018")
    action = dict(query(annual, "SELECT code, action_cd FROM hcpcs_catalog WHERE version = '2018'"))
    flagged = {letter: {k for k, a in action.items() if a == letter} for letter in "ADR"}
    assert len(flagged["A"]) == 152 and len(flagged["D"]) == 40
    assert keys(changes, "added") == flagged["A"] | NEW_AND_TERMINATED | {"C1842", "G0659"}
    assert keys(changes, "retired") == flagged["D"] | {"G0477", "G0478", "G0479"}
    assert keys(changes, "reactivated") == set() == flagged["R"]
    assert changes["change_type"].value_counts().to_dict() == {
        "attribute_changed": 197,
        "added": 168,
        "descriptor_revised": 129,
        "retired": 43,
    }
    # Successors travel with retired rows; source_action is the record's ACTION CD.
    retired = changes[changes.change_type == "retired"].set_index("key")
    assert retired.loc["G0202", "new_value"] == "77067"
    assert set(retired.source_action) == {"D", "N"}


def test_2017_to_2018_reconciliation_lists_every_disagreement(annual: Path) -> None:
    rows = query(
        annual,
        "SELECT key, computed, source_action, problem FROM reconciliations "
        "WHERE from_version = '2017' AND to_version = '2018'",
    )
    dropped = {k: p for k, _, _, p in rows if p.startswith("dropped out")}
    others = {k: (c, a, p) for k, c, a, p in rows if not p.startswith("dropped out")}
    assert others == DISAGREEMENTS_2018
    # The four-year retention drop-out: 107 keys, all terminated in 2013 (FORMATS.md §2.10).
    assert len(dropped) == 107
    assert all("retired since 2013" in p for p in dropped.values())
    report = (annual / "published/hcpcs/2018/report.md").read_text()
    assert "| J7328 | asc_dt, asc_grp, long_descriptor, short_descriptor | P |" in report


@pytest.mark.parametrize("year", [2017, 2018])
def test_txt_and_xlsx_give_the_same_catalog(realdata: Path, year: int, tmp_path: Path) -> None:
    with zipfile.ZipFile(annual_zip(realdata, year)) as zf:
        names = {n.rsplit(".", 1)[1]: n for n in zf.namelist() if "ANWEB" in n.upper()}
        zf.extract(names["txt"], tmp_path)
        zf.extract(names["xlsx"], tmp_path)
    txt, xlsx = (
        hcpcs_tables(read_hcpcs_release(ReleaseArchive.open(tmp_path / names[kind])))["catalog"]
        for kind in ("txt", "xlsx")
    )
    differ = (txt != xlsx) & ~(txt.isna() & xlsx.isna())
    cells = {
        (txt.code[i], c)
        for i, c in zip(*differ.to_numpy().nonzero(), strict=True)
        for c in [txt.columns[c]]
    }
    # 2017 only: three ACT EFF DT values differ between CMS's own txt and xlsx (the xlsx repeats
    # ADD DT; the 2018 txt agrees with the xlsx).
    expected = {("L5638", "act_eff_dt"), ("L5640", "act_eff_dt"), ("L5643", "act_eff_dt")}
    assert cells == (expected if year == 2017 else set())


def test_2020_quarters(quarterly: Path) -> None:
    counts = {
        (old, new): diff(quarterly, old, new)["change_type"].value_counts().to_dict()
        for old, new in (("2020Q2", "2020Q3"), ("2020Q3", "2020Q4"))
    }
    assert counts == {
        ("2020Q2", "2020Q3"): {"added": 61, "attribute_changed": 16, "retired": 9,
                               "descriptor_revised": 9},
        ("2020Q3", "2020Q4"): {"added": 38, "attribute_changed": 12, "descriptor_revised": 11,
                               "retired": 4},
    }  # fmt: skip
    for old, new, term in (("2020Q2", "2020Q3", "2020-07-01"), ("2020Q3", "2020Q4", "2020-10-01")):
        changes = diff(quarterly, old, new)
        action = dict(
            query(quarterly, "SELECT code, action_cd FROM hcpcs_catalog WHERE version = ?", new)
        )
        assert keys(changes, "added") == {k for k, a in action.items() if a == "A"}
        assert keys(changes, "retired") == {k for k, a in action.items() if a == "D"}
        retired = changes[changes.change_type == "retired"]
        assert set(retired.effective_date.astype(str)) == {term}  # TERM DT 20200630 / 20200930
    found = query(
        quarterly,
        "SELECT to_version, key, source_action, problem FROM reconciliations "
        "ORDER BY to_version, key",
    )
    assert found == [
        ("2020Q4", "A4226", "F", "F does not announce: price1"),
        ("2020Q4", "E0787", "F", "F does not announce: price1"),
    ]

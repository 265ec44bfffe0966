"""HCPCS on the real CMS files: the readers, 2017 → 2018 annual and the 2020 quarters.

Expected values come from outside our code: facts measured in FORMATS.md §2, and a plain reading of
the files in this module (zipfile, the byte positions of FORMATS.md §2.2, openpyxl), never from what
the tool once printed. Every real file is read once per test session (session-scoped fixtures).
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from codecatalog import warehouse
from codecatalog.diff.changes import changes_between
from codecatalog.errors import Failure, ValidationFailed
from codecatalog.pipeline import refresh
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.decode import decode_text
from codecatalog.read.hcpcs import (
    compare_txt_xlsx,
    find_hcpcs_members,
    read_hcpcs_fixed_width,
    read_hcpcs_transactions,
    read_hcpcs_xlsx,
)
from codecatalog.read.hcpcs_release import hcpcs_tables, read_hcpcs_release
from codecatalog.read.release import Release, Table
from codecatalog.sources import source
from codecatalog.validate_release import foreign_report_failures, validate_hcpcs_release

pytestmark = pytest.mark.realdata

ANNUAL = {2017: "2017-Alpha-Numeric-HCPCS-File.zip", 2018: "2018-Alpha-Numeric-HCPCS-File.zip"}
# FORMATS.md §2.1: the members of each annual zip.
MEMBERS = {
    2017: {
        "txt": "HCPC17_CONTR_ANWEB.txt",
        "xlsx": "HCPC17_CONTR_ANWEB.xlsx",
        "transactions": "HCPCS2017_Trans Report_Alpha.xlsx",
    },
    2018: {
        "txt": "HCPC2018_CONTR_ANWEB_disc.txt",
        "xlsx": "HCPC2018_CONTR_ANWEB_disc.xlsx",
        "transactions": "HCPC18_Trans_Report_Alpha.xlsx",
    },
}
QUARTERS = {"2020Q2": "2020-04", "2020Q3": "2020-07", "2020Q4": "2020-10"}
ATTRIBUTES = source("hcpcs").attributes
DESCRIPTORS = ("long_descriptor", "short_descriptor")
ANNOUNCED_BY_F = set(source("hcpcs").actions["F"])


# --- a plain reading of the files, independent of codecatalog's readers ---------------------------


def _repeat(name: str, count: int, start: int, width: int) -> list[tuple[str, int, int]]:
    return [(f"{name}{i + 1}", start + i * width, width) for i in range(count)]


# FORMATS.md §2.2: (catalog column, 1-based position, length) of a first-line record's fields.
LAYOUT = [
    ("code", 1, 5), ("recid", 11, 1), ("long_descriptor", 12, 80), ("short_descriptor", 92, 28),
    *_repeat("price", 4, 120, 2), ("mult_pi", 128, 1), *_repeat("cim", 3, 129, 6),
    *_repeat("mcm", 3, 147, 8), ("statute", 171, 10), *_repeat("labcert", 8, 181, 3),
    *_repeat("xref", 5, 205, 5), ("cov", 230, 1), ("asc_grp", 231, 2), ("asc_dt", 233, 8),
    ("opps", 241, 3), ("opps_pi", 244, 1), ("opps_dt", 245, 8), ("procnote", 253, 4),
    ("betos", 257, 3), *_repeat("tos", 5, 261, 1), ("anest_bu", 266, 3), ("add_dt", 269, 8),
    ("act_eff_dt", 277, 8), ("term_dt", 285, 8), ("action_cd", 293, 1),
]  # fmt: skip

Records = dict[str, dict[str, Any]]


def squash(text: str) -> str:
    return " ".join(text.split())


def plain_txt(data: bytes) -> Records:
    """Key → fields of an ANWEB `.txt` (§2.2): RECID 3/7 lines by position, RECID 4/8 lines
    continuing the long description; plus `_line` and `_longest` (the length of the longest
    record, line end excluded, and its line)."""
    records: Records = {}
    for number, line in enumerate(data.decode("cp1252").split("\r\n"), start=1):
        if not re.match(r"^.{5}\d{5}[3478]", line):
            continue
        code = line[:5].strip()
        if line[10] in "37":
            record = {name: line[at - 1 : at - 1 + n].strip() for name, at, n in LAYOUT}
            record.update(kind="modifier" if line[10] == "7" else "procedure", _line=number)
            record["_longest"] = (len(line), number)
            records[code] = record
        else:
            records[code]["long_descriptor"] += " " + line[11:91].strip()
            if len(line) > records[code]["_longest"][0]:
                records[code]["_longest"] = (len(line), number)
    for record in records.values():
        record["long_descriptor"] = squash(record["long_descriptor"])
    return records


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _sheets(data: bytes) -> dict[str, list[tuple[int, list[str]]]]:
    """Every sheet's rows as (row number, stripped cell texts)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # print headers openpyxl cannot parse
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            out = {}
            for sheet in book.worksheets:
                sheet.reset_dimensions()
                out[sheet.title] = [
                    (n, [_cell(v) for v in row])
                    for n, row in enumerate(sheet.iter_rows(values_only=True), start=1)
                ]
            return out
        finally:
            book.close()


def plain_xlsx(data: bytes) -> Records:
    """Key → fields of an ANWEB `.xlsx` (§2.6): the first sheet, header row starting `HCPC`, a
    RECID 4 row continuing the key above; plus `_line`."""
    rows = next(iter(_sheets(data).values()))
    start = next(i for i, (_, cells) in enumerate(rows) if cells and cells[0] == "HCPC")
    names = {"HCPC": "code", "LONG DESCRIPTION": "long_descriptor",
             "SHORT DESCRIPTION": "short_descriptor"}  # fmt: skip
    header = [names.get(h, h.lower().replace(" ", "_")) for h in rows[start][1]]
    records: Records = {}
    last: dict[str, Any] = {}
    for number, cells in rows[start + 1 :]:
        record = dict(zip(header, cells + [""] * len(header), strict=False))
        if record["recid"] in ("3", "7"):
            kind = "modifier" if record["recid"] == "7" else "procedure"
            record.update(kind=kind, _line=number)
            records[record["code"]] = last = record
        elif record["recid"] == "4":
            last["long_descriptor"] += " " + record["long_descriptor"]
    for record in records.values():
        record["long_descriptor"] = squash(record["long_descriptor"])
        record["short_descriptor"] = squash(record["short_descriptor"])
    return records


def plain_report(data: bytes) -> list[tuple[str, str, int]]:
    """A transaction report (§2.7): the `Changes by HCPC…` sheet's (code, label, row) below the
    header row."""
    sheets = _sheets(data)
    [by_code] = [s for s in sheets if "by hcpc" in s.casefold()]
    rows = sheets[by_code]
    headers = ("HCPCS/Modifier Code", "HCPC/MOD", "HCPC")
    start = next(i for i, (_, c) in enumerate(rows) if c and c[0] in headers)
    return [(c[0], c[1], n) for n, c in rows[start + 1 :] if c and c[0]]


def letters(plain: dict, release: Any) -> dict[str, str]:
    """Each label of a release's report (folded) → the ACTION CD its keys carry in the release's
    own ANWEB file (§2.7: the report states the ANWEB action, in words); one letter per label."""
    records = plain[records_of(release)]
    pairs = {
        (label.casefold(), records[code]["action_cd"])
        for code, label, _ in plain[release, "transactions"]
        if code in records
    }
    found = dict(pairs)
    assert len(found) == len(pairs), f"a label of {release} stands for two actions"
    return found


def disagreeing(plain: dict, records: Any, report: Any) -> set[str]:
    """Keys of `records` whose ACTION CD no entry of `report`'s report states (or not listed)."""
    words = letters(plain, report)
    stated: dict[str, set[str]] = {}
    for code, label, _ in plain[report, "transactions"]:
        stated.setdefault(code, set()).add(words[label.casefold()])
    mine = plain[records_of(records)]
    return {k for k, r in mine.items() if r["action_cd"] not in stated.get(k, set())}


def expected_step(old: Records, new: Records) -> dict[str, Any]:
    """What the diff old → new must find, counted on the plain readings."""
    both = old.keys() & new.keys()
    added = new.keys() - old.keys()
    return {
        "added": added,
        "retired": {k for k in old if not old[k]["term_dt"] and (k not in new or new[k]["term_dt"])}
        | {k for k in added if new[k]["term_dt"]},
        "reactivated": {k for k in both if old[k]["term_dt"] and not new[k]["term_dt"]},
        "attribute_changed": sum(old[k][f] != new[k][f] for k in both for f in ATTRIBUTES),
        "descriptor": sum(
            squash(old[k][f]) != squash(new[k][f]) for k in both for f in DESCRIPTORS
        ),
        "changed_fields": {
            k: {f for f in (*ATTRIBUTES, *DESCRIPTORS) if squash(old[k][f]) != squash(new[k][f])}
            for k in both
        },
    }


def counted(changes: pd.DataFrame) -> dict[str, int]:
    counts = changes["change_type"].value_counts()
    return {
        "added": int(counts.get("added", 0)),
        "retired": int(counts.get("retired", 0)),
        "reactivated": int(counts.get("reactivated", 0)),
        "attribute_changed": int(counts.get("attribute_changed", 0)),
        "descriptor": int(counts.get("descriptor_revised", 0))
        + int(counts.get("descriptor_editorial", 0)),
    }


# --- the files, read once per session -------------------------------------------------------------


def annual_zip(realdata: Path, year: int) -> Path:
    return realdata / "hcpcs_annual" / ANNUAL[year]


def quarter_file(realdata: Path, version: str, kind: str) -> Path:
    name = "anweb" if kind == "xlsx" else "trans_alpha"
    return realdata / "hcpcs_quarterly_2020" / f"{QUARTERS[version]}_{name}.xlsx"


@pytest.fixture(scope="session")
def files(realdata: Path) -> dict[tuple[Any, str], tuple[str, bytes]]:
    """(release, role) → (file name, bytes) of every real HCPCS file used here."""
    out: dict[tuple[Any, str], tuple[str, bytes]] = {}
    for year in ANNUAL:
        with zipfile.ZipFile(annual_zip(realdata, year)) as zf:
            for role, member in MEMBERS[year].items():
                out[year, role] = (member, zf.read(member))
    for version in QUARTERS:
        for role in ("xlsx", "transactions"):
            path = quarter_file(realdata, version, role)
            out[version, role] = (path.name, path.read_bytes())
    return out


@pytest.fixture(scope="session")
def plain(files: dict[tuple[Any, str], tuple[str, bytes]]) -> dict[tuple[Any, str], Any]:
    """The plain reading of every file."""
    readers = {"txt": plain_txt, "xlsx": plain_xlsx, "transactions": plain_report}
    return {key: readers[key[1]](data) for key, (_, data) in files.items()}


@pytest.fixture(scope="session")
def ours(files: dict[tuple[Any, str], tuple[str, bytes]]) -> dict[tuple[Any, str], Table]:
    """codecatalog's reading of every file."""
    out: dict[tuple[Any, str], Table] = {}
    for key, (name, data) in files.items():
        if key[1] == "txt":
            out[key] = read_hcpcs_fixed_width(decode_text(data, name).text, name)
        elif key[1] == "xlsx":
            out[key] = read_hcpcs_xlsx(data, name)
        else:
            out[key] = read_hcpcs_transactions(data, name)
    return out


def records_of(release: Any) -> tuple[str, str]:
    """The key of a release's main file: the txt of an annual zip, the xlsx of a quarter."""
    return (release, "txt" if release in ANNUAL else "xlsx")


@pytest.fixture(scope="session")
def annual(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    wh = tmp_path_factory.mktemp("hcpcs-annual") / "wh"
    for year in ANNUAL:
        refresh("hcpcs", str(annual_zip(realdata, year)), str(year), warehouse_dir=wh)
    return wh


@pytest.fixture(scope="session")
def quarterly(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    wh = tmp_path_factory.mktemp("hcpcs-quarterly") / "wh"
    for version in QUARTERS:
        refresh(
            "hcpcs",
            str(quarter_file(realdata, version, "xlsx")),
            version,
            warehouse_dir=wh,
            transactions=str(quarter_file(realdata, version, "transactions")),
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


def _collapsed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(
        columns=[c for c in frame if c in ("line", "seqnum", "continuations")]
        + [c for c in frame if c.startswith("record_length")]
    ).reset_index(drop=True)
    frame["long_description"] = frame["long_description"].str.split().str.join(" ")
    return frame


# --- readers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("year", ANNUAL)
def test_real_annual_members(realdata: Path, year: int) -> None:
    assert find_hcpcs_members(ReleaseArchive.open(annual_zip(realdata, year))) == MEMBERS[year]


@pytest.mark.parametrize(
    ("year", "codes", "modifiers", "continuations", "preamble"),
    [(2017, 6155, 343, 4212 + 118, None), (2018, 6205, 354, 4272 + 154, 11)],  # FORMATS §2.5
)
def test_real_annual_keys(
    ours: dict, plain: dict, year: int, codes: int, modifiers: int, continuations: int,
    preamble: int | None,
) -> None:  # fmt: skip
    txt, xlsx = ours[year, "txt"], ours[year, "xlsx"]
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
    # Record lengths: each key's longest record, as a plain reading measures it (all ≤ 320).
    expected = {k: r["_longest"] for k, r in plain[year, "txt"].items()}
    found = txt.frame.set_index("hcpc")[["record_length", "record_length_line"]]
    assert {k: tuple(v) for k, v in zip(found.index, found.to_numpy(), strict=True)} == expected
    assert txt.frame["record_length"].max() == 320


ACTIONS = {  # FORMATS.md §2.4
    2017: {"N": 5902, "A": 278, "D": 147, "C": 124, "P": 38, "T": 4, "S": 2, "B": 1, "F": 1,
           "R": 1},
    2018: {"N": 6232, "A": 152, "P": 64, "C": 50, "D": 40, "S": 19, "F": 2},
}  # fmt: skip


@pytest.mark.parametrize("year", ANNUAL)
def test_real_annual_action_codes(ours: dict, year: int) -> None:
    for kind in ("txt", "xlsx"):
        assert ours[year, kind].frame["action_cd"].value_counts().to_dict() == ACTIONS[year]
    txt = ours[year, "txt"].frame
    if year == 2017:
        assert txt.loc[txt["action_cd"] == "R", "hcpc"].tolist() == ["S3854"]


@pytest.mark.parametrize("year", ANNUAL)
def test_real_txt_and_xlsx_agree_but_where_cms_files_differ(
    ours: dict, plain: dict, year: int
) -> None:
    txt, xlsx = ours[year, "txt"].frame, ours[year, "xlsx"].frame
    # Where CMS's own txt and xlsx differ, field by field, on the plain readings.
    old, new = plain[year, "txt"], plain[year, "xlsx"]
    fields = [name for name, _, _ in LAYOUT if name not in ("code", "recid")]
    differ = [
        (k, f, old[k][f], new[k][f])
        for k in old
        for f in fields
        if squash(old[k][f]) != squash(new[k][f])
    ]
    failures = compare_txt_xlsx(txt, xlsx, MEMBERS[year]["xlsx"])
    assert failures == [
        Failure(
            MEMBERS[year]["xlsx"],
            new[k]["_line"],
            f.replace("descriptor", "description"),  # the reader's column names
            f"xlsx differs from the txt for {k}",
            f"txt {a!r} / xlsx {b!r}",
        )
        for k, f, a, b in differ
    ]
    expected_frame = _collapsed(txt)
    for k, f, _, b in differ:
        expected_frame.loc[expected_frame["hcpc"] == k, f.replace("descriptor", "description")] = b
    assert [(k, f) for k, f, _, _ in differ] == (
        [("L5638", "act_eff_dt"), ("L5640", "act_eff_dt"), ("L5643", "act_eff_dt")]
        if year == 2017
        else []
    )
    pd.testing.assert_frame_equal(expected_frame, _collapsed(xlsx))
    # §2.5: the raw long descriptions differ (in spacing only) for 12 (2017) / 35 (2018) keys.
    spacing = (txt["long_description"] != xlsx["long_description"]).sum()
    assert spacing == {2017: 12, 2018: 35}[year]


@pytest.mark.parametrize("release", [2017, 2018, *QUARTERS])
def test_real_transaction_reports(ours: dict, plain: dict, release: Any) -> None:
    """Every report's rows and labels as a plain reading finds them; its letters are the ANWEB
    file's, whatever the year's wording (`HCPCS/Modifier Code` / `HCPC/MOD` / `HCPC`; `ADD` /
    `Add`; `Coverage & Long Desc Change`, `Long/Short Description Change`, … §2.7)."""
    report = ours[release, "transactions"].frame
    assert (
        report[["hcpc", "label", "line"]].to_records(index=False).tolist()
        == (plain[release, "transactions"])
    )
    words = letters(plain, release)
    assert report["action"].tolist() == [words[label.casefold()] for label in report["label"]]
    # §2.7: one row per key, every key, the ANWEB action, but for the 2018 report's missing L1.
    anweb = ours[records_of(release)].frame.set_index("hcpc")["action_cd"]
    assert report["hcpc"].is_unique
    assert set(anweb.index) - set(report["hcpc"]) == ({"L1"} if release == 2018 else set())
    assert set(report["hcpc"]) <= set(anweb.index)
    assert (report["action"] == anweb.loc[report["hcpc"]].to_numpy()).all()
    if release == 2017:
        assert len(report) == 6498
    if release == 2018:
        assert len(report) == 6558
        assert report.loc[report["label"] == "No change", "hcpc"].tolist() == ["DA"]
    if release == "2020Q3":
        # Jul's double CS is only on the `Changes by Action Code` sheet, which is not read.
        assert report.loc[report["hcpc"] == "CS", ["label", "action"]].values.tolist() == [
            ["Long/Short Description Change", "C"]
        ]


QUARTER_FACTS = {  # FORMATS.md §2.11
    "2020Q2": (7097, {"A": 18, "C": 4, "D": 1}),
    "2020Q3": (7158, {"A": 61, "D": 9, "C": 4, "S": 1}),
    "2020Q4": (7196, {"A": 38, "C": 7, "D": 4, "F": 2}),
}


@pytest.mark.parametrize("version", QUARTERS)
def test_real_quarterly_anweb(ours: dict, version: str) -> None:
    frame = ours[version, "xlsx"].frame
    count, flagged = QUARTER_FACTS[version]
    assert len(frame) == count
    assert frame["hcpc"].is_unique
    assert frame["action_cd"].value_counts().to_dict() == {"N": count - sum(flagged.values())} | (
        flagged
    )
    # The stray RECID 4 row is merged into G0503 (§2.6).
    [g0503] = frame[frame["hcpc"] == "G0503"].to_dict("records")
    assert g0503["continuations"] == 1
    assert g0503["long_description"].endswith(
        "and/or other treatment goals and are prepared for discharge from active treatment"
    )
    assert frame["continuations"].sum() == 1


def test_real_oct_2020_unpadded_numeric_modifier(ours: dict) -> None:
    [j5] = ours["2020Q4", "xlsx"].frame.query("hcpc == 'J5'").to_dict("records")
    assert (j5["is_modifier"], j5["recid"], j5["action_cd"]) == ("Y", "7", "A")
    assert (j5["add_dt"], j5["act_eff_dt"], j5["term_dt"]) == ("20201001", "20201001", "")


# --- validation -----------------------------------------------------------------------------------


def _release(ours: dict, records: Any, report: Any | None = None) -> Release:
    tables = {"records": ours[records_of(records)]}
    if report is not None:
        tables["transactions"] = ours[report, "transactions"]
    return Release(str(records), {}, tables)


@pytest.mark.parametrize("release", [2017, 2018, *QUARTERS])
def test_every_real_release_passes_with_its_own_report(
    ours: dict, plain: dict, release: Any
) -> None:
    # Only the 2018 report leaves a key out (L1, §2.7): far below the 1 % that refuses a report.
    assert disagreeing(plain, release, release) == ({"L1"} if release == 2018 else set())
    errors, found = validate_hcpcs_release(_release(ours, release, release))
    assert errors == []
    # The only warnings: 2018's five shifted ASC groups and dates (§2.5).
    records = plain[records_of(release)]
    name = ours[records_of(release)].file
    shifted = [(k, r) for k, r in records.items() if r["asc_grp"] not in ("YY", "")]
    assert found == sorted(
        [
            Failure(name, r["_line"], "asc_dt", "yyyymmdd(allow_blank=True)", r["asc_dt"])
            for _, r in shifted
        ]
        + [
            Failure(name, r["_line"], "asc_grp", "isin(['YY', ''])", r["asc_grp"])
            for _, r in shifted
        ],
        key=lambda f: (f.line, f.column),
    )
    assert len(shifted) == (5 if release == 2018 else 0)


def _foreign_failures(plain: dict, records: Any, report: Any, file: str) -> list[Failure]:
    """The failures a report of another release must give, from the plain readings."""
    mine, listed = plain[records_of(records)], plain[report, "transactions"]
    wrong = disagreeing(plain, records, report)
    added = [k for k, r in mine.items() if k in wrong and r["action_cd"] == "A"]
    shown = ", ".join(added[:10]) + (", …" if len(added) > 10 else "")
    summary = (
        f"transaction report does not belong to this release: {len(wrong):,} of {len(mine):,} "
        f"keys ({100 * len(wrong) / len(mine):.1f} %) missing or with another action; A keys "
        f"among them: {f'{len(added):,} ({shown})' if added else 'none'}"
    )
    return [
        Failure(file, None, "", summary, f"{len(wrong)}/{len(mine)}"),
        *(
            Failure(
                file, None, "hcpc", f"not in the transaction report (ACTION CD {r['action_cd']})", k
            )
            for k, r in mine.items()
            if k in wrong and k not in {code for code, _, _ in listed}
        ),
        *(
            Failure(file, row, "action", f"{code} has ACTION CD {mine[code]['action_cd']} in the "
                    "records", label)
            for code, label, row in listed
            if code in wrong
        ),
    ]  # fmt: skip


def _sorted(failures: list[Failure]) -> list[Failure]:
    return sorted(failures, key=lambda f: (f.line or 0, f.column, f.check, f.value))


@pytest.mark.parametrize(
    ("records", "report"),
    [(r, t) for r in QUARTERS for t in QUARTERS if r != t] + [(2017, 2018), (2018, 2017)],
)
def test_another_releases_report_is_refused(
    ours: dict, plain: dict, records: Any, report: Any
) -> None:
    file = ours[report, "transactions"].file
    found = foreign_report_failures(
        ours[records_of(records)].frame, ours[report, "transactions"].frame, file
    )
    assert _sorted(found) == _sorted(_foreign_failures(plain, records, report, file))
    errors, _ = validate_hcpcs_release(_release(ours, records, report))
    assert errors == _sorted(found)


def test_a_quarter_loaded_with_another_quarters_report_is_refused(
    realdata: Path, plain: dict, tmp_path: Path
) -> None:
    wh = tmp_path / "wh"
    with pytest.raises(ValidationFailed) as err:
        refresh(
            "hcpcs",
            str(quarter_file(realdata, "2020Q3", "xlsx")),
            "2020Q3",
            warehouse_dir=wh,
            transactions=str(quarter_file(realdata, "2020Q2", "transactions")),
        )
    file = quarter_file(realdata, "2020Q2", "transactions").name
    expected = _sorted(_foreign_failures(plain, "2020Q3", "2020Q2", file))
    assert err.value.failures == expected
    # Every key added in July is missing from April's report.
    added = [k for k, r in plain["2020Q3", "xlsx"].items() if r["action_cd"] == "A"]
    assert len(added) == 61 and expected[0].check.endswith(
        f"A keys among them: 61 ({', '.join(added[:10])}, …)"
    )
    assert query(wh, "SELECT count(*) FROM releases") == [(0,)]
    assert query(wh, "SELECT outcome FROM load_attempts") == [("rejected",)]
    assert not (wh / "published").exists()


# --- refresh: the annual step 2017 → 2018 ---------------------------------------------------------

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


def test_2017_to_2018_whole_row_events_and_counts(annual: Path, plain: dict) -> None:
    changes = diff(annual, "2017", "2018")
    old, new = plain[2017, "txt"], plain[2018, "txt"]
    expected = expected_step(old, new)
    flagged = {a: {k for k, r in new.items() if r["action_cd"] == a} for a in "ADR"}
    # FORMATS.md §2.10: 168 new keys (152 A, 14 D, 2 N), 43 retirements, no reactivation.
    assert expected["added"] == flagged["A"] | NEW_AND_TERMINATED | {"C1842", "G0659"}
    assert expected["retired"] == flagged["D"] | {"G0477", "G0478", "G0479"}
    assert expected["reactivated"] == set() == flagged["R"]
    assert keys(changes, "added") == expected["added"]
    assert keys(changes, "retired") == expected["retired"]
    assert keys(changes, "reactivated") == expected["reactivated"]
    assert counted(changes) == {
        "added": len(expected["added"]),
        "retired": len(expected["retired"]),
        "reactivated": 0,
        "attribute_changed": expected["attribute_changed"],
        "descriptor": expected["descriptor"],
    }
    assert expected["descriptor"] == 59 + 70  # §2.10: long and short descriptions changed
    # Successors travel with retired rows; source_action is the record's ACTION CD.
    retired = changes[changes.change_type == "retired"].set_index("key")
    assert retired.loc["G0202", "new_value"] == "77067" == new["G0202"]["xref1"]
    assert set(retired.source_action) == {"D", "N"}


def test_2017_to_2018_reconciliation_lists_every_disagreement(annual: Path, plain: dict) -> None:
    rows = query(
        annual,
        "SELECT key, computed, source_action, problem FROM reconciliations "
        "WHERE from_version = '2017' AND to_version = '2018'",
    )
    dropped = {k: p for k, _, _, p in rows if p.startswith("dropped out")}
    others = {k: (c, a, p) for k, c, a, p in rows if not p.startswith("dropped out")}
    assert others == DISAGREEMENTS_2018
    old, new = plain[2017, "txt"], plain[2018, "txt"]
    # The table's `N but changed` rows, independently: every key both files hold that CMS marks N,
    # is not newly terminated, and whose fields differ in the plain readings.
    changed = expected_step(old, new)["changed_fields"]
    assert {k: p for k, (_, _, p) in others.items() if p.startswith("N but changed")} == {
        k: f"N but changed: {', '.join(sorted(fields))}"
        for k, fields in changed.items()
        if fields
        and new[k]["action_cd"] == "N"
        and not (new[k]["term_dt"] and not old[k]["term_dt"])
    }
    # The four-year retention drop-out (FORMATS.md §2.10): 107 keys terminated in 2013.
    assert dropped == {
        k: f"dropped out of the file, retired since {r['term_dt']}"
        for k, r in old.items()
        if k not in new
    }
    assert len(dropped) == 107
    assert all(old[k]["term_dt"].startswith("2013") for k in dropped)
    report = (annual / "published/hcpcs/2018/report.md").read_text()
    assert "| J7328 | asc_dt, asc_grp, long_descriptor, short_descriptor | P |" in report


@pytest.mark.parametrize("year", ANNUAL)
def test_renamed_txt_and_xlsx_give_the_same_catalog(files: dict, year: int, tmp_path: Path) -> None:
    """The txt and the xlsx given alone under names that say nothing: read by their content."""
    catalogs = []
    for role, name in (("txt", "records.dat"), ("xlsx", "records.bin")):
        (tmp_path / name).write_bytes(files[year, role][1])
        release = read_hcpcs_release(ReleaseArchive.open(tmp_path / name))
        assert release.files["records"].member == name
        catalogs.append(hcpcs_tables(release)["catalog"])
    txt, xlsx = catalogs
    differ = (txt != xlsx) & ~(txt.isna() & xlsx.isna())
    cells = {
        (txt.code[i], txt.columns[c]) for i, c in zip(*differ.to_numpy().nonzero(), strict=True)
    }
    # 2017 only: three ACT EFF DT values differ between CMS's own txt and xlsx (the xlsx repeats
    # ADD DT; the 2018 txt agrees with the xlsx).
    expected = {("L5638", "act_eff_dt"), ("L5640", "act_eff_dt"), ("L5643", "act_eff_dt")}
    assert cells == (expected if year == 2017 else set())


# --- refresh: the 2020 quarters -----------------------------------------------------------------


def test_2020_quarters(quarterly: Path, plain: dict) -> None:
    expected_rows = []
    for old, new, term in (("2020Q2", "2020Q3", "2020-07-01"), ("2020Q3", "2020Q4", "2020-10-01")):
        changes = diff(quarterly, old, new)
        before, after = plain[old, "xlsx"], plain[new, "xlsx"]
        expected = expected_step(before, after)
        flagged = {a: {k for k, r in after.items() if r["action_cd"] == a} for a in "ADF"}
        # FORMATS.md §2.11: every new key is A, every retirement D, nothing vanished.
        assert expected["added"] == flagged["A"] and expected["retired"] == flagged["D"]
        assert keys(changes, "added") == expected["added"]
        assert keys(changes, "retired") == expected["retired"]
        assert counted(changes) == {
            "added": len(expected["added"]),
            "retired": len(expected["retired"]),
            "reactivated": len(expected["reactivated"]),
            "attribute_changed": expected["attribute_changed"],
            "descriptor": expected["descriptor"],
        }
        retired = changes[changes.change_type == "retired"]
        assert set(retired.effective_date.astype(str)) == {term}  # TERM DT 20200630 / 20200930
        # F announces administrative (coverage) data, not prices (FORMATS.md §2.4,
        # sources.toml): an F key that also changed a price is listed with what F does not cover.
        for key in sorted(flagged["F"]):
            fields = expected["changed_fields"][key]
            assert fields & ANNOUNCED_BY_F
            unannounced = ", ".join(sorted(fields - ANNOUNCED_BY_F))
            expected_rows.append((new, key, "F", f"F does not announce: {unannounced}"))
    found = query(
        quarterly,
        "SELECT to_version, key, source_action, problem FROM reconciliations "
        "ORDER BY to_version, key",
    )
    assert found == expected_rows
    assert [k for _, k, _, _ in found] == ["A4226", "E0787"]  # the two F of October (§2.11)

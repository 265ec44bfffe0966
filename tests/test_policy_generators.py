"""Synthetic NCCI PTP and MUE releases (codecatalog.samples.policy): layout, determinism, the edit
log against the files, and end to end through the refresh pipeline.

The files are parsed and diffed here with plain Python (csv, zipfile), independently of the
generator: the change rows derived from the files must equal `*_expected_changes` (the log's).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from codecatalog.samples import policy
from codecatalog.samples.policy import (
    mue_expected_changes,
    mue_run,
    ptp_expected_changes,
    ptp_run,
    write_mue_release,
    write_ptp_release,
)

ROWS = 600
CODES = 200
Q1, Q2 = "2026Q1", "2026Q2"
CODE = re.compile(r"\d{5}|\d{4}[FTUAM]|[A-CE-V]\d{4}")
DATE = re.compile(r"(199[6-9]|20[0-2]\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])")
HEADER = [
    "Column 1", "Column 2", "*=in existence prior to 1996", "Effective Date",
    "Deletion Date *=no data", "Modifier 0=not allowed 1=allowed 9=not applicable",
    "PTP Edit Rationale",
]  # fmt: skip
Change = tuple[str, str, str | None, str | None, str | None, date]


@pytest.fixture(scope="module")
def ptp() -> policy.PtpRun:
    return ptp_run(ROWS, seed=3)


@pytest.fixture(scope="module")
def mue() -> policy.MueRun:
    return mue_run(CODES, seed=3)


def records(frame: pd.DataFrame) -> list[Change]:
    """Rows as tuples, missing values as None."""
    frame = frame[list(policy.CHANGE_FIELDS)].astype(object)
    return [tuple(r) for r in frame.where(frame.notna(), None).itertuples(index=False)]  # type: ignore[misc]


# --- PTP: files --------------------------------------------------------------------------------


def ptp_texts(release: Path) -> dict[str, bytes]:
    """Innermost text file name → bytes, from a directory of zips or of bare `.txt` files."""
    texts = {}
    for path in sorted(release.iterdir()):
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
                assert len(names) == 2 and {Path(n).suffix for n in names} == {".txt", ".xlsx"}
                txt = next(n for n in names if n.endswith(".txt"))
                assert path.name.endswith(f"-{Path(txt).stem}.zip")
                texts[txt] = z.read(txt)
        else:
            texts[path.name] = path.read_bytes()
    return texts


PtpFile = dict[tuple[str, str, str], list[tuple[str, ...]]]


def parse_ptp(release: Path) -> PtpFile:
    """Every row of the eight parts by key (table, column 1, column 2), checking the layout."""
    rows: PtpFile = {}
    for name, data in ptp_texts(release).items():
        m = re.fullmatch(r"(ccipra|ccioph)-v(\d\d)(\d)r0-f([1-4])\.txt", name)
        assert m, name
        table = {"ccipra": "practitioner", "ccioph": "hospital"}[m[1]]
        text = data.decode("latin-1")
        assert text.endswith("\r\n")
        lines = text[:-2].split("\r\n")
        assert all("\n" not in line and "\r" not in line for line in lines)
        assert re.fullmatch(r"CPT only copyright 2025 American Medical Association\..*", lines[0])
        assert lines[1] == "Column1/Column2 Edits"
        header = [line.split("\t") for line in lines[2:6]]
        merged = [" ".join(" ".join(cells).split()) for cells in zip(*header, strict=True)]
        assert merged == HEADER
        keys = []
        for line in lines[6:]:
            fields = line.split("\t")
            assert len(fields) == 7, line
            keys.append((fields[0], fields[1]))
            rows.setdefault((table, fields[0], fields[1]), []).append(tuple(fields[2:]))
            part = 1 + sum(fields[0] >= bound for bound in policy.PTP_PART_BOUNDS)
            assert part == int(m[4]), (name, fields[0])
        assert keys == sorted(keys)
    return rows


def resolve(rows: PtpFile) -> dict[tuple[str, str, str], tuple[str, ...]]:
    """One row per key: the active one (deletion `*`), else the latest deletion date."""
    out = {}
    for key, found in rows.items():
        active = [r for r in found if r[2] == "*"]
        assert len(active) <= 1, key
        out[key] = active[0] if active else max(found, key=lambda r: r[2])
    return out


def diff_ptp(old: PtpFile, new: PtpFile, day: date) -> list[Change]:
    """The change rows by the `ncci_ptp` declaration's rules, from the files alone."""
    a, b = resolve(old), resolve(new)
    out: list[Change] = []

    def key(k: tuple[str, str, str]) -> str:
        return "|".join(k)

    def when(value: str) -> date:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))

    for k in b.keys() - a.keys():
        out.append((key(k), "added", None, None, None, day))
        if b[k][2] != "*":
            out.append((key(k), "retired", None, None, None, when(b[k][2])))
    for k in a.keys() - b.keys():
        if a[k][2] == "*":
            out.append((key(k), "retired", None, None, None, day))
    for k in a.keys() & b.keys():
        assert not (a[k][2] != "*" and b[k][2] == "*"), f"reactivated {k}"
        if a[k][2] == "*" and b[k][2] != "*":
            out.append((key(k), "retired", None, None, None, when(b[k][2])))
        for i, name in (
            (0, "prior_1996"),
            (1, "effective_date"),
            (3, "modifier"),
            (4, "rationale"),
        ):
            if a[k][i] != b[k][i]:
                out.append(
                    (key(k), "attribute_changed", name, a[k][i] or None, b[k][i] or None, day)
                )
    return sorted(out, key=lambda r: (r[0], r[1], r[2] is not None, r[2] or ""))


@pytest.fixture(scope="module")
def ptp_files(ptp: policy.PtpRun, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("ptp")
    return {
        "zip1": write_ptp_release(ptp, Q1, out / "q1"),
        "zip2": write_ptp_release(ptp, Q2, out / "q2"),
        "bare2": write_ptp_release(ptp, Q2, out / "q2-bare", zipped=False),
    }


def test_ptp_version_tags_and_part_names() -> None:
    assert [policy.ptp_version_tag(q) for q in ("2026Q1", "2026Q2", "2026Q3", "2025Q4")] == [
        "v320r0", "v321r0", "v322r0", "v313r0",
    ]  # fmt: skip
    assert policy.ptp_zip_name("practitioner", "2026Q1", 1) == (
        "medicare-ncci-2026q1-practitioner-ptp-edits-ccipra-v320r0-f1.zip"
    )
    assert policy.ptp_zip_name("hospital", "2026Q2", 4) == (
        "medicare-ncci-2026q2-hospital-ptp-edits-ccioph-v321r0-f4.zip"
    )


def test_ptp_release_layout(ptp_files: dict[str, Path]) -> None:
    zips = sorted(p.name for p in ptp_files["zip1"].iterdir())
    assert zips == sorted(
        policy.ptp_zip_name(t, Q1, f) for t in ("practitioner", "hospital") for f in (1, 2, 3, 4)
    )
    bare = sorted(p.name for p in ptp_files["bare2"].iterdir())
    assert bare == sorted(
        f"{p}-v321r0-f{f}.txt" for p in ("ccipra", "ccioph") for f in (1, 2, 3, 4)
    )
    assert ptp_texts(ptp_files["zip2"]) == ptp_texts(ptp_files["bare2"])
    rows = parse_ptp(ptp_files["zip1"])
    assert sum(len(r) for r in rows.values()) == ROWS
    listed_twice = [k for k, r in rows.items() if len(r) > 1]
    assert listed_twice and all(len(rows[k]) == 2 for k in listed_twice)
    for (_table, column_1, column_2), found in rows.items():
        assert CODE.fullmatch(column_1) and CODE.fullmatch(column_2) and column_1 != column_2
        for prior, effective, deletion, modifier, rationale in found:
            assert prior in ("*", "") and (prior == "*") == (effective == "19960101")
            assert DATE.fullmatch(effective) and effective <= "20260101"
            assert deletion == "*" or (DATE.fullmatch(deletion) and deletion >= effective)
            assert modifier in ("0", "1", "9")
            assert rationale in policy.PTP_RATIONALES
    tables = {k[0] for k in rows}
    assert tables == {"practitioner", "hospital"}
    deleted = [r for found in rows.values() for r in found if r[2] != "*"]
    assert 0.15 < len(deleted) / ROWS < 0.4  # history stays in the file
    nines = [r for found in rows.values() for r in found if r[3] == "9"]
    assert nines and sum(r[2] == r[1] for r in nines) / len(nines) > 0.7


def test_ptp_codes_come_from_the_cpt_samples(ptp: policy.PtpRun) -> None:
    cpt = policy.sample_cpt((2024, 2025, 2026), 0)
    live, retired, unknown = set(cpt.live), set(cpt.retired), set(cpt.unknown)
    n = ptp.n_codes
    keys = ptp.quarters[Q1].rows.key
    used = list(ptp.codes[keys // n % n]) + list(ptp.codes[keys % n])
    digits = [c for c in used if c[0].isdigit()]
    assert sum(c in live for c in digits) / len(digits) > 0.95
    assert sum(c in live for c in used) / len(used) > 0.75  # the rest HCPCS
    assert any(c in retired for c in used) and any(c in unknown for c in used)
    assert all(c in live | retired | unknown for c in digits)


def test_ptp_deterministic(ptp_files: dict[str, Path], tmp_path: Path) -> None:
    again = ptp_run(ROWS, seed=3)
    write_ptp_release(again, Q1, tmp_path / "again")
    for path in ptp_files["zip1"].iterdir():
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes()
    other = ptp_run(ROWS, seed=4)
    write_ptp_release(other, Q1, tmp_path / "other", zipped=False)
    assert ptp_texts(tmp_path / "other") != ptp_texts(ptp_files["zip1"])


def test_ptp_edit_log_matches_the_files(ptp: policy.PtpRun, ptp_files: dict[str, Path]) -> None:
    expected = records(ptp_expected_changes(ptp, Q1, Q2))
    old, new = parse_ptp(ptp_files["zip1"]), parse_ptp(ptp_files["zip2"])
    assert diff_ptp(old, new, date(2026, 4, 1)) == expected
    kinds = set(ptp.log["event"])
    assert kinds == {
        "added", "added_deleted", "deleted", "retro_deleted", "deleted_on_effective", "modifier",
        "rationale", "vanished", "duplicate",
    }  # fmt: skip
    retired = [r for r in expected if r[1] == "retired"]
    assert any(r[5] < date(2026, 4, 1) for r in retired)  # retroactive deletions
    assert {r[1] for r in expected} == {"added", "retired", "attribute_changed"}
    assert 0.01 < len(expected) / ROWS < 0.05


def test_ptp_three_quarters(tmp_path: Path) -> None:
    run = ptp_run(300, seed=1, quarters=("2026Q3", "2026Q4", "2027Q1"))
    assert list(run.quarters) == ["2026Q3", "2026Q4", "2027Q1"]
    write_ptp_release(run, "2027Q1", tmp_path / "q", zipped=False)
    names = sorted(p.name for p in (tmp_path / "q").iterdir())
    assert names[0] == "ccioph-v330r0-f1.txt"
    assert (tmp_path / "q" / names[0]).read_bytes().startswith(b"CPT only copyright 2026 ")
    assert len(ptp_expected_changes(run, "2026Q4", "2027Q1")) > 0
    with pytest.raises(ValueError, match="not a step"):
        ptp_expected_changes(run, "2026Q3", "2027Q1")


# --- MUE ---------------------------------------------------------------------------------------


def mue_tables(release: Path) -> dict[str, list[list[str]]]:
    """File name → parsed CSV records (zips or bare CSVs)."""
    out = {}
    for path in sorted(release.iterdir()):
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    if name.endswith(".csv"):
                        out[name] = z.read(name)
        else:
            out[path.name] = path.read_bytes()
    return {
        name: list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        for name, data in out.items()
    }


def parse_mue(release: Path) -> dict[str, tuple[str, str, str]]:
    """`table|code` → (mue_value, mai_text, rationale), checking the layout."""
    found = {}
    names = {"PractitionerServices": "practitioner", "OutpatientHospitalServices": "hospital",
             "DMESupplierServices": "dme"}  # fmt: skip
    for name, rows in mue_tables(release).items():
        m = re.fullmatch(r"MCR_MUE_(\w+?)_Eff_(\d\d)-01-2026\.csv", name)
        assert m and m[1] in names, name
        table = names[m[1]]
        notice, header, body = rows[0], rows[1], rows[2:]
        assert "\n" in notice[0] and notice[1:] == ["", "", ""]
        assert " ".join(header[0].split()) == "HCPCS/ CPT Code" and "\n" in header[0]
        assert header[1:] == [policy.MUE_VALUE_HEADER[table], "MUE Adjudication Indicator",
                              "MUE Rationale"]  # fmt: skip
        codes = [r[0] for r in body]
        assert codes == sorted(codes) and len(set(codes)) == len(codes)
        for code, value, mai, rationale in body:
            assert CODE.fullmatch(code) and value.isdigit()
            assert mai in policy.MAI_TEXT and rationale in policy.MUE_RATIONALES
            found[f"{table}|{code}"] = (value, mai, rationale)
    return found


def diff_mue(
    old: dict[str, tuple[str, str, str]], new: dict[str, tuple[str, str, str]]
) -> list[Change]:
    day = date(2026, 4, 1)
    out: list[Change] = [(k, "added", None, None, None, day) for k in new.keys() - old.keys()]
    out += [(k, "retired", None, None, None, day) for k in old.keys() - new.keys()]
    for k in old.keys() & new.keys():
        (v0, t0, r0), (v1, t1, r1) = old[k], new[k]
        for name, a, b in (("mue_value", v0, v1), ("mai", t0[0], t1[0]), ("mai_text", t0, t1),
                           ("rationale", r0, r1)):  # fmt: skip
            if a != b:
                out.append((k, "attribute_changed", name, a, b, day))
    return sorted(out, key=lambda r: (r[0], r[1], r[2] is not None, r[2] or ""))


def test_mue_layout_log_and_determinism(mue: policy.MueRun, tmp_path: Path) -> None:
    q1 = write_mue_release(mue, Q1, tmp_path / "q1")
    q2 = write_mue_release(mue, Q2, tmp_path / "q2", zipped=True)
    assert sorted(p.name for p in q1.iterdir()) == [
        "MCR_MUE_DMESupplierServices_Eff_01-01-2026.csv",
        "MCR_MUE_OutpatientHospitalServices_Eff_01-01-2026.csv",
        "MCR_MUE_PractitionerServices_Eff_01-01-2026.csv",
    ]
    assert sorted(p.name for p in q2.iterdir()) == [
        "medicare-ncci-2026-q2-dme-supplier-services-mue-table.zip",
        "medicare-ncci-2026-q2-outpatient-hospital-services-mue-table.zip",
        "medicare-ncci-2026-q2-practitioner-services-mue-table.zip",
    ]
    first = (q1 / "MCR_MUE_PractitionerServices_Eff_01-01-2026.csv").read_bytes()
    assert first.startswith(b'"Synthetic MUE table') and b'\r\n"HCPCS/\nCPT Code",' in first
    assert re.search(rb'\r\n\d{4}[0-9A-Z],\d+,"[123] [^"]+","[^"]+"\r\n', first)
    old, new = parse_mue(q1), parse_mue(q2)
    assert {k.split("|")[0] for k in old} == {"practitioner", "hospital", "dme"}
    assert all(150 <= sum(k.startswith(t) for k in old) <= 250 for t in policy.MUE_TABLES)
    expected = records(mue_expected_changes(mue, Q1, Q2))
    assert diff_mue(old, new) == expected
    assert {r[2] for r in expected} == {None, "mue_value", "mai", "mai_text", "rationale"}
    write_mue_release(mue_run(CODES, seed=3), Q2, tmp_path / "again", zipped=True)
    for path in q2.iterdir():
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes()


def test_generate_writes_truth_files(tmp_path: Path) -> None:
    dirs = policy.generate_ptp(tmp_path, rows=200, seed=0)
    dirs += policy.generate_mue(tmp_path, codes=100, seed=0)
    assert [d.name for d in dirs] == ["ncci-ptp-2026Q1", "ncci-ptp-2026Q2", "ncci-mue-2026Q1",
                                      "ncci-mue-2026Q2"]  # fmt: skip
    truth = sorted(p.name for p in (tmp_path / "truth").iterdir())
    assert truth == ["mue_changes_2026Q1_2026Q2.csv", "mue_edit_log.csv",
                     "ncci_ptp_changes_2026Q1_2026Q2.csv", "ncci_ptp_edit_log.csv"]  # fmt: skip


# --- end to end: the refresh pipeline computes exactly the expected changes --------------------


def _refreshed_changes(name: str, releases: list[Path], wh: Path) -> list[Change]:
    from codecatalog import warehouse
    from codecatalog.diff.changes import changes_between
    from codecatalog.pipeline import refresh
    from codecatalog.sources import source

    for release, version in zip(releases, (Q1, Q2), strict=True):
        refresh(name, str(release), version, warehouse_dir=wh)
    con = warehouse.open_reader(wh)
    try:
        return records(changes_between(con, source(name), Q1, Q2))
    finally:
        con.close()


def test_ptp_refresh_computes_the_expected_changes(
    ptp: policy.PtpRun, ptp_files: dict[str, Path], tmp_path: Path
) -> None:
    releases = [ptp_files["zip1"], ptp_files["zip2"]]
    computed = _refreshed_changes("ncci_ptp", releases, tmp_path / "wh")
    assert computed == records(ptp_expected_changes(ptp, Q1, Q2))


@pytest.mark.parametrize(
    "quoted_newline",
    [
        "\r\n",
        "\n",  # a spreadsheet's CSV export: CRLF record ends, LF inside quoted cells
    ],
    ids=["crlf-in-quotes", "lf-in-quotes"],
)
def test_mue_refresh_computes_the_expected_changes(
    mue: policy.MueRun, tmp_path: Path, quoted_newline: str
) -> None:
    releases = [
        write_mue_release(mue, Q1, tmp_path / "q1", quoted_newline=quoted_newline),
        write_mue_release(mue, Q2, tmp_path / "q2", zipped=True, quoted_newline=quoted_newline),
    ]
    computed = _refreshed_changes("mue", releases, tmp_path / "wh")
    assert computed == records(mue_expected_changes(mue, Q1, Q2))

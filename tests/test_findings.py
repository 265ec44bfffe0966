"""Findings (issue 7 §4): a policy source's codes looked up in HCPCS loaded from the real excerpts.

Expected values are read off the excerpt files in tests/cases/hcpcs/ (line numbers of the file):

- reconstructed_2016_ANWEB.txt line 11: S3854 with TERM DT 20151231 and no XREF (retired, first
  invalid 2016-01-01); J7342 and C9014 are not in the file;
- excerpt_2018_ANWEB.txt lines 21-22: G0202 with TERM DT 20171231 and XREF1 77067 (retired, first
  invalid 2018-01-01, successor 77067); line 16 A5513, line 20 C9014, line 23 G0259, line 24
  J7342 and line 25 S3854 have no TERM DT (active); A9999 and A0000 are in no excerpt.

No CPT release is loaded: CPT-shaped codes (77067) are unchecked, never unknown.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from codecatalog import warehouse
from codecatalog.diff.changes import changes_between
from codecatalog.findings import (
    code_set_versions,
    compute_findings,
    findings_summary,
    published_findings_sql,
)
from codecatalog.pipeline import open_writer, refresh
from codecatalog.sources import Column, Retirement, SourceConfig, source
from codecatalog.versions import Version
from codecatalog.writer import Writer

CASES = Path(__file__).parent / "cases" / "hcpcs"
COLUMNS = ("code", "site", "alt_code", "term_date")
NO_CPT = "no cpt version in force on {}"


def policy(schema: Path, code_sets: tuple[str, ...] = ("hcpcs", "cpt")) -> SourceConfig:
    """An invented payer's list: composite key (code, site), two code columns, a term date."""
    return SourceConfig(
        name="payer_pa",
        title="Invented payer prior-authorization list",
        family="table",
        key=("code", "site"),
        schema=schema,
        descriptors=(),
        attributes=("alt_code", "term_date"),
        source_action=None,
        columns=tuple(Column(c, c.replace("_", " ").title()) for c in COLUMNS),
        retire=Retirement("term_date"),  # last valid day, YYYY-MM-DD
        code_columns=("code", "alt_code"),
        code_sets=code_sets,
    )


def load(
    con: duckdb.DuckDBPyConnection,
    cfg: SourceConfig,
    label: str,
    rows: Sequence[tuple[str | None, ...]],
) -> None:
    """Store one version of a hand-built table source (all columns text)."""
    names = [c.name for c in cfg.columns]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _incoming ({', '.join(f'{n} VARCHAR' for n in names)})"
    )
    if rows:
        con.executemany(f"INSERT INTO _incoming VALUES ({', '.join('?' * len(names))})", rows)
    version = Version.parse(label)
    warehouse.load_release(
        con,
        cfg,
        version,
        version.effective_date,
        {"catalog": "_incoming"},
        content_sha256=f"{cfg.name}-{label}",
        source="test",
        files=[],
        loaded_at=datetime(2026, 1, 1),
    )
    con.execute("DROP TABLE _incoming")


def findings(writer: Writer, version: str, cfg_name: str = "payer_pa") -> list[tuple]:
    rows = writer.con.execute(published_findings_sql(cfg_name, version)).fetchall()
    assert all(r[:2] == (cfg_name, version) for r in rows)
    return [r[2:] for r in rows]  # key, column, code, finding, set, set version, on, succ, reason


def hcpcs_warehouse(wh: Path, files: Sequence[tuple[str, Path]], shrink: bool = False) -> None:
    for version, path in files:
        refresh("hcpcs", str(path), version, warehouse_dir=wh, allow_shrink=shrink)


@pytest.fixture
def schema(tmp_path: Path) -> Path:
    path = tmp_path / "any.yaml"
    path.write_text("schema_type: dataframe\ncolumns: {}\n")
    return path


@pytest.fixture
def excerpts(tmp_path: Path) -> Iterator[Writer]:
    """The writer of a warehouse holding HCPCS 2016 (reconstructed), 2017 and 2018."""
    wh = tmp_path / "wh"
    hcpcs_warehouse(
        wh,
        [
            ("2016", CASES / "reconstructed_2016_ANWEB.txt"),
            ("2017", CASES / "excerpt_2017_ANWEB.txt"),
            ("2018", CASES / "excerpt_2018_ANWEB.txt"),
        ],
    )
    with open_writer(wh) as writer:
        yield writer


CODE_SETS = {"hcpcs": source("hcpcs"), "cpt": source("cpt")}


def test_findings_against_hcpcs_excerpts(excerpts: Writer, schema: Path) -> None:
    cfg, con = policy(schema), excerpts.con
    versions = {
        "2016Q3": [
            ("S3854", "home", None, None),
            ("J7342", "office", None, None),  # added in 2017: not in 2016
            ("C9014", "office", None, None),  # added in 2018: a later version does not count
            ("A5513", "office", None, None),
        ],
        "2017Q3": [("A5513", "office", None, None), ("S3854", "home", None, None)],
        "2018Q3": [
            ("G0202", "office", None, None),
            ("A5513", "office", "77067", None),
            ("A9999", "home", None, None),
            ("A0000", "home", None, "2018-03-31"),  # retired before 2018-07-01: not in force
            ("J7342", "facility", "XYZ1", "2018-12-31"),  # retires later: in force
            ("S3854", "home", "G0202", None),
            ("C9014", "office", None, None),
        ],
        "2019": [("G0202", "office", None, None)],
        "2019Q2": [("G0202", "office", None, None), ("C9014", "office", None, None)],
    }
    with excerpts.transaction():
        for label, rows in versions.items():
            load(con, cfg, label, rows)
        counts = {label: compute_findings(con, cfg, label, CODE_SETS) for label in versions}
    assert counts == {"2016Q3": 3, "2017Q3": 0, "2018Q3": 5, "2019": 1, "2019Q2": 2}

    assert findings(excerpts, "2016Q3") == [
        ("C9014|office", "code", "C9014", "unknown", "hcpcs", "2016", None, None, None),
        ("J7342|office", "code", "J7342", "unknown", "hcpcs", "2016", None, None, None),
        ("S3854|home", "code", "S3854", "retired", "hcpcs", "2016", date(2016, 1, 1), None, None),
    ]
    on = "2018-07-01"
    assert findings(excerpts, "2018Q3") == [
        ("A5513|office", "alt_code", "77067", "unchecked", "cpt", None, None, None,
         NO_CPT.format(on)),
        ("A9999|home", "code", "A9999", "unknown", "hcpcs", "2018", None, None, None),
        ("G0202|office", "code", "G0202", "retired", "hcpcs", "2018", date(2018, 1, 1), "77067",
         None),
        ("S3854|home", "alt_code", "G0202", "retired", "hcpcs", "2018", date(2018, 1, 1),
         "77067", None),
        ("J7342|facility", "alt_code", "XYZ1", "unchecked", None, None, None, None,
         "its shape is none of its code sets (hcpcs, cpt)"),
    ]  # fmt: skip
    # HCPCS 2018 is effective exactly a year before 2019-01-01: still checked.
    assert findings(excerpts, "2019") == [
        ("G0202|office", "code", "G0202", "retired", "hcpcs", "2018", date(2018, 1, 1), "77067",
         None),
    ]  # fmt: skip
    too_old = "hcpcs 2018 (effective 2018-01-01) is more than a year older than 2019-04-01"
    assert findings(excerpts, "2019Q2") == [
        ("C9014|office", "code", "C9014", "unchecked", "hcpcs", "2018", None, None, too_old),
        ("G0202|office", "code", "G0202", "unchecked", "hcpcs", "2018", None, None, too_old),
    ]
    assert code_set_versions(con, cfg, "2016Q3") == {"hcpcs": "2016", "cpt": None}
    assert code_set_versions(con, cfg, "2019Q2") == {"hcpcs": "2018", "cpt": None}

    # Recomputing replaces the version's rows, and only those.
    with excerpts.transaction():
        assert compute_findings(con, cfg, "2018Q3", CODE_SETS) == 5
    total = con.execute("SELECT count(*) FROM findings").fetchone()
    assert total == (3 + 5 + 1 + 2,)


def test_findings_summary(excerpts: Writer, schema: Path) -> None:
    cfg, con = policy(schema), excerpts.con
    with excerpts.transaction():
        load(con, cfg, "2017Q3", [("A5513", "office", None, None)])
        load(
            con,
            cfg,
            "2018Q3",
            [
                ("G0202", "office", None, None),
                ("A5513", "office", "77067", None),
                ("A9999", "home", None, None),
                ("J7342", "facility", "XYZ1", None),
                ("S3854", "home", "G0202", None),
                ("C9014", "office", "77067", None),
            ],
        )
        assert compute_findings(con, cfg, "2017Q3", CODE_SETS) == 0
        assert compute_findings(con, cfg, "2018Q3", CODE_SETS) == 6
    assert findings_summary(con, "payer_pa", "2017Q3") == []
    assert findings_summary(con, "payer_pa", "2018Q3") == [
        "## Findings",
        "",
        "3 rows point at retired or unknown codes.",
        "",
        "| code | finding | code set | code set version | retired on | successors | rows | keys |",
        "|---|---|---|---|---|---|---:|---|",
        "| A9999 | unknown | hcpcs | 2018 |  |  | 1 | A9999\\|home |",
        "| G0202 | retired | hcpcs | 2018 | 2018-01-01 | 77067 | 2 "
        "| G0202\\|office, S3854\\|home |",
        "",
        "### Unchecked",
        "",
        "| reason | codes | rows |",
        "|---|---:|---:|",
        "| its shape is none of its code sets (hcpcs, cpt) | 1 | 1 |",
        "| no cpt version in force on 2018-07-01 | 1 | 2 |",
        "",
    ]


def test_codes_dropped_after_retiring(tmp_path: Path, schema: Path) -> None:
    """A 2019 file made from the 2018 excerpt without G0202 (lines 21-22) and G0259 (line 23)."""
    lines = (CASES / "excerpt_2018_ANWEB.txt").read_bytes().split(b"\r\n")
    assert lines[20].startswith(b"G0202") and lines[22].startswith(b"G0259")
    derived = tmp_path / "derived.txt"
    derived.write_bytes(b"\r\n".join(lines[:20] + lines[23:]))
    wh = tmp_path / "wh"
    hcpcs_warehouse(
        wh,
        [("2017", CASES / "excerpt_2017_ANWEB.txt"), ("2018", CASES / "excerpt_2018_ANWEB.txt")],
    )
    hcpcs_warehouse(wh, [("2019", derived)], shrink=True)  # G0259 was active: 1 of 8 vanish
    cfg = policy(schema)
    with open_writer(wh) as writer, writer.transaction():
        rows = [("G0202", "office", None, None), ("G0259", "office", None, None)]
        load(writer.con, cfg, "2019Q3", rows)
        assert compute_findings(writer.con, cfg, "2019Q3", CODE_SETS) == 2
        assert findings(writer, "2019Q3") == [
            # the last known row (2018, line 21) names its first invalid day and successor
            ("G0202|office", "code", "G0202", "retired", "hcpcs", "2019", date(2018, 1, 1),
             "77067", None),
            # active in 2018 (line 23), gone in 2019: retired on 2019's effective date
            ("G0259|office", "code", "G0259", "retired", "hcpcs", "2019", date(2019, 1, 1), None,
             None),
        ]  # fmt: skip
        # The same dates as the codes' `retired` change rows.
        retired = {
            (c.key, c.effective_date)
            for old, new in (("2017", "2018"), ("2018", "2019"))
            for c in changes_between(writer.con, source("hcpcs"), old, new).itertuples()
            if c.change_type == "retired"
        }
        assert retired == {("G0202", date(2018, 1, 1)), ("G0259", date(2019, 1, 1))}


def test_undated_retirement_dates_from_the_version_that_retired_it(
    tmp_path: Path, schema: Path
) -> None:
    """A code set whose retired rows carry no date: retired on the effective date of the version
    from which the code has been retired, even when its row changed again later; a code claimed
    by two declared sets gets a finding from each."""
    mini = SourceConfig(
        name="mini",
        title="A tiny code set",
        family="table",
        key=("code",),
        schema=schema,
        descriptors=("descr",),
        attributes=("deleted",),
        source_action=None,
        columns=(Column("code", "Code"), Column("descr", "Descr"), Column("deleted", "Deleted")),
        retire=Retirement("deleted", active=("", "N")),  # "Y" is not a date: no first invalid day
        code_shape=r"M\d{3}",
    )
    mini2 = SourceConfig(
        name="mini2", title="Never loaded", family="table", key=("code",), schema=schema,
        descriptors=(), attributes=(), code_shape=r"M00\d",
    )  # fmt: skip
    cfg = policy(schema, ("mini", "mini2"))
    sets = {"mini": mini, "mini2": mini2}
    with open_writer(tmp_path / "wh") as writer, writer.transaction():
        con = writer.con
        load(con, mini, "2020", [("M001", "one", "N"), ("M002", "two", None)])
        load(con, mini, "2021", [("M001", "one", "Y"), ("M002", "two", None)])
        load(con, mini, "2022", [("M001", "one, revised", "Y")])
        rows = [("M001", "x", None, None), ("M002", "x", None, None), ("M003", "x", None, None)]
        load(con, cfg, "2022Q2", rows)
        assert compute_findings(con, cfg, "2022Q2", sets) == 6
        no_mini2 = "no mini2 version in force on 2022-04-01"
        assert findings(writer, "2022Q2") == [
            ("M001|x", "code", "M001", "retired", "mini", "2022", date(2021, 1, 1), None, None),
            ("M001|x", "code", "M001", "unchecked", "mini2", None, None, None, no_mini2),
            ("M002|x", "code", "M002", "retired", "mini", "2022", date(2022, 1, 1), None, None),
            ("M002|x", "code", "M002", "unchecked", "mini2", None, None, None, no_mini2),
            ("M003|x", "code", "M003", "unknown", "mini", "2022", None, None, None),
            ("M003|x", "code", "M003", "unchecked", "mini2", None, None, None, no_mini2),
        ]
        retired = [
            (c.key, c.effective_date)
            for old, new in (("2020", "2021"), ("2021", "2022"))
            for c in changes_between(con, mini, old, new).itertuples()
            if c.change_type == "retired"
        ]
        assert retired == [("M001", date(2021, 1, 1)), ("M002", date(2022, 1, 1))]

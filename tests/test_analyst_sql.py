"""The reader file's SQL macros (issue 9 §2), called on a bare read-only DuckDB connection and
compared with the CLI commands that answer the same questions: `diff`, `history`, the published
catalogs, `findings --as-of`.

One warehouse holds the synthetic CPT years (their truth files say what changed), the HCPCS
excerpts of real CMS records (tests/cases/hcpcs: G0202 retired 2018-01-01 with successor 77067)
and an invented payer list with a composite key, a descriptor and CPT- and HCPCS-shaped codes.
"""

from __future__ import annotations

import csv
import itertools
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from declared_sources import declared

from codecatalog.cli import main
from codecatalog.diff.changes import CHANGE_COLUMNS
from codecatalog.diff.normalise import descriptor_form
from codecatalog.findings import FINDING_COLUMNS
from codecatalog.findings_as_of import AS_OF_TABLE, findings_as_of
from codecatalog.pipeline import refresh
from codecatalog.warehouse import loaded_releases, open_reader

HCPCS = Path(__file__).parent / "cases" / "hcpcs"
PAYER = """
[payer_pa]
title = "Invented prior-authorization list"
family = "table"
key = ["code", "site"]
schema = "tariff.yaml"
descriptors = ["note"]
attributes = ["units"]
code_columns = ["code"]
code_sets = ["hcpcs", "cpt"]
[payer_pa.columns]
code = "Code"
site = "Site"
note = "Note"
units = "Units"

[payer_list]
title = "Invented list of codes needing a referral: a key and nothing tracked"
family = "table"
key = ["code"]
schema = "tariff.yaml"
descriptors = []
attributes = []
code_columns = ["code"]
code_sets = ["hcpcs"]
[payer_list.columns]
code = "Code"
"""
LIST_RELEASES = {"2018Q1": "Code\nG0202\nA5513\n", "2018Q2": "Code\nA5513\nJ7342\n"}
HEADER = "Code,Site,Note,Units"


def payer_releases(retired_2025: str) -> dict[str, list[str]]:
    """Three versions: an editorial and a revised note, an added, a vanished and a returning
    key, codes retired (G0202, `retired_2025`), unknown (A9999) and not yet checkable."""
    return {
        "2018Q1": [
            'G0202,office,"Prior auth, required",1',
            "A9999,home,Home use,2",
            "77067,office,Screening,1",
        ],
        "2018Q3": [
            "G0202,office,Prior auth required,1",
            "77067,office,Screening; bilateral,2",
            "A5513,office,New item,1",
        ],
        "2026Q1": [
            "A5513,office,New item,1",
            "A9999,home,Home use,2",
            f"{retired_2025},office,Retired last year,1",
            "97383,office,Back again,1",
        ],
    }


def retired_in_2025(samples: Path) -> str:
    """A CPT code the truth files retire in 2025 and do not bring back."""
    steps = {}
    for step in ("2024_2025", "2025_2026"):
        with (samples / "truth" / f"changes_{step}.csv").open(encoding="utf-8") as f:
            steps[step] = list(csv.DictReader(f))
    back = {r["key"] for r in steps["2025_2026"] if r["change_type"] == "reactivated"}
    return next(
        r["key"]
        for r in steps["2024_2025"]
        if r["change_type"] == "retired" and r["key"] not in back
    )


@pytest.fixture(scope="module")
def built(
    _loaded: Path, samples: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str]]:
    """The warehouse (CPT 2024–2026, HCPCS 2016–2018, payer_pa) and the retired CPT code used."""
    root = tmp_path_factory.mktemp("analyst_sql")
    wh = root / "wh"
    shutil.copytree(_loaded, wh)
    for version, name in [
        ("2016", "reconstructed_2016_ANWEB.txt"),
        ("2017", "excerpt_2017_ANWEB.txt"),
        ("2018", "excerpt_2018_ANWEB.txt"),
    ]:
        refresh("hcpcs", str(HCPCS / name), version, warehouse_dir=wh)
    retired = retired_in_2025(samples)
    with declared(root, PAYER):
        for version, rows in payer_releases(retired).items():
            path = root / f"payer_{version}.csv"
            path.write_text("\n".join([HEADER, *rows]) + "\n")
            refresh("payer_pa", str(path), version, warehouse_dir=wh, allow_shrink=True)
        for version, text in LIST_RELEASES.items():
            path = root / f"list_{version}.csv"
            path.write_text(text)
            refresh("payer_list", str(path), version, warehouse_dir=wh, allow_shrink=True)
        yield wh, retired


@pytest.fixture
def bare(built: tuple[Path, str]) -> Iterator[duckdb.DuckDBPyConnection]:
    """The reader file as any DuckDB client opens it: nothing registered, nothing imported."""
    con = duckdb.connect(str(built[0] / "codecatalog.duckdb"), read_only=True)
    yield con
    con.close()


def plain(value: Any) -> Any:
    """A value as the CLI's JSON writes it (dates as ISO text)."""
    return value.isoformat() if isinstance(value, date) else value


def macro_rows(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[dict[str, Any]]:
    result = con.execute(sql, list(params))
    names = [d[0] for d in result.description or []]
    return [{n: plain(v) for n, v in zip(names, row, strict=True)} for row in result.fetchall()]


def cli_json(capsys: pytest.CaptureFixture, *argv: str) -> list[dict[str, Any]]:
    assert main([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_changes_between_equals_diff_for_every_pair(
    built: tuple[Path, str],
    bare: duckdb.DuckDBPyConnection,
    samples: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    wh = str(built[0])
    for name in ("cpt", "hcpcs", "payer_pa", "payer_list"):
        versions = [r.version for r in loaded_releases(bare, name)]
        for old, new in itertools.combinations(versions, 2):
            found = macro_rows(bare, "SELECT * FROM changes_between(?, ?, ?)", name, old, new)
            expected = cli_json(capsys, "diff", name, old, new, "--warehouse", wh)
            assert found == expected, (name, old, new)
            assert list(found[0]) == CHANGE_COLUMNS
    # Against the generator's own truth, too (text as its CSV writes it).
    with (samples / "truth" / "changes_2024_2025.csv").open(encoding="utf-8") as f:
        truth = list(csv.DictReader(f))
    found = macro_rows(bare, "SELECT * FROM changes_between('cpt', '2024', '2025')")
    assert [{k: "" if v is None else str(v) for k, v in r.items()} for r in found] == truth
    # The payer step: an editorial and a revised note, a changed attribute, added and retired.
    found = macro_rows(bare, "SELECT * FROM changes_between('payer_pa', '2018Q1', '2018Q3')")
    assert [(r["key"], r["change_type"], r["field"]) for r in found] == [
        ("77067|office", "attribute_changed", "units"),
        ("77067|office", "descriptor_revised", "note"),
        ("A5513|office", "added", None),
        ("A9999|home", "retired", None),
        ("G0202|office", "descriptor_editorial", "note"),
    ]
    # A source that tracks no field still has rows that come and go.
    found = macro_rows(bare, "SELECT * FROM changes_between('payer_list', '2018Q1', '2018Q2')")
    assert [(r["key"], r["change_type"], r["effective_date"]) for r in found] == [
        ("G0202", "retired", "2018-04-01"),
        ("J7342", "added", "2018-04-01"),
    ]
    published = built[0] / "published" / "payer_list" / "2018Q2" / "changes.csv"
    with published.open(encoding="utf-8") as f:
        assert [(r["key"], r["change_type"]) for r in csv.DictReader(f)] == [
            ("G0202", "retired"),
            ("J7342", "added"),
        ]


def test_code_history_equals_history(
    built: tuple[Path, str],
    bare: duckdb.DuckDBPyConnection,
    samples: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    wh, retired = str(built[0]), built[1]
    changed = macro_rows(bare, "SELECT * FROM changes_between('cpt', '2024', '2026')")
    one_of_each = {r["change_type"]: r["key"] for r in changed}  # a key per kind of change
    unchanged = bare.execute(
        "SELECT min(code) FROM catalog_as_of('cpt', DATE '2026-01-01') "
        "WHERE code NOT IN (SELECT key FROM changes_between('cpt', '2024', '2026'))"
    ).fetchall()[0][0]
    keys = {
        "cpt": sorted({*one_of_each.values(), "97383", retired, unchanged}),
        "hcpcs": [k for (k,) in bare.execute("SELECT DISTINCT code FROM hcpcs_catalog").fetchall()],
        "payer_pa": [
            "G0202|office",
            "77067|office",
            "A5513|office",
            "A9999|home",
            f"{retired}|office",
        ],
    }
    for name, listed in keys.items():
        for key in listed:
            found = macro_rows(bare, "SELECT * FROM code_history(?, ?)", name, key)
            assert found == cli_json(capsys, "history", name, key, "--warehouse", wh), (name, key)
    reactivated = macro_rows(bare, "SELECT * FROM code_history('cpt', '97383')")
    assert [(r["to_version"], r["change_type"], r["source_action"]) for r in reactivated] == [
        ("2025", "retired", "DELETED"),
        ("2026", "reactivated", "ADDED"),
    ]
    assert macro_rows(bare, "SELECT * FROM code_history('cpt', ?)", unchanged) == []
    away_and_back = macro_rows(bare, "SELECT * FROM code_history('payer_pa', 'A9999|home')")
    assert [(r["to_version"], r["change_type"]) for r in away_and_back] == [
        ("2018Q3", "retired"),
        ("2026Q1", "reactivated"),
    ]


def test_catalog_as_of_is_the_published_catalog_in_force(
    built: tuple[Path, str], bare: duckdb.DuckDBPyConnection
) -> None:
    published = built[0] / "published"
    cases = [
        ("cpt", "2024-06-30", "2024"),
        ("cpt", "2025-01-01", "2025"),
        ("cpt", "2030-01-01", "2026"),
        ("hcpcs", "2017-12-31", "2017"),
        ("payer_pa", "2018-07-01", "2018Q3"),
        ("payer_pa", "2025-12-31", "2018Q3"),
    ]
    for name, day, version in cases:
        assert bare.execute("SELECT version_in_force(?, ?)", [name, day]).fetchall() == [(version,)]
        found = bare.execute("SELECT * FROM catalog_as_of(?, ?::DATE)", [name, day]).fetchall()
        catalog = published / name / version / "catalog.parquet"
        expected = bare.execute("SELECT * FROM read_parquet(?)", [str(catalog)]).fetchall()
        assert found == expected and found, (name, day)
    assert bare.execute("SELECT version_in_force('cpt', DATE '2023-12-31')").fetchall() == [(None,)]


@pytest.mark.parametrize("day", ["2018-02-01", "2018-08-01", "2019-06-01", "2026-03-01"])
def test_findings_as_of_equals_the_findings_command(
    built: tuple[Path, str],
    bare: duckdb.DuckDBPyConnection,
    day: str,
    capsys: pytest.CaptureFixture,
) -> None:
    wh = built[0]
    found = macro_rows(bare, "SELECT * FROM findings_as_of(?::DATE)", day)
    # Every row, unchecked ones included, equals what the command computes.
    con = open_reader(wh)
    try:
        findings_as_of(con, date.fromisoformat(day))
        columns = ", ".join(f'"{c}"' for c in FINDING_COLUMNS)
        expected = macro_rows(
            con,
            f"SELECT {columns} FROM {AS_OF_TABLE} "
            'ORDER BY codeset, code, key NULLS FIRST, "column", code_set NULLS FIRST',
        )
    finally:
        con.close()
    assert found == expected and found
    listed = cli_json(capsys, "findings", "--as-of", day, "--warehouse", str(wh))
    shown = [
        {**r, "retired_on": r["retired_on"] and r["retired_on"][:10]}
        for r in sorted(listed, key=lambda r: (r["code"], r["key"]))
    ]
    assert shown == [
        {
            "code": r["code"],
            "finding": r["finding"],
            "code_set": r["code_set"],
            "code_set_version": r["code_set_version"],
            "retired_on": r["retired_on"],
            "successors": r["successors"],
            "source": r["codeset"],
            "version": r["version"],
            "key": r["key"],
            "column": r["column"],
        }
        for r in sorted(found, key=lambda r: (r["code"], r["key"]))
        if r["finding"] in ("retired", "unknown")
    ]


def test_findings_as_of_rows(built: tuple[Path, str], bare: duckdb.DuckDBPyConnection) -> None:
    """The rules' outcomes in full on two dates, including each unchecked reason."""
    retired = built[1]
    columns = "codeset, version, key, code, finding, code_set, code_set_version, retired_on, reason"
    rows = bare.execute(f"SELECT {columns} FROM findings_as_of(DATE '2019-06-01')").fetchall()
    too_old = "hcpcs 2018 (effective 2018-01-01) is more than a year older than 2019-06-01"
    no_cpt = "no cpt version in force on 2019-06-01"
    assert rows == [
        ("payer_list", "2018Q2", "A5513", "A5513", "unchecked", "hcpcs", "2018", None, too_old),
        ("payer_list", "2018Q2", "J7342", "J7342", "unchecked", "hcpcs", "2018", None, too_old),
        ("payer_pa", "2018Q3", "77067|office", "77067", "unchecked", "cpt", None, None, no_cpt),
        (
            "payer_pa",
            "2018Q3",
            "A5513|office",
            "A5513",
            "unchecked",
            "hcpcs",
            "2018",
            None,
            too_old,
        ),
        (
            "payer_pa",
            "2018Q3",
            "G0202|office",
            "G0202",
            "unchecked",
            "hcpcs",
            "2018",
            None,
            too_old,
        ),
    ]
    rows = bare.execute(f"SELECT {columns} FROM findings_as_of(DATE '2026-03-01')").fetchall()
    gone = "hcpcs 2018 (effective 2018-01-01) is more than a year older than 2026-03-01"
    assert rows == [
        ("payer_list", "2018Q2", "A5513", "A5513", "unchecked", "hcpcs", "2018", None, gone),
        ("payer_list", "2018Q2", "J7342", "J7342", "unchecked", "hcpcs", "2018", None, gone),
        ("payer_pa", "2026Q1", f"{retired}|office", retired, "retired", "cpt", "2026",
         date(2025, 1, 1), None),
        ("payer_pa", "2026Q1", "A5513|office", "A5513", "unchecked", "hcpcs", "2018", None, gone),
        ("payer_pa", "2026Q1", "A9999|home", "A9999", "unchecked", "hcpcs", "2018", None, gone),
    ]  # fmt: skip


def test_macros_refuse_bad_arguments_with_one_line(bare: duckdb.DuckDBPyConnection) -> None:
    cases = {
        "SELECT * FROM changes_between('cpx', '2024', '2025')": (
            "changes_between: no source 'cpx' is loaded (loaded: cpt, hcpcs, payer_list, payer_pa)"
        ),
        "SELECT * FROM changes_between('cpt', '2023', '2025')": (
            "cpt version '2023' is not loaded (loaded: 2024, 2025, 2026)"
        ),
        "SELECT * FROM changes_between('cpt', '2026', '2024')": (
            "FROM (2026) must be earlier than TO (2024)"
        ),
        "SELECT * FROM code_history('hcpcs', 'Z9999')": "hcpcs key 'Z9999' is in no loaded version",
        "SELECT * FROM catalog_as_of('hcpcs', DATE '2015-06-01')": (
            "no hcpcs version is in force on 2015-06-01: the first loaded is 2016 "
            "(effective 2016-01-01)"
        ),
    }
    for sql, message in cases.items():
        with pytest.raises(duckdb.InvalidInputException) as raised:
            bare.execute(sql).fetchall()
        assert str(raised.value).splitlines()[0] == f"Invalid Input Error: {message}"
    # Version labels may be given as numbers; a composite key is joined with `|`.
    assert bare.execute("SELECT count(*) FROM changes_between('cpt', 2024, 2025)").fetchall() == (
        bare.execute("SELECT count(*) FROM changes_between('cpt', '2024', '2025')").fetchall()
    )


def test_query_command_and_a_process_without_codecatalog(
    built: tuple[Path, str], capsys: pytest.CaptureFixture
) -> None:
    wh = str(built[0])
    via_query = cli_json(
        capsys, "query", "SELECT * FROM changes_between('hcpcs', '2016', '2018')", "--warehouse", wh
    )
    assert via_query == cli_json(capsys, "diff", "hcpcs", "2016", "2018", "--warehouse", wh)
    # A Python process that imports only duckdb: the macros are plain SQL in the file.
    script = """
import sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
rows = con.execute("SELECT to_version, change_type, field, new_value, effective_date "
                   "FROM code_history('hcpcs', 'G0202')").fetchall()
print(rows, "codecatalog" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", script, str(Path(wh) / "codecatalog.duckdb")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out == (
        "[('2018', 'attribute_changed', 'term_dt', '20171231', datetime.date(2018, 1, 1)), "
        "('2018', 'attribute_changed', 'xref1', '77067', datetime.date(2018, 1, 1)), "
        "('2018', 'retired', None, '77067', datetime.date(2018, 1, 1))] False\n"
    )


def test_every_loaded_descriptor_has_its_form(bare: duckdb.DuckDBPyConnection) -> None:
    texts = bare.execute(
        """SELECT DISTINCT t FROM (
             SELECT unnest([short_descriptor, medium_descriptor, long_descriptor,
                            consumer_descriptor]) AS t FROM cpt_catalog
             UNION ALL SELECT clinician_descriptor FROM cpt_details
             UNION ALL SELECT unnest([short_descriptor, long_descriptor]) FROM hcpcs_catalog
             UNION ALL SELECT note FROM payer_pa_catalog) WHERE t IS NOT NULL"""
    ).fetchall()
    stored = {
        text: (words, marks)
        for text, words, marks in bare.execute("SELECT * FROM descriptor_forms").fetchall()
    }
    assert len(texts) > 10_000
    assert {t: stored.get(t) for (t,) in texts} == {t: descriptor_form(t) for (t,) in texts}


def test_a_writer_renews_missing_macros(built: tuple[Path, str], tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    shutil.copytree(built[0], wh)
    con = duckdb.connect(str(wh / "codecatalog.writer.duckdb"))
    con.execute("DROP MACRO TABLE changes_between")
    con.execute("DELETE FROM meta WHERE name = 'analyst_sql_sha256'")
    con.close()
    shutil.copyfile(wh / "codecatalog.writer.duckdb", wh / "codecatalog.duckdb")
    with pytest.raises(duckdb.CatalogException):
        duckdb.connect(str(wh / "codecatalog.duckdb"), read_only=True).execute(
            "SELECT * FROM changes_between('cpt', '2024', '2025')"
        )
    assert main(["current", "--warehouse", str(wh)]) == 0  # takes the writer lock
    con = duckdb.connect(str(wh / "codecatalog.duckdb"), read_only=True)
    count = con.execute("SELECT count(*) FROM changes_between('cpt', '2024', '2025')").fetchall()
    assert count[0][0] > 0

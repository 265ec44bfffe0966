"""The read commands of issue 9 §1: `versions`, `history`, `lookup`, `query` and `diff` between any
two loaded versions; on the synthetic CPT years (expectations from their truth files), the HCPCS
excerpts of real CMS records and a small declared table source."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from declared_sources import declared

from codecatalog import queries
from codecatalog.cli import EXIT_REFUSED, main
from codecatalog.diff.changes import CHANGE_COLUMNS, changes_between
from codecatalog.pipeline import refresh
from codecatalog.sources import source
from codecatalog.warehouse import loaded_releases, open_reader

HCPCS = Path(__file__).parent / "cases" / "hcpcs"
TRUTH_STEPS = ("2024_2025", "2025_2026")


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def truth_rows(samples: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for step in TRUTH_STEPS:
        with (samples / "truth" / f"changes_{step}.csv").open(encoding="utf-8") as f:
            rows += list(csv.DictReader(f))
    return rows


def as_text(rows: list[dict]) -> list[tuple[str, ...]]:
    """Change rows as tuples of text (None as ''), as the truth files write them."""
    return [tuple("" if r[c] is None else str(r[c]) for c in CHANGE_COLUMNS) for r in rows]


def frame_rows(frame) -> list[dict]:  # type: ignore[no-untyped-def]
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


@pytest.fixture
def hcpcs_wh(tmp_path: Path) -> Path:
    """The 2016 (reconstructed), 2017 and 2018 HCPCS excerpts loaded."""
    wh = tmp_path / "hcpcs_wh"
    for version, name in [
        ("2016", "reconstructed_2016_ANWEB.txt"),
        ("2017", "excerpt_2017_ANWEB.txt"),
        ("2018", "excerpt_2018_ANWEB.txt"),
    ]:
        refresh("hcpcs", str(HCPCS / name), version, warehouse_dir=wh)
    return wh


# --- versions -----------------------------------------------------------------------------------


def test_versions_table_and_json(
    loaded_warehouse: Path, samples: Path, capsys: pytest.CaptureFixture
) -> None:
    wh = str(loaded_warehouse)
    code, out, err = run(capsys, "versions", "cpt", "--warehouse", wh)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "version  effective_date  correction  loaded_at            row_count  published  since  "
        "added  retired  reactivated  descriptor_revised  descriptor_editorial  "
        "attribute_changed  latest  current",
        "2024     2024-01-01      0           2026-01-02 06:30:00  10833      yes",
        "2025     2025-01-01      0           2026-01-02 06:30:00  10935      yes        2024   "
        "201    100      1            229                 62                    20",
        "2026     2026-01-01      0           2026-01-02 06:30:00  11038      yes        2025   "
        "201    100      2            224                 62                    20                 "
        "latest  current",
    ]
    _, out, _ = run(capsys, "versions", "cpt", "--warehouse", wh, "--format", "json")
    found = json.loads(out)
    summary = json.loads((samples / "truth" / "summary.json").read_text())
    for row, step in zip(found[1:], TRUTH_STEPS, strict=True):
        assert {k: row[k] for k in summary[step]} == summary[step]
    assert found[0]["since"] is None and found[0]["added"] is None
    assert [(r["version"], r["latest"], r["current"]) for r in found] == [
        ("2024", "", ""),
        ("2025", "", ""),
        ("2026", "latest", "current"),
    ]
    assert found[2]["effective_date"] == "2026-01-01"
    assert found[2]["loaded_at"] == "2026-01-02 06:30:00"


def test_versions_recomputes_an_unpublished_step(
    loaded_warehouse: Path, samples: Path, capsys: pytest.CaptureFixture
) -> None:
    (loaded_warehouse / "published" / "cpt" / "2025" / "changes.parquet").unlink()
    _code, out, _ = run(
        capsys, "versions", "cpt", "--warehouse", str(loaded_warehouse), "--format", "csv"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    summary = json.loads((samples / "truth" / "summary.json").read_text())
    assert {k: int(rows[1][k]) for k in summary["2024_2025"]} == summary["2024_2025"]


# --- history ------------------------------------------------------------------------------------


def test_history_of_a_retired_then_reactivated_code(
    loaded_warehouse: Path, samples: Path, capsys: pytest.CaptureFixture
) -> None:
    # The truth files: 97383 retired in 2025 (DELETED) and reactivated in 2026 (ADDED).
    expected = [r for r in truth_rows(samples) if r["key"] == "97383"]
    assert [(r["to_version"], r["change_type"], r["source_action"]) for r in expected] == [
        ("2025", "retired", "DELETED"),
        ("2026", "reactivated", "ADDED"),
    ]
    code, out, err = run(capsys, "history", "cpt", "97383", "--warehouse", str(loaded_warehouse))
    assert (code, err) == (0, "")
    assert out == (
        "cpt 97383: active in 2024 (the first loaded version)\n"
        "version  effective_date  change_type  source_action  change\n"
        "2025     2025-01-01      retired      DELETED\n"
        "2026     2026-01-01      reactivated  ADDED\n"
    )
    _, out, _ = run(
        capsys, "history", "cpt", "97383", "--warehouse", str(loaded_warehouse), "--format", "csv"
    )
    assert list(csv.DictReader(io.StringIO(out))) == expected


def test_history_of_a_revised_code_and_an_unchanged_one(
    loaded_warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    _, out, _ = run(capsys, "history", "cpt", "00176", "--warehouse", str(loaded_warehouse))
    assert out == (
        "cpt 00176: active in 2024 (the first loaded version)\n"
        "version  effective_date  change_type         source_action  change\n"
        "2026     2026-01-01      descriptor_revised                 long_descriptor: "
        '"Anesthesia for resection of superior lunquel septum; second stage" → '
        '"Anesthesia for of superior lunquel septum; second stage"\n'
    )
    con = open_reader(loaded_warehouse)
    try:
        changed = {
            r[0] for r in changes_between(con, source("cpt"), "2024", "2026")[["key"]].values
        }
        unchanged = con.execute(
            "SELECT min(code) FROM cpt_catalog WHERE _from = 2024010100 AND _to IS NULL "
            "AND code NOT IN (SELECT code FROM cpt_details WHERE _from > 2024010100)"
        ).fetchone()[0]
    finally:
        con.close()
    assert unchanged not in changed
    _code, out, _ = run(capsys, "history", "cpt", unchanged, "--warehouse", str(loaded_warehouse))
    assert out.splitlines()[1:] == ["no changes since 2024"]


def test_history_equals_the_truth_and_the_diff_of_each_step(
    loaded_warehouse: Path, samples: Path
) -> None:
    """For the keys the truth files name: its history is exactly its truth rows, and each step
    is `changes_between` of the two neighbouring versions restricted to the key."""
    truth = truth_rows(samples)
    reactivated = {r["key"] for r in truth if r["change_type"] == "reactivated"}
    keys = sorted(set(sorted({r["key"] for r in truth})[::4]) | reactivated)  # 1 in 4: time
    con = open_reader(loaded_warehouse)
    try:
        cfg = source("cpt")
        steps = [
            frame_rows(changes_between(con, cfg, a, b))
            for a, b in [("2024", "2025"), ("2025", "2026")]
        ]
        for key in keys:
            found = queries.history(con, cfg, key)
            assert as_text(found) == [
                tuple(r[c] for c in CHANGE_COLUMNS) for r in truth if r["key"] == key
            ], key
            assert as_text(found) == as_text([r for step in steps for r in step if r["key"] == key])
    finally:
        con.close()


def test_hcpcs_history_with_the_release_action(
    hcpcs_wh: Path, capsys: pytest.CaptureFixture
) -> None:
    _, out, _ = run(capsys, "history", "hcpcs", "S3854", "--warehouse", str(hcpcs_wh))
    assert out == (
        "hcpcs S3854: retired in 2016 (the first loaded version)\n"
        "version  effective_date  change_type        source_action  change\n"
        '2017     2017-01-01      attribute_changed  R              term_dt: "20151231" → (none)\n'
        "2017     2017-01-01      reactivated        R\n"
    )
    _code, out, _ = run(capsys, "history", "hcpcs", "G0202", "--warehouse", str(hcpcs_wh))
    assert out == (
        "hcpcs G0202: active in 2016 (the first loaded version)\n"
        "version  effective_date  change_type        source_action  change\n"
        '2018     2018-01-01      attribute_changed  D              term_dt: (none) → "20171231"\n'
        '2018     2018-01-01      attribute_changed  D              xref1: (none) → "77067"\n'
        "2018     2018-01-01      retired            D              replaced by 77067\n"
    )
    con = open_reader(hcpcs_wh)
    try:
        cfg = source("hcpcs")
        steps = [
            frame_rows(changes_between(con, cfg, a, b))
            for a, b in [("2016", "2017"), ("2017", "2018")]
        ]
        keys = [k for (k,) in con.execute("SELECT DISTINCT code FROM hcpcs_catalog").fetchall()]
        for key in keys:
            expected = [r for step in steps for r in step if r["key"] == key]
            assert as_text(queries.history(con, cfg, key)) == as_text(expected), key
    finally:
        con.close()


# --- lookup -------------------------------------------------------------------------------------


def test_lookup_before_during_and_after_a_retirement(
    loaded_warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    wh = str(loaded_warehouse)

    def lines(day: str) -> list[str]:
        code, out, err = run(capsys, "lookup", "cpt", "97383", "--as-of", day, "--warehouse", wh)
        assert (code, err) == (0, "")
        return out.splitlines()

    before = lines("2024-06-01")
    assert before[:2] == [
        "97383 is active on 2024-06-01",
        "version in force: cpt 2024 (effective 2024-01-01)",
    ]
    assert "  short_descriptor               OPHTH EXAM FORNA PROTO 2-4" in before
    assert lines("2025-03-01") == [
        "97383 is not active on 2025-03-01 (retired on 2025-01-01; the release's history: "
        "'Code deleted. To report, see 96295')",
        "version in force: cpt 2025 (effective 2025-01-01)",
    ]
    assert lines("2026-03-01")[:2] == [
        "97383 is active on 2026-03-01",
        "version in force: cpt 2026 (effective 2026-01-01)",
    ]
    # Default: today (the clock of this machine is after 2026-01-01).
    _, out, _ = run(capsys, "lookup", "cpt", "97383", "--warehouse", wh, "--format", "json")
    found = json.loads(out)
    assert (found["as_of"], found["version"]) == (date.today().isoformat(), "2026")
    assert found["active"] is True
    assert found["record"]["long_descriptor"] == (
        "Ophthalmic examination using fornaxial protocol, 2-4 sessions per week"
    )
    _code, out, _ = run(
        capsys,
        "lookup",
        "cpt",
        "0017A",
        "--as-of",
        "2025-01-01",
        "--warehouse",
        wh,
        "--format",
        "csv",
    )
    row = next(csv.DictReader(io.StringIO(out)))
    assert {k: row[k] for k in ("version", "active", "retired_on", "successors")} == {
        "version": "2025",
        "active": "false",
        "retired_on": "2025-01-01",
        "successors": "",
    }


def test_hcpcs_lookup_names_retirement_date_and_successor(
    hcpcs_wh: Path, capsys: pytest.CaptureFixture
) -> None:
    wh = str(hcpcs_wh)
    _, out, _ = run(capsys, "lookup", "hcpcs", "G0202", "--as-of", "2017-12-31", "--warehouse", wh)
    assert out.splitlines()[:2] == [
        "G0202 is active on 2017-12-31",
        "version in force: hcpcs 2017 (effective 2017-01-01)",
    ]
    code, out, _ = run(
        capsys, "lookup", "hcpcs", "G0202", "--as-of", "2018-03-01", "--warehouse", wh
    )
    assert code == 0
    assert out.splitlines()[:2] == [
        "G0202 is not active on 2018-03-01 (retired on 2018-01-01, replaced by 77067)",
        "version in force: hcpcs 2018 (effective 2018-01-01)",
    ]
    assert "  term_dt           20171231" in out.splitlines()
    _, out, _ = run(capsys, "lookup", "hcpcs", "S3854", "--as-of", "2016-07-01", "--warehouse", wh)
    assert out.splitlines()[0] == "S3854 is not active on 2016-07-01 (retired on 2016-01-01)"
    _, out, _ = run(capsys, "lookup", "hcpcs", "S3854", "--as-of", "2017-07-01", "--warehouse", wh)
    assert out.splitlines()[0] == "S3854 is active on 2017-07-01"


# --- diff between any two versions ---------------------------------------------------------------

TARIFF = """
[tariff]
title = "Invented partner tariff"
family = "table"
key = ["code", "partner"]
schema = "tariff.yaml"
descriptors = ["label"]
attributes = ["rate"]
term_date = "end_date"
term_date_is = "first_invalid_day"
term_date_format = "%Y%m%d"
source_action = "changed"
max_vanished = 0.9

[tariff.columns]
code = "Code"
partner = "Partner"
label = "Label"
rate = "Rate"
end_date = "End Date"
changed = "Changed"
"""
TARIFF_HEADER = "Code,Partner,Label,Rate,End Date,Changed"
TARIFF_RELEASES = {
    "2026Q1": ["A0001,X,Alpha,10,,", "A0004,X,Delta,40,,", "A0005,X,Echo,50,,"],
    "2026Q2": [
        "A0001,X,Beta,20,,2",  # revised twice: FROM's value and TO's
        "A0002,X,Bravo,20,,2",  # only here: absent from both Q1 and Q3
        "A0003,X,Charlie,30,,2",  # added here, terminated in Q3: added and retired
        "A0004,X,Delta two,40,,2",  # revised here; Q3 does not mark it
        "A0005,X,Echo,50,,",
    ],
    "2026Q3": [
        "A0001,X,Gamma,30,,3",
        "A0003,X,Charlie,30,20260801,3",
        "A0004,X,Delta two,40,,",
        "A0005,X,Echo,50,,",
    ],
}


@pytest.fixture
def tariff_wh(tmp_path: Path) -> Iterator[Path]:
    wh = tmp_path / "wh"
    with declared(tmp_path, TARIFF):
        for version, rows in TARIFF_RELEASES.items():
            path = tmp_path / f"tariff_{version}.csv"
            path.write_text("\r\n".join([TARIFF_HEADER, *rows]) + "\r\n")
            refresh(
                "tariff", str(path), version, warehouse_dir=wh, clock=lambda: datetime(2026, 9, 1)
            )
        yield wh


def test_net_change_between_any_two_versions(
    tariff_wh: Path, capsys: pytest.CaptureFixture
) -> None:
    code, out, err = run(
        capsys,
        "diff",
        "tariff",
        "2026Q1",
        "2026Q3",
        "--warehouse",
        str(tariff_wh),
        "--format",
        "csv",
    )
    assert code == 0
    assert err == (
        "note: reconciliation omitted: 2026Q1 does not immediately precede 2026Q3 "
        "(2026Q2 loaded between them)\n"
    )
    assert out.splitlines() == [
        ",".join(CHANGE_COLUMNS),
        "tariff,2026Q1,2026Q3,A0001|X,attribute_changed,rate,10,30,2026-07-01,3",
        "tariff,2026Q1,2026Q3,A0001|X,descriptor_revised,label,Alpha,Gamma,2026-07-01,3",
        "tariff,2026Q1,2026Q3,A0003|X,added,,,,2026-07-01,3",
        "tariff,2026Q1,2026Q3,A0003|X,retired,,,,2026-08-01,3",
        "tariff,2026Q1,2026Q3,A0004|X,descriptor_revised,label,Delta,Delta two,2026-07-01,",
    ]
    code, out, err = run(
        capsys,
        "diff",
        "tariff",
        "2026Q2",
        "2026Q3",
        "--warehouse",
        str(tariff_wh),
        "--format",
        "csv",
    )
    assert (code, err) == (0, "")
    assert "A0002|X,retired" in out


def test_composite_key_history_and_lookup(tariff_wh: Path, capsys: pytest.CaptureFixture) -> None:
    wh = str(tariff_wh)
    _, out, _ = run(capsys, "history", "tariff", "A0003|X", "--warehouse", wh)
    assert out == (
        "tariff A0003|X: absent in 2026Q1 (the first loaded version)\n"
        "version  effective_date  change_type  source_action  change\n"
        "2026Q2   2026-04-01      added        2\n"
        "2026Q3   2026-08-01      retired      3\n"
    )
    _, out, _ = run(
        capsys, "lookup", "tariff", "A0003|X", "--as-of", "2026-07-31", "--warehouse", wh
    )
    assert out.splitlines()[0] == "A0003|X is active on 2026-07-31 (retired from 2026-08-01)"
    _, out, _ = run(
        capsys, "lookup", "tariff", "A0003|X", "--as-of", "2026-08-01", "--warehouse", wh
    )
    assert out.splitlines()[0] == "A0003|X is not active on 2026-08-01 (retired on 2026-08-01)"
    _code, out, _ = run(
        capsys, "lookup", "tariff", "A0002|X", "--as-of", "2026-09-01", "--warehouse", wh
    )
    assert out.splitlines()[0] == "A0002|X is not active on 2026-09-01 (retired on 2026-07-01)"
    con = open_reader(tariff_wh)
    try:
        cfg = queries.declaration(con, "tariff")
        releases = [r.version for r in loaded_releases(con, "tariff")]
        steps = [
            frame_rows(changes_between(con, cfg, a, b)) for a, b in itertools.pairwise(releases)
        ]
        for key in ["A0001|X", "A0002|X", "A0003|X", "A0004|X", "A0005|X"]:
            expected = [r for step in steps for r in step if r["key"] == key]
            assert as_text(queries.history(con, cfg, key)) == as_text(expected), key
    finally:
        con.close()


def test_hcpcs_net_change_takes_the_action_of_to(
    hcpcs_wh: Path, capsys: pytest.CaptureFixture
) -> None:
    _code, out, err = run(
        capsys, "diff", "hcpcs", "2016", "2018", "--warehouse", str(hcpcs_wh), "--format", "csv"
    )
    assert err.startswith("note: reconciliation omitted: 2016 does not immediately precede 2018")
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r["key"] in ("S3854", "J7342")]
    # S3854: reactivated by 2017's `R`; 2018 states `N`. J7342: added by 2017's `A`.
    assert [(r["key"], r["change_type"], r["source_action"]) for r in rows] == [
        ("J7342", "added", "N"),
        ("S3854", "attribute_changed", "N"),
        ("S3854", "reactivated", "N"),
    ]


# --- query --------------------------------------------------------------------------------------


def test_query_formats(loaded_warehouse: Path, capsys: pytest.CaptureFixture) -> None:
    sql = "SELECT version, effective_date, row_count FROM releases ORDER BY release_order"
    _, out, _ = run(capsys, "query", sql, "--warehouse", str(loaded_warehouse))
    assert out == (
        "version  effective_date  row_count\n"
        "2024     2024-01-01      10833\n"
        "2025     2025-01-01      10935\n"
        "2026     2026-01-01      11038\n"
    )
    _, out, _ = run(capsys, "query", sql, "--warehouse", str(loaded_warehouse), "--format", "json")
    assert json.loads(out)[0] == {
        "version": "2024",
        "effective_date": "2024-01-01",
        "row_count": 10833,
    }
    _code, out, _ = run(
        capsys, "query", sql + " LIMIT 1", "--warehouse", str(loaded_warehouse), "--format", "csv"
    )
    assert out == "version,effective_date,row_count\n2024,2024-01-01,10833\n"


def _state(wh: Path) -> dict[str, str]:
    return {
        str(p.relative_to(wh)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(wh.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    ("sql", "word"),
    [
        ("INSERT INTO meta VALUES ('x', 'y')", "INSERT"),
        ("DELETE FROM releases", "DELETE"),
        ("DROP TABLE cpt_catalog", "DROP"),
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
        ("COPY releases TO '{out}/releases.csv'", "COPY"),
        ("ATTACH '{out}/other.duckdb' AS other", "ATTACH"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("SET enable_external_access = true", "SET"),
    ],
)
def test_query_refuses_anything_but_reading(
    loaded_warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture, sql: str, word: str
) -> None:
    before = _state(loaded_warehouse)
    code, out, err = run(
        capsys, "query", sql.format(out=tmp_path), "--warehouse", str(loaded_warehouse)
    )
    assert (code, out) == (EXIT_REFUSED, "")
    refused = f"refused: query runs one SELECT on a read-only connection; {word} is not allowed"
    assert err == f"error: {refused}\n"
    assert _state(loaded_warehouse) == before
    assert not list(tmp_path.glob("releases.csv")) and not list(tmp_path.glob("other.duckdb"))


@pytest.mark.parametrize(
    "sql",
    [
        "COPY releases TO '{out}/releases.csv'",
        "EXPORT DATABASE '{out}/export'",
        "ATTACH '{out}/other.duckdb' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "INSERT INTO meta VALUES ('x', 'y')",
        "SET enable_external_access = true",
        "SELECT * FROM read_csv('{out}/any.csv')",
    ],
)
def test_the_query_connection_itself_refuses(
    loaded_warehouse: Path, tmp_path: Path, sql: str
) -> None:
    """Beyond the statement check: DuckDB itself refuses on the connection `query` opens."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "any.csv").write_text("a\n1\n")
    before = _state(loaded_warehouse)
    con = queries.reader_connection(loaded_warehouse)
    try:
        with pytest.raises(duckdb.Error):
            con.execute(sql.format(out=out))
    finally:
        con.close()
    assert _state(loaded_warehouse) == before
    assert sorted(p.name for p in out.iterdir()) == ["any.csv"]


def test_query_reading_a_file_is_refused_by_duckdb(
    loaded_warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "any.csv").write_text("a\n1\n")
    code, _, err = run(
        capsys,
        "query",
        f"SELECT * FROM read_csv('{tmp_path}/any.csv')",
        "--warehouse",
        str(loaded_warehouse),
    )
    assert code == EXIT_REFUSED
    assert err == (
        f'error: query: Permission Error: Cannot access file "{tmp_path}/any.csv" - file system '
        "operations are disabled by configuration\n"
    )


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["versions", "nope"],
            "unknown source 'nope'; declared: cpt, hcpcs, mue, ncci_ptp, opps_addb, pfs_rvu",
        ),
        (["versions", "hcpcs"], "no hcpcs version is loaded"),
        (
            ["history", "nope", "99213"],
            "unknown source 'nope'; declared: cpt, hcpcs, mue, ncci_ptp, opps_addb, pfs_rvu",
        ),
        (
            ["history", "cpt", "9999Z"],
            "cpt key '9999Z' is in no loaded version (loaded: 2024, 2025, 2026)",
        ),
        (["history", "cpt", "99213|X"], "cpt keys have 1 part(s), code; '99213|X' has 2"),
        (
            ["lookup", "cpt", "9999Z"],
            "cpt key '9999Z' is in no loaded version (loaded: 2024, 2025, 2026)",
        ),
        (
            ["lookup", "cpt", "97383", "--as-of", "2025-02-30"],
            "--as-of '2025-02-30' is not a date (YYYY-MM-DD)",
        ),
        (
            ["lookup", "cpt", "97383", "--as-of", "soon"],
            "--as-of 'soon' is not a date (YYYY-MM-DD)",
        ),
        (
            ["lookup", "cpt", "97383", "--as-of", "2023-12-31"],
            "no cpt version is in force on 2023-12-31: the first loaded, 2024, takes effect on "
            "2024-01-01",
        ),
        (
            ["lookup", "cpt", "48752", "--as-of", "2024-06-01"],
            "48752 is not in cpt 2024, the version in force on 2024-06-01: it first appears in "
            "2025 (effective 2025-01-01)",
        ),
        (
            ["diff", "cpt", "2024", "2023"],
            "cpt version '2023' is not loaded (loaded: 2024, 2025, 2026)",
        ),
        (
            ["diff", "nope", "2024", "2025"],
            "unknown source 'nope'; declared: cpt, hcpcs, mue, ncci_ptp, opps_addb, pfs_rvu",
        ),
        (
            ["query", "SELECT * FROM nope"],
            "query: Catalog Error: Table with name nope does not exist!",
        ),
        (["query", "SELECT 1; SELECT 2"], "query: give exactly one SQL statement (found 2)"),
        (
            ["query", "UPDATE meta SET value = '1'"],
            "refused: query runs one SELECT on a read-only connection; UPDATE is not allowed",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    loaded_warehouse: Path, capsys: pytest.CaptureFixture, argv: list[str], message: str
) -> None:
    before = _state(loaded_warehouse)
    code, out, err = run(capsys, *argv, "--warehouse", str(loaded_warehouse))
    assert (code, out, err) == (EXIT_REFUSED, "", f"error: {message}\n")
    assert _state(loaded_warehouse) == before

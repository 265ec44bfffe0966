"""Warehouses made by older code are migrated by the first writer: schema 1 (before interval
history, tests/cases/warehouse_v1), 2 (before descriptor forms) and 3 (before retractions)."""

from __future__ import annotations

import gzip
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from codecatalog import warehouse
from codecatalog.cli import main
from codecatalog.diff.changes import changes_between
from codecatalog.diff.normalise import descriptor_form
from codecatalog.intervals import rows_at
from codecatalog.pipeline import refresh
from codecatalog.retract import retract
from codecatalog.sources import source

CASES = Path(__file__).parent / "cases"
HCPCS = CASES / "hcpcs"
EXCERPTS = [
    ("2016", "reconstructed_2016_ANWEB.txt"),
    ("2017", "excerpt_2017_ANWEB.txt"),
    ("2018", "excerpt_2018_ANWEB.txt"),
]


def clock() -> datetime:
    return datetime(2026, 1, 2, 6, 30)


def unpack(case: str, wh: Path) -> Path:
    """A warehouse directory holding the writer file of tests/cases/`case` and its reader copy."""
    wh.mkdir()
    with gzip.open(CASES / case / "codecatalog.writer.duckdb.gz") as packed:
        (wh / "codecatalog.writer.duckdb").write_bytes(packed.read())
    shutil.copyfile(wh / "codecatalog.writer.duckdb", wh / "codecatalog.duckdb")
    return wh


@pytest.fixture
def old_warehouse(tmp_path: Path) -> Path:
    """The schema-1 warehouse as issue 6's code left it: writer file plus its reader copy."""
    return unpack("warehouse_v1", tmp_path / "old")


@pytest.fixture
def fresh_hcpcs(tmp_path: Path) -> Path:
    """The same excerpts loaded by this codecatalog."""
    fresh = tmp_path / "fresh"
    for version, name in EXCERPTS:
        refresh("hcpcs", str(HCPCS / name), version, warehouse_dir=fresh, clock=clock)
    return fresh


def v1_rows(path: Path) -> dict[str, list[tuple]]:
    """Per version, the schema-1 catalog rows (sorted)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        versions = [v for (v,) in con.execute("SELECT version FROM releases").fetchall()]
        return {
            v: con.execute(
                "SELECT * EXCLUDE (version) FROM hcpcs_catalog WHERE version = ? ORDER BY ALL", [v]
            ).fetchall()
            for v in versions
        }
    finally:
        con.close()


def test_read_only_command_on_an_unmigrated_warehouse_stops_with_one_line(
    old_warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["diff", "hcpcs", "2016", "2017", "--warehouse", str(old_warehouse)]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        f"error: {old_warehouse / 'codecatalog.duckdb'} has warehouse schema 1, this codecatalog "
        "reads schema 4: run any refresh to migrate it (it keeps a backup)\n",
    )


def test_first_writer_backs_up_and_migrates(old_warehouse: Path, fresh_hcpcs: Path) -> None:
    original = (old_warehouse / "codecatalog.writer.duckdb").read_bytes()
    before = v1_rows(old_warehouse / "codecatalog.writer.duckdb")
    # Reloading 2018 is the first write: it migrates, finds the same bytes loaded, and publishes
    # the loaded versions (the fixture keeps no published directories).
    result = refresh(
        "hcpcs", str(HCPCS / "excerpt_2018_ANWEB.txt"), "2018", warehouse_dir=old_warehouse,
        clock=clock,
    )  # fmt: skip
    assert (result.outcome, result.previous, result.latest) == ("published", "2017", "2018")
    assert sorted(p.name for p in (old_warehouse / "published" / "hcpcs").iterdir()) == [
        "2016", "2017", "2018", "current.json", "latest.json",
    ]  # fmt: skip
    backup = old_warehouse / "codecatalog.duckdb.bak-1"
    assert backup.read_bytes() == original

    # The same warehouse built today from the same files, for comparison.
    con = warehouse.open_reader(old_warehouse)
    new = warehouse.open_reader(fresh_hcpcs)
    try:
        assert warehouse.schema_version(con) == 4
        releases = [(r.version, r.effective_date.isoformat(), r.row_count, r.release_order)
                    for r in warehouse.loaded_releases(con, "hcpcs")]  # fmt: skip
        assert releases == [
            ("2016", "2016-01-01", len(before["2016"]), 2016010100),
            ("2017", "2017-01-01", len(before["2017"]), 2017010100),
            ("2018", "2018-01-01", len(before["2018"]), 2018010100),
        ]
        for r in warehouse.loaded_releases(con, "hcpcs"):
            at = rows_at("hcpcs_catalog", str(r.release_order))
            assert con.execute(f"SELECT * FROM {at} ORDER BY ALL").fetchall() == before[r.version]
        # Each version's rows are stored once and kept until they change.
        stored = con.execute("SELECT count(*) FROM hcpcs_catalog").fetchall()[0][0]
        distinct = len({row for rows in before.values() for row in rows})
        assert stored == distinct
        for old, later in [("2016", "2017"), ("2017", "2018")]:
            migrated = changes_between(con, source("hcpcs"), old, later)
            assert migrated.equals(changes_between(new, source("hcpcs"), old, later))
        outcomes = con.execute(
            "SELECT version, outcome FROM load_attempts ORDER BY attempt_id"
        ).fetchall()
        assert outcomes == [
            ("2016", "loaded"),
            ("2017", "loaded"),
            ("2018", "loaded"),
            ("2017", "rejected"),
            ("2018", "unchanged"),
        ]
        assert con.execute("SELECT count(*) FROM reconciliations").fetchall() == (
            new.execute("SELECT count(*) FROM reconciliations").fetchall()
        )
        forms = "SELECT * FROM descriptor_forms ORDER BY text"
        assert con.execute(forms).fetchall() == new.execute(forms).fetchall()
    finally:
        con.close()
        new.close()


def test_schema_2_gains_descriptor_forms_and_the_sql_macros(
    tmp_path: Path, fresh_hcpcs: Path, capsys: pytest.CaptureFixture
) -> None:
    wh = unpack("warehouse_v2", tmp_path / "v2")
    original = (wh / "codecatalog.writer.duckdb").read_bytes()
    assert main(["versions", "hcpcs", "--warehouse", str(wh)]) == 2
    assert capsys.readouterr().err == (
        f"error: {wh / 'codecatalog.duckdb'} has warehouse schema 2, this codecatalog reads "
        "schema 4: run any refresh to migrate it (it keeps a backup)\n"
    )
    result = refresh(
        "hcpcs", str(HCPCS / "excerpt_2018_ANWEB.txt"), "2018", warehouse_dir=wh, clock=clock
    )
    assert (result.outcome, result.latest) == ("published", "2018")
    assert (wh / "codecatalog.duckdb.bak-1").read_bytes() == original
    con = duckdb.connect(str(wh / "codecatalog.duckdb"), read_only=True)
    new = duckdb.connect(str(fresh_hcpcs / "codecatalog.duckdb"), read_only=True)
    try:
        assert warehouse.schema_version(con) == 4
        forms = "SELECT * FROM descriptor_forms ORDER BY text"
        assert con.execute(forms).fetchall() == new.execute(forms).fetchall()
        stored = con.execute(forms).fetchall()
        assert stored and stored == [(text, *descriptor_form(text)) for text, _, _ in stored]
        for old, later in [("2016", "2017"), ("2016", "2018"), ("2017", "2018")]:
            sql = f"SELECT * FROM changes_between('hcpcs', '{old}', '{later}')"
            assert con.execute(sql).fetchall() == new.execute(sql).fetchall()
            assert con.execute(sql).fetchall()
    finally:
        con.close()
        new.close()


def test_schema_3_gains_retractions(
    tmp_path: Path, fresh_hcpcs: Path, capsys: pytest.CaptureFixture
) -> None:
    wh = unpack("warehouse_v3", tmp_path / "v3")
    original = (wh / "codecatalog.writer.duckdb").read_bytes()
    assert main(["history", "hcpcs", "G0202", "--warehouse", str(wh)]) == 2
    assert capsys.readouterr().err == (
        f"error: {wh / 'codecatalog.duckdb'} has warehouse schema 3, this codecatalog reads "
        "schema 4: run any refresh to migrate it (it keeps a backup)\n"
    )
    # The first writer is a retraction: it migrates (an empty `retractions`), then retracts.
    retract(wh, "hcpcs", "2018", "loaded from the wrong file", who="alice", clock=clock)
    assert (wh / "codecatalog.duckdb.bak-1").read_bytes() == original
    con = duckdb.connect(str(wh / "codecatalog.duckdb"), read_only=True)
    new = duckdb.connect(str(fresh_hcpcs / "codecatalog.duckdb"), read_only=True)
    try:
        assert warehouse.schema_version(con) == 4
        assert con.execute("SELECT * FROM retractions").fetchall() == [
            ("hcpcs", "2018", datetime(2026, 1, 2, 6, 30), "alice", "loaded from the wrong file")
        ]
        in_service = "SELECT version FROM releases_in_service ORDER BY release_order"
        assert con.execute(in_service).fetchall() == [("2016",), ("2017",)]
        for table in ("hcpcs_catalog", "descriptor_forms"):
            sql = f"SELECT * FROM {table} ORDER BY ALL"
            assert con.execute(sql).fetchall() == new.execute(sql).fetchall()
        sql = "SELECT * FROM changes_between('hcpcs', '2016', '2017')"
        assert con.execute(sql).fetchall() == new.execute(sql).fetchall()
        assert con.execute(sql).fetchall()
        assert con.execute("SELECT version_in_force('hcpcs', DATE '2018-06-01')").fetchall() == [
            ("2017",)
        ]
    finally:
        con.close()
        new.close()

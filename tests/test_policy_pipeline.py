"""What policy sources need beyond issue 7's table refresh (issue 8): a key listed twice (the
active row wins, the other is history), values stated once per release, the reconciliation of a
table source's step, and `current.json` next to `latest.json`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import declared_sources
import pytest
from warehouse_state import attempts

from codecatalog.cli import main
from codecatalog.errors import Failure, ValidationFailed
from codecatalog.intervals import rows_at
from codecatalog.pipeline import point_current_all, refresh
from codecatalog.warehouse import open_reader

DECLARATION = """
[tariff]
title = "Invented partner tariff"
family = "table"
key = ["code", "partner"]
schema = "tariff.yaml"
descriptors = []
attributes = ["rate"]
term_date = "end_date"
term_date_is = "first_invalid_day"
term_date_format = "%Y%m%d"
duplicate_keys = "active_wins"
release_values = ["factor"]
source_action = "changed"
max_vanished = 0.5

[tariff.columns]
code = "Code"
partner = "Partner"
rate = "Rate"
end_date = "End Date"
factor = "Factor"
changed = "Changed"
"""
HEADER = "Code,Partner,Rate,End Date,Factor,Changed"
Q1 = [
    "A0001,X,10,,1.5,",
    "A0001,X,9,20251001,1.5,",  # the pair again, deleted: history
    "A0002,X,20,,1.5,",
    "A0003,X,30,,1.5,",
    "A0004,X,40,,1.5,*",
    "A0005,X,50,,1.5,",
]
Q2 = [
    "A0001,X,10,,1.6,",  # the factor changes for every row: stated once, not a change
    "A0001,X,9,20251001,1.6,",
    "A0002,X,25,,1.6,*",  # changed and marked
    "A0003,X,30,20260301,1.6,*",  # deleted before the release's effective date
    "A0004,X,40,,1.6,*",  # marked, unchanged
    "A0006,X,60,,1.6,",  # added, not marked; A0005 vanished
]


@pytest.fixture
def declared(tmp_path: Path) -> Iterator[Path]:
    with declared_sources.declared(tmp_path, DECLARATION) as toml:
        yield toml


def csv_file(path: Path, rows: list[str]) -> Path:
    path.write_text("\r\n".join([HEADER, *rows]) + "\r\n")
    return path


def clock(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 6)


def load(wh: Path, path: Path, version: str, on: date) -> None:
    refresh("tariff", str(path), version, warehouse_dir=wh, clock=lambda: clock(on))


def pointer(wh: Path, name: str) -> str:
    return json.loads((wh / "published" / "tariff" / f"{name}.json").read_text())["version"]


def test_a_quarter_of_a_policy_source(declared: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    load(wh, csv_file(tmp_path / "q1.csv", Q1), "2026Q1", date(2026, 2, 1))
    assert (pointer(wh, "latest"), pointer(wh, "current")) == ("2026Q1", "2026Q1")
    # Loaded before it takes effect: latest, not yet current.
    load(wh, csv_file(tmp_path / "q2.csv", Q2), "2026Q2", date(2026, 3, 20))
    assert (pointer(wh, "latest"), pointer(wh, "current")) == ("2026Q2", "2026Q1")

    con = open_reader(wh)
    try:
        order = con.execute(
            "SELECT release_order FROM releases WHERE version = '2026Q2'"
        ).fetchone()[0]
        catalog = con.execute(
            f"SELECT * FROM {rows_at('tariff_catalog', str(order))} ORDER BY code"
        ).fetchall()
        history = con.execute(f"SELECT * FROM {rows_at('tariff_history', str(order))}").fetchall()
        reconciliation = con.execute(
            "SELECT from_version, to_version, key, computed, source_action, problem "
            "FROM reconciliations WHERE codeset = 'tariff' ORDER BY key, problem"
        ).fetchall()
        values = con.execute("SELECT * FROM release_values ORDER BY version").fetchall()
    finally:
        con.close()
    # The factor is no catalog column; the winning row of A0001 is the active one.
    assert catalog == [
        ("A0001", "X", "10", None, None),
        ("A0002", "X", "25", None, "*"),
        ("A0003", "X", "30", "20260301", "*"),
        ("A0004", "X", "40", None, "*"),
        ("A0006", "X", "60", None, None),
    ]
    assert history == [("A0001", "X", "9", "20251001", None, 1)]  # _n: rows like it
    assert values == [("tariff", "2026Q1", "factor", "1.5"), ("tariff", "2026Q2", "factor", "1.6")]
    retro = "first invalid on 2026-03-01, before the release's effective date 2026-04-01"
    assert reconciliation == [
        ("2026Q1", "2026Q2", "A0003|X", "retired", "*", f"retroactive deletion: {retro}"),
        ("2026Q1", "2026Q2", "A0004|X", "", "*", "marked changed, no change computed"),
        ("2026Q1", "2026Q2", "A0005|X", "retired", "", "vanished without a deletion date"),
        ("2026Q1", "2026Q2", "A0006|X", "added", "", "changed, not marked"),
    ]

    published = wh / "published" / "tariff" / "2026Q2"
    changes_csv = (published / "changes.csv").read_text().splitlines()
    assert changes_csv == [
        "codeset,from_version,to_version,key,change_type,field,old_value,new_value,"
        "effective_date,source_action",
        "tariff,2026Q1,2026Q2,A0002|X,attribute_changed,rate,20,25,2026-04-01,*",
        "tariff,2026Q1,2026Q2,A0003|X,retired,,,,2026-03-01,*",
        "tariff,2026Q1,2026Q2,A0005|X,retired,,,,2026-04-01,",
        "tariff,2026Q1,2026Q2,A0006|X,added,,,,2026-04-01,",
    ]
    manifest = json.loads((published / "manifest.json").read_text())
    assert (manifest["licence"], manifest["release_values"]) == ([], {"factor": "1.6"})
    report = (published / "report.md").read_text()
    assert "- stated once for the release: factor: 1.6 (was 1.5)" in report
    section = report[report.index("## Reconciliation") :].split("\n\n")[1:3]
    assert section == [
        "| problem | keys |\n|---|---:|\n| changed, not marked | 1 |\n"
        "| marked changed, no change computed | 1 |\n| retroactive deletion | 1 |\n"
        "| vanished without a deletion date | 1 |",
        "| key | computed | source action | problem |\n|---|---|---|---|\n"
        f"| A0003\\|X | retired | * | retroactive deletion: {retro} |\n"
        "| A0004\\|X |  | * | marked changed, no change computed |\n"
        "| A0005\\|X | retired |  | vanished without a deletion date |\n"
        "| A0006\\|X | added |  | changed, not marked |",
    ]

    # The same release again once it is in force: `current` moves, nothing else does.
    load(wh, tmp_path / "q2.csv", "2026Q2", date(2026, 4, 1))
    assert (pointer(wh, "latest"), pointer(wh, "current")) == ("2026Q2", "2026Q2")


def test_two_active_rows_for_one_key_are_refused(declared: Path, tmp_path: Path) -> None:
    rows = [*Q1[:2], "A0001,X,11,,1.5,", *Q1[2:]]
    path = csv_file(tmp_path / "q1.csv", rows)
    with pytest.raises(ValidationFailed) as raised:
        load(tmp_path / "wh", path, "2026Q1", date(2026, 1, 5))
    name = raised.value.failures[0].file
    assert name.endswith("q1.csv")
    assert raised.value.failures == [
        Failure(name, 2, "code", "duplicate active key", "A0001"),
        Failure(name, 2, "partner", "duplicate active key", "X"),
        Failure(name, 4, "code", "duplicate active key", "A0001"),
        Failure(name, 4, "partner", "duplicate active key", "X"),
    ]
    assert not (tmp_path / "wh" / "published" / "tariff").exists()


def test_a_release_value_that_varies_is_refused(declared: Path, tmp_path: Path) -> None:
    rows = [*Q1[:3], "A0003,X,30,,1.7,", *Q1[4:]]
    path = csv_file(tmp_path / "q1.csv", rows)
    with pytest.raises(ValidationFailed) as raised:
        load(tmp_path / "wh", path, "2026Q1", date(2026, 1, 5))
    name = raised.value.failures[0].file
    assert raised.value.failures == [
        Failure(name, 5, "factor", "one value per release ('1.5' above)", "1.7")
    ]


def test_a_table_refresh_imports_neither_pandas_nor_pandera(declared: Path, tmp_path: Path) -> None:
    """Two quarters (the second with a reconciliation) in a fresh process: pandas costs about
    0.6 s of every refresh and is for small tables only (the translation is cached by now)."""
    q1, q2 = csv_file(tmp_path / "q1.csv", Q1), csv_file(tmp_path / "q2.csv", Q2)
    script = (
        "import sys; from pathlib import Path; "
        "from codecatalog.sources import use_sources; from codecatalog.pipeline import refresh; "
        f"use_sources([Path({str(declared)!r})]); "
        f"refresh('tariff', {str(q1)!r}, '2026Q1', warehouse_dir=Path({str(tmp_path / 'wh')!r})); "
        f"refresh('tariff', {str(q2)!r}, '2026Q2', warehouse_dir=Path({str(tmp_path / 'wh')!r})); "
        "print('pandas' in sys.modules, 'pandera' in sys.modules)"
    )
    load(tmp_path / "warm", q1, "2026Q1", date(2026, 1, 5))  # fills the translation cache
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout == "False False\n"
    reconciled = (tmp_path / "wh" / "published" / "tariff" / "2026Q2" / "report.md").read_text()
    assert "| vanished without a deletion date | 1 |" in reconciled


def test_current_moves_on_its_effective_date_without_a_refresh(
    declared: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    wh = tmp_path / "wh"
    load(wh, csv_file(tmp_path / "q1.csv", Q1), "2026Q1", date(2026, 2, 1))
    load(wh, csv_file(tmp_path / "q2.csv", Q2), "2026Q2", date(2026, 3, 20))
    assert point_current_all(wh, clock=lambda: clock(date(2026, 3, 31))) == {"tariff": "2026Q1"}
    assert pointer(wh, "current") == "2026Q1"
    assert point_current_all(wh, clock=lambda: clock(date(2026, 4, 1))) == {"tariff": "2026Q2"}
    assert pointer(wh, "current") == "2026Q2"
    before = len(attempts(wh))
    assert main(["current", "--warehouse", str(wh)]) == 0  # today is long after 2026-04-01
    assert capsys.readouterr().out == "tariff: 2026Q2\n"
    assert len(attempts(wh)) == before  # not a load attempt


def test_current_before_any_version_is_in_force(declared: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    load(wh, csv_file(tmp_path / "q1.csv", Q1), "2026Q1", date(2025, 12, 1))
    assert not (wh / "published" / "tariff" / "current.json").exists()
    assert pointer(wh, "latest") == "2026Q1"
    assert point_current_all(wh, clock=lambda: clock(date(2025, 12, 31))) == {"tariff": None}
    assert not (wh / "published" / "tariff" / "current.json").exists()


def test_a_refresh_tells_each_step_as_it_starts(declared: Path, tmp_path: Path) -> None:
    steps: list[str] = []
    path = csv_file(tmp_path / "q1.csv", Q1)
    refresh("tariff", str(path), "2026Q1", warehouse_dir=tmp_path / "wh", progress=steps.append)
    assert steps == [
        f"fetching {path}",
        "reading q1.csv",
        "validating",
        "waiting for the warehouse",
        "loading tariff 2026Q1",
        "comparing with the previous version",
        "publishing",
    ]

"""What a scheduled refresh does (issue 10 §2–§4), as plain functions: a drop folder that is
empty (`waiting`, recorded), then holds a release (refreshed under the schedule's label), then
holds nothing new; a refused release (an outcome with its failures, recorded as `rejected`) that
succeeds once the file is fixed, with no clean-up; which sources are due; and one source's
refusal not stopping another's refresh."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from declared_sources import MONTHLY, QUARTERLY, declared, scheduled
from warehouse_state import attempts

from codecatalog.errors import Failure
from codecatalog.scheduled import due_sources, run_due, run_scheduled

DECLARATIONS = scheduled("tariff", "fee", *QUARTERLY) + scheduled("limits", "units", *MONTHLY)
OURS = ("limits", "tariff")  # the built-in sources are due too, but fetch from cms.gov
RUN_DAY = date(2026, 12, 7)  # a Monday of December: the quarterly run looks for 2027Q1


def clock() -> datetime:
    return datetime(2026, 12, 7, 11, 0)


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Path]:
    with declared(tmp_path, DECLARATIONS):
        warehouse = tmp_path / "wh"
        for name in ("tariff", "limits"):
            (warehouse / "drop" / name).mkdir(parents=True)
        yield warehouse


def drop(wh: Path, name: str, file: str, text: str) -> Path:
    path = wh / "drop" / name / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_waiting_then_refreshed_then_nothing_new(wh: Path) -> None:
    waiting = run_scheduled("tariff", "quarterly", RUN_DAY, wh, clock)
    folder = wh / "drop" / "tariff"
    assert (waiting.status, waiting.version, waiting.message) == (
        "waiting",
        "2027Q1",
        f"no new release in {folder}; put the Invented tariff release there "
        "(a .zip, .txt, .xlsx or .csv file, or a folder)",
    )
    drop(wh, "tariff", "tariff_2027q1.csv", "Code,Fee\nA0001,10\nA0002,20\n")
    done = run_scheduled("tariff", "quarterly", RUN_DAY, wh, clock)
    assert (done.status, done.version, done.published) == (
        "refreshed",
        "2027Q1",
        wh / "published" / "tariff" / "2027Q1",
    )
    again = run_scheduled("tariff", "quarterly", RUN_DAY, wh, clock)
    assert again.status == "waiting"
    assert [(a["version"], a["outcome"], a["message"]) for a in attempts(wh)] == [
        ("2027Q1", "waiting", waiting.message),
        ("2027Q1", "loaded", ""),
        ("2027Q1", "waiting", waiting.message),
    ]


def test_a_refused_release_is_an_outcome_and_the_fixed_file_loads(wh: Path) -> None:
    path = drop(wh, "tariff", "tariff_2027q1.csv", "Code,Fee\nA0001,10\nA0001,11\n")
    refused = run_scheduled("tariff", "quarterly", RUN_DAY, wh, clock)
    assert (refused.status, refused.version, refused.ok) == ("refused", "2027Q1", False)
    assert refused.failures == [
        Failure(path.name, 2, "code", "field_uniqueness", "A0001"),
        Failure(path.name, 3, "code", "field_uniqueness", "A0001"),
    ]
    assert [(a["outcome"], a["failures"]) for a in attempts(wh)] == [
        ("rejected", [f.__dict__ for f in refused.failures]),
    ]
    assert not (wh / "published" / "tariff").exists()
    path.write_text("Code,Fee\nA0001,10\nA0002,11\n")  # the person fixes the file in place
    fixed = run_scheduled("tariff", "quarterly", RUN_DAY, wh, clock)
    assert (fixed.status, fixed.version) == ("refreshed", "2027Q1")


def test_due_sources_and_one_refusal_does_not_stop_the_others(wh: Path) -> None:
    now = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    # tariff fired Monday 7 December 06:00 New York; limits on 1 December 05:00 UTC.
    assert [(n, s.name) for n, s in due_sources(wh, now, OURS)] == [
        ("limits", "monthly"),
        ("tariff", "quarterly"),
    ]
    drop(wh, "tariff", "tariff.csv", "Code,Fee\nA0001,10\n")
    drop(wh, "limits", "limits.csv", "Code,Units\nB0001,1\nB0001,2\n")
    outcomes = {
        o.source: o for o in run_due(wh, now, OURS, clock=lambda: datetime(2026, 12, 8, 12))
    }
    assert {n: (o.status, o.version) for n, o in outcomes.items()} == {
        "limits": ("refused", "2026Q4"),
        "tariff": ("refreshed", "2027Q1"),
    }
    # tariff succeeded after its schedule fired: only limits is still due.
    assert [n for n, _ in due_sources(wh, now, OURS)] == ["limits"]


def test_the_label_a_release_states_wins_over_the_schedule_date(tmp_path: Path) -> None:
    """A source whose file names state their version (MUE's `Eff_MM-DD-YYYY`) is loaded under
    the stated label, not the one its schedule would give on the run's day."""
    limits = scheduled("limits", "units", *MONTHLY).replace(
        "[limits.columns]", 'version_check = "mue"\n[limits.columns]'
    )
    with declared(tmp_path, limits):
        wh = tmp_path / "wh"
        drop(wh, "limits", "limits_Eff_01-01-2027.csv", "Code,Units\nB0001,1\n")
        # On 7 December 2026 the monthly schedule looks for 2026Q4; the file says 2027Q1.
        done = run_scheduled("limits", "monthly", RUN_DAY, wh, clock)
    assert (done.status, done.version) == ("refreshed", "2027Q1")


def test_a_checksum_mismatch_is_refused_and_recorded(wh: Path) -> None:
    path = drop(wh, "tariff", "tariff.csv", "Code,Fee\nA0001,10\n")
    wrong = "0" * 64
    refused = run_scheduled("tariff", "quarterly", RUN_DAY, wh, clock, expected_sha256=wrong)
    assert (refused.status, refused.version) == ("refused", "2027Q1")
    assert refused.message.startswith(f"{path}: sha256 ")
    assert [(a["outcome"], a["message"]) for a in attempts(wh)] == [("rejected", refused.message)]
    assert path.read_text() == "Code,Fee\nA0001,10\n"  # a dropped file is never removed
    assert not (wh / "published").exists()

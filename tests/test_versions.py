"""Version labels: parsing, effective dates, ordering."""

from __future__ import annotations

from datetime import date

import pytest

from codecatalog.errors import VersionError
from codecatalog.versions import Version


@pytest.mark.parametrize(
    ("label", "effective", "correction"),
    [
        ("2024", date(2024, 1, 1), 0),
        ("2026Q1", date(2026, 1, 1), 0),
        ("2026Q2", date(2026, 4, 1), 0),
        ("2026Q3", date(2026, 7, 1), 0),
        ("2026Q4", date(2026, 10, 1), 0),
        ("2025r1", date(2025, 1, 1), 1),
        ("2025Q3r12", date(2025, 7, 1), 12),
    ],
)
def test_parse(label: str, effective: date, correction: int) -> None:
    assert Version.parse(label) == Version(effective, correction, label)


@pytest.mark.parametrize("label", ["26", "2026Q5", "2026Q0", "2026r0", "2026-Q1", "v2026", "2026 "])
def test_malformed_labels_are_refused(label: str) -> None:
    with pytest.raises(VersionError, match="is not YYYY, YYYYQn"):
        Version.parse(label)


def test_order_is_effective_date_then_correction() -> None:
    labels = ["2026Q3", "2025r1", "2026", "2025", "2025Q4", "2025r2"]
    assert [v.label for v in sorted(map(Version.parse, labels))] == [
        "2025",
        "2025r1",
        "2025r2",
        "2025Q4",
        "2026",
        "2026Q3",
    ]


def test_annual_and_first_quarter_share_a_release_slot() -> None:
    assert Version.parse("2026").release == Version.parse("2026Q1").release
    assert Version.parse("2026").release != Version.parse("2026r1").release


@pytest.mark.parametrize(
    ("label", "previous", "follows"),
    [
        ("2018", "2017", True),
        ("2021", "2020Q4", True),
        ("2021", "2020Q3", False),
        ("2020Q2", "2020", True),
        ("2020Q2", "2020Q1", True),
        ("2020Q3", "2020Q2", True),
        ("2020Q2", "2018", False),
        ("2020Q4", "2020Q2", False),
        ("2025r1", "2025", True),
        ("2025r2", "2025r1", True),
        ("2026", "2025r1", True),
        ("2025Q3", "2025Q2r1", True),
        ("2026", "2024", False),
    ],
)
def test_follows_names_the_immediate_predecessor(label: str, previous: str, follows: bool) -> None:
    assert Version.parse(label).follows(Version.parse(previous)) is follows

"""Declared schedules (issue 10 §1) without a Prefect server: the deployments they become, the
committed `prefect.yaml` equal to them, their next run dates as Prefect's scheduler computes them
(daylight-saving changes included), and refused declarations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from declared_sources import declared

from codecatalog.errors import DeclarationError
from codecatalog.schedules import last_fired, next_runs, planned, prefect_yaml
from codecatalog.sources import source, sources

ROOT = Path(__file__).parent.parent
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_each_declared_schedule_is_a_deployment() -> None:
    assert [(p.deployment, p.schedule.cron, p.schedule.timezone) for p in planned()] == [
        ("cpt-annual", "0 6 * 9-12 1", "America/Chicago"),
        ("cpt-quarterly", "0 6 * 3,6,9,12 1", "America/Chicago"),
        ("hcpcs-quarterly", "0 6 * 3,6,9,12 1", "America/New_York"),
        ("mue-quarterly", "0 6 * 3,6,9,12 1", "America/New_York"),
        ("ncci_ptp-quarterly", "0 6 * 3,6,9,12 1", "America/New_York"),
        ("opps_addb-quarterly", "0 6 * 3,6,9,12 1", "America/New_York"),
        ("pfs_rvu-quarterly", "0 6 * 3,6,9,12 1", "America/New_York"),
    ]


def test_committed_prefect_yaml_is_generated_from_the_declarations() -> None:
    committed = (ROOT / "prefect.yaml").read_text(encoding="utf-8")
    assert committed == prefect_yaml(planned(sources()))
    document = yaml.safe_load(committed)
    cpt = document["deployments"][0]
    assert cpt == {
        "name": "cpt-annual",
        "description": "Look for a new cpt release (annual).",
        "entrypoint": "flows/scheduled.py:scheduled_refresh",
        "parameters": {"source": "cpt", "schedule": "annual"},
        "work_pool": {"name": "codecatalog"},
        "schedules": [{"cron": "0 6 * 9-12 1", "timezone": "America/Chicago"}],
        "concurrency_limit": {"limit": 1, "collision_strategy": "ENQUEUE"},
        "tags": ["codecatalog", "cpt"],
    }
    assert document["deployments"][-1]["name"] == "refresh-due"
    assert document["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PWD }}"}}
    ]
    for deployment in document["deployments"]:
        module, _, function = deployment["entrypoint"].partition(":")
        assert f"def {function}(" in (ROOT / module).read_text(encoding="utf-8")


def iso(dates: list[datetime]) -> list[str]:
    return [d.isoformat() for d in dates]


def test_next_runs_from_the_declarations() -> None:
    annual = source("cpt").schedules[0]
    # Weekly on Mondays from September to December, 06:00 in Chicago.
    assert iso(next_runs(annual, 3, NOW)) == [
        "2026-11-30T06:00:00-06:00",
        "2026-12-07T06:00:00-06:00",
        "2026-12-14T06:00:00-06:00",
    ]
    # After the last Monday of December the next look is in September, on daylight time.
    assert iso(next_runs(annual, 1, datetime(2026, 12, 29, tzinfo=UTC))) == [
        "2027-09-06T06:00:00-05:00"
    ]
    # HCPCS: Mondays of March, June, September, December in New York, across the DST change
    # of 14 March 2027: still 06:00 local.
    quarterly = source("hcpcs").schedules[0]
    start = datetime(2027, 2, 27, tzinfo=UTC)
    assert iso(next_runs(quarterly, 4, start)) == [
        "2027-03-01T06:00:00-05:00",
        "2027-03-08T06:00:00-05:00",
        "2027-03-15T06:00:00-04:00",
        "2027-03-22T06:00:00-04:00",
    ]


def test_last_fired_is_the_run_before_the_next() -> None:
    annual = source("cpt").schedules[0]
    assert last_fired(annual, datetime(2027, 3, 1, tzinfo=UTC)).isoformat() == (
        "2026-12-28T06:00:00-06:00"
    )
    for plan in planned():
        fired = last_fired(plan.schedule, NOW)
        assert fired <= NOW
        later = next_runs(plan.schedule, 2, fired)  # Prefect counts a run at `start` itself
        assert later[0] == fired and later[1] > NOW  # nothing fired in between


BASE = """
[tariff]
title = "A tariff"
family = "table"
key = ["code"]
schema = "tariff.yaml"
descriptors = []
attributes = []
[tariff.columns]
code = "Code"
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[[tariff.schedules]]\nname = "q"\ncron = "0 6 * 13 1"\n',
            "[tariff] schedule 'q': cron '0 6 * 13 1': Bad month",
        ),
        (
            '[[tariff.schedules]]\nname = "q"\ncron = "0 6 * * 1"\ntimezone = "Mars/Olympus"\n',
            "[tariff] schedule 'q': timezone 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            '[[tariff.schedules]]\nname = "q"\ncron = "0 6 * * 1"\n'
            '[[tariff.schedules]]\nname = "q"\ncron = "0 7 * * 1"\n',
            "[tariff] schedule name 'q' is used twice",
        ),
        (
            '[[tariff.schedules]]\nname = "q"\ncron = "0 6 * * 1"\nlooks_for = "someday"\n',
            "[tariff] looks_for must be one of next_year, next_quarter, this_quarter, "
            "got 'someday'",
        ),
        (
            '[[tariff.schedules]]\nname = "q"\ncron = "0 6 * * 1"\nversion = "{century}"\n',
            "[tariff] schedule 'q': version '{century}' is not a format of year, quarter, "
            "month ('century')",
        ),
        (
            '[tariff.fetch]\nurl = "https://example.org/a.zip"\ndrop_folder = "drop"\n',
            "[tariff.fetch] give exactly one of url, landing_page (with link_pattern) or "
            "drop_folder",
        ),
        (
            '[tariff.fetch]\nlanding_page = "https://example.org/"\n',
            "[tariff.fetch] landing_page and link_pattern go together",
        ),
        ('[tariff.fetch]\nsha = "x"\n', "[tariff.fetch] unknown key 'sha'"),
    ],
)
def test_bad_schedule_or_fetch_declarations(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(DeclarationError) as refused, declared(tmp_path, BASE + extra) as toml:
        source("tariff")
    assert str(refused.value) == f"{toml}: {message}"

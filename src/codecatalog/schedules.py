"""The scheduled refreshes the declarations ask for (issue 10 §1): one Prefect deployment per
declared schedule, their `prefect.yaml`, and when they run next — all without a Prefect server.

A source's `[[<source>.schedules]]` each become deployment `<source>-<name>` of the flow
`flows/scheduled.py:scheduled_refresh`, in work pool `codecatalog`, at most one run at a time
(later ones wait: `ENQUEUE`). `prefect.yaml` is generated from the declarations
(`codecatalog deployments --write`), and a test keeps the committed file equal to it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from cronsim import CronSim

from codecatalog.sources import Schedule, SourceConfig, sources

WORK_POOL = "codecatalog"
ENTRYPOINT = "flows/scheduled.py:scheduled_refresh"
DUE_ENTRYPOINT = "flows/scheduled.py:refresh_due"
HEADER = (
    "# Generated from the source declarations by `codecatalog deployments --write prefect.yaml`;\n"
    "# edit config/sources.toml (or your own declaration file), not this file.\n"
)


@dataclass(frozen=True)
class Planned:
    """One declared schedule of one source, and the deployment that runs it."""

    source: str
    schedule: Schedule

    @property
    def deployment(self) -> str:
        return f"{self.source}-{self.schedule.name}"


def planned(declared: dict[str, SourceConfig] | None = None) -> list[Planned]:
    """Every declared schedule, by source then declaration order."""
    found = declared if declared is not None else sources()
    return [Planned(name, s) for name, cfg in sorted(found.items()) for s in cfg.schedules]


def next_runs(schedule: Schedule, count: int, after: datetime) -> list[datetime]:
    """The next `count` run times after `after` (timezone-aware), computed by Prefect's own
    `CronSchedule` as its scheduler does (daylight-saving changes included), in the schedule's
    timezone."""
    from prefect.server.schemas.schedules import CronSchedule

    cron = CronSchedule(cron=schedule.cron, timezone=schedule.timezone)
    dates = asyncio.run(cron.get_dates(count, start=after))
    zone = ZoneInfo(schedule.timezone)
    return [datetime.fromisoformat(d.isoformat()).astimezone(zone) for d in dates]


def last_fired(schedule: Schedule, before: datetime) -> datetime:
    """The latest time at or before `before` the schedule fired (timezone-aware)."""
    zone = ZoneInfo(schedule.timezone)
    local = before.astimezone(zone).replace(tzinfo=None)
    fired = next(CronSim(schedule.cron, local, reverse=True))
    return fired.replace(tzinfo=zone)


def deployments(plans: list[Planned]) -> list[dict[str, Any]]:
    """The `deployments:` of prefect.yaml: one per schedule, plus `refresh-due` (unscheduled:
    every source whose schedule fired since its last success, for a trigger or a cron job)."""
    found: list[dict[str, Any]] = [
        {
            "name": plan.deployment,
            "description": f"Look for a new {plan.source} release ({plan.schedule.name}).",
            "entrypoint": ENTRYPOINT,
            "parameters": {"source": plan.source, "schedule": plan.schedule.name},
            "work_pool": {"name": WORK_POOL},
            "schedules": [{"cron": plan.schedule.cron, "timezone": plan.schedule.timezone}],
            "concurrency_limit": {"limit": 1, "collision_strategy": "ENQUEUE"},
            "tags": ["codecatalog", plan.source],
        }
        for plan in plans
    ]
    found.append(
        {
            "name": "refresh-due",
            "description": "Refresh every source whose schedule fired since its last success.",
            "entrypoint": DUE_ENTRYPOINT,
            "parameters": {},
            "work_pool": {"name": WORK_POOL},
            "schedules": [],
            "concurrency_limit": {"limit": 1, "collision_strategy": "ENQUEUE"},
            "tags": ["codecatalog"],
        }
    )
    return found


def prefect_yaml(plans: list[Planned]) -> str:
    """The whole `prefect.yaml`: no build or push (the code is where the worker runs), a pull
    step that enters the directory `prefect deploy` ran in, and the deployments."""
    document = {
        "name": "codecatalog",
        "prefect-version": "3.9.1",
        "build": None,
        "push": None,
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PWD }}"}}],
        "deployments": deployments(plans),
    }
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=100)

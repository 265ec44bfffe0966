"""Where each source stands (issue 10 §6): its last attempt (outcome, when, why), the version
`latest.json` names, versions loaded but not published, and when it next runs.

The next run comes from the Prefect server when one is configured and answers (the earliest
scheduled flow run of the source's deployments), else from the declared schedules.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from codecatalog.errors import first_line
from codecatalog.publish import CURRENT, LATEST, read_latest
from codecatalog.schedules import next_runs, planned
from codecatalog.sources import SourceConfig, sources
from codecatalog.sql import table_exists


@dataclass(frozen=True)
class SourceStatus:
    source: str
    outcome: str | None  # of the last attempt (None: never attempted)
    version: str | None  # that attempt's version
    attempted_at: datetime | None
    why: str | None  # the refusal or notes of that attempt, first line
    latest: str | None
    current: str | None
    unpublished: tuple[str, ...]  # loaded, no version directory
    next_run: datetime | None
    next_run_from: str  # "server", "schedule" or "" (no schedule declared)

    def row(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "last_attempt": self.outcome or "",
            "version": self.version or "",
            "when": self.attempted_at.replace(microsecond=0) if self.attempted_at else "",
            "why": self.why or "",
            "latest": self.latest or "",
            "current": self.current or "",
            "unpublished": " ".join(self.unpublished),
            "next_run": self.next_run.isoformat(sep=" ", timespec="minutes")
            if self.next_run
            else "",
            "next_run_from": self.next_run_from,
        }


def source_status(
    con: duckdb.DuckDBPyConnection | None,
    warehouse_dir: Path,
    now: datetime,
    scheduled: dict[str, datetime] | None = None,
    declared: dict[str, SourceConfig] | None = None,
) -> list[SourceStatus]:
    """The status of every declared source that has a schedule or was ever attempted.

    `con`: a reader connection (None: no warehouse yet); `scheduled`: the server's next run per
    source, when a server answered."""
    declared = declared if declared is not None else sources()
    attempts = _last_attempts(con)
    loaded = _loaded(con)
    root = Path(warehouse_dir) / "published"
    found = []
    for name in sorted(set(attempts) | {p.source for p in planned(declared)}):
        outcome, version, at, message = attempts.get(name, (None, None, None, None))
        latest, current = (read_latest(root, name, p) for p in (LATEST, CURRENT))
        unpublished = tuple(
            v for v in loaded.get(name, []) if not (root / name / v / "manifest.json").is_file()
        )
        next_run, origin = None, ""
        if scheduled and name in scheduled:
            next_run, origin = scheduled[name], "server"
        elif name in declared and declared[name].schedules:
            runs = [next_runs(s, 1, now)[0] for s in declared[name].schedules]
            next_run, origin = min(runs), "schedule"
        found.append(
            SourceStatus(
                name,
                outcome,
                version,
                at,
                first_line(message or "") or None,
                latest["version"] if latest else None,
                current["version"] if current else None,
                unpublished,
                next_run,
                origin,
            )
        )
    return found


def _last_attempts(
    con: duckdb.DuckDBPyConnection | None,
) -> dict[str, tuple[str, str, datetime, str | None]]:
    if con is None or not table_exists(con, "load_attempts"):
        return {}
    rows = con.execute(
        "SELECT codeset, outcome, version, attempted_at, message FROM load_attempts "
        "QUALIFY row_number() OVER (PARTITION BY codeset ORDER BY attempt_id DESC) = 1"
    ).fetchall()
    return {name: (outcome, version, at, message) for name, outcome, version, at, message in rows}


def _loaded(con: duckdb.DuckDBPyConnection | None) -> dict[str, list[str]]:
    if con is None or not table_exists(con, "releases"):
        return {}
    rows = con.execute(
        "SELECT codeset, list(version ORDER BY release_order) FROM releases GROUP BY codeset"
    ).fetchall()
    return dict(rows)


def server_next_runs(api_url: str) -> dict[str, datetime]:
    """The earliest scheduled flow run of each source's deployments on the Prefect server at
    `api_url` (deployments named `<source>-<schedule>`, see codecatalog.schedules)."""
    return asyncio.run(_server_next_runs(api_url))


async def _server_next_runs(api_url: str) -> dict[str, datetime]:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    names = {p.deployment: p.source for p in planned()}
    found: dict[str, datetime] = {}
    async with PrefectClient(api_url) as client:
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=list(names))),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=200,
        )
        deployments = {
            d.id: d.name
            for d in await client.read_deployments(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=list(names)))
            )
        }
    for run in runs:
        deployment = deployments.get(run.deployment_id, "") if run.deployment_id else ""
        source = names.get(deployment, "")
        start = run.expected_start_time
        if source and start is not None and source not in found:
            found[source] = datetime.fromisoformat(start.isoformat())
    return found

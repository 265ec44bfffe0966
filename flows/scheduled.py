"""Scheduled refreshes: the flows the deployments of `prefect.yaml` run (issue 10).

- `scheduled_refresh(source, schedule)`: one source, one schedule. It looks for the release that
  schedule looks for on the run's scheduled day and refreshes it. It ends Completed when it
  refreshed one, found it unchanged, or found nothing new yet (a `waiting` artifact and a
  `waiting` row in `load_attempts`). It ends Failed, with a markdown artifact of every failure,
  when the release was refused.
- `refresh_due()`: every source whose schedule fired since its last success. The sources are
  read and validated concurrently (Prefect's thread-pool task runner, each refresh staging in
  its own scratch DuckDB); loading is serialised by the warehouse's writer lock. One source's
  refusal does not stop the others; the run ends Failed with a summary naming those that failed.

The work is in `codecatalog.scheduled` (plain functions, tested without Prefect).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from codecatalog import notify, orphans, scheduled, writer
from codecatalog.errors import CodecatalogError
from codecatalog.sources import source as declared_source
from codecatalog.sources import use_sources

MAX_CONCURRENT_SOURCES = 2  # the machine's cores; loading is one at a time anyway
orphans.exit_on_sigterm()  # SIGTERM runs exit handlers: no temporary Prefect server survives


class ScheduledRefreshFailed(CodecatalogError):
    """A scheduled refresh refused at least one release."""


def _run_day(timezone: str) -> date:
    """The day this run was scheduled for, in the schedule's timezone (today when run by hand)."""
    from prefect.runtime import flow_run

    start = flow_run.scheduled_start_time or datetime.now().astimezone()
    return datetime.fromisoformat(start.isoformat()).astimezone(ZoneInfo(timezone)).date()


@task(cache_policy=NO_CACHE)
def refresh_source(
    name: str, schedule: str, day: date, warehouse_dir: Path, sha256: str | None = None
) -> scheduled.Outcome:
    """Find and refresh one source's release (a refusal is an outcome, not an error)."""
    return scheduled.run_scheduled(name, schedule, day, warehouse_dir, expected_sha256=sha256)


def _report(outcome: scheduled.Outcome) -> None:
    """The outcome as a markdown artifact, and a notification when a person should hear of it."""
    key = f"{outcome.source.replace('_', '-')}-{outcome.status}"  # Prefect: a-z, 0-9, -
    if outcome.status == "refused":
        lines = [
            f"# {outcome.source} {outcome.version}: refused",
            "",
            outcome.summary,
            "",
            "| file | row | column | check | value |",
            "|---|---:|---|---|---|",
            *(
                f"| {f.file} | {f.line if f.line is not None else ''} | {f.column} | {f.check} "
                f"| {f.value} |"
                for f in outcome.failures
            ),
        ]
        text = "\n".join(lines)
    elif outcome.status == "waiting":
        text = f"# {outcome.source} {outcome.version}: waiting\n\n{outcome.message}\n"
    elif outcome.published is not None:
        text = (outcome.published / "report.md").read_text(encoding="utf-8")
    else:
        text = f"# {outcome.source} {outcome.version}: {outcome.status}\n\n{outcome.message}\n"
    create_markdown_artifact(text, key=key, description=f"{outcome.source}: {outcome.status}")
    if outcome.status in notify.NOTIFIED and (block := notify.saved_block()) is not None:
        try:
            notify.notify(outcome, block)
        except Exception as err:  # a dead webhook must not hide the outcome itself
            get_run_logger().warning(f"notification of {key} failed: {err}")


@flow(name="codecatalog-scheduled-refresh", log_prints=True)
def scheduled_refresh(
    source: str,
    schedule: str,
    warehouse_dir: str | None = None,
    sources: list[str] | None = None,
    run_date: date | None = None,
    sha256: str | None = None,
) -> str:
    """Look for the release schedule `schedule` of `source` looks for and refresh it (`sha256`:
    the content it must have, when known)."""
    if sources:
        use_sources([Path(p) for p in sources])
    orphans.record_children(
        writer.warehouse_path(warehouse_dir)
    )  # a temporary Prefect server, if any
    tz = scheduled.schedule_of(declared_source(source), schedule).timezone
    day = run_date or _run_day(tz)
    outcome = refresh_source(source, schedule, day, writer.warehouse_path(warehouse_dir), sha256)
    _report(outcome)
    print(f"{source} {outcome.version}: {outcome.status}: {outcome.summary}")
    if not outcome.ok:
        raise ScheduledRefreshFailed(outcome.message)
    return outcome.status


@flow(
    name="codecatalog-refresh-due",
    log_prints=True,
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_CONCURRENT_SOURCES),  # type: ignore[arg-type]
)
def refresh_due(
    warehouse_dir: str | None = None,
    sources: list[str] | None = None,
    only: list[str] | None = None,
) -> list[str]:
    """Refresh every source (or each of `only`) whose schedule fired since its last success."""
    if sources:
        use_sources([Path(p) for p in sources])
    directory = writer.warehouse_path(warehouse_dir)
    orphans.record_children(directory)  # a temporary Prefect server, if any
    now = datetime.now().astimezone()
    due = scheduled.due_sources(directory, now, only)
    futures = [
        refresh_source.submit(
            name, schedule.name, now.astimezone(ZoneInfo(schedule.timezone)).date(), directory
        )
        for name, schedule in due
    ]
    outcomes = [f.result() for f in futures]
    for outcome in outcomes:
        _report(outcome)
    rows = [f"| {o.source} | {o.version or ''} | {o.status} | {o.summary} |"
            for o in outcomes]  # fmt: skip
    summary = "\n".join(["| source | version | outcome | message |", "|---|---|---|---|", *rows])
    create_markdown_artifact(summary or "nothing due", key="refresh-due-summary")
    print(summary if outcomes else "no source is due")
    failed = [o for o in outcomes if not o.ok]
    if failed:
        named = "; ".join(f"{o.source} {o.version}: {o.summary}" for o in failed)
        raise ScheduledRefreshFailed(f"{len(failed)} of {len(outcomes)} sources failed: {named}")
    return [f"{o.source}: {o.status}" for o in outcomes]

"""What a scheduled refresh does (issue 10 §1–§4), as plain functions the Prefect flows in
`flows/scheduled.py` wrap: find the release the schedule looks for, refresh it, and say how it
went — `refreshed`, `unchanged`, `waiting` (nothing new posted yet; recorded in `load_attempts`
as `waiting`) or `refused` (recorded as `rejected` by the refresh itself).

`due_sources` is the multi-source rule: a source is due when one of its schedules fired since
its last success (an attempt `loaded`, `published` or `unchanged`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from codecatalog import locate, pipeline
from codecatalog import warehouse as wh
from codecatalog.errors import CodecatalogError, Failure, UsageError, first_line
from codecatalog.schedules import last_fired, planned
from codecatalog.sources import Schedule, SourceConfig, source
from codecatalog.stated_version import stated_label
from codecatalog.writer import READER_NAME, utc_now

SUCCESS = ("loaded", "published", "unchanged")  # load_attempts outcomes that end a search

Clock = Callable[[], datetime]


@dataclass
class Outcome:
    """How one scheduled refresh of one source went."""

    source: str
    schedule: str
    status: str  # refreshed | unchanged | waiting | refused
    version: str | None
    message: str
    published: Path | None = None
    failures: list[Failure] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """The message's first line."""
        return first_line(self.message)

    @property
    def ok(self) -> bool:
        return self.status != "refused"


def schedule_of(cfg: SourceConfig, name: str) -> Schedule:
    """The schedule `name` of a source; UsageError naming the declared ones otherwise."""
    for schedule in cfg.schedules:
        if schedule.name == name:
            return schedule
    known = ", ".join(s.name for s in cfg.schedules) or "none"
    raise UsageError(f"{cfg.name} declares no schedule {name!r} (declared: {known})")


def run_scheduled(
    name: str,
    schedule_name: str,
    run_day: date,
    warehouse_dir: Path,
    clock: Clock = utc_now,
    expected_sha256: str | None = None,
) -> Outcome:
    """Look for the release a run of schedule `schedule_name` on `run_day` looks for; refresh
    it when there is a new one (`expected_sha256`: its content must have that hash). A release
    that cannot be fetched or is refused is an Outcome (`refused`, recorded as `rejected`), not
    an exception: the caller decides how the run ends."""
    cfg = source(name)
    schedule = schedule_of(cfg, schedule_name)
    if cfg.fetch is None:
        raise UsageError(f"{name} declares no [{name}.fetch]: a scheduled run cannot find it")
    if schedule.drop_folder is not None:
        cfg = replace(cfg, fetch=replace(cfg.fetch, drop_folder=schedule.drop_folder))
    effective = locate.release_date(schedule, run_day)
    label = locate.version_label(schedule, effective)
    try:
        found = locate.locate(
            cfg, effective, Path(warehouse_dir), version=schedule.version,
            expected_sha256=expected_sha256,
        )  # fmt: skip
    except CodecatalogError as err:  # a download that failed, a checksum that differs
        record(Path(warehouse_dir), name, label, "rejected", str(err), clock)
        return Outcome(name, schedule.name, "refused", label, str(err))
    if isinstance(found, locate.Waiting):
        record(Path(warehouse_dir), name, label, "waiting", found.reason, clock)
        return Outcome(name, schedule.name, "waiting", label, found.reason)
    if found.unchanged:
        return Outcome(
            name, schedule.name, "unchanged", found.version, f"unchanged: {found.source}"
        )
    version = release_label(cfg, found)
    try:
        result = pipeline.refresh(
            name, str(found.path), version, warehouse_dir=Path(warehouse_dir), clock=clock
        )
    except CodecatalogError as err:
        return Outcome(name, schedule.name, "refused", version, str(err), None, _failures(err))
    locate.remember(cfg, found, Path(warehouse_dir))
    status = "refreshed" if result.outcome != "unchanged" else "unchanged"
    return Outcome(name, schedule.name, status, version, result.outcome, result.published)


def release_label(cfg: SourceConfig, found: locate.Found) -> str:
    """The label a found release is loaded under: what its file names state (NCCI, MUE:
    `stated_version.stated_label`, the member names of a zip and the files of a folder
    included), else the schedule's label of the date it was looked for (with `rN` for a
    re-posting)."""
    if cfg.version_check is None:
        return found.version
    path = Path(found.path)
    names = [path.name]
    if path.is_dir():
        names += sorted(p.name for p in path.rglob("*") if p.is_file())
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names += archive.namelist()
    return stated_label(cfg.version_check, names) or found.version


def _failures(err: CodecatalogError) -> list[Failure]:
    found = getattr(err, "failures", None)
    return list(found) if found else []


def record(
    warehouse_dir: Path, name: str, version: str, outcome: str, why: str, clock: Clock = utc_now
) -> None:
    """A load_attempts row of a scheduled run that loaded nothing: `waiting` (nothing new yet)
    or `rejected` (the release could not be fetched); the side log when another refresh holds
    the lock."""
    row = wh.attempt_row(
        codeset=name,
        version=version,
        source="(scheduled)",
        content_sha256=None,
        outcome=outcome,
        attempted_at=clock(),
        message=why,
    )
    pipeline.record_attempt(Path(warehouse_dir), row)


def due_sources(
    warehouse_dir: Path, now: datetime, only: Sequence[str] | None = None
) -> list[tuple[str, Schedule]]:
    """Each declared source (or each of `only`), with its schedule that fired last, whose
    schedule fired since its last success, by source name."""
    last_success = _last_success(Path(warehouse_dir))
    fired: dict[str, tuple[datetime, Schedule]] = {}
    for plan in planned():
        if only is not None and plan.source not in only:
            continue
        when = last_fired(plan.schedule, now)
        if plan.source not in fired or when > fired[plan.source][0]:
            fired[plan.source] = (when, plan.schedule)
    due = []
    for name, (when, schedule) in sorted(fired.items()):
        success = last_success.get(name)
        if success is None or success < when:
            due.append((name, schedule))
    return due


def run_due(
    warehouse_dir: Path,
    now: datetime,
    only: Sequence[str] | None = None,
    workers: int = 2,
    clock: Clock = utc_now,
) -> list[Outcome]:
    """`run_scheduled` for every due source, `workers` at a time (each reads and validates in
    its own staging area; loads wait for the writer lock one after another). Without Prefect:
    what a daily cron job runs (`codecatalog run-due`)."""
    due = due_sources(Path(warehouse_dir), now, only)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(
                run_scheduled,
                name,
                schedule.name,
                now.astimezone(ZoneInfo(schedule.timezone)).date(),
                Path(warehouse_dir),
                clock,
            )
            for name, schedule in due
        ]
        return [f.result() for f in futures]


def _last_success(warehouse_dir: Path) -> dict[str, datetime]:
    if not (warehouse_dir / READER_NAME).is_file():
        return {}
    con = wh.open_reader(warehouse_dir)
    try:
        rows = con.execute(
            "SELECT codeset, max(attempted_at) FROM load_attempts "
            f"WHERE outcome IN ({', '.join(repr(o) for o in SUCCESS)}) GROUP BY codeset"
        ).fetchall()
    finally:
        con.close()
    return {name: at.replace(tzinfo=UTC) for name, at in rows}

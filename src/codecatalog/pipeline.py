"""The refresh steps as plain functions, and `refresh`, which runs them in order.

fetch → read → validate → load → diff → report → publish. Every step is callable on its own (tests,
notebooks); `refresh` takes a `run` hook so the Prefect flow can run each step as a task.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from codecatalog import warehouse as wh
from codecatalog.diff.changes import (
    CHANGE_COLUMNS,
    changes_between,
    predecessor,
    reconciliation,
)
from codecatalog.errors import (
    CodecatalogError,
    Failure,
    ValidationFailed,
    VersionError,
    WarehouseBusy,
)
from codecatalog.families import family
from codecatalog.fetch import fetch
from codecatalog.publish import Publication, point_latest, publish_version
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.release import Release
from codecatalog.report import change_counts, render_report
from codecatalog.sources import source
from codecatalog.versions import Version


@dataclass
class RefreshResult:
    """What one refresh did."""

    codeset: str
    version: str
    outcome: str  # loaded | unchanged
    published: Path
    latest: str
    previous: str | None
    counts: dict[str, int]
    warnings: list[Failure] = field(default_factory=list)


def published_root(warehouse_dir: Path) -> Path:
    """Where published versions live inside a warehouse directory."""
    return Path(warehouse_dir) / "published"


def fetch_step(source_uri: str, warehouse_dir: Path) -> Path:
    """A local release path, or an http(s) URL downloaded into `<warehouse>/downloads/`."""
    return fetch(source_uri, Path(warehouse_dir) / "downloads").path


def read_step(codeset: str, path: Path, transactions: Path | None = None) -> Release:
    """Read every file of the release at `path` (directory, zip or single file)."""
    extra = ReleaseArchive.open(transactions) if transactions else None
    return family(source(codeset).family).read(ReleaseArchive.open(path), extra)


def validate_step(
    codeset: str, release: Release, version: Version, effective: date
) -> list[Failure]:
    """Check the version label against the release, then every schema; return the warnings.

    Raises VersionError or ValidationFailed (with every failure found).
    """
    if effective.year != version.year:
        raise VersionError(f"--effective {effective} is not in version {version}'s year")
    if release.stated_year is not None and release.stated_year != version.year:
        raise VersionError(
            f"version {version} contradicts {release.year_source}: it states the year "
            f"{release.stated_year}"
        )
    errors, warnings = family(source(codeset).family).validate(release)
    if errors:
        raise ValidationFailed(release.name, errors)
    return warnings


def load_step(
    warehouse_dir: Path,
    codeset: str,
    version: Version,
    effective: date,
    release: Release,
    source_uri: str,
    warnings: list[Failure],
) -> str:
    """Load the release in one transaction; `unchanged` when the same bytes are already loaded."""
    con = wh.connect(warehouse_dir)
    try:
        if not wh.check_new_version(con, codeset, version, effective, release.content_sha256):
            outcome = "unchanged"
        else:
            wh.load_release(
                con,
                codeset,
                version,
                effective,
                family(source(codeset).family).tables(release),
                content_sha256=release.content_sha256,
                source=source_uri,
                files=[f.__dict__ for f in release.files.values()],
            )
            outcome = "loaded"
        wh.record_attempt(
            con,
            codeset=codeset,
            version=version.label,
            source=source_uri,
            content_sha256=release.content_sha256,
            outcome=outcome,
            warnings=warnings,
        )
    finally:
        con.close()
    return outcome


@dataclass
class Comparison:
    """A version's changes against the loaded version before it."""

    previous: str | None
    changes: pd.DataFrame
    reconciliation: pd.DataFrame | None


def diff_step(warehouse_dir: Path, codeset: str, version: str) -> Comparison:
    """Changes from the preceding loaded version (none for the first) and the reconciliation
    with the release's own actions, which is also stored in the warehouse."""
    cfg = source(codeset)
    con = wh.connect(warehouse_dir)
    try:
        before = predecessor(con, codeset, version)
        if before is None:
            return Comparison(None, pd.DataFrame(columns=CHANGE_COLUMNS), None)
        changes = changes_between(con, cfg, before.version, version)
        if not Version.parse(version).follows(Version.parse(before.version)):
            return Comparison(before.version, changes, None)  # a release in between is missing
        found = reconciliation(con, cfg, before.version, version, changes)
        wh.store_reconciliation(con, codeset, before.version, version, found)
        return Comparison(before.version, changes, found)
    finally:
        con.close()


def publish_step(
    warehouse_dir: Path, codeset: str, version: str, comparison: Comparison, warnings: list[Failure]
) -> tuple[Path, str]:
    """Render the report and publish the version directory; move `latest` if it is the newest."""
    cfg = source(codeset)
    con = wh.connect(warehouse_dir, read_only=True)
    try:
        release = wh.find_release(con, codeset, version)
        newest = wh.loaded_releases(con, codeset)[-1]
        tables = {
            "catalog": con.execute(
                f"SELECT * EXCLUDE (version) FROM {codeset}_catalog WHERE version = ? "
                f"ORDER BY {cfg.key}",
                [version],
            ).df()
        }
        if cfg.detail:
            tables[f"{cfg.detail.name}s"] = con.execute(
                f"SELECT * EXCLUDE (version) FROM {codeset}_details WHERE version = ? "
                f"ORDER BY {cfg.key}, {cfg.detail.id}",
                [version],
            ).df()
        files = con.execute(
            "SELECT files FROM releases WHERE codeset = ? AND version = ?", [codeset, version]
        ).fetchone()[0]
    finally:
        con.close()
    tables["changes"] = comparison.changes
    report = render_report(
        title=cfg.title,
        codeset=codeset,
        version=version,
        effective_date=release.effective_date,
        previous=comparison.previous,
        row_count=release.row_count,
        changes=comparison.changes,
        reconciliation=comparison.reconciliation,
        warnings=[str(w) for w in warnings],
    )
    root = published_root(warehouse_dir)
    path = publish_version(
        root,
        Publication(
            codeset=codeset,
            version=version,
            effective_date=release.effective_date,
            previous_version=comparison.previous,
            tables=tables,
            report_md=report,
            inputs=json.loads(files),
            content_sha256=release.content_sha256,
        ),
    )
    latest = newest.version
    if (root / codeset / latest).exists():
        point_latest(root, codeset, latest, newest.effective_date)
    return path, latest


def call(step: Callable[..., Any], *args: Any) -> Any:
    """Run a step directly (the Prefect flow passes a hook that runs it as a task)."""
    return step(*args)


def refresh(
    codeset: str,
    source_uri: str,
    version: str,
    *,
    warehouse_dir: Path,
    effective: date | None = None,
    transactions: str | None = None,
    run: Callable[..., Any] = call,
) -> RefreshResult:
    """Fetch, read, validate, load, diff, report and publish one release.

    `transactions` is a separate transaction report (HCPCS quarterly files), path or URL.

    A refused release raises (VersionError, ValidationFailed, DecodeError, …) after recording the
    failed attempt in `load_attempts`; loaded releases and published files stay as they were.
    """
    sha = None
    try:
        parsed = Version.parse(version)
        effective = effective or parsed.effective_date
        path = run(fetch_step, source_uri, warehouse_dir)
        extra = run(fetch_step, transactions, warehouse_dir) if transactions else None
        release = run(read_step, codeset, path, extra)
        sha = release.content_sha256
        warnings = run(validate_step, codeset, release, parsed, effective)
        outcome = run(
            load_step, warehouse_dir, codeset, parsed, effective, release, source_uri, warnings
        )
    except CodecatalogError as err:
        _record_refusal(warehouse_dir, codeset, version, source_uri, sha, err)
        raise
    comparison = run(diff_step, warehouse_dir, codeset, version)
    published, latest = run(publish_step, warehouse_dir, codeset, version, comparison, warnings)
    return RefreshResult(
        codeset,
        version,
        outcome,
        published,
        latest,
        comparison.previous,
        change_counts(comparison.changes),
        warnings,
    )


def _record_refusal(
    warehouse_dir: Path,
    codeset: str,
    version: str,
    source_uri: str,
    sha: str | None,
    err: CodecatalogError,
) -> None:
    if isinstance(err, WarehouseBusy):
        return  # the warehouse cannot take the record; the error itself says why
    failures = err.failures if isinstance(err, ValidationFailed) else []
    con = wh.connect(warehouse_dir)
    try:
        wh.record_attempt(
            con,
            codeset=codeset,
            version=version,
            source=source_uri,
            content_sha256=sha,
            outcome="rejected",
            message=str(err),
            failures=failures,
        )
    finally:
        con.close()

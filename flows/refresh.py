"""Refresh one code set release: fetch → read → validate → load → diff → report → publish.

Each task is a thin wrapper over a plain step in `codecatalog.pipeline`; only the network step
retries. The change report is also attached to the run as a markdown artifact.

Run: `codecatalog refresh cpt PATH --version 2026` or `python -m codecatalog.flows.refresh ...`.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from codecatalog import pipeline


# Inputs hold DataFrames and paths: never hash them for a cache (DESIGN: key caches on sha256).
@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
def fetch(source_uri: str, warehouse_dir: Path) -> Path:
    """Fetch the release (local path or http(s) URL)."""
    return pipeline.fetch_step(source_uri, warehouse_dir)


@task(cache_policy=NO_CACHE)
def read(*args: Any) -> Any:
    """Read every file of the release."""
    return pipeline.read_step(*args)


@task(cache_policy=NO_CACHE)
def validate(*args: Any) -> Any:
    """Validate the release against its schemas (all failures at once)."""
    return pipeline.validate_step(*args)


@task(cache_policy=NO_CACHE)
def load(*args: Any) -> str:
    """Load the release into the warehouse in one transaction."""
    return pipeline.load_step(*args)


@task(cache_policy=NO_CACHE)
def diff(*args: Any) -> Any:
    """Compute the changes against the preceding loaded version."""
    return pipeline.diff_step(*args)


@task(cache_policy=NO_CACHE)
def publish(*args: Any) -> Any:
    """Render the report and publish the version directory atomically."""
    path, latest = pipeline.publish_step(*args)
    create_markdown_artifact(
        (path / "report.md").read_text(encoding="utf-8"),
        key=f"{path.parent.name}-change-report",
        description=f"Change report for {path.parent.name} {path.name}",
    )
    return path, latest


_TASKS = {
    pipeline.fetch_step: fetch,
    pipeline.read_step: read,
    pipeline.validate_step: validate,
    pipeline.load_step: load,
    pipeline.diff_step: diff,
    pipeline.publish_step: publish,
}


def _as_task(step: Any, *args: Any) -> Any:
    return _TASKS[step](*args)


@flow(name="codecatalog-refresh", log_prints=True)
def refresh_flow(
    codeset: str,
    source_uri: str,
    version: str,
    warehouse_dir: Path,
    effective: date | None = None,
    transactions: str | None = None,
) -> pipeline.RefreshResult:
    """Refresh one release of `codeset` from `source_uri` as `version`."""
    result = pipeline.refresh(
        codeset,
        source_uri,
        version,
        warehouse_dir=warehouse_dir,
        effective=effective,
        transactions=transactions,
        run=_as_task,
    )
    print(f"{codeset} {version}: {result.outcome}; published {result.published}")
    return result


if __name__ == "__main__":
    from codecatalog.cli import main

    sys.exit(main(["refresh", *sys.argv[1:]]))

"""Refresh one code set release: fetch → read → validate → load → diff → publish.

Each task is a thin wrapper over a plain step in `codecatalog.pipeline`, called in order in the
flow body. Only fetching retries, and only on what a retry can help (connection errors, timeouts,
HTTP 429/5xx): never a 404, a missing path or a refused release. Load, diff and the staging of the
version directory share one warehouse transaction. The change report is attached to the run as a
markdown artifact; each step logs one record with its time and counts into the run's logs
(`codecatalog.steplog`, the same records as an in-process refresh).

Run: `codecatalog refresh cpt PATH --version 2026` (uses this flow when a Prefect API is
configured) or `python -m codecatalog.flows.refresh cpt PATH --version 2026 --prefect`.
"""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
from prefect import Task, flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from codecatalog import orphans, pipeline, steplog
from codecatalog.errors import CodecatalogError, Failure, FetchError
from codecatalog.read.release import Release
from codecatalog.sources import source, use_sources
from codecatalog.writer import Writer


class RefusalsWithoutTraceback(logging.Filter):
    """A refused release is an expected outcome: Prefect logs its message, not a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], CodecatalogError):
            record.exc_info, record.exc_text = None, None
        return True


for _name in ("prefect", "prefect.flow_runs", "prefect.task_runs"):
    for _handler in logging.getLogger(_name).handlers:
        _handler.addFilter(RefusalsWithoutTraceback())

# Prefect restores SIGTERM's handler and re-sends it after recording a crash: let it then exit
# through Python's exit handlers, which stop the temporary API server, instead of dying at once.
orphans.exit_on_sigterm()


def retry_if_transient(task: Task[..., Any], task_run: TaskRun, state: State) -> bool:
    """Retry a fetch only when its error says a retry can help."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, FetchError) and error.transient


# Inputs hold DataFrames, connections and paths: never hash them for a cache.
# The HTTP session already retries connection errors and 5xx twice within one attempt; these task
# retries ride out a longer outage (an attempt that gets nothing gives up after 30-90 s).
@task(
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,
)
def fetch(source_uri: str, warehouse_dir: Path) -> Path:
    """Fetch the release (local path or http(s) URL)."""
    return pipeline.fetch_step(source_uri, warehouse_dir)


@task(cache_policy=NO_CACHE)
def read(codeset: str, path: Path, transactions: Path | None, staging: Path | None) -> Release:
    """Read every file of the release (a table release into the staging database)."""
    return pipeline.read_step(codeset, path, transactions, staging)


@task(cache_policy=NO_CACHE)
def validate(request: pipeline.Request, release: Release) -> list[Failure]:
    """Validate the release against its schemas (all failures at once); return the warnings."""
    return pipeline.validate_step(request, release)


@task(cache_policy=NO_CACHE)
def recover(writer: Writer, root: Path, codeset: str) -> pipeline.Recovered:
    """Stop what a killed refresh left running; publish what it left loaded but unpublished."""
    return pipeline.recover_step(writer, root, codeset)


@task(cache_policy=NO_CACHE)
def load(
    con: duckdb.DuckDBPyConnection,
    request: pipeline.Request,
    release: Release,
    warnings: list[Failure],
) -> pipeline.Loaded:
    """Load the release into the warehouse (inside the refresh's transaction)."""
    return pipeline.load_step(con, request, release, warnings)


@task(cache_policy=NO_CACHE)
def diff(con: duckdb.DuckDBPyConnection, codeset: str, version: str) -> pipeline.Comparison:
    """Compute the changes against the preceding loaded version."""
    return pipeline.diff_step(con, codeset, version)


@task(cache_policy=NO_CACHE)
def publish(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    codeset: str,
    version: str,
    comparison: pipeline.Comparison,
    warnings: list[Failure],
    notes: list[str],
) -> pipeline.Staged:
    """Render the report and write the version directory under a temporary name."""
    return pipeline.publish_step(con, root, codeset, version, comparison, warnings, notes)


@flow(name="codecatalog-refresh", log_prints=True)
def refresh_flow(
    codeset: str,
    source_uri: str,
    version: str,
    warehouse_dir: Path,
    effective: date | None = None,
    transactions: str | None = None,
    wait: float | None = None,
    allow_shrink: bool = False,
    sources: list[Path] | None = None,
) -> pipeline.RefreshResult:
    """Refresh one release of `codeset` from `source_uri` as `version` (waiting up to `wait`
    seconds for another refresh of the same warehouse). `sources`: users' declaration files."""
    orphans.record_children(warehouse_dir)  # Prefect's temporary API server, if it started one
    if sources:
        use_sources([Path(p) for p in sources])
    attempt = pipeline.Attempt(codeset, version, source_uri)
    with pipeline.recorded_refusal(warehouse_dir, attempt):
        request = pipeline.Request.parse(
            codeset, source_uri, version, effective, transactions, allow_shrink
        )
        log = partial(steplog.step, source=codeset, version=request.version.label)
        with log("fetch", uri=source_uri):
            path = fetch(source_uri, warehouse_dir)
        extra = None
        if transactions:
            with log("fetch", uri=transactions):
                extra = fetch(transactions, warehouse_dir)
        table = source(codeset).family == "table"
        with pipeline.staging_area(warehouse_dir, table) as staging:
            with log("read") as logged:
                release = read(codeset, path, extra, staging)
                logged.done(pipeline.read_counts(release))
            attempt.content_sha256 = release.content_sha256
            with log("validate") as logged:
                warnings = validate(request, release)
                logged.done(pipeline.validate_counts(warnings))
            root = pipeline.published_root(warehouse_dir)
            with pipeline.open_writer(warehouse_dir, wait=wait) as writer:
                with log("recover") as logged:
                    recovered = recover(writer, root, codeset)
                    logged.done(pipeline.recover_counts(recovered))
                with ExitStack() as placing:  # leaving `landing` commits and places: logged here
                    with pipeline.landing(writer, root, codeset, version) as landed:
                        with log("load") as logged:
                            loaded = load(writer.con, request, release, warnings)
                            logged.done(pipeline.load_counts(writer.con, request, loaded))
                        with log("diff") as logged:
                            comparison = diff(writer.con, codeset, version)
                            logged.done(pipeline.diff_counts(comparison))
                        with log("publish") as logged:
                            landed.staged = publish(
                                writer.con,
                                root,
                                codeset,
                                version,
                                comparison,
                                warnings,
                                loaded.notes,
                            )
                            logged.done(pipeline.publish_counts(landed.staged))
                        placed = placing.enter_context(log("place"))
                    placed.done({"latest": landed.latest})
    result = pipeline.refresh_result(request, loaded, recovered, comparison, landed, warnings)
    create_markdown_artifact(
        (result.published / "report.md").read_text(encoding="utf-8"),
        key=f"{codeset.replace('_', '-')}-change-report",  # Prefect: a-z, 0-9, -
        description=f"Change report for {codeset} {version}",
    )
    for warning in result.warnings:
        print(f"warning: {warning}")
    for note in result.notes:
        print(f"note: {note}")
    print(f"{codeset} {version}: {result.outcome}; published {result.published}")
    return result


if __name__ == "__main__":
    from codecatalog.cli import main

    sys.exit(main(["refresh", *sys.argv[1:]]))

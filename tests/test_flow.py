"""The real Prefect flow against one shared local Prefect server (marked `prefect`), and the
retry rule (plain)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest
from cli_run import refresh_argv, run_cli
from local_http import serving
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.states import Failed
from warehouse_state import attempts

from codecatalog.errors import FetchError, VersionError
from codecatalog.flows.refresh import refresh_flow, retry_if_transient


async def _artifacts(key: str) -> list:
    async with get_client() as client:
        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )


async def _flow_run_states(ids: list) -> list[str]:
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))
        )
    return [run.state.type.value for run in runs]


@pytest.mark.prefect
def test_refresh_flow_publishes_and_attaches_the_report(
    prefect_api: str, samples: Path, tmp_path: Path
) -> None:
    wh = tmp_path / "wh"
    first = refresh_flow("cpt", str(samples / "cpt-2024"), "2024", wh)
    second = refresh_flow("cpt", str(samples / "cpt-2025"), "2025", wh)

    assert (first.outcome, first.previous, second.outcome, second.previous) == (
        "loaded",
        None,
        "loaded",
        "2024",
    )
    summary = json.loads((samples / "truth/summary.json").read_text())["2024_2025"]
    assert second.counts == summary
    changes = pd.read_csv(second.published / "changes.csv", dtype=str, keep_default_na=False)
    truth = pd.read_csv(samples / "truth/changes_2024_2025.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(changes, truth)

    artifacts = asyncio.run(_artifacts("cpt-change-report"))
    assert sorted(a.data for a in artifacts) == sorted(
        (run.published / "report.md").read_text() for run in (first, second)
    )


@pytest.mark.prefect
def test_a_refused_release_fails_the_flow_run_and_is_recorded(
    prefect_api: str, samples: Path, tmp_path: Path
) -> None:
    wh = tmp_path / "wh"
    refresh_flow("cpt", str(samples / "cpt-2024"), "2024", wh)
    state = refresh_flow("cpt", str(samples / "cpt-2025"), "2024r1", wh, return_state=True)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, VersionError)
    assert str(error) == (
        "version 2024r1 contradicts standard/LONGULT.txt: it states the year 2025"
    )
    assert [(a["version"], a["outcome"], a["message"]) for a in attempts(wh)] == [
        ("2024", "loaded", ""),
        ("2024r1", "rejected", str(error)),
    ]


@pytest.mark.prefect
def test_a_404_is_fetched_once_and_not_retried(prefect_api: str, tmp_path: Path) -> None:
    with serving({}) as server:
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            refresh_flow("cpt", server.url("/cpt-2026.zip"), "2026", tmp_path / "wh")
        elapsed = time.monotonic() - started
        assert server.hits["/cpt-2026.zip"] == 1
    assert caught.value.transient is False
    assert elapsed < 10  # the first retry would wait 10 s


@pytest.mark.prefect
def test_the_cli_runs_the_flow_when_an_api_is_configured(
    prefect_api: str, samples: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    done = run_cli(refresh_argv(samples / "cpt-2024", "2024", tmp_path / "wh"), env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "cpt 2024: loaded"
    run_ids = [line.rsplit("/", 1)[1] for line in done.stderr.splitlines() if "View at " in line]
    assert len(run_ids) == 1, done.stderr
    assert asyncio.run(_flow_run_states(run_ids)) == ["COMPLETED"]


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (FetchError("http://x/r.zip", "HTTP 503 Service Unavailable", transient=True), True),
        (FetchError("http://x/r.zip", "HTTP 404 Not Found"), False),
        (FetchError("missing/path", "no such file or directory"), False),
        (VersionError("version 2024 contradicts …"), False),
    ],
)
def test_only_transient_fetch_errors_are_retried(error: Exception, retried: bool) -> None:
    assert retry_if_transient(None, None, Failed(data=error)) is retried


@pytest.mark.prefect
def test_refresh_flow_of_a_declared_table_source(prefect_api: str, tmp_path: Path) -> None:
    """A deployment passes the user's declaration files as the `sources` parameter."""
    from test_table_refresh import ACME, acme_rows, acme_zip

    from codecatalog.sources import use_sources

    rows = acme_rows()
    wh = tmp_path / "wh"
    try:
        first = refresh_flow("acme_edits", str(acme_zip(tmp_path / "q1.zip", rows, 30)),
                             "2026Q1", wh, sources=[ACME])  # fmt: skip
        second = refresh_flow("acme_edits", str(acme_zip(tmp_path / "q2.zip", rows[1:], 30)),
                              "2026Q2", wh, sources=[ACME])  # fmt: skip
    finally:
        use_sources([])
    assert (first.outcome, second.outcome, second.previous) == ("loaded", "loaded", "2026Q1")
    assert second.counts["retired"] == 1
    changes = pd.read_csv(second.published / "changes.csv", dtype=str, keep_default_na=False)
    assert changes[["key", "change_type"]].values.tolist() == [["00100|99213", "retired"]]
    artifacts = asyncio.run(_artifacts("acme-edits-change-report"))
    assert len(artifacts) == 2

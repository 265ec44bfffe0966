"""The real Prefect flow, run against a temporary local Prefect server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pandas as pd
import pytest

prefect = pytest.importorskip("prefect")
from codecatalog.flows.refresh import refresh_flow  # noqa: E402
from prefect.client.orchestration import get_client  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402


@pytest.fixture(scope="module")
def prefect_server():
    with prefect_test_harness():
        yield


async def _artifact(key: str):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    return found


@pytest.mark.prefect
def test_refresh_flow_publishes_and_attaches_the_report(
    prefect_server: None, samples: Path, tmp_path: Path
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

    artifacts = asyncio.run(_artifact("cpt-change-report"))
    assert sorted(a.data for a in artifacts) == sorted(
        (run.published / "report.md").read_text() for run in (first, second)
    )

"""The scheduled flows on the shared local Prefect server (marked `prefect`, issue 10 §3, §4, §6):
a waiting run ends Completed with a `waiting` artifact, a refused one Failed with an artifact of
every failure, both notify through the webhook block saved on the server (a local receiver); the
multi-source run refreshes what it can and fails naming the source that was refused. The message
of a notification is checked without a server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from declared_sources import MONTHLY, QUARTERLY, declared, scheduled
from local_http import LocalServer, serving
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from codecatalog.errors import Failure
from codecatalog.notify import notify
from codecatalog.scheduled import Outcome

DECLARATIONS = scheduled("fees", "fee", *QUARTERLY) + scheduled("limits", "units", *MONTHLY)
RUN_DAY = date(2026, 12, 7)


def webhook(receiver: LocalServer) -> CustomWebhookNotificationBlock:
    return CustomWebhookNotificationBlock(
        name="codecatalog",
        url=receiver.url("/hook"),
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
        allow_private_urls=True,
    )


def posted(receiver: LocalServer) -> list[dict[str, str]]:
    return [json.loads(body) for _, body in receiver.posted]


def test_a_refusal_notifies_with_its_failures_and_a_success_does_not() -> None:
    refused = Outcome(
        "fees", "quarterly", "refused", "2027Q1", "fees.csv: 2 validation failure(s)", None,
        [Failure("fees.csv", 3, "code", "field_uniqueness", "A0001")],
    )  # fmt: skip
    done = Outcome("fees", "quarterly", "refreshed", "2027Q1", "loaded")
    with serving({}) as receiver:
        assert notify(refused, webhook(receiver)) is True
        assert notify(done, webhook(receiver)) is False
        assert posted(receiver) == [
            {
                "subject": "codecatalog: fees 2027Q1 refused",
                "body": "fees.csv: 2 validation failure(s)\n"
                "fees.csv: line 3, column 'code': field_uniqueness (value 'A0001')",
            }
        ]


async def _artifacts(key: str) -> list[str]:
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
        return [str(a.data) for a in found]


@pytest.fixture
def fees(tmp_path: Path) -> Iterator[Path]:
    with declared(tmp_path, DECLARATIONS):
        wh = tmp_path / "wh"
        for name in ("fees", "limits"):
            (wh / "drop" / name).mkdir(parents=True)
        yield wh


@pytest.mark.prefect
def test_waiting_refused_then_refreshed_runs(prefect_api: str, fees: Path) -> None:
    from codecatalog.flows.scheduled import ScheduledRefreshFailed, scheduled_refresh

    with serving({}) as receiver:
        webhook(receiver).save("codecatalog-alerts", overwrite=True)
        run = {"warehouse_dir": str(fees), "run_date": RUN_DAY}
        assert scheduled_refresh("fees", "quarterly", **run) == "waiting"
        bad = fees / "drop" / "fees" / "fees.csv"
        bad.write_text("Code,Fee\nA0001,10\nA0001,11\n")
        with pytest.raises(ScheduledRefreshFailed):
            scheduled_refresh("fees", "quarterly", **run)
        bad.write_text("Code,Fee\nA0001,10\nA0002,11\n")
        assert scheduled_refresh("fees", "quarterly", **run) == "refreshed"
        assert [p["subject"] for p in posted(receiver)] == [
            "codecatalog: fees 2027Q1 waiting",
            "codecatalog: fees 2027Q1 refused",
        ]
    assert asyncio.run(_artifacts("fees-waiting")) == [
        f"# fees 2027Q1: waiting\n\nno new release in {fees / 'drop' / 'fees'}; put the "
        "Invented fees release there (a .zip, .txt, .xlsx or .csv file, or a folder)\n"
    ]
    [refused] = asyncio.run(_artifacts("fees-refused"))
    assert refused.splitlines()[-3:] == [
        "|---|---:|---|---|---|",
        "| fees.csv | 2 | code | field_uniqueness | A0001 |",
        "| fees.csv | 3 | code | field_uniqueness | A0001 |",
    ]
    report = fees / "published" / "fees" / "2027Q1" / "report.md"
    assert asyncio.run(_artifacts("fees-refreshed")) == [report.read_text(encoding="utf-8")]


@pytest.mark.prefect
def test_refresh_due_refreshes_what_it_can_and_names_what_failed(
    prefect_api: str, fees: Path
) -> None:
    from codecatalog.flows.scheduled import ScheduledRefreshFailed, refresh_due

    (fees / "drop" / "fees" / "fees.csv").write_text("Code,Fee\nA0001,10\n")
    (fees / "drop" / "limits" / "limits.csv").write_text("Code,Units\nB0001,1\nB0001,2\n")
    with pytest.raises(ScheduledRefreshFailed) as failed:
        refresh_due(warehouse_dir=str(fees), only=["limits", "fees"])
    assert str(failed.value).startswith("1 of 2 sources failed: limits ")
    assert (fees / "published" / "fees").is_dir()
    assert not (fees / "published" / "limits").exists()
    [summary] = asyncio.run(_artifacts("refresh-due-summary"))
    rows = [line.strip("| ").split(" | ") for line in summary.splitlines()[2:]]
    assert [(row[0], row[2]) for row in rows] == [("fees", "refreshed"), ("limits", "refused")]

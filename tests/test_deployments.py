"""The data engineer's path on a real local Prefect server (marked `prefect`, issue 10 §1): create
the `process` work pool, `prefect deploy --all` the generated prefect.yaml, trigger a scheduled
refresh, let a worker run it to completion, and read back its artifact and its publication."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from cli_run import interruptible
from declared_sources import QUARTERLY, declared, scheduled
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterName,
)

from codecatalog.schedules import WORK_POOL, next_runs, planned, prefect_yaml
from codecatalog.sources import Schedule, sources

ROOT = Path(__file__).parent.parent
PREFECT = str(Path(sys.executable).parent / "prefect")
TARIFF = scheduled("tariff", "fee", *QUARTERLY)


def prefect(env: dict[str, str], *args: str, timeout: float = 240) -> str:
    done = subprocess.run(
        [PREFECT, "--no-prompt", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def _deployments() -> dict[str, list[tuple[str, str]]]:
    async with get_client() as client:
        found = await client.read_deployments()
        return {
            d.name: [(s.schedule.cron, s.schedule.timezone) for s in d.schedules]  # type: ignore[union-attr]
            for d in found
        }


async def _run_state(name: str) -> str | None:
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
        return runs[0].state.type.value if runs and runs[0].state else None


async def _artifact(key: str) -> list[str]:
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
        return [str(a.data) for a in found]


@pytest.mark.prefect
def test_deploy_all_and_run_a_scheduled_refresh(prefect_api: str, tmp_path: Path) -> None:
    with declared(tmp_path, TARIFF) as toml:
        text = prefect_yaml(planned(sources()))
    (tmp_path / "prefect.yaml").write_text(text)
    wh = tmp_path / "wh"
    (wh / "drop" / "tariff").mkdir(parents=True)
    (wh / "drop" / "tariff" / "tariff.csv").write_text("Code,Fee\nA0001,10\nA0002,20\n")
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "PWD": str(ROOT),  # the pull step enters the directory `prefect deploy` ran in
        "CODECATALOG_SOURCES": str(toml),
        "CODECATALOG_WAREHOUSE": str(wh),
    }
    prefect(env, "work-pool", "create", WORK_POOL, "--type", "process", "--overwrite")
    prefect(env, "deploy", "--all", "--prefect-file", str(tmp_path / "prefect.yaml"))
    deployed = asyncio.run(_deployments())
    expected = {p.deployment: [(p.schedule.cron, p.schedule.timezone)] for p in planned()}
    assert {k: v for k, v in deployed.items() if k in expected} == expected
    assert "tariff-quarterly" in deployed and "refresh-due" in deployed

    out = prefect(
        env, "deployment", "run", "codecatalog-scheduled-refresh/tariff-quarterly",
        "--param", 'run_date="2026-12-07"',
    )  # fmt: skip
    name = next(line.split("'")[1] for line in out.splitlines() if "Created flow run" in line)
    worker = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", WORK_POOL, "--limit", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=interruptible,
    )  # fmt: skip
    try:
        deadline, state = time.monotonic() + 240, None
        while time.monotonic() < deadline:
            state = asyncio.run(_run_state(name))
            if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            time.sleep(2)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert state == "COMPLETED"
    report = wh / "published" / "tariff" / "2027Q1" / "report.md"
    assert asyncio.run(_artifact("tariff-refreshed")) == [report.read_text(encoding="utf-8")]
    # `codecatalog status` reads the next run from the server once its scheduler made one.
    deadline, row = time.monotonic() + 120, {}
    while time.monotonic() < deadline:
        row = status_of(env, "tariff")
        if row["next_run_from"] == "server":
            break
        time.sleep(5)
    first = next_runs(Schedule("quarterly", *QUARTERLY), 1, datetime.now().astimezone())[0]
    assert (row["last_attempt"], row["latest"], row["next_run_from"]) == (
        "loaded", "2027Q1", "server",
    )  # fmt: skip
    assert datetime.fromisoformat(row["next_run"]) == first


async def _served() -> dict[str, tuple[bool, list[tuple[str, str]]]]:
    async with get_client() as client:
        found = await client.read_deployments()
        return {
            d.name: (
                d.status is not None and d.status.value == "READY",
                [(s.schedule.cron, s.schedule.timezone) for s in d.schedules],  # type: ignore[union-attr]
            )
            for d in found
        }


@pytest.mark.prefect
def test_serve_registers_every_schedule_from_one_process(prefect_api: str, tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    argv = [str(Path(sys.executable).parent / "codecatalog"), "serve", "--warehouse", str(tmp_path)]
    served = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              preexec_fn=interruptible)  # fmt: skip
    lines: list[str] = []
    try:
        assert served.stdout is not None
        for line in served.stdout:  # until Prefect says it serves (or the process ends)
            lines.append(line)
            if "being served" in line:
                break
        found = {k: v for k, v in asyncio.run(_served()).items() if k in EXPECTED_SERVED}
        assert found == EXPECTED_SERVED, "".join(lines)
    finally:
        served.send_signal(signal.SIGINT)
        out, _ = served.communicate(timeout=60)
    assert served.returncode == 0, "".join(lines) + out
    assert out.splitlines()[-1] == (
        "stopped serving; the deployments and their schedules stay registered"
    )


EXPECTED_SERVED = {
    p.deployment: (True, [(p.schedule.cron, p.schedule.timezone)]) for p in planned()
}


def status_of(env: dict[str, str], name: str) -> dict[str, str]:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "codecatalog"), "status", "--format", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return next(row for row in json.loads(done.stdout) if row["source"] == name)

"""The one log record per refresh step (`codecatalog.steplog`): the exact records of in-process
refreshes of the synthetic CPT releases and of the HCPCS excerpts (a new version, a reload that
also publishes what an interrupted refresh left, a refused release), the JSON lines of
`CODECATALOG_LOG_FORMAT=json`, and the same records in a Prefect flow run's logs (marked
`prefect`)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_run import run_cli
from declared_sources import declared

from codecatalog import steplog
from codecatalog.errors import UsageError, ValidationFailed
from codecatalog.pipeline import refresh

HCPCS = Path(__file__).parent / "cases" / "hcpcs"
RECORD_ATTRIBUTES = {
    *logging.LogRecord("", 0, "", 0, "", None, None).__dict__,
    "message",
    "asctime",
}
# The data lines of each file of the synthetic 2025 CPT release (seed 0).
CPT_2025_FILES = {
    "standard/LONGULT.txt": 10_935,
    "standard/MEDU.txt": 10_935,
    "standard/SHORTU.txt": 10_935,
    "standard/Consumer Friendly Descriptors/ConsumerDescriptor.txt": 10_429,
    "standard/Clinician Descriptors/ClinicianDescriptor.txt": 26_041,
    "standard/Proprietary Laboratory Analyses (PLA) Codes/CPTPLA": 412,
    "CPT Link/history/History_DTK_tab.txt": 11_435,
    "CPT Link/history/Deleted_DTK_tab.txt": 249,
}
TARIFF = """[tariff]
title = "A tariff"
family = "table"
key = ["code"]
schema = "tariff.yaml"
descriptors = ["description"]
[tariff.columns]
code = "Code"
description = "Description"
"""
NO_CHANGES = {
    "added": 0,
    "retired": 0,
    "reactivated": 0,
    "descriptor_revised": 0,
    "descriptor_editorial": 0,
    "attribute_changed": 0,
}


@pytest.fixture
def steps(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The records logged during the test, the step records at INFO included."""
    caplog.set_level(logging.INFO, logger="codecatalog.steps")
    return caplog


def fields(records: list[logging.LogRecord]) -> list[dict[str, Any]]:
    """Each step record's own fields, `seconds` checked (a float >= 0) and left out."""
    found = []
    for record in records:
        if record.name != "codecatalog.steps":
            continue
        own = {k: v for k, v in record.__dict__.items() if k not in RECORD_ATTRIBUTES}
        seconds = own.pop("seconds")
        assert isinstance(seconds, float) and seconds >= 0, seconds
        found.append(own)
    return found


def messages(records: list[logging.LogRecord]) -> list[tuple[str, str]]:
    """(level, message) of each step record, its time shown as `T`."""
    return [
        (r.levelname, re.sub(r" in \d+\.\d\d s", " in T s", r.getMessage()))
        for r in records
        if r.name == "codecatalog.steps"
    ]


def test_each_step_logs_its_counts_once(
    samples: Path, tmp_path: Path, steps: pytest.LogCaptureFixture
) -> None:
    wh = tmp_path / "wh"
    refresh("cpt", str(samples / "cpt-2024"), "2024", warehouse_dir=wh)
    steps.clear()
    refresh("cpt", str(samples / "cpt-2025"), "2025", warehouse_dir=wh)

    release = {"source": "cpt", "version": "2025"}
    changes = json.loads((samples / "truth/summary.json").read_text())["2024_2025"]
    assert fields(steps.records) == [
        {"step": "fetch", **release, "outcome": "ok", "uri": str(samples / "cpt-2025")},
        {
            "step": "read",
            **release,
            "outcome": "ok",
            "rows": 81_371,
            "rows_by_file": CPT_2025_FILES,
        },
        {"step": "validate", **release, "outcome": "ok", "failures": 0, "warnings": 0},
        {"step": "load", **release, "outcome": "loaded", "rows": 10_935},
        {"step": "diff", **release, "outcome": "ok", "previous": "2024", "changes": changes},
        {"step": "publish", **release, "outcome": "ok", "files": 11},
        {"step": "place", **release, "outcome": "ok", "latest": "2025"},
    ]
    published = wh / "published/cpt/2025"
    assert len([p for p in published.rglob("*") if p.is_file()]) == 11
    assert sum(1 for _ in (published / "catalog.csv").open()) - 1 == 10_935
    per_file = ", ".join(f"{name} {rows:,}" for name, rows in CPT_2025_FILES.items())
    by_type = ", ".join(f"{kind} {n}" for kind, n in changes.items())
    assert messages(steps.records) == [
        ("INFO", f"cpt 2025 fetch: uri {samples / 'cpt-2025'} in T s"),
        ("INFO", f"cpt 2025 read: 81,371 rows; rows by file: {per_file} in T s"),
        ("INFO", "cpt 2025 validate: 0 failures; 0 warnings in T s"),
        ("INFO", "cpt 2025 load: loaded; 10,935 rows in T s"),
        ("INFO", f"cpt 2025 diff: previous 2024; changes: {by_type} in T s"),
        ("INFO", "cpt 2025 publish: 11 files in T s"),
        ("INFO", "cpt 2025 place: latest 2025 in T s"),
    ]


def test_recovery_is_logged_when_it_publishes_something(
    samples: Path, loaded_warehouse: Path, steps: pytest.LogCaptureFixture
) -> None:
    shutil.rmtree(loaded_warehouse / "published/cpt/2026")  # as if killed after its commit
    refresh("cpt", str(samples / "cpt-2026"), "2026", warehouse_dir=loaded_warehouse)

    release = {"source": "cpt", "version": "2026"}
    assert [f["step"] for f in fields(steps.records)] == [
        "fetch",
        "read",
        "validate",
        "recover",
        "load",
        "diff",
        "publish",
        "place",
    ]
    assert fields(steps.records)[3:] == [
        {"step": "recover", **release, "outcome": "ok", "published": ["2026"], "orphans": []},
        {"step": "load", **release, "outcome": "unchanged", "rows": 11_038},
        {
            "step": "diff",
            **release,
            "outcome": "ok",
            "previous": "2025",
            "changes": json.loads((samples / "truth/summary.json").read_text())["2025_2026"],
        },
        {"step": "publish", **release, "outcome": "already_published", "files": 0},
        {"step": "place", **release, "outcome": "ok", "latest": "2026"},
    ]
    assert messages(steps.records)[3] == ("INFO", "cpt 2026 recover: published 2026 in T s")
    assert messages(steps.records)[6] == (
        "INFO",
        "cpt 2026 publish: already published; 0 files in T s",
    )


def _bad_hcpcs(tmp_path: Path) -> Path:
    """The 2017 excerpt with two impossible dates on line 10."""
    lines = (HCPCS / "excerpt_2017_ANWEB.txt").read_bytes().split(b"\r\n")
    line = lines[9].ljust(320)
    line = line[:268] + b"2017011A" + line[276:284] + b"20171331" + line[292:]
    lines[9] = line
    bad = tmp_path / "HCPC17_BAD_ANWEB.txt"
    bad.write_bytes(b"\r\n".join(lines))
    return bad


def test_a_refused_release_logs_its_failing_step(
    tmp_path: Path, steps: pytest.LogCaptureFixture
) -> None:
    bad = _bad_hcpcs(tmp_path)
    with pytest.raises(ValidationFailed) as refused:
        refresh("hcpcs", str(bad), "2017", warehouse_dir=tmp_path / "wh")

    assert len(refused.value.failures) == 2
    release = {"source": "hcpcs", "version": "2017"}
    error = "HCPC17_BAD_ANWEB.txt: 2 validation failure(s)"
    assert fields(steps.records) == [
        {"step": "fetch", **release, "outcome": "ok", "uri": str(bad)},
        {
            "step": "read",
            **release,
            "outcome": "ok",
            "rows": 7,
            "rows_by_file": {"HCPC17_BAD_ANWEB.txt": 7},
        },
        {"step": "validate", **release, "outcome": "failed", "error": error, "failures": 2},
    ]
    assert messages(steps.records)[2] == (
        "WARNING",
        f"hcpcs 2017 validate: failed; 2 failures in T s: {error}",
    )


@pytest.fixture
def log_stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What `configure()` writes with $CODECATALOG_LOG_FORMAT=json; unconfigured afterwards."""
    monkeypatch.setenv("CODECATALOG_LOG_FORMAT", "json")
    stream = io.StringIO()
    steplog.configure(stream)
    yield stream
    steplog.configure(log_format="")


def test_json_format_writes_one_object_per_line(tmp_path: Path, log_stream: io.StringIO) -> None:
    wh = tmp_path / "wh"
    refresh("hcpcs", str(HCPCS / "excerpt_2017_ANWEB.txt"), "2017", warehouse_dir=wh)
    with pytest.raises(ValidationFailed):
        refresh("hcpcs", str(_bad_hcpcs(tmp_path)), "2017", warehouse_dir=wh)

    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    for line in lines:
        assert isinstance(line.pop("seconds"), float)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line.pop("time"))
        assert line.pop("logger") == "codecatalog.steps"
        line["message"] = re.sub(r" in \d+\.\d\d s", " in T s", line["message"])
    first = second = {"source": "hcpcs", "version": "2017"}
    uri = str(HCPCS / "excerpt_2017_ANWEB.txt")
    error = "HCPC17_BAD_ANWEB.txt: 2 validation failure(s)"
    assert lines == [
        {
            "level": "INFO",
            "message": f"hcpcs 2017 fetch: uri {uri} in T s",
            "step": "fetch",
            **first,
            "outcome": "ok",
            "uri": uri,
        },
        {
            "level": "INFO",
            "message": "hcpcs 2017 read: 7 rows; rows by file: excerpt_2017_ANWEB.txt 7 in T s",
            "step": "read",
            **first,
            "outcome": "ok",
            "rows": 7,
            "rows_by_file": {"excerpt_2017_ANWEB.txt": 7},
        },
        {
            "level": "INFO",
            "message": "hcpcs 2017 validate: 0 failures; 0 warnings in T s",
            "step": "validate",
            **first,
            "outcome": "ok",
            "failures": 0,
            "warnings": 0,
        },
        {
            "level": "INFO",
            "message": "hcpcs 2017 load: loaded; 7 rows in T s",
            "step": "load",
            **first,
            "outcome": "loaded",
            "rows": 7,
        },
        {
            "level": "INFO",
            "message": "hcpcs 2017 diff: changes: added 0, retired 0, reactivated 0, "
            "descriptor_revised 0, descriptor_editorial 0, attribute_changed 0 in T s",
            "step": "diff",
            **first,
            "outcome": "ok",
            "previous": None,
            "changes": NO_CHANGES,
        },
        {
            "level": "INFO",
            "message": "hcpcs 2017 publish: 9 files in T s",
            "step": "publish",
            **first,
            "outcome": "ok",
            "files": 9,
        },
        {
            "level": "INFO",
            "message": "hcpcs 2017 place: latest 2017 in T s",
            "step": "place",
            **first,
            "outcome": "ok",
            "latest": "2017",
        },
        {
            "level": "INFO",
            "message": f"hcpcs 2017 fetch: uri {tmp_path / 'HCPC17_BAD_ANWEB.txt'} in T s",
            "step": "fetch",
            **second,
            "outcome": "ok",
            "uri": str(tmp_path / "HCPC17_BAD_ANWEB.txt"),
        },
        {
            "level": "INFO",
            "message": "hcpcs 2017 read: 7 rows; rows by file: HCPC17_BAD_ANWEB.txt 7 in T s",
            "step": "read",
            **second,
            "outcome": "ok",
            "rows": 7,
            "rows_by_file": {"HCPC17_BAD_ANWEB.txt": 7},
        },
        {
            "level": "WARNING",
            "message": f"hcpcs 2017 validate: failed; 2 failures in T s: {error}",
            "step": "validate",
            **second,
            "outcome": "failed",
            "error": error,
            "failures": 2,
        },
    ]


def test_a_table_release_counts_the_rows_of_each_file_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = tmp_path / "tariff-2026"
    release.mkdir()
    (release / "a.csv").write_text("Code,Description\nA1,one\nA2,two\n")
    (release / "b.csv").write_text("Code,Description\nB1,three\n")
    monkeypatch.setenv("CODECATALOG_LOG_FORMAT", "text")
    stream = io.StringIO()
    steplog.configure(stream)
    try:
        with declared(tmp_path, TARIFF):
            refresh("tariff", str(release), "2026", warehouse_dir=tmp_path / "wh")
    finally:
        steplog.configure(log_format="")

    timestamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
    lines = [
        re.sub(r" in \d+\.\d\d s", " in T s", re.sub(timestamp, "", line))
        for line in stream.getvalue().splitlines()
    ]
    assert lines == [
        f"INFO tariff 2026 fetch: uri {release} in T s",
        "INFO tariff 2026 read: 3 rows; rows by file: a.csv 2, b.csv 1 in T s",
        "INFO tariff 2026 validate: 0 failures; 0 warnings in T s",
        "INFO tariff 2026 load: loaded; 3 rows in T s",
        "INFO tariff 2026 diff: changes: added 0, retired 0, reactivated 0, descriptor_revised 0, "
        "descriptor_editorial 0, attribute_changed 0 in T s",
        "INFO tariff 2026 publish: 8 files in T s",
        "INFO tariff 2026 place: latest 2026 in T s",
    ]


def test_records_go_nowhere_unless_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CODECATALOG_LOG_FORMAT", raising=False)
    stream = io.StringIO()
    steplog.configure(stream)
    refresh("hcpcs", str(HCPCS / "excerpt_2017_ANWEB.txt"), "2017", warehouse_dir=tmp_path / "wh")
    assert stream.getvalue() == ""


def test_an_unknown_log_format_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODECATALOG_LOG_FORMAT", "yaml")
    with pytest.raises(UsageError) as refused:
        steplog.configure(io.StringIO())
    assert str(refused.value) == "$CODECATALOG_LOG_FORMAT='yaml': use one of json, text"


async def _step_logs(flow_run_id: Any) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    async with get_client() as client:
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return [log.message for log in logs if log.name == "codecatalog.steps"]


@pytest.mark.prefect
def test_a_flow_run_holds_the_same_records(prefect_api: str, tmp_path: Path) -> None:
    from codecatalog.flows.refresh import refresh_flow

    uri = str(HCPCS / "excerpt_2017_ANWEB.txt")
    state = refresh_flow("hcpcs", uri, "2017", tmp_path / "wh", return_state=True)
    assert state.is_completed()
    run_id = state.state_details.flow_run_id
    deadline = time.monotonic() + 60
    found = asyncio.run(_step_logs(run_id))
    while len(found) < 7 and time.monotonic() < deadline:  # logs reach the API in batches
        time.sleep(0.5)
        found = asyncio.run(_step_logs(run_id))
    assert [re.sub(r" in \d+\.\d\d s", " in T s", m) for m in found] == [
        f"hcpcs 2017 fetch: uri {uri} in T s",
        "hcpcs 2017 read: 7 rows; rows by file: excerpt_2017_ANWEB.txt 7 in T s",
        "hcpcs 2017 validate: 0 failures; 0 warnings in T s",
        "hcpcs 2017 load: loaded; 7 rows in T s",
        "hcpcs 2017 diff: changes: added 0, retired 0, reactivated 0, descriptor_revised 0, "
        "descriptor_editorial 0, attribute_changed 0 in T s",
        "hcpcs 2017 publish: 9 files in T s",
        "hcpcs 2017 place: latest 2017 in T s",
    ]


def test_the_cli_writes_json_step_records_on_stderr_only(tmp_path: Path) -> None:
    env = {**os.environ, "CODECATALOG_LOG_FORMAT": "json"}
    argv = ["refresh", "hcpcs", str(HCPCS / "excerpt_2017_ANWEB.txt"), "--version", "2017",
            "--warehouse", str(tmp_path / "wh"), "--plain"]  # fmt: skip
    done = run_cli(argv, env)
    plain = run_cli([*argv[:-3], "--warehouse", str(tmp_path / "other"), "--plain"])
    assert done.returncode == plain.returncode == 0
    assert done.stdout == plain.stdout.replace(str(tmp_path / "other"), str(tmp_path / "wh"))
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(r["step"], r["source"], r["version"], r["outcome"]) for r in records] == [
        ("fetch", "hcpcs", "2017", "ok"),
        ("read", "hcpcs", "2017", "ok"),
        ("validate", "hcpcs", "2017", "ok"),
        ("load", "hcpcs", "2017", "loaded"),
        ("diff", "hcpcs", "2017", "ok"),
        ("publish", "hcpcs", "2017", "ok"),
        ("place", "hcpcs", "2017", "ok"),
    ]
    assert plain.stderr == ""

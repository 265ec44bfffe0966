"""Orphaned processes (issue 10 §5), with real processes: a run that records its children and is
SIGKILLed leaves them running, and `stop_recorded` stops them (one line each) and removes the
record; a record whose run is alive is left alone; a recorded PID now held by another process
(another start time) is never signalled; a recorded run stopped by SIGTERM or Ctrl-C leaves no
process and no record. And the next refresh says in its notes what it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_run import interruptible
from test_crash_safety import LOAD_NOTES

from codecatalog.orphans import Process, running, stop_recorded
from codecatalog.pipeline import refresh

# A run that starts `sleep 300`, records its children and says so, then waits to be stopped, or
# SIGKILLs itself when told to.
RUN = """
import os, signal, subprocess, sys, time
from codecatalog import orphans
warehouse, then = sys.argv[1:]
orphans.exit_on_sigterm()
child = subprocess.Popen(["sleep", "300"])
orphans.record_children(warehouse)
print(child.pid, flush=True)
if then == "die":
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(60)
"""


@pytest.fixture
def runs() -> Iterator[list[subprocess.Popen[str]]]:
    """The recorded runs a test starts; killed afterwards with their `sleep` if still running."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for run in started:
        run.kill()
        run.wait()
        child = CHILDREN.pop(run.pid)
        if running(child):
            os.kill(child.pid, signal.SIGKILL)


CHILDREN: dict[int, Process] = {}  # run PID -> its `sleep 300`


def start_run(warehouse: Path, then: str, runs: list[subprocess.Popen[str]]) -> tuple[int, Process]:
    """Start a recorded run; once it has recorded its child, return its PID and that child."""
    run = subprocess.Popen(
        [sys.executable, "-c", RUN, str(warehouse), then],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    runs.append(run)
    assert run.stdout is not None
    child = CHILDREN[run.pid] = process(int(run.stdout.readline()))
    return run.pid, child


def process(pid: int) -> Process:
    """The process `pid` as it runs now (its start time from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return Process(pid, int(fields[19]), "sleep 300")


def killed_run(warehouse: Path, runs: list[subprocess.Popen[str]]) -> tuple[int, Process]:
    """A recorded run SIGKILLed after starting `sleep 300`: its PID and the orphaned child."""
    pid, orphan = start_run(warehouse, "die", runs)
    assert runs[-1].wait(timeout=30) == -signal.SIGKILL
    assert running(orphan)  # reparented, still running
    return pid, orphan


def records(warehouse: Path) -> list[str]:
    return sorted(p.name for p in (warehouse / "running").iterdir())


def test_the_children_of_a_killed_run_are_stopped_and_its_record_removed(
    tmp_path: Path, runs: list[subprocess.Popen[str]]
) -> None:
    pid, orphan = killed_run(tmp_path, runs)
    record = json.loads((tmp_path / "running" / f"{pid}.json").read_text())
    assert record["owner"]["pid"] == pid
    assert record["children"] == [
        {"pid": orphan.pid, "start": orphan.start, "command": "sleep 300"}
    ]

    lines = stop_recorded(tmp_path)

    assert lines == [
        f"stopped orphaned process {orphan.pid} (sleep 300) left by a killed refresh (pid {pid})"
    ]
    assert not running(orphan)
    assert records(tmp_path) == []
    assert stop_recorded(tmp_path) == []


def test_the_record_of_a_run_still_running_is_left_alone(
    tmp_path: Path, runs: list[subprocess.Popen[str]]
) -> None:
    pid, child = start_run(tmp_path, "wait", runs)

    assert stop_recorded(tmp_path) == []

    assert running(child)
    assert records(tmp_path) == [f"{pid}.json"]


def test_a_recorded_pid_with_another_start_time_is_not_signalled(
    tmp_path: Path, runs: list[subprocess.Popen[str]]
) -> None:
    pid, orphan = killed_run(tmp_path, runs)
    path = tmp_path / "running" / f"{pid}.json"
    record = json.loads(path.read_text())
    record["children"][0]["start"] = orphan.start - 1  # the PID now belongs to another process
    path.write_text(json.dumps(record))

    assert stop_recorded(tmp_path) == []

    assert running(orphan)
    assert records(tmp_path) == []


def test_this_process_and_its_ancestors_are_never_signalled(tmp_path: Path) -> None:
    me, parent = process(os.getpid()), process(os.getppid())
    (tmp_path / "running").mkdir()
    (tmp_path / "running" / "1.json").write_text(
        json.dumps(
            {
                "owner": {"pid": 1, "start": -1, "command": "a killed refresh"},
                "children": [vars(parent), vars(me)],
            }
        )
    )

    assert stop_recorded(tmp_path) == []

    assert records(tmp_path) == []


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_sigterm_or_ctrl_c_leaves_no_process_and_no_record(
    stop: signal.Signals, tmp_path: Path, runs: list[subprocess.Popen[str]]
) -> None:
    _, child = start_run(tmp_path, "wait", runs)

    runs[-1].send_signal(stop)

    assert runs[-1].wait(timeout=10) == (143 if stop == signal.SIGTERM else -signal.SIGINT)
    assert not running(child)
    assert records(tmp_path) == []


def test_the_next_refresh_stops_them_and_says_so(
    loaded_warehouse: Path, samples: Path, runs: list[subprocess.Popen[str]]
) -> None:
    pid, orphan = killed_run(loaded_warehouse, runs)

    result = refresh("cpt", str(samples / "cpt-2025"), "2025r1", warehouse_dir=loaded_warehouse)

    assert result.notes == [
        f"stopped orphaned process {orphan.pid} (sleep 300) left by a killed refresh (pid {pid})",
        *LOAD_NOTES,
    ]
    assert not running(orphan)
    assert records(loaded_warehouse) == []

"""Crash safety (issue 10 §5): real refresh processes killed with SIGKILL at four points — while
reading, inside the load transaction, between the commit and the publication, inside the
publication — and stopped with SIGTERM and Ctrl-C. Each time the warehouse opens, `latest.json`
names a complete version (its files match its manifest), and the next run completes normally,
says what it recovered and leaves no partial directory behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_run import interruptible
from warehouse_state import attempts, loaded_versions

from codecatalog.pipeline import refresh
from codecatalog.published import open_version
from codecatalog.warehouse import open_reader, schema_version

# A refresh in a real process that SIGKILLs itself on reaching `<module>.<function>`.
KILLED_AT = """
import importlib, os, signal, sys
release, version, warehouse_dir, module, function = sys.argv[1:]
owner = importlib.import_module(module)
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
setattr(owner, function, die)
import codecatalog.pipeline as pipeline
pipeline.refresh("cpt", release, version, warehouse_dir=warehouse_dir)
"""
# A refresh that says when it reaches reading, then takes its time there.
SLOW_READ = """
import sys, time
import codecatalog.pipeline as pipeline
release, version, warehouse_dir = sys.argv[1:]
real = pipeline.read_step
def slow(*args, **kwargs):
    print("reading", flush=True)
    time.sleep(60)
    return real(*args, **kwargs)
pipeline.read_step = slow
pipeline.refresh("cpt", release, version, warehouse_dir=warehouse_dir)
"""

# What loading 2025r1 (2025's content, a backfill before 2026) says, whenever it is loaded.
LOAD_NOTES = [
    "2025r1 has the same content as 2025, the version it corrects",
    "backfill: 2026 was loaded before 2025r1, so its published changes compare it with 2025, not "
    "with 2025r1; published versions are never rewritten (`codecatalog diff cpt 2025r1 2026` "
    "gives the step)",
]
POINTS = {
    # point: (module, function, loaded afterwards, what the next run says)
    "reading": ("codecatalog.pipeline", "read_step", False, LOAD_NOTES),
    "inside the load transaction": ("codecatalog.pipeline", "diff_step", False, LOAD_NOTES),
    "between load and publish": (
        "codecatalog.pipeline",
        "place_version",
        True,
        ["published 2025r1, left unpublished by an interrupted refresh"],
    ),
    "inside publish": ("codecatalog.publish", "_write_json", False, LOAD_NOTES),
}


def check_complete(warehouse: Path) -> str:
    """The warehouse opens and `latest` is a whole version (every file matches its manifest)."""
    con = open_reader(warehouse)
    try:
        assert schema_version(con) is not None
    finally:
        con.close()
    latest = open_version(warehouse / "published", "cpt", "latest")
    return latest.version


def partial_entries(warehouse: Path) -> list[str]:
    return sorted(p.name for p in (warehouse / "published" / "cpt").iterdir() if p.name[0] == ".")


@pytest.mark.parametrize("point", list(POINTS))
def test_sigkill_then_the_next_run_recovers(
    point: str, loaded_warehouse: Path, samples: Path
) -> None:
    module, function, loaded, recovered = POINTS[point]
    before = attempts(loaded_warehouse)
    done = subprocess.run(
        [sys.executable, "-c", KILLED_AT, str(samples / "cpt-2025"), "2025r1",
         str(loaded_warehouse), module, function],
        capture_output=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert check_complete(loaded_warehouse) == "2026"
    assert loaded_versions(loaded_warehouse) == (
        ["2024", "2025", "2025r1", "2026"] if loaded else ["2024", "2025", "2026"]
    )
    assert attempts(loaded_warehouse)[: len(before)] == before

    result = refresh("cpt", str(samples / "cpt-2025"), "2025r1", warehouse_dir=loaded_warehouse)

    assert result.notes == recovered
    assert result.outcome == ("published" if loaded else "loaded")
    assert check_complete(loaded_warehouse) == "2026"
    assert partial_entries(loaded_warehouse) == []
    assert open_version(loaded_warehouse / "published", "cpt", "2025r1").version == "2025r1"
    assert not list((loaded_warehouse).glob(".staging*"))


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_leaves_no_process_and_nothing_half_done(
    stop: signal.Signals, loaded_warehouse: Path, samples: Path
) -> None:
    before = attempts(loaded_warehouse)
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_READ, str(samples / "cpt-2025"), "2025r1",
         str(loaded_warehouse)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible,
    )  # fmt: skip
    assert process.stdout is not None and process.stdout.readline() == "reading\n"
    process.send_signal(stop)
    started = time.monotonic()
    process.wait(timeout=30)
    assert time.monotonic() - started < 10
    assert process.returncode != 0
    children = subprocess.run(
        ["pgrep", "-P", str(process.pid)], capture_output=True, text=True
    ).stdout.split()
    assert children == []
    assert check_complete(loaded_warehouse) == "2026"
    assert loaded_versions(loaded_warehouse) == ["2024", "2025", "2026"]
    assert partial_entries(loaded_warehouse) == []
    result = refresh("cpt", str(samples / "cpt-2025"), "2025r1", warehouse_dir=loaded_warehouse)
    assert (result.outcome, result.notes) == ("loaded", LOAD_NOTES)
    assert [a["outcome"] for a in attempts(loaded_warehouse)][len(before) :] == ["loaded"]
    assert json.loads((loaded_warehouse / "published/cpt/latest.json").read_text())["version"] == (
        "2026"
    )

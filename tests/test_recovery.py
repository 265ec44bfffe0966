"""Crash and rerun: a refresh killed mid-publish, a backfill, a correction identical to its base."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cli_run import refresh_argv
from warehouse_state import attempts, loaded_versions

from codecatalog.pipeline import refresh

# Runs a refresh in a real process that SIGKILLs itself when it reaches `pipeline.<hook>`.
KILLED_AT = """
import os, signal, sys
import codecatalog.pipeline as pipeline, codecatalog.publish as publish
release, version, warehouse_dir, module, hook = sys.argv[1:]
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
setattr(pipeline if module == "pipeline" else publish, hook, die)
pipeline.refresh("cpt", release, version, warehouse_dir=warehouse_dir)
"""


def killed_refresh(release: Path, version: str, warehouse_dir: Path, module: str, hook: str):
    done = subprocess.run(
        [sys.executable, "-c", KILLED_AT, str(release), version, str(warehouse_dir), module, hook],
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_killed_after_the_commit_is_published_by_the_next_refresh(
    loaded_warehouse: Path, samples: Path, tmp_path: Path
) -> None:
    published = loaded_warehouse / "published" / "cpt"
    killed_refresh(samples / "cpt-2025", "2025r1", loaded_warehouse, "pipeline", "place_version")

    assert loaded_versions(loaded_warehouse) == ["2024", "2025", "2025r1", "2026"]
    [partial] = [name for name in entries(published) if name.startswith(".")]
    assert partial.startswith(".2025r1-")
    assert json.loads((published / "latest.json").read_text())["version"] == "2026"

    result = refresh("cpt", str(samples / "cpt-2025"), "2025r1", warehouse_dir=loaded_warehouse)

    assert (result.outcome, result.previous, result.latest) == ("published", "2025", "2026")
    assert entries(published) == ["2024", "2025", "2025r1", "2026", "current.json", "latest.json"]
    assert result.notes == [
        "published 2025r1, left unpublished by an interrupted refresh",
    ]
    assert [(a["version"], a["outcome"]) for a in attempts(loaded_warehouse)][-2:] == [
        ("2025r1", "loaded"),
        ("2025r1", "unchanged"),
    ]
    # The recovered directory holds what an uninterrupted refresh publishes.
    clean = tmp_path / "clean"
    shutil.copytree(loaded_warehouse, clean)
    shutil.rmtree(clean / "published" / "cpt" / "2025r1")
    refresh("cpt", str(samples / "cpt-2025"), "2025r1", warehouse_dir=clean)
    for name in ("catalog.csv", "changes.csv", "clinician_descriptors.csv", "report.md"):
        assert (published / "2025r1" / name).read_bytes() == (
            clean / "published" / "cpt" / "2025r1" / name
        ).read_bytes(), name


def test_killed_while_writing_the_version_directory_loads_nothing(
    loaded_warehouse: Path, samples: Path
) -> None:
    published = loaded_warehouse / "published" / "cpt"
    before = attempts(loaded_warehouse)
    killed_refresh(samples / "cpt-2026", "2026r1", loaded_warehouse, "publish", "_write_json")

    assert loaded_versions(loaded_warehouse) == ["2024", "2025", "2026"]
    assert attempts(loaded_warehouse) == before
    assert [n for n in entries(published) if n.startswith(".")] != []

    result = refresh("cpt", str(samples / "cpt-2026"), "2026r1", warehouse_dir=loaded_warehouse)

    assert (result.outcome, result.latest) == ("loaded", "2026r1")
    assert entries(published) == ["2024", "2025", "2026", "2026r1", "current.json", "latest.json"]


def test_a_backfill_says_the_successor_was_published_without_it(
    samples: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    wh = tmp_path / "wh"
    refresh("cpt", str(samples / "cpt-2024"), "2024", warehouse_dir=wh)
    refresh("cpt", str(samples / "cpt-2026"), "2026", warehouse_dir=wh)
    result = refresh("cpt", str(samples / "cpt-2025"), "2025", warehouse_dir=wh)

    note = (
        "backfill: 2026 was loaded before 2025, so its published changes compare it with 2024, "
        "not with 2025; published versions are never rewritten "
        "(`codecatalog diff cpt 2025 2026` gives the step)"
    )
    assert result.notes == [note]
    report = (result.published / "report.md").read_text()
    assert f"## Notes\n\n- {note}\n" in report
    assert attempts(wh)[-1]["message"] == note
    published_2026 = pd.read_csv(wh / "published/cpt/2026/changes.csv", dtype=str)
    assert set(published_2026["from_version"]) == {"2024"}


def test_a_backfill_before_the_first_loaded_version(samples: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    refresh("cpt", str(samples / "cpt-2025"), "2025", warehouse_dir=wh)
    result = refresh("cpt", str(samples / "cpt-2024"), "2024", warehouse_dir=wh)
    assert result.notes == [
        "backfill: 2025 was loaded before 2024, so its published changes compare it with "
        "nothing (first loaded), not with 2024; published versions are never rewritten "
        "(`codecatalog diff cpt 2024 2025` gives the step)"
    ]


def test_a_correction_with_the_content_of_its_base_is_flagged(
    loaded_warehouse: Path, samples: Path, capsys: pytest.CaptureFixture
) -> None:
    from codecatalog.cli import main

    code = main(refresh_argv(samples / "cpt-2026", "2026r1", loaded_warehouse, "--plain"))
    out = capsys.readouterr().out
    note = "2026r1 has the same content as 2026, the version it corrects"
    assert code == 0
    assert out.splitlines()[0] == "cpt 2026r1: loaded"
    assert out.splitlines()[-1] == f"  note:      {note}"
    assert attempts(loaded_warehouse)[-1]["message"] == note

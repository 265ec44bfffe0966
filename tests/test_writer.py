"""Readers and the writer: real processes reading the reader file while a refresh writes.

A refresh writes `codecatalog.writer.duckdb` under `codecatalog.lock` and replaces the reader file
`codecatalog.duckdb` atomically after each commit; read-only connections never block it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cli_run import refresh_argv
from warehouse_state import attempts, loaded_versions

from codecatalog import warehouse
from codecatalog.errors import WarehouseBusy
from codecatalog.pipeline import refresh
from codecatalog.writer import LOCK_NAME, PENDING_NAME, READER_NAME, WRITER_NAME

# A process that holds the writer lock until killed, printing the lock file's line once it has it.
HOLDER = """
import sys, time
from codecatalog.writer import Writer
writer = Writer.open(sys.argv[1], wait=0)
print(open(sys.argv[2]).read().strip(), flush=True)
time.sleep(60)
"""


@contextmanager
def another_writer(warehouse_dir: Path) -> Iterator[str]:
    """Another process holding the warehouse's writer lock; yields its `PID n since T` line."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(warehouse_dir), str(warehouse_dir / LOCK_NAME)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = holder.stdout.readline().strip()
        assert line.startswith(f"PID {holder.pid} since "), line
        yield line
    finally:
        holder.kill()
        holder.wait()


def cli_refresh(release: Path, version: str, warehouse_dir: Path) -> list[str]:
    """The command line of an in-process (`--plain`) CPT refresh in a separate process."""
    argv = refresh_argv(release, version, warehouse_dir, "--plain")
    return [sys.executable, "-m", "codecatalog.cli", *argv]


def outcomes(warehouse_dir: Path) -> list[tuple[str, str, str]]:
    con = warehouse.open_reader(warehouse_dir)
    try:
        return con.execute(
            "SELECT version, outcome, message FROM load_attempts ORDER BY attempt_id"
        ).fetchall()
    finally:
        con.close()


def test_a_refresh_waits_a_bounded_time_then_names_the_holder(
    loaded_warehouse: Path, samples: Path
) -> None:
    reader_before = (loaded_warehouse / READER_NAME).read_bytes()
    with another_writer(loaded_warehouse) as holder:
        started = time.monotonic()
        with pytest.raises(WarehouseBusy) as caught:
            refresh(
                "cpt", str(samples / "cpt-2026"), "2026r1", warehouse_dir=loaded_warehouse, wait=1
            )
        waited = time.monotonic() - started
        assert str(caught.value) == f"warehouse busy: held by {holder}"
        assert 1 <= waited < 20  # read and validate, then a 1 s wait: bounded
        # The attempt could not go into the warehouse: it waits in the side log.
        [pending] = [
            json.loads(line) for line in (loaded_warehouse / PENDING_NAME).read_text().splitlines()
        ]
        assert (pending["version"], pending["outcome"], pending["message"]) == (
            "2026r1",
            "rejected",
            str(caught.value),
        )
    assert (loaded_warehouse / READER_NAME).read_bytes() == reader_before

    # The next writer takes the side log into load_attempts, then does its own work.
    refresh("cpt", str(samples / "cpt-2025"), "2025", warehouse_dir=loaded_warehouse)
    assert outcomes(loaded_warehouse)[-2:] == [
        ("2026r1", "rejected", str(caught.value)),
        ("2025", "unchanged", ""),
    ]
    assert (loaded_warehouse / PENDING_NAME).read_text() == ""


def test_a_second_refresh_waits_for_the_first(loaded_warehouse: Path, samples: Path) -> None:
    with another_writer(loaded_warehouse):
        waiting = subprocess.Popen(
            [*cli_refresh(samples / "cpt-2026", "2026r1", loaded_warehouse), "--wait", "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)
        assert waiting.poll() is None  # still waiting for the lock
    out, err = waiting.communicate(timeout=120)
    assert (waiting.returncode, err) == (0, ""), err
    assert out.splitlines()[0] == "cpt 2026r1: loaded"
    assert loaded_versions(loaded_warehouse) == ["2024", "2025", "2026", "2026r1"]


def test_the_same_release_submitted_twice_at_once(loaded_warehouse: Path, samples: Path) -> None:
    """Two refreshes of one release started together: one loads and publishes it, the other
    waits for the writer lock, then finds the same bytes loaded (issue 10's faults)."""
    runs = [
        subprocess.Popen(
            [*cli_refresh(samples / "cpt-2026", "2026r1", loaded_warehouse), "--wait", "120"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(run.communicate(timeout=240), run.returncode) for run in runs]
    assert [code for _, code in results] == [0, 0], results
    firsts = sorted(out.splitlines()[0] for (out, _), _ in results)
    assert firsts == ["cpt 2026r1: loaded", "cpt 2026r1: unchanged"]
    assert loaded_versions(loaded_warehouse) == ["2024", "2025", "2026", "2026r1"]
    assert [a["outcome"] for a in attempts(loaded_warehouse)][-2:] == ["loaded", "unchanged"]
    published = loaded_warehouse / "published" / "cpt"
    assert sorted(p.name for p in published.iterdir()) == [
        "2024", "2025", "2026", "2026r1", "current.json", "latest.json",
    ]  # fmt: skip


READERS = """
import json, os, sys, time, duckdb
path, stop, mode = sys.argv[1], sys.argv[2], sys.argv[3]
seen, reads, errors = set(), 0, []
con = duckdb.connect(path, read_only=True) if mode == "held" else None
while not os.path.exists(stop):
    try:
        if mode == "held":
            seen.add(con.execute("SELECT count(*) FROM releases").fetchone()[0])
        else:
            c = duckdb.connect(path, read_only=True)
            seen.add(c.execute("SELECT count(*) FROM releases").fetchone()[0])
            c.close()
        reads += 1
    except Exception as e:
        errors.append(repr(e))
    time.sleep(0.1)
print(json.dumps({"seen": sorted(seen), "reads": reads, "errors": errors}))
"""


def test_readers_never_block_a_refresh_and_never_fail(
    loaded_warehouse: Path, samples: Path, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    reader_file = str(loaded_warehouse / READER_NAME)
    readers = {
        mode: subprocess.Popen(
            [sys.executable, "-c", READERS, reader_file, str(stop), mode],
            stdout=subprocess.PIPE,
            text=True,
        )
        for mode in ("held", "reopened")
    }
    time.sleep(1.5)
    done = subprocess.run(
        cli_refresh(samples / "cpt-2026", "2026r1", loaded_warehouse),
        capture_output=True,
        text=True,
        timeout=300,
    )
    time.sleep(1.5)
    stop.touch()
    held, reopened = (json.loads(p.communicate(timeout=60)[0]) for p in readers.values())
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    # The held connection keeps its snapshot; one reopened every 0.1 s sees the new release.
    assert (held["seen"], held["errors"]) == ([3], [])
    assert (reopened["seen"], reopened["errors"]) == ([3, 4], [])
    assert held["reads"] >= 10 and reopened["reads"] >= 10
    assert loaded_versions(loaded_warehouse) == ["2024", "2025", "2026", "2026r1"]


def test_a_warehouse_from_before_the_split_is_taken_over(
    loaded_warehouse: Path, samples: Path
) -> None:
    (loaded_warehouse / WRITER_NAME).unlink()  # as written by the previous layout
    refresh("cpt", str(samples / "cpt-2026"), "2026r1", warehouse_dir=loaded_warehouse)
    assert loaded_versions(loaded_warehouse) == ["2024", "2025", "2026", "2026r1"]
    assert (loaded_warehouse / WRITER_NAME).read_bytes() == (
        loaded_warehouse / READER_NAME
    ).read_bytes()


def test_the_reader_file_is_a_copy_of_what_was_committed(tmp_path: Path, samples: Path) -> None:
    wh = tmp_path / "wh"
    refresh("cpt", str(samples / "cpt-2024"), "2024", warehouse_dir=wh)
    shutil.copy(wh / READER_NAME, tmp_path / "before.duckdb")
    refresh("cpt", str(samples / "cpt-2025"), "2025", warehouse_dir=wh)
    assert loaded_versions(wh) == ["2024", "2025"]
    script = textwrap.dedent(
        """
        import duckdb, sys
        con = duckdb.connect(sys.argv[1], read_only=True)
        print(con.execute("SELECT list(version ORDER BY version) FROM releases").fetchone()[0])
        """
    )
    before = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "before.duckdb")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert before.stdout.strip() == "['2024']"

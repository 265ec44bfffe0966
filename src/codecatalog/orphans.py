"""Processes a refresh leaves behind, and stopping them (Linux: reads /proc).

A flow run with no Prefect API configured starts a temporary API server as a child process; a
SIGKILLed run leaves it running. So a run records its descendants in
`<warehouse>/running/<pid>.json` (`record_children`) and stops those still running when it exits,
SIGTERM and Ctrl-C included (`exit_on_sigterm`); the next refresh stops what a killed run
recorded (`stop_recorded`). A process counts as the recorded one only while its start time
(/proc/PID/stat field 22) is the recorded one, so a reused PID is never signalled.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import threading
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from codecatalog.errors import WarehouseUnusable
from codecatalog.files import replace_text
from codecatalog.writer import describe, usable_directory

RUNNING_DIR = "running"
GRACE_SECONDS = 5.0  # after SIGTERM, before SIGKILL
_POLL_SECONDS = 0.05
_COMMAND_WIDTH = 100
_at_exit: set[Path] = set()  # warehouse directories whose record this process removes at exit


@dataclass(frozen=True)
class Process:
    """One process as recorded: PID, start time (clock ticks after boot) and command line."""

    pid: int
    start: int
    command: str


@dataclass(frozen=True)
class Record:
    """A run's record: the run's own process and its descendants when it last recorded them."""

    owner: Process
    children: list[Process]


def record_children(warehouse_dir: Path) -> None:
    """Write (or rewrite) this process's record: itself and every descendant now running.

    At exit, SIGTERM and Ctrl-C included when `exit_on_sigterm` was called, the descendants
    recorded and still running are stopped and the record removed. Does nothing without /proc
    (not Linux).
    """
    if not Path("/proc/self/stat").exists():
        return
    directory = usable_directory(warehouse_dir) / RUNNING_DIR
    owner = _process(os.getpid())
    assert owner is not None  # this process is running
    record = Record(owner, descendants(owner.pid))
    path = directory / f"{owner.pid}.json"
    try:
        directory.mkdir(exist_ok=True)
        replace_text(path, json.dumps(asdict(record)) + "\n")
    except OSError as err:
        raise WarehouseUnusable(f"cannot write {path}: {describe(err)}") from None
    if directory not in _at_exit:
        _at_exit.add(directory)
        atexit.register(_stop_own, directory)


def forget(warehouse_dir: Path) -> None:
    """Remove this process's record."""
    (Path(warehouse_dir) / RUNNING_DIR / f"{os.getpid()}.json").unlink(missing_ok=True)


def exit_on_sigterm() -> None:
    """Make SIGTERM exit like Ctrl-C does, running `finally` blocks and exit handlers (which
    stop the recorded children); Python's default dies at once. Only in the main thread, and
    only when SIGTERM has its default action (another handler is left alone)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit)


def stop_recorded(warehouse_dir: Path, grace: float = GRACE_SECONDS) -> list[str]:
    """Stop the recorded descendants of runs that no longer run, and remove their records.

    Each still running with its recorded start time gets SIGTERM, then SIGKILL after `grace`
    seconds; never this process or one of its ancestors. Returns one line per process.
    """
    directory = Path(warehouse_dir) / RUNNING_DIR
    if not directory.is_dir():
        return []
    spared = _self_and_ancestors()
    lines = []
    for path in sorted(directory.glob("*.json")):
        record = _read(path)
        if record is not None and running(record.owner):
            continue
        if record is not None:
            orphans = [p for p in record.children if p.pid not in spared and running(p)]
            left = _stop(orphans, grace)
            by = f"left by a killed refresh (pid {record.owner.pid})"
            lines += [
                f"{'could not stop' if p in left else 'stopped'} orphaned process {p.pid} "
                f"({_short(p.command)}) {by}"
                for p in orphans
            ]
        with suppress(OSError):
            path.unlink()
    return lines


def descendants(pid: int) -> list[Process]:
    """The processes below `pid` (children, their children, …) now running, by PID."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                children.setdefault(stat[1], []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        process = _process(child)
        if process is not None:
            found.append(process)
        todo += children.get(child, [])
    return sorted(found, key=lambda p: p.pid)


def running(process: Process) -> bool:
    """Whether `process` still runs: its PID is alive (not a zombie) with the recorded start."""
    stat = _stat(process.pid)
    return stat is not None and stat[0] not in "ZX" and stat[2] == process.start


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _stop_own(directory: Path) -> None:
    """At exit: stop the recorded descendants of this process still running; forget it."""
    record = _read(directory / f"{os.getpid()}.json")
    if record is not None:
        _stop([p for p in record.children if running(p)], GRACE_SECONDS)
    forget(directory.parent)


def _stop(processes: list[Process], grace: float) -> list[Process]:
    """SIGTERM, SIGKILL after `grace` seconds; returns the processes still running after that."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 1.0)):
        for process in processes:
            with suppress(OSError):
                os.kill(process.pid, sig)
        deadline = time.monotonic() + wait
        while processes and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
            processes = [p for p in processes if running(p)]
        if not processes:
            break
    return processes


def _self_and_ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 0 and pid not in pids:
        pids.add(pid)
        stat = _stat(pid)
        pid = stat[1] if stat is not None else 0
    return pids


def _stat(pid: int) -> tuple[str, int, int] | None:
    """State, parent PID and start time of `pid` from /proc/PID/stat; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and ")"
    return fields[0], int(fields[1]), int(fields[19])  # fields 3, 4 and 22


def _process(pid: int) -> Process | None:
    """`pid` with its start time and command line; None when it is gone or a zombie."""
    stat = _stat(pid)
    if stat is None or stat[0] in "ZX":
        return None
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return Process(pid, stat[2], " ".join(a.decode(errors="replace") for a in argv if a))


def _read(path: Path) -> Record | None:
    """A record; None when it cannot be read (it names nothing that is safe to stop)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return Record(Process(**data["owner"]), [Process(**p) for p in data["children"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _short(command: str) -> str:
    """A command line with file paths cut to their names, at most about 100 characters."""
    text = " ".join(os.path.basename(a) if a.startswith("/") else a for a in command.split(" "))
    return text if len(text) <= _COMMAND_WIDTH else text[: _COMMAND_WIDTH - 1] + "…"

"""The `codecatalog` command line as tests call it: argument lists and a real separate process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def refresh_argv(release: Path, version: str, warehouse_dir: Path, *extra: str) -> list[str]:
    """`refresh cpt RELEASE --version V --warehouse DIR …` (add `--plain` to skip Prefect)."""
    return ["refresh", "cpt", str(release), "--version", version, "--warehouse",
            str(warehouse_dir), *extra]  # fmt: skip


def run_cli(
    argv: list[str], env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `python -m codecatalog.cli ARGV` in its own process; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "codecatalog.cli", *argv],
        capture_output=True,
        text=True,
        env=env if env is not None else dict(os.environ),
        timeout=timeout,
    )


def interruptible() -> None:
    """`preexec_fn` for a process a test stops with Ctrl-C (or SIGTERM, which Prefect turns into
    one): SIGINT back to its default. A shell starts background jobs with SIGINT ignored, and
    a process started from one (CI in the background) would inherit that and never stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

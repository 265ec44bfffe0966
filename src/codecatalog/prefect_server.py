"""A local `prefect server start` for the demo and the Prefect tests, started once and reused.

    python -m codecatalog.prefect_server start [--home DIR] [--timeout S]   # prints its API URL
    python -m codecatalog.prefect_server stop [--home DIR]

The server runs detached with its SQLite database in `PREFECT_HOME` (default `.prefect`); its PID
and URL are kept in `server.json` there, so a second `start` reuses a server that still answers.
Start-up takes 8–50 s on a loaded 2-core machine: `start` waits up to `--timeout` seconds (default
300) for the health check instead of racing Prefect's own 20 s timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

STATE_NAME = "server.json"
DEFAULT_TIMEOUT_SECONDS = 300.0


class ServerDidNotStart(RuntimeError):
    """The server did not answer its health check in time (its log says why)."""


def healthy(url: str, timeout: float = 1.0) -> bool:
    """Whether the API at `url` answers `/health`."""
    try:
        return requests.get(f"{url}/health", timeout=timeout).ok
    except requests.RequestException:
        return False


def start(home: Path, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> str:
    """Start (or reuse) a local Prefect server with its state in `home`; return its API URL.

    A server recorded in `home` whose process is still alive is reused, waiting for it to answer
    rather than starting a second one.
    """
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    state = home / STATE_NAME
    known = json.loads(state.read_text()) if state.exists() else None
    if known is not None and _alive(known["pid"]):
        return _answering(home, str(known["url"]), known["pid"], timeout)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": "",
    }
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    with (home / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the command that started it; stopped by `stop`
        )
    state.write_text(json.dumps({"pid": process.pid, "url": url}) + "\n")
    return _answering(home, url, process.pid, timeout)


def _answering(home: Path, url: str, pid: int, timeout: float) -> str:
    """Wait until the server at `url` answers; stop it and raise if it dies or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        if healthy(url, timeout=3.0):
            return url
        time.sleep(0.5)
    stop(home)
    raise ServerDidNotStart(
        f"Prefect server did not answer at {url} within {timeout:.0f} s "
        f"(log: {home / 'server.log'})"
    )


def stop(home: Path) -> bool:
    """Stop the server started with `home`, if any; True when one was running."""
    state = Path(home).resolve() / STATE_NAME
    if not state.exists():
        return False
    pid = json.loads(state.read_text())["pid"]
    state.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(100):
        if not _alive(pid):
            return True
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    return True


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs (reaping it first if it is our exited child)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    """`start` prints the API URL (exit 1 if it does not come up); `stop` stops it."""
    parser = argparse.ArgumentParser(prog="python -m codecatalog.prefect_server")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--home", default=os.environ.get("PREFECT_HOME", ".prefect"))
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS)
    args = parser.parse_args(argv)
    if args.action == "stop":
        stop(Path(args.home))
        return 0
    try:
        print(start(Path(args.home), args.timeout))
    except ServerDidNotStart as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

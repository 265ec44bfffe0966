"""Operator mistakes and a broken environment: one line on stderr, exit 2, nothing changed.

Each case runs the real command line (in-process, `--plain`) against a warehouse holding
2024–2026; the attempt is recorded in `load_attempts` wherever the warehouse can be written.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cli_run import refresh_argv, run_cli
from local_http import Response, serving
from warehouse_state import attempts, snapshot

import codecatalog.publish
import codecatalog.warehouse
from codecatalog.cli import main
from codecatalog.errors import WarehouseUnusable
from codecatalog.pipeline import refresh
from codecatalog.writer import Writer


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refresh_args(samples: Path, warehouse_dir: Path, *extra: str) -> list[str]:
    """A `--plain` refresh of the 2026 sample as the correction 2026r1 (which would load)."""
    return refresh_argv(samples / "cpt-2026", "2026r1", warehouse_dir, "--plain", *extra)


def files(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory` (the lock file's holder line aside)."""
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "codecatalog.lock"
    }


def assert_refused_and_recorded(
    capsys: pytest.CaptureFixture, warehouse_dir: Path, argv: list[str], message: str
) -> None:
    before, count = snapshot(warehouse_dir), len(attempts(warehouse_dir))
    assert run(capsys, *argv) == (2, "", f"error: {message}\n")
    assert snapshot(warehouse_dir) == before
    recorded = attempts(warehouse_dir)
    assert len(recorded) == count + 1
    assert (recorded[-1]["outcome"], recorded[-1]["message"]) == ("rejected", message)


def test_an_effective_date_that_is_not_a_date(
    capsys: pytest.CaptureFixture, loaded_warehouse: Path, samples: Path
) -> None:
    argv = refresh_args(samples, loaded_warehouse, "--effective", "2026-13-01")
    message = "--effective '2026-13-01' is not a date (YYYY-MM-DD)"
    assert_refused_and_recorded(capsys, loaded_warehouse, argv, message)


def test_an_unknown_source_lists_the_declared_ones(
    capsys: pytest.CaptureFixture, loaded_warehouse: Path, samples: Path
) -> None:
    argv = refresh_args(samples, loaded_warehouse)
    argv[1] = "cpx"
    message = "unknown source 'cpx'; declared: cpt, hcpcs, mue, ncci_ptp, opps_addb, pfs_rvu"
    assert_refused_and_recorded(capsys, loaded_warehouse, argv, message)
    assert attempts(loaded_warehouse)[-1]["codeset"] == "cpx"


def test_a_warehouse_path_that_is_a_file(
    capsys: pytest.CaptureFixture, samples: Path, tmp_path: Path
) -> None:
    path = tmp_path / "warehouse"
    path.write_text("not a directory\n")
    assert run(capsys, *refresh_args(samples, path)) == (
        2,
        "",
        f"error: warehouse path {path} is a file, not a directory\n",
    )
    assert path.read_text() == "not a directory\n"


@pytest.mark.parametrize("which", ["codecatalog.duckdb", "codecatalog.writer.duckdb"])
def test_a_warehouse_file_that_is_not_a_database(
    capsys: pytest.CaptureFixture, samples: Path, tmp_path: Path, which: str
) -> None:
    wh = tmp_path / "wh"
    wh.mkdir()
    (wh / which).write_bytes(b"SQLite format 3\x00" + bytes(200))
    before = files(wh)
    assert run(capsys, *refresh_args(samples, wh)) == (
        2,
        "",
        f"error: {wh / which} is not a DuckDB database\n",
    )
    assert files(wh) == before


def test_a_read_only_command_on_a_file_that_is_not_a_database(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    wh = tmp_path / "wh"
    wh.mkdir()
    (wh / "codecatalog.duckdb").write_text("hello\n")
    assert run(capsys, "diff", "cpt", "2024", "2025", "--warehouse", str(wh)) == (
        2,
        "",
        f"error: {wh / 'codecatalog.duckdb'} is not a DuckDB database\n",
    )


@pytest.fixture
def read_only_file_system(monkeypatch: pytest.MonkeyPatch):
    """Every write under the returned directory fails with EROFS, as on a read-only mount."""

    def install(directory: Path) -> None:
        real_open, real_mkdir = Path.open, Path.mkdir

        def inside(path: Path) -> bool:
            return Path(os.path.abspath(path)).is_relative_to(directory.resolve())

        def open_(self: Path, mode: str = "r", *args, **kwargs):
            if inside(self) and any(c in mode for c in "wax+"):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
            return real_open(self, mode, *args, **kwargs)

        def mkdir(self: Path, *args, **kwargs):
            if inside(self) and not self.is_dir():
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
            return real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", open_)
        monkeypatch.setattr(Path, "mkdir", mkdir)

    return install


def test_a_read_only_file_system(
    capsys: pytest.CaptureFixture, loaded_warehouse: Path, samples: Path, read_only_file_system
) -> None:
    before = files(loaded_warehouse)
    read_only_file_system(loaded_warehouse)
    assert run(capsys, *refresh_args(samples, loaded_warehouse)) == (
        2,
        "",
        f"error: cannot write to warehouse {loaded_warehouse}: read-only file system\n",
    )
    assert files(loaded_warehouse) == before


def test_a_new_warehouse_on_a_read_only_file_system(
    capsys: pytest.CaptureFixture, samples: Path, tmp_path: Path, read_only_file_system
) -> None:
    (tmp_path / "mnt").mkdir()
    read_only_file_system(tmp_path / "mnt")
    wh = tmp_path / "mnt" / "wh"
    assert run(capsys, *refresh_args(samples, wh)) == (
        2,
        "",
        f"error: cannot create warehouse directory {wh}: read-only file system\n",
    )
    assert not wh.exists()


def enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_during_load(
    capsys: pytest.CaptureFixture,
    loaded_warehouse: Path,
    samples: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_load = codecatalog.warehouse.load_release

    def load_then_fill_the_disk(*args: object, **kwargs: object) -> None:
        real_load(*args, **kwargs)  # rows written, then the disk fills before the commit
        enospc()

    monkeypatch.setattr(codecatalog.warehouse, "load_release", load_then_fill_the_disk)
    before, count = snapshot(loaded_warehouse), len(attempts(loaded_warehouse))
    assert run(capsys, *refresh_args(samples, loaded_warehouse)) == (
        2,
        "",
        f"error: cannot write warehouse {loaded_warehouse}: no space left on device\n",
    )
    assert snapshot(loaded_warehouse) == before
    assert len(attempts(loaded_warehouse)) == count


def test_disk_full_during_publish(
    capsys: pytest.CaptureFixture,
    loaded_warehouse: Path,
    samples: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(codecatalog.publish, "_copy", enospc)
    before, count = snapshot(loaded_warehouse), len(attempts(loaded_warehouse))
    published = loaded_warehouse / "published" / "cpt"
    assert run(capsys, *refresh_args(samples, loaded_warehouse)) == (
        2,
        "",
        f"error: cannot publish into {published}: no space left on device\n",
    )
    assert snapshot(loaded_warehouse) == before  # the load was rolled back with the publish
    assert len(attempts(loaded_warehouse)) == count
    assert sorted(p.name for p in published.iterdir()) == [
        "2024",
        "2025",
        "2026",
        "current.json",
        "latest.json",
    ]
    # Space again: the next run completes (nothing to clean up by hand).
    monkeypatch.undo()
    code, out, _ = run(capsys, *refresh_args(samples, loaded_warehouse))
    assert (code, out.splitlines()[0]) == (0, "cpt 2026r1: loaded")
    assert json.loads((published / "latest.json").read_text())["version"] == "2026r1"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_prefect_server_that_is_not_reachable(
    loaded_warehouse: Path, samples: Path, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api"
    env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(tmp_path / "prefect")}
    before, count = snapshot(loaded_warehouse), len(attempts(loaded_warehouse))
    argv = refresh_args(samples, loaded_warehouse)
    argv.remove("--plain")
    done = run_cli(argv, env)
    message = (
        f"Prefect API at {url} is not reachable (connection refused); start it with "
        "`prefect server start`, unset PREFECT_API_URL, or run with --plain"
    )
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"error: {message}\n")
    assert snapshot(loaded_warehouse) == before
    recorded = attempts(loaded_warehouse)
    assert len(recorded) == count + 1
    assert (recorded[-1]["outcome"], recorded[-1]["message"]) == ("rejected", message)


def test_no_prefect_api_runs_in_process_and_says_so(samples: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    wh = tmp_path / "wh"
    done = run_cli(refresh_argv(samples / "cpt-2024", "2024", wh), env)
    assert (done.returncode, done.stderr) == (
        0,
        "no Prefect API configured: running the steps in-process (for run history, start "
        "`prefect server start` and set PREFECT_API_URL)\n",
    )
    assert done.stdout.splitlines()[0] == "cpt 2024: loaded"


def test_a_failure_after_the_commit_says_the_release_is_loaded_and_the_next_refresh_finishes(
    capsys: pytest.CaptureFixture,
    loaded_warehouse: Path,
    samples: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def full_disk(self: Writer) -> None:
        raise WarehouseUnusable(f"cannot write {self.reader_path}: no space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(Writer, "sync_reader", full_disk)
        assert run(capsys, *refresh_args(samples, loaded_warehouse)) == (
            2,
            "",
            "error: cpt 2026r1 is loaded, but finishing its publication failed (cannot write "
            f"{loaded_warehouse / 'codecatalog.duckdb'}: no space left on device); the next "
            "refresh of cpt publishes it\n",
        )
    assert [a["version"] for a in attempts(loaded_warehouse)] == ["2024", "2025", "2026"]

    assert sorted(p.name for p in (loaded_warehouse / "published" / "cpt").iterdir()) == [
        "2024", "2025", "2026", "current.json", "latest.json",
    ]  # fmt: skip

    code, out, _ = run(capsys, *refresh_args(samples, loaded_warehouse))
    assert (code, out.splitlines()[0]) == (0, "cpt 2026r1: published")
    assert [(a["version"], a["outcome"]) for a in attempts(loaded_warehouse)][-2:] == [
        ("2026r1", "loaded"),
        ("2026r1", "unchanged"),
    ]
    published = loaded_warehouse / "published" / "cpt"
    assert sorted(p.name for p in published.iterdir()) == [
        "2024", "2025", "2026", "2026r1", "current.json", "latest.json",
    ]  # fmt: skip


def test_a_zip_member_that_climbs_out_of_the_archive(
    capsys: pytest.CaptureFixture, loaded_warehouse: Path, samples: Path, tmp_path: Path
) -> None:
    release = tmp_path / "cpt-2026.zip"
    with zipfile.ZipFile(release, "w") as zf:
        for path in sorted((samples / "cpt-2026").rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(samples / "cpt-2026").as_posix())
        zf.writestr("../../etc/cron.d/evil", "* * * * * root true\n")
    argv = refresh_argv(release, "2026r1", loaded_warehouse, "--plain")
    message = (
        f"{release}: member '../../etc/cron.d/evil' climbs out of the archive "
        "(absolute path or '..')"
    )
    assert_refused_and_recorded(capsys, loaded_warehouse, argv, message)


def test_an_html_page_served_as_the_release(
    capsys: pytest.CaptureFixture, loaded_warehouse: Path
) -> None:
    page = b"<!DOCTYPE html><html><body>Please sign in</body></html>"
    routes = {"/cpt-2026.zip": lambda hits: Response(200, page, content_type="text/html")}
    with serving(routes) as server:
        url = server.url("/cpt-2026.zip")
        argv = ["refresh", "cpt", url, "--version", "2026r1", "--plain",
                "--warehouse", str(loaded_warehouse)]  # fmt: skip
        message = (
            f"{url}: not a release: got an HTML page (Content-Type: text/html; body begins "
            f"{page[:40]!r})"
        )
        assert_refused_and_recorded(capsys, loaded_warehouse, argv, message)
    downloads = loaded_warehouse / "downloads"
    assert not downloads.exists() or list(downloads.rglob("*")) == []


HCPCS_CASES = Path(__file__).parent / "cases" / "hcpcs"


def test_an_hcpcs_record_longer_than_320_bytes(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    wh = tmp_path / "wh"
    for version, name in [
        ("2016", "reconstructed_2016_ANWEB.txt"),
        ("2017", "excerpt_2017_ANWEB.txt"),
    ]:
        refresh("hcpcs", str(HCPCS_CASES / name), version, warehouse_dir=wh)
    lines = (HCPCS_CASES / "excerpt_2018_ANWEB.txt").read_bytes().split(b"\r\n")
    lines[15] = lines[15].ljust(320) + b"X"  # A5513's first record, line 16
    bad = tmp_path / "HCPC2018_ANWEB.txt"
    bad.write_bytes(b"\r\n".join(lines))
    before, count = snapshot(wh), len(attempts(wh))

    code, out, err = run(capsys, "refresh", "hcpcs", str(bad), "--version", "2018",
                         "--warehouse", str(wh), "--plain")  # fmt: skip

    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "error: refused: HCPC2018_ANWEB.txt: 1 validation failure(s)",
        "  HCPC2018_ANWEB.txt: line 16, column 'record_length': less_than_or_equal_to(320) "
        "(value '321')",
    ]
    assert snapshot(wh) == before
    recorded = attempts(wh)
    assert (len(recorded), recorded[-1]["outcome"]) == (count + 1, "rejected")
    assert [(f["line"], f["column"], f["value"]) for f in recorded[-1]["failures"]] == [
        (16, "record_length", "321")
    ]


def test_a_temporary_prefect_server_gets_time_to_start(tmp_path: Path) -> None:
    """`--prefect` without an API: Prefect's 20 s start-up timeout is raised before Prefect
    reads its settings (setting it later has no effect)."""
    script = (
        "import os; from codecatalog.cli import _use_prefect; "
        "assert _use_prefect(force=True); "
        "from prefect.settings import get_current_settings; "
        "print(get_current_settings().server.ephemeral.startup_timeout_seconds)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert (done.returncode, done.stdout) == (0, "180\n"), done.stderr

"""The one process that writes a warehouse, and the reader file everybody else opens.

DuckDB lets no process write a file that any other process has open, even read-only. So a warehouse
directory holds two database files:

- `codecatalog.duckdb`, the **reader file**: what analysts, BI tools and read-only commands open.
  Nobody writes it in place; after each commit the writer replaces it atomically with a fresh copy,
  so a reader that has the old file open keeps its snapshot.
- `codecatalog.writer.duckdb`, the **writer file**: opened only by the process holding
  `codecatalog.lock` (an advisory `flock`, released by the kernel when that process dies).

A second writer waits up to a bounded time for the lock, then gets `WarehouseBusy` naming the PID
and start time of the holder. An attempt that could not be recorded because of that goes to
`pending_attempts.jsonl`, which the next writer copies into `load_attempts`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import duckdb

from codecatalog.duckdb_settings import configure
from codecatalog.errors import CodecatalogError, WarehouseBusy, WarehouseUnusable

READER_NAME = "codecatalog.duckdb"
WRITER_NAME = "codecatalog.writer.duckdb"
LOCK_NAME = "codecatalog.lock"
PENDING_NAME = "pending_attempts.jsonl"
STAGING_PREFIX = ".staging-"  # + PID: one refresh's staging database (a `table` release)
WAIT_ENV = "CODECATALOG_WRITER_WAIT"
DEFAULT_WAIT_SECONDS = 60.0
_POLL_SECONDS = 0.2

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current UTC time, naive (as DuckDB TIMESTAMP columns store it)."""
    return datetime.now(UTC).replace(tzinfo=None)


def default_wait() -> float:
    """Seconds a writer waits for the lock: $CODECATALOG_WRITER_WAIT, else 60."""
    value = os.environ.get(WAIT_ENV)
    try:
        return float(value) if value else DEFAULT_WAIT_SECONDS
    except ValueError:
        raise CodecatalogError(f"{WAIT_ENV}={value!r} is not a number of seconds") from None


def warehouse_path(value: str | Path | None) -> Path:
    """The warehouse directory: `value`, else `$CODECATALOG_WAREHOUSE`, else `./warehouse`."""
    return Path(value or os.environ.get("CODECATALOG_WAREHOUSE") or "warehouse")


def usable_directory(warehouse_dir: Path) -> Path:
    """Create the warehouse directory if needed; a clear error when it cannot be one."""
    path = Path(warehouse_dir)
    if path.exists() and not path.is_dir():
        raise WarehouseUnusable(f"warehouse path {path} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WarehouseUnusable(
            f"cannot create warehouse directory {path}: {describe(err)}"
        ) from None
    return path


def describe(err: OSError) -> str:
    """An OSError in words, e.g. 'read-only file system' or 'no space left on device'."""
    return os.strerror(err.errno).lower() if err.errno else str(err)


def check_database_file(path: Path) -> None:
    """WarehouseUnusable unless `path` is empty or starts like a DuckDB database file."""
    with path.open("rb") as f:
        head = f.read(12)
    if head and head[8:12] != b"DUCK":
        raise WarehouseUnusable(f"{path} is not a DuckDB database")


def open_database(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Connect to a DuckDB file; a clear error when it is not one or cannot be opened."""
    if path.exists():
        check_database_file(path)
    try:
        return configure(duckdb.connect(str(path), read_only=read_only))
    except duckdb.IOException as err:
        text = str(err)
        if "not a valid DuckDB database" in text:
            raise WarehouseUnusable(f"{path} is not a DuckDB database") from None
        if "lock" in text.lower():
            raise WarehouseBusy(f"{path} is in use by another process: {text}") from None
        raise WarehouseUnusable(f"cannot open {path}: {text}") from None


@contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    """An exclusive flock on a small side file, held for the block (appends, drains)."""
    with path.open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def append_pending(warehouse_dir: Path, attempt: dict[str, Any]) -> None:
    """Append one attempt to the side log (when the warehouse itself is held by another writer)."""
    with _locked(Path(warehouse_dir) / PENDING_NAME) as log:
        log.write(json.dumps(attempt, default=str) + "\n")
        log.flush()


class Writer:
    """The lock, the writer connection and the reader file of one warehouse directory.

    Use as a context manager (`with Writer.open(dir) as writer:`); `writer.con` is the DuckDB
    connection to the writer file. `sync_reader()` publishes what is committed to the reader file;
    opening replaces a reader file that is missing or older than the writer file (a refresh that
    died between its commit and the copy).
    """

    def __init__(self, directory: Path, lock: IO[str], con: duckdb.DuckDBPyConnection) -> None:
        self.directory, self._lock, self.con = directory, lock, con

    @classmethod
    def open(
        cls, warehouse_dir: Path, *, wait: float | None = None, clock: Clock = utc_now
    ) -> Writer:
        """Take the writer lock (waiting up to `wait` seconds) and open the writer file.

        A warehouse made before the reader/writer split has only `codecatalog.duckdb`: it becomes
        the writer file's starting content.
        """
        directory = usable_directory(warehouse_dir)
        lock = _acquire(directory / LOCK_NAME, default_wait() if wait is None else wait, clock)
        try:
            for leftover in directory.glob(".*.duckdb.*.tmp"):  # copies a killed writer left
                leftover.unlink()
            _remove_dead_staging(directory)
            writer_path, reader_path = directory / WRITER_NAME, directory / READER_NAME
            if not writer_path.exists() and reader_path.exists():
                check_database_file(reader_path)
                _copy_atomically(reader_path, writer_path)
            con = open_database(writer_path, read_only=False)
            writer = cls(directory, lock, con)
            if writer.reader_is_stale():
                writer.sync_reader()
        except BaseException as err:
            _release(lock)
            if isinstance(err, OSError):
                raise _unwritable(directory, err) from None
            raise
        return writer

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def reader_path(self) -> Path:
        """The reader file, `codecatalog.duckdb`."""
        return self.directory / READER_NAME

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN … COMMIT, rolled back on any exception (the reader file is not touched).

        A full or read-only disk while writing becomes WarehouseUnusable.
        """
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
            self.con.execute("COMMIT")
        except BaseException as err:
            with suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            if isinstance(err, OSError | duckdb.IOException | duckdb.FatalException):
                reason = describe(err) if isinstance(err, OSError) else str(err)
                raise WarehouseUnusable(
                    f"cannot write warehouse {self.directory}: {reason}"
                ) from None
            raise

    def sync_reader(self) -> None:
        """Replace the reader file atomically with a copy of the committed writer file."""
        self.con.execute("CHECKPOINT")
        _copy_atomically(self.directory / WRITER_NAME, self.reader_path)

    def reader_is_stale(self) -> bool:
        """Whether the reader file is missing or older than the writer file."""
        reader, writer = self.reader_path, self.directory / WRITER_NAME
        return not reader.exists() or reader.stat().st_mtime_ns < writer.stat().st_mtime_ns

    @contextmanager
    def pending_attempts(self) -> Iterator[list[dict[str, Any]]]:
        """The attempts other processes left in the side log; emptied when the block succeeds."""
        with _locked(self.directory / PENDING_NAME) as log:
            log.seek(0)
            yield [json.loads(line) for line in log.read().splitlines() if line.strip()]
            log.truncate(0)

    def close(self) -> None:
        """Close the connection and release the lock."""
        with suppress(duckdb.Error):
            self.con.close()
        _release(self._lock)


def _remove_dead_staging(directory: Path) -> None:
    """Remove staging directories (`.staging-PID-xxxx`) of processes that no longer run."""
    for area in directory.glob(f"{STAGING_PREFIX}*"):
        pid = area.name[len(STAGING_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(area, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _acquire(path: Path, wait: float, clock: Clock) -> IO[str]:
    try:
        handle = path.open("a+", encoding="utf-8")
    except OSError as err:
        raise _unwritable(path.parent, err) from None
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise WarehouseBusy(f"warehouse busy: held by {holder}") from None
            time.sleep(_POLL_SECONDS)
    try:
        handle.seek(0)
        handle.truncate(0)
        handle.write(f"PID {os.getpid()} since {clock().isoformat(timespec='seconds')}Z\n")
        handle.flush()
    except OSError as err:
        _release(handle)
        raise _unwritable(path.parent, err) from None
    return handle


def _unwritable(directory: Path, err: OSError) -> WarehouseUnusable:
    return WarehouseUnusable(f"cannot write to warehouse {directory}: {describe(err)}")


def _release(handle: IO[str]) -> None:
    with suppress(OSError):
        fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


def _copy_atomically(source: Path, target: Path) -> None:
    """Copy to a temporary name beside `target`, fsync, then rename over it."""
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, staging)
        with staging.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(staging, target)
    except OSError as err:
        staging.unlink(missing_ok=True)
        raise WarehouseUnusable(f"cannot write {target}: {describe(err)}") from None

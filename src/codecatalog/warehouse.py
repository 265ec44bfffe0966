"""The DuckDB warehouse: releases, their rows and history, and a record of every load attempt.

Tables: `releases` (one row per loaded version), `<codeset>_catalog` / `<codeset>_details` /
`<codeset>_history` (rows per version), `load_attempts` (every attempt, failed or not, with its
validation failures). A release is loaded in one transaction, so nothing partial is ever visible.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from codecatalog.diff.normalise import is_editorial
from codecatalog.errors import Failure, VersionError, WarehouseBusy
from codecatalog.versions import Version

DATABASE_NAME = "codecatalog.duckdb"

_DDL = """
CREATE TABLE IF NOT EXISTS releases (
    codeset VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    effective_date DATE NOT NULL,
    correction INTEGER NOT NULL,
    content_sha256 VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    files JSON NOT NULL,
    row_count BIGINT NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (codeset, version)
);
CREATE TABLE IF NOT EXISTS reconciliations (
    codeset VARCHAR NOT NULL,
    from_version VARCHAR NOT NULL,
    to_version VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    computed VARCHAR NOT NULL,
    source_action VARCHAR NOT NULL,
    problem VARCHAR NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS load_attempt_ids;
CREATE TABLE IF NOT EXISTS load_attempts (
    attempt_id BIGINT PRIMARY KEY DEFAULT nextval('load_attempt_ids'),
    codeset VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    content_sha256 VARCHAR,
    outcome VARCHAR NOT NULL,   -- loaded | unchanged | rejected
    message VARCHAR,
    failures JSON NOT NULL,
    warnings JSON NOT NULL,
    attempted_at TIMESTAMP NOT NULL
);
"""


@dataclass(frozen=True)
class LoadedRelease:
    """A row of `releases`; releases order by effective date, corrections right after their base."""

    codeset: str
    version: str
    effective_date: date
    correction: int
    content_sha256: str
    source: str
    row_count: int

    @property
    def order(self) -> tuple[date, int]:
        """Sort key: effective date, then correction number."""
        return (self.effective_date, self.correction)


def connect(warehouse_dir: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the warehouse file; a second writer gets WarehouseBusy.

    The connection has `is_editorial(old, new)` registered for the diff SQL.
    """
    warehouse_dir = Path(warehouse_dir)
    path = warehouse_dir / DATABASE_NAME
    if read_only and not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: load a release first")
    warehouse_dir.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as err:
        if "lock" in str(err).lower():
            raise WarehouseBusy(f"{path} is in use by another process: {err}") from None
        raise
    if not read_only:
        con.execute(_DDL)
    con.create_function("is_editorial", is_editorial, ["VARCHAR", "VARCHAR"], "BOOLEAN")
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN … COMMIT, rolled back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def loaded_releases(con: duckdb.DuckDBPyConnection, codeset: str) -> list[LoadedRelease]:
    """Loaded versions of a code set by effective date (corrections right after their base)."""
    if not table_exists(con, "releases"):
        return []
    rows = con.execute(
        "SELECT version, effective_date, correction, content_sha256, source, row_count "
        "FROM releases WHERE codeset = ? ORDER BY effective_date, correction",
        [codeset],
    ).fetchall()
    return [LoadedRelease(codeset, *row) for row in rows]


def find_release(con: duckdb.DuckDBPyConnection, codeset: str, version: str) -> LoadedRelease:
    """The loaded release `version`; VersionError listing what is loaded otherwise."""
    releases = loaded_releases(con, codeset)
    for release in releases:
        if release.version == version:
            return release
    known = ", ".join(r.version for r in releases) or "none"
    raise VersionError(f"{codeset} version {version!r} is not loaded (loaded: {known})")


def check_new_version(
    con: duckdb.DuckDBPyConnection,
    codeset: str,
    version: Version,
    effective_date: date,
    content_sha256: str,
) -> bool:
    """Whether `version` still needs loading: False when the same bytes are already loaded.

    Raises VersionError for different content under a loaded version, or a label naming the same
    release slot as a loaded one (`2026` vs `2026Q1`).
    """
    for release in loaded_releases(con, codeset):
        if release.version == version.label:
            if release.content_sha256 == content_sha256:
                return False
            raise VersionError(
                f"{codeset} {version} is already loaded with different content "
                f"(sha256 {release.content_sha256[:12]}…, now {content_sha256[:12]}…); "
                f"load the new content as a correction, e.g. {version.label}r1"
            )
        if release.order == (effective_date, version.correction):
            raise VersionError(
                f"{codeset} {version} names the same release as loaded version "
                f"{release.version} (both effective {effective_date})"
            )
    return True


def load_release(
    con: duckdb.DuckDBPyConnection,
    codeset: str,
    version: Version,
    effective_date: date,
    tables: dict[str, pd.DataFrame],
    *,
    content_sha256: str,
    source: str,
    files: list[dict],
) -> None:
    """Insert a release row and its `catalog`, `details` and `history` rows in one transaction."""
    with transaction(con):
        con.execute(
            "INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                codeset,
                version.label,
                effective_date,
                version.correction,
                content_sha256,
                source,
                json.dumps(files),
                len(tables["catalog"]),
                _now(),
            ],
        )
        for kind, frame in tables.items():
            table = f"{codeset}_{kind}"
            con.register("incoming", frame)
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {table} AS "
                "SELECT ''::VARCHAR AS version, * FROM incoming LIMIT 0"
            )
            con.execute(
                f"INSERT INTO {table} BY NAME SELECT ? AS version, * FROM incoming", [version.label]
            )
            con.unregister("incoming")


def store_reconciliation(
    con: duckdb.DuckDBPyConnection, codeset: str, old: str, new: str, found: pd.DataFrame
) -> None:
    """Replace the stored reconciliation of the step old → new with `found`."""
    with transaction(con):
        con.execute(
            "DELETE FROM reconciliations WHERE codeset = ? AND from_version = ? AND to_version = ?",
            [codeset, old, new],
        )
        con.register("found", found)
        con.execute(
            "INSERT INTO reconciliations SELECT ?, ?, ?, key, computed, source_action, problem "
            "FROM found",
            [codeset, old, new],
        )
        con.unregister("found")


def record_attempt(
    con: duckdb.DuckDBPyConnection,
    *,
    codeset: str,
    version: str,
    source: str,
    content_sha256: str | None,
    outcome: str,
    message: str = "",
    failures: list[Failure] = (),
    warnings: list[Failure] = (),
) -> None:
    """Append one row to `load_attempts` (its own transaction)."""
    con.execute(
        "INSERT INTO load_attempts (codeset, version, source, content_sha256, outcome, message, "
        "failures, warnings, attempted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            codeset,
            version,
            source,
            content_sha256,
            outcome,
            message,
            json.dumps([f.__dict__ for f in failures]),
            json.dumps([w.__dict__ for w in warnings]),
            _now(),
        ],
    )


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()[0]
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)

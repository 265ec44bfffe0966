"""The DuckDB warehouse: releases, their rows and history, and a record of every load attempt.

Tables: `releases` (one row per loaded version), `<codeset>_catalog` / `<codeset>_details` /
`<codeset>_history` (rows per version), `reconciliations`, `load_attempts` (every attempt, failed or
not, with its validation failures and warnings). Writes happen inside the caller's transaction
(`Writer.transaction()`), so nothing partial is ever visible; see `codecatalog.writer` for the
reader and writer files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from codecatalog.errors import CodecatalogError, Failure, VersionError
from codecatalog.versions import Version
from codecatalog.writer import READER_NAME, open_database

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
    outcome VARCHAR NOT NULL,   -- loaded | unchanged | published | rejected
    message VARCHAR,
    failures JSON NOT NULL,
    warnings JSON NOT NULL,
    attempted_at TIMESTAMP NOT NULL
);
"""

ATTEMPT_COLUMNS = (
    "codeset", "version", "source", "content_sha256", "outcome", "message", "failures",
    "warnings", "attempted_at",
)  # fmt: skip


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


def open_reader(warehouse_dir: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the reader file `codecatalog.duckdb` (never blocks a refresh)."""
    path = Path(warehouse_dir) / READER_NAME
    if not path.is_file():
        raise CodecatalogError(f"no warehouse at {path}: load a release first")
    return open_database(path, read_only=True)


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Create the bookkeeping tables (and the columns newer code added) if missing."""
    con.execute(_DDL)


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
    files: list[dict[str, Any]],
    loaded_at: datetime,
) -> None:
    """Insert a release row and its `catalog`, `details` and `history` rows (in the caller's
    transaction)."""
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
            loaded_at,
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


def attempt_row(
    *,
    codeset: str,
    version: str,
    source: str,
    content_sha256: str | None,
    outcome: str,
    attempted_at: datetime,
    message: str = "",
    failures: Sequence[Failure] = (),
    warnings: Sequence[Failure] = (),
) -> dict[str, Any]:
    """One `load_attempts` row as plain JSON-able values (also the side log's line format)."""
    return {
        "codeset": codeset,
        "version": version,
        "source": source,
        "content_sha256": content_sha256,
        "outcome": outcome,
        "message": message,
        "failures": json.dumps([f.__dict__ for f in failures]),
        "warnings": json.dumps([w.__dict__ for w in warnings]),
        "attempted_at": attempted_at.isoformat(),
    }


def record_attempts(con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Append rows made by `attempt_row` to `load_attempts`."""
    columns = ", ".join(ATTEMPT_COLUMNS)
    marks = ", ".join("?" * len(ATTEMPT_COLUMNS))
    if rows:
        con.executemany(
            f"INSERT INTO load_attempts ({columns}) VALUES ({marks})",
            [[row[c] for c in ATTEMPT_COLUMNS] for row in rows],
        )


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether a table of that name exists."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchone()
    return bool(found and found[0])

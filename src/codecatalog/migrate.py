"""Bring a warehouse made by an older codecatalog to the current schema (backed up first)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from codecatalog import warehouse as wh
from codecatalog.errors import WarehouseUnusable
from codecatalog.intervals import store_version
from codecatalog.sources import schema_sha256, source
from codecatalog.sql import quote, table_exists
from codecatalog.writer import READER_NAME, WRITER_NAME, Writer, describe


def upgrade(writer: Writer) -> Path | None:
    """Migrate the writer file to `SCHEMA_VERSION` if it is older; return the backup made.

    The backup `codecatalog.duckdb.bak-<n>` is a copy of the file as it was; the migration runs in
    one transaction and the reader file is replaced only after it commits.
    """
    con = writer.con
    found = wh.schema_version(con)
    if found is None or found >= wh.SCHEMA_VERSION:
        return None
    backup = _backup(writer)
    with writer.transaction():
        if found < 2:
            _from_v1(con)
        if found < 3:
            _from_v2(con)
        _from_v3(con)
        con.execute(
            "UPDATE meta SET value = ? WHERE name = 'schema_version'", [str(wh.SCHEMA_VERSION)]
        )
    writer.sync_reader()
    return backup


def _backup(writer: Writer) -> Path:
    writer.con.execute("CHECKPOINT")
    taken = {
        int(p.name.rsplit("-", 1)[1])
        for p in writer.directory.glob(f"{READER_NAME}.bak-*")
        if p.name.rsplit("-", 1)[1].isdigit()
    }
    backup = writer.directory / f"{READER_NAME}.bak-{max(taken, default=0) + 1}"
    try:
        shutil.copyfile(writer.directory / WRITER_NAME, backup)
    except OSError as err:
        raise WarehouseUnusable(
            f"cannot back up the warehouse to {backup}: {describe(err)}"
        ) from None
    return backup


def _from_v1(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 1 kept every key's row once per version (`version` column): store intervals."""
    codesets = [r[0] for r in con.execute("SELECT DISTINCT codeset FROM releases").fetchall()]
    con.execute("ALTER TABLE releases RENAME TO _v1_releases")
    old_parts = {}
    for codeset in codesets:
        for part in wh.PARTS:
            name = f"{codeset}_{part}"
            if table_exists(con, name):
                con.execute(f"ALTER TABLE {quote(name)} RENAME TO {quote('_v1_' + name)}")
                old_parts[(codeset, part)] = "_v1_" + name
    wh.prepare(con)
    for codeset in codesets:
        cfg = source(codeset)
        sha = wh.store_declaration(con, cfg)
        con.execute(
            "INSERT INTO releases SELECT *, "
            "CAST(strftime(effective_date, '%Y%m%d') AS BIGINT) * 100 + correction, ?, ? "
            "FROM _v1_releases WHERE codeset = ?",
            [sha, schema_sha256(cfg), codeset],
        )
        for release in wh.loaded_releases(con, codeset, include_retracted=True):
            for (owner, part), old in old_parts.items():
                if owner != codeset:
                    continue
                label = release.version.replace("'", "''")
                con.execute(
                    f"CREATE OR REPLACE TEMP VIEW _v1_rows AS SELECT * EXCLUDE (version) "
                    f"FROM {quote(old)} WHERE version = '{label}'"
                )
                store_version(
                    con,
                    f"{codeset}_{part}",
                    "_v1_rows",
                    wh.part_key(cfg, part),
                    release.release_order,
                    None,
                )
    con.execute("DROP VIEW IF EXISTS _v1_rows")
    for old in old_parts.values():
        con.execute(f"DROP TABLE {quote(old)}")
    con.execute("DROP TABLE _v1_releases")


def _from_v2(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 2 had no descriptor forms: store the form of every descriptor text ever loaded."""
    wh.prepare(con)
    codesets = [r[0] for r in con.execute("SELECT DISTINCT codeset FROM releases").fetchall()]
    for codeset in codesets:
        cfg = wh.stored_declaration(con, codeset) or source(codeset)
        parts = {
            part: quote(f"{codeset}_{part}")
            for part in ("catalog", "details")
            if table_exists(con, f"{codeset}_{part}")
        }
        wh.store_descriptor_forms(con, cfg, parts)


def _from_v3(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 3 had no retractions: create the table (empty) and the `releases_in_service` view."""
    wh.prepare(con)

"""Validate a `table` release inside DuckDB: its pandera schema translated, plus our key rules."""

from __future__ import annotations

import duckdb

from codecatalog.diff.changes import active_sql
from codecatalog.duckdb_settings import configure
from codecatalog.errors import CodecatalogError, Failure, sort_failures
from codecatalog.read.release import Release
from codecatalog.sources import KEY_SEPARATOR, SourceConfig
from codecatalog.sql import quote
from codecatalog.sql_checks import MAX_LISTED, validate_table
from codecatalog.translations import translation_for

DUPLICATE_ACTIVE = "duplicate active key"


def validate_table_release(
    release: Release, cfg: SourceConfig
) -> tuple[list[Failure], list[Failure]]:
    """(errors, warnings) of the staged `catalog` table: every schema check, key uniqueness (with
    `duplicate_keys = "active_wins"`: among active rows only), no key value containing the key
    separator `|`, and one value per release in each `release_values` column."""
    if release.database is None:
        raise CodecatalogError(f"{release.name} was not read into a staging database")
    translation = translation_for(cfg)
    con = configure(duckdb.connect(str(release.database), read_only=True))
    try:
        active_wins = cfg.duplicate_keys == "active_wins"
        errors, warnings = validate_table(
            con, "catalog", translation, () if active_wins else cfg.key
        )
        if active_wins:
            errors += duplicate_active_keys(con, cfg)
        errors += _separators(con, cfg) + _release_values(con, cfg)
    finally:
        con.close()
    return sort_failures(errors), warnings


def _separators(con: duckdb.DuckDBPyConnection, cfg: SourceConfig) -> list[Failure]:
    found = con.execute(
        " UNION ALL ".join(
            f"SELECT _file, _line, '{column}', {quote(column)} FROM catalog "
            f"WHERE contains({quote(column)}, '{KEY_SEPARATOR}')"
            for column in cfg.key
        )
        + f" ORDER BY 1, 2 LIMIT {MAX_LISTED}"
    ).fetchall()
    return [
        Failure(file, line, column, f"key without '{KEY_SEPARATOR}'", value)
        for file, line, column, value in found
    ]


def duplicate_active_keys(con: duckdb.DuckDBPyConnection, cfg: SourceConfig) -> list[Failure]:
    """Every active row whose key another active row of the release shares (one failure per key
    column, as key uniqueness reports them)."""
    key = ", ".join(quote(k) for k in cfg.key)
    same = " AND ".join(f"c.{quote(k)} IS NOT DISTINCT FROM d.{quote(k)}" for k in cfg.key)
    found = con.execute(
        f"""WITH active AS (SELECT * FROM catalog WHERE {active_sql(cfg)}),
        dups AS (SELECT {key} FROM active GROUP BY ALL HAVING count(*) > 1)
        SELECT c._file, c._line, {", ".join(f"c.{quote(k)}" for k in cfg.key)}
        FROM active c SEMI JOIN dups d ON {same}
        ORDER BY c._file, c._line LIMIT {MAX_LISTED}"""
    ).fetchall()
    return [
        Failure(file, line, name, DUPLICATE_ACTIVE, value or "")
        for file, line, *values in found
        for name, value in zip(cfg.key, values, strict=True)
    ]


def _release_values(con: duckdb.DuckDBPyConnection, cfg: SourceConfig) -> list[Failure]:
    """The first row whose `release_values` column differs from the release's first row's."""
    failures = []
    for column in cfg.release_values:
        name = quote(column)
        found = con.execute(
            f"""WITH first_row AS (SELECT {name} AS value FROM catalog ORDER BY _file, _line
                                   LIMIT 1)
            SELECT c._file, c._line, c.{name}, f.value FROM catalog c, first_row f
            WHERE c.{name} IS DISTINCT FROM f.value ORDER BY c._file, c._line LIMIT 1"""
        ).fetchall()
        failures += [
            Failure(file, line, column, f"one value per release ({first!r} above)", value or "")
            for file, line, value, first in found
        ]
    return failures

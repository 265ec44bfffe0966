"""Validate a `table` release inside DuckDB: its pandera schema translated, plus our key rules."""

from __future__ import annotations

import duckdb

from codecatalog.duckdb_settings import configure
from codecatalog.errors import CodecatalogError, Failure, sort_failures
from codecatalog.read.release import Release
from codecatalog.sources import KEY_SEPARATOR, SourceConfig
from codecatalog.sql import quote
from codecatalog.sql_checks import validate_table
from codecatalog.translations import translation_for


def validate_table_release(
    release: Release, cfg: SourceConfig
) -> tuple[list[Failure], list[Failure]]:
    """(errors, warnings) of the staged `catalog` table: every schema check, key uniqueness, and
    no key value containing the key separator `|`."""
    if release.database is None:
        raise CodecatalogError(f"{release.name} was not read into a staging database")
    translation = translation_for(cfg)
    con = configure(duckdb.connect(str(release.database), read_only=True))
    try:
        errors, warnings = validate_table(con, "catalog", translation, cfg.key)
        separators = con.execute(
            " UNION ALL ".join(
                f"SELECT _file, _line, '{column}', {quote(column)} FROM catalog "
                f"WHERE contains({quote(column)}, '{KEY_SEPARATOR}')"
                for column in cfg.key
            )
            + " ORDER BY 1, 2 LIMIT 1000"
        ).fetchall()
    finally:
        con.close()
    errors += [
        Failure(file, line, column, f"key without '{KEY_SEPARATOR}'", value)
        for file, line, column, value in separators
    ]
    return sort_failures(errors), warnings

"""Format families: how each kind of release is read, validated and handed to the warehouse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from codecatalog.diff.changes import active_sql, first_invalid_sql
from codecatalog.errors import CodecatalogError, Failure
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.release import Release
from codecatalog.sources import SourceConfig
from codecatalog.sql import first, literal, quote
from codecatalog.warehouse import PARTS

if TYPE_CHECKING:
    import pandas as pd


STAGING = "_staging"  # the name a table release's staging database is attached under


@dataclass(frozen=True)
class Family:
    """The family-specific steps of a refresh.

    `read(archive, transactions, cfg, staging)` reads a release (a `table` release into the DuckDB
    file `staging`); `validate(release, cfg)` returns (errors, warnings); `parts(release, cfg,
    con)` makes the release's tables readable on `con` and returns part -> relation.
    """

    read: Callable[[ReleaseArchive, ReleaseArchive | None, SourceConfig, Path | None], Release]
    validate: Callable[[Release, SourceConfig], tuple[list[Failure], list[Failure]]]
    parts: Callable[[Release, SourceConfig, duckdb.DuckDBPyConnection], dict[str, str]]


def _frames(
    tables: Callable[[Release], dict[str, pd.DataFrame]],
) -> Callable[[Release, SourceConfig, duckdb.DuckDBPyConnection], dict[str, str]]:
    """`parts` for families read into pandas (small releases): register each frame."""

    def parts(
        release: Release, cfg: SourceConfig, con: duckdb.DuckDBPyConnection
    ) -> dict[str, str]:
        names = {}
        for part, frame in tables(release).items():
            con.register(f"_incoming_{part}", frame)
            names[part] = f"_incoming_{part}"
        return names

    return parts


def _no_transactions(transactions: ReleaseArchive | None) -> None:
    if transactions is not None:
        raise CodecatalogError("--transactions applies to HCPCS releases only")


def _cpt() -> Family:
    from codecatalog.read.cpt import cpt_tables, read_cpt_release
    from codecatalog.validate_release import validate_cpt_release

    def read(
        archive: ReleaseArchive,
        transactions: ReleaseArchive | None,
        cfg: SourceConfig,
        _: Path | None,
    ) -> Release:
        _no_transactions(transactions)
        return read_cpt_release(archive)

    return Family(read, lambda r, _: validate_cpt_release(r), _frames(cpt_tables))


def _hcpcs() -> Family:
    from codecatalog.read.hcpcs_release import hcpcs_tables, read_hcpcs_release
    from codecatalog.validate_release import validate_hcpcs_release

    return Family(
        lambda archive, extra, cfg, _: read_hcpcs_release(archive, extra),
        lambda r, _: validate_hcpcs_release(r),
        _frames(hcpcs_tables),
    )


def _table() -> Family:
    from codecatalog.read.table import read_table_release
    from codecatalog.validate_table import validate_table_release

    def read(
        archive: ReleaseArchive,
        transactions: ReleaseArchive | None,
        cfg: SourceConfig,
        staging: Path | None,
    ) -> Release:
        _no_transactions(transactions)
        if staging is None:
            raise CodecatalogError(f"{cfg.name}: a table release needs a staging database path")
        return read_table_release(archive, cfg, staging)

    def parts(
        release: Release, cfg: SourceConfig, con: duckdb.DuckDBPyConnection
    ) -> dict[str, str]:
        if release.database is None:
            raise CodecatalogError(f"{release.name} was not read into a staging database")
        database = literal(str(release.database))
        con.execute(f"ATTACH IF NOT EXISTS {database} AS {STAGING} (READ_ONLY)")
        return table_parts(con, cfg, f"{STAGING}.catalog")

    return Family(read, validate_table_release, parts)


LOSERS = "_duplicate_losers"  # temporary: the staged rows a key's winning row displaces


def table_parts(con: duckdb.DuckDBPyConnection, cfg: SourceConfig, staged: str) -> dict[str, str]:
    """The parts of a staged `table` release: `catalog` (the declared columns but the release
    values), `history` (with `duplicate_keys = "active_wins"`, the rows a key's winning row
    displaces: the key's active row wins, else its latest term date, then its last line) and
    `release_values` (name, value: one row per `release_values` column)."""
    columns = ", ".join(quote(c.name) for c in cfg.columns if c.name not in cfg.release_values)
    parts = {"catalog": f"(SELECT {columns} FROM {staged})"}
    if cfg.duplicate_keys == "active_wins":
        key = ", ".join(quote(k) for k in cfg.key)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {LOSERS} AS
            WITH dups AS (SELECT {key} FROM {staged} GROUP BY ALL HAVING count(*) > 1),
            ranked AS (
                SELECT rowid AS _row, row_number() OVER (
                    PARTITION BY {key} ORDER BY {active_sql(cfg)} DESC,
                    {first_invalid_sql(cfg)} DESC NULLS LAST, _file DESC, _line DESC) AS _rank
                FROM {staged} SEMI JOIN dups USING ({key}))
            SELECT _row FROM ranked WHERE _rank > 1"""
        )
        numbered = f"(SELECT rowid AS _rowid, {columns} FROM {staged})"
        if first(con.execute(f"SELECT count(*) FROM {LOSERS}")) != (0,):
            parts["catalog"] = (
                f"(SELECT {columns} FROM {numbered} ANTI JOIN {LOSERS} ON _rowid = _row)"
            )
        parts["history"] = f"(SELECT {columns} FROM {numbered} SEMI JOIN {LOSERS} ON _rowid = _row)"
    if cfg.release_values:
        parts["release_values"] = " UNION ALL ".join(
            f"(SELECT {literal(name)} AS name, any_value({quote(name)}) AS value FROM {staged})"
            for name in cfg.release_values
        )
    return parts


_FAMILIES = {"ama_cpt": _cpt, "hcpcs": _hcpcs, "table": _table}


def family(name: str) -> Family:
    """The steps of format family `name` (as declared in sources.toml)."""
    if name not in _FAMILIES:
        raise CodecatalogError(f"no reader for format family {name!r}")
    return _FAMILIES[name]()


def release_done(con: duckdb.DuckDBPyConnection) -> None:
    """Forget what `parts` made readable on `con`: registered frames, the staging database."""
    for part in PARTS:
        con.unregister(f"_incoming_{part}")
    con.execute(f"DROP TABLE IF EXISTS {LOSERS}")
    con.execute(f"DETACH DATABASE IF EXISTS {STAGING}")

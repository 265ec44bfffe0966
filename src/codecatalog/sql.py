"""Small helpers for SQL built in Python: quoted identifiers and literals, a first row, a table's
existence."""

from __future__ import annotations

from typing import Any

import duckdb


def quote(identifier: str) -> str:
    """`identifier` as a quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """`text` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def first(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """The first row of an executed query, consuming the rest (DuckDB blocks other work on a
    connection until its result is read to the end)."""
    rows = result.fetchall()
    return rows[0] if rows else None


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether a table or view of that name exists."""
    found = first(
        con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
    )
    return bool(found and found[0])

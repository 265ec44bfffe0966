"""DuckDB settings for big tables on a small machine: two threads and a bounded memory budget."""

from __future__ import annotations

import os

import duckdb

DEFAULT_MEMORY = "1280MB"


def configure(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Limit `con` to $CODECATALOG_DUCKDB_THREADS threads (default 2) and
    $CODECATALOG_DUCKDB_MEMORY (default 1280MB); DuckDB spills to disk beyond that."""
    threads = int(os.environ.get("CODECATALOG_DUCKDB_THREADS", "2"))
    memory = os.environ.get("CODECATALOG_DUCKDB_MEMORY", DEFAULT_MEMORY)
    con.execute(f"SET threads = {threads}")
    con.execute(f"SET memory_limit = '{memory}'")
    con.execute("SET enable_progress_bar = false")  # it prints to stdout even when piped
    return con

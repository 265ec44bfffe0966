"""History as validity intervals: each stored row holds from one version until another.

A row of `<codeset>_<part>` carries `_from` and `_to`, the orders (see `release_order`) of the
version from which that exact row holds and of the one from which it no longer does (`_to` NULL:
still holds). An unchanged row is never rewritten, so storage grows with the number of changes,
not with versions × rows. The rows of a version are those whose interval contains its order;
loading a version between two loaded ones (a backfill) splits the intervals it cuts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb

from codecatalog.sql import quote, table_exists

FROM, TO = "_from", "_to"
OCCURRENCE = "_n"  # tells identical rows of a keyless part apart


def release_order(effective_date: date, correction: int) -> int:
    """A version's place in a code set's history: YYYYMMDD × 100 + correction number.

    >>> release_order(date(2026, 1, 1), 1)
    2026010101
    """
    return int(effective_date.strftime("%Y%m%d")) * 100 + correction


def in_force(order: str, alias: str = "") -> str:
    """SQL: the row's interval contains `order` (a SQL expression)."""
    prefix = f"{alias}." if alias else ""
    return f"({prefix}{FROM} <= {order} AND ({prefix}{TO} IS NULL OR {prefix}{TO} > {order}))"


def rows_at(table: str, order: str) -> str:
    """SQL: the rows of interval table `table` at version order `order`, without bookkeeping."""
    return f"(SELECT * EXCLUDE ({FROM}, {TO}) FROM {quote(table)} WHERE {in_force(order)})"


def _matches(key: Sequence[str], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{quote(k)} IS NOT DISTINCT FROM {right}.{quote(k)}" for k in key)


def store_version(
    con: duckdb.DuckDBPyConnection,
    table: str,
    incoming: str,
    key: Sequence[str] | None,
    at: int,
    until: int | None,
) -> None:
    """Store the rows of `incoming` (a table or view on `con`) as the version of order `at`.

    `key` names the columns identifying a row (None: the whole row does, duplicates counted);
    `until` is the order of the next loaded version (None when `at` is the newest). Runs in the
    caller's transaction.
    """
    source = incoming
    columns = [r[0] for r in con.execute(f"SELECT * FROM {incoming} LIMIT 0").description or []]
    if key is None:
        listed = ", ".join(quote(c) for c in columns)
        source = (
            f"(SELECT *, row_number() OVER (PARTITION BY {listed}) AS {OCCURRENCE} FROM {incoming})"
        )
        columns = [*columns, OCCURRENCE]
        key = columns
    until_sql = "NULL::BIGINT" if until is None else str(int(until))
    if not table_exists(con, table):
        con.execute(
            f"CREATE TABLE {quote(table)} AS SELECT *, {int(at)}::BIGINT AS {FROM}, "
            f"{until_sql} AS {TO} FROM {source}"
        )
        return
    values = [c for c in columns if c not in key]
    differs = " OR ".join(f"o.{quote(c)} IS DISTINCT FROM n.{quote(c)}" for c in values)
    keys = ", ".join(f"coalesce(o.{quote(k)}, n.{quote(k)}) AS {quote(k)}" for k in key)
    new_values = ", ".join(f"n.{quote(c)} AS {quote('_new_' + c)}" for c in values)
    at_sql = str(int(at))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _changed AS
        SELECT {keys}, o.{FROM} IS NOT NULL AS _in_old, n._in_new IS NOT NULL AS _in_new
               {", " + new_values if new_values else ""}
        FROM (SELECT * FROM {quote(table)} WHERE {in_force(at_sql)}) o
        FULL OUTER JOIN (SELECT *, true AS _in_new FROM {source}) n ON {_matches(key, "o", "n")}
        WHERE o.{FROM} IS NULL OR n._in_new IS NULL {f"OR {differs}" if differs else ""}"""
    )
    if until is not None:  # the old row still holds from the next loaded version on
        con.execute(
            f"""INSERT INTO {quote(table)} SELECT t.* EXCLUDE ({FROM}, {TO}), {until_sql}, t.{TO}
            FROM {quote(table)} t SEMI JOIN _changed c ON {_matches(key, "t", "c")} AND c._in_old
            WHERE {in_force(at_sql, "t")} AND (t.{TO} IS NULL OR t.{TO} > {until_sql})"""
        )
    con.execute(
        f"""UPDATE {quote(table)} t SET {TO} = {at_sql} FROM _changed c
        WHERE c._in_old AND {_matches(key, "t", "c")} AND {in_force(at_sql, "t")}
          AND t.{FROM} < {at_sql}"""
    )
    target = ", ".join(quote(c) for c in [*key, *values])
    chosen = ", ".join([*(quote(k) for k in key), *(quote("_new_" + c) for c in values)])
    con.execute(
        f"""INSERT INTO {quote(table)} ({target}, {FROM}, {TO})
        SELECT {chosen}, {at_sql}, {until_sql} FROM _changed WHERE _in_new"""
    )
    con.execute("DROP TABLE _changed")

"""Validity-interval storage: any load order gives back every version's rows exactly."""

from __future__ import annotations

import itertools

import duckdb
import pytest

from codecatalog.intervals import rows_at, store_version

# Four versions of a small source keyed by (a, b); b may be NULL (an empty key part).
VERSIONS = {
    100: [("1", "x", "p"), ("2", "x", "q"), ("3", None, "r")],
    200: [("1", "x", "p"), ("2", "x", "Q"), ("4", "y", "s")],  # 2 changed, 3 gone, 4 new
    300: [("1", "x", "p"), ("2", "x", "q"), ("3", None, "r"), ("4", "y", "s")],  # back again
    400: [("2", "x", "q"), ("4", "y", "t")],
}


def load(
    con: duckdb.DuckDBPyConnection, order: int, key: tuple[str, ...] | None, loaded: list[int]
) -> None:
    """Store version `order` with the next loaded version as its end (as load_release does)."""
    later = [o for o in loaded if o > order]
    con.execute("CREATE OR REPLACE TEMP TABLE incoming (a VARCHAR, b VARCHAR, v VARCHAR)")
    con.executemany("INSERT INTO incoming VALUES (?, ?, ?)", VERSIONS[order])
    store_version(con, "t", "incoming", key, order, min(later, default=None))
    loaded.append(order)


def rows(con: duckdb.DuckDBPyConnection, order: int) -> list[tuple]:
    return sorted(
        con.execute(f"SELECT a, b, v FROM {rows_at('t', str(order))}").fetchall(),
        key=lambda r: (r[0], r[1] or "", r[2]),
    )


def expected(order: int) -> list[tuple]:
    return sorted(VERSIONS[order], key=lambda r: (r[0], r[1] or "", r[2]))


@pytest.mark.parametrize("order", list(itertools.permutations(VERSIONS)))
def test_every_load_order_gives_back_every_version(order: tuple[int, ...]) -> None:
    con, loaded = duckdb.connect(), []
    for version in order:
        load(con, version, ("a", "b"), loaded)
    for version in VERSIONS:
        assert rows(con, version) == expected(version), (order, version)


def test_unchanged_rows_are_stored_once() -> None:
    con, loaded = duckdb.connect(), []
    for version in sorted(VERSIONS):
        load(con, version, ("a", "b"), loaded)
    stored = con.execute("SELECT a, b, v, _from, _to FROM t ORDER BY a, _from").fetchall()
    assert stored == [
        ("1", "x", "p", 100, 400),
        ("2", "x", "q", 100, 200),
        ("2", "x", "Q", 200, 300),
        ("2", "x", "q", 300, None),
        ("3", None, "r", 100, 200),
        ("3", None, "r", 300, 400),
        ("4", "y", "s", 200, 400),
        ("4", "y", "t", 400, None),
    ]


def test_keyless_part_counts_identical_rows() -> None:
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE incoming AS SELECT * FROM (VALUES ('a'), ('a'), ('b')) t(x)")
    store_version(con, "h", "incoming", None, 100, None)
    con.execute("CREATE OR REPLACE TEMP TABLE incoming AS SELECT * FROM (VALUES ('a'), ('b')) t(x)")
    store_version(con, "h", "incoming", None, 200, None)
    at = {o: sorted(con.execute(f"SELECT x FROM {rows_at('h', str(o))}").fetchall())
          for o in (100, 200)}  # fmt: skip
    assert at == {100: [("a",), ("a",), ("b",)], 200: [("a",), ("b",)]}

"""Validation of a staged table inside DuckDB, from checks already said in SQL.

`codecatalog.validate_sql.translate` turns a pandera schema into a `Translation` (the one place a
schema is declared stays pandera); this module runs it without importing pandas or pandera, and a
translation travels as JSON (`Translation.to_json`, `from_json`), so a refresh of a table source
need not import them at all (see `codecatalog.translations`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from codecatalog.errors import DeclarationError, Failure, sort_failures
from codecatalog.sql import literal, quote

NOT_NULLABLE = "not_nullable"
FIELD_UNIQUENESS = "field_uniqueness"
MULTIPLE_FIELDS_UNIQUENESS = "multiple_fields_uniqueness"
MAX_LISTED = 1000  # failures listed per kind (errors, warnings); the rest are counted
MORE_FAILURES = "more failures not listed"  # check text of the closing summary Failure


@dataclass(frozen=True)
class ColumnCheck:
    """One row-wise check of one column: `fails` is SQL over the quoted column, TRUE when the
    row fails; `check` is pandera's text for the check."""

    column: str
    check: str
    fails: str
    warning: bool = False


@dataclass(frozen=True)
class UniqueCheck:
    """Rows must be unique over `columns` (pandera's `check` name for it)."""

    columns: tuple[str, ...]
    check: str


@dataclass(frozen=True)
class Translation:
    """A pandera schema said in SQL, for `validate_table`."""

    where: str
    checks: tuple[ColumnCheck, ...]
    unique: tuple[UniqueCheck, ...]

    def to_json(self) -> str:
        """The translation as JSON text."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Translation:
        """A translation from `to_json` text."""
        data = json.loads(text)
        return cls(
            data["where"],
            tuple(ColumnCheck(**c) for c in data["checks"]),
            tuple(UniqueCheck(tuple(u["columns"]), u["check"]) for u in data["unique"]),
        )


def validate_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    translation: Translation,
    key: Sequence[str],
    *,
    limit: int = MAX_LISTED,
) -> tuple[list[Failure], list[Failure]]:
    """Check `table` (one VARCHAR column per declared column, `_file VARCHAR`, `_line BIGINT`);
    return (errors, warnings) as `validate.check_frame` would, sorted by `sort_failures`.

    One scan evaluates every column check; each uniqueness set, and the declared `key` whether
    the schema declares it or not, costs one GROUP BY (plus a join back when it has duplicates).
    Each list holds at most `limit` failures, the first in sorted order; when more were found, a
    last Failure on the last listed one's file (line None, column '') says how many are not
    listed: check "`<n>` more failures not listed".
    `table` may be qualified (`db.schema.table`); its parts are quoted.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    source = ".".join(quote(part) for part in table.split("."))
    present = {row[0] for row in con.execute(f"DESCRIBE {source}").fetchall()}
    missing = [name for name in key if name not in present]
    if missing:
        raise DeclarationError(
            f"{translation.where}: key column(s) {', '.join(missing)} not in table {table}"
        )
    column_checks = [check for check in translation.checks if check.column in present]
    sets = _table_sets(translation.unique, tuple(key), present)
    prefix = f"_codecatalog_{uuid.uuid4().hex[:12]}"
    created: list[str] = []
    found: dict[bool, list[Failure]] = {False: [], True: []}
    totals = {False: 0, True: 0}
    try:
        if column_checks:
            fails = f"{prefix}_fails"
            created.append(fails)
            con.execute(_scan_sql(source, fails, column_checks))
            _column_failures(con, source, fails, column_checks, limit, found, totals)
        unique_parts: list[str] = []
        for number, (names, check, keep_nulls) in enumerate(sets):
            dups, rows = f"{prefix}_dups{number}", f"{prefix}_rows{number}"
            created += [dups, rows]
            cols = ", ".join(map(quote, names))
            con.execute(
                f"CREATE TEMP TABLE {dups} AS SELECT {cols} FROM {source} "
                f"GROUP BY ALL HAVING count(*) > 1"
            )
            if con.execute(f"SELECT count(*) FROM {dups}").fetchone() == (0,):
                continue
            match = " AND ".join(f"t.{quote(n)} IS NOT DISTINCT FROM d.{quote(n)}" for n in names)
            picked = ", ".join(f"t.{quote(n)}" for n in names)
            con.execute(
                f"CREATE TEMP TABLE {rows} AS SELECT t._file, t._line, {picked} "
                f"FROM {source} t SEMI JOIN {dups} d ON {match}"
            )
            # every listed row must yield a failure, so that the first `limit` rows hold the
            # first `limit` failures: without NULL values, a row of NULLs yields none
            some = (
                ""
                if keep_nulls
                else " WHERE " + " OR ".join(f"{quote(n)} IS NOT NULL" for n in names)
            )
            listed = con.execute(
                f"SELECT * FROM {rows}{some} ORDER BY _file, _line LIMIT {int(limit)}"
            )
            for file, line, *values in listed.fetchall():
                found[False] += [
                    Failure(file, line, name, check, as_text(value))
                    for name, value in zip(names, values, strict=True)
                    if keep_nulls or value is not None
                ]
            unique_parts += [
                f"SELECT _file, _line, {literal(name)}, {literal(check)}, {quote(name)} "
                f"FROM {rows}" + ("" if keep_nulls else f" WHERE {quote(name)} IS NOT NULL")
                for name in names
            ]
        if unique_parts:  # a row may fail two sets sharing a column: count it once
            union = " UNION ".join(unique_parts)
            totals[False] += _count(con, f"SELECT count(*) FROM ({union})")
    finally:
        for name in created:
            con.execute(f"DROP TABLE IF EXISTS {name}")
    errors, warnings = (_capped(found[kind], totals[kind], limit) for kind in (False, True))
    return errors, warnings


# --- validation ---------------------------------------------------------------------------------


def _table_sets(
    unique: tuple[UniqueCheck, ...], key: tuple[str, ...], present: set[str]
) -> list[tuple[tuple[str, ...], str, bool]]:
    """(columns, check, keep NULL values) per uniqueness set: pandera checks the set's columns
    present in the frame; the key is checked whether declared or not, NULL parts included."""
    sets: dict[tuple[frozenset[str], str], tuple[tuple[str, ...], str, bool]] = {}
    if key:
        check = FIELD_UNIQUENESS if len(key) == 1 else MULTIPLE_FIELDS_UNIQUENESS
        sets[(frozenset(key), check)] = (key, check, True)
    for declared in unique:
        names = tuple(name for name in declared.columns if name in present)
        if names:
            sets.setdefault((frozenset(names), declared.check), (names, declared.check, False))
    return list(sets.values())


def _scan_sql(source: str, target: str, checks: list[ColumnCheck]) -> str:
    """The one scan: the rowid, file and line of every failing row with a flag per check (the
    WHERE evaluates each check once per row; the flags again on the failing rows only)."""
    flags = ", ".join(f"({check.fails}) AS f{i}" for i, check in enumerate(checks))
    where = " OR ".join(f"({check.fails})" for check in checks)
    return (
        f"CREATE TEMP TABLE {target} AS SELECT rowid AS _row, _file, _line, {flags} "
        f"FROM {source} WHERE {where}"
    )


def _column_failures(
    con: duckdb.DuckDBPyConnection,
    source: str,
    fails: str,
    checks: list[ColumnCheck],
    limit: int,
    found: dict[bool, list[Failure]],
    totals: dict[bool, int],
) -> None:
    """Count the failures per kind (error, warning) in the scan's `fails` table and unpivot its
    first `limit` rows of each kind, which hold the first `limit` failures of that kind (their
    values read back from `source` by rowid)."""
    counts = con.execute(
        "SELECT "
        + ", ".join(f"count(*) FILTER (f{i})" for i in range(len(checks)))
        + f" FROM {fails}"
    ).fetchone()
    assert counts is not None
    for check, count in zip(checks, counts, strict=True):
        totals[check.warning] += count
    columns = list(dict.fromkeys(check.column for check in checks))
    for warning in (False, True):
        flagged = [i for i, check in enumerate(checks) if check.warning == warning]
        if not totals[warning]:
            continue
        first = (
            f"SELECT * FROM {fails} WHERE {' OR '.join(f'f{i}' for i in flagged)} "
            f"ORDER BY _file, _line LIMIT {int(limit)}"
        )
        rows = con.execute(
            f"SELECT f._file, f._line, {', '.join(f't.{quote(name)}' for name in columns)}, "
            + ", ".join(f"f.f{i}" for i in flagged)
            + f" FROM ({first}) f JOIN {source} t ON t.rowid = f._row"
        ).fetchall()
        for row in rows:
            values = dict(zip(columns, row[2:], strict=False))
            found[warning] += [
                Failure(
                    row[0],
                    row[1],
                    checks[i].column,
                    checks[i].check,
                    as_text(values[checks[i].column]),
                )
                for position, i in enumerate(flagged)
                if row[2 + len(columns) + position]
            ]


def _capped(found: list[Failure], total: int, limit: int) -> list[Failure]:
    """The first `limit` failures in order, plus a closing Failure counting the rest."""
    listed = sort_failures(found)[:limit]
    if total > len(listed):
        more = total - len(listed)
        listed.append(Failure(listed[-1].file, None, "", f"{more} {MORE_FAILURES}", ""))
    return listed


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def as_text(value: Any) -> str:
    """A failure value as text ('' for missing)."""
    return "" if value is None else str(value)

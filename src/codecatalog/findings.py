"""Findings: rows of a policy source that point at retired or unknown codes (issue 7 §4).

For one loaded version of a source with `code_columns`, every code in a row that is itself in
force on the version's effective date is looked up in each declared code set (`code_sets`) whose
`code_shape` it fully matches, in that set's version in force: its latest loaded version effective
on or before the date. A code matching the shapes of several declared sets is checked in each of
them (one finding per set). Findings:

- `retired`: the code's row in that version is retired, or the code is absent from it but was in
  an earlier loaded version (dropped after retiring); `retired_on` is the first day it is invalid
  (the date of its `retired` change row) and `successors` its declared successors;
- `unknown`: the code is in neither that version nor any earlier one, the version being at most a
  year older than the date;
- `unchecked`, with a `reason`: no declared set claims the shape, the claiming set has no version
  in force, or that version is more than a year older than the date. Never reported as unknown.

Codes found active give no finding. Everything runs in SQL: distinct codes are looked up once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import duckdb

from codecatalog.diff.changes import active_sql, first_invalid_sql, key_sql
from codecatalog.errors import DeclarationError
from codecatalog.intervals import FROM, TO, in_force
from codecatalog.sources import SourceConfig
from codecatalog.sql import literal, quote, table_exists
from codecatalog.warehouse import IN_SERVICE, LoadedRelease, find_release, loaded_releases

FINDING_COLUMNS = (
    "codeset", "version", "key", "column", "code", "finding", "code_set", "code_set_version",
    "retired_on", "successors", "reason",
)  # fmt: skip

LISTED_CODES = 2000  # retired/unknown codes (and unchecked reasons) listed in the report
LISTED_KEYS = 5  # keys shown per listed code

_CODES = "_finding_codes"  # temporary: the distinct codes of the version
CODES_TABLE = _CODES  # what `code_findings_sql` reads: other callers fill it with their codes
_FOUND = "_finding_codes_found"  # temporary: one finding per code and code set


@dataclass(frozen=True)
class CodeSetCheck:
    """How the codes a code set claims are checked on a date: in `release`, or not (`reason`)."""

    name: str
    shape: str
    release: LoadedRelease | None  # its version in force on the date (None: none loaded)
    reason: str | None  # why its codes are unchecked (None: they are looked up in `release`)


def year_before(day: date) -> date:
    """The same day a year earlier (29 February → 28 February).

    >>> year_before(date(2024, 2, 29))
    datetime.date(2023, 2, 28)
    """
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def plan_check(name: str, shape: str, release: LoadedRelease | None, on: date) -> CodeSetCheck:
    """Whether the codes of set `name` can be checked on `on` in its version in force `release`.

    >>> plan_check("cpt", "x", None, date(2018, 7, 1)).reason
    'no cpt version in force on 2018-07-01'
    """
    if release is None:
        return CodeSetCheck(name, shape, None, f"no {name} version in force on {on}")
    if release.effective_date < year_before(on):
        return CodeSetCheck(
            name,
            shape,
            release,
            f"{name} {release.version} (effective {release.effective_date}) is more than a "
            f"year older than {on}",
        )
    return CodeSetCheck(name, shape, release, None)


@dataclass(frozen=True)
class CheckTerms:
    """A code set's check as SQL expressions: the order and label of its version in force (NULL:
    none) and why its codes are unchecked (NULL: they are looked up). Literals for a planned
    check (`planned_terms`), subqueries on `releases_in_service` for a date known only to SQL
    (`terms_on`)."""

    name: str
    shape: str
    order: str
    version: str
    reason: str
    lookup: bool = True  # False: the reason is known already, the set is never looked in


def planned_terms(check: CodeSetCheck) -> CheckTerms:
    """The terms of a check planned in Python (`plan_check`)."""
    release = check.release
    return CheckTerms(
        check.name,
        check.shape,
        str(int(release.release_order)) if release else "NULL::BIGINT",
        literal(release.version) if release else "NULL::VARCHAR",
        literal(check.reason) if check.reason is not None else "NULL::VARCHAR",
        check.reason is None,
    )


def terms_on(name: str, shape: str, on: str, loaded: bool = True) -> CheckTerms:
    """The terms of checking set `name` on the date SQL expression `on`, decided in SQL by the
    rules of `plan_check` (its reasons word for word); `loaded`: whether its tables exist."""
    releases = f"FROM {IN_SERVICE} WHERE codeset = {literal(name)} AND effective_date <= {on}"
    order = f"(SELECT max(release_order) {releases})"
    version = f"(SELECT arg_max(version, release_order) {releases})"
    effective = f"(SELECT max(effective_date) {releases})"
    day = f"strftime({on}, '%Y-%m-%d')"
    reason = (
        f"(CASE WHEN {order} IS NULL THEN {literal(f'no {name} version in force on ')} || {day} "
        f"WHEN {effective} < {on} - INTERVAL 1 YEAR THEN {literal(name + ' ')} || {version} "
        f"|| ' (effective ' || strftime({effective}, '%Y-%m-%d') "
        f"|| ') is more than a year older than ' || {day} END)"
    )
    return CheckTerms(name, shape, order, version, reason, loaded)


def in_force_release(
    con: duckdb.DuckDBPyConnection, codeset: str, on: date
) -> LoadedRelease | None:
    """A code set's version in force on `on`: its latest loaded version in service (not
    retracted) effective on or before it (by effective date, then correction); None when there
    is none."""
    earlier = [r for r in loaded_releases(con, codeset) if r.effective_date <= on]
    return earlier[-1] if earlier else None


def code_set_versions(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, version: str
) -> dict[str, str | None]:
    """The version of each declared code set in force on `version`'s effective date (None: none
    loaded then), in declaration order: what the findings of that version were checked against."""
    on = find_release(con, cfg.name, version).effective_date
    found = {}
    for name in cfg.code_sets:
        release = in_force_release(con, name, on)
        found[name] = release.version if release else None
    return found


def compute_findings(
    con: duckdb.DuckDBPyConnection,
    cfg: SourceConfig,
    version: str,
    code_sets: Mapping[str, SourceConfig],
) -> int:
    """Replace the `findings` rows of `version` of source `cfg`; return how many there are now.

    `code_sets` holds the declarations of (at least) the sets named in `cfg.code_sets`. Runs in
    the caller's transaction; creates the `findings` table when missing.
    """
    con.execute("DELETE FROM findings WHERE codeset = ? AND version = ?", [cfg.name, version])
    if not cfg.code_columns:
        return 0
    release = find_release(con, cfg.name, version)
    insert_findings(con, "findings", cfg, release, release.effective_date, code_sets)
    count = con.execute(
        "SELECT count(*) FROM findings WHERE codeset = ? AND version = ?", [cfg.name, version]
    ).fetchone()
    return int(count[0]) if count else 0


def insert_findings(
    con: duckdb.DuckDBPyConnection,
    target: str,
    cfg: SourceConfig,
    release: LoadedRelease,
    on: date,
    code_sets: Mapping[str, SourceConfig],
) -> None:
    """Append to table `target` (FINDING_COLUMNS) the findings of the rows of version `release`
    of policy source `cfg` in force on `on`, with codes looked up in the code sets in force then."""
    checks = []
    for name in cfg.code_sets:
        declared = code_sets.get(name)
        if declared is None or declared.code_shape is None:
            problem = "is not declared" if declared is None else "declares no code_shape"
            raise DeclarationError(f"{cfg.name}: code set {name!r} {problem}")
        check = plan_check(name, declared.code_shape, in_force_release(con, name, on), on)
        checks.append(planned_terms(check))
    refs = references_sql(cfg, str(int(release.release_order)), _date(on))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_CODES} AS SELECT DISTINCT _code FROM ({refs}) "
        "WHERE _code IS NOT NULL"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_FOUND} AS {code_findings_sql(checks, code_sets)}")
    con.execute(
        f"""INSERT INTO {target} ({", ".join(quote(c) for c in FINDING_COLUMNS)})
        SELECT {literal(cfg.name)}, {literal(release.version)}, r._key, r._column, r._code,
               f.finding, f.code_set, f.code_set_version, f.retired_on, f.successors, f.reason
        FROM ({refs}) r JOIN {_FOUND} f USING (_code)"""
    )
    con.execute(f"DROP TABLE {_FOUND}")
    con.execute(f"DROP TABLE {_CODES}")


def code_findings_sql(
    checks: Sequence[CheckTerms], code_sets: Mapping[str, SourceConfig], codes: str = _CODES
) -> str:
    """SQL: the findings of the distinct codes in relation `codes` (one VARCHAR column `_code`;
    by default temporary table CODES_TABLE, filled by the caller) as rows (_code, code_set,
    code_set_version, finding, retired_on, successors, reason). Codes no check claims are
    `unchecked`; a claimed code is looked up in its set's version (`retired`, `unknown`; an
    active code gives no row), or is `unchecked` with the check's reason."""
    parts = [_unclaimed_sql(list(checks), codes)]
    for check in checks:
        if check.lookup:
            parts.append(_lookup_sql(code_sets[check.name], check, codes))
        parts.append(_unchecked_sql(check, codes))
    return " UNION ALL ".join(f"SELECT * FROM ({part})" for part in parts)


def findings_on_sql(
    policies: Sequence[tuple[SourceConfig, Mapping[str, SourceConfig]]],
    on: str,
    loaded: Sequence[str] = (),
) -> str:
    """SQL: the findings (FINDING_COLUMNS) on the date SQL expression `on` of each policy source
    in `policies` (its declaration, and those of its code sets), decided in SQL alone: the
    version of each in force on the date, its rows in force then, each code in the code sets'
    versions in force then (`loaded`: the code sets with stored rows). What
    `codecatalog.findings_as_of` computes with temporary tables."""
    parts = []
    for cfg, code_sets in policies:
        releases = (
            f"FROM {IN_SERVICE} WHERE codeset = {literal(cfg.name)} AND effective_date <= {on}"
        )
        order = f"(SELECT max(release_order) {releases})"
        refs = references_sql(cfg, order, on)
        checks = [terms_on(n, str(code_sets[n].code_shape), on, n in loaded) for n in cfg.code_sets]
        parts.append(
            f"""WITH _refs AS ({refs}),
            {_CODES} AS (SELECT DISTINCT _code FROM _refs WHERE _code IS NOT NULL)
            SELECT {literal(cfg.name)} AS codeset, (SELECT arg_max(version, release_order)
                   {releases}) AS version, r._key AS key, r._column AS "column", r._code AS code,
                   f.finding, f.code_set, f.code_set_version, f.retired_on, f.successors, f.reason
            FROM _refs r JOIN ({code_findings_sql(checks, code_sets)}) f USING (_code)"""
        )
    if not parts:
        columns = ", ".join(
            f"NULL::{'DATE' if c == 'retired_on' else 'VARCHAR'} AS {quote(c)}"
            for c in FINDING_COLUMNS
        )
        return f"SELECT {columns} WHERE false"
    return " UNION ALL ".join(f"SELECT * FROM ({part})" for part in parts)


def references_sql(cfg: SourceConfig, order: str, on: str) -> str:
    """SQL: (_key, _column, _code) for each non-null code in a code column of the rows of `cfg`'s
    catalog at version order `order` that are in force on `on` (SQL expressions: a BIGINT and a
    DATE) — active, or retiring after the date."""
    columns = ", ".join(f"{quote(c)}::VARCHAR AS {quote(c)}" for c in cfg.code_columns)
    listed = ", ".join(quote(c) for c in cfg.code_columns)
    rows = (
        f"SELECT {key_sql(cfg.key)} AS _key, {columns} "
        f"FROM {quote(f'{cfg.name}_catalog')} WHERE {in_force(order)} "
        f"AND (coalesce({active_sql(cfg)}, false) OR {first_invalid_sql(cfg)} > {on})"
    )
    return f"SELECT _key, _column, _code FROM ({rows}) UNPIVOT (_code FOR _column IN ({listed}))"


def _unclaimed_sql(checks: list[CheckTerms], codes: str) -> str:
    """Codes whose shape no declared code set claims."""
    claimed = " OR ".join(f"regexp_full_match(_code, {literal(c.shape)})" for c in checks)
    names = ", ".join(c.name for c in checks).replace("'", "''") or "none declared"
    return (
        f"SELECT _code, NULL::VARCHAR AS code_set, NULL::VARCHAR AS code_set_version, "
        f"'unchecked' AS finding, NULL::DATE AS retired_on, NULL::VARCHAR AS successors, "
        f"'its shape is none of its code sets ({names})' AS reason FROM {codes}"
        + (f" WHERE NOT ({claimed})" if claimed else "")
    )


def _unchecked_sql(check: CheckTerms, codes: str) -> str:
    """The codes a code set claims but cannot check (no version in force, or too old)."""
    return (
        f"SELECT _code, {literal(check.name)}, {check.version}, 'unchecked', NULL::DATE, "
        f"NULL::VARCHAR, {check.reason} FROM {codes} "
        f"WHERE {check.reason} IS NOT NULL AND regexp_full_match(_code, {literal(check.shape)})"
    )


def _lookup_sql(code_set: SourceConfig, check: CheckTerms, codes: str) -> str:
    """The codes `code_set` claims that are retired or unknown in its version in force (`check`;
    none when the check has a reason).

    Each claimed code's rows up to that version are read from the set's interval table: the last
    of them decides. In force and active: no finding; in force and retired: `retired` on its first
    invalid day, else on the effective date of the version from which it has been retired without
    a break; absent but known earlier (dropped): `retired` on the last row's first invalid day,
    else the date of the version it vanished in; never seen: `unknown`.
    """
    catalog, name, order = quote(f"{code_set.name}_catalog"), code_set.name, check.order
    shape = literal(check.shape)
    code = key_sql(code_set.key)
    successors = (
        f"nullif(concat_ws(' ', {', '.join(quote(c) for c in code_set.successors)}), '')"
        if code_set.successors
        else "NULL::VARCHAR"
    )
    versions = (
        f"(SELECT release_order, effective_date FROM releases WHERE codeset = {literal(name)})"
    )
    return f"""
    WITH claimed AS (SELECT _code FROM {codes}
                     WHERE {check.reason} IS NULL AND regexp_full_match(_code, {shape})),
    hist AS (
        SELECT {code} AS _code, {FROM} AS _from, {TO} AS _to,
               coalesce({active_sql(code_set)}, false) AS _active,
               {first_invalid_sql(code_set)} AS _first_invalid, {successors} AS _successors
        FROM {catalog} WHERE {FROM} <= {order} AND {code} IN (SELECT _code FROM claimed)
    ),
    bounds AS (
        SELECT _code, max(_from) AS _last_from, max(_to) FILTER (WHERE _active) AS _active_to
        FROM hist GROUP BY _code
    ),
    last_rows AS (
        SELECT h.*, h._to IS NULL OR h._to > {order} AS _in_force
        FROM hist h JOIN bounds b ON h._code = b._code AND h._from = b._last_from
    ),
    runs AS (  -- where the unbroken run of retired rows leading up to the version starts
        SELECT h._code, min(h._from) AS _run_from
        FROM hist h JOIN bounds b ON h._code = b._code
        WHERE NOT h._active AND h._from >= coalesce(b._active_to, 0)
        GROUP BY h._code
    )
    SELECT c._code, {literal(name)}, {check.version},
           CASE WHEN l._code IS NULL THEN 'unknown' ELSE 'retired' END,
           CASE WHEN l._code IS NULL THEN NULL::DATE
                WHEN l._in_force THEN coalesce(l._first_invalid, started.effective_date)
                ELSE coalesce(l._first_invalid, gone.effective_date) END,
           l._successors, NULL::VARCHAR
    FROM claimed c
    LEFT JOIN last_rows l ON l._code = c._code
    LEFT JOIN runs r ON r._code = c._code
    LEFT JOIN {versions} started ON started.release_order = r._run_from
    LEFT JOIN {versions} gone ON gone.release_order = l._to
    WHERE l._code IS NULL OR NOT (l._in_force AND l._active)
    """


def published_findings_sql(codeset: str, version: str) -> str:
    """SQL: the findings of one version, as published (`findings.csv`, `findings.parquet`),
    ordered by code, key, column, code set."""
    columns = ", ".join(quote(c) for c in FINDING_COLUMNS)
    return (
        f"SELECT {columns} FROM findings WHERE codeset = {literal(codeset)} "
        f"AND version = {literal(version)} "
        'ORDER BY code, key NULLS FIRST, "column", code_set NULLS FIRST'
    )


def findings_summary(con: duckdb.DuckDBPyConnection, codeset: str, version: str) -> list[str]:
    """Markdown lines of the report's `## Findings` section (none when there are no findings):
    retired and unknown codes one line each with their rows and first keys, then how many codes
    and rows each reason left unchecked."""
    if not table_exists(con, "findings"):
        return []
    where = "codeset = $codeset AND version = $version"
    params = {"codeset": codeset, "version": version}
    codes = con.execute(
        f"""SELECT code, finding, code_set, code_set_version, retired_on, successors, count(*),
                   count(DISTINCT key),
                   list_slice(list(DISTINCT key ORDER BY key), 1, {LISTED_KEYS})
            FROM findings WHERE {where} AND finding IN ('retired', 'unknown')
            GROUP BY ALL ORDER BY code, code_set LIMIT {LISTED_CODES + 1}""",
        params,
    ).fetchall()
    unchecked = con.execute(
        f"""SELECT reason, count(DISTINCT code), count(*) FROM findings
            WHERE {where} AND finding = 'unchecked' GROUP BY reason ORDER BY reason
            LIMIT {LISTED_CODES + 1}""",
        params,
    ).fetchall()
    if not codes and not unchecked:
        return []
    lines = ["## Findings", ""]
    if codes:
        total = con.execute(
            f"SELECT count(DISTINCT (code, code_set)), count(*) FROM findings "
            f"WHERE {where} AND finding IN ('retired', 'unknown')",
            params,
        ).fetchone()
        groups, rows = total if total else (0, 0)
        lines += [
            f"{rows:,} rows point at retired or unknown codes.",
            "",
            "| code | finding | code set | code set version | retired on | successors | rows "
            "| keys |",
            "|---|---|---|---|---|---|---:|---|",
        ]
        lines += [_code_line(*row) for row in codes[:LISTED_CODES]]
        if groups > LISTED_CODES:
            lines += ["", f"… and {groups - LISTED_CODES:,} more codes (see findings.csv)."]
        lines.append("")
    if unchecked:
        lines += ["### Unchecked", "", "| reason | codes | rows |", "|---|---:|---:|"]
        lines += [f"| {_cell(r)} | {c:,} | {n:,} |" for r, c, n in unchecked[:LISTED_CODES]]
        if len(unchecked) > LISTED_CODES:
            lines += ["", "… and more reasons (see findings.csv)."]
        lines.append("")
    return lines


def _code_line(
    code: str,
    finding: str,
    code_set: str,
    set_version: str,
    retired_on: date | None,
    successors: str | None,
    rows: int,
    keys: int,
    first: list[str],
) -> str:
    """One retired or unknown code of the report: where it was looked up, its rows, first keys."""
    shown = ", ".join(_cell(k) for k in first)
    more = f", … and {keys - len(first):,} more" if keys > len(first) else ""
    return (
        f"| {_cell(code)} | {finding} | {code_set} | {_cell(set_version)} | {retired_on or ''} "
        f"| {_cell(successors)} | {rows:,} | {shown}{more} |"
    )


def _cell(value: object) -> str:
    """A markdown table cell's text: pipes escaped, None empty."""
    return "" if value is None else str(value).replace("|", "\\|")


def _date(day: date) -> str:
    return f"DATE '{day.isoformat()}'"

"""The January question across every loaded policy source: which policy rows name a code that is
retired or unknown on a given date, with its retirement date and successors, grouped by code.

For each loaded source that declares `code_columns`, its version in force on the date (the latest
loaded version effective on or before it) is read; of its rows, those in force on the date are
checked, each code in the declared code sets' versions in force on the same date (the rules of
`codecatalog.findings`). Nothing is written to the warehouse: the rows go to a temporary table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import duckdb

from codecatalog import warehouse as wh
from codecatalog.findings import FINDING_COLUMNS, in_force_release, insert_findings
from codecatalog.sources import SourceConfig, source
from codecatalog.sql import quote, table_exists

if TYPE_CHECKING:
    import pandas as pd

AS_OF_TABLE = "_findings_as_of"  # temporary: the findings of every policy source on the date
LISTED_ROWS = 20  # policy rows listed per code in the text answer


@dataclass
class AsOf:
    """What `findings_as_of` checked: the policy versions in force, the code-set versions used,
    and the policy sources with no version in force on the date."""

    on: date
    policies: dict[str, str] = field(default_factory=dict)  # source -> version in force
    code_sets: dict[str, str | None] = field(default_factory=dict)  # set -> version (None: none)
    not_in_force: list[str] = field(default_factory=list)  # loaded, but none in force yet


def _declaration(con: duckdb.DuckDBPyConnection, name: str) -> SourceConfig:
    """The declaration `name` was last loaded with (else as declared now)."""
    return wh.stored_declaration(con, name) or source(name)


def findings_as_of(con: duckdb.DuckDBPyConnection, on: date, only: list[str] | None = None) -> AsOf:
    """Fill the temporary table AS_OF_TABLE with the findings on `on` of every loaded policy
    source (or of `only`), one row per policy row, code column and code set."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {AS_OF_TABLE} AS SELECT * FROM findings LIMIT 0"
        if table_exists(con, "findings")
        else f"CREATE OR REPLACE TEMP TABLE {AS_OF_TABLE} ("
        + ", ".join(
            f"{quote(c)} {'DATE' if c == 'retired_on' else 'VARCHAR'}" for c in FINDING_COLUMNS
        )
        + ")"
    )
    loaded = [row[0] for row in con.execute("SELECT DISTINCT codeset FROM releases").fetchall()]
    result = AsOf(on)
    for name in sorted(only or loaded):
        if name not in loaded:
            source(name)  # an undeclared name is refused, listing the declared ones
            result.not_in_force.append(name)
            continue
        cfg = _declaration(con, name)
        if not cfg.code_columns:
            continue
        release = in_force_release(con, name, on)
        if release is None:
            result.not_in_force.append(name)
            continue
        code_sets = {n: _declaration(con, n) for n in cfg.code_sets}
        insert_findings(con, AS_OF_TABLE, cfg, release, on, code_sets)
        result.policies[name] = release.version
        for n in cfg.code_sets:
            in_force = in_force_release(con, n, on)
            result.code_sets[n] = in_force.version if in_force else None
    return result


def as_of_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The retired and unknown findings of `findings_as_of`, by code, code set, source, key."""
    return con.execute(
        f"""SELECT code, finding, code_set, code_set_version, retired_on, successors,
                   codeset AS source, version, key, "column"
            FROM {AS_OF_TABLE} WHERE finding IN ('retired', 'unknown')
            ORDER BY code, code_set, source, key, "column" """
    ).df()


def render_as_of(con: duckdb.DuckDBPyConnection, result: AsOf) -> str:
    """The answer as text: what was checked, then each retired or unknown code with its
    retirement date and successors, and the policy rows naming it; unchecked codes counted."""
    policies = ", ".join(f"{n} {v}" for n, v in result.policies.items()) or "none"
    sets = ", ".join(f"{n} {v or '(none in force)'}" for n, v in result.code_sets.items())
    lines = [
        f"Policy rows naming codes retired or unknown on {result.on.isoformat()}",
        f"policy sources in force: {policies}",
    ]
    if result.not_in_force:
        lines.append(f"no version in force: {', '.join(result.not_in_force)}")
    if sets:
        lines.append(f"code sets in force: {sets}")
    codes = con.execute(
        f"""SELECT code, finding, code_set, code_set_version, retired_on, successors, count(*),
                   list((codeset, version, key, "column") ORDER BY codeset, key, "column")
            FROM {AS_OF_TABLE} WHERE finding IN ('retired', 'unknown')
            GROUP BY ALL ORDER BY code, code_set"""
    ).fetchall()
    rows = 0
    for code, finding, code_set, set_version, retired_on, successors, count, refs in codes:
        rows += count
        what = f"{finding} in {code_set} {set_version}"
        if retired_on is not None:
            what += f" on {retired_on.isoformat()}"
        if successors:
            what += f"; successors: {successors}"
        lines += ["", f"{code}  {what}  ({count:,} row{'s' * (count != 1)})"]
        for ref in refs[:LISTED_ROWS]:
            name, version, key, column = ref.values() if isinstance(ref, dict) else ref
            lines.append(f"    {name} {version}  {key}  ({column})")
        if count > LISTED_ROWS:
            lines.append(f"    … and {count - LISTED_ROWS:,} more rows (--format csv lists all)")
    lines += ["", f"{len(codes):,} codes retired or unknown, named by {rows:,} policy rows."]
    unchecked = con.execute(
        f"""SELECT reason, count(DISTINCT code), count(*) FROM {AS_OF_TABLE}
            WHERE finding = 'unchecked' GROUP BY reason ORDER BY reason"""
    ).fetchall()
    for reason, n_codes, n_rows in unchecked:
        lines.append(f"unchecked: {n_codes:,} codes in {n_rows:,} rows: {reason}")
    return "\n".join(lines) + "\n"

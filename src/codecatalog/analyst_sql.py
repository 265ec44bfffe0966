"""SQL for analysts (issue 9 §2): table macros stored in the warehouse, so any DuckDB ≥ 2.0 client
that opens the reader file can call them, with no Python function registered.

- `changes_between(source, from_version, to_version)`: the net change between any two loaded
  versions (what `codecatalog diff` prints, CHANGE_COLUMNS);
- `code_history(source, key)`: every change of one key, step by step over the loaded versions
  (`codecatalog history`); a composite key is its parts joined with `|`;
- `catalog_as_of(source, as_of)`: the catalog rows of the version in force on a date (as the
  version's published `catalog` file);
- `findings_as_of(as_of)`: the findings of every policy source's version in force on a date
  (`codecatalog findings --as-of`, with the unchecked codes too);
- `version_in_force(source, as_of)`: the label of that version (a scalar macro).

Each table macro dispatches on the source name with `query()` to a macro of that source
(`_changes_between_<source>`, …), generated from the same SQL the pipeline runs
(`codecatalog.diff.changes`, `codecatalog.findings`) with its parameters read from
`releases_in_service` (`releases` without the retracted versions, which no macro sees).
They are created by the writer after every load and when this module's SQL changes (a hash in
`meta`), so the reader file always carries the macros of the sources it holds.
"""

from __future__ import annotations

import hashlib
import re

import duckdb

from codecatalog import warehouse as wh
from codecatalog.diff.changes import changes_body_sql, key_sql
from codecatalog.findings import findings_on_sql
from codecatalog.intervals import in_force
from codecatalog.sources import SourceConfig, source
from codecatalog.sql import first, literal, quote, table_exists

_META = "analyst_sql_sha256"  # meta row: the hash of the installed statements
_STEP = ("old", "new", "old_ord", "new_ord", "old_eff", "new_eff")  # a step's parameters


def _bind(sql: str, values: dict[str, str]) -> str:
    """`sql` with each `$name` parameter replaced by the SQL expression `values[name]`."""
    return re.sub(r"\$([a-z_]+)\b", lambda m: values.get(m[1], m[0]), sql)


def _step_columns(alias: str) -> dict[str, str]:
    return {name: f"{alias}._{name}" for name in _STEP}


def changes_macro(cfg: SourceConfig) -> str:
    """`_changes_between_<source>(p_from, p_to)`: the changes between two loaded versions in
    service (a retracted one is refused with `warehouse.Retraction`'s words)."""
    name = literal(cfg.name)
    loaded = (
        f"(SELECT coalesce(string_agg(version, ', ' ORDER BY release_order), 'none') "
        f"FROM {wh.IN_SERVICE} WHERE codeset = {name})"
    )

    def missing(param: str) -> str:
        retracted = (
            f"(SELECT {literal(cfg.name + ' ')} || version || ' was retracted on ' "
            f"|| strftime(retracted_at, '%Y-%m-%d %H:%M:%S') || ' UTC by ' || retracted_by "
            f"|| ': ' || reason FROM retractions WHERE codeset = {name} AND version = {param})"
        )
        return (
            f"error(coalesce({retracted}, {literal(f'{cfg.name} version ')} "
            f"|| _sql_literal({param}) || ' is not loaded (loaded: ' || {loaded} || ')'))"
        )

    step = f"""
    _steps AS (
        SELECT o.version AS _old, n.version AS _new, o.release_order AS _old_ord,
               n.release_order AS _new_ord, o.effective_date AS _old_eff,
               n.effective_date AS _new_eff
        FROM (SELECT p_from::VARCHAR AS f, p_to::VARCHAR AS t) p
        LEFT JOIN {wh.IN_SERVICE} o ON o.codeset = {name} AND o.version = p.f
        LEFT JOIN {wh.IN_SERVICE} n ON n.codeset = {name} AND n.version = p.t
        WHERE CASE WHEN o.version IS NULL THEN {missing("p.f")}
                   WHEN n.version IS NULL THEN {missing("p.t")}
                   WHEN o.release_order >= n.release_order
                     THEN error('FROM (' || p.f || ') must be earlier than TO (' || p.t || ')')
                   ELSE true END
    )"""
    body = _bind(changes_body_sql(cfg), _step_columns("s"))
    return (
        f"CREATE OR REPLACE MACRO {quote('_changes_between_' + cfg.name)}(p_from, p_to) AS TABLE "
        f"WITH {step} SELECT c.* FROM _steps s, LATERAL ({body}) c "
        f"ORDER BY c.key, c.change_type, c.field NULLS FIRST"
    )


def history_macro(cfg: SourceConfig) -> str:
    """`_code_history_<source>(p_key)`: one key's changes over each two neighbouring versions."""
    name, catalog = literal(cfg.name), quote(f"{cfg.name}_catalog")
    key = "p_key::VARCHAR"
    never = (
        f"error({literal(f'{cfg.name} key ')} || _sql_literal({key}) || ' is in no loaded version')"
    )
    step = f"""
    _steps AS (
        SELECT lag(version) OVER w AS _old, version AS _new,
               lag(release_order) OVER w AS _old_ord, release_order AS _new_ord,
               lag(effective_date) OVER w AS _old_eff, effective_date AS _new_eff
        FROM {wh.IN_SERVICE} WHERE codeset = {name}
        WINDOW w AS (ORDER BY release_order)
        QUALIFY _old IS NOT NULL
    ),
    _known AS (
        SELECT coalesce((SELECT true FROM {catalog} WHERE {key_sql(cfg.key)} = {key} LIMIT 1),
                        {never}) AS _ok
    )"""
    body = _bind(changes_body_sql(cfg, one_key=True), {**_step_columns("s"), "key": key})
    return (
        f"CREATE OR REPLACE MACRO {quote('_code_history_' + cfg.name)}(p_key) AS TABLE "
        f"WITH {step} SELECT c.* FROM _known k, _steps s, LATERAL ({body}) c WHERE k._ok "
        f"ORDER BY s._new_ord, c.change_type, c.field NULLS FIRST"
    )


def catalog_macro(cfg: SourceConfig) -> str:
    """`_catalog_as_of_<source>(p_as_of)`: the catalog of the version in force on a date."""
    name, catalog = literal(cfg.name), quote(f"{cfg.name}_catalog")
    order = (
        f"(SELECT max(release_order) FROM {wh.IN_SERVICE} "
        f"WHERE codeset = {name} AND effective_date <= p_as_of::DATE)"
    )
    first_loaded = (
        f"(SELECT coalesce(arg_min(version || ' (effective ' || strftime(effective_date, "
        f"'%Y-%m-%d') || ')', release_order), 'none') FROM {wh.IN_SERVICE} WHERE codeset = {name})"
    )
    none = (
        f"error({literal(f'no {cfg.name} version is in force on ')} || "
        f"strftime(p_as_of::DATE, '%Y-%m-%d') || ': the first loaded is ' || {first_loaded})"
    )
    keys = ", ".join(quote(k) for k in cfg.key)
    return (
        f"CREATE OR REPLACE MACRO {quote('_catalog_as_of_' + cfg.name)}(p_as_of) AS TABLE "
        f"WITH _version AS (SELECT coalesce({order}, {none}) AS _order) "
        f"SELECT c.* EXCLUDE (_from, _to) FROM {catalog} c, _version v "
        f"WHERE {in_force('v._order', 'c')} ORDER BY {keys}"
    )


def _dispatch(macro: str, params: list[str], names: list[str]) -> str:
    """A public table macro calling `_<macro>_<source>` of the source named by its first
    parameter, through `query()` (its text is built from constants when the call's are)."""
    args = " || ', ' || ".join(f"_sql_literal({p})" for p in params[1:])
    loaded = ", ".join(names) or "none"
    calls = {n: literal("FROM " + quote(f"_{macro}_{n}") + "(") for n in names}
    cases = " ".join(
        f"WHEN {params[0]} = {literal(n)} THEN {call} || {args} || ')'" for n, call in calls.items()
    )
    unknown = (
        f"error('{macro}: no source ' || _sql_literal({params[0]}) "
        f"|| ' is loaded (loaded: {loaded})')"
    )
    signature = ", ".join(params)
    return (
        f"CREATE OR REPLACE MACRO {macro}({signature}) AS TABLE "
        f"SELECT * FROM query(CASE WHEN false THEN NULL {cases} ELSE {unknown} END)"
    )


def statements(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The statements creating every macro for the sources loaded in the warehouse."""
    names = [
        n
        for (n,) in con.execute("SELECT DISTINCT codeset FROM releases ORDER BY codeset").fetchall()
        if table_exists(con, f"{n}_catalog")
    ]
    configs = {n: wh.stored_declaration(con, n) or source(n) for n in names}
    found = [
        "CREATE OR REPLACE MACRO _sql_literal(value) AS "
        "coalesce('''' || replace(value::VARCHAR, '''', '''''') || '''', 'NULL')",
        "CREATE OR REPLACE MACRO version_in_force(source, as_of) AS "
        "(SELECT arg_max(version, release_order) "
        f"FROM (SELECT codeset, version, release_order, effective_date FROM {wh.IN_SERVICE}) "
        "WHERE codeset = source AND effective_date <= as_of::DATE)",
    ]
    for cfg in configs.values():
        found += [changes_macro(cfg), history_macro(cfg), catalog_macro(cfg)]
    found += [
        _dispatch("changes_between", ["source", "from_version", "to_version"], names),
        _dispatch("code_history", ["source", "key"], names),
        _dispatch("catalog_as_of", ["source", "as_of"], names),
    ]
    policies = []
    for cfg in configs.values():
        if cfg.code_columns:
            sets = {
                n: configs.get(n) or wh.stored_declaration(con, n) or source(n)
                for n in cfg.code_sets
            }
            policies.append((cfg, sets))
    findings = findings_on_sql(policies, "as_of::DATE", loaded=names)
    found.append(
        f"CREATE OR REPLACE MACRO findings_as_of(as_of) AS TABLE SELECT * FROM ({findings}) "
        'ORDER BY codeset, code, key NULLS FIRST, "column", code_set NULLS FIRST'
    )
    return found


def install(con: duckdb.DuckDBPyConnection) -> bool:
    """Create or replace the macros, in the caller's transaction, unless those installed are
    the same; return whether they were (re)created."""
    found = statements(con)
    digest = hashlib.sha256("\n".join(found).encode()).hexdigest()
    row = first(con.execute("SELECT value FROM meta WHERE name = ?", [_META]))
    if row is not None and row[0] == digest:
        return False
    for statement in found:
        con.execute(statement)
    con.execute(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [_META, digest],
    )
    return True

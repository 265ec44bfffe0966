"""Changes between two loaded versions: set-based DuckDB SQL in the vocabulary of DESIGN.md §3."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import duckdb

from codecatalog.diff.normalise import editorial_sql
from codecatalog.errors import VersionError
from codecatalog.intervals import FROM, TO, in_force
from codecatalog.sources import KEY_SEPARATOR, SourceConfig
from codecatalog.sql import first, literal, quote, table_exists
from codecatalog.warehouse import LoadedRelease, find_release, loaded_releases

if TYPE_CHECKING:
    import pandas as pd


CHANGE_COLUMNS = [
    "codeset", "from_version", "to_version", "key", "change_type", "field",
    "old_value", "new_value", "effective_date", "source_action",
]  # fmt: skip


def key_sql(columns: tuple[str, ...], alias: str = "") -> str:
    """SQL for a change row's `key`: the key columns joined with `|` (empty parts stay empty)."""
    prefix = f"{alias}." if alias else ""
    if len(columns) == 1:
        return f"{prefix}{quote(columns[0])}"
    parts = ", ".join(f"coalesce({prefix}{quote(c)}, '')" for c in columns)
    return f"concat_ws('{KEY_SEPARATOR}', {parts})"


def active_sql(cfg: SourceConfig) -> str:
    """SQL: whether a catalog row is active (not retired) by its own content."""
    if cfg.retire is not None:
        values = ", ".join(literal(v) for v in cfg.retire.active)
        column = quote(cfg.retire.column)
        return f"({column} IS NULL OR {column} IN ({values}))" if values else f"{column} IS NULL"
    if cfg.family in ("ama_cpt", "hcpcs"):
        return "status = 'active'"  # the family's own reading of the record
    return "true"


def first_invalid_sql(cfg: SourceConfig) -> str:
    """SQL: the first day a retired row is invalid, from its declared term date (else NULL)."""
    if cfg.retire is not None:
        column, fmt = quote(cfg.retire.column), literal(cfg.retire.date_format)
        shift = " + 1" if cfg.retire.last_valid_day else ""
        return f"(try_strptime({column}, {fmt})::DATE{shift})"
    if cfg.term_date:
        return f"({_date_expr(cfg.term_date)} + 1)"
    return "NULL::DATE"


def _window_sql(cfg: SourceConfig, one_key: bool = False) -> str:
    """CTEs shared by the diff and the reconciliation, over the rows in force at both versions.

    Only rows whose interval ends or starts between the two versions are compared (plus, with
    details, the catalog rows of keys whose details did): a key's rows are otherwise the same at
    both. Parameters: $old_ord, $new_ord (release orders), $old_eff, $new_eff (dates), and with
    `one_key` $key (only that key's rows are read).
    """
    catalog, key = quote(f"{cfg.name}_catalog"), key_sql(cfg.key)
    only = f" AND {key} = $key" if one_key else ""
    raw = ", ".join(quote(k) for k in cfg.key)
    tracked = ", ".join(quote(c) for c in cfg.tracked)
    old_filter, new_filter = f"{TO} <= $new_ord", f"{FROM} > $old_ord"
    detail, detail_touched = "", ""
    if cfg.detail:
        details = quote(f"{cfg.name}_details")
        boundary = (
            f"({FROM} > $old_ord AND {FROM} <= $new_ord) OR ({TO} > $old_ord AND {TO} <= $new_ord)"
        )
        detail_touched = f"detail_keys AS (SELECT DISTINCT {raw} FROM {details} WHERE {boundary}),"
        touched = f"({raw}) IN (SELECT ({raw}) FROM detail_keys)"
        old_filter, new_filter = f"({old_filter} OR {touched})", f"({new_filter} OR {touched})"
        detail = (
            f"UNION ALL SELECT {key} AS _key, '{cfg.detail.name}:' || {quote(cfg.detail.id)}, "
            f"{quote(cfg.detail.value)} FROM {details} WHERE {in_force('$v')} "
            f"AND ({raw}) IN (SELECT ({raw}) FROM $side)"
        )
    successors = (
        f"nullif(concat_ws(' ', {', '.join(quote(c) for c in cfg.successors)}), '')"
        if cfg.successors
        else "NULL::VARCHAR"
    )
    action = quote(cfg.source_action) if cfg.source_action not in (None, "history") else "NULL"
    full = (
        f"SELECT {raw}, {key} AS _key, {active_sql(cfg)} AS _active, "
        f"{_date_expr(cfg.add_date)} AS _add_date, {first_invalid_sql(cfg)} AS _first_invalid, "
        f"{successors} AS _successors, {action} AS _action{', ' + tracked if tracked else ''} "
        f"FROM {catalog} WHERE {in_force('$v')} AND $filter{only}"
    )
    values = (  # a key-only source (a list of codes) tracks no field
        f"SELECT _key, field, value FROM (SELECT _key, {tracked} FROM $side) "
        f"UNPIVOT INCLUDE NULLS (value FOR field IN ({tracked})) {detail}"
        if tracked
        else "SELECT NULL::VARCHAR AS _key, NULL::VARCHAR AS field, NULL::VARCHAR AS value "
        f"WHERE false {detail}"
    )
    if cfg.source_action == "history":
        # CPT: the release's cumulative history; actions dated within this step count.
        history, code = quote(f"{cfg.name}_history"), quote(cfg.key[0])
        only = f" AND {code} = $key" if one_key else ""
        old_deleted = (
            f"SELECT DISTINCT {code} AS _key FROM {history} "
            f"WHERE {in_force('$old_ord')} AND action = 'DELETED'{only}"
        )
        source_actions = f"""
        SELECT {code} AS _key, arg_max(action, (d, action)) AS action,
               max(d) FILTER (WHERE action = 'ADDED') AS added_on
        FROM (SELECT {code}, action, try_strptime(action_date, '%Y%m%d')::DATE AS d
              FROM {history} WHERE {in_force("$new_ord")}{only})
        WHERE d > $old_eff AND d <= $new_eff
        GROUP BY {code}"""
    else:
        # The record's own action code (HCPCS ACTION CD) in the new release, if it has one.
        old_deleted = "SELECT NULL::VARCHAR AS _key WHERE false"
        source_actions = (
            "SELECT _key, _action AS action, NULL::DATE AS added_on FROM new_full"
            if cfg.source_action
            else "SELECT NULL::VARCHAR AS _key, NULL::VARCHAR AS action, NULL::DATE AS added_on "
            "WHERE false"
        )
    same = " AND ".join(f"c.{quote(k)} IS NOT DISTINCT FROM n.{quote(k)}" for k in cfg.key)
    return f"""
    {detail_touched}
    old_full AS ({full.replace("$v", "$old_ord").replace("$filter", old_filter)}),
    new_full AS ({full.replace("$v", "$new_ord").replace("$filter", new_filter)}),
    old_rows AS (SELECT _key, _active, _add_date, _first_invalid, _successors FROM old_full),
    new_rows AS (SELECT _key, _active, _add_date, _first_invalid, _successors FROM new_full),
    new_only AS (SELECT n.* FROM new_full n ANTI JOIN old_full o USING (_key)),
    earlier_keys AS (
        SELECT DISTINCT n._key FROM new_only n
        WHERE EXISTS (SELECT 1 FROM {catalog} c WHERE c.{FROM} < $old_ord AND {same})
    ),
    old_deleted AS ({old_deleted}),
    source_actions AS ({source_actions}),
    row_events AS (
        SELECT n._key, CASE
                 WHEN o._key IS NOT NULL AND NOT o._active THEN 'reactivated'
                 WHEN o._key IS NULL AND (n._key IN (SELECT _key FROM old_deleted)
                                          OR n._key IN (SELECT _key FROM earlier_keys))
                   THEN 'reactivated'
                 ELSE 'added' END AS change_type
        FROM new_rows n LEFT JOIN old_rows o USING (_key)
        WHERE n._active AND (o._key IS NULL OR NOT o._active)
        UNION ALL
        -- A key that is new and already terminated is both added and retired.
        SELECT n._key, unnest(['added', 'retired'])
        FROM new_rows n LEFT JOIN old_rows o USING (_key)
        WHERE NOT n._active AND o._key IS NULL
        UNION ALL
        SELECT o._key, 'retired' FROM old_rows o LEFT JOIN new_rows n USING (_key)
        WHERE o._active AND (n._key IS NULL OR NOT n._active)
    ),
    old_values AS ({values.replace("$v", "$old_ord").replace("$side", "old_full")}),
    new_values AS ({values.replace("$v", "$new_ord").replace("$side", "new_full")}),
    field_events AS (
        SELECT coalesce(o._key, n._key) AS _key, coalesce(o.field, n.field) AS field,
               o.value AS old_value, n.value AS new_value
        FROM old_values o FULL OUTER JOIN new_values n ON o._key = n._key AND o.field = n.field
        WHERE o.value IS DISTINCT FROM n.value
          AND coalesce(o._key, n._key) IN (SELECT _key FROM old_rows JOIN new_rows USING (_key))
    )"""


def _execute(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]
) -> duckdb.DuckDBPyConnection:
    """Run `sql` with the named parameters it uses (DuckDB refuses unused ones)."""
    return con.execute(sql, {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)})


def _date_expr(column: str | None) -> str:
    """SQL for a `YYYYMMDD` text column as a DATE (NULL when blank or not declared)."""
    return f"try_strptime(nullif({column}, ''), '%Y%m%d')::DATE" if column else "NULL::DATE"


def _params(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, old: str, new: str
) -> dict[str, Any]:
    old_release = find_release(con, cfg.name, old)
    new_release = find_release(con, cfg.name, new)
    if not old_release.order < new_release.order:
        raise VersionError(f"FROM ({old}) must be earlier than TO ({new})")
    return {
        "old": old,
        "new": new,
        "old_ord": old_release.release_order,
        "new_ord": new_release.release_order,
        "old_eff": old_release.effective_date,
        "new_eff": new_release.effective_date,
    }


def changes_sql(cfg: SourceConfig) -> str:
    """SQL for every change from $old to $new, sorted by key, change_type, field."""
    return f"{changes_body_sql(cfg)} ORDER BY e._key, e.change_type, e.field NULLS FIRST"


def changes_body_sql(cfg: SourceConfig, one_key: bool = False) -> str:
    """SQL for the changes from $old to $new (of key $key only with `one_key`), unsorted.

    A descriptor change is editorial or revised by the stored forms of its two texts
    (`descriptor_forms`, filled at load): plain SQL, so the reader file's macros use it too.
    """
    descriptor_fields = ", ".join(literal(d) for d in cfg.descriptors) or "NULL"
    detail_like = f"OR field LIKE '{cfg.detail.name}:%'" if cfg.detail else ""
    editorial = editorial_sql("fo.words", "fo.marks", "fn.words", "fn.marks")
    missing = (
        "error('no stored descriptor form for ' || "
        "CASE WHEN fo.text IS NULL THEN old_value ELSE new_value END)"
    )
    return f"""
    WITH {_window_sql(cfg, one_key)},
    events AS (
        -- A retired key carries its declared successors (HCPCS XREF1..5) as new_value.
        SELECT _key, change_type, NULL AS field, NULL AS old_value,
               CASE change_type WHEN 'retired' THEN coalesce(n._successors, o._successors)
               END AS new_value
        FROM row_events LEFT JOIN new_rows n USING (_key) LEFT JOIN old_rows o USING (_key)
        UNION ALL
        SELECT _key,
               CASE WHEN field IN ({descriptor_fields}) {detail_like}
                    THEN CASE WHEN old_value IS NULL OR new_value IS NULL
                                THEN 'descriptor_revised'
                              WHEN fo.text IS NULL OR fn.text IS NULL THEN {missing}
                              WHEN {editorial} THEN 'descriptor_editorial'
                              ELSE 'descriptor_revised' END
                    ELSE 'attribute_changed' END,
               field, old_value, new_value
        FROM field_events
        LEFT JOIN descriptor_forms fo ON fo.text = old_value
        LEFT JOIN descriptor_forms fn ON fn.text = new_value
    )
    SELECT '{cfg.name}' AS codeset, $old AS from_version, $new AS to_version, e._key AS key,
           e.change_type, e.field, e.old_value, e.new_value,
           CASE e.change_type
             WHEN 'added' THEN coalesce(n._add_date, s.added_on, $new_eff)
             WHEN 'reactivated' THEN coalesce(s.added_on, $new_eff)
             WHEN 'retired' THEN coalesce(n._first_invalid, $new_eff)
             ELSE $new_eff END AS effective_date,
           s.action AS source_action
    FROM events e LEFT JOIN source_actions s USING (_key) LEFT JOIN new_rows n USING (_key)
    """


def store_changes(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, old: str, new: str, table: str
) -> int:
    """Write the changes from `old` to `new` into the temporary table `table`; return the count."""
    sql = f"CREATE OR REPLACE TEMP TABLE {quote(table)} AS {changes_sql(cfg)}"
    _execute(con, sql, _params(con, cfg, old, new))
    count = first(con.execute(f"SELECT count(*) FROM {quote(table)}"))
    return int(count[0]) if count else 0


def changes_between(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, old: str, new: str
) -> pd.DataFrame:
    """Every change from version `old` to version `new`, sorted by key, change_type, field."""
    changes = _execute(con, changes_sql(cfg), _params(con, cfg, old, new)).df()[CHANGE_COLUMNS]
    changes["effective_date"] = changes["effective_date"].dt.date
    return changes


def reconciliation(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, old: str, new: str, changes: pd.DataFrame
) -> pd.DataFrame:
    """Every disagreement between the computed changes (`changes`, old → new) and the release's
    own actions: its dated history (CPT) or each record's action code plus the transaction
    report (HCPCS).

    Only meaningful between consecutive versions: the source's actions cover one release step.
    A transaction report the release was read with but could not use gives one row (key '')
    saying the cross-check was skipped.
    """
    import pandas as pd

    from codecatalog.diff.reconcile import (
        RECONCILIATION_COLUMNS,
        cross_check_transactions,
        describe_computed,
        reconcile_actions,
    )

    if cfg.source_action == "history":
        return _history_reconciliation(con, cfg, old, new)
    if not cfg.source_action:
        raise ValueError(f"{cfg.name} states no actions of its own to reconcile with")
    params = _params(con, cfg, old, new)
    catalog, key = quote(f"{cfg.name}_catalog"), key_sql(cfg.key)
    actions = (
        con.execute(
            f"SELECT {key} AS key, coalesce({quote(cfg.source_action)}, '') AS action "
            f"FROM {catalog} WHERE {in_force('$new_ord')}",
            {"new_ord": params["new_ord"]},
        )
        .df()
        .set_index("key")
        .iloc[:, 0]
    )
    term = quote(cfg.term_date) if cfg.term_date else "NULL::VARCHAR"
    dropped = (
        con.execute(
            f"SELECT {key} AS key, {term} AS term_date FROM {catalog} "
            f"WHERE {in_force('$old_ord')} AND NOT ({active_sql(cfg)}) AND {key} NOT IN "
            f"(SELECT {key} FROM {catalog} WHERE {in_force('$new_ord')})",
            {"old_ord": params["old_ord"], "new_ord": params["new_ord"]},
        )
        .df()
        .set_index("key")
        .iloc[:, 0]
    )
    found = [reconcile_actions(changes, actions, cfg.actions or {}, dropped=dropped)]
    transactions = f"{cfg.name}_transactions"
    stated = (
        con.execute(
            f"SELECT {quote(cfg.key[0])} AS code, action, label FROM {quote(transactions)} "
            f"WHERE {in_force('$new_ord')}",
            {"new_ord": params["new_ord"]},
        ).df()
        if table_exists(con, transactions)
        else pd.DataFrame()
    )
    if len(stated):
        found.append(cross_check_transactions(actions, stated, describe_computed(changes)))
    else:
        # A report read with the release but not understood (its validation warning says why).
        unused = con.execute(
            "SELECT 'transaction report ' || (f ->> 'member') || ' not used: cross-check skipped' "
            "FROM (SELECT unnest(CAST(files AS JSON[])) AS f FROM releases "
            "WHERE codeset = ? AND version = ?) WHERE f ->> 'role' = 'transactions'",
            [cfg.name, new],
        ).fetchall()
        if unused:
            found.append(
                pd.DataFrame([("", "", "", p) for (p,) in unused], columns=RECONCILIATION_COLUMNS)
            )
    return pd.concat(found, ignore_index=True).sort_values(["key", "problem"], ignore_index=True)


def table_reconciliation_sql(cfg: SourceConfig) -> str:
    """SQL for what a `table` source's step old → new shows beyond its computed changes, as
    reconciliation rows (key, computed, source_action, problem), sorted by key and problem:

    - `vanished without a deletion date`: an active key absent from the new release although the
      source declares how rows retire (it is retired on the release's effective date);
    - `retroactive deletion: first invalid on D, before the release's effective date E`;
    - with a declared change marker (`source_action`): `marked changed, no change computed` and
      `changed, not marked` (the marker is the source's own claim, never the diff).
    """
    catalog = quote(f"{cfg.name}_catalog")
    parts = []
    if cfg.retire is not None:
        parts.append(
            "SELECT o._key, 'vanished without a deletion date' AS problem FROM old_rows o "
            "WHERE o._active AND o._key NOT IN (SELECT _key FROM new_rows)"
        )
    parts.append(
        "SELECT n._key, 'retroactive deletion: first invalid on ' || strftime(n._first_invalid, "
        "'%Y-%m-%d') || ', before the release''s effective date ' || strftime($new_eff, "
        "'%Y-%m-%d') FROM new_rows n JOIN row_events e USING (_key) "
        "WHERE e.change_type = 'retired' AND n._first_invalid < $new_eff"
    )
    marked = "SELECT NULL::VARCHAR AS _key, NULL::VARCHAR AS action WHERE false"
    if cfg.source_action:
        marker = quote(cfg.source_action)
        marked = (
            f"SELECT {key_sql(cfg.key)} AS _key, {marker} AS action FROM {catalog} "
            f"WHERE {in_force('$new_ord')} AND {marker} IS NOT NULL"
        )
        parts.append(
            "SELECT _key, 'marked changed, no change computed' FROM marked "
            "WHERE _key NOT IN (SELECT _key FROM computed)"
        )
        parts.append(
            "SELECT _key, 'changed, not marked' FROM computed "
            "WHERE _key NOT IN (SELECT _key FROM marked) AND _key IN (SELECT _key FROM new_rows)"
        )
    union = " UNION ALL ".join(f"SELECT * FROM ({part})" for part in parts)
    return f"""
    WITH {_window_sql(cfg)},
    labels AS (SELECT _key, change_type AS label FROM row_events
               UNION ALL SELECT _key, field FROM field_events),
    computed AS (SELECT _key, string_agg(DISTINCT label, ', ' ORDER BY label) AS computed
                 FROM labels GROUP BY _key),
    marked AS ({marked}),
    problems (_key, problem) AS ({union})
    SELECT p._key AS key, coalesce(c.computed, '') AS computed,
           coalesce(m.action, '') AS source_action, p.problem
    FROM problems p LEFT JOIN computed c USING (_key) LEFT JOIN marked m USING (_key)
    ORDER BY key, problem
    """


def store_table_reconciliation(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, old: str, new: str
) -> dict[str, int]:
    """Replace the stored reconciliation of a `table` source's step old → new (computed by
    `table_reconciliation_sql`, in SQL: a step may vanish many keys); return its row count per
    kind of problem (the text before any `:`)."""
    con.execute(
        "DELETE FROM reconciliations WHERE codeset = ? AND from_version = ? AND to_version = ?",
        [cfg.name, old, new],
    )
    sql = (
        f"INSERT INTO reconciliations SELECT {literal(cfg.name)}, {literal(old)}, "
        f"{literal(new)}, key, computed, source_action, problem FROM "
        f"({table_reconciliation_sql(cfg)})"
    )
    _execute(con, sql, _params(con, cfg, old, new))
    rows = con.execute(
        "SELECT split_part(problem, ':', 1) AS kind, count(*) FROM reconciliations "
        "WHERE codeset = ? AND from_version = ? AND to_version = ? GROUP BY kind ORDER BY kind",
        [cfg.name, old, new],
    ).fetchall()
    return {kind: int(n) for kind, n in rows}


def _history_reconciliation(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, old: str, new: str
) -> pd.DataFrame:
    """CPT: computed whole-row events against the history's ADDED/DELETED dated in the step."""
    sql = f"""
    WITH {_window_sql(cfg)},
    computed AS (SELECT _key, string_agg(change_type, '+' ORDER BY change_type) AS computed
                 FROM row_events GROUP BY _key)
    SELECT coalesce(c._key, s._key) AS key, coalesce(c.computed, '') AS computed,
           coalesce(s.action, '') AS source_action,
           CASE
             WHEN s._key IS NULL THEN c.computed || ' without a dated source action'
             WHEN c._key IS NULL THEN s.action || ' in the source history, but no '
                  || CASE s.action WHEN 'DELETED' THEN 'retirement' ELSE 'addition' END
                  || ' computed'
             WHEN s.action = 'ADDED' AND c.computed NOT IN ('added', 'reactivated')
               THEN 'source says ADDED, computed ' || c.computed
             WHEN s.action = 'DELETED' AND c.computed <> 'retired'
               THEN 'source says DELETED, computed ' || c.computed
           END AS problem
    FROM computed c FULL OUTER JOIN source_actions s USING (_key)
    WHERE problem IS NOT NULL
    ORDER BY key
    """
    from codecatalog.diff.reconcile import RECONCILIATION_COLUMNS

    return _execute(con, sql, _params(con, cfg, old, new)).df()[RECONCILIATION_COLUMNS]


def predecessor(con: duckdb.DuckDBPyConnection, codeset: str, version: str) -> LoadedRelease | None:
    """The loaded version right before `version` in effective-date order, if any."""
    releases = loaded_releases(con, codeset)
    labels = [r.version for r in releases]
    index = labels.index(version)
    return releases[index - 1] if index else None

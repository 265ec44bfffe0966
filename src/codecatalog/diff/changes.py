"""Changes between two loaded versions: set-based DuckDB SQL in the vocabulary of DESIGN.md §3."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import duckdb
import pandas as pd

from codecatalog.diff.normalise import is_editorial
from codecatalog.diff.reconcile import (
    RECONCILIATION_COLUMNS,
    cross_check_transactions,
    describe_computed,
    reconcile_actions,
)
from codecatalog.errors import VersionError
from codecatalog.sources import SourceConfig
from codecatalog.warehouse import LoadedRelease, find_release, loaded_releases, table_exists

CHANGE_COLUMNS = [
    "codeset", "from_version", "to_version", "key", "change_type", "field",
    "old_value", "new_value", "effective_date", "source_action",
]  # fmt: skip


def _window_sql(cfg: SourceConfig) -> str:
    """CTEs shared by the diff and the reconciliation.

    Parameters: $old, $new (version labels), $old_eff, $new_eff (effective dates).
    """
    cs = cfg.name
    tracked = ", ".join(cfg.tracked)
    detail = (
        f"UNION ALL SELECT code AS key, '{cfg.detail.name}:' || {cfg.detail.id} AS field, "
        f"{cfg.detail.value} AS value FROM {cs}_details WHERE version = $v"
        if cfg.detail
        else ""
    )
    values = (
        f"SELECT key, field, value FROM (SELECT {cfg.key} AS key, {tracked} FROM {cs}_catalog "
        f"WHERE version = $v) UNPIVOT INCLUDE NULLS (value FOR field IN ({tracked})) {detail}"
    )
    add_date = _date_expr(cfg.add_date)
    term_date = _date_expr(cfg.term_date)
    successors = (
        f"nullif(concat_ws(' ', {', '.join(cfg.successors)}), '')"
        if cfg.successors
        else "NULL::VARCHAR"
    )
    rows = (
        f"SELECT {cfg.key} AS key, status, {add_date} AS add_date, {term_date} AS term_date, "
        f"{successors} AS successors "
        f"FROM {cs}_catalog WHERE version = $v"
    )
    if cfg.source_action == "history":
        # CPT: the release's cumulative history; actions dated within this step count.
        old_deleted = (
            f"SELECT DISTINCT code AS key FROM {cs}_history "
            "WHERE version = $old AND action = 'DELETED'"
        )
        source_actions = f"""
        SELECT code AS key, arg_max(action, (d, action)) AS action,
               max(d) FILTER (WHERE action = 'ADDED') AS added_on
        FROM (SELECT code, action, try_strptime(action_date, '%Y%m%d')::DATE AS d
              FROM {cs}_history WHERE version = $new)
        WHERE d > $old_eff AND d <= $new_eff
        GROUP BY code"""
    else:
        # The record's own action code (HCPCS ACTION CD) in the new release.
        old_deleted = "SELECT NULL::VARCHAR AS key WHERE false"
        source_actions = (
            f"SELECT {cfg.key} AS key, {cfg.source_action} AS action, NULL::DATE AS added_on "
            f"FROM {cs}_catalog WHERE version = $new"
        )
    return f"""
    old_rows AS ({rows.replace("$v", "$old")}),
    new_rows AS ({rows.replace("$v", "$new")}),
    earlier_keys AS (
        SELECT DISTINCT c.{cfg.key} AS key FROM {cs}_catalog c JOIN releases r
          ON r.codeset = '{cs}' AND r.version = c.version
        WHERE (r.effective_date, r.correction) < (SELECT (effective_date, correction)
               FROM releases WHERE codeset = '{cs}' AND version = $old)
    ),
    old_deleted AS ({old_deleted}),
    source_actions AS ({source_actions}),
    row_events AS (
        SELECT n.key, CASE
                 WHEN o.key IS NOT NULL AND o.status <> 'active' THEN 'reactivated'
                 WHEN o.key IS NULL AND (n.key IN (SELECT key FROM old_deleted)
                                         OR n.key IN (SELECT key FROM earlier_keys))
                   THEN 'reactivated'
                 ELSE 'added' END AS change_type
        FROM new_rows n LEFT JOIN old_rows o USING (key)
        WHERE n.status = 'active' AND (o.key IS NULL OR o.status <> 'active')
        UNION ALL
        -- A key that is new and already terminated is both added and retired.
        SELECT n.key, unnest(['added', 'retired'])
        FROM new_rows n LEFT JOIN old_rows o USING (key)
        WHERE n.status <> 'active' AND o.key IS NULL
        UNION ALL
        SELECT o.key, 'retired' FROM old_rows o LEFT JOIN new_rows n USING (key)
        WHERE o.status = 'active' AND (n.key IS NULL OR n.status <> 'active')
    ),
    old_values AS ({values.replace("$v", "$old")}),
    new_values AS ({values.replace("$v", "$new")}),
    field_events AS (
        SELECT coalesce(o.key, n.key) AS key, coalesce(o.field, n.field) AS field,
               o.value AS old_value, n.value AS new_value
        FROM old_values o FULL OUTER JOIN new_values n ON o.key = n.key AND o.field = n.field
        WHERE o.value IS DISTINCT FROM n.value
          AND coalesce(o.key, n.key) IN (SELECT key FROM old_rows JOIN new_rows USING (key))
    )"""


def register_editorial(con: duckdb.DuckDBPyConnection) -> None:
    """Make `is_editorial(old, new)` callable from this connection's SQL (once per connection)."""
    with suppress(duckdb.NotImplementedException):  # already registered on this connection
        con.create_function("is_editorial", is_editorial, ["VARCHAR", "VARCHAR"], "BOOLEAN")


def _execute(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]
) -> duckdb.DuckDBPyConnection:
    """Run `sql` with the named parameters it uses (DuckDB refuses unused ones)."""
    return con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})


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
        "old_eff": old_release.effective_date,
        "new_eff": new_release.effective_date,
    }


def changes_between(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, old: str, new: str
) -> pd.DataFrame:
    """Every change from version `old` to version `new`, sorted by key, change_type, field."""
    descriptor_fields = ", ".join(f"'{d}'" for d in cfg.descriptors)
    detail_like = f"OR field LIKE '{cfg.detail.name}:%'" if cfg.detail else ""
    sql = f"""
    WITH {_window_sql(cfg)},
    events AS (
        -- A retired key carries its declared successors (HCPCS XREF1..5) as new_value.
        SELECT key, change_type, NULL AS field, NULL AS old_value,
               CASE change_type WHEN 'retired' THEN coalesce(n.successors, o.successors)
               END AS new_value
        FROM row_events LEFT JOIN new_rows n USING (key) LEFT JOIN old_rows o USING (key)
        UNION ALL
        SELECT key,
               CASE WHEN field IN ({descriptor_fields}) {detail_like}
                    THEN CASE WHEN is_editorial(old_value, new_value)
                              THEN 'descriptor_editorial' ELSE 'descriptor_revised' END
                    ELSE 'attribute_changed' END,
               field, old_value, new_value
        FROM field_events
    )
    SELECT '{cfg.name}' AS codeset, $old AS from_version, $new AS to_version, e.key,
           e.change_type, e.field, e.old_value, e.new_value,
           CASE e.change_type
             WHEN 'added' THEN coalesce(n.add_date, s.added_on, $new_eff)
             WHEN 'reactivated' THEN coalesce(s.added_on, $new_eff)
             WHEN 'retired' THEN coalesce(n.term_date + 1, $new_eff)
             ELSE $new_eff END AS effective_date,
           s.action AS source_action
    FROM events e LEFT JOIN source_actions s USING (key) LEFT JOIN new_rows n USING (key)
    ORDER BY e.key, e.change_type, e.field NULLS FIRST
    """
    register_editorial(con)
    changes = _execute(con, sql, _params(con, cfg, old, new)).df()[CHANGE_COLUMNS]
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
    if cfg.source_action == "history":
        return _history_reconciliation(con, cfg, old, new)
    cs, key = cfg.name, cfg.key
    actions = (
        con.execute(
            f"SELECT {key}, coalesce({cfg.source_action}, '') FROM {cs}_catalog WHERE version = ?",
            [new],
        )
        .df()
        .set_index(key)
        .iloc[:, 0]
    )
    dropped = (
        con.execute(
            f"SELECT o.{key}, o.{cfg.term_date} FROM {cs}_catalog o WHERE o.version = $old "
            f"AND o.status <> 'active' AND o.{key} NOT IN "
            f"(SELECT {key} FROM {cs}_catalog WHERE version = $new)",
            {"old": old, "new": new},
        )
        .df()
        .set_index(key)
        .iloc[:, 0]
    )
    found = [reconcile_actions(changes, actions, cfg.actions or {}, dropped=dropped)]
    stated = (
        con.execute(
            f"SELECT code, action, label FROM {cs}_transactions WHERE version = ?", [new]
        ).df()
        if table_exists(con, f"{cs}_transactions")
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
            [cs, new],
        ).fetchall()
        if unused:
            found.append(
                pd.DataFrame([("", "", "", p) for (p,) in unused], columns=RECONCILIATION_COLUMNS)
            )
    return pd.concat(found, ignore_index=True).sort_values(["key", "problem"], ignore_index=True)


def _history_reconciliation(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, old: str, new: str
) -> pd.DataFrame:
    """CPT: computed whole-row events against the history's ADDED/DELETED dated in the step."""
    sql = f"""
    WITH {_window_sql(cfg)},
    computed AS (SELECT key, string_agg(change_type, '+' ORDER BY change_type) AS computed
                 FROM row_events GROUP BY key)
    SELECT coalesce(c.key, s.key) AS key, coalesce(c.computed, '') AS computed,
           coalesce(s.action, '') AS source_action,
           CASE
             WHEN s.key IS NULL THEN c.computed || ' without a dated source action'
             WHEN c.key IS NULL THEN s.action || ' in the source history, but no '
                  || CASE s.action WHEN 'DELETED' THEN 'retirement' ELSE 'addition' END
                  || ' computed'
             WHEN s.action = 'ADDED' AND c.computed NOT IN ('added', 'reactivated')
               THEN 'source says ADDED, computed ' || c.computed
             WHEN s.action = 'DELETED' AND c.computed <> 'retired'
               THEN 'source says DELETED, computed ' || c.computed
           END AS problem
    FROM computed c FULL OUTER JOIN source_actions s USING (key)
    WHERE problem IS NOT NULL
    ORDER BY key
    """
    return _execute(con, sql, _params(con, cfg, old, new)).df()[RECONCILIATION_COLUMNS]


def predecessor(con: duckdb.DuckDBPyConnection, codeset: str, version: str) -> LoadedRelease | None:
    """The loaded version right before `version` in effective-date order, if any."""
    releases = loaded_releases(con, codeset)
    labels = [r.version for r in releases]
    index = labels.index(version)
    return releases[index - 1] if index else None

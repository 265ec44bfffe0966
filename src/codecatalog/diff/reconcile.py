"""Reconcile computed changes with a release's own per-record action codes (HCPCS `ACTION CD`).

Pure functions over frames: the computed change rows of one release step, the action code of every
key in the new release, and the fields each action code announces (declared in sources.toml). The
comparisons are set operations (one DuckDB query each, on a private in-memory connection).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

RECONCILIATION_COLUMNS = ["key", "computed", "source_action", "problem"]

# Per key: its computed changes in short (`added`, `long_descriptor`, …), sorted, comma-separated.
_COMPUTED_SQL = """
SELECT key, string_agg(label, ', ' ORDER BY label) AS computed
FROM (SELECT DISTINCT key, coalesce(field, change_type) AS label FROM changes_in)
GROUP BY key
"""

# Whole-row events and the action code that announces each: A added, D retired (a key new and
# already terminated is added and retired), R reactivated. N announces nothing; every other code
# announces the fields `announced` lists for it.
_ACTIONS_SQL = f"""
WITH actions AS (SELECT key, action FROM actions_in),
changes AS (SELECT DISTINCT key, change_type, field FROM changes_in),
events AS (
    SELECT key, bool_or(change_type = 'added') AS added,
           bool_or(change_type = 'reactivated') AS reactivated,
           bool_or(change_type = 'retired') AS retired
    FROM changes WHERE field IS NULL GROUP BY key
),
fields AS (
    SELECT c.key, string_agg(c.field, ', ' ORDER BY c.field) AS fields,
           string_agg(c.field, ', ' ORDER BY c.field) FILTER (WHERE an.field IS NULL)
             AS unannounced,
           bool_or(an.field IS NOT NULL) AS any_announced
    FROM (SELECT DISTINCT key, field FROM changes WHERE field IS NOT NULL) c
    LEFT JOIN actions a USING (key)
    LEFT JOIN (SELECT DISTINCT action, field FROM announced_in) an
      ON an.action = a.action AND an.field = c.field
    GROUP BY c.key
),
computed AS ({_COMPUTED_SQL}),
keyed AS (
    SELECT k.key, coalesce(a.action, '') AS action,
           coalesce(e.added, false) AS added, coalesce(e.reactivated, false) AS reactivated,
           coalesce(e.retired, false) AS retired, f.fields, f.unannounced,
           coalesce(f.any_announced, false) AS any_announced
    FROM (SELECT key FROM actions UNION SELECT key FROM changes) k
    LEFT JOIN actions a USING (key) LEFT JOIN events e USING (key) LEFT JOIN fields f USING (key)
),
judged AS (
    SELECT *, concat_ws(', ',
               CASE WHEN added AND action NOT IN ('A', 'D') THEN 'added' END,
               CASE WHEN reactivated AND action <> 'R' THEN 'reactivated' END,
               CASE WHEN retired AND action <> 'D' THEN 'retired' END) AS unexpected
    FROM keyed
)
SELECT j.key, coalesce(c.computed, '') AS computed, j.action AS source_action,
       CASE
         WHEN action = '' THEN
           CASE WHEN retired THEN 'vanished from the file without a D' END
         WHEN unexpected <> '' THEN 'computed ' || unexpected || ' but ' || action
         WHEN action = 'A' AND NOT added THEN 'A but no added computed (key already existed)'
         WHEN action = 'D' AND NOT retired THEN 'D but no retired computed'
         WHEN action = 'R' AND NOT reactivated THEN 'R but no reactivated computed'
         WHEN action IN ('A', 'D', 'R') THEN NULL
         WHEN action = 'N' THEN
           CASE WHEN fields IS NOT NULL THEN 'N but changed: ' || fields END
         WHEN fields IS NULL THEN action || ' but no change computed'
         WHEN NOT any_announced THEN
           action || ' but none of its fields changed (changed: ' || fields || ')'
         WHEN unannounced IS NOT NULL THEN action || ' does not announce: ' || unannounced
       END AS problem
FROM judged j LEFT JOIN computed c USING (key)
WHERE problem IS NOT NULL
"""

_TRANSACTIONS_SQL = """
WITH listed AS (
    SELECT code AS key, count(*) AS times, min(action) AS first_action,
           string_agg(action || ' (' || coalesce(label, '') || ')', '; ' ORDER BY n) AS labels
    FROM stated_in GROUP BY code
)
SELECT coalesce(a.key, l.key) AS key, coalesce(c.computed, '') AS computed,
       coalesce(a.action, '') AS source_action,
       CASE
         WHEN l.key IS NULL THEN 'not in the transaction report'
         WHEN a.key IS NULL THEN 'transaction report lists ' || labels || ', not in the file'
         WHEN times > 1 THEN 'transaction report lists it ' || times || ' times: ' || labels
         WHEN first_action <> a.action THEN 'transaction report says ' || labels
       END AS problem
FROM actions_in a FULL OUTER JOIN listed l USING (key)
LEFT JOIN computed_in c ON c.key = coalesce(a.key, l.key)
WHERE problem IS NOT NULL
ORDER BY key
"""


def _text(values: object) -> pd.Series:
    return pd.Series(values, dtype="str")


def _actions_frame(actions: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {"key": _text(actions.index.astype("str")), "action": _text(actions.fillna("").to_numpy())}
    )


def _query(sql: str, **frames: pd.DataFrame) -> pd.DataFrame:
    """Run `sql` over `frames` (each registered under its keyword) on a private connection."""
    con = duckdb.connect()
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        return con.execute(sql).df()
    finally:
        con.close()


def _changes_frame(changes: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "key": _text(changes["key"].to_numpy()),
            "change_type": _text(changes["change_type"].to_numpy()),
            "field": _text(changes["field"].to_numpy()),
        }
    )


def describe_computed(changes: pd.DataFrame) -> pd.Series:
    """Per key, a short summary of its computed changes: `added`, `long_descriptor`, …"""
    found = _query(_COMPUTED_SQL, changes_in=_changes_frame(changes))
    return found.set_index("key")["computed"].sort_index()


def reconcile_actions(
    changes: pd.DataFrame,
    actions: pd.Series,
    announced: dict[str, tuple[str, ...]],
    *,
    dropped: pd.Series | None = None,
) -> pd.DataFrame:
    """Every disagreement between computed changes and the new release's action codes.

    Args:
        changes: change rows (key, change_type, field) of one step, old → new.
        actions: the new release's action code per key (index = key).
        announced: action code → fields whose change it announces (`C` → long_descriptor, …).
            `A`, `D`, `R` announce whole-row events; `N` announces nothing.
        dropped: keys that left the file while already retired (index = key, value = term date).
    """
    pairs = [(action, field) for action, fields in announced.items() for field in fields]
    found = _query(
        _ACTIONS_SQL,
        changes_in=_changes_frame(changes),
        actions_in=_actions_frame(actions),
        announced_in=pd.DataFrame(
            {"action": _text([a for a, _ in pairs]), "field": _text([f for _, f in pairs])}
        ),
    )
    dropped = dropped if dropped is not None else pd.Series(dtype="str")
    gone = pd.DataFrame(
        {
            "key": _text(dropped.index.astype("str")),
            "computed": "",
            "source_action": "",
            "problem": "dropped out of the file, retired since "
            + _text([str(d) for d in dropped.to_numpy()]),
        }
    )
    both = pd.concat([found[RECONCILIATION_COLUMNS], gone], ignore_index=True)
    return both.astype("str").sort_values("key", ignore_index=True, kind="stable")


def cross_check_transactions(
    actions: pd.Series, stated: pd.DataFrame, computed: pd.Series
) -> pd.DataFrame:
    """Where the transaction report (code, action, label) disagrees with the records' codes.

    Keys missing from either side, listed twice, or with another action are reported.
    """
    found = _query(
        _TRANSACTIONS_SQL,
        actions_in=_actions_frame(actions),
        stated_in=pd.DataFrame(
            {
                "code": _text(stated["code"].to_numpy()),
                "action": _text(stated["action"].to_numpy()),
                "label": _text(stated["label"].to_numpy()),
                "n": np.arange(len(stated)),
            }
        ),
        computed_in=pd.DataFrame(
            {"key": _text(computed.index.astype("str")), "computed": _text(computed.to_numpy())}
        ),
    )
    return found[RECONCILIATION_COLUMNS].astype("str").reset_index(drop=True)

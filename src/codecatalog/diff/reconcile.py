"""Reconcile computed changes with a release's own per-record action codes (HCPCS `ACTION CD`).

Pure functions over frames: the computed change rows of one release step, the action code of every
key in the new release, and the fields each action code announces (declared in sources.toml).
"""

from __future__ import annotations

import pandas as pd

RECONCILIATION_COLUMNS = ["key", "computed", "source_action", "problem"]

# Whole-row events and the action code that announces each.
_EVENT_ACTION = {"added": "A", "retired": "D", "reactivated": "R"}


def describe_computed(changes: pd.DataFrame) -> pd.Series:
    """Per key, a short summary of its computed changes: `added`, `long_descriptor`, …"""
    label = changes["field"].where(changes["field"].notna(), changes["change_type"])
    return label.groupby(changes["key"]).agg(lambda s: ", ".join(sorted(set(s))))


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
    rows = []
    events = changes[changes["field"].isna()].groupby("key")["change_type"].agg(set)
    fields = changes[changes["field"].notna()].groupby("key")["field"].agg(set)
    computed = describe_computed(changes)
    for key in sorted(set(actions.index) | set(computed.index)):
        action = actions.get(key, "")
        problem = _problem(action, events.get(key, set()), fields.get(key, set()), announced)
        if problem:
            rows.append((key, computed.get(key, ""), action, problem))
    for key, term_date in (dropped if dropped is not None else pd.Series()).items():
        rows.append((key, "", "", f"dropped out of the file, retired since {term_date}"))
    return pd.DataFrame(rows, columns=RECONCILIATION_COLUMNS).sort_values("key", ignore_index=True)


def _problem(
    action: str, events: set[str], fields: set[str], announced: dict[str, tuple[str, ...]]
) -> str | None:
    if not action:
        return "vanished from the file without a D" if "retired" in events else None
    expected_events = {e for e, a in _EVENT_ACTION.items() if a == action}
    if action == "D" and "added" in events:
        expected_events.add("added")  # new and already terminated: added and retired
    if events - expected_events:
        return f"computed {', '.join(sorted(events - expected_events))} but {action}"
    if expected_events - events:
        missing = ", ".join(sorted(expected_events - events))
        existed = " (key already existed)" if action == "A" else ""
        return f"{action} but no {missing} computed{existed}"
    if action in _EVENT_ACTION.values():
        return None
    if action == "N":
        return f"N but changed: {', '.join(sorted(fields))}" if fields else None
    expected = set(announced.get(action, ()))
    if not fields:
        return f"{action} but no change computed"
    if not fields & expected:
        return f"{action} but none of its fields changed (changed: {', '.join(sorted(fields))})"
    unannounced = fields - expected
    if unannounced:
        return f"{action} does not announce: {', '.join(sorted(unannounced))}"
    return None


def cross_check_transactions(
    actions: pd.Series, stated: pd.DataFrame, computed: pd.Series
) -> pd.DataFrame:
    """Where the transaction report (code, action, label) disagrees with the records' codes.

    Keys missing from either side, listed twice, or with another action are reported.
    """
    rows = []
    listed = stated.groupby("code")
    for key in sorted(set(actions.index) | set(stated["code"])):
        record = actions.get(key, "")
        where = computed.get(key, "")
        if key not in listed.groups:
            rows.append((key, where, record, "not in the transaction report"))
            continue
        entries = listed.get_group(key)
        labels = "; ".join(
            f"{a} ({lbl})" for a, lbl in zip(entries.action, entries.label, strict=True)
        )
        if key not in actions.index:
            rows.append((key, where, "", f"transaction report lists {labels}, not in the file"))
        elif len(entries) > 1:
            rows.append(
                (key, where, record, f"transaction report lists it {len(entries)} times: {labels}")
            )
        elif entries.action.iloc[0] != record:
            rows.append((key, where, record, f"transaction report says {labels}"))
    return pd.DataFrame(rows, columns=RECONCILIATION_COLUMNS)

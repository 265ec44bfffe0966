"""The human change report (markdown) for one published version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    import pandas as pd


CHANGE_TYPES = [
    "added", "retired", "reactivated", "descriptor_revised", "descriptor_editorial",
    "attribute_changed",
]  # fmt: skip
_LISTED = ("added", "retired", "reactivated")


LISTED_KEYS = 2000  # keys listed per whole-row change type; the rest are counted


@dataclass(frozen=True)
class TableReconciliation:
    """A table source's reconciliation of one step: rows per kind of problem (the text before
    any `:`), and the first rows (key, computed, source action, problem) in key order."""

    counts: dict[str, int]
    listed: list[tuple[str, str, str, str]]


@dataclass(frozen=True)
class ChangeSummary:
    """What the report shows of a change table: counts, listed keys, field changes."""

    counts: dict[str, int]
    keys: dict[str, list[str]]  # change type -> keys (at most LISTED_KEYS)
    fields: list[tuple[str, str, int]]  # (field, change type, rows)


def change_counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    """Rows per change type in change table `table`, every type present (zero when none)."""
    found = dict(con.execute(f"SELECT change_type, count(*) FROM {table} GROUP BY ALL").fetchall())
    return {kind: int(found.get(kind, 0)) for kind in CHANGE_TYPES}


def summarise_changes(con: duckdb.DuckDBPyConnection, table: str) -> ChangeSummary:
    """Counts, the first LISTED_KEYS keys of each whole-row change type, and field changes by
    field (a detail field `name:id` counted under `name`)."""
    keys: dict[str, list[str]] = {}
    for kind in _LISTED:
        rows = con.execute(
            f"SELECT key FROM {table} WHERE change_type = ? ORDER BY key LIMIT {LISTED_KEYS}",
            [kind],
        ).fetchall()
        keys[kind] = [r[0] for r in rows]
    fields = con.execute(
        f"SELECT split_part(field, ':', 1) AS f, change_type, count(*) FROM {table} "
        "WHERE field IS NOT NULL GROUP BY ALL ORDER BY f, change_type"
    ).fetchall()
    return ChangeSummary(change_counts(con, table), keys, [(f, t, int(n)) for f, t, n in fields])


def render_report(
    *,
    title: str,
    codeset: str,
    version: str,
    effective_date: date,
    previous: str | None,
    row_count: int,
    summary: ChangeSummary,
    reconciliation: pd.DataFrame | None,
    warnings: list[str],
    notes: Sequence[str] = (),
    has_actions: bool = True,
    findings: Sequence[str] = (),
    table_reconciliation: TableReconciliation | None = None,
) -> str:
    """Markdown: notes for the operator, summary counts, whole-row events by key, field changes
    by field, reconciliation, findings (`findings_summary` lines), validation warnings.

    A table source's reconciliation comes as `table_reconciliation` (no pandas)."""
    lines = [f"# {title} {version} — change report", ""]
    lines += [
        f"- Code set: `{codeset}`",
        f"- Version: `{version}` (effective {effective_date})",
        f"- Keys in this version: {row_count:,}",
    ]
    if previous is None:
        lines += ["- Previous version: none (first loaded version; no changes to report)", ""]
        return (
            "\n".join(lines + _notes_section(notes) + [*findings] + _warnings_section(warnings))
            + "\n"
        )
    lines += [f"- Compared with: `{previous}`", "", *_notes_section(notes)]
    lines += [
        "## Summary",
        "",
        "| change type | rows |",
        "|---|---:|",
    ]
    lines += [f"| {kind} | {n:,} |" for kind, n in summary.counts.items()]
    for kind in _LISTED:
        keys, total = summary.keys[kind], summary.counts[kind]
        if keys:
            more = f", … and {total - len(keys):,} more" if total > len(keys) else ""
            lines += ["", f"## {kind.capitalize()} ({total:,})", "", ", ".join(keys) + more]
    if summary.fields:
        lines += ["", "## Field changes", "", "| field | change type | rows |", "|---|---|---:|"]
        lines += [f"| {f} | {t} | {n:,} |" for f, t, n in summary.fields]
    lines += ["", "## Reconciliation with the release's own actions", ""]
    if table_reconciliation is not None:
        lines += _table_reconciliation(table_reconciliation)
    elif reconciliation is None and not has_actions:
        lines.append("Not applicable: the source states no actions of its own.")
    elif reconciliation is None:
        lines.append(
            f"Not applicable: `{previous}` is not the release right before `{version}`, and the "
            "release's own actions describe only that step."
        )
    elif reconciliation.empty:
        lines.append("The computed changes and the release's own actions agree, key by key.")
    else:
        lines += ["| key | computed | source action | problem |", "|---|---|---|---|"]
        lines += [
            f"| {_cell(r.key)} | {_cell(r.computed)} | {_cell(r.source_action)} "
            f"| {_cell(r.problem)} |"
            for r in reconciliation.itertuples()
        ]
    return "\n".join([*lines, "", *findings, *_warnings_section(warnings)]) + "\n"


def _table_reconciliation(found: TableReconciliation) -> list[str]:
    """A table source's reconciliation: counts per kind of problem, then the first rows."""
    total = sum(found.counts.values())
    if not total:
        return [
            "Nothing to reconcile: no key vanished without a deletion date, no deletion is "
            "retroactive, and the source's change marker (if any) agrees with the changes."
        ]
    lines = ["| problem | keys |", "|---|---:|"]
    lines += [f"| {kind} | {n:,} |" for kind, n in found.counts.items()]
    lines += ["", "| key | computed | source action | problem |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in found.listed]
    if total > len(found.listed):
        more = total - len(found.listed)
        lines += ["", f"… and {more:,} more (warehouse table `reconciliations`)"]
    return lines


def _cell(value: object) -> str:
    """A markdown table cell's text: pipes escaped (composite keys), None empty."""
    return "" if value is None else str(value).replace("|", "\\|")


def _notes_section(notes: Sequence[str]) -> list[str]:
    return ["## Notes", "", *[f"- {n}" for n in notes], ""] if notes else []


def _warnings_section(warnings: list[str]) -> list[str]:
    if not warnings:
        return []
    return ["## Validation warnings", "", *[f"- {w}" for w in warnings], ""]

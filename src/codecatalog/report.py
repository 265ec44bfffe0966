"""The human change report (markdown) for one published version."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

CHANGE_TYPES = [
    "added", "retired", "reactivated", "descriptor_revised", "descriptor_editorial",
    "attribute_changed",
]  # fmt: skip
_LISTED = ("added", "retired", "reactivated")


def change_counts(changes: pd.DataFrame) -> dict[str, int]:
    """Rows per change type, every type present (zero when none)."""
    counts = changes["change_type"].value_counts()
    return {kind: int(counts.get(kind, 0)) for kind in CHANGE_TYPES}


def render_report(
    *,
    title: str,
    codeset: str,
    version: str,
    effective_date: date,
    previous: str | None,
    row_count: int,
    changes: pd.DataFrame,
    reconciliation: pd.DataFrame | None,
    warnings: list[str],
    notes: Sequence[str] = (),
) -> str:
    """Markdown: notes for the operator, summary counts, whole-row events by key, field changes
    by field, reconciliation, validation warnings."""
    lines = [f"# {title} {version} — change report", ""]
    lines += [
        f"- Code set: `{codeset}`",
        f"- Version: `{version}` (effective {effective_date})",
        f"- Keys in this version: {row_count:,}",
    ]
    if previous is None:
        lines += ["- Previous version: none (first loaded version; no changes to report)", ""]
        return "\n".join(lines + _notes_section(notes) + _warnings_section(warnings)) + "\n"
    lines += [f"- Compared with: `{previous}`", "", *_notes_section(notes)]
    lines += [
        "## Summary",
        "",
        "| change type | rows |",
        "|---|---:|",
    ]
    lines += [f"| {kind} | {n:,} |" for kind, n in change_counts(changes).items()]
    for kind in _LISTED:
        keys = changes.loc[changes["change_type"] == kind, "key"].tolist()
        if keys:
            lines += ["", f"## {kind.capitalize()} ({len(keys):,})", "", ", ".join(keys)]
    fields = changes[changes["field"].notna()]
    if not fields.empty:
        by_field = fields.assign(field=fields["field"].str.split(":").str[0])
        table = by_field.groupby(["field", "change_type"]).size().reset_index(name="rows")
        lines += ["", "## Field changes", "", "| field | change type | rows |", "|---|---|---:|"]
        lines += [f"| {r.field} | {r.change_type} | {r.rows:,} |" for r in table.itertuples()]
    lines += ["", "## Reconciliation with the release's own actions", ""]
    if reconciliation is None:
        lines.append(
            f"Not applicable: `{previous}` is not the release right before `{version}`, and the "
            "release's own actions describe only that step."
        )
    elif reconciliation.empty:
        lines.append("The computed changes and the release's own actions agree, key by key.")
    else:
        lines += ["| key | computed | source action | problem |", "|---|---|---|---|"]
        lines += [
            f"| {r.key} | {r.computed} | {r.source_action} | {r.problem} |"
            for r in reconciliation.itertuples()
        ]
    return "\n".join([*lines, "", *_warnings_section(warnings)]) + "\n"


def _notes_section(notes: Sequence[str]) -> list[str]:
    return ["## Notes", "", *[f"- {n}" for n in notes], ""] if notes else []


def _warnings_section(warnings: list[str]) -> list[str]:
    if not warnings:
        return []
    return ["## Validation warnings", "", *[f"- {w}" for w in warnings], ""]

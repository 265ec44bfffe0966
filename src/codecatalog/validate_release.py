"""Validation of whole releases, per format family: every file's schema plus the checks that need
several files at once. Readers (`codecatalog.read`) only turn bytes into frames; this is where a
release is judged. Each validator returns (errors, warnings); errors refuse the release.
"""

from __future__ import annotations

import pandas as pd

from codecatalog.errors import Failure, sort_failures
from codecatalog.read.cpt import FILES as CPT_FILES
from codecatalog.read.release import Release
from codecatalog.validate import check_frame, failure_cases

HCPCS_SCHEMAS = {"records": "hcpcs_records.yaml", "transactions": "hcpcs_transactions.yaml"}
# A transaction report belongs to another release when more than this share of the release's
# keys, or any key the release marks `A`, is missing from it or carries another action.
FOREIGN_REPORT_SHARE = 0.01
_SHOWN_KEYS = 10


# --- CMS HCPCS Level II ---------------------------------------------------------------------------


def validate_hcpcs_release(release: Release) -> tuple[list[Failure], list[Failure]]:
    """The record and transaction-report schemas, and whether the report belongs to the records
    (`foreign_report_failures`); returns (errors, warnings), the reader's warnings included."""
    errors: list[Failure] = []
    warnings = list(release.warnings)
    for role, table in release.tables.items():
        if table.frame.empty:
            errors.append(Failure(table.file, None, "", "file has no data rows", ""))
            continue
        found_errors, found_warnings = check_frame(table.frame, HCPCS_SCHEMAS[role], table.file)
        errors += found_errors
        warnings += found_warnings
    tables = release.tables
    if "records" in tables and "transactions" in tables and not tables["records"].frame.empty:
        report = tables["transactions"]
        errors += foreign_report_failures(tables["records"].frame, report.frame, report.file)
    return sort_failures(errors), sort_failures(warnings)


def foreign_report_failures(
    records: pd.DataFrame, report: pd.DataFrame, file: str
) -> list[Failure]:
    """Failures when the transaction report (`hcpc`, `action`, `label`, `line`) belongs to
    another release than the records (`hcpc`, `action_cd`); [] when it belongs to them.

    A release key disagrees when the report does not list it or lists it with no entry of the
    key's ACTION CD. The report belongs to another release when more than FOREIGN_REPORT_SHARE of
    the keys disagree, or any key marked `A` does: then a one-line summary plus one failure per
    disagreeing key (its report row when listed). Fewer disagreements are the reconciliation's.
    """
    keys = records[["hcpc", "action_cd"]].drop_duplicates("hcpc")
    listed = report[["hcpc", "action", "label", "line"]]
    agreeing = keys.merge(listed, left_on=["hcpc", "action_cd"], right_on=["hcpc", "action"])
    disagree = keys[~keys["hcpc"].isin(agreeing["hcpc"])]
    added = disagree[disagree["action_cd"] == "A"]
    if len(disagree) <= FOREIGN_REPORT_SHARE * len(keys) and added.empty:
        return []
    shown = ", ".join(added["hcpc"].head(_SHOWN_KEYS))
    more = ", …" if len(added) > _SHOWN_KEYS else ""
    a_keys = f"{len(added):,} ({shown}{more})" if len(added) else "none"
    share = 100 * len(disagree) / len(keys)
    summary = Failure(
        file,
        None,
        "",
        f"transaction report does not belong to this release: {len(disagree):,} of {len(keys):,} "
        f"keys ({share:.1f} %) missing or with another action; A keys among them: {a_keys}",
        f"{len(disagree)}/{len(keys)}",
    )
    entries = disagree.merge(listed, on="hcpc", how="left")
    missing = entries[entries["line"].isna()]
    other = entries[entries["line"].notna()]
    return [
        summary,
        *(
            Failure(file, None, "hcpc", f"not in the transaction report (ACTION CD {a})", key)
            for key, a in zip(missing["hcpc"], missing["action_cd"], strict=True)
        ),
        *(
            Failure(file, int(line), "action", f"{key} has ACTION CD {a} in the records", label)
            for key, a, line, label in zip(
                other["hcpc"], other["action_cd"], other["line"], other["label"], strict=True
            )
        ),
    ]


# --- AMA CPT --------------------------------------------------------------------------------------


def validate_cpt_release(release: Release) -> tuple[list[Failure], list[Failure]]:
    """Every schema of every file plus the combined-release schema; returns (errors, warnings)."""
    errors: list[Failure] = []
    warnings = list(release.warnings)
    for role, table in release.tables.items():
        if table.frame.empty and role != "pla":
            errors.append(Failure(table.file, None, "", "file has no data rows", ""))
            continue
        file_errors, file_warnings = check_frame(table.frame, CPT_FILES[role][2], table.file)
        errors += file_errors
        warnings += file_warnings
    errors += _cross_file_failures(release)
    warnings += _pla_disagreements(release)
    return sort_failures(errors), sort_failures(warnings)


_LINE_ROLES = ("longult", "medu", "shortu", "consumer", "clinician", "pla")


def _cross_file_failures(release: Release) -> list[Failure]:
    """`cpt_release.yaml` on one row per code: in every descriptor file, one concept id."""
    tables = release.tables
    presence = pd.DataFrame(
        {
            f"{role}_line": tables[role].frame.drop_duplicates("code").set_index("code")["line"]
            for role in _LINE_ROLES
            if role in tables
        }
    )
    concept_rows = pd.concat(
        [tables[r].frame[["code", "concept_id"]] for r in ("consumer", "clinician", "history")]
    )
    concept_rows = concept_rows[concept_rows["concept_id"] != ""]
    presence["concept_ids"] = (
        concept_rows.groupby("code")["concept_id"].nunique().reindex(presence.index).fillna(0)
    ).astype("int64")
    presence = presence.rename_axis("code").reset_index()
    failures = []
    for case in failure_cases(presence, "cpt_release.yaml").itertuples(index=False):
        row = presence.loc[case.index]
        if case.column == "concept_ids":
            failures.append(
                Failure(
                    release.name,
                    None,
                    "concept_id",
                    "one concept id per code across consumer, clinician and history files",
                    row["code"],
                )
            )
            continue
        role = str(case.column).removesuffix("_line")
        seen = [
            f"{release.files[r].member} line {int(row[f'{r}_line'])}"
            for r in _LINE_ROLES
            if f"{r}_line" in row and pd.notna(row[f"{r}_line"])
        ]
        failures.append(
            Failure(
                release.files[role].member,
                None,
                "code",
                f"code missing from this file (present in {', '.join(seen)})",
                row["code"],
            )
        )
    return failures


def _pla_disagreements(release: Release) -> list[Failure]:
    """Warnings where the PLA XML's descriptors differ from the text files' for the same code."""
    if "pla" not in release.tables:
        return []
    pla = release.tables["pla"].frame.set_index("code")
    warnings = []
    for role, column in (
        ("longult", "long_descriptor"),
        ("medu", "medium_descriptor"),
        ("shortu", "short_descriptor"),
    ):
        text = release.tables[role].frame.drop_duplicates("code").set_index("code")[column]
        both = pla[[column, "line"]].join(text.rename("text"), how="inner")
        differ = both[both[column].notna() & (both[column] != both["text"])]
        for code, row in differ.iterrows():
            warnings.append(
                Failure(
                    release.tables["pla"].file,
                    int(row["line"]),
                    column,
                    f"PLA XML descriptor differs from {release.files[role].member}: "
                    f"{row['text']!r}",
                    f"{code}: {row[column]}",
                )
            )
    return warnings

"""One HCPCS Level II release: the ANWEB txt and/or xlsx, the transaction report, tidy tables."""

from __future__ import annotations

import re

import pandas as pd

from codecatalog.errors import Failure
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.decode import decode_text
from codecatalog.read.hcpcs import (
    compare_txt_xlsx,
    find_hcpcs_members,
    read_hcpcs_fixed_width,
    read_hcpcs_transactions,
    read_hcpcs_xlsx,
)
from codecatalog.read.release import Release, SourceFile, Table, source_file
from codecatalog.validate import check_frame, sort_failures

SCHEMAS = {"records": "hcpcs_records.yaml", "transactions": "hcpcs_transactions.yaml"}
# `HCPC17_…`, `HCPC2018_…`, `HCPC2026_JAN_…`, or a stored name such as `2020-04_anweb.xlsx`.
_FILE_YEAR = re.compile(r"(?:HCPCS?|^)(20\d\d|\d\d)(?=[_\-])", re.IGNORECASE)
_RENAMED = {"hcpc": "code", "long_description": "long_descriptor",
            "short_description": "short_descriptor"}  # fmt: skip
_BOOKKEEPING = ["line", "continuations", "seqnum", "recid", "is_modifier"]


def read_hcpcs_release(
    archive: ReleaseArchive, transactions: ReleaseArchive | None = None
) -> Release:
    """Read the main file (txt preferred; an xlsx beside it is cross-checked) and the transaction
    report (from the same zip, or `transactions` for the quarterly files)."""
    members = find_hcpcs_members(archive)
    files: dict[str, SourceFile] = {}
    tables: dict[str, Table] = {}
    warnings: list[Failure] = []
    if members["txt"]:
        data = archive.read_bytes(members["txt"])
        decoded = decode_text(data, members["txt"])
        files["records"] = source_file("records", members["txt"], data, decoded.encoding)
        tables["records"] = read_hcpcs_fixed_width(decoded.text, members["txt"])
    if members["xlsx"]:
        data = archive.read_bytes(members["xlsx"])
        xlsx = read_hcpcs_xlsx(data, members["xlsx"])
        if "records" in tables:
            files["xlsx"] = source_file("xlsx", members["xlsx"], data, "xlsx")
            warnings += compare_txt_xlsx(tables["records"].frame, xlsx.frame, members["xlsx"])
        else:
            files["records"] = source_file("records", members["xlsx"], data, "xlsx")
            tables["records"] = xlsx
    report_source = transactions or archive
    report = (
        find_hcpcs_members(report_source, main_required=False)["transactions"]
        if report_source is not None
        else None
    )
    if report:
        data = report_source.read_bytes(report)
        files["transactions"] = source_file("transactions", report, data, "xlsx")
        tables["transactions"] = read_hcpcs_transactions(data, report)
    main = files["records"].member
    match = _FILE_YEAR.search(main.rsplit("/", 1)[-1])
    year = int(match.group(1)) if match else None
    if year is not None and year < 100:
        year += 2000
    return Release(archive.name, files, tables, year, main if match else None, warnings)


def validate_hcpcs_release(release: Release) -> tuple[list[Failure], list[Failure]]:
    """The record and transaction-report schemas; returns (errors, warnings)."""
    errors: list[Failure] = []
    warnings = list(release.warnings)
    for role, table in release.tables.items():
        if table.frame.empty:
            errors.append(Failure(table.file, None, "", "file has no data rows", ""))
            continue
        found_errors, found_warnings = check_frame(table.frame, SCHEMAS[role], table.file)
        errors += found_errors
        warnings += found_warnings
    return sort_failures(errors), sort_failures(warnings)


def hcpcs_tables(release: Release) -> dict[str, pd.DataFrame]:
    """`catalog` (one row per key; blank cells are missing values; whitespace in descriptors
    collapsed, since the txt wraps them at 80 bytes) and `transactions` (CMS's stated actions)."""
    records = release.tables["records"].frame
    catalog = records.drop(columns=[c for c in _BOOKKEEPING if c in records]).rename(
        columns=_RENAMED
    )
    catalog.insert(1, "kind", records["is_modifier"].map({"Y": "modifier", "N": "procedure"}))
    catalog.insert(2, "status", records["term_dt"].map(lambda d: "retired" if d else "active"))
    for column in ("long_descriptor", "short_descriptor"):
        catalog[column] = catalog[column].str.split().str.join(" ")
    catalog = catalog.mask(catalog == "").sort_values("code", ignore_index=True)
    tables = {"catalog": catalog}
    if "transactions" in release.tables:
        frame = release.tables["transactions"].frame
        tables["transactions"] = frame.rename(columns={"hcpc": "code"})[
            ["code", "action", "label", "line"]
        ]
    return tables

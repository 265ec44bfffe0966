"""One HCPCS Level II release: the ANWEB txt and/or xlsx, the transaction report, tidy tables."""

from __future__ import annotations

import re

import pandas as pd

from codecatalog.errors import Failure, ReleaseFormatError
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.decode import decode_text
from codecatalog.read.hcpcs import (
    compare_txt_xlsx,
    find_hcpcs_members,
    find_transaction_report,
    read_hcpcs_fixed_width,
    read_hcpcs_transactions,
    read_hcpcs_xlsx,
)
from codecatalog.read.release import Release, SourceFile, Table, source_file

# The warning a transaction report that cannot be read leaves instead of its table.
REPORT_NOT_USED = "transaction report not used: cross-check skipped"
# `HCPC17_…`, `HCPC2018_…`, `HCPC2026_JAN_…`, or a stored name such as `2020-04_anweb.xlsx`.
_FILE_YEAR = re.compile(r"(?:HCPCS?|^)(20\d\d|\d\d)(?=[_\-])", re.IGNORECASE)
_RENAMED = {"hcpc": "code", "long_description": "long_descriptor",
            "short_description": "short_descriptor"}  # fmt: skip
_BOOKKEEPING = [
    "line", "continuations", "seqnum", "recid", "is_modifier", "record_length",
    "record_length_line",
]  # fmt: skip


def read_hcpcs_release(
    archive: ReleaseArchive, transactions: ReleaseArchive | None = None
) -> Release:
    """Read the main file (txt preferred; an xlsx beside it is cross-checked) and the transaction
    report (from the same zip, or `transactions` for the quarterly files). In a zip or directory
    files are chosen by name; a release or report given as a single file whatever its name
    (`find_hcpcs_members`, `find_transaction_report`).

    A transaction report that cannot be read does not stop the release: it stays among the files
    read (role `transactions`, no table) and leaves a REPORT_NOT_USED warning whose value is why.
    """
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
    report_source, report = archive, members["transactions"]
    if transactions is not None:
        report_source, report = transactions, find_transaction_report(transactions)
        if report is None:
            warnings.append(
                Failure(
                    transactions.name,
                    None,
                    "",
                    REPORT_NOT_USED,
                    "no transaction report ('*trans*report*.xlsx', '*trans*alpha*.xlsx') in it",
                )
            )
    if report:
        data = report_source.read_bytes(report)
        files["transactions"] = source_file("transactions", report, data, "xlsx")
        try:
            tables["transactions"] = read_hcpcs_transactions(data, report)
        except ReleaseFormatError as err:
            warnings.append(Failure(report, err.line, "", REPORT_NOT_USED, err.problem))
    main = files["records"].member
    match = _FILE_YEAR.search(main.rsplit("/", 1)[-1])
    year = int(match.group(1)) if match else None
    if year is not None and year < 100:
        year += 2000
    return Release(archive.name, files, tables, year, main if match else None, warnings)


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

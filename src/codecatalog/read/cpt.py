"""One AMA CPT release: find its files, decode and read them, validate, and assemble tidy tables."""

from __future__ import annotations

import re

import pandas as pd

from codecatalog.errors import Failure
from codecatalog.read import ama
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.decode import decode_text
from codecatalog.read.release import Release, SourceFile, Table, source_file

# role: (file-name globs, required, schema)
FILES: dict[str, tuple[tuple[str, ...], bool, str]] = {
    "longult": (("LONGULT.txt",), True, "cpt_longult.yaml"),
    "medu": (("MEDU.txt",), True, "cpt_medu.yaml"),
    "shortu": (("SHORTU.txt",), True, "cpt_shortu.yaml"),
    "consumer": (("ConsumerDescriptor.txt",), True, "cpt_consumer.yaml"),
    "clinician": (("ClinicianDescriptor.txt",), True, "cpt_clinician.yaml"),
    "pla": (("CPTPLA", "CPTPLA.xml"), False, "cpt_pla.yaml"),
    "history": (("History_DTK_tab.txt",), True, "cpt_history.yaml"),
    "deleted": (("Deleted_DTK_tab.txt",), True, "cpt_deleted.yaml"),
}

CATALOG_COLUMNS = [
    "code", "category", "section", "status", "concept_id",
    "short_descriptor", "medium_descriptor", "long_descriptor", "consumer_descriptor",
    "pla_status", "pla_lab_name", "pla_manufacturer_name", "pla_test_name",
    "pla_effective_date", "pla_publish_date",
]  # fmt: skip
_STATED_YEAR = re.compile(r"\bCPT\W{0,3}((?:19|20)\d\d)\b")


def _read_role(role: str, text: str, file: str) -> Table:
    if role == "longult":
        return ama.read_long_descriptors(text, file)
    if role == "medu":
        return ama.read_fixed_width(text, file, "medium_descriptor", 48)
    if role == "shortu":
        return ama.read_fixed_width(text, file, "short_descriptor", 28)
    if role == "pla":
        return ama.read_pla_xml(text, file)
    header = {
        "consumer": ama.CONSUMER_HEADER,
        "clinician": ama.CLINICIAN_HEADER,
        "history": ama.HISTORY_HEADER,
        "deleted": ama.DELETED_HEADER,
    }[role]
    return ama.read_tab_with_header(text, file, header)


def read_cpt_release(archive: ReleaseArchive) -> Release:
    """Find, decode and read every file of a CPT release (a directory or zip).

    Raises SourceLayoutError, DecodeError or ReleaseFormatError when a file cannot be read at all;
    row-level problems are left to `codecatalog.validate_release.validate_cpt_release`.
    """
    files: dict[str, SourceFile] = {}
    tables: dict[str, Table] = {}
    warnings: list[Failure] = []
    for role, (patterns, required, _schema) in FILES.items():
        member = archive.find(*patterns, required=required)
        if member is None:
            continue
        data = archive.read_bytes(member)
        decoded = decode_text(data, member)
        files[role] = source_file(role, member, data, decoded.encoding)
        tables[role] = _read_role(role, decoded.text, member)
        if role != "pla" and decoded.text and not decoded.text.endswith(("\n", "\r")):
            last = decoded.text.splitlines()[-1]
            warnings.append(
                Failure(
                    member,
                    decoded.text.count("\n") + 1,
                    "",
                    "no line end after the last line: truncated?",
                    last,
                )
            )
    if "pla" not in tables:
        warnings.append(Failure(archive.name, None, "", "PLA XML (CPTPLA) not in release", ""))
    return Release(
        archive.name,
        files,
        tables,
        stated_year=_stated_year(tables["longult"]),
        year_source=files["longult"].member,
        warnings=warnings,
    )


def _stated_year(longult: Table) -> int | None:
    """The year the LONGULT licence preamble says the release is for (`CPT® 2026`), if any."""
    if longult.skipped is None:
        return None
    match = _STATED_YEAR.search(longult.skipped.text)
    return int(match.group(1)) if match else None


def classify(code: str) -> tuple[str, str]:
    """(category, section) of a CPT code from its shape and, for Category I, its numeric range."""
    suffix = code[-1]
    if suffix in "FTUAM":
        return {
            "F": ("Category II", "Performance Measurement"),
            "T": ("Category III", "Emerging Technology"),
            "U": ("PLA", "Proprietary Laboratory Analyses"),
            "A": ("Category I", "Medicine (Vaccines)"),
            "M": ("MAAA", "Multianalyte Assays with Algorithmic Analyses"),
        }[suffix]
    number = int(code)
    for upper, section in _SECTIONS:
        if number <= upper:
            return "Category I", section
    return "Category I", "Medicine"


_SECTIONS = [
    (1999, "Anesthesia"),
    (69990, "Surgery"),
    (79999, "Radiology"),
    (89398, "Pathology and Laboratory"),
    (99199, "Medicine"),
    (99499, "Evaluation and Management"),
]


def cpt_tables(release: Release) -> dict[str, pd.DataFrame]:
    """The tidy tables of a valid release: `catalog` (one row per code), `details` (clinician
    descriptors, several per code) and `history` (the release's own ADDED/DELETED records)."""
    t = {role: table.frame for role, table in release.tables.items()}
    catalog = t["longult"][["code", "long_descriptor"]]
    catalog = catalog.merge(t["medu"][["code", "medium_descriptor"]], on="code", how="left")
    catalog = catalog.merge(t["shortu"][["code", "short_descriptor"]], on="code", how="left")
    catalog = catalog.merge(t["consumer"][["code", "consumer_descriptor"]], on="code", how="left")
    concept = pd.concat(
        [t[r][["code", "concept_id"]] for r in ("consumer", "clinician", "history")]
    )
    concept = concept[concept["concept_id"] != ""].drop_duplicates("code")
    catalog = catalog.merge(concept, on="code", how="left")
    if "pla" in t:
        pla_columns = [c for c in CATALOG_COLUMNS if c.startswith("pla_")]
        catalog = catalog.merge(t["pla"][["code", *pla_columns]], on="code", how="left")
    categories = catalog["code"].map(classify)
    catalog["category"] = categories.str[0]
    catalog["section"] = categories.str[1]
    catalog["status"] = "active"
    catalog = catalog.reindex(columns=CATALOG_COLUMNS).astype("str")
    details = t["clinician"][["code", "clinician_descriptor_id", "clinician_descriptor"]]
    history = pd.concat(
        [
            t["history"].assign(file=release.files["history"].member),
            t["deleted"].assign(
                action="DELETED", current_value="", file=release.files["deleted"].member
            ),
        ]
    )
    history = history[
        [
            "code",
            "action",
            "action_date",
            "concept_id",
            "level",
            "prior_value",
            "current_value",
            "instruction",
            "file",
            "line",
        ]
    ]
    return {
        "catalog": catalog.sort_values("code", ignore_index=True),
        "details": details.sort_values(["code", "clinician_descriptor_id"], ignore_index=True),
        "history": history.sort_values(["code", "file", "line"], ignore_index=True),
    }

"""Readers for the AMA CPT data files (FORMATS.md §1): pure functions from text to typed frames.

Every frame keeps the physical `line` number of each row so validation can point at it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd

from codecatalog.errors import ReleaseFormatError
from codecatalog.read.decode import split_lines
from codecatalog.read.release import Skipped, Table


def _after_preamble(text: str, file: str) -> tuple[list[tuple[int, str]], Skipped | None]:
    """Data lines of a licence-preamble file: those after the last blank line (AMA's own rule)."""
    lines = split_lines(text)
    while lines and not lines[-1].strip():
        lines.pop()
    blanks = [i for i, line in enumerate(lines) if not line.strip()]
    start = blanks[-1] + 1 if blanks else 0
    preamble = "\n".join(lines[:start])
    skipped = (
        Skipped(file, start, "licence preamble up to the last blank line", preamble)
        if start
        else None
    )
    return [(i + 1, line) for i, line in enumerate(lines) if i >= start], skipped


def read_long_descriptors(text: str, file: str) -> Table:
    """LONGULT.txt: preamble, blank line, then `CODE<TAB>descriptor`."""
    rows, skipped = _after_preamble(text, file)
    records = []
    for number, line in rows:
        code, _, descriptor = line.partition("\t")
        records.append((number, code, descriptor))
    frame = pd.DataFrame(records, columns=["line", "code", "long_descriptor"])
    return Table(file, frame.astype({"code": "str", "long_descriptor": "str"}), skipped)


def read_fixed_width(text: str, file: str, column: str, width: int) -> Table:
    """MEDU.txt / SHORTU.txt: code in 1–5, a space, the descriptor in 7..6+width (padding stripped).

    Anything beyond the declared width is kept so validation can report it.
    """
    rows, skipped = _after_preamble(text, file)
    records = [(number, line[:5], line[5:6], line[6:].rstrip()) for number, line in rows]
    frame = pd.DataFrame(records, columns=["line", "code", "separator", column])
    return Table(file, frame.astype({"code": "str", "separator": "str", column: "str"}), skipped)


def read_tab_with_header(text: str, file: str, header: dict[str, str]) -> Table:
    """A tab file whose header row is found by content; `header` maps headings to columns."""
    lines = split_lines(text)
    wanted = [h.casefold() for h in header]
    index = next(
        (
            i
            for i, line in enumerate(lines)
            if [cell.strip().casefold() for cell in line.split("\t")][: len(wanted)] == wanted
        ),
        None,
    )
    if index is None:
        raise ReleaseFormatError(file, None, f"header row {' | '.join(header)!r} not found")
    records = []
    for number, line in enumerate(lines[index + 1 :], start=index + 2):
        if not line.strip():
            continue
        cells = line.split("\t")
        cells += [""] * (len(header) - len(cells))
        records.append([number, *cells[: len(header)]])
    frame = pd.DataFrame(records, columns=["line", *header.values()])
    skipped = Skipped(file, index, "lines before the header row") if index else None
    return Table(file, frame.astype({c: "str" for c in header.values()}), skipped)


_PLA_FIELDS = {
    "cdDesc": "long_descriptor",
    "cdMDesc": "medium_descriptor",
    "cdSDesc": "short_descriptor",
    "cdStatus": "pla_status",
    "clinicalDesc": "clinician_descriptor",
    "consumerDesc": "consumer_descriptor",
    "effectiveDate": "pla_effective_date",
    "publishDate": "pla_publish_date",
    "labName": "pla_lab_name",
    "manufacturerName": "pla_manufacturer_name",
    "testName": "pla_test_name",
}


def read_pla_xml(text: str, file: str) -> Table:
    """CPTPLA: `<plaCodes><plaCode cdCode= cdId=>` with descriptor and lab children.

    The XML has no line numbers per row after parsing, so `line` is the 1-based position of the
    `plaCode` element (1 = first code). Absent children are missing values.
    """
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as err:
        raise ReleaseFormatError(file, err.position[0], f"XML is not well formed: {err}") from None
    if root.tag != "plaCodes":
        raise ReleaseFormatError(file, 1, f"root element is <{root.tag}>, expected <plaCodes>")
    records = []
    for position, element in enumerate(root.iter("plaCode"), start=1):
        record = {
            "line": position,
            "code": element.get("cdCode", ""),
            "pla_id": element.get("cdId"),
        }
        for tag, column in _PLA_FIELDS.items():
            child = element.find(tag)
            record[column] = None if child is None else (child.text or "").strip()
        records.append(record)
    columns = ["line", "code", "pla_id", *_PLA_FIELDS.values()]
    frame = pd.DataFrame(records, columns=columns)
    return Table(file, frame.astype({c: "str" for c in columns[1:]}))


CONSUMER_HEADER = {
    "Concept Id": "concept_id",
    "CPT Code": "code",
    "Consumer Friendly Descriptor": "consumer_descriptor",
}
CLINICIAN_HEADER = {
    "Concept Id": "concept_id",
    "CPT Code": "code",
    "Clinician Descriptor Id": "clinician_descriptor_id",
    "Clinician Descriptor": "clinician_descriptor",
}
HISTORY_HEADER = {
    "Date": "action_date",
    "Change Type": "action",
    "Concept Id": "concept_id",
    "CPT Code": "code",
    "Level": "level",
    "Prior Value": "prior_value",
    "Current Value": "current_value",
    "Instruction": "instruction",
}
DELETED_HEADER = {
    "Concept Id": "concept_id",
    "Code": "code",
    "Date Deleted": "action_date",
    "Level": "level",
    "Descriptor": "prior_value",
    "Instruction": "instruction",
}

"""The release archive and strict decoder on real CMS HCPCS zips, opened in place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.decode import decode_text, split_lines

RECORD = re.compile(r"^.{5}\d{5}[3478]")


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("zip_name", "member", "skipped", "records"),
    [
        # FORMATS.md §2.5: lines before the first record and records per RECID 3+4+7+8.
        ("2017-Alpha-Numeric-HCPCS-File.zip", "HCPC17_CONTR_ANWEB.txt", 0, 6155 + 4212 + 343 + 118),
        (
            "2018-Alpha-Numeric-HCPCS-File.zip",
            "HCPC2018_CONTR_ANWEB_disc.txt",
            11,
            6205 + 4272 + 354 + 154,
        ),
    ],
)
def test_real_hcpcs_zip_is_found_and_decoded_in_place(
    realdata: Path, zip_name: str, member: str, skipped: int, records: int
) -> None:
    archive = ReleaseArchive.open(realdata / "hcpcs_annual" / zip_name)
    assert archive.find("*ANWEB*.txt") == member
    decoded = decode_text(archive.read_bytes(member), member)
    assert decoded.encoding == "utf-8"  # plain ASCII
    lines = split_lines(decoded.text)
    first = next(i for i, line in enumerate(lines) if RECORD.match(line))
    assert first == skipped
    assert sum(bool(RECORD.match(line)) for line in lines) == records

"""AMA readers and the release archive, on small inline files and on the generated releases."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from codecatalog.errors import Failure, ReleaseFormatError, SourceLayoutError
from codecatalog.read import ama
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.cpt import classify, cpt_tables, read_cpt_release
from codecatalog.read.release import Table
from codecatalog.validate_release import validate_cpt_release

PREAMBLE = (
    "Synthetic CPT\u00ae 2026 file.\r\nSecond paragraph line.\r\n\r\nMore licence text.\r\n\r\n"
)


def rows(table: Table) -> list[dict]:
    return table.frame.to_dict("records")


def test_long_descriptors_skip_the_preamble_by_its_last_blank_line() -> None:
    text = PREAMBLE + "00100\tAnaesthesia for a thing\r\n0001F\tMeasure\twith tab\r\n\r\n"
    table = ama.read_long_descriptors(text, "LONGULT.txt")
    assert rows(table) == [
        {"line": 6, "code": "00100", "long_descriptor": "Anaesthesia for a thing"},
        {"line": 7, "code": "0001F", "long_descriptor": "Measure\twith tab"},
    ]
    assert (table.skipped.lines, table.skipped.reason) == (
        5,
        "licence preamble up to the last blank line",
    )


def test_fixed_width_keeps_overflow_for_validation() -> None:
    text = (
        PREAMBLE
        + "00100 ANESTH THING"
        + " " * 20
        + "\r\n99213XWIDE DESCRIPTOR THAT IS TOO LONG\r\n"
    )
    table = ama.read_fixed_width(text, "SHORTU.txt", "short_descriptor", 28)
    assert rows(table) == [
        {"line": 6, "code": "00100", "separator": " ", "short_descriptor": "ANESTH THING"},
        {
            "line": 7,
            "code": "99213",
            "separator": "X",
            "short_descriptor": "WIDE DESCRIPTOR THAT IS TOO LONG",
        },
    ]


def test_tab_header_is_found_by_content() -> None:
    text = (
        "Some title\r\n\r\nconcept id\tCPT Code\tConsumer Friendly Descriptor\r\n"
        "1000001\t00100\tSleep medicine for a test\r\n1000002\t00102\r\n"
    )
    table = ama.read_tab_with_header(text, "ConsumerDescriptor.txt", ama.CONSUMER_HEADER)
    assert rows(table) == [
        {
            "line": 4,
            "concept_id": "1000001",
            "code": "00100",
            "consumer_descriptor": "Sleep medicine for a test",
        },
        {"line": 5, "concept_id": "1000002", "code": "00102", "consumer_descriptor": ""},
    ]


def test_tab_file_without_its_header_is_refused() -> None:
    with pytest.raises(
        ReleaseFormatError, match=r"ConsumerDescriptor\.txt: header row 'Concept Id"
    ):
        ama.read_tab_with_header(
            "1000001\t00100\tx\r\n", "ConsumerDescriptor.txt", ama.CONSUMER_HEADER
        )


def test_pla_xml() -> None:
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<plaCodes>'
        '<plaCode cdCode="0001U" cdId="7"><cdDesc>Long</cdDesc><cdStatus>EXISTING</cdStatus>'
        "<testName>Assay\u00ae</testName><effectiveDate>2024-07-01T00:00:00-05:00</effectiveDate>"
        "</plaCode></plaCodes>"
    )
    frame = ama.read_pla_xml(xml, "CPTPLA").frame
    assert frame.astype(object).where(frame.notna(), None).to_dict("records") == [
        {
            "line": 1,
            "code": "0001U",
            "pla_id": "7",
            "long_descriptor": "Long",
            "medium_descriptor": None,
            "short_descriptor": None,
            "pla_status": "EXISTING",
            "clinician_descriptor": None,
            "consumer_descriptor": None,
            "pla_effective_date": "2024-07-01T00:00:00-05:00",
            "pla_publish_date": None,
            "pla_lab_name": None,
            "pla_manufacturer_name": None,
            "pla_test_name": "Assay\u00ae",
        }
    ]


def test_malformed_pla_xml_names_the_line() -> None:
    with pytest.raises(ReleaseFormatError, match=r"CPTPLA: line 2: XML is not well formed"):
        ama.read_pla_xml("<plaCodes>\n<plaCode></plaCodes>", "CPTPLA")


@pytest.mark.parametrize(
    ("code", "category", "section"),
    [
        ("00100", "Category I", "Anesthesia"),
        ("10004", "Category I", "Surgery"),
        ("70010", "Category I", "Radiology"),
        ("80047", "Category I", "Pathology and Laboratory"),
        ("90281", "Category I", "Medicine"),
        ("99213", "Category I", "Evaluation and Management"),
        ("99605", "Category I", "Medicine"),
        ("0001F", "Category II", "Performance Measurement"),
        ("0042T", "Category III", "Emerging Technology"),
        ("0001U", "PLA", "Proprietary Laboratory Analyses"),
        ("0001A", "Category I", "Medicine (Vaccines)"),
        ("0002M", "MAAA", "Multianalyte Assays with Algorithmic Analyses"),
    ],
)
def test_classify(code: str, category: str, section: str) -> None:
    assert classify(code) == (category, section)


def test_directory_and_zip_read_the_same(samples: Path, tmp_path: Path) -> None:
    directory = samples / "cpt-2025"
    archive = Path(shutil.make_archive(str(tmp_path / "cpt-2025"), "zip", directory))
    from_dir = read_cpt_release(ReleaseArchive.open(directory))
    from_zip = read_cpt_release(ReleaseArchive.open(archive))
    assert from_dir.content_sha256 == from_zip.content_sha256
    assert from_dir.stated_year == from_zip.stated_year == 2025
    for name, frame in cpt_tables(from_dir).items():
        pd.testing.assert_frame_equal(frame, cpt_tables(from_zip)[name])


def test_generated_release_reads_into_tidy_tables(samples: Path) -> None:
    release = read_cpt_release(ReleaseArchive.open(samples / "cpt-2026"))
    assert {r: f.encoding for r, f in release.files.items()} == {
        "longult": "cp1252",
        "medu": "cp1252",
        "shortu": "cp1252",
        "consumer": "utf-8-sig",
        "clinician": "utf-8",
        "pla": "utf-8",
        "history": "cp1252",
        "deleted": "cp1252",
    }
    assert validate_cpt_release(release) == ([], [])
    tables = cpt_tables(release)
    catalog = tables["catalog"]
    longult = (samples / "cpt-2026/standard/LONGULT.txt").read_bytes().decode("cp1252")
    data = longult.split("\r\n\r\n")[-1].strip("\r\n").split("\r\n")
    assert catalog["code"].tolist() == [line.split("\t")[0] for line in data]
    assert catalog["long_descriptor"].tolist() == [line.split("\t", 1)[1] for line in data]
    assert catalog["code"].is_unique and catalog["concept_id"].notna().all()
    pla = catalog[catalog["category"] == "PLA"]
    assert pla["pla_lab_name"].notna().all() and pla["pla_status"].eq("EXISTING").all()
    assert catalog.loc[catalog["category"] != "PLA", "pla_lab_name"].isna().all()
    assert catalog.loc[catalog["category"] == "Category II", "consumer_descriptor"].isna().all()


def test_two_candidates_for_one_role_are_refused(samples: Path, tmp_path: Path) -> None:
    release = tmp_path / "cpt"
    shutil.copytree(samples / "cpt-2025", release)
    shutil.copy(release / "standard/LONGULT.txt", release / "LONGULT.txt")
    with pytest.raises(
        SourceLayoutError,
        match=r"two candidates for 'LONGULT.txt': "
        r"LONGULT.txt, standard/LONGULT.txt",
    ):
        read_cpt_release(ReleaseArchive.open(release))


def test_a_broken_zip_is_refused_and_a_plain_file_is_a_one_file_release(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(SourceLayoutError, match=r"x\.zip: is not a valid zip archive"):
        ReleaseArchive.open(tmp_path / "x.zip")
    (tmp_path / "HCPC2018_ANWEB.txt").write_bytes(b"data")
    single = ReleaseArchive.open(tmp_path / "HCPC2018_ANWEB.txt")
    assert single.members() == ["HCPC2018_ANWEB.txt"]
    assert single.read_bytes(single.find("*anweb*.txt")) == b"data"


def test_zip_members_exclude_directories(tmp_path: Path) -> None:
    path = tmp_path / "r.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("top/", b"")
        zf.writestr("top/standard/LONGULT.TXT", b"x")
    archive = ReleaseArchive.open(path)
    assert archive.members() == ["top/standard/LONGULT.TXT"]
    assert archive.find("longult.txt") == "top/standard/LONGULT.TXT"


def test_a_last_line_without_line_end_is_a_warning(release_copy) -> None:
    release = release_copy(2025)
    medu = release / "standard" / "MEDU.txt"
    data = medu.read_bytes().rstrip(b"\r\n")
    medu.write_bytes(data[:-10])
    read = read_cpt_release(ReleaseArchive.open(release))
    assert read.warnings == [
        Failure(
            "standard/MEDU.txt",
            data.count(b"\n") + 1,
            "",
            "no line end after the last line: truncated?",
            data[:-10].decode("cp1252").splitlines()[-1],
        )
    ]

"""The published contract for apps (issue 9 §3, §6): datapackage.json describes every file of a
version directory (the files are checked against its Table Schemas), and `codecatalog.published`
opens a version after verifying its manifest, for schema_version 1 and 2 directories alike."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from declared_sources import declared

from codecatalog.pipeline import refresh
from codecatalog.publish import (
    Publication,
    place_version,
    point_latest,
    stage_version,
    version_dir,
)
from codecatalog.published import PublishedError, open_version

# The columns as README "Published catalog" documents them.
CATALOG_COLUMNS = [
    "code", "category", "section", "status", "concept_id", "short_descriptor",
    "medium_descriptor", "long_descriptor", "consumer_descriptor", "pla_status", "pla_lab_name",
    "pla_manufacturer_name", "pla_test_name", "pla_effective_date", "pla_publish_date",
]  # fmt: skip
DETAIL_COLUMNS = ["code", "clinician_descriptor_id", "clinician_descriptor"]
CHANGE_COLUMNS = [
    "codeset", "from_version", "to_version", "key", "change_type", "field", "old_value",
    "new_value", "effective_date", "source_action",
]  # fmt: skip
FINDING_COLUMNS = [
    "codeset", "version", "key", "column", "code", "finding", "code_set", "code_set_version",
    "retired_on", "successors", "reason",
]  # fmt: skip
DATES = {"changes": {"effective_date"}, "findings": {"retired_on"}}

PROFILES = "https://datapackage.org/profiles/2.0/"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fields(table: str, columns: list[str]) -> list[dict[str, str]]:
    dates = DATES.get(table, set())
    return [{"name": c, "type": "date" if c in dates else "string"} for c in columns]


def table_resources(
    directory: Path, stem: str, columns: list[str], key: list[str] | None
) -> list[dict[str, Any]]:
    schema: dict[str, Any] = {
        "$schema": PROFILES + "tableschema.json",
        "fields": fields(stem, columns),
        **({"primaryKey": key} if key else {}),
        "missingValues": [""],
    }
    csv_file, parquet = directory / f"{stem}.csv", directory / f"{stem}.parquet"
    return [
        {
            "$schema": PROFILES + "dataresource.json",
            "name": stem,
            "type": "table",
            "path": f"{stem}.csv",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "dialect": {
                "$schema": PROFILES + "tabledialect.json",
                "header": True,
                "delimiter": ",",
                "lineTerminator": "\n",
                "quoteChar": '"',
                "doubleQuote": True,
            },
            "schema": schema,
            "bytes": csv_file.stat().st_size,
            "hash": f"sha256:{sha256(csv_file)}",
        },
        {
            "$schema": PROFILES + "dataresource.json",
            "name": f"{stem}-parquet",
            "type": "table",
            "path": f"{stem}.parquet",
            "format": "parquet",
            "mediatype": "application/vnd.apache.parquet",
            "schema": schema,
            "bytes": parquet.stat().st_size,
            "hash": f"sha256:{sha256(parquet)}",
        },
    ]


def file_resource(directory: Path, name: str, path: str, mediatype: str) -> dict[str, Any]:
    """A non-tabular resource as the data package describes it."""
    file = directory / path
    return {
        "$schema": PROFILES + "dataresource.json",
        "name": name,
        "path": path,
        "format": path.rsplit(".", 1)[1],
        "mediatype": mediatype,
        "encoding": "utf-8",
        "bytes": file.stat().st_size,
        "hash": f"sha256:{sha256(file)}",
    }


def test_datapackage_of_cpt_2026(loaded_warehouse: Path) -> None:
    directory = loaded_warehouse / "published" / "cpt" / "2026"
    package = json.loads((directory / "datapackage.json").read_text())
    assert package == {
        "$schema": PROFILES + "datapackage.json",
        "name": "cpt-2026",
        "version": "2026",
        "created": "2026-01-02T06:30:00+00:00",  # conftest.LOADED_AT
        "resources": [
            *table_resources(directory, "catalog", CATALOG_COLUMNS, ["code"]),
            *table_resources(
                directory,
                "clinician_descriptors",
                DETAIL_COLUMNS,
                ["code", "clinician_descriptor_id"],
            ),
            *table_resources(directory, "changes", CHANGE_COLUMNS, None),
            # the FHIR CodeSystem (tests/test_fhir.py), the reports (tests/test_report_html.py)
            file_resource(directory, "codesystem", "codesystem.json", "application/json"),
            file_resource(directory, "report", "report.md", "text/markdown"),
            file_resource(directory, "report-html", "report.html", "text/html"),
        ],
    }
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["schema_version"] == 2
    assert manifest["files"]["datapackage.json"] == {
        "sha256": sha256(directory / "datapackage.json"),
        "bytes": (directory / "datapackage.json").stat().st_size,
    }


def check_against_package(directory: Path) -> list[str]:
    """Check every table file of a version directory against its Table Schema; return the
    tables checked."""
    package = json.loads((directory / "datapackage.json").read_text())
    listed = json.loads((directory / "manifest.json").read_text())["files"]
    described = {r["path"] for r in package["resources"]}
    assert described == set(listed) - {"datapackage.json", "manifest.json"}
    tables = []
    for resource in package["resources"]:
        path = directory / resource["path"]
        assert resource["bytes"] == path.stat().st_size
        assert resource["hash"] == f"sha256:{sha256(path)}"
        if resource.get("type") != "table":
            continue
        schema = resource["schema"]
        names = [f["name"] for f in schema["fields"]]
        types = {f["name"]: f["type"] for f in schema["fields"]}
        assert set(types.values()) <= {"string", "date"}
        if resource["format"] == "parquet":
            arrow = pq.read_schema(path)
            expected = {"string": pa.string(), "date": pa.date32()}
            assert [(f.name, f.type) for f in arrow] == [(n, expected[types[n]]) for n in names]
            continue
        tables.append(resource["name"])
        assert resource["dialect"]["lineTerminator"] == "\n"
        with path.open(newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file))
        assert rows[0] == names  # every column present, in order
        missing = set(schema["missingValues"])
        seen: set[tuple[str | None, ...]] = set()
        for row in rows[1:]:
            assert len(row) == len(names)
            for name, value in zip(names, row, strict=True):
                if value not in missing and types[name] == "date":
                    date.fromisoformat(value)  # raises when it does not parse
            if "primaryKey" in schema:
                key = tuple(
                    None if row[names.index(k)] in missing else row[names.index(k)]
                    for k in schema["primaryKey"]
                )
                assert key not in seen, f"{resource['name']}: primary key {key} twice"
                seen.add(key)
    return tables


def test_files_match_their_table_schemas(loaded_warehouse: Path) -> None:
    for version in ("2024", "2025", "2026"):
        tables = check_against_package(loaded_warehouse / "published" / "cpt" / version)
        assert tables == ["catalog", "clinician_descriptors", "changes"]


def test_open_version_latest_by_version_and_current(loaded_warehouse: Path) -> None:
    root = loaded_warehouse / "published"
    latest = open_version(root, "cpt")
    assert (latest.source, latest.version, latest.schema_version) == ("cpt", "2026", 2)
    assert latest.path == root / "cpt" / "2026"
    assert latest.tables == ("catalog", "clinician_descriptors", "changes")
    assert latest.manifest == json.loads((latest.path / "manifest.json").read_text())
    assert open_version(root, "cpt", "current").version == "2026"  # loaded on 2026-01-02
    assert open_version(loaded_warehouse, "cpt", "2025").version == "2025"  # the warehouse dir

    version = open_version(root, "cpt", "2025")
    for table in version.tables:
        parquet = pd.read_parquet(version.path / f"{table}.parquet")
        pd.testing.assert_frame_equal(version.frame(table), parquet)
        pd.testing.assert_frame_equal(version.frame(table, from_csv=True), parquet)
        assert version.arrow(table).equals(pq.read_table(version.path / f"{table}.parquet"))
        arrow = version.arrow(table)
        nullable = pa.schema([f.with_nullable(True) for f in arrow.schema])  # Parquet: NOT NULL
        assert version.arrow(table, from_csv=True).equals(arrow.cast(nullable))
    changes = version.frame("changes", from_csv=True)
    assert len(changes) > 0
    assert set(changes["from_version"]) == {"2024"}  # text, not BIGINT
    assert {type(d) for d in changes["effective_date"]} == {date}
    assert version.table_schema("changes")["fields"] == fields("changes", CHANGE_COLUMNS)


def test_unknown_source_version_and_table(loaded_warehouse: Path) -> None:
    root = loaded_warehouse / "published"
    with pytest.raises(PublishedError, match=r"^no published source 'icd10' under "):
        open_version(root, "icd10")
    with pytest.raises(
        PublishedError, match=r"^cpt has no published version 2030 \(published: 2024, 2025, 2026\)$"
    ):
        open_version(root, "cpt", "2030")
    with pytest.raises(PublishedError, match=r"^published cpt 2026 has no table 'findings'"):
        open_version(root, "cpt").frame("findings")


@pytest.mark.parametrize(
    "name", ["catalog.csv", "changes.parquet", "report.md", "datapackage.json"]
)
def test_a_tampered_file_is_named(loaded_warehouse: Path, name: str) -> None:
    path = loaded_warehouse / "published" / "cpt" / "2025" / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one byte changed, same size
    path.write_bytes(bytes(data))
    with pytest.raises(PublishedError) as raised:
        open_version(loaded_warehouse / "published", "cpt", "2025")
    message = str(raised.value)
    assert message == f"published cpt 2025: {name} does not match its sha256 in manifest.json"
    assert "\n" not in message


def test_a_deleted_file_is_named(loaded_warehouse: Path) -> None:
    (loaded_warehouse / "published" / "cpt" / "2026" / "changes.parquet").unlink()
    with pytest.raises(
        PublishedError,
        match=r"^published cpt 2026: changes\.parquet is missing \(listed in manifest\.json\)$",
    ):
        open_version(loaded_warehouse / "published", "cpt")


def test_a_rewritten_manifest_does_not_match_its_pointer(loaded_warehouse: Path) -> None:
    manifest = loaded_warehouse / "published" / "cpt" / "2026" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"2025"', '"2024"'))
    with pytest.raises(PublishedError, match=r"manifest\.json does not match the pointer"):
        open_version(loaded_warehouse / "published", "cpt", "latest")


def as_version_1(directory: Path) -> None:
    """Rewrite a published directory as schema_version 1 published it: no datapackage.json,
    every remaining file listed with its hash."""
    (directory / "datapackage.json").unlink()
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["schema_version"] = 1
    del manifest["files"]["datapackage.json"]
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def test_a_version_1_directory_still_opens(loaded_warehouse: Path) -> None:
    directory = loaded_warehouse / "published" / "cpt" / "2025"
    as_version_1(directory)
    version = open_version(loaded_warehouse / "published", "cpt", "2025")
    assert (version.schema_version, version.datapackage) == (1, None)
    assert version.tables == ("catalog", "clinician_descriptors", "changes")
    for table in version.tables:
        parquet = pd.read_parquet(directory / f"{table}.parquet")
        pd.testing.assert_frame_equal(version.frame(table), parquet)
        pd.testing.assert_frame_equal(version.frame(table, from_csv=True), parquet)
    # Without a data package the CSV takes its types from the Parquet file.
    assert version.table_schema("changes") == {
        "fields": fields("changes", CHANGE_COLUMNS),
        "missingValues": [""],
    }
    (directory / "report.md").unlink()
    with pytest.raises(PublishedError, match=r"report\.md is missing"):
        open_version(loaded_warehouse / "published", "cpt", "2025")


# A composite-key table source whose codes are checked (findings) against HCPCS, not loaded here:
# every finding is `unchecked`, and `retired_on` still publishes as a date.
TARIFF = """
[tariff]
title = "Invented partner tariff"
family = "table"
key = ["code", "partner"]
schema = "tariff.yaml"
descriptors = []
attributes = ["rate"]
code_columns = ["code"]
code_sets = ["hcpcs"]

[tariff.columns]
code = "Code"
partner = "Partner"
rate = "Rate"
"""


@pytest.fixture
def tariff(tmp_path: Path) -> Iterator[Path]:
    with declared(tmp_path, TARIFF) as toml:
        yield toml


def test_a_composite_key_source(tariff: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    for label, rows in [
        ("2026Q1", ["A0001,X,10", "A0001,Y,11", "A0002,X,20"]),
        ("2026Q2", ["A0001,X,10", "A0001,Y,12", "A0002,X,20", "A0003,X,30"]),
    ]:
        release = tmp_path / f"{label}.csv"
        release.write_text("\r\n".join(["Code,Partner,Rate", *rows]) + "\r\n")
        refresh("tariff", str(release), label, warehouse_dir=wh, clock=lambda: datetime(2026, 5, 1))
    directory = wh / "published" / "tariff" / "2026Q2"
    package = json.loads((directory / "datapackage.json").read_text())
    assert package["name"] == "tariff-2026q2"
    schemas = {r["name"]: r["schema"] for r in package["resources"] if "schema" in r}
    assert schemas["catalog"]["fields"] == fields("catalog", ["code", "partner", "rate"])
    assert schemas["catalog"]["primaryKey"] == ["code", "partner"]
    assert schemas["findings"]["fields"] == fields("findings", FINDING_COLUMNS)
    assert "primaryKey" not in schemas["changes"] and "primaryKey" not in schemas["findings"]
    assert check_against_package(directory) == ["catalog", "changes", "findings"]

    version = open_version(wh, "tariff")
    assert version.version == "2026Q2"
    catalog = version.frame("catalog")
    assert catalog.values.tolist() == [
        ["A0001", "X", "10"],
        ["A0001", "Y", "12"],
        ["A0002", "X", "20"],
        ["A0003", "X", "30"],
    ]
    findings = version.frame("findings", from_csv=True)
    assert set(findings["finding"]) == {"unchecked"}
    pd.testing.assert_frame_equal(findings, version.frame("findings"))


def stage(tmp_path: Path, **changes: Any) -> Path:
    """Stage and place a one-table publication straight through `codecatalog.publish`."""
    publication = Publication(
        codeset="demo",
        version="2026Q1",
        effective_date=date(2026, 1, 1),
        previous_version=None,
        tables={"terms": "SELECT 'a' AS code, DATE '2026-01-01' AS starts, 1 AS n"},
        report_md="# demo\n",
        inputs=[],
        content_sha256="0" * 64,
        keys={"terms": ["code"]},
        documents={"codesystem.json": {"resourceType": "CodeSystem", "version": "2026Q1"}},
    )
    publication = replace(publication, **changes)
    root = tmp_path / "published"
    con = duckdb.connect()
    try:
        staging = stage_version(con, root, publication, datetime(2026, 1, 2))
    finally:
        con.close()
    target = place_version(staging, version_dir(root, "demo", publication.version))
    point_latest(root, "demo", publication.version, publication.effective_date)
    return target


def test_documents_are_written_hashed_and_described(tmp_path: Path) -> None:
    directory = stage(tmp_path)
    assert sorted(p.name for p in directory.iterdir()) == [
        "codesystem.json", "datapackage.json", "manifest.json", "report.md",
        "terms.csv", "terms.parquet",
    ]  # fmt: skip
    document = directory / "codesystem.json"
    assert json.loads(document.read_text()) == {"resourceType": "CodeSystem", "version": "2026Q1"}
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["files"]["codesystem.json"] == {
        "sha256": sha256(document),
        "bytes": document.stat().st_size,
    }
    package = json.loads((directory / "datapackage.json").read_text())
    described = {r["path"]: r for r in package["resources"]}
    assert described["codesystem.json"] == {
        "$schema": PROFILES + "dataresource.json",
        "name": "codesystem",
        "path": "codesystem.json",
        "format": "json",
        "mediatype": "application/json",
        "encoding": "utf-8",
        "bytes": document.stat().st_size,
        "hash": f"sha256:{sha256(document)}",
    }
    # Whatever the query's types, the table is text except dates; the package says so.
    assert described["terms.csv"]["schema"]["fields"] == [
        {"name": "code", "type": "string"},
        {"name": "starts", "type": "date"},
        {"name": "n", "type": "string"},
    ]
    assert check_against_package(directory) == ["terms"]
    version = open_version(tmp_path / "published", "demo")
    assert version.frame("terms", from_csv=True).values.tolist() == [["a", date(2026, 1, 1), "1"]]


def test_a_document_or_key_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"document name 'terms\.csv'"):
        stage(tmp_path, documents={"terms.csv": {}})
    with pytest.raises(ValueError, match=r"document name 'sub/x\.json'"):
        stage(tmp_path, documents={"sub/x.json": {}})
    with pytest.raises(ValueError, match="primary key of terms: no column partner"):
        stage(tmp_path, keys={"terms": ["code", "partner"]})
    assert [p.name for p in (tmp_path / "published" / "demo").iterdir()] == []  # nothing left

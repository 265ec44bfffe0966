"""The published contract: directory layout, manifest, column types, latest pointer, backfill."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from codecatalog import warehouse
from codecatalog.errors import VersionError
from codecatalog.pipeline import refresh
from codecatalog.read.cpt import FILES

CATALOG_COLUMNS = [
    "code", "category", "section", "status", "concept_id", "short_descriptor",
    "medium_descriptor", "long_descriptor", "consumer_descriptor", "pla_status", "pla_lab_name",
    "pla_manufacturer_name", "pla_test_name", "pla_effective_date", "pla_publish_date",
]  # fmt: skip
CHANGE_COLUMNS = [
    "codeset", "from_version", "to_version", "key", "change_type", "field", "old_value",
    "new_value", "effective_date", "source_action",
]  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_version_directory_and_manifest(loaded_warehouse: Path, samples: Path) -> None:
    root = loaded_warehouse / "published" / "cpt"
    version_dir = root / "2025"
    assert sorted(p.name for p in root.iterdir()) == [
        "2024",
        "2025",
        "2026",
        "current.json",
        "latest.json",
    ]
    names = ["catalog", "changes", "clinician_descriptors"]
    assert sorted(p.name for p in version_dir.iterdir()) == sorted(
        [f"{n}.{ext}" for n in names for ext in ("csv", "parquet")]
        + ["codesystem.json", "datapackage.json", "manifest.json", "report.html", "report.md"]
    )

    manifest = json.loads((version_dir / "manifest.json").read_text())
    release = samples / "cpt-2025"
    members = {role: next(release.rglob(globs[0])) for role, (globs, _, _) in FILES.items()}
    encodings = {
        "longult": "cp1252",
        "medu": "cp1252",
        "shortu": "cp1252",
        "consumer": "utf-8-sig",
        "clinician": "utf-8",
        "pla": "utf-8",
        "history": "cp1252",
        "deleted": "cp1252",
    }
    catalog = pd.read_csv(version_dir / "catalog.csv", dtype=str, keep_default_na=False)
    changes = pd.read_csv(version_dir / "changes.csv", dtype=str, keep_default_na=False)
    details = pd.read_csv(version_dir / "clinician_descriptors.csv", dtype=str)
    content = hashlib.sha256(
        "\n".join(sorted(f"{role}:{sha256(path)}" for role, path in members.items())).encode()
    ).hexdigest()
    assert manifest == {
        "codeset": "cpt",
        "version": "2025",
        "effective_date": "2025-01-01",
        "previous_version": "2024",
        "schema_version": 2,
        "tool_version": version("codecatalog"),
        "created_at": "2026-01-02T06:30:00+00:00",  # conftest.LOADED_AT, the injected clock
        "content_sha256": content,
        "licence": ["AMA"],  # declared in config/sources.toml
        "inputs": [
            {
                "role": role,
                "member": path.relative_to(release).as_posix(),
                "sha256": sha256(path),
                "size": path.stat().st_size,
                "encoding": encodings[role],
            }
            for role, path in members.items()
        ],
        "row_counts": {
            "catalog": len(catalog),
            "clinician_descriptors": len(details),
            "changes": len(changes),
        },
        "files": {
            name: {
                "sha256": sha256(version_dir / name),
                "bytes": (version_dir / name).stat().st_size,
            }
            for name in sorted(p.name for p in version_dir.iterdir())
            if name != "manifest.json"
        },
    }
    truth = pd.read_csv(samples / "truth/changes_2024_2025.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(changes, truth)
    assert json.loads((root / "latest.json").read_text()) == {
        "codeset": "cpt",
        "version": "2026",
        "effective_date": "2026-01-01",
        "path": "2026",
        "manifest_sha256": sha256(root / "2026" / "manifest.json"),
    }
    # Loaded on 2026-01-02 (conftest.LOADED_AT): 2026 is also the version in force.
    assert (root / "current.json").read_text() == (root / "latest.json").read_text()


def test_parquet_column_types(loaded_warehouse: Path) -> None:
    version_dir = loaded_warehouse / "published" / "cpt" / "2026"
    catalog = pq.read_schema(version_dir / "catalog.parquet")
    assert [(f.name, str(f.type)) for f in catalog] == [(c, "string") for c in CATALOG_COLUMNS]
    changes = pq.read_schema(version_dir / "changes.parquet")
    assert [(f.name, str(f.type)) for f in changes] == [
        (c, "date32[day]" if c == "effective_date" else "string") for c in CHANGE_COLUMNS
    ]
    details = pq.read_schema(version_dir / "clinician_descriptors.parquet")
    assert details.names == ["code", "clinician_descriptor_id", "clinician_descriptor"]
    parquet = pd.read_parquet(version_dir / "catalog.parquet")
    csv = pd.read_csv(version_dir / "catalog.csv", dtype=str)
    pd.testing.assert_frame_equal(parquet, csv, check_dtype=False)


def test_first_version_has_no_changes(loaded_warehouse: Path) -> None:
    version_dir = loaded_warehouse / "published" / "cpt" / "2024"
    assert pd.read_csv(version_dir / "changes.csv").columns.tolist() == CHANGE_COLUMNS
    assert len(pd.read_csv(version_dir / "changes.csv")) == 0
    assert "first loaded version; no changes to report" in (version_dir / "report.md").read_text()


def test_backfill_never_moves_latest_backwards(samples: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    refresh("cpt", str(samples / "cpt-2024"), "2024", warehouse_dir=wh)
    refresh("cpt", str(samples / "cpt-2026"), "2026", warehouse_dir=wh)
    root = wh / "published" / "cpt"
    published_2026 = tree(root / "2026")
    result = refresh("cpt", str(samples / "cpt-2025"), "2025", warehouse_dir=wh)

    assert (result.outcome, result.latest, result.previous) == ("loaded", "2026", "2024")
    assert json.loads((root / "latest.json").read_text())["version"] == "2026"
    assert tree(root / "2026") == published_2026  # published versions are immutable
    truth = pd.read_csv(samples / "truth/changes_2024_2025.csv", dtype=str, keep_default_na=False)
    published = pd.read_csv(root / "2025/changes.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(published, truth)


def test_same_bytes_again_is_a_no_op(loaded_warehouse: Path, samples: Path) -> None:
    before = tree(loaded_warehouse / "published")
    result = refresh("cpt", str(samples / "cpt-2025"), "2025", warehouse_dir=loaded_warehouse)
    assert result.outcome == "unchanged"
    assert tree(loaded_warehouse / "published") == before
    con = warehouse.open_reader(loaded_warehouse)
    attempts = con.execute(
        "SELECT version, outcome FROM load_attempts ORDER BY attempt_id"
    ).fetchall()
    releases = con.execute("SELECT count(*) FROM releases").fetchone()[0]
    con.close()
    assert attempts == [
        ("2024", "loaded"),
        ("2025", "loaded"),
        ("2026", "loaded"),
        ("2025", "unchanged"),
    ]
    assert releases == 3


def test_annual_and_first_quarter_labels_cannot_both_be_loaded(
    loaded_warehouse: Path, samples: Path
) -> None:
    with pytest.raises(
        VersionError, match="cpt 2026Q1 names the same release as loaded version 2026"
    ):
        refresh("cpt", str(samples / "cpt-2026"), "2026Q1", warehouse_dir=loaded_warehouse)


def test_effective_date_override(samples: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    result = refresh(
        "cpt", str(samples / "cpt-2024"), "2024", warehouse_dir=wh, effective=date(2024, 3, 1)
    )
    manifest = json.loads((result.published / "manifest.json").read_text())
    assert manifest["effective_date"] == "2024-03-01"
    con = warehouse.open_reader(wh)
    assert con.execute("SELECT effective_date FROM releases").fetchall() == [(date(2024, 3, 1),)]
    con.close()
    with pytest.raises(
        VersionError, match="--effective 2025-01-01 is not in version 2024r1's year"
    ):
        refresh(
            "cpt", str(samples / "cpt-2024"), "2024r1", warehouse_dir=wh, effective=date(2025, 1, 1)
        )

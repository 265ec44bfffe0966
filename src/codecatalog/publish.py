"""Publish one version as an immutable directory, then move the `latest.json` pointer atomically.

Layout (DESIGN.md §5): `<root>/<codeset>/<version>/` holding catalog, details, changes (parquet and
csv), report.md and manifest.json; `<root>/<codeset>/latest.json` names the newest version.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import codecatalog

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Publication:
    """What to publish for one version."""

    codeset: str
    version: str
    effective_date: date
    previous_version: str | None
    tables: dict[str, pd.DataFrame]  # file stem -> frame, e.g. catalog, changes
    report_md: str
    inputs: list[dict]  # files read: member, sha256, size, encoding
    content_sha256: str


def publish_version(root: Path, publication: Publication) -> Path:
    """Write the version directory complete under a temporary name, then rename it into place.

    An existing version directory is left untouched (published versions are immutable).
    """
    target = Path(root) / publication.codeset / publication.version
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{publication.version}-", dir=target.parent))
    try:
        for stem, frame in publication.tables.items():
            _write_parquet(frame, staging / f"{stem}.parquet")
            frame.to_csv(staging / f"{stem}.csv", index=False, lineterminator="\n")
        (staging / "report.md").write_text(publication.report_md, encoding="utf-8")
        manifest = {
            "codeset": publication.codeset,
            "version": publication.version,
            "effective_date": publication.effective_date.isoformat(),
            "previous_version": publication.previous_version,
            "schema_version": SCHEMA_VERSION,
            "tool_version": codecatalog.__version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "content_sha256": publication.content_sha256,
            "inputs": publication.inputs,
            "row_counts": {stem: len(frame) for stem, frame in publication.tables.items()},
            "files": {
                name: {"sha256": _sha256(staging / name), "bytes": (staging / name).stat().st_size}
                for name in sorted(p.name for p in staging.iterdir())
            },
        }
        _write_json(staging / "manifest.json", manifest)
        staging.chmod(0o755)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def point_latest(root: Path, codeset: str, version: str, effective_date: date) -> Path:
    """Atomically replace `<root>/<codeset>/latest.json` to name `version`."""
    path = Path(root) / codeset / "latest.json"
    manifest = Path(root) / codeset / version / "manifest.json"
    pointer = {
        "codeset": codeset,
        "version": version,
        "effective_date": effective_date.isoformat(),
        "path": version,
        "manifest_sha256": _sha256(manifest),
    }
    staging = path.with_name(f".latest-{os.getpid()}.json")
    _write_json(staging, pointer)
    os.replace(staging, path)
    return path


def read_latest(root: Path, codeset: str) -> dict | None:
    """The current `latest.json` pointer, or None before the first publication."""
    path = Path(root) / codeset / "latest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def arrow_schema(frame: pd.DataFrame) -> pa.Schema:
    """The published column types: text everywhere, except `effective_date` (a date)."""
    return pa.schema(
        [(c, pa.date32() if c == "effective_date" else pa.string()) for c in frame.columns]
    )


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, schema=arrow_schema(frame), preserve_index=False)
    pq.write_table(table, path)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

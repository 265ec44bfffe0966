"""Publish one version as an immutable directory, then move the `latest.json` pointer atomically.

Layout (DESIGN.md §5): `<root>/<codeset>/<version>/` holding catalog, details, changes (parquet and
csv), report.md and report.html, any extra JSON documents (`codesystem.json`), datapackage.json
(a Frictionless Data Package describing every file, with a Table Schema per table) and
manifest.json;
`<root>/<codeset>/latest.json` names the newest loaded version, `current.json` the newest one in
force (by effective date) when it was last written; neither names a retracted version, which
`retractions.json` lists beside them. `codecatalog.published` reads them back.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

import codecatalog
from codecatalog.errors import WarehouseUnusable
from codecatalog.files import replace_text, sha256_of
from codecatalog.sql import first
from codecatalog.writer import describe

if TYPE_CHECKING:
    from codecatalog.warehouse import Retraction

# 2: datapackage.json, extra documents (codesystem.json), findings, composite-key catalogs.
# Directories published under 1 are never rewritten; `codecatalog.published` reads both.
SCHEMA_VERSION = 2

DATAPACKAGE = "datapackage.json"
PACKAGE_PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"
RESOURCE_PROFILE = "https://datapackage.org/profiles/2.0/dataresource.json"
TABLE_SCHEMA_PROFILE = "https://datapackage.org/profiles/2.0/tableschema.json"
DIALECT_PROFILE = "https://datapackage.org/profiles/2.0/tabledialect.json"
# How DuckDB's `COPY … (FORMAT csv, HEADER)` writes (UTF-8, `"` doubled inside quotes, NULL as an
# empty unquoted cell, an empty string as `""`).
CSV_DIALECT = {
    "$schema": DIALECT_PROFILE,
    "header": True,
    "delimiter": ",",
    "lineTerminator": "\n",
    "quoteChar": '"',
    "doubleQuote": True,
}
PARQUET_MEDIATYPE = "application/vnd.apache.parquet"


@dataclass(frozen=True)
class Publication:
    """What to publish for one version."""

    codeset: str
    version: str
    effective_date: date
    previous_version: str | None
    tables: dict[str, str]  # file stem -> SQL query on the writer connection (catalog, changes…)
    report_md: str
    inputs: list[dict[str, Any]]  # files read: member, sha256, size, encoding
    content_sha256: str
    code_set_versions: dict[str, str | None] | None = None  # findings: code-set versions used
    licence: tuple[str, ...] = ()  # licensed text the files carry (`AMA`, `ADA`)
    release_values: dict[str, str | None] | None = None  # values stated once for the release
    # table stem -> its primary key columns (`catalog`: the source's key), in datapackage.json
    keys: dict[str, list[str]] = field(default_factory=dict)
    # extra JSON files written as `<name>` (e.g. `codesystem.json`), listed and hashed like the rest
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    report_html: str | None = None  # the change report as one self-contained page


def version_dir(root: Path, codeset: str, version: str) -> Path:
    """Where a version is published: `<root>/<codeset>/<version>/`."""
    return Path(root) / codeset / version


def remove_partial_versions(root: Path, codeset: str) -> list[Path]:
    """Delete the hidden `.VERSION-xxxx` directories and `.latest-PID.json` files an interrupted
    publish left behind.

    Only safe while holding the warehouse's writer lock (no other publish can be running).
    """
    parent = Path(root) / codeset
    stale = sorted(parent.glob(".*-*")) if parent.is_dir() else []
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return stale


def stage_version(
    con: duckdb.DuckDBPyConnection, root: Path, publication: Publication, created_at: datetime
) -> Path:
    """Write the version directory complete under a hidden temporary name; return that name.

    Each table is written by DuckDB (`COPY … TO`) as Parquet and CSV: text columns, except
    dates (`effective_date`, `retired_on`) which stay dates in Parquet. Then the extra documents,
    datapackage.json (built from the same DESCRIBE of each table's query that chose the column
    types, so it cannot drift from the files) and manifest.json, which lists every other file.

    `place_version` renames it into place. Nothing is left behind when writing fails.
    """
    parent = Path(root) / publication.codeset
    reserved = {"report.md", "report.html", DATAPACKAGE, "manifest.json"} | {
        f"{stem}{suffix}" for stem in publication.tables for suffix in (".parquet", ".csv")
    }
    for name in publication.documents:
        if name in reserved or not name.endswith(".json") or Path(name).name != name:
            raise ValueError(f"document name {name!r}: a new *.json file name is needed")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{publication.version}-", dir=parent))
    except OSError as err:
        raise WarehouseUnusable(f"cannot publish into {parent}: {describe(err)}") from None
    try:
        # Each file is hashed in a thread while DuckDB writes the next one.
        with ThreadPoolExecutor(max_workers=1) as pool:
            digests: dict[str, Future[str]] = {}

            def written(path: Path) -> None:
                digests[path.name] = pool.submit(sha256_of, path)

            copied = {
                stem: _copy(con, query, staging / stem, written)
                for stem, query in publication.tables.items()
            }
            (staging / "report.md").write_text(publication.report_md, encoding="utf-8")
            written(staging / "report.md")
            if publication.report_html is not None:
                (staging / "report.html").write_text(publication.report_html, encoding="utf-8")
                written(staging / "report.html")
            for name, document in publication.documents.items():
                _write_json(staging / name, document)
                written(staging / name)
            sha256 = {name: digest.result() for name, digest in digests.items()}
        package = datapackage(
            publication, {stem: columns for stem, (_, columns) in copied.items()}, created_at
        )
        for resource in package["resources"]:
            path = staging / resource["path"]
            resource["bytes"] = path.stat().st_size
            resource["hash"] = f"sha256:{sha256[path.name]}"
        _write_json(staging / DATAPACKAGE, package)
        sha256[DATAPACKAGE] = sha256_of(staging / DATAPACKAGE)
        manifest = {
            "codeset": publication.codeset,
            "version": publication.version,
            "effective_date": publication.effective_date.isoformat(),
            "previous_version": publication.previous_version,
            "schema_version": SCHEMA_VERSION,
            "tool_version": codecatalog.__version__,
            "created_at": timestamp(created_at),
            "content_sha256": publication.content_sha256,
            "licence": list(publication.licence),
            "inputs": publication.inputs,
            "row_counts": {stem: rows for stem, (rows, _) in copied.items()},
            **(
                {"release_values": publication.release_values}
                if publication.release_values is not None
                else {}
            ),
            **(
                {"code_set_versions": publication.code_set_versions}
                if publication.code_set_versions is not None
                else {}
            ),
            "files": {
                name: {"sha256": sha256[name], "bytes": (staging / name).stat().st_size}
                for name in sorted(p.name for p in staging.iterdir())
            },
        }
        _write_json(staging / "manifest.json", manifest)
        staging.chmod(0o755)
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(err, OSError):
            raise WarehouseUnusable(f"cannot publish into {parent}: {describe(err)}") from None
        raise
    return staging


Columns = list[tuple[str, str]]  # a published table's columns: name, Table Schema type


def datapackage(
    publication: Publication, columns: dict[str, Columns], created_at: datetime
) -> dict[str, Any]:
    """The Frictionless Data Package (v2) describing a version directory, without each
    resource's `bytes` and `hash` (`stage_version` adds them once the files are written).

    Every table is two resources with one Table Schema: `<stem>`, the CSV (what any Frictionless
    tool validates and reads), and `<stem>-parquet`, the same rows as Parquet. Both are listed, not
    one as an "alternative" of the other, because the standard has no such notion: a reader that
    wants Parquet finds it by name and format, a CSV-only tool still sees a plain tabular
    resource. The documents and report.md are non-tabular resources. A missing value is an empty
    CSV cell (`missingValues: [""]`); DuckDB writes an empty string as a quoted `""`.
    """
    resources: list[dict[str, Any]] = []
    for stem, table in columns.items():
        schema: dict[str, Any] = {
            "$schema": TABLE_SCHEMA_PROFILE,
            "fields": [{"name": name, "type": kind} for name, kind in table],
        }
        key = publication.keys.get(stem)
        if key:
            unknown = [k for k in key if k not in dict(table)]
            if unknown:
                raise ValueError(f"primary key of {stem}: no column {', '.join(unknown)}")
            schema["primaryKey"] = list(key)
        schema["missingValues"] = [""]
        resources.append(
            {
                "$schema": RESOURCE_PROFILE,
                "name": stem,
                "type": "table",
                "path": f"{stem}.csv",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "dialect": CSV_DIALECT,
                "schema": schema,
            }
        )
        resources.append(
            {
                "$schema": RESOURCE_PROFILE,
                "name": f"{stem}-parquet",
                "type": "table",
                "path": f"{stem}.parquet",
                "format": "parquet",
                "mediatype": PARQUET_MEDIATYPE,
                "schema": schema,
            }
        )
    for name in publication.documents:
        resources.append(
            {
                "$schema": RESOURCE_PROFILE,
                "name": _resource_name(Path(name).stem),
                "path": name,
                "format": "json",
                "mediatype": "application/json",
                "encoding": "utf-8",
            }
        )
    resources.append(
        {
            "$schema": RESOURCE_PROFILE,
            "name": "report",
            "path": "report.md",
            "format": "md",
            "mediatype": "text/markdown",
            "encoding": "utf-8",
        }
    )
    if publication.report_html is not None:
        resources.append(
            {
                "$schema": RESOURCE_PROFILE,
                "name": "report-html",
                "path": "report.html",
                "format": "html",
                "mediatype": "text/html",
                "encoding": "utf-8",
            }
        )
    return {
        "$schema": PACKAGE_PROFILE,
        "name": _resource_name(f"{publication.codeset}-{publication.version}"),
        "version": publication.version,
        "created": timestamp(created_at),
        "resources": resources,
    }


def _resource_name(text: str) -> str:
    """A Data Package name (`^[-a-z0-9._/]+$`): lower case, anything else as `-`."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-._/") else "-" for c in text.lower())


def timestamp(moment: datetime) -> str:
    """A naive UTC time as published: ISO 8601 to the second, with its offset (`+00:00`)."""
    return moment.replace(tzinfo=UTC).isoformat(timespec="seconds")


def place_version(staging: Path, target: Path) -> Path:
    """Rename a staged directory into place; an existing version directory is never replaced."""
    if target.exists():
        shutil.rmtree(staging, ignore_errors=True)
        return target
    os.replace(staging, target)
    return target


LATEST, CURRENT = "latest", "current"  # the pointers: newest loaded, newest in force


def point_latest(
    root: Path, codeset: str, version: str, effective_date: date, pointer: str = LATEST
) -> Path:
    """Atomically replace `<root>/<codeset>/<pointer>.json` (`latest` or `current`) to name
    `version`."""
    path = Path(root) / codeset / f"{pointer}.json"
    manifest = Path(root) / codeset / version / "manifest.json"
    data = {
        "codeset": codeset,
        "version": version,
        "effective_date": effective_date.isoformat(),
        "path": version,
        "manifest_sha256": sha256_of(manifest),
    }
    return _replace_json(path, data)


def _replace_json(path: Path, data: dict[str, Any] | list[Any]) -> Path:
    """`data` as `path`, atomically (`files.replace_text`); WarehouseUnusable when it fails."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_text(path, json.dumps(data, indent=2) + "\n")
    except OSError as err:
        raise WarehouseUnusable(f"cannot write {path}: {describe(err)}") from None
    return path


def remove_pointer(root: Path, codeset: str, pointer: str = LATEST) -> bool:
    """Remove `<root>/<codeset>/<pointer>.json` (no version to name); return whether it existed."""
    path = Path(root) / codeset / f"{pointer}.json"
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as err:
        raise WarehouseUnusable(f"cannot remove {path}: {describe(err)}") from None
    return True


RETRACTIONS = "retractions.json"  # beside latest.json: the versions taken out of service


def write_retractions(root: Path, codeset: str, retracted: Sequence[Retraction]) -> Path:
    """Atomically replace `<root>/<codeset>/retractions.json` with the list of `retracted`
    versions, in that order: {version, retracted_at (UTC, ISO 8601), retracted_by, reason}."""
    entries = [
        {
            "version": r.version,
            "retracted_at": timestamp(r.retracted_at),
            "retracted_by": r.retracted_by,
            "reason": r.reason,
        }
        for r in retracted
    ]
    return _replace_json(Path(root) / codeset / RETRACTIONS, entries)


def read_latest(root: Path, codeset: str, pointer: str = LATEST) -> dict[str, Any] | None:
    """The current `latest.json` (or `current.json`) pointer, or None before there is one."""
    path = Path(root) / codeset / f"{pointer}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _copy(
    con: duckdb.DuckDBPyConnection, query: str, stem: Path, written: Callable[[Path], None]
) -> tuple[int, Columns]:
    """Write the rows of `query` to `<stem>.parquet`, then that file to `<stem>.csv` (one
    evaluation of the query, order kept), calling `written` with each file; return the rows and
    the columns as published (dates stay dates, everything else becomes text)."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW _published AS {query}")
    described = con.execute("DESCRIBE _published").fetchall()
    published: Columns = [
        (name, "date" if kind == "DATE" else "string") for name, kind, *_ in described
    ]
    columns = ", ".join(
        f'"{name}"' if kind == "date" else f'CAST("{name}" AS VARCHAR) AS "{name}"'
        for name, kind in published
    )
    parquet, csv = _path(stem, ".parquet"), _path(stem, ".csv")
    copied = first(
        con.execute(f"COPY (SELECT {columns} FROM _published) TO '{parquet}' (FORMAT parquet)")
    )
    written(stem.with_name(stem.name + ".parquet"))
    con.execute(f"COPY (FROM read_parquet('{parquet}')) TO '{csv}' (FORMAT csv, HEADER)")
    written(stem.with_name(stem.name + ".csv"))
    con.execute("DROP VIEW _published")
    return (int(copied[0]) if copied else 0), published


def _write_json(path: Path, data: dict[str, Any] | list[Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _path(stem: Path, suffix: str) -> str:
    """A file path as a SQL string literal's content."""
    return str(stem.with_name(stem.name + suffix)).replace("'", "''")

"""Read a published version directory back, after checking it against its manifest.

    from codecatalog.published import open_version

    cpt = open_version(Path("warehouse/published"), "cpt")          # or "2025", "current"
    cpt.tables                      # ('catalog', 'clinician_descriptors', 'changes')
    cpt.frame("changes")            # pandas, from Parquet; effective_date as datetime.date
    cpt.arrow("catalog")            # pyarrow.Table
    cpt.frame("changes", from_csv=True)   # the CSV, typed by datapackage.json

`open_version` checks every file the manifest lists (present, size, sha256) before it returns, and
raises `PublishedError` naming the file when one is missing or differs. It reads directories
published under `schema_version` 1 (no datapackage.json: the CSV takes its types from the Parquet
file's schema) and 2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from codecatalog.errors import CodecatalogError
from codecatalog.files import sha256_of

SCHEMA_VERSIONS = (1, 2)  # the manifest `schema_version`s this reader understands
POINTERS = ("latest", "current")
DATAPACKAGE = "datapackage.json"
MANIFEST = "manifest.json"
# Table Schema type -> Arrow type (the published tables use `string` and `date` only).
ARROW_TYPES = {"string": pa.string(), "date": pa.date32()}


class PublishedError(CodecatalogError):
    """A published version cannot be read: unknown source or version, or a directory that does
    not match its manifest (a file missing, changed or cut short)."""


@dataclass(frozen=True)
class PublishedVersion:
    """One published version directory, checked against its manifest when opened."""

    path: Path
    manifest: dict[str, Any]
    datapackage: dict[str, Any] | None  # None for schema_version 1

    @property
    def source(self) -> str:
        return str(self.manifest["codeset"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def schema_version(self) -> int:
        return int(self.manifest["schema_version"])

    @property
    def tables(self) -> tuple[str, ...]:
        """The published tables, in the order they were written (`catalog` first)."""
        return tuple(self.manifest.get("row_counts", {}))

    def table_schema(self, name: str) -> dict[str, Any]:
        """The table's Table Schema: from datapackage.json, or (schema_version 1) made from the
        Parquet file's column types."""
        self._check_table(name)
        if self.datapackage is not None:
            for resource in self.datapackage["resources"]:
                if resource.get("path") == f"{name}.csv":
                    return dict(resource["schema"])
            raise PublishedError(f"{self._where()}: {DATAPACKAGE} does not describe {name}.csv")
        fields = [
            {"name": f.name, "type": "date" if pa.types.is_date(f.type) else "string"}
            for f in pq.read_schema(self.path / f"{name}.parquet")
        ]
        return {"fields": fields, "missingValues": [""]}

    def arrow(self, name: str, *, from_csv: bool = False) -> pa.Table:
        """The table as an Arrow table, from Parquet or (`from_csv`) from the CSV file."""
        self._check_table(name)
        if not from_csv:
            return pq.read_table(self.path / f"{name}.parquet")
        fields = self.table_schema(name)["fields"]
        types = {f["name"]: ARROW_TYPES.get(f.get("type", "string"), pa.string()) for f in fields}
        # DuckDB writes NULL as an empty cell and an empty string as `""`: keep them apart, as
        # the Parquet file does.
        table = pa_csv.read_csv(
            self.path / f"{name}.csv",
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
        if table.column_names != list(types):
            raise PublishedError(
                f"{self._where()}: {name}.csv has the columns {', '.join(table.column_names)}; "
                f"its schema says {', '.join(types)}"
            )
        return table

    def frame(self, name: str, *, from_csv: bool = False) -> pd.DataFrame:
        """The table as a pandas DataFrame (dates as `datetime.date`), from Parquet or
        (`from_csv`) from the CSV file typed by the table's schema."""
        frame: pd.DataFrame = self.arrow(name, from_csv=from_csv).to_pandas()
        return frame

    def _check_table(self, name: str) -> None:
        if name not in self.tables:
            raise PublishedError(
                f"{self._where()} has no table {name!r} (tables: {', '.join(self.tables)})"
            )

    def _where(self) -> str:
        return f"published {self.source} {self.version}"


def open_version(root: Path, source: str, version: str = "latest") -> PublishedVersion:
    """Open `<root>/<source>/<version>/` after checking every file its manifest lists.

    `root` is the published directory (`warehouse/published`) or the warehouse directory holding
    it; `version` a published version, or `latest` / `current` to follow that pointer file.
    """
    parent = _source_dir(Path(root), source)
    pointer_sha256 = None
    if version in POINTERS:
        pointer = _read_json(parent / f"{version}.json", f"{source} {version}.json")
        version, pointer_sha256 = str(pointer.get("path", "")), pointer.get("manifest_sha256")
    path = parent / version
    if not _plain_name(version) or not path.is_dir():
        published = sorted(
            p.name for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
        raise PublishedError(
            f"{source} has no published version {version} (published: "
            f"{', '.join(published) or 'none'})"
        )
    where = f"published {source} {version}"
    manifest = _read_json(path / MANIFEST, f"{where}: {MANIFEST}")
    if pointer_sha256 is not None and sha256_of(path / MANIFEST) != pointer_sha256:
        raise PublishedError(f"{where}: {MANIFEST} does not match the pointer that names it")
    schema_version = manifest.get("schema_version")
    if schema_version not in SCHEMA_VERSIONS:
        raise PublishedError(
            f"{where}: published under schema_version {schema_version}; this codecatalog reads "
            f"{' and '.join(str(v) for v in SCHEMA_VERSIONS)}"
        )
    _verify(path, manifest, where)
    files = manifest["files"]
    if schema_version >= 2 and DATAPACKAGE not in files:
        raise PublishedError(f"{where}: {DATAPACKAGE} is not listed in {MANIFEST}")
    package = (
        _read_json(path / DATAPACKAGE, f"{where}: {DATAPACKAGE}") if schema_version >= 2 else None
    )
    for table in manifest.get("row_counts", {}):
        for suffix in (".parquet", ".csv"):
            if f"{table}{suffix}" not in files:
                raise PublishedError(f"{where}: {table}{suffix} is not listed in {MANIFEST}")
    return PublishedVersion(path, manifest, package)


def _source_dir(root: Path, source: str) -> Path:
    """`<root>/<source>`, or `<root>/published/<source>` when `root` is a warehouse directory."""
    for parent in (root / source, root / "published" / source):
        if _plain_name(source) and parent.is_dir():
            return parent
    raise PublishedError(f"no published source {source!r} under {root}")


def _verify(path: Path, manifest: dict[str, Any], where: str) -> None:
    """Every file the manifest lists is present with its size and sha256."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise PublishedError(f"{where}: {MANIFEST} lists no files")
    for name, expected in files.items():
        file = path / name
        if not isinstance(expected, dict):
            raise PublishedError(f"{where}: {MANIFEST} gives no sha256 and size for {name}")
        if not _plain_name(name) or not file.is_file():
            raise PublishedError(f"{where}: {name} is missing (listed in {MANIFEST})")
        size = file.stat().st_size
        if size != expected.get("bytes"):
            raise PublishedError(
                f"{where}: {name} has {size} bytes, {MANIFEST} says {expected.get('bytes')}"
            )
    for name, expected in files.items():
        if sha256_of(path / name) != expected.get("sha256"):
            raise PublishedError(f"{where}: {name} does not match its sha256 in {MANIFEST}")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PublishedError(f"{what} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PublishedError(f"{what} cannot be read: {err}") from None
    if not isinstance(data, dict):
        raise PublishedError(f"{what} is not a JSON object")
    return data


def _plain_name(name: str) -> bool:
    """A file or directory name inside its parent (no separators, not hidden)."""
    return bool(name) and Path(name).name == name and not name.startswith(".")

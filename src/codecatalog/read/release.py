"""What every reader produces: tables with the lines they came from, and the release they form."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from codecatalog.errors import Failure

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Skipped:
    """Lines a reader passed over, and why."""

    file: str
    lines: int
    reason: str
    text: str = ""


@dataclass(frozen=True)
class Table:
    """One file's rows (with a `line` column) plus what was skipped to get to them."""

    file: str
    frame: pd.DataFrame
    skipped: Skipped | None = None


@dataclass(frozen=True)
class SourceFile:
    """A file a release was read from: its path inside the release, sha256, size and encoding."""

    role: str
    member: str
    sha256: str
    size: int
    encoding: str


@dataclass(frozen=True)
class Evidence:
    """What a read file states about its release, for the stated-version checks: its display
    name, its innermost file name, the sheet read (xlsx) and the non-empty cell texts of the
    rows above its header, in order."""

    file: str
    name: str
    sheet: str | None
    preamble: tuple[str, ...]


@dataclass
class Release:
    """Everything read from one release, before validation.

    `stated_year` is the year the release says it is for, read from `year_source` (a member).
    `database` is the staging DuckDB file a `table` family release was read into (its rows are
    in table `catalog` there, not in `tables`); `evidence` what each of its files states.
    """

    name: str
    files: dict[str, SourceFile]
    tables: dict[str, Table]
    stated_year: int | None = None
    year_source: str | None = None
    warnings: list[Failure] = field(default_factory=list)
    database: Path | None = None
    evidence: list[Evidence] = field(default_factory=list)  # one per read file (table family)

    @property
    def content_sha256(self) -> str:
        """Identity of the release's content: sha256 over its files' roles and hashes."""
        parts = sorted(f"{f.role}:{f.sha256}" for f in self.files.values())
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def source_file(role: str, member: str, data: bytes, encoding: str) -> SourceFile:
    """Describe one input file by its bytes."""
    return SourceFile(role, member, hashlib.sha256(data).hexdigest(), len(data), encoding)

"""A release as delivered — a directory or a zip opened in place — and how its files are found."""

from __future__ import annotations

import fnmatch
import hashlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from codecatalog.errors import SourceLayoutError


@dataclass
class ReleaseArchive:
    """Read-only view of the files of one release, keyed by their path inside it."""

    location: Path
    _zip: zipfile.ZipFile | None = field(default=None, repr=False)

    @classmethod
    def open(cls, location: Path) -> ReleaseArchive:
        """Open a release directory, a zip (not extracted) or a single release file."""
        location = Path(location)
        if location.is_dir():
            return cls(location)
        if location.suffix.casefold() == ".zip":
            if not zipfile.is_zipfile(location):
                raise SourceLayoutError(str(location), "is not a valid zip archive")
            return cls(location, zipfile.ZipFile(location))
        if location.is_file():
            return cls(location)
        raise SourceLayoutError(str(location), "no such file or directory")

    @property
    def name(self) -> str:
        """The release's file or directory name, for messages."""
        return self.location.name

    def members(self) -> list[str]:
        """Every file in the release, as POSIX paths relative to its root, sorted."""
        if self._zip is not None:
            return sorted(i.filename for i in self._zip.infolist() if not i.is_dir())
        if self.location.is_file():
            return [self.location.name]
        return sorted(
            p.relative_to(self.location).as_posix() for p in self.location.rglob("*") if p.is_file()
        )

    def read_bytes(self, member: str) -> bytes:
        """The raw bytes of one member."""
        if self._zip is not None:
            return self._zip.read(member)
        if self.location.is_file():
            return self.location.read_bytes()
        return (self.location / member).read_bytes()

    def find(self, *patterns: str, required: bool = True) -> str | None:
        """The one member whose file name matches any of `patterns` (case-insensitive globs).

        Raises SourceLayoutError when a required file is missing or two files could play the role.
        """
        wanted = [p.casefold() for p in patterns]
        hits = [
            m
            for m in self.members()
            if any(fnmatch.fnmatch(PurePosixPath(m).name.casefold(), p) for p in wanted)
        ]
        role = " or ".join(repr(p) for p in patterns)
        if len(hits) > 1:
            raise SourceLayoutError(self.name, f"two candidates for {role}: {', '.join(hits)}")
        if not hits and required:
            raise SourceLayoutError(self.name, f"required file {role} not found")
        return hits[0] if hits else None

    def sha256(self, member: str) -> str:
        """sha256 hex digest of one member's bytes."""
        return hashlib.sha256(self.read_bytes(member)).hexdigest()

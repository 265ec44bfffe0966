"""A release as delivered — a directory or a zip opened in place — and how its files are found.

Reading is guarded against hostile or broken deliveries: a zip member whose name climbs out of
the archive (``../x``, ``/etc/x``, ``C:\\x``, ``..\\x``) is refused when the zip is opened; a
member larger than the size cap (``CODECATALOG_MAX_MEMBER_BYTES``, default 1 GiB) or compressed
far beyond what real release text allows (a zip bomb) is refused before it fills memory; in a
release directory, a symlink that leads outside the directory is refused when read.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from codecatalog.errors import SourceLayoutError, UsageError

MAX_MEMBER_BYTES_ENV = "CODECATALOG_MAX_MEMBER_BYTES"
DEFAULT_MAX_MEMBER_BYTES = 1024**3
# Real release text deflates 20–50× (the CMS zips at most 30×); a member packed 200× smaller than
# it unpacks is a bomb (zeros deflate about 1000×).
DEFAULT_MAX_COMPRESSION_RATIO = 200.0
# ... once it is this large unpacked (tiny members can legitimately compress absurdly well).
DEFAULT_RATIO_MIN_BYTES = 4 * 1024 * 1024
_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


def max_member_bytes_from_env() -> int:
    """The size cap from ``CODECATALOG_MAX_MEMBER_BYTES`` (bytes), else 1 GiB.

    Raises:
        UsageError: The variable is set but is not a positive whole number of bytes.
    """
    raw = os.environ.get(MAX_MEMBER_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_MEMBER_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(f"{MAX_MEMBER_BYTES_ENV}={raw!r} is not a positive number of bytes")
    return value


# A corrupt (bad CRC, truncated) or encrypted member, or an unsupported compression method.
_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


def _climbs_out(name: str) -> bool:
    """Whether a member name is absolute or steps above the archive root (either separator)."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return True
    return ".." in re.split(r"[/\\]", name)


@dataclass
class ReleaseArchive:
    """Read-only view of the files of one release, keyed by their path inside it.

    Attributes:
        location: The release directory, zip or single file.
        max_member_bytes: Largest member (uncompressed) or file read, in bytes; None takes
            ``CODECATALOG_MAX_MEMBER_BYTES`` or 1 GiB.
        max_compression_ratio: Largest uncompressed/compressed ratio accepted for a zip member
            of at least ``ratio_min_bytes`` uncompressed.
        ratio_min_bytes: Members smaller than this are not held to the ratio.
    """

    location: Path
    _zip: zipfile.ZipFile | None = field(default=None, repr=False)
    max_member_bytes: int | None = None
    max_compression_ratio: float = DEFAULT_MAX_COMPRESSION_RATIO
    ratio_min_bytes: int = DEFAULT_RATIO_MIN_BYTES
    outer: str | None = None  # a nested zip: its display name in the release that holds it

    def __post_init__(self) -> None:
        if self.max_member_bytes is None:
            self.max_member_bytes = max_member_bytes_from_env()

    @classmethod
    def open(
        cls,
        location: Path,
        *,
        max_member_bytes: int | None = None,
        max_compression_ratio: float = DEFAULT_MAX_COMPRESSION_RATIO,
        ratio_min_bytes: int = DEFAULT_RATIO_MIN_BYTES,
    ) -> ReleaseArchive:
        """Open a release directory, a zip (not extracted) or a single release file.

        Args:
            location: The release.
            max_member_bytes: Size cap in bytes; None takes ``CODECATALOG_MAX_MEMBER_BYTES``
                or 1 GiB.
            max_compression_ratio: See the class attributes.
            ratio_min_bytes: See the class attributes.

        Raises:
            SourceLayoutError: Missing, not a valid zip, or a zip member whose name climbs out of
                the archive.
            UsageError: ``CODECATALOG_MAX_MEMBER_BYTES`` is not a positive number.
        """
        location = Path(location)

        def make(zf: zipfile.ZipFile | None = None) -> ReleaseArchive:
            return cls(location, zf, max_member_bytes, max_compression_ratio, ratio_min_bytes)

        if location.is_dir():
            return make()
        if location.suffix.casefold() == ".zip":
            if not zipfile.is_zipfile(location):
                raise SourceLayoutError(str(location), "is not a valid zip archive")
            try:
                zf = zipfile.ZipFile(location)
            except (zipfile.BadZipFile, OSError) as e:
                raise SourceLayoutError(str(location), f"is not a valid zip archive: {e}") from e
            bad = [i.filename for i in zf.infolist() if _climbs_out(i.filename)]
            if bad:
                zf.close()
                raise SourceLayoutError(
                    str(location),
                    f"member {bad[0]!r} climbs out of the archive (absolute path or '..')",
                )
            return make(zf)
        if location.is_file():
            return make()
        raise SourceLayoutError(str(location), "no such file or directory")

    @property
    def name(self) -> str:
        """The release's file or directory name (a nested zip's display name), for messages."""
        return self.outer if self.outer is not None else self.location.name

    @property
    def _where(self) -> str:
        """The archive in messages: its path, or a nested zip's display name."""
        return self.outer if self.outer is not None else str(self.location)

    @property
    def _cap(self) -> int:
        assert self.max_member_bytes is not None  # set by __post_init__
        return self.max_member_bytes

    def members(self) -> list[str]:
        """Every file in the release, as POSIX paths relative to its root, sorted."""
        if self._zip is not None:
            return sorted(i.filename for i in self._zip.infolist() if not i.is_dir())
        if self.location.is_file():
            return [self.location.name]
        return sorted(
            p.relative_to(self.location).as_posix() for p in self.location.rglob("*") if p.is_file()
        )

    def display_name(self, member: str) -> str:
        """A member's name in messages: `zip!member` inside a zip, else its path in the release;
        inside a nested zip `outer.zip!inner.zip!member` (or `dir/inner.zip!member`)."""
        return f"{self.name}!{member}" if self._zip is not None else member

    def is_nested_zip(self, member: str) -> bool:
        """Whether a member is a zip of further files (by name: `.zip`; a workbook is not)."""
        return PurePosixPath(member).suffix.casefold() == ".zip"

    @contextmanager
    def open_nested(self, member: str, folder: Path) -> Iterator[ReleaseArchive]:
        """A member that is itself a zip, opened as an archive (one level: what it holds is read
        as members, zips inside it are not opened). Inside a zip the member is copied to
        `folder` first (size cap and compression ratio enforced); the copy is removed after.

        Raises:
            SourceLayoutError: Over the cap, not a valid zip, or a member climbing out of it.
        """
        outer = self.display_name(member)
        copy: Path | None = None
        with self.open_member(member) as (chunks, path):
            if path is None:
                holder = Path(tempfile.mkdtemp(prefix=".nested-", dir=folder))
                copy = holder / PurePosixPath(member).name
                with copy.open("wb") as f:
                    for chunk in chunks:
                        f.write(chunk)
                path = copy
        try:
            if not zipfile.is_zipfile(path):
                raise SourceLayoutError(outer, "is not a valid zip archive")
            try:
                nested = ReleaseArchive.open(
                    path,
                    max_member_bytes=self.max_member_bytes,
                    max_compression_ratio=self.max_compression_ratio,
                    ratio_min_bytes=self.ratio_min_bytes,
                )
            except SourceLayoutError as e:
                raise SourceLayoutError(outer, e.problem) from e
            nested.outer = outer
            try:
                yield nested
            finally:
                if nested._zip is not None:
                    nested._zip.close()
        finally:
            if copy is not None:
                shutil.rmtree(copy.parent, ignore_errors=True)

    def read_bytes(self, member: str) -> bytes:
        """The raw bytes of one member, refused past the size cap or the compression ratio.

        Raises:
            SourceLayoutError: The member is over the cap (declared or actually inflated), a zip
                bomb, corrupt, or a symlink leading outside a release directory.
            KeyError: A zip has no such member.
        """
        with self.open_member(member) as (chunks, _):
            return b"".join(chunks)

    @contextmanager
    def open_member(self, member: str) -> Iterator[tuple[Iterator[bytes], Path | None]]:
        """One member's bytes as chunks, refused as soon as they pass the size cap or the
        compression ratio, and its path when it is a file on disk (None inside a zip).

        Raises as `read_bytes` does (while the chunks are read).
        """
        if self._zip is not None:
            info = self._zip.getinfo(member)
            declared, packed = info.file_size, info.compress_size
            if declared > self._cap:
                raise SourceLayoutError(
                    self._where,
                    f"member {member!r} declares {declared} bytes uncompressed, over the limit "
                    f"of {self._cap} bytes ({MAX_MEMBER_BYTES_ENV})",
                )
            self._check_ratio(member, declared, packed, "declares")
            try:
                with self._zip.open(info) as f:
                    yield self._capped(f, member, f"it declares {declared} bytes uncompressed",
                                       packed), None  # fmt: skip
            except (
                zipfile.BadZipFile,
                zlib.error,
                EOFError,
                NotImplementedError,
                RuntimeError,
            ) as e:
                # Corrupt (bad CRC, truncated), encrypted, or an unsupported compression method.
                raise SourceLayoutError(
                    self._where, f"member {member!r} cannot be read: {e}"
                ) from e
            return
        path = self.location if self.location.is_file() else (self.location / member).resolve()
        if not self.location.is_file() and not path.is_relative_to(self.location.resolve()):
            raise SourceLayoutError(
                self._where, f"{member!r} leads outside the release directory (to {path})"
            )
        size = path.stat().st_size
        if size > self._cap:
            raise SourceLayoutError(
                self._where,
                f"{member!r} is {size} bytes, over the limit of {self._cap} bytes "
                f"({MAX_MEMBER_BYTES_ENV})",
            )
        with path.open("rb") as f:
            # The size on disk can be wrong (a file still growing, /proc): stop past the cap.
            yield self._capped(f, member, f"its size on disk is {size} bytes"), path

    def _check_ratio(self, member: str, size: int, packed: int, verb: str) -> None:
        if size < self.ratio_min_bytes or size <= packed * self.max_compression_ratio:
            return
        ratio = size / max(packed, 1)
        raise SourceLayoutError(
            self._where,
            f"member {member!r} {verb} {size} bytes uncompressed from {packed} compressed "
            f"(ratio {ratio:.0f}:1, more than {self.max_compression_ratio:g}:1): "
            "refused as a zip bomb",
        )

    def _capped(
        self, f: IO[bytes], member: str, declared: str, packed: int | None = None
    ) -> Iterator[bytes]:
        """``f`` in chunks, refused as soon as it exceeds the cap or the ratio."""
        total = 0
        while chunk := f.read(min(_CHUNK, self._cap - total + 1)):
            total += len(chunk)
            if total > self._cap:
                raise SourceLayoutError(
                    self._where,
                    f"{member!r} holds more than {self._cap} bytes, the limit "
                    f"({MAX_MEMBER_BYTES_ENV}), although {declared}",
                )
            if packed is not None:
                self._check_ratio(member, total, packed, "inflates to more than")
            yield chunk

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

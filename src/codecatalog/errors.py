"""One exception hierarchy; errors name the file, the line/row, the column and the value."""

from __future__ import annotations

from dataclasses import dataclass


class CodecatalogError(Exception):
    """Base of every error codecatalog raises on purpose."""


def first_line(value: object) -> str:
    """The first line of a text or of an error's message (an error with none: its class name)."""
    text = str(value).strip()
    if text:
        return text.splitlines()[0]
    return type(value).__name__ if isinstance(value, BaseException) else ""


class FetchError(CodecatalogError):
    """A release could not be fetched (HTTP error, truncated body, missing path).

    `transient` says whether trying again later can help: True for connection errors, timeouts,
    a body cut short, HTTP 408, 429 and 5xx; False for a 404 or other 4xx, a missing local path, a
    body that is not a release (an HTML page, an empty body).
    """

    def __init__(self, source: str, problem: str, *, transient: bool = False) -> None:
        self.source, self.problem, self.transient = source, problem, transient
        super().__init__(f"{source}: {problem}")

    def __reduce__(self) -> tuple[object, ...]:
        # Pickle (Prefect may persist a task's exception) keeping `transient`: the default
        # reduction would call __init__ with the message alone.
        return (_fetch_error, (type(self), self.source, self.problem, self.transient))


def _fetch_error(cls: type[FetchError], source: str, problem: str, transient: bool) -> FetchError:
    return cls(source, problem, transient=transient)


class NotFound(FetchError):
    """HTTP 404: nothing at the URL (for a predictable release URL: not posted yet)."""


class SourceLayoutError(CodecatalogError):
    """A release is missing a required file or holds two candidates for one role."""

    def __init__(self, release: str, problem: str) -> None:
        self.release, self.problem = release, problem
        super().__init__(f"{release}: {problem}")


class DecodeError(CodecatalogError):
    """A file's bytes are not acceptable text (bad encoding, control characters, UTF-16/32)."""

    def __init__(self, file: str, byte_offset: int, line: int | None, problem: str) -> None:
        self.file, self.byte_offset, self.line, self.problem = file, byte_offset, line, problem
        where = f"line {line}, " if line is not None else ""
        super().__init__(f"{file}: {where}byte offset {byte_offset}: {problem}")


@dataclass(frozen=True)
class Failure:
    """One validation failure: where it is, which check failed, and the offending value."""

    file: str
    line: int | None
    column: str
    check: str
    value: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        return f"{self.file}: {where}, column {self.column!r}: {self.check} (value {self.value!r})"


def sort_failures(failures: list[Failure]) -> list[Failure]:
    """Distinct failures in file, line, column order."""
    return sorted(set(failures), key=lambda f: (f.file, f.line or 0, f.column, f.check, f.value))


class ValidationFailed(CodecatalogError):
    """A release broke its schemas; carries every failure found (validation is lazy)."""

    def __init__(self, release: str, failures: list[Failure], shown: int = 20) -> None:
        self.release, self.failures = release, failures
        lines = [str(f) for f in failures[:shown]]
        if len(failures) > shown:
            lines.append(f"... and {len(failures) - shown} more")
        super().__init__(
            f"{release}: {len(failures)} validation failure(s)\n  " + "\n  ".join(lines)
        )


class IncompleteRefresh(CodecatalogError):
    """A release was loaded, but placing its version directory or the reader file failed."""


class DeclarationError(CodecatalogError):
    """A source declaration (TOML) or its schema cannot be used; names the file and entry."""


class UnknownSource(CodecatalogError):
    """A source name that no declaration names."""


class UsageError(CodecatalogError):
    """An option value that cannot be used (e.g. an --effective that is not a date)."""


class VersionError(CodecatalogError):
    """A version label is malformed, contradicts the release or conflicts with a loaded one."""


class WarehouseBusy(CodecatalogError):
    """Another process holds the warehouse for writing (and did not let go in time)."""


class WarehouseUnusable(CodecatalogError):
    """The warehouse cannot be opened or written: a file in its place, a read-only or full disk,
    a file that is not a DuckDB database."""


class ReleaseFormatError(CodecatalogError):
    """A file's structure cannot be read at all (header missing, XML not well formed)."""

    def __init__(self, file: str, line: int | None, problem: str) -> None:
        self.file, self.line, self.problem = file, line, problem
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{file}: {where}{problem}")

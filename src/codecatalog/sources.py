"""Source declarations: the built-in `config/sources.toml` plus users' TOML files.

A declaration says how a source's releases are read (its format family), which columns form the
key, which are tracked (descriptors, attributes), how a row retires and which columns hold codes.
Users add sources in their own TOML files (`--sources FILE`, `$CODECATALOG_SOURCES`); every file is
validated when read and a bad one is refused in one line naming the file and the entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, NoReturn

from codecatalog.errors import DeclarationError, UnknownSource

KEY_SEPARATOR = "|"  # composite keys are joined with this in change rows
SOURCES_ENV = "CODECATALOG_SOURCES"  # user declaration files, separated by `:`


@dataclass(frozen=True)
class Detail:
    """Descriptors that come several per key; each is tracked as field `<name>:<id>`."""

    name: str
    id: str
    value: str


@dataclass(frozen=True)
class Column:
    """A `table` source's column: our name, the header(s) the file may write it under, and how
    its values are cleaned (trim -> `nulls` -> `map` -> `pad` -> `decimals`).

    A `part` column holds the release part a row came from; a derived column (`from_column` +
    `extract`) the first group of the regex searched in another column's final value. Neither
    is looked up in the file (`header` is empty).
    """

    name: str
    header: tuple[str, ...]  # alternatives: a file has exactly one (a plain string is accepted)
    pad: int | None = None  # left-pad digit-only values with zeros to this width
    match: str = "exact"  # or "prefix": the file's header starts with the declared one
    optional: bool = False  # a file without the header gives NULL for every row
    nulls: tuple[str, ...] = ()  # values meaning empty (after trimming)
    map: tuple[tuple[str, str], ...] = ()  # value -> value (after `nulls`; "" is a blank cell)
    decimals: int | None = None  # plain decimal numbers rewritten with exactly this many decimals
    position: tuple[int, int] | None = None  # fixed width: 1-based inclusive [start, end]
    part: bool = False  # the value of the release part the row came from (`read.parts`)
    from_column: str | None = None  # derived: the column `extract` is searched in
    extract: str | None = None  # derived: regex whose first group is the value

    def __post_init__(self) -> None:
        header: Any = self.header
        if isinstance(header, str):
            object.__setattr__(self, "header", (header,))
        for name in ("header", "nulls"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "map", tuple((str(k), str(v)) for k, v in self.map))
        if self.position is not None:
            start, end = self.position
            object.__setattr__(self, "position", (int(start), int(end)))

    @property
    def in_file(self) -> bool:
        """Whether the column's values are read from the file (not a part or derived column)."""
        return not self.part and self.from_column is None


@dataclass(frozen=True)
class ReadOptions:
    """How a `table` source's files are read (`[name.read]`)."""

    sheet: str | None = None  # xlsx: the sheet (default: the first)
    header: str | None = None  # the header row is the first row with a cell matching this
    header_rows: int = 1  # stacked header rows joined per column with a space
    members: str | None = None  # glob of archive members to read (default: every table member)
    header_in: str = "first_row"  # or "last_row": the row matching `header` ends the stack
    parts: tuple[tuple[str, str], ...] = ()  # glob of the innermost file name -> part value
    complete_lines: bool = False  # a text file whose last line has no line end is refused
    fixed_width: str | None = None  # glob of members read as fixed-width text (by `position`)
    skip_prefix: str | None = None  # fixed width: lines starting with this are not records
    prefer: tuple[str, ...] = ()  # globs in order: only the files of the first one matching any

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple((str(g), str(v)) for g, v in self.parts))
        object.__setattr__(self, "prefer", tuple(str(g) for g in self.prefer))


@dataclass(frozen=True)
class Retirement:
    """How a row of a `table` source retires: a term-date column and the values meaning active."""

    column: str  # our column name holding the term date
    active: tuple[str, ...] = ("",)  # values meaning "active" (blank cells always do)
    last_valid_day: bool = True  # the date is the last valid day (else the first invalid one)
    date_format: str = "%Y-%m-%d"


LOOKS_FOR = ("next_year", "next_quarter", "this_quarter")  # which release a scheduled run seeks


@dataclass(frozen=True)
class Schedule:
    """When scheduled refreshes of a source look for a release: a cron expression in a timezone,
    and which release a run on a given day looks for (`looks_for`), labelled by `version` (a
    format of that release's effective date: `{year}`, `{quarter}`, `{month:02d}`)."""

    name: str  # the deployment is `<source>-<name>`
    cron: str
    timezone: str = "UTC"
    looks_for: str = "next_quarter"
    version: str = "{year}Q{quarter}"
    drop_folder: str | None = None  # this schedule's own drop folder (else the source's)


@dataclass(frozen=True)
class FetchSpec:
    """Where a scheduled run finds a release: exactly one of a URL template, a landing page whose
    links are matched by `link_pattern` (a regular expression searched in each href), or a drop
    folder a person puts licensed files in (relative to the warehouse directory). The template
    and the pattern are formatted with the release's effective date first: `{year}`, `{yy}`,
    `{quarter}` (1–4), `{quarter_letter}` (a–d), `{month:02d}`, `{month_name}` (`january`);
    a literal brace is doubled."""

    url: str | None = None
    landing_page: str | None = None
    link_pattern: str | None = None
    drop_folder: str | None = None


@dataclass(frozen=True)
class SourceConfig:
    """One source: how it is read, its key columns and which columns the diff tracks."""

    name: str
    title: str
    family: str
    key: tuple[str, ...]
    schema: Path  # resolved schema file
    descriptors: tuple[str, ...]
    attributes: tuple[str, ...]
    detail: Detail | None = None
    add_date: str | None = None  # catalog column with the key's add date (YYYYMMDD)
    term_date: str | None = None  # catalog column with its termination date (last valid day)
    successors: tuple[str, ...] = ()  # columns naming a retired key's successors
    source_action: str | None = "history"  # `history`, a catalog column, or None
    actions: dict[str, tuple[str, ...]] | None = None  # action code -> fields it announces
    # table family
    columns: tuple[Column, ...] = ()
    read: ReadOptions = field(default_factory=ReadOptions)
    retire: Retirement | None = None
    max_vanished: float = 0.10  # share of active keys that may vanish in one release
    code_columns: tuple[str, ...] = ()  # columns holding CPT/HCPCS codes (findings)
    code_sets: tuple[str, ...] = ()  # code sets those codes are looked up in
    release_values: tuple[str, ...] = ()  # columns holding one value for the whole release
    duplicate_keys: str = "refuse"  # or "active_wins": one active row per key wins
    version_check: str | None = None  # stated-version rule (codecatalog.stated_version)
    licence: tuple[str, ...] = ()  # licensed text the source carries ("AMA", "ADA")
    # code sets
    code_shape: str | None = None  # full-match regex of the codes this source claims
    declared_in: Path | None = None  # the TOML file (None: built in)
    cadence: str | None = None  # how often releases come (informational)
    # operations (issue 10): not part of the declaration's identity
    schedules: tuple[Schedule, ...] = ()
    fetch: FetchSpec | None = None

    @property
    def tracked(self) -> tuple[str, ...]:
        """Descriptor columns, then attribute columns."""
        return self.descriptors + self.attributes


# --- which files are read -----------------------------------------------------------------------

_extra_files: tuple[Path, ...] = ()


def use_sources(paths: Sequence[Path]) -> None:
    """Read these user declaration files too (process-wide, besides `$CODECATALOG_SOURCES`)."""
    global _extra_files
    _extra_files = tuple(Path(p).absolute() for p in paths)
    _load.cache_clear()


def builtin_file() -> Path:
    """The built-in declarations, `config/sources.toml` as installed."""
    return Path(str(files("codecatalog.config").joinpath("sources.toml")))


def builtin_schemas() -> Path:
    """The folder built-in schema names resolve against."""
    return Path(str(files("codecatalog.schemas")))


def user_files() -> tuple[Path, ...]:
    """The user declaration files in use: `--sources` ones, then `$CODECATALOG_SOURCES` ones.

    A file named twice (even by different spellings of its path) is read once.
    """
    env = [Path(p).absolute() for p in os.environ.get(SOURCES_ENV, "").split(":") if p.strip()]
    seen: set[Path] = set()
    unique = []
    for path in (*_extra_files, *env):
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return tuple(unique)


def sources() -> dict[str, SourceConfig]:
    """Every declared source by name: the built-in ones, then the users'."""
    return _load(user_files())


def source(name: str) -> SourceConfig:
    """The declared source `name`; UnknownSource lists the declared ones."""
    known = sources()
    if name not in known:
        raise UnknownSource(f"unknown source {name!r}; declared: {', '.join(sorted(known))}")
    return known[name]


@cache
def _load(paths: tuple[Path, ...]) -> dict[str, SourceConfig]:
    builtin = builtin_file()
    declared = parse_declarations(
        tomllib.loads(builtin.read_text(encoding="utf-8")), builtin, builtin_schemas(), True
    )
    where = dict.fromkeys(declared, builtin)
    for path in paths:
        raw = _read_toml(path)
        for name in raw:
            if name in declared:
                raise DeclarationError(f"{path}: [{name}] is already declared in {where[name]}")
        declared |= parse_declarations(raw, path, path.parent, False)
        where |= dict.fromkeys(raw, path)
    check_code_sets(declared, where)
    return declared


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DeclarationError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise DeclarationError(f"{path}: not UTF-8 text (byte offset {err.start})") from None
    except tomllib.TOMLDecodeError as err:
        raise DeclarationError(f"{path}: not valid TOML: {err}") from None


# --- validation ---------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_COMMON = "title family key schema descriptors attributes cadence licence schedules fetch"
_LEGACY = f"{_COMMON} detail add_date term_date successors source_action actions code_shape"
_TABLE = f"""{_COMMON} code_columns code_sets columns read term_date active_values term_date_is
    term_date_format max_vanished release_values duplicate_keys version_check source_action"""
_LEGACY_REQUIRED = ("title", "family", "key", "schema", "descriptors", "attributes")
# family -> (allowed keys, required keys)
FAMILY_KEYS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "ama_cpt": (_words(_LEGACY), _LEGACY_REQUIRED),
    "hcpcs": (_words(_LEGACY), _LEGACY_REQUIRED),
    "table": (_words(_TABLE), ("title", "family", "key", "schema", "columns")),
}
_READ_KEYS = (
    "sheet",
    "header",
    "header_rows",
    "members",
    "header_in",
    "parts",
    "complete_lines",
    "fixed_width",
    "skip_prefix",
    "prefer",
)
_COLUMN_KEYS = (
    "header",
    "pad",
    "match",
    "optional",
    "nulls",
    "map",
    "decimals",
    "position",
    "part",
    "from",
    "extract",
)
_HEADER_IN = ("first_row", "last_row")
_MATCH = ("exact", "prefix")
_DUPLICATE_KEYS = ("refuse", "active_wins")
VERSION_CHECKS = ("ncci_ptp", "mue", "opps_addb", "pfs_rvu")
_DETAIL_KEYS = ("name", "id", "value")
_TERM_DATE_IS = {"last_valid_day": True, "first_invalid_day": False}
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


def normalise_header(text: str) -> str:
    """A header cell as matched: trimmed, whitespace runs (newlines, U+00A0) as one space,
    case-folded.

    >>> normalise_header("  PA\\u00a0Required?\\n ")
    'pa required?'
    """
    return " ".join(text.split()).casefold()


class _Entry:
    """One `[name]` table of a declaration file, with one-line refusals naming file and entry."""

    def __init__(self, file: Path, name: str, table: dict[str, Any]) -> None:
        self.file, self.name, self.table = file, name, table

    def fail(self, problem: str, sub: str | None = None) -> NoReturn:
        where = f"[{self.name}.{sub}]" if sub else f"[{self.name}]"
        raise DeclarationError(f"{self.file}: {where} {problem}")

    def text(self, key: str, default: str | None = None, sub: str | None = None) -> str | None:
        table = self.table if sub is None else self.table.get(sub, {})
        value = table.get(key, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            self.fail(f"{key} must be a non-empty string, got {value!r}", sub)
        return value

    def names(self, key: str) -> tuple[str, ...]:
        """A list of names (a string is accepted for `key`); no blanks, no duplicates."""
        value = self.table.get(key, [])
        if key == "key" and isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            what = "a column name or a list of them" if key == "key" else "a list of names"
            self.fail(f"{key} must be {what}, got {value!r}")
        if key == "key" and not value:
            self.fail("key must name at least one column")
        for i, item in enumerate(value):
            if item in value[:i]:
                self.fail(f"{key} names {item!r} twice")
        return tuple(value)


def parse_declarations(
    declared: dict[str, Any], file: Path, schema_dir: Path, builtin: bool
) -> dict[str, SourceConfig]:
    """The sources of one parsed TOML file; schema names resolve against `schema_dir`."""
    return {
        name: _parse_entry(_Entry(file, name, table), schema_dir, builtin)
        for name, table in declared.items()
    }


def _parse_entry(entry: _Entry, schema_dir: Path, builtin: bool) -> SourceConfig:
    """One validated source declaration."""
    e, table = entry, entry.table
    if not isinstance(table, dict):
        e.fail(f"must be a table of keys, got {table!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", e.name):
        e.fail("source name is not a lower-case identifier (a-z, 0-9, _)")
    if "family" not in table:
        e.fail("missing required key 'family'")
    family = table["family"]
    if not isinstance(family, str) or family not in FAMILY_KEYS:
        e.fail(f"unknown family {family!r} (known: {', '.join(sorted(FAMILY_KEYS))})")
    allowed, required = FAMILY_KEYS[family]
    for key in table:
        if key not in allowed:
            e.fail(f"unknown key {key!r}")
    for key in required:
        if key not in table:
            e.fail(f"missing required key {key!r}")
    key_columns = e.names("key")
    descriptors, attributes = e.names("descriptors"), e.names("attributes")
    for name in attributes:
        if name in descriptors:
            e.fail(f"{name!r} is both a descriptor and an attribute")
    for name in key_columns:
        if name in descriptors + attributes:
            kind = "a descriptor" if name in descriptors else "an attribute"
            e.fail(f"key column {name!r} is also {kind}")
    schema = schema_dir / str(e.text("schema"))
    if not schema.is_file():
        e.fail(f"schema file not found: {schema}")
    common: dict[str, Any] = {
        "name": e.name,
        "title": e.text("title"),
        "family": family,
        "key": key_columns,
        "schema": schema,
        "descriptors": descriptors,
        "attributes": attributes,
        "cadence": e.text("cadence"),
        "declared_in": None if builtin else e.file,
        "licence": _licence(e),
        "schedules": _schedules(e),
        "fetch": _fetch(e),
    }
    if family == "table":
        cfg = _table_config(e, common)
        _check_schema(e, cfg)
        return cfg
    return _legacy_config(e, common)


_SCHEDULE_KEYS = ("name", "cron", "timezone", "looks_for", "version", "drop_folder")
_FETCH_KEYS = ("url", "landing_page", "link_pattern", "drop_folder")


def _schedules(e: _Entry) -> tuple[Schedule, ...]:
    """`[[<source>.schedules]]`: each with a unique name, a valid cron and a known timezone."""
    raw = e.table.get("schedules", [])
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        e.fail(f"schedules must be an array of tables ([[{e.name}.schedules]]), got {raw!r}")
    found: list[Schedule] = []
    for table in raw:
        for key in table:
            if key not in _SCHEDULE_KEYS:
                e.fail(f"unknown key {key!r}", "schedules")
        for key in ("name", "cron"):
            if not isinstance(table.get(key), str) or not table[key].strip():
                e.fail(f"{key} must be a non-empty string, got {table.get(key)!r}", "schedules")
        schedule = Schedule(**table)
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", schedule.name):
            e.fail(f"schedule name {schedule.name!r} is not lower-case a-z, 0-9, _ or -")
        if any(s.name == schedule.name for s in found):
            e.fail(f"schedule name {schedule.name!r} is used twice")
        if schedule.looks_for not in LOOKS_FOR:
            e.fail(f"looks_for must be one of {', '.join(LOOKS_FOR)}, got {schedule.looks_for!r}")
        if schedule.drop_folder is not None and not (
            isinstance(schedule.drop_folder, str) and schedule.drop_folder.strip()
        ):
            e.fail(f"schedule {schedule.name!r}: drop_folder must be a non-empty string")
        problem = schedule_problem(schedule)
        if problem:
            e.fail(f"schedule {schedule.name!r}: {problem}")
        found.append(schedule)
    return tuple(found)


def schedule_problem(schedule: Schedule) -> str | None:
    """Why a schedule cannot be used (bad cron, unknown timezone, bad version format), or None."""
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from cronsim import CronSim, CronSimError

    if len(schedule.cron.split()) != 5:
        return f"cron {schedule.cron!r} is not a five-field cron expression"
    try:
        CronSim(schedule.cron, datetime(2026, 1, 1))
    except CronSimError as err:
        return f"cron {schedule.cron!r}: {err}"
    try:
        ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"timezone {schedule.timezone!r} is not an IANA time zone"
    try:
        schedule.version.format(year=2026, quarter=1, month=1)
    except (KeyError, IndexError, ValueError) as err:
        return f"version {schedule.version!r} is not a format of year, quarter, month ({err})"
    return None


def _fetch(e: _Entry) -> FetchSpec | None:
    """`[<source>.fetch]`: one way to find a release."""
    raw = e.table.get("fetch")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        e.fail(f"fetch must be a table, got {raw!r}")
    for key in raw:
        if key not in _FETCH_KEYS:
            e.fail(f"unknown key {key!r}", "fetch")
    values = {key: e.text(key, sub="fetch") for key in _FETCH_KEYS}
    spec = FetchSpec(**values)
    ways = [w for w in ("url", "landing_page", "drop_folder") if getattr(spec, w)]
    if len(ways) != 1:
        e.fail("give exactly one of url, landing_page (with link_pattern) or drop_folder", "fetch")
    if (spec.landing_page is None) != (spec.link_pattern is None):
        e.fail("landing_page and link_pattern go together", "fetch")
    if spec.link_pattern is not None:
        try:
            re.compile(spec.link_pattern)
        except re.error as err:
            e.fail(f"link_pattern is not a regular expression: {err}", "fetch")
    return spec


def _licence(e: _Entry) -> tuple[str, ...]:
    value = e.table.get("licence", [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        e.fail(f"licence must be a name or a list of names, got {value!r}")
    return tuple(value)


def _legacy_config(e: _Entry, common: dict[str, Any]) -> SourceConfig:
    table = e.table
    detail = None
    if "detail" in table:
        raw = table["detail"]
        if not isinstance(raw, dict):
            e.fail(f"detail must be a table, got {raw!r}")
        for key in raw:
            if key not in _DETAIL_KEYS:
                e.fail(f"unknown key {key!r}", "detail")
        for key in _DETAIL_KEYS:
            if key not in raw:
                e.fail(f"missing required key {key!r}", "detail")
        detail = Detail(*(str(e.text(key, sub="detail")) for key in _DETAIL_KEYS))
    actions = None
    if "actions" in table:
        raw = table["actions"]
        if not isinstance(raw, dict):
            e.fail(f"actions must be a table, got {raw!r}")
        for code, names in raw.items():
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                e.fail(f"{code} must be a list of names, got {names!r}", "actions")
        actions = {code: tuple(names) for code, names in raw.items()}
    shape = e.text("code_shape")
    if shape is not None:
        try:
            re.compile(shape)
        except re.error as err:
            e.fail(f"code_shape {shape!r} is not a regular expression: {err}")
    return SourceConfig(
        **common,
        detail=detail,
        add_date=e.text("add_date"),
        term_date=e.text("term_date"),
        successors=e.names("successors"),
        source_action=e.text("source_action", "history"),
        actions=actions,
        code_shape=shape,
    )


def _table_config(e: _Entry, common: dict[str, Any]) -> SourceConfig:
    table = e.table
    columns = _columns(e, table["columns"])
    declared = [c.name for c in columns]
    for what, names in (
        ("key column", common["key"]),
        ("descriptor", common["descriptors"]),
        ("attribute", common["attributes"]),
        ("code column", e.names("code_columns")),
    ):
        for name in names:
            if name not in declared:
                e.fail(f"{what} {name!r} is not in [{e.name}.columns]")
    code_columns, code_sets = e.names("code_columns"), e.names("code_sets")
    if code_columns and not code_sets:
        e.fail("code_columns needs code_sets (the code sets the codes are looked up in)")
    if code_sets and not code_columns:
        e.fail("code_sets needs code_columns (the columns holding codes)")
    max_vanished = table.get("max_vanished", 0.10)
    if (
        isinstance(max_vanished, bool)
        or not isinstance(max_vanished, int | float)
        or not 0 <= max_vanished <= 1
    ):
        e.fail(f"max_vanished must be a number from 0 to 1, got {max_vanished!r}")
    read = _read_options(e)
    _check_columns_and_read(e, columns, read)
    retire = _retirement(e, declared)
    tracked = (*common["key"], *common["descriptors"], *common["attributes"])
    release_values = e.names("release_values")
    for name in release_values:
        if name not in declared:
            e.fail(f"release_values column {name!r} is not in [{e.name}.columns]")
        if name in tracked:
            e.fail(f"release_values column {name!r} is also a key column or tracked")
    source_action = e.text("source_action")
    if source_action is not None:
        if source_action not in declared:
            e.fail(f"source_action column {source_action!r} is not in [{e.name}.columns]")
        if source_action in tracked:
            e.fail(f"source_action column {source_action!r} is also a key column or tracked")
    duplicate_keys = e.text("duplicate_keys", "refuse")
    if duplicate_keys not in _DUPLICATE_KEYS:
        e.fail(f"duplicate_keys must be 'refuse' or 'active_wins', got {duplicate_keys!r}")
    if duplicate_keys == "active_wins" and retire is None:
        e.fail("duplicate_keys = 'active_wins' needs term_date (which row is active)")
    version_check = e.text("version_check")
    if version_check is not None and version_check not in VERSION_CHECKS:
        e.fail(
            f"unknown version_check {version_check!r} (known: {', '.join(sorted(VERSION_CHECKS))})"
        )
    return SourceConfig(
        **common,
        source_action=source_action,
        columns=columns,
        read=read,
        retire=retire,
        max_vanished=float(max_vanished),
        code_columns=code_columns,
        code_sets=code_sets,
        release_values=release_values,
        duplicate_keys=str(duplicate_keys),
        version_check=version_check,
    )


def _check_columns_and_read(e: _Entry, columns: tuple[Column, ...], read: ReadOptions) -> None:
    """What columns and read options say about each other: `from` names a column read from the
    file, one `part` column exactly when `read.parts`, positions exactly with `fixed_width`."""
    sub = "columns"
    by_name = {c.name: c for c in columns}
    for column in columns:
        if column.from_column is not None:
            source = by_name.get(column.from_column)
            if source is None:
                e.fail(f"{column.name}: from column {column.from_column!r} is not declared", sub)
            if source.from_column is not None:
                e.fail(f"{column.name}: from column {column.from_column!r} is itself derived", sub)
    parts = [c.name for c in columns if c.part]
    if len(parts) > 1:
        e.fail(f"only one part column may be declared, got {', '.join(parts)}", sub)
    if parts and not read.parts:
        e.fail(f"part column {parts[0]!r} needs [{e.name}.read] parts")
    if read.parts and not parts:
        e.fail("parts needs a column declared with part = true", "read")
    positioned = [c.name for c in columns if c.position is not None]
    if read.fixed_width is None:
        if positioned:
            e.fail(f"{positioned[0]}: position needs [{e.name}.read] fixed_width", sub)
        if read.skip_prefix is not None:
            e.fail("skip_prefix needs fixed_width", "read")
    else:
        for column in columns:
            if column.in_file and column.position is None:
                e.fail(f"{column.name}: fixed_width needs a position for every column", sub)


def _columns(e: _Entry, raw: Any) -> tuple[Column, ...]:
    sub = "columns"
    if not isinstance(raw, dict) or not raw:
        e.fail(f"columns must be a table of column = header, got {raw!r}")
    columns = []
    seen: dict[str, str] = {}  # normalised header -> column
    for name, value in raw.items():
        if name.startswith("_"):
            e.fail(f"column name {name!r} starts with '_' (reserved for codecatalog's own)", sub)
        if not _IDENTIFIER.fullmatch(name):
            e.fail(f"column name {name!r} is not a lower-case identifier (a-z, 0-9, _)", sub)
        column = _column(e, name, value if isinstance(value, dict) else {"header": value})
        for header in column.header:
            normal = normalise_header(header)
            if normal in seen and seen[normal] != name:
                e.fail(f"headers of {seen[normal]!r} and {name!r} are the same: {normal!r}", sub)
            seen[normal] = name
        columns.append(column)
    return tuple(columns)


def _column(e: _Entry, name: str, value: dict[str, Any]) -> Column:
    """One column from its inline table (a plain header string arrives as `{header = ...}`)."""
    sub = "columns"

    def fail(problem: str) -> NoReturn:
        e.fail(f"{name}: {problem}", sub)

    for key in value:
        if key not in _COLUMN_KEYS:
            fail(f"unknown key {key!r}")
    part = value.get("part", False)
    if not isinstance(part, bool):
        fail(f"part must be true or false, got {part!r}")
    from_column, extract = value.get("from"), value.get("extract")
    derived = from_column is not None or extract is not None
    if (part or derived) and "header" in value:
        fail("a part or derived column has no header")
    if part and derived:
        fail("a column is either a part column or derived (from + extract), not both")
    if derived:
        if not isinstance(from_column, str) or not from_column:
            fail(f"from must name a column (with extract), got {from_column!r}")
        if not isinstance(extract, str) or not extract:
            fail(f"extract must be a regular expression (with from), got {extract!r}")
        _check_extract(fail, extract)
    headers: tuple[str, ...] = ()
    if not part and not derived:
        if "header" not in value:
            fail("missing required key 'header'")
        raw = value["header"]
        alternatives = raw if isinstance(raw, list) and raw else [raw]
        if not all(isinstance(h, str) and normalise_header(h) for h in alternatives):
            fail(f'expected a header string or {{header = "...", pad = N}}, got {raw!r}')
        headers = tuple(alternatives)
        for i, header in enumerate(headers):
            if normalise_header(header) in map(normalise_header, headers[:i]):
                fail(f"header {header!r} is listed twice")
    pad = value.get("pad")
    if pad is not None and (isinstance(pad, bool) or not isinstance(pad, int) or pad < 1):
        fail(f"pad must be a positive integer, got {pad!r}")
    match = value.get("match", "exact")
    if match not in _MATCH:
        fail(f"match must be 'exact' or 'prefix', got {match!r}")
    optional = value.get("optional", False)
    if not isinstance(optional, bool):
        fail(f"optional must be true or false, got {optional!r}")
    nulls = value.get("nulls", [])
    if not isinstance(nulls, list) or not all(isinstance(v, str) and v.strip() for v in nulls):
        fail(f"nulls must be a list of non-blank strings, got {nulls!r}")
    mapping = value.get("map", {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        fail(f"map must be a table of value = value, got {mapping!r}")
    if any(k != k.strip() for k in mapping):
        fail("map keys are compared after trimming: they cannot start or end with whitespace")
    decimals = value.get("decimals")
    if decimals is not None and (
        isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 18
    ):
        fail(f"decimals must be an integer from 0 to 18, got {decimals!r}")
    position = value.get("position")
    if position is not None and not (
        isinstance(position, list)
        and len(position) == 2
        and all(isinstance(p, int) and not isinstance(p, bool) for p in position)
        and 1 <= position[0] <= position[1]
    ):
        fail(f"position must be [start, end] with 1 <= start <= end, got {position!r}")
    if position is not None and (part or derived):
        fail("a part or derived column has no position")
    return Column(
        name,
        headers,
        pad,
        match=match,
        optional=optional,
        nulls=tuple(nulls),
        map=tuple(mapping.items()),
        decimals=decimals,
        position=(position[0], position[1]) if position is not None else None,
        part=part,
        from_column=from_column,
        extract=extract,
    )


def _check_extract(fail: Any, pattern: str) -> None:
    """`extract` compiles (in Python and in DuckDB, which runs it) and has a group."""
    try:
        groups = re.compile(pattern).groups
    except re.error as err:
        fail(f"extract {pattern!r} is not a regular expression: {err}")
    if groups < 1:
        fail(f"extract {pattern!r} has no group (the value is its first group)")
    import duckdb

    try:
        duckdb.connect().execute("SELECT regexp_extract('', ?, 1)", [pattern]).fetchall()
    except duckdb.Error as err:
        fail(f"extract {pattern!r} is not a regular expression DuckDB runs: {_one_line(err)}")


def _read_options(e: _Entry) -> ReadOptions:
    sub = "read"
    raw = e.table.get(sub, {})
    if not isinstance(raw, dict):
        e.fail(f"read must be a table, got {raw!r}")
    for key in raw:
        if key not in _READ_KEYS:
            e.fail(f"unknown key {key!r}", sub)
    header_rows = raw.get("header_rows", 1)
    if isinstance(header_rows, bool) or not isinstance(header_rows, int) or header_rows < 1:
        e.fail(f"header_rows must be an integer >= 1, got {header_rows!r}", sub)
    header_in = e.text("header_in", "first_row", sub=sub)
    if header_in not in _HEADER_IN:
        e.fail(f"header_in must be 'first_row' or 'last_row', got {header_in!r}", sub)
    if header_in == "last_row" and "header" not in raw:
        e.fail("header_in = 'last_row' needs header (the text of the last header row)", sub)
    parts = raw.get("parts", {})
    if not isinstance(parts, dict) or not all(
        isinstance(v, str) and v.strip() and k.strip() for k, v in parts.items()
    ):
        e.fail(f"parts must be a table of glob = part value, got {parts!r}", sub)
    complete_lines = raw.get("complete_lines", False)
    if not isinstance(complete_lines, bool):
        e.fail(f"complete_lines must be true or false, got {complete_lines!r}", sub)
    prefer = raw.get("prefer", [])
    if not isinstance(prefer, list) or not all(isinstance(g, str) and g.strip() for g in prefer):
        e.fail(f"prefer must be a list of globs, got {prefer!r}", sub)
    return ReadOptions(
        sheet=e.text("sheet", sub=sub),
        header=e.text("header", sub=sub),
        header_rows=header_rows,
        members=e.text("members", sub=sub),
        header_in=str(header_in),
        parts=tuple(parts.items()),
        complete_lines=complete_lines,
        fixed_width=e.text("fixed_width", sub=sub),
        skip_prefix=e.text("skip_prefix", sub=sub),
        prefer=tuple(prefer),
    )


def _retirement(e: _Entry, declared: list[str]) -> Retirement | None:
    column = e.text("term_date")
    if column is None:
        for key in ("active_values", "term_date_is", "term_date_format"):
            if key in e.table:
                e.fail(f"{key} needs term_date (the column holding the term date)")
        return None
    if column not in declared:
        e.fail(f"term_date column {column!r} is not in [{e.name}.columns]")
    active = e.table.get("active_values", [""])
    if not isinstance(active, list) or not all(isinstance(v, str) for v in active):
        e.fail(f"active_values must be a list of strings, got {active!r}")
    term_date_is = e.text("term_date_is", "last_valid_day")
    if term_date_is not in _TERM_DATE_IS:
        e.fail(
            f"term_date_is must be 'last_valid_day' or 'first_invalid_day', got {term_date_is!r}"
        )
    date_format = str(e.text("term_date_format", "%Y-%m-%d"))
    sample = datetime(2031, 12, 23)
    try:
        readable = datetime.strptime(sample.strftime(date_format), date_format) == sample
    except ValueError:
        readable = False
    if not readable:
        e.fail(f"term_date_format {date_format!r} does not write and read back a whole date")
    return Retirement(column, tuple(active), _TERM_DATE_IS[term_date_is], date_format)


def _check_schema(e: _Entry, cfg: SourceConfig) -> None:
    """The pandera YAML is usable (`validate.load_schema` refuses keys pandera would ignore),
    names declared columns only, and every check can run inside DuckDB."""
    from codecatalog.translations import translation_for

    try:
        translation_for(cfg)
    except DeclarationError as err:
        e.fail(_one_line(err))


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def check_code_sets(declared: dict[str, SourceConfig], where: dict[str, Path]) -> None:
    """Every code set a source names is declared, and declares the shape of its codes."""
    for cfg in declared.values():
        for name in cfg.code_sets:
            e = _Entry(where[cfg.name], cfg.name, {})
            if name not in declared:
                e.fail(
                    f"code set {name!r} is not declared (declared: {', '.join(sorted(declared))})"
                )
            if declared[name].code_shape is None:
                e.fail(f"code set {name!r} declares no code_shape")


# --- identity -----------------------------------------------------------------------------------


def _as_json(cfg: SourceConfig) -> dict[str, Any]:
    data = dataclasses.asdict(cfg)
    for operational in ("declared_in", "schedules", "fetch"):
        data.pop(operational)
    data["schema"] = cfg.schema.name  # the file's name only: where it lives is not its identity
    return data


def declaration_json(cfg: SourceConfig) -> str:
    """The whole resolved declaration as canonical JSON (the schema by file name, no paths)."""
    return json.dumps(_as_json(cfg), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def schema_sha256(cfg: SourceConfig) -> str:
    """sha256 of the schema file's bytes."""
    return hashlib.sha256(cfg.schema.read_bytes()).hexdigest()


def declaration_sha256(cfg: SourceConfig) -> str:
    """sha256 of the declaration's canonical JSON followed by the schema file's bytes."""
    digest = hashlib.sha256(declaration_json(cfg).encode("utf-8"))
    digest.update(cfg.schema.read_bytes())
    return digest.hexdigest()


def tracked_identity(cfg: SourceConfig) -> dict[str, Any]:
    """What must not change between loads of one source: key, column mapping, tracked fields,
    the detail descriptors and how a row retires."""
    return {
        "key": list(cfg.key),
        "columns": [_column_identity(c) for c in cfg.columns],
        "descriptors": list(cfg.descriptors),
        "attributes": list(cfg.attributes),
        "duplicate_keys": cfg.duplicate_keys,
        "detail": dataclasses.asdict(cfg.detail) if cfg.detail else None,
        "retirement": {
            "term_date": cfg.term_date,
            "retire": json.loads(json.dumps(dataclasses.asdict(cfg.retire)))
            if cfg.retire
            else None,
        },
    }


def _column_identity(column: Column) -> dict[str, Any]:
    """A column as tracked: name, header(s) and padding as before issue 8, plus every other
    option that changes values or where they come from when it is not the default."""
    data = json.loads(json.dumps(dataclasses.asdict(column)))
    identity: dict[str, Any] = {
        "name": column.name,
        "header": column.header[0] if len(column.header) == 1 else list(column.header),
        "pad": column.pad,
    }
    defaults = {f.name: f.default for f in dataclasses.fields(Column)}
    for name in ("match", "optional", "nulls", "map", "decimals", "position", "part",
                 "from_column", "extract"):  # fmt: skip
        if getattr(column, name) != defaults[name]:
            identity[name] = data[name]
    return identity


def config_from_json(text: str) -> SourceConfig:
    """A declaration rebuilt from `declaration_json` output (its schema a bare file name)."""
    data = json.loads(text)
    known = {f.name for f in dataclasses.fields(SourceConfig)} - {
        "declared_in",
        "schedules",
        "fetch",
    }
    unknown = set(data) - known
    if unknown:
        raise DeclarationError(
            f"stored declaration has unknown fields: {', '.join(sorted(unknown))}"
        )
    tuples = ("key", "descriptors", "attributes", "successors", "code_columns", "code_sets",
              "release_values", "licence")  # fmt: skip
    for name in tuples:
        if name in data:
            data[name] = tuple(data[name])
    data["schema"] = Path(data["schema"])
    if data.get("detail") is not None:
        data["detail"] = Detail(**data["detail"])
    if data.get("actions") is not None:
        data["actions"] = {code: tuple(names) for code, names in data["actions"].items()}
    data["columns"] = tuple(_column_from_json(c) for c in data.get("columns", ()))
    read = dict(data.get("read", {}))
    read["parts"] = tuple(tuple(p) for p in read.get("parts", ()))
    data["read"] = ReadOptions(**read)
    if data.get("retire") is not None:
        retire = data["retire"]
        data["retire"] = Retirement(**{**retire, "active": tuple(retire["active"])})
    return SourceConfig(**data)


def _column_from_json(data: dict[str, Any]) -> Column:
    """A stored column (before issue 8: name, a header string and pad only)."""
    data = dict(data)
    header = data.get("header", ())
    data["header"] = (header,) if isinstance(header, str) else tuple(header)
    data["nulls"] = tuple(data.get("nulls", ()))
    data["map"] = tuple((k, v) for k, v in data.get("map", ()))
    if data.get("position") is not None:
        data["position"] = tuple(data["position"])
    return Column(**data)

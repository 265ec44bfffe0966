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
    """A `table` source's column: our name, the header as the file writes it, optional padding."""

    name: str
    header: str
    pad: int | None = None  # left-pad digit-only values with zeros to this width


@dataclass(frozen=True)
class ReadOptions:
    """How a `table` source's files are read (`[name.read]`)."""

    sheet: str | None = None  # xlsx: the sheet (default: the first)
    header: str | None = None  # the header row is the first row with a cell matching this
    header_rows: int = 1  # stacked header rows joined per column with a space
    members: str | None = None  # glob of archive members to read (default: every table member)


@dataclass(frozen=True)
class Retirement:
    """How a row of a `table` source retires: a term-date column and the values meaning active."""

    column: str  # our column name holding the term date
    active: tuple[str, ...] = ("",)  # values meaning "active" (blank cells always do)
    last_valid_day: bool = True  # the date is the last valid day (else the first invalid one)
    date_format: str = "%Y-%m-%d"


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
    # code sets
    code_shape: str | None = None  # full-match regex of the codes this source claims
    declared_in: Path | None = None  # the TOML file (None: built in)
    cadence: str | None = None  # how often releases come (informational)

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


_COMMON = "title family key schema descriptors attributes cadence"
_LEGACY = f"{_COMMON} detail add_date term_date successors source_action actions code_shape"
_TABLE = f"""{_COMMON} code_columns code_sets columns read term_date active_values term_date_is
    term_date_format max_vanished"""
_LEGACY_REQUIRED = ("title", "family", "key", "schema", "descriptors", "attributes")
# family -> (allowed keys, required keys)
FAMILY_KEYS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "ama_cpt": (_words(_LEGACY), _LEGACY_REQUIRED),
    "hcpcs": (_words(_LEGACY), _LEGACY_REQUIRED),
    "table": (_words(_TABLE), ("title", "family", "key", "schema", "columns")),
}
_READ_KEYS = ("sheet", "header", "header_rows", "members")
_COLUMN_KEYS = ("header", "pad")
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
    }
    if family == "table":
        cfg = _table_config(e, common)
        _check_schema(e, cfg)
        return cfg
    return _legacy_config(e, common)


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
    return SourceConfig(
        **common,
        source_action=None,
        columns=columns,
        read=_read_options(e),
        retire=_retirement(e, declared),
        max_vanished=float(max_vanished),
        code_columns=code_columns,
        code_sets=code_sets,
    )


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
        pad = None
        if isinstance(value, dict):
            for key in value:
                if key not in _COLUMN_KEYS:
                    e.fail(f"{name}: unknown key {key!r}", sub)
            if "header" not in value:
                e.fail(f"{name}: missing required key 'header'", sub)
            header, pad = value["header"], value.get("pad")
            if pad is not None and (isinstance(pad, bool) or not isinstance(pad, int) or pad < 1):
                e.fail(f"{name}: pad must be a positive integer, got {pad!r}", sub)
        else:
            header = value
        if not isinstance(header, str) or not normalise_header(header):
            e.fail(
                f'{name}: expected a header string or {{header = "...", pad = N}}, got {header!r}',
                sub,
            )
        normal = normalise_header(header)
        if normal in seen:
            e.fail(f"headers of {seen[normal]!r} and {name!r} are the same: {normal!r}", sub)
        seen[normal] = name
        columns.append(Column(name, header, pad))
    return tuple(columns)


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
    return ReadOptions(
        sheet=e.text("sheet", sub=sub),
        header=e.text("header", sub=sub),
        header_rows=header_rows,
        members=e.text("members", sub=sub),
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
    data.pop("declared_in")
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
        "columns": [{"name": c.name, "header": c.header, "pad": c.pad} for c in cfg.columns],
        "descriptors": list(cfg.descriptors),
        "attributes": list(cfg.attributes),
        "detail": dataclasses.asdict(cfg.detail) if cfg.detail else None,
        "retirement": {
            "term_date": cfg.term_date,
            "retire": json.loads(json.dumps(dataclasses.asdict(cfg.retire)))
            if cfg.retire
            else None,
        },
    }


def config_from_json(text: str) -> SourceConfig:
    """A declaration rebuilt from `declaration_json` output (its schema a bare file name)."""
    data = json.loads(text)
    known = {f.name for f in dataclasses.fields(SourceConfig)} - {"declared_in"}
    unknown = set(data) - known
    if unknown:
        raise DeclarationError(
            f"stored declaration has unknown fields: {', '.join(sorted(unknown))}"
        )
    tuples = ("key", "descriptors", "attributes", "successors", "code_columns", "code_sets")
    for name in tuples:
        if name in data:
            data[name] = tuple(data[name])
    data["schema"] = Path(data["schema"])
    if data.get("detail") is not None:
        data["detail"] = Detail(**data["detail"])
    if data.get("actions") is not None:
        data["actions"] = {code: tuple(names) for code, names in data["actions"].items()}
    data["columns"] = tuple(Column(**c) for c in data.get("columns", ()))
    data["read"] = ReadOptions(**data.get("read", {}))
    if data.get("retire") is not None:
        retire = data["retire"]
        data["retire"] = Retirement(**{**retire, "active": tuple(retire["active"])})
    return SourceConfig(**data)

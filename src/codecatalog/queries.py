"""What the read commands answer (issue 9 §1): the loaded versions of a source, the whole story of
one key, the record in force on a date, and read-only SQL on the reader file.

Plain functions over a reader connection (`warehouse.open_reader`), returning rows or dataclasses;
`codecatalog.cli` prints them. A key's history is computed from its own interval rows (the few
`<source>_catalog` / `_details` rows of that key, ordered by `_from`) with the rules of
`codecatalog.diff.changes` (DESIGN.md §3), so each step equals `changes_between` of the two
neighbouring versions restricted to the key (tests/test_read_commands.py asserts it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb

from codecatalog import sources
from codecatalog.diff.changes import CHANGE_COLUMNS, active_sql, first_invalid_sql, key_sql
from codecatalog.diff.normalise import is_editorial
from codecatalog.duckdb_settings import DEFAULT_MEMORY
from codecatalog.errors import CodecatalogError, UsageError, VersionError, first_line
from codecatalog.findings import in_force_release
from codecatalog.intervals import FROM, TO
from codecatalog.report import CHANGE_TYPES
from codecatalog.sources import KEY_SEPARATOR, SourceConfig
from codecatalog.sql import quote, table_exists
from codecatalog.warehouse import (
    LoadedRelease,
    find_release,
    loaded_releases,
    stored_declaration,
)
from codecatalog.writer import READER_NAME, check_database_file

# --- the source and its versions ----------------------------------------------------------------


def declaration(con: duckdb.DuckDBPyConnection, name: str) -> SourceConfig:
    """The declaration `name` was loaded with (else the declared one); UnknownSource when no
    declaration names it, VersionError when no version of it is loaded."""
    cfg = stored_declaration(con, name) or sources.source(name)
    if not loaded_releases(con, name):
        raise VersionError(f"no {name} version is loaded")
    return cfg


@dataclass(frozen=True)
class VersionInfo:
    """One loaded version: when it takes effect, what was loaded and published, its step's
    change counts (`since` → this version; None for the first version)."""

    version: str
    effective_date: date
    correction: int
    loaded_at: datetime
    row_count: int
    published: bool
    since: str | None  # the version its (published) changes compare it with
    changes: dict[str, int] | None  # change type -> rows, every type present
    latest: bool  # named by published/<source>/latest.json
    current: bool  # named by published/<source>/current.json

    def row(self) -> dict[str, Any]:
        """As one flat output row (change counts as columns)."""
        counts = self.changes or {}
        return {
            "version": self.version,
            "effective_date": self.effective_date,
            "correction": self.correction,
            "loaded_at": self.loaded_at.replace(microsecond=0),
            "row_count": self.row_count,
            "published": "yes" if self.published else "no",
            "since": self.since,
            **{kind: counts.get(kind) for kind in CHANGE_TYPES},
            "latest": "latest" if self.latest else "",
            "current": "current" if self.current else "",
        }


def versions(
    con: duckdb.DuckDBPyConnection, warehouse_dir: Path, cfg: SourceConfig
) -> list[VersionInfo]:
    """The loaded versions of `cfg` in effective-date order (corrections after their base).

    A published version's counts are those of its published `changes` file (the step its
    manifest names: a backfilled version's successor keeps comparing with its old neighbour);
    an unpublished one's are recomputed from its loaded predecessor.
    """
    from codecatalog.diff.changes import changes_between

    releases = loaded_releases(con, cfg.name)
    loaded_at = dict(
        con.execute(
            "SELECT version, loaded_at FROM releases WHERE codeset = ?", [cfg.name]
        ).fetchall()
    )
    root = Path(warehouse_dir) / "published" / cfg.name
    pointers = {name: _pointer(root / f"{name}.json") for name in ("latest", "current")}
    found = []
    for index, release in enumerate(releases):
        directory = root / release.version
        manifest = directory / "manifest.json"
        published = manifest.is_file()
        since = releases[index - 1].version if index else None
        if published:
            since = json.loads(manifest.read_text(encoding="utf-8")).get("previous_version")
        counts: dict[str, int] | None = None
        changes_file = directory / "changes.parquet"
        if since is not None and published and changes_file.is_file():
            rows = con.execute(
                "SELECT change_type, count(*) FROM read_parquet(?) GROUP BY ALL",
                [str(changes_file)],
            ).fetchall()
            counts = _counts(dict(rows))
        elif since is not None and since in loaded_at:
            computed = changes_between(con, cfg, since, release.version)
            counts = _counts(computed["change_type"].value_counts().to_dict())
        found.append(
            VersionInfo(
                release.version,
                release.effective_date,
                release.correction,
                loaded_at[release.version],
                release.row_count,
                published,
                since,
                counts,
                pointers["latest"] == release.version,
                pointers["current"] == release.version,
            )
        )
    return found


def _pointer(path: Path) -> str | None:
    if not path.is_file():
        return None
    version = json.loads(path.read_text(encoding="utf-8")).get("version")
    return str(version) if version is not None else None


def _counts(found: dict[Any, Any]) -> dict[str, int]:
    return {kind: int(found.get(kind, 0)) for kind in CHANGE_TYPES}


def versions_between(
    con: duckdb.DuckDBPyConnection, name: str, old: str, new: str
) -> list[LoadedRelease]:
    """The loaded versions strictly between `old` and `new` (both loaded, `old` earlier)."""
    first, last = find_release(con, name, old), find_release(con, name, new)
    return [
        r
        for r in loaded_releases(con, name)
        if first.release_order < r.release_order < last.release_order
    ]


# --- one key's rows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRow:
    """One interval row of a key in `<source>_catalog`, read with the diff's rules."""

    start: int  # _from
    end: int | None  # _to (None: still holds)
    active: bool
    add_date: date | None
    first_invalid: date | None
    successors: str | None
    action: str | None  # the record's own action column (HCPCS ACTION CD)
    values: dict[str, str | None]  # tracked column -> value as text
    record: dict[str, Any]  # the whole stored row

    def holds_at(self, order: int) -> bool:
        return self.start <= order and (self.end is None or self.end > order)


@dataclass(frozen=True)
class KeyRows:
    """Everything stored about one key: catalog rows, detail rows, the release's own history."""

    cfg: SourceConfig
    key: str
    rows: list[KeyRow]
    details: list[tuple[int, int | None, str, str | None]]  # _from, _to, field, value
    history: list[tuple[int, int | None, str, date | None, str | None]]  # …, action, date, text

    def at(self, order: int) -> KeyRow | None:
        """The key's catalog row at version order `order` (None: absent)."""
        return next((r for r in self.rows if r.holds_at(order)), None)

    def details_at(self, order: int) -> dict[str, str | None]:
        return {f: v for start, end, f, v in self.details if _holds(start, end, order)}

    def deleted_at(self, order: int) -> bool:
        """Whether the release's own history (CPT) at `order` says the key was deleted."""
        return any(a == "DELETED" for s, e, a, _, _ in self.history if _holds(s, e, order))


def _holds(start: int, end: int | None, order: int) -> bool:
    return start <= order and (end is None or end > order)


def _date_sql(column: str | None) -> str:
    """A `YYYYMMDD` text column as a DATE (as the diff reads `add_date`)."""
    if not column:
        return "NULL::DATE"
    return f"try_strptime(nullif({quote(column)}, ''), '%Y%m%d')::DATE"


def split_key(cfg: SourceConfig, key: str) -> str:
    """Check a key given on the command line against the source's key columns (composite keys
    are joined with `|`); return it as change rows write it."""
    parts = key.split(KEY_SEPARATOR)
    if len(parts) != len(cfg.key):
        shape = KEY_SEPARATOR.join(cfg.key)
        raise UsageError(
            f"{cfg.name} keys have {len(cfg.key)} part(s), {shape}; {key!r} has {len(parts)}"
        )
    return key


def key_rows(con: duckdb.DuckDBPyConnection, cfg: SourceConfig, key: str) -> KeyRows:
    """Every stored row of `key`; UsageError when the key is in no loaded version."""
    split_key(cfg, key)
    catalog = quote(f"{cfg.name}_catalog")
    tracked = ", ".join(f"CAST({quote(c)} AS VARCHAR)" for c in cfg.tracked)
    successors = (
        f"nullif(concat_ws(' ', {', '.join(quote(c) for c in cfg.successors)}), '')"
        if cfg.successors
        else "NULL::VARCHAR"
    )
    action = (
        f"CAST({quote(cfg.source_action)} AS VARCHAR)"
        if cfg.source_action not in (None, "history")
        else "NULL::VARCHAR"
    )
    bookkeeping = (
        f"{FROM}, {TO}, {active_sql(cfg)}, {_date_sql(cfg.add_date)}, "
        f"{first_invalid_sql(cfg)}, {successors}, {action}"
    )
    result = con.execute(
        f"SELECT {bookkeeping}, {tracked + ',' if tracked else ''} * EXCLUDE ({FROM}, {TO}) "
        f"FROM {catalog} WHERE {key_sql(cfg.key)} = ? ORDER BY {FROM}",
        [key],
    )
    names = [d[0] for d in result.description or []]
    n_tracked, fixed = len(cfg.tracked), 7
    rows = []
    for values in result.fetchall():
        rows.append(
            KeyRow(
                values[0],
                values[1],
                bool(values[2]),
                values[3],
                values[4],
                values[5],
                values[6],
                dict(zip(cfg.tracked, values[fixed : fixed + n_tracked], strict=True)),
                dict(zip(names[fixed + n_tracked :], values[fixed + n_tracked :], strict=True)),
            )
        )
    if not rows:
        loaded = ", ".join(r.version for r in loaded_releases(con, cfg.name))
        raise UsageError(f"{cfg.name} key {key!r} is in no loaded version (loaded: {loaded})")
    details: list[tuple[int, int | None, str, str | None]] = []
    if cfg.detail is not None and table_exists(con, f"{cfg.name}_details"):
        detail = cfg.detail
        details = [
            (s, e, f"{detail.name}:{i}", v)
            for s, e, i, v in con.execute(
                f"SELECT {FROM}, {TO}, CAST({quote(detail.id)} AS VARCHAR), "
                f"CAST({quote(detail.value)} AS VARCHAR) FROM {quote(cfg.name + '_details')} "
                f"WHERE {key_sql(cfg.key)} = ? ORDER BY {FROM}, 3",
                [key],
            ).fetchall()
        ]
    history: list[tuple[int, int | None, str, date | None, str | None]] = []
    if cfg.source_action == "history" and table_exists(con, f"{cfg.name}_history"):
        history = con.execute(
            f"SELECT {FROM}, {TO}, action, try_strptime(action_date, '%Y%m%d')::DATE, "
            f"nullif(instruction, '') FROM {quote(cfg.name + '_history')} "
            f"WHERE {quote(cfg.key[0])} = ? ORDER BY {FROM}, 4, action",
            [key],
        ).fetchall()
    return KeyRows(cfg, key, rows, details, history)


# --- history ------------------------------------------------------------------------------------


def history(con: duckdb.DuckDBPyConnection, cfg: SourceConfig, key: str) -> list[dict[str, Any]]:
    """Every change of `key` across the loaded versions, step by step (each step: the version
    and its loaded predecessor), as change rows (`CHANGE_COLUMNS`): added, retired,
    reactivated, descriptor_revised/editorial and attribute_changed with field, old and new
    value, effective date and the release's own action. UsageError for a key never loaded."""
    found = key_rows(con, cfg, key)
    releases = loaded_releases(con, cfg.name)
    events: list[dict[str, Any]] = []
    for old, new in pairwise(releases):
        events.extend(step_events(found, old, new))
    return events


def step_events(found: KeyRows, old: LoadedRelease, new: LoadedRelease) -> list[dict[str, Any]]:
    """The change rows of one key from loaded version `old` to the next one, `new`, by the rules
    of `changes_sql` (DESIGN.md §3), sorted by change type, then field (none first)."""
    cfg = found.cfg
    before, after = found.at(old.release_order), found.at(new.release_order)
    kinds: list[str] = []
    if after is not None and after.active and (before is None or not before.active):
        existed = before is not None or found.deleted_at(old.release_order)
        existed = existed or any(r.start < old.release_order for r in found.rows)
        kinds.append("reactivated" if existed else "added")
    elif after is not None and not after.active and before is None:
        kinds += ["added", "retired"]  # new and already terminated
    if before is not None and before.active and (after is None or not after.active):
        kinds.append("retired")
    fields: list[tuple[str, str | None, str | None]] = []
    if before is not None and after is not None:
        fields = [
            (c, before.values[c], after.values[c])
            for c in cfg.tracked
            if before.values[c] != after.values[c]
        ]
        old_details = found.details_at(old.release_order)
        new_details = found.details_at(new.release_order)
        for name in sorted(old_details.keys() | new_details.keys()):
            if old_details.get(name) != new_details.get(name):
                fields.append((name, old_details.get(name), new_details.get(name)))
    action, added_on = _source_action(found, old, new, after)
    successors = (after.successors if after else None) or (before.successors if before else None)
    rows: list[tuple[str, str | None, str | None, str | None, date]] = []
    for kind in kinds:
        if kind == "added":
            effective = _coalesce(after.add_date if after else None, added_on, new.effective_date)
        elif kind == "reactivated":
            effective = _coalesce(added_on, new.effective_date)
        else:
            effective = _coalesce(after.first_invalid if after else None, new.effective_date)
        rows.append((kind, None, None, successors if kind == "retired" else None, effective))
    for name, old_value, new_value in fields:
        if name in cfg.descriptors or (cfg.detail and name.startswith(f"{cfg.detail.name}:")):
            editorial = None not in (old_value, new_value) and is_editorial(old_value, new_value)
            kind = "descriptor_editorial" if editorial else "descriptor_revised"
        else:
            kind = "attribute_changed"
        rows.append((kind, name, old_value, new_value, new.effective_date))
    rows.sort(key=lambda r: (r[0], r[1] is not None, r[1] or ""))
    return [
        dict(
            zip(
                CHANGE_COLUMNS,
                (cfg.name, old.version, new.version, found.key, *row, action),
                strict=True,
            )
        )
        for row in rows
    ]


def _source_action(
    found: KeyRows, old: LoadedRelease, new: LoadedRelease, after: KeyRow | None
) -> tuple[str | None, date | None]:
    """The release's own action for the step, and (CPT) the date its history adds the key."""
    if found.cfg.source_action != "history":
        return (after.action if after else None), None
    dated = [
        (day, action)
        for start, end, action, day, _ in found.history
        if _holds(start, end, new.release_order)
        and day is not None
        and old.effective_date < day <= new.effective_date
    ]
    if not dated:
        return None, None
    added = [day for day, action in dated if action == "ADDED"]
    return max(dated)[1], max(added, default=None)


def _coalesce(*values: date | None) -> date:
    return next(v for v in values if v is not None)


def first_state(found: KeyRows, release: LoadedRelease) -> str:
    """The key in the first loaded version: `active`, `retired` or `absent`."""
    row = found.at(release.release_order)
    if row is None:
        return "absent"
    return "active" if row.active else "retired"


# --- lookup -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    """A key on a date: the version in force then and the key's record in it."""

    codeset: str
    key: str
    as_of: date
    version: str
    version_effective_date: date
    active: bool
    retired_on: date | None  # the first day the key is invalid (also a future one when active)
    successors: str | None  # declared successors (HCPCS XREF1..5)
    note: str | None  # the release's own word on a deletion (CPT history instruction)
    record: dict[str, Any] = field(default_factory=dict)  # the row in force (empty: none)

    @property
    def sentence(self) -> str:
        """One line: `KEY is active on DATE`, or `KEY is not active on DATE (retired on …,
        replaced by …)`."""
        if self.active:
            until = f" (retired from {self.retired_on})" if self.retired_on else ""
            return f"{self.key} is active on {self.as_of}{until}"
        why = [f"retired on {self.retired_on}" if self.retired_on else "retired"]
        if self.successors:
            why.append(f"replaced by {self.successors}")
        note = f"; the release's history: {self.note!r}" if self.note else ""
        return f"{self.key} is not active on {self.as_of} ({', '.join(why)}{note})"

    @property
    def in_force(self) -> str:
        """One line: the version in force on the date."""
        return (
            f"version in force: {self.codeset} {self.version} "
            f"(effective {self.version_effective_date})"
        )


def parse_date(value: str, option: str) -> date:
    """A YYYY-MM-DD option value; UsageError naming the option otherwise."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


def lookup(con: duckdb.DuckDBPyConnection, cfg: SourceConfig, key: str, on: date) -> Lookup:
    """The record of `key` in force on `on`: the version in force then (`in_force_release`) and
    the key's row in it. Not active when its first invalid day is on or before `on` (without
    one: when the row is retired), or when it vanished earlier (then the retirement in its
    history says when and by what it was replaced). UsageError when no version is in force on
    `on`, or the key is in no loaded version or only in later ones."""
    found = key_rows(con, cfg, key)
    release = in_force_release(con, cfg.name, on)
    releases = loaded_releases(con, cfg.name)
    if release is None:
        first = releases[0]
        raise UsageError(
            f"no {cfg.name} version is in force on {on}: the first loaded, {first.version}, "
            f"takes effect on {first.effective_date}"
        )
    order = release.release_order
    row = found.at(order)
    if row is None and not any(r.start < order for r in found.rows):
        later = next((r for r in releases if found.at(r.release_order) is not None), None)
        if later is None:
            raise UsageError(f"{cfg.name} key {key!r} is only in retracted versions")
        raise UsageError(
            f"{key} is not in {cfg.name} {release.version}, the version in force on {on}: it "
            f"first appears in {later.version} (effective {later.effective_date})"
        )
    record: dict[str, Any] = {}
    if row is not None:
        record = {**row.record, **dict(sorted(found.details_at(order).items()))}
        # A known first invalid day decides (a row terminated later is still valid on `on`).
        valid = row.active if row.first_invalid is None else row.first_invalid > on
        if valid:
            return Lookup(
                cfg.name,
                key,
                on,
                release.version,
                release.effective_date,
                True,
                row.first_invalid,
                None,
                None,
                record,
            )
    # Not active: when and by what, from the row itself, else from its last retirement.
    retired = [
        e
        for old, new in pairwise(releases)
        if new.release_order <= order
        for e in step_events(found, old, new)
        if e["change_type"] == "retired"
    ]
    last = retired[-1] if retired else None
    retired_on = row.first_invalid if row is not None else None
    retired_on = retired_on or (last["effective_date"] if last else None)
    successors = (row.successors if row is not None else None) or (
        last["new_value"] if last else None
    )
    notes = [
        text
        for s, e, action, _, text in found.history
        if action == "DELETED" and text and _holds(s, e, order)
    ]
    return Lookup(
        cfg.name,
        key,
        on,
        release.version,
        release.effective_date,
        False,
        retired_on,
        successors,
        notes[-1] if notes else None,
        record,
    )


# --- query --------------------------------------------------------------------------------------

ALLOWED_STATEMENTS = ("SELECT", "EXPLAIN")  # DuckDB statement types `query` runs


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def reader_connection(warehouse_dir: Path) -> duckdb.DuckDBPyConnection:
    """The reader file opened read-only with external access disabled and the configuration
    locked: no writes, no `COPY … TO`, `ATTACH`, `INSTALL`/`LOAD`, no file or network reads."""
    path = Path(warehouse_dir) / READER_NAME
    if not path.is_file():
        raise CodecatalogError(f"no warehouse at {path}: load a release first")
    check_database_file(path)
    config: dict[str, Any] = {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "threads": int(os.environ.get("CODECATALOG_DUCKDB_THREADS", "2")),
        "memory_limit": os.environ.get("CODECATALOG_DUCKDB_MEMORY", DEFAULT_MEMORY),
    }
    try:
        con = duckdb.connect(str(path), read_only=True, config=config)
        con.execute("SET enable_progress_bar = false")  # it prints to stdout even when piped
        con.execute("SET lock_configuration = true")
        return con
    except duckdb.Error as err:
        raise CodecatalogError(f"cannot open {path}: {first_line(err)}") from None


def query(warehouse_dir: Path, sql: str) -> QueryResult:
    """Run one SELECT (or EXPLAIN) on the reader file (`reader_connection`); UsageError for
    anything else, for more than one statement and for SQL DuckDB refuses."""
    try:
        statements: Sequence[Any] = duckdb.extract_statements(sql)
    except duckdb.Error as err:
        raise UsageError(f"query: {first_line(err)}") from None
    if len(statements) != 1:
        raise UsageError(f"query: give exactly one SQL statement (found {len(statements)})")
    kind = statements[0].type.name
    if kind not in ALLOWED_STATEMENTS:
        word = statements[0].query.split()[0].upper()
        raise UsageError(
            f"refused: query runs one SELECT on a read-only connection; {word} is not allowed"
        )
    con = reader_connection(warehouse_dir)
    try:
        result = con.execute(sql)
        columns = [d[0] for d in result.description or []]
        return QueryResult(columns, result.fetchall())
    except duckdb.Error as err:
        raise UsageError(f"query: {first_line(err)}") from None
    finally:
        con.close()

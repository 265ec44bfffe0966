"""The DuckDB warehouse: releases, their rows as validity intervals, and every load attempt.

Tables: `releases` (one row per loaded version, with the order its rows' intervals use and the
declaration it was loaded with), `declarations`, `<codeset>_<part>` (`catalog`, `details`,
`history`, `transactions`: rows with `_from`/`_to`, see `codecatalog.intervals`),
`reconciliations`, `findings`, `release_values` (what a release states once for all its rows,
e.g. the PFS conversion factor), `descriptor_forms` (each descriptor text's normalised form, so
plain SQL tells editorial from revised changes), `load_attempts` (every attempt, failed or not,
with its validation failures and warnings), `retractions` (versions taken out of service: who,
when, why; their rows stay, the view `releases_in_service` leaves them out) and `meta` (the
schema version). Writes happen inside the caller's transaction (`Writer.transaction()`), so
nothing partial is ever visible; see `codecatalog.writer` for the reader and writer files and
`codecatalog.migrate` for older warehouses; `codecatalog.analyst_sql` installs the SQL macros
analysts call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from codecatalog.diff.normalise import descriptor_form
from codecatalog.errors import CodecatalogError, Failure, VersionError
from codecatalog.intervals import release_order, store_version
from codecatalog.sources import (
    SourceConfig,
    config_from_json,
    declaration_json,
    declaration_sha256,
    schema_sha256,
)
from codecatalog.sql import first, quote, table_exists
from codecatalog.versions import Version
from codecatalog.writer import READER_NAME, open_database

if TYPE_CHECKING:
    import pandas as pd


# 1: one row per key and version (`version` column); 2: validity intervals; 3: descriptor forms;
# 4: retractions
SCHEMA_VERSION = 4

_DDL = """
CREATE TABLE IF NOT EXISTS meta (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS releases (
    codeset VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    effective_date DATE NOT NULL,
    correction INTEGER NOT NULL,
    content_sha256 VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    files JSON NOT NULL,
    row_count BIGINT NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    release_order BIGINT NOT NULL,
    declaration_sha256 VARCHAR NOT NULL,
    schema_sha256 VARCHAR NOT NULL,
    PRIMARY KEY (codeset, version)
);
CREATE TABLE IF NOT EXISTS declarations (
    sha256 VARCHAR PRIMARY KEY,
    codeset VARCHAR NOT NULL,
    declaration JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS reconciliations (
    codeset VARCHAR NOT NULL,
    from_version VARCHAR NOT NULL,
    to_version VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    computed VARCHAR NOT NULL,
    source_action VARCHAR NOT NULL,
    problem VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS findings (
    codeset VARCHAR NOT NULL,           -- the policy source
    version VARCHAR NOT NULL,           -- its version
    key VARCHAR,                        -- the row's key (composite keys joined with |)
    "column" VARCHAR NOT NULL,          -- the code column the code is in
    code VARCHAR NOT NULL,
    finding VARCHAR NOT NULL,           -- retired | unknown | unchecked
    code_set VARCHAR,                   -- the code set looked in (NULL: no set claims the shape)
    code_set_version VARCHAR,           -- its version in force (NULL: none)
    retired_on DATE,                    -- retired: the first day the code is invalid
    successors VARCHAR,                 -- retired: its successors, space-separated
    reason VARCHAR                      -- unchecked: why
);
CREATE TABLE IF NOT EXISTS release_values (   -- one value per release (PFS conversion factor)
    codeset VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    value VARCHAR,
    PRIMARY KEY (codeset, version, name)
);
CREATE TABLE IF NOT EXISTS descriptor_forms (  -- what decides editorial changes, per text
    text VARCHAR PRIMARY KEY,           -- a descriptor as stored (any source, any version)
    words VARCHAR NOT NULL,             -- its case-folded words (normalise.editorial_form)
    marks VARCHAR[] NOT NULL            -- its punctuation marks, placed (normalise.descriptor_form)
);
CREATE SEQUENCE IF NOT EXISTS load_attempt_ids;
CREATE TABLE IF NOT EXISTS load_attempts (
    attempt_id BIGINT PRIMARY KEY DEFAULT nextval('load_attempt_ids'),
    codeset VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    content_sha256 VARCHAR,
    outcome VARCHAR NOT NULL,   -- loaded | unchanged | published | rejected | waiting
    message VARCHAR,
    failures JSON NOT NULL,
    warnings JSON NOT NULL,
    attempted_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS retractions (   -- versions taken out of service (`codecatalog retract`)
    codeset VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    retracted_at TIMESTAMP NOT NULL,    -- UTC
    retracted_by VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    PRIMARY KEY (codeset, version)
);
CREATE VIEW IF NOT EXISTS releases_in_service AS   -- what diffs, pointers and macros read
SELECT r.* FROM releases r
WHERE NOT EXISTS (
    SELECT 1 FROM retractions x WHERE x.codeset = r.codeset AND x.version = r.version
);
"""

PARTS = ("catalog", "details", "history", "transactions")  # the stored tables of a source

ATTEMPT_COLUMNS = (
    "codeset", "version", "source", "content_sha256", "outcome", "message", "failures",
    "warnings", "attempted_at",
)  # fmt: skip


@dataclass(frozen=True)
class LoadedRelease:
    """A row of `releases`; releases order by effective date, corrections right after their base."""

    codeset: str
    version: str
    effective_date: date
    correction: int
    content_sha256: str
    source: str
    row_count: int
    release_order: int

    @property
    def order(self) -> tuple[date, int]:
        """Sort key: effective date, then correction number."""
        return (self.effective_date, self.correction)


def schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The warehouse's schema version; None for an empty database, 1 before `meta` existed."""
    if table_exists(con, "meta"):
        row = first(con.execute("SELECT value FROM meta WHERE name = 'schema_version'"))
        return int(row[0]) if row else None
    return 1 if table_exists(con, "releases") else None


def open_reader(warehouse_dir: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the reader file `codecatalog.duckdb` (never blocks a refresh).

    Raises CodecatalogError when there is none, or when an older codecatalog made it (the next
    refresh migrates it).
    """
    path = Path(warehouse_dir) / READER_NAME
    if not path.is_file():
        raise CodecatalogError(f"no warehouse at {path}: load a release first")
    con = open_database(path, read_only=True)
    found = schema_version(con)
    if found is not None and found < SCHEMA_VERSION:
        con.close()
        raise CodecatalogError(
            f"{path} has warehouse schema {found}, this codecatalog reads schema "
            f"{SCHEMA_VERSION}: run any refresh to migrate it (it keeps a backup)"
        )
    return con


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Create the bookkeeping tables if missing and record the schema version."""
    con.execute(_DDL)
    con.execute(
        "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
        [str(SCHEMA_VERSION)],
    )


IN_SERVICE = "releases_in_service"  # the view of `releases` without the retracted versions


@dataclass(frozen=True)
class Retraction:
    """A row of `retractions`: a loaded version taken out of service, by whom, when (UTC), why."""

    codeset: str
    version: str
    retracted_at: datetime
    retracted_by: str
    reason: str

    @property
    def detail(self) -> str:
        """`on <UTC time> by <who>: <reason>`."""
        return f"on {self.retracted_at:%Y-%m-%d %H:%M:%S} UTC by {self.retracted_by}: {self.reason}"

    def __str__(self) -> str:
        return f"{self.codeset} {self.version} was retracted {self.detail}"


def retractions(con: duckdb.DuckDBPyConnection, codeset: str) -> list[Retraction]:
    """The retracted versions of a code set, in the order they were retracted."""
    if not table_exists(con, "retractions"):
        return []
    rows = con.execute(
        "SELECT x.codeset, x.version, x.retracted_at, x.retracted_by, x.reason "
        "FROM retractions x LEFT JOIN releases r USING (codeset, version) "
        "WHERE x.codeset = ? ORDER BY x.retracted_at, r.release_order",
        [codeset],
    ).fetchall()
    return [Retraction(*row) for row in rows]


def loaded_releases(
    con: duckdb.DuckDBPyConnection, codeset: str, *, include_retracted: bool = False
) -> list[LoadedRelease]:
    """Loaded versions of a code set by effective date (corrections right after their base);
    the retracted ones only with `include_retracted` (their rows stay in the interval tables)."""
    if not table_exists(con, "releases"):
        return []
    table = "releases" if include_retracted or not table_exists(con, IN_SERVICE) else IN_SERVICE
    rows = con.execute(
        "SELECT version, effective_date, correction, content_sha256, source, row_count, "
        f"release_order FROM {table} WHERE codeset = ? ORDER BY effective_date, correction",
        [codeset],
    ).fetchall()
    return [LoadedRelease(codeset, *row) for row in rows]


def find_release(
    con: duckdb.DuckDBPyConnection, codeset: str, version: str, *, include_retracted: bool = False
) -> LoadedRelease:
    """The loaded release `version`; VersionError listing what is loaded otherwise, or saying
    when, by whom and why it was retracted (unless `include_retracted`)."""
    releases = loaded_releases(con, codeset, include_retracted=True)
    found = next((r for r in releases if r.version == version), None)
    retracted = {r.version: r for r in retractions(con, codeset)}
    if found is not None and (include_retracted or version not in retracted):
        return found
    if found is not None:
        raise VersionError(str(retracted[version]))
    known = ", ".join(r.version for r in releases if r.version not in retracted) or "none"
    raise VersionError(f"{codeset} version {version!r} is not loaded (loaded: {known})")


def check_new_version(
    con: duckdb.DuckDBPyConnection,
    codeset: str,
    version: Version,
    effective_date: date,
    content_sha256: str,
) -> bool:
    """Whether `version` still needs loading: False when the same bytes are already loaded.

    Raises VersionError for different content under a loaded version, or a label naming the same
    release slot as a loaded one (`2026` vs `2026Q1`); for a retracted version's label or slot,
    whatever the content, naming the correction label to load it under.
    """
    releases = loaded_releases(con, codeset, include_retracted=True)
    retracted = {r.version: r for r in retractions(con, codeset)}
    for release in releases:
        same_slot = release.order == (effective_date, version.correction)
        if release.version in retracted and (release.version == version.label or same_slot):
            said = (
                "was retracted"
                if release.version == version.label
                else f"names the same release as version {release.version}, retracted"
            )
            raise VersionError(
                f"{codeset} {version} {said} {retracted[release.version].detail}; load the "
                f"release again as a correction, e.g. {_next_correction(releases, version)}"
            )
        if release.version == version.label:
            if release.content_sha256 == content_sha256:
                return False
            raise VersionError(
                f"{codeset} {version} is already loaded with different content "
                f"(sha256 {release.content_sha256[:12]}…, now {content_sha256[:12]}…); "
                f"load the new content as a correction, e.g. {version.label}r1"
            )
        if same_slot:
            raise VersionError(
                f"{codeset} {version} names the same release as loaded version "
                f"{release.version} (both effective {effective_date})"
            )
    return True


def _next_correction(releases: Sequence[LoadedRelease], version: Version) -> str:
    """The first correction label of `version`'s release that no loaded version uses."""
    base = version.label.split("r", 1)[0]
    taken = [r.correction for r in releases if r.effective_date == version.effective_date]
    return f"{base}r{max(taken, default=0) + 1}"


def part_key(cfg: SourceConfig, part: str) -> tuple[str, ...] | None:
    """The columns identifying a row of one part of a source (None: the whole row)."""
    if part == "catalog":
        return cfg.key
    if part == "details" and cfg.detail is not None:
        return (*cfg.key, cfg.detail.id)
    return None


def store_declaration(con: duckdb.DuckDBPyConnection, cfg: SourceConfig) -> str:
    """Keep the declaration a release is loaded with; return its sha256."""
    sha = declaration_sha256(cfg)
    con.execute(
        "INSERT INTO declarations VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [sha, cfg.name, declaration_json(cfg)],
    )
    return sha


def stored_declaration(con: duckdb.DuckDBPyConnection, codeset: str) -> SourceConfig | None:
    """The declaration the newest loaded version of `codeset` was loaded with."""
    if not table_exists(con, "declarations"):
        return None
    row = first(
        con.execute(
            "SELECT d.declaration FROM releases r JOIN declarations d ON d.sha256 = "
            "r.declaration_sha256 WHERE r.codeset = ? ORDER BY r.loaded_at DESC, "
            "r.release_order DESC LIMIT 1",
            [codeset],
        )
    )
    return config_from_json(row[0]) if row else None


def load_release(
    con: duckdb.DuckDBPyConnection,
    cfg: SourceConfig,
    version: Version,
    effective_date: date,
    parts: dict[str, str],
    *,
    content_sha256: str,
    source: str,
    files: list[dict[str, Any]],
    loaded_at: datetime,
) -> None:
    """Insert a release row and store its parts (`catalog`, `details`, …; each a table or view
    name on `con`) as validity intervals, in the caller's transaction. A `release_values` part
    (name, value) is stored once for the release, not as intervals."""
    parts = dict(parts)
    values = parts.pop("release_values", None)
    order = release_order(effective_date, version.correction)
    # A retracted version's rows stay: the new version's intervals end where they start.
    loaded = loaded_releases(con, cfg.name, include_retracted=True)
    later = [r.release_order for r in loaded if r.release_order > order]
    row_count = first(con.execute(f"SELECT count(*) FROM {parts['catalog']}"))
    con.execute(
        "INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            cfg.name,
            version.label,
            effective_date,
            version.correction,
            content_sha256,
            source,
            json.dumps(files),
            row_count[0] if row_count else 0,
            loaded_at,
            order,
            store_declaration(con, cfg),
            schema_sha256(cfg),
        ],
    )
    if values is not None:
        con.execute(
            f"INSERT INTO release_values SELECT ?, ?, name, value FROM ({values})",
            [cfg.name, version.label],
        )
    for part in PARTS:  # a part this release lacks holds no rows from it on
        if part not in parts and table_exists(con, f"{cfg.name}_{part}"):
            parts[part] = f"(SELECT * EXCLUDE (_from, _to) FROM {cfg.name}_{part} LIMIT 0)"
    for part, relation in parts.items():
        store_version(
            con,
            f"{cfg.name}_{part}",
            relation,
            part_key(cfg, part),
            order,
            min(later, default=None),
        )
    store_descriptor_forms(con, cfg, parts)


def store_descriptor_forms(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, parts: dict[str, str]
) -> int:
    """Store the form (`normalise.descriptor_form`) of each descriptor text in `parts` (the
    `catalog` part's descriptor columns, the `details` part's values) not stored yet; return how
    many were new. Each distinct text is normalised once, ever."""
    texts = []
    if cfg.descriptors and "catalog" in parts:
        columns = ", ".join(f"{quote(c)}::VARCHAR" for c in cfg.descriptors)
        texts.append(f"SELECT unnest([{columns}]) AS text FROM {parts['catalog']}")
    if cfg.detail is not None and "details" in parts:
        texts.append(f"SELECT {quote(cfg.detail.value)}::VARCHAR FROM {parts['details']}")
    if not texts:
        return 0
    new = [
        text
        for (text,) in con.execute(
            f"SELECT DISTINCT text FROM ({' UNION ALL '.join(texts)}) WHERE text IS NOT NULL "
            "AND text NOT IN (SELECT text FROM descriptor_forms)"
        ).fetchall()
    ]
    if not new:
        return 0
    forms = [descriptor_form(text) for text in new]
    con.execute(
        "INSERT INTO descriptor_forms SELECT unnest($texts::VARCHAR[]), "
        "unnest($words::VARCHAR[]), unnest($marks::VARCHAR[][])",
        {"texts": new, "words": [w for w, _ in forms], "marks": [m for _, m in forms]},
    )
    return len(new)


def release_values(
    con: duckdb.DuckDBPyConnection, codeset: str, version: str
) -> dict[str, str | None]:
    """What version `version` of `codeset` states once for all its rows, by name."""
    rows = con.execute(
        "SELECT name, value FROM release_values WHERE codeset = ? AND version = ? ORDER BY name",
        [codeset, version],
    ).fetchall()
    return dict(rows)


def store_reconciliation(
    con: duckdb.DuckDBPyConnection, codeset: str, old: str, new: str, found: pd.DataFrame
) -> None:
    """Replace the stored reconciliation of the step old → new with `found`."""
    con.execute(
        "DELETE FROM reconciliations WHERE codeset = ? AND from_version = ? AND to_version = ?",
        [codeset, old, new],
    )
    con.register("found", found)
    con.execute(
        "INSERT INTO reconciliations SELECT ?, ?, ?, key, computed, source_action, problem "
        "FROM found",
        [codeset, old, new],
    )
    con.unregister("found")


def attempt_row(
    *,
    codeset: str,
    version: str,
    source: str,
    content_sha256: str | None,
    outcome: str,
    attempted_at: datetime,
    message: str = "",
    failures: Sequence[Failure] = (),
    warnings: Sequence[Failure] = (),
) -> dict[str, Any]:
    """One `load_attempts` row as plain JSON-able values (also the side log's line format)."""
    return {
        "codeset": codeset,
        "version": version,
        "source": source,
        "content_sha256": content_sha256,
        "outcome": outcome,
        "message": message,
        "failures": json.dumps([f.__dict__ for f in failures]),
        "warnings": json.dumps([w.__dict__ for w in warnings]),
        "attempted_at": attempted_at.isoformat(),
    }


def record_attempts(con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Append rows made by `attempt_row` to `load_attempts`."""
    columns = ", ".join(ATTEMPT_COLUMNS)
    marks = ", ".join("?" * len(ATTEMPT_COLUMNS))
    if rows:
        con.executemany(
            f"INSERT INTO load_attempts ({columns}) VALUES ({marks})",
            [[row[c] for c in ATTEMPT_COLUMNS] for row in rows],
        )

"""The refresh steps as plain functions, and `refresh`, which runs them in order.

fetch → read → validate → (writer lock) recover → load → diff → publish. Every step is callable on
its own (tests, notebooks); `flows/refresh.py` calls the same steps as Prefect tasks in the same
order. Load, diff and the staging of the version directory share one transaction: a refresh lands
whole (rows, reconciliation, attempt record, published directory) or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from codecatalog import analyst_sql, steplog
from codecatalog import warehouse as wh
from codecatalog.diff.changes import (
    CHANGE_COLUMNS,
    active_sql,
    predecessor,
    reconciliation,
    store_changes,
    store_table_reconciliation,
)
from codecatalog.duckdb_settings import configure
from codecatalog.errors import (
    CodecatalogError,
    DeclarationError,
    Failure,
    IncompleteRefresh,
    UsageError,
    ValidationFailed,
    VersionError,
    WarehouseBusy,
    WarehouseUnusable,
)
from codecatalog.families import family, release_done
from codecatalog.fetch import fetch
from codecatalog.findings import (
    code_set_versions,
    compute_findings,
    findings_summary,
    published_findings_sql,
)
from codecatalog.intervals import in_force, rows_at
from codecatalog.migrate import upgrade
from codecatalog.orphans import stop_recorded
from codecatalog.publish import (
    CURRENT,
    LATEST,
    Publication,
    place_version,
    point_latest,
    remove_partial_versions,
    remove_pointer,
    stage_version,
    version_dir,
    write_retractions,
)
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.release import Release
from codecatalog.report import (
    TableReconciliation,
    change_counts,
    render_report,
    summarise_changes,
)
from codecatalog.report_html import render_report_html
from codecatalog.sources import SourceConfig, source, tracked_identity
from codecatalog.sql import first, quote
from codecatalog.stated_version import check_stated_version
from codecatalog.versions import Version
from codecatalog.writer import (
    STAGING_PREFIX,
    Clock,
    Writer,
    append_pending,
    describe,
    usable_directory,
    utc_now,
)

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Request:
    """What one refresh was asked to do, checked before anything is fetched."""

    codeset: str
    source_uri: str
    version: Version
    effective: date
    transactions: str | None = None
    allow_shrink: bool = False

    @classmethod
    def parse(
        cls,
        codeset: str,
        source_uri: str,
        version: str,
        effective: date | str | None = None,
        transactions: str | None = None,
        allow_shrink: bool = False,
    ) -> Request:
        """Check the source name, the version label and the effective date.

        Raises UnknownSource (listing the declared ones), VersionError or UsageError.
        """
        source(codeset)
        parsed = Version.parse(version)
        if isinstance(effective, str):
            try:
                effective = date.fromisoformat(effective)
            except ValueError:
                raise UsageError(f"--effective {effective!r} is not a date (YYYY-MM-DD)") from None
        effective = effective or parsed.effective_date
        if effective.year != parsed.year:
            raise VersionError(f"--effective {effective} is not in version {parsed}'s year")
        return cls(codeset, source_uri, parsed, effective, transactions, allow_shrink)


@dataclass
class RefreshResult:
    """What one refresh did."""

    codeset: str
    version: str
    outcome: str  # loaded | unchanged | published (loaded earlier, published only now)
    published: Path
    latest: str
    previous: str | None
    counts: dict[str, int]
    warnings: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # backfill, identical correction, recovery


def published_root(warehouse_dir: Path) -> Path:
    """Where published versions live inside a warehouse directory."""
    return Path(warehouse_dir) / "published"


# --- steps before the writer lock ----------------------------------------------------------------


def fetch_step(source_uri: str, warehouse_dir: Path) -> Path:
    """A local release path, or an http(s) URL downloaded into `<warehouse>/downloads/`."""
    return fetch(source_uri, Path(warehouse_dir) / "downloads").path


def read_step(
    codeset: str, path: Path, transactions: Path | None = None, staging: Path | None = None
) -> Release:
    """Read every file of the release at `path` (directory, zip or single file); a `table`
    release goes into the new DuckDB file `staging`."""
    cfg = source(codeset)
    extra = ReleaseArchive.open(transactions) if transactions else None
    return family(cfg.family).read(ReleaseArchive.open(path), extra, cfg, staging)


@contextmanager
def staging_area(warehouse_dir: Path, needed: bool = True) -> Iterator[Path | None]:
    """A private directory inside the warehouse for one refresh's staging database (None when
    not `needed`), removed afterwards; a killed refresh's are removed by the next writer."""
    if not needed:
        yield None
        return
    directory = usable_directory(warehouse_dir)
    try:
        area = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=directory))
    except OSError as err:
        raise WarehouseUnusable(f"cannot stage in {directory}: {describe(err)}") from None
    try:
        yield area / "release.duckdb"
    finally:
        shutil.rmtree(area, ignore_errors=True)


def validate_step(request: Request, release: Release) -> list[Failure]:
    """Check the version label against the release, then every schema; return the warnings.

    Raises VersionError or ValidationFailed (with every failure found).
    """
    version = request.version
    if release.stated_year is not None and release.stated_year != version.year:
        raise VersionError(
            f"version {version} contradicts {release.year_source}: it states the year "
            f"{release.stated_year}"
        )
    cfg = source(request.codeset)
    if cfg.version_check is not None:
        stated = check_stated_version(cfg.version_check, version, release.evidence)
        if stated:
            said = "; ".join(f"{f.file}: {f.column} {f.value}" for f in stated)
            raise VersionError(f"version {version} contradicts the release: {said}")
    errors, warnings = family(cfg.family).validate(release, cfg)
    if errors:
        raise ValidationFailed(release.name, errors)
    return warnings


# --- steps under the writer lock -----------------------------------------------------------------


def open_writer(
    warehouse_dir: Path, *, wait: float | None = None, clock: Clock = utc_now
) -> Writer:
    """Take the warehouse's writer lock, prepare its tables, take in pending attempt records
    and bring the analysts' SQL macros up to date."""
    writer = Writer.open(warehouse_dir, wait=wait, clock=clock)
    try:
        upgrade(writer)
        with writer.pending_attempts() as pending, writer.transaction():
            wh.prepare(writer.con)
            wh.record_attempts(writer.con, pending)
            renewed = analyst_sql.install(writer.con)  # this codecatalog's macros
        if pending or renewed:
            writer.sync_reader()
    except BaseException:
        writer.close()
        raise
    return writer


@dataclass(frozen=True)
class Loaded:
    """What the load step did: `loaded` or `unchanged`, and notes for the operator."""

    outcome: str
    notes: list[str]


def load_step(
    con: duckdb.DuckDBPyConnection,
    request: Request,
    release: Release,
    warnings: list[Failure],
    clock: Clock = utc_now,
) -> Loaded:
    """Insert the release and its attempt record (in the caller's transaction).

    `unchanged` when the same bytes are already loaded under this version. Refuses a release
    loaded under a declaration whose key, columns or tracked fields differ from the stored one,
    and one in which more than `max_vanished` of the previous version's active keys vanish
    (unless `request.allow_shrink`).
    """
    codeset, version = request.codeset, request.version
    cfg = source(codeset)
    sha = release.content_sha256
    if wh.check_new_version(con, codeset, version, request.effective, sha):
        check_declaration(con, cfg)
        notes = load_notes(wh.loaded_releases(con, codeset), version, request.effective, sha)
        try:
            wh.load_release(
                con,
                cfg,
                version,
                request.effective,
                family(cfg.family).parts(release, cfg, con),
                content_sha256=sha,
                source=request.source_uri,
                files=[f.__dict__ for f in release.files.values()],
                loaded_at=clock(),
            )
        finally:
            release_done(con)
        if not request.allow_shrink:
            check_vanished(con, cfg, version.label)
        analyst_sql.install(con)  # a new source gets its macros
        outcome = "loaded"
    else:
        notes, outcome = [], "unchanged"
    wh.record_attempts(
        con,
        [
            wh.attempt_row(
                codeset=codeset,
                version=version.label,
                source=request.source_uri,
                content_sha256=sha,
                outcome=outcome,
                attempted_at=clock(),
                message="\n".join(notes),
                warnings=warnings,
            )
        ],
    )
    return Loaded(outcome, notes)


def check_declaration(con: duckdb.DuckDBPyConnection, cfg: SourceConfig) -> None:
    """DeclarationError when the source's key, columns or tracked fields differ from those its
    loaded versions were loaded with."""
    stored = wh.stored_declaration(con, cfg.name)
    if stored is None:
        return
    before, now = tracked_identity(stored), tracked_identity(cfg)
    changed = {k: before.get(k) for k in now if before.get(k) != now.get(k)}
    if changed:
        where = cfg.declared_in or "config/sources.toml"
        raise DeclarationError(
            f"{cfg.name}: the declaration in {where} changes {', '.join(changed)} since its "
            f"versions were loaded (was {json.dumps(changed)}); declare the new layout as a "
            "new source"
        )


def check_vanished(con: duckdb.DuckDBPyConnection, cfg: SourceConfig, version: str) -> None:
    """VersionError when more than `cfg.max_vanished` of the previous version's active keys are
    absent from `version` (a part of a multi-file release missing must not retire them)."""
    before = predecessor(con, cfg.name, version)
    if before is None:
        return
    now = wh.find_release(con, cfg.name, version)
    catalog, active_row = quote(f"{cfg.name}_catalog"), active_sql(cfg)
    same = " AND ".join(f"n.{quote(k)} IS NOT DISTINCT FROM o.{quote(k)}" for k in cfg.key)
    params = {"old": before.release_order, "new": now.release_order}
    counted = first(
        con.execute(
            f"SELECT count(*) FROM {catalog} WHERE {in_force('$old')} AND {active_row}",
            {"old": params["old"]},
        )
    )
    # Rows active at `old` that end by `new`, with no row of their key starting after `old`
    # and holding at `new` (the versions between them may be retracted ones).
    ended = first(
        con.execute(
            f"""SELECT count(*) FROM (SELECT * FROM {catalog} WHERE _to <= $new AND {active_row}
                                      AND {in_force("$old")}) o
            ANTI JOIN (SELECT * FROM {catalog} WHERE _from > $old AND {in_force("$new")}) n
            ON {same}""",
            params,
        )
    )
    active, vanished = (counted or (0,))[0], (ended or (0,))[0]
    if active and vanished / active > cfg.max_vanished:
        raise VersionError(
            f"{cfg.name} {version}: {vanished:,} of the {active:,} active keys of {before.version} "
            f"({vanished / active:.1%}) are missing, more than max_vanished "
            f"({cfg.max_vanished:.0%}); is part of the release missing? Load it with "
            "--allow-shrink if the shrink is real"
        )


def load_notes(
    loaded: list[wh.LoadedRelease], version: Version, effective: date, content_sha256: str
) -> list[str]:
    """What an operator must know about loading `version` next to the `loaded` ones.

    A correction with the same content as the release it corrects, and a backfill: a version
    loaded after its successor, whose published changes (never rewritten) skip this step.
    """
    notes = []
    order = (effective, version.correction)
    corrected = [r for r in loaded if r.effective_date == effective and r.order < order]
    if corrected and corrected[-1].content_sha256 == content_sha256:
        notes.append(
            f"{version} has the same content as {corrected[-1].version}, the version it corrects"
        )
    earlier = [r for r in loaded if r.order < order]
    later = [r for r in loaded if r.order > order]
    if later:
        successor = later[0]
        compared = f"with {earlier[-1].version}" if earlier else "with nothing (first loaded)"
        notes.append(
            f"backfill: {successor.version} was loaded before {version}, so its published "
            f"changes compare it {compared}, not with {version}; published versions are never "
            f"rewritten (`codecatalog diff {successor.codeset} {version} {successor.version}` "
            "gives the step)"
        )
    return notes


CHANGES_TABLE = "_changes"  # the temporary table a refresh's change rows are kept in


@dataclass
class Comparison:
    """A version's changes against the loaded version before it (kept in the temporary table
    `table` on the writer connection), their counts, and the reconciliation."""

    previous: str | None
    table: str
    counts: dict[str, int]
    reconciliation: pd.DataFrame | None
    table_reconciliation: TableReconciliation | None = None  # a table source's, in SQL


RECONCILIATION_LISTED = 200  # reconciliation rows of a table source listed in the report


def diff_step(con: duckdb.DuckDBPyConnection, codeset: str, version: str) -> Comparison:
    """Changes from the preceding loaded version (none for the first) and the reconciliation
    with the release's own actions, which is also stored in the warehouse."""
    cfg = source(codeset)
    before = predecessor(con, codeset, version)
    if before is None:
        columns = ", ".join(
            f"NULL::{'DATE' if c == 'effective_date' else 'VARCHAR'} AS {c}" for c in CHANGE_COLUMNS
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE {CHANGES_TABLE} AS SELECT {columns} LIMIT 0")
        return Comparison(None, CHANGES_TABLE, change_counts(con, CHANGES_TABLE), None)
    store_changes(con, cfg, before.version, version, CHANGES_TABLE)
    counts = change_counts(con, CHANGES_TABLE)
    if cfg.family == "table" and (cfg.retire is not None or cfg.source_action):
        kinds = store_table_reconciliation(con, cfg, before.version, version)
        listed = con.execute(
            "SELECT key, computed, source_action, problem FROM reconciliations WHERE codeset = ? "
            f"AND from_version = ? AND to_version = ? ORDER BY key, problem "
            f"LIMIT {RECONCILIATION_LISTED}",
            [codeset, before.version, version],
        ).fetchall()
        table = TableReconciliation(kinds, listed)
        return Comparison(before.version, CHANGES_TABLE, counts, None, table)
    if not cfg.source_action or not Version.parse(version).follows(Version.parse(before.version)):
        return Comparison(before.version, CHANGES_TABLE, counts, None)
    changes = con.execute(f"SELECT * FROM {CHANGES_TABLE}").df()  # code sets: small
    changes["effective_date"] = changes["effective_date"].dt.date
    found = reconciliation(con, cfg, before.version, version, changes)
    wh.store_reconciliation(con, codeset, before.version, version, found)
    return Comparison(before.version, CHANGES_TABLE, counts, found)


@dataclass(frozen=True)
class Staged:
    """A version directory written under a temporary name, and where it goes."""

    staging: Path | None  # None: already published
    target: Path


def publish_step(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    codeset: str,
    version: str,
    comparison: Comparison,
    warnings: list[Failure],
    notes: list[str],
    clock: Clock = utc_now,
) -> Staged:
    """Render the report and write the version directory under a temporary name (nothing when
    the version is published already: published directories are never rewritten)."""
    target = version_dir(root, codeset, version)
    if target.exists():
        return Staged(None, target)
    cfg = source(codeset)
    release = wh.find_release(con, codeset, version)
    order = str(release.release_order)
    key = ", ".join(quote(k) for k in cfg.key)
    tables = {"catalog": f"SELECT * FROM {rows_at(f'{codeset}_catalog', order)} ORDER BY {key}"}
    keys = {"catalog": list(cfg.key)}
    if cfg.detail:
        keys[f"{cfg.detail.name}s"] = [*cfg.key, cfg.detail.id]
        tables[f"{cfg.detail.name}s"] = (
            f"SELECT * FROM {rows_at(f'{codeset}_details', order)} "
            f"ORDER BY {key}, {quote(cfg.detail.id)}"
        )
    tables["changes"] = f"SELECT * FROM {comparison.table}"
    used = None
    if cfg.code_columns:  # a snapshot: published directories are never rewritten
        compute_findings(con, cfg, version, {name: source(name) for name in cfg.code_sets})
        tables["findings"] = published_findings_sql(codeset, version)
        used = code_set_versions(con, cfg, version)
    files = first(
        con.execute(
            "SELECT files FROM releases WHERE codeset = ? AND version = ?", [codeset, version]
        )
    )
    values = wh.release_values(con, codeset, version)
    before = wh.release_values(con, codeset, comparison.previous) if comparison.previous else {}
    stated = [
        f"{name}: {value}"
        + (f" (was {before[name]})" if name in before and before[name] != value else "")
        for name, value in values.items()
    ]
    notes = [*notes, *(f"stated once for the release: {line}" for line in stated)]
    report = render_report(
        title=cfg.title,
        codeset=codeset,
        version=version,
        effective_date=release.effective_date,
        previous=comparison.previous,
        row_count=release.row_count,
        summary=summarise_changes(con, comparison.table),
        reconciliation=comparison.reconciliation,
        table_reconciliation=comparison.table_reconciliation,
        warnings=[str(w) for w in warnings],
        notes=notes,
        has_actions=bool(cfg.source_action),
        findings=findings_summary(con, codeset, version),
    )
    report_html = render_report_html(
        con,
        cfg,
        version,
        comparison.table,
        comparison.previous,
        published_root=root,
        reconciliation=comparison.reconciliation,
        table_reconciliation=comparison.table_reconciliation,
        warnings=[str(w) for w in warnings],
        notes=notes,
    )
    publication = Publication(
        codeset=codeset,
        version=version,
        effective_date=release.effective_date,
        previous_version=comparison.previous,
        tables=tables,
        report_md=report,
        inputs=json.loads(files[0]) if files else [],
        content_sha256=release.content_sha256,
        code_set_versions=used,
        licence=cfg.licence,
        release_values=values if cfg.release_values else None,
        keys=keys,
        documents=code_system_documents(con, cfg, version),
        report_html=report_html,
    )
    return Staged(stage_version(con, root, publication, clock()), target)


def code_system_documents(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, version: str
) -> dict[str, dict[str, Any]]:
    """`codesystem.json` (FHIR CodeSystem) for the code sets that have one (CPT, HCPCS); its
    descriptors only when $CODECATALOG_LICENSED holds every licence the source declares."""
    from codecatalog.fhir import SYSTEMS, code_system, licensed_allowed

    if cfg.name not in SYSTEMS:
        return {}
    system = code_system(con, cfg, version, include_licensed=licensed_allowed(cfg))
    return {"codesystem.json": system}


@dataclass
class Landing:
    """What lands when a refresh's transaction commits: the staged directory, then `latest`."""

    staged: Staged | None = None
    latest: str | None = None


@contextmanager
def landing(
    writer: Writer, root: Path, codeset: str, version: str, clock: Clock = utc_now
) -> Iterator[Landing]:
    """The transaction a refresh loads, diffs and stages in (setting `.staged`), and what follows.

    Leaving the block commits, replaces the reader file, renames the staged directory into place
    and moves `latest`. A failure before the commit rolls everything back and removes the
    staged directory; a failure after it raises IncompleteRefresh (the release is loaded: the next
    refresh of the code set finishes publishing it).
    """
    landed = Landing()
    try:
        with writer.transaction():
            yield landed
    except BaseException:
        _discard(landed.staged)
        raise
    if landed.staged is None:
        raise ValueError("landing: nothing was staged")
    try:
        writer.sync_reader()
        landed.latest = place_step(writer.con, root, codeset, landed.staged, clock().date())
    except (OSError, CodecatalogError, duckdb.Error) as err:
        _discard(landed.staged)
        raise IncompleteRefresh(
            f"{codeset} {version} is loaded, but finishing its publication failed ({err}); "
            f"the next refresh of {codeset} publishes it"
        ) from None


def _discard(staged: Staged | None) -> None:
    """Remove a staged directory that was not renamed into place."""
    if staged is not None and staged.staging is not None:
        shutil.rmtree(staged.staging, ignore_errors=True)


def place_step(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    codeset: str,
    staged: Staged,
    today: date | None = None,
) -> str:
    """Rename a committed version's directory into place and bring the source's pointers up to
    date (`point_all`). Returns the newest version in service."""
    if staged.staging is not None:
        place_version(staged.staging, staged.target)
    point_all(con, root, codeset, today or utc_now().date())
    return wh.loaded_releases(con, codeset)[-1].version


def point_all(
    con: duckdb.DuckDBPyConnection, root: Path, codeset: str, today: date
) -> tuple[str | None, str | None]:
    """Write `retractions.json` (once a version of `codeset` was retracted), then point `latest`
    at the newest published version in service and `current` at the newest published one in
    force `today` (a release loaded months before its effective date is `latest` long before it
    is `current`). Returns the versions named (latest, current); None: that pointer is absent."""
    retracted = wh.retractions(con, codeset)
    if retracted:
        write_retractions(root, codeset, retracted)
    return point_newest(con, root, codeset), point_current(con, root, codeset, today)


def point_newest(con: duckdb.DuckDBPyConnection, root: Path, codeset: str) -> str | None:
    """Point `latest.json` at the newest published version of `codeset` in service; return it
    (None, and the pointer removed, when no published version is in service)."""
    return _point(con, root, codeset, LATEST, None)


def point_current(
    con: duckdb.DuckDBPyConnection, root: Path, codeset: str, today: date
) -> str | None:
    """Point `current.json` at the newest published version of `codeset` in service and in force
    `today`; return it (None, and no pointer left, when none is in force)."""
    return _point(con, root, codeset, CURRENT, today)


def _point(
    con: duckdb.DuckDBPyConnection, root: Path, codeset: str, pointer: str, today: date | None
) -> str | None:
    named = [
        r
        for r in wh.loaded_releases(con, codeset)
        if (today is None or r.effective_date <= today)
        and version_dir(root, codeset, r.version).exists()
    ]
    if not named:
        remove_pointer(root, codeset, pointer)
        return None
    point_latest(root, codeset, named[-1].version, named[-1].effective_date, pointer)
    return named[-1].version


def point_current_all(
    warehouse_dir: Path, *, wait: float | None = None, clock: Clock = utc_now
) -> dict[str, str | None]:
    """`point_current` for every loaded source, under the writer lock (a version's effective
    date passes without a refresh: run this daily). Returns source -> version in force."""
    root = published_root(Path(warehouse_dir))
    with open_writer(Path(warehouse_dir), wait=wait, clock=clock) as writer:
        names = [r[0] for r in writer.con.execute(
            "SELECT DISTINCT codeset FROM releases ORDER BY codeset"
        ).fetchall()]  # fmt: skip
        return {name: point_current(writer.con, root, name, clock().date()) for name in names}


@dataclass(frozen=True)
class Recovered:
    """What a refresh finished for interrupted ones before its own work."""

    versions: list[str]  # loaded but left unpublished, published now
    stopped: list[str]  # one line per process a killed refresh left running, stopped now

    def notes(self) -> list[str]:
        """The lines the refresh's notes start with."""
        published = (
            f"published {v}, left unpublished by an interrupted refresh" for v in self.versions
        )
        return [*self.stopped, *published]


def recover_step(writer: Writer, root: Path, codeset: str, clock: Clock = utc_now) -> Recovered:
    """Finish what an interrupted refresh left: stop the processes a killed one left running
    (`orphans.stop_recorded`), remove partial version directories, then publish every loaded
    version of `codeset` that is not published yet."""
    stopped = stop_recorded(writer.directory)
    remove_partial_versions(root, codeset)
    con = writer.con
    published = []
    for release in wh.loaded_releases(con, codeset):
        if version_dir(root, codeset, release.version).exists():
            continue
        warnings, notes = _recorded_outcome(con, codeset, release.version)
        with landing(writer, root, codeset, release.version, clock) as landed:
            comparison = diff_step(con, codeset, release.version)
            landed.staged = publish_step(
                con, root, codeset, release.version, comparison, warnings, notes, clock
            )
        published.append(release.version)
    return Recovered(published, stopped)


def _recorded_outcome(
    con: duckdb.DuckDBPyConnection, codeset: str, version: str
) -> tuple[list[Failure], list[str]]:
    """The warnings and notes recorded when `version` was loaded."""
    row = first(
        con.execute(
            "SELECT warnings, message FROM load_attempts WHERE codeset = ? AND version = ? "
            "AND outcome = 'loaded' ORDER BY attempt_id DESC LIMIT 1",
            [codeset, version],
        )
    )
    if row is None:
        return [], []
    return [Failure(**w) for w in json.loads(row[0])], [n for n in (row[1] or "").split("\n") if n]


# --- the whole refresh ---------------------------------------------------------------------------


@dataclass
class Attempt:
    """The attempt being made, for its `load_attempts` record if it is refused."""

    codeset: str
    version: str
    source_uri: str
    content_sha256: str | None = None


@contextmanager
def recorded_refusal(
    warehouse_dir: Path, attempt: Attempt, clock: Clock = utc_now
) -> Iterator[Attempt]:
    """Record a refused attempt (any CodecatalogError) in `load_attempts`, then re-raise it.

    When the warehouse is held by another writer the record goes to the side log the next writer
    takes in; when it cannot be written at all (a file in its place, not a database, read-only
    or full disk) nothing is recorded and the error says why.
    """
    try:
        yield attempt
    except CodecatalogError as err:
        record_refusal(warehouse_dir, attempt, err, clock)
        raise


def record_refusal(
    warehouse_dir: Path, attempt: Attempt, err: CodecatalogError, clock: Clock = utc_now
) -> None:
    """Append the refused attempt to `load_attempts` (the side log when the warehouse is busy)."""
    if isinstance(err, WarehouseUnusable | IncompleteRefresh):
        return  # the warehouse cannot take the record, or already holds the loaded release
    row = wh.attempt_row(
        codeset=attempt.codeset,
        version=attempt.version,
        source=attempt.source_uri,
        content_sha256=attempt.content_sha256,
        outcome="rejected",
        attempted_at=clock(),
        message=str(err),
        failures=err.failures if isinstance(err, ValidationFailed) else [],
    )
    if isinstance(err, WarehouseBusy):
        _append_pending(warehouse_dir, row)
        return
    record_attempt(warehouse_dir, row, clock)


def record_attempt(warehouse_dir: Path, row: dict[str, Any], clock: Clock = utc_now) -> None:
    """Append one `load_attempts` row (`wh.attempt_row`) without waiting: to the side log when
    another writer holds the warehouse, nowhere when it cannot be written."""
    try:
        with open_writer(warehouse_dir, wait=0, clock=clock) as writer:
            with writer.transaction():
                wh.record_attempts(writer.con, [row])
            writer.sync_reader()
    except WarehouseBusy:
        _append_pending(warehouse_dir, row)
    except (WarehouseUnusable, OSError):
        pass  # nowhere to record it; the error itself is reported


def _append_pending(warehouse_dir: Path, row: dict[str, Any]) -> None:
    with suppress(OSError):  # nowhere to record it; the error itself is reported
        append_pending(warehouse_dir, row)


def refresh(
    codeset: str,
    source_uri: str,
    version: str,
    *,
    warehouse_dir: Path,
    effective: date | str | None = None,
    transactions: str | None = None,
    wait: float | None = None,
    allow_shrink: bool = False,
    clock: Clock = utc_now,
    progress: Callable[[str], None] | None = None,
) -> RefreshResult:
    """Fetch, read, validate, load, diff, report and publish one release, without Prefect.

    `transactions` is a separate transaction report (HCPCS quarterly files), path or URL; `wait`
    how long to wait for another writer (default $CODECATALOG_WRITER_WAIT or 60 s); `progress`
    is told each step as it starts (the CLI shows it on a terminal). Each step logs one record
    (`codecatalog.steplog`) with its time and counts.

    A refused release raises (VersionError, ValidationFailed, DecodeError, …) after recording the
    failed attempt in `load_attempts`; loaded releases and published files stay as they were.
    """
    warehouse_dir = Path(warehouse_dir)
    with recorded_refusal(warehouse_dir, Attempt(codeset, version, source_uri), clock) as attempt:
        say = progress or (lambda _: None)
        request = Request.parse(codeset, source_uri, version, effective, transactions, allow_shrink)
        log = partial(steplog.step, source=codeset, version=request.version.label)
        say(f"fetching {source_uri}")
        with log("fetch", uri=source_uri):
            path = fetch_step(source_uri, warehouse_dir)
        extra = None
        if transactions:
            with log("fetch", uri=transactions):
                extra = fetch_step(transactions, warehouse_dir)
        with staging_area(warehouse_dir, source(codeset).family == "table") as staging:
            say(f"reading {path.name}")
            with log("read") as logged:
                release = read_step(codeset, path, extra, staging)
                logged.done(read_counts(release))
            attempt.content_sha256 = release.content_sha256
            say("validating")
            with log("validate") as logged:
                warnings = validate_step(request, release)
                logged.done(validate_counts(warnings))
            root = published_root(warehouse_dir)
            say("waiting for the warehouse")
            with open_writer(warehouse_dir, wait=wait, clock=clock) as writer:
                with log("recover") as logged:
                    recovered = recover_step(writer, root, codeset, clock)
                    logged.done(recover_counts(recovered))
                # Leaving `landing` commits, then places the directory and moves the pointers:
                # the place step, logged when `placing` ends.
                with ExitStack() as placing:
                    with landing(writer, root, codeset, version, clock) as landed:
                        say(f"loading {codeset} {version}")
                        with log("load") as logged:
                            loaded = load_step(writer.con, request, release, warnings, clock)
                            logged.done(load_counts(writer.con, request, loaded))
                        say("comparing with the previous version")
                        with log("diff") as logged:
                            comparison = diff_step(writer.con, codeset, version)
                            logged.done(diff_counts(comparison))
                        say("publishing")
                        with log("publish") as logged:
                            landed.staged = publish_step(
                                writer.con,
                                root,
                                codeset,
                                version,
                                comparison,
                                warnings,
                                loaded.notes,
                                clock,
                            )
                            logged.done(publish_counts(landed.staged))
                        placed = placing.enter_context(log("place"))
                    placed.done({"latest": landed.latest})
    return refresh_result(request, loaded, recovered, comparison, landed, warnings)


# --- what each step's log record counts (the same for `refresh` and the flow) --------------------


def read_counts(release: Release) -> dict[str, Any]:
    """Rows read, in all and per file (a `table` release's counted in its staging database)."""
    per_file: dict[str, int] = {}
    if release.database is not None:
        from codecatalog.read.table import TABLE

        with duckdb.connect(str(release.database), read_only=True) as con:
            counted = configure(con).execute(
                f"SELECT _file, count(*) FROM {TABLE} GROUP BY _file ORDER BY min(rowid)"
            )
            per_file.update(counted.fetchall())
    for table in release.tables.values():
        per_file[table.file] = per_file.get(table.file, 0) + len(table.frame)
    return {"rows": sum(per_file.values()), "rows_by_file": per_file}


def validate_counts(warnings: list[Failure]) -> dict[str, Any]:
    """A release that passed validation: no failures, and its warnings."""
    return {"failures": 0, "warnings": len(warnings)}


def recover_counts(recovered: Recovered) -> dict[str, Any] | None:
    """The versions recovery published and the processes it stopped; None when it did nothing."""
    if not recovered.versions and not recovered.stopped:
        return None
    return {"published": recovered.versions, "orphans": recovered.stopped}


def load_counts(con: duckdb.DuckDBPyConnection, request: Request, loaded: Loaded) -> dict[str, Any]:
    """`loaded` or `unchanged`, and the version's catalog rows."""
    release = wh.find_release(con, request.codeset, request.version.label)
    return {"outcome": loaded.outcome, "rows": release.row_count}


def diff_counts(comparison: Comparison) -> dict[str, Any]:
    """The version compared with, and the changes by type."""
    return {"previous": comparison.previous, "changes": comparison.counts}


def publish_counts(staged: Staged) -> dict[str, Any]:
    """The files written into the version directory (none when it was published already)."""
    if staged.staging is None:
        return {"outcome": "already_published", "files": 0}
    return {"files": sum(1 for p in staged.staging.rglob("*") if p.is_file())}


def refresh_result(
    request: Request,
    loaded: Loaded,
    recovered: Recovered,
    comparison: Comparison,
    landed: Landing,
    warnings: list[Failure],
) -> RefreshResult:
    """Summarise a finished refresh (`published` when only the interrupted publish was done now)."""
    staged, latest = landed.staged, landed.latest
    assert staged is not None and latest is not None  # landing() sets both or raises
    version = request.version.label
    outcome = (
        "published"
        if loaded.outcome == "unchanged" and version in recovered.versions
        else loaded.outcome
    )
    return RefreshResult(
        request.codeset,
        version,
        outcome,
        staged.target,
        latest,
        comparison.previous,
        comparison.counts,
        warnings,
        recovered.notes() + loaded.notes,
    )

"""Retraction: take a wrongly loaded version out of service, with an audit trail.

`retract` records who, when (UTC) and why in the `retractions` table, then moves `latest.json`
and `current.json` past the version and lists it in `retractions.json` beside them. Its rows stay
in the warehouse and its published directory stays on disk, untouched; everything that serves
versions (diffs and the change step of the next version loaded, history, lookup, findings, the
report's charts, the pointers, the SQL macros) reads `releases_in_service` or
`warehouse.loaded_releases`, which leave it out. Loading the same release again needs a
correction label (`2026r1`): `warehouse.check_new_version` refuses its label and its slot.
"""

from __future__ import annotations

import getpass
import os
from datetime import datetime
from pathlib import Path

import duckdb

from codecatalog import warehouse as wh
from codecatalog.errors import CodecatalogError, IncompleteRefresh, UsageError, VersionError
from codecatalog.pipeline import open_writer, point_all, published_root
from codecatalog.sources import source
from codecatalog.writer import READER_NAME, WRITER_NAME, Clock, utc_now


def retract(
    warehouse_dir: Path,
    codeset: str,
    version: str,
    reason: str,
    *,
    who: str | None = None,
    clock: Clock = utc_now,
    wait: float | None = None,
) -> wh.Retraction:
    """Retract loaded version `version` of `codeset` because of `reason`; return the record.

    Under the writer lock (waiting up to `wait` seconds): the `retractions` row (`who` defaults
    to the OS user) in one transaction, then the reader file, then `retractions.json` and the
    pointers (a pointer left with no published version in service to name is removed).

    Raises UsageError for an empty reason, UnknownSource for an undeclared source that is not
    loaded, VersionError for a version not loaded or already retracted, and IncompleteRefresh
    when the retraction is recorded but the published files could not be updated.
    """
    reason = reason.strip()
    if not reason:
        raise UsageError(f"retract {codeset} {version}: --reason must say why (it is kept)")
    by = (who if who is not None else os_user()).strip()
    if not by:
        raise UsageError(f"retract {codeset} {version}: who retracts must not be empty")
    warehouse_dir = Path(warehouse_dir)
    if not any((warehouse_dir / name).is_file() for name in (READER_NAME, WRITER_NAME)):
        raise CodecatalogError(
            f"no warehouse at {warehouse_dir / READER_NAME}: load a release first"
        )
    with open_writer(warehouse_dir, wait=wait, clock=clock) as writer:
        con = writer.con
        with writer.transaction():
            check_retractable(con, codeset, version)
            done = wh.Retraction(codeset, version, _second(clock()), by, reason)
            con.execute(
                "INSERT INTO retractions VALUES (?, ?, ?, ?, ?)",
                [done.codeset, done.version, done.retracted_at, done.retracted_by, done.reason],
            )
        root = published_root(warehouse_dir)
        try:
            writer.sync_reader()
            point_all(con, root, codeset, clock().date())
        except (OSError, CodecatalogError, duckdb.Error) as err:
            raise IncompleteRefresh(
                f"{codeset} {version} is retracted in the warehouse, but updating "
                f"{root / codeset} failed ({err}); the next refresh of {codeset} finishes it"
            ) from None
    return done


def check_retractable(con: duckdb.DuckDBPyConnection, codeset: str, version: str) -> None:
    """UnknownSource or VersionError unless `version` of `codeset` is loaded and in service."""
    if not wh.loaded_releases(con, codeset, include_retracted=True):
        source(codeset)  # an undeclared name: UnknownSource, listing the declared ones
        raise VersionError(f"no {codeset} version is loaded")
    earlier = {r.version: r for r in wh.retractions(con, codeset)}
    if version in earlier:
        raise VersionError(f"{codeset} {version} is already retracted ({earlier[version].detail})")
    wh.find_release(con, codeset, version)  # VersionError listing the loaded versions


def os_user() -> str:
    """The name of the user running this process (`uid N` when the system has none)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"


def _second(moment: datetime) -> datetime:
    """`moment` to the second, as `retractions.json` and the messages show it."""
    return moment.replace(microsecond=0)

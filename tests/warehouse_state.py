"""What a warehouse holds, for tests that check a refusal changed nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb


def snapshot(warehouse: Path) -> dict:
    """Every row of every table but `load_attempts` (ordered), as the reader file holds them, and
    every published entry (files by sha256, directories, hidden ones included)."""
    con = duckdb.connect(str(warehouse / "codecatalog.duckdb"), read_only=True)
    try:
        tables = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_name <> "
                "'load_attempts' ORDER BY table_name"
            ).fetchall()
        ]
        # Arrow tables (compared with Table.equals by ==): several times faster than fetchall.
        rows = {t: con.sql(f"SELECT * FROM {t} ORDER BY ALL").to_arrow_table() for t in tables}
    finally:
        con.close()
    published = warehouse / "published"
    entries = {
        p.relative_to(published).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "directory"
        )
        for p in sorted(published.rglob("*"))
    }
    return {"tables": rows, "published": entries}


def attempts(warehouse: Path) -> list[dict]:
    """Every `load_attempts` row in order, failures and warnings parsed from JSON."""
    con = duckdb.connect(str(warehouse / "codecatalog.duckdb"), read_only=True)
    try:
        cur = con.execute(
            "SELECT codeset, version, source, content_sha256, outcome, message, failures, "
            "warnings FROM load_attempts ORDER BY attempt_id"
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()
    for row in rows:
        row["failures"] = json.loads(row["failures"])
        row["warnings"] = json.loads(row["warnings"])
    return rows


def loaded_versions(warehouse: Path, codeset: str = "cpt") -> list[str]:
    """The versions of `codeset` the reader file holds, in order."""
    from codecatalog import warehouse as wh

    con = wh.open_reader(warehouse)
    try:
        return [r.version for r in wh.loaded_releases(con, codeset)]
    finally:
        con.close()

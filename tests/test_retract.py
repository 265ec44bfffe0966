"""Retraction (issue 10): `retract` takes a wrongly loaded version out of service with an audit
trail, on the synthetic CPT years 2024–2026 (`loaded_warehouse`) and a small declared table source.

Retracting moves `latest.json`/`current.json` back (and removes them when nothing is left to
name), writes `retractions.json` and the `retractions` row (who, when, why), keeps the version's
rows and directory and changes nothing else. The same release is refused again except under a
correction label. Diffs, `history`, `lookup`, `versions`, the next load's step and shrink check,
and the SQL macros on a bare DuckDB connection skip the retracted version. Refusals change
nothing.
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from declared_sources import declared
from warehouse_state import attempts, snapshot

from codecatalog import queries
from codecatalog.cli import main
from codecatalog.diff.changes import CHANGE_COLUMNS, changes_between
from codecatalog.errors import CodecatalogError, UnknownSource, UsageError, VersionError
from codecatalog.intervals import rows_at
from codecatalog.pipeline import refresh
from codecatalog.retract import retract
from codecatalog.sources import source, sources
from codecatalog.warehouse import Retraction, find_release, loaded_releases, open_reader

WHEN = datetime(2026, 2, 3, 9, 15, 30, 250_000)  # kept to the second
REASON = "loaded from the 2025 files by mistake"
SAID = "on 2026-02-03 09:15:30 UTC by alice: loaded from the 2025 files by mistake"


def clock(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


LOADED = clock(datetime(2026, 1, 2, 6, 30))  # as the `loaded_warehouse` refreshes


def pointer(wh: Path, name: str, codeset: str = "cpt") -> dict[str, Any] | None:
    path = wh / "published" / codeset / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def named(wh: Path, version: str, effective: str) -> dict[str, Any]:
    """What `latest.json`/`current.json` holds when it names `version` of cpt."""
    manifest = wh / "published" / "cpt" / version / "manifest.json"
    return {
        "codeset": "cpt",
        "version": version,
        "effective_date": effective,
        "path": version,
        "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
    }


def bare(wh: Path) -> duckdb.DuckDBPyConnection:
    """The reader file on a plain read-only DuckDB connection (no codecatalog code involved)."""
    return duckdb.connect(str(wh / "codecatalog.duckdb"), read_only=True)


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def as_text(frame: Any) -> list[dict[str, str]]:
    """Change rows of a frame as the published CSV writes them (None as empty)."""
    return [
        {c: "" if row[c] is None else str(row[c]) for c in CHANGE_COLUMNS}
        for row in frame.astype(object).where(frame.notna(), None).to_dict("records")
    ]


def test_retracting_the_latest_moves_the_pointers_back(loaded_warehouse: Path) -> None:
    wh = loaded_warehouse
    before, attempts_before = snapshot(wh), attempts(wh)
    done = retract(wh, "cpt", "2026", REASON, who="alice", clock=clock(WHEN))
    assert done == Retraction("cpt", "2026", datetime(2026, 2, 3, 9, 15, 30), "alice", REASON)
    assert str(done) == f"cpt 2026 was retracted {SAID}"

    assert pointer(wh, "latest") == named(wh, "2025", "2025-01-01")
    assert pointer(wh, "current") == named(wh, "2025", "2025-01-01")
    published = wh / "published" / "cpt"
    assert json.loads((published / "retractions.json").read_text(encoding="utf-8")) == [
        {
            "version": "2026",
            "retracted_at": "2026-02-03T09:15:30+00:00",
            "retracted_by": "alice",
            "reason": REASON,
        }
    ]
    assert sorted(p.name for p in published.iterdir()) == [
        "2024", "2025", "2026", "current.json", "latest.json", "retractions.json",
    ]  # fmt: skip

    # The row, on the reader file; the version's rows and directory stay, nothing else changes.
    con = bare(wh)
    try:
        assert con.execute("SELECT * FROM retractions").fetchall() == [
            ("cpt", "2026", datetime(2026, 2, 3, 9, 15, 30), "alice", REASON)
        ]
        assert con.execute(
            "SELECT version FROM releases_in_service ORDER BY release_order"
        ).fetchall() == [("2024",), ("2025",)]
    finally:
        con.close()
    after = snapshot(wh)
    for state in (before, after):
        for name in ("retractions", "releases_in_service"):
            state["tables"].pop(name)
        for name in ("latest.json", "current.json", "retractions.json"):
            state["published"].pop(f"cpt/{name}", None)
    assert after == before
    assert attempts(wh) == attempts_before

    con = open_reader(wh)
    try:
        assert [r.version for r in loaded_releases(con, "cpt")] == ["2024", "2025"]
        everything = loaded_releases(con, "cpt", include_retracted=True)
        assert [r.version for r in everything] == ["2024", "2025", "2026"]
        with pytest.raises(VersionError) as raised:
            find_release(con, "cpt", "2026")
        assert str(raised.value) == f"cpt 2026 was retracted {SAID}"
        assert find_release(con, "cpt", "2026", include_retracted=True) == everything[2]
        with pytest.raises(VersionError) as raised:
            find_release(con, "cpt", "2027")
        assert str(raised.value) == "cpt version '2027' is not loaded (loaded: 2024, 2025)"
        # `versions` lists the versions in service; retractions.json lists the others.
        found = queries.versions(con, wh, source("cpt"))
        assert [(v.version, v.latest, v.current) for v in found] == [
            ("2024", False, False),
            ("2025", True, True),
        ]
    finally:
        con.close()


def test_a_retracted_release_loads_again_only_as_a_correction(
    loaded_warehouse: Path, samples: Path
) -> None:
    wh, release = loaded_warehouse, str(samples / "cpt-2026")
    retract(wh, "cpt", "2026", REASON, who="alice", clock=clock(WHEN))
    later = clock(datetime(2026, 2, 4, 8, 0))
    refused = {
        "2026": f"cpt 2026 was retracted {SAID}; load the release again as a correction, "
        "e.g. 2026r1",
        "2026Q1": f"cpt 2026Q1 names the same release as version 2026, retracted {SAID}; load "
        "the release again as a correction, e.g. 2026Q1r1",
    }
    for label, message in refused.items():
        before = snapshot(wh)
        with pytest.raises(VersionError) as raised:
            refresh("cpt", release, label, warehouse_dir=wh, clock=later)
        assert str(raised.value) == message
        assert snapshot(wh) == before
        last = attempts(wh)[-1]
        assert (last["version"], last["outcome"], last["message"]) == (label, "rejected", message)

    result = refresh("cpt", release, "2026r1", warehouse_dir=wh, clock=later)
    assert (result.outcome, result.previous, result.latest, result.notes) == (
        "loaded", "2025", "2026r1", [],
    )  # fmt: skip
    assert pointer(wh, "latest") == named(wh, "2026r1", "2026-01-01")
    assert pointer(wh, "current") == named(wh, "2026r1", "2026-01-01")
    published = wh / "published" / "cpt"
    assert [r["version"] for r in json.loads((published / "retractions.json").read_text())] == [
        "2026"
    ]
    # The same bytes against the same predecessor: the retracted version's changes, relabelled.
    retracted = csv_rows(published / "2026" / "changes.csv")
    assert retracted
    assert csv_rows(published / "2026r1" / "changes.csv") == [
        {**row, "to_version": "2026r1"} for row in retracted
    ]


def test_a_correction_of_a_retracted_correction_takes_the_next_number(
    loaded_warehouse: Path, samples: Path
) -> None:
    wh, release = loaded_warehouse, str(samples / "cpt-2026")
    later = clock(datetime(2026, 2, 4, 8, 0))
    retract(wh, "cpt", "2026", REASON, who="alice", clock=clock(WHEN))
    assert refresh("cpt", release, "2026r1", warehouse_dir=wh, clock=later).outcome == "loaded"
    retract(wh, "cpt", "2026r1", "still wrong", who="bob", clock=later)
    assert pointer(wh, "latest") == named(wh, "2025", "2025-01-01")
    with pytest.raises(VersionError) as raised:
        refresh("cpt", release, "2026r1", warehouse_dir=wh, clock=later)
    assert str(raised.value) == (
        "cpt 2026r1 was retracted on 2026-02-04 08:00:00 UTC by bob: still wrong; load the "
        "release again as a correction, e.g. 2026r2"
    )
    assert json.loads((wh / "published" / "cpt" / "retractions.json").read_text()) == [
        {
            "version": "2026",
            "retracted_at": "2026-02-03T09:15:30+00:00",
            "retracted_by": "alice",
            "reason": REASON,
        },
        {
            "version": "2026r1",
            "retracted_at": "2026-02-04T08:00:00+00:00",
            "retracted_by": "bob",
            "reason": "still wrong",
        },
    ]
    result = refresh("cpt", release, "2026r2", warehouse_dir=wh, clock=later)
    assert (result.outcome, result.previous, result.latest) == ("loaded", "2025", "2026r2")


def test_diffs_history_and_lookup_skip_a_retracted_middle_version(
    loaded_warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    wh, cfg = loaded_warehouse, source("cpt")
    con = open_reader(wh)
    try:
        expected = changes_between(con, cfg, "2024", "2026")
    finally:
        con.close()
    retract(wh, "cpt", "2025", REASON, who="alice", clock=clock(WHEN))
    # No version in service lies between 2024 and 2026 any more: no note about one.
    code, out, err = run(capsys, "diff", "cpt", "2024", "2026", "--warehouse", str(wh),
                         "--format", "csv")  # fmt: skip
    assert (code, err) == (0, "")
    assert list(csv.DictReader(out.splitlines())) == as_text(expected)
    code, out, err = run(capsys, "diff", "cpt", "2024", "2025", "--warehouse", str(wh))
    assert (code, out, err) == (2, "", f"error: cpt 2025 was retracted {SAID}\n")

    # 97383: retired in 2025, reactivated in 2026, so unchanged from 2024 to 2026.
    code, out, err = run(capsys, "history", "cpt", "97383", "--warehouse", str(wh))
    assert (code, err) == (0, "")
    assert out == "cpt 97383: active in 2024 (the first loaded version)\nno changes since 2024\n"
    con = open_reader(wh)
    try:
        for key in sorted(set(expected["key"]))[:40]:
            step = expected[expected["key"] == key].reset_index(drop=True)
            assert as_text(step) == [
                {c: "" if e[c] is None else str(e[c]) for c in CHANGE_COLUMNS}
                for e in queries.history(con, cfg, key)
            ]
    finally:
        con.close()
    code, out, err = run(capsys, "lookup", "cpt", "97383", "--as-of", "2025-06-01",
                         "--warehouse", str(wh))  # fmt: skip
    assert (code, err) == (0, "")
    assert out.splitlines()[:2] == [
        "97383 is active on 2025-06-01",
        "version in force: cpt 2024 (effective 2024-01-01)",
    ]


def test_the_next_load_compares_with_the_version_in_service(
    loaded_warehouse: Path, samples: Path, tmp_path: Path
) -> None:
    wh = tmp_path / "wh"
    for year in (2024, 2025):
        refresh("cpt", str(samples / f"cpt-{year}"), str(year), warehouse_dir=wh,
                clock=LOADED)  # fmt: skip
    retract(wh, "cpt", "2025", REASON, who="alice", clock=clock(WHEN))
    assert pointer(wh, "latest") == named(wh, "2024", "2024-01-01")
    result = refresh("cpt", str(samples / "cpt-2026"), "2026", warehouse_dir=wh, clock=LOADED)
    assert (result.outcome, result.previous, result.latest) == ("loaded", "2024", "2026")
    manifest = json.loads((wh / "published" / "cpt" / "2026" / "manifest.json").read_text())
    assert manifest["previous_version"] == "2024"
    # What a warehouse with all three years in service computes between 2024 and 2026.
    con = open_reader(loaded_warehouse)
    try:
        expected = as_text(changes_between(con, source("cpt"), "2024", "2026"))
    finally:
        con.close()
    assert expected
    assert csv_rows(wh / "published" / "cpt" / "2026" / "changes.csv") == expected
    for name in ("catalog.csv", "clinician_descriptors.csv"):
        ours = (wh / "published" / "cpt" / "2026" / name).read_bytes()
        assert ours == (loaded_warehouse / "published" / "cpt" / "2026" / name).read_bytes()


def test_the_sql_macros_skip_a_retracted_version(loaded_warehouse: Path) -> None:
    wh, cfg = loaded_warehouse, source("cpt")
    retract(wh, "cpt", "2025", REASON, who="alice", clock=clock(WHEN))
    con = open_reader(wh)
    try:
        expected = changes_between(con, cfg, "2024", "2026")
        history = queries.history(con, cfg, "00176")
        at_2024 = con.execute(
            f"SELECT * FROM {rows_at('cpt_catalog', '2024010100')} ORDER BY code"
        ).fetchall()
    finally:
        con.close()
    sql = bare(wh)
    try:
        rows = sql.execute("SELECT * FROM changes_between('cpt', '2024', '2026')").fetchall()
        assert [dict(zip(CHANGE_COLUMNS, r, strict=True)) for r in rows] == (
            expected.astype(object).where(expected.notna(), None).to_dict("records")
        )
        for query in (
            "SELECT * FROM changes_between('cpt', '2025', '2026')",
            "SELECT * FROM changes_between('cpt', '2024', '2025')",
        ):
            with pytest.raises(duckdb.InvalidInputException) as raised:
                sql.execute(query).fetchall()
            assert str(raised.value).splitlines()[0] == (
                f"Invalid Input Error: cpt 2025 was retracted {SAID}"
            )
        with pytest.raises(duckdb.InvalidInputException) as raised:
            sql.execute("SELECT * FROM changes_between('cpt', '2023', '2026')").fetchall()
        assert str(raised.value).splitlines()[0] == (
            "Invalid Input Error: cpt version '2023' is not loaded (loaded: 2024, 2026)"
        )
        in_force = [
            sql.execute(f"SELECT version_in_force('cpt', DATE '{day}')").fetchall()[0][0]
            for day in ("2024-06-01", "2025-06-01", "2026-06-01")
        ]
        assert in_force == ["2024", "2024", "2026"]
        catalog = sql.execute("SELECT * FROM catalog_as_of('cpt', DATE '2025-06-01')").fetchall()
        assert catalog == at_2024
        steps = sql.execute("SELECT * FROM code_history('cpt', '00176')").fetchall()
        assert [dict(zip(CHANGE_COLUMNS, r, strict=True)) for r in steps] == history
        assert [(h["from_version"], h["to_version"]) for h in history] == [("2024", "2026")]
    finally:
        sql.close()


def test_retracting_every_version_removes_the_pointers(loaded_warehouse: Path) -> None:
    wh = loaded_warehouse
    spring_2025 = clock(datetime(2025, 6, 1, 12, 0))  # 2026 is loaded, not yet in force
    retract(wh, "cpt", "2024", "a test load", clock=spring_2025)
    assert (pointer(wh, "latest"), pointer(wh, "current")) == (
        named(wh, "2026", "2026-01-01"),
        named(wh, "2025", "2025-01-01"),
    )
    retract(wh, "cpt", "2025", "a test load", clock=spring_2025)
    assert (pointer(wh, "latest"), pointer(wh, "current")) == (
        named(wh, "2026", "2026-01-01"),
        None,
    )
    retract(wh, "cpt", "2026", "a test load", clock=spring_2025)
    assert (pointer(wh, "latest"), pointer(wh, "current")) == (None, None)
    user = getpass.getuser()
    assert json.loads((wh / "published" / "cpt" / "retractions.json").read_text()) == [
        {
            "version": version,
            "retracted_at": "2025-06-01T12:00:00+00:00",
            "retracted_by": user,
            "reason": "a test load",
        }
        for version in ("2024", "2025", "2026")
    ]
    assert sorted(p.name for p in (wh / "published" / "cpt").iterdir()) == [
        "2024", "2025", "2026", "retractions.json",
    ]  # fmt: skip


def test_refusals_change_nothing(loaded_warehouse: Path, tmp_path: Path) -> None:
    wh = loaded_warehouse
    retract(wh, "cpt", "2026", REASON, who="alice", clock=clock(WHEN))
    before, attempts_before = snapshot(wh), attempts(wh)
    declared_names = ", ".join(sorted(sources()))
    cases: list[tuple[str, str, str, type[Exception], str]] = [
        ("cpt", "2025", "  ", UsageError, "retract cpt 2025: --reason must say why (it is kept)"),
        ("nope", "2025", "why", UnknownSource,
         f"unknown source 'nope'; declared: {declared_names}"),
        ("hcpcs", "2025", "why", VersionError, "no hcpcs version is loaded"),
        ("cpt", "2023", "why", VersionError,
         "cpt version '2023' is not loaded (loaded: 2024, 2025)"),
        ("cpt", "2026", "why", VersionError, f"cpt 2026 is already retracted ({SAID})"),
    ]  # fmt: skip
    for codeset, version, reason, kind, message in cases:
        with pytest.raises(kind) as raised:
            retract(wh, codeset, version, reason, who="bob", clock=clock(WHEN))
        assert str(raised.value) == message
    assert snapshot(wh) == before
    assert attempts(wh) == attempts_before

    missing = tmp_path / "no-warehouse"
    with pytest.raises(CodecatalogError) as raised:
        retract(missing, "cpt", "2025", "why", who="bob")
    assert (
        str(raised.value)
        == f"no warehouse at {missing / 'codecatalog.duckdb'}: load a release first"
    )
    assert not missing.exists()


PRICES = """
[price_list]
title = "Invented price list"
family = "table"
key = ["code"]
schema = "prices.yaml"
descriptors = []
attributes = ["price"]
[price_list.columns]
code = "Code"
price = "Price"
"""


def prices(directory: Path, name: str, rows: list[str]) -> str:
    """A price list file with `rows` (`code,price`)."""
    path = directory / name
    path.write_text("\r\n".join(["Code,Price", *rows]) + "\r\n", encoding="utf-8")
    return str(path)


def test_a_version_loaded_before_a_retracted_one_leaves_its_rows_alone(tmp_path: Path) -> None:
    wh, codes = tmp_path / "wh", range(10)

    def load(version: str, add: int) -> Any:
        rows = [f"P{n:04d},{n + add}" for n in codes]
        return refresh("price_list", prices(tmp_path, f"{version}.csv", rows), version,
                       warehouse_dir=wh, clock=clock(datetime(2026, 8, 1)))  # fmt: skip

    def rows_of(version: str) -> list[tuple[Any, ...]]:
        con = open_reader(wh)
        try:
            order = find_release(con, "price_list", version, include_retracted=True).release_order
            return con.execute(
                f"SELECT * FROM {rows_at('price_list_catalog', str(order))} ORDER BY ALL"
            ).fetchall()
        finally:
            con.close()

    with declared(tmp_path, PRICES, "prices.yaml"):
        load("2026Q1", 0)
        load("2026Q3", 100)
        retracted = rows_of("2026Q3")
        assert retracted == [(f"P{n:04d}", str(n + 100)) for n in codes]
        retract(wh, "price_list", "2026Q3", "wrong prices", who="alice", clock=clock(WHEN))
        result = load("2026Q2", 50)  # between the version in service and the retracted one
        assert (result.outcome, result.previous, result.latest) == ("loaded", "2026Q1", "2026Q2")
        assert rows_of("2026Q2") == [(f"P{n:04d}", str(n + 50)) for n in codes]
        assert rows_of("2026Q3") == retracted


def test_a_retracted_shrunken_release_does_not_hide_the_same_shrink_later(
    tmp_path: Path,
) -> None:
    full = [f"P{n:04d},{n}" for n in range(10)]
    wh = tmp_path / "wh"

    def write(name: str, rows: list[str]) -> Path:
        return Path(prices(tmp_path, name, rows))

    def load(path: Path, version: str, shrink: bool = False) -> Any:
        return refresh("price_list", str(path), version, warehouse_dir=wh,
                       clock=clock(datetime(2026, 8, 1)), allow_shrink=shrink)  # fmt: skip

    with declared(tmp_path, PRICES, "prices.yaml"):
        load(write("q1.csv", full), "2026Q1")
        half = write("half.csv", full[:5])  # the second half of the file missing
        load(half, "2026Q2", shrink=True)
        retract(wh, "price_list", "2026Q2", "half the file", who="alice", clock=clock(WHEN))
        with pytest.raises(VersionError) as raised:
            load(half, "2026Q3")
        assert str(raised.value) == (
            "price_list 2026Q3: 5 of the 10 active keys of 2026Q1 (50.0%) are missing, more "
            "than max_vanished (10%); is part of the release missing? Load it with "
            "--allow-shrink if the shrink is real"
        )
        result = load(write("q3.csv", full), "2026Q3")
    assert (result.outcome, result.previous, result.latest) == ("loaded", "2026Q1", "2026Q3")
    assert set(result.counts.values()) == {0}  # the keys 2026Q2 lost were never gone
    assert pointer(wh, "current", "price_list")["version"] == "2026Q3"  # type: ignore[index]
    assert pointer(wh, "latest", "price_list")["version"] == "2026Q3"  # type: ignore[index]


def test_retract_command(loaded_warehouse: Path, capsys: pytest.CaptureFixture) -> None:
    wh = str(loaded_warehouse)
    code, out, err = run(capsys, "retract", "cpt", "2026", "--reason", REASON, "--warehouse", wh)
    con = bare(loaded_warehouse)
    try:
        (at,) = con.execute("SELECT retracted_at FROM retractions").fetchall()[0]
    finally:
        con.close()
    assert (code, err) == (0, "")
    assert out == (
        f"cpt 2026 was retracted on {at:%Y-%m-%d %H:%M:%S} UTC by {getpass.getuser()}: {REASON}\n"
        "  latest:  2025\n  current: 2025\n"
    )
    code, out, err = run(capsys, "retract", "cpt", "2026", "--reason", "x", "--warehouse", wh)
    assert (code, out) == (2, "") and err.startswith("error: cpt 2026 is already retracted (on ")


def test_lookup_of_a_key_only_in_a_retracted_version(loaded_warehouse: Path, samples: Path) -> None:
    added = next(
        r["key"]
        for r in csv_rows(samples / "truth" / "changes_2025_2026.csv")
        if r["change_type"] == "added"
    )
    retract(loaded_warehouse, "cpt", "2026", REASON)
    con = open_reader(loaded_warehouse)
    try:
        with pytest.raises(UsageError) as refused:
            queries.lookup(con, source("cpt"), added, datetime(2026, 6, 1).date())
    finally:
        con.close()
    assert str(refused.value) == f"cpt key {added!r} is only in retracted versions"

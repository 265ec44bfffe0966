"""`codecatalog status` (issue 10 §6): per source the last attempt with why it was refused, the
`latest`/`current` versions, loaded but unpublished versions, and the next run from the declared
schedules (no Prefect server configured here). On the HCPCS excerpts of real CMS records."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from codecatalog.cli import main
from codecatalog.errors import CodecatalogError
from codecatalog.pipeline import refresh
from codecatalog.status import source_status
from codecatalog.warehouse import open_reader

HCPCS = Path(__file__).parent / "cases" / "hcpcs"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def clock() -> datetime:
    return datetime(2026, 1, 2, 6, 30)


def test_status_of_loaded_refused_unpublished_and_never_run_sources(tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    refresh("hcpcs", str(HCPCS / "reconstructed_2016_ANWEB.txt"), "2016", warehouse_dir=wh,
            clock=clock)  # fmt: skip
    refresh("hcpcs", str(HCPCS / "excerpt_2017_ANWEB.txt"), "2017", warehouse_dir=wh, clock=clock)
    with pytest.raises(CodecatalogError):  # other content under a loaded version
        refresh("hcpcs", str(HCPCS / "excerpt_2018_ANWEB.txt"), "2017", warehouse_dir=wh,
                clock=clock)  # fmt: skip
    shutil.rmtree(wh / "published" / "hcpcs" / "2016")  # as if its publication had failed
    con = open_reader(wh)
    try:
        found = {s.source: s for s in source_status(con, wh, NOW)}
    finally:
        con.close()
    hcpcs = found["hcpcs"]
    assert hcpcs.row() == {
        "source": "hcpcs",
        "last_attempt": "rejected",
        "version": "2017",
        "when": datetime(2026, 1, 2, 6, 30),
        "why": hcpcs.why,
        "latest": "2017",
        "current": "2017",
        "unpublished": "2016",
        "next_run": "2026-12-07 06:00-05:00",
        "next_run_from": "schedule",
    }
    assert hcpcs.why is not None and hcpcs.why.startswith(
        "hcpcs 2017 is already loaded with different content"
    )
    cpt = found["cpt"].row()
    assert (cpt["last_attempt"], cpt["latest"], cpt["next_run"], cpt["next_run_from"]) == (
        "",
        "",
        "2026-11-30 06:00-06:00",
        "schedule",
    )
    assert sorted(found) == [
        "cpt", "hcpcs", "mue", "ncci_ptp", "opps_addb", "pfs_rvu",
    ]  # fmt: skip


def test_status_command_without_a_warehouse(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No Prefect server configured (another test of the session may have set one up).
    monkeypatch.setattr("codecatalog.prefect_api.configured_api_url", lambda: None)
    assert main(["status", "--warehouse", str(tmp_path / "none"), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["source"], r["last_attempt"], r["next_run_from"]) for r in rows] == [
        ("cpt", "", "schedule"),
        ("hcpcs", "", "schedule"),
        ("mue", "", "schedule"),
        ("ncci_ptp", "", "schedule"),
        ("opps_addb", "", "schedule"),
        ("pfs_rvu", "", "schedule"),
    ]

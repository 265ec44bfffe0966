"""Shared fixtures: synthetic CPT releases, a warehouse with them loaded, the real CMS files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from codecatalog import prefect_server
from codecatalog.pipeline import refresh
from codecatalog.samples import generate_releases

YEARS = (2024, 2025, 2026)
REALDATA_ENV = "CODECATALOG_REALDATA"
LOADED_AT = datetime(2026, 1, 2, 6, 30, 0)  # the injected clock of the `loaded_warehouse` refreshes


def fixed_clock() -> datetime:
    return LOADED_AT


@pytest.fixture(scope="session", autouse=True)
def _translation_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A translation cache of this session's own (CLI subprocesses inherit it)."""
    before = os.environ.get("CODECATALOG_CACHE")
    os.environ["CODECATALOG_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        del os.environ["CODECATALOG_CACHE"]
    else:
        os.environ["CODECATALOG_CACHE"] = before


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic releases cpt-2024..cpt-2026 plus truth/, generated once (seed 0)."""
    out = tmp_path_factory.mktemp("samples")
    generate_releases(out, YEARS, seed=0)
    return out


@pytest.fixture(scope="session")
def _loaded(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = tmp_path_factory.mktemp("loaded") / "warehouse"
    for year in YEARS:
        refresh(
            "cpt",
            str(samples / f"cpt-{year}"),
            str(year),
            warehouse_dir=warehouse,
            clock=fixed_clock,
        )
    return warehouse


@pytest.fixture
def loaded_warehouse(_loaded: Path, tmp_path: Path) -> Path:
    """A private copy of a warehouse holding 2024, 2025 and 2026, all published at LOADED_AT."""
    copy = tmp_path / "warehouse"
    shutil.copytree(_loaded, copy)
    return copy


@pytest.fixture
def release_copy(samples: Path, tmp_path: Path):
    """Copy one synthetic release directory so a test can damage it: `release_copy(2025)`."""

    def copy(year: int) -> Path:
        target = tmp_path / f"cpt-{year}"
        shutil.copytree(samples / f"cpt-{year}", target)
        return target

    return copy


@pytest.fixture(scope="session")
def realdata() -> Path:
    """`../shared/realdata` or $CODECATALOG_REALDATA; skip when absent, unless CI requires it."""
    root = Path(os.environ.get(REALDATA_ENV, Path(__file__).parents[2] / "shared" / "realdata"))
    if not root.is_dir():
        if os.environ.get("CODECATALOG_REQUIRE_REALDATA"):
            pytest.fail(f"real CMS files required but not found at {root}")
        pytest.skip(
            f"real CMS files not available: {root} not found (clone outside the shared "
            f"setup; set {REALDATA_ENV})"
        )
    return root


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real `prefect server start` for the whole session (tests marked `prefect`).

    Started with a generous start-up timeout (a loaded 2-core machine needs up to a minute) and
    set as this process's PREFECT_API_URL; yields the API URL.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = tmp_path_factory.mktemp("prefect")
    url = prefect_server.start(home, timeout=300)
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        prefect_server.stop(home)

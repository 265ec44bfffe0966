"""Schema translations are cached: a refresh of an unchanged table source skips pandera."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from codecatalog.errors import DeclarationError
from codecatalog.sources import source, use_sources
from codecatalog.translations import translation_for
from codecatalog.validate import load_schema
from codecatalog.validate_sql import translate

NORTHWIND = Path(__file__).parent / "cases" / "declarations" / "northwind" / "northwind_pa.toml"


@pytest.fixture
def declaration(tmp_path: Path) -> Path:
    for name in ("northwind_pa.toml", "northwind_pa.yaml"):
        (tmp_path / name).write_bytes((NORTHWIND.parent / name).read_bytes())
    return tmp_path / "northwind_pa.toml"


def test_cached_translation_equals_a_fresh_one_and_needs_no_pandera(
    declaration: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    probe = (
        "import sys; from pathlib import Path; "
        "from codecatalog.sources import use_sources, source; "
        "from codecatalog.translations import translation_for; "
        f"use_sources([Path({str(declaration)!r})]); "
        "print(translation_for(source('northwind_pa')).to_json()); "
        "print('pandera' in sys.modules, 'pandas' in sys.modules)"
    )
    env = {"CODECATALOG_CACHE": str(cache), "PATH": ""}
    runs = [
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                       check=True).stdout.splitlines()
        for _ in range(2)
    ]  # fmt: skip
    use_sources([declaration])
    try:
        cfg = source("northwind_pa")
        fresh = translate(
            load_schema(cfg.schema), f"schema {cfg.schema}", [c.name for c in cfg.columns]
        )
    finally:
        use_sources([])
    assert runs[0] == [fresh.to_json(), "True True"]  # first: translated with pandera
    assert runs[1] == [fresh.to_json(), "False False"]  # then: read from the cache
    # one translation per table source: the four built-in CMS policy sources and northwind_pa
    assert len(list((cache / "translations").iterdir())) == 5


def test_a_changed_schema_is_translated_again_and_a_bad_one_never_cached(
    declaration: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("CODECATALOG_CACHE", str(cache))
    use_sources([declaration])
    try:
        cfg = source("northwind_pa")
        before = translation_for(cfg)
        schema = cfg.schema
        schema.write_text(schema.read_text().replace('isin: ["Y", "N"]', 'isin: ["Y", "N", "U"]'))
        after = translation_for(cfg)
        assert before != after
        assert "isin(['Y', 'N', 'U'])" in [c.check for c in after.checks]
        schema.write_text(schema.read_text().replace("str_length:", "str_lenght:"))
        with pytest.raises(DeclarationError, match="unknown key"):
            translation_for(cfg)
        # the built-in table sources' four, and northwind_pa's before and after the change
        assert len(list((cache / "translations").iterdir())) == 6
    finally:
        use_sources([])

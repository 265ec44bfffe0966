"""User-declared table sources as tests write them: a TOML file and a schema that checks nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from codecatalog.sources import use_sources

ANY_SCHEMA = "schema_type: dataframe\ncolumns: {}\n"


@contextmanager
def declared(directory: Path, declaration: str, schema: str = "tariff.yaml") -> Iterator[Path]:
    """Write `declaration` to `<directory>/sources.toml` with an empty pandera schema `schema`
    beside it, and use it (`--sources`) until the block ends; yields the TOML file."""
    toml = directory / "sources.toml"
    toml.write_text(declaration)
    (directory / schema).write_text(ANY_SCHEMA)
    use_sources([toml])
    try:
        yield toml
    finally:
        use_sources([])

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


def scheduled(name: str, column: str, cron: str, timezone: str, looks_for: str = "") -> str:
    """A keyed table source with one tracked column, a drop folder `drop/<name>` and one schedule
    (named `quarterly` unless it runs monthly), as the scheduled-refresh tests declare them."""
    schedule = "monthly" if cron.split()[2] != "*" else "quarterly"
    extra = f'looks_for = "{looks_for}"\n' if looks_for else ""
    return f"""
[{name}]
title = "Invented {name}"
family = "table"
key = ["code"]
schema = "tariff.yaml"
descriptors = []
attributes = ["{column}"]
[{name}.columns]
code = "Code"
{column} = "{column.capitalize()}"
[{name}.fetch]
drop_folder = "drop/{name}"
[[{name}.schedules]]
name = "{schedule}"
cron = "{cron}"
timezone = "{timezone}"
{extra}"""


QUARTERLY = ("0 6 * 3,6,9,12 1", "America/New_York")  # Mondays of the month before a quarter
MONTHLY = ("0 5 1 * *", "UTC", "this_quarter")  # the 1st of each month, for the current quarter

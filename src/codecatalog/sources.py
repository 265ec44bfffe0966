"""The source declarations in `config/sources.toml` (installed with the package)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from codecatalog.errors import UnknownSource


@dataclass(frozen=True)
class Detail:
    """Descriptors that come several per key; each is tracked as field `<name>:<id>`."""

    name: str
    id: str
    value: str


@dataclass(frozen=True)
class SourceConfig:
    """One code set: its key column and which columns the diff tracks."""

    name: str
    title: str
    family: str
    key: str
    schema: str
    descriptors: tuple[str, ...]
    attributes: tuple[str, ...]
    detail: Detail | None = None
    add_date: str | None = None  # catalog column with the key's add date (YYYYMMDD)
    term_date: str | None = None  # catalog column with its termination date (last valid day)
    successors: tuple[str, ...] = ()  # columns naming a retired key's successors
    source_action: str = "history"  # `history` (dated release history) or a catalog column
    actions: dict[str, tuple[str, ...]] | None = None  # action code -> fields it announces

    @property
    def tracked(self) -> tuple[str, ...]:
        """Descriptor columns, then attribute columns."""
        return self.descriptors + self.attributes


@cache
def sources() -> dict[str, SourceConfig]:
    """Every declared source by name."""
    text = files("codecatalog.config").joinpath("sources.toml").read_text(encoding="utf-8")
    declared = tomllib.loads(text)
    return {
        name: SourceConfig(
            name=name,
            title=entry["title"],
            family=entry["family"],
            key=entry["key"],
            schema=entry["schema"],
            descriptors=tuple(entry["descriptors"]),
            attributes=tuple(entry["attributes"]),
            detail=Detail(**entry["detail"]) if "detail" in entry else None,
            add_date=entry.get("add_date"),
            term_date=entry.get("term_date"),
            successors=tuple(entry.get("successors", ())),
            source_action=entry.get("source_action", "history"),
            actions={k: tuple(v) for k, v in entry["actions"].items()}
            if "actions" in entry
            else None,
        )
        for name, entry in declared.items()
    }


def source(name: str) -> SourceConfig:
    """The declared source `name`; UnknownSource lists the declared ones."""
    known = sources()
    if name not in known:
        raise UnknownSource(f"unknown source {name!r}; declared: {', '.join(sorted(known))}")
    return known[name]

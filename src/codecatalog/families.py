"""Format families: how each kind of release is read, validated and turned into tidy tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from codecatalog.errors import CodecatalogError, Failure
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.release import Release


@dataclass(frozen=True)
class Family:
    """The three family-specific steps of a refresh."""

    read: Callable[[ReleaseArchive, ReleaseArchive | None], Release]
    validate: Callable[[Release], tuple[list[Failure], list[Failure]]]
    tables: Callable[[Release], dict[str, pd.DataFrame]]


def _cpt() -> Family:
    from codecatalog.read.cpt import cpt_tables, read_cpt_release
    from codecatalog.validate_release import validate_cpt_release

    def read(archive: ReleaseArchive, transactions: ReleaseArchive | None) -> Release:
        if transactions is not None:
            raise CodecatalogError("--transactions applies to HCPCS releases only")
        return read_cpt_release(archive)

    return Family(read, validate_cpt_release, cpt_tables)


def _hcpcs() -> Family:
    from codecatalog.read.hcpcs_release import hcpcs_tables, read_hcpcs_release
    from codecatalog.validate_release import validate_hcpcs_release

    return Family(read_hcpcs_release, validate_hcpcs_release, hcpcs_tables)


_FAMILIES = {"ama_cpt": _cpt, "hcpcs": _hcpcs}


def family(name: str) -> Family:
    """The steps of format family `name` (as declared in sources.toml)."""
    if name not in _FAMILIES:
        raise CodecatalogError(f"no reader for format family {name!r}")
    return _FAMILIES[name]()

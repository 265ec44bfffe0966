"""A loaded version of CPT or HCPCS as a FHIR R4 CodeSystem resource (`codesystem.json`).

`code_system` returns the resource as a JSON-ready dict: one concept per key in force at the
version, sorted by code, with the version's short descriptor as `display` and the long one as
`definition`, and the concept properties `status`, `inactive`, `effectiveDate`, `retirementDate`
and `replacedBy` where the source knows them. The rows come from one DuckDB query; only the
assembly of each concept's dict is Python.

Licensed text: a source whose declaration names a licence (`licence = ["AMA"]` for CPT) carries
no `display` or `definition` unless the caller opts in (`include_licensed=True`; the publish step
asks `licensed_allowed`, which reads `$CODECATALOG_LICENSED`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from codecatalog.diff.changes import active_sql, first_invalid_sql
from codecatalog.errors import UsageError
from codecatalog.intervals import rows_at
from codecatalog.sources import SourceConfig, sources
from codecatalog.sql import quote, table_exists
from codecatalog.warehouse import find_release, stored_declaration

LICENSED_ENV = "CODECATALOG_LICENSED"  # licences the organisation holds, comma-separated
CONCEPT_PROPERTIES = "http://hl7.org/fhir/concept-properties"


@dataclass(frozen=True)
class _System:
    """What FHIR needs to know about a code set beyond its declaration."""

    url: str
    name: str  # computable name (FHIR csd-0: starts with a capital, letters/digits/_)
    publisher: str
    display: str  # catalog column shown as `display`
    definition: str  # catalog column shown as `definition`
    copyright: str | None = None


SYSTEMS: dict[str, _System] = {
    "cpt": _System(
        url="http://www.ama-assn.org/go/cpt",
        name="CPT",
        publisher="American Medical Association",
        display="short_descriptor",
        definition="long_descriptor",
        copyright="CPT is a registered trademark of the American Medical Association; its "
        "descriptors are copyright the American Medical Association. All rights reserved.",
    ),
    "hcpcs": _System(
        url="https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        name="HCPCSLevelII",
        publisher="Centers for Medicare & Medicaid Services",
        display="short_descriptor",
        definition="long_descriptor",
    ),
}


def licensed_allowed(cfg: SourceConfig) -> bool:
    """Whether licensed text of `cfg` may be published: every licence the source declares is
    listed in `$CODECATALOG_LICENSED` (comma-separated, case-insensitive, e.g. `AMA,ADA`).

    A source that declares no licence is always allowed.
    """
    held = {part.strip().upper() for part in os.environ.get(LICENSED_ENV, "").split(",")}
    return all(licence.strip().upper() in held for licence in cfg.licence)


def code_system(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, version: str, *, include_licensed: bool
) -> dict[str, Any]:
    """The FHIR R4 CodeSystem of loaded version `version` of `cfg` (`cpt` or `hcpcs`).

    Descriptors of a source declaring a licence are left out unless `include_licensed`.
    Raises UsageError for another source, VersionError for a version that is not loaded.
    """
    system = SYSTEMS.get(cfg.name)
    if system is None or len(cfg.key) != 1:
        raise UsageError(
            f"no FHIR CodeSystem for source {cfg.name!r}: only {', '.join(sorted(SYSTEMS))} "
            "have one"
        )
    release = find_release(con, cfg.name, version)
    with_text = include_licensed or not cfg.licence
    rows = con.execute(_concepts_sql(con, cfg, system, release.release_order)).fetchall()
    others = _other_systems(con, cfg)
    has_retirement = first_invalid_sql(cfg) != "NULL::DATE"
    concepts = [
        _concept(row, with_text=with_text, others=others, own=(system.url, cfg.code_shape))
        for row in rows
    ]
    resource: dict[str, Any] = {
        "resourceType": "CodeSystem",
        "id": re.sub(r"[^A-Za-z0-9.-]", "-", f"{cfg.name}-{version}")[:64],
        "url": system.url,
        "version": version,
        "name": system.name,
        "title": cfg.title,
        "status": "active",
        "date": _day(release.effective_date),
        "publisher": system.publisher,
        "description": _description(cfg, version, release.effective_date, with_text),
    }
    if system.copyright:
        resource["copyright"] = system.copyright
    resource.update(
        {
            "caseSensitive": True,
            # `content` says which *concepts* the resource holds, not how much text each has:
            # in R4 `complete` means every concept of the code system is in the resource,
            # `fragment` only some, `not-present` none. Every code of the version is listed
            # (display and definition are optional, 0..1), so the resource is `complete` with
            # or without the licensed descriptors; `description` says when they were left out.
            "content": "complete",
            "count": len(concepts),
            "property": _property_definitions(cfg, has_retirement),
            "concept": concepts,
        }
    )
    return resource


def _concepts_sql(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, system: _System, order: int
) -> str:
    """SQL: code, display, definition, active, effective date, first invalid day, successors."""
    code = quote(cfg.key[0])
    catalog = rows_at(f"{cfg.name}_catalog", str(int(order)))
    if cfg.add_date:  # HCPCS ADD DT
        effective = f"try_strptime(nullif(c.{quote(cfg.add_date)}, ''), '%Y%m%d')::DATE"
        added = ""
    elif cfg.source_action == "history" and table_exists(con, f"{cfg.name}_history"):
        # CPT: the latest ADDED record of the release's own history (a reactivated code's
        # newest one); `Pre-1990` dates are not dates and give no effectiveDate.
        history = rows_at(f"{cfg.name}_history", str(int(order)))
        effective = "a._added"
        added = (
            f"LEFT JOIN (SELECT {code}, max(try_strptime(action_date, '%Y%m%d')::DATE) AS _added "
            f"FROM {history} WHERE action = 'ADDED' GROUP BY {code}) a USING ({code})"
        )
    else:
        effective, added = "NULL::DATE", ""
    if cfg.successors:
        listed = ", ".join(f"nullif(trim(c.{quote(s)}), '')" for s in cfg.successors)
        successors = f"list_filter([{listed}], lambda x: x IS NOT NULL)"
    else:
        successors = "[]::VARCHAR[]"
    # active_sql / first_invalid_sql name the catalog's columns unqualified: give them `c`'s.
    return f"""
        SELECT c.{code}, nullif(trim(c.{quote(system.display)}), ''),
               nullif(trim(c.{quote(system.definition)}), ''),
               _active, {effective}, _first_invalid,
               CASE WHEN _active THEN []::VARCHAR[] ELSE {successors} END
        FROM (SELECT *, {active_sql(cfg)} AS _active, {first_invalid_sql(cfg)} AS _first_invalid
              FROM {catalog}) c
        {added}
        ORDER BY c.{code}"""


def _concept(
    row: tuple[Any, ...],
    *,
    with_text: bool,
    others: list[tuple[str, str | None]],
    own: tuple[str, str | None],
) -> dict[str, Any]:
    code, display, definition, active, effective, first_invalid, successors = row
    concept: dict[str, Any] = {"code": code}
    if with_text and display is not None:
        concept["display"] = display
    if with_text and definition is not None:
        concept["definition"] = definition
    properties: list[dict[str, Any]] = [
        {"code": "status", "valueCode": "active" if active else "retired"},
        {"code": "inactive", "valueBoolean": not active},
    ]
    if effective is not None:
        properties.append({"code": "effectiveDate", "valueDateTime": _day(effective)})
    if first_invalid is not None:
        properties.append({"code": "retirementDate", "valueDateTime": _day(first_invalid)})
    for successor in dict.fromkeys(successors):
        properties.append({"code": "replacedBy", "valueCoding": _coding(successor, own, others)})
    concept["property"] = properties
    return concept


def _coding(
    code: str, own: tuple[str, str | None], others: list[tuple[str, str | None]]
) -> dict[str, str]:
    """A successor as a Coding: the system whose code shape it has (own first), else none."""
    for url, shape in (own, *others):
        if shape and re.fullmatch(shape, code):
            return {"system": url, "code": code}
    return {"code": code}


def _other_systems(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig
) -> list[tuple[str, str | None]]:
    """(url, code shape) of the other code sets with a CodeSystem, to place successors in."""
    found = []
    declared = sources()
    for name, system in sorted(SYSTEMS.items()):
        if name == cfg.name:
            continue
        other = stored_declaration(con, name) or declared.get(name)
        found.append((system.url, other.code_shape if other else None))
    return found


def _property_definitions(cfg: SourceConfig, has_retirement: bool) -> list[dict[str, Any]]:
    """The concept properties this source's concepts can carry.

    URIs are those of HL7's concept-properties code system (one canonical URL across versions):
    `status`, `inactive` and the two dates are defined there (`effectiveDate` and
    `retirementDate` since R5; R4 servers read `inactive`, which is why it is given too).
    """
    effective = (
        "The date the code was added (HCPCS ADD DT)"
        if cfg.add_date
        else "The date of the code's latest ADDED record in the release's history"
    )
    definitions: list[dict[str, Any]] = [
        {
            "code": "status",
            "uri": f"{CONCEPT_PROPERTIES}#status",
            "description": "active, or retired (terminated) as of this version",
            "type": "code",
        },
        {
            "code": "inactive",
            "uri": f"{CONCEPT_PROPERTIES}#inactive",
            "description": "True when the code is retired in this version",
            "type": "boolean",
        },
    ]
    if cfg.add_date or cfg.source_action == "history":
        definitions.append(
            {
                "code": "effectiveDate",
                "uri": f"{CONCEPT_PROPERTIES}#effectiveDate",
                "description": effective,
                "type": "dateTime",
            }
        )
    if has_retirement:
        definitions.append(
            {
                "code": "retirementDate",
                "uri": f"{CONCEPT_PROPERTIES}#retirementDate",
                "description": "The first day the code is no longer valid (the day after its "
                "termination date)",
                "type": "dateTime",
            }
        )
    if cfg.successors:
        # No standard concept property says "replaced by", so no `uri`. The type is Coding,
        # not code: R4 reserves `code` for concepts of this same code system, and successors
        # are often in another one (HCPCS G0202 -> CPT 77067).
        definitions.append(
            {
                "code": "replacedBy",
                "description": "A code the source names as this retired code's successor "
                f"(cross-reference columns {', '.join(cfg.successors)})",
                "type": "Coding",
            }
        )
    return definitions


def _description(cfg: SourceConfig, version: str, effective: date, with_text: bool) -> str:
    text = (
        f"{cfg.title}, version {version} (effective {_day(effective)}), as loaded by codecatalog."
    )
    if not with_text:
        text += (
            f" Descriptors are left out: their text is licensed ({', '.join(cfg.licence)}); "
            f"set {LICENSED_ENV} to publish them."
        )
    return text


def _day(value: date) -> str:
    return value.strftime("%Y-%m-%d")

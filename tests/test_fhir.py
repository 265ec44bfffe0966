"""The FHIR CodeSystem of a loaded CPT or HCPCS version (issue 9 §4), validated with fhir.resources.

Expected values are read off the fixture files, not computed by `codecatalog.fhir`:

- CPT 2026: the synthetic release of the `samples` fixture. Its codes, short and long descriptors
  are parsed from `standard/SHORTU.txt` and `standard/LONGULT.txt`; the ADDED dates from
  `CPT Link/history/History_DTK_tab.txt` (`truth/changes_2025_2026.csv` has 85416 reactivated
  in 2026: its history holds ADDED 19910101, DELETED 20180101 and ADDED 20260101).
- HCPCS 2018: tests/cases/hcpcs/excerpt_2018_ANWEB.txt (line numbers of the file), 9 keys (its
  README). Lines 21-22: G0202, short "Scr mammo bi incl cad", ADD DT 20010401, TERM DT 20171231
  (first invalid 2018-01-01), XREF1 77067 (a CPT-shaped code), ACTION CD D. Line 20: C9014,
  short "Injection, cerliponase alfa", ADD DT 20180101, no TERM DT. Lines 25-26: S3854, ADD DT
  20060101, no TERM DT. Line 12: modifier A1, ADD DT 20020701.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fhir.resources.R4B.codesystem import CodeSystem

from codecatalog.errors import CodecatalogError, UsageError, VersionError
from codecatalog.fhir import LICENSED_ENV, code_system, licensed_allowed
from codecatalog.pipeline import refresh
from codecatalog.sources import source
from codecatalog.warehouse import open_reader

CASES = Path(__file__).parent / "cases" / "hcpcs"
CPT_URL = "http://www.ama-assn.org/go/cpt"
HCPCS_URL = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CODE_LINE = re.compile(r"^(\d{4}[0-9FTUAM])[ \t](.*)$")


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def cpt_con(loaded_warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_reader(loaded_warehouse)
    yield con
    con.close()


@pytest.fixture(scope="module")
def _hcpcs_wh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wh = tmp_path_factory.mktemp("fhir_hcpcs") / "warehouse"
    for version, name in [
        ("2016", "reconstructed_2016_ANWEB.txt"),
        ("2017", "excerpt_2017_ANWEB.txt"),
        ("2018", "excerpt_2018_ANWEB.txt"),
    ]:
        refresh("hcpcs", str(CASES / name), version, warehouse_dir=wh)
    return wh


@pytest.fixture
def hcpcs_con(_hcpcs_wh: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_reader(_hcpcs_wh)
    yield con
    con.close()


# --- helpers -----------------------------------------------------------------------------------


def validated(resource: dict[str, Any]) -> CodeSystem:
    """The resource as fhir.resources reads it (raises on an invalid one); JSON round trip too."""
    return CodeSystem.model_validate(json.loads(json.dumps(resource)))


def by_code(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["code"]: c for c in resource["concept"]}


def props(concept: dict[str, Any]) -> list[tuple[str, Any]]:
    """(code, value) of each property, in order."""
    out = []
    for p in concept["property"]:
        (value_key,) = [k for k in p if k.startswith("value")]
        out.append((p["code"], p[value_key]))
    return out


def release_lines(path: Path) -> dict[str, str]:
    """code -> text of a SHORTU/LONGULT-style file (cp1252; preamble skipped, padding stripped)."""
    found = {}
    for line in path.read_text(encoding="cp1252").splitlines():
        m = CODE_LINE.match(line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


def latest_added(history: Path) -> dict[str, date]:
    """code -> its latest ADDED date in History_DTK_tab.txt (`Pre-1990` is no date)."""
    latest: dict[str, date] = {}
    lines = history.read_text(encoding="cp1252").splitlines()[1:]
    for line in lines:
        when, action, _concept, code, *_ = line.split("\t")
        if action == "ADDED" and re.fullmatch(r"\d{8}", when):
            d = date(int(when[:4]), int(when[4:6]), int(when[6:]))
            latest[code] = max(latest.get(code, d), d)
    return latest


def row_count(con: duckdb.DuckDBPyConnection, codeset: str, version: str) -> int:
    found = con.execute(
        "SELECT row_count FROM releases WHERE codeset = ? AND version = ?", [codeset, version]
    ).fetchone()
    assert found is not None
    return int(found[0])


# --- HCPCS -------------------------------------------------------------------------------------


def test_hcpcs_2018_code_system(hcpcs_con: duckdb.DuckDBPyConnection) -> None:
    resource = code_system(hcpcs_con, source("hcpcs"), "2018", include_licensed=False)
    model = validated(resource)
    assert model.url == HCPCS_URL and model.version == "2018"
    header = {k: v for k, v in resource.items() if k not in ("concept", "property", "description")}
    assert header == {
        "resourceType": "CodeSystem",
        "id": "hcpcs-2018",
        "url": HCPCS_URL,
        "version": "2018",
        "name": "HCPCSLevelII",
        "title": "CMS HCPCS Level II",
        "status": "active",
        "date": "2018-01-01",
        "publisher": "Centers for Medicare & Medicaid Services",
        "caseSensitive": True,
        "content": "complete",
        "count": 9,
    }
    assert resource["count"] == row_count(hcpcs_con, "hcpcs", "2018") == 9
    codes = [c["code"] for c in resource["concept"]]
    assert codes == ["A1", "A5513", "AD", "C9014", "FY", "G0202", "G0259", "J7342", "S3854"]
    assert [(p["code"], p["type"], p.get("uri")) for p in resource["property"]] == [
        ("status", "code", "http://hl7.org/fhir/concept-properties#status"),
        ("inactive", "boolean", "http://hl7.org/fhir/concept-properties#inactive"),
        ("effectiveDate", "dateTime", "http://hl7.org/fhir/concept-properties#effectiveDate"),
        ("retirementDate", "dateTime", "http://hl7.org/fhir/concept-properties#retirementDate"),
        ("replacedBy", "Coding", None),
    ]
    concepts = by_code(resource)
    # Lines 21-22: retired, first invalid 2018-01-01, successor CPT 77067.
    assert concepts["G0202"] == {
        "code": "G0202",
        "display": "Scr mammo bi incl cad",
        "definition": "Screening mammography, bilateral (2-view study of each breast), "
        "including computer-aided detection (cad) when performed",
        "property": [
            {"code": "status", "valueCode": "retired"},
            {"code": "inactive", "valueBoolean": True},
            {"code": "effectiveDate", "valueDateTime": "2001-04-01"},
            {"code": "retirementDate", "valueDateTime": "2018-01-01"},
            {"code": "replacedBy", "valueCoding": {"system": CPT_URL, "code": "77067"}},
        ],
    }
    # Line 20: added in 2018, active.
    assert concepts["C9014"]["display"] == "Injection, cerliponase alfa"
    assert concepts["C9014"]["definition"] == "Injection, cerliponase alfa, 1 mg"
    assert props(concepts["C9014"]) == [
        ("status", "active"),
        ("inactive", False),
        ("effectiveDate", "2018-01-01"),
    ]
    # Lines 25-26: reactivated in 2016, active in 2018; its effectiveDate is the ADD DT.
    assert props(concepts["S3854"]) == [
        ("status", "active"),
        ("inactive", False),
        ("effectiveDate", "2006-01-01"),
    ]
    assert props(concepts["A1"])[2] == ("effectiveDate", "2002-07-01")  # a modifier (line 12)
    # Only G0202 is retired in the 2018 excerpt.
    assert [c for c, con in concepts.items() if ("status", "retired") in props(con)] == ["G0202"]


def test_hcpcs_versions_differ(hcpcs_con: duckdb.DuckDBPyConnection) -> None:
    """2017 has G0202 active without successor and no C9014 (excerpt_2017 lines 8-9)."""
    resource = code_system(hcpcs_con, source("hcpcs"), "2017", include_licensed=False)
    validated(resource)
    concepts = by_code(resource)
    assert resource["count"] == row_count(hcpcs_con, "hcpcs", "2017") == 7
    assert "C9014" not in concepts
    assert props(concepts["G0202"]) == [
        ("status", "active"),
        ("inactive", False),
        ("effectiveDate", "2001-04-01"),
    ]


def test_hcpcs_public_domain_keeps_descriptors(
    hcpcs_con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HCPCS declares no licence: descriptors whatever the opt-in says."""
    monkeypatch.delenv(LICENSED_ENV, raising=False)
    assert licensed_allowed(source("hcpcs"))
    resource = code_system(hcpcs_con, source("hcpcs"), "2018", include_licensed=False)
    assert all("display" in c and "definition" in c for c in resource["concept"])
    assert "left out" not in resource["description"]


# --- CPT ---------------------------------------------------------------------------------------


def test_cpt_2026_without_licensed_text(cpt_con: duckdb.DuckDBPyConnection, samples: Path) -> None:
    release = samples / "cpt-2026"
    longs = release_lines(release / "standard" / "LONGULT.txt")
    added = latest_added(release / "CPT Link" / "history" / "History_DTK_tab.txt")
    resource = code_system(cpt_con, source("cpt"), "2026", include_licensed=False)
    validated(resource)
    assert resource["url"] == CPT_URL and resource["version"] == "2026"
    assert resource["id"] == "cpt-2026" and resource["date"] == "2026-01-01"
    assert resource["content"] == "complete"
    assert "AMA" in resource["description"] and "copyright" in resource
    assert resource["count"] == len(longs) == row_count(cpt_con, "cpt", "2026")
    codes = [c["code"] for c in resource["concept"]]
    assert codes == sorted(longs)
    assert not any("display" in c or "definition" in c for c in resource["concept"])
    # CPT has neither termination dates nor successors: those properties are not declared.
    assert [p["code"] for p in resource["property"]] == ["status", "inactive", "effectiveDate"]
    concepts = by_code(resource)
    # 85416: reactivated in 2026 (ADDED 19910101, DELETED 20180101, ADDED 20260101).
    assert added["85416"] == date(2026, 1, 1)
    assert props(concepts["85416"]) == [
        ("status", "active"),
        ("inactive", False),
        ("effectiveDate", "2026-01-01"),
    ]
    # 00101: ADDED `Pre-1990` only -> no effectiveDate.
    assert "00101" not in added
    assert props(concepts["00101"]) == [("status", "active"), ("inactive", False)]
    # Every concept: active, with its latest ADDED date from the history file when it has one.
    for code, concept in concepts.items():
        expected = [("status", "active"), ("inactive", False)]
        if code in added:
            expected.append(("effectiveDate", added[code].isoformat()))
        assert props(concept) == expected, code


def test_cpt_2026_with_licensed_text(cpt_con: duckdb.DuckDBPyConnection, samples: Path) -> None:
    release = samples / "cpt-2026" / "standard"
    shorts = release_lines(release / "SHORTU.txt")
    longs = release_lines(release / "LONGULT.txt")
    resource = code_system(cpt_con, source("cpt"), "2026", include_licensed=True)
    validated(resource)
    assert "left out" not in resource["description"]
    displays = {c["code"]: (c.get("display"), c.get("definition")) for c in resource["concept"]}
    assert displays == {code: (shorts[code], longs[code]) for code in longs}


def test_licensed_env(
    cpt_con: duckdb.DuckDBPyConnection, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cpt = source("cpt")
    monkeypatch.delenv(LICENSED_ENV, raising=False)
    assert not licensed_allowed(cpt)
    monkeypatch.setenv(LICENSED_ENV, "ADA")
    assert not licensed_allowed(cpt)
    monkeypatch.setenv(LICENSED_ENV, " ada , ama ")
    assert licensed_allowed(cpt)
    two = replace(cpt, licence=("AMA", "ADA"))
    monkeypatch.setenv(LICENSED_ENV, "AMA")
    assert licensed_allowed(cpt) and not licensed_allowed(two)
    resource = code_system(cpt_con, cpt, "2026", include_licensed=licensed_allowed(cpt))
    shorts = release_lines(samples / "cpt-2026" / "standard" / "SHORTU.txt")
    first = resource["concept"][0]
    assert first["display"] == shorts[first["code"]]


def test_deterministic(cpt_con: duckdb.DuckDBPyConnection) -> None:
    one = code_system(cpt_con, source("cpt"), "2025", include_licensed=True)
    two = code_system(cpt_con, source("cpt"), "2025", include_licensed=True)
    assert json.dumps(one) == json.dumps(two)
    assert one["date"] == "2025-01-01" and one["count"] == row_count(cpt_con, "cpt", "2025")


# --- refusals ----------------------------------------------------------------------------------


def test_refuses_other_sources_and_versions(cpt_con: duckdb.DuckDBPyConnection) -> None:
    other = replace(source("cpt"), name="payer_pa")
    with pytest.raises(UsageError, match="no FHIR CodeSystem for source 'payer_pa'"):
        code_system(cpt_con, other, "2026", include_licensed=False)
    with pytest.raises(VersionError, match="cpt version '2019' is not loaded"):
        code_system(cpt_con, source("cpt"), "2019", include_licensed=False)
    assert issubclass(UsageError, CodecatalogError)


def test_every_published_code_set_version_carries_its_code_system(
    loaded_warehouse: Path, cpt_con: duckdb.DuckDBPyConnection, _hcpcs_wh: Path
) -> None:
    """The refresh publishes `codesystem.json` (hashed in the manifest) equal to code_system()
    as the environment allows: CPT without its AMA text here, HCPCS with its public text."""
    published = loaded_warehouse / "published" / "cpt" / "2026"
    document = json.loads((published / "codesystem.json").read_text())
    assert document == json.loads(
        json.dumps(code_system(cpt_con, source("cpt"), "2026", include_licensed=False))
    )
    assert validated(document).count == len(document["concept"])
    assert not any("display" in c for c in document["concept"])
    hcpcs = json.loads((_hcpcs_wh / "published" / "hcpcs" / "2018" / "codesystem.json").read_text())
    assert validated(hcpcs).version == "2018"
    assert all("display" in c for c in hcpcs["concept"])

"""`codecatalog findings --as-of DATE`: every loaded policy source's rows naming codes retired or
unknown on a date, grouped by code (HCPCS from the public-domain excerpts in tests/cases/hcpcs;
see tests/test_findings.py for what they hold: G0202 retired 2018-01-01 with successor 77067,
A9999 and A0000 in no excerpt). No CPT release is loaded: CPT-shaped codes are unchecked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from codecatalog.cli import main
from codecatalog.pipeline import refresh
from codecatalog.sources import use_sources

CASES = Path(__file__).parent / "cases" / "hcpcs"
DECLARATIONS = """
[payer_pa]
title = "Invented prior-authorization list"
family = "table"
key = ["code", "site"]
schema = "any.yaml"
descriptors = []
attributes = []
code_columns = ["code"]
code_sets = ["hcpcs", "cpt"]
[payer_pa.columns]
code = "Code"
site = "Site"

[payer_units]
title = "Invented unit limits"
family = "table"
key = ["code"]
schema = "any.yaml"
descriptors = []
attributes = ["units"]
code_columns = ["code"]
code_sets = ["hcpcs", "cpt"]
[payer_units.columns]
code = "Code"
units = "Units"
"""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("as_of")
    toml = root / "payers.toml"
    toml.write_text(DECLARATIONS)
    (root / "any.yaml").write_text("schema_type: dataframe\ncolumns: {}\n")
    wh = root / "wh"
    for version, name in [
        ("2016", "reconstructed_2016_ANWEB.txt"),
        ("2017", "excerpt_2017_ANWEB.txt"),
        ("2018", "excerpt_2018_ANWEB.txt"),
    ]:
        refresh("hcpcs", str(CASES / name), version, warehouse_dir=wh)
    use_sources([toml])
    files = {
        ("payer_pa", "2018Q1"): "Code,Site\nG0202,office\nA5513,office\nA9999,home\n77067,office\n",
        ("payer_units", "2018Q2"): "Code,Units\nG0202,3\nJ7342,1\nA0000,2\n",
        ("payer_units", "2018Q4"): "Code,Units\nJ7342,1\n",
    }
    try:
        for (name, version), text in files.items():
            path = root / f"{name}_{version}.csv"
            path.write_text(text)
            refresh(name, str(path), version, warehouse_dir=wh, allow_shrink=True)
    finally:
        use_sources([])
    yield wh, toml


def as_of(wh: Path, day: str, capsys: pytest.CaptureFixture, *extra: str) -> str:
    assert main(["findings", "--as-of", day, "--warehouse", str(wh), *extra]) == 0
    return capsys.readouterr().out


def test_as_of_groups_every_policy_row_by_code(
    warehouse: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    wh, _ = warehouse  # the declarations stored with the releases are used: no --sources
    assert as_of(wh, "2018-07-01", capsys).splitlines() == [
        "Policy rows naming codes retired or unknown on 2018-07-01",
        "policy sources in force: payer_pa 2018Q1, payer_units 2018Q2",
        "code sets in force: hcpcs 2018, cpt (none in force)",
        "",
        "A0000  unknown in hcpcs 2018  (1 row)",
        "    payer_units 2018Q2  A0000  (code)",
        "",
        "A9999  unknown in hcpcs 2018  (1 row)",
        "    payer_pa 2018Q1  A9999|home  (code)",
        "",
        "G0202  retired in hcpcs 2018 on 2018-01-01; successors: 77067  (2 rows)",
        "    payer_pa 2018Q1  G0202|office  (code)",
        "    payer_units 2018Q2  G0202  (code)",
        "",
        "3 codes retired or unknown, named by 4 policy rows.",
        "unchecked: 1 codes in 1 rows: no cpt version in force on 2018-07-01",
    ]
    # The later version of payer_units is in force from October: J7342 alone, active.
    assert as_of(wh, "2018-10-01", capsys, "--format", "csv").splitlines() == [
        "code,finding,code_set,code_set_version,retired_on,successors,source,version,key,column",
        "A9999,unknown,hcpcs,2018,,,payer_pa,2018Q1,A9999|home,code",
        "G0202,retired,hcpcs,2018,2018-01-01,77067,payer_pa,2018Q1,G0202|office,code",
    ]


def test_as_of_before_any_policy_version(
    warehouse: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    wh, _ = warehouse
    assert as_of(wh, "2017-12-31", capsys, "--source", "payer_pa").splitlines() == [
        "Policy rows naming codes retired or unknown on 2017-12-31",
        "policy sources in force: none",
        "no version in force: payer_pa",
        "",
        "0 codes retired or unknown, named by 0 policy rows.",
    ]


def test_as_of_refuses_a_non_date(
    warehouse: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    wh, _ = warehouse
    assert main(["findings", "--as-of", "2018-13-01", "--warehouse", str(wh)]) == 2
    assert capsys.readouterr().err == ("error: --as-of '2018-13-01' is not a date (YYYY-MM-DD)\n")

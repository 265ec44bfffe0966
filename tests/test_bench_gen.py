"""The NCCI-PTP benchmark generator (bench/ncci_gen.py): shape, determinism and the Q1 → Q2 churn.

The files are parsed and diffed here with plain Python, independently of the generator's code.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROWS = 2000
CODE = re.compile(r"\d{5}|\d{4}[TUA]|[A-V]\d{4}")
DATE = re.compile(r"(19\d\d|20[0-2]\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])")


def _load_generator() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "bench" / "ncci_gen.py"
    spec = importlib.util.spec_from_file_location("ncci_gen", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ncci_gen"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ncci_gen = _load_generator()

Rows = dict[tuple[str, str], tuple[str, ...]]


def _parse(path: Path) -> tuple[list[str], Rows]:
    """(the 6 preamble lines, rows by key); every line CRLF-terminated, rows in key order."""
    text = path.read_bytes().decode("latin-1")
    assert text.endswith("\r\n")
    lines = text[: -len("\r\n")].split("\r\n")
    assert all("\r" not in line and "\n" not in line for line in lines)
    preamble, body = lines[:6], lines[6:]
    rows: Rows = {}
    keys = []
    for line in body:
        fields = line.split("\t")
        assert len(fields) == 7, line
        key = (fields[0], fields[1])
        assert key not in rows, f"duplicate key {key}"
        rows[key] = tuple(fields[2:])
        keys.append(key)
    assert keys == sorted(keys)
    return preamble, rows


@pytest.fixture(scope="module")
def quarters(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    q1, q2 = ncci_gen.generate(tmp_path_factory.mktemp("ncci"), rows=ROWS, seed=0)
    return q1, q2


def test_deterministic_from_seed(quarters: tuple[Path, Path], tmp_path: Path) -> None:
    again = ncci_gen.generate(tmp_path / "again", rows=ROWS, seed=0)
    other = ncci_gen.generate(tmp_path / "other", rows=ROWS, seed=1)
    for first, second, third in zip(quarters, again, other, strict=True):
        assert first.read_bytes() == second.read_bytes()
        assert first.read_bytes() != third.read_bytes()


def test_preamble_header_and_rows(quarters: tuple[Path, Path]) -> None:
    for path in quarters:
        preamble, rows = _parse(path)
        assert preamble[0].startswith("CPT only copyright ")
        assert preamble[1] == "Column1/Column2 Edits"
        header = [line.split("\t") for line in preamble[2:]]
        assert all(len(cells) == 7 for cells in header)
        merged = [" ".join(" ".join(cells).split()) for cells in zip(*header, strict=True)]
        assert merged == [
            "Column 1",
            "Column 2",
            "*=in existence prior to 1996",
            "Effective Date",
            "Deletion Date *=no data",
            "Modifier 0=not allowed 1=allowed 9=not applicable",
            "PTP Edit Rationale",
        ]
        for (column_1, column_2), (prior, effective, deletion, modifier, rationale) in rows.items():
            assert CODE.fullmatch(column_1) and CODE.fullmatch(column_2)
            assert column_1 != column_2
            assert prior in ("*", "") and (prior == "") == (effective != "19960101")
            assert DATE.fullmatch(effective)
            assert deletion == "*" or (DATE.fullmatch(deletion) and deletion >= effective)
            assert modifier in ("0", "1", "9") and (modifier == "9") <= (deletion == effective)
            assert rationale.strip() == rationale != ""


def test_second_quarter_changes_one_to_two_percent(quarters: tuple[Path, Path]) -> None:
    _, old = _parse(quarters[0])
    _, new = _parse(quarters[1])
    assert len(old) == ROWS
    added = new.keys() - old.keys()
    removed = old.keys() - new.keys()
    changed = {k for k in old.keys() & new.keys() if old[k] != new[k]}
    assert 0.01 <= (len(added) + len(removed) + len(changed)) / ROWS <= 0.02

    kinds: dict[str, int] = {"deleted": 0, "modifier": 0, "rationale": 0}
    for key in changed:
        prior, effective, deletion, modifier, _ = old[key]
        after = new[key]
        assert deletion == "*"  # only active edits change
        assert after[:2] == (prior, effective)
        differs = [i for i in range(5) if after[i] != old[key][i]]
        assert len(differs) == 1, (old[key], after)
        if differs == [2]:
            assert after[2] == "20260331"
            kinds["deleted"] += 1
        elif differs == [3]:
            assert {modifier, after[3]} == {"0", "1"}
            kinds["modifier"] += 1
        else:
            kinds["rationale"] += 1
    for key in added:
        assert new[key][:3] == ("", "20260401", "*")
    # The documented shares of the first quarter's rows (ncci_gen.Changes), each a fixed count.
    assert kinds == {"deleted": 12, "modifier": 6, "rationale": 2}
    assert (len(removed), len(added)) == (2, 10)


def test_the_cpt_refresh_benchmark_runs() -> None:
    """bench/bench_refresh.py against today's API (it broke silently once)."""
    import subprocess
    import sys

    bench = Path(__file__).parents[1] / "bench" / "bench_refresh.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--repeat", "1"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "whole refresh, no Prefect" in done.stdout

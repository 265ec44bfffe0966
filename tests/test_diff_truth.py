"""The diff of generated releases equals the generator's ground truth, row for row."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from codecatalog import warehouse
from codecatalog.cli import main
from codecatalog.diff.changes import CHANGE_COLUMNS, changes_between
from codecatalog.sources import source


@pytest.mark.parametrize(("old", "new"), [("2024", "2025"), ("2025", "2026")])
def test_cli_diff_csv_equals_ground_truth(
    old: str, new: str, samples: Path, loaded_warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    assert (
        main(["diff", "cpt", old, new, "--format", "csv", "--warehouse", str(loaded_warehouse)])
        == 0
    )
    truth = (samples / "truth" / f"changes_{old}_{new}.csv").read_text(encoding="utf-8")
    assert capsys.readouterr().out == truth


@pytest.mark.parametrize(("old", "new"), [("2024", "2025"), ("2025", "2026")])
def test_counts_per_change_type_and_field_match_truth(
    old: str, new: str, samples: Path, loaded_warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    main(["diff", "cpt", old, new, "--format", "json", "--warehouse", str(loaded_warehouse)])
    ours = pd.DataFrame(json.loads(capsys.readouterr().out))
    truth = pd.read_csv(
        samples / "truth" / f"changes_{old}_{new}.csv", dtype=str, keep_default_na=False
    )
    summary = json.loads((samples / "truth" / "summary.json").read_text())[f"{old}_{new}"]

    assert list(ours.columns) == CHANGE_COLUMNS
    assert ours["change_type"].value_counts().to_dict() == summary

    def per_field(frame: pd.DataFrame) -> dict:
        field = frame["field"].fillna("").str.split(":").str[0]
        return frame.groupby([frame["change_type"], field]).size().to_dict()

    assert per_field(ours) == per_field(truth)


def test_diff_across_a_skipped_version(loaded_warehouse: Path, samples: Path) -> None:
    """2024 → 2026 directly: a code retired in 2025 and back in 2026 is no event at all."""
    truth_1 = pd.read_csv(
        samples / "truth" / "changes_2024_2025.csv", dtype=str, keep_default_na=False
    )
    truth_2 = pd.read_csv(
        samples / "truth" / "changes_2025_2026.csv", dtype=str, keep_default_na=False
    )
    back = set(truth_1.key[truth_1.change_type == "retired"]) & set(
        truth_2.key[truth_2.change_type == "reactivated"]
    )
    assert len(back) == 1

    con = warehouse.open_reader(loaded_warehouse)
    changes = changes_between(con, source("cpt"), "2024", "2026")
    con.close()
    assert not set(changes["key"]) & back

    def keys(truth: pd.DataFrame, kind: str) -> set[str]:
        return set(truth.key[truth.change_type == kind])

    added = (keys(truth_1, "added") | keys(truth_2, "added")) - keys(truth_2, "retired")
    assert set(changes.key[changes.change_type == "added"]) == added
    retired = (keys(truth_1, "retired") | keys(truth_2, "retired")) - back - keys(truth_1, "added")
    assert set(changes.key[changes.change_type == "retired"]) == retired
    # Codes deleted before 2024 that came back: still reactivated (2024's deletion history).
    assert (
        set(changes.key[changes.change_type == "reactivated"])
        == (keys(truth_1, "reactivated") | keys(truth_2, "reactivated")) - back
    )

"""Reconciliation of computed changes with per-record action codes (pure functions)."""

from __future__ import annotations

import pandas as pd

from codecatalog.diff.reconcile import (
    cross_check_transactions,
    describe_computed,
    reconcile_actions,
)
from codecatalog.sources import source

ANNOUNCED = source("hcpcs").actions


def changes(*rows: tuple[str, str, str | None]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["key", "change_type", "field"])


def test_every_kind_of_disagreement() -> None:
    computed = changes(
        ("A0001", "added", None),  # A: agrees
        ("A0002", "added", None),  # added but N (added by a correction)
        ("A0003", "added", None),  # new and terminated: D agrees
        ("A0003", "retired", None),
        ("A0004", "retired", None),  # TERM DT set retroactively, N
        ("A0004", "attribute_changed", "term_dt"),
        ("A0005", "descriptor_revised", "long_descriptor"),  # C agrees
        ("A0006", "descriptor_editorial", "long_descriptor"),  # N with a change
        ("A0007", "attribute_changed", "asc_grp"),  # P agrees
        ("A0008", "descriptor_revised", "short_descriptor"),  # P hides a descriptor change
        ("A0008", "attribute_changed", "asc_dt"),
        ("A0009", "retired", None),  # vanished while active
        ("A0011", "reactivated", None),  # R agrees
    )
    actions = pd.Series(
        {"A0001": "A", "A0002": "N", "A0003": "D", "A0004": "N", "A0005": "C", "A0006": "N",
         "A0007": "P", "A0008": "P", "A0010": "A", "A0011": "R", "A0012": "C", "A0013": "N"}
    )  # fmt: skip
    dropped = pd.Series({"B0001": "20131231"})
    found = reconcile_actions(computed, actions, ANNOUNCED, dropped=dropped)
    assert found.to_dict("list") == {
        "key": ["A0002", "A0004", "A0006", "A0008", "A0009", "A0010", "A0012", "B0001"],
        "computed": ["added", "retired, term_dt", "long_descriptor", "asc_dt, short_descriptor",
                     "retired", "", "", ""],
        "source_action": ["N", "N", "N", "P", "", "A", "C", ""],
        "problem": [
            "computed added but N",
            "computed retired but N",
            "N but changed: long_descriptor",
            "P does not announce: short_descriptor",
            "vanished from the file without a D",
            "A but no added computed (key already existed)",
            "C but no change computed",
            "dropped out of the file, retired since 20131231",
        ],
    }  # fmt: skip


def test_an_action_whose_fields_did_not_change() -> None:
    found = reconcile_actions(
        changes(("A0001", "attribute_changed", "betos")), pd.Series({"A0001": "C"}), ANNOUNCED
    )
    assert found.problem.tolist() == ["C but none of its fields changed (changed: betos)"]


def test_transaction_report_cross_check() -> None:
    actions = pd.Series({"A0001": "A", "A0002": "N", "A0003": "C", "L1": "N"})
    stated = pd.DataFrame(
        [("A0001", "A", "ADD"), ("A0002", "N", "No Change"), ("A0002", "C", "Long Description"),
         ("A0003", "S", "Short Description Change"), ("ZZ", "N", "No Change")],
        columns=["code", "action", "label"],
    )  # fmt: skip
    computed = pd.Series({"A0003": "long_descriptor"})
    found = cross_check_transactions(actions, stated, computed)
    assert found.to_dict("records") == [
        {"key": "A0002", "computed": "", "source_action": "N",
         "problem": "transaction report lists it 2 times: N (No Change); C (Long Description)"},
        {"key": "A0003", "computed": "long_descriptor", "source_action": "C",
         "problem": "transaction report says S (Short Description Change)"},
        {"key": "L1", "computed": "", "source_action": "N",
         "problem": "not in the transaction report"},
        {"key": "ZZ", "computed": "", "source_action": "",
         "problem": "transaction report lists N (No Change), not in the file"},
    ]  # fmt: skip


def test_whole_row_events_against_their_action_codes() -> None:
    computed = changes(
        ("A0001", "added", None),  # new and terminated, D: agrees
        ("A0001", "retired", None),
        ("A0002", "added", None),  # D but never retired
        ("A0003", "reactivated", None),  # R agrees, and may carry its fields
        ("A0003", "attribute_changed", "term_dt"),
        ("A0004", "attribute_changed", "term_dt"),  # R without a reactivation
        ("A0005", "added", None),  # added and retired under A
        ("A0005", "retired", None),
        ("A0006", "added", None),  # no ACTION CD at all: nothing to compare
        ("A0007", "reactivated", None),  # reactivated and retired under N: both unexpected
        ("A0007", "retired", None),
        ("A0008", "retired", None),  # D and retired, with its successor fields
        ("A0008", "attribute_changed", "xref1"),
    )
    actions = pd.Series(
        {"A0001": "D", "A0002": "D", "A0003": "R", "A0004": "R", "A0005": "A", "A0006": "",
         "A0007": "N", "A0008": "D"}
    )  # fmt: skip
    found = reconcile_actions(computed, actions, ANNOUNCED)
    assert found.to_dict("records") == [
        {"key": "A0002", "computed": "added", "source_action": "D",
         "problem": "D but no retired computed"},
        {"key": "A0004", "computed": "term_dt", "source_action": "R",
         "problem": "R but no reactivated computed"},
        {"key": "A0005", "computed": "added, retired", "source_action": "A",
         "problem": "computed retired but A"},
        {"key": "A0007", "computed": "reactivated, retired", "source_action": "N",
         "problem": "computed reactivated, retired but N"},
    ]  # fmt: skip


def test_nothing_to_reconcile_gives_empty_tables() -> None:
    empty = changes()
    assert reconcile_actions(empty, pd.Series(dtype="str"), ANNOUNCED).to_dict("list") == {
        "key": [],
        "computed": [],
        "source_action": [],
        "problem": [],
    }
    no_report = pd.DataFrame(columns=["code", "action", "label"])
    found = cross_check_transactions(pd.Series(dtype="str"), no_report, describe_computed(empty))
    assert list(found.columns) == ["key", "computed", "source_action", "problem"]
    assert found.empty


def test_describe_computed_lists_each_change_once_sorted() -> None:
    computed = changes(
        ("A0002", "retired", None),
        ("A0002", "attribute_changed", "xref1"),
        ("A0001", "descriptor_revised", "short_descriptor"),
        ("A0001", "descriptor_editorial", "long_descriptor"),
        ("A0001", "descriptor_revised", "long_descriptor"),
    )
    assert describe_computed(computed).to_dict() == {
        "A0001": "long_descriptor, short_descriptor",
        "A0002": "retired, xref1",
    }

"""The editorial normaliser: a table of examples (DESIGN.md §3)."""

from __future__ import annotations

import pytest

from codecatalog.diff.normalise import editorial_form, is_editorial

EDITORIAL = [
    ("Biopsy of skin, single lesion", "biopsy of skin, single lesion"),  # letter case
    ("Biopsy of skin,  single lesion", "Biopsy of skin, single lesion"),  # spacing
    ("Repair of nerve; each additional", "Repair of nerve each additional"),  # semicolon
    ("Assay, quantitative", "Assay quantitative"),  # comma
    ("Imaging of joint.", "Imaging of joint"),  # final period
    ("Therapy (initial)", "Therapy initial"),  # parentheses away from digits
    ('Use of "standard" kit', "Use of standard kit"),  # quotes
    ("Scan: limited", "Scan limited"),  # colon
    ("  Leading and trailing  ", "Leading and trailing"),  # outer space
]

REVISION = [
    ("Infusion, <50 mL", "Infusion, <=50 mL"),  # meaning-bearing symbol
    ("Infusion, <50 mL", "Infusion, >50 mL"),
    ("Dose 2.5 mg", "Dose 25 mg"),  # decimal point touches digits
    ("Up to 1,000 units", "Up to 1000 units"),  # comma touches digits
    ("Lesions (3)", "Lesions 3"),  # parentheses touch a digit
    ("Follow-up visit", "Follow up visit"),  # hyphen carries meaning
    ("Each 15 min", "Each 30 min"),  # number
    ("Left knee", "Right knee"),  # word
    ("Measured in %", "Measured in percent"),  # percent sign
    ("Dose/kg", "Dose kg"),  # slash
    ("Add-on +1", "Add-on -1"),  # plus/minus
    ("Word(s)", "Words"),  # parentheses inside a word split it
]


@pytest.mark.parametrize(("old", "new"), EDITORIAL)
def test_editorial_changes(old: str, new: str) -> None:
    assert is_editorial(old, new)


@pytest.mark.parametrize(("old", "new"), REVISION)
def test_revisions_are_never_editorial(old: str, new: str) -> None:
    assert not is_editorial(old, new)


def test_a_missing_side_is_never_editorial() -> None:
    assert not is_editorial(None, "text")
    assert not is_editorial("text", None)


def test_editorial_form() -> None:
    assert editorial_form("Biopsy,  Skin (Each); 2.5 cm") == "biopsy skin each 2.5 cm"
    assert editorial_form(None) is None

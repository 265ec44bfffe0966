"""The editorial normaliser: a table of examples (DESIGN.md §3).

Every pair is checked in both directions: the rule is symmetric.
"""

from __future__ import annotations

import doctest

import duckdb
import pytest

from codecatalog.diff import normalise
from codecatalog.diff.normalise import descriptor_form, editorial_form, editorial_sql, is_editorial

EDITORIAL = [
    # letter case
    ("Biopsy of skin, single lesion", "biopsy of skin, single lesion"),
    ("BIOPSY OF SKIN", "Biopsy of skin"),
    ("X-ray of knee", "X-RAY of Knee"),
    ("Dose <50 mL", "dose <50 ML"),
    # spacing
    ("Biopsy of skin,  single lesion", "Biopsy of skin, single lesion"),
    ("  Leading and trailing  ", "Leading and trailing"),
    ("Assay,quantitative", "Assay, quantitative"),
    # meaningless punctuation added or dropped
    ("Repair of nerve; each additional", "Repair of nerve each additional"),  # semicolon
    ("Assay, quantitative", "Assay quantitative"),  # comma
    ("Imaging of joint.", "Imaging of joint"),  # final period
    ("Therapy (initial)", "Therapy initial"),  # parentheses away from digits
    ('Use of "standard" kit', "Use of standard kit"),  # quotes
    ("Scan: limited", "Scan limited"),  # colon
    ("Repair, simple, single", "Repair simple, single"),  # one of two commas dropped
    ("Removal, not including graft", "Removal, not, including graft"),  # a second comma added
    ("Repair; simple", "Repair, simple"),  # a semicolon dropped, a comma added
    # curly and straight quotes
    ("Use of ‘standard’ kit", "Use of 'standard' kit"),
    ('Use of "standard" kit', "Use of “standard” kit"),
    ("Patient’s own graft", "Patient's own graft"),
    ("By Müllner's technique", "By Müllner’s technique"),
    ("Reported as “positive/negative”", 'Reported as "positive/negative"'),
    # en or em dash and hyphen, away from digits
    ("Robot–assisted repair", "Robot-assisted repair"),
    ("Follow-up visit", "Follow—up visit"),
    ("Next-generation sequencing", "Next–generation sequencing"),
    ("Biopsy – skin", "Biopsy - skin"),
    ("Tie–off", "Tie—off"),
]

REVISION = [
    # meaning-bearing symbols
    ("Infusion, <50 mL", "Infusion, <=50 mL"),
    ("Infusion, <50 mL", "Infusion, >50 mL"),
    ("Measured in %", "Measured in percent"),  # percent sign
    ("Dose/kg", "Dose kg"),  # slash
    ("Add-on +1", "Add-on -1"),  # plus/minus
    ("Follow-up visit", "Follow up visit"),  # hyphen carries meaning
    ("Follow-up visit", "Followup visit"),
    ("Biopsy – skin", "Biopsy skin"),  # a dash is a hyphen: dropping one is no spacing change
    # digits and punctuation touching them
    ("Dose 2.5 mg", "Dose 25 mg"),  # decimal point touches digits
    ("Up to 1,000 units", "Up to 1000 units"),  # comma touches digits
    ("Lesions (3)", "Lesions 3"),  # parentheses touch a digit
    ("Each 15 min", "Each 30 min"),  # number
    ("Grade 2.", "Grade 2"),  # a period touching a digit
    # dashes and quotes next to a digit
    ("Ages 5–10 years", "Ages 5-10 years"),
    ("Ages 5-10 years", "Ages 5—10 years"),
    ("COVID–19 vaccine", "COVID-19 vaccine"),
    ("10%–25% of surface", "10%-25% of surface"),
    ("Needle, 12” long", 'Needle, 12" long'),
    ("Length 5'", "Length 5’"),
    # words
    ("Left knee", "Right knee"),
    ("Skin biopsy", "Biopsy skin"),  # word order
    ("Removal of graft", "Removal graft"),  # word dropped
    ("Word(s)", "Words"),  # parentheses inside a word split it
    ("Patient's graft", "Patients graft"),
    # a mark moved to another place
    ("Removal, not including", "Removal not, including"),  # comma moved across a word
    ("Repair, simple single", "Repair simple single,"),
    ("Therapy (initial)", "(Therapy) initial"),
    ("Repair, simple; single", "Repair; simple, single"),  # comma and semicolon swap places
    ("Use of 'standard' kit", "Use 'of standard' kit"),
]


@pytest.mark.parametrize(("old", "new"), EDITORIAL)
def test_editorial_changes(old: str, new: str) -> None:
    assert is_editorial(old, new)
    assert is_editorial(new, old)


@pytest.mark.parametrize(("old", "new"), REVISION)
def test_revisions_are_never_editorial(old: str, new: str) -> None:
    assert not is_editorial(old, new)
    assert not is_editorial(new, old)


def test_a_missing_side_is_never_editorial() -> None:
    assert not is_editorial(None, "text")
    assert not is_editorial("text", None)


def test_stored_forms_decide_in_sql_as_in_python() -> None:
    """`editorial_sql` over the stored forms gives `is_editorial`'s answer for every pair above,
    in both directions (what the warehouse's diff and its SQL macros rely on)."""
    pairs = [(a, b) for a, b in EDITORIAL + REVISION] + [(b, a) for a, b in EDITORIAL + REVISION]
    con = duckdb.connect()
    con.execute("CREATE TABLE forms (text VARCHAR PRIMARY KEY, words VARCHAR, marks VARCHAR[])")
    texts = sorted({t for pair in pairs for t in pair})
    con.executemany("INSERT INTO forms VALUES (?, ?, ?)", [(t, *descriptor_form(t)) for t in texts])
    con.execute("CREATE TABLE pairs (old VARCHAR, new VARCHAR)")
    con.executemany("INSERT INTO pairs VALUES (?, ?)", pairs)
    found = con.execute(
        f"""SELECT p.old, p.new, {editorial_sql("o.words", "o.marks", "n.words", "n.marks")}
        FROM pairs p JOIN forms o ON o.text = p.old JOIN forms n ON n.text = p.new"""
    ).fetchall()
    assert sorted(found) == sorted((a, b, is_editorial(a, b)) for a, b in pairs)
    assert sum(editorial for _, _, editorial in found) == 2 * len(EDITORIAL)


def test_descriptor_form() -> None:
    assert descriptor_form("Lesions (3); each, each,, 2.5 cm") == (
        "lesions (3) each each 2.5 cm",
        [",@3#1", ",@4#1", ",@4#2", ";@2#1"],
    )


def test_editorial_form() -> None:
    assert editorial_form("Biopsy,  Skin (Each); 2.5 cm") == "biopsy skin each 2.5 cm"
    assert editorial_form("Robot–assisted, ages 5–10") == "robot-assisted ages 5–10"
    assert editorial_form(None) is None


def test_docstring_examples() -> None:
    result = doctest.testmod(normalise)
    assert result.attempted >= 3 and result.failed == 0

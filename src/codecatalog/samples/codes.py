"""The code universe: category number ranges, code numbering, history dates, the code record."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

# key, first number, last number, suffix, initial count, pre-first-year deletions, adds per year
CATS = (
    ("anes", 100, 1999, "", 280, 5, 5),
    ("surg", 10004, 69990, "", 6000, 80, 95),
    ("rad", 70010, 79999, "", 950, 15, 15),
    ("lab", 80047, 89398, "", 1150, 20, 20),
    ("med", 90281, 99199, "", 900, 12, 15),
    ("em", 99202, 99499, "", 200, 5, 3),
    ("cat2", 1, 9007, "F", 500, 5, 10),
    ("cat3", 42, 950, "T", 400, 6, 20),
    ("pla", 1, 500, "U", 400, 2, 15),
    ("vacc", 1, 150, "A", 40, 0, 2),
    ("maaa", 1, 20, "M", 13, 0, 1),
)
CAT_I = {"anes", "surg", "rad", "lab", "med", "em"}
SEQUENTIAL = {"cat3", "pla", "vacc", "maaa"}  # new codes take the next free numbers
FIRST_YEAR = {"cat2": 2004, "cat3": 2002, "pla": 2016, "vacc": 2020, "maaa": 2013}
QUARTERLY = {"pla", "vacc"}


@dataclass
class Code:
    """One code's record: identifiers, descriptors, clinician descriptors, PLA attributes."""

    code: str
    cat: str
    concept: int
    level: str
    long: str
    medium: str
    short: str
    consumer: str | None
    clin_base: str | None
    clinicians: list[list[Any]] = field(default_factory=list)  # mutable [id, text], file order
    pla: dict[str, str] | None = None


def fmt(num: int, suffix: str) -> str:
    """The code string for number ``num`` in a category with code suffix ``suffix``."""
    return f"{num:05d}" if not suffix else f"{num:04d}{suffix}"


def hist_date(r: random.Random, cat: str, hi_year: int) -> str:
    """A history date (``YYYYMMDD`` or ``Pre-1990``) no later than ``hi_year`` for a new code."""
    if cat in CAT_I and r.random() < 0.4:
        return "Pre-1990"
    year = r.randint(min(FIRST_YEAR.get(cat, 1990), hi_year), hi_year)
    month = r.choice((1, 4, 7, 10)) if cat in QUARTERLY and year < hi_year else 1
    return f"{year}{month:02d}01"


def iso(year: int, month: int) -> str:
    """The first of ``month`` as an ISO timestamp with the US Central offset, for PLA dates."""
    return f"{year}-{month:02d}-01T00:00:00{'-06:00' if month in (1, 2, 3, 11, 12) else '-05:00'}"

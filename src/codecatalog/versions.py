"""Version labels: `YYYY`, `YYYYQn`, optionally followed by `rN` (the N-th correction)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from codecatalog.errors import VersionError

_LABEL = re.compile(r"(?P<year>\d{4})(?:Q(?P<quarter>[1-4]))?(?:r(?P<correction>[1-9]\d*))?")


@dataclass(frozen=True, order=True)
class Version:
    """A parsed version label, ordered by effective date then correction number.

    >>> Version.parse("2026Q3").effective_date
    datetime.date(2026, 7, 1)
    """

    effective_date: date
    correction: int
    label: str

    @classmethod
    def parse(cls, label: str) -> Version:
        """Parse a label; raise VersionError naming the label when it is malformed."""
        m = _LABEL.fullmatch(label)
        if not m:
            raise VersionError(
                f"version {label!r} is not YYYY, YYYYQn or either followed by rN "
                "(e.g. 2026, 2026Q3, 2025r1)"
            )
        quarter = int(m["quarter"] or 1)
        effective = date(int(m["year"]), 3 * (quarter - 1) + 1, 1)
        return cls(effective, int(m["correction"] or 0), label)

    @property
    def year(self) -> int:
        """The calendar year the version takes effect in."""
        return self.effective_date.year

    @property
    def release(self) -> tuple[date, int]:
        """Identity of the release slot: `2026` and `2026Q1` share one (same effective date)."""
        return (self.effective_date, self.correction)

    def __str__(self) -> str:
        return self.label

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

    @property
    def quarter(self) -> int | None:
        """The quarter of a `YYYYQn` label; None for an annual one."""
        return int(self.label[5]) if self.label[4:5] == "Q" else None

    def follows(self, previous: Version) -> bool:
        """Whether `previous` is the release right before this one, so that this release's own
        action codes describe exactly the step between them.

        A correction follows its base (or the correction before it); an annual release follows
        the previous year's annual or fourth-quarter release; a quarterly one follows the quarter
        before it (Q1 and the annual release being the same slot).

        >>> Version.parse("2020Q3").follows(Version.parse("2020Q2"))
        True
        >>> Version.parse("2020Q2").follows(Version.parse("2018"))
        False
        """
        if self.correction:
            return previous.effective_date == self.effective_date and previous < self
        if previous.effective_date == self.effective_date:
            return False
        quarter = self.quarter or 1
        if quarter == 1:
            return previous.year == self.year - 1 and previous.quarter in (None, 4)
        return previous.year == self.year and (previous.quarter or 1) == quarter - 1

    def __str__(self) -> str:
        return self.label

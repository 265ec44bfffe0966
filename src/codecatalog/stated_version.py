"""What a policy release says about its own version, checked against the version label.

Each rule reads what CMS writes in a release itself (never the copyright year, which names the year
before the release): the NCCI part name's `v<VVV>r<R>`, the MUE file name's `Eff_MM-DD-YYYY`, the
Addendum B sheet title's month and year, the PPRRVU title's (or file name's) year and release
month. A file that states nothing is not a failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Protocol

from codecatalog.errors import Failure
from codecatalog.versions import Version

_NAMES = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
MONTHS = {name: number for number, name in enumerate(_NAMES, start=1)}
_MONTH_WORD = "|".join(MONTHS)
_NCCI = re.compile(r"v(\d\d)(\d)r(\d+)", re.IGNORECASE)
_MUE = re.compile(r"eff_(\d\d)-(\d\d)-(\d{4})", re.IGNORECASE)
_ADDB = re.compile(rf"(\d{{4}})\s+({_MONTH_WORD})\b.*addendum\s*b", re.IGNORECASE)
_RVU_TITLE = re.compile(
    rf"(\d{{4}}) national physician fee schedule relative value file\s+({_MONTH_WORD})",
    re.IGNORECASE,
)
_RVU_NAME = re.compile(r"pprrvu(\d{2}|\d{4})_([a-z]{3})", re.IGNORECASE)
_NCCI_BASE_YEAR = 1994  # NCCI version 32.0 took effect 1 January 2026


class Evidence(Protocol):
    """One read file's self-description (`codecatalog.read.release.Evidence`)."""

    @property
    def file(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def sheet(self) -> str | None: ...
    @property
    def preamble(self) -> tuple[str, ...]: ...


def _fail(evidence: Evidence, column: str, stated: str, version: Version, says: str) -> Failure:
    return Failure(
        evidence.file, None, column, "version", f"{stated} ({says}, not version {version.label})"
    )


def ncci_ptp(version: Version, evidence: Evidence) -> list[Failure]:
    """`ccipra-v321r0-f1`: version 32.1, revision 0 = the second quarter of 2026, no correction.

    >>> from codecatalog.read.release import Evidence as E
    >>> part = E("f", "ccipra-v321r0-f1.txt", None, ())
    >>> ncci_ptp(Version.parse("2026Q2"), part)
    []
    >>> [f.value for f in ncci_ptp(Version.parse("2026Q1"), part)]
    ['v321r0 (2026Q2, not version 2026Q1)']
    """
    m = _NCCI.search(evidence.name)
    if not m:
        return []
    year, quarter, correction = _NCCI_BASE_YEAR + int(m[1]), int(m[2]) + 1, int(m[3])
    if quarter > 4:
        return [_fail(evidence, "file name", m[0], version, f"quarter {quarter} does not exist")]
    stated = (year, quarter, correction)
    if stated == (version.year, version.quarter or 1, version.correction):
        return []
    label = f"{year}Q{quarter}" + (f"r{correction}" if correction else "")
    return [_fail(evidence, "file name", m[0], version, label)]


def mue(version: Version, evidence: Evidence) -> list[Failure]:
    """`MCR_MUE_PractitionerServices_Eff_04-01-2026.csv`: effective 1 April 2026."""
    m = _MUE.search(evidence.name)
    if not m:
        return []
    try:
        stated = date(int(m[3]), int(m[1]), int(m[2]))
    except ValueError:
        return [_fail(evidence, "file name", m[0], version, "not a date")]
    if stated == version.effective_date:
        return []
    return [_fail(evidence, "file name", m[0], version, f"effective {stated.isoformat()}")]


def _year_month(
    version: Version, evidence: Evidence, column: str, text: str, year: str, month: str
) -> list[Failure]:
    stated = date(int(year) if len(year) == 4 else 2000 + int(year), _month(month), 1)
    if stated == version.effective_date.replace(day=1):
        return []
    return [_fail(evidence, column, text, version, f"{stated:%B %Y}")]


def _month(word: str) -> int:
    word = word.casefold()
    return next(number for name, number in MONTHS.items() if name.startswith(word[:3]))


def opps_addb(version: Version, evidence: Evidence) -> list[Failure]:
    """The sheet title `2022 October Addendum B`: October 2022 (its corrections too)."""
    m = _ADDB.search(evidence.sheet or "")
    if not m:
        return []
    return _year_month(version, evidence, "sheet", evidence.sheet or "", m[1], m[2])


def pfs_rvu(version: Version, evidence: Evidence) -> list[Failure]:
    """The title `2023 National Physician Fee Schedule Relative Value File January Release`, else
    a file name `PPRRVU23_JAN`: January 2023."""
    for line in evidence.preamble:
        m = _RVU_TITLE.search(line)
        if m:
            return _year_month(version, evidence, "title", line, m[1], m[2])
    m = _RVU_NAME.search(evidence.name)
    if m and m[2].casefold() in {name[:3] for name in MONTHS}:
        return _year_month(version, evidence, "file name", m[0], m[1], m[2])
    return []


RULES: dict[str, Callable[[Version, Evidence], list[Failure]]] = {
    "ncci_ptp": ncci_ptp,
    "mue": mue,
    "opps_addb": opps_addb,
    "pfs_rvu": pfs_rvu,
}


def check_stated_version(
    rule: str, version: Version, evidence: Sequence[Evidence]
) -> list[Failure]:
    """Every file of a release whose own statement of its version contradicts `version`."""
    check = RULES[rule]
    return [failure for item in evidence for failure in check(version, item)]


def stated_label(rule: str, names: Sequence[str]) -> str | None:
    """The version label a release's file names state, for the rules whose statement is in a
    name: NCCI's `v<VV><Q-1>r<R>` and MUE's `Eff_MM-DD-YYYY` (on a quarter's first day); None
    when no name states one (the statement is inside the files, or absent).

    >>> stated_label("ncci_ptp", ["ccipra-v321r1-f1.zip"])
    '2026Q2r1'
    >>> stated_label("mue", ["MCR_MUE_PractitionerServices_Eff_01-01-2027.csv"])
    '2027Q1'
    """
    for name in names:
        if rule == "ncci_ptp" and (m := _NCCI.search(name)):
            quarter, correction = int(m[2]) + 1, int(m[3])
            if quarter <= 4:
                year = _NCCI_BASE_YEAR + int(m[1])
                return f"{year}Q{quarter}" + (f"r{correction}" if correction else "")
        if rule == "mue" and (m := _MUE.search(name)):
            month, day, year = int(m[1]), int(m[2]), int(m[3])
            if day == 1 and month in (1, 4, 7, 10):
                return f"{year}Q{(month - 1) // 3 + 1}"
    return None

"""Custom pandera checks, registered once so the YAML schemas in `schemas/` can name them.

Each custom check also carries a SQL form (`SQL_FORMS`), so `codecatalog.validate_sql` can run it
inside DuckDB with the same meaning. A SQL form takes the quoted column and the check's arguments
and returns a boolean SQL expression that is TRUE when a non-null value passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import pandera.extensions as extensions

from codecatalog.sql import literal

SqlForm = Callable[[str, Mapping[str, Any]], str]
SQL_FORMS: dict[str, SqlForm] = {}

# Python's whitespace (`str.isspace`, `re`'s \s; `str.strip` and pyarrow's trim use the same set).
_SPACE_RANGES = (
    (0x09, 0x0D), (0x1C, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
    (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
)  # fmt: skip
WHITESPACE = "".join(chr(c) for low, high in _SPACE_RANGES for c in range(low, high + 1))
_RE2_SPACE = "".join(
    rf"\x{{{low:x}}}" + (rf"-\x{{{high:x}}}" if high > low else "") for low, high in _SPACE_RANGES
)
_RE2_WORD = r"\p{L}\p{N}_"
# Python escapes with a different meaning in RE2, outside and inside a [...] class.
_OUTSIDE = {
    r"\d": r"\p{Nd}",
    r"\D": r"\P{Nd}",
    r"\s": f"[{_RE2_SPACE}]",
    r"\S": f"[^{_RE2_SPACE}]",
    r"\w": f"[{_RE2_WORD}]",
    r"\W": f"[^{_RE2_WORD}]",
    r"\Z": r"\z",
}
_INSIDE = {r"\d": r"\p{Nd}", r"\D": r"\P{Nd}", r"\s": _RE2_SPACE, r"\w": _RE2_WORD}
_EMPTY_MIN = re.compile(r"\{,\d+\}")
_PRE_YEAR = r"Pre-\d{4}"


def re2_pattern(pattern: str, *, full: bool = False) -> str:
    r"""A Python `re` pattern rewritten for RE2 (DuckDB) so that it means the same.

    Python's Unicode classes become explicit RE2 ones (`\d` → `\p{Nd}`, `\s` → Python's 25
    whitespace characters, `\w` → `[\p{L}\p{N}_]`), `\Z` becomes `\z` and `x{,n}` becomes
    `x{0,n}`; unless the pattern is for a full match (`full`), a `$` ending the pattern, a group
    or an alternative also matches before a final newline, as Python's does. Still different:
    `\b`/`\B` are ASCII word boundaries in RE2, a `$` elsewhere does not match before a final
    newline, and Unicode tables may be of different versions. Constructs RE2 lacks
    (lookaround, backreferences, possessive or atomic groups, verbose mode) are left for RE2 to
    refuse. ValueError for `\S` or `\W` inside a `[...]` class (RE2 cannot say it).
    """
    out: list[str] = []
    i, in_class, class_start = 0, False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            if in_class and pair in (r"\S", r"\W"):
                raise ValueError(f"{pair} inside [...] has no RE2 equivalent")
            out.append((_INSIDE if in_class else _OUTSIDE).get(pair, pair))
            i += 2
            continue
        if in_class:
            # a ']' first in the class (after an optional '^') is a literal
            if char == "]" and i > class_start:
                in_class = False
        elif char == "[":
            in_class = True
            class_start = i + 1 + (pattern.startswith("^", i + 1))
        elif char == "{" and _EMPTY_MIN.match(pattern, i):
            out.append("{0")
            i += 1
            continue
        elif char == "$" and not full and pattern[i + 1 : i + 2] in ("", ")", "|"):
            out.append(r"(?:\n?\z)")
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _sql_form(name: str) -> Callable[[SqlForm], SqlForm]:
    def register(form: SqlForm) -> SqlForm:
        SQL_FORMS[name] = form
        return form

    return register


@extensions.register_check_method(statistics=["pattern"])
def code_shape(series: pd.Series, *, pattern: str) -> pd.Series:
    """The value is a code of one of the shapes `pattern` allows (a full-match regex)."""
    return series.str.fullmatch(pattern).fillna(False).astype(bool)


@_sql_form("code_shape")
def _code_shape_sql(column: str, args: Mapping[str, Any]) -> str:
    return f"regexp_full_match({column}, {literal(re2_pattern(args['pattern'], full=True))})"


@extensions.register_check_method(statistics=["allow_pre", "allow_blank"])
def yyyymmdd(series: pd.Series, *, allow_pre: bool = False, allow_blank: bool = False) -> pd.Series:
    """A real calendar date `YYYYMMDD`; optionally also `Pre-YYYY` (CPT history) or blank."""
    text = series.astype("str")
    digits = text.where(text.str.fullmatch(r"\d{8}").fillna(False).astype(bool))
    valid = pd.to_datetime(digits, format="%Y%m%d", errors="coerce").notna()
    if allow_pre:
        valid |= text.str.fullmatch(_PRE_YEAR).fillna(False).astype(bool)
    if allow_blank:
        valid |= series.isna() | (text.str.strip() == "")
    return valid


@_sql_form("yyyymmdd")
def _yyyymmdd_sql(column: str, args: Mapping[str, Any]) -> str:
    # try_strptime takes 7 digits as %Y%m%d: the shape check keeps it to 8 ASCII digits (non-ASCII
    # digits match Python's \d but no date parser takes them); length and ltrim cost half a regex.
    forms = [
        f"(length({column}) = 8 AND ltrim({column}, '0123456789') = '' "
        f"AND try_strptime({column}, '%Y%m%d') IS NOT NULL)"
    ]
    if args.get("allow_pre"):
        forms.append(f"regexp_full_match({column}, {literal(re2_pattern(_PRE_YEAR, full=True))})")
    if args.get("allow_blank"):
        forms.append(f"trim({column}, {literal(WHITESPACE)}) = ''")
    return "(" + " OR ".join(forms) + ")"


@extensions.register_check_method()
def no_outer_space(series: pd.Series) -> pd.Series:
    """The text neither starts nor ends with whitespace (a shifted or padded field)."""
    return (series.str.strip() == series).fillna(False).astype(bool)


@_sql_form("no_outer_space")
def _no_outer_space_sql(column: str, args: Mapping[str, Any]) -> str:
    return f"trim({column}, {literal(WHITESPACE)}) = {column}"

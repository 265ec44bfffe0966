"""Custom pandera checks, registered once so the YAML schemas in `schemas/` can name them."""

from __future__ import annotations

import pandas as pd
import pandera.extensions as extensions


@extensions.register_check_method(statistics=["pattern"])
def code_shape(series: pd.Series, *, pattern: str) -> pd.Series:
    """The value is a code of one of the shapes `pattern` allows (a full-match regex)."""
    return series.str.fullmatch(pattern).fillna(False).astype(bool)


@extensions.register_check_method(statistics=["allow_pre", "allow_blank"])
def yyyymmdd(series: pd.Series, *, allow_pre: bool = False, allow_blank: bool = False) -> pd.Series:
    """A real calendar date `YYYYMMDD`; optionally also `Pre-YYYY` (CPT history) or blank."""
    text = series.astype("str")
    digits = text.where(text.str.fullmatch(r"\d{8}").fillna(False).astype(bool))
    valid = pd.to_datetime(digits, format="%Y%m%d", errors="coerce").notna()
    if allow_pre:
        valid |= text.str.fullmatch(r"Pre-\d{4}").fillna(False).astype(bool)
    if allow_blank:
        valid |= series.isna() | (text.str.strip() == "")
    return valid


@extensions.register_check_method()
def no_outer_space(series: pd.Series) -> pd.Series:
    """The text neither starts nor ends with whitespace (a shifted or padded field)."""
    return (series.str.strip() == series).fillna(False).astype(bool)

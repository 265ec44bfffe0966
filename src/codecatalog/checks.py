"""Custom pandera checks, registered once so the YAML schemas in `schemas/` can name them."""

from __future__ import annotations

import pandas as pd
import pandera.extensions as extensions


@extensions.register_check_method(statistics=["pattern"])
def code_shape(series: pd.Series, *, pattern: str) -> pd.Series:
    """The value is a code of one of the shapes `pattern` allows (a full-match regex)."""
    return series.str.fullmatch(pattern).fillna(False).astype(bool)


@extensions.register_check_method(statistics=["allow_pre"])
def yyyymmdd(series: pd.Series, *, allow_pre: bool) -> pd.Series:
    """A real calendar date `YYYYMMDD`; with allow_pre also `Pre-YYYY` (CPT history files)."""
    text = series.astype("str")
    digits = text.where(text.str.fullmatch(r"\d{8}").fillna(False).astype(bool))
    is_date = pd.to_datetime(digits, format="%Y%m%d", errors="coerce").notna()
    if allow_pre:
        is_date |= text.str.fullmatch(r"Pre-\d{4}").fillna(False).astype(bool)
    return is_date


@extensions.register_check_method()
def no_outer_space(series: pd.Series) -> pd.Series:
    """The text neither starts nor ends with whitespace (a shifted or padded field)."""
    return (series.str.strip() == series).fillna(False).astype(bool)

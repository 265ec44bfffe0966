"""Which descriptor changes are editorial: only letter case, spacing or meaningless punctuation.

Symbols that carry meaning (`< > = + - % /`), digits and any punctuation touching a digit (`2.5`,
`1,000`, `(3)`) are kept, so changing them is a revision. Examples live in tests/test_normalise.py.
"""

from __future__ import annotations

import re

# Punctuation with no meaning of its own, when no digit stands on either side of it.
_EDITORIAL_PUNCTUATION = re.compile(r"(?<!\d)[,;:.()\[\]\"'!?](?!\d)")
_SPACES = re.compile(r"\s+")


def editorial_form(text: str | None) -> str | None:
    """The text with everything an editorial change may touch folded away.

    >>> editorial_form("Biopsy,  Skin (Each)")
    'biopsy skin each'
    """
    if text is None:
        return None
    folded = _EDITORIAL_PUNCTUATION.sub(" ", text.casefold())
    return _SPACES.sub(" ", folded).strip()


def is_editorial(old: str | None, new: str | None) -> bool:
    """True when two different texts differ only editorially (never when one side is missing)."""
    if old is None or new is None:
        return False
    return editorial_form(old) == editorial_form(new)

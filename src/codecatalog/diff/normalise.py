"""Which descriptor changes are editorial: only letter case, spacing or meaningless punctuation.

A text is read as its words and the punctuation marks between them. The marks are `, ; : . ( ) [ ]
" ' ! ?`, except where one touches a digit: then it belongs to the word (`2.5`, `1,000`, `(3)`).
Everything else that is not a space is word, so the meaning-bearing symbols `< > = + - % /` and
digits always are. Curly quotes and en/em dashes are read as their plain forms (`' " -`), again
except where they touch a digit (`5–10` is not `5-10`).

A change is editorial when the case-folded words stay the same and each mark keeps its places:
between the same two words, with marks only added or only dropped. Moving one is a revision.

>>> is_editorial("Removal, not including “graft”", 'removal not including "graft".')
True
>>> is_editorial("Removal, not including", "Removal not, including")
False

Examples live in tests/test_normalise.py.
"""

from __future__ import annotations

import re
from collections import Counter

_MARKS = frozenset(",;:.()[]\"'!?")
# A mark, a curly quote or a dash that touches no digit.
_MARK = re.compile(r"(?<!\d)[,;:.()\[\]\"'!?](?!\d)")
_TYPOGRAPHIC = re.compile(r"(?<!\d)[‘’“”–—](?!\d)")
_PLAIN = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


def _read(text: str) -> tuple[list[str], dict[str, Counter[int]]]:
    """The case-folded words of ``text``, and per mark the word boundaries it stands at.

    Boundary ``i`` is just before word ``i`` (the last one is after the last word).
    """
    text = _TYPOGRAPHIC.sub(lambda m: m.group().translate(_PLAIN), text)
    words: list[str] = []
    marks: dict[str, Counter[int]] = {}
    for token in _MARK.sub(r" \g<0> ", text).split():
        if token in _MARKS:  # a lone mark (one touching a digit is never alone)
            marks.setdefault(token, Counter())[len(words)] += 1
        else:
            words.append(token.casefold())
    return words, marks


def editorial_form(text: str | None) -> str | None:
    """The case-folded words of a text, which an editorial change leaves alone.

    >>> editorial_form("Biopsy,  Skin (Each); 2.5 cm")
    'biopsy skin each 2.5 cm'
    """
    if text is None:
        return None
    return " ".join(_read(text)[0])


def is_editorial(old: str | None, new: str | None) -> bool:
    """True when two different texts differ only editorially (never when one side is missing)."""
    if old is None or new is None:
        return False
    old_words, old_marks = _read(old)
    new_words, new_marks = _read(new)
    if old_words != new_words:
        return False
    for mark in old_marks.keys() & new_marks.keys():
        before, after = old_marks[mark], new_marks[mark]
        if not (before <= after or after <= before):
            return False
    return True

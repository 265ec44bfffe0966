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


def descriptor_form(text: str) -> tuple[str, list[str]]:
    """The form of a text that decides editorial changes, as the warehouse stores it: its
    `editorial_form`, and each of its punctuation marks at the word boundary it stands at, as
    `mark@boundary#n` (the n-th such mark there), sorted. A mark keeps its places when one
    text's marks of that kind are a subset of the other's (`editorial_sql`).

    >>> descriptor_form("Repair, simple, single.")
    ('repair simple single', [',@1#1', ',@2#1', '.@3#1'])
    """
    words, marks = _read(text)
    placed = [
        f"{mark}@{boundary}#{n}"
        for mark, at in marks.items()
        for boundary, count in at.items()
        for n in range(1, count + 1)
    ]
    return " ".join(words), sorted(placed)


def is_editorial(old: str | None, new: str | None) -> bool:
    """True when two different texts differ only editorially (never when one side is missing)."""
    if old is None or new is None:
        return False
    (old_words, old_marks), (new_words, new_marks) = descriptor_form(old), descriptor_form(new)
    if old_words != new_words:
        return False
    for mark in _kinds(old_marks) & _kinds(new_marks):
        before, after = _of_kind(old_marks, mark), _of_kind(new_marks, mark)
        if not (before <= after or after <= before):
            return False
    return True


def _kinds(marks: list[str]) -> set[str]:
    return {placed.split("@", 1)[0] for placed in marks}


def _of_kind(marks: list[str], mark: str) -> set[str]:
    return {placed for placed in marks if placed.split("@", 1)[0] == mark}


def editorial_sql(old_words: str, old_marks: str, new_words: str, new_marks: str) -> str:
    """SQL for `is_editorial` of two texts given their stored forms (`descriptor_form`: words
    VARCHAR, marks VARCHAR[]), with no Python function: the same words, and for each kind of
    mark both texts have, one text's places a subset of the other's."""

    def of_kind(marks: str) -> str:
        return f"list_filter({marks}, lambda m: split_part(m, '@', 1) = k)"

    def kinds(marks: str) -> str:
        return f"list_transform({marks}, lambda m: split_part(m, '@', 1))"

    old, new = of_kind(old_marks), of_kind(new_marks)
    return (
        f"({old_words} = {new_words} AND coalesce(list_bool_and(["
        f"list_has_all({new}, {old}) OR list_has_all({old}, {new}) "
        f"FOR k IN list_distinct(list_intersect({kinds(old_marks)}, {kinds(new_marks)}))]), true))"
    )

"""Descriptor edits that are revisions, or editorial changes, by construction.

The generator has its own notion of an editorial edit, independent of the diff's rule: it is one of
a few operations that cannot change meaning (punctuation is only ever touched between letters):

- ``case``: one word of three or more letters capitalised or lower-cased;
- ``space``: a space doubled, or a doubled space made single;
- ``mark``: a comma added between two words (before `with`, `including`, …), a comma or semicolon
  between two words dropped, a final period added or dropped;
- ``typographic``: a quote curled or straightened, a hyphen between two letters made an en dash
  or back.

A revision changes a number or a word (replaced, inserted or deleted), swaps a symbol (`<` to
`<=`), or moves a comma across a word. The ground truth is labelled by which operation was applied;
the tests check the labels against the diff's rule (codecatalog.diff.normalise).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from codecatalog.samples.words import SWAP_WORDS

EDITORIAL_KINDS = ("case", "space", "mark", "typographic")

_COMMA_BEFORE = re.compile(r"(?i)(?:with|without|in|using|including|under|through|reported|for) ")
_LETTER = r"[^\W\d_]"
_COMMA_MOVE = re.compile(rf"(?<={_LETTER}), ({_LETTER}+) (?={_LETTER})")
_CURL = {"'": "’", "’": "'", "‘": "'", "“": '"', "”": '"'}


def _match_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    return word.capitalize() if like[0].isupper() else word


def revise(text: str, rng: random.Random, limit: int | None = None) -> str | None:
    """A meaning-bearing edit: change a number, replace, insert or delete a word, or move a comma
    across the next word."""
    upper = text.upper() == text
    for _ in range(8):
        op = rng.choice(("number", "replace", "insert", "delete", "comma"))
        new = None
        if op == "number" and (nums := list(re.finditer(r"\d+", text))):
            m = rng.choice(nums)
            new = text[: m.start()] + str(int(m.group()) + rng.randint(1, 4)) + text[m.end() :]
        elif op == "replace" and (ws := list(re.finditer(r"\b[A-Za-z]{4,}\b", text))):
            m = rng.choice(ws)
            rep = _match_case(rng.choice(SWAP_WORDS), m.group())
            if rep.lower() != m.group().lower():
                new = text[: m.start()] + rep + text[m.end() :]
        elif op == "insert" and (
            sp := [m.end() for m in re.finditer(r"\b(?:of|the|OF) ", text)]
            or [i + 1 for i, ch in enumerate(text) if ch == " "]
        ):
            i = rng.choice(sp)
            word = rng.choice(SWAP_WORDS)
            new = text[:i] + (word.upper() if upper else word) + " " + text[i:]
        elif op == "delete" and (ws := list(re.finditer(r"(?<= )[A-Za-z]{4,}(?= )", text))):
            m = rng.choice(ws)
            new = text[: m.start() - 1] + text[m.end() :]
        elif op == "comma" and (ms := list(_COMMA_MOVE.finditer(text))):
            m = rng.choice(ms)  # "Removal, not including" -> "Removal not, including"
            new = text[: m.start()] + f" {m.group(1)}, " + text[m.end() :]
        if new and new == new.strip() and (limit is None or len(new) <= limit):
            return new
    return None


def symbol_swap(text: str, rng: random.Random) -> str | None:
    """A symbol-only meaning-bearing edit: `<` to `<=`, `>` to `>=`, or `+` to `-`."""
    spots = [m for m in re.finditer(r"[<>](?!=)|\+", text)]
    if not spots:
        return None
    m = rng.choice(spots)
    rep = "-" if m.group() == "+" else m.group() + "="
    return text[: m.start()] + rep + text[m.end() :]


def editorial_edits(text: str, plain: bool = False) -> dict[str, list[str]]:
    """Every editorial edit of ``text``, by kind. ``plain`` texts (all-capital ASCII
    abbreviations) get no case or typographic edits."""
    n = len(text)
    found: dict[str, list[str]] = {kind: [] for kind in EDITORIAL_KINDS}
    if not plain and text.upper() != text:
        for m in re.finditer(r"\b[A-Za-z]{3,}\b", text):
            w = m.group()
            if w.islower():
                found["case"].append(text[: m.start()] + w.capitalize() + text[m.end() :])
            elif w[0].isupper() and w[1:].islower():
                found["case"].append(text[: m.start()] + w.lower() + text[m.end() :])
    for i in range(1, n - 1):
        a, ch, b = text[i - 1], text[i], text[i + 1]
        if ch == " " and a != " " and b != " ":
            found["space"].append(text[:i] + "  " + text[i + 1 :])
        elif ch == " " and b == " " and a != " " and i + 2 < n and text[i + 2] != " ":
            found["space"].append(text[:i] + text[i + 1 :])
        if ch == " " and a.isalpha() and b.isalpha() and _COMMA_BEFORE.match(text, i + 1):
            found["mark"].append(text[:i] + "," + text[i:])
        elif ch in ",;" and a.isalpha() and b == " " and i + 2 < n and text[i + 2].isalpha():
            found["mark"].append(text[:i] + text[i + 1 :])
        if not plain and a.isalpha() and b.isalpha() and ch in "-–":
            found["typographic"].append(text[:i] + ("–" if ch == "-" else "-") + text[i + 1 :])
    if n > 1 and text[-1].isalpha():
        found["mark"].append(text + ".")
    elif n > 1 and text[-1] == "." and text[-2].isalpha():
        found["mark"].append(text[:-1])
    if not plain:
        for i, ch in enumerate(text):
            before, after = text[i - 1 : i], text[i + 1 : i + 2]
            if ch not in "'\"‘’“”" or before.isdigit() or after.isdigit():
                continue
            opening = before in ("", " ", "(")
            curled = ("“" if opening else "”") if ch == '"' else _CURL[ch]
            found["typographic"].append(text[:i] + curled + text[i + 1 :])
    return found


def editorial(
    text: str,
    rng: random.Random,
    limit: int | None = None,
    plain: bool = False,
    kinds: Sequence[str] = EDITORIAL_KINDS,
) -> str | None:
    """One editorial edit of ``text``: a kind that applies (of ``kinds``), then one of its edits."""
    found = editorial_edits(text, plain)
    usable = {
        kind: edits
        for kind in kinds
        if (edits := [e for e in found[kind] if limit is None or len(e) <= limit])
    }
    if not usable:
        return None
    return rng.choice(usable[rng.choice(list(usable))])

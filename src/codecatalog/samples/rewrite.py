"""Descriptor edits: meaning-bearing revisions and editorial-only changes."""

from __future__ import annotations

import random
import re

from codecatalog.samples.words import SWAP_WORDS

_COMMA_BEFORE = re.compile(r"(?i)(?:with|without|in|using|including|under|through|reported|for) ")
_EDITORIAL_RE = re.compile(r"(?<!\d)[,;:.()\[\]\"'!?](?!\d)")


def norm(text: str) -> str:
    """Text with editorial differences (case, whitespace, non-numeric punctuation) removed."""
    return " ".join(_EDITORIAL_RE.sub("", text).lower().split())


def _match_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    return word.capitalize() if like[0].isupper() else word


def revise(text: str, rng: random.Random, limit: int | None = None) -> str | None:
    """A meaning-bearing edit: change a number, or replace, insert or delete a word."""
    upper = text.upper() == text
    for _ in range(8):
        op = rng.choice(("number", "replace", "insert", "delete"))
        new = None
        if op == "number" and (nums := list(re.finditer(r"\d+", text))):
            m = rng.choice(nums)
            new = text[: m.start()] + str(int(m.group()) + rng.randint(1, 4)) + text[m.end() :]
        elif op == "replace" and (ws := list(re.finditer(r"\b[A-Za-z]{4,}\b", text))):
            m = rng.choice(ws)
            rep = _match_case(rng.choice(SWAP_WORDS), m.group())
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
        if (
            new
            and new != text
            and norm(new) != norm(text)
            and new == new.strip()
            and (limit is None or len(new) <= limit)
        ):
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


def editorial(text: str, rng: random.Random, limit: int | None = None) -> str | None:
    """An editorial edit: case of one word, a doubled space, or a comma/semicolon/period."""
    n = len(text)
    cands: list[str] = []
    if text.upper() != text:
        for m in re.finditer(r"(?<![\w<>=+%/-])[A-Za-z]{3,}(?![\w<>=+%/-])", text):
            w = m.group()
            if w.islower():
                cands.append(text[: m.start()] + w.capitalize() + text[m.end() :])
            elif w[0].isupper() and w[1:].islower():
                cands.append(text[: m.start()] + w.lower() + text[m.end() :])
    for i in range(1, n - 1):
        a, ch, b = text[i - 1], text[i], text[i + 1]
        if ch == " " and a.isalpha() and b.isalpha():
            cands.append(text[:i] + "  " + text[i + 1 :])
            if _COMMA_BEFORE.match(text, i + 1):
                cands.append(text[:i] + "," + text[i:])
        elif ch in ",;" and a.isalpha() and b == " " and i + 2 < n and text[i + 2].isalpha():
            cands.append(text[:i] + text[i + 1 :])
    if text[-1].isalpha():
        cands.append(text + ".")
    elif text[-1] == "." and n > 1 and text[-2].isalpha():
        cands.append(text[:-1])
    cands = [c for c in cands if limit is None or len(c) <= limit]
    if not cands:
        return None
    new = rng.choice(cands)
    assert norm(new) == norm(text) and new != text
    return new

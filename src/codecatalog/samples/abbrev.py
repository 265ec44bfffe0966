"""Medium and short descriptors: upper-case ASCII abbreviations of a long descriptor."""

from __future__ import annotations

import unicodedata

MEDIUM_WIDTH = 48
SHORT_WIDTH = 28

_ABBR = {
    "without": "W/O",
    "with": "W/",
    "and": "&",
    "additional": "ADDL",
    "approach": "APPR",
    "percutaneous": "PERQ",
    "endoscopic": "NDSC",
    "laparoscopic": "LAPS",
    "imaging": "IMG",
    "guidance": "GDN",
    "lesions": "LES",
    "lesion": "LES",
    "minutes": "MIN",
    "anesthesia": "ANES",
    "examination": "EXAM",
    "contrast": "CNTRST",
    "material": "MATRL",
    "patient": "PT",
    "years": "YR",
    "diameter": "DIAM",
    "magnetic": "MAG",
    "resonance": "RES",
    "computed": "CMPT",
    "tomography": "TOMOG",
    "ultrasound": "US",
    "analysis": "ALYS",
    "reported": "RPTD",
    "assessment": "ASMT",
    "each": "EA",
    "including": "INCL",
    "placement": "PLMT",
    "bilateral": "BI",
    "unilateral": "UNI",
    "vaccine": "VAC",
    "administration": "ADMN",
}
_DROP = {"of", "the", "a", "an", "for", "by", "in", "to", "as", "using", "via"}
_PLAIN = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


def abbrev(text: str, limit: int, short: bool) -> str:
    """Upper-case ASCII abbreviation of a long descriptor, cut at a word boundary."""
    plain = unicodedata.normalize("NFKD", text.translate(_PLAIN))
    plain = plain.encode("ascii", "ignore").decode("ascii")
    words = []
    for tok in plain.replace(";", ",").replace("(", "").replace(")", "").split():
        trail = "," if tok.endswith(",") and not short else ""
        core = tok.rstrip(",")
        if not core or core.lower() in _DROP:
            continue
        word = _ABBR.get(core.lower(), core.upper())
        if word.isalpha() and len(word) > (6 if short else 10):
            word = word[: 5 if short else 8]
        words.append(word + trail)
    result = ""
    for word in words:
        cand = f"{result} {word}" if result else word
        if len(cand) > limit:
            break
        result = cand
    return (result or words[0][:limit]).rstrip(",;:. ")


def abbrev_words(text: str) -> list[str]:
    """The words of an abbreviation, without the commas and final period that abbreviating or an
    editorial edit may add or drop."""
    return [word.strip(",;.") for word in text.split()]
